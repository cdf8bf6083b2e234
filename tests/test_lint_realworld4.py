"""The lint's gaps found in session 9: a WHERE that holds for every row, and rules compared with
squawk's and with what breaks a running app on SQLite/D1. Each shown on a real PostgreSQL
cluster or SQLite file, with a clean counter-example beside it."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import psycopg
import pytest

from tests.fixtures_core import MigrationDirs, run_cli
from tests.test_lint_realworld2 import _found, _pg_base, _waits

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
    "INSERT INTO grades VALUES (1, 1);\nINSERT INTO reporting.summary VALUES (7);\n"
    "CREATE FUNCTION twice(int) RETURNS int IMMUTABLE LANGUAGE sql AS 'SELECT $1 * 2';\n"
    "CREATE TABLE scores (n int, doubled int GENERATED ALWAYS AS (twice(n)) STORED);"
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
DROP FUNCTION twice(int) CASCADE;
CREATE FUNCTION half(int) RETURNS int LANGUAGE sql AS 'SELECT $1 / 2';
DROP FUNCTION half(int) CASCADE;
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
        ("PG-DROP-CASCADE", "warning", 10),  # often re-created with its trigger: a warning
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
    assert _columns(pg_url, "scores") == ["n"]  # the generated column went with twice()
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


VIEW_BASE = (
    "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, email TEXT);\n"
    "CREATE TABLE audit (id INTEGER PRIMARY KEY, uid INTEGER, note TEXT);\n"
    "INSERT INTO users VALUES (1, 'a', 'a@x'), (2, 'b', 'b@x');\n"
    "CREATE VIEW user_emails AS SELECT id, email FROM users;\n"
    "CREATE TRIGGER audit_name AFTER INSERT ON audit BEGIN\n"
    "  UPDATE users SET name = new.note WHERE id = new.uid;\nEND;\n"
    "CREATE VIEW notes AS SELECT 'copied from users' AS what FROM audit;"  # names no users
)
# Prisma's and Drizzle's rebuild (SQLite's twelve steps without step 9), here to add NOT NULL
REBUILD = (
    'CREATE TABLE "new_users" ("id" INTEGER NOT NULL PRIMARY KEY, "name" TEXT NOT NULL '
    "DEFAULT '', \"email\" TEXT);\n"
    'INSERT INTO "new_users" ("id", "name", "email") SELECT "id", "name", "email" FROM "users";\n'
    'DROP TABLE "users";\nALTER TABLE "new_users" RENAME TO "users";\n'
)
VIEW_AND_TRIGGER = (
    "CREATE VIEW user_emails AS SELECT id, email FROM users;\n"
    "CREATE TRIGGER audit_name AFTER INSERT ON audit BEGIN\n"
    "  UPDATE users SET name = new.note WHERE id = new.uid;\nEND;"
)


def test_a_rebuild_of_a_table_a_view_names_fails_at_its_rename(
    mdirs: MigrationDirs, sqlite_url: str
) -> None:
    # SQLite 3.26+ (and D1) checks every view and trigger at ALTER TABLE … RENAME: after the
    # rebuild's DROP TABLE, a view or another table's trigger names a table that is gone, so
    # the RENAME and the migration fail ("error in view user_emails: no such table:
    # main.users"). The lint passed it; SET-NOT-NULL only (its real finding, kept).
    undo = "DROP VIEW notes; DROP TABLE audit; DROP TABLE users;"
    mdirs.add("20250101_000100", "base", VIEW_BASE, undo)
    base = ["--database", sqlite_url, *mdirs.args()]
    assert run_cli(*base, "up", "--no-backup").code == 0
    undo = "SELECT 1;"
    mdirs.add("20250101_000200", "rebuild", "-- RedefineTables\n" + REBUILD, undo)
    assert _found(base) == [
        ("SET-NOT-NULL", "error", 2),
        ("REBUILD-BREAKS-VIEW", "error", 5),
        ("REBUILD-BREAKS-VIEW", "error", 5),
    ]
    res = run_cli(*base, "up", "--no-backup")
    assert res.code == 1 and "error in view user_emails: no such table: main.users" in res.err
    # The clean ways: drop the view and the trigger first and re-create them after the
    # RENAME; or PRAGMA legacy_alter_table=ON before the rebuild.
    drop_first = "DROP VIEW user_emails;\nDROP TRIGGER audit_name;\n" + REBUILD + VIEW_AND_TRIGGER
    legacy = "PRAGMA legacy_alter_table=ON;\n" + REBUILD
    for sql in (legacy, drop_first):
        mdirs.add("20250101_000200", "rebuild", sql, undo)
        assert [f[0] for f in _found(base)] == ["SET-NOT-NULL"], sql
    assert run_cli(*base, "up", "--no-backup").code == 0
    with sqlite3.connect(sqlite_url.removeprefix("sqlite:///")) as conn:
        conn.execute("INSERT INTO audit (uid, note) VALUES (1, 'z')")
        assert conn.execute("SELECT u.name, v.email FROM users u JOIN user_emails v USING (id) "
                            "WHERE id = 1").fetchone() == ("z", "a@x")  # fmt: skip


PRISMA_WARNING = (  # Prisma writes it on one line
    "/*\n  Warnings:\n\n  - Added the required column `age` to the `User` table without a default "
    "value. This is not possible if the table is not empty.\n\n*/\n"
)
PRISMA_REQUIRED = (
    PRISMA_WARNING
    + """-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_User" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "email" TEXT NOT NULL,
    "age" INTEGER NOT NULL
);
INSERT INTO "new_User" ("email", "id") SELECT "email", "id" FROM "User";
DROP TABLE "User";
ALTER TABLE "new_User" RENAME TO "User";
CREATE UNIQUE INDEX "User_email_key" ON "User"("email");
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;
"""
)


def test_a_prisma_rebuild_adding_a_required_column(mdirs: MigrationDirs, sqlite_url: str) -> None:
    # Prisma's own warning says it: a required column without a default cannot be added to a
    # table with rows. The lint missed it, and named instead a NOT NULL "added" to id, an
    # INTEGER PRIMARY KEY (the rowid, which is never NULL): a false error.
    mdirs.add("20250101_000100", "base", 'CREATE TABLE "User" (id INTEGER PRIMARY KEY, email '
              'TEXT NOT NULL);\nCREATE UNIQUE INDEX "User_email_key" ON "User"("email");\n'
              "INSERT INTO \"User\" VALUES (1, 'a@x');", 'DROP TABLE "User";')  # fmt: skip
    base = ["--database", sqlite_url, *mdirs.args()]
    assert run_cli(*base, "up", "--no-backup").code == 0
    mdirs.add("20250101_000200", "age", PRISMA_REQUIRED, "SELECT 1;")
    assert _found(base) == [("ADD-COLUMN-NOT-NULL", "error", 10)]
    res = run_cli(*base, "up", "--no-backup")
    assert res.code == 1 and "NOT NULL constraint failed: new_User.age" in res.err, res.err
    # With a default (Prisma's `@default(0)`), the same rebuild is clean and runs.
    mdirs.add("20250101_000200", "age", PRISMA_REQUIRED.replace(
        '"age" INTEGER NOT NULL', '"age" INTEGER NOT NULL DEFAULT 0'), "SELECT 1;")  # fmt: skip
    assert _found(base) == []
    assert run_cli(*base, "up", "--no-backup").code == 0


def _filenode(conn: psycopg.Connection[tuple[object, ...]]) -> object:
    row = conn.execute("SELECT pg_relation_filenode('post')").fetchone()
    return row[0] if row else None


# (ALTER … TYPE, whether PostgreSQL rewrites post for it)
TYPE_CHANGES = [
    ('ALTER TABLE post ALTER COLUMN "title" TYPE varchar(300) USING "title"::varchar(300)', False),
    ("ALTER TABLE post ALTER COLUMN price TYPE numeric(12,2)", False),
    ("ALTER TABLE post ALTER COLUMN slug SET DATA TYPE text", False),
    ("ALTER TABLE post ALTER COLUMN body TYPE varchar(10)", True),
    ("ALTER TABLE post ALTER COLUMN n TYPE bigint", True),
    ("ALTER TABLE post ALTER COLUMN title TYPE varchar(200)", True),  # narrower than 300 now
]


def test_a_varchar_widened_is_not_a_type_change(pg_url: str, mdirs: MigrationDirs) -> None:
    # Django's AlterField of max_length (and Prisma's @db.VarChar(n)) widens a varchar: no
    # rewrite, no scan, every old value fits. COLUMN-TYPE-CHANGE warned of a rewrite anyway,
    # for the most common type change there is. A change that rewrites stays named.
    mdirs.add("20250101_000100", "base", "CREATE TABLE post (id bigint PRIMARY KEY, title "
              "character varying(100), price numeric(10, 2), slug varchar(40), body text, "
              "n integer);\nINSERT INTO post VALUES (1, 't', 1.5, 's', 'b', 1);",
              "DROP TABLE post;")  # fmt: skip
    base = ["--database", pg_url, *mdirs.args()]
    assert run_cli(*base, "up", "--no-backup").code == 0
    with psycopg.connect(pg_url) as conn:
        for sql, rewrites in TYPE_CHANGES:
            before = _filenode(conn)
            conn.execute(sql)
            assert (_filenode(conn) != before) == rewrites, sql
        conn.rollback()
    changes = "SET lock_timeout = '5s';\n" + ";\n".join(sql for sql, _ in TYPE_CHANGES) + ";"
    mdirs.add("20250101_000200", "types", changes, "SELECT 1;")
    expected = [
        ("COLUMN-TYPE-CHANGE", "warning", line)
        for line, (_, rewrites) in enumerate(TYPE_CHANGES, 2)
        if rewrites
    ]
    assert _found(base) == expected
    assert run_cli(*base, "up", "--no-backup").code == 0


SUPABASE_DIFF = (  # `supabase db diff` writes each statement on one line
    'alter table "public"."profiles" add column "website" text;\n\n'
    'alter table "public"."profiles" add constraint "profiles_website_key" UNIQUE '
    'using index "profiles_website_key";\n'
)
PRISMA_ENUM_SWAP = """-- AlterEnum
BEGIN;
CREATE TYPE "Role_new" AS ENUM ('USER', 'TEACHER');
ALTER TABLE "users" ALTER COLUMN "role" DROP DEFAULT;
ALTER TABLE "users" ALTER COLUMN "role" TYPE "Role_new" USING ("role"::text::"Role_new");
ALTER TYPE "Role" RENAME TO "Role_old";
ALTER TYPE "Role_new" RENAME TO "Role";
DROP TYPE "Role_old";
ALTER TABLE "users" ALTER COLUMN "role" SET DEFAULT 'USER';
COMMIT;
"""


def test_rollbacks_of_supabase_and_prisma_files_are_read_as_written(
    pg_url: str, mdirs: MigrationDirs
) -> None:
    # ROLLBACK-LEAVES-OBJECTS (an error) on two generated files whose rollback is right: a
    # unique index attached as a constraint goes with `DROP CONSTRAINT` (Supabase's diff);
    # Prisma's enum swap creates Role_new and renames it over Role, so nothing is new.
    mdirs.add("20250101_000100", "base", "CREATE TYPE \"Role\" AS ENUM ('USER', 'ADMIN');\n"
              'CREATE TABLE users (id bigint PRIMARY KEY, role "Role" DEFAULT \'USER\');\n'
              "CREATE TABLE profiles (id bigint PRIMARY KEY);\nINSERT INTO users VALUES (1);",
              'DROP TABLE profiles; DROP TABLE users; DROP TYPE "Role";')  # fmt: skip
    base = ["--database", pg_url, *mdirs.args()]
    assert run_cli(*base, "up", "--no-backup").code == 0
    mdirs.add("20250101_000200", "index", "CREATE UNIQUE INDEX CONCURRENTLY profiles_website_key "
              "ON profiles (id);", "DROP INDEX profiles_website_key;")  # fmt: skip
    undo = 'alter table "public"."profiles" drop constraint "profiles_website_key";\n'
    undo += 'alter table "public"."profiles" drop column "website";'
    mdirs.add("20250101_000300", "remote_schema", SUPABASE_DIFF, undo)
    swap_back = PRISMA_ENUM_SWAP.replace("'TEACHER'", "'ADMIN'")
    mdirs.add("20250101_000400", "role_teacher", PRISMA_ENUM_SWAP, swap_back)
    found = _found(base, "--all")
    assert [f for f in found if f[0] == "ROLLBACK-LEAVES-OBJECTS"] == []
    assert ("COLUMN-TYPE-CHANGE", "warning", 5) in found  # the enum swap rewrites users
    assert run_cli(*base, "up", "--no-backup").code == 0
    assert run_cli(*base, "rollback", "--yes", "--no-backup", "--steps", "2").code == 0
    with psycopg.connect(pg_url) as conn:
        indexes = "SELECT count(*) FROM pg_indexes WHERE indexname = 'profiles_website_key'"
        assert conn.execute(indexes).fetchone() == (0,)  # the rollback's DROP CONSTRAINT did it
        assert conn.execute('SELECT enum_range(NULL::"Role")::text').fetchone() == ("{USER,ADMIN}",)


INDEX_LOCKS = """SET lock_timeout = '5s';
DROP INDEX users_name;
REINDEX TABLE orders;
REINDEX (VERBOSE) INDEX users_pkey;
CREATE TABLE tags (id bigint PRIMARY KEY, name text);
CREATE INDEX tags_name ON tags (name);
REINDEX TABLE tags;
DROP INDEX tags_name;
"""


def test_drop_index_and_reindex_hold_the_table_until_the_commit(
    pg_url: str, mdirs: MigrationDirs
) -> None:
    # squawk's require-concurrent-index-deletion and require-concurrent-reindex: both passed
    # clean. DROP INDEX holds ACCESS EXCLUSIVE on the table, REINDEX blocks its writes and the
    # reads that use the index, until the migration commits; REINDEX SCHEMA cannot run in a
    # transaction at all. An index or table of the migration's own is nobody else's yet.
    base = _pg_base(mdirs, pg_url)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE INDEX users_name ON users (name)")
    assert _waits(pg_url, ["DROP INDEX users_name"], "SELECT * FROM users WHERE id = 1")
    assert _waits(pg_url, ["REINDEX TABLE orders"], "INSERT INTO orders VALUES (5, 1)")
    assert _waits(pg_url, ["REINDEX INDEX users_pkey"], "SELECT * FROM users WHERE id = 1")
    mdirs.add("20250101_000200", "indexes", INDEX_LOCKS, "DROP TABLE tags;")
    assert _found(base) == [
        ("PG-DROP-INDEX-NOT-CONCURRENT", "warning", 2),
        ("PG-REINDEX", "warning", 3),
        ("PG-REINDEX", "warning", 4),
    ]
    assert run_cli(*base, "up", "--no-backup").code == 0
    mdirs.add("20250101_000300", "reindex_all", "REINDEX SCHEMA public;", "SELECT 1;")
    assert _found(base) == [("PG-REINDEX", "error", 1)]
    res = run_cli(*base, "up", "--no-backup")
    assert res.code == 1 and "cannot run inside a transaction block" in res.err, res.err
    # The way the rules advise: CONCURRENTLY, in a migration of its own (up runs it outside
    # the transaction: see test_pg_concurrent.py).
    mdirs.add("20250101_000300", "reindex_all", "REINDEX INDEX CONCURRENTLY users_pkey;",
              "SELECT 1;")  # fmt: skip
    assert _found(base) == []


UNIQUE_COLUMNS = [  # (ADD COLUMN … UNIQUE on users' 2 rows, whether PostgreSQL refuses it)
    ('ALTER TABLE "users" ADD COLUMN "code" varchar(10) DEFAULT \'x\' NOT NULL UNIQUE', True),
    ("ALTER TABLE users ADD COLUMN nisn varchar(10) NULL UNIQUE", False),  # NULLs are distinct
    ("ALTER TABLE users ADD COLUMN token uuid DEFAULT gen_random_uuid() UNIQUE", False),
]


def test_a_column_added_unique(pg_url: str, mdirs: MigrationDirs, tmp_path: Path) -> None:
    # Django's AddField(unique=True, default=…): every existing row gets the default, so the
    # unique index fails on the second row; SQLite refuses any ADD COLUMN … UNIQUE. Both
    # passed the lint clean.
    base = _pg_base(mdirs, pg_url)
    with psycopg.connect(pg_url) as conn:
        for sql, refused in UNIQUE_COLUMNS:
            try:
                conn.execute(sql)
            except psycopg.errors.UniqueViolation:
                assert refused, sql
            else:
                assert not refused, sql
            conn.rollback()
    sql = "SET lock_timeout = '5s';\n" + ";\n".join(s for s, _ in UNIQUE_COLUMNS) + ";"
    undo = "ALTER TABLE users DROP COLUMN token, DROP COLUMN nisn, DROP COLUMN code;"
    mdirs.add("20250101_000200", "unique", sql, undo)
    assert _found(base) == [("ADD-UNIQUE", "warning", 2), ("PG-ADD-COLUMN-REWRITE", "warning", 4)]
    sqlite = MigrationDirs(tmp_path / "sqlite")
    sqlite.migrations.mkdir(parents=True)
    sqlite.rollback.mkdir()
    sqlite.add("20250101_000100", "base", "CREATE TABLE users (id INTEGER PRIMARY KEY);",
               "DROP TABLE users;")  # fmt: skip
    sqlite.add("20250101_000200", "code", "ALTER TABLE users ADD COLUMN code TEXT UNIQUE;",
               "ALTER TABLE users DROP COLUMN code;")  # fmt: skip
    lite = ["--database", f"sqlite:///{tmp_path / 'u.db'}", *sqlite.args()]
    assert _found(lite) == [("ADD-UNIQUE", "error", 1)]
    res = run_cli(*lite, "up", "--no-backup")
    assert res.code == 1 and "Cannot add a UNIQUE column" in res.err, res.err


ADD_COLUMNS = [  # (ADD COLUMN on students, which holds a row; SQLite's refusal or None)
    ("updated_at TEXT DEFAULT CURRENT_TIMESTAMP", "non-constant default"),
    ("joined TEXT NOT NULL DEFAULT (datetime('now'))", "non-constant default"),
    ("class_id INTEGER REFERENCES classes (id) DEFAULT 1", "REFERENCES column with non-NULL"),
    ("shout TEXT AS (upper(name)) STORED", "cannot add a STORED column"),
    ("note TEXT DEFAULT 'x'", None),
    ("whisper TEXT AS (lower(name)) VIRTUAL", None),
    ("room_id INTEGER REFERENCES classes (id)", None),
]


def test_an_add_column_sqlite_refuses_only_on_a_table_with_rows(
    mdirs: MigrationDirs, sqlite_url: str
) -> None:
    # The classic `ADD COLUMN updated_at … DEFAULT CURRENT_TIMESTAMP`: SQLite (and D1) adds it
    # to an empty table, so a fresh database and `malnu-tui test` (an empty scratch copy) pass
    # it, and refuses it on production's table with rows. The lint passed it clean.
    mdirs.add("20250101_000100", "base", "CREATE TABLE classes (id INTEGER PRIMARY KEY);\n"
              "CREATE TABLE students (id INTEGER PRIMARY KEY, name TEXT);",
              "DROP TABLE students; DROP TABLE classes;")  # fmt: skip
    base = ["--database", sqlite_url, *mdirs.args()]
    assert run_cli(*base, "up", "--no-backup").code == 0
    with sqlite3.connect(sqlite_url.removeprefix("sqlite:///")) as conn:  # the school's data
        conn.execute("INSERT INTO classes VALUES (1)")
        conn.execute("INSERT INTO students VALUES (1, 'Ani')")
    db = sqlite_url.removeprefix("sqlite:///")
    for column, refused in ADD_COLUMNS:  # what SQLite does with each: rows, then no rows
        for rows in (True, False):
            conn = sqlite3.connect(db, isolation_level=None)
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("BEGIN")
            if not rows:
                conn.execute("DELETE FROM students")
            try:
                conn.execute(f"ALTER TABLE students ADD COLUMN {column}")
            except sqlite3.OperationalError as exc:
                assert rows and refused and refused in str(exc), column
            else:
                assert not (rows and refused), column
            finally:
                conn.execute("ROLLBACK")
                conn.close()
    sql = ";\n".join(f"ALTER TABLE students ADD COLUMN {c}" for c, _ in ADD_COLUMNS) + ";"
    undo = ";\n".join(f"ALTER TABLE students DROP COLUMN {c.split()[0]}" for c, _ in ADD_COLUMNS)
    mdirs.add("20250101_000200", "columns", sql, undo + ";")
    refusals = [n for n, (_, refused) in enumerate(ADD_COLUMNS, 1) if refused]
    assert _found(base) == [("SQLITE-ADD-COLUMN-REFUSED", "error", n) for n in refusals]
    assert run_cli(*base, "test").code == 0  # the stairway's empty copy takes them all
    res = run_cli(*base, "up", "--no-backup")
    assert res.code == 1 and "non-constant default" in res.err, res.err


DJANGO_ADD_FIELD = """BEGIN;
--
-- Add field is_active to student
--
CREATE TABLE "new__school_student" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, "name" \
varchar(100) NOT NULL, "is_active" bool NOT NULL);
INSERT INTO "new__school_student" ("id", "name", "is_active") SELECT "id", "name", 1 FROM \
"school_student";
DROP TABLE "school_student";
ALTER TABLE "new__school_student" RENAME TO "school_student";
COMMIT;
"""


def test_a_django_rebuild_that_fills_its_new_column_is_clean(
    mdirs: MigrationDirs, sqlite_url: str
) -> None:
    # Django's SQLite AddField(default=True) rebuilds the table and writes the default into
    # the copy, not the DDL: every row gets a value, as PostgreSQL's ADD COLUMN … DEFAULT
    # (which the lint leaves clean) does. Not the ADD-COLUMN-NOT-NULL of Prisma's rebuild.
    mdirs.add("20250101_000100", "base", 'CREATE TABLE "school_student" ("id" integer NOT NULL '
              'PRIMARY KEY AUTOINCREMENT, "name" varchar(100) NOT NULL);\n'
              "INSERT INTO school_student (name) VALUES ('Ani');",
              'DROP TABLE "school_student";')  # fmt: skip
    base = ["--database", sqlite_url, *mdirs.args()]
    assert run_cli(*base, "up", "--no-backup").code == 0
    mdirs.add("20250101_000200", "is_active", DJANGO_ADD_FIELD,
              'ALTER TABLE "school_student" DROP COLUMN "is_active";')  # fmt: skip
    assert _found(base) == []
    assert run_cli(*base, "up", "--no-backup").code == 0


DROP_BASE = (
    "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT UNIQUE, nis TEXT, phone TEXT, "
    "name TEXT, note TEXT);\n"
    "CREATE INDEX users_nis ON users (nis);\n"
    "CREATE TABLE audit (id INTEGER PRIMARY KEY, what TEXT);\n"
    "CREATE TRIGGER users_audit AFTER UPDATE ON users BEGIN\n"
    "  INSERT INTO audit (what) VALUES (new.phone);\nEND;\n"
    "CREATE VIEW user_names AS SELECT id, name FROM users;"
)
# (the column dropped, SQLite's refusal or None)
DROPS = [
    ("email", 'cannot drop UNIQUE column: "email"'),
    ("nis", "error in index users_nis after drop column"),
    ("phone", "error in trigger users_audit after drop column"),
    ("name", "error in view user_names after drop column"),
    ("note", None),
]


def test_a_drop_column_sqlite_refuses(mdirs: MigrationDirs, sqlite_url: str) -> None:
    # SQLite drops a column only when nothing else uses it; the lint said DROP-COLUMN, which
    # an operator accepts with lint:ignore once the app no longer reads the column, and `up`
    # then failed at the statement. A column nothing uses stays a plain DROP-COLUMN.
    mdirs.add("20250101_000100", "base", DROP_BASE, "DROP VIEW user_names; DROP TABLE users;")
    base = ["--database", sqlite_url, *mdirs.args()]
    assert run_cli(*base, "up", "--no-backup").code == 0
    for n, (column, _) in enumerate(DROPS):
        sql = "-- lint:ignore DROP-COLUMN the app stopped reading it\n"
        sql += f"ALTER TABLE users DROP COLUMN {column};"
        mdirs.add(f"20250101_00{n + 2:02d}00", "drop", sql, f"ALTER TABLE users ADD {column};")
    found = _found(base)
    assert [(rule, line) for rule, _, line in found if rule != "DROP-COLUMN"] == [
        ("SQLITE-DROP-COLUMN-REFUSED", 2) for _, refused in DROPS if refused
    ]
    assert (
        "error in view user_names after drop column: no such column: name"
        in run_cli(*base, "lint").out
    )
    db = sqlite_url.removeprefix("sqlite:///")
    for column, refused in DROPS:  # what SQLite says to each
        conn = sqlite3.connect(db, isolation_level=None)
        conn.execute("BEGIN")
        try:
            conn.execute(f"ALTER TABLE users DROP COLUMN {column}")
        except sqlite3.OperationalError as exc:
            assert refused and refused in str(exc), (column, exc)
        else:
            assert refused is None, column
        finally:
            conn.execute("ROLLBACK")
            conn.close()
