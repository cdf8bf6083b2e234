"""The PostgreSQL table writer: COPY into a temp table, then one INSERT … SELECT … ON CONFLICT.

The temp table holds text (so COPY never fails on a value); the INSERT casts to the column's
declared type (read from the catalog). When that INSERT fails, the range is split in halves
under savepoints until the refused rows are named; a clean import is one statement.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql

from malnu_tui.engine.backends.base import AUDIT_TABLE
from malnu_tui.engine.data.rows import Rejection, RowBatch
from malnu_tui.engine.data.spec import WriteOutcome, WriteSpec, counts_from
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


def _copy_text(rows: RowBatch, width: int) -> str | None:
    """COPY's text format for a chunk made in C (joins, no Python call per row), when every
    value is text needing no escape (no NULL, tab, newline or backslash); else None."""
    try:
        lines = list(map("\t".join, rows.values))  # type: ignore[arg-type]
    except TypeError:
        return None  # NULL or a number: psycopg's write_row encodes those
    body = "\n".join(lines)
    if body.count("\t") != len(lines) * (width - 1) or any(c in body for c in "\r\\"):
        return None
    if "\n" in body and body.count("\n") != len(lines) - 1:
        return None
    return "".join(map("{}\t{}\n".format, rows.lines, lines))


class PostgresWriter:
    """Writes rows into one table of a PostgreSQL database inside one transaction."""

    def __init__(self, backend: PostgresBackend, spec: WriteSpec) -> None:
        self.backend = backend
        self.conn: psycopg.Connection[tuple[Any, ...]] = backend.conn
        self.spec = spec
        self.n = 0
        self.last_line = 0
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
            self._temp_buffers()
            cols = [sql.SQL("_line bigint")] + [
                sql.SQL("{} text").format(sql.Identifier(f"v{i}"))
                for i in range(len(self.spec.columns))
            ]
            self.conn.execute(
                sql.SQL("CREATE TEMP TABLE {} ({}) ON COMMIT DROP").format(
                    sql.Identifier(TEMP), sql.SQL(", ").join(cols)
                )
            )
            names = [sql.Identifier("_line")] + [
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

    def _temp_buffers(self) -> None:
        """More memory for the temp table than the default 8 MB, so a large import is not
        written to disk twice; allowed only before the session's first temp table."""
        self.conn.execute("SAVEPOINT malnu_temp_buffers")
        try:
            self.conn.execute("SET LOCAL temp_buffers = '256MB'")
        except psycopg.Error:
            self.conn.execute("ROLLBACK TO SAVEPOINT malnu_temp_buffers")
        self.conn.execute("RELEASE SAVEPOINT malnu_temp_buffers")

    def write(self, rows: RowBatch) -> list[Rejection]:
        if not len(rows):
            return []
        try:
            text = _copy_text(rows, len(self.spec.columns))
            if text is not None:
                self._copy.write(text)
            else:
                write_row = self._copy.write_row  # psycopg's encoder: NULL, escapes, types
                for row in zip(rows.lines, *zip(*rows.values, strict=True), strict=True):
                    write_row(row)
        except psycopg.Error as exc:
            raise self._fail(exc) from None
        self.n += len(rows)
        self.last_line = rows.lines[-1]
        return []

    def _insert(self) -> sql.Composed:
        casts = []
        for i, declared in enumerate(self.spec.declared_types()):
            v = sql.Identifier(f"v{i}")
            # The type's name comes from the catalog (format_type), never from the input.
            casts.append(sql.SQL("{}::{}").format(v, sql.SQL(declared)) if declared else v)
        if self.spec.on_conflict == "error":
            # Every row sent is an insert or an error: the row count says it all.
            query = (
                "INSERT INTO {t} ({cols}) SELECT {vals} FROM {tmp} WHERE _line BETWEEN %s AND %s"
            )
        else:
            # File order decides when a key repeats; xmax = 0 tells an insert from an update.
            query = (
                "WITH ins AS (INSERT INTO {t} ({cols}) SELECT {vals} FROM {tmp} "
                "WHERE _line BETWEEN %s AND %s ORDER BY _line{conflict} "
                "RETURNING (xmax = 0) AS fresh) "
                "SELECT count(*) FILTER (WHERE fresh), count(*) FILTER (WHERE NOT fresh) FROM ins"
            )
        return sql.SQL(query).format(
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
            ranges = [(0, self.last_line)] if self.n else []
            while ranges:
                lo, hi = ranges.pop()
                self.conn.execute("SAVEPOINT malnu_range")
                try:
                    cur = self.conn.execute(insert, (lo, hi))
                except psycopg.Error as exc:
                    if (exc.sqlstate or "")[:2] not in ROW_STATES:
                        raise
                    self.conn.execute("ROLLBACK TO SAVEPOINT malnu_range")
                    lines = self._lines_between(lo, hi)
                    if lines[0] == lines[1]:
                        rejections.append(
                            Rejection(lines[0], exc.diag.column_name or "", _reason(exc), "")
                        )
                        if max_rejections is not None and len(rejections) > max_rejections:
                            break
                    else:
                        mid = lines[2]
                        ranges += [(mid + 1, hi), (lo, mid)]  # the first half first: file order
                    continue
                self.conn.execute("RELEASE SAVEPOINT malnu_range")
                if self.spec.on_conflict == "error":
                    inserted += cur.rowcount
                    changes += cur.rowcount
                else:
                    row = cur.fetchone()
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

    def _lines_between(self, lo: int, hi: int) -> tuple[int, int, int]:
        """First, last and median source line of the staged rows in [lo, hi]."""
        tmp = sql.Identifier(TEMP)
        first_last = self.conn.execute(
            sql.SQL(
                "SELECT min(_line), max(_line), count(*) FROM {} WHERE _line BETWEEN %s AND %s"
            ).format(tmp),
            (lo, hi),
        ).fetchone()
        assert first_last is not None
        first, last, count = int(first_last[0]), int(first_last[1]), int(first_last[2])
        mid = self.conn.execute(
            sql.SQL(
                "SELECT _line FROM {} WHERE _line BETWEEN %s AND %s "
                "ORDER BY _line OFFSET %s LIMIT 1"
            ).format(tmp),
            (lo, hi, (count - 1) // 2),
        ).fetchone()
        assert mid is not None
        return first, last, int(mid[0])

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
