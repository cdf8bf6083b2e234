"""Backups, restores, rehearsals and the stairway of a Supabase-shaped PostgreSQL target, as an
operator runs them: Supabase's roles, its ``auth`` schema with the functions policies call
(``auth.uid()``, ``auth.jwt()``), uuid-ossp and pgcrypto in an ``extensions`` schema, row level
security policies ``TO authenticated``, GRANTs to its roles and the CLI's
``supabase_migrations.schema_migrations``; the target configured as the README shows, with
``schema = "public"``. One database for the module; each test leaves it as it found it."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from tests.fixtures_core import MigrationDirs, run_cli
from tests.fixtures_pg import PgCluster, create_database, drop_database, supabase_roles

# As on Supabase: the platform's roles own auth (supabase_auth_admin) and the event trigger
# PostgREST watches DDL with (a superuser's); the project role (`postgres` there, here
# `sb_operator`: no superuser, BYPASSRLS) owns the rest and reads auth.users.
SUPABASE_PLATFORM = """
CREATE SCHEMA auth AUTHORIZATION supabase_auth_admin;
SET ROLE supabase_auth_admin;
CREATE TABLE auth.users (id uuid PRIMARY KEY, email text);
CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS $f$
  SELECT (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')::uuid
$f$;
CREATE FUNCTION auth.jwt() RETURNS jsonb LANGUAGE sql STABLE AS $f$
  SELECT nullif(current_setting('request.jwt.claims', true), '')::jsonb
$f$;
GRANT USAGE ON SCHEMA auth TO anon, authenticated, service_role, sb_operator;
GRANT SELECT, REFERENCES ON auth.users TO sb_operator;
INSERT INTO auth.users VALUES ('00000000-0000-0000-0000-000000000001', 'a@x'),
                              ('00000000-0000-0000-0000-000000000002', 'b@x');
RESET ROLE;
CREATE SCHEMA extensions AUTHORIZATION sb_operator;
CREATE EXTENSION "uuid-ossp" WITH SCHEMA extensions;
CREATE EXTENSION pgcrypto WITH SCHEMA extensions;
GRANT USAGE ON SCHEMA extensions TO anon, authenticated, service_role;
CREATE FUNCTION extensions.pgrst_ddl_watch() RETURNS event_trigger LANGUAGE plpgsql AS $f$
  BEGIN NOTIFY pgrst, 'reload schema'; END $f$;
COMMENT ON FUNCTION extensions.pgrst_ddl_watch() IS 'PostgREST: reload the schema cache';
CREATE EVENT TRIGGER pgrst_ddl_watch ON ddl_command_end
  EXECUTE FUNCTION extensions.pgrst_ddl_watch();
"""
SUPABASE = (
    SUPABASE_PLATFORM
    + """
GRANT USAGE ON SCHEMA public TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES FOR ROLE supabase_auth_admin IN SCHEMA public
  GRANT SELECT ON TABLES TO service_role;
SET ROLE sb_operator;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
  GRANT ALL ON TABLES TO anon, authenticated, service_role;
CREATE SCHEMA supabase_migrations;
CREATE TABLE supabase_migrations.schema_migrations (version text PRIMARY KEY, name text);
INSERT INTO supabase_migrations.schema_migrations VALUES ('20240101000000', 'init');
CREATE TABLE public.profiles (
  id uuid PRIMARY KEY DEFAULT extensions.uuid_generate_v4(),
  user_id uuid NOT NULL REFERENCES auth.users (id),
  token text DEFAULT encode(extensions.gen_random_bytes(8), 'hex'));
ALTER TABLE public.profiles ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_profile ON public.profiles FOR SELECT TO authenticated
  USING (auth.uid() = user_id);
CREATE POLICY own_update ON public.profiles FOR UPDATE TO authenticated
  USING (auth.uid() = user_id) WITH CHECK ((auth.jwt() ->> 'role') = 'authenticated');
REVOKE ALL ON public.profiles FROM anon, authenticated;
GRANT SELECT, UPDATE ON public.profiles TO authenticated;
GRANT ALL ON public.profiles TO service_role;
INSERT INTO public.profiles (user_id) SELECT id FROM auth.users;
CREATE FUNCTION public.handle_new_user() RETURNS trigger LANGUAGE plpgsql AS $f$
  BEGIN INSERT INTO public.profiles (user_id) VALUES (NEW.id); RETURN NEW; END $f$;
SET ROLE supabase_auth_admin;
CREATE TRIGGER on_auth_user_created AFTER INSERT ON auth.users
  FOR EACH ROW EXECUTE FUNCTION public.handle_new_user();
RESET ROLE;
"""
)

NOTES = """
CREATE TABLE public.notes (
  id uuid PRIMARY KEY DEFAULT extensions.uuid_generate_v4(),
  user_id uuid NOT NULL DEFAULT auth.uid(),
  body text NOT NULL);
ALTER TABLE public.notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY notes_own ON public.notes FOR ALL TO authenticated
  USING (auth.uid() = user_id) WITH CHECK (auth.uid() = user_id);
GRANT SELECT, INSERT ON public.notes TO authenticated;
"""

# What a restore must give back: policies (with their roles and expressions), grants to
# Supabase's roles, rows, the CLI's history and the extensions.
STATE = """
SELECT (SELECT string_agg(format('%s.%s %s %s %s', tablename, policyname, roles, qual,
                                 with_check), '; ' ORDER BY tablename, policyname)
        FROM pg_policies WHERE schemaname = 'public'),
       (SELECT string_agg(format('%s %s %s', table_name, grantee, privilege_type), '; '
                          ORDER BY table_name, grantee, privilege_type)
        FROM information_schema.role_table_grants
        WHERE table_schema = 'public' AND table_name IN ('profiles', 'notes')
          AND grantee IN ('anon', 'authenticated', 'service_role')),
       (SELECT count(*) FROM public.profiles), (SELECT count(*) FROM auth.users),
       (SELECT string_agg(version, ',') FROM supabase_migrations.schema_migrations),
       (SELECT string_agg(extname || '@' || extnamespace::regnamespace, ',' ORDER BY extname)
        FROM pg_extension WHERE extname <> 'plpgsql'),
       (SELECT bool_and(relrowsecurity) FROM pg_class
        WHERE relname IN ('profiles', 'notes') AND relnamespace = 'public'::regnamespace)
"""


def platform_roles(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    """Supabase's roles, the platform's ``supabase_auth_admin`` and the project role
    ``sb_operator`` (``postgres`` there) on ``conn``'s cluster (shared: made once)."""
    supabase_roles(conn)
    for role in ("supabase_auth_admin NOLOGIN", "sb_operator LOGIN CREATEDB BYPASSRLS"):
        with contextlib.suppress(psycopg.errors.DuplicateObject):  # the cluster's, shared
            conn.execute(f"CREATE ROLE {role}")


def supabase_platform(conn: psycopg.Connection[tuple[object, ...]], sql: str) -> None:
    """:func:`platform_roles`, then ``sql`` (:data:`SUPABASE_PLATFORM`, or it with a
    project's tables: :data:`SUPABASE`)."""
    platform_roles(conn)
    conn.execute(sql)


def project_database(pg_cluster: PgCluster, sql: str) -> tuple[str, str]:
    """A new database of ``pg_cluster`` owned by the project role ``sb_operator`` (as
    `postgres` owns a Supabase project's), :func:`platform_roles` made, then ``sql``: its name
    and URL."""
    name = create_database(pg_cluster)
    url = pg_cluster.url(name)
    with psycopg.connect(url, autocommit=True) as conn:
        platform_roles(conn)
        conn.execute(f'ALTER DATABASE "{name}" OWNER TO sb_operator')
        conn.execute(sql)
    return name, url


@dataclass(frozen=True)
class Supa:
    cluster: PgCluster
    url: str
    config: Path
    dirs: MigrationDirs
    root: Path
    fresh: str  # another database (empty), the same target name and store: fresh.toml

    @property
    def base(self) -> list[str]:
        return ["--config", str(self.config), "--target", "analytics"]  # as a superuser

    def sql(self, query: str, url: str | None = None) -> list[tuple[object, ...]]:
        with psycopg.connect(url or self.url, autocommit=True) as conn:
            cur = conn.execute(query)
            return cur.fetchall() if cur.description else []


@pytest.fixture(scope="module")
def supa(pg_cluster: PgCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Supa]:
    root = tmp_path_factory.mktemp("supabase")
    name, url = project_database(pg_cluster, SUPABASE)
    dirs = MigrationDirs(root / "project")
    dirs.add("20250101_000100", "notes", NOTES, "DROP TABLE public.notes;")
    config = root / "malnu.toml"
    target = (
        f'schema = "public"\nmigrations_dir = "{dirs.migrations}"\n'
        f'rollback_dir = "{dirs.rollback}"\nlock_timeout = "10s"\n'
    )
    store = f'[backup]\ndir = "{root / "backups"}"\n\n[targets.analytics]\n'
    config.write_text(f'{store}url = "{url}"\n{target}', encoding="utf-8")
    role_url = url.replace(f"{pg_cluster.user}@", "sb_operator@")  # the same target and store,
    (root / "project.toml").write_text(f'{store}url = "{role_url}"\n{target}', encoding="utf-8")
    fresh = pg_cluster.url(create_database(pg_cluster))  # another database, the same store
    (root / "fresh.toml").write_text(f'{store}url = "{fresh}"\n{target}', encoding="utf-8")
    s = Supa(pg_cluster, url, config, dirs, root, fresh)
    res = run_cli("--config", str(root / "project.toml"), "up", "--no-backup")  # its tables
    assert res.code == 0, res.err
    try:
        yield s
    finally:
        drop_database(pg_cluster, name)
        drop_database(pg_cluster, fresh.rsplit("/", 1)[1])


def _backup(s: Supa) -> str:
    res = run_cli(*s.base, "backup", "create", "--json")
    assert res.code == 0, res.err
    return str(json.loads(res.out)["id"])


def test_a_restore_over_the_live_database_gives_back_policies_grants_and_rows(
    supa: Supa,
) -> None:
    """Supabase keeps uuid-ossp and pgcrypto in schema `extensions`; the restore leaves live
    extensions alone, but pg_restore --clean still dropped their schema: every restore (and
    recover) failed, `cannot drop schema extensions because other objects depend on it`, the
    database unchanged. The deep verification, the restore and a recover now go through, and
    what was dropped or revoked since the backup comes back."""
    before = supa.sql(STATE)
    backup = _backup(supa)
    res = run_cli(*supa.base, "backup", "verify", backup, "--deep")
    assert res.code == 0 and "✔ ok    scratch restore" in res.out, res.out + res.err
    supa.sql(
        "DROP POLICY own_profile ON public.profiles; REVOKE ALL ON public.profiles FROM "
        "authenticated; CREATE POLICY later ON public.profiles TO anon USING (true); "
        "DELETE FROM public.profiles; DELETE FROM supabase_migrations.schema_migrations"
    )
    res = run_cli(*supa.base, "backup", "restore", backup, "--yes")
    assert res.code == 0, res.err
    assert supa.sql(STATE) == before
    supa.sql("DROP POLICY own_update ON public.profiles")
    res = run_cli(*supa.base, "recover", "--to", "-0s", "--yes")
    assert res.code == 0, res.err
    assert supa.sql(STATE) == before


def test_the_stairway_on_the_live_database_runs_policies_calling_auth_uid(
    supa: Supa, tmp_path: Path
) -> None:
    """A Supabase migration calls `auth.uid()` in its policies and `extensions.
    uuid_generate_v4()` in its defaults, qualified as it must be: `test` and `plan --check` on
    the target's database refused every such set before anything ran (`names
    extensions.uuid_generate_v4, a schema of the live database`), though a call of a STABLE
    function or of an extension with no table reaches no live data. They run now; a rollback
    that leaves a policy and a grant fails its stair, naming them, and a failure is no longer
    blamed on "a schema-qualified name (public.x)" for the call in the statement. On a scratch
    server without Supabase's schemas the failure says so, and where to find one. `parity`
    refuses the set, written for PostgreSQL, as the README's Supabase config has it."""
    d = MigrationDirs(tmp_path / "set")
    d.add("20260101_000100", "todos", """
        create table todos (
          id uuid primary key default extensions.uuid_generate_v4(),
          user_id uuid not null default auth.uid(),
          code text default encode(extensions.gen_random_bytes(4), 'hex'));
        alter table todos enable row level security;
        create policy todos_own on todos for all to authenticated
          using (auth.uid() = user_id) with check ((select auth.uid()) = user_id);
        grant select, insert on todos to authenticated;
        """, "drop table todos;")  # fmt: skip
    d.add("20260101_000200", "tags", """
        create table tags (id bigint generated always as identity primary key,
                           owner uuid default auth.uid());
        alter table tags enable row level security;
        create policy tags_read on tags for select to anon, authenticated using (true);
        create policy tags_own on tags for insert to authenticated
          with check (owner = (auth.jwt() ->> 'sub')::uuid);
        grant select on tags to anon;
        """, "drop policy tags_own on tags;")  # fmt: skip
    res = run_cli(*supa.base, *d.args(), "test")
    assert res.code == 1, res.out + res.err
    assert "✔ 20260101_000100_todos.sql: apply, rollback, re-apply" in res.out
    assert "✘ 20260101_000200_tags.sql: reapply" in res.out
    assert "policy tags.tags_read left behind" in res.out
    assert "schema-qualified" not in res.out
    res = run_cli(*supa.base, *d.args(), "plan", "--check", "--all")
    assert res.code == 0, res.out + res.err
    assert "9 statements ran, 0 rejected" in res.err
    assert supa.sql("SELECT to_regclass('public.todos'), to_regclass('public.tags')") == [
        (None, None)
    ]
    # On a scratch server that is no Supabase, the first policy's failure says what it lacks.
    scratch = create_database(supa.cluster)
    try:
        res = run_cli(*supa.base, *d.args(), "test", "--postgres", supa.cluster.url(scratch))
    finally:
        drop_database(supa.cluster, scratch)
    assert res.code == 1, res.out + res.err
    assert 'apply: schema "extensions" does not exist (a Supabase set needs' in res.out, res.out
    assert "give --postgres the database `supabase start` runs locally" in res.out
    # `parity` (SQLite → PostgreSQL) has nothing to compare in a set written for PostgreSQL:
    # it read each statement as SQLite, exit 1 ("SQLite rejected …: it fails on the primary").
    res = run_cli(*supa.base, *d.args(), "parity")
    assert res.code == 2 and "its migrations are written for PostgreSQL already" in res.err


def test_a_rehearsal_as_the_project_role_and_a_restore_into_a_fresh_database(
    supa: Supa, tmp_path: Path
) -> None:
    """Supabase's auth schema is its platform roles' (supabase_auth_admin), which the project
    role may not act as: a rehearsal's scratch restore failed on `ALTER SCHEMA auth OWNER TO
    supabase_auth_admin` (`must be member of role`), so no rehearsal ran at all. The restore
    now owns what it creates of theirs (said), and the pending migration's policy calling
    auth.uid() is rehearsed. The platform's event triggers (PostgREST's pgrst_ddl_watch),
    which only a superuser may create, failed the rehearsal and marked a sound backup `FAILED
    verification` in `backup verify --deep`: they are left out of a scratch, said so.
    Over the live database the project role's restore failed at auth.users (`permission
    denied`, `must be owner`; and at `COMMENT ON EXTENSION "uuid-ossp"`, the extension kept,
    its comment not): what the platform's roles own there (auth, the event trigger and its
    function, the function auth's trigger calls, their default privileges) is left as it
    is, said, and the rest is restored; with the grants as they were (the role's own default
    privileges, Supabase's `GRANT ALL ON TABLES TO anon…` in public, gave every restored
    table back what had been revoked). A table of theirs elsewhere still stops it, the hint
    naming it qualified (it had none: PostgreSQL says `platform_state`). As a superuser, the
    backup restores into a fresh database whole."""
    backup = _backup(supa)
    d = MigrationDirs(tmp_path / "set")
    d.add("20250101_000100", "notes", NOTES, "DROP TABLE public.notes;")
    d.add("20250101_000200", "todos", """
        CREATE TABLE public.todos (id uuid PRIMARY KEY DEFAULT extensions.uuid_generate_v4(),
                                   user_id uuid NOT NULL DEFAULT auth.uid());
        ALTER TABLE public.todos ENABLE ROW LEVEL SECURITY;
        CREATE POLICY todos_own ON public.todos TO authenticated USING (auth.uid() = user_id);
        INSERT INTO public.todos (user_id) SELECT user_id FROM public.profiles;
        """, "DROP TABLE public.todos;")  # fmt: skip
    project = ["--config", str(supa.root / "project.toml"), "--target", "analytics"]
    res = run_cli(*project, *d.args(), "rehearse", "--backup", backup, "--json")
    assert res.code == 0, res.err
    assert [(m["ok"], m["rows"]) for m in json.loads(res.out)["migrations"]] == [(True, 2)]
    assert (
        "the backup names role(s) postgres, supabase_auth_admin as owner, which sb_operator may "
        "not act as: what the restore creates of theirs is owned by sb_operator" in res.err
    )
    trigger = "event trigger(s) pgrst_ddl_watch, which only a superuser may create"
    assert f"left out: {trigger}" in res.err
    res = run_cli(*project, "backup", "verify", backup, "--deep")
    assert res.code == 0, res.out + res.err
    assert (
        "✔ ok    scratch restore: malnu_verify_" in res.out and f"({trigger}, left out)" in res.out
    )
    before = supa.sql(STATE)
    supa.sql(
        "DROP POLICY own_profile ON public.profiles; REVOKE ALL ON public.profiles FROM "
        "authenticated; DELETE FROM public.profiles"
    )
    res = run_cli(*project, "backup", "restore", backup, "--yes")
    assert res.code == 0, res.err
    assert (
        "left as the database has it: schema(s) auth, whose owner the restoring role may not "
        "act as (their definitions and rows are not restored)" in res.err
    )
    assert "function(s) extensions.pgrst_ddl_watch(), public.handle_new_user() (" in res.err
    assert "the default privileges of role(s) supabase_auth_admin, which the" in res.err
    assert supa.sql(STATE) == before
    assert supa.sql(
        "SELECT (SELECT count(*) FROM pg_trigger WHERE tgname = 'on_auth_user_created'), "
        "(SELECT count(*) FROM pg_event_trigger WHERE evtname = 'pgrst_ddl_watch')"
    ) == [(1, 1)]

    supa.sql(  # a superuser's, which the project role may read
        "CREATE TABLE extensions.platform_state (k text); "
        "GRANT SELECT ON extensions.platform_state TO sb_operator"
    )
    try:
        res = run_cli(*project, "backup", "restore", _backup(supa), "--yes")
    finally:
        supa.sql("DROP TABLE extensions.platform_state")
    assert res.code == 1, res.err
    assert "hint: extensions.platform_state belongs to postgres, and sb_operator" in res.err

    # Another database's backup: --yes alone is refused, nothing changed (test_backup_shared);
    # a copy into a fresh database names it so.
    fresh = ["--config", str(supa.root / "fresh.toml"), "--target", "analytics"]
    res = run_cli(*fresh, "backup", "restore", backup, "--yes")
    assert res.code == 2 and "--yes alone never restores another database's" in res.err, res.err
    res = run_cli(*fresh, "backup", "restore", backup, "--yes", "--from-another-database")
    assert res.code == 0, res.err
    assert supa.sql(STATE, supa.fresh) == before


def test_deep_verify_names_the_roles_a_restore_needs_that_the_server_lacks(supa: Supa) -> None:
    """A backup whose grants and policies name a role dropped since (here `sv_reporter`):
    the deep verification's scratch restore skipped privileges, so it said `is good`, and the
    real restore failed at that GRANT (`role "sv_reporter" does not exist`), with no way out
    named. The deep verification now fails on it, naming each role and what they are named
    by, and says the file is sound (it stays counted as verified: `recover` would otherwise
    pass over it to an older backup naming the same role); `check` warns; the restore is
    refused before it runs, naming every such role and how to get through (CREATE ROLE …
    NOLOGIN), and then goes through."""
    role = "sv_reporter"
    supa.sql(
        f"CREATE ROLE {role} NOLOGIN; GRANT SELECT ON public.profiles TO {role}; "
        f"CREATE POLICY sv_read ON public.profiles FOR SELECT TO {role} USING (true); "
        # the default privileges of a role gone since: the restore leaves them out, and so
        # does the check (it would have asked for a role the restore never needs)
        "CREATE ROLE sv_owner NOLOGIN; ALTER DEFAULT PRIVILEGES FOR ROLE sv_owner IN SCHEMA "
        "public GRANT SELECT ON TABLES TO anon"
    )
    try:
        backup = _backup(supa)
        supa.sql(
            f"DROP POLICY sv_read ON public.profiles; DROP OWNED BY {role}, sv_owner; "
            f"DROP ROLE {role}, sv_owner"
        )
        before = supa.sql(STATE)
        res = run_cli(*supa.base, "backup", "verify", backup, "--deep")
        assert res.code == 1, res.out + res.err
        assert "✔ ok    scratch restore" in res.out, res.out
        assert (
            f"✘ FAIL  roles: role(s) {role} (named by policy sv_read on public.profiles, a "
            f"grant on table public.profiles) do not exist on this server" in res.out
        ), res.out
        assert "the file is sound" in res.err and "FAILED verification" not in res.err, res.err
        assert f"CREATE ROLE {role} NOLOGIN;" in res.err, res.err
        res = run_cli(*supa.base, "check", "--json")
        said = [p for p in json.loads(res.out)["problems"] if p["check"] == "backup_age"]
        assert said[0]["severity"] == "WARNING", said  # the backup is sound, `recover`'s
        assert (
            f"{backup} does not restore into this server as it is: role(s) {role}"
            in said[0]["message"]
        ), said
        res = run_cli(*supa.base, "backup", "restore", backup, "--yes")
        assert res.code == 1, res.err
        assert (
            f"does not restore into this server as it is: role(s) {role} (named by policy "
            "sv_read on public.profiles, a grant on table public.profiles) do not exist" in res.err
        ), res.err
        assert f"hint: create them before restoring (CREATE ROLE {role} NOLOGIN;" in res.err
        assert supa.sql(STATE) == before
        supa.sql(f"CREATE ROLE {role} NOLOGIN")
        res = run_cli(*supa.base, "backup", "restore", backup, "--yes")
        assert res.code == 0, res.err
    finally:
        supa.sql(
            f"DROP POLICY IF EXISTS sv_read ON public.profiles; DO $$ BEGIN IF EXISTS (SELECT "
            f"FROM pg_roles WHERE rolname = '{role}') THEN DROP OWNED BY {role}; DROP ROLE "
            f"{role}; END IF; IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'sv_owner') "
            "THEN DROP OWNED BY sv_owner; DROP ROLE sv_owner; END IF; END $$"
        )


def test_a_restore_whose_rows_name_auth_users_deleted_since_says_which_and_the_way_out(
    supa: Supa,
) -> None:
    """The project role's restore leaves auth as the database has it (the platform's): a
    profile of a user deleted from auth.users since the backup stopped it at the foreign key,
    with PostgreSQL's words alone (`violates foreign key constraint "profiles_user_id_fkey"`).
    It now names the table, the key and the way out; with the user back, it goes through."""
    project = ["--config", str(supa.root / "project.toml"), "--target", "analytics"]
    gone = "00000000-0000-0000-0000-000000000002"
    backup = _backup(supa)
    before = supa.sql(STATE)
    supa.sql(
        f"DELETE FROM public.profiles WHERE user_id = '{gone}'; "
        f"DELETE FROM auth.users WHERE id = '{gone}'"
    )
    try:
        res = run_cli(*project, "backup", "restore", backup, "--yes")
        assert res.code == 1, res.err
        assert 'violates foreign key constraint "profiles_user_id_fkey"' in res.err, res.err
        assert (
            f"hint: rows of public.profiles name auth.users rows deleted since the backup "
            f"(user_id = {gone}" in res.err
        ), res.err
    finally:
        supa.sql(f"INSERT INTO auth.users VALUES ('{gone}', 'b@x')")  # its profile: by trigger
    res = run_cli(*project, "backup", "restore", backup, "--yes")
    assert res.code == 0, res.err
    assert supa.sql(STATE) == before


def test_the_roles_a_dumps_grants_and_policies_name_are_read_as_postgresql_quotes_them() -> None:
    """pg_dump's statements as it writes them: quoted names kept as written, bare ones folded,
    PUBLIC and an object named like a keyword are no roles, GRANTED BY and FOR ROLE are."""
    from malnu_tui.engine.backup.pg_needs import role_hint, roles_in

    sql = """
    REVOKE ALL ON TABLE public."to from" FROM PUBLIC;
    GRANT SELECT ON TABLE public."to from" TO reporter;
    GRANT ALL ON SCHEMA public TO "Head Office" WITH GRANT OPTION;
    GRANT UPDATE ON TABLE public.t TO anon, "x""y" GRANTED BY grantor;
    ALTER DEFAULT PRIVILEGES FOR ROLE owner1 IN SCHEMA public GRANT SELECT ON TABLES TO r2;
    CREATE POLICY "p TO q" ON public.t FOR SELECT TO authenticated, viewer USING ((a = 'TO x'));
    """
    assert roles_in(sql) == {
        "reporter", "Head Office", "anon", 'x"y', "grantor", "owner1", "r2", "authenticated",
        "viewer",
    }  # fmt: skip
    # A role the reading missed still gets its way out from the restore's error.
    assert 'CREATE ROLE "Head Office" NOLOGIN;' in str(
        role_hint('ERROR: role "Head Office" does not exist')
    )
