"""An integer column used as a condition: ``WHERE email_verified``, ``NOT banned``, ``CASE WHEN
is_active THEN …``.

SQLite has no boolean type: Drizzle's ``integer({ mode: 'boolean' })`` and Knex's booleans are
INTEGER columns holding 0/1, and SQLite reads any non-zero number as true. PostgreSQL refuses a
``bigint`` where it needs a boolean (``argument of WHERE must be type boolean``), and inside a
trigger's body only when the trigger first fires: PL/pgSQL checks a statement's types when it
runs it, so ``plan --check`` and ``parity`` accept the function. Such a column becomes
``(col <> 0)``, SQLite's own reading.
"""

from __future__ import annotations

from sqlglot import exp

from malnu_tui.engine.translate.common import Context

__all__ = ["CONDITION_NODES", "integer_conditions", "stored_truth", "truth_value", "update_truths"]

# Nodes whose children are read as conditions.
CONDITION_NODES = (exp.Where, exp.Having, exp.If, exp.Not, exp.And, exp.Or, exp.Join, exp.Is)


def integer_conditions(
    tree: exp.Expr, nodes: list[exp.Expr], ctx: Context, root: exp.Expr | None = None
) -> None:
    """Each integer column read as a condition by one of ``nodes`` (CONDITION_NODES of
    ``tree``), or that is ``root`` (a trigger's WHEN), becomes ``(col <> 0)``, in place (the
    column node itself is kept)."""
    read: list[exp.Column] = []
    while isinstance(root, exp.Paren):
        root = root.this
    if isinstance(root, exp.Column):
        read.append(root)
    for node in nodes:
        if isinstance(node, exp.Join):
            children = [node.args.get("on")]
        elif isinstance(node, exp.And | exp.Or):
            children = [node.this, node.expression]
        elif isinstance(node, exp.If) and isinstance(node.parent, exp.Case) and node.parent.this:
            continue  # CASE a WHEN b: b is a value compared with a, no condition
        elif isinstance(node, exp.Is):
            if not isinstance(node.expression, exp.Boolean):
                continue  # (IS NULL, IS 'x': a value)
            children = [node.this]  # flag IS TRUE / IS FALSE
        else:
            children = [node.this]
        for child in children:
            while isinstance(child, exp.Paren):
                child = child.this
            if isinstance(child, exp.Column):
                read.append(child)
    if not read:  # (the commonest case: comparisons only)
        return
    owners: dict[str, str] = {}
    for table in tree.find_all(exp.Table):
        if table.name:
            owners[(table.alias_or_name or table.name).lower()] = table.name
    if ctx.row_table is not None:
        owners.setdefault("new", ctx.row_table)
        owners.setdefault("old", ctx.row_table)
    if isinstance(tree, exp.Insert):
        target = tree.this.this if isinstance(tree.this, exp.Schema) else tree.this
        if isinstance(target, exp.Table):
            owners.setdefault("excluded", target.name)  # (an upsert's proposed row)
    for col in read:
        if _integer_column(col, owners, ctx):
            holder = exp.Paren()
            col.replace(holder)
            holder.set("this", exp.NEQ(this=col, expression=exp.Literal.number(0)))


def _integer_column(col: exp.Column, owners: dict[str, str], ctx: Context) -> bool:
    if col.table:
        owner = owners.get(col.table.lower())
        tables = [owner] if owner else []
    else:
        tables = list(dict.fromkeys(t.lower() for t in ctx.tables))
    name = col.name.lower()
    declared = [
        c.declared.strip().upper()
        for t in tables
        for c in ctx.state.columns(t)
        if c.name.lower() == name
    ]
    return bool(declared) and all("INT" in d and d not in ("BOOLEAN", "BOOL") for d in declared)


def truth_value(value: exp.Expr) -> bool:
    """A comparison, AND/OR/NOT, IS, IN, LIKE, EXISTS or TRUE/FALSE (in parentheses or not)."""
    while isinstance(value, exp.Paren):
        value = value.this
    return isinstance(value, exp.Predicate | exp.Connector | exp.Not | exp.Boolean)


def stored_truth(value: exp.Expr) -> None:
    """A truth value (see :func:`truth_value`) stored in a column that is no BOOLEAN
    (``UPDATE t SET is_late = (due < date('now'))``, ``INSERT … SELECT a = b``): SQLite stores
    1 or 0 (NULL stays NULL). PostgreSQL refuses a boolean for an integer column and writes
    'true' into a TEXT one. In place: ``CAST(value AS INT)`` (TRUE/FALSE: 1/0)."""
    inner = value
    while isinstance(inner, exp.Paren):
        inner = inner.this
    if isinstance(inner, exp.Boolean):
        value.replace(exp.Literal.number(1 if inner.this else 0))
    elif isinstance(inner, exp.Predicate | exp.Connector | exp.Not):
        cast = exp.Cast(to=exp.DataType(this=exp.DataType.Type.INT, nested=False))
        value.replace(cast)
        cast.set("this", value)


def update_truths(assignments: list[exp.Expr], table: str, ctx: Context) -> None:
    """:func:`stored_truth` for each ``SET col = value`` of ``table`` (an UPDATE's, an upsert's
    DO UPDATE) whose column is known and not BOOLEAN. (The schema is asked only about a truth
    value: most assignments hold none.)"""
    for assignment in assignments:
        if not (
            isinstance(assignment, exp.EQ)
            and isinstance(assignment.this, exp.Column)
            and truth_value(assignment.expression)
        ):
            continue
        name = assignment.this.name.lower()
        state = ctx.state
        known = state.has_table(table) and any(c.name.lower() == name for c in state.columns(table))
        if known and name not in state.boolean_columns(table):
            stored_truth(assignment.expression)
