"""The migration lock's lease, shared by every backend whose lock is a row (SQLite, D1):
whether a holder is still alive, and when a lease runs out."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable

from malnu_tui.engine.backends.base import utc_now
from malnu_tui.engine.errors import LockHolder

__all__ = ["LeaseKeeper", "lock_is_stale", "pid_alive"]

RENEW_EVERY_S = 60.0  # a tenth of the lease: many missed renewals before it can run out


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
    return pid_state(pid) not in ("Z", "X")  # no procfs here: trust kill(0)


def pid_state(pid: int) -> str | None:
    """Process ``pid``'s state letter in ``/proc`` (``R``, ``S``, ``D``, ``T`` stopped by
    Ctrl-Z or SIGSTOP, ``Z``…); None where there is no procfs or no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    state = stat.rsplit(b")", 1)[-1].split()[:1]
    return state[0].decode("ascii", "replace") if state else None


class LeaseKeeper:
    """Renews a held lock's lease from a thread of its own, every :data:`RENEW_EVERY_S`, until
    :meth:`stop`: a lease is proof that its holder runs, also through one step longer than
    the lease (a big import or sync, an export, a restore). ``renew`` touches this holder's
    own row only (none left: nothing happens). Whether the lock is still held is the holder's
    own check, before each change (a row briefly missing, as while a Time Travel restore
    puts it back, must not count as lost). A renewal that fails (the database unreachable
    for a while) is tried again next time."""

    def __init__(self, renew: Callable[[], object], close: Callable[[], None]) -> None:
        self._renew, self._close = renew, close
        self._every = RENEW_EVERY_S
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="malnu-lease", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stopped.wait(self._every):
                with contextlib.suppress(Exception):  # the next renewal tries again
                    self._renew()
        finally:
            with contextlib.suppress(Exception):
                self._close()

    def stop(self) -> None:
        """Stop renewing (the lock is being released). A renewal in flight is not waited
        for long: it can only touch this holder's own row."""
        self._stopped.set()
        self._thread.join(timeout=5)


def lock_is_stale(holder: LockHolder, this_host: str) -> str | None:
    """Why ``holder``'s lock may be taken over, or None while it is live.

    On this host a lock is live exactly while its process is; from another host, while its
    lease runs (renewed while its holder runs), judged by the database's clock when the row
    was read with it (``lease_left``), never by this machine's.
    """
    if holder.host == this_host:
        return None if pid_alive(holder.pid) else f"pid {holder.pid} is not running"
    if holder.lease_left is not None:
        expired = holder.lease_left < 0
    else:
        expired = bool(holder.expires_at) and str(holder.expires_at) < utc_now()
    return f"lease expired at {holder.expires_at} UTC" if expired else None


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
    until = f"; its lease runs until {holder.expires_at} UTC" if holder.expires_at else ""
    if quiet := holder.unrenewed():
        until = f"; {quiet}"
    return (
        "elsewhere",
        f"held from another host ({holder.host}): whether pid {holder.pid} still runs cannot "
        f"be seen from here{until}",
    )
