"""The lint's gaps found in session 22, putting migration files as real projects write them
through it (the expand/contract follow-ups squawk and strong_migrations recommend, the timeouts
a file sets and resets): each shown on a real PostgreSQL cluster, with what it really locks, and
a counter-example beside it."""

from __future__ import annotations

import json
import sqlite3

import psycopg
import pytest

from malnu_tui.engine.files import discover
from malnu_tui.engine.lint.core import lint_migrations
from tests.fixtures_core import MigrationDirs, run_cli
from tests.test_lint_realworld2 import PG_BASE, _waits

# Committed before the measurements: the NOT VALID constraints a later migration validates.
NOT_VALID = (
    "ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id) "
    "NOT VALID;\nALTER TABLE users ADD CONSTRAINT name_nn CHECK (name IS NOT NULL) NOT VALID;\n"
    "CREATE INDEX users_name ON users (name);"
)
# ALTER TABLE actions that take SHARE UPDATE EXCLUSIVE (PostgreSQL's ALTER TABLE page; each
# measured below): the app's reads and writes never wait for it, nor queue behind it.
WEAK = [
    "ALTER TABLE orders VALIDATE CONSTRAINT orders_user_fk",  # and ROW SHARE on users
    "ALTER TABLE ONLY public.users VALIDATE CONSTRAINT name_nn",
    "ALTER TABLE users ALTER COLUMN name SET STATISTICS 500",
    "ALTER TABLE users ALTER name SET (n_distinct = 100)",
    "ALTER TABLE users SET (autovacuum_vacuum_scale_factor = 0.01, fillfactor = 90)",
    "ALTER TABLE users CLUSTER ON users_name, SET (toast.autovacuum_enabled = false)",
    "ALTER TABLE users SET WITHOUT CLUSTER",
]
STRONG = [
    "ALTER TABLE users ALTER COLUMN name SET DEFAULT 'x'",  # ACCESS EXCLUSIVE
    "ALTER TABLE users VALIDATE CONSTRAINT name_nn, ALTER name SET DEFAULT 'x'",
    "ALTER TABLE users SET (autovacuum_enabled = false, user_catalog_table = false)",
]
# A write's ROW EXCLUSIVE conflicts with more than a read's ACCESS SHARE: what no write waits
# for, no read does.
APP = ["UPDATE users SET name = name WHERE id = 1", "UPDATE orders SET user_id = user_id"]


def test_a_validate_constraint_or_statistics_change_is_no_lock_the_app_waits_for(
    pg_url: str, mdirs: MigrationDirs
) -> None:
    # The second half of NOT VALID + VALIDATE CONSTRAINT (squawk's and strong_migrations'
    # advice), in a migration of its own, was PG-LOCK-TIMEOUT's "every query of the table
    # queues behind it" on a target without lock_timeout (and, once per file, hid a later
    # statement's true one): VALIDATE takes SHARE UPDATE EXCLUSIVE, which no SELECT, INSERT,
    # UPDATE or DELETE waits for. So do SET STATISTICS, autovacuum / fillfactor storage
    # parameters and CLUSTER ON. A file of those is clean; one with any other action is not.
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(PG_BASE)
        conn.execute(NOT_VALID)
    for st in WEAK:
        assert not any(_waits(pg_url, [st], app) for app in APP), st
    for st in STRONG:
        assert _waits(pg_url, [st], APP[0]), st

    mdirs.add("20250101_000100", "base", f"{PG_BASE}\n{NOT_VALID}", "DROP TABLE orders, users;")
    for i, st in enumerate(WEAK + STRONG, 2):
        mdirs.add(f"20250101_{i:04d}00", f"step{i}", f"{st};", "SELECT 1;")
    mset = discover(mdirs.migrations, mdirs.rollback, "postgresql")
    found = lint_migrations(mset, dialect="postgresql", session_lock_timeout=False).findings
    flagged = [
        f.file[16:-4] for f in found if f.rule == "PG-LOCK-TIMEOUT" and "_undo_" not in f.file
    ]
    assert flagged == [f"step{i}" for i in range(len(WEAK) + 2, len(WEAK) + len(STRONG) + 2)]


def test_a_reset_lock_timeout_takes_the_targets_away(pg_url: str, mdirs: MigrationDirs) -> None:
    # The tool sets lock_timeout for its session (10s), so a file's `RESET lock_timeout` (or
    # `SET lock_timeout TO DEFAULT`, `RESET ALL`) puts back the server's default, none, not
    # the 10s: an ALTER after it waits behind any long query, every later query queued behind
    # it. PG-LOCK-TIMEOUT took the RESET for a timeout set (or the file's earlier SET as still
    # holding), and was silent. A RESET at the end of the file, as real files end, is clean.
    mdirs.add("20250101_000100", "base", PG_BASE, "DROP TABLE orders, users;")
    files = {
        "reset": "CREATE TABLE had AS SELECT current_setting('lock_timeout') AS lt;\n"
        "SET lock_timeout = '5s';\nALTER TABLE users ADD a int;\nRESET lock_timeout;\n"
        "CREATE TABLE seen AS SELECT current_setting('lock_timeout') AS lt;\n"
        "ALTER TABLE orders ADD b int;",
        "to_default": "SET lock_timeout TO DEFAULT;\nALTER TABLE users ADD c int;",
        "reset_all": "RESET ALL;\nALTER TABLE users ADD d int;",
        "at_the_end": "SET lock_timeout = '5s';\nALTER TABLE users ADD e int;\n"
        "RESET statement_timeout;\nRESET lock_timeout;",
    }
    for i, (name, sql) in enumerate(files.items(), 2):
        mdirs.add(f"20250101_000{i}00", name, sql, "SELECT 1;")
    r = run_cli("--database", pg_url, *mdirs.args(), "up", "--no-backup", "--accept-lint")
    assert r.code == 0, r.err
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT lt FROM had").fetchone() == ("10s",)  # the tool's
        assert conn.execute("SELECT lt FROM seen").fetchone() == ("0",)  # the server's
    mset = discover(mdirs.migrations, mdirs.rollback, "postgresql")
    found = lint_migrations(mset, dialect="postgresql", session_lock_timeout=True).findings
    found = [f for f in found if f.rule == "PG-LOCK-TIMEOUT"]
    assert [(f.rule, f.file[16:-4], f.line) for f in found] == [
        ("PG-LOCK-TIMEOUT", "reset", 6),
        ("PG-LOCK-TIMEOUT", "to_default", 2),
        ("PG-LOCK-TIMEOUT", "reset_all", 2),
    ]
    assert "the RESET at line 4 puts back the server's default" in found[0].why
    assert "the SET … TO DEFAULT at line 1" in found[1].why


# cpc/openasip's HDB migration to version 6 (issue #212, "HDB Database has invalid foreign key
# constrains"), reproduced with two of its columns: the old table renamed out of the way first,
# then made again and filled from the copy. TypeORM's SQLite down migrations are written so.
OPENASIP_BASE = """\
CREATE TABLE operation_implementation (id INTEGER PRIMARY KEY, name TEXT NOT NULL,
    default_vhdl TEXT);
CREATE TABLE operation_implementation_variable (id INTEGER PRIMARY KEY,
    operation INTEGER REFERENCES operation_implementation (id) ON DELETE CASCADE, name TEXT);
INSERT INTO operation_implementation VALUES (1, 'add', '');
INSERT INTO operation_implementation_variable VALUES (1, 1, 'a');
"""
OPENASIP_V6 = """\
ALTER TABLE operation_implementation RENAME TO operation_implementation_old;
CREATE TABLE operation_implementation (id INTEGER PRIMARY KEY, name TEXT NOT NULL,
    initial_vhdl TEXT);
INSERT INTO operation_implementation (id, name, initial_vhdl)
    SELECT id, name, default_vhdl FROM operation_implementation_old;
DROP TABLE operation_implementation_old;
"""
# The child rebuilt in sqlite.org's order, its new copy referencing the parent made again.
OPENASIP_CHILD_REBUILD = (
    "CREATE TABLE new_var (id INTEGER PRIMARY KEY, operation INTEGER REFERENCES "
    "operation_implementation (id) ON DELETE CASCADE, name TEXT);\n"
    "INSERT INTO new_var (id, operation, name) SELECT id, operation, name FROM "
    "operation_implementation_variable;\nDROP TABLE operation_implementation_variable;\n"
    "ALTER TABLE new_var RENAME TO operation_implementation_variable;\n"
)


def test_a_rebuild_that_renames_the_old_table_first(sqlite_url: str, mdirs: MigrationDirs) -> None:
    # SQLite 3.26+ rewrites the other tables' REFERENCES to a renamed table (foreign keys off
    # or not): the child now references operation_implementation_old, which the migration
    # drops, so every later INSERT of a child fails; with foreign keys on (D1 always; a file
    # without the pragma, as this one) the DROP first deletes the child rows. The lint said
    # RENAME-TABLE and DROP-TABLE warnings (a rename, a drop of a copy made aside), and `up`
    # said ok. (With PRAGMA foreign_keys = OFF, `up`'s foreign_key_check refuses it.)
    mdirs.add("20250101_000100", "base", OPENASIP_BASE, "DROP TABLE operation_implementation;")
    mdirs.add("20250101_000200", "v6", OPENASIP_V6, "SELECT 1;")
    r = run_cli("--database", sqlite_url, *mdirs.args(), "lint", "--all", "--json")
    assert r.code == 1, r.out + r.err
    found = [(f["rule"], f["severity"], f["line"], f["why"])
             for f in json.loads(r.out)["findings"] if f["file"].endswith("v6.sql")]  # fmt: skip
    assert found[0][:3] == ("SQLITE-RENAME-MOVES-KEYS", "error", 1), found
    assert "the foreign keys of operation_implementation_variable(operation)" in found[0][3]
    assert "no such table: main.operation_implementation_old" in found[0][3]
    r = run_cli("--database", sqlite_url, *mdirs.args(), "up", "--no-backup", "--accept-lint")
    assert r.code == 0, r.err
    db = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"))
    assert db.execute("SELECT count(*) FROM operation_implementation_variable").fetchone() == (0,)
    db.execute("PRAGMA foreign_keys = ON")  # as the app's connections and D1 run
    with pytest.raises(sqlite3.OperationalError, match=r"no such table: main\.operation_impl"):
        db.execute("INSERT INTO operation_implementation_variable VALUES (2, 1, 'b')")
    db.close()

    # sqlite.org's order (Prisma's, Drizzle's), a plain rename, and the old order with the
    # references kept (foreign keys off, legacy_alter_table on, on a SQLite file) are clean.
    safe = {
        "new_first": "PRAGMA foreign_keys = OFF;\nCREATE TABLE new_oi (id INTEGER PRIMARY KEY, "
        "name TEXT NOT NULL, initial_vhdl TEXT);\nINSERT INTO new_oi SELECT id, name, "
        "default_vhdl FROM operation_implementation;\nDROP TABLE operation_implementation;\n"
        "ALTER TABLE new_oi RENAME TO operation_implementation;",
        "renamed": "ALTER TABLE operation_implementation RENAME TO operations;",
        "legacy": "PRAGMA foreign_keys = OFF;\nPRAGMA legacy_alter_table = ON;\n" + OPENASIP_V6,
    }
    for name, sql in safe.items():
        d = MigrationDirs(mdirs.root / name)
        d.add("20250101_000100", "base", OPENASIP_BASE, "DROP TABLE operation_implementation;")
        d.add("20250101_000200", name, sql, "SELECT 1;")
        mset = discover(d.migrations, d.rollback, "sqlite")
        rules = {f.rule for f in lint_migrations(mset, dialect="sqlite").findings}
        assert "SQLITE-RENAME-MOVES-KEYS" not in rules, (name, rules)


def test_a_rebuild_copy_without_a_column_list_that_fills_the_nulls(
    sqlite_url: str, mdirs: MigrationDirs
) -> None:
    # sqlite.org's procedure copies with `INSERT INTO new_X SELECT … FROM X`, no column list;
    # written so, `coalesce(name, '')` for a column made NOT NULL was not matched to its
    # column, and the rebuild was a SET-NOT-NULL error though no row can fail the copy (the
    # same copy with a column list, Django's, was clean). Without coalesce it still is one.
    base = "CREATE TABLE person (id INTEGER PRIMARY KEY, email TEXT NOT NULL, name TEXT);\n"
    base += "INSERT INTO person VALUES (1, 'a@x', NULL), (2, 'b@x', 'B');"
    rebuild = (
        "PRAGMA foreign_keys = OFF;\nCREATE TABLE new_person (id INTEGER PRIMARY KEY, email "
        "TEXT NOT NULL, name TEXT NOT NULL DEFAULT '');\n"
        "INSERT INTO new_person SELECT id, email, {value} FROM person;\nDROP TABLE person;\n"
        "ALTER TABLE new_person RENAME TO person;"
    )
    mdirs.add("20250101_000100", "base", base, "DROP TABLE person;")
    mdirs.add("20250101_000200", "filled", rebuild.format(value="coalesce(name, '')"),
              "SELECT 1;")  # fmt: skip
    bad = MigrationDirs(mdirs.root / "bad")
    bad.add("20250101_000100", "base", base, "DROP TABLE person;")
    bad.add("20250101_000200", "unfilled", rebuild.format(value="name"), "SELECT 1;")
    for d, expected in ((mdirs, []), (bad, [("SET-NOT-NULL", 2)])):
        mset = discover(d.migrations, d.rollback, "sqlite")
        found = lint_migrations(mset, [mset.migrations[1].filename], dialect="sqlite").findings
        assert [(f.rule, f.line) for f in found if f.rule != "ROLLBACK-LEAVES-OBJECTS"] == (
            expected
        )
    r = run_cli("--database", sqlite_url, *mdirs.args(), "up", "--no-backup")
    assert r.code == 0, r.err  # the copy of the NULL name passes: ''


# A nanoid() as Supabase projects install it (a PL/pgSQL function of their own, no volatility
# said: VOLATILE), reproduced short; and one declared IMMUTABLE.
NANOID = """\
CREATE OR REPLACE FUNCTION nanoid(size int DEFAULT 21) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  RETURN substr(md5(random()::text), 1, size);
END $$;
CREATE FUNCTION school_code() RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT 'SMA1' $$;
"""


def test_an_add_column_whose_default_calls_a_volatile_function_of_the_migrations(
    pg_url: str, mdirs: MigrationDirs
) -> None:
    # PostgreSQL 11+ stores a constant or stable DEFAULT once; a VOLATILE one is computed per
    # row, rewriting the table under ACCESS EXCLUSIVE. PG-ADD-COLUMN-REWRITE knew random(),
    # gen_random_uuid()…, not a function the migrations declare, which is VOLATILE unless it
    # says IMMUTABLE or STABLE: `ADD COLUMN public_id text DEFAULT nanoid()` passed clean.
    mdirs.add("20250101_000100", "base", f"{PG_BASE}\n{NANOID}", "DROP TABLE orders, users;")
    mdirs.add("20250101_000200", "public_id", "SET lock_timeout = '5s';\n"
              "ALTER TABLE users ADD COLUMN public_id text NOT NULL DEFAULT nanoid(10);\n"
              "ALTER TABLE orders ADD COLUMN school text NOT NULL DEFAULT school_code();",
              "ALTER TABLE users DROP public_id;\nALTER TABLE orders DROP school;")  # fmt: skip
    r = run_cli("--database", pg_url, *mdirs.args(), "up", "--no-backup", "--to", "20250101_000100")
    assert r.code == 0, r.err
    with psycopg.connect(pg_url, autocommit=True) as conn:

        def files() -> tuple[object, ...]:
            row = conn.execute(
                "SELECT pg_relation_filenode('users'), pg_relation_filenode('orders')"
            ).fetchone()
            assert row is not None
            return tuple(row)

        before = files()
        r = run_cli("--database", pg_url, *mdirs.args(), "up", "--no-backup", "--accept-lint")
        assert r.code == 0, r.err
        after = files()
    assert after[0] != before[0]  # users rewritten: a new file
    assert after[1] == before[1]  # orders not: the IMMUTABLE default stored once
    mset = discover(mdirs.migrations, mdirs.rollback, "postgresql")
    found = lint_migrations(mset, [mset.migrations[1].filename], dialect="postgresql",
                            session_lock_timeout=True).findings  # fmt: skip
    assert [(f.rule, f.line) for f in found] == [("PG-ADD-COLUMN-REWRITE", 2)], found
    assert "its DEFAULT calls nanoid(), which the migrations declare neither" in found[0].why


def test_a_unique_index_built_concurrently_is_not_told_to_be_built_concurrently(
    mdirs: MigrationDirs,
) -> None:
    # squawk's and strong_migrations' way to add a UNIQUE constraint: CREATE UNIQUE INDEX
    # CONCURRENTLY in a migration of its own. Still data-dependent (a duplicate fails it), so
    # still ADD-UNIQUE's warning, but what to do said "build the unique index CONCURRENTLY and
    # attach it": the operator had done just that, and was told it again.
    mdirs.add("20250101_000100", "base", PG_BASE, "DROP TABLE orders, users;")
    mdirs.add("20250101_000200", "unique", "CREATE UNIQUE INDEX CONCURRENTLY users_name_key "
              "ON users (name);", "DROP INDEX users_name_key;")  # fmt: skip
    mdirs.add("20250101_000300", "plain", "SET lock_timeout = '5s';\n"
              "CREATE UNIQUE INDEX orders_user_key ON orders (user_id);",
              "DROP INDEX orders_user_key;")  # fmt: skip
    mset = discover(mdirs.migrations, mdirs.rollback, "postgresql")
    found = lint_migrations(mset, [m.filename for m in mset.migrations[1:]],
                            dialect="postgresql").findings  # fmt: skip
    unique = [f for f in found if f.rule == "ADD-UNIQUE"]
    assert [(f.file[16:-4], f.severity) for f in unique] == [
        ("unique", "warning"),
        ("plain", "warning"),
    ]
    assert "CONCURRENTLY" not in unique[0].instead.replace("a concurrent build", "")
    assert "check for duplicates first" in unique[0].instead
    assert "build the unique index CONCURRENTLY" in unique[1].instead


def test_a_rename_first_rebuild_whose_children_are_rebuilt_before_its_drop_is_no_error(
    sqlite_url: str, mdirs: MigrationDirs
) -> None:
    # The parent renamed out of the way, then its child rebuilt in sqlite.org's order (a new
    # copy REFERENCES the parent made again, the old child dropped) before the old parent is
    # dropped, as a TypeORM down migration touching both writes it: no key is left on the old
    # copy, no row is lost, `up` is fine, but SQLITE-RENAME-MOVES-KEYS was an error (so `up`
    # refused it without --accept-lint). The child rebuilt after the old copy's DROP still is
    # one: with foreign keys on, that DROP deleted the child's rows first.
    drop = "DROP TABLE operation_implementation_old;\n"
    v6 = OPENASIP_V6.removesuffix(drop)
    for name, sql, flagged in (
        ("after", v6 + drop + OPENASIP_CHILD_REBUILD, True),
        ("before", v6 + OPENASIP_CHILD_REBUILD + drop, False),
    ):
        d = MigrationDirs(mdirs.root / name)
        d.add("20250101_000100", "base", OPENASIP_BASE, "DROP TABLE operation_implementation;")
        d.add("20250101_000200", name, sql, "SELECT 1;")
        mset = discover(d.migrations, d.rollback, "sqlite")
        rules = {f.rule for f in lint_migrations(mset, dialect="sqlite").findings}
        assert ("SQLITE-RENAME-MOVES-KEYS" in rules) is flagged, (name, rules)
    r = run_cli("--database", sqlite_url, *d.args(), "up", "--no-backup")
    assert r.code == 0, r.err
    db = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"))
    db.execute("PRAGMA foreign_keys = ON")
    db.execute("INSERT INTO operation_implementation_variable VALUES (2, 1, 'b')")
    assert db.execute("SELECT count(*) FROM operation_implementation_variable").fetchone() == (2,)
    assert db.execute("PRAGMA foreign_key_check").fetchall() == []
    db.close()
