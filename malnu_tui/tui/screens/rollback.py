"""The emergency rollback wizard, the 2 a.m. screen: how far → preview with every
precondition → safety backup → typed confirmation → run → verification → summary."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Literal

from rich.text import Text
from textual import on, work
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

from malnu_tui.engine.errors import MalnuError
from malnu_tui.engine.migrate import (
    ApplyResult,
    MigrationState,
    MigrationStatus,
    Plan,
    Progress,
    StatusReport,
    VerifyResult,
)
from malnu_tui.tui.messages import OperationProgress as ProgressMessage
from malnu_tui.tui.screens.wizard import SafetyBackupStep, StepPane
from malnu_tui.tui.session import (
    connected,
    load_status,
    migration_set,
    plan_for_target,
    reporting,
)
from malnu_tui.tui.widgets.choice import ChoiceButton
from malnu_tui.tui.widgets.fields import Field, SqlText
from malnu_tui.tui.widgets.migration_table import MigrationTable
from malnu_tui.tui.widgets.progress import OperationProgress
from malnu_tui.tui.widgets.state import state_text

if TYPE_CHECKING:
    from malnu_tui.engine.config import Target
    from malnu_tui.engine.errors import LockHolder
    from malnu_tui.engine.files import MigrationSet
    from malnu_tui.engine.migrate import ProgressCallback

DONE_STATES = (MigrationState.APPLIED, MigrationState.DRIFTED, MigrationState.MISSING)


@dataclass(frozen=True)
class RollbackChoice:
    """How far to go back: the last one, N steps, or everything after a version."""

    mode: Literal["last", "steps", "to"]
    steps: int = 1
    to: str | None = None

    def describe(self) -> str:
        if self.mode == "to":
            return f"undo everything after {self.to} (keep {self.to} applied)"
        n = 1 if self.mode == "last" else self.steps
        return "undo the last migration" if n == 1 else f"undo the last {n} migrations"

    def chosen(self, report: StatusReport) -> list[MigrationStatus]:
        """The applied migrations this choice undoes, newest first."""
        applied = sorted(
            (m for m in report.migrations if m.state in DONE_STATES),
            key=lambda m: (m.version, m.filename),
            reverse=True,
        )
        if self.mode == "to":
            return [m for m in applied if self.to is not None and m.version > self.to]
        return applied[: 1 if self.mode == "last" else self.steps]


@dataclass(frozen=True)
class RollbackPreview:
    """What would run, and every reason it may not."""

    choice: RollbackChoice
    rows: tuple[MigrationStatus, ...]
    plan: Plan | None
    mset: MigrationSet
    problems: tuple[str, ...]
    database_name: str
    lock: LockHolder | None


@dataclass
class RollbackStatusRead(Message):
    report: StatusReport


@dataclass
class RollbackPreviewed(Message):
    preview: RollbackPreview


@dataclass
class RollbackFinished(Message):
    result: ApplyResult


@dataclass
class RollbackVerified(Message):
    report: StatusReport
    result: VerifyResult


def preview_rollback(target: Target, choice: RollbackChoice) -> RollbackPreview:
    """Plan the rollback and check every precondition (runs in a worker)."""
    from malnu_tui.engine.migrate import plan_rollback, status

    mset = migration_set(target)
    problems: list[str] = []
    plan: Plan | None = None
    with connected(target) as backend:
        report = status(backend, mset, target.name)
        rows = tuple(choice.chosen(report))
        try:
            plan = plan_rollback(
                backend,
                mset,
                steps=choice.steps if choice.mode == "steps" else None,
                to=choice.to if choice.mode == "to" else None,
                target_name=target.name,
            )
            plan = plan_for_target(target, plan, mset)
        except MalnuError as exc:
            problems.append(str(exc) + (f" — {exc.hint}" if exc.hint else ""))
        if plan is not None and not plan.steps:
            problems.append("nothing to roll back: no migration is applied")
        lock = backend.read_lock()
        if lock is not None:
            problems.append(
                f"the migration lock is held by {lock.describe()}: wait for them, or if that "
                "session is dead release it from the status screen (U, audited)"
            )
        return RollbackPreview(choice, rows, plan, mset, tuple(problems), backend.name, lock)


def verify_after(target: Target) -> tuple[StatusReport, VerifyResult]:
    from malnu_tui.engine.migrate import verify

    report, mset = load_status(target)
    with connected(target) as backend:
        return report, verify(backend, mset)


def run_plan(
    target: Target, mset: MigrationSet, plan: Plan, progress: ProgressCallback
) -> ApplyResult:
    """Run a plan under the lock; the safety backup was taken in its own step."""
    from malnu_tui.engine.migrate import apply_plan

    with connected(target) as backend:
        return apply_plan(backend, mset, plan, progress=progress, safety_backup=None)


class RollbackWizard(SafetyBackupStep):
    """Undo the newest migrations, calmly, one step per screen."""

    WIZARD_TITLE: ClassVar[str] = "Emergency rollback"
    STEPS: ClassVar[tuple[tuple[str, str], ...]] = (
        ("how-far", "How far"),
        ("preview", "Preview"),
        ("backup", "Safety backup"),
        ("confirm", "Confirm"),
        ("run", "Run"),
        ("verify", "Verification"),
        ("summary", "Summary"),
    )
    NO_RETURN_FROM: ClassVar[str] = "run"

    def __init__(self, target: Target) -> None:
        super().__init__(target)
        self.report: StatusReport | None = None
        self.applied: list[MigrationStatus] = []
        self.choice = RollbackChoice("last")
        self.mode = "mode-last"  # the pressed radio button
        self.preview: RollbackPreview | None = None
        self.result: ApplyResult | None = None
        self.run_error: str | None = None
        self.after: tuple[StatusReport, VerifyResult] | None = None

    # -- layout -------------------------------------------------------------------------------
    def compose_steps(self) -> Iterable[Widget]:
        with StepPane(id="how-far"):
            yield Static("", id="how-far-intro", classes="intro")
            with RadioSet(id="mode"):
                yield ChoiceButton("the last migration only", value=True, id="mode-last")
                yield ChoiceButton("the last N migrations:", id="mode-steps")
                yield ChoiceButton("back to the version selected below (kept)", id="mode-to")
            yield Field(placeholder="N", type="integer", id="steps-input", compact=True)
            yield Label("applied migrations, newest first:", classes="dim")
            yield MigrationTable(id="applied-table")
        with StepPane(id="preview"):
            yield Static("", id="preview-intro", classes="intro")
            yield DataTable(id="preview-table", cursor_type="row")
            yield Static("", id="preconditions", classes="preconditions")
            yield SqlText(
                "", language="sql", read_only=True, id="preview-sql", show_line_numbers=True
            )
        with StepPane(id="backup"):
            yield Static(
                "Before anything changes, a backup of the whole database is taken. "
                "It is the way back if the rollback goes wrong.",
                classes="intro",
            )
            yield OperationProgress(log=False, id="backup-progress")
        with StepPane(id="confirm"):
            yield Static("", id="confirm-text", classes="intro")
            yield Field(placeholder="database name", id="confirm-input")
        with StepPane(id="run"):
            yield OperationProgress(id="run-progress")
        with StepPane(id="verify"):
            yield Static("", id="verify-text", classes="intro")
            yield MigrationTable(id="verify-table")
        with StepPane(id="summary"):
            yield Static("", id="summary-text", classes="intro")

    # -- steps --------------------------------------------------------------------------------
    def enter_step(self, step: str) -> None:
        self.query_one("#next", Button).label = "Next ▶ (n)"
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
            self.set_working(True)
            self._preview(self.choice)
        elif step == "backup":
            assert self.preview is not None
            self.start_backup("pre-rollback", self.preview.plan)
        elif step == "confirm":
            self._show_confirm()
        elif step == "run":
            self._start_run()
        elif step == "verify":
            self.set_working(True)
            self.query_one("#verify-text", Static).update("reading the database's status…")
            self._verify()
        elif step == "summary":
            self._show_summary()
            self.finish()

    def leave_step(self, step: str) -> bool:
        if step == "how-far":
            choice = self._read_choice()
            if choice is None:
                return False
            self.choice = choice
        return True

    # -- how far ------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="rollback-status")
    def _load_applied(self) -> None:
        with reporting(self, "status"):
            report, _mset = load_status(self.target)
            self.post_message(RollbackStatusRead(report))

    def _show_applied(self) -> None:
        assert self.report is not None
        self.applied = RollbackChoice("to", to="").chosen(self.report)
        self.query_one("#applied-table", MigrationTable).show_rows(self.applied)
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

    @on(MigrationTable.Highlighted, "#applied-table")
    def _version_highlighted(self) -> None:
        if self.query_one("#applied-table", MigrationTable).has_focus:
            self._choose("mode-to")

    @on(MigrationTable.Selected, "#applied-table")
    def _version_selected(self) -> None:
        self._choose("mode-to")
        self.action_next()

    @on(RadioSet.Changed)
    def _mode_changed(self, event: RadioSet.Changed) -> None:
        self.mode = event.pressed.id or "mode-last"

    def _choose(self, mode: str) -> None:
        self.mode = mode
        self.query_one(f"#{mode}", RadioButton).value = True

    # -- preview ------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="rollback-preview")
    def _preview(self, choice: RollbackChoice) -> None:
        with reporting(self, "preview"):
            self.post_message(RollbackPreviewed(preview_rollback(self.target, choice)))

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
        for i, m in enumerate(p.rows, 1):
            table.add_row(
                str(i),
                m.version,
                state_text(m.state),
                m.rollback_file or Text("✘ MISSING", style="bold red"),
            )
        checks = self.query_one("#preconditions", Static)
        if p.problems:
            text = Text()
            text.append("✘ cannot proceed:\n", style="bold red")
            for problem in p.problems:
                text.append(f"  ✘ {problem}\n")
            checks.update(text)
            checks.set_class(True, "problems")
            self.allow_next("a precondition does not hold")
        else:
            text = Text(
                "✔ preconditions hold: every rollback file present and parsable, "
                "no drift, lock free",
                style="green",
            )
            for warning in p.plan.warnings if p.plan else ():  # e.g. a rollback undoing nothing
                text.append(f"\n⚠ {warning}", style="yellow")
            checks.update(text)
            checks.set_class(False, "problems")
            self.allow_next(label="Back up ▶ (n)")
        nothing = "-- nothing can run until the problems above are fixed\n"
        self.query_one("#preview-sql", TextArea).load_text(p.plan.sql_text() if p.plan else nothing)

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
        text.append(f"Safety backup: {self.backup_id}\n")
        text.append("Type the database name ")
        text.append(p.database_name, style="bold reverse")
        text.append(" to go on:")
        self.query_one("#confirm-text", Static).update(text)
        field = self.query_one("#confirm-input", Input)
        field.value = ""
        field.placeholder = p.database_name
        field.focus()
        self.allow_next(f"type {p.database_name} to confirm", label="Roll back ▶")

    @on(Input.Changed, "#confirm-input")
    def _confirm_typed(self, event: Input.Changed) -> None:
        p = self.preview
        if p is None or self.step != "confirm":
            return
        if event.value == p.database_name:
            self.allow_next(label="Roll back ▶")
        else:
            self.allow_next(f"type {p.database_name} to confirm")

    @on(Input.Submitted, "#confirm-input")
    def _confirm_submitted(self) -> None:
        self.action_next()

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
        self._run(p.mset, p.plan)

    @work(thread=True, exclusive=True, group="rollback-run")
    def _run(self, mset: MigrationSet, plan: Plan) -> None:
        with reporting(self, "run"):

            def progress(p: Progress) -> None:
                self.post_message(ProgressMessage(p))

            result = run_plan(self.target, mset, plan, progress)
            self.post_message(RollbackFinished(result))

    @on(ProgressMessage)
    def _progress(self, event: ProgressMessage) -> None:
        self.query_one("#run-progress", OperationProgress).show_event(
            event.progress, "rolling back"
        )

    # -- verify -------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="rollback-verify")
    def _verify(self) -> None:
        with reporting(self, "verify"):
            self.post_message(RollbackVerified(*verify_after(self.target)))

    def _show_verify(self, report: StatusReport, result: VerifyResult) -> None:
        self.after = (report, result)
        states = {m.filename: m.state for m in report.migrations}
        planned = (
            [s.filename for s in self.preview.plan.steps]
            if self.preview and self.preview.plan
            else []
        )
        still = [f for f in planned if states.get(f) in DONE_STATES]
        text = Text()
        if self.run_error:
            text.append("✘ the rollback stopped: ", style="bold red")
            text.append(self.run_error + "\n")
        if planned and not still:
            text.append(
                f"✔ {len(planned)} migration(s) rolled back: their tracking rows are gone\n",
                style="green",
            )
        elif still:
            text.append(f"⚠ still applied: {', '.join(still)}\n", style="bold yellow")
        if result.ok:
            text.append(f"✔ checksums of {result.checked} applied file(s) match\n", style="green")
        else:
            text.append(
                f"⚠ {len(result.drifted)} drifted, {len(result.missing)} missing\n",
                style="bold yellow",
            )
        text.append(report.summary())
        self.query_one("#verify-text", Static).update(text)
        self.query_one("#verify-table", MigrationTable).show(report, None)
        self.allow_next(label="Summary ▶ (n)")

    # -- summary ------------------------------------------------------------------------------
    def _show_summary(self) -> None:
        text = Text()
        if self.result is not None:
            text.append(f"✔ rolled back {len(self.result.done)} migration(s) ", style="bold")
            text.append(f"on {self.target.display_url}\n")
            for filename, ms in self.result.done:
                text.append(f"  ↶ {filename} ({ms} ms)\n")
            for filename in self.result.skipped:
                text.append(f"  – {filename}: already rolled back by someone else\n")
        else:
            text.append("✘ the rollback did not complete\n", style="bold red")
            if self.run_error:
                text.append(f"  {self.run_error}\n")
        if self.after is not None:
            text.append(f"\nNow: {self.after[0].summary()}\n")
        text.append("\nSafety backup: ", style="bold")
        text.append(f"{self.backup_id}\n", style="bold reverse")
        text.append(
            "To go back to the state before this rollback, restore that backup "
            "(Backups, b, on the status screen).\n"
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
        self.result = event.result
        self.query_one("#run-progress", OperationProgress).finish(
            f"✔ rolled back {len(event.result.done)} migration(s)"
        )
        self.go(self.step_index("verify"))

    @on(RollbackVerified)
    def _verified(self, event: RollbackVerified) -> None:
        event.stop()
        self.set_working(False)
        self._show_verify(event.report, event.result)

    def step_failed(self, what: str) -> None:
        if what == "run":
            self.app_end()
            self.set_working(False)
            self.run_error = self.last_error
            self.allow_next(label="Verification ▶ (n)")
            return
        super().step_failed(what)
