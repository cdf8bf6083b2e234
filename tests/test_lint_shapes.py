"""A function or view dropped and created again in another shape (OBJECT-SHAPE-CHANGED): the
deployed app calls the old one until it is redeployed. It was clean, DROP-OBJECT seeing only
one dropped and NOT re-created: the supabase_dump_like set's `DROP FUNCTION
class_of_invite(text)` then `CREATE FUNCTION … RETURNS jsonb` where it returned a row of
`school_class` (pinned in test_lint_realworld_supabase.py); a parameter renamed (PostgREST
calls by name), added without a DEFAULT, retyped, removed; a view's column gone. The old shape
comes from the earlier migrations, SQLite's replay of them, or the live PostgreSQL database
for pending ones."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg

from malnu_tui.engine.files import discover
from malnu_tui.engine.lint import lint_migrations
from tests.fixtures_core import MigrationDirs, run_cli

BASE = """
create table study (id int primary key, title text, n int);
create or replace function "public"."get_record"("invite_code" "text") returns "public"."study"
    language sql stable as $$ select * from study limit 1 $$;
create function grades(p_class int, p_term varchar(10) default 'a') returns setof study
    language sql as 'select * from study';
create function summary(x int, out total bigint, out label text) language sql as
    'select 1::bigint, ''a''';
create procedure archive(p_days int) language sql as 'select 1';
create function touch(p int) returns void language sql as 'select';
create view v_study as select id, title as judul, s.n from study s;
create function f() returns trigger language plpgsql as $$ begin return new; end $$;
create function enroll("student id" int, "class name" text default 'x') returns int
    language sql as 'select 1';
"""

# (case, migration, expected [(line of the finding, text in why)]); each was clean.
CASES = [
    ("result type", "drop function if exists public.get_record(text);\n"
     "create function public.get_record(invite_code text) returns jsonb\n"
     "language sql as $$ select '{}'::jsonb $$;",
     [(2, "function get_record is dropped and re-created in another shape (it returned "
          "study, now jsonb)")]),
    ("parameter renamed", "drop function get_record(text);\ncreate function get_record(code "
     "text) returns study language sql as $$ select * from study limit 1 $$;",
     [(2, "parameter invite_code is now named code")]),
    ("parameter added without default, type changed",
     "drop function grades(int, varchar);\ncreate function grades(p_class bigint, p_term text"
     " default 'a', p_year int) returns setof study language sql as 'select * from study';",
     [(2, "parameter p_class was integer, now bigint; parameter p_year is added without a "
          "DEFAULT")]),
    ("parameter removed, default lost", "drop function grades;\ncreate function grades("
     "p_class int) returns setof study language sql as 'select * from study';",
     [(2, "parameter p_term is removed")]),
    ("OUT parameters", "drop function summary(int);\ncreate function summary(x int, out total"
     " bigint) language sql as 'select 1::bigint';",
     [(2, "it returned (total bigint, label text), now (total bigint)")]),
    ("procedure", "drop procedure archive(int);\ncreate procedure archive(days int) language "
     "sql as 'select 1';", [(2, "procedure archive is dropped and re-created in another shape "
                               "(parameter p_days is now named days)")]),
    ("after DROP … CASCADE", "drop function get_record(text) cascade;\ncreate function "
     "get_record(invite_code text) returns setof study language sql as 'select * from study';",
     [(2, "it returned study, now setof study")]),
    ("view column gone", "drop view v_study;\ncreate view v_study as select id, title from "
     "study;", [(2, "view v_study is dropped and re-created in another shape (columns judul, n "
                   "are gone)")]),
    ("quoted names with a space (were read as name \"student, type id int: no finding)",
     'drop function enroll(int, text);\ncreate function enroll("student id" int, "class name" '
     "text) returns int language sql as 'select 1';",
     [(2, "parameter class name lost its DEFAULT")]),
    ("safe: same shape, spelled otherwise", "drop function get_record(text);\n"
     "create function get_record(INVITE_CODE pg_catalog.text) returns study language sql as "
     "$$ select * from study where id = 2 $$;\ndrop function grades(int, varchar);\n"
     "create function grades(p_class integer, p_term character varying = 'b') returns setof "
     "public.study language sql as 'select * from study';", []),
    ("safe: a parameter added with a DEFAULT, a view's column added",
     "drop function get_record(text);\ncreate function get_record(invite_code text, "
     "p_limit int default 1) returns study language sql as $$ select * from study $$;\n"
     "drop view v_study;\ncreate view v_study as select id, title as judul, n, 1 as extra "
     "from study;", []),
    ("safe: another overload, dropped if it exists", "drop function if exists grades(int);\n"
     "create function grades(p_class int) returns setof study language sql as 'select 1';\n"
     "drop function if exists grades(int);\ncreate function grades(c int) returns int "
     "language sql as 'select 1';", []),
    ("safe: a column more in the result; a result where there was none",
     "drop function summary(int);\ncreate function summary(x int, out total bigint, out label "
     "text, out n int) language sql as 'select 1::bigint, ''a'', 1';\ndrop function touch;\n"
     "create function touch(p int) returns int language sql as 'select 1';", []),
    ("safe: made in this migration", "create function fresh(a int) returns int language sql "
     "as 'select 1';\ndrop function fresh(int);\ncreate function fresh(b text) returns text "
     "language sql as 'select 1';", []),
    ("safe: a trigger function", "drop function f() cascade;\ncreate function f() returns "
     "trigger language plpgsql as $$ begin return old; end $$;", []),
    ("ignored", "drop function get_record(text);\n-- lint:ignore OBJECT-SHAPE-CHANGED the app "
     "moved to get_record_v2 last release\ncreate function get_record(invite_code text) "
     "returns jsonb language sql as $$ select '{}'::jsonb $$;", []),
]  # fmt: skip


def test_a_function_or_view_made_again_in_another_shape(tmp_path: Path) -> None:
    """Each case is a pending migration over the same base (files only: no database)."""
    for i, (case, sql, expected) in enumerate(CASES):
        d = MigrationDirs(tmp_path / str(i))
        d.add("20250101_000100", "base", BASE, "drop table study;")
        d.add("20250101_000200", "change", f"set lock_timeout = '2s';\n{sql}", "select 1;")
        mset = discover(d.migrations, d.rollback, "postgresql")
        report = lint_migrations(mset, ["20250101_000200_change.sql"], dialect="postgresql")
        shape = [f for f in report.findings if f.rule == "OBJECT-SHAPE-CHANGED"]
        found = [(f.line - 1, f.why) for f in shape if not f.ignored]
        assert [n for n, _ in found] == [n for n, _ in expected], (case, found)
        for (_, why), (_, text) in zip(found, expected, strict=True):
            assert text in why, (case, why)
        assert all(f.severity == "warning" for f in report.findings if f.rule.startswith("OBJ"))
        assert not [f for f in report.findings if f.rule == "DROP-OBJECT"], case
        accepted = [f.reason for f in shape if f.ignored]
        assert accepted == (["the app moved to get_record_v2 last release"] if case == "ignored"
                            else []), case  # fmt: skip


def test_a_sqlite_view_made_again_without_a_column(mdirs: MigrationDirs) -> None:
    """SQLite (and D1) change a view only by DROP and CREATE: the old one is the replay's."""
    base = "create table t (id integer, nama text);\ncreate view v as select id, nama from t;"
    mdirs.add("20250101_000100", "base", base, "drop view v;\ndrop table t;")
    view = "drop view v;\ncreate view v as select id, nama as name from t;"
    mdirs.add("20250101_000200", "view", view, "drop view v;")
    report = lint_migrations(
        discover(mdirs.migrations, mdirs.rollback), ["20250101_000200_view.sql"]
    )
    found = [(f.rule, f.line, f.why) for f in report.findings if f.rule == "OBJECT-SHAPE-CHANGED"]
    assert [x[:2] for x in found] == [("OBJECT-SHAPE-CHANGED", 2)], report.findings
    assert "(column nama is gone)" in found[0][2]


def test_the_old_shape_read_from_the_live_database(tmp_path: Path, pg_url: str) -> None:
    """A pending migration of a function and a view the migrations never created (made in
    Supabase's SQL editor): their shapes are read from the live PostgreSQL database."""
    d = MigrationDirs(tmp_path / "live")
    sql = "set lock_timeout = '2s';\ndrop function get_grades(int, text);\n"
    sql += "create function get_grades(p_class int, p_term text, p_year int) returns int "
    sql += "language sql as 'select 1';\ndrop view v_nilai;\n"
    sql += "create view v_nilai as select id from nilai;\ndrop function same(int);\n"
    sql += "create function same(a integer, b varchar = 'x') returns setof nilai language sql "
    sql += "as 'select * from nilai';\ndrop function tab(int);\ncreate function tab(x int) "
    sql += "returns table (id bigint, nama text) language sql as 'select 1::bigint, ''a''';\n"
    sql += "drop function outs;\ncreate function outs(x int, out total bigint, out label text)"
    sql += " language sql as 'select 1::bigint, ''a''';\n"
    # A view of that name in another schema too: which one's columns is not known (no
    # finding; the two views' columns were read as one view's: "column b is gone"). A quoted
    # camelCase function (Supabase's rpc('getStudent')): its shape is read (was not found).
    sql += "drop view v_two;\ncreate view v_two as select 1 as a;\n"
    sql += 'drop function "getStudent"(int);\ncreate function "getStudent"(student int) '
    sql += "returns int language sql as 'select 1';"
    d.add("20250101000100", "change", sql, "select 1;")
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE nilai (id int, skor int)")
        conn.execute("CREATE VIEW v_nilai AS SELECT id, skor FROM nilai")
        conn.execute("CREATE FUNCTION get_grades(p_class int, p_term text DEFAULT 'a') "
                     "RETURNS int LANGUAGE sql AS 'select 1'")  # fmt: skip
        conn.execute("CREATE FUNCTION same(a int, b varchar(3) = 'x') RETURNS SETOF nilai "
                     "LANGUAGE sql AS 'select * from nilai'")  # fmt: skip
        conn.execute("CREATE FUNCTION tab(x int) RETURNS TABLE (id int8, name text) "
                     "LANGUAGE sql AS 'select 1::bigint, ''a'''")  # fmt: skip
        conn.execute("CREATE FUNCTION outs(x int, OUT total int4, OUT label text) "
                     "LANGUAGE sql AS 'select 1::bigint, ''a'''")  # fmt: skip
        conn.execute("CREATE SCHEMA rpt; CREATE VIEW v_two AS SELECT 1 AS a; "
                     "CREATE VIEW rpt.v_two AS SELECT 2 AS b")  # fmt: skip
        conn.execute('CREATE FUNCTION "getStudent"(p_id int) RETURNS int LANGUAGE sql '
                     "AS 'select 1'")  # fmt: skip
    res = run_cli("--database", pg_url, *d.args(), "lint", "--json")
    found = [(f["line"], f["why"]) for f in json.loads(res.out)["findings"]
             if f["rule"] == "OBJECT-SHAPE-CHANGED"]  # fmt: skip
    assert [n for n, _ in found] == [3, 5, 9, 11, 15], res.out + res.err
    assert "parameter p_term lost its DEFAULT; parameter p_year is added without a " in found[0][1]
    assert (
        "view v_nilai is dropped and re-created in another shape (column skor is gone)"
        in found[1][1]
    )
    assert (
        "(it returned setof (id bigint, name text), now setof (id bigint, nama text))"
        in found[2][1]
    )
    assert (
        "(it returned (total integer, label text), now (total bigint, label text))" in found[3][1]
    )
    assert (
        "function getStudent is dropped and re-created in another shape (parameter p_id is "
        "now named student)" in found[4][1]
    )
