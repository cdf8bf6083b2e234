"""Each value of a table read as an import's source (``--from TARGET:TABLE``), as the text the
source database itself writes for it, which every target reads back as that value: a BLOB or
``bytea`` as PostgreSQL's ``\\x`` hex, ``json``/``jsonb``, arrays, ranges, intervals, numerics
and floats in PostgreSQL's own text, dates and times in ISO 8601 (``infinity``, BC dates as
text), a D1 integer as its digits; a D1 BLOB too large for one answer read in pieces by its
row's key, or named where D1's 100 result columns leave no room for that; a SQLite TEXT whose
bytes are not UTF-8 kept, and said. The reading itself (pages, snapshot, counts) is
:mod:`malnu_tui.engine.data.tablesource`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from malnu_tui.engine.backends.d1.limits import MAX_HEX_BLOB_BYTES, MAX_ROW_BYTES
from malnu_tui.engine.backends.d1.pieces import Cell, read_pieces
from malnu_tui.engine.backends.sqlite_sql import quote_ident
from malnu_tui.engine.data.schema import sqlite_rows
from malnu_tui.engine.data.sqlwrite import D1_MAX_COLUMNS
from malnu_tui.engine.errors import BackendError, RowTooLarge

if TYPE_CHECKING:
    from malnu_tui.engine.backends.base import Backend


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


def sqlite_value(kind: str, column: str, *, pieced: bool) -> str:
    """A SQLite or D1 column's value as the import reads it: a BLOB as ``\\x`` hex text
    (D1's JSON has no bytes; ``pieced``: one too large for one hex() as its size, read
    after by :func:`whole_blobs`); on D1 an integer as its digits (D1's JSON rounds one
    past 2^53; a local file's are read exactly)."""
    c = quote_ident(column)
    if kind != "d1":
        return c  # bytes come as bytes, and as_text spells them
    blob = f"'\\x' || lower(hex({c}))"
    if pieced:
        blob = f"CASE WHEN length({c}) > {MAX_HEX_BLOB_BYTES} THEN length({c}) ELSE {blob} END"
    return (
        f"CASE typeof({c}) WHEN 'blob' THEN {blob} "
        f"WHEN 'integer' THEN CAST({c} AS TEXT) ELSE {c} END"
    )


def pieced_list(header: Sequence[str]) -> str:
    """The last column of a D1 page read ``pieced`` (:func:`sqlite_value`): the list of the
    values that came as their size (``"2,5,"``; NULL when none did)."""
    listed = " || ".join(
        f"CASE WHEN typeof({c}) = 'blob' AND length({c}) > {MAX_HEX_BLOB_BYTES} "
        f"THEN '{i},' ELSE '' END"
        for i, c in enumerate(map(quote_ident, header))
    )
    return f"nullif({listed}, '')"


def whole_blobs(
    backend: Backend,
    table: str,
    header: Sequence[str],
    description: str,
    rows: list[tuple[Any, ...]],
    keys: Sequence[str],
    order: str,
    lead: int,
    at: int,
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
            where = f"row {named}, column {header[i]}"
            cell = Cell(quote_ident(header[i]), key, int(r[lead + i]), where)
            later.append((n, lead + i, cell))
    if later:
        where = f"({order}) = ({', '.join('?' for _ in keys)})"
        values = read_pieces(
            lambda sql, params: sqlite_rows(backend, sql, params),
            quote_ident(table),
            where,
            [c for *_, c in later],
            description,
        )
        for (n, i, _), value in zip(later, values, strict=True):
            out[n][i] = value
    return [tuple(r) for r in out]


def pg_types(conn: Any, table: str) -> dict[str, tuple[str, str]]:
    """Each column's base type (a domain's underlying one): name → (typname, category)."""
    rows = conn.execute(
        "SELECT a.attname, b.typname, b.typcategory FROM pg_attribute a "
        "JOIN pg_type t ON t.oid = a.atttypid "
        "JOIN pg_type b ON b.oid = CASE t.typtype WHEN 'd' THEN t.typbasetype ELSE t.oid END "
        "WHERE a.attrelid = "
        "(quote_ident(current_schema()) || '.' || quote_ident(%s))::regclass "
        "AND a.attnum > 0 AND NOT a.attisdropped",
        (table,),
    ).fetchall()
    return {str(r[0]): (str(r[1]), str(r[2])) for r in rows}


def pg_value(name: str, types: dict[str, tuple[str, str]]) -> str:
    """Column ``name`` of a PostgreSQL source as the import reads it (``types``:
    :func:`pg_types`): PostgreSQL's text of it, but for :data:`_PG_NATIVE` types."""
    c = quote_ident(name)
    typname, category = types.get(name, ("text", "S"))
    if typname in _PG_NATIVE:
        return c
    if typname == "bytea":
        return f"'\\x' || encode({c}, 'hex')"
    if category == "D":  # ISO 8601 whatever the DateStyle; infinity, BC as text
        return f"to_json({c}) #>> '{{}}'"
    return f"{c}::text"


def too_big_for_d1(
    backend: Backend,
    table: str,
    header: Sequence[str],
    primary_key: Sequence[str],
    description: str,
    error: str,
) -> None:
    """D1 read a BLOB as hex, twice its size, and refused it over its 2,000,000 bytes a
    value (``string or blob too big``, naming nothing): the first such value named. One is
    read in pieces (:func:`whole_blobs`) unless the table's columns and keys fill D1's 100
    result columns, leaving no room for the list of those values."""
    if "too big" not in error:
        return
    t = quote_ident(table)
    keys = tuple(primary_key) or ("rowid",)
    key_list = ", ".join(f"CAST({quote_ident(k)} AS TEXT)" for k in keys)
    for name in header:
        c = quote_ident(name)
        try:
            found = sqlite_rows(
                backend,
                f"SELECT length({c}), {key_list} FROM {t} WHERE typeof({c}) = 'blob' "
                f"AND length({c}) > {MAX_HEX_BLOB_BYTES} LIMIT 1",
            )
        except BackendError:  # (a view has no rowid): D1's own error stands
            return
        if found:
            key = ", ".join(f"{k}={v}" for k, v in zip(keys, found[0][1:], strict=True))
            raise RowTooLarge(
                f"{description}: row {key}, column {name}: a BLOB of "
                f"{found[0][0]:,} bytes; D1 gives a BLOB back over its HTTP API as hex, "
                f"twice its size, and no value over {MAX_ROW_BYTES:,} bytes: an import "
                f"reads a larger one in pieces, but a table of {len(header)} columns "
                f"leaves no room for them in D1's {D1_MAX_COLUMNS} a result: it can read "
                f"one of at most {MAX_HEX_BLOB_BYTES:,} bytes",
                hint="keep such files outside the database (R2, with their address in "
                "the row), or copy the table with fewer columns first (CREATE TABLE … AS "
                "SELECT …) and import that",
            ) from None


def why_not_utf8(header: Sequence[str], row: Sequence[object]) -> str:
    """Why ``row`` is rejected: its first value that is :class:`NotUtf8`, named ("" if none)."""
    for name, v in zip(header, row, strict=False):
        if isinstance(v, NotUtf8):
            return (
                f"{name}: not UTF-8 text (bytes {v.data[:24].hex()}"
                f"{'…' if len(v.data) > 24 else ''}; as cp1252: {v.as_cp1252()!r}): fix "
                "it in the source"
            )
    return ""
