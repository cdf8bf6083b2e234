"""Numbers and blobs as SQLite computes them: ``CAST(x AS INTEGER)`` (64-bit, truncated),
``round()`` (half away from zero) and blob literals (``X'00ff'``), rewritten in place or as
PostgreSQL text for :func:`.expressions.rewrite_functions`."""

from __future__ import annotations

import re

from sqlglot import exp

from malnu_tui.engine.translate.common import Context
from malnu_tui.engine.translate.functions import Untranslatable

__all__ = [
    "INTEGER_CASTS",
    "blob_sql",
    "concat_text",
    "group_concat_text",
    "integer_cast",
    "integer_remainder",
    "numeric_round",
    "real_literals",
]

_HEX_DIGITS = re.compile(r"[0-9A-Fa-f]*")
# Type names with SQLite's INTEGER affinity as sqlglot reads them (BIT holds no "INT": NUMERIC).
INTEGER_CASTS = tuple(t for t in exp.DataType.INTEGER_TYPES if t != exp.DataType.Type.BIT)


def blob_sql(digits: str) -> str:
    """A blob literal ``X'00ff'``: PostgreSQL reads ``x'…'`` as a bit string, never bytea."""
    if not _HEX_DIGITS.fullmatch(digits) or len(digits) % 2:
        raise Untranslatable("blob literal", "not an even number of hex digits", "")
    return f"DECODE('{digits.lower()}', 'hex')"


def integer_cast(node: exp.Cast, ctx: Context) -> None:
    """``CAST(x AS INTEGER)`` in place: SQLite's integers are 64-bit and its cast truncates a
    REAL toward zero (759.999… → 759); PostgreSQL's INT is 32-bit (a millisecond timestamp
    overflows it) and its cast rounds (7.6 → 8). So: BIGINT, and a value not known to be an
    integer is truncated as a double first, as SQLite does (a NUMERIC would round to 15 digits
    first: 760). A truth value (a boolean column, a comparison) keeps INT: PostgreSQL casts a
    boolean to INT only."""
    value = node.this
    if _truth_value(value, ctx):
        return
    node.set("to", exp.DataType(this=exp.DataType.Type.BIGINT, nested=False))
    if _integer_valued(value, ctx):
        return
    double = exp.Cast(this=value, to=exp.DataType(this=exp.DataType.Type.DOUBLE, nested=False))
    node.set("this", exp.Anonymous(this="TRUNC", expressions=[double]))


def truth_or_boolean(node: exp.Expr, ctx: Context) -> bool:
    """A truth value (a comparison, AND/OR/NOT, TRUE/FALSE) or a BOOLEAN column."""
    return _truth_value(node, ctx)


def _truth_value(node: exp.Expr, ctx: Context) -> bool:
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.Predicate | exp.Connector | exp.Not | exp.Boolean):
        return True
    declared = _column_infos(node, ctx)
    return bool(declared) and all(d.strip() in ("BOOLEAN", "BOOL") for d in declared)


def numeric_round(node: exp.Round, ctx: Context) -> None:
    """``round(x[, n])`` in place: SQLite rounds half away from zero (round(2.5) is 3.0);
    PostgreSQL's round of a double rounds half to even (2.0) and takes no digits argument
    (``round(double precision, integer) does not exist``). Its round of a numeric is SQLite's."""
    value = node.this
    if _integer_valued(value, ctx) or (
        isinstance(value, exp.Cast) and value.to.is_type(exp.DataType.Type.DECIMAL)
    ):
        return
    node.set(
        "this", exp.Cast(this=value, to=exp.DataType(this=exp.DataType.Type.DECIMAL, nested=False))
    )


def _column_infos(node: exp.Expr, ctx: Context) -> list[str]:
    """The declared types a column reference may have (empty when it is no known column)."""
    if not isinstance(node, exp.Column):
        return []
    name = node.name.lower()
    if node.table.lower() in ("new", "old") and ctx.row_table is not None:
        tables = [ctx.row_table]  # a trigger's row
    else:
        tables = [t for t in ctx.tables if not node.table or t.lower() == node.table.lower()]
    return [
        c.declared.upper() for t in tables for c in ctx.state.columns(t) if c.name.lower() == name
    ]


def _integer_valued(node: exp.Expr, ctx: Context) -> bool:
    if isinstance(node, exp.Neg | exp.Paren):
        return _integer_valued(node.this, ctx)
    if isinstance(node, exp.Cast):
        return node.to.is_type(*INTEGER_CASTS)
    if isinstance(node, exp.Literal):
        return not node.is_string and str(node.this).lstrip("-").isdigit()
    declared = _column_infos(node, ctx)
    return bool(declared) and all("INT" in d for d in declared)


def group_concat_text(node: exp.GroupConcat, ctx: Context) -> None:
    """``group_concat(id)`` in place: SQLite joins any values as text; PostgreSQL's
    STRING_AGG takes text only (``function string_agg(bigint, unknown) does not exist``), so a
    value not known to be TEXT is cast to it."""
    holder: exp.Expr = node
    while isinstance(holder.this, exp.Order):  # group_concat(x ORDER BY y) (SQLite 3.44+)
        holder = holder.this
    if isinstance(holder.this, exp.Distinct):
        holder = holder.this
    key = "expressions" if isinstance(holder, exp.Distinct) else "this"
    value = holder.expressions[0] if key == "expressions" else holder.this
    if (
        value is None
        or isinstance(value, exp.DPipe)
        or (isinstance(value, exp.Literal) and value.is_string)
    ):
        return  # (text already)
    declared = _column_infos(value, ctx)
    if declared and all(d.strip() in ("TEXT", "") or "CHAR" in d or "CLOB" in d for d in declared):
        return
    text = exp.Cast(this=value, to=exp.DataType(this=exp.DataType.Type.TEXT, nested=False))
    if key == "expressions":
        holder.set("expressions", [text, *holder.expressions[1:]])
    else:
        holder.set("this", text)


def concat_text(node: exp.DPipe, ctx: Context) -> None:
    """``a || b`` in place: SQLite joins any two values as text; PostgreSQL has no ``||`` for
    two numbers (``operator does not exist: bigint || bigint``). When neither side is known to
    be text but the left one is a number (an integer column, a numeric literal), it is cast to
    TEXT, which writes an integer as SQLite does. A truth value (a comparison, a BOOLEAN
    column) is SQLite's 1 or 0, where PostgreSQL would join 'true': it is cast to INT, then
    TEXT."""
    truths = False
    for key in ("this", "expression"):
        side = node.args[key]
        if _truth_value(side, ctx):
            number = exp.Cast(this=side, to=exp.DataType(this=exp.DataType.Type.INT, nested=False))
            node.set(key, exp.Cast(this=number, to=exp.DataType.build("TEXT")))
            truths = True
    if truths or not (_number(node.this, ctx) and _number(node.expression, ctx)):
        return
    text = exp.Cast(this=node.this, to=exp.DataType(this=exp.DataType.Type.TEXT, nested=False))
    node.set("this", text)


def _number(node: exp.Expr, ctx: Context) -> bool:
    if isinstance(node, exp.Literal):
        return not node.is_string
    declared = _column_infos(node, ctx)
    return bool(declared) and all(
        "INT" in d or any(word in d for word in ("REAL", "FLOA", "DOUB", "NUMERIC", "DECIMAL"))
        for d in declared
    )


def integer_remainder(node: exp.Mod, ctx: Context) -> None:
    """``a % b`` in place: SQLite takes the remainder of both operands as integers (truncated:
    ``7.5 % 2`` is 1.0, PostgreSQL's numeric remainder 1.5) and ``a % 0`` is NULL (an error on
    PostgreSQL). A value not known to be an integer is truncated as ``CAST(… AS INTEGER)``
    does, and a divisor that may be 0 is ``NULLIF(b, 0)``."""
    for key in ("this", "expression"):
        value = node.args[key]
        if _integer_valued(value, ctx):
            continue
        number = exp.Cast(this=value, to=exp.DataType(this=exp.DataType.Type.INT, nested=False))
        integer_cast(number, ctx)
        node.set(key, number)
    divisor = node.expression
    if not (isinstance(divisor, exp.Literal) and str(divisor.this).strip("0") != ""):
        holder = exp.Nullif(expression=exp.Literal.number(0))
        divisor.replace(holder)
        holder.set("this", divisor)


def real_literals(node: exp.Add | exp.Sub | exp.Mul | exp.Div, ctx: Context) -> None:
    """A decimal literal in arithmetic (``qty * 1.1``, ``x / 3.0``) in place as a double:
    SQLite's ``1.1`` is a REAL, so it computes in doubles (``3 * 1.1`` is 3.3000000000000003,
    not equal to 3.3; ``1 / 3.0`` is 0.3333333333333333); PostgreSQL's is an exact numeric
    (3.3, equal; 0.33333333333333333333)."""
    for key in ("this", "expression"):
        side = node.args.get(key)
        number = side.this if isinstance(side, exp.Neg) else side
        if (
            isinstance(side, exp.Expr)
            and isinstance(number, exp.Literal)
            and not number.is_string
            and _decimal(str(number.this))
        ):
            double = exp.Cast(to=exp.DataType(this=exp.DataType.Type.DOUBLE, nested=False))
            side.replace(double)
            double.set("this", side)


def _decimal(text: str) -> bool:
    return "." in text or "e" in text or "E" in text


def aggregate_of_truths(node: exp.Sum | exp.Avg | exp.Max | exp.Min, ctx: Context) -> None:
    """``sum(status = 'hadir')`` (SQLite's count of the rows where it holds: a truth value, or a
    BOOLEAN column, is 1 or 0) in place as ``SUM(CAST(… AS INT))``: PostgreSQL has no
    sum/avg/max of booleans. An
    average is of doubles, as SQLite's always is (PostgreSQL's avg of integers is a numeric
    with twenty digits: 0.33333333333333333333 where SQLite gives 0.3333333333333333)."""
    value = node.this
    inner = value
    while isinstance(inner, exp.Paren):
        inner = inner.this
    if not isinstance(inner, exp.Distinct) and _truth_value(value, ctx):  # (a BOOLEAN column too)
        cast = exp.Cast(to=exp.DataType(this=exp.DataType.Type.INT, nested=False))
        value.replace(cast)
        cast.set("this", value)
        value = cast
    if isinstance(inner, exp.Distinct):
        if len(inner.expressions) != 1:
            return
        value = inner.expressions[0]
    if isinstance(node, exp.Avg):
        double = exp.Cast(to=exp.DataType(this=exp.DataType.Type.DOUBLE, nested=False))
        value.replace(double)
        double.set("this", value)
