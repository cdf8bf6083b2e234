"""The console's wizards said a blocking problem by its text alone: its way out (the hint the
CLI prints as ``hint:``) never reached the console operator. Driven with Pilot at 80×24 on
real SQLite databases."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Static

from malnu_tui.engine.problems import BadRequest, Notice, RowSecurity, with_hint
from malnu_tui.tui.app import MalnuApp
from malnu_tui.tui.screens.status import StatusScreen
from malnu_tui.tui.screens.wizard import WizardScreen
from malnu_tui.tui.widgets.target_panel import TargetPanel
from tests.tui_demo import Demo, build_demo, take_lock_elsewhere, wait_until

pytestmark = pytest.mark.anyio

NEWEST = "20251124_123000_create_submissions_table.sql"


@pytest.fixture
def demo(tmp_path: Path) -> Demo:
    return build_demo(tmp_path / "demo")


def make_app(demo: Demo) -> MalnuApp:
    settings = demo.settings()
    return MalnuApp(settings=settings, target=settings.target("primary"))


def loaded(app: MalnuApp) -> bool:
    screen = app.screen
    return isinstance(screen, StatusScreen) and all(
        p.report is not None for p in screen.query(TargetPanel)
    )


def at(app: MalnuApp, step: str) -> WizardScreen | None:
    screen = app.screen
    if (
        isinstance(screen, WizardScreen)
        and screen.step == step
        and not screen.working
        and screen.blocked != "loading…"
    ):
        return screen
    return None


def text_of(app: MalnuApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


def test_a_problem_is_said_with_its_way_out_once() -> None:
    assert with_hint(BadRequest("no such version", "see `malnu-tui status`")) == (
        "no such version — see `malnu-tui status`"
    )
    # RowSecurity's text already ends with its hint: not said twice.
    said = with_hint(RowSecurity("policies narrow kelas", "GRANT BYPASSRLS"))
    assert said.count("GRANT BYPASSRLS") == 1
    assert with_hint(Notice("a note")) == "a note"  # a notice has no way out to give


async def test_a_blocking_problems_hint_is_on_the_wizards_screen(demo: Demo) -> None:
    (demo.root / "rollback" / "20251124_123000_drop_submissions_table.sql").unlink()
    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        await pilot.press("r")
        await wait_until(pilot, lambda: at(app, "how-far") is not None)
        await pilot.press("n")
        await wait_until(pilot, lambda: at(app, "preview") is not None)
        checks = text_of(app, "#preconditions")
        assert "no rollback file for: " + NEWEST in checks
        assert "— write rollback/<version>_<name>.sql for each, or roll back fewer" in checks
        await pilot.press("escape")
    take_lock_elsewhere(demo.primary_db)
    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        await pilot.press("a")
        await wait_until(pilot, lambda: at(app, "plan") is not None)
        checks = text_of(app, "#plan-checks")
        assert "night-shift@admin-laptop" in checks
        # The key, not the CLI command: the console's hints name what to press.
        assert "if that process is dead, press U on the status screen (unlock)" in checks
