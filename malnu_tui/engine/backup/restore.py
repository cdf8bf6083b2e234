"""Restore a backup of any kind: verified first, a pre-restore backup that undoes it taken
under the migration lock (SQLite: while the restore holds the live file's write lock), the
database replaced atomically, audited; what a restore interrupted after its COMMIT says."""

from __future__ import annotations

import functools
import os
import time
from dataclasses import dataclass

from malnu_tui.engine.backends.base import AuditEntry, Backend, audit_row_held
from malnu_tui.engine.backup.core import (
    Mark,
    audit_quietly,
    create_backup,
    data_path,
    make_backup,
    verify_backup,
)
from malnu_tui.engine.backup.method import method_for
from malnu_tui.engine.backup.owners import find_backup
from malnu_tui.engine.backup.store import (
    BackupCorrupt,
    BackupError,
    BackupGone,
    BackupManifest,
    BackupProgress,
    BackupProgressCallback,
    DumpRefused,
    emitter,
    ensure_store,
    manifest_path,
)
from malnu_tui.engine.config import Target
from malnu_tui.engine.errors import ConfigError, MalnuError
from malnu_tui.engine.monitor.runlog import RunRecorder, record_run

__all__ = ["RestoreResult", "restore_backup"]


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


def _writable_store(target: Target) -> None:
    """A restore writes into its store (its copy of the backup, the pre-restore backup): one
    that cannot be written (its disk remounted read-only after errors) is said before anything
    is done, exit 2, with the way that works at once. It was `cannot copy backup … for the
    restore …: Read-only file system`, exit 1, and no way out (setting the store elsewhere, as
    the backup's hint says, leaves the backups behind)."""
    try:
        ensure_store(target.backup_dir)
    except ConfigError as exc:
        raise ConfigError(
            str(exc),
            hint=f"restore from a copy on a disk this user can write: `cp -a "
            f"{target.backup_dir} /srv/writable/`, then run it again with "
            'MALNU_BACKUP_DIR=/srv/writable (or [backup] dir = "/srv/writable")',
        ) from None


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
    manifest = find_backup(target, backup_id)
    if manifest.target_kind != backend.kind:
        raise BackupError(
            f"backup {manifest.id} is of a {manifest.target_kind} database; "
            f"{backend.display_url} is {backend.kind}"
        )
    method = method_for(manifest.target_kind)
    _writable_store(target)
    emit(BackupProgress("verify", 0, 0, f"verifying {manifest.id}"))
    try:
        report = verify_backup(target, manifest.id, progress=emit)
    except BackupGone:
        audit_quietly(
            backend, AuditEntry.now("restore", manifest.id, "refused", "deleted meanwhile")
        )
        raise
    if not report.ok:
        audit_quietly(
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
        try:
            pre = create_backup(backend, target, reason=pre_reason, progress=emit)
        except DumpRefused as exc:  # D1 with virtual tables: nothing changed
            if manifest.native_restore_point:
                exc.hint = (
                    f"backup {manifest.id} is restored by its own bookmark instead: `malnu-tui "
                    f"d1 time-travel --bookmark {manifest.native_restore_point}`, which says the "
                    "bookmark that undoes it"
                )
            raise
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
            failed = f"{exc}; pre-restore backup {pre.id}"[:500]
            if not audit_quietly(backend, AuditEntry.now("restore", manifest.id, "failed", failed)):
                # (a server stopped under the restore: said at once, and that it is not audited)
                why = getattr(backend, "audit_lost", "")
                lost = (
                    "the audit row of this failure could not be written"
                    + (f" ({why})" if why else "")
                    + ": nothing in the database records this attempt; the pre-restore backup "
                    f"{pre.id} in the backup store (and this message) are its only trace"
                )
                exc.hint = f"{exc.hint}; {lost}" if exc.hint else lost
            raise
        matches = _fingerprint_as_made(backend, manifest) == manifest.schema_hash
        if not in_txn:
            detail = _restored(manifest, pre, matches)
            audit_quietly(backend, AuditEntry.now("restore", manifest.id, "ok", detail))
            for row in marks:
                audit_quietly(backend, row)
        elif not matches:  # known only now; "ok" once, so recover replays the restore once
            detail = "schema hash of the restored database differs from the manifest"
            audit_quietly(backend, AuditEntry.now("restore", manifest.id, "warning", detail))
    emit(BackupProgress("done", 0, 0, f"restored {manifest.id}"))
    return RestoreResult(manifest.id, pre.id, manifest, matches, time.perf_counter() - started)


def _still_there(backend: Backend, target: Target, manifest: BackupManifest) -> None:
    """Under the lock, the backup verified before it is still listed with its data file: a
    prune or delete (they hold the lock while deleting) may have run in between. Refused
    (:class:`BackupGone`), audited, before any pre-restore backup or change."""
    path = data_path(target, manifest)
    if manifest_path(path.parent, manifest.id).is_file() and path.is_file():
        return
    audit_quietly(backend, AuditEntry.now("restore", manifest.id, "refused", "deleted meanwhile"))
    raise BackupGone(manifest.id)


def _fingerprint_as_made(backend: Backend, manifest: BackupManifest) -> str:
    """The restored database's schema hash, made as the manifest's was (a D1 backup of an
    earlier version left out `scf_…` tables, a PostgreSQL one the empty tool tables of
    public: its restore is not "differs" for that)."""
    if backend.kind == "postgresql":
        from malnu_tui.engine.backends.postgresql import PostgresBackend
        from malnu_tui.engine.backup.pg_check import tables_as_made

        if isinstance(backend, PostgresBackend):
            return backend.schema_fingerprint(tables_as_made(backend.table_names(), manifest))
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
            pre = make_backup(
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
    return audit_row_held(backend, done)


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
            audit_quietly(backend, row)
        undo = f"pre-restore backup {taken[0].id}" if taken else "nothing was changed"
        audit_quietly(
            backend, AuditEntry.now("restore", manifest.id, "failed", f"{exc}; {undo}"[:500])
        )
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
