"""Every key of every screen, generated from the bindings themselves so it cannot go stale."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

INTRO = (
    "malnu-tui: migrations, backups and emergency rollbacks. Keyboard only; ctrl+p opens the "
    "command palette with every action. States read as symbol and word: ✔ applied, "
    "○ pending, ✘ failed, ≠ drifted, ? missing."
)


def screen_bindings(app_bindings: list[BindingType]) -> list[tuple[str, list[BindingType]]]:
    """(screen name, bindings) for every screen of the console; ``app_bindings`` are the app's
    own (passed in: the app imports this module, not the other way round)."""
    from malnu_tui.tui.screens.audit import AuditScreen
    from malnu_tui.tui.screens.backups import BackupBrowser
    from malnu_tui.tui.screens.confirm import ConfirmScreen
    from malnu_tui.tui.screens.sql_view import SqlViewScreen
    from malnu_tui.tui.screens.status import StatusScreen
    from malnu_tui.tui.screens.wizard import WizardScreen

    groups: list[tuple[str, list[BindingType]]] = [
        ("Everywhere", app_bindings),
        ("Status", StatusScreen.BINDINGS),
        ("SQL view", SqlViewScreen.BINDINGS),
        ("Wizards (apply, rollback, restore, recover)", WizardScreen.BINDINGS),
        ("Backups", BackupBrowser.BINDINGS),
        ("Audit log", AuditScreen.BINDINGS),
        ("Dialogs", ConfirmScreen.BINDINGS),
        ("Help", HelpScreen.BINDINGS),
    ]
    return groups


def key_label(keys: str) -> str:
    names = {"question_mark": "?", "slash": "/", "escape": "esc", "enter": "enter"}
    return " / ".join(names.get(k.strip(), k.strip()) for k in keys.split(","))


class HelpScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,f1", "app.pop_screen", "Back", id="help.back"),
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(INTRO, classes="intro screen-title")
        yield DataTable(id="help-table", cursor_type="row", zebra_stripes=True)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("where", "key", "does")
        table.add_row(Text("Everywhere", style="bold"), "ctrl+p", "command palette: every action")
        for where, bindings in screen_bindings(self.app.BINDINGS):
            for b in bindings:
                if not isinstance(b, Binding):
                    continue
                table.add_row(
                    Text(where, style="bold"), key_label(b.key), b.description or b.action
                )
        table.focus()
