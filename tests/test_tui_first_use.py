"""The console as a new operator meets it at 80×24, keyboard only: where the keys go when a
screen opens, what a field shows before anything is typed. Driven with Pilot on the demo's
real SQLite databases."""

from __future__ import annotations

import pytest
from textual.containers import VerticalScroll

from tests.test_tui_wizards import demo as demo  # the fixture
from tests.test_tui_wizards import loaded, make_app
from tests.tui_demo import Demo, wait_until

pytestmark = pytest.mark.anyio


async def test_the_sql_views_diff_scrolls_with_the_keys_at_80_columns(demo: Demo) -> None:
    # Below 110 columns the view shows a unified diff, but it opened with the hidden SQL pane
    # focused: PgDn and ↓ moved a cursor nobody saw, the diff stayed put until Tab.
    from malnu_tui.tui.screens.sql_view import SqlViewScreen

    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        await pilot.press("home", "enter")  # the users table: its diff is taller than the screen
        await wait_until(
            pilot,
            lambda: isinstance(app.screen, SqlViewScreen) and app.screen.bundle is not None,
        )
        await pilot.pause(0.1)
        diff = app.screen.query_one("#diff", VerticalScroll)
        assert app.focused is diff
        await pilot.press("pagedown")
        await wait_until(pilot, lambda: diff.scroll_y > 0)
        # d: the split panes, the SQL pane takes the keys; d again: the diff does.
        await pilot.press("d")
        await pilot.pause(0.1)
        assert app.focused is not None and app.focused.id == "source"
        await pilot.press("d")
        await pilot.pause(0.1)
        assert app.focused is diff
        before = diff.scroll_y
        await pilot.press("down")
        await wait_until(pilot, lambda: diff.scroll_y > before)


async def test_an_empty_field_never_reads_as_filled_in(demo: Demo) -> None:
    # Without colour a placeholder reads as a value: the import's "into table  users" and
    # "key (optional)  id  (existing keys are updated)", recover's time "-1h". The operator
    # went on with the table unnamed ("cannot go on: name the table"), or imported again
    # believing the rows would be updated by id, when with no key they were rejected.
    from tests.tui_demo import add_backups, screen_text

    add_backups(demo)
    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        await pilot.press("i")
        await wait_until(pilot, lambda: "into table" in screen_text(app))
        await pilot.pause(0.1)
        shown = {
            line[:20].strip(): line[20:].strip()
            for line in screen_text(app).splitlines()
            if line[:20].strip()
        }
        assert shown["into table"] == "the table to fill, e.g. users"
        assert shown["key (optional)"] == "none: rows are added; e.g. id updates existing ones"
        assert shown["on conflict"] == "update with a key, else error; or skip"
        await pilot.press("escape")
        await wait_until(pilot, lambda: loaded(app))
        await pilot.press("p")
        await wait_until(pilot, lambda: "to which time" in screen_text(app))
        await pilot.pause(0.1)
        field = [line for line in screen_text(app).splitlines() if "-1h" in line and "▊" in line]
        assert field and "type a time, e.g. -1h" in field[0], screen_text(app)
