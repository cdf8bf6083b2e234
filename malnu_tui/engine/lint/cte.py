"""The statements inside a ``WITH`` (common table expressions): each CTE's body and the main
statement, so the rules see an ``UPDATE`` or ``DELETE`` there as they see a top-level one.

PostgreSQL runs data-modifying CTEs (``WITH moved AS (DELETE FROM t RETURNING *) INSERT INTO
archive SELECT * FROM moved``) to completion whatever the main statement reads of them; SQLite
allows a ``WITH`` before its own ``UPDATE``, ``DELETE`` and ``INSERT``.
"""

from __future__ import annotations

import re

from malnu_tui.engine.lint.masking import Unreadable, closing_paren, mask_code
from malnu_tui.engine.sqlsplit import Statement

__all__ = ["cte_statements"]

_F = re.IGNORECASE
_WITH = re.compile(r"\s*WITH\s+(?:RECURSIVE\s+)?", _F)
# name [(columns)] AS [NOT] [MATERIALIZED] ( — a quoted name is blanked by the mask
_CTE = re.compile(
    r"\s*[\w$]*\s*(?:\([^()]*\)\s*)?AS\s+(?:NOT\s+)?(?:MATERIALIZED\s+)?\(",
    _F,
)
_COMMA = re.compile(r"\s*,")


def _part(text: str, a: int, b: int, line: int) -> Statement:
    lead = len(text[a:b]) - len(text[a:b].lstrip())
    return Statement(text[a:b].strip(), line + text.count("\n", 0, a + lead))


def cte_statements(st: Statement) -> list[Statement]:
    """The CTE bodies and the main statement of the ``WITH`` statement ``st``, in order, each
    at its own line (nested ``WITH``\\s read too); [] when ``st`` does not read as one."""
    text = st.text
    try:
        masked = mask_code(text)
    except Unreadable:
        return []
    head = _WITH.match(masked)
    if head is None:
        return []
    found: list[Statement] = []
    p = head.end()
    while (m := _CTE.match(masked, p)) is not None:
        close = closing_paren(masked, m.end() - 1)
        if close is None:
            return []
        found.append(_part(text, m.end(), close, st.line))
        p = close + 1
        comma = _COMMA.match(masked, p)
        if comma is None:
            break
        p = comma.end()
    found.append(_part(text, p, len(text), st.line))
    out: list[Statement] = []
    for part in found:
        out.extend(cte_statements(part) if _WITH.match(part.text) else [part])
    return [s for s in out if s.text]
