"""PostgreSQL client tools for backups and restores: finding ``pg_dump`` / ``pg_restore`` /
``psql`` of the right version, the child's connection (password in ``PGPASSWORD``, never on a
command line), reading a dump's table of contents, and scrubbing what a child printed."""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit, urlunsplit

from malnu_tui.engine.backends.base import AUDIT_INDEX, AUDIT_OBJECT_INDEX, AUDIT_OUTCOME_INDEX
from malnu_tui.engine.backup.pg_tooltext import DumpTables, server_error, terse, tool_text_masked
from malnu_tui.engine.backup.store import BackupError

if TYPE_CHECKING:
    from malnu_tui.engine.backends.postgresql import PostgresBackend
    from malnu_tui.engine.config import Target

__all__ = ["ChildConnection", "PgTools", "PgToolsMissing", "child_connection", "find_pg_tools"]

SUFFIX = ".dump"
# What psql and pg_dump say when the server goes away under them (a stop, a restart, a
# terminated session).
CONNECTION_LOST = (
    "server closed the connection",
    "terminating connection",
    "connection to server was lost",
    "no connection to the server",
)
ENV_PG_BINDIR = "MALNU_PG_BINDIR"
TOOL_ENTRY_NAMES = frozenset(
    {
        "malnu_audit",
        "malnu_lock",
        "malnu_audit_id_seq",
        "malnu_audit_pkey",
        "malnu_lock_pkey",
        AUDIT_INDEX,
        AUDIT_OBJECT_INDEX,
        AUDIT_OUTCOME_INDEX,
    }
)
TOC_LINE = re.compile(r"^\d+;\s+\d+\s+\d+\s+(?P<rest>.*)$")
_VERSION = re.compile(r"\)\s*(\d+)(?:\.(\d+))?")


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


@dataclass(frozen=True)
class ChildConnection:
    """How a client tool (pg_dump, pg_restore, psql) connects: ``url`` for its command line,
    with no secret in it (``ps`` shows a command line to every user of the box); ``env`` with
    the password in ``PGPASSWORD``; ``password``, scrubbed from what the tool prints; and
    ``pass_fds``, the pipe an ``sslpassword`` reaches it through (libpq has no variable for
    it: a service file, read once from that pipe, never written to disk). One tool per
    connection (the pipe is read once); :meth:`close` once it has started."""

    url: str
    env: dict[str, str] = field(repr=False)  # out of reprs (a crash report's locals)
    password: str | None = field(repr=False)
    pass_fds: tuple[int, ...] = ()

    def close(self) -> None:
        for fd in self.pass_fds:
            with contextlib.suppress(OSError):
                os.close(fd)


_CHILD_SERVICE = "malnu_child"


def child_connection(url: str) -> ChildConnection:
    """The connection of one client tool to ``url`` (see :class:`ChildConnection`): the
    password and ``sslpassword`` never reach a command line."""
    from malnu_tui.engine.backends.pg_session import KEEPALIVES, TCP_USER
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
    # Read as libpq reads a query: split at & and =, then percent-decoded only (a + stays a
    # +, where a form decoder makes it a space); the other parameters are kept as written.
    query: list[str] = []
    service: dict[str, str] = {}
    pieces = parts.query.split("&") if parts.query else []
    own_service = "PGSERVICE" in os.environ or any(
        unquote(p.partition("=")[0]) == "service" for p in pieces
    )  # the operator's service file stays theirs
    for piece in pieces:
        key, _, value = piece.partition("=")
        name = unquote(key)
        if name == "password":
            password = unquote(value)
        elif name == "sslpassword" and not own_service and "\n" not in unquote(value):
            service[name] = unquote(value)
        else:
            query.append(piece)
    given = {unquote(p.partition("=")[0]) for p in pieces}
    if "keepalives" not in given:  # the tool's own keepalives (not tcp_user_timeout: libpq 12+)
        query += [f"{k}={v}" for k, v in KEEPALIVES.items() if k not in given | {TCP_USER}]
    env = english_messages(dict(os.environ))
    if password is not None:
        env["PGPASSWORD"] = password
    fds: tuple[int, ...] = ()
    if service:
        read, write = os.pipe()
        with open(write, "w", encoding="utf-8") as fh:
            fh.write(f"[{_CHILD_SERVICE}]\n" + "".join(f"{k}={v}\n" for k, v in service.items()))
        env["PGSERVICEFILE"] = f"/dev/fd/{read}"
        query.append(f"service={_CHILD_SERVICE}")
        fds = (read,)
    clean = urlunsplit((parts.scheme, netloc, parts.path, "&".join(query), parts.fragment))
    return ChildConnection(clean, env, password, fds)


# The locale categories LC_ALL sets (glibc's own extras left: no client tool reads them).
_CATEGORIES = ("LC_CTYPE", "LC_NUMERIC", "LC_TIME", "LC_COLLATE", "LC_MONETARY")


def english_messages(env: dict[str, str]) -> dict[str, str]:
    """``env`` with the client tools' own words in English (``LC_MESSAGES=C``; ``LANGUAGE``
    is not read then), its other locale settings kept (an ``LC_ALL`` as each category): the
    tool reads their words (``Query was:``, ``Command was:``, ``No space left on device``), and
    pg_dump, pg_restore and psql said them in the operator's language (``Die Anfrage war:``,
    ``Auf dem Gerät ist kein Speicherplatz mehr verfügbar``). The server's words are its own."""
    lc_all = env.pop("LC_ALL", "")
    for category in _CATEGORIES if lc_all else ():
        env[category] = lc_all
    env["LC_MESSAGES"] = "C"
    return env


_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
# Held while a child is forked: a preexec_fn makes Python run its at-fork hooks (logging's
# lock), and a SIGTERM whose handler raised inside one was "ignored", the command going on.
_HELD = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}


def spawn(argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
    """``subprocess.Popen(argv, **kwargs)`` of a client tool that the kernel ends (SIGKILL)
    when this process ends, also killed outright (SIGKILL, the OOM killer): a ``pg_dump`` left
    behind kept dumping for minutes, holding a share lock on every table (an ``ALTER TABLE``
    of the next ``up`` queued behind it) and writing into a temp file the store's sweep had
    already removed. Ctrl-C, SIGTERM and SIGHUP wait until the child is started (they are
    handled then, as anywhere else). Elsewhere than Linux, a plain Popen."""
    prctl = _prctl()
    if prctl is None:
        return subprocess.Popen(argv, **kwargs)
    parent = os.getpid()
    before = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)

    def preexec() -> None:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # ended before the call: the kernel will not say
            os._exit(1)

    try:
        return subprocess.Popen(argv, preexec_fn=preexec, **kwargs)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def _prctl() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong]
    return prctl


def exit_text(code: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        extra = " (file size limit: the disk or quota is full)" if name == "SIGXFSZ" else ""
        return f"killed by {name}{extra}"
    return f"exit {code}"


def scrub(text: str, password: str | None) -> str:
    text = text.strip()
    if password:
        text = text.replace(password, "***")
    return text[-2000:]


# psql's and pg_restore's echo of the failing statement (``LINE 3: …`` and its caret line;
# pg_restore's ``Command was:`` and the statement's lines after it): noise in a one-line error.
_ECHO = re.compile(r"^(?:LINE \d+: |Command was: )")
_OWN = re.compile(r"^(?:ERROR|FATAL|PANIC|WARNING|DETAIL|HINT|CONTEXT|pg_restore|psql|pg_dump)\b")


def server_said(text: str, tables: DumpTables | None = None) -> str:
    """What psql or pg_restore printed about a failure, as one clean line: its messages
    (ERROR, DETAIL, HINT, CONTEXT…) joined with ``; ``, runs of spaces collapsed, without the
    echoed statement (``LINE 1: CREATE TABLE public.a (`` and its ``^``, ``Command was: …``)
    and with the rows' values it quotes masked (:func:`.pg_tooltext.tool_text_masked`, by
    the shapes of the dump's ``tables`` where known). The whole text, masked, goes to the
    debug log (``MIGRATION_DEBUG=1``)."""
    from malnu_tui.engine.monitor import debuglog

    error = server_error(text)  # (psql's verbose text: the restore's)
    text = tool_text_masked(terse(text), tables, error.table if error else "")
    debuglog.note(f"client tool said: {text}")
    kept: list[str] = []
    echo = False
    for line in text.splitlines():
        if not line.strip():
            continue
        if _ECHO.match(line):
            echo = True
            continue
        if echo and (line.strip() == "^" or not _OWN.match(line)):
            continue  # the caret, or a statement's next line
        echo = False
        words = " ".join(line.split()).rstrip(" ;")  # `… TO stdout;` then `; ` made `;;`
        if line[:1].isspace() and kept:  # libpq's message goes on, indented, on the next line
            kept[-1] = f"{kept[-1].rstrip('.')} {words}"
        else:
            kept.append(words)
    return "; ".join(k.rstrip(".") if i < len(kept) - 1 else k for i, k in enumerate(kept))


SESSION_ENDED = "the server ended psql's session"
_WHY_ENDED = re.compile(r"terminating connection due to [\w -]+")


def session_ended(text: str, whose: str = "psql's") -> str:
    """What psql (or the tool's own session, ``whose``) met when the server went away under
    it (a restart, a failover, ``pg_terminate_backend``) as one line: ``the server ended
    psql's session (terminating connection due to administrator command)``, where libpq's
    own text was three lines run together ("…unexpectedly; This probably means…; before or
    while processing the request.; …")."""
    server_said(text)  # (the whole text to the debug log)
    why = _WHY_ENDED.search(text)
    return (
        f"the server ended {whose} session "
        f"({why[0].strip() if why else 'the connection was closed unexpectedly'})"
    )


def open_target(target: Target, url: str | None = None) -> PostgresBackend:
    """The target's database (or ``url``, another database of its server) with the target's
    options: its ``schema``, ``lock_timeout`` and ``statement_timeout`` from the config too,
    not only from the URL. Opened from the URL alone, a target whose config says ``schema =
    "malnu"`` got a second, empty set of tool tables in public (or a refusal where the role
    may not create there), and its backup's manifest listed no applied migration."""
    from dataclasses import replace

    from malnu_tui.engine.backends import postgresql

    return postgresql.open_target(target if url is None else replace(target, url=url))


def server_major(conn: Any) -> int:
    return int(conn.info.server_version) // 10000


def for_server(header: bytes, major: int) -> bytes:
    """The head of pg_restore's SQL as a server of ``major`` takes it. pg_restore 17 and
    later write ``SET transaction_timeout = 0;`` into every script (and send it to every
    server it restores into), a setting PostgreSQL 16 and older do not know: with the newest
    client installed (`apt-get install postgresql-client-17` beside a Supabase 15), every
    restore failed on `unrecognized configuration parameter "transaction_timeout"`."""
    if major < 17:
        header = header.replace(b"\nSET transaction_timeout = 0;\n", b"\n", 1)
    return header


READ_TIMEOUT = 600  # s: pg_restore reading a local dump (its list, its DDL) takes seconds


def read_dump(tools: PgTools, args: Sequence[str]) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``pg_restore args``, reading a dump to stdout. One that
    has not finished in :data:`READ_TIMEOUT` s (the file on a mount that stopped answering)
    is killed: code -1 and that said; it escaped as a ``TimeoutExpired`` traceback."""
    try:
        proc = subprocess.run(
            [tools.pg_restore, *args],
            env=english_messages(dict(os.environ)),
            capture_output=True,
            text=True,
            timeout=READ_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return -1, "", f"pg_restore had not finished after {READ_TIMEOUT} s and was stopped"
    return proc.returncode, proc.stdout, proc.stderr.strip()


def with_dbname(url: str, dbname: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + dbname, parts.query, parts.fragment))


# The scratch databases the tool makes on a target's server (`backup verify --deep`'s,
# `rehearse`'s: a whole copy of the database each) are named by engine/left_behind.py, so that
# one a run killed outright left is dropped by the next run from that host.


def scratch_database_name(kind: str) -> str:
    """``malnu_<kind>_<pid>_<host hash>_<random>``; ``kind`` "verify" or "rehearse"."""
    from malnu_tui.engine.left_behind import scratch_name

    assert kind in ("verify", "rehearse"), kind
    return scratch_name(kind)


def drop_left_behind(admin: PostgresBackend) -> list[str]:
    """Drop the scratch databases (any kind) that runs of this host left when they were killed
    outright: their process is gone. Another host's are left to it, and so is a name of
    another form. An earlier version's (no process or host in its name: after an upgrade
    nothing dropped it, ever) is dropped only while no session is on it (an older copy of
    the tool may still be running that verification): looked up, then a plain DROP DATABASE,
    which PostgreSQL refuses if one came in between. Returns the messages to show, one per
    database dropped."""
    from psycopg import sql

    from malnu_tui.engine.left_behind import (
        earlier_scratch,
        left_by_the_dead,
        said_dropped,
        said_dropped_earlier,
    )

    said: list[str] = []
    rows: list[tuple[str]] = []
    with contextlib.suppress(Exception):
        rows = admin.conn.execute(
            "SELECT datname FROM pg_database WHERE datname ~ '^malnu_(verify|rehearse)_'"
        ).fetchall()
    names = [r[0] for r in rows]
    for name, kind in left_by_the_dead(names):
        with contextlib.suppress(Exception):
            admin.conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
            said.append(said_dropped(name, kind))
    on = "SELECT 1 FROM pg_stat_activity WHERE datname = %s"
    for name, kind in earlier_scratch(names):
        with contextlib.suppress(Exception):
            if admin.conn.execute(on, (name,)).fetchone() is None:  # (DROP would wait 5 s)
                admin.conn.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(name)))
                said.append(said_dropped_earlier(name, kind))
    return said


def create_scratch_database(admin: PostgresBackend, name: str) -> None:
    """Create the scratch database ``name`` (a whole copy of the school's data once restored)
    that only the tool's role (its owner) and superusers may connect to: PostgreSQL gives a
    new database's CONNECT and TEMPORARY to PUBLIC, so any role of the server could open the
    copy while it existed. It is made closed to every connection, PUBLIC's privileges are
    revoked, then it opens: no moment when another role could get in. Raises as CREATE
    DATABASE does; on a later failure the database is dropped again."""
    from psycopg import sql

    ident = sql.Identifier(name)
    admin.conn.execute(sql.SQL("CREATE DATABASE {} WITH ALLOW_CONNECTIONS false").format(ident))
    try:
        admin.conn.execute(
            sql.SQL("REVOKE CONNECT, TEMPORARY ON DATABASE {} FROM PUBLIC").format(ident)
        )
        admin.conn.execute(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS true").format(ident))
    except BaseException:
        drop_scratch(admin, name)
        raise


def drop_scratch(admin: PostgresBackend, name: str) -> None:
    """Drop a scratch database on the way out (its sessions too); a failure is left to the
    next run's :func:`drop_left_behind`."""
    from psycopg import sql

    with contextlib.suppress(Exception):
        admin.conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
