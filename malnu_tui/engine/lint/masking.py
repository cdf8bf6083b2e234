"""SQL text with its strings, quoted names, comments and dollar quotes blanked, so that
keywords, parentheses and ``;`` are found only in code (the DO-block and CTE readers)."""

from __future__ import annotations

from malnu_tui.engine.sqltokens import DOLLAR_TAG

__all__ = ["Unreadable", "closing_paren", "mask_code"]

_DOLLAR = DOLLAR_TAG  # (psql's rule: sqltokens.py)


class Unreadable(Exception):
    """A quote or comment that never closes."""


def mask_code(body: str) -> str:
    """``body`` with strings, quoted names, comments and dollar quotes blanked (same length,
    newlines kept), so keywords and ``;`` are found only in code."""
    out = list(body)
    i, n = 0, len(body)

    def blank(a: int, b: int) -> None:
        for k in range(a, b):
            if out[k] != "\n":
                out[k] = " "

    while i < n:
        ch = body[i]
        if body.startswith("--", i):
            j = body.find("\n", i)
            j = n if j < 0 else j
        elif body.startswith("/*", i):
            j = body.find("*/", i + 2)
            if j < 0:
                raise Unreadable("an unterminated /* comment")
            j += 2
        elif ch in "'\"":
            j = i + 1
            while True:
                j = body.find(ch, j)
                if j < 0:
                    raise Unreadable(f"an unterminated {ch} quote")
                if body.startswith(ch * 2, j):
                    j += 2
                    continue
                j += 1
                break
        elif ch == "$" and (m := _DOLLAR.match(body, i)) and not (i and body[i - 1].isalnum()):
            j = body.find(m.group(), m.end())
            if j < 0:
                raise Unreadable(f"an unterminated {m.group()} quote")
            j += len(m.group())
        else:
            i += 1
            continue
        blank(i, j)
        i = j
    return "".join(out)


def closing_paren(masked: str, opened: int) -> int | None:
    """The index of the parenthesis closing the one at ``opened`` in ``masked`` (text as
    :func:`mask_code` gives it), or None."""
    depth = 0
    for i in range(opened, len(masked)):
        if masked[i] == "(":
            depth += 1
        elif masked[i] == ")":
            depth -= 1
            if depth == 0:
                return i
    return None
