"""The console at 2 a.m.: what the status table keeps at 80 columns, the audit log's detail pane
and filter, and a SQL view that never shows an empty pane. Real SQLite demo databases, Pilot."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, Static

from malnu_tui.engine.translate import translate_script
from malnu_tui.tui.app import MalnuApp
from malnu_tui.tui.screens.audit import AuditScreen
from malnu_tui.tui.screens.sql_documents import (
    DIFF_LINES,
    SqlDocument,
    translation_pane_text,
    unified_diff,
)
from malnu_tui.tui.screens.sql_view import SqlViewScreen
from malnu_tui.tui.screens.status import StatusScreen
from malnu_tui.tui.widgets.migration_table import (
    MigrationTable,
    duration_label,
    elide_middle,
    short_time,
)
from malnu_tui.tui.widgets.target_panel import TargetPanel
from tests.tui_demo import (
    Demo,
    at_rest,
    build_demo,
    demo_app,
    dialog_ready,
    hangs_under,
    screen_text,
    status_loaded,
    wait_until,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
def demo(tmp_path: Path) -> Demo:
    return build_demo(tmp_path / "demo")


make_app = demo_app
loaded = status_loaded


def test_formatting_rules() -> None:
    assert duration_label(0) == "<1 ms"
    assert duration_label(12) == "12 ms"
    assert duration_label(None) == ""
    name = "create_academic_records_table_with_many_words"
    cut = elide_middle(name, 15)
    assert len(cut) == 15 and cut.startswith("create_") and cut.endswith("words") and "…" in cut
    assert elide_middle("short", 15) == "short"
    now = datetime.now(UTC)
    assert short_time(now.strftime("%Y-%m-%d %H:%M:%S")) == now.strftime("%H:%M")
    assert short_time("2020-01-02 03:04:05") == "2020-01-02"
    assert short_time(None) == ""


async def test_status_at_80_columns_keeps_state_name_and_rollback(demo: Demo) -> None:
    # A long migration name must not push the rollback column off an 80-column screen.
    long = (
        demo.root
        / "migrations"
        / (
            "20251124_124500_"
            + "backfill_the_academic_records_of_every_student_since_2019"
            + ".sql"
        )
    )
    long.write_text("CREATE TABLE backfill_marker (id INTEGER PRIMARY KEY);\n", encoding="utf-8")
    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        table = app.screen.query(TargetPanel).first().table
        assert isinstance(table, MigrationTable)
        assert table._columns == ("version", "state", "name", "applied", "rollback")
        assert sum(table._widths) + 2 * len(table._widths) + 1 <= 80
        cells = [table.get_row_at(i) for i in range(table.row_count)]
        assert any("…" in row[2] for row in cells)
        assert all(row[4] in ("yes", "NO") for row in cells)
        await pilot.press("q")


async def test_status_wide_shows_sub_millisecond_times_as_under_one_ms(demo: Demo) -> None:
    with sqlite3.connect(demo.primary_db) as conn:
        conn.execute("UPDATE migrations SET execution_time_ms = 0")
    app = make_app(demo)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        table = app.screen.query(TargetPanel).first().table
        took = {table.get_row_at(i)[4] for i in range(table.row_count)}
        assert "<1 ms" in took and "0 ms" not in took
        await pilot.press("q")


async def test_audit_log_detail_pane_and_escape_clears_the_filter_first(demo: Demo) -> None:
    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        await pilot.press("l")
        await wait_until(
            pilot,
            lambda: isinstance(app.screen, AuditScreen) and bool(app.screen.entries),
        )
        screen = app.screen
        assert isinstance(screen, AuditScreen)
        table = screen.query_one("#audit-table", DataTable)
        await pilot.press("down")
        entry = screen.entries[table.cursor_row]
        detail = str(screen.query_one("#audit-detail", Static).render())
        assert entry.action in detail and entry.object in detail
        await pilot.press("slash")
        await pilot.press(*"apply")
        field = screen.query_one("#filter", Input)
        assert field.value == "apply"
        await pilot.press("escape")  # clears the filter, stays on the audit log
        assert field.value == ""
        assert app.screen is screen
        assert table.row_count == len(screen.entries)
        await pilot.press("escape")  # now leaves
        assert isinstance(app.screen, StatusScreen)
        await pilot.press("q")


def test_sql_view_panes_are_never_empty() -> None:
    same = "CREATE TABLE t (id INTEGER);\n"
    doc = SqlDocument("1_t.sql", same, translate_script(same, "1_t.sql"))
    pane = translation_pane_text(doc)
    assert pane.strip()
    diff = str(unified_diff(doc))
    assert diff.strip()
    if doc.translation is not None and doc.translation.postgres_sql().strip() == same.strip():
        assert "identical" in pane and "identical" in diff
    comments = "-- nothing here yet\n"
    doc2 = SqlDocument("2_c.sql", comments, translate_script(comments, "2_c.sql"))
    assert "nothing runs on PostgreSQL" in translation_pane_text(doc2)


def test_sql_view_diff_of_a_large_seed_is_per_statement_and_cut_with_a_note() -> None:
    """The diff layout of a 4,800-statement seed (6,400 diff lines, past DIFF_LINES): difflib
    over the whole file took these like lines for noise (its autojunk, from 200 lines on) and
    replaced every one (and its time grows with the square of the file); each statement is
    now beside its translation, and past DIFF_LINES a note says where the rest is."""
    kept = "INSERT INTO s (id, note) VALUES (1, 'same');"
    changed = "INSERT INTO `s` (id, note) VALUES (1, 'same');"
    rows = [changed if i % 3 == 0 else kept for i in range(1, 4_801)]
    sql = "CREATE TABLE s (id INTEGER, note TEXT);\n" + "\n".join(rows) + "\n"
    doc = SqlDocument("9_seed.sql", sql, translate_script(sql, "9_seed.sql"))
    lines = str(unified_diff(doc)).splitlines()
    assert len(lines) == DIFF_LINES + 1
    assert lines[-1].startswith("… ") and lines[-1].endswith(
        "more lines of the diff not shown here: malnu-tui diff 9_seed.sql"
    )
    assert [f" {kept}", f"-{changed}", f"+{kept}", f" {kept}"] == lines[9:13]


async def test_status_refreshes_itself_when_another_operator_changes_the_lock(demo: Demo) -> None:
    from tests.tui_demo import take_lock_elsewhere

    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        panel = app.screen.query(TargetPanel).first()

        def summary() -> str:
            return str(panel.query_one(".summary", Static).render())

        assert "lock free" in summary() and "as of " in summary()
        take_lock_elsewhere(demo.primary_db)  # no key pressed: the file changed
        await wait_until(pilot, lambda: "LOCKED" in summary())
        with sqlite3.connect(demo.primary_db) as conn:
            conn.execute("DELETE FROM malnu_lock")
        await wait_until(pilot, lambda: "lock free" in summary())
        await pilot.press("q")


async def test_database_url_means_that_database_only(tmp_path: Path) -> None:
    from malnu_tui.engine.config import load_settings, resolve_target, user_data_dir

    db = tmp_path / "school.db"
    settings = load_settings(config=None)  # no config: the embedded default is configured
    target = resolve_target(settings, database=f"sqlite:///{db}")
    app = MalnuApp(settings=settings, target=target)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        panels = list(app.screen.query(TargetPanel))
        assert [p.target.url for p in panels] == [target.url]
        await pilot.press("t")  # no other tab to switch to
        await pilot.press("q")
    assert not db.exists()  # read as the new database the first `up` makes: nothing written
    assert not (user_data_dir() / "malnu.db").exists()


async def test_a_shared_backup_dir_is_said_in_the_console(tmp_path: Path) -> None:
    """The CLI says it on stderr before the console draws over it: the console says it too."""
    from malnu_tui.engine.config import load_settings, resolve_target

    cfg = tmp_path / "malnu.toml"
    cfg.write_text(
        f'[targets.one]\nurl = "sqlite:///{tmp_path}/1.db"\nbackup_dir = "bk"\n'
        f'[targets.two]\nurl = "sqlite:///{tmp_path}/2.db"\nbackup_dir = "bk"\n'
    )
    settings = load_settings(config=str(cfg))
    app = MalnuApp(settings=settings, target=resolve_target(settings, name="one"))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        said = [n.message for n in app._notifications]
        assert any("[targets.one] and [targets.two] share backup_dir" in m for m in said), said
        await pilot.press("q")


# -- keys: one registry for footer, help and palette ---------------------------------------------


def test_every_binding_has_an_id_and_ids_are_unique() -> None:
    from malnu_tui.tui.keys import key_entries

    entries = key_entries(MalnuApp)
    assert len(entries) > 20
    missing = [f"{e.where}: {e.keys}" for e in entries if not e.id]
    assert missing == []
    ids = [e.id for e in entries]
    assert len(ids) == len(set(ids))


def test_one_key_one_meaning_between_status_and_backups() -> None:
    from malnu_tui.tui.keys import key_entries

    status = {e.keys: e.action for e in key_entries(MalnuApp) if e.where == "Status"}
    backups = {e.keys: e.action for e in key_entries(MalnuApp) if e.where == "Backups"}
    assert "rollback" in status["r"]
    assert backups.get("r") is None  # restore is not r in the backup browser


async def test_help_shows_every_binding_with_its_id_within_80_columns(demo: Demo) -> None:
    from malnu_tui.tui.keys import key_entries
    from malnu_tui.tui.screens.help import HelpScreen

    with demo.config.open("a", encoding="utf-8") as f:
        f.write('\n[keys]\n"status.rollback" = "z"\n')
    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        table = app.screen.query_one(DataTable)
        await wait_until(pilot, lambda: table.row_count > 0)  # its rows added
        await at_rest(pilot)
        rows = [tuple(str(c) for c in table.get_row_at(i)) for i in range(table.row_count)]
        shown_ids = {r[2] for r in rows}
        assert {e.id for e in key_entries(MalnuApp)} <= shown_ids
        assert ("z (remapped)", "Rollback", "status.rollback") in rows
        assert sum(col.get_render_width(table) for col in table.columns.values()) <= 80
        await pilot.press("escape")
        assert isinstance(app.screen, StatusScreen)


async def test_palette_lists_every_action_with_its_key_and_finds_words_of_the_help(
    demo: Demo,
) -> None:
    from textual.command import CommandList, CommandPalette

    from malnu_tui.tui.commands import BASE_COMMANDS, help_with_key
    from malnu_tui.tui.keys import key_entries
    from malnu_tui.tui.screens.rollback import RollbackWizard

    app = make_app(demo)
    palette_actions = {c.action.split("(")[0] for c in BASE_COMMANDS}
    for action in palette_actions:  # every palette command is a real action of the app
        assert hasattr(app, f"action_{action}"), action
    # Every app-level action bound to a key anywhere is in the palette.
    bound = {
        e.action.removeprefix("app.").split("(")[0]
        for e in key_entries(MalnuApp)
        if e.action.startswith("app.") and e.action != "app.pop_screen"
    }
    assert bound <= palette_actions, bound - palette_actions
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        rollback = next(c for c in BASE_COMMANDS if c.action == "open_rollback")
        assert help_with_key(app, rollback).endswith("[key: r]")
        await pilot.press("ctrl+p")
        await wait_until(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"undo")  # a word of the help text, not of the title
        hits = app.screen.query_one(CommandList)
        await wait_until(pilot, lambda: hits.option_count > 0)  # the search runs in a worker
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, RollbackWizard))


async def test_q_and_ctrl_c_during_a_run_say_what_quitting_would_do(demo: Demo) -> None:

    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        assert app.begin_operation("rollback")
        await pilot.press("q")
        await pilot.press("ctrl+c")
        await pilot.pause(0.1)
        assert app.is_running
        said = [n.message for n in app._notifications]
        assert any("Each migration is all or nothing" in m for m in said), said
        app.end_operation()
        await pilot.press("ctrl+c")  # idle: it asks
        await wait_until(pilot, lambda: dialog_ready(app))
        await pilot.press("escape")  # and esc stays
        assert isinstance(app.screen, StatusScreen)
        await pilot.press("ctrl+c", "ctrl+c")  # twice: quits
        await pilot.pause(0.1)
    assert app.return_code == 0


async def test_long_work_shows_how_long_it_has_been_running(demo: Demo) -> None:
    from textual.app import App, ComposeResult

    from malnu_tui.tui.widgets.progress import OperationProgress

    class Harness(App[None]):
        def compose(self) -> ComposeResult:
            yield OperationProgress()

    app = Harness()
    async with app.run_test(size=(80, 24)) as pilot:
        progress = app.query_one(OperationProgress)
        progress.reset("applying 3 migration(s)…", 3)
        elapsed = progress.query_one(".elapsed", Static)
        await wait_until(pilot, lambda: "running for 0:0" in str(elapsed.render()))
        assert elapsed.display
        progress.show_statement("20250101_x.sql", 3, 7)
        assert "statement 3 of 7 of 20250101_x.sql" in str(elapsed.render())
        progress.show_statement("20250101_y.sql", 0, 4)  # D1: one batch
        assert "4 statements of 20250101_y.sql sent as one batch" in str(elapsed.render())
        progress.caption("✘ 20250101_x.sql FAILED")  # an outcome stops the clock
        assert not elapsed.display
        progress.reset("again…")
        assert elapsed.display
        progress.finish("✔ done")
        assert not elapsed.display


# -- unlock, repair, clear-failed: fix in the console what the console shows ----------------------


def hold_lock(db: Path, host: str, pid: int) -> None:
    from malnu_tui.engine.backends.sqlite import SQLiteBackend
    from malnu_tui.engine.errors import LockHolder

    backend = SQLiteBackend(db)
    backend.ensure_schema()
    backend.acquire_lock(LockHolder("night@box", host, pid, "2026-11-20 08:30:00", note="up"))
    backend.conn.execute("UPDATE malnu_lock SET expires_at = '2099-01-01 00:00:00'")
    backend.conn.close()


def dead_pid() -> int:
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(proc.stdout)


async def open_unlock(app: MalnuApp, pilot: object) -> object:
    from malnu_tui.tui.screens.unlock import UnlockScreen

    await wait_until(pilot, lambda: loaded(app))
    await pilot.press("U")  # type: ignore[attr-defined]
    await wait_until(
        pilot, lambda: isinstance(app.screen, UnlockScreen) and app.screen.state is not None
    )
    return app.screen


def lock_row(db: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT pid FROM malnu_lock").fetchall()


async def test_unlock_with_no_lock_offers_nothing(demo: Demo) -> None:
    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_unlock(app, pilot)
        body = str(screen.query_one("#unlock-body", Static).render())  # type: ignore[attr-defined]
        assert "no lock is held" in body and "nothing to release" in body
        assert not screen.query_one("#yes").display  # type: ignore[attr-defined]
        await pilot.press("escape")
        assert isinstance(app.screen, StatusScreen)


async def test_unlock_of_a_dead_local_process_says_gone_and_releases(demo: Demo) -> None:
    import socket

    pid = dead_pid()
    hold_lock(demo.primary_db, socket.gethostname(), pid)
    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_unlock(app, pilot)
        body = str(screen.query_one("#unlock-body", Static).render())  # type: ignore[attr-defined]
        assert f"pid {pid} is not running" in body
        await pilot.press("enter")  # nothing typed: told what to type, nothing released
        why = str(screen.query_one("#unlock-why", Static).render())  # type: ignore[attr-defined]
        assert "type school" in why
        await pilot.press(*"scool", "enter")
        why = str(screen.query_one("#unlock-why", Static).render())  # type: ignore[attr-defined]
        assert "'scool' is not the database name" in why
        assert lock_row(demo.primary_db)
        await pilot.press("ctrl+u", *"school", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, StatusScreen))
    assert lock_row(demo.primary_db) == []


async def test_unlock_of_a_running_local_process_needs_its_pid_typed_too(demo: Demo) -> None:
    import os
    import socket

    hold_lock(demo.primary_db, socket.gethostname(), os.getpid())
    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_unlock(app, pilot)
        body = str(screen.query_one("#unlock-body", Static).render())  # type: ignore[attr-defined]
        assert f"pid {os.getpid()} IS RUNNING on this host" in body
        await pilot.press(*"school", "enter")  # the name alone is not enough
        assert lock_row(demo.primary_db)
        why = str(screen.query_one("#unlock-why", Static).render())  # type: ignore[attr-defined]
        assert f"type {os.getpid()}" in why
        await pilot.press(*str(os.getpid()), "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, StatusScreen))
    assert lock_row(demo.primary_db) == []


async def test_drift_is_accepted_in_the_console_and_audited(demo: Demo) -> None:
    from malnu_tui.tui.screens.fix import FixScreen

    edited = demo.root / "migrations" / "20251124_120500_create_users_table.sql"
    edited.write_text(edited.read_text(encoding="utf-8") + "\n-- a comment added later\n")
    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        panel = app.screen.query(TargetPanel).first()
        assert "≠ 1 drifted" in str(panel.query_one(".summary", Static).render())
        await wait_until(pilot, lambda: "D Accept drift" in screen_text(app))
        await pilot.press("enter")  # its SQL view says what changed and the way out
        await wait_until(pilot, lambda: isinstance(app.screen, SqlViewScreen))
        await at_rest(pilot)
        said = " ".join(screen_text(app).split())
        assert "≠ changed since it ran: recorded " in said and ", file now " in said, said
        assert "D on the status screen accepts the edit" in said
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, StatusScreen))
        await pilot.press("D")
        await wait_until(
            pilot, lambda: isinstance(app.screen, FixScreen) and app.screen.word is not None
        )
        await pilot.press(*"school", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, StatusScreen))
        await wait_until(
            pilot, lambda: "≠ 0 drifted" in str(panel.query_one(".summary", Static).render())
        )
        # Nothing drifted any more: D is not offered (it only said "select a drifted … first").
        await wait_until(pilot, lambda: "Accept drift" not in screen_text(app))
    with sqlite3.connect(demo.primary_db) as conn:
        rows = conn.execute(
            "SELECT object, detail FROM malnu_audit WHERE action = 'repair'"
        ).fetchall()
    assert rows and rows[-1][0] == edited.name


async def test_a_failed_migration_is_cleared_in_the_console(demo: Demo) -> None:
    from malnu_tui.tui.screens.fix import FixScreen

    failed = "20251124_123500_create_chat_conversations_table.sql"
    with sqlite3.connect(demo.primary_db) as conn:
        conn.execute(
            "INSERT INTO migrations (filename, checksum, executed_at, execution_time_ms, success,"
            " error_message) VALUES (?, 'x', '2026-11-20 09:00:00', 3, 0, 'line 2: boom')",
            (failed,),
        )
    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        await wait_until(pilot, lambda: "C Clear failed" in screen_text(app))
        await pilot.press("C")  # on a row that is not failed: told to select one
        assert isinstance(app.screen, StatusScreen)
        await pilot.press("end", "up", "up")
        assert app.screen.current_selection()[0].filename == failed  # type: ignore[attr-defined,index]
        # Its SQL says what it failed with, as `status` does: no screen said the error.
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, SqlViewScreen))
        await at_rest(pilot)
        shown = screen_text(app)
        assert "✘ failed at 2026-11-20 09:00:00: line 2: boom" in shown, shown
        assert "way out: fix the file, then a (apply)" in shown
        assert hangs_under(app, "way out: ")  # its second line under its first, not at col 0
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, StatusScreen))
        await pilot.press("C")
        await wait_until(
            pilot, lambda: isinstance(app.screen, FixScreen) and app.screen.word is not None
        )
        assert "failed with: line 2: boom" in screen_text(app)  # what is cleared
        await pilot.press(*"school", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, StatusScreen))
        await wait_until(pilot, lambda: "Clear failed" not in screen_text(app))  # none left
    with sqlite3.connect(demo.primary_db) as conn:
        assert conn.execute(
            "SELECT count(*) FROM migrations WHERE filename = ?", (failed,)
        ).fetchone() == (0,)


def test_engine_hints_name_console_keys_inside_the_console() -> None:
    from malnu_tui.tui.widgets.error_box import console_hint

    assert console_hint("if that process is dead, run `malnu-tui unlock`") == (
        "if that process is dead, press U on the status screen (unlock)"
    )
    # Said as a thing after "with": it read "accept the edit with select the migration and
    # press D on the status screen (accept drift)", two orders run together.
    assert console_hint("accept the edit with `malnu-tui repair` (audited)") == (
        "accept the edit with D on the status screen, the migration selected (accept drift) "
        "(audited)"
    )
    assert "malnu-tui" not in console_hint("see `malnu-tui backup list --json`")


def test_the_console_masks_secrets_in_the_errors_it_shows(tmp_path: Path) -> None:
    """The CLI masks its error: and hint: lines; the console's error box and its explanation of
    a failed step did not (a PostgreSQL password with raw reserved characters was shown)."""
    from malnu_tui.engine.config import Target, open_backend
    from malnu_tui.tui.session import explain

    for secret in ("Zq#a?b9Secret", "Zq%23a9Secret"):  # raw (malformed for libpq), encoded
        url = f"postgresql://ops:{secret}@127.0.0.1:1/sekolah"  # nothing listens on port 1
        target = Target("analytics", url, tmp_path, tmp_path, tmp_path)
        with pytest.raises(Exception) as failed:
            open_backend(target).close()
        message, hint = explain(failed.value)
        assert "127.0.0.1" in message and "Secret" not in message + hint, message
        # Not an engine error (a bug's traceback text): masked all the same.
        message, _ = explain(RuntimeError(f"boom at {url}"))
        assert "Secret" not in message and "ops:***@" in message, message


def test_confirmation_problem_says_what_is_wrong() -> None:
    from malnu_tui.tui.widgets.typed_confirm import confirmation_problem

    purpose = "roll back 1 migration on school.db"
    assert confirmation_problem("school", "school", purpose) is None
    assert confirmation_problem("", "school", purpose) == (
        "nothing typed yet: type school to roll back 1 migration on school.db"
    )
    wrong = confirmation_problem("scool", "school", purpose)
    assert wrong is not None and "'scool' is not 'school'" in wrong
    case = confirmation_problem("School", "school", purpose)
    assert case is not None and "upper and lower case" in case


async def test_restore_confirmation_says_what_to_type_and_why(demo: Demo) -> None:
    from malnu_tui.tui.screens.backups import BackupBrowser
    from malnu_tui.tui.screens.restore import RestoreWizard
    from malnu_tui.tui.widgets.typed_confirm import TypedConfirmation
    from tests.tui_demo import add_backups

    add_backups(demo)
    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        await pilot.press("b")
        await wait_until(
            pilot, lambda: isinstance(app.screen, BackupBrowser) and bool(app.screen.manifests)
        )
        await pilot.press("o")
        await wait_until(
            pilot,
            lambda: (
                isinstance(app.screen, RestoreWizard)
                and app.screen.step == "verify"
                and not app.screen.working
            ),
        )
        await pilot.press("n")
        await wait_until(pilot, lambda: app.screen.step == "confirm")  # type: ignore[attr-defined]
        typed = app.screen.query_one(TypedConfirmation)
        prompt = str(typed.query_one(".typed-prompt", Static).render())
        assert prompt.startswith("Type school to replace ") and "with backup" in prompt
        field = typed.query_one(Input)
        assert field.placeholder != "school"
        await pilot.press("enter")  # empty: says so, stays
        why = str(typed.query_one(".typed-why", Static).render())
        assert why.startswith("nothing typed yet: type school")
        await pilot.press(*"scool", "enter")
        assert "'scool' is not 'school'" in str(typed.query_one(".typed-why", Static).render())
        assert app.screen.step == "confirm"  # type: ignore[attr-defined]
        await pilot.press("escape")


def test_every_screen_uses_the_header_with_a_common_glyph() -> None:
    import re

    from malnu_tui.tui.widgets.header import HEADER_ICON

    assert HEADER_ICON == "≡"  # in every common terminal font (Textual's ⭘ is not)
    root = Path(__file__).resolve().parent.parent / "malnu_tui" / "tui"
    bare = [
        str(p.relative_to(root))
        for p in root.rglob("*.py")
        if p.name != "header.py" and re.search(r"\bHeader\(", p.read_text(encoding="utf-8"))
    ]
    assert bare == []


def test_key_remaps_are_read_from_a_config_saved_with_a_bom(tmp_path: Path) -> None:
    """Notepad saves UTF-8 with a BOM; the config loader reads such a file, and so must the
    console's [keys] (they were silently ignored)."""
    from malnu_tui.tui.app import load_keymap

    cfg = tmp_path / "malnu.toml"
    cfg.write_bytes(b"\xef\xbb\xbf" + b'[keys]\n"status.rollback" = "R"\n')
    assert load_keymap(cfg) == {"status.rollback": "R"}
