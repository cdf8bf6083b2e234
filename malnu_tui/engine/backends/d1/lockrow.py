"""D1's migration lock: a row of ``malnu_lock`` with a lease (D1 has no session to hold a
lock). The lease is written and judged by D1's clock, and renewed from a thread of its own
while it is held (:class:`~malnu_tui.engine.backends.lease.LeaseKeeper`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from malnu_tui.engine.backends import sqlite_sql as q
from malnu_tui.engine.backends.base import LEASE_SECONDS, AuditEntry
from malnu_tui.engine.backends.d1.client import D1QueryError
from malnu_tui.engine.backends.lease import RENEW_EVERY_S, LeaseKeeper, lock_is_stale
from malnu_tui.engine.backends.sqlite_sql import bind_literals
from malnu_tui.engine.errors import LockHeld, LockHolder

if TYPE_CHECKING:
    from malnu_tui.engine.backends.d1.backend import D1Backend
    from malnu_tui.engine.backends.d1.client import D1Api

__all__ = ["acquire", "guard_sql", "holder", "is_mine", "keep_lease", "renew_sql"]


def holder(r: dict[str, Any]) -> LockHolder:
    """The holder a row of :data:`~.sqlite_sql.SELECT_LOCK` names."""
    return LockHolder(
        owner=r["owner"],
        host=r["host"],
        pid=int(r["pid"]),
        acquired_at=r["acquired_at"],
        expires_at=r["expires_at"],
        note=str(r.get("purpose") or ""),
        lease_left=r.get("lease_left"),
        lease_seconds=LEASE_SECONDS,
        renewed_every=RENEW_EVERY_S,  # keep_lease's thread, while its holder runs
    )


def renew_sql(h: LockHolder) -> str:
    """The renewal of ``h``'s own row (0 rows changed: the lock is no longer ``h``'s)."""
    return bind_literals(q.RENEW_LOCK, (h.host, h.pid, h.acquired_at))


def guard_sql(h: LockHolder) -> str:
    """A batch's first statement: it fails, and D1 rolls the whole batch back, once the lock
    row is no longer ``h``'s (released by `unlock`, or taken over after a lapsed lease)."""
    return bind_literals(
        "SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM malnu_lock WHERE id = 1 AND host = ? "
        "AND pid = ? AND acquired_at = ?) THEN json('malnu lock guard: lock lost') END",
        (h.host, h.pid, h.acquired_at),
    )


def is_mine(now: LockHolder | None, h: LockHolder) -> bool:
    return now is not None and (now.host, now.pid, now.acquired_at) == (
        h.host,
        h.pid,
        h.acquired_at,
    )


def acquire(b: D1Backend, mine: LockHolder) -> None:
    """Insert the lock row; a plain INSERT fails on the primary key if anyone holds it,
    so two operators racing cannot both win. A stale row (dead process on this host, or
    an expired lease) is deleted in the same batch, exactly as read, and audited."""
    current = b.read_lock()
    stale = lock_is_stale(current, mine.host) if current else None
    if current is not None and stale is None:
        raise LockHeld(current)
    sqls: list[str] = []
    audit: AuditEntry | None = None
    if current is not None:
        # Exactly the row read, and, when its lease is why it is stale, only while D1's
        # clock still says it ran out: a holder that renewed meanwhile keeps its lock.
        expired = "" if current.host == mine.host else " AND expires_at < datetime('now')"
        sqls.append(
            bind_literals(
                "DELETE FROM malnu_lock WHERE id = 1 AND owner = ? AND host = ? AND pid = ? "
                f"AND acquired_at = ?{expired}",
                (current.owner, current.host, current.pid, current.acquired_at),
            )
        )
        audit = AuditEntry.now(
            "unlock",
            "migration lock",
            "ok",
            f"took over a stale lock of {current.describe()}: {stale}",
        )
    sqls.append(
        bind_literals(
            "INSERT INTO malnu_lock (id, owner, host, pid, acquired_at, expires_at, purpose) "
            f"VALUES (1, ?, ?, ?, ?, {q.LEASE_UNTIL}, ?)",
            (mine.owner, mine.host, mine.pid, mine.acquired_at, mine.note),
        )
    )

    def took_effect() -> bool:
        return is_mine(b.read_lock(), mine)

    if audit is not None:
        sqls.append(b._audit_sql(audit))
    try:
        b.api.batch(sqls, took_effect)
    except D1QueryError as exc:
        if "constraint" in str(exc).lower():
            raise LockHeld(b.read_lock(), "taken a moment ago") from None
        raise


def keep_lease(api: D1Api, mine: LockHolder) -> LeaseKeeper:
    """Renew ``mine``'s lease every minute from a thread with a D1 client of its own."""
    twin = api.twin()
    sql = renew_sql(mine)

    def renew() -> None:
        twin.batch([sql], lambda: False)  # idempotent: a re-send is harmless

    return LeaseKeeper(renew, twin.close)
