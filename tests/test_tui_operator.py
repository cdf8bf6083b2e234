"""The console as an operator meets it over SSH at 80×24, keyboard only: what a blocked step
still shows, what stays on screen while it is re-read, what fits. Driven with Pilot on the
demo's real SQLite databases; the outcomes are checked in the databases."""

from __future__ import annotations

import pytest
from textual.widgets import Button, DataTable, TextArea

from malnu_tui.engine.backup import list_backups
from malnu_tui.tui.screens.apply import ApplyWizard
from tests.test_tui_wizards import SCHOOL_APPLIED, loaded, make_app, settled, text_of
from tests.test_tui_wizards import demo as demo  # the fixture
from tests.tui_demo import Demo, take_lock_elsewhere, wait_until

pytestmark = pytest.mark.anyio

PENDING = (
    "20251124_123500_create_chat_conversations_table.sql",
    "20251125_090000_create_roles_table.sql",
    "20251125_091500_seed_default_roles.sql",
)


async def test_a_blocked_apply_still_shows_what_is_pending_and_its_sql(demo: Demo) -> None:
    # With another operator's lock held, the wizard said "Will apply 0 migration(s)" with an
    # empty table and no SQL, where `up --dry-run` says 3 would run and prints them.
    take_lock_elsewhere(demo.primary_db)
    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        await pilot.press("a")
        await wait_until(pilot, lambda: settled(app, "plan"))
        screen = app.screen
        assert isinstance(screen, ApplyWizard)
        intro = text_of(app, "#plan-intro")
        assert "Would apply 3 migration(s) to school once the problems below are solved" in intro
        table = screen.query_one("#plan-table", DataTable)
        assert [str(table.get_row_at(i)[1]) for i in range(table.row_count)] == [
            f[:15] for f in PENDING
        ]
        sql = screen.query_one("#plan-sql", TextArea).text
        assert all(f"-- up: {f}" in sql for f in PENDING)
        assert "night-shift@admin-laptop" in text_of(app, "#plan-checks")
        assert screen.blocked is not None and screen.query_one("#next", Button).disabled
        await pilot.press("n")
        assert screen.step == "plan"
        await pilot.press("escape")
    assert demo.applied() == SCHOOL_APPLIED
    assert list_backups(demo.target().backup_dir) == []


async def test_the_status_picture_stays_on_screen_while_it_is_read_again(demo: Demo) -> None:
    # The panel kept its read-in-progress flag in Textual's own `loading` attribute: every
    # refresh (each 5 s while idle) covered the whole table with "Loading...", as long as
    # the read took (a second or more on D1 or a distant PostgreSQL), and the first read
    # hid its "reading status of …" line the same way.
    from malnu_tui.tui.widgets.target_panel import TargetPanel

    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        panel = app.screen.query(TargetPanel).first()
        panel.reload(quiet=True)  # what the periodic refresh does
        assert not panel.loading  # no loading indicator over the table
        assert panel.table.row_count == 9
        panel.reload()
        assert not panel.loading
        assert "reading status of sqlite:///" in text_of(app, "TargetPanel .summary")
        await wait_until(pilot, lambda: panel.report is not None and not panel.reading)


async def test_migration_tables_fit_the_width_they_get_and_a_resized_terminal(
    demo: Demo,
) -> None:
    # The columns were fitted once, to the screen's width when the rows came: a wizard's table
    # laid out narrower than the screen (the rollback's "how far" step) had its rollback column
    # cut to "rollb", and a terminal resized from 120 to 80 columns kept the wide columns
    # (state and rollback past the right edge) until the next read.
    from malnu_tui.tui.screens.status import StatusScreen
    from malnu_tui.tui.widgets.migration_table import NARROW_COLUMNS, MigrationTable

    def fits(table: MigrationTable) -> bool:
        width = table.scrollable_content_region.width
        return table._columns == NARROW_COLUMNS and table.virtual_size.width <= width + 1

    app = make_app(demo)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        status = app.screen
        assert isinstance(status, StatusScreen)
        await pilot.press("r")
        await wait_until(pilot, lambda: settled(app, "how-far"))
        await pilot.resize_terminal(80, 24)
        applied = app.screen.query_one("#applied-table", MigrationTable)
        await wait_until(pilot, lambda: fits(applied))
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is status)
        await wait_until(pilot, lambda: fits(status.query_one(MigrationTable)))
