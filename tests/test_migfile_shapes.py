"""Migration files in the shapes other tools write them (Cloudflare's D1 tutorial and wrangler,
Prisma, Drizzle, the Supabase CLI, pg_dump), written here after real public ones, run through
the real CLI on real databases: what `lint`, `up`, `plan` and `test` say of them."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.fixtures_core import MigrationDirs, run_cli

# The shape of Cloudflare's D1 tutorial ("Build a Comments API") and of many wrangler projects'
# first migration: the table is dropped if it is there, then created.
D1_TUTORIAL_FIRST = """\
-- Migration number: 0001 \t 2024-01-01T00:00:00.000Z
DROP TABLE IF EXISTS comments;
CREATE TABLE IF NOT EXISTS comments (
    id integer PRIMARY KEY AUTOINCREMENT,
    author text NOT NULL,
    body text NOT NULL,
    post_slug text NOT NULL
);
CREATE INDEX idx_comments_post_slug ON comments (post_slug);
INSERT INTO comments (author, body, post_slug) VALUES ('Kristian', 'Great post!', 'hello-world');
"""


def _enforced(tmp_path: Path, d: MigrationDirs, url: str) -> list[str]:
    cfg = tmp_path / "malnu.toml"
    cfg.write_text(
        f'[targets.primary]\nurl = "{url}"\nlint = "enforce"\n'
        f'migrations_dir = "{d.migrations}"\nrollback_dir = "{d.rollback}"\n',
        encoding="utf-8",
    )
    return ["--config", str(cfg), "--target", "primary"]


def _rules(out: str) -> list[tuple[str, str, str, int]]:
    return [(f["rule"], f["severity"], f["file"], f["line"]) for f in json.loads(out)["findings"]]


def test_a_drop_if_exists_of_a_table_that_is_not_there_is_no_error(
    tmp_path: Path, mdirs: MigrationDirs
) -> None:
    """`DROP TABLE IF EXISTS comments` before its `CREATE TABLE` (the D1 tutorial's first
    migration) drops nothing: the lint called it an error, "destroys the table and its rows",
    so `lint --all` failed CI for good and `up` on a `lint = "enforce"` target refused the set
    (an operator learnt to pass --accept-lint). A table that is there is still an error."""
    db = tmp_path / "primary.db"
    mdirs.add("20240101_000001", "create_comments", D1_TUTORIAL_FIRST, "DROP TABLE comments;")
    env = {"MALNU_LINT_CACHE": "0"}
    base = _enforced(tmp_path, mdirs, f"sqlite:///{db}")
    res = run_cli(*base, "lint", "--json", env=env)  # pending, on the live (new) database
    assert res.code == 0, res.out + res.err
    assert _rules(res.out) == []
    res = run_cli(*base, "lint", "--all", "--json", env=env)  # the files alone (CI): a note
    assert res.code == 0, res.out + res.err
    assert _rules(res.out) == [("DROP-TABLE", "info", "20240101_000001_create_comments.sql", 2)]
    why = json.loads(res.out)["findings"][0]["why"]
    assert why.startswith("DROP TABLE IF EXISTS comments: no earlier migration creates comments")
    res = run_cli(*base, "up", "--yes", "--no-backup", env=env)
    assert res.code == 0, res.err
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT author FROM comments").fetchall() == [("Kristian",)]
        conn.execute("CREATE TABLE legacy (x)")  # made by hand, before the next migration
        conn.execute("CREATE VIRTUAL TABLE notes_fts USING fts5(body)")
    mdirs.add(
        "20240102_000001",
        "drop_old",
        "DROP TABLE IF EXISTS legacy;\nDROP TABLE IF EXISTS gone;\n"
        "DROP TABLE IF EXISTS notes_fts;\nDROP TABLE IF EXISTS comments;\n",
        "SELECT 1;",
    )
    res = run_cli(*base, "lint", "--json", env=env)
    assert res.code == 1, res.out + res.err
    drops = [r for r in _rules(res.out) if r[0] == "DROP-TABLE"]
    assert drops == [
        ("DROP-TABLE", "error", "20240102_000001_drop_old.sql", 1),  # legacy: there, live
        ("DROP-TABLE", "error", "20240102_000001_drop_old.sql", 3),  # a virtual table
        ("DROP-TABLE", "error", "20240102_000001_drop_old.sql", 4),  # made by a migration
    ]
    res = run_cli(*base, "up", "--yes", "--no-backup", env=env)
    assert res.code == 1 and "lint" in res.err, res.err
