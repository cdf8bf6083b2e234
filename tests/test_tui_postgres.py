"""The apply and rollback wizards on a real PostgreSQL database (throwaway cluster)."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from textual.widgets import Static

from malnu_tui.engine.backup import list_backups
from malnu_tui.engine.config import load_settings
from malnu_tui.tui.app import MalnuApp
from malnu_tui.tui.screens.rollback import RollbackWizard
from malnu_tui.tui.screens.status import StatusScreen
from malnu_tui.tui.widgets.target_panel import TargetPanel
from tests.fixtures_core import run_cli
from tests.test_tui_wizards import ready
from tests.tui_demo import wait_until

pytestmark = pytest.mark.anyio

MIGRATIONS = {
    "20260101_000100_create_users": (
        "CREATE TABLE users (id BIGSERIAL PRIMARY KEY, email TEXT NOT NULL UNIQUE);",
        "DROP TABLE users;",
    ),
    "20260101_000200_create_sessions": (
        "CREATE TABLE user_sessions (id BIGSERIAL PRIMARY KEY,"
        " user_id BIGINT NOT NULL REFERENCES users (id));",
        "DROP TABLE user_sessions;",
    ),
    "20260101_000300_index_sessions": (
        # Built CONCURRENTLY: outside a transaction, as `up` runs it (and so is its rollback).
        "CREATE INDEX CONCURRENTLY idx_sessions_user ON user_sessions (user_id);",
        "DROP INDEX CONCURRENTLY idx_sessions_user;",
    ),
}


@pytest.fixture
def pg_app(tmp_path: Path, pg_url: str) -> MalnuApp:
    (tmp_path / "migrations").mkdir()
    (tmp_path / "rollback").mkdir()
    for name, (up, down) in MIGRATIONS.items():
        (tmp_path / "migrations" / f"{name}.sql").write_text(up + "\n", encoding="utf-8")
        (tmp_path / "rollback" / f"{name}.sql").write_text(down + "\n", encoding="utf-8")
    config = tmp_path / "malnu.toml"
    config.write_text(
        '[backup]\ndir = "backups"\n\n[targets.secondary]\n'
        f'url = "{pg_url}"\nmigrations_dir = "migrations"\nrollback_dir = "rollback"\n',
        encoding="utf-8",
    )
    settings = load_settings(config=str(config), env={})
    return MalnuApp(settings=settings, target=settings.target("secondary"))


def applied(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT filename FROM migrations WHERE success ORDER BY 1").fetchall()
    return [r[0] for r in rows]


def tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
    return {r[0] for r in rows}


def loaded(app: MalnuApp) -> bool:
    screen = app.screen
    return isinstance(screen, StatusScreen) and all(
        p.report is not None for p in screen.query(TargetPanel)
    )


async def test_apply_then_rollback_on_postgresql(pg_app: MalnuApp, pg_url: str) -> None:
    from malnu_tui.tui.screens.sql_view import SqlViewScreen

    app = pg_app
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        # The SQL view of a PostgreSQL target shows the files as written (one app run with
        # the apply and rollback below).
        await pilot.press("enter")
        await wait_until(
            pilot,
            lambda: isinstance(app.screen, SqlViewScreen) and app.screen.bundle is not None,
        )
        view = app.screen
        assert isinstance(view, SqlViewScreen)
        assert "BIGSERIAL" in view.query_one("#source").text  # type: ignore[attr-defined]
        assert "as written" in view.query_one("#translation").text  # type: ignore[attr-defined]
        # The target is its own check server: its files run as written on a scratch schema.
        await wait_until(pilot, lambda: not view.checking, timeout=30)
        line = str(view.query_one("#check-line").render())  # type: ignore[attr-defined]
        assert line.startswith("✓ checked on PostgreSQL postgresql://"), line
        await pilot.press("r")
        line = str(view.query_one("#check-line").render())  # type: ignore[attr-defined]
        assert line.startswith("✓ checked on PostgreSQL postgresql://"), line
        await pilot.press("escape")
        await wait_until(pilot, lambda: loaded(app))
        # apply everything
        await pilot.press("a")
        await wait_until(pilot, lambda: ready(app, "plan"))
        name = pg_url.rsplit("/", 1)[1]
        await pilot.press("n")
        await wait_until(pilot, lambda: getattr(app.screen, "step", "") == "confirm")
        told = str(app.screen.query_one("#confirm-text", Static).render())
        assert "20260101_000300_index_sessions.sql (CONCURRENTLY)" in told, told
        assert "a CONCURRENTLY one outside a transaction" in told
        await pilot.press(*name, "enter")
        await wait_until(pilot, lambda: ready(app, "result") or app.screen.finished, timeout=30)  # type: ignore[attr-defined]
        await pilot.press("escape")
        await wait_until(pilot, lambda: loaded(app))
        assert applied(pg_url) == [f"{n}.sql" for n in MIGRATIONS]
        with psycopg.connect(pg_url) as conn:
            valid = conn.execute(
                "SELECT indisvalid FROM pg_index WHERE indexrelid = 'idx_sessions_user'::regclass"
            ).fetchone()
        assert valid == (True,)
        # roll the last two back
        await pilot.press("r")
        await wait_until(pilot, lambda: ready(app, "how-far"))
        screen = app.screen
        assert isinstance(screen, RollbackWizard)
        screen.query_one("#steps-input").focus()
        await pilot.pause()
        await pilot.press("2", "enter")
        await wait_until(pilot, lambda: ready(app, "preview"))
        await pilot.press("n", *name, "enter")
        await wait_until(pilot, lambda: ready(app, "verify"), timeout=30)
        backup_id = screen.backup_id
        await pilot.press("n", "escape")
    assert applied(pg_url) == ["20260101_000100_create_users.sql"]
    assert "user_sessions" not in tables(pg_url) and "users" in tables(pg_url)
    target = pg_app.settings.target("secondary")
    reasons = {m.id: m.reason for m in list_backups(target.backup_dir)}
    assert reasons[backup_id or ""] == "pre-rollback"
    assert sorted(reasons.values()) == ["pre-rollback", "pre-up"]


async def test_apply_on_a_postgresql_mirror_runs_the_translation(
    tmp_path: Path, pg_url: str
) -> None:
    """A PostgreSQL copy of the primary (``dialect = "SQLite"``, any case) gets the translated
    SQL, in the console and in the CLI alike (one rule: ``Target.files_dialect``)."""
    from tests.tui_demo import write_project

    write_project(tmp_path)
    config = tmp_path / "malnu.toml"
    config.write_text(
        '[backup]\ndir = "backups"\n\n[targets.mirror]\n'
        f'url = "{pg_url}"\ndialect = "SQLite"\n'
        'migrations_dir = "migrations"\nrollback_dir = "rollback"\n',
        encoding="utf-8",
    )
    res = run_cli("--config", str(config), "up", "--dry-run")
    assert res.code == 0, res.err
    assert "AUTOINCREMENT" not in res.out and "GENERATED BY DEFAULT AS IDENTITY" in res.out
    settings = load_settings(config=str(config), env={})
    app = MalnuApp(settings=settings, target=settings.target("mirror"))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        await pilot.press("a")
        await wait_until(pilot, lambda: ready(app, "plan"))
        sql = app.screen.query_one("#plan-sql").text  # type: ignore[attr-defined]
        assert "AUTOINCREMENT" not in sql and "GENERATED BY DEFAULT AS IDENTITY" in sql
        await pilot.press("n", *pg_url.rsplit("/", 1)[1], "enter")
        await wait_until(pilot, lambda: app.screen.finished, timeout=30)  # type: ignore[attr-defined]
    assert len(applied(pg_url)) == 9
    assert {"users", "submissions", "roles"} <= tables(pg_url)
