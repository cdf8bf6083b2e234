"""SVG snapshots of every screen at 80×24 and 120×40 (pytest-textual-snapshot, Textual pinned).

The demo lives at a fixed path with pinned timestamps, durations, actors and backup ids, so the
pictures do not change between runs. Update with ``pytest --snapshot-update`` after a deliberate
change, and look at the pictures before committing them.
"""

from __future__ import annotations

import fcntl
import gc
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.render import measure
from textual.widgets import DataTable, Input

from malnu_tui.tui.app import MalnuApp
from malnu_tui.tui.screens.status import StatusScreen
from malnu_tui.tui.screens.wizard import WizardScreen
from malnu_tui.tui.widgets.dialog import refit
from malnu_tui.tui.widgets.target_panel import TargetPanel
from tests.tui_demo import FIXED_ROOT, Demo, add_backups, build_demo, take_lock_elsewhere
from tests.tui_demo import wait_until as _wait_until

pytestmark = pytest.mark.xdist_group("tui")  # one worker: the demo lives at a fixed path
FIXED_LOCK = FIXED_ROOT.with_name(FIXED_ROOT.name + ".lock")

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]
SnapCompare = Callable[..., bool]
RunBefore = Callable[[Pilot[Any]], Awaitable[None]]


@pytest.fixture
def demo(monkeypatch: pytest.MonkeyPatch) -> Iterator[Demo]:
    monkeypatch.delenv("NO_COLOR", raising=False)  # colour pictures; one test sets it
    ids = iter(f"20261120T0930{i:02d}000000Z-5afe{i:02d}" for i in range(10, 99))
    monkeypatch.setattr("malnu_tui.engine.backup.core.new_backup_id", lambda _now: next(ids))
    # "as of HH:MM:SS" on the status screen: a pinned clock (which also never ages the picture
    # into a periodic refresh during a snapshot).
    monkeypatch.setattr(
        "malnu_tui.tui.widgets.target_panel.clock", lambda: datetime(2026, 11, 20, 9, 30, 0)
    )
    # The demo path is fixed (it shows in the pictures): another run of these tests on the
    # same machine (a second checkout, the screenshots script) waits for this one.
    with FIXED_LOCK.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield build_demo(FIXED_ROOT)
            settle_threads()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def settle_threads() -> None:
    """Let worker threads of the app that just exited finish, and close what they left: the
    next test rebuilds the demo at the same path, and SQLite must not see a stale connection
    to a deleted file whose inode number is reused."""
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join(timeout=10)
    gc.collect()


def app_for(demo: Demo) -> MalnuApp:
    settings = demo.settings()
    app = MalnuApp(settings=settings, target=settings.target("primary"))
    # A toast the picture shows (the filter's "showing applied migration(s)") lasts 5 s; a
    # loaded machine (load 14) took longer than that to settle, and the picture lost it.
    app.NOTIFICATION_TIMEOUT = 600
    return app


async def wait_until(pilot: Pilot[Any], condition: Callable[[], bool]) -> None:
    await _wait_until(pilot, condition)


# Columns the app writes with ``update_cell`` (no width update, by design: the sync table's
# progress column is past the right edge at 80 columns): their cells may be wider.
_UPDATED_IN_PLACE = {("sync-tables", "progress")}


def _columns_fit(table: DataTable[Any]) -> bool:
    """Every auto-width column of ``table`` is as wide as its widest cell (of the first 50
    rows): measured here rather than trusted to the table's pending flags, which a loaded
    machine once showed clear while the recover wizard's backup table still had its columns
    as wide as their headers."""
    columns = table.ordered_columns
    for index in range(min(table.row_count, 50)):
        _label, cells = table._get_row_renderables(index)
        for column, cell in zip(columns, cells, strict=False):
            if (table.id, str(column.label)) in _UPDATED_IN_PLACE:
                continue
            if column.auto_width and measure(table.app.console, cell, 1) > column.content_width:
                return False
    return True


def _tables_sized(app: MalnuApp) -> bool:
    """Every DataTable of every screen on the stack has sized its columns: a dialog's picture
    shows the table of the screen under it too (a loaded machine once caught that table with
    its columns still as wide as their headers)."""
    return not any(
        t._require_update_dimensions or t._new_rows or t._updated_cells or not _columns_fit(t)
        for screen in app.screen_stack
        for t in screen.query(DataTable)
    )


async def settle(pilot: Pilot[Any]) -> None:
    """Let the screen come to rest before the picture (:func:`_settle_once`), again while a
    DataTable is not sized at its end: rows a worker added after the tables were found sized
    (the recover wizard's backups after its time was typed) were pictured in columns as wide
    as their headers on a quiet machine once the fixed 0.3 s pause was gone (session 19)."""
    for _ in range(5):
        await _settle_once(pilot)
        if _tables_sized(pilot.app):  # type: ignore[arg-type]
            return


async def _settle_once(pilot: Pilot[Any]) -> None:
    """Let the screen come to rest before the picture: its animations done and the app idle
    (a fixed 0.3 s pause until session 19), then until every DataTable has sized its columns
    (it does so when idle, late on a loaded machine), then
    every DataTable painted whole once more: a loaded machine once caught a table whose rows
    were painted at their new widths and its header line not yet."""
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()
    await wait_until(pilot, lambda: _tables_sized(pilot.app))  # type: ignore[arg-type]
    for screen in pilot.app.screen_stack:
        for table in screen.query(DataTable):
            table.refresh()
    await pilot.pause()
    # A step's text measured (widgets/dialog.py refit) while a table in its step was still
    # sizing itself stayed as measured: measured again now that every table has its size
    # (a loaded machine and a quiet one had ended in different pictures of the same step).
    for screen in pilot.app.screen_stack:
        for pane in screen.query(".step, .dialog"):
            refit(pane)
    await pilot.pause()
    await pilot.pause(0.05)
    # Then until two pictures a tenth of a second apart are the same: a step's text that
    # scrolls (widgets/dialog.py refit) settles a few refreshes after it is filled, and on a
    # loaded machine the picture was taken before.
    picture, deadline = pilot.app.export_screenshot(), time.monotonic() + 10
    while time.monotonic() < deadline:
        await pilot.pause(0.1)
        again = pilot.app.export_screenshot()
        if again == picture:
            break
        picture = again


def status_loaded(app: MalnuApp) -> bool:
    screen = app.screen
    return isinstance(screen, StatusScreen) and all(
        (p.report is not None and p.health is not None) or p.query_one(".error-box").display
        for p in screen.query(TargetPanel)
    )


def at_step(app: MalnuApp, step: str) -> bool:
    screen = app.screen
    return (
        isinstance(screen, WizardScreen)
        and screen.step == step
        and not screen.working
        and screen.blocked != "loading…"
        # The step's focus has landed (a blocked step focuses nothing: Enter must not
        # press Cancel there).
        and (screen.focused is not None or screen.blocked is not None)
    )


def steps(*actions: str | tuple[str, ...], home: bool = True) -> RunBefore:
    """A run_before: wait for the status (``home``), then each action is keys to press (a
    tuple) or a wizard step to wait for (a string)."""

    async def run(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, MalnuApp)
        if home:
            await wait_until(pilot, lambda: status_loaded(app))
        for action in actions:
            if isinstance(action, tuple):
                await pilot.press(*action)
            else:
                await wait_until(pilot, lambda action=action: at_step(app, action))  # type: ignore[misc]
                await pilot.pause(0.05)  # the step's focus lands before any typing
        await settle(pilot)

    return run


# -- status --------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_status(snap_compare: SnapCompare, demo: Demo, size: tuple[int, int]) -> None:
    assert snap_compare(app_for(demo), terminal_size=size, run_before=steps())


@pytest.mark.parametrize("size", SIZES)
def test_status_locked(snap_compare: SnapCompare, demo: Demo, size: tuple[int, int]) -> None:
    take_lock_elsewhere(demo.primary_db)
    assert snap_compare(app_for(demo), terminal_size=size, run_before=steps())


@pytest.mark.parametrize("size", SIZES)
def test_status_error_state(snap_compare: SnapCompare, demo: Demo, size: tuple[int, int]) -> None:
    demo.staging_db.unlink()
    demo.staging_db.mkdir()  # unreadable: the error is shown in place, never a traceback

    async def run(pilot: Pilot[Any]) -> None:
        await steps()(pilot)
        app = pilot.app
        assert isinstance(app, MalnuApp)
        app.action_next_target()  # the key t is covered by the Pilot tests
        await wait_until(pilot, lambda: app.status_screen.current_target().name == "staging")
        await settle(pilot)

    assert snap_compare(app_for(demo), terminal_size=size, run_before=run)


def test_status_no_color(
    snap_compare: SnapCompare, demo: Demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    assert snap_compare(app_for(demo), terminal_size=(80, 24), run_before=steps(("f",)))


# -- SQL view (split at 120 columns, unified diff at 80) ----------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_sql_view(snap_compare: SnapCompare, demo: Demo, size: tuple[int, int]) -> None:
    from malnu_tui.tui.screens.sql_view import SqlViewScreen

    async def run(pilot: Pilot[Any]) -> None:
        await steps(("end", *["down"] * 8, "enter"))(pilot)
        app = pilot.app
        await wait_until(
            pilot,
            lambda: isinstance(app.screen, SqlViewScreen) and app.screen.bundle is not None,
        )
        await settle(pilot)

    assert snap_compare(app_for(demo), terminal_size=size, run_before=run)


def test_sql_view_checked_on_postgresql(
    snap_compare: SnapCompare, demo: Demo, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """80×24: a statement PostgreSQL rejects, with its message, after the check ran."""
    from tests.tui_demo import add_orders, sql_checked

    add_orders(demo)
    monkeypatch.setenv("MALNU_PARITY_DATABASE", pg_url)
    # The cluster's port and database name change per run: the picture names a fixed server.
    monkeypatch.setattr(
        "malnu_tui.tui.screens.sql_check.server_label", lambda _url: "postgresql://localhost/check"
    )

    async def run(pilot: Pilot[Any]) -> None:
        await steps(("home", *["down"] * 9, "enter"))(pilot)
        await wait_until(pilot, lambda: sql_checked(pilot.app))  # type: ignore[arg-type]
        await settle(pilot)

    assert snap_compare(app_for(demo), terminal_size=(80, 24), run_before=run)


# -- rollback wizard ----------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_rollback_how_far(snap_compare: SnapCompare, demo: Demo, size: tuple[int, int]) -> None:
    assert snap_compare(app_for(demo), terminal_size=size, run_before=steps(("r",), "how-far"))


def _two_steps() -> RunBefore:
    async def run(pilot: Pilot[Any]) -> None:
        await steps(("r",), "how-far")(pilot)
        pilot.app.screen.query_one("#steps-input", Input).focus()
        await pilot.pause()
        await pilot.press("2", "enter")
        await steps("preview", home=False)(pilot)

    return run


@pytest.mark.parametrize("size", SIZES)
def test_rollback_preview(snap_compare: SnapCompare, demo: Demo, size: tuple[int, int]) -> None:
    assert snap_compare(app_for(demo), terminal_size=size, run_before=_two_steps())


@pytest.mark.parametrize("size", SIZES)
def test_rollback_preview_blocked(
    snap_compare: SnapCompare, demo: Demo, size: tuple[int, int]
) -> None:
    (demo.root / "rollback" / "20251124_123000_drop_submissions_table.sql").unlink()
    take_lock_elsewhere(demo.primary_db)
    assert snap_compare(app_for(demo), terminal_size=size, run_before=_two_steps())


@pytest.mark.parametrize("size", SIZES)
def test_rollback_confirm(snap_compare: SnapCompare, demo: Demo, size: tuple[int, int]) -> None:
    run = steps(("r",), "how-far", ("n",), "preview", ("n",), "confirm", ("s", "c", "h"))
    assert snap_compare(app_for(demo), terminal_size=size, run_before=run)


@pytest.mark.parametrize("size", SIZES)
def test_rollback_verification(
    snap_compare: SnapCompare, demo: Demo, size: tuple[int, int]
) -> None:
    run = steps(
        ("r",), "how-far", ("n",), "preview",
        ("n", *"school", "enter"), "verify",
    )  # fmt: skip
    assert snap_compare(app_for(demo), terminal_size=size, run_before=run)


# -- apply wizard -------------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_apply_plan(snap_compare: SnapCompare, demo: Demo, size: tuple[int, int]) -> None:
    assert snap_compare(app_for(demo), terminal_size=size, run_before=steps(("a",), "plan"))


@pytest.mark.parametrize("size", SIZES)
def test_apply_confirm(snap_compare: SnapCompare, demo: Demo, size: tuple[int, int]) -> None:
    # A wrong word submitted: the prompt says why and nothing runs.
    run = steps(("a",), "plan", ("n",), "confirm", (*"School", "enter"))
    assert snap_compare(app_for(demo), terminal_size=size, run_before=run)


# -- backups, restore, recover ------------------------------------------------------------------


def _browser() -> RunBefore:
    from malnu_tui.tui.screens.backups import BackupBrowser

    async def run(pilot: Pilot[Any]) -> None:
        await steps(("b",))(pilot)
        app = pilot.app
        await wait_until(
            pilot,
            lambda: (
                isinstance(app.screen, BackupBrowser)
                and app.screen.query_one(DataTable).row_count == 2
            ),
        )
        await settle(pilot)

    return run


@pytest.mark.parametrize("size", SIZES)
def test_backup_browser(snap_compare: SnapCompare, demo: Demo, size: tuple[int, int]) -> None:
    add_backups(demo)
    assert snap_compare(app_for(demo), terminal_size=size, run_before=_browser())


@pytest.mark.parametrize("size", SIZES)
def test_backup_delete_dialog(snap_compare: SnapCompare, demo: Demo, size: tuple[int, int]) -> None:
    add_backups(demo)

    async def run(pilot: Pilot[Any]) -> None:
        await _browser()(pilot)
        await pilot.press("d")
        app = pilot.app
        await wait_until(pilot, lambda: isinstance(app.focused, Input))
        await pilot.press("s", "c")  # the database's name, as `backup delete` asks it
        await settle(pilot)

    assert snap_compare(app_for(demo), terminal_size=size, run_before=run)


@pytest.mark.parametrize("size", SIZES)
def test_restore_confirm(snap_compare: SnapCompare, demo: Demo, size: tuple[int, int]) -> None:
    add_backups(demo)

    async def run(pilot: Pilot[Any]) -> None:
        await _browser()(pilot)
        await pilot.press("down", "o")  # restore the older, verified backup
        await steps("verify", ("n",), "confirm", home=False)(pilot)

    assert snap_compare(app_for(demo), terminal_size=size, run_before=run)


@pytest.mark.parametrize("size", SIZES)
def test_recover_pick_time(snap_compare: SnapCompare, demo: Demo, size: tuple[int, int]) -> None:
    add_backups(demo)
    run = steps(("p",), "when", ("-", "1", "h"))
    assert snap_compare(app_for(demo), terminal_size=size, run_before=run)


# -- audit, help, palette, unlock ---------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_audit_log(snap_compare: SnapCompare, demo: Demo, size: tuple[int, int]) -> None:
    from malnu_tui.tui.screens.audit import AuditScreen

    async def run(pilot: Pilot[Any]) -> None:
        await steps(("l",))(pilot)
        app = pilot.app
        await wait_until(
            pilot, lambda: isinstance(app.screen, AuditScreen) and bool(app.screen.entries)
        )
        await settle(pilot)

    assert snap_compare(app_for(demo), terminal_size=size, run_before=run)


@pytest.mark.parametrize("size", SIZES)
def test_alerts_view(snap_compare: SnapCompare, demo: Demo, size: tuple[int, int]) -> None:
    from malnu_tui.engine.monitor.alerts import process_alerts
    from malnu_tui.engine.monitor.config import MonitorConfig
    from malnu_tui.engine.monitor.reading import run_checks
    from malnu_tui.tui.screens.alerts import AlertsScreen

    settings = demo.settings()
    report = run_checks(list(settings.targets.values()), MonitorConfig())
    process_alerts(report, (), now=datetime(2026, 11, 20, 9, 30, 0))  # pinned "opened at"

    async def run(pilot: Pilot[Any]) -> None:
        await steps(("h",))(pilot)
        app = pilot.app
        await wait_until(
            pilot, lambda: isinstance(app.screen, AlertsScreen) and app.screen.loaded is not None
        )
        await settle(pilot)

    assert snap_compare(app_for(demo), terminal_size=size, run_before=run)


@pytest.mark.parametrize("size", SIZES)
def test_help(snap_compare: SnapCompare, demo: Demo, size: tuple[int, int]) -> None:
    assert snap_compare(app_for(demo), terminal_size=size, run_before=steps(("f1",)))


@pytest.mark.parametrize("size", SIZES)
def test_unlock_dialog(snap_compare: SnapCompare, demo: Demo, size: tuple[int, int]) -> None:
    take_lock_elsewhere(demo.primary_db)

    async def run(pilot: Pilot[Any]) -> None:
        await steps(("U",))(pilot)
        app = pilot.app
        await wait_until(pilot, lambda: isinstance(app.focused, Input))
        await pilot.pause(0.2)

    assert snap_compare(app_for(demo), terminal_size=size, run_before=run)


def test_stop_confirmation(snap_compare: SnapCompare, demo: Demo) -> None:
    """The stop key's question (ctrl+c during an apply's or a rollback's run), at 80×24: the
    keys that answer it on the dialog (y, esc), keyboard alone. Shown here over the status
    screen: over a run, the run's clock would tick in the picture."""
    from malnu_tui.tui.screens.confirm import StopConfirm

    async def run(pilot: Pilot[Any]) -> None:
        await steps()(pilot)
        app = pilot.app
        app.push_screen(StopConfirm(None, "sqlite", "applied"))
        await wait_until(pilot, lambda: isinstance(app.screen, StopConfirm))
        await settle(pilot)

    assert snap_compare(app_for(demo), terminal_size=(80, 24), run_before=run)
