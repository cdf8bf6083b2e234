"""``import --from TARGET:TABLE``: a legacy database's table into a target of another kind.
Each value arrives as the value the source holds (bytes as bytes, JSON as JSON, a PostgreSQL
interval of months as months), and a table of photos is read a few rows at a time."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from malnu_tui.engine.config import Target, open_backend
from malnu_tui.engine.data.records import SourceRecord, chunked
from malnu_tui.engine.data.tablesource import TableSource
from tests.fixtures_matrix import DbTarget
from tests.import_support import ImportTarget, sqlite_file_rows
from tests.inproc import run_inproc

PG_LEGACY = """CREATE TABLE legacy (
    id integer PRIMARY KEY, data jsonb, photo bytea, tags text[], nums integer[],
    span interval, term daterange, seen timestamptz, valid_until date)"""
PG_ROWS = (
    "INSERT INTO legacy VALUES "
    """(1, '{"a": [1, 2], "s": "é"}', '\\xdeadbeef00', '{x,"y z"}', '{1,2}', '1 mon 2 days', """
    "'[2020-01-01,2020-02-01)', '2024-01-01 10:00+07', '2030-06-30'), "
    "(2, 'null', '\\x', '{}', NULL, '-1 year', 'empty', NULL, NULL)"
)


def _import(tmp: Path, target_url: str, source: str, table: str, *extra: str) -> dict[str, Any]:
    rejects = tmp / "rejects.csv"  # not TABLE.rejects.csv in the working folder
    res = run_inproc(
        "--database", target_url, "import", "--from", source, "--table", table,
        "--yes", "--json", "--no-backup", "--rejects", str(rejects), *extra,
    )  # fmt: skip
    assert res.code == 0, res.err
    report: dict[str, Any] = json.loads(res.out)
    return report


def _pg(url: str, *statements: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as c:
        rows: list[tuple[Any, ...]] = []
        for st in statements:
            cur = c.execute(st)
            rows = cur.fetchall() if cur.description else []
        return rows


def _sqlite(path: Path, script: str) -> None:
    conn = sqlite3.connect(str(path))
    try:
        conn.executescript(script)
    finally:
        conn.close()


def test_postgresql_values_reach_postgresql_as_they_are(
    tmp_path: Path, fresh_db: Callable[[str], DbTarget]
) -> None:
    """jsonb was sent as Python's repr ({'a': 1}: refused), bytea as its hex digits' text
    (\\xdeadbeef stored as the bytes of "deadbeef", and "committed"), an interval of months as
    days, arrays as ['x'], and integer[] or daterange columns were checked as integers and
    dates."""
    src, dst = fresh_db("postgresql"), fresh_db("postgresql")
    _pg(src.url, PG_LEGACY, PG_ROWS)
    _pg(dst.url, PG_LEGACY)
    assert _import(tmp_path, dst.url, f"{src.url}:legacy", "legacy")["inserted"] == 2
    every = "SELECT t::text FROM legacy t ORDER BY id"
    assert _pg(dst.url, every) == _pg(src.url, every)


def test_postgresql_values_into_sqlite(tmp_path: Path, fresh_db: Callable[[str], DbTarget]) -> None:
    """Into a SQLite file: JSON that json.loads reads, the bytes of a bytea as a BLOB, months
    kept, and a date PostgreSQL has (infinity) read instead of stopping the whole import."""
    src = fresh_db("postgresql")
    _pg(src.url, PG_LEGACY, PG_ROWS, "UPDATE legacy SET valid_until = 'infinity' WHERE id = 2")
    path = tmp_path / "school.db"
    _sqlite(
        path,
        "CREATE TABLE legacy (id INTEGER PRIMARY KEY, data TEXT, photo BLOB, tags TEXT, "
        "nums TEXT, span TEXT, term TEXT, seen TIMESTAMP, valid_until TEXT)",
    )
    assert _import(tmp_path, f"sqlite:///{path}", f"{src.url}:legacy", "legacy")["inserted"] == 2
    rows = sqlite_file_rows(path, "SELECT * FROM legacy ORDER BY id")
    assert json.loads(rows[0][1]) == {"a": [1, 2], "s": "é"}
    assert rows[0][2:7] == (bytes.fromhex("deadbeef00"), '{x,"y z"}', "{1,2}", "1 mon 2 days",
                            "[2020-01-01,2020-02-01)")  # fmt: skip
    assert rows[0][7] == "2024-01-01T03:00:00+00:00"  # ISO 8601, in UTC
    assert rows[1][1:3] == ("null", b"") and rows[1][8] == "infinity"


def test_blobs_and_large_integers_between_sqlite_and_d1(
    tmp_path: Path, fresh_db: Callable[[str], DbTarget]
) -> None:
    """A BLOB went in as the text of its hex digits (a photo became 'ffd8ffe0…'), from a file
    into D1 or another file; and out of D1, through D1's JSON, an integer past 2^53 rounded."""
    d1 = fresh_db("d1")
    ddl = "CREATE TABLE photos (id INTEGER PRIMARY KEY, nik INTEGER, img BLOB, note TEXT)"
    path = tmp_path / "legacy.db"
    _sqlite(
        path,
        f"{ddl}; INSERT INTO photos VALUES (1, 3201234567890123457, x'ffd8ffe000104a46', 'jpeg'), "
        "(2, NULL, 'text kept in a BLOB column', '\\x6869')",
    )
    on_d1 = ImportTarget("d1", d1.url, tmp_path)
    on_d1.execute(ddl)
    assert _import(tmp_path, d1.url, f"sqlite:///{path}:photos", "photos")["inserted"] == 2
    assert on_d1.rows("SELECT typeof(img), hex(img), note FROM photos ORDER BY id") == [
        ("blob", "FFD8FFE000104A46", "jpeg"),
        ("text", "74657874206B65707420696E206120424C4F4220636F6C756D6E", "\\x6869"),
    ]
    back = tmp_path / "back.db"
    _sqlite(back, ddl)
    assert _import(tmp_path, f"sqlite:///{back}", f"{d1.url}:photos", "photos")["inserted"] == 2
    assert sqlite_file_rows(back, "SELECT * FROM photos ORDER BY id") == sqlite_file_rows(
        path, "SELECT * FROM photos ORDER BY id"
    )


def test_a_table_of_photos_is_read_a_few_rows_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pages and chunks were 2,000 and 5,000 rows whatever a row weighed: a table of 32 KB
    photos took 1.3 GB to import 128 MB. Pages now hold about PAGE_BYTES, chunks CHUNK_BYTES."""
    monkeypatch.setattr("malnu_tui.engine.data.tablesource.PAGE_BYTES", 100_000)
    path = tmp_path / "legacy.db"
    _sqlite(
        path,
        "CREATE TABLE photos (id INTEGER PRIMARY KEY, img BLOB); WITH RECURSIVE n(i) AS "
        "(SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300) "
        "INSERT INTO photos SELECT i, randomblob(10000) FROM n",
    )
    backend = open_backend(Target("legacy", f"sqlite:///{path}", path, path, path))
    try:
        pages = [len(p) for p in TableSource(backend, "photos")._pages()]
    finally:
        backend.close()
    # 10 KB a row: the first page is FIRST_PAGE_ROWS, the next ones 100 KB.
    assert sum(pages) == 300 and pages[0] == 50 and max(pages[1:]) == 9
    records = (SourceRecord(i, ("x" * 1000,), "x" * 1000) for i in range(100))
    assert [len(c.lines) for c in chunked(records, 5000, max_bytes=10_000)] == [10] * 10
