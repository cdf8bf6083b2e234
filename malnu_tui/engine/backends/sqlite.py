"""Local SQLite files: the embedded default, and D1's dialect for development."""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from malnu_tui.engine.backends import sqlite_sql as q
from malnu_tui.engine.backends.base import (
    AuditEntry,
    AuditWhere,
    Kind,
    RecordApplied,
    TrackingChange,
    TrackingRecord,
    utc_now,
)
from malnu_tui.engine.backends.lease import lock_is_stale
from malnu_tui.engine.backends.sqlite_open import OTHER_WRITER, disk_hint, open_connection
from malnu_tui.engine.backends.sqlite_sql import truthy
from malnu_tui.engine.errors import (
    BackendError,
    DatabaseBusy,
    GroupCommitFailed,
    LockHeld,
    LockHolder,
    LockLost,
    MalnuError,
    StatementFailed,
)
from malnu_tui.engine.monitor import debuglog
from malnu_tui.engine.observe import current_observer, statement_started
from malnu_tui.engine.urls import sqlite_url

if TYPE_CHECKING:
    from malnu_tui.engine.config import Target
    from malnu_tui.engine.sqlsplit import Statement

BUSY_TIMEOUT_S = 5.0


class SQLiteBackend:
    """A SQLite database file, opened in WAL mode with a busy timeout and foreign keys on."""

    kind: Kind = "sqlite"

    def __init__(
        self,
        path: Path,
        *,
        busy_timeout: float = BUSY_TIMEOUT_S,
        read_only: bool = False,
        live: bool = False,
        fresh_ok: bool = False,
        keep_journal: bool = False,
    ) -> None:
        self.path = Path(path)
        self.display_url = sqlite_url(self.path)
        self.busy_timeout = busy_timeout
        self.name = self.path.stem
        # Read-only (monitoring): opened mode=ro, its journal mode left as it is, and no tool
        # table created (ensure_schema says NotInitialised): a check never writes what it watches.
        self.read_only = read_only = read_only or live
        self._absent: frozenset[str] = frozenset()  # tool tables a read-only open found missing
        self._fresh_ok = fresh_ok  # read-only (a dry run): no tracking table = nothing applied
        self.conn = open_connection(
            self.path, busy_timeout, read_only, live=live, fresh_ok=fresh_ok,
            keep_journal=keep_journal,
        )  # fmt: skip
        self._my_lock: LockHolder | None = None
        self._group = False  # a group of migrations is open (begin_group)
        self._group_units = 0  # migrations run in it so far
        self._renewed = 0.0
        self._schema_ready = False

    # -- plumbing -------------------------------------------------------------------------
    def close(self) -> None:
        # A lock row we could not delete (the database kept busy) is ours: the next run on
        # this host takes it over once this process is gone.
        with contextlib.suppress(sqlite3.Error, MalnuError):
            if self._my_lock is not None:
                self.release_lock()
        self.conn.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE … COMMIT, ROLLBACK on any error); a database
        kept busy by another writer is :class:`LockHeld`. Sync's chunks use it too."""
        self._begin()
        try:
            yield self.conn
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                self.conn.execute("ROLLBACK")
            raise
        try:
            self.conn.execute("COMMIT")
        except sqlite3.Error as exc:  # a full disk, an I/O error
            with contextlib.suppress(sqlite3.Error):
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
            raise BackendError(
                f"{self.path}: COMMIT failed: {exc}", hint=disk_hint(self.path, exc)
            ) from None

    def _begin(self) -> None:
        """BEGIN IMMEDIATE; a database kept busy by another writer is :class:`LockHeld`, or,
        while we hold the migration lock (nobody else's then), :class:`DatabaseBusy` (the
        import's writer, engine/data/sqlite_writer.py, opens its transaction here too)."""
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                if self._my_lock is not None:
                    raise DatabaseBusy(str(self.path), self.busy_timeout) from None
                # The lock row says whether an operator holds it. It is read as it is: through
                # read_lock(), whose ensure_schema() needs this very write lock, a database
                # the tool had never used waited again and again (and blamed an operator).
                holder = self._peek_lock()
                if holder is None:
                    raise DatabaseBusy(
                        str(self.path), self.busy_timeout, doing="before this session could write",
                        hint=OTHER_WRITER,
                    ) from None  # fmt: skip
                raise LockHeld(holder, "the database is busy") from None
            raise BackendError(f"{self.path}: {exc}", hint=disk_hint(self.path, exc)) from None

    def _peek_lock(self, *, strict: bool = False) -> LockHolder | None:
        """The lock row, read without creating anything (None: no row, or no lock table yet;
        any other failure raised with ``strict``, else None: no operator's row to name)."""
        try:
            row = self.conn.execute(q.SELECT_LOCK).fetchone()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return None
            if "no such column" not in str(exc):
                if strict:
                    raise
                return None
            row = self.conn.execute(q.SELECT_LOCK.replace(", purpose", ", ''")).fetchone()
        if row is None:
            return None
        return LockHolder(
            owner=row[0],
            host=row[1],
            pid=int(row[2]),
            acquired_at=row[3],
            expires_at=row[4],
            note=row[5] or "",
            lease_left=row[6],
        )

    def ensure_schema(self) -> None:
        if self._schema_ready:
            return
        have = dict(self.conn.execute(q.SELECT_TOOL_TABLES).fetchall())
        q.refuse_foreign_tracking(have, self.display_url)
        if self.read_only:
            self._absent = q.absent_tool_tables(have, self.display_url, fresh_ok=self._fresh_ok)
        elif todo := q.schema_upgrade(have):
            with self.transaction() as c:
                for statement in todo:
                    c.execute(statement)
        self._schema_ready = True

    # -- tracking ---------------------------------------------------------------------------
    def fetch_records(self) -> list[TrackingRecord]:
        self.ensure_schema()
        if "migrations" in self._absent:
            return []
        rows = self.conn.execute(q.records_sql(self._absent)).fetchall()
        return [
            TrackingRecord(
                filename=r[0],
                checksum=r[1],
                executed_at=r[2],
                execution_time_ms=None if r[3] is None else int(r[3]),
                success=truthy(r[4]),
                error_message=r[5],
            )
            for r in rows
        ]

    def run_unit(
        self,
        filename: str,
        statements: Sequence[Statement],
        change: TrackingChange,
        audit: AuditEntry,
    ) -> int:
        """One migration: its own transaction, or, inside a group (:meth:`begin_group`), a
        savepoint of the group's transaction (none for the group's first migration: the
        group's BEGIN is its own). On failure the database is as before the migration."""
        c = self.conn
        # ``PRAGMA foreign_keys = OFF`` is a no-op inside a transaction: a file that asks for it
        # (sqlite.org's table rebuild) gets it before the BEGIN, and the check after.
        fk_off = None if self._group else q.foreign_keys_off_line(statements)
        if fk_off is not None:
            c.execute("PRAGMA foreign_keys = OFF")
        # A connection setting the file sets (legacy_alter_table, recursive_triggers…) ends
        # with it, as in a shell of its own: the next file starts from the tool's settings.
        saved = q.connection_pragmas(c, statements)
        try:
            return self._run_unit(filename, statements, change, audit, fk_off)
        finally:
            with contextlib.suppress(sqlite3.Error):
                if fk_off is not None:
                    c.execute("PRAGMA foreign_keys = ON")
                q.restore_pragmas(c, saved)

    def _run_unit(
        self,
        filename: str,
        statements: Sequence[Statement],
        change: TrackingChange,
        audit: AuditEntry,
        fk_off: int | None,
    ) -> int:
        c = self.conn
        savepoint = False
        try:
            # In the try: an interrupt right after the BEGIN still rolls it back.
            savepoint = self._open_unit()
            broken = q.foreign_key_violations(c) if fk_off is not None else set()
            started = time.perf_counter()
            if debuglog.enabled() or current_observer() is not None:
                self._run_watched(filename, statements)
            else:
                # The plain path (an ``up`` of many small migrations spends its time here):
                # no per-statement hooks nobody listens to.
                for st in statements:
                    try:
                        q.run_statement(c, st.text)
                    except sqlite3.Error as exc:
                        raise self._failed(filename, st.line, st.text, exc) from None
            elapsed = int((time.perf_counter() - started) * 1000)
            if fk_off is not None:
                q.check_foreign_keys(c, filename, fk_off, broken)
            try:
                self._record(c, change, elapsed, audit)
            except sqlite3.Error as exc:
                if "locked" in str(exc) or "busy" in str(exc):
                    raise
                # (a traceback) Its statements ran; writing its tracking or audit row failed:
                # a file that drops or renames the tool's own tables. All of it rolled back.
                raise BackendError(
                    f"{self.display_url}: {filename} ran, but its tracking row could not be "
                    f"written: {exc}; all of it was rolled back",
                    hint="a migration must not drop or alter the tool's tables (migrations, "
                    "malnu_audit, malnu_lock)",
                ) from None
        except BaseException:
            self._undo_unit(savepoint)
            raise
        self._close_unit(filename, statements, savepoint)
        return elapsed

    def _run_watched(self, filename: str, statements: Sequence[Statement]) -> None:
        """The statements with debug log lines and the console's statement observer."""
        debug = debuglog.enabled()
        c = self.conn
        for i, st in enumerate(statements, 1):
            statement_started(filename, i, len(statements))
            t0 = time.perf_counter()
            try:
                cur = q.run_statement(c, st.text)
            except sqlite3.Error as exc:
                if debug:
                    ms = (time.perf_counter() - t0) * 1000
                    debuglog.statement(self.display_url, filename, st.line, ms, None, str(exc))
                raise self._failed(filename, st.line, st.text, exc) from None
            if debug:
                ms = (time.perf_counter() - t0) * 1000
                debuglog.statement(self.display_url, filename, st.line, ms, cur.rowcount)

    def _failed(
        self, filename: str, line: int, text: str, exc: sqlite3.Error, where: str = ""
    ) -> StatementFailed:
        """The statement's failure, with the disk's hint where a full disk (or SQLite's full
        temporary directory) was the cause: `up` named "the disk where the database lives"."""
        hint = disk_hint(self.path, exc)
        return StatementFailed(filename, line, text, f"{exc}{where}", hint=hint)

    # -- one migration, alone or in a group ---------------------------------------------------
    def _open_unit(self) -> bool:
        """BEGIN IMMEDIATE, or a savepoint inside a group; True when a savepoint was opened."""
        if not self._group:
            self._begin()
            return False
        if not self._group_units:
            return False  # the group's first migration: the group's BEGIN is its own
        self.conn.execute("SAVEPOINT malnu_unit")
        return True

    def _undo_unit(self, savepoint: bool) -> None:
        c = self.conn
        with contextlib.suppress(sqlite3.Error):
            if savepoint and c.in_transaction:
                c.execute("ROLLBACK TO malnu_unit")
                c.execute("RELEASE malnu_unit")
            elif c.in_transaction:
                c.execute("ROLLBACK")
        if not savepoint and not self._group_units:
            self._group = False  # a group of this one migration: nothing is left of it
        # An error SQLite answers by rolling the whole transaction back (disk full, I/O) took
        # the group with it: commit_group() then fails and the engine runs them again.

    def _close_unit(self, filename: str, statements: Sequence[Statement], savepoint: bool) -> None:
        if self._group:
            if savepoint:
                self.conn.execute("RELEASE malnu_unit")
            self._group_units += 1
            return
        self.keep_lock()
        try:
            self.conn.execute("COMMIT")
        except sqlite3.Error as exc:
            # A check SQLite makes only at COMMIT (a deferred foreign key): the migration
            # failed as a whole; nothing of it stays.
            with contextlib.suppress(sqlite3.Error):
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
            line = statements[-1].line if statements else 0
            raise self._failed(filename, line, "COMMIT", exc, " (at COMMIT)") from None

    # -- group commit (engine/grouped.py) -------------------------------------------------
    def begin_group(self) -> None:
        """Open a group: the migrations run until :meth:`commit_group` share one durable
        COMMIT, each in its own savepoint (all of it or none of it stays)."""
        self._begin()
        self._group = True
        self._group_units = 0

    def commit_group(self) -> None:
        """COMMIT the open group (nothing to do when none is open). If the COMMIT fails, the
        whole group is rolled back and :class:`GroupCommitFailed` raised."""
        if not self._group:
            return
        self._group = False
        self._group_units = 0
        c = self.conn
        try:
            if not c.in_transaction:
                raise sqlite3.OperationalError("SQLite rolled the transaction back")
            self.keep_lock()
            c.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                if c.in_transaction:
                    c.execute("ROLLBACK")
            raise GroupCommitFailed(f"{self.path}: the group's COMMIT failed: {exc}") from None

    def keep_lock(self) -> None:
        """Inside a write transaction under the lock (before a COMMIT of migrations, of an
        import, of a sync's chunk): our lock row is still there (its lease renewed on the
        way), or everything is rolled back and :class:`LockLost` raised: nothing commits once
        another session has unlocked us. Without a lock held, nothing to check."""
        me = self._my_lock
        if me is None:
            return
        cur = self.conn.execute(q.RENEW_LOCK, (me.host, me.pid, me.acquired_at))
        if cur.rowcount == 1:
            self._renewed = time.monotonic()
            return
        with contextlib.suppress(sqlite3.Error):
            self.conn.execute("ROLLBACK")
        self._group = False
        self._group_units = 0
        self._my_lock = None  # nothing of ours left to release
        raise LockLost(str(self.path))

    def rollback_group(self) -> None:
        """Roll the open group back (an interrupted run): none of its migrations stays. Also
        ends a transaction an interrupt left open between a BEGIN and its bookkeeping."""
        self._group = False
        self._group_units = 0
        with contextlib.suppress(sqlite3.Error):
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")

    def has_deferred_checks(self) -> bool:
        """Whether the schema holds a constraint checked only at COMMIT (``DEFERRABLE
        INITIALLY DEFERRED``): a group would then check it for all its migrations at once."""
        row = self.conn.execute(q.SELECT_DEFERRED).fetchone()
        return row is not None

    def _record(
        self, c: sqlite3.Connection, change: TrackingChange, elapsed: int, audit: AuditEntry
    ) -> None:
        """The tracking change and the audit row, inside the migration's transaction."""
        if isinstance(change, RecordApplied):
            c.execute(q.UPSERT_SUCCESS, (change.filename, change.checksum, utc_now(), elapsed))
        else:
            c.execute(q.DELETE_RECORD, (change.filename,))
        self._audit(c, audit)

    def record_failure(
        self, filename: str, checksum: str, error: str, elapsed_ms: int, audit: AuditEntry
    ) -> None:
        with self.transaction() as c:
            # Only while the lock is still ours (LockLost): a migration that failed because
            # another session, holding the lock since an `unlock`, applied it meanwhile
            # ("table … already exists") wrote its failure over that session's row.
            self.keep_lock()
            c.execute(q.UPSERT_FAILURE, (filename, checksum, utc_now(), elapsed_ms, error))
            self._audit(c, audit)

    def set_checksum(
        self, filename: str, checksum: str, audit: AuditEntry, rename_to: str | None = None
    ) -> None:
        with self.transaction() as c:
            c.execute(q.UPDATE_CHECKSUM, (checksum, rename_to or filename, filename))
            self._audit(c, audit)

    def delete_record(self, filename: str, audit: AuditEntry) -> None:
        with self.transaction() as c:
            c.execute(q.DELETE_RECORD, (filename,))
            self._audit(c, audit)

    # -- audit ------------------------------------------------------------------------------
    @staticmethod
    def _audit(c: sqlite3.Connection, e: AuditEntry) -> None:
        c.execute(q.INSERT_AUDIT, (e.at, e.actor, e.action, e.object, e.outcome, e.detail))

    def append_audit(self, entry: AuditEntry) -> None:
        self.ensure_schema()
        with self.transaction() as c:
            self._audit(c, entry)

    def read_audit(
        self, limit: int = 200, action: str | None = None, *, where: AuditWhere = ()
    ) -> list[AuditEntry]:
        self.ensure_schema()
        return self.peek_audit(limit, action, where=where)

    def peek_audit(
        self, limit: int = 200, action: str | None = None, *, where: AuditWhere = ()
    ) -> list[AuditEntry]:
        if "malnu_audit" in self._absent or not (
            self._schema_ready or self.conn.execute(q.HAS_AUDIT).fetchone()
        ):
            return []
        sql, params = q.select_audit(limit, action, where)
        rows = self.conn.execute(sql, params).fetchall()
        return [AuditEntry(r[1], r[2], r[3], r[4], r[5], r[6], id=r[0]) for r in rows]

    # -- locking ----------------------------------------------------------------------------
    def read_lock(self) -> LockHolder | None:
        with contextlib.suppress(LockHeld, BackendError):
            self.ensure_schema()  # adds the purpose column to an older lock table
        try:
            return self._peek_lock(strict=True)
        except sqlite3.OperationalError as exc:
            raise BackendError(f"{self.path}: cannot read the lock: {exc}") from None

    def acquire_lock(self, holder: LockHolder) -> None:
        self.ensure_schema()
        current = self.read_lock()
        if current is not None and lock_is_stale(current, holder.host) is None:
            raise LockHeld(current)
        with self.transaction() as c:
            current = self.read_lock()
            stale = lock_is_stale(current, holder.host) if current else None
            if current is not None and stale is None:
                raise LockHeld(current)
            c.execute(
                q.INSERT_LOCK,
                (
                    holder.owner,
                    holder.host,
                    holder.pid,
                    holder.acquired_at,
                    holder.note,
                ),
            )
            if current is not None:
                self._audit(
                    c,
                    AuditEntry.now(
                        "unlock",
                        "migration lock",
                        "ok",
                        f"took over a stale lock of {current.describe()}: {stale}",
                    ),
                )
        self._my_lock = holder
        self._renewed = time.monotonic()

    def renew_lock(self) -> None:
        # Renewing costs a commit: do it once a minute, not after every migration.
        if self._my_lock is None or time.monotonic() - self._renewed < 60:
            return
        self._renewed = time.monotonic()
        with self.transaction() as c:
            me = self._my_lock
            c.execute(q.RENEW_LOCK, (me.host, me.pid, me.acquired_at))

    def release_lock(self) -> None:
        if self._my_lock is None:
            return
        try:
            with self.transaction() as c:
                c.execute(q.RELEASE_LOCK, (self._my_lock.host, self._my_lock.pid))
        except (sqlite3.Error, BackendError, DatabaseBusy) as exc:  # a full disk, a busy app
            raise BackendError(
                f"cannot release the migration lock of {self.path}: {exc}",
                hint="what was reported done is done; the lock row stays: the next run on "
                "this host takes it over once this process is gone (elsewhere: `unlock`)",
            ) from None
        self._my_lock = None

    def force_unlock(self, audit: AuditEntry) -> LockHolder | None:
        self.ensure_schema()
        try:
            with self.transaction() as c:
                current = self.read_lock()
                c.execute(q.FORCE_RELEASE_LOCK)
                self._audit(c, audit)
        except LockHeld:
            # The write lock, not the lock row, stopped it: "another operator holds the
            # migration lock … run `malnu-tui unlock`" to the operator running unlock.
            raise DatabaseBusy(
                str(self.path),
                self.busy_timeout,
                doing="before `unlock` could release the lock row; nothing was released",
                hint="a connection keeps the database's write lock: the application or a "
                "`sqlite3` shell (`fuser` or `lsof` on the file names it), or the lock's holder "
                "itself if it still runs; let it finish, then run `unlock` again",
            ) from None
        return current

    # -- introspection ----------------------------------------------------------------------
    def table_names(self) -> list[str]:
        rows = self.conn.execute(q.SELECT_TABLES).fetchall()
        return [r[0] for r in rows if r[0] not in q.TOOL_TABLES]

    def row_count(self, table: str) -> int:
        if table not in self.table_names() and table not in q.TOOL_TABLES:
            raise BackendError(f"no table {table!r} in {self.display_url}")
        row = self.conn.execute(f"SELECT count(*) FROM {q.quote_ident(table)}").fetchone()
        return int(row[0])

    def schema_fingerprint(self, rule: str = q.NOT_INTERNAL) -> str:
        rows = self.conn.execute(q.select_schema(rule)).fetchall()
        text = "\n".join(f"{r[0]}|{r[1]}|{r[2]}|{' '.join(str(r[3]).split())}" for r in rows)
        return hashlib.sha256(text.encode()).hexdigest()


def open_target(target: Target, **how: bool) -> SQLiteBackend:
    """Open the SQLite file a ``sqlite:`` target names (``how``: read_only, live (an import's
    source, only read, while its application writes), fresh_ok, keep_journal)."""
    from malnu_tui.engine.urls import sqlite_path

    return SQLiteBackend(sqlite_path(target.url), **how)
