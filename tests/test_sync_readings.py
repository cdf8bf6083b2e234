"""Dates, times and other typed values that PostgreSQL reads or prints otherwise than Python
does, on real databases (SQLite files, the PostgreSQL cluster, the D1 stand-in). Each test
names the bug it guards; both sides are also compared directly, not only through the tool's
own verify."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.sync_support import Db, make_db, sync, verify

STAMP = "2025-11-24 08:00:00"

# (column, SQLite declared type, PostgreSQL type, what a real source wrote, what PostgreSQL
# stores from it, printed)
SPELT = [
    ("mulai", "TIME", "time", "7:30", "07:30:00"),
    ("selesai", "TIME", "time", "24:00:00", "24:00:00"),
    ("detik", "TIME", "time", "23:59:60", "24:00:00"),
    ("presisi", "TIME", "time", "07:00:00.1234567", "07:00:00.123457"),
    ("sore", "TIME", "time", "07:30 PM", "19:30:00"),
    ("rails", "TIME", "time", "2000-01-01 07:30:00", "07:30:00"),  # Rails' TIME in SQLite
    ("waktu", "DATETIME", "timestamp", "2025-1-5 7:30:00", "2025-01-05 07:30:00"),
    ("akhir", "DATETIME", "timestamp", "9999-12-31 24:00:00", "10000-01-01 00:00:00"),
    ("berlaku", "DATETIME", "timestamp", "infinity", "infinity"),
    ("zona", "TIMESTAMPTZ", "timestamptz", "0001-01-01 00:00:00+07:00",
     "0001-12-31 17:00:00+00 BC"),
    ("lahir", "DATE", "date", 20080105, "2008-01-05"),
    ("guid", "UUID", "uuid", "{A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11}",
     "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
    ("aktif", "BOOLEAN", "boolean", "of", "false"),
]  # fmt: skip


@pytest.mark.parametrize("meta", ["json", "text"])
@pytest.mark.parametrize("source", ["sqlite", "d1"])
def test_values_postgresql_reads_in_another_spelling_are_no_difference(
    source: str, meta: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """SQLite keeps the text an application wrote; PostgreSQL's input reads it into its type
    and prints it otherwise (`7:30` → `07:30:00`, a leap second, 24:00:00, `07:30 PM`, Rails'
    `2000-01-01 07:30:00` for a TIME, a 9999-12-31 24:00:00 that is year 10000, `infinity`, a
    .NET GUID in braces, a YYYYMMDD integer in a DATE column). Each such row was 'different'
    for ever, rewritten by every sync and reported again (exit 1); a TIME of 23:59:60
    stopped the sync on psycopg's "can't parse time '24:00:00'", and a TIMESTAMPTZ of
    0001-01-01 00:00:00+07:00 (a time BC in UTC) on a Python traceback. PostgreSQL is now
    asked how it reads such a row's texts before the row is called different; a real
    difference is still found."""
    src = make_db(source, request, tmp_path, "primary")
    dst = make_db("postgresql", request, tmp_path, "analytics")
    cols = ", ".join(f"{name} {decl}" for name, decl, _, _, _ in SPELT)
    src.run(f"CREATE TABLE jadwal (id INTEGER PRIMARY KEY, {cols}, meta {meta})")
    names = ", ".join(name for name, *_ in SPELT)
    marks = ", ".join("?" * (len(SPELT) + 2))
    written = tuple(value for *_, value, _ in SPELT)
    src.many(
        f"INSERT INTO jadwal (id, {names}, meta) VALUES ({marks})",
        [(i, *written, '{"ruang": 7}') for i in range(1, 31)],
    )
    first = sync(src, dst)
    assert (first.verified, first.differences) == (True, ())
    printed = dst.run(f"SELECT {', '.join(f'{n}::text' for n, *_ in SPELT)} FROM jadwal")
    assert set(printed) == {tuple(stored for *_, stored in SPELT)}
    assert verify(src, dst).verified
    again = sync(src, dst, full=True)
    assert (again.verified, again.updated, again.differences) == (True, 0, ())

    # Still a difference: another value at the source, or a copy edited by hand.
    src.run("UPDATE jadwal SET mulai = '7:31' WHERE id = 3")
    dst.run("UPDATE jadwal SET berlaku = '2030-01-01' WHERE id = 9")
    dst.run("UPDATE jadwal SET zona = '0001-12-31 17:00:01 BC' WHERE id = 17")
    assert [d.key for d in verify(src, dst).differences] == [(3,), (9,), (17,)]
    repaired = sync(src, dst, full=True)
    assert (repaired.verified, repaired.updated) == (True, 3)


@pytest.mark.parametrize("dest", ["sqlite", "d1"])
def test_dates_python_cannot_hold_arrive_as_postgresql_prints_them(
    dest: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A PostgreSQL source's `timestamp 'infinity'` (a Rails/Django "valid until" with no
    end), `-infinity`, a date BC, a year past 9999 or a time of 24:00:00: psycopg refuses to
    read each ("timestamp too large (after year 10K): 'infinity'"), and the sync of the whole
    table stopped on it, naming no row. Such values now arrive as PostgreSQL prints them, and
    verify as equal."""
    src = make_db("postgresql", request, tmp_path, "analytics")
    dst = make_db(dest, request, tmp_path, "primary")
    src.run(
        "CREATE TABLE kontrak (id BIGINT PRIMARY KEY, mulai DATE, berlaku TIMESTAMP, "
        "dicatat TIMESTAMPTZ, tutup TIME, updated_at TIMESTAMP NOT NULL)"
    )
    held = [
        ("2025-07-14", "infinity", "2025-07-14 07:00:00+07", "24:00:00"),
        ("0044-03-15 BC", "-infinity", "infinity", "23:59:59.999999"),
        ("10000-01-01", "10000-01-01 00:00:00.5", "0001-01-01 00:00:00+07", "07:00"),
    ]
    src.many(
        "INSERT INTO kontrak VALUES (?, ?, ?, ?, ?, '2025-11-24 08:00:00')",
        [(i, *row) for i, row in enumerate(held, 1)],
    )
    first = sync(src, dst)
    assert (first.verified, first.differences) == (True, ())
    assert verify(src, dst).verified
    assert dst.run("SELECT mulai, berlaku, dicatat, tutup FROM kontrak ORDER BY id") == [
        ("2025-07-14", "infinity", "2025-07-14 00:00:00", "24:00:00"),
        ("0044-03-15 BC", "-infinity", "infinity", "23:59:59.999999"),
        ("10000-01-01", "10000-01-01 00:00:00.5", "0001-12-31 17:00:00 BC", "07:00:00"),
    ]
    src.run(
        "UPDATE kontrak SET berlaku = 'infinity', updated_at = '2025-11-25 08:00:00' WHERE id = 2"
    )
    again = sync(src, dst)
    assert (again.verified, again.updated) == (True, 1)
    assert dst.run("SELECT berlaku FROM kontrak WHERE id = 2") == [("infinity",)]


@pytest.mark.parametrize("dest", ["sqlite", "d1"])
def test_a_numeric_of_a_doubles_own_digits_is_no_refusal(
    dest: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A PostgreSQL numeric holding what a double computed (0.1 + 0.2 = 0.30000000000000004,
    17 significant digits: a total an application summed in JavaScript) was refused for
    SQLite and D1 — "has 17 significant digits, and SQLite's NUMERIC keeps 15 (it stores
    0.30000000000000004)" — though SQLite stores it as that double and reads it back as
    written. Such a value now syncs and verifies; one that no double holds is still refused."""
    from malnu_tui.engine.errors import BackendError

    src = make_db("postgresql", request, tmp_path, "analytics")
    dst = make_db(dest, request, tmp_path, "primary")
    src.run("CREATE TABLE tagihan (id BIGINT PRIMARY KEY, total NUMERIC)")
    held = ["0.30000000000000004", "1234567890.1234567", "1.2345678901234567E+19", "85.5"]
    src.many("INSERT INTO tagihan VALUES (?, ?::numeric)", list(enumerate(held, 1)))
    first = sync(src, dst)
    assert (first.verified, first.differences) == (True, ())
    assert verify(src, dst).verified
    assert [float(v) for (v,) in dst.run("SELECT total FROM tagihan ORDER BY id")] == [
        float(v) for v in held
    ]
    src.run("UPDATE tagihan SET total = 0.3000000000000000444 WHERE id = 4")
    with pytest.raises(BackendError) as refused:
        sync(src, dst)
    assert "row id=4, column total: 0.3000000000000000444 has 19 significant digits" in str(
        refused.value
    )


@pytest.mark.parametrize("source", ["sqlite", "d1"])
def test_a_json_number_jsonb_spells_otherwise_is_no_difference(
    source: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A JSONB column written by Python's json.dumps (`1e+16` for a float that large) or by
    hand (`1E2`): PostgreSQL's jsonb keeps the number's value and prints it `100`, and the
    normal form compared `100.0` with `100` — 'different' for ever. JSON numbers now compare
    by value; a changed value is still found."""
    src = make_db(source, request, tmp_path, "primary")
    dst = make_db("postgresql", request, tmp_path, "analytics")
    src.run("CREATE TABLE rapor (id INTEGER PRIMARY KEY, nilai JSONB)")
    written = ['{"mtk": 1E2, "ipa": [8.5e1, 90]}', '{"nik": 3.2e+16}', '{"skor": 87.50}']
    src.many("INSERT INTO rapor VALUES (?, ?)", list(enumerate(written, 1)))
    first = sync(src, dst)
    assert (first.verified, first.differences) == (True, ())
    assert dst.run("SELECT nilai::text FROM rapor ORDER BY id") == [
        ('{"ipa": [85, 90], "mtk": 100}',),
        ('{"nik": 32000000000000000}',),
        ('{"skor": 87.50}',),
    ]
    assert verify(src, dst).verified
    src.run("""UPDATE rapor SET nilai = '{"skor": 87.51}' WHERE id = 3""")
    assert [d.key for d in verify(src, dst).differences] == [(3,)]


@pytest.mark.parametrize("dest", ["sqlite", "d1"])
def test_a_char_n_column_is_no_difference_for_its_padding(
    dest: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A PostgreSQL `char(5)` class code holding `X-1` is `X-1  ` padded: the copy in SQLite
    got the padding, the sync's own check (both rows hashed by the tool) said verified, and
    `sync verify` — PostgreSQL hashing its own rows, where `::text` drops the padding —
    reported every short code 'different' for ever. Such a column now arrives as PostgreSQL's
    text of it, without the padding (trailing spaces of a char(n) mean nothing to it)."""
    src = make_db("postgresql", request, tmp_path, "analytics")
    dst = make_db(dest, request, tmp_path, "primary")
    src.run("CREATE TABLE rombel (id BIGINT PRIMARY KEY, kelas CHAR(5), wali VARCHAR(20))")
    src.many(
        "INSERT INTO rombel VALUES (?, ?, ?)",
        [(1, "X-1", "Bu Ani "), (2, "XII-3", "Pak Budi"), (3, None, None), (4, "X   ", "")],
    )
    first = sync(src, dst)
    assert (first.verified, first.differences) == (True, ())
    assert verify(src, dst).verified
    assert dst.run("SELECT kelas, wali FROM rombel ORDER BY id") == [
        ("X-1", "Bu Ani "),
        ("XII-3", "Pak Budi"),
        (None, None),
        ("X", ""),
    ]


@pytest.mark.parametrize("kind", ["sqlite", "d1", "postgresql"])
def test_a_real_and_an_inet_column_arrive_as_postgresql_prints_them(
    kind: str, tmp_path: Path, pg_url: str, request: pytest.FixtureRequest
) -> None:
    """A Supabase table of device readings: a ``real`` (float4) and the device's ``inet``.
    The copy held the real as PostgreSQL prints it (0.1), and `sync verify` compared the
    float4's exact binary value (0.10000000149011612): "different" for ever, where the sync
    itself said verified. An inet host arrived as ``10.0.0.1/32`` (``::text`` adds the mask;
    PostgreSQL prints ``10.0.0.1``)."""
    pg = Db("postgresql", pg_url)
    pg.run("CREATE TABLE bacaan (id bigint PRIMARY KEY, suhu real, ip inet, updated_at timestamp)")
    pg.run(
        "INSERT INTO bacaan VALUES (1, 0.1, '10.0.0.1', ?), (2, 36.6, '192.168.1.0/24', ?), "
        "(3, 3.14159, '::1', ?), (4, NULL, NULL, ?)",
        (STAMP, STAMP, STAMP, STAMP),
    )
    if kind == "postgresql":
        dst = Db("postgresql", request.getfixturevalue("pg_second"))
    else:
        dst = make_db(kind, request, tmp_path, "dest")
    assert sync(pg, dst).verified
    report = verify(pg, dst)
    assert report.verified, [d.describe(report.key) for d in report.differences]
    got = dst.run("SELECT suhu, ip FROM bacaan ORDER BY id")
    if kind != "postgresql":
        assert got == [(0.1, "10.0.0.1"), (36.6, "192.168.1.0/24"), (3.14159, "::1"), (None, None)]
    pg.run("UPDATE bacaan SET suhu = 0.2 WHERE id = 1")  # a real difference is still found
    assert [d.key for d in verify(pg, dst).differences] == [(1,)]
