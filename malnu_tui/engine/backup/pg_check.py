"""A PostgreSQL backup checked: ``pg_restore --list`` reads it back (a pg_restore older than
its archive said as the client's, not the backup's, failure); with ``--deep``, a restore into a
scratch database in one transaction, whose row counts and schema hash are compared with the
manifest, and the roles its grants and policies name looked for on the server.

The dump itself is taken in :mod:`malnu_tui.engine.backup.postgresql`.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from malnu_tui.engine.backends.pg_session import role_name
from malnu_tui.engine.backends.pg_tables import TOOL_TABLES
from malnu_tui.engine.backup.method import VerifyCheck, compare_with_manifest
from malnu_tui.engine.backup.pg_listing import restore_listing
from malnu_tui.engine.backup.pg_needs import missing_roles
from malnu_tui.engine.backup.pg_toc import superuser_only, toc
from malnu_tui.engine.backup.pg_tools import (
    CONNECTION_LOST,
    ENV_PG_BINDIR,
    TOC_LINE,
    ChildConnection,
    PgTools,
    PgToolsMissing,
    child_connection,
    create_scratch_database,
    drop_left_behind,
    drop_scratch,
    find_pg_tools,
    for_server,
    open_target,
    read_dump,
    scratch_database_name,
    scrub,
    server_major,
    server_said,
    session_ended,
    spawn,
    with_dbname,
)
from malnu_tui.engine.backup.pg_tooltext import DumpTables
from malnu_tui.engine.backup.store import (
    BackupError,
    BackupManifest,
    BackupProgress,
    BackupProgressCallback,
)
from malnu_tui.engine.errors import NotPermitted

if TYPE_CHECKING:
    from collections.abc import Sequence

    from malnu_tui.engine.config import Target


def list_check(tools: PgTools, path: Path) -> tuple[bool, str]:
    code, out, err = read_dump(tools, ["--list", str(path)])  # (its lines only counted)
    entries = [ln for ln in out.splitlines() if TOC_LINE.match(ln)]
    if code != 0:
        return False, f"pg_restore --list failed: {err[-500:]}"
    if not entries:
        return False, "pg_restore --list shows no entries"
    return True, f"{len(entries)} entries"


_NEWER_ARCHIVE = re.compile(r"unsupported version \([\d.]+\) in file header")


def _too_old_to_read(tools: PgTools, manifest: BackupManifest, said: str) -> PgToolsMissing:
    """The backup is sound (its sha256 matched, and its own pg_dump's pg_restore read it when
    it was made), this pg_restore is older than its archive: not the backup's failure. It was
    `FAILED verification: it will not be restored`, the backup marked `✘ no`, and `recover`
    passed over it to an older backup (more data lost) on a box whose client was older."""
    made = re.search(r"\((\d+)\)\s*$", manifest.details.get("pg_dump", ""))
    by = f"pg_dump {made[1]}" if made else "a newer pg_dump"
    need = made[1] if made else "N"
    version = _NEWER_ARCHIVE.search(said)
    return PgToolsMissing(
        f"backup {manifest.id} was made by {by}, whose archive {tools.pg_restore} "
        f"({tools.major}) cannot read ({version[0] if version else said}); nothing was "
        "concluded about the backup, its verified state is as it was",
        hint=f"install postgresql-client-{need} (or newer) and set {ENV_PG_BINDIR} to its "
        f"bin directory (Debian: /usr/lib/postgresql/{need}/bin)",
    )


def check(
    target: Target,
    path: Path,
    manifest: BackupManifest,
    deep: bool,
    progress: BackupProgressCallback,
) -> list[VerifyCheck]:
    """``pg_restore --list``; with ``deep``, a restore into a scratch database whose row counts
    and schema hash are compared with the manifest (needs CREATEDB)."""
    tools = find_pg_tools()
    progress(BackupProgress("verify", 0, 0, "pg_restore --list"))
    ok, detail = list_check(tools, path)
    if not ok and _NEWER_ARCHIVE.search(detail):
        raise _too_old_to_read(tools, manifest, detail)
    checks = [VerifyCheck("pg_restore --list", ok, detail)]
    if not deep or not ok:
        return checks
    checks.extend(_deep_check(tools, target, path, manifest, progress))
    return checks


def _deep_check(
    tools: PgTools,
    target: Target,
    path: Path,
    manifest: BackupManifest,
    progress: BackupProgressCallback,
) -> list[VerifyCheck]:
    import psycopg

    name = scratch_database_name("verify")
    admin = open_target(target)
    for said in drop_left_behind(admin):
        progress(BackupProgress("restore", 0, 0, said))
    scratch_url = with_dbname(target.url, name)
    child = child_connection(scratch_url)
    checks: list[VerifyCheck] = []
    try:
        try:
            create_scratch_database(admin, name)
        except psycopg.errors.InsufficientPrivilege as exc:
            # Not the backup's failure: a sound backup was marked "✘ no" (and `check` went
            # CRITICAL on "no verified backup") because the role may not create databases.
            raise NotPermitted(
                f"backup verify --deep of {manifest.id}: cannot create a scratch database "
                f"({exc.diag.message_primary}); nothing was checked or changed, the backup's "
                "verified state is as it was",
                hint=f"as a superuser: ALTER ROLE {role_name(admin.conn) or '…'} CREATEDB; "
                "(the scratch database is dropped after), or verify without --deep",
            ) from None
        except Exception as exc:
            return [VerifyCheck("scratch database", False, f"cannot create {name}: {exc}")]
        progress(BackupProgress("restore", 0, 0, f"restoring into scratch database {name}"))
        code, listed, err = toc(tools, path)
        if code != 0:  # (read whole a moment ago: not the file's failure)
            raise BackupError(
                f"backup verify --deep of {manifest.id}: pg_restore --list failed (exit "
                f"{code}): {' '.join(err.split())[-500:]}; nothing was concluded about the "
                "backup, its verified state is as it was"
            )
        listing, left_out = superuser_only(admin.conn, listed)
        # Roles are the server's: the scratch restore (no privileges, no owners) passed a
        # backup whose GRANTs name a role dropped since, and the restore then failed there;
        # one with such a policy failed it as if the file were bad. Checked here, said apart,
        # in the entries a restore over this target runs (as the restore checks them).
        missing = missing_roles(admin.conn, tools, path, restore_listing(admin, listed).entries)
        if missing.policies:
            listing = [ln for ln in listing if ln not in set(missing.policies)]
        code, restore_err, dumped = _scratch_restore(
            tools,
            path,
            child,
            server_major(admin.conn),
            listing if left_out or missing.policies else None,
        )
        if code != 0 and any(w in restore_err for w in CONNECTION_LOST):
            # Not the backup's failure: a sound backup was marked "FAILED verification: it
            # will not be restored" when a server restart cut its scratch restore off.
            ended = session_ended(scrub(restore_err, child.password), "pg_restore's")
            raise BackupError(
                f"backup verify --deep of {manifest.id}: {ended}; nothing was concluded "
                "about the backup, its verified state is as it was",
                hint="a server restart, a failover or `pg_terminate_backend` ends a session: "
                "run the verification again once the server answers",
            )
        if code != 0:
            said = server_said(scrub(restore_err, child.password), dumped)
            checks.append(VerifyCheck("scratch restore", False, said))
            return checks
        checks.append(
            VerifyCheck(
                "scratch restore", True, name + (f" ({left_out}, left out)" * bool(left_out))
            )
        )
        scratch = open_target(target, scratch_url)
        try:
            tables = tables_as_made(scratch.table_names(), manifest)
            counts = {t: scratch.row_count(t) for t in tables}
            schema_hash = scratch.schema_fingerprint(tables)
        finally:
            scratch.close()
        checks += compare_with_manifest(manifest, counts, schema_hash)
        if missing.named_by:
            way_out = missing.way_out()
            checks.append(VerifyCheck("roles", False, missing.detail(), True, way_out))
        return checks
    finally:
        child.close()
        drop_scratch(admin, name)
        admin.close()


def tables_as_made(names: Sequence[str], manifest: BackupManifest) -> list[str]:
    """The tables of ``names`` that ``manifest``'s row counts and schema hash cover. Tables
    named as the tool's that versions up to session 8 left, empty, in the data schema of a
    target whose tool tables live in a schema of their own: those versions' manifests leave
    them out (their deep verification failed after an upgrade, the backup no longer counted
    as verified; their restore said the schema hash differed), so does the comparison."""
    return [t for t in names if t in manifest.row_counts or t not in TOOL_TABLES]


def _scratch_restore(
    tools: PgTools, path: Path, child: ChildConnection, major: int, listing: list[str] | None
) -> tuple[int, str, DumpTables]:
    """(exit code, what it printed, the dump's tables) of the dump restored into the scratch
    database in one transaction: pg_restore's SQL into psql, as the restore runs it
    (:func:`for_server`: pg_restore 17 and later, straight into a server of 16 or older,
    stopped on a setting that server does not know, and a sound backup was marked `✘ no`),
    psql verbose and the SQL read for its tables as the restore's (a repeated Laravel session
    id in its error, masked by the table's shape: it was by the column's name only, shown).
    COMMIT only once pg_restore has read the whole dump; with ``listing``, only its entries."""
    with (
        tempfile.TemporaryFile() as prod_err,
        tempfile.TemporaryFile() as cons_err,
        tempfile.NamedTemporaryFile("w", suffix=".list", encoding="utf-8") as list_file,
    ):
        list_file.write("\n".join(listing or []) + "\n")
        list_file.flush()
        use = [f"--use-list={list_file.name}"] if listing is not None else []
        producer = spawn(
            [tools.pg_restore, "--no-owner", "--no-privileges", *use, "--file=-", str(path)],
            env=child.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=prod_err,
        )
        consumer = spawn(
            [tools.psql, "--no-psqlrc", "--quiet", "--no-password", "--set=ON_ERROR_STOP=1",
             "--set=VERBOSITY=verbose", f"--output={os.devnull}", f"--dbname={child.url}"],
            env=child.env,
            pass_fds=child.pass_fds,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=cons_err,
        )  # fmt: skip
        assert producer.stdout is not None and consumer.stdin is not None
        tables = DumpTables()
        try:
            # A broken pipe: psql stopped at an error (ON_ERROR_STOP), nothing committed; its
            # exit code and words are read below.
            with contextlib.suppress(BrokenPipeError):
                consumer.stdin.write(b"BEGIN;\n")
                first = True
                while chunk := producer.stdout.read(1 << 20):
                    chunk = for_server(chunk, major) if first else chunk
                    tables.feed(chunk)
                    consumer.stdin.write(chunk)
                    first = False
                if producer.wait() == 0:
                    consumer.stdin.write(b"COMMIT;\n")
                consumer.stdin.close()
                consumer.wait()
        finally:
            for proc in (producer, consumer):
                if proc.poll() is None:
                    proc.kill()
                proc.wait()
            with contextlib.suppress(BrokenPipeError):
                consumer.stdin.close()
            producer.stdout.close()
        # psql's error first: a pg_restore that psql stopped reading from was killed here
        failed, err = (consumer, cons_err) if consumer.returncode != 0 else (producer, prod_err)
        err.seek(0)
        return failed.returncode, err.read().decode(errors="replace"), tables
