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

    def __init__(
        self,
        title: str,
        body: Text | str,
        expected: str | None,
        verb: str,
        *,
        keep: str = "Cancel (esc)",
    ) -> None:
        super().__init__()
        self.title_text = title
        self.body = body
        self.expected = expected
        self.verb = verb
        self.keep = keep  # the button that changes nothing

    def compose(self) -> ComposeResult:
        with DialogBox():
            yield Static(Text(self.title_text, style="bold"), classes="dialog-title")
            yield FitScroll(self.body, classes="dialog-body")
            if self.expected is not None:
                yield TypedConfirmation(field_id="confirm-typed")
            with Horizontal(classes="dialog-buttons"):
                yield Button(self.keep, id="no", compact=True)
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


STOP_TITLE = "Stop the running migration?"


def stop_text(kind: str, direction: str) -> Text:
    """What the stop key does to the run in progress on a ``kind`` target (apply or rollback)."""
    text = Text("It will be rolled back: ", style="bold")
    text.append(
        "the step running now is undone, the database left as it was before it; the "
        f"migrations shown done stay {direction}. The run is recorded as interrupted in the "
        "audit log and the lock released.\n"
    )
    if kind == "d1":
        text.append(
            "D1: a request already sent cannot be recalled. D1 finishes the migration in "
            "flight (all or nothing) and the run stops before the next one.\n",
            style="yellow",
        )
    else:
        text.append(
            "The statement running now is cancelled on the server.\n"
            if kind == "postgresql"
            else "The statement running now is interrupted; a safety backup being copied "
            "stops too, and is not kept.\n"
        )
    text.append("y or ctrl+c stops it; esc or n keeps it running.")
    return text


class StopConfirm(ConfirmScreen):
    """The stop key's question while a wizard's run works (keyboard only: y, n, esc, and
    ctrl+c again for yes, as ctrl+c twice quits when idle)."""

    HELP_TITLE = "Stop confirmation"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "stop", "Stop", id="stop.yes"),
        Binding("n", "cancel", "Keep running", id="stop.no"),
    ]

    def __init__(self, owner: object, kind: str, direction: str) -> None:
        super().__init__(
            STOP_TITLE, stop_text(kind, direction), None, "Stop (y)", keep="Keep running (esc)"
        )
        self.owner = owner  # the wizard whose run it stops

    def action_stop(self) -> None:
        self.dismiss(True)
