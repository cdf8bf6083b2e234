"""Ctrl-C, SIGTERM and SIGHUP held back while a request that cannot be taken back is in flight.

A D1 Time Travel restore or import, once sent, runs on D1 whoever stops listening; it replaces
the tool's own tables too, which the tool then puts back (the audit trail written since the
restore point, the lock row). Ended half way by a signal, the command said "terminated" while
D1 went on and rewound the audit trail, with nothing left to put it back. Within
:func:`interrupts_held` the signals are only noted until the request has been answered and its
aftermath settled; then they are reported, not raised: the work they came too late to stop is
done. (Handlers, not a signal mask: a mask is per thread, and a signal sent to the process is
delivered to any thread not blocking it, such as the lock's lease renewer.)
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import FrameType

__all__ = ["HeldInterrupts", "interrupts_held"]

# SIGHUP too: an SSH session dropped while D1 restores is the likeliest of the three.
_INTERRUPTS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@dataclass
class HeldInterrupts:
    """The interrupts that came while held (``came``: any)."""

    signals: list[int] = field(default_factory=list)

    @property
    def came(self) -> bool:
        return bool(self.signals)


@contextlib.contextmanager
def interrupts_held() -> Iterator[HeldInterrupts]:
    """Note SIGINT, SIGTERM and SIGHUP during the block instead of acting on them (main thread
    only: elsewhere Python runs no handler anyway). A block that ends normally has them
    reported in ``came``; a block that raises gets the first one re-raised once the usual
    handlers are back, so it ends the command as usual."""
    held = HeldInterrupts()
    if threading.current_thread() is not threading.main_thread():
        yield held
        return

    def note(signum: int, _frame: FrameType | None) -> None:
        held.signals.append(signum)

    before = {s: signal.signal(s, note) for s in _INTERRUPTS}
    ok = False
    try:
        yield held
        ok = True
    finally:
        for s, handler in before.items():
            signal.signal(s, signal.SIG_DFL if handler is None else handler)
        if not ok and held.signals:
            signal.raise_signal(held.signals[0])
