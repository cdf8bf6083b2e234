"""The console: a status home screen, SQL view, wizards, backups, audit log and help.

The app holds the targets and the one operation that may run at a time; screens live in
:mod:`malnu_tui.tui.screens`, styles in ``*.tcss`` beside this module.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual.app import App
from textual.binding import Binding, BindingType
from textual.screen import Screen

from malnu_tui.tui.commands import MalnuCommands
from malnu_tui.tui.screens.confirm import ConfirmScreen, StopConfirm
from malnu_tui.tui.screens.status import StatusScreen
from malnu_tui.tui.screens.wizard import WizardScreen

if TYPE_CHECKING:
    from malnu_tui.engine.config import Settings, Target
    from malnu_tui.tui.screens.fix import FixKind


QUIT_TITLE = "Quit malnu-tui?"


def quit_refusal(operation: str) -> str:
    """What quitting in the middle of ``operation`` would do, told instead of doing it."""
    if operation in ("apply", "rollback", "recovery"):
        return (
            f"{operation} is running, so the console stays open. Each migration is all or "
            "nothing: quitting now would roll back the one in progress and any not yet shown "
            "as done (nothing is left half-applied), keep the ones done, and leave the lock to "
            "be taken over. Wait for it to finish"
            + ("; ctrl+c stops it (asks first)." if operation != "recovery" else ".")
        )
    if operation == "restore":
        return (
            "restore is running, so the console stays open: it replaces the database in one "
            "step, and quitting now would leave it as it was before. Wait for it to finish."
        )
    return (
        f"{operation} is running, so the console stays open: quitting now would abandon it "
        "(a backup is written to a temporary file, never listed half-done). Wait for it to finish."
    )


def load_keymap(config: Path | None) -> dict[str, str]:
    """``[keys]`` of the config file: binding id → keys, e.g. ``"status.rollback" = "R"``.

    Every binding has an id (see the help screen); a bad table is ignored, not fatal: the
    console must open at 2 a.m. even with a typo in a key name.
    """
    if config is None:
        return {}
    try:
        # utf-8-sig: Notepad's BOM, as the config loader reads it (else [keys] went unread)
        data = tomllib.loads(config.read_text(encoding="utf-8-sig"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError):
        return {}
    keys = data.get("keys", {})
    if not isinstance(keys, dict):
        return {}
    return {str(k): str(v) for k, v in keys.items() if isinstance(v, str)}


class MalnuApp(App[int]):
    """``malnu-tui`` with no command."""

    TITLE = "malnu-tui"
    HELP_TITLE = "Everywhere"
    CSS_PATH = "app.tcss"
    COMMANDS = App.COMMANDS | {MalnuCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit_app", "Quit", id="app.quit"),
        Binding("ctrl+q", "quit_app", "Quit", show=False, priority=True, id="app.quit_now"),
        Binding(
            "ctrl+c",
            "interrupt",
            "Quit (asks); in a run: stop it (asks)",
            show=False,
            priority=True,
            id="app.interrupt",
        ),
        Binding("f1,question_mark", "open_help", "Help", id="app.help"),
    ]

    def __init__(self, *, settings: Settings, target: Target) -> None:
        super().__init__()
        self.settings = settings
        # The resolved target (flags and environment applied) replaces its configured entry.
        # A --database URL that is no configured target means that database only: no tab (and
        # no file created) for the embedded default or the configured ones.
        if target.name in settings.targets:
            targets = dict(settings.targets)
            targets[target.name] = target
            self.targets: list[Target] = list(targets.values())
        else:
            self.targets = [target]
        self.initial_target = target.name
        self.operation: str | None = None
        self.stopped_by: int | None = None  # SIGHUP or SIGTERM: exit once the work has stopped
        self.keys_end: int | None = None  # after SIGHUP: closed at exit, it ends the key reader
        self.key_overrides: dict[str, str] = {}
        self._signals_before: dict[int, Any] = {}  # SIGHUP's and SIGTERM's, put back at exit
        # No animations: over SSH every animation frame is a repaint sent down the line.
        self.animation_level = "none"
        self.sub_title = target.display_url

    def on_mount(self) -> None:
        import asyncio
        import os
        import signal
        import sys
        import threading

        from malnu_tui.engine.interrupts import mute_gone_terminal, watch_for_hangup

        loop = asyncio.get_running_loop()
        muted = threading.Lock()  # held for good by the first to mute the terminal

        def stop(signum: int, _frame: object) -> None:
            # At once, whatever the main thread waits on: a frame written to the terminal
            # that is gone fails (EIO), and Textual's writer thread with it, then the app.
            # (Not blocking: a handler that came while the watcher mutes leaves it to it.)
            if signum == signal.SIGHUP and muted.acquire(blocking=False):
                self.keys_end = mute_gone_terminal(keys=True)
            loop.call_soon_threadsafe(self.call_later, self._stop, signum)

        # Put back at unmount: left in place, a SIGTERM to the process after the app had
        # exited (a test run's, a script's) called into the closed loop, and the process hung.
        self._signals_before = {s: signal.signal(s, stop) for s in (signal.SIGHUP, signal.SIGTERM)}
        # The terminal gone without a SIGHUP (the console in a session of its own): ended as
        # the SIGHUP ends it. It spun on the keys' end-of-file, its writes failed, for ever.
        keys = sys.__stdin__
        if not self.is_headless and keys is not None and os.isatty(keys.fileno()):
            watch_for_hangup(keys.fileno(), lambda: stop(signal.SIGHUP, None))
        # Kept for the help screen and the palette, which show remapped keys as remapped.
        self.key_overrides = load_keymap(self.settings.config_path)
        self.set_keymap(self.key_overrides)
        # What the CLI says once on stderr (two targets sharing a backup_dir) would be drawn
        # over by the console: said here, where the operator looks, until dismissed.
        for warning in self.settings.warnings:
            self.notify(
                warning, title="Configuration", severity="warning", timeout=30, markup=False
            )

    def on_unmount(self) -> None:
        import signal

        for signum, handler in self._signals_before.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        self._signals_before = {}

    def _fatal_error(self) -> None:
        """Textual's crash report with secrets masked (``tui/crash.py``): Textual's own
        report prints every frame's locals, a URL's password with them. The one override of
        Textual's private API: it runs Textual's (the bell, the exit), then puts the masked
        report in the place of the one it queued for printing at exit."""
        from rich.segment import Segments

        from malnu_tui.tui.crash import crash_report

        queued = len(self._exit_renderables)
        super()._fatal_error()
        if len(self._exit_renderables) > queued:
            report = crash_report()
            rendered = Segments(self.console.render(report, self.console.options))
            self._exit_renderables[queued] = rendered

    def _stop(self, signum: int) -> None:
        """SIGHUP (the SSH session dropped, the window closed) or SIGTERM: the work in flight
        is stopped as the CLI's command is (the migration or restore in progress rolled back,
        the run recorded as interrupted, the lock released), then the console exits 129 or
        143 as the CLI does. It was killed outright: the run unrecorded, its lock row left."""
        if self.stopped_by is not None:
            return
        self.stopped_by = signum
        self._exit_once_stopped()

    def _exit_once_stopped(self) -> None:
        import os

        from malnu_tui.engine.interrupts import stop_workers

        assert self.stopped_by is not None
        if stop_workers(self.stopped_by):  # (one started since is stopped too)
            self.set_timer(0.1, self._exit_once_stopped)
            return
        if self.keys_end is not None:
            os.close(self.keys_end)
        self.exit(return_code=128 + self.stopped_by)

    def get_default_screen(self) -> Screen[None]:
        return StatusScreen(self.targets, self.initial_target)

    # -- the one operation at a time ----------------------------------------------------------
    def begin_operation(self, name: str) -> bool:
        """Claim the app for ``name``; False (and a notice) when another one is running."""
        if self.operation is not None:
            self._notify_busy()
            return False
        self.operation = name
        return True

    def _notify_busy(self) -> None:
        self.notify(
            f"{self.operation} is still running; wait for it to finish",
            severity="warning",
            timeout=4,
            markup=False,
        )

    def end_operation(self) -> None:
        self.operation = None

    # -- navigation ---------------------------------------------------------------------------
    @property
    def status_screen(self) -> StatusScreen:
        """The home screen (always at the bottom of the stack)."""
        for screen in self.screen_stack:
            if isinstance(screen, StatusScreen):
                return screen
        raise RuntimeError("the status screen is not mounted")

    def current_target(self) -> Target:
        return self.status_screen.current_target()

    def _back_home(self) -> bool:
        """Return to the status screen (from anywhere but a running operation)."""
        if self.operation is not None:
            self._notify_busy()
            return False
        while not isinstance(self.screen, StatusScreen) and len(self.screen_stack) > 1:
            self.pop_screen()
        return True

    def _refresh_after(self, _result: object = None) -> None:
        self.status_screen.reload(all_targets=True, health=True)
        self.status_screen.focus_table()

    def action_quit_app(self) -> None:
        if self.operation is not None:
            self.notify(quit_refusal(self.operation), severity="error", timeout=12, markup=False)
            return
        self.exit(0)

    def action_interrupt(self) -> None:
        """ctrl+c: never vanish. During a wizard's run it asks to stop it (again: stops it);
        while another operation runs it says what quitting would do (and does not quit);
        otherwise it asks first."""
        if isinstance(self.screen, StopConfirm):
            self.screen.dismiss(True)  # ctrl+c twice: the operator means it
            return
        if isinstance(self.screen, WizardScreen) and self.screen.can_stop():
            self.screen.action_stop_run()
            return
        if self.operation is not None:
            self.notify(quit_refusal(self.operation), severity="error", timeout=12, markup=False)
            return
        if isinstance(self.screen, WizardScreen) and self.screen.stop_asked:
            # ctrl+c pressed to stop the run (its question's "ctrl+c again"), come as the run
            # ended: it opened the quit question, and one more press quit the app.
            self.notify(
                "the run has ended: nothing to stop. esc closes this screen; ctrl+c there "
                "asks to quit",
                timeout=8,
            )
            return
        if isinstance(self.screen, ConfirmScreen) and self.screen.title_text == QUIT_TITLE:
            self.exit(0)  # ctrl+c twice: the operator means it
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.exit(0)

        # Its button names its key, as every dialog's does ("Quit" alone left ctrl+c unsaid).
        self.push_screen(
            ConfirmScreen(
                QUIT_TITLE,
                "Nothing is running; no change is lost. ctrl+c again quits; esc stays.",
                None,
                "Quit (ctrl+c)",
            ),
            answered,
        )

    def action_refresh_status(self) -> None:
        if self._back_home():
            self.status_screen.reload(all_targets=True, health=True)

    def action_open_help(self) -> None:
        from malnu_tui.tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_open_audit(self) -> None:
        from malnu_tui.tui.screens.audit import AuditScreen

        if self._back_home():
            self.push_screen(AuditScreen(self.current_target()))

    def action_open_alerts(self) -> None:
        from malnu_tui.tui.screens.alerts import AlertsScreen
        from malnu_tui.tui.widgets.target_panel import TargetPanel

        if self._back_home():
            # The panels' rollback checksums: a refresh reads only the files changed since.
            sums = {p.target.name: p.sums for p in self.status_screen.query(TargetPanel)}
            self.push_screen(AlertsScreen(self.targets, self.current_target(), sums))

    def action_open_sync(self) -> None:
        from malnu_tui.tui.screens.sync import SyncScreen

        if self._back_home():
            self.push_screen(SyncScreen(self.settings))

    def action_open_import(self) -> None:
        from malnu_tui.tui.screens.data_import import ImportWizard

        if self._back_home():
            self.push_screen(
                ImportWizard(self.current_target(), settings=self.settings), self._refresh_after
            )

    def action_open_apply(self) -> None:
        from malnu_tui.tui.screens.apply import ApplyWizard

        if self._back_home():
            self.push_screen(ApplyWizard(self.current_target()), self._refresh_after)

    def action_open_rollback(self) -> None:
        from malnu_tui.tui.screens.rollback import RollbackWizard

        if self._back_home():
            # The status on screen is reused for "how far" (the preview reads it again).
            panel = self.status_screen.current_panel()
            report = panel.report if panel is not None else None
            wizard = RollbackWizard(self.current_target(), report=report)
            self.push_screen(wizard, self._refresh_after)

    def action_open_backups(self) -> None:
        from malnu_tui.tui.screens.backups import BackupBrowser

        if self._back_home():
            self.push_screen(BackupBrowser(self.current_target()), self._refresh_after)

    def action_open_recover(self) -> None:
        from malnu_tui.tui.screens.recover import RecoverWizard

        if self._back_home():
            self.push_screen(RecoverWizard(self.current_target()), self._refresh_after)

    def action_view_sql(self) -> None:
        if self._back_home():
            self.status_screen.action_view_sql()

    def action_next_target(self) -> None:
        if self._back_home():
            self.status_screen.action_next_target()

    def action_cycle_filter(self) -> None:
        if self._back_home():
            self.status_screen.action_cycle_filter()

    def action_switch_target(self, name: str) -> None:
        from malnu_tui.tui.screens.status import pane_id

        if self._back_home():
            from textual.widgets import TabbedContent

            self.status_screen.query_one(TabbedContent).active = pane_id(name)

    def _fix(self, kind: FixKind) -> None:
        from malnu_tui.engine.status import MigrationState
        from malnu_tui.tui.screens.fix import FixScreen

        if not self._back_home():
            return
        chosen = self.status_screen.current_selection()
        wanted = MigrationState.DRIFTED if kind == "repair" else MigrationState.FAILED
        if chosen is None or chosen[0].state is not wanted:
            self.notify(
                f"select a {wanted.value} migration first (f filters by state)",
                severity="warning",
                timeout=5,
                markup=False,
            )
            return
        self.push_screen(
            FixScreen(self.current_target(), kind, chosen[0].filename, chosen[0].error_message),
            self._refresh_after,
        )

    def action_repair(self) -> None:
        """Accept the edit of the selected drifted file (audited)."""
        self._fix("repair")

    def action_clear_failed(self) -> None:
        """Clear the failed row of the selected migration (audited)."""
        self._fix("clear-failed")

    def action_unlock(self) -> None:
        from malnu_tui.tui.screens.unlock import UnlockScreen

        if self._back_home():
            self.push_screen(UnlockScreen(self.current_target()), self._refresh_after)
