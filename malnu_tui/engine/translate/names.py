"""Names in SQLite text, read without SQLite: a name as a pattern (bare or quoted any of its
three ways), SQLite's case-insensitivity for names, the names and word runs a statement holds,
and a statement's shape with the words that can only be names left out."""

from __future__ import annotations

import re

__all__ = [
    "FOLD",
    "PLAIN_INDEX",
    "RUN",
    "SQLITE_NAME",
    "folded",
    "index_parts",
    "mentioned_names",
    "trigger_parts",
    "unquote_name",
    "view_shape",
]

# One SQLite name, quoted any of its three ways or bare (core.py reads names with it too).
SQLITE_NAME = r"(?:\"(?:[^\"]|\"\")+\"|`[^`]+`|\[[^\]]+\]|[\w$]+)"
# SQLite's case-insensitivity for names: ASCII letters only (COLLATE NOCASE).
FOLD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
# A name's word runs: a statement naming it (bare, in any quotes, '…' too: SQLite takes a
# single-quoted name where a name is expected) holds each of them as a whole run.
RUN = re.compile(r"[\w$]+")
_NAMES = re.compile(
    r"'(?:[^']|'')*'|\"((?:[^\"]|\"\")+)\"|`([^`]+)`|\[([^\]]+)\]|([A-Za-z_][\w$]*)"
)
# A word SQLite reads as a name, whatever it is: it holds a digit (no keyword does), starts
# with a letter or "_" (not a number), and is not part of a number, a parameter, a blob or a
# qualified name's qualifier (neither preceded by a word character, ".", ":", "@", "#", "?",
# "$", nor followed by a word character, "." or a quote).
_ANY_NAME = re.compile(r"(?<![\w$.:@#?])[A-Za-z_][A-Za-z_$]*[0-9][A-Za-z0-9_$]*(?![\w$.'\"])")


def view_shape(sql: str) -> str:
    """``sql`` with each word that can only be a name (_ANY_NAME) written ``\\x00``: two
    statements of the same shape are the same tokens to SQLite's parser but for those names
    (qualifiers kept as written)."""
    return _ANY_NAME.sub("\x00", sql)


def mentioned_names(sql: str) -> set[str]:
    """Every name ``sql`` mentions, unquoted and lower-cased (string literals skipped)."""
    named = {m[1] or m[2] or m[3] or m[4] for m in _NAMES.finditer(sql)}
    return {n.replace('""', '"').lower() for n in named if n}


def folded(sql: str) -> str:
    """``sql`` with ASCII letters lower-cased (SQLite's case-insensitivity for names)."""
    return sql.lower() if sql.isascii() else sql.translate(FOLD)


def unquote_name(name: str) -> str:
    """A name as written, without SQLite's quotes."""
    if name[:1] in ('"', "`", "["):
        inner = name[1:-1]
        return inner.replace('""', '"') if name[0] == '"' else inner
    return name


# An index of plain columns (building it cannot fail on any row), named without a schema: its
# CREATE waits like a trigger's.
_PLAIN_COLUMN = rf"{SQLITE_NAME}(?:\s+COLLATE\s+{SQLITE_NAME})?(?:\s+(?:ASC|DESC))?"
PLAIN_INDEX = re.compile(
    rf"^\s*CREATE\s+INDEX\s+(?:IF\s+NOT\s+EXISTS\s+)?(?P<name>{SQLITE_NAME})\s+ON\s+{SQLITE_NAME}\s*"
    rf"\(\s*{_PLAIN_COLUMN}(?:\s*,\s*{_PLAIN_COLUMN})*\s*\)\s*$",
    re.I,
)
_INDEX = re.compile(
    rf"^\s*CREATE\s+INDEX\s+(?:IF\s+NOT\s+EXISTS\s+)?(?P<name>{SQLITE_NAME})\s+ON\s+"
    rf"(?P<table>{SQLITE_NAME})\s*\((?P<columns>.*)\)\s*$",
    re.IGNORECASE | re.DOTALL,
)
_INDEX_COLUMN = re.compile(rf"\s*({SQLITE_NAME})(?:\s+(?:ASC|DESC))?\s*(?:,|$)", re.IGNORECASE)


def index_parts(sql: str) -> tuple[str, str, list[str]] | None:
    """A plain ``CREATE INDEX name ON table (column [ASC|DESC], …)``'s index name and columns
    (unquoted, ASCII-folded) and table (unquoted); None for any other statement."""
    m = _INDEX.match(sql)
    if m is None:
        return None
    text, pos, columns = m["columns"], 0, []
    while pos < len(text):
        col = _INDEX_COLUMN.match(text, pos)
        if col is None:
            return None
        columns.append(unquote_name(col[1]).translate(FOLD))
        pos = col.end()
    return unquote_name(m["name"]).translate(FOLD), unquote_name(m["table"]), columns


_TRIGGER = re.compile(
    rf"^\s*CREATE\s+TRIGGER\s+(?:IF\s+NOT\s+EXISTS\s+)?(?P<name>{SQLITE_NAME})\s+"
    rf"(?:(?:BEFORE|AFTER)\s+)?(?:DELETE|INSERT|UPDATE)\s+ON\s+(?P<table>{SQLITE_NAME})\s",
    re.IGNORECASE,
)


def trigger_parts(sql: str) -> tuple[str, str, None] | None:
    """A ``CREATE TRIGGER name [BEFORE|AFTER] DELETE|INSERT|UPDATE ON table …``'s name
    (unquoted, ASCII-folded) and table (unquoted); None for any other statement."""
    m = _TRIGGER.match(sql)
    if m is None:
        return None
    return unquote_name(m["name"]).translate(FOLD), unquote_name(m["table"]), None
