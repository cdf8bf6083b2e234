"""The console's SQL view of a migration too large to translate whole (the CLI's rule,
TRANSLATE_WHOLE_BYTES): it read and translated the whole file, holding hundreds of MB, while
the CLI's `plan` refuses it. Now it says so in one line and shows the head of the file, read in
pieces; the migrations after it are still translated (the seed for the schema it leaves, a
statement at a time). A real 17 MB seed, the real app at 80×24."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from malnu_tui.engine.config import load_settings
from malnu_tui.engine.translate import TRANSLATE_WHOLE_BYTES
from malnu_tui.tui.app import MalnuApp
from malnu_tui.tui.screens.sql_pages import PIECE_BYTES, Piece
from malnu_tui.tui.screens.sql_view import SqlViewScreen
from malnu_tui.tui.screens.status import StatusScreen
from malnu_tui.tui.widgets.fields import SqlText
from malnu_tui.tui.widgets.plain import DataTable, Static
from tests.fixtures_core import MigrationDirs, school_config
from tests.test_tui_snapshots import app_for, settle, settle_threads
from tests.test_tui_snapshots import demo as demo  # the fixture
from tests.tui_demo import Demo, screen_text, status_loaded, wait_until

pytestmark = pytest.mark.anyio

SEED = "20250102_000000_seed.sql"
LATER = "20250103_000000_kelas.sql"
DELETE_AT = 201  # the seed's line of a DELETE without WHERE (the lint names it)


def _project(tmp_path: Path, mdirs: MigrationDirs) -> tuple[MalnuApp, int]:
    """The console on a project whose second migration is a seed over 16 MB (its rows, one a
    line: the app and how many)."""
    mdirs.add(
        "20250101_000000",
        "siswa",
        "CREATE TABLE siswa (id INTEGER PRIMARY KEY, nama TEXT, aktif BOOLEAN DEFAULT 1);",
        "DROP TABLE siswa;",
    )
    note = "catatan " * 200
    line_of = "INSERT INTO siswa (id, nama, aktif) VALUES ({i}, 'Siswa {i} {note}', {a});\n"
    rows = TRANSLATE_WHOLE_BYTES // len(line_of.format(i=5000, note=note, a=1)) + 200
    lines = [line_of.format(i=i, note=note, a=i % 2) for i in range(1, rows + 1)]
    lines.insert(DELETE_AT - 1, "DELETE FROM siswa;\n")  # a lint finding past the first piece
    path = mdirs.add("20250102_000000", "seed", "".join(lines), "DELETE FROM siswa;")
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
    return MalnuApp(settings=settings, target=settings.target("school")), rows


async def _seed_view(pilot: Pilot[Any], app: MalnuApp) -> SqlViewScreen:
    """The SQL view of the seed, opened from the status screen, loaded and painted."""
    await wait_until(pilot, lambda: status_loaded(app), timeout=30)
    await pilot.press("home", "down", "enter")
    await wait_until(pilot, lambda: _loaded(app, SEED), timeout=60)
    await wait_until(pilot, lambda: "⚠ too large to translate: 16." in screen_text(app))
    screen = app.screen
    assert isinstance(screen, SqlViewScreen) and screen.bundle is not None
    return screen


def _shown_piece(screen: SqlViewScreen) -> Piece:
    """The piece of the large file the view shows, its note one line of 80 columns at most."""
    assert screen.bundle is not None
    doc = screen.bundle.migration
    assert doc.piece is not None and doc.sql == doc.piece.text and doc.note is not None
    assert len(doc.note) <= 80 and 0 < len(doc.sql) <= PIECE_BYTES
    return doc.piece


def _loaded(app: MalnuApp, filename: str) -> bool:
    s = app.screen
    return isinstance(s, SqlViewScreen) and s.status.filename == filename and s.bundle is not None


async def test_a_seed_too_large_to_translate_is_said_in_one_line_shown_in_part_and_paged(
    tmp_path: Path, mdirs: MigrationDirs
) -> None:
    """One app run, one 17 MB seed opened once (each opening translates the migrations before
    it): the one line and the head; N / p / n / P; n / p / g a piece at a time; its rollback;
    the migration after it."""
    app, rows = _project(tmp_path, mdirs)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _seed_view(pilot, app)
        source = screen.query_one("#source", SqlText)
        findings = screen.query_one("#findings", DataTable)
        (row,) = [i for i in range(findings.row_count) if str(findings.get_row_at(i)[0]) == "201"]

        def piece() -> Piece:
            return _shown_piece(screen)

        def listed() -> set[str]:  # the piece keys on the more: line
            keys = ("n Next piece", "p Prev piece", "P First piece", "N Last piece")
            return {k for k in keys if k in screen_text(app)}

        def told(words: str) -> bool:
            return any(words in str(n.message) for n in app._notifications)

        # -- too large to translate: said in one line, its head shown -------------------------
        doc = screen.bundle.migration
        # Not translated, its head only (read in pieces), and the one line that says why.
        assert doc.translation is None
        assert doc.sql is not None and 0 < len(doc.sql) <= PIECE_BYTES
        assert doc.sql.startswith("INSERT INTO siswa (id, nama, aktif) VALUES (1, 'Siswa 1 ")
        assert doc.note is not None and len(doc.note) <= 80
        assert doc.note.startswith("⚠ too large to translate: 16.")
        assert "(over 16 MB)" in doc.note
        shown = screen_text(app)
        assert "⚠ too large to translate: 16." in shown  # at 80×24, the diff layout's top
        diff = str(screen.query_one("#diff-text", Static).render())
        assert diff.startswith(doc.note)
        first_row = [str(c) for c in findings.get_row_at(0)]
        assert first_row[1:3] == ["⚠ too large", "translation"]

        # -- the first and last piece one key away -------------------------------------------
        # n / p went a piece at a time: the end of a 200 MB seed was ~800 presses away. N reads
        # the last piece from the file's end (its lines not counted: the file before it is not
        # read), p the pieces before it likewise, P the first again.
        first = piece()
        # Only the keys that go somewhere: p and P were listed on the first piece (and N, n
        # on the last) and, pressed, did nothing. (The more: line is drawn with the footer, a
        # refresh after the piece: waited for, as the keys' lines below are.)
        await wait_until(pilot, lambda: listed() == {"n Next piece", "N Last piece"})
        assert "q Quit f1 Help" in screen_text(app)
        await pilot.press("N")
        await wait_until(pilot, lambda: piece().last, timeout=30)
        await wait_until(pilot, lambda: listed() == {"p Prev piece", "P First piece"})
        last = piece()
        assert last.text.endswith(f"VALUES ({rows}, 'Siswa {rows} " + "catatan " * 200 + "', 0);\n")
        assert last.text.startswith("INSERT INTO siswa (id, nama, aktif) VALUES (")
        assert f"the last {last.lines:,} lines" in screen_text(app)
        assert not source.show_line_numbers  # (not the file's numbers: none)
        assert screen.check_action("piece", (2,)) is None  # N: no further
        # g on the lint's finding: this piece's lines are not counted, said so.
        findings.move_cursor(row=row)
        await pilot.press("g")
        await wait_until(pilot, lambda: told("are not counted"))
        # p: the piece that ends where the last one starts.
        await pilot.press("p")
        await wait_until(pilot, lambda: piece().end == last.start.offset, timeout=30)
        before = piece()
        assert before.text.endswith("\n") and not before.last
        await wait_until(pilot, lambda: f"{before.lines:,} lines at " in screen_text(app))
        assert f"{before.lines:,} lines at 9" in screen_text(app)  # (at 9x% of the file)
        await pilot.press("n")
        await wait_until(pilot, lambda: piece().last, timeout=30)
        assert piece().text == last.text
        await pilot.press("P")
        await wait_until(pilot, lambda: piece().first, timeout=30)
        assert piece().text == first.text and piece().start.line == 1
        assert source.show_line_numbers and source.line_number_start == 1
        assert screen.check_action("piece", (-2,)) is None  # P: no further

        # -- the whole seed paged through a piece at a time ----------------------------------
        # The view showed the seed's head and could not go further: an operator looking for
        # row 7,000 of the seed had to leave the console. Now n / p read the next or previous
        # piece in the view's worker (never the whole file), and the one line says where it is.
        n = first.lines
        assert 1 < n < rows
        await wait_until(pilot, lambda: f"lines 1–{n:,} of ~" in screen_text(app))
        shown = screen_text(app)
        assert f"lines 1–{n:,} of ~" in shown  # at 80×24, the diff layout's top
        # The keys, on the line above the footer (in it, q and f1 went under ^p at 80 columns);
        # p only once there is a piece before (see above).
        assert "n Next piece" in shown
        assert "q Quit f1 Help" in shown
        await pilot.press("n")
        await wait_until(pilot, lambda: piece().start.line == n + 1, timeout=30)
        second = piece()
        assert second.text.startswith(f"INSERT INTO siswa (id, nama, aktif) VALUES ({n + 1}, ")
        assert f"lines {n + 1:,}–{n + second.lines:,} of ~" in screen_text(app)
        assert source.line_number_start == n + 1  # the file's own line numbers
        # g on the lint's finding at line 201 goes to that line of this piece (the pane numbers
        # the file's lines; it went to the piece's 201st line).
        findings.move_cursor(row=row)
        await pilot.press("g")
        assert second.start.line <= DELETE_AT < second.start.line + second.lines
        await wait_until(pilot, lambda: source.selection.end[0] == DELETE_AT - second.start.line)
        assert source.document.get_line(DELETE_AT - second.start.line) == "DELETE FROM siswa;"
        await pilot.press("p")
        await wait_until(pilot, lambda: piece().start.line == 1, timeout=30)
        assert piece().text == first.text
        # The first piece has no line 201: said so, the cursor left where it was.
        findings.move_cursor(row=row)
        at = source.selection
        await pilot.press("g")
        await wait_until(pilot, lambda: told("line 201 is in another piece"))
        assert source.selection == at
        # Further on, and back: each piece where the one before it ended.
        await pilot.press("n")
        await wait_until(pilot, lambda: piece().start.line == n + 1, timeout=30)
        await pilot.press("n")
        await wait_until(pilot, lambda: piece().start.line == n + second.lines + 1, timeout=30)
        third = piece()
        assert third.before == (first.start, second.start)
        await pilot.press("p")
        await wait_until(pilot, lambda: piece().start.line == n + 1, timeout=30)
        assert piece().text == second.text

        # -- its rollback, and the migration after it ----------------------------------------
        # Its small rollback has no pieces: no piece keys in the footer.
        await pilot.press("r")
        await wait_until(pilot, lambda: "Next piece" not in screen_text(app))
        # Its rollback is small: translated, for the schema the seed leaves.
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


def test_pieces_walk_the_whole_file_once_in_order_and_back(tmp_path: Path) -> None:
    """What n and p read, to the end of a file over 16 MB and back (the Pilot test above pages
    through the real view; 64 pieces at 80×24 take minutes there): every line once, in order,
    the count exact at the last piece; a line longer than a piece is cut between characters
    (a multi-byte one kept whole) and said as a byte offset; CRLF folded, the BOM dropped."""
    from malnu_tui.tui.screens.sql_pages import next_piece, previous_piece, read_piece

    path = tmp_path / "seed.sql"
    rows = 90_000
    lines = [
        f"INSERT INTO siswa VALUES ({i}, 'Siswa {i} é', {'x' * (i % 300)});" for i in range(rows)
    ]
    long = "INSERT INTO catatan VALUES ('" + "ñ" * (PIECE_BYTES // 2 + 7) + "');"
    text = "\n".join([*lines[:50_000], long, *lines[50_000:]])  # no line end at the end
    path.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    assert path.stat().st_size > TRANSLATE_WHOLE_BYTES
    pieces = [read_piece(path)]
    while not pieces[-1].last:
        pieces.append(next_piece(pieces[-1]))
    assert "".join(p.text for p in pieces) == text
    assert all(len(p.text) <= PIECE_BYTES for p in pieces)
    assert pieces[0].where().startswith("lines 1–") and " of ~" in pieces[0].where()
    # The long line: where it is said in bytes, the pieces around it in lines as before.
    inside = [p for p in pieces if p.where().startswith("at byte ")]
    assert inside and all("catatan" in p.text or "ñ" in p.text for p in inside)
    assert inside[0].start.line == 50_001 and len(inside) == 2
    after = pieces[pieces.index(inside[-1]) + 1]
    assert after.where().startswith(f"lines {after.start.line:,}–")
    for i, p in enumerate(pieces):  # each piece's first line, as the file counts it
        assert p.start.line == 1 + sum(q.text.count("\n") for q in pieces[:i])
    total = rows + 1
    assert pieces[-1].where().endswith(f"–{total:,} of {total:,}")
    back = pieces[-1]
    for expected in reversed(pieces[:-1]):
        back = previous_piece(back)
        assert back.text == expected.text and back.start == expected.start
    assert back.before == ()


def test_pieces_read_from_the_end_walk_back_to_the_start(tmp_path: Path) -> None:
    """What N then p read: from the end of a file over 16 MB back to its start, every line once
    (a line longer than a piece cut between characters, said as a byte offset), the lines of
    each piece not counted until the read reaches the file's start, where the BOM is dropped."""
    from malnu_tui.tui.screens import sql_pages as pages

    path = tmp_path / "seed.sql"
    lines = [f"INSERT INTO siswa VALUES ({i}, 'é', {'x' * (i % 300)});" for i in range(90_000)]
    long = "INSERT INTO catatan VALUES ('" + "ñ" * (PIECE_BYTES // 2 + 7) + "');"
    text = "\n".join([*lines[:50_000], long, *lines[50_000:]]) + "\n"
    path.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    assert path.stat().st_size > TRANSLATE_WHOLE_BYTES
    pieces = [pages.read_back(path)]
    assert pieces[0].last and pieces[0].where() == f"the last {pieces[0].lines:,} lines"
    while not pieces[-1].first:
        pieces.append(pages.previous_piece(pieces[-1]))
    pieces.reverse()
    assert "".join(p.text for p in pieces) == text
    assert all(len(p.text) <= PIECE_BYTES and p.lines <= pages.PIECE_LINES for p in pieces)
    assert all(a.end == b.start.offset for a, b in itertools.pairwise(pieces))
    assert pieces[0].start.line == 1 and pieces[0].where().startswith("lines 1–")
    assert all(p.start.line == pages.UNKNOWN_LINE for p in pieces[1:])
    assert any(p.where().startswith("at byte ") for p in pieces)
    middle = pieces[len(pieces) // 2]
    assert middle.where().startswith(f"{middle.lines:,} lines at ")


@pytest.mark.xdist_group("tui")
def test_the_second_piece_of_a_seed_snapshot(snap_compare: Callable[..., bool], demo: Demo) -> None:
    """80×24: the demo's pending seed over 16 MB, its second piece (n): where it is in the
    file in the one line, the piece keys on the line above the footer."""
    row = (
        "INSERT INTO users (id, email, name, created_at, updated_at) VALUES ({i}, "
        "'siswa{i}@malnu.sch.id', 'Siswa {i}', '2026-11-20 07:00:00', '2026-11-20 07:00:00');\n"
    )
    rows = TRANSLATE_WHOLE_BYTES // len(row.format(i=50_000)) + 500
    seed = demo.root / "migrations" / "20251126_000000_seed_siswa.sql"
    seed.write_text("".join(row.format(i=i) for i in range(1, rows + 1)), encoding="utf-8")
    assert seed.stat().st_size > TRANSLATE_WHOLE_BYTES

    async def run(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, MalnuApp)
        await wait_until(pilot, lambda: status_loaded(app), timeout=60)
        screen = app.screen
        assert isinstance(screen, StatusScreen)
        for _ in range(30):  # down the table to the seed (the keys an operator presses)
            chosen = screen.current_selection()
            if chosen is not None and chosen[0].filename == seed.name:
                break
            await pilot.press("down")
        await pilot.press("enter")
        await wait_until(pilot, lambda: _loaded(app, seed.name), timeout=120)
        await pilot.press("n")
        await wait_until(pilot, lambda: _second(app), timeout=60)
        await settle(pilot)

    assert snap_compare(app_for(demo), terminal_size=(80, 24), run_before=run)
    settle_threads()


def _second(app: MalnuApp) -> bool:
    s = app.screen
    piece = s.bundle.migration.piece if isinstance(s, SqlViewScreen) and s.bundle else None
    return piece is not None and len(piece.before) == 1
