"""Values a SQLite-dialect destination cannot hold as the source had them (PostgreSQL's NaN,
negative zero, numerics finer than a double; Infinity over D1's API). SQLite would store
another value without a word, and the row would then be "different" for ever, repaired by each
sync and reported again: such a value is refused before its chunk is written, by row and column,
with the statement that stores at the source what SQLite can hold. And a SQLite text that is
not UTF-8, which cannot be read: named by row and column."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from decimal import Decimal

from malnu_tui.engine.backends.sqlite_sql import quote_ident, sql_literal
from malnu_tui.engine.errors import BackendError
from malnu_tui.engine.sync.model import Key, Row, TableShape, key_text, row_text

__all__ = ["is_utf8", "not_utf8_column", "not_utf8_error", "not_utf8_key", "unstorable_value"]

_INT64 = range(-(2**63), 2**63)
# SQLite's NUMERIC stores a text it converts as the nearest double: every number of up to 15
# significant digits reads back as written, and a longer one only when it is the shortest
# spelling of a double (0.30000000000000004, what 0.1 + 0.2 makes).
_DIGITS = 15


def unstorable_value(shape: TableShape, rows: Sequence[Row], *, d1: bool) -> tuple[str, str] | None:
    """``(", row id=7, column skor: why", hint)`` for the first value of ``rows`` the
    destination (a SQLite file, or D1 when ``d1``) cannot hold; None when it holds them all."""
    checked = [(i, c.name, c.kind) for i, c in enumerate(shape.columns) if c.kind == "float"]
    checked += [(i, c.name, c.kind) for i, c in enumerate(shape.columns) if c.kind == "numeric"]
    if not checked:
        return None
    for row in rows:
        for i, column, kind in checked:
            value = row[i]
            if type(value) is float:
                found = _float(value, d1)
            elif kind == "numeric" and isinstance(value, Decimal):
                found = _numeric(value)
            else:
                continue
            if found is not None:
                why, fix = found
                key = row_text(shape, row)
                c, t = quote_ident(column), quote_ident(shape.name)
                return (
                    f", row {key}, column {column}: {why}",
                    f"store a value SQLite holds at the source, e.g. UPDATE {t} SET "
                    + fix.format(c=c)
                    + "; then sync again (chunks written before it stay), or leave the table "
                    "out with --tables",
                )
    return None


def _float(value: float, d1: bool) -> tuple[str, str] | None:
    if value != value:
        return (
            "NaN, which SQLite cannot hold (it stores NULL)",
            "{c} = NULL WHERE {c} = 'NaN'",
        )
    if value == 0 and math.copysign(1.0, value) < 0:
        return (
            "-0, which SQLite stores as 0",
            "{c} = 0 WHERE {c}::text = '-0'",
        )
    if d1 and math.isinf(value):
        return (
            f"{value}, which D1 cannot take (no such number in its API's JSON: it stores NULL;"
            " a SQLite file keeps it)",
            "{c} = NULL WHERE {c} IN ('Infinity', '-Infinity')",
        )
    return None


def _numeric(value: Decimal) -> tuple[str, str] | None:
    if not value.is_finite():
        return None  # kept as the text 'NaN' / 'Infinity' (not a number to SQLite)
    digits = len(value.normalize().as_tuple().digits)
    if digits <= _DIGITS or (value == value.to_integral_value() and int(value) in _INT64):
        return None
    stored = float(value)
    if math.isfinite(stored) and Decimal(repr(stored)) == value:
        return None  # the double's own digits: read back as written
    places = _DIGITS - 1 - value.adjusted()
    return (
        f"{value} has {digits} significant digits, more than the double SQLite's NUMERIC "
        f"stores it as holds (it stores {stored!r})",
        f"{{c}} = round({{c}}, {places}) WHERE {{c}} <> round({{c}}, {places})",
    )


# Python's sqlite3 reads a TEXT value as UTF-8 and stops a whole statement on one that is not
# (bytes an application stored as text: Latin-1 from a legacy import, a cut multi-byte char).
_NOT_UTF8 = re.compile(r"Could not decode to UTF-8 column '(.*)' with text")


def not_utf8_column(message: str) -> str | None:
    """The column named by SQLite's driver when a text it read is not UTF-8, else None."""
    found = _NOT_UTF8.search(message)
    return found[1] if found else None


def not_utf8_error(
    label: str, shape: TableShape, key: Key, column: str, raw: bytes
) -> BackendError:
    """The error naming the row whose ``column`` holds ``raw``, not UTF-8, with what to do."""
    t, c = quote_ident(shape.name), quote_ident(column)
    where = " AND ".join(
        f"{quote_ident(k)} = {sql_literal(v)}" for k, v in zip(shape.key, key, strict=True)
    )
    shown = raw[:32].hex() + ("…" if len(raw) > 32 else "")
    return BackendError(
        f"{label}: reading {shape.name}, row {key_text(shape.key, key)}, column {column}: its "
        f"text is not UTF-8 (bytes x'{shown}')",
        hint=(
            "SQLite kept bytes that are no UTF-8 text, which no side can read as text: write "
            f"the text again at the source, e.g. as Latin-1 read it: UPDATE {t} SET {c} = "
            f"{sql_literal(raw.decode('latin-1'))} WHERE {where} (check it first), or store "
            "the bytes in a BLOB column; then sync again"
        ),
    )


def not_utf8_key(
    label: str, shape: TableShape, column: str, keys: Sequence[Sequence[object]]
) -> BackendError:
    """The error naming the first of ``keys`` (each read as bytes) whose ``column`` is not
    UTF-8: such a key cannot be read, paged nor compared on any side, and a row cannot be
    named by it otherwise than by its bytes."""
    i = shape.key.index(column)
    texts = (k[i] for k in keys)
    raw = next((v for v in texts if isinstance(v, bytes) and not is_utf8(v)), b"")
    t, c = quote_ident(shape.name), quote_ident(column)
    return BackendError(
        f"{label}: reading {shape.name}, key {column}=x'{raw[:32].hex()}"
        f"{'…' if len(raw) > 32 else ''}': its text is not UTF-8",
        hint=(
            "SQLite kept bytes that are no UTF-8 text in a key, which no side can read: write "
            f"the key again at the source, e.g. as Latin-1 reads it: UPDATE {t} SET {c} = "
            f"{sql_literal(raw.decode('latin-1'))} WHERE {c} = CAST(x'{raw.hex()}' AS TEXT) "
            "(check it first, and the rows that refer to it); then sync again"
        ),
    )


def is_utf8(raw: bytes) -> bool:
    """Whether ``raw`` is UTF-8 text."""
    try:
        raw.decode()
    except UnicodeDecodeError:
        return False
    return True
