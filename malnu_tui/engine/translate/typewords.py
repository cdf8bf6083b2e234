"""Column types of several words, which SQLite takes and sqlglot's parser does not.

SQLite reads a column's type as any run of words (its own documentation's examples:
``UNSIGNED BIG INT``, ``VARYING CHARACTER(255)``, ``NATIVE CHARACTER(70)``; old sample
databases' SQLite ports declare ``BLOB SUB_TYPE TEXT``, a Firebird type). sqlglot
reads one, and stopped on the second (``Expecting )``): the whole CREATE TABLE was withheld,
with every statement after it that needs the table. Joined into one word, the statement
parses; the column's PostgreSQL type is still mapped from the type SQLite declared (the schema
tracking's, :func:`.statements.rewrite_column`), which the joined word maps to alike (SQLite's
affinity rules read the same letters)."""

from __future__ import annotations

import re

from sqlglot import Token, TokenType
from sqlglot.errors import SqlglotError

from malnu_tui.engine.translate.common import SQLITE

__all__ = ["one_word_types"]

_WORD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Words that end a column's type: its constraints (and a table constraint's first word).
_AFTER_TYPE = frozenset(
    {
        "CONSTRAINT", "PRIMARY", "NOT", "NULL", "UNIQUE", "CHECK", "DEFAULT", "COLLATE",
        "REFERENCES", "GENERATED", "AS", "FOREIGN", "AUTOINCREMENT", "ON", "ASC", "DESC",
    }
)  # fmt: skip
_TABLE_CONSTRAINT = frozenset(
    {"CONSTRAINT", "PRIMARY", "PRIMARY KEY", "UNIQUE", "CHECK", "FOREIGN"}
)


def one_word_types(text: str) -> str | None:
    """``text`` (a CREATE TABLE, or an ALTER TABLE … ADD COLUMN) with each column type of
    several words joined by ``_`` (``UNSIGNED_BIG_INT``); None when it has none (or is
    neither statement)."""
    try:
        tokens = SQLITE.tokenizer().tokenize(text)
    except SqlglotError:  # not ours to read: the caller's error stands
        return None
    words = [t.text.upper() for t in tokens[:3]]
    if words[:1] == ["CREATE"] and "TABLE" in words:
        columns = _column_list(tokens)
    elif words[:1] == ["ALTER"]:
        columns = _added_column(tokens)
    else:
        return None
    spans = [span for column in columns if (span := _type_span(column)) is not None]
    if not spans:
        return None
    out = text
    for start, end, joined in reversed(spans):
        out = out[:start] + joined + out[end + 1 :]
    return out


def _column_list(tokens: list[Token]) -> list[list[Token]]:
    """The definitions in a CREATE TABLE's parentheses, each as its tokens (none in a CREATE
    TABLE … AS SELECT: its first parentheses are the query's, whose words were joined, ``IN
    (SELECT id FROM e WHERE …)`` read as one column, the statement translated so, unsaid)."""
    opened = next((i for i, t in enumerate(tokens) if t.token_type == TokenType.L_PAREN), None)
    if opened is None or any(t.text.upper() in ("AS", "SELECT") for t in tokens[:opened]):
        return []
    out: list[list[Token]] = [[]]
    depth = 0
    for t in tokens[opened + 1 :]:
        if t.token_type == TokenType.L_PAREN:
            depth += 1
        elif t.token_type == TokenType.R_PAREN:
            if depth == 0:
                break
            depth -= 1
        elif t.token_type == TokenType.COMMA and depth == 0:
            out.append([])
            continue
        out[-1].append(t)
    return out


def _added_column(tokens: list[Token]) -> list[list[Token]]:
    """An ALTER TABLE … ADD [COLUMN] definition, as its tokens."""
    at = next((i for i, t in enumerate(tokens) if t.text.upper() == "ADD"), None)
    if at is None:
        return []
    rest = tokens[at + 1 :]
    if rest and rest[0].text.upper() == "COLUMN":
        rest = rest[1:]
    return [rest]


def _type_span(column: list[Token]) -> tuple[int, int, str] | None:
    """(start, end, joined) of a column definition's type when it has several words."""
    if len(column) < 3 or column[0].text.upper() in _TABLE_CONSTRAINT:
        return None
    words: list[Token] = []
    for t in column[1:]:
        if (
            t.token_type in (TokenType.IDENTIFIER, TokenType.STRING)
            or not _WORD.match(t.text)
            or t.text.upper() in _AFTER_TYPE
        ):
            break
        words.append(t)
    if len(words) < 2:
        return None
    return words[0].start, words[-1].end, "_".join(w.text for w in words)
