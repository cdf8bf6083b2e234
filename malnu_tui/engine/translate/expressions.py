"""Expression rewrites: SQLite's functions and operators where PostgreSQL's differ or are
missing (date/time values tagged for :mod:`.columnvalues`, which rewrites values by the column
they meet)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from sqlglot import exp

from malnu_tui.engine.translate.columnvalues import COMPARISONS, tag
from malnu_tui.engine.translate.common import Context, lit, normalise_identifiers, pg_expr, pg_sql
from malnu_tui.engine.translate.functions import (
    NOW_UTC,
    Untranslatable,
    date_function_sql,
    epoch_sql,
    julianday_sql,
    strftime_sql,
    timestamp_sql,
)
from malnu_tui.engine.translate.jsonvalues import (
    empty_json_text,
    json_each_membership,
    json_extract_sql,
)
from malnu_tui.engine.translate.numbers import (
    INTEGER_CASTS,
    aggregate_of_truths,
    blob_sql,
    concat_text,
    group_concat_text,
    integer_cast,
    integer_remainder,
    numeric_round,
    real_literals,
    truth_or_boolean,
)
from malnu_tui.engine.translate.patterns import glob_regex, printf_format
from malnu_tui.engine.translate.strings import (
    binary_collation,
    random_hex_digits,
    substr_from_the_end,
)
from malnu_tui.engine.translate.unsupported import (
    HINTS,
    NO_EQUIVALENT,
    TYPED_NODES,
    typed_reason,
)

__all__ = ["DATE_FUNCS", "FUNCTION_NODES", "rewrite_functions"]

# Functions PostgreSQL has with the same name and meaning that sqlglot leaves anonymous.
_PG_SAME = frozenset({"NOW", "GEN_RANDOM_UUID", "TO_CHAR", "DATE_TRUNC", "TO_TIMESTAMP", "CHR"})
DATE_FUNCS = {"DATETIME", "DATE", "TIME"}


# -- expression rewrites ----------------------------------------------------------------------
def rewrite_functions(
    tree: exp.Expr, ctx: Context, nodes: list[exp.Expr] | None = None
) -> exp.Expr:
    """Rewrite the function nodes of ``tree`` (``nodes``: those of ``tree.walk()`` that are
    FUNCTION_NODES, in walk order, when the caller already has them)."""
    # A CREATE TABLE is generated pretty: its values stay nodes (see _pg_value); so do values
    # whose parent's SQL may depend on what they are (a cast, a division…).
    pretty = isinstance(tree, exp.Create) and isinstance(tree.this, exp.Schema)

    def pg_value(node: exp.Expr, text: str) -> exp.Expr:
        if pretty or not isinstance(node.parent, _CONTEXT_FREE):
            return pg_expr(text)
        return _pg_value(text)

    def fix(node: exp.Expr) -> exp.Expr:
        empty = empty_json_text(node)
        if empty is not None:
            return pg_value(node, empty)
        if isinstance(node, exp.LowerHex | exp.Hex):
            random_hex = random_hex_digits(node, ctx)
            if random_hex is not None:
                return random_hex
        if isinstance(node, exp.Anonymous):
            name = str(node.this).upper()
            args = list(node.expressions)
            if name in DATE_FUNCS:
                lits = tuple(lit(a) for a in args)
                first = _first_sql(args, lits, 0)
                value, timestamp = _date_sql(name, lits, first)
                return tag(ctx, pg_value(node, value), name, *timestamp)
            if name == "STRFTIME" and args:
                lits = tuple(lit(a) for a in args)
                first = _first_sql(args, lits, 1)
                return pg_value(node, _strftime_sql(lits[0], lits[1:], first))
            if name == "JULIANDAY":
                lits = tuple(lit(a) for a in args)
                first = _first_sql(args, lits, 0)
                value = timestamp_sql("datetime", list(lits), first)[0]
                return pg_value(node, julianday_sql(value))
            if name == "TOTAL" and len(args) == 1 and not isinstance(node.parent, exp.Window):
                return _total(args[0], ctx)
            if name == "UNIXEPOCH":
                if not args:
                    return pg_value(node, epoch_sql("now()"))
                lits = tuple(lit(a) for a in args)
                if any(a is not None and a.lower() in _SUBSEC for a in lits):
                    return pg_value(node, _subsec_epoch_sql(args, lits))
                first = _arg_sql(args[0])
                return pg_value(node, epoch_sql(timestamp_sql("datetime", list(lits), first)[0]))
            if name == "JSON_VALID" and len(args) == 1 and _in_check(node):
                ctx.note(
                    "json_valid() in a CHECK",
                    "became a cast to json: text that is not JSON is refused as SQLite's CHECK "
                    "refuses it, with PostgreSQL's 'invalid input syntax for type json'",
                )
                return pg_value(
                    node, f"NULLIF(CAST({_arg_sql(args[0])} AS JSON) IS NOT NULL, FALSE)"
                )
            if name == "PRINTF" and args:
                return printf_format(args[0], args[1:], ctx)
            if name == "JSON_EACH" and json_each_membership(node, ctx):
                return node  # (the IN around it was replaced)
            if name in HINTS and len(args) == HINTS[name]:
                hinted: exp.Expr = args[0]  # a planner hint: SQLite returns the value as is
                return hinted
            if name in NO_EQUIVALENT:
                why, suggestion = NO_EQUIVALENT[name]
                raise Untranslatable(f"{name.lower()}()", why, suggestion)
            if name not in _PG_SAME:
                raise Untranslatable(
                    f"{name.lower()}()",
                    "a function the translator does not know in both dialects",
                    "write the PostgreSQL equivalent by hand",
                )
        if isinstance(node, exp.Date):
            args = [node.this, *node.expressions]
            first = _arg_sql(args[0])
            value, timestamp = _date_sql("date", tuple(lit(a) for a in args), first)
            return tag(ctx, pg_value(node, value), "DATE", *timestamp)
        if isinstance(node, exp.CurrentTimestamp | exp.CurrentDate | exp.CurrentTime):
            # SQLite's current time is UTC whatever the session's time zone.
            kind = {exp.CurrentTimestamp: "DATETIME", exp.CurrentDate: "DATE"}.get(
                type(node), "TIME"
            )
            out = (
                _now_utc()
                if kind == "DATETIME"
                else pg_value(node, date_function_sql(kind, ["now"], ""))
            )
            return tag(ctx, out, kind, NOW_UTC, False)
        if isinstance(node, exp.Limit) and _negative_number(node.expression):
            node.set("expression", exp.Var(this="ALL"))  # SQLite: a negative LIMIT is none
            return node
        if isinstance(node, exp.HexString):
            return pg_value(node, blob_sql(str(node.this)))
        if isinstance(node, exp.Cast) and node.to.is_type(*INTEGER_CASTS):
            integer_cast(node, ctx)
            return node
        for node_type, rewrite in _IN_PLACE:
            if isinstance(node, node_type):
                rewrite(node, ctx)
                return node
        if isinstance(node, exp.Typeof):
            raise Untranslatable(
                "typeof()", "SQLite's storage classes do not exist in PostgreSQL", "pg_typeof()"
            )
        if isinstance(node, exp.TimeToStr):
            fmt = lit(node.args.get("format"))
            value = node.this
            while isinstance(value, exp.TsOrDsToTimestamp | exp.TsOrDsToDate | exp.Cast):
                value = value.this
            return pg_value(node, _strftime_sql(fmt, (lit(value),), _arg_sql(value)))
        if isinstance(node, exp.Glob):
            return glob_regex(node, ctx)
        if isinstance(node, exp.Rand):
            raise Untranslatable(
                "random()",
                "SQLite's random() is a 64-bit integer, PostgreSQL's a float in [0, 1)",
                "write the PostgreSQL expression by hand",
            )
        if isinstance(node, exp.JSONExtract | exp.JSONExtractScalar):
            return json_extract_sql(node, ctx)
        if isinstance(node, exp.Format):
            return printf_format(node.this, list(node.expressions), ctx)
        reason = typed_reason(node)
        if reason is not None:
            raise Untranslatable(*reason)
        if isinstance(node, exp.CurrentVersion):
            raise Untranslatable("sqlite_version()", "no meaning on PostgreSQL", "")
        if isinstance(node, exp.Like):
            # SQLite's LIKE ignores ASCII case; PostgreSQL's does not. (The same children.)
            ilike = exp.ILike(**node.args)
            ilike.meta[_WALK_KEPT] = True
            return ilike
        if isinstance(node, exp.Greatest | exp.Least):
            ctx.note(
                "max(a, b) / min(a, b)",
                "GREATEST/LEAST ignore NULL arguments where SQLite returns NULL",
            )
        return node

    # Only the nodes ``fix`` acts on, parents before children; what a replaced node held is not
    # looked at again (like sqlglot's transform, without a Python call for every node).
    replaced: set[int] = set()
    if nodes is None:
        nodes = [n for n in tree.walk() if isinstance(n, FUNCTION_NODES)]
    for node in nodes:
        up = node.parent
        while up is not None and id(up) not in replaced:
            up = up.parent
        if up is not None:
            continue
        new = fix(node)
        if new is not node:
            if isinstance(new, exp.Var) or new.meta.get(_WALK_KEPT):
                ctx.opaque = True
            else:
                ctx.replaced = True
            replaced.add(id(node))
            if node is tree:
                tree = new
            else:
                node.replace(new)
    return tree


# Nodes a pass after rewrite_functions looks at or changes (booleans, date/time text, index
# order) besides identifiers: a value holding none of them comes out of those passes as it is.
_PASSED = (*COMPARISONS, exp.In, exp.Table, exp.IndexParameters, exp.OnConflict)


# Parents whose SQL is their children's SQL joined with fixed words, whatever the children are.
_CONTEXT_FREE = (*COMPARISONS, exp.Alias, exp.Paren, exp.Tuple)


def _pg_value(text: str) -> exp.Expr:
    """``pg_expr(text)``, or when no later pass can change the value but for its identifiers'
    form, a node holding the value's PostgreSQL (generated once per text, identifiers in their
    final form): no copy of the template, no walk over it, nothing to generate again."""
    sql = _value_sql(text)
    return pg_expr(text) if sql is None else exp.Var(this=sql)


@functools.lru_cache(maxsize=4096)
def _value_sql(text: str) -> str | None:
    value = pg_expr(text)
    if any(isinstance(node, _PASSED) for node in value.walk()):
        return None
    normalise_identifiers(value)
    return pg_sql(value, copy=False)


def _first_sql(args: list[exp.Expr], lits: tuple[str | None, ...], i: int) -> str:
    """The PostgreSQL of the time value ``args[i]`` of a date/time function ("now()" when
    there is none; unused, so not generated, when it is the string 'now')."""
    if i >= len(args):
        return "now()"
    value = lits[i]
    if value is not None and value.lower() == "now":
        return ""  # (the function's SQL is based on the current time, not on this text)
    return _arg_sql(args[i])


@functools.lru_cache(maxsize=4096)
def _date_sql(name: str, lits: tuple[str | None, ...], first: str) -> tuple[str, tuple[str, bool]]:
    """``date_function_sql`` and ``timestamp_sql`` of a call (the same for the same call)."""
    return date_function_sql(name, list(lits), first), timestamp_sql(name, list(lits), first)


@functools.lru_cache(maxsize=4096)
def _strftime_sql(fmt: str | None, lits: tuple[str | None, ...], first: str) -> str:
    return strftime_sql(fmt, list(lits), first)


def _arg_sql(node: exp.Expr) -> str:
    """A function argument's PostgreSQL (generating a column or a literal changes nothing: no
    copy for those)."""
    return pg_sql(node, copy=not isinstance(node, exp.Column | exp.Literal))


def _negative_number(node: exp.Expr | None) -> bool:
    while isinstance(node, exp.Paren):
        node = node.this
    return (
        isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal) and not node.this.is_string
    )


def _total(arg: exp.Expr, ctx: Context) -> exp.Expr:
    """``total(x)``: a REAL sum that is 0.0 over no rows (or only NULLs), where sum() is NULL:
    ``CAST(COALESCE(SUM(x), 0) AS DOUBLE PRECISION)``, built around ``x`` itself (rewritten
    after, as any value)."""
    if truth_or_boolean(arg, ctx):  # (the new SUM is not among the nodes still to rewrite)
        cast = exp.Cast(this=arg, to=exp.DataType(this=exp.DataType.Type.INT, nested=False))
        arg = cast
    summed = exp.Coalesce(this=exp.Sum(this=arg), expressions=[exp.Literal.number(0)])
    return exp.Cast(this=summed, to=exp.DataType(this=exp.DataType.Type.DOUBLE, nested=False))


def _now_utc() -> exp.Expr:
    """``(now() AT TIME ZONE 'UTC')``, built directly (the commonest rewrite)."""
    at = exp.AtTimeZone(this=exp.CurrentTimestamp(), zone=exp.Literal.string("UTC"))
    paren = exp.Paren(this=at)
    paren.meta[_WALK_KEPT] = True
    return paren


# meta flag: a replacement after which the first walk's lists stay valid: it holds nothing a
# later pass reads or changes (no identifier, table, comparison, index holder), or the very
# nodes the replaced one held.
_WALK_KEPT = "malnu_walk_kept"


FUNCTION_NODES: tuple[type[exp.Expr], ...] = (
    exp.HexString,
    exp.Cast,
    exp.Round,
    exp.Substring,
    exp.GroupConcat,
    exp.Collate,
    exp.DPipe,
    exp.Mod,
    exp.LowerHex,
    exp.Hex,
    exp.Anonymous,
    exp.Date,
    exp.CurrentTimestamp,
    exp.CurrentDate,
    exp.CurrentTime,
    exp.Typeof,
    exp.TimeToStr,
    exp.Glob,
    exp.Rand,
    exp.JSONExtract,
    exp.JSONExtractScalar,
    exp.CurrentVersion,
    exp.Like,
    exp.Greatest,
    exp.Least,
    exp.Add,
    exp.Sub,
    exp.Mul,
    exp.Div,
    exp.Limit,
    exp.Sum,
    exp.Avg,
    exp.Max,
    exp.Min,
    *TYPED_NODES,
)


_SUBSEC = frozenset({"subsec", "subsecond"})


def _subsec_epoch_sql(args: list[exp.Expr], lits: tuple[str | None, ...]) -> str:
    """``unixepoch(…, 'subsec')`` (SQLite 3.42+; better-auth's and Drizzle's
    ``cast(unixepoch('subsecond') * 1000 as integer)``): seconds with their milliseconds, as
    a REAL. The word may also stand for the time value: ``unixepoch('subsec')`` is now."""
    mods = [a for a in lits[1:] if a is None or a.lower() not in _SUBSEC]
    if lits[0] is not None and lits[0].lower() in _SUBSEC:
        value = timestamp_sql("datetime", ["now", *mods], "")[0]
    else:
        value = timestamp_sql("datetime", [lits[0], *mods], _arg_sql(args[0]))[0]
    return f"CAST(TRUNC(EXTRACT(EPOCH FROM {value}), 3) AS DOUBLE PRECISION)"


def _in_check(node: exp.Expr) -> bool:
    """True inside a CHECK constraint: there a value that raises refuses the row, as a FALSE
    does (elsewhere a query would fail where SQLite's test returned 0)."""
    up = node.parent
    while up is not None:
        if isinstance(up, exp.CheckColumnConstraint | exp.Check):
            return True
        up = up.parent
    return False


# Nodes SQLite computes otherwise, rewritten in place (each rewrite's doc says how), in order.
_IN_PLACE: tuple[tuple[type[exp.Expr], Callable[[Any, Context], None]], ...] = (
    (exp.Round, numeric_round),
    (exp.Collate, lambda node, _ctx: binary_collation(node)),
    (exp.Mod, integer_remainder),
    (exp.DPipe, concat_text),
    (exp.GroupConcat, group_concat_text),
    (exp.Substring, lambda node, _ctx: substr_from_the_end(node)),
    (exp.Sum, aggregate_of_truths),
    (exp.Avg, aggregate_of_truths),
    (exp.Max, aggregate_of_truths),
    (exp.Min, aggregate_of_truths),
    (exp.Add, real_literals),
    (exp.Sub, real_literals),
    (exp.Mul, real_literals),
    (exp.Div, real_literals),
)
