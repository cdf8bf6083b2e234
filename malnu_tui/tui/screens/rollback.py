"""The emergency rollback wizard, the 2 a.m. screen: how far → preview with every
precondition (the engine's preflight) → typed confirmation → run (lock, re-check, safety
backup, rollback files) → verification → summary."""

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
    MigrationStatus,
    Plan,
    StatusReport,
)
from malnu_tui.engine.plan import Preflight, RollbackSelection, is_confirmed
from malnu_tui.engine.status import applied_newest_first, select_rollback
from malnu_tui.tui.messages import BackupProgress
from malnu_tui.tui.messages import OperationProgress as ProgressMessage
from malnu_tui.tui.screens.wizard import StepPane, WizardScreen
from malnu_tui.tui.session import (
    RunOutcome,
    connected,
    load_status,
    migration_set,
    reporting,
    run_confirmed,
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

    def selection(self) -> RollbackSelection:
        if self.mode == "to":
            return RollbackSelection(to=self.to)
        return RollbackSelection(steps=self.steps if self.mode == "steps" else None)

    def chosen(self, report: StatusReport) -> list[MigrationStatus]:
        """The applied migrations this choice undoes, newest first (the engine's rule)."""
        sel = self.selection()
        try:
            return select_rollback(report, steps=sel.steps, to=sel.to)
        except MalnuError:
            return []


@dataclass(frozen=True)
class RollbackPreview:
    """The engine's preflight for this choice: what would run, and every reason it may not."""

    choice: RollbackChoice
    preflight: Preflight
    mset: MigrationSet

    @property
    def plan(self) -> Plan | None:
        return self.preflight.plan

    @property
    def rows(self) -> tuple[MigrationStatus, ...]:
        return self.preflight.rows

    @property
    def database_name(self) -> str:
        return self.preflight.database_name

    @property
    def lock(self) -> LockHolder | None:
        return self.preflight.lock

    @property
    def problems(self) -> tuple[str, ...]:
        """What blocks, for the operator (with the hint where there is one)."""
        texts = [p.describe() for p in self.preflight.blocking]
        if self.plan is not None and not self.plan.steps and not texts:
            texts.append("nothing to roll back: no migration is applied")
        return tuple(texts)

    @property
    def notices(self) -> tuple[str, ...]:
        return tuple(p.describe() for p in self.preflight.notices)


@dataclass
class RollbackStatusRead(Message):
    report: StatusReport


@dataclass
class RollbackPreviewed(Message):
    preview: RollbackPreview


@dataclass
class RollbackFinished(Message):
    outcome: RunOutcome


def preview_rollback(target: Target, choice: RollbackChoice) -> RollbackPreview:
    """The engine's preflight for ``choice``, on one connection (runs in a worker)."""
    from malnu_tui.engine.preflight import preflight_rollback

    mset = migration_set(target)
    sel = choice.selection()
    with connected(target) as backend:
        pf = preflight_rollback(backend, target, mset, steps=sel.steps, to=sel.to)
    return RollbackPreview(choice, pf, mset)


class RollbackWizard(WizardScreen):
    """Undo the newest migrations, calmly, one step per screen."""

    WIZARD_TITLE: ClassVar[str] = "Emergency rollback"
    STEPS: ClassVar[tuple[tuple[str, str], ...]] = (
        ("how-far", "How far"),
        ("preview", "Preview"),
        ("confirm", "Confirm"),
        ("run", "Run"),
        ("verify", "Verification"),
        ("summary", "Summary"),
    )
    NO_RETURN_FROM: ClassVar[str] = "run"

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
        return True

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
        else:
            text = Text(
                "✔ preconditions hold: every rollback file present and parsable, no drift "
                "in the range, lock free or taken over\n",
                style="green",
            )
        for notice in p.notices:
            text.append(f"  ⚠ {notice}\n", style="yellow")
        for warning in p.plan.warnings if p.plan else ():  # e.g. a rollback undoing nothing
            text.append(f"  ⚠ {warning}\n", style="yellow")
        checks.update(text)
        checks.set_class(bool(p.problems), "problems")
        if p.problems:
            self.allow_next("a precondition does not hold")
        else:
            self.allow_next(label="Confirm ▶ (n)")
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
        text.append(
            "After you confirm: the lock is taken, the plan checked again, and a safety "
            "backup of the whole database taken before anything changes.\n"
        )
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
        if is_confirmed(event.value, p.database_name):
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
            self.post_message(RollbackFinished(run_confirmed(self.target, mset, plan, self)))

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
        self.query_one("#run-progress", OperationProgress).log_line(
            f"safety backup: {event.message}"
        )

    # -- verify -------------------------------------------------------------------------------
    def _show_verify(self) -> None:
        o = self.outcome
        text = Text()
        if self.run_error:
            text.append("✘ the rollback stopped: ", style="bold red")
            text.append(self.run_error + "\n")
        after = o.after if o is not None else None
        if after is None:
            text.append("⚠ the status afterwards could not be read\n", style="bold yellow")
            self.query_one("#verify-text", Static).update(text)
            self.allow_next(label="Summary ▶ (n)")
            return
        planned = (
            [s.filename for s in self.preview.plan.steps]
            if self.preview and self.preview.plan
            else []
        )
        if planned and not after.not_done:
            text.append(
                f"✔ {len(planned)} migration(s) rolled back: their tracking rows are gone\n",
                style="green",
            )
        elif after.not_done:
            text.append(f"⚠ still applied: {', '.join(after.not_done)}\n", style="bold yellow")
        result = after.verified
        if result.ok:
            text.append(f"✔ checksums of {result.checked} applied file(s) match\n", style="green")
        else:
            text.append(
                f"⚠ {len(result.drifted)} drifted, {len(result.missing)} missing\n",
                style="bold yellow",
            )
        text.append(after.report.summary())
        self.query_one("#verify-text", Static).update(text)
        self.query_one("#verify-table", MigrationTable).show(after.report, None)
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
        if self.outcome is not None and self.outcome.after is not None:
            text.append(f"\nNow: {self.outcome.after.report.summary()}\n")
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
        super().step_failed(what)
