"""D1's rule set of the lint: what D1 rejects or runs differently, with file, line, why and
what to do instead."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from malnu_tui.engine.files import MigrationSet, discover
from malnu_tui.engine.lint import Finding
from malnu_tui.engine.lint import lint_migrations as lint_all
from tests.fixtures_core import MigrationDirs


def lint_migrations(
    mset: MigrationSet, only: Iterable[str] | None = None, *, base_schema: Sequence[str] = ()
) -> list[Finding]:
    """The D1 rule set's findings only (the general rules are tests/test_lint.py's)."""
    report = lint_all(mset, only, d1=True, base_schema=base_schema)
    return [f for f in report.findings if f.rule.startswith("D1-")]


def codes(d: MigrationDirs, only: list[str] | None = None) -> list[tuple[str, int, str]]:
    mset = discover(d.migrations, d.rollback)
    return [(f.file, f.line, f.rule) for f in lint_migrations(mset, only)]


def test_transactions_savepoints_and_pragmas(mdirs: MigrationDirs) -> None:
    d = mdirs
    d.add(
        "20250101_000100",
        "template",
        "BEGIN TRANSACTION;\nCREATE TABLE a (id INTEGER PRIMARY KEY);\nCOMMIT;\n",
    )
    d.add(
        "20250101_000200",
        "bad",
        "PRAGMA foreign_keys = OFF;\nSAVEPOINT s;\nCREATE TABLE b (id INTEGER);\nRELEASE s;\n"
        "PRAGMA defer_foreign_keys = on;\nVACUUM;\nATTACH DATABASE 'x.db' AS x;\n",
    )
    got = codes(d)
    assert got == [
        ("20250101_000100_template.sql", 1, "D1-TRANSACTION"),
        ("20250101_000100_template.sql", 3, "D1-TRANSACTION"),
        ("20250101_000200_bad.sql", 1, "D1-PRAGMA-FK"),
        ("20250101_000200_bad.sql", 2, "D1-SAVEPOINT"),
        ("20250101_000200_bad.sql", 4, "D1-SAVEPOINT"),
        ("20250101_000200_bad.sql", 6, "D1-VACUUM"),
        ("20250101_000200_bad.sql", 7, "D1-ATTACH"),
    ]
    mset = discover(d.migrations, d.rollback)
    first = lint_migrations(mset)[2]
    assert "defer_foreign_keys" in first.instead and first.severity == "warning"
    assert "20250101_000200_bad.sql:1: warning [D1-PRAGMA-FK]" in first.describe()


def test_table_rebuild_with_cascading_children(mdirs: MigrationDirs) -> None:
    d = mdirs
    d.add(
        "20250101_000100",
        "schema",
        """
        CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT);
        CREATE TABLE submissions (id INTEGER PRIMARY KEY,
            student_id INTEGER REFERENCES users(id) ON DELETE CASCADE);
        CREATE TABLE chat_conversations (id INTEGER PRIMARY KEY,
            user_id INTEGER REFERENCES users(id) ON DELETE SET NULL);
        CREATE TABLE notes (id INTEGER PRIMARY KEY);
        """,
    )
    d.add(
        "20250101_000200",
        "rebuild_users",
        """
        PRAGMA defer_foreign_keys = on;
        CREATE TABLE users_new (id INTEGER PRIMARY KEY, email TEXT NOT NULL);
        INSERT INTO users_new SELECT id, coalesce(email, '') FROM users;
        DROP TABLE users;
        ALTER TABLE users_new RENAME TO users;
        DROP TABLE IF EXISTS "notes";
        """,
    )
    mset = discover(d.migrations, d.rollback)
    found = lint_migrations(mset)
    assert [(f.line, f.rule, f.severity) for f in found] == [
        (4, "D1-CASCADE-REBUILD", "error"),
        (4, "D1-FK-ACTION-REBUILD", "warning"),
    ]
    assert "submissions(student_id)" in found[0].why
    assert "chat_conversations(user_id) SET NULL" in found[1].why
    # Only the pending file, on top of a live schema that has the children.
    live = [
        "CREATE TABLE users (id INTEGER PRIMARY KEY)",
        "CREATE TABLE grades (id INTEGER, user_id INTEGER REFERENCES users ON DELETE CASCADE)",
    ]
    found = lint_migrations(mset, ["20250101_000200_rebuild_users.sql"], base_schema=live)
    assert [f.rule for f in found] == ["D1-CASCADE-REBUILD"] and "grades" in found[0].why
    # No children, no finding.
    assert lint_migrations(mset, ["20250101_000100_schema.sql"]) == []


def test_statement_size(mdirs: MigrationDirs) -> None:
    d = mdirs
    d.add(
        "20250101_000100",
        "big",
        "CREATE TABLE t (x TEXT);\nINSERT INTO t VALUES ('" + "x" * 100_001 + "');\n",
    )
    assert codes(d) == [("20250101_000100_big.sql", 2, "D1-STATEMENT-SIZE")]


def test_d1s_column_argument_and_pattern_limits(mdirs: MigrationDirs) -> None:
    """D1 refuses a table of more than 100 columns, a function of more than 32 arguments
    (json_object of 17 pairs, a report view's coalesce) and a LIKE/GLOB pattern over 50 bytes
    (developers.cloudflare.com/d1/platform/limits/). The lint said nothing: the migration
    failed on D1 only, and a CHECK's long pattern passed `up` and then failed every INSERT of
    the application. Each is now an error at its line; what is within them is not."""
    wide = ", ".join(f"c{i} TEXT" for i in range(101))
    within = ", ".join(f"c{i} TEXT" for i in range(100))
    pairs = ", ".join(f"'k{i}', {i}" for i in range(17))
    fewer = ", ".join(f"'k{i}', {i}" for i in range(16))
    pattern = "%" + "@malnu-kananga.sch.id" * 3  # 64 bytes
    d = mdirs
    d.add(
        "20250101_000100",
        "limits",
        f"CREATE TABLE wide ({wide});\n"
        f"CREATE VIEW v AS SELECT json_object({pairs}) AS j;\n"
        f"CREATE TABLE guru (email TEXT CHECK (email LIKE '{pattern}'));\n"
        f"CREATE TABLE ok ({within});\n"
        f"CREATE VIEW w AS SELECT json_object({fewer}) AS j;\n"
        "CREATE TABLE murid (email TEXT CHECK (email LIKE '%@malnu-kananga.sch.id'));\n"
        f"INSERT INTO ok VALUES ({', '.join(repr(f'v{i}') for i in range(100))});\n"
        f"INSERT INTO ok (c0) VALUES (json_object({pairs}));\n",
    )
    mset = discover(d.migrations, d.rollback)
    found = [(f.line, f.rule, f.why) for f in lint_migrations(mset)]
    assert [(line, rule) for line, rule, _ in found] == [
        (1, "D1-LIMITS"),
        (2, "D1-LIMITS"),
        (3, "D1-LIMITS"),
        (8, "D1-LIMITS"),
    ], found
    assert "too many columns on wide" in found[0][2]
    assert "too many arguments on function json_object" in found[1][2]
    assert "pattern of 64 bytes" in found[2][2]


def test_a_template_rollback_s_begin_commit_is_said_as_the_migration_s(
    mdirs: MigrationDirs,
) -> None:
    """The seed template's rollback (`BEGIN TRANSACTION; DROP TABLE a; COMMIT;`): the tool
    strips its BEGIN/COMMIT as it does the migration's, and said so only of the migration."""
    mdirs.add(
        "20250101_000100",
        "template",
        "CREATE TABLE a (id INTEGER PRIMARY KEY);\n",
        "BEGIN TRANSACTION;\nDROP TABLE a;\nCOMMIT;\n",
    )
    assert codes(mdirs) == [
        ("20250101_000100_undo_template.sql", 1, "D1-TRANSACTION"),
        ("20250101_000100_undo_template.sql", 3, "D1-TRANSACTION"),
    ]
    found = lint_migrations(discover(mdirs.migrations, mdirs.rollback))
    assert "stripped by the tool" in found[0].why and found[0].severity == "warning"
