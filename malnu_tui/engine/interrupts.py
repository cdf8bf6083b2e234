"""Ctrl-C, SIGTERM and SIGHUP held back while a request that cannot be taken back is in flight.

A D1 Time Travel restore or import, once sent, runs on D1 whoever stops listening; it replaces
the tool's own tables too, which the tool then puts back (the audit trail written since the
restore point, the lock row). Ended half way by a signal, the command said "terminated" while
D1 went on and rewound the audit trail, with nothing left to put it back. Within
:func:`interrupts_held` the two signals wait (the OS keeps them pending) until the request has
been answered and its aftermath settled; then they are taken and reported, not raised: the
work they came too late to stop is done.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["HeldInterrupts", "interrupts_held"]

# SIGHUP too: an SSH session dropped while D1 restores is the likeliest of the three.
_INTERRUPTS = frozenset({signal.SIGINT, signal.SIGTERM, signal.SIGHUP})


@dataclass
class HeldInterrupts:
    """Whether an interrupt came while held (set when the block ends)."""

    came: bool = False


@contextlib.contextmanager
def interrupts_held() -> Iterator[HeldInterrupts]:
    """Hold SIGINT, SIGTERM and SIGHUP for the block (main thread only: elsewhere Python delivers no
    signal anyway). A block that ends normally takes the held signals (``came`` says whether
    one came); a block that raises leaves them pending, so they end the command as usual."""
    held = HeldInterrupts()
    if threading.current_thread() is not threading.main_thread():
        yield held
        return
    before = signal.pthread_sigmask(signal.SIG_BLOCK, _INTERRUPTS)
    ok = False
    try:
        yield held
        ok = True
    finally:
        if ok:
            pending = signal.sigpending() & _INTERRUPTS
            for signum in pending:
                with contextlib.suppress(OSError):
                    signal.sigtimedwait([signum], 0)
            held.came = bool(pending)
        signal.pthread_sigmask(signal.SIG_SETMASK, before)
