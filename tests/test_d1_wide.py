"""A keyless table of D1's most columns (100) holding a BLOB over 999,999 bytes, synced out of
D1 (D1: 100 columns a table and a result, 2,000,000 bytes a row or value, and a BLOB read as
hex(), twice its size), on the local D1 stand-in. (Into D1 such a table is refused by name
before anything is written: the copy adds synced_at, test_sync_d1_limits.)"""

from __future__ import annotations

import time
from pathlib import Path
from threading import Event, Thread

import pytest

from malnu_tui.engine.backends.d1 import pieces
from malnu_tui.engine.sync.model import TableReport
from tests.d1server import Fault
from tests.sync_support import make_db, sync


def test_a_keyless_d1_table_of_100_columns_with_a_large_blob_is_synced_out(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A D1 table of 100 columns is read in pages of rowid ranges (no room for the rowid in a
    result of 100 columns), and a BLOB too large for one hex() is read afterwards in pieces by
    its row's key: a keyless table had none there, so the pieces were asked for by an empty
    key ("near ')': syntax error", exit 1) and the table could never leave D1. Its pieces are
    now read by the row ids of the page's rows, asked for then."""
    src, dst = make_db("d1", request, tmp_path, "src"), make_db("sqlite", request, tmp_path, "d")
    cols = [f"c{i:02d}" for i in range(1, 100)]
    src.run(f"CREATE TABLE lembar ({', '.join(f'{c} TEXT' for c in cols)}, scan BLOB)")
    big = b"\x00\xff" + bytes(range(256)) * 3_907  # 1,000,194 bytes
    marks = ", ".join("?" for _ in range(100))
    rows = [(*cols, b"\x01"), (*cols, big), (*(c.upper() for c in cols), None)]
    src.many(f"INSERT INTO lembar VALUES ({marks})", rows)
    report = sync(src, dst)
    assert (report.mode, report.inserted, report.verified) == ("whole", 3, True)
    got = dst.run(f"SELECT {', '.join(cols)}, scan FROM lembar")
    assert sorted(got, key=lambda r: len(r[-1] or b"")) == [rows[2], rows[0], rows[1]]


def test_a_wide_d1_page_s_rows_and_their_ids_are_read_in_one_request(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ids a wide page's BLOBs too large for one hex() are read by were asked for by a
    request of their own, after the rows, and paired with them by position: the school's
    application deleting a row and adding one between the two (as many rows) gave each row
    after the deleted one the next row's id, so its scan was read from another row and
    copied so (the copy wrong; the proof afterwards, reading the source again, only said it
    differed). The rows and their ids are now read by one request, one state of D1."""
    monkeypatch.setattr(pieces, "PIECE_BYTES", 1_000)  # a scan of 2,000 bytes: read in pieces
    src, dst = make_db("d1", request, tmp_path, "src"), make_db("sqlite", request, tmp_path, "d")
    assert src.d1 is not None
    cols = [f"c{i:02d}" for i in range(1, 100)]
    src.run(f"CREATE TABLE lembar ({', '.join(f'{c} TEXT' for c in cols)}, scan BLOB)")
    marks = ", ".join("?" for _ in range(100))

    def sheet(name: str, fill: int) -> tuple[object, ...]:  # scans of one size: a form's
        return (*(f"{name}-{c}" for c in cols), bytes([fill]) * 2_000)

    src.many(f"INSERT INTO lembar VALUES ({marks})", [sheet(n, i) for i, n in enumerate("ABCD")])
    server = src.d1.server
    # The page's end is asked first (it has OFFSET) and goes through; the read of the ids is
    # held (before the fix a request of its own, now the page's one request with its rows).
    server.inject(Fault("slow", count=1, match="OFFSET"))
    held = server.inject(Fault("slow", match='SELECT rowid FROM \\"lembar\\"', hold=Event()))
    done: list[object] = []
    syncing = Thread(target=lambda: done.append(sync(src, dst)))
    syncing.start()
    while held.count and syncing.is_alive():
        time.sleep(0.01)
    src.run("DELETE FROM lembar WHERE c01 = 'A-c01'")
    src.many(f"INSERT INTO lembar VALUES ({marks})", [sheet("E", 4)])
    assert held.hold is not None
    held.hold.set()
    syncing.join()
    (report,) = done
    copied = sorted(dst.run(f"SELECT {', '.join(cols)}, scan FROM lembar"))
    own = {r[0]: sheet(r[0][0], "ABCDE".index(r[0][0]))[-1] == r[-1] for r in copied}
    assert all(own.values()), f"rows copied with another row's scan: {own}"
    wanted = sorted(src.run(f"SELECT {', '.join(cols)}, scan FROM lembar"))
    assert [r[0] for r in wanted] == ["B-c01", "C-c01", "D-c01", "E-c01"]
    assert copied == wanted
    assert isinstance(report, TableReport) and report.verified, report
