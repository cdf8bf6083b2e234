"""The console driven end to end with Pilot on real SQLite databases, asserting database state
afterwards: the wizards really change (or, cancelled, really do not change) the database."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from textual.widget import Widget
from textual.widgets import Button, DataTable, Input, Static

from malnu_tui.engine.backup import list_backups
from malnu_tui.tui.app import MalnuApp
from malnu_tui.tui.screens.apply import ApplyWizard
from malnu_tui.tui.screens.backups import BackupBrowser
from malnu_tui.tui.screens.recover import RecoverWizard
from malnu_tui.tui.screens.restore import RestoreWizard
from malnu_tui.tui.screens.rollback import RollbackWizard
from malnu_tui.tui.screens.status import StatusScreen
from malnu_tui.tui.screens.wizard import WizardScreen
from malnu_tui.tui.widgets.error_box import ErrorBox
from malnu_tui.tui.widgets.migration_table import MigrationTable
from malnu_tui.tui.widgets.target_panel import TargetPanel
from malnu_tui.tui.widgets.typed_confirm import TypedConfirmation
from tests.tui_demo import (
    Demo,
    at_rest,
    bare_text,
    build_demo,
    dialog_ready,
    hangs_under,
    screen_text,
    take_lock_elsewhere,
    wait_until,
)

pytestmark = pytest.mark.anyio


SCHOOL_APPLIED = [
    "20251124_120500_create_users_table.sql",
    "20251124_121000_add_indexes_to_users.sql",
    "20251124_121500_create_academic_records_table.sql",
    "20251124_122000_add_user_roles.sql",
    "20251124_122500_create_assignments_table.sql",
    "20251124_123000_create_submissions_table.sql",
]


@pytest.fixture
def demo(tmp_path: Path) -> Demo:
    return build_demo(tmp_path / "demo")


def make_app(demo: Demo) -> MalnuApp:
    settings = demo.settings()
    return MalnuApp(settings=settings, target=settings.target("primary"))


def loaded(app: MalnuApp) -> bool:
    screen = app.screen
    if not isinstance(screen, StatusScreen):
        return False
    return all(p.report is not None for p in screen.query(TargetPanel))


def wizard(app: MalnuApp) -> WizardScreen:
    screen = app.screen
    assert isinstance(screen, WizardScreen), screen
    return screen


def ready(app: MalnuApp, step: str) -> bool:
    screen = app.screen
    return (
        isinstance(screen, WizardScreen)
        and screen.step == step
        and not screen.working
        and screen.blocked is None
    )


def settled(app: MalnuApp, step: str) -> bool:
    screen = app.screen
    return (
        isinstance(screen, WizardScreen)
        and screen.step == step
        and not screen.working
        and screen.blocked != "loading…"
    )


def text_of(app: MalnuApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


# -- status -------------------------------------------------------------------------------------


async def test_status_shows_every_target_with_words_and_symbols(demo: Demo) -> None:
    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        panels = list(app.screen.query(TargetPanel))
        assert [p.target.name for p in panels] == ["primary", "staging"]
        primary = panels[0]
        assert primary.table.row_count == 9
        summary = str(primary.query_one(".summary", Static).render())
        assert "✔ 6 applied" in summary and "○ 3 pending" in summary
        assert "lock free" in summary
        row = primary.table.get_row_at(8)
        assert "○ pending" in str(row[1])
        # f filters by state, t switches target.
        await pilot.press("f")  # applied only
        assert primary.table.row_count == 6
        await pilot.press("f")  # pending only
        assert primary.table.row_count == 3
        await pilot.press("t")
        assert isinstance(app.screen, StatusScreen)
        assert app.screen.current_target().name == "staging"
        await pilot.press("q")
    assert app.return_code == 0


async def test_unreadable_target_shows_an_error_not_a_traceback(tmp_path: Path) -> None:
    demo = build_demo(tmp_path / "demo")
    demo.staging_db.unlink()
    demo.staging_db.mkdir()  # a directory where the database file should be
    # The primary's file damaged: every screen that reads it fails with SQLite's "file is not
    # a database" and a way out five lines long at 80 columns. Under 80×24 the error box cut
    # it at its sixth line ("…move it aside with its -wal and -shm files and restore"): the
    # words that say what to do were lost, with no way to scroll to them.
    for side in ("-wal", "-shm"):  # (its WAL held page 1: read from there, it opened)
        demo.primary_db.with_name(demo.primary_db.name + side).unlink(missing_ok=True)
    demo.primary_db.write_bytes(b"not a database, sorry " * 200)
    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        panel = app.screen.query_one(TargetPanel)
        await whole_error(pilot, app, panel, "reading the status failed")
        # The status screen re-reads a failing target every 5 s: the same error said again
        # keeps the place the operator scrolled to (it went back to the top at every re-read,
        # and a loaded CI run read the screen after one: the way out was gone).
        panel.reload(quiet=True)
        await wait_until(pilot, lambda: not panel.reading)
        await at_rest(pilot)
        assert "the missing file is created and restored into" in bare_text(app)
        for key, what in (  # on the primary: a screen, a dialog, a wizard
            ("l", "reading the audit trail failed"),
            ("U", "reading the lock failed"),
            ("a", "plan failed"),
        ):
            await pilot.press(key)
            await wait_until(pilot, lambda: not isinstance(app.screen, StatusScreen))
            await whole_error(pilot, app, app.screen, what)
            await pilot.press("escape")
            await wait_until(pilot, lambda: isinstance(app.screen, StatusScreen))
        await pilot.press("t")
        screen = app.screen
        assert isinstance(screen, StatusScreen)
        panel = next(p for p in screen.query(TargetPanel) if p.target.name == "staging")
        await wait_until(pilot, lambda: panel.query_one(".error-box").display)
        assert "✘ reading the status refused: nothing was written" in panel.query_one(ErrorBox).text
        await pilot.press("q")
    assert app.return_code == 0


async def whole_error(pilot: object, app: MalnuApp, within: Widget, what: str) -> None:
    """The damaged file's error in ``within``'s error box, said in words (what failed, why,
    the way out) and read to its last words at 80×24: past its height, Tab reaches the box
    and End shows the rest."""
    box = within.query_one(ErrorBox)
    await wait_until(pilot, lambda: bool(box.display and box.text))
    await at_rest(pilot)
    assert f"✘ {what}" in box.text and "why: cannot open" in box.text, box.text
    assert "file is not a database" in box.text and "way out: the SQLite file" in box.text
    last = "the missing file is created and restored into"
    assert last not in bare_text(app)  # the hint is longer than the box: the test can fail
    assert box.border_subtitle == ErrorBox.MORE
    assert hangs_under(app, "why: "), screen_text(app)  # wrapped under "why:", not at col 0
    for _ in range(8):  # Tab, as an operator would, until the box has the focus
        if app.focused is box:
            break
        await pilot.press("tab")  # type: ignore[attr-defined]
    assert app.focused is box, app.focused
    await pilot.press("end")  # type: ignore[attr-defined]
    # Shown once the scroll has happened (a loaded machine, load 12, read the screen before).
    await wait_until(pilot, lambda: last in bare_text(app))


async def test_sql_view_shows_translation_findings(demo: Demo) -> None:
    from malnu_tui.tui.screens.sql_view import SqlViewScreen

    app = make_app(demo)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        await pilot.press(*["down"] * 8, "enter")  # the last one: INSERT OR IGNORE, datetime()
        await wait_until(
            pilot,
            lambda: isinstance(app.screen, SqlViewScreen) and app.screen.bundle is not None,
        )
        findings = app.screen.query_one("#findings", DataTable)
        cells = [str(findings.get_row_at(i)[2]) for i in range(findings.row_count)]
        assert "INSERT OR IGNORE" in cells
        await pilot.press("r")  # the rollback file
        assert "DROP VIEW" in app.screen.query_one("#source").text  # type: ignore[attr-defined]
        await pilot.press("escape")
        assert isinstance(app.screen, StatusScreen)


# -- rollback -----------------------------------------------------------------------------------


async def _to_rollback_preview(pilot: object, app: MalnuApp, steps: int) -> None:
    await pilot.press("r")  # type: ignore[attr-defined]
    await wait_until(pilot, lambda: ready(app, "how-far"))
    screen = wizard(app)
    if steps > 1:
        screen.query_one("#steps-input", Input).focus()
        await pilot.pause()  # type: ignore[attr-defined]
        await pilot.press(*str(steps))  # type: ignore[attr-defined]
        await pilot.press("enter")  # type: ignore[attr-defined]
    else:
        await pilot.press("n")  # type: ignore[attr-defined]
    await wait_until(pilot, lambda: settled(app, "preview"))


async def test_rollback_wizard_end_to_end_removes_migrations_and_leaves_a_backup(
    demo: Demo,
) -> None:
    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        await _to_rollback_preview(pilot, app, 2)
        assert ready(app, "preview")
        screen = wizard(app)
        assert isinstance(screen, RollbackWizard) and screen.preview is not None
        plan = screen.preview.plan
        assert plan is not None
        assert [s.filename for s in plan.steps] == SCHOOL_APPLIED[-1:-3:-1]  # newest first
        assert "preconditions hold" in text_of(app, "#preconditions")
        await pilot.press("n")  # typed confirmation (the backup comes after it)
        assert screen.step == "confirm" and not ready(app, "confirm")
        assert list_backups(demo.target().backup_dir) == []
        assert app.screen.query_one("#next", Button).disabled  # until the name is typed
        await pilot.press(*"schoo")
        assert not ready(app, "confirm")
        await pilot.press("l", "enter")
        await wait_until(pilot, lambda: ready(app, "verify"), timeout=20)
        assert "2 migration(s) rolled back" in text_of(app, "#verify-text")
        backup_id = screen.backup_id
        assert backup_id
        await pilot.press("n")
        assert screen.step == "summary" and screen.finished
        assert backup_id in text_of(app, "#summary-text")
        await pilot.press("escape")
        assert isinstance(app.screen, StatusScreen)
    assert demo.applied() == SCHOOL_APPLIED[:4]
    assert "submissions" not in demo.tables() and "assignments" not in demo.tables()
    manifests = list_backups(demo.target().backup_dir)
    assert [m.id for m in manifests] == [backup_id]
    assert manifests[0].reason == "pre-rollback"
    assert manifests[0].head == "20251124_123000"
    with sqlite3.connect(demo.primary_db) as conn:
        actions = [r[0] for r in conn.execute("SELECT action FROM malnu_audit WHERE outcome='ok'")]
    assert actions.count("rollback") == 2


async def test_rollback_to_a_picked_version(demo: Demo) -> None:
    app = make_app(demo)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        await pilot.press("r")
        await wait_until(pilot, lambda: ready(app, "how-far"))
        table = app.screen.query_one("#applied-table", MigrationTable)
        table.focus()
        await pilot.pause()
        await pilot.press("down", "down", "enter")  # keep 20251124_122000
        await wait_until(pilot, lambda: ready(app, "preview"))
        screen = wizard(app)
        assert isinstance(screen, RollbackWizard)
        assert screen.choice.mode == "to" and screen.choice.to == "20251124_122000"
        await pilot.press("n", *"school", "enter")
        await wait_until(pilot, lambda: ready(app, "verify"), timeout=20)
    assert demo.applied() == SCHOOL_APPLIED[:4]


async def test_rollback_cancel_on_every_step_changes_nothing(demo: Demo) -> None:
    # One app run: the wizard opened again for each step, cancelled there.
    before = (demo.applied(), demo.tables())
    app = make_app(demo)
    order = ["how-far", "preview", "confirm"]
    async with app.run_test(size=(80, 24)) as pilot:
        for step in order:
            await wait_until(pilot, lambda: loaded(app))
            await pilot.press("r")
            for current in order[: order.index(step)]:
                await wait_until(pilot, lambda current=current: ready(app, current))  # type: ignore[misc]
                await pilot.press("n")
            await wait_until(pilot, lambda step=step: settled(app, step))  # type: ignore[misc]
            if step != "how-far":  # Back goes one step back, then forward again
                await pilot.press("ctrl+b")  # b alone is typed into the confirmation field
                await wait_until(
                    pilot, lambda step=step: settled(app, order[order.index(step) - 1])
                )  # type: ignore[misc]
                await pilot.press("n")
                await wait_until(pilot, lambda step=step: settled(app, step))  # type: ignore[misc]
            await pilot.press("escape")
            assert isinstance(app.screen, StatusScreen), step
            assert (demo.applied(), demo.tables()) == before, step
    assert (demo.applied(), demo.tables()) == before


async def test_held_lock_is_shown_and_blocks_the_rollback(demo: Demo) -> None:
    take_lock_elsewhere(demo.primary_db)
    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        summary = str(app.screen.query(TargetPanel).first().query_one(".summary", Static).render())
        assert "LOCKED by night-shift@admin-laptop" in summary
        await _to_rollback_preview(pilot, app, 1)
        screen = wizard(app)
        checks = text_of(app, "#preconditions")
        assert "cannot proceed" in checks and "night-shift@admin-laptop" in checks
        assert screen.blocked is not None
        assert app.screen.query_one("#next", Button).disabled
        await pilot.press("n")
        assert screen.step == "preview"  # nothing can proceed
        await pilot.press("escape")
    assert demo.applied() == SCHOOL_APPLIED
    assert list_backups(demo.target().backup_dir) == []


async def test_backup_of_a_console_rollback_holds_rows_written_during_the_confirmation(
    demo: Demo,
) -> None:
    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        await _to_rollback_preview(pilot, app, 1)
        await pilot.press("n")
        await wait_until(pilot, lambda: settled(app, "confirm"))
        # Another operator writes while this one reads the confirmation screen.
        with sqlite3.connect(demo.primary_db) as conn:
            conn.execute("CREATE TABLE written_at_the_prompt (id INTEGER)")
            conn.execute("INSERT INTO written_at_the_prompt VALUES (42)")
        await pilot.press(*"school", "enter")
        await wait_until(pilot, lambda: ready(app, "verify"), timeout=20)
        backup_id = wizard(app).backup_id
    assert demo.applied() == SCHOOL_APPLIED[:-1]
    from malnu_tui.engine.backup.core import data_path

    manifests = list_backups(demo.target().backup_dir)
    assert [m.id for m in manifests] == [backup_id] and manifests[0].reason == "pre-rollback"
    with sqlite3.connect(data_path(demo.target(), manifests[0])) as conn:
        assert conn.execute("SELECT id FROM written_at_the_prompt").fetchall() == [(42,)]


async def test_rollback_wizard_takes_over_a_dead_holders_lock(demo: Demo) -> None:
    import socket
    import subprocess

    from malnu_tui.engine.backends.sqlite import SQLiteBackend
    from malnu_tui.engine.errors import LockHolder

    gone = subprocess.Popen(["true"])
    gone.wait()  # a pid that is not running any more, on this host
    dead = SQLiteBackend(demo.primary_db)
    dead.acquire_lock(
        LockHolder("nightly@" + socket.gethostname(), socket.gethostname(), gone.pid, "x")
    )
    dead.conn.close()  # its SSH session dropped: the row stays
    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        await _to_rollback_preview(pilot, app, 1)
        assert ready(app, "preview")  # not blocked
        checks = text_of(app, "#preconditions")
        assert f"pid {gone.pid} is not running: its lock will be taken over" in checks
        await pilot.press("n", *"school", "enter")
        await wait_until(pilot, lambda: ready(app, "verify"), timeout=20)
    assert demo.applied() == SCHOOL_APPLIED[:-1]
    with sqlite3.connect(demo.primary_db) as conn:
        rows = conn.execute(
            "SELECT detail FROM malnu_audit WHERE action = 'unlock' AND outcome = 'ok'"
        ).fetchall()
        assert conn.execute("SELECT count(*) FROM malnu_lock").fetchone() == (0,)
    assert any(f"pid {gone.pid} is not running" in r[0] for r in rows)


async def test_missing_rollback_file_is_shown_before_anything_runs(demo: Demo) -> None:
    (demo.root / "rollback" / "20251124_123000_drop_submissions_table.sql").unlink()
    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        await _to_rollback_preview(pilot, app, 2)
        assert "no rollback file" in text_of(app, "#preconditions")
        table = app.screen.query_one("#preview-table", DataTable)
        assert "MISSING" in str(table.get_row_at(0)[3])
        assert wizard(app).blocked is not None
    assert demo.applied() == SCHOOL_APPLIED


# -- apply --------------------------------------------------------------------------------------


async def test_a_run_done_whose_lock_stays_says_so_as_the_cli_does(demo: Demo) -> None:
    # The migrations applied and committed, but the lock row's DELETE failed (a full disk does
    # it at COMMIT; here a trigger refuses it): the CLI says done with a warning (exit 0, as
    # tests/test_full_disk.py), and the console showed a plain success. (Only once the three
    # are in: the safety backup's copy has its lock rows deleted before.)
    with sqlite3.connect(demo.primary_db) as c:
        c.execute(
            "CREATE TRIGGER keep_lock BEFORE DELETE ON malnu_lock "
            "WHEN (SELECT count(*) FROM migrations WHERE success) >= 9 "
            "BEGIN SELECT RAISE(ABORT, 'lock kept'); END"
        )
    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        await pilot.press("a")
        await wait_until(pilot, lambda: ready(app, "plan"))
        screen = wizard(app)
        await pilot.press("n")
        await wait_until(pilot, lambda: settled(app, "confirm"))
        await pilot.press(*"school", "enter")
        await wait_until(pilot, lambda: screen.step == "result", timeout=20)
        shown = " ".join(text_of(app, "#result-text").split())
        assert "applied 3 migration(s)" in shown, shown
        said = "⚠ warning: the migrations are applied, but: cannot release the migration lock"
        assert said in shown and "lock kept" in shown, shown
    assert len(demo.applied()) == 9


async def test_apply_wizard_end_to_end(demo: Demo) -> None:
    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        await pilot.press("a")
        await wait_until(pilot, lambda: ready(app, "plan"))
        screen = wizard(app)
        assert isinstance(screen, ApplyWizard)
        assert app.screen.query_one("#plan-table", DataTable).row_count == 3
        await pilot.press("n")
        await wait_until(pilot, lambda: settled(app, "confirm"))
        typed = screen.query_one(TypedConfirmation)
        prompt = str(typed.query_one(".typed-prompt", Static).render())
        assert prompt == "Type school to apply 3 migrations to school.db."
        why = typed.query_one(".typed-why", Static)
        await pilot.press("enter")  # nothing typed: says what to type, runs nothing
        assert "nothing typed yet: type school" in str(why.render())
        await pilot.press(*"School", "enter")  # wrong word: says why, runs nothing
        assert "'School' is not 'school' (check upper and lower case)" in str(why.render())
        await pilot.press("n")  # types into the field; Next stays blocked
        await pilot.pause(0.2)
        assert screen.step == "confirm" and screen.blocked == "type school to confirm"
        assert demo.applied() == SCHOOL_APPLIED and list_backups(demo.target().backup_dir) == []
        await pilot.press(*["backspace"] * 7, *"school", "enter")
        await wait_until(pilot, lambda: screen.step == "result", timeout=20)
        assert "applied 3 migration(s)" in text_of(app, "#result-text")
        assert app.screen.query_one("#result-times", DataTable).row_count == 3
        await pilot.press("escape")
        await wait_until(pilot, lambda: loaded(app))
    assert len(demo.applied()) == 9
    assert [m.reason for m in list_backups(demo.target().backup_dir)] == ["pre-up"]


async def test_apply_failure_shows_the_failing_statement(demo: Demo) -> None:
    (demo.root / "migrations" / "20251126_080000_broken.sql").write_text(
        "CREATE TABLE fine (id INTEGER);\nINSERT INTO no_such_table VALUES (1);\n",
        encoding="utf-8",
    )
    app = make_app(demo)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        await pilot.press("a")
        await wait_until(pilot, lambda: ready(app, "plan"))
        await pilot.press("n", *"school", "enter")
        screen = wizard(app)
        await wait_until(pilot, lambda: screen.step == "result", timeout=20)
        assert "the run stopped" in text_of(app, "#result-text")
        label = str(app.screen.query_one("#failing-label", Static).render())
        assert "20251126_080000_broken.sql line 2" in label and "no_such_table" in label
    assert len(demo.applied()) == 9  # the three before it were applied
    with sqlite3.connect(demo.primary_db) as conn:
        row = conn.execute(
            "SELECT success FROM migrations WHERE filename = '20251126_080000_broken.sql'"
        ).fetchone()
    assert row is not None and not row[0]
    assert "fine" not in demo.tables()  # nothing of the failed migration was left behind


async def test_apply_cancel_on_every_step_changes_nothing(demo: Demo) -> None:
    # One app run: the wizard opened again for each step, cancelled there.
    before = (demo.applied(), demo.tables())
    app = make_app(demo)
    order = ["plan", "confirm"]
    async with app.run_test(size=(80, 24)) as pilot:
        for step in order:
            await wait_until(pilot, lambda: loaded(app))
            await pilot.press("a")
            for current in order[: order.index(step)]:
                await wait_until(pilot, lambda current=current: ready(app, current))  # type: ignore[misc]
                await pilot.press("n")
            await wait_until(pilot, lambda step=step: settled(app, step))  # type: ignore[misc]
            if step == "confirm":  # the right word typed, but esc: nothing runs
                await pilot.press(*"school")
                assert ready(app, "confirm")
            await pilot.press("escape")
            assert isinstance(app.screen, StatusScreen), step
            assert (demo.applied(), demo.tables()) == before, step
            assert list_backups(demo.target().backup_dir) == [], step
    assert (demo.applied(), demo.tables()) == before
    assert list_backups(demo.target().backup_dir) == []


# -- one operation at a time, quitting -----------------------------------------------------------


async def test_running_operation_blocks_quit_and_a_second_start(demo: Demo) -> None:
    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        assert app.begin_operation("rollback")
        assert not app.begin_operation("apply")  # cannot start twice
        await pilot.press("q")
        await pilot.press("ctrl+q")
        await pilot.pause(0.1)
        assert app.is_running
        await pilot.press("a")  # no wizard opens while it runs
        assert isinstance(app.screen, StatusScreen)
        app.end_operation()
        await pilot.press("ctrl+q")
    assert app.return_code == 0


# -- backups, restore, recover ------------------------------------------------------------------


async def test_backup_browser_create_verify_delete(demo: Demo) -> None:
    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        await pilot.press("b")
        screen = app.screen
        assert isinstance(screen, BackupBrowser)
        await pilot.press("c")
        await wait_until(pilot, lambda: screen.busy is None and len(screen.manifests) == 1)
        created = screen.manifests[0]
        assert created.reason == "manual"
        await pilot.press("v")
        await wait_until(pilot, lambda: screen.busy is None and screen.manifests[0].verified)
        assert "verified" in str(screen.query_one("#manifest", Static).render())
        await pilot.press("d")
        await wait_until(pilot, lambda: dialog_ready(app))
        await pilot.press(*"school", "enter")
        await wait_until(pilot, lambda: screen.busy is None and not screen.manifests)
        await pilot.press("escape")
        assert isinstance(app.screen, StatusScreen)
    assert list_backups(demo.target().backup_dir) == []
    from malnu_tui.engine.config import open_backend

    backend = open_backend(demo.target())
    assert [e.object for e in backend.read_audit(action="backup-delete")] == [created.id]
    backend.close()


async def _backup_now(pilot: object, app: MalnuApp) -> str:
    await pilot.press("b")  # type: ignore[attr-defined]
    screen = app.screen
    assert isinstance(screen, BackupBrowser)
    await pilot.press("c")  # type: ignore[attr-defined]
    await wait_until(pilot, lambda: screen.busy is None and len(screen.manifests) == 1)
    return screen.manifests[0].id


async def test_restore_wizard_brings_the_backup_back(demo: Demo) -> None:
    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        backup_id = await _backup_now(pilot, app)
        # Change the database after the backup: roll one migration back with the CLI engine.
        from malnu_tui.engine.config import open_backend
        from malnu_tui.engine.files import discover
        from malnu_tui.engine.migrate import apply_plan, plan_rollback

        target = demo.target()
        backend = open_backend(target)
        mset = discover(target.migrations_dir, target.rollback_dir)
        apply_plan(backend, mset, plan_rollback(backend, mset))
        backend.close()
        assert len(demo.applied()) == 5
        await pilot.press("o")  # restore (r is rollback on the status screen)
        await wait_until(pilot, lambda: ready(app, "verify"))
        screen = wizard(app)
        assert isinstance(screen, RestoreWizard)
        await pilot.press("n")
        assert screen.step == "confirm" and screen.blocked is not None
        await pilot.press(*"school", "enter")
        await wait_until(pilot, lambda: screen.step == "status" and screen.finished, timeout=20)
        assert screen.result is not None
        pre = screen.result.pre_restore_id
        assert pre in text_of(app, "#restore-summary")
        await pilot.press("escape", "escape")
    assert demo.applied() == SCHOOL_APPLIED
    reasons = {m.id: m.reason for m in list_backups(demo.target().backup_dir)}
    assert reasons[backup_id] == "manual" and reasons[pre] == "pre-restore"


async def test_restore_cancel_changes_nothing(demo: Demo) -> None:
    # One app run, one backup: the wizard opened again for each step, cancelled there.
    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        await _backup_now(pilot, app)
        with sqlite3.connect(demo.primary_db) as conn:
            conn.execute("CREATE TABLE written_after_backup (id INTEGER)")
        for step in ("verify", "confirm"):
            await pilot.press("o")
            await wait_until(pilot, lambda: ready(app, "verify"))
            if step == "confirm":
                await pilot.press("n")
            await pilot.press("escape")
            assert isinstance(app.screen, BackupBrowser), step
            assert "written_after_backup" in demo.tables(), step
    assert "written_after_backup" in demo.tables()


async def test_recover_wizard_plans_and_runs(demo: Demo) -> None:
    app = make_app(demo)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        await _backup_now(pilot, app)
        await pilot.press("escape")
        with sqlite3.connect(demo.primary_db) as conn:
            conn.execute("CREATE TABLE written_after_backup (id INTEGER)")
        await pilot.press("p")
        await wait_until(pilot, lambda: ready(app, "when"))
        screen = wizard(app)
        assert isinstance(screen, RecoverWizard)
        await pilot.press(*"now", "enter")
        await wait_until(pilot, lambda: ready(app, "plan"), timeout=20)
        assert "NOT recovered" in text_of(app, "#recover-plan")
        await at_rest(pilot)  # what is lost, wrapped under its words (it went to column 0)
        assert hangs_under(app, "✘ "), screen_text(app)
        await pilot.press("n", *"school", "enter")
        await wait_until(pilot, lambda: screen.step == "result" and screen.finished, timeout=20)
        assert screen.result is not None
        assert "recovered to" in text_of(app, "#recover-summary")
    assert "written_after_backup" not in demo.tables()
    assert demo.applied() == SCHOOL_APPLIED


async def test_recover_with_no_backups_says_so(demo: Demo) -> None:
    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        await pilot.press("p")
        await wait_until(pilot, lambda: settled(app, "when"))
        screen = wizard(app)
        assert screen.blocked is not None
        assert app.screen.query_one("#wizard-error").display
        await pilot.press("escape")
        assert isinstance(app.screen, StatusScreen)


# -- palette and help -----------------------------------------------------------------------------


async def test_keys_can_be_remapped_by_binding_id(demo: Demo) -> None:
    with demo.config.open("a", encoding="utf-8") as f:
        f.write('\n[keys]\n"status.rollback" = "z"\n')
    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        await pilot.press("r")
        assert isinstance(app.screen, StatusScreen)  # r no longer opens the wizard
        await pilot.press("z")
        await wait_until(pilot, lambda: isinstance(app.screen, RollbackWizard))


async def test_recover_cancel_on_every_step_changes_nothing(demo: Demo) -> None:
    # One app run, one backup: the wizard opened again for each step, cancelled there.
    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        await _backup_now(pilot, app)
        await pilot.press("escape")
        with sqlite3.connect(demo.primary_db) as conn:
            conn.execute("CREATE TABLE written_after_backup (id INTEGER)")
        for step in ("when", "plan", "confirm"):
            await wait_until(pilot, lambda: loaded(app))
            await pilot.press("p")
            await wait_until(pilot, lambda: ready(app, "when"))
            if step != "when":
                await pilot.press(*"now", "enter")
                await wait_until(pilot, lambda: ready(app, "plan"), timeout=20)
            if step == "confirm":
                await pilot.press("n")
                await wait_until(pilot, lambda: settled(app, "confirm"))
            await pilot.press("escape")
            assert isinstance(app.screen, StatusScreen), step
            assert "written_after_backup" in demo.tables(), step
            assert demo.applied() == SCHOOL_APPLIED, step
    assert "written_after_backup" in demo.tables()
    assert demo.applied() == SCHOOL_APPLIED


async def test_held_lock_blocks_the_apply_wizard_too(demo: Demo) -> None:
    take_lock_elsewhere(demo.primary_db)
    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        await pilot.press("a")
        await wait_until(pilot, lambda: settled(app, "plan"))
        assert "night-shift@admin-laptop" in text_of(app, "#plan-checks")
        assert wizard(app).blocked is not None
        await pilot.press("n")
        assert wizard(app).step == "plan"
    assert demo.applied() == SCHOOL_APPLIED


async def test_rollback_preview_warns_when_a_rollback_file_undoes_nothing(demo: Demo) -> None:
    # diesel's convention: an empty (or comment-only) rollback file is accepted, with a warning.
    (rb,) = (demo.root / "rollback").glob("20251124_123000_*.sql")
    rb.write_text("-- nothing to undo: the table stays\n")
    app = make_app(demo)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        await _to_rollback_preview(pilot, app, 1)
        assert ready(app, "preview")
        checks = text_of(app, "#preconditions")
        assert "preconditions hold" in checks
        assert f"⚠ {rb.name} is empty (or only comments)" in checks
        assert "undoes nothing" in checks
