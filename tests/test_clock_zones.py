"""Times across zones, as the school meets them: an operator's machine in WIB (UTC+7, the
child's ``TZ``), a PostgreSQL database whose own ``timezone`` is Asia/Jakarta or New York (set
per database, never the cluster's), and times typed or stored without their zone."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from tests.fixtures_core import MigrationDirs, run_cli

WIB = {"TZ": "Asia/Jakarta"}


def test_history_since_a_local_time_typed_without_its_zone_is_refused_not_empty(
    tmp_path: Path, mdirs: MigrationDirs
) -> None:
    """At 19:30 WIB an operator asked what ran in the last half hour: `history --since
    "<today> 19:00"` read 19:00 as UTC, 7 hours ahead, and said "0 runs" (exit 0) while an
    apply had run minutes before. Such a time is refused as `recover --to` refuses it."""
    mdirs.add("20250101_000100", "a", "CREATE TABLE a (id INTEGER);")
    args = ("--database", f"sqlite:///{tmp_path / 'h.db'}", *mdirs.args())
    assert run_cli(*args, "up", "--yes").code == 0
    local = datetime.now(ZoneInfo("Asia/Jakarta")) - timedelta(minutes=30)
    res = run_cli(*args, "history", "--since", f"{local:%Y-%m-%d %H:%M}", env=WIB)
    assert res.code == 2 and res.out == "", res
    assert "is in the future" in res.err and "add its offset (+07:00)" in res.err, res.err
    res = run_cli(*args, "history", "--since", f"{local:%Y-%m-%d %H:%M}+07:00", env=WIB)
    assert res.code == 0 and "apply" in res.out, res


def test_a_future_time_on_a_utc_machine_names_the_offsets_to_add(
    tmp_path: Path, mdirs: MigrationDirs
) -> None:
    """On a server kept in UTC the hint said "add its offset (+00:00)", which changes nothing:
    the WIB time of a moment ago, typed without its zone, stayed 7 hours ahead. It now says
    the machine's clock is UTC too and which offsets to add."""
    mdirs.add("20250101_000100", "a", "CREATE TABLE a (id INTEGER);")
    args = ("--database", f"sqlite:///{tmp_path / 'h.db'}", *mdirs.args())
    assert run_cli(*args, "up", "--yes").code == 0
    local = datetime.now(ZoneInfo("Asia/Jakarta")) - timedelta(minutes=30)
    res = run_cli(*args, "history", "--since", f"{local:%Y-%m-%d %H:%M}", env={"TZ": "UTC"})
    assert res.code == 2 and "is in the future" in res.err, res.err
    assert "(+00:00)" not in res.err and "WIB +07:00" in res.err, res.err


def _pg(url: str, *statements: str) -> list[tuple[Any, ...]]:
    """Run ``statements`` on ``url`` (set-up and assertions); the last one's rows."""
    rows: list[tuple[Any, ...]] = []
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in statements:
            cur = conn.execute(statement)  # type: ignore[arg-type]
            rows = cur.fetchall() if cur.description else []
    return rows


def _in_wib(url: str) -> None:
    """The database's own timezone Asia/Jakarta (a self-hosted server set up in WIB)."""
    name = url.rsplit("/", 1)[1]
    _pg(url, f"ALTER DATABASE {name} SET timezone = 'Asia/Jakarta'")


def test_import_timezone_step_into_a_timestamp_without_time_zone_stores_utc(
    tmp_path: Path, pg_url: str
) -> None:
    """A legacy attendance sheet in WIB, the mapping saying so (`{ timezone = "Asia/Jakarta" }`),
    into a Rails/Prisma-style `timestamp(3)` column (UTC times, no zone): the step made
    `07:00:00+07:00` and PostgreSQL dropped the offset, so 07:00 WIB was stored as 07:00 — a
    WIB wall clock among UTC times, the step a silent no-op (a `timestamptz` beside it was
    right). A time that says its offset is stored as its UTC time there too."""
    _in_wib(pg_url)
    _pg(pg_url, "CREATE TABLE absen (id int PRIMARY KEY, masuk timestamp(3), keluar timestamptz)")
    csv = tmp_path / "absen.csv"
    csv.write_text(
        "id,masuk,keluar\n1,2019-07-15 07:00:00,2019-07-15 14:00:00\n"
        "2,2019-07-15T07:00:00.250+07:00,2019-07-15T07:00:00Z\n"
    )
    mapping = tmp_path / "absen.toml"
    mapping.write_text(
        '[columns.id]\nfrom = "id"\napply = ["int"]\n'
        '[columns.masuk]\nfrom = "masuk"\napply = [{ timezone = "Asia/Jakarta" }]\n'
        '[columns.keluar]\nfrom = "keluar"\napply = [{ timezone = "Asia/Jakarta" }]\n'
    )
    res = run_cli(
        "--database", pg_url, "import", str(csv), "--table", "absen", "--map", str(mapping),
        "--yes", env=WIB,
    )  # fmt: skip
    assert res.code == 0, res
    rows = _pg(
        pg_url,
        "SET timezone = 'UTC'",
        "SELECT id, masuk::text, keluar::text FROM absen ORDER BY id",
    )
    assert rows == [
        (1, "2019-07-15 00:00:00", "2019-07-15 07:00:00+00"),
        (2, "2019-07-15 00:00:00.25", "2019-07-15 07:00:00+00"),
    ], rows


def test_sync_copies_an_app_time_with_its_offset_as_utc_and_verify_finds_a_wall_clock(
    tmp_path: Path, pg_url: str
) -> None:
    """A D1 app stamping from the phone (`dayjs().format()`: `…T17:00:00+07:00`) beside
    SQLite's UTC `CURRENT_TIMESTAMP`, copied into the analytics database's `timestamp`
    (server in WIB): PostgreSQL dropped the offset and kept 17:00 — 7 hours ahead of the
    row stamped at the same moment in UTC — and `sync` and `sync verify` said equal, since the
    check asked PostgreSQL how it reads the text. The copy now holds the UTC time, and a copy
    holding the wall clock (written before) is named different."""
    _in_wib(pg_url)
    src = tmp_path / "app.db"
    with sqlite3.connect(src) as conn:
        conn.execute("CREATE TABLE absen (id INTEGER PRIMARY KEY, updated_at DATETIME)")
        conn.execute(
            "INSERT INTO absen VALUES (1, '2026-12-06 10:00:00'), "
            "(2, '2026-12-06T17:00:00+07:00'), (3, '2026-12-06T17:00:00.250+07:00')"
        )
    conn.close()
    ends = ("--from", f"sqlite:///{src}", "--to", pg_url)
    res = run_cli("sync", *ends, "--yes", env=WIB)
    assert res.code == 0, res
    rows = _pg(pg_url, "SELECT id, updated_at::text FROM absen ORDER BY id")
    assert rows == [
        (1, "2026-12-06 10:00:00"),
        (2, "2026-12-06 10:00:00"),
        (3, "2026-12-06 10:00:00.25"),
    ], rows
    _pg(pg_url, "UPDATE absen SET updated_at = '2026-12-06 17:00:00' WHERE id = 2")
    res = run_cli("sync", "verify", *ends, env=WIB)
    assert res.code == 1 and "different: id=2" in res.out, res


def test_incremental_sync_by_a_date_column_reads_the_day_its_overlap_reaches_into(
    tmp_path: Path, pg_url: str
) -> None:
    """A grades table stamped by day (`updated_at DATE`): the overlap window was taken off the
    watermark as a time (`2026-12-05 23:55:00`, or `… 00:00:00` with `overlap = "1d"`), which
    sorts after that day's own dates in SQLite, so a grade of the day before changed after
    the last sync was never read — "✔ yes (what it changed)" — and `sync verify` named it."""
    today = datetime.now(UTC).date()
    yesterday = today - timedelta(days=1)
    src = tmp_path / "nilai.db"
    with sqlite3.connect(src) as conn:
        conn.execute("CREATE TABLE nilai (id INTEGER PRIMARY KEY, skor INTEGER, updated_at DATE)")
        conn.execute(f"INSERT INTO nilai VALUES (1, 80, '{yesterday}'), (2, 90, '{today}')")
    conn.close()
    ends = ("--from", f"sqlite:///{src}", "--to", pg_url)
    assert run_cli("sync", *ends, "--yes").code == 0
    with sqlite3.connect(src) as conn:  # committed late, stamped the day before
        conn.execute("UPDATE nilai SET skor = 85 WHERE id = 1")
    conn.close()
    res = run_cli("sync", *ends, "--yes")
    assert res.code == 0, res
    assert _pg(pg_url, "SELECT skor FROM nilai WHERE id = 1") == [(85,)], res.err
    assert f"rows with updated_at >= {yesterday})" in res.err, res.err


def test_incremental_sync_of_an_app_stamping_a_local_time_behind_utc_reads_its_changes(
    tmp_path: Path,
) -> None:
    """An app writing New York's local time with its offset (`…T07:00:00-05:00`): an
    incremental pass compares the source's texts with the watermark, so the watermark is
    the texts' own clock; as their UTC time it stood 5 hours past every later change's text,
    and the next pass left the change behind (said verified, what it changed)."""
    ny = ZoneInfo("America/New_York")
    stamp = "%Y-%m-%dT%H:%M:%S%z"
    earlier = datetime.now(ny) - timedelta(hours=1)
    src, dst = tmp_path / "app.db", tmp_path / "copy.db"
    with sqlite3.connect(src) as conn:
        conn.execute("CREATE TABLE tugas (id INTEGER PRIMARY KEY, judul TEXT, updated_at DATETIME)")
        conn.execute(
            "INSERT INTO tugas VALUES (1, 'a', ?), (2, 'b', ?)", (f"{earlier:{stamp}}",) * 2
        )
    conn.close()
    ends = ("--from", f"sqlite:///{src}", "--to", f"sqlite:///{dst}")
    assert run_cli("sync", *ends, "--yes").code == 0
    with sqlite3.connect(src) as conn:
        now = datetime.now(ny)
        conn.execute(
            "UPDATE tugas SET judul = 'a2', updated_at = ? WHERE id = 1", (f"{now:{stamp}}",)
        )
    conn.close()
    res = run_cli("sync", *ends, "--yes")
    assert res.code == 0, res
    with sqlite3.connect(dst) as conn:
        assert conn.execute("SELECT judul FROM tugas WHERE id = 1").fetchall() == [("a2",)], res.err
    conn.close()


def test_incremental_sync_by_unix_milliseconds_reads_only_the_changes_with_its_overlap(
    tmp_path: Path,
) -> None:
    """A D1 app stamping `updated_at INTEGER` with JavaScript's `Date.now()`: an integer
    column was no cursor at all — the plan said "no updated_at column" and every sync compared
    the whole table by checksums (on D1 every row read, and billed). It is read incrementally
    now, the overlap taken off in milliseconds (a change committed late, stamped before the
    watermark, is read), and a time in seconds among them (a DEFAULT (unixepoch())) too."""
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    src, dst = tmp_path / "d1app.db", tmp_path / "copy.db"
    with sqlite3.connect(src) as conn:
        conn.execute(
            "CREATE TABLE kegiatan (id INTEGER PRIMARY KEY, nama TEXT, updated_at INTEGER)"
        )
        conn.execute("CREATE INDEX kegiatan_updated_at ON kegiatan (updated_at)")
        conn.executemany(
            "INSERT INTO kegiatan VALUES (?, 'x', ?)",
            [(i, now_ms - 7_200_000) for i in range(1, 50)] + [(50, now_ms - 600_000)],
        )
    conn.close()
    ends = ("--from", f"sqlite:///{src}", "--to", f"sqlite:///{dst}")
    assert run_cli("sync", *ends, "--yes").code == 0
    with sqlite3.connect(src) as conn:
        conn.execute("UPDATE kegiatan SET nama = 'now', updated_at = ? WHERE id = 1", (now_ms,))
        late = now_ms - 720_000  # committed late: 2 min before the watermark
        conn.execute("UPDATE kegiatan SET nama = 'late', updated_at = ? WHERE id = 2", (late,))
        conn.execute("UPDATE kegiatan SET nama = 'secs', updated_at = unixepoch() WHERE id = 3")
    conn.close()
    res = run_cli("sync", *ends, "--yes", "--json")
    assert res.code == 0, res
    (table,) = json.loads(res.out)
    assert (table["mode"], table["read"], table["updated"]) == ("updated_at", 4, 3), table
    with sqlite3.connect(dst) as conn:
        names = conn.execute("SELECT nama FROM kegiatan WHERE id <= 3 ORDER BY id").fetchall()
    conn.close()
    assert names == [("now",), ("late",), ("secs",)]


def test_import_date_format_with_a_zone_name_keeps_the_zone_on_any_machine(
    tmp_path: Path, pg_url: str
) -> None:
    """A sheet writing `15/07/2019 07:00 WIB`, read with `{ date = ["%d/%m/%Y %H:%M %Z"] }`:
    Python's `%Z` takes this machine's zone names and drops them, so on a jump box in WIB the
    time came out without its zone (`2019-07-15T07:00:00`) and a `timestamptz` stored 07:00
    UTC — 14:00 WIB — while on one in UTC every row was refused. WIB, WITA, WIT, UTC and GMT
    are read as their offsets now, the same on any machine."""
    _pg(pg_url, "CREATE TABLE hadir (id int PRIMARY KEY, masuk timestamptz)")
    csv = tmp_path / "hadir.csv"
    csv.write_text("id,masuk\n1,15/07/2019 07:00 WIB\n2,15/07/2019 07:00 WITA\n")
    mapping = tmp_path / "hadir.toml"
    mapping.write_text(
        '[columns.id]\nfrom = "id"\napply = ["int"]\n'
        '[columns.masuk]\nfrom = "masuk"\napply = [{ date = ["%d/%m/%Y %H:%M %Z"] }]\n'
    )
    args = ("--database", pg_url, "import", str(csv), "--table", "hadir", "--map", str(mapping))
    res = run_cli(*args, "--yes", env=WIB)
    assert res.code == 0, res
    rows = _pg(pg_url, "SET timezone = 'UTC'", "SELECT id, masuk::text FROM hadir ORDER BY id")
    assert rows == [(1, "2019-07-15 00:00:00+00"), (2, "2019-07-14 23:00:00+00")], rows
