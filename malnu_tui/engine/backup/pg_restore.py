"""PostgreSQL restore: ``pg_restore --clean --if-exists`` into ``psql`` in one transaction.

Restore keeps the live audit trail and lock-info row (their entries are left out of the restore
list) and, in the same transaction, first locks the tables it replaces (within the target's
``lock_timeout``), then drops what was created after the backup — tables, views, sequences,
and (those its roles own) types, domains, functions, procedures, schemas, large objects — so
the database ends up with exactly the backup's. ``pg_restore --clean --if-exists`` writes the
SQL, ``psql`` runs it inside ``BEGIN … COMMIT`` after those drops, and ``COMMIT`` is sent only
once pg_restore has finished and psql has run every statement: all of it commits, or none of
it (the effect of ``pg_restore --single-transaction``, plus the drops). It reads its own copy
of the backup, hashed as it was copied (:func:`~malnu_tui.engine.backup.method.copy_verified`).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg

from malnu_tui.engine.backends.base import AUDIT_TABLE
from malnu_tui.engine.backends.pg_sql import error_text, lock_holders
from malnu_tui.engine.backup.durable import remove_quietly, temp_path
from malnu_tui.engine.backup.method import copy_verified
from malnu_tui.engine.backup.pg_listing import restore_listing
from malnu_tui.engine.backup.pg_needs import (
    foreign_key_hint,
    missing_roles,
    refused_object,
    role_hint,
)
from malnu_tui.engine.backup.pg_toc import entry, toc
from malnu_tui.engine.backup.pg_tools import (
    CONNECTION_LOST,
    SESSION_ENDED,
    SUFFIX,
    TOC_LINE,
    TOOL_ENTRY_NAMES,
    ChildConnection,
    PgTools,
    child_connection,
    find_pg_tools,
    for_server,
    scrub,
    server_major,
    server_said,
    session_ended,
    spawn,
)
from malnu_tui.engine.backup.pg_tooltext import DumpTables, ServerError, server_error
from malnu_tui.engine.backup.store import (
    BackupError,
    BackupManifest,
    BackupProgress,
    BackupProgressCallback,
)
from malnu_tui.engine.private import hand_over

if TYPE_CHECKING:
    from malnu_tui.engine.backends.base import AuditEntry, Backend
    from malnu_tui.engine.backends.postgresql import PostgresBackend
    from malnu_tui.engine.config import Target

__all__ = ["lock_holders", "restore"]

_RELATION_TYPES = ("MATERIALIZED VIEW", "FOREIGN TABLE", "TABLE", "VIEW", "SEQUENCE")
_NOT_RELATIONS = ("TABLE DATA", "SEQUENCE SET", "SEQUENCE OWNED BY", "MATERIALIZED VIEW DATA")
_IN_SCHEMA = ("CONSTRAINT", "FK CONSTRAINT", "INDEX")
_BLOB = re.compile(r"^BLOB(?: METADATA)? - (?P<lo>\d+)(?:\.\.(?P<hi>\d+))?(?:\s|$)")


# A restore whose psql or pg_restore died of one of these signals was interrupted, not broken.
_STOPPING = frozenset({signal.SIGHUP, signal.SIGINT, signal.SIGTERM})
STOPPED = " was stopped by "


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


def _prelude(
    backend: PostgresBackend, listed: Sequence[str], kept: frozenset[str] = frozenset()
) -> tuple[list[str], list[str]]:
    """(SQL run first, in the restore's transaction, the relations it replaces or drops):
    lock every live table among them, then drop what the backup does not have.

    The tables are locked first, waiting at most the target's ``lock_timeout`` (10 s unless
    the URL or target says otherwise), and the dump's own ``SET lock_timeout = 0`` is given
    the same bound (:func:`_pipe_restore`): a DROP behind an application's open transaction
    waited for ever, and every query of the school app queued behind it. (A materialized
    view cannot be LOCKed: only that bound covers one an application has read.)"""
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


def _own_schema_defaults(backend: PostgresBackend) -> tuple[list[str], list[str]]:
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


def _giving_up(lock_timeout: str) -> str:
    if re.fullmatch(r"\s*0+\s*[a-z]*\s*", lock_timeout):
        return "lock_timeout = 0: waiting until they end"
    return f"giving up after lock_timeout = {lock_timeout}"


def restore(
    backend: Backend,
    target: Target,
    path: Path,
    manifest: BackupManifest,
    progress: BackupProgressCallback,
    audit: Sequence[AuditEntry] = (),
) -> None:
    """Replace the database's content with the dump, in one transaction (see module doc).
    The ``audit`` rows are inserted in that transaction, so they commit with the restore or
    not at all: a restore killed between its COMMIT and a later audit write is still in the
    trail (``recover`` replays the trail, restores included)."""
    from malnu_tui.engine.backends.postgresql import PostgresBackend

    if not isinstance(backend, PostgresBackend):
        raise BackupError(f"{backend.display_url} is not a PostgreSQL database")
    tools = find_pg_tools(server_major(backend.conn))
    own = temp_path(path.parent, SUFFIX)  # the restore reads its own copy, hashed as copied
    list_file = temp_path(path.parent, ".list")
    child = child_connection(target.url)
    try:
        progress(BackupProgress("restore", 0, 0, f"copying {path.name}, checking its sha256"))
        copy_verified(path, own, manifest)
        code, listed, err = toc(tools, own)
        if code != 0:
            raise BackupError(f"pg_restore --list failed: {err[-500:]}")
        chosen = restore_listing(backend, listed)
        listing = chosen.entries
        # Every role its grants and policies name, said at once, before anything runs: it
        # stopped at the first GRANT to one (`role "reporter" does not exist`), one per try.
        missing = missing_roles(backend.conn, tools, own, listing)
        if missing.named_by:
            raise BackupError(
                f"backup {manifest.id} does not restore into this server as it is: "
                f"{missing.detail()}; nothing was restored, the database is unchanged",
                hint=missing.way_out(),
            )
        for said in chosen.said:
            progress(BackupProgress("restore", 0, 0, said))
        prelude, replaced = _prelude(backend, listed, chosen.kept_schemas)
        suspend, resume = _own_schema_defaults(backend)
        prelude += suspend
        epilogue = [*resume, *(_audit_insert(backend, e) for e in audit)]
        holders = lock_holders(backend.conn, replaced)
        if holders:
            progress(
                BackupProgress(
                    "wait",
                    0,
                    0,
                    f"waiting for other sessions holding locks on its tables: {holders} "
                    f"({_giving_up(backend.lock_timeout)})",
                )
            )
        fd = os.open(list_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        hand_over(fd, list_file.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write("\n".join(listing) + "\n")
        progress(
            BackupProgress(
                "restore", 0, 0, f"pg_restore --clean --if-exists into {backend.name} (one txn)"
            )
        )
        started = time.monotonic()
        failed = _pipe_restore(
            tools, own, list_file, child, prelude, epilogue, backend.lock_timeout,
            server_major(backend.conn), chosen.no_owner,
        )  # fmt: skip
        if failed is not None:
            ok, server = failed  # (server: psql's error by its fields, any language)
            hint = None
            if "lock timeout" in ok or (server is not None and server.sqlstate == "55P03"):
                who = lock_holders(backend.conn, replaced)
                hint = (
                    f"other sessions kept locks on its tables for lock_timeout = "
                    f"{backend.lock_timeout}"
                    + (f" ({who})" if who else "")
                    + ": let them finish (or end them with pg_terminate_backend), then run "
                    "the restore again"
                )
            elif ok.startswith(SESSION_ENDED):
                hint = (
                    "a server restart, a failover or `pg_terminate_backend` ends a session; "
                    "nothing is wrong with the backup: run the restore again once the server "
                    "answers (`malnu-tui status`)"
                )
            else:
                hint = (
                    _not_owner_hint(backend, ok, server)
                    or role_hint(ok)
                    or foreign_key_hint(backend.conn, ok, server)
                )
            stopped = STOPPED in ok and ok.startswith(("psql", "pg_restore"))
            if stopped:
                hint = "run the restore again when you mean to (the backup is as it was)"
            raise BackupError(
                f"restore {'interrupted' if stopped else 'failed'} and was "
                f"rolled back, the database is unchanged: {ok}",
                hint=hint,
            )
        progress(BackupProgress("restore", 1, 1, f"restored in {time.monotonic() - started:.1f} s"))
    except psycopg.Error as exc:  # the server went away while the restore was being prepared
        raise BackupError(
            f"{backend.display_url}: {error_text(exc)}; the restore had not begun: the "
            "database is unchanged"
        ) from None
    finally:
        child.close()
        remove_quietly(list_file, own)


_NOT_OWNER = re.compile(
    r"(?:permission denied for|must be owner of) (?:table|sequence|view|materialized view|"
    r"relation) ([^;]+)"
)


_NO_CREATE = re.compile(r"permission denied for schema ([^;]+)")


def _not_owner_hint(
    backend: PostgresBackend, error: str, server: ServerError | None = None
) -> str | None:
    """What to do when the role restoring may not replace an object (a table another role
    owns) or create in a schema: who owns it, and the ways through; read from PostgreSQL's
    English words, else (another language, a name with a space) from ``server``'s SQLSTATE
    42501 and the catalog's objects its message names. None for any other error."""
    from malnu_tui.engine.backends.pg_session import role_name, sql_name

    schema = _NO_CREATE.search(error)
    if schema and " " not in schema[1].strip():
        # PostgreSQL 15's usual role: it owns its tables, not the schema's CREATE
        return _no_create_hint(schema[1].strip(), role_name(backend.conn) or "…", sql_name)
    m = _NOT_OWNER.search(error)
    name = m.group(1).strip().strip('"') if m else ""
    with contextlib.suppress(Exception):
        # PostgreSQL names the table unqualified (`must be owner of table users`): Supabase's
        # auth.users, which no search path finds, had no hint at all.
        row = (
            backend.conn.execute(
                "SELECT pg_get_userbyid(relowner), current_user, oid::regclass::text FROM pg_class "
                "WHERE oid = to_regclass(%s) OR (to_regclass(%s) IS NULL AND relname = %s "
                "AND NOT pg_has_role(relowner, 'MEMBER')) LIMIT 1",
                (name, name, name),
            ).fetchone()
            if name and " " not in name
            else None
        )
        if row is not None:
            return _owner_hint(*row)
    said = server.message if server is not None and server.sqlstate == "42501" else ""
    found = refused_object(backend.conn, said or error) if said or m or schema else None
    if found is None:
        return None
    kind, name, owner, me = found
    if kind == "schema":
        return _no_create_hint(name, me, sql_name)
    return _owner_hint(owner, me, name)


def _owner_hint(owner: str, me: str, name: str) -> str:
    return (
        f"{name} belongs to {owner}, and {me} (the role restoring) may not replace it: "
        f"restore as {owner} or a superuser, or `GRANT {owner} TO {me}` first"
    )


def _no_create_hint(schema: str, me: str, sql_name: Callable[[str], str]) -> str:
    return (
        f"the restore creates its tables again in schema {schema}, where {me} (the role "
        f"restoring) may not create: GRANT CREATE ON SCHEMA {sql_name(schema)} TO {me}; (as "
        "the schema's owner), or restore as its owner or a superuser"
    )


def _audit_insert(backend: PostgresBackend, e: AuditEntry) -> str:
    """An audit row as one INSERT statement for psql (values quoted by psycopg for this
    connection; the dump empties the search path, so the table is schema-qualified)."""
    from psycopg import sql

    table = sql.SQL("{}.{}").format(sql.Identifier(backend.schema), sql.Identifier(AUDIT_TABLE))
    values = (e.at, e.actor, e.action, e.object, e.outcome, e.detail)
    return (
        sql.SQL(
            "INSERT INTO {} (at, actor, action, object, outcome, detail) "
            "VALUES ({}::timestamp, {}, {}, {}, {}, {})"
        )
        .format(table, *(sql.Literal(v) for v in values))
        .as_string(backend.conn)
    )


def _pipe_restore(
    tools: PgTools,
    path: Path,
    list_file: Path,
    child: ChildConnection,
    prelude: Sequence[str],
    epilogue: Sequence[str],
    lock_timeout: str,
    major: int,
    no_owner: bool,
) -> tuple[str, ServerError | None] | None:
    """pg_restore's SQL into psql, inside BEGIN … COMMIT. COMMIT is sent only once pg_restore
    has finished successfully AND psql has run every statement before it (psql echoes a
    marker, read back): a dump that breaks half way commits nothing, and an interrupt (Ctrl-C,
    SIGTERM) before that point cancels psql's statement on the server and commits nothing
    either. Returns None on success, else what went wrong and psql's error by its fields
    (psql runs with VERBOSITY=verbose: the SQLSTATE, whatever the server's language)."""
    marker = f"malnu-restore-{uuid.uuid4().hex}"
    with tempfile.TemporaryFile() as prod_err, tempfile.TemporaryFile() as cons_err:
        producer = spawn(
            [tools.pg_restore, "--clean", "--if-exists", f"--use-list={list_file}", "--file=-",
             *(["--no-owner"] if no_owner else []), str(path)],
            env=child.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=prod_err,
        )  # fmt: skip
        consumer = spawn(
            [tools.psql, "--no-psqlrc", "--quiet", "--no-password", "--set=ON_ERROR_STOP=1",
             "--set=VERBOSITY=verbose",
             f"--output={os.devnull}", f"--dbname={child.url}"],
            env=child.env,
            pass_fds=child.pass_fds,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,  # only the marker (query output goes to --output)
            stderr=cons_err,
        )  # fmt: skip
        assert producer.stdout is not None and consumer.stdin is not None
        assert consumer.stdout is not None
        committed = False
        tables = DumpTables()  # (its errors' keys masked by their table's shape)
        try:
            head = ["BEGIN", "SET client_min_messages = warning", *prelude]
            consumer.stdin.write(("".join(f"{st};\n" for st in head)).encode())
            bound = f"\nSET lock_timeout = '{lock_timeout}';\n".encode()
            first = True
            while chunk := producer.stdout.read(1 << 20):
                if first:  # the dump's header: its `SET lock_timeout = 0` gets our bound
                    chunk = for_server(chunk, major)
                    chunk = chunk.replace(b"\nSET lock_timeout = 0;\n", bound, 1)
                    first = False
                tables.feed(chunk)
                consumer.stdin.write(chunk)
            if producer.wait() == 0:
                tail = "".join(f"\n{st};" for st in epilogue)  # the audit rows: in the txn
                consumer.stdin.write(f"{tail}\n\\echo {marker}\n".encode())
                consumer.stdin.flush()
                while line := consumer.stdout.readline():
                    if line.strip() == marker.encode():
                        consumer.stdin.write(b"COMMIT;\n")
                        committed = True
                        break
            consumer.stdin.close()
            consumer.wait()
        except BrokenPipeError:
            committed = False  # psql stopped at an error: it rolled back
        except BaseException:
            # Ctrl-C, SIGTERM. Before COMMIT, psql is told to cancel (it sends the server a
            # cancel request, as at a terminal): the transaction ends now, not when a lock
            # wait times out with the application queued behind it. Once COMMIT is sent,
            # psql's outcome is the truth: a restore that committed is reported done.
            if not committed:
                if consumer.poll() is None:
                    consumer.send_signal(signal.SIGINT)
                raise
        finally:
            if producer.poll() is None:
                producer.kill()
            producer.wait()
            with contextlib.suppress(BrokenPipeError):
                consumer.stdin.close()
            consumer.wait()
            consumer.stdout.close()
        prod_err.seek(0)
        cons_err.seek(0)
        perr = scrub(prod_err.read().decode(errors="replace"), child.password)
        cerr = scrub(cons_err.read().decode(errors="replace"), child.password)
    if consumer.returncode != 0 and committed and any(w in cerr for w in CONNECTION_LOST):
        said = " ".join(cerr.split())  # psql lost the server as it committed: either way
        raise BackupError(
            f"the connection was lost while the restore committed ({said}): whether the "
            "database is restored is not known",
            hint="once the server answers, the restore's audit row (written in its "
            "transaction) tells: `malnu-tui log --action restore`; the pre-restore backup "
            "holds the state before",
        )
    if consumer.returncode != 0 and any(w in cerr for w in CONNECTION_LOST):
        return session_ended(cerr), None  # psql's three-line libpq text, joined: a crash
    for tool, rc in (("psql", consumer.returncode), ("pg_restore", producer.returncode)):
        if not committed and -rc in _STOPPING:
            # The terminal's hangup (or Ctrl-C, systemd's SIGTERM) goes to the whole process
            # group: the tools can die of it before this process's own handler runs, and the
            # restore read as broken ("psql exited with -1"), not interrupted.
            return f"{tool}{STOPPED}{signal.Signals(-rc).name}", None
    if consumer.returncode != 0:
        said = server_said(cerr, tables) or f"psql exited with {consumer.returncode}"
        return said, server_error(cerr)
    if producer.returncode != 0 or not committed:
        return f"pg_restore failed: {server_said(perr, tables) or producer.returncode}", None
    return None
