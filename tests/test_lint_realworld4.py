"""The lint's gaps found in session 9: a WHERE that holds for every row, and rules compared with
squawk's and with what breaks a running app on SQLite/D1. Each shown on a real PostgreSQL
cluster or SQLite file, with a clean counter-example beside it."""

from __future__ import annotations

import psycopg

from tests.fixtures_core import MigrationDirs, run_cli
from tests.test_lint_realworld2 import _found, _pg_base

# (statement, what it deletes of users' 2 rows, the lint's finding at its line or None)
ALWAYS_TRUE = [
    ("DELETE FROM users WHERE true", 2, "DELETE-ALL-ROWS"),
    ("DELETE FROM users WHERE 1=1 RETURNING id", 2, "DELETE-ALL-ROWS"),
    ("DELETE FROM users WHERE (id > 1 OR 'a' = 'a')", 2, "DELETE-ALL-ROWS"),
    ("UPDATE users SET name = 'x' WHERE id IS NOT NULL OR true", 2, "UPDATE-ALL-ROWS"),
    ("UPDATE users SET name = 'x' WHERE TRUE AND 1 = 1", 2, "UPDATE-ALL-ROWS"),
    ("DELETE FROM users WHERE id = 1 AND true", 1, None),  # bounded by id = 1
    ("DELETE FROM users WHERE id > 1 OR false", 1, None),
    ("DELETE FROM users WHERE 'true' = name", 0, None),  # a column, not a constant
    ("UPDATE users SET name = 'x' WHERE false", 0, None),
]


def test_a_where_that_holds_for_every_row_bounds_nothing(pg_url: str, mdirs: MigrationDirs) -> None:
    # `WHERE true`, a query builder's `WHERE 1=1`, `… OR true`: every row is deleted or
    # rewritten, as without a WHERE, and the lint passed them clean. A condition that names a
    # column, or is false, still bounds the statement.
    base = _pg_base(mdirs, pg_url)
    with psycopg.connect(pg_url) as conn:  # what each one really touches
        for sql, rows, _ in ALWAYS_TRUE:
            assert conn.execute(sql).rowcount == rows, sql
            conn.rollback()
    purge = ";\n".join(sql for sql, _, _ in ALWAYS_TRUE) + ";"
    mdirs.add("20250101_000200", "purge", purge, "SELECT 1;")
    expected = [
        (rule, "error" if rule == "DELETE-ALL-ROWS" else "info", line)
        for line, (_, _, rule) in enumerate(ALWAYS_TRUE, 1)
        if rule is not None
    ]
    assert _found(base) == expected
    res = run_cli(*base, "lint")
    assert "DELETE whose WHERE (true) holds for every row empties users" in res.out, res.out
    assert run_cli(*base, "up", "--no-backup").code == 0
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM users").fetchone() == (0,)


def test_where_1_in_sqlite_deletes_every_row(mdirs: MigrationDirs, sqlite_url: str) -> None:
    # SQLite reads any non-zero number as true: phpMyAdmin's and some ORMs' `WHERE 1`.
    mdirs.add("20250101_000100", "base", "CREATE TABLE users (id INTEGER PRIMARY KEY);\n"
              "INSERT INTO users VALUES (1), (2);", "DROP TABLE users;")  # fmt: skip
    base = ["--database", sqlite_url, *mdirs.args()]
    assert run_cli(*base, "up", "--no-backup").code == 0
    purge = (
        "DELETE FROM users WHERE 1;\nDELETE FROM users WHERE 0;\nDELETE FROM users WHERE id = 1;"
    )
    mdirs.add("20250101_000200", "purge", purge, "SELECT 1;")
    assert _found(base) == [("DELETE-ALL-ROWS", "error", 1)]
