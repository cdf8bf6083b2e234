"""The console's SQL view of a migration too large to translate whole (the CLI's rule,
TRANSLATE_WHOLE_BYTES): it read and translated the whole file, holding hundreds of MB, while
the CLI's `plan` refuses it. Now it says so in one line and shows the head of the file, read in
pieces; the migrations after it are still translated (the seed for the schema it leaves, a
statement at a time). A real 17 MB seed, the real app at 80×24."""

from __future__ import annotations

from pathlib import Path

import pytest

from malnu_tui.engine.config import load_settings
from malnu_tui.engine.translate import TRANSLATE_WHOLE_BYTES
from malnu_tui.tui.app import MalnuApp
from malnu_tui.tui.screens.sql_view import HEAD_CHARS, SqlViewScreen
from malnu_tui.tui.widgets.plain import DataTable, Static
from tests.fixtures_core import MigrationDirs, school_config
from tests.tui_demo import screen_text, status_loaded, wait_until

pytestmark = pytest.mark.anyio

SEED = "20250102_000000_seed.sql"
LATER = "20250103_000000_kelas.sql"


def _project(tmp_path: Path, mdirs: MigrationDirs) -> MalnuApp:
    mdirs.add(
        "20250101_000000",
        "siswa",
        "CREATE TABLE siswa (id INTEGER PRIMARY KEY, nama TEXT, aktif BOOLEAN DEFAULT 1);",
        "DROP TABLE siswa;",
    )
    note = "catatan " * 200
    line_of = "INSERT INTO siswa (id, nama, aktif) VALUES ({i}, 'Siswa {i} {note}', {a});\n"
    rows = TRANSLATE_WHOLE_BYTES // len(line_of.format(i=5000, note=note, a=1)) + 200
    seed = "".join(line_of.format(i=i, note=note, a=i % 2) for i in range(1, rows + 1))
    path = mdirs.add("20250102_000000", "seed", seed, "DELETE FROM siswa;")
    assert path.stat().st_size > TRANSLATE_WHOLE_BYTES
    mdirs.add(
        "20250103_000000",
        "kelas",
        "ALTER TABLE siswa ADD COLUMN kelas TEXT DEFAULT 'X';\n"
        "CREATE INDEX siswa_aktif ON siswa (aktif) WHERE aktif = 1;",
        "DROP INDEX siswa_aktif; ALTER TABLE siswa DROP COLUMN kelas;",
    )
    cfg = school_config(tmp_path, f"sqlite:///{tmp_path / 'school.db'}", mdirs)
    settings = load_settings(config=str(cfg))
    return MalnuApp(settings=settings, target=settings.target("school"))


def _loaded(app: MalnuApp, filename: str) -> bool:
    s = app.screen
    return isinstance(s, SqlViewScreen) and s.status.filename == filename and s.bundle is not None


async def test_a_seed_too_large_to_translate_is_said_in_one_line_and_shown_in_part(
    tmp_path: Path, mdirs: MigrationDirs
) -> None:
    app = _project(tmp_path, mdirs)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: status_loaded(app), timeout=30)
        await pilot.press("home", "down", "enter")
        await wait_until(pilot, lambda: _loaded(app, SEED), timeout=60)
        await pilot.pause(0.3)
        screen = app.screen
        assert isinstance(screen, SqlViewScreen) and screen.bundle is not None
        doc = screen.bundle.migration
        # Not translated, its head only (read in pieces), and the one line that says why.
        assert doc.translation is None
        assert doc.sql is not None and 0 < len(doc.sql) <= HEAD_CHARS
        assert doc.sql.startswith("INSERT INTO siswa (id, nama, aktif) VALUES (1, 'Siswa 1 ")
        assert doc.note is not None and len(doc.note) <= 80
        assert doc.note.startswith("⚠ too large to translate: 16.")
        assert "(over 16 MB)" in doc.note
        shown = screen_text(app)
        assert "⚠ too large to translate: 16." in shown  # at 80×24, the diff layout's top
        diff = str(screen.query_one("#diff-text", Static).render())
        assert diff.startswith(doc.note)
        table = screen.query_one("#findings", DataTable)
        first = [str(c) for c in table.get_row_at(0)]
        assert first[1:3] == ["⚠ too large", "translation"]
        # Its rollback is small: translated, for the schema the seed leaves.
        await pilot.press("r")
        await pilot.pause(0.2)
        rb = screen.bundle.rollback
        assert rb.translation is not None and rb.note is None
        assert rb.translation.postgres_sql().strip() == "DELETE FROM siswa;"
        # The migration after the seed is translated as before (the seed a statement at a time).
        await pilot.press("escape")
        await wait_until(pilot, lambda: status_loaded(app), timeout=30)
        await pilot.press("home", "down", "down", "enter")
        await wait_until(pilot, lambda: _loaded(app, LATER), timeout=60)
        later = app.screen
        assert isinstance(later, SqlViewScreen) and later.bundle is not None
        ldoc = later.bundle.migration
        assert ldoc.note is None and ldoc.translation is not None
        assert "CREATE INDEX siswa_aktif ON siswa(aktif) WHERE aktif = TRUE" in (
            ldoc.translation.postgres_sql()
        )
