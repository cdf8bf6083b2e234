"""Fix in the console what the console shows: accept a drifted file (``repair``) or clear a
failed migration's row (``clear-failed``), each after its engine preflight, a typed
confirmation and an audited engine call that re-checks under the lock (the before-image of
every changed row goes to the audit log, as in the CLI)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Literal

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Input

from malnu_tui.engine.plan import is_confirmed
from malnu_tui.tui.host import begin_operation, end_operation
from malnu_tui.tui.messages import OperationFailed
from malnu_tui.tui.session import (
    connected,
    locks_left,
    looking,
    migration_set,
    reporting,
)
from malnu_tui.tui.widgets.dialog import DialogBox, FitScroll
from malnu_tui.tui.widgets.error_box import ErrorBox, lock_warnings, problem_text
from malnu_tui.tui.widgets.fields import Field
from malnu_tui.tui.widgets.hanging import Hanging
from malnu_tui.tui.widgets.key_button import KeyButton
from malnu_tui.tui.widgets.plain import Static

if TYPE_CHECKING:
    from malnu_tui.engine.config import Target
    from malnu_tui.engine.plan import Preflight

FixKind = Literal["repair", "clear-failed"]


def fix_preflight(target: Target, kind: FixKind, filename: str) -> Preflight:
    from malnu_tui.engine.preflight import preflight_clear_failed, preflight_repair

    with looking(target) as backend:
        if kind == "repair":
            return preflight_repair(backend, target, migration_set(target), [filename])
        return preflight_clear_failed(backend, target, filename)


def run_fix(target: Target, kind: FixKind, filename: str) -> str:
    from malnu_tui.engine.migrate import clear_failed, repair

    with connected(target) as backend:
        if kind == "repair":
            done = repair(backend, migration_set(target), [filename])
            return f"✔ accepted the edit of {', '.join(done)} (audited, with its before-image)"
        rec = clear_failed(backend, filename)
        return f"✔ cleared the failed row of {rec.filename} (audited, with its before-image)"


@dataclass
class FixChecked(Message):
    preflight: Preflight


@dataclass
class FixDone(Message):
    summary: str
    locks_left: tuple[str, ...] = ()


class FixScreen(ModalScreen[bool]):
    """One dialog for both fixes: what will change, any problem, the typed word, the run."""

    HELP_TITLE = "Repair / clear-failed dialog"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="fix.cancel"),
    ]

    def __init__(
        self, target: Target, kind: FixKind, filename: str, error: str | None = None
    ) -> None:
        super().__init__()
        self.target = target
        self.kind = kind
        self.filename = filename
        self.error = error  # what a failed migration failed with, as its row says
        self.word: str | None = None
        self.done = False  # the fix ran (closing refreshes the status screen)

    def compose(self) -> ComposeResult:
        title = (
            "Accept the edit of an applied file (repair)"
            if self.kind == "repair"
            else "Clear a failed migration (clear-failed)"
        )
        with DialogBox():
            yield Static(Text(title, style="bold"), classes="dialog-title")
            yield FitScroll("checking…", id="fix-body", classes="dialog-body")
            yield ErrorBox()
            # Said as what to do: without colour a placeholder reads as a value typed.
            yield Field(placeholder="type the database name here", id="fix-typed", disabled=True)
            yield Static("", id="fix-why")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel (esc)", id="no", compact=True)
                verb = "Accept edit" if self.kind == "repair" else "Clear row"
                # "(wait)" while checking, "(blocked)" until the word is typed (or for good).
                yield KeyButton(verb, id="yes", variant="error", disabled=True, why="wait")

    def on_mount(self) -> None:
        self._check()

    @work(thread=True, exclusive=True, group="fix")
    def _check(self) -> None:
        with reporting(self, "preflight"):
            self.post_message(FixChecked(fix_preflight(self.target, self.kind, self.filename)))

    @on(FixChecked)
    def _checked(self, event: FixChecked) -> None:
        event.stop()
        pf = event.preflight
        self.query_one("#yes", KeyButton).show(why="blocked")
        body = Text()
        if self.kind == "repair":
            for m in pf.rows:
                body.append(f"{m.filename}\n", style="bold")
                body.append(
                    f"  recorded checksum {m.recorded_checksum}\n  file now         {m.checksum}\n"
                )
                if m.recorded_filename:
                    body.append(f"  renamed since it ran: recorded as {m.recorded_filename}\n")
            if any(m.recorded_filename for m in pf.rows):
                body.append(
                    "The database keeps what ran; only the recorded name and checksum change, "
                    "so the renamed file is no longer drift (it is not run again).\n"
                )
            else:
                body.append(
                    "The database keeps what ran; only the recorded checksum changes, so the "
                    "edited file is no longer drift.\n"
                )
        else:
            body.append(f"{self.filename}\n", style="bold")
            if self.error:  # what is cleared: the dialog named the file alone
                body.append("  failed with: ", style="bold")
                body.append(f"{self.error}\n")
            body.append(
                'Its failed tracking row is deleted (the seed\'s "clear stuck migration"); the '
                "migration becomes pending and can be applied again.\n"
            )
        for p in pf.problems:
            mark = "✘ " if p.blocking else "⚠ "
            body.append(mark + problem_text(p) + "\n", style="bold" if p.blocking else "")
        if pf.blocking or (self.kind == "repair" and not pf.rows):
            if not pf.blocking:
                body.append("✔ nothing to repair: this file has not drifted.\n")
            self.query_one("#fix-body", Static).update(Hanging(body))
            self.query_one("#no", Button).focus()
            return
        self.word = pf.database_name
        body.append("Type ")
        body.append(pf.database_name, style="bold")
        body.append(" (the database name) to go on; the change is audited.")
        self.query_one("#fix-body", Static).update(Hanging(body))
        field = self.query_one("#fix-typed", Input)
        field.disabled = False
        field.focus()

    def _problem(self) -> str | None:
        if self.word is None:
            return "nothing can be done here"
        typed = self.query_one("#fix-typed", Input).value
        if not typed.strip():
            return f"type {self.word} to go on"
        if not is_confirmed(typed, self.word):
            return f"✘ {typed!r} is not the database name: type {self.word} exactly"
        return None

    @on(Input.Changed)
    def _typed(self) -> None:
        self.query_one("#yes", Button).disabled = self._problem() is not None
        self.query_one("#fix-why", Static).update("")

    @on(Input.Submitted)
    def _submitted(self) -> None:
        problem = self._problem()
        if problem is None:
            self._start()
        else:
            self.query_one("#fix-why", Static).update(Text(problem, style="bold"))

    @on(Button.Pressed, "#yes")
    def _yes(self) -> None:
        if self._problem() is None:
            self._start()

    def _start(self) -> None:
        if not begin_operation(self.app, self.kind):
            return
        yes = self.query_one("#yes", KeyButton)
        yes.show(why="wait")
        yes.disabled = True
        self.query_one("#fix-typed", Input).disabled = True
        self._run()

    @work(thread=True, exclusive=True, group="fix")
    def _run(self) -> None:
        try:
            with reporting(self, self.kind):
                summary = run_fix(self.target, self.kind, self.filename)
                self.post_message(FixDone(summary, locks_left()))
        finally:
            self.app.call_from_thread(end_operation, self.app)

    @on(FixDone)
    def _done(self, event: FixDone) -> None:
        event.stop()
        self.notify(event.summary, timeout=6, markup=False)
        if not event.locks_left:
            self.dismiss(True)
            return
        # Done, but its lock row stayed: said in the dialog until the operator closes it (a
        # toast alone went by, and the operator believed the lock released).
        self.done = True
        body = Text(f"{event.summary}\n", style="bold")
        body.append_text(lock_warnings(event.locks_left))
        self.query_one("#fix-body", Static).update(Hanging(body))
        self.query_one("#yes", KeyButton).display = False
        no = self.query_one("#no", Button)
        no.label = "Close (esc)"
        no.focus()

    @on(OperationFailed)
    def _failed(self, event: OperationFailed) -> None:
        event.stop()
        self.query_one(ErrorBox).show_failed(event)
        if self.word is None:  # the check itself failed: it said "checking…" for good
            self.query_one("#fix-body", Static).update(
                Text("✘ not checked (the error below): nothing was changed", style="bold")
            )
        self.query_one("#yes", KeyButton).show(why="failed" if self.word else "blocked")
        self.query_one("#no", Button).focus()  # Enter closes; nothing else can go on

    @on(Button.Pressed, "#no")
    def _no(self) -> None:
        self.dismiss(self.done)

    def action_cancel(self) -> None:
        self.dismiss(self.done)
