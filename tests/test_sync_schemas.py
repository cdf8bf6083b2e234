"""Source schemas the sync meets in real applications, on real databases (SQLite files, the
PostgreSQL cluster, the D1 stand-in). Each test names the bug it guards; both sides are also
compared directly, not only through the tool's own verify."""

from __future__ import annotations

from pathlib import Path

import pytest

from malnu_tui.engine.errors import ConfigError, SyncRefused
from malnu_tui.engine.sync import SyncRequest, SyncSession, run_sync, verify_sync
from tests.sync_support import Db, make_db, sync, verify

STAMP, LATER = "2025-11-24 08:00:00", "2025-11-25 09:00:00"


@pytest.mark.parametrize("source", ["sqlite", "d1"])
def test_a_source_column_named_synced_at_is_refused_not_dropped(
    source: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """An attendance app with offline devices records when each device synced a row, in a
    column `synced_at`. The copy's `synced_at` is the sync's own (when it wrote the row), so
    the source's values were silently left out — the copy held the sync's times instead —
    and `sync` and `sync verify` said verified / equal. Now both refuse, naming the column;
    a copy made by the sync (PostgreSQL → SQLite, its `synced_at` the sync's) still syncs."""
    src = make_db(source, request, tmp_path, "primary")
    pg = make_db("postgresql", request, tmp_path, "analytics")
    src.run(
        "CREATE TABLE absen (id INTEGER PRIMARY KEY, status TEXT, synced_at DATETIME, "
        "updated_at DATETIME)"
    )
    src.many(
        "INSERT INTO absen VALUES (?, 'H', ?, '2025-11-24 08:00:00')",
        [(1, "2025-11-24 07:01:00"), (2, None)],
    )
    with pytest.raises(SyncRefused) as refused:
        sync(src, pg)
    assert "absen: has a column synced_at of its own" in str(refused.value)
    assert 'RENAME COLUMN "synced_at"' in (refused.value.hint or "")
    assert pg.run("SELECT to_regclass('absen')") == [(None,)]
    # A copy the analytics migrations made: verify refuses as well.
    pg.run(
        "CREATE TABLE absen (id BIGINT PRIMARY KEY, status TEXT, synced_at TIMESTAMP, "
        "updated_at TIMESTAMP)"
    )
    with pytest.raises(SyncRefused) as also:
        verify(src, pg)
    assert "absen: has a column synced_at of its own" in str(also.value)
    pg.run("DROP TABLE absen")

    src.run("ALTER TABLE absen RENAME COLUMN synced_at TO device_synced_at")
    assert sync(src, pg).verified
    assert pg.run("SELECT device_synced_at::text FROM absen ORDER BY id") == [
        ("2025-11-24 07:01:00",),
        (None,),
    ]
    backup = make_db("sqlite", request, tmp_path, "backup")
    assert sync(pg, backup).verified  # the copy's synced_at is the sync's: not refused
    assert verify(pg, backup).verified


@pytest.mark.parametrize("dest", ["sqlite", "d1"])
def test_postgresql_tables_whose_names_only_case_tells_apart_are_refused_for_sqlite(
    dest: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """PostgreSQL keeps a Prisma model's "Siswa" beside a legacy `siswa`; SQLite's table names
    ignore case. Syncing both into SQLite or D1 stopped on a Python traceback ("table siswa
    already exists") after the first was copied, and `--tables siswa` later wrote the other
    table's rows over that copy (its rows deleted, verified). Both are now refused by name; one
    of them syncs on its own."""
    src = make_db("postgresql", request, tmp_path, "analytics")
    dst = make_db(dest, request, tmp_path, "backup")
    src.run('CREATE TABLE "Siswa" (id BIGINT PRIMARY KEY, nama TEXT)')
    src.run("CREATE TABLE siswa (id BIGINT PRIMARY KEY, nama TEXT)")
    src.many('INSERT INTO "Siswa" VALUES (?, ?)', [(1, "Besar"), (2, "B2")])
    src.many("INSERT INTO siswa VALUES (?, ?)", [(1, "kecil"), (3, "k3")])
    for run in (sync, verify):
        with pytest.raises(SyncRefused) as refused:
            run(src, dst)
        assert "Siswa, siswa: SQLite's table names ignore case" in str(refused.value)
    assert dst.run("SELECT name FROM sqlite_master WHERE name LIKE 'siswa'") == []

    assert sync(src, dst, tables=("Siswa",)).verified
    with pytest.raises(SyncRefused) as other:
        sync(src, dst, tables=("siswa",))
    assert "siswa: SQLite's table names ignore case" in str(other.value)
    assert "(the copy of Siswa)" in str(other.value)
    assert dst.run("SELECT id, nama FROM siswa ORDER BY id") == [(1, "Besar"), (2, "B2")]
    assert verify(src, dst, ("Siswa",)).verified


def test_a_partitioned_table_is_synced_once_as_itself_and_its_partitions_are_not(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Attendance partitioned by year (PostgreSQL 10+ declarative partitioning): "every
    table" meant the parent and each partition, so every row was copied twice (absensi and
    absensi_2025 held the same rows), verified, and the copy's totals were doubled for whoever
    summed its tables. Now the partitioned table is synced with all its rows and its
    partitions are not; one named in --tables is refused, naming its parent, as a view is said
    to be a view (it was "no table")."""
    src = make_db("postgresql", request, tmp_path, "sekolah")
    dst = make_db("sqlite", request, tmp_path, "backup")
    src.run(
        "CREATE TABLE absensi (id BIGINT, tanggal DATE NOT NULL, status TEXT, "
        "PRIMARY KEY (id, tanggal)) PARTITION BY RANGE (tanggal)"
    )
    for year in (2025, 2026):
        src.run(
            f"CREATE TABLE absensi_{year} PARTITION OF absensi "
            f"FOR VALUES FROM ('{year}-01-01') TO ('{year + 1}-01-01')"
        )
    src.many(
        "INSERT INTO absensi VALUES (?, ?, 'hadir')",
        [(i, f"{2025 + i % 2}-0{1 + i % 9}-1{i % 10}") for i in range(1, 61)],
    )
    src.run("CREATE VIEW v_hadir AS SELECT * FROM absensi WHERE status = 'hadir'")
    report = sync(src, dst)  # one table: the helper unpacks exactly one report
    assert (report.table, report.inserted, report.verified) == ("absensi", 60, True)
    assert verify(src, dst).verified
    tables = dst.run("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'absensi%'")
    assert tables == [("absensi",)]
    assert dst.run("SELECT count(*) FROM absensi") == [(60,)]
    for run in (sync, verify):
        with pytest.raises(ConfigError) as partition:
            run(src, dst, tables=("absensi_2026",))
        assert "absensi_2026 is a partition of absensi: its rows are synced with absensi" in str(
            partition.value
        )
        with pytest.raises(ConfigError, match=r"v_hadir is a view \(the sync copies tables"):
            run(src, dst, tables=("v_hadir",))
    dst.run("CREATE VIEW v_backup AS SELECT * FROM absensi")  # SQLite's views too
    with pytest.raises(ConfigError, match=r"v_backup is a view \(the sync copies tables"):
        sync(dst, make_db("sqlite", request, tmp_path, "other"), tables=("v_backup",))


@pytest.mark.parametrize("dest", ["sqlite", "postgresql"])
def test_a_table_others_inherit_from_is_synced_with_its_own_rows_only(
    dest: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Tables made with INHERITS (a school's logs split by year before declarative
    partitioning, or a `siswa_pindahan` sharing `siswa`'s columns): each is synced on its own,
    but the parent was read without ONLY, so its copy held the children's rows too — every
    child row copied twice, verified — and the parent's key, unique in its own rows only, came
    twice (a child row with id 1 beside the parent's: "✘ not verified", rows deleted and
    copied again by every sync). Each table's copy now holds its own rows, as pg_dump and
    logical replication take them."""
    src = make_db("postgresql", request, tmp_path, "sekolah")
    dst = (
        Db("postgresql", request.getfixturevalue("pg_second"))
        if dest == "postgresql"
        else make_db(dest, request, tmp_path, "backup")
    )
    src.run("CREATE TABLE catatan (id BIGINT PRIMARY KEY, isi TEXT, updated_at TIMESTAMP)")
    src.run("CREATE TABLE catatan_2024 (PRIMARY KEY (id)) INHERITS (catatan)")
    src.many("INSERT INTO catatan VALUES (?, ?, ?)", [(i, f"baru {i}", STAMP) for i in (1, 2, 3)])
    src.many(
        "INSERT INTO catatan_2024 VALUES (?, ?, ?)", [(i, f"lama {i}", STAMP) for i in (1, 7, 8)]
    )

    def both() -> dict[str, tuple[int, bool]]:
        with SyncSession(src.target("primary"), dst.target("analytics")) as s:
            return {r.table: (r.dest_count, r.verified) for r in run_sync(s, SyncRequest())}

    assert both() == {"catatan": (3, True), "catatan_2024": (3, True)}
    assert dst.run("SELECT isi FROM catatan ORDER BY id") == [("baru 1",), ("baru 2",), ("baru 3",)]
    src.run("UPDATE catatan_2024 SET isi = 'diubah', updated_at = ? WHERE id = 7", (LATER,))
    src.run("DELETE FROM catatan WHERE id = 3")
    assert both() == {"catatan": (2, True), "catatan_2024": (3, True)}
    assert dst.run("SELECT isi FROM catatan_2024 WHERE id = 7") == [("diubah",)]
    with SyncSession(src.target("primary"), dst.target("analytics")) as s:
        assert all(r.verified for r in verify_sync(s))


@pytest.mark.parametrize("dest", ["sqlite", "d1"])
def test_postgresql_columns_whose_names_only_case_tells_apart_are_refused_for_sqlite(
    dest: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A PostgreSQL table with "Nama" and nama (a column a later migration added in another
    case): SQLite's column names ignore case, so creating the copy stopped on a traceback
    ("duplicate column name: nama"); a copy made before got the hint to add "Nama", which
    SQLite refuses the same way. Refused by name; a PostgreSQL destination keeps both."""
    src = make_db("postgresql", request, tmp_path, "sekolah")
    dst = make_db(dest, request, tmp_path, "backup")
    src.run('CREATE TABLE t (id BIGINT PRIMARY KEY, "Nama" TEXT, nama TEXT, "Synced_At" TEXT)')
    src.run("INSERT INTO t VALUES (1, 'A', 'a', 'x')")
    with pytest.raises(SyncRefused) as refused:
        sync(src, dst)
    message = str(refused.value)
    assert "t: columns Nama, nama: SQLite's column names ignore case" in message, message
    assert "t: columns Synced_At, synced_at: " in message, message
    assert refused.value.hint is not None and "rename one of them" in refused.value.hint
    assert sync(src, Db("postgresql", request.getfixturevalue("pg_second"))).verified


@pytest.mark.parametrize("source", ["postgresql", "sqlite"])
def test_a_unique_key_holding_nulls_is_refused_not_said_synced(
    source: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """An alumni table keyed by a UNIQUE nis that older rows lack (NULL): its SQLite
    copy took the NULL keys (SQLite lets a non-INTEGER PRIMARY KEY be NULL), a change to such a
    row was never carried, and `sync` said "✔ yes" while `sync verify` said "extra: nis=NULL".
    Both now refuse the table, saying why."""
    src = make_db(source, request, tmp_path, "sekolah")
    dst = make_db("sqlite", request, tmp_path, "backup")
    src.run("CREATE TABLE alumni (nis TEXT UNIQUE, nama TEXT NOT NULL)")
    src.many("INSERT INTO alumni VALUES (?, ?)", [("A1", "Ani"), ("A2", "Dewi")])
    assert sync(src, dst).verified
    src.many("INSERT INTO alumni VALUES (?, ?)", [(None, "Budi"), (None, "Cici")])
    for run in (sync, verify):
        with pytest.raises(SyncRefused) as refused:
            run(src, dst)
        assert "alumni: key nis holds NULL" in str(refused.value)
        assert "cannot be told apart" in str(refused.value)
        assert refused.value.hint is not None and "WHERE key IS NULL" in refused.value.hint
    assert dst.run("SELECT count(*) FROM alumni") == [(2,)]
    src.run("UPDATE alumni SET nis = 'B-' || nama WHERE nis IS NULL")
    assert sync(src, dst).verified and verify(src, dst).verified


@pytest.mark.parametrize("source", ["postgresql", "sqlite"])
def test_tables_of_different_key_widths_sync_in_one_run_into_sqlite(
    source: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A SQLite copy's chunk writes put their keys in a temp table kept for the connection,
    made `IF NOT EXISTS` with as many columns as the first table's key: in one run, a table
    keyed by one column and then a join table keyed by two (a school's `kelas` and
    `anggota_kelas (kelas_id, siswa_id)`) stopped every sync after the first, at the second
    table's first changed chunk ("table temp.malnu_sync_keys has 1 columns but 2 values were
    supplied"), and the tables after it were left as they were. Each width now has its own."""
    src = make_db(source, request, tmp_path, "primary")
    dst = make_db("sqlite", request, tmp_path, "backup")
    src.run("CREATE TABLE a_kelas (id INTEGER PRIMARY KEY, nama TEXT)")
    src.run(
        "CREATE TABLE b_anggota (kelas_id INTEGER NOT NULL, siswa_id INTEGER NOT NULL, "
        "peran TEXT, PRIMARY KEY (kelas_id, siswa_id))"
    )
    src.run("CREATE TABLE c_mapel (id INTEGER PRIMARY KEY, nama TEXT)")
    src.many("INSERT INTO a_kelas VALUES (?, ?)", [(1, "7A"), (2, "7B")])
    src.many(
        "INSERT INTO b_anggota VALUES (?, ?, ?)", [(1, 1, "ketua"), (1, 2, None), (2, 3, None)]
    )
    src.many("INSERT INTO c_mapel VALUES (?, ?)", [(1, "IPA"), (2, "IPS")])

    def sync_all() -> list[bool]:
        with SyncSession(src.target("primary"), dst.target("analytics")) as s:
            return [r.verified for r in run_sync(s, SyncRequest())]

    assert sync_all() == [True, True, True]
    src.run("UPDATE a_kelas SET nama = '7A Unggulan' WHERE id = 1")
    src.run("DELETE FROM b_anggota WHERE kelas_id = 1 AND siswa_id = 2")
    src.run("UPDATE b_anggota SET peran = 'wakil' WHERE kelas_id = 2")
    src.run("UPDATE c_mapel SET nama = 'IPA Terpadu' WHERE id = 1")
    assert sync_all() == [True, True, True]
    assert dst.run("SELECT kelas_id, siswa_id, peran FROM b_anggota ORDER BY 1, 2") == [
        (1, 1, "ketua"),
        (2, 3, "wakil"),
    ]
    assert dst.run("SELECT nama FROM a_kelas ORDER BY id") == [("7A Unggulan",), ("7B",)]
    assert dst.run("SELECT nama FROM c_mapel ORDER BY id") == [("IPA Terpadu",), ("IPS",)]


@pytest.mark.parametrize(
    ("source", "dest"), [("sqlite", "sqlite"), ("d1", "sqlite"), ("sqlite", "d1")]
)
def test_nulls_in_an_integer_or_composite_key_are_refused_not_said_synced(
    source: str, dest: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """SQLite lets NULL into a key that is no INTEGER PRIMARY KEY: an `INT UNIQUE` code, a
    column of a composite PRIMARY KEY (a timetable keyed by class and day, the day not yet
    set). Only a text or blob first key column was looked at: into a SQLite or D1 copy,
    which took the NULL keys, a change to such a row was never carried, `sync` said "✔ yes"
    every time and `sync verify` said "missing: kelas=2, hari=NULL". Both now refuse the
    table, naming the column; an INTEGER PRIMARY KEY (never NULL) is not looked at."""
    src = make_db(source, request, tmp_path, "sekolah")
    dst = make_db(dest, request, tmp_path, "backup")
    src.run("CREATE TABLE jadwal (kelas INT, hari TEXT, mapel TEXT, PRIMARY KEY (kelas, hari))")
    src.run("CREATE TABLE kode (kode INT UNIQUE, nama TEXT)")
    src.run("CREATE TABLE siswa (id INTEGER PRIMARY KEY, nama TEXT)")
    src.many("INSERT INTO jadwal VALUES (?, ?, ?)", [(1, "senin", "IPA"), (2, "selasa", "IPS")])
    src.many("INSERT INTO kode VALUES (?, ?)", [(1, "a"), (2, "b")])
    src.many("INSERT INTO siswa VALUES (?, ?)", [(1, "Ani")])
    with SyncSession(src.target("primary"), dst.target("analytics")) as s:
        assert all(r.verified for r in run_sync(s, SyncRequest()))
    src.many("INSERT INTO jadwal VALUES (?, ?, ?)", [(3, None, "MTK")])
    src.many("INSERT INTO kode VALUES (?, ?)", [(None, "c")])
    for run in (sync, verify):
        for table, column in (("jadwal", "hari"), ("kode", "kode")):
            with pytest.raises(SyncRefused) as refused:
                run(src, dst, tables=(table,)) if run is sync else run(src, dst, (table,))
            assert f"{table}: key {column} holds NULL" in str(refused.value)
            assert "cannot be told apart" in str(refused.value)
    assert dst.run("SELECT count(*) FROM jadwal") == [(2,)]
    assert sync(src, dst, tables=("siswa",)).verified
    src.run("UPDATE jadwal SET hari = 'rabu' WHERE hari IS NULL")
    src.run("UPDATE kode SET kode = 3 WHERE kode IS NULL")
    for table in ("jadwal", "kode"):
        assert sync(src, dst, tables=(table,)).verified
        assert verify(src, dst, (table,)).verified
    assert dst.run("SELECT kelas, hari, mapel FROM jadwal ORDER BY 1") == [
        (1, "senin", "IPA"),
        (2, "selasa", "IPS"),
        (3, "rabu", "MTK"),
    ]


@pytest.mark.parametrize("source", ["sqlite", "d1"])
def test_a_time_key_in_two_layouts_is_refused_for_postgresql_not_half_deleted(
    source: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A log keyed by its DATETIME, written by SQLite (`2025-01-01 08:00:00`) and by a Worker
    (`2025-01-01T08:30:00.000Z`): SQLite pages the keys as text, where every `T` time sorts
    after the day's others, and the PostgreSQL copy's timestamp key by time, so each side's
    key range held rows of the other's. A `--full` into the copy deleted half of it and
    stopped on psycopg's "cannot dump lists of mixed types; got: datetime, str". `sync` and
    `sync verify` now refuse the table, naming a key and the statement that rewrites them; a
    SQLite copy (texts in the same order) still syncs, and keys in SQLite's own layout, with
    a fraction of a second or without, sync."""
    src = make_db(source, request, tmp_path, "primary")
    pg = make_db("postgresql", request, tmp_path, "analytics")
    backup = make_db("sqlite", request, tmp_path, "backup")
    src.run("CREATE TABLE log_waktu (waktu DATETIME PRIMARY KEY, pesan TEXT)")
    src.many(
        "INSERT INTO log_waktu VALUES (?, ?)",
        [(f"2025-01-01 {h:02d}:00:00{'.5' * (h % 2)}", f"p{h}") for h in range(24)],
    )
    assert sync(src, pg, chunk_rows=5).verified
    src.many(
        "INSERT INTO log_waktu VALUES (?, ?)",
        [(f"2025-01-01T{h:02d}:30:00.000Z", f"w{h}") for h in range(24)],
    )
    for run in (sync, verify):
        with pytest.raises(SyncRefused) as refused:
            run(src, pg, chunk_rows=5, full=True) if run is sync else run(src, pg)
        message, hint = str(refused.value), refused.value.hint or ""
        assert (
            "log_waktu: key waktu holds times in two layouts ('2025-01-01 00:00:00', "
            "'2025-01-01T00:30:00.000Z')"
        ) in message
        assert "SQLite orders such keys as text and the copy by time" in message
        assert """UPDATE "log_waktu" SET "waktu" = datetime("waktu") WHERE""" in hint
    assert pg.count("log_waktu") == 24
    assert sync(src, backup, chunk_rows=5).verified and verify(src, backup).verified
    src.run("""UPDATE "log_waktu" SET "waktu" = datetime("waktu") WHERE "waktu" GLOB '*[TZ+]*'""")
    assert sync(src, pg, chunk_rows=5).verified and verify(src, pg).verified
    assert pg.count("log_waktu") == 48
    # Keys in one layout of their own (every one a Worker's) are in one order: not refused;
    # an offset is refused.
    src.run("CREATE TABLE log_worker (waktu DATETIME PRIMARY KEY, pesan TEXT)")
    iso = [(f"2025-01-01T{h:02d}:30:00.000Z", f"w{h}") for h in range(24)]
    src.many("INSERT INTO log_worker VALUES (?, ?)", iso)
    assert sync(src, pg, tables=("log_worker",), chunk_rows=5).verified
    assert verify(src, pg, ("log_worker",)).verified
    src.run("CREATE TABLE log_wib (waktu DATETIME PRIMARY KEY, pesan TEXT)")
    src.many("INSERT INTO log_wib VALUES ('2025-01-01T08:00:00+07:00', 'a')", [()])
    with pytest.raises(SyncRefused, match=r"key waktu holds times with an offset \('2025"):
        sync(src, pg, tables=("log_wib",))


@pytest.mark.parametrize("source", ["sqlite", "postgresql"])
def test_a_table_named_in_another_case_is_said_with_its_own_name(
    source: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """`--tables kelas` for a source whose table is "Kelas" (a Prisma model): "no table
    'kelas'" beside a list holding Kelas, where SQLite's own SQL takes either. The error now
    says which table was meant; names are still matched in their case (nothing is synced)."""
    src = make_db(source, request, tmp_path, "primary")
    dst = make_db("sqlite", request, tmp_path, "backup")
    src.run('CREATE TABLE "Kelas" (id INTEGER PRIMARY KEY, nama TEXT)')
    for run in (sync, verify):
        with pytest.raises(ConfigError) as refused:
            run(src, dst, tables=("kelas",)) if run is sync else run(src, dst, ("kelas",))
        assert "no table 'kelas' at the source" in str(refused.value)
        assert "did you mean 'Kelas'? (names are matched in their case)" in str(refused.value)
    assert dst.run("SELECT name FROM sqlite_master WHERE name LIKE 'kelas'") == []


@pytest.mark.parametrize(("source", "dest"), [("sqlite", "postgresql"), ("postgresql", "sqlite")])
def test_a_drizzle_history_under_another_name_is_not_synced_as_data(
    source: str, dest: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Drizzle keeps its history under the `migrationsTable` a project names (`migrasi`),
    which `up` and `doctor` know by its columns (id, hash, created_at). The sync knew history
    tables by their usual names only: "every table" copied this one into the reporting
    database as data, and into one whose Drizzle keeps its history under the same name the
    refusal's hint (add synced_at) led to the primary's history over its own. It is now left
    out as the others are, and refused when named."""
    src = make_db(source, request, tmp_path, "primary")
    dst = make_db(dest, request, tmp_path, "analytics")
    src.run("CREATE TABLE siswa (id INTEGER PRIMARY KEY, nama TEXT)")
    src.run("CREATE TABLE migrasi (id INTEGER PRIMARY KEY, hash TEXT NOT NULL, created_at BIGINT)")
    src.many("INSERT INTO siswa VALUES (?, ?)", [(1, "Ani")])
    src.many("INSERT INTO migrasi VALUES (?, ?, ?)", [(1, "9f86d0", 1764000000000)])
    with SyncSession(src.target("primary"), dst.target("analytics")) as s:
        assert [(r.table, r.verified) for r in run_sync(s, SyncRequest())] == [("siswa", True)]
        assert [r.table for r in verify_sync(s)] == ["siswa"]
    assert dst.count("siswa") == 1
    exists = (
        "SELECT to_regclass('migrasi') IS NOT NULL"
        if dest == "postgresql"
        else ("SELECT count(*) > 0 FROM sqlite_master WHERE name = 'migrasi'")
    )
    assert dst.run(exists) in ([(False,)], [(0,)])
    for run in (sync, verify):
        with pytest.raises(ConfigError) as refused:
            run(src, dst, tables=("migrasi",)) if run is sync else run(src, dst, ("migrasi",))
        assert "migrasi is Drizzle's history by its columns (id, hash, created_at" in str(
            refused.value
        )


@pytest.mark.parametrize("dest", ["sqlite", "d1"])
def test_a_source_table_named_as_the_destinations_own_in_another_case_is_refused(
    dest: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A PostgreSQL source's "Migrations" (an application's own table, say) into a SQLite or D1
    copy is the copy's own tracking table there: SQLite's table names ignore case. The sync
    stopped on a bare 'table "Migrations" already exists'; it is now refused before anything
    is written, naming the table it would be, and the other tables are not touched."""
    src = make_db("postgresql", request, tmp_path, "primary")
    dst = make_db(dest, request, tmp_path, "backup")
    src.run('CREATE TABLE "Migrations" (id INTEGER PRIMARY KEY, note TEXT)')
    src.run("CREATE TABLE kelas (id INTEGER PRIMARY KEY, nama TEXT)")
    src.many("INSERT INTO kelas VALUES (?, ?)", [(1, "7A")])
    with SyncSession(src.target("primary"), dst.target("analytics")) as s:
        run_sync(s, SyncRequest(tables=("kelas",)))
    src.run('CREATE TABLE "Malnu_Audit" (id INTEGER PRIMARY KEY, note TEXT)')
    src.run("INSERT INTO kelas VALUES (2, '7B')")
    for verifying in (False, True):
        with (
            pytest.raises(SyncRefused) as refused,
            SyncSession(src.target("primary"), dst.target("analytics")) as s,
        ):
            if verifying:
                verify_sync(s, ())
            else:
                run_sync(s, SyncRequest())
        said = str(refused.value)
        assert (
            "Malnu_Audit: SQLite's table names ignore case: it would be the destination's " in said
        )
        assert "own table malnu_audit" in said and "Migrations: " in said, said
    assert dst.run("SELECT nama FROM kelas ORDER BY id") == [("7A",)]  # nothing written
