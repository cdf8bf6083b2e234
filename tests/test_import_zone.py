"""Times a legacy system wrote without their zone (a school app's WIB) into a PostgreSQL
``timestamptz``: PostgreSQL reads them as UTC, 7 hours off, silently. The mapping's
``{ timezone = "Asia/Jakarta" }`` step says their zone, for a CSV file and ``--from`` alike."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from tests.fixtures_matrix import DbTarget
from tests.inproc import run_inproc

TABLE = "CREATE TABLE absensi (id integer PRIMARY KEY, masuk timestamptz)"
ZONED = """[columns.id]
from = "id"
[columns.masuk]
from = "masuk"
apply = [
    { date = ["%d/%m/%Y %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S%z"] },
    { timezone = "Asia/Jakarta" },
]
"""


def _utc(url: str) -> list[tuple[int, str | None]]:
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("SET TIME ZONE 'UTC'")
        q = "SELECT id, to_char(masuk, 'YYYY-MM-DD HH24:MI') FROM absensi ORDER BY id"
        return [(int(r[0]), r[1]) for r in c.execute(q).fetchall()]


def _import(url: str, tmp: Path, *source: str) -> tuple[int, str]:
    res = run_inproc(
        "--database", url, "import", *source, "--table", "absensi", "--on-conflict", "update",
        "--yes", "--no-backup", "--rejects", str(tmp / "r.csv"),
    )  # fmt: skip
    return res.code, res.err


def test_wib_times_without_a_zone_into_timestamptz(
    tmp_path: Path, fresh_db: Callable[[str], DbTarget]
) -> None:
    url = fresh_db("postgresql").url
    with psycopg.connect(url, autocommit=True) as c:
        c.execute(TABLE)
    legacy = tmp_path / "legacy.db"
    conn = sqlite3.connect(legacy)
    conn.executescript(
        "CREATE TABLE absensi (id INTEGER PRIMARY KEY, masuk TEXT);"
        "INSERT INTO absensi VALUES (1, '2019-07-15 07:00:00'), (2, NULL);"
    )
    conn.close()
    source = ("--from", f"sqlite:///{legacy}:absensi")
    # Without the step: as before (taken as UTC), and the preview says so.
    code, err = _import(url, tmp_path, *source)
    assert code == 0, err
    assert (
        "note: masuk is timestamp with time zone: a time without its offset "
        "('2019-07-15 07:00:00') is taken as UTC"
    ) in err
    assert _utc(url) == [(1, "2019-07-15 07:00"), (2, None)]
    # With it: 07:00 WIB is 00:00 UTC, from a legacy database and from a CSV file alike.
    zoned = tmp_path / "zoned.toml"
    zoned.write_text(ZONED)
    code, err = _import(url, tmp_path, *source, "--map", str(zoned))
    assert code == 0, err
    assert "masuk ← from masuk, date → timezone (a time without its offset is Asia/Jakarta's)" in (
        err
    )
    assert "note: masuk" not in err
    assert _utc(url) == [(1, "2019-07-15 00:00"), (2, None)]
    csv = tmp_path / "absensi.csv"
    csv.write_text("id,masuk\n3,16/07/2019 06:45\n4,2019-07-16 12:00:00+00:00\n")
    code, err = _import(url, tmp_path, str(csv), "--map", str(zoned))
    assert code == 0, err
    # A time that says its offset keeps it.
    assert _utc(url)[2:] == [(3, "2019-07-15 23:45"), (4, "2019-07-16 12:00")]
    # A PostgreSQL timestamptz source's times carry their offset: no step needed, no note
    # (the preview's rows show it).
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("CREATE TABLE old_absensi AS SELECT id + 10 AS id, masuk FROM absensi")
    code, err = _import(url, tmp_path, "--from", f"{url}:old_absensi")
    assert code == 0 and "note: masuk" not in err, err
    rows = _utc(url)
    assert rows[4:] == [(i + 10, t) for i, t in rows[:4]]


@pytest.mark.parametrize(
    ("zone", "said"),
    [
        ('"WIB"', "unknown time zone 'WIB': write 'Asia/Jakarta'"),
        ('"Asia/Jakrta"', "unknown time zone 'Asia/Jakrta': a zone name such as"),
        ("7", "timezone needs the zone of times written without one"),
    ],
)
def test_an_unknown_zone_is_a_mapping_error(tmp_path: Path, zone: str, said: str) -> None:
    csv, mapping = tmp_path / "a.csv", tmp_path / "m.toml"
    csv.write_text("id,masuk\n1,2019-07-15 07:00:00\n")
    mapping.write_text(ZONED.replace('"Asia/Jakarta"', zone))
    db = tmp_path / "t.db"
    sqlite3.connect(db).execute(TABLE.replace("timestamptz", "TIMESTAMP")).connection.close()
    code, err = _import(f"sqlite:///{db}", tmp_path, str(csv), "--map", str(mapping))
    assert code == 2
    assert f"m.toml:5: columns.masuk: {said}" in err, err
