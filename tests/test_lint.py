"""The migration lint: one fixture per rule (the finding and its line; a safe variant with
none), lint:ignore with its reason, both dialects, D1's rule set, and the CLI contract."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from malnu_tui.engine.files import discover
from malnu_tui.engine.lint import lint_migrations
from tests.fixtures_core import MigrationDirs, run_cli
from tests.fixtures_d1 import D1Target

if TYPE_CHECKING:
    from malnu_tui.engine.backends.sqlite import SQLiteBackend
    from malnu_tui.engine.config import Target

BASE_SQLITE = "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT, name TEXT);"
BASE_PG = "CREATE TABLE users (id bigint PRIMARY KEY, email text, name text);"
REBUILD = """
CREATE TABLE users_new (id INTEGER PRIMARY KEY, email {email}, name TEXT{extra});
INSERT INTO users_new (id, email, name) SELECT id, email, name FROM users;
DROP TABLE users;
ALTER TABLE users_new RENAME TO users;
"""

# (rule, dialect, migration, rollback (None: no file), expected [(rule, severity, line)])
CASES = [
    ("DROP-TABLE", "sqlite", "DROP TABLE users;", "SELECT 1;",
     [("DROP-TABLE", "error", 1)]),
    ("DROP-TABLE covered", "sqlite", "DROP TABLE users;", BASE_SQLITE,
     [("DROP-TABLE", "warning", 1)]),
    ("DROP-TABLE safe", "sqlite", "CREATE TABLE tmp (id INTEGER);\nDROP TABLE tmp;",
     "SELECT 1;", []),
    ("DROP-COLUMN", "postgresql", "ALTER TABLE users DROP COLUMN name;", "SELECT 1;",
     [("DROP-COLUMN", "error", 1)]),
    ("DROP-COLUMN covered", "sqlite", "ALTER TABLE users DROP COLUMN name;",
     "ALTER TABLE users ADD COLUMN name TEXT;", [("DROP-COLUMN", "warning", 1)]),
    ("ADD-COLUMN safe", "sqlite", "ALTER TABLE users ADD COLUMN nick TEXT;",
     "ALTER TABLE users DROP COLUMN nick;", []),
    ("RENAME-TABLE", "sqlite", "ALTER TABLE users RENAME TO people;",
     "ALTER TABLE people RENAME TO users;", [("RENAME-TABLE", "warning", 1)]),
    ("RENAME-TABLE safe (rebuild)", "sqlite", REBUILD.format(email="TEXT", extra=""),
     "SELECT 1;", []),
    # ALTER TABLE … SET SCHEMA moves the table the running app queries by name (squawk's
    # ban-set-schema; was clean).
    ("RENAME-TABLE (SET SCHEMA)", "postgresql", "ALTER TABLE public.users SET SCHEMA archive;",
     "ALTER TABLE archive.users SET SCHEMA public;", [("RENAME-TABLE", "warning", 1)]),
    ("RENAME-COLUMN", "postgresql",
     "SET lock_timeout = '5s';\nALTER TABLE users RENAME COLUMN name TO full_name;",
     "ALTER TABLE users RENAME COLUMN full_name TO name;", [("RENAME-COLUMN", "warning", 2)]),
    ("ADD-COLUMN-NOT-NULL", "sqlite", "ALTER TABLE users ADD COLUMN age INTEGER NOT NULL;",
     "ALTER TABLE users DROP COLUMN age;", [("ADD-COLUMN-NOT-NULL", "error", 1)]),
    ("ADD-COLUMN-NOT-NULL safe", "postgresql",
     "ALTER TABLE users ADD COLUMN age integer NOT NULL DEFAULT 0;",
     "ALTER TABLE users DROP COLUMN age;", []),
    ("SET-NOT-NULL (rebuild)", "sqlite",
     "-- tighten\n" + REBUILD.format(email="TEXT NOT NULL", extra=""), "SELECT 1;",
     [("SET-NOT-NULL", "error", 3)]),
    # Django's sqlmigrate of AlterField(null=False) on SQLite writes the default into the
    # copy: no row can fail it (was an error).
    ("SET-NOT-NULL safe (rebuild, Django's coalesce)", "sqlite",
     'CREATE TABLE "new__users" ("id" INTEGER PRIMARY KEY, "email" TEXT NOT NULL, "name" TEXT);\n'
     'INSERT INTO "new__users" ("id", "email", "name") SELECT "id", coalesce("email", \'\'), '
     '"name" FROM "users";\nDROP TABLE "users";\nALTER TABLE "new__users" RENAME TO "users";',
     "SELECT 1;", []),
    ("SET-NOT-NULL (rebuild, coalesce with a column)", "sqlite",
     'CREATE TABLE "new__users" ("id" INTEGER PRIMARY KEY, "email" TEXT NOT NULL, "name" TEXT);\n'
     'INSERT INTO "new__users" ("id", "email", "name") SELECT "id", coalesce("email", "name"), '
     '"name" FROM "users";\nDROP TABLE "users";\nALTER TABLE "new__users" RENAME TO "users";',
     "SELECT 1;", [("SET-NOT-NULL", "error", 1)]),
    ("SET-NOT-NULL", "postgresql", "ALTER TABLE users ALTER COLUMN name SET NOT NULL;",
     "ALTER TABLE users ALTER COLUMN name DROP NOT NULL;", [("SET-NOT-NULL", "error", 1)]),
    ("COLUMN-TYPE-CHANGE (rebuild)", "sqlite", REBUILD.format(email="INTEGER", extra=""),
     "SELECT 1;", [("COLUMN-TYPE-CHANGE", "warning", 1)]),
    ("COLUMN-TYPE-CHANGE", "postgresql",
     "ALTER TABLE users ALTER COLUMN name TYPE varchar(50);",
     "ALTER TABLE users ALTER COLUMN name TYPE text;", [("COLUMN-TYPE-CHANGE", "warning", 1)]),
    ("ADD-UNIQUE", "sqlite", "CREATE UNIQUE INDEX u_email ON users(email);",
     "DROP INDEX u_email;", [("ADD-UNIQUE", "warning", 1)]),
    ("ADD-UNIQUE constraint", "postgresql",
     "ALTER TABLE users ADD CONSTRAINT u_email UNIQUE (email);",
     "ALTER TABLE users DROP CONSTRAINT u_email;", [("ADD-UNIQUE", "warning", 1)]),
    ("ADD-UNIQUE safe", "sqlite", "CREATE INDEX i_email ON users(email);",
     "DROP INDEX i_email;", []),
    ("ADD-CHECK (rebuild)", "sqlite",
     REBUILD.format(email="TEXT", extra=" CHECK (length(name) > 0)"), "SELECT 1;",
     [("ADD-CHECK", "warning", 1)]),
    ("ADD-CHECK", "postgresql",
     "ALTER TABLE users ADD CONSTRAINT c_name CHECK (length(name) > 0);",
     "ALTER TABLE users DROP CONSTRAINT c_name;", [("ADD-CHECK", "warning", 1)]),
    ("ADD-CHECK safe (NOT VALID)", "postgresql",
     "ALTER TABLE users ADD CONSTRAINT c_name CHECK (length(name) > 0) NOT VALID;",
     "ALTER TABLE users DROP CONSTRAINT c_name;", []),
    ("PG-INDEX-NOT-CONCURRENT", "postgresql", "CREATE INDEX i_name ON users (name);",
     "DROP INDEX i_name;", [("PG-INDEX-NOT-CONCURRENT", "warning", 1)]),
    ("PG-INDEX safe (new table)", "postgresql",
     "CREATE TABLE t (id bigint);\nCREATE INDEX i_t ON t (id);", "DROP TABLE t;", []),
    ("PG-CONCURRENTLY safe (a migration of its own)", "postgresql",
     "SET lock_timeout = '5s';\nCREATE INDEX CONCURRENTLY i_name ON users (name);\n"
     "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS i_email ON users (email);",
     "DROP INDEX i_name, i_email;", [("ADD-UNIQUE", "warning", 3)]),
    ("PG-CONCURRENTLY-IN-TRANSACTION (mixed)", "postgresql",
     "ALTER TABLE users ADD COLUMN nick text;\nCREATE INDEX CONCURRENTLY i_nick ON users (nick);",
     "DROP INDEX i_nick;\nALTER TABLE users DROP COLUMN nick;",
     [("PG-CONCURRENTLY-IN-TRANSACTION", "error", 2)]),
    ("PG-CONCURRENTLY-IN-TRANSACTION (unnamed)", "postgresql",
     "CREATE INDEX CONCURRENTLY ON users (name);", "SELECT 1;",
     [("PG-CONCURRENTLY-IN-TRANSACTION", "error", 1)]),
    ("PG-CONCURRENTLY-IN-TRANSACTION (DROP INDEX mixed)", "postgresql",
     "CREATE INDEX i_a ON users (name);\nDROP INDEX CONCURRENTLY i_a;", "SELECT 1;",
     [("PG-INDEX-NOT-CONCURRENT", "warning", 1), ("PG-CONCURRENTLY-IN-TRANSACTION", "error", 2)]),
    ("PG-CONCURRENTLY-IN-TRANSACTION (REINDEX mixed)", "postgresql",
     "REINDEX INDEX CONCURRENTLY users_pkey;\n"
     "UPDATE users SET name = lower(name) WHERE name <> lower(name);",
     "SELECT 1;", [("PG-CONCURRENTLY-IN-TRANSACTION", "error", 1)]),
    ("PG-CONCURRENTLY safe (one DROP INDEX)", "postgresql",
     "DROP INDEX CONCURRENTLY IF EXISTS users_email_idx;",
     "CREATE INDEX CONCURRENTLY users_email_idx ON users (email);", []),
    # Django's sqlmigrate of AddField(ForeignKey) on PostgreSQL: a column constraint, which
    # cannot be NOT VALID, so the table is scanned under ADD COLUMN's lock (was clean).
    ("ADD-FOREIGN-KEY (ADD COLUMN … REFERENCES)", "postgresql",
     'BEGIN;\n--\n-- Add field manager to users\n--\nALTER TABLE "users" ADD COLUMN "manager_id" '
     'bigint NULL CONSTRAINT "users_manager_id_3f0b_fk_users_id" REFERENCES "users"("id") '
     'DEFERRABLE INITIALLY DEFERRED; SET CONSTRAINTS "users_manager_id_3f0b_fk_users_id" '
     "IMMEDIATE;\nCOMMIT;",
     'ALTER TABLE "users" DROP COLUMN "manager_id" CASCADE;', [("ADD-FOREIGN-KEY", "warning", 5)]),
    ("ADD-FOREIGN-KEY safe (ADD COLUMN … REFERENCES, new table)", "postgresql",
     "CREATE TABLE t (id bigint);\nALTER TABLE t ADD COLUMN u bigint REFERENCES users(id);",
     "DROP TABLE t;", []),
    # Supabase: row level security on a live table with no policy hides every row from the
    # app (anon, authenticated) at once (was clean).
    ("PG-RLS-NO-POLICY", "postgresql", "alter table public.users\n  enable row level security;",
     "alter table users disable row level security;", [("PG-RLS-NO-POLICY", "warning", 1)]),
    ("PG-RLS safe (a policy in the migration)", "postgresql",
     "ALTER TABLE users ENABLE ROW LEVEL SECURITY;\n"
     'CREATE POLICY "read own" ON public.users FOR SELECT TO authenticated USING (true);',
     'DROP POLICY "read own" ON users;\nALTER TABLE users DISABLE ROW LEVEL SECURITY;', []),
    ("PG-RLS safe (a new table)", "postgresql",
     "CREATE TABLE t (id bigint);\nALTER TABLE t ENABLE ROW LEVEL SECURITY;", "DROP TABLE t;", []),
    ("NO-ROLLBACK", "sqlite", "-- new\nCREATE TABLE t (id INTEGER);", None,
     [("NO-ROLLBACK", "error", 2)]),
    ("ROLLBACK-LEAVES-OBJECTS", "sqlite",
     "CREATE TABLE a (id INTEGER);\nCREATE INDEX i_name ON users(name);\n"
     "ALTER TABLE users ADD COLUMN nick TEXT;",
     "DROP TABLE a;", [("ROLLBACK-LEAVES-OBJECTS", "error", 2),
                       ("ROLLBACK-LEAVES-OBJECTS", "error", 3)]),
    # pg_dump's (and Rails' structure.sql's) serial: a sequence OWNED BY the table's column
    # is dropped with the table (was "does not drop sequence t_id_seq", an error).
    ("ROLLBACK safe (a sequence OWNED BY its table)", "postgresql",
     "CREATE TABLE public.t (id bigint NOT NULL);\nCREATE SEQUENCE public.t_id_seq\n"
     "    START WITH 1\n    INCREMENT BY 1\n    NO MINVALUE\n    NO MAXVALUE\n    CACHE 1;\n"
     "ALTER SEQUENCE public.t_id_seq OWNED BY public.t.id;\n"
     "CREATE SEQUENCE t_no_seq OWNED BY t.id;", "DROP TABLE public.t;", []),
    ("ROLLBACK-LEAVES-OBJECTS (a sequence of its own)", "postgresql",
     "CREATE TABLE t (id bigint);\nCREATE SEQUENCE invoice_no;\n"
     "ALTER SEQUENCE invoice_no OWNED BY NONE;", "DROP TABLE t;",
     [("ROLLBACK-LEAVES-OBJECTS", "error", 2)]),
    # Django's reverse of AddField(ForeignKey): DROP COLUMN … CASCADE, which on PostgreSQL
    # drops the column's index too (was "does not drop index …", an error).
    ("ROLLBACK safe (an index goes with its column, PostgreSQL)", "postgresql",
     'ALTER TABLE "users" ADD COLUMN "manager_id" bigint NULL;\n'
     'CREATE INDEX "users_manager_id_0b6f5c1d" ON "users" ("manager_id");',
     'ALTER TABLE "users" DROP COLUMN "manager_id" CASCADE;',
     [("PG-INDEX-NOT-CONCURRENT", "warning", 2)]),
    ("ROLLBACK-LEAVES-OBJECTS (SQLite refuses to drop an indexed column)", "sqlite",
     "ALTER TABLE users ADD COLUMN manager_id INTEGER;\n"
     "CREATE INDEX users_manager_id ON users (manager_id);",
     "ALTER TABLE users DROP COLUMN manager_id;", [("ROLLBACK-LEAVES-OBJECTS", "error", 2)]),
    ("ROLLBACK safe", "postgresql",
     "CREATE TABLE a (id bigint);\nCREATE INDEX i_a ON a (id);\nCREATE VIEW v AS SELECT 1;",
     "DROP VIEW v;\nDROP TABLE a;", []),
]  # fmt: skip


def _lint(
    mdirs: MigrationDirs, dialect: str, sql: str, rollback: str | None
) -> list[tuple[str, str, int]]:
    mdirs.add("20250101_000100", "base", BASE_PG if dialect == "postgresql" else BASE_SQLITE,
              "DROP TABLE users;")  # fmt: skip
    mdirs.add("20250101_000200", "change", sql, rollback)
    mset = discover(mdirs.migrations, mdirs.rollback)
    report = lint_migrations(
        mset,
        ["20250101_000200_change.sql"],
        dialect=dialect,  # type: ignore[arg-type]
        session_lock_timeout=True,  # the tool's default: see test_lock_timeout_rule…
    )
    return [(f.rule, f.severity, f.line) for f in report.findings]


@pytest.mark.parametrize(("case", "dialect", "sql", "rollback", "expected"), CASES,
                         ids=[c[0] for c in CASES])  # fmt: skip
def test_rule(
    mdirs: MigrationDirs,
    case: str,
    dialect: str,
    sql: str,
    rollback: str | None,
    expected: list[tuple[str, str, int]],
) -> None:
    assert _lint(mdirs, dialect, sql, rollback) == expected


def test_lock_timeout_rule_follows_the_target(mdirs: MigrationDirs) -> None:
    """The tool's sessions carry lock_timeout = 10s unless the target says 0: then an ALTER
    without its own SET lock_timeout is flagged, once per file."""
    mdirs.add("20250101_000100", "base", BASE_PG, "DROP TABLE users;")
    mdirs.add("20250101_000200", "alter", "ALTER TABLE users ADD COLUMN a text;\n"
              "ALTER TABLE users ADD COLUMN b text;", "ALTER TABLE users DROP COLUMN b;\n"
              "ALTER TABLE users DROP COLUMN a;")  # fmt: skip
    guarded = "SET lock_timeout = '5s';\nALTER TABLE users ADD COLUMN c text;"
    mdirs.add("20250101_000300", "guarded", guarded, "ALTER TABLE users DROP COLUMN c;")
    url = "postgresql://nobody@127.0.0.1:1/none?lock_timeout=0"
    res = run_cli("--database", url, *mdirs.args(), "lint", "--all", "--json")
    assert res.code == 0, res.err  # warnings only
    found = [(f["file"][:20], f["rule"], f["line"]) for f in json.loads(res.out)["findings"]]
    # (each rollback file too, named: a rollback's ALTER or DROP waits for its lock as well)
    assert found == [
        ("20250101_000100_undo", "PG-LOCK-TIMEOUT", 1),
        ("20250101_000200_alte", "PG-LOCK-TIMEOUT", 1),
        ("20250101_000200_undo", "PG-LOCK-TIMEOUT", 1),
        ("20250101_000300_undo", "PG-LOCK-TIMEOUT", 1),
    ]
    res = run_cli("--database", url.split("?")[0], *mdirs.args(), "lint", "--all", "--json")
    assert json.loads(res.out)["findings"] == []


def test_lint_ignore_keeps_the_reason_and_the_exit_code_follows_errors(
    mdirs: MigrationDirs, sqlite_url: str
) -> None:
    mdirs.add("20250101_000100", "base", BASE_SQLITE, "DROP TABLE users;")
    mdirs.add(
        "20250101_000200",
        "drop_name",
        "-- lint:ignore DROP-COLUMN the app stopped reading it in release 2.3\n"
        "ALTER TABLE users DROP COLUMN name;\n"
        "-- lint:ignore RENAME-COLUMN\n"
        "ALTER TABLE users RENAME COLUMN email TO mail;",
        "ALTER TABLE users RENAME COLUMN mail TO email;\nALTER TABLE users ADD COLUMN name TEXT;",
    )
    base = ["--database", sqlite_url, *mdirs.args()]
    res = run_cli(*base, "lint", "--json")  # pending: both files
    assert res.code == 0, res.err
    data = json.loads(res.out)
    assert data["ok"] is True and data["checked"] == [
        "20250101_000100_base.sql",
        "20250101_000200_drop_name.sql",
    ]
    found = [(f["rule"], f["line"], f["ignored"], f["reason"]) for f in data["findings"]]
    assert found == [
        ("DROP-COLUMN", 2, True, "the app stopped reading it in release 2.3"),
        ("IGNORE-WITHOUT-REASON", 4, False, None),
        ("RENAME-COLUMN", 4, False, None),
    ]
    res = run_cli(*base, "lint", "20250101_000200")
    assert "accepted: the app stopped reading it in release 2.3" in res.out
    # An error that is not accepted: exit 1, with why and what to do instead.
    mdirs.add("20250101_000300", "drop_users", "DROP TABLE users;", None)
    res = run_cli(*base, "lint", "--all")
    assert res.code == 1
    assert "20250101_000300_drop_users.sql:1: error [DROP-TABLE]" in res.out
    assert "20250101_000300_drop_users.sql:1: error [NO-ROLLBACK]" in res.out
    assert "instead: expand/contract" in res.out and "2 error(s)" in res.err


def test_a_lint_ignore_that_accepts_nothing_is_said(mdirs: MigrationDirs) -> None:
    """A mistyped rule id, a blank line before the statement, a directive after the
    statement: each left its finding standing without a word, and the operator believed it
    accepted. `RULE, RULE` (a space after the comma) accepted only the first, the second
    rule id becoming part of the reason."""
    mdirs.add("20250101_000100", "base",
              BASE_SQLITE + "\nCREATE TABLE logs (id INTEGER);\nCREATE TABLE tags (id INTEGER);",
              "DROP TABLE tags;\nDROP TABLE logs;\nDROP TABLE users;")  # fmt: skip
    mdirs.add(
        "20250101_000200",
        "cleanup",
        "-- lint:ignore DROP_TABLE logs are archived\n"  # 1
        "DROP TABLE logs;\n"
        "-- lint:ignore DROP-TABLE tags are unused\n"  # 3
        "\n"
        "DROP TABLE tags;\n"  # 5
        "UPDATE users SET email = lower(email); -- lint:ignore UPDATE-ALL-ROWS 40 rows\n"
        "-- lint:ignore DELETE-ALL-ROWS, UPDATE-ALL-ROWS the school has 40 users\n"  # 7
        "UPDATE users SET name = trim(name);\n"
        "-- lint:ignore DROP-COLUMN\n",  # 9: the end of the file
        "SELECT 1;",
    )
    mset = discover(mdirs.migrations, mdirs.rollback)
    report = lint_migrations(mset, ["20250101_000200_cleanup.sql"])
    got = [
        (f.line, f.rule, f.reason) for f in report.findings if f.rule != "ROLLBACK-LEAVES-OBJECTS"
    ]
    assert got == [
        (1, "IGNORE-UNMATCHED", ""),
        (2, "DROP-TABLE", ""),
        (3, "IGNORE-UNMATCHED", ""),
        (5, "DROP-TABLE", ""),
        (6, "IGNORE-UNMATCHED", ""),
        (6, "UPDATE-ALL-ROWS", ""),
        (8, "UPDATE-ALL-ROWS", "the school has 40 users"),
        (9, "IGNORE-UNMATCHED", ""),
    ], got
    why = {f.line: f.why for f in report.findings if f.rule == "IGNORE-UNMATCHED"}
    assert "names no rule of the lint (did you mean DROP-TABLE?)" in why[1]
    assert "followed by a blank line" in why[3] and "after a statement" in why[6]
    assert "end of the file" in why[9]
    assert report.ok is False and len(report.errors) == 2, "warnings: the exit code is unchanged"


def test_row_level_security_counts_the_policies_of_earlier_migrations(
    mdirs: MigrationDirs,
) -> None:
    """A policy made by an earlier migration counts (linted or not); one dropped since does
    not."""
    mdirs.add("20250101_000100", "base", BASE_PG + '\nCREATE POLICY "p" ON users USING (true);',
              "DROP TABLE users;")  # fmt: skip
    mdirs.add("20250101_000200", "rls", "ALTER TABLE users ENABLE ROW LEVEL SECURITY;",
              "ALTER TABLE users DISABLE ROW LEVEL SECURITY;")  # fmt: skip
    mdirs.add("20250101_000300", "no_policy",
              'DROP POLICY IF EXISTS "p" ON public.users;\n'
              "ALTER TABLE users ENABLE ROW LEVEL SECURITY;", "SELECT 1;")  # fmt: skip
    # Dropping the last policy of a table with row level security on does the same; a
    # policy replaced in the same migration does not.
    mdirs.add("20250101_000400", "policy", 'CREATE POLICY "q" ON users USING (true);',
              'DROP POLICY "q" ON users;')  # fmt: skip
    mdirs.add("20250101_000500", "replace",
              'DROP POLICY IF EXISTS "q" ON users;\nCREATE POLICY "q" ON users USING (false);',
              "SELECT 1;")  # fmt: skip
    mdirs.add("20250101_000600", "drop_last", 'DROP POLICY "q" ON public.users;', "SELECT 1;")
    mset = discover(mdirs.migrations, mdirs.rollback)
    some = ["20250101_000200_rls.sql", "20250101_000300_no_policy.sql",
            "20250101_000500_replace.sql", "20250101_000600_drop_last.sql"]  # fmt: skip
    for only in (None, some):
        report = lint_migrations(mset, only, dialect="postgresql", session_lock_timeout=True)
        got = [(f.file[16:], f.line) for f in report.findings if f.rule == "PG-RLS-NO-POLICY"]
        assert got == [("no_policy.sql", 2), ("drop_last.sql", 1)], got


DJANGO_KELAS = (
    'CREATE TABLE "app_kelas" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, "nama" '
    'varchar(50) NOT NULL);\nCREATE TABLE "app_siswa" ("id" integer NOT NULL PRIMARY KEY '
    'AUTOINCREMENT, "kelas_id" bigint NOT NULL REFERENCES "app_kelas" ("id") DEFERRABLE '
    "INITIALLY DEFERRED);\nINSERT INTO app_kelas VALUES (1, '7A');\n"
    "INSERT INTO app_siswa VALUES (1, 1);"
)
# Django's sqlmigrate of AlterField on SQLite: a rebuild with no PRAGMA (Django turns the
# checks off on its own connection).
DJANGO_REBUILD = """BEGIN;
--
-- Alter field nama on kelas
--
CREATE TABLE "new__app_kelas" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT,
 "nama" varchar(100) NOT NULL);
INSERT INTO "new__app_kelas" ("id", "nama") SELECT "id", "nama" FROM "app_kelas";
DROP TABLE "app_kelas";
ALTER TABLE "new__app_kelas" RENAME TO "app_kelas";
COMMIT;"""


def test_a_sqlite_rebuild_with_foreign_keys_on_is_an_error(
    mdirs: MigrationDirs, sqlite_url: str
) -> None:
    """Django's rebuild of a table others reference, run as written with foreign keys on:
    the DROP's implicit DELETE leaves the children's deferred references counted, and `up`
    fails at its COMMIT once they hold rows (a CASCADE child would lose its rows). The lint
    was clean; with PRAGMA foreign_keys = OFF first it is, and `up` runs."""
    mdirs.add("20250101_000100", "initial", DJANGO_KELAS,
              'DROP TABLE "app_siswa";\nDROP TABLE "app_kelas";')  # fmt: skip
    rebuild = mdirs.add("20250101_000200", "nama", DJANGO_REBUILD, "SELECT 1;")
    mset = discover(mdirs.migrations, mdirs.rollback)
    report = lint_migrations(mset, ["20250101_000200_nama.sql"])
    found = [(f.rule, f.line) for f in report.findings]
    assert found == [("SQLITE-REBUILD-FOREIGN-KEYS-ON", 8)], found
    assert "app_siswa(kelas_id) ON DELETE NO ACTION: the migration fails" in report.findings[0].why
    report = lint_migrations(mset, ["20250101_000200_nama.sql"], d1=True)
    assert "SQLITE-REBUILD-FOREIGN-KEYS-ON" not in {f.rule for f in report.findings}, "D1's own"
    base = ["--database", sqlite_url, *mdirs.args()]
    res = run_cli(*base, "up", "--no-backup")
    assert res.code == 1 and "FOREIGN KEY constraint failed (at COMMIT)" in res.err, res.err
    rebuild.write_text("PRAGMA foreign_keys = OFF;\n" + DJANGO_REBUILD)
    report = lint_migrations(
        discover(mdirs.migrations, mdirs.rollback), ["20250101_000200_nama.sql"]
    )
    assert report.findings == ()
    assert run_cli(*base, "up", "--no-backup").code == 0


def test_school_migrations_are_clean_in_both_dialects() -> None:
    from pathlib import Path

    from tests.fixtures_core import REPO

    sets = [
        ("migrations", "rollback", "sqlite"),
        ("migrations-analytics", "rollback-analytics", "postgresql"),
    ]
    for mig, rb, dialect in sets:
        mset = discover(Path(REPO / mig), Path(REPO / rb))
        # As the targets run them: the tool's sessions on PostgreSQL carry lock_timeout = 10s.
        timeout = dialect == "postgresql"
        report = lint_migrations(mset, dialect=dialect, session_lock_timeout=timeout)  # type: ignore[arg-type]
        assert report.findings == () and len(report.checked) == len(mset.migrations)
    # On a target that turns it off, the analytics rollbacks' DROPs wait for their locks.
    mset = discover(Path(REPO / sets[1][0]), Path(REPO / sets[1][1]))
    found = lint_migrations(mset, dialect="postgresql").findings
    assert {(f.rule, f.file) for f in found} == {
        ("PG-LOCK-TIMEOUT", m.rollback.filename) for m in mset.migrations if m.rollback
    }


D1_PARENT = (
    "CREATE TABLE users (id INTEGER PRIMARY KEY);\n"
    "CREATE TABLE grades (id INTEGER PRIMARY KEY, "
    "user_id INTEGER REFERENCES users(id) ON DELETE RESTRICT);\n"
    "CREATE TABLE notes (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users(id));"
)


def test_d1_rules(mdirs: MigrationDirs) -> None:
    """PRAGMA foreign_keys = ON is not flagged (= OFF is); dropping a parent whose children
    were dropped earlier in the same migration is not flagged."""
    mdirs.add("20250101_000100", "base", D1_PARENT, "DROP TABLE notes;\nDROP TABLE grades;\n"
              "DROP TABLE users;")  # fmt: skip
    mdirs.add(
        "20250101_000200",
        "drop_all",
        "PRAGMA foreign_keys = ON;\nPRAGMA foreign_keys = OFF;\n"
        "-- lint:ignore DROP-TABLE archived in 2024\nDROP TABLE notes;\n"
        "-- lint:ignore DROP-TABLE archived in 2024\nDROP TABLE grades;\n"
        "-- lint:ignore DROP-TABLE archived in 2024\nDROP TABLE users;",
        D1_PARENT,
    )
    mset = discover(mdirs.migrations, mdirs.rollback)
    report = lint_migrations(mset, ["20250101_000200_drop_all.sql"], d1=True)
    active = [(f.rule, f.line) for f in report.findings if f.active]
    assert active == [("D1-PRAGMA-FK", 2)]
    assert report.rule_sets == ("general", "sqlite", "d1")


def test_d1_restrict_children_with_rows_need_the_live_database(
    d1: D1Target, mdirs: MigrationDirs
) -> None:
    mdirs.add("20250101_000100", "base", D1_PARENT, "DROP TABLE notes;\nDROP TABLE grades;\n"
              "DROP TABLE users;")  # fmt: skip
    base = ["--database", d1.url, *mdirs.args()]
    assert run_cli(*base, "up", "--no-backup").code == 0
    mdirs.add("20250101_000200", "rebuild_users", "DROP TABLE users;", D1_PARENT.split("\n")[0])
    res = run_cli(*base, "lint", "--json")
    data = json.loads(res.out)
    assert [(f["rule"], f["line"]) for f in data["findings"]] == [("DROP-TABLE", 1)]
    assert data["notes"] == [], "empty children: nothing to report"
    d1.server.sql(d1.db, "INSERT INTO users (id) VALUES (1)")
    d1.server.sql(d1.db, "INSERT INTO grades (id, user_id) VALUES (1, 1)")
    d1.server.sql(d1.db, "INSERT INTO notes (id, user_id) VALUES (1, 1)")
    res = run_cli(*base, "lint", "--json")
    assert res.code == 1
    found = [(f["rule"], f["line"], f["why"]) for f in json.loads(res.out)["findings"]]
    assert [(r, ln) for r, ln, _ in found] == [("D1-RESTRICT-DROP", 1), ("DROP-TABLE", 1)]
    assert "grades(user_id) RESTRICT" in found[0][2] and "notes(user_id) NO ACTION" in found[0][2]
    # Without the live database the rule says it could not look.
    report = lint_migrations(discover(mdirs.migrations, mdirs.rollback), d1=True)
    assert [f.rule for f in report.findings] == ["DROP-TABLE"]
    assert len(report.notes) == 1 and "needs the live database" in report.notes[0]


PRISMA_REBUILD = """\
-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_users" ("id" INTEGER NOT NULL PRIMARY KEY, "name" TEXT);
INSERT INTO "new_users" ("id") SELECT "id" FROM "users";
DROP TABLE "users";
ALTER TABLE "new_users" RENAME TO "users";
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;
"""


def test_d1_rebuild_under_deferred_foreign_keys(d1: D1Target, mdirs: MigrationDirs) -> None:
    """After PRAGMA defer_foreign_keys = on SQLite defers RESTRICT too, and counts the child
    rows the DROP orphaned until `= off` clears the count: Prisma's rebuild (it ends with
    `= off`) of a parent whose RESTRICT children hold rows runs on D1, and was refused as
    "DROP TABLE users fails on D1"; the same rebuild without the `= off` fails on D1 at its
    end, and was clean."""
    mdirs.add("20250101_000100", "base", D1_PARENT, "DROP TABLE notes;\nDROP TABLE grades;\n"
              "DROP TABLE users;")  # fmt: skip
    base = ["--database", d1.url, *mdirs.args()]
    assert run_cli(*base, "up", "--no-backup").code == 0
    d1.server.sql(d1.db, "INSERT INTO users (id) VALUES (1)")
    d1.server.sql(d1.db, "INSERT INTO grades (id, user_id) VALUES (1, 1)")
    d1.server.sql(d1.db, "INSERT INTO notes (id, user_id) VALUES (1, 1)")
    rebuild = mdirs.add("20250101_000200", "name", PRISMA_REBUILD, "SELECT 1;")

    def d1_findings() -> list[tuple[str, int]]:
        res = run_cli(*base, "lint", "--json")
        found = json.loads(res.out)["findings"]
        return [(f["rule"], f["line"]) for f in found if f["rule"].startswith("D1-")]

    # (no D1-PRAGMA-FK either: its `foreign_keys=OFF` comes after `defer_foreign_keys=ON`,
    # the advice that warning gives; it was said on every Prisma migration for D1)
    assert d1_findings() == []
    # Without the final `= off`: refused at the end of the batch, named at the DROP.
    rebuild.write_text(PRISMA_REBUILD.replace("PRAGMA defer_foreign_keys=OFF;\n", ""))
    assert d1_findings() == [("D1-RESTRICT-DROP", 6)]
    res = run_cli(*base, "up", "--no-backup")
    assert res.code == 1 and "FOREIGN KEY constraint failed" in res.err, res.err
    rebuild.write_text(PRISMA_REBUILD)
    assert run_cli(*base, "up", "--no-backup").code == 0, "as the lint says: it runs on D1"
    assert d1.sql("SELECT * FROM grades") == [(1, 1)]


def test_up_shows_lint_and_an_enforcing_target_refuses_unless_accepted(
    mdirs: MigrationDirs, tmp_path: object
) -> None:
    from pathlib import Path

    root = Path(str(tmp_path))
    mdirs.add("20250101_000100", "base", BASE_SQLITE, "DROP TABLE users;")
    mdirs.add("20250101_000200", "drop_name", "ALTER TABLE users DROP COLUMN name;", "SELECT 1;")
    config = root / "malnu.toml"
    config.write_text(
        "[targets.staging]\n"
        f'url = "sqlite:///{root}/staging.db"\n'
        f'migrations_dir = "{mdirs.migrations}"\nrollback_dir = "{mdirs.rollback}"\n'
        "[targets.prod]\n"
        f'url = "sqlite:///{root}/prod.db"\nlint = "enforce"\n'
        f'migrations_dir = "{mdirs.migrations}"\nrollback_dir = "{mdirs.rollback}"\n',
        encoding="utf-8",
    )
    base = ["--config", str(config)]
    # Default: up shows the findings and goes on.
    res = run_cli(*base, "--target", "staging", "up", "--no-backup")
    assert res.code == 0, res.err
    assert "lint: 20250101_000200_drop_name.sql:1: error [DROP-COLUMN]" in res.err
    # lint = "enforce": refused, nothing applied.
    res = run_cli(*base, "--target", "prod", "up", "--no-backup")
    assert res.code == 1 and 'lint = "enforce"' in res.err, res.err
    status = json.loads(run_cli(*base, "--target", "prod", "status", "--json").out)
    assert status["counts"]["applied"] == 0
    # The hint's command names prod: it said `up --accept-lint`, which typed as such ran on
    # the default target (staging here), prod's gate still shut.
    hint = res.err.split("or run `malnu-tui ", 1)[1].split("`", 1)[0].split()
    assert hint == ["up", "--accept-lint", "--config", str(config), "--target", "prod"], hint
    res = run_cli(*hint, "--no-backup")
    assert res.code == 0, res.err
    log = json.loads(run_cli(*base, "--target", "prod", "log", "--json").out)
    accepted = [e for e in log if e["action"] == "accept-lint"]
    assert (
        len(accepted) == 1
        and "DROP-COLUMN at 20250101_000200_drop_name.sql:1" in (accepted[0]["detail"])
    )


def test_plan_json_carries_the_lint(mdirs: MigrationDirs, sqlite_url: str) -> None:
    mdirs.add("20250101_000100", "base", BASE_SQLITE, None)
    res = run_cli("--database", sqlite_url, *mdirs.args(), "plan", "--json")
    assert res.code == 0, res.err
    lint = json.loads(res.out)["lint"]
    assert [(f["rule"], f["line"]) for f in lint["findings"]] == [("NO-ROLLBACK", 1)]
    assert (
        "lint: 20250101_000100_base.sql:1: error [NO-ROLLBACK]"
        in run_cli("--database", sqlite_url, *mdirs.args(), "plan").err
    )


def test_a_comment_only_migration_needs_no_rollback(mdirs: MigrationDirs) -> None:
    mdirs.add("20250101_000100", "noop", "-- nothing to do here any more", None)
    report = lint_migrations(discover(mdirs.migrations, mdirs.rollback))
    assert report.findings == () and report.checked == ("20250101_000100_noop.sql",)


def test_a_plain_index_on_a_small_live_postgresql_table_is_a_note(
    pg_url: str, mdirs: MigrationDirs
) -> None:
    mdirs.add("20250101_000100", "base", BASE_PG, "DROP TABLE users;")
    base = ["--database", pg_url, *mdirs.args()]
    assert run_cli(*base, "up", "--no-backup").code == 0
    mdirs.add("20250101_000200", "index", "CREATE INDEX i_name ON users (name);",
              "DROP INDEX i_name;")  # fmt: skip
    live = json.loads(run_cli(*base, "lint", "--json").out)["findings"]
    assert [(f["rule"], f["severity"]) for f in live] == [("PG-INDEX-NOT-CONCURRENT", "info")]
    assert "about 0 rows live now" in live[0]["why"]
    files_only = json.loads(run_cli(*base, "lint", "--all", "--json").out)["findings"]
    assert [(f["rule"], f["severity"]) for f in files_only] == [
        ("PG-INDEX-NOT-CONCURRENT", "warning")
    ]


def _sqlite_target(mdirs: MigrationDirs, tmp_path: Path) -> tuple[Target, SQLiteBackend]:
    """A target on ``x.db`` in ``tmp_path`` with the test's migrations, and its backend."""
    from malnu_tui.engine.backends.sqlite import SQLiteBackend
    from malnu_tui.engine.config import load_settings, resolve_target

    target = resolve_target(
        load_settings(),
        database=f"sqlite:///{tmp_path / 'x.db'}",
        migrations_dir=str(mdirs.migrations),
        rollback_dir=str(mdirs.rollback),
    )
    return target, SQLiteBackend(tmp_path / "x.db")


def test_the_lint_cache_gives_the_same_report_and_follows_every_file_edit(
    mdirs: MigrationDirs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reports are cached in the user cache dir by the sha256 of every input: a warm lint
    reads the stored report (the rules do not run); an edit of a migration or of its rollback
    file, or a changed live schema, is a new key; MALNU_LINT_CACHE=0 turns it off."""
    from malnu_tui.engine.lint import cache, core
    from malnu_tui.engine.lint.target import lint_target

    mdirs.add("20250101_000100", "base", BASE_SQLITE, "DROP TABLE users;")
    change = mdirs.add("20250101_000200", "change", "ALTER TABLE users DROP COLUMN name;", "")
    undo = mdirs.rollback / "20250101_000200_undo_change.sql"
    target, db = _sqlite_target(mdirs, tmp_path)

    def lint() -> list[tuple[str, str, int]]:
        report = lint_target(target, discover(mdirs.migrations, mdirs.rollback), None, db,
                             from_live_schema=True)  # fmt: skip
        return [(f.rule, f.severity, f.line) for f in report.findings]

    cold = lint()
    assert cold == [("DROP-COLUMN", "error", 1)]
    assert len(list(cache.cache_dir().glob("*.json"))) == 1
    real = core.lint_migrations

    def no_rules(*args: object, **kwargs: object) -> object:
        raise AssertionError("the rules ran although the inputs are unchanged")

    monkeypatch.setattr(core, "lint_migrations", no_rules)
    assert lint() == cold  # warm: read from the cache
    monkeypatch.setattr(core, "lint_migrations", real)
    undo.write_text("ALTER TABLE users ADD COLUMN name TEXT;\n", encoding="utf-8")
    assert lint() == [("DROP-COLUMN", "warning", 1)]  # the rollback re-adds it now…
    assert len(list(cache.cache_dir().glob("*.json"))) == 2  # …from a new entry
    change.write_text("ALTER TABLE users ADD COLUMN nick TEXT;\n", encoding="utf-8")
    undo.write_text("SELECT 1;\n", encoding="utf-8")
    assert lint() == [("ROLLBACK-LEAVES-OBJECTS", "error", 1)]
    db.conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, nick TEXT)")  # live schema
    assert len(lint()) == 1 and len(list(cache.cache_dir().glob("*.json"))) == 4
    monkeypatch.setenv("MALNU_LINT_CACHE", "0")
    change.write_text("DROP TABLE users;\n", encoding="utf-8")
    assert [r for r, _f, _l in lint()] == ["DROP-TABLE"]
    assert len(list(cache.cache_dir().glob("*.json"))) == 4  # nothing stored
    db.close()


def test_the_lint_cache_key_covers_every_engine_module_a_lint_runs_through(
    mdirs: MigrationDirs, tmp_path: Path
) -> None:
    """The key hashes the code a report comes from. It listed the lint's modules and four
    readers by name; the SQLite replay's templates and literals (sqltemplate.py,
    sqlite_sql.py) and a large file's block reader were not among them, so after an upgrade
    that changed one, a report made by the older code was read back."""
    import sys

    from malnu_tui.engine.lint import cache
    from malnu_tui.engine.lint.target import lint_target

    mdirs.add("20250101_000100", "base", BASE_SQLITE, "DROP TABLE users;")
    target, db = _sqlite_target(mdirs, tmp_path)
    lint_target(target, discover(mdirs.migrations, mdirs.rollback), None, db,
                from_live_schema=True)  # fmt: skip
    db.close()
    loaded = {
        Path(m.__file__).resolve()
        for name, m in list(sys.modules.items())
        if name.startswith("malnu_tui.engine") and getattr(m, "__file__", None)
    }
    assert "malnu_tui.engine.sqltemplate" in sys.modules
    assert sorted(str(f) for f in loaded - set(cache._code_files())) == []
