"""Reading and writing side by side: the main thread parses and checks chunk N+1 while a writer
thread sends chunk N to the database (SQLite and libpq release the GIL while they work).

The writer is used by one thread at a time only: begin() before the pipeline starts, write()
inside it, finish() after it has drained. At most ``depth`` chunks wait, so memory stays flat.
"""

from __future__ import annotations

import gc
import queue
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType

from malnu_tui.engine.data.rows import Rejection, RowBatch
from malnu_tui.engine.data.writers import TableWriter

_DONE = None


class WritePipeline:
    """Chunks go in with :meth:`send`; the database's refusals come back with :meth:`drain`."""

    def __init__(self, writer: TableWriter, depth: int = 2) -> None:
        self.writer = writer
        self._queue: queue.Queue[RowBatch | None] = queue.Queue(maxsize=depth)
        self._refused: list[Rejection] = []
        self._lock = threading.Lock()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="malnu-import-writer", daemon=True)

    def __enter__(self) -> WritePipeline:
        self._thread.start()
        return self

    def _run(self) -> None:
        while (batch := self._queue.get()) is not _DONE:
            if self._error is not None:
                continue  # drain without writing: the import is failing
            try:
                refused = self.writer.write(batch)
            except BaseException as exc:  # handed to the main thread, raised there
                self._error = exc
                continue
            if refused:
                with self._lock:
                    self._refused.extend(refused)

    def send(self, batch: RowBatch) -> None:
        self._raise()
        self._queue.put(batch)

    def drain(self) -> list[Rejection]:
        """The rows refused so far (each returned once)."""
        with self._lock:
            out, self._refused = self._refused, []
        return out

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:  # the writer thread may be waiting on the database
            self.writer.stop()
        self._queue.put(_DONE)
        self._thread.join()
        if exc_type is None:
            self._raise()


@contextmanager
def quick_handoffs(interval: float = 0.0005) -> Iterator[None]:
    """A shorter GIL switch interval while both threads work: the writer gives the GIL up
    while the database steps a statement and wants it back right after; with the default
    5 ms it would wait that long behind the busy reader at each statement."""
    was = sys.getswitchinterval()
    sys.setswitchinterval(min(was, interval))
    try:
        yield
    finally:
        sys.setswitchinterval(was)


@contextmanager
def no_cyclic_gc() -> Iterator[None]:
    """Millions of short-lived tuples, none in a cycle: the cyclic collector would only walk
    them over and over (about a sixth of an import's time). Reference counting still frees
    everything at once."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
