"""Whether an ``UPDATE``'s or ``DELETE``'s own ``WHERE`` bounds it: a ``WHERE`` inside a
subquery, a string or a quoted name bounds nothing, and neither does one that holds for every
row whatever the row holds (``WHERE true``, ``WHERE 1=1``, ``WHERE 1``, ``WHERE id > 0 OR
true``): the generated ``1=1`` of a query builder, or a placeholder left in a hand-written
purge.

A condition is read as always true only when it is plainly so: a branch of its top-level ``OR``
(or every part of its top-level ``AND``) that names no column, no function and no quoted name,
evaluated by SQLite itself. Anything else counts as bounding, as before.
"""

from __future__ import annotations

import re
import sqlite3

from malnu_tui.engine.lint.masking import Unreadable, mask_code

__all__ = ["unbounded_where", "update_parts"]

_F = re.IGNORECASE
_WHERE = re.compile(r"\bWHERE\b", _F)
_END = re.compile(r"\b(?:RETURNING|ORDER\s+BY|LIMIT)\b", _F)
_WORD = re.compile(r"[A-Za-z_][\w$]*")
_CAST = re.compile(r"::\s*(?:bool(?:ean)?|int(?:eger)?[248]?|smallint|bigint|text)\b", _F)
# Words a condition may hold and still name no column.
_CONSTANT_WORDS = {"true", "false", "null", "not", "is", "and", "or", "distinct", "from", "in"}


def _depths(masked: str) -> list[int]:
    """The parenthesis depth at each character of ``masked``."""
    out: list[int] = []
    depth = 0
    for ch in masked:
        if ch == "(":
            depth += 1
        out.append(depth)
        if ch == ")":
            depth -= 1
    return out


def _top(pattern: re.Pattern[str], masked: str) -> list[re.Match[str]]:
    depth = _depths(masked)
    return [m for m in pattern.finditer(masked) if depth[m.start()] == 0]


def _split(text: str, masked: str, word: str) -> list[tuple[str, str]]:
    """``text`` (and its mask) cut at each top-level ``word`` (``OR``, ``AND``)."""
    parts: list[tuple[str, str]] = []
    start = 0
    for m in _top(re.compile(rf"\b{word}\b", _F), masked):
        parts.append((text[start : m.start()], masked[start : m.start()]))
        start = m.end()
    parts.append((text[start:], masked[start:]))
    return parts


def _wrapped(masked: str) -> bool:
    """``masked`` is one parenthesised expression, ``( … )``."""
    s = masked.strip()
    if not (s.startswith("(") and s.endswith(")")):
        return False
    depth = _depths(s)
    return all(d > 0 for d in depth[:-1])


def _constant_true(text: str, masked: str) -> bool:
    if _wrapped(masked):
        a, b = masked.index("("), masked.rindex(")")
        return _always(text[a + 1 : b], masked[a + 1 : b])
    for m in reversed(list(_CAST.finditer(masked))):  # PostgreSQL's true::boolean
        text, masked = text[: m.start()] + text[m.end() :], masked[: m.start()] + masked[m.end() :]
    if not masked.strip() or any(q in text for q in '"`[') or "(" in masked:
        return False
    if any(w.group().lower() not in _CONSTANT_WORDS for w in _WORD.finditer(masked)):
        return False  # a column, a function, a keyword not read here: not plainly constant
    con = sqlite3.connect(":memory:")
    try:
        row = con.execute(f"SELECT CASE WHEN ({text}) THEN 1 ELSE 0 END").fetchone()
    except sqlite3.Error:
        return False
    finally:
        con.close()
    return bool(row and row[0] == 1)


def _always(text: str, masked: str) -> bool:
    """The condition holds for every row."""
    branches = _split(text, masked, "OR")
    if len(branches) > 1:
        return any(_always(t, m) for t, m in branches)
    parts = _split(text, masked, "AND")
    if len(parts) > 1:
        return all(_always(t, m) for t, m in parts)
    return _constant_true(text, masked)


def _own_where(rest: str) -> tuple[str, int | None, int, int] | None:
    """``rest`` masked, where its own ``WHERE`` keyword begins (None without one), and where
    its condition begins and ends (both at the end of its head, before ``RETURNING`` …,
    without one); None when it cannot be read."""
    try:
        masked = mask_code(rest)
    except Unreadable:
        return None
    wheres = _top(_WHERE, masked)
    start = wheres[0].end() if wheres else 0
    ends = [m for m in _top(_END, masked) if m.start() >= start]
    stop = ends[0].start() if ends else len(rest)
    return masked, wheres[0].start() if wheres else None, start if wheres else stop, stop


def unbounded_where(rest: str) -> str | None:
    """For the text after an ``UPDATE``'s or ``DELETE``'s table: ``None`` when its own
    ``WHERE`` bounds it, ``""`` when it has none, else the ``WHERE``'s condition (one that
    holds for every row)."""
    if (found := _own_where(rest)) is None:
        return None
    masked, head, start, stop = found
    if head is None:
        return ""
    condition, cmask = rest[start:stop], masked[start:stop]
    return " ".join(condition.split()) if _always(condition, cmask) else None


def update_parts(rest: str) -> tuple[str, list[str] | None] | None:
    """For the text after an ``UPDATE``'s ``SET``: its assignments, and the top-level ``OR``
    branches of its own ``WHERE`` (each unwrapped of its parentheses; None when it has no
    ``WHERE``). None when the text cannot be read."""
    if (found := _own_where(rest)) is None:
        return None
    masked, head, start, stop = found
    if head is None:
        return rest[:stop], None
    branches = []
    for text, mask in _split(rest[start:stop], masked[start:stop], "OR"):
        while _wrapped(mask):
            a, b = mask.index("("), mask.rindex(")")
            text, mask = text[a + 1 : b], mask[a + 1 : b]
        branches.append(text.strip())
    return rest[:head], branches
