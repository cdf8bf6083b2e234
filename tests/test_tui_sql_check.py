"""The console's SQL view checks each translated statement on a real PostgreSQL server (the engine
call of ``plan --check``), and says plainly when it cannot: never "ok" without a server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest
from textual.widgets import DataTable, Static

from malnu_tui.tui.app import MalnuApp
from malnu_tui.tui.screens.sql_view import SqlViewScreen
from tests.tui_demo import (
    ORDERS,
    Demo,
    add_orders,
    build_demo,
    demo_app,
    sql_checked,
    status_loaded,
    wait_until,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
def demo(tmp_path: Path) -> Demo:
    d = build_demo(tmp_path / "demo")
    add_orders(d)
    return d


async def open_sql_view(pilot: object, app: MalnuApp, row: int) -> SqlViewScreen:
    """The SQL view of the status table's ``row``, once loaded and checked."""
    await wait_until(pilot, lambda: status_loaded(app))
    await pilot.press("home", *["down"] * row, "enter")  # type: ignore[attr-defined]
    await wait_until(pilot, lambda: isinstance(app.screen, SqlViewScreen))
    screen = app.screen
    assert isinstance(screen, SqlViewScreen)
    await wait_until(pilot, lambda: sql_checked(app, screen.status.filename), timeout=30)
    return screen


def check_line(screen: SqlViewScreen) -> str:
    return str(screen.query_one("#check-line", Static).render())


def rows(screen: SqlViewScreen) -> list[tuple[str, ...]]:
    table = screen.query_one("#findings", DataTable)
    return [tuple(str(c) for c in table.get_row_at(i)) for i in range(table.row_count)]


def scratch_left(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        found = conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'malnu_scratch%' "
            "UNION ALL SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
    return [r[0] for r in found]


async def test_a_statement_postgresql_rejects_shows_rejected_with_its_message(
    demo: Demo, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MALNU_PARITY_DATABASE", pg_url)
    app = demo_app(demo)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_sql_view(pilot, app, 9)  # the orders migration, pending
        assert screen.status.filename == ORDERS
        line = check_line(screen)
        assert line.startswith("✗ checked on PostgreSQL postgresql://")
        assert "2 rejected" in line and " ok" not in line
        by_line = {r[0]: r for r in rows(screen)}
        assert by_line["1"][1] == "✗ rejected"
        assert by_line["1"][3] == "operator does not exist: text = integer"  # PostgreSQL's
        assert by_line["2"][1] == "✗ rejected"  # the index: its table was rejected
        assert f"{ORDERS}:1" in by_line["2"][3]
        # The highlighted row in full below the table (the message is wider than its column).
        screen.query_one("#findings", DataTable).move_cursor(row=1)
        await pilot.pause()
        detail = str(screen.query_one("#finding-detail", Static).render())
        assert detail.startswith("line 2 · ✗ rejected · CREATE INDEX")
        knock_on = f'relation "orders" does not exist (its statement, {ORDERS}:1, was rejected)'
        assert detail.endswith(knock_on)
        # The rollback, run after the migrations it undoes, fails in turn.
        await pilot.press("r")
        assert rows(screen)[0][:2] == ("1", "✗ rejected")
        assert "1 rejected" in check_line(screen)
        # c runs the check again; the server keeps nothing of it.
        before = screen.check
        await pilot.press("c")
        await wait_until(
            pilot, lambda: screen.check is not before and not screen.checking, timeout=30
        )
        assert "1 rejected" in check_line(screen)
        await pilot.press("escape")
        # A migration PostgreSQL takes: every statement ok, checked.
        screen = await open_sql_view(pilot, app, 0)
        line = check_line(screen)
        assert line.startswith("✓ checked on PostgreSQL") and "rejected" not in line
        statuses = {r[1] for r in rows(screen)}
        assert "✓ ok" in statuses and not statuses & {"✗ rejected", "⊘ withheld", "? unchecked"}
    assert scratch_left(pg_url) == []


async def test_without_a_server_the_view_says_not_checked_and_never_ok(demo: Demo) -> None:
    app = demo_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_sql_view(pilot, app, 9)
        line = check_line(screen)
        assert line == (
            "⊘ not checked: no PostgreSQL server (set $MALNU_PARITY_DATABASE) · c: check"
        )
        assert not any("ok" in cell for r in rows(screen) for cell in r[:2])
        await pilot.press("c")  # still no server: says so again, no worker
        assert check_line(screen) == line and not screen.checking


async def test_a_server_that_is_not_postgresql_is_named(
    demo: Demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MALNU_PARITY_DATABASE", "staging")  # a target's name: a SQLite one
    app = demo_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_sql_view(pilot, app, 9)
        assert check_line(screen).startswith(
            "✗ not checked: $MALNU_PARITY_DATABASE must be a postgresql:// URL or a "
            "PostgreSQL target"
        )


def test_the_check_server_rule_is_the_clis(demo: Demo) -> None:
    """One rule (engine/urls.check_server) for plan --check, parity and the SQL view: the
    chosen server, else $MALNU_PARITY_DATABASE (a URL or a target's name), else the target
    when it is PostgreSQL, else none."""
    from malnu_tui.engine.errors import ConfigError
    from malnu_tui.engine.urls import check_server

    settings = demo.settings()
    primary = settings.target("primary")
    pg = "postgresql://u@db.example/x"
    assert check_server(primary, settings.targets, environ={}) is None
    assert check_server(primary, settings.targets, environ={"MALNU_PARITY_DATABASE": pg}) == pg
    chosen = check_server(primary, settings.targets, pg, environ={"MALNU_PARITY_DATABASE": "x"})
    assert chosen == pg
    with pytest.raises(ConfigError, match="MALNU_PARITY_DATABASE must be a postgresql"):
        check_server(primary, settings.targets, environ={"MALNU_PARITY_DATABASE": "staging"})
    with pytest.raises(ConfigError, match="--postgres must be a postgresql"):
        check_server(primary, settings.targets, "staging", environ={})


async def test_the_sql_views_panes_say_reading_until_the_file_is_read(
    demo: Demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The view's panes were blank until its worker answered (a long set's translation, a slow
    lint): they say what they wait for from the start, and what they show once it answers. The
    worker is held inside the engine call it makes (the lint), released by the test."""
    import threading

    from malnu_tui.engine.lint import target as lint_module
    from malnu_tui.tui.screens.sql_documents import READING
    from malnu_tui.tui.widgets.fields import SqlText
    from tests.tui_demo import screen_text

    real, asked, gate = lint_module.lint_target, threading.Event(), threading.Event()

    def held(*args: Any, **kwargs: Any) -> Any:
        asked.set()
        gate.wait(60)
        return real(*args, **kwargs)

    monkeypatch.setattr(lint_module, "lint_target", held)
    monkeypatch.delenv("MALNU_PARITY_DATABASE", raising=False)
    app = demo_app(demo)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_until(pilot, lambda: status_loaded(app))
            await pilot.press("home", "enter")
            await wait_until(
                pilot, lambda: isinstance(app.screen, SqlViewScreen) and asked.is_set()
            )
            screen = app.screen
            assert isinstance(screen, SqlViewScreen)
            await pilot.pause()
            shown = " ".join(screen_text(app).split())
            assert screen.bundle is None  # the worker has not answered
            assert shown.count(READING) == 2, shown  # the split layout's two panes
            gate.set()
            await wait_until(pilot, lambda: screen.bundle is not None)
            texts = [pane.text for pane in screen.query(SqlText)]
            assert all(READING not in t for t in texts) and "CREATE" in texts[0], texts
            await pilot.press("d")  # the diff layout: its pane too
            assert READING not in " ".join(screen_text(app).split())
    finally:
        gate.set()
