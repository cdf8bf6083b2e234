"""PostgreSQL backups: ``pg_dump -Fc`` from an exported snapshot, checked with
``pg_restore --list``; restore with ``pg_restore --clean --if-exists`` in one transaction.

The manifest's tracking rows, schema hash and row counts are read in the very snapshot that
pg_dump dumps (``pg_export_snapshot`` + ``pg_dump --snapshot``), so they describe the file
exactly, and they are read while pg_dump runs. Children get argument lists only; a password is
passed in ``PGPASSWORD``, never on a command line, and never printed.

Restore keeps the live audit trail and lock-info row (their entries are left out of the restore
list) and, in the same transaction, drops tables and views created after the backup and
unlinks large objects created after it, so the database ends up with exactly the backup's
schema and large objects. ``pg_restore --clean --if-exists`` writes the
SQL, ``psql`` runs it inside ``BEGIN … COMMIT`` after those drops, and ``COMMIT`` is sent only
once pg_restore has finished successfully: all of it commits, or none of it (the effect of
``pg_restore --single-transaction``, plus the drops).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from malnu_tui.engine.backup.method import Snapshot, VerifyCheck, compare_with_manifest
from malnu_tui.engine.backup.store import (
    AppliedMigration,
    BackupError,
    BackupManifest,
    BackupProgress,
    BackupProgressCallback,
    fsync_file,
    remove_quietly,
    sha256_file,
    temp_path,
)

if TYPE_CHECKING:
    from malnu_tui.engine.backends.base import Backend
    from malnu_tui.engine.backends.postgresql import PostgresBackend
    from malnu_tui.engine.config import Target

__all__ = ["METHOD", "SUFFIX", "PgTools", "PgToolsMissing", "check", "create", "find_pg_tools"]

METHOD = "pg_dump-Fc"
SUFFIX = ".dump"
ENV_PG_BINDIR = "MALNU_PG_BINDIR"
TOOL_ENTRY_NAMES = frozenset(
    {"malnu_audit", "malnu_lock", "malnu_audit_id_seq", "malnu_audit_pkey", "malnu_lock_pkey"}
)
_RELATION_TYPES = ("MATERIALIZED VIEW", "FOREIGN TABLE", "TABLE", "VIEW", "SEQUENCE")
_NOT_RELATIONS = ("TABLE DATA", "SEQUENCE SET", "SEQUENCE OWNED BY", "MATERIALIZED VIEW DATA")
_TOC_LINE = re.compile(r"^\d+;\s+\d+\s+\d+\s+(?P<rest>.*)$")
_VERSION = re.compile(r"\)\s*(\d+)(?:\.(\d+))?")
_BLOB = re.compile(r"^BLOB(?: METADATA)? - (?P<lo>\d+)(?:\.\.(?P<hi>\d+))?(?:\s|$)")


class PgToolsMissing(BackupError):
    """pg_dump / pg_restore / psql are missing, or older than the server."""

    exit_code = 2


@dataclass(frozen=True)
class PgTools:
    """Client binaries of one PostgreSQL version."""

    pg_dump: str
    pg_restore: str
    psql: str
    major: int


def _major_of(binary: str) -> int | None:
    try:
        out = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=20, check=False
        ).stdout
    except OSError:
        return None
    m = _VERSION.search(out)
    return int(m.group(1)) if m else None


def _candidate_dirs() -> list[Path]:
    dirs: list[Path] = []
    if os.environ.get(ENV_PG_BINDIR):
        dirs.append(Path(os.environ[ENV_PG_BINDIR]))
    found = shutil.which("pg_dump")
    if found:
        dirs.append(Path(found).parent)
    root = Path("/usr/lib/postgresql")
    if root.is_dir():
        versions = sorted((int(p.name) for p in root.iterdir() if p.name.isdigit()), reverse=True)
        dirs.extend(root / str(v) / "bin" for v in versions)
    return dirs


def find_pg_tools(server_major: int | None = None) -> PgTools:
    """pg_dump, pg_restore and psql of one version: ``$MALNU_PG_BINDIR``, then ``PATH``, then
    the newest ``/usr/lib/postgresql/*/bin``; never older than the server's major version."""
    seen: list[str] = []
    for d in _candidate_dirs():
        paths = [d / n for n in ("pg_dump", "pg_restore", "psql")]
        if not all(os.access(p, os.X_OK) for p in paths):
            continue
        major = _major_of(str(paths[0]))
        if major is None:
            continue
        seen.append(f"{paths[0]} ({major})")
        if server_major is None or major >= server_major:
            return PgTools(str(paths[0]), str(paths[1]), str(paths[2]), major)
    if not seen:
        raise PgToolsMissing(
            "pg_dump, pg_restore and psql were not found (PATH, /usr/lib/postgresql/*/bin)",
            hint="install the PostgreSQL client (Debian: apt-get install postgresql-client), "
            f"or set {ENV_PG_BINDIR}",
        )
    raise PgToolsMissing(
        f"the server runs PostgreSQL {server_major} but only older clients were found: "
        + ", ".join(seen),
        hint=f"install postgresql-client-{server_major} (or newer), or set {ENV_PG_BINDIR}",
    )


def child_connection(url: str) -> tuple[str, dict[str, str], str | None]:
    """(URL without password or tool options, environment with ``PGPASSWORD``, password).

    The password never reaches a command line (where ``ps`` would show it).
    """
    from malnu_tui.engine.urls import split_tool_options

    libpq_url, _opts = split_tool_options(url)
    parts = urlsplit(libpq_url)
    password: str | None = None
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        if ":" in userinfo:
            user, _, secret = userinfo.partition(":")
            password = unquote(secret)
            userinfo = user
        netloc = f"{userinfo}@{hostport}"
    query: list[tuple[str, str]] = []
    for k, v in parse_qsl(parts.query, keep_blank_values=True):
        if k == "password":
            password = v
        else:
            query.append((k, v))
    env = dict(os.environ)
    if password is not None:
        env["PGPASSWORD"] = password
    clean = urlunsplit((parts.scheme, netloc, parts.path, urlencode(query), parts.fragment))
    return clean, env, password


def _exit_text(code: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        extra = " (file size limit: the disk or quota is full)" if name == "SIGXFSZ" else ""
        return f"killed by {name}{extra}"
    return f"exit {code}"


def _scrub(text: str, password: str | None) -> str:
    text = text.strip()
    if password:
        text = text.replace(password, "***")
    return text[-2000:]


def _open(url: str) -> PostgresBackend:
    from malnu_tui.engine.backends.postgresql import open_url

    return open_url(url)


def _server_major(conn: Any) -> int:
    return int(conn.info.server_version) // 10000


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

    url, env, password = child_connection(target.url)
    meta = _open(target.url)
    try:
        meta.ensure_schema()
        tools = find_pg_tools(_server_major(meta.conn))
        conn = meta.conn
        try:
            with conn.transaction():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                row = conn.execute(
                    "SELECT pg_export_snapshot(), pg_database_size(current_database())"
                ).fetchone()
                assert row is not None
                snapshot, total = str(row[0]), int(row[1])
                progress(BackupProgress("dump", 0, total, f"pg_dump -Fc of {meta.name}"))
                proc = subprocess.Popen(
                    [
                        tools.pg_dump,
                        "--format=custom",
                        "--no-password",
                        f"--snapshot={snapshot}",
                        f"--file={dest}",
                        f"--dbname={url}",
                    ],
                    env=env,
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
        except psycopg.Error as exc:
            raise BackupError(f"{meta.display_url}: {exc}".strip()) from None
    finally:
        meta.close()
    if proc.returncode != 0:
        raise BackupError(
            f"pg_dump failed ({_exit_text(proc.returncode)}): {_scrub(err, password)}",
            hint="check the disk space of the backup directory and the role's privileges",
        )
    progress(BackupProgress("fsync", 0, 0, "fsync, sha256 and pg_restore --list"))
    try:
        fsync_file(dest)
        digest, size = sha256_file(dest, progress)
    except OSError as exc:
        raise BackupError(f"cannot write the backup to {dest.parent}: {exc}") from None
    ok, detail = _list_check(tools, dest)
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


def _toc(tools: PgTools, path: Path) -> tuple[int, list[str], str]:
    proc = subprocess.run(
        [tools.pg_restore, "--list", str(path)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return proc.returncode, proc.stdout.splitlines(), proc.stderr.strip()


def _list_check(tools: PgTools, path: Path) -> tuple[bool, str]:
    code, lines, err = _toc(tools, path)
    entries = [ln for ln in lines if _TOC_LINE.match(ln)]
    if code != 0:
        return False, f"pg_restore --list failed: {err[-500:]}"
    if not entries:
        return False, "pg_restore --list shows no entries"
    return True, f"{len(entries)} entries"


def _entry(line: str) -> tuple[str, str, str] | None:
    """(type, schema, name) of a TOC line, for the types this module cares about."""
    m = _TOC_LINE.match(line)
    if not m:
        return None
    rest = m.group("rest")
    for t in (*_NOT_RELATIONS, *_RELATION_TYPES, "CONSTRAINT", "FK CONSTRAINT", "INDEX"):
        if rest.startswith(t + " "):
            words = rest[len(t) + 1 :].split(" ")
            if len(words) >= 2:
                return t, words[0], words[1]
    return None


def _is_tool_entry(line: str) -> bool:
    m = _TOC_LINE.match(line)
    if not m:
        return False
    words = m.group("rest").split(" ")
    return any(w in TOOL_ENTRY_NAMES for w in words[1:4])


def _is_live_extension_entry(line: str, live: set[str]) -> bool:
    """An ``EXTENSION`` (or its ``COMMENT``) entry of an extension the live database already
    has: --clean would drop and re-create it, which only its owner may do (on Supabase a
    platform role, never the operator's), and the restore's data needs only that it exists."""
    m = _TOC_LINE.match(line)
    if not m:
        return False
    words = m.group("rest").split()
    if words[:2] == ["EXTENSION", "-"] and len(words) > 2:
        return words[2] in live
    if words[:3] == ["COMMENT", "-", "EXTENSION"] and len(words) > 3:
        return words[3] in live
    return False


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
    ok, detail = _list_check(tools, path)
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
    from psycopg import sql

    name = f"malnu_verify_{uuid.uuid4().hex[:10]}"
    admin = _open(target.url)
    scratch_url = _with_dbname(target.url, name)
    url, env, password = child_connection(scratch_url)
    checks: list[VerifyCheck] = []
    try:
        try:
            admin.conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except Exception as exc:
            return [VerifyCheck("scratch database", False, f"cannot create {name}: {exc}")]
        progress(BackupProgress("restore", 0, 0, f"restoring into scratch database {name}"))
        proc = subprocess.run(
            [
                tools.pg_restore,
                "--no-password",
                "--exit-on-error",
                "--single-transaction",
                "--no-owner",
                "--no-privileges",
                f"--dbname={url}",
                str(path),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=3600,
            check=False,
        )
        if proc.returncode != 0:
            checks.append(VerifyCheck("scratch restore", False, _scrub(proc.stderr, password)))
            return checks
        checks.append(VerifyCheck("scratch restore", True, name))
        scratch = _open(scratch_url)
        try:
            counts = {t: scratch.row_count(t) for t in scratch.table_names()}
            schema_hash = scratch.schema_fingerprint()
        finally:
            scratch.close()
        checks += compare_with_manifest(manifest, counts, schema_hash)
        return checks
    finally:
        with contextlib.suppress(Exception):
            admin.conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
        admin.close()


def _with_dbname(url: str, dbname: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + dbname, parts.query, parts.fragment))


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


def _large_objects_not_in(toc: Sequence[str]) -> str:
    """The statement that unlinks the live large objects the dump does not have (created
    after the backup): ``pg_restore --clean`` unlinks and re-creates only the dump's own. The
    dump names each one (``BLOB - 16427``; from PostgreSQL 17 ``BLOB METADATA - 16427..16500``
    per group), all numbers, read in the restore's transaction."""
    single: list[int] = []
    ranges: list[str] = []
    for line in toc:
        m = _TOC_LINE.match(line)
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
        f"WHERE oid <> ALL('{keep}'::pg_catalog.oid[]){''.join(ranges)}"
    )


def _prelude(backend: PostgresBackend, toc: Sequence[str]) -> list[str]:
    """SQL run first, in the restore's transaction: drop what the backup does not have."""
    in_dump: set[tuple[str, str]] = set()
    schemas: set[str] = set()  # only schemas the dump covers are cleaned of newer relations
    for line in toc:
        m = _TOC_LINE.match(line)
        if not m:
            continue
        words = m.group("rest").split(" ")
        if words[0] == "SCHEMA" and len(words) > 2:
            schemas.add(words[2])
        e = _entry(line)
        if e:
            schemas.add(e[1])
            if e[0] in _RELATION_TYPES:
                in_dump.add((e[1], e[2]))
    schemas.add(str(backend.conn.execute("SELECT current_schema()").fetchone()[0]))  # type: ignore[index]
    statements = ["SET lock_timeout = '60s'"]
    rows = backend.conn.execute(_LIVE_RELATIONS).fetchall()
    for schema, rel, kind in sorted(rows, key=lambda r: (r[2] not in ("v", "m"), r[0], r[1])):
        if rel in TOOL_ENTRY_NAMES or (schema, rel) in in_dump or schema not in schemas:
            continue
        statements.append(f"DROP {_DROP[kind]} IF EXISTS {_q(schema, rel)} CASCADE")
    # Foreign keys added after the backup to tables the backup has: pg_restore --clean drops
    # tables in the backup's dependency order, which does not know about them.
    for schema, rel, con in backend.conn.execute(_LIVE_FKS).fetchall():
        if (schema, rel) in in_dump:
            statements.append(
                f"ALTER TABLE IF EXISTS {_q(schema, rel)} DROP CONSTRAINT IF EXISTS {_q(con)}"
            )
    if backend.conn.execute("SELECT 1 FROM pg_catalog.pg_largeobject_metadata LIMIT 1").fetchone():
        statements.append(_large_objects_not_in(toc))
    return statements


def restore(
    backend: Backend,
    target: Target,
    path: Path,
    manifest: BackupManifest,
    progress: BackupProgressCallback,
) -> None:
    """Replace the database's content with the dump, in one transaction (see module doc)."""
    from malnu_tui.engine.backends.postgresql import PostgresBackend

    if not isinstance(backend, PostgresBackend):
        raise BackupError(f"{backend.display_url} is not a PostgreSQL database")
    tools = find_pg_tools(_server_major(backend.conn))
    code, toc, err = _toc(tools, path)
    if code != 0:
        raise BackupError(f"pg_restore --list failed: {err[-500:]}")
    live_ext = {str(r[0]) for r in backend.conn.execute("SELECT extname FROM pg_extension")}
    listing = [
        ln for ln in toc if not _is_tool_entry(ln) and not _is_live_extension_entry(ln, live_ext)
    ]
    prelude = _prelude(backend, toc)
    list_file = temp_path(path.parent, ".list")
    url, env, password = child_connection(target.url)
    try:
        fd = os.open(list_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write("\n".join(listing) + "\n")
        progress(
            BackupProgress(
                "restore", 0, 0, f"pg_restore --clean --if-exists into {backend.name} (one txn)"
            )
        )
        started = time.monotonic()
        ok = _pipe_restore(tools, path, list_file, url, env, prelude, password)
        if ok is not None:
            raise BackupError(
                f"restore failed and was rolled back, the database is unchanged: {ok}",
            )
        progress(BackupProgress("restore", 1, 1, f"restored in {time.monotonic() - started:.1f} s"))
    finally:
        remove_quietly(list_file)


def _pipe_restore(
    tools: PgTools,
    path: Path,
    list_file: Path,
    url: str,
    env: dict[str, str],
    prelude: Sequence[str],
    password: str | None,
) -> str | None:
    """pg_restore's SQL into psql, inside BEGIN … COMMIT; COMMIT is sent only once pg_restore
    has finished successfully, so a dump that breaks half way commits nothing. Returns None on
    success, else what went wrong."""
    with tempfile.TemporaryFile() as prod_err, tempfile.TemporaryFile() as cons_err:
        producer = subprocess.Popen(
            [tools.pg_restore, "--clean", "--if-exists", f"--use-list={list_file}", "--file=-",
             str(path)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=prod_err,
        )  # fmt: skip
        consumer = subprocess.Popen(
            [tools.psql, "--no-psqlrc", "--quiet", "--no-password", "--set=ON_ERROR_STOP=1",
             f"--dbname={url}"],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=cons_err,
        )  # fmt: skip
        assert producer.stdout is not None and consumer.stdin is not None
        committed = False
        try:
            head = ["BEGIN", "SET client_min_messages = warning", *prelude]
            consumer.stdin.write(("".join(f"{st};\n" for st in head)).encode())
            while chunk := producer.stdout.read(1 << 20):
                consumer.stdin.write(chunk)
            if producer.wait() == 0:
                consumer.stdin.write(b"COMMIT;\n")
                committed = True
            consumer.stdin.close()
        except BrokenPipeError:
            committed = False  # psql stopped at an error: it rolled back
        finally:
            if producer.poll() is None:
                producer.kill()
            producer.wait()
            with contextlib.suppress(BrokenPipeError):
                consumer.stdin.close()
            consumer.wait()
        prod_err.seek(0)
        cons_err.seek(0)
        perr = _scrub(prod_err.read().decode(errors="replace"), password)
        cerr = _scrub(cons_err.read().decode(errors="replace"), password)
    if consumer.returncode != 0:
        return cerr or f"psql exited with {consumer.returncode}"
    if producer.returncode != 0 or not committed:
        return f"pg_restore failed: {perr or producer.returncode}"
    return None
