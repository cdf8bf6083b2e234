"""Rewrites by the column a value meets: 0/1 compared with (or inserted into) a BOOLEAN column
becomes FALSE/TRUE, a translated date/time value compared with a TEXT column is written in
SQLite's text form, and a double-quoted word that names no column becomes a string."""

from __future__ import annotations

import re

from sqlglot import exp

from malnu_tui.engine.translate.common import Context, pg_expr, referenced_tables
from malnu_tui.engine.translate.functions import Untranslatable
from malnu_tui.engine.translate.schema import SchemaState

__all__ = [
    "COMPARISONS",
    "DT_TAG",
    "KEEP_INTEGER",
    "as_sqlite_text",
    "bool_literal",
    "double_quoted_strings",
    "rewrite_booleans",
    "rewrite_text_datetimes",
    "strftime_default",
    "tag",
    "text_columns",
]

# The nodes that compare a value with another (or two: BETWEEN).
COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Between)
KEEP_INTEGER = "malnu_integer_test"  # meta flag: a comparison with 0 that stays an integer one


def bool_literal(node: exp.Expr) -> exp.Expr | None:
    if isinstance(node, exp.Literal) and not node.is_string and str(node.this) in ("0", "1"):
        return exp.Boolean(this=str(node.this) == "1")
    return None


DT_TAG = "malnu_datetime"
_TEXT_FORMATS = {"DATETIME": "YYYY-MM-DD HH24:MI:SS", "DATE": "YYYY-MM-DD", "TIME": "HH24:MI:SS"}


def tag(ctx: Context, node: exp.Expr, kind: str, timestamp: str, now: bool) -> exp.Expr:
    """Mark a translated date/time value: SQLite returns it as TEXT, so where it meets a TEXT
    column it must be formatted the way SQLite writes it (from ``timestamp``, in UTC)."""
    node.meta[DT_TAG] = (kind, timestamp, now)
    ctx.tagged = True
    return node


def as_sqlite_text(node: exp.Expr) -> exp.Expr:
    kind, timestamp, now = node.meta[DT_TAG]
    if now:  # SQLite's 'now' is UTC
        timestamp = f"({timestamp}) AT TIME ZONE 'UTC'"
    return pg_expr(f"TO_CHAR({timestamp}, '{_TEXT_FORMATS[kind]}')")


def rewrite_text_datetimes(
    tree: exp.Expr, text_cols: set[str], nodes: list[exp.Expr] | None = None
) -> bool:
    """A date/time value compared with a TEXT column in SQLite's text form; True when one
    was replaced. (``nodes``: the tree's comparisons and BETWEENs in walk order, when the
    caller has them.)"""
    if not text_cols:
        return False
    done = False

    def is_text(node: exp.Expr) -> bool:
        return isinstance(node, exp.Column) and node.name.lower() in text_cols

    def tagged(node: exp.Expr | None) -> bool:
        return node is not None and DT_TAG in (node.meta or {})

    if nodes is None:
        nodes = list(tree.find_all(*COMPARISONS))
    for node in nodes:
        if isinstance(node, exp.Between):
            if is_text(node.this):
                for key in ("low", "high"):
                    side = node.args.get(key)
                    if side is not None and tagged(side):
                        side.replace(as_sqlite_text(side))
                        done = True
            continue
        left, right = node.this, node.expression
        if is_text(left) and tagged(right):
            right.replace(as_sqlite_text(right))
            done = True
        elif is_text(right) and tagged(left):
            left.replace(as_sqlite_text(left))
            done = True
    return done


def text_columns(tables: list[str], state: SchemaState) -> set[str]:
    """Lower-cased names of TEXT-mapped columns of ``tables`` (ambiguous names left out)."""
    if len(tables) == 1:
        one, rest = state.text_columns(tables[0])
        return set(one - rest)
    text: set[str] = set()
    other: set[str] = set()
    for t in tables:
        more, less = state.text_columns(t)
        text |= more
        other |= less
    return text - other


def double_quoted_strings(tree: exp.Expr, ctx: Context) -> None:
    """SQLite reads ``"word"`` as a string when no column has that name (a legacy quirk D1
    inherits); PostgreSQL would look for a column. Only applied when SQLite accepted the
    statement, so the quoted word cannot have been a missing column."""
    tables = referenced_tables(tree)
    if not tables or not all(ctx.state.has_table(t) for t in tables):
        return
    known = {c.name.lower() for t in tables for c in ctx.state.columns(t)}
    known |= {str(a.alias).lower() for a in tree.find_all(exp.Alias)}
    for col in list(tree.find_all(exp.Column)):
        ident = col.this
        if (
            isinstance(ident, exp.Identifier)
            and ident.quoted
            and not col.table
            and str(ident.this).lower() not in known
        ):
            col.replace(exp.Literal.string(str(ident.this)))
            ctx.note(
                f'"{ident.this}"',
                "a double-quoted word SQLite reads as a string (no such column) became a "
                "single-quoted string",
                "use single quotes for strings",
            )


def rewrite_booleans(
    tree: exp.Expr, bool_cols: set[str], comparisons: list[exp.Expr] | None = None
) -> None:
    """0/1 compared with (or listed for) a BOOLEAN column → FALSE/TRUE. (``comparisons``: the
    tree's EQ, NEQ and In nodes in walk order, when the caller has them.)"""
    if not bool_cols:
        return

    def is_bool(node: exp.Expr) -> bool:
        return isinstance(node, exp.Column) and node.name.lower() in bool_cols

    if comparisons is None:
        comparisons = list(tree.find_all(exp.EQ, exp.NEQ, exp.In))
    for node in comparisons:
        if isinstance(node, exp.In):
            if is_bool(node.this):
                for i, item in enumerate(list(node.expressions)):
                    b = bool_literal(item)
                    if b is not None:
                        node.expressions[i].replace(b)
            continue
        left, right = node.this, node.expression
        if node.meta.get(KEEP_INTEGER):
            continue
        if is_bool(left) and (b := bool_literal(right)) is not None:
            right.replace(b)
        elif is_bool(right) and (b := bool_literal(left)) is not None:
            left.replace(b)


# strftime() formats whose text PostgreSQL reads back as the same value of a column's type.
_FULL_TIME = r"%H:%M(?::%S|:%f)?"
_READ_BACK = {
    "TIMESTAMP": re.compile(rf"%Y-%m-%d[ T]{_FULL_TIME}Z?"),
    "TIMESTAMPTZ": re.compile(rf"%Y-%m-%d[ T]{_FULL_TIME}Z?"),
    "DATE": re.compile(r"%Y-%m-%d"),
    "TIME": re.compile(_FULL_TIME),
}


def _strftime_format(value: exp.Expr) -> str | None:
    if isinstance(value, exp.TimeToStr):
        fmt = value.args.get("format")
    elif isinstance(value, exp.Anonymous) and str(value.this).upper() == "STRFTIME":
        fmt = value.expressions[0] if value.expressions else None
    else:
        return None
    return str(fmt.this) if isinstance(fmt, exp.Literal) and fmt.is_string else None


def strftime_default(value: exp.Expr, pg_type: str, column: str) -> exp.Expr | None:
    """A column's ``DEFAULT (strftime(…))`` where the column is a date/time one on PostgreSQL
    (``DATETIME`` → ``TIMESTAMP``): SQLite keeps the text, PostgreSQL refused the default
    ("column cdate is of type timestamp … but default expression is of type text"; every
    table of a D1 set, ``DEFAULT (STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW'))``). Text that reads
    back as the same value is cast (a UTC wall time, so into TIMESTAMPTZ at UTC); any other
    format (``'%s'``, ``'%d/%m/%Y'``) is withheld. None: no strftime(), or no such column."""
    kind = pg_type.split("(")[0].strip().upper()
    fmt = _strftime_format(value) if kind in _READ_BACK else None
    if fmt is None:
        return None
    if not _READ_BACK[kind].fullmatch(fmt):
        raise Untranslatable(
            f"column {column} DEFAULT strftime('{fmt}')",
            f"SQLite keeps that text in the column; PostgreSQL's {kind} column cannot hold it "
            "and refuses the default",
            "declare the column TEXT, or write the PostgreSQL default by hand",
        )
    as_type = "TIMESTAMP" if kind == "TIMESTAMPTZ" else kind
    cast: exp.Expr = exp.Cast(this=value, to=exp.DataType.build(as_type))
    if kind == "TIMESTAMPTZ":
        cast = exp.AtTimeZone(this=cast, zone=exp.Literal.string("UTC"))
    return exp.Paren(this=cast)
