"""Release the migration lock (audited) after a typed confirmation, saying first whether its
holder is alive: a dead session's lock is released with the database name typed; the lock of a
process that IS RUNNING on this host needs a second confirmation (its pid typed); with no lock
held, there is nothing to release and nothing is offered."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Input

from malnu_tui.engine.plan import is_confirmed
from malnu_tui.tui.messages import OperationFailed
from malnu_tui.tui.session import connected, locks_left, looking, reporting
from malnu_tui.tui.widgets.dialog import DialogBox, FitScroll
from malnu_tui.tui.widgets.error_box import ErrorBox, lock_warnings
from malnu_tui.tui.widgets.fields import Field
from malnu_tui.tui.widgets.hanging import Hanging
from malnu_tui.tui.widgets.key_button import KeyButton
from malnu_tui.tui.widgets.plain import Static

if TYPE_CHECKING:
    from malnu_tui.engine.config import Target
    from malnu_tui.engine.errors import LockHolder

LIVENESS_LOOK = {
    "gone": ("✔ ", "green"),
    "running": ("⚠ ", "bold red"),
    "elsewhere": ("? ", "yellow"),
}


@dataclass(frozen=True)
class LockState:
    """The lock as the dialog shows it: holder, whether it is alive, the confirmation word."""

    holder: LockHolder | None
    liveness: str  # gone, running, elsewhere ("" with no holder)
    sentence: str
    database_name: str


def read_lock_state(target: Target) -> LockState:
    from malnu_tui.engine.backends.base import lock_host
    from malnu_tui.engine.backends.lease import lock_liveness
    from malnu_tui.engine.preflight import preflight_unlock

    with looking(target) as backend:
        pre = preflight_unlock(backend, target)
    if pre.lock is None:
        return LockState(None, "", "", pre.database_name)
    kind, sentence = lock_liveness(pre.lock, lock_host())
    return LockState(pre.lock, kind, sentence, pre.database_name)


def release_lock(target: Target) -> LockHolder | None:
    from malnu_tui.engine.migrate import unlock

    with connected(target) as backend:
        return unlock(backend)


@dataclass
class LockRead(Message):
    state: LockState


@dataclass
class LockReleased(Message):
    holder: LockHolder | None
    left: tuple[str, ...] = ()  # what the release left (:func:`locks_left`: an audit index)


class UnlockScreen(ModalScreen[bool]):
    """Shows who holds the lock and whether it is alive; releasing it needs the database name
    typed (and, for a process running on this host, its pid too)."""

    HELP_TITLE = "Unlock dialog"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="unlock.cancel"),
    ]

    def __init__(self, target: Target) -> None:
        super().__init__()
        self.target = target
        self.state: LockState | None = None
        self.done = False  # released (closing refreshes the status screen)

    def compose(self) -> ComposeResult:
        with DialogBox():
            yield Static(Text("Release the migration lock", style="bold"), classes="dialog-title")
            yield FitScroll("reading the lock…", id="unlock-body", classes="dialog-body")
            yield ErrorBox()
            # Said as what to do: without colour a placeholder reads as a value typed.
            yield Field(placeholder="type the database name here", id="unlock-typed", disabled=True)
            yield Field(placeholder="type the pid of the running process here", id="unlock-pid")
            yield Static("", id="unlock-why")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel (esc)", id="no", compact=True)
                # "(wait)" while the lock is read, "(blocked)" until the words are typed.
                yield KeyButton(
                    "Release lock", id="yes", variant="error", disabled=True, why="wait"
                )

    def on_mount(self) -> None:
        self.query_one("#unlock-pid", Input).display = False
        self._read()

    @work(thread=True, exclusive=True, group="unlock")
    def _read(self) -> None:
        with reporting(self, "read lock"):
            self.post_message(LockRead(read_lock_state(self.target)))

    @work(thread=True, exclusive=True, group="unlock")
    def _release(self) -> None:
        with reporting(self, "unlock"):
            self.post_message(LockReleased(release_lock(self.target), locks_left()))

    @on(LockRead)
    def _read_done(self, event: LockRead) -> None:
        event.stop()
        self.state = state = event.state
        body = self.query_one("#unlock-body", Static)
        holder = state.holder
        if holder is None:
            body.update(
                f"✔ no lock is held on {self.target.display_url}: there is nothing to release."
            )
            self.query_one("#unlock-typed", Input).display = False
            self.query_one("#yes", Button).display = False
            self.query_one("#no", Button).label = "Close (esc)"
            self.query_one("#no", Button).focus()
            return
        symbol, style = LIVENESS_LOOK[state.liveness]
        doing = f", doing {holder.note}" if holder.note else ""
        body.update(
            Text.assemble(
                ("locked by ", "bold"),
                f"{holder.owner} on {holder.host} (pid {holder.pid}{doing}) since "
                f"{holder.acquired_at}\n",
                (symbol + state.sentence, style),
                "\n",
                self._advice(state),
                "\nType ",
                (state.database_name, "bold"),
                " (the database name) to release it; the release is recorded in the audit log.",
            )
        )
        self.query_one("#yes", KeyButton).show(why="blocked")
        field = self.query_one("#unlock-typed", Input)
        field.disabled = False
        field.focus()
        if state.liveness == "running":
            self.query_one("#unlock-pid", Input).display = True

    @staticmethod
    def _advice(state: LockState) -> str:
        if state.liveness == "running":
            return (
                "Releasing the lock of a RUNNING process lets two operators change the database "
                "at once: stop that process first if you can. To release it anyway, also type "
                "its pid below."
            )
        if state.liveness == "elsewhere":
            return "Release it only if you know that session is dead (ask its owner)."
        return "Its session is gone: releasing the lock is safe."

    def _problem(self) -> str | None:
        """Why the typed words do not allow the release yet (None when they do)."""
        state = self.state
        if state is None or state.holder is None:
            return "no lock is held"
        typed = self.query_one("#unlock-typed", Input).value
        if not typed.strip():
            return f"type {state.database_name} to release the lock"
        if not is_confirmed(typed, state.database_name):
            return f"✘ {typed!r} is not the database name: type {state.database_name} exactly"
        if state.liveness == "running":
            pid = self.query_one("#unlock-pid", Input).value.strip()
            if pid != str(state.holder.pid):
                return (
                    f"pid {state.holder.pid} is running: type {state.holder.pid} in the second "
                    "field to release its lock anyway"
                )
        return None

    @on(LockReleased)
    def _released(self, event: LockReleased) -> None:
        event.stop()
        self.notify("lock released (audited)", timeout=4, markup=False)
        if not event.left:
            self.dismiss(True)
            return
        self.done = True
        # Released, but its open of the tool's tables left an audit index unmade: said in the
        # dialog until the operator closes it (the dialog closed, and nothing said it).
        body = Text("✔ lock released (audited)\n", style="bold")
        body.append_text(lock_warnings(event.left))
        self.query_one("#unlock-body", Static).update(Hanging(body))
        for field in self.query(Input):
            field.display = False
        self.query_one("#unlock-why", Static).update("")
        self.query_one("#yes", KeyButton).display = False
        no = self.query_one("#no", Button)
        no.label = "Close (esc)"
        no.focus()

    @on(OperationFailed)
    def _failed(self, event: OperationFailed) -> None:
        event.stop()
        self.query_one(ErrorBox).show_failed(event)
        if self.state is None:  # the lock was not read: it said "reading the lock…" for good
            self.query_one("#unlock-body", Static).update(
                Text("✘ the lock could not be read (the error below): nothing was released",
                     style="bold")
            )  # fmt: skip
            self.query_one("#yes", KeyButton).show(why="blocked")
            self.query_one("#no", Button).focus()

    @on(Input.Changed)
    def _typed(self) -> None:
        self.query_one("#yes", Button).disabled = self._problem() is not None
        self.query_one("#unlock-why", Static).update("")

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        problem = self._problem()
        if problem is None:
            self._release()
            return
        self.query_one("#unlock-why", Static).update(Text(problem, style="bold"))
        if (
            event.input.id == "unlock-typed"
            and self.state is not None
            and self.state.liveness == "running"
            and event.value == self.state.database_name
        ):
            self.query_one("#unlock-pid", Input).focus()

    @on(Button.Pressed, "#yes")
    def _yes(self) -> None:
        if self._problem() is None:
            self._release()

    @on(Button.Pressed, "#no")
    def _no(self) -> None:
        self.dismiss(self.done)

    def action_cancel(self) -> None:
        self.dismiss(self.done)
