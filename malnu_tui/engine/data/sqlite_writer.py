"""The SQLite table writer: one ``BEGIN IMMEDIATE`` transaction, ``executemany`` per chunk."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Sequence
from itertools import islice
from typing import TYPE_CHECKING

from malnu_tui.engine.backends import sqlite_sql as q
from malnu_tui.engine.backends.sqlite_sql import quote_ident
from malnu_tui.engine.data.errors import DirectRefused
from malnu_tui.engine.data.flatblock import FlatRows
from malnu_tui.engine.data.keyrepeats import (
    ScratchKeys,
    held_keys,
    taken_reason,
    unique_columns,
)
from malnu_tui.engine.data.rows import Rejection, RowBatch
from malnu_tui.engine.data.spec import (
    TRIGGERS_SQL,
    WriteOutcome,
    WriteSpec,
    constraint_column,
    counts_from,
    ignoring_triggers,
)
from malnu_tui.engine.data.sqlwrite import upsert_sql
from malnu_tui.engine.data.transform import Value
from malnu_tui.engine.errors import BackendError

if TYPE_CHECKING:
    from malnu_tui.engine.backends.base import AuditEntry
    from malnu_tui.engine.backends.sqlite import SQLiteBackend

# Errors that belong to one row (a constraint, a type SQLite refuses): that row is rejected.
ROW_ERRORS = (sqlite3.IntegrityError, sqlite3.DataError)
MULTI_ROWS = 200  # rows per INSERT statement for a clean block


class SQLiteWriter:
    """Writes rows into one table of a SQLite file inside one transaction. ``direct``: a plain
    insert keeps no values until the table refuses one of a watched UNIQUE constraint (its
    primary key, ``users.email``: :attr:`WriteSpec.uniques`); then it raises
    :class:`DirectRefused` and the import starts over keeping them, to name the line that
    holds the value first (keeping them cost a clean import a quarter of its time)."""

    def __init__(self, backend: SQLiteBackend, spec: WriteSpec, *, direct: bool = False) -> None:
        self.backend = backend
        self.conn = backend.conn
        self.spec = spec
        self.sql = upsert_sql(spec.table, spec.columns, spec.key, spec.on_conflict)
        self._count_sql = f"SELECT count(*) FROM {quote_ident(spec.table)}"
        self._multi: dict[int, str] = {}
        self._temp_store: int | None = None
        self._max_params = self.conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        self.before = 0
        self.accepted = 0
        self.changes = 0
        self._open = False
        # A value repeated within the import is refused by line (:mod:`.keyrepeats`), kept
        # in a scratch file of its own: this unit's temp tables are in memory (below).
        plain = direct and not spec.key
        self._watch = [set(u.columns) for u in spec.uniques] if plain else []
        self._seen: ScratchKeys | None = None
        self._track = bool(spec.uniques) and not plain

    def _temp_in_memory(self, on: bool) -> None:
        """Each chunk's savepoint keeps a statement journal; in a temp file that doubled the
        pages written (every page of the chunk twice). In memory it is a chunk's pages at most.
        Set outside the transaction, restored after it."""
        if on:
            self._temp_store = int(self.conn.execute("PRAGMA temp_store").fetchone()[0])
            if self._temp_store != 2:
                self.conn.execute("PRAGMA temp_store = MEMORY")
        elif self._temp_store is not None and self._temp_store != 2:
            with contextlib.suppress(sqlite3.Error):
                self.conn.execute(f"PRAGMA temp_store = {int(self._temp_store)}")
            self._temp_store = None

    def begin(self) -> int:
        self._temp_in_memory(True)
        try:
            # Busy under our own migration lock is another connection (the application), not
            # an operator: said as such (it named this very session as "another operator").
            self.backend._begin()
        except BaseException:
            self._temp_in_memory(False)
            raise
        self._open = True
        self.before = int(self.conn.execute(self._count_sql).fetchone()[0])
        if self._track:
            self._close_seen()
            held = None
            if self.spec.others_among_new:
                per = min(500, self._max_params // (1 + len(self.spec.key)))
                held = held_keys(self.spec, self._selects, rows=per)
            self._seen = ScratchKeys(self.spec, held)
        return self.before

    def _selects(
        self, statements: list[tuple[str, list[object]]]
    ) -> list[Sequence[Sequence[object]]]:
        return [self.conn.execute(sql, params).fetchall() for sql, params in statements]

    def _close_seen(self) -> None:
        if self._seen is not None:
            self._seen.close()
            self._seen = None

    def _many(self, values: Sequence[tuple[Value, ...]]) -> int:
        """executemany; a clean block (FlatRows) goes several rows per statement, its flat
        list cut into statements' parameters in C. Returns the database's change count."""
        width = len(self.spec.columns)
        if not isinstance(values, FlatRows) or values.width != width:
            return max(self.conn.executemany(self.sql, values).rowcount, 0)
        per = max(1, min(MULTI_ROWS, self._max_params // width))
        flat, n = values.flat, len(values)
        whole = n - n % per
        changes = 0
        if whole:
            sql = self._multi.get(per)
            if sql is None:
                spec = self.spec
                sql = upsert_sql(spec.table, spec.columns, spec.key, spec.on_conflict, rows=per)
                self._multi[per] = sql
            params = zip(*[islice(flat, whole * width)] * (per * width), strict=False)
            changes += max(self.conn.executemany(sql, params).rowcount, 0)
        if whole < n:
            rest = FlatRows(flat[whole * width :], width)
            changes += max(self.conn.executemany(self.sql, iter(rest)).rowcount, 0)
        return changes

    def _failed(self, exc: sqlite3.Error) -> BackendError:
        """A refusal of the unit itself (a full disk, an I/O error), not of a row: the caller
        rolls the import back, so nothing of it is written."""
        path = self.backend.path
        hint = None
        if (exc.sqlite_errorcode or 0) & 0xFF in (sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR):
            hint = (
                f"the disk holding {path.parent} (or this user's quota) may be full: free space "
                "there, then run the import again"
            )
        return BackendError(
            f"{path}: {exc}; the import was rolled back, no row of it was written", hint=hint
        )

    def write(self, rows: RowBatch) -> list[Rejection]:
        try:
            return self._write(rows)
        except ROW_ERRORS:
            raise
        except sqlite3.Error as exc:
            raise self._failed(exc) from None

    def _write(self, rows: RowBatch) -> list[Rejection]:
        if not rows:
            return []
        repeats = self._seen.repeats(rows) if self._seen is not None else []
        if repeats:  # the rest goes on as it would have
            again = {r.line for r in repeats}
            rows = RowBatch.of([r for r in rows.rows() if r.line not in again])
        c = self.conn
        c.execute("SAVEPOINT malnu_chunk")
        try:
            changes = self._many(rows.values)
        except ROW_ERRORS:
            c.execute("ROLLBACK TO malnu_chunk")
        else:
            c.execute("RELEASE malnu_chunk")
            self.accepted += len(rows)
            self.changes += changes
            return repeats
        # A chunk with a bad row: replay it row by row to name the row(s).
        rejected: list[Rejection] = repeats
        for r in rows.rows():
            try:
                cur = c.execute(self.sql, r.values)
            except ROW_ERRORS as exc:
                text = str(exc)
                if set(unique_columns(text, self.spec.table)) in self._watch:
                    raise DirectRefused(text) from None  # on an earlier line? start over
                reason = taken_reason(self.spec, text, r.values)
                rejected.append(
                    Rejection(r.line, constraint_column(text, self.spec.table), reason, r.raw)
                )
                continue
            self.accepted += 1
            self.changes += max(cur.rowcount, 0)
        c.execute("RELEASE malnu_chunk")
        return sorted(rejected, key=lambda r: r.line)

    def finish(self, max_rejections: int | None = None) -> WriteOutcome:
        try:
            after = int(self.conn.execute(self._count_sql).fetchone()[0])
            ignored_by: tuple[str, ...] = ()
            if self.changes < self.accepted:  # not written, not refused: a trigger's?
                rows = self.conn.execute(TRIGGERS_SQL, (self.spec.table,)).fetchall()
                ignored_by = ignoring_triggers(rows)
        except sqlite3.Error as exc:
            raise self._failed(exc) from None
        inserted, updated, skipped = counts_from(
            self.spec.on_conflict, self.accepted, self.changes, after - self.before
        )
        return WriteOutcome(
            inserted, updated, skipped, (), self.before, after, self.accepted, ignored_by
        )

    def commit(self, audit: AuditEntry | None) -> None:
        self.backend.keep_lock()  # nothing commits once our lock was released (`unlock`)
        try:
            if audit is not None:
                e = audit
                self.conn.execute(
                    q.INSERT_AUDIT, (e.at, e.actor, e.action, e.object, e.outcome, e.detail)
                )
            self.conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise self._failed(exc) from None
        self._open = False
        self._temp_in_memory(False)
        self._close_seen()

    def stop(self) -> None:
        """Nothing to end: the unit holds the write lock from its BEGIN IMMEDIATE, so no
        write of it waits on another session."""

    def rollback(self) -> None:
        if self._open:
            with contextlib.suppress(sqlite3.Error):
                self.conn.execute("ROLLBACK")
            self._open = False
        self._temp_in_memory(False)
        self._close_seen()
