"""The rollback and apply wizards never tell the operator something false, and their keys are
true: real SQLite demo databases driven with Pilot (issue: the console at 2 a.m.)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from textual.widgets import Input, Static

from malnu_tui.tui.app import MalnuApp
from malnu_tui.tui.screens.rollback import RollbackWizard
from malnu_tui.tui.screens.status import StatusScreen
from malnu_tui.tui.screens.wizard import WizardScreen
from malnu_tui.tui.widgets.typed_confirm import TypedConfirmation
from tests.tui_demo import (
    Demo,
    build_demo,
    demo_app,
    status_loaded,
    take_lock_elsewhere,
    wait_until,
)

pytestmark = pytest.mark.anyio
NEWEST = "20251124_123000_create_submissions_table.sql"


@pytest.fixture
def demo(tmp_path: Path) -> Demo:
    return build_demo(tmp_path / "demo")


make_app = demo_app
loaded = status_loaded


def at(app: MalnuApp, step: str) -> bool:
    s = app.screen
    return isinstance(s, WizardScreen) and s.step == step and not s.working


def text_of(app: MalnuApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


async def to_preview(pilot: object, app: MalnuApp) -> RollbackWizard:
    await wait_until(pilot, lambda: loaded(app))
    await pilot.press("r")  # type: ignore[attr-defined]
    await wait_until(pilot, lambda: at(app, "how-far") and app.screen.blocked is None)  # type: ignore[attr-defined]
    await pilot.press("n")  # type: ignore[attr-defined]
    await wait_until(pilot, lambda: at(app, "preview") and app.screen.preview is not None)  # type: ignore[attr-defined]
    screen = app.screen
    assert isinstance(screen, RollbackWizard)
    return screen


def rollback_file(demo: Demo, migration: str) -> Path:
    version = migration[:15]
    return next((demo.root / "rollback").glob(f"{version}_*.sql"))


async def test_preview_counts_the_rows_a_drop_destroys_and_the_prompt_says_why(
    demo: Demo,
) -> None:
    with sqlite3.connect(demo.primary_db) as conn:
        # Rows that the rollback would destroy (constraints off: only the count matters).
        conn.execute("PRAGMA ignore_check_constraints = ON")
        cols = [r[1] for r in conn.execute("PRAGMA table_info(submissions)")]
        for i in range(3):
            values = ", ".join(str(100 + i) if c in ("id", "student_id") else "'x'" for c in cols)
            conn.execute(f"INSERT INTO submissions ({', '.join(cols)}) VALUES ({values})")
    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await to_preview(pilot, app)
        checks = text_of(app, "#preconditions")
        assert "drops table submissions: 3 rows" in checks
        assert "no applied file has drifted" in checks and "lock free" in checks
        await pilot.press("n")
        await wait_until(pilot, lambda: at(app, "confirm"))
        typed = screen.query_one(TypedConfirmation)
        prompt = str(typed.query_one(".typed-prompt", Static).render())
        assert prompt == "Type school to roll back 1 migration on school.db."
        assert typed.query_one(Input).placeholder != "school"
        await pilot.press("enter")  # empty: says what to type, stays
        assert "nothing typed yet" in str(typed.query_one(".typed-why", Static).render())
        assert screen.step == "confirm"
        await pilot.press("escape")


async def test_drift_outside_the_range_is_named_never_called_no_drift(demo: Demo) -> None:
    older = demo.root / "migrations" / "20251124_120500_create_users_table.sql"
    older.write_text(older.read_text(encoding="utf-8") + "\n-- edited after it ran\n")
    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await to_preview(pilot, app)
        checks = text_of(app, "#preconditions")
        assert "no applied file has drifted" not in checks
        assert "drift outside the range" in checks and older.name in checks
        await pilot.press("escape")


async def test_enter_on_a_blocked_preview_does_not_cancel(demo: Demo) -> None:
    take_lock_elsewhere(demo.primary_db)
    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await to_preview(pilot, app)
        assert screen.blocked is not None
        assert screen.focused is None
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert app.screen is screen and screen.step == "preview"
        # The footer offers only what is valid here: no Next.
        assert screen.check_action("next", ()) is False
        assert screen.check_action("cancel", ()) is True
        await pilot.press("escape")
        assert isinstance(app.screen, StatusScreen)


async def test_a_rollback_that_changed_nothing_says_so_and_never_advises_a_restore(
    demo: Demo,
) -> None:
    # The newest rollback file fails on its first statement: nothing changes.
    rollback_file(demo, NEWEST).write_text("DROP TABLE no_such_table_at_all;\n", encoding="utf-8")
    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await to_preview(pilot, app)
        await pilot.press("n")
        await wait_until(pilot, lambda: at(app, "confirm"))
        await pilot.press(*"school", "enter")
        await wait_until(pilot, lambda: at(app, "verify"), timeout=30)
        # Past the point of no return the footer offers no Back and no Cancel.
        assert screen.check_action("back", ()) is False
        await pilot.press("n")
        await wait_until(pilot, lambda: screen.step == "summary")
        summary = text_of(app, "#summary-text")
        assert "Nothing was changed; the safety backup is kept" in summary
        assert "Restoring it" not in summary
        assert screen.check_action("next", ()) is False and screen.check_action("back", ()) is False
        await pilot.press("escape")
    assert NEWEST in demo.applied()
