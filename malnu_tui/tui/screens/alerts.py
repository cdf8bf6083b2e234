"""Health and alerts: every target's health line, the open incidents that `check --alert`
keeps, and the recent runs of the target on screen with their durations."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import events, on, widgets, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer

from malnu_tui.tui.messages import OperationFailed
from malnu_tui.tui.session import looking, reporting
from malnu_tui.tui.widgets.error_box import ErrorBox
from malnu_tui.tui.widgets.header import AppHeader
from malnu_tui.tui.widgets.health import health_text, target_health
from malnu_tui.tui.widgets.plain import DataTable, Static

if TYPE_CHECKING:
    from collections.abc import Mapping

    from malnu_tui.engine.config import Target
    from malnu_tui.engine.file_sums import FileSums
    from malnu_tui.engine.monitor.alerts import Incident
    from malnu_tui.engine.monitor.health import TargetHealth
    from malnu_tui.engine.monitor.runlog import RunRecord

RUNS_LIMIT = 100
# How an incident's state reads beside its message ([alerts] notify_after / resolve_after).
INCIDENT_STATES = {
    "open": "",
    "resolved": " (resolved, not yet sent)",
    "pending": " (seen, not sent yet: notify_after)",
    "clearing": " (gone, resolution not sent yet: resolve_after)",
}
OUTCOME_LOOK: dict[str, tuple[str, str]] = {
    "ok": ("✔ ok", "green"),
    "failed": ("✘ failed", "bold red"),
    "refused": ("⊘ refused", "yellow"),
}


@dataclass
class AlertsLoaded(Message):
    healths: tuple[TargetHealth, ...]
    incidents: tuple[Incident, ...]
    runs: tuple[RunRecord, ...] | None  # None: not read (the target cannot be reached)


def load_alerts(
    app: object, targets: list[Target], current: Target, sums: Mapping[str, FileSums]
) -> tuple[tuple[TargetHealth, ...], tuple[Incident, ...], tuple[RunRecord, ...] | None]:
    """``sums``: each target's rollback files' checksums kept (by name): each refresh read
    every applied migration's rollback file again for the "edited since applied" warning."""
    from malnu_tui.engine.monitor.alerts import load_incidents
    from malnu_tui.engine.monitor.runlog import recent_runs

    healths = tuple(
        target_health(app, t, sums=sums.get(t.name))  # type: ignore[arg-type]
        for t in targets
    )
    incidents = load_incidents()
    runs: tuple[RunRecord, ...] | None = None
    if not any(h.target == current.name and h.check_status("reach") for h in healths):
        with looking(current) as backend:
            runs = recent_runs(backend, RUNS_LIMIT)
    return healths, incidents, runs


class AlertsScreen(Screen[None]):
    """The health of every target, open incidents, and recent runs with their durations."""

    HELP_TITLE = "Health and alerts"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back", id="alerts.back"),
        Binding("ctrl+r,f5", "reload", "Refresh", id="alerts.refresh"),
    ]

    def __init__(
        self, targets: list[Target], current: Target, sums: Mapping[str, FileSums] | None = None
    ) -> None:
        """``sums``: the status panels' rollback checksums by target (else kept here)."""
        from malnu_tui.engine.file_sums import FileSums

        super().__init__()
        self.targets = targets
        self.current = current
        kept = sums or {}
        self.sums = {t.name: kept.get(t.name) or FileSums() for t in targets}
        self.loaded: AlertsLoaded | None = None  # the last picture shown

    def compose(self) -> ComposeResult:
        yield AppHeader()
        yield Static(Text("Health and alerts", style="bold"), classes="screen-title")
        yield Static("checking…", id="health-lines")
        yield ErrorBox()
        yield Static("Open incidents (check --alert)", classes="section-title")
        yield DataTable(id="incidents-table", cursor_type="row", zebra_stripes=True)
        yield Static(
            f"Recent runs on {self.current.name} (newest {RUNS_LIMIT})", classes="section-title"
        )
        yield DataTable(id="runs-table", cursor_type="row", zebra_stripes=True)
        # The highlighted row in full: at 80 columns a run's error (the last column) was past
        # the right edge, and an incident's problem was cut.
        yield Static("", id="alert-detail")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#incidents-table", DataTable).add_columns(
            "since (UTC)", "severity", "target", "check", "problem"
        )
        # The outcome and duration before the object (a range of files, a backup id).
        self.query_one("#runs-table", DataTable).add_columns(
            "ended (UTC)", "outcome", "operation", "took", "object", "counts / error"
        )
        self.query_one("#runs-table", DataTable).focus()
        self.action_reload()

    def action_reload(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, group="alerts")
    def _load(self) -> None:
        with reporting(self, "alerts"):
            self.post_message(
                AlertsLoaded(*load_alerts(self.app, self.targets, self.current, self.sums))
            )

    @on(AlertsLoaded)
    def _loaded(self, event: AlertsLoaded) -> None:
        event.stop()
        self.loaded = event
        self.query_one(ErrorBox).clear()
        lines = Text()
        for i, h in enumerate(event.healths):
            if i:
                lines.append("\n")
            lines.append(f"{h.target}: ", style="bold")
            lines.append_text(health_text(h, hint=False))
        self.query_one("#health-lines", Static).update(lines)
        incidents = self.query_one("#incidents-table", DataTable)
        incidents.clear()
        for i, inc in enumerate(event.incidents):
            state = INCIDENT_STATES.get(inc.state, f" ({inc.state})")
            incidents.add_row(
                inc.since or inc.opened_at, inc.severity, inc.target, inc.check,
                inc.message + state, key=str(i),
            )  # fmt: skip
        if not event.incidents:
            incidents.add_row("", "", "", "", "no open incidents")
        runs = self.query_one("#runs-table", DataTable)
        runs.clear()
        for i, r in enumerate(event.runs or ()):
            runs.add_row(
                r.ended_at, _outcome(r.outcome), r.op, _took(r.duration_ms), r.obj,
                r.error or _counts(r), key=str(i),
            )  # fmt: skip
        if event.runs is None:
            # Not "no runs recorded": nothing was read (it said so of a target that is down).
            runs.add_row("", "", "", "", f"not read: {self.current.name} cannot be reached", "")
        elif not event.runs:
            runs.add_row("", "", "", "", "no runs recorded", "")
        shown = self.focused if isinstance(self.focused, widgets.DataTable) else runs
        self._show_detail(shown.id or "", shown)

    @on(events.DescendantFocus)
    def _focused(self, event: events.DescendantFocus) -> None:
        """Tab to a list details its highlighted row: the incidents' first row kept the run's
        detail, so a lone incident's problem (cut at 80 columns) could not be read whole."""
        if isinstance(event.widget, widgets.DataTable):
            self._show_detail(event.widget.id or "", event.widget)

    @on(DataTable.RowHighlighted)
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail(event.data_table.id or "", event.data_table)

    def _show_detail(self, which: str, table: widgets.DataTable[object]) -> None:
        """The highlighted run (or incident, when that list has the keys) in full, wrapped."""
        from textual.coordinate import Coordinate

        pane = self.query_one("#alert-detail", Static)
        loaded = self.loaded
        text = Text()
        key = None
        if loaded is not None and table.row_count:
            key = table.coordinate_to_cell_key(Coordinate(table.cursor_row, 0)).row_key.value
        if loaded is not None and key is not None:
            if which == "runs-table" and loaded.runs is not None:
                r = loaded.runs[int(key)]
                text.append(f"{r.op} {r.obj}".strip() + "  ", "bold")
                text.append_text(_outcome(r.outcome))
                text.append(f" in {_took(r.duration_ms)}\n")
                text.append(r.error or _counts(r) or "(no detail)")
            elif which == "incidents-table":
                inc = loaded.incidents[int(key)]
                state = INCIDENT_STATES.get(inc.state, f" ({inc.state})")
                text.append(f"{inc.target} {inc.check} {inc.severity}", "bold")
                text.append(f" since {inc.since or inc.opened_at}\n{inc.message}{state}")
        pane.update(text)

    @on(OperationFailed)
    def _failed(self, event: OperationFailed) -> None:
        event.stop()
        self.query_one(ErrorBox).show_failed(event)


def _outcome(outcome: str) -> Text:
    label, style = OUTCOME_LOOK.get(outcome, (outcome, ""))
    return Text(label, style=style)


def _counts(r: RunRecord) -> str:
    return " ".join(f"{k}={v}" for k, v in sorted(r.counts.items()))


def _took(ms: int) -> str:
    return f"{ms} ms" if ms < 10_000 else f"{ms / 1000:.1f} s"
