"""The tool's PostgreSQL session: opened with its settings within the connect timeout
(:func:`open_session`), kept alive (keepalives), ended with the client, reopened for an audit
row after the server ended it, a command a signal stopped half-way ended before the clean-up;
the role it acts as, and names as SQL writes them. What the server lets it do (read-only,
row level security, privileges) is :mod:`~.pg_refusals`."""

from __future__ import annotations

import contextlib
import os
import re
import select
import time
import weakref
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import pq

from malnu_tui.engine.backends.pg_connlimit import limit_way_out
from malnu_tui.engine.backends.pg_sql import answered_within, error_text
from malnu_tui.engine.errors import BackendError, ConfigError
from malnu_tui.engine.urls import URL_SETTING_HINT, mask_url_error

__all__ = [
    "CLIENT_CHECK_INTERVAL",
    "KEEPALIVES",
    "TCP_USER",
    "connect_options",
    "connection_limit_hint",
    "end_with_the_client",
    "open_session",
    "reopen",
    "role_name",
    "settle_after_interrupt",
    "sql_name",
    "tool_session",
]

# TCP keepalives on the tool's connections (libpq's names): a server that vanishes mid-command
# (a failover, a NAT or firewall dropping an idle flow, a cable) is found within ~1 minute of
# silence, where the OS's own keepalive waits 2 hours before its first probe. A server busy
# with a long statement still answers probes (its kernel does), so nothing long is cut short.
# tcp_user_timeout bounds data sent and never acknowledged the same way.
KEEPALIVES = {
    "keepalives": "1",
    "keepalives_idle": "30",  # seconds of silence before the first probe
    "keepalives_interval": "10",  # between probes
    "keepalives_count": "3",  # unanswered probes that end the connection
    "tcp_user_timeout": "60000",  # ms
}
TCP_USER = "tcp_user_timeout"  # (libpq 12 and later: not for an older pg_dump)


def connect_options(url: str, connect_timeout: int = 10) -> dict[str, Any]:
    """libpq options for the tool's connections that the URL does not set itself:
    ``connect_timeout`` (unless ``PGCONNECT_TIMEOUT`` is set) and :data:`KEEPALIVES` (all
    left to the URL when it says ``keepalives=0``)."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        given = conninfo_to_dict(url)
    except psycopg.Error:
        given = {}  # a malformed URL: connecting says what is wrong with it
    out: dict[str, Any] = {}
    if "keepalives" not in given:
        out = {k: v for k, v in KEEPALIVES.items() if k not in given}
    if "connect_timeout" not in given and not os.environ.get("PGCONNECT_TIMEOUT"):
        out["connect_timeout"] = connect_timeout
    return out


# How often the server looks, while a statement of the tool's runs, whether the tool is still
# there (PostgreSQL 14 and later): one killed outright (kill -9, the OOM killer, CI's job
# timeout) has its statement cancelled, its transaction rolled back and its locks freed within
# a second, where it ran on until it ended by itself (a pg_sleep, a 20-minute index build).
CLIENT_CHECK_INTERVAL = "500ms"


def end_with_the_client(conn: psycopg.Connection[Any]) -> None:
    """``client_connection_check_interval`` for this session, where the server has it (14+,
    on a platform that can see a closed socket: elsewhere it refuses a value, and the session
    goes on without it). Every connection of the tool's sets it, as it connects."""
    if conn.info.server_version < 140000:
        return
    try:
        conn.execute(
            "SELECT set_config('client_connection_check_interval', %s, false)",
            (CLIENT_CHECK_INTERVAL,),
        )
        if not conn.autocommit:
            conn.commit()  # a session setting: kept once its transaction commits
    except psycopg.Error:
        if not conn.autocommit:
            conn.rollback()


def tool_session(conn: psycopg.Connection[Any], statement_timeout: str, lock_timeout: str) -> None:
    """The tool's settings on every session of its own (the backend's, the parity check's):
    UTC everywhere, like the SQLite backend's timestamps; ``statement_timeout`` and
    ``lock_timeout`` per configuration, whatever the role's or database's are (Supabase's
    roles have a statement_timeout; a parity check with none of its own waited behind another
    session's lock for ever); no idle timeout (a DBA's idle_in_transaction_session_timeout
    ended an import whose transaction waited on a slow source, a role's idle_session_timeout
    the lock's session while the safety backup ran); :func:`end_with_the_client`."""
    row = conn.execute(
        "SELECT set_config('TimeZone', 'UTC', false), "
        "set_config('statement_timeout', %s, false), "
        "set_config('lock_timeout', %s, false), "
        "set_config('idle_in_transaction_session_timeout', '0', false), current_user",
        (statement_timeout, lock_timeout),
    ).fetchone()
    if row is not None:
        _ACTING[conn] = str(row[4])
    if conn.info.server_version >= 140000:
        conn.execute("SELECT set_config('idle_session_timeout', '0', false)")
    if not conn.autocommit:
        conn.commit()  # session settings: kept once their transaction commits
    end_with_the_client(conn)


# How a connection attempt was refused: by a server on its way down or back (a restart,
# a failover), or by no server at all (stopped: nothing listens, the socket file is gone).
_ON_ITS_WAY = ("starting up", "shutting down", "not yet accepting", "in recovery mode")
_NOT_THERE = ("connection refused", "no such file or directory")
DOWN_AFTER = 2  # refusals in a row, a second apart (pg_ctl restart's gap between its servers)


def reopen(
    url: str,
    kwargs: dict[str, Any],
    statement_timeout: str,
    lock_timeout: str,
    within: float = 15.0,
    where: str = "",
) -> tuple[psycopg.Connection[tuple[Any, ...]] | None, str]:
    """A new session of the tool's (:func:`tool_session`) in place of one the server ended (a
    restart, a failover, ``pg_terminate_backend``), for the rows that say what happened: a
    restore cut off by a restart left no audit row of its failure. A server on its way back
    (or down: it may restart) is given ``within`` seconds; one that refuses outright (stopped)
    twice a second apart is not waited for: the operator at 2 a.m. waited 15 s for the error.
    (The session, or None and why not.) Each attempt is a debug line."""
    from malnu_tui.engine.monitor import debuglog

    deadline = time.monotonic() + within
    attempt = refused = 0
    while True:
        attempt += 1
        try:
            conn = psycopg.connect(url, **kwargs)
        except psycopg.Error as exc:
            said = " ".join(str(exc).split())
            debuglog.note(f"reconnect target={where} attempt={attempt}: {said}")
            text = said.lower()
            gone = not any(w in text for w in _ON_ITS_WAY) and any(w in text for w in _NOT_THERE)
            refused = refused + 1 if gone else 0
            if refused >= DOWN_AFTER:
                return None, "the server refused the connection: it is not running"
            if time.monotonic() > deadline:
                return None, f"the server did not take a new session within {within:g} s"
            time.sleep(1.0 if gone else 0.5)
            continue
        try:
            tool_session(conn, statement_timeout, lock_timeout)
        except psycopg.Error as exc:
            conn.close()
            return None, f"a new session failed: {error_text(exc)}"
        _cancelled_on_stop(conn)
        return conn, ""


def connection_limit_hint(text: str) -> str | None:
    """The way out when the server refused a connection for the role's ``CONNECTION LIMIT``
    (or the database's) — a command needs several at once: its own, and for a safety backup
    the snapshot's and pg_dump's; None for any other refusal."""
    m = re.search(r'too many connections for (role|database) "([^"]+)"', text)
    if m is None:
        return None
    return limit_way_out(m[1], sql_name(m[2]))


def sql_name(name: str) -> str:
    """``name`` as SQL writes it: quoted unless it is a plain lower-case word."""
    if not name or re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        return name
    return '"' + name.replace('"', '""') + '"'


# The role each of the tool's sessions acts as (current_user, read by :func:`tool_session`):
# a URL's ``options=-c role=…`` or the login role's ``ALTER ROLE … SET role`` makes it another
# than the login role, and privileges and policies are the acting role's: a hint naming the
# login role (`ALTER ROLE login BYPASSRLS;`, a GRANT to it) changed nothing.
_ACTING: weakref.WeakKeyDictionary[psycopg.Connection[Any], str] = weakref.WeakKeyDictionary()


def role_name(conn: psycopg.Connection[Any] | None) -> str:
    """The role ``conn`` acts as (whose privileges and row level security policies apply:
    :data:`_ACTING`, else the role it logged in as), quoted where SQL needs it ("" when
    unknown)."""
    role = ""
    with contextlib.suppress(psycopg.Error):
        role = (_ACTING.get(conn) or conn.info.user) if conn is not None else ""
    return sql_name(role)


def settle_after_interrupt(conn: psycopg.Connection[Any], seconds: float = 5.0) -> None:
    """After Ctrl-C or SIGTERM stopped the tool in the middle of a command on ``conn`` (a
    chunk's COPY, say), end that command so that the clean-up can use the connection: the
    state row read for what stays, the audit row, the lock released. They all failed with
    "another command is already in progress", and the sync said neither what stayed nor
    released its lock. The command is cancelled and its results read (a COPY still taking
    data is ended as failed), then the transaction rolled back; a server that does not
    answer within ``seconds`` gets the connection closed (its session and locks end)."""
    from psycopg import pq

    pgconn = conn.pgconn
    if pgconn.transaction_status != pq.TransactionStatus.ACTIVE:
        return
    with contextlib.suppress(Exception):
        conn.cancel_safe(timeout=seconds)
    deadline = time.monotonic() + seconds
    try:
        while pgconn.transaction_status == pq.TransactionStatus.ACTIVE:
            if time.monotonic() > deadline:
                raise TimeoutError
            pgconn.consume_input()
            if pgconn.is_busy():
                select.select([pgconn.socket], [], [], 0.1)
                continue
            res = pgconn.get_result()
            if res is None:
                continue
            if res.status == pq.ExecStatus.COPY_IN:
                pgconn.put_copy_end(b"stopped by the operator")
                pgconn.flush()
            elif res.status == pq.ExecStatus.COPY_OUT:
                while pgconn.get_copy_data(0)[0] > 0:
                    pass
    except Exception:
        with contextlib.suppress(Exception):
            conn.close()
        return
    with contextlib.suppress(Exception):
        conn.rollback()


# libpq's own refusals of a parameter's value, before any server is asked
_BAD_SETTING = re.compile(r"^connection is bad: invalid (?:\w+ value|integer value)")


def bad_connection_string(exc: psycopg.Error) -> bool:
    """Whether psycopg/libpq refused the URL itself (a parameter libpq does not know, a value
    it does not take, a string it cannot parse) without asking any server: a configuration
    error (exit 2), which no retry mends; the rest (refused, timed out, a password) exit 1."""
    return isinstance(exc, psycopg.ProgrammingError) or bool(_BAD_SETTING.match(str(exc)))


def _cancelled_on_stop(conn: psycopg.Connection[tuple[Any, ...]]) -> None:
    """The console's stop (SIGHUP, SIGTERM) cancels the statement ``conn`` runs, as the
    CLI's does: its worker thread waits in psycopg's C loop, where no Python line runs. Only
    one running as the stop comes: the clean-up's statements that follow are left be."""
    from malnu_tui.engine.interrupts import on_stop

    def in_flight() -> Callable[[], object] | None:
        if conn.closed or conn.pgconn.transaction_status != pq.TransactionStatus.ACTIVE:
            return None
        return lambda: conn.cancel_safe(timeout=5.0)

    on_stop(in_flight)


def open_session(
    url: str, kwargs: dict[str, Any], where: str, statement_timeout: str, lock_timeout: str
) -> psycopg.Connection[tuple[Any, ...]]:
    """A connection to ``url`` (psycopg's ``kwargs``) with the tool's session settings
    (:func:`tool_session`), set within the URL's connect_timeout: a server that lets the
    client in and then does not answer is said as one that cannot be reached. ``where``
    names it (masked). BackendError when it cannot connect; ConfigError for a setting the
    server refuses."""
    try:
        conn: psycopg.Connection[tuple[Any, ...]] = psycopg.connect(url, **kwargs)
    except psycopg.Error as exc:
        why = mask_url_error(str(exc), url)
        hint = connection_limit_hint(why)  # a role's CONNECTION LIMIT (Supabase's roles)
        text = f"cannot connect to {where}: {why}".strip()
        if bad_connection_string(exc):
            raise ConfigError(text, hint=URL_SETTING_HINT) from None
        raise BackendError(text, hint=hint) from None
    within = float(conn.info.get_parameters().get("connect_timeout") or 0)
    try:
        with answered_within(conn, within) as timed_out:
            tool_session(conn, statement_timeout, lock_timeout)
    except psycopg.Error as exc:
        conn.close()
        if timed_out[0]:  # what a connect_timeout would say, had it applied in here
            raise BackendError(
                f"cannot connect to {where}: it let this client in, then did "
                f"not answer within {within:g} s (a stuck server, or a pooler with no "
                "server connection free)"
            ) from None
        raise ConfigError(f"{where}: {error_text(exc)}") from None
    if timed_out[0]:  # answered, but the socket was cut at that very moment
        conn.close()
        raise BackendError(f"cannot connect to {where}: no answer in time")
    _cancelled_on_stop(conn)
    return conn
