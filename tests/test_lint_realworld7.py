"""The lint's gaps found in session 23: a rename-first rebuild spread over migrations, rollback
files (run in an emergency, never linted), a function's volatility changed with ALTER FUNCTION,
and the table rewrites of SET LOGGED / UNLOGGED / TABLESPACE. Each through the CLI on real
files, and shown on a real database where the database can show it."""

from __future__ import annotations

import json
import sqlite3

import psycopg

from malnu_tui.engine.files import discover
from malnu_tui.engine.lint.core import lint_migrations
from tests.fixtures_core import MigrationDirs, run_cli
from tests.test_lint_realworld2 import PG_BASE, _waits
from tests.test_lint_realworld6 import OPENASIP_BASE


def _lint(url: str, mdirs: MigrationDirs, *args: str) -> tuple[int, dict[str, object]]:
    r = run_cli("--database", url, *mdirs.args(), "lint", "--json", *args)
    assert r.code in (0, 1), r.out + r.err
    return r.code, json.loads(r.out)


def _rules(report: dict[str, object], rule: str) -> list[dict[str, object]]:
    findings = report["findings"]
    assert isinstance(findings, list)
    return [f for f in findings if f["rule"] == rule]


def _filenode(pg_url: str, table: str) -> int:
    with psycopg.connect(pg_url) as conn:
        row = conn.execute("SELECT pg_relation_filenode(%s)", (table,)).fetchone()
    assert row is not None
    return int(row[0])


# Functions as Supabase projects declare them: one written VOLATILE then fixed with ALTER
# FUNCTION … IMMUTABLE; one IMMUTABLE then found to read the clock and made VOLATILE
# (PL/pgSQL: PostgreSQL inlines a one-line SQL function, a constant whatever it declares).
FUNCTIONS = """\
CREATE FUNCTION school_code() RETURNS text LANGUAGE plpgsql VOLATILE AS $$
BEGIN RETURN 'SMA1'; END $$;
CREATE FUNCTION term_code() RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN RETURN '2026A'; END $$;
"""


def _defaults_linted(pg_url: str, mdirs: MigrationDirs) -> dict[str, object]:
    """Plain lint's report (exit 0) of a pending migration adding two columns whose DEFAULTs
    call school_code() and term_code(), every migration before it applied."""
    mdirs.add("20250101_000300", "columns", "SET lock_timeout = '5s';\n"
              "ALTER TABLE users ADD COLUMN school text NOT NULL DEFAULT school_code();\n"
              "ALTER TABLE orders ADD COLUMN term text NOT NULL DEFAULT term_code();",
              "ALTER TABLE users DROP school;\nALTER TABLE orders DROP term;")  # fmt: skip
    r = run_cli("--database", pg_url, *mdirs.args(), "up", "--no-backup", "--to", "20250101_000200")
    assert r.code == 0, r.err
    code, report = _lint(pg_url, mdirs)
    assert code == 0, report
    return report


def test_alter_function_changes_what_an_add_column_default_rewrites(
    pg_url: str, mdirs: MigrationDirs
) -> None:
    # ALTER FUNCTION f() IMMUTABLE (or STABLE) after a VOLATILE CREATE FUNCTION left f marked
    # volatile: `ADD COLUMN … DEFAULT f()` was a PG-ADD-COLUMN-REWRITE warning though
    # PostgreSQL stores the default once; and ALTER FUNCTION g() VOLATILE was not read, so a
    # DEFAULT g() that rewrites the whole table passed clean.
    mdirs.add("20250101_000100", "base", f"{PG_BASE}\n{FUNCTIONS}",
              "DROP FUNCTION school_code, term_code;\nDROP TABLE orders, users;")  # fmt: skip
    mdirs.add(
        "20250101_000200",
        "volatility",
        "ALTER FUNCTION school_code() IMMUTABLE;\nALTER FUNCTION public.term_code () VOLATILE;",
        "ALTER FUNCTION school_code() VOLATILE;\nALTER FUNCTION term_code() IMMUTABLE;",
    )
    report = _defaults_linted(pg_url, mdirs)  # the pending one, the functions applied before it
    found = [(f["file"], f["line"], f["severity"]) for f in _rules(report, "PG-ADD-COLUMN-REWRITE")]
    assert found == [("20250101_000300_columns.sql", 3, "warning")], report
    assert "calls term_code()" in str(_rules(report, "PG-ADD-COLUMN-REWRITE")[0]["why"])
    before = _filenode(pg_url, "users"), _filenode(pg_url, "orders")
    r = run_cli("--database", pg_url, *mdirs.args(), "up", "--no-backup")
    assert r.code == 0, r.err
    assert _filenode(pg_url, "users") == before[0]  # the IMMUTABLE default stored once
    assert _filenode(pg_url, "orders") != before[1]  # the VOLATILE one: orders rewritten


def test_set_logged_unlogged_or_tablespace_rewrites_the_table(
    pg_url: str, mdirs: MigrationDirs
) -> None:
    # ALTER TABLE … SET UNLOGGED / SET LOGGED / SET TABLESPACE copies the whole table under
    # ACCESS EXCLUSIVE (every read waits), and no rule named it: only PG-LOCK-TIMEOUT when the
    # target had no lock_timeout, never on a target with one. But PostgreSQL copies nothing
    # when the table is already so (SET LOGGED of a logged table, SET TABLESPACE to its own):
    # the rule warned of a rewrite that does not happen. Against the live database those are
    # clean (line 2, 3), and a table this run made unlogged (line 5) is logged again with a
    # rewrite (line 9); from the files alone, a warning that says "unless it is already …".
    mdirs.add("20250101_000100", "base", PG_BASE, "DROP TABLE orders, users;")
    mdirs.add("20250101_000200", "storage", "SET lock_timeout = '5s';\n"
              "ALTER TABLE users SET LOGGED;\nALTER TABLE orders SET TABLESPACE pg_default;\n"
              "-- lint:ignore PG-SET-STORAGE-REWRITE orders is 40 rows, at 02:00\n"
              "ALTER TABLE ONLY orders SET UNLOGGED;\n"
              "CREATE TABLE scratch (id int);\nALTER TABLE scratch SET UNLOGGED;\n"
              "ALTER TABLE ALL IN TABLESPACE pg_default SET TABLESPACE pg_default;\n"
              "ALTER TABLE orders SET LOGGED;",
              "ALTER TABLE orders SET LOGGED;\nDROP TABLE scratch;")  # fmt: skip
    r = run_cli("--database", pg_url, *mdirs.args(), "up", "--no-backup", "--to", "20250101_000100")
    assert r.code == 0, r.err
    assert _waits(pg_url, ["ALTER TABLE users SET UNLOGGED"], "SELECT * FROM users")
    code, report = _lint(pg_url, mdirs)  # pending: the live tables' sizes are asked
    assert code == 0, report  # notes on these two-row live tables: exit 0
    found = [(f["line"], f["severity"], f["ignored"], f["reason"])
             for f in _rules(report, "PG-SET-STORAGE-REWRITE")]  # fmt: skip
    assert found == [
        (5, "info", True, "orders is 40 rows, at 02:00"),
        (9, "info", False, None),
    ], report
    last = _rules(report, "PG-SET-STORAGE-REWRITE")[1]
    assert "ALTER TABLE orders SET LOGGED rewrites it" in str(last["why"])
    assert "about 1 rows live now" in str(last["why"])
    assert "unless" not in str(last["why"])  # the live state is known
    assert "pg_repack" in str(last["instead"])
    # Without the live database (a file-only lint) the tables' sizes and state are unknown.
    mset = discover(mdirs.migrations, mdirs.rollback, "postgresql")
    found_offline = lint_migrations(mset, dialect="postgresql").findings
    why = {f.line: (f.severity, f.why) for f in found_offline if f.rule == "PG-SET-STORAGE-REWRITE"}
    assert sorted(why) == [2, 3, 5, 9], why
    assert {sev for sev, _ in why.values()} == {"warning"}
    assert "(unless it is already logged: then PostgreSQL does nothing)" in why[2][1]
    assert "unless it is already in tablespace pg_default" in why[3][1]
    before = _filenode(pg_url, "users"), _filenode(pg_url, "orders")
    r = run_cli("--database", pg_url, *mdirs.args(), "up", "--no-backup")
    assert r.code == 0, r.err
    assert _filenode(pg_url, "users") == before[0]  # already logged: left as it is
    assert _filenode(pg_url, "orders") != before[1]  # SET UNLOGGED: a new file, every row copied


def test_set_access_method_and_a_view_or_index_moved_rewrite_too(
    pg_url: str, mdirs: MigrationDirs
) -> None:
    # PostgreSQL 15's ALTER TABLE … SET ACCESS METHOD, and ALTER MATERIALIZED VIEW … SET
    # ACCESS METHOD / TABLESPACE and ALTER INDEX … SET TABLESPACE, copy the relation under
    # ACCESS EXCLUSIVE as SET TABLESPACE does: they passed clean.
    mdirs.add("20250101_000100", "base", f"{PG_BASE}\n"
              "CREATE MATERIALIZED VIEW order_totals AS SELECT user_id, count(*) FROM orders\n"
              "    GROUP BY user_id;\nCREATE INDEX orders_user ON orders (user_id);\n"
              "CREATE ACCESS METHOD heap2 TYPE TABLE HANDLER heap_tableam_handler;",
              "DROP ACCESS METHOD heap2 CASCADE;\nDROP MATERIALIZED VIEW order_totals;\n"
              "DROP TABLE orders, users;")  # fmt: skip
    mdirs.add("20250101_000200", "storage", "SET lock_timeout = '5s';\n"
              "ALTER TABLE users SET ACCESS METHOD heap2;\n"
              "ALTER MATERIALIZED VIEW order_totals SET ACCESS METHOD heap;\n"
              "ALTER MATERIALIZED VIEW order_totals SET TABLESPACE pg_default;\n"
              "ALTER INDEX orders_user SET TABLESPACE pg_default;\n"
              "ALTER MATERIALIZED VIEW IF EXISTS order_totals SET ACCESS METHOD heap2;\n"
              "ALTER TABLE orders SET ACCESS METHOD heap;\n"
              "CREATE INDEX users_name ON users (name);\n"
              "ALTER INDEX users_name SET TABLESPACE pg_default;",
              "ALTER TABLE users SET ACCESS METHOD heap;\nDROP INDEX users_name;")  # fmt: skip
    r = run_cli("--database", pg_url, *mdirs.args(), "up", "--no-backup", "--to", "20250101_000100")
    assert r.code == 0, r.err
    with psycopg.connect(pg_url) as conn:
        version = conn.execute("SHOW server_version_num").fetchone()
    assert version is not None and int(version[0]) >= 150000  # SET ACCESS METHOD: 15 and up
    code, report = _lint(pg_url, mdirs)
    assert code == 0, report
    found = [(f["line"], f["severity"]) for f in _rules(report, "PG-SET-STORAGE-REWRITE")]
    assert found == [(2, "info"), (6, "info")], report  # 3, 4, 5, 7: already so
    whys = [str(f["why"]) for f in _rules(report, "PG-SET-STORAGE-REWRITE")]
    assert "ALTER TABLE users SET ACCESS METHOD heap2 rewrites it" in whys[0]
    assert "ALTER MATERIALIZED VIEW order_totals SET ACCESS METHOD heap2 rewrites" in whys[1]
    mset = discover(mdirs.migrations, mdirs.rollback, "postgresql")
    offline = lint_migrations(mset, dialect="postgresql").findings
    why = {f.line: f.why for f in offline if f.rule == "PG-SET-STORAGE-REWRITE"}
    assert sorted(why) == [2, 3, 4, 5, 6, 7], why  # 9: an index of this migration
    assert "ALTER INDEX orders_user SET TABLESPACE pg_default rewrites it" in why[5]
    assert "unless it already uses access method heap" in why[7]
    before = {n: _filenode(pg_url, n) for n in ("users", "orders", "orders_user")}
    r = run_cli("--database", pg_url, *mdirs.args(), "up", "--no-backup")
    assert r.code == 0, r.err
    after = {n: _filenode(pg_url, n) for n in before}
    assert after["users"] != before["users"]  # SET ACCESS METHOD heap2: copied
    assert after["orders"] == before["orders"]  # already heap: left as it is
    assert after["orders_user"] == before["orders_user"]  # already in pg_default


# cpc/openasip's rename-first rebuild (tests/test_lint_realworld6.py), its steps spread over
# three migrations, as a team writes "move the old table aside" and "drop the old copy" as
# separate, later deploys.
RENAME_ASIDE = "ALTER TABLE operation_implementation RENAME TO operation_implementation_old;"
MAKE_AGAIN = (
    "CREATE TABLE operation_implementation (id INTEGER PRIMARY KEY, name TEXT NOT NULL,\n"
    "    initial_vhdl TEXT);\nINSERT INTO operation_implementation (id, name, initial_vhdl)\n"
    "    SELECT id, name, default_vhdl FROM operation_implementation_old;"
)
DROP_OLD = "SELECT 1;\nDROP TABLE operation_implementation_old;"
MOVED = "SQLITE-RENAME-MOVES-KEYS"


def test_a_rename_first_rebuild_spread_over_migrations(
    sqlite_url: str, mdirs: MigrationDirs
) -> None:
    # SQLITE-RENAME-MOVES-KEYS was found only with every step in one file: spread over
    # migrations (rename, then make again and copy, then drop the old copy) the lint said a
    # RENAME-TABLE and a DROP-TABLE, and `up` deleted every child row (ON DELETE CASCADE) and
    # left the children referencing a table that is gone.
    mdirs.add("20250101_000100", "base", OPENASIP_BASE,
              "DROP TABLE operation_implementation_variable;\n"
              "DROP TABLE operation_implementation;")  # fmt: skip
    mdirs.add("20250101_000200", "aside", RENAME_ASIDE, "SELECT 1;")
    mdirs.add("20250101_000300", "again", MAKE_AGAIN, "SELECT 1;")
    mdirs.add("20250101_000400", "drop_old", DROP_OLD, "SELECT 1;")
    r = run_cli(
        "--database", sqlite_url, *mdirs.args(), "up", "--no-backup", "--to", "20250101_000100"
    )
    assert r.code == 0, r.err
    for args in ((), ("--all",)):
        code, report = _lint(sqlite_url, mdirs, *args)  # pending: the three
        assert code == 1, report
        found = [(f["file"], f["line"], f["severity"]) for f in _rules(report, MOVED)]
        assert found == [
            ("20250101_000300_again.sql", 1, "error"),
            ("20250101_000400_drop_old.sql", 2, "error"),
        ], (args, report)
    again, drop = (str(f["why"]) for f in _rules(report, MOVED))
    assert "that 20250101_000200_aside.sql:1 renamed to operation_implementation_old" in again
    assert "operation_implementation_variable(operation)" in again
    assert "their new rows are checked against operation_implementation_old" in again
    assert "20250101_000200_aside.sql:1 renamed operation_implementation" in drop
    assert "20250101_000300_again.sql:1 created operation_implementation again" in drop
    assert "with foreign keys on (D1) that DROP deletes or unlinks their rows" in drop

    # The rename applied, the rest pending: `lint --all` follows it from the applied file.
    r = run_cli(
        "--database", sqlite_url, *mdirs.args(), "up", "--no-backup", "--to", "20250101_000200"
    )
    assert r.code == 0, r.err
    code, report = _lint(sqlite_url, mdirs, "--all")
    assert [(f["file"], f["line"]) for f in _rules(report, MOVED)] == [
        ("20250101_000300_again.sql", 1),
        ("20250101_000400_drop_old.sql", 2),
    ], report
    r = run_cli("--database", sqlite_url, *mdirs.args(), "up", "--no-backup")
    assert r.code == 0, r.err  # (lint = "warn": up goes on)
    db = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"))
    assert db.execute("SELECT count(*) FROM operation_implementation_variable").fetchone() == (0,)
    db.close()


def test_a_rename_then_a_new_table_of_the_old_name_later_is_no_rebuild(
    mdirs: MigrationDirs,
) -> None:
    # A true rename (the children follow it, as they should), and months later an unrelated
    # table under the freed name: no copy from the renamed table, no DROP of it. Not named;
    # copied from it, it is.
    mdirs.add("20250101_000100", "base", OPENASIP_BASE, "SELECT 1;")
    mdirs.add("20250101_000200", "aside", RENAME_ASIDE, "SELECT 1;")
    mdirs.add("20250101_000300", "again", MAKE_AGAIN.split(";")[0] + ";", "SELECT 1;")
    copied = MigrationDirs(mdirs.root / "copied")
    copied.add("20250101_000100", "base", OPENASIP_BASE, "SELECT 1;")
    copied.add("20250101_000200", "aside", RENAME_ASIDE, "SELECT 1;")
    copied.add("20250101_000300", "again", MAKE_AGAIN, "SELECT 1;")
    for d, expected in ((mdirs, []), (copied, [("20250101_000300_again.sql", 1)])):
        mset = discover(d.migrations, d.rollback, "sqlite")
        found = lint_migrations(mset, dialect="sqlite").findings
        assert [(f.file, f.line) for f in found if f.rule == MOVED] == expected
    assert "their new rows are checked against operation_implementation_old" in next(
        f.why for f in found if f.rule == MOVED
    )


# TypeORM's SQLite migrations: the up rebuilds in sqlite.org's order, the generated down puts
# the table back with a rename-first rebuild ("temporary_…").
TYPEORM_BASE = """\
CREATE TABLE "lesson" (id INTEGER PRIMARY KEY, title TEXT NOT NULL);
CREATE TABLE "attendance" (id INTEGER PRIMARY KEY,
    lesson_id INTEGER REFERENCES "lesson" (id) ON DELETE CASCADE, student TEXT);
INSERT INTO "lesson" VALUES (1, 'Matematika');
INSERT INTO "attendance" VALUES (1, 1, 'Ani'), (2, 1, 'Budi');
"""
TYPEORM_UP = """\
PRAGMA foreign_keys = OFF;
CREATE TABLE "temporary_lesson" (id INTEGER PRIMARY KEY, title TEXT NOT NULL, room TEXT);
INSERT INTO "temporary_lesson" (id, title) SELECT id, title FROM "lesson";
DROP TABLE "lesson";
ALTER TABLE "temporary_lesson" RENAME TO "lesson";
"""
TYPEORM_DOWN = """\
-- Generated by TypeORM: revert AddRoom
ALTER TABLE "lesson" RENAME TO "temporary_lesson";
CREATE TABLE "lesson" (id INTEGER PRIMARY KEY, title TEXT NOT NULL);
INSERT INTO "lesson" (id, title) SELECT id, title FROM "temporary_lesson";
DROP TABLE "temporary_lesson";
"""
DROP_BASE = 'DROP TABLE "attendance";\nDROP TABLE "lesson";'


def test_a_rollback_file_with_a_rename_first_rebuild(sqlite_url: str, mdirs: MigrationDirs) -> None:
    # Rollback files were not linted at all: TypeORM's generated down migration, run in an
    # emergency, repointed attendance's key at temporary_lesson, whose DROP then deleted every
    # attendance row (ON DELETE CASCADE). Now named, with the rollback file's name and line;
    # the rollback's DROP TABLE of what its migration made is its job, and not named.
    mdirs.add(
        "20250101_000100", "base", TYPEORM_BASE, 'DROP TABLE "attendance";\nDROP TABLE "lesson";'
    )
    mdirs.add("20250101_000200", "add_room", TYPEORM_UP, TYPEORM_DOWN)
    r = run_cli(
        "--database", sqlite_url, *mdirs.args(), "up", "--no-backup", "--to", "20250101_000100"
    )
    assert r.code == 0, r.err
    code, report = _lint(sqlite_url, mdirs)
    assert code == 1, report
    rb = [f for f in report["findings"] if f["file"] == "20250101_000200_undo_add_room.sql"]
    assert [(f["rule"], f["line"], f["severity"], f["ignored"]) for f in rb] == [
        (MOVED, 2, "error", False)
    ], report
    assert "the foreign keys of attendance(lesson_id)" in rb[0]["why"]
    assert "temporary_lesson is dropped at line 5" in rb[0]["why"]
    assert "and the rollback then creates lesson again" in rb[0]["why"]  # (said "the migration")
    assert report["checked"] == ["20250101_000200_add_room.sql"]  # (the migrations, as before)

    r = run_cli("--database", sqlite_url, *mdirs.args(), "up", "--no-backup")
    assert r.code == 0, r.err
    r = run_cli("--database", sqlite_url, *mdirs.args(), "rollback", "--yes", "--no-backup")
    assert r.code == 0, r.err
    db = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"))
    assert db.execute("SELECT count(*) FROM attendance").fetchone() == (0,)  # both rows gone
    db.close()

    # Accepted in the rollback file itself, the reason kept; lint then exits 0.
    accepted = MigrationDirs(mdirs.root / "accepted")
    accepted.add("20250101_000100", "base", TYPEORM_BASE, DROP_BASE)
    down = TYPEORM_DOWN.replace(
        "ALTER", "-- lint:ignore SQLITE-RENAME-MOVES-KEYS attendance is re-imported after\nALTER"
    )
    accepted.add("20250101_000200", "add_room", TYPEORM_UP, down)
    code, report = _lint("sqlite:///" + str(mdirs.root / "x.db"), accepted, "--all")
    assert code == 0, report
    rb = [f for f in report["findings"] if f["file"] == "20250101_000200_undo_add_room.sql"]
    assert [(f["rule"], f["line"], f["ignored"], f["reason"]) for f in rb] == [
        (MOVED, 3, True, "attendance is re-imported after")
    ]
    # With foreign keys off and legacy_alter_table on, a SQLite file keeps the references;
    # D1 ignores both pragmas: the same rollback is still named there.
    kept = MigrationDirs(mdirs.root / "kept")
    kept.add("20250101_000100", "base", TYPEORM_BASE, DROP_BASE)
    pragmas = "PRAGMA foreign_keys = OFF;\nPRAGMA legacy_alter_table = ON;\n"
    kept.add("20250101_000200", "add_room", TYPEORM_UP, pragmas + TYPEORM_DOWN)
    mset = discover(kept.migrations, kept.rollback, "sqlite")
    for d1, expected in ((False, []), (True, [("20250101_000200_undo_add_room.sql", 4)])):
        found = lint_migrations(mset, dialect="sqlite", d1=d1).findings
        assert [(f.file, f.line) for f in found if f.rule == MOVED] == expected, d1
    # sqlite.org's order in the rollback, as in the up: nothing to say of the rollback file;
    # without its PRAGMA foreign_keys = OFF, its DROP "lesson" deletes the attendance rows.
    down = TYPEORM_UP.replace(", room TEXT", "")
    for name, sql, expected in (
        ("safe", down, []),
        ("fk_on", down.replace("PRAGMA foreign_keys = OFF;\n", ""),
         [("SQLITE-REBUILD-FOREIGN-KEYS-ON", 3)]),
    ):  # fmt: skip
        d = MigrationDirs(mdirs.root / name)
        d.add("20250101_000100", "base", TYPEORM_BASE, DROP_BASE)
        d.add("20250101_000200", "add_room", TYPEORM_UP, sql)
        code, report = _lint("sqlite:///" + str(mdirs.root / f"{name}.db"), d, "--all")
        rb = [(f["rule"], f["line"]) for f in report["findings"] if "_undo_" in f["file"]]
        assert rb == expected, report
    assert "attendance(lesson_id) ON DELETE CASCADE: its rows are deleted" in str(
        report["findings"][-1]["why"]
    )


def test_a_rollback_file_without_lock_timeout(mdirs: MigrationDirs) -> None:
    # A PostgreSQL rollback's ALTER or DROP of a table in use waits for its lock like a
    # migration's, while every query of the table queues behind it, in an emergency. On a
    # target that sets no lock_timeout the rollback files were not looked at.
    mdirs.add("20250101_000100", "base", PG_BASE, "DROP TABLE orders, users;")
    mdirs.add("20250101_000200", "guarded", "SET lock_timeout = '5s';\n"
              "ALTER TABLE users ADD COLUMN a text;",
              "SET lock_timeout = '5s';\nALTER TABLE users DROP COLUMN a;")  # fmt: skip
    mdirs.add("20250101_000300", "reset", "SET lock_timeout = '5s';\n"
              "ALTER TABLE users ADD COLUMN b text;",
              "SET lock_timeout = '5s';\nRESET lock_timeout;\n"
              "ALTER TABLE users DROP COLUMN b;")  # fmt: skip
    mdirs.add("20250101_000400", "accepted", "SET lock_timeout = '5s';\n"
              "CREATE INDEX users_name ON users (name);",
              "-- lint:ignore PG-LOCK-TIMEOUT users is idle at night, when we roll back\n"
              "DROP INDEX users_name;")  # fmt: skip
    url = "postgresql://nobody@127.0.0.1:1/none"
    code, report = _lint(url + "?lock_timeout=0", mdirs, "--all")
    assert code == 0, report  # warnings
    found = [(f["file"], f["line"], f["ignored"]) for f in _rules(report, "PG-LOCK-TIMEOUT")]
    assert found == [
        ("20250101_000100_undo_base.sql", 1, False),
        ("20250101_000300_undo_reset.sql", 3, False),
        ("20250101_000400_undo_accepted.sql", 2, True),
    ], report
    why = [str(f["why"]) for f in _rules(report, "PG-LOCK-TIMEOUT")]
    assert why[0].startswith("DROP TABLE orders, users (ACCESS EXCLUSIVE")
    assert "runs in the rollback with no lock_timeout" in why[0]
    assert "the RESET at line 2 puts back the server's default" in why[1]
    assert _rules(report, "PG-LOCK-TIMEOUT")[0]["instead"].startswith(
        "start the rollback file with SET lock_timeout"  # (said "start the migration")
    )
    code, report = _lint(url, mdirs, "--all")  # the tool's own 10 s on its sessions
    found = [(f["file"], f["line"]) for f in _rules(report, "PG-LOCK-TIMEOUT")]
    assert found == [("20250101_000300_undo_reset.sql", 3)]  # RESET takes it away


def test_a_volatility_word_outside_an_action_changes_nothing(
    pg_url: str, mdirs: MigrationDirs
) -> None:
    # review23d: the words IMMUTABLE/STABLE/VOLATILE were read anywhere in an ALTER FUNCTION:
    # `SET search_path = public, stable` (a schema named stable) made a VOLATILE function
    # "stable", so its DEFAULT's full-table rewrite passed clean; `SET search_path = volatile`
    # made an IMMUTABLE one volatile (a false warning). Only an action declares it.
    mdirs.add("20250101_000100", "base", f"{PG_BASE}\n{FUNCTIONS}\nCREATE SCHEMA stable;",
              "DROP SCHEMA stable;\nDROP FUNCTION school_code, term_code;\n"
              "DROP TABLE orders, users;")  # fmt: skip
    mdirs.add(
        "20250101_000200",
        "paths",
        "ALTER FUNCTION school_code() SET search_path = public, stable;\n"
        "ALTER FUNCTION term_code() SET search_path = volatile, public STRICT;\n"
        'ALTER FUNCTION term_code() RENAME TO "volatile";\n'
        'ALTER FUNCTION "volatile"() RENAME TO term_code;',
        "ALTER FUNCTION school_code() RESET search_path;\nALTER FUNCTION term_code() RESET ALL;",
    )
    report = _defaults_linted(pg_url, mdirs)
    found = [(f["file"], f["line"]) for f in _rules(report, "PG-ADD-COLUMN-REWRITE")]
    assert found == [("20250101_000300_columns.sql", 2)], report  # school_code(), still VOLATILE
    before = _filenode(pg_url, "users"), _filenode(pg_url, "orders")
    r = run_cli("--database", pg_url, *mdirs.args(), "up", "--no-backup")
    assert r.code == 0, r.err
    assert _filenode(pg_url, "users") != before[0]  # the VOLATILE default: users rewritten
    assert _filenode(pg_url, "orders") == before[1]  # the IMMUTABLE one stored once


LEGACY_REBUILD = (
    "PRAGMA foreign_keys = OFF;\nPRAGMA legacy_alter_table = ON;\n"
    f"{RENAME_ASIDE}\n{MAKE_AGAIN}\nDROP TABLE operation_implementation_old;\n"
    "PRAGMA legacy_alter_table = OFF;\nPRAGMA foreign_keys = ON;"
)
RENAME_BACK = "ALTER TABLE operation_implementation_old RENAME TO operation_implementation;"


def test_a_rename_undone_then_a_safe_rebuild_is_not_named(
    sqlite_url: str, mdirs: MigrationDirs
) -> None:
    # review23d: a table renamed aside and renamed back in a later migration stayed "renamed
    # away": a rebuild months later that keeps the keys (foreign keys off, legacy_alter_table
    # on: measured below, the child rows stay) was an error at its CREATE TABLE and its DROP,
    # so a `lint = "enforce"` target refused a safe migration. And the old copy renamed again
    # (t_old → t_archive) was lost track of: made again and filled from t_archive, not named.
    mdirs.add("20250101_000100", "base", OPENASIP_BASE, "SELECT 1;")
    mdirs.add("20250101_000200", "aside", RENAME_ASIDE, RENAME_BACK)
    mdirs.add("20250101_000300", "back", RENAME_BACK, RENAME_ASIDE)
    mdirs.add("20250101_000400", "rebuild", LEGACY_REBUILD, "SELECT 1;")
    code, report = _lint(sqlite_url, mdirs, "--all")
    assert _rules(report, MOVED) == [], report
    r = run_cli("--database", sqlite_url, *mdirs.args(), "up", "--no-backup")
    assert r.code == 0, r.err
    db = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"))
    assert db.execute("SELECT count(*) FROM operation_implementation_variable").fetchone() == (1,)
    db.close()
    archived = MigrationDirs(mdirs.root / "archived")
    archived.add("20250101_000100", "base", OPENASIP_BASE, "SELECT 1;")
    archived.add("20250101_000200", "aside", RENAME_ASIDE, "SELECT 1;")
    archived.add("20250101_000300", "archive", "ALTER TABLE operation_implementation_old "
                 "RENAME TO operation_implementation_archive;", "SELECT 1;")  # fmt: skip
    archived.add("20250101_000400", "again", MAKE_AGAIN.replace("_old;", "_archive;"), "SELECT 1;")
    code, report = _lint(sqlite_url, archived, "--all")
    assert code == 1, report
    found = [(f["file"], f["line"]) for f in _rules(report, MOVED)]
    assert found == [("20250101_000400_again.sql", 1)], report
    assert "renamed to operation_implementation_archive" in str(_rules(report, MOVED)[0]["why"])


def test_the_rename_applied_the_rest_pending_is_named_by_plain_lint(
    sqlite_url: str, mdirs: MigrationDirs
) -> None:
    # review23d: with the rename applied and the rebuild's other steps pending, `lint` (and
    # `up`'s gate: a `lint = "enforce"` target ran it) linted the pending ones on the live
    # schema, where no rename is seen: clean, and up deleted the child rows. The applied
    # files' renames are followed now, the live schema saying whose keys SQLite rewrote;
    # a rename undone there (renamed back) is not: a backup copy under the old name is fine.
    mdirs.add("20250101_000100", "base", OPENASIP_BASE, "SELECT 1;")
    mdirs.add("20250101_000200", "aside", RENAME_ASIDE, "SELECT 1;")
    mdirs.add("20250101_000300", "again", MAKE_AGAIN, "SELECT 1;")
    mdirs.add("20250101_000400", "drop_old", DROP_OLD, "SELECT 1;")
    r = run_cli(
        "--database", sqlite_url, *mdirs.args(), "up", "--no-backup", "--to", "20250101_000200"
    )
    assert r.code == 0, r.err
    code, report = _lint(sqlite_url, mdirs)
    assert code == 1, report
    assert report["checked"] == ["20250101_000300_again.sql", "20250101_000400_drop_old.sql"]
    assert [(f["file"], f["line"]) for f in _rules(report, MOVED)] == [
        ("20250101_000300_again.sql", 1),
        ("20250101_000400_drop_old.sql", 2),
    ], report
    assert "that 20250101_000200_aside.sql:1 renamed to operation_implementation_old" in str(
        _rules(report, MOVED)[0]["why"]
    )
    back = MigrationDirs(mdirs.root / "back")
    back.add("20250101_000100", "base", OPENASIP_BASE, "SELECT 1;")
    back.add("20250101_000200", "aside", RENAME_ASIDE, "SELECT 1;")
    back.add("20250101_000300", "back", RENAME_BACK, "SELECT 1;")
    back.add("20250101_000400", "backup", MAKE_AGAIN.replace("operation_implementation_old",
             "operation_implementation").replace("TABLE operation_implementation (",
             "TABLE operation_implementation_old (").replace("INTO operation_implementation ",
             "INTO operation_implementation_old "), "SELECT 1;")  # fmt: skip
    url = sqlite_url.replace(".db", "_back.db")
    r = run_cli("--database", url, *back.args(), "up", "--no-backup", "--to", "20250101_000300")
    assert r.code == 0, r.err
    _, report = _lint(url, back)
    assert report["checked"] == ["20250101_000400_backup.sql"]
    assert _rules(report, MOVED) == [], report
