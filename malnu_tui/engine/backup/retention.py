"""Retention: deleting one backup and pruning old ones (``backup delete``, ``backup prune``).
Only this target's backups are counted and deleted in a store shared by two targets, and its
newest verified backup is always kept."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from malnu_tui.engine.backends.base import AuditEntry
from malnu_tui.engine.backup.store import (
    BackupManifest,
    BackupNotFound,
    backups_of,
    fsync_dir,
    list_backups,
    load_manifest,
    manifest_path,
    refuse_foreign,
)
from malnu_tui.engine.errors import ConfigError

if TYPE_CHECKING:
    from malnu_tui.engine.backends.base import Backend
    from malnu_tui.engine.config import Target


def delete_backup(
    directory: Path,
    backup_id: str,
    *,
    backend: Backend | None = None,
    target: Target | None = None,
) -> BackupManifest:
    """Remove a backup: manifest first (it is no longer listed), then its data file.

    With ``backend``, the deletion is recorded in that database's audit trail; with
    ``target``, another database's backup (a shared store) is refused, nothing deleted.
    """
    manifest = load_manifest(directory, backup_id)
    if target is not None:
        refuse_foreign(manifest, target, "deleted")
    manifest_path(directory, manifest.id).unlink()
    fsync_dir(directory)
    with contextlib.suppress(FileNotFoundError):
        (directory / manifest.file).unlink()
    fsync_dir(directory)
    if backend is not None:
        backend.append_audit(
            AuditEntry.now(
                "backup-delete",
                manifest.id,
                "ok",
                f"{manifest.reason} backup of {manifest.created_at}, {manifest.size} bytes",
            )
        )
    return manifest


@dataclass(frozen=True)
class PrunePlan:
    """What ``prune`` would delete and what it keeps (and why)."""

    delete: tuple[BackupManifest, ...]
    keep: tuple[BackupManifest, ...]
    protected: str | None  # id of the newest verified backup, never deleted

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
) -> PrunePlan:
    """Choose backups to delete: beyond the ``keep`` newest, and/or older than the age.

    With both, a backup goes when it is beyond ``keep`` AND older than the age. The newest
    verified backup is never deleted. With ``target``, only that target's backups are counted
    and chosen (another database's backups in a shared store are left alone).
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
    protected = next((m.id for m in backups if m.verified), None)
    cutoff = (now or datetime.now(UTC)) - timedelta(days=older_than_days or 0)
    delete: list[BackupManifest] = []
    kept: list[BackupManifest] = []
    for i, m in enumerate(backups):
        beyond = keep is None or i >= keep
        old = older_than_days is None or m.created < cutoff
        if beyond and old and m.id != protected:
            delete.append(m)
        else:
            kept.append(m)
    return PrunePlan(tuple(delete), tuple(kept), protected)


def prune_backups(
    directory: Path, plan: PrunePlan, *, backend: Backend | None = None
) -> list[BackupManifest]:
    """Delete the backups a :class:`PrunePlan` chose; returns those deleted. With
    ``backend``, one audit row records the prune."""
    done: list[BackupManifest] = []
    for m in plan.delete:
        if m.id == plan.protected:
            continue
        with contextlib.suppress(BackupNotFound):
            done.append(delete_backup(directory, m.id))
    if backend is not None and done:
        backend.append_audit(
            AuditEntry.now(
                "backup-prune",
                f"{len(done)} backup(s)",
                "ok",
                ", ".join(m.id for m in done)[:1000],
            )
        )
    return done
