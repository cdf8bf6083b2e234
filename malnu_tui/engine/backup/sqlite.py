"""SQLite backups: the online backup API into a temp file, then ``quick_check``.

Within one read transaction: a stepped backup otherwise restarts whenever another connection
writes, and never finishes under a steady writer; in WAL mode it reads one consistent snapshot
while writers carry on. In steps (not ``pages=-1``) so that a stop is taken between them.
Restore runs the backup API the other way, from the verified file INTO the live database, so
other connections see either the old or the new database.
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from malnu_tui.engine.backends import sqlite_sql as q
from malnu_tui.engine.backends.sqlite_open import disk_hint
from malnu_tui.engine.backends.sqlite_stop import StoppableConnection
from malnu_tui.engine.backup.durable import (
    HashStopped,
    fsync_file,
    remove_quietly,
    sha256_file,
    temp_path,
)
from malnu_tui.engine.backup.method import (
    Snapshot,
    VerifyCheck,
    compare_with_manifest,
    copy_verified,
)
from malnu_tui.engine.backup.sqlite_files import (
    GivenUp,
    applied,
    check_pragma,
    file_uri,
    fingerprint,
    in_thread,
    open_readonly,
    row_counts,
    table_names,
)
from malnu_tui.engine.backup.store import (
    AppliedMigration,
    BackupError,
    BackupManifest,
    BackupProgress,
    BackupProgressCallback,
)
from malnu_tui.engine.errors import DatabaseBusy, damaged_hint, sqlite_damaged

if TYPE_CHECKING:
    from malnu_tui.engine.backends.base import AuditEntry, Backend
    from malnu_tui.engine.config import Target

METHOD = "sqlite-backup-api"
SUFFIX = ".sqlite"
BUSY_TIMEOUT_S = 30.0
MMAP_BYTES = 1 << 40  # SQLite caps it at its compile-time maximum
_T = TypeVar("_T")
# sqlite3_backup_step() answers; Python's backup() loop retries BUSY and LOCKED forever, so
# each step waits only this long for a lock and _BusyWait bounds the whole wait.
_BUSY, _LOCKED = 5, 6
STEP_BUSY_MS = 100
COPY_PAGES = 2048  # pages per backup step (8 MiB of 4 KiB pages): a stop waits for one step
HeldHook = Callable[[str], Sequence["AuditEntry"]]


class _BusyWait:
    """Bounds a backup-API loop that cannot get its lock: says once on the progress channel
    that it waits and for what, and raises :class:`DatabaseBusy` (exit 3) after ``limit``
    seconds; the caller's backup() then aborts and the destination is left as it was."""

    def __init__(
        self, path: Path, limit: float, progress: BackupProgressCallback, doing: str, hint: str
    ) -> None:
        self.path, self.limit, self.progress = path, limit, progress
        self.doing, self.hint = doing, hint
        self.since: float | None = None

    def busy(self) -> None:
        now = time.monotonic()
        if self.since is None:
            self.since = now
            self.progress(
                BackupProgress(
                    "wait",
                    0,
                    0,
                    f"waiting for {self.path}: another connection holds its write lock "
                    f"(giving up after {self.limit:g} s)",
                )
            )
        elif now - self.since >= self.limit:
            raise DatabaseBusy(str(self.path), self.limit, doing=self.doing, hint=self.hint)


_BUSY_HINT = (
    "an application or a `sqlite3` shell keeps a write transaction open on it (`fuser` or "
    "`lsof` on the file names the process); let it finish, then run the command again"
)


def _begin_snapshot(src: sqlite3.Connection, wait: _BusyWait) -> None:
    """A read transaction on ``src`` held across the backup's steps: the backup API restarts
    a stepped copy when another connection writes between steps, never when its source
    connection reads one snapshot (waiting as the one-step copy waits for a write lock)."""
    while True:
        try:
            src.execute("BEGIN")
            src.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return
        except sqlite3.OperationalError as exc:
            if src.in_transaction:
                src.execute("ROLLBACK")
            if (exc.sqlite_errorcode or 0) & 0xFF not in (_BUSY, _LOCKED):
                raise
            wait.busy()


def _live_path(backend: Backend) -> Path:
    path = getattr(backend, "path", None)
    if not isinstance(path, Path):
        raise BackupError(f"{backend.display_url} is not a local SQLite file")
    return path


def _live_conn(backend: Backend) -> sqlite3.Connection:
    conn = getattr(backend, "conn", None)
    if not isinstance(conn, sqlite3.Connection):
        raise BackupError(f"{backend.display_url} is not a local SQLite file")
    return conn


def _short_of_room(dest: Path, live: Path) -> bool:
    """Whether the store's disk has less room left than the database takes: then a "disk I/O
    error" of the copy is that disk filling up (SQLite says SQLITE_IOERR_SHMSIZE, not FULL,
    when it runs out a few pages short), not the live database's disk failing."""
    try:
        return shutil.disk_usage(dest.parent).free < live.stat().st_size
    except OSError:
        return False


def create(
    backend: Backend,
    target: Target,
    dest: Path,
    progress: BackupProgressCallback,
    *,
    damaged_ok: bool = False,
) -> Snapshot:
    """One-step online backup of the live file into ``dest``, then check, hash and fsync.

    The backup API copies pages as they are, so a copy that fails ``quick_check`` is a
    damaged database's faithful copy. That is a :class:`BackupError`, unless ``damaged_ok``
    (the pre-restore backup of a restore that replaces the damaged database): the copy is then
    kept, not verified, with what the check said, since it is all there is of that database."""
    live = _live_path(backend)
    try:
        src = sqlite3.connect(str(live), timeout=BUSY_TIMEOUT_S, isolation_level=None)
    except sqlite3.Error as exc:
        raise BackupError(f"cannot open {live}: {exc}") from None
    try:
        pages = int(src.execute("PRAGMA page_count").fetchone()[0])
        progress(BackupProgress("copy", 0, pages, f"copying {live.name}"))
        # Read through mmap; write with no journal and no syncs: the copy is a temp file
        # that is fsynced, checked and hashed before it is renamed into place.
        src.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")
        dst = sqlite3.connect(str(dest), isolation_level=None)
        try:
            dst.execute("PRAGMA journal_mode = OFF")
            dst.execute("PRAGMA synchronous = OFF")

            limit = float(getattr(backend, "busy_timeout", BUSY_TIMEOUT_S))
            wait = _BusyWait(
                live,
                limit,
                progress,
                "before the backup could read it; no backup was made",
                _BUSY_HINT,
            )

            def step(status: int, remaining: int, total: int) -> None:
                if status in (_BUSY, _LOCKED):
                    wait.busy()
                    return
                progress(BackupProgress("copy", total - remaining, total))

            src.execute(f"PRAGMA busy_timeout = {STEP_BUSY_MS}")
            _begin_snapshot(src, wait)
            # Steps of COPY_PAGES within that one read transaction: one snapshot as one step
            # reads it, and the console's stop (raised at a Python line: the callback between
            # steps) ends the copy there; in one step it waited for the whole copy.
            src.backup(dst, pages=COPY_PAGES, progress=step)
            # The copy is ours: no lock row of a live session, and one self-contained file.
            if "malnu_lock" in table_names(dst):
                dst.execute("DELETE FROM malnu_lock")
            dst.execute("PRAGMA journal_mode = DELETE")
        finally:
            dst.close()
    except sqlite3.Error as exc:
        code = exc.sqlite_errorcode
        if code in (sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR_WRITE) or (
            code is not None and code & 0xFF == sqlite3.SQLITE_IOERR and _short_of_room(dest, live)
        ):
            # Only the copy is written: say whose disk, so no one frees the wrong one.
            raise BackupError(
                f"cannot write the backup to {dest.parent}: {exc}; {live} is unchanged",
                hint="that disk (or quota) is full: free space there, or set [backup] dir "
                "(or MALNU_BACKUP_DIR) to a bigger disk",
            ) from None
        raise BackupError(f"SQLite backup of {live} failed: {exc}") from None
    finally:
        src.close()

    # Hash, check and fsync the finished copy side by side: each reads the whole file. A stop
    # (Ctrl-C, the console's stop key) ends the check's statement and the hash at their next
    # chunk, where it waited for both to read the whole file (a 400 MB database: many
    # seconds); the caller's clean-up then removes the copy as a stop of the copy does.
    progress(BackupProgress("check", 0, 0, "PRAGMA quick_check, sha256 and fsync"))
    given_up = GivenUp()
    syncer, _, sync_err = in_thread(lambda: fsync_file(dest))
    # (No progress from the helper threads: callers may not expect calls from other threads.)
    hasher, hashed, hash_err = in_thread(lambda: sha256_file(dest, stopped=given_up.is_set))
    records: tuple[AppliedMigration, ...] = ()
    schema_hash, counts = "", {}
    read = False
    try:
        try:
            conn = open_readonly(dest, stoppable=True)
            try:
                conn.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")
                verdict = check_pragma(conn, "quick_check")
                try:
                    records = applied(conn)
                    schema_hash = fingerprint(conn)
                    counts = row_counts(conn)
                except sqlite3.DatabaseError:
                    if not damaged_ok:
                        raise  # (a damaged copy's manifest holds what could be read of it)
            finally:
                conn.close()
        except sqlite3.Error as exc:
            if not (damaged_ok and sqlite_damaged(exc)):
                raise BackupError(
                    f"the copy of {live} cannot be read back: {exc}",
                    hint=damaged_hint(str(exc)) if sqlite_damaged(exc) else None,
                ) from None
            verdict = str(exc)
        read = True
    finally:
        if not read:
            given_up.set()  # (its hash is not waited for: the copy is to be removed)
        hasher.join()
        syncer.join()
    if any(isinstance(err, HashStopped) for err in hash_err):
        # A stop that was not raised here after all: the hash is done in full.
        hash_err.clear()
        hashed.append(sha256_file(dest))
    for err in (*hash_err, *sync_err):
        if isinstance(err, OSError):
            raise BackupError(f"cannot write the backup to {dest.parent}: {err}") from None
        raise err
    if verdict != "ok" and not damaged_ok:
        raise BackupError(
            f"the copy of {live} failed PRAGMA quick_check: {verdict}", hint=damaged_hint(verdict)
        )
    digest, size = hashed[0]
    details = {"sqlite_version": sqlite3.sqlite_version, "source": str(live)}
    if verdict != "ok":
        details["damaged"] = f"PRAGMA quick_check: {verdict}"[:1000]
    return Snapshot(
        sha256=digest,
        size=size,
        migrations=records,
        schema_hash=schema_hash,
        row_counts=counts,
        details=details,
        verified=verdict == "ok",
    )


def check(
    target: Target,
    path: Path,
    manifest: BackupManifest,
    deep: bool,
    progress: BackupProgressCallback,
) -> list[VerifyCheck]:
    """``PRAGMA quick_check`` on the file; with ``deep``, a restore into a scratch file,
    ``PRAGMA integrity_check``, and row counts and schema hash compared with the manifest."""
    checks: list[VerifyCheck] = []
    progress(BackupProgress("verify", 0, 0, "PRAGMA quick_check"))
    # Stoppable (Ctrl-C, the console's stop) as `backup create`'s check is: in sqlite3's C code
    # no stop reached these checks, and the operator waited for a 400 MB file to be read. The
    # stop (raised at the next Python line, before anything is recorded) ends the verification.
    try:
        conn = open_readonly(path, stoppable=True)
        try:
            verdict = check_pragma(conn, "quick_check")
        finally:
            conn.close()
    except sqlite3.Error as exc:
        verdict = f"not a readable SQLite database: {exc}"
    checks.append(VerifyCheck("quick_check", verdict == "ok", verdict))
    if not deep or verdict != "ok":
        return checks
    scratch = temp_path(path.parent, ".scratch.sqlite")
    try:
        progress(BackupProgress("restore", 0, 0, "restoring into a scratch database"))
        src = open_readonly(path)
        dst = sqlite3.connect(str(scratch), isolation_level=None, factory=StoppableConnection)
        try:
            # In steps: a stop is raised at the Python callback between two of them.
            src.backup(dst, pages=COPY_PAGES, progress=lambda *_: None)
            progress(BackupProgress("verify", 0, 0, "PRAGMA integrity_check"))
            integrity = check_pragma(dst, "integrity_check")
            checks.append(VerifyCheck("integrity_check", integrity == "ok", integrity))
            # Counted as the manifest was: an earlier version's left out `scf_…` tables.
            rule = q.names_rule(manifest.manifest_version)
            counts = row_counts(dst, rule)
            schema_hash = fingerprint(dst, rule)
        finally:
            src.close()
            dst.close()
    except sqlite3.Error as exc:
        # The file read whole (sha256, quick_check): no room for its scratch copy is the
        # disk's, not the file's. It was "✘ FAIL … FAILED verification: it will not be
        # restored", and the backup no longer counted as verified (`recover` passed over it).
        full = disk_hint(scratch, exc)
        checks.append(
            VerifyCheck(
                "scratch restore",
                False,
                f"{exc} in {path.parent}" if full else str(exc),
                way_out=f"the deep check restores a scratch copy of the backup "
                f"({manifest.size:,} bytes) beside it: {full}"
                if full
                else "",
                not_run=bool(full),
            )
        )
        return checks
    finally:
        remove_quietly(scratch)
    checks += compare_with_manifest(manifest, counts, schema_hash)
    return checks


def restore(
    backend: Backend,
    target: Target,
    path: Path,
    manifest: BackupManifest,
    progress: BackupProgressCallback,
    held: HeldHook | None = None,
) -> None:
    """Replace the live database with ``path`` through the backup API into the live file.

    The audit trail and the lock row are the live database's, not the backup's: they are
    carried into a staging copy first, so the history survives and the caller still holds its
    lock afterwards. The copy holds the live file's write lock from its first step to its
    COMMIT (other connections see the old or the new database, never a mix); ``held`` is
    called once that lock is held, with the restored schema's hash: it takes the pre-restore
    backup (no write can fall between that backup and the restore) and returns audit rows,
    which commit together with the restored data. A writer that keeps the live file locked
    longer than the busy timeout is :class:`DatabaseBusy`, the database left as it was.
    """
    live = _live_path(backend)
    conn = _live_conn(backend)
    limit = float(getattr(backend, "busy_timeout", BUSY_TIMEOUT_S))
    staging = temp_path(path.parent, ".restore.sqlite")
    try:
        progress(BackupProgress("restore", 0, 0, "preparing the restore"))
        copy_verified(path, staging, manifest)  # the bytes verified, or BackupCorrupt
        st = sqlite3.connect(str(staging), isolation_level=None)
        try:
            lost = _carry_tool_rows(st, live)
            if lost:
                progress(BackupProgress("restore", 0, 0, f"warning: {lost}"))
            live_ps = int(conn.execute("PRAGMA page_size").fetchone()[0])
            st_ps = int(st.execute("PRAGMA page_size").fetchone()[0])
            if live_ps != st_ps:
                # A WAL database cannot change its page size through the backup API.
                st.execute(f"PRAGMA page_size = {live_ps}")
                st.execute("VACUUM")
            pages = int(st.execute("PRAGMA page_count").fetchone()[0])
            schema_hash = fingerprint(st, q.names_rule(manifest.manifest_version))
            wait = _BusyWait(
                live,
                limit,
                progress,
                "before the restore could start; the database is "
                "unchanged and no pre-restore backup was taken",
                _BUSY_HINT,
            )
            pending = [held]
            replacing = [BackupProgress("restore", 0, 0, f"replacing {live.name}")]

            def step(status: int, remaining: int, total: int) -> None:
                if status in (_BUSY, _LOCKED):
                    wait.busy()
                    return
                hook = pending.pop() if pending else None
                if hook is not None:
                    # The first step took the live file's write lock (kept until the last
                    # step commits): nothing can be written between the pre-restore backup
                    # and the restore. Rows written to the source now are copied too.
                    entries = hook(schema_hash)
                    st.executemany(
                        q.INSERT_AUDIT,
                        [(e.at, e.actor, e.action, e.object, e.outcome, e.detail) for e in entries],
                    )
                if replacing:  # said once the pre-restore backup is taken (it said so before)
                    progress(replacing.pop())
                progress(BackupProgress("restore", total - remaining, total))

            # 0 of its pages, just before the first step takes the live file's write lock.
            progress(BackupProgress("restore", 0, pages))
            # Steps of at most pages - 1: the first never finishes the copy, so ``held`` runs
            # with the lock held and before anything is committed.
            chunk = max(1, min(pages - 1, pages // 64))
            conn.execute(f"PRAGMA busy_timeout = {STEP_BUSY_MS}")
            try:
                st.backup(conn, pages=chunk, progress=step)
            finally:
                conn.execute(f"PRAGMA busy_timeout = {int(limit * 1000)}")
        finally:
            st.close()
    except sqlite3.Error as exc:
        raise BackupError(
            f"restore into {live} failed, the database is unchanged: {exc}",
            hint=_restore_hint(exc, live, manifest.size),
        ) from None
    except OSError as exc:
        raise BackupError(f"restore into {live} failed, the database is unchanged: {exc}") from None
    finally:
        remove_quietly(staging)
    with contextlib.suppress(sqlite3.Error):
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)")


def _restore_hint(exc: sqlite3.Error, live: Path, size: int) -> str:
    """What to do about a restore SQLite refused: damage, a full disk, or a writer."""
    if sqlite_damaged(exc):
        return (
            f"{live} is damaged in a way the restore cannot read past: move it aside (with its "
            "-wal and -shm files), then run the restore again: a missing file is created and "
            "restored into"
        )
    # The live file's own disk (its WAL grows by the whole database), not the store's; a quota
    # or a file size limit says "disk I/O error" (EFBIG), not "disk is full".
    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
    if code in (sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR):
        return (
            f"the disk of {live.parent} (or this user's quota) is full: the restore needs room "
            f"there for the whole backup ({size} bytes) beside the database; free space there"
        )
    return "another process may hold a write lock; retry when it is idle"


def _carry_tool_rows(st: sqlite3.Connection, live: Path) -> str:
    """Copy the live database's audit trail and lock row into the staging copy ``st``.

    A table of a damaged live database that cannot be read is not carried: the staging copy
    keeps the backup's own audit trail (the lock row is left out; ours is only released after
    the restore). Returns what could not be carried, or ""."""
    st.execute("ATTACH DATABASE ? AS live", (file_uri(live, "mode=ro"),))
    try:
        _carry(st, _CARRIED)
        return ""
    except sqlite3.DatabaseError as exc:
        if not sqlite_damaged(exc):
            raise
        if st.in_transaction:  # SQLite refuses further writes in a transaction that met it
            st.execute("ROLLBACK")
    # Which of them can be read at all (only now: it reads them a second time).
    lost: dict[str, str] = {}
    for table, columns in _CARRIED.items():
        try:
            for _ in st.execute(f"SELECT {columns} FROM live.{table}"):
                pass
        except sqlite3.DatabaseError as exc:
            if not sqlite_damaged(exc):
                raise
            lost[table] = f"{table} ({exc})"
    _carry(st, {t: c for t, c in _CARRIED.items() if t not in lost})
    lost.pop("malnu_lock", None)  # ours is released after the restore: nothing to keep
    if not lost:
        return ""
    return (
        "the audit trail of the damaged database could not be read ("
        + ", ".join(lost.values())
        + "): the restored database keeps the backup's own audit trail, and the pre-restore "
        "backup holds what is left of the rest"
    )


_CARRIED = {
    "malnu_audit": "id, at, actor, action, object, outcome, detail",
    "malnu_lock": "id, owner, host, pid, acquired_at, expires_at",
}


def _columns(conn: sqlite3.Connection, schema: str, table: str) -> list[str]:
    return [str(r[1]) for r in conn.execute(f"PRAGMA {schema}.table_info({table})")]


def _lock_columns(st: sqlite3.Connection) -> str:
    """Every column of the live lock row, its purpose too ("restore"): a restore killed after
    its COMMIT leaves that row, and the next operator is told what held it. A backup from
    before the purpose column gets it in its staging copy."""
    live_cols = set(_columns(st, "live", "malnu_lock"))
    if "purpose" in live_cols and "purpose" not in _columns(st, "main", "malnu_lock"):
        st.execute(q.ADD_LOCK_PURPOSE)
    return ", ".join(c for c in _columns(st, "main", "malnu_lock") if c in live_cols)


def _carry(st: sqlite3.Connection, tables: dict[str, str]) -> None:
    """Replace ``tables`` of the staging copy with the live ones (attached as ``live``). The
    lock row is the live one or none. An audit trail the live database does not have (not
    readable, or empty: a new file in place of one moved aside, a new server) leaves the
    backup's own: the history up to the backup, which `recover` and `log` read."""
    st.execute("BEGIN IMMEDIATE")
    have = table_names(st)
    if "malnu_audit" not in have:
        st.execute(q.CREATE_AUDIT)
    if "malnu_lock" not in have:
        st.execute(q.CREATE_LOCK)
    live_tables = {
        r[0] for r in st.execute("SELECT name FROM live.sqlite_master WHERE type='table'")
    }
    for table in _CARRIED:
        carry = table in tables and table in live_tables
        if carry and table == "malnu_audit":
            carry = st.execute("SELECT 1 FROM live.malnu_audit LIMIT 1").fetchone() is not None
        if carry or table == "malnu_lock":
            st.execute(f"DELETE FROM main.{table}")
        if carry:
            columns = tables[table] if table != "malnu_lock" else _lock_columns(st)
            st.execute(f"INSERT INTO main.{table} ({columns}) SELECT {columns} FROM live.{table}")
    st.execute("COMMIT")
    st.execute("DETACH DATABASE live")
