"""Foreign keys: what SQLite accepts and PostgreSQL rejects.

- A ``REFERENCES`` to a table that does not exist yet (schemas generated in alphabetical order)
  is taken out of the ``CREATE TABLE`` and added by ``ALTER TABLE … ADD FOREIGN KEY`` right after
  the referenced table is created.
- A key whose column types differ after translation (``text`` → ``bigint``) or whose parent
  columns are not a primary key or unique is left out, with a warning: PostgreSQL would refuse
  the whole table.
- The SQLite table rebuild (``DROP TABLE t`` … ``ALTER TABLE new_t RENAME TO t``) drops the keys
  of other tables that point at ``t`` (and the views reading it) with ``t``, and re-creates them
  once ``t`` exists again.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import sqlglot
from sqlglot import exp

from malnu_tui.engine.translate.common import (
    SQLITE,
    Context,
    normalise_identifiers,
    pg_name,
    pg_sql,
    table_name,
)
from malnu_tui.engine.translate.schema import PendingKey, SchemaState
from malnu_tui.engine.translate.types import map_type

__all__ = [
    "dropped_table_keys",
    "key_problem",
    "rename_pending",
    "resolve_pending",
    "rewrite_foreign_keys",
]

_INTEGERS = {"BIGINT", "INTEGER", "SMALLINT"}


def _family(pg_type: str | None) -> str:
    base = re.sub(r"\(.*\)", "", pg_type or "").strip()
    if base in _INTEGERS:
        return "integer"
    if base in ("TEXT", "VARCHAR"):
        return "text"
    return base


def key_problem(
    state: SchemaState,
    child: str,
    columns: tuple[str, ...],
    target: str,
    ref_columns: tuple[str, ...],
) -> str | None:
    """Why PostgreSQL would reject this foreign key (None when it would accept it)."""
    parent_cols = {c.name.lower(): c for c in state.columns(target)}
    child_cols = {c.name.lower(): c for c in state.columns(child)}
    refs = ref_columns or tuple(state.primary_key(target))
    if not refs:
        return f"{target} has no primary key and the key names no columns"
    if len(refs) != len(columns):
        return "the key and the referenced columns differ in number"
    keys = [{k.lower() for k in key} for key in state.unique_keys(target)]
    if {r.lower() for r in refs} not in keys:
        return f"{target}({', '.join(refs)}) is not a primary key or unique"
    for col, ref in zip(columns, refs, strict=True):
        mine, theirs = child_cols.get(col.lower()), parent_cols.get(ref.lower())
        if mine is None or theirs is None:
            continue  # unknown to the scratch schema: PostgreSQL will say
        a, b = map_type(mine.declared).postgres, map_type(theirs.declared).postgres
        if _family(a) != _family(b):
            return (
                f"{child}.{col} is {(a or 'untyped').lower()} but {target}.{ref} is "
                f"{(b or 'untyped').lower()} after translation"
            )
    return None


def _fk_nodes(node: exp.Expr) -> list[tuple[exp.Expr, tuple[str, ...], exp.Reference, str]]:
    """Each foreign key in a CREATE TABLE schema or an added column: (node to remove, local
    columns, the reference, the constraint's name or "")."""
    found: list[tuple[exp.Expr, tuple[str, ...], exp.Reference, str]] = []
    items = node.expressions if isinstance(node, exp.Schema) else [node]
    for item in items:
        if isinstance(item, exp.ColumnDef):
            for c in item.args.get("constraints") or []:
                kind = c.args.get("kind")
                if isinstance(kind, exp.Reference):
                    found.append((c, (str(item.name),), kind, ""))
            continue
        name = ""
        fk = item
        if isinstance(item, exp.Constraint):
            inner = [e for e in item.expressions if isinstance(e, exp.ForeignKey)]
            if len(inner) != 1 or len(item.expressions) != 1:
                continue
            fk, name = inner[0], str(item.name)
        if isinstance(fk, exp.ForeignKey) and isinstance(fk.args.get("reference"), exp.Reference):
            cols = tuple(str(e.name) for e in fk.expressions)
            found.append((item, cols, fk.args["reference"], name))
    return found


def _ref_columns(ref: exp.Reference) -> tuple[str, ...]:
    target = ref.this
    if isinstance(target, exp.Schema):
        return tuple(str(e.name) for e in target.expressions)
    return ()


def _add_sql(child: str, columns: tuple[str, ...], ref: exp.Reference, name: str) -> str:
    fk = exp.ForeignKey(expressions=[exp.to_identifier(c) for c in columns], reference=ref.copy())
    normalise_identifiers(fk)
    head = f"ALTER TABLE {pg_name(child)} ADD "
    if name:
        head += f"CONSTRAINT {pg_name(name)} "
    return head + pg_sql(fk)


def rewrite_foreign_keys(node: exp.Expr, table: str, ctx: Context) -> None:
    """Take out of ``node`` (a CREATE TABLE schema or an added column) the foreign keys
    PostgreSQL cannot take here: forward references wait for their table, keys with a problem
    are left out with a warning."""
    state = ctx.state
    for holder, columns, ref, name in _fk_nodes(node):
        target = table_name(ref.this)
        if not target:
            continue
        refs = _ref_columns(ref)
        if target.lower() != table.lower() and (
            not state.has_table(target) or target.lower() in state.withheld
        ):
            holder.pop()
            state.pending_keys.setdefault(target.lower(), []).append(
                PendingKey(
                    table,
                    columns,
                    target,
                    refs,
                    _add_sql(table, columns, ref, name),
                    ctx.file,
                    ctx.line,
                )
            )
            ctx.note(
                f"REFERENCES {target}",
                f"{target} does not exist yet: the foreign key is added by ALTER TABLE once "
                f"{target} is created (left out while it is not)",
            )
            continue
        problem = key_problem(state, table, columns, target, refs)
        if problem:
            holder.pop()
            state.left_out.add((table.lower(), tuple(c.lower() for c in columns)))
            ctx.warn(
                f"REFERENCES {target}",
                f"foreign key ({', '.join(columns)}) left out: {problem}; PostgreSQL would "
                "reject the table",
                "make the column types match (or reference a unique key) in a new migration",
            )


def rename_pending(old: str, new: str, state: SchemaState) -> None:
    """``ALTER TABLE old RENAME TO new``: keys waiting to be added to ``old`` now belong to
    ``new`` (the rebuild's own keys: ``new_t`` references ``t`` and is renamed ``t``)."""
    head_old, head_new = f"ALTER TABLE {pg_name(old)} ", f"ALTER TABLE {pg_name(new)} "
    for target, keys in state.pending_keys.items():
        state.pending_keys[target] = [
            dataclasses.replace(k, child=new, sql=k.sql.replace(head_old, head_new, 1))
            if k.child.lower() == old.lower()
            else k
            for k in keys
        ]


def resolve_pending(table: str, ctx: Context) -> list[str]:
    """``table`` now exists on PostgreSQL: the foreign keys waiting for it, as ALTER TABLE
    statements (keys with a problem are reported and left out)."""
    state = ctx.state
    out: list[str] = []
    for key in state.pending_keys.pop(table.lower(), []):
        if not state.has_table(key.child) or key.child.lower() in state.withheld:
            continue  # the child table is gone (or never made it to PostgreSQL)
        problem = key_problem(state, key.child, key.columns, table, key.ref_columns)
        if problem:
            state.left_out.add((key.child.lower(), tuple(c.lower() for c in key.columns)))
            ctx.warn(
                f"REFERENCES {table}",
                f"foreign key {key.child}({', '.join(key.columns)}) left out: {problem}",
                "make the column types match (or reference a unique key) in a new migration",
            )
            continue
        out.append(key.sql)
        if key.rebuilt:
            ctx.note(
                f"FOREIGN KEY {key.child}({', '.join(key.columns)})",
                f"re-created: it was dropped with {table} at {key.file}:{key.line}",
            )
        elif (key.file, key.line) != (ctx.file, ctx.line):
            ctx.note(
                f"FOREIGN KEY {key.child}({', '.join(key.columns)})",
                f"added here, now that {table} exists (declared at {key.file}:{key.line})",
            )
    return out


_ACTION = {"NO ACTION": ""}


def _declared_key(state: SchemaState, child: str, columns: tuple[str, ...]) -> str | None:
    """The child's own REFERENCES clause for ``columns`` as an ALTER TABLE (keeps DEFERRABLE
    and every action as written), or None."""
    state.settle()
    row = state.conn.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND lower(name) = lower(?)", (child,)
    ).fetchone()
    if not row or not row[0]:
        return None
    try:
        tree = sqlglot.parse_one(str(row[0]), read=SQLITE)
    except sqlglot.errors.SqlglotError:
        return None
    if not isinstance(tree.this, exp.Schema):
        return None
    wanted = tuple(c.lower() for c in columns)
    for _holder, cols, ref, name in _fk_nodes(tree.this):
        if tuple(c.lower() for c in cols) == wanted:
            return _add_sql(child, cols, ref, name)
    return None


def _key_from_pragma(child: str, rows: list[Any], target: str, ctx: Context) -> PendingKey:
    columns = tuple(str(r[3]) for r in rows)
    refs = tuple(str(r[4]) for r in rows if r[4] is not None)
    declared = _declared_key(ctx.state, child, columns)
    if declared is not None:
        return PendingKey(child, columns, target, refs, declared, ctx.file, ctx.line, True)
    ref_sql = f" ({', '.join(pg_name(r) for r in refs)})" if refs else ""
    actions = ""
    for word, value in (("UPDATE", str(rows[0][5]).upper()), ("DELETE", str(rows[0][6]).upper())):
        if value and value != "NO ACTION":
            actions += f" ON {word} {value}"
    sql = (
        f"ALTER TABLE {pg_name(child)} ADD FOREIGN KEY "
        f"({', '.join(pg_name(c) for c in columns)}) REFERENCES {pg_name(target)}{ref_sql}"
        f"{actions}"
    )
    return PendingKey(child, columns, target, refs, sql, ctx.file, ctx.line, rebuilt=True)


def dropped_table_keys(
    table: str, keys: list[tuple[str, list[Any]]], views: list[tuple[str, str]], ctx: Context
) -> bool:
    """``DROP TABLE table`` while other tables' keys (and views) point at it: PostgreSQL drops
    them with it (``CASCADE``); they wait to be re-created once ``table`` exists again (the
    rebuild idiom renames a new table to this name). Returns True when CASCADE is needed."""
    state = ctx.state
    pending = state.pending_keys.setdefault(table.lower(), [])
    children: list[str] = []
    for child, rows in keys:
        cols = tuple(str(r[3]).lower() for r in rows)
        if child.lower() in state.withheld or (child.lower(), cols) in state.left_out:
            continue
        pending.append(_key_from_pragma(child, rows, table, ctx))
        children.append(child)
    kept_views = [(n, s) for n, s in views if n.lower() not in state.withheld]
    state.pending_views.setdefault(table.lower(), []).extend(kept_views)
    if not children and not kept_views:
        return False
    what = []
    if children:
        what.append(f"the foreign keys of {', '.join(sorted(set(children)))}")
    if kept_views:
        what.append(f"the views {', '.join(n for n, _ in kept_views)}")
    ctx.note(
        f"DROP TABLE {table}",
        f"became DROP … CASCADE: {' and '.join(what)} point at it; they are re-created when "
        f"{table} exists again (SQLite's table rebuild)",
    )
    return True
