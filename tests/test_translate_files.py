"""Migration files as real-world sets write them (issue 11 item 9): comment-only files, empty
rollback files, and the PostgreSQL-dialect constructs the splitter must keep whole (COPY … FROM
stdin data, E'…' strings, BEGIN ATOMIC bodies), run on real databases."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg

from malnu_tui.engine.parity import check_parity
from malnu_tui.engine.sqlsplit import split_statements
from tests.fixtures_core import MigrationDirs, run_cli


def test_comment_only_migration_and_empty_rollbacks(tmp_path: Path, mdirs: MigrationDirs) -> None:
    mdirs.add("20250101_000100", "placeholder", "-- kept for the numbering\n/* nothing */", "")
    mdirs.add(
        "20250101_000200", "t", "CREATE TABLE t (id INTEGER PRIMARY KEY);", "-- undoes nothing"
    )
    db = tmp_path / "x.db"
    base = ["--database", f"sqlite:///{db}", *mdirs.args()]
    res = run_cli(*base, "plan", "--all")
    assert res.code == 0, res.err
    assert "holds only comments" in res.out
    res = run_cli(*base, "up", "--no-backup")
    assert res.code == 0, res.err
    assert "holds only comments: a no-op" in res.err
    res = run_cli(*base, "rollback", "--steps", "2", "--yes", "--no-backup")
    assert res.code == 0, res.err
    assert "warning: 20250101_000200_undo_t.sql is empty (or only comments)" in res.err
    assert "undoes nothing" in res.err
    conn = sqlite3.connect(db)
    try:  # the version records are gone; the table stays (its rollback undoes nothing)
        assert conn.execute("SELECT count(*) FROM migrations").fetchone() == (0,)
        assert conn.execute("SELECT name FROM sqlite_master WHERE name = 't'").fetchone()
    finally:
        conn.close()


def test_splitter_keeps_postgresql_constructs_whole(pg_url: str) -> None:
    sql = (
        "CREATE TABLE t (a int, b text);\n"
        "INSERT INTO t VALUES (1, E'it\\'s; fine');\n"
        "COPY t (a, b) FROM stdin;\n2\tx;y\n3\t\\N\n\\.\n"
        "CREATE FUNCTION sign_of(x int) RETURNS int LANGUAGE sql\n"
        "BEGIN ATOMIC\n  SELECT CASE WHEN x > 0 THEN 1 ELSE 0 END;\nEND;\n"
        "SELECT sign_of(a) FROM t;\n"
    )
    statements = split_statements(sql)
    assert [s.line for s in statements] == [1, 2, 3, 7, 11]
    assert statements[2].copy_data == "2\tx;y\n3\t\\N\n"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        for st in statements:
            if st.copy_data is not None:
                with conn.cursor().copy(st.text) as copy:
                    copy.write(st.copy_data)
            else:
                conn.execute(st.text)
        rows = conn.execute("SELECT a, b, sign_of(a) FROM t ORDER BY a").fetchall()
    assert rows == [(1, "it's; fine", 1), (2, "x;y", 1), (3, None, 1)]


def test_parity_of_clock_and_random_defaults_never_flickers(
    pg_url: str, mdirs: MigrationDirs
) -> None:
    mdirs.add(
        "20250101_000100",
        "clock",
        """
        CREATE TABLE e (
          id TEXT PRIMARY KEY DEFAULT (lower(hex(randomblob(16)))),
          at DATETIME DEFAULT CURRENT_TIMESTAMP,
          day DATE DEFAULT (date('now')),
          at_text TEXT DEFAULT (datetime('now')),
          epoch INTEGER DEFAULT (unixepoch()),
          epoch2 INTEGER NOT NULL DEFAULT (strftime('%s', 'now')),
          tm TEXT DEFAULT CURRENT_TIME,
          fixed DATETIME DEFAULT '2025-01-01 00:00:00'
        );
        """,
    )
    from malnu_tui.engine.files import discover

    mset = discover(mdirs.migrations, mdirs.rollback)
    for _ in range(2):  # the same answer whatever the second it runs
        report = check_parity(mset.migrations, pg_url, check_rollbacks=False)
        assert report.differences == (), [d.describe() for d in report.differences]
        assert report.errors == ()
    table = report.expected.table("e")
    assert table is not None
    defaults = {c.name: c.default for c in table.columns}
    assert defaults["id"] == "<random>" and defaults["at"] == "<now>"
    assert defaults["epoch"] == "<now, as a number>" and defaults["fixed"] == "2025-01-01 00:00:00"


def test_drizzle_rebuild_of_a_referenced_self_referencing_table_has_parity(
    pg_url: str, mdirs: MigrationDirs
) -> None:
    mdirs.add(
        "20250101_000100",
        "base",
        "CREATE TABLE comments (id INTEGER PRIMARY KEY, parent_id INTEGER "
        "REFERENCES comments(id), body TEXT);\n"
        "CREATE TABLE likes (id INTEGER PRIMARY KEY, comment_id INTEGER "
        "REFERENCES comments(id) ON DELETE CASCADE);\n"
        "CREATE INDEX ix_likes_comment ON likes (comment_id);",
    )
    mdirs.add(
        "20250101_000200",
        "rebuild",
        """
        PRAGMA foreign_keys=OFF;--> statement-breakpoint
        CREATE TABLE `__new_comments` (`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
          `parent_id` integer, `body` text NOT NULL,
          FOREIGN KEY (`parent_id`) REFERENCES `comments`(`id`) ON DELETE cascade);
        --> statement-breakpoint
        INSERT INTO `__new_comments`("id", "parent_id", "body")
          SELECT "id", "parent_id", "body" FROM `comments`;--> statement-breakpoint
        DROP TABLE `comments`;--> statement-breakpoint
        ALTER TABLE `__new_comments` RENAME TO `comments`;--> statement-breakpoint
        PRAGMA foreign_keys=ON;
        """,
    )
    from malnu_tui.engine.files import discover

    mset = discover(mdirs.migrations, mdirs.rollback)
    report = check_parity(mset.migrations, pg_url, check_rollbacks=False)
    assert report.differences == (), [d.describe() for d in report.differences]
    assert report.errors == ()
    comments = report.actual.table("comments")
    assert comments is not None
    assert [(f.columns, f.ref_table, f.on_delete) for f in comments.foreign_keys] == [
        (("parent_id",), "comments", "CASCADE")
    ]
