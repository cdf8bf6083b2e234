"""``import --from TARGET:TABLE``: a legacy database's table into a target of another kind.
Each value arrives as the value the source holds (bytes as bytes, JSON as JSON, a PostgreSQL
interval of months as months), and a table of photos is read a few rows at a time."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from malnu_tui.engine.config import Target, open_backend
from malnu_tui.engine.data.records import SourceRecord, chunked
from malnu_tui.engine.data.tablesource import TableSource
from tests.fixtures_matrix import DbTarget
from tests.import_support import ImportTarget, pg_run, rejects_of, sqlite_file_rows
from tests.inproc import run_inproc

PG_LEGACY = """CREATE TABLE legacy (
    id integer PRIMARY KEY, data jsonb, photo bytea, tags text[], nums integer[],
    span interval, term daterange, seen timestamptz, valid_until date, kode char(5),
    aktif boolean)"""
PG_ROWS = (
    "INSERT INTO legacy VALUES "
    """(1, '{"a": [1, 2], "s": "é"}', '\\xdeadbeef00', '{x,"y z"}', '{1,2}', '1 mon 2 days', """
    "'[2020-01-01,2020-02-01)', '2024-01-01 10:00+07', '2030-06-30', 'AB', true), "
    "(2, 'null', '\\x', '{}', NULL, '-1 year', 'empty', '-infinity', '0044-03-15 BC', NULL, "
    "false)"
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
    dates; -infinity or a BC date stopped the whole import, and then were refused by row."""
    src, dst = fresh_db("postgresql"), fresh_db("postgresql")
    pg_run(src.url, PG_LEGACY, PG_ROWS)
    pg_run(dst.url, PG_LEGACY)
    assert _import(tmp_path, dst.url, f"{src.url}:legacy", "legacy")["inserted"] == 2
    every = "SELECT t::text FROM legacy t ORDER BY id"
    assert pg_run(dst.url, every) == pg_run(src.url, every)


def test_postgresql_values_into_sqlite(tmp_path: Path, fresh_db: Callable[[str], DbTarget]) -> None:
    """Into a SQLite file: JSON that json.loads reads, the bytes of a bytea as a BLOB, months
    kept, and a date PostgreSQL has (infinity) read instead of stopping the whole import."""
    src = fresh_db("postgresql")
    pg_run(
        src.url,
        PG_LEGACY,
        PG_ROWS,
        "UPDATE legacy SET valid_until = 'infinity', seen = NULL WHERE id = 2",
    )
    path = tmp_path / "school.db"
    _sqlite(
        path,
        "CREATE TABLE legacy (id INTEGER PRIMARY KEY, data TEXT, photo BLOB, tags TEXT, "
        "nums TEXT, span TEXT, term TEXT, seen TIMESTAMP, valid_until TEXT, kode TEXT, "
        "aktif INTEGER)",
    )
    assert _import(tmp_path, f"sqlite:///{path}", f"{src.url}:legacy", "legacy")["inserted"] == 2
    rows = sqlite_file_rows(path, "SELECT * FROM legacy ORDER BY id")
    assert json.loads(rows[0][1]) == {"a": [1, 2], "s": "é"}
    assert rows[0][2:7] == (bytes.fromhex("deadbeef00"), '{x,"y z"}', "{1,2}", "1 mon 2 days",
                            "[2020-01-01,2020-02-01)")  # fmt: skip
    assert rows[0][7] == "2024-01-01T03:00:00+00:00"  # ISO 8601, in UTC
    assert rows[0][9] == "AB"  # char(5) without the padding PostgreSQL ignores
    assert (rows[0][10], rows[1][10]) == (1, 0)  # a boolean in SQLite's INTEGER: was refused
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
        "(2, NULL, 'text kept in a BLOB column', '\\x6869'), "
        "(3, NULL, NULL, 'a' || char(0) || 'b')",
    )
    on_d1 = ImportTarget("d1", d1.url, tmp_path)
    on_d1.execute(ddl)
    assert _import(tmp_path, d1.url, f"sqlite:///{path}:photos", "photos")["inserted"] == 3
    assert on_d1.rows("SELECT typeof(img), hex(img), note FROM photos ORDER BY id") == [
        ("blob", "FFD8FFE000104A46", "jpeg"),
        ("text", "74657874206B65707420696E206120424C4F4220636F6C756D6E", "\\x6869"),
        ("null", "", "a\x00b"),  # NUL was U+FFFD: another value, reported imported
    ]
    back = tmp_path / "back.db"
    _sqlite(back, ddl)
    assert _import(tmp_path, f"sqlite:///{back}", f"{d1.url}:photos", "photos")["inserted"] == 3
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
    assert sum(pages) == 300 and pages[0] == 10 and max(pages[1:]) == 9
    records = (SourceRecord(i, ("x" * 1000,), "x" * 1000) for i in range(100))
    assert [len(c.lines) for c in chunked(records, 5000, max_bytes=10_000)] == [10] * 10


def test_a_view_or_a_table_of_another_schema_as_the_source(
    tmp_path: Path, fresh_db: Callable[[str], DbTarget]
) -> None:
    """A view (the legacy data shaped by a SELECT) and ``legacy.users`` (a table of another
    PostgreSQL schema) were "no table 'v_users'", with a hint listing only base tables. A view
    on D1, which has no cursor, is one line naming it."""
    src, d1 = fresh_db("postgresql"), fresh_db("d1")
    pg_run(
        src.url,
        "CREATE SCHEMA legacy",
        'CREATE TABLE legacy.users ("ID" integer PRIMARY KEY, "Full Name" text)',
        "INSERT INTO legacy.users SELECT g, 'Siswa ' || g FROM generate_series(1, 120) g",
        'CREATE VIEW v_users AS SELECT "ID" AS id, upper("Full Name") AS name '
        'FROM legacy.users WHERE "ID" % 2 = 0',
    )
    path = tmp_path / "school.db"
    _sqlite(
        path,
        'CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT); CREATE TABLE "Users" '
        '("ID" INTEGER PRIMARY KEY, "Full Name" TEXT); CREATE VIEW v AS SELECT * FROM people',
    )
    url = f"sqlite:///{path}"
    assert _import(tmp_path, url, f"{src.url}:legacy.users", "Users")["inserted"] == 120
    assert _import(tmp_path, url, f"{src.url}:v_users", "people")["inserted"] == 60
    assert sqlite_file_rows(path, "SELECT count(*), max(name) FROM people") == [(60, "SISWA 98")]
    on_d1 = ImportTarget("d1", d1.url, tmp_path)
    on_d1.execute("CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT)")
    assert _import(tmp_path, d1.url, f"{url}:v", "people")["inserted"] == 60  # a SQLite view
    on_d1.execute("CREATE VIEW v AS SELECT * FROM people")
    res = run_inproc("--database", url, "import", "--from", f"{d1.url}:v", "--table", "people")
    assert res.code == 2 and res.err.startswith("error: 'v' is a view: D1 has no cursor"), res.err


def test_rows_the_target_refused_do_not_skip_the_count_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_db: Callable[[str], DbTarget]
) -> None:
    """The raw text of rows the database refused (D1, PostgreSQL) is looked up in a second pass
    over the source, which stopped early and left the source's count unset: a page the reading
    missed then committed the rest, within --max-errors."""
    d1 = fresh_db("d1")
    path = tmp_path / "legacy.db"
    _sqlite(
        path,
        "CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER); WITH RECURSIVE s(i) AS "
        "(SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 60) INSERT INTO t SELECT i, i FROM s",
    )
    target = ImportTarget("d1", d1.url, tmp_path)
    target.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER CHECK (n <> 3))")
    monkeypatch.setattr("malnu_tui.engine.data.tablesource.FIRST_PAGE_ROWS", 7)
    monkeypatch.setattr("malnu_tui.engine.data.tablesource.PAGE_ROWS", 7)
    pages = TableSource._pages

    def one_page_lost(self: TableSource) -> Any:
        for i, page in enumerate(pages(self)):
            if i != 4:
                yield page

    monkeypatch.setattr(TableSource, "_pages", one_page_lost)
    res = run_inproc(
        "--database", d1.url, "import", "--from", f"sqlite:///{path}:t", "--table", "t",
        "--yes", "--no-backup", "--max-errors", "1", "--rejects", str(tmp_path / "r.csv"),
    )  # fmt: skip
    assert (
        res.code == 1 and "count check failed: read 53 row(s) of the source table's 60" in res.err
    )
    assert target.count("t") == 0


def test_the_source_is_only_read(tmp_path: Path) -> None:
    """A legacy SQLite file (rollback journal, as PHP apps and the sqlite3 shell leave one) was
    switched to WAL for good by being read, which an old SQLite or a network share may not
    open; it is now opened read-only and stays byte for byte."""
    path = tmp_path / "legacy.db"
    _sqlite(
        path,
        "PRAGMA journal_mode = DELETE; CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT);"
        " INSERT INTO people VALUES (1, 'Budi'), (2, 'Siti')",
    )
    before = path.read_bytes()
    target = tmp_path / "school.db"
    _sqlite(target, "CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT)")
    url = f"sqlite:///{target}"
    assert _import(tmp_path, url, f"sqlite:///{path}:people", "people")["inserted"] == 2
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("legacy")) == [
        "legacy.db"
    ]


@pytest.mark.parametrize(
    "source",
    [
        "postgresql://malnu:Rahasia-42@db.sekolah.id:5432/legacy",
        "postgresql://malnu:Rahasia-42@db/legacy",
    ],
)
def test_a_url_without_its_table_is_one_line(tmp_path: Path, source: str) -> None:
    """The last colon of a URL without ``:TABLE`` is its port's or password's: the rest was
    taken for a host and port 5432 ("connection refused", "failed to resolve host 'malnu'")."""
    target = tmp_path / "school.db"
    _sqlite(target, "CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT)")
    res = run_inproc(
        "--database", f"sqlite:///{target}", "import", "--from", source, "--table", "people"
    )
    assert res.code == 2 and "the URL names no table" in res.err, res.err
    assert "Rahasia" not in res.err and len(res.err.splitlines()) == 2  # error + hint


MYSQL_USERS = """CREATE TABLE `users` (
  `legacy_id` int(11) NOT NULL,
  `email_address` varchar(255) NOT NULL,
  `full_name` varchar(255) DEFAULT NULL,
  `user_type` varchar(1) NOT NULL DEFAULT 'S',
  `class_section` varchar(10) DEFAULT NULL,
  `is_active` tinyint(1) NOT NULL DEFAULT '1',
  `created_date` datetime NOT NULL DEFAULT '0000-00-00 00:00:00',
  PRIMARY KEY (`legacy_id`)
);
INSERT INTO users VALUES (1, ' Budi@Sekolah.SCH.ID ', '  Budi  Santoso ', 'S', '7A', 1,
  '2019-07-15 08:00:00'), (2, 'siti@sekolah.sch.id', 'Siti', 'T', '', 0, '0000-00-00 00:00:00');
"""
MYSQL_MAP = """[columns.id]
from = "legacy_id"
[columns.email]
from = "email_address"
apply = ["trim", "lower"]
[columns.name]
from = "full_name"
apply = ["trim", "collapse_spaces"]
[columns.role]
from = "user_type"
map = { S = "student", T = "teacher", P = "parent", A = "admin" }
[columns.class_id]
from = "class_section"
apply = ["null_if_empty"]
[columns.active]
from = "is_active"
[columns.created_at]
from = "created_date"
"""


def test_mysql_zero_dates_can_be_made_null(tmp_path: Path) -> None:
    """A MySQL dump loaded into SQLite keeps MySQL's "no date", 0000-00-00 00:00:00, which no
    step could turn into NULL: such a legacy table could not be imported without editing it.
    The refusal now says what to write, and { null_if = [...] } does it."""
    legacy, school = tmp_path / "legacy.db", tmp_path / "school.db"
    _sqlite(legacy, MYSQL_USERS)
    _sqlite(
        school,
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE, name TEXT, "
        "role TEXT NOT NULL, class_id TEXT, active BOOLEAN, created_at TIMESTAMP)",
    )
    mapping = tmp_path / "legacy.toml"
    mapping.write_text(MYSQL_MAP)
    args = (
        "--database", f"sqlite:///{school}", "import", "--from", f"sqlite:///{legacy}:users",
        "--table", "users", "--map", str(mapping), "--yes", "--no-backup",
        "--rejects", str(tmp_path / "r.csv"),
    )  # fmt: skip
    res = run_inproc(*args)
    assert res.code == 1
    assert (
        "rejected line 3 created_at: invalid date/time '0000-00-00 00:00:00' for a TIMESTAMP "
        'column (ISO 8601); MySQL\'s "zero date" (no date): make it NULL with '
        '{ null_if = ["0000-00-00 00:00:00"] }'
    ) in res.err
    mapping.write_text(MYSQL_MAP + 'apply = [{ null_if = ["0000-00-00 00:00:00"] }]\n')
    res = run_inproc(*args)
    assert res.code == 0, res.err
    assert "created_at ← from created_date, null_if ('0000-00-00 00:00:00' → NULL)" in res.err
    assert sqlite_file_rows(school, "SELECT * FROM users ORDER BY id") == [
        (1, "budi@sekolah.sch.id", "Budi Santoso", "student", "7A", 1, "2019-07-15 08:00:00"),
        (2, "siti@sekolah.sch.id", "Siti", "teacher", None, 0, None),
    ]
    mapping.write_text(MYSQL_MAP + "apply = [{ null_if = 0 }]\n")
    res = run_inproc(*args)
    assert (
        res.code == 2 and "legacy.toml:19: columns.created_at: null_if needs the texts" in res.err
    )


@pytest.mark.parametrize("key", [" PRIMARY KEY", ""], ids=["by-key", "by-ctid"])
def test_a_live_postgresql_table_is_read_as_it_was_when_the_import_began(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fresh_db: Callable[[str], DbTarget],
    key: str,
) -> None:
    """The legacy application writes while the table is read. Each page was its own snapshot:
    an UPDATE moved rows of a table without a key to later pages (read twice: the count check
    failed, nothing imported), and with a key a mix of before and after was committed. Now
    one snapshot: the table as it was."""
    src = fresh_db("postgresql")
    pg_run(
        src.url,
        f"CREATE TABLE siswa (nis integer{key}, kelas text)",
        "INSERT INTO siswa SELECT g, '7A' FROM generate_series(1, 50) g",
    )
    monkeypatch.setattr("malnu_tui.engine.data.tablesource.FIRST_PAGE_ROWS", 7)
    monkeypatch.setattr("malnu_tui.engine.data.tablesource.PAGE_ROWS", 7)
    pages = TableSource._pages

    def written_meanwhile(self: TableSource) -> Any:
        for i, page in enumerate(pages(self)):
            if i == 1:
                pg_run(
                    src.url,
                    "UPDATE siswa SET kelas = '8A'",
                    "DELETE FROM siswa WHERE nis > 45",
                    "INSERT INTO siswa SELECT g, '9A' FROM generate_series(51, 60) g",
                )
            yield page

    monkeypatch.setattr(TableSource, "_pages", written_meanwhile)
    path = tmp_path / "school.db"
    _sqlite(path, "CREATE TABLE siswa (nis INTEGER PRIMARY KEY, kelas TEXT)")
    assert _import(tmp_path, f"sqlite:///{path}", f"{src.url}:siswa", "siswa")["inserted"] == 50
    assert sqlite_file_rows(path, "SELECT count(*), min(nis), max(nis), max(kelas) FROM siswa") == [
        (50, 1, 50, "7A")
    ]


def test_a_table_of_100_columns_to_and_from_d1(
    tmp_path: Path, fresh_db: Callable[[str], DbTarget]
) -> None:
    """D1 allows 100 columns a table (and a result). The staging table had one more, its line
    column ("too many columns on malnu_stage_…"), and reading one selected the rowid besides
    its INTEGER PRIMARY KEY ("too many columns in result set"): neither ever worked."""
    d1 = fresh_db("d1")
    cols = ", ".join(f"c{i} TEXT" for i in range(1, 100))
    ddl = f"CREATE TABLE wide (id INTEGER PRIMARY KEY, {cols})"
    path = tmp_path / "legacy.db"
    values = ", ".join(f"'v{i} ü'" for i in range(1, 100))
    _sqlite(path, f"{ddl}; INSERT INTO wide VALUES (1, {values}), (2, {values})")
    ImportTarget("d1", d1.url, tmp_path).execute(ddl)
    assert _import(tmp_path, d1.url, f"sqlite:///{path}:wide", "wide")["inserted"] == 2
    back = tmp_path / "back.db"
    _sqlite(back, ddl)
    assert _import(tmp_path, f"sqlite:///{back}", f"{d1.url}:wide", "wide")["inserted"] == 2
    assert sqlite_file_rows(back, "SELECT * FROM wide") == sqlite_file_rows(
        path, "SELECT * FROM wide"
    )


def test_a_d1_table_of_photos_is_read_within_d1_s_result_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_db: Callable[[str], DbTarget]
) -> None:
    """D1 answers at most 50 MB a query, and a BLOB crosses its JSON as hex, twice its size:
    a first page of 50 rows of 600 KB photos was refused (SQLITE_TOOBIG), and the import with
    it. Shown at a tenth of the scale: a 5 MB limit, 60 KB photos."""
    d1 = fresh_db("d1")
    assert d1.d1 is not None
    monkeypatch.setattr(d1.d1.server, "max_result_bytes", 5_000_000)
    ddl = "CREATE TABLE photos (id INTEGER PRIMARY KEY, img BLOB)"
    ImportTarget("d1", d1.url, tmp_path).execute(ddl)
    _sqlite(  # written to the stand-in's file: D1 takes no statement over 100 KB
        d1.d1.db.path,
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 60) "
        "INSERT INTO photos SELECT i, randomblob(60000) FROM n",
    )
    path = tmp_path / "school.db"
    _sqlite(path, ddl)
    assert _import(tmp_path, f"sqlite:///{path}", f"{d1.url}:photos", "photos")["inserted"] == 60
    assert sqlite_file_rows(path, "SELECT count(*), sum(length(img)) FROM photos") == [
        (60, 3_600_000)
    ]


def test_latin1_text_in_a_legacy_sqlite_file_is_a_rejected_row(tmp_path: Path) -> None:
    """A legacy PHP application stored cp1252 bytes as TEXT ('Jos\\xe9'): sqlite3 could not
    decode the page, and the import ended in a traceback. Now that row is rejected, naming the
    column and what the bytes say; --max-errors lets the rest in."""
    path = tmp_path / "legacy.db"
    _sqlite(
        path,
        "CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO people VALUES "
        "(1, 'Budi'), (2, CAST(x'4a6f73e9' AS TEXT)), (3, 'Siti')",
    )
    target = tmp_path / "school.db"
    _sqlite(target, "CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT)")
    report = _import(
        tmp_path, f"sqlite:///{target}", f"sqlite:///{path}:people", "people", "--max-errors", "1"
    )
    assert (report["inserted"], report["rejected"]) == (2, 1)
    assert rejects_of(report["rejects_file"]) == [
        {
            "line": "3",
            "column": "",
            "reason": "name: not UTF-8 text (bytes 4a6f73e9; as cp1252: 'José'): fix it in the "
            "source",
            "raw": "2,Jos\ufffd",
        }
    ]
    assert sqlite_file_rows(target, "SELECT name FROM people ORDER BY id") == [("Budi",), ("Siti",)]


def test_a_legacy_column_named_rowid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A column named "rowid" hides SQLite's rowid: the table was paged by that column's own
    values (repeated, NULL), skipping rows, and the count check failed."""
    monkeypatch.setattr("malnu_tui.engine.data.tablesource.FIRST_PAGE_ROWS", 3)
    monkeypatch.setattr("malnu_tui.engine.data.tablesource.PAGE_ROWS", 3)
    path, target = tmp_path / "legacy.db", tmp_path / "school.db"
    ddl = "CREATE TABLE t (rowid TEXT, name TEXT)"
    _sqlite(path, f"{ddl}; INSERT INTO t VALUES ('x', 'a'), ('x', 'b'), (NULL, 'c'), "
            "('x', 'd'), ('y', 'e'), ('a', 'f'), (NULL, 'g'), ('x', 'h')")  # fmt: skip
    _sqlite(target, ddl)
    assert _import(tmp_path, f"sqlite:///{target}", f"sqlite:///{path}:t", "t")["inserted"] == 8
    assert sqlite_file_rows(target, "SELECT group_concat(name, '') FROM t") == [("abcdefgh",)]


def test_a_partitioned_postgresql_table_without_a_key(
    tmp_path: Path, fresh_db: Callable[[str], DbTarget]
) -> None:
    """Each partition has its own ctids (0,1), (0,2)…: pages by ctid lost the rows equal to
    a page's last one in the other partitions ("count check failed: read 2997 row(s) of the
    source table's 3000", nothing imported). Read through one cursor now."""
    src = fresh_db("postgresql")
    pg_run(
        src.url,
        "CREATE TABLE nilai (tahun integer, nis integer, skor integer) PARTITION BY LIST (tahun)",
        *(f"CREATE TABLE nilai_{y} PARTITION OF nilai FOR VALUES IN ({y})" for y in (23, 24, 25)),
        "INSERT INTO nilai SELECT 23 + g % 3, g, g FROM generate_series(1, 300) g",
    )
    path = tmp_path / "school.db"
    _sqlite(path, "CREATE TABLE nilai (tahun INTEGER, nis INTEGER PRIMARY KEY, skor INTEGER)")
    assert _import(tmp_path, f"sqlite:///{path}", f"{src.url}:nilai", "nilai")["inserted"] == 300


def test_a_source_that_fails_as_it_is_read_is_one_line(tmp_path: Path) -> None:
    """A legacy SQLite view that fails as it runs (json_extract over text that is no JSON)
    ended the import in a traceback."""
    path, target = tmp_path / "legacy.db", tmp_path / "school.db"
    _sqlite(
        path,
        "CREATE TABLE raw (id INTEGER PRIMARY KEY, data TEXT); INSERT INTO raw VALUES "
        "(1, '{\"nama\": \"Budi\"}'), (2, 'Siti'); CREATE VIEW v AS SELECT id, "
        "json_extract(data, '$.nama') AS name FROM raw",
    )
    _sqlite(target, "CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT)")
    res = run_inproc(
        "--database", f"sqlite:///{target}", "import", "--from", f"sqlite:///{path}:v",
        "--table", "people", "--yes", "--no-backup", "--rejects", str(tmp_path / "r.csv"),
    )  # fmt: skip
    assert res.code == 1 and res.err.endswith(f"error: view v of sqlite://{path}: malformed JSON\n")
    assert "Traceback" not in res.err


def test_a_table_the_role_may_not_read(tmp_path: Path, fresh_db: Callable[[str], DbTarget]) -> None:
    """A read-only legacy role without SELECT on the table was told "no table 'siswa'" with an
    empty list of tables (information_schema hides what a role may not read); on a view, a
    traceback (InsufficientPrivilege)."""
    src = fresh_db("postgresql")
    role = f"legacy_ro_{uuid.uuid4().hex[:8]}"
    pg_run(
        src.url,
        "CREATE TABLE siswa (nis integer PRIMARY KEY, nama text)",
        "CREATE VIEW v_siswa AS SELECT nis AS id, nama AS name FROM siswa",
        f"CREATE ROLE {role} LOGIN",
    )
    target = tmp_path / "school.db"
    _sqlite(target, "CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT)")
    url = src.url.replace("://postgres@", f"://{role}@")
    try:
        for name, code in (("siswa", 2), ("v_siswa", 1)):
            res = run_inproc(
                "--database", f"sqlite:///{target}", "import", "--from", f"{url}:{name}",
                "--table", "people", "--yes", "--rejects", str(tmp_path / "r.csv"),
            )  # fmt: skip
            assert res.code == code and "permission denied" in res.err, res.err
            assert "Traceback" not in res.err
    finally:
        pg_run(src.url, f"DROP ROLE {role}")


def test_a_wal_sqlite_source_written_during_the_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A legacy file in WAL mode with no connection open (no -wal: a PHP app between requests)
    was opened "immutable", read without a lock: the application writing meanwhile, the pages
    a checkpoint or a VACUUM rewrote were read torn ("database disk image is malformed", or
    wrong rows). The source now locks as its application does."""
    path, target = tmp_path / "legacy.db", tmp_path / "school.db"
    _sqlite(
        path,
        "PRAGMA journal_mode = WAL; CREATE TABLE t (id INTEGER PRIMARY KEY, essay TEXT); "
        "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 3000) "
        "INSERT INTO t SELECT i, printf('%.800c', 'a') FROM s",
    )
    assert not Path(f"{path}-wal").exists()
    _sqlite(target, "CREATE TABLE t (id INTEGER PRIMARY KEY, essay TEXT)")
    pages = TableSource._pages

    def written_meanwhile(self: TableSource) -> Any:
        for i, page in enumerate(pages(self)):
            if i == 1:  # the application: rewrites every row, then the file
                _sqlite(path, "UPDATE t SET essay = printf('%.900c', 'b'); VACUUM")
            yield page

    monkeypatch.setattr(TableSource, "_pages", written_meanwhile)
    report = _import(tmp_path, f"sqlite:///{target}", f"sqlite:///{path}:t", "t")
    assert report["inserted"] == 3000
    rows = sqlite_file_rows(target, "SELECT count(*), count(DISTINCT essay) FROM t")
    assert rows[0][0] == 3000 and rows[0][1] <= 2  # each row as it was before or after


def test_a_source_that_is_no_sqlite_database(tmp_path: Path) -> None:
    """--from naming a MySQL dump (.sql) instead of a SQLite file: the error named the TARGET
    as damaged and told the operator to restore a backup over it."""
    dump, target = tmp_path / "legacy.sql", tmp_path / "school.db"
    dump.write_text("CREATE TABLE users (id int(11) NOT NULL);\nINSERT INTO users VALUES (1);\n")
    _sqlite(target, "CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT)")
    res = run_inproc(
        "--database", f"sqlite:///{target}", "import", "--from", f"sqlite:///{dump}:users",
        "--table", "people", "--yes",
    )  # fmt: skip
    assert res.code == 2, res.err
    assert res.err.startswith(f"error: --from sqlite://{dump}: file is not a database")
    assert "restore" not in res.err and str(target) not in res.err


def test_a_locked_sqlite_source_is_said_as_only_read(tmp_path: Path) -> None:
    """A legacy file an application holds locked (a write being committed, a shell's BEGIN
    EXCLUSIVE) was a traceback at the source's first query ("database is locked"); before
    that, the busy error said "switching it to WAL mode needs the file to itself", of a file
    that is only read."""
    from malnu_tui.engine.backends.sqlite import SQLiteBackend
    from malnu_tui.engine.errors import DatabaseBusy

    legacy = tmp_path / "legacy.db"
    _sqlite(legacy, "CREATE TABLE users (id INTEGER PRIMARY KEY); INSERT INTO users VALUES (1);")
    app = sqlite3.connect(legacy, isolation_level=None)
    try:
        app.execute("BEGIN EXCLUSIVE")
        app.execute("INSERT INTO users VALUES (2)")
        with pytest.raises(DatabaseBusy) as caught:
            SQLiteBackend(legacy, busy_timeout=0.05, live=True)
    finally:
        app.close()
    said = str(caught.value)
    assert "as it was opened to be read (it is only read)" in said and "WAL" not in said, said
    assert caught.value.exit_code == 3


def test_a_row_over_a_d1_statement_is_imported_from_a_table(
    tmp_path: Path, fresh_db: Callable[[str], DbTarget]
) -> None:
    """``import --from`` into D1 writes through the CSV import's D1 writer: a photo kept as a
    data: URL (600 KB) in a legacy table was a rejected row ("too large for D1"), though D1
    keeps a row up to 2 MB; it is written alone with its text bound, as the sync writes it."""
    d1 = fresh_db("d1")
    path = tmp_path / "legacy.db"
    photo = "data:image/png;base64," + "QUJD" * 150_000
    _sqlite(path, "CREATE TABLE foto (id INTEGER PRIMARY KEY, url TEXT, n INTEGER)")
    conn = sqlite3.connect(str(path))
    with conn:
        conn.executemany(
            "INSERT INTO foto VALUES (?, ?, ?)", [(1, "kecil", 2**53 + 1), (2, photo, 7)]
        )
    conn.close()
    target = ImportTarget("d1", d1.url, tmp_path)
    target.execute("CREATE TABLE foto (id INTEGER PRIMARY KEY, url TEXT, n INTEGER)")
    report = _import(tmp_path, d1.url, f"sqlite:///{path}:foto", "foto")
    assert (report["inserted"], report["rejected"]) == (2, 0), report
    got = target.rows("SELECT id, length(url), substr(url, 1, 22) FROM foto ORDER BY id")
    assert got == [(1, 5, "kecil"), (2, len(photo), "data:image/png;base64,")]


def test_a_blob_over_a_d1_statement_is_imported_from_a_table(
    tmp_path: Path, fresh_db: Callable[[str], DbTarget]
) -> None:
    """A BLOB goes to D1 as ``X'…'`` inside the statement (D1's JSON parameters carry no
    bytes): a scanned report card of 600 KB was a rejected row ("more than D1's 100,000 a
    statement"), though D1 keeps a value up to 2 MB. It is built piece by piece in the row's
    own batch, as the sync writes it: the same bytes, NULs and 0xFF included, as a BLOB."""
    d1 = fresh_db("d1")
    path = tmp_path / "legacy.db"
    scan = (bytes(range(256)) + b"\x00\xff\xfe\xc3(") * 2_300  # 600,300 bytes
    ddl = "CREATE TABLE rapor (id INTEGER PRIMARY KEY, scan BLOB, nama TEXT)"
    _sqlite(path, ddl)
    conn = sqlite3.connect(str(path))
    with conn:
        conn.executemany(
            "INSERT INTO rapor VALUES (?, ?, ?)", [(1, b"\x00", "kecil"), (2, scan, "besar")]
        )
    conn.close()
    target = ImportTarget("d1", d1.url, tmp_path)
    target.execute(ddl)
    report = _import(tmp_path, d1.url, f"sqlite:///{path}:rapor", "rapor")
    assert (report["inserted"], report["rejected"]) == (2, 0), report
    got = target.rows("SELECT id, typeof(scan), hex(scan), nama FROM rapor ORDER BY id")
    assert got == [(1, "blob", "00", "kecil"), (2, "blob", scan.hex().upper(), "besar")]
    assert target.rows("SELECT name FROM sqlite_master WHERE name LIKE '%blob%'") == []


def test_a_text_holding_nul_over_a_d1_statement_is_imported_from_a_table(
    tmp_path: Path, fresh_db: Callable[[str], DbTarget]
) -> None:
    """A text holding NUL goes to D1 as ``CAST(X'…' AS TEXT)`` (D1's JSON parameters carry no
    NUL): a legacy note of 240 KB with NULs in it was a rejected row ("more than D1's 100,000
    a statement"). It is built piece by piece in the row's own batch, as a large BLOB is, and
    cast back: a TEXT of exactly the same characters, NULs included."""
    d1 = fresh_db("d1")
    path = tmp_path / "legacy.db"
    note = "Nilai\x00rapor 'é' ✓ \U0001f600\x00\x00" * 9_000  # 243,000 bytes of UTF-8
    ddl = "CREATE TABLE catatan (id INTEGER PRIMARY KEY, isi TEXT, n INTEGER)"
    _sqlite(path, ddl)
    conn = sqlite3.connect(str(path))
    with conn:
        conn.executemany(
            "INSERT INTO catatan VALUES (?, ?, ?)", [(1, "a\x00b", 2**53 + 1), (2, note, 7)]
        )
    conn.close()
    target = ImportTarget("d1", d1.url, tmp_path)
    target.execute(ddl)
    report = _import(tmp_path, d1.url, f"sqlite:///{path}:catatan", "catatan")
    assert (report["inserted"], report["rejected"]) == (2, 0), report
    got = target.rows("SELECT id, typeof(isi), hex(isi), CAST(n AS TEXT) FROM catatan ORDER BY id")
    assert got == [
        (1, "text", b"a\x00b".hex().upper(), str(2**53 + 1)),
        (2, "text", note.encode().hex().upper(), "7"),
    ]
    assert target.rows("SELECT name FROM sqlite_master WHERE name LIKE '%blob%'") == []
