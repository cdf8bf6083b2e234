"""The PostgreSQL table writer: COPY into a temp table, then one INSERT … SELECT … ON CONFLICT.

The temp table holds text (so COPY never fails on a value); the INSERT casts to the column's
declared type (read from the catalog). When that INSERT fails, the range is split in halves
under savepoints until the refused rows are named; a clean import is one statement.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql

from malnu_tui.engine.backends.base import AUDIT_TABLE
from malnu_tui.engine.data.rows import Rejection, Row
from malnu_tui.engine.data.writers import WriteOutcome, WriteSpec, counts_from
from malnu_tui.engine.errors import BackendError, LockHeld

if TYPE_CHECKING:
    from malnu_tui.engine.backends.base import AuditEntry
    from malnu_tui.engine.backends.postgresql import PostgresBackend

TEMP = "malnu_import_rows"
# SQLSTATE classes that belong to a row: data exceptions, integrity violations, and
# "ON CONFLICT DO UPDATE command cannot affect row a second time" (a key twice in the input).
ROW_STATES = ("21", "22", "23")


def _reason(exc: psycopg.Error) -> str:
    d = exc.diag
    text = d.message_primary or str(exc).strip()
    if d.message_detail:
        text += f" ({d.message_detail})"
    return text


class PostgresWriter:
    """Writes rows into one table of a PostgreSQL database inside one transaction."""

    def __init__(self, backend: PostgresBackend, spec: WriteSpec) -> None:
        self.backend = backend
        self.conn: psycopg.Connection[tuple[Any, ...]] = backend.conn
        self.spec = spec
        self.n = 0
        self.before = 0
        self._open = False
        self._copy_cm: Any = None
        self._copy: Any = None
        self._cursor: Any = None

    def _table(self) -> sql.Composed:
        schema = self.conn.execute("SELECT current_schema()").fetchone()
        assert schema is not None
        return sql.SQL("{}.{}").format(
            sql.Identifier(str(schema[0])), sql.Identifier(self.spec.table)
        )

    def _fail(self, exc: psycopg.Error) -> BackendError:
        return BackendError(f"{self.backend.display_url}: {_reason(exc)}")

    def begin(self) -> int:
        t = self._table()
        self._t = t
        try:
            self.conn.execute("BEGIN")
            self._open = True
            # Other writers wait (readers do not): the count check must mean something.
            self.conn.execute(sql.SQL("LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE").format(t))
            row = self.conn.execute(sql.SQL("SELECT count(*) FROM {}").format(t)).fetchone()
            self.before = int(row[0]) if row else 0
            cols = [sql.SQL("_n bigint"), sql.SQL("_line bigint")] + [
                sql.SQL("{} text").format(sql.Identifier(f"v{i}"))
                for i in range(len(self.spec.columns))
            ]
            self.conn.execute(
                sql.SQL("CREATE TEMP TABLE {} ({}) ON COMMIT DROP").format(
                    sql.Identifier(TEMP), sql.SQL(", ").join(cols)
                )
            )
            names = [sql.Identifier("_n"), sql.Identifier("_line")] + [
                sql.Identifier(f"v{i}") for i in range(len(self.spec.columns))
            ]
            self._cursor = self.conn.cursor()
            self._copy_cm = self._cursor.copy(
                sql.SQL("COPY {} ({}) FROM STDIN").format(
                    sql.Identifier(TEMP), sql.SQL(", ").join(names)
                )
            )
            self._copy = self._copy_cm.__enter__()
        except psycopg.errors.LockNotAvailable:
            self.rollback()
            raise LockHeld(None, f"table {self.spec.table} is locked by another session") from None
        except psycopg.Error as exc:
            self.rollback()
            raise self._fail(exc) from None
        return self.before

    def write(self, rows: Sequence[Row]) -> list[Rejection]:
        write_row = self._copy.write_row
        n = self.n
        try:
            for r in rows:
                n += 1
                write_row((n, r.line, *r.values))
        except psycopg.Error as exc:
            raise self._fail(exc) from None
        self.n = n
        return []

    def _insert(self) -> sql.Composed:
        casts = []
        for i, declared in enumerate(self.spec.declared_types()):
            v = sql.Identifier(f"v{i}")
            # The type's name comes from the catalog (format_type), never from the input.
            casts.append(sql.SQL("{}::{}").format(v, sql.SQL(declared)) if declared else v)
        return sql.SQL(
            "WITH ins AS (INSERT INTO {t} ({cols}) SELECT {vals} FROM {tmp} "
            "WHERE _n BETWEEN %s AND %s ORDER BY _n{conflict} RETURNING (xmax = 0) AS fresh) "
            "SELECT count(*) FILTER (WHERE fresh), count(*) FILTER (WHERE NOT fresh) FROM ins"
        ).format(
            t=self._t,
            cols=sql.SQL(self.spec.column_list()),
            vals=sql.SQL(", ").join(casts),
            tmp=sql.Identifier(TEMP),
            conflict=sql.SQL(self.spec.conflict_clause()),
        )

    def finish(self, max_rejections: int | None = None) -> WriteOutcome:
        try:
            if self._copy_cm is not None:
                cm, self._copy_cm = self._copy_cm, None
                cm.__exit__(None, None, None)
            insert = self._insert()
            rejections: list[Rejection] = []
            inserted = changes = 0
            ranges = [(1, self.n)] if self.n else []
            while ranges:
                lo, hi = ranges.pop()
                self.conn.execute("SAVEPOINT malnu_range")
                try:
                    row = self.conn.execute(insert, (lo, hi)).fetchone()
                except psycopg.Error as exc:
                    if (exc.sqlstate or "")[:2] not in ROW_STATES:
                        raise
                    self.conn.execute("ROLLBACK TO SAVEPOINT malnu_range")
                    if lo == hi:
                        rejections.append(self._rejection(lo, exc))
                        if max_rejections is not None and len(rejections) > max_rejections:
                            break
                    else:
                        mid = (lo + hi) // 2
                        ranges += [(mid + 1, hi), (lo, mid)]  # the first half first: file order
                    continue
                self.conn.execute("RELEASE SAVEPOINT malnu_range")
                assert row is not None
                inserted += int(row[0])
                changes += int(row[0]) + int(row[1])
            accepted = self.n - len(rejections)
            count = self.conn.execute(sql.SQL("SELECT count(*) FROM {}").format(self._t)).fetchone()
            after = int(count[0]) if count else 0
        except psycopg.Error as exc:
            raise self._fail(exc) from None
        ins, upd, skip = counts_from(self.spec.on_conflict, accepted, changes, inserted)
        return WriteOutcome(ins, upd, skip, tuple(rejections), self.before, after, accepted)

    def _rejection(self, n: int, exc: psycopg.Error) -> Rejection:
        row = self.conn.execute(
            sql.SQL("SELECT _line FROM {} WHERE _n = %s").format(sql.Identifier(TEMP)), (n,)
        ).fetchone()
        column = exc.diag.column_name or ""
        return Rejection(int(row[0]) if row else 0, column, _reason(exc), "")

    def commit(self, audit: AuditEntry | None) -> None:
        try:
            if audit is not None:
                e = audit
                self.conn.execute(
                    sql.SQL(
                        "INSERT INTO {}.{} (at, actor, action, object, outcome, detail) "
                        "VALUES (%s::timestamp, %s, %s, %s, %s, %s)"
                    ).format(sql.Identifier(self.backend.schema), sql.Identifier(AUDIT_TABLE)),
                    (e.at, e.actor, e.action, e.object, e.outcome, e.detail),
                )
            self.conn.execute("COMMIT")
            self._open = False
        except psycopg.Error as exc:
            self.rollback()
            raise self._fail(exc) from None

    def rollback(self) -> None:
        if self._copy_cm is not None:
            cm, self._copy_cm = self._copy_cm, None
            with contextlib.suppress(Exception):
                cm.__exit__(RuntimeError, RuntimeError("import abandoned"), None)
        if self._open:
            with contextlib.suppress(psycopg.Error):
                self.conn.execute("ROLLBACK")
            self._open = False
