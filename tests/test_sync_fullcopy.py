"""A full copy SQLite → PostgreSQL into a table the sync creates: its primary key is built once
the rows are in (not a row at a time), each chunk checked meanwhile in the heap blocks it went
to. The table ends with the schema it would have had; a killed copy resumes and builds the key;
a duplicate key is a clear error that loses nothing; a row where no chunk was checked is found."""

from __future__ import annotations

import contextlib
import gc
import threading
from pathlib import Path
from typing import Any

import pytest
from psycopg import sql

from malnu_tui.engine.errors import BackendError, SyncRefused
from malnu_tui.engine.sync import (
    SyncProgress,
    SyncRequest,
    SyncSession,
    fastcopy,
    read_states,
    run_sync,
    verify_sync,
)
from malnu_tui.engine.sync import run as run_module
from malnu_tui.engine.sync.copytext import sqlite_select
from malnu_tui.engine.sync.destnames import inner
from malnu_tui.engine.sync.fastcopy import FastCopy
from malnu_tui.engine.sync.session import open_side
from malnu_tui.engine.sync.side_pgbuild import key_name
from malnu_tui.engine.sync.side_postgres import PostgresSide
from malnu_tui.engine.sync.side_sqlite import SqliteSide, q
from tests.sync_support import Db, make_db, sqlite_source, sync

CATALOG = """
SELECT 'index', c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i
  JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = 'users'::regclass
UNION ALL
SELECT 'constraint', conname, pg_get_constraintdef(oid) FROM pg_constraint
  WHERE conrelid = 'users'::regclass
UNION ALL
SELECT 'column', attname, format_type(atttypid, atttypmod) || ' ' || attnotnull::text || ' '
  || coalesce(pg_get_expr(d.adbin, d.adrelid), '') || ' ' || coalesce(co.collname, '')
  FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
  LEFT JOIN pg_collation co ON co.oid = a.attcollation AND a.attcollation <> 100
  WHERE a.attrelid = 'users'::regclass AND a.attnum > 0
UNION ALL
SELECT 'options', relname, coalesce(array_to_string(reloptions, ','), '') FROM pg_class
  WHERE oid = 'users'::regclass
ORDER BY 1, 2
"""


def source(tmp_path: Path, n: int) -> Db:
    src = sqlite_source(tmp_path)
    src.create_users(n)
    return src


def has_key(dst: Db) -> bool:
    return dst.run("SELECT count(*) FROM pg_index WHERE indrelid = 'users'::regclass")[0][0] == 1


def test_the_key_built_after_the_copy_gives_the_schema_a_sync_without_deferring_gives(
    tmp_path: Path, pg_url: str, pg_second: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = source(tmp_path, 700)
    src.run("CREATE TABLE tags (code TEXT PRIMARY KEY, label TEXT)")  # a text key: COLLATE "C"
    src.many("INSERT INTO tags VALUES (?, ?)", [(f"k{i:03d}", f"t{i}") for i in range(300)])
    deferred, plain = Db("postgresql", pg_url), Db("postgresql", pg_second)
    seen: list[bool] = []  # whether the table had its key while the copy went on

    def progress(p: SyncProgress) -> None:
        if p.table == "users" and p.phase == "copy" and p.rows == 200:
            seen.append(has_key(deferred))

    with SyncSession(src.target("primary"), deferred.target("analytics")) as s:
        reports = run_sync(s, SyncRequest(chunk_rows=100), progress)
    assert [(r.inserted, r.verified) for r in reports] == [(300, True), (700, True)]
    assert seen == [False] and has_key(deferred)
    monkeypatch.setattr(FastCopy, "defers_key", staticmethod(lambda s, shape: False))
    with SyncSession(src.target("primary"), plain.target("analytics")) as s:
        assert all(r.verified for r in run_sync(s, SyncRequest(chunk_rows=100)))
    for table in ("users", "tags"):
        query = CATALOG.replace("'users'", f"'{table}'")
        assert deferred.run(query) == plain.run(query)
    keys = (
        "SELECT conname FROM pg_constraint WHERE conrelid IN ('users'::regclass, 'tags'::regclass)"
    )
    assert deferred.run(keys + " ORDER BY 1") == [("tags_pkey",), ("users_pkey",)]
    (state, *_) = [st for st in read_states(deferred.target("a")) if st.table_name == "users"]
    assert (state.status, state.key_pending, state.direct) == ("done", False, False)


def test_the_key_built_after_the_copy_has_the_name_postgresql_gives_a_table_s_key(
    tmp_path: Path, pg_url: str, pg_second: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    long = "€" * 20  # 60 bytes: cut to 19 characters (57 bytes) before "_pkey"
    src = sqlite_source(tmp_path)
    for table in (long, "orders"):
        src.run(f'CREATE TABLE "{table}" (id INTEGER PRIMARY KEY, note TEXT)')
        src.many(f'INSERT INTO "{table}" VALUES (?, ?)', [(i, f"n{i}") for i in range(50)])
    deferred, plain = Db("postgresql", pg_url), Db("postgresql", pg_second)
    names = (
        "SELECT conrelid::regclass::text, conname FROM pg_constraint WHERE contype = 'p' "
        "AND connamespace = 'public'::regnamespace AND conname NOT LIKE 'malnu%'"
    )
    for dst in (deferred, plain):
        dst.run("CREATE SEQUENCE orders_pkey")  # taken: PostgreSQL picks orders_pkey1
        if dst is plain:
            monkeypatch.setattr(FastCopy, "defers_key", staticmethod(lambda s, shape: False))
        with SyncSession(src.target("primary"), dst.target("analytics")) as s:
            assert all(r.verified for r in run_sync(s, SyncRequest(chunk_rows=20)))
    assert deferred.run(names + " ORDER BY 2") == plain.run(names + " ORDER BY 2")
    got = {n for _, n in deferred.run(names)}
    assert {"orders_pkey1", "€" * 19 + "_pkey"} <= got and "orders_pkey" not in got
    assert key_name("a" * 63) == "a" * 58 + "_pkey" and key_name("users") == "users_pkey"


def test_both_counts_are_taken_while_the_key_is_built(
    tmp_path: Path, pg_url: str, pg_second: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real = run_module._counts
    monkeypatch.setattr(run_module, "_counts", lambda s, t: calls.append(t) or real(s, t))
    src = source(tmp_path, 300)
    report = sync(src, Db("postgresql", pg_url), chunk_rows=100)
    assert (report.verified, report.source_count, report.dest_count) == (True, 300, 300)
    assert calls == []  # the counts taken beside the build were used
    # The count beside the build fails (its connection lost): both counted again after it.
    count = PostgresSide.count

    def lost(self: PostgresSide, table: str) -> int:
        if threading.current_thread().name.startswith("malnu-sync-verify"):
            raise BackendError("lost")
        return count(self, table)

    monkeypatch.setattr(PostgresSide, "count", lost)
    report = sync(src, Db("postgresql", pg_second), chunk_rows=100)
    assert (report.verified, report.source_count, report.dest_count) == (True, 300, 300)
    assert calls == ["users"]


def test_a_copy_killed_before_its_key_was_built_resumes_and_builds_it(
    tmp_path: Path, pg_url: str
) -> None:
    src, dst = source(tmp_path, 900), Db("postgresql", pg_url)

    def kill(p: SyncProgress) -> None:
        if p.phase == "copy" and p.rows == 300:
            raise KeyboardInterrupt  # the process dies here: three chunks committed

    with pytest.raises(KeyboardInterrupt):
        sync(src, dst, kill, chunk_rows=100)
    assert not has_key(dst) and dst.count() == 300
    assert dst.run("SELECT status, direct FROM malnu_sync") == [("running", 2)]
    with SyncSession(src.target("primary"), dst.target("analytics")) as s:
        with pytest.raises(SyncRefused, match="interrupted before its primary key") as unfinished:
            verify_sync(s)
    assert unfinished.value.exit_code == 1  # what a sync left: not a usage error (exit 2)
    report = sync(src, dst, chunk_rows=100)
    assert (report.resumed, report.inserted, report.verified) == (True, 900, True)
    assert has_key(dst) and dst.count() == 900
    assert dst.run("SELECT count(DISTINCT id), direct FROM malnu_sync, users GROUP BY 2") == [
        (900, 0)
    ]


def test_a_duplicate_key_at_build_time_is_a_clear_error_and_nothing_is_lost(
    tmp_path: Path, pg_url: str
) -> None:
    src, dst = source(tmp_path, 500), Db("postgresql", pg_url)

    def stray(p: SyncProgress) -> None:
        if p.phase == "copy" and p.rows == 100:  # a hand-made row the copy brings again
            dst.run("INSERT INTO users (id, email, name, created_at, updated_at) VALUES "
                    "(480, 'x@y', 'Tangan', now(), now())")  # fmt: skip

    with pytest.raises(BackendError) as failed:
        sync(src, dst, stray, chunk_rows=100)
    assert "building the primary key of users" in str(failed.value)
    assert "(id)=(480)" in str(failed.value)
    assert dst.count() == 501 and not has_key(dst)  # every copied row kept
    dst.run("DELETE FROM users WHERE name = 'Tangan'")
    report = sync(src, dst, chunk_rows=100)
    assert (report.resumed, report.verified, report.dest_count) == (True, True, 500)
    assert has_key(dst)


def test_a_row_outside_the_blocks_its_range_was_checked_in_is_found_and_repaired(
    tmp_path: Path, pg_url: str
) -> None:
    src, dst = source(tmp_path, 500), Db("postgresql", pg_url)
    src.run("DELETE FROM users WHERE id = 50")

    def stray(p: SyncProgress) -> None:
        if p.phase == "copy" and p.rows == 300:  # in the first chunk's range, a later block
            dst.run("INSERT INTO users (id, email, name, created_at, updated_at) VALUES "
                    "(50, 'x@y', 'Tangan', now(), now())")  # fmt: skip

    report = sync(src, dst, stray, chunk_rows=100)
    assert (report.verified, report.deleted, report.dest_count) == (True, 1, 499)
    assert dst.run("SELECT count(*) FROM users WHERE id = 50") == [(0,)] and has_key(dst)


def test_the_watermark_is_the_greatest_text_value_from_an_index_end_or_one_scan(
    tmp_path: Path, pg_url: str
) -> None:
    src = source(tmp_path, 30)
    src.run("UPDATE users SET updated_at = '2025-11-24 09:00:00' WHERE id = 5")  # the newest
    src.run("UPDATE users SET updated_at = '2025-11-24T08:30:00' WHERE id = 6")  # greatest text
    src.run("CREATE TABLE marks (id INTEGER PRIMARY KEY, at DATETIME)")
    src.run("INSERT INTO marks VALUES (1, 1764000000), (2, x'ff'), (3, NULL), (4, 'b'), (5, 'a')")
    side = open_side(src.target("primary"))
    assert isinstance(side, SqliteSide)
    with contextlib.closing(side.backend):
        assert side.indexed_greatest_text("users", "updated_at") == (False, None)  # no index
        assert side.greatest("users", "updated_at") == "2025-11-24T08:30:00"  # one scan
        assert side.greatest("marks", "at") == "b"  # numbers, blobs, NULLs left out
        src.run("CREATE INDEX users_updated_nocase ON users (updated_at COLLATE NOCASE)")
        src.run("CREATE INDEX users_updated_part ON users (updated_at) WHERE id > 3")
        assert side.indexed_greatest_text("users", "updated_at") == (False, None)
        src.run("CREATE INDEX users_updated ON users (updated_at)")
        assert side.indexed_greatest_text("users", "updated_at") == (True, "2025-11-24T08:30:00")
        src.run("CREATE INDEX marks_at ON marks (at)")
        assert side.indexed_greatest_text("marks", "at") == (True, "b")
        assert side.greatest("marks", "at") == "b"
        src.run("DELETE FROM marks WHERE typeof(at) = 'text'")
        assert side.indexed_greatest_text("marks", "at") == (True, None)
        assert side.greatest("marks", "at") is None
    src.run("DROP TABLE marks")
    dst = Db("postgresql", pg_url)
    assert sync(src, dst, chunk_rows=7).verified
    (state,) = read_states(dst.target("analytics"))
    # The greatest text, normalized (never a later time than the newest row's).
    assert state.watermark == "2025-11-24 08:30:00"


def test_the_range_after_the_last_key_is_read_through_the_key_of_a_table_just_copied(
    tmp_path: Path, pg_url: str
) -> None:
    src, dst = source(tmp_path, 60), Db("postgresql", pg_url)
    assert sync(src, dst).verified
    dst.run("ALTER TABLE users SET (autovacuum_enabled = false)")
    dst.run(
        "INSERT INTO users (id, email, name, created_at, updated_at) SELECT g, 'x' || g, 'x', "
        "now(), now() FROM generate_series(61, 20000) g"
    )
    with SyncSession(src.target("primary"), dst.target("analytics")) as s:
        side = inner(s.dst)  # (the side itself, not the names it is spoken to in)
        assert isinstance(side, PostgresSide)
        shape = side.describe("users")
        assert shape is not None
        assert side.range_digest(shape, ((20_000,), None))[0] == 0
        assert side.range_digest(shape, ((19_990,), None))[0] == 10
        where, params = side._range(shape, ((60,), None))
        plan = side._rows(
            sql.SQL("EXPLAIN SELECT count(*) FROM users WHERE ") + sql.SQL(" AND ").join(where),
            params,
        )
    # No statistics yet (a third of the rows guessed for "id > 60"): still the key's index.
    assert not any("Seq Scan" in str(r[0]) for r in plan), plan


def test_the_garbage_collector_runs_less_often_while_a_copy_reads_and_as_before_after(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    usual = gc.get_threshold()
    seen: list[int] = []
    real = FastCopy.pages

    def pages(self: FastCopy, *a: Any, **kw: Any) -> Any:
        for page in real(self, *a, **kw):
            seen.append(gc.get_threshold()[0])
            yield page

    monkeypatch.setattr(FastCopy, "pages", pages)
    with fastcopy._Collector.batched():  # another copy at the same time, ending later
        assert sync(source(tmp_path, 30), Db("postgresql", pg_url), chunk_rows=10).verified
        assert gc.get_threshold()[0] == max(usual[0], 100_000)
    assert seen == [max(usual[0], 100_000)] * 3
    assert gc.get_threshold() == usual


def test_a_whole_real_is_read_as_the_integer_postgresql_prints_and_nothing_else_is(
    tmp_path: Path,
) -> None:
    src = sqlite_source(tmp_path)
    src.run("CREATE TABLE m (id INTEGER PRIMARY KEY, x REAL)")
    values = [5.0, 2.5, -3.0, 1e15, 0.1 + 0.2, None, "abc", b"\x00", 7]
    src.many("INSERT INTO m VALUES (?, ?)", list(enumerate(values)))
    side = open_side(src.target("primary"))
    assert isinstance(side, SqliteSide)
    with contextlib.closing(side.backend):
        shape = side.describe("m")
        assert shape is not None
        select = sqlite_select(shape, q)
        assert select is not None
        (page,) = side.pages(shape, after=None, page_rows=100, select=select)
    got = [r[1] for r in page]
    assert got == [5, 2.5, -3, 1e15, 0.30000000000000004, None, "abc", b"\x00", 7]
    assert [type(v) for v in got[:4]] == [int, float, int, float]


def test_a_table_wider_than_one_concat_ws_call_is_proved_by_its_bytes(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    src, dst = (
        Db("sqlite", f"sqlite:///{tmp_path / 'w.db'}", path=tmp_path / "w.db"),
        Db("postgresql", pg_url),
    )
    cols = [f"c{i} {'TEXT' if i % 3 else 'REAL'}{' NOT NULL' if i % 2 else ''}" for i in range(190)]
    src.run(f"CREATE TABLE wide (id INTEGER PRIMARY KEY, {', '.join(cols)})")
    values = [(i, *(f"v{i}\\{j}" if j % 3 else i + j / 4 for j in range(190))) for i in range(300)]
    src.many(f"INSERT INTO wide VALUES ({', '.join('?' * 191)})", values)
    src.run("UPDATE wide SET c2 = NULL WHERE id = 7")  # nullable: \N
    compared: list[object] = []
    real = fastcopy.compare_table
    monkeypatch.setattr(
        fastcopy, "compare_table", lambda *a, **k: compared.append(k) or real(*a, **k)
    )
    report = sync(src, dst, chunk_rows=100)
    assert report.verified and report.inserted == 300
    assert compared == [{"bounds": ((299,), None)}]  # only the range after the copy's last key


def test_a_chunk_not_in_the_blocks_it_was_looked_for_in_is_proved_by_its_key_range(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Rows can land in space an older block had free (after a VACUUM): the chunk's check in
    # its blocks then fails, and its key range is hashed again once the key is built.
    src, dst = source(tmp_path, 400), Db("postgresql", pg_url)
    real_digest = PostgresSide.copy_digest
    looked: list[object] = []

    def nowhere(self: PostgresSide, shape: Any, bounds: Any, blocks: Any = None) -> Any:
        looked.append(blocks)
        return real_digest(self, shape, bounds, None if blocks is None else (0, 0))

    compared: list[object] = []
    real_compare = fastcopy.compare_table
    monkeypatch.setattr(PostgresSide, "copy_digest", nowhere)
    monkeypatch.setattr(
        fastcopy, "compare_table", lambda *a, **k: compared.append(k) or real_compare(*a, **k)
    )
    report = sync(src, dst, chunk_rows=100)
    assert report.verified and report.inserted == 400
    assert sum(b is not None for b in looked) == 4  # each chunk looked for in its blocks first
    assert compared == [{"bounds": ((400,), None)}]  # then proved by key range, not by value


@pytest.mark.parametrize(
    ("kind", "dest", "index"),
    [
        ("sqlite", "postgresql", True),
        ("sqlite", "postgresql", False),
        ("d1", "postgresql", False),
        ("postgresql", "sqlite", False),
    ],
    ids=["index", "scan", "d1", "from-postgresql"],
)
def test_a_row_changed_behind_a_copy_longer_than_the_overlap_is_read_by_the_next_pass(
    tmp_path: Path, request: pytest.FixtureRequest, kind: str, dest: str, index: bool
) -> None:
    """The watermark a full copy leaves (from an index on the cursor column, or one scan) is
    the greatest value before its first page: a row changed while the copy ran, behind its
    reading, is read by the next incremental pass even with no overlap window at all (a copy
    that lasts longer than the window is the same case); the copy's own check cannot see it
    (its bytes were sent)."""
    src, dst = make_db(kind, request, tmp_path, "source"), make_db(dest, request, tmp_path, "dest")
    src.create_users(1000)
    if index:
        src.run("CREATE INDEX users_updated ON users (updated_at)")

    def meanwhile(p: SyncProgress) -> None:
        if p.phase == "copy" and p.rows == 100:  # the first chunk is in; 1000 is read later
            src.run("UPDATE users SET name = 'behind', updated_at = '2025-11-24 09:00:00' "
                    "WHERE id = 1")  # fmt: skip
            src.run("UPDATE users SET name = 'ahead', updated_at = '2025-11-24 10:00:00' "
                    "WHERE id = 1000")  # fmt: skip

    assert sync(src, dst, meanwhile, chunk_rows=100, overlap_seconds=0).verified
    (state,) = read_states(dst.target("analytics"))
    assert state.watermark == "2025-11-24 08:00:00"  # before the copy, not 10:00
    assert dst.run("SELECT name FROM users WHERE id IN (1, 1000) ORDER BY id") == [
        ("Siswa 1",),  # read before it changed
        ("ahead",),  # read after
    ]
    again = sync(src, dst, chunk_rows=100, overlap_seconds=0)
    assert (again.mode, again.updated, again.verified) == ("updated_at", 1, True)
    assert dst.run("SELECT name FROM users WHERE id IN (1, 1000) ORDER BY id") == [
        ("behind",),
        ("ahead",),
    ]


def test_times_that_say_their_offset_are_sent_as_utc_and_written_once(
    tmp_path: Path, pg_url: str
) -> None:
    """A SQLite app stamping in WIB with its offset (`dayjs().format()`: `…T17:00:00+07:00`,
    and `.250` fractions): the fast path sent the text as it was, PostgreSQL's `timestamp`
    dropped the offset, and each chunk's check found every such row different and wrote it
    again — a full copy of 300 rows "inserted 300, updated 300", an incremental pass's one
    change "updated 2". Each is written once now, as its UTC time."""
    src, dst = sqlite_source(tmp_path), Db("postgresql", pg_url)
    src.run("CREATE TABLE absen (id INTEGER PRIMARY KEY, updated_at DATETIME, masuk DATETIME)")
    stamps = ["2026-01-05T08:00:00+07:00", "2026-01-05 08:00:00.250 +07:00", "2026-01-05 01:00:00"]
    src.many(
        "INSERT INTO absen VALUES (?, ?, ?)",
        [(i, stamps[i % 3], "2026-01-04T23:30:00.5-05:00") for i in range(1, 301)],
    )
    first = sync(src, dst, chunk_rows=100)
    assert (first.inserted, first.updated, first.verified) == (300, 0, True), first
    assert dst.run("SELECT DISTINCT updated_at::text, masuk::text FROM absen ORDER BY 1") == [
        ("2026-01-05 01:00:00", "2026-01-05 04:30:00.5"),
        ("2026-01-05 01:00:00.25", "2026-01-05 04:30:00.5"),
    ]
    src.run("UPDATE absen SET updated_at = '2026-01-05T09:00:00.125+07:00' WHERE id = 7")
    second = sync(src, dst)
    assert (second.updated, second.verified) == (1, True), second
    assert dst.run("SELECT updated_at::text FROM absen WHERE id = 7") == [
        ("2026-01-05 02:00:00.125",)
    ]


def test_unix_milliseconds_in_a_timestamptz_column_are_copied_as_their_utc_time(
    tmp_path: Path, pg_url: str
) -> None:
    """A SQLite TIMESTAMPTZ column holding ``Date.now()`` milliseconds (and one a WIB text),
    copied by the fast path into a ``timestamptz``: the number was sent as it was and
    PostgreSQL refused it at the first row."""
    src, dst = sqlite_source(tmp_path), Db("postgresql", pg_url)
    src.run("CREATE TABLE e (id INTEGER PRIMARY KEY, at TIMESTAMPTZ)")
    src.many("INSERT INTO e VALUES (?, ?)", [(i, 1767600000000 + i) for i in range(1, 11)])
    src.run("UPDATE e SET at = '2026-01-05T15:00:00.5+07:00' WHERE id = 10")
    report = sync(src, dst)
    assert (report.inserted, report.updated, report.verified) == (10, 0, True), report
    assert dst.run("SELECT at::text FROM e WHERE id IN (1, 10) ORDER BY id") == [
        ("2026-01-05 08:00:00.001+00",),
        ("2026-01-05 08:00:00.5+00",),
    ]


def test_times_with_short_offsets_are_sent_as_utc_and_written_once(
    tmp_path: Path, pg_url: str
) -> None:
    """Offsets written without a colon or minutes (`+07`: what PostgreSQL prints for a
    `timestamptz` in WIB, so what an export from the reporting database carries back;
    `+0700`/`-0500`: Python's `%z`, moment's `ZZ`), with and without a fraction or a space:
    the fast path sent them as they were, PostgreSQL's `timestamp` dropped the offset, and
    each chunk's check wrote every such row again (a first copy of 300 rows said
    "inserted 300, updated 200"). Each is written once now, as its UTC time."""
    src, dst = sqlite_source(tmp_path), Db("postgresql", pg_url)
    src.run("CREATE TABLE absen (id INTEGER PRIMARY KEY, updated_at DATETIME, masuk DATETIME)")
    stamps = [
        "2026-01-05 08:00:00+07",
        "2026-01-05T08:00:00.250+0700",
        "2026-01-05 01:00:00",
        "2026-01-05 08:00:00.25 +07",
        "2026-01-04T20:00:00-0500",
        "2026-01-05 08:00:00.250+07:00",
    ]
    src.many(
        "INSERT INTO absen VALUES (?, ?, ?)",
        [(i, stamps[i % 6], "2026-01-04 23:30:00.5-05") for i in range(1, 301)],
    )
    first = sync(src, dst, chunk_rows=100)
    assert (first.inserted, first.updated, first.verified) == (300, 0, True), first
    assert dst.run("SELECT DISTINCT updated_at::text, masuk::text FROM absen ORDER BY 1") == [
        ("2026-01-05 01:00:00", "2026-01-05 04:30:00.5"),
        ("2026-01-05 01:00:00.25", "2026-01-05 04:30:00.5"),
    ]
    src.run("UPDATE absen SET updated_at = '2026-01-05 09:00:00.125+07' WHERE id = 7")
    second = sync(src, dst)
    assert (second.updated, second.verified) == (1, True), second
    assert dst.run("SELECT updated_at::text FROM absen WHERE id = 7") == [
        ("2026-01-05 02:00:00.125",)
    ]
