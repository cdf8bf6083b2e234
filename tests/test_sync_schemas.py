"""Source schemas the sync meets in real applications, on real databases (SQLite files, the
PostgreSQL cluster, the D1 stand-in). Each test names the bug it guards; both sides are also
compared directly, not only through the tool's own verify."""

from __future__ import annotations

from pathlib import Path

import pytest

from malnu_tui.engine.errors import SyncRefused
from tests.sync_support import make_db, sync, verify


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
