"""SQLite's ``rowid`` (``_rowid_``, ``oid``) in a statement.

Every SQLite table without WITHOUT ROWID has one, and data migrations use it: the classic
de-duplication before a UNIQUE index is ``DELETE FROM t WHERE rowid NOT IN (SELECT min(rowid)
FROM t GROUP BY email)``. PostgreSQL rows have none. Where the table has an ``INTEGER PRIMARY
KEY`` that column *is* the rowid, so the name becomes that column's; otherwise the statement is
withheld rather than emitted to fail (or, unchecked, to be believed).
"""

from __future__ import annotations

import re

from sqlglot import exp

from malnu_tui.engine.translate.common import Context
from malnu_tui.engine.translate.functions import Untranslatable

__all__ = ["insert_rowid", "mentions_rowid", "rewrite_rowid"]

_NAMES = frozenset({"rowid", "_rowid_", "oid"})
_WORD = re.compile(r"\b(?:_rowid_|rowid|oid)\b", re.IGNORECASE)


def mentions_rowid(text: str) -> bool:
    """True when the statement's text holds one of the rowid's names (a cheap first test)."""
    low = text.lower()  # (a substring test first: most statements hold neither)
    return ("rowid" in low or "oid" in low) and _WORD.search(text) is not None


def rewrite_rowid(tree: exp.Expr, ctx: Context) -> None:
    """Each column reference to the rowid renamed, in place, to its table's INTEGER PRIMARY KEY
    column (raises :class:`Untranslatable` when the table has none)."""
    aliases: dict[str, str] = {}
    for node in tree.find_all(exp.Table):
        if node.name:
            aliases[(node.alias_or_name or node.name).lower()] = node.name
            aliases.setdefault(node.name.lower(), node.name)
    if ctx.row_table is not None:  # a trigger's body: NEW and OLD are rows of its table
        aliases.setdefault("new", ctx.row_table)
        aliases.setdefault("old", ctx.row_table)
    scope = sorted({name.lower() for name in ctx.tables})
    for col in list(tree.find_all(exp.Column)):
        ident = col.this
        if not isinstance(ident, exp.Identifier) or str(ident.this).lower() not in _NAMES:
            continue
        word = str(ident.this).lower()
        candidates: list[str]
        if col.table:
            owner = aliases.get(col.table.lower())
            candidates = [owner] if owner else []
        else:  # the nearest SELECT's own tables (INSERT INTO b … SELECT rowid FROM a: a's)
            candidates = _select_scope(col) or scope
        if any(_has_column(t, word, ctx) for t in candidates):
            continue  # a real column of that name: SQLite reads that column too
        if len(candidates) != 1:
            raise Untranslatable(
                word,
                "SQLite's rowid, and the table it belongs to is not clear here",
                "name the table's key column instead",
            )
        _to_key(
            ident,
            word,
            candidates[0],
            ctx,
            "use a key column (or, on PostgreSQL only, ctid) by hand",
        )


def _to_key(ident: exp.Identifier, word: str, table: str, ctx: Context, hint: str) -> None:
    """``ident`` (the rowid's name) renamed to ``table``'s INTEGER PRIMARY KEY column, which
    SQLite's rowid stands for; :class:`Untranslatable` with ``hint`` when it has none."""
    key = ctx.state.rowid_alias(table)
    if key is None:
        raise Untranslatable(
            word,
            f"PostgreSQL rows have no rowid, and {table} has no INTEGER PRIMARY KEY "
            "standing for it",
            hint,
        )
    ident.set("this", key)
    ident.set("quoted", False)


def insert_rowid(schema: exp.Schema, ctx: Context) -> None:
    """``INSERT INTO t (rowid, …)``: the rowid named as a column to write, the table's INTEGER
    PRIMARY KEY in SQLite (PostgreSQL refused the name: the mirror's ``up`` failed)."""
    table = schema.this.name if isinstance(schema.this, exp.Table) else ""
    for ident in schema.expressions:
        if not isinstance(ident, exp.Identifier) or str(ident.this).lower() not in _NAMES:
            continue
        word = str(ident.this).lower()
        if not table or _has_column(table, word, ctx):
            continue  # a real column of that name: SQLite writes that column too
        _to_key(
            ident,
            word,
            table,
            ctx,
            "leave the rowid out of the INSERT (PostgreSQL has none to set)",
        )


def _select_scope(col: exp.Column) -> list[str]:
    """The tables an unqualified column of a SELECT names, as SQLite resolves it: its own
    ``FROM`` and joins (not the INSERT's target around it); none when one is a subquery."""
    select = col.find_ancestor(exp.Select)
    if select is None:
        return []
    names: set[str] = set()
    for source in [select.args.get("from_"), *(select.args.get("joins") or [])]:
        if source is None:
            continue
        table = source.this
        if not isinstance(table, exp.Table) or not table.name:
            return []
        names.add(table.name.lower())
    return sorted(names)


def _has_column(table: str, name: str, ctx: Context) -> bool:
    return any(c.name.lower() == name for c in ctx.state.columns(table))
