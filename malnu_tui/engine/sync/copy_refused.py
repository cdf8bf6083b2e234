"""A row the copy's own constraint refuses, named for the operator: the row by its key, the
column, and what to do. A NULL refused by a NOT NULL the source's column does not have (dropped
there since the copy was made, a Django ``null=True``, or the destination's own) is told as
such, with the statement that lets the copy take it, where the hint was "correct the row at
the source" (the row is correct). SQLite's and D1's messages name no row: a NOT NULL one
names the column, and the chunk's first row holding NULL there is the one."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from malnu_tui.engine.backends.sqlite_sql import quote_ident, sql_literal
from malnu_tui.engine.errors import BackendError
from malnu_tui.engine.sync.model import Row, TableShape, row_text
from malnu_tui.engine.sync.side import STATE_TABLE

__all__ = ["REFUSED", "UniqueRefused", "not_null_refusal", "relaxed_hint", "unique_refusal"]

REFUSED = (
    "the destination's table does not take this row (a constraint of its own: UNIQUE, CHECK, "
    "NOT NULL, a STRICT column's type): correct the row at the source or the constraint here, "
    "then sync again (chunks written before it stay, and the next sync resumes after them)"
)


def relaxed_hint(shape: TableShape, column: str, remedy: str) -> str | None:
    """What to do about a NULL in ``column`` that the copy refuses (NOT NULL) where the
    source's column (of ``shape``) takes it; ``remedy``: the copy's way to take it. None when
    the source's column is NOT NULL too, or no column of the source."""
    c = shape.column(column)
    if c is None or c.notnull or column in shape.key:
        return None
    # What is known, not a guess at its history ("NOT NULL dropped at the source since the
    # copy was made?": the copy's NOT NULL may be the destination's own, or never the source's).
    return (
        f"the copy's {column} requires a value (NOT NULL) that the source's does not (it "
        f"takes NULL there), and this row has none: {remedy}; or give the row a value at the "
        "source; then sync again (chunks written before it stay, and the next sync resumes "
        "after them)"
    )


def not_null_refusal(
    shape: TableShape, rows: Sequence[Row], message: str
) -> tuple[str, str] | None:
    """``(", row id=7, column nip", hint)`` for SQLite's ``NOT NULL constraint failed:
    t.nip`` (a SQLite file's or D1's): the chunk's first row holding NULL there; None for any
    other message, or when no row of ``rows`` does."""
    found = re.search(r"NOT NULL constraint failed: ", message)
    if found is None:
        return None
    rest = message[found.end() :]
    # The longest name first: "nip" must not take the message of "nip_lama".
    for column in sorted(shape.names, key=len, reverse=True):
        if re.match(re.escape(f"{shape.name}.{column}") + r"(?::|\s|$)", rest):
            break
    else:
        return None
    i = shape.names.index(column)
    row = next((r for r in rows if r[i] is None), None)
    if row is None:
        return None
    key = row_text(shape, row)
    again = (
        f"let the copy take NULL (SQLite cannot drop a NOT NULL: make the copy again, the next "
        f"sync copies it whole): DROP TABLE {quote_ident(shape.name)}; DELETE FROM "
        f"{STATE_TABLE} WHERE table_name = {sql_literal(shape.name)}"
    )
    return f", row {key}, column {column}", relaxed_hint(shape, column, again) or REFUSED


def unique_refusal(exc: BaseException) -> bool:
    """Whether ``exc`` is the copy refusing a value one of its UNIQUE constraints holds: by
    PostgreSQL's SQLSTATE (its words are the server's language's), SQLite's and D1's words."""
    if getattr(exc, "sqlstate", None) == "23505":
        return True
    text = str(exc).lower()
    return "unique constraint failed" in text or "violates unique constraint" in text


def foreign_key_refusal(exc: BaseException) -> bool:
    """Whether ``exc`` is the copy refusing a row whose parent it does not hold (yet): by
    PostgreSQL's SQLSTATE (its words are the server's language's), SQLite's and D1's words."""
    return getattr(exc, "sqlstate", None) == "23503" or "foreign key" in str(exc).lower()


class UniqueRefused(BackendError):
    """D1's refusal of a chunk on a UNIQUE value, the row not named yet: finding it takes D1
    a trial batch per halving (14 for 10,000 rows, each billed), wasted when :func:`resolve`
    (.uniques) writes the chunk in steps; ``named()`` finds it when the refusal stands."""

    def __init__(self, message: str, named: Callable[[], BackendError]) -> None:
        super().__init__(message)
        self.named = named
