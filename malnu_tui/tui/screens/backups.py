"""The backup browser: every backup of the target, newest first, its manifest, and create,
verify, restore and delete."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer

from malnu_tui.tui.host import begin_operation, end_operation
from malnu_tui.tui.messages import BackupProgress, BackupsListed, LocksLeft, OperationFailed
from malnu_tui.tui.session import backup_progress_poster, connected, looking, reporting
from malnu_tui.tui.widgets.error_box import ErrorBox, lock_warnings, outcome
from malnu_tui.tui.widgets.header import AppHeader
from malnu_tui.tui.widgets.manifest import (
    human_size,
    list_target_backups,
    manifest_text,
    short_time,
    verified_cell,
)
from malnu_tui.tui.widgets.more_keys import MoreKeys
from malnu_tui.tui.widgets.plain import DataTable, Static
from malnu_tui.tui.widgets.progress import OperationProgress

if TYPE_CHECKING:
    from malnu_tui.engine.backup import BackupManifest, VerifyReport
    from malnu_tui.engine.config import Target


# Below this width the manifest goes under the list instead of beside it.
NARROW_WIDTH = 110


@dataclass
class BackupCreated(Message):
    manifest: BackupManifest


@dataclass
class BackupVerified(Message):
    report: VerifyReport


@dataclass
class BackupDeleted(Message):
    manifest: BackupManifest


@dataclass
class DeleteAsked(Message):
    """The database's name was read: the word typed to delete ``manifest``."""

    manifest: BackupManifest
    word: str


# What fails before anything runs (no operation to end): the list, the name to type.
ASK = "reading the database's name"
READS = frozenset({"list", ASK})


class BackupBrowser(Screen[None]):
    """Backups of one target: list, manifest, and actions."""

    HELP_TITLE = "Backups"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Back", id="backups.back"),
        Binding("c", "create", "Create", id="backups.create"),
        Binding("v", "verify", "Verify", id="backups.verify"),
        # Not r (rollback on the status screen) nor s (sync): one key, one meaning.
        Binding("o", "restore", "Restore", id="backups.restore"),
        Binding("d", "delete", "Delete", id="backups.delete"),
        # In help, not the footer: at 80 columns it pushed "f1 Help" to "f1 H".
        Binding("ctrl+r,f5", "reload", "Refresh", show=False, id="backups.refresh"),
    ]

    def __init__(self, target: Target) -> None:
        super().__init__()
        self.target = target
        self.manifests: tuple[BackupManifest, ...] = ()
        self.busy: str | None = None

    def compose(self) -> ComposeResult:
        yield AppHeader()
        yield Static(
            Text(
                f"Backups of {self.target.name} ({self.target.display_url}), newest first",
                style="bold",
            ),
            classes="screen-title",
        )
        yield ErrorBox()
        with Horizontal(id="backup-body"):
            yield DataTable(id="backup-table", cursor_type="row", zebra_stripes=True)
            with VerticalScroll(id="manifest-pane"):
                yield Static("", id="manifest")
        yield OperationProgress(log=False, id="backup-op")
        yield Static("", id="backup-locks")
        yield MoreKeys()
        yield Footer(compact=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("created (UTC)", "reason", "size", "head", "verified")
        self.query_one("#backup-op", OperationProgress).display = False
        self.query_one("#backup-locks").display = False
        table.focus()
        self.action_reload()

    def on_resize(self, event: events.Resize) -> None:
        self.set_class(event.size.width < NARROW_WIDTH, "narrow")

    # -- helpers ------------------------------------------------------------------------------
    def selected(self) -> BackupManifest | None:
        table = self.query_one(DataTable)
        if not self.manifests or table.cursor_row < 0:
            return None
        return self.manifests[min(table.cursor_row, len(self.manifests) - 1)]

    def _begin(self, name: str) -> bool:
        if self.busy is not None:
            self.notify(
                f"{self.busy} is still running", severity="warning", timeout=3, markup=False
            )
            return False
        if not begin_operation(self.app, name):
            return False
        self.busy = name
        self.query_one("#backup-locks").display = False  # (said of the operation before)
        progress = self.query_one("#backup-op", OperationProgress)
        progress.display = True
        progress.reset(f"{name}…")
        return True

    def _end(self) -> None:
        self.busy = None
        end_operation(self.app)

    # -- actions ------------------------------------------------------------------------------
    def action_close(self) -> None:
        if self.busy is None:
            self.dismiss(None)
        else:
            self.notify(
                f"{self.busy} is running; wait for it", severity="warning", timeout=3, markup=False
            )

    def action_reload(self) -> None:
        self._load()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # v, o and d act on the backup selected: with none listed they are not offered (the
        # footer listed them, and each said "no backup selected"); c creates the first.
        if action in ("verify", "restore", "delete"):
            return bool(self.manifests)
        return True

    def action_create(self) -> None:
        if self._begin("creating a backup"):
            self._create()

    def action_verify(self) -> None:
        m = self.selected()
        if m is None:
            self.notify("no backup selected", severity="warning", timeout=3, markup=False)
        elif self._begin(f"verifying {m.id}"):
            self._verify(m.id)

    def action_restore(self) -> None:
        from malnu_tui.tui.screens.restore import RestoreWizard

        m = self.selected()
        if m is None:
            self.notify("no backup selected", severity="warning", timeout=3, markup=False)
            return
        if self.busy is not None:
            self.notify(
                f"{self.busy} is still running", severity="warning", timeout=3, markup=False
            )
            return
        self.app.push_screen(RestoreWizard(self.target, m), lambda _r: self.action_reload())

    def action_delete(self) -> None:
        m = self.selected()
        if m is None:
            self.notify("no backup selected", severity="warning", timeout=3, markup=False)
        elif self.busy is not None:
            self.notify(
                f"{self.busy} is still running", severity="warning", timeout=3, markup=False
            )
        else:
            self._ask_delete(m)

    @on(DeleteAsked)
    def _delete_asked(self, event: DeleteAsked) -> None:
        """The database's name typed, as `backup delete` asks it (the dialog asked for the
        word "delete" under a field that said "type the database name here")."""
        from malnu_tui.tui.screens.confirm import ConfirmScreen

        event.stop()
        m = event.manifest
        body = Text(
            f"Taken {short_time(m.created_at)} UTC ({m.reason}, head {m.head or '—'}) from "
            f"{self.target.display_url}.\n"
            "Its data file and manifest are removed; this cannot be undone."
        )

        def done(yes: bool | None) -> None:
            if yes and self._begin(f"deleting {m.id}"):
                self._delete(m.id)

        self.app.push_screen(
            ConfirmScreen(f"Delete backup {m.id}", body, event.word, "Delete"), done
        )

    # -- workers ------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="backups-list")
    def _load(self) -> None:
        with reporting(self, "list"):
            self.post_message(BackupsListed(list_target_backups(self.target)))

    @work(thread=True, exclusive=True, group="backups-op")
    def _create(self) -> None:
        from malnu_tui.engine.backup import create_backup

        with reporting(self, "create"), connected(self.target) as backend:
            m = create_backup(
                backend, self.target, reason="manual", progress=backup_progress_poster(self)
            )
            self.post_message(BackupCreated(m))

    @work(thread=True, exclusive=True, group="backups-op")
    def _verify(self, backup_id: str) -> None:
        from malnu_tui.engine.backup import verify_backup

        with reporting(self, "verify"):
            report = verify_backup(self.target, backup_id, progress=backup_progress_poster(self))
            self.post_message(BackupVerified(report))

    @work(thread=True, exclusive=True, group="backups-ask")
    def _ask_delete(self, m: BackupManifest) -> None:
        from malnu_tui.engine.plan import confirmation_word

        with reporting(self, ASK), looking(self.target) as backend:
            self.post_message(DeleteAsked(m, confirmation_word(backend)))

    @work(thread=True, exclusive=True, group="backups-op")
    def _delete(self, backup_id: str) -> None:
        from malnu_tui.engine.backup import delete_backup

        with reporting(self, "delete"), connected(self.target) as backend:
            # With the backend, the engine records the deletion in the audit trail.
            deleted = delete_backup(
                self.target.backup_dir, backup_id, backend=backend, target=self.target
            )
            self.post_message(BackupDeleted(deleted))

    # -- results ------------------------------------------------------------------------------
    @on(BackupProgress)
    def _progress(self, event: BackupProgress) -> None:
        self.query_one("#backup-op", OperationProgress).show_backup(
            event.done, event.total, event.message
        )

    @on(BackupsListed)
    def _listed(self, event: BackupsListed) -> None:
        event.stop()
        self.manifests = event.manifests
        self._show_list()

    @on(BackupCreated)
    def _created(self, event: BackupCreated) -> None:
        event.stop()
        self._end()
        self._progress_bar().finish(f"✔ backup {event.manifest.id} created")
        self.action_reload()

    @on(BackupVerified)
    def _verified(self, event: BackupVerified) -> None:
        event.stop()
        self._end()
        report = event.report
        if report.ok:
            self._progress_bar().finish(f"✔ {report.backup_id} verified: every check passed")
        else:
            self._progress_bar().caption(f"✘ {report.backup_id} FAILED verification")
            self.query_one(ErrorBox).show_error(
                f"backup {report.backup_id} failed verification: " + "; ".join(report.problems),
                "never restore it; choose an older backup",
                what="verify",
            )
        if report.unrecorded:  # a store this user may only read
            self.notify(
                f"the outcome could not be recorded in its manifest: {report.unrecorded}",
                severity="warning", timeout=8, markup=False,
            )  # fmt: skip
        self.action_reload()

    @on(BackupDeleted)
    def _deleted(self, event: BackupDeleted) -> None:
        event.stop()
        self._end()
        self._progress_bar().finish(f"✔ deleted {event.manifest.id}")
        self.action_reload()

    @on(LocksLeft)
    def _locks_left(self, event: LocksLeft) -> None:
        """Done, but its lock row stayed (D1 unanswered as a delete released it): said under
        the result with its way out, as the CLI's ``warning:`` lines say it (the screen said
        "✔ deleted" alone)."""
        event.stop()
        locks = self.query_one("#backup-locks", Static)
        locks.update(lock_warnings(event.lines))
        locks.display = True

    def _progress_bar(self) -> OperationProgress:
        return self.query_one("#backup-op", OperationProgress)

    @on(OperationFailed)
    def _failed(self, event: OperationFailed) -> None:
        event.stop()
        if event.what not in READS:
            self._end()
            self.query_one("#backup-op", OperationProgress).fail(
                f"✘ {event.what} {outcome(event.refused)}: see the error above"
            )
        self.query_one(ErrorBox).show_failed(event)

    def _show_list(self) -> None:
        table = self.query_one(DataTable)
        keep = table.cursor_row
        table.clear()
        for m in self.manifests:
            table.add_row(
                short_time(m.created_at),
                m.reason,
                human_size(m.size),
                m.head or "—",
                verified_cell(m),
            )
        if self.manifests:
            table.move_cursor(row=min(max(keep, 0), len(self.manifests) - 1), animate=False)
        self._show_manifest()
        self.refresh_bindings()  # v, o and d: offered only with a backup to act on

    @on(DataTable.RowHighlighted)
    def _highlighted(self) -> None:
        self._show_manifest()

    @on(DataTable.RowSelected)
    def _selected(self) -> None:
        self.query_one("#manifest-pane").focus()

    def _show_manifest(self) -> None:
        m = self.selected()
        pane = self.query_one("#manifest", Static)
        if m is None:
            pane.update(
                Text(
                    f"No backups yet in {self.target.backup_dir}.\nc creates one now.",
                    style="italic",
                )
            )
        else:
            pane.update(manifest_text(m))
