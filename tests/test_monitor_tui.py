"""The console's health line per target and the alerts view (key and palette), with Pilot on
the real demo database: what they show is what the engine reads from it."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from textual.widgets import DataTable, Static

from malnu_tui.engine.monitor.alerts import load_incidents, process_alerts
from malnu_tui.engine.monitor.config import MonitorConfig
from malnu_tui.engine.monitor.reading import run_checks
from malnu_tui.tui.app import MalnuApp
from malnu_tui.tui.screens.alerts import AlertsScreen
from malnu_tui.tui.screens.status import StatusScreen
from malnu_tui.tui.widgets.target_panel import TargetPanel
from tests.tui_demo import at_rest, build_demo, run_from_palette, wait_until

pytestmark = pytest.mark.anyio


def _loaded(app: MalnuApp) -> bool:
    screen = app.screen
    return isinstance(screen, StatusScreen) and all(
        p.report is not None and p.health is not None for p in screen.query(TargetPanel)
    )


async def test_health_line_and_alerts_view(tmp_path: Path) -> None:
    demo = build_demo(tmp_path / "demo")
    settings = demo.settings()
    # An incident as `check --alert` left it (no webhook configured: kept, not sent), seen
    # for less than [alerts] notify_after: shown as waiting, in words.
    report = run_checks([settings.target("primary")], MonitorConfig())
    process_alerts(report, (), notify_after=180)
    incidents = load_incidents()
    assert incidents, "the demo has no verified backup: CRITICAL"
    assert {i.state for i in incidents} == {"pending"}
    with sqlite3.connect(demo.primary_db) as conn:
        runs = conn.execute(
            "SELECT detail FROM malnu_audit WHERE action = 'run' ORDER BY id DESC"
        ).fetchall()
    durations = [json.loads(r[0])["duration_ms"] for r in runs]
    assert durations, "the demo's migrations were applied through the run log"

    app = MalnuApp(settings=settings, target=settings.target("primary"))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: _loaded(app))
        panel = app.status_screen.current_panel()
        assert panel is not None and panel.health is not None
        line = str(panel.query_one(".health", Static).render())
        assert line.startswith("✘ health CRITICAL") and "no verified backup" in line
        assert panel.health.status == report.targets[0].status

        await pilot.press("h")
        await wait_until(
            pilot, lambda: isinstance(app.screen, AlertsScreen) and app.screen.loaded is not None
        )
        screen = app.screen
        assert isinstance(screen, AlertsScreen) and screen.loaded is not None
        shown = screen.query_one("#runs-table", DataTable)
        assert shown.row_count == len(runs)
        took = [str(shown.get_row_at(i)[3]) for i in range(shown.row_count)]
        assert took == [f"{ms} ms" for ms in durations]
        table = screen.query_one("#incidents-table", DataTable)
        assert table.row_count == len(incidents)
        assert {str(table.get_row_at(i)[3]) for i in range(table.row_count)} == {
            i.check for i in incidents
        }
        messages = [str(table.get_row_at(i)[4]) for i in range(table.row_count)]
        assert all(m.endswith(" (seen, not sent yet: notify_after)") for m in messages), messages
        await pilot.press("escape")
        assert isinstance(app.screen, StatusScreen)

        # The palette reaches the same view.
        await run_from_palette(pilot, app, "health and alerts", "Health and alerts")
        await wait_until(pilot, lambda: isinstance(app.screen, AlertsScreen))


async def test_a_lone_incidents_problem_is_read_whole_at_80_columns(tmp_path: Path) -> None:
    # Tab to the incidents showed the highlighted run's detail still: a lone incident (its
    # row already highlighted, so no key changed the pane) was read only as far as the
    # problem column's edge, "20251124_123400_add_" of a failed migration.
    from malnu_tui.engine.backup import create_backup, verify_backup
    from malnu_tui.engine.config import open_backend
    from tests.test_tui_eighty import _fail_a_migration
    from tests.tui_demo import screen_text

    demo = build_demo(tmp_path / "demo")
    name = "20251124_123400_add_a_column_with_a_really_quite_long_name_for_grades.sql"
    _fail_a_migration(demo, name, "ALTER TABLE nilai_yang_tidak_ada ADD COLUMN x INTEGER;\n")
    target = demo.target()
    backend = open_backend(target)
    try:  # a fresh verified backup: the failed migration is the one incident
        verify_backup(target, create_backup(backend, target, reason="manual").id)
    finally:
        backend.close()
    process_alerts(run_checks([target], MonitorConfig()), ())
    assert [i.check for i in load_incidents()] == ["failed_migrations"]

    settings = demo.settings()
    app = MalnuApp(settings=settings, target=settings.target("primary"))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: _loaded(app))
        await pilot.press("h")
        await wait_until(
            pilot, lambda: isinstance(app.screen, AlertsScreen) and app.screen.loaded is not None
        )
        await pilot.press("tab")
        await wait_until(pilot, lambda: getattr(app.focused, "id", "") == "incidents-table")
        await at_rest(pilot)
        shown = " ".join(screen_text(app).split())
        assert "primary failed_migrations CRITICAL since" in shown
        assert f"{name} failed: line 1: no such table: nilai_yang_tidak_ada" in shown
        await pilot.press("tab")  # back to the runs: the run's detail again
        await wait_until(pilot, lambda: getattr(app.focused, "id", "") != "incidents-table")
        await at_rest(pilot)
        assert "primary failed_migrations CRITICAL since" not in screen_text(app)
