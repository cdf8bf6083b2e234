"""Migration and rollback files as real projects and other tools leave them, run through the real
CLI on real databases."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

import pytest

from tests.fixtures_core import MigrationDirs, run_cli
from tests.fixtures_matrix import DbTarget


def _sqlite(url: str) -> sqlite3.Connection:
    return sqlite3.connect(url.removeprefix("sqlite:///"))


def test_a_sqlite_rebuild_under_foreign_keys_off_keeps_the_child_rows(
    mdirs: MigrationDirs, sqlite_url: str
) -> None:
    """sqlite.org's table rebuild: ``PRAGMA foreign_keys=OFF`` is a no-op inside a transaction,
    so the drop's implicit DELETE fired ON DELETE CASCADE and wiped the children."""
    mdirs.add(
        "20260101_000000",
        "init",
        """
        CREATE TABLE parent (id INTEGER PRIMARY KEY, name TEXT);
        CREATE TABLE child (id INTEGER PRIMARY KEY,
                            parent_id INTEGER REFERENCES parent(id) ON DELETE CASCADE);
        INSERT INTO parent VALUES (1, 'a'), (2, 'b');
        INSERT INTO child VALUES (10, 1), (11, 2);
        """,
        "DROP TABLE child; DROP TABLE parent;",
    )
    mdirs.add(
        "20260102_000000",
        "rebuild_parent",
        """
        PRAGMA foreign_keys=OFF;
        CREATE TABLE new_parent (id INTEGER PRIMARY KEY, name TEXT DEFAULT '');
        INSERT INTO new_parent SELECT id, name FROM parent;
        DROP TABLE parent;
        ALTER TABLE new_parent RENAME TO parent;
        PRAGMA foreign_key_check;
        PRAGMA foreign_keys=ON;
        """,
        """
        PRAGMA foreign_keys=OFF;
        CREATE TABLE old_parent (id INTEGER PRIMARY KEY, name TEXT);
        INSERT INTO old_parent SELECT id, name FROM parent;
        DROP TABLE parent;
        ALTER TABLE old_parent RENAME TO parent;
        PRAGMA foreign_keys=ON;
        """,
    )
    r = run_cli("--database", sqlite_url, *mdirs.args(), "up", "--yes", "--no-backup")
    assert r.code == 0, r.err
    with _sqlite(sqlite_url) as conn:
        assert conn.execute("SELECT id, parent_id FROM child ORDER BY id").fetchall() == [
            (10, 1),
            (11, 2),
        ]
        assert conn.execute("PRAGMA foreign_keys").fetchone() == (0,)  # a new connection
    r = run_cli("--database", sqlite_url, *mdirs.args(), "rollback", "--yes", "--no-backup")
    assert r.code == 0, r.err
    with _sqlite(sqlite_url) as conn:
        assert conn.execute("SELECT count(*) FROM child").fetchone() == (2,)


def test_a_rebuild_under_foreign_keys_off_that_breaks_a_reference_is_rolled_back(
    mdirs: MigrationDirs, sqlite_url: str
) -> None:
    """With the checks off, a rebuild that loses a parent row is caught before the COMMIT
    (sqlite.org's procedure: ``PRAGMA foreign_key_check``), named, and leaves nothing."""
    mdirs.add(
        "20260101_000000",
        "init",
        """
        CREATE TABLE parent (id INTEGER PRIMARY KEY, name TEXT);
        CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent(id));
        INSERT INTO parent VALUES (1, 'a'), (2, 'b');
        INSERT INTO child VALUES (10, 1), (11, 2);
        """,
    )
    mdirs.add(
        "20260102_000000",
        "rebuild_parent",
        """
        PRAGMA foreign_keys = off;
        CREATE TABLE new_parent (id INTEGER PRIMARY KEY, name TEXT);
        INSERT INTO new_parent SELECT id, name FROM parent WHERE id = 1;
        DROP TABLE parent;
        ALTER TABLE new_parent RENAME TO parent;
        PRAGMA foreign_keys = on;
        """,
    )
    cli = ("--database", sqlite_url, *mdirs.args())
    assert run_cli(*cli, "up", "--to", "20260101_000000", "--yes", "--no-backup").code == 0
    assert run_cli(*cli, "backup", "create").code == 0
    r = run_cli(*cli, "rehearse")  # the scratch copy runs it as `up` does
    assert r.code == 1 and "parent is gone" in r.out + r.err, r.out + r.err
    r = run_cli(*cli, "up", "--yes", "--no-backup")
    assert r.code == 1, r.err
    assert "20260102_000000_rebuild_parent.sql failed at line 1" in r.err
    assert "child" in r.err and "parent" in r.err
    assert "Traceback" not in r.err
    with _sqlite(sqlite_url) as conn:
        assert conn.execute("SELECT count(*) FROM parent").fetchone() == (2,)
        new = conn.execute("SELECT name FROM sqlite_master WHERE name = 'new_parent'")
        assert new.fetchall() == []


@pytest.mark.parametrize(
    ("tool", "up_marker", "down_marker"),
    [
        ("dbmate", "-- migrate:up", "-- migrate:down"),
        ("goose", "-- +goose Up\n-- +goose StatementBegin", "-- +goose Down"),
        ("sql-migrate", "-- +migrate Up", "-- +migrate Down"),
    ],
)
def test_a_file_with_another_tools_down_section_is_refused_before_anything_runs(
    db_target: DbTarget, mdirs: MigrationDirs, tool: str, up_marker: str, down_marker: str
) -> None:
    """dbmate, goose and sql-migrate keep the undo in the same file (their names are Supabase's
    YYYYMMDDHHMMSS_name.sql): run whole, it applied and then undid itself, and said ok."""
    mdirs.add("20260101_000000", "fine", "CREATE TABLE fine (x INT);", "DROP TABLE fine;")
    (mdirs.migrations / "20260102000000_create_users.sql").write_text(
        f"{up_marker}\nCREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);\n"
        f"INSERT INTO users VALUES (1, 'a');\n\n{down_marker}\nDROP TABLE users;\n",
        encoding="utf-8",
    )
    line = 6 if tool == "goose" else 5
    r = db_target.cli(mdirs, "up", "--yes", "--no-backup")
    assert r.code == 2, r.err
    assert f"20260102000000_create_users.sql:{line}" in r.err and "down section" in r.err, r.err
    assert "Traceback" not in r.err
    backend = db_target.open(mdirs)
    try:
        assert backend.fetch_records() == []  # nothing ran, not even the fine one
        assert "fine" not in backend.table_names()
    finally:
        backend.close()


def test_a_postgresql_migrations_session_settings_do_not_leak_into_the_next_one(
    fresh_db: Callable[[str], DbTarget], mdirs: MigrationDirs
) -> None:
    """pg_dump's header (``set_config('search_path', '', false)``, ``SET lock_timeout = 0``)
    outlived its migration's COMMIT on the tool's one connection: the next migration of the
    run failed ("no schema has been selected to create in") or ran without lock_timeout."""
    db = fresh_db("postgresql")
    mdirs.add(
        "20260101_000000",
        "dump",
        r"""
        SET statement_timeout = 0;
        SET lock_timeout = 0;
        SELECT pg_catalog.set_config('search_path', '', false);
        SET TimeZone = 'Asia/Jakarta';
        CREATE TABLE public.a (id integer NOT NULL, note text);
        COPY public.a (id, note) FROM stdin;
        1	x
        \.
        """,
        "DROP TABLE public.a;",
    )
    mdirs.add(
        "20260102_000000",
        "next",
        """
        CREATE TABLE b (x int);
        DO $$
        BEGIN
          IF current_setting('lock_timeout') <> '10s' OR current_setting('TimeZone') <> 'UTC'
          THEN
            RAISE EXCEPTION 'leaked: lock_timeout %, TimeZone %',
              current_setting('lock_timeout'), current_setting('TimeZone');
          END IF;
        END
        $$;
        """,
        "DROP TABLE b;",
    )
    r = db.cli(mdirs, "up", "--yes", "--no-backup")
    assert r.code == 0, r.err
    backend = db.open(mdirs)
    try:
        assert {"a", "b"} <= set(backend.table_names())
    finally:
        backend.close()
    r = db.cli(mdirs, "rollback", "--steps", "2", "--yes", "--no-backup")
    assert r.code == 0, r.err


def test_a_sqlite_migrations_pragmas_do_not_leak_into_the_next_one(
    mdirs: MigrationDirs, sqlite_url: str
) -> None:
    """Connection pragmas set by one file (not undone by its COMMIT) held for every later file
    of the run: with legacy_alter_table on, a RENAME no longer updates triggers and views."""
    mdirs.add(
        "20260101_000000",
        "a",
        "PRAGMA legacy_alter_table = ON;\nPRAGMA recursive_triggers = 1;\nCREATE TABLE a (x INT);",
    )
    mdirs.add(
        "20260102_000000",
        "b",
        """
        CREATE TABLE seen AS SELECT (SELECT * FROM pragma_legacy_alter_table) AS legacy,
                                    (SELECT * FROM pragma_recursive_triggers) AS rec;
        """,
    )
    r = run_cli("--database", sqlite_url, *mdirs.args(), "up", "--yes", "--no-backup")
    assert r.code == 0, r.err
    with _sqlite(sqlite_url) as conn:
        assert conn.execute("SELECT legacy, rec FROM seen").fetchall() == [(0, 0)]


def test_postgresql_statements_of_other_verbs_run(
    fresh_db: Callable[[str], DbTarget], mdirs: MigrationDirs
) -> None:
    """MERGE (PostgreSQL 15+, a backfill that inserts or updates), and the other statements
    a PostgreSQL migration may hold, were refused as "unparsable SQL" before anything ran."""
    db = fresh_db("postgresql")
    mdirs.add(
        "20260101_000000",
        "grades",
        """
        CREATE TABLE grades (student int PRIMARY KEY, score numeric);
        CREATE TABLE incoming (student int, score numeric);
        INSERT INTO grades VALUES (1, 70);
        INSERT INTO incoming VALUES (1, 85), (2, 90);
        MERGE INTO grades g USING incoming i ON g.student = i.student
          WHEN MATCHED THEN UPDATE SET score = i.score
          WHEN NOT MATCHED THEN INSERT VALUES (i.student, i.score);
        PREPARE best AS SELECT max(score) FROM grades;
        EXECUTE best;
        DEALLOCATE best;
        SHOW search_path;
        TABLE grades;
        DISCARD PLANS;
        """,
        "DROP TABLE grades; DROP TABLE incoming;",
    )
    r = db.cli(mdirs, "up", "--yes", "--no-backup")
    assert r.code == 0, r.err
    backend = db.open(mdirs)
    try:
        assert {"grades", "incoming"} <= set(backend.table_names())
    finally:
        backend.close()
