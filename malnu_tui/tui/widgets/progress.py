"""Progress of a long step: a bar, a line saying what is happening, and a live log."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Log, ProgressBar, Static

from malnu_tui.engine.migrate import Progress


class OperationProgress(Vertical):
    """A progress bar with a caption and a log of every event."""

    DEFAULT_CLASSES = "operation-progress"

    def __init__(self, *, log: bool = True, id: str | None = None) -> None:
        super().__init__(id=id, classes="" if log else "no-log")
        self._with_log = log

    def compose(self) -> ComposeResult:
        yield Static("waiting…", classes="caption")
        yield ProgressBar(total=None, show_eta=False)
        if self._with_log:
            yield Log(highlight=False, max_lines=2000)

    def reset(self, caption: str, total: float | None = None) -> None:
        self.caption(caption)
        bar = self.query_one(ProgressBar)
        bar.update(total=total, progress=0)
        if self._with_log:
            self.query_one(Log).clear()

    def caption(self, text: str) -> None:
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
            self.advance_to(p.index - 1, p.total)
            self.log_line(f"[{p.index}/{p.total}] {p.filename} …")
        elif p.event == "done":
            self.advance_to(p.index, p.total)
            self.log_line(f"[{p.index}/{p.total}] ✔ {p.filename} ok ({p.elapsed_ms} ms)")
        elif p.event == "failed":
            self.caption(f"✘ {p.filename} FAILED")
            self.log_line(f"[{p.index}/{p.total}] ✘ {p.filename} FAILED: {p.message}")
        else:
            self.log_line(f"{p.event} {p.filename} {p.message}".strip())

    def show_backup(self, done: float, total: float | None, message: str) -> None:
        """A backup/verify/restore progress event (total None: amount unknown)."""
        self.caption(message)
        if total is not None:
            self.advance_to(done, total)
        self.log_line(message)

    def finish(self, caption: str) -> None:
        bar = self.query_one(ProgressBar)
        if bar.total is None:
            bar.update(total=1, progress=1)
        else:
            bar.update(progress=bar.total)
        self.caption(caption)
