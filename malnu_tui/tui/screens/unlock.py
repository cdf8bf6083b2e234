"""Release a migration lock left by a dead session (audited), after a typed confirmation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from malnu_tui.engine.plan import is_confirmed
from malnu_tui.tui.messages import OperationFailed
from malnu_tui.tui.session import connected, reporting
from malnu_tui.tui.widgets.error_box import ErrorBox
from malnu_tui.tui.widgets.fields import Field

if TYPE_CHECKING:
    from malnu_tui.engine.config import Target
    from malnu_tui.engine.errors import LockHolder


def read_lock(target: Target) -> tuple[LockHolder | None, str, tuple[str, ...]]:
    """The engine's unlock preflight: the holder, the confirmation word, what to know."""
    from malnu_tui.engine.preflight import preflight_unlock

    with connected(target) as backend:
        pf = preflight_unlock(backend, target)
    return pf.lock, pf.database_name, tuple(p.describe() for p in pf.notices)


def release_lock(target: Target) -> LockHolder | None:
    from malnu_tui.engine.migrate import unlock

    with connected(target) as backend:
        return unlock(backend)


@dataclass
class LockRead(Message):
    holder: LockHolder | None
    database_name: str
    notices: tuple[str, ...] = ()


@dataclass
class LockReleased(Message):
    holder: LockHolder | None


class UnlockScreen(ModalScreen[bool]):
    """Shows who holds the lock; releasing it needs the database name typed."""

    HELP_TITLE = "Unlock dialog"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="unlock.cancel"),
    ]

    def __init__(self, target: Target) -> None:
        super().__init__()
        self.target = target
        self.database_name = ""

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Text("Release the migration lock", style="bold"), classes="dialog-title")
            yield Static("reading the lock…", id="unlock-body", classes="dialog-body")
            yield ErrorBox()
            yield Field(placeholder="database name", id="unlock-typed", disabled=True)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel (esc)", id="no", compact=True)
                yield Button("Release lock", id="yes", variant="error", compact=True, disabled=True)

    def on_mount(self) -> None:
        self._read()

    @work(thread=True, exclusive=True, group="unlock")
    def _read(self) -> None:
        with reporting(self, "read lock"):
            self.post_message(LockRead(*read_lock(self.target)))

    @work(thread=True, exclusive=True, group="unlock")
    def _release(self) -> None:
        with reporting(self, "unlock"):
            self.post_message(LockReleased(release_lock(self.target)))

    @on(LockRead)
    def _read_done(self, event: LockRead) -> None:
        event.stop()
        body = self.query_one("#unlock-body", Static)
        holder = event.holder
        self.database_name = event.database_name
        if holder is None:
            body.update(f"✔ no lock is held on {self.target.display_url}: nothing to do.")
            self.query_one("#no", Button).focus()
            return
        body.update(
            Text.assemble(
                ("⚠ locked by ", "bold"),
                holder.describe(),
                *(f"\n⚠ {n}" for n in event.notices),
                "\nRelease it only if that session is dead: a live operator would lose "
                "their lock mid-run. The release is recorded in the audit log.\nType ",
                (self.database_name, "bold reverse"),
                " to release it:",
            )
        )
        field = self.query_one(Input)
        field.disabled = False
        field.focus()

    @on(LockReleased)
    def _released(self, event: LockReleased) -> None:
        event.stop()
        self.notify("lock released (audited)", timeout=4)
        self.dismiss(True)

    @on(OperationFailed)
    def _failed(self, event: OperationFailed) -> None:
        event.stop()
        self.query_one(ErrorBox).show_error(event.message, event.hint)

    @on(Input.Changed)
    def _typed(self, event: Input.Changed) -> None:
        self.query_one("#yes", Button).disabled = not is_confirmed(event.value, self.database_name)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        if is_confirmed(event.value, self.database_name):
            self._release()

    @on(Button.Pressed, "#yes")
    def _yes(self) -> None:
        self._release()

    @on(Button.Pressed, "#no")
    def _no(self) -> None:
        self.dismiss(False)

    def action_cancel(self) -> None:
        self.dismiss(False)
