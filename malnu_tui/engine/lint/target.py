"""The lint as a target sees it: its dialect, D1's rule set for a D1 target, the live schema
and rows when the database is reachable, and the target's own session lock_timeout."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from malnu_tui.engine.backends.sqlite_sql import NOT_INTERNAL
from malnu_tui.engine.config_schema import LINT_MODES
from malnu_tui.engine.errors import MalnuError
from malnu_tui.engine.lint.cache import cached_report
from malnu_tui.engine.lint.model import LintReport

if TYPE_CHECKING:
    from malnu_tui.engine.backends.base import AuditEntry, Backend
    from malnu_tui.engine.config import Target
    from malnu_tui.engine.files import MigrationSet
    from malnu_tui.engine.lint.core import Dialect
    from malnu_tui.engine.lint.d1 import RowProbe
    from malnu_tui.engine.lint.pg_moved_keys import LiveChildren
    from malnu_tui.engine.lint.pg_publication import LivePublications
    from malnu_tui.engine.lint.transaction import LiveStorage

__all__ = ["dialect_of", "lint_gate", "lint_mode", "lint_target", "live_schema"]

_LIVE_SCHEMA = (
    f"SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND {NOT_INTERNAL} "
    "ORDER BY CASE type WHEN 'table' THEN 0 ELSE 1 END, rowid"
)
# The words are the config schema's (checked when the file is loaded).


def dialect_of(target: Target) -> Dialect:
    """The dialect the target's migration files are written in: its ``dialect`` option, else
    PostgreSQL's for a PostgreSQL target and SQLite's otherwise."""
    return "postgresql" if target.files_dialect == "postgresql" else "sqlite"  # the one rule


def lint_mode(target: Target) -> str:
    """``enforce`` (``up`` refuses while a lint error remains) or ``warn`` (the default)."""
    from malnu_tui.engine.errors import ConfigError

    value = str(target.options.get("lint", "warn")).strip().lower()
    if value not in LINT_MODES:
        raise ConfigError(
            f'target {target.name}: lint = "{value}" is not one of: ' + ", ".join(LINT_MODES)
        )
    return value


def _query(backend: Backend, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
    conn = getattr(backend, "conn", None)
    if isinstance(conn, sqlite3.Connection):
        return [tuple(r) for r in conn.execute(sql, tuple(params))]
    query = getattr(backend, "query", None)
    if callable(query):  # D1
        return [tuple(r.values()) for r in query(sql, params)]
    return []


def live_schema(backend: Backend) -> list[str]:
    """The CREATE statements of a live SQLite-dialect database (D1 or a SQLite file), tables
    first, as the lint's starting schema."""
    return [str(r[0]) for r in _query(backend, _LIVE_SCHEMA)]


def _probe(backend: Backend) -> RowProbe:
    def has_rows(table: str, column: str) -> bool | None:
        qt = '"' + table.replace('"', '""') + '"'
        qc = '"' + column.replace('"', '""') + '"'
        try:
            return bool(_query(backend, f"SELECT 1 FROM {qt} WHERE {qc} IS NOT NULL LIMIT 1"))
        except (MalnuError, sqlite3.Error):
            return False  # no such table live: it is created by a pending migration

    return has_rows


def _pg_rows(backend: Backend) -> Callable[[str], int | None]:
    """Live rows of a PostgreSQL table (the planner's estimate; counted up to the threshold
    when the table was never analysed); None when there is no such table yet."""
    from malnu_tui.engine.lint.model import LARGE_TABLE_ROWS

    conn = getattr(backend, "conn", None)

    def rows(table: str) -> int | None:
        if conn is None:
            return None
        try:
            from psycopg import sql

            from malnu_tui.engine.backends.pg_sql import with_params

            row = conn.execute(
                "SELECT c.reltuples::bigint FROM pg_class c WHERE c.oid = to_regclass(%s)",
                (sql.Identifier(table).as_string(conn),),
            ).fetchone()
            if row is None or row[0] is None:
                return None
            if int(row[0]) >= 0:
                return int(row[0])
            q = sql.SQL("SELECT count(*) FROM (SELECT 1 FROM {} LIMIT %s) AS s").format(
                sql.Identifier(table)
            )
            counted = conn.execute(with_params(q, conn), (LARGE_TABLE_ROWS,)).fetchone()
            return int(counted[0]) if counted else None
        except Exception:  # best effort: the finding stays a warning
            return None

    return rows


def _pg_has_table(backend: Backend) -> Callable[[str], bool | None]:
    """Whether the live PostgreSQL database has a table (or view) of that name, in any schema
    (a name the search path would not find still counts: the DROP may name its schema)."""
    conn = getattr(backend, "conn", None)

    def has(table: str) -> bool | None:
        if conn is None:
            return None
        try:
            row = conn.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_class WHERE relname = %s "
                "AND relkind IN ('r', 'p', 'f', 'v', 'm'))",
                (table,),
            ).fetchone()
            return bool(row[0]) if row is not None else None
        except Exception:  # best effort: unknown, so the finding stays a note
            return None

    return has


_ON_DELETE = {"c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT", "r": "RESTRICT"}


def _pg_children(backend: Backend) -> LiveChildren | None:
    """The foreign keys to a live PostgreSQL table (its name as PostgreSQL folds it: "Kelas"
    is not kelas): (child table, its first column, ON DELETE), read from pg_constraint; None
    when unknown (no such table, or not asked)."""
    conn = getattr(backend, "conn", None)
    if conn is None:
        return None

    def children(table: str) -> list[tuple[str, str, str]] | None:
        try:
            from psycopg import sql

            rows = conn.execute(
                "SELECT r.relname, a.attname, c.confdeltype::text FROM pg_constraint c "
                "JOIN pg_class r ON r.oid = c.conrelid JOIN pg_attribute a ON a.attrelid = "
                "c.conrelid AND a.attnum = c.conkey[1] WHERE c.contype = 'f' "
                "AND c.confrelid = to_regclass(%s) ORDER BY r.relname, c.conname",
                (sql.Identifier(table).as_string(conn),),
            ).fetchall()
        except Exception:  # best effort: the migrations' own REFERENCES still count
            return None
        return [(str(t), str(col), _ON_DELETE.get(str(a), "NO ACTION")) for t, col, a in rows]

    return children


def _pg_storage(backend: Backend) -> LiveStorage | None:
    """A live PostgreSQL relation's persistence (p/u), tablespace (the database's default
    when it names none, as PostgreSQL reads it) and access method; None when unknown."""
    from malnu_tui.engine.lint.transaction import LiveStorage

    conn = getattr(backend, "conn", None)
    if conn is None:
        return None

    def ask(name: str) -> tuple[str, str, str] | None:
        try:
            from psycopg import sql

            row = conn.execute(
                "SELECT c.relpersistence::text, coalesce(t.spcname, (SELECT s.spcname FROM "
                "pg_database d JOIN pg_tablespace s ON s.oid = d.dattablespace WHERE d.datname "
                "= current_database())), coalesce(a.amname, '') FROM pg_class c "
                "LEFT JOIN pg_tablespace t ON t.oid = c.reltablespace "
                "LEFT JOIN pg_am a ON a.oid = c.relam WHERE c.oid = to_regclass(%s)",
                (sql.Identifier(name).as_string(conn),),
            ).fetchone()
        except Exception:  # best effort: unknown, so the finding stays (with its "unless")
            return None
        return (str(row[0]), str(row[1]), str(row[2])) if row is not None else None

    return LiveStorage(ask)


# Every table a publication can publish (ordinary or partitioned, logged, not a partition: one
# is judged by its parent's key).
# A partition's own key only (conparentid = 0): one its partitioned table gives it goes with
# that table's; its partitioned table's schema and name.
_PUB_TABLES = (
    "SELECT n.nspname, c.relname, c.relreplident::text, c.relkind::text, (SELECT k.conname "
    "FROM pg_constraint k WHERE k.conrelid = c.oid AND k.contype = 'p' AND k.conparentid = 0), "
    "(SELECT array_agg(a.attname::text) FROM pg_constraint k JOIN pg_attribute a ON "
    "a.attrelid = c.oid AND a.attnum = ANY (k.conkey) WHERE k.conrelid = c.oid AND k.contype "
    "= 'p' AND k.conparentid = 0), pn.nspname, pc.relname "
    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "LEFT JOIN pg_inherits i ON c.relispartition AND i.inhrelid = c.oid "
    "LEFT JOIN pg_class pc ON pc.oid = i.inhparent "
    "LEFT JOIN pg_namespace pn ON pn.oid = pc.relnamespace WHERE c.relkind IN ('r', 'p') "
    "AND c.relpersistence = 'p' AND n.nspname <> 'information_schema' "
    "AND n.nspname NOT LIKE 'pg\\_%'"
)
_PUBS = (
    "SELECT p.pubname, p.puballtables, p.pubinsert, p.pubupdate, p.pubdelete, p.pubtruncate, "
    "coalesce((SELECT array_agg(t.schemaname || '.' || t.tablename) FROM pg_publication_tables "
    "t WHERE t.pubname = p.pubname AND NOT p.puballtables), '{}') FROM pg_publication p"
)

_HAS_SCHEMA_PUBS = "SELECT to_regclass('pg_catalog.pg_publication_namespace') IS NOT NULL"
_SCHEMA_PUBS = (
    "SELECT p.pubname, n.nspname FROM pg_publication_namespace x JOIN pg_publication p "
    "ON p.oid = x.pnpubid JOIN pg_namespace n ON n.oid = x.pnnspid"
)


def _pub_key(schema: str, name: str) -> tuple[str, str]:
    """A live table's key in lint/pg_publication.py (``public``'s by its name alone, as the
    migrations name them; another schema's with it) and its display form."""
    from malnu_tui.engine.lint.pg_publication import folded_key

    # (as the catalog holds them: PostgreSQL's folding, "Kelas" not kelas)
    return folded_key(schema, name), name if schema == "public" else f"{schema}.{name}"


def _pg_publications(backend: Backend) -> LivePublications | None:
    """The live PostgreSQL database's tables (their primary key, replica identity) and its
    publications (FOR ALL TABLES or their tables, what they publish); None when unknown."""
    from malnu_tui.engine.lint.pg_publication import LivePub, LivePublications, LiveRel

    conn = getattr(backend, "conn", None)
    if conn is None:
        return None
    live = LivePublications()
    try:
        for row in conn.execute(_PUB_TABLES).fetchall():
            schema, name, ident, kind, pkey, cols, p_schema, p_name = row
            k, shown = _pub_key(str(schema), str(name))
            pk = str(pkey).lower() if pkey is not None else None
            columns = tuple(str(c).lower() for c in cols or ())
            parent = _pub_key(str(p_schema), str(p_name))[0] if p_name is not None else None
            rel = LiveRel(shown, pk, str(ident), str(kind) == "p", columns, parent)
            live.tables.setdefault(k, rel)
        for row in conn.execute(_PUBS).fetchall():
            kinds = frozenset(w for w, on in zip(("insert", "update", "delete", "truncate"),
                                                 row[2:6], strict=True) if on)  # fmt: skip
            tables = {_pub_key(*str(q).split(".", 1))[0] for q in row[6] or ()}
            live.publications[str(row[0]).lower()] = LivePub(bool(row[1]), kinds, tables)
        has = conn.execute(_HAS_SCHEMA_PUBS).fetchone()
        if has is not None and has[0]:  # (PostgreSQL 15: FOR TABLES IN SCHEMA)
            for pub, schema in conn.execute(_SCHEMA_PUBS).fetchall():
                live.publications[str(pub).lower()].schemas.add(str(schema))
    except Exception:  # best effort: the set's own tables and publications still count
        return None
    return live


def _session_lock_timeout(target: Target) -> bool:
    """Whether the tool's sessions on a PostgreSQL target carry a lock_timeout (it sets 10s
    unless the URL or the target's options say ``lock_timeout = 0``)."""
    if target.kind != "postgresql":
        return False
    query = dict(parse_qsl(urlsplit(target.url).query))
    value = str(target.options.get("lock_timeout", query.get("lock_timeout", "10s"))).strip()
    return value.rstrip("smhinud ").strip() not in ("0", "")


def _wrangler_d1(target: Target) -> str | None:
    """Why a SQLite target's set is a D1 database's, or None: the file is wrangler's local
    D1 state, or the target is the one no config names (``local``) and the migrations lie in
    a wrangler project that declares D1 databases. An operator switching from wrangler runs
    `malnu-tui lint --all` there before writing any config: D1's rules were left out, and a
    `PRAGMA foreign_keys = OFF` rebuild that wipes child rows on D1 passed clean."""
    from malnu_tui.engine.backends.d1.wrangler_config import d1_databases, find_config, load
    from malnu_tui.engine.config import DEFAULT_TARGET
    from malnu_tui.engine.errors import ConfigError

    if target.kind != "sqlite":
        return None
    if ".wrangler" in Path(urlsplit(target.url).path).parts:
        return "the database is wrangler's local D1 state"
    config = find_config(target.migrations_dir) if target.name == DEFAULT_TARGET else None
    try:
        declared = config is not None and bool(d1_databases(load(config)))
    except ConfigError:
        return None  # (`status` and `up` say what is wrong with it)
    return (
        f"the set is in a wrangler project whose {config.name} declares D1 databases"
        if (config is not None and declared)
        else None
    )


def lint_target(
    target: Target,
    mset: MigrationSet,
    only: Sequence[str] | None,
    backend: Backend | None = None,
    *,
    from_live_schema: bool = False,
) -> LintReport:
    """Lint ``only`` (filenames; None: all) for ``target``. ``backend``, when given, is the
    live database: D1's RESTRICT rule asks it whether child rows exist, and with
    ``from_live_schema`` (pending migrations) the replay starts from its schema."""
    notes: list[str] = []
    wrangler = _wrangler_d1(target)
    if wrangler is not None:
        notes.append(f"D1's rules too: {wrangler}")
    is_d1 = target.kind == "d1" or wrangler is not None
    rows = None
    has_table = None  # (pending migrations only: --all lints what ran before the live schema)
    storage = None  # (the same)
    children = None  # (the same)
    publications = None  # (the same)
    if backend is not None and target.kind == "postgresql":
        rows = _pg_rows(backend) if dialect_of(target) == "postgresql" else None
        has_table = _pg_has_table(backend) if from_live_schema else None
        storage = _pg_storage(backend) if from_live_schema else None
        children = _pg_children(backend) if from_live_schema else None
        publications = _pg_publications(backend) if from_live_schema else None
    base: list[str] = []
    live = False  # the replay starts from the live schema, read
    probe = None
    if target.kind == "d1" and backend is None:
        notes.append("D1 live checks not run: the database was not reachable")
    if backend is not None and dialect_of(target) == "sqlite" and target.kind != "postgresql":
        try:
            if from_live_schema:
                base = live_schema(backend)
                live = True
            probe = _probe(backend) if is_d1 else None
        except MalnuError as exc:
            notes.append(f"live checks not run: {exc}")
    dialect = dialect_of(target)
    lock_timeout = _session_lock_timeout(target)
    from malnu_tui.engine.lint.supabase import live_tables, supabase_of

    pg_backend = backend if target.kind == "postgresql" else None
    supabase = supabase_of(target, dialect, pg_backend)
    supabase_live = None  # (pending migrations only, as has_table)
    live_shape = None  # (the same: a function's or view's shape before the pending ones)
    conn = getattr(pg_backend, "conn", None) if from_live_schema else None
    if conn is not None:
        from malnu_tui.engine.lint.shapes import pg_live_shape

        live_shape = pg_live_shape(conn)
    if supabase is not None:
        notes.append(supabase.note())
        if from_live_schema and pg_backend is not None:
            supabase_live = live_tables(pg_backend)

    def compute() -> LintReport:
        from malnu_tui.engine.lint.core import lint_migrations

        return lint_migrations(
            mset,
            only,
            dialect=dialect,
            d1=is_d1,
            base_schema=base,
            probe=probe,
            session_lock_timeout=lock_timeout,
            notes=notes,
            table_rows=rows,
            live=live,
            live_table=has_table,
            supabase=supabase,
            supabase_live=supabase_live,
            live_shape=live_shape,
            live_storage=storage,
            live_children=children,
            live_publications=publications,
        )

    if probe is not None or rows is not None or has_table is not None:  # live: never cached
        return compute()
    options = (dialect, is_d1, lock_timeout, live, *notes)
    return cached_report(mset, only, options, base, compute)


def lint_gate(target: Target, report: LintReport, *, accept: bool) -> AuditEntry | None:
    """``up``'s rule: on a target with ``lint = "enforce"`` an error refuses the run
    (:class:`LintRefused`) unless ``accept``; then the audit row to record is returned."""
    from malnu_tui.engine.backends.base import AuditEntry
    from malnu_tui.engine.errors import LintRefused

    errors = report.errors
    if not errors or lint_mode(target) != "enforce":
        return None
    where = [f"{f.rule} at {f.file}:{f.line}" for f in errors]
    if not accept:
        raise LintRefused(target.name, where)
    files = ", ".join(sorted({f.file for f in errors}))
    detail = "--accept-lint: " + "; ".join(where)
    return AuditEntry.now("accept-lint", files[:200], "ok", detail[:500])
