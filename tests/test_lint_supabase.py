"""Supabase's rule set: a table made in an exposed schema (``public``) without row level
security is read and written by anyone holding the project's public anon key (Supabase's
advisor, ``rls_disabled_in_public``), and ``lint`` passed such a migration clean. Which
targets are Supabase's (its folder, its host, a live database with Supabase's ``anon`` role
and ``auth`` schema, ``supabase = true/false``). Files only, but for the live database."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from malnu_tui.engine.config import Target
from malnu_tui.engine.files import discover
from malnu_tui.engine.lint import lint_migrations
from malnu_tui.engine.lint.supabase import Supabase, supabase_of
from tests.fixtures_core import MigrationDirs, run_cli
from tests.fixtures_pg import supabase_roles

BASE = "create table public.students (id int primary key, nama text, no_hp text, nisn text);\n"
BASE += "alter table public.students enable row level security;\n"
BASE += "create table public.kelas (id int primary key, nama text);\n"
BASE += "alter table kelas enable row level security;"

# (case, the migration, a later one of the same run, expected [(rule, line, text in why)])
CASES = [
    ("open table", "create table public.nilai (id int, siswa int, nilai int);", "",
     [("SUPABASE-RLS-MISSING", 1, "public.nilai is made in the exposed schema public")]),
    ("quoted, as supabase db diff writes it", 'create table "public"."Nilai" ("id" int);', "",
     [("SUPABASE-RLS-MISSING", 1, "public.Nilai is made")]),
    ("bare name lands in public", "create table if not exists nilai (id int);", "",
     [("SUPABASE-RLS-MISSING", 1, "public.nilai")]),
    ("a copy aside", "create table students_old as select * from public.students;", "",
     [("SUPABASE-RLS-MISSING", 1, "a copy of the rows of students")]),
    ("like", "create table s2 (like public.students including all);", "",
     [("SUPABASE-RLS-MISSING", 1, "LIKE copies no row level security")]),
    ("policy but no rls", "create table t (id int);\ncreate policy p on t using (true);", "",
     [("SUPABASE-RLS-MISSING", 1, "its policies apply only once row level security is on"),
      ("SUPABASE-OPEN-WRITE", 2, "lets PUBLIC (anon too) insert, update and delete rows of t")]),
    ("inside a DO block", "do $$ begin\ncreate table t (id int);\nend $$;", "",
     [("SUPABASE-RLS-MISSING", 2, "public.t")]),
    ("rls and no policy: a note", "create table t (id int);\n"
     "alter table public.t enable row level security;", "",
     [("PG-RLS-NO-POLICY", 1, "the app (anon, authenticated) reads no row of it")]),
    # Tables made without CREATE TABLE, moved into public, or renamed: followed in order.
    ("select into", "select id, nama, no_hp into siswa_salinan from public.students;\n"
     "select * into temp scratch from students;\n"
     "do $$ declare n int; begin\nselect count(*) into n from public.students;\nend $$;\n"
     "with s as (select id, no_hp from students) select * into kontak from s;\n"
     "do $$ declare n int; begin\nwith x as (select 1 as a) select a into n from x;\nend $$;",
     "", [("SUPABASE-RLS-MISSING", 1, "public.siswa_salinan is a copy of the rows of students "
           "made by SELECT … INTO (it copies no row level security) in the exposed schema"),
          ("SUPABASE-RLS-MISSING", 6, "public.kontak is a copy of the rows of s made by")]),
    ("moved into public", "create schema private;\ncreate table private.arsip (id int);\n"
     "alter table private.arsip set schema public;\nalter table private.lama set schema public;\n"
     "create table private.aman (id int);\nalter table private.aman enable row level security;\n"
     "create policy p on private.aman for select to authenticated using (id > 0);\n"
     "alter table private.aman set schema public;\n"
     "create table keluar (id int);\nalter table keluar set schema private;", "",
     [("SUPABASE-RLS-MISSING", 3, "public.arsip is made in private at line 2 and moved by ALTER "
       "TABLE … SET SCHEMA into the exposed schema public and no migration"),
      ("SUPABASE-RLS-MISSING", 4, "public.lama is moved from private by ALTER TABLE … SET "
       "SCHEMA into the exposed schema public and no migration of this run enables")]),
    ("a table of the same name in another schema", "create schema private;\n"
     "create table public.t (id int);\ncreate table private.t (id int);", "",
     [("SUPABASE-RLS-MISSING", 2, "public.t is made in the exposed schema public")]),
    ("renamed, then its name made again", "create table a (id int);\n"
     "alter table a rename to b;\ncreate table a (id int);\n"
     "alter table a enable row level security;\ncreate policy p on a using (id > 0);", "",
     [("SUPABASE-RLS-MISSING", 1, "public.a (renamed b) is made in the exposed schema")]),
    ("safe: enabled under its new name", "create table siswa_baru (id int);\n"
     "alter table siswa_baru rename to siswa2;\ncreate table c (id int);",
     "alter table siswa2 enable row level security;\ncreate policy p on siswa2 using (id > 0);\n"
     "alter table c rename to c2;\nalter table c2 enable row level security;\n"
     "create policy q on c2 using (id > 0);", []),
    ("renamed in a later migration, its name made again", "create table d (id int);",
     "alter table d rename to d_lama;\ncreate table d (id int);\n"
     "alter table d enable row level security;",
     [("SUPABASE-RLS-MISSING", 1, "public.d is made in the exposed schema")]),
    ("default privileges", "alter default privileges for role guru in schema public grant "
     "select on tables to anon;\nalter default privileges grant all on tables to authenticated;"
     '\nALTER DEFAULT PRIVILEGES FOR ROLE "postgres" IN SCHEMA "public" GRANT ALL ON TABLES  TO '
     '"anon";\nalter default privileges in schema public grant all on tables to anon;\n'
     "alter default privileges in schema private grant select on tables to anon;\n"
     "alter default privileges in schema public revoke all on tables from anon;\n"
     "alter default privileges in schema public grant all on sequences to anon;\n"
     "alter default privileges for role guru grant select on tables to public;", "",
     [("SUPABASE-DEFAULT-GRANT", 1, "grants select on every table made from now on in public by "
       "guru to anon: anyone holding the project's public anon key reads each one"),
      ("SUPABASE-DEFAULT-GRANT", 2, "in every schema (public too) by the role that runs the "
       "migration to authenticated: anyone who signs up"),
      ("SUPABASE-DEFAULT-GRANT", 8, "by guru to PUBLIC (anon too): anyone holding the project's "
       "public anon key reads each one")]),
    ("open to anon, personal data", 'create policy "baca" on students for select to anon '
     "using (true);", "", [("SUPABASE-OPEN-POLICY", 1, "no_hp, nisn then reach anyone")]),
    ("open to PUBLIC", "create policy p on public.students using ((true));", "",
     [("SUPABASE-OPEN-POLICY", 1, "lets PUBLIC (anon too) read every row of students (USING "
       "(true)), whose no_hp, nisn then reach anyone holding the project's public anon key"),
      ("SUPABASE-OPEN-WRITE", 1, "(ALL) lets PUBLIC (anon too) insert, update and delete rows "
       "of students with no condition (USING (true)): anyone holding the project's public anon "
       "key writes them")]),
    ("open to whoever signs up", 'create policy a on students for select to "authenticated" '
     "using (true);", "", [("SUPABASE-OPEN-POLICY", 1, "lets authenticated read every row of "
     "students (USING (true)), whose no_hp, nisn then reach anyone who signs up")]),
    ("anyone writes grades", "create table nilai (id int, siswa int, nilai int);\n"
     "alter table nilai enable row level security;\n"
     "create policy tulis on nilai for insert to anon with check (true);\n"
     "create policy ubah on nilai for update to authenticated using (true);\n"
     'create policy "Enable insert for authenticated users only" on "public"."nilai" as '
     'permissive for insert to "authenticated" with check ((1 = 1));\n'
     "create policy hapus on nilai for delete to anon, authenticated using (true);\n"
     "create policy semua on nilai to authenticated using (siswa > 0) with check (true);", "",
     [("SUPABASE-OPEN-WRITE", 3, "(INSERT) lets anon insert rows of nilai with no condition "
       "(WITH CHECK (true)): anyone holding the project's public anon key writes them"),
      ("SUPABASE-OPEN-WRITE", 4, "lets authenticated update rows of nilai with no condition "
       "(USING (true)): anyone who signs up (Supabase gives every account"),
      ("SUPABASE-OPEN-WRITE", 5, "lets authenticated insert rows"),
      ("SUPABASE-OPEN-WRITE", 6, "lets anon delete rows of nilai"),
      ("SUPABASE-OPEN-WRITE", 7, "lets authenticated insert and update rows of nilai with no "
       "condition (WITH CHECK (true))")]),
    ("accepted", "-- lint:ignore SUPABASE-RLS-MISSING the public list of holidays\n"
     "create table libur (tgl date);", "", [("SUPABASE-RLS-MISSING", 2, "public.libur")]),
    ("safe: a work table dropped by the commit",
     "create table tmp as select id from public.students;\ndrop table tmp;", "", []),
    ("dropped, then made again", "create table t (id int);\ndrop table t;\n"
     "create table t (id int, x int);", "", [("SUPABASE-RLS-MISSING", 3, "public.t is made")]),
    ("safe: enabled in a later migration", "create table t (id int);",
     "alter table t enable row level security;\ncreate policy p on t using (id > 0);", []),
    ("safe: policy and rls", "create table t (id int);\nalter table t enable row level "
     "security;\ncreate policy p on t for select to authenticated using (true);", "", []),
    # pg_cron's job, its SQL dollar-quoted: no SELECT … INTO of a table (was an error).
    ("safe: a pg_cron job", "select cron.schedule('rekap', '0 3 * * *', $$insert into rekap "
     "select now(), count(*) from students$$);\nselect cron.schedule('log', '* * * * *', "
     "$job$ INSERT INTO log (at) VALUES (now()) $job$);", "", []),
    # "Public" quoted is another schema than public (was folded into it: a false error).
    ("safe: moved into \"Public\", not public", 'create schema private;\ncreate table '
     'private.t (id int);\nalter table private.t set schema "Public";\ncreate table '
     '"Private".u (id int);\nalter table "Private".u set schema "Public";\ncreate table '
     '"Public".v (id int);\nselect * into "Public".w from students;\ncreate view "Public".x as '
     'select * from students;\ncreate table if not exists "PUBLIC"."Y" (id int);', "", []),
    ("safe: not exposed", "create schema private;\ncreate table private.t (id int);\n"
     "create temp table scratch (id int);", "", []),
    ("revoked from anon only", "create table t (id int);\nrevoke all on t from anon;", "",
     [("SUPABASE-RLS-MISSING", 1, "nor revokes all on it from anon and authenticated")]),
    ("safe: revoked from both", "create table t (id int);",
     "revoke all privileges on table public.t from anon;\nrevoke all on t from authenticated;",
     []),
    ("a view over a protected table", "create view public.kontak as\n"
     "  select s.nama, s.no_hp from public.students s join kelas k on k.id = s.id;", "",
     [("SUPABASE-VIEW-BYPASSES-RLS", 1, "view public.kontak reads kelas, students, which")]),
    ("a materialized view", 'create materialized view rekap as select count(*) from "students";',
     "", [("SUPABASE-VIEW-BYPASSES-RLS", 1, "a materialized view is never filtered")]),
    ("security_invoker off or missing",
     "create view v1 with (security_invoker = true) as select * from students;\n"
     "create view v2 with (security_invoker=false) as select * from students;\n"
     "create view v3 as select * from students;\n"
     "create view v4 as select 'from students' as x from pg_class;", "",
     [("SUPABASE-VIEW-BYPASSES-RLS", 2, "view public.v2 reads students"),
      ("SUPABASE-VIEW-BYPASSES-RLS", 3, "(no security_invoker)")]),
    ("safe: the view revoked, or set to invoker later",
     "create view v3 as select * from students;\ncreate view v4 as select * from students;\n"
     "revoke all on v4 from anon, authenticated;",
     "alter view public.v3 set (security_invoker = on);", []),
    ("safe: no personal data", "create policy p on kelas for select to anon using (true);",
     "", []),
    ("safe: the user's own rows, restrictive, service_role, no check, a string",
     "create policy a on students for select to authenticated using ((select auth.uid()) = "
     "user_id);\ncreate policy b on students for update to authenticated using ((select "
     "auth.uid()) = user_id) with check ((select auth.uid()) = user_id);\n"
     "create policy c on students as restrictive for all to anon using (true);\n"
     "create policy d on students to service_role using (true) with check (true);\n"
     "create policy e on students for insert to anon;\n"
     "create policy f on students for select to anon using (nama = 'using (true)');", "", []),
]  # fmt: skip


def test_supabase_rules_from_the_files(tmp_path: Path) -> None:
    for i, (case, sql, later, expected) in enumerate(CASES):
        d = MigrationDirs(tmp_path / f"c{i}" / "supabase")
        d.add("20250101000100", "base", BASE, "drop table students;")
        d.add("20250101000200", "change", sql, "select 1;")
        d.add("20250101000300", "later", later or "select 1;", "select 1;")
        mset = discover(d.migrations, d.rollback, "postgresql")
        only = [m.filename for m in mset.migrations[1:]]
        report = lint_migrations(
            mset, only, dialect="postgresql", session_lock_timeout=True, supabase=Supabase("test")
        )
        found = [
            (f.rule, f.line, f.why, f.ignored)
            for f in report.findings
            if f.file.startswith("20250101000200") and f.rule.startswith(("SUPABASE-", "PG-RLS"))
        ]
        assert [x[:2] for x in found] == [x[:2] for x in expected], (case, found)
        for (_, _, why, ignored), (_, _, text) in zip(found, expected, strict=True):
            assert text in why, (case, why)
            assert ignored == (case == "accepted"), case
        assert report.rule_sets[-1] == "supabase"
        # Not a Supabase target: none of it.
        plain = lint_migrations(mset, only, dialect="postgresql", session_lock_timeout=True)
        assert not [f for f in plain.findings if f.rule.startswith("SUPABASE-")], case
        assert "supabase" not in plain.rule_sets


def test_which_targets_are_supabases(tmp_path: Path, pg_url: str) -> None:
    def target(url: str, folder: str, **options: object) -> Target:
        d = tmp_path / folder
        return Target("t", url, d, tmp_path / "rb", tmp_path / "bk", options)

    pg = "postgresql://u@localhost/db"
    host = "postgresql://postgres.abc:pw@aws-0-ap-southeast-1.pooler.supabase.com:6543/postgres"
    said = {
        "folder": supabase_of(target(pg, "supabase/migrations"), "postgresql"),
        "host": supabase_of(target(host, "migrations"), "postgresql"),
        "option": supabase_of(
            target(pg, "migrations", supabase=True, schema="malnu"), "postgresql"
        ),
        "option off": supabase_of(
            target(host, "supabase/migrations", supabase=False), "postgresql"
        ),
        "plain": supabase_of(target(pg, "migrations"), "postgresql"),
        "sqlite files": supabase_of(target(host, "migrations"), "sqlite"),
    }
    assert {k: v.why if v else None for k, v in said.items()} == {
        "folder": "the folder supabase/migrations",
        "host": "target t's host is Supabase's",
        "option": "target t: supabase = true",
        "option off": None,
        "plain": None,
        "sqlite files": None,
    }
    assert said["option"] is not None and said["option"].default_schema == "public"
    # Every host libpq may connect to, not the first alone: a multi-host URL whose second
    # host is Supabase's (a replica listed first, or the pooler as the fallback), the
    # query's host (it wins over the authority's), $PGHOST for a URL naming none. Each was
    # taken for a plain server: Supabase's rules off, the sync's copies left open to the API.
    for url, env in (
        ("postgresql://u:pw@10.0.0.5:5432,db.abc.supabase.co:5432/postgres", {}),
        ("postgresql://u@localhost/postgres?host=db.abc.supabase.co.&schema=malnu", {}),
        ("postgresql:///postgres", {"PGHOST": "aws-0-x.pooler.supabase.com"}),
    ):
        with pytest.MonkeyPatch.context() as env_set:
            for name, value in env.items():
                env_set.setenv(name, value)
            found = supabase_of(target(url, "migrations"), "postgresql")
        assert found is not None and found.why == "target t's host is Supabase's", url
    plain = "postgresql://u@h1:5432,h2:5433/db?host=localhost,db.abc.supabase.co.example.org"
    assert supabase_of(target(plain, "migrations"), "postgresql") is None
    (tmp_path / "supabase").mkdir()
    (tmp_path / "supabase" / "config.toml").write_text('[api]\nschemas = ["public", "api"]\n')
    folder = supabase_of(target(pg, "supabase/migrations"), "postgresql")
    assert folder is not None and folder.exposed == {"public", "api"}

    # The live database: Supabase's roles (the cluster's) without its auth schema are not
    # Supabase's; with it, it is, and its pending migrations are judged so (JSON shape
    # unchanged). A table made outside the migrations (the sync's copy, the dashboard's) is
    # read there: a policy on it while its row level security is off guards nothing, and its
    # columns say what an open policy hands out.
    d = MigrationDirs(tmp_path / "live")
    made = "set lock_timeout = '2s';\ncreate table public.siswa (id int, telp text);\n"
    made += "alter table nilai_live enable row level security;\n"
    made += "create policy r on nilai_live using (id > 0);"
    d.add("20250101000100", "t", made, "drop table siswa;\ndrop policy r on nilai_live;")
    policies = "set lock_timeout = '2s';\n"
    policies += "create policy baca on siswa_sync for select to anon using (true);\n"
    policies += "create policy p on kelas_live using (id > 0);\n"
    policies += "create policy q on nilai_live using (true);\n"  # on in the earlier one: writes
    # Moved into public: with row level security on in the live database, or off there.
    policies += "alter table sekolah.arsip_on set schema public;\n"
    policies += "alter table sekolah.arsip_off set schema public;\n"
    # From a quoted mixed-case schema, its row level security on there (was looked up in
    # sekolah2, not "Sekolah2": a false error).
    policies += 'alter table "Sekolah2".arsip_rls set schema public;'
    d.add(
        "20250101000200",
        "p",
        policies,
        "drop policy baca on siswa_sync;\ndrop policy p on kelas_live;\n"
        "drop policy q on nilai_live;\nalter table arsip_on set schema sekolah;\n"
        "alter table arsip_off set schema sekolah;\n"
        'alter table arsip_rls set schema "Sekolah2";',
    )
    base = ["--database", pg_url, *d.args(), "lint", "--json"]
    with psycopg.connect(pg_url, autocommit=True) as conn:
        supabase_roles(conn)
        conn.execute("CREATE TABLE siswa_sync (id int, nama text, no_hp text)")
        conn.execute("CREATE TABLE kelas_live (id int)")
        conn.execute("CREATE TABLE nilai_live (id int)")
        conn.execute("ALTER TABLE kelas_live ENABLE ROW LEVEL SECURITY")
        conn.execute("CREATE SCHEMA sekolah")
        conn.execute("CREATE TABLE sekolah.arsip_on (id int)")
        conn.execute("CREATE TABLE sekolah.arsip_off (id int)")
        conn.execute("ALTER TABLE sekolah.arsip_on ENABLE ROW LEVEL SECURITY")
        conn.execute('CREATE SCHEMA "Sekolah2"')
        conn.execute('CREATE TABLE "Sekolah2".arsip_rls (id int)')
        conn.execute('ALTER TABLE "Sekolah2".arsip_rls ENABLE ROW LEVEL SECURITY')
    res = run_cli(*base)
    report = json.loads(res.out)
    assert (res.code, report["rule_sets"]) == (0, ["general", "postgresql"]), res.out + res.err
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA auth")
    res = run_cli(*base)
    report = json.loads(res.out)
    assert res.code == 1, res.out + res.err
    assert report["rule_sets"] == ["general", "postgresql", "supabase"]
    found = [
        (f["file"][:14], f["line"], f["rule"], f["why"])
        for f in report["findings"]
        if f["rule"].startswith("SUPABASE-")
    ]
    assert [x[:3] for x in found] == [
        ("20250101000100", 2, "SUPABASE-RLS-MISSING"),
        ("20250101000200", 2, "SUPABASE-RLS-MISSING"),
        ("20250101000200", 2, "SUPABASE-OPEN-POLICY"),
        ("20250101000200", 4, "SUPABASE-OPEN-WRITE"),
        ("20250101000200", 6, "SUPABASE-RLS-MISSING"),
    ], found
    assert (
        "policy baca is made on public.siswa_sync, whose row level security is off" in found[1][3]
    )
    assert "whose no_hp then reach anyone" in found[2][3]
    assert (
        "public.arsip_off is moved from sekolah (its row level security off in the live "
        "database) by ALTER TABLE … SET SCHEMA into the exposed schema public" in found[4][3]
    )
    assert "Supabase's rules on (the live database has Supabase's anon and" in report["notes"][0]
