"""Text rewrites: ``substr()`` from the end, ``COLLATE BINARY``, D1's random hex ids."""

from __future__ import annotations

from sqlglot import exp

from malnu_tui.engine.translate.common import Context, normalise_identifiers, pg_expr
from malnu_tui.engine.translate.functions import Untranslatable

__all__ = ["binary_collation", "random_hex_digits", "substr_from_the_end"]


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


def random_hex_digits(node: exp.LowerHex | exp.Hex, ctx: Context) -> exp.Expr | None:
    """D1's random-id idiom ``lower(hex(randomblob(n)))`` → hex digits of
    ``gen_random_uuid()`` (PostgreSQL 13+): of as many as n bytes need (n ≤ 256), joined. One
    of over 16 bytes (a D1 set's app secret, ``hex(randomblob(42))``) was withheld."""
    blob = node.this
    if not (isinstance(blob, exp.Anonymous) and str(blob.this).upper() == "RANDOMBLOB"):
        return None
    args = list(blob.expressions)
    if len(args) != 1 or not isinstance(args[0], exp.Literal) or args[0].is_string:
        return None
    size = int(str(args[0].this)) if str(args[0].this).isdigit() else 0
    if not 1 <= size <= _MAX_RANDOM_BYTES:
        return None
    one = "REPLACE(CAST(gen_random_uuid() AS TEXT), '-', '')"
    digits = " || ".join([one] * -(-size // 16))
    if size % 16:
        digits = f"LEFT({digits}, {size * 2})"
    if not isinstance(node, exp.LowerHex):  # LowerHex is a Hex too
        digits = f"UPPER({digits})"
    ctx.note(
        "randomblob() id",
        "random hex digits now come from gen_random_uuid(): one digit of each 32 is the UUID "
        "version, so 122 of each 128 bits are random",
    )
    return pg_expr(digits)


_MAX_RANDOM_BYTES = 256
