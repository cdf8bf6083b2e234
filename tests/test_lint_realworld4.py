"""The lint's gaps found in session 9: a WHERE that holds for every row, and rules compared with
squawk's and with what breaks a running app on SQLite/D1. Each shown on a real PostgreSQL
cluster or SQLite file, with a clean counter-example beside it."""

from __future__ import annotations

import json

import psycopg
import pytest

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


CASCADE_BASE = (
    "CREATE TYPE mood AS ENUM ('ok', 'sad');\n"
    "CREATE DOMAIN email AS text CHECK (VALUE LIKE '%@%');\n"
    "CREATE TABLE users (id bigint PRIMARY KEY, m mood, e email, code text);\n"
    "CREATE TABLE grades (id bigint PRIMARY KEY, user_id bigint REFERENCES users (id));\n"
    "CREATE SCHEMA reporting;\nCREATE TABLE reporting.summary (n bigint);\n"
    "INSERT INTO users VALUES (1, 'ok', 'a@x', 'A'), (2, 'sad', 'b@x', 'B');\n"
    "INSERT INTO grades VALUES (1, 1);\nINSERT INTO reporting.summary VALUES (7);"
)
CASCADES = """SET lock_timeout = '5s';
DROP TYPE mood CASCADE;
DROP DOMAIN IF EXISTS email CASCADE;
DROP SCHEMA reporting CASCADE;
CREATE TABLE users_kept AS SELECT * FROM users;
TRUNCATE users CASCADE;
CREATE SCHEMA scratch;
DROP SCHEMA scratch CASCADE;
DROP TYPE IF EXISTS gone;
"""


def _columns(pg_url: str, table: str) -> list[str]:
    with psycopg.connect(pg_url) as conn:
        sql = "SELECT column_name FROM information_schema.columns WHERE table_name = %s"
        return sorted(str(r[0]) for r in conn.execute(sql + " ORDER BY 1", (table,)))


def test_a_drop_cascade_takes_tables_and_columns_along(pg_url: str, mdirs: MigrationDirs) -> None:
    # DROP TYPE/DOMAIN … CASCADE drops every column of the type, DROP SCHEMA … CASCADE every
    # table in it, with only a NOTICE; TRUNCATE … CASCADE empties the referencing tables too,
    # whose rows the copy of users does not keep. All passed clean (TRUNCATE was a warning).
    mdirs.add("20250101_000100", "base", CASCADE_BASE, "SELECT 1;")
    base = ["--database", pg_url, *mdirs.args()]
    assert run_cli(*base, "up", "--no-backup").code == 0
    mdirs.add("20250101_000200", "cleanup", CASCADES, "DROP TABLE users_kept;")
    assert _found(base) == [
        ("PG-DROP-CASCADE", "error", 2),
        ("PG-DROP-CASCADE", "error", 3),
        ("PG-DROP-CASCADE", "error", 4),
        ("DELETE-ALL-ROWS", "error", 6),
    ]
    why = [f["why"] for f in json.loads(run_cli(*base, "lint", "--json").out)["findings"]]
    assert "(in the migrations: users.m)" in why[0] and "every table referencing it" in why[3]
    # The clean counter-examples: a schema of this migration; without CASCADE PostgreSQL
    # refuses while anything depends on the object.
    with psycopg.connect(pg_url) as conn, pytest.raises(psycopg.errors.DependentObjectsStillExist):
        conn.execute("DROP SCHEMA reporting")
    assert run_cli(*base, "up", "--no-backup").code == 0
    assert _columns(pg_url, "users") == ["code", "id"]  # m and e are gone with their values
    assert _columns(pg_url, "summary") == []
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM grades").fetchone() == (0,)


def test_a_unique_constraint_attached_from_an_index_is_clean(
    pg_url: str, mdirs: MigrationDirs
) -> None:
    # ADD-UNIQUE's own advice (build the unique index CONCURRENTLY, then attach it) was flagged
    # ADD-UNIQUE at the attach, which checks nothing: the index is already unique.
    base = _pg_base(mdirs, pg_url)
    mdirs.add("20250101_000200", "index", "CREATE UNIQUE INDEX CONCURRENTLY users_name_idx "
              "ON users (name);", "DROP INDEX users_name_idx;")  # fmt: skip
    attach = (
        "SET lock_timeout = '5s';\n"
        "ALTER TABLE users ADD CONSTRAINT users_name_key UNIQUE USING INDEX users_name_idx;\n"
        "ALTER TABLE orders ADD CONSTRAINT orders_user_key UNIQUE (user_id);"
    )
    mdirs.add("20250101_000300", "attach", attach, "ALTER TABLE users DROP CONSTRAINT "
              "users_name_key; ALTER TABLE orders DROP CONSTRAINT orders_user_key;")  # fmt: skip
    assert _found(base, "20250101_000300") == [("ADD-UNIQUE", "warning", 3)]
    assert run_cli(*base, "up", "--no-backup").code == 0
    with psycopg.connect(pg_url) as conn:
        kinds = (
            "SELECT conname FROM pg_constraint WHERE contype = 'u' "
            "AND conrelid IN ('users'::regclass, 'orders'::regclass) ORDER BY 1"
        )
        assert [r[0] for r in conn.execute(kinds)] == ["orders_user_key", "users_name_key"]
