"""Introspecting both sides: a SQLite database (what the migrations made) and a PostgreSQL
schema, each as a :class:`SchemaShape` in PostgreSQL terms."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import psycopg
import sqlglot
from psycopg import sql
from sqlglot import exp

from malnu_tui.engine.backends.sqlite_sql import NOT_INTERNAL
from malnu_tui.engine.files import Migration
from malnu_tui.engine.parity.shapes import (
    AUTO,
    GENERATED,
    TOOL_TABLES,
    CheckShape,
    ColumnShape,
    ForeignKeyShape,
    IndexShape,
    SchemaShape,
    TableShape,
    norm_default,
)
from malnu_tui.engine.translate import Finding, format_type, map_type
from malnu_tui.engine.translate.common import parse_sqlite_table_constraints
from malnu_tui.engine.translate.typewords import one_word_types

__all__ = ["postgres_shape", "sqlite_schema", "sqlite_shape"]


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# Table options after the column list, which sqlglot does not parse (the whole CREATE became an
# opaque command, and the table's CHECKs were not seen: a false difference for every
# WITHOUT ROWID / STRICT table with one).
_TABLE_OPTIONS = re.compile(r"\)\s*(?:(?:WITHOUT\s+ROWID|STRICT)\s*,?\s*)+$", re.IGNORECASE)


def _sqlite_checks(create_sql: str) -> tuple[CheckShape, ...]:
    create_sql = _TABLE_OPTIONS.sub(")", create_sql.strip().rstrip(";"))
    tree: exp.Expr | None
    try:
        tree = sqlglot.parse_one(create_sql, read="sqlite")
    except sqlglot.errors.SqlglotError:
        # A column type of several words (old SQLite ports' BLOB SUB_TYPE TEXT): read as one; table
        # constraints with no comma between them (`UNIQUE(a, b)` then `CHECK (…)`, as D1 sets
        # write them): read with the commas put in. Else the table's CHECKs went unseen, a
        # difference with its translation, which has them.
        joined = one_word_types(create_sql)
        try:
            again = parse_sqlite_table_constraints(joined or create_sql)
            tree = again[0] if again else sqlglot.parse_one(joined or "", read="sqlite")
        except sqlglot.errors.SqlglotError:
            return ()
        if tree is None:
            return ()
    found: list[CheckShape] = []
    for check in tree.find_all(exp.CheckColumnConstraint):
        cols = {c.name.lower() for c in check.find_all(exp.Column)}
        parent = check.parent
        if isinstance(parent, exp.ColumnConstraint) and isinstance(parent.parent, exp.ColumnDef):
            cols.add(parent.parent.name.lower())
        found.append(CheckShape(tuple(sorted(cols))))
    return tuple(sorted(found, key=lambda c: c.columns))


def sqlite_shape(conn: sqlite3.Connection) -> SchemaShape:
    """Introspect a SQLite database (tool tables excluded)."""
    tables: list[TableShape] = []
    rows = conn.execute(
        f"SELECT name, sql FROM sqlite_master WHERE type = 'table' AND {NOT_INTERNAL} ORDER BY name"
    ).fetchall()
    try:  # FTS5's shadow tables (and the virtual table, withheld with a finding) are no tables
        skip = {
            str(r[1]).lower()
            for r in conn.execute("PRAGMA table_list")
            if str(r[2]) in ("shadow", "virtual")
        }
    except sqlite3.Error:  # SQLite < 3.37
        skip = set()
    for name, create_sql in rows:
        if str(name).lower() in TOOL_TABLES or str(name).lower() in skip:
            continue
        info = conn.execute(f"PRAGMA table_xinfo({quote_ident(name)})").fetchall()
        pk_cols = sorted((r for r in info if r[5]), key=lambda r: r[5])
        rowid_alias = (
            len(pk_cols) == 1
            and str(pk_cols[0][2]).strip().upper() == "INTEGER"
            and "WITHOUT ROWID" not in " ".join(str(create_sql).upper().split())
        )
        columns: list[ColumnShape] = []
        for _cid, cname, declared, notnull, dflt, pk, hidden in info:
            mapping = map_type(str(declared or ""))
            pg_type = format_type(mapping.postgres) if mapping.postgres else "(no type)"
            if rowid_alias and pk:
                default: str | None = AUTO
            elif hidden in (2, 3):  # GENERATED ALWAYS AS (…) VIRTUAL / STORED
                default = GENERATED
            elif dflt is None:
                default = None
            else:
                try:
                    value = conn.execute(f"SELECT {dflt}").fetchone()[0]
                    default = norm_default(value, pg_type, str(dflt))
                except sqlite3.Error:
                    default = str(dflt)
            columns.append(
                ColumnShape(
                    str(cname).lower(),
                    pg_type,
                    not (notnull or pk),  # PostgreSQL primary key columns are NOT NULL
                    default,
                    str(declared or ""),
                )
            )
        uniques: set[tuple[str, ...]] = set()
        indexes: list[IndexShape] = []
        for _seq, iname, unique, origin, partial in conn.execute(
            f"PRAGMA index_list({quote_ident(name)})"
        ).fetchall():
            xinfo = [r for r in conn.execute(f"PRAGMA index_xinfo({quote_ident(iname)})") if r[5]]
            cols = tuple(str(r[2]).lower() if r[2] is not None else "<expr>" for r in xinfo)
            if unique and not partial and origin != "pk" and "<expr>" not in cols:
                uniques.add(cols)
            if origin == "c":
                indexes.append(IndexShape(str(iname).lower(), cols, bool(unique), bool(partial)))
        fks: dict[int, list[Any]] = {}
        for row in conn.execute(f"PRAGMA foreign_key_list({quote_ident(name)})").fetchall():
            fks.setdefault(int(row[0]), []).append(row)
        fk_shapes: list[ForeignKeyShape] = []
        for group in fks.values():
            group.sort(key=lambda r: r[1])
            ref = str(group[0][2])
            to = [r[4] for r in group]
            if any(t is None for t in to):
                parent = conn.execute(f"PRAGMA table_info({quote_ident(ref)})").fetchall()
                to = [r[1] for r in sorted((r for r in parent if r[5]), key=lambda r: r[5])]
            fk_shapes.append(
                ForeignKeyShape(
                    tuple(str(r[3]).lower() for r in group),
                    ref.lower(),
                    tuple(str(t).lower() for t in to),
                    str(group[0][5]).upper(),
                    str(group[0][6]).upper(),
                )
            )
        tables.append(
            TableShape(
                str(name).lower(),
                tuple(columns),
                tuple(str(r[1]).lower() for r in pk_cols),
                tuple(sorted(uniques)),
                tuple(sorted(fk_shapes, key=lambda f: (f.columns, f.ref_table))),
                tuple(sorted(indexes, key=lambda i: i.name)),
                _sqlite_checks(str(create_sql or "")),
            )
        )
    return SchemaShape(tuple(sorted(tables, key=lambda t: t.name)))


def sqlite_schema(migrations: Sequence[Migration], path: Path) -> list[Finding]:
    """Run the migrations' statements into the SQLite database at ``path``; returns findings
    for statements SQLite itself rejects."""
    findings: list[Finding] = []
    conn = sqlite3.connect(str(path), isolation_level=None)
    try:
        for m in migrations:
            for st in m.statements():
                try:
                    conn.execute(st.text)
                except sqlite3.Error as exc:
                    findings.append(
                        Finding(
                            m.filename, st.line, "SQLite rejected", str(exc),
                            "fix the migration: it fails on the primary too",
                        )
                    )  # fmt: skip
    finally:
        conn.close()
    return findings


# -- PostgreSQL side ---------------------------------------------------------------------------
_FK_ACTIONS = {
    "a": "NO ACTION",
    "r": "RESTRICT",
    "c": "CASCADE",
    "n": "SET NULL",
    "d": "SET DEFAULT",
}


def postgres_shape(
    conn: psycopg.Connection[Any], schema: str, tables: Iterable[str] | None = None
) -> SchemaShape:
    """Introspect ``schema`` on a PostgreSQL connection (optionally only ``tables``)."""
    wanted = None if tables is None else {t.lower() for t in tables}
    rel_rows = conn.execute(
        "SELECT c.oid, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relkind IN ('r', 'p') ORDER BY c.relname",
        (schema,),
    ).fetchall()
    shapes: list[TableShape] = []
    for oid, relname in rel_rows:
        name = str(relname)
        if name in TOOL_TABLES or (wanted is not None and name not in wanted):
            continue
        cols = conn.execute(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull, "
            "pg_get_expr(d.adbin, d.adrelid), a.attidentity <> '', a.attgenerated <> '' "
            "FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid "
            "AND d.adnum = a.attnum WHERE a.attrelid = %s AND a.attnum > 0 "
            "AND NOT a.attisdropped ORDER BY a.attnum",
            (oid,),
        ).fetchall()
        columns: list[ColumnShape] = []
        for cname, ctype, nullable, dflt, identity, generated in cols:
            if identity or (dflt and str(dflt).startswith("nextval(")):
                default: str | None = AUTO
            elif generated:  # (pg_attrdef holds its expression: no default)
                default = GENERATED
            elif dflt is None:
                default = None
            else:
                try:
                    with conn.transaction():
                        value = conn.execute(
                            sql.SQL("SELECT CAST(({}) AS {})::text").format(
                                sql.SQL(dflt), sql.SQL(ctype)
                            )
                        ).fetchone()
                    default = norm_default(value[0] if value else None, str(ctype), str(dflt))
                except psycopg.Error:
                    default = str(dflt)
            columns.append(ColumnShape(str(cname), str(ctype), bool(nullable), default))
        attnames = {
            int(r[0]): str(r[1])
            for r in conn.execute(
                "SELECT attnum, attname FROM pg_attribute WHERE attrelid = %s AND attnum > 0",
                (oid,),
            )
        }
        pk: tuple[str, ...] = ()
        uniques: set[tuple[str, ...]] = set()
        fks: list[ForeignKeyShape] = []
        checks: list[CheckShape] = []
        constraint_indexes: set[int] = set()
        for contype, conkey, confrel, confkey, upd, dele, conindid in conn.execute(
            "SELECT contype, conkey, confrelid::regclass::text, confkey, confupdtype, "
            "confdeltype, conindid FROM pg_constraint WHERE conrelid = %s",
            (oid,),
        ).fetchall():
            keys = tuple(attnames[k] for k in (conkey or []))
            if contype == "p":
                pk = keys
                constraint_indexes.add(int(conindid))
            elif contype == "u":
                uniques.add(keys)
                constraint_indexes.add(int(conindid))
            elif contype == "f":
                ref = str(confrel).split(".")[-1].strip('"')
                ref_oid = conn.execute("SELECT %s::regclass::oid", (confrel,)).fetchone()
                ref_names = {
                    int(r[0]): str(r[1])
                    for r in conn.execute(
                        "SELECT attnum, attname FROM pg_attribute WHERE attrelid = %s",
                        (ref_oid[0] if ref_oid else 0,),
                    )
                }
                fks.append(
                    ForeignKeyShape(
                        keys,
                        ref,
                        tuple(ref_names.get(k, "?") for k in (confkey or [])),
                        _FK_ACTIONS.get(str(upd), str(upd)),
                        _FK_ACTIONS.get(str(dele), str(dele)),
                    )
                )
            elif contype == "c":
                checks.append(CheckShape(tuple(sorted(keys))))
        indexes: list[IndexShape] = []
        for iname, indexrelid, indisunique, indkey, indpred in conn.execute(
            "SELECT ic.relname, i.indexrelid, i.indisunique, i.indkey::int2[], "
            "i.indpred IS NOT NULL FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid "
            "WHERE i.indrelid = %s",
            (oid,),
        ).fetchall():
            cols_t = tuple(attnames.get(int(k), "<expr>") if k else "<expr>" for k in indkey)
            if indisunique and not indpred and "<expr>" not in cols_t:
                uniques.add(cols_t)
            if int(indexrelid) not in constraint_indexes:
                indexes.append(IndexShape(str(iname), cols_t, bool(indisunique), bool(indpred)))
        uniques.discard(pk)
        shapes.append(
            TableShape(
                name,
                tuple(columns),
                pk,
                tuple(sorted(uniques)),
                tuple(sorted(fks, key=lambda f: (f.columns, f.ref_table))),
                tuple(sorted(indexes, key=lambda i: i.name)),
                tuple(sorted(checks, key=lambda c: c.columns)),
            )
        )
    return SchemaShape(tuple(shapes))
