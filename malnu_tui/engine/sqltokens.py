"""Where a token of SQL text ends, for the statement splitter (:mod:`.sqlsplit`): quoted
strings and identifiers (doubled quotes; ``E'…'``'s backslashes), ``/* */`` comments (nested in
PostgreSQL), and the patterns the scanners read text with: words, ``$tag$`` quotes, runs of
plain characters (past a statement's first words, everything but quotes, comments and ``;`` in
one match), a simple script's pieces and tokens. Also which words open a routine body
(``BEGIN ATOMIC … END``) and a ``COPY … FROM stdin`` data block."""

from __future__ import annotations

import re

__all__ = [
    "COPY_STDIN",
    "DOLLAR_TAG",
    "FAST_RUN",
    "FAST_RUN_PG",
    "IDENT_RUN",
    "INNERMOST",
    "LEAD",
    "PLAIN_RUN",
    "PLAIN_RUN_PG",
    "SIMPLE_NOISE",
    "SIMPLE_PIECE",
    "TRIGGER_TOKEN",
    "WORD",
    "comment_end",
    "escape_string_end",
    "ident_char",
    "is_routine",
    "quote_end",
]

WORD = re.compile(r"[A-Za-z_]+")
# A ``$tag$`` quote, as psql and the server read one: a tag of letters, digits and ``_`` (not
# first), and of any non-ASCII character (``$körper$``: it was no quote here, and its ``;``
# ended the statement). Non-ASCII as ``[^\x00-\x7f]``, the same characters as the range
# ``\x80-\U0010ffff``, which re took 4.5 ms of CPU to compile (9 ms more in pg_sql's ``DO``
# pattern, which embeds it), every process, on the way to every command's first statement.
DOLLAR_TAG = re.compile(r"\$(?:(?:[A-Za-z_]|[^\x00-\x7f])(?:[A-Za-z0-9_]|[^\x00-\x7f])*)?\$")
IDENT_RUN = re.compile(r"[\w$]+")
PLAIN_RUN = re.compile(r"[^\n\-/$'\"`\[;A-Za-z_]+")
# Past a statement's first four words, outside trigger and routine bodies, only quotes,
# comments, ``$``, ``-``, ``/`` and ``;`` matter: skip identifiers (not an ``E'…'`` prefix)
# and ASCII punctuation, digits and blanks (with the plain run after them) in one match.
FAST_RUN = re.compile(
    r"(?:[A-Za-z_][\w$]*(?!')|[ \t\f\v0-9(),.=<>*+!%&|^~:?@#{}\]][^\n\-/$'\"`\[;A-Za-z_]*|\n)+"
)
# The same in a PostgreSQL file, where parentheses matter (a ``;`` inside them ends nothing)
# and ``[``, `` ` `` are plain characters.
PLAIN_RUN_PG = re.compile(r"[^\n\-/$'\"();\\A-Za-z_]+")
FAST_RUN_PG = re.compile(
    r"(?:[A-Za-z_][\w$]*(?!')|[ \t\f\v0-9,.=<>*+!%&|^~:?@#{}\[\]`][^\n\-/$'\"();\\A-Za-z_]*|\n)+"
)
COPY_STDIN = re.compile(r"^\s*COPY\b.*\bFROM\s+STDIN\b", re.IGNORECASE | re.DOTALL)


# -- the simple script fast path (sqlsplit._is_simple) ------------------------------------

# A simple script's piece up to its ``;`` (or a lone ``'``, or the end): strings and comments
# whole (a ``;`` in them ends nothing).
SIMPLE_PIECE = re.compile(r"(?:[^;'\-]+|'[^']*(?:''[^']*)*'|--[^\n]*|-)*")
# Before a statement: blanks, ``--`` comments, and a BOM (two files joined by ``cat``: the
# second's BOM would start a statement, and PostgreSQL reads it as part of the first word).
LEAD = re.compile(r"(?:[\s\ufeff]+|--[^\n]*)*")
# A piece's strings and comments (dropped before its parentheses are matched), and its
# innermost pairs of parentheses (dropped a level at a time).
SIMPLE_NOISE = re.compile(r"'[^']*(?:''[^']*)*'|--[^\n]*")
INNERMOST = re.compile(r"\([^()]*\)")
# The tokens of a simple ASCII script's piece holding the word TRIGGER: '…' strings (a lone '
# is an unterminated one), -- comments, SQLite's words, ;, and any other character.
TRIGGER_TOKEN = re.compile(r"'[^']*(?:''[^']*)*'|'|--[^\n]*|[\w$]+|;|[^ \t\n\f\r]")


# -- where a token ends ---------------------------------------------------------------------


def quote_end(sql: str, i: int) -> int:
    """Index just past the quoted token starting at ``i`` (doubled quotes escape); past the
    text's end (``len(sql) + 1``) when it is never closed."""
    q = sql[i]
    close = "]" if q == "[" else q
    j = i + 1
    n = len(sql)
    while j < n:
        if sql[j] == close:
            if close != "]" and j + 1 < n and sql[j + 1] == close:
                j += 2
                continue
            return j + 1
        j += 1
    return n + 1  # unterminated: the rest of the file belongs to it


def escape_string_end(sql: str, i: int) -> int:
    """Index just past the ``E'…'`` string whose quote is at ``i`` (backslash escapes); past
    the text's end when it is never closed."""
    j, n = i + 1, len(sql)
    while j < n:
        ch = sql[j]
        if ch == "\\":
            j += 2
            continue
        if ch == "'":
            if j + 1 < n and sql[j + 1] == "'":
                j += 2
                continue
            return j + 1
        j += 1
    return n + 1


def comment_end(sql: str, i: int, nest: bool) -> int:
    """Index just past the ``/* */`` comment opening at ``i``, or -1 when it never ends;
    with ``nest`` (PostgreSQL) an inner ``/*`` needs its own ``*/``."""
    j = sql.find("*/", i + 2)
    if not nest or j < 0:
        return j + 2 if j >= 0 else -1
    depth, at = 1, i + 2
    while True:
        close = sql.find("*/", at)
        if close < 0:
            return -1
        inner = sql.find("/*", at, close)
        if inner >= 0:
            depth, at = depth + 1, inner + 2
            continue
        depth, at = depth - 1, close + 2
        if depth == 0:
            return at


def ident_char(ch: str) -> bool:
    """Whether ``ch`` may be part of an identifier (an ``E`` before it is no string prefix)."""
    return ch.isalnum() or ch in "_$"


def is_routine(words: list[str]) -> bool:
    """``CREATE [OR REPLACE] FUNCTION|PROCEDURE`` (whose body may be ``BEGIN ATOMIC … END``)."""
    return (
        bool(words)
        and words[0] == "CREATE"
        and any(w in ("FUNCTION", "PROCEDURE") for w in words[1:4])
    )
