"""The migration lock on PostgreSQL: a session-level advisory lock whose key is derived from
the tool schema's name, plus a courtesy info row naming the holder (user, host, pid, what it
is doing). The server frees the lock when the holding session ends; a session whose client
process is gone from this host (a dropped SSH session) is ended and its lock taken over."""

from __future__ import annotations

import contextlib
import hashlib
import re
import time
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql

from malnu_tui.engine.backends.base import LOCK_TABLE, AuditEntry, lock_host
from malnu_tui.engine.backends.lease import lock_is_stale
from malnu_tui.engine.backends.pg_record import insert_audit
from malnu_tui.engine.backends.pg_refusals import refuse_read_only
from malnu_tui.engine.backends.pg_session import settle_after_interrupt
from malnu_tui.engine.errors import BackendError, LockHeld, LockHolder

if TYPE_CHECKING:
    from malnu_tui.engine.backends.postgresql import PostgresBackend

__all__ = ["LOCK_GRACE_SECONDS", "AdvisoryLock", "lock_key"]

POOLED_SESSION = (
    "this connection shares that operator's PostgreSQL session: a pooler in transaction mode "
    "(pgbouncer pool_mode = transaction; Neon's -pooler host, a DigitalOcean pool) hands one "
    "server session to several clients, and no lock holds there; connect directly, or "
    "through a pooler in session mode"
)
LOCK_GRACE_SECONDS = 2.0  # a killed holder's session needs a moment to be reaped by the server
_APP_NAME = re.compile(r"^malnu-tui (?P<owner>\S+?)@(?P<host>\S+) pid (?P<pid>\d+)$")
_FMT_TS = "YYYY-MM-DD HH24:MI:SS"


def lock_key(schema: str) -> int:
    """The advisory lock key for a tool schema: a fixed signed 64-bit hash of its name."""
    digest = hashlib.sha256(f"malnu-tui migration lock:{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class AdvisoryLock:
    """The migration lock of one :class:`PostgresBackend` connection."""

    def __init__(self, backend: PostgresBackend) -> None:
        self.b = backend
        self.key = lock_key(backend.schema)
        self.held = False

    def _table(self) -> sql.Composed:
        return sql.SQL("{}.{}").format(sql.Identifier(self.b.schema), sql.Identifier(LOCK_TABLE))

    def holder_backend_pid(self) -> int | None:
        hi, lo = (self.key >> 32) & 0xFFFFFFFF, self.key & 0xFFFFFFFF
        rows = self.b._query(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND classid::bigint = %s AND objid::bigint = %s AND objsubid = 1",
            (hi, lo),
        )
        return int(rows[0][0]) if rows else None

    def read(self) -> LockHolder | None:
        """Who holds the migration lock now (None when nobody does)."""
        backend_pid = self.holder_backend_pid()
        if backend_pid is None:
            return None
        with contextlib.suppress(BackendError):
            purpose = sql.SQL("purpose" if self.b.lock_has_purpose else "''")
            rows = self.b._query(
                sql.SQL(
                    "SELECT owner, host, pid, acquired_at, {} FROM {} "
                    "WHERE id = 1 AND backend_pid = %s"
                ).format(purpose, self._table()),
                (backend_pid,),
            )
            if rows:
                r = rows[0]
                where = f"PostgreSQL backend pid {backend_pid}"
                return LockHolder(
                    owner=r[0],
                    host=r[1],
                    pid=int(r[2]),
                    acquired_at=r[3],
                    note=f"{r[4]}; {where}" if r[4] else where,
                )
        # No info row (another tool, or a crash between lock and row): ask the server.
        rows = self.b._query(
            "SELECT coalesce(application_name, ''), coalesce(usename::text, '?'), "
            "coalesce(host(client_addr), 'local socket'), "
            "to_char(coalesce(xact_start, backend_start) AT TIME ZONE 'UTC', %s) "
            "FROM pg_stat_activity WHERE pid = %s",
            (_FMT_TS, backend_pid),
        )
        if not rows:
            return LockHolder("?", "?", backend_pid, "?", note="session vanished")
        app, user, client, since = rows[0]
        m = _APP_NAME.match(app)
        if m:
            return LockHolder(
                m["owner"],
                m["host"],
                int(m["pid"]),
                since or "?",
                note=f"PostgreSQL backend pid {backend_pid}",
            )
        return LockHolder(
            user,
            client,
            backend_pid,
            since or "?",
            note=f"application_name {app!r}, PostgreSQL backend pid {backend_pid}",
        )

    def _try(self) -> bool:
        """pg_try_advisory_lock, refused when this session held the lock already: the lock is
        re-entrant within a session, and this process holds none, so the session is another
        client's, handed over by a pooler in transaction mode. One statement (one session):
        the count before, the try, and the undo of a re-entrant take."""
        hi, lo = (self.key >> 32) & 0xFFFFFFFF, self.key & 0xFFFFFFFF
        before, got = self.b._query(
            "WITH b AS MATERIALIZED (SELECT count(*) AS n FROM pg_locks WHERE locktype = "
            "'advisory' AND granted AND pid = pg_backend_pid() AND classid::bigint = %s "
            "AND objid::bigint = %s AND objsubid = 1), "
            "t AS MATERIALIZED (SELECT pg_try_advisory_lock(%s) AS got FROM b) "
            "SELECT b.n, CASE WHEN b.n > 0 THEN NOT pg_advisory_unlock(%s) ELSE t.got END "
            "FROM b, t",
            (hi, lo, self.key, self.key),
        )[0]
        if before:
            raise LockHeld(self.read(), POOLED_SESSION)
        return bool(got)

    def acquire(self, holder: LockHolder) -> None:
        """Take the lock or raise :class:`LockHeld` naming who has it. A holder whose process
        is gone from this host has its session ended first (audited as a takeover)."""
        if self.held:
            return
        refuse_read_only(self.b.conn, self.b.display_url)  # every write takes this lock first
        deadline = time.monotonic() + LOCK_GRACE_SECONDS
        took_over = False
        while not self._try():
            current = self.read()
            stale = lock_is_stale(current, lock_host()) if current else None
            if current is not None and stale is not None and not took_over:
                self._end_holder_session()
                self.b.append_audit(
                    AuditEntry.now(
                        "unlock",
                        "migration lock",
                        "ok",
                        f"took over a stale lock of {current.describe()}: {stale}",
                    )
                )
                took_over = True
                continue
            if time.monotonic() >= deadline:
                raise LockHeld(current)
            time.sleep(0.1)
        self.held = True
        purpose = holder.note
        # The info row is a courtesy; pg_stat_activity still names the holder without it.
        columns = "owner, host, pid, acquired_at, backend_pid"
        values = "%s, %s, %s, %s, pg_backend_pid()"
        params: tuple[Any, ...] = (holder.owner, holder.host, holder.pid, holder.acquired_at)
        if self.b.lock_has_purpose:
            columns += ", purpose"
            values += ", %s"
            params += (purpose,)
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns.split(", "))
        with contextlib.suppress(psycopg.Error), self.b._txn() as c:
            c.execute(
                sql.SQL(
                    f"INSERT INTO {{}} (id, {columns}) VALUES (1, {values}) "
                    f"ON CONFLICT (id) DO UPDATE SET {updates}"
                ).format(self._table()),
                params,
            )

    def release(self) -> None:
        """Release the lock (and its info row) if this session holds it."""
        if not self.held:
            return
        settle_after_interrupt(self.b.conn)  # a command an interrupt left in progress ended
        with contextlib.suppress(psycopg.Error):
            self.b.conn.execute(
                sql.SQL("DELETE FROM {} WHERE id = 1 AND backend_pid = pg_backend_pid()").format(
                    self._table()
                )
            )
        self.held = False
        if self.b.conn.closed:
            # The session ended (a server stop or restart, a terminated backend): its advisory
            # lock ended with it. Saying "the connection is closed" here hid why the command
            # stopped (the error that closed it, raised through this release's `finally`).
            return
        self.b._query("SELECT pg_advisory_unlock(%s)", (self.key,))

    def _end_holder_session(self) -> None:
        backend_pid = self.holder_backend_pid()
        if backend_pid is None:
            return
        if backend_pid == self.b.conn.info.backend_pid:
            self.release()
            return
        try:
            rows = self.b._query("SELECT pg_terminate_backend(%s, 5000)", (backend_pid,))
        except BackendError as exc:
            raise BackendError(
                f"cannot end the session holding the lock (backend pid {backend_pid}): {exc}",
                hint="connect as its role or a superuser, or run on the server: "
                f"SELECT pg_terminate_backend({backend_pid});",
            ) from None
        if not rows[0][0]:
            raise BackendError(
                f"the session holding the lock (backend pid {backend_pid}) did not end",
                hint="a superuser can run SELECT pg_terminate_backend"
                f"({backend_pid}); on the server",
            )

    def force_release(self, audit: AuditEntry) -> LockHolder | None:
        """End the session holding the lock and clear the info row; audited."""
        holder = self.read()
        refuse_read_only(self.b.conn, self.b.display_url)
        self._end_holder_session()
        try:
            with self.b._txn() as c:
                c.execute(sql.SQL("DELETE FROM {} WHERE id = 1").format(self._table()))
                insert_audit(c, self.b.schema, audit)
        except psycopg.Error as exc:
            raise BackendError(f"{self.b.display_url}: {exc}") from None
        return holder
