"""Tables without a key (a link table like a feed's ``post_tags``, a log): each sync
replaces the copy's rows in one unit and proves it by count and hash sum, duplicate rows
counted; `sync verify` names a differing row by its values; a sync stopped half-way leaves the
old copy as it was. Real SQLite, PostgreSQL and the D1 stand-in."""

from __future__ import annotations

import json
import re
import signal
import threading
import time
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg
import pytest

from malnu_tui.engine.backends.d1 import pieces
from malnu_tui.engine.errors import BackendError, SyncRefused
from malnu_tui.engine.sync import SyncProgress, whole
from malnu_tui.engine.sync.whole import NOTE
from malnu_tui.engine.sync.whole_d1 import stage_name
from tests.d1server import Fault
from tests.fixtures_core import popen_cli, stop_if_running
from tests.inproc import run_inproc
from tests.sync_support import Db, make_db, sync, verify

PG_TAGS = "CREATE TABLE tags (value text, object_id text, n bigint)"
SQLITE_TAGS = "CREATE TABLE tags (value TEXT, object_id TEXT, n INTEGER)"
FIRST = [("sekolah", "o1", 1), ("sekolah", "o1", 1), ("guru", "o2", 2), ("murid", "o3", None)]
FIRST += [(f"t{i}", f"o{i}", i) for i in range(4, 30)]


def _rows(db: Db) -> Counter[tuple[Any, ...]]:
    return Counter(tuple(r) for r in db.run("SELECT value, object_id, n FROM tags"))


def _one_of(db: Db, where: str) -> str:
    """A condition naming one row of those matching ``where`` (no key: its physical id)."""
    rid = "ctid" if db.kind == "postgresql" else "rowid"
    return f"{rid} IN (SELECT {rid} FROM tags WHERE {where} LIMIT 1)"


@pytest.mark.parametrize(
    ("src_kind", "dst_kind"),
    [("sqlite", "postgresql"), ("postgresql", "sqlite"), ("sqlite", "d1"), ("d1", "postgresql")],
)
def test_a_keyless_table_is_copied_whole_proved_and_left_whole_by_a_stopped_sync(
    src_kind: str,
    dst_kind: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(whole, "PAGE_ROWS", 10)  # several pages (and units of D1's stage)
    monkeypatch.setattr(whole, "_D1_PAGE", 10)
    src, dst = (
        make_db(src_kind, request, tmp_path, "src"),
        make_db(dst_kind, request, tmp_path, "dst"),
    )
    src.run(PG_TAGS if src_kind == "postgresql" else SQLITE_TAGS)
    src.many("INSERT INTO tags VALUES (?, ?, ?)", FIRST)
    first = sync(src, dst)
    assert (first.mode, first.inserted, first.deleted, first.verified) == ("whole", 30, 0, True)
    assert (first.source_count, first.dest_count) == (30, 30)
    assert _rows(dst) == _rows(src) and _rows(dst)[("sekolah", "o1", 1)] == 2
    # A row duplicated, one of two equal rows deleted, one changed: a second sync.
    src.run("INSERT INTO tags VALUES ('guru', 'o2', 2)")
    src.run("DELETE FROM tags WHERE " + _one_of(src, "value = 'sekolah'"))
    src.run("UPDATE tags SET n = 50 WHERE value = 't5'")
    second = sync(src, dst)
    assert (second.inserted, second.deleted, second.dest_count, second.verified) == (
        30, 30, 30, True,
    )  # fmt: skip
    assert _rows(dst) == _rows(src)
    assert _rows(dst)[("sekolah", "o1", 1)] == 1 and _rows(dst)[("guru", "o2", 2)] == 2
    # A row edited by hand in the copy: no key to name, so its two versions are named.
    dst.run("UPDATE tags SET n = 800 WHERE value = 't8'")
    found = verify(src, dst)
    assert not found.verified and found.note == NOTE
    named = sorted((d.kind, d.describe(found.key)) for d in found.differences)
    assert [k for k, _ in named] == ["extra", "missing"], named
    assert "value='t8'" in named[0][1] and "n='800'" in named[0][1], named
    assert "n='8'" in named[1][1], named
    assert found.as_json()["differences"][0]["key"]["value"] == "t8"
    # A sync stopped after its first page: the copy is the one before (the hand-edited row).
    before = _rows(dst)
    src.run("DELETE FROM tags WHERE value = 'guru'")

    def stop(p: SyncProgress) -> None:
        if p.phase == "copy" and p.rows >= 10:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sync(src, dst, stop)
    assert _rows(dst) == before
    if dst_kind == "d1":  # its stage stays, left out of the sync's tables
        assert dst.run(f'SELECT count(*) FROM "{stage_name("tags")}"') == [(10,)]
    again = sync(src, dst)
    assert (again.deleted, again.inserted, again.verified) == (30, 28, True)
    assert _rows(dst) == _rows(src)
    assert verify(src, dst).verified
    if dst_kind == "d1":
        assert not dst.run("SELECT name FROM sqlite_master WHERE name LIKE 'malnu_stage_%'")


def test_the_plan_and_json_say_whole_and_a_copy_with_a_key_is_still_refused(
    tmp_path: Path, pg_url: str
) -> None:
    src = Db("sqlite", f"sqlite:///{tmp_path / 'p.db'}", path=tmp_path / "p.db")
    dst = Db("postgresql", pg_url)
    src.run(SQLITE_TAGS)
    src.many("INSERT INTO tags VALUES (?, ?, ?)", FIRST[:4])
    config = tmp_path / "malnu.toml"
    config.write_text(
        f'[targets.primary]\nurl = "sqlite:///{tmp_path / "p.db"}"\n\n'
        f'[targets.analytics]\nurl = "{pg_url}"\n\n'
        '[sync.reporting]\nfrom = "primary"\nto = "analytics"\ntables = ["tags"]\n',
        encoding="utf-8",
    )
    dry = run_inproc("--config", str(config), "sync", "reporting", "--dry-run", "--json")
    assert dry.code == 0, dry.err
    assert [(t["mode"], t["inserted"], t["deleted"]) for t in json.loads(dry.out)] == [
        ("whole", 4, 0)
    ]
    res = run_inproc("--config", str(config), "sync", "reporting", "--yes", "--json")
    assert res.code == 0, res.err
    assert "tags: whole (no key: every row replaced in one unit" in res.err, res.err
    assert "note: no key: copied whole each time, 4 rows" in res.err, res.err
    (table,) = json.loads(res.out)
    assert (table["mode"], table["inserted"], table["deleted"], table["verified"]) == (
        "whole", 4, 0, True,
    )  # fmt: skip
    # The source given a key since: the copy made whole has none, and is made again.
    src.run("DELETE FROM tags WHERE " + _one_of(src, "value = 'sekolah'"))
    src.run("CREATE UNIQUE INDEX tags_key ON tags (value, object_id)")
    with pytest.raises(SyncRefused, match=r"destination key \(none\)") as keyed_now:
        sync(src, dst)
    hint = str(keyed_now.value.hint)
    assert "its copy's (none): make the copy again, DROP TABLE" in hint, hint
    for statement in hint.split(": make the copy again, ")[1].split("; then")[0].split("; "):
        dst.run(statement)
    assert sync(src, dst).mode == "full" and verify(src, dst).verified
    src.run("DROP INDEX tags_key")
    # A copy given a key of its own cannot hold the source's two equal rows: refused, why said.
    dst.run("DROP TABLE tags")
    keyed = "value text PRIMARY KEY, object_id text, n bigint, synced_at timestamp"
    dst.run(f"CREATE TABLE tags ({keyed})")
    with pytest.raises(SyncRefused, match="it could not hold two equal rows") as refused:
        sync(src, dst)
    assert "drop that key at the destination" in str(refused.value.hint)


def test_a_sync_killed_in_the_middle_of_its_unit_leaves_the_old_copy(
    tmp_path: Path, pg_url: str
) -> None:
    """SIGKILL (a real process) while the copy's DELETE and COPY are under way: the server
    rolls the unit back, and reports read the copy of the sync before, whole."""
    src = Db("sqlite", f"sqlite:///{tmp_path / 'p.db'}", path=tmp_path / "p.db")
    dst = Db("postgresql", pg_url)
    src.run(SQLITE_TAGS)
    src.many("INSERT INTO tags VALUES (?, ?, ?)", [("old", f"o{i}", i) for i in range(50_000)])
    config = tmp_path / "malnu.toml"
    config.write_text(
        f'[targets.primary]\nurl = "sqlite:///{tmp_path / "p.db"}"\n\n'
        f'[targets.analytics]\nurl = "{pg_url}"\n\n'
        '[sync.reporting]\nfrom = "primary"\nto = "analytics"\ntables = ["tags"]\n',
        encoding="utf-8",
    )
    cfg = ["--config", str(config)]
    assert run_inproc(*cfg, "sync", "reporting", "--yes").code == 0
    src.run("UPDATE tags SET value = 'new'")
    proc = popen_cli(*cfg, "sync", "reporting", "--yes")
    held = (
        "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE "
        "c.relname = 'tags' AND l.mode = 'RowExclusiveLock' AND l.pid <> pg_backend_pid()"
    )
    try:
        with psycopg.connect(pg_url, autocommit=True) as c:
            deadline = time.monotonic() + 60
            while c.execute(held).fetchone() == (0,) and time.monotonic() < deadline:
                time.sleep(0.002)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        stop_if_running(proc)
    assert dst.run("SELECT value, count(*) FROM tags GROUP BY 1") == [("old", 50_000)]
    report = sync(src, dst)
    assert (report.deleted, report.inserted, report.verified) == (50_000, 50_000, True)
    assert dst.run("SELECT value, count(*) FROM tags GROUP BY 1") == [("new", 50_000)]


def test_a_d1_keyless_table_s_blob_too_large_for_one_hex_is_read_in_pieces(
    request: pytest.FixtureRequest, tmp_path: Path, pg_url: str
) -> None:
    """A D1 source's BLOB over what one hex() gives back is read in pieces by its row's key:
    a keyless table's rows are named by their rowid for it (there was no key to read by)."""
    src, dst = make_db("d1", request, tmp_path, "src"), Db("postgresql", pg_url)
    src.run("CREATE TABLE lampiran (nama TEXT, isi BLOB)")
    big = bytes(range(256)) * 4_400  # 1,126,400 bytes
    src.many("INSERT INTO lampiran VALUES (?, ?)", [("rapor.pdf", big), ("kecil", b"\x00\x01")])
    report = sync(src, dst)
    assert (report.mode, report.inserted, report.verified) == ("whole", 2, True)
    got = dict(dst.run("SELECT nama, isi FROM lampiran"))
    assert got == {"rapor.pdf": big, "kecil": b"\x00\x01"}


def test_a_d1_keyless_blob_read_in_pieces_is_never_another_row_s(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A BLOB too large for one hex() is read in pieces by its row's id, a request after its
    page. The application deleting the table's last row and adding one meanwhile (SQLite gives
    it the freed id) with a file of the same size had that file copied with the deleted row's
    name: a row that never was (the proof afterwards only said the copy differed). The page
    is now read again after its pieces, and anew when its rows changed."""
    monkeypatch.setattr(pieces, "PIECE_BYTES", 1_000)  # a file of 2,000 bytes: in pieces
    src, dst = make_db("d1", request, tmp_path, "src"), make_db("sqlite", request, tmp_path, "d")
    assert src.d1 is not None
    src.run("CREATE TABLE lampiran (nama TEXT, isi BLOB)")
    src.many(
        "INSERT INTO lampiran VALUES (?, ?)", [("a.pdf", b"a" * 2_000), ("b.pdf", b"b" * 2_000)]
    )
    held = src.d1.server.inject(Fault("slow", match="substr(CAST", hold=threading.Event()))
    done: list[Any] = []
    syncing = threading.Thread(target=lambda: done.append(sync(src, dst)))
    syncing.start()
    while held.count and syncing.is_alive():  # until the pieces' request is held
        time.sleep(0.01)
    src.run("DELETE FROM lampiran WHERE nama = 'b.pdf'")
    src.run("INSERT INTO lampiran VALUES ('c.pdf', ?)", (b"c" * 2_000,))
    assert src.run("SELECT rowid FROM lampiran WHERE nama = 'c.pdf'") == [(2,)]  # b.pdf's
    assert held.hold is not None
    held.hold.set()
    syncing.join()
    got = sorted(dst.run("SELECT nama, isi FROM lampiran"))
    assert got == [("a.pdf", b"a" * 2_000), ("c.pdf", b"c" * 2_000)], [(n, v[:1]) for n, v in got]
    assert done[0].verified

    # Changed at each of its three readings: refused, the copy left as it was.
    faults = [
        src.d1.server.inject(Fault("slow", match="substr(CAST", hold=threading.Event()))
        for _ in range(3)
    ]
    failed: list[BaseException] = []

    def stopped() -> None:
        try:
            sync(src, dst)
        except BackendError as exc:
            failed.append(exc)

    syncing = threading.Thread(target=stopped)
    syncing.start()
    for i, fault in enumerate(faults):
        while fault.count and syncing.is_alive():
            time.sleep(0.01)
        src.run("DELETE FROM lampiran WHERE rowid = 2")
        src.run("INSERT INTO lampiran VALUES (?, ?)", (f"{i}.pdf", b"d" * 2_000))
        assert fault.hold is not None
        fault.hold.set()
    syncing.join()
    assert "rows changed each time their BLOBs too large for one hex()" in str(failed[0])
    assert sorted(dst.run("SELECT nama FROM lampiran")) == [("a.pdf",), ("c.pdf",)]


def test_a_keyless_row_too_large_for_one_d1_statement_is_staged_alone(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Into D1 a row over one statement's 100 KB (a long text, a BLOB) goes into the stage
    alone, its values bound, as a chunk's row does: it stopped the sync (no statement fits)."""
    src, dst = make_db("sqlite", request, tmp_path, "src"), make_db("d1", request, tmp_path, "d")
    src.run("CREATE TABLE catatan (isi TEXT, foto BLOB)")
    rows = [("pendek", b"\x01"), ("x" * 300_000, b"\x02"), ("y", bytes(300_000))]
    src.many("INSERT INTO catatan VALUES (?, ?)", rows)
    report = sync(src, dst)
    assert (report.inserted, report.verified) == (3, True)
    got = dst.run("SELECT length(isi), length(foto) FROM catatan ORDER BY length(isi)")
    assert got == [(1, 300_000), (6, 1), (300_000, 1)]


def test_a_row_the_copy_refuses_is_named_by_its_values_and_the_copy_is_left_as_it_was(
    request: pytest.FixtureRequest, tmp_path: Path, pg_url: str
) -> None:
    """A value the copy cannot take stopped a keyless table's sync with no row to find it by
    (PostgreSQL: `writing tags: invalid input syntax…`, no row, no column; SQLite and D1:
    `row , column r`), and a hint that chunks written before it stay and the next sync
    resumes after them: nothing stays, the copy is as it was. The row is now named by its
    values (a long one cut), its column said, and the hint says the copy was left whole."""
    src, pg = make_db("sqlite", request, tmp_path, "src"), Db("postgresql", pg_url)
    src.run("CREATE TABLE tags (value TEXT, object_id TEXT, n INTEGER, kode VARCHAR(4))")
    src.many("INSERT INTO tags VALUES (?, ?, ?, ?)", [("guru", "o2", 2, "ab"), ("x", "o", 1, "")])
    assert sync(src, pg).verified
    long = "siswa" * 30
    src.run("INSERT INTO tags VALUES (?, 'o3', 'tiga', 'cd')", (long,))
    src.run("INSERT INTO tags VALUES ('murid', 'o4', 4, 'terlalu panjang')")
    for column, value in (("n", "'tiga'"), ("kode", "'terlalu panjang'")):
        with pytest.raises(BackendError) as stopped:
            sync(src, pg)
        message, hint = str(stopped.value), str(stopped.value.hint)
        assert f", column {column}:" in message and f"{column}={value}" in message, message
        assert "chunks written" not in hint and "the copy was left as it was" in hint, hint
        assert pg.run("SELECT value, n FROM tags ORDER BY n") == [("x", 1), ("guru", 2)]
        if column == "n":
            assert f"{f'value={long!r}'[:59]}…, object_id='o3'" in message, message
            src.run("UPDATE tags SET n = 3 WHERE n = 'tiga'")
        else:
            assert "ALTER TABLE" in hint, hint  # widen the copy's column: its own hint kept
    pg.run("DROP TABLE tags")  # the other way: -0 into a SQLite file (which stores 0)
    pg.run("CREATE TABLE tags (value text, r double precision)")
    pg.run("INSERT INTO tags VALUES ('nol', '-0'), ('satu', 1)")
    copy = make_db("sqlite", request, tmp_path, "copy")
    with pytest.raises(BackendError) as stopped:
        sync(pg, copy)
    assert "writing tags, row value='nol', r=-0.0, column r: -0" in str(stopped.value)
    assert "the copy was left as it was" in str(stopped.value.hint), stopped.value.hint


@pytest.mark.parametrize("dst_kind", ["postgresql", "d1"])
def test_a_keyless_table_of_photos_is_read_in_pages_of_bounded_size(
    dst_kind: str, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A keyless table was read in pages of 5,000 rows whatever their size (a keyed one's are
    sized to stay near ``answer_bytes``, 8 MB): a table of attachments (1,200 × 300 KB) was
    held whole in memory with its COPY text, and into D1 each page was one batch, over the
    100 MB Cloudflare takes a request: refused, every sync. Shown at 250 KB pages, a 12 MB
    table of 200 KB photos (2 MB into D1) and a 2 MB request limit: the peak traced stays
    under a third of the table (sync and verify, into PostgreSQL), and D1's batches fit."""
    from malnu_tui.engine.backends.d1.client import D1Api
    from malnu_tui.engine.sync.side_postgres import PostgresSide
    from malnu_tui.engine.sync.side_sqlite import SqliteDialect

    for side in (SqliteDialect, PostgresSide):
        monkeypatch.setattr(side, "answer_bytes", 250_000, raising=False)
    src, dst = (
        make_db("sqlite", request, tmp_path, "src"),
        make_db(dst_kind, request, tmp_path, "d"),
    )
    if dst_kind == "d1":
        monkeypatch.setattr(dst.d1.server, "max_request_bytes", 2_000_000)  # type: ignore[union-attr]
        monkeypatch.setattr(D1Api, "max_request_bytes", 2_000_000)
    src.run("CREATE TABLE lampiran (nama TEXT, isi BLOB)")
    rows, size = (60 if dst_kind == "postgresql" else 10), 200_000  # D1's: 4 MB read as hex
    src.many(
        "INSERT INTO lampiran VALUES (?, ?)", [(f"f{i}", bytes([i]) * size) for i in range(rows)]
    )
    peaks = []
    for step in (lambda: sync(src, dst), lambda: verify(src, dst)):
        tracemalloc.start()
        try:
            assert step().verified
        finally:
            peaks.append(tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
    if dst_kind == "postgresql":  # (the D1 stand-in runs in this process: its memory too)
        assert max(peaks) < rows * size // 3, peaks
    length = "octet_length" if dst_kind == "postgresql" else "length"
    got = dst.run(f"SELECT nama, {length}(isi) FROM lampiran")
    assert sorted(got) == sorted((f"f{i}", size) for i in range(rows))


@pytest.mark.parametrize("dst_kind", ["sqlite", "d1"])
def test_a_row_the_copy_s_own_trigger_refuses_says_its_table_and_what_to_do(
    dst_kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A row the copy's own constraint or trigger refuses (a mirror that `up` built, with its
    CHECKs): D1's swap batch said `no z: SQLITE_CONSTRAINT_TRIGGER`, no table, no hint (in a
    sync of twenty tables, which?), SQLite's `writing tags: …` no hint. Both now name the
    table and say what to do, and that the copy was left as it was."""
    src, dst = (
        make_db("sqlite", request, tmp_path, "src"),
        make_db(dst_kind, request, tmp_path, "d"),
    )
    src.run(SQLITE_TAGS)
    src.many("INSERT INTO tags VALUES (?, ?, ?)", FIRST[:3])
    assert sync(src, dst).verified
    dst.run(
        "CREATE TRIGGER no_z BEFORE INSERT ON tags WHEN NEW.value = 'z' "
        "BEGIN SELECT RAISE(ABORT, 'no z'); END"
    )
    src.run("INSERT INTO tags VALUES ('z', 'o9', 9)")
    with pytest.raises(BackendError) as stopped:
        sync(src, dst)
    assert "writing tags" in str(stopped.value) and "no z" in str(stopped.value), stopped.value
    hint = str(stopped.value.hint)
    assert "a constraint of its own" in hint and "the copy was left as it was" in hint, hint
    assert _rows(dst) == Counter(FIRST[:3])
    dst.run("DROP TRIGGER no_z")
    assert sync(src, dst).verified and _rows(dst) == _rows(src)


def test_a_d1_keyless_table_with_a_column_named_rowid_is_read_whole(
    request: pytest.FixtureRequest, tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A D1 source is read in pages by rowid; a column named ``rowid`` hides it, and the
    pages went by that column's text: of 26 rows (one value, a NULL) 10 were copied, and the
    proof, read the same way, said verified. The row id is now read by a name no column has
    (``_rowid_``, ``oid``); a table that takes all three names is refused, saying so."""
    monkeypatch.setattr(whole, "_D1_PAGE", 10)
    src, dst = make_db("d1", request, tmp_path, "src"), Db("postgresql", pg_url)
    src.run("CREATE TABLE ev (rowid TEXT, a INTEGER)")
    src.many("INSERT INTO ev VALUES (?, ?)", [("k", i) for i in range(25)] + [(None, 99)])
    report = sync(src, dst)
    assert (report.inserted, report.source_count, report.verified) == (26, 26, True)
    assert sorted(dst.run("SELECT a FROM ev")) == [(i,) for i in [*range(25), 99]]
    src.run('CREATE TABLE "all" (rowid TEXT, _rowid_ TEXT, oid TEXT)')
    with pytest.raises(BackendError, match="its columns rowid, _rowid_ and oid hide the row id"):
        sync(src, dst, tables=["all"])


def test_a_d1_copy_whose_stage_does_not_fit_drops_it_and_says_why(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Into D1 a keyless table is staged whole before the swap: a database near its size
    limit took half the stage, then refused a page (`Exceeded maximum DB size`), and the
    stage stayed, holding the room the application's own writes needed until the next sync
    (which filled it again); the hint said to split large data migrations into smaller
    files. Now the stage is dropped at once and the hint says what a whole copy needs."""
    from malnu_tui.engine.backends.d1.client import D1Api
    from malnu_tui.engine.urls import parse_d1_url

    monkeypatch.setattr(whole, "PAGE_ROWS", 100)  # pages of ~25 KB: several stage batches
    src, dst = make_db("sqlite", request, tmp_path, "s"), make_db("d1", request, tmp_path, "d")
    assert dst.d1 is not None
    src.run(SQLITE_TAGS)
    src.many("INSERT INTO tags VALUES (?, ?, ?)", [("x" * 200, f"o{i}", i) for i in range(600)])
    assert sync(src, dst).verified
    dst.run("VACUUM")  # the first sync's stage left free pages: room for half a stage only
    size = dst.run("PRAGMA page_count")[0][0] * dst.run("PRAGMA page_size")[0][0]
    monkeypatch.setattr(dst.d1.server, "max_db_bytes", size * 3 // 2)
    src.run("UPDATE tags SET n = n + 1")
    with pytest.raises(BackendError) as full:
        sync(src, dst)
    assert "Exceeded maximum DB size" in str(full.value), full.value
    hint = str(full.value.hint)
    assert "at its size limit" in hint and "the copy was left as it was" in hint, hint
    assert not dst.run("SELECT name FROM sqlite_master WHERE name LIKE 'malnu_stage_%'")
    assert dst.run("SELECT min(n), count(*) FROM tags") == [(0, 600)]  # as it was
    api = D1Api(parse_d1_url(dst.url), dst.d1.token, api_base=dst.d1.server.api_base)
    try:  # the application's own write finds its room again
        api.raw("INSERT INTO tags (value, object_id, n) VALUES ('app', 'a', 1)")
    finally:
        api.close()


def test_a_d1_copy_s_swap_moves_the_stage_page_by_page(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The swap moves the stage in one INSERT … SELECT per page staged, all in the one final
    batch (it was one for the whole stage). Over D1's HTTP API the 30 s bound the whole
    request too, so this makes the swap no shorter; a swap D1 stops is said as such:
    test_d1_duration."""
    monkeypatch.setattr(whole, "PAGE_ROWS", 10)
    src, dst = make_db("sqlite", request, tmp_path, "s"), make_db("d1", request, tmp_path, "d")
    assert dst.d1 is not None
    src.run(SQLITE_TAGS)
    src.many("INSERT INTO tags VALUES (?, ?, ?)", FIRST)  # 30 rows: 3 pages
    server, bodies = dst.d1.server, []  # every request's whole text (the log keeps 4,000 chars)
    take = server.take_fault
    monkeypatch.setattr(server, "take_fault", lambda p, t: bodies.append(t) or take(p, t))
    assert sync(src, dst).verified and _rows(dst) == _rows(src)
    (swap,) = [b for b in bodies if 'DROP TABLE \\"malnu_stage_whole_tags\\"' in b]
    moves = re.findall(r"rowid BETWEEN (\d+) AND (\d+) ORDER BY rowid", swap)
    assert moves == [("1", "10"), ("11", "20"), ("21", "30")], swap


def test_a_keyless_row_is_named_without_its_secrets(
    request: pytest.FixtureRequest, tmp_path: Path, pg_url: str
) -> None:
    """A keyless row is named by its values (there is no key): every column's, a legacy
    users table's password hash too, in the error, both sides' audit rows and `sync verify`'s
    report (`--json` too), where a keyed table's name only the key and the value refused.
    A column whose name says it holds secrets (password, hash, token…) is now `(hidden)`;
    the values that find the row (the NISN, the email) are still shown."""
    src, pg = make_db("sqlite", request, tmp_path, "src"), Db("postgresql", pg_url)
    src.run("CREATE TABLE akun_lama (nisn TEXT, email TEXT, passwordHash TEXT, n INTEGER)")
    secret = "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW"
    src.run("INSERT INTO akun_lama VALUES ('0051234567', 'a@malnu.sch.id', ?, 'tiga')", (secret,))
    with pytest.raises(BackendError) as stopped:
        sync(src, pg)
    message = str(stopped.value)  # (the copy's names: PostgreSQL folds passwordHash)
    assert "nisn='0051234567', email='a@malnu.sch.id', passwordhash=(hidden)" in message, message
    assert secret[:20] not in message, message
    audits = src.run("SELECT detail FROM malnu_audit") + pg.run("SELECT detail FROM malnu_audit")
    assert audits and not [a for a in audits if secret[:20] in str(a)], audits
    src.run("UPDATE akun_lama SET n = 3")
    assert sync(src, pg).verified
    pg.run("UPDATE akun_lama SET passwordhash = 'edited by hand'")
    found = verify(src, pg)
    assert not found.verified
    named = sorted(d.describe(found.key) for d in found.differences)
    assert named == [
        "extra: nisn='0051234567', email='a@malnu.sch.id', passwordHash=(hidden), n='3'",
        "missing: nisn='0051234567', email='a@malnu.sch.id', passwordHash=(hidden), n='3'",
    ], named
    shown = json.dumps(found.as_json())
    assert secret[:20] not in shown and "edited by hand" not in shown, shown


def test_a_keyless_row_s_words_that_only_look_secret_are_shown(tmp_path: Path) -> None:
    """The words "secret" and "sandi" were found inside any name: a keyless board of a
    school's clubs named its rows with the secretary's name and the drama club's
    (Indonesian "sandiwara") hidden, the values the operator finds the row by. Words that
    only contain them are shown; a secret's still hidden."""
    src = Db("sqlite", f"sqlite:///{tmp_path / 's.db'}", tmp_path / "s.db")
    dst = Db("sqlite", f"sqlite:///{tmp_path / 'd.db'}", tmp_path / "d.db")
    src.run("CREATE TABLE pengurus (ketua TEXT, secretary TEXT, sandiwara TEXT, secret_key TEXT)")
    src.run("INSERT INTO pengurus VALUES ('Ani', 'Budi', 'Citra', 'k3y')")
    assert sync(src, dst).verified
    dst.run("UPDATE pengurus SET ketua = 'Dewi'")
    named = sorted(d.describe(verify(src, dst).key) for d in verify(src, dst).differences)
    assert named[1] == (
        "missing: ketua='Ani', secretary='Budi', sandiwara='Citra', secret_key=(hidden)"
    ), named


def test_a_keyless_copy_s_sequence_is_moved_past_the_ids_written(
    tmp_path: Path, pg_url: str
) -> None:
    """A keyless copy made by hand with a serial (or identity) column, as a keyed mirror's
    are: the whole copy wrote the source's ids and left the sequence at 1, so the next
    INSERT there took id 1 again (a second row of id 1: no key refuses it). Moved past the
    largest id written, as a keyed copy's sequences are; never back."""
    src, pg = (
        Db("sqlite", f"sqlite:///{tmp_path / 's.db'}", tmp_path / "s.db"),
        Db("postgresql", pg_url),
    )
    src.run("CREATE TABLE log (id INTEGER, pesan TEXT)")
    src.many("INSERT INTO log VALUES (?, ?)", [(1, "a"), (7, "b"), (7, "b")])
    pg.run("CREATE TABLE log (id bigserial, pesan text, synced_at timestamp)")
    report = sync(src, pg)
    assert (report.mode, report.verified, report.warnings) == ("whole", True, ())
    assert pg.run("INSERT INTO log (pesan) VALUES ('app') RETURNING id") == [(8,)]
    pg.run("SELECT setval('log_id_seq', 100)")
    assert sync(src, pg).verified
    assert pg.run("SELECT last_value FROM log_id_seq") == [(100,)]


def test_a_keyless_tables_progress_says_the_rows_it_verified(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A keyless table's verify said "verify 0 rows" (its start) and nothing after: read as
    "nothing verified". It ends with the rows proved, as a keyed table's ranges do."""
    from malnu_tui.engine.sync import SyncSession, verify_sync

    src, dst = (
        make_db("sqlite", request, tmp_path, "src"),
        make_db("sqlite", request, tmp_path, "dst"),
    )
    src.run(SQLITE_TAGS)
    src.many("INSERT INTO tags VALUES (?, ?, ?)", FIRST)
    seen: list[tuple[str, int, int | None]] = []
    sync(src, dst, lambda p: seen.append((p.phase, p.rows, p.total)))
    assert [e for e in seen if e[0] == "verify"][-1] == ("verify", 30, 30), seen
    seen.clear()
    with SyncSession(src.target("primary"), dst.target("analytics")) as s:
        verify_sync(s, (), lambda p: seen.append((p.phase, p.rows, p.total)))
    assert seen[-1] == ("verify", 30, 30), seen
