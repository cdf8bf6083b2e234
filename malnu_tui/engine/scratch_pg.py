"""The stairway's and the rehearsal's scratch on PostgreSQL: a scratch schema on a server (in
one transaction rolled back at the end on a live database, committed file by file on a scratch
server), a migration's statements run there as ``up`` runs them (:func:`pg_run`), and the
schema fingerprinted object by object (:func:`pg_fingerprint`; the database's other schemas
and its extensions too). The SQLite scratch and the comparison of fingerprints are in
:mod:`malnu_tui.engine.scratch`."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from malnu_tui.engine.errors import BackendError, NotPermitted, StatementFailed
from malnu_tui.engine.scratch import TOOL_TABLES, Fingerprint, normal_sql
from malnu_tui.engine.sqlsplit import Statement

if TYPE_CHECKING:
    from malnu_tui.engine.backends.postgresql import PostgresBackend

__all__ = [
    "LIVE_LOCK_TIMEOUT",
    "PostgresScratch",
    "pg_extensions",
    "pg_fingerprint",
    "pg_fingerprint_outside",
    "pg_run",
]


_PG_FINGERPRINT = {
    "relations": """
        SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = %(s)s AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')""",
    "columns": """
        SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
               pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE n.nspname = %(s)s AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND a.attnum > 0
          AND NOT a.attisdropped""",
    "indexes": "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = %(s)s",
    "constraints": """
        SELECT c.relname, con.conname, pg_get_constraintdef(con.oid)
        FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %(s)s""",
    "triggers": """
        SELECT c.relname, t.tgname, pg_get_triggerdef(t.oid) FROM pg_trigger t
        JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = %(s)s AND NOT t.tgisinternal""",
    "views": """
        SELECT c.relname, pg_get_viewdef(c.oid) FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = %(s)s AND c.relkind IN ('v', 'm')""",
    "rls": """
        SELECT c.relname, c.relforcerowsecurity FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = %(s)s AND c.relkind IN ('r', 'p') AND c.relrowsecurity""",
    "policies": """
        SELECT tablename, policyname,
               concat_ws(' ', permissive, cmd, 'TO', roles::text, 'USING', qual,
                         'WITH CHECK', with_check)
        FROM pg_policies WHERE schemaname = %(s)s""",
    "grants": """
        SELECT c.relname, c.relacl::text FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = %(s)s AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
          AND c.relacl IS NOT NULL  -- a GRANT then its REVOKE leave the owner's default:
          AND c.relacl <> acldefault(CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END::"char",
                                     c.relowner)""",
    "functions": """
        SELECT p.proname, pg_get_function_identity_arguments(p.oid),
               concat_ws(' ', md5(p.prosrc), CASE WHEN p.prosecdef THEN 'SECURITY DEFINER' END,
                         p.proconfig::text)
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = %(s)s
          AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = 'pg_proc'::regclass
                          AND e.objid = p.oid AND e.deptype = 'e')""",
    "types": """
        SELECT t.typname, t.typtype FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE n.nspname = %(s)s AND t.typtype IN ('e', 'd', 'c')
          AND NOT EXISTS (SELECT 1 FROM pg_class c
                          WHERE c.oid = t.typrelid AND c.relkind <> 'c')""",
}
# The database's other schemas, for a scratch server (:meth:`PostgresScratch.fingerprint`):
# not the system's, nor the scratch schemas of other stairways and checks (a CI server that
# jobs share), nor this one's.
_OTHER_SCHEMAS = """
    SELECT nspname FROM pg_namespace WHERE nspname <> %(s)s
      AND nspname NOT IN ('pg_catalog', 'information_schema')
      AND nspname !~ '^(pg_toast|pg_temp_|malnu_stairway_|malnu_scratch_)' ORDER BY 1"""
_EXTENSIONS = """
    SELECT e.extname, n.nspname, e.extversion FROM pg_extension e
    JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname <> 'plpgsql'"""
_RELKIND = {"r": "table", "p": "table", "v": "view", "m": "view", "S": "sequence",
            "f": "foreign table"}  # fmt: skip


def pg_fingerprint(conn: Any, schema: str) -> Fingerprint:
    """The objects of ``schema`` (tool tables excluded), for comparing two moments."""
    fp: Fingerprint = {}
    p = {"s": schema}
    prefix = f"{schema}."

    def run(name: str) -> list[tuple[Any, ...]]:
        return list(conn.execute(_PG_FINGERPRINT[name], p).fetchall())

    for rel, kind in run("relations"):
        if rel not in TOOL_TABLES:
            fp[f"{_RELKIND[kind]} {rel}"] = _RELKIND[kind]
    for rel, col, typ, notnull, default, identity, generated in run("columns"):
        if rel in TOOL_TABLES:
            continue
        desc = str(typ) + (" NOT NULL" if notnull else "")
        if default is not None:
            desc += f" DEFAULT {str(default).replace(prefix, '')}"
        if identity:
            desc += f" IDENTITY {identity}"
        if generated:
            desc += " GENERATED"
        fp[f"column {rel}.{col}"] = desc
    for table, name, ddl in run("indexes"):
        if table not in TOOL_TABLES:
            fp[f"index {name}"] = normal_sql(str(ddl).replace(prefix, ""))
    for table, name, ddl in run("constraints"):
        if table not in TOOL_TABLES:
            fp[f"constraint {table}.{name}"] = normal_sql(str(ddl).replace(prefix, ""))
    for table, name, ddl in run("triggers"):
        fp[f"trigger {table}.{name}"] = normal_sql(str(ddl).replace(prefix, ""))
    for name, ddl in run("views"):
        fp[f"view {name}"] = normal_sql(str(ddl).replace(prefix, ""))
    for table, forced in run("rls"):
        if table not in TOOL_TABLES:
            fp[f"table {table} row level security"] = "on" + (", forced" if forced else "")
    for table, name, definition in run("policies"):
        fp[f"policy {table}.{name}"] = normal_sql(str(definition).replace(prefix, ""))
    for rel, acl in run("grants"):
        if rel not in TOOL_TABLES:
            fp[f"table {rel} grants"] = str(acl)
    for name, args, digest in run("functions"):
        fp[f"function {name}({args})"] = str(digest)
    for name, kind in run("types"):
        fp[f"type {name}"] = str(kind)
    return fp


def pg_fingerprint_outside(conn: Any, scratch: str) -> Fingerprint:
    """The objects of the database's other schemas (``public``…), each named with its schema
    (``function public.note_count()``), and the schemas themselves."""
    fp: Fingerprint = {}
    for (schema,) in conn.execute(_OTHER_SCHEMAS, {"s": scratch}).fetchall():
        fp[f"schema {schema}"] = "schema"
        for key, value in pg_fingerprint(conn, str(schema)).items():
            kind, _, name = key.partition(" ")
            fp[f"{kind} {schema}.{name}"] = value
    return fp


def pg_extensions(conn: Any, schema: str | None = None) -> Fingerprint:
    """The database's extensions (those installed in ``schema`` when given), one entry each:
    their functions are not listed."""
    return {
        f"extension {name}": f"{version} in schema {where}"
        for name, where, version in conn.execute(_EXTENSIONS).fetchall()
        if schema is None or where == schema
    }


def _pg_error(exc: Exception) -> str:
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    return str(primary or exc).strip()


def pg_run(
    backend: PostgresBackend, filename: str, statements: Sequence[Statement]
) -> tuple[int, int]:
    """Run ``statements`` in one transaction on ``backend``'s connection: (ms, rows), and the
    session's settings reset after it, as ``up`` runs a file. A CONCURRENTLY file runs outside
    one, as ``up`` runs it (engine/backends/pg_concurrent.py), or inside a scratch's
    transaction (:class:`PostgresScratch`) the plain way, as ``plan --check`` does; one that
    mixes CONCURRENTLY with other statements fails at its line, as ``up`` refuses it."""
    import psycopg
    from psycopg.pq import TransactionStatus

    from malnu_tui.engine.backends.pg_concurrent import run_concurrently
    from malnu_tui.engine.backends.pg_sql import failing_line, run_statement
    from malnu_tui.engine.concurrently import ConcurrentRefusal, classify, without_concurrently

    conn = backend.conn
    inside = conn.info.transaction_status != TransactionStatus.IDLE  # a scratch's own
    unit = classify(statements)
    if isinstance(unit, ConcurrentRefusal):
        text = next((st.text for st in statements if st.line == unit.line), "")
        raise StatementFailed(filename, unit.line, text, unit.message())
    if unit is not None and not inside:
        return run_concurrently(conn, filename, unit, backend.display_url), 0
    if unit is not None:
        plain = (without_concurrently(st) for st in statements)
        statements = [st for st in plain if st is not None]
    rows = 0
    started = time.perf_counter()
    failure: StatementFailed | None = None
    try:
        with conn.transaction():
            for st in statements:
                try:
                    rows += max(run_statement(conn, st), 0)  # COPY … FROM stdin as `up` runs it
                except psycopg.Error as exc:
                    error = _pg_error(exc)
                    hint = _LIVE_HINTS.get(exc.sqlstate or "") if inside else None
                    if hint and (hint is not _QUALIFIED or _QUALIFIED_NAME.search(st.text)):
                        error += f" ({hint})"
                    elif not inside and _not_supabase(exc, error):
                        error += f" ({_SUPABASE_SERVER})"
                    failure = StatementFailed(filename, failing_line(st, exc), st.text, error)
                    raise
    except psycopg.Error as exc:
        if failure is not None:
            raise failure from None
        if (exc.sqlstate or "").startswith("23"):  # a deferred constraint, checked at COMMIT
            line = statements[-1].line if statements else 0
            raise StatementFailed(
                filename, line, "COMMIT", f"{_pg_error(exc)} (at COMMIT)"
            ) from None
        raise BackendError(f"{backend.display_url}: {_pg_error(exc)}") from None
    ms = int((time.perf_counter() - started) * 1000)
    backend.end_file_settings(statements)
    return ms, rows


LIVE_LOCK_TIMEOUT = "2s"
_ON_LIVE = "the stairway on a configured target's database runs in one transaction it rolls back"
_QUALIFIED = (
    f"{_ON_LIVE}, in a scratch schema, but a schema-qualified name (public.x) lands in the "
    "live schema, where the applied migrations' objects already are: pass --postgres a "
    "scratch server"
)
# (a call, `auth.uid()`, `extensions.uuid_generate_v4()`, lands nothing anywhere)
_QUALIFIED_NAME = re.compile(
    r'(?:\b[A-Za-z_]\w*|"[^"]+")\s*\.\s*(?:[A-Za-z_]\w*\b|"[^"]+")(?!\s*\()'
)
# A Supabase set on a scratch server that is no Supabase: PostgreSQL's words alone left the
# operator to guess why a set production runs fails at its first policy.
_NOT_SUPABASE = re.compile(
    r'(?:schema "(?:auth|extensions|storage)"|role "(?:anon|authenticated|service_role)") '
    r"does not exist"
)
# The same said by a server speaking another language (Schema »extensions« existiert nicht):
# by SQLSTATE (invalid_schema_name, undefined_object) and the name it quotes.
_SUPABASE_NAMES = {
    "3F000": ("auth", "extensions", "storage"),
    "42704": ("anon", "authenticated", "service_role"),
}
_QUOTED = re.compile(r'[»"«„“]\s?([^»«"„“”\s]+)\s?[«"»“”]')


def _not_supabase(exc: Exception, error: str) -> bool:
    if _NOT_SUPABASE.search(error):
        return True
    names = _SUPABASE_NAMES.get(getattr(exc, "sqlstate", None) or "", ())
    quoted = _QUOTED.search(error)
    return quoted is not None and quoted[1] in names


_SUPABASE_SERVER = (
    "a Supabase set needs Supabase's schemas and roles, which this server has not: give "
    "--postgres the database `supabase start` runs locally (port 54322; `supabase status` "
    "prints its URL)"
)
# What the stairway on a target's own database cannot do, by SQLSTATE: said with the error.
_LIVE_HINTS = {
    "55P04": f"{_ON_LIVE}, where PostgreSQL refuses an enum value an earlier migration added "
    "until it commits: `up` is not affected; pass --postgres a scratch server to test past it",
    "42P07": _QUALIFIED,  # duplicate_table
    "42710": _QUALIFIED,  # duplicate_object
    "42P06": _QUALIFIED,  # duplicate_schema
    "42723": _QUALIFIED,  # duplicate_function
}


class PostgresScratch:
    """A scratch schema on a PostgreSQL server. Statements run with ``search_path`` set to
    it, so a migration's unqualified names land there. On a live database (``rolled_back``: a
    configured target's, the default, or any the tool manages) all of it, the schema too,
    runs inside one transaction rolled back on close (each file in a savepoint), so nothing
    stays for good; a set that names one of its schemas is refused before it runs
    (engine/live_guard.py). On a scratch server (``--postgres`` URL of no target, unmanaged)
    each file commits, as ``up`` runs it (CONCURRENTLY builds too), and the schema is dropped
    on close. There the server's own search path follows the scratch schema (a file that
    creates ``public.profiles`` and then names ``profiles`` finds it, as ``up`` does), the
    fingerprint covers the database's other schemas too (Supabase's and pg_dump's files
    name ``"public"``), and :meth:`left_outside` says what the set left there."""

    def __init__(self, url: str, *, rolled_back: bool = True) -> None:
        from malnu_tui.engine.backends.postgresql import open_url
        from malnu_tui.engine.left_behind import drop_schemas_left, scratch_name
        from malnu_tui.engine.live_guard import is_managed

        self.backend: PostgresBackend = open_url(url)
        self.schema = scratch_name("stairway")
        self.swept: list[str] = []
        conn = self.backend.conn
        try:  # a database the tool manages is live, whatever URL reached it
            rolled_back = rolled_back or is_managed(conn)
        except Exception:
            self.backend.close()
            raise
        self.rolled_back = rolled_back
        self._path = ""  # the server's search path, after the scratch schema's (scratch server)
        self.path_schemas: set[str] = set()  # … the schemas it names (scratch server)
        self._server_first = False  # bare names land on the server's path (server_path_first)
        self._outside: Fingerprint = {}  # the other schemas' objects before the stairway
        self._extensions: Fingerprint = {}  # and the database's extensions
        self.where = f"scratch schema {self.schema} on {self.backend.display_url}" + (
            " (in a transaction rolled back at the end)" if rolled_back else ""
        )
        try:
            if rolled_back:
                conn.execute("BEGIN")  # pg_run's transactions are savepoints inside it
            conn.execute(f'CREATE SCHEMA "{self.schema}"')
            if not rolled_back:  # (on a live one the schema goes with its transaction)
                self.swept = drop_schemas_left(conn)
                row = conn.execute("SELECT current_setting('search_path')").fetchone()
                self._path = str(row[0]) if row and row[0] else ""
                from malnu_tui.engine.live_guard import path_schemas

                self.path_schemas = path_schemas(conn)
                self._outside = pg_fingerprint_outside(conn, self.schema)
                self._extensions = pg_extensions(conn)  # the server's own: not the set's
            else:  # a live database: only its schemas of extensions (Supabase's `extensions`)
                from malnu_tui.engine.live_guard import extension_only_path

                self._path = extension_only_path(conn)
            self._pin()
        except Exception as exc:
            from malnu_tui.engine.backends.pg_refusals import refuse_read_only
            from malnu_tui.engine.backends.pg_session import role_name, sql_name

            if getattr(exc, "sqlstate", None) == "25006":  # a replica, a read-only role
                conn.rollback()
                try:
                    refuse_read_only(conn, self.backend.display_url)
                finally:
                    self.backend.close()
            # (as parity's: the GRANT itself, exit 2, for PostgreSQL 15's usual new role)
            denied = getattr(exc, "sqlstate", None) == "42501"
            grant = f"GRANT CREATE ON DATABASE {sql_name(conn.info.dbname)} TO {role_name(conn)};"
            self.backend.close()
            raise (NotPermitted if denied else BackendError)(
                f"cannot create a scratch schema on {self.backend.display_url}: {_pg_error(exc)}",
                hint=f"the role needs CREATE on the database: {grant} (the scratch schema is "
                "dropped after), or pass --postgres URL",
            ) from None

    def _pin(self) -> None:
        """search_path on the scratch; on a live database a short lock_timeout, so that
        anything still reaching a live table fails fast instead of queueing with the app."""
        path = f'"{self.schema}"' + (f", {self._path}" if self._path else "")
        if self._server_first and self._path:
            path = f'{self._path}, "{self.schema}"'
        self.backend.conn.execute("SELECT set_config('search_path', %s, false)", (path,))
        if self.rolled_back:
            self.backend.conn.execute(f"SET lock_timeout = '{LIVE_LOCK_TIMEOUT}'")

    def server_path_first(self) -> None:
        """A set that names a schema of the server's search path (``alter table public.todos``
        after ``create table todos``, as Supabase's and drizzle-kit's files are written) means
        its bare names to be there too, as ``up`` has them: they land on the server's path,
        the scratch schema after it (what the set makes there stays, as its qualified objects
        do; :meth:`left_outside` says so)."""
        self._server_first = True
        self._pin()

    def run(self, filename: str, statements: Sequence[Statement]) -> tuple[int, int]:
        try:
            return pg_run(self.backend, filename, statements)
        finally:  # a file's own search_path (pg_dump's '') ends with it, as in `up`
            self._pin()

    def fingerprint(self) -> Fingerprint:
        conn = self.backend.conn
        # An extension installed in the scratch schema is compared with its objects; one the
        # set ensures elsewhere (Supabase's `create extension if not exists pgcrypto with
        # schema extensions`, there already in production, which no rollback should drop) is
        # not a stair's difference: the closing note names it when the set leaves it.
        fp = {**pg_fingerprint(conn, self.schema), **pg_extensions(conn, self.schema)}
        if not self.rolled_back:
            fp.update(pg_fingerprint_outside(conn, self.schema))
        return fp

    def left_outside(self) -> str | None:
        """On a scratch server, what the set made outside the scratch schema and left there
        (the last re-apply's objects: dropping the scratch schema does not remove them)."""
        if self.rolled_back:
            return None
        conn = self.backend.conn
        now = pg_fingerprint_outside(conn, self.schema)
        left = [k for k, v in now.items() if self._outside.get(k) != v]
        extensions = [k.split(" ", 1)[1] for k in pg_extensions(conn) if k not in self._extensions]
        if not left and not extensions:
            return None
        where = sorted({k.split(" ", 1)[1].split(".")[0] for k in left})
        if left:
            where = [f"{', '.join(where)} ({len(left)} object(s))"]
        if extensions:
            where.append(f"extension(s) {', '.join(sorted(extensions))}")
        return (
            f"what the set made outside the scratch schema stays on the server: "
            f"{'; '.join(where)}, where the next run on it meets them"
        )

    def close(self) -> None:
        with contextlib.suppress(Exception):
            if self.rolled_back:
                self.backend.conn.execute("ROLLBACK")  # everything, the schema included
            else:
                self.backend.conn.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
        self.backend.close()
