"""One target on the status screen: its summary line, any error, and its migration table."""

from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical

from malnu_tui.engine.migrate import STATE_SYMBOLS, MigrationState, MigrationStatus, StatusReport
from malnu_tui.engine.rollback_sums import FileSums
from malnu_tui.tui.messages import OperationFailed, StatusLoaded
from malnu_tui.tui.session import change_token, load_panel, reporting
from malnu_tui.tui.widgets.error_box import ErrorBox
from malnu_tui.tui.widgets.health import (
    HEALTH_SECONDS,
    HealthLoaded,
    TargetHealth,
    health_text,
    target_health,
)
from malnu_tui.tui.widgets.migration_table import MigrationTable
from malnu_tui.tui.widgets.plain import Static
from malnu_tui.tui.widgets.state import STATE_STYLES

if TYPE_CHECKING:
    from malnu_tui.engine.config import Target
    from malnu_tui.engine.files import MigrationSet
    from malnu_tui.engine.histories import OtherHistories


def clock() -> datetime:
    """Now, in local time (a function, so that pictures of the screen can pin it)."""
    return datetime.now()


def summary_text(
    report: StatusReport, state_filter: MigrationState | None, as_of: datetime | None = None
) -> Text:
    """Counts by state (symbol and word), then head, lock holder and the masked URL, and the
    time the status was read: an operator must know whether the screen is fresh."""
    text = Text()
    for state in MigrationState:
        n = report.count(state)
        text.append(
            f"{STATE_SYMBOLS[state]} {n} {state.value}", style=STATE_STYLES[state] if n else ""
        )
        text.append("  ")
    if as_of is not None:
        text.append(f"as of {as_of:%H:%M:%S}", style="dim")
    text.append("\n")
    text.append("head ", style="bold")
    text.append(report.head or "—")
    text.append("  ·  ")
    if report.lock is not None:
        text.append("⚠ LOCKED by ", style="bold red")
        text.append(report.lock.describe())
    else:
        text.append("lock free")
    text.append("  ·  ")
    text.append(report.display_url, style="dim")
    if report.warnings:
        text.append(f"\n⚠ {len(report.warnings)} warning(s): {report.warnings[0]}", style="yellow")
    if state_filter is not None:
        text.append(f"\nshowing only {state_filter.value} (f: next filter)", style="italic")
    return text


def histories_text(histories: OtherHistories, target: str, shown: int = 2) -> Text:
    """Other tools' histories in ``target``'s database, as the CLI's `status` says them, its
    commands naming the target (:func:`for_shell`): a line each, ``⚠ warning:`` when `up`
    refuses what they applied, else ``ℹ note:``; past ``shown`` of them, the others named on
    one line (at 80×24 the table keeps its rows)."""
    from malnu_tui.tui.widgets.error_box import for_shell

    notes = histories.notes()
    text = Text()
    for note in notes[:shown]:
        if text:
            text.append("\n")
        if note.warning:
            text.append("⚠ warning: ", style="bold yellow")
        else:
            text.append("ℹ note: ", style="dim")
        text.append(for_shell(note.text, target))
    rest = notes[shown:]
    if rest:
        warned = any(n.warning for n in rest)
        text.append("\n")
        text.append(
            "⚠ warning: " if warned else "ℹ note: ", style="bold yellow" if warned else "dim"
        )
        text.append(f"and {len(rest)} more: " + "; ".join(n.about for n in rest))
        text.append(for_shell(" (`malnu-tui status` says each)", target), style="dim")
    return text


def health_basis(report: StatusReport) -> tuple[object, ...]:
    """What of a status the health line depends on: each migration's state, and the lock."""
    lock = report.lock.describe() if report.lock is not None else None
    return (tuple((m.filename, m.state) for m in report.migrations), lock)


class TargetPanel(Vertical):
    """Loads and shows the status of one target; reload with :meth:`reload`."""

    DEFAULT_CLASSES = "target-panel"

    def __init__(self, target: Target, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.target = target
        self.report: StatusReport | None = None
        self.mset: MigrationSet | None = None
        self.histories: OtherHistories | None = None
        self.state_filter: MigrationState | None = None
        self.loading_started = False
        # Not Textual's `loading` (which covers the whole panel with a loading indicator,
        # hiding the last picture and the "reading status of …" line at every refresh).
        self.reading = False
        self.as_of: datetime | None = None
        self.read_at: datetime | None = None  # when the picture on screen was read
        self.token: tuple[int, ...] | None = None
        self.health: TargetHealth | None = None
        self.health_at: float | None = None
        self.health_basis: tuple[object, ...] | None = None  # the status it was checked on
        self.health_due = False  # check again with the next status (after an operation)
        # The rollback files' checksums, kept by the status worker between refreshes: only a
        # file changed since is read again (10,000 applied migrations every 5 seconds).
        self.sums = FileSums()

    def compose(self) -> ComposeResult:
        yield Static("reading status…", classes="summary")
        yield Static("", classes="health")
        yield Static("", classes="histories")
        yield ErrorBox()
        yield MigrationTable()

    @property
    def table(self) -> MigrationTable:
        return self.query_one(MigrationTable)

    def reload(self, *, quiet: bool = False, health: bool = False) -> None:
        """Read the status again; ``quiet`` (the automatic refresh) keeps the current picture on
        screen until the new one arrives; ``health``: check the target's health again with it
        (after an operation, or a refresh asked for)."""
        self.health_due = self.health_due or health
        self.loading_started = True
        self.reading = True
        if not quiet or self.report is None:
            self.query_one(".summary", Static).update(
                Text(f"reading status of {self.target.display_url}…", style="italic")
            )
        self._load()

    @work(thread=True, exclusive=True, group="status")
    def _load(self) -> None:
        with reporting(self, "status"):
            report, mset, histories = load_panel(self.target, self.sums)
            # After the read: our own read's side effects (a WAL checkpoint on close) are in it;
            # a change by someone else in between is caught by the periodic refresh.
            token = change_token(self.target)
            self.post_message(StatusLoaded(self.target.name, report, mset, token, histories))

    @work(thread=True, exclusive=True, group="health")
    def _check_health(self, report: StatusReport) -> None:
        """The `check` of this target, reusing the status just read; its own read's change
        token comes with it (it is no change by someone else)."""
        with reporting(self, "health"):
            health = target_health(self.app, self.target, report)
            self.post_message(HealthLoaded(self.target.name, health, change_token(self.target)))

    @on(StatusLoaded)
    def _loaded(self, event: StatusLoaded) -> None:
        if event.target != self.target.name:
            return
        self.report, self.mset = event.report, event.mset
        self.histories = event.histories
        self.reading = False
        self.as_of = self.read_at = clock()
        self.token = event.token
        self.query_one(ErrorBox).clear()
        # Health at most every HEALTH_SECONDS, and only once the table is painted (the check
        # must not slow the first picture down); at once when the status it was checked on
        # changed, or after an operation: a repair, a cleared failure or an apply left
        # "✘ health CRITICAL - 1 failed migration…" under "0 failed" for up to 30 s.
        now = time.monotonic()
        basis = health_basis(event.report)
        if (
            self.health_due
            or basis != self.health_basis
            or self.health_at is None
            or now - self.health_at >= HEALTH_SECONDS
        ):
            self.health_at, self.health_basis, self.health_due = now, basis, False
            self.call_after_refresh(self._check_health, event.report)
        self._render_report()

    @on(OperationFailed)
    def _failed(self, event: OperationFailed) -> None:
        if event.what != "status":
            return
        self.reading = False
        self.as_of = clock()
        text = Text(f"✘ status of {self.target.display_url} could not be read", style="bold")
        if self.report is not None and self.read_at is not None:
            # The list below stays: it must not pass for the state now.
            text.append(
                f"\nthe list below is the last status read, at {self.read_at:%H:%M:%S}",
                style="yellow",
            )
        self.query_one(".summary", Static).update(text)
        self.query_one(ErrorBox).show_failed(event)

    @on(HealthLoaded)
    def _health(self, event: HealthLoaded) -> None:
        if event.target != self.target.name:
            return
        event.stop()
        self.health = event.health
        if event.token is not None and not self.reading:
            self.token = event.token  # the health check's own read is no change by others
        self.query_one(".health", Static).update(health_text(event.health))

    def set_filter(self, state: MigrationState | None) -> None:
        self.state_filter = state
        self._render_report()

    def _render_report(self) -> None:
        if self.report is None:
            return
        self.query_one(".summary", Static).update(
            summary_text(self.report, self.state_filter, self.as_of)
        )
        histories = histories_text(self.histories, self.target.name) if self.histories else Text()
        box = self.query_one(".histories", Static)
        box.update(histories)
        box.display = bool(histories)
        self.table.show(self.report, self.state_filter)

    def stale(self, max_age: float) -> bool:
        """True when this panel's picture may be out of date: older than ``max_age`` seconds,
        or its SQLite file changed since it was read."""
        if self.reading or self.as_of is None:
            return False
        if (clock() - self.as_of).total_seconds() >= max_age:
            return True
        token = change_token(self.target)
        return token is not None and token != self.token

    def selected(self) -> MigrationStatus | None:
        return self.table.selected()
