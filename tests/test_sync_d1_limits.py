"""Integers beyond ±(2**53 - 1) through D1's HTTP API, which carries values as JavaScript
numbers and rounds them (the stand-in does as D1 does): Indonesian NIK / KK numbers of Papua's
provinces (prefixes 91–97) are 16 digits above 9,007,199,254,740,991, and 64-bit snowflake
ids are far above it."""

from __future__ import annotations

from pathlib import Path

import pytest

from malnu_tui.engine.errors import BackendError, SyncRefused
from malnu_tui.engine.sync.session import open_side
from malnu_tui.engine.sync.side_d1 import D1Side
from tests.fixtures_d1 import D1Target
from tests.sync_support import Db, make_db, sync, verify

STAMP = "2025-11-24 08:00:00"
NIK = [9171012345678901, 9471029876543213, 3201234567890001]  # Papua Barat, Papua, Jawa Barat
SNOWFLAKE = 1_234_567_890_123_456_789


@pytest.mark.parametrize("dest_kind", ["sqlite", "postgresql"])
def test_a_sync_out_of_d1_copies_large_integers_exactly(
    tmp_path: Path, d1: D1Target, request: pytest.FixtureRequest, dest_kind: str
) -> None:
    src = make_db("d1", request, tmp_path, "d1")
    src.run(
        "CREATE TABLE siswa (id INTEGER PRIMARY KEY, nik INTEGER, kk BIGINT, "
        "nama TEXT, updated_at DATETIME)"
    )
    for i, nik in enumerate(NIK, start=1):
        src.run(
            f"INSERT INTO siswa VALUES ({SNOWFLAKE + i}, {nik}, {nik + 10**3}, 'siswa {i}', "
            f"'{STAMP}')"
        )
    dest = make_db(dest_kind, request, tmp_path, "copy")
    report = sync(src, dest)
    assert (report.inserted, report.verified) == (3, True), report
    got = dest.run("SELECT id, nik, kk FROM siswa ORDER BY id")
    assert got == [(SNOWFLAKE + i, n, n + 10**3) for i, n in enumerate(NIK, start=1)]
    assert verify(src, dest).verified
    # A change to the one digit a JavaScript number cannot hold is seen as a difference.
    src.run(f"UPDATE siswa SET nik = nik + 1 WHERE id = {SNOWFLAKE + 1}")
    assert not verify(src, dest).verified
    again = sync(src, dest, full=True)
    assert again.verified, again
    assert dest.run(f"SELECT nik FROM siswa WHERE id = {SNOWFLAKE + 1}") == [(NIK[0] + 1,)]


def test_a_sync_into_d1_verifies_large_integers_exactly(
    tmp_path: Path, pg_url: str, d1: D1Target, request: pytest.FixtureRequest
) -> None:
    pg = Db("postgresql", pg_url)
    pg.run("CREATE TABLE siswa (id BIGINT PRIMARY KEY, nik BIGINT, updated_at TIMESTAMP)")
    pg.many(
        "INSERT INTO siswa VALUES (?, ?, ?)",
        [(SNOWFLAKE + i, nik, STAMP) for i, nik in enumerate(NIK, start=1)],
    )
    dest = make_db("d1", request, tmp_path, "d1")
    report = sync(pg, dest)
    assert (report.inserted, report.verified) == (3, True), report
    assert dest.run("SELECT id, nik FROM siswa ORDER BY id") == [
        (SNOWFLAKE + i, n) for i, n in enumerate(NIK, start=1)
    ]
    pg.run(f"UPDATE siswa SET nik = nik + 1 WHERE id = {SNOWFLAKE + 2}")
    assert not verify(pg, dest).verified


def test_a_large_integer_read_any_other_way_is_refused(
    tmp_path: Path, d1: D1Target, request: pytest.FixtureRequest
) -> None:
    side = open_side(make_db("d1", request, tmp_path, "d1").target("primary"))
    assert isinstance(side, D1Side)
    try:
        assert side._rows("SELECT 9007199254740991") == [(9007199254740991,)]
        with pytest.raises(BackendError, match="beyond ±9,007,199,254,740,991") as err:
            side._rows("SELECT 9007199254740993")
        assert "TEXT" in (err.value.hint or "")
    finally:
        side.backend.close()


def test_a_sync_out_of_d1_keeps_each_answer_under_the_result_limit(
    tmp_path: Path, d1: D1Target, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """D1 refuses a result over 50 MB; pages of 2,000 rows of photos (hex: twice their size)
    or long texts are far more, so such a table could never be synced (nor held in memory).
    Scaled down: a 400 KB limit, 2 KB rows, 300 of them."""
    src = make_db("d1", request, tmp_path, "d1")
    src.run("CREATE TABLE foto (id INTEGER PRIMARY KEY, gambar BLOB, updated_at DATETIME)")
    src.run(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300) "
        f"INSERT INTO foto SELECT i, randomblob(1000), '{STAMP}' FROM n"
    )
    monkeypatch.setattr(d1.server, "max_result_bytes", 400_000)
    monkeypatch.setattr(D1Side, "answer_bytes", 150_000, raising=False)
    dest = make_db("sqlite", request, tmp_path, "copy")
    report = sync(src, dest)
    assert (report.inserted, report.verified) == (300, True), report
    assert dest.run("SELECT count(*), sum(length(gambar)) FROM foto") == [(300, 300_000)]


@pytest.mark.parametrize("kind", ["d1", "sqlite"])
def test_a_full_text_index_is_not_a_table_to_sync(
    tmp_path: Path, request: pytest.FixtureRequest, kind: str
) -> None:
    """An FTS5 search index (D1 supports FTS5) is a virtual table over shadow tables, all
    derived from `siswa`: every sync stopped on them ("siswa_fts: no primary key…;
    siswa_fts_idx: key segid holds integers…")."""
    src = make_db(kind, request, tmp_path, "src")
    src.run("CREATE TABLE siswa (id INTEGER PRIMARY KEY, nama TEXT, updated_at DATETIME)")
    src.run(f"INSERT INTO siswa VALUES (1, 'Budi', '{STAMP}')")
    src.run("CREATE VIRTUAL TABLE siswa_fts USING fts5(nama, content='siswa', content_rowid='id')")
    src.run("INSERT INTO siswa_fts(siswa_fts) VALUES ('rebuild')")
    dest = make_db("postgresql", request, tmp_path, "copy")
    report = sync(src, dest)
    assert (report.table, report.inserted, report.verified) == ("siswa", 1, True), report


def test_repair_reads_of_d1_keep_each_answer_under_the_result_limit(
    tmp_path: Path, d1: D1Target, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows a sync finds different in D1 are repaired, then read again by key to check them,
    90 keys a query whatever their size: with rows near D1's 2 MB row limit that answer passed
    its 50 MB result limit and the sync failed. Scaled down: a 400 KB limit, 6 KB rows."""
    src = make_db("sqlite", request, tmp_path, "src")
    src.run("CREATE TABLE foto (id INTEGER PRIMARY KEY, gambar BLOB)")  # no cursor: checksum
    src.run(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 120) "
        "INSERT INTO foto SELECT i, randomblob(3000) FROM n"
    )
    monkeypatch.setattr(d1.server, "max_result_bytes", 400_000)
    monkeypatch.setattr(D1Side, "answer_bytes", 150_000, raising=False)
    dest = make_db("d1", request, tmp_path, "d1")
    assert sync(src, dest).verified
    dest.run("UPDATE foto SET gambar = x'00'")  # the copy changed behind the sync's back
    report = sync(src, dest)
    assert (report.updated, report.verified) == (120, True), report
    assert dest.run("SELECT count(*), sum(length(gambar)) FROM foto") == [(120, 360_000)]


@pytest.mark.parametrize("key", ["int", "text"])
def test_a_full_resync_into_d1_deletes_within_the_statement_limit(
    tmp_path: Path, d1: D1Target, request: pytest.FixtureRequest, key: str
) -> None:
    """A chunk's range delete (rows of the range the source no longer has) named all the
    chunk's keys in one ``NOT IN (VALUES …)``: 10,000 six-digit ids (or fewer long text keys)
    passed D1's 100 KB, and every ``sync --full`` of a copied table failed. It is cut at the
    chunk's keys into statements within the limit, and still deletes what it must."""
    src = make_db("sqlite", request, tmp_path, "src")
    kind = "INTEGER" if key == "int" else "TEXT"
    src.run(f"CREATE TABLE siswa (id {kind} PRIMARY KEY, nama TEXT, updated_at DATETIME)")
    n = 12_000 if key == "int" else 2_500

    def ident(i: int) -> int | str:
        # A text key holding "?": the range's bounds were spliced into the DELETE by replacing
        # each "?" in turn, the second landing inside the first bound's literal.
        return 100_000 + i * 2 if key == "int" else f"{i:06d}?" + "nisn-sekolah-" * 4

    src.many("INSERT INTO siswa VALUES (?, ?, ?)", [(ident(i), f"s{i}", STAMP) for i in range(n)])
    dest = make_db("d1", request, tmp_path, "d1")
    assert sync(src, dest).verified
    # Rows only the copy has, between and after the source's keys: the range delete's work.
    gone = [ident(i) for i in (5, 1_700, n - 1)]
    src.many("DELETE FROM siswa WHERE id = ?", [(g,) for g in gone])
    chunk = 10_000 if key == "int" else 1_000  # text: ranges bounded by keys on both sides
    again = sync(src, dest, full=True, chunk_rows=chunk)
    assert (again.deleted, again.verified) == (3, True), again
    assert dest.run("SELECT count(*) FROM siswa") == [(n - 3,)]


def test_a_table_of_100_columns_is_refused_for_d1_before_anything_is_written(
    tmp_path: Path, d1: D1Target, request: pytest.FixtureRequest
) -> None:
    """D1 takes at most 100 columns a table; the copy adds `synced_at`, so a source table of
    100 columns cannot be copied there: refused by name at planning, nothing made."""
    src = make_db("sqlite", request, tmp_path, "src")
    cols = ", ".join(f"c{i} TEXT" for i in range(1, 100))
    src.run(f"CREATE TABLE lebar (id INTEGER PRIMARY KEY, {cols})")
    src.run("INSERT INTO lebar (id, c1) VALUES (1, 'x')")
    dest = make_db("d1", request, tmp_path, "d1")
    with pytest.raises(SyncRefused, match=r"lebar: .*100 columns.*D1") as e:
        sync(src, dest)
    assert "synced_at" in str(e.value) and "--tables" in (e.value.hint or "")
    assert dest.run("SELECT count(*) FROM sqlite_master WHERE name = 'lebar'") == [(0,)]


def test_a_d1_table_of_100_columns_syncs_out_of_d1(
    tmp_path: Path, d1: D1Target, request: pytest.FixtureRequest
) -> None:
    """D1 keeps a table of 100 columns, and answers at most 100 columns a query. The sync read
    a D1 table's rows with one more column (which of them came as digits: integers past
    2**53), so a table of 100 columns could never be synced out of D1: `D1 limit reached: too
    many columns in result set`, with the hint to split migrations. It is read without that
    column (an integer past 2**53 there is then refused by name, never used rounded)."""
    src = make_db("d1", request, tmp_path, "d1")
    cols = ", ".join(f"c{i} TEXT" for i in range(1, 98))
    src.run(f"CREATE TABLE lebar (id INTEGER PRIMARY KEY, {cols}, n INTEGER, updated_at DATETIME)")
    src.run(f"INSERT INTO lebar (id, c1, n, updated_at) VALUES (1, 'a', 7, '{STAMP}')")
    src.run(f"INSERT INTO lebar (id, c97, updated_at) VALUES ({NIK[2]}, 'b', '{STAMP}')")
    dest = make_db("sqlite", request, tmp_path, "copy")
    report = sync(src, dest)
    assert (report.inserted, report.verified) == (2, True), report
    assert dest.run("SELECT id, c1, c97, n FROM lebar ORDER BY id") == [
        (1, "a", None, 7),
        (NIK[2], None, "b", None),
    ]
    src.run(f"UPDATE lebar SET n = {SNOWFLAKE} WHERE id = 1")
    with pytest.raises(BackendError, match="beyond"):
        sync(src, dest, full=True)


def test_a_d1_table_of_100_columns_without_a_key_syncs_out_of_d1(
    tmp_path: Path, d1: D1Target, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A keyless table is read in rowid pages, the rowid a last column: one of 100 columns
    (a questionnaire's answers, no key) was asked 101 a query, and D1 answers 100 at most
    ('too many columns in result set'): it could never be synced out of D1. Read in pages of
    rowid ranges (2 rows a page here: a gap in the rowids, equal rows)."""
    from malnu_tui.engine.sync import whole as whole_module

    monkeypatch.setattr(whole_module, "_D1_PAGE", 2)
    src = make_db("d1", request, tmp_path, "d1")
    src.run(f"CREATE TABLE angket ({', '.join(f'j{i} TEXT' for i in range(1, 101))})")
    src.run("INSERT INTO angket (j1, j100) VALUES ('a', 'b'), ('c', NULL), ('c', NULL), ('d', 'e')")
    src.run("INSERT INTO angket (j1) VALUES ('f'), ('g')")
    src.run("DELETE FROM angket WHERE j1 = 'd'")
    dest = make_db("sqlite", request, tmp_path, "copy")
    report = sync(src, dest)
    assert (report.mode, report.inserted, report.verified) == ("whole", 5, True), report
    kept = dest.run("SELECT j1, j100 FROM angket ORDER BY j1")
    assert kept == [("a", "b"), ("c", None), ("c", None), ("f", None), ("g", None)], kept


@pytest.mark.parametrize("dest", ["d1", "sqlite"])
def test_a_chunk_into_d1_holds_10000_rows_at_most_elsewhere_the_default_25000(
    tmp_path: Path, request: pytest.FixtureRequest, dest: str
) -> None:
    # Into D1 a chunk is one batch request: the default's growth to 25,000 rows stops at
    # 10,000 there, as before; a SQLite (or PostgreSQL) copy takes the 21,000 rows in one.
    src = Db("sqlite", f"sqlite:///{tmp_path / 'src.db'}", path=tmp_path / "src.db")
    src.run("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
    src.run(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 21000) "
        "INSERT INTO t SELECT i, 'baris ' || i FROM n"
    )
    dst = make_db(dest, request, tmp_path, "dst")
    copied: list[int] = []
    report = sync(src, dst, lambda p: copied.append(p.rows) if p.phase == "copy" else None)
    assert report.verified and report.inserted == 21_000
    chunks = [n for n in copied if n]
    assert chunks == ([10_000, 20_000, 21_000] if dest == "d1" else [21_000])
