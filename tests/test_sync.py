"""The sync engine on real databases: SQLite and D1 (the local server) to PostgreSQL, and back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from malnu_tui.engine.errors import BackendError, LockHeld, SyncRefused
from malnu_tui.engine.sync import (
    SyncProgress,
    SyncRequest,
    SyncSession,
    dry_run,
    plan_sync,
    read_states,
    run_sync,
)
from malnu_tui.engine.sync import run as run_module
from malnu_tui.engine.sync import verify as verify_module
from malnu_tui.engine.sync.fastcopy import FastCopy
from malnu_tui.engine.sync.side import key_fingerprint, same_fingerprint
from malnu_tui.engine.sync.side_postgres import PostgresSide
from malnu_tui.engine.sync.side_sqlchanged import utc_sql
from malnu_tui.engine.sync.verify import keys_digest
from tests.sync_support import COLUMNS, Db, make_db, sqlite_source, sqlite_to_pg, sync, verify

PAIRS = [
    ("sqlite", "postgresql"),
    ("d1", "postgresql"),
    ("postgresql", "sqlite"),
    ("postgresql", "d1"),
]


@pytest.fixture(params=PAIRS, ids=[f"{a}-to-{b}" for a, b in PAIRS])
def ends(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Db, Db]:
    a, b = request.param
    return make_db(a, request, tmp_path, "source"), make_db(b, request, tmp_path, "dest")


def rows(db: Db) -> list[tuple[object, ...]]:
    """The users rows as text, the same on every kind (for comparing sides directly)."""
    out = []
    for r in db.run(f"SELECT {', '.join(COLUMNS)} FROM users ORDER BY id"):
        vals = list(r)
        vals[3] = None if vals[3] is None else bool(vals[3])
        vals[5] = None if vals[5] is None else bytes(vals[5]).hex()
        vals[6] = None if vals[6] is None else str(vals[6])[:10]
        vals[7] = str(vals[7])[:19]
        vals[8] = str(vals[8])[:19]
        out.append(tuple(vals))
    return out


def synced_users(tmp_path: Path, pg_url: str, n: int) -> tuple[Db, Db]:
    """A SQLite users table of ``n`` rows stamped 2025-11-20, the last one later (the
    watermark), synced once into PostgreSQL and verified."""
    src, dst = sqlite_to_pg(tmp_path, pg_url)
    src.create_users(n, updated="2025-11-20 08:00:00")
    src.run(f"UPDATE users SET updated_at = '2025-11-24 08:00:00' WHERE id = {n}")  # watermark
    assert sync(src, dst).verified
    return src, dst


def test_first_full_sync_then_incremental_carries_exactly_the_changes(ends: tuple[Db, Db]) -> None:
    src, dst = ends
    src.create_users(120)
    first = sync(src, dst)
    assert (first.mode, first.inserted, first.updated, first.deleted) == ("full", 120, 0, 0)
    assert first.verified and first.source_count == first.dest_count == 120
    assert rows(dst) == rows(src)
    assert dst.run("SELECT count(*) FROM users WHERE synced_at IS NULL") == [(0,)]

    later = "2025-11-25 09:00:00"
    src.insert_users([500, 501], updated=later)
    src.run(f"UPDATE users SET name = 'Baru', updated_at = '{later}' WHERE id IN (3, 4, 5)")
    src.run("DELETE FROM users WHERE id IN (10, 11)")
    second = sync(src, dst)
    assert second.mode == "updated_at"
    assert (second.inserted, second.updated, second.deleted) == (2, 3, 2)
    assert second.verified and not second.differences
    assert rows(dst) == rows(src)
    third = sync(src, dst)
    assert (third.inserted, third.updated, third.deleted) == (0, 0, 0)


def test_an_incremental_sync_verifies_what_it_wrote_and_finds_deletes_in_untouched_ranges(
    ends: tuple[Db, Db], monkeypatch: pytest.MonkeyPatch
) -> None:
    src, dst = ends
    monkeypatch.setattr(verify_module, "BUCKET_ROWS", 16)  # 300 rows: about 19 key ranges
    src.create_users(300, updated="2025-11-20 08:00:00")
    src.run("UPDATE users SET updated_at = '2025-11-24 08:00:00' WHERE id = 300")  # watermark
    first = sync(src, dst)
    assert first.verified and first.scope == "full"
    (state,) = read_states(dst.target("analytics"))
    assert state.watermark == "2025-11-24 08:00:00"  # the newest updated_at copied
    later = "2025-11-25 09:00:00"
    dense = [i for i in range(10, 21) if i != 15]
    src.run(f"UPDATE users SET name = 'Baru', updated_at = '{later}' WHERE id IN "
            f"({', '.join(map(str, dense))}, 100, 290)")  # fmt: skip
    dst.run("UPDATE users SET name = 'Diubah' WHERE id IN (15, 200)")  # by hand, at the copy
    src.run("DELETE FROM users WHERE id = 250")  # a range this sync writes nothing into
    second = sync(src, dst, chunk_rows=10)  # chunks: ids 10-19 (dense), then 20, 100, 290, 300
    assert (second.mode, second.scope, second.verified) == ("updated_at", "changed", True)
    # 12 rows carried, and id 15 (between the written ids 14 and 16) found and repaired.
    assert (second.updated, second.deleted) == (13, 1)
    assert second.as_json()["verified_scope"] == "changed"
    assert dst.run("SELECT name FROM users WHERE id IN (15, 250)") == [("Siswa 15",)]
    # id 200 lies in a range this sync neither wrote nor saw change: `sync verify` names it.
    report = verify(src, dst)
    assert [(d.kind, d.key) for d in report.differences] == [("different", (200,))]
    assert report.scope == "full"
    with SyncSession(src.target("primary"), dst.target("analytics")) as s:
        shape = s.src.describe("users")
        assert shape is not None and s.dst.describe("users") is not None
        keys = [(i,) for i in range(1, 201)]
        assert keys_digest(s.dst, shape, keys[:-1]) == keys_digest(s.src, shape, keys[:-1])
        assert keys_digest(s.dst, shape, keys) != keys_digest(s.src, shape, keys)


def test_a_deleted_source_row_and_a_compensating_lost_row_are_both_found(
    ends: tuple[Db, Db], monkeypatch: pytest.MonkeyPatch
) -> None:
    src, dst = ends
    src.create_users(200, updated="2025-11-20 08:00:00")
    src.run("UPDATE users SET updated_at = '2025-11-24 08:00:00' WHERE id = 200")  # watermark
    assert sync(src, dst).verified
    splits: list[bool] = []
    real = verify_module.bucket_ranges

    def buckets(*a: Any, **k: Any) -> Any:
        found = real(*a, **k)
        splits.append(found is not None)
        return found

    pg_fingerprints: list[str] = []
    pg_fingerprint = PostgresSide.key_fingerprint

    def counted(side: PostgresSide, shape: Any) -> Any:
        pg_fingerprints.append(shape.name)
        return pg_fingerprint(side, shape)

    monkeypatch.setattr(verify_module, "BUCKET_ROWS", 16)
    monkeypatch.setattr(verify_module, "bucket_ranges", buckets)
    monkeypatch.setattr(PostgresSide, "key_fingerprint", counted)
    src.run("UPDATE users SET name = 'Baru', updated_at = '2025-11-25 09:00:00' WHERE id = 7")
    src.insert_users([500, 501], updated="2025-11-25 09:00:00")
    # Nothing deleted or lost: the key fingerprints are equal (a PostgreSQL destination's
    # taken before the writes, plus the keys they inserted).
    quiet = sync(src, dst)
    assert (quiet.scope, quiet.verified, splits) == ("changed", True, [])
    assert (quiet.inserted, quiet.updated, quiet.dest_count) == (2, 1, 202)
    assert pg_fingerprints == ["users"]  # PostgreSQL's side computed it once, not again after
    # The counts stay equal: a row deleted at the source (an extra one at the copy) and a row
    # lost from the copy by hand, both in ranges this sync writes nothing into.
    src.run("DELETE FROM users WHERE id = 50")
    dst.run("DELETE FROM users WHERE id = 120")
    src.run("UPDATE users SET name = 'Lagi', updated_at = '2025-11-25 10:00:00' WHERE id = 7")
    report = sync(src, dst)
    assert splits == [True]  # the fingerprints differed: the key ranges were split
    assert (report.scope, report.verified, report.deleted) == ("changed", True, 1)
    assert report.inserted + report.updated == 2  # id 120 written again, and id 7
    assert rows(dst) == rows(src)


def test_the_key_fingerprint_is_the_same_integers_in_sqlite_postgresql_and_python(
    tmp_path: Path, pg_url: str
) -> None:
    keys = [-(2**62), -(2**31) - 5, -7, -1, 0, 1, 2, 2_147_483_629, 2**40 + 3, 2**62 - 1]
    keys += list(range(1000, 1300, 7))
    src, dst = sqlite_to_pg(tmp_path, pg_url)
    for db in (src, dst):
        db.create_users(0)
        db.insert_users(keys)
    expected = key_fingerprint(keys)
    with SyncSession(src.target("primary"), dst.target("analytics")) as s:
        shape = s.src.describe("users")
        assert shape is not None and s.dst.describe("users") is not None
        assert s.src.key_fingerprint(shape) == s.dst.key_fingerprint(shape) == expected
        moved = key_fingerprint([k + (1 if k == 1000 else -1 if k == 1280 else 0) for k in keys])
        assert moved[0] == expected[0] and moved[1] != expected[1]  # +1 and −1 do not cancel
    # Neither do sets with the same sum and the same sum of squares (an extra 1, 5, 6 at the
    # copy while 2, 3, 7 are missing there).
    assert not same_fingerprint(key_fingerprint([1, 5, 6]), key_fingerprint([2, 3, 7]))
    # A key column that is not the rowid may hold text, which arithmetic reads as a number.
    src.run("CREATE TABLE tags (code INTEGER NOT NULL UNIQUE, label TEXT)")
    src.run("INSERT INTO tags VALUES (1, 'a'), ('x1', 'b')")
    with SyncSession(src.target("primary"), dst.target("analytics")) as s:
        tags = s.src.describe("tags")
        assert tags is not None and tags.key == ("code",)
        assert s.src.key_fingerprint(tags) is None
        users = s.src.describe("users")
        assert users is not None and s.src._rowid_key(users)  # type: ignore[attr-defined]
    # Keys whose sum SQLite cannot hold in 64 bits: the key ranges are compared instead.
    big = [3 * 2**60 + i for i in range(4)]
    src.run("CREATE TABLE big (id INTEGER PRIMARY KEY, updated_at DATETIME NOT NULL)")
    src.run("INSERT INTO big VALUES " + ", ".join(f"({k}, '2025-11-24 08:00:00')" for k in big))
    assert sync(src, dst, tables=("big",)).verified
    src.run(f"DELETE FROM big WHERE id = {big[1]}")
    src.run(f"UPDATE big SET updated_at = '2025-11-25 08:00:00' WHERE id = {big[0]}")
    report = sync(src, dst, tables=("big",))
    assert (report.scope, report.verified, report.updated, report.deleted) == (
        "changed", True, 1, 1)  # fmt: skip
    with SyncSession(src.target("primary"), dst.target("analytics")) as s:
        shape = s.src.describe("big")
        assert shape is not None
        with pytest.raises(BackendError):
            s.src.key_fingerprint(shape)


def test_a_late_commit_with_an_older_updated_at_inside_the_overlap_is_not_lost(
    tmp_path: Path, pg_url: str
) -> None:
    src, dst = sqlite_to_pg(tmp_path, pg_url)
    src.create_users(50, updated="2025-11-24 08:00:00")
    src.run("UPDATE users SET updated_at = '2025-11-24 09:00:00' WHERE id = 1")  # watermark
    sync(src, dst, overlap_seconds=600)
    # Committed after the first sync, stamped before its watermark (a long transaction).
    src.insert_users([77], updated="2025-11-24 08:55:00")
    report = sync(src, dst, overlap_seconds=600)
    assert report.inserted == 1 and report.verified
    assert report.read == 2  # the watermark row and the late one: read by the overlap window
    assert dst.run("SELECT name FROM users WHERE id = 77") == [("Siswa 77",)]


def test_a_row_older_than_the_overlap_still_arrives_through_the_verification(
    tmp_path: Path, pg_url: str
) -> None:
    src, dst = sqlite_to_pg(tmp_path, pg_url)
    src.create_users(30)
    src.run("UPDATE users SET updated_at = '2025-11-24 09:00:00' WHERE id = 1")  # watermark
    sync(src, dst, overlap_seconds=0)
    src.insert_users([99], updated="2020-01-01 00:00:00")
    report = sync(src, dst, overlap_seconds=0)
    # Read: the row at the watermark (>=), then row 99 found missing by the range checksums.
    assert report.inserted == 1 and report.verified and report.read == 2


def test_concurrent_writes_during_a_sync_then_one_more_sync_verify_clean(
    tmp_path: Path, pg_url: str
) -> None:
    src, dst = sqlite_to_pg(tmp_path, pg_url)
    src.create_users(1500)
    writes = iter(range(10_000, 10_030))

    def meanwhile(p: SyncProgress) -> None:
        # Another session writes at the source between the sync's chunks.
        n = next(writes, None)
        if n is None:
            return
        src.insert_users([n], updated="2025-11-24 08:00:00")
        src.run(f"UPDATE users SET name = 'x{n}' WHERE id = {n - 9_990}")
        src.run(f"DELETE FROM users WHERE id = {n - 9_000}")

    with SyncSession(src.target("primary"), dst.target("analytics")) as s:
        run_sync(s, SyncRequest(chunk_rows=100), meanwhile)
    again = sync(src, dst)
    assert again.verified
    assert verify(src, dst).verified
    assert rows(dst) == rows(src)


def test_a_hand_edited_destination_row_is_named_by_key_among_100000(
    tmp_path: Path, pg_url: str
) -> None:
    src, dst = sqlite_to_pg(tmp_path, pg_url)
    # Both sides filled by their own SQL (fast), then compared by the engine.
    src.run("CREATE TABLE grades (id INTEGER PRIMARY KEY, student TEXT NOT NULL, grade REAL, "
            "passed BOOLEAN)")  # fmt: skip
    src.run(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000) "
        "INSERT INTO grades SELECT i, 'siswa' || i, (i % 101) * 1.0, i % 2 FROM n"
    )
    dst.run("CREATE TABLE grades (id BIGINT PRIMARY KEY, student TEXT NOT NULL, "
            "grade DOUBLE PRECISION, passed BOOLEAN, synced_at TIMESTAMP)")  # fmt: skip
    dst.run(
        "INSERT INTO grades SELECT i, 'siswa' || i, (i % 101)::float8, i % 2 = 1, now() "
        "FROM generate_series(1, 100000) i"
    )
    assert verify(src, dst).verified
    dst.run("UPDATE grades SET grade = 100 WHERE id = 73519")
    dst.run("DELETE FROM grades WHERE id = 4242")
    dst.run("INSERT INTO grades VALUES (100001, 'hantu', 1, false, now())")
    report = verify(src, dst)
    assert not report.verified
    assert {(d.kind, d.key) for d in report.differences} == {
        ("different", (73519,)),
        ("missing", (4242,)),
        ("extra", (100001,)),
    }


def test_values_of_every_kind_never_report_a_false_difference(
    tmp_path: Path, pg_url: str, d1_url: str, request: pytest.FixtureRequest
) -> None:
    src = sqlite_source(tmp_path)
    pg = Db("postgresql", pg_url)
    d1 = make_db("d1", request, tmp_path, "d1")
    src.run(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, flag BOOLEAN, at DATETIME, at_tz TIMESTAMPTZ, "
        "day DATE, n INTEGER, r REAL, price NUMERIC(10, 2), b BLOB, s TEXT, j JSON, c VARCHAR(5), "
        "t TIME)"
    )
    values = [
        (1, 1, "2025-01-01 10:00:00", "2025-01-01T10:00:00Z", "2025-01-01", 2**62, 0.1,
         "12.50", b"\x00\xff", "ä'\"\\\t\n", '{"b": 1, "a": [1, 2]}', "abc", "07:30:00"),
        (2, 0, "2025-01-01T10:00:00.500", "2025-01-01 12:00:00+02:00", "2024-02-29", -1,
         1e20, 3, b"", "", "[]", "", "23:59:59.500"),
        (3, "true", "2025-06-30 23:59:59.123456", None, None, 0, -0.5, "0.10", None, None,
         "null", None, None),
        (4, "f", None, None, None, None, None, None, None, "NULL", None, "N", "00:00:00.000001"),
        (5, None, None, None, None, None, None, None, None, None, None, None, None),
    ]  # fmt: skip
    src.many("INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", values)
    there = sync(src, pg)
    assert there.verified and not there.differences, there
    assert there.read == 5  # nothing re-read: the verification found no false difference
    assert verify(src, pg).verified  # PostgreSQL's checksums computed by the server
    back = sync(pg, d1)
    assert back.verified and not back.differences, back
    assert verify(d1, src).verified  # D1 ↔ SQLite: both hashed here, each row read once
    assert pg.run("SELECT flag, b, price FROM t WHERE id = 1") == [(True, b"\x00\xff", 12.5)]


def byte_digests(src: Db, dst: Db, table: str, size: int) -> tuple[list[Any], list[bool]]:
    """The fast copy's pages of ``table`` (``size`` rows each, in key order) and, per page,
    whether the destination's byte digest of its key range equals the one the copy made."""
    with SyncSession(src.target("primary"), dst.target("analytics")) as s:
        shape = s.src.describe(table)
        assert shape is not None and s.dst.describe(table) is not None
        fast = FastCopy.start(s, shape, direct=False)
        assert fast is not None
        try:
            pages = list(fast.pages(None, size))
        finally:
            fast.close()
        lo = None
        same = []
        for page, _data, md5 in pages:
            hi = (page[-1][0],)
            same.append(s.dst.copy_digest(shape, (lo, hi)) == (len(page), md5))
            lo = hi
    return [page for page, _data, _md5 in pages], same


def test_a_full_copy_is_proved_by_its_bytes_and_another_layout_is_no_difference(
    tmp_path: Path, pg_url: str
) -> None:
    src, dst = sqlite_to_pg(tmp_path, pg_url)
    src.create_users(50)  # booleans, REALs (whole and not), BLOBs, dates, NULLs
    src.run("UPDATE users SET updated_at = '2025-11-24T08:00:00' WHERE id = 17")  # same time
    # Text of several bytes per character: both sides hash the UTF-8 bytes.
    src.run("UPDATE users SET name = 'Muḥammad ʿAbdullāh محمد عبد الله' WHERE id = 23")
    report = sync(src, dst)
    assert report.verified and not report.differences and report.inserted == 50
    assert dst.run("SELECT updated_at::text FROM users WHERE id = 17") == [("2025-11-24 08:00:00",)]
    (state,) = read_states(dst.target("analytics"))
    assert state.watermark == "2025-11-24 08:00:00"  # the greatest text, in the normal form
    _pages, same = byte_digests(src, dst, "users", 10)
    # The bytes prove every range but the one holding id 17 ('T'), which the sync compared
    # value by value: equal, so not reported.
    assert same == [True, False, True, True, True]


def test_an_incremental_chunk_is_proved_by_its_bytes_and_a_row_written_otherwise_is_not(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    src, dst = synced_users(tmp_path, pg_url, 300)
    proofs: list[bool] = []
    written = FastCopy._written

    def spy(self: FastCopy, keys: list[tuple[object, ...]], rows: int, digest: str) -> bool:
        proofs.append(written(self, keys, rows, digest))  # on the verifier's connection
        return proofs[-1]

    monkeypatch.setattr(FastCopy, "_written", spy)
    later = "2025-11-25 09:00:00"
    # Rows far apart (not one dense run): the chunk is proved by the bytes sent for it — as
    # the upsert stored (5, 150, 290) or left alone (300, read again by the overlap) and
    # printed them, nothing read back.
    src.run(f"UPDATE users SET name = 'Baru', updated_at = '{later}' WHERE id IN (5, 150, 290)")
    report = sync(src, dst)
    assert (report.read, report.updated, report.verified, proofs) == (4, 3, True, [])
    # The destination rewrites a written value: the bytes differ, the rows are compared.
    dst.run(
        "CREATE FUNCTION shout() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN NEW.name := upper(NEW.name); RETURN NEW; END $$"
    )
    dst.run("CREATE TRIGGER shout BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION shout()")
    src.run(f"UPDATE users SET name = 'Lagi', updated_at = '{later}' WHERE id IN (7, 170)")
    report = sync(src, dst)
    assert proofs[-1] is False and not report.verified
    assert [(d.kind, d.key) for d in report.differences] == [
        ("different", (7,)),
        ("different", (170,)),
    ]
    # Another layout of the same time: the bytes differ, the values do not: no difference.
    dst.run("DROP TRIGGER shout ON users")
    src.run(
        "UPDATE users SET name = 'Siswa', updated_at = '2025-11-26T09:00:00' WHERE id IN (9, 200)"
    )
    report = sync(src, dst)
    assert proofs[-1] is False and report.verified and not report.differences
    names = dst.run("SELECT name FROM users WHERE id IN (7, 9, 170) ORDER BY id")
    assert names == [("Lagi",), ("Siswa",), ("Lagi",)]  # the overlap wrote 7 and 170 again


def test_the_rows_a_chunks_upsert_wrote_are_proved_by_what_it_returned_the_rest_read_back(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    src, dst = synced_users(tmp_path, pg_url, 300)
    checks: list[int] = []  # rows of each chunk checked by its bytes
    read_back: list[tuple[int, bool]] = []  # rows read again on the second connection
    written, read_again = FastCopy.written, FastCopy._written

    def check(self: FastCopy, keys: Any, rows: int, digest: str, data: Any = None) -> Any:
        checks.append(rows)
        return written(self, keys, rows, digest, data)

    def again(self: FastCopy, keys: Any, rows: int, digest: str) -> bool:
        read_back.append((rows, read_again(self, keys, rows, digest)))
        return read_back[-1][1]

    monkeypatch.setattr(FastCopy, "written", check)
    monkeypatch.setattr(FastCopy, "_written", again)
    src.run("UPDATE users SET name = 'Baru', updated_at = '2025-11-25 09:00:00' "
            "WHERE id IN (5, 150, 290)")  # fmt: skip
    src.run("UPDATE users SET name = 'Baru', updated_at = '2025-11-25 08:59:00' WHERE id = 100")
    # Chunks: 5, 100, 150, 290 (every row changed: the upsert wrote all four and returned their
    # text), then 300 (unchanged, at the watermark: one key, compared as a key range).
    report = sync(src, dst, chunk_rows=4)
    assert (report.read, report.updated, report.verified) == (5, 4, True)
    assert (checks, read_back) == ([4], [])
    # Row 100 is read again (inside the overlap window) and left alone by the upsert, equal
    # already: proved by the text the upsert printed for it as stored, nothing read back.
    src.run("UPDATE users SET name = 'Lagi', updated_at = '2025-11-25 09:01:00' "
            "WHERE id IN (5, 150, 290)")  # fmt: skip
    report = sync(src, dst, chunk_rows=4)
    assert (report.read, report.updated, report.verified) == (4, 3, True)
    assert (checks, read_back) == ([4, 4], [])
    # Left alone again, but sent as another text than the one stored (a time in the `T`
    # layout: equal for the upsert's comparison): only it is read back, differs, and is
    # compared by value (equal: nothing reported).
    src.run("UPDATE users SET created_at = '2025-07-14T07:00:00' WHERE id = 100")
    src.run("UPDATE users SET name = 'Lagi!', updated_at = '2025-11-25 09:01:30' "
            "WHERE id IN (5, 150, 290)")  # fmt: skip
    report = sync(src, dst, chunk_rows=4)
    assert (checks, read_back) == ([4, 4, 4], [(1, False)])
    assert (report.updated, report.verified, report.differences) == (3, True, ())
    # The destination rewrites what it stores: what the upsert returns differs, all the
    # chunk's rows are read back (differ too), then compared by value.
    dst.run(
        "CREATE FUNCTION shout() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN NEW.name := upper(NEW.name); RETURN NEW; END $$"
    )
    dst.run("CREATE TRIGGER shout BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION shout()")
    src.run("UPDATE users SET name = 'Siswa', updated_at = '2025-11-25 09:02:00' "
            "WHERE id IN (5, 7, 150, 290)")  # fmt: skip
    report = sync(src, dst, chunk_rows=5)  # 5, 7, 100 (equal), 150, 290
    assert (checks, read_back[1:], report.verified) == ([4, 4, 4, 5], [(5, False)], False)
    assert [(d.kind, d.key) for d in report.differences] == [
        ("different", (5,)), ("different", (7,)), ("different", (150,)), ("different", (290,))
    ]  # fmt: skip


def test_a_row_an_after_trigger_changes_again_is_found_not_proved_by_what_the_upsert_returned(
    tmp_path: Path, pg_url: str
) -> None:
    # RETURNING shows the row before the destination's AFTER triggers run: a table with a
    # trigger (or rule) of its own has its written rows read back instead.
    src, dst = synced_users(tmp_path, pg_url, 300)
    dst.run(
        "CREATE FUNCTION hush() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN UPDATE users SET name = lower(name) WHERE id = NEW.id "
        "AND name <> lower(name); RETURN NULL; END $$"
    )
    dst.run("CREATE TRIGGER hush AFTER UPDATE ON users FOR EACH ROW EXECUTE FUNCTION hush()")
    src.run("UPDATE users SET name = 'Siswa', updated_at = '2025-11-25 09:00:00' "
            "WHERE id IN (5, 150, 290)")  # fmt: skip
    report = sync(src, dst, chunk_rows=4)  # 5, 150, 290 (far apart: proved as written), 300
    # Written, found different, repaired (written again), still different: reported.
    assert (report.updated, report.verified, len(report.differences)) == (6, False, 3)
    assert [(d.kind, d.key) for d in report.differences] == [
        ("different", (5,)), ("different", (150,)), ("different", (290,))
    ]  # fmt: skip


def test_an_incremental_sync_whose_second_connections_fail_still_verifies_on_its_own(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    src, dst = synced_users(tmp_path, pg_url, 200)

    def refused(*_a: object, **_k: object) -> object:
        raise BackendError("analytics: connection refused")

    # The byte checks' and the source aggregates' own connections cannot be opened.
    monkeypatch.setattr(FastCopy, "_verifier", refused)
    monkeypatch.setattr(run_module, "open_side", refused)
    src.run(
        "UPDATE users SET name = 'Baru', updated_at = '2025-11-25 09:00:00' WHERE id IN (3, 150)"
    )
    src.run("DELETE FROM users WHERE id = 100")
    dst.run("UPDATE users SET name = 'Diubah' WHERE id = 3")  # differs until written again
    report = sync(src, dst)
    assert (report.scope, report.verified) == ("changed", True)
    assert (report.updated, report.deleted) == (2, 1)
    assert rows(dst) == rows(src)
    # A full copy whose range digests cannot be computed compares the ranges by value.
    full = sync(src, dst, full=True)
    assert (full.scope, full.verified, full.differences) == ("full", True, ())


def test_the_changed_rows_are_found_through_an_index_on_updated_at(
    tmp_path: Path, pg_url: str
) -> None:
    src, dst = synced_users(tmp_path, pg_url, 300)
    later = "2025-11-25 09:00:00"
    src.run(f"UPDATE users SET name = 'Baru', updated_at = '{later}' WHERE id IN (4, 150)")
    plain = sync(src, dst)
    src.run("CREATE INDEX users_updated ON users (updated_at)")
    src.run(f"UPDATE users SET name = 'Lagi', updated_at = '{later}' WHERE id IN (5, 151)")
    indexed = sync(src, dst)
    # Without the index: the two changed and the watermark row (overlap); with it: the two
    # changed and the two of the run before (its watermark's overlap).
    assert (plain.read, plain.updated, indexed.read, indexed.updated) == (3, 2, 4, 2)
    assert indexed.verified and rows(dst) == rows(src)
    with SyncSession(src.target("primary"), dst.target("analytics")) as s:
        shape = s.src.describe("users")
        assert shape is not None
        side: Any = s.src
        where, params = side.changed_filter(shape, "updated_at", later, 10)
        many, _ = side.changed_filter(shape, "updated_at", "2025-01-01 00:00:00", 10)
    plan = src.run(f"EXPLAIN QUERY PLAN SELECT id FROM users WHERE {where}", params)
    assert any("INDEX users_updated (updated_at>? AND updated_at<?)" in str(r) for r in plan), plan
    assert any("INDEX users_updated (updated_at>?)" in str(r) for r in plan), plan
    # Each by its UTC time, then the texts a time behind UTC (a negative offset) sorts as.
    assert params == [
        *(later, "2025-11-25T", later, "2025-11-25T09:00:00", later),
        *("2025-11-24 19:00:00", "2025-11-24T", later),
        *("2025-11-24T19:00:00", later, later, "2025-11-25T", "2025-11-25T09:00:00", later),
        1764061200000,  # Unix milliseconds (Prisma's DateTime) since then
    ]
    # Many changed rows (more than four pages): read in key order, not gathered for each page.
    utc = utc_sql('"updated_at"') + " >= ?"
    behind = f'("updated_at" >= ? AND "updated_at" < ? AND {utc})'
    assert many == (
        f'(("updated_at" >= ? AND "updated_at" < ? AND {utc}) OR ("updated_at" >= ? AND {utc}) '
        f'OR {behind} OR {behind} OR {behind} OR "updated_at" IS NULL '
        'OR ("updated_at" >= ? AND "updated_at" < \'\') OR "updated_at" < 100000000000)'
    )


def test_a_full_copys_watermark_is_never_later_than_the_newest_row_in_mixed_layouts(
    tmp_path: Path, pg_url: str
) -> None:
    src, dst = sqlite_to_pg(tmp_path, pg_url)
    src.create_users(30, updated="2025-11-20 08:00:00")
    src.run("UPDATE users SET updated_at = '2025-11-24 09:00:00' WHERE id = 5")  # the newest
    src.run("UPDATE users SET updated_at = '2025-11-24T08:30:00' WHERE id = 6")  # greatest text
    assert sync(src, dst).verified
    (state,) = read_states(dst.target("analytics"))
    assert state.watermark is not None and state.watermark <= "2025-11-24 09:00:00"
    src.run("UPDATE users SET name = 'Baru', updated_at = '2025-11-24 09:00:00' WHERE id = 7")
    report = sync(src, dst)
    assert report.verified and report.updated == 1  # id 7 carried (5 and 6 read again)
    assert dst.run("SELECT name FROM users WHERE id = 7") == [("Baru",)]


def test_text_keys_walk_in_the_same_order_on_both_sides_for_the_byte_digests(
    tmp_path: Path, pg_url: str
) -> None:
    src, dst = sqlite_to_pg(tmp_path, pg_url)
    src.run("CREATE TABLE codes (code TEXT PRIMARY KEY, label TEXT, updated_at DATETIME)")
    keys = ["B", "a", "Z", "é", "_", "a b", "A", "ä", "1", "z", "Ö", "ab"]
    src.many("INSERT INTO codes VALUES (?, ?, '2025-11-24 08:00:00')", [(k, k * 2) for k in keys])
    assert sync(src, dst).verified
    pages, same = byte_digests(src, dst, "codes", 3)
    assert all(same)  # SQLite's BINARY order is PostgreSQL's "C" order
    assert [p[0][0] for p in pages] == ["1", "Z", "a b", "Ö"]  # bytes order


def test_byte_digests_never_hide_a_difference(tmp_path: Path, pg_url: str) -> None:
    src, dst = sqlite_to_pg(tmp_path, pg_url)
    src.create_users(40)
    src.run("UPDATE users SET active = 1 WHERE active IS NULL")  # no NULL boolean anywhere
    assert sync(src, dst).verified

    def only_difference(change: str, restore: str, key: int, *params: object) -> None:
        # One edit at a time: the only difference of its key range, so only its bytes tell.
        dst.run(f"UPDATE users SET {change} WHERE id = {key}", params)
        report = verify(src, dst)
        assert [(d.kind, d.key) for d in report.differences] == [("different", (key,))]
        dst.run(f"UPDATE users SET {restore} WHERE id = {key}")
        assert verify(src, dst).verified

    only_difference("active = NULL", "active = false", 2)  # source: false
    only_difference("score = 1.0000000000000002", "score = 1", 4)  # source: 1
    # COPY text spells a tab and a backspace as backslash-t and backslash-b; the destination
    # prints text with its backslashes doubled, so a value holding those letters after real
    # backslashes never looks the same.
    src.run("UPDATE users SET name = ? WHERE id = 3", ["tab\there\b"])
    assert sync(src, dst, full=True).verified
    only_difference("name = ?", "name = E'tab\\there\\b'", 3, "tab\\there\\b")


def test_a_destination_table_of_other_types_is_refused_and_nothing_written(
    tmp_path: Path, pg_url: str
) -> None:
    src, dst = sqlite_to_pg(tmp_path, pg_url)
    src.create_users(5)
    dst.run(
        "CREATE TABLE users (id BIGINT PRIMARY KEY, email INTEGER, name TEXT, synced_at TIMESTAMP)"
    )
    with SyncSession(src.target("primary"), dst.target("analytics")) as s:
        with pytest.raises(SyncRefused) as exc:
            run_sync(s, SyncRequest())
    text = str(exc.value)
    assert "users.email: source TEXT maps to text, destination has integer" in text
    assert "lacks column(s) active, score, photo, born, created_at, updated_at" in text
    assert dst.count() == 0
    assert dst.run("SELECT to_regclass('malnu_sync')") == [(None,)]


def test_dry_run_reads_both_sides_and_writes_nothing(tmp_path: Path, pg_url: str) -> None:
    src, dst = sqlite_to_pg(tmp_path, pg_url)
    src.create_users(40)
    sync(src, dst)
    src.run("UPDATE users SET name = 'changed' WHERE id = 2")
    src.run("DELETE FROM users WHERE id = 3")
    audit_before = dst.run("SELECT count(*) FROM malnu_audit")
    state_before = dst.run("SELECT * FROM malnu_sync")
    with SyncSession(src.target("primary"), dst.target("analytics")) as s:
        (report,) = dry_run(s, plan_sync(s, SyncRequest()))
    assert (report.inserted, report.updated, report.deleted) == (0, 1, 1)
    assert dst.run("SELECT name FROM users WHERE id = 2") == [("Siswa 2",)]
    assert dst.count() == 40
    assert dst.run("SELECT count(*) FROM malnu_audit") == audit_before
    assert dst.run("SELECT * FROM malnu_sync") == state_before


def test_the_destination_lock_is_taken_and_both_sides_audited(tmp_path: Path, pg_url: str) -> None:
    from malnu_tui.engine.backends.base import lock_holder_for_this_process
    from malnu_tui.engine.backends.sqlite import SQLiteBackend

    src = Db("postgresql", pg_url)
    dst = Db("sqlite", f"sqlite:///{tmp_path / 'a.db'}", path=tmp_path / "a.db")
    src.create_users(3)
    other = SQLiteBackend(tmp_path / "a.db")
    other.acquire_lock(lock_holder_for_this_process("apply"))
    try:
        with pytest.raises(LockHeld):
            sync(src, dst)
    finally:
        other.close()
    sync(src, dst)
    for side in (src, dst):
        (detail,) = side.run(
            "SELECT detail FROM malnu_audit WHERE action = 'sync' AND object = 'users'"
        )[0]
        assert "mode full, read 3, inserted 3" in detail and "verified yes" in detail
    # One run row for the whole sync on the destination: what `check` reads (failed syncs, lag).
    outcomes = dst.run("SELECT outcome FROM malnu_audit WHERE action = 'run' AND object = ? "
                       "ORDER BY id", ("sync primary->analytics",))  # fmt: skip
    assert outcomes == [("refused",), ("ok",)]


@pytest.mark.parametrize(
    "pair", [("sqlite", "postgresql"), ("postgresql", "d1")], ids=["sqlite-to-pg", "pg-to-d1"]
)
def test_a_table_without_updated_at_syncs_by_chunk_checksums_with_a_composite_key(
    pair: tuple[str, str], request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    src, dst = (
        make_db(k, request, tmp_path, n) for k, n in zip(pair, ("source", "dest"), strict=True)
    )
    src.run(
        "CREATE TABLE grades (student_id BIGINT NOT NULL, subject TEXT NOT NULL, grade REAL, "
        "PRIMARY KEY (student_id, subject))"
    )
    subjects = ("Fisika", "Matematika", "Bahasa Arab")
    src.many(
        "INSERT INTO grades VALUES (?, ?, ?)",
        [(i, s, float(i % 90)) for i in range(1, 401) for s in subjects],
    )
    first = sync(src, dst, chunk_rows=500)
    assert (first.mode, first.inserted, first.verified) == ("full", 1200, True)
    src.run("UPDATE grades SET grade = 99 WHERE student_id = 250 AND subject = 'Fisika'")
    src.run("DELETE FROM grades WHERE student_id = 17")
    src.many("INSERT INTO grades VALUES (?, ?, ?)", [(401, "Fisika", 70.0)])
    second = sync(src, dst, chunk_rows=500)
    assert second.mode == "checksum"
    assert (second.inserted, second.updated, second.deleted, second.verified) == (1, 1, 3, True)
    dst.run("DELETE FROM grades WHERE student_id = 300")
    third = sync(src, dst, full=True, chunk_rows=500)  # --full over a filled table: upserts
    assert (third.mode, third.inserted, third.updated, third.deleted) == ("full", 3, 0, 0)
    assert verify(src, dst).verified and dst.count("grades") == 1198


def test_postgresql_to_postgresql_both_sides_hashed_by_their_servers(
    pg_url: str, pg_second: str
) -> None:
    src, dst = Db("postgresql", pg_url), Db("postgresql", pg_second)
    src.create_users(300)
    first = sync(src, dst)
    assert first.verified and first.inserted == 300
    dst.run("UPDATE users SET score = 0.5 WHERE id = 222")
    report = verify(src, dst)
    assert [(d.kind, d.key) for d in report.differences] == [("different", (222,))]
