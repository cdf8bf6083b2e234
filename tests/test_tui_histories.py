"""The console's status screen says what the CLI's `status` says of other tools' migration
histories in the same database (Prisma's ``_prisma_migrations``, Alembic's, wrangler's
``d1_migrations``…): it said none of them, so an operator in the console saw "3 pending" and
an Apply key, and only the apply's refusal (or the CLI) told them another tool had migrated the
database. Real SQLite files, the tables in the shape each tool creates them
(tests/test_other_runners.py), the real app at 80×24."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from textual.pilot import Pilot

from malnu_tui.engine.config import load_settings
from malnu_tui.tui.app import MalnuApp
from malnu_tui.tui.widgets.target_panel import TargetPanel
from tests.fixtures_core import MigrationDirs, run_cli, school_config
from tests.fixtures_d1 import D1Target
from tests.test_other_runners import GRADES, V1, V2, V3, _alembic, _dirs, _flyway, _prisma
from tests.test_supabase_history import CLI_TABLE, TODOS
from tests.test_tui_snapshots import app_for, settle, settle_threads
from tests.test_tui_snapshots import demo as demo  # the fixture
from tests.test_tui_snapshots import status_loaded as snapshot_status_loaded
from tests.tui_demo import (
    FIXED_ROOT,
    Demo,
    at_rest,
    build_demo,
    screen_text,
    status_loaded,
    wait_until,
)

pytestmark = pytest.mark.anyio


# What the other tool's two migrations did (students with its seed row, grades).
TOOL_RAN: list[tuple[str, tuple[Any, ...]]] = [
    ("CREATE TABLE students (id INTEGER PRIMARY KEY, name TEXT NOT NULL)", ()),
    ("INSERT INTO students (id, name) VALUES (1, 'seed')", ()),
    (GRADES, ()),
]


def _database(path: Path, statements: list[tuple[str, tuple[Any, ...]]]) -> None:
    conn = sqlite3.connect(path)
    with conn:
        for sql, params in statements:
            conn.execute(sql, params)
    conn.close()


def _config(tmp_path: Path, db: Path | str, mdirs: MigrationDirs) -> Path:
    url = db if isinstance(db, str) else f"sqlite:///{db}"
    return school_config(tmp_path, url, mdirs)


@contextlib.asynccontextmanager
async def _status_screen(
    cfg: Path, name: str = "school"
) -> AsyncIterator[tuple[MalnuApp, Pilot[Any]]]:
    """The real app on ``cfg``'s target ``name`` at 80×24, its status read."""
    settings = load_settings(config=str(cfg))
    app = MalnuApp(settings=settings, target=settings.target(name))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: status_loaded(app), timeout=30)
        await at_rest(pilot)
        yield app, pilot


def _shown(app: MalnuApp) -> str:
    """The screen as the terminal shows it, wrapped lines joined."""
    return " ".join(screen_text(app).split())


def _cli_lines(cfg: Path, sentence: str) -> list[str]:
    """The CLI's `status` lines (stderr) holding ``sentence``, once each command they quote is
    read without the options the CLI adds to name this same database from anywhere
    (`--config PATH --target NAME`, which every such command must carry)."""
    r = run_cli("--config", str(cfg), "status")
    assert r.code == 0, r.err
    named = f" --config {cfg} --target school`"
    lines = [ln for ln in r.err.splitlines() if "`malnu-tui " in ln]
    assert lines and all(ln.count("`malnu-tui ") == ln.count(named) for ln in lines), r.err
    plain = [ln.replace(named, "`") for ln in lines]
    return [ln for ln in plain if sentence in ln]


async def test_the_status_screen_names_a_prisma_history_as_the_cli_does(
    tmp_path: Path, mdirs: MigrationDirs
) -> None:
    db = tmp_path / "school.db"
    _database(db, TOOL_RAN + _prisma("sqlite"))
    _dirs(mdirs)
    cfg = _config(tmp_path, db, mdirs)
    async with _status_screen(cfg) as (app, pilot):
        shown = _shown(app)
        # symbol and word, the tool, its table and rows, `up`'s refusal, the way out
        said = (
            "⚠ warning: Prisma applied this database's migrations (_prisma_migrations, 2 row(s)) "
            "and this tool tracks none of them: `up` refuses to run them again; record them "
            "without running them: `malnu-tui adopt --target school --dry-run`, then "
            "`malnu-tui adopt --target school`"
        )
        assert said in shown, shown
        # the same sentence as the CLI's (one engine call for both), its commands naming the
        # console's target (the CLI's own command line names it)
        cli = said.removeprefix("⚠ ").replace(" --target school", "")
        assert _cli_lines(cfg, cli) == [cli]
        # and the table keeps its rows at 80×24
        assert all(v[:8] + "_" + v[8:] in shown for v in (V1, V2, V3)), shown

        # adopted (outside the console): the next read says it is a note now, no warning
        r = run_cli("--config", str(cfg), "adopt", "--yes")
        assert r.code == 0, r.err
        await pilot.press("ctrl+r")
        panel = app.screen.query_one(TargetPanel)
        await wait_until(pilot, lambda: not panel.reading and "ℹ note" in _shown(app), timeout=30)
        shown = _shown(app)
        assert "ℹ note: Prisma's migration history is here too (_prisma_migrations, 2 row(s))" in (
            shown
        ), shown
        assert "⚠ warning" not in shown, shown
        await pilot.press("q")


async def test_wrangler_and_two_more_runners_are_all_named_at_80x24(
    tmp_path: Path, mdirs: MigrationDirs
) -> None:
    """wrangler's d1_migrations (the CLI said so; the console did not either), Prisma's and
    Alembic's in one file: the first two in full, the third named on one line."""
    db = tmp_path / "school.db"
    wrangler = [
        (
            "CREATE TABLE IF NOT EXISTS d1_migrations(id INTEGER PRIMARY KEY AUTOINCREMENT, "
            "name TEXT UNIQUE, applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL)",
            (),
        ),
        ("INSERT INTO d1_migrations (name) VALUES (?)", (f"{V1}_init.sql",)),
    ]
    _database(db, TOOL_RAN + wrangler + _prisma("sqlite") + _alembic("sqlite"))
    _dirs(mdirs)
    cfg = _config(tmp_path, db, mdirs)
    async with _status_screen(cfg) as (app, pilot):
        shown = _shown(app)
        wrangler_said = (
            f"wrangler applied 1 migration(s) this tool does not track ({V1}_init.sql): run "
            "`malnu-tui adopt` to record them without running them"
        )
        console_said = wrangler_said.replace("adopt", "adopt --target school")
        assert f"⚠ warning: {console_said}" in shown, shown
        assert _cli_lines(cfg, wrangler_said) == [wrangler_said]
        assert "⚠ warning: Prisma applied this database's migrations" in shown, shown
        assert "⚠ warning: and 1 more: Alembic (alembic_version, 1 row(s), at " in shown, shown
        assert f"{V3[:8]}_{V3[8:]}" in shown, shown  # the table's last row still on screen
        await pilot.press("q")


async def test_the_supabase_clis_history_is_named_on_postgresql(
    tmp_path: Path, mdirs: MigrationDirs, pg_url: str
) -> None:
    """`supabase db push` applied the first file (its own table says so): the CLI's `status`
    said so, the console did not."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(CLI_TABLE)
        conn.execute(TODOS)
        conn.execute(
            "INSERT INTO supabase_migrations.schema_migrations (version, name, statements) "
            "VALUES ('20240101120000', 'todos', ARRAY[%s])",
            (TODOS,),
        )
    mdirs.add("20240101120000", "todos", TODOS, "drop table public.todos;")
    cfg = _config(tmp_path, pg_url, mdirs)
    async with _status_screen(cfg) as (app, pilot):
        shown = _shown(app)
        said = (
            "the Supabase CLI applied 1 migration(s) this tool does not track "
            "(20240101120000_todos.sql): run `malnu-tui adopt` to record them without running "
            "them (`up` refuses them)"
        )
        assert f"⚠ warning: {said.replace('adopt', 'adopt --target school')}" in shown, shown
        assert _cli_lines(cfg, said) == [said]
        await pilot.press("q")


async def test_the_commands_named_for_another_tools_history_run_as_written_on_this_target(
    tmp_path: Path, mdirs: MigrationDirs
) -> None:
    """Flyway applied two of the set's files in `school`, a tab of a console whose config's
    default target is `primary`. The status screen and the apply wizard's refusal named
    `malnu-tui adopt --through VERSION --dry-run` and `up --unrelated-history`: run from a
    shell as written, on `primary`, and the second as if the console's apply took it. Now
    they name `--target school`, and run as written (VERSION filled in) they adopt `school`'s
    two files: the console then says a note, and its apply plans the third alone."""
    import re
    import shlex

    from malnu_tui.tui.screens.apply import ApplyWizard

    db, other = tmp_path / "school.db", tmp_path / "primary.db"
    _database(db, TOOL_RAN + _flyway("sqlite"))
    _database(other, [])
    _dirs(mdirs)
    cfg = tmp_path / "malnu.toml"
    cfg.write_text(
        f'default_target = "primary"\n[backup]\ndir = "{tmp_path / "backups"}"\n'
        + "".join(
            f'[targets.{name}]\nurl = "sqlite:///{path}"\n'
            f'migrations_dir = "{mdirs.migrations}"\nrollback_dir = "{mdirs.rollback}"\n'
            for name, path in (("primary", other), ("school", db))
        ),
        encoding="utf-8",
    )
    adopt = "`malnu-tui adopt --target school --through VERSION --dry-run`"
    async with _status_screen(cfg) as (app, pilot):
        shown = _shown(app)
        assert "⚠ warning: Flyway applied this database's migrations" in shown, shown
        assert f"record them without running them: {adopt} (VERSION: the last" in shown, shown
        await pilot.press("a")
        screen = app.screen
        assert isinstance(screen, ApplyWizard)
        await wait_until(pilot, lambda: screen.preview is not None, timeout=30)
        problems = " ".join(screen.preview.problems) if screen.preview else ""
        assert adopt in problems, problems
        unrelated = (
            "(not this set's history: the CLI's `malnu-tui up --target school "
            "--unrelated-history` from a shell (the console's apply does not take it))"
        )
        assert unrelated in problems, problems
        assert screen.blocked is not None  # nothing runs from here
        await pilot.press("escape")
        await wait_until(pilot, lambda: status_loaded(app), timeout=30)
        # The command as the screen names it, VERSION filled in, then without --dry-run.
        (command,) = re.findall(r"`(malnu-tui adopt [^`]*)`", problems)
        words = shlex.split(command.replace("VERSION", V2))[1:]
        dry = run_cli("--config", str(cfg), *words)
        assert dry.code == 0 and f"adopt {V2}_grades.sql (applied by Flyway)" in dry.err, dry.err
        assert "school.db" in dry.err  # this tab's database, not primary's
        done = run_cli("--config", str(cfg), *[w for w in words if w != "--dry-run"], "--yes")
        assert done.code == 0, done.err
        await pilot.press("ctrl+r")
        panel = app.screen.query_one(TargetPanel)
        await wait_until(pilot, lambda: not panel.reading and "ℹ note" in _shown(app), timeout=30)
        await pilot.press("a")
        screen = app.screen
        assert isinstance(screen, ApplyWizard)
        await wait_until(pilot, lambda: screen.preview is not None, timeout=30)
        assert screen.preview is not None and screen.preview.problems == ()
        assert screen.preview.plan is not None
        assert [s.filename for s in screen.preview.plan.steps] == [f"{V3}_rooms.sql"]
        await pilot.press("escape")
    # primary, the config's default target, was not touched
    conn = sqlite3.connect(other)
    assert conn.execute("SELECT count(*) FROM sqlite_master").fetchone() == (0,)
    conn.close()


@pytest.mark.xdist_group("tui")
def test_a_flyway_history_on_the_status_screen_snapshot(
    snap_compare: Callable[..., bool], demo: Demo
) -> None:
    """80×24: the demo's primary, nothing applied by this tool, with Flyway's history: the
    warning names the `adopt` to run from a shell with this tab's target."""
    fresh = build_demo(FIXED_ROOT, applied=0)
    _database(fresh.primary_db, _flyway("sqlite"))

    async def run(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, MalnuApp)
        await wait_until(pilot, lambda: snapshot_status_loaded(app), timeout=60)
        await settle(pilot)

    assert snap_compare(app_for(fresh), terminal_size=(80, 24), run_before=run)
    settle_threads()


async def test_a_lock_row_a_console_fix_could_not_release_is_said_on_its_result(
    tmp_path: Path, mdirs: MigrationDirs, d1: D1Target
) -> None:
    """A clear-failed on D1 whose release of the lock got 503s: the CLI warns that the row
    stayed (test_d1_cli), the console closed the dialog with a toast, and the operator believed
    the lock released. The dialog now stays, saying it done and the row left with its way out;
    closing it refreshes the status screen."""
    from malnu_tui.tui.screens.fix import FixScreen
    from malnu_tui.tui.screens.status import StatusScreen
    from malnu_tui.tui.widgets.plain import Static
    from tests.d1server import Fault
    from tests.secret_support import d1_config

    mdirs.add("20250101_000100", "bad", "INSERT INTO nosuch VALUES (1);", "SELECT 1;")
    cfg = d1_config(tmp_path / "malnu.toml", d1.db.account, d1.db.id, mdirs)  # brief retries
    at = ("--config", str(cfg), "--target", "production")
    assert run_cli(*at, "up", "--yes", "--no-backup").code == 1
    release = "DELETE FROM malnu_lock WHERE id = 1 AND host"
    async with _status_screen(cfg, "production") as (app, pilot):
        await pilot.press("C")
        await wait_until(
            pilot, lambda: isinstance(app.screen, FixScreen) and app.screen.word is not None
        )
        fix = app.screen
        assert isinstance(fix, FixScreen) and fix.word
        d1.server.inject(Fault("status", count=100, status=503, match=release))
        try:
            await pilot.press(*fix.word, "enter")
            await wait_until(
                pilot, lambda: app.screen is not fix or getattr(fix, "done", False), timeout=60
            )
        finally:
            d1.server.faults.clear()
        shown = _shown(app)
        assert app.screen is fix, shown
        assert "⚠ warning: done, but: D1 " in shown, shown  # painted, in the dialog
        body = " ".join(str(fix.query_one("#fix-body", Static).content).split())
        assert body.startswith("✔ cleared the failed row of 20250101_000100_bad.sql"), body
        assert "; the lock row of this session (pid " in body, body
        assert "runs out within 10 min" in body, body
        # Its way out named as the console's key, not as a command to type elsewhere.
        assert "press U on the status screen (unlock)" in body and "`malnu-tui unlock" not in body
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, StatusScreen))


async def test_a_lock_row_a_backup_delete_could_not_release_is_said_under_its_result(
    tmp_path: Path, mdirs: MigrationDirs, d1: D1Target
) -> None:
    """A backup deleted on D1 from the backups screen whose release of the lock got 503s: the
    CLI warns that the row stayed, the screen said "✔ deleted" alone. It now says the row
    left under the result, with its way out as the console's key."""
    from malnu_tui.tui.screens.backups import BackupBrowser
    from malnu_tui.tui.screens.confirm import ConfirmScreen
    from malnu_tui.tui.widgets.plain import Static
    from tests.d1server import Fault
    from tests.secret_support import d1_config
    from tests.tui_demo import dialog_ready

    mdirs.add("20250101_000100", "siswa", "CREATE TABLE siswa (id INTEGER);", "DROP TABLE siswa;")
    cfg = d1_config(tmp_path / "malnu.toml", d1.db.account, d1.db.id, mdirs)  # brief retries
    assert run_cli("--config", str(cfg), "--target", "production", "backup", "create").code == 0
    release = "DELETE FROM malnu_lock WHERE id = 1 AND host"
    async with _status_screen(cfg, "production") as (app, pilot):
        await pilot.press("b")
        await wait_until(
            pilot, lambda: isinstance(app.screen, BackupBrowser) and bool(app.screen.manifests)
        )
        browser = app.screen
        assert isinstance(browser, BackupBrowser)
        (gone,) = browser.manifests
        await pilot.press("d")
        await wait_until(pilot, lambda: dialog_ready(app), timeout=30)
        dialog = app.screen
        assert isinstance(dialog, ConfirmScreen) and dialog.expected
        d1.server.inject(Fault("status", count=100, status=503, match=release))
        try:
            await pilot.press(*dialog.expected, "enter")
            locks = browser.query_one("#backup-locks", Static)
            await wait_until(pilot, lambda: bool(locks.display), timeout=60)
        finally:
            d1.server.faults.clear()
        await wait_until(pilot, lambda: "⚠ warning: done, but: D1 " in _shown(app))
        shown = _shown(app)
        assert f"✔ deleted {gone.id}" in shown, shown
        said = " ".join(str(locks.content).split())
        assert said.startswith("⚠ warning: done, but: D1 "), said
        assert "; the lock row of this session (pid " in said, said
        assert "runs out within 10 min" in said, said
        assert "press U on the status screen (unlock)" in said and "`malnu-tui unlock" not in said
        await wait_until(pilot, lambda: not browser.manifests)


async def test_a_lock_row_a_console_recover_could_not_release_is_said_on_its_result(
    tmp_path: Path, mdirs: MigrationDirs, d1: D1Target
) -> None:
    """A recover on D1 whose release of the lock got 503s: the wizard's worker posts LocksLeft
    after its result and the wizard says it under the result (session 18's line, untested)."""
    from malnu_tui.tui.widgets.typed_confirm import TypedConfirmation
    from tests.d1server import Fault
    from tests.secret_support import d1_config

    mdirs.add("20250101_000100", "siswa", "CREATE TABLE siswa (id INTEGER);", "DROP TABLE siswa;")
    cfg = d1_config(tmp_path / "malnu.toml", d1.db.account, d1.db.id, mdirs)  # brief retries
    at = ("--config", str(cfg), "--target", "production")
    assert run_cli(*at, "up", "--yes").code == 0  # and its pre-up backup
    release = "DELETE FROM malnu_lock WHERE id = 1 AND host"
    async with _status_screen(cfg, "production") as (app, pilot):
        await pilot.press("p")
        await wait_until(pilot, lambda: _at(app, "when"), timeout=30)
        await pilot.press(*"now", "enter")
        await wait_until(pilot, lambda: _at(app, "plan"), timeout=60)
        await pilot.press("n")
        await wait_until(pilot, lambda: _at(app, "confirm"), timeout=30)
        d1.server.inject(Fault("status", count=100, status=503, match=release))
        try:
            (typed,) = app.screen.query(TypedConfirmation)
            assert typed.word
            await pilot.press(*typed.word, "enter")
            await wait_until(pilot, lambda: bool(app.screen.query(".locks-left")), timeout=60)
        finally:
            d1.server.faults.clear()
        await wait_until(pilot, lambda: "⚠ warning: done, but: D1 " in _shown(app))
        summary = " ".join(str(app.screen.query_one("#recover-summary").render()).split())
        said = " ".join(str(app.screen.query_one(".locks-left").render()).split())
    assert "recovered to" in summary, summary
    assert said.startswith("⚠ warning: done, but: D1 "), said
    assert "; the lock row of this session (pid " in said, said
    assert "press U on the status screen (unlock)" in said and "`malnu-tui unlock" not in said


def _at(app: MalnuApp, step: str) -> bool:
    from malnu_tui.tui.screens.wizard import WizardScreen

    s = app.screen
    return isinstance(s, WizardScreen) and s.step == step and not s.working
