"""Progress of a long step: a bar, a line saying what is happening, and a live log."""

from __future__ import annotations

import time

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.timer import Timer
from textual.widgets import Log, ProgressBar

from malnu_tui.engine.migrate import Progress
from malnu_tui.tui.widgets.plain import Static


class OperationProgress(Vertical):
    """A progress bar with a caption and a log of every event."""

    DEFAULT_CLASSES = "operation-progress"

    def __init__(self, *, log: bool = True, id: str | None = None) -> None:
        super().__init__(id=id, classes="" if log else "no-log")
        self._with_log = log
        self._started: float | None = None
        self._ticker: Timer | None = None
        self._statement = ""
        self._statement = ""

    def compose(self) -> ComposeResult:
        yield Static("waiting…", classes="caption")
        # Long work must look alive: the time it has been running, every second.
        elapsed = Static("", classes="elapsed dim")
        elapsed.display = False
        yield elapsed
        yield ProgressBar(total=None, show_eta=False)
        if self._with_log:
            yield Log(highlight=False, max_lines=2000)

    def reset(self, caption: str, total: float | None = None) -> None:
        self.caption(caption)
        self._started = time.monotonic()
        if self._ticker is None:
            self._ticker = self.set_interval(1.0, self._tick)
        else:
            self._ticker.resume()
        self._tick()
        bar = self.query_one(ProgressBar)
        bar.display = True
        bar.update(total=total, progress=0)
        if self._with_log:
            self.query_one(Log).clear()

    def _tick(self) -> None:
        if self._started is None:
            return
        seconds = int(time.monotonic() - self._started)
        line = self.query_one(".elapsed", Static)
        line.display = True
        line.update(
            f"running for {seconds // 60}:{seconds % 60:02d}"
            + (f" — {self._statement}" if self._statement else " — still working")
        )

    def show_statement(self, filename: str, index: int, total: int) -> None:
        """The statement the running migration is on ("statement 3 of 7 of FILE")."""
        if index == 0:
            self._statement = f"{total} statements of {filename} sent as one batch"
        else:
            self._statement = f"statement {index} of {total} of {filename}"
        self._tick()

    def _stop_clock(self) -> None:
        self._started = None
        self._statement = ""
        if self._ticker is not None:
            self._ticker.pause()
        self.query_one(".elapsed", Static).display = False

    def caption(self, text: str) -> None:
        """What is happening; a caption that states an outcome (✔ / ✘) stops the clock."""
        if text.startswith(("✔", "✘")):
            self._stop_clock()
        self.query_one(".caption", Static).update(text)

    def advance_to(self, done: float, total: float | None) -> None:
        self.query_one(ProgressBar).update(total=total, progress=done)

    def log_line(self, line: str) -> None:
        if self._with_log:
            self.query_one(Log).write_line(line)

    def show_event(self, p: Progress, verb: str) -> None:
        """Caption, bar and log for one apply/rollback progress event."""
        if p.event == "backup":
            self.caption(p.message)
            self.log_line(f"… {p.message}")
        elif p.event == "start":
            self.caption(f"[{p.index}/{p.total}] {verb} {p.filename} …")
            # The bar counts durable migrations only ("done"); with group commit several
            # start before the first of them is done.
            self.query_one(ProgressBar).update(total=p.total)
            self.log_line(f"[{p.index}/{p.total}] {p.filename} …")
        elif p.event == "done":
            self.advance_to(p.index, p.total)
            self.log_line(f"[{p.index}/{p.total}] ✔ {p.filename} ok ({p.elapsed_ms} ms)")
        elif p.event == "failed":
            self._stop_clock()
            self.caption(f"✘ {p.filename} FAILED")
            self.log_line(f"[{p.index}/{p.total}] ✘ {p.filename} FAILED: {p.message}")
        else:
            self.log_line(f"{p.event} {p.filename} {p.message}".strip())

    def show_backup(self, done: float, total: float | None, message: str) -> None:
        """A backup/verify/restore progress event (total None: amount unknown); one without
        a message only moves the bar."""
        if message:
            self.caption(message)
            self.log_line(message)
        if total is not None:
            self.advance_to(done, total)

    @property
    def running(self) -> bool:
        """Its clock runs: reset and neither finished nor failed yet."""
        return self._started is not None

    def fail(self, caption: str) -> None:
        """The work stopped on an error: the clock stops and a bar that only pulsed (amount
        unknown) goes, so nothing on screen goes on looking alive."""
        self._stop_clock()
        bar = self.query_one(ProgressBar)
        if bar.total is None:
            bar.display = False
        self.caption(caption)

    def finish(self, caption: str) -> None:
        self._stop_clock()
        bar = self.query_one(ProgressBar)
        if bar.total is None:
            bar.update(total=1, progress=1)
        else:
            bar.update(progress=bar.total)
        self.caption(caption)
