"""The lint on what migrations do inside their one transaction (explicit locks, backfills,
VACUUM, DO blocks): each rule shown on real statements, with what PostgreSQL or SQLite really
does, and a clean counter-example beside it."""

from __future__ import annotations

import json

import psycopg
import pytest

from malnu_tui.engine.lint import Finding
from tests.fixtures_core import MigrationDirs, run_cli
from tests.test_safety_realworld import _lint

PG_BASE = (
    "CREATE TABLE users (id bigint PRIMARY KEY, name text);\n"
    "CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint);\n"
    "INSERT INTO users VALUES (1, 'a'), (2, 'b');\n"
    "INSERT INTO orders VALUES (1, 1);"
)

SQLITE_BASE = (
    "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);\nCREATE TABLE orders (id INTEGER);"
)
BASE_UNDO = "DROP TABLE orders; DROP TABLE users;"


def _pg_base(mdirs: MigrationDirs, pg_url: str) -> list[str]:
    mdirs.add("20250101_000100", "base", PG_BASE, BASE_UNDO)
    base = ["--database", pg_url, *mdirs.args()]
    assert run_cli(*base, "up", "--no-backup").code == 0
    return base


def _found(base: list[str], *args: str) -> list[tuple[str, str, int]]:
    res = run_cli(*base, "lint", "--json", *args)
    assert res.code in (0, 1), res.err
    return [(f["rule"], f["severity"], f["line"]) for f in json.loads(res.out)["findings"]]


def _waits(pg_url: str, held: list[str], other: str) -> bool:
    """Whether ``other``, from a second session, waits for the locks ``held`` (run in one open
    transaction, as a migration runs) take."""
    with psycopg.connect(pg_url) as mig, psycopg.connect(pg_url, autocommit=True) as app:
        for sql in held:
            mig.execute(sql)
        app.execute("SET lock_timeout = '100ms'")
        try:
            app.execute(other)
        except psycopg.errors.LockNotAvailable:
            return True
        finally:
            mig.rollback()
        return False


def test_an_explicit_lock_of_an_existing_table_is_named(pg_url: str, mdirs: MigrationDirs) -> None:
    # LOCK TABLE holds its lock until the migration commits, so the app waits for the whole
    # migration, not for one statement. It used to pass clean.
    base = _pg_base(mdirs, pg_url)
    mdirs.add(
        "20250101_000200",
        "freeze",
        "LOCK TABLE users IN ACCESS EXCLUSIVE MODE;\n"
        "LOCK orders IN SHARE MODE NOWAIT;\n"
        "LOCK TABLE users IN ROW EXCLUSIVE MODE;\n"  # what the app's own writes take
        "CREATE TABLE staging (id bigint);\n"
        "LOCK TABLE staging;",  # new: nobody else uses it yet
        "DROP TABLE staging;",
    )
    assert _found(base) == [("LOCK-TABLE", "warning", 1), ("LOCK-TABLE", "warning", 2)]
    lock_users = "LOCK TABLE users IN ACCESS EXCLUSIVE MODE"
    assert _waits(pg_url, [lock_users], "SELECT * FROM users")  # reads wait too
    assert _waits(pg_url, ["LOCK orders IN SHARE MODE"], "INSERT INTO orders VALUES (2, 1)")
    assert not _waits(pg_url, ["LOCK orders IN SHARE MODE"], "SELECT * FROM orders")
    row_exclusive = "LOCK TABLE users IN ROW EXCLUSIVE MODE"
    assert not _waits(pg_url, [row_exclusive], "INSERT INTO users VALUES (3, 'c')")
    # Accepted with its reason, the finding is kept but no longer counts.
    (mdirs.migrations / "20250101_000200_freeze.sql").write_text(
        "-- lint:ignore LOCK-TABLE the school is closed: nobody writes during this deploy\n"
        "LOCK TABLE users IN ACCESS EXCLUSIVE MODE;"
    )
    res = run_cli(*base, "lint", "--json")
    report = json.loads(res.out)
    assert res.code == 0 and report["ignored"] == 1 and report["warnings"] == 0, res.out
    assert run_cli(*base, "up", "--no-backup").code == 0


def test_an_update_without_where_is_a_backfill_inside_the_migration(
    pg_url: str, mdirs: MigrationDirs
) -> None:
    # Rails' `update_all`, Django's RunSQL backfill, a hand-written "fill the new column": every
    # row is rewritten and stays locked until the migration commits. It used to pass clean.
    base = _pg_base(mdirs, pg_url)
    mdirs.add(
        "20250101_000200",
        "backfill",
        "ALTER TABLE users ADD COLUMN nick text;\n"
        "UPDATE users SET nick = (SELECT 'x' WHERE name IS NOT NULL);\n"  # a WHERE, but nested
        "UPDATE users SET nick = name WHERE nick IS NULL;\n"
        "UPDATE users u SET nick = o.id::text FROM orders o WHERE o.user_id = u.id;\n"
        "CREATE TABLE tallies (n bigint);\n"
        "UPDATE tallies SET n = 0;",  # new: it has no rows, nobody reads it yet
        "DROP TABLE tallies; ALTER TABLE users DROP COLUMN nick;",
    )
    # Without the live table sizes (lint --all of the files) it is a warning …
    from tests.test_safety_realworld import _lint

    sql = (mdirs.migrations / "20250101_000200_backfill.sql").read_text()
    undo = (mdirs.rollback / "20250101_000200_undo_backfill.sql").read_text()
    files = MigrationDirs(mdirs.root / "files")
    assert _lint(files, "postgresql", PG_BASE, sql, undo) == [("UPDATE-ALL-ROWS", "warning", 2)]
    # … and on the live database, whose users table holds 2 rows, a note.
    found = json.loads(run_cli(*base, "lint", "--json").out)["findings"]
    assert [(f["rule"], f["severity"], f["line"]) for f in found] == [
        ("UPDATE-ALL-ROWS", "info", 2)
    ]
    assert "about 2 rows" in found[0]["why"] and "in batches" in found[0]["instead"]
    # What it warns of: the app's write to any row waits for the whole migration.
    backfill = "UPDATE users SET name = name || ''"
    assert _waits(pg_url, [backfill], "UPDATE users SET name = 'z' WHERE id = 2")
    one_row = "UPDATE users SET name = name || '' WHERE id = 1"
    assert not _waits(pg_url, [one_row], "UPDATE users SET name = 'z' WHERE id = 2")
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("INSERT INTO users SELECT g, 'n' FROM generate_series(3, 100002) AS g")
        conn.execute("ANALYZE users")
    found = json.loads(run_cli(*base, "lint", "--json").out)["findings"]
    assert [(f["rule"], f["severity"]) for f in found] == [("UPDATE-ALL-ROWS", "warning")]
    assert run_cli(*base, "up", "--no-backup").code == 0


def test_an_update_without_where_in_sqlite_is_named_too(
    mdirs: MigrationDirs, sqlite_url: str
) -> None:
    mdirs.add("20250101_000100", "base", "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);",
              "DROP TABLE users;")  # fmt: skip
    mdirs.add(
        "20250101_000200",
        "backfill",
        "ALTER TABLE users ADD COLUMN nick TEXT;\n"
        "UPDATE OR IGNORE users SET nick = 'where';\n"  # the WHERE is a string
        "UPDATE users SET nick = name WHERE nick IS NULL;",
        "ALTER TABLE users DROP COLUMN nick;",
    )
    base = ["--database", sqlite_url, *mdirs.args()]
    assert _found(base, "--all") == [("UPDATE-ALL-ROWS", "warning", 2)]


def test_vacuum_in_a_migration_is_an_error_since_it_cannot_run_there(
    pg_url: str, sqlite_url: str, mdirs: MigrationDirs
) -> None:
    # A hand-written "clean up after the big delete" step: both databases refuse VACUUM inside
    # a transaction, and every migration runs in one, so `up` fails. It used to pass clean.
    for url, dialect_dirs, base_sql in (
        (pg_url, MigrationDirs(mdirs.root / "pg"), PG_BASE),
        (sqlite_url, MigrationDirs(mdirs.root / "sqlite"), SQLITE_BASE),
    ):
        dialect_dirs.add("20250101_000100", "base", base_sql, BASE_UNDO)
        dialect_dirs.add("20250101_000200", "analyze", "ANALYZE users;", "SELECT 1;")  # fine
        base = ["--database", url, *dialect_dirs.args()]
        assert _found(base) == [], url
        assert run_cli(*base, "up", "--no-backup").code == 0, url
        for i, statement in enumerate(("VACUUM users;", "VACUUM;"), 3):
            if url == pg_url and statement == "VACUUM;":
                statement = "VACUUM (FULL, ANALYZE) users;"
            dialect_dirs.add(f"20250101_000{i}00", "vacuum", statement, "SELECT 1;")
            assert _found(base) == [("VACUUM-IN-MIGRATION", "error", 1)], url
            res = run_cli(*base, "up", "--no-backup")
            assert res.code == 1 and "VACUUM" in res.err, (url, res.err)
            (dialect_dirs.migrations / f"20250101_000{i}00_vacuum.sql").unlink()
            (dialect_dirs.rollback / f"20250101_000{i}00_undo_vacuum.sql").unlink()


def test_validate_in_the_migration_that_adds_the_constraint_not_valid_is_named(
    pg_url: str, mdirs: MigrationDirs
) -> None:
    # The two-step advice done in one step: the ADD's lock lasts until the commit, so the
    # VALIDATE scans under it and NOT VALID gained nothing. It used to pass clean.
    base = _pg_base(mdirs, pg_url)
    add_check = "ALTER TABLE users ADD CONSTRAINT users_name_len CHECK (length(name) < 9) NOT VALID"
    add_fk = (
        'ALTER TABLE "orders" ADD CONSTRAINT "fk_rails_f868b47f6a" FOREIGN KEY ("user_id") '
        'REFERENCES "users" ("id") NOT VALID'
    )
    validate_check = "ALTER TABLE users VALIDATE CONSTRAINT users_name_len"
    validate_fk = 'ALTER TABLE "orders" VALIDATE CONSTRAINT "fk_rails_f868b47f6a"'
    undo = (
        "ALTER TABLE users DROP CONSTRAINT users_name_len;\n"
        "ALTER TABLE orders DROP CONSTRAINT fk_rails_f868b47f6a;"
    )
    mdirs.add("20250101_000200", "constraints", ";\n".join(
        [add_check, add_fk, "CREATE TABLE t (id bigint, CONSTRAINT t_id CHECK (id > 0) NOT VALID)",
         "ALTER TABLE t VALIDATE CONSTRAINT t_id", validate_check, validate_fk]) + ";",
        undo + "\nDROP TABLE t;")  # fmt: skip
    assert _found(base) == [
        ("PG-VALIDATE-IN-SAME-MIGRATION", "warning", 5),
        ("PG-VALIDATE-IN-SAME-MIGRATION", "warning", 6),
    ]
    # What it warns of: in the ADD's transaction the app waits (the CHECK: reads too) …
    assert _waits(pg_url, [add_check, validate_check], "SELECT * FROM users")
    assert _waits(pg_url, [add_fk, validate_fk], "INSERT INTO orders VALUES (2, 1)")
    # … while the VALIDATE alone, in a later migration, lets reads and writes through.
    (mdirs.migrations / "20250101_000200_constraints.sql").write_text(f"{add_check};\n{add_fk};")
    (mdirs.rollback / "20250101_000200_undo_constraints.sql").write_text(undo)
    mdirs.add("20250101_000300", "validate", f"{validate_check};\n{validate_fk};", "SELECT 1;")
    assert _found(base, "--all") == []
    assert run_cli(*base, "up", "--no-backup", "--to", "20250101_000200").code == 0
    assert not _waits(pg_url, [validate_check], "INSERT INTO users VALUES (3, 'c')")
    assert not _waits(pg_url, [validate_fk], "INSERT INTO orders VALUES (2, 1)")
    assert run_cli(*base, "up", "--no-backup").code == 0


DO_DROP = """
DO $migrate$
DECLARE
    n integer := 0;  -- a ; in a comment
BEGIN
    IF EXISTS (SELECT 1 FROM information_schema.columns
               WHERE table_name = 'users' AND column_name = 'name') THEN
        ALTER TABLE users DROP COLUMN name;
    END IF;
    EXECUTE format('UPDATE %I SET id = id', 'orders');
END
$migrate$;
"""
DO_IDEMPOTENT = """
DO $$ BEGIN
    CREATE TYPE status AS ENUM ('active', 'inactive');
EXCEPTION
    WHEN duplicate_object THEN null;
END $$;
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM information_schema.columns
                   WHERE table_name = 'users' AND column_name = 'status') THEN
        ALTER TABLE users ADD COLUMN status status;
    END IF;
END $$;
"""


def test_statements_inside_a_do_block_are_linted_like_top_level_ones(
    pg_url: str, mdirs: MigrationDirs
) -> None:
    # Hand-written idempotent migrations wrap their change in DO $$ … $$: the lint never
    # looked inside, so a DROP COLUMN there passed clean. Now it is found at its own line, and
    # the dynamic SQL beside it is named as unread rather than passed silently.
    base = _pg_base(mdirs, pg_url)
    mdirs.add("20250101_000200", "drop_name", DO_DROP, "ALTER TABLE users ADD COLUMN name text;")
    found = json.loads(run_cli(*base, "lint", "--json").out)["findings"]
    assert [(f["rule"], f["severity"], f["line"]) for f in found] == [
        ("DROP-COLUMN", "warning", 7),
        ("PG-DO-NOT-READ", "info", 9),
    ]
    assert "users.name" in found[0]["why"] and "EXECUTE" in found[1]["why"]
    # A lint:ignore above the DO accepts what is inside it.
    path = mdirs.migrations / "20250101_000200_drop_name.sql"
    ignore = "-- lint:ignore DROP-COLUMN the app stopped reading name in 2.3\n"
    path.write_text(ignore + DO_DROP.lstrip())
    found = json.loads(run_cli(*base, "lint", "--json").out)["findings"]
    assert [(f["rule"], f["ignored"]) for f in found] == [
        ("DROP-COLUMN", True),
        ("PG-DO-NOT-READ", False),
    ]
    assert run_cli(*base, "up", "--no-backup").code == 0
    with psycopg.connect(pg_url) as conn:  # what the lint said the block does
        columns = conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'users'"
        ).fetchall()
        assert [c[0] for c in columns] == ["id"]
    # The usual idempotent idioms are clean: what they create, their rollback drops.
    mdirs.add("20250101_000300", "status", DO_IDEMPOTENT,
              "ALTER TABLE users DROP COLUMN status;\nDROP TYPE status;")  # fmt: skip
    assert _found(base) == []
    assert run_cli(*base, "up", "--no-backup").code == 0


def test_a_do_block_the_lint_cannot_read_is_a_note() -> None:
    from malnu_tui.engine.lint.pg_do import do_statements
    from malnu_tui.engine.sqlsplit import split_statements

    sql = (
        "DO LANGUAGE plperl $$ spi_exec_query('DROP TABLE users') $$;\n"
        "DO $$ BEGIN ALTER TABLE users ADD COLUMN x text DEFAULT 'oops; END $$;\n"
        "DO 'BEGIN\n  ALTER TABLE users DROP COLUMN name;\nEND';"
    )
    out: list[Finding] = []
    inner = [do_statements("m.sql", st, out) for st in split_statements(sql)]
    assert [[(s.text, s.line) for s in found] for found in inner] == [
        [],
        [],
        [("ALTER TABLE users DROP COLUMN name", 4)],
    ]
    assert [(f.rule, f.line, f.why) for f in out] == [
        ("PG-DO-NOT-READ", 1, "the DO block is written in plperl, which the lint does not read"),
        ("PG-DO-NOT-READ", 2, "the DO block's body does not parse: an unterminated ' quote"),
    ]


REBUILD_USERS = """
CREATE TABLE users_new (id INTEGER PRIMARY KEY, email {email}, name TEXT);
INSERT INTO users_new (id, email, name) SELECT id, email, name FROM users;
DROP TABLE users;
ALTER TABLE users_new RENAME TO users;
"""


@pytest.mark.parametrize(
    ("email", "expected"),
    [
        ("VARCHAR(320)", []),  # Knex's .alter() of a string(320), as a rebuild
        ("text", []),
        ("VARCHAR(100)", [("COLUMN-TYPE-CHANGE", "warning", 1)]),
        ("INTEGER", [("COLUMN-TYPE-CHANGE", "warning", 1)]),
    ],
)
def test_a_rebuild_that_only_raises_a_text_length_changes_no_type(
    mdirs: MigrationDirs, email: str, expected: list[tuple[str, str, int]]
) -> None:
    base = "CREATE TABLE users (id INTEGER PRIMARY KEY, email VARCHAR(255), name TEXT);"
    assert _lint(mdirs, "sqlite", base, REBUILD_USERS.format(email=email)) == expected


def test_a_dump_resetting_sqlite_sequence_deletes_no_rows(mdirs: MigrationDirs) -> None:
    # `sqlite3 .dump` writes DELETE FROM sqlite_sequence (AUTOINCREMENT counters, set again by
    # the INSERT after it): an error that emptied a table, on a baseline that empties nothing.
    base = "CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT);"
    dump = (
        "INSERT INTO users VALUES(1,'Ana');\nDELETE FROM sqlite_sequence;\n"
        "INSERT INTO sqlite_sequence VALUES('users',1);\nDELETE FROM users;"
    )
    found = _lint(mdirs, "sqlite", base, dump)
    assert [f for f in found if f[0] == "DELETE-ALL-ROWS"] == [("DELETE-ALL-ROWS", "error", 4)]
