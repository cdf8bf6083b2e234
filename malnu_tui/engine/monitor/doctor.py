"""``doctor`` (the guide's "Database Connection Issues"): per target, connect and authenticate,
time a round trip, read the server version, check what the tool needs there, the backup
directory and the config. One line per check, OK or the problem with its fix."""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from malnu_tui.engine.again import named_fields
from malnu_tui.engine.monitor.debuglog import exception_text, mask_secrets

if TYPE_CHECKING:
    from malnu_tui.engine.backends.base import Backend
    from malnu_tui.engine.config import Settings, Target

__all__ = ["DoctorCheck", "DoctorResult", "config_failed", "run_doctor"]

PROBE_TABLE = "malnu_doctor_probe"


@dataclass(frozen=True)
class DoctorCheck:
    target: str  # "" for checks of the whole config
    name: str
    ok: bool
    detail: str
    fix: str = ""
    # Passed, but with something worth doing (an audit index missing or left empty): `WARN`
    # with its fix, JSON's "warning"; the exit stays 0.
    warning: bool = False

    def line(self) -> str:
        who = f"{self.target} " if self.target else ""
        mark = "FAIL" if not self.ok else "WARN" if self.warning else "OK  "
        text = f"{mark} {who}{self.name}: {self.detail}"
        return text + (f" (fix: {self.fix})" if self.fix and mark != "OK  " else "")

    def as_json(self) -> dict[str, object]:
        return {
            "target": self.target,
            "check": self.name,
            "ok": self.ok,
            "detail": self.detail,
            "fix": self.fix,
            "warning": self.warning,
        }


@dataclass(frozen=True)
class DoctorResult:
    checks: tuple[DoctorCheck, ...]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def lines(self) -> list[str]:
        return [c.line() for c in self.checks]

    def summary(self) -> str:
        bad = sum(1 for c in self.checks if not c.ok)
        warned = sum(1 for c in self.checks if c.ok and c.warning)
        also = f" ({warned} with a warning)" if warned else ""
        return (
            f"doctor: all {len(self.checks)} checks passed{also}"
            if not bad
            else f"doctor: {bad} of {len(self.checks)} checks failed{also}"
        )

    def as_json(self) -> dict[str, object]:
        return {"ok": self.ok, "checks": [c.as_json() for c in self.checks]}


class _Checks:
    def __init__(self, target: str) -> None:
        self.target = target
        self.out: list[DoctorCheck] = []

    def ok(self, name: str, detail: str) -> None:
        self.out.append(DoctorCheck(self.target, name, True, mask_secrets(detail)))

    def fail(self, name: str, detail: str, fix: str) -> None:
        self.out.append(DoctorCheck(self.target, name, False, mask_secrets(detail), fix))

    def warn(self, name: str, detail: str, fix: str) -> None:
        self.out.append(DoctorCheck(self.target, name, True, mask_secrets(detail), fix, True))

    def run(self, name: str, fn: Callable[[], str], fix: str) -> bool:
        try:
            self.ok(name, fn())
        except Exception as exc:
            self.fail(name, exception_text(exc), getattr(exc, "hint", None) or fix)
            return False
        return True


def _server_version(backend: Backend) -> str:
    if backend.kind == "sqlite":
        import sqlite3

        return f"SQLite {sqlite3.sqlite_version}"
    if backend.kind == "postgresql":
        v = int(backend.conn.info.server_version)  # type: ignore[attr-defined]
        return f"PostgreSQL {v // 10000}.{v % 10000}"
    info = backend.api.call("GET", "")  # type: ignore[attr-defined]
    size = info.get("file_size") if isinstance(info, dict) else None
    return f"Cloudflare D1 ({info.get('version', '?')}, {size} bytes)"


def _probe_create_pg(backend: Backend) -> None:
    """The PostgreSQL probe: a read-only session (a replica, a frozen role) said as such, not
    as a missing GRANT; the error on one line (psycopg's ran on with the statement and a caret
    under it, and the fix came three lines down)."""
    import psycopg

    from malnu_tui.engine.backends.pg_refusals import refuse_read_only
    from malnu_tui.engine.backends.pg_session import role_name, sql_name
    from malnu_tui.engine.backends.pg_sql import error_text
    from malnu_tui.engine.errors import BackendError

    pg: Any = backend.conn  # type: ignore[attr-defined]
    refuse_read_only(pg, backend.display_url)
    try:
        with pg.transaction(force_rollback=True):
            pg.execute(f"CREATE TABLE {PROBE_TABLE} (x integer)")
    except psycopg.Error as exc:
        hint = None
        if exc.sqlstate == "42501":
            row = pg.execute("SELECT current_schema()").fetchone()
            where = sql_name(str(row[0])) if row and row[0] else "public"
            hint = f"as the schema's owner: GRANT CREATE ON SCHEMA {where} TO {role_name(pg)};"
        raise BackendError(error_text(exc), hint=hint) from None


def _probe_create(backend: Backend) -> str:
    """Create and drop a scratch table (rolled back where DDL is transactional)."""
    if backend.kind == "sqlite":
        import sqlite3

        from malnu_tui.engine.backends.sqlite_open import refuse_unwritable

        # Asked first, as every command that writes asks: a probe of a file this user may
        # not write left a -wal and -shm of this user's beside the application's file, and
        # its fix was PostgreSQL's "grant CREATE on the database/schema".
        refuse_unwritable(backend.path)  # type: ignore[attr-defined]
        # Its own connection: the doctor's backend is read-only (and a plain one leaves the
        # file's journal mode as it is). The file exists: connect said so.
        conn = sqlite3.connect(str(backend.path), isolation_level=None, timeout=5)  # type: ignore[attr-defined]
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute(f"CREATE TABLE {PROBE_TABLE} (x INTEGER)")
            finally:
                conn.execute("ROLLBACK")
        finally:
            conn.close()
    elif backend.kind == "postgresql":
        _probe_create_pg(backend)
    else:
        # One batch D1 rolls back whole: nothing written (two committed requests, a CREATE and
        # a DROP, made two bookmarks and left the table behind when the DROP failed).
        d1: Any = backend
        refused = d1.api.trial([f"CREATE TABLE {PROBE_TABLE} (x INTEGER)"])
        if refused is not None:
            raise RuntimeError(refused)
    return "can create tables"


def _probe_advisory(backend: Backend) -> str:
    pg: Any = backend.conn  # type: ignore[attr-defined]
    key = 0x6D616C6E75  # any key the tool itself never uses
    got = pg.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0]
    if not got:
        raise RuntimeError("pg_try_advisory_lock returned false")
    pg.execute("SELECT pg_advisory_unlock(%s)", (key,))
    return "advisory locks work"


def _probe_pg_tools(backend: Backend) -> str:
    from malnu_tui.engine.backup.postgresql import find_pg_tools

    v = int(backend.conn.info.server_version)  # type: ignore[attr-defined]
    tools = find_pg_tools(v // 10000)
    return f"pg_dump/pg_restore {tools.major} (server {v // 10000}): {tools.pg_dump}"


def _probe_row_security(backend: Backend) -> str:
    """Tables whose row level security policies apply to the tool's role (pg_rowsec.py): a
    backup of the database is refused (pg_dump reads every row), and so is a sync or an
    import of them. Said here, before the first nightly backup fails on it."""
    from malnu_tui.engine.backends.pg_rowsec import narrowed_tables
    from malnu_tui.engine.backends.pg_session import role_name, sql_name
    from malnu_tui.engine.errors import NotPermitted

    conn: Any = backend.conn  # type: ignore[attr-defined]
    role = role_name(conn) or "…"
    found = narrowed_tables(conn, dumped=True)
    if not found:
        return (
            f"no table's policies apply to role {role}: backups, syncs and imports read every row"
        )
    names = [f"{sql_name(t.schema)}.{sql_name(t.table)}" for t in found]
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    forced = [n for n, t in zip(names, found, strict=True) if t.owned]
    way = f"as a superuser, `ALTER ROLE {role} BYPASSRLS;`, or connect as the tables' owner"
    if forced:
        way += f" (it owns {forced[0]}: `ALTER TABLE {forced[0]} NO FORCE ROW LEVEL SECURITY;`)"
    raise NotPermitted(
        f"policies apply to role {role} on {len(names)} table(s) ({shown}): a backup is "
        "refused (pg_dump reads every row), and so is a sync or an import of them",
        hint=way,
    )


def _probe_d1_export(backend: Backend) -> str:
    api: Any = backend.api  # type: ignore[attr-defined]
    api.call(
        "POST",
        "export",
        body={"output_format": "polling", "dump_options": {"no_data": True, "tables": []}},
    )
    return "token can read and export"


def _db_size(backend: Backend, target: Target) -> int:
    with contextlib.suppress(Exception):
        if backend.kind == "sqlite":
            from malnu_tui.engine.urls import sqlite_path

            return sqlite_path(target.url).stat().st_size
        if backend.kind == "postgresql":
            pg: Any = backend.conn  # type: ignore[attr-defined]
            return int(pg.execute("SELECT pg_database_size(current_database())").fetchone()[0])
        info = backend.api.call("GET", "")  # type: ignore[attr-defined]
        return int(info.get("file_size") or 0)
    return 0


def _probe_backup_dir(target: Target, need: int) -> str:
    from malnu_tui.engine.backup.store import list_backups

    directory = target.backup_dir
    with contextlib.suppress(Exception):
        sizes = [b.size for b in list_backups(directory)] if directory.is_dir() else []
        need = max([need, *sizes])
    existing = directory
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():  # (a file where a folder of the store's path should be: it
        # was "writable", and every backup, the safety backups of `up` and `rollback` too,
        # then failed on it)
        raise NotADirectoryError(f"{existing} is a file, not a directory: no backup can be made")
    if directory.exists():
        fd, tmp = tempfile.mkstemp(prefix=".tmp-doctor-", dir=directory)
        os.close(fd)
        os.unlink(tmp)
    elif not os.access(existing, os.W_OK):
        raise PermissionError(f"{directory} does not exist and {existing} is not writable")
    free = shutil.disk_usage(existing).free
    if free < need * 1.1:
        raise OSError(f"{directory}: {free} bytes free, one more backup needs about {need}")
    return f"{directory} writable, {free // (1024 * 1024)} MiB free (a backup needs ~{need} bytes)"


def _other_runners(c: _Checks, backend: Backend, near: Path) -> None:
    """Another runner's migration history in the database (Prisma, Drizzle, dbmate, Rails,
    golang-migrate, Flyway, Alembic), said with its table and rows."""
    from malnu_tui.engine.backends.other_runners import doctor_lines
    from malnu_tui.engine.errors import MalnuError

    try:
        lines = doctor_lines(backend, near)
    except MalnuError as exc:  # one row level security hides rows of (other_runners._hidden)
        c.fail("other runner", str(exc), exc.hint or "")
        return
    for ok, detail, fix in lines:
        if ok:
            c.ok("other runner", detail)
        else:
            c.fail("other runner", detail, fix)


def _audit_indexes(c: _Checks, backend: Backend) -> None:
    """The audit table's indexes missing or left empty (doctor_index.py): a warning with the
    statements that build them; no line on a target without the tool's tables."""
    from malnu_tui.engine.monitor.doctor_index import audit_index_state

    try:
        state = audit_index_state(backend)
    except Exception as exc:
        c.fail("audit index", exception_text(exc), "")
        return
    if state is not None:
        detail, fix = state
        if fix:
            c.warn("audit index", detail, fix)
        else:
            c.ok("audit index", detail)


def _sync_copies(c: _Checks, target: Target, backend: Backend) -> None:
    """On a Supabase target whose API serves the schema of the tool's tables: those tables,
    and the sync's copies there, with row level security off and open to anon or
    authenticated (one catalog query each), each with the statement that closes it. No line
    elsewhere, nor on copies without any."""
    from malnu_tui.engine.backends.pg_tables import TOOL_TABLES
    from malnu_tui.engine.supabase_target import (
        close_statement,
        enable_rls_statement,
        open_tables,
        supabase_of,
    )

    conn, schema = getattr(backend, "conn", None), str(getattr(backend, "schema", "public"))
    supabase = supabase_of(target, "postgresql", backend)
    if conn is None or supabase is None or schema not in supabase.exposed:
        return
    why = supabase.why
    own = open_tables(conn, schema, TOOL_TABLES)
    opened = [t for t, now in own.items() if now]
    if opened:  # an install from before: said, never altered by a diagnosis
        c.fail(
            "tool tables",
            f"the tool's {', '.join(opened)} in {schema} are open to the anon key ({why}): "
            "anyone holding it reads the audit trail and rewrites the migration history or "
            "the lock",
            "; ".join(close_statement(conn, schema, t) for t in opened),
        )
    elif own:
        c.ok("tool tables", f"closed to the anon key ({len(own)} in {schema})")
    copies = open_tables(conn, schema, None)
    opened = [t for t, now in copies.items() if now]
    if opened:
        c.fail(
            "sync copies",
            f"row level security is off on {', '.join(opened)} in {schema} ({why}): "
            "anyone holding the project's anon key reads and writes every row",
            "; ".join(enable_rls_statement(conn, schema, t) for t in opened),
        )
    elif copies:
        c.ok("sync copies", f"row level security on for the {len(copies)} in {schema}")


def doctor_target(target: Target) -> list[DoctorCheck]:
    """Every check of one target; connection failures stop the checks that need it."""
    from malnu_tui.engine.config import open_backend
    from malnu_tui.engine.errors import NotInitialised

    c = _Checks(target.name)
    backend: Backend | None = None
    try:
        # Read-only: a SQLite file that does not exist is a failure, never created (and said
        # "connected"); nothing of the tool's is created anywhere by a diagnosis.
        backend = open_backend(target, read_only=True)
        backend.table_names()
        note = ""
        try:
            backend.ensure_schema()
        except NotInitialised:
            note = " (not initialised by malnu-tui yet: no migrations table)"
        c.ok("connect", f"connected and authenticated to {target.display_url}{note}")
    except Exception as exc:
        c.fail(
            "connect",
            f"{target.display_url}: {exc}",
            getattr(exc, "hint", None)
            or "check the URL, the network, the credentials and that the server is running",
        )
        if backend is not None:  # opened (D1 opens without a request) but not reached
            with contextlib.suppress(Exception):
                backend.close()
            backend = None
    if backend is not None:
        try:
            t0 = time.perf_counter()
            backend.table_names()
            c.ok("round trip", f"{(time.perf_counter() - t0) * 1000:.1f} ms")
            c.run("server version", lambda: _server_version(backend), "")
            c.run(
                "create tables",
                lambda: _probe_create(backend),
                "grant CREATE on the database/schema to this user",
            )
            if backend.kind == "postgresql":
                c.run(
                    "advisory locks",
                    lambda: _probe_advisory(backend),
                    "the tool needs pg_advisory_lock (not available through PgBouncer in "
                    "transaction mode: connect directly)",
                )
                c.run(
                    "pg_dump/pg_restore",
                    lambda: _probe_pg_tools(backend),
                    "install postgresql-client of the server's major version",
                )
                c.run("row level security", lambda: _probe_row_security(backend), "")
            if backend.kind == "d1":
                c.run(
                    "d1 export",
                    lambda: _probe_d1_export(backend),
                    "give the API token D1 Edit permission (read and export)",
                )
            _other_runners(c, backend, target.migrations_dir)
            _audit_indexes(c, backend)
            if backend.kind == "postgresql":
                try:
                    _sync_copies(c, target, backend)
                except Exception as exc:
                    c.fail("sync copies", exception_text(exc), "")
            need = _db_size(backend, target)
        finally:
            with contextlib.suppress(Exception):
                backend.close()
    else:
        need = 0
    c.run(
        "backup dir",
        lambda: _probe_backup_dir(target, need),
        "set [backup] dir (or the target's backup_dir) to a writable place with space",
    )
    return c.out


def _secrets_held(settings: Settings) -> list[str]:
    """What secrets the config file holds, by where (never their values)."""
    from malnu_tui.engine.config_schema import read_config_file
    from malnu_tui.engine.monitor.config import load_monitor_config
    from malnu_tui.engine.urls import url_secrets

    held = []
    for name, target in settings.targets.items():
        if url_secrets(target.url):
            held.append(f"a password ([targets.{name}] url)")
        if target.options.get("api_token"):
            held.append(f"an api_token ([targets.{name}])")
    with contextlib.suppress(Exception):  # a config that does not load fails its own check
        if load_monitor_config(settings).webhooks:
            held.append("webhook URLs ([[alerts.webhooks]])")
    if settings.config_path is not None:  # a sync's end given as a URL (a legacy database)
        with contextlib.suppress(Exception):
            pairs = read_config_file(settings.config_path).get("sync", {})
            for name, pair in pairs.items():
                for key in ("from", "to"):
                    if isinstance(end := pair.get(key), str) and url_secrets(end):
                        held.append(f"a password ([sync.{name}] {key})")
    return held


def _owner_only(path: Path, held: Sequence[str]) -> str:
    """The config that holds secrets may be read by its owner only, as libpq asks of a
    ~/.pgpass: its mode, or the error saying who else may read (or write) it."""
    from malnu_tui.engine.errors import ConfigError

    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        who = " and ".join(
            w for w, bits in (("its group", 0o070), ("others", 0o007)) if mode & bits
        )
        can = " and ".join(v for v, bits in (("read", 0o044), ("change", 0o022)) if mode & bits)
        raise ConfigError(
            f"{path} holds {', '.join(held)}; its mode {mode:o} lets {who} {can or 'open'} it"
        )
    return f"{path} holds {', '.join(held)}; readable by its owner only (mode {mode:o})"


# `malnu-tui --help` lists no config keys (it said it did); the example file and the README do.
CONFIG_FIX = (
    "fix the file as the message says (malnu.example.toml and the README's Configuration "
    "section show every table and key)"
)


def config_failed(error: str, fix: str | None = None) -> DoctorResult:
    """The config could not be loaded: its check fails (exit 1 with the others' lines), and
    no target can be named from it."""
    return DoctorResult((DoctorCheck("", "config", False, mask_secrets(error), fix or CONFIG_FIX),))


def run_doctor(settings: Settings, targets: Sequence[Target]) -> DoctorResult:
    """The config check, then every target's checks."""
    from malnu_tui.engine.monitor.config import load_monitor_config

    top = _Checks("")
    where = str(settings.config_path) if settings.config_path else "no config file (defaults)"
    top.run(
        "config",
        lambda: (load_monitor_config(settings), f"{where}: valid")[1],
        CONFIG_FIX,
    )
    held = _secrets_held(settings)
    if held and settings.config_path is not None:
        path = settings.config_path
        top.run(
            "config permissions",
            lambda: _owner_only(path, held),
            f"chmod 600 {path}, or keep the secrets out of it (PGPASSWORD or ~/.pgpass, "
            "CLOUDFLARE_API_TOKEN)",
        )
    checks = list(top.out)
    for t in targets:
        checks.extend(named_fields(c, t.again, "detail", "fix") for c in doctor_target(t))
    return DoctorResult(tuple(checks))
