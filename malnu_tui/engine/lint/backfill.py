"""Which columns an ``UPDATE`` fills: set to a value never NULL (a constant, ``now()``, a
``coalesce`` whose last argument is one, a sum or a cast of such), on every row or on every
row where the column IS NULL. A later ``SET NOT NULL`` counts on them (Rails'
``change_column_null`` with a default; a Supabase file backfilling two new columns at once);
the rule itself is :mod:`malnu_tui.engine.lint.general`'s."""

from __future__ import annotations

import re

from malnu_tui.engine.lint.masking import Unreadable, closing_paren, mask_code
from malnu_tui.engine.lint.ops import IDENT, QNAME, key, split_top_level, strip_comments
from malnu_tui.engine.lint.where import update_parts

# UPDATE t SET c = <never NULL> WHERE c IS NULL [OR …]: c's NULLs filled before SET NOT NULL
# (Rails' change_column_null with a default; `SET c = COALESCE(c, NOW()) WHERE c IS NULL OR
# d IS NULL`, as a Supabase file backfills two new columns at once).
_UPDATE_SET = re.compile(rf"^UPDATE\s+(?:ONLY\s+)?{QNAME}\s+SET\s+", re.IGNORECASE)
_ASSIGN = re.compile(rf"^(?P<col>{IDENT})\s*=\s*(?P<value>.+)$", re.IGNORECASE | re.DOTALL)
# `status IS NULL`, or qualified by the table as Active Record writes it (`update_all` of
# `where(status: nil)`: `WHERE "students"."status" IS NULL`; it was read as no fill, an error)
_IS_NULL = re.compile(
    rf"^(?:(?:{IDENT}\s*\.\s*)?(?P<qual>{IDENT})\s*\.\s*)?(?P<col>{IDENT})\s+IS\s+NULL$",
    re.IGNORECASE,
)
# A cast's type: words (`timestamp with time zone`), `(n[, m])`, `[]`; not an operator word
# after it (`TRUE::boolean AND col`, `now()::timestamp AT TIME ZONE tz`: NULL where col or
# tz is, read as never NULL when any words were taken for the type).
# (Atomic: a word is never split into two, so a long one that fails fails at once.)
_TYPE_PART = r"(?>(?!(?:AND|OR|AT|IS|NOT|COLLATE|IN|LIKE|ILIKE|SIMILAR|BETWEEN)\b)\w+"
_TYPE_PART += r"|\(\s*\d+(?:\s*,\s*\d+)?\s*\)|\[\s*\d*\s*\])"
_NEVER_NULL = re.compile(
    r"^(?:'(?:[^']|'')*'|[-+]?\d+(?:\.\d+)?|TRUE|FALSE|NOW\s*\(\s*\)|LOCALTIMESTAMP|"
    rf"CURRENT_(?:TIMESTAMP|DATE|TIME))(?:\s*::\s*{_TYPE_PART}(?:\s*{_TYPE_PART})*)*$",
    re.IGNORECASE,
)
_COALESCE = re.compile(r"^(?:COALESCE|IFNULL)\s*\(", re.IGNORECASE)
_TYPED_LITERAL = re.compile(r"^(?:INTERVAL|DATE|TIME|TIMESTAMP|TIMESTAMPTZ)\s+'(?:[^']|'')*'$",
                            re.IGNORECASE)  # fmt: skip


def _sum_terms(value: str, masked: str) -> list[str]:
    """``value`` split at its top-level binary ``+`` and ``-`` (not a sign, not ``->``)."""
    terms, depth, start, prev = [], 0, 0, ""
    for i, ch in enumerate(masked):
        depth += (ch == "(") - (ch == ")")
        binary = prev != "" and prev not in "+-*/(,=<>" and masked[i + 1 : i + 2] != ">"
        if depth == 0 and ch in "+-" and binary:
            terms.append(value[start:i])
            start = i + 1
        if not ch.isspace():
            prev = ch
    return [*terms, value[start:]]


def _never_null(value: str) -> bool:
    """``value`` is a constant, ``now()``, a ``coalesce`` whose last argument is one, or a sum
    of such (`now() + interval '30 days'`: it was read as maybe NULL, an error)."""
    value = value.strip()
    try:
        masked = mask_code(value)
    except Unreadable:
        return False
    if value.startswith("(") and closing_paren(masked, 0) == len(value) - 1:
        return _never_null(value[1:-1])
    if len(terms := _sum_terms(value, masked)) > 1:
        return all(_never_null(t) for t in terms)
    if _TYPED_LITERAL.match(value) is not None:
        return True
    if _COALESCE.match(value) is not None:
        opened = value.index("(")
        closed = closing_paren(masked, opened)
        if closed != len(value) - 1:  # `COALESCE(a, 0) * NULLIF(b, 0)`: not the whole value
            return False
        args = split_top_level(value[opened + 1 : closed])
        return bool(args) and _never_null(args[-1])
    return _NEVER_NULL.match(value) is not None


def nulls_filled(text: str) -> tuple[str, list[str]]:
    """The table of an ``UPDATE`` and its columns no row of which is NULL after it: set to a
    value never NULL, on every row or on every row where the column is NULL (a top-level
    ``OR`` branch of the WHERE says ``c IS NULL``). ("", []) for anything else."""
    m = _UPDATE_SET.match(strip_comments(text))
    parts = update_parts(m.string[m.end() :]) if m else None
    if m is None or parts is None:
        return "", []
    assignments, branches = parts
    nulls = {
        key(b["col"])
        for b in map(_IS_NULL.match, branches or [])
        if b is not None and (b["qual"] is None or key(b["qual"]) == key(m["name"]))
    }
    filled = []
    for part in split_top_level(assignments):
        a = _ASSIGN.match(part)
        if a and _never_null(a["value"]) and (branches is None or key(a["col"]) in nulls):
            filled.append(key(a["col"]))
    return key(m["name"]), filled
