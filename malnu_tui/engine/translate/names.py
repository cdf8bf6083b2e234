"""Names in SQLite text, read without SQLite: a name as a pattern (bare or quoted any of its
three ways), SQLite's case-insensitivity for names, the names and word runs a statement holds,
and a statement's shape with the words that can only be names left out."""

from __future__ import annotations

import re
import sqlite3

from malnu_tui.engine.translate.plainsql import plain_view_or_trigger

__all__ = [
    "FOLD",
    "PLAIN_INDEX",
    "RUN",
    "SQLITE_NAME",
    "folded",
    "index_parts",
    "mentioned_names",
    "plain_syntax",
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
_DIGIT = re.compile(r"[0-9]")
# For ASCII text without quoted names: a string literal, a bare name in lower-cased text.
_QUOTED_NAME = re.compile(r"[\"`\[]")
_STRING = re.compile(r"'(?:[^']|'')*'")
_BARE = re.compile(r"[a-z_][\w$]*")
# A word SQLite reads as a name, whatever it is: it holds a digit (no keyword does), starts
# with a letter or "_" (not a number), and is not part of a number, a parameter, a blob or a
# qualified name's qualifier (neither preceded by a word character, ".", ":", "@", "#", "?",
# "$", nor followed by a word character, "." or a quote).
_ANY_NAME = re.compile(r"(?<![\w$.:@#?])[A-Za-z_][A-Za-z_$]*[0-9][A-Za-z0-9_$]*(?![\w$.'\"])")


def view_shape(sql: str) -> str:
    """``sql`` with each word that can only be a name (_ANY_NAME) written ``\\x00``: two
    statements of the same shape are the same tokens to SQLite's parser but for those names
    (qualifiers kept as written)."""
    return _ANY_NAME.sub("\x00", sql) if _DIGIT.search(sql) else sql  # (no digit: no such word)


def mentioned_names(sql: str) -> set[str]:
    """Every name ``sql`` mentions, unquoted and lower-cased (string literals skipped)."""
    if sql.isascii() and not _QUOTED_NAME.search(sql):  # (bare words only: the same, faster)
        return set(_BARE.findall((_STRING.sub(" ", sql) if "'" in sql else sql).lower()))
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


# SQLite's keywords (sqlite3_keyword_name(); the same from 3.35 to 3.49 at least, fewer before):
# a bare word that is none of them is a name (TK_ID) wherever SQLite reads it.
_KEYWORDS = frozenset(
    """ABORT ACTION ADD AFTER ALL ALTER ALWAYS ANALYZE AND AS ASC ATTACH AUTOINCREMENT BEFORE
    BEGIN BETWEEN BY CASCADE CASE CAST CHECK COLLATE COLUMN COMMIT CONFLICT CONSTRAINT CREATE
    CROSS CURRENT CURRENT_DATE CURRENT_TIME CURRENT_TIMESTAMP DATABASE DEFAULT DEFERRABLE
    DEFERRED DELETE DESC DETACH DISTINCT DO DROP EACH ELSE END ESCAPE EXCEPT EXCLUDE EXCLUSIVE
    EXISTS EXPLAIN FAIL FILTER FIRST FOLLOWING FOR FOREIGN FROM FULL GENERATED GLOB GROUP GROUPS
    HAVING IF IGNORE IMMEDIATE IN INDEX INDEXED INITIALLY INNER INSERT INSTEAD INTERSECT INTO IS
    ISNULL JOIN KEY LAST LEFT LIKE LIMIT MATCH MATERIALIZED NATURAL NO NOT NOTHING NOTNULL NULL
    NULLS OF OFFSET ON OR ORDER OTHERS OUTER OVER PARTITION PLAN PRAGMA PRECEDING PRIMARY QUERY
    RAISE RANGE RECURSIVE REFERENCES REGEXP REINDEX RELEASE RENAME REPLACE RESTRICT RETURNING
    RIGHT ROLLBACK ROW ROWS SAVEPOINT SELECT SET TABLE TEMP TEMPORARY THEN TIES TO TRANSACTION
    TRIGGER UNBOUNDED UNION UNIQUE UPDATE USING VACUUM VALUES VIEW VIRTUAL WHEN WHERE WINDOW
    WITH WITHOUT""".split()  # noqa: SIM905 (147 words: one per line as a list)
)
_KNOWN_KEYWORDS = sqlite3.sqlite_version_info < (3, 50)
# The plainest CREATE INDEX and ADD COLUMN, in SQLite's own whitespace (no comments, one
# statement); a name bare (ASCII word: checked against _KEYWORDS) or quoted.
_W = r"[ \t\n\f\r]"
_NM = r'(?:"(?:[^"]|"")+"|`[^`]+`|\[[^\]]+\]|[A-Za-z_][A-Za-z0-9_]*)'
_COL = rf"{_NM}(?:{_W}+(?:ASC|DESC))?"
_PLAIN_SYNTAX = re.compile(
    rf"{_W}*(?:CREATE{_W}+INDEX{_W}+(?:IF{_W}+NOT{_W}+EXISTS{_W}+)?{_NM}{_W}+ON{_W}+{_NM}{_W}*"
    rf"\({_W}*{_COL}(?:{_W}*,{_W}*{_COL})*{_W}*\)"
    rf"|ALTER{_W}+TABLE{_W}+{_NM}{_W}+ADD{_W}+(?:COLUMN{_W}+)?{_NM}{_W}+{_NM}){_W}*",
    re.IGNORECASE,
)
_VIEW_OR_TRIGGER = re.compile(rf"{_W}*CREATE{_W}+(?:VIEW|TRIGGER){_W}", re.IGNORECASE)
# The tokens of such a statement (its whitespace aside).
_TOKEN = re.compile(r'"(?:[^"]|"")+"|`[^`]+`|\[[^\]]+\]|[A-Za-z_][A-Za-z0-9_]*|[(),]')


def plain_syntax(sql: str) -> bool:
    """True when ``sql`` is a plain CREATE INDEX (columns only) or ALTER TABLE … ADD [COLUMN]
    name type whose bare names are no SQLite keyword: SQLite's parser then accepts it (each
    name is an identifier token); or a plain CREATE VIEW or CREATE TRIGGER that SQLite's
    parser accepts (:mod:`.plainsql`). False for anything else, or when unsure."""
    if not _KNOWN_KEYWORDS or not sql.isascii():
        return False
    if _VIEW_OR_TRIGGER.match(sql):
        return plain_view_or_trigger(sql, _KEYWORDS)
    if _PLAIN_SYNTAX.fullmatch(sql) is None:
        return False
    tokens = _TOKEN.findall(sql)
    up = [t.upper() for t in tokens]
    n = len(up)

    def name(k: int) -> bool:
        return k < n and (
            tokens[k][0] in '"`[' or (up[k][0] not in "()," and up[k] not in _KEYWORDS)
        )

    if up[0] == "ALTER":  # ALTER TABLE t ADD [COLUMN] c type
        return (n == 6 or (n == 7 and up[4] == "COLUMN")) and all(map(name, (2, n - 2, n - 1)))
    # CREATE INDEX [IF NOT EXISTS] i ON t ( c [ASC|DESC] [, …] )
    k = 5 if up[2:5] == ["IF", "NOT", "EXISTS"] else 2
    if not (name(k) and up[k + 1] == "ON" and name(k + 2) and up[k + 3] == "("):
        return False
    k += 4
    while name(k):
        k += 2 if k + 1 < n and up[k + 1] in ("ASC", "DESC") else 1
        if k + 1 == n and up[k] == ")":
            return True
        if up[k] != ",":
            return False
        k += 1
    return False
