"""Create, verify and restore backups of any kind; the kind's method moves the bytes."""

from __future__ import annotations

import contextlib
import errno
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from malnu_tui import __version__
from malnu_tui.engine.backends.base import AuditEntry, Backend
from malnu_tui.engine.backup.durable import fsync_dir, remove_quietly, sha256_file, temp_path
from malnu_tui.engine.backup.method import Snapshot, VerifyCheck, method_for
from malnu_tui.engine.backup.owners import find_backup, store_of
from malnu_tui.engine.backup.store import (
    REASONS,
    RESTORE_NEEDS,
    BackupError,
    BackupGone,
    BackupManifest,
    BackupProgress,
    BackupProgressCallback,
    emitter,
    ensure_store,
    manifest_path,
    mark_verified,
    new_backup_id,
    save_manifest,
    utc_iso,
)
from malnu_tui.engine.config import Target
from malnu_tui.engine.errors import ConfigError
from malnu_tui.engine.monitor.runlog import record_run
from malnu_tui.engine.private import hand_over
from malnu_tui.engine.urls import recorded_url

__all__ = [
    "Mark",
    "VerifyReport",
    "audit_quietly",
    "create_backup",
    "data_path",
    "make_backup",
    "verify_backup",
]


CreateFn = Callable[[Backend, Target, Path, BackupProgressCallback], Snapshot]
# The pre-restore backup → one more audit row committed with the restored data.
Mark = Callable[[BackupManifest], AuditEntry]


def _head(filenames: list[str]) -> str | None:
    from malnu_tui.engine.files import normalise_version

    versions: list[str] = []
    for f in filenames:
        try:
            versions.append(normalise_version(f))
        except ValueError:
            continue
    return max(versions) if versions else None


def audit_quietly(backend: Backend, entry: AuditEntry) -> bool:
    """Append ``entry``; a failure to is not one of the operation (False: not written)."""
    # The audit row must not turn a finished backup into a failure (or hide the real error).
    try:
        backend.append_audit(entry)
    except Exception:
        return False
    return True


def create_backup(
    backend: Backend,
    target: Target,
    *,
    reason: str = "manual",
    progress: BackupProgressCallback | None = None,
) -> BackupManifest:
    """Back ``backend`` up into ``target.backup_dir`` and return the manifest (audited).

    Data is written to a temp name, checked, hashed, fsynced and renamed; the manifest is
    written last and the directory fsynced. On any failure nothing is listed and no file is
    left behind.
    """
    if reason not in REASONS:
        raise ConfigError(f"unknown backup reason {reason!r} (one of: {', '.join(REASONS)})")
    with record_run(backend, "backup", reason) as run:
        manifest = make_backup(backend, target, reason, progress)
        run.obj = f"{reason} {manifest.id}"
        run.count("bytes", manifest.size)
        run.count("tables", len(manifest.row_counts))
        run.count("rows", sum(manifest.row_counts.values()))
    return manifest


def make_backup(
    backend: Backend,
    target: Target,
    reason: str,
    progress: BackupProgressCallback | None,
    audit: Callable[[AuditEntry], None] | None = None,
    create: CreateFn | None = None,
) -> BackupManifest:
    """The backup itself; its audit rows go to ``audit`` (default: appended to ``backend``);
    ``create`` writes the data file in place of the kind's method."""
    emit = emitter(progress)
    if audit is None:

        def audit(entry: AuditEntry) -> None:
            # Not a failure of the backup (or a cover for the real error), but said: the
            # application holding a SQLite file's write lock dropped the row without a word.
            try:
                backend.append_audit(entry)
            except Exception as exc:
                emit(
                    BackupProgress(
                        "audit",
                        0,
                        0,
                        f"warning: the audit row of this backup ({entry.object}: {entry.outcome}) "
                        f"could not be written: {exc}",
                    )
                )

    method = method_for(backend.kind)
    directory = ensure_store(target.backup_dir)
    now = datetime.now(UTC)
    backup_id = new_backup_id(now)
    tmp = temp_path(directory, method.SUFFIX)
    final = directory / f"{backup_id}{method.SUFFIX}"
    started = time.perf_counter()
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        hand_over(fd, directory)
        os.close(fd)
        snap = (create or method.create)(backend, target, tmp, emit)
        os.replace(tmp, final)
        manifest = BackupManifest(
            id=backup_id,
            created_at=utc_iso(now),
            target=recorded_url(target.url),
            target_name=target.name,
            target_kind=backend.kind,
            method=snap.method or method.METHOD,
            reason=reason,
            size=snap.size,
            sha256=snap.sha256,
            file=final.name,
            migrations=snap.migrations,
            head=_head([m.filename for m in snap.migrations]),
            schema_hash=snap.schema_hash,
            row_counts=dict(snap.row_counts),
            tool_version=__version__,
            native_restore_point=snap.native_restore_point,
            verified_at=utc_iso() if snap.verified else None,
            verified_mtime_ns=final.stat().st_mtime_ns if snap.verified else None,
            details={
                **dict(snap.details),
                # whose migrations it records, told from another schema's (owners._database)
                **{k: str(v) for k, v in [("tool_schema", getattr(backend, "schema", None))] if v},
                "seconds": f"{time.perf_counter() - started:.3f}",
                "started_at": utc_iso(now),
                "ended_at": utc_iso(),
                "duration_ms": str(int((time.perf_counter() - started) * 1000)),
            },
        )
        emit(BackupProgress("manifest", 0, 0, f"writing manifest {backup_id}.json"))
        save_manifest(directory, manifest)  # last: from here on the backup is listed
    except BaseException as exc:
        # the manifest too: an interrupt in its folder's fsync comes after its rename
        remove_quietly(tmp, final, manifest_path(directory, backup_id))
        with contextlib.suppress(OSError):
            fsync_dir(directory)
        if isinstance(exc, Exception):
            audit(AuditEntry.now("backup", reason, "failed", str(exc)[:500]))
        if isinstance(exc, OSError):
            raise _not_written(directory, exc, backend) from None
        raise
    audit(
        AuditEntry.now(
            "backup",
            backup_id,
            "ok",
            f"{reason}: {snap.size} bytes, sha256 {snap.sha256[:12]}, head {manifest.head or '—'}",
        )
    )
    emit(BackupProgress("done", snap.size, snap.size, f"backup {backup_id} written"))
    return manifest


def _not_written(directory: Path, exc: OSError, backend: Backend) -> BackupError:
    """The one line for a backup file that could not be written (a D1 dump the tool writes
    itself): a full disk or quota, or a file size limit, is named as such, with the way out,
    as a SQLite copy's is; it said `[Errno 27] File too large`, and not that nothing changed."""
    why = exc.strerror or str(exc)
    full = exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
    return BackupError(
        f"cannot write the backup to {directory}: {why}; no backup was made, "
        f"{backend.display_url} is unchanged",
        hint="that disk (or quota) is full: free space there, or set [backup] dir (or "
        "MALNU_BACKUP_DIR) to a bigger disk"
        if full
        else None,
    )


@dataclass(frozen=True)
class VerifyReport:
    """The outcome of verifying one backup, check by check."""

    backup_id: str
    ok: bool
    deep: bool
    checks: tuple[VerifyCheck, ...]
    manifest: BackupManifest
    unrecorded: str = ""  # why the outcome could not be written to the manifest (a store
    # this user may only read): `check` and `recover` go by what the manifest still says
    sound: bool = False  # the file's checks passed (``ok`` False: this server lacks what
    # its restore needs, :attr:`VerifyCheck.server`, or a check could not be run here)

    @property
    def problems(self) -> list[str]:
        """One line per failed check, for messages."""
        return [f"{c.name}: {c.detail}" for c in self.checks if not c.ok]

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.backup_id,
            "ok": self.ok,
            "deep": self.deep,
            "sound": self.sound,
            "checks": [
                {"name": c.name, "ok": c.ok, "detail": c.detail}
                | ({"way_out": c.way_out} if c.way_out else {})
                for c in self.checks
            ],
        }


def data_path(target: Target, manifest: BackupManifest) -> Path:
    """The data file of a backup (manifest file names are never trusted as paths), in the
    store it was found in (``owners.store_of``)."""
    return store_of(manifest, target.backup_dir) / Path(manifest.file).name


def verify_backup(
    target: Target,
    backup_id: str,
    *,
    deep: bool = False,
    progress: BackupProgressCallback | None = None,
) -> VerifyReport:
    """Re-hash a backup and run its engine check; with ``deep``, restore it into a scratch
    database and compare row counts with the manifest. Records the outcome in the manifest."""
    emit = emitter(progress)
    started = time.perf_counter()
    manifest = find_backup(target, backup_id)
    directory = store_of(manifest, target.backup_dir)
    path = data_path(target, manifest)
    checks: list[VerifyCheck] = []
    if not path.is_file():
        checks.append(VerifyCheck("file", False, f"{path.name} is missing"))
    else:
        size = path.stat().st_size
        if size != manifest.size:
            what = "truncated" if size < manifest.size else "longer than recorded"
            checks.append(
                VerifyCheck("size", False, f"{what}: {size} bytes, manifest says {manifest.size}")
            )
        else:
            checks.append(VerifyCheck("size", True, f"{size} bytes"))
            digest, _ = sha256_file(path, emit, phase="verify")
            if digest != manifest.sha256:
                checks.append(
                    VerifyCheck(
                        "sha256",
                        False,
                        f"content changed: {digest[:16]}…, manifest says {manifest.sha256[:16]}…",
                    )
                )
            else:
                checks.append(VerifyCheck("sha256", True, digest))
                method = method_for(manifest.target_kind)
                checks.extend(method.check(target, path, manifest, deep, emit))
    ok = all(c.ok for c in checks)
    # A finding about this server (a role the backup names that it lacks) is no fault of the
    # file: the backup stays counted as verified (`recover` passed over it to an older one,
    # naming the same role, and `check` said "no verified backup"); `check` warns instead.
    sound = all(c.ok for c in checks if not (c.server or c.not_run))
    if not ok and not manifest_path(directory, manifest.id).is_file():
        raise BackupGone(manifest.id, "it was being verified")  # not "corrupt"
    took = str(int((time.perf_counter() - started) * 1000))
    details = {**dict(manifest.details), "verify_duration_ms": took, "verify_deep": str(deep)}
    if deep:
        details.pop(RESTORE_NEEDS, None)
        needs = [f"{c.detail}: {c.way_out}" for c in checks if c.server and not c.ok]
        details.update({RESTORE_NEEDS: "; ".join(needs)} if needs else {})
    manifest = replace(manifest, details=details)
    unrecorded = ""
    try:
        # A check not run concludes nothing about the file: its verified state stays as it was.
        concluded = not any(c.not_run for c in checks)
        if concluded and sound:
            manifest = mark_verified(directory, manifest)
        elif concluded and manifest.verified_at is not None:
            manifest = replace(
                manifest,
                verified_at=None,
                details={**dict(manifest.details), "verify_failed_at": utc_iso()},
            )
            save_manifest(directory, manifest)
    except OSError as exc:
        unrecorded = f"{exc.strerror or exc} ({exc.filename or directory})"
    emit(BackupProgress("done", 0, 0, "verified" if ok else "verification failed"))
    return VerifyReport(manifest.id, ok, deep, tuple(checks), manifest, unrecorded, sound)
