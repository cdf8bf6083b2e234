"""COPY text for the fast full copy (see :mod:`.fastcopy`): the SQLite select list that shapes
values, psycopg's row formatter, and the SQL with which PostgreSQL prints a stored row the
same way."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from malnu_tui.engine.sync.model import TableShape
from malnu_tui.engine.sync.timetext import MS_FROM

__all__ = [
    "DIGEST_CLOSE",
    "DIGEST_OPEN",
    "DIGEST_SINCE",
    "format_row_text",
    "pg_digest_sql",
    "pg_line_sql",
    "sqlite_select",
    "text_digest",
]

FormatRow = Callable[[Sequence[Any], Any, bytearray], None]
if TYPE_CHECKING:
    format_row_text: FormatRow | None


def __getattr__(name: str) -> Any:
    """``format_row_text``: psycopg's C row formatter (the text write_row sends, for a whole
    chunk at once), or None with another psycopg layout (the row-by-row path is kept then).
    Looked up on first use, so that importing the sync does not load psycopg: a sync from a
    SQLite file starts its source's work while the destination's driver loads."""
    if name != "format_row_text":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        from psycopg._copy_base import format_row_text as found
    except ImportError:  # pragma: no cover - another psycopg layout
        found = None
    globals()[name] = found
    return found


_SHAPED_KEY_KINDS = frozenset({"bool", "float"})  # shaped in SQL: such a key is not paged here
_NULL = r"E'\\N'"


def sqlite_select(shape: TableShape, quote: Callable[[str], str]) -> str | None:
    """The select list of a fast copy (booleans 1/0 as 't'/'f', whole REALs as integers: the
    text PostgreSQL prints for them), or None when a key column would be reshaped."""
    if any(c.kind in _SHAPED_KEY_KINDS for c in shape.columns if c.name in shape.key):
        return None
    out = []
    for c in shape.columns:
        x = quote(c.name)
        if c.kind == "bool":
            out.append(f"CASE {x} WHEN 1 THEN 't' WHEN 0 THEN 'f' ELSE {x} END")
        elif c.kind == "float":
            # A whole number as an integer (no typeof() test: 0.07 → 0.035 s per 1M rows): a
            # text or blob is never equal to its CAST, and a text that reads as that number
            # (numeric affinity) is spelt as PostgreSQL prints the number it stores from it.
            out.append(
                f"CASE WHEN {x} = CAST({x} AS INTEGER) AND abs({x}) < 1e15 "
                f"THEN CAST({x} AS INTEGER) ELSE {x} END"
            )
        elif c.kind in ("ts", "tstz"):  # (TimeZone is UTC: a time without a zone is UTC)
            out.append(_utc_text(x))
        else:
            out.append(x)
    return ", ".join(out)


def _utc_text(x: str) -> str:
    """A ``timestamp`` value's text, one that says its offset (``…T17:00:00.250+07:00``, what
    ``dayjs().format()`` writes; ``+0700``, Python's ``%z``; ``+07``, what PostgreSQL prints
    for a ``timestamptz``) as the UTC time PostgreSQL prints for what the copy stores
    (``… 10:00:00.25``; :func:`.timetext.ts_for_postgres`). Sent as it was, PostgreSQL
    dropped the offset, the chunk's check found the row different and wrote it again. Only
    what SQLite's datetime() reads the same without the fraction (a fraction of at most 6
    digits), in year 1 or later in UTC; any other text is sent as it is (PostgreSQL reads
    ``0001-01-01 00:00:00+07:00`` into a timestamptz as a time BC; its check puts the rest
    right)."""
    # Unix milliseconds (Prisma's SQLite DateTime: :func:`.timetext.ms_time`) as their UTC
    # time; a number sorts below every text. Then length(), alone: the one test most values
    # (19 characters) take; an offset makes a text 22 characters or more.
    ms = (
        f"CASE WHEN typeof({x}) = 'integer' AND {x} >= {MS_FROM} AND {x} < 253402300800000 "
        f"THEN strftime('%Y-%m-%d %H:%M:%S', {x} / 1000, 'unixepoch') || CASE WHEN {x} % 1000 "
        f"THEN rtrim(printf('.%03d', {x} % 1000), '0') ELSE '' END ELSE {x} END"
    )
    offsets = " ".join(
        _offset_branch(x, width, offset)
        for width, offset in (
            (6, f"substr({x}, -6)"),  # +07:00 (the one layout SQLite's datetime() reads)
            (5, f"substr({x}, -5, 3) || ':' || substr({x}, -2)"),  # +0700
            (3, f"substr({x}, -3) || ':00'"),  # +07
        )
    )
    return f"CASE WHEN {x} < '' THEN {ms} WHEN length({x}) < 22 THEN {x} {offsets} ELSE {x} END"


def _offset_branch(x: str, width: int, offset: str) -> str:
    """The CASE branch for a text ending in an offset ``width`` characters long, which
    ``offset`` spells as ``+HH:MM``: the seconds' UTC time, then the fraction as PostgreSQL
    prints it (trailing zeros dropped)."""
    utc = f"datetime(substr({x}, 1, 19) || {offset})"
    frac = (
        f"CASE WHEN substr({x}, 20, 1) = '.' "
        f"THEN rtrim(rtrim(substr({x}, 20, length({x}) - {19 + width}), ' 0'), '.') ELSE '' END"
    )
    return (
        f"WHEN substr({x}, -{width}, 1) IN ('+', '-') AND length({x}) < {28 + width} "
        f"AND {utc} = datetime(substr({x}, 1, length({x}) - {width}) || {offset}) "
        f"AND {utc} >= '0001' AND length({frac}) < 8 THEN {utc} || {frac}"
    )


_PRINTED_AS_IS = frozenset({"int", "float", "numeric", "ts", "tstz", "date", "time", "bool"})
_ARGS = 90  # arguments per concat_ws() call (PostgreSQL takes at most 100)


def _pg_field(c: str, kind: str, notnull: bool) -> str:
    """One value's text: as its type's output prints it (concat_ws() calls it) when that is
    the COPY text, else an expression; NULL only where the column allows it, as ``\\N``."""
    if notnull and kind in _PRINTED_AS_IS:
        return c  # booleans print as t/f, timestamps in DateStyle ISO, floats shortest-exact
    if kind in _PRINTED_AS_IS:
        text = (
            f"{c}::text" if kind != "bool" else f"CASE WHEN {c} THEN 't' WHEN NOT {c} THEN 'f' END"
        )
    elif kind == "bytes":
        text = rf"E'\\\\x' || encode({c}, 'hex')"
    else:
        text = rf"replace({c}::text, E'\\', E'\\\\')"
    return text if notnull else f"coalesce({text}, {_NULL})"


def pg_line_sql(
    quoted_columns: Sequence[str], kinds: Sequence[str], notnull: Sequence[bool] = ()
) -> str:
    """SQL printing a row as the COPY text a fast copy sent for it (see the module's doc):
    its values joined by tabs in one concat_ws() (no value is NULL there, so none is
    skipped). ``notnull``: per column, True when the destination's column is NOT NULL (never
    NULL there: printed as its type prints it, without the ``\\N`` fallback)."""
    flags = notnull or [False] * len(kinds)
    fields = [_pg_field(c, k, n) for c, k, n in zip(quoted_columns, kinds, flags, strict=True)]
    while len(fields) > _ARGS:  # nested: each inner call's text is one argument
        fields = [_concat(fields[i : i + _ARGS]) for i in range(0, len(fields), _ARGS)]
    return _concat(fields)


def _concat(args: Sequence[str]) -> str:
    return rf"concat_ws(E'\t', {', '.join(args)})"


DIGEST_OPEN, DIGEST_CLOSE = "encode(sha256(textsend(", ")), 'hex')"  # around a text expression
DIGEST_SINCE = 110000  # the server version with sha256()


def text_digest(data: bytes | bytearray) -> str:
    """The digest of COPY text ``data`` as :func:`pg_digest_sql` says it: SHA-256, in hex.
    SHA-256 rather than md5: both OpenSSL's (the CPU's SHA instructions), twice as fast on
    each side (70 MB of text per 1,000,000 rows: 0.10 → 0.045 s here, 0.10 → 0.05 s in
    PostgreSQL), and no collision to craft."""
    return hashlib.sha256(data).hexdigest()


def pg_digest_sql(text: str) -> str:
    """SQL for :func:`text_digest` of the text expression ``text`` (NULL for NULL): its
    bytes as the client's encoding spells them (``textsend``), as psycopg encoded what was
    sent. PostgreSQL 11+."""
    return DIGEST_OPEN + text + DIGEST_CLOSE
