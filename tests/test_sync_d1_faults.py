"""A sync into and out of D1 while its API misbehaves: a batch executed whose answer is lost, a
503, a 429 — retried without a duplicate, a lost row or a false report."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tests.d1server import Fault
from tests.fixtures_d1 import D1Target
from tests.sync_support import Db, make_db, sync, verify

STAMP = "2025-11-24 08:00:00"
# The target's retry options (as test_d1_backend's): the same retries, 0.01 s apart rather
# than the default backoff's 0.5 s, 1 s, 2 s…
FAST = {"retry_base_delay": 0.01, "retry_max_delay": 0.05}


def _d1(request: pytest.FixtureRequest, tmp_path: Path) -> Db:
    return dataclasses.replace(make_db("d1", request, tmp_path, "d1"), options=FAST)


def _rows(db: Db, n: int, first: int = 1) -> None:
    db.many(
        "INSERT INTO nilai VALUES (?, ?, ?)",
        [(i, f"catatan {i}", STAMP) for i in range(first, first + n)],
    )


@pytest.mark.parametrize(
    "fault",
    [
        Fault("drop-after", count=1, match="INSERT INTO"),
        Fault("status", count=2, status=503, match="INSERT INTO"),
        Fault("status", count=1, status=429, retry_after=0, match="INSERT INTO"),
    ],
    ids=["drop-after", "503", "429"],
)
def test_a_sync_into_d1_survives_a_lost_answer_and_refusals(
    fault: Fault, tmp_path: Path, pg_url: str, d1: D1Target, request: pytest.FixtureRequest
) -> None:
    pg = Db("postgresql", pg_url)
    pg.run("CREATE TABLE nilai (id BIGINT PRIMARY KEY, note TEXT, updated_at TIMESTAMP)")
    _rows(pg, 1200)
    dest = _d1(request, tmp_path)
    seen = len(d1.server.requests)
    d1.server.inject(dataclasses.replace(fault))  # (a fault counts itself down)
    first = sync(pg, dest, chunk_rows=400)
    assert (first.inserted, first.verified, first.dest_count) == (1200, True, 1200), first
    assert dest.run("SELECT count(*), count(DISTINCT id) FROM nilai") == [(1200, 1200)]
    sent = [r.fault for r in d1.server.requests[seen:] if r.fault]
    assert sent == [fault.kind] * fault.count

    pg.run("UPDATE nilai SET note = 'baru', updated_at = '2025-11-25 09:00:00' WHERE id % 7 = 0")
    _rows(pg, 10, first=1201)
    seen = len(d1.server.requests)
    d1.server.inject(dataclasses.replace(fault))
    second = sync(pg, dest, chunk_rows=400)
    assert second.verified and (second.inserted, second.updated) == (10, 171), second
    assert [r.fault for r in d1.server.requests[seen:] if r.fault] == [fault.kind] * fault.count
    assert verify(pg, dest).verified


def test_a_sync_out_of_d1_survives_refused_reads(
    tmp_path: Path, pg_url: str, d1: D1Target, request: pytest.FixtureRequest
) -> None:
    src = _d1(request, tmp_path)
    src.run("CREATE TABLE nilai (id INTEGER PRIMARY KEY, note TEXT, updated_at DATETIME)")
    _rows(src, 1500)
    pg = Db("postgresql", pg_url)
    seen = len(d1.server.requests)
    d1.server.inject(Fault("status", count=3, status=503, match="SELECT"))
    report = sync(src, pg, chunk_rows=500)
    assert (report.inserted, report.verified) == (1500, True), report
    assert [r.fault for r in d1.server.requests[seen:] if r.fault] == ["status"] * 3


def test_a_sync_into_d1_whose_create_table_answer_is_lost(
    tmp_path: Path, pg_url: str, d1: D1Target, request: pytest.FixtureRequest
) -> None:
    """The copy's CREATE TABLE ran and its answer was lost: sent again blindly it failed on
    "table nilai already exists" and the sync stopped."""
    pg = Db("postgresql", pg_url)
    pg.run("CREATE TABLE nilai (id BIGINT PRIMARY KEY, note TEXT, updated_at TIMESTAMP)")
    _rows(pg, 10)
    dest = _d1(request, tmp_path)
    fault = d1.server.inject(Fault("drop-after", count=1, match='CREATE TABLE \\"nilai\\"'))
    report = sync(pg, dest)
    assert fault.count == 0, "the answer was lost"
    assert (report.inserted, report.verified) == (10, True), report


def test_a_full_resync_s_last_deletes_whose_request_is_lost_are_sent_again(
    tmp_path: Path, d1: D1Target, request: pytest.FixtureRequest
) -> None:
    """The deletes past the last page go in a batch of no rows: its state row is the one
    already there (no row read, no key moved), so a lost request (closed before D1 ran it) was
    read back as applied and never sent again: the copy kept the rows the source had lost (the
    verify's repair deleted them; its own batch, of no rows either, lost too: `verified no`)."""
    src = make_db("sqlite", request, tmp_path, "src")
    src.run("CREATE TABLE nilai (id INTEGER PRIMARY KEY, note TEXT, updated_at TEXT)")
    _rows(src, 50)
    dest = _d1(request, tmp_path)
    assert sync(src, dest).inserted == 50
    src.run("DELETE FROM nilai WHERE id > 45")
    seen = len(d1.server.requests)
    d1.server.inject(Fault("drop-before", count=1, match="> (45)"))
    d1.server.inject(Fault("drop-before", count=1, match="IN (VALUES (46)"))
    again = sync(src, dest, full=True, chunk_rows=20)
    faults = [r.fault for r in d1.server.requests[seen:] if r.fault]
    assert faults == ["drop-before"], faults  # sent again: the repair had nothing to do
    assert dest.run("SELECT count(*), max(id) FROM nilai") == [(45, 45)]
    assert (again.deleted, again.dest_count) == (5, 45), again
