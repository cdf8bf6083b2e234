"""Statements on ``sqlite_sequence``, SQLite's own table of AUTOINCREMENT counters.

``sqlite3 .dump`` ends with ``DELETE FROM sqlite_sequence; INSERT INTO sqlite_sequence
VALUES('users',3);`` and seed files reset a counter with ``UPDATE sqlite_sequence SET seq = 0
WHERE name = 'users'``. PostgreSQL has no such table: each identity column has a sequence of its
own. A counter set this way becomes a ``setval`` of that sequence, SQLite's rule kept (the next
id is one past the greater of the counter and the largest id); clearing counters is dropped with
a note (the dump's INSERTs, or the inserts' own ``setval``, set them); anything else is withheld.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp

from malnu_tui.engine.translate.common import Context, parse_sqlite
from malnu_tui.engine.translate.functions import Untranslatable
from malnu_tui.engine.translate.statements import listed_columns
from malnu_tui.engine.translate.triggers import pg_ident

__all__ = ["SEQUENCE_TABLE", "names_sequence_table", "sequence_statements"]

SEQUENCE_TABLE = "sqlite_sequence"


def names_sequence_table(text: str) -> bool:
    """True when the statement's target may be ``sqlite_sequence`` (a cheap first test: the
    target is named in the statement's first words, and a seed's INSERT may be long)."""
    return "sqlite_sequence" in text[:80].lower()


def sequence_statements(text: str, ctx: Context) -> list[str] | None:
    """The PostgreSQL for a DML statement whose target is ``sqlite_sequence`` ([] when it is
    dropped, with a note), or None when its target is another table. Raises
    :class:`Untranslatable` for a form that cannot be carried over."""
    try:
        trees = [t for t in parse_sqlite(text) if t is not None]
    except sqlglot.errors.SqlglotError:
        return None
    if len(trees) != 1 or not isinstance(trees[0], exp.Insert | exp.Update | exp.Delete):
        return None
    tree = trees[0]
    target = tree.this.this if isinstance(tree.this, exp.Schema) else tree.this
    if not isinstance(target, exp.Table) or target.name.lower() != SEQUENCE_TABLE:
        return None
    if isinstance(tree, exp.Delete):
        ctx.note(
            f"DELETE FROM {SEQUENCE_TABLE}",
            "dropped: PostgreSQL keeps each identity's counter in its own sequence, set where "
            "rows with explicit ids are inserted (and by INSERT INTO sqlite_sequence)",
        )
        return []
    pairs = _insert_pairs(tree) if isinstance(tree, exp.Insert) else _update_pair(tree)
    if pairs is None:
        raise Untranslatable(
            SEQUENCE_TABLE,
            "SQLite's own table of AUTOINCREMENT counters; only literal (name, seq) rows and "
            "UPDATE … SET seq = n WHERE name = 't' can become a setval",
            "write SELECT setval(pg_get_serial_sequence('t', 'id'), n) by hand",
        )
    return [sql for table, seq in pairs if (sql := _setval(table, seq, ctx)) is not None]


def _int(node: exp.Expr) -> int | None:
    if isinstance(node, exp.Neg):
        inner = _int(node.this)
        return None if inner is None else -inner
    if isinstance(node, exp.Literal) and not node.is_string and str(node.this).isdigit():
        return int(str(node.this))
    return None


def _insert_pairs(tree: exp.Insert) -> list[tuple[str, int]] | None:
    cols = [c.lower() for c in listed_columns(tree)] or ["name", "seq"]
    values = tree.expression
    if sorted(cols) != ["name", "seq"] or not isinstance(values, exp.Values):
        return None
    if tree.args.get("conflict") or tree.args.get("returning"):
        return None
    pairs: list[tuple[str, int]] = []
    for row in values.expressions:
        items = dict(zip(cols, row.expressions, strict=False))
        name, seq = items.get("name"), items.get("seq")
        number = _int(seq) if seq is not None else None
        if not (isinstance(name, exp.Literal) and name.is_string) or number is None:
            return None
        pairs.append((str(name.this), number))
    return pairs


def _update_pair(tree: exp.Update) -> list[tuple[str, int]] | None:
    sets = tree.expressions
    where = tree.args.get("where")
    if len(sets) != 1 or where is None or tree.args.get("from") or tree.args.get("returning"):
        return None
    assignment, condition = sets[0], where.this
    if not (isinstance(assignment, exp.EQ) and isinstance(condition, exp.EQ)):
        return None
    if not (isinstance(assignment.this, exp.Column) and assignment.this.name.lower() == "seq"):
        return None
    column, name = condition.this, condition.expression
    if not (isinstance(column, exp.Column) and column.name.lower() == "name"):
        return None
    number = _int(assignment.expression)
    if not (isinstance(name, exp.Literal) and name.is_string) or number is None:
        return None
    return [(str(name.this), number)]


def _setval(table: str, seq: int, ctx: Context) -> str | None:
    if not ctx.state.has_table(table):
        raise Untranslatable(
            SEQUENCE_TABLE,
            f"the counter of {table!r}, which is no table here",
            "drop the statement, or create the table first",
        )
    alias = ctx.state.rowid_alias(table)
    if alias is None or not ctx.state.autoincrement(table):
        ctx.note(
            SEQUENCE_TABLE,
            f"dropped: {table} is not AUTOINCREMENT, so SQLite never reads this counter",
        )
        return None
    t, col = pg_ident(table), pg_ident(alias)
    # SQLite's next id is one past the greater of the counter and the largest id.
    return (
        f"SELECT setval(pg_get_serial_sequence('{t.replace(chr(39), chr(39) * 2)}', "
        f"'{alias.lower().replace(chr(39), chr(39) * 2)}'), "
        f"GREATEST({seq}, coalesce((SELECT max({col}) FROM {t}), 0)) + 1, false)"
    )
