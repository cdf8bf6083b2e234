"""The console at 80×24 as an operator reads it: what is on the screen itself (its text as the
terminal shows it), not what a widget holds past an edge. Real SQLite files of the demo."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from textual.binding import Binding
from textual.widgets import DataTable

from malnu_tui.tui.widgets.error_box import ErrorBox
from tests.test_tui_wizards import demo as demo  # the fixture
from tests.test_tui_wizards import loaded, make_app
from tests.tui_demo import (
    Demo,
    at_rest,
    bare_text,
    dialog_ready,
    screen_text,
    take_lock_elsewhere,
    wait_until,
)

pytestmark = pytest.mark.anyio


def _fail_a_migration(demo: Demo, name: str, sql: str) -> None:
    """Write migration ``name`` (``sql``, which fails) and run the pending ones outside the
    console, as another operator's `up` would: a failed run in the trail."""
    from malnu_tui.engine.config import open_backend
    from malnu_tui.engine.files import discover
    from malnu_tui.engine.migrate import MigrationFailed, apply_plan, plan_up

    (demo.root / "migrations" / name).write_text(sql, encoding="utf-8")
    target = demo.target()
    mset = discover(target.migrations_dir, target.rollback_dir)
    backend = open_backend(target)
    try:
        with pytest.raises(MigrationFailed):
            apply_plan(backend, mset, plan_up(backend, mset))
    finally:
        backend.close()


def _keys_on_screen(app: Any, screen_cls: type[Any]) -> list[str]:
    """``screen_cls``'s own bindings that the terminal does not show: none of their keys (as
    the footer names keys) beside their description. A key the screen does not take now is
    not listed (the SQL view's piece keys, on a file read whole: test_tui_sql_large)."""
    shown = " ".join(screen_text(app).split())
    taken = {a.binding.action for a in app.screen.active_bindings.values()}
    missing = []
    for b in screen_cls.__dict__["BINDINGS"]:
        assert isinstance(b, Binding)
        if b.action not in taken:
            continue
        keys = [app.get_key_display(Binding(k, b.action)) for k in b.key.split(",")]
        if not any(
            re.search(rf"(^|\s){re.escape(k)} {re.escape(b.description)}(\s|$)", shown)
            for k in keys
        ):
            missing.append(f"{b.key} {b.description}")
    return missing


async def test_every_key_of_a_screen_is_on_it_at_80_columns(demo: Demo) -> None:
    # The footer is one line: at 80 columns p/h/s/i/t/^r/U/D/C of the status screen (and
    # F and ^r of sync, ^r of backups) were only in help and the palette, and the SQL view's
    # footer ran under the palette key ("c Check▏^p paletteS": no q, no f1).
    from malnu_tui.tui.screens.backups import BackupBrowser
    from malnu_tui.tui.screens.sql_view import SqlViewScreen
    from malnu_tui.tui.screens.status import StatusScreen

    with demo.config.open("a", encoding="utf-8") as f:
        f.write('\n[keys]\n"status.recover" = "P"\n')  # shown as remapped
    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        await wait_until(pilot, lambda: " P Recover " in screen_text(app))  # the keys painted
        await at_rest(pilot)
        assert _keys_on_screen(app, StatusScreen) == ["p Recover"]
        assert " P Recover " in screen_text(app)
        # Nothing drifted or failed on the demo: D and C are not offered (test_tui_console's
        # drift and failed tests see them come and go).
        assert "Accept drift" not in screen_text(app) and "Clear failed" not in screen_text(app)
        for key, cls in (("b", BackupBrowser), ("v", SqlViewScreen)):
            await pilot.press(key)
            await wait_until(pilot, lambda cls=cls: isinstance(app.screen, cls))
            await wait_until(pilot, lambda: " q Quit " in screen_text(app).splitlines()[-1])
            await at_rest(pilot)
            assert _keys_on_screen(app, cls) == []
            footer = screen_text(app).splitlines()[-1]
            assert " q Quit f1 Help " in footer and footer.rstrip().endswith("^p palette")
            await pilot.press("escape")
            await wait_until(pilot, lambda: loaded(app))


async def test_a_failed_runs_error_is_read_whole_in_the_alerts_view_at_80_columns(
    demo: Demo,
) -> None:
    # The runs' "counts / error" column came last, past the right edge at 80 columns: the
    # operator saw "✘ failed" (or not even that) and never why.
    _fail_a_migration(
        demo,
        "20251126_000000_tambah_kolom_rata_rata_nilai_ulangan_harian_semester_ganjil.sql",
        "ALTER TABLE nilai_akhir_semester_ganjil_kelas_sepuluh_ipa ADD COLUMN rata_rata REAL;\n",
    )
    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        await pilot.press("h")
        await wait_until(pilot, lambda: getattr(app.screen, "loaded", None) is not None)
        await wait_until(pilot, lambda: "failed" in screen_text(app))  # the runs painted
        await at_rest(pilot)
        shown = screen_text(app)
        rows = [line for line in shown.splitlines() if "apply" in line and "failed" in line]
        assert rows, shown  # the outcome is in the row itself
        words = " ".join(shown.split())
        assert "no such table: nilai_akhir_semester_ganjil_kelas_sepuluh_ipa" in words, shown


async def test_the_apply_wizards_rehearsal_says_its_notes_and_its_end_says_close(
    demo: Demo,
) -> None:
    # The console's rehearsal used the default 30 s, not [monitor] slow_migration_seconds,
    # and showed neither the rehearsal's notes nor its lint findings (only "1 lint
    # finding(s)"), where `rehearse` prints them. Then the apply result's footer said
    # "esc Cancel" beside the button "Close (esc)": would esc undo what had just run?
    from textual.widgets import Static

    from malnu_tui.engine.backup import create_backup
    from malnu_tui.engine.config import open_backend
    from tests.test_tui_wizards import settled

    with demo.config.open("a", encoding="utf-8") as f:
        f.write("\n[monitor]\nslow_migration_seconds = 0\n")  # any migration that takes time
    name = "20251126_000000_isi_riwayat_nilai.sql"
    (demo.root / "migrations" / name).write_text(
        "CREATE TABLE riwayat_nilai (n INTEGER);\nWITH RECURSIVE c(n) AS (SELECT 1 UNION ALL "
        "SELECT n + 1 FROM c WHERE n < 50000) INSERT INTO riwayat_nilai SELECT n FROM c;\n"
        "UPDATE users SET updated_at = updated_at;\n",
        encoding="utf-8",
    )
    (demo.root / "rollback" / name).write_text("DROP TABLE riwayat_nilai;\n", encoding="utf-8")
    target = demo.target()
    backend = open_backend(target)
    try:
        create_backup(backend, target)
    finally:
        backend.close()
    app = make_app(demo)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        await pilot.press("a")
        await wait_until(pilot, lambda: settled(app, "plan"))
        await pilot.click("#rehearse")

        def report() -> str:
            return str(app.screen.query_one("#rehearse-report", Static).render())

        await wait_until(pilot, lambda: "Rehearsal on backup" in report(), timeout=60)
        shown = report()
        assert f"note: {name} took " in shown
        assert "over slow_migration_seconds (0 s)" in shown
        assert "lint: " in shown and "UPDATE-ALL-ROWS" in shown
        wizard = app.screen
        await pilot.press("n")
        await wait_until(pilot, lambda: settled(app, "confirm"))
        await pilot.press(*"school", "enter")
        await wait_until(pilot, lambda: getattr(wizard, "finished", False), timeout=60)
        await wait_until(pilot, lambda: "esc Close" in screen_text(app).splitlines()[-1])
        await at_rest(pilot)
        footer = screen_text(app).splitlines()[-1]
        assert "esc Close" in footer and "Cancel" not in footer
        await pilot.press("escape")
        await wait_until(pilot, lambda: loaded(app))
    assert len(demo.applied()) == 10


async def test_a_blocked_applys_problem_is_on_screen_at_80x24(demo: Demo) -> None:
    # The problems box shared the step's room with a 3-row Rehearse button and its standing
    # explanation: at 80×24 it showed "✘ cannot proceed:" and not one of the problems.
    from tests.test_tui_wizards import settled

    edited = demo.root / "migrations" / "20251124_120500_create_users_table.sql"
    edited.write_text(edited.read_text(encoding="utf-8") + "-- diubah\n", encoding="utf-8")
    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        await pilot.press("a")
        await wait_until(pilot, lambda: settled(app, "plan"))
        await wait_until(pilot, lambda: "✘ cannot proceed:" in screen_text(app))
        await at_rest(pilot)
        shown = " ".join(screen_text(app).replace("┃", " ").split())
        assert "✘ cannot proceed:" in shown
        assert "✘ drift outside the range: 20251124_120500_create_users_table.sql" in shown
        assert "changed since they ran" in shown
        assert "Rehearse first on a backup copy" in shown
        await pilot.press("escape")


async def test_a_blocked_rollbacks_problems_and_ways_out_are_on_screen_at_80x24(
    demo: Demo,
) -> None:
    # Two problems (a lock held, a rollback file missing) shared the step with the SQL of the
    # file that is there: the box scrolled, the second problem and its way out below its
    # edge. The SQL, which cannot run until they are fixed, gives them its room.
    from tests.test_tui_wizards import _to_rollback_preview

    (demo.root / "rollback" / "20251124_123000_drop_submissions_table.sql").unlink()
    take_lock_elsewhere(demo.primary_db)
    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        await _to_rollback_preview(pilot, app, 2)
        await wait_until(pilot, lambda: "✘ cannot proceed:" in screen_text(app))
        await at_rest(pilot)
        shown = " ".join(screen_text(app).replace("┃", " ").split())
        assert "✘ cannot proceed:" in shown
        assert "✘ the migration lock is held by night-shift@admin-laptop" in shown
        assert "press U on the status screen (unlock)" in shown
        assert "✘ no rollback file for: 20251124_123000_create_submissions_table.sql" in shown
        assert "write rollback/<version>_<name>.sql for each, or roll back fewer steps" in shown
        assert "(the rollback SQL is shown once nothing blocks it)" in shown
        assert "Back (b)" in shown and "Cancel (esc)" in shown
        await pilot.press("escape")


async def test_an_imports_reject_reasons_are_read_whole_with_long_column_names(
    demo: Demo,
) -> None:
    # A school's column names (rata_rata_nilai_ulangan_harian_…) are long: the reason of a
    # rejected row came after the column, past the right edge at 80 columns, in the
    # preview and in the validation's list of rejects.
    import sqlite3

    from textual.widgets import Input

    from malnu_tui.tui.screens.data_import import ImportWizard
    from tests.test_tui_wizards import settled

    long_name = "rata_rata_nilai_ulangan_harian_matematika_wajib"
    with sqlite3.connect(demo.primary_db) as conn:
        conn.execute(
            "CREATE TABLE nilai_akhir_semester_ganjil (id INTEGER PRIMARY KEY, "
            f"nomor_induk_siswa_nasional TEXT NOT NULL, {long_name} REAL)"
        )
    csv = demo.root / "nilai.csv"
    csv.write_text(
        f"nomor_induk_siswa_nasional;{long_name}\n0051234567;85,5\n0051234568;90\n",
        encoding="utf-8",
    )
    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        await pilot.press("i")
        await wait_until(pilot, lambda: isinstance(app.screen, ImportWizard))
        app.screen.query_one("#import-file", Input).value = str(csv)
        app.screen.query_one("#import-table", Input).value = "nilai_akhir_semester_ganjil"
        await pilot.pause()
        await pilot.press("enter")
        await wait_until(pilot, lambda: settled(app, "preview"))
        await wait_until(pilot, lambda: "0051234567" in screen_text(app))  # its rows painted
        await at_rest(pilot)
        assert "'85,5' is not a number" in screen_text(app)
        await pilot.press("n")
        await wait_until(pilot, lambda: settled(app, "validate"))
        await wait_until(
            pilot, lambda: any(ln.startswith("  2 ") for ln in screen_text(app).splitlines())
        )
        await at_rest(pilot)
        rows = [line for line in screen_text(app).splitlines() if line.startswith("  2 ")]
        assert len(rows) == 1 and "'85,5' is not a number" in rows[0], screen_text(app)
        await pilot.press("escape")


async def test_the_alerts_view_never_says_no_runs_of_a_target_it_could_not_read(
    demo: Demo,
) -> None:
    # A PostgreSQL target that is down: its runs were not read, and the view said "no runs
    # recorded", as of a target where nothing ever ran.
    from textual.widgets import DataTable

    from malnu_tui.tui.app import MalnuApp
    from malnu_tui.tui.screens.alerts import AlertsScreen

    with demo.config.open("a", encoding="utf-8") as f:
        f.write('\n[targets.mati]\nurl = "postgresql://malnu@127.0.0.1:1/sekolah"\n')
    settings = demo.settings()
    app = MalnuApp(settings=settings, target=settings.target("mati"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("h")
        await wait_until(
            pilot, lambda: isinstance(app.screen, AlertsScreen) and app.screen.loaded is not None
        )
        runs = app.screen.query_one("#runs-table", DataTable)
        cells = [str(c) for c in runs.get_row_at(0)]
        assert "not read: mati cannot be reached" in cells, cells
        assert "no runs recorded" not in cells
        await pilot.press("escape")


async def test_the_health_line_is_checked_again_after_an_operation(
    demo: Demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The health line was checked at most every 30 s: after clearing a failed migration it
    # still said "1 failed migration in the last hour" under "✘ 0 failed" (and `check` OK).
    from textual.widgets import Static

    from malnu_tui.tui.widgets.target_panel import TargetPanel

    # Never again by the clock here: only what the operation does can bring it up to date.
    monkeypatch.setattr("malnu_tui.tui.widgets.target_panel.HEALTH_SECONDS", 3600.0)
    name = "20251126_000000_tambah_kolom_wali_kelas.sql"
    _fail_a_migration(demo, name, "ALTER TABLE data_wali_kelas ADD COLUMN nomor_telepon TEXT;\n")
    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        panel = app.status_screen.current_panel()
        assert panel is not None

        def health() -> str:
            assert isinstance(panel, TargetPanel)
            return str(panel.query_one(".health", Static).render())

        await wait_until(pilot, lambda: "1 failed migration" in health())
        await pilot.press("end", "C")
        # The dialog's check done, its field focused: typed before, "school" went nowhere.
        await wait_until(pilot, lambda: getattr(app.focused, "id", None) == "fix-typed")
        await pilot.press(*"school", "enter")
        await wait_until(pilot, lambda: loaded(app) and panel.report is not None
                         and panel.report.counts["failed"] == 0)  # fmt: skip
        await wait_until(pilot, lambda: "failed migration" not in health())
        assert health().startswith("✘ health CRITICAL - no verified backup")


async def test_a_status_that_could_not_be_read_again_says_the_list_is_the_last_one(
    demo: Demo,
) -> None:
    # A refresh that fails (a D1 answering 502, a server gone, a damaged file) kept the last
    # list on screen under "could not be read", with nothing saying it was not the state now.
    from textual.widgets import Static

    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        panel = app.status_screen.current_panel()
        assert panel is not None
        demo.primary_db.write_bytes(b"this is no SQLite database, a half-copied file" * 100)
        await pilot.press("ctrl+r")
        summary = panel.query_one(".summary", Static)
        await wait_until(pilot, lambda: "could not be read" in str(summary.render()))
        said = str(summary.render())
        assert "the list below is the last status read, at " in said, said
        assert panel.table.row_count == 9  # the last list, still there


async def test_the_sync_tables_state_columns_stay_on_screen_with_a_long_table_name(
    demo: Demo,
) -> None:
    # A long Indonesian table name took the whole width: "verified" (and at 80 columns even
    # the status) was past the right edge, as it was for "✘ source gone" before.
    import sqlite3

    from malnu_tui.tui.screens.sync import SyncScreen

    long = "nilai_akhir_semester_ganjil_kelas_sepuluh_ipa_tahun_ajaran_2026"
    with sqlite3.connect(demo.primary_db) as conn:
        conn.execute(f"CREATE TABLE {long} (id INTEGER PRIMARY KEY, nilai REAL)")
    with demo.config.open("a", encoding="utf-8") as f:
        f.write(
            f'\n[targets.reports]\nurl = "sqlite:///{demo.root / "reports.db"}"\n\n'
            f'[sync.rapor]\nfrom = "primary"\nto = "reports"\ntables = ["{long}"]\n'
        )
    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        await pilot.press("s")
        await wait_until(
            pilot, lambda: isinstance(app.screen, SyncScreen) and app.screen.states_for == "rapor"
        )
        await wait_until(pilot, lambda: " nilai_akhir_" in screen_text(app))  # the row painted
        await at_rest(pilot)
        lines = screen_text(app).splitlines()
        header = next(line for line in lines if line.startswith(" table "))
        row = next(line for line in lines if line.startswith(" nilai_akhir_"))
        assert " status " in header and " verified " in header, header
        assert "never synced" in row and "…" in row, row
        assert _keys_on_screen(app, SyncScreen) == []  # F and ^r on the more: line
        await pilot.press("escape")


async def test_targets_named_as_the_config_allows_open_in_the_console(tmp_path: Path) -> None:
    # Names the CLI takes stopped the console at start with a traceback: "sekolah.lama" beside
    # "sekolah-lama" (one tab id for both), "Sekolah Ä" (an invalid id); "sekolah [lama]"
    # showed as "sekolah" (its tab title read as markup).
    from malnu_tui.engine.config import load_settings
    from malnu_tui.tui.app import MalnuApp

    names = ("sekolah.lama", "sekolah-lama", "Sekolah Ä", "sekolah [lama]")
    config = tmp_path / "malnu.toml"
    config.write_text(
        "".join(
            f'[targets."{n}"]\nurl = "sqlite:///{tmp_path / f"db{i}.db"}"\n'
            for i, n in enumerate(names)
        ),
        encoding="utf-8",
    )
    settings = load_settings(config=str(config), env={})
    app = MalnuApp(settings=settings, target=settings.target(names[0]))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        assert " ".join(names) in " ".join(screen_text(app).split())
        for name in names[1:]:
            await pilot.press("t")
            await wait_until(pilot, lambda name=name: app.current_target().name == name)
        assert app.sub_title.endswith("db3.db")
        await pilot.press("ctrl+p", *"lama")
        await wait_until(pilot, lambda: "target sekolah [lama]" in screen_text(app))


async def test_a_safety_backups_byte_progress_moves_the_bar_and_writes_no_log_line(
    demo: Demo,
) -> None:
    # pg_dump reports its bytes every 0.25 s without a message: each became the line
    # "safety backup: dump" in the run's log (four a second, for as long as a big database's
    # dump takes), and "verify"/"hash" twice each in a restore's log. The events here are what
    # the PostgreSQL backup sends (engine/backup/postgresql.py), through the real callback.
    from textual.widgets import Log

    from malnu_tui.engine.backup.store import BackupProgress as Event
    from malnu_tui.tui.screens.apply import ApplyWizard
    from malnu_tui.tui.session import backup_progress_poster
    from tests.test_tui_wizards import settled

    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        await pilot.press("a")
        await wait_until(pilot, lambda: settled(app, "plan"))
        wizard = app.screen
        assert isinstance(wizard, ApplyWizard)
        post = backup_progress_poster(wizard)
        post(Event("dump", 0, 4096, "pg_dump -Fc of school"))
        for done in (1024, 2048, 3072, 4096):
            post(Event("dump", done, 4096))
        post(Event("fsync", 0, 0, "fsync, sha256 and pg_restore --list"))
        log = wizard.query_one("#run-progress Log", Log)
        await wait_until(pilot, lambda: any("fsync" in line for line in log.lines))
        assert list(log.lines) == [
            "safety backup: pg_dump -Fc of school",
            "safety backup: fsync, sha256 and pg_restore --list",
        ]
        await pilot.press("escape")


async def test_deleting_a_backup_asks_the_database_name_as_the_cli_does(demo: Demo) -> None:
    # The dialog asked for the word "delete" under a field that said "type the database
    # name here" (`backup delete` asks the database's name): the name typed was refused, and
    # d with no backup (or while one was being verified) did nothing at all.
    from malnu_tui.engine.backup import list_backups
    from malnu_tui.tui.screens.backups import BackupBrowser
    from tests.tui_demo import add_backups

    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        await pilot.press("b")
        await wait_until(pilot, lambda: isinstance(app.screen, BackupBrowser))
        browser = app.screen
        footer = lambda: screen_text(app).splitlines()[-1]  # noqa: E731
        # With no backup, v, o and d are not offered (each only said "no backup selected").
        # Read once the list is read and the footer painted with the screen's keys (it is
        # composed again after they change: a loaded machine read it blank, or still bare).
        await wait_until(
            pilot, lambda: "No backups yet" in screen_text(app) and " c Create " in footer()
        )
        await at_rest(pilot)
        assert not [k for k in ("v Verify", "o Restore", "d Delete") if k in footer()], footer()
        await pilot.press("d")  # nothing opens
        await pilot.pause()
        assert app.screen is browser
        await pilot.press("escape")
        await wait_until(pilot, lambda: loaded(app))
        ids = add_backups(demo)
        await pilot.press("b")
        await wait_until(
            pilot, lambda: isinstance(app.screen, BackupBrowser) and bool(app.screen.manifests)
        )
        browser = app.screen
        await wait_until(pilot, lambda: all(k in footer() for k in ("v Verify", "d Delete")))
        assert "o Restore" in footer()
        await pilot.press("d")
        await wait_until(pilot, lambda: dialog_ready(app))
        await at_rest(pilot)
        shown = " ".join(screen_text(app).split())
        assert f"Type school to delete backup {ids[1]}." in shown
        await pilot.press(*"delete", "enter")
        # The refusal painted (the field's "delete" alone is in it before Enter too).
        await wait_until(pilot, lambda: "'delete'" in screen_text(app))
        await at_rest(pilot)
        shown = " ".join(screen_text(app).split())
        assert "✘ 'delete' is not 'school': type school exactly" in shown
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is browser)
        assert [m.id for m in list_backups(demo.target().backup_dir)] == [ids[1], ids[0]]
        await pilot.press("d")
        await wait_until(pilot, lambda: dialog_ready(app))
        await pilot.press(*"school", "enter")
        await wait_until(pilot, lambda: app.screen is browser and len(browser.manifests) == 1)
        assert isinstance(app.focused, DataTable)
    assert [m.id for m in list_backups(demo.target().backup_dir)] == [ids[0]]


async def test_in_a_wizards_field_next_names_enter_not_n(demo: Demo) -> None:
    # In a field (the recover time, the import's path, N of the rollback) n is a letter typed;
    # the button said "Next ▶ (n)" and the footer named no key to go on: n typed "-1hn".
    from tests.test_tui_wizards import wizard
    from tests.tui_demo import add_backups

    add_backups(demo)
    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        await pilot.press("p")
        await wait_until(pilot, lambda: wizard(app).step == "when" and app.focused is not None)
        await wait_until(pilot, lambda: "Next ▶" in screen_text(app))  # the buttons painted
        await at_rest(pilot)
        shown = screen_text(app)
        assert "Next ▶ (enter)" in shown and "Next ▶ (n)" not in shown
        assert "◀ Back" not in shown  # the first step: nothing to go back to
        await pilot.press(*"-1h", "enter")
        await wait_until(pilot, lambda: wizard(app).step == "plan")
        await wait_until(pilot, lambda: not wizard(app).working)
        await at_rest(pilot)
        shown = screen_text(app)  # out of the field, n goes on again
        assert "▶ (n)" in shown and "(enter)" not in shown
        await pilot.press("escape")


async def test_a_failed_step_stops_its_clock_under_the_error(demo: Demo) -> None:
    # A restore whose backup was pruned after the list was read (a cron `backup prune`)
    # showed the error above "verifying …… running for 0:07 — still working", ticking and
    # pulsing for as long as the wizard stayed open.
    from malnu_tui.tui.screens.backups import BackupBrowser
    from malnu_tui.tui.screens.restore import RestoreWizard
    from tests.tui_demo import add_backups

    ids = add_backups(demo)
    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        await pilot.press("b")
        await wait_until(
            pilot, lambda: isinstance(app.screen, BackupBrowser) and bool(app.screen.manifests)
        )
        for f in demo.target().backup_dir.iterdir():
            if f.name.startswith(ids[1]):  # the newest, selected
                f.unlink()
        await pilot.press("o")
        await wait_until(pilot, lambda: isinstance(app.screen, RestoreWizard))
        wizard = app.screen
        # The step's end, not `not wizard.working`: that held too before its worker began
        # (a loaded machine took the picture of the step still blank).
        await wait_until(
            pilot,
            lambda: (
                not wizard.working
                and "✘ verify refused: see the error above" in " ".join(screen_text(app).split())
            ),
        )
        await pilot.pause(1.2)  # a clock still running would have ticked by now
        shown = " ".join(screen_text(app).split())
        assert f"✘ verify refused: nothing was written why: no backup '{ids[1]}'" in bare_text(app)
        assert "✘ verify refused: see the error above" in shown
        assert "running for" not in shown and "still working" not in shown
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, BackupBrowser))


async def test_a_failed_backup_operation_stops_pulsing(demo: Demo) -> None:
    # Verify of a backup pruned after the list was read: "✘ verify failed" above a bar that
    # went on pulsing "--%" as if the verify still ran.
    from malnu_tui.tui.screens.backups import BackupBrowser
    from tests.tui_demo import add_backups

    ids = add_backups(demo)
    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        await pilot.press("b")
        await wait_until(
            pilot, lambda: isinstance(app.screen, BackupBrowser) and bool(app.screen.manifests)
        )
        browser = app.screen
        for f in demo.target().backup_dir.iterdir():
            if f.name.startswith(ids[1]):
                f.unlink()
        await pilot.press("v")
        await wait_until(pilot, lambda: browser.busy is None)
        await wait_until(
            pilot,
            lambda: "✘ verify refused: see the error above" in " ".join(screen_text(app).split()),
        )
        await at_rest(pilot)
        shown = " ".join(screen_text(app).split())
        assert f"✘ verify refused: nothing was written why: no backup '{ids[1]}'" in bare_text(app)
        assert "✘ verify refused: see the error above" in shown
        assert "--%" not in shown and "running for" not in shown
        await pilot.press("escape")
        await wait_until(pilot, lambda: loaded(app))


def _with_unreachable_target(demo: Demo) -> None:
    """A target `laporan` on a server that does not answer (refused on 127.0.0.1:1)."""
    with demo.config.open("a", encoding="utf-8") as f:
        f.write('\n[targets.laporan]\nurl = "postgresql://malnu@127.0.0.1:1/laporan"\n')


async def _failed_dialog(app: Any, pilot: Any, screen: Any) -> str:
    """``screen`` pushed; once its error box shows, the screen's text (wrapped lines joined)."""
    app.push_screen(screen)
    await wait_until(pilot, lambda: app.screen is screen)
    await wait_until(pilot, lambda: any(b.display for b in screen.query(".error-box")))
    await at_rest(pilot)
    return " ".join(screen_text(app).split())


async def _cancel_closes(app: Any, pilot: Any, screen: Any) -> None:
    """Cancel is focused where Enter should close: Enter closes ``screen``."""
    from textual.widgets import Button

    focused = app.focused
    assert isinstance(focused, Button) and focused.id == "no"
    await pilot.press("enter")
    await wait_until(pilot, lambda: app.screen is not screen)


async def test_a_repair_whose_check_fails_says_so_not_checking(demo: Demo) -> None:
    # The repair dialog's check failed (a second file of the same version pulled in since
    # the status was read): the error showed under "checking…", which stayed for good.

    from malnu_tui.tui.screens.fix import FixScreen

    edited = demo.root / "migrations" / "20251124_121000_add_indexes_to_users.sql"
    edited.write_text(edited.read_text(encoding="utf-8") + "-- diubah\n", encoding="utf-8")
    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        (demo.root / "migrations" / "20251124_121000_salinan.sql").write_text("SELECT 1;\n")
        fix = FixScreen(demo.target(), "repair", edited.name)
        shown = await _failed_dialog(app, pilot, fix)
        assert "duplicate version 20251124_121000" in fix.query_one(ErrorBox).text
        assert "checking…" not in shown
        assert "✘ not checked (the error below): nothing was changed" in shown
        await _cancel_closes(app, pilot, fix)


async def test_an_unlock_whose_read_fails_says_so_not_reading(demo: Demo) -> None:
    # U on a server that does not answer (refused on 127.0.0.1:1): the error showed under
    # "reading the lock…", which stayed as if the read went on.

    from malnu_tui.tui.screens.unlock import UnlockScreen

    _with_unreachable_target(demo)
    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.screen.is_mounted)
        unlock = UnlockScreen(demo.settings().target("laporan"))
        shown = await _failed_dialog(app, pilot, unlock)
        assert "connection" in unlock.query_one(ErrorBox).text
        assert "reading the lock…" not in shown
        assert "✘ the lock could not be read (the error below): nothing was released" in shown
        await _cancel_closes(app, pilot, unlock)


async def test_an_apply_whose_plan_fails_says_so_not_planning(demo: Demo) -> None:
    # A target that does not answer (refused on 127.0.0.1:1): the apply wizard showed the
    # error above "Planning postgresql://…/laporan…", which stayed as if it still planned.
    from malnu_tui.tui.screens.apply import ApplyWizard

    _with_unreachable_target(demo)
    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.screen.is_mounted)
        app.push_screen(ApplyWizard(demo.settings().target("laporan")))
        await wait_until(pilot, lambda: isinstance(app.screen, ApplyWizard))
        wizard = app.screen
        await wait_until(pilot, lambda: wizard.last_error is not None and not wizard.working)
        await at_rest(pilot)
        shown = " ".join(screen_text(app).split())
        url = "postgresql://malnu@127.0.0.1:1/laporan"
        assert f"✘ plan failed why: cannot connect to {url}" in bare_text(app)
        assert "Planning" not in shown
        assert "✘ no plan (the error above): nothing was run" in shown
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is not wizard)


async def test_a_rollback_whose_preview_fails_says_so_not_checking(demo: Demo) -> None:
    # The preview failed (a second file of the same version pulled in after "how far"):
    # the error showed above "Checking: undo the last migration…", which stayed.
    from tests.test_tui_wizards import wizard

    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        await pilot.press("r")
        await wait_until(pilot, lambda: wizard(app).step == "how-far" and not wizard(app).working)
        (demo.root / "migrations" / "20251124_123000_salinan.sql").write_text("SELECT 1;\n")
        await pilot.press("n")
        await wait_until(
            pilot, lambda: wizard(app).step == "preview" and wizard(app).last_error is not None
        )
        await wait_until(pilot, lambda: not wizard(app).working)
        await at_rest(pilot)
        shown = " ".join(screen_text(app).split())
        assert "duplicate version 20251124_123000" in (wizard(app).last_error or "")
        assert "Checking:" not in shown
        assert "✘ no preview (the error above): nothing was run" in shown
        await pilot.press("escape")
