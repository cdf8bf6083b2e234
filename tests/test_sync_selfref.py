"""A copy whose table refers to itself (``pegawai.atasan_id`` → ``pegawai.id``: a mirror that
`up` built, or a category tree), synced in chunks that each commit on their own: a child whose
parent row comes in a later chunk (a manager hired after their staff, a row re-parented to a
newer one) stopped the sync on the copy's foreign key, in a full copy and an incremental pass
alike. Every commit must keep the copy's keys whole, and the sync end complete and verified."""

from __future__ import annotations

from pathlib import Path

import pytest

from malnu_tui.engine.errors import MalnuError
from malnu_tui.engine.sync import SyncRequest, SyncSession, run_sync
from malnu_tui.engine.sync.model import TableReport
from tests.sync_support import Db, make_db, sqlite_source

SOURCE = (
    "CREATE TABLE pegawai (id INTEGER PRIMARY KEY, atasan_id INTEGER REFERENCES pegawai(id), "
    "nama TEXT NOT NULL, updated_at DATETIME NOT NULL DEFAULT '2025-01-01 00:00:00')"
)
COPY = {
    "postgresql": "CREATE TABLE pegawai (id bigint PRIMARY KEY, atasan_id bigint REFERENCES "
    "pegawai(id), nama text NOT NULL, updated_at timestamp NOT NULL, synced_at timestamp)",
    "sqlite": "CREATE TABLE pegawai (id INTEGER PRIMARY KEY, atasan_id INTEGER REFERENCES "
    "pegawai(id), nama TEXT NOT NULL, updated_at DATETIME NOT NULL, synced_at DATETIME)",
}


def _sync(src: Db, dst: Db, **kw: object) -> TableReport:
    with SyncSession(src.target("primary"), dst.target("analytics")) as s:
        (report,) = run_sync(s, SyncRequest(chunk_rows=3, **kw))  # type: ignore[arg-type]
    return report


def _whole(dst: Db) -> None:
    """Every row of the copy has its parent (PostgreSQL and D1 refuse any other commit; the
    SQLite copy's keys are checked at each commit too)."""
    if dst.kind == "postgresql":
        orphans = dst.run(
            "SELECT id FROM pegawai p WHERE atasan_id IS NOT NULL AND NOT EXISTS "
            "(SELECT FROM pegawai q WHERE q.id = p.atasan_id)"
        )
        assert orphans == []
    else:
        assert dst.run("PRAGMA foreign_key_check") == []


@pytest.mark.parametrize("kind", ["sqlite", "postgresql", "d1"])
def test_a_table_that_refers_to_itself_syncs_children_before_their_parents_chunk(
    tmp_path: Path, kind: str, request: pytest.FixtureRequest
) -> None:
    src, dst = sqlite_source(tmp_path), make_db(kind, request, tmp_path, "copy")
    src.run(SOURCE)
    dst.run(COPY["postgresql" if kind == "postgresql" else "sqlite"])
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
    # A parent the source lacks too (its foreign keys not enforced): refused by row, with the
    # hint that says so, and the rows before it whole in the copy.
    src.run(f"UPDATE pegawai SET atasan_id = 99, updated_at = '{later}' WHERE id = 7")
    with pytest.raises(MalnuError) as refused:
        _sync(src, dst)
    assert "the source does not have either" in (refused.value.hint or ""), refused.value
    _whole(dst)


def test_a_chain_whose_every_parent_comes_later_is_copied_whole(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Each row's parent the next one (a document's newer revision, `revisi_berikutnya`): every
    chunk's rows wait for the next chunk, the whole chain for the last. The rows under an
    absent parent are found by walking down once (a pass over the rows per link before)."""
    src, dst = sqlite_source(tmp_path), make_db("sqlite", request, tmp_path, "copy")
    src.run(SOURCE)
    dst.run(COPY["sqlite"])
    n = 400
    src.many(
        "INSERT INTO pegawai (id, atasan_id, nama) VALUES (?, ?, ?)",
        [(i, i + 1 if i < n else None, f"P{i}") for i in range(1, n + 1)],
    )
    first = _sync(src, dst)
    assert (first.inserted, first.verified, first.dest_count) == (n, True, n), first
    _whole(dst)
