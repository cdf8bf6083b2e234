"""Opening the console and looking around writes nothing: every configured target's status,
the audit log, the health view, the lock, the rollback preview and the restore wizard's
verification are read as a dry run reads them. It opened every target as a command that
writes: an earlier version's SQLite tool tables upgraded, a PostgreSQL database given the
tool's tables, D1 sent CREATE TABLE (a new bookmark), before the operator did anything. The
first operation that writes makes them."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import psycopg
import pytest

from malnu_tui.engine.config import load_settings
from malnu_tui.tui.app import MalnuApp
from malnu_tui.tui.screens.alerts import AlertsScreen
from malnu_tui.tui.screens.audit import AuditScreen
from malnu_tui.tui.screens.backups import BackupBrowser
from malnu_tui.tui.screens.restore import RestoreWizard
from malnu_tui.tui.screens.status import StatusScreen
from malnu_tui.tui.screens.unlock import UnlockScreen
from malnu_tui.tui.screens.wizard import WizardScreen
from tests.fixtures_core import MigrationDirs, run_cli, school_set
from tests.fixtures_d1 import D1Target
from tests.tui_demo import status_loaded, wait_until

pytestmark = pytest.mark.anyio
FIXTURES = Path(__file__).parent / "fixtures" / "upgrade"


def _file(path: Path) -> tuple[str, int, list[str]]:
    data = hashlib.sha256(path.read_bytes()).hexdigest()
    return data, path.stat().st_mtime_ns, sorted(p.name for p in path.parent.iterdir())


def _pg_tables(url: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname NOT IN "
            "('pg_catalog', 'information_schema')"
        ).fetchall()


async def test_looking_around_the_console_writes_to_no_target(
    tmp_path: Path, mdirs: MigrationDirs, pg_url: str, d1: D1Target
) -> None:
    school_set(mdirs)
    (tmp_path / "db").mkdir()
    old, fresh = tmp_path / "db" / "old.db", tmp_path / "db" / "none-yet.db"
    conn = sqlite3.connect(old)  # the first release's tool tables (no audit index, no purpose)
    conn.executescript((FIXTURES / "84e3c15_sqlite_tool_tables.sql").read_text(encoding="utf-8"))
    conn.close()
    targets = {"old": f"sqlite:///{old}", "fresh": f"sqlite:///{fresh}", "pg": pg_url,
               "d1": d1.url}  # fmt: skip
    cfg = tmp_path / "malnu.toml"
    cfg.write_text(
        f'[backup]\ndir = "{tmp_path / "backups"}"\n'
        + "".join(
            f'[targets.{name}]\nurl = "{url}"\nmigrations_dir = "{mdirs.migrations}"\n'
            f'rollback_dir = "{mdirs.rollback}"\n'
            for name, url in targets.items()
        ),
        encoding="utf-8",
    )
    # A backup of it (taking one upgrades the file: a command that writes), then the file of
    # the first release put back, as it was: the restore wizard's "verify" step reads it.
    assert run_cli("--config", str(cfg), "--target", "old", "backup", "create").code == 0
    old.unlink()
    conn = sqlite3.connect(old)
    conn.executescript((FIXTURES / "84e3c15_sqlite_tool_tables.sql").read_text(encoding="utf-8"))
    conn.close()
    before = _file(old)
    bookmarks = len(d1.db.snapshots)
    first = len(d1.server.requests)

    settings = load_settings(config=str(cfg))
    app = MalnuApp(settings=settings, target=settings.target("old"))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: status_loaded(app), timeout=30)
        for _ in targets:  # each target's panel in turn
            await pilot.press("t")
            await pilot.pause(0.1)
        await wait_until(pilot, lambda: status_loaded(app), timeout=30)
        await pilot.press("l")
        await wait_until(pilot, lambda: isinstance(app.screen, AuditScreen), timeout=30)
        await pilot.pause(0.3)
        await pilot.press("escape")
        await pilot.press("h")
        await wait_until(
            pilot, lambda: isinstance(app.screen, AlertsScreen) and app.screen.loaded is not None,
            timeout=30,
        )  # fmt: skip
        await pilot.press("escape")
        await pilot.press("U")
        await wait_until(
            pilot, lambda: isinstance(app.screen, UnlockScreen) and app.screen.state is not None,
            timeout=30,
        )  # fmt: skip
        await pilot.press("escape")
        await pilot.press("r")
        await wait_until(pilot, lambda: isinstance(app.screen, WizardScreen), timeout=30)
        await pilot.press("n")  # how far → the preview of the rollback
        screen = app.screen
        await wait_until(pilot, lambda: not getattr(screen, "working", False), timeout=30)
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, StatusScreen), timeout=30)
        await pilot.press("b")  # the restore wizard's first step: the backup verified, the lock
        await wait_until(
            pilot, lambda: isinstance(app.screen, BackupBrowser) and bool(app.screen.manifests),
            timeout=30,
        )  # fmt: skip
        await pilot.press("o")
        await wait_until(
            pilot,
            lambda: isinstance(app.screen, RestoreWizard) and app.screen.step == "verify"
            and not app.screen.working,
            timeout=30,
        )  # fmt: skip
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, BackupBrowser), timeout=30)
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, StatusScreen), timeout=30)
        panels = {p.target.name: p.report for p in app.status_screen.query("TargetPanel")}
        await pilot.press("q")

    assert _file(old) == before  # was: the lock's purpose column and the audit index added
    assert not fresh.exists()  # was: created with the tool's tables
    assert _pg_tables(pg_url) == []  # was: migrations, malnu_audit, malnu_lock
    assert len(d1.db.snapshots) == bookmarks  # was: CREATE TABLE … sent, a new bookmark
    bodies = [r.body.upper() for r in d1.server.requests[first:]]
    assert bodies and not [b for b in bodies if "CREATE " in b or "INSERT " in b]
    # and each was read: the old file as it is, the others as nothing applied yet
    summaries = {name: report.summary() for name, report in panels.items() if report}
    assert set(summaries) == set(targets), summaries
    assert all("3 pending" in summaries[n] for n in ("fresh", "pg", "d1")), summaries

    # The first operation that writes makes (or upgrades) them.
    res = run_cli("--config", str(cfg), "--target", "pg", "up", "--yes", env=d1.env)
    assert res.code == 0, res.err
    assert ("migrations",) in _pg_tables(pg_url)


async def test_the_import_wizards_preview_and_validation_leave_the_file_as_it_was(
    tmp_path: Path, mdirs: MigrationDirs
) -> None:
    """An application's own database, never used by the tool, in rollback-journal mode: the
    preview and the validation (a dry run) made the tool's tables in it and switched it to WAL
    for good, before the operator confirmed anything."""
    from textual.widgets import Button, Input

    from malnu_tui.tui.screens.data_import import ImportWizard

    db = tmp_path / "db" / "app.db"
    db.parent.mkdir()
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE users (email TEXT NOT NULL UNIQUE, name TEXT)")
    conn.commit()
    conn.close()
    csv = tmp_path / "u.csv"
    csv.write_text("email,name\nsiti@sekolah.id,Siti\nbudi@sekolah.id,Budi\n", encoding="utf-8")
    cfg = tmp_path / "malnu.toml"
    cfg.write_text(
        f'[backup]\ndir = "{tmp_path / "backups"}"\n[targets.app]\nurl = "sqlite:///{db}"\n'
        f'migrations_dir = "{mdirs.migrations}"\nrollback_dir = "{mdirs.rollback}"\n',
        encoding="utf-8",
    )
    before = _file(db)
    settings = load_settings(config=str(cfg))
    app = MalnuApp(settings=settings, target=settings.target("app"))

    def ready(step: str) -> bool:
        s = app.screen
        return isinstance(s, WizardScreen) and s.step == step and not s.working

    async with app.run_test(size=(100, 32)) as pilot:
        await wait_until(pilot, lambda: status_loaded(app), timeout=30)
        await pilot.press("i")
        await wait_until(pilot, lambda: isinstance(app.screen, ImportWizard), timeout=30)
        screen = app.screen
        screen.query_one("#import-file", Input).value = str(csv)
        screen.query_one("#import-table", Input).value = "users"
        await pilot.pause()
        screen.query_one("#next", Button).focus()
        await pilot.press("n")
        await wait_until(pilot, lambda: ready("preview"), timeout=30)
        await pilot.press("n")
        await wait_until(pilot, lambda: ready("validate"), timeout=30)
        assert "2 rows read: 2 to insert" in str(screen.query_one("#validate-text").render())
        await pilot.press("escape")
        await pilot.press("q")

    assert _file(db) == before
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master")]
    assert names == ["users", "sqlite_autoindex_users_1"]
