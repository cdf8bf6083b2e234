"""Three PostgreSQL sets written for this project in the shapes ORMs emit (tests/realworld/
README.md), each a school app of five or six migrations with rollback files, in this tool's
layout: ``django_pg_like`` (``sqlmigrate`` output: BEGIN/COMMIT per file, identity ids,
deferred keys added by ALTER, ``varchar_pattern_ops`` indexes, AddField's default dropped after,
a RenameField, AlterField type changes, a RunSQL data migration, a one-off default then SET NOT
NULL), ``rails_pg_like`` (bigserial ids, ``timestamp(6)``, ``index_…`` indexes, ``fk_rails_…``
keys, ``change_column_null`` after an ``update_all`` backfill, a CONCURRENTLY index alone) and
``laravel_pg_like`` (Laravel's users / password_reset_tokens / sessions / jobs / failed_jobs,
``_foreign`` keys, a rename and ``->change()``'s ``alter column … type …, set not null``, a
column made nullable with its type restated).
Each put through ``lint --all`` with no config, ``test``, ``plan``, ``up`` and ``status`` on
the throwaway PostgreSQL cluster. Every finding is pinned, and was checked true on PostgreSQL
15. One database per set."""

from __future__ import annotations

import json
import re
from pathlib import Path

import psycopg
import pytest

from malnu_tui.engine.files import discover
from malnu_tui.engine.lint.core import lint_migrations
from tests.fixtures_core import MigrationDirs, run_cli

SETS = Path(__file__).parent / "realworld"
LOCK = "PG-LOCK-TIMEOUT"

# (rule, version, line, severity, of the rollback file) of `lint --all` with no config, in its
# order. Every PG-LOCK-TIMEOUT is the first statement of its file that takes a lock on a table
# the app uses (a rollback's too: it runs in an emergency): on a PostgreSQL target the tool sets
# lock_timeout itself, and `plan`/`up` drop them.
LINT_ALL: dict[str, list[tuple[str, str, int, str, bool]]] = {
    "django_pg_like": [
        (LOCK, "20250804_091500", 6, "warning", True),  # DROP CONSTRAINT, then the DROP TABLEs
        (LOCK, "20250818_140200", 6, "warning", False),
        # AddField(ForeignKey): `ADD COLUMN … REFERENCES … DEFERRABLE INITIALLY DEFERRED`: the
        # key is checked against school_classroom's rows, school_teacher's writes wait.
        ("ADD-FOREIGN-KEY", "20250818_140200", 11, "warning", False),
        ("PG-INDEX-NOT-CONCURRENT", "20250818_140200", 12, "warning", False),
        (LOCK, "20250818_140200", 6, "warning", True),
        (LOCK, "20250901_083000", 6, "warning", False),
        ("RENAME-COLUMN", "20250901_083000", 6, "warning", False),  # the running app reads it
        (LOCK, "20250901_083000", 6, "warning", True),
        # smallint → integer rewrites the table; varchar(10) → varchar(20) (line 10) does not
        ("COLUMN-TYPE-CHANGE", "20250915_101000", 6, "warning", False),
        (LOCK, "20250915_101000", 6, "warning", False),
        (LOCK, "20250915_101000", 6, "warning", True),
        # AlterField reversed: varchar(20) → varchar(10) with no USING fails on a code the
        # migration allowed (`value too long`), integer → smallint on a capacity over 32,767
        ("ROLLBACK-FAILS-ON-NEW-ROWS", "20250915_101000", 6, "warning", True),
        ("ROLLBACK-FAILS-ON-NEW-ROWS", "20250915_101000", 10, "warning", True),
        (LOCK, "20251013_074500", 11, "warning", False),
        # AlterField(null=False) with a one-off default: the UPDATE fills, the scan stays
        ("SET-NOT-NULL", "20251013_074500", 11, "warning", False),
        (LOCK, "20251013_074500", 6, "warning", True),
    ],
    "rails_pg_like": [
        (LOCK, "20250806_120000", 2, "warning", True),
        (LOCK, "20250820_093000", 4, "warning", False),
        ("PG-INDEX-NOT-CONCURRENT", "20250820_093000", 5, "warning", False),  # add_reference
        ("ADD-FOREIGN-KEY", "20250820_093000", 6, "warning", False),  # fk_rails_…, validated
        (LOCK, "20250820_093000", 2, "warning", True),
        (LOCK, "20250903_081500", 2, "warning", False),
        # change_column_null after `where(status: nil).update_all(…)`, whose WHERE names the
        # table (`"students"."status" IS NULL`): it was an error, "which holds rows already"
        ("SET-NOT-NULL", "20250903_081500", 4, "warning", False),
        (LOCK, "20250903_081500", 2, "warning", True),
        (LOCK, "20251001_101500", 2, "warning", False),  # CREATE TABLE … REFERENCES students
        (LOCK, "20251001_101500", 2, "warning", True),
        (LOCK, "20251015_134500", 2, "warning", False),
        ("RENAME-COLUMN", "20251015_134500", 2, "warning", False),
        (LOCK, "20251015_134500", 2, "warning", True),
    ],
    "laravel_pg_like": [
        (LOCK, "20250701_000000", 2, "warning", True),
        (LOCK, "20250701_000002", 2, "warning", True),
        (LOCK, "20250808_071200", 3, "warning", False),  # classrooms … references "users"
        (LOCK, "20250808_071200", 2, "warning", True),
        (LOCK, "20250922_103000", 2, "warning", False),
        ("PG-INDEX-NOT-CONCURRENT", "20250922_103000", 3, "warning", False),
        (LOCK, "20250922_103000", 2, "warning", True),
        (LOCK, "20251020_090000", 2, "warning", False),
        ("RENAME-COLUMN", "20251020_090000", 2, "warning", False),
        # integer → numeric(5, 2) and varchar(255) → varchar(120): rewritten, and a value that
        # does not fit fails. Not line 4's `set not null` of a column made `not null`: that
        # does nothing (it was a SET-NOT-NULL error, "which holds rows already").
        ("COLUMN-TYPE-CHANGE", "20251020_090000", 3, "warning", False),
        ("COLUMN-TYPE-CHANGE", "20251020_090000", 4, "warning", False),
        (LOCK, "20251020_090000", 2, "warning", True),
        # `->change()` reversed: numeric(5, 2) → integer rounds every score (87.50 → 88)
        ("ROLLBACK-NARROWS-TYPE", "20251020_090000", 3, "warning", True),
        # `->nullable()->change()` restates smallint: nothing changes type (it was a
        # COLUMN-TYPE-CHANGE warning); the ALTER's lock stays.
        (LOCK, "20251103_084500", 2, "warning", False),
        (LOCK, "20251103_084500", 2, "warning", True),
        # the rollback's `set not null` of the grade the migration made nullable: it fails
        # once a mixed-grade club has none
        ("ROLLBACK-FAILS-ON-NEW-ROWS", "20251103_084500", 2, "warning", True),
    ],
}
_LINT_LINE = re.compile(r"^lint: (\d{8}_\d{6})_\S+:(\d+): (\w+) \[([A-Z0-9-]+)\]", re.MULTILINE)


def _dirs(name: str) -> list[str]:
    return ["--migrations-dir", str(SETS / name / "migrations"),
            "--rollback-dir", str(SETS / name / "rollback")]  # fmt: skip


def _files(name: str) -> list[str]:
    return sorted(p.name for p in (SETS / name / "migrations").glob("*.sql"))


def _of_rollback(why: str) -> bool:
    """A finding of the rollback file (the sets' rollback files share their migration's
    name): said "runs in the rollback" (PG-LOCK-TIMEOUT) or "the rollback …" (its own)."""
    return "runs in the rollback" in why or why.startswith("the rollback")


@pytest.mark.parametrize("name", sorted(LINT_ALL))
def test_lint_all_with_no_config_pins_every_finding(name: str, tmp_path: Path) -> None:
    res = run_cli(*_dirs(name), "lint", "--all", "--json", cwd=tmp_path)
    assert res.code == 0, res.err  # warnings only: each set applies and rolls back
    report = json.loads(res.out)
    assert report["dialect"] == "postgresql", report["dialect_from"]
    assert report["checked"] == _files(name)
    found = [
        (f["rule"], f["file"][:15], f["line"], f["severity"], _of_rollback(f["why"]))
        for f in report["findings"]
    ]
    assert found == LINT_ALL[name]


def _sql(url: str, query: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(query)
        return cur.fetchall() if cur.description else []


# Rows written after the first migrations, before the rest: what the later ones do to them.
_BEFORE = {
    "django_pg_like": (
        "20250929_160000",
        "INSERT INTO school_teacher (staff_number, full_name, email) VALUES ('T1', 'Bu Sari', "
        "'sari@school'); INSERT INTO school_classroom (code, name, grade, capacity) VALUES "
        "('7A', 'Seven A', 7, 32)",
    ),
    "rails_pg_like": (
        "20250820_093000",
        "INSERT INTO classrooms (name, grade, created_at, updated_at) VALUES ('7A', 7, now(), "
        "now()); INSERT INTO students (first_name, last_name, nisn, classroom_id, created_at, "
        "updated_at) SELECT 'Ani', 'Putri', '0012345678', id, now(), now() FROM classrooms",
    ),
    "laravel_pg_like": (
        "20250922_103000",
        "INSERT INTO classrooms (name, grade) VALUES ('7A', 7); INSERT INTO students "
        "(classroom_id, nis, name, phone, score) SELECT id, '2025001', 'Ani Putri', '0812', 87 "
        "FROM classrooms",
    ),
}
_AFTER = {  # (query, rows) once every migration ran
    "django_pg_like": ("SELECT hired_on::text FROM school_teacher", [("2025-07-01",)]),
    "rails_pg_like": ("SELECT status FROM students", [("active",)]),
    "laravel_pg_like": (
        "SELECT name, guardian_phone, score::text FROM students",
        [("Ani Putri", "0812", "87.00")],
    ),
}


@pytest.mark.parametrize("name", sorted(LINT_ALL))
def test_test_plan_up_and_status_on_postgresql(name: str, pg_url: str) -> None:
    """`test` (each migration up, its rollback, up again, in a scratch schema), `plan` (the
    findings without the lock-timeout ones: the tool sets lock_timeout on a PostgreSQL target),
    `up` in two goes with rows between, `status`."""
    base = [*_dirs(name), "--database", pg_url]
    files = _files(name)
    res = run_cli(*base, "test", "--json", timeout=120)
    assert res.code == 0, res.err
    steps = json.loads(res.out)["steps"]
    assert [(s["filename"], s["stage"]) for s in steps] == [(f, "ok") for f in files]
    expected = [(r, v, line, sev) for r, v, line, sev, back in LINT_ALL[name] if r != LOCK]
    res = run_cli(*base, "plan")
    assert res.code == 0, res.err
    assert [(r, v, int(line), sev) for v, line, sev, r in _LINT_LINE.findall(res.err)] == expected
    stop, rows = _BEFORE[name]
    res = run_cli(*base, "up", "--yes", "--no-backup", "--to", stop, timeout=120)
    assert res.code == 0, res.err
    _sql(pg_url, rows)
    res = run_cli(*base, "up", "--yes", "--no-backup", timeout=120)
    assert res.code == 0, res.err
    assert [(r, v, int(line), sev) for v, line, sev, r in _LINT_LINE.findall(res.err)] == [
        f for f in expected if f[1] > stop
    ]
    res = run_cli(*base, "status", "--json")
    states = [(m["filename"], m["state"]) for m in json.loads(res.out)["migrations"]]
    assert states == [(f, "applied") for f in files]
    query, want = _AFTER[name]
    assert _sql(pg_url, query) == want


def _set_not_null(mdirs: MigrationDirs) -> list[tuple[str, int, str]]:
    report = lint_migrations(discover(mdirs.migrations, mdirs.rollback, "postgresql"),
                             dialect="postgresql")  # fmt: skip
    return [(f.file[:15], f.line, f.severity) for f in report.findings if f.rule == "SET-NOT-NULL"]


def test_set_not_null_after_a_backfill_whose_where_names_the_table(mdirs: MigrationDirs) -> None:
    """Active Record's ``Student.where(status: nil).update_all(status: "active")`` writes
    ``WHERE "students"."status" IS NULL``: the backfill was not seen, and the ``SET NOT NULL``
    after it was an error, "which holds rows already" (`lint = "enforce"` refused the set). A
    WHERE naming another table's column fills nothing."""
    mdirs.add("20250101_000000", "students", "CREATE TABLE students (id bigint PRIMARY KEY);",
              "DROP TABLE students;")  # fmt: skip
    wheres = ('"students"."status{}"', "public.students.status{}", "other.status{}")
    for i, where in enumerate(wheres):
        mdirs.add(
            f"2025010{i + 2}_000000",
            f"status{i}",
            f'ALTER TABLE "students" ADD "status{i}" character varying;\n'
            f'UPDATE "students" SET "status{i}" = \'active\' WHERE {where.format(i)} IS NULL;\n'
            f'ALTER TABLE "students" ALTER COLUMN "status{i}" SET NOT NULL;',
            f'ALTER TABLE "students" DROP COLUMN "status{i}";',
        )
    assert _set_not_null(mdirs) == [
        ("20250102_000000", 3, "warning"),
        ("20250103_000000", 3, "warning"),
        ("20250104_000000", 3, "error"),
    ]


def test_set_not_null_of_a_column_made_not_null_is_no_finding(
    mdirs: MigrationDirs, pg_url: str
) -> None:
    """Laravel's ``->change()`` writes ``alter column "name" set not null`` for every required
    column it changes; on one already NOT NULL PostgreSQL does nothing (measured below: no scan
    of the table, where a nullable column's is scanned). It was a SET-NOT-NULL error ("which
    holds rows already"). Still named: after DROP NOT NULL, on a column added nullable, and the
    rename of a NOT NULL column carries it."""
    mdirs.add(
        "20250101_000000",
        "t",
        'create table "t" ("id" bigserial primary key not null, "a" varchar(255) not null, '
        '"b" text null, "c" text not null default \'x\', "d" text check ("d" is not null), '
        '"k" int, primary key ("k"));',
        'drop table "t";',
    )
    mdirs.add(
        "20250102_000000",
        "change",
        'alter table "t" alter column "a" type varchar(120), alter column "a" set not null;\n'
        'alter table "t" alter column "b" set not null;\n'
        'alter table "t" alter column "c" drop not null;\n'
        'alter table "t" alter column "c" set not null;\n'
        'alter table "t" alter column "d" set not null;\n'
        'alter table "t" rename column "a" to "e";\n'
        'alter table "t" alter column "e" set not null, alter column "id" set not null;\n'
        'alter table "t" alter column "k" set not null;\n'
        'alter table "t" add column "f" int not null default 0, add column "g" int;\n'
        'alter table "t" alter column "f" set not null;\n'
        'alter table "t" alter column "g" set not null;\n'
        'alter table "t" alter column "b" set not null;',  # set by line 2 already
        "select 1;",
    )
    assert [(line, sev) for _, line, sev in _set_not_null(mdirs)] == [
        (2, "error"),  # b: nullable
        (4, "error"),  # c: its NOT NULL dropped just before
        (5, "error"),  # d: a CHECK … IS NOT NULL that is not the column's NOT NULL
        (11, "error"),  # g: added nullable
    ]
    # What PostgreSQL 15 does: SET NOT NULL of a NOT NULL column reads no row of the table.
    with psycopg.connect(pg_url) as conn:
        conn.execute("CREATE TABLE t (a varchar(255) NOT NULL, b text)")
        conn.execute("INSERT INTO t SELECT 'x', 'y' FROM generate_series(1, 100)")
        conn.commit()
        scans = "SELECT pg_stat_get_xact_numscans('t'::regclass)"
        before = conn.execute(scans).fetchone()
        conn.execute("ALTER TABLE t ALTER COLUMN a SET NOT NULL")
        assert conn.execute(scans).fetchone() == before
        conn.execute("ALTER TABLE t ALTER COLUMN b SET NOT NULL")
        after = conn.execute(scans).fetchone()
        assert before is not None and after is not None and after[0] == before[0] + 1


def test_a_type_restated_as_it_is_is_no_type_change(mdirs: MigrationDirs, pg_url: str) -> None:
    """Laravel's ``->nullable()->change()`` restates the column's type (``alter column "score"
    type integer, alter column "score" drop not null, …``), in the spelling of the grammar
    (``int4`` for ``integer``, ``bool``, ``timestamp(0)`` for ``timestamp(0) without time
    zone``, ``bigint`` for a ``bigserial``): PostgreSQL rewrites nothing, nor rebuilds an index
    (measured below). It was a COLUMN-TYPE-CHANGE warning, "the type … changes", on every
    column made nullable. A real change still is (integer → bigint, a precision, a USING that
    computes)."""
    mdirs.add(
        "20250101_000000",
        "t",
        'create table "t" ("id" bigserial primary key not null, "a" integer not null, '
        '"b" timestamp(0) without time zone not null, "c" boolean not null, "d" integer, '
        '"e" timestamp(6) with time zone, "f" integer);',
        'drop table "t";',
    )
    mdirs.add(
        "20250102_000000",
        "change",
        'alter table "t" alter column "a" type int4, alter column "a" drop not null;\n'
        'alter table "t" alter column "b" type timestamp(0), alter column "b" drop not null;\n'
        'alter table "t" alter column "c" type bool, alter column "c" drop not null;\n'
        'alter table "t" alter column "id" type bigint;\n'
        'alter table "t" alter column "e" type timestamptz(6);\n'
        'alter table "t" alter column "d" type bigint;\n'
        'alter table "t" alter column "e" type timestamptz(3);\n'
        'alter table "t" alter column "f" type integer using "f" + 1;',
        "select 1;",
    )
    report = lint_migrations(discover(mdirs.migrations, mdirs.rollback, "postgresql"),
                             dialect="postgresql")  # fmt: skip
    assert [f.line for f in report.findings if f.rule == "COLUMN-TYPE-CHANGE"] == [6, 7, 8]
    # What PostgreSQL 15 does: the same files and index files after the restated type; new
    # ones after integer → bigint (the table rewritten, its indexes rebuilt).
    files = (
        "SELECT pg_relation_filenode('t'), pg_relation_filenode('t_a'),"
        " pg_relation_filenode('t_pkey')"
    )
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (id bigserial PRIMARY KEY, a integer NOT NULL, "
                     "b timestamp(0) without time zone NOT NULL)")  # fmt: skip
        conn.execute("CREATE INDEX t_a ON t (a, b)")
        conn.execute("INSERT INTO t (a, b) SELECT i, now() FROM generate_series(1, 50) i")
        before = conn.execute(files).fetchone()
        conn.execute("ALTER TABLE t ALTER COLUMN a TYPE int4, ALTER COLUMN a DROP NOT NULL,"
                     " ALTER COLUMN b TYPE timestamp(0), ALTER COLUMN id TYPE bigint")  # fmt: skip
        assert conn.execute(files).fetchone() == before
        conn.execute("ALTER TABLE t ALTER COLUMN a TYPE bigint")
        after = conn.execute(files).fetchone()
        assert before is not None and after is not None
        assert after[0] != before[0] and after[1] != before[1]  # table and index rewritten
