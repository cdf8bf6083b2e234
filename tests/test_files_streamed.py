"""A large migration file (a legacy seed) is run, planned and linted from the file piece by
piece (engine/filestatements.py), never held whole: the same statements, lines, SQL, findings,
applied rows and checksums as the file read whole, in a bounded part of the memory."""

from __future__ import annotations

import sqlite3
import tracemalloc
from pathlib import Path

import psycopg
import pytest

from malnu_tui.engine import files, filestatements
from malnu_tui.engine.config import Target, open_backend
from malnu_tui.engine.errors import MigrationFileError
from malnu_tui.engine.files import checksum_bytes, discover
from malnu_tui.engine.filestatements import CHUNK, FileStatements
from malnu_tui.engine.lint.core import lint_migrations
from malnu_tui.engine.lint.target import lint_target
from malnu_tui.engine.migrate import apply_plan, plan_up
from malnu_tui.engine.preflight import preflight_apply
from tests.fixtures_core import MigrationDirs, run_cli

_TABLE = "CREATE TABLE siswa (id INTEGER PRIMARY KEY, nis TEXT NOT NULL, nama TEXT, note TEXT);\n"
# Every few thousand rows, something the splitter must read whole across a piece's end: a
# string over lines holding ';', a comment with ';', a trigger body, a lint:ignore'd DROP.
_ODD = (
    "INSERT INTO siswa (id, nis, nama, note) VALUES ({i}, '{i:010d}', 'multi\nline; name',\n"
    "  'x -- not a comment');\n"
    "-- a comment; with semicolons;\n"
    "CREATE TRIGGER t{i} AFTER UPDATE ON siswa BEGIN\n  UPDATE siswa SET nama = nama;\nEND;\n"
    "DROP TRIGGER t{i};\n"
    "-- lint:ignore DELETE-ALL-ROWS the seed starts from an empty table\n"
    "DELETE FROM kosong;\n"
)


def _seed(rows: int, *, crlf: bool = False, per: int = 1, note: str = "") -> bytes:
    """A template-style seed (BOM, its own BEGIN/COMMIT and tracking INSERT) of ``rows``, in
    INSERTs of up to ``per`` rows each (a dump's extended INSERTs), each note ending ``note``."""
    out = ["-- Description: legacy seed\n-- Author: tu\nBEGIN TRANSACTION;\n"]
    batch: list[str] = []

    def insert() -> None:
        if batch:
            out.append("INSERT INTO siswa (id, nis, nama, note) VALUES " + ",\n  ".join(batch))
            out.append(";\n")
            batch.clear()

    for i in range(1, rows + 1):
        if i % 4000 == 0:
            insert()
            out.append(_ODD.format(i=i))
        else:
            batch.append(f"({i}, '{i:010d}', 'Siswa {i} O''Brien', 'catatan; nomor {i}{note}')")
            if len(batch) == per:
                insert()
    insert()
    out.append("INSERT INTO migrations (filename, checksum) VALUES ('seed.sql', 'x');\nCOMMIT;\n")
    text = "".join(out)
    if crlf:
        text = text.replace("\n", "\r\n")
    return b"\xef\xbb\xbf" + text.encode()


def _set(mdirs: MigrationDirs, data: bytes) -> Path:
    mdirs.add("20250101_000000", "create_siswa", _TABLE + "CREATE TABLE kosong (id INTEGER);",
              "DROP TABLE kosong;\nDROP TABLE siswa;")  # fmt: skip
    seed = mdirs.migrations / "20250102_000000_legacy_seed.sql"
    seed.write_bytes(data)
    (mdirs.rollback / "20250102_000000_undo_legacy_seed.sql").write_text("DELETE FROM siswa;\n")
    return seed


def test_a_large_seed_is_read_as_the_whole_file(
    mdirs: MigrationDirs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Statements, template lines, plan SQL and lint findings of a 0.6 MB CRLF seed with a BOM
    (cut into some forty pieces: the pieces made 16 KB here, the file kept whole up to 64 KB),
    read in pieces, are those of the file read whole."""
    monkeypatch.setattr(filestatements, "CHUNK", 1 << 14)
    data = _seed(8_000, crlf=True)
    assert len(data) > 30 * filestatements.CHUNK and len(data) > 8 * (1 << 16)
    _set(mdirs, data)

    def read(keep: int) -> tuple[object, ...]:
        monkeypatch.setattr(files, "KEEP_TEXT_BYTES", keep)
        mset = discover(mdirs.migrations, mdirs.rollback)
        m = mset.migrations[1]
        parts = m.parts()
        streamed = isinstance(parts.statements, FileStatements)
        report = lint_migrations(mset)
        return streamed, list(parts.statements), parts.notes(m.filename), report.findings

    streamed, *pieces = read(1 << 16)
    whole, *read_whole = read(1 << 30)
    assert (streamed, whole) == (True, False)
    assert pieces == read_whole
    statements, notes, findings = pieces
    assert len(statements) == 8_000 + 3 * 2  # BEGIN/COMMIT and the tracking INSERT stripped
    assert "its own BEGIN/COMMIT (line 3, " in notes[0] and "INSERT INTO migrations" in notes[1]
    assert any(f.rule == "DELETE-ALL-ROWS" and f.ignored for f in findings)


def test_up_of_a_large_seed_on_sqlite_applies_it_all_with_its_checksum(
    sqlite_url: str, mdirs: MigrationDirs
) -> None:
    data = _seed(8_000)  # (0.5 MB: read in pieces, past KEEP_TEXT_BYTES twice over)
    assert len(data) > 2 * files.KEEP_TEXT_BYTES
    _set(mdirs, data)
    res = run_cli("--database", sqlite_url, *mdirs.args(), "up", "--dry-run", timeout=300)
    assert res.code == 0, res.err
    assert res.out.count("INSERT INTO siswa") == 8_000
    assert "VALUES (4000, '0000004000', 'multi\nline; name',\n  'x -- not a comment');" in res.out
    res = run_cli("--database", sqlite_url, *mdirs.args(), "up", "--yes", timeout=300)
    assert res.code == 0, res.err
    db = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"))
    assert db.execute("SELECT count(*), max(id) FROM siswa").fetchone() == (8_000, 8_000)
    assert db.execute("SELECT nama FROM siswa WHERE id = 8000").fetchone() == ("multi\nline; name",)
    recorded = db.execute(
        "SELECT checksum FROM migrations WHERE filename LIKE '%legacy_seed.sql'"
    ).fetchone()
    assert recorded == (checksum_bytes(data),)
    assert db.execute("SELECT count(*) FROM migrations").fetchone() == (2,)  # not the file's


def test_up_of_a_large_postgresql_seed(pg_url: str, mdirs: MigrationDirs) -> None:
    """A PostgreSQL target's own seed (a pg_dump: COPY blocks, $$ bodies, E'' strings)."""
    mdirs.add("20250101_000000", "create_siswa", _TABLE, "DROP TABLE siswa;")
    # (0.4 MB: read in pieces; its COPY block alone more than a piece, 128 KB)
    rows = "".join(f"{i}\t{i:010d}\tSiswa {i}; \\\\ ok\tc\n" for i in range(1, 8_001))
    body = (
        "\\restrict abc\nSET lock_timeout = '5s';\n"
        "CREATE FUNCTION f() RETURNS int AS $$ BEGIN\n  RETURN 1; END $$ LANGUAGE plpgsql;\n"
        f"COPY siswa (id, nis, nama, note) FROM stdin;\n{rows}\\.\n"
        + "".join(
            f"INSERT INTO siswa VALUES ({i}, '{i:010d}', E'it\\'s; {i}', 'n');\n"
            for i in range(8_001, 10_001)
        )
        + "DROP FUNCTION f();\n\\unrestrict abc\n"
    )
    data = body.encode()
    (mdirs.migrations / "20250102_000000_legacy_seed.sql").write_bytes(data)
    assert len(data) > files.KEEP_TEXT_BYTES and len(rows) > CHUNK
    res = run_cli("--database", pg_url, *mdirs.args(), "up", "--yes", "--no-backup", timeout=300)
    assert res.code == 0, res.err
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*), max(id) FROM siswa").fetchone() == (10_000, 10_000)
        assert conn.execute("SELECT nama FROM siswa WHERE id = 7").fetchone() == ("Siswa 7; \\ ok",)
        assert conn.execute("SELECT nama FROM siswa WHERE id = 10000").fetchone() == (
            "it's; 10000",
        )
        row = conn.execute(
            "SELECT checksum FROM migrations WHERE filename LIKE '%legacy_seed.sql'"
        ).fetchone()
    assert row == (checksum_bytes(data),)


def test_a_seed_edited_while_up_runs_it_leaves_nothing(
    mdirs: MigrationDirs, tmp_path: Path
) -> None:
    """Read again at the run, a seed edited after the plan was made is refused at its end,
    inside its transaction: no row of it stays, and it is not recorded."""
    seed = _set(mdirs, _seed(3_000))
    target = Target("t", f"sqlite:///{tmp_path / 'p.db'}", mdirs.migrations, mdirs.rollback,
                    tmp_path / "backups")  # fmt: skip
    backend = open_backend(target)
    backend.ensure_schema()
    mset = discover(mdirs.migrations, mdirs.rollback)
    plan = plan_up(backend, mset)
    seed.write_bytes(seed.read_bytes().replace(b"'Siswa 2999 ", b"'Siswa 9999 "))
    with pytest.raises(MigrationFileError, match="changed while the tool was reading it"):
        apply_plan(backend, mset, plan)
    db = sqlite3.connect(tmp_path / "p.db")
    assert db.execute("SELECT count(*) FROM siswa").fetchone() == (0,)
    names = [r[0] for r in db.execute("SELECT filename FROM migrations")]
    assert names == ["20250101_000000_create_siswa.sql"]


def test_up_of_a_large_seed_holds_no_copy_of_it(mdirs: MigrationDirs, tmp_path: Path) -> None:
    """`up` (preflight, lint, run) of a 5.3 MB seed: the file was held as text, as a list of
    statements and as the plan's tuple (45 MB traced at its peak, 8 times the file; 5-7 times
    in RSS); now a few pieces of it at a time (about 2.3 MB traced, 0.44 of the file, under a
    bound of 3/4 of it; read whole, 21 MB). Its 48,000 rows come in INSERTs of ten, as a dump
    writes them: ten times the bytes a statement, a quarter of the run's time."""
    data = _seed(48_000, per=10, note="; ditulis oleh wali kelas XI IPA 2")
    size = len(data)
    assert size > 5_000_000
    _set(mdirs, data)
    target = Target("t", f"sqlite:///{tmp_path / 'p.db'}", mdirs.migrations, mdirs.rollback,
                    tmp_path / "backups")  # fmt: skip
    backend = open_backend(target)
    backend.ensure_schema()
    tracemalloc.start()
    try:
        mset = discover(mdirs.migrations, mdirs.rollback)
        pf = preflight_apply(backend, target, mset)
        lint_target(target, mset, None, backend, from_live_schema=True)
        assert pf.plan is not None
        apply_plan(backend, mset, pf.plan)
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    db = sqlite3.connect(tmp_path / "p.db")
    assert db.execute("SELECT count(*) FROM siswa").fetchone() == (48_000,)
    assert peak < size * 3 // 4  # (pieces of 128 KB: about 2.3 MB here, whatever the size)


def test_a_large_files_storage_pragmas_and_empty_down_section_read_as_the_whole_files(
    mdirs: MigrationDirs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large dbmate seed with an app's storage pragmas and dbmate's empty down section: read
    in pieces, the pragmas are set aside with their note and the empty section is a comment,
    as when the file is read whole; a down section with SQL is refused either way, and so is
    an empty-looking one that ends a piece before the last (what follows it is in the next).
    (Pieces of 16 KB and files kept whole up to 64 KB here: the same cuts in a tenth of the
    rows.)"""
    monkeypatch.setattr(filestatements, "CHUNK", 1 << 14)
    streams = 1 << 16  # KEEP_TEXT_BYTES for a read in pieces
    rows = "".join(
        f"INSERT INTO siswa (id, nis) VALUES ({i}, '{i:010d}');\n" for i in range(1, 3_001)
    )
    head = "-- migrate:up\nPRAGMA journal_mode = WAL;\nPRAGMA synchronous = NORMAL;\n"
    data = (head + rows + "-- migrate:down\n\n").encode()
    assert len(data) > 8 * filestatements.CHUNK and len(data) > 2 * streams
    seed = _set(mdirs, data)

    def read(keep: int) -> tuple[object, ...]:
        monkeypatch.setattr(files, "KEEP_TEXT_BYTES", keep)
        m = discover(mdirs.migrations, mdirs.rollback).migrations[1]
        parts = m.parts()
        return (
            isinstance(parts.statements, FileStatements),
            len(parts.statements),
            parts.notes(m.filename),
        )

    streamed, *pieces = read(streams)
    whole, *read_whole = read(1 << 30)
    assert (streamed, whole) == (True, False) and pieces == read_whole
    count, notes = pieces
    assert count == 3_000 and any("PRAGMA" in n and "line 2" in n for n in notes), notes
    for body in (rows + "-- migrate:down\nDELETE FROM siswa;\n", "-- migrate:down\n\n" + rows):
        seed.write_bytes((head + body).encode())
        for keep in (streams, 1 << 30):  # (was (1 << 30, 1 << 30): patched by read() above)
            monkeypatch.setattr(files, "KEEP_TEXT_BYTES", keep)
            with pytest.raises(MigrationFileError, match="starts a down section"):
                discover(mdirs.migrations, mdirs.rollback).migrations[1].parts()
