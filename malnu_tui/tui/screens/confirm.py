"""A typed confirmation in a dialog: the operator types the expected word to go on."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.screen import ModalScreen
from textual.widgets import Button

from malnu_tui.tui.widgets.dialog import DialogBox, FitScroll
from malnu_tui.tui.widgets.key_button import KeyButton
from malnu_tui.tui.widgets.plain import Static
from malnu_tui.tui.widgets.typed_confirm import TypedConfirmation


class ConfirmScreen(ModalScreen[bool]):
    """Dismisses with True only when ``expected`` was typed (or, with no ``expected``, when
    the operator pressed the confirm button)."""

    HELP_TITLE = "Confirmation dialog"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="confirm.cancel"),
    ]

    def __init__(self, title: str, body: Text | str, expected: str | None, verb: str) -> None:
        super().__init__()
        self.title_text = title
        self.body = body
        self.expected = expected
        self.verb = verb

    def compose(self) -> ComposeResult:
        with DialogBox():
            yield Static(Text(self.title_text, style="bold"), classes="dialog-title")
            yield FitScroll(self.body, classes="dialog-body")
            if self.expected is not None:
                yield TypedConfirmation(field_id="confirm-typed")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel (esc)", id="no", compact=True)
                # "Delete (blocked)" until the word is typed: greyed alone, it read as usable.
                yield KeyButton(
                    self.verb, id="yes", variant="error", disabled=self.expected is not None
                )

    def on_mount(self) -> None:
        if self.expected is not None:
            typed = self.query_one(TypedConfirmation)
            typed.ask(
                self.expected, (self.title_text[:1].lower() + self.title_text[1:]).rstrip("?")
            )
            typed.focus_field()
        else:
            self.query_one("#no", Button).focus()

    @on(TypedConfirmation.Changed)
    def _typed(self, event: TypedConfirmation.Changed) -> None:
        self.query_one("#yes", Button).disabled = not event.ok

    @on(TypedConfirmation.Confirmed)
    def _submitted(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#yes")
    def _yes(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#no")
    def _no(self) -> None:
        self.dismiss(False)

    def action_cancel(self) -> None:
        self.dismiss(False)
