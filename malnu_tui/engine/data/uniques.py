"""The UNIQUE constraints whose values an import takes once (:mod:`.keyrepeats` finds a value
repeated within the file by them), read from the live schema with the comparison each makes.

A plain insert (no ``--key``, ``--on-conflict error``) watches every UNIQUE constraint of the
table whose columns the file all gives: the primary key, a ``UNIQUE`` column (``users.email``),
a unique index over one or several columns. A keyed import (``--key``) watches its key first,
then the same others (with ``--on-conflict skip``, among the rows whose key the table does not
hold: see :func:`watched_uniques`).
Not watched: an index over an expression (``lower(email)``: the database computes it) and a
partial unique index (``WHERE active``: whether two rows collide depends on the predicate,
which only the database evaluates); the database still refuses such a row, named with its
value as before. NULLs never collide (SQL's rule), except in PostgreSQL 15's ``UNIQUE NULLS
NOT DISTINCT``."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from malnu_tui.engine.errors import ConfigError

if TYPE_CHECKING:
    from malnu_tui.engine.backends.base import Backend
    from malnu_tui.engine.data.schema import TableSchema


@dataclass(frozen=True)
class UniqueSet:
    """One constraint watched: its columns, each column's collation as the constraint compares
    it (SQLite and D1: ``BINARY``, ``NOCASE``, ``RTRIM``; PostgreSQL: a schema-qualified,
    quoted collation name, or "" for the column's type's own comparison), whether NULLs are
    values of it (PostgreSQL's NULLS NOT DISTINCT), and whether it is a key (the primary key,
    or the ``--key``): a key's repeat is said as a key's."""

    columns: tuple[str, ...]
    collations: tuple[str, ...] = ()
    nulls_distinct: bool = True
    key: bool = False
    # A STRICT table's (SQLite, D1): its ANY columns keep a value as given ('07' is not 7).
    strict: bool = False

    def collation(self, i: int) -> str:
        return self.collations[i] if i < len(self.collations) else ""


# One request (D1 bills each): the unique, non-partial indexes with their key columns in order
# and each one's collation; an expression's column has no name. Origin 'pk': the primary key.
# And the table's own CREATE (whether it is STRICT).
_SQLITE_UNIQUES = (
    "SELECT l.name, l.origin, x.name, x.coll, (SELECT sql FROM sqlite_master WHERE type = "
    "'table' AND name = ?1) FROM pragma_index_list(?1) l "
    'JOIN pragma_index_xinfo(l.name) x WHERE l."unique" AND NOT l.partial AND x.key '
    "ORDER BY l.seq, x.seqno"
)
# CREATE TABLE … (…) STRICT, maybe with WITHOUT ROWID: the options after the last parenthesis.
_STRICT = re.compile(r"\)[^)]*\bSTRICT\b[^)]*$", re.IGNORECASE)
# PostgreSQL: unique indexes without a predicate or an expression, their key columns (not an
# INCLUDE's, which indkey holds after them); {nnd}: NULLS NOT DISTINCT
# (PostgreSQL 15), FALSE before it. A collation other than the default, quoted by the catalog.
_PG_UNIQUES = (
    "SELECT i.indisprimary, {nnd}, array(SELECT a.attname::text FROM unnest(i.indkey) "
    "WITH ORDINALITY k(n, o) JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n "
    "WHERE k.o <= i.indnkeyatts ORDER BY k.o), array(SELECT coalesce((SELECT "
    "quote_ident(cn.nspname) || '.' || quote_ident(co.collname) FROM pg_collation co "
    "JOIN pg_namespace cn ON cn.oid = co.collnamespace WHERE co.oid = c.oid "
    "AND co.collname <> 'default'), '') "
    "FROM unnest(i.indcollation) WITH ORDINALITY c(oid, o) ORDER BY c.o) "
    "FROM pg_index i WHERE i.indrelid = "
    "(quote_ident(current_schema()) || '.' || quote_ident(%s))::regclass "
    "AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL "
    "ORDER BY NOT i.indisprimary, i.indexrelid"
)
# PostgreSQL: the DEFERRABLE PRIMARY KEY and UNIQUE constraints, their key columns.
_PG_DEFERRABLE = (
    "SELECT c.conname, c.contype = 'p', array(SELECT a.attname::text FROM unnest(i.indkey) "
    "WITH ORDINALITY k(n, o) JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n "
    "WHERE k.o <= i.indnkeyatts) FROM pg_constraint c JOIN pg_index i ON i.indexrelid = "
    "c.conindid WHERE c.conrelid = (quote_ident(coalesce(%s::text, current_schema())) || '.' || "
    "quote_ident(%s))"
    "::regclass AND c.contype IN ('p', 'u') AND c.condeferrable AND i.indpred IS NULL "
    "AND i.indexprs IS NULL ORDER BY c.conname"
)


def table_uniques(backend: Backend, schema: TableSchema) -> tuple[UniqueSet, ...]:
    """Every UNIQUE constraint of the table, the primary key first, as the database compares
    it (see the module's docstring for those left out)."""
    found: list[UniqueSet] = []
    if backend.kind == "postgresql":
        conn = backend.conn  # type: ignore[attr-defined]
        nnd = "i.indnullsnotdistinct" if conn.info.server_version >= 150000 else "FALSE"
        for primary, nulls_equal, cols, colls in conn.execute(
            _PG_UNIQUES.format(nnd=nnd), (schema.name,)
        ):
            found.append(UniqueSet(tuple(cols), tuple(colls), not nulls_equal, key=bool(primary)))
    else:
        from malnu_tui.engine.data.schema import sqlite_rows

        by: dict[str, list[tuple[object, ...]]] = {}
        strict = False
        for index, origin, column, coll, made in sqlite_rows(
            backend, _SQLITE_UNIQUES, (schema.name,)
        ):
            by.setdefault(str(index), []).append((origin, column, coll))
            strict = bool(_STRICT.search(str(made or "")))
        if schema.rowid and len(schema.primary_key) == 1:
            col = schema.column(schema.primary_key[0])
            if col is not None and col.declared_type.upper() == "INTEGER":  # the rowid: no index
                found.append(UniqueSet(schema.primary_key, ("BINARY",), key=True))
        for parts in by.values():
            if any(p[1] is None for p in parts):
                continue  # over an expression
            cols = tuple(str(p[1]) for p in parts)
            colls = tuple(str(p[2] or "BINARY") for p in parts)
            found.append(UniqueSet(cols, colls, key=parts[0][0] == "pk", strict=strict))
    # One of each: the same columns compared the same way (two indexes over one column, one
    # of them NOCASE or of a case-insensitive collation, are both watched).
    out: list[UniqueSet] = []
    for u in sorted(found, key=lambda u: not u.key):
        if not any(_same(o, u) for o in out):
            out.append(u)
    return tuple(out)


def _same(a: UniqueSet, b: UniqueSet) -> bool:
    def how(u: UniqueSet) -> frozenset[tuple[str, str]]:
        return frozenset((c, u.collation(i).upper()) for i, c in enumerate(u.columns))

    return a.nulls_distinct == b.nulls_distinct and how(a) == how(b)


def watched_uniques(
    backend: Backend,
    schema: TableSchema,
    columns: Sequence[str],
    key: Sequence[str],
    on_conflict: str,
) -> tuple[UniqueSet, ...]:
    """The constraints whose values the import takes once: the ``--key``'s first (compared as
    its UNIQUE index compares), then every other constraint whose columns the import all
    writes (a plain insert's are all such). Under ``--key … --on-conflict skip`` a row whose
    key the table holds is skipped, its other values never written, so they collide with
    nothing: the others are compared among the rows the upsert adds alone
    (:attr:`.spec.WriteSpec.others_among_new`; it watched its key alone, and a value repeated
    for another was the database's refusal naming no line)."""
    if not key and on_conflict != "error":
        return ()
    every = table_uniques(backend, schema)
    have = set(columns)
    if not key:
        return tuple(u for u in every if set(u.columns) <= have)
    same = next((u for u in every if set(u.columns) == set(key)), None)
    if same is None:
        mine = UniqueSet(tuple(key), key=True)
    else:
        colls = tuple(same.collation(same.columns.index(k)) for k in key)
        mine = UniqueSet(tuple(key), colls, same.nulls_distinct, key=True, strict=same.strict)
    # Each row the upsert keeps writes its values of them (an update too): a value repeated
    # in the file collides in the table. A row updating itself by key keeps its own old value
    # (the table holds it in that very row): the values are compared within the file only.
    others = (replace(u, key=False) for u in every if u is not same and set(u.columns) <= have)
    return (mine, *others)


def deferrable_key(
    conn: Any, table: str, key: Sequence[str], schema: str | None = None
) -> tuple[str, str] | None:
    """``(name, "primary key" or "UNIQUE constraint")`` of the DEFERRABLE constraint of a
    PostgreSQL ``table`` (in ``schema``, else the current one) over exactly the columns
    ``key``: PostgreSQL's ``ON CONFLICT`` cannot take it as its arbiter ("ON CONFLICT does not
    support deferrable unique constraints"). None: there is none. (The import's upsert and
    the sync's share it.)"""
    for name, primary, cols in conn.execute(_PG_DEFERRABLE, (schema, table)):
        if set(cols) == set(key):
            return str(name), "primary key" if primary else "UNIQUE constraint"
    return None


def quoted_name(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def refuse_deferrable_key(
    backend: Backend, table: str, key: Sequence[str], on_conflict: str
) -> None:
    """An upsert (``--on-conflict update`` or ``skip``) by a key whose PRIMARY KEY or UNIQUE
    constraint is DEFERRABLE, refused before anything is read: PostgreSQL's ``ON CONFLICT``
    cannot use one as its arbiter, and said so only once the rows were staged ("ON CONFLICT
    does not support deferrable unique constraints", exit 1, no way out; a dry run too)."""
    if backend.kind != "postgresql" or not key or on_conflict not in ("update", "skip"):
        return
    found = deferrable_key(backend.conn, table, key)  # type: ignore[attr-defined]
    if found is not None:
        name, what = found
        raise ConfigError(
            f"--on-conflict {on_conflict} by {','.join(key)}: the {what} {quoted_name(name)} of "
            f"table {table!r} is DEFERRABLE, which PostgreSQL's upsert (INSERT … ON CONFLICT) "
            "cannot use; nothing was imported",
            hint="to add new rows, import with --on-conflict error (a row whose key the "
            "table holds is then rejected, named by its line); to update rows by this key, "
            "make the constraint NOT DEFERRABLE in a migration (drop it and add it again)",
        )
