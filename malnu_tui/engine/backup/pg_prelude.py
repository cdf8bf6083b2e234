"""What a PostgreSQL restore runs first, in its transaction, before the dump's own SQL: the
live tables it replaces locked (within the target's ``lock_timeout``), then dropped what the
backup does not have — relations, and (those its roles own) schemas, types, domains,
functions, procedures and large objects made after it, and foreign keys added since to the
backup's tables — and the restoring role's own default privileges in schemas suspended until
its end. The restore itself is :mod:`malnu_tui.engine.backup.pg_restore`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from malnu_tui.engine.backup.pg_toc import entry
from malnu_tui.engine.backup.pg_tools import TOC_LINE, TOOL_ENTRY_NAMES

if TYPE_CHECKING:
    from malnu_tui.engine.backends.postgresql import PostgresBackend

_RELATION_TYPES = ("MATERIALIZED VIEW", "FOREIGN TABLE", "TABLE", "VIEW", "SEQUENCE")
_NOT_RELATIONS = ("TABLE DATA", "SEQUENCE SET", "SEQUENCE OWNED BY", "MATERIALIZED VIEW DATA")
_IN_SCHEMA = ("CONSTRAINT", "FK CONSTRAINT", "INDEX")
_BLOB = re.compile(r"^BLOB(?: METADATA)? - (?P<lo>\d+)(?:\.\.(?P<hi>\d+))?(?:\s|$)")


def _entry(line: str) -> tuple[str, str, str] | None:
    """(type, schema, name) of a TOC line, for the types this module cares about (a
    constraint's or an index's name: its table's, or its own, is not used)."""
    e = entry(line)
    if e is None or e[0] not in (*_NOT_RELATIONS, *_RELATION_TYPES, *_IN_SCHEMA):
        return None
    return e[0], e[1], e[2]


def _q(*names: str) -> str:
    return ".".join('"' + n.replace('"', '""') + '"' for n in names)


_LIVE_RELATIONS = """
SELECT n.nspname, c.relname, c.relkind
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = c.oid AND d.deptype IN ('a', 'i', 'e'))
  AND NOT (c.relkind IN ('r', 'p') AND c.relispartition)
"""
_LIVE_FKS = """
SELECT n.nspname, t.relname, con.conname
FROM pg_constraint con JOIN pg_class t ON t.oid = con.conrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE con.contype = 'f' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
"""
_DROP = {"r": "TABLE", "p": "TABLE", "v": "VIEW", "m": "MATERIALIZED VIEW", "S": "SEQUENCE",
         "f": "FOREIGN TABLE"}  # fmt: skip
# Schemas, types and functions a migration made after the backup (Prisma's CREATE TYPE "Role"
# AS ENUM, a reporting schema, a trigger function): left behind, the next `up` of that
# migration failed on "already exists". Extension members are never touched, nor what a role
# not ours owns (on Supabase, a platform role's functions: dropping them would fail the restore).
_NOT_SYSTEM = (
    "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'"
)
_LIVE_SCHEMAS = f"""
SELECT n.nspname FROM pg_namespace n
WHERE {_NOT_SYSTEM} AND n.nspname <> 'public' AND pg_has_role(n.nspowner, 'MEMBER')
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_namespace'::regclass
                  AND d.objid = n.oid AND d.deptype = 'e')
"""
_LIVE_TYPES = f"""
SELECT n.nspname, t.typname, t.typtype FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE {_NOT_SYSTEM} AND t.typtype IN ('e', 'c', 'd', 'r') AND pg_has_role(t.typowner, 'MEMBER')
  AND (t.typtype <> 'c' OR (SELECT c.relkind FROM pg_class c WHERE c.oid = t.typrelid) = 'c')
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass
                  AND d.objid = t.oid AND d.deptype IN ('e', 'i', 'a'))
"""
_LIVE_FUNCTIONS = f"""
SELECT n.nspname, p.proname, p.proname || '(' || oidvectortypes(p.proargtypes) || ')',
       pg_get_function_identity_arguments(p.oid), p.prokind
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE {_NOT_SYSTEM} AND p.prokind IN ('f', 'p') AND pg_has_role(p.proowner, 'MEMBER')
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                  AND d.objid = p.oid AND d.deptype IN ('e', 'i'))
"""


def _objects_not_in(
    backend: PostgresBackend, named: set[tuple[str, str, str]], schemas: set[str]
) -> list[str]:
    """DROPs of the schemas, functions and types the live database has and the dump has not
    (``named``: (kind, schema, name or signature) of the dump's SCHEMA, TYPE, DOMAIN, FUNCTION
    and PROCEDURE entries), in the schemas the dump covers; the tool's own schema is kept."""
    conn = backend.conn
    drops: list[str] = []
    for (nsp,) in conn.execute(_LIVE_SCHEMAS).fetchall():
        if nsp not in schemas and nsp != backend.schema:
            drops.append(f"DROP SCHEMA IF EXISTS {_q(nsp)} CASCADE")
    for nsp, name, signature, args, kind in conn.execute(_LIVE_FUNCTIONS).fetchall():
        what = "FUNCTION" if kind == "f" else "PROCEDURE"
        if nsp in schemas and (what, nsp, signature) not in named:
            drops.append(f"DROP {what} IF EXISTS {_q(nsp, name)}({args}) CASCADE")
    for nsp, name, kind in conn.execute(_LIVE_TYPES).fetchall():
        what = "DOMAIN" if kind == "d" else "TYPE"
        if nsp in schemas and (what, nsp, name) not in named:
            drops.append(f"DROP {what} IF EXISTS {_q(nsp, name)} CASCADE")
    return drops


def _large_objects_not_in(listed: Sequence[str]) -> str:
    """The statement that unlinks the live large objects the dump does not have (created
    after the backup): ``pg_restore --clean`` unlinks and re-creates only the dump's own. The
    dump names each one (``BLOB - 16427``; from PostgreSQL 17 ``BLOB METADATA - 16427..16500``
    per group), all numbers, read in the restore's transaction."""
    single: list[int] = []
    ranges: list[str] = []
    for line in listed:
        m = TOC_LINE.match(line)
        b = _BLOB.match(m.group("rest")) if m else None
        if b is None:
            continue
        if b["hi"] is None:
            single.append(int(b["lo"]))
        else:
            ranges.append(f" AND oid NOT BETWEEN {int(b['lo'])} AND {int(b['hi'])}")
    keep = "{" + ",".join(str(o) for o in sorted(set(single))) + "}"
    return (
        "SELECT count(pg_catalog.lo_unlink(oid)) FROM pg_catalog.pg_largeobject_metadata "
        f"WHERE pg_has_role(lomowner, 'MEMBER') AND oid <> ALL('{keep}'::pg_catalog.oid[])"
        f"{''.join(ranges)}"
    )


def prelude(
    backend: PostgresBackend, listed: Sequence[str], kept: frozenset[str] = frozenset()
) -> tuple[list[str], list[str]]:
    """(SQL run first, in the restore's transaction, the relations it replaces or drops):
    lock every live table among them, then drop what the backup does not have.

    The tables are locked first, waiting at most the target's ``lock_timeout`` (10 s unless
    the URL or target says otherwise), and the dump's own ``SET lock_timeout = 0`` is given
    the same bound (the restore's ``_pipe_restore``): a DROP behind an application's open
    transaction waited for ever, and every query of the school app queued behind it. (A
    materialized view cannot be LOCKed: only that bound covers one an application has
    read.)"""
    in_dump: set[tuple[str, str]] = set()
    named: set[tuple[str, str, str]] = set()  # the dump's types and functions
    schemas: set[str] = {"public"}  # only schemas the dump covers are cleaned of newer objects
    for line in listed:
        parts = entry(line)
        if parts is None:
            continue
        kind, schema, name, _owner = parts
        if kind == "SCHEMA":
            schemas.add(name)
        if kind in ("TYPE", "DOMAIN", "FUNCTION", "PROCEDURE"):
            named.add((kind, schema, name))
        e = _entry(line)
        if e:
            schemas.add(e[1])
            if e[0] in _RELATION_TYPES:
                in_dump.add((e[1], e[2]))
    schemas.add(str(backend.conn.execute("SELECT current_schema()").fetchone()[0]))  # type: ignore[index]
    schemas -= kept  # a schema of roles the restoring one may not act as: left as it is
    statements = [f"SET lock_timeout = '{backend.lock_timeout}'"]
    rows = backend.conn.execute(_LIVE_RELATIONS).fetchall()
    locked = [
        _q(schema, rel)
        for schema, rel, kind in sorted(rows)
        if kind in ("r", "p") and rel not in TOOL_ENTRY_NAMES and schema in schemas
    ]
    if locked:
        statements.append(f"LOCK TABLE {', '.join(locked)} IN ACCESS EXCLUSIVE MODE")
    replaced = [
        _q(schema, rel)
        for schema, rel, _kind in sorted(rows)
        if rel not in TOOL_ENTRY_NAMES and schema in schemas
    ]
    for schema, rel, kind in sorted(rows, key=lambda r: (r[2] not in ("v", "m"), r[0], r[1])):
        if rel in TOOL_ENTRY_NAMES or (schema, rel) in in_dump or schema not in schemas:
            continue
        statements.append(f"DROP {_DROP[kind]} IF EXISTS {_q(schema, rel)} CASCADE")
    statements += _objects_not_in(backend, named, schemas)
    # Foreign keys added after the backup to tables the backup has: pg_restore --clean drops
    # tables in the backup's dependency order, which does not know about them.
    for schema, rel, con in backend.conn.execute(_LIVE_FKS).fetchall():
        if (schema, rel) in in_dump and schema not in kept:
            statements.append(
                f"ALTER TABLE IF EXISTS {_q(schema, rel)} DROP CONSTRAINT IF EXISTS {_q(con)}"
            )
    if backend.conn.execute("SELECT 1 FROM pg_catalog.pg_largeobject_metadata LIMIT 1").fetchone():
        statements.append(_large_objects_not_in(listed))
    return statements, replaced


# The restoring role's own default privileges in a schema (Supabase: `ALTER DEFAULT
# PRIVILEGES FOR ROLE postgres IN SCHEMA public GRANT ALL ON TABLES TO anon, authenticated,
# service_role`) apply to every object the restore creates, and the dump's GRANTs only add to
# what an object has: a grant revoked since (REVOKE ALL ON profiles FROM anon) came back with
# every restore. They are suspended for the restore, in its transaction, and given back at its
# end; the dump's own DEFAULT ACL entries run in between. Only a schema's: a database-wide
# entry replaces PostgreSQL's built-in defaults, which the dump's GRANTs count on.
_OWN_SCHEMA_DEFAULTS = """
SELECT d.defaclobjtype, n.nspname, coalesce(g.rolname, ''), a.privilege_type, a.is_grantable
FROM pg_default_acl d JOIN pg_namespace n ON n.oid = d.defaclnamespace
CROSS JOIN LATERAL aclexplode(d.defaclacl) AS a LEFT JOIN pg_roles g ON g.oid = a.grantee
WHERE d.defaclrole = (SELECT oid FROM pg_roles WHERE rolname = current_user)
  AND a.grantee <> d.defaclrole ORDER BY 1, 2, 3, 4"""
_DEFAULT_KINDS = {"r": "TABLES", "S": "SEQUENCES", "f": "FUNCTIONS", "T": "TYPES"}


def own_schema_defaults(backend: PostgresBackend) -> tuple[list[str], list[str]]:
    """(statements suspending the restoring role's default privileges in schemas, statements
    giving them back)."""
    suspend: list[str] = []
    resume: list[str] = []
    for kind, nsp, grantee, privilege, grantable in backend.conn.execute(
        _OWN_SCHEMA_DEFAULTS
    ).fetchall():
        if kind not in _DEFAULT_KINDS:
            continue
        to = _q(grantee) if grantee else "PUBLIC"
        what = f"ALTER DEFAULT PRIVILEGES IN SCHEMA {_q(nsp)}"
        on = f"{privilege} ON {_DEFAULT_KINDS[kind]}"
        suspend.append(f"{what} REVOKE {on} FROM {to}")
        resume.append(f"{what} GRANT {on} TO {to}{' WITH GRANT OPTION' if grantable else ''}")
    return suspend, resume
