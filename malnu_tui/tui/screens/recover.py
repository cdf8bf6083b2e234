"""The recover wizard (point in time): pick a time → the plan (which backup, which migrations
are re-applied, what data is NOT recovered) → typed confirmation → run → result."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, cast

from rich.text import Text
from textual import on, work
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Input

from malnu_tui.tui.messages import BackupProgress, BackupsListed
from malnu_tui.tui.screens.rollback_preview import edited_sums_text
from malnu_tui.tui.screens.wizard import StepPane, WizardScreen
from malnu_tui.tui.session import (
    backup_progress_poster,
    connected,
    load_status,
    looking,
    migration_set,
    reporting,
)
from malnu_tui.tui.widgets.dialog import FitScroll
from malnu_tui.tui.widgets.fields import Field
from malnu_tui.tui.widgets.hanging import Hanging
from malnu_tui.tui.widgets.manifest import list_target_backups, short_time, verified_cell
from malnu_tui.tui.widgets.migration_table import MigrationTable
from malnu_tui.tui.widgets.plain import DataTable, Label, Static
from malnu_tui.tui.widgets.progress import OperationProgress
from malnu_tui.tui.widgets.typed_confirm import TypedConfirmation

if TYPE_CHECKING:
    from malnu_tui.engine.backup import (
        BackupManifest,
        NativeRecoverPlan,
        RecoverPlan,
        RecoverResult,
    )
    from malnu_tui.engine.config import Target
    from malnu_tui.engine.files import MigrationSet
    from malnu_tui.engine.migrate import StatusReport


@dataclass
class RecoverPlanned(Message):
    plan: RecoverPlan | NativeRecoverPlan
    mset: MigrationSet
    database_name: str


@dataclass
class RecoverEditedRefused(Message):
    """The plan refused rollback files edited since their migration was applied."""

    sums: tuple[tuple[str, str, str], ...]  # (file, sha256 now, recorded), in full


@dataclass
class NativeRecovered(Message):
    undo: str  # the restore point (D1 bookmark) that undoes it
    report: StatusReport


@dataclass
class RecoverFinished(Message):
    result: RecoverResult
    report: StatusReport


def plan_recovery(
    target: Target, when_text: str, progress: object, *, accept_edited_rollback: bool = False
) -> tuple[RecoverPlan | NativeRecoverPlan, MigrationSet, str]:
    from malnu_tui.engine.backup import (
        BackupProgressCallback,
        native_recovery,
        parse_when,
        plan_native_recover,
        plan_recover,
    )

    when = parse_when(when_text)
    mset = migration_set(target)
    from malnu_tui.engine.preflight import preflight_lock

    with looking(target) as backend:
        # A live operator's lock stops the wizard here, before the typed confirmation.
        pf = preflight_lock(backend, target, "recover")
        pf.raise_if_blocked()
        if native_recovery(backend.kind) is not None:  # D1 Time Travel: the data comes back
            return plan_native_recover(backend, target, when), mset, pf.database_name
        plan = plan_recover(
            backend,
            target,
            mset,
            when,
            progress=cast(BackupProgressCallback, progress),
            accept_edited_rollback=accept_edited_rollback,
        )
        return plan, mset, pf.database_name


class RecoverWizard(WizardScreen):
    """Bring the database back to a moment in time, honestly."""

    WIZARD_TITLE: ClassVar[str] = "Point-in-time recovery"
    HELP_TITLE = "Point-in-time recovery wizard"  # its `a` is its own, not every wizard's
    STEPS: ClassVar[tuple[tuple[str, str], ...]] = (
        ("when", "Pick a time"),
        ("plan", "Plan"),
        ("confirm", "Confirm"),
        ("run", "Run"),
        ("result", "Result"),
    )
    NO_RETURN_FROM: ClassVar[str] = "run"
    READ_STEPS: ClassVar[frozenset[str]] = frozenset({"when", "plan"})
    BINDINGS: ClassVar[list[BindingType]] = [
        # Offered only when the plan refused rollback files edited since their migration was
        # applied: `recover --accept-edited-rollback`, audited.
        Binding("a", "accept_edited", "Accept edited", id="recover.accept_edited"),
    ]

    def __init__(self, target: Target) -> None:
        super().__init__()
        self.target = target
        self.when_text = ""
        from malnu_tui.engine.backup import native_recovery

        # D1: Time Travel brings the data back to that minute, as `recover` does in the CLI
        # (a backup and its migrations replayed would lose what was written since it).
        self.native = native_recovery(target.kind) is not None
        self.native_undo: str | None = None
        self.plan: RecoverPlan | NativeRecoverPlan | None = None
        self.mset: MigrationSet | None = None
        self.database_name = ""
        self.result: RecoverResult | None = None
        self.report: StatusReport | None = None
        self.edited_refused = False  # the plan refused edited rollback files
        self.accept_edited = False  # the operator accepted them (audited)

    def compose_steps(self) -> Iterable[Widget]:
        with StepPane(id="when"):
            yield Static(
                f"Recover {self.target.name} ({self.target.display_url}) to which time (UTC)? "
                "ISO 8601 like 2026-11-24T09:30:00Z, or relative: -2h, -30m, -1d.",
                classes="intro",
            )
            # (Not "-1h" alone: without colour it read as typed, and Next said "type a time".)
            yield Field(placeholder="type a time, e.g. -1h", id="when-input")
            yield Label(
                "backups of this target (D1 Time Travel needs none: it reaches back 30 days):"
                if self.native
                else "backups of this target (a recovery starts from one):",
                classes="dim",
            )
            yield DataTable(id="when-backups", cursor_type="row", zebra_stripes=True)
        with StepPane(id="plan"):
            yield OperationProgress(log=False, id="plan-progress")
            yield FitScroll("", id="recover-plan")
        with StepPane(id="confirm"):
            yield FitScroll("", id="recover-confirm-text", classes="intro")
            yield TypedConfirmation(id="recover-typed", field_id="recover-confirm-input")
        with StepPane(id="run"):
            yield OperationProgress(id="recover-progress")
        with StepPane(id="result"):
            yield Static("", id="recover-summary", classes="intro")
            yield MigrationTable(id="recover-table")

    def enter_step(self, step: str) -> None:
        self.set_next_label("Next ▶ (n)")
        if step == "when":
            self.query_one("#when-input", Input).focus()
            self.set_working(True)
            self._load_backups()
        elif step == "plan":
            self.query_one("#recover-plan", Static).update("")
            self.query_one("#plan-progress", OperationProgress).reset(
                f"planning recovery to {self.when_text}: re-verifying candidate backups…"
            )
            self.edited_refused = False
            self.set_working(True)
            self._plan(self.when_text, self.accept_edited)
        elif step == "confirm":
            from malnu_tui.engine.backup import NativeRecoverPlan

            p = self.plan
            assert p is not None
            text = Text()
            text.append(f"Recover {self.target.display_url} to {p.to}\n", style="bold")
            if not isinstance(p, NativeRecoverPlan):
                text.append(f"from backup {p.backup.id}.\n")
                text.append("NOT recovered: ", style="bold red")
                text.append(p.not_recovered + "\n")
                for name, _now, _recorded in p.edited_sums if p.accept_edited_rollback else ():
                    text.append(
                        f"⚠ {name}: edited since applied, accepted (audited)\n", style="bold"
                    )
            else:
                text.append("with D1 Time Travel: the data as it was then. ")
                text.append("Everything written since is replaced", style="bold red")
                text.append(" (the restore point that undoes it is shown after).\n")
            self.query_one("#recover-confirm-text", Static).update(Hanging(text))
            self.ask_typed(
                self.database_name,
                f"recover {self.target.display_url} to {p.to}",
                label="Recover ▶",
            )
        elif step == "run":
            if not self.app_begin("recovery"):
                self.go(self.step_index("confirm"))
                return
            self.query_one("#recover-progress", OperationProgress).reset("recovering…")
            self.set_working(True)
            assert self.plan is not None and self.mset is not None
            self._run(self.plan, self.mset)
        elif step == "result":
            self._show_result()
            self.finish()

    def leave_step(self, step: str) -> bool:
        if step == "when":
            text = self.query_one("#when-input", Input).value.strip()
            if not text:
                self.show_error("type a time first, e.g. -1h or 2026-11-24T09:30:00Z")
                return False
            self.when_text = text
            self.accept_edited = False  # accepted for the plan seen, not for another time
        return True

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "accept_edited":
            return self._can_accept()
        return super().check_action(action, parameters)

    def _can_accept(self) -> bool:
        return (
            self.step == "plan"
            and not self.working
            and self.edited_refused
            and not self.accept_edited
        )

    def action_accept_edited(self) -> None:
        """Plan again with the edited rollback files accepted (the plan names them with both
        checksums), then the usual typed confirmation; the run audits them."""
        if self._can_accept():
            self.accept_edited = True
            self.go(self.step_index("plan"))

    @on(Input.Submitted, "#when-input")
    def _when_submitted(self) -> None:
        self.action_next()

    # -- workers ------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="recover-backups")
    def _load_backups(self) -> None:
        with reporting(self, "list"):
            self.post_message(BackupsListed(list_target_backups(self.target)))

    @work(thread=True, exclusive=True, group="recover-plan")
    def _plan(self, when_text: str, accept_edited: bool) -> None:
        from malnu_tui.engine.errors import RollbackEdited

        with reporting(self, "plan"):
            try:
                result = plan_recovery(
                    self.target,
                    when_text,
                    backup_progress_poster(self),
                    accept_edited_rollback=accept_edited,
                )
            except RollbackEdited as exc:  # (before the failure it explains)
                self.post_message(RecoverEditedRefused(exc.sums))
                raise
            self.post_message(RecoverPlanned(*result))

    @on(RecoverEditedRefused)
    def _edited_refused(self, event: RecoverEditedRefused) -> None:
        event.stop()
        self.edited_refused = True
        # Both checksums in full, as the rollback wizard shows them (the refusal's one line
        # cuts them to 12 characters).
        self.query_one("#recover-plan", Static).update(edited_sums_text(event.sums, False))
        self.refit_step()

    @work(thread=True, exclusive=True, group="recover-run")
    def _run(self, plan: RecoverPlan | NativeRecoverPlan, mset: MigrationSet) -> None:
        from malnu_tui.engine.backup import NativeRecoverPlan, run_native_recover, run_recover

        with reporting(self, "run"):
            with connected(self.target) as backend:
                progress = backup_progress_poster(self)
                if not isinstance(plan, NativeRecoverPlan):
                    result = run_recover(backend, self.target, mset, plan, progress=progress)
                else:
                    undo = run_native_recover(backend, self.target, plan.when, progress=progress)
            report, _ = load_status(self.target)
            if not isinstance(plan, NativeRecoverPlan):
                self.post_message(RecoverFinished(result, report))
            else:
                self.post_message(NativeRecovered(undo, report))

    @on(BackupProgress)
    def _progress(self, event: BackupProgress) -> None:
        widget_id = "#plan-progress" if self.step == "plan" else "#recover-progress"
        self.query_one(widget_id, OperationProgress).show_backup(
            event.done, event.total, event.message
        )

    @on(BackupsListed)
    def _listed(self, event: BackupsListed) -> None:
        event.stop()
        self.set_working(False)
        self._show_backups(event.manifests)
        self.query_one("#when-input", Input).focus()

    @on(RecoverPlanned)
    def _planned(self, event: RecoverPlanned) -> None:
        event.stop()
        self.set_working(False)
        self.plan, self.mset, self.database_name = event.plan, event.mset, event.database_name
        self._show_plan()

    @on(RecoverFinished)
    def _recovered(self, event: RecoverFinished) -> None:
        event.stop()
        self.set_working(False)
        self.app_end()
        self.result, self.report = event.result, event.report
        self.query_one("#recover-progress", OperationProgress).finish("✔ recovered")
        self.go(self.step_index("result"))

    @on(NativeRecovered)
    def _recovered_natively(self, event: NativeRecovered) -> None:
        event.stop()
        self.set_working(False)
        self.app_end()
        self.native_undo, self.report = event.undo, event.report
        self.query_one("#recover-progress", OperationProgress).finish("✔ recovered")
        self.go(self.step_index("result"))

    def _show_backups(self, manifests: tuple[BackupManifest, ...]) -> None:
        table = self.query_one("#when-backups", DataTable)
        table.clear(columns=True)
        table.add_columns("created (UTC)", "reason", "head", "verified")
        for m in manifests:
            table.add_row(
                short_time(m.created_at),
                m.reason,
                m.head or "—",
                verified_cell(m),
            )
        if manifests or self.native:
            self.allow_next()
        else:
            self.allow_next("no backups: nothing to recover from")
            self.show_error(
                "this target has no backups: point-in-time recovery needs one taken before "
                "the time you want",
                "create one in the backup browser (b) for the future",
            )

    def _show_plan(self) -> None:
        from malnu_tui.engine.backup import NativeRecoverPlan

        p = self.plan
        assert p is not None
        text = Text()
        for line in p.describe():
            if line.startswith("NOT recovered"):
                text.append("✘ " + line + "\n", style="bold red")
            elif line.startswith(("skipped", "note")):
                text.append("ℹ " + line + "\n", style="yellow")
            else:
                text.append(line + "\n")
        if not isinstance(p, NativeRecoverPlan) and p.accept_edited_rollback:
            text.append_text(edited_sums_text(p.edited_sums, True))
        self.query_one("#recover-plan", Static).update(Hanging(text))  # a step's lines under it
        self.refit_step()
        self.query_one("#plan-progress", OperationProgress).finish(
            f"✔ plan ready: start from backup {p.backup.id}"
            if not isinstance(p, NativeRecoverPlan)
            else "✔ plan ready: D1 Time Travel to that minute"
        )
        self.allow_next(label="Confirm ▶ (n)")

    def _show_result(self) -> None:
        text = Text()
        r = self.result
        if self.native_undo is not None and self.plan is not None:
            text.append(f"✔ recovered to {self.plan.to} (D1 Time Travel)\n", style="bold green")
            text.append("Restore point that undoes it: ", style="bold")
            text.append(f"{self.native_undo}\n", style="bold reverse")
            text.append(f"(malnu-tui d1 time-travel --bookmark {self.native_undo})\n")
        elif r is not None:
            text.append(f"✔ recovered to {r.plan.to}\n", style="bold green")
            text.append(f"restored {r.plan.backup.id}; {r.counts()}\n")
            text.append("Pre-recover backup (restore it to undo this): ", style="bold")
            text.append(f"{r.restore.pre_restore_id}\n", style="bold reverse")
            for warning in r.restore.warnings:
                text.append(f"⚠ {warning}\n", style="bold yellow")
        else:
            text.append("✘ the recovery did not complete\n", style="bold red")
            if self.last_error:
                text.append(self.last_error + "\n")
        if self.report is not None:
            text.append(f"Now: {self.report.summary()}")
            self.query_one("#recover-table", MigrationTable).show(self.report, None)
        self.query_one("#recover-summary", Static).update(text)

    def step_failed(self, what: str) -> None:
        if what == "run":
            self.app_end()
            self.set_working(False)
            self.allow_next(label="Result ▶ (n)")
            return
        if what == "plan":
            self.query_one("#plan-progress", OperationProgress).caption(
                "✘ no plan: press a (accept edited) to run the edited rollback file(s) as they "
                "are now (audited), or restore the reviewed file(s)"
                if self.edited_refused
                else "✘ no plan"
            )
        super().step_failed(what)
