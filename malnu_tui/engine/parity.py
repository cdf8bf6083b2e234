"""SQLite ↔ PostgreSQL schema parity.

:func:`check_parity` builds the SQLite schema from the migration files in a temp SQLite database,
applies their PostgreSQL translation to a scratch schema on a real server (inside one transaction
that is always rolled back, so nothing is left behind and no real table is ever touched),
introspects both and compares tables, columns (mapped types, nullability, defaults), primary keys,
unique constraints, foreign keys, indexes and check constraints.

:func:`compare_live` compares the mirrored tables of a live PostgreSQL schema with the schema the
migrations describe (drift between the primary and the secondary).
"""

from __future__ import annotations

import dataclasses
import re
import sqlite3
import tempfile
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import psycopg
import sqlglot
from psycopg import sql
from sqlglot import exp

from malnu_tui.engine.backends.base import AUDIT_TABLE, LOCK_TABLE, TRACKING_TABLE
from malnu_tui.engine.errors import BackendError
from malnu_tui.engine.files import Migration
from malnu_tui.engine.translate import (
    FileTranslation,
    Finding,
    SchemaState,
    format_type,
    map_type,
    postgres_units,
    translate_migrations,
)

__all__ = [
    "CheckShape",
    "ColumnShape",
    "Difference",
    "ForeignKeyShape",
    "IndexShape",
    "ParityReport",
    "SchemaShape",
    "TableShape",
    "check_parity",
    "compare",
    "compare_live",
    "postgres_shape",
    "sqlite_schema",
    "sqlite_shape",
]

TOOL_TABLES = frozenset({TRACKING_TABLE, AUDIT_TABLE, LOCK_TABLE, "d1_migrations"})
AUTO = "<auto>"  # identity / rowid alias
NOW = "<now>"  # the current time, whatever its spelling
TODAY = "<today>"


@dataclass(frozen=True)
class ColumnShape:
    """A column in PostgreSQL terms (for SQLite: what the mapping says it should become)."""

    name: str
    type: str  # format_type() spelling
    nullable: bool
    default: str | None  # normalised value (AUTO, NOW, TODAY, or the value as text)
    declared: str = ""  # SQLite's declared type, for display


@dataclass(frozen=True)
class ForeignKeyShape:
    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]
    on_update: str
    on_delete: str

    def describe(self) -> str:
        return (
            f"({', '.join(self.columns)}) → {self.ref_table}({', '.join(self.ref_columns)}) "
            f"on update {self.on_update.lower()}, on delete {self.on_delete.lower()}"
        )


@dataclass(frozen=True)
class IndexShape:
    name: str
    columns: tuple[str, ...]  # "<expr>" for an expression
    unique: bool
    partial: bool

    def describe(self) -> str:
        kind = "unique index" if self.unique else "index"
        where = " (partial)" if self.partial else ""
        return f"{kind} ({', '.join(self.columns)}){where}"


@dataclass(frozen=True)
class CheckShape:
    columns: tuple[str, ...]  # columns the check reads, sorted


@dataclass(frozen=True)
class TableShape:
    name: str
    columns: tuple[ColumnShape, ...]
    primary_key: tuple[str, ...]
    uniques: tuple[tuple[str, ...], ...]
    foreign_keys: tuple[ForeignKeyShape, ...]
    indexes: tuple[IndexShape, ...]
    checks: tuple[CheckShape, ...]


@dataclass(frozen=True)
class SchemaShape:
    tables: tuple[TableShape, ...]

    def table(self, name: str) -> TableShape | None:
        """The table named ``name`` (case-insensitive), or None."""
        for t in self.tables:
            if t.name == name.lower():
                return t
        return None


@dataclass(frozen=True)
class Difference:
    """One way the PostgreSQL schema differs from what the SQLite schema implies."""

    table: str
    aspect: str  # table, column, type, nullability, default, primary key, unique, foreign key…
    item: str
    expected: str  # from SQLite (mapped to PostgreSQL terms)
    actual: str  # found in PostgreSQL

    def describe(self) -> str:
        """One line for people."""
        where = f"{self.table}.{self.item}" if self.item else self.table
        return f"{where}: {self.aspect}: expected {self.expected}, PostgreSQL has {self.actual}"


@dataclass(frozen=True)
class ParityReport:
    """The comparison and every translation finding."""

    files: tuple[str, ...]
    differences: tuple[Difference, ...]
    findings: tuple[Finding, ...]
    expected: SchemaShape
    actual: SchemaShape
    mode: str = "scratch"  # scratch: translation applied to a scratch schema; live: a real one
    rollbacks_checked: bool = False  # the rollback files ran too, and were compared

    @property
    def errors(self) -> tuple[Finding, ...]:
        """Findings that withheld a statement (or that PostgreSQL rejected)."""
        return tuple(f for f in self.findings if f.severity == "error")

    @property
    def ok(self) -> bool:
        """No difference and no error finding."""
        return not self.differences and not self.errors

    def summary(self) -> str:
        """One line: how many tables, differences and findings."""
        notes = len(self.findings) - len(self.errors)
        mode = self.mode + (", rollbacks too" if self.rollbacks_checked else "")
        return (
            f"{len(self.expected.tables)} tables compared ({mode}): "
            f"{len(self.differences)} differences, {len(self.errors)} findings, {notes} notes"
        )

    def as_json(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        return {
            "ok": self.ok,
            "mode": self.mode,
            "rollbacks_checked": self.rollbacks_checked,
            "files": list(self.files),
            "differences": [dataclasses.asdict(d) for d in self.differences],
            "findings": [dataclasses.asdict(f) for f in self.findings],
            "expected": dataclasses.asdict(self.expected),
            "actual": dataclasses.asdict(self.actual),
        }


# -- normalising values ------------------------------------------------------------------------
_TS = re.compile(r"^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(\.\d+)?([+-]\d{2}(:?\d{2})?|Z)?$")


def _norm_value(value: object, pg_type: str) -> str | None:
    if value is None:
        return None
    text = str(value)
    if pg_type == "boolean":
        low = text.strip().lower()
        if low in ("1", "true", "t"):
            return "true"
        if low in ("0", "false", "f"):
            return "false"
        return text
    m = _TS.match(text.strip())
    if m:
        try:
            at = datetime.fromisoformat(f"{m[1]} {m[2]}").replace(tzinfo=UTC)
        except ValueError:
            return text
        if abs(datetime.now(UTC) - at) < timedelta(days=1):
            return NOW
        return f"{m[1]} {m[2]}"
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text.strip()):
        if text.strip() == datetime.now(UTC).strftime("%Y-%m-%d"):
            return TODAY
        return text.strip()
    if pg_type in ("bigint", "integer", "smallint", "double precision") or pg_type.startswith(
        "numeric"
    ):
        try:
            return str(Decimal(text).normalize())
        except InvalidOperation:
            return text
    if re.fullmatch(r"-?\d+(\.\d+)?", text) and pg_type in ("", "numeric"):
        return str(Decimal(text).normalize())
    return text


# -- SQLite side -------------------------------------------------------------------------------
def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sqlite_checks(create_sql: str) -> tuple[CheckShape, ...]:
    try:
        tree = sqlglot.parse_one(create_sql, read="sqlite")
    except sqlglot.errors.SqlglotError:
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
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "AND name NOT LIKE '_cf_%' ORDER BY name"
    ).fetchall()
    for name, create_sql in rows:
        if str(name).lower() in TOOL_TABLES:
            continue
        info = conn.execute(f"PRAGMA table_xinfo({_q(name)})").fetchall()
        pk_cols = sorted((r for r in info if r[5]), key=lambda r: r[5])
        rowid_alias = (
            len(pk_cols) == 1
            and str(pk_cols[0][2]).strip().upper() == "INTEGER"
            and "WITHOUT ROWID" not in " ".join(str(create_sql).upper().split())
        )
        columns: list[ColumnShape] = []
        for _cid, cname, declared, notnull, dflt, pk, _hidden in info:
            mapping = map_type(str(declared or ""))
            pg_type = format_type(mapping.postgres) if mapping.postgres else "(no type)"
            if rowid_alias and pk:
                default: str | None = AUTO
            elif dflt is None:
                default = None
            else:
                try:
                    value = conn.execute(f"SELECT {dflt}").fetchone()[0]
                    default = _norm_value(value, pg_type)
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
            f"PRAGMA index_list({_q(name)})"
        ).fetchall():
            xinfo = [r for r in conn.execute(f"PRAGMA index_xinfo({_q(iname)})") if r[5]]
            cols = tuple(str(r[2]).lower() if r[2] is not None else "<expr>" for r in xinfo)
            if unique and not partial and origin != "pk" and "<expr>" not in cols:
                uniques.add(cols)
            if origin == "c":
                indexes.append(IndexShape(str(iname).lower(), cols, bool(unique), bool(partial)))
        fks: dict[int, list[Any]] = {}
        for row in conn.execute(f"PRAGMA foreign_key_list({_q(name)})").fetchall():
            fks.setdefault(int(row[0]), []).append(row)
        fk_shapes: list[ForeignKeyShape] = []
        for group in fks.values():
            group.sort(key=lambda r: r[1])
            ref = str(group[0][2])
            to = [r[4] for r in group]
            if any(t is None for t in to):
                parent = conn.execute(f"PRAGMA table_info({_q(ref)})").fetchall()
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
            "pg_get_expr(d.adbin, d.adrelid), a.attidentity <> '' "
            "FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid "
            "AND d.adnum = a.attnum WHERE a.attrelid = %s AND a.attnum > 0 "
            "AND NOT a.attisdropped ORDER BY a.attnum",
            (oid,),
        ).fetchall()
        columns: list[ColumnShape] = []
        for cname, ctype, nullable, dflt, identity in cols:
            if identity or (dflt and str(dflt).startswith("nextval(")):
                default: str | None = AUTO
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
                    default = _norm_value(value[0] if value else None, str(ctype))
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


# -- comparing ---------------------------------------------------------------------------------
def compare(expected: SchemaShape, actual: SchemaShape) -> list[Difference]:
    """Every difference between the expected (SQLite-derived) and actual PostgreSQL shapes.
    Tables only in ``actual`` are reported too."""
    diffs: list[Difference] = []
    for want in expected.tables:
        have = actual.table(want.name)
        if have is None:
            diffs.append(Difference(want.name, "table", "", "present", "no such table"))
            continue
        diffs.extend(_compare_table(want, have))
    for have in actual.tables:
        if expected.table(have.name) is None:
            diffs.append(Difference(have.name, "table", "", "absent", "an extra table"))
    return diffs


def _compare_table(want: TableShape, have: TableShape) -> list[Difference]:
    t = want.name
    diffs: list[Difference] = []
    have_cols = {c.name: c for c in have.columns}
    for col in want.columns:
        got = have_cols.pop(col.name, None)
        if got is None:
            diffs.append(Difference(t, "column", col.name, f"{col.type} column", "no column"))
            continue
        if got.type != col.type:
            declared = f" (SQLite {col.declared})" if col.declared else ""
            diffs.append(Difference(t, "type", col.name, col.type + declared, got.type))
        if got.nullable != col.nullable:
            diffs.append(
                Difference(
                    t, "nullability", col.name,
                    "NULL allowed" if col.nullable else "NOT NULL",
                    "NULL allowed" if got.nullable else "NOT NULL",
                )
            )  # fmt: skip
        if got.default != col.default:
            diffs.append(Difference(t, "default", col.name, str(col.default), str(got.default)))
    for extra in have_cols.values():
        diffs.append(Difference(t, "column", extra.name, "no column", f"{extra.type} column"))
    if want.primary_key != have.primary_key:
        diffs.append(
            Difference(
                t, "primary key", "", f"({', '.join(want.primary_key)})",
                f"({', '.join(have.primary_key)})",
            )
        )  # fmt: skip
    for u in sorted(set(want.uniques) - set(have.uniques)):
        diffs.append(Difference(t, "unique", ", ".join(u), "unique", "not unique"))
    for u in sorted(set(have.uniques) - set(want.uniques)):
        diffs.append(Difference(t, "unique", ", ".join(u), "not unique", "unique"))
    for fk in sorted(set(want.foreign_keys) - set(have.foreign_keys), key=lambda f: f.columns):
        diffs.append(Difference(t, "foreign key", ", ".join(fk.columns), fk.describe(), "none"))
    for fk in sorted(set(have.foreign_keys) - set(want.foreign_keys), key=lambda f: f.columns):
        diffs.append(Difference(t, "foreign key", ", ".join(fk.columns), "none", fk.describe()))
    have_idx = {i.name: i for i in have.indexes}
    for idx in want.indexes:
        got_idx = have_idx.pop(idx.name, None)
        if got_idx is None:
            diffs.append(Difference(t, "index", idx.name, idx.describe(), "no index"))
        elif got_idx != idx:
            diffs.append(Difference(t, "index", idx.name, idx.describe(), got_idx.describe()))
    for extra_idx in have_idx.values():
        diffs.append(Difference(t, "index", extra_idx.name, "no index", extra_idx.describe()))
    if sorted(want.checks, key=lambda c: c.columns) != sorted(have.checks, key=lambda c: c.columns):
        diffs.append(
            Difference(
                t, "check", "",
                "; ".join(f"CHECK on ({', '.join(c.columns)})" for c in want.checks) or "none",
                "; ".join(f"CHECK on ({', '.join(c.columns)})" for c in have.checks) or "none",
            )
        )  # fmt: skip
    return diffs


# -- the two entry points ----------------------------------------------------------------------
def _expected_shape(
    migrations: Sequence[Migration], *, with_rollbacks: bool = False
) -> tuple[SchemaShape, SchemaShape | None, list[Finding]]:
    """SQLite's schema after the migrations and, with ``with_rollbacks``, after every rollback
    file has then run newest first."""
    with tempfile.TemporaryDirectory(prefix="malnu-parity-") as tmp:
        path = Path(tmp) / "expected.db"
        findings = sqlite_schema(migrations, path)
        conn = sqlite3.connect(str(path), isolation_level=None)
        try:
            shape = sqlite_shape(conn)
            if not with_rollbacks:
                return shape, None, findings
            for m in reversed(migrations):
                if m.rollback is None:
                    continue
                for st in m.rollback.parts().statements:
                    try:
                        conn.execute(st.text)
                    except sqlite3.Error as exc:
                        findings.append(
                            Finding(
                                m.rollback.filename, st.line, "SQLite rejected", str(exc),
                                "fix the rollback file: it fails on the primary too",
                            )
                        )  # fmt: skip
            return shape, sqlite_shape(conn), findings
        finally:
            conn.close()


def _run_each(
    conn: psycopg.Connection[Any], file: str, statements: Iterable[Any], findings: list[Finding]
) -> None:
    """Run PostgreSQL statements (objects with ``text``/``line`` or (line, text) pairs), each
    under a savepoint so one rejection does not hide the next."""
    for line, text in statements:
        try:
            with conn.transaction():
                conn.execute(text)
        except psycopg.Error as exc:
            findings.append(
                Finding(
                    file, line, "PostgreSQL rejected",
                    (exc.diag.message_primary or str(exc)).strip(),
                    "the translation is wrong here: report it, or write a "
                    "PostgreSQL-specific migration",
                )
            )  # fmt: skip


def _connect(url: str) -> psycopg.Connection[Any]:
    from malnu_tui.engine.backends.postgresql import mask_postgres_url, split_tool_options

    libpq_url, _opts = split_tool_options(url)
    try:
        return psycopg.connect(libpq_url, application_name="malnu-tui parity", connect_timeout=10)
    except psycopg.Error as exc:
        raise BackendError(f"cannot connect to {mask_postgres_url(url)}: {exc}") from None


def check_parity(
    migrations: Sequence[Migration],
    postgres_url: str,
    *,
    translations: Sequence[FileTranslation] | None = None,
    check_rollbacks: bool = True,
) -> ParityReport:
    """Translate ``migrations``, apply them to a scratch schema of the PostgreSQL server at
    ``postgres_url`` (in a transaction that is rolled back), and compare with SQLite's schema.

    With ``check_rollbacks`` (and a rollback file for every migration) the translated rollback
    files then run newest first on both sides and the schemas are compared again: differences
    found there have an aspect starting with ``after rollback:``.
    """
    rollbacks = check_rollbacks and bool(migrations) and all(m.rollback for m in migrations)
    expected, expected_after, findings = _expected_shape(migrations, with_rollbacks=rollbacks)
    if translations is None:
        translations = translate_migrations(migrations, SchemaState())
    for ft in translations:
        findings.extend(ft.findings)
    units = postgres_units(migrations) if rollbacks else None
    if units is not None:
        for m in migrations:
            findings.extend(f for f in units.findings[m.filename] if f.file != m.filename)
    scratch = f"malnu_parity_{uuid.uuid4().hex[:12]}"
    actual_after: SchemaShape | None = None
    conn = _connect(postgres_url)
    try:
        with conn.transaction(force_rollback=True):
            conn.execute("SET LOCAL lock_timeout = '5s'")
            conn.execute("SET LOCAL TimeZone = 'UTC'")
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(scratch)))
            # Only the scratch schema is visible: unqualified names can never reach real tables.
            conn.execute(sql.SQL("SET LOCAL search_path = {}").format(sql.Identifier(scratch)))
            for ft in translations:
                pairs = [(st.line, text) for st in ft.statements for text in st.output]
                _run_each(conn, ft.file, pairs, findings)
            actual = postgres_shape(conn, scratch)
            if units is not None:
                for m in reversed(migrations):
                    assert m.rollback is not None
                    pairs = [(st.line, st.text) for st in units.rollbacks[m.filename]]
                    _run_each(conn, m.rollback.filename, pairs, findings)
                actual_after = postgres_shape(conn, scratch)
    except psycopg.Error as exc:
        raise BackendError(f"parity: PostgreSQL error: {exc}") from None
    finally:
        conn.close()
    diffs = compare(expected, actual)
    if expected_after is not None and actual_after is not None:
        diffs.extend(
            dataclasses.replace(d, aspect=f"after rollback: {d.aspect}")
            for d in compare(expected_after, actual_after)
        )
    return ParityReport(
        tuple(m.filename for m in migrations),
        tuple(diffs),
        tuple(sorted(findings, key=lambda f: (f.file, f.line))),
        expected,
        actual,
        "scratch",
        rollbacks_checked=actual_after is not None,
    )


def compare_live(
    migrations: Sequence[Migration], postgres_url: str, *, schema: str = "public"
) -> ParityReport:
    """Compare the tables the migrations create with the same tables in a live PostgreSQL
    schema (read only). Tables that only exist in PostgreSQL are not reported."""
    expected, _after, findings = _expected_shape(migrations)
    conn = _connect(postgres_url)
    try:
        with conn.transaction(force_rollback=True):
            conn.execute("SET TRANSACTION READ ONLY")
            conn.execute("SET LOCAL TimeZone = 'UTC'")
            actual = postgres_shape(conn, schema, [t.name for t in expected.tables])
    except psycopg.Error as exc:
        raise BackendError(f"parity: PostgreSQL error: {exc}") from None
    finally:
        conn.close()
    diffs = compare(expected, actual)
    return ParityReport(
        tuple(m.filename for m in migrations),
        tuple(diffs),
        tuple(findings),
        expected,
        actual,
        "live",
    )
