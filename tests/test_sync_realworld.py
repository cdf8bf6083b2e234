"""The sync on the school's real-world data, on real databases (SQLite, PostgreSQL, the D1
stand-in): values legacy data holds, and how operators really run it. Each test names the bug
it guards; both sides are also compared directly, not only through the tool's own verify."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.sync_support import Db, make_db, sync, verify

PAIRS = [
    ("sqlite", "postgresql"),
    ("d1", "postgresql"),
    ("postgresql", "sqlite"),
    ("postgresql", "d1"),
]


def _ends(request: pytest.FixtureRequest, tmp_path: Path, pair: tuple[str, str]) -> tuple[Db, Db]:
    a, b = pair
    return make_db(a, request, tmp_path, "source"), make_db(b, request, tmp_path, "dest")


@pytest.mark.parametrize("pair", PAIRS, ids=[f"{a}-to-{b}" for a, b in PAIRS])
def test_dates_before_the_year_1000_are_no_difference(
    pair: tuple[str, str], request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Legacy rows hold Go's and .NET's zero date, 0001-01-01. A table whose rows are hashed by
    the tool (here: it has a JSON column) normalized a date read from PostgreSQL through
    strftime, which writes year 1 as '1': every such row was 'different' for ever, repaired by
    each sync and still reported (exit 1)."""
    src, dst = _ends(request, tmp_path, pair)
    if src.kind == "postgresql":
        src.run("CREATE TABLE kalender (id BIGINT PRIMARY KEY, tanggal DATE, meta JSONB)")
    else:
        src.run("CREATE TABLE kalender (id INTEGER PRIMARY KEY, tanggal DATE, meta JSON)")
    dates = ["0001-01-01", "0999-12-31", "1000-01-01", "2025-11-24", None]
    src.many(
        "INSERT INTO kalender (id, tanggal, meta) VALUES (?, ?, ?)",
        [(i, d, '{"libur": false}') for i, d in enumerate(dates, 1)],
    )
    first = sync(src, dst)
    assert (first.verified, first.differences) == (True, ())
    assert verify(src, dst).verified
    copied = [
        (int(i), None if d is None else str(d))
        for i, d in dst.run("SELECT id, tanggal FROM kalender ORDER BY id")
    ]
    assert copied == [(i, d) for i, d in enumerate(dates, 1)]
