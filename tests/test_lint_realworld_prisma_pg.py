"""``prisma_pg_like`` (tests/realworld/README.md): a set written for this project in the shape
``prisma migrate dev`` writes for PostgreSQL — quoted PascalCase tables and camelCase columns,
``SERIAL`` ids with a named ``_pkey``, ``-- CreateEnum``, ``_key`` unique indexes, ``_fkey`` keys
``ON DELETE RESTRICT ON UPDATE CASCADE``, a required ``"updatedAt" TIMESTAMP(3) NOT NULL`` added
without a default under Prisma's own warning, a hand-written ``RENAME COLUMN``, ``SET DATA TYPE``,
a key dropped and added again ``ON DELETE CASCADE``, ``ALTER TYPE … ADD VALUE``, a table renamed
(``@@map``) with its constraints and index — and rollback files in Prisma's down-migration shape
(``prisma migrate diff … --script``: an enum value taken out through ``Term_new``, inside its own
``BEGIN;``/``COMMIT;``). Put through ``lint --all``, ``test``, ``plan``, ``up`` and ``rollback``
on the throwaway cluster; every finding pinned, and the two that say a file fails shown failing."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import psycopg
import pytest

from malnu_tui.engine.files import discover
from malnu_tui.engine.lint.core import lint_migrations
from tests.fixtures_core import MigrationDirs, run_cli

SET = Path(__file__).parent / "realworld" / "prisma_pg_like"
LOCK = "PG-LOCK-TIMEOUT"
FILL = "20251001_100000_student_email_updated_at.sql"

# (rule, version, line, severity, of the rollback file) of `lint --all` with no config.
LINT_ALL = [
    (LOCK, "20250901_080000", 3, "warning", True),
    # the key to "Enrolment" (named as PostgreSQL names it: it said `enrolment`)
    (LOCK, "20250915_090000", 17, "warning", False),
    (LOCK, "20250915_090000", 3, "warning", True),
    # Prisma's "Added the required column `updatedAt` … This is not possible if the table is
    # not empty": refused by PostgreSQL once "Student" has a row (below)
    ("ADD-COLUMN-NOT-NULL", "20251001_100000", 9, "error", False),
    (LOCK, "20251001_100000", 9, "warning", False),
    (LOCK, "20251001_100000", 3, "warning", True),
    (LOCK, "20251015_110000", 3, "warning", False),
    ("RENAME-COLUMN", "20251015_110000", 3, "warning", False),
    ("COLUMN-TYPE-CHANGE", "20251015_110000", 6, "warning", False),  # TEXT → VARCHAR(20)
    (LOCK, "20251015_110000", 3, "warning", True),
    (LOCK, "20251101_120000", 6, "warning", False),  # (not the ALTER TYPE: no table locked)
    ("ADD-FOREIGN-KEY", "20251101_120000", 9, "warning", False),
    (LOCK, "20251101_120000", 3, "warning", True),
    # Prisma's way of taking 'PENDEK' out: a cast to "Term_new", which refuses a row holding
    # it (below); it was clean
    ("ROLLBACK-FAILS-ON-NEW-ROWS", "20251101_120000", 8, "warning", True),
    (LOCK, "20251115_130000", 3, "warning", False),
    ("RENAME-TABLE", "20251115_130000", 3, "warning", False),
    (LOCK, "20251115_130000", 6, "warning", True),  # (the ALTER INDEX before locks no table)
]
_LINT_LINE = re.compile(r"^lint: (\d{8}_\d{6})_\S+:(\d+): (\w+) \[([A-Z0-9-]+)\]", re.MULTILINE)


def _dirs(root: Path) -> list[str]:
    return ["--migrations-dir", str(root / "migrations"), "--rollback-dir", str(root / "rollback")]


def _of_rollback(why: str) -> bool:
    """A finding of the rollback file (it shares its migration's name)."""
    return "runs in the rollback" in why or why.startswith("the rollback")


def _sql(url: str, query: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(query)
        return cur.fetchall() if cur.description else []


def test_lint_all_with_no_config_pins_every_finding(tmp_path: Path) -> None:
    res = run_cli(*_dirs(SET), "lint", "--all", "--json", cwd=tmp_path)
    assert res.code == 1, res.err  # the one error: "updatedAt" without a default
    report = json.loads(res.out)
    assert report["dialect"] == "postgresql", report["dialect_from"]
    found = [
        (f["rule"], f["file"][:15], f["line"], f["severity"], _of_rollback(f["why"]))
        for f in report["findings"]
    ]
    assert found == LINT_ALL
    assert "ALTER TABLE Grade … REFERENCES Enrolment (SHARE ROW EXCLUSIVE" in str(report)


def test_test_plan_up_and_rollback_on_postgresql(pg_url: str, tmp_path: Path) -> None:
    """`test` and `plan`; `up` in two goes with a class, a student, an enrolment and a grade
    between: the third migration fails as its error says, is fixed as Prisma advises and run
    again; `rollback` then fails on a grade in the term the fifth added, as its warning says,
    and runs once that grade is moved."""
    root = tmp_path / "set"
    shutil.copytree(SET, root)
    base = [*_dirs(root), "--database", pg_url]
    files = sorted(p.name for p in (root / "migrations").glob("*.sql"))
    res = run_cli(*base, "test", "--json", timeout=120)
    assert res.code == 0, res.err
    steps = json.loads(res.out)["steps"]
    assert [(s["filename"], s["stage"]) for s in steps] == [(f, "ok") for f in files]
    expected = [(r, v, line, sev) for r, v, line, sev, _ in LINT_ALL if r != LOCK]
    res = run_cli(*base, "plan")
    assert res.code == 0, res.err
    assert [(r, v, int(line), sev) for v, line, sev, r in _LINT_LINE.findall(res.err)] == expected
    up = [*base, "up", "--yes", "--no-backup"]
    assert run_cli(*up, "--to", "20250915_090000", timeout=120).code == 0
    _sql(
        pg_url,
        """INSERT INTO "Classroom" ("code", "grade") VALUES ('7A', 7);
        INSERT INTO "Student" ("nis", "name") VALUES ('0012345', 'Ani Putri');
        INSERT INTO "Enrolment" ("studentId", "classroomId", "year")
            SELECT s."id", c."id", 2025 FROM "Student" s, "Classroom" c;
        INSERT INTO "Grade" ("enrolmentId", "subject", "term", "score")
            SELECT "id", 'Matematika', 'GANJIL', 87.5 FROM "Enrolment";""",
    )
    res = run_cli(*up, timeout=120)
    assert res.code == 1
    assert (
        f'{FILL} failed at line 9: column "updatedAt" of relation "Student" contains null'
        in res.err
    )
    fill = root / "migrations" / FILL
    fill.write_text(fill.read_text().replace("NOT NULL;", "NOT NULL DEFAULT CURRENT_TIMESTAMP;"))
    res = run_cli(*up, timeout=120)
    assert res.code == 0, res.err
    res = run_cli(*base, "status", "--json")
    assert [(m["filename"], m["state"]) for m in json.loads(res.out)["migrations"]] == [
        (f, "applied") for f in files
    ]
    assert _sql(pg_url, 'SELECT "fullName", "nis" FROM "Student"') == [("Ani Putri", "0012345")]
    _sql(pg_url, """UPDATE "Grade" SET "term" = 'PENDEK'""")
    back = [*base, "rollback", "--yes", "--no-backup"]
    res = run_cli(*back, "--steps", "2", timeout=120)
    assert res.code == 1
    assert 'invalid input value for enum "Term_new": "PENDEK"' in res.err, res.err
    _sql(pg_url, """UPDATE "Grade" SET "term" = 'GANJIL'""")
    res = run_cli(*back, timeout=120)
    assert res.code == 0, res.err
    labels = "SELECT enumlabel::text FROM pg_enum WHERE enumtypid = '\"Term\"'::regtype ORDER BY 1"
    assert _sql(pg_url, labels) == [("GANJIL",), ("GENAP",)]
    assert _sql(pg_url, 'SELECT "code" FROM "Classroom"') == [("7A",)]  # (renamed back)


def test_a_rollback_s_enum_without_the_added_value(mdirs: MigrationDirs) -> None:
    """Prisma's down migration for an enum value added (``Term_new``, the column cast to it):
    named when ``Term_new`` lacks the value, and not when it keeps every label (the cast
    fails on no row) or the migration added none."""
    swap = (
        """CREATE TYPE "Term_new" AS ENUM ({});\n"""
        """ALTER TABLE "Grade" ALTER COLUMN "term" TYPE "Term_new"\n"""
        """    USING ("term"::text::"Term_new");\n"""
        """ALTER TYPE "Term" RENAME TO "Term_old";\nALTER TYPE "Term_new" RENAME TO "Term";\n"""
        """DROP TYPE "Term_old";"""
    )
    mdirs.add("20250101_000100", "base", """CREATE TYPE "Term" AS ENUM ('GANJIL', 'GENAP');\n"""
              """CREATE TABLE "Grade" ("id" SERIAL NOT NULL, "term" "Term" NOT NULL);""",
              'DROP TABLE "Grade"; DROP TYPE "Term";')  # fmt: skip
    mdirs.add("20250101_000200", "short", """ALTER TYPE "Term" ADD VALUE 'PENDEK';""",
              swap.format("'GANJIL', 'GENAP'"))  # fmt: skip
    mdirs.add("20250101_000300", "summer", """ALTER TYPE "Term" ADD VALUE IF NOT EXISTS 'MUSIM';""",
              swap.format("'GANJIL', 'GENAP', 'PENDEK', 'MUSIM'"))  # fmt: skip
    mdirs.add("20250101_000400", "none", "SELECT 1;", swap.format("'GANJIL', 'GENAP'"))
    mset = discover(mdirs.migrations, mdirs.rollback, "postgresql")
    found = lint_migrations(mset, dialect="postgresql").findings
    named = [(f.file[:15], f.line) for f in found if f.rule == "ROLLBACK-FAILS-ON-NEW-ROWS"]
    assert named == [("20250101_000200", 2)]
    assert "lacks 'PENDEK' that the migration adds (its line 1)" in str(found)


def test_a_rollback_s_enum_schema_qualified_as_prisma_6_writes_it(
    pg_url: str, mdirs: MigrationDirs
) -> None:
    """Prisma 6 (and drizzle-kit) write ``"public"."Term"`` in every statement: its down
    migration's cast to ``"public"."Term_new"`` lacking the value added was clean (the enum
    was looked up as ``public.term`` against ``term``), and so was the cast of an enum list
    (``"Term"[]`` to ``"Term_new"[]``); each fails on a row holding the value (below)."""
    base = (
        """CREATE TYPE "public"."Term" AS ENUM ('GANJIL', 'GENAP');\n"""
        """CREATE TABLE "public"."Grade" ("id" SERIAL NOT NULL,\n"""
        """    "term" "public"."Term" NOT NULL, "terms" "public"."Term"[],\n"""
        """    CONSTRAINT "Grade_pkey" PRIMARY KEY ("id"));"""
    )
    up = """-- AlterEnum\nALTER TYPE "public"."Term" ADD VALUE 'PENDEK';"""
    casts = [
        """ALTER TABLE "public"."Grade" ALTER COLUMN "term" TYPE "public"."Term_new"\n"""
        """    USING ("term"::text::"public"."Term_new");""",
        """ALTER TABLE "public"."Grade" ALTER COLUMN "terms" TYPE "public"."Term_new"[]\n"""
        """    USING ("terms"::text::"public"."Term_new"[]);""",
    ]
    new_type = """CREATE TYPE "public"."Term_new" AS ENUM ('GANJIL', 'GENAP');"""
    down = (
        f"BEGIN;\n{new_type}\n{casts[0]}\n{casts[1]}\n"
        """ALTER TYPE "public"."Term" RENAME TO "Term_old";\n"""
        """ALTER TYPE "public"."Term_new" RENAME TO "Term";\n"""
        """DROP TYPE "public"."Term_old";\nCOMMIT;"""
    )
    mdirs.add("20250101_000100", "base", base, 'DROP TABLE "public"."Grade";')
    mdirs.add("20250101_000200", "short", up, down)
    mset = discover(mdirs.migrations, mdirs.rollback, "postgresql")
    found = lint_migrations(mset, dialect="postgresql").findings
    named = [(f.file[:15], f.line) for f in found if f.rule == "ROLLBACK-FAILS-ON-NEW-ROWS"]
    assert named == [("20250101_000200", 3), ("20250101_000200", 5)], found
    assert "Grade.terms to the enum Term_new, which lacks 'PENDEK'" in str(found)
    # True on PostgreSQL 15: a row holding the value refuses each cast.
    _sql(pg_url, base + "\n" + up.split("\n")[1])
    _sql(pg_url, """INSERT INTO "Grade" ("term", "terms") VALUES ('PENDEK', '{GANJIL}'), """
                 """('GANJIL', '{GANJIL,PENDEK}')""")  # fmt: skip
    _sql(pg_url, new_type)
    for cast in casts:
        with pytest.raises(psycopg.errors.InvalidTextRepresentation, match='"PENDEK"'):
            _sql(pg_url, cast)
