"""A rollback file's effect on the rows written since its migration (lint/rollback_data.py):
ROLLBACK-NARROWS-TYPE (a type put back that rounds or cuts them without an error) and
ROLLBACK-FAILS-ON-NEW-ROWS (a limit put back that fails on them). Found on the ORM-shaped
sets: Laravel's `->change()` reversed rounds scores (87.50 → 88), Django's AlterField
reversed and a `set not null` of a column made nullable fail once such rows exist. Each
finding is checked true on the real database: the migration applied, a row using what it
allows written, the rollback's statement run (on PostgreSQL 15 and on a SQLite file)."""

from __future__ import annotations

import sqlite3

import psycopg
import pytest

from malnu_tui.engine.files import discover
from malnu_tui.engine.lint.core import lint_migrations
from tests.fixtures_core import MigrationDirs

NARROWS, FAILS = "ROLLBACK-NARROWS-TYPE", "ROLLBACK-FAILS-ON-NEW-ROWS"

PG_BASE = """
CREATE TABLE t1 (id bigint PRIMARY KEY, score integer);
CREATE TABLE t2 (id bigint PRIMARY KEY, code varchar(10));
CREATE TABLE t3 (id bigint PRIMARY KEY, code varchar(10));
CREATE TABLE t4 (id bigint PRIMARY KEY, grade smallint NOT NULL, name varchar(255) NOT NULL);
CREATE TABLE t5 (id bigint PRIMARY KEY, n integer, CONSTRAINT t5_n_pos CHECK (n > 0));
CREATE TABLE t6 (id bigint PRIMARY KEY, email text);
CREATE UNIQUE INDEX t6_email_key ON t6 (email);
CREATE TABLE t7 (id bigint PRIMARY KEY, hits integer);
CREATE TABLE t8 (id bigint PRIMARY KEY, seen date);
CREATE TABLE t9 (id bigint PRIMARY KEY, title varchar(200));
CREATE TABLE t10 (id bigint PRIMARY KEY, code text CONSTRAINT t10_code_uniq UNIQUE);
CREATE TABLE t11 (id bigint PRIMARY KEY,
                  n integer CONSTRAINT t11_n_range CHECK (n BETWEEN 1 AND 10));
"""
PG_BASE_UNDO = "DROP TABLE t1, t2, t3, t4, t5, t6, t7, t8, t9, t10, t11;"
# The migration lifts a limit on each table (Laravel's multi-action `->change()` on t1, t4).
PG_RELAX = """
alter table "t1" alter column "score" type numeric(5, 2), alter column "score" drop not null;
ALTER TABLE "t2" ALTER COLUMN "code" TYPE varchar(20);
ALTER TABLE "t3" ALTER COLUMN "code" TYPE varchar(20);
alter table "t4" alter column "grade" type smallint, alter column "grade" drop not null;
ALTER TABLE t5 DROP CONSTRAINT t5_n_pos;
DROP INDEX t6_email_key;
ALTER TABLE t7 ALTER COLUMN hits TYPE bigint;
ALTER TABLE t8 ALTER COLUMN seen TYPE timestamptz;
ALTER TABLE t9 ALTER COLUMN title TYPE varchar(100);
ALTER TABLE t10 DROP CONSTRAINT t10_code_uniq, ADD CONSTRAINT t10_code_uniq UNIQUE (code);
ALTER TABLE t11 DROP CONSTRAINT t11_n_range,
                ADD CONSTRAINT t11_n_range CHECK (n BETWEEN 1 AND 20);
"""
# Its rollback, line by line: (statement, the finding expected at its line, or None).
PG_UNDO: list[tuple[str, str | None]] = [
    ('alter table "t1" alter column "score" type integer, alter column "score" drop not null;',
     NARROWS),
    ('ALTER TABLE "t2" ALTER COLUMN "code" TYPE varchar(10);', FAILS),
    ('ALTER TABLE "t3" ALTER COLUMN "code" TYPE varchar(10) USING "code"::varchar(10);', NARROWS),
    ('alter table "t4" alter column "grade" type smallint, alter column "grade" set not null;',
     FAILS),
    ("ALTER TABLE t5 ADD CONSTRAINT t5_n_pos CHECK (n > 0);", FAILS),
    ("CREATE UNIQUE INDEX t6_email_key ON t6 (email);", FAILS),
    ("ALTER TABLE t7 ALTER COLUMN hits TYPE integer;", FAILS),
    ("ALTER TABLE t8 ALTER COLUMN seen TYPE date;", NARROWS),
    # not named: a widening back, and Laravel's restated `set not null` of a required column
    ("ALTER TABLE t9 ALTER COLUMN title TYPE varchar(200);", None),
    ('alter table "t4" alter column "name" type varchar(255), alter column "name" set not null;',
     None),
    # the same UNIQUE dropped and added back by the migration too (Django's AlterField): not
    # named; a CHECK the migration widens, put back narrower: named
    ("ALTER TABLE t10 DROP CONSTRAINT t10_code_uniq, ADD CONSTRAINT t10_code_uniq UNIQUE (code);",
     None),
    ("ALTER TABLE t11 DROP CONSTRAINT t11_n_range, "
     "ADD CONSTRAINT t11_n_range CHECK (n BETWEEN 1 AND 10);", FAILS),
]  # fmt: skip
# Rows the migration allows and the old schema refused (t9's fits both).
PG_ROWS = """
INSERT INTO t1 VALUES (1, 87.50);
INSERT INTO t2 VALUES (1, 'abcdefghijklmno');
INSERT INTO t3 VALUES (1, 'abcdefghijklmno');
INSERT INTO t4 VALUES (1, NULL, 'Ana');
INSERT INTO t5 VALUES (1, -1);
INSERT INTO t6 VALUES (1, 'a@b.c'), (2, 'a@b.c');
INSERT INTO t7 VALUES (1, 3000000000);
INSERT INTO t8 VALUES (1, '2025-01-01 13:45+00');
INSERT INTO t9 VALUES (1, 'Algebra');
INSERT INTO t10 VALUES (1, 'A'), (2, 'B');
INSERT INTO t11 VALUES (1, 15);
"""
PG_READ = {1: "SELECT score::text FROM t1", 3: "SELECT code FROM t3",
           8: "SELECT seen::text FROM t8", 9: "SELECT title FROM t9",
           10: "SELECT name FROM t4", 11: "SELECT code FROM t10"}  # fmt: skip


def _findings(mdirs: MigrationDirs, dialect: str) -> list[tuple[str, str, int]]:
    report = lint_migrations(discover(mdirs.migrations, mdirs.rollback, dialect),
                             dialect=dialect)  # fmt: skip
    return [(f.rule, f.file, f.line) for f in report.findings if f.rule in (NARROWS, FAILS)]


def test_postgresql_rollback_that_rounds_or_fails_on_new_rows(
    pg_url: str, mdirs: MigrationDirs
) -> None:
    mdirs.add("20250101_000100", "base", PG_BASE, PG_BASE_UNDO)
    mdirs.add("20250101_000200", "relax", PG_RELAX, "\n".join(s for s, _ in PG_UNDO))
    undo = "20250101_000200_undo_relax.sql"
    expected = [(r, undo, n) for n, (_s, r) in enumerate(PG_UNDO, 1) if r is not None]
    found = _findings(mdirs, "postgresql")
    assert found == expected
    report = lint_migrations(discover(mdirs.migrations, mdirs.rollback, "postgresql"),
                             dialect="postgresql")  # fmt: skip
    whys = {f.line: f.why for f in report.findings if f.rule in (NARROWS, FAILS)}
    assert "t1.score from numeric(5,2) back to integer: the fractions are rounded" in whys[1]
    assert "t4.grade, which the migration makes nullable (its line 4)" in whys[4]
    assert "t6_email_key, which the migration drops (its line 6)" in whys[6]
    # True on PostgreSQL 15: each statement of the rollback, run alone on the rows the
    # migration allowed, fails (FAILS) or runs and changes the value (NARROWS).
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(PG_BASE + PG_RELAX + PG_ROWS)
        for n, (statement, rule) in enumerate(PG_UNDO, 1):
            before = conn.execute(PG_READ[n]).fetchall() if n in PG_READ else None
            conn.execute("BEGIN")
            try:
                conn.execute(statement)
                after = conn.execute(PG_READ[n]).fetchall() if n in PG_READ else None
                outcome = "ran"
            except psycopg.Error:
                outcome, after = "failed", None
            conn.execute("ROLLBACK")
            if rule == FAILS:
                assert outcome == "failed", statement
            elif rule == NARROWS:
                assert outcome == "ran" and after != before, (statement, before, after)
            else:
                assert outcome == "ran" and after == before, statement


SQLITE_BASE = """
CREATE TABLE s1 (id INTEGER PRIMARY KEY, grade INTEGER NOT NULL);
CREATE TABLE s2 (id INTEGER PRIMARY KEY, n INTEGER CHECK (n > 0));
CREATE TABLE s3 (id INTEGER PRIMARY KEY, grade INTEGER NOT NULL);
"""
# sqlite.org's order: each table made again without its limit (s1, s3 nullable; s2's CHECK)
SQLITE_RELAX = """
PRAGMA foreign_keys = OFF;
CREATE TABLE new_s1 (id INTEGER PRIMARY KEY, grade INTEGER);
INSERT INTO new_s1 (id, grade) SELECT id, grade FROM s1;
DROP TABLE s1;
ALTER TABLE new_s1 RENAME TO s1;
CREATE TABLE new_s2 (id INTEGER PRIMARY KEY, n INTEGER);
INSERT INTO new_s2 (id, n) SELECT id, n FROM s2;
DROP TABLE s2;
ALTER TABLE new_s2 RENAME TO s2;
CREATE TABLE new_s3 (id INTEGER PRIMARY KEY, grade INTEGER);
INSERT INTO new_s3 (id, grade) SELECT id, grade FROM s3;
DROP TABLE s3;
ALTER TABLE new_s3 RENAME TO s3;
"""
# Its rollback puts each limit back; s3's copy fills the NULLs (Django's coalesce): not named.
SQLITE_UNDO = """
PRAGMA foreign_keys = OFF;
CREATE TABLE new_s1 (id INTEGER PRIMARY KEY, grade INTEGER NOT NULL);
INSERT INTO new_s1 (id, grade) SELECT id, grade FROM s1;
DROP TABLE s1;
ALTER TABLE new_s1 RENAME TO s1;
CREATE TABLE new_s2 (id INTEGER PRIMARY KEY, n INTEGER CHECK (n > 0));
INSERT INTO new_s2 (id, n) SELECT id, n FROM s2;
DROP TABLE s2;
ALTER TABLE new_s2 RENAME TO s2;
CREATE TABLE new_s3 (id INTEGER PRIMARY KEY, grade INTEGER NOT NULL);
INSERT INTO new_s3 (id, grade) SELECT id, coalesce(grade, 0) FROM s3;
DROP TABLE s3;
ALTER TABLE new_s3 RENAME TO s3;
"""


@pytest.mark.parametrize("d1", [False, True], ids=["sqlite", "d1"])
def test_sqlite_rollback_rebuild_that_fails_on_new_rows(mdirs: MigrationDirs, d1: bool) -> None:
    mdirs.add(
        "20250101_000100", "base", SQLITE_BASE, "DROP TABLE s1; DROP TABLE s2; DROP TABLE s3;"
    )
    mdirs.add("20250101_000200", "relax", SQLITE_RELAX, SQLITE_UNDO)
    report = lint_migrations(discover(mdirs.migrations, mdirs.rollback), d1=d1)
    found = [(f.rule, f.file, f.line, f.why) for f in report.findings
             if f.rule in (NARROWS, FAILS)]  # fmt: skip
    undo = "20250101_000200_undo_relax.sql"
    assert [(r, f, n) for r, f, n, _w in found] == [(FAILS, undo, 3), (FAILS, undo, 7)]
    assert "into new_s1 declares grade NOT NULL, which s1" in found[0][3]
    assert "declares CHECK (n > 0), which s2" in found[1][3]
    # True on SQLite: the rows the migration allows, then each copy of the rollback.
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.executescript(SQLITE_BASE + SQLITE_RELAX)
    conn.executescript("INSERT INTO s1 VALUES (1, NULL); INSERT INTO s2 VALUES (1, -1);"
                       "INSERT INTO s3 VALUES (1, NULL);")  # fmt: skip
    copies = [s for s in SQLITE_UNDO.split(";") if "SELECT" in s or "CREATE" in s]
    for create, copy, fails in zip(copies[::2], copies[1::2], (True, True, False), strict=True):
        conn.execute(create)
        try:
            conn.execute(copy)
            outcome = False
        except sqlite3.IntegrityError:
            outcome = True
        assert outcome == fails, copy
    conn.close()


def test_a_rails_timestamp_6_without_time_zone_put_back_narrower_is_named(
    mdirs: MigrationDirs,
) -> None:
    """Rails' `t.datetime` is `timestamp(6) without time zone` (its structure.sql spelling):
    the type read from it has no blank after the precision, and the rollback's date (the time
    of day dropped) or timestamp(0) (the fraction rounded) passed unnamed; so did a `float`
    (PostgreSQL's double precision, Rails' `:float`) put back as an integer."""
    base = "CREATE TABLE r1 (id bigint PRIMARY KEY, held_on date, seen_at timestamp(0), n int);"
    mdirs.add("20250101_000100", "base", base, "DROP TABLE r1;")
    mdirs.add(
        "20250101_000200",
        "widen",
        "ALTER TABLE r1 ALTER COLUMN held_on TYPE timestamp(6) without time zone;\n"
        "ALTER TABLE r1 ALTER COLUMN seen_at TYPE timestamp(6) without time zone;\n"
        "ALTER TABLE r1 ALTER COLUMN n TYPE float;",
        "ALTER TABLE r1 ALTER COLUMN held_on TYPE date;\n"
        "ALTER TABLE r1 ALTER COLUMN seen_at TYPE timestamp(0) without time zone;\n"
        "ALTER TABLE r1 ALTER COLUMN n TYPE integer;",
    )
    undo = "20250101_000200_undo_widen.sql"
    found = _findings(mdirs, "postgresql")
    assert found == [(NARROWS, undo, 1), (NARROWS, undo, 2), (NARROWS, undo, 3)]


ARR_BASE = """
CREATE TABLE u1 (id bigint PRIMARY KEY, tags text);
CREATE TABLE u2 (id bigint PRIMARY KEY, n smallint[]);
CREATE TABLE u3 (id bigint PRIMARY KEY, codes varchar(10)[]);
CREATE TABLE u4 (id bigint PRIMARY KEY, tag text);
CREATE TABLE u5 (id bigint PRIMARY KEY, score numeric(5,2));
CREATE TABLE u6 (id bigint PRIMARY KEY, w numeric);
CREATE TABLE u7 (id bigint PRIMARY KEY, amount double precision);
CREATE TABLE u8 (id bigint PRIMARY KEY, grade integer NOT NULL);
CREATE TABLE u9 (id bigint PRIMARY KEY, name text NOT NULL);
CREATE TABLE u10 (id bigint PRIMARY KEY, mark numeric(5,2));
CREATE TABLE u11 (id bigint PRIMARY KEY, fee numeric(5,2));
"""
ARR_RELAX = """
ALTER TABLE u1 ALTER COLUMN tags TYPE text[] USING string_to_array(tags, ',');
ALTER TABLE u2 ALTER COLUMN n TYPE integer[];
ALTER TABLE u3 ALTER COLUMN codes TYPE varchar(20)[];
ALTER TABLE u4 ALTER COLUMN tag TYPE text[] USING ARRAY[tag];
ALTER TABLE u5 ALTER COLUMN score TYPE double precision;
ALTER TABLE u6 ALTER COLUMN w TYPE double precision;
ALTER TABLE u7 ALTER COLUMN amount TYPE numeric;
ALTER TABLE u8 RENAME COLUMN grade TO level;
ALTER TABLE u8 ALTER COLUMN level DROP NOT NULL;
ALTER TABLE u9 RENAME COLUMN name TO full_name;
ALTER TABLE u9 ADD COLUMN name text;
ALTER TABLE u10 ALTER COLUMN mark TYPE numeric(8,3);
ALTER TABLE u10 RENAME COLUMN mark TO points;
ALTER TABLE u11 ALTER COLUMN fee TYPE numeric;
"""
# The rollback, line by line, run in order: (statement, the findings expected at its line).
ARR_UNDO: list[tuple[str, tuple[str, ...]]] = [
    # an array back to its text form ({a,b}, castable back): not named
    ("ALTER TABLE u1 ALTER COLUMN tags TYPE text;", ()),
    ("ALTER TABLE u2 ALTER COLUMN n TYPE smallint[];", (FAILS,)),
    ("ALTER TABLE u3 ALTER COLUMN codes TYPE varchar(10)[] USING codes::varchar(10)[];",
     (NARROWS,)),
    ("ALTER TABLE u4 ALTER COLUMN tag TYPE text USING tag[1];", (NARROWS,)),
    ("ALTER TABLE u5 ALTER COLUMN score TYPE numeric(5,2);", (NARROWS, FAILS)),
    ("ALTER TABLE u6 ALTER COLUMN w TYPE numeric;", ()),
    ("ALTER TABLE u7 ALTER COLUMN amount TYPE double precision;", (NARROWS,)),
    ("ALTER TABLE u8 RENAME COLUMN level TO grade;", ()),
    ("ALTER TABLE u8 ALTER COLUMN grade SET NOT NULL;", (FAILS,)),
    # Laravel's restated `set not null` of the renamed required column, its old name's new
    # nullable column dropped first: not named
    ("ALTER TABLE u9 DROP COLUMN name;", ()),
    ("ALTER TABLE u9 RENAME COLUMN full_name TO name;", ()),
    ("ALTER TABLE u9 ALTER COLUMN name SET NOT NULL;", ()),
    ("ALTER TABLE u10 RENAME COLUMN points TO mark;", ()),
    ("ALTER TABLE u10 ALTER COLUMN mark TYPE numeric(5,2);", (NARROWS, FAILS)),
    ("ALTER TABLE u11 ALTER COLUMN fee TYPE numeric(5,2);", (NARROWS, FAILS)),
]  # fmt: skip
ARR_ROWS = """
INSERT INTO u1 VALUES (1, '{a,b}');
INSERT INTO u2 VALUES (1, '{1,40000}');
INSERT INTO u3 VALUES (1, '{abcdefghijklmno}');
INSERT INTO u4 VALUES (1, '{a,b}');
INSERT INTO u5 VALUES (1, 87.456);
INSERT INTO u6 VALUES (1, 0.1);
INSERT INTO u7 VALUES (1, 0.12345678901234567890123);
INSERT INTO u8 VALUES (1, NULL);
INSERT INTO u9 VALUES (1, 'Ana');
INSERT INTO u10 VALUES (1, 87.456);
INSERT INTO u11 VALUES (1, 87.456);
"""
ARR_READ = {1: "SELECT tags::text FROM u1", 3: "SELECT codes::text FROM u3",
            4: "SELECT tag FROM u4", 5: "SELECT score::text FROM u5", 6: "SELECT w::text FROM u6",
            7: "SELECT amount::text FROM u7", 12: "SELECT name FROM u9",
            14: "SELECT mark::text FROM u10", 15: "SELECT fee::text FROM u11"}  # fmt: skip
# The rows that overflow what a rollback's numeric(5,2) holds (the lines also FAILS).
ARR_BIG = {
    5: "UPDATE u5 SET score = 12345.5",
    14: "UPDATE u10 SET mark = 12345.678",
    15: "UPDATE u11 SET fee = 12345.5",
}


def test_arrays_floats_and_renamed_columns_put_back(pg_url: str, mdirs: MigrationDirs) -> None:
    """What was left unread: an array's element type put back narrower (it fails or cuts as a
    value does), an array put back as one value (a subscript keeps one element; its text form
    `{a,b}` in text is kept), `double precision` put back as `numeric(5,2)` (rounds, and a
    large value overflows), `numeric` as `double precision` (15 digits), and a column the
    migration renames: its NOT NULL (and type) put back after renaming it back passed unnamed,
    and a restated NOT NULL of a renamed required column is not named for the new nullable
    column given its old name."""
    mdirs.add("20250101_000100", "base", ARR_BASE, "SELECT 1;")
    mdirs.add("20250101_000200", "relax", ARR_RELAX, "\n".join(s for s, _ in ARR_UNDO))
    undo = "20250101_000200_undo_relax.sql"
    expected = [(r, undo, n) for n, (_s, rs) in enumerate(ARR_UNDO, 1) for r in rs]
    assert sorted(_findings(mdirs, "postgresql")) == sorted(expected)
    report = lint_migrations(discover(mdirs.migrations, mdirs.rollback, "postgresql"),
                             dialect="postgresql")  # fmt: skip
    whys = sorted((f.line, f.rule, f.why) for f in report.findings if f.rule in (NARROWS, FAILS))
    assert "out of range), in each element of the arrays" in whys[0][2]
    assert "from double precision back to numeric(5,2): every value is rounded to 2" in whys[4][2]
    assert "over 3 digits before the point fails (numeric field overflow)" in whys[3][2]
    said = "u8.grade (level as the migration leaves it), which the migration makes nullable"
    assert f"{said} (its line 9)" in whys[6][2]
    assert "u10.mark from numeric(8,3) back to numeric(5,2)" in whys[8][2]
    # True on PostgreSQL 15: the rollback run in order on the rows the migration allowed,
    # each statement in a savepoint: FAILS fails, NARROWS runs and changes the values.
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(ARR_BASE + ARR_RELAX + ARR_ROWS)
        conn.execute("BEGIN")
        for n, (statement, rules) in enumerate(ARR_UNDO, 1):
            before = conn.execute(ARR_READ[n]).fetchall() if n in ARR_READ else None
            conn.execute("SAVEPOINT s")
            try:
                conn.execute(statement)
                after = conn.execute(ARR_READ[n]).fetchall() if n in ARR_READ else None
                outcome = "ran"
            except psycopg.Error:
                outcome, after = "failed", None
            conn.execute("ROLLBACK TO SAVEPOINT s")
            if FAILS in rules and n in ARR_BIG:  # rounds these rows; fails on a larger one
                assert outcome == "ran" and after != before, (statement, before, after)
                conn.execute(ARR_BIG[n])
                with pytest.raises(psycopg.errors.NumericValueOutOfRange):
                    conn.execute(statement)
                conn.execute("ROLLBACK TO SAVEPOINT s")
            elif FAILS in rules:
                assert outcome == "failed", statement
            elif NARROWS in rules:
                assert outcome == "ran" and after != before, (statement, before, after)
            else:
                assert outcome == "ran" and after == before, (statement, before, after)
            conn.execute(statement) if outcome == "ran" else None  # (its renames stay)
        conn.execute("ROLLBACK")


REN_BASE = '''
CREATE TABLE v1 (id bigint PRIMARY KEY, "a b" integer NOT NULL, "say ""hi""" text NOT NULL,
                 a integer NOT NULL);
CREATE TABLE v2 (id bigint PRIMARY KEY, grade integer NOT NULL);
CREATE TABLE v3 (id bigint PRIMARY KEY, code varchar(10));
CREATE TABLE v4 (id bigint PRIMARY KEY, grade integer NOT NULL);
CREATE TABLE v5 (id bigint PRIMARY KEY, n integer NOT NULL);
'''
REN_RELAX = '''
ALTER TABLE v1 ALTER COLUMN "a b" DROP NOT NULL;
ALTER TABLE v1 ALTER COLUMN "say ""hi""" DROP NOT NULL;
ALTER TABLE v2 RENAME TO v2_new;
ALTER TABLE v2_new ALTER COLUMN grade DROP NOT NULL;
ALTER TABLE v3 RENAME TO v3_new;
ALTER TABLE v3_new ALTER COLUMN code TYPE varchar(20);
ALTER TABLE v4 ALTER COLUMN grade DROP NOT NULL;
ALTER TABLE v4 RENAME TO v4_new;
ALTER TABLE v5 RENAME TO v5_new;
'''
# The rollback, line by line, run in order: (statement, the finding expected at its line).
REN_UNDO: list[tuple[str, str | None]] = [
    ('ALTER TABLE v1 ALTER COLUMN "a b" SET NOT NULL;', FAILS),
    ('ALTER TABLE v1 ALTER COLUMN "say ""hi""" SET NOT NULL;', FAILS),
    # a column named as the first word of "a b", left NOT NULL: not named
    ("ALTER TABLE v1 ALTER COLUMN a SET NOT NULL;", None),
    ("ALTER TABLE v2_new RENAME TO v2;", None),
    ("ALTER TABLE v2 ALTER COLUMN grade SET NOT NULL;", FAILS),
    ("ALTER TABLE v3_new RENAME TO v3;", None),
    ("ALTER TABLE v3 ALTER COLUMN code TYPE varchar(10);", FAILS),
    ("ALTER TABLE v4_new ALTER COLUMN grade SET NOT NULL;", FAILS),
    ("ALTER TABLE v4_new RENAME TO v4;", None),
    # a required column's restated NOT NULL once renamed back, and a new table under the
    # name renamed away: not named
    ("ALTER TABLE v5_new RENAME TO v5;", None),
    ("ALTER TABLE v5 ALTER COLUMN n SET NOT NULL;", None),
    ("CREATE TABLE v2_new (id bigint PRIMARY KEY, grade integer);", None),
    ("ALTER TABLE v2_new ALTER COLUMN grade SET NOT NULL;", None),
]  # fmt: skip
REN_ROWS = """
INSERT INTO v1 VALUES (1, NULL, NULL, 1);
INSERT INTO v2_new VALUES (1, NULL);
INSERT INTO v3_new VALUES (1, 'abcdefghijklmno');
INSERT INTO v4_new VALUES (1, NULL);
INSERT INTO v5_new VALUES (1, 5);
"""


def test_quoted_column_names_and_tables_renamed_back(pg_url: str, mdirs: MigrationDirs) -> None:
    """A column made nullable whose quoted name holds a blank ("a b") or a doubled quote was
    not recorded (its name read up to the blank), and a table the migration renames was not
    followed (the rollback renaming it back first, or putting the limit back under its new
    name): their rollbacks' SET NOT NULL and narrower type passed unnamed, and fail."""
    mdirs.add("20250101_000100", "base", REN_BASE, "SELECT 1;")
    mdirs.add("20250101_000200", "relax", REN_RELAX, "\n".join(s for s, _ in REN_UNDO))
    undo = "20250101_000200_undo_relax.sql"
    expected = [(r, undo, n) for n, (_s, r) in enumerate(REN_UNDO, 1) if r is not None]
    assert _findings(mdirs, "postgresql") == expected
    report = lint_migrations(discover(mdirs.migrations, mdirs.rollback, "postgresql"),
                             dialect="postgresql")  # fmt: skip
    whys = {f.line: f.why for f in report.findings if f.rule == FAILS}
    assert "v1.a b, which the migration makes nullable (its line 1)" in whys[1]
    assert "v2.grade (v2_new.grade as the migration leaves it), which the" in whys[5]
    assert "v3.code from varchar(20) back to varchar(10)" in whys[7]
    assert "v4_new.grade, which the migration makes nullable (its line 7)" in whys[8]
    # True on PostgreSQL 15: the rollback run in order on the rows the migration allowed.
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(REN_BASE + REN_RELAX + REN_ROWS)
        conn.execute("BEGIN")
        for statement, rule in REN_UNDO:
            conn.execute("SAVEPOINT s")
            try:
                conn.execute(statement)
                outcome = "ran"
            except psycopg.Error:
                outcome = "failed"
            conn.execute("ROLLBACK TO SAVEPOINT s")
            assert outcome == ("failed" if rule == FAILS else "ran"), statement
            conn.execute(statement) if outcome == "ran" else None  # (its renames stay)
        conn.execute("ROLLBACK")
