"""A table of another target as the import's source (``--from TARGET:TABLE``), read in
keyset-paginated pages (a view, or a PostgreSQL table without a key, through one cursor): never
the whole table in memory, and no OFFSET that slows down. A PostgreSQL source is read in one
snapshot; a SQLite or D1 one in short reads, never holding the legacy application's writers.

Each value is read as the text the source database itself writes for it, which every target
reads back as that value (:mod:`malnu_tui.engine.data.tablevalues`). Pages are sized by their
bytes as well as their rows: a table of photos is read a few rows at a time.
"""

from __future__ import annotations

import contextlib
import csv
import io
import sqlite3
from collections.abc import Generator, Iterator, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from malnu_tui.engine.backends.d1.errors import D1LimitExceeded
from malnu_tui.engine.backends.d1.pieces import settled
from malnu_tui.engine.backends.sqlite_sql import quote_ident
from malnu_tui.engine.data.records import (
    RawDigests,
    RecordChunk,
    SourceRecord,
    chunked,
    raws_again,
)
from malnu_tui.engine.data.schema import TableSchema, read_schema, sqlite_rows
from malnu_tui.engine.data.sqlwrite import D1_MAX_COLUMNS
from malnu_tui.engine.data.tablevalues import (
    NotUtf8,
    as_text,
    pg_types,
    pg_value,
    pieced_list,
    sqlite_value,
    too_big_for_d1,
    whole_blobs,
    why_not_utf8,
)
from malnu_tui.engine.errors import BackendError, ConfigError

if TYPE_CHECKING:
    from malnu_tui.engine.backends.base import Backend

PAGE_ROWS = 2000  # the most rows one page holds
PAGE_BYTES = 4_000_000  # about the most text one page holds (photos, essays: fewer rows)
FIRST_PAGE_ROWS = 10  # before a row's size is known: 10 of D1's largest rows (2 MB, a BLOB
# twice that as hex) stay within its 50 MB answer
CHUNK_BYTES = 8_000_000  # about the most text of one chunk handed to the writer


def _page_size(page: Sequence[tuple[Any, ...]]) -> int:
    """The rows the next page may hold: ``PAGE_BYTES`` over this page's bytes per row."""
    size = sum(len(v) if isinstance(v, (str, bytes)) else 8 for r in page for v in r)
    per_row = max(1, size // max(1, len(page)))
    return max(1, min(PAGE_ROWS, PAGE_BYTES // per_row))


class SourceReadFailed(BackendError):
    """Reading the source table failed (said as the source's, not the destination's)."""

    def rolled_back(self) -> SourceReadFailed:
        """The same failure once the import was open: it said the source's error alone
        ("terminating connection due to administrator command"), not what became of the
        import, which was rolled back."""
        return SourceReadFailed(
            f"{self}; the import was rolled back, no row of it was written", hint=self.hint
        )


class TableSource:
    """Rows of ``table`` on ``backend`` as source records (``line`` = row number + 1, as if
    the table were a CSV file with a header)."""

    kind = "table"

    def __init__(self, backend: Backend, table: str, *, label: str = "") -> None:
        self.backend = backend
        self._not_utf8 = False  # a page held text that is not UTF-8 (see _text)
        if backend.kind == "sqlite":
            # A legacy application's Latin-1 or cp1252 bytes stored as TEXT: sqlite3 refused
            # the whole page ("Could not decode to UTF-8", a traceback). Read as NotUtf8, the
            # row is rejected naming the column and what the bytes say.
            backend.conn.text_factory = self._text  # type: ignore[attr-defined]
        self.table = _in_its_schema(backend, table)
        self.view = self.table not in backend.table_names() and self.table in _views(backend)
        if not self.view and self.table not in backend.table_names():
            _unreadable(backend, self.table)
        self.schema: TableSchema = read_schema(backend, self.table, view=self.view)
        self.header: tuple[str, ...] = self.schema.names
        what = "view" if self.view else "table"
        self.description = f"{what} {table} of {label or backend.display_url}"
        self.format = None
        self.counts: tuple[int | None, int | None] = (None, None)  # (before, after) reading
        self.digests: RawDigests | None = None  # of the last reading's rows (raws())
        if self.view and backend.kind == "d1":
            raise ConfigError(
                f"{table!r} is a view: D1 has no cursor to read a view in pages",
                hint="import from its tables, or CREATE TABLE … AS SELECT the view first",
            )
        keyless = not self.schema.rowid and not self.schema.primary_key
        if backend.kind != "postgresql" and not self.view and keyless:
            raise ConfigError(f"table {table!r} has neither rowid nor primary key to page by")

    def _read_failed(self, exc: Exception) -> BackendError:
        """Reading the source failed (its server ended the session, a view that fails as it
        runs, a damaged legacy file): one line naming the source (the import, when it was
        open, adds that it was rolled back)."""
        diag = getattr(exc, "diag", None)
        text = (diag and diag.message_primary) or str(exc).strip()
        # Ended with its FATAL message (57P01), or, when the session's end outran that
        # message (seen in a whole-suite run of the same pg_terminate_backend), none.
        ended = diag is not None and (
            diag.sqlstate == "57P01"
            or (not diag.sqlstate and "server closed the connection" in text)
        )
        if diag is not None and diag.sqlstate:
            text += f" [SQLSTATE {diag.sqlstate}]"
        return SourceReadFailed(
            f"{self.description}: {text}",
            hint="the source's server ended its session (a restart, a failover, "
            "`pg_terminate_backend`): run the import again once it answers"
            if ended
            else None,
        )

    def _count(self) -> int:
        if not self.view:
            return self.backend.row_count(self.table)
        rows = (
            sqlite_rows(self.backend, f"SELECT count(*) FROM {quote_ident(self.table)}")
            if self.backend.kind != "postgresql"
            else self.backend.conn.execute(  # type: ignore[attr-defined]
                f"SELECT count(*) FROM {quote_ident(self.table)}".replace("%", "%%"), ()
            ).fetchall()
        )
        return int(rows[0][0])

    def _cursor_pages(self, select: str) -> Iterator[list[tuple[Any, ...]]]:
        """The rows of ``select`` through one cursor (a view, or a PostgreSQL table without a
        key, has no key to page by): SQLite's statement, or a PostgreSQL server-side cursor in
        the reading's snapshot, read a page at a time."""
        limit = min(PAGE_ROWS, FIRST_PAGE_ROWS)
        conn: Any = self.backend.conn  # type: ignore[attr-defined]
        if self.backend.kind == "sqlite":
            cur = conn.execute(select)
            while page := [tuple(r) for r in cur.fetchmany(limit)]:
                limit = _page_size(page)
                yield page
            return
        import psycopg

        try:
            with conn.transaction(), conn.cursor(name="malnu_import_rows") as cur:
                cur.execute(select, ())
                while page := [tuple(r) for r in cur.fetchmany(limit)]:
                    limit = _page_size(page)
                    yield page
        except psycopg.Error as exc:
            raise self._read_failed(exc) from None

    def _pages(self) -> Iterator[list[tuple[Any, ...]]]:
        if self.backend.kind == "postgresql":
            yield from self._pg_pages()
            return
        t = quote_ident(self.table)
        cols = ", ".join(sqlite_value(self.backend.kind, c, pieced=False) for c in self.header)
        if self.view:
            yield from self._cursor_pages(f"SELECT {cols} FROM {t}")
            return
        pk = self.schema.primary_key
        alias = (
            pk[0]
            if self.schema.rowid
            and len(pk) == 1
            and (c := self.schema.column(pk[0])) is not None
            and c.declared_type.upper() == "INTEGER"
            else None
        )
        keys: tuple[str, ...]
        if alias is not None:
            # The rowid's own column (INTEGER PRIMARY KEY) among the values: no column read
            # twice (D1 allows 100 result columns, all of a 100-column table).
            keys, order, lead, at = (alias,), quote_ident(alias), 0, self.header.index(alias)
        else:
            # The keys are read as they are stored (the next page starts after them), ahead of
            # the values.
            # The rowid by a name no column of the table shadows (a legacy column "rowid"
            # paged the table by its own values: rows were skipped).
            names = {n.lower() for n in self.header}
            rowid = next((n for n in ("rowid", "_rowid_", "oid") if n not in names), "rowid")
            keys = (rowid,) if self.schema.rowid else pk
            order = rowid if self.schema.rowid else ", ".join(quote_ident(k) for k in keys)
            lead, at = len(keys), 0
        head = "" if alias is not None else f"{order}, "
        # On D1 a BLOB too large for one hex() comes as its size, listed in a last column, and
        # is read in pieces by its row's key (.d1.pieces) — when D1's 100 result columns leave
        # room for that list (else D1 refuses it: too_big_for_d1 names it).
        pieced = self.backend.kind == "d1" and lead + len(self.header) < D1_MAX_COLUMNS
        if pieced:
            cols = ", ".join(sqlite_value("d1", c, pieced=True) for c in self.header)
            cols += f", {pieced_list(self.header)}"
        blobs = partial(whole_blobs, self.backend, self.table, self.header, self.description)
        after: tuple[Any, ...] | None = None
        limit = min(PAGE_ROWS, FIRST_PAGE_ROWS)
        while True:
            where, params = "", ()
            if after is not None:
                where = f"WHERE ({order}) > ({', '.join('?' for _ in keys)}) "
                params = after
            asked = f"SELECT {head}{cols} FROM {t} {where}ORDER BY {order} LIMIT {limit}"
            read = partial(sqlite_rows, self.backend, asked, params)
            # Read again after its pieces: the row may have changed meanwhile (.d1.pieces).
            rows = (
                settled(
                    lambda: (read(), []),  # noqa: B023 (called in this iteration)
                    lambda found, _: blobs(found, keys, order, lead, at),
                    (),
                    self.description,
                    pieced=lambda r: bool(r[-1]),
                )
                if pieced
                else read()
            )
            if not rows:
                return
            # An integer read as its digits on D1: the rowid bound as a number again.
            after = (int(rows[-1][at]),) if lead == 0 else tuple(rows[-1][:lead])
            page = [r[lead:] for r in rows] if lead else rows
            limit = _page_size(page)
            yield page

    def _pg_pages(self) -> Iterator[list[tuple[Any, ...]]]:
        import psycopg

        conn = self.backend.conn  # type: ignore[attr-defined]
        keys = self.schema.primary_key
        types = pg_types(conn, self.table)

        # Run with parameters (an empty tuple too), so a "%" in a quoted name is doubled:
        # psycopg would read it as a placeholder's (see backends.pg_sql.with_params).
        cols = ", ".join(pg_value(c, types) for c in self.header).replace("%", "%%")
        t = quote_ident(self.table).replace("%", "%%")
        if self.view or not keys:
            # A view, or a table without a key: one server-side cursor, in the snapshot the
            # whole reading is in. Pages by ctid skipped rows of a partitioned (or INHERITS)
            # table, whose partitions each have their own (0,1), (0,2)…: a page ending between
            # two equal ctids lost the next ("count check failed", nothing imported).
            yield from self._cursor_pages(f"SELECT {cols} FROM {t}")
            return
        # The keys are read as they are stored (the next page starts after them).
        order = ", ".join(quote_ident(k) for k in keys).replace("%", "%%")
        lead = len(keys)
        marks = ", ".join("%s" for _ in keys)
        after: tuple[Any, ...] | None = None
        limit = min(PAGE_ROWS, FIRST_PAGE_ROWS)
        while True:
            where = f"WHERE ({order}) > ({marks}) " if after else ""
            query = f"SELECT {order}, {cols} FROM {t} {where}ORDER BY {order} LIMIT {limit}"
            try:
                rows = conn.execute(query, after or ()).fetchall()
            except psycopg.Error as exc:
                raise self._read_failed(exc) from None
            if not rows:
                return
            after = tuple(rows[-1][:lead])
            page = [tuple(r[lead:]) for r in rows]
            limit = _page_size(page)
            yield page

    def records(self) -> Generator[SourceRecord, None, None]:
        """The rows in pages; the table is counted before the first and after the last, so
        that :meth:`unread` can tell rows the pages missed. On PostgreSQL all of it is read in
        one snapshot (a REPEATABLE READ, READ ONLY transaction): a live table is read as it
        was when the import began, every row once (an UPDATE during the reading moved rows
        of a table without a key to later pages, read twice, and the count check failed)."""
        import psycopg

        try:
            yield from self._records()
        except D1LimitExceeded as exc:
            key = self.schema.primary_key
            too_big_for_d1(self.backend, self.table, self.header, key, self.description, str(exc))
            raise
        except (sqlite3.Error, psycopg.Error) as exc:
            # A view that fails as it runs (malformed JSON, a missing function), a damaged
            # legacy file: one line naming the source, where it was a traceback.
            if isinstance(exc, psycopg.Error):
                from malnu_tui.engine.backends.pg_refusals import policy_refusal

                conn = self.backend.conn  # type: ignore[attr-defined]
                refused = policy_refusal(self.description, exc, conn, self._view_owner())
                if refused is not None:
                    raise refused from None
            raise self._read_failed(exc) from None

    def _view_owner(self) -> str:
        """The role a PostgreSQL view reads its tables as (its owner; "" for a table)."""
        import psycopg

        if not self.view:
            return ""
        with contextlib.suppress(psycopg.Error):
            row = self.backend.conn.execute(  # type: ignore[attr-defined]
                "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = to_regclass(%s)",
                (quote_ident(self.table),),
            ).fetchone()
            return str(row[0]) if row and row[0] else ""
        return ""

    def _records(self) -> Iterator[SourceRecord]:
        # Of this reading, as it goes: one stopped early (--max-errors) keeps what it read.
        digests = self.digests = RawDigests()
        with self._snapshot():
            before = self._count()
            line = 1
            for page in self._pages():
                bad, self._not_utf8 = self._not_utf8, False
                for r in page:
                    line += 1
                    fields = tuple(as_text(v) for v in r)
                    buf = io.StringIO()
                    csv.writer(buf, lineterminator="\n").writerow(
                        ["" if f is None else f for f in fields]
                    )
                    error = why_not_utf8(self.header, r) if bad else ""
                    digests.add(buf.getvalue())
                    yield SourceRecord(line, fields, buf.getvalue(), error)
            # Set once the whole table was read: a pass that stops early (the preview's
            # samples, the raw text of rows the database refused) left (count, None), which
            # skipped the count check.
            self.counts = (before, self._count())
            digests.close()

    def raws(self, lines: set[int]) -> dict[int, str]:
        """The raw text of ``lines`` (rows the target refused come back as lines alone), read
        again: only of rows whose block reads as on the import's own reading (the legacy
        application wrote meanwhile, a view gave its rows in another order: the rejects file
        gave the next student's row for the refused one)."""
        kept = self.counts, self.digests
        if self.digests is not None:
            self.digests.close()  # a reading stopped early: its last block ends where it did
        try:
            with contextlib.closing(self.records()) as records:
                return raws_again(records, lines, self.digests)
        finally:
            self.counts, self.digests = kept  # the import's reading is the one counted

    def _text(self, data: bytes) -> str:
        """SQLite's TEXT as str; bytes that are not UTF-8 as :class:`NotUtf8` (flagged)."""
        try:
            return data.decode()
        except UnicodeDecodeError:
            self._not_utf8 = True
            return NotUtf8(data)

    @contextlib.contextmanager
    def _snapshot(self) -> Iterator[None]:
        if self.backend.kind != "postgresql":
            yield  # SQLite: short reads, so the legacy application's writers are not held
            return
        from malnu_tui.engine.backends.pg_refusals import every_row

        conn = self.backend.conn  # type: ignore[attr-defined]
        with conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            # Idle between pages while the target writes: not ended by the server's
            # idle_in_transaction_session_timeout (for this transaction only).
            conn.execute("SELECT set_config('idle_in_transaction_session_timeout', '0', true)")
            every_row(conn, local=True)  # every row, or an error: never what a policy shows
            yield

    def unread(self, read: int) -> str | None:
        """Why ``read`` rows, all the pages gave, are not the whole table: its count, the same
        before and after the reading, is another (None when it balances, or when the table
        changed meanwhile: a live table is read as it goes)."""
        before, after = self.counts
        if before is None or before != after or read == before:
            return None
        return f"read {read} row(s) of the source table's {before}"

    def chunks(self, size: int) -> Iterator[RecordChunk]:
        return chunked(self.records(), size, max_bytes=CHUNK_BYTES)


def _views(backend: Backend) -> list[str]:
    """The views of the backend's schema (a PostgreSQL materialized view among them)."""
    if backend.kind != "postgresql":
        return [str(r[0]) for r in sqlite_rows(backend, _SQLITE_VIEWS)]
    rows = backend.conn.execute(_PG_VIEWS).fetchall()  # type: ignore[attr-defined]
    return [str(r[0]) for r in rows]


_SQLITE_VIEWS = "SELECT name FROM sqlite_master WHERE type = 'view' ORDER BY name"
_HERE = "(SELECT oid FROM pg_namespace WHERE nspname = current_schema())"
_PG_VIEWS = (
    f"SELECT c.relname FROM pg_class c WHERE c.relnamespace = {_HERE} "
    "AND c.relkind IN ('v', 'm') ORDER BY c.relname"
)


def _unreadable(backend: Backend, name: str) -> None:
    """A PostgreSQL table or view of the current schema that this role may not read: said so
    (information_schema hides it, and the import said "no table", listing none)."""
    if backend.kind != "postgresql":
        return
    rows = backend.conn.execute(  # type: ignore[attr-defined]
        "SELECT c.relkind, current_user FROM pg_class c WHERE c.relname = %s AND c.relnamespace "
        f"= {_HERE} AND c.relkind IN ('r', 'p', 'v', 'm') AND NOT has_table_privilege(c.oid, "
        "'SELECT')",
        (name,),
    ).fetchall()
    if rows:
        what = "view" if rows[0][0] in ("v", "m") else "table"
        raise ConfigError(
            f"{what} {name!r} of {backend.display_url}: permission denied (role {rows[0][1]!r} "
            "may not SELECT it)",
            hint=f"GRANT SELECT ON {quote_ident(name)} TO {quote_ident(str(rows[0][1]))}, or "
            "connect as a role that may read it",
        )


def _in_its_schema(backend: Backend, name: str) -> str:
    """``legacy.users`` on PostgreSQL, when no relation of the current schema has that name
    and schema ``legacy`` has ``users``: the source's connection (its own, only read) is set
    to look in that schema, and ``users`` is the name. Any other name as it is."""
    if backend.kind != "postgresql" or "." not in name:
        return name
    schema, _, table = name.partition(".")
    conn = backend.conn  # type: ignore[attr-defined]
    here = conn.execute(
        f"SELECT 1 FROM pg_class WHERE relname = %s AND relnamespace = {_HERE}",
        (name,),
    ).fetchall()
    there = conn.execute(
        "SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p', 'v', 'm')",
        (schema, table),
    ).fetchall()
    if here or not there:
        return name
    conn.execute("SELECT set_config('search_path', quote_ident(%s), false)", (schema,))
    return table
