"""PostgreSQL locks the app's queries wait for, beyond ALTER TABLE: PG-LOCK-TIMEOUT looked at
ALTER TABLE only, while a plain CREATE INDEX, CREATE TRIGGER, CREATE POLICY, a new table's
foreign key to an existing one, DROP, TRUNCATE… queue the same way behind a long query (each
lock measured on PostgreSQL 15: see engine/lint/pg_locks.py); and ALTER DOMAIN … ADD
CONSTRAINT, which checks every column of the domain under a SHARE lock, was not flagged.
Files only: no database."""

from __future__ import annotations

import pytest

from malnu_tui.engine.files import discover
from malnu_tui.engine.lint import lint_migrations
from tests.fixtures_core import MigrationDirs

BASE = """
create domain posint as integer;
create table users (id int primary key, n posint);
create table other (id int primary key, m posint);
create type mood as enum ('happy', 'sad');
create index users_n on users (n);
create view v_users as select * from users;
create policy p on users using (true);
create function f() returns trigger language plpgsql as $$ begin return new; end $$;
create trigger t before insert on other for each row execute function f();
create function get_grades() returns int language sql as 'select 1';
"""

# (case, migration, expected [(rule, line, text in why)])
CASES = [
    ("create index", "create index other_m on other (m);",
     [("PG-INDEX-NOT-CONCURRENT", 1, ""), ("PG-LOCK-TIMEOUT", 1, "CREATE INDEX on other (SHARE")]),
    ("new table referencing an old one", "create table child (\n  id int primary key,\n"
     "  user_id int references users (id)\n);",
     [("PG-LOCK-TIMEOUT", 1, "REFERENCES users (SHARE ROW EXCLUSIVE")]),
    ("foreign key of a new table, added after", "create table c2 (id int, u int);\n"
     "alter table c2 add constraint fk foreign key (u) references users (id);",
     [("PG-LOCK-TIMEOUT", 2, "ALTER TABLE c2 … REFERENCES users")]),
    ("foreign key of an old table", "alter table other add constraint fk foreign key (id) "
     "references users (id) not valid;",
     [("PG-LOCK-TIMEOUT", 1, "ALTER TABLE other … REFERENCES users (SHARE ROW EXCLUSIVE")]),
    ("create trigger", "create trigger t2 after update on users for each row execute "
     "function f();", [("PG-LOCK-TIMEOUT", 1, "CREATE TRIGGER on users")]),
    ("create policy", "create policy p2 on users for select using (true);",
     [("PG-LOCK-TIMEOUT", 1, "CREATE POLICY … ON users (ACCESS EXCLUSIVE")]),
    ("drop policy", "drop policy p on users;\ncreate policy p3 on users using (true);",
     [("PG-LOCK-TIMEOUT", 1, "DROP POLICY … ON users")]),
    ("drop trigger", "drop trigger t on other;", [("PG-LOCK-TIMEOUT", 1, "DROP TRIGGER")]),
    ("drop index", "drop index users_n;", [("PG-DROP-INDEX-NOT-CONCURRENT", 1, ""),
                                            ("PG-LOCK-TIMEOUT", 1, "DROP INDEX users_n")]),
    ("truncate", "truncate other;", [("DELETE-ALL-ROWS", 1, ""),
                                     ("PG-LOCK-TIMEOUT", 1, "TRUNCATE other")]),
    ("drop view", "drop view v_users;", [("DROP-OBJECT", 1, "view v_users is dropped"),
                                          ("PG-LOCK-TIMEOUT", 1, "DROP VIEW v_users")]),
    ("once per file", "create trigger o1 after update on other for each row execute "
     "function f();\ncreate trigger o2 after delete on other for each row execute function "
     "f();", [("PG-LOCK-TIMEOUT", 1, "CREATE TRIGGER")]),
    ("alter domain add constraint", "set lock_timeout = '2s';\nalter domain posint add "
     "constraint pos check (value > 0);",
     [("PG-DOMAIN-CONSTRAINT", 2, "checks other.m, users.n at once")]),
    ("alter domain set not null", "set lock_timeout = '2s';\n"
     "alter domain posint set not null;", [("PG-DOMAIN-CONSTRAINT", 2, "SET NOT NULL")]),
    ("alter domain without a timeout", "alter domain posint add check (value > 0);",
     [("PG-DOMAIN-CONSTRAINT", 1, ""), ("PG-LOCK-TIMEOUT", 1, "ALTER DOMAIN posint")]),
    ("validate a domain's constraint", "alter domain posint validate constraint pos;",
     [("PG-LOCK-TIMEOUT", 1, "ALTER DOMAIN posint VALIDATE CONSTRAINT (SHARE")]),
    # Clean: a timeout set first, new objects, NOT VALID, CONCURRENTLY, ADD VALUE (no table
    # lock), and the pg_dump preamble's lock_timeout = 0 turning a target's timeout off.
    ("safe: timeout first", "set lock_timeout = '2s';\ncreate policy p4 on users using (true);",
     []),
    ("safe: new objects", "create table n1 (id int primary key);\ncreate index n1_i on n1 (id);"
     "\ncreate trigger n1_t before insert on n1 for each row execute function f();\n"
     "create policy n1_p on n1 using (true);\ncreate domain d2 as int;\n"
     "alter domain d2 add check (value > 0);\ncreate table n2 (id int references n1 (id));\n"
     "drop table n2;", []),
    ("safe: not valid", "alter domain posint add constraint pos check (value > 0) not valid;",
     []),
    ("safe: concurrently", "create index concurrently other_m2 on other (m);", []),
    ("safe: enum value", "alter type mood add value 'meh';", []),
]  # fmt: skip


@pytest.mark.parametrize(("case", "sql", "expected"), CASES, ids=[c[0] for c in CASES])
def test_locks_the_app_waits_for(
    mdirs: MigrationDirs, case: str, sql: str, expected: list[tuple[str, int, str]]
) -> None:
    mdirs.add("20250101_000100", "base", BASE, "drop table users;")
    mdirs.add("20250101_000200", "change", sql, "select 1;")
    mset = discover(mdirs.migrations, mdirs.rollback, "postgresql")
    report = lint_migrations(mset, ["20250101_000200_change.sql"], dialect="postgresql")
    found = [
        (f.rule, f.line, f.why)
        for f in report.findings
        if f.rule not in ("ROLLBACK-LEAVES-OBJECTS", "PG-RLS-NO-POLICY")
    ]
    assert [(r, n) for r, n, _ in found] == [(r, n) for r, n, _ in expected], found
    for (_, _, why), (_, _, text) in zip(found, expected, strict=True):
        assert text in why


# What the running app loses, or what anyone gains: each was clean. (case, migration, expected)
APP_CASES = [
    ("revoke", "revoke select on public.users from authenticated;",
     [("PG-REVOKE", 1, "REVOKE select ON users FROM authenticated")]),
    ("revoke on every table", "revoke all on all tables in schema public from anon;",
     [("PG-REVOKE", 1, "ON all tables in schema public FROM anon")]),
    ("rls off", "alter table users disable row level security;",
     [("PG-RLS-DISABLED", 1, "row level security is turned off on users")]),
    ("view dropped", "drop view v_users;", [("DROP-OBJECT", 1, "view v_users")]),
    ("function dropped", "drop function if exists get_grades();",
     [("DROP-OBJECT", 1, "calls of it (rpc('get_grades')) fail")]),
    ("safe: a trigger function", "drop trigger t on other;\ndrop function f();", []),
    ("safe: new table", "create table n1 (id int);\nrevoke all on n1 from anon;\n"
     "alter table n1 disable row level security;", []),
    ("safe: re-created", "drop view v_users;\ncreate view v_users as select id from users;\n"
     "drop function f();\ncreate function f() returns trigger language plpgsql as "
     "$$ begin return old; end $$;", []),
    ("safe: function privileges", "revoke execute on function f() from public;", []),
    ("safe: grant option", "revoke grant option for select on users from authenticated;", []),
]  # fmt: skip


@pytest.mark.parametrize(("case", "sql", "expected"), APP_CASES, ids=[c[0] for c in APP_CASES])
def test_what_the_running_app_loses(
    mdirs: MigrationDirs, case: str, sql: str, expected: list[tuple[str, int, str]]
) -> None:
    mdirs.add("20250101_000100", "base", BASE, "drop table users;")
    mdirs.add("20250101_000200", "change", f"set lock_timeout = '2s';\n{sql}", "select 1;")
    mset = discover(mdirs.migrations, mdirs.rollback, "postgresql")
    report = lint_migrations(mset, ["20250101_000200_change.sql"], dialect="postgresql")
    found = [(f.rule, f.line - 1, f.why) for f in report.findings
             if f.rule not in ("ROLLBACK-LEAVES-OBJECTS", "PG-RLS-NO-POLICY")]  # fmt: skip
    assert [(r, n) for r, n, _ in found] == [(r, n) for r, n, _ in expected], found
    for (_, _, why), (_, _, text) in zip(found, expected, strict=True):
        assert text in why


def test_a_rollback_that_leaves_a_policy_behind(mdirs: MigrationDirs) -> None:
    """A PostgreSQL rollback that does not drop the policy its migration creates on an
    existing table was clean (only `test` found it); one created with its table goes with it,
    and one dropped and re-created (a changed policy) was there before."""
    mdirs.add("20250101_000100", "base", BASE, "drop table users;")
    made = 'create policy "read own" on public.users for select using (true);\n'
    made += "create table n1 (id int);\ncreate policy n1_p on n1 using (true);\n"
    made += "drop policy p on users;\ncreate policy p on users using (id > 0);"
    mdirs.add("20250101_000200", "left", made, "drop table n1;")
    mdirs.add("20250101_000300", "undone", "create policy p5 on other using (true);",
              "drop policy if exists p5 on public.other;")  # fmt: skip
    mset = discover(mdirs.migrations, mdirs.rollback, "postgresql")
    report = lint_migrations(mset, [m.filename for m in mset.migrations[1:]],
                             dialect="postgresql", session_lock_timeout=True)  # fmt: skip
    found = [(f.file[:15], f.rule, f.line, f.why) for f in report.findings]
    assert [x[:3] for x in found] == [("20250101_000200", "ROLLBACK-LEAVES-OBJECTS", 1)], found
    assert 'does not drop policy "read own" on users' in found[0][3]  # as PostgreSQL names it
