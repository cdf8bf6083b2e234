"""The lint's gaps found in session 18, comparing it with squawk's rules on files as Supabase,
Rails, Django and Prisma write them: a DROP TABLE IF EXISTS of no table on PostgreSQL, Prisma's
SERIAL NOT NULL column, an EXCLUDE constraint, CONCURRENTLY in a SQLite-dialect file. Each shown
on a real PostgreSQL cluster or SQLite, with a clean counter-example beside it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
import pytest

from malnu_tui.engine.files import discover
from malnu_tui.engine.lint.core import lint_migrations
from tests.fixtures_core import MigrationDirs, run_cli
from tests.test_lint_realworld2 import _found, _pg_base, _waits


def test_a_drop_table_if_exists_of_no_table_on_postgresql(
    pg_url: str, mdirs: MigrationDirs
) -> None:
    # Supabase's and many a seed's first lines, `drop table if exists x;`, of a table that is
    # not there: it drops nothing, and it was a DROP-TABLE error, so `lint --all` failed CI for
    # good and a `lint = "enforce"` target refused `up` (SQLite sets were fixed by replaying
    # the files). A table of the live database that no migration made, or one an earlier
    # migration made, is still an error.
    base = _pg_base(mdirs, pg_url)
    with psycopg.connect(pg_url, autocommit=True) as conn:  # made by hand, before the files
        conn.execute("CREATE TABLE legacy (id int); INSERT INTO legacy VALUES (1)")
    drops = (
        "SET lock_timeout = '5s';\nDROP TABLE IF EXISTS ghost;\n"
        "DROP TABLE IF EXISTS public.legacy CASCADE;\nDROP TABLE IF EXISTS orders;"
    )
    mdirs.add("20250101_000200", "drops", drops, "SELECT 1;")
    assert _found(base) == [("DROP-TABLE", "error", 3), ("DROP-TABLE", "error", 4)]
    everything = [f for f in _found(base, "--all") if f[0] == "DROP-TABLE"]  # the files alone
    assert everything == [
        ("DROP-TABLE", "info", 2),
        ("DROP-TABLE", "info", 3),
        ("DROP-TABLE", "error", 4),
    ]
    res = run_cli(*base, "lint", "--all")
    assert "DROP TABLE IF EXISTS ghost: no earlier migration creates ghost" in res.out, res.out
    assert run_cli(*base, "up", "--no-backup").code == 0
    with psycopg.connect(pg_url) as conn:
        left = conn.execute("SELECT to_regclass('legacy'), to_regclass('orders')").fetchone()
    assert left == (None, None)  # what the errors named was there, with its rows


def test_a_drop_table_if_exists_on_a_postgresql_mirror_of_sqlite_files(
    pg_url: str, mdirs: MigrationDirs, tmp_path: Path
) -> None:
    # A PostgreSQL target whose files are the primary's SQLite-dialect set (dialect =
    # "sqlite") had its live schema "read" as empty and trusted: a DROP TABLE IF EXISTS of a
    # table the mirror has (made by hand, with rows) passed clean. The mirror is asked now.
    mdirs.add("20250101_000100", "base", "CREATE TABLE users (id INTEGER PRIMARY KEY);",
              "DROP TABLE users;")  # fmt: skip
    cfg = tmp_path / "malnu.toml"
    cfg.write_text(f'[targets.mirror]\nurl = "{pg_url}"\ndialect = "sqlite"\n')
    base = ["--config", str(cfg), "--target", "mirror", *mdirs.args()]
    assert run_cli(*base, "up", "--no-backup").code == 0
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE legacy (id int); INSERT INTO legacy VALUES (1)")
    drops = "DROP TABLE IF EXISTS ghost;\nDROP TABLE IF EXISTS legacy;"
    mdirs.add("20250101_000200", "drops", drops, "SELECT 1;")
    assert _found(base) == [("DROP-TABLE", "error", 2)]
    assert _found(base, "--all") == [("DROP-TABLE", "info", 1), ("DROP-TABLE", "info", 2)]


def test_a_serial_not_null_column_an_exclude_and_a_column_check(
    pg_url: str, mdirs: MigrationDirs
) -> None:
    # Prisma writes an @default(autoincrement()) field as `ADD COLUMN "seq" SERIAL NOT NULL`:
    # the serial's nextval() default fills every row, so it runs on a table with rows (it
    # rewrites it: PG-ADD-COLUMN-REWRITE), yet it was an ADD-COLUMN-NOT-NULL error. An
    # EXCLUDE constraint (Rails' add_exclusion_constraint) builds its index under ACCESS
    # EXCLUSIVE, reads waiting, and fails on conflicting rows: it was clean. So was Django's
    # AddField of a PositiveIntegerField, `ADD COLUMN … CHECK ("visits" >= 0)`: the CHECK is
    # validated with a scan under ADD COLUMN's lock, and fails on a default that breaks it.
    base = _pg_base(mdirs, pg_url)
    exclude = "ALTER TABLE users ADD CONSTRAINT users_one_name EXCLUDE USING btree (name WITH =)"
    serial = 'ALTER TABLE users ADD COLUMN "seq" SERIAL NOT NULL'
    check = (
        'ALTER TABLE "users" ADD COLUMN "visits" integer DEFAULT 0 NOT NULL CHECK ("visits" >= 0)'
    )
    sql = f"SET lock_timeout = '5s';\n{serial};\n{exclude};\n{check};"
    undo = "ALTER TABLE users DROP CONSTRAINT users_one_name, DROP COLUMN seq, DROP COLUMN visits;"
    mdirs.add("20250101_000200", "prisma", sql, undo)
    assert _found(base) == [
        ("PG-ADD-COLUMN-REWRITE", "warning", 2),
        ("ADD-UNIQUE", "warning", 3),
        ("ADD-CHECK", "warning", 4),
    ]
    assert _waits(pg_url, [exclude], "SELECT * FROM users")
    assert run_cli(*base, "up", "--no-backup").code == 0  # users holds 2 rows
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(seq) FROM users").fetchone() == (2,)
        with pytest.raises(psycopg.errors.NotNullViolation):  # what the error is for
            conn.execute("ALTER TABLE users ADD COLUMN bare int NOT NULL")
        conn.rollback()
        with pytest.raises(psycopg.errors.CheckViolation):  # the CHECK meets every row
            conn.execute("ALTER TABLE users ADD COLUMN lvl int DEFAULT 0 CHECK (lvl > 0)")


def test_concurrently_in_a_sqlite_dialect_file(mdirs: MigrationDirs) -> None:
    # SQLite reads CONCURRENTLY as the index's name: a named CREATE INDEX CONCURRENTLY (copied
    # from a PostgreSQL guide) is a syntax error, and only `up` and `test` said so.
    statements = [
        ("CREATE INDEX CONCURRENTLY idx_email ON users (email)", "syntax error"),
        ("CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS idx_u ON users (email)", "syntax error"),
        ("DROP INDEX CONCURRENTLY idx_name", "syntax error"),
        ("CREATE INDEX CONCURRENTLY ON users (email)", None),  # an index named CONCURRENTLY
        ("CREATE INDEX idx_email ON users (email)", None),
    ]
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT)")
    conn.execute("CREATE INDEX idx_name ON users (email)")
    for sql, error in statements:
        try:
            conn.execute(sql)
        except sqlite3.OperationalError as exc:
            assert error is not None and error in str(exc), sql
        else:
            assert error is None, sql
    names = conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'").fetchall()
    assert ("CONCURRENTLY",) in names
    mdirs.add("20250101_000100", "base", "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT);"
              "\nCREATE INDEX idx_name ON users (email);", "DROP TABLE users;")  # fmt: skip
    body = ";\n".join(sql for sql, _ in statements) + ";"
    mdirs.add("20250101_000200", "idx", body, "SELECT 1;")
    mset = discover(mdirs.migrations, mdirs.rollback)
    found = lint_migrations(mset, ["20250101_000200_idx.sql"]).findings
    assert [(f.line, f.severity) for f in found if f.rule == "SQLITE-CONCURRENTLY"] == [
        (1, "error"),
        (2, "error"),
        (3, "error"),
        (4, "error"),
    ]
    pg_set = discover(mdirs.migrations, mdirs.rollback, "postgresql")  # the same words: fine
    found = lint_migrations(pg_set, ["20250101_000200_idx.sql"], dialect="postgresql").findings
    assert [f for f in found if f.rule == "SQLITE-CONCURRENTLY"] == []


TOUCH = (
    "CREATE OR REPLACE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN NEW.name = {}; RETURN NEW; END $$;"
)


def test_a_function_replaced_and_nulls_filled_before_not_null(
    pg_url: str, mdirs: MigrationDirs
) -> None:
    # Supabase files change a function with `create or replace`, and its rollback puts the
    # earlier body back the same way: ROLLBACK-LEAVES-OBJECTS said the rollback "does not drop
    # function touch", an error, though dropping it fails (a trigger of an earlier migration
    # uses it). Rails' change_column_null with a default and Django's AlterField(null=False)
    # fill the NULLs, then SET NOT NULL: no row can fail it, yet it was a SET-NOT-NULL error
    # (it is a warning now: the scan under ACCESS EXCLUSIVE stays).
    base = _pg_base(mdirs, pg_url)
    mdirs.add("20250101_000150", "touch", TOUCH.format("NEW.name") + "\nCREATE TRIGGER t_touch "
              "BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION touch();",
              "DROP TRIGGER t_touch ON users; DROP FUNCTION touch();")  # fmt: skip
    assert run_cli(*base, "up", "--no-backup").code == 0
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE users SET name = NULL WHERE id = 2")
    sql = (
        "SET lock_timeout = '5s';\n" + TOUCH.format("lower(NEW.name)") + "\n"
        'UPDATE "users" SET "name"=\'nobody\' WHERE "name" IS NULL;\n'
        'ALTER TABLE "users" ALTER COLUMN "name" SET NOT NULL;\n'
        "UPDATE users SET name = lower(name) WHERE name IS NULL;\n"  # (not a constant)
        "ALTER TABLE orders ALTER COLUMN user_id SET NOT NULL;"
    )
    undo = TOUCH.format("NEW.name") + "\nALTER TABLE users ALTER COLUMN name DROP NOT NULL;"
    undo += "\nALTER TABLE orders ALTER COLUMN user_id DROP NOT NULL;"
    mdirs.add("20250101_000200", "change", sql, undo)
    assert _found(base) == [("SET-NOT-NULL", "warning", 4), ("SET-NOT-NULL", "error", 6)]
    with psycopg.connect(pg_url) as conn, pytest.raises(psycopg.errors.DependentObjectsStillExist):
        conn.execute("DROP FUNCTION touch()")  # what the finding asked of the rollback
    assert run_cli(*base, "up", "--no-backup").code == 0  # users' NULL filled first
    assert run_cli(*base, "rollback", "--yes", "--no-backup").code == 0
    with psycopg.connect(pg_url) as conn:
        conn.execute("UPDATE users SET name = 'MiXed' WHERE id = 1")
        assert conn.execute("SELECT name FROM users WHERE id = 1").fetchone() == ("MiXed",)


PRISMA_REQUIRED = """-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_posts" ("id" INTEGER NOT NULL PRIMARY KEY, "title" TEXT NOT NULL DEFAULT '');
INSERT INTO "new_posts" ("id", "title") SELECT "id", coalesce("title", '') AS "title" FROM "posts";
DROP TABLE "posts";
ALTER TABLE "new_posts" RENAME TO "posts";
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;"""


def test_a_prisma_rebuild_that_makes_a_column_required_with_a_default(
    mdirs: MigrationDirs,
) -> None:
    # Prisma (SQLite) makes `title String @default("")` of a nullable column so: its copy
    # names each value, `coalesce("title", '') AS "title"`, and no row can fail the NOT NULL.
    # Django's copy, without the alias, was clean; Prisma's was a SET-NOT-NULL error.
    table = '("id" INTEGER NOT NULL PRIMARY KEY, "title" TEXT);'
    mdirs.add("20250101_000100", "base", f'CREATE TABLE "posts" {table}\nCREATE TABLE "p2" '
              f"{table}", 'DROP TABLE "p2"; DROP TABLE "posts";')  # fmt: skip
    mdirs.add("20250101_000200", "required", PRISMA_REQUIRED, "SELECT 1;")
    no_fill = PRISMA_REQUIRED.replace("""coalesce("title", '') AS "title\"""", '"title"')
    mdirs.add("20250101_000300", "required_again", no_fill.replace("posts", "p2"), "SELECT 1;")
    found = lint_migrations(discover(mdirs.migrations, mdirs.rollback)).findings
    assert [(f.file[:15], f.line) for f in found if f.rule == "SET-NOT-NULL"] == [
        ("20250101_000300", 4)
    ]
    conn = sqlite3.connect(":memory:")
    conn.executescript('CREATE TABLE "posts" ("id" INTEGER PRIMARY KEY, "title" TEXT);'
                       "INSERT INTO posts VALUES (1, NULL);")  # fmt: skip
    conn.executescript(PRISMA_REQUIRED)
    assert conn.execute("SELECT id, title FROM posts").fetchall() == [(1, "")]


def test_an_add_column_whose_check_its_default_fails(mdirs: MigrationDirs) -> None:
    # SQLite 3.37+ (and D1) checks a new column's CHECK against every existing row: a default
    # that fails it passes on an empty table, a fresh database and `malnu-tui test`'s scratch
    # copy, and fails on production's. It was clean.
    cases = [
        ("grade INTEGER NOT NULL DEFAULT 0 CHECK (grade BETWEEN 1 AND 12)", True),
        ("nis TEXT NOT NULL DEFAULT '' CHECK (length(nis) = 10)", True),
        ("level INTEGER NOT NULL DEFAULT 1 CHECK (level BETWEEN 1 AND 12)", False),
        ("note TEXT CHECK (length(note) < 500)", False),  # NULL passes a CHECK
    ]
    for definition, refused in cases:
        for rows in (0, 1):
            conn = sqlite3.connect(":memory:")
            conn.execute("CREATE TABLE students (id INTEGER PRIMARY KEY)")
            conn.executemany("INSERT INTO students VALUES (?)", [(i,) for i in range(rows)])
            try:
                conn.execute(f"ALTER TABLE students ADD COLUMN {definition}")
            except sqlite3.OperationalError as exc:
                assert rows and refused and "CHECK constraint failed" in str(exc), definition
            else:
                assert not (rows and refused), definition
    mdirs.add("20250101_000100", "base", "CREATE TABLE students (id INTEGER PRIMARY KEY);",
              "DROP TABLE students;")  # fmt: skip
    body = "\n".join(f"ALTER TABLE students ADD COLUMN {d};" for d, _ in cases)
    undo = "\n".join(f"ALTER TABLE students DROP COLUMN {d.split()[0]};" for d, _ in cases)
    mdirs.add("20250101_000200", "columns", body, undo)
    found = lint_migrations(discover(mdirs.migrations, mdirs.rollback)).findings
    assert [(f.rule, f.line) for f in found] == [
        ("SQLITE-ADD-COLUMN-REFUSED", 1),
        ("SQLITE-ADD-COLUMN-REFUSED", 2),
    ]
    assert "(CHECK constraint failed)" in found[0].why


def test_a_file_that_turns_lock_timeout_off(mdirs: MigrationDirs) -> None:
    # pg_dump's preamble (`SET lock_timeout = 0;`, copied into a migration) turns the target's
    # lock_timeout off for the file, and `up` keeps a file's SETs until it ends: its ALTER then
    # waits behind any long query, every later query queued behind it. PG-LOCK-TIMEOUT read
    # any `SET lock_timeout` as one set, and was silent.
    mdirs.add("20250101_000100", "base", "CREATE TABLE users (id bigint PRIMARY KEY);",
              "DROP TABLE users;")  # fmt: skip
    files = {
        "off": "SET statement_timeout = 0;\nSET lock_timeout = 0;\nALTER TABLE users ADD a int;",
        "config": "SELECT pg_catalog.set_config('lock_timeout', '0', false);\n"
        "ALTER TABLE users ADD b int;",
        "on_again": "SET lock_timeout = 0;\nSET lock_timeout = '5s';\nALTER TABLE users ADD c int;",
        "session": "ALTER TABLE users ADD d int;",  # the target's own lock_timeout holds
    }
    for i, (name, sql) in enumerate(files.items(), 2):
        mdirs.add(f"20250101_000{i}00", name, sql, f"ALTER TABLE users DROP {'abcd'[i - 2]};")
    mset = discover(mdirs.migrations, mdirs.rollback, "postgresql")
    found = lint_migrations(mset, dialect="postgresql", session_lock_timeout=True).findings
    assert [(f.rule, f.file[16:-4], f.line) for f in found] == [
        ("PG-LOCK-TIMEOUT", "off", 3),
        ("PG-LOCK-TIMEOUT", "config", 2),
    ]
    assert "the SET at line 2 turns the target's off" in found[0].why


def test_a_rollback_that_drops_the_schema_drops_what_is_in_it(mdirs: MigrationDirs) -> None:
    # `create schema analytics; create table analytics.events …` undone by `drop schema
    # analytics cascade`: ROLLBACK-LEAVES-OBJECTS named every table, index, view and function
    # of the schema as left behind, errors that failed `lint --all` for good.
    sql = (
        "CREATE SCHEMA analytics;\nCREATE TABLE analytics.events (id bigint, at timestamptz);\n"
        "CREATE INDEX events_at ON analytics.events (at);\n"
        'CREATE VIEW "analytics"."daily" AS SELECT count(*) FROM analytics.events;\n'
        "CREATE FUNCTION analytics.one() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;\n"
        "CREATE TABLE public.kept (id bigint);\nCREATE TABLE bare (id bigint);"
    )
    mdirs.add("20250101_000100", "analytics", sql, "DROP SCHEMA analytics CASCADE;")
    mset = discover(mdirs.migrations, mdirs.rollback, "postgresql")
    found = lint_migrations(mset, dialect="postgresql").findings
    assert [(f.rule, f.line) for f in found] == [
        ("ROLLBACK-LEAVES-OBJECTS", 6),
        ("ROLLBACK-LEAVES-OBJECTS", 7),
    ]


def test_a_view_a_function_or_an_enum_value_renamed(mdirs: MigrationDirs) -> None:
    # The running app queries the view, calls the function (Supabase's rpc('get_grades')) and
    # writes the enum value by name: renaming any of them breaks it until it is redeployed,
    # as RENAME-TABLE says of a table. They were clean. One this migration made is new, and
    # Prisma's enum swap (ALTER TYPE … RENAME TO) is not a rename the app sees.
    base = (
        "CREATE TYPE mood AS ENUM ('ok');\nCREATE TABLE grades (id int, m mood);\n"
        "CREATE VIEW report AS SELECT id FROM grades;\n"
        "CREATE FUNCTION get_grades() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;"
    )
    undo = "DROP FUNCTION get_grades(); DROP VIEW report; DROP TABLE grades; DROP TYPE mood;"
    mdirs.add("20250101_000100", "base", base, undo)
    sql = (
        "ALTER VIEW report RENAME TO report_v2;\n"
        "ALTER FUNCTION public.get_grades() RENAME TO grades_of;\n"
        "ALTER VIEW report_v2 RENAME COLUMN id TO grade_id;\n"
        "ALTER TYPE mood RENAME VALUE 'ok' TO 'fine';\n"
        "CREATE VIEW fresh AS SELECT 1 AS one;\nALTER VIEW fresh RENAME TO fresh2;\n"
        'CREATE TYPE "Mood_new" AS ENUM (\'fine\');\nALTER TYPE "Mood_new" RENAME TO "Mood2";'
    )
    mdirs.add("20250101_000200", "renames", sql, "SELECT 1;")
    mset = discover(mdirs.migrations, mdirs.rollback, "postgresql")
    found = lint_migrations(mset, ["20250101_000200_renames.sql"], dialect="postgresql").findings
    assert [(f.line, f.severity) for f in found if f.rule == "PG-RENAME-OBJECT"] == [
        (1, "warning"),
        (2, "warning"),
        (3, "warning"),
        (4, "warning"),
    ]
    assert "rpc('get_grades')" in found[1].why


def test_alter_table_forms_sqlite_does_not_have(mdirs: MigrationDirs) -> None:
    # PostgreSQL's and MySQL's ALTER TABLE forms in a SQLite-dialect file (a D1 migration
    # written from a PostgreSQL guide) are syntax errors there; the lint said "the type of
    # students.nis changes" (a warning) or "a UNIQUE constraint is added", or nothing.
    statements = [
        ("ALTER TABLE students ALTER COLUMN nis TYPE INTEGER", True),
        ("ALTER TABLE students ADD CONSTRAINT nis_unique UNIQUE (nis)", True),
        ("ALTER TABLE students ADD COLUMN a INTEGER, ADD COLUMN b INTEGER", True),
        ("ALTER TABLE students ALTER COLUMN nis SET DEFAULT 'x'", True),
        ("ALTER TABLE students DROP CONSTRAINT nis_unique", True),
        ('ALTER TABLE students ADD "check" INTEGER', False),  # a column named check
        ("ALTER TABLE students ADD COLUMN c INTEGER", False),
        ("ALTER TABLE students RENAME COLUMN c TO d", False),
    ]
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE students (id INTEGER PRIMARY KEY, nis TEXT)")
    for sql, refused in statements:
        try:
            conn.execute(sql)
        except sqlite3.OperationalError as exc:
            assert refused and "syntax error" in str(exc), sql
        else:
            assert not refused, sql
    mdirs.add("20250101_000100", "base", "CREATE TABLE students (id INTEGER PRIMARY KEY, nis "
              "TEXT);", "DROP TABLE students;")  # fmt: skip
    mdirs.add("20250101_000200", "alters", ";\n".join(s for s, _ in statements) + ";", "SELECT 1;")
    mset = discover(mdirs.migrations, mdirs.rollback)
    found = lint_migrations(mset, ["20250101_000200_alters.sql"]).findings
    assert [f.line for f in found if f.rule == "SQLITE-ALTER-UNSUPPORTED"] == [1, 2, 3, 4, 5]
    pg_set = discover(mdirs.migrations, mdirs.rollback, "postgresql")  # the same words: fine
    found = lint_migrations(pg_set, ["20250101_000200_alters.sql"], dialect="postgresql").findings
    assert [f for f in found if f.rule == "SQLITE-ALTER-UNSUPPORTED"] == []
