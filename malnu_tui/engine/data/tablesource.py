"""A table of another target as the import's source (``--from TARGET:TABLE``), read in
keyset-paginated pages (a view, or a PostgreSQL table without a key, through one cursor): never
the whole table in memory, and no OFFSET that slows down. A PostgreSQL source is read in one
snapshot; a SQLite or D1 one in short reads, never holding the legacy application's writers.

Each value is read as the text the source database itself writes for it, which every target
reads back as that value: a BLOB or ``bytea`` as PostgreSQL's ``\\x`` hex (a target BLOB column
stores the bytes again), ``json``/``jsonb``, arrays, ranges and intervals in PostgreSQL's own
text (Python's reading of them — ``{'a': 1}``, ``['x']``, ``1 mon`` as 30 days — is no value any
database reads), dates and times in ISO 8601 with ``infinity`` and BC dates as text, and a D1
integer as its digits (D1's JSON rounds one past 2^53). Pages are sized by their bytes as well as
their rows: a table of photos is read a few rows at a time.
"""

from __future__ import annotations

import contextlib
import csv
import io
import sqlite3
from collections.abc import Generator, Iterator, Sequence
from datetime import date, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from malnu_tui.engine.backends.d1.errors import D1LimitExceeded
from malnu_tui.engine.backends.d1.limits import MAX_HEX_BLOB_BYTES, MAX_ROW_BYTES
from malnu_tui.engine.backends.d1.pieces import Cell, read_pieces, settled
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
from malnu_tui.engine.errors import BackendError, ConfigError, RowTooLarge

if TYPE_CHECKING:
    from malnu_tui.engine.backends.base import Backend

PAGE_ROWS = 2000  # the most rows one page holds
PAGE_BYTES = 4_000_000  # about the most text one page holds (photos, essays: fewer rows)
FIRST_PAGE_ROWS = 10  # before a row's size is known: 10 of D1's largest rows (2 MB, a BLOB
# twice that as hex) stay within its 50 MB answer
CHUNK_BYTES = 8_000_000  # about the most text of one chunk handed to the writer

# PostgreSQL types whose values psycopg gives as Python values whose text is the type's own
# (whole numbers, booleans, text, uuid); every other type is read as PostgreSQL's text of it —
# a char(n) too, without the padding PostgreSQL ignores ('AB   ' into a SQLite TEXT column was
# no longer equal to 'AB'), a numeric (Python's Decimal wrote 0.0000000100 as '1.00E-8') and a
# float (Python wrote 123456789 as '123456789.0' and Infinity as 'inf').
_PG_NATIVE = frozenset(
    {"int2", "int4", "int8", "oid", "bool", "text", "varchar", "name", "uuid", "citext"}
)


def as_text(value: object) -> str | None:
    """A database value as the text a CSV would hold (NULL stays None; bytes as ``\\x`` hex,
    PostgreSQL's text of a ``bytea``)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "\\x" + bytes(value).hex()
    return str(value)


class NotUtf8(str):
    """A SQLite TEXT value whose bytes are not UTF-8 (a legacy application's Latin-1 or
    cp1252): shown with U+FFFD where a byte does not decode, the bytes kept."""

    data: bytes

    def __new__(cls, data: bytes) -> NotUtf8:
        text = super().__new__(cls, data.decode("utf-8", "replace"))
        text.data = data
        return text

    def as_cp1252(self) -> str:
        return self.data.decode("cp1252", "replace")


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
        cols = ", ".join(self._sqlite_value(c, pieced=False) for c in self.header)
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
        # room for that list (else D1 refuses it: _too_big_for_d1 names it).
        pieced = self.backend.kind == "d1" and lead + len(self.header) < D1_MAX_COLUMNS
        if pieced:
            cols = ", ".join(self._sqlite_value(c, pieced=True) for c in self.header)
            listed = " || ".join(
                f"CASE WHEN typeof({c}) = 'blob' AND length({c}) > {MAX_HEX_BLOB_BYTES} "
                f"THEN '{i},' ELSE '' END"
                for i, c in enumerate(map(quote_ident, self.header))
            )
            cols += f", nullif({listed}, '')"
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
                    lambda found, _: self._whole_blobs(found, keys, order, lead, at),
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

    def _sqlite_value(self, column: str, *, pieced: bool) -> str:
        """A SQLite or D1 column's value as the import reads it: a BLOB as ``\\x`` hex text
        (D1's JSON has no bytes; ``pieced``: one too large for one hex() as its size, read
        after by :meth:`_whole_blobs`); on D1 an integer as its digits (D1's JSON rounds one
        past 2^53; a local file's are read exactly)."""
        c = quote_ident(column)
        if self.backend.kind != "d1":
            return c  # bytes come as bytes, and as_text spells them
        blob = f"'\\x' || lower(hex({c}))"
        if pieced:
            blob = f"CASE WHEN length({c}) > {MAX_HEX_BLOB_BYTES} THEN length({c}) ELSE {blob} END"
        return (
            f"CASE typeof({c}) WHEN 'blob' THEN {blob} "
            f"WHEN 'integer' THEN CAST({c} AS TEXT) ELSE {c} END"
        )

    def _whole_blobs(
        self, rows: list[tuple[Any, ...]], keys: Sequence[str], order: str, lead: int, at: int
    ) -> list[tuple[Any, ...]]:
        """D1's page ``rows`` without their last column, the list of the values that came as
        their size (``"2,5,"``), those read in pieces by the row's key (``lead`` key columns
        ahead of the values, or the rowid's own column at ``at``) and put in as bytes."""
        out = [list(r[:-1]) for r in rows]
        later: list[tuple[int, int, Cell]] = []
        for n, r in enumerate(rows):
            for digits in str(r[-1] or "").split(",")[:-1]:
                i = int(digits)
                key = tuple(r[:lead]) if lead else (int(r[at]),)
                named = ", ".join(f"{k}={v}" for k, v in zip(keys, key, strict=True))
                where = f"row {named}, column {self.header[i]}"
                cell = Cell(quote_ident(self.header[i]), key, int(r[lead + i]), where)
                later.append((n, lead + i, cell))
        if later:
            where = f"({order}) = ({', '.join('?' for _ in keys)})"
            values = read_pieces(
                lambda sql, params: sqlite_rows(self.backend, sql, params),
                quote_ident(self.table),
                where,
                [c for *_, c in later],
                self.description,
            )
            for (n, i, _), value in zip(later, values, strict=True):
                out[n][i] = value
        return [tuple(r) for r in out]

    def _pg_types(self) -> dict[str, tuple[str, str]]:
        """Each column's base type (a domain's underlying one): name → (typname, category)."""
        conn = self.backend.conn  # type: ignore[attr-defined]
        rows = conn.execute(
            "SELECT a.attname, b.typname, b.typcategory FROM pg_attribute a "
            "JOIN pg_type t ON t.oid = a.atttypid "
            "JOIN pg_type b ON b.oid = CASE t.typtype WHEN 'd' THEN t.typbasetype ELSE t.oid END "
            "WHERE a.attrelid = "
            "(quote_ident(current_schema()) || '.' || quote_ident(%s))::regclass "
            "AND a.attnum > 0 AND NOT a.attisdropped",
            (self.table,),
        ).fetchall()
        return {str(r[0]): (str(r[1]), str(r[2])) for r in rows}

    def _pg_pages(self) -> Iterator[list[tuple[Any, ...]]]:
        import psycopg

        conn = self.backend.conn  # type: ignore[attr-defined]
        keys = self.schema.primary_key
        types = self._pg_types()

        def value(name: str) -> str:
            c = quote_ident(name)
            typname, category = types.get(name, ("text", "S"))
            if typname in _PG_NATIVE:
                return c
            if typname == "bytea":
                return f"'\\x' || encode({c}, 'hex')"
            if category == "D":  # ISO 8601 whatever the DateStyle; infinity, BC as text
                return f"to_json({c}) #>> '{{}}'"
            return f"{c}::text"

        # Run with parameters (an empty tuple too), so a "%" in a quoted name is doubled:
        # psycopg would read it as a placeholder's (see backends.pg_sql.with_params).
        cols = ", ".join(value(c) for c in self.header).replace("%", "%%")
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
            self._too_big_for_d1(str(exc))
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

    def _too_big_for_d1(self, error: str) -> None:
        """D1 read a BLOB as hex, twice its size, and refused it over its 2,000,000 bytes a
        value (``string or blob too big``, naming nothing): the first such value named. One is
        read in pieces (:meth:`_whole_blobs`) unless the table's columns and keys fill D1's 100
        result columns, leaving no room for the list of those values."""
        if "too big" not in error:
            return
        t = quote_ident(self.table)
        keys = self.schema.primary_key or ("rowid",)
        key_list = ", ".join(f"CAST({quote_ident(k)} AS TEXT)" for k in keys)
        for name in self.header:
            c = quote_ident(name)
            try:
                found = sqlite_rows(
                    self.backend,
                    f"SELECT length({c}), {key_list} FROM {t} WHERE typeof({c}) = 'blob' "
                    f"AND length({c}) > {MAX_HEX_BLOB_BYTES} LIMIT 1",
                )
            except BackendError:  # (a view has no rowid): D1's own error stands
                return
            if found:
                key = ", ".join(f"{k}={v}" for k, v in zip(keys, found[0][1:], strict=True))
                raise RowTooLarge(
                    f"{self.description}: row {key}, column {name}: a BLOB of "
                    f"{found[0][0]:,} bytes; D1 gives a BLOB back over its HTTP API as hex, "
                    f"twice its size, and no value over {MAX_ROW_BYTES:,} bytes: an import "
                    f"reads a larger one in pieces, but a table of {len(self.header)} columns "
                    f"leaves no room for them in D1's {D1_MAX_COLUMNS} a result: it can read "
                    f"one of at most {MAX_HEX_BLOB_BYTES:,} bytes",
                    hint="keep such files outside the database (R2, with their address in "
                    "the row), or copy the table with fewer columns first (CREATE TABLE … AS "
                    "SELECT …) and import that",
                ) from None

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
                    error = self._why_not_utf8(r) if bad else ""
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

    def _why_not_utf8(self, row: Sequence[object]) -> str:
        for name, v in zip(self.header, row, strict=False):
            if isinstance(v, NotUtf8):
                return (
                    f"{name}: not UTF-8 text (bytes {v.data[:24].hex()}"
                    f"{'…' if len(v.data) > 24 else ''}; as cp1252: {v.as_cp1252()!r}): fix "
                    "it in the source"
                )
        return ""

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
