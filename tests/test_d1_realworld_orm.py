"""Two wrangler D1 sets written for this project in the shapes JavaScript ORMs write
(tests/realworld/README.md): ``prisma_d1_like`` (``prisma migrate diff --script`` output kept
as wrangler files: quoted PascalCase tables, text cuid ids, ``BOOLEAN NOT NULL DEFAULT
false``, ``DATETIME … DEFAULT CURRENT_TIMESTAMP``, ``CONSTRAINT "X_fkey" FOREIGN KEY … ON
DELETE RESTRICT ON UPDATE CASCADE``, ``"X_y_key"`` unique indexes, ``-- RedefineTables``
rebuilds of tables others reference, with rows) and ``drizzle_d1_like`` (drizzle-kit's
``--> statement-breakpoint`` files, backtick names, ``integer DEFAULT true``, ``DEFAULT
(unixepoch())``, a ``__new_students`` rebuild, ``ALTER TABLE … ADD``, its ``meta/`` folder
beside). Put through what an operator runs: ``lint --all`` in the wrangler project, ``up``/
``status``/``rollback`` on SQLite and the D1 stand-in, ``parity`` on PostgreSQL, a ``sync``
into PostgreSQL and ``sync verify``. Every finding is pinned: each is true."""

from __future__ import annotations

import contextlib
import json
import shutil
import sqlite3
from datetime import datetime
from pathlib import Path

import psycopg
import pytest

from malnu_tui.engine.files import discover
from malnu_tui.engine.lint.core import lint_migrations
from malnu_tui.engine.parity.introspect import postgres_shape, sqlite_shape
from malnu_tui.engine.parity.shapes import compare
from tests.fixtures_core import MigrationDirs, run_cli
from tests.fixtures_d1 import D1Target

SETS = Path(__file__).parent / "realworld"


# Both sets in one wrangler project (one `up`, one parity, one sync: each CLI run and sync has
# a fixed cost), each renamed under its own day.
DAYS = {"prisma_d1_like": "20240101", "drizzle_d1_like": "20240102"}


def _project(root: Path) -> MigrationDirs:
    """The sets in a wrangler project, renamed as the bad-name hint asks
    (``0003_add_guardian.sql`` → ``20240101_000003_add_guardian.sql``); drizzle-kit's
    ``meta/`` folder (``_journal.json``, a snapshot) kept beside the files, as it keeps it."""
    d = MigrationDirs(root / "sekolah")
    d.migrations.mkdir(parents=True)
    d.rollback.mkdir()
    for name, day in DAYS.items():
        src = SETS / name / "migrations"
        for f in sorted(src.glob("*.sql")):
            number, rest = f.name.split("_", 1)
            shutil.copyfile(f, d.migrations / f"{day}_{int(number):06d}_{rest}")
        if (src / "meta").is_dir():
            shutil.copytree(src / "meta", d.migrations / "meta")
    (d.root / "wrangler.toml").write_text(
        'name = "sekolah"\n[[d1_databases]]\nbinding = "DB"\ndatabase_name = "sekolah"\n'
        'database_id = "0"\n',
        encoding="utf-8",
    )
    return d


APP_ROWS = [
    # As the Worker writes them: Prisma's client stores a DateTime in SQLite as Unix ms.
    'INSERT INTO "Student" ("nis", "fullName", "email", "isActive", "gradeLevel", "createdAt", '
    "\"updatedAt\") VALUES ('2024004', 'Putri Ayu', NULL, 1, 11, 1722584721903, 1722584721903)",
    'UPDATE "Student" SET "isActive" = 0, "updatedAt" = 1722584800000 WHERE "nis" = \'2024002\'',
    'INSERT INTO "Enrolment" ("id", "studentId", "courseId", "score", "passed", "note", '
    "\"enrolledAt\") VALUES ('clz0enrol0000qz8hxyz00001', 4, 'clyn3k0v50000qz8h2b7c1x9d', "
    "91.25, 1, 'pindahan', 1722584721903)",
    # drizzle's: booleans as true/false, stamps from its unixepoch() defaults
    "INSERT INTO `students` (`email`, `name`, `nisn`, `class_id`, `active`) VALUES "
    "('rina@malnu.sch.id', 'Rina', '0081234567', 2, true)",
    "UPDATE `students` SET `active` = false, `updated_at` = unixepoch() WHERE `id` = 1",
    "INSERT INTO `attendance` (`student_id`, `day`, `present`) VALUES (4, '2024-07-16', 1)",
    "INSERT INTO `grades` (`student_id`, `subject`, `score`, `term`) VALUES (4, 'Fisika', 88.5, 2)",
]


# The findings of `lint --all` in the wrangler project beside each file's NO-ROLLBACK (wrangler
# sets are forward-only): (rule, file's version, line, severity). Each is true: the test on
# the D1 stand-in below shows the child rows the rebuilds' DROP TABLE empties there.
LINT_ALL = [
    ("DROP-COLUMN", "20240101_000004", 14, "error"),  # Course.fee, with its values
    # DROP TABLE "Course": Enrolment's ON DELETE CASCADE fires on D1 (foreign keys always on,
    # `PRAGMA foreign_keys=OFF` ignored, `defer_foreign_keys` does not stop it).
    ("D1-CASCADE-REBUILD", "20240101_000004", 25, "error"),
    # Prisma's DropTable (`PRAGMA foreign_keys=off; DROP TABLE "Guardian"; …=on;`) runs
    # before its rebuild's `defer_foreign_keys`: on D1 the drop sets Student.guardianId NULL
    ("D1-PRAGMA-FK", "20240101_000005", 10, "warning"),
    ("DROP-TABLE", "20240101_000005", 11, "error"),
    ("D1-FK-ACTION-REBUILD", "20240101_000005", 11, "warning"),
    ("DROP-COLUMN", "20240101_000005", 17, "error"),  # Student.guardianId, in the rebuild
    ("D1-PRAGMA-FK", "20240102_000003", 1, "warning"),
    # (no ADD-UNIQUE for `students_nisn_unique`: the rebuild's new `nisn` is NULL in every
    # row, and NULLs are distinct; it was a warning)
    ("D1-CASCADE-REBUILD", "20240102_000003", 16, "error"),  # attendance's rows
]
# `parity`'s notes (nothing withheld, nothing refused): (construct, file's version, line).
PARITY_NOTES = [
    ("PRAGMA", "20240101_000003", 11),
    ("PRAGMA", "20240101_000003", 12),
    ("DROP TABLE Student", "20240101_000003", 26),  # became DROP … CASCADE
    ("FOREIGN KEY Enrolment(studentId)", "20240101_000003", 27),  # re-created after it
    ("PRAGMA", "20240101_000003", 31),
    ("PRAGMA", "20240101_000003", 32),
    ("PRAGMA", "20240101_000004", 12),
    ("PRAGMA", "20240101_000004", 13),
    ("DROP TABLE Course", "20240101_000004", 25),
    ("FOREIGN KEY Enrolment(courseId)", "20240101_000004", 26),
    ("PRAGMA", "20240101_000004", 28),
    ("PRAGMA", "20240101_000004", 29),
    ("PRAGMA", "20240101_000005", 10),
    ("DROP TABLE Guardian", "20240101_000005", 11),  # (Student's key to it goes with it)
    ("PRAGMA", "20240101_000005", 12),
    ("PRAGMA", "20240101_000005", 15),
    ("PRAGMA", "20240101_000005", 16),
    ("DROP TABLE Student", "20240101_000005", 28),
    ("FOREIGN KEY Enrolment(studentId)", "20240101_000005", 29),
    ("PRAGMA", "20240101_000005", 32),
    ("PRAGMA", "20240101_000005", 33),
    ("column active DEFAULT true", "20240102_000000", 8),  # became 1 in its integer column
    ("column present DEFAULT false", "20240102_000001", 1),
    ("PRAGMA", "20240102_000003", 1),
    ("column active DEFAULT true", "20240102_000003", 2),
    ("DROP TABLE students", "20240102_000003", 16),
    ("FOREIGN KEY attendance(student_id)", "20240102_000003", 17),
    ("PRAGMA", "20240102_000003", 18),
    # grades' `label … GENERATED ALWAYS AS (…) VIRTUAL` is STORED there (and no difference:
    # its expression was compared as a default SQLite's side did not have)
    ("column label", "20240102_000004", 1),
]
# A migration written after the switch, with its rollback (one table of each set).
LATER = (
    'ALTER TABLE "Student" ADD COLUMN "nickname" TEXT;\n'
    "ALTER TABLE `students` ADD `nickname` text;",
    'ALTER TABLE `students` DROP COLUMN `nickname`;\nALTER TABLE "Student" DROP COLUMN "nickname";',
)
# The rows the rebuilt tables' children held: 3 each, kept on a SQLite file (`PRAGMA
# foreign_keys=OFF` honoured); D1 empties them.
CHILDREN = 'SELECT (SELECT count(*) FROM "Enrolment"), (SELECT count(*) FROM attendance)'
MIGRATIONS = 10


def test_lint_all_in_the_wrangler_project_pins_every_finding(tmp_path: Path) -> None:
    d = _project(tmp_path)
    res = run_cli(*d.args(), "lint", "--all", "--json", cwd=d.root)
    report = json.loads(res.out)
    assert res.code == 1 and report["rule_sets"] == ["general", "sqlite", "d1"], res.err
    found = [(f["rule"], f["file"][:15], f["line"], f["severity"]) for f in report["findings"]]
    assert [f for f in found if f[0] != "NO-ROLLBACK"] == LINT_ALL
    files = sorted(p.name[:15] for p in d.migrations.glob("*.sql"))
    assert [f[1] for f in found if f[0] == "NO-ROLLBACK"] == files and len(files) == MIGRATIONS


def test_up_parity_rollback_status_on_sqlite(tmp_path: Path, pg_url: str) -> None:
    """On a SQLite file (drizzle-kit's `meta/` beside the files is no migration): `up`, then
    `parity` on PostgreSQL (0 differences; each rebuild's DROP TABLE of a parent became DROP
    … CASCADE with the children's keys made again), a later migration's `up`, `rollback`
    and `status`. The rebuilt tables' children keep their rows here."""
    d = _project(tmp_path)
    app = d.root / "app.db"
    base = ["--database", f"sqlite:///{app}", *d.args()]
    res = run_cli(*base, "up", "--no-backup")
    assert res.code == 0 and f"applied {MIGRATIONS} migration(s)" in res.err, res.err
    res = run_cli(*base, "parity", "--postgres", pg_url, "--json")
    assert res.code == 0, res.out[-2000:] + res.err
    report = json.loads(res.out)["reports"][0]
    assert report["differences"] == [] and len(report["expected"]["tables"]) == 7
    got = [(f["construct"], f["file"][:15], f["line"]) for f in report["findings"]]
    assert got == PARITY_NOTES
    assert {f["severity"] for f in report["findings"]} == {"note"}
    d.add("20240201_000000", "add_nickname", *LATER)
    assert run_cli(*base, "up", "--no-backup").code == 0
    res = run_cli(*base, "rollback", "--no-backup", "--yes")
    assert res.code == 0 and "rolled back 1 migration(s)" in res.err, res.err
    states = [m["state"] for m in json.loads(run_cli(*base, "status", "--json").out)["migrations"]]
    assert states == ["applied"] * MIGRATIONS + ["pending"]
    conn = sqlite3.connect(app)
    try:
        assert conn.execute(CHILDREN).fetchall() == [(3, 3)]
    finally:
        conn.close()


# What the app writes after the first sync, before the second.
LATER_ROWS = [
    # Prisma's Student: a DATETIME of Unix ms beside the seed's text (read from the watermark
    # of its @updatedAt)
    'UPDATE "Student" SET "fullName" = \'Siti Aisyah Putri\', "updatedAt" = 1722600000000 '
    'WHERE "id" = 1',
    'INSERT INTO "Student" ("nis", "fullName", "createdAt", "updatedAt") '
    "VALUES ('2024005', 'Bayu', 1722600000001, 1722600000001)",
    # drizzle's students: read from the watermark of its unixepoch() `updated_at`, and the
    # rows whose `updated_at` is NULL each pass
    "UPDATE `students` SET `name` = 'Ahmad F.', `updated_at` = unixepoch() + 5 WHERE `id` = 1",
    "UPDATE `students` SET `phone` = '+62 1' WHERE `id` = 2",  # (its updated_at NULL)
    "INSERT INTO `students` (`email`, `name`, `updated_at`) VALUES ('x@y', 'X', NULL)",
]
# What the copy holds after the second sync (PostgreSQL folds the quoted camelCase names as
# the translation does): Prisma's BOOLEAN a boolean, its DATETIME a timestamp from the seed's
# text and the client's Unix milliseconds alike; drizzle's integer booleans and unixepoch()
# seconds integers, as D1 holds them.
STUDENT = "SELECT id, fullname, isactive, gradelevel, updatedat FROM student"
STUDENT_COPY = [
    (1, "Siti Aisyah Putri", True, 10, datetime(2024, 8, 2, 12, 0)),
    (2, "Muhammad Rizky", False, 10, datetime(2024, 8, 2, 7, 46, 40)),
    (3, "Dewi Lestari", False, 10, datetime(2024, 7, 15, 2, 31, 9)),
    (4, "Putri Ayu", True, 11, datetime(2024, 8, 2, 7, 45, 21, 903000)),
    (5, "Bayu", True, 10, datetime(2024, 8, 2, 12, 0, 0, 1000)),
]
# (stamped by unixepoch() on D1: compared with D1's own rows)
STUDENTS = "SELECT id, name, nisn, class_id, active, created_at, updated_at, phone FROM students"


def test_up_rollback_status_on_d1_and_sync_into_postgresql(
    tmp_path: Path, d1: D1Target, pg_url: str
) -> None:
    """On the D1 stand-in: `up` (each rebuild's DROP TABLE empties the child table, as the
    lint's D1-CASCADE-REBUILD says), the Worker's rows, a later migration's `up`, `rollback`
    and `status`; then `sync` into PostgreSQL, the app's changes, a second `sync`
    (drizzle's integer `updated_at` and Prisma's `updatedAt` read from their watermarks) and
    `sync verify`: every value as D1 holds it."""
    d = _project(tmp_path)
    base = ["--database", d1.url, *d.args()]
    res = run_cli(*base, "up", "--no-backup")
    assert res.code == 0 and f"applied {MIGRATIONS} migration(s)" in res.err, res.err
    assert d1.sql(CHILDREN) == [(0, 0)]  # (3 and 3 on a SQLite file: the finding is true)
    for sql in APP_ROWS:
        d1.sql(sql)
    d.add("20240201_000000", "add_nickname", *LATER)
    assert run_cli(*base, "up", "--no-backup").code == 0
    res = run_cli(*base, "rollback", "--no-backup", "--yes")
    assert res.code == 0 and "rolled back 1 migration(s)" in res.err, res.err
    res = run_cli(*base, "status", "--json")
    states = [m["state"] for m in json.loads(res.out)["migrations"]]
    assert states == ["applied"] * MIGRATIONS + ["pending"]
    config = d.root / "malnu.toml"
    config.write_text(
        f'[targets.prod]\nurl = "{d1.url}"\n\n[targets.mirror]\nurl = "{pg_url}"\n\n'
        '[sync.cermin]\nfrom = "prod"\nto = "mirror"\n',
        encoding="utf-8",
    )
    res = run_cli("--config", str(config), "sync", "cermin", "--yes")
    assert res.code == 0 and "7 table(s) synced and verified" in res.err, res.err
    for sql in LATER_ROWS:
        d1.sql(sql)
    res = run_cli("--config", str(config), "sync", "cermin", "--tables", "Student,students",
                  "--yes", "--json")  # fmt: skip
    assert res.code == 0, res.err
    counts = {r["table"]: (r["inserted"], r["updated"], r["deleted"]) for r in json.loads(res.out)}
    assert counts == {"Student": (1, 1, 0), "students": (1, 2, 0)}
    # Prisma's @updatedAt is the change column with none configured (it was a checksum pass,
    # which on D1 reads every row of the table): said in the plan, the JSON as it was.
    assert {r["table"]: r["mode"] for r in json.loads(res.out)} == {
        "Student": "updated_at",
        "students": "updated_at",
    }
    assert "Student: updated_at (rows with updatedAt >= 2024-08-02 07:41:40)" in res.err, res.err
    assert "note: change column updatedAt (no updated_at column)" in res.err
    res = run_cli("--config", str(config), "sync", "verify", "cermin")
    assert res.code == 0 and "7 table(s) equal on both sides" in res.err, res.err
    with psycopg.connect(pg_url) as conn:
        students = conn.execute(STUDENT + " ORDER BY id").fetchall()
        rows = conn.execute(STUDENTS + " ORDER BY id").fetchall()
    assert students == STUDENT_COPY
    assert rows == d1.sql(STUDENTS + " ORDER BY id") and len(rows) == 5
    assert [r[4] for r in rows] == [0, 1, 0, 1, 1]  # `active`, 1/0 as D1 holds it


# (the migration after `CREATE TABLE s (id INTEGER PRIMARY KEY, code TEXT)` and two rows,
# whether ADD-UNIQUE is said, whether SQLite builds the index on those rows)
NEW_COLUMN_UNIQUE = [
    # drizzle-kit's and Prisma's way to add a unique column on SQLite: NULL in every row
    ("ALTER TABLE `s` ADD `nisn` text;--> statement-breakpoint\n"
     "CREATE UNIQUE INDEX `s_nisn_unique` ON `s` (`nisn`);", False, True),
    ('ALTER TABLE "s" ADD COLUMN "nisn" TEXT;\n'
     'CREATE UNIQUE INDEX "s_nisn_key" ON "s"("nisn", "code");', False, True),
    # counter-examples: a constant default, a backfill before the index, an expression
    ("ALTER TABLE s ADD COLUMN nisn TEXT DEFAULT 'x';\nCREATE UNIQUE INDEX u ON s (nisn);",
     True, False),
    ("ALTER TABLE s ADD COLUMN nisn TEXT;\nUPDATE s SET nisn = 'x' WHERE id > 0;\n"
     "CREATE UNIQUE INDEX u ON s (nisn);", True, False),
    ("ALTER TABLE s ADD COLUMN nisn TEXT;\nCREATE UNIQUE INDEX u ON s (coalesce(nisn, ''));",
     True, False),
    ("CREATE UNIQUE INDEX u ON s (code);", True, False),  # (both rows' code is 'a')
    # a rebuild (drizzle-kit's `__new_s`) gaining the column: NULL in every row, unless the
    # copy fills it or a write follows the copy
    ("PRAGMA foreign_keys=OFF;\nCREATE TABLE `__new_s` (`id` integer PRIMARY KEY, `code` text, "
     "`nisn` text);\nINSERT INTO `__new_s`(\"id\", \"code\") SELECT \"id\", \"code\" FROM `s`;\n"
     "DROP TABLE `s`;\nALTER TABLE `__new_s` RENAME TO `s`;\nPRAGMA foreign_keys=ON;\n"
     "CREATE UNIQUE INDEX `s_nisn_unique` ON `s` (`nisn`);", False, True),
    ("PRAGMA foreign_keys=OFF;\nCREATE TABLE `__new_s` (`id` integer PRIMARY KEY, `code` text, "
     "`nisn` text);\nINSERT INTO `__new_s`(\"id\", \"code\", \"nisn\") SELECT \"id\", \"code\", "
     "\"code\" FROM `s`;\nDROP TABLE `s`;\nALTER TABLE `__new_s` RENAME TO `s`;\n"
     "CREATE UNIQUE INDEX `s_nisn_unique` ON `s` (`nisn`);", True, False),
    ("PRAGMA foreign_keys=OFF;\nCREATE TABLE `__new_s` (`id` integer PRIMARY KEY, `code` text, "
     "`nisn` text);\nINSERT INTO `__new_s`(\"id\", \"code\") SELECT \"id\", \"code\" FROM `s`;\n"
     "DROP TABLE `s`;\nALTER TABLE `__new_s` RENAME TO `s`;\n"
     "UPDATE s SET nisn = 'x' WHERE id > 0;\n"
     "CREATE UNIQUE INDEX `s_nisn_unique` ON `s` (`nisn`);", True, False),
]  # fmt: skip


def test_a_unique_index_on_a_column_null_in_every_row_is_no_add_unique(
    mdirs: MigrationDirs,
) -> None:
    """drizzle-kit's rebuild of `students` gaining `nisn` with `students_nisn_unique` (and
    its and Prisma's `ADD` then `CREATE UNIQUE INDEX` of a new unique column) warned "adds
    UNIQUE (nisn)": the column is NULL in every row, NULLs are distinct, and SQLite builds
    the index whatever the table holds. A default, a write before the index, a copy that
    fills the column or an expression is still the warning (each fails on these rows)."""
    mdirs.add("20250101_000100", "base", "CREATE TABLE s (id INTEGER PRIMARY KEY, code TEXT);")
    for i, (sql, said, builds) in enumerate(NEW_COLUMN_UNIQUE):
        path = mdirs.add(f"20250101_{i + 2:04d}00", f"m{i}", sql)
        found = lint_migrations(discover(mdirs.migrations, mdirs.rollback), None).findings
        rules = [f.rule for f in found if f.file == path.name and f.rule != "NO-ROLLBACK"]
        assert rules == (["ADD-UNIQUE"] if said else []), (sql, rules)
        path.unlink()
        conn = sqlite3.connect(":memory:")
        try:
            conn.executescript("CREATE TABLE s (id INTEGER PRIMARY KEY, code TEXT);"
                               "INSERT INTO s VALUES (1, 'a'), (2, 'a');")  # fmt: skip
            with contextlib.suppress(sqlite3.IntegrityError):
                conn.executescript(sql.replace("--> statement-breakpoint", ""))
            made = conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'index' "
                                "AND sql IS NOT NULL").fetchone()  # fmt: skip
            assert made == (int(builds),), sql
        finally:
            conn.close()


def test_a_column_just_added_then_filled_by_alter_type_using_is_add_unique(
    pg_url: str, mdirs: MigrationDirs
) -> None:
    """PostgreSQL: a column added with no default, then ``ALTER … TYPE … USING`` (a write of
    every row), then a unique index: said nothing since the all-NULL exemption (USING was not
    taken for a write); the index fails on two rows. Without the USING: NULL in every row."""
    base = "CREATE TABLE s (id bigint PRIMARY KEY, code text);"
    mdirs.add("20250101_000100", "base", base)
    added = 'ALTER TABLE "s" ADD COLUMN "nisn" TEXT;\n'
    index = 'CREATE UNIQUE INDEX "s_nisn_key" ON "s"("nisn");'
    using = 'ALTER TABLE "s" ALTER COLUMN "nisn" SET DATA TYPE VARCHAR(20) USING \'x\';\n'
    for i, (sql, said) in enumerate([(added + using + index, True), (added + index, False)]):
        path = mdirs.add(f"20250101_{i + 2:04d}00", f"m{i}", sql)
        mset = discover(mdirs.migrations, mdirs.rollback, "postgresql")
        found = lint_migrations(mset, None, dialect="postgresql").findings
        rules = [f.line for f in found if f.file == path.name and f.rule == "ADD-UNIQUE"]
        assert rules == ([3] if said else []), (sql, found)
        path.unlink()
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(
                "DROP TABLE IF EXISTS s;" + base + "INSERT INTO s VALUES (1, 'a'), (2, 'a')"
            )
            try:
                conn.execute(sql)
                built = True
            except psycopg.errors.UniqueViolation:
                built = False
            assert built is not said, sql


def test_a_generated_column_is_compared_as_generated_not_by_its_expression(pg_url: str) -> None:
    """drizzle-kit's `label text GENERATED ALWAYS AS (…) VIRTUAL` (STORED on PostgreSQL):
    `parity` read PostgreSQL's generation expression as the column's default, which SQLite's
    side has not, a false difference (exit 1) on every run. Both sides now say "generated";
    a generated column made a plain one is still a difference."""
    lite = sqlite3.connect(":memory:")
    try:
        lite.execute("CREATE TABLE g (id INTEGER PRIMARY KEY, s TEXT, "
                     "label TEXT GENERATED ALWAYS AS (s || ' T') VIRTUAL)")  # fmt: skip
        expected = sqlite_shape(lite)
    finally:
        lite.close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE g (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, "
                     "s TEXT, label TEXT GENERATED ALWAYS AS (s || ' T') STORED)")  # fmt: skip
        assert compare(expected, postgres_shape(conn, "public")) == []
        conn.execute("ALTER TABLE g ALTER COLUMN label DROP EXPRESSION")
        diffs = compare(expected, postgres_shape(conn, "public"))
    assert [(d.table, d.aspect, d.item) for d in diffs] == [("g", "default", "label")]


# Prisma's `-- RedefineTables` of a table others reference, whose copy leaves out a parent row
# (`WHERE`): Siswa rowid 2 keeps pointing at Kelas 2, which the rebuild dropped.
FK_INIT = (
    'CREATE TABLE "Kelas" ("id" INTEGER NOT NULL PRIMARY KEY, "nama" TEXT NOT NULL);\n'
    'CREATE TABLE "Siswa" ("id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, "kelasId" INTEGER '
    'NOT NULL, CONSTRAINT "Siswa_kelasId_fkey" FOREIGN KEY ("kelasId") REFERENCES "Kelas" ("id") '
    "ON DELETE RESTRICT ON UPDATE CASCADE);\n"
    "INSERT INTO \"Kelas\" VALUES (1, 'X-A'), (2, 'X-B');\n"
    'INSERT INTO "Siswa" ("kelasId") VALUES (1), (2);'
)
FK_REBUILD = """-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_Kelas" ("id" INTEGER NOT NULL PRIMARY KEY, "nama" TEXT NOT NULL, "wali" TEXT);
INSERT INTO "new_Kelas" ("id", "nama") SELECT "id", "nama" FROM "Kelas" WHERE "id" <> 2;
DROP TABLE "Kelas";
ALTER TABLE "new_Kelas" RENAME TO "Kelas";
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;"""
FK_BROKEN = "the migration left 1 row(s) whose parent is gone (first: Siswa rowid 2 → Kelas; "


def test_a_prisma_rebuild_that_breaks_a_reference_is_refused_on_sqlite_and_d1(
    mdirs: MigrationDirs, sqlite_url: str, d1: D1Target
) -> None:
    """Its closing `PRAGMA defer_foreign_keys=OFF` clears SQLite's count of the broken
    references, so D1's COMMIT did not fail: `up` said ok and left Siswa 2 pointing at
    nothing. Now refused (exit 1, the row named, all of it rolled back) on D1 as on a SQLite
    file (there `foreign_keys=OFF` holds, and the check before its COMMIT caught it already);
    a row broken before the migration (Catatan's) is not its doing, and the file put right
    is applied."""
    mdirs.add("20260101_000000", "init", FK_INIT)
    rebuild = mdirs.add("20260102_000000", "rebuild", FK_REBUILD)
    # A row broken before (written behind D1's back: its foreign keys are always on)
    with d1.db.lock, contextlib.closing(sqlite3.connect(d1.db.path)) as conn:
        conn.executescript(
            'CREATE TABLE "Catatan" ("id" INTEGER PRIMARY KEY, "kelasId" INTEGER REFERENCES '
            '"Kelas" ("id")); INSERT INTO "Catatan" VALUES (1, 9);'
        )
    # (line 3: foreign_keys=OFF, kept by a SQLite file; line 9: defer_foreign_keys=OFF)
    for url, line in ((sqlite_url, 3), (d1.url, 9)):
        res = run_cli("--database", url, *mdirs.args(), "up", "--yes", "--no-backup")
        assert res.code == 1 and "[1/2] 20260101_000000_init.sql ok" in res.err, res.err
        assert f"20260102_000000_rebuild.sql failed at line {line}: " in res.err
        assert FK_BROKEN in res.err and "all of it was rolled back" in res.err, res.err
    assert "(which clears SQLite's count of broken references" in res.err  # (D1's)
    assert d1.sql('SELECT id FROM "Kelas"') == [(1,), (2,)]
    assert d1.sql("SELECT name FROM sqlite_master WHERE name = 'new_Kelas'") == []
    rebuild.write_text(FK_REBUILD.replace(' WHERE "id" <> 2', ""), encoding="utf-8")
    res = run_cli("--database", d1.url, *mdirs.args(), "up", "--yes", "--no-backup")
    assert res.code == 0, res.err
    assert d1.sql("PRAGMA foreign_key_check") == [("Catatan", 1, "Kelas", 0)]
    assert d1.sql('SELECT id, wali FROM "Kelas"') == [(1, None), (2, None)]


def test_a_rehearsal_as_d1_refuses_the_rebuild_that_breaks_a_reference(tmp_path: Path) -> None:
    """`rehearse` and the stairway run a D1 target's migrations on a local copy as D1 runs
    them: the same check after a file that turns defer_foreign_keys off (it passed there too)."""
    from malnu_tui.engine.errors import StatementFailed
    from malnu_tui.engine.scratch import SQLiteScratch
    from malnu_tui.engine.sqlsplit import split_statements

    scratch = SQLiteScratch(tmp_path / "copy.db", d1=True)
    try:
        scratch.run("init.sql", split_statements(FK_INIT))
        fixed = FK_REBUILD.replace(' WHERE "id" <> 2', "")
        with pytest.raises(StatementFailed) as failed:
            scratch.run("rebuild.sql", split_statements(FK_REBUILD))
        assert failed.value.line == 9 and FK_BROKEN in str(failed.value)
        scratch.run("rebuild.sql", split_statements(fixed))
    finally:
        scratch.close()


# Prisma's ids are TEXT (cuid): a rebuild's copy numbers the rowids again (1, 2, … after a
# deleted row). Siswa 'cc' points at Kelas 9: broken before any migration (behind the checks).
FK_TEXT_TABLES = (
    'CREATE TABLE "Kelas" ("id" INTEGER NOT NULL PRIMARY KEY, "nama" TEXT NOT NULL);'
    'CREATE TABLE "Siswa" ("id" TEXT NOT NULL PRIMARY KEY, "kelasId" INTEGER NOT NULL, '
    'CONSTRAINT "Siswa_kelasId_fkey" FOREIGN KEY ("kelasId") REFERENCES "Kelas" ("id"));'
    "INSERT INTO \"Kelas\" VALUES (1, 'X-A'), (2, 'X-B');"
    "INSERT INTO \"Siswa\" VALUES ('ca', 1), ('cb', 1), ('cc', 9);"
    "DELETE FROM \"Siswa\" WHERE id = 'ca';"
)
FK_TEXT_REBUILD = """-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_Siswa" ("id" TEXT NOT NULL PRIMARY KEY, "kelasId" INTEGER NOT NULL, "nisn" TEXT,
    CONSTRAINT "Siswa_kelasId_fkey" FOREIGN KEY ("kelasId") REFERENCES "Kelas" ("id"));
INSERT INTO "new_Siswa" ("id", "kelasId") SELECT "id", "kelasId" FROM "Siswa";
DROP TABLE "Siswa";
ALTER TABLE "new_Siswa" RENAME TO "Siswa";
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;"""


def test_a_rebuild_keeping_a_row_broken_before_it_is_applied_on_sqlite_and_d1(
    mdirs: MigrationDirs, sqlite_url: str, d1: D1Target
) -> None:
    """A row broken before the migration, in a table Prisma rebuilds, keeps its reference
    and not its rowid (2 → 1): it was taken for the migration's doing and a file that broke
    nothing was refused, on a SQLite file and on D1. Applied now; one the next file breaks
    beside it (Siswa 'cb', rowid 1 once rebuilt, its Kelas 1 dropped) is refused as before."""
    mdirs.add("20260101_000000", "rebuild", FK_TEXT_REBUILD)
    mdirs.add("20260102_000000", "drop", FK_REBUILD.replace('"id" <> 2', '"id" <> 1'))
    sqlite_path = Path(sqlite_url.removeprefix("sqlite:///"))
    for url, path in ((sqlite_url, sqlite_path), (d1.url, d1.db.path)):
        with d1.db.lock, contextlib.closing(sqlite3.connect(path)) as conn:
            conn.executescript(FK_TEXT_TABLES)
        res = run_cli(
            "--database",
            url,
            *mdirs.args(),
            "up",
            "--yes",
            "--no-backup",
            "--to",
            "20260101_000000",
        )
        assert res.code == 0, res.err
        res = run_cli("--database", url, *mdirs.args(), "up", "--yes", "--no-backup")
        assert res.code == 1, res.err
        assert "left 1 row(s) whose parent is gone (first: Siswa rowid 1 → Kelas;" in res.err
