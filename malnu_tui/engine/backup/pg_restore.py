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
from malnu_tui.engine.backup import pg_prelude
from malnu_tui.engine.backup.durable import remove_quietly, temp_path
from malnu_tui.engine.backup.method import copy_verified
from malnu_tui.engine.backup.pg_listing import restore_listing
from malnu_tui.engine.backup.pg_needs import (
    foreign_key_hint,
    missing_roles,
    refused_object,
    role_hint,
)
from malnu_tui.engine.backup.pg_toc import toc
from malnu_tui.engine.backup.pg_tools import (
    CONNECTION_LOST,
    SESSION_ENDED,
    SUFFIX,
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


# A restore whose psql or pg_restore died of one of these signals was interrupted, not broken.
_STOPPING = frozenset({signal.SIGHUP, signal.SIGINT, signal.SIGTERM})
STOPPED = " was stopped by "


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
        prelude, replaced = pg_prelude.prelude(backend, listed, chosen.kept_schemas)
        suspend, resume = pg_prelude.own_schema_defaults(backend)
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
                    or role_hint(ok, server)
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
