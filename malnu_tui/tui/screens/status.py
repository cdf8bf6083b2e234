"""The home screen: one migration table per configured target, with a summary line each."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, TabbedContent, TabPane

from malnu_tui.engine.migrate import MigrationState, MigrationStatus
from malnu_tui.tui.messages import OperationFailed, StatusLoaded
from malnu_tui.tui.widgets.header import AppHeader
from malnu_tui.tui.widgets.migration_table import MigrationTable
from malnu_tui.tui.widgets.more_keys import MoreKeys
from malnu_tui.tui.widgets.target_panel import TargetPanel

if TYPE_CHECKING:
    from malnu_tui.engine.config import Target
    from malnu_tui.engine.files import MigrationSet

# f cycles through: everything, then one state at a time.
FILTERS: tuple[MigrationState | None, ...] = (None, *MigrationState)


def pane_id(target_name: str) -> str:
    """A Textual id for a target's tab, unique per name: ASCII letters, digits and ``-`` as
    they are, any other character as ``_`` and its UTF-8 bytes in hex. Names differing only
    there (``sekolah.lama`` and ``sekolah-lama``) made the same id, and a letter such as ``Ä``
    an invalid one: the console stopped at start with a traceback (the CLI took them)."""
    out = []
    for c in target_name:
        if c.isascii() and (c.isalnum() or c == "-"):
            out.append(c)
        else:
            out.append("_" + c.encode().hex())
    return "target-" + "".join(out)


class StatusScreen(Screen[None]):
    """What is applied, pending, failed, drifted or missing on every target."""

    HELP_TITLE = "Status"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter,v", "view_sql", "SQL", id="status.view_sql"),
        Binding("a", "app.open_apply", "Apply", id="status.apply"),
        Binding("r", "app.open_rollback", "Rollback", id="status.rollback"),
        Binding("b", "app.open_backups", "Backups", id="status.backups"),
        Binding("p", "app.open_recover", "Recover", show=False, id="status.recover"),
        Binding("l", "app.open_audit", "Log", id="status.audit"),
        Binding("h", "app.open_alerts", "Health", show=False, id="status.alerts"),
        Binding("s", "app.open_sync", "Sync", show=False, id="status.sync"),
        Binding("i", "app.open_import", "Import", show=False, id="status.import"),
        Binding("f", "cycle_filter", "Filter", id="status.filter"),
        Binding("t", "next_target", "Target", show=False, id="status.next_target"),
        Binding("ctrl+r,f5", "app.refresh_status", "Refresh", show=False, id="status.refresh"),
        Binding("U", "app.unlock", "Unlock", show=False, id="status.unlock"),
        # Offered only when the target on screen has a drifted (D) or failed (C) migration.
        Binding("D", "repair", "Accept drift", show=False, id="status.repair"),
        Binding("C", "clear_failed", "Clear failed", show=False, id="status.clear_failed"),
    ]

    # The picture refreshes itself while the screen is idle: a SQLite file is watched every
    # second (a change by another operator shows at once), every target is re-read every 5 s.
    WATCH_SECONDS: ClassVar[float] = 1.0
    REFRESH_SECONDS: ClassVar[float] = 5.0

    def __init__(self, targets: list[Target], initial: str) -> None:
        super().__init__()
        self.targets = targets
        self.initial = initial
        self.filter_index = 0

    def compose(self) -> ComposeResult:
        yield AppHeader()
        with TabbedContent(initial=pane_id(self.initial), id="targets"):
            for t in self.targets:
                # The name as written: a str title is markup ("sekolah [lama]" showed "sekolah").
                with TabPane(Content(t.name), id=pane_id(t.name)):
                    yield TargetPanel(t)
        yield MoreKeys()
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.set_interval(self.WATCH_SECONDS, self._refresh_if_stale, name="status-refresh")
        self.focus_table()
        # The target on screen first; the others one at a time after it, so that loading
        # them does not slow down the first paint.
        panel = self.current_panel()
        if panel is not None:
            panel.reload()
        else:
            self._load_next()

    def _refresh_if_stale(self) -> None:
        """Re-read the target on screen when its picture may be out of date, but only while
        this screen is in front and no operation runs (the operation refreshes it after)."""
        if self.app.screen is not self or getattr(self.app, "operation", None) is not None:
            return
        panel = self.current_panel()
        if panel is not None and panel.stale(self.REFRESH_SECONDS):
            panel.reload(quiet=True)

    def _load_next(self) -> None:
        for panel in self.query(TargetPanel):
            if panel.report is None and not panel.loading_started:
                panel.reload()
                return

    @on(StatusLoaded)
    @on(OperationFailed)
    def _panel_done(self, event: Message) -> None:
        if isinstance(event, OperationFailed) and event.what != "status":
            return
        self._load_next()
        self.refresh_bindings()  # D and C follow what the target has

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # D and C act on a drifted or a failed migration: with none on the target on screen
        # they are not offered (the more: line listed them, and each only said "select a
        # drifted migration first"). The palette still runs them, and says so.
        if action in ("repair", "clear_failed"):
            wanted = MigrationState.DRIFTED if action == "repair" else MigrationState.FAILED
            panel = self.current_panel() if self.is_mounted else None
            report = panel.report if panel is not None else None
            return report is not None and report.count(wanted) > 0
        return True

    async def action_repair(self) -> None:
        await self.app.run_action("app.repair")

    async def action_clear_failed(self) -> None:
        await self.app.run_action("app.clear_failed")

    def focus_table(self) -> None:
        panel = self.current_panel()
        if panel is not None:
            panel.table.focus()

    def current_panel(self) -> TargetPanel | None:
        tabs = self.query_one(TabbedContent)
        active = tabs.active
        for panel in self.query(TargetPanel):
            if pane_id(panel.target.name) == active:
                return panel
        return None

    def current_target(self) -> Target:
        panel = self.current_panel()
        return panel.target if panel is not None else self.targets[0]

    def current_selection(self) -> tuple[MigrationStatus, MigrationSet] | None:
        panel = self.current_panel()
        if panel is None or panel.mset is None:
            return None
        m = panel.selected()
        return (m, panel.mset) if m is not None else None

    def reload(self, *, all_targets: bool = False, health: bool = False) -> None:
        """Read the status again (of every target with ``all_targets``); ``health``: their
        health too, at once (after an operation, or a refresh asked for)."""
        for panel in self.query(TargetPanel):
            if all_targets or panel is self.current_panel():
                panel.reload(health=health)

    @on(TabbedContent.TabActivated)
    def _tab_changed(self) -> None:
        self.app.sub_title = self.current_target().display_url
        self.focus_table()
        self.refresh_bindings()

    def action_next_target(self) -> None:
        tabs = self.query_one(TabbedContent)
        ids = [pane_id(t.name) for t in self.targets]
        if len(ids) > 1:
            tabs.active = ids[(ids.index(tabs.active) + 1) % len(ids)]
        else:
            self.notify("only one target is configured", timeout=3, markup=False)

    def action_cycle_filter(self) -> None:
        self.filter_index = (self.filter_index + 1) % len(FILTERS)
        for panel in self.query(TargetPanel):
            panel.set_filter(FILTERS[self.filter_index])
        state = FILTERS[self.filter_index]
        self.notify(
            f"showing {state.value if state else 'every'} migration(s)", timeout=2, markup=False
        )

    @on(MigrationTable.Selected)
    def _row_selected(self) -> None:
        self.action_view_sql()

    def action_view_sql(self) -> None:
        from malnu_tui.tui.screens.sql_view import SqlViewScreen

        chosen = self.current_selection()
        if chosen is None:
            self.notify("no migration selected", severity="warning", timeout=3, markup=False)
            return
        status, mset = chosen
        self.app.push_screen(SqlViewScreen(self.current_target(), status, mset))
