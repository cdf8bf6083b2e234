"""Who is watching a run: the statement a migration is on, for a console that must look alive
during long work ("statement 3 of 7"). A context variable, so only the thread (worker) that
asked is told, and a run with no watcher pays one lookup per statement."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar

StatementObserver = Callable[[str, int, int], None]  # (file name, statement n, of m)

_OBSERVER: ContextVar[StatementObserver | None] = ContextVar(
    "malnu_statement_observer", default=None
)


def statement_started(filename: str, index: int, total: int) -> None:
    """Called by the backends before each statement of a migration (1-based ``index``; 0
    when all ``total`` statements go at once, as D1's one batch per migration)."""
    observer = _OBSERVER.get()
    if observer is not None:
        observer(filename, index, total)


def current_observer() -> StatementObserver | None:
    """The watcher of this thread's run, if any (asked once per migration by a backend that
    then calls it per statement itself)."""
    return _OBSERVER.get()


@contextlib.contextmanager
def observing(observer: StatementObserver) -> Iterator[None]:
    """Within the block (in this thread), ``observer`` hears of every statement started."""
    token = _OBSERVER.set(observer)
    try:
        yield
    finally:
        _OBSERVER.reset(token)


WaitObserver = Callable[[str], None]  # what is awaited, and for how long, in words

_WAITS: ContextVar[WaitObserver | None] = ContextVar("malnu_wait_observer", default=None)


def waiting(text: str) -> None:
    """Called before a wait that an operator would otherwise take for a hang (a D1 retry's
    backoff, a server's Retry-After): ``text`` says what is awaited and for how long."""
    observer = _WAITS.get()
    if observer is not None:
        observer(text)


@contextlib.contextmanager
def observing_waits(observer: WaitObserver) -> Iterator[None]:
    """Within the block (in this thread), ``observer`` hears of every long wait."""
    token = _WAITS.set(observer)
    try:
        yield
    finally:
        _WAITS.reset(token)
