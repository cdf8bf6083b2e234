"""Text rewrites: ``substr()`` from the end, ``COLLATE BINARY``."""

from __future__ import annotations

from sqlglot import exp

from malnu_tui.engine.translate.common import normalise_identifiers
from malnu_tui.engine.translate.functions import Untranslatable

__all__ = ["binary_collation", "substr_from_the_end"]


def binary_collation(node: exp.Collate) -> None:
    """``x COLLATE BINARY`` (SQLite's default, memcmp; in an index or an ORDER BY) in place as
    PostgreSQL's ``"C"``, the same order: it was emitted as is, a syntax error. ``RTRIM``
    (trailing spaces ignored) has no PostgreSQL collation. (``NOCASE`` is named by the
    leftover check; a column's own COLLATE by :func:`.statements.rewrite_column`.)"""
    name = node.args.get("expression")
    word = name.name if isinstance(name, exp.Column | exp.Var | exp.Identifier) else ""
    if word.lower() == "binary":
        node.set("expression", exp.Var(this='"C"'))
    elif word.lower() == "rtrim":
        raise Untranslatable(
            "COLLATE RTRIM",
            "PostgreSQL has no collation that ignores trailing spaces",
            "compare rtrim(x) by hand",
        )


def substr_from_the_end(node: exp.Substring) -> None:
    """``substr(x, -3)`` in place: SQLite counts a negative start from the end (the last three
    characters); PostgreSQL's SUBSTRING starts before the first character and returns the whole
    string. The start becomes ``LENGTH(x) + 1 - 3``: for any start PostgreSQL then takes the
    characters SQLite takes. A negative length (the characters before the start) has no form."""
    length = node.args.get("length")
    if length is not None and _negative_literal(length):
        raise Untranslatable(
            "substr() with a negative length",
            "SQLite then takes the characters before the start; SUBSTRING raises",
            "compute the start and a positive length",
        )
    start = node.args.get("start")
    if start is None or not _negative_literal(start):
        return
    size = exp.Length(this=node.this.copy())
    normalise_identifiers(size)  # (a copy: not among the identifiers the first walk found)
    back = exp.Literal.number(str(start.this.this))
    node.set(
        "start", exp.Sub(this=exp.Add(this=size, expression=exp.Literal.number(1)), expression=back)
    )


def _negative_literal(node: exp.Expr) -> bool:
    return (
        isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal) and not node.this.is_string
    )
