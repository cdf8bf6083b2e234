"""The apply wizard: what will run (the engine's preflight) → typed confirmation (the database
name, the engine's one rule, as the CLI prompt) → run (lock, re-check, safety backup,
migrations) with progress and a live log → result (new status, time per migration, or the
failing statement)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Button, TextArea

from malnu_tui.engine.concurrently import classify
from malnu_tui.engine.errors import MalnuError
from malnu_tui.engine.migrate import Plan
from malnu_tui.tui.messages import BackupProgress
from malnu_tui.tui.messages import OperationProgress as ProgressMessage
from malnu_tui.tui.screens.wizard import StepPane, WizardScreen, warn_unreleased
from malnu_tui.tui.session import (
    RunOutcome,
    looking,
    migration_set,
    reporting,
    run_confirmed,
)
from malnu_tui.tui.widgets.dialog import FitScroll
from malnu_tui.tui.widgets.fields import SqlText
from malnu_tui.tui.widgets.hanging import Hanging
from malnu_tui.tui.widgets.key_button import KeyButton
from malnu_tui.tui.widgets.migration_table import MigrationTable, duration_label, elide_middle
from malnu_tui.tui.widgets.plain import DataTable, Label, Static
from malnu_tui.tui.widgets.progress import OperationProgress
from malnu_tui.tui.widgets.typed_confirm import TypedConfirmation

if TYPE_CHECKING:
    from malnu_tui.engine.config import Target
    from malnu_tui.engine.errors import LockHolder
    from malnu_tui.engine.files import MigrationSet
    from malnu_tui.engine.rehearse import RehearsalReport


@dataclass(frozen=True)
class ApplyPreview:
    plan: Plan | None
    mset: MigrationSet
    problems: tuple[str, ...]
    database_name: str
    lock: LockHolder | None
    lint_findings: tuple[str, ...] = ()
    notices: tuple[str, ...] = ()  # e.g. a dead holder's lock that will be taken over


ApplyOutcome = RunOutcome  # how the run ended (the result or the failure; status after)


@dataclass
class ApplyPlanned(Message):
    preview: ApplyPreview


@dataclass
class ApplyFinished(Message):
    outcome: ApplyOutcome


@dataclass
class ApplyRehearsed(Message):
    """The rehearsal on a scratch restore of the newest verified backup finished."""

    report: RehearsalReport


def preview_apply(target: Target) -> ApplyPreview:
    """The engine's preflight of ``up`` plus the lint of what would run, on one connection."""
    from malnu_tui.engine.preflight import preflight_apply
    from malnu_tui.tui.widgets.error_box import console_hint, for_shell, problem_text

    mset = migration_set(target)
    with looking(target) as backend:
        pf = preflight_apply(backend, target, mset)
        # Another tool's history: `adopt`, `up --unrelated-history` named for a shell.
        problems = [for_shell(problem_text(p), target.name) for p in pf.blocking]
        notices = [problem_text(p) for p in pf.notices]
        # Kept when something blocks: what is pending, and its SQL, is still shown (as
        # `up --dry-run` shows it), with Next blocked by the problems.
        plan = pf.plan
        lint: list[str] = []
        if plan is not None and plan.steps and not problems:
            from malnu_tui.engine.lint.target import lint_gate, lint_target

            try:
                files = [s.filename for s in plan.steps]
                report = lint_target(target, mset, files, backend, from_live_schema=True)
                lint = [f.describe() for f in report.findings] + list(report.notes)
                lint_gate(target, report, accept=False)
            except MalnuError as exc:  # the lint gate: its hint as every problem's is said
                problems.append(str(exc) + (f" — {console_hint(exc.hint)}" if exc.hint else ""))
        return ApplyPreview(
            plan, mset, tuple(problems), pf.database_name, pf.lock, tuple(lint), tuple(notices)
        )


class ApplyWizard(WizardScreen):
    """Apply every pending migration, after reading exactly what will run."""

    WIZARD_TITLE: ClassVar[str] = "Apply pending migrations"
    STEPS: ClassVar[tuple[tuple[str, str], ...]] = (
        ("plan", "What will run"),
        ("confirm", "Confirm"),
        ("run", "Run"),
        ("result", "Result"),
    )
    NO_RETURN_FROM: ClassVar[str] = "run"
    STOP_STEP: ClassVar[str] = "run"  # (ctrl+c asks, then rolls the step in progress back)
    READ_STEPS: ClassVar[frozenset[str]] = frozenset({"plan"})

    def __init__(self, target: Target) -> None:
        super().__init__()
        self.target = target
        self.backup_id: str | None = None
        self.preview: ApplyPreview | None = None
        self.outcome: ApplyOutcome | None = None

    def compose_steps(self) -> Iterable[Widget]:
        with StepPane(id="plan"):
            yield Static("", id="plan-intro", classes="intro")
            yield DataTable(id="plan-table", cursor_type="row")
            yield FitScroll("", id="plan-checks", classes="preconditions")
            # One line, and the report only once asked for: at 80×24 the button (3 rows) and
            # its standing explanation shared the room with the problems box, which showed
            # "✘ cannot proceed:" and none of the problems.
            # "… (wait)" while a rehearsal runs: greyed alone, it read as usable (NO_COLOR).
            rehearse = KeyButton(
                "Rehearse first on a backup copy (production untouched)", id="rehearse", why="wait"
            )
            rehearse.tooltip = (
                "Restores the newest verified backup into a scratch database and runs these "
                "migrations there, with times and rows; production is not touched."
            )
            yield rehearse
            yield FitScroll("", id="rehearse-report")
            yield SqlText("", language="sql", read_only=True, id="plan-sql")
        with StepPane(id="confirm"):
            yield FitScroll("", id="confirm-text", classes="intro")
            yield TypedConfirmation(id="apply-typed", field_id="confirm-input")
        with StepPane(id="run"):
            yield OperationProgress(id="run-progress")
        with StepPane(id="result"):
            yield Static("", id="result-text", classes="intro")
            yield DataTable(id="result-times", cursor_type="row")
            yield Label("failing statement:", id="failing-label", classes="pane-label")
            yield SqlText("", language="sql", read_only=True, id="failing-sql")
            yield MigrationTable(id="result-table")

    def enter_step(self, step: str) -> None:
        self.set_next_label("Next ▶ (n)")
        if step == "plan":
            self.query_one("#plan-intro", Static).update(
                Text(f"Planning {self.target.display_url}…", style="italic")
            )
            self.set_working(True)
            self._plan()
        elif step == "confirm":
            p = self.preview
            assert p is not None and p.plan is not None
            text = Text()
            n = len(p.plan.steps)
            text.append(f"Apply {n} migration(s) ", style="bold")
            text.append(f"to {p.database_name} ({self.target.display_url}), in this order:\n")
            outside = 0
            for st in p.plan.steps:
                alone = self.target.kind == "postgresql" and classify(st.statements) is not None
                outside += alone
                text.append(f"  ↑ {st.filename}" + (" (CONCURRENTLY)" if alone else "") + "\n")
            text.append(
                "After you confirm: the lock is taken, the plan checked again, and a safety "
                "backup of the whole database taken before anything changes. Each migration "
                "runs in its own transaction with its tracking row"
                + (
                    "; a CONCURRENTLY one outside a transaction, its indexes dropped again "
                    "if it fails."
                    if outside
                    else "."
                )
            )
            self.query_one("#confirm-text", Static).update(Hanging(text))
            where = self.target.display_url.rsplit("/", 1)[-1]
            self.ask_typed(
                p.database_name,
                f"apply {n} migration{'' if n == 1 else 's'} to {where}",
                label="Apply ▶",
            )
        elif step == "run":
            self._start_run()
        elif step == "result":
            self._show_result()
            self.finish()

    # -- plan ---------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="apply-plan")
    def _plan(self) -> None:
        with reporting(self, "plan"):
            self.post_message(ApplyPlanned(preview_apply(self.target)))

    def _show_plan(self, p: ApplyPreview) -> None:
        self.preview = p
        steps = p.plan.steps if p.plan else ()
        pending = (f"{len(steps)} migration(s)", "bold")
        self.query_one("#plan-intro", Static).update(
            Text.assemble(
                ("Would apply ", ""),
                pending,
                (f" to {p.database_name} once the problems below are solved, oldest first:", ""),
            )
            if p.problems and steps
            else Text.assemble(
                ("Will apply ", ""), pending, (f" to {p.database_name}, oldest first:", "")
            )
        )
        table = self.query_one("#plan-table", DataTable)
        table.clear(columns=True)
        table.add_columns("#", "version", "file", "statements", "notes")
        room = max(16, self.app.size.width - 50)  # file names elided in the middle to fit
        for i, s in enumerate(steps, 1):
            table.add_row(
                str(i),
                s.version,
                elide_middle(s.filename, room),
                str(len(s.statements)),
                str(len(s.notes)),
            )
        problems = list(p.problems)
        if p.plan is not None and not steps:
            problems.append("nothing to apply: the database is up to date")
        checks = self.query_one("#plan-checks", Static)
        if problems:
            text = Text("✘ cannot proceed:\n", style="bold red")
            for problem in problems:
                text.append(f"  ✘ {problem}\n", style="")
            text.rstrip()  # no blank last line in the box
            checks.update(Hanging(text))  # a problem's second line under its first
            checks.set_class(True, "problems")
            self.allow_next("nothing can run")
        else:
            notes = [n for s in steps for n in s.notes] + list(p.plan.warnings if p.plan else ())
            lock = "the dead holder's lock will be taken over" if p.lock else "lock free"
            text = Text(f"✔ files read and split, dependencies met, no drift, {lock}", "green")
            for n in notes:
                text.append(f"\n  ℹ {n}", style="")
            for notice in p.notices:
                text.append(f"\n  ⚠ {notice}", style="yellow")
            for f in p.lint_findings:
                text.append(f"\n  ⚠ lint: {f}", style="yellow")
            checks.update(text)
            checks.set_class(False, "problems")
            self.allow_next(label="Confirm ▶ (n)")
        self.query_one("#plan-sql", TextArea).load_text(p.plan.sql_text() if p.plan else "")
        self.refit_step()  # many notes or lint findings scroll; the SQL stays below

    # -- run ----------------------------------------------------------------------------------
    def _start_run(self) -> None:
        p = self.preview
        assert p is not None and p.plan is not None
        if not self.app_begin("apply"):
            self.go(self.step_index("confirm"))
            return
        self.query_one("#run-progress", OperationProgress).reset(
            f"applying {len(p.plan.steps)} migration(s)…", len(p.plan.steps)
        )
        self.set_working(True)
        self._run(p.mset, p.plan)

    @work(thread=True, exclusive=True, group="apply-run")
    def _run(self, mset: MigrationSet, plan: Plan) -> None:
        with reporting(self, "run"):
            self.post_message(ApplyFinished(run_confirmed(self.target, mset, plan, self)))

    @on(ProgressMessage)
    def _progress(self, event: ProgressMessage) -> None:
        p = event.progress
        progress = self.query_one("#run-progress", OperationProgress)
        if p.event == "backup":
            progress.caption("taking the safety backup (under the lock, after your confirmation)…")
        else:
            progress.show_event(p, "applying")

    @on(BackupProgress)
    def _backup_progress(self, event: BackupProgress) -> None:
        if event.message:  # (one without a message only moves a bar)
            self.query_one("#run-progress", OperationProgress).log_line(
                f"safety backup: {event.message}"
            )

    def _show_result(self) -> None:
        o = self.outcome
        text = Text()
        times = self.query_one("#result-times", DataTable)
        times.clear(columns=True)
        times.add_columns("migration", "took", "outcome")
        failing = self.query_one("#failing-sql", TextArea)
        failing_label = self.query_one("#failing-label", Label)
        if o is None:
            text.append("✘ the run did not complete", style="bold red")
            failing.display = failing_label.display = False
        else:
            done = o.result.done if o.result else o.done
            for filename, ms in done:
                times.add_row(filename, duration_label(ms), Text("✔ applied", style="green"))
            if o.result is not None:
                text.append(f"✔ applied {len(o.result.done)} migration(s)\n", style="bold green")
                warn_unreleased(text, "applied", o.result.warnings)
                for f in o.result.skipped:
                    text.append(f"  – {f}: already applied by someone else\n")
            else:
                text.append("✘ the run stopped: ", style="bold red")
                text.append(o.error + "\n")
            if o.failure is not None:
                times.add_row(o.failure.filename, "", Text("✘ FAILED", style="bold red"))
                failing_label.update(
                    f"failing statement: {o.failure.filename} line {o.failure.line}: "
                    f"{o.failure.error}"
                )
                failing.load_text(o.failure.statement)
                failing.display = failing_label.display = True
            else:
                failing.display = failing_label.display = False
            backup_id = self.backup_id or o.backup_id
            if backup_id is None:
                text.append("No safety backup was taken.\n")
            elif o.result is None and not o.done:
                text.append(
                    f"Nothing was changed; the safety backup {backup_id} is kept (do not restore "
                    "it: the database is as it was, and a restore would undo what was written "
                    "since).\n"
                )
            else:
                text.append(f"Safety backup: {backup_id}\n")
            if o.after is not None:
                text.append(f"Now: {o.after.report.summary()}")
                self.query_one("#result-table", MigrationTable).show(o.after.report, None)
        self.query_one("#result-text", Static).update(text)

    # -- worker results -----------------------------------------------------------------------
    # -- rehearse (optional, from the first step) ---------------------------------------------
    def on_mount(self) -> None:
        # (Textual calls WizardScreen's on_mount as well, after this one.)
        self._rehearse_box().display = False  # until a rehearsal is asked for

    def _rehearse_box(self) -> Widget:
        box = self.query_one("#rehearse-report", Static).parent
        assert isinstance(box, Widget)
        return box

    @on(Button.Pressed, "#rehearse")
    def _rehearse_pressed(self) -> None:
        self.query_one("#rehearse", Button).disabled = True
        self._rehearse_box().display = True
        self.query_one("#rehearse-report", Static).update(
            Text(
                "Rehearsing: the newest verified backup restored into a scratch database, "
                "these migrations run there (production is not touched)…",
                "italic",
            )
        )
        self.refit_step()
        self._rehearse()

    @work(thread=True, exclusive=True, group="apply-rehearse")
    def _rehearse(self) -> None:
        from malnu_tui.engine.monitor.config import load_monitor_config
        from malnu_tui.engine.rehearse import rehearse

        with reporting(self, "rehearse"):
            # The config's [monitor] slow_migration_seconds, as `rehearse` reads it (the
            # console noted nothing under the default 30 s that `check` warns of afterwards).
            settings = getattr(self.app, "settings", None)
            slow = load_monitor_config(settings).slow_migration_seconds if settings else 30.0
            report = rehearse(self.target, migration_set(self.target), slow_seconds=slow)
            self.post_message(ApplyRehearsed(report))

    @on(ApplyRehearsed)
    def _rehearsed(self, event: ApplyRehearsed) -> None:
        event.stop()
        r = event.report
        text = Text(
            f"Rehearsal on backup {r.backup_id} (data {r.age_text} old): ",
            style="bold",
        )
        text.append("all applied\n" if r.ok else "FAILED\n", style="green" if r.ok else "bold red")
        # What `rehearse` prints: each migration with its lint findings, then the notes (a
        # slow migration, a backup older than production's migrations); the console showed
        # only "N lint finding(s)" and no note.
        for m in r.migrations:
            text.append(f"  {m.describe()}\n")
            for f in m.findings:
                text.append(f"      lint: {f.describe()}\n")
        for note in r.notes:
            text.append(f"  note: {note}\n", style="yellow")
        self.query_one("#rehearse-report", Static).update(text)
        self.query_one("#rehearse", Button).disabled = False
        self.refit_step()

    @on(ApplyPlanned)
    def _planned(self, event: ApplyPlanned) -> None:
        event.stop()
        self.set_working(False)
        self._show_plan(event.preview)

    @on(ApplyFinished)
    def _finished(self, event: ApplyFinished) -> None:
        event.stop()
        self.set_working(False)
        self.app_end()
        self.outcome = outcome = event.outcome
        self.backup_id = outcome.result.backup_id if outcome.result else None
        progress = self.query_one("#run-progress", OperationProgress)
        if outcome.result is not None:
            progress.finish(f"✔ applied {len(outcome.result.done)} migration(s)")
        else:
            progress.caption(f"✘ {outcome.error}")
        self.go(self.step_index("result"))

    def step_failed(self, what: str) -> None:
        if what == "rehearse":  # optional: it never blocks the wizard
            self.query_one("#rehearse-report", Static).update(
                Text(f"✘ rehearsal not possible: {self.last_error}", style="red")
            )
            self.query_one("#rehearse", Button).disabled = False
            return
        if what == "run":
            self.app_end()
            self.outcome = None
            self.set_working(False)
            self.allow_next(label="Result ▶ (n)")
            return
        if what == "plan":  # it said "Planning postgresql://…" under the error for good
            self.query_one("#plan-intro", Static).update(
                Text("✘ no plan (the error above): nothing was run", style="bold")
            )
        super().step_failed(what)
