"""One statement through the pipeline: parsed by sqlglot (``read=SQLITE``), rewritten where
sqlglot passes SQLite-only syntax through or means something else, generated as PostgreSQL.
The driver (:mod:`.core`) decides what reaches it and runs the scratch schema."""

from __future__ import annotations

import contextlib

import sqlglot
from sqlglot import exp

from malnu_tui.engine.translate.columnvalues import (
    DT_TAG,
    as_sqlite_text,
    double_quoted_strings,
    rewrite_booleans,
    rewrite_text_datetimes,
    text_columns,
)
from malnu_tui.engine.translate.common import (
    Context,
    compact_lists,
    normalise_identifiers,
    parse_sqlite,
    parse_sqlite_table_constraints,
    pg_sql,
    plain_index_order,
    table_name,
)
from malnu_tui.engine.translate.expressions import FUNCTION_NODES, rewrite_functions
from malnu_tui.engine.translate.functions import Untranslatable
from malnu_tui.engine.translate.keys import rewrite_foreign_keys
from malnu_tui.engine.translate.leftovers import leftover_syntax
from malnu_tui.engine.translate.plaininsert import plain_insert
from malnu_tui.engine.translate.rowid import insert_rowid, mentions_rowid, rewrite_rowid
from malnu_tui.engine.translate.statements import (
    insert_text_datetimes,
    rewrite_column,
    rewrite_create_table,
    rewrite_insert,
)
from malnu_tui.engine.translate.truth import CONDITION_NODES, integer_conditions, update_truths
from malnu_tui.engine.translate.typewords import one_word_types

__all__ = ["generate"]


def generate(
    text: str,
    ctx: Context,
    *,
    expression_only: bool = False,
    text_value: bool = False,
    condition: bool = False,
) -> str:
    """Parse one SQLite statement, rewrite it and generate PostgreSQL (raises Untranslatable).
    ``text_value``: the expression (``expression_only``) is stored in a TEXT column, so a
    date/time value is written in SQLite's text form; ``condition``: it is read as a
    condition (a trigger's WHEN)."""
    tree: exp.Expr | None = plain_insert(text)  # (a seed file's rows: not parsed)
    if tree is None:
        tree = _parsed(text)
    if isinstance(tree, exp.Command):
        raise Untranslatable(
            str(tree.this).upper(),
            "sqlglot does not understand it and would pass it through unchanged",
            "write the PostgreSQL equivalent by hand",
        )
    if isinstance(tree, exp.Create):
        kind = str(tree.args.get("kind") or "").upper()
        if kind == "TABLE":
            rewrite_create_table(tree, ctx)
        elif kind == "VIEW" and tree.args.get("exists"):
            tree.set("exists", False)
            tree.set("replace", True)
            ctx.note(
                "CREATE VIEW IF NOT EXISTS",
                "became CREATE OR REPLACE VIEW (PostgreSQL has no IF NOT EXISTS for views)",
            )
    elif isinstance(tree, exp.Alter):
        table = table_name(tree.this) or ""
        for action in tree.args.get("actions") or []:
            if isinstance(action, exp.ColumnDef):
                rewrite_foreign_keys(action, table, ctx)
                rewrite_column(action, table, ctx)
    elif isinstance(tree, exp.Insert):
        if isinstance(tree.this, exp.Schema) and mentions_rowid(text):
            insert_rowid(tree.this, ctx)  # (before: the key written moves its sequence)
        rewrite_insert(tree, ctx)
    elif isinstance(tree, exp.Update) and isinstance(tree.this, exp.Table):
        update_truths(list(tree.expressions), tree.this.name, ctx)
    # Each pass walks the tree: skip those that cannot apply (cheap checks first).
    if ctx.sqlite_accepted and '"' in text and not isinstance(tree, exp.Alter | exp.Drop):
        double_quoted_strings(tree, ctx)  # (after ALTER/DROP the names it used are gone)
    bools: set[str] = set()
    # One walk for the tables referenced (referenced_tables), the function nodes, and what the
    # later passes look at (valid for them while rewrite_functions replaces nothing but by
    # opaque values, see Context.replaced: the boolean rewrite only swaps literals).
    table_nodes: list[exp.Expr] = []
    calls: list[exp.Expr] = []
    compares: list[exp.Expr] = []  # EQ, NEQ, In, GT, GTE, LT, LTE, Between
    idents: list[exp.Expr] = []
    holders: list[exp.Expr] = []
    conditions: list[exp.Expr] = []  # nodes reading a child as a condition (WHERE, NOT, AND…)
    # Each node to the list of its kind (decided once per class), without a test per kind.
    sinks = (
        None,
        idents.append,
        table_nodes.append,
        calls.append,
        compares.append,
        compares.append,
        compares.append,
        holders.append,
        conditions.append,
    )
    kinds = _KINDS
    for node in tree.bfs():  # (= tree.walk(), one generator less)
        found = kinds.get(type(node))
        if found is None:
            found = kinds[type(node)] = _kind(node)
        if found:
            sinks[found](node)  # type: ignore[misc]
    tables = [str(t.name) for t in table_nodes if t.name]
    ctx.tables = tables
    # (a CREATE VIEW's or CREATE TABLE … AS's query too: SQLite names the column the key's,
    # as the renamed one is; it was emitted unchanged and the mirror's up failed on it)
    if (
        (tables or ctx.row_table)
        and (not isinstance(tree, exp.Create | exp.Alter) or _has_query(tree))
        and mentions_rowid(text)
    ):
        rewrite_rowid(tree, ctx)  # (renames identifiers in place: the walk's lists stay valid)
    tree = rewrite_functions(tree, ctx, calls)
    walked = not ctx.replaced
    if walked and ctx.opaque and compares:
        # Replaced by opaque values only: what the replaced nodes held is out of the tree.
        # (Identifiers and index holders there are harmless to rewrite: nothing generates
        # them.)
        compares = [n for n in compares if n.root() is tree]
    # EQ, NEQ and In (rewrite_booleans); EQ, NEQ, GT, GTE, LT, LTE, Between
    # (rewrite_text_datetimes): in walk order.
    comparisons = [n for n in compares if kinds[type(n)] != _ORDER] if compares else compares
    compared: list[exp.Expr] | None = comparisons if walked else None
    # Compared with nothing, a view whose CREATE waits (SchemaState.booleans_later) is not
    # asked about now.
    maybe_later = False
    if isinstance(tree, exp.Create) and ctx.state.view_waiting():
        if compared is None:  # (as rewrite_booleans would find them)
            compared = list(tree.find_all(exp.EQ, exp.NEQ, exp.In))
        maybe_later = not compared
    for t in tables:
        if not (maybe_later and ctx.state.booleans_later(t)):
            bools |= ctx.state.boolean_columns(t)
    rewrite_booleans(tree, bools, compared)
    root = tree.expressions[0] if condition and isinstance(tree, exp.Select) else None
    if (conditions or root is not None) and (tables or ctx.row_table):
        if not walked:  # (replaced nodes: the first walk's list may hold nodes now gone)
            conditions = list(tree.find_all(*CONDITION_NODES))
        integer_conditions(tree, conditions, ctx, root)
    if ctx.tagged and not isinstance(tree, exp.Create | exp.Alter):
        text_cols = text_columns(tables, ctx.state)
        if text_cols:
            ordered = [n for n in compares if kinds[type(n)] != _IN] if walked else None
            if rewrite_text_datetimes(tree, text_cols, ordered):
                walked = False
        if isinstance(tree, exp.Insert) and insert_text_datetimes(tree, ctx.state):
            walked = False
    if text_value and isinstance(tree, exp.Select) and DT_TAG in tree.expressions[0].meta:
        tree.expressions[0].replace(as_sqlite_text(tree.expressions[0]))
        walked = False
    normalise_identifiers(tree, idents if walked else None)
    if isinstance(tree, exp.Create | exp.Insert):
        plain_index_order(tree, holders if walked else None)
    if expression_only and isinstance(tree, exp.Select):
        out: str = pg_sql(tree.expressions[0], copy=False)
    else:
        # One column per line for CREATE TABLE (readable in plan/diff); the rest on one line.
        pretty = isinstance(tree, exp.Create) and isinstance(tree.this, exp.Schema)
        out = pg_sql(tree, pretty=pretty, copy=False)
        if pretty:
            out = compact_lists(out)
    leftover = leftover_syntax(out)
    if leftover is not None:
        raise Untranslatable(
            leftover,
            "the translation would still contain SQLite-only syntax",
            "write the PostgreSQL equivalent by hand",
        )
    return out


def _parsed(text: str) -> exp.Expr:
    """The one statement of ``text`` as sqlglot's SQLite parser reads it."""
    try:
        trees = [t for t in parse_sqlite(text) if t is not None]
    except sqlglot.errors.SqlglotError as exc:
        joined = one_word_types(text)  # a column type of several words: read as one
        if joined is not None:
            return _parsed(joined)
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        with contextlib.suppress(sqlglot.errors.SqlglotError):
            again = parse_sqlite_table_constraints(text)  # (commas SQLite lets go unwritten)
            if again is not None:
                return _one([t for t in again if t is not None], text)
        raise Untranslatable(
            "unparsed SQL", f"sqlglot cannot parse it ({first})",
            "simplify the statement, or keep a PostgreSQL-specific migration",
        ) from None  # fmt: skip
    return _one(trees, text)


def _one(trees: list[exp.Expr], text: str) -> exp.Expr:
    if len(trees) != 1:
        raise Untranslatable("statement", "sqlglot read it as several statements", "")
    if isinstance(trees[0], exp.Command) and (joined := one_word_types(text)) is not None:
        return _parsed(joined)  # an ADD COLUMN of such a type: read as a command, untranslated
    return trees[0]


# What the first walk of generate collects, by node class (decided once per class).
_OTHER, _IDENT, _TABLE, _CALL, _COMPARISON, _IN, _ORDER, _HOLDER, _CONDITION = range(9)
_KINDS: dict[type, int] = {}


def _has_query(tree: exp.Expr) -> bool:
    """A CREATE VIEW or CREATE TABLE … AS, whose query reads rows (and so their rowid)."""
    return isinstance(tree, exp.Create) and isinstance(tree.expression, exp.Query)


def _kind(node: exp.Expr) -> int:
    if isinstance(node, exp.Identifier):
        return _IDENT
    if isinstance(node, exp.Table):
        return _TABLE
    if isinstance(node, FUNCTION_NODES):
        return _CALL
    if isinstance(node, exp.EQ | exp.NEQ):
        return _COMPARISON
    if isinstance(node, exp.In):
        return _IN
    if isinstance(node, exp.GT | exp.GTE | exp.LT | exp.LTE | exp.Between):
        return _ORDER
    if isinstance(node, exp.IndexParameters | exp.OnConflict):
        return _HOLDER
    if isinstance(node, CONDITION_NODES):
        return _CONDITION
    return _OTHER
