"""Progress lines written in batches: one write per ~0.1 s instead of one per line.

An ``up`` of a thousand small migrations prints two lines per migration; written one by one
into a pipe, that is thousands of system calls and wake-ups of the reader. Lines are kept and
written together at most ``interval`` seconds after the first of them, by the caller's next
line or, while a long migration runs (SQLite lets other threads run meanwhile), by a daemon
thread: the line naming the migration that is running is never held back longer than that.
"""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import TextIO

__all__ = ["PacedLines"]


class PacedLines:
    """Use as a context manager; every line is written by the time the block ends."""

    def __init__(self, stream: TextIO, interval: float = 0.1) -> None:
        self.stream = stream
        self.interval = interval
        self._pending: list[str] = []
        self._since = 0.0  # when the oldest pending line came
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def line(self, text: str) -> None:
        with self._lock:
            now = time.monotonic()
            first = not self._pending
            if first:
                self._since = now
            self._pending.append(text + "\n")
            if now - self._since >= self.interval:
                self._write()
                return
        if first:  # the thread writes this batch if no later line does it first
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="progress", daemon=True)
                self._thread.start()
            self._wake.set()

    def flush(self) -> None:
        with self._lock:
            self._write()

    def _write(self) -> None:  # under the lock
        if self._pending:
            text = "".join(self._pending)
            self._pending.clear()
            try:
                self.stream.write(text)
                self.stream.flush()
            except (OSError, ValueError):  # a closed stderr: progress is not worth failing for
                pass

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            while not self._stop.is_set():
                with self._lock:
                    if not self._pending:
                        break
                    due = self._since + self.interval - time.monotonic()
                    if due <= 0:
                        self._write()
                        break
                self._stop.wait(due)
            if self._stop.is_set():
                return

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
        self.flush()

    def __enter__(self) -> PacedLines:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
