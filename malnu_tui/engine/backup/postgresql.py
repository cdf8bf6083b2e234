"""PostgreSQL backups: ``pg_dump -Fc`` from an exported snapshot, checked with
``pg_restore --list``; restore with ``pg_restore --clean --if-exists`` in one transaction.

The manifest's tracking rows, schema hash and row counts are read in the very snapshot that
pg_dump dumps (``pg_export_snapshot`` + ``pg_dump --snapshot``), so they describe the file
exactly, and they are read while pg_dump runs. Children get argument lists only; a password is
passed in ``PGPASSWORD``, never on a command line, and never printed.

The check (``--list``, a deep check's scratch restore) is in
:mod:`malnu_tui.engine.backup.pg_check`, the restore in :mod:`malnu_tui.engine.backup.pg_restore`,
the client tools in :mod:`malnu_tui.engine.backup.pg_tools`.
"""

from __future__ import annotations

import contextlib
import re
import signal
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

from malnu_tui.engine.backends.pg_connlimit import limit_reached, limit_way_out
from malnu_tui.engine.backends.pg_rowsec import narrowed_tables
from malnu_tui.engine.backends.pg_session import connection_limit_hint, role_name, sql_name
from malnu_tui.engine.backup.durable import fsync_file, sha256_file
from malnu_tui.engine.backup.method import Snapshot
from malnu_tui.engine.backup.pg_check import check, list_check
from malnu_tui.engine.backup.pg_restore import lock_holders, restore
from malnu_tui.engine.backup.pg_tools import (
    CONNECTION_LOST,
    SUFFIX,
    PgTools,
    PgToolsMissing,
    child_connection,
    exit_text,
    find_pg_tools,
    open_target,
    scrub,
    server_major,
    server_said,
    session_ended,
    spawn,
)
from malnu_tui.engine.backup.store import (
    AppliedMigration,
    BackupError,
    BackupProgress,
    BackupProgressCallback,
)
from malnu_tui.engine.errors import BackendError, NotPermitted

if TYPE_CHECKING:
    from malnu_tui.engine.backends.base import Backend
    from malnu_tui.engine.backends.postgresql import PostgresBackend
    from malnu_tui.engine.config import Target

__all__ = [
    "METHOD",
    "SUFFIX",
    "PgTools",
    "PgToolsMissing",
    "check",
    "child_connection",
    "create",
    "find_pg_tools",
    "restore",
]

METHOD = "pg_dump-Fc"


def _applied(meta: PostgresBackend) -> tuple[AppliedMigration, ...]:
    return tuple(
        AppliedMigration(r.filename, r.checksum, r.executed_at)
        for r in meta.fetch_records()
        if r.success
    )


def create(
    backend: Backend, target: Target, dest: Path, progress: BackupProgressCallback
) -> Snapshot:
    """pg_dump -Fc of the database from an exported snapshot, then hash and --list check."""
    import psycopg

    meta = open_target(target)
    role = role_name(meta.conn)
    child = child_connection(target.url)
    password = child.password
    try:
        meta.ensure_schema()
        tools = find_pg_tools(server_major(meta.conn))
        conn = meta.conn
        # pg_dump reads every row (row_security = off): a table whose policies apply to this
        # role stopped it there, after the tables before it were dumped (minutes of a big
        # database). Said first, from the catalog (backends/pg_rowsec.py).
        for t in narrowed_tables(conn, dumped=True)[:1]:
            name = sql_name(t.table) if t.on_path else f"{sql_name(t.schema)}.{sql_name(t.table)}"
            raise _not_every_row(meta.display_url, name, role, t.owned)
        try:
            with conn.transaction():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                # Open, and idle, for as long as pg_dump runs: a server's (or database's)
                # idle_in_transaction_session_timeout ended it, and the backup with it.
                conn.execute("SET LOCAL idle_in_transaction_session_timeout = 0")
                row = conn.execute(
                    "SELECT pg_export_snapshot(), pg_database_size(current_database())"
                ).fetchone()
                assert row is not None
                snapshot, total = str(row[0]), int(row[1])
                progress(BackupProgress("dump", 0, total, f"pg_dump -Fc of {meta.name}"))
                # pg_dump takes a share lock on every table it dumps, in every schema: behind
                # a session holding one exclusively it waited for ever (no word, no end), so
                # it waits as long as the tool's own statements do.
                wait = (
                    []
                    if _is_zero(meta.lock_timeout)
                    else [f"--lock-wait-timeout={meta.lock_timeout}"]
                )
                proc = spawn(
                    [
                        tools.pg_dump,
                        "--format=custom",
                        "--no-password",
                        *wait,
                        f"--snapshot={snapshot}",
                        f"--file={dest}",
                        f"--dbname={child.url}",
                    ],
                    env=child.env,
                    pass_fds=child.pass_fds,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                try:
                    # The manifest's facts, from the same snapshot, while pg_dump runs.
                    records = _applied(meta)
                    schema_hash = meta.schema_fingerprint()
                    counts = {t: meta.row_count(t) for t in meta.table_names()}
                    err = ""
                    while True:
                        try:
                            _, err = proc.communicate(timeout=0.25)
                            break
                        except subprocess.TimeoutExpired:
                            with contextlib.suppress(OSError):
                                progress(BackupProgress("dump", dest.stat().st_size, total))
                finally:
                    if proc.poll() is None:
                        proc.kill()
                        proc.wait()
        except NotPermitted:
            raise  # (a policy made meanwhile: the manifest's counts read every row too)
        except (psycopg.Error, BackendError) as exc:
            text = str(exc) if isinstance(exc, BackendError) else f"{meta.display_url}: {exc}"
            if any(w in text for w in CONNECTION_LOST):  # a restart: not the disk, not pg_dump
                ended = session_ended(text, "the backup snapshot's")
                raise BackupError(
                    f"{meta.display_url}: {ended}; no backup was made",
                    hint="a server restart, a failover or `pg_terminate_backend` ends a "
                    "session: run it again once the server answers",
                ) from None
            if "55P03" not in text and getattr(exc, "sqlstate", None) != "55P03":
                raise BackupError(text.strip()) from None
            raise _lock_wait(conn, f"{text.strip()}; no backup was made") from None
        denied_here = _unreadable(conn, err) if proc.returncode != 0 else None
        limit = limit_reached(conn, err) if proc.returncode != 0 else None  # any language
        given_up = _LOCK_GIVEN_UP.search(err) if proc.returncode != 0 else None
        said = ""
        if not given_up and proc.returncode != 0 and denied_here is None:
            given_up, said = _waited_on(conn, err)
        if given_up:
            raise _lock_wait(
                conn,
                f"{meta.display_url}: pg_dump gave up waiting {meta.lock_timeout} for a lock on "
                f"{given_up[1]}{said}; no backup was made",
            )
    finally:
        child.close()
        meta.close()
    denied = _DENIED.search(err) if proc.returncode != 0 else None
    if denied:
        locking = _LOCKING.search(err)  # schema-qualified
        name = denied[2].strip()  # (unquoted: "permission denied for schema Data Sekolah")
        if locking and denied[1] == "table":
            name = locking[1]
        elif denied[1] != "large object":
            name = sql_name(name)
        raise _not_readable(meta.display_url, denied[1], name, role)
    if denied_here is not None:  # said in the server's language: read from the catalog
        raise _not_readable(meta.display_url, *denied_here, role)
    narrowed = _NARROWED.search(err) if proc.returncode != 0 else None
    if narrowed:
        table = sql_name(narrowed[1])
        raise _not_every_row(meta.display_url, table, role, "NO FORCE ROW" in err)
    if proc.returncode != 0 and (
        hint := connection_limit_hint(err)
        or (limit and limit_way_out(limit[0], sql_name(limit[1])))
    ):
        raise BackupError(
            f"{meta.display_url}: pg_dump could not connect: too many connections; no backup "
            f"was made, {meta.name} is unchanged",
            hint=hint,
        )
    if proc.returncode != 0:
        full = proc.returncode == -signal.SIGXFSZ or any(w in err for w in _DISK_FULL)
        raise BackupError(
            f"pg_dump failed ({exit_text(proc.returncode)})"
            + (f": {said}" if (said := server_said(scrub(err, password))) else "")
            + (f" writing the backup to {dest.parent}" if full else "")
            + f"; no backup was made, {meta.name} is unchanged",
            hint=_dump_failed_hint(err, dest.parent, full),
        )
    progress(BackupProgress("fsync", 0, 0, "fsync, sha256 and pg_restore --list"))
    try:
        fsync_file(dest)
        digest, size = sha256_file(dest, progress)
    except OSError as exc:
        raise BackupError(f"cannot write the backup to {dest.parent}: {exc}") from None
    ok, detail = list_check(tools, dest)
    if not ok:
        raise BackupError(f"the dump does not read back: {detail}")
    return Snapshot(
        sha256=digest,
        size=size,
        migrations=records,
        schema_hash=schema_hash,
        row_counts=counts,
        details={"pg_dump": f"{tools.pg_dump} ({tools.major})", "toc_entries": detail},
    )


def _dump_failed_hint(err: str, store: Path, full: bool) -> str:
    """What to do about a pg_dump that failed for none of the reasons above, by its words
    (``full``: its output file could not grow): a server that ended its session (a restart,
    `pg_terminate_backend`) was hinted "check the disk space of the backup directory and the
    role's privileges", and so was a pg_dump a file size limit killed (SIGXFSZ), which names
    no store and no role."""
    if any(w in err for w in CONNECTION_LOST):
        return (
            "the server ended pg_dump's session (a restart, a failover, `pg_terminate_backend`), "
            "not the disk or the role: run it again once the server answers"
        )
    if full:
        return (
            f"the disk of the backup store {store} (or this user's quota) is full: free space "
            "there, or set [backup] dir (or MALNU_BACKUP_DIR) to a bigger disk"
        )
    return "check the disk space of the backup directory and the role's privileges"


# What pg_dump says when its output file cannot grow (a full disk, a quota, a file size limit).
_DISK_FULL = ("No space left on device", "Disk quota exceeded", "File too large")

# pg_dump's --lock-wait-timeout is a statement_timeout around its LOCK TABLE statements.
_LOCK_GIVEN_UP = re.compile(
    r"canceling statement due to (?:statement|lock) timeout.*?LOCK TABLE (.+?) IN ACCESS SHARE",
    re.DOTALL,
)


def _is_zero(timeout: str) -> bool:
    return re.fullmatch(r"0+\s*(us|ms|s|min|h|d)?", timeout.strip()) is not None


def _lock_wait(conn: object, message: str) -> BackupError:
    """The backup gave up on a lock (``lock_timeout``): who holds one exclusively."""
    who = lock_holders(conn)
    return BackupError(
        message,
        hint="another session holds an exclusive lock on a table (a migration or "
        f"maintenance in progress{': ' + who if who else ''}): let it finish and run "
        "again, or give the target a longer lock_timeout (?lock_timeout=60s)",
    )


# pg_dump reads every table, sequence and schema of the database (and locks each table).
_DENIED = re.compile(r"permission denied for (table|schema|sequence|large object) ([^\n]+)")
_GRANT = {
    "table": "GRANT SELECT ON TABLE {name} TO {role};",
    "sequence": "GRANT SELECT ON SEQUENCE {name} TO {role};",
    "schema": "GRANT USAGE ON SCHEMA {name} TO {role};",
    "large object": "GRANT SELECT ON LARGE OBJECT {name} TO {role};",
}


# pg_dump's own words (English), its name as SQL writes it: ``laporan."Data Siswa"``.
_LOCKING = re.compile(r"LOCK TABLE (.+?) IN ACCESS SHARE MODE")
# The table (or its schema) pg_dump's LOCK TABLE names, where this role may not read it.
_MAY_NOT_READ = """
SELECT CASE WHEN NOT has_schema_privilege(n.oid, 'USAGE') THEN 'schema'
            WHEN NOT has_table_privilege(c.oid, 'SELECT') THEN 'table' END, n.nspname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = (parse_ident(%(name)s))[1] AND c.relname = (parse_ident(%(name)s))[2]
"""


def _unreadable(conn: Any, err: str) -> tuple[str, str] | None:
    """``(kind, name)`` of what pg_dump was refused, where the server said it in another
    language (``keine Berechtigung für Tabelle laporan``): the table its ``LOCK TABLE``
    names (pg_dump's own words, English), by the catalog, when this role may not read it or
    its schema; None otherwise (said in English: :data:`_DENIED` reads it)."""
    locking = _LOCKING.search(err)
    if locking is None or _DENIED.search(err):
        return None
    row = None
    with contextlib.suppress(Exception):  # (a name parse_ident does not read: not said)
        row = conn.execute(_MAY_NOT_READ, {"name": locking[1]}).fetchone()
    if row is None or row[0] is None:
        return None
    return ("table", locking[1]) if row[0] == "table" else ("schema", sql_name(row[1]))


def _waited_on(conn: Any, err: str) -> tuple[re.Match[str] | None, str]:
    """pg_dump's ``LOCK TABLE`` that failed, where the server said why in another language
    (``storniere Anfrage wegen Zeitüberschreitung der Anfrage``: --lock-wait-timeout is a
    statement_timeout around it): a table that is there and that this role may read was not
    refused, it was waited on (:func:`_unreadable` reads a refusal; a session the server
    ended is followed by libpq's own words). With the server's words,
    for the message; (None, "") otherwise, or said in English (:data:`_LOCK_GIVEN_UP`)."""
    locking = _LOCKING.search(err)
    failed = re.search(r"query failed: (?:\S+:\s+)?(.+)", err)
    lost = any(w in err for w in CONNECTION_LOST)  # (libpq's words after a FATAL: ended)
    if locking is None or failed is None or lost or _DENIED.search(err):
        return None, ""
    row = None
    with contextlib.suppress(Exception):
        row = conn.execute(_MAY_NOT_READ, {"name": locking[1]}).fetchone()
    if row is None or row[0] is not None:  # gone meanwhile, or not readable
        return None, ""
    return locking, f" (the server said: {failed[1].strip()})"


def _not_readable(where: str, kind: str, name: str, role: str) -> NotPermitted:
    """pg_dump refused an object this role may not read: what to grant (exit 2)."""
    grant = _GRANT[kind].format(name=name, role=role or "…")
    return NotPermitted(
        f"{where}: pg_dump may not read {kind} {name} as role {role or '?'}; no backup was made",
        hint=f"a backup reads the whole database: {grant} (as its owner), or back up as a role "
        "that may read everything in it (the database's owner, or a superuser)",
    )


# pg_dump runs with row_security = off: a table whose policies apply to its role is refused.
_NARROWED = re.compile(r'query would be affected by row-level security policy for table "([^"]+)"')


def _not_every_row(where: str, name: str, role: str, owned: bool) -> NotPermitted:
    """A table (``name``, as SQL writes it) row level security narrows for this role (not its
    owner and no BYPASSRLS, or its owner under FORCE), which pg_dump refuses (or would: said
    before it runs): the way out (exit 2). It was "pg_dump failed … check the disk space of
    the backup directory", exit 1, for every backup and every `up` behind its safety
    backup."""
    way = f"as a superuser, `ALTER ROLE {role or '…'} BYPASSRLS;`"
    if owned:
        way = f"as its owner, `ALTER TABLE {name} NO FORCE ROW LEVEL SECURITY;`, or {way}"
    else:
        way += ", or back up as the table's owner"
    return NotPermitted(
        f"{where}: pg_dump may not read every row of table {name} as role "
        f"{role or '?'} (row level security policies apply to it); no backup was made",
        hint=f"a backup reads every row, never the rows a policy shows: {way}",
    )
