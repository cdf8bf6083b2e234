"""The migration lock's lease, shared by every backend whose lock is a row (SQLite, D1):
whether a holder is still alive, and when a lease runs out."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

from malnu_tui.engine.backends.base import LEASE_SECONDS, utc_now
from malnu_tui.engine.errors import LockHolder

__all__ = ["lease_until", "lock_is_stale", "pid_alive"]


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` of this host is running. A zombie (killed, not yet reaped by
    its parent, e.g. under a dropped SSH session) counts as gone: it holds nothing."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    except OverflowError:
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return True  # no procfs here: trust kill(0)
    state = stat.rsplit(b")", 1)[-1].split()[:1]
    return state not in ([b"Z"], [b"X"])


def lease_until(seconds: int = LEASE_SECONDS) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).strftime("%Y-%m-%d %H:%M:%S")


def lock_is_stale(holder: LockHolder, this_host: str) -> str | None:
    """Why ``holder``'s lock may be taken over, or None while it is live.

    On this host a lock is live exactly while its process is; from another host, while its
    lease runs (it is renewed after every migration).
    """
    if holder.host == this_host:
        return None if pid_alive(holder.pid) else f"pid {holder.pid} is not running"
    if holder.expires_at and holder.expires_at < utc_now():
        return f"lease expired at {holder.expires_at}"
    return None


def lock_liveness(holder: LockHolder, this_host: str) -> tuple[str, str]:
    """Whether ``holder`` is alive, in the operator's words: (``kind``, sentence) with kind
    ``"gone"`` (its process is not running here, or its lease expired), ``"running"`` (its
    process IS running on this host) or ``"elsewhere"`` (another host, lease still valid:
    whether it runs cannot be seen from here)."""
    stale = lock_is_stale(holder, this_host)
    if stale is not None:
        return "gone", f"{stale}: its lock can be released"
    if holder.host == this_host:
        return "running", f"pid {holder.pid} IS RUNNING on this host"
    until = f"; its lease runs until {holder.expires_at}" if holder.expires_at else ""
    return (
        "elsewhere",
        f"held from another host ({holder.host}): whether pid {holder.pid} still runs cannot "
        f"be seen from here{until}",
    )
