"""The console's migration safety: lint findings in the SQL view, and the apply wizard's
rehearsal on a scratch restore of the newest verified backup (production untouched)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from textual.widgets import Button, DataTable, Static
from textual.widgets.data_table import RowKey

from malnu_tui.tui.app import MalnuApp
from malnu_tui.tui.screens.apply import ApplyWizard
from malnu_tui.tui.screens.sql_view import SqlViewScreen
from malnu_tui.tui.screens.wizard import WizardScreen
from tests.test_tui_wizards import loaded, make_app
from tests.tui_demo import Demo, build_demo, wait_until

pytestmark = pytest.mark.anyio


@pytest.fixture
def demo(tmp_path: Path) -> Demo:
    return build_demo(tmp_path / "demo")


def _text(app: MalnuApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


async def test_sql_view_shows_lint_findings(demo: Demo) -> None:
    (demo.root / "migrations" / "20251126_080000_drop_class.sql").write_text(
        "-- Description: classes live in their own table now\n"
        "ALTER TABLE users DROP COLUMN class_id;\n",
        encoding="utf-8",
    )
    app = make_app(demo)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        await pilot.press(*["down"] * 9, "enter")  # the new, last migration
        await wait_until(
            pilot,
            lambda: isinstance(app.screen, SqlViewScreen) and app.screen.bundle is not None,
        )
        findings = app.screen.query_one("#findings", DataTable)
        rows = [findings.get_row_at(i) for i in range(findings.row_count)]
        lint = [(str(r[0]), str(r[1]), str(r[2])) for r in rows if str(r[2]).startswith("lint")]
        assert lint == [
            ("", "ℹ note", "lint"),  # the dialect it judged by, first, as `lint` says it
            ("2", "✘ error", "lint DROP-COLUMN"),
            ("2", "✘ error", "lint NO-ROLLBACK"),
            # the demo indexes users.class_id: SQLite refuses to drop it (asked on a copy)
            ("2", "✘ error", "lint SQLITE-DROP-COLUMN-REFUSED"),
        ]
        said = next(str(r[3]) for r in rows if str(r[2]) == "lint")
        assert said == "judged in SQLite's dialect (target primary, sqlite)"
        assert any("instead: stop using the column" in str(r[3]) for r in rows)
        # A highlight of a row the findings no longer have (they are filled again when the
        # lint or the check answers; seen in a whole-suite run) is passed over, not a crash.
        detail = str(app.screen.query_one("#finding-detail", Static).render())
        findings.post_message(DataTable.RowHighlighted(findings, 0, RowKey(None)))
        await pilot.pause()
        assert app.is_running and isinstance(app.screen, SqlViewScreen)
        assert str(app.screen.query_one("#finding-detail", Static).render()) == detail


async def test_sql_view_lints_a_set_in_the_dialect_the_cli_does(tmp_path: Path) -> None:
    # With no config (the embedded database), `malnu-tui lint` guesses the dialect from the
    # files (a supabase/migrations folder: PostgreSQL's), but the SQL view linted in the
    # target's, SQLite's: none of PostgreSQL's or Supabase's findings (a SQLITE-… error the
    # CLI never gives, for a CONCURRENTLY).
    from malnu_tui.engine.config import DEFAULT_TARGET, Settings, Target
    from malnu_tui.engine.urls import sqlite_url

    mig, rb = tmp_path / "supabase" / "migrations", tmp_path / "supabase" / "rollback"
    mig.mkdir(parents=True)
    rb.mkdir()
    (mig / "20260101120000_init.sql").write_text(
        "create table public.siswa (id serial primary key, no_hp text);\n",
        encoding="utf-8",
    )
    # (its lock_timeout set: a rollback file is linted too, and this test is of the dialect)
    (rb / "20260101120000_init.sql").write_text(
        "set lock_timeout = '5s';\ndrop table public.siswa;\n", encoding="utf-8"
    )
    url = sqlite_url(tmp_path / "malnu.db")
    embedded = Target(DEFAULT_TARGET, url, mig, rb, tmp_path / "backups" / DEFAULT_TARGET)
    settings = Settings(None, {DEFAULT_TARGET: embedded}, DEFAULT_TARGET, tmp_path / "backups")
    app = MalnuApp(settings=settings, target=embedded)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        await pilot.press("home", "enter")
        await wait_until(
            pilot,
            lambda: isinstance(app.screen, SqlViewScreen) and app.screen.bundle is not None,
        )
        rows = [str(r) for r in app.screen.lint]
        assert [f.rule for f in app.screen.lint] == ["SUPABASE-RLS-MISSING"], rows
        # What `lint` says on stderr with it, in the findings table: the dialect it judged by
        # and why (a guess read as the target's own), and that Supabase's rules are on.
        findings = app.screen.query_one("#findings", DataTable)
        said = [
            str(r[3]) for r in map(findings.get_row_at, range(findings.row_count))
            if str(r[1]) == "ℹ note" and str(r[2]) == "lint"
        ]  # fmt: skip
        assert said == [
            "judged in PostgreSQL's dialect (guessed from the folder supabase/migrations; "
            "say --dialect, or name a target, to be sure)",
            "Supabase's rules on (the folder supabase/migrations; exposed schemas: public)",
        ], said


async def test_apply_wizard_rehearses_on_the_newest_backup(demo: Demo) -> None:
    from malnu_tui.engine.backup import create_backup
    from malnu_tui.engine.config import open_backend

    app = make_app(demo)
    target = demo.settings().target("primary")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        await pilot.press("a")
        await wait_until(pilot, lambda: isinstance(app.screen, ApplyWizard)
                         and app.screen.step == "plan" and not app.screen.working)  # fmt: skip
        # Greyed while a rehearsal runs, it says so in words (it read as usable in NO_COLOR).
        button = app.screen.query_one("#rehearse", Button)
        button.disabled = True
        assert str(button.label) == "Rehearse first on a backup copy (wait)"
        button.disabled = False
        assert str(button.label) == "Rehearse first on a backup copy (production untouched)"
        # No backup yet: the rehearsal says so and never blocks the wizard.
        await pilot.click("#rehearse")
        await wait_until(
            pilot, lambda: "not possible" in _text(app, "#rehearse-report"), timeout=30
        )
        assert "no verified backup" in _text(app, "#rehearse-report")
        screen = app.screen
        assert isinstance(screen, WizardScreen) and screen.blocked is None
        backend = open_backend(target)
        try:
            backup = create_backup(backend, target)
        finally:
            backend.close()
        before = hashlib.sha256(demo.primary_db.read_bytes()).hexdigest()
        await pilot.click("#rehearse")
        await wait_until(pilot, lambda: "Rehearsal on backup" in _text(app, "#rehearse-report"),
                         timeout=30)  # fmt: skip
        report = _text(app, "#rehearse-report")
        assert backup.id in report and "all applied" in report
        assert report.count("✔ 2025") == 3 and "row(s) affected" in report
        assert hashlib.sha256(demo.primary_db.read_bytes()).hexdigest() == before
        assert screen.step == "plan" and screen.blocked is None
