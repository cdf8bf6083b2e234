"""The console's status table never showed the CLI's `≠ edited` mark: a rollback file edited
since its migration was applied (which `rollback` refuses) read "yes" in the console's rollback
column while `status` said "≠ edited". Now the panel's worker marks it as `status` does, and
keeps the rollback files' checksums between refreshes: a file is read again only when its
(size, mtime) changed. Real SQLite file, applied by the real CLI, the real app at 80×24."""

from __future__ import annotations

from pathlib import Path

import pytest

from malnu_tui.engine.config import load_settings
from malnu_tui.tui.app import MalnuApp
from malnu_tui.tui.widgets.target_panel import TargetPanel
from tests.fixtures_core import MigrationDirs, run_cli, school_config
from tests.tui_demo import status_loaded, wait_until

pytestmark = pytest.mark.anyio

EDITED = "DROP TABLE kelas;\nDELETE FROM siswa;\n"  # one more statement, never reviewed


def _applied(tmp_path: Path, mdirs: MigrationDirs) -> Path:
    mdirs.add("20250101_000100", "siswa", "CREATE TABLE siswa (id INTEGER PRIMARY KEY);",
              "DROP TABLE siswa;")  # fmt: skip
    mdirs.add("20250101_000200", "kelas", "CREATE TABLE kelas (id INTEGER PRIMARY KEY);",
              "DROP TABLE kelas;")  # fmt: skip
    cfg = school_config(tmp_path, f"sqlite:///{tmp_path / 'school.db'}", mdirs)
    res = run_cli("--config", str(cfg), "up", "--yes", "--no-backup")
    assert res.code == 0, res.err
    return cfg


def _rollback_cells(panel: TargetPanel) -> dict[str, str]:
    table = panel.table
    names = [m.name for m in table.rows_shown]
    return {name: table.get_row_at(i)[-1] for i, name in enumerate(names)}


async def test_the_status_table_marks_an_edited_rollback_file_as_the_cli_does(
    tmp_path: Path, mdirs: MigrationDirs
) -> None:
    cfg = _applied(tmp_path, mdirs)
    kelas = mdirs.rollback / "20250101_000200_undo_kelas.sql"
    siswa = mdirs.rollback / "20250101_000100_undo_siswa.sql"
    kelas.write_text(EDITED, encoding="utf-8")
    cli = run_cli("--config", str(cfg), "status")
    assert cli.code == 0, cli.err
    assert "≠ edited" in next(ln for ln in cli.out.splitlines() if "kelas" in ln), cli.out

    check = run_cli("--config", str(cfg), "check")
    settings = load_settings(config=str(cfg))
    app = MalnuApp(settings=settings, target=settings.target("school"))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: status_loaded(app), timeout=30)
        panel = app.screen.query_one(TargetPanel)
        assert _rollback_cells(panel) == {"kelas": "≠ edited", "siswa": "yes"}
        assert panel.sums.hashed == 2  # both rollback files read once
        # The health line, checked on this very status, warns as `check` does (it did not).
        await wait_until(pilot, lambda: panel.health is not None, timeout=30)
        assert panel.health is not None
        said = [p.message for p in panel.health.problems if p.check == "drift"]
        assert said == [
            ln.removeprefix("WARNING school drift: ")
            for ln in check.out.splitlines()
            if ln.startswith("WARNING school drift: rollback file ")
        ], (said, check.out)

        # A refresh with no file changed reads none of them again.
        before = panel.read_at
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: panel.read_at != before and not panel.reading)
        assert _rollback_cells(panel) == {"kelas": "≠ edited", "siswa": "yes"}
        assert panel.sums.hashed == 2

        # The edit undone and the other file edited: both read again, both marks follow.
        kelas.write_text("DROP TABLE kelas;\n", encoding="utf-8")
        siswa.write_text("DROP TABLE siswa;\nVACUUM;\n", encoding="utf-8")
        before = panel.read_at
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: panel.read_at != before and not panel.reading)
        assert _rollback_cells(panel) == {"kelas": "yes", "siswa": "≠ edited"}
        assert panel.sums.hashed == 4


async def test_the_alerts_view_reads_only_the_rollback_files_changed_since(
    tmp_path: Path, mdirs: MigrationDirs
) -> None:
    """The alerts view (h) checked each target without the panel's checksums: each opening
    and each refresh read every applied migration's rollback file again. It now uses the
    panel's: nothing read while none changed, an edited one read and warned of."""
    from malnu_tui.tui.screens.alerts import AlertsScreen

    cfg = _applied(tmp_path, mdirs)
    kelas = mdirs.rollback / "20250101_000200_undo_kelas.sql"
    settings = load_settings(config=str(cfg))
    app = MalnuApp(settings=settings, target=settings.target("school"))

    async def alerts(key: str) -> AlertsScreen:
        before = app.screen.loaded if isinstance(app.screen, AlertsScreen) else None
        await pilot.press(key)
        await wait_until(
            pilot,
            lambda: (
                isinstance(app.screen, AlertsScreen) and app.screen.loaded not in (None, before)
            ),
            timeout=30,
        )
        assert isinstance(app.screen, AlertsScreen)
        return app.screen

    def drift(screen: AlertsScreen) -> list[str]:
        assert screen.loaded is not None
        return [p.message for h in screen.loaded.healths for p in h.problems if p.check == "drift"]

    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: status_loaded(app), timeout=30)
        panel = app.screen.query_one(TargetPanel)
        await wait_until(pilot, lambda: panel.health is not None, timeout=30)
        assert panel.sums.hashed == 2  # the status read both once

        screen = await alerts("h")
        assert drift(screen) == []
        assert panel.sums.hashed == 2  # (each opening read both again)
        screen = await alerts("ctrl+r")
        assert panel.sums.hashed == 2
        await pilot.press("escape")
        screen = await alerts("h")
        assert panel.sums.hashed == 2

        kelas.write_text(EDITED, encoding="utf-8")
        screen = await alerts("ctrl+r")
        assert panel.sums.hashed == 3  # the edited file, and it alone
        said = drift(screen)
        assert len(said) == 1 and kelas.name in said[0], said


def test_the_preview_of_a_rollback_to_the_head_says_the_migrations_stay(
    tmp_path: Path, mdirs: MigrationDirs
) -> None:
    """The console's rollback to the newest applied version said "nothing to roll back: no
    migration is applied" over a database holding them all, read at 2 a.m. as a wiped one;
    it says what the CLI says (:func:`malnu_tui.engine.status.nothing_to_roll_back`)."""
    from malnu_tui.tui.screens.rollback_preview import RollbackChoice, preview_rollback

    cfg = _applied(tmp_path, mdirs)
    target = load_settings(config=str(cfg), env={}).target(None)
    preview = preview_rollback(target, RollbackChoice("to", to="20250101_000200"))
    assert preview.problems == (
        "nothing to roll back: no applied migration is newer than 20250101_000200 "
        "(2 applied, head 20250101_000200; they stay applied)",
    )
