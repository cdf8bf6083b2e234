"""Whether a target is Supabase's, and what its API exposes: one piece for the lint's Supabase
rules (:mod:`.lint.supabase`), the sync, which enables row level security on the copies it
makes there (:mod:`.sync.exposed`), the tool's own tables, made closed to the API
(:func:`close_new_tables`), ``doctor`` (those tables and copies) and ``check`` (every table the
API serves with it off: :mod:`.monitor.checks`). Supabase's API (PostgREST) serves every
table of an exposed schema (``public``, and those ``supabase/config.toml`` lists) to anyone
holding the project's public ``anon`` key, and grants them to ``anon`` and ``authenticated``
as they are made: a table there without row level security is read and written by the
world."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from malnu_tui.engine.lint.dialect import in_supabase_folder
from malnu_tui.engine.urls import libpq_hosts

if TYPE_CHECKING:
    from malnu_tui.engine.config import Target

__all__ = [
    "OpenTables",
    "Supabase",
    "close_new_tables",
    "close_statement",
    "enable_rls_statement",
    "exposed_open_tables",
    "open_tables",
    "served_schema",
    "supabase_of",
]

# Supabase's own schemas (splinter's list): never the app's tables.
_SYSTEM = frozenset(
    {
        "auth",
        "cron",
        "extensions",
        "graphql",
        "graphql_public",
        "information_schema",
        "net",
        "pgbouncer",
        "pgsodium",
        "pgsodium_masks",
        "pg_catalog",
        "realtime",
        "storage",
        "supabase_functions",
        "supabase_migrations",
        "vault",
        "pgtle",
        "repack",
        "tiger",
        "topology",
    }
)
_HOSTS = (".supabase.co", ".supabase.com")
_LIVE = (
    "SELECT (SELECT count(*) FROM pg_roles WHERE rolname IN ('anon', 'authenticated')) = 2 "
    "AND EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'auth')"
)


@dataclass(frozen=True)
class Supabase:
    """A Supabase target: what says so (for the operator), the schemas its API exposes, and
    the schema a bare table name lands in."""

    why: str
    exposed: frozenset[str] = frozenset({"public"})
    default_schema: str = "public"

    def note(self) -> str:
        shown = ", ".join(sorted(self.exposed)) or "none"
        return f"Supabase's rules on ({self.why}; exposed schemas: {shown})"


def _exposed(migrations_dir: Path) -> frozenset[str]:
    """``[api] schemas`` of the ``config.toml`` beside ``supabase/migrations``, less
    Supabase's own; ``public`` without one."""
    import tomllib

    path = Path(migrations_dir).parent / "config.toml"
    try:
        schemas = tomllib.loads(path.read_text("utf-8-sig")).get("api", {}).get("schemas")
    except (OSError, ValueError, AttributeError, RecursionError):
        schemas = None
    if not isinstance(schemas, list):
        return frozenset({"public"})
    return frozenset(str(s).lower() for s in schemas) - _SYSTEM


def _live(backend: object) -> bool:
    conn = getattr(backend, "conn", None)
    if conn is None or not hasattr(conn, "execute"):
        return False
    try:
        row = conn.execute(_LIVE).fetchone()
    except Exception:  # best effort: a database that will not say is not taken for one
        return False
    return bool(row and row[0])


def supabase_of(target: Target, dialect: str, backend: object = None) -> Supabase | None:
    """The target as Supabase's, or None: its ``supabase`` option (true / false) first, else
    its migrations in a ``supabase/migrations`` folder, a Supabase host among those libpq may
    connect to (``*.supabase.co``, the pooler's ``*.supabase.com``; any of a multi-host URL's,
    its query's ``host``, else ``$PGHOST``), or a live database (``backend``)
    with Supabase's ``anon`` and ``authenticated`` roles and ``auth`` schema. Only for
    PostgreSQL-dialect files."""
    if dialect != "postgresql":
        return None
    said = target.options.get("supabase")
    if said is False:
        return None
    why = None
    if said is True:
        why = f"target {target.name}: supabase = true"
    elif in_supabase_folder(target.migrations_dir):
        why = "the folder supabase/migrations"
    elif target.kind == "postgresql" and any(h.endswith(_HOSTS) for h in libpq_hosts(target.url)):
        why = f"target {target.name}'s host is Supabase's"
    elif target.kind == "postgresql" and backend is not None and _live(backend):
        why = "the live database has Supabase's anon and authenticated roles and auth schema"
    # A bare name lands in public (Supabase's search path), whatever the target's ``schema``,
    # which holds only the tool's own tables.
    return Supabase(why, _exposed(target.migrations_dir)) if why else None


def enable_rls_statement(conn: Any, schema: str, table: str) -> str:
    """``ALTER TABLE "schema"."table" ENABLE ROW LEVEL SECURITY``, quoted for ``conn``."""
    from psycopg import sql

    q = sql.SQL("ALTER TABLE {}.{} ENABLE ROW LEVEL SECURITY").format(
        sql.Identifier(schema), sql.Identifier(table)
    )
    return q.as_string(conn)


def served_schema(target: Target | None, backend: Any) -> str | None:
    """Why Supabase's API serves the schema ``backend`` keeps its tables in (``backend.schema``:
    the tool's own, a sync's copies), or None: no target, not Supabase's, or a schema its API
    does not expose. The one answer of the tool's tables, the sync's copies and ``doctor``."""
    if target is None:
        return None
    supabase = supabase_of(target, "postgresql", backend)
    schema = str(getattr(backend, "schema", "public"))
    if supabase is None or schema not in supabase.exposed:
        return None
    return f"{supabase.why}; its API serves the schema {schema}"


def close_statement(conn: Any, schema: str, table: str) -> str:
    """What closes one of the tool's own tables (tracking, audit, lock, sync state) to
    Supabase's API: row level security on with no policy, and no right for ``anon`` or
    ``authenticated``; its owner (the tool's role), a ``BYPASSRLS`` role and ``service_role``
    still read and write it. The statement ``doctor`` and ``check`` give."""
    from psycopg import sql

    revoke = sql.SQL("REVOKE ALL ON {}.{} FROM anon, authenticated").format(
        sql.Identifier(schema), sql.Identifier(table)
    )
    return f"{enable_rls_statement(conn, schema, table)}; {revoke.as_string(conn)}"


def close_new_tables(conn: Any, schema: str, tables: Sequence[str]) -> None:
    """:func:`close_statement` run on each of ``tables`` the tool has just made, in the
    transaction of their CREATE TABLE (Supabase's default privileges had granted them ALL to
    ``anon`` and ``authenticated``); only the API roles the cluster has are named."""
    from psycopg import sql

    rows = conn.execute(
        "SELECT rolname FROM pg_roles WHERE rolname IN ('anon', 'authenticated') ORDER BY 1"
    ).fetchall()
    roles = sql.SQL(", ").join(sql.Identifier(str(r[0])) for r in rows)
    for table in tables:
        conn.execute(enable_rls_statement(conn, schema, table))
        if rows:
            name = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table))
            conn.execute(sql.SQL("REVOKE ALL ON {} FROM {}").format(name, roles))


# Each table of the schemas (only the named ones; or only the sync's copies: their synced_at
# column; or every one, and every view) and whether Supabase's API serves it whole to every
# holder of the anon key while anon or authenticated may read or write it (a relation REVOKE'd
# from both is out of the API's reach): a table with row level security off; a view reading as
# its owner (no security_invoker; a materialized view always) a table whose every row that
# owner sees (its row level security off, or the owner's own without FORCE, or a superuser's
# or BYPASSRLS owner). The one query of the sync, `doctor` and `check`.
_OPEN = (
    "SELECT n.nspname, c.relname, c.relkind, CASE WHEN c.relkind IN ('r', 'p') "
    "THEN NOT c.relrowsecurity ELSE (c.relkind = 'm' OR NOT EXISTS (SELECT FROM "
    "unnest(c.reloptions) o WHERE o ~* '^security_invoker=(t|tr|tru|true|y|ye|yes|on|1)$')) "
    "AND EXISTS (SELECT FROM pg_rewrite w JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass "
    "AND d.objid = w.oid AND d.refclassid = 'pg_class'::regclass "
    "JOIN pg_class t ON t.oid = d.refobjid JOIN pg_roles o ON o.oid = c.relowner "
    "WHERE w.ev_class = c.oid AND t.relkind IN ('r', 'p') AND (NOT t.relrowsecurity "
    "OR o.rolsuper OR o.rolbypassrls OR (NOT t.relforcerowsecurity "
    "AND pg_has_role(c.relowner, t.relowner, 'USAGE')))) END "
    "AND EXISTS (SELECT FROM pg_roles r WHERE r.rolname IN ('anon', 'authenticated') "
    "AND has_table_privilege(r.oid, c.oid, 'SELECT, INSERT, UPDATE, DELETE')) "
    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = ANY(%(schemas)s::text[]) AND CASE "
    "WHEN %(names)s::text[] IS NOT NULL THEN c.relkind IN ('r', 'p') "
    "AND c.relname = ANY(%(names)s::text[]) "
    "WHEN %(copies)s THEN c.relkind IN ('r', 'p') AND EXISTS (SELECT FROM pg_attribute a "
    "WHERE a.attrelid = c.oid AND a.attname = 'synced_at' AND NOT a.attisdropped) "
    "ELSE c.relkind IN ('r', 'p', 'v', 'm') END ORDER BY 1, 2"
)


def _open_rows(
    conn: Any, schemas: Sequence[str], names: Sequence[str] | None, copies: bool
) -> list[tuple[str, str, str, bool]]:
    """(schema, name, relkind, served whole to the anon key) per relation: see ``_OPEN``."""
    params = {"schemas": list(schemas), "names": names, "copies": copies}
    rows = conn.execute(_OPEN, params).fetchall()
    return [(str(r[0]), str(r[1]), str(r[2]), bool(r[3])) for r in rows]


def open_tables(conn: Any, schema: str, tables: Sequence[str] | None) -> dict[str, bool]:
    """Each of ``tables`` in ``schema`` (None: each sync copy there) → whether Supabase's API
    serves it to every holder of the anon key (row level security off, anon or authenticated
    granted it). One catalog query."""
    if tables is not None and not tables:
        return {}
    names = None if tables is None else list(tables)
    return {t: now for _, t, _, now in _open_rows(conn, [schema], names, tables is None)}


@dataclass(frozen=True)
class OpenTables:
    """What a Supabase target's API serves whole to every holder of the anon key in its exposed
    schemas (``schema.name``): tables with row level security off, and views reading such
    rows as their owner; the statement that closes each; why the target is Supabase's."""

    why: str
    tables: tuple[str, ...] = ()
    statements: tuple[str, ...] = ()
    views: tuple[str, ...] = ()
    view_statements: tuple[str, ...] = ()

    @property
    def count(self) -> int:
        return len(self.tables) + len(self.views)


def _close_view(conn: Any, schema: str, name: str, kind: str, version: int) -> str:
    """The statement that stops a view serving every row: the caller's rights (PostgreSQL
    15+, ``version`` as ``server_version_num``); a materialized view, which has none, and any
    view before 15 (``security_invoker`` is refused there), revoked from the API's roles."""
    from psycopg import sql

    q = (
        "REVOKE SELECT ON {}.{} FROM anon, authenticated"
        if kind == "m" or version < 150000
        else "ALTER VIEW {}.{} SET (security_invoker = true)"
    )
    return sql.SQL(q).format(sql.Identifier(schema), sql.Identifier(name)).as_string(conn)


def exposed_open_tables(
    conn: Any,
    supabase: Supabase,
    public: Collection[str] = (),
    tool_schema: str = "",
    version: int | None = None,
) -> OpenTables:
    """Every table of ``supabase``'s exposed schemas, whoever made it (a migration, the
    dashboard, the SQL editor, a hand's ``DISABLE ROW LEVEL SECURITY``), and every view there,
    that its API serves whole to every holder of the anon key, but those ``public`` names
    (``schema.name``: meant to be read by all): ``check``'s. The tool's own tables (in
    ``tool_schema``) with :func:`close_statement`. ``version``: the server's
    (``server_version_num``) the statements are for; None: ``conn``'s. One catalog query."""
    from malnu_tui.engine.backends.pg_tables import TOOL_TABLES

    rows = _open_rows(conn, sorted(supabase.exposed), None, False) if supabase.exposed else []
    opened = [r for r in rows if r[3] and f"{r[0]}.{r[1]}" not in public]
    tables = [(sc, t) for sc, t, kind, _ in opened if kind in ("r", "p")]
    views = [(sc, v, kind) for sc, v, kind, _ in opened if kind not in ("r", "p")]
    own = {(tool_schema, t) for t in TOOL_TABLES}
    if version is None:
        version = int(conn.info.server_version)
    return OpenTables(
        supabase.why,
        tuple(f"{sc}.{t}" for sc, t in tables),
        tuple(
            (close_statement if (sc, t) in own else enable_rls_statement)(conn, sc, t)
            for sc, t in tables
        ),
        tuple(f"{sc}.{v}" for sc, v, _ in views),
        tuple(_close_view(conn, sc, v, kind, version) for sc, v, kind in views),
    )
