"""A copy whose tables refer to each other or to themselves by foreign keys (a mirror that `up`
built, a category tree), synced in chunks that each commit on their own (references.py): a
table that refers to itself (``pegawai.atasan_id`` → ``pegawai.id``) whose child row's parent
comes in a later chunk stopped the sync on the copy's foreign key, in a full copy, an
incremental pass and a repair by checksums alike; a parent table whose deletes waited for its
children was compared whole again. Every commit must keep the copy's keys whole, and the sync
end complete and verified."""

from __future__ import annotations

import contextlib
import gc
import os
import re
import signal
import tempfile
import time
from pathlib import Path

import psycopg
import pytest

from malnu_tui.engine.errors import MalnuError
from malnu_tui.engine.sync import (
    SyncRequest,
    SyncSession,
    plan_sync,
    references,
    run_sync,
    verify_sync,
)
from malnu_tui.engine.sync import run as sync_run
from malnu_tui.engine.sync.heldrows import HELD_PAGES, HeldRows, _Spill
from malnu_tui.engine.sync.model import (
    ChunkCounts,
    ProgressCallback,
    SyncProgress,
    TableReport,
    TableShape,
)
from malnu_tui.engine.sync.side import Chunk
from malnu_tui.engine.sync.side_sqlite import SqliteSide
from tests.fixtures_core import popen_cli, stop_if_running
from tests.sync_support import Db, make_db, sqlite_source, verify

SOURCE = (
    "CREATE TABLE pegawai (id INTEGER PRIMARY KEY, atasan_id INTEGER REFERENCES pegawai(id), "
    "nama TEXT NOT NULL, updated_at DATETIME NOT NULL DEFAULT '2025-01-01 00:00:00')"
)
COPY = {
    "postgresql": "CREATE TABLE pegawai (id bigint PRIMARY KEY, atasan_id bigint REFERENCES "
    "pegawai(id), nama text NOT NULL, updated_at timestamp NOT NULL, synced_at timestamp)",
    # (The parent's key not named: SQLite's foreign key list says NULL for it.)
    "sqlite": "CREATE TABLE pegawai (id INTEGER PRIMARY KEY, atasan_id INTEGER REFERENCES "
    "pegawai, nama TEXT NOT NULL, updated_at DATETIME NOT NULL, synced_at DATETIME)",
}
NO_TTY = {"MALNU_ASSUME_NO_TTY": "1"}


def _sync(
    src: Db,
    dst: Db,
    chunk_rows: int = 3,
    table: str = "pegawai",
    progress: ProgressCallback | None = None,
    **kw: object,
) -> TableReport:
    with SyncSession(src.target("primary"), dst.target("analytics")) as s:
        request = SyncRequest(tables=(table,), chunk_rows=chunk_rows, **kw)  # type: ignore[arg-type]
        (report,) = run_sync(s, request, progress)
    return report


def _whole(dst: Db, table: str = "pegawai") -> None:
    """Every row of the copy has its parent (PostgreSQL and D1 refuse any other commit; the
    SQLite copy's keys are checked at each commit too)."""
    if dst.kind == "postgresql":
        orphans = dst.run(
            f"SELECT id FROM {table} p WHERE atasan_id IS NOT NULL AND NOT EXISTS "
            f"(SELECT FROM {table} q WHERE q.id = p.atasan_id)"
        )
        assert orphans == []
    else:
        assert dst.run("PRAGMA foreign_key_check") == []


@pytest.mark.parametrize("kind", ["sqlite", "postgresql", "d1"])
def test_a_table_that_refers_to_itself_syncs_children_before_their_parents_chunk(
    tmp_path: Path, kind: str, request: pytest.FixtureRequest
) -> None:
    src, dst = sqlite_source(tmp_path), make_db(kind, request, tmp_path, "copy")
    for db, ddl in ((src, SOURCE), (dst, COPY["postgresql" if kind == "postgresql" else "sqlite"])):
        db.run(ddl)
        # No updated_at: compared by checksums, in ranges of 10,000 rows, each repaired in turn.
        db.run(ddl.replace("pegawai", "kategori").replace(", updated_at", ", diubah"))
    # Staff 1-9 report to 10, who reports to 12: three chunks of children before the parents'.
    src.many(
        "INSERT INTO pegawai (id, atasan_id, nama) VALUES (?, ?, ?)",
        [(i, 10 if i < 10 else 12 if i == 10 else None, f"P{i}") for i in range(1, 13)],
    )
    first = _sync(src, dst)
    assert (first.mode, first.inserted, first.verified) == ("full", 12, True), first
    _whole(dst)
    # Incremental: a new manager (13) and one under them (14, after 2 in the key order); 1
    # re-parented to 13 in 13's chunk, 2 to 14 in a chunk before 14's.
    later = "2026-01-01 00:00:00"
    src.run(f"INSERT INTO pegawai VALUES (13, NULL, 'P13', '{later}'), (14, 13, 'P14', '{later}')")
    src.run(f"UPDATE pegawai SET atasan_id = 13, updated_at = '{later}' WHERE id = 1")
    src.run(f"UPDATE pegawai SET atasan_id = 14, updated_at = '{later}' WHERE id = 2")
    second = _sync(src, dst)
    assert (second.mode, second.inserted, second.updated, second.verified) == (
        "updated_at",
        2,
        2,
        True,
    ), second
    _whole(dst)
    # A full pass over the copy (its rows there): 3 now reports to a new 15 and 5 to 3, while
    # 4 is gone. The chunk holding 3 back must not delete the copy's 3 (5 refers to it).
    src.run("INSERT INTO pegawai (id, atasan_id, nama) VALUES (15, NULL, 'P15')")
    src.run("UPDATE pegawai SET atasan_id = 15 WHERE id = 3")
    src.run("UPDATE pegawai SET atasan_id = 3 WHERE id IN (5, 6)")
    src.run("DELETE FROM pegawai WHERE id = 4")
    third = _sync(src, dst, full=True)
    assert (third.inserted, third.updated, third.deleted, third.verified) == (1, 3, 1, True)
    assert third.source_count == third.dest_count == 14
    _whole(dst)
    assert dst.run("SELECT id, atasan_id FROM pegawai WHERE id IN (3, 5) ORDER BY id") == [
        (3, 15),
        (5, 3),
    ]
    # By checksums: the range holding 1 is repaired before the range that brings its new parent
    # (one piece for every destination: not on D1, where 10,000 rows cost seconds).
    if kind != "d1":
        src.many(
            "INSERT INTO kategori (id, nama) VALUES (?, ?)", [(i, "k") for i in range(1, 10_003)]
        )
        assert _sync(src, dst, 25_000, table="kategori").verified
        src.run("INSERT INTO kategori (id, nama) VALUES (20000, 'baru')")
        src.run("UPDATE kategori SET atasan_id = 20000 WHERE id = 1")
        by_sums = _sync(src, dst, 25_000, table="kategori")
        assert (by_sums.mode, by_sums.inserted, by_sums.updated, by_sums.verified) == (
            "checksum",
            1,
            1,
            True,
        ), by_sums
        _whole(dst, "kategori")
    # A parent the source lacks too (its foreign keys not enforced): refused by row, with the
    # hint that says so, and the rows before it whole in the copy.
    src.run(f"UPDATE pegawai SET atasan_id = 99, updated_at = '{later}' WHERE id = 7")
    with pytest.raises(MalnuError) as refused:
        _sync(src, dst)
    assert "the source does not have either" in (refused.value.hint or ""), refused.value
    _whole(dst)


def test_a_parent_table_settled_after_its_children_reads_only_what_was_held_back(
    tmp_path: Path,
) -> None:
    """A class deleted at the source while the copy's students still refer to it: its delete
    waits until the students are synced, and the class table is then compared again. It was
    compared whole (and counted on both sides again: on D1 every row read once more, billed);
    now only the keys and ranges whose deletes waited, and what its sync left different."""
    src, dst = (
        sqlite_source(tmp_path),
        Db("sqlite", f"sqlite:///{tmp_path / 'c.db'}", tmp_path / "c.db"),
    )
    for db, stamp in ((src, ""), (dst, ", synced_at DATETIME")):
        db.run(
            f"CREATE TABLE kelas (id INTEGER PRIMARY KEY, nama TEXT, updated_at DATETIME{stamp})"
        )
        db.run(
            "CREATE TABLE siswa (id INTEGER PRIMARY KEY, kelas_id INTEGER NOT NULL REFERENCES "
            f"kelas(id), nama TEXT, updated_at DATETIME{stamp})"
        )
    old, later = "2025-01-01 00:00:00", "2026-01-01 00:00:00"
    src.many("INSERT INTO kelas VALUES (?, ?, ?)", [(i, f"K{i}", old) for i in range(1, 41)])
    src.many("INSERT INTO siswa VALUES (?, ?, ?, ?)", [(i, i, f"S{i}", old) for i in range(1, 41)])
    events: list[tuple[str, str, int]] = []
    with SyncSession(src.target("primary"), dst.target("analytics")) as s:
        assert all(r.verified for r in run_sync(s, SyncRequest()))
    src.run(f"UPDATE siswa SET kelas_id = 1, updated_at = '{later}' WHERE kelas_id = 7")
    src.run("DELETE FROM kelas WHERE id = 7")
    with SyncSession(src.target("primary"), dst.target("analytics")) as s:
        reports = run_sync(s, SyncRequest(), lambda p: events.append((p.table, p.phase, p.rows)))
    assert [(r.table, r.deleted, r.source_count, r.dest_count, r.verified) for r in reports] == [
        ("kelas", 1, 39, 39, True),
        ("siswa", 0, 40, 40, True),
    ]
    _whole(dst)
    last_siswa = max(i for i, e in enumerate(events) if e[0] == "siswa")
    settled = [rows for table, phase, rows in events[last_siswa:] if phase == "verify"]
    assert settled and max(settled) == 1, events  # class 7 alone; it was all 39


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_chain_whose_every_parent_comes_later_is_held_in_a_scratch_file_past_a_limit(
    tmp_path: Path, kind: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each row's parent the next one (a document's newer revision, `revisi_berikutnya`): every
    chunk's rows wait for the next chunk, the whole chain for the last. They were held in
    memory whole (a million-row tree keyed so: a million rows); past a few chunks' worth they
    now wait in a scratch file (mode 0600, unlinked while open, closed with the copy) and come
    back parents first: the rows held in memory stay under that limit while the chain is ten
    times it, in a full copy and in an incremental pass bringing a second chain, and each
    sync ends whole and verified, as does `sync verify`."""
    src, dst = sqlite_source(tmp_path), make_db(kind, request, tmp_path, "copy")
    src.run(SOURCE)
    dst.run(COPY["postgresql" if kind == "postgresql" else "sqlite"])
    n, chunk = 400, 10  # held in memory: at most HELD_PAGES chunks' worth, 40 rows
    src.many(
        "INSERT INTO pegawai (id, atasan_id, nama) VALUES (?, ?, ?)",
        [(i, i + 1 if i < n else None, f"P{i}") for i in range(1, n + 1)],
    )
    seen: list[tuple[int, int]] = []  # (rows held in memory, their limit), after each chunk
    files: list[tuple[str, int]] = []  # the scratch files open meanwhile, with their mode

    def watch(p: SyncProgress) -> None:
        if p.phase != "copy":
            return
        if not held:  # (found once: this sync's, alive for its copy)
            gc.collect()
            held.extend(
                o
                for o in gc.get_objects()
                if isinstance(o, HeldRows) and o.s.source_target.url == src.url
            )
            assert len(held) == 1, held
        seen.append((len(held[-1].rows), held[-1].most))
        files.extend(_scratch_files())

    held: list[HeldRows] = []
    first = _sync(src, dst, chunk, progress=watch)
    assert (first.inserted, first.verified, first.dest_count) == (n, True, n), first
    _whole(dst)
    assert {most for _, most in seen} == {HELD_PAGES * chunk}, seen
    assert max(h for h, _ in seen) <= HELD_PAGES * chunk < n // 5, seen
    assert files and {mode for _, mode in files} == {0o600}, files
    assert all(path.endswith(" (deleted)") for path, _ in files), files
    assert _scratch_files() == []  # closed with the copy
    # An incremental pass: a second chain (401 → 402 → … → 800), and the first's head under it.
    later = "2026-01-01 00:00:00"
    src.many(
        "INSERT INTO pegawai VALUES (?, ?, ?, ?)",
        [(i, i + 1 if i < 2 * n else None, f"P{i}", later) for i in range(n + 1, 2 * n + 1)],
    )
    src.run(f"UPDATE pegawai SET atasan_id = {n + 1}, updated_at = '{later}' WHERE id = {n}")
    for done in (seen, files, held):
        done.clear()
    second = _sync(src, dst, chunk, progress=watch)
    assert (second.mode, second.inserted, second.updated, second.verified) == (
        "updated_at",
        n,
        1,
        True,
    ), second
    _whole(dst)
    assert files and max(h for h, _ in seen) <= HELD_PAGES * chunk, seen
    assert verify(src, dst, ("pegawai",)).verified
    query = "SELECT id, atasan_id, nama FROM pegawai ORDER BY id"
    assert dst.run(query) == src.run(query)
    # No scratch file to be had (a temporary directory gone, or full): one line naming it and
    # the way out, not a traceback; the copy's keys whole.
    gone = tmp_path / "gone"
    monkeypatch.setattr(tempfile, "tempdir", str(gone))
    src.many(
        "INSERT INTO pegawai VALUES (?, ?, ?, '2026-02-01')",
        [(i, i + 1 if i < 3 * n else None, f"P{i}") for i in range(2 * n + 1, 3 * n + 1)],
    )
    with pytest.raises(MalnuError) as refused:
        _sync(src, dst, chunk)
    assert f"a scratch file in {gone}: [Errno 2]" in str(refused.value), refused.value
    assert "TMPDIR" in (refused.value.hint or "")
    _whole(dst)


def test_the_scratch_file_failing_under_a_read_or_a_delete_is_one_line() -> None:
    """The held rows' scratch file failing as a chunk asks it which rows it holds, or forgets
    a row a newer version replaces (its disk gone read-only, the file closed under the copy):
    one line naming the table and the way out, as when a row is added; was a traceback of
    sqlite3's."""
    spill = _Spill([((1,), (0,))], (0,), "pegawai")
    spill.add([(1, 2), (2, 3)])
    assert (spill.keys([(1,), (5,)]), spill.holds(0, [(2,), (7,)])) == ({(1,)}, {(2,)})
    spill.db.execute("PRAGMA query_only = ON")  # (what a read-only disk says to a DELETE)
    with pytest.raises(MalnuError, match=r"^pegawai: the rows held back .*readonly") as said:
        spill.discard([(1,)])
    assert "TMPDIR" in (said.value.hint or "")
    spill.close()
    for ask in (lambda: spill.keys([(1,)]), lambda: spill.holds(0, [(2,)])):
        with pytest.raises(MalnuError, match=r"^pegawai: .*scratch file .*closed database"):
            ask()


def _scratch_files() -> list[tuple[str, int]]:
    """This process's open scratch files of held rows, with their mode bits."""
    out = []
    for fd in Path("/proc/self/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if "malnu-held-" in target:
                out.append((target, fd.stat().st_mode & 0o777))
    return out


@pytest.mark.parametrize("by", ["rows", "bytes"])
def test_into_d1_a_chunk_and_the_rows_it_held_back_go_in_batches_of_a_page(
    tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, by: str
) -> None:
    """A chain whose every parent comes later holds every chunk's rows back until the last:
    into D1 that chunk was one batch of the whole table (past the rows and bytes a batch
    carries, and toward D1's 30 s a batch). It goes in batches of a page's rows and bytes,
    parents first, the last one deleting what the source no longer has (and not the rows of
    the batches before it)."""
    src, dst = sqlite_source(tmp_path), make_db("d1", request, tmp_path, "copy")
    src.run(SOURCE)
    dst.run(COPY["sqlite"])
    n, chunk, most = 95, 10, 10
    if by == "bytes":  # pages of 2,000 bytes of values: 10 rows of 160 to 199
        chunk = 1000
        monkeypatch.setattr(SqliteSide, "answer_bytes", 2_000, raising=False)
    src.many(
        "INSERT INTO pegawai (id, atasan_id, nama) VALUES (?, ?, ?)",
        [(i, i + 1 if i < n else None, f"P{i}".ljust(160, ".")) for i in range(1, n + 1)],
    )
    dst.run("INSERT INTO pegawai VALUES (1000, NULL, 'gone', '2025-01-01', NULL)")
    assert dst.d1 is not None
    log = dst.d1.server.requests
    start = len(log)
    first = _sync(src, dst, chunk_rows=chunk)
    assert (first.inserted, first.deleted, first.verified, first.dest_count) == (n, 1, True, n)
    _whole(dst)
    # Each batch counts the keys it writes that the copy has (its first 4,000 characters
    # are logged): the rows it carries.
    counted = r'WHERE \(\\"id\\"\) IN \(VALUES ((?:\(\d+\), )*\(\d+\))\)'
    written = [v.count("(") for r in log[start:] for v in re.findall(counted, r.body)]
    assert sum(written) == n and max(written) <= most, written
    assert {r.status for r in log[start:]} == {200}  # none refused (the range delete kept
    # the rows of the batches before the last)


CYCLE = (  # a teacher's class, a class's homeroom teacher: two tables referring to each other
    "CREATE TABLE guru (id INTEGER PRIMARY KEY, kelas_id INTEGER REFERENCES kelas(id), "
    "nama TEXT NOT NULL, updated_at DATETIME NOT NULL{s})",
    "CREATE TABLE kelas (id INTEGER PRIMARY KEY, wali_kelas_id INTEGER REFERENCES guru(id), "
    "nama TEXT NOT NULL, updated_at DATETIME NOT NULL{s})",
)
OLD, LATER = "2025-01-01 00:00:00", "2026-01-01 00:00:00"


def _cycle(src: Db, dst: Db, guru: str = "guru", kelas: str = "kelas", null: str = "") -> None:
    """The two tables at both ends (``null``: how the copy's two key columns are declared, "NOT
    NULL" for a cycle no pass can cut), a few rows at the source."""
    names = {"guru": guru, "kelas": kelas}

    def ddl(i: int, stamp: str, null: str = "") -> str:
        out = CYCLE[i].format(s=stamp).replace("INTEGER REFERENCES", f"INTEGER {null} REFERENCES")
        return out.replace("guru", names["guru"]).replace("kelas", names["kelas"])

    for i in (0, 1):
        src.run(ddl(i, ""))
    copy = [ddl(i, ", synced_at DATETIME", null) for i in (0, 1)]
    if dst.kind == "postgresql":  # (a key to a table made later: added after it)
        copy = [c.replace("INTEGER", "bigint").replace("DATETIME", "timestamp") for c in copy]
        dst.run(copy[0].replace(f" REFERENCES {kelas}(id)", ""))
        dst.run(copy[1])
        column = "kelas_id".replace("kelas", kelas)
        dst.run(f"ALTER TABLE {guru} ADD FOREIGN KEY ({column}) REFERENCES {kelas}(id)")
    else:
        for c in copy:
            dst.run(c)
    teachers = [(i, i if i < 4 else None, f"G{i}", OLD) for i in range(1, 6)]
    src.many(f"INSERT INTO {guru} VALUES (?, ?, ?, ?)", teachers)
    classes = [(i, i, f"K{i}", OLD) for i in range(1, 4)]
    src.many(f"INSERT INTO {kelas} VALUES (?, ?, ?, ?)", classes)


def _sync_pair(src: Db, dst: Db, tables: tuple[str, ...] = ("guru", "kelas")) -> list[TableReport]:
    with SyncSession(src.target("primary"), dst.target("analytics")) as s:
        return run_sync(s, SyncRequest(tables=tables, chunk_rows=2))


def _same_pair(src: Db, dst: Db) -> None:
    """The copy's guru and kelas hold the source's rows and references, whole (no NULL the
    source does not have), and ``sync verify`` finds nothing."""
    for q in ("SELECT id, kelas_id, nama FROM guru", "SELECT id, wali_kelas_id, nama FROM kelas"):
        assert dst.run(q + " ORDER BY id") == src.run(q + " ORDER BY id"), q
    if dst.kind != "postgresql":
        assert dst.run("PRAGMA foreign_key_check") == []
    with SyncSession(src.target("primary"), dst.target("analytics")) as s:
        proof = verify_sync(s, ("guru", "kelas"))
    assert [(r.table, r.verified, r.differences) for r in proof] == [
        ("guru", True, ()),
        ("kelas", True, ()),
    ], proof


@pytest.mark.parametrize("kind", ["sqlite", "postgresql", "d1"])
def test_two_tables_that_refer_to_each_other_sync_in_two_passes(
    tmp_path: Path, kind: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``guru.kelas_id`` → ``kelas`` and ``kelas.wali_kelas_id`` → ``guru`` at the copy: each
    chunk commits on its own, so one table's rows came before the rows they refer to (a first
    full copy stopped on the copy's foreign key), and the pair was refused: an operator with
    that schema could not sync at all. Now the cycle is cut at ``guru.kelas_id``: guru is
    written first with it NULL where the class is not in the copy yet, kelas next, then those
    teachers' classes; every row counted once, a chunk's worth at a time (pass two read every
    such row at once: the whole table, in a first copy). A cycle of NOT NULL keys is still
    refused before anything is written, exit 2."""
    src, dst = sqlite_source(tmp_path), make_db(kind, request, tmp_path, "copy")
    _cycle(src, dst)
    second_pass: list[int] = []  # the rows of each chunk pass two writes (settling's writes)

    def write_chunk(s: SyncSession, shape: TableShape, chunk: Chunk) -> ChunkCounts:
        second_pass.append(len(chunk.rows))
        return references.write_chunk(s, shape, chunk)

    monkeypatch.setattr(sync_run, "write_chunk", write_chunk)
    with SyncSession(src.target("primary"), dst.target("analytics")) as s:
        plans = plan_sync(s, SyncRequest(tables=("guru", "kelas")))
    assert [p.table for p in plans] == ["guru", "kelas"]
    assert any(
        n.startswith("guru.kelas_id written NULL where its kelas row") for n in plans[0].notes
    )
    first = _sync_pair(src, dst)
    # (Each row read once: pass one's comparison leaves the NULLs to pass two; it wrote them
    # again in vain, and guru said read 8 for 5 rows.)
    assert [(r.table, r.read, r.inserted, r.updated, r.verified) for r in first] == [
        ("guru", 5, 5, 0, True),
        ("kelas", 3, 3, 0, True),
    ], first
    assert all(r.source_count == r.dest_count for r in first)
    assert second_pass == [2, 1], second_pass  # teachers 1-3 nulled; chunk_rows=2
    _same_pair(src, dst)
    # Incremental: a new class (4) and its new homeroom teacher (6) together; teacher 5 (no
    # class) gets class 4, their row's one change (updated_at as it was, an app that does not
    # stamp it: read again within the overlap), so pass one writes it as the copy has it and
    # pass two counts it; teacher 1 is renamed and moves to class 4 (counted by pass one).
    src.run(f"INSERT INTO kelas VALUES (4, 6, 'K4', '{LATER}')")
    src.run(f"INSERT INTO guru VALUES (6, 4, 'G6', '{LATER}')")
    src.run("UPDATE guru SET kelas_id = 4 WHERE id = 5")
    src.run(f"UPDATE guru SET kelas_id = 4, nama = 'G1b', updated_at = '{LATER}' WHERE id = 1")
    second = _sync_pair(src, dst)
    assert [(r.table, r.mode, r.inserted, r.updated, r.verified) for r in second] == [
        ("guru", "updated_at", 1, 2, True),
        ("kelas", "updated_at", 1, 0, True),
    ], second
    _same_pair(src, dst)
    # Both keys NOT NULL at the copy: no pass can cut the cycle.
    _cycle(src, dst, "dosen", "prodi", "NOT NULL")
    with pytest.raises(MalnuError) as refused:
        _sync_pair(src, dst, ("dosen", "prodi"))
    assert refused.value.exit_code == 2
    assert "dosen and prodi refer to each other" in str(refused.value), refused.value
    assert "no column of those keys may be NULL" in str(refused.value)
    assert "DROP NOT NULL" in (refused.value.hint or "")
    assert dst.run("SELECT count(*) FROM dosen") == dst.run("SELECT count(*) FROM prodi") == [(0,)]


def test_a_sync_killed_between_the_passes_is_whole_after_the_next(
    tmp_path: Path, pg_url: str
) -> None:
    """SIGKILL of a real first ``sync`` after pass one (the teachers written with their
    classes NULL, the classes written) and before pass two: the next sync, an incremental one
    that reads none of those teachers again (their rows are older than its window), sets
    their classes (guru's last sync ended unverified: compared whole) and ``sync verify`` is
    clean: a finished sync never leaves a NULL the source does not have. Pass two is held at
    its UPDATE by a trigger of the copy's waiting on a lock this test holds."""
    src, dst = sqlite_source(tmp_path), Db("postgresql", pg_url)
    _cycle(src, dst)
    src.run(f"UPDATE guru SET updated_at = '{LATER}' WHERE id = 5")  # the watermark
    dst.run(
        "CREATE FUNCTION hold() RETURNS trigger LANGUAGE plpgsql AS "
        "$$BEGIN PERFORM pg_advisory_xact_lock(7, 7); RETURN NEW; END$$"
    )
    dst.run(
        "CREATE TRIGGER pass_two BEFORE UPDATE ON guru FOR EACH ROW "
        "WHEN (OLD.kelas_id IS NULL AND NEW.kelas_id IS NOT NULL) EXECUTE FUNCTION hold()"
    )
    config = tmp_path / "malnu.toml"
    config.write_text(
        f'[targets.primary]\nurl = "{src.url}"\n[targets.analytics]\nurl = "{pg_url}"\n'
        '[sync.cycle]\nfrom = "primary"\nto = "analytics"\ntables = ["guru", "kelas"]\n'
        "chunk_rows = 2\n",
        encoding="utf-8",
    )
    waiting = (
        "SELECT pid FROM pg_stat_activity WHERE wait_event = 'advisory' "
        "AND datname = current_database()"
    )
    with psycopg.connect(pg_url, autocommit=True) as held:
        held.execute("SELECT pg_advisory_lock(7, 7)")
        proc = popen_cli("sync", "cycle", "--yes", "--config", str(config), env=NO_TTY)
        try:
            deadline = time.monotonic() + 60
            while not (stuck := dst.run(waiting)) and time.monotonic() < deadline:
                assert proc.poll() is None, proc.communicate()
                time.sleep(0.02)
            assert stuck, "pass two never began"
            os.kill(proc.pid, signal.SIGKILL)
            assert proc.wait(timeout=30) == -signal.SIGKILL
        finally:
            stop_if_running(proc)
        held.execute("SELECT pg_advisory_unlock(7, 7)")
    while dst.run(f"SELECT 1 FROM pg_stat_activity WHERE pid = {stuck[0][0]}"):
        time.sleep(0.02)  # its session rolled pass two back once it found its client gone
    # Between the passes: every teacher without a class, every class with its teacher.
    assert dst.run("SELECT count(*), count(kelas_id) FROM guru") == [(5, 0)]
    assert dst.run("SELECT count(wali_kelas_id) FROM kelas") == [(3,)]
    dst.run("DROP TRIGGER pass_two ON guru")
    rerun = _sync_pair(src, dst)
    assert [(r.table, r.mode, r.inserted, r.updated, r.verified) for r in rerun] == [
        ("guru", "updated_at", 0, 3, True),
        ("kelas", "updated_at", 0, 0, True),
    ], rerun
    _same_pair(src, dst)


KELAS = (  # a class's parent class named by its code, a UNIQUE column besides the key
    "CREATE TABLE kelas (id INTEGER PRIMARY KEY, kode TEXT NOT NULL UNIQUE, induk_kode TEXT "
    "REFERENCES kelas(kode), nama TEXT NOT NULL, updated_at DATETIME NOT NULL{s})"
)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql", "d1"])
def test_a_reference_to_its_own_unique_column_holds_rows_until_their_parent_comes(
    tmp_path: Path, kind: str, request: pytest.FixtureRequest
) -> None:
    """``kelas.induk_kode`` → ``kelas.kode`` (UNIQUE, not the key): a class whose parent class
    comes in a later chunk was not held back (only references to the key were), and the sync
    stopped on the copy's foreign key. Held as for a reference to the key: a full copy and an
    incremental pass bringing a new parent after its child end whole and verified."""
    src, dst = sqlite_source(tmp_path), make_db(kind, request, tmp_path, "copy")
    src.run(KELAS.format(s=""))
    copy = KELAS.format(s=", synced_at DATETIME")
    if kind == "postgresql":
        copy = copy.replace("INTEGER", "bigint").replace("DATETIME", "timestamp")
    dst.run(copy)
    old, later = "2025-01-01 00:00:00", "2026-01-01 00:00:00"
    parent = {10: "K12", 12: None}
    src.many(
        "INSERT INTO kelas VALUES (?, ?, ?, ?, ?)",
        [(i, f"K{i}", parent.get(i, "K10"), f"kelas {i}", old) for i in range(1, 13)],
    )
    first = _sync(src, dst, table="kelas")
    assert (first.inserted, first.verified, first.dest_count) == (12, True, 12), first
    src.run(f"INSERT INTO kelas VALUES (13, 'K13', NULL, 'baru', '{later}')")
    # 1-4 move under the new 13, which comes in the chunk after 1-3
    src.run(f"UPDATE kelas SET induk_kode = 'K13', updated_at = '{later}' WHERE id < 5")
    second = _sync(src, dst, table="kelas")
    assert (second.mode, second.inserted, second.updated, second.verified) == (
        "updated_at",
        1,
        4,
        True,
    ), second
    query = "SELECT id, kode, induk_kode FROM kelas ORDER BY id"
    assert dst.run(query) == src.run(query)
