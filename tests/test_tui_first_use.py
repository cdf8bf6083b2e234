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
        diff = app.screen.query_one("#diff", VerticalScroll)
        await wait_until(pilot, lambda: app.focused is not None)  # the view's first focus
        assert app.focused is diff
        await pilot.press("pagedown")
        await wait_until(pilot, lambda: diff.scroll_y > 0)
        # d: the split panes, the SQL pane takes the keys; d again: the diff does.
        await pilot.press("d")
        await wait_until(pilot, lambda: app.focused is not diff)  # the focus moved
        assert app.focused is not None and app.focused.id == "source"
        source = app.focused
        await pilot.press("d")
        await wait_until(pilot, lambda: app.focused is not source)
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

        def fields() -> dict[str, str]:
            return {
                line[:20].strip(): line[20:].strip()
                for line in screen_text(app).splitlines()
                if line[:20].strip()
            }

        # Every field painted with its text (what it says is the check below).
        await wait_until(
            pilot,
            lambda: all(fields().get(k) for k in ("into table", "key (optional)", "on conflict")),
        )
        shown = fields()
        assert shown["into table"] == "the table to fill, e.g. users"
        assert shown["key (optional)"] == "none: rows are added; e.g. id updates existing ones"
        assert shown["on conflict"] == "update with a key, else error; or skip"
        await pilot.press("escape")
        await wait_until(pilot, lambda: loaded(app))
        await pilot.press("p")
        await wait_until(pilot, lambda: "to which time" in screen_text(app))

        def time_field() -> list[str]:
            return [line for line in screen_text(app).splitlines() if "-1h" in line and "▊" in line]

        await wait_until(pilot, lambda: bool(time_field()))  # the time field painted, focused
        field = time_field()
        assert field and "type a time, e.g. -1h" in field[0], screen_text(app)


async def test_how_far_a_rollback_goes_is_said_in_words_not_by_the_cursor_colour(
    demo: Demo,
) -> None:
    # "back to the version selected below (kept)": which version that was showed only as the
    # colour of the table's cursor, so with NO_COLOR (or in mono) the 2 a.m. operator chose
    # blind until the preview. The step now says what its choice rolls back and keeps.
    from tests.test_tui_wizards import settled
    from tests.tui_demo import screen_text

    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        await pilot.press("r")
        await wait_until(pilot, lambda: settled(app, "how-far"))

        def said() -> str:
            return next((line.strip() for line in screen_text(app).splitlines() if "→ " in line
                         and "next:" not in line), "")  # fmt: skip

        await wait_until(pilot, lambda: said().startswith("→ rolls back 1"))
        assert said() == "→ rolls back 1 (20251124_123000), keeps 20251124_122500"
        await pilot.press("tab", "tab", "down", "down")  # the applied table: the third one
        await wait_until(pilot, lambda: "rolls back 2" in said())
        assert said() == "→ rolls back 2 (20251124_123000 … 20251124_122500), keeps 20251124_122000"
        await pilot.press("n")
        await wait_until(pilot, lambda: settled(app, "preview"))
        assert "undo everything after 20251124_122000" in " ".join(screen_text(app).split())
        await pilot.press("b")
        await wait_until(pilot, lambda: settled(app, "how-far"))
        await pilot.press("tab", "3")  # the last N: 3
        await wait_until(pilot, lambda: "rolls back 3" in said())
        assert said() == "→ rolls back 3 (20251124_123000 … 20251124_122000), keeps 20251124_121500"
        await pilot.press("9")  # 39 of 6
        await wait_until(pilot, lambda: said() == "→ N: a whole number from 1 to 6")


async def test_the_help_screens_footer_names_no_key_that_does_nothing(demo: Demo) -> None:
    # On the help screen the footer said "? Help", and ? did nothing there (help was open
    # already). ? now leaves help, as f1 does: the key that opened it closes it.
    from malnu_tui.tui.screens.help import HelpScreen
    from malnu_tui.tui.screens.status import StatusScreen
    from malnu_tui.tui.widgets.migration_table import MigrationTable
    from tests.tui_demo import screen_text

    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen))
        # The footer painted (a loaded machine read it still blank after a tenth of a second).
        await wait_until(pilot, lambda: bool(screen_text(app).splitlines()[-1].strip()))
        footer = screen_text(app).splitlines()[-1]
        assert " Back " in footer and "Help" not in footer, footer
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: isinstance(app.screen, StatusScreen))
        await wait_until(pilot, lambda: isinstance(app.focused, MigrationTable))


async def test_go_to_finding_says_why_when_the_row_names_no_line(demo: Demo) -> None:
    # The SQL view lists "g Go to finding" on its more: line; on a file with no finding (its
    # one row "· none") g did nothing at all, and the operator could not tell why.
    from malnu_tui.tui.screens.sql_view import SqlViewScreen

    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        await pilot.press("home", "enter")
        await wait_until(
            pilot,
            lambda: isinstance(app.screen, SqlViewScreen) and app.screen.bundle is not None,
        )
        await pilot.press("r")  # its rollback: one DROP, no finding
        await wait_until(pilot, lambda: "no translation or lint finding" in str(
            app.screen.query_one("#findings").get_row_at(0)[3]))  # fmt: skip
        await pilot.press("g")
        await wait_until(
            pilot,
            lambda: (
                "g: the highlighted row names no line to go to"
                in [str(n.message) for n in app._notifications]
            ),
        )


async def test_the_sync_screen_offers_its_run_keys_only_with_a_pair(demo: Demo) -> None:
    # With no [sync.NAME] configured the footer still offered "s Sync v Verify d Dry run" and
    # "F Full resync", each answering "no sync pair selected": four keys that could not work
    # until the config changed. They show once a pair is configured.
    from malnu_tui.tui.screens.sync import SyncScreen
    from tests.tui_demo import screen_text, synced_pair

    def keys() -> str:
        return " ".join(screen_text(app).splitlines()[-3:])  # the more: line and the footer

    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        await pilot.press("s")
        await wait_until(pilot, lambda: "No sync pairs are configured" in screen_text(app))
        # The footer painted with this screen's keys (one refresh paints them all).
        await wait_until(pilot, lambda: "esc Back" in keys() and "^r Refresh" in keys())
        for offered in ("s Sync", "v Verify", "d Dry run", "F Full resync"):
            assert offered not in keys(), keys()
        assert "esc Back" in keys() and "^r Refresh" in keys()
    synced_pair(demo)
    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        await pilot.press("s")
        await wait_until(pilot, lambda: isinstance(app.screen, SyncScreen) and app.screen.pairs)
        await wait_until(
            pilot,
            lambda: all(k in keys() for k in ("s Sync", "v Verify", "d Dry run", "F Full resync")),
        )


async def test_a_wizard_button_that_does_nothing_says_so_without_colour(
    demo: Demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With NO_COLOR (in mono, on 16 colours) a disabled button looked like any other: every
    # wizard's first step showed "◀ Back (b)", a step that blocks "Next ▶ (n)", the steps past
    # the point of no return "Cancel (esc)", and their keys did nothing. Now a button that
    # cannot work on the step is not shown, and one that cannot work yet says why in words.
    from tests.test_tui_wizards import settled, wizard
    from tests.tui_demo import screen_text

    monkeypatch.setenv("NO_COLOR", "1")

    def nav() -> str:  # the buttons' row, above the footer
        return " ".join(screen_text(app).splitlines()[-2].split())

    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        await pilot.press("r")
        await wait_until(pilot, lambda: settled(app, "how-far"))
        await wait_until(pilot, lambda: nav() == "Cancel (esc) Next ▶ (n)")
        await pilot.press("b")  # nothing before the first step: b still does nothing
        await pilot.pause(0.1)
        assert settled(app, "how-far")
        await pilot.press("n")
        await wait_until(pilot, lambda: settled(app, "preview"))
        await wait_until(pilot, lambda: nav() == "◀ Back (b) Cancel (esc) Confirm ▶ (n)")
        await pilot.press("n")
        await wait_until(pilot, lambda: settled(app, "confirm"))
        await wait_until(pilot, lambda: nav() == "◀ Back (^b) Cancel (esc) Roll back ▶ (blocked)")
        await pilot.press("enter")  # Enter on the empty field says why and stays
        await pilot.pause(0.1)
        assert wizard(app).step == "confirm"
        await pilot.press(*"school")
        await wait_until(pilot, lambda: "(blocked)" not in nav())
        assert nav() == "◀ Back (^b) Cancel (esc) Roll back ▶"
        await pilot.press("enter")
        await wait_until(pilot, lambda: settled(app, "verify"))
        await wait_until(pilot, lambda: nav() == "Summary ▶ (n)")  # past the point of no return
        await pilot.press("escape")  # esc does nothing there
        await pilot.pause(0.1)
        assert wizard(app).step == "verify"
        await pilot.press("n")
        await wait_until(pilot, lambda: wizard(app).finished)
        await wait_until(pilot, lambda: nav() == "Close (esc)")
        await pilot.press("escape")
        await wait_until(pilot, lambda: loaded(app))


async def test_a_dialog_offers_only_what_works_in_it_without_colour(
    demo: Demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The repair dialog's "Accept edit", unlock's "Release lock" and a typed confirmation's
    # "Delete" were greyed until the word was typed, and nothing else said so: with NO_COLOR
    # (in mono, on 16 colours) they read as usable, and the fields' placeholder "the
    # database name" as a name already typed. Each button now says "(blocked)" until the word
    # is typed, as the wizards' do; each field says what to type. Under each dialog the
    # screen's footer and more: line stayed on view, dimmed by colour alone: "a Apply
    # r Rollback" were letters typed into the field. They are hidden while it is open.
    from malnu_tui.tui.screens.backups import BackupBrowser
    from malnu_tui.tui.screens.confirm import ConfirmScreen
    from malnu_tui.tui.screens.fix import FixScreen
    from malnu_tui.tui.screens.unlock import UnlockScreen
    from tests.tui_demo import add_backups, screen_text, take_lock_elsewhere

    monkeypatch.setenv("NO_COLOR", "1")
    edited = demo.root / "migrations" / "20251124_120500_create_users_table.sql"
    edited.write_text(edited.read_text(encoding="utf-8") + "\n-- later\n", encoding="utf-8")
    add_backups(demo)

    def buttons() -> str:  # the dialog's row of buttons, inside its frame
        row = [part for line in screen_text(app).splitlines() for part in line.split("█")
               if "Cancel (esc)" in part]  # fmt: skip
        return " ".join(row[-1].split()) if row else ""

    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        dialogs = (  # the key, the dialog, what it has read once it asks, its button
            ("D", FixScreen, "word", "Accept edit"),
            ("U", UnlockScreen, "state", "Release lock"),
            ("d", ConfirmScreen, "expected", "Delete"),
        )
        for key, kind, read, verb in dialogs:
            if key == "U":
                take_lock_elsewhere(demo.primary_db)
            if key == "d":
                await pilot.press("b")
                await wait_until(pilot, lambda: isinstance(app.screen, BackupBrowser))
                await wait_until(pilot, lambda: app.screen.query_one("DataTable").row_count == 2)
            await pilot.press(key)
            await wait_until(pilot, lambda k=kind, r=read: isinstance(app.screen, k)  # type: ignore[misc]
                             and bool(getattr(app.screen, r)))  # fmt: skip
            await wait_until(pilot, lambda verb=verb: f"{verb} (blocked)" in buttons())
            assert buttons() == f"Cancel (esc) {verb} (blocked)", buttons()
            assert "type the database name here" in screen_text(app)
            under = " ".join(screen_text(app).splitlines()[-3:])
            assert "more:" not in under and "f1 Help" not in under, under
            await pilot.press(*"school")
            await wait_until(pilot, lambda verb=verb: buttons() == f"Cancel (esc) {verb}")
            await pilot.press("escape")
            await wait_until(pilot, lambda k=kind: not isinstance(app.screen, k))  # type: ignore[misc]
            await wait_until(pilot, lambda: "f1 Help" in screen_text(app).splitlines()[-1])
