"""The console as an operator meets it over SSH at 80×24, keyboard only: what a blocked step
still shows, what stays on screen while it is re-read, what fits. Driven with Pilot on the
demo's real SQLite databases; the outcomes are checked in the databases."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Button, DataTable, TextArea

from malnu_tui.engine.backup import list_backups
from malnu_tui.tui.screens.apply import ApplyWizard
from malnu_tui.tui.widgets.error_box import ErrorBox
from tests.test_tui_wizards import SCHOOL_APPLIED, loaded, make_app, settled, text_of
from tests.test_tui_wizards import demo as demo  # the fixture
from tests.tui_demo import Demo, take_lock_elsewhere, wait_until

pytestmark = pytest.mark.anyio

PENDING = (
    "20251124_123500_create_chat_conversations_table.sql",
    "20251125_090000_create_roles_table.sql",
    "20251125_091500_seed_default_roles.sql",
)


async def _backup_list(pilot: Any, app: Any) -> DataTable[Any]:
    """The backup browser opened with its key (b), once it has read the manifests: its list."""
    from malnu_tui.tui.screens.backups import BackupBrowser

    await pilot.press("b")
    await wait_until(
        pilot, lambda: isinstance(app.screen, BackupBrowser) and bool(app.screen.manifests)
    )
    table: DataTable[Any] = app.screen.query_one("#backup-table", DataTable)
    return table


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


async def test_the_sync_tables_state_columns_fit_80_columns_with_a_source_gone_row(
    demo: Demo,
) -> None:
    # "✘ source gone" widened the status column and pushed "verified" past the right edge
    # ("verifie"); a "✘ no (verify)" or a long table name did the same.
    from tests.test_tui_sync import has_pairs, left_behind_and_a_trigger, status_cell

    left_behind_and_a_trigger(demo)
    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        await pilot.press("s")
        await wait_until(pilot, lambda: has_pairs(app), timeout=60)
        await wait_until(pilot, lambda: status_cell(app, "absensi") == "✘ source gone")
        tables = app.screen.query_one("#sync-tables", DataTable)
        await wait_until(pilot, lambda: not tables._require_update_dimensions)
        labels = [str(c.label) for c in tables.ordered_columns]
        widths = [c.get_render_width(tables) for c in tables.ordered_columns]
        # Every column up to and including "verified" is on screen, and its header whole.
        edge = sum(widths[: labels.index("verified") + 1])
        assert edge <= tables.scrollable_content_region.width, list(
            zip(labels, widths, strict=True)
        )


async def test_a_confirmation_longer_than_the_screen_scrolls_and_keeps_its_field(
    demo: Demo,
) -> None:
    # The dialog grew with its text: at 80×24 a sync plan with many notes pushed the lines
    # below the fold, then the typed field and the buttons, out of the screen; no key
    # brought them back.
    from textual.widgets import Input

    from malnu_tui.tui.screens.confirm import ConfirmScreen
    from malnu_tui.tui.widgets.dialog import FitScroll

    lines = [f"  table_{i}: updated_at; source {i} rows, destination {i}" for i in range(30)]
    answers: list[bool | None] = []
    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        await app.push_screen(
            ConfirmScreen("Sync 30 table(s) into reports?", "\n".join(lines), "reports", "Sync"),
            answers.append,
        )
        dialog = app.screen
        assert isinstance(dialog, ConfirmScreen)
        field = dialog.query_one("#confirm-typed", Input)
        await wait_until(pilot, lambda: app.focused is field)

        def on_screen() -> bool:  # once laid out: the field and both buttons
            return all(
                (shown := dialog.query_one(selector).region).height
                and dialog.region.contains_region(shown)
                for selector in ("#confirm-typed", "#yes", "#no")
            )

        await wait_until(pilot, on_screen)
        body = dialog.query_one(FitScroll)
        await wait_until(pilot, lambda: body.max_scroll_y > 0)
        await pilot.press("pagedown", "pagedown", "pagedown")
        await wait_until(pilot, lambda: body.scroll_y == body.max_scroll_y)
        assert app.focused is field  # still typing there
        await pilot.press(*"reports", "enter")
        await wait_until(pilot, lambda: answers == [True])


async def test_the_import_wizard_says_why_and_confirms_as_every_wizard(
    demo: Demo, tmp_path: Path
) -> None:
    # Enter in a source field with no table named did nothing and said nothing; the
    # confirmation was a field of its own whose placeholder was the database name itself
    # (it looked typed already), compared without the engine's rule, and Enter on a wrong
    # word did nothing; a failed preview went on saying "reading…" under its error.
    from textual.widgets import Input, Static

    from malnu_tui.tui.screens.data_import import ImportWizard
    from malnu_tui.tui.widgets.typed_confirm import TypedConfirmation

    csv = tmp_path / "siswa.csv"
    csv.write_text("email,name\nsiswa1@malnu.sch.id,Siswa Satu\n", encoding="utf-8")
    bad = tmp_path / "bad.toml"
    bad.write_text('[columns.email]\nfrom = "email"\napply = ["frobnicate"]\n', encoding="utf-8")
    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        await pilot.press("i")
        await wait_until(pilot, lambda: settled(app, "source"))
        screen = app.screen
        assert isinstance(screen, ImportWizard)
        screen.query_one("#import-file", Input).value = str(csv)
        await pilot.press("enter")  # in the file field, focused
        said = [n.message for n in app._notifications]
        assert "cannot go on: name the table" in said, said
        screen.query_one("#import-table", Input).value = "users"
        screen.query_one("#import-map", Input).value = str(bad)
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.step == "preview" and not screen.working)
        preview = text_of(app, "#preview-text")
        assert "reading" not in preview and "✘ no preview" in preview
        assert "unknown step 'frobnicate'" in app.screen.query_one("#wizard-error", ErrorBox).text
        await pilot.press("b")
        await wait_until(pilot, lambda: settled(app, "source"))
        screen.query_one("#import-map", Input).value = ""
        await pilot.press("enter")
        await wait_until(pilot, lambda: settled(app, "preview"))
        await pilot.press("n")
        await wait_until(pilot, lambda: settled(app, "validate"))
        await pilot.press("n")
        await wait_until(pilot, lambda: settled(app, "confirm"))
        field = screen.query_one("#confirm-input", Input)
        assert app.focused is field and field.placeholder != "school"
        assert screen.query(TypedConfirmation)
        prompt = text_of(app, "#confirm .typed-prompt")
        assert "Type school to import 1 row into users" in prompt, prompt
        await pilot.press(*"School", "enter")
        why = str(screen.query_one("#confirm .typed-why", Static).render())
        assert "check upper and lower case" in why and screen.step == "confirm"
        field.value = ""
        await pilot.press(*" school ", "enter")  # the engine's rule, as the CLI prompt's
        await wait_until(pilot, lambda: screen.finished, timeout=30)
        assert "✔ committed" in text_of(app, "#result-text")
    import sqlite3

    with sqlite3.connect(demo.primary_db) as conn:
        assert conn.execute("SELECT email FROM users").fetchall() == [("siswa1@malnu.sch.id",)]
        audit = conn.execute("SELECT outcome FROM malnu_audit WHERE action = 'import'").fetchall()
    assert audit == [("ok",)]
    assert [m.reason for m in list_backups(demo.target().backup_dir)] == ["pre-import"]


async def test_a_failed_run_is_seen_in_the_audit_list_at_80_columns(demo: Demo) -> None:
    # The outcome was the fifth column, after the object (a 50-character file name): at 80
    # columns "✘ failed" was past the right edge, seen only in the selected row's detail.
    import subprocess
    import sys

    from malnu_tui.tui.screens.audit import AuditScreen

    broken = "20251126_000000_add_users_again.sql"
    (demo.root / "migrations" / broken).write_text(
        "CREATE TABLE users (id INTEGER);\n", encoding="utf-8"
    )
    cli = [sys.executable, "-m", "malnu_tui", "--config", str(demo.config), "up"]
    done = subprocess.run(cli, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert done.returncode == 1, done.stderr
    from malnu_tui.engine.config import open_backend
    from malnu_tui.engine.migrate import clear_failed

    backend = open_backend(demo.target())
    try:  # then cleared, as an operator would: the widest action, "clear-failed"
        clear_failed(backend, broken)
    finally:
        backend.close()
    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        await pilot.press("l")
        await wait_until(
            pilot, lambda: isinstance(app.screen, AuditScreen) and bool(app.screen.entries)
        )
        table = app.screen.query_one("#audit-table", DataTable)
        await wait_until(
            pilot, lambda: table.row_count > 0 and not table._require_update_dimensions
        )
        labels = [str(c.label) for c in table.ordered_columns]
        widths = [c.get_render_width(table) for c in table.ordered_columns]
        edge = sum(widths[: labels.index("outcome") + 1])
        assert edge <= table.scrollable_content_region.width, list(zip(labels, widths, strict=True))
        # And the object's version (a migration's, a backup id's date): the actor before it
        # left "20251126_0" at 80 columns.
        edge = sum(widths[: labels.index("object")]) + len("20251126_000000")
        assert edge <= table.scrollable_content_region.width, list(zip(labels, widths, strict=True))
        outcomes = [str(table.get_row_at(i)[labels.index("outcome")]) for i in range(4)]
        assert "✘ failed" in outcomes, outcomes


async def test_a_wizard_reading_a_database_that_does_not_answer_can_be_cancelled(
    tmp_path: Path,
) -> None:
    # Cancel was refused while any step's worker ran: on a server (or D1) that does not
    # answer, the apply wizard stayed on "Planning …" for the whole connect timeout (D1's
    # retries: 17 s), esc did nothing and the footer offered only quitting the console.
    import socket

    from malnu_tui.tui.app import MalnuApp
    from malnu_tui.tui.screens.apply import ApplyWizard
    from malnu_tui.tui.screens.status import StatusScreen
    from tests.tui_demo import build_demo

    demo = build_demo(tmp_path / "demo")
    silent = socket.socket()  # accepts the connection (backlog), never answers it
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    port = silent.getsockname()[1]
    with demo.config.open("a", encoding="utf-8") as f:
        f.write(
            "\n[targets.far]\n"
            f'url = "postgresql://malnu@127.0.0.1:{port}/school?connect_timeout=20"\n'
            'migrations_dir = "migrations"\nrollback_dir = "rollback"\n'
        )
    settings = demo.settings()
    app = MalnuApp(settings=settings, target=settings.target("far"))
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: isinstance(app.screen, StatusScreen))
            await pilot.press("a")
            await wait_until(pilot, lambda: isinstance(app.screen, ApplyWizard))
            wizard = app.screen
            assert isinstance(wizard, ApplyWizard)
            await wait_until(pilot, lambda: wizard.working)  # planning, the server silent
            await pilot.press("escape")
            assert isinstance(app.screen, StatusScreen), app.screen
    finally:
        silent.close()


async def test_a_backup_whose_file_is_gone_reads_as_the_cli_says_it(demo: Demo) -> None:
    # `backup list` says "✘ gone" for a backup whose data file was deleted; the console's
    # backup browser and recover wizard said "✘ no", and its manifest "not verified (v to
    # verify)": as if verifying could make it usable.
    import subprocess
    import sys

    from textual.widgets import Static

    from malnu_tui.tui.screens.recover import RecoverWizard
    from tests.tui_demo import add_backups

    ids = add_backups(demo)  # the newest first in every list
    store = demo.target().backup_dir
    (data,) = [p for p in store.iterdir() if p.name.startswith(ids[1]) and p.suffix != ".json"]
    data.unlink()
    cli = [sys.executable, "-m", "malnu_tui", "--config", str(demo.config), "backup", "list"]
    listed = subprocess.run(cli, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    said = {line.split()[0]: line for line in listed.stdout.splitlines() if line[:1].isdigit()}
    assert "✘ gone" in said[ids[1]] and "✔ yes" in said[ids[0]]
    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        table = await _backup_list(pilot, app)
        await wait_until(pilot, lambda: table.row_count == 2)
        assert [str(table.get_row_at(i)[-1]) for i in range(2)] == ["✘ gone", "✔ yes"]
        pane = str(app.screen.query_one("#manifest", Static).render())
        assert f"✘ gone: its data file {data.name} is missing" in pane, pane
        await pilot.press("escape", "p")
        await wait_until(pilot, lambda: settled(app, "when"))
        assert isinstance(app.screen, RecoverWizard)
        listed_here = app.screen.query_one("#when-backups", DataTable)
        assert [str(listed_here.get_row_at(i)[-1]) for i in range(2)] == ["✘ gone", "✔ yes"]


async def test_a_long_confirmation_keeps_its_field_and_reason_on_screen(tmp_path: Path) -> None:
    # 18 pending migrations listed above the apply wizard's typed confirmation pushed the
    # prompt, the field being typed into and the reason a word was refused below the
    # screen's edge: the operator typed blind, and Enter on a wrong word showed nothing.
    from textual.widgets import Input, Static

    from tests.tui_demo import build_many

    demo = build_many(tmp_path / "demo", 20, 2)
    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        await pilot.press("a")
        await wait_until(pilot, lambda: settled(app, "plan"))
        await pilot.press("n")
        await wait_until(pilot, lambda: settled(app, "confirm"))
        screen = app.screen
        assert isinstance(screen, ApplyWizard)
        field = screen.query_one("#confirm-input", Input)
        assert app.focused is field
        await pilot.press("x", "enter")
        why = screen.query_one("#confirm .typed-why", Static)
        assert "'x' is not 'school'" in str(why.render())

        def on_screen() -> bool:  # once laid out: the field and the reason within the step
            pane = screen.query_one("#confirm").region
            return all(w.region.height and pane.contains_region(w.region) for w in (field, why))

        await wait_until(pilot, on_screen)
        from malnu_tui.tui.widgets.dialog import FitScroll

        listed = screen.query_one("#confirm FitScroll", FitScroll)
        assert listed.max_scroll_y > 0
        await pilot.press("pagedown", "pagedown", "pagedown")
        await wait_until(pilot, lambda: listed.scroll_y == listed.max_scroll_y)
        assert app.focused is field
        field.value = ""
        await pilot.press(*"school", "enter")
        await wait_until(pilot, lambda: screen.finished, timeout=30)
    assert len(demo.applied()) == 20


async def test_an_emergency_rollback_of_15_shows_every_drop_and_its_rows(tmp_path: Path) -> None:
    # The preview listed each DROP with the rows it takes in a block as tall as it was: at
    # 80×24 three of 15 were seen, the others and the SQL pane were below the edge, and Tab
    # focused an SQL pane of no height.
    import sqlite3

    from textual.widgets import Input, Static

    from malnu_tui.tui.screens.rollback import RollbackWizard
    from tests.tui_demo import build_many

    demo = build_many(tmp_path / "demo", 20, 20)
    with sqlite3.connect(demo.primary_db) as conn:
        for i in range(20):
            conn.execute(f"CREATE TABLE t{i} (id INTEGER PRIMARY KEY)")
            conn.executemany(f"INSERT INTO t{i} VALUES (?)", [(n,) for n in range(i + 1)])
    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        await pilot.press("r")
        await wait_until(pilot, lambda: settled(app, "how-far"))
        screen = app.screen
        assert isinstance(screen, RollbackWizard)
        await pilot.press("down", "space")
        screen.query_one("#steps-input", Input).value = "15"
        await pilot.press("n")
        await wait_until(pilot, lambda: settled(app, "preview"))

        def sql_shown() -> bool:  # laid out once the step has refitted
            sql = screen.query_one("#preview-sql").region
            return sql.height >= 4 and screen.query_one("#preview").region.contains_region(sql)

        await wait_until(pilot, sql_shown)
        from malnu_tui.tui.widgets.dialog import FitScroll

        checks = screen.query_one("#preview FitScroll", FitScroll)
        said = str(screen.query_one("#preconditions", Static).render())
        assert all(f"drops table t{i}: {i + 1} rows" in said for i in range(5, 20)), said
        await wait_until(pilot, lambda: checks.max_scroll_y > 0)
        await pilot.press("pagedown", "pagedown", "pagedown", "pagedown")
        await wait_until(pilot, lambda: checks.scroll_y == checks.max_scroll_y)
        await pilot.press("n")
        await wait_until(pilot, lambda: settled(app, "confirm"))
        await pilot.press(*"school", "enter")
        await wait_until(pilot, lambda: settled(app, "verify"), timeout=30)
    assert len(demo.applied()) == 5
    assert [t for t in demo.tables() if t.startswith("t") and t[1:].isdigit()] == sorted(
        f"t{i}" for i in range(5)
    )


async def test_back_names_the_key_that_works_in_a_field(demo: Demo) -> None:
    # On a typed confirmation, Back said "(b)": b is typed into the field there; ctrl+b
    # (the footer's "^b") goes back.
    from textual.widgets import Input

    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        await pilot.press("a")
        await wait_until(pilot, lambda: settled(app, "plan"))
        screen = app.screen
        back = screen.query_one("#back", Button)
        assert str(back.label) == "◀ Back (b)"
        await pilot.press("n")
        await wait_until(pilot, lambda: settled(app, "confirm"))
        field = screen.query_one("#confirm-input", Input)
        assert app.focused is field and str(back.label) == "◀ Back (^b)"
        await pilot.press("b")
        assert field.value == "b" and settled(app, "confirm")
        await pilot.press("ctrl+b")
        await wait_until(pilot, lambda: settled(app, "plan"))
        assert str(back.label) == "◀ Back (b)"


@pytest.mark.parametrize("size", [(120, 40), (100, 30)])
async def test_the_backup_lists_verified_column_is_whole_beside_the_manifest(
    demo: Demo, size: tuple[int, int]
) -> None:
    # Beside the manifest pane the list got half the width, and its last column, whether the
    # backup is verified, read "✘ n" / "✔ y" under a header cut to "ver".
    from tests.test_tui_snapshots import _columns_fit
    from tests.tui_demo import add_backups

    add_backups(demo)
    app = make_app(demo)
    async with app.run_test(size=size) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        table = await _backup_list(pilot, app)
        await wait_until(
            pilot, lambda: table.row_count == 2 and not table._require_update_dimensions
        )
        # Every column as wide as its cells (sized when idle, late on a loaded machine), and
        # the table laid out beside the manifest: what the check below measures.
        await wait_until(pilot, lambda: _columns_fit(table) and table.size.width > 0)
        needed = sum(c.get_render_width(table) for c in table.ordered_columns)
        assert needed <= table.scrollable_content_region.width, (needed, table.region)


def test_hints_name_the_backups_screen_not_a_key_that_means_back_in_a_wizard() -> None:
    # The recover wizard's "no verified backup before TIME" said "hint: press b (backups)
    # shows what exists": in a wizard b is Back, and the sentence did not read.
    from malnu_tui.tui.widgets.error_box import console_hint

    assert console_hint("`malnu-tui backup list` shows what exists; pick a later time") == (
        "the backups screen (b on the status screen) shows what exists; pick a later time"
    )
    assert console_hint("take one with `malnu-tui backup create`, or name one") == (
        "take one with c on the backups screen (b on the status screen), or name one"
    )
