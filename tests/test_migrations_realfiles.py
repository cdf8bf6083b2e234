"""Migration files of real public projects (trimmed, each attributed where it is used), run
through the real CLI on real databases: shapes the other runners accept that the tool split,
ran or refused otherwise."""

from __future__ import annotations

import sqlite3

from tests.fixtures_core import MigrationDirs, run_cli


def _sqlite(url: str) -> sqlite3.Connection:
    return sqlite3.connect(url.removeprefix("sqlite:///"))


# leapkit/template, internal/migrations/20241113163842_add_pragmas.sql (verbatim): the first
# migration of every app made from that Go template.
LEAPKIT_PRAGMAS = """\
-- This folder holds the database migrations for the application
-- These migrations will run and then update the database schema
-- as the application is updated

-- These are some default settings for the SQLite database,
-- these can be changed or removed as needed.
-- 20241113163842 - add_pragmas migration
PRAGMA journal_mode = WAL;
PRAGMA cache_size = 2000;
PRAGMA temp_store = memory;
"""

# GerardRodes/kcalc, internal/ksqlite/sql/pragmas.sql (its pragmas, before a table of ours).
KCALC_PRAGMAS = """\
PRAGMA foreign_keys=ON;
PRAGMA journal_mode=WAL;
PRAGMA synchronous=NORMAL;
PRAGMA busy_timeout=5000;

-- Number of pages, negative values specify kB
PRAGMA cache_size=-32000; -- 32.768 MB
CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);
"""


def test_a_journal_mode_pragma_passes_the_stairway(mdirs: MigrationDirs, sqlite_url: str) -> None:
    """``PRAGMA journal_mode = WAL`` inside the scratch copy's transaction failed `test`
    ("cannot change into wal mode from within a transaction") while `up` passed it."""
    mdirs.add(
        "20241101_000000",
        "users",
        "CREATE TABLE users (id INTEGER PRIMARY KEY);",
        "DROP TABLE users;",
    )
    (mdirs.migrations / "20241113163842_add_pragmas.sql").write_text(LEAPKIT_PRAGMAS)
    (mdirs.rollback / "20241113163842_add_pragmas.sql").write_text("-- nothing to undo\n")
    r = run_cli("--database", sqlite_url, *mdirs.args(), "test")
    assert r.code == 0, r.out + r.err
    assert "wal mode" not in r.out + r.err
    r = run_cli("--database", sqlite_url, *mdirs.args(), "up", "--yes", "--no-backup")
    assert r.code == 0, r.err
    assert (
        "20241113163842_add_pragmas.sql: its PRAGMA journal_mode/synchronous (line 8) not run"
        in r.err
    )


def test_a_synchronous_pragma_no_longer_fails_the_migration(
    mdirs: MigrationDirs, sqlite_url: str
) -> None:
    """``PRAGMA synchronous = NORMAL`` (an app's "sane defaults" first migration) failed `up`,
    `test` and `rehearse` on every SQLite file: "Safety level may not be changed inside a
    transaction", with the hint to fix the file; the lint said nothing."""
    (mdirs.migrations / "20240101000000_init.sql").write_text(KCALC_PRAGMAS)
    (mdirs.rollback / "20240101000000_init.sql").write_text("DROP TABLE notes;\n")
    r = run_cli("--database", sqlite_url, *mdirs.args(), "up", "--yes", "--no-backup")
    assert r.code == 0, r.err
    assert "its PRAGMA journal_mode/synchronous (line 2, 3) not run" in r.err
    with _sqlite(sqlite_url) as conn:
        assert conn.execute("SELECT count(*) FROM notes").fetchone() == (0,)
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    r = run_cli("--database", sqlite_url, *mdirs.args(), "test")
    assert r.code == 0, r.out + r.err
