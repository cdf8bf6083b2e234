"""The lint on migration files as Rails, Django, Prisma and hand-written SQL produce them:
dangerous statements it must catch, safe ones it must leave alone, both dialects."""

from __future__ import annotations

import json

from malnu_tui.engine.files import discover
from malnu_tui.engine.lint import lint_migrations
from tests.fixtures_core import MigrationDirs, run_cli

SQLITE_USER = (
    'CREATE TABLE "User" ("id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, "email" TEXT NOT NULL);'
)
SQLITE_BASE = """
CREATE TABLE "User" ("id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, "email" TEXT NOT NULL);
CREATE UNIQUE INDEX "User_email_key" ON "User"("email");
"""


def _lint(
    mdirs: MigrationDirs, dialect: str, base: str, sql: str, rollback: str = "SELECT 1;"
) -> list[tuple[str, str, int]]:
    mdirs.add("20250101_000100", "base", base, "SELECT 1;")
    mdirs.add("20250101_000200", "change", sql, rollback)
    mset = discover(mdirs.migrations, mdirs.rollback)
    report = lint_migrations(
        mset,
        ["20250101_000200_change.sql"],
        dialect=dialect,  # type: ignore[arg-type]
        session_lock_timeout=True,
    )
    return [(f.rule, f.severity, f.line) for f in report.findings]


def test_a_sqlite_rebuild_that_never_copies_the_rows_is_a_drop_table(
    mdirs: MigrationDirs, sqlite_url: str
) -> None:
    # The rebuild idiom without its INSERT … SELECT: the new table replaces the old one
    # empty. It used to pass clean, since a rebuild's DROP TABLE is not flagged.
    mdirs.add("20250101_000100", "base", SQLITE_USER, 'DROP TABLE "User";')
    mdirs.add(
        "20250101_000200",
        "rebuild_user",
        """
        CREATE TABLE "new_User" ("id" INTEGER NOT NULL PRIMARY KEY, "email" TEXT NOT NULL);
        DROP TABLE "User";
        ALTER TABLE "new_User" RENAME TO "User";
        """,
        "SELECT 1;",
    )
    base = ["--database", sqlite_url, *mdirs.args()]
    assert run_cli(*base, "up", "--to", "20250101_000100").code == 0
    res = run_cli(*base, "lint", "--json")
    assert res.code == 1, res.err
    found = [(f["rule"], f["severity"], f["line"]) for f in json.loads(res.out)["findings"]]
    assert found == [("DROP-TABLE", "error", 2)]
    # The same rebuild with its copy is clean.
    copy = 'INSERT INTO "new_User" ("id", "email") SELECT "id", "email" FROM "User";\n'
    sql = (mdirs.migrations / "20250101_000200_rebuild_user.sql").read_text()
    (mdirs.migrations / "20250101_000200_rebuild_user.sql").write_text(
        sql.replace('DROP TABLE "User";', copy + 'DROP TABLE "User";')
    )
    res = run_cli(*base, "lint", "--json")
    assert res.code == 0 and json.loads(res.out)["findings"] == [], res.out


PRISMA_BASE = """
CREATE TABLE "User" ("id" INTEGER NOT NULL PRIMARY KEY, "email" TEXT NOT NULL);
CREATE TABLE "Post" (
    "id" INTEGER NOT NULL PRIMARY KEY,
    "title" TEXT NOT NULL,
    "slug" TEXT NOT NULL,
    "authorId" INTEGER,
    CONSTRAINT "Post_authorId_fkey" FOREIGN KEY ("authorId") REFERENCES "User" ("id")
);
CREATE UNIQUE INDEX "Post_slug_key" ON "Post"("slug");
CREATE INDEX "Post_title_idx" ON "Post"("title");
CREATE TRIGGER post_touch AFTER UPDATE ON "Post" BEGIN SELECT 1; END;
"""
PRISMA_REDEFINE = """
-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_Post" (
    "id" INTEGER NOT NULL PRIMARY KEY,
    "title" TEXT NOT NULL,
    "slug" TEXT NOT NULL,
    "authorId" INTEGER,
    "published" BOOLEAN NOT NULL DEFAULT false{fk}
);
INSERT INTO "new_Post" ("authorId", "id", "slug", "title")
SELECT "authorId", "id", "slug", "title" FROM "Post";
DROP TABLE "Post";
ALTER TABLE "new_Post" RENAME TO "Post";{recreate}
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;
"""
PRISMA_FK = (
    ',\n    CONSTRAINT "Post_authorId_fkey" FOREIGN KEY ("authorId") REFERENCES "User" ("id")'
)
PRISMA_RECREATE = """
CREATE UNIQUE INDEX "Post_slug_key" ON "Post"("slug");
CREATE INDEX "Post_title_idx" ON "Post"("title");
CREATE TRIGGER post_touch AFTER UPDATE ON "Post" BEGIN SELECT 1; END;"""


def test_a_sqlite_rebuild_that_forgets_indexes_foreign_keys_or_triggers_is_named(
    mdirs: MigrationDirs, sqlite_url: str
) -> None:
    # DROP TABLE takes the old table's indexes and triggers along, and the new table has only
    # what its CREATE TABLE says: a hand-written rebuild that stops at the RENAME loses them.
    mdirs.add("20250101_000100", "base", PRISMA_BASE, 'DROP TABLE "Post"; DROP TABLE "User";')
    mdirs.add(
        "20250101_000200",
        "published",
        PRISMA_REDEFINE.format(fk="", recreate=""),
        'ALTER TABLE "Post" DROP COLUMN "published";',
    )
    base = ["--database", sqlite_url, *mdirs.args()]
    assert run_cli(*base, "up", "--to", "20250101_000100").code == 0
    res = run_cli(*base, "lint", "--json")  # pending, replayed on the live schema
    assert res.code == 1, res.err
    lost = [
        (f["line"], f["why"])
        for f in json.loads(res.out)["findings"]
        if f["rule"] == "REBUILD-LOSES-OBJECTS"
    ]
    assert [why.split(" loses ")[1].split(":")[0] for _, why in lost] == [
        "UNIQUE (slug)",
        "index Post_title_idx (title)",
        "foreign key authorid → user(id)",
        "trigger post_touch",
    ]
    assert {line for line, _ in lost} == {4}  # the new table's CREATE
    # Re-created after the RENAME (and the foreign key declared): nothing is lost.
    (mdirs.migrations / "20250101_000200_published.sql").write_text(
        PRISMA_REDEFINE.format(fk=PRISMA_FK, recreate=PRISMA_RECREATE)
    )
    res = run_cli(*base, "lint", "--json")
    rules = [f["rule"] for f in json.loads(res.out)["findings"]]
    assert "REBUILD-LOSES-OBJECTS" not in rules, res.out


def test_a_rebuilt_tables_own_indexes_and_triggers_are_not_left_behind_by_its_rollback(
    mdirs: MigrationDirs, sqlite_url: str
) -> None:
    # The re-created indexes and trigger existed before the migration: a rollback that only
    # drops the added column leaves the schema as it was (the stairway agrees).
    mdirs.add("20250101_000100", "base", PRISMA_BASE, 'DROP TABLE "Post"; DROP TABLE "User";')
    mdirs.add(
        "20250101_000200",
        "published",
        PRISMA_REDEFINE.format(fk=PRISMA_FK, recreate=PRISMA_RECREATE),
        'ALTER TABLE "Post" DROP COLUMN "published";',
    )
    base = ["--database", sqlite_url, *mdirs.args()]
    res = run_cli(*base, "lint", "--all", "--json")
    assert res.code == 0 and json.loads(res.out)["findings"] == [], res.out
    assert run_cli(*base, "test").code == 0
    # An index the rebuild adds is new: its rollback must drop it.
    extra = 'CREATE INDEX "Post_published_idx" ON "Post"("published");'
    (mdirs.migrations / "20250101_000200_published.sql").write_text(
        PRISMA_REDEFINE.format(fk=PRISMA_FK, recreate=PRISMA_RECREATE + "\n" + extra)
    )
    res = run_cli(*base, "lint", "--all", "--json")
    found = [(f["rule"], f["line"]) for f in json.loads(res.out)["findings"]]
    assert found == [("ROLLBACK-LEAVES-OBJECTS", 20)], res.out


def test_set_not_null_behind_a_validated_not_null_check_is_not_an_error(
    pg_url: str, mdirs: MigrationDirs
) -> None:
    # strong_migrations' (and this rule's own) advice, in two deploys: a CHECK (col IS NOT
    # NULL) NOT VALID, then VALIDATE it and SET NOT NULL, which PostgreSQL 12+ proves from the
    # validated check without a table scan. It used to be an error all the same.
    mdirs.add("20250101_000100", "base", "CREATE TABLE users (id bigint PRIMARY KEY, email text);",
              "DROP TABLE users;")  # fmt: skip
    mdirs.add(
        "20250101_000200",
        "email_check",
        'ALTER TABLE users ADD CONSTRAINT "users_email_null" CHECK ("email" IS NOT NULL) '
        "NOT VALID;",
        "ALTER TABLE users DROP CONSTRAINT users_email_null;",
    )
    base = ["--database", pg_url, *mdirs.args()]
    assert run_cli(*base, "up", "--no-backup").code == 0
    mdirs.add(
        "20250101_000300",
        "email_not_null",
        """
        ALTER TABLE users VALIDATE CONSTRAINT users_email_null;
        ALTER TABLE users ALTER COLUMN email SET NOT NULL;
        ALTER TABLE users DROP CONSTRAINT users_email_null;
        """,
        "ALTER TABLE users ALTER COLUMN email DROP NOT NULL;",
    )
    for args in (["lint", "--json"], ["lint", "--all", "--json"]):
        res = run_cli(*base, *args)
        assert res.code == 0 and json.loads(res.out)["findings"] == [], res.out
    assert run_cli(*base, "up", "--no-backup").code == 0


def test_set_not_null_behind_a_check_not_yet_validated_is_still_an_error(
    mdirs: MigrationDirs,
) -> None:
    assert _lint(
        mdirs,
        "postgresql",
        "CREATE TABLE t (id bigint, x text);",
        "ALTER TABLE t ADD CONSTRAINT x_nn CHECK (x IS NOT NULL) NOT VALID;\n"
        "ALTER TABLE t ALTER COLUMN x SET NOT NULL;",
        "ALTER TABLE t ALTER COLUMN x DROP NOT NULL;",
    ) == [("SET-NOT-NULL", "error", 2)]


def test_a_foreign_key_added_without_not_valid_is_named(pg_url: str, mdirs: MigrationDirs) -> None:
    # What Rails' add_foreign_key writes: validated at once against every row, under a lock
    # on both tables, and it fails on one orphan. It used to pass clean.
    import psycopg

    mdirs.add(
        "20250101_000100",
        "base",
        "CREATE TABLE users (id bigint PRIMARY KEY);\n"
        "CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint);",
        "DROP TABLE orders; DROP TABLE users;",
    )
    base = ["--database", pg_url, *mdirs.args()]
    assert run_cli(*base, "up", "--no-backup").code == 0
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("INSERT INTO orders VALUES (1, 42)")  # no user 42
    fk = (
        'ALTER TABLE "orders" ADD CONSTRAINT "fk_rails_f868b47f6a" FOREIGN KEY ("user_id") '
        'REFERENCES "users" ("id"){};'
    )
    undo = 'ALTER TABLE "orders" DROP CONSTRAINT "fk_rails_f868b47f6a";'
    mdirs.add("20250101_000200", "orders_fk", fk.format(""), undo)
    found = json.loads(run_cli(*base, "lint", "--json").out)["findings"]
    assert [(f["rule"], f["severity"], f["line"]) for f in found] == [
        ("ADD-FOREIGN-KEY", "warning", 1)
    ]
    assert "orders" in found[0]["why"] and "NOT VALID" in found[0]["instead"]
    assert run_cli(*base, "up", "--no-backup").code == 1  # the orphan: what it warned of
    (mdirs.migrations / "20250101_000200_orders_fk.sql").write_text(fk.format(" NOT VALID"))
    assert json.loads(run_cli(*base, "lint", "--json").out)["findings"] == []
    assert run_cli(*base, "up", "--no-backup").code == 0


def test_add_column_that_rewrites_a_postgresql_table_is_named(
    pg_url: str, mdirs: MigrationDirs
) -> None:
    # PostgreSQL 11+ stores a constant or stable default once; a volatile one, a serial, an
    # identity or a stored generated column is computed per row: the table is rewritten (a
    # new file on disk) under ACCESS EXCLUSIVE. These used to pass clean.
    import psycopg

    mdirs.add("20250101_000100", "base", "CREATE TABLE users (id bigint PRIMARY KEY);",
              "DROP TABLE users;")  # fmt: skip
    base = ["--database", pg_url, *mdirs.args()]
    assert run_cli(*base, "up", "--no-backup").code == 0

    def filenode() -> int:
        with psycopg.connect(pg_url) as conn:
            row = conn.execute("SELECT pg_relation_filenode('users')").fetchone()
            assert row is not None
            return int(row[0])

    cases = [  # (column definition, rewrites)
        ("token uuid DEFAULT gen_random_uuid()", True),
        ("seq bigserial", True),
        ("n integer GENERATED ALWAYS AS IDENTITY", True),
        ("twice bigint GENERATED ALWAYS AS (id * 2) STORED", True),
        ("seen timestamptz DEFAULT clock_timestamp()", True),
        ("at timestamptz NOT NULL DEFAULT now()", False),
        ("note text DEFAULT 'random()'", False),  # a string, not a call
        ("serial_no text", False),
    ]
    for i, (definition, rewrites) in enumerate(cases, 2):
        version = f"20250101_000{i}00"
        column = definition.split()[0]
        mdirs.add(version, f"add_{column}", f"ALTER TABLE users ADD COLUMN {definition};",
                  f"ALTER TABLE users DROP COLUMN {column};")  # fmt: skip
        found = json.loads(run_cli(*base, "lint", "--json").out)["findings"]
        expected = [("PG-ADD-COLUMN-REWRITE", "warning", 1)] if rewrites else []
        assert [(f["rule"], f["severity"], f["line"]) for f in found] == expected, definition
        before = filenode()
        assert run_cli(*base, "up", "--no-backup").code == 0
        assert (filenode() != before) is rewrites, definition  # what PostgreSQL really did


def test_truncate_and_delete_without_where_are_destructive(
    mdirs: MigrationDirs, sqlite_url: str
) -> None:
    # Both empty a table the app still reads, as surely as DROP TABLE; they used to pass clean.
    mdirs.add(
        "20250101_000100",
        "base",
        'CREATE TABLE "Orders" (id INTEGER PRIMARY KEY, note TEXT);\n'
        "CREATE TABLE lines (id INTEGER PRIMARY KEY);",
        'DROP TABLE lines; DROP TABLE "Orders";',
    )
    mdirs.add(
        "20250101_000200",
        "cleanup",
        """
        delete from "Orders" where note = 'test';
        DELETE FROM lines WHERE id IN (SELECT id FROM lines LIMIT 10);
        delete from "Orders";   DELETE FROM lines;
        CREATE TABLE scratch (id INTEGER);
        DELETE FROM scratch;
        INSERT INTO scratch SELECT id FROM lines;
        """,
        "DROP TABLE scratch;",
    )
    base = ["--database", sqlite_url, *mdirs.args()]
    assert run_cli(*base, "up", "--to", "20250101_000100").code == 0
    res = run_cli(*base, "lint", "--json")
    assert res.code == 1, res.err
    findings = json.loads(res.out)["findings"]
    found = [(f["rule"], f["severity"], f["line"], f["why"]) for f in findings]
    assert found == [
        ("DELETE-ALL-ROWS", "error", 3, "DELETE without WHERE empties Orders"),
        ("DELETE-ALL-ROWS", "error", 3, "DELETE without WHERE empties lines"),
    ]
    assert _lint(
        MigrationDirs(mdirs.root / "pg"),
        "postgresql",
        "CREATE TABLE a (id bigint); CREATE TABLE b (id bigint);",
        "CREATE TABLE a_saved AS SELECT * FROM a;\n"
        'TRUNCATE TABLE ONLY "a", b RESTART IDENTITY CASCADE;\n'
        "TRUNCATE a_saved;",
        "DROP TABLE a_saved;",
    ) == [("DELETE-ALL-ROWS", "error", 2), ("DELETE-ALL-ROWS", "error", 2)]
    # (a is copied aside, but CASCADE also empties the tables referencing a, which are not:
    # an error still; without CASCADE the copy makes it a warning.)
    assert _lint(
        MigrationDirs(mdirs.root / "pg2"),
        "postgresql",
        "CREATE TABLE a (id bigint);",
        "CREATE TABLE a_saved AS SELECT * FROM a;\nTRUNCATE a RESTART IDENTITY;",
        "DROP TABLE a_saved;",
    ) == [("DELETE-ALL-ROWS", "warning", 2)]
