"""Migration files of real public projects (trimmed, each attributed where it is used), run
through the real CLI on real databases: shapes the other runners accept that the tool split,
ran or refused otherwise."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

import psycopg

from tests.fixtures_core import MigrationDirs, run_cli
from tests.fixtures_matrix import DbTarget


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


# ahsandevhub/wetraineducattiontech, supabase/migrations/0001_profiles.sql and
# 0002_profiles_email.sql (trimmed: no auth.users, no policies): the Supabase CLI takes any
# digits as a version, and 77 files of that set are numbered so. This tool refuses such names,
# so a team switching renames them to timestamps.
PROFILES = """\
-- Profiles table linked to auth.users
create table if not exists public.profiles (
  id uuid primary key,
  full_name text,
  phone text,
  avatar_url text,
  created_at timestamptz default now(),
  updated_at timestamptz default now()
);
alter table public.profiles enable row level security;
"""
PROFILES_EMAIL = """\
-- Add email column to profiles and keep it in sync with auth.users
alter table public.profiles
  add column if not exists email text unique;
"""


def test_supabase_cli_history_under_its_own_numbers_matches_the_renamed_files(
    fresh_db: Callable[[str], DbTarget], mdirs: MigrationDirs
) -> None:
    """The CLI's rows `0001`/`0002` matched no renamed file: `status` said nothing and `up`
    ran both again ("ok": IF NOT EXISTS passes). Now they are matched by name, as wrangler's
    `0002_name.sql`: `up` refuses, `adopt` records them, and `rollback` removes the CLI's row
    (it stayed, and `up` then refused the migration as the CLI's)."""
    db = fresh_db("postgresql")
    with psycopg.connect(db.url, autocommit=True) as conn:
        conn.execute(
            "CREATE SCHEMA supabase_migrations; CREATE TABLE supabase_migrations."
            "schema_migrations (version text NOT NULL PRIMARY KEY, statements text[], name text)"
        )
        for version, name, sql in (
            ("0001", "profiles", PROFILES),
            ("0002", "profiles_email", PROFILES_EMAIL),
        ):
            conn.execute(sql)  # as `supabase db push` ran it
            conn.execute(
                "INSERT INTO supabase_migrations.schema_migrations (version, name) VALUES (%s, %s)",
                (version, name),
            )
    mdirs.add("20250101000001", "profiles", PROFILES, "drop table public.profiles;")
    mdirs.add(
        "20250101000002",
        "profiles_email",
        PROFILES_EMAIL,
        "alter table public.profiles drop column email;",
    )
    r = db.cli(mdirs, "status")
    assert r.code == 0, r.err
    assert "the Supabase CLI applied 2 migration(s) this tool does not track" in r.err
    r = db.cli(mdirs, "up", "--yes", "--no-backup")
    assert r.code == 1, r.out + r.err
    assert "20250101000001_profiles.sql (the CLI's 0001_profiles.sql)" in r.err
    r = db.cli(mdirs, "adopt", "--yes")
    assert r.code == 0, r.out + r.err
    assert "adopted 2 migration(s)" in r.err
    r = db.cli(mdirs, "rollback", "--yes", "--no-backup")
    assert r.code == 0, r.out + r.err
    with psycopg.connect(db.url) as conn:
        rows = conn.execute("SELECT version FROM supabase_migrations.schema_migrations").fetchall()
    assert rows == [("0001",)]
    r = db.cli(mdirs, "up", "--yes", "--no-backup")
    assert r.code == 0, r.out + r.err
    # Another set in the database sharing one name with one of the CLI's three rows is not
    # the CLI's: nothing of it is taken for applied.
    with psycopg.connect(db.url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO supabase_migrations.schema_migrations VALUES ('0003', NULL, 'orders')"
        )
    other = MigrationDirs(mdirs.root.parent / "analytics")
    other.add(
        "20250301000000",
        "orders",
        "create table public.orders (id int);",
        "drop table public.orders;",
    )
    r = db.cli(other, "status")
    assert "Supabase CLI" not in r.err, r.err


# nasa/cumulus, packages/db/src/migrations/20240715101230_add_indexes.sql (trimmed to two of
# its tables; one statement's line broken): each build timed with `SELECT CURRENT_TIMESTAMP;`,
# then a VACUUM (ANALYZE).
CUMULUS_INDEXES = """\
-- Add indexes on updated_at
SELECT CURRENT_TIMESTAMP;
CREATE INDEX CONCURRENTLY IF NOT EXISTS executions_updated_at_index ON executions(updated_at);
SELECT CURRENT_TIMESTAMP;
CREATE INDEX CONCURRENTLY IF NOT EXISTS granules_updated_at_index ON granules(updated_at);
SELECT CURRENT_TIMESTAMP;

SELECT CURRENT_TIMESTAMP;
CREATE INDEX CONCURRENTLY IF NOT EXISTS executions_status_collection_cumulus_id_index
  ON executions(status, collection_cumulus_id, cumulus_id);
SELECT CURRENT_TIMESTAMP;

VACUUM (ANALYZE, VERBOSE) executions;
"""


def test_a_concurrent_index_file_may_time_its_builds_and_vacuum(
    fresh_db: Callable[[str], DbTarget], mdirs: MigrationDirs
) -> None:
    """The SELECTs of the clock and the VACUUM have nothing to undo, and VACUUM runs only
    outside a transaction, as such a file does: it was refused before anything ran ("shares
    its migration with SELECT CURRENT_TIMESTAMP … could not be undone half-way"), exit 2, and
    the lint called the VACUUM an error."""
    db = fresh_db("postgresql")
    mdirs.add(
        "20240701000000",
        "tables",
        """
        create table executions (cumulus_id bigserial primary key, status text,
                                 collection_cumulus_id int, updated_at timestamptz);
        create table granules (cumulus_id bigserial primary key, updated_at timestamptz);
        """,
        "drop table executions; drop table granules;",
    )
    (mdirs.migrations / "20240715101230_add_indexes.sql").write_text(CUMULUS_INDEXES)
    (mdirs.rollback / "20240715101230_add_indexes.sql").write_text(
        "DROP INDEX executions_updated_at_index, granules_updated_at_index, "
        "executions_status_collection_cumulus_id_index;\n"
    )
    r = db.cli(mdirs, "lint", "--all")
    assert r.code == 0, r.out + r.err
    assert "VACUUM" not in r.out + r.err
    r = db.cli(mdirs, "plan", "--check", "--postgres", db.url)
    assert r.code == 0, r.out + r.err
    r = db.cli(mdirs, "up", "--yes", "--no-backup")
    assert r.code == 0, r.out + r.err
    assert "runs outside a transaction (3 × CREATE INDEX CONCURRENTLY)" in r.err
    with psycopg.connect(db.url) as conn:
        names = {r[0] for r in conn.execute("SELECT indexname FROM pg_indexes").fetchall()}
    assert "executions_status_collection_cumulus_id_index" in names
    r = db.cli(mdirs, "rollback", "--yes", "--no-backup")
    assert r.code == 0, r.out + r.err


def test_another_runners_numbered_file_is_refused_with_how_to_rename_it(
    mdirs: MigrationDirs, sqlite_url: str
) -> None:
    """A wrangler project's directory (akgngr/portfolio's 0001_create_projects_table.sql, as
    its d1_migrations names it) or a Supabase one numbered 0001_profiles.sql
    (ahsandevhub/wetraineducattiontech) was refused with only the format expected: nothing
    said to rename the files keeping their names, which the history in the database matches."""
    (mdirs.migrations / "0001_create_projects_table.sql").write_text(
        "CREATE TABLE Projects (id INTEGER PRIMARY KEY, title TEXT NOT NULL);\n"
    )
    r = run_cli("--database", sqlite_url, *mdirs.args(), "status")
    assert r.code == 2, r.err
    assert "0001_create_projects_table.sql: bad migration file name" in r.err
    assert "e.g. 20240101_000001_create_projects_table.sql" in r.err
    assert "history in the database match a file renamed so by that name" in r.err
    (mdirs.migrations / "0001_create_projects_table.sql").unlink()
    (mdirs.migrations / "V1__profiles.sql").write_text("create table profiles (id int);\n")
    r = run_cli("--database", sqlite_url, *mdirs.args(), "status")
    assert r.code == 2, r.err
    assert "this is Flyway's numbering (V1__name.sql)" in r.err


# OV1-Kenobi/satnam_pub, database/migrations/043_tapsigner_lnbits_extension.sql (trimmed: its
# header, two of its columns, one of its DO blocks; renamed to a timestamp as the tool asks).
SATNAM_043 = """\
-- ============================================================================
-- Migration: 043_tapsigner_lnbits_extension.sql
-- Date: November 5, 2025
-- Purpose: Extend lnbits_boltcards table to support both NTAG424 and Tapsigner
-- Author: Satnam Development Team
-- Status: Idempotent (safe to re-run)
-- Dependencies: Requires existing table:
--   - public.lnbits_boltcards (created by add_lnbits_integration.sql)
-- ============================================================================

BEGIN;

ALTER TABLE public.lnbits_boltcards
  ADD COLUMN IF NOT EXISTS card_type TEXT
    DEFAULT 'boltcard'
    CHECK (card_type IN ('boltcard', 'tapsigner'));

ALTER TABLE public.lnbits_boltcards
  ADD COLUMN IF NOT EXISTS public_key_hex TEXT;

DO $$
BEGIN
  IF NOT EXISTS (
    SELECT 1 FROM pg_indexes
    WHERE schemaname = 'public' AND indexname = 'idx_lnbits_boltcards_type'
  ) THEN
    CREATE INDEX idx_lnbits_boltcards_type
      ON public.lnbits_boltcards(card_type);
  END IF;
END $$;

COMMIT;
"""


def test_a_dependencies_header_written_as_prose_is_not_a_list_of_migrations(
    fresh_db: Callable[[str], DbTarget], mdirs: MigrationDirs
) -> None:
    """`-- Dependencies: Requires existing table:` stopped every command, `status` included,
    with "unknown dependency 'Requires'" (exit 2): the header could only be edited, which is
    drift once the file is applied. It is now a warning naming the line; a list of names
    that do not resolve is still an error."""
    db = fresh_db("postgresql")
    mdirs.add(
        "20251101000000",
        "add_lnbits_integration",
        "create table public.lnbits_boltcards (id uuid primary key, user_duid text);",
        "drop table public.lnbits_boltcards;",
    )
    (mdirs.migrations / "20251105000043_tapsigner_lnbits_extension.sql").write_text(SATNAM_043)
    (mdirs.rollback / "20251105000043_tapsigner_lnbits_extension.sql").write_text(
        "alter table public.lnbits_boltcards drop column card_type, drop column public_key_hex;\n"
    )
    r = db.cli(mdirs, "status")
    assert r.code == 0, r.err
    assert (
        "20251105000043_tapsigner_lnbits_extension.sql:7: '-- Dependencies: Requires existing "
        "table:' reads as prose, not as migrations: not checked" in r.err
    )
    r = db.cli(mdirs, "up", "--yes", "--no-backup")
    assert r.code == 0, r.out + r.err
    mdirs.add("20251106000000", "later", "select 1;", dependencies="add_lnbits, tapsigner")
    r = db.cli(mdirs, "status")
    assert r.code == 2, r.err
    assert "unknown dependency 'add_lnbits'" in r.err


# Shopify/eng-intern-assessment-rails, db/structure.sql (trimmed: Rails' own tables left out):
# Rails' SQLite structure.sql, as `sqlite3 .schema` writes an FTS5 table's shadow tables.
RAILS_FTS_STRUCTURE = """\
CREATE TABLE IF NOT EXISTS "articles" ("id" integer PRIMARY KEY AUTOINCREMENT NOT NULL, "author" varchar, "title" varchar NOT NULL, "content" text NOT NULL, "date" datetime(6), "created_at" datetime(6) NOT NULL, "updated_at" datetime(6) NOT NULL);
CREATE UNIQUE INDEX "index_articles_on_title" ON "articles" ("title");
CREATE VIRTUAL TABLE fts_articles USING fts5(author, title, content, article_id)
/* fts_articles(author,title,content,article_id) */;
CREATE TABLE IF NOT EXISTS 'fts_articles_data'(id INTEGER PRIMARY KEY, block BLOB);
CREATE TABLE IF NOT EXISTS 'fts_articles_idx'(segid, term, pgno, PRIMARY KEY(segid, term)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS 'fts_articles_content'(id INTEGER PRIMARY KEY, c0, c1, c2, c3);
CREATE TABLE IF NOT EXISTS 'fts_articles_docsize'(id INTEGER PRIMARY KEY, sz BLOB);
CREATE TABLE IF NOT EXISTS 'fts_articles_config'(k PRIMARY KEY, v) WITHOUT ROWID;
"""  # noqa: E501 - the file's own lines


def test_a_schema_dumps_single_quoted_shadow_tables_are_no_table_named_if(
    mdirs: MigrationDirs, sqlite_url: str
) -> None:
    """`CREATE TABLE IF NOT EXISTS 'fts_articles_data'(…)` was read by the lint as a table
    named "if", which a rollback dropping the FTS table "does not drop": a lint error on a
    baseline that applies and rolls back cleanly. The shadow tables go with their virtual
    table, which the lint does not follow either."""
    (mdirs.migrations / "20240124031723_structure.sql").write_text(RAILS_FTS_STRUCTURE)
    (mdirs.rollback / "20240124031723_structure.sql").write_text(
        "DROP TABLE fts_articles;\nDROP TABLE articles;\n"
    )
    r = run_cli("--database", sqlite_url, *mdirs.args(), "lint", "--all")
    assert r.code == 0, r.out + r.err
    assert "table if" not in r.out + r.err
    r = run_cli("--database", sqlite_url, *mdirs.args(), "test")
    assert r.code == 0, r.out + r.err


# What sqlite3 (3.40.1) `.dump` writes for a database with an FTS5 table (trimmed: sqlite_stat1
# and the index left out): the virtual table goes in through PRAGMA writable_schema.
SQLITE_DUMP_WITH_FTS = """\
PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE posts(id INTEGER PRIMARY KEY AUTOINCREMENT, title TEXT, body TEXT);
INSERT INTO posts VALUES(1,'hello','it''s; a test');
PRAGMA writable_schema=ON;
INSERT INTO sqlite_schema(type,name,tbl_name,rootpage,sql)VALUES('table','posts_fts','posts_fts',0,'CREATE VIRTUAL TABLE posts_fts USING fts5(title, body, content=''posts'', content_rowid=''id'')');
CREATE TABLE IF NOT EXISTS 'posts_fts_data'(id INTEGER PRIMARY KEY, block BLOB);
INSERT INTO posts_fts_data VALUES(1,X'010104');
INSERT INTO posts_fts_data VALUES(10,X'000000000101010001010101');
INSERT INTO posts_fts_data VALUES(137438953473,X'000000320230610106010104010568656c6c6f0102020102697401060101020101730106010103010474657374010601010504080a0908');
CREATE TABLE IF NOT EXISTS 'posts_fts_idx'(segid, term, pgno, PRIMARY KEY(segid, term)) WITHOUT ROWID;
INSERT INTO posts_fts_idx VALUES(1,X'',2);
CREATE TABLE IF NOT EXISTS 'posts_fts_docsize'(id INTEGER PRIMARY KEY, sz BLOB);
INSERT INTO posts_fts_docsize VALUES(1,X'0104');
CREATE TABLE IF NOT EXISTS 'posts_fts_config'(k PRIMARY KEY, v) WITHOUT ROWID;
INSERT INTO posts_fts_config VALUES('version',4);
DELETE FROM sqlite_sequence;
INSERT INTO sqlite_sequence VALUES('posts',1);
CREATE TRIGGER posts_ai AFTER INSERT ON posts BEGIN INSERT INTO posts_fts(rowid, title, body) VALUES (new.id, new.title, new.body); END;
PRAGMA writable_schema=OFF;
COMMIT;
"""  # noqa: E501 - the dump's own lines


def test_a_dump_baselines_virtual_table_is_seen_by_the_next_migration(
    mdirs: MigrationDirs, sqlite_url: str
) -> None:
    """The dump's FTS table, made by an INSERT INTO sqlite_schema, was unknown to the
    connection that ran it: the next migration of the same `up` failed "no such table:
    main.posts_fts" (here through the dump's own trigger), and `test` failed the dump's
    rollback. The schema is reloaded after such a file."""
    (mdirs.migrations / "20250101000000_baseline.sql").write_text(SQLITE_DUMP_WITH_FTS)
    (mdirs.rollback / "20250101000000_baseline.sql").write_text(
        "DROP TABLE posts_fts;\nDROP TABLE posts;\n"
    )
    mdirs.add(
        "20250102000000",
        "second_post",
        "INSERT INTO posts (title, body) VALUES ('second', 'post');",
        "DELETE FROM posts WHERE title = 'second';",
    )
    r = run_cli("--database", sqlite_url, *mdirs.args(), "up", "--yes", "--no-backup")
    assert r.code == 0, r.err
    with _sqlite(sqlite_url) as conn:
        found = conn.execute("SELECT title FROM posts_fts WHERE posts_fts MATCH 'post'")
        assert found.fetchall() == [("second",)]
    r = run_cli("--database", sqlite_url, *mdirs.args(), "test")
    assert r.code == 0, r.out + r.err


# dbmate's `dbmate new` template (amacneil/dbmate, pkg/dbmate/db.go: migrationTemplate =
# "-- migrate:up\n\n\n-- migrate:down\n\n"), its up part filled with a public project's seed of
# roles and its down part left empty, as data migrations often are.
DBMATE_EMPTY_DOWN = """\
-- migrate:up
insert into "user_roles"
values ('user')
on conflict (name) do nothing;

insert into "user_roles"
values ('admin')
on conflict (name) do nothing;

-- migrate:down

"""


def test_a_dbmate_file_whose_down_section_is_empty_runs(
    mdirs: MigrationDirs, sqlite_url: str
) -> None:
    """A down section holding nothing undoes nothing: such a file was refused before anything
    ran ("run whole, the file would undo itself"), exit 2; one whose down part holds SQL still
    is."""
    mdirs.add(
        "20240101000000",
        "roles",
        'create table "user_roles" (name text primary key);',
        "drop table user_roles;",
    )
    (mdirs.migrations / "20240102000000_seed_roles.sql").write_text(DBMATE_EMPTY_DOWN)
    (mdirs.rollback / "20240102000000_seed_roles.sql").write_text(
        "delete from user_roles where name in ('user', 'admin');\n"
    )
    r = run_cli("--database", sqlite_url, *mdirs.args(), "up", "--yes", "--no-backup")
    assert r.code == 0, r.err
    with _sqlite(sqlite_url) as conn:
        assert conn.execute("SELECT count(*) FROM user_roles").fetchone() == (2,)
    (mdirs.migrations / "20240103000000_more.sql").write_text(
        "-- migrate:up\ninsert into user_roles values ('guest');\n-- migrate:down\n"
        "delete from user_roles where name = 'guest';\n"
    )
    r = run_cli("--database", sqlite_url, *mdirs.args(), "up", "--yes", "--no-backup")
    assert r.code == 2 and "down section" in r.err, r.err
