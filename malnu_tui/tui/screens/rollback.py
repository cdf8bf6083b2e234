"""The emergency rollback wizard, the 2 a.m. screen: how far → preview with every
precondition (the engine's preflight) → typed confirmation → run (lock, re-check, safety
backup, rollback files) → verification → summary."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widget import Widget
from textual.widgets import (
    Button,
    DataTable,
    Input,
    Label,
    RadioButton,
    RadioSet,
    Static,
    TextArea,
)

from malnu_tui.engine.migrate import (
    ApplyResult,
    MigrationStatus,
    Plan,
    StatusReport,
)
from malnu_tui.engine.status import applied_newest_first
from malnu_tui.tui.messages import BackupProgress
from malnu_tui.tui.messages import OperationProgress as ProgressMessage
from malnu_tui.tui.screens.rollback_preview import (
    RollbackChoice,
    RollbackPreview,
    choice_line,
    edited_sums_text,
    preconditions_sentence,
    preview_rollback,
)
from malnu_tui.tui.screens.rollback_report import summary_text, verify_text
from malnu_tui.tui.screens.wizard import StepPane, WizardScreen
from malnu_tui.tui.session import (
    RunOutcome,
    load_status,
    reporting,
    run_confirmed,
)
from malnu_tui.tui.widgets.choice import ChoiceButton
from malnu_tui.tui.widgets.dialog import FitScroll
from malnu_tui.tui.widgets.fields import Field, SqlText
from malnu_tui.tui.widgets.hanging import Hanging
from malnu_tui.tui.widgets.migration_table import MigrationTable, elide_middle
from malnu_tui.tui.widgets.progress import OperationProgress
from malnu_tui.tui.widgets.state import state_text
from malnu_tui.tui.widgets.typed_confirm import TypedConfirmation

if TYPE_CHECKING:
    from malnu_tui.engine.config import Target
    from malnu_tui.engine.files import MigrationSet


@dataclass
class RollbackStatusRead(Message):
    report: StatusReport


@dataclass
class RollbackPreviewed(Message):
    preview: RollbackPreview


@dataclass
class RollbackFinished(Message):
    outcome: RunOutcome


class RollbackWizard(WizardScreen):
    """Undo the newest migrations, calmly, one step per screen."""

    WIZARD_TITLE: ClassVar[str] = "Emergency rollback"
    HELP_TITLE = "Emergency rollback wizard"  # its `a` is its own, not every wizard's
    STEPS: ClassVar[tuple[tuple[str, str], ...]] = (
        ("how-far", "How far"),
        ("preview", "Preview"),
        ("confirm", "Confirm"),
        ("run", "Run"),
        ("verify", "Verification"),
        ("summary", "Summary"),
    )
    NO_RETURN_FROM: ClassVar[str] = "run"
    STOP_STEP: ClassVar[str] = "run"  # (ctrl+c asks, then rolls the step in progress back)
    STOP_DIRECTION: ClassVar[str] = "rolled back"
    READ_STEPS: ClassVar[frozenset[str]] = frozenset({"how-far", "preview"})
    BINDINGS: ClassVar[list[BindingType]] = [
        # Offered (and in the footer) only when rollback files edited since their migration
        # was applied are all that blocks: `rollback --accept-edited-rollback`, audited.
        Binding("a", "accept_edited", "Accept edited", id="rollback.accept_edited"),
    ]

    def __init__(self, target: Target, report: StatusReport | None = None) -> None:
        super().__init__()
        self.target = target
        self.backup_id: str | None = None
        self.report: StatusReport | None = report  # the status screen's, reused when given
        self.applied: list[MigrationStatus] = []
        self.choice = RollbackChoice("last")
        self.mode = "mode-last"  # the pressed radio button
        self.preview: RollbackPreview | None = None
        self.result: ApplyResult | None = None
        self.run_error: str | None = None
        self.outcome: RunOutcome | None = None
        self.accept_edited = False  # the operator accepted edited rollback files (audited)

    # -- layout -------------------------------------------------------------------------------
    def compose_steps(self) -> Iterable[Widget]:
        with StepPane(id="how-far"):
            yield Static("", id="how-far-intro", classes="intro")
            with RadioSet(id="mode"):
                yield ChoiceButton("the last migration only", value=True, id="mode-last")
                yield ChoiceButton("the last N migrations:", id="mode-steps")
                yield ChoiceButton("back to the version selected below (kept)", id="mode-to")
            yield Field(placeholder="N", type="integer", id="steps-input", compact=True)
            yield Static("", id="how-far-choice")
            yield Label("applied migrations, newest first:", classes="dim")
            yield MigrationTable(id="applied-table")
        with StepPane(id="preview"):
            yield Static("", id="preview-intro", classes="intro")
            yield DataTable(id="preview-table", cursor_type="row")
            yield FitScroll("", id="preconditions", classes="preconditions")
            yield Button(
                "Accept the edited rollback file(s) as they are now (audited) (a)",
                id="accept-edited",
                compact=True,
            )
            yield SqlText(
                "", language="sql", read_only=True, id="preview-sql", show_line_numbers=True
            )
        with StepPane(id="confirm"):
            yield FitScroll("", id="confirm-text", classes="intro")
            yield TypedConfirmation(id="rollback-typed", field_id="confirm-input")
        with StepPane(id="run"):
            yield OperationProgress(id="run-progress")
        with StepPane(id="verify"):
            yield Static("", id="verify-text", classes="intro")
            yield MigrationTable(id="verify-table")
        with StepPane(id="summary"):
            yield Static("", id="summary-text", classes="intro")

    # -- steps --------------------------------------------------------------------------------
    def enter_step(self, step: str) -> None:
        self.set_next_label("Next ▶ (n)")
        if step == "how-far":
            self.query_one("#how-far-intro", Static).update(
                f"Roll back {self.target.name} ({self.target.display_url}). How far?"
            )
            if self.report is None:
                self.set_working(True)
                self._load_applied()
            else:
                self._show_applied()
            self.query_one(RadioSet).focus()
        elif step == "preview":
            self.query_one("#preview-intro", Static).update(
                Text(f"Checking: {self.choice.describe()}…", style="italic")
            )
            self.query_one("#preview-table", DataTable).clear(columns=True)
            self.query_one("#preconditions", Static).update("")
            self.query_one("#preview-sql", TextArea).load_text("")
            self.query_one("#accept-edited", Button).display = False
            self.set_working(True)
            self._preview(self.choice, self.accept_edited)
        elif step == "confirm":
            self._show_confirm()
        elif step == "run":
            self._start_run()
        elif step == "verify":
            self._show_verify()
        elif step == "summary":
            self._show_summary()
            self.finish()

    def leave_step(self, step: str) -> bool:
        if step == "how-far":
            choice = self._read_choice()
            if choice is None:
                return False
            self.choice = choice
            self.accept_edited = False  # accepted for the files seen, not for another choice
        return True

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "accept_edited":
            return self._can_accept()
        return super().check_action(action, parameters)

    def _can_accept(self) -> bool:
        p = self.preview
        return (
            self.step == "preview"
            and not self.working
            and p is not None
            and not self.accept_edited
            and p.edited_acceptable
        )

    @on(Button.Pressed, "#accept-edited")
    def action_accept_edited(self) -> None:
        """Run the edited rollback files as they are now: previewed again with them accepted
        (both checksums stay on screen), then the usual typed confirmation."""
        if self._can_accept():
            self.accept_edited = True
            self.go(self.step_index("preview"))

    # -- how far ------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="rollback-status")
    def _load_applied(self) -> None:
        with reporting(self, "status"):
            report, _mset = load_status(self.target)
            self.post_message(RollbackStatusRead(report))

    def _show_applied(self) -> None:
        assert self.report is not None
        self.applied = applied_newest_first(self.report)
        self.query_one("#applied-table", MigrationTable).show_rows(self.applied)
        self._show_choice()
        if not self.applied:
            self.allow_next("nothing is applied: nothing to roll back")
            self.show_error(
                "nothing is applied on this database: there is nothing to roll back",
                "Cancel (esc) returns to the status screen",
            )
        else:
            self.allow_next()

    def _read_choice(self) -> RollbackChoice | None:
        mode = self.mode
        if mode == "mode-steps":
            text = self.query_one("#steps-input", Input).value.strip()
            if not text.isdigit() or int(text) < 1:
                self.show_error(f"N must be a whole number of 1 or more, not {text!r}")
                return None
            if int(text) > len(self.applied):
                self.show_error(
                    f"only {len(self.applied)} migration(s) are applied; N = {text} is too many"
                )
                return None
            return RollbackChoice("steps", steps=int(text))
        if mode == "mode-to":
            table = self.query_one("#applied-table", MigrationTable)
            if not self.applied:
                return None
            row = min(max(table.cursor_row, 0), len(self.applied) - 1)
            return RollbackChoice("to", to=self.applied[row].version)
        return RollbackChoice("last")

    @on(Input.Submitted, "#steps-input")
    def _steps_submitted(self) -> None:
        self.action_next()

    @on(Input.Changed, "#steps-input")
    def _steps_typed(self, event: Input.Changed) -> None:
        if event.value and event.input.has_focus:
            self._choose("mode-steps")
        self._show_choice()

    @on(MigrationTable.Highlighted, "#applied-table")
    def _version_highlighted(self) -> None:
        if self.query_one("#applied-table", MigrationTable).has_focus:
            self._choose("mode-to")
        self._show_choice()

    @on(MigrationTable.Selected, "#applied-table")
    def _version_selected(self) -> None:
        self._choose("mode-to")
        self.action_next()

    @on(RadioSet.Changed)
    def _mode_changed(self, event: RadioSet.Changed) -> None:
        self.mode = event.pressed.id or "mode-last"
        self._show_choice()

    def _show_choice(self) -> None:
        """What the choice rolls back and keeps, in words: the version picked in the table
        was marked by the cursor's colour alone (with NO_COLOR, or in mono, not at all)."""
        count: int | None = 1
        if self.mode == "mode-steps":
            text = self.query_one("#steps-input", Input).value.strip()
            ok = text.isdigit() and 1 <= int(text) <= len(self.applied)
            count = int(text) if ok else None
        elif self.mode == "mode-to":
            row = self.query_one("#applied-table", MigrationTable).cursor_row
            count = min(max(row, 0), max(len(self.applied) - 1, 0))
        versions = [m.version for m in self.applied]
        self.query_one("#how-far-choice", Static).update(Text(choice_line(versions, count)))

    def _choose(self, mode: str) -> None:
        self.mode = mode
        self.query_one(f"#{mode}", RadioButton).value = True

    # -- preview ------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="rollback-preview")
    def _preview(self, choice: RollbackChoice, accept_edited: bool) -> None:
        with reporting(self, "preview"):
            preview = preview_rollback(self.target, choice, accept_edited=accept_edited)
            self.post_message(RollbackPreviewed(preview))

    def _show_preview(self, p: RollbackPreview) -> None:
        self.preview = p
        n = len(p.plan.steps) if p.plan else len(p.rows)
        self.query_one("#preview-intro", Static).update(
            Text.assemble(
                ("Will run ", ""),
                (f"{n} rollback file(s)", "bold"),
                (f" on {p.database_name}, newest first ({p.choice.describe()}):", ""),
            )
        )
        table = self.query_one("#preview-table", DataTable)
        table.clear(columns=True)
        table.add_columns("#", "version", "state", "rollback file (runs in this order)")
        # File names are elided in the middle to fit: "rollback" is never cut to "ro".
        room = max(16, self.app.size.width - 46)
        for i, m in enumerate(p.rows, 1):
            table.add_row(
                str(i),
                m.version,
                state_text(m.state),
                elide_middle(m.rollback_file, room)
                if m.rollback_file
                else Text("✘ MISSING", style="bold red"),
            )
        checks = self.query_one("#preconditions", Static)
        if p.problems:
            text = Text()
            text.append("✘ cannot proceed:\n", style="bold red")
            for problem in p.problems:
                text.append(f"  ✘ {problem}\n")
        else:
            text = Text(preconditions_sentence(p.preflight) + "\n", style="green")
        for notice in p.notices:
            text.append(f"  ⚠ {notice}\n", style="yellow")
        for stake in p.stakes:
            if stake.at_risk:
                text.append(f"  ⚠ {stake.file}: {stake.describe()}\n", style="bold yellow")
            else:
                text.append(f"  · {stake.file}: {stake.describe()}\n")
        for warning in p.plan.warnings if p.plan else ():  # e.g. a rollback undoing nothing
            text.append(f"  ⚠ {warning}\n", style="yellow")
        # Blocked by what only a fix outside the console lifts (a lock, a missing file): the
        # problems take the room of the SQL, which runs only once they are gone. At 80×24 two
        # problems scrolled beside it, the second one and its way out below the edge.
        # (Edited files keep their SQL: it is what the operator reads before accepting it.)
        hide_sql = bool(p.problems) and not p.edited_acceptable
        if hide_sql:
            text.append("  (the rollback SQL is shown once nothing blocks it)\n", style="dim")
        text.append_text(self._edited_text(p))
        text.rstrip()  # no blank last line: at 80×24 it pushed the box's edge out of its room
        checks.update(Hanging(text))  # a problem's second line under its first
        self.query_one("#preview-sql", TextArea).display = not hide_sql
        self.query_one("#accept-edited", Button).display = self._can_accept()
        checks.set_class(bool(p.problems), "problems")
        self.refit_step()  # 15 DROPs and their rows: they scroll, the SQL stays below
        if p.problems:
            # Nothing is focused: Enter must not press Cancel (esc is the way out).
            self.allow_next("a precondition does not hold")
        else:
            self.allow_next(label="Confirm ▶ (n)")
        nothing = "-- nothing can run until the problems above are fixed\n"
        self.query_one("#preview-sql", TextArea).load_text(p.plan.sql_text() if p.plan else nothing)

    def _edited_text(self, p: RollbackPreview) -> Text:
        """Each edited rollback file with both checksums, and the way to accept them."""
        text = edited_sums_text(p.edited_sums(), self.accept_edited)
        if self._can_accept():
            text.append(
                "Press a to run them as they are now (audited), or restore the reviewed "
                "file(s) and go back (b).\n",
                style="bold yellow",
            )
        return text

    # -- confirm ------------------------------------------------------------------------------
    def _show_confirm(self) -> None:
        p = self.preview
        assert p is not None and p.plan is not None
        text = Text()
        text.append("About to roll back ", style="")
        text.append(f"{len(p.plan.steps)} migration(s)", style="bold")
        text.append(f" on {self.target.display_url}:\n")
        for s in p.plan.steps:
            text.append(f"  ↶ {s.filename}  ← {s.file.name}\n")
        for stake in p.stakes:
            if stake.at_risk:
                text.append(f"  ⚠ {stake.describe()}\n", style="bold yellow")
        for name, _now, _recorded in p.edited_sums() if self.accept_edited else ():
            text.append(f"  ⚠ {name}: edited since applied, accepted (audited)\n", style="bold")
        text.append(
            "After you confirm: the lock is taken, the plan checked again, and a safety "
            "backup of the whole database taken before anything changes.\n"
        )
        self.query_one("#confirm-text", Static).update(Hanging(text))
        n = len(p.plan.steps)
        where = self.target.display_url.rsplit("/", 1)[-1]
        self.ask_typed(
            p.database_name,
            f"roll back {n} migration{'' if n == 1 else 's'} on {where}",
            label="Roll back ▶",
        )

    # -- run ----------------------------------------------------------------------------------
    def _start_run(self) -> None:
        p = self.preview
        assert p is not None and p.plan is not None
        if not self.app_begin("rollback"):
            self.go(self.step_index("confirm"))
            return
        progress = self.query_one("#run-progress", OperationProgress)
        progress.reset(f"rolling back {len(p.plan.steps)} migration(s)…", len(p.plan.steps))
        self.set_working(True)
        self._run(p.mset, p.plan, self.accept_edited)

    @work(thread=True, exclusive=True, group="rollback-run")
    def _run(self, mset: MigrationSet, plan: Plan, accept_edited: bool) -> None:
        with reporting(self, "run"):
            outcome = run_confirmed(
                self.target, mset, plan, self, accept_edited_rollback=accept_edited
            )
            self.post_message(RollbackFinished(outcome))

    @on(ProgressMessage)
    def _progress(self, event: ProgressMessage) -> None:
        p = event.progress
        if p.event == "backup":
            self.query_one("#run-progress", OperationProgress).caption(
                "taking the safety backup (under the lock, after your confirmation)…"
            )
            return
        self.query_one("#run-progress", OperationProgress).show_event(p, "rolling back")

    @on(BackupProgress)
    def _backup_progress(self, event: BackupProgress) -> None:
        if event.message:  # (one without a message only moves a bar)
            self.query_one("#run-progress", OperationProgress).log_line(
                f"safety backup: {event.message}"
            )

    # -- verify and summary (their words: rollback_report.py) --------------------------------
    def _show_verify(self) -> None:
        o = self.outcome
        planned = (
            [s.filename for s in self.preview.plan.steps]
            if self.preview and self.preview.plan
            else []
        )
        self.query_one("#verify-text", Static).update(verify_text(o, self.run_error, planned))
        if o is not None and o.after is not None:
            self.query_one("#verify-table", MigrationTable).show(o.after.report, None)
        self.allow_next(label="Summary ▶ (n)")

    def _show_summary(self) -> None:
        text = summary_text(
            self.target.display_url, self.result, self.outcome, self.run_error, self.backup_id
        )
        self.query_one("#summary-text", Static).update(text)

    # -- worker results -----------------------------------------------------------------------
    @on(RollbackStatusRead)
    def _status_read(self, event: RollbackStatusRead) -> None:
        event.stop()
        self.set_working(False)
        self.report = event.report
        self._show_applied()

    @on(RollbackPreviewed)
    def _previewed(self, event: RollbackPreviewed) -> None:
        event.stop()
        self.set_working(False)
        self._show_preview(event.preview)

    @on(RollbackFinished)
    def _finished(self, event: RollbackFinished) -> None:
        event.stop()
        self.set_working(False)
        self.app_end()
        o = self.outcome = event.outcome
        self.result = o.result
        self.backup_id = o.result.backup_id if o.result else None
        progress = self.query_one("#run-progress", OperationProgress)
        if o.result is not None:
            progress.finish(f"✔ rolled back {len(o.result.done)} migration(s)")
        else:
            self.run_error = o.error
            progress.caption(f"✘ {o.error}")
        self.go(self.step_index("verify"))

    def step_failed(self, what: str) -> None:
        if what == "run":
            self.app_end()
            self.set_working(False)
            self.run_error = self.last_error
            self.allow_next(label="Verification ▶ (n)")
            return
        if what == "preview":  # it said "Checking: undo the last migration…" for good
            self.query_one("#preview-intro", Static).update(
                Text("✘ no preview (the error above): nothing was run", style="bold")
            )
        super().step_failed(what)
