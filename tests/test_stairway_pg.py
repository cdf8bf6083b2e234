"""The stairway (`malnu-tui test`) on PostgreSQL: files as ``up`` runs them, and a live
database left as it was."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import psycopg

from tests.fixtures_core import MigrationDirs
from tests.fixtures_matrix import DbTarget


def test_the_stairway_on_a_live_postgresql_database_changes_nothing_there(
    fresh_db: Callable[[str], DbTarget], mdirs: MigrationDirs
) -> None:
    """``test`` on a PostgreSQL target runs in a scratch schema of its own database, but each
    file was committed: a schema-qualified statement (pg_dump and Supabase write ``public.x``)
    reached the live table. Here it deleted a student and added a column, said ✔, and left
    nothing recorded for ``up`` to know. Now (besides the stairway's own rolled-back
    transaction) such a set is refused before anything runs: inside that transaction the live
    table would still be locked until the end."""
    db = fresh_db("postgresql")
    with psycopg.connect(db.url, autocommit=True) as conn:
        conn.execute("CREATE TABLE public.students (id int PRIMARY KEY, name text)")
        conn.execute("INSERT INTO public.students VALUES (1, 'Siti'), (2, 'Budi')")
    mdirs.add(
        "20260101_000000",
        "cleanup",
        "ALTER TABLE public.students ADD COLUMN nis text;\n"
        "DELETE FROM public.students WHERE id = 2;\n"
        "CREATE TABLE public.classes (id int);",
        "ALTER TABLE public.students DROP COLUMN nis; DROP TABLE public.classes;",
    )
    r = db.cli(mdirs, "test")
    assert r.code == 2, r.out + r.err  # refused before anything runs, naming the line
    assert "20260101_000000_cleanup.sql:1: names public.students, a schema of the live" in r.err
    assert "pass --postgres URL of a throwaway server" in r.err
    with psycopg.connect(db.url, autocommit=True) as conn:
        rows = conn.execute("SELECT * FROM public.students ORDER BY id").fetchall()
        assert rows == [(1, "Siti"), (2, "Budi")]  # no row gone, no column added
        assert conn.execute("SELECT to_regclass('public.classes')").fetchone() == (None,)
        schemas = conn.execute(
            "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'malnu_stairway%'"
        ).fetchone()
        assert schemas == (0,)


def test_stairway_on_postgresql_runs_copy_from_stdin_and_a_pg_dump_seed(
    fresh_db: Callable[[str], DbTarget], mdirs: MigrationDirs
) -> None:
    """``test`` ran a migration's ``COPY … FROM stdin`` (which ``up`` applies) as plain text:
    "COPY cannot be used with this method", exit 1; and a ``pg_dump --data-only`` seed (its
    ``\\restrict`` line, its COPY blocks) never ran."""
    db = fresh_db("postgresql")
    mdirs.add(
        "20260101_000000",
        "grades",
        "CREATE TABLE grades (id int PRIMARY KEY, score numeric);\n"
        "COPY grades (id, score) FROM stdin;\n1\t70\n2\t85\n\\.\n"
        "CREATE TABLE passed AS SELECT id FROM grades WHERE score > 80;",
        "DROP TABLE passed; DROP TABLE grades;",
    )
    mdirs.add(
        "20260102_000000",
        "students",
        "CREATE TABLE students (id int PRIMARY KEY, name text);",
        "DROP TABLE students;",
    )
    seed = mdirs.root / "seed.sql"
    seed.write_bytes(
        b"\xef\xbb\xbf--\r\n-- PostgreSQL database dump\r\n--\r\n\r\n\\restrict k3Y\r\n\r\n"
        b"SET statement_timeout = 0;\r\nSELECT pg_catalog.set_config('search_path', '', false);"
        b"\r\n\r\nCOPY students (id, name) FROM stdin;\r\n1\tSiti\r\n2\tBudi; Santoso\r\n\\.\r\n"
        b"\r\n\\unrestrict k3Y\r\n"
    )
    r = db.cli(mdirs, "test", "--seed", str(seed))
    assert r.code == 0, r.err
    assert "never ran" not in r.err


def test_an_enum_value_added_then_used_later_climbs_on_a_scratch_server(
    fresh_db: Callable[[str], DbTarget], mdirs: MigrationDirs
) -> None:
    """The pattern the lint asks for (``ADD VALUE`` in one migration, its use in the next)
    climbs on a scratch server (``--postgres`` of no target: each file commits, as ``up`` runs
    it); on the target's own database (one transaction rolled back) PostgreSQL refuses the
    uncommitted value, and the step says why and what to do instead of a bare error."""
    db, scratch = fresh_db("postgresql"), fresh_db("postgresql")
    mdirs.add(
        "20260101_000000",
        "mood",
        "CREATE TYPE mood AS ENUM ('sad'); CREATE TABLE feelings (m mood);",
        "DROP TABLE feelings; DROP TYPE mood;",
    )
    mdirs.add(
        "20260102_000000",
        "happy",
        "ALTER TYPE mood ADD VALUE IF NOT EXISTS 'happy';",
        "SELECT 1;",
    )
    mdirs.add(
        "20260103_000000",
        "use",
        "INSERT INTO feelings VALUES ('happy');",
        "DELETE FROM feelings WHERE m = 'happy';",
    )
    r = db.cli(mdirs, "test", "--postgres", scratch.url)
    assert r.code == 0, r.out + r.err
    r = db.cli(mdirs, "test")
    assert r.code == 1
    assert "unsafe use of new value" in r.out and "pass --postgres a scratch server" in r.out


def test_a_supabase_set_on_its_own_database_says_to_test_on_a_scratch_server(
    fresh_db: Callable[[str], DbTarget], mdirs: MigrationDirs
) -> None:
    """Supabase's files name ``"public"."profiles"``: once applied, the stairway on the target's
    own database met the live table ("relation profiles already exists", nothing else said).
    Now refused before anything runs, saying why and what to do; on a scratch server the set
    climbs."""
    db, scratch = fresh_db("postgresql"), fresh_db("postgresql")
    mdirs.add(
        "20240101000000",
        "profiles",
        'create table "public"."profiles" ("id" uuid not null, "full_name" text);',
        'drop table "public"."profiles";',
    )
    assert db.cli(mdirs, "up", "--yes", "--no-backup").code == 0
    r = db.cli(mdirs, "test")
    assert r.code == 2
    assert '_profiles.sql:1: names "public"."profiles", a schema of the live database' in r.err
    r = db.cli(mdirs, "test", "--postgres", scratch.url)
    assert r.code == 0, r.out + r.err


def test_plan_check_refuses_to_run_a_qualified_set_on_the_live_database(
    fresh_db: Callable[[str], DbTarget], mdirs: MigrationDirs
) -> None:
    """``plan --check`` of a PostgreSQL-dialect set runs every file on the target's own
    database by default, in a rolled-back transaction: ``ALTER TABLE "public"."profiles"``
    held the live table's ACCESS EXCLUSIVE lock while the check ran. Refused there now, as
    ``test`` refuses it; a throwaway server checks it."""
    db, scratch = fresh_db("postgresql"), fresh_db("postgresql")
    mdirs.add("20240101000000", "profiles", 'create table "public"."profiles" (id int);')
    assert db.cli(mdirs, "up", "--yes", "--no-backup").code == 0
    mdirs.add("20240102000000", "bio", 'alter table "public"."profiles" add column bio text;')
    r = db.cli(mdirs, "plan", "--check")
    assert r.code == 2, r.out + r.err
    assert '_profiles.sql:1: names "public"."profiles", a schema of the live database' in r.err
    r = db.cli(mdirs, "plan", "--check", "--postgres", scratch.url)
    assert r.code == 0, r.out + r.err


def test_a_database_the_tool_manages_is_live_whatever_url_reaches_it(
    fresh_db: Callable[[str], DbTarget], mdirs: MigrationDirs, tmp_path: Path
) -> None:
    """``--postgres`` naming another school's production database (managed by the tool, not
    configured here) was taken for a scratch server: each file committed there."""
    db, other = fresh_db("postgresql"), fresh_db("postgresql")
    elsewhere = MigrationDirs(tmp_path / "elsewhere")
    elsewhere.add("20250101_000000", "students", "CREATE TABLE students (id int);")
    assert other.cli(elsewhere, "up", "--yes", "--no-backup").code == 0
    mdirs.add("20260101_000000", "purge", "DELETE FROM public.students;", "SELECT 1;")
    r = db.cli(mdirs, "test", "--postgres", other.url)
    assert r.code == 2, r.out + r.err
    assert "20260101_000000_purge.sql:1: names public.students, a schema of the live" in r.err


def test_a_rollback_that_leaves_a_function_in_public_fails_on_a_scratch_server(
    fresh_db: Callable[[str], DbTarget], mdirs: MigrationDirs
) -> None:
    """On a scratch server only the stairway's own schema was compared, but Supabase's and
    pg_dump's files put everything in ``"public"``: a rollback that forgot the migration's
    function (re-created by ``CREATE OR REPLACE``, so the re-apply passed) was ✔. The
    database's other schemas are compared too now."""
    db, scratch = fresh_db("postgresql"), fresh_db("postgresql")
    mdirs.add(
        "20240101000000",
        "notes",
        'create extension if not exists "pgcrypto" with schema "public";\n'
        'create table if not exists "public"."notes" ("id" bigint primary key, "body" text);\n'
        'create or replace function "public"."note_count"() returns bigint\n'
        "    language sql stable\n"
        "    as $$ select count(*) from public.notes $$;",
        'drop table if exists "public"."notes";',
    )
    r = db.cli(mdirs, "test", "--postgres", scratch.url)
    assert r.code == 1, r.out + r.err
    assert "function public.note_count() left behind" in r.out
    assert "function public.digest" not in r.out  # an extension's functions are not listed
    # Supabase has pgcrypto already, and no rollback should drop it: not a stair's failure,
    # but the closing note names it among what stays on the server.
    assert "extension pgcrypto left behind" not in r.out
    assert "stays on the server: public (" in r.err and "extension(s) pgcrypto" in r.err


def test_a_supabase_file_naming_public_and_bare_names_climbs_on_a_scratch_server(
    fresh_db: Callable[[str], DbTarget], mdirs: MigrationDirs
) -> None:
    """Supabase's own user-management example creates ``public.profiles`` and then says
    ``create policy … on profiles``, which ``up`` finds on the search path; the stairway's
    search path held its scratch schema alone: "relation profiles does not exist", exit 1.
    What the set made outside the scratch schema stays on the server, and a note says so."""
    db, scratch = fresh_db("postgresql"), fresh_db("postgresql")
    mdirs.add(
        "20240101000000",
        "profiles",
        "create table public.profiles (id uuid primary key, full_name text);\n"
        "alter table public.profiles enable row level security;\n"
        'create policy "Public profiles are viewable by everyone." on profiles\n'
        "  for select using (true);\n"
        "comment on table profiles is 'one per user';",
        "drop table public.profiles;",
    )
    r = db.cli(mdirs, "test", "--postgres", scratch.url)
    assert r.code == 0, r.out + r.err
    assert "stays on the server: public (" in r.err


def test_plan_check_on_a_scratch_server_takes_supabase_files_as_up_does(
    fresh_db: Callable[[str], DbTarget], mdirs: MigrationDirs
) -> None:
    """``plan --check`` runs every file in one transaction it rolls back, on a search path of
    its scratch schema alone: Supabase's ``create policy … on profiles`` after ``create table
    public.profiles`` was "✘ REJECTED: relation profiles does not exist", and a value that one
    migration adds to an enum and the next one uses was "unsafe use of new value" — both
    fine for ``up``, which commits each file. Exit 1 for a set that applies. A value used in
    the migration that adds it is still rejected: ``up`` fails there too."""
    db, scratch = fresh_db("postgresql"), fresh_db("postgresql")
    mdirs.add(
        "20240101000000",
        "profiles",
        "create type public.status as enum ('open', 'done');\n"
        "create table public.profiles (id int primary key, status public.status);\n"
        "alter table public.profiles enable row level security;\n"
        'create policy "Public profiles are viewable by everyone." on profiles\n'
        "  for select using (true);",
    )
    mdirs.add("20240102000000", "archived", "alter type public.status add value 'archived';")
    mdirs.add(
        "20240103000000",
        "archive",
        "update public.profiles set status = 'archived' where status = 'done';",
    )
    r = db.cli(mdirs, "plan", "--check", "--postgres", scratch.url)
    assert r.code == 0, r.out + r.err
    assert "not checked" in r.out  # the use of the new value, said as a note
    assert "_archive.sql (ran on PostgreSQL; 1 statement(s) could not be checked)" in r.out
    assert "line  file " in r.out  # the set's own SQL, not "SQLite"
    r = db.cli(mdirs, "--json", "plan", "--check", "--postgres", scratch.url)
    statuses = {
        m["filename"]: [s["status"] for s in m["statements"]]
        for m in json.loads(r.out)["migrations"]
    }
    assert statuses["20240103000000_archive.sql"] == ["unchecked"]  # never "ok": not tried
    assert statuses["20240101000000_profiles.sql"] == ["ok"] * 4
    mdirs.add(
        "20240104000000",
        "paused",
        "alter type public.status add value 'paused';\n"
        "update public.profiles set status = 'paused' where id = 1;",
    )
    r = db.cli(mdirs, "plan", "--check", "--postgres", scratch.url)
    assert r.code == 1, r.out + r.err
    assert "unsafe use of new value" in r.out


def test_an_extension_the_set_installs_in_the_scratch_schema_is_one_difference(
    fresh_db: Callable[[str], DbTarget], mdirs: MigrationDirs
) -> None:
    """An unqualified ``create extension`` lands in the scratch schema: a rollback that keeps
    it fails its stair, named once as the extension, not as each of its functions."""
    db, scratch = fresh_db("postgresql"), fresh_db("postgresql")
    mdirs.add(
        "20240101000000",
        "ids",
        'create extension if not exists "uuid-ossp";\n'
        "create table t (id uuid default uuid_generate_v4());",
        "drop table t;",
    )
    r = db.cli(mdirs, "test", "--postgres", scratch.url)
    assert r.code == 1, r.out + r.err
    assert "extension uuid-ossp left behind" in r.out
    assert "uuid_generate_v4" not in r.out


def test_a_rollback_that_leaves_row_level_security_or_a_grant_fails_its_stair(
    fresh_db: Callable[[str], DbTarget], mdirs: MigrationDirs
) -> None:
    """Supabase's RLS on an existing table: a rollback that drops the policy but leaves row
    level security on (every read by anon or authenticated then returns nothing: the app is
    down after the rollback), or leaves a grant to anon, or a function's SECURITY DEFINER, was
    ✔ — the fingerprint had no RLS, policy, grant or function attribute in it."""
    db, scratch = fresh_db("postgresql"), fresh_db("postgresql")
    with psycopg.connect(scratch.url, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'anon'").fetchone() is None:
            conn.execute("CREATE ROLE anon NOLOGIN")
    mdirs.add(
        "20240101000000",
        "profiles",
        "create table public.profiles (id int primary key, owner name);\n"
        "create function public.mine() returns setof public.profiles language sql stable\n"
        "  as $$ select * from public.profiles where owner = current_user $$;",
        "drop function public.mine(); drop table public.profiles;",
    )
    mdirs.add(
        "20240102000000",
        "rls",
        "alter table public.profiles enable row level security;\n"
        'create policy "own" on public.profiles for select using (owner = current_user);\n'
        "grant select on public.profiles to anon;\n"
        "alter function public.mine() security definer;",
        'drop policy "own" on public.profiles;',
    )
    r = db.cli(mdirs, "test", "--postgres", scratch.url)
    assert r.code == 1, r.out + r.err
    assert "✔ 20240101000000_profiles.sql" in r.out
    assert "table public.profiles row level security left behind" in r.out
    assert "table public.profiles grants left behind" in r.out
    assert "function public.mine() changed" in r.out
    # The complete rollback: its REVOKE leaves the owner's default ACL, not a difference.
    (mdirs.rollback / "20240102000000_undo_rls.sql").write_text(
        'drop policy "own" on public.profiles;\n'
        "alter table public.profiles disable row level security;\n"
        "revoke select on public.profiles from anon;\n"
        "alter function public.mine() security invoker;\n"
    )
    r = db.cli(mdirs, "test", "--postgres", fresh_db("postgresql").url)
    assert r.code == 0, r.out + r.err


def test_the_live_stairway_finds_functions_of_an_extensions_schema_as_up_does(
    fresh_db: Callable[[str], DbTarget], mdirs: MigrationDirs
) -> None:
    """Supabase keeps uuid-ossp in schema `extensions`, on the database's search path: `up`
    finds `uuid_generate_v4()`, but `test` and `plan --check` on the target's own database
    searched their scratch schema alone — "function uuid_generate_v4() does not exist", exit 1.
    A schema of extensions' objects only is on their path now; a schema with tables is not."""
    db = fresh_db("postgresql")
    with psycopg.connect(db.url, autocommit=True) as conn:
        conn.execute(
            'CREATE SCHEMA extensions; CREATE EXTENSION "uuid-ossp" WITH SCHEMA extensions'
        )
        name = conn.info.dbname
        conn.execute(f'ALTER DATABASE "{name}" SET search_path = "$user", public, extensions')
    mdirs.add(
        "20240101000000",
        "items",
        "create table items (id uuid default uuid_generate_v4() primary key, name text);",
        "drop table items;",
    )
    assert db.cli(mdirs, "status").code == 0  # the tool's tables: public is live from here
    r = db.cli(mdirs, "test")
    assert r.code == 0, r.out + r.err
    r = db.cli(mdirs, "plan", "--check")
    assert r.code == 0, r.out + r.err
    assert db.cli(mdirs, "up", "--yes", "--no-backup").code == 0
