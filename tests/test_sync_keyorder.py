"""Keys and values whose order or reading differs between SQLite and PostgreSQL, on real
databases (SQLite files, the PostgreSQL cluster, the D1 stand-in). Each test names the bug it
guards; both sides are also compared directly, not only through the tool's own verify."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.sync_support import Db, make_db, sync, verify

# 'B' < 'a' in BINARY (and PostgreSQL's "C") order, 'a' < 'B' in NOCASE's.
_KODE = [f"{c}{n:03d}" for c in "aBcDeF" for n in range(12)]


@pytest.mark.parametrize(
    ("source", "dest"),
    [("sqlite", "postgresql"), ("d1", "postgresql"), ("postgresql", "sqlite"), ("sqlite", "d1")],
)
def test_a_text_key_collated_nocase_is_paged_in_one_order_on_both_sides(
    source: str, dest: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A school table keyed by a code declared ``TEXT COLLATE NOCASE`` (mixed-case codes):
    SQLite paged and bounded its key ranges in NOCASE order, PostgreSQL in "C" order, so
    past the first page each range held other keys on each side — rows reported missing and
    extra that were not, and the repair DELETED them at the destination (28,368 → 9,288 rows
    in one `sync`, 13 minutes of single-row deletes). A SQLite destination whose own key is
    NOCASE was paged the same wrong way."""
    src = make_db(source, request, tmp_path, "primary")
    dst = make_db(dest, request, tmp_path, "copy")
    nocase = "TEXT COLLATE NOCASE" if src.kind != "postgresql" else "TEXT"
    src.run(f"CREATE TABLE kelas (kode {nocase} PRIMARY KEY, nama TEXT)")
    if dst.kind == "sqlite":  # its own migrations made it, NOCASE too
        dst.run(
            "CREATE TABLE kelas (kode TEXT COLLATE NOCASE PRIMARY KEY, nama TEXT, "
            "synced_at DATETIME)"
        )
    src.many("INSERT INTO kelas VALUES (?, ?)", [(k, f"Kelas {k}") for k in _KODE])

    first = sync(src, dst, chunk_rows=10)
    assert (first.verified, first.deleted, first.differences) == (True, 0, ())
    assert dst.count("kelas") == len(_KODE)
    assert verify(src, dst).verified
    src.run("UPDATE kelas SET nama = 'diubah' WHERE kode = 'D005'")
    src.run("DELETE FROM kelas WHERE kode = 'a003'")
    again = sync(src, dst, chunk_rows=10)
    assert (again.verified, again.updated, again.deleted) == (True, 1, 1)
    copied = sorted(str(k) for (k,) in dst.run("SELECT kode FROM kelas"))
    assert copied == sorted(k for k in _KODE if k != "a003")


def test_a_key_that_is_not_utf8_is_named_by_its_bytes_with_what_to_do(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A Latin-1 legacy import wrote a student number as bytes that are no UTF-8 into a TEXT
    key. Such a value column is named by its row; in a key, `sync` and `sync verify` stopped on
    the driver's "Could not decode to UTF-8 column 'quote("nis")' with text ''Jos�''" — a
    column the table does not have, no row, no hint."""
    from malnu_tui.engine.errors import BackendError

    src = make_db("sqlite", request, tmp_path, "primary")
    dst = make_db("postgresql", request, tmp_path, "analytics")
    src.run("CREATE TABLE siswa (nis TEXT, mapel TEXT, nilai INTEGER, PRIMARY KEY (nis, mapel))")
    src.many("INSERT INTO siswa VALUES (?, ?, 80)", [(f"N{i:03d}", "MTK") for i in range(40)])
    assert sync(src, dst).verified
    src.run("UPDATE siswa SET nis = CAST(x'4a6f73e9' AS TEXT) WHERE nis = 'N017'")  # 'José'
    src.run("UPDATE siswa SET mapel = CAST(x'49504ae9' AS TEXT) WHERE nis = 'N023'")
    said = {
        "nis": "reading siswa, key nis=x'4a6f73e9': its text is not UTF-8",
        "mapel": "reading siswa, key mapel=x'49504ae9': its text is not UTF-8",
    }
    fix = {
        "nis": """UPDATE "siswa" SET "nis" = 'José' WHERE "nis" = CAST(x'4a6f73e9' AS TEXT)""",
        "mapel": """UPDATE "siswa" SET "mapel" = 'IPJé' WHERE "mapel" = """
        "CAST(x'49504ae9' AS TEXT)",
    }
    for column in ("nis", "mapel"):
        for run in (verify, sync):
            with pytest.raises(BackendError) as stopped:
                run(src, dst)
            assert said[column] in str(stopped.value)
            assert fix[column] in (stopped.value.hint or "")
        src.run(fix[column])
    assert sync(src, dst).verified
    assert verify(src, dst).verified


@pytest.mark.parametrize("dest", ["sqlite", "d1", "postgresql"])
def test_a_citext_enum_or_inet_key_is_paged_in_the_order_sqlite_keeps(
    dest: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Supabase keys accounts by `email citext`; a timetable by (day enum, period). PostgreSQL
    ordered such a key by its type — citext ignoring case even under COLLATE "C", an enum by
    its labels' order — and SQLite by the text: the ranges held other rows on each side, the
    copy of 23,842 accounts ended 'not verified' with rows deleted and re-inserted by every
    sync. An inet key (a school's devices by address) could not be stored at all: SQLite
    refused to bind an IPv4Address, and into D1 it was a traceback. Such keys are now read
    and paged as their text in "C" order. Into PostgreSQL, the copy of an inet key was refused
    at its creation: "collations are not supported by type inet"."""
    src = make_db("postgresql", request, tmp_path, "analytics")
    if dest == "postgresql":  # another database, its migrations having made the types
        dst = Db("postgresql", request.getfixturevalue("pg_second"))
        dst.run("CREATE EXTENSION citext")
        dst.run("CREATE TYPE hari AS ENUM ('senin', 'selasa', 'rabu', 'kamis', 'jumat')")
    else:
        dst = make_db(dest, request, tmp_path, "backup")
    src.run("CREATE EXTENSION IF NOT EXISTS citext")
    src.run("CREATE TABLE akun (email citext PRIMARY KEY, nama TEXT)")
    src.many("INSERT INTO akun VALUES (?, 'n')", [(f"{k}@malnu.sch.id",) for k in _KODE])
    src.run("CREATE TYPE hari AS ENUM ('senin', 'selasa', 'rabu', 'kamis', 'jumat')")
    src.run("CREATE TABLE jadwal (h hari, jam INT, mapel TEXT, PRIMARY KEY (h, jam))")
    src.run(
        "INSERT INTO jadwal SELECT h, j, 'MTK' FROM unnest(enum_range(NULL::hari)) h, "
        "generate_series(1, 15) j"
    )
    src.run("CREATE TABLE perangkat (ip INET PRIMARY KEY, ruang TEXT)")
    src.run(
        "INSERT INTO perangkat SELECT ('10.0.' || i / 25 || '.' || i % 25)::inet, 'lab' "
        "FROM generate_series(1, 60) i"
    )
    for table, rows in (("akun", len(_KODE)), ("jadwal", 75), ("perangkat", 60)):
        first = sync(src, dst, chunk_rows=10, tables=(table,))
        assert (first.verified, first.deleted, first.differences) == (True, 0, ()), table
        assert dst.count(table) == rows
        assert verify(src, dst, (table,)).verified
        again = sync(src, dst, chunk_rows=10, tables=(table,))
        assert (again.verified, again.inserted, again.updated, again.deleted) == (True, 0, 0, 0)


@pytest.mark.parametrize("dest", ["sqlite", "d1"])
def test_a_timestamp_key_from_postgresql_is_asked_as_the_text_sqlite_holds(
    dest: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A sensor log keyed by (device, timestamptz), an attendance log by its timestamp: into D1
    the sync stopped on a Python traceback ("Object of type datetime is not JSON serializable":
    a key range's bounds went into D1's JSON as they were read). Into SQLite they went through
    Python's default datetime adapter (deprecated since 3.12, and spelling `.500000` where the
    copy stores `.5`); both now get the text the copy holds."""
    src = make_db("postgresql", request, tmp_path, "analytics")
    dst = make_db(dest, request, tmp_path, "backup")
    src.run("CREATE TABLE log_absen (waktu TIMESTAMP PRIMARY KEY, nis INT)")
    src.run(
        "INSERT INTO log_absen SELECT '2025-07-14 07:00'::timestamp + i * interval '250 ms', i "
        "FROM generate_series(1, 60) i"
    )
    src.run(
        "CREATE TABLE sensor (alat INT, waktu TIMESTAMPTZ, suhu FLOAT8, PRIMARY KEY (alat, waktu))"
    )
    src.run(
        "INSERT INTO sensor SELECT a, '2025-07-14 07:00+07'::timestamptz + i * interval '1.5 s', "
        "i FROM generate_series(1, 2) a, generate_series(1, 30) i"
    )
    for table in ("log_absen", "sensor"):
        first = sync(src, dst, chunk_rows=7, tables=(table,))
        assert (first.verified, first.differences) == (True, ()), table
        assert dst.count(table) == 60
        src.run(f"DELETE FROM {table} WHERE ctid IN (SELECT ctid FROM {table} LIMIT 3)")
        again = sync(src, dst, chunk_rows=7, tables=(table,))
        assert (again.verified, again.deleted) == (True, 3), table
        assert verify(src, dst, (table,)).verified
