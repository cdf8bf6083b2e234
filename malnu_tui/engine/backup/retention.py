"""Deleting backups: one by one (``backup delete``) or by a retention rule (``backup prune``).

Each deletion is written to the target's audit trail before any file goes, so a database that
cannot take the row refuses the deletion with nothing deleted; the manifest goes first (the
backup is no longer listed), then its data file.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from malnu_tui.engine.backends.base import AuditEntry
from malnu_tui.engine.backup.durable import fsync_dir, sha256_file
from malnu_tui.engine.backup.owners import backups_of, find_backup, refuse_foreign, store_of
from malnu_tui.engine.backup.store import (
    BackupError,
    BackupManifest,
    list_backups,
    load_manifest,
    manifest_path,
    save_manifest,
    utc_iso,
)
from malnu_tui.engine.errors import ConfigError

if TYPE_CHECKING:
    from malnu_tui.engine.backends.base import Backend
    from malnu_tui.engine.config import Target

__all__ = [
    "PrunePlan",
    "delete_backup",
    "pinned_backups",
    "plan_prune",
    "prune_backups",
    "prune_under_lock",
]


def delete_backup(
    directory: Path,
    backup_id: str,
    *,
    backend: Backend | None = None,
    target: Target | None = None,
) -> BackupManifest:
    """Remove a backup: manifest first (it is no longer listed), then its data file.

    With ``backend``, the deletion is recorded in that database's audit trail, BEFORE any file
    goes: a database that cannot take the row (an application holding a SQLite file's write
    lock, D1 unreachable) refuses the delete with nothing deleted, rather than a deletion
    reported as failed and missing from the trail. With ``target``, another database's backup
    (a shared store) is refused, nothing deleted. With ``backend`` the migration lock is held,
    as :func:`prune_under_lock` holds it: a restore or recover at work may be reading this
    very backup (:class:`LockHeld`, exit 3, nothing deleted).
    """
    if target is None:
        manifest = load_manifest(directory, backup_id)
    else:  # (its database's backup found in a store beside its own is deleted there)
        manifest = find_backup(target, backup_id)
        refuse_foreign(manifest, target, "deleted")
        directory = store_of(manifest, directory)
    if backend is None:
        _remove_or_say(directory, manifest, None)
        return manifest
    from malnu_tui.engine.oplock import migration_lock

    with migration_lock(backend, "backup-delete"):
        backend.append_audit(
            AuditEntry.now(
                "backup-delete",
                manifest.id,
                "ok",
                f"{manifest.reason} backup of {manifest.created_at}, {manifest.size} bytes",
            )
        )
        _remove_or_say(directory, manifest, backend)
    return manifest


def _remove_or_say(directory: Path, manifest: BackupManifest, backend: Backend | None) -> None:
    try:
        _remove_backup(directory, manifest)
    except OSError as exc:
        _audit_quietly(backend, "backup-delete", manifest.id, f"not deleted: {exc}")
        raise BackupError(
            f"cannot delete backup {manifest.id} from {directory}: {exc}; it is still listed"
        ) from None


def _remove_backup(directory: Path, manifest: BackupManifest) -> None:
    """Unlink the manifest (the backup is no longer listed), then its data file."""
    manifest_path(directory, manifest.id).unlink()
    fsync_dir(directory)
    with contextlib.suppress(FileNotFoundError):
        (directory / manifest.file).unlink()
    fsync_dir(directory)


def _audit_quietly(backend: Backend | None, action: str, obj: str, detail: str) -> None:
    """A follow-up "failed" row for a deletion audited before it ran (best effort: the error
    itself is what the operator is told)."""
    if backend is not None:
        with contextlib.suppress(Exception):
            backend.append_audit(AuditEntry.now(action, obj, "failed", detail[:500]))


@dataclass(frozen=True)
class PrunePlan:
    """What ``prune`` would delete and what it keeps (and why)."""

    delete: tuple[BackupManifest, ...]
    keep: tuple[BackupManifest, ...]
    protected: str | None  # id of the newest verified backup, never deleted
    # (id, why) of backups kept whatever the rule: those a recover stopped half-way names
    pinned: tuple[tuple[str, str], ...] = ()
    # (id, why) of newer backups recorded verified whose data file no longer matches its
    # manifest (another backup's file copied over it, a damaged disk): not the one kept
    unsound: tuple[tuple[str, str], ...] = ()

    @property
    def bytes_freed(self) -> int:
        """Total size of the backups the plan deletes."""
        return sum(m.size for m in self.delete)


def plan_prune(
    directory: Path,
    *,
    keep: int | None = None,
    older_than_days: float | None = None,
    now: datetime | None = None,
    target: Target | None = None,
    pinned: dict[str, str] | None = None,
) -> PrunePlan:
    """Choose backups to delete: beyond the ``keep`` newest, and/or older than the age.

    With both, a backup goes when it is beyond ``keep`` AND older than the age. The newest
    verified backup is never deleted, nor those of ``pinned`` (id: why; see
    :func:`pinned_backups`). With ``target``, only that target's backups are counted and chosen
    (another database's backups in a shared store are left alone).
    """
    if keep is None and older_than_days is None:
        raise ConfigError("prune needs --keep N and/or --older-than DAYS")
    if keep is not None and keep < 1:
        raise ConfigError(f"--keep must be 1 or more, got {keep}")
    if older_than_days is not None and not 0 <= older_than_days <= 100_000:
        raise ConfigError(
            f"--older-than must be a number of days from 0 to 100,000, got {older_than_days}"
        )
    backups = list_backups(directory) if target is None else backups_of(target)[0]
    cutoff = (now or datetime.now(UTC)) - timedelta(days=older_than_days or 0)
    pins = pinned or {}
    doomed = [
        m
        for i, m in enumerate(backups)
        if (keep is None or i >= keep)
        and (older_than_days is None or m.created < cutoff)
        and m.id not in pins
    ]
    if doomed:  # only then is the one kept hashed (an hourly prune of a large dump)
        protected, unsound = _newest_sound(directory, backups)
    else:
        protected, unsound = next((m.id for m in backups if m.verified), None), []
    delete: list[BackupManifest] = []
    kept: list[BackupManifest] = []
    held: list[tuple[str, str]] = []
    for i, m in enumerate(backups):
        beyond = keep is None or i >= keep
        old = older_than_days is None or m.created < cutoff
        if beyond and old and m.id in pins:
            held.append((m.id, pins[m.id]))
            kept.append(m)
        elif beyond and old and m.id != protected:
            delete.append(m)
        else:
            kept.append(m)
    return PrunePlan(tuple(delete), tuple(kept), protected, tuple(held), tuple(unsound))


# (path, inode, size, mtime) → sha256: the plan is made twice (shown, then under the lock)
_HASHED: dict[tuple[str, int, int, int], str] = {}


def _newest_sound(
    directory: Path, backups: list[BackupManifest]
) -> tuple[str | None, list[tuple[str, str]]]:
    """(id of the newest verified backup whose data file still hashes to its manifest's
    sha256, (id, why) of the newer verified ones that do not). A backup counts as verified
    from its last check on, so one whose file was replaced since (`cp` of another backup's
    file over it: the same size) was "the newest verified" kept while `--keep 1` deleted every
    real one, and then its restore failed on its hash. Such a one is recorded as failed in its
    manifest (as `backup verify` records it), and the next one is kept instead."""
    unsound: list[tuple[str, str]] = []
    for m in backups:
        if not (m.verified or m.changed):  # (a changed one is hashed: it may be sound)
            continue
        why = _unsound(store_of(m, directory), m)
        if why is None:
            return m.id, unsound
        unsound.append((m.id, why))
        failed = {**dict(m.details), "verify_failed_at": utc_iso(), "verify_failed": why}
        with contextlib.suppress(OSError):  # a store this user may only read: said, not kept
            save_manifest(store_of(m, directory), replace(m, verified_at=None, details=failed))
    return None, unsound


def _unsound(directory: Path, m: BackupManifest) -> str | None:
    """Why the data file of ``m`` is not the one its manifest records, or None."""
    path = directory / m.file
    try:
        st = path.stat()
        key = (str(path), st.st_ino, st.st_size, st.st_mtime_ns)
        digest = _HASHED.get(key)
        if digest is None:
            digest = _HASHED[key] = sha256_file(path)[0]
    except OSError as exc:
        return f"its data file {m.file} cannot be read: {exc.strerror or exc}"
    if digest != m.sha256:
        return (
            f"sha256: its data file {m.file} has changed since it was verified "
            f"({digest[:16]}…, manifest says {m.sha256[:16]}…)"
        )
    return None


def pinned_backups(backend: Backend) -> dict[str, str]:
    """Backups no retention rule may delete now (id: why): while a recover stands half-way
    (engine/recover_state.py), its pre-recover backup is the only way back to the database as
    it was, and the backup it restored is what running it again starts from."""
    from malnu_tui.engine.recover_state import read_half_done

    found = read_half_done(backend)
    if found is None:
        return {}
    why = f"a recover to {found.to} stopped half-way"
    return {
        found.backup_id: f"the backup {why} restored (running it again starts from it)",
        found.pre_recover_id: f"the pre-recover backup of {why}: its only undo",
    }


def prune_under_lock(
    backend: Backend,
    target: Target,
    plan: PrunePlan,
    *,
    keep: int | None = None,
    older_than_days: float | None = None,
) -> list[BackupManifest]:
    """Run a confirmed :class:`PrunePlan` holding the migration lock, as every write does: a
    restore or recover at work holds it (its backup is being read; a PostgreSQL restore for
    minutes), so the prune is refused (:class:`LockHeld`, exit 3) with nothing deleted. Under
    the lock the rule (``keep``, ``older_than_days``) is planned again with the pins
    read again, and only a backup both plans delete goes."""
    from malnu_tui.engine.oplock import migration_lock

    with migration_lock(backend, "prune"):
        again = plan_prune(
            target.backup_dir,
            keep=keep,
            older_than_days=older_than_days,
            target=target,
            pinned=pinned_backups(backend),
        )
        still = {m.id for m in again.delete}
        confirmed = PrunePlan(
            tuple(m for m in plan.delete if m.id in still and m.id != again.protected),
            plan.keep,
            again.protected,
            plan.pinned,
            again.unsound,
        )
        return prune_backups(target.backup_dir, confirmed, backend=backend)


def prune_backups(
    directory: Path, plan: PrunePlan, *, backend: Backend | None = None
) -> list[BackupManifest]:
    """Delete the backups a :class:`PrunePlan` chose; returns those deleted. With
    ``backend``, one audit row records the prune, written before anything is deleted (a
    database that cannot take it refuses the prune, nothing deleted); a prune stopped half
    way (a file that cannot be removed, Ctrl-C) adds a row saying how far it got."""
    chosen = [m for m in plan.delete if m.id != plan.protected]
    if backend is not None and chosen:
        backend.append_audit(
            AuditEntry.now(
                "backup-prune",
                f"{len(chosen)} backup(s)",
                "ok",
                ", ".join(m.id for m in chosen)[:1000],
            )
        )
    done: list[BackupManifest] = []
    try:
        for m in chosen:
            if manifest_path(store_of(m, directory), m.id).exists():
                _remove_backup(store_of(m, directory), m)
                done.append(m)
    except BaseException as exc:
        left = [m.id for m in chosen if m not in done]
        why = str(exc) or type(exc).__name__
        _audit_quietly(
            backend,
            "backup-prune",
            f"{len(chosen)} backup(s)",
            f"stopped after {len(done)} of {len(chosen)} ({why}); not deleted: {', '.join(left)}",
        )
        if isinstance(exc, OSError):
            raise BackupError(
                f"prune stopped after deleting {len(done)} of {len(chosen)} backup(s): {exc}; "
                f"still listed: {', '.join(left)}"
            ) from None
        raise
    return done
