"""The audit trail of a target, newest first, filterable by any word."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Footer, Input

from malnu_tui.tui.messages import AuditLoaded, OperationFailed
from malnu_tui.tui.session import looking, reporting
from malnu_tui.tui.widgets.error_box import ErrorBox
from malnu_tui.tui.widgets.fields import Field
from malnu_tui.tui.widgets.header import AppHeader
from malnu_tui.tui.widgets.plain import DataTable, Static

if TYPE_CHECKING:
    from malnu_tui.engine.backends.base import AuditEntry
    from malnu_tui.engine.config import Target

AUDIT_LIMIT = 1000
OUTCOME_LOOK: dict[str, tuple[str, str]] = {
    "ok": ("✔ ok", "green"),
    "failed": ("✘ failed", "bold red"),
    "refused": ("⊘ refused", "yellow"),
    "skipped": ("– skipped", "yellow"),
}


def outcome_text(outcome: str) -> Text:
    label, style = OUTCOME_LOOK.get(outcome, (outcome, ""))
    return Text(label, style=style)


def read_audit(target: Target) -> tuple[AuditEntry, ...]:
    from malnu_tui.engine.monitor.runlog import read_changes

    with looking(target) as backend:
        return tuple(read_changes(backend, limit=AUDIT_LIMIT))


class AuditScreen(Screen[None]):
    """Every change the tool made: time, actor, action, object, outcome, detail."""

    HELP_TITLE = "Audit log"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="audit.back"),
        Binding("slash", "focus_filter", "Filter", id="audit.filter"),
        Binding("ctrl+r,f5", "reload", "Refresh", id="audit.refresh"),
    ]

    def __init__(self, target: Target) -> None:
        super().__init__()
        self.target = target
        self.entries: tuple[AuditEntry, ...] = ()

    def compose(self) -> ComposeResult:
        yield AppHeader()
        yield Static(
            Text(f"Audit log of {self.target.name} ({self.target.display_url})", style="bold"),
            classes="screen-title",
        )
        yield Field(placeholder="filter: any word (action, object, actor, outcome…)", id="filter")
        yield ErrorBox()
        yield DataTable(id="audit-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="audit-count", classes="dim")
        yield Static("", id="audit-detail")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        # The outcome before the object (a file name, a backup id): at 80 columns a
        # "✘ failed" must be seen in the list, not only in the selected row's detail. The
        # actor after the object: before it, at 80 columns the object showed "20251124_1",
        # no migration nor backup told from another but by moving the cursor onto each.
        table.add_columns("at (UTC)", "action", "outcome", "object", "actor", "detail")
        table.focus()
        self.action_reload()

    def action_reload(self) -> None:
        self.query_one("#audit-count", Static).update("reading the audit trail…")
        self._load()

    def action_back(self) -> None:
        """Esc clears a filter first (the rows come back), then leaves the screen."""
        field = self.query_one("#filter", Input)
        if field.value:
            field.value = ""
            self.query_one(DataTable).focus()
            return
        self.app.pop_screen()

    def action_focus_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    @work(thread=True, exclusive=True, group="audit")
    def _load(self) -> None:
        with reporting(self, "audit"):
            self.post_message(AuditLoaded(read_audit(self.target)))

    @on(AuditLoaded)
    def _loaded(self, event: AuditLoaded) -> None:
        event.stop()
        self.entries = event.entries
        self.query_one(ErrorBox).clear()
        self._show()

    @on(OperationFailed)
    def _failed(self, event: OperationFailed) -> None:
        event.stop()
        self.query_one(ErrorBox).show_failed(event)
        self.query_one("#audit-count", Static).update("")

    @on(Input.Changed, "#filter")
    def _filter(self) -> None:
        self._show()

    @on(DataTable.RowHighlighted, "#audit-table")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        key = event.row_key.value
        self._show_detail(self.entries[int(key)] if key is not None else None)

    def _show_detail(self, e: AuditEntry | None) -> None:
        pane = self.query_one("#audit-detail", Static)
        if e is None:
            pane.update("")
            return
        text = Text.assemble(
            (f"{e.at}  {e.action}  {e.object}  ", "bold"),
            outcome_text(e.outcome),
            f"  by {e.actor}\n",
            e.detail or "(no detail)",
        )
        pane.update(text)

    @on(Input.Submitted, "#filter")
    def _filter_done(self) -> None:
        self.query_one(DataTable).focus()

    def _show(self) -> None:
        words = self.query_one("#filter", Input).value.lower().split()
        table = self.query_one(DataTable)
        table.clear()
        shown = 0
        for i, e in enumerate(self.entries):
            haystack = f"{e.at} {e.actor} {e.action} {e.object} {e.outcome} {e.detail}".lower()
            if all(w in haystack for w in words):
                table.add_row(
                    e.at, e.action, outcome_text(e.outcome), e.object, e.actor, e.detail, key=str(i)
                )
                shown += 1
        if not shown:
            self._show_detail(None)
        total = len(self.entries)
        more = f" (the newest {AUDIT_LIMIT})" if total >= AUDIT_LIMIT else ""
        self.query_one("#audit-count", Static).update(
            f"{shown} of {total} entries{more}"
            + (f" matching {' '.join(words)!r}" if words else "")
        )
