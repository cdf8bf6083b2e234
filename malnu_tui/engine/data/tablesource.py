"""A table of another target as the import's source (``--from TARGET:TABLE``), read in
keyset-paginated pages: never the whole table in memory, and no OFFSET that slows down."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from malnu_tui.engine.backends.sqlite_sql import quote_ident
from malnu_tui.engine.data.records import RecordChunk, SourceRecord, chunked
from malnu_tui.engine.data.schema import TableSchema, read_schema, sqlite_rows
from malnu_tui.engine.errors import BackendError, ConfigError

if TYPE_CHECKING:
    from malnu_tui.engine.backends.base import Backend

PAGE_ROWS = 2000


def as_text(value: object) -> str | None:
    """A database value as the text a CSV would hold (NULL stays None)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


class TableSource:
    """Rows of ``table`` on ``backend`` as source records (``line`` = row number + 1, as if
    the table were a CSV file with a header)."""

    kind = "table"

    def __init__(self, backend: Backend, table: str, *, label: str = "") -> None:
        self.backend = backend
        self.table = table
        self.schema: TableSchema = read_schema(backend, table)
        self.header: tuple[str, ...] = self.schema.names
        self.description = f"table {table} of {label or backend.display_url}"
        self.format = None
        self.counts: tuple[int | None, int | None] = (None, None)  # (before, after) reading
        if backend.kind != "postgresql" and not self.schema.rowid and not self.schema.primary_key:
            raise ConfigError(f"table {table!r} has neither rowid nor primary key to page by")

    def _pages(self) -> Iterator[list[tuple[Any, ...]]]:
        t = quote_ident(self.table)
        cols = ", ".join(quote_ident(c) for c in self.header)
        if self.backend.kind == "postgresql":
            yield from self._pg_pages(cols)
            return
        if self.schema.rowid:
            last: int | None = None
            while True:
                where = "" if last is None else f"WHERE rowid > {int(last)} "
                rows = sqlite_rows(
                    self.backend,
                    f"SELECT rowid, {cols} FROM {t} {where}ORDER BY rowid LIMIT {PAGE_ROWS}",
                )
                if not rows:
                    return
                last = int(rows[-1][0])
                yield [r[1:] for r in rows]
        else:
            keys = self.schema.primary_key
            idx = [self.header.index(k) for k in keys]
            order = ", ".join(quote_ident(k) for k in keys)
            after: tuple[Any, ...] | None = None
            while True:
                where, params = "", ()
                if after is not None:
                    where = f"WHERE ({order}) > ({', '.join('?' for _ in keys)}) "
                    params = after
                rows = sqlite_rows(
                    self.backend,
                    f"SELECT {cols} FROM {t} {where}ORDER BY {order} LIMIT {PAGE_ROWS}",
                    params,
                )
                if not rows:
                    return
                after = tuple(rows[-1][i] for i in idx)
                yield rows

    def _pg_pages(self, cols: str) -> Iterator[list[tuple[Any, ...]]]:
        import psycopg

        conn = self.backend.conn  # type: ignore[attr-defined]
        keys = self.schema.primary_key
        # Run with parameters (an empty tuple too), so a "%" in a quoted name is doubled:
        # psycopg would read it as a placeholder's (see backends.pg_sql.with_params).
        cols = cols.replace("%", "%%")
        t = quote_ident(self.table).replace("%", "%%")
        if keys:
            order = ", ".join(quote_ident(k) for k in keys).replace("%", "%%")
            idx = [self.header.index(k) for k in keys]
        else:
            order, idx = "ctid", []
        after: tuple[Any, ...] | None = None
        while True:
            if keys:
                where = f"WHERE ({order}) > ({', '.join('%s' for _ in keys)}) " if after else ""
                query = f"SELECT {cols} FROM {t} {where}ORDER BY {order} LIMIT {PAGE_ROWS}"
            else:
                # ORDER BY the table's ctid, qualified: a bare "ctid" names the output column
                # ctid::text, and text order ('(0,1)', '(0,10)', … '(0,2)') skipped rows.
                where = f"WHERE {t}.ctid > %s::tid " if after else ""
                query = (
                    f"SELECT ctid::text, {cols} FROM {t} {where}ORDER BY {t}.ctid LIMIT {PAGE_ROWS}"
                )
            try:
                rows = conn.execute(query, after or ()).fetchall()
            except psycopg.Error as exc:
                raise BackendError(f"{self.description}: {exc}".strip()) from None
            if not rows:
                return
            if keys:
                after = tuple(rows[-1][i] for i in idx)
                yield [tuple(r) for r in rows]
            else:
                after = (rows[-1][0],)
                yield [tuple(r[1:]) for r in rows]

    def records(self) -> Iterator[SourceRecord]:
        """The rows in pages; the table is counted before the first and after the last, so
        that :meth:`unread` can tell rows the pages missed."""
        self.counts = (self.backend.row_count(self.table), None)
        line = 1
        for page in self._pages():
            for r in page:
                line += 1
                fields = tuple(as_text(v) for v in r)
                buf = io.StringIO()
                csv.writer(buf, lineterminator="\n").writerow(
                    ["" if f is None else f for f in fields]
                )
                yield SourceRecord(line, fields, buf.getvalue())
        self.counts = (self.counts[0], self.backend.row_count(self.table))

    def unread(self, read: int) -> str | None:
        """Why ``read`` rows, all the pages gave, are not the whole table: its count, the same
        before and after the reading, is another (None when it balances, or when the table
        changed meanwhile: a live table is read as it goes)."""
        before, after = self.counts
        if before is None or before != after or read == before:
            return None
        return f"read {read} row(s) of the source table's {before}"

    def chunks(self, size: int) -> Iterator[RecordChunk]:
        return chunked(self.records(), size)
