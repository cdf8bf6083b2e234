"""Create, verify and restore backups of any kind; the kind's method moves the bytes."""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from malnu_tui import __version__
from malnu_tui.engine.backends.base import AuditEntry, Backend
from malnu_tui.engine.backup.method import Snapshot, VerifyCheck, method_for
from malnu_tui.engine.backup.store import (
    REASONS,
    BackupCorrupt,
    BackupError,
    BackupGone,
    BackupManifest,
    BackupProgress,
    BackupProgressCallback,
    emitter,
    ensure_store,
    fsync_dir,
    load_manifest,
    manifest_path,
    mark_verified,
    new_backup_id,
    remove_quietly,
    save_manifest,
    sha256_file,
    temp_path,
    utc_iso,
)
from malnu_tui.engine.config import Target
from malnu_tui.engine.errors import ConfigError, MalnuError
from malnu_tui.engine.monitor.runlog import RunRecorder, record_run
from malnu_tui.engine.private import hand_over
from malnu_tui.engine.urls import recorded_url

__all__ = [
    "RestoreResult",
    "VerifyReport",
    "create_backup",
    "restore_backup",
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


def _audit(backend: Backend, entry: AuditEntry) -> None:
    # The audit row must not turn a finished backup into a failure (or hide the real error).
    with contextlib.suppress(Exception):
        backend.append_audit(entry)


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
        manifest = _create_backup(backend, target, reason, progress)
        run.obj = f"{reason} {manifest.id}"
        run.count("bytes", manifest.size)
        run.count("tables", len(manifest.row_counts))
        run.count("rows", sum(manifest.row_counts.values()))
    return manifest


def _create_backup(
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
            method=method.METHOD,
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
            details={
                **dict(snap.details),
                "seconds": f"{time.perf_counter() - started:.3f}",
                "started_at": utc_iso(now),
                "ended_at": utc_iso(),
                "duration_ms": str(int((time.perf_counter() - started) * 1000)),
            },
        )
        emit(BackupProgress("manifest", 0, 0, f"writing manifest {backup_id}.json"))
        save_manifest(directory, manifest)  # last: from here on the backup is listed
    except BaseException as exc:
        remove_quietly(tmp, final)
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

    @property
    def problems(self) -> list[str]:
        """One line per failed check, for messages."""
        return [f"{c.name}: {c.detail}" for c in self.checks if not c.ok]

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.backup_id,
            "ok": self.ok,
            "deep": self.deep,
            "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in self.checks],
        }


def data_path(target: Target, manifest: BackupManifest) -> Path:
    """The data file of a backup (manifest file names are never trusted as paths)."""
    return target.backup_dir / Path(manifest.file).name


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
    directory = target.backup_dir
    manifest = load_manifest(directory, backup_id)
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
    if not ok and not manifest_path(directory, manifest.id).is_file():
        raise BackupGone(manifest.id, "it was being verified")  # not "corrupt"
    took = str(int((time.perf_counter() - started) * 1000))
    manifest = replace(
        manifest,
        details={**dict(manifest.details), "verify_duration_ms": took, "verify_deep": str(deep)},
    )
    unrecorded = ""
    try:
        if ok:
            manifest = mark_verified(directory, manifest)
        elif manifest.verified_at is not None:
            manifest = replace(
                manifest,
                verified_at=None,
                details={**dict(manifest.details), "verify_failed_at": utc_iso()},
            )
            save_manifest(directory, manifest)
    except OSError as exc:
        unrecorded = f"{exc.strerror or exc} ({exc.filename or directory})"
    emit(BackupProgress("done", 0, 0, "verified" if ok else "verification failed"))
    return VerifyReport(manifest.id, ok, deep, tuple(checks), manifest, unrecorded)


@dataclass(frozen=True)
class RestoreResult:
    """What a restore did: which backup, the pre-restore backup that undoes it, and whether the
    restored schema matches the manifest."""

    backup_id: str
    pre_restore_id: str
    manifest: BackupManifest
    schema_matches: bool
    seconds: float
    warnings: tuple[str, ...] = ()  # what went wrong after the restore itself was done
    pre_restore_verified: bool = True  # False: the database replaced was damaged (SQLite)
    # Ctrl-C or SIGTERM that came after the COMMIT: the restore is done; a recover stops.
    interrupted: KeyboardInterrupt | None = None

    def as_json(self) -> dict[str, object]:
        return {
            "restored": self.backup_id,
            "pre_restore_backup": self.pre_restore_id,
            "head": self.manifest.head,
            "schema_matches": self.schema_matches,
            "seconds": round(self.seconds, 3),
            "warnings": list(self.warnings),
        }


def restore_backup(
    backend: Backend,
    target: Target,
    backup_id: str,
    *,
    progress: BackupProgressCallback | None = None,
    pre_reason: str = "pre-restore",
    mark: Mark | None = None,
) -> RestoreResult:
    """Verify a backup, take a ``pre-restore`` backup, then replace the database with it
    atomically, under the migration lock; audited. A backup that fails verification is
    refused with :class:`BackupCorrupt` and nothing is changed. ``mark`` gives, from the
    pre-restore backup, one more audit row that commits with the restored data (a recover's
    "started" mark)."""
    with record_run(backend, "restore", backup_id) as run:
        result = _restore_backup(backend, target, backup_id, progress, pre_reason, mark)
        run.count("tables", len(result.manifest.row_counts))
        run.count("rows", sum(result.manifest.row_counts.values()))
    return result


def _restore_backup(
    backend: Backend,
    target: Target,
    backup_id: str,
    progress: BackupProgressCallback | None,
    pre_reason: str,
    mark: Mark | None,
) -> RestoreResult:
    from malnu_tui.engine.oplock import migration_lock

    emit = emitter(progress)
    manifest = load_manifest(target.backup_dir, backup_id)
    if manifest.target_kind != backend.kind:
        raise BackupError(
            f"backup {manifest.id} is of a {manifest.target_kind} database; "
            f"{backend.display_url} is {backend.kind}"
        )
    method = method_for(manifest.target_kind)
    emit(BackupProgress("verify", 0, 0, f"verifying {manifest.id}"))
    try:
        report = verify_backup(target, manifest.id, progress=emit)
    except BackupGone:
        _audit(backend, AuditEntry.now("restore", manifest.id, "refused", "deleted meanwhile"))
        raise
    if not report.ok:
        _audit(
            backend,
            AuditEntry.now("restore", manifest.id, "refused", "; ".join(report.problems)[:500]),
        )
        raise BackupCorrupt(manifest.id, report.problems)
    started = time.perf_counter()
    if backend.kind == "sqlite":
        return _restore_sqlite(backend, target, manifest, emit, pre_reason, started, mark)
    with migration_lock(backend, "restore"):
        _still_there(backend, target, manifest)
        emit(BackupProgress("pre-restore", 0, 0, "backing up the current state first"))
        pre = create_backup(backend, target, reason=pre_reason, progress=emit)
        path = data_path(target, manifest)
        # PostgreSQL: the restore's audit row is inserted in the restore's own transaction, so
        # a process killed right after the COMMIT still leaves it (recover replays the trail).
        in_txn = backend.kind == "postgresql"
        done = AuditEntry.now("restore", manifest.id, "ok", _restored(manifest, pre, True))
        marks = (mark(pre),) if mark else ()
        try:
            if in_txn:
                from malnu_tui.engine.backup import pg_restore

                pg_restore.restore(backend, target, path, manifest, emit, audit=(done, *marks))
            else:
                method.restore(backend, target, path, manifest, emit)
        except MalnuError as exc:
            _audit(
                backend,
                AuditEntry.now(
                    "restore", manifest.id, "failed", f"{exc}; pre-restore backup {pre.id}"[:500]
                ),
            )
            raise
        matches = _fingerprint_as_made(backend, manifest) == manifest.schema_hash
        if not in_txn:
            detail = _restored(manifest, pre, matches)
            _audit(backend, AuditEntry.now("restore", manifest.id, "ok", detail))
            for row in marks:
                _audit(backend, row)
        elif not matches:  # known only now; "ok" once, so recover replays the restore once
            detail = "schema hash of the restored database differs from the manifest"
            _audit(backend, AuditEntry.now("restore", manifest.id, "warning", detail))
    emit(BackupProgress("done", 0, 0, f"restored {manifest.id}"))
    return RestoreResult(manifest.id, pre.id, manifest, matches, time.perf_counter() - started)


def _still_there(backend: Backend, target: Target, manifest: BackupManifest) -> None:
    """Under the lock, the backup verified before it is still listed with its data file: a
    prune or delete (they hold the lock while deleting) may have run in between. Refused
    (:class:`BackupGone`), audited, before any pre-restore backup or change."""
    path = data_path(target, manifest)
    if manifest_path(target.backup_dir, manifest.id).is_file() and path.is_file():
        return
    _audit(backend, AuditEntry.now("restore", manifest.id, "refused", "deleted meanwhile"))
    raise BackupGone(manifest.id)


def _fingerprint_as_made(backend: Backend, manifest: BackupManifest) -> str:
    """The restored database's schema hash, made as the manifest's was (a D1 backup of an
    earlier version left out `scf_…` tables: its restore is not "differs" for that)."""
    if backend.kind == "d1":
        from malnu_tui.engine.backends.d1.backend import D1Backend
        from malnu_tui.engine.backends.sqlite_sql import names_rule

        if isinstance(backend, D1Backend):
            return backend.schema_fingerprint(names_rule(manifest.manifest_version))
    return backend.schema_fingerprint()


def _restored(manifest: BackupManifest, pre: BackupManifest, matches: bool) -> str:
    detail = (
        f"restored backup of {manifest.created_at} (head {manifest.head or '—'}); "
        f"pre-restore backup {pre.id}"
    )
    return detail + ("" if matches else "; schema hash differs from the manifest")


def _restore_sqlite(
    backend: Backend,
    target: Target,
    manifest: BackupManifest,
    emit: BackupProgressCallback,
    pre_reason: str,
    started: float,
    mark: Mark | None,
) -> RestoreResult:
    """SQLite: the pre-restore backup is taken while the restore holds the live file's write
    lock, so no write of the application falls between the two (it would be in neither); its
    audit rows and the restore's commit together with the restored data."""
    from malnu_tui.engine.backends.base import lock_holder_for_this_process
    from malnu_tui.engine.backup import sqlite as sqlite_method

    taken: list[BackupManifest] = []
    rows: list[AuditEntry] = []  # the pre-restore backup's, written here if the restore fails
    outcome: list[bool] = []
    # A damaged database is what a restore is for: its copy is kept (not verified) as the
    # pre-restore backup rather than refused, which left no way to replace it.
    keep_damaged = functools.partial(sqlite_method.create, damaged_ok=True)
    finished: list[AuditEntry] = []  # the restore's own row: it commits with the data

    def held(schema_hash: str) -> list[AuditEntry]:
        emit(BackupProgress("pre-restore", 0, 0, "backing up the current state first"))
        run = RunRecorder("backup", pre_reason)
        try:
            pre = _create_backup(
                backend, target, pre_reason, emit, audit=rows.append, create=keep_damaged
            )
        except Exception as exc:
            rows.append(run.finish("failed", str(exc)).as_audit())
            raise
        run.obj = f"{pre_reason} {pre.id}"
        run.count("bytes", pre.size)
        rows.append(run.finish("ok").as_audit())
        taken.append(pre)
        matches = schema_hash == manifest.schema_hash
        outcome.append(matches)
        done = AuditEntry.now("restore", manifest.id, "ok", _restored(manifest, pre, matches))
        finished.append(done)
        return [*rows, done, *([mark(pre)] if mark else [])]

    from malnu_tui.engine.oplock import holds_lock

    nested = holds_lock(backend)  # a recover's: its lock is kept for its migrations
    backend.ensure_schema()
    if not nested:
        backend.acquire_lock(lock_holder_for_this_process("restore"))
    try:
        _still_there(backend, target, manifest)
    except BackupGone:
        if not nested:
            _release(backend)
        raise
    late, interrupted = "", None
    try:
        sqlite_method.restore(
            backend, target, data_path(target, manifest), manifest, emit, held=held
        )
    except BaseException as exc:
        if finished and _committed(backend, finished[0]):
            # Ctrl-C or SIGTERM (or an error) that came once the restore had committed (during
            # its last step, or the clean-up after it): the restore is done, and said so, as a
            # PostgreSQL restore whose COMMIT was sent is. "terminated" would read as undone.
            what = (
                "an interrupt (Ctrl-C or SIGTERM)"
                if isinstance(exc, KeyboardInterrupt)
                else f"an error ({exc or type(exc).__name__})"
            )
            late = f"{what} came after it had committed, too late to undo it"
            interrupted = exc if isinstance(exc, KeyboardInterrupt) else None
        else:
            _restore_failed(backend, manifest, exc, rows, taken, release=not nested)
            raise
    # Done and audited: a lock row that cannot be deleted now (an application took the write
    # lock right after the restore) must not turn the restore into a failure, nor go unsaid.
    left = "" if nested else _release(backend)
    emit(BackupProgress("done", 0, 0, f"restored {manifest.id}"))
    pre = taken[0]
    damaged = pre.details.get("damaged")
    said = [w for w in (late, left) if w]
    if damaged:
        said.insert(
            0,
            f"the database it replaced was damaged ({damaged[:300]}); its copy is kept as "
            f"pre-restore backup {pre.id}, not verified: `backup restore` refuses it, and "
            f"`sqlite3 {data_path(target, pre)} .recover` reads what can be read of it",
        )
    return RestoreResult(
        manifest.id,
        pre.id,
        manifest,
        outcome[0],
        time.perf_counter() - started,
        warnings=tuple(said),
        pre_restore_verified=pre.verified,
        interrupted=interrupted,
    )


def _committed(backend: Backend, done: AuditEntry) -> bool:
    """Whether the live database holds the restore's own audit row ``done`` (it commits with
    the restored data, so then the restore has committed)."""
    with contextlib.suppress(Exception):
        for e in backend.read_audit(limit=50, action="restore"):
            if (e.at, e.actor, e.object, e.outcome, e.detail) == (
                done.at,
                done.actor,
                done.object,
                done.outcome,
                done.detail,
            ):
                return True
    return False


def _restore_failed(
    backend: Backend,
    manifest: BackupManifest,
    exc: BaseException,
    rows: list[AuditEntry],
    taken: list[BackupManifest],
    *,
    release: bool = True,
) -> None:
    """A SQLite restore that did not commit: its rows audited, the lock released (what could
    not be released is added to the error's hint)."""
    if isinstance(exc, MalnuError):
        for row in rows:
            _audit(backend, row)
        undo = f"pre-restore backup {taken[0].id}" if taken else "nothing was changed"
        _audit(backend, AuditEntry.now("restore", manifest.id, "failed", f"{exc}; {undo}"[:500]))
    left = _release(backend) if release else ""
    if left and isinstance(exc, MalnuError):
        exc.hint = f"{exc.hint}; {left}" if exc.hint else left


def _release(backend: Backend) -> str:
    """Release the migration lock; what to tell the operator when it could not be."""
    try:
        backend.release_lock()
    except MalnuError as exc:
        return (
            f"{exc}; the lock row of this session (pid {os.getpid()}) stays: the next "
            "malnu-tui run on this host takes it over once this process has ended; from "
            "another host run `malnu-tui unlock` once you have checked no one is working"
        )
    return ""
