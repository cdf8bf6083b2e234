"""What SQLite reports about one table: its columns (``PRAGMA table_xinfo``), its unique keys,
whether it has a rowid; and what an ``ALTER TABLE … ADD COLUMN`` makes of it, asked without the
scratch schema (see :mod:`.scratch`): the column a plain ADD adds, or the table altered alone
in a side database."""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass

__all__ = [
    "ColumnInfo",
    "index_keys",
    "plain_added_column",
    "quote_name",
    "side_alter",
    "table_columns",
    "without_rowid",
]


@dataclass(frozen=True)
class ColumnInfo:
    """One column as SQLite reports it (``PRAGMA table_xinfo``)."""

    name: str
    declared: str
    notnull: bool
    default: str | None
    pk: int  # position in the primary key, 0 when not part of it
    hidden: int = 0  # 2/3: generated column


def quote_name(name: str) -> str:
    """A SQLite name double-quoted."""
    return '"' + name.replace('"', '""') + '"'


def table_columns(conn: sqlite3.Connection, name: str) -> list[ColumnInfo]:
    """``PRAGMA table_xinfo`` of the table or view ``name`` as created (empty on error)."""
    try:
        rows = conn.execute(f"PRAGMA table_xinfo({quote_name(name)})").fetchall()
    except sqlite3.Error:  # a view over a table that is gone
        return []
    return [
        ColumnInfo(str(r[1]), str(r[2] or ""), bool(r[3]), r[4], int(r[5]), int(r[6])) for r in rows
    ]


def index_keys(conn: sqlite3.Connection, name: str, keys: list[list[str]]) -> list[list[str]]:
    """``keys`` (the primary key) and every full (non-partial, column-only) unique index."""
    # (Plain PRAGMAs: 4 ms for the benchmark's 200 tables, where one SELECT joining
    # pragma_index_list with pragma_index_info took 12 ms.)
    for row in conn.execute(f"PRAGMA index_list({quote_name(name)})").fetchall():
        index, unique, origin, partial = str(row[1]), int(row[2]), str(row[3]), int(row[4])
        if not unique or partial or origin == "pk":
            continue
        info = conn.execute(f"PRAGMA index_info({quote_name(index)})").fetchall()
        cols = [str(r[2]) for r in info]
        if cols and all(r[2] is not None for r in info) and cols not in keys:
            keys.append(cols)
    return keys


def without_rowid(create: str) -> bool:
    """True for a ``CREATE TABLE`` text of a WITHOUT ROWID table."""
    return "WITHOUT ROWID" in " ".join(create.upper().split())


# The plainest ADD COLUMN: a bare name and one bare type word, nothing else.
_PLAIN_ADD = re.compile(
    r"^\s*ALTER\s+TABLE\s+\S+?\s+ADD\s+(?:COLUMN\s+)?(?P<column>[A-Za-z_][A-Za-z0-9_]*)\s+"
    r"(?P<type>[A-Za-z_][A-Za-z0-9_]*)\s*$",
    re.IGNORECASE,
)
# Words that would make the type word a column constraint (or part of one).
_CONSTRAINT_WORDS = frozenset(
    {"AS", "CHECK", "COLLATE", "CONSTRAINT", "DEFAULT", "GENERATED", "NOT", "NULL", "PRIMARY"}
    | {"REFERENCES", "UNIQUE"}
)
# SQLite's standard type names, which it reports upper-cased however they were written.
_STANDARD_TYPES = frozenset({"ANY", "BLOB", "INT", "INTEGER", "REAL", "TEXT"})


def plain_added_column(sql: str, create: str) -> ColumnInfo | None:
    """The column ``ALTER TABLE … ADD [COLUMN] name type`` (a bare name, one bare type word,
    nothing else) adds to the table ``create`` made, as ``PRAGMA table_xinfo`` reports it once
    SQLite ran it; None for any other ALTER, or a STRICT table (SQLite checks its types when it
    runs the ALTER). On an empty table SQLite checks all else of such an ALTER when it prepares
    it: EXPLAIN gives its verdict."""
    plain = _PLAIN_ADD.match(sql)
    if plain is None or "STRICT" in create.upper():
        return None
    declared = plain["type"]
    if declared.upper() in _CONSTRAINT_WORDS or declared.lower().endswith("always"):
        return None  # (a constraint; SQLite strips a trailing "always" from a long type)
    if declared.upper() in _STANDARD_TYPES:
        declared = declared.upper()
    return ColumnInfo(plain["column"], declared, False, None, 0, 0)


def side_alter(
    side: sqlite3.Connection, name: str, create: str, sql: str, *, columns: bool = True
) -> tuple[str | None, str | None, list[ColumnInfo]]:
    """Run ``create`` and the ALTER ``sql`` on table ``name`` alone in the (otherwise empty)
    database ``side``, then roll back: (the table's CREATE TABLE text after the ALTER, None,
    its columns when ``columns``), (None, SQLite's error text, []) when SQLite refuses the
    ALTER, or (None, None, []) when the side database cannot tell."""
    side.execute("BEGIN")  # (rolled back: cheaper than dropping the table)
    try:
        try:
            side.execute(create)
        except sqlite3.Error:
            return None, None, []
        try:
            side.execute(sql)
        except sqlite3.Error as exc:
            return None, str(exc), []
        got = side.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
        ).fetchone()
        altered = str(got[0]) if got and got[0] else None
        if altered is None:
            return None, None, []
        return altered, None, table_columns(side, name) if columns else []
    finally:
        side.execute("ROLLBACK")
