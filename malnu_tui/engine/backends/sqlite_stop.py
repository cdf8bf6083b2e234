"""A SQLite connection whose running statement the console's stop ends.

The console's stop (SIGHUP, SIGTERM: :func:`~malnu_tui.engine.interrupts.stop_workers`) is
raised in its worker at the next Python line; a worker inside ``sqlite3``'s C code, running a
migration's big UPDATE, runs no Python line until the statement is done: the stop (the
rollback, the run recorded as interrupted, the lock released) waited minutes for it. The
statement is now interrupted (``Connection.interrupt``, from the stopping thread) — only one
that was running as the stop came, never one of the clean-up's that follow.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["StoppableConnection", "running"]


class StoppableConnection(sqlite3.Connection):
    """``sqlite3.Connection`` that knows whether a statement of it runs (``execute``,
    ``executemany``, ``executescript``, and a drain in :func:`running`); within a worker of
    the console it is interrupted by the worker's stop."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.statements = 0  # statements started on it so far
        self.busy = 0  # statements running now (one thread uses a connection at a time)
        from malnu_tui.engine.interrupts import on_stop

        on_stop(self._in_flight, at_once=True)

    def execute(self, *args: Any) -> sqlite3.Cursor:  # type: ignore[override]
        self.statements += 1
        self.busy += 1
        try:
            return super().execute(*args)
        finally:
            self.busy -= 1

    def executemany(self, *args: Any) -> sqlite3.Cursor:  # type: ignore[override]
        self.statements += 1
        self.busy += 1
        try:
            return super().executemany(*args)
        finally:
            self.busy -= 1

    def executescript(self, *args: Any) -> sqlite3.Cursor:  # type: ignore[override]
        self.statements += 1
        self.busy += 1
        try:
            return super().executescript(*args)
        finally:
            self.busy -= 1

    def _in_flight(self) -> Callable[[], None] | None:
        """(As the stop comes.) The interrupt of the statement running now, if one is: sent
        only if no other one was started meanwhile (the clean-up's, which the stop began)."""
        if not self.busy:
            return None
        started = self.statements

        def interrupt() -> None:
            # (check and call with no Python call between: the worker cannot start another)
            if self.busy and self.statements == started:
                self.interrupt()

        return interrupt


@contextlib.contextmanager
def running(conn: sqlite3.Connection) -> Iterator[None]:
    """A statement of ``conn`` runs within the block (its rows read: a migration's SELECT
    whose rows are all read, as the sqlite3 shell reads them)."""
    if not isinstance(conn, StoppableConnection):
        yield
        return
    conn.statements += 1
    conn.busy += 1
    try:
        yield
    finally:
        conn.busy -= 1
