"""The console's wizards said a blocking problem by its text alone: its way out (the hint the
CLI prints as ``hint:``) never reached the console operator. And a rollback file edited since
its migration was applied was refused by the rollback wizard with no way to accept it, where
the CLI has ``rollback --accept-edited-rollback``. Driven with Pilot at 80×24 on real SQLite
databases."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Button, Static

from malnu_tui.engine.backup import list_backups
from malnu_tui.engine.problems import BadRequest, Notice, RowSecurity, with_hint
from malnu_tui.tui.app import MalnuApp
from malnu_tui.tui.screens.recover import RecoverWizard
from malnu_tui.tui.screens.rollback import RollbackWizard
from malnu_tui.tui.screens.wizard import WizardScreen
from malnu_tui.tui.widgets.error_box import ErrorBox
from tests.fixtures_core import next_second
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


make_app, loaded = demo_app, status_loaded  # the console on the demo, its status read


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


async def to_rollback_preview(pilot: Pilot[None], app: MalnuApp) -> None:
    """From the status screen once read: r, the default how-far, to the preview."""
    await wait_until(pilot, lambda: loaded(app))
    await pilot.press("r")
    await wait_until(pilot, lambda: at(app, "how-far") is not None)
    await pilot.press("n")
    await wait_until(pilot, lambda: at(app, "preview") is not None)


def text_of(app: MalnuApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


def edit_newest_rollback(demo: Demo, extra: str) -> Path:
    """The newest migration applied again (the demo's run log is pinned for the snapshots,
    without the rollback files' checksums), then its rollback file edited."""
    from malnu_tui.engine.config import open_backend
    from malnu_tui.engine.files import discover
    from malnu_tui.engine.migrate import apply_plan, plan_rollback, plan_up

    target = demo.target()
    mset = discover(target.migrations_dir, target.rollback_dir)
    backend = open_backend(target)
    try:
        apply_plan(backend, mset, plan_rollback(backend, mset))
        apply_plan(backend, mset, plan_up(backend, mset, "20251124_123000"))
    finally:
        backend.close()
    (rb,) = (demo.root / "rollback").glob("20251124_123000_*.sql")
    rb.write_text(rb.read_text(encoding="utf-8") + extra, encoding="utf-8")
    return rb


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
        await to_rollback_preview(pilot, app)
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


async def test_an_edited_rollback_file_can_be_accepted_in_the_rollback_wizard(
    demo: Demo,
) -> None:
    rb = edit_newest_rollback(demo, "CREATE TABLE edited_ran (id INTEGER);\n")
    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await to_rollback_preview(pilot, app)
        screen = app.screen
        assert isinstance(screen, RollbackWizard) and screen.preview is not None
        checks = text_of(app, "#preconditions")
        assert "cannot proceed" in checks and "rollback files changed since" in checks
        assert "press a (accept edited) to run the edited file as it is now" in checks  # hint
        ((name, now, recorded),) = screen.preview.edited_sums()
        assert name == rb.name and now != recorded
        assert f"now      sha256 {now}" in checks and f"recorded sha256 {recorded}" in checks
        assert "Press a to run them as they are now (audited)" in checks
        assert screen.query_one("#accept-edited", Button).display
        await pilot.press("n")
        assert screen.step == "preview" and screen.blocked is not None  # not without accepting
        await pilot.press("a")
        await wait_until(pilot, lambda: at(app, "preview") is not None)
        assert screen.blocked is None and screen.accept_edited
        checks = text_of(app, "#preconditions")
        assert "edited rollback file(s) accepted (audited)" in checks
        assert f"recorded sha256 {recorded}" in checks
        assert not screen.query_one("#accept-edited", Button).display
        await pilot.press("n")
        assert screen.step == "confirm"
        assert f"{rb.name}: edited since applied, accepted (audited)" in text_of(
            app, "#confirm-text"
        )
        await pilot.press(*"school", "enter")
        await wait_until(pilot, lambda: at(app, "verify") is not None, timeout=20)
        assert "1 migration(s) rolled back" in text_of(app, "#verify-text")
    assert NEWEST not in demo.applied()
    assert "edited_ran" in demo.tables()  # the file as it is now ran
    with sqlite3.connect(demo.primary_db) as conn:
        warned = conn.execute(
            "SELECT detail FROM malnu_audit WHERE action = 'rollback' AND outcome = 'warning'"
        ).fetchall()
    assert warned and rb.name in warned[0][0], warned
    assert [m.reason for m in list_backups(demo.target().backup_dir)] == ["pre-rollback"]


async def test_going_back_to_choose_again_forgets_the_acceptance(demo: Demo) -> None:
    edit_newest_rollback(demo, "SELECT 1;\n")
    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await to_rollback_preview(pilot, app)
        await pilot.press("a")
        await wait_until(pilot, lambda: at(app, "preview") is not None)
        screen = app.screen
        assert isinstance(screen, RollbackWizard) and screen.accept_edited
        await pilot.press("b")
        await wait_until(pilot, lambda: at(app, "how-far") is not None)
        await pilot.press("n")
        await wait_until(pilot, lambda: at(app, "preview") is not None)
        assert not screen.accept_edited and screen.blocked is not None
        await pilot.press("escape")
    assert NEWEST in demo.applied()


async def test_an_edited_rollback_file_can_be_accepted_in_the_recover_wizard(demo: Demo) -> None:
    """recover rolls back a migration undone between the backup and TIME: its plan refused the
    edited rollback file with no way on in the console (the CLI has the flag)."""
    from datetime import UTC, datetime

    from malnu_tui.engine.backup import create_backup
    from malnu_tui.engine.config import open_backend
    from malnu_tui.engine.files import discover
    from malnu_tui.engine.migrate import apply_plan, plan_rollback, plan_up

    target = demo.target()
    mset = discover(target.migrations_dir, target.rollback_dir)
    backend = open_backend(target)
    try:
        apply_plan(backend, mset, plan_rollback(backend, mset))
        apply_plan(backend, mset, plan_up(backend, mset, "20251124_123000"))  # sums recorded
        create_backup(backend, target)  # holds the newest applied
        next_second()  # (the audit trail's times are whole seconds)
        apply_plan(backend, mset, plan_rollback(backend, mset))  # undone: recover rolls it back
        next_second()
        when = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        next_second()
        apply_plan(backend, mset, plan_up(backend, mset, "20251124_123000"))
    finally:
        backend.close()
    (rb,) = (demo.root / "rollback").glob("20251124_123000_*.sql")

    def rollback_sum() -> str:
        found = discover(target.migrations_dir, target.rollback_dir).by_filename()[NEWEST]
        assert found.rollback is not None
        return found.rollback.checksum

    recorded = rollback_sum()
    rb.write_text(rb.read_text(encoding="utf-8") + "SELECT 1;\n", encoding="utf-8")
    now = rollback_sum()
    app = make_app(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        await pilot.press("p")
        await wait_until(pilot, lambda: at(app, "when") is not None)
        screen = app.screen
        assert isinstance(screen, RecoverWizard)
        await pilot.press(*when, "enter")
        await wait_until(pilot, lambda: at(app, "plan") is not None, timeout=20)
        error = screen.query_one("#wizard-error", ErrorBox).text
        assert f"rollback files changed since their migration was applied: {rb.name}" in error
        assert "press a (accept edited) to run the edited file as it is now" in error
        assert screen.blocked is not None and screen.edited_refused
        # Both checksums in full, as the rollback wizard shows them (they were cut to 12).
        plan = text_of(app, "#recover-plan")
        assert f"now      sha256 {now}" in plan and f"recorded sha256 {recorded}" in plan
        await pilot.press("a")
        await wait_until(pilot, lambda: at(app, "plan") is not None, timeout=20)
        assert screen.blocked is None and screen.accept_edited
        plan = text_of(app, "#recover-plan")
        assert f"edited rollback file(s) accepted (audited): {rb.name}" in plan
        assert "accepted (audited), runs as it is now" in plan
        assert f"now      sha256 {now}" in plan and f"recorded sha256 {recorded}" in plan
        await pilot.press("n")
        assert screen.step == "confirm"
        confirm = text_of(app, "#recover-confirm-text")
        assert f"{rb.name}: edited since applied, accepted (audited)" in confirm
        await pilot.press(*"school", "enter")
        await wait_until(pilot, lambda: screen.step == "result" and screen.finished, timeout=30)
        assert screen.result is not None and screen.result.rolled_back
    assert NEWEST not in demo.applied()
    with sqlite3.connect(demo.primary_db) as conn:
        warned = conn.execute(
            "SELECT detail FROM malnu_audit WHERE action = 'recover' AND outcome = 'warning'"
        ).fetchall()
    assert warned and rb.name in warned[0][0], warned


def test_the_apply_wizards_lint_gate_says_what_the_console_can_and_cannot_do(demo: Demo) -> None:
    """On a target with lint = "enforce", the apply wizard's plan is blocked by a lint error
    with the gate's hint, which said "run `up --accept-lint`" as if the console had it (it
    has no such choice; every other problem's hint is the console's own since 1828cb2)."""
    from malnu_tui.tui.screens.apply import preview_apply

    config = demo.config.read_text(encoding="utf-8")
    demo.config.write_text(
        config.replace("[targets.primary]\n", '[targets.primary]\nlint = "enforce"\n', 1),
        encoding="utf-8",
    )
    (demo.root / "migrations" / "20251201_000000_drop_roles.sql").write_text("DROP TABLE roles;\n")
    (demo.root / "rollback" / "20251201_000000_undo_drop_roles.sql").write_text("SELECT 1;\n")
    (problem,) = preview_apply(demo.settings().target("primary")).problems
    assert "DROP-TABLE at 20251201_000000_drop_roles.sql:1" in problem
    assert "the console does not accept lint errors" in problem, problem
    assert "or run `up --accept-lint`" not in problem
