"""``import --from`` a PostgreSQL table's numbers: each arrives as the number PostgreSQL holds,
written as PostgreSQL writes it (a numeric's digits, a float's Infinity and NaN)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from tests.fixtures_matrix import DbTarget
from tests.import_support import sqlite_file_rows
from tests.inproc import run_inproc

DDL = (
    "CREATE TABLE nilai (id integer PRIMARY KEY, spp numeric(20,10), skor double precision, "
    "bobot real, rasio numeric)"
)
ROWS = (
    "INSERT INTO nilai VALUES (1, 0.0000000100, 'Infinity', 'NaN', 'NaN'), "
    "(2, 150000.5, '-Infinity', 0.1, 'Infinity'), (3, 'NaN', 123456789, '-Infinity', 1e-7)"
)


def _pg(url: str, *statements: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as c:
        rows: list[tuple[Any, ...]] = []
        for st in statements:
            cur = c.execute(st)
            rows = cur.fetchall() if cur.description else []
        return rows


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
    _pg(src.url, DDL, ROWS)
    _pg(dst.url, DDL)
    code, report, err = _import(tmp_path, dst.url, f"{src.url}:nilai")
    assert code == 0 and (report["inserted"], report["rejected"]) == (3, 0), err
    every = "SELECT t::text FROM nilai t ORDER BY id"
    assert _pg(dst.url, every) == _pg(src.url, every)


def test_a_postgresql_numeric_keeps_its_digits_in_a_text_column(
    tmp_path: Path, fresh_db: Callable[[str], DbTarget]
) -> None:
    """0.0000000100 of a numeric(20,10) was stored in a SQLite TEXT column as '1.00E-8' (the
    text of Python's Decimal, not PostgreSQL's), a double precision 123456789 as '123456789.0'
    and its Infinity as 'inf'."""
    src = fresh_db("postgresql")
    _pg(src.url, DDL, ROWS)
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
