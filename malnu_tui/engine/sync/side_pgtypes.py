"""What the PostgreSQL side does by a column's type: which columns it reads as their text (see
``PostgresSide._select``), and the scale of a ``numeric(p,s)`` copy, which rounds a value with
more decimals (85.333 in ``numeric(5,2)`` is stored as 85.33: SQLite, D1 or an unconstrained
PostgreSQL numeric keeps it). Such a value would be reported different for ever and written
again by each sync: it is refused before its chunk is written, by row and column, with the
statement that stores at the source what the copy keeps."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from malnu_tui.engine.backends.sqlite_sql import quote_ident
from malnu_tui.engine.sync.model import Column, Row, TableShape, row_text

__all__ = [
    "SCALES_SQL",
    "TIME_KINDS",
    "as_text",
    "compared_as_text",
    "printed",
    "scales",
    "unscaled_value",
]

_CHARACTER_TYPES = ("text", "character varying", "character")
TIME_KINDS = frozenset({"ts", "tstz", "date", "time"})


def printed(c: Column, expr: str, key: Sequence[str]) -> str:
    """``expr`` (column ``c``) as the value PostgreSQL prints, where its cast says otherwise,
    for the reads and the checksums alike (not a key's: read, paged and asked as its cast).
    A ``real`` prints its shortest digits (0.1), which the copy holds, where ``::float8``
    gave the float4's exact binary value (0.10000000149011612): `sync verify` called every
    such row different for ever. An ``inet`` host prints without its /32 (or /128), which
    ``::text`` adds: a copy in SQLite held ``10.0.0.1/32``."""
    if c.name in key:
        return expr
    if c.pg_type == "real":
        return f"{expr}::text::float8"
    if c.pg_type == "inet":
        full = f"CASE family({expr}) WHEN 4 THEN 32 ELSE 128 END"
        return f"CASE WHEN masklen({expr}) = {full} THEN host({expr}) ELSE {expr}::text END"
    return expr


def as_text(c: Column, key: Sequence[str]) -> bool:
    """Whether the sync reads column ``c`` as its text (see ``PostgresSide._select``; a key too,
    paged as its text, and a char(n) not in the key: ::text drops its padding, as its checksum)."""
    if c.kind == "json":
        return True
    if c.kind in TIME_KINDS:
        return c.name not in key
    own = c.pg_type.split("(", 1)[0].strip().lower()
    padded = own == "character" and c.name not in key
    return c.kind == "text" and (own not in _CHARACTER_TYPES or padded)


def compared_as_text(c: Column) -> bool:
    """Whether the upsert tells a changed value of column ``c`` by its text rather than by its
    type's ``=``, which is no identity: a ``json``, ``xml`` or ``point`` has none (the write
    stopped on "operator does not exist: xml = xml"), and a ``citext``'s ignores case, a
    ``box``'s or ``circle``'s compares areas, an ``interval``'s takes ``1 day`` for ``24:00:00``,
    a float's ``-0`` for ``0``: such a change was left unwritten, "different" for ever."""
    if c.kind in ("json", "float"):
        return True
    return c.kind == "text" and c.pg_type.split("(", 1)[0].strip().lower() not in _CHARACTER_TYPES


# The numeric columns of a table (its regclass text, the parameter) that have a scale, and its
# times and timestamps of a precision under microseconds (Prisma's DateTime: timestamp(3)).
SCALES_SQL = (
    "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
    "WHERE a.attrelid = to_regclass(%s) AND a.atttypmod >= 0 AND a.attnum > 0 "
    "AND NOT a.attisdropped AND (a.atttypid = 'numeric'::regtype OR (a.atttypid IN "
    "('timestamp'::regtype, 'timestamptz'::regtype, 'time'::regtype) AND a.atttypmod < 6))"
)
_SCALE = re.compile(r"^numeric\(\d+,(\d+)\)$")
_PRECISION = re.compile(r"^(?:timestamp|time)\((\d)\) with(?:out)? time zone$")
_FRACTION = re.compile(r"\d:\d\d\.(\d+)")  # a time text's fraction of a second


def scales(rows: Sequence[tuple[str, str]]) -> dict[str, tuple[int, str]]:
    """``SCALES_SQL``'s rows as column → (scale or precision, type); a negative scale
    (PostgreSQL 15's ``numeric(5,-2)``) is left out."""
    out: dict[str, tuple[int, str]] = {}
    for name, pg_type in rows:
        found = _SCALE.match(pg_type) or _PRECISION.match(pg_type)
        if found:
            out[name] = (int(found[1]), pg_type)
    return out


def _finer(value: object, digits: int) -> str | None:
    """The fraction of a second of a time ``value`` (text or datetime/time) when it has more
    digits than ``digits``; None when it fits."""
    if isinstance(value, str):
        found = _FRACTION.search(value)
        fraction = found[1] if found else ""
    else:
        fraction = f"{getattr(value, 'microsecond', 0):06d}"
    fraction = fraction.rstrip("0")
    return fraction if len(fraction) > digits else None


def _coarser_time(
    shape: TableShape, row: Row, column: str, value: object, digits: int, pg_type: str, dest: str
) -> tuple[str, str]:
    key = row_text(shape, row)
    wider = re.sub(r"\(\d\)", "(6)", pg_type, count=1)
    return (
        f", row {key}, column {column}: {value} has more digits of a second than the "
        f"destination's {pg_type} keeps (it would store it rounded to {digits} digits, then differ "
        "from the source at every sync)",
        f"let the copy keep them: ALTER TABLE {dest or quote_ident(shape.name)} ALTER COLUMN "
        f"{quote_ident(column)} TYPE {wider}; or store at the source times of {digits} "
        "digits; then sync again (chunks written before it stay), or leave the table out with "
        "--tables",
    )


def unscaled_value(
    shape: TableShape, rows: Sequence[Row], scale: Mapping[str, tuple[int, str]], dest: str = ""
) -> tuple[str, str] | None:
    """``(", row id=7, column rata: why", hint)`` for the first value of ``rows`` with more
    decimals than its destination column keeps (``scale``: :func:`scales`); None when every
    value is kept as it is. Only the columns with a scale are looked at (a table without one
    costs nothing per row)."""
    checked = [(i, c.name, *scale[c.name]) for i, c in enumerate(shape.columns) if c.name in scale]
    for row in rows if checked else ():
        for i, column, s, pg_type in checked:
            value = row[i]
            if value is None:
                continue
            if not pg_type.startswith("numeric"):  # a time's precision (SCALES_SQL)
                if _finer(value, s) is not None:
                    return _coarser_time(shape, row, column, value, s, pg_type, dest)
                continue
            if type(value) is float:
                if round(value, s) == value or not math.isfinite(value):
                    continue  # the double of a decimal with s places at most: kept as sent
                exact = Decimal(repr(value))
            elif isinstance(value, Decimal | str):
                try:
                    exact = Decimal(value)
                except InvalidOperation:
                    continue  # no number: the column's type refuses it, by row
            else:
                continue
            if not exact.is_finite() or exact == round(exact, s):
                continue
            kept = exact.quantize(Decimal(1).scaleb(-s), ROUND_HALF_UP)
            key = row_text(shape, row)
            c, t = quote_ident(column), quote_ident(shape.name)
            return (
                f", row {key}, column {column}: {value} has more decimals than the destination's "
                f"{pg_type} keeps (it would store {kept}, then differ from "
                "the source at every sync)",
                f"store at the source the value the copy keeps, e.g. UPDATE {t} SET {c} = "
                f"round({c}, {s}) WHERE {c} <> round({c}, {s}); then sync again (chunks written "
                "before it stay), or leave the table out with --tables",
            )
    return None
