"""What every wizard shares: one step at a time, Back and Cancel on every step before the
point of no return, Next only when the step allows it, and nothing starts twice."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container, Horizontal
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Button, ContentSwitcher, Footer, Input

from malnu_tui.tui.host import begin_operation, end_operation
from malnu_tui.tui.messages import LocksLeft, OperationFailed, StatementProgress
from malnu_tui.tui.screens.confirm import StopConfirm
from malnu_tui.tui.widgets.dialog import page_text, refit
from malnu_tui.tui.widgets.error_box import ErrorBox, lock_warnings, outcome
from malnu_tui.tui.widgets.header import AppHeader
from malnu_tui.tui.widgets.key_button import KeyButton
from malnu_tui.tui.widgets.plain import Static
from malnu_tui.tui.widgets.progress import OperationProgress
from malnu_tui.tui.widgets.step_header import StepHeader
from malnu_tui.tui.widgets.typed_confirm import TypedConfirmation

if TYPE_CHECKING:
    pass


def warn_unreleased(text: Text, verb: str, warnings: Sequence[str]) -> None:
    """A run that was done, but whose lock could not be released (a full disk, a database kept
    busy): said as the CLI says it (``warning: the migrations are applied, but: …``), after
    the run's ✔ line. The console showed a plain success."""
    for w in warnings:
        text.append(f"⚠ warning: the migrations are {verb}, but: {w}\n", style="bold yellow")


LOADING = "loading…"  # why Next waits while a step starts


class WizardScreen(Screen[str | None]):
    """Subclasses set ``WIZARD_TITLE`` and ``STEPS`` ((id, title) pairs) and implement
    :meth:`compose_steps` (one container per step id) and :meth:`enter_step`."""

    WIZARD_TITLE: ClassVar[str] = "wizard"
    STEPS: ClassVar[tuple[tuple[str, str], ...]] = ()
    # Steps from which there is no way back (the run and what follows).
    NO_RETURN_FROM: ClassVar[str] = ""
    # Each step focuses what it needs; a hidden step's field must never get the keys.
    AUTO_FOCUS: ClassVar[str | None] = ""
    # Steps whose worker only reads (a plan, a preview): Cancel stays possible while it works
    # and the answer is dropped (a D1 or a server that does not answer held the operator in
    # the wizard for its whole timeout, with no key but quitting the console).
    READ_STEPS: ClassVar[frozenset[str]] = frozenset()
    # The step whose work the stop key stops (asks first): the engine rolls the step in
    # progress back, as on the CLI's Ctrl-C. Only q and ctrl+c were there, which explained.
    STOP_STEP: ClassVar[str] = ""
    STOP_DIRECTION: ClassVar[str] = "applied"

    HELP_TITLE = "Wizards (every one)"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="wizard.cancel"),
        # The same key once the wizard is done: the footer says what its button says.
        Binding("escape", "close", "Close", id="wizard.close"),
        Binding("b,ctrl+b", "back", "Back", id="wizard.back"),
        Binding("n", "next", "Next", id="wizard.next"),
        # With Next blocked nothing is focused, so Enter never presses Cancel by accident:
        # it says why the wizard cannot go on.
        Binding("enter", "why_blocked", "Why not?", show=False, id="wizard.why"),
        # Shown only while a run that can be stopped works (ctrl+c there asks to stop).
        Binding("ctrl+c", "stop_run", "Stop", priority=True, id="wizard.stop"),
        # A confirmation's list taller than the screen scrolls; the field keeps the focus.
        Binding("pageup", "page_text(-1)", "Scroll the text up", show=False, id="wizard.page_up"),
        Binding(
            "pagedown", "page_text(1)", "Scroll the text down", show=False, id="wizard.page_down"
        ),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.index = 0
        self.working = False  # a step's worker is running
        self.blocked: str | None = LOADING  # why Next is not possible, None when it is
        self.finished = False
        self.last_error: str | None = None
        self._typed_label: str | None = None  # Next's label while a typed confirmation asks
        self._next_label = "Next ▶ (n)"  # as the step set it; shown with the key that works
        self._typing = False  # a field has the keys: b and n are letters typed there
        self._cancel_asked = False  # esc said what cancelling would drop (typed_input)
        self.stopping = False  # the stop key was confirmed: the run is being rolled back
        # The stop key was pressed during this run: a ctrl+c after the run ended was meant for
        # its question (gone with the run, or answered as the run ended), not to quit the app.
        self.stop_asked = False

    # -- layout -------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield AppHeader()
        yield StepHeader(self.WIZARD_TITLE, tuple(t for _, t in self.STEPS))
        yield ErrorBox(id="wizard-error")
        with ContentSwitcher(initial=self.STEPS[0][0], id="steps"):
            yield from self.compose_steps()
        with Horizontal(id="wizard-nav"):
            yield KeyButton("◀ Back (b)", id="back")
            yield KeyButton("Cancel (esc)", id="cancel", variant="error")
            yield KeyButton("Next ▶ (n)", id="next", variant="primary")
        yield Footer(compact=True)

    def compose_steps(self) -> Iterable[Widget]:
        """One container per step, ids as in STEPS; every wizard defines its own."""
        raise TypeError(f"{type(self).__name__} must define compose_steps()")

    def on_mount(self) -> None:
        self.go(0)

    # -- state --------------------------------------------------------------------------------
    @property
    def step(self) -> str:
        return self.STEPS[self.index][0]

    def step_index(self, step: str) -> int:
        return [s for s, _ in self.STEPS].index(step)

    @property
    def past_no_return(self) -> bool:
        return bool(self.NO_RETURN_FROM) and self.index >= self.step_index(self.NO_RETURN_FROM)

    def go(self, index: int) -> None:
        self.index = index
        self._cancel_asked = False
        self.query_one("#wizard-error", ErrorBox).clear()
        self.query_one(ContentSwitcher).current = self.step
        self.query_one(StepHeader).show_step(index)
        self.blocked = LOADING
        self._typed_label = None
        self.set_focus(None)  # a widget of the previous step must not keep the keys
        self.enter_step(self.step)
        self.refit_step()
        self.update_nav()
        self._focus_nav()

    def _focus_nav(self) -> None:
        # After pending focus changes of the step have happened.
        self.call_after_refresh(self._focus_nav_now)

    def _focus_nav_now(self) -> None:
        """With nothing of the step focused, Enter goes to Next when Next is possible (Close
        when the wizard is done), and to no button at all otherwise: Enter on a blocked step
        must never press Cancel."""
        focused = self.focused
        if focused is not None and not isinstance(focused, Button):
            return
        nxt = self.query_one("#next", Button)
        if nxt.display and not nxt.disabled:
            nxt.focus()
        elif self.finished:
            self.query_one("#cancel", Button).focus()
        else:
            self.set_focus(None)

    def enter_step(self, step: str) -> None:
        """Start the step: load what it shows (in a worker) and call :meth:`allow_next`."""

    def allow_next(self, blocked: str | None = None, *, label: str | None = None) -> None:
        """Enable Next (``blocked`` None) or disable it saying why."""
        self.blocked = blocked
        if label is not None:
            self.set_next_label(label)
        self.update_nav()
        self._focus_nav()

    def set_next_label(self, label: str) -> None:
        """Next's label ("Preview ▶ (n)"), naming the key that works now: in a field (a path,
        a time, N) n is a letter typed and Enter goes on, so it says "(enter)" there."""
        self._next_label = label
        self._label_nav()

    def _label_nav(self) -> None:
        """The buttons name the key that presses them now (in a field b and n are letters typed:
        ctrl+b, as the footer's "^b", goes back and Enter goes on); one shown but not pressable
        now names why instead: "(wait)" while the step works, "(blocked)" until the step
        allows it (Enter says why)."""
        back = self.query_one("#back", KeyButton)
        cancel = self.query_one("#cancel", KeyButton)
        nxt = self.query_one("#next", KeyButton)
        # A click on a button focuses it first: its label keeps the keys of the field it was
        # clicked from, so that it neither shrinks nor moves away under the pointer.
        if self.focused not in (back, cancel, nxt):
            self._typing = isinstance(self.focused, Input)
        typing = self._typing
        why = "wait" if self.working or self.blocked == LOADING else "blocked"
        back.show("◀ Back (^b)" if typing else "◀ Back (b)", why)
        cancel.show("Close (esc)" if self.finished else "Cancel (esc)", why)
        nxt.show(self._next_label.replace("(n)", "(enter)") if typing else self._next_label, why)

    def set_working(self, working: bool) -> None:
        self.working = working
        if working:
            self.stop_asked = False
        if not working:
            self.stopping = False
            screen = self.app.screen
            if isinstance(screen, StopConfirm) and screen.owner is self:  # (ended meanwhile)
                screen.dismiss(None)
                self.notify("the run ended before the stop was confirmed", timeout=5)
        self.update_nav()
        self._focus_nav()

    def update_nav(self) -> None:
        back = self.query_one("#back", Button)
        cancel = self.query_one("#cancel", Button)
        nxt = self.query_one("#next", Button)
        back.disabled = not self.check_back()
        cancel.disabled = not self.check_cancel()
        nxt.disabled = not self.check_next()
        # A button that cannot be pressed anywhere on this step is not shown (greyed, it read as
        # usable without colour): Back on the first step and past the point of no return,
        # Cancel past it until the wizard is done (then it is Close), Next once it is.
        nxt.display = not self.finished
        back.display = self.index > 0 and not self.past_no_return
        cancel.display = self.finished or not self.past_no_return
        self._label_nav()
        self.refresh_bindings()

    def check_back(self) -> bool:
        return self.index > 0 and not self.working and not self.past_no_return

    def check_cancel(self) -> bool:
        if self.finished:
            return True
        return not self.past_no_return and (not self.working or self.step in self.READ_STEPS)

    def check_next(self) -> bool:
        return not self.working and self.blocked is None and not self.finished

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # False hides the key from the footer: only the keys valid on this step are shown
        # (no "esc Cancel b Back n Next" while a run cannot be interrupted).
        if action == "back":
            return self.check_back()
        if action == "cancel":
            return self.check_cancel() and not self.finished
        if action == "close":
            return self.finished
        if action == "next":
            return self.check_next()
        if action == "why_blocked":
            return not self.finished
        if action == "stop_run":
            return self.can_stop()
        return True

    def can_stop(self) -> bool:
        """The stop key may stop the work now: the run step works and was not stopped yet."""
        return bool(self.STOP_STEP) and self.step == self.STOP_STEP and self.working

    def action_stop_run(self) -> None:
        """Ask, then stop the run as the CLI's Ctrl-C does (SIGINT's KeyboardInterrupt raised
        in this screen's worker alone, its SQLite statement interrupted or its PostgreSQL one
        cancelled); the engine rolls the step back, records the run and releases the lock."""
        if not self.can_stop():
            return
        if self.stopping:
            self.notify("stopping: the step in progress is being rolled back…", timeout=5)
            return
        target = getattr(self, "target", None)
        kind = str(getattr(target, "kind", ""))

        def answered(yes: bool | None) -> None:
            if yes is False:  # (kept running: esc or n; None: the run ended under it)
                self.stop_asked = False
            if not yes:
                return
            if not self.can_stop():
                self.notify("the run had already ended: nothing was stopped", timeout=5)
                return
            import signal

            from malnu_tui.engine.interrupts import stop_workers

            self.stopping = True
            stop_workers(signal.SIGINT, owner=self)
            for progress in self.query(OperationProgress):
                progress.caption("stopping: rolling back the step in progress…")
            self.refresh_bindings()

        self.stop_asked = True
        self.app.push_screen(StopConfirm(self, kind, self.STOP_DIRECTION), answered)

    # -- actions ------------------------------------------------------------------------------
    def action_back(self) -> None:
        if self.check_back():
            self.go(self.index - 1)

    def action_cancel(self) -> None:
        if not self.check_cancel():
            return
        typed = [] if self.finished else self.typed_input()
        if typed and not self._cancel_asked:
            # Said, not done: esc pressed to go back dropped every field typed (an import's
            # file, table, mapping, key…) with nothing said. A second esc cancels.
            self._cancel_asked = True
            back = "" if self.index == 0 else "; b goes back to it"
            self.notify(
                f"esc again cancels and drops what you typed ({', '.join(typed)}){back}",
                severity="warning",
                timeout=6,
                markup=False,
            )
            return
        self.dismiss(None)

    def typed_input(self) -> list[str]:
        """What the operator typed that Cancel would drop (the fields' labels), the typed
        confirmation aside; asked before cancelling. None by default."""
        return []

    @on(Input.Changed)
    def _typed_again(self) -> None:
        self._cancel_asked = False

    def action_close(self) -> None:
        if self.finished:
            self.dismiss(None)

    def action_next(self) -> None:
        if self.check_next() and self.leave_step(self.step):
            self.go(self.index + 1)

    def refit_step(self) -> None:
        """After the step's text changed: its :class:`FitScroll` fits, or shrinks and scrolls
        so that what follows it (the SQL, the field) stays on screen."""
        refit(self.query_one(f"#{self.step}", StepPane))

    def action_page_text(self, direction: int) -> None:
        page_text(self.query_one(f"#{self.step}", StepPane), direction)

    def action_why_blocked(self) -> None:
        if self.check_next():
            self.action_next()
        elif self.working:
            self.notify("still working on this step…", timeout=3, markup=False)
        elif self.blocked:
            self.notify(
                f"cannot go on: {self.blocked}", severity="warning", timeout=5, markup=False
            )

    # -- the typed confirmation of a destructive wizard ----------------------------------------
    def ask_typed(self, word: str, purpose: str, label: str) -> None:
        """The step's :class:`TypedConfirmation` asks for ``word`` (the engine's
        ``confirmation_word``) to ``purpose``; Next (``label``) stays blocked until it is typed,
        Enter on it goes on, Enter on an empty or wrong word only says why, esc cancels."""
        typed = self.query_one(f"#{self.step} TypedConfirmation", TypedConfirmation)
        typed.ask(word, purpose)
        typed.focus_field()
        self._typed_label = label
        self.allow_next(f"type {word} to confirm", label=label)

    @on(TypedConfirmation.Changed)
    def _typed_changed(self, event: TypedConfirmation.Changed) -> None:
        event.stop()
        label = self._typed_label
        if label is None:  # not (or no longer) on the step that asked
            return
        if event.ok:
            self.allow_next(label=label)
        else:
            self.allow_next(f"type {event.confirmation.word} to confirm", label=label)

    @on(TypedConfirmation.Confirmed)
    def _typed_confirmed(self, event: TypedConfirmation.Confirmed) -> None:
        event.stop()
        if self._typed_label is not None:
            self.action_next()

    def leave_step(self, step: str) -> bool:
        """Validate before moving on; False stays on the step."""
        return True

    def finish(self) -> None:
        """The wizard is done: only Close remains."""
        self.finished = True
        self.update_nav()
        self.query_one("#cancel", Button).focus()

    @on(events.DescendantFocus)
    @on(events.DescendantBlur)
    def _back_key(self) -> None:
        """Back's and Next's buttons name the keys that work now: in a field (the typed
        confirmation, a path) b and n are letters typed, ctrl+b (^b, as the footer writes it)
        goes back and Enter goes on."""
        self._label_nav()

    @on(Button.Pressed, "#back")
    def _back(self) -> None:
        self.action_back()

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.action_cancel()

    @on(Button.Pressed, "#next")
    def _next(self) -> None:
        self.action_next()

    @on(OperationFailed)
    def _failed(self, event: OperationFailed) -> None:
        event.stop()
        self.last_error = event.message
        self.query_one("#wizard-error", ErrorBox).show_failed(event)
        # The step's progress stops saying "running for 0:37 — still working" under the
        # error (a restore's verify of a backup pruned meanwhile ticked on for good).
        for progress in self.query_one(f"#{self.step}", StepPane).query(OperationProgress):
            if progress.running:
                progress.fail(f"✘ {event.what} {outcome(event.refused)}: see the error above")
        self.step_failed(event.what)

    @on(LocksLeft)
    def _locks_left(self, event: LocksLeft) -> None:
        """Done, but its lock row stayed (D1 unreachable as it was released): said on the
        result, as the CLI's ``warning:`` lines say it."""
        event.stop()
        pane = self.query_one(f"#{self.step}", StepPane)
        pane.mount(Static(lock_warnings(event.lines), classes="locks-left"))

    @on(StatementProgress)
    def _statement(self, event: StatementProgress) -> None:
        """Long work looks alive: the running step says which statement it is on."""
        event.stop()
        for progress in self.query(OperationProgress):
            progress.show_statement(event.filename, event.index, event.total)

    def app_begin(self, name: str) -> bool:
        return begin_operation(self.app, name)

    def app_end(self) -> None:
        end_operation(self.app)

    def show_error(self, message: str, hint: str = "", *, what: str = "") -> None:
        """What the step refuses to go on with (bad input, nothing to do, a backup that
        failed its verify: ``what``), said as a worker's failure is."""
        self.query_one("#wizard-error", ErrorBox).show_error(
            message, hint, what=what, refused=not what
        )

    def step_failed(self, what: str) -> None:
        """A worker failed; by default the step stays, with Next blocked."""
        self.set_working(False)
        self.allow_next(f"{what} failed")


class StepPane(Container):
    """One step's content. When it overflows, its :class:`FitScroll` (a confirmation's list of
    what will run) shrinks and scrolls, so that the typed field below stays on screen."""

    DEFAULT_CLASSES = "step"

    def on_resize(self, event: events.Resize) -> None:
        refit(self)
