"""Migration files in the shapes other tools write them (Cloudflare's D1 tutorial and wrangler,
Prisma, Drizzle, the Supabase CLI, pg_dump), written here after real public ones, run through
the real CLI on real databases: what `lint`, `up`, `plan` and `test` say of them."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.fixtures_core import MigrationDirs, run_cli
from tests.fixtures_pg import PgCluster, create_database, drop_database

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


# Prisma's SQLite rebuild (`-- RedefineTables`, as `prisma migrate dev` writes it when a column
# changes) of a table with an inline UNIQUE column and a child table; its rollback rebuilds the
# table back the same way.
PRISMA_INIT = """\
-- CreateTable
CREATE TABLE "User" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "email" TEXT NOT NULL UNIQUE,
    "name" TEXT
);
-- CreateTable
CREATE TABLE "Post" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "authorId" INTEGER NOT NULL,
    CONSTRAINT "Post_authorId_fkey" FOREIGN KEY ("authorId") REFERENCES "User" ("id")
        ON DELETE RESTRICT ON UPDATE CASCADE
);
INSERT INTO "User" ("email", "name") VALUES ('a@malnu.sch.id', 'Ana');
INSERT INTO "Post" ("authorId") VALUES (1);
"""


def _redefine_user(name_column: str) -> str:
    return f"""\
-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_User" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "email" TEXT NOT NULL UNIQUE,
    "name" TEXT {name_column}
);
INSERT INTO "new_User" ("email", "id", "name")
    SELECT "email", "id", coalesce("name", '') FROM "User";
DROP TABLE "User";
ALTER TABLE "new_User" RENAME TO "User";
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;
"""


def test_a_rebuilt_table_keeps_its_key_names_on_postgresql(
    mdirs: MigrationDirs, sqlite_url: str, pg_url: str
) -> None:
    """A SQLite-dialect set with a table rebuild and a rollback that rebuilds it back (Prisma's,
    Drizzle's `__new_t`): on PostgreSQL the renamed table kept `new_user_pkey`,
    `new_user_id_seq` and `new_user_email_key`, and the rollback's rebuild made
    `new_user_pkey1` beside them, so `test --postgres` (the CI step the README shows) failed
    the stair — "index user_pkey lost", "sequence new_user_id_seq1 left behind" — though
    the rollback was right. The rename now carries them to the table's own names."""
    mdirs.add("20240101_000000", "init", PRISMA_INIT, 'DROP TABLE "Post";\nDROP TABLE "User";')
    mdirs.add(
        "20240102_000000",
        "name_required",
        _redefine_user("NOT NULL"),
        _redefine_user(""),
    )
    base = ["--database", sqlite_url, *mdirs.args()]
    res = run_cli(*base, "test", "--postgres", pg_url, "--json")
    assert res.code == 0, res.out + res.err
    assert [s["ok"] for s in json.loads(res.out)["steps"]] == [True, True], res.out
    res = run_cli(*base, "diff", "20240102_000000")
    assert res.code == 0, res.err
    assert '+ALTER INDEX IF EXISTS "new_user_pkey" RENAME TO "user_pkey";' in res.out, res.out
    assert '+ALTER SEQUENCE IF EXISTS "new_user_id_seq" RENAME TO "user_id_seq";' in res.out
    assert '+ALTER INDEX IF EXISTS "new_user_email_key" RENAME TO "user_email_key";' in res.out


def test_the_derived_names_are_postgresqls_own_for_long_names(pg_url: str) -> None:
    """The names the rename carries the keys to are the ones PostgreSQL itself makes for a
    table of that name, cut to 63 bytes as it cuts them (else `IF EXISTS` finds nothing)."""
    import psycopg

    from malnu_tui.engine.translate.renames import object_name

    with psycopg.connect(pg_url, autocommit=True) as conn:
        for length in (5, 50, 58, 63):
            table, column = ("t" * length), ("email_address_" + "c" * 40)
            conn.execute(
                f"CREATE TABLE {table} (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, "
                f"{column} TEXT UNIQUE)"
            )
            rows = conn.execute(
                "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace "
                "AND relkind IN ('i', 'S') ORDER BY relname"
            ).fetchall()
            expected = {
                object_name(table, "", "pkey"),
                object_name(table, "id", "seq"),
                object_name(table, column, "key"),
            }
            assert {r[0] for r in rows} == expected, length
            conn.execute(f"DROP TABLE {table}")


# A Supabase migration's data fix in a DO block (as `supabase migration new` files hold them):
# the failing statement is the block's fourth line, the file's eighth.
SUPABASE_DO = """\
create table public.profiles (id int primary key, username text);

-- backfill: one profile per known user
do $$
begin
  insert into public.profiles (id, username) values (1, 'ana');
  -- the second row repeats the key
  insert into public.profiles (id, username) values (1, 'budi');
end
$$;
"""


def test_a_do_blocks_failure_names_the_line_inside_the_block(
    mdirs: MigrationDirs, pg_url: str, pg_cluster: PgCluster, tmp_path: Path
) -> None:
    """An error inside a DO block was reported at the DO's first line (line 4), however far
    down the block the failing statement was: `up`, its `--json` and the tracking row, and
    the stairway. The error's PL/pgSQL context names the block's line; it is now the file's
    line 8."""
    mdirs.add("20240101000000", "backfill", SUPABASE_DO, "drop table public.profiles;")
    cfg = tmp_path / "malnu.toml"
    cfg.write_text(
        f'[targets.app]\nurl = "{pg_url}"\ndialect = "postgresql"\n'
        f'migrations_dir = "{mdirs.migrations}"\nrollback_dir = "{mdirs.rollback}"\n',
        encoding="utf-8",
    )
    base = ["--config", str(cfg), "--target", "app"]
    res = run_cli(*base, "up", "--yes", "--no-backup", "--json")
    assert res.code == 1, res.out + res.err
    failed = json.loads(res.out)["failed"]
    assert (failed["filename"], failed["line"]) == ("20240101000000_backfill.sql", 8), failed
    assert "failed at line 8: duplicate key value" in res.err, res.err
    scratch = create_database(pg_cluster)
    try:
        res = run_cli(*base, "test", "--postgres", pg_cluster.url(scratch), "--json")
    finally:
        drop_database(pg_cluster, scratch)
    assert res.code == 1, res.out + res.err
    step = json.loads(res.out)["steps"][0]
    assert (step["stage"], step["line"]) == ("apply", 8), step


def test_a_statement_a_transaction_refuses_says_how_out(
    mdirs: MigrationDirs, pg_url: str, sqlite_url: str, tmp_path: Path
) -> None:
    """A backfill ending in `VACUUM ANALYZE`, and Prisma's enum migration that sets the new
    value as a default in the same file, fail on PostgreSQL (each migration is one
    transaction): the hint said "fix the file and run again", and an operator fixed the
    statement, not where it stands. It now says what PostgreSQL (or SQLite) refuses there and
    where the statement goes instead."""
    cfg = tmp_path / "malnu.toml"
    cfg.write_text(
        f'[targets.app]\nurl = "{pg_url}"\ndialect = "postgresql"\n'
        f'migrations_dir = "{mdirs.migrations}"\nrollback_dir = "{mdirs.rollback}"\n',
        encoding="utf-8",
    )
    pg = ["--config", str(cfg), "--target", "app"]
    mdirs.add(
        "20240101000000",
        "init",
        "CREATE TYPE \"Role\" AS ENUM ('USER', 'ADMIN');\n"
        'CREATE TABLE "User" (id int PRIMARY KEY, role "Role" NOT NULL DEFAULT \'USER\');',
        'DROP TABLE "User";\nDROP TYPE "Role";',
    )
    mdirs.add(
        "20240102000000",
        "backfill",
        'UPDATE "User" SET role = \'USER\' WHERE role IS NULL;\nVACUUM ANALYZE "User";',
        "SELECT 1;",
    )
    res = run_cli(*pg, "up", "--yes", "--no-backup")
    assert res.code == 1, res.err
    assert "failed at line 2: VACUUM cannot run inside a transaction block" in res.err, res.err
    assert "hint: the statement runs only outside a transaction" in res.err, res.err
    (mdirs.migrations / "20240102000000_backfill.sql").write_text(
        "-- AlterEnum\nALTER TYPE \"Role\" ADD VALUE 'MODERATOR';\n\n-- AlterTable\n"
        'ALTER TABLE "User" ALTER COLUMN "role" SET DEFAULT \'MODERATOR\';\n'
    )
    res = run_cli(*pg, "up", "--yes", "--no-backup")
    assert res.code == 1, res.err
    assert "failed at line 5: unsafe use of new value" in res.err, res.err
    assert "hint: PostgreSQL lets a value that ALTER TYPE … ADD VALUE adds be used" in res.err
    # SQLite refuses VACUUM in the migration's transaction the same way.
    lite = MigrationDirs(tmp_path / "lite")
    lite.migrations.mkdir(parents=True)
    lite.rollback.mkdir(parents=True)
    lite.add("20240103000000", "purge", "CREATE TABLE t (a);\nVACUUM;", "DROP TABLE t;")
    res = run_cli("--database", sqlite_url, *lite.args(), "up", "--yes", "--no-backup")
    assert res.code == 1, res.err
    assert "failed at line 2: cannot VACUUM from within a transaction" in res.err, res.err
    assert "hint: SQLite runs it only outside a transaction" in res.err, res.err


# Supabase's todo quickstart as a migration: the table made bare, its row level security and
# policy said of `public.todos`; and drizzle-kit's PostgreSQL output, whose tables are bare and
# whose foreign keys reference `"public"."users"`.
SUPABASE_TODOS = """\
create table todos (
  id bigint generated by default as identity primary key,
  task text check (char_length(task) > 3)
);
alter table public.todos enable row level security;
create policy "Individuals can view their own todos." on public.todos for select using (true);
"""
DRIZZLE_PG = """\
CREATE TABLE IF NOT EXISTS "users" (
\t"id" serial PRIMARY KEY NOT NULL,
\t"email" varchar(256) NOT NULL
);
--> statement-breakpoint
CREATE TABLE IF NOT EXISTS "grades" (
\t"id" serial PRIMARY KEY NOT NULL,
\t"user_id" integer NOT NULL
);
--> statement-breakpoint
DO $$ BEGIN
 ALTER TABLE "grades" ADD CONSTRAINT "grades_user_id_users_id_fk" FOREIGN KEY ("user_id") \
REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;
EXCEPTION
 WHEN duplicate_object THEN null;
END $$;
"""


def test_bare_and_public_qualified_names_meet_on_a_scratch_server(
    mdirs: MigrationDirs, pg_url: str, pg_cluster: PgCluster, tmp_path: Path
) -> None:
    """`create table todos` then `alter table public.todos …` (Supabase's quickstart), or
    drizzle-kit's bare tables with `REFERENCES "public"."users"`: `up` puts both in public,
    but on a scratch server the stairway and `plan --check` put bare names in their scratch
    schema, so `test --postgres` (the README's CI step) failed at apply and `plan --check`
    rejected the file — "relation public.todos does not exist" — for a set `up` applies.
    Bare names of a set that names public now land in public there too."""
    mdirs.add("20240101000000", "todos", SUPABASE_TODOS, "drop table todos;")
    mdirs.add("20240102000000", "grades", DRIZZLE_PG, 'DROP TABLE "grades";\nDROP TABLE "users";')
    cfg = tmp_path / "malnu.toml"
    cfg.write_text(
        f'[targets.app]\nurl = "{pg_url}"\ndialect = "postgresql"\n'
        f'migrations_dir = "{mdirs.migrations}"\nrollback_dir = "{mdirs.rollback}"\n',
        encoding="utf-8",
    )
    base = ["--config", str(cfg), "--target", "app"]
    servers = [create_database(pg_cluster), create_database(pg_cluster)]
    try:
        res = run_cli(*base, "test", "--postgres", pg_cluster.url(servers[0]), "--json")
        assert res.code == 0, res.out + res.err
        assert [s["ok"] for s in json.loads(res.out)["steps"]] == [True, True], res.out
        res = run_cli(*base, "plan", "--check", "--postgres", pg_cluster.url(servers[1]))
        assert res.code == 0, res.out + res.err
        assert "checked on PostgreSQL: 6 statements ran, 0 rejected" in res.err, res.err
    finally:
        for name in servers:
            drop_database(pg_cluster, name)
    res = run_cli(*base, "up", "--yes", "--no-backup")  # as `up` has them
    assert res.code == 0, res.err


def test_a_rename_carries_only_the_names_postgresql_chose() -> None:
    """Only what PostgreSQL named itself is renamed: a table without a primary key has no
    `logs_pkey` of its own (unqualified, the name could find another schema's index), and a
    constraint the file names keeps that name."""
    from malnu_tui.engine.sqlsplit import Statement
    from malnu_tui.engine.translate.core import translate_statement
    from malnu_tui.engine.translate.schema import SchemaState

    state = SchemaState()

    def out(sql: str) -> tuple[str, ...]:
        return translate_statement(Statement(sql, 1), "f.sql", state).output

    out("CREATE TABLE logs (msg TEXT)")
    assert out("ALTER TABLE logs RENAME TO events") == ("ALTER TABLE logs RENAME TO events",)
    out(
        "CREATE TABLE a (id INTEGER, e TEXT, CONSTRAINT a_pk PRIMARY KEY (id), "
        "CONSTRAINT a_e UNIQUE (e))"
    )
    assert out("ALTER TABLE a RENAME TO b")[1:] == (
        'ALTER SEQUENCE IF EXISTS "a_id_seq" RENAME TO "b_id_seq"',
    )
    out("CREATE TABLE c (id TEXT PRIMARY KEY, e TEXT UNIQUE, f TEXT, UNIQUE (e, f))")
    assert out("ALTER TABLE c RENAME TO d")[1:] == (
        'ALTER INDEX IF EXISTS "c_pkey" RENAME TO "d_pkey"',
        'ALTER INDEX IF EXISTS "c_e_f_key" RENAME TO "d_e_f_key"',
        'ALTER INDEX IF EXISTS "c_e_key" RENAME TO "d_e_key"',
    )


def test_a_set_naming_only_the_schema_public_keeps_its_bare_names_in_the_scratch(
    mdirs: MigrationDirs, pg_url: str, pg_cluster: PgCluster, tmp_path: Path
) -> None:
    """`grant usage on schema public …` names no object there: the set's bare tables stay in
    the scratch schema, dropped at the end, so `test --postgres` runs again on the same
    server (had they gone to public, the second run met `todos` there)."""
    mdirs.add(
        "20240101000000",
        "todos",
        "create table todos (id bigint primary key, task text);\n"
        "grant usage on schema public to public;",
        "drop table todos;",
    )
    base = ["--database", pg_url, *mdirs.args()]
    server = create_database(pg_cluster)
    try:
        for _ in range(2):
            res = run_cli(*base, "test", "--postgres", pg_cluster.url(server), "--json")
            assert res.code == 0, res.out + res.err
    finally:
        drop_database(pg_cluster, server)
