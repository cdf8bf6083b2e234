"""SVG snapshot of the console's sync screen: the reporting pair after a sync, with a verify
report naming a missing and a different key (times pinned: last sync 5 min ago)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from malnu_tui.tui.app import MalnuApp
from malnu_tui.tui.screens.confirm import ConfirmScreen
from malnu_tui.tui.screens.status import StatusScreen
from tests.test_tui_snapshots import app_for, settle, settle_threads
from tests.test_tui_snapshots import demo as demo  # the fixture
from tests.test_tui_sync import (
    academic_records_then_users,
    idle_with,
    left_behind_and_a_trigger,
    status_cell,
)
from tests.tui_demo import Demo, add_sync_pair, dialog_ready, synced_pair, wait_until

SnapCompare = Callable[..., bool]


async def _sync_screen(pilot: Pilot[Any]) -> MalnuApp:
    """The status screen, then `s`: the sync screen with the reporting pair's states read."""
    app = pilot.app
    assert isinstance(app, MalnuApp)
    await wait_until(pilot, lambda: isinstance(app.screen, StatusScreen), timeout=60)
    await pilot.press("s")
    await wait_until(
        pilot, lambda: getattr(app.screen, "states_for", None) == "reporting", timeout=60
    )
    return app


@pytest.mark.xdist_group("tui")
@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_sync_screen_snapshot(
    snap_compare: SnapCompare,
    demo: Demo,
    size: tuple[int, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    synced_pair(demo)
    monkeypatch.setattr("malnu_tui.engine.sync.readonly.utc_now", lambda: "2026-11-20 09:00:00")

    async def run(pilot: Pilot[Any]) -> None:
        app = await _sync_screen(pilot)
        await pilot.press("v")
        await wait_until(pilot, lambda: idle_with(app, "missing: id=4"), timeout=60)
        await settle(pilot)

    assert snap_compare(app_for(demo), terminal_size=size, run_before=run)
    settle_threads()


@pytest.mark.xdist_group("tui")
def test_sync_screen_dry_run_with_a_warning_and_a_note_snapshot(
    snap_compare: SnapCompare, demo: Demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 80×24: a dry run's report opens with the warning for a copy whose source table is
    gone and the plan's note on the copy's trigger, in words and colour, scrollable."""
    left_behind_and_a_trigger(demo)
    monkeypatch.setattr("malnu_tui.engine.sync.readonly.utc_now", lambda: "2026-11-20 09:00:00")

    async def run(pilot: Pilot[Any]) -> None:
        app = await _sync_screen(pilot)
        await wait_until(pilot, lambda: status_cell(app, "absensi") == "✘ source gone")
        await pilot.press("d")
        await wait_until(pilot, lambda: idle_with(app, "would insert"), timeout=60)
        await settle(pilot)

    assert snap_compare(app_for(demo), terminal_size=(80, 24), run_before=run)
    settle_threads()


@pytest.mark.xdist_group("tui")
def test_sync_screen_stopped_half_way_snapshot(
    snap_compare: SnapCompare, demo: Demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 80×24: a sync the copy refuses in the second chunk of users (a trigger of its own on
    row 15): under the error, academic_records synced before it and what users' first chunk
    wrote, both sides counted as it stopped."""
    reports = demo.root / "reports.db"
    add_sync_pair(demo, f"sqlite:///{reports}")
    academic_records_then_users(demo, chunk_rows=10)
    with sqlite3.connect(reports) as c:
        c.execute("DELETE FROM users")
        c.execute("DELETE FROM malnu_sync WHERE table_name = 'users'")
        c.execute(
            "UPDATE malnu_sync SET started_at = '2026-11-20 08:54:00', "
            "finished_at = '2026-11-20 08:55:00'"
        )
        c.execute(
            "CREATE TRIGGER no_fifteen BEFORE INSERT ON users WHEN NEW.id = 15 "
            "BEGIN SELECT RAISE(ABORT, 'id 15 is refused here'); END"
        )
    c.close()
    monkeypatch.setattr("malnu_tui.engine.sync.readonly.utc_now", lambda: "2026-11-20 09:00:00")

    async def run(pilot: Pilot[Any]) -> None:
        app = await _sync_screen(pilot)
        await pilot.press("s")
        await wait_until(pilot, lambda: dialog_ready(app), timeout=60)
        assert isinstance(app.screen, ConfirmScreen) and app.screen.expected is not None
        app.screen.query_one(Input).value = app.screen.expected
        await pilot.press("enter")
        await wait_until(pilot, lambda: idle_with(app, "✘ users: stopped"), timeout=60)
        await settle(pilot)

    assert snap_compare(app_for(demo), terminal_size=(80, 24), run_before=run)
    settle_threads()
