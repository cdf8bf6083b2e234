"""Chunk-write SQL in the SQLite dialect, shared by the import's writers and the sync (SQLite and
D1): the upsert statement, and D1's chunking of inlined rows within its per-statement size.

D1 limits: 100 KB per statement, 100 bound parameters per query, 2 MB per row. The statements
built here inline every value as a literal and stay under ``max_bytes`` (90 KB by default, a
margin below 100 KB); a row too large for that goes alone with its largest texts bound, its
BLOBs (and texts holding NUL) too large built piece by piece in a scratch table
(:func:`d1_bound_row`); a batch
request groups statements up to ``REQUEST_BYTES``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Literal, NamedTuple

from malnu_tui.engine.backends.d1.limits import (
    MAX_ROW_BYTES,
    MAX_STATEMENT_BYTES,
    BatchStatement,
    record_bytes,
    sent_bytes,
    value_bytes,
)
from malnu_tui.engine.backends.sqlite_sql import quote_ident, sql_literal

Mode = Literal["error", "update", "skip"]

D1_STATEMENT_BYTES = 90_000  # D1 refuses statements over 100 KB; keep a margin
D1_REQUEST_BYTES = 600_000  # statements per batch request, in bytes
D1_MAX_PARAMS = 100  # bound parameters per query
D1_MAX_COLUMNS = 100  # columns of a table, and of a result (a VALUES of many rows is one)


class RowTooLarge(ValueError):
    """One row alone does not fit in a statement (``index``: its position in the input)."""

    def __init__(self, index: int, size: int, limit: int) -> None:
        super().__init__(f"a row of {size} bytes does not fit in a {limit}-byte statement")
        self.index = index


class RowRefused(ValueError):
    """A row D1 cannot hold even with its texts bound: ``column`` is the index of the value
    named (the largest), ``str()`` says why."""

    def __init__(self, column: int, why: str) -> None:
        super().__init__(why)
        self.column = column


D1_BLOB_PIECE = 44_000  # bytes of a BLOB a statement carries as X'…' (twice that in hex)
BLOB_SCRATCH = "_malnu_tui_blob"  # made, filled and dropped within the row's own batch


class BoundRow(NamedTuple):
    """One large row's statements, to send in ONE batch request, in order: ``build`` (a BLOB
    over a statement made piece by piece in a scratch table), ``row`` (the row's own
    statement: its changes are the row's), ``drop`` (the scratch table dropped)."""

    build: list[BatchStatement]
    row: BatchStatement
    drop: list[BatchStatement]

    def statements(self) -> list[BatchStatement]:
        return [*self.build, self.row, *self.drop]


def _blob_pieces(slot: int, data: bytes) -> list[BatchStatement]:
    """``data`` into row ``slot`` of the scratch table, one statement a piece: each appended
    (``||`` joins the bytes as TEXT, unchanged, NUL and invalid UTF-8 included) and cast back,
    so the stored value is a BLOB of exactly ``data`` (a piece may end inside a character of
    a text's UTF-8: the bytes are joined before the row's statement casts them to TEXT)."""
    t = quote_ident(BLOB_SCRATCH)
    pieces = [data[i : i + D1_BLOB_PIECE] for i in range(0, len(data), D1_BLOB_PIECE)] or [b""]
    out: list[BatchStatement] = [f"INSERT INTO {t} (i, v) VALUES ({slot}, X'{pieces[0].hex()}')"]
    out += [
        f"UPDATE {t} SET v = CAST(v || X'{p.hex()}' AS BLOB) WHERE i = {slot}" for p in pieces[1:]
    ]
    return out


class RawText(bytes):
    """A text that is not UTF-8, kept as its bytes (built as bytes, read back as TEXT)."""


def d1_bound_row(
    head: str,
    values: Sequence[object],
    tail: str = "",
    literal: Callable[[object], str] = sql_literal,
    *,
    bind: bool = True,
) -> BoundRow:
    """``head`` + ``(…)`` + ``tail`` for ONE row too large for a statement of literals, with its
    largest texts bound as parameters until the SQL fits (D1 keeps a row up to 2 MB, a
    statement up to 100 KB: a long essay, a photo kept as a data: URL); its other values stay
    literals (D1's JSON carries no bytes, and rounds integers past 2**53). A BLOB still too
    large (a student's photo, a scanned report), or a text holding NUL (never bound: D1's JSON
    parameters carry no NUL), is built first in a scratch table, piece by piece, and read from
    it by the row's statement (the text cast back to TEXT): all in the same batch, one
    transaction.
    Shared by the import, the sync and the client-side dump (``bind`` False: a dump file is
    SQL only, so every large text is built in the scratch table too). Raises
    :class:`RowRefused` for a row D1 cannot store (2,000,000 bytes as SQLite stores it, its
    header counted), or whose other literals still pass 100 KB."""
    lits = [literal(v) for v in values]
    sizes = [
        len(v.encode()) if isinstance(v, str) else len(t.encode())
        for v, t in zip(values, lits, strict=True)
    ]
    # The row as D1 stores it: a BLOB by its bytes, not its X'…' (a 1.2 MB scan was refused
    # as "a row of 2,400,003 bytes"), the header counted (a text of 1,999,990 bytes passed,
    # and D1 refused the batch: "string or blob too big", naming no row).
    stored = [value_bytes(v) for v in values]
    if (record := record_bytes(values)) >= MAX_ROW_BYTES:
        raise RowRefused(
            max(range(len(values)), key=stored.__getitem__),
            f"a row of {record:,} bytes as D1 stores it; D1 keeps rows under "
            f"{MAX_ROW_BYTES:,} bytes",
        )
    size = len(head.encode()) + len(tail.encode()) + sum(len(t.encode()) + 2 for t in lits)
    texts = [i for i, v in enumerate(values) if bind and isinstance(v, str) and "\x00" not in v]
    bound: set[int] = set()
    for i in sorted(texts, key=lambda i: -sizes[i])[:D1_MAX_PARAMS]:
        if size <= D1_STATEMENT_BYTES:
            break
        bound.add(i)
        size -= len(lits[i].encode()) - 1
    # A BLOB, and a text holding NUL (never bound: D1's JSON parameters carry no NUL; its
    # literal is CAST(X'…' AS TEXT)), are built in the scratch table as bytes, read back as
    # they were: the text cast to TEXT, exactly its characters (its UTF-8, NULs included).
    scratch: dict[int, tuple[bytes, bool]] = {}  # column: (its bytes, read back as TEXT)
    for i, v in enumerate(values):
        if isinstance(v, bytes | bytearray | memoryview):
            scratch[i] = (bytes(v), isinstance(v, RawText))
        elif isinstance(v, str) and ("\x00" in v or not bind):
            scratch[i] = (v.encode(), True)
    build: list[BatchStatement] = []
    for i in sorted(scratch, key=lambda i: -len(lits[i])):
        if size <= D1_STATEMENT_BYTES:
            break
        if not build:
            build.append(f"CREATE TABLE {quote_ident(BLOB_SCRATCH)} (i INTEGER PRIMARY KEY, v)")
        data, text = scratch[i]
        build += _blob_pieces(i, data)
        ref = f"(SELECT v FROM {quote_ident(BLOB_SCRATCH)} WHERE i = {i})"
        ref = f"CAST({ref} AS TEXT)" if text else ref
        size -= len(lits[i].encode()) - len(ref.encode())
        lits[i] = ref
    marks = ", ".join("?" if i in bound else t for i, t in enumerate(lits))
    sql = f"{head}({marks}){tail}"
    if sent_bytes(sql) > MAX_STATEMENT_BYTES:
        at = max((i for i in range(len(values)) if i not in bound), key=sizes.__getitem__)
        raise RowRefused(
            at,
            f"{sizes[at]:,} bytes as a literal, more than D1's {MAX_STATEMENT_BYTES:,} a statement",
        )
    params = [values[i] for i in sorted(bound)]
    row: BatchStatement = (sql, params) if params else sql
    drop: list[BatchStatement] = [f"DROP TABLE {quote_ident(BLOB_SCRATCH)}"] if build else []
    return BoundRow(build, row, drop)


def column_list(columns: Iterable[str]) -> str:
    return ", ".join(quote_ident(c) for c in columns)


def conflict_clause(
    table: str,
    columns: Sequence[str],
    key: Sequence[str],
    mode: Mode,
    *,
    only_changed: Sequence[str] | None = None,
) -> str:
    """``ON CONFLICT (key) DO …`` for an INSERT into ``table`` of ``columns`` ("" for a plain
    INSERT: ``mode`` ``error`` or no key). ``update`` sets every non-key column; with
    ``only_changed`` (columns to compare) a row whose compared columns are all equal is left
    untouched (it counts as no change), compared byte for byte: a column's own collation
    (``COLLATE NOCASE`` on the emails of a table made by migrations, ``RTRIM``) took a change
    of case or of trailing spaces for none, never written. SQLite syntax (PostgreSQL:
    :mod:`.pgcopy`)."""
    if mode == "error" or not key:
        return ""
    keys = column_list(key)
    rest = [c for c in columns if c not in key]
    if mode == "skip" or not rest:
        return f" ON CONFLICT ({keys}) DO NOTHING"
    sets = ", ".join(f"{quote_ident(c)} = excluded.{quote_ident(c)}" for c in rest)
    clause = f" ON CONFLICT ({keys}) DO UPDATE SET {sets}"
    if only_changed:
        t = quote_ident(table)
        changed = " OR ".join(
            f"{t}.{quote_ident(c)} IS NOT excluded.{quote_ident(c)} COLLATE BINARY"
            for c in only_changed
        )
        clause += f" WHERE {changed}"
    return clause


# The import's INSERT: a table's own ``ON CONFLICT REPLACE`` (``nis TEXT UNIQUE ON CONFLICT
# REPLACE``) made a row whose nis another student had delete that student, their grades with
# them by ``ON DELETE CASCADE``, counted as `updated`; the statement's ``OR ABORT`` overrides
# it: such a row is refused by line (``UNIQUE constraint failed``) as on PostgreSQL.
IMPORT_INSERT = "INSERT OR ABORT INTO"


def insert_head(table: str, columns: Sequence[str], verb: str = "INSERT INTO") -> str:
    """``INSERT INTO "t" ("a", "b") VALUES `` (the tuples follow)."""
    return f"{verb} {quote_ident(table)} ({column_list(columns)}) VALUES "


def upsert_sql(
    table: str,
    columns: Sequence[str],
    key: Sequence[str] = (),
    mode: Mode = "error",
    *,
    only_changed: Sequence[str] | None = None,
    rows: int = 1,
) -> str:
    """The import's INSERT (:data:`IMPORT_INSERT`) of ``rows`` rows (``?`` placeholders, row
    after row) with the conflict clause, for ``executemany`` (several rows per statement: fewer
    statement steps per row)."""
    marks = ", ".join(["(" + ", ".join("?" for _ in columns) + ")"] * rows)
    clause = conflict_clause(table, columns, key, mode, only_changed=only_changed)
    return insert_head(table, columns, IMPORT_INSERT) + marks + clause


def sql_tuple(values: Iterable[object]) -> str:
    """``(v1, v2, …)`` as SQLite literals (text quoted, NULL, numbers)."""
    return "(" + ", ".join(map(sql_literal, values)) + ")"


def d1_statements(
    head: str,
    tuples: Sequence[str],
    tail: str = "",
    *,
    max_bytes: int = D1_STATEMENT_BYTES,
    max_rows: int | None = None,
) -> list[str]:
    """``head`` + comma-joined ``tuples`` + ``tail`` as few statements as fit under
    ``max_bytes`` each (UTF-8), and at most ``max_rows`` tuples each. A tuple that cannot fit
    even alone raises :class:`RowTooLarge` with its index."""
    out: list[str] = []
    parts: list[str] = []
    fixed = len(head.encode()) + len(tail.encode())
    size = fixed
    for i, tup in enumerate(tuples):
        n = len(tup.encode()) + 2
        if fixed + n > max_bytes:
            raise RowTooLarge(i, n, max_bytes)
        if parts and (size + n > max_bytes or len(parts) == max_rows):
            out.append(head + ", ".join(parts) + tail)
            parts, size = [], fixed
        parts.append(tup)
        size += n
    if parts:
        out.append(head + ", ".join(parts) + tail)
    return out


def d1_requests(
    statements: Sequence[BatchStatement | list[BatchStatement]],
    max_bytes: int = D1_REQUEST_BYTES,
) -> list[list[BatchStatement]]:
    """Statements grouped into batch requests of at most ``max_bytes`` (a statement larger
    than that goes alone; a bound one counts its texts too). A list of statements (a
    :class:`BoundRow`'s) stays whole in one request: its BLOB is built in a scratch table
    that its last statement drops."""
    out: list[list[BatchStatement]] = []
    batch: list[BatchStatement] = []
    size = 0
    for item in statements:
        group = item if isinstance(item, list) else [item]
        n = 0
        for st in group:
            sql, params = (st, ()) if isinstance(st, str) else st
            n += len(sql.encode()) + sum(len(str(v).encode()) for v in params)
        if batch and size + n > max_bytes:
            out.append(batch)
            batch, size = [], 0
        batch.extend(group)
        size += n
    if batch:
        out.append(batch)
    return out
