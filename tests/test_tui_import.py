"""The console's import wizard driven with Pilot on the demo's real SQLite database: reached from
the status screen (i) and the palette, preview → validation → typed confirmation → run →
result, then the table, the safety backup and the audit row checked; plus SVG snapshots."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Button, DataTable, Input, Static

from malnu_tui.engine.backup import list_backups
from malnu_tui.tui.app import MalnuApp
from malnu_tui.tui.screens.data_import import ImportWizard
from malnu_tui.tui.screens.status import StatusScreen
from malnu_tui.tui.screens.wizard import WizardScreen
from malnu_tui.tui.widgets.error_box import ErrorBox
from tests.import_support import EXAMPLES
from tests.test_tui_snapshots import app_for, at_step, settle, settle_threads, status_loaded
from tests.test_tui_snapshots import demo as demo  # the fixed-path demo fixture (snapshots)
from tests.tui_demo import Demo, build_demo, run_from_palette, wait_until

SnapCompare = Callable[..., bool]


def _ready(app: MalnuApp, step: str) -> bool:
    s = app.screen
    return isinstance(s, WizardScreen) and s.step == step and not s.working and s.blocked is None


def _fill(app: MalnuApp, root: Path, max_errors: str = "2") -> None:
    for name in ("legacy_users.csv", "legacy_users.toml"):
        shutil.copy(EXAMPLES / name, root / name)
    screen = app.screen
    screen.query_one("#import-file", Input).value = str(root / "legacy_users.csv")
    screen.query_one("#import-table", Input).value = "users"
    screen.query_one("#import-map", Input).value = str(root / "legacy_users.toml")
    screen.query_one("#import-max", Input).value = max_errors


async def _open_wizard(pilot: Pilot[Any], app: MalnuApp) -> ImportWizard:
    """The import wizard, opened from the status screen with its key."""
    await wait_until(pilot, lambda: status_loaded(app))
    await pilot.press("i")
    await wait_until(pilot, lambda: isinstance(app.screen, ImportWizard))
    screen = app.screen
    assert isinstance(screen, ImportWizard)
    return screen


async def _next(pilot: Pilot[Any], screen: WizardScreen) -> None:
    """Next ▶ pressed with its key (n), from the step's button."""
    screen.query_one("#next", Button).focus()
    await pilot.press("n")


@pytest.mark.anyio
async def test_import_wizard_end_to_end(tmp_path: Path) -> None:
    """(A trigger of the table drops one row: its warning, the CLI's, on the result; the
    console said a plain success.)"""
    d = build_demo(tmp_path / "demo")
    with sqlite3.connect(d.primary_db) as conn:
        conn.execute(
            "CREATE TRIGGER no_admin BEFORE INSERT ON users WHEN NEW.email LIKE 'admin@%' "
            "BEGIN SELECT RAISE(IGNORE); END"
        )
    app = app_for(d)
    async with app.run_test(size=(100, 32)) as pilot:
        screen = await _open_wizard(pilot, app)
        _fill(app, d.root)
        await pilot.pause()
        await _next(pilot, screen)
        await wait_until(pilot, lambda: _ready(app, "preview"))
        preview = str(screen.query_one("#preview-text", Static).render())
        assert "comma delimiter" in preview and "role ← from user_type" in preview
        assert "✔ schema check" in preview
        assert screen.query_one("#preview-rows", DataTable).row_count == 10  # file, → table
        await pilot.press("n")
        await wait_until(pilot, lambda: _ready(app, "validate"), timeout=20)
        report = str(screen.query_one("#validate-text", Static).render())
        assert "7 rows read: 4 to insert" in report and "2 rejected" in report
        assert "1 to skip" in report  # the trigger's, seen by the validation's trial
        assert "⚠ warning: dry run:" in report and "no_admin" in report  # named before
        rejects = screen.query_one("#validate-rejects", DataTable)
        assert rejects.row_count == 2 and [str(c) for c in rejects.get_row_at(0)[::2]] == [
            "7",
            "role",
        ]
        assert d.tables() and _count(d.primary_db) == 0  # validation wrote nothing
        await pilot.press("n")
        assert screen.step == "confirm" and screen.query_one("#next", Button).disabled
        await pilot.press(*"schoo")
        assert screen.query_one("#next", Button).disabled
        await pilot.press("l", "enter")
        await wait_until(
            pilot, lambda: isinstance(app.screen, ImportWizard) and screen.finished, timeout=30
        )
        result = str(screen.query_one("#result-text", Static).render())
        assert "✔ committed" in result and "inserted 4" in result and "0 → 4 rows" in result
        assert "rejects file:" in result and "skipped 1" in result
        assert "⚠ warning: the import is committed, but: " in result and "no_admin" in result
        await pilot.press("escape")
        assert isinstance(app.screen, StatusScreen)
    assert _count(d.primary_db) == 4
    manifests = list_backups(d.target().backup_dir)
    assert [m.reason for m in manifests] == ["pre-import"]
    with sqlite3.connect(d.primary_db) as conn:
        audit = conn.execute(
            "SELECT outcome, detail FROM malnu_audit WHERE action = 'import'"
        ).fetchall()
    assert len(audit) == 1 and audit[0][0] == "ok" and "sha256" in audit[0][1]


@pytest.mark.anyio
async def test_import_over_the_limit_stops_before_confirmation_and_palette_opens_it(
    tmp_path: Path,
) -> None:
    d = build_demo(tmp_path / "demo")
    app = app_for(d)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: status_loaded(app))
        await run_from_palette(pilot, app, "import a csv", "Import a CSV file or a table")
        await wait_until(pilot, lambda: isinstance(app.screen, ImportWizard))
        screen = app.screen
        assert isinstance(screen, ImportWizard)
        _fill(app, d.root, max_errors="0")
        screen.query_one("#import-conflict", Input).value = "maybe"
        await pilot.pause()
        await _next(pilot, screen)
        await pilot.pause()
        assert screen.step == "source"  # refused with the reason, nothing read
        assert "none of update, skip, error" in screen.query_one("#wizard-error", ErrorBox).text
        screen.query_one("#import-conflict", Input).value = "skip"
        await pilot.pause()
        await _next(pilot, screen)
        await wait_until(pilot, lambda: _ready(app, "preview"))
        await pilot.press("n")
        await wait_until(
            pilot,
            lambda: (
                screen.step == "validate" and not screen.working and screen.blocked != "loading…"
            ),
            timeout=20,
        )
        assert screen.blocked and "too many rejected rows" in screen.blocked
        assert "over the limit" in str(screen.query_one("#validate-text", Static).render())
        # esc, pressed to go back, dropped every field typed with nothing said: it says
        # what a second esc drops, and b goes back to them.
        await pilot.press("escape")
        assert app.screen is screen
        said = [str(n.message) for n in app._notifications]
        assert any(
            "esc again cancels and drops what you typed (CSV file, into table, mapping "
            "(optional), on conflict); b goes back to it" in m
            for m in said
        ), said
        await pilot.press("escape")
        assert isinstance(app.screen, StatusScreen)
    assert _count(d.primary_db) == 0


def _count(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM users").fetchone()[0])


def _to_step(step: str) -> Callable[[Pilot[Any]], Any]:
    async def run(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, MalnuApp)
        await wait_until(pilot, lambda: status_loaded(app))
        await pilot.press("i")
        await wait_until(pilot, lambda: at_step(app, "source"))
        root = Path(app.settings.config_path or ".").parent
        _fill(app, root)
        await pilot.pause()
        if step == "source":  # the fields as filled: each value on its row, readable
            await settle(pilot)
            return
        app.screen.query_one("#next", Button).focus()
        await pilot.press("n")
        await wait_until(pilot, lambda: at_step(app, "preview"))
        if step == "validate":
            await pilot.press("n")
            await wait_until(pilot, lambda: at_step(app, "validate"))
        await settle(pilot)

    return run


@pytest.mark.xdist_group("tui")
@pytest.mark.parametrize(
    ("step", "size"),
    [("source", (80, 24)), ("preview", (80, 24)), ("validate", (120, 40))],
    ids=["source", "preview", "validate"],
)
def test_import_wizard_snapshot(
    snap_compare: SnapCompare,
    demo: Demo,
    size: tuple[int, int],
    step: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("malnu_tui.engine.data.run.utc_now_iso", lambda: "2026-11-20T09:30:00Z")
    assert snap_compare(app_for(demo), terminal_size=size, run_before=_to_step(step))
    settle_threads()


@pytest.mark.anyio
async def test_import_wizard_reads_a_sheet_with_a_title_above_its_header(tmp_path: Path) -> None:
    """A Dapodik-style download (the school's name and the date above the header): the
    wizard's header line, as `import --header-line`; line numbers stay the file's."""
    d = build_demo(tmp_path / "demo")
    app = app_for(d)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open_wizard(pilot, app)
        _fill(app, d.root)
        sheet = d.root / "legacy_users.csv"
        sheet.write_text(
            "Daftar Pengguna MA Malnu Kananga\nDiunduh 20/11/2026\n" + sheet.read_text()
        )
        header = screen.query_one("#import-header", Input)
        header.value = "tiga"
        await pilot.pause()
        await _next(pilot, screen)
        await pilot.pause()
        assert screen.step == "source"
        assert "not a whole number: 'tiga'" in screen.query_one("#wizard-error", ErrorBox).text
        header.value = "3"
        await pilot.pause()
        await _next(pilot, screen)
        await wait_until(pilot, lambda: _ready(app, "preview"))
        assert "✔ schema check" in str(screen.query_one("#preview-text", Static).render())
        await pilot.press("n")
        await wait_until(pilot, lambda: _ready(app, "validate"), timeout=20)
        report = str(screen.query_one("#validate-text", Static).render())
        assert "7 rows read: 5 to insert" in report and "2 rejected" in report
        rejects = screen.query_one("#validate-rejects", DataTable)
        assert [str(c) for c in rejects.get_row_at(0)[::2]] == [
            "9",
            "role",
        ]  # line 7 of the bare file, + 2
    assert _count(d.primary_db) == 0


@pytest.mark.anyio
async def test_import_wizard_takes_the_files_encoding_and_delimiter(tmp_path: Path) -> None:
    """An old Excel export (cp1252, semicolons): the wizard's encoding and delimiter fields, as
    --encoding and --delimiter; a delimiter that is no character is refused on the spot."""
    d = build_demo(tmp_path / "demo")
    sheet = d.root / "pengguna.csv"
    sheet.write_bytes(
        "id;email;name;created_at;updated_at\n"
        "1;jose@malnu.sch.id;José Rizal;2026-11-20 07:00:00;2026-11-20 07:00:00\n".encode("cp1252")
    )
    app = app_for(d)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open_wizard(pilot, app)
        for field, value in (("file", str(sheet)), ("table", "users"), ("encoding", "cp1252")):
            screen.query_one(f"#import-{field}", Input).value = value
        screen.query_one("#import-delimiter", Input).value = ";;"
        await pilot.pause()
        await _next(pilot, screen)
        # Waited for, not a fixed pause: a loaded box paints it later (a failed run).
        error = screen.query_one("#wizard-error", ErrorBox)
        await wait_until(pilot, lambda: "must be one character" in error.text)
        assert screen.step == "source"
        screen.query_one("#import-delimiter", Input).value = ";"
        await pilot.pause()
        await _next(pilot, screen)
        await wait_until(pilot, lambda: _ready(app, "preview"))
        preview = str(screen.query_one("#preview-text", Static).render())
        assert "cp1252" in preview and "semicolon delimiter" in preview, preview
        rows = screen.query_one("#preview-rows", DataTable)
        assert "José Rizal" in [str(c) for c in rows.get_row_at(1)]


@pytest.mark.anyio
async def test_import_wizard_reads_a_table_of_another_target(tmp_path: Path) -> None:
    """The legacy database's table as the source (`import --from TARGET:TABLE`): the console
    reaches it through the engine's one way of opening it; both a file and a table, or a
    label that is no TARGET:TABLE, are said on the spot."""
    d = build_demo(tmp_path / "demo")
    with sqlite3.connect(d.staging_db) as conn:
        conn.execute("CREATE TABLE pengguna_lama (email TEXT PRIMARY KEY, name TEXT, role TEXT)")
        conn.executemany(
            "INSERT INTO pengguna_lama VALUES (?, ?, ?)",
            [(f"siswa{i}@malnu.sch.id", f"Siswa {i}", "student") for i in range(3)],
        )
    app = app_for(d)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open_wizard(pilot, app)
        screen.query_one("#import-table", Input).value = "users"
        source = screen.query_one("#import-from", Input)
        source.value = "pengguna_lama"
        await pilot.pause()
        await _next(pilot, screen)
        await wait_until(pilot, lambda: screen.last_error is not None)
        assert "expected TARGET:TABLE" in screen.query_one("#wizard-error", ErrorBox).text
        assert screen.step == "preview"  # the label is read where the source is opened
        await pilot.press("b")  # Back
        await wait_until(pilot, lambda: screen.step == "source")
        source.value = "staging:pengguna_lama"
        screen.query_one("#import-file", Input).value = str(d.root / "x.csv")
        await pilot.pause()
        await _next(pilot, screen)
        await pilot.pause()
        assert screen.step == "source"
        assert "not both" in screen.query_one("#wizard-error", ErrorBox).text
        screen.query_one("#import-file", Input).value = ""
        await pilot.pause()
        await _next(pilot, screen)
        await wait_until(pilot, lambda: _ready(app, "preview"))
        preview = str(screen.query_one("#preview-text", Static).render())
        assert "table pengguna_lama of staging" in preview and "✔ schema check" in preview
        await pilot.press("n")
        await wait_until(pilot, lambda: _ready(app, "validate"), timeout=20)
        report = str(screen.query_one("#validate-text", Static).render())
        assert "3 rows read: 3 to insert" in report, report
        await pilot.press("n")
        await pilot.press(*"school", "enter")
        await wait_until(pilot, lambda: screen.finished, timeout=30)
        assert "inserted 3" in str(screen.query_one("#result-text", Static).render())
    assert _count(d.primary_db) == 3
