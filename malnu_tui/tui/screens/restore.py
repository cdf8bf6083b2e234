"""The restore wizard: verify the backup → typed confirmation → pre-restore backup and
restore, with progress → the database's status afterwards."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.message import Message
from textual.widget import Widget

from malnu_tui.engine.plan import Preflight
from malnu_tui.tui.messages import BackupProgress
from malnu_tui.tui.screens.wizard import StepPane, WizardScreen
from malnu_tui.tui.session import backup_progress_poster, connected, load_status, looking, reporting
from malnu_tui.tui.widgets.dialog import FitScroll
from malnu_tui.tui.widgets.error_box import problem_text
from malnu_tui.tui.widgets.manifest import manifest_text, short_time
from malnu_tui.tui.widgets.migration_table import MigrationTable
from malnu_tui.tui.widgets.plain import Static
from malnu_tui.tui.widgets.progress import OperationProgress
from malnu_tui.tui.widgets.typed_confirm import TypedConfirmation

if TYPE_CHECKING:
    from malnu_tui.engine.backup import BackupManifest, RestoreResult, VerifyReport
    from malnu_tui.engine.config import Target
    from malnu_tui.engine.migrate import StatusReport


def restore_preflight(target: Target) -> Preflight:
    """The lock precondition of a restore (the engine's preflight), on one connection."""
    from malnu_tui.engine.preflight import preflight_lock

    with looking(target) as backend:
        return preflight_lock(backend, target, "restore")


@dataclass
class RestoreChecked(Message):
    """The backup was re-verified and the lock checked before the restore."""

    report: VerifyReport
    preflight: Preflight


@dataclass
class RestoreFinished(Message):
    result: RestoreResult
    report: StatusReport


class RestoreWizard(WizardScreen):
    """Replace the database with a backup, safely."""

    WIZARD_TITLE: ClassVar[str] = "Restore a backup"
    STEPS: ClassVar[tuple[tuple[str, str], ...]] = (
        ("verify", "Verify backup"),
        ("confirm", "Confirm"),
        ("restore", "Pre-restore backup + restore"),
        ("status", "Status"),
    )
    NO_RETURN_FROM: ClassVar[str] = "restore"

    def __init__(self, target: Target, manifest: BackupManifest) -> None:
        super().__init__()
        self.target = target
        self.manifest = manifest
        self.database_name = ""
        self.result: RestoreResult | None = None
        self.report: StatusReport | None = None

    def compose_steps(self) -> Iterable[Widget]:
        with StepPane(id="verify"):
            yield FitScroll(manifest_text(self.manifest), id="restore-manifest", classes="intro")
            yield OperationProgress(log=False, id="verify-progress")
            yield Static("", id="verify-checks")
        with StepPane(id="confirm"):
            yield FitScroll("", id="restore-confirm-text", classes="intro")
            yield TypedConfirmation(id="restore-typed", field_id="restore-confirm-input")
        with StepPane(id="restore"):
            yield OperationProgress(id="restore-progress")
        with StepPane(id="status"):
            yield Static("", id="restore-summary", classes="intro")
            yield MigrationTable(id="restore-table")

    def enter_step(self, step: str) -> None:
        self.set_next_label("Next ▶ (n)")
        if step == "verify":
            if not self.app_begin("verifying a backup"):
                self.allow_next("another operation is running")
                return
            self.query_one("#verify-progress", OperationProgress).reset(
                f"verifying {self.manifest.id}…"
            )
            self.set_working(True)
            self._verify()
        elif step == "confirm":
            m = self.manifest
            text = Text()
            text.append("Replace ", style="bold")
            text.append(f"{self.target.display_url} with backup {m.id}\n", style="bold")
            text.append(
                f"taken {short_time(m.created_at)} UTC ({m.reason}; head {m.head or '—'}).\n"
                "Everything written since then is replaced. A pre-restore backup is taken "
                "first, so this restore can itself be undone.\n"
            )
            self.query_one("#restore-confirm-text", Static).update(text)
            self.ask_typed(
                self.database_name,
                f"replace {self.target.display_url} with backup {m.id}",
                label="Restore ▶",
            )
        elif step == "restore":
            if not self.app_begin("restore"):
                self.go(self.step_index("confirm"))
                return
            self.query_one("#restore-progress", OperationProgress).reset(
                f"restoring {self.manifest.id}…"
            )
            self.set_working(True)
            self._restore()
        elif step == "status":
            self._show_status()
            self.finish()

    @work(thread=True, exclusive=True, group="restore-verify")
    def _verify(self) -> None:
        from malnu_tui.engine.backup import verify_backup

        with reporting(self, "verify"):
            pf = restore_preflight(self.target)
            report = verify_backup(
                self.target, self.manifest.id, progress=backup_progress_poster(self)
            )
            self.post_message(RestoreChecked(report, pf))

    @work(thread=True, exclusive=True, group="restore-run")
    def _restore(self) -> None:
        from malnu_tui.engine.backup import restore_backup

        with reporting(self, "restore"):
            with connected(self.target) as backend:
                result = restore_backup(
                    backend, self.target, self.manifest.id, progress=backup_progress_poster(self)
                )
            report, _ = load_status(self.target)
            self.post_message(RestoreFinished(result, report))

    @on(BackupProgress)
    def _progress(self, event: BackupProgress) -> None:
        widget_id = "#verify-progress" if self.step == "verify" else "#restore-progress"
        self.query_one(widget_id, OperationProgress).show_backup(
            event.done, event.total, event.message
        )

    @on(RestoreChecked)
    def _checked(self, event: RestoreChecked) -> None:
        event.stop()
        self.app_end()
        self.set_working(False)
        self.database_name = event.preflight.database_name
        self._show_checks(event.report, event.preflight)

    @on(RestoreFinished)
    def _restored(self, event: RestoreFinished) -> None:
        event.stop()
        self.app_end()
        self.set_working(False)
        self.result, self.report = event.result, event.report
        self.query_one("#restore-progress", OperationProgress).finish(
            f"✔ restored {self.manifest.id}"
        )
        self.go(self.step_index("status"))

    def _show_checks(self, report: VerifyReport, pf: Preflight) -> None:
        text = Text()
        for c in report.checks:
            mark, style = ("✔", "green") if c.ok else ("✘", "bold red")
            text.append(f"{mark} {c.name}: ", style=style)
            text.append(f"{c.detail[:70]}\n")
        for p in pf.problems:
            mark, style = ("✘", "bold red") if p.blocking else ("⚠", "yellow")
            text.append(f"{mark} {problem_text(p)}\n", style=style)
        self.query_one("#verify-checks", Static).update(text)
        self.refit_step()  # a long manifest scrolls; the checks stay in view
        progress = self.query_one("#verify-progress", OperationProgress)
        if report.ok and not pf.ok:
            progress.caption("✘ another operator holds the migration lock: nothing can start")
            self.allow_next("the migration lock is held")
        elif report.ok:
            progress.finish("✔ the backup is intact")
            self.allow_next()
        else:
            progress.caption("✘ the backup FAILED verification: it will not be restored")
            self.show_error(
                "backup failed verification: " + "; ".join(report.problems),
                "nothing was changed; choose an older backup",
                what="verify",
            )
            self.allow_next("the backup failed verification")

    def _show_status(self) -> None:
        text = Text()
        r = self.result
        if r is not None:
            text.append(f"✔ restored {r.backup_id}\n", style="bold green")
            if not r.schema_matches:
                text.append("⚠ the schema hash differs from the manifest\n", style="bold yellow")
            text.append("Pre-restore backup (restore it to undo this): ", style="bold")
            text.append(f"{r.pre_restore_id}\n", style="bold reverse")
            for warning in r.warnings:
                text.append(f"⚠ {warning}\n", style="bold yellow")
        else:
            text.append("✘ the restore did not complete\n", style="bold red")
            if self.last_error:
                text.append(self.last_error + "\n")
            text.append("A failed restore leaves the database as it was.\n")
        if self.report is not None:
            text.append(f"Now: {self.report.summary()}")
            self.query_one("#restore-table", MigrationTable).show(self.report, None)
        self.query_one("#restore-summary", Static).update(text)

    def step_failed(self, what: str) -> None:
        self.app_end()
        if what == "restore":
            self.set_working(False)
            self.allow_next(label="Status ▶ (n)")
            return
        super().step_failed(what)
