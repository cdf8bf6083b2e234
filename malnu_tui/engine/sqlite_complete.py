"""Where SQLite itself ends a statement: the state machine of ``sqlite3_complete`` (SQLite's
complete.c, the ``sqlite3`` shell's rule), over the tokens the splitter reads
(:mod:`malnu_tui.engine.sqlsplit`). Checked against SQLite's own in
tests/test_sqlsplit_sqlite_rule.py."""

from __future__ import annotations

import re

__all__ = [
    "COMPLETE",
    "IN_TRIGGER",
    "KEYWORDS",
    "NORMAL",
    "NOT_BLANK",
    "OTHER",
    "OTHER_MATTERS",
    "SEMI",
    "START",
    "TRIGGER_SEMI",
    "word_kind",
]

# SQLite's own rule for where a statement ends (sqlite3_complete, the sqlite3 shell's): a
# state machine over tokens. A statement that starts ``[EXPLAIN …] CREATE [TEMP…] TRIGGER``
# ends only at a ``;`` that follows ``; END`` (blanks and comments between): inside a trigger
# no word but an END right after a ``;`` matters, so a column named ``end`` or ``begin``
# (``NEW.end``, ``SET begin = …``, ``WHEN NEW.begin``) and a ``CASE … END`` are plain words.
# Tokens: ; other EXPLAIN CREATE TEMP TRIGGER END (blanks and comments change nothing).
SEMI, OTHER, EXPLAIN, CREATE, TEMP, TRIGGER, END = range(7)
START, NORMAL, IN_EXPLAIN, IN_CREATE, IN_TRIGGER, TRIGGER_SEMI, TRIGGER_END = range(1, 8)
COMPLETE = (
    (1, 2, 3, 4, 2, 2, 2),  # (0: unused)
    (1, 2, 3, 4, 2, 2, 2),  # START
    (1, 2, 2, 2, 2, 2, 2),  # NORMAL
    (1, 3, 2, 4, 2, 2, 2),  # EXPLAIN
    (1, 2, 2, 2, 4, 5, 2),  # CREATE
    (6, 5, 5, 5, 5, 5, 5),  # TRIGGER (its head and body)
    (6, 5, 5, 5, 5, 5, 7),  # TRIGGER, just after a ;
    (1, 5, 5, 5, 5, 5, 5),  # TRIGGER, after ; END (a ; now ends it)
)
KEYWORDS = {
    "EXPLAIN": EXPLAIN,
    "CREATE": CREATE,
    "TEMP": TEMP,
    "TEMPORARY": TEMP,
    "TRIGGER": TRIGGER,
    "END": END,
}
# Not one of SQLite's blanks between tokens (\v and Unicode spaces are other tokens there; a
# BOM is read as a blank, as the splitter skips one: two files joined by ``cat``).
NOT_BLANK = re.compile(r"[^ \t\n\f\r\ufeff]")
# After these states an "other" token changes the state (see COMPLETE).
OTHER_MATTERS = frozenset((START, IN_EXPLAIN, IN_CREATE, TRIGGER_SEMI, TRIGGER_END))


def sqlite_ident_char(ch: str) -> bool:
    """A character of one of SQLite's words (its IdChar: ASCII letters, digits, ``_``, ``$``
    and every non-ASCII character)."""
    return ch.isalnum() or ch in "_$" or not ch.isascii()


def word_kind(sql: str, i: int, j: int) -> int:
    """The token kind (for COMPLETE) of the word ``sql[i:j]``: a keyword only when it is the
    whole of SQLite's word there (not ``1end``, ``endé``) and ASCII (not ``trıgger``)."""
    kind = KEYWORDS.get(sql[i:j].upper(), OTHER)
    if kind != OTHER and (
        not sql[i:j].isascii()
        or (i > 0 and sqlite_ident_char(sql[i - 1]))
        or (j < len(sql) and sqlite_ident_char(sql[j]))
    ):
        return OTHER
    return kind
