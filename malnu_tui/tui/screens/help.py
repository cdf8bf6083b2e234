"""Every key of every screen, read from the binding registry (``tui/keys.py``) so it cannot go
stale: a key remapped in ``[keys]`` shows remapped, a new screen shows by itself."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Footer

from malnu_tui.tui.keys import key_entries
from malnu_tui.tui.widgets.header import AppHeader
from malnu_tui.tui.widgets.plain import DataTable, Static

INTRO = (
    "Keyboard only; ctrl+p: every action. States: ✔ applied, ○ pending, ✘ failed, "
    "≠ drifted, ? missing. Remap a key by its id in [keys] of malnu.toml."
)


class HelpScreen(Screen[None]):
    """Three columns that fit 80: the key, what it does, its id; one section per screen."""

    HELP_TITLE = "Help"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,f1,question_mark", "app.pop_screen", "Back", id="help.back"),
    ]

    def compose(self) -> ComposeResult:
        yield AppHeader()
        yield Static(Text(INTRO), classes="intro screen-title")  # Text: "[keys]" is no markup
        yield DataTable(id="help-table", cursor_type="row", zebra_stripes=True)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        keymap: dict[str, str] = getattr(self.app, "key_overrides", {})
        table = self.query_one(DataTable)
        table.add_columns("key", "does", "id")
        section = ""
        for entry in key_entries(type(self.app)):
            if entry.where != section:
                section = entry.where
                table.add_row("", Text(section, style="bold underline"), "")
                if section == "Everywhere":
                    table.add_row("ctrl+p", "command palette: every action", "")
            label = entry.label(keymap)
            table.add_row(
                Text(label, style="bold yellow") if "remapped" in label else label,
                entry.description,
                Text(entry.id or "", style="dim"),
            )
        table.focus()
