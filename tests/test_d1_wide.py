"""A keyless table of D1's most columns (100) holding a BLOB over 999,999 bytes, synced out of
D1 (D1: 100 columns a table and a result, 2,000,000 bytes a row or value, and a BLOB read as
hex(), twice its size), on the local D1 stand-in. (Into D1 such a table is refused by name
before anything is written: the copy adds synced_at, test_sync_d1_limits.)"""

from __future__ import annotations

from pathlib import Path

import pytest

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
