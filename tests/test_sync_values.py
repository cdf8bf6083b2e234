"""Values real schemas hold, in every direction the sync supports, on real databases (SQLite
files, the PostgreSQL cluster, the D1 stand-in): each test names the bug it guards, and both
sides are compared directly, not only through the tool's own verify."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from malnu_tui.engine.errors import BackendError
from tests.sync_support import Db, make_db, sync, verify

# (column, PostgreSQL type, a value, another value that type's ``=`` calls equal or cannot
# compare at all)
UNEQUAL_EQUALS = [
    ("email", "citext", "Ali@Malnu.sch.id", "ali@malnu.sch.id"),  # citext's = ignores case
    ("durasi", "interval", "1 day", "24:00:00"),  # interval's = takes a day for 24 hours
    ("lahan", "box", "(1,1),(0,0)", "(2,2),(1,1)"),  # box's = compares areas
    ("nilai", "double precision", "-0", "0"),  # float's = takes -0 for 0
    ("rapor", "xml", "<nilai>80</nilai>", "<nilai>85</nilai>"),  # no = at all
    ("lokasi", "point", "(106.8,-6.2)", "(106.9,-6.2)"),  # no = at all
]


def test_a_change_the_types_own_equality_cannot_see_is_carried_between_postgresql_databases(
    request: pytest.FixtureRequest, tmp_path: Path, pg_second: str
) -> None:
    """PostgreSQL → PostgreSQL: the upsert leaves a row whose values are all equal untouched,
    and it asked each type's ``=``, which is no identity for many: a Supabase ``email citext``
    whose case a student corrected, an ``interval`` of ``1 day`` become ``24:00:00``, a
    ``box`` moved (same area), a float's ``-0`` become ``0`` were never written, and the sync
    said "different" for ever (exit 1); a table with an ``xml`` or ``point`` column stopped on
    "operator does not exist: xml = xml" at its first row changed. Such a column is now told
    changed by its text."""
    src = make_db("postgresql", request, tmp_path, "primary")
    dst = Db("postgresql", pg_second)
    for db in (src, dst):
        db.run("CREATE EXTENSION IF NOT EXISTS citext")
    cols = ", ".join(f"{name} {pg_type}" for name, pg_type, _, _ in UNEQUAL_EQUALS)
    src.run(f"CREATE TABLE siswa (id integer PRIMARY KEY, {cols})")  # no updated_at: checksums
    names = [name for name, *_ in UNEQUAL_EQUALS]
    marks = ", ".join("?" * (len(names) + 1))
    src.many(
        f"INSERT INTO siswa (id, {', '.join(names)}) VALUES ({marks})",
        [(i, *(before for *_, before, _ in UNEQUAL_EQUALS)) for i in range(1, 4)],
    )
    first = sync(src, dst)
    assert (first.verified, first.inserted) == (True, 3)

    printed = ", ".join(f"{n}::text" for n in names)
    for i, (name, _, _, after) in enumerate(UNEQUAL_EQUALS):
        src.run(f"UPDATE siswa SET {name} = ? WHERE id = ?", [after, 1 + i % 3])
    again = sync(src, dst)
    assert (again.verified, again.differences, again.updated) == (True, (), 3)
    query = f"SELECT id, {printed} FROM siswa ORDER BY id"
    assert dst.run(query) == src.run(query)
    assert verify(src, dst).verified

    # A copy edited by hand the same way is found and put right by a full pass.
    dst.run("UPDATE siswa SET email = upper(email::text), durasi = '1 day' WHERE id = 2")
    assert [d.key for d in verify(src, dst).differences] == [(2,)]
    repaired = sync(src, dst, full=True)
    assert (repaired.verified, repaired.updated) == (True, 1)
    assert dst.run(query) == src.run(query)


@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("source", ["sqlite", "d1"])
def test_a_json_text_postgresql_cannot_read_is_named_by_its_row_and_column(
    source: str, full: bool, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A SQLite/D1 ``JSON`` column keeps any text (a payload an app cut short); its copy's
    ``json`` does not take it. The refusal named neither row nor
    column (``writing nilai: invalid input syntax for type json; Token "rusak" is invalid.``),
    among thousands of rows: PostgreSQL puts its JSON context line before the COPY line that
    names them, which was looked for on the first line only."""
    src = make_db(source, request, tmp_path, "primary")
    dst = make_db("postgresql", request, tmp_path, "analytics")
    src.run("CREATE TABLE nilai (id INTEGER PRIMARY KEY, detail JSON, updated_at DATETIME)")
    src.many(
        "INSERT INTO nilai VALUES (?, ?, '2025-11-24 08:00:00')",
        [(i, f'{{"skor": {i}}}') for i in range(1, 41)],
    )
    if not full:  # an incremental pass: the rows go through the stage
        assert sync(src, dst).verified
        src.run("UPDATE nilai SET updated_at = '2025-11-25 08:00:00' WHERE id > 30")
    src.run("UPDATE nilai SET detail = 'rusak' WHERE id = 37")
    with pytest.raises(BackendError) as refused:
        sync(src, dst, full=full, chunk_rows=100)
    assert "writing nilai, row id=37, column detail: invalid input syntax for type json" in str(
        refused.value
    )
    src.run("""UPDATE nilai SET detail = '{"skor": 37}' WHERE id = 37""")
    again = sync(src, dst, full=full, chunk_rows=100)
    assert (again.verified, dst.count("nilai")) == (True, 40)


@pytest.mark.parametrize("pair", ["sqlite>postgresql", "postgresql>sqlite", "sqlite>sqlite"])
def test_a_table_of_photos_is_read_in_pages_of_bounded_size(
    pair: str, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pages held ``chunk_rows`` rows (10,000) whatever their size: a table of profile photos
    (300 KB each, 1,200 students) was read whole into memory, with its COPY text and the page
    read ahead — a sync's memory grew with the table (a 40 MB table took 129 MB from SQLite
    into PostgreSQL, 45 MB the other way) — as only D1's answers were sized. Every side's
    pages are now sized from the rows read to stay near ``answer_bytes`` (8 MB; 250 KB here,
    for a 12 MB table of 200 KB photos: a page is one photo, the table 60 pages; the peak
    traced is 1.2-3.3 MB, under a bound of a third of the table; read whole, over the
    table), for the sync, its incremental passes and ``sync verify`` alike."""
    from malnu_tui.engine.sync.side_postgres import PostgresSide
    from malnu_tui.engine.sync.side_sqlite import SqliteDialect

    for side in (SqliteDialect, PostgresSide):
        monkeypatch.setattr(side, "answer_bytes", 250_000, raising=False)
    s, d = pair.split(">")
    src = make_db(s, request, tmp_path, "primary")
    dst = make_db(d, request, tmp_path, "analytics")
    blob = "bytea" if s == "postgresql" else "BLOB"
    src.run(f"CREATE TABLE foto (id INTEGER PRIMARY KEY, gambar {blob}, updated_at TEXT)")
    rows, size = 60, 200_000
    photos = [(i, bytes([i]) * size) for i in range(1, rows + 1)]
    src.many("INSERT INTO foto VALUES (?, ?, '2025-11-24 08:00:00')", photos)
    del photos
    table = rows * size

    def peak(step: object) -> int:
        tracemalloc.start()
        try:
            report = step()  # type: ignore[operator]
            assert report.verified
        finally:
            top = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        return top

    first = peak(lambda: sync(src, dst))
    src.run("UPDATE foto SET updated_at = '2025-11-25 08:00:00'")
    again = peak(lambda: sync(src, dst))
    proof = peak(lambda: verify(src, dst))
    assert max(first, again, proof) < table // 3, (first, again, proof)
    query = "SELECT id, length(gambar) FROM foto ORDER BY id"
    if d == "postgresql":
        query = query.replace("length", "octet_length")
    assert dst.run(query) == [(i, size) for i in range(1, rows + 1)]


@pytest.mark.parametrize("source", ["sqlite", "postgresql"])
def test_a_row_too_large_for_a_d1_statement_is_carried_with_its_text_bound(
    source: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Into D1 every row went into a statement of literals, under D1's 100 KB a statement: a
    chat's long answer or a photo kept as a ``data:`` URL (300 KB) stopped the sync on
    "row id=30 does not fit in one D1 statement", naming neither the table nor the column,
    though D1 keeps a row up to 2 MB. Such a row is now written alone with its texts bound
    as parameters (its other values stay literals: a 2**53 + 1 stays exact), a BLOB over a
    statement built piece by piece in the same batch; one D1 cannot hold at all — over 2 MB
    — is refused by row and column, and nothing of its chunk is written."""
    src = make_db(source, request, tmp_path, "primary")
    dst = make_db("d1", request, tmp_path, "analytics")
    blob = "bytea" if source == "postgresql" else "BLOB"
    src.run(
        f"CREATE TABLE chat (id integer PRIMARY KEY, jawaban text, lampiran {blob}, "
        "nomor bigint, updated_at text)"
    )
    src.many(
        "INSERT INTO chat VALUES (?, ?, NULL, ?, '2025-11-24 08:00:00')",
        [(i, f"jawaban {i}", 2**53 + i) for i in range(1, 31)],
    )
    long = "Penjelasan ✓ " * 25_000  # 350,000 bytes
    src.run("UPDATE chat SET jawaban = ? WHERE id = 30", [long])
    first = sync(src, dst)
    assert (first.verified, first.inserted) == (True, 30)
    query = "SELECT id, jawaban, nomor FROM chat ORDER BY id"
    assert dst.run(query) == src.run(query)
    src.run(
        "UPDATE chat SET jawaban = ?, updated_at = '2025-11-25 08:00:00' WHERE id IN (7, 30)",
        ["data:image/png;base64," + "QUJD" * 150_000],
    )
    again = sync(src, dst)
    assert (again.verified, again.updated) == (True, 2)
    assert dst.run(query) == src.run(query)
    assert verify(src, dst).verified

    # A BLOB over a statement (a scanned report card: NULs, 0xFF, bytes invalid as UTF-8) was
    # refused ("120,003 bytes as a literal"): it is built piece by piece in the same batch.
    scan = (bytes(range(256)) + b"\x00\xff\xfe\xc3(") * 2_300  # 600,300 bytes
    src.run("UPDATE chat SET lampiran = ?, updated_at = '2025-11-26 08:00:00' WHERE id = 9", [scan])
    third = sync(src, dst)
    assert (third.verified, third.updated) == (True, 1)
    got = dst.run("SELECT typeof(lampiran), hex(lampiran) FROM chat WHERE id = 9")
    assert got == [("blob", scan.hex().upper())]
    assert verify(src, dst).verified
    # A batch that fails after the pieces were sent leaves nothing: no row, no scratch table.
    dst.run(
        "CREATE TRIGGER kecil BEFORE UPDATE ON chat WHEN length(NEW.lampiran) > 500000 "
        "BEGIN SELECT RAISE(ABORT, 'lampiran terlalu besar'); END"
    )
    src.run("UPDATE chat SET jawaban = 'baru', updated_at = '2025-11-27 08:00:00' WHERE id = 3")
    src.run("UPDATE chat SET lampiran = ?, updated_at = '2025-11-27 08:00:00' WHERE id = 4", [scan])
    with pytest.raises(BackendError, match="lampiran terlalu besar"):
        sync(src, dst)
    after = "SELECT jawaban, lampiran FROM chat WHERE id IN (3, 4) ORDER BY id"
    assert dst.run(after) == [("jawaban 3", None), ("jawaban 4", None)]
    assert dst.run("SELECT name FROM sqlite_master WHERE name LIKE '%blob%'") == []
    dst.run("DROP TRIGGER kecil")
    src.run("UPDATE chat SET lampiran = NULL WHERE id = 4")
    src.run("UPDATE chat SET lampiran = NULL, jawaban = ? WHERE id = 9", ["x" * 2_100_000])
    with pytest.raises(BackendError, match=r"writing chat, row id=9, column jawaban: a row of "):
        sync(src, dst)
    assert dst.run("SELECT count(*), max(updated_at) FROM chat") == [(30, "2025-11-26 08:00:00")]


def test_a_text_holding_nul_over_a_d1_statement_is_carried_as_text(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A text holding NUL (a note pasted from a legacy system, a file read as text) goes to D1
    as ``CAST(X'…' AS TEXT)``, never bound (D1's JSON parameters carry no NUL): over ~45 KB it
    stopped the sync ("… bytes as a literal, more than D1's 100,000 a statement") though D1
    keeps 2 MB. It is built piece by piece in the scratch table, as a large BLOB is, and cast
    back: a TEXT of exactly the same characters, NULs included, and verify is clean."""
    src = make_db("sqlite", request, tmp_path, "primary")
    dst = make_db("d1", request, tmp_path, "analytics")
    src.run("CREATE TABLE catatan (id integer PRIMARY KEY, isi text, updated_at text)")
    src.many(
        "INSERT INTO catatan VALUES (?, ?, '2025-11-24 08:00:00')",
        [(i, f"catatan {i}\x00akhir") for i in range(1, 6)],
    )
    # NUL, quotes, 2-, 3- and 4-byte characters; the pieces cut through characters.
    note = "Nilai\x00rapor 'é' ✓ \U0001f600\x00\x00" * 9_000  # 243,000 bytes of UTF-8
    src.run("UPDATE catatan SET isi = ? WHERE id = 3", [note])
    first = sync(src, dst)
    assert (first.verified, first.inserted) == (True, 5)
    got = dst.run("SELECT typeof(isi), hex(isi) FROM catatan WHERE id = 3")
    assert got == [("text", note.encode().hex().upper())]
    query = "SELECT id, isi FROM catatan ORDER BY id"
    assert dst.run(query) == src.run(query)
    assert dst.run("SELECT name FROM sqlite_master WHERE name LIKE '%blob%'") == []
    src.run(
        "UPDATE catatan SET isi = ?, updated_at = '2025-11-25 08:00:00' WHERE id = 5",
        [note[::-1]],
    )
    again = sync(src, dst)
    assert (again.verified, again.updated) == (True, 1)
    assert dst.run(query) == src.run(query)
    assert verify(src, dst).verified


@pytest.mark.parametrize("dest", ["sqlite", "d1"])
def test_a_column_without_a_type_keeps_its_values_in_a_sqlite_copy(
    dest: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A key-value table's ``value`` declared without a type holds each value as given (a
    REAL, an integer, a text, a blob). Its SQLite or D1 copy declared it TEXT, and SQLite
    turned each REAL into its 15-digit text (``1.79769313486232e+308``, ``123456789012346.0``,
    ``1.0e+20``): the sync said "different" for those rows, every time, whatever it wrote.
    The copy now keeps the source's declared type, none, and so every value as it is. On
    D1 the blob there comes back as D1 gives it, an array of its bytes (the stand-in answered
    500), and is read as those bytes (it was a difference on every sync)."""
    src = make_db("sqlite", request, tmp_path, "primary")
    dst = make_db(dest, request, tmp_path, "analytics")
    src.run("CREATE TABLE pengaturan (kunci TEXT PRIMARY KEY, nilai)")
    values = [
        ("ambang", 1.7976931348623157e308),
        ("bobot", 123456789012345.67),
        ("faktor", 0.1 + 0.2),
        ("kuota", 1e20),
        ("nama", "MA Malnu Kananga"),
        ("nol", 0.0),
        ("semester", 2),
        ("teks_angka", "1.50"),
    ]
    values.append(("logo", b"\x89PNG\x00\xff"))
    src.many("INSERT INTO pengaturan VALUES (?, ?)", values)
    first = sync(src, dst)
    assert (first.verified, first.differences) == (True, ())
    query = "SELECT kunci, nilai, typeof(nilai) FROM pengaturan ORDER BY kunci"
    assert dst.run(query) == src.run(query)
    assert verify(src, dst).verified


@pytest.mark.parametrize("pair", ["sqlite>sqlite", "postgresql>d1"])
def test_a_change_of_case_reaches_a_copy_whose_column_ignores_case(
    pair: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A SQLite or D1 copy made by the destination's own migrations may collate a column
    ``NOCASE`` (emails) or ``RTRIM``. The upsert leaves a row whose values are all equal
    untouched, and compared them in that collation: a name corrected from ``ali`` to ``Ali``,
    or a trailing space, was never written, and the sync said "different" for ever (exit 1),
    ``--full`` too. The values are now compared byte for byte."""
    s, d = pair.split(">")
    src = make_db(s, request, tmp_path, "primary")
    dst = make_db(d, request, tmp_path, "analytics")
    src.run("CREATE TABLE siswa (id integer PRIMARY KEY, nama text, email text)")
    dst.run(
        "CREATE TABLE siswa (id INTEGER PRIMARY KEY, nama TEXT COLLATE NOCASE, "
        "email TEXT COLLATE RTRIM, synced_at DATETIME)"
    )
    src.many(
        "INSERT INTO siswa VALUES (?, ?, ?)",
        [(i, f"siswa {i}", f"s{i}@malnu.sch.id") for i in range(1, 21)],
    )
    assert sync(src, dst).verified
    src.run("UPDATE siswa SET nama = 'Siswa 3' WHERE id = 3")
    src.run("UPDATE siswa SET email = 's7@malnu.sch.id ' WHERE id = 7")
    again = sync(src, dst)
    assert (again.verified, again.updated, again.differences) == (True, 2, ())
    query = "SELECT id, nama, email FROM siswa ORDER BY id"
    assert dst.run(query) == src.run(query)
    assert verify(src, dst).verified
