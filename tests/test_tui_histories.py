"""The console's status screen says what the CLI's `status` says of other tools' migration
histories in the same database (Prisma's ``_prisma_migrations``, Alembic's, wrangler's
``d1_migrations``…): it said none of them, so an operator in the console saw "3 pending" and
an Apply key, and only the apply's refusal (or the CLI) told them another tool had migrated the
database. Real SQLite files, the tables in the shape each tool creates them
(tests/test_other_runners.py), the real app at 80×24."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from textual.pilot import Pilot

from malnu_tui.engine.config import load_settings
from malnu_tui.tui.app import MalnuApp
from malnu_tui.tui.widgets.target_panel import TargetPanel
from tests.fixtures_core import MigrationDirs, run_cli, school_config
from tests.test_other_runners import GRADES, V1, V2, V3, _alembic, _dirs, _prisma
from tests.test_supabase_history import CLI_TABLE, TODOS
from tests.tui_demo import screen_text, status_loaded, wait_until

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
async def _status_screen(cfg: Path) -> AsyncIterator[tuple[MalnuApp, Pilot[Any]]]:
    """The real app on ``cfg``'s one target at 80×24, its status read."""
    settings = load_settings(config=str(cfg))
    app = MalnuApp(settings=settings, target=settings.target("school"))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: status_loaded(app), timeout=30)
        await pilot.pause(0.3)
        yield app, pilot


def _shown(app: MalnuApp) -> str:
    """The screen as the terminal shows it, wrapped lines joined."""
    return " ".join(screen_text(app).split())


def _cli_lines(cfg: Path, sentence: str) -> list[str]:
    """The CLI's `status` lines (stderr) holding ``sentence``."""
    r = run_cli("--config", str(cfg), "status")
    assert r.code == 0, r.err
    return [ln for ln in r.err.splitlines() if sentence in ln]


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
            "without running them: `malnu-tui adopt --dry-run`, then `malnu-tui adopt`"
        )
        assert said in shown, shown
        # the same sentence as the CLI's (one engine call for both)
        assert _cli_lines(cfg, said.removeprefix("⚠ ")) == [said.removeprefix("⚠ ")]
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
        assert f"⚠ warning: {wrangler_said}" in shown, shown
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
        assert f"⚠ warning: {said}" in shown, shown
        assert _cli_lines(cfg, said) == [said]
        await pilot.press("q")
