"""``import --from`` a legacy table: each number arrives as the number PostgreSQL holds,
written as PostgreSQL writes it (a numeric's digits, a float's Infinity and NaN), and a row the
target refused is never given another row's text in the rejects file."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures_core import CliResult
from tests.fixtures_matrix import DbTarget
from tests.import_support import pg_run, rejects_of, sqlite_file_rows
from tests.inproc import run_inproc

DDL = (
    "CREATE TABLE nilai (id integer PRIMARY KEY, spp numeric(20,10), skor double precision, "
    "bobot real, rasio numeric)"
)
ROWS = (
    "INSERT INTO nilai VALUES (1, 0.0000000100, 'Infinity', 'NaN', 'NaN'), "
    "(2, 150000.5, '-Infinity', 0.1, 'Infinity'), (3, 'NaN', 123456789, '-Infinity', 1e-7)"
)


def _import(tmp: Path, target_url: str, source: str) -> tuple[int, dict[str, Any], str]:
    res = run_inproc(
        "--database", target_url, "import", "--from", source, "--table", "nilai", "--yes",
        "--json", "--no-backup", "--max-errors", "3", "--rejects", str(tmp / "rejects.csv"),
    )  # fmt: skip
    return res.code, json.loads(res.out) if res.out else {}, res.err


def test_postgresql_infinity_and_nan_reach_columns_that_hold_them(
    tmp_path: Path, fresh_db: Callable[[str], DbTarget]
) -> None:
    """A double precision Infinity or a real NaN of a legacy table was a rejected row, "'inf'
    is not a finite number", into the same PostgreSQL column that holds it (and a numeric
    0.0000000100 was read as Python's Decimal, '1.00E-8')."""
    src, dst = fresh_db("postgresql"), fresh_db("postgresql")
    pg_run(src.url, DDL, ROWS)
    pg_run(dst.url, DDL)
    code, report, err = _import(tmp_path, dst.url, f"{src.url}:nilai")
    assert code == 0 and (report["inserted"], report["rejected"]) == (3, 0), err
    every = "SELECT t::text FROM nilai t ORDER BY id"
    assert pg_run(dst.url, every) == pg_run(src.url, every)


def test_a_postgresql_numeric_keeps_its_digits_in_a_text_column(
    tmp_path: Path, fresh_db: Callable[[str], DbTarget]
) -> None:
    """0.0000000100 of a numeric(20,10) was stored in a SQLite TEXT column as '1.00E-8' (the
    text of Python's Decimal, not PostgreSQL's), a double precision 123456789 as '123456789.0'
    and its Infinity as 'inf'."""
    src = fresh_db("postgresql")
    pg_run(src.url, DDL, ROWS)
    path = tmp_path / "school.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE nilai (id INTEGER PRIMARY KEY, spp TEXT, skor TEXT, bobot TEXT, "
                 "rasio TEXT)")  # fmt: skip
    conn.close()
    code, report, err = _import(tmp_path, f"sqlite:///{path}", f"{src.url}:nilai")
    assert code == 0 and report["inserted"] == 3, err
    assert sqlite_file_rows(path, "SELECT * FROM nilai ORDER BY id") == [
        (1, "0.0000000100", "Infinity", "NaN", "NaN"),
        (2, "150000.5000000000", "-Infinity", "0.1", "Infinity"),
        (3, "NaN", "123456789", "-Infinity", "0.0000001"),
    ]


def test_a_refused_row_s_text_is_never_another_row_s(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_db: Callable[[str], DbTarget]
) -> None:
    """A row the target refused (a CHECK) has its raw text looked up in the source again, by
    its place: the legacy application deleted a row meanwhile, and the rejects file gave the
    next student's row (id 4) for the refused one (id 3). Now a row whose text is not the one
    first read is said so, its text left out; the rows before the change keep theirs."""
    res = _import_while_the_app_deletes(
        tmp_path, monkeypatch, fresh_db("postgresql").url,
        "CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER); WITH RECURSIVE s(i) AS (SELECT 1 "
        "UNION ALL SELECT i + 1 FROM s WHERE i < 3000) INSERT INTO t SELECT i, i FROM s",
        "CREATE TABLE t (id integer PRIMARY KEY, n integer CHECK (n NOT IN (3, 2900)))",
        deleted=2000,
    )  # fmt: skip
    assert res.code == 0, res.err
    first, late = rejects_of(str(tmp_path / "r.csv"))
    assert (first["line"], first["raw"]) == ("4", "3,3")  # before the change: its own text
    assert late["line"] == "2901" and late["raw"] == "", late  # was "2901,2901"
    assert "the source table changed after it was read" in late["reason"]


def test_raws_read_again_are_kept_only_where_their_block_reads_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Blocks of 3 rows: a row changed in the second block leaves out the texts of that block
    (lines 5-7), not those of the first; the last, shorter block is checked too."""
    from malnu_tui.engine.data import records as rec_module
    from malnu_tui.engine.data.records import RawDigests, SourceRecord, raws_again

    monkeypatch.setattr(rec_module, "RAW_BLOCK", 3)

    def reading(texts: list[str]) -> list[SourceRecord]:
        return [SourceRecord(i + 2, (t,), t) for i, t in enumerate(texts)]

    first_texts = ["a", "b", "c", "d", "e", "f", "g"]
    first = RawDigests()
    for r in reading(first_texts):
        first.add(r.raw)
    first.close()
    same = raws_again(iter(reading(first_texts)), {3, 6, 8}, first)
    assert same == {3: "b", 6: "e", 8: "g"}
    changed = ["a", "b", "c", "d", "E", "f", "g"]
    assert raws_again(iter(reading(changed)), {3, 6, 8}, first) == {3: "b", 8: "g"}
    shorter = ["a", "b", "c", "d", "e", "f"]
    assert raws_again(iter(reading(shorter)), {3, 7}, first) == {3: "b", 7: "f"}
    assert raws_again(iter(reading(shorter)), {8}, first) == {}
    # Rows added since (a live table): the first reading's shorter last block is compared
    # with as many rows (it was left out, "the source table changed").
    assert raws_again(iter(reading([*first_texts, "h", "i"])), {8}, first) == {8: "g"}


def test_a_stopped_import_s_refused_rows_never_take_another_row_s_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_db: Callable[[str], DbTarget]
) -> None:
    """An import stopped by --max-errors (its reading ended early) had no digest of what it
    read, so every refused row's text was taken from the second reading unchecked: the legacy
    application deleted a row meanwhile, and the rejects file gave the next row's text."""
    from malnu_tui.engine.data import run as run_module

    monkeypatch.setattr(run_module, "CHUNK_ROWS", 100)  # (5,000: the same on 6,000 rows)
    res = _import_while_the_app_deletes(
        tmp_path, monkeypatch, fresh_db("postgresql").url,
        "CREATE TABLE t (id INTEGER PRIMARY KEY, n TEXT); WITH RECURSIVE s(i) AS (SELECT 1 "
        "UNION ALL SELECT i + 1 FROM s WHERE i < 600) INSERT INTO t SELECT i, i FROM s; "
        "UPDATE t SET n = 'x' WHERE id IN (400, 401, 402)",
        "CREATE TABLE t (id integer PRIMARY KEY, n integer CHECK (n <> 290))",
        deleted=200,
    )  # fmt: skip
    assert res.code != 0, res.err
    refused = [r for r in rejects_of(str(tmp_path / "r.csv")) if r["line"] == "291"]
    assert refused, rejects_of(str(tmp_path / "r.csv"))
    assert refused[0]["raw"] == "", refused  # was "291,291", another row's
    assert "the source table changed after it was read" in refused[0]["reason"]


def test_a_legacy_text_nan_is_no_number_of_the_source(
    tmp_path: Path, fresh_db: Callable[[str], DbTarget]
) -> None:
    """A SQLite column's text 'nan' (pandas wrote its missing values so) is no float of the
    source (SQLite holds no NaN): it reached a PostgreSQL double precision as NaN, through a
    CHECK (skor >= 0) (NaN is above every number there) and into every average. Rejected by
    row again, as a CSV file's; a SQLite REAL's Infinity is still taken."""
    dst = fresh_db("postgresql")
    path = tmp_path / "legacy.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, skor)")
        conn.executemany("INSERT INTO t VALUES (?, ?)", [(1, "nan"), (2, 12.5), (3, 9e999)])
    conn.close()
    pg_run(dst.url, "CREATE TABLE t (id integer PRIMARY KEY, skor float8 CHECK (skor >= 0))")
    res = run_inproc(
        "--database", dst.url, "import", "--from", f"sqlite:///{path}:t", "--table", "t",
        "--yes", "--no-backup", "--max-errors", "1", "--rejects", str(tmp_path / "r.csv"),
    )  # fmt: skip
    assert res.code == 0, res.err
    kept = pg_run(dst.url, "SELECT id, skor::text FROM t ORDER BY id")
    assert kept == [(2, "12.5"), (3, "Infinity")], kept
    (refused,) = rejects_of(str(tmp_path / "r.csv"))
    assert refused["line"] == "2" and "not a finite number" in refused["reason"], refused


def _import_while_the_app_deletes(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    dest_url: str,
    source_sql: str,
    dest_sql: str,
    *,
    deleted: int,
) -> CliResult:
    """`import --from` a legacy SQLite table `t` (made by ``source_sql``) into PostgreSQL's
    `t` (``dest_sql``), the legacy application deleting the row ``deleted`` between the
    import's reading and its second reading of the refused rows' texts."""
    from malnu_tui.engine.data import run as run_module

    path = tmp_path / "legacy.db"
    conn = sqlite3.connect(path)
    conn.executescript(source_sql)
    conn.close()
    pg_run(dest_url, dest_sql)
    looked_up = run_module._with_raw

    def app_deletes_a_row_meanwhile(rejections: Any, source: Any) -> Any:
        with sqlite3.connect(path) as c:
            c.execute("DELETE FROM t WHERE id = ?", (deleted,))
        return looked_up(rejections, source)

    monkeypatch.setattr(run_module, "_with_raw", app_deletes_a_row_meanwhile)
    return run_inproc(
        "--database", dest_url, "import", "--from", f"sqlite:///{path}:t", "--table", "t",
        "--yes", "--no-backup", "--max-errors", "2", "--rejects", str(tmp_path / "r.csv"),
    )  # fmt: skip
