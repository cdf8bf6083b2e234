"""The SQL statements inside a PostgreSQL ``DO`` block, so the rules see them as they see a
top-level statement (``DO $$ BEGIN ALTER TABLE … END $$`` is how hand-written migrations make a
change idempotent).

The PL/pgSQL body is cut at ``;`` outside strings, comments, nested dollar quotes and
parentheses; block structure (``DECLARE``, ``BEGIN``, ``IF … THEN``, ``ELSE``, ``LOOP``,
``EXCEPTION WHEN … THEN``, ``END …``) is peeled off the front of each piece, and what is left is
linted when it starts with an SQL command, as is the SQL of an ``EXECUTE`` of a constant string.
Any other ``EXECUTE`` runs SQL built at run time, which no file reader can see; that, and a body
that cannot be read, is said so in a note, never passed silently.
"""

from __future__ import annotations

import re

from malnu_tui.engine.lint.masking import Unreadable, mask_code
from malnu_tui.engine.lint.model import Finding, Rule
from malnu_tui.engine.lint.rules import register
from malnu_tui.engine.sqlsplit import SplitError, Statement, split_statements
from malnu_tui.engine.sqltokens import DOLLAR_TAG

__all__ = ["DO_RULES", "do_statements"]

DO_RULES = (
    Rule(
        "PG-DO-NOT-READ",
        "info",
        "DO block (or part of one) the lint cannot read",
        "its statements are not checked: a body in another language, one that does not "
        "parse, or SQL built at run time with EXECUTE (an EXECUTE of a constant is read)",
        "review those statements by hand, or write them as plain statements in the migration",
    ),
)
register(*DO_RULES)

_F = re.IGNORECASE
_DOLLAR = DOLLAR_TAG  # (psql's rule: sqltokens.py)
_HEAD = re.compile(r"\s*DO\s+(?:LANGUAGE\s+'?(?P<lang>\w+)'?\s+)?", _F)
_TAIL_LANG = re.compile(r"\s*LANGUAGE\s+'?(?P<lang>\w+)'?\s*$", _F)
_LABEL = re.compile(r"<<\s*\w+\s*>>\s*")
_WORD = re.compile(r"\w+")
_THROUGH_THEN = ("IF", "ELSIF", "ELSEIF", "WHEN", "CASE", "EXCEPTION")
_THROUGH_LOOP = ("WHILE", "FOR", "FOREACH")
_BARE = ("DECLARE", "BEGIN", "ELSE", "LOOP")
_EXECUTE = re.compile(r"EXECUTE\s+(?P<fmt>format\s*\(\s*)?", _F)
_EXECUTE_TAIL = re.compile(r"\s*(?:(?:INTO|USING)\b.*)?$", _F | re.DOTALL)
_SQL = {
    "ALTER", "ANALYZE", "CLUSTER", "COMMENT", "CREATE", "DELETE", "DROP", "GRANT", "INSERT",
    "LOCK", "REFRESH", "REINDEX", "REVOKE", "SELECT", "SET", "TRUNCATE", "UPDATE", "VACUUM",
    "WITH",
}  # fmt: skip


def _through(masked: str, p: int, end: int, word: str) -> int | None:
    """Just past the first ``word`` after ``p`` outside parentheses (None: there is none)."""
    for m in re.finditer(rf"\b{word}\b", masked[:end], _F):
        if m.start() > p and masked.count("(", p, m.start()) == masked.count(")", p, m.start()):
            return m.end()
    return None


def _statement(masked: str, p: int, end: int) -> tuple[int, str]:
    """Where the SQL of the piece ``masked[p:end]`` starts, once block structure is peeled off,
    and its first word (upper-cased; "" for a piece that holds none)."""
    while True:
        while p < end and masked[p].isspace():
            p += 1
        if m := _LABEL.match(masked, p, end):
            p = m.end()
            continue
        w = _WORD.match(masked, p, end)
        word = w.group().upper() if w else ""
        if word in _BARE:
            p = w.end() if w else p
        elif word in _THROUGH_THEN or word in _THROUGH_LOOP:
            past = _through(masked, p, end, "THEN" if word in _THROUGH_THEN else "LOOP")
            if past is None:
                return p, ""
            p = past
        else:
            return p, "" if word == "END" else word


def _constant(masked: str, body: str, at: int, end: int) -> tuple[int, str] | None:
    """The SQL of ``EXECUTE 'constant'`` (or ``$$constant$$``, or ``format('constant')`` with no
    ``%`` placeholder) in ``body[at:end]``, and where its text starts; None when the SQL is
    built at run time (``||``, ``format`` with ``%I``/``%L``/``%s``, a variable)."""
    m = _EXECUTE.match(body, at, end)
    if m is None:
        return None
    p = m.end()
    if body.startswith("'", p):
        close = p + 1
        while (close := body.find("'", close)) >= 0 and body.startswith("''", close):
            close += 2
        if close < 0 or close >= end:
            return None
        start, sql, after = p + 1, body[p + 1 : close].replace("''", "'"), close + 1
    elif tag := _DOLLAR.match(body, p, end):
        close = body.find(tag.group(), tag.end(), end)
        if close < 0:
            return None
        start, sql, after = tag.end(), body[tag.end() : close], close + len(tag.group())
    else:
        return None
    if m["fmt"]:
        depth = 1  # format( is open: find its )
        while after < end and depth:
            depth += {"(": 1, ")": -1}.get(masked[after], 0)
            after += 1
        if depth or "%" in sql.replace("%%", ""):
            return None
        sql = sql.replace("%%", "%")
    if not _EXECUTE_TAIL.fullmatch(masked, after, end):
        return None
    return start, sql


def _executed(file: str, sql: str, line: int, out: list[Finding]) -> list[Statement]:
    """The statements of a constant EXECUTE's SQL, at their lines in the file."""
    try:
        statements = split_statements(sql, "postgresql")
    except SplitError as exc:
        r = DO_RULES[0]
        why = f"the SQL of this EXECUTE does not parse: {exc}"
        out.append(Finding(r.id, r.severity, file, line, why, r.instead))
        return []
    return [Statement(x.text, line + x.line - 1) for x in statements]


def do_statements(file: str, st: Statement, out: list[Finding]) -> list[Statement]:
    """The SQL statements of the DO block ``st``, each with its own line in the file; what
    cannot be read is added to ``out`` as a ``PG-DO-NOT-READ`` note."""
    r = DO_RULES[0]

    def note(why: str, line: int = st.line) -> list[Statement]:
        out.append(Finding(r.id, r.severity, file, line, why, r.instead))
        return []

    text = st.text
    head = _HEAD.match(text)
    if head is None:
        return note("the DO block's body was not found")
    start = head.end()
    tag = _DOLLAR.match(text, start)
    if tag is not None:
        close = text.find(tag.group(), tag.end())
        if close < 0:
            return note(f"the DO block's body has no closing {tag.group()}")
        body, start, after = text[tag.end() : close], tag.end(), close + len(tag.group())
    elif text.startswith("'", start):
        close = start + 1
        while (close := text.find("'", close)) >= 0 and text.startswith("''", close):
            close += 2
        if close < 0:
            return note("the DO block's body has no closing quote")
        body, start, after = text[start + 1 : close].replace("''", "'"), start + 1, close + 1
    else:
        return note("the DO block's body is not a quoted string")
    tail = _TAIL_LANG.match(text, after)
    lang = (head["lang"] or (tail["lang"] if tail else "") or "plpgsql").lower()
    if lang != "plpgsql":
        return note(f"the DO block is written in {lang}, which the lint does not read")
    first = st.line + text.count("\n", 0, start)
    try:
        masked = mask_code(body)
    except Unreadable as exc:
        return note(f"the DO block's body does not parse: {exc}")
    found: list[Statement] = []
    dynamic: list[int] = []
    p = 0
    for m in re.finditer(r";|$", masked):
        end = m.start()
        if masked.count("(", p, end) != masked.count(")", p, end):
            continue  # a ; inside parentheses: the piece goes on
        at, word = _statement(masked, p, end)
        line = first + body.count("\n", 0, at)
        if word in _SQL:
            found.append(Statement(body[at:end].strip(), line))
        elif word == "EXECUTE":
            constant = _constant(masked, body, at, end)
            if constant is None:
                dynamic.append(line)
            else:
                at_line = first + body.count("\n", 0, constant[0])
                found.extend(_executed(file, constant[1], at_line, out))
        p = end + 1
    for line in dynamic:
        note("EXECUTE runs SQL built at run time: the lint cannot read it", line)
    return found
