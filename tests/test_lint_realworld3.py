"""The lint's gaps found after the transaction rules landed: a WHERE that bounds nothing, data
changes inside a CTE, and PostgreSQL statements that lock or fail inside the migration's
transaction. Each rule on real statements, with what PostgreSQL really does, and a clean
counter-example beside it."""

from __future__ import annotations

import json
import sqlite3

import psycopg
import pytest

from tests.fixtures_core import MigrationDirs, run_cli
from tests.test_lint_realworld2 import PG_BASE, _found, _pg_base, _waits
from tests.test_safety_realworld import _lint


def _count(pg_url: str, table: str) -> int:
    with psycopg.connect(pg_url) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
        assert row is not None
        return int(row[0])


def test_a_delete_whose_only_where_is_in_a_subquery_empties_the_table(
    pg_url: str, mdirs: MigrationDirs
) -> None:
    # DELETE-ALL-ROWS looked for WHERE anywhere in the statement: one inside RETURNING's
    # subquery, or a column quoted "where", bounds nothing, and the table was emptied while
    # the lint passed clean. Only the DELETE's own WHERE counts now, as for UPDATE-ALL-ROWS.
    base = _pg_base(mdirs, pg_url)
    purge = [
        "DELETE FROM users u USING orders o WHERE o.user_id = u.id",  # bounded
        "DELETE FROM users WHERE id IN (SELECT user_id FROM orders WHERE id > 5)",  # bounded
        "DELETE FROM orders RETURNING (SELECT name FROM users WHERE users.id = orders.user_id)",
        'DELETE FROM users RETURNING id AS "where"',
    ]
    mdirs.add("20250101_000200", "purge", ";\n".join(purge) + ";", "SELECT 1;")
    assert _found(base) == [("DELETE-ALL-ROWS", "error", 3), ("DELETE-ALL-ROWS", "error", 4)]
    with psycopg.connect(pg_url) as conn:  # what each one deletes: the last two, every row
        assert [conn.execute(sql).rowcount for sql in purge] == [1, 0, 1, 1]
        conn.rollback()
    assert run_cli(*base, "up", "--no-backup").code == 0
    assert _count(pg_url, "orders") == _count(pg_url, "users") == 0


CTE_CHANGES = """
WITH moved AS (
    UPDATE users SET name = upper(name) RETURNING id
)
INSERT INTO orders SELECT id + 100, id FROM moved;
WITH gone AS (DELETE FROM orders RETURNING user_id)
UPDATE users SET name = 'x' WHERE id IN (SELECT user_id FROM gone);
WITH stale AS (SELECT id FROM users WHERE name IS NULL)
DELETE FROM users WHERE id IN (SELECT id FROM stale);
WITH one AS (UPDATE users SET name = 'y' WHERE id = 1 RETURNING id) SELECT * FROM one;
"""


def test_an_update_or_delete_inside_a_cte_is_seen(pg_url: str, mdirs: MigrationDirs) -> None:
    # A statement starting with WITH was never read: an UPDATE or DELETE of every row inside a
    # CTE (the "move rows" idiom) passed clean. Each CTE body and the main statement are now
    # linted like top-level statements, each at its own line; the bounded ones stay clean.
    base = _pg_base(mdirs, pg_url)
    mdirs.add("20250101_000200", "move", CTE_CHANGES, "SELECT 1;")
    assert _found(base) == [("UPDATE-ALL-ROWS", "info", 2), ("DELETE-ALL-ROWS", "error", 5)]
    # What it warns of: the CTE's UPDATE locks every row until the commit, and its DELETE
    # empties orders although the main statement reads only what it returned.
    cte_update = CTE_CHANGES.split(";")[0]
    assert _waits(pg_url, [cte_update], "UPDATE users SET name = 'z' WHERE id = 2")
    assert run_cli(*base, "up", "--no-backup").code == 0
    assert _count(pg_url, "orders") == 0 and _count(pg_url, "users") == 2


def test_a_delete_after_a_cte_in_sqlite_is_seen(mdirs: MigrationDirs, sqlite_url: str) -> None:
    # SQLite allows WITH before its own DELETE: the WHERE inside the CTE bounds nothing.
    mdirs.add("20250101_000100", "base", "CREATE TABLE users (id INTEGER PRIMARY KEY);\n"
              "INSERT INTO users VALUES (1), (2);", "DROP TABLE users;")  # fmt: skip
    mdirs.add(
        "20250101_000200",
        "purge",
        "WITH old AS (SELECT id FROM users WHERE id > 1)\nDELETE FROM users;\n"
        "WITH old AS (SELECT id FROM users WHERE id > 5)\n"
        "DELETE FROM users WHERE id IN (SELECT id FROM old);",  # bounded
        "SELECT 1;",
    )
    base = ["--database", sqlite_url, *mdirs.args()]
    assert _found(base, "--all") == [("DELETE-ALL-ROWS", "error", 2)]
    assert run_cli(*base, "up", "--no-backup").code == 0
    with sqlite3.connect(sqlite_url.removeprefix("sqlite:///")) as conn:
        assert conn.execute("SELECT count(*) FROM users").fetchone() == (0,)


DO_EXECUTE = """
DO $$
BEGIN
    EXECUTE 'CREATE TABLE marks (id bigint)';
    EXECUTE format('ALTER TABLE users
                    DROP COLUMN name');
    EXECUTE format('UPDATE %I SET id = id', 'orders');
END $$;
"""


def test_a_constant_execute_in_a_do_block_is_linted(pg_url: str, mdirs: MigrationDirs) -> None:
    # Every EXECUTE was a "cannot read it" note, even of a constant string: an ALTER TABLE …
    # DROP COLUMN written as EXECUTE '…' (or format('…') with no %I/%L/%s) slipped through.
    # Its SQL is now linted like the block's other statements, at its own line; SQL built at
    # run time keeps the note, and a constant CREATE TABLE the rollback drops stays clean.
    base = _pg_base(mdirs, pg_url)
    mdirs.add("20250101_000200", "execute", DO_EXECUTE, "DROP TABLE marks;")
    assert _found(base) == [("DROP-COLUMN", "error", 4), ("PG-DO-NOT-READ", "info", 6)]
    assert run_cli(*base, "up", "--no-backup").code == 0
    with psycopg.connect(pg_url) as conn:  # what the lint said the block does
        columns = conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'users'"
        ).fetchall()
        assert columns == [("id",)]


VIEWS = (
    "CREATE MATERIALIZED VIEW user_names AS SELECT id, name FROM users;\n"
    "CREATE UNIQUE INDEX user_names_id ON user_names (id);\n"
    "CREATE MATERIALIZED VIEW order_counts AS SELECT user_id, count(*) AS n FROM orders "
    "GROUP BY user_id;"
)


def test_a_refresh_without_concurrently_is_named(pg_url: str, mdirs: MigrationDirs) -> None:
    # REFRESH MATERIALIZED VIEW takes ACCESS EXCLUSIVE on the view: the app's reports wait
    # for the whole refresh, and in a migration until the commit. It passed clean.
    base = _pg_base(mdirs, pg_url)
    undo = "DROP MATERIALIZED VIEW order_counts; DROP MATERIALIZED VIEW user_names;"
    mdirs.add("20250101_000150", "views", VIEWS, undo)
    assert run_cli(*base, "up", "--no-backup").code == 0
    mdirs.add(
        "20250101_000200",
        "refresh",
        "REFRESH MATERIALIZED VIEW user_names;\n"
        "REFRESH MATERIALIZED VIEW CONCURRENTLY user_names;\n"  # reads go on
        "CREATE MATERIALIZED VIEW fresh AS SELECT id FROM users;\n"
        "REFRESH MATERIALIZED VIEW fresh;",  # new: nobody reads it yet
        "DROP MATERIALIZED VIEW fresh;",
    )
    found = json.loads(run_cli(*base, "lint", "--json").out)["findings"]
    assert [(f["rule"], f["severity"], f["line"]) for f in found] == [
        ("PG-REFRESH-NOT-CONCURRENT", "warning", 1)
    ]
    assert "UNIQUE index" in found[0]["instead"] and "runs in" in found[0]["instead"]
    # What it warns of, and the advice: CONCURRENTLY lets reads through, and unlike CREATE
    # INDEX CONCURRENTLY it runs inside a transaction (`up` applies this very file in one) …
    assert _waits(pg_url, ["REFRESH MATERIALIZED VIEW user_names"], "SELECT * FROM user_names")
    concurrent = "REFRESH MATERIALIZED VIEW CONCURRENTLY user_names"
    assert not _waits(pg_url, [concurrent], "SELECT * FROM user_names")
    # … but needs a UNIQUE index on the view.
    with (
        psycopg.connect(pg_url) as conn,
        pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState),
    ):
        conn.execute("REFRESH MATERIALIZED VIEW CONCURRENTLY order_counts")
    assert run_cli(*base, "up", "--no-backup").code == 0


def test_cluster_in_a_migration_is_named(pg_url: str, mdirs: MigrationDirs) -> None:
    # CLUSTER rewrites the table under ACCESS EXCLUSIVE (reads wait too), and a bare CLUSTER
    # (every table clustered before) cannot run in a transaction at all. Both passed clean.
    base = _pg_base(mdirs, pg_url)
    mdirs.add(
        "20250101_000200",
        "cluster",
        "CLUSTER VERBOSE users USING users_pkey;\n"
        "CREATE TABLE scratch (id bigint PRIMARY KEY);\n"
        "CLUSTER scratch USING scratch_pkey;",  # new: nobody reads it yet
        "DROP TABLE scratch;",
    )
    assert _found(base) == [("PG-CLUSTER", "info", 1)]  # users holds 2 rows live: a note
    files = MigrationDirs(mdirs.root / "files")  # without the live sizes: a warning
    sql = (mdirs.migrations / "20250101_000200_cluster.sql").read_text()
    assert _lint(files, "postgresql", PG_BASE, sql, "DROP TABLE scratch;") == [
        ("PG-CLUSTER", "warning", 1)
    ]
    assert _waits(pg_url, ["CLUSTER users USING users_pkey"], "SELECT * FROM users")
    assert run_cli(*base, "up", "--no-backup").code == 0
    mdirs.add("20250101_000300", "recluster", "CLUSTER;", "SELECT 1;")
    assert _found(base) == [("PG-CLUSTER", "error", 1)]
    res = run_cli(*base, "up", "--no-backup")
    assert res.code == 1 and "cannot run inside a transaction block" in res.err, res.err


ENUM_BASE = (
    "CREATE TYPE mood AS ENUM ('sad', 'ok');\nCREATE TABLE p (id bigint, m mood, note text);"
)
ADD_HAPPY = "ALTER TYPE mood ADD VALUE IF NOT EXISTS 'happy' AFTER 'ok'"
# (statement after the ADD VALUE, whether it uses the new value): the lint and the server agree
UNDO_Q = "DROP TABLE IF EXISTS q; DROP FUNCTION IF EXISTS cheer();"
ENUM_USES = [
    ("INSERT INTO p (id, m) VALUES (1, 'ok'), (2, 'happy')", True),
    ("UPDATE p SET m = 'happy' WHERE id = 1", True),
    ("DELETE FROM p WHERE m IN ('sad', 'happy')", True),
    ("ALTER TABLE p ALTER COLUMN m SET DEFAULT 'happy'", True),
    ("CREATE TABLE q (m public.mood NOT NULL DEFAULT 'happy')", True),
    ("SELECT 'happy'::mood", True),
    # without a column list, in the table's column order (id, m, note); INSERT … SELECT too
    ("INSERT INTO p VALUES (3, 'happy', 'x')", True),
    ("INSERT INTO p SELECT id + 10, 'happy', note FROM p WHERE id = 1", True),
    ("INSERT INTO p (note, m) SELECT 'x', 'happy' AS m", True),
    ("INSERT INTO p VALUES (3, 'ok', 'happy')", False),
    # a function body: PostgreSQL parses an SQL one at CREATE, a PL/pgSQL one only when called
    ("CREATE FUNCTION cheer() RETURNS void LANGUAGE sql AS $$ UPDATE p SET m = 'happy' $$", True),
    (
        "CREATE FUNCTION cheer() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "NEW.m := 'happy'::mood; RETURN NEW; END $$",
        False,
    ),
    ("INSERT INTO p (id, note) VALUES (1, 'happy')", False),  # the same text, not the enum
    ("UPDATE p SET note = 'happy' WHERE m = 'ok'", False),
    ("COMMENT ON TYPE mood IS 'happy'", False),
]


def test_an_enum_value_used_in_the_migration_that_adds_it_is_an_error(
    pg_url: str, mdirs: MigrationDirs
) -> None:
    # PostgreSQL 12+ runs ALTER TYPE … ADD VALUE in a transaction but refuses the new value
    # until the commit: a migration that adds a status and backfills it fails at `up`. It
    # passed clean. A string that only spells the value is not a use, and stays clean.
    mdirs.add("20250101_000100", "base", ENUM_BASE, "DROP TABLE p; DROP TYPE mood;")
    base = ["--database", pg_url, *mdirs.args()]
    assert run_cli(*base, "up", "--no-backup").code == 0
    for sql, uses in ENUM_USES:
        mdirs.add("20250101_000200", "happy", f"{ADD_HAPPY};\n{sql};", UNDO_Q)
        expected = [("PG-NEW-ENUM-VALUE-USED", "error", 2)] if uses else []
        assert _found(base) == expected, sql
        with psycopg.connect(pg_url) as conn:
            conn.execute(ADD_HAPPY)
            try:
                conn.execute(sql)
            except psycopg.errors.UnsafeNewEnumValueUsage:
                assert uses, sql
            else:
                assert not uses, sql
            conn.rollback()
    res = run_cli(*base, "up", "--no-backup")  # the last, clean one
    assert res.code == 0, res.err
    # Used in a later migration, after the commit, the value is fine.
    mdirs.add("20250101_000300", "use_happy", "UPDATE p SET m = 'happy' WHERE id = 1;",
              "UPDATE p SET m = NULL WHERE m = 'happy';")  # fmt: skip
    assert _found(base) == []
    assert run_cli(*base, "up", "--no-backup").code == 0
