"""`check` on a Supabase target: a table made in the dashboard or the SQL editor, or a hand's
`ALTER TABLE … DISABLE ROW LEVEL SECURITY` at 2 a.m., left every student's row readable (and
writable) with the project's public anon key, and nothing that runs on its own said so (lint
sees migrations, sync and doctor only the sync's copies, and only when run). `check` now says
it (CRITICAL, the tables and the statements), in its text, JSON and Prometheus gauge, alerts it
once and "resolved" once closed; on plain PostgreSQL nothing. One database, every step."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import psycopg

from malnu_tui.engine.config import load_settings, open_backend
from malnu_tui.engine.files import discover
from malnu_tui.engine.monitor.config import load_monitor_config
from malnu_tui.engine.monitor.reading import check_target
from malnu_tui.engine.status import status
from malnu_tui.engine.supabase_target import Supabase, exposed_open_tables
from tests.fixtures_core import MigrationDirs
from tests.fixtures_pg import supabase_roles
from tests.inproc import run_inproc
from tests.webhook_support import Receiver

KEY = "school|supabase_rls|exposed tables"
ENABLE = 'ALTER TABLE "public"."{}" ENABLE ROW LEVEL SECURITY'


def test_check_says_a_supabase_table_open_to_the_anon_key_once_until_closed(
    tmp_path: Path, pg_url: str, mdirs: MigrationDirs, receiver: Receiver
) -> None:
    mdirs.add("20250101_000100", "kelas", "CREATE TABLE kelas (id int PRIMARY KEY, nama text);")
    prom = tmp_path / "malnu.prom"
    config = tmp_path / "malnu.toml"
    config.write_text(
        f'[backup]\ndir = "{tmp_path / "backups"}"\n[targets.school]\nurl = "{pg_url}"\n'
        f'migrations_dir = "{mdirs.migrations}"\nrollback_dir = "{mdirs.rollback}"\n'
        '\n[monitor]\nsupabase_public = ["public.v_kelas"]\n'  # a count per class, meant so
        f'\n[[alerts.webhooks]]\nkind = "json"\nurl = "{receiver.url("json")}"\n',
        encoding="utf-8",
    )
    c = ["--config", str(config)]
    assert run_inproc(*c, "up", "--yes").code == 0  # its safety backup: backup_age OK

    def check(*more: str) -> tuple[int, dict[str, object]]:
        res = run_inproc(*c, "check", "--json", "--prometheus", str(prom), *more)
        return res.code, json.loads(res.out)

    with psycopg.connect(pg_url, autocommit=True) as conn:
        supabase_roles(conn)  # the cluster's
        for t in ("siswa", "nilai", "absen", "guru", "rahasia", "dijaga"):
            conn.execute(f"CREATE TABLE public.{t} (id int, no_hp text)")
            conn.execute(f"GRANT ALL ON public.{t} TO anon, authenticated")
        conn.execute("GRANT ALL ON kelas TO anon, authenticated")
        conn.execute("ALTER TABLE kelas ENABLE ROW LEVEL SECURITY")
        conn.execute("ALTER TABLE dijaga ENABLE ROW LEVEL SECURITY")
        conn.execute("REVOKE ALL ON rahasia FROM anon, authenticated")  # the server's alone
        # Views: one reading a protected table as its owner (served whole), a materialized one
        # (the same, always); not the caller's, one of no table, one said public in [monitor].
        conn.execute("CREATE VIEW v_siswa AS SELECT * FROM dijaga")
        # As on Supabase, owned by a role no superuser (its postgres): the owner's own table;
        # one whose row level security is FORCEd applies to its owner too (not served whole).
        with contextlib.suppress(psycopg.errors.DuplicateObject):
            conn.execute("CREATE ROLE malnu_supa_owner NOLOGIN")
        conn.execute("CREATE TABLE dipaksa (id int)")
        conn.execute("ALTER TABLE dipaksa ENABLE ROW LEVEL SECURITY")
        conn.execute("ALTER TABLE dipaksa FORCE ROW LEVEL SECURITY")
        conn.execute("CREATE VIEW v_paksa AS SELECT * FROM dipaksa")
        conn.execute("CREATE TABLE milik_lain (id int)")  # another's, its policies apply
        conn.execute("ALTER TABLE milik_lain ENABLE ROW LEVEL SECURITY")
        conn.execute("GRANT SELECT ON milik_lain TO malnu_supa_owner")
        conn.execute("CREATE VIEW v_lain AS SELECT * FROM milik_lain")
        for owned in (
            "TABLE dijaga",
            "VIEW v_siswa",
            "TABLE dipaksa",
            "VIEW v_paksa",
            "VIEW v_lain",
        ):
            conn.execute(f"ALTER {owned} OWNER TO malnu_supa_owner")
        conn.execute("CREATE MATERIALIZED VIEW m_rekap AS SELECT count(*) FROM dijaga")
        conn.execute("CREATE VIEW v_aman WITH (security_invoker = on) AS SELECT * FROM dijaga")
        conn.execute("CREATE VIEW v_waktu AS SELECT now() AS jam")
        conn.execute("CREATE VIEW v_kelas AS SELECT count(*) FROM kelas")
        conn.execute(
            "GRANT SELECT ON v_siswa, m_rekap, v_aman, v_waktu, v_kelas, v_paksa, v_lain TO anon"
        )
        conn.execute("CREATE SCHEMA private")  # not exposed: the API never serves it
        conn.execute("CREATE TABLE private.arsip (id int)")
        conn.execute("GRANT USAGE ON SCHEMA private TO anon")
        conn.execute("GRANT ALL ON private.arsip TO anon")

        # Plain PostgreSQL (no auth schema): no such check, no gauge, no word of it.
        code, doc = check("--alert")
        assert code == 0, doc
        assert "supabase_rls" not in doc["targets"]["school"]["checks"]  # type: ignore[index]
        assert "malnu_supabase" not in prom.read_text()

        # Supabase's (its live auth schema): the tables open to the anon key, a hand's
        # DISABLE at 2 a.m. among them; not one revoked, protected or in a private schema.
        conn.execute("CREATE SCHEMA auth")
        conn.execute("ALTER TABLE kelas DISABLE ROW LEVEL SECURITY")
        code, doc = check("--alert")
        assert code == 2, doc
        [problem] = doc["problems"]  # type: ignore[misc]
        assert (problem["check"], problem["severity"]) == ("supabase_rls", "CRITICAL")
        message = problem["message"]
        views = (
            'REVOKE SELECT ON "public"."m_rekap" FROM anon, authenticated; '
            'ALTER VIEW "public"."v_siswa" SET (security_invoker = true)'
        )
        assert message == (
            "5 tables and 2 views open to the anon key (in a schema Supabase's API exposes; "
            "the live database has Supabase's anon and authenticated roles and auth schema): "
            "row level security off on public.absen, public.guru, public.kelas and 2 more: "
            "anyone holding the project's anon key reads and writes every row; run "
            + "; ".join(ENABLE.format(t) for t in ("absen", "guru", "kelas"))
            + " (and the same for each) (then, for an application's table, the policies for "
            "what anon and authenticated may do; the tool's own tables need none; a table meant "
            "to be read by all: CREATE POLICY … FOR SELECT TO anon, authenticated USING "
            "(true)); public.m_rekap, public.v_siswa read as their owner, "
            "to whom no policy applies: anyone holding the anon key reads every row through "
            f"them; run {views}; one meant to be read whole by all: name it in [monitor] "
            "supabase_public"
        ), message
        # Before PostgreSQL 15 there is no security_invoker (ALTER VIEW … SET refused): the
        # view revoked from the API's roles, as a materialized view (by the version passed;
        # the cluster's, 15+, gave the ALTER VIEW above).
        older = exposed_open_tables(conn, Supabase("t"), ("public.v_kelas",), version=140012)
        assert older.views == ("public.m_rekap", "public.v_siswa"), older
        assert older.view_statements == (
            'REVOKE SELECT ON "public"."m_rekap" FROM anon, authenticated',
            'REVOKE SELECT ON "public"."v_siswa" FROM anon, authenticated',
        )
        for quiet in (
            "rahasia",
            "dijaga",
            "arsip",
            "v_aman",
            "v_waktu",
            "v_kelas",
            "paksa",
            "lain",
        ):
            assert quiet not in message
        school = doc["targets"]["school"]  # type: ignore[index]
        assert school["checks"]["supabase_rls"] == "CRITICAL" and school["metrics"]["rls_off"] == 7
        assert 'malnu_supabase_rls_off_tables{target="school"} 7' in prom.read_text()
        assert receiver.events("json") == [("problem", KEY)]

        # The text: the summary, its line, the check among the target's; sent once only.
        res = run_inproc(*c, "check", "--alert")
        assert res.code == 2 and receiver.events("json") == [("problem", KEY)], res.err
        lines = res.out.splitlines()
        assert lines[0].startswith(
            "MALNU CRITICAL - school: 5 tables and 2 views open to the anon key | "
        )
        assert lines[1] == f"CRITICAL school supabase_rls: {message}"
        assert "sync_lag OK, supabase_rls CRITICAL (" in lines[2], lines[2]

        # The console's health line (its status screen: the status it has just read reused).
        settings = load_settings(config=str(config))
        target = settings.targets["school"]
        backend = open_backend(target, read_only=True)
        try:
            mset = discover(target.migrations_dir, target.rollback_dir, target.files_dialect)
            report = status(backend, mset, "school")
        finally:
            backend.close()
        health = check_target(target, load_monitor_config(settings), report=report)
        assert (
            health.health_line() == "school: CRITICAL - 5 tables and 2 views open to the anon key"
        )

        # Closed: OK, the gauge 0, "resolved" sent once.
        for t in ("siswa", "nilai", "absen", "guru", "kelas"):
            conn.execute(ENABLE.format(t))
        conn.execute(views)
        for _ in range(2):
            code, doc = check("--alert")
            assert code == 0 and doc["problems"] == [], doc
        assert 'malnu_supabase_rls_off_tables{target="school"} 0' in prom.read_text()
        assert receiver.events("json") == [("problem", KEY), ("resolved", KEY)]

    # A [monitor] supabase_public that is no list of names: UNKNOWN, naming the key.
    config.write_text(config.read_text().replace('["public.v_kelas"]', '"v_kelas"'))
    res = run_inproc(*c, "check")
    assert res.code == 3, res.out
    assert '[monitor] supabase_public: expected a list of "schema.name" strings' in res.out


def test_a_supabase_target_not_reached_says_its_supabase_rls_unknown(
    tmp_path: Path, mdirs: MigrationDirs
) -> None:
    # Not reached: every check of the target UNKNOWN, its supabase_rls too (its config says it
    # is Supabase's); it was left out of the JSON's checks, as if never made there. A plain
    # PostgreSQL target has none.
    config = tmp_path / "malnu.toml"
    text = f'[backup]\ndir = "{tmp_path / "backups"}"\n'
    for name, more in (("school", "supabase = true\n"), ("plain", "")):
        text += f'[targets.{name}]\nurl = "postgresql://u@127.0.0.1:1/{name}"\n{more}'
        text += f'migrations_dir = "{mdirs.migrations}"\nrollback_dir = "{mdirs.rollback}"\n'
    config.write_text(text, encoding="utf-8")
    res = run_inproc("--config", str(config), "check", "--json", "--all")
    assert res.code == 3, res.out + res.err
    targets = json.loads(res.out)["targets"]
    school, plain = targets["school"]["checks"], targets["plain"]["checks"]
    assert school["supabase_rls"] == "UNKNOWN" and school["reach"] == "UNKNOWN", school
    assert set(school) - set(plain) == {"supabase_rls"}, plain
    res = run_inproc("--config", str(config), "check", "--target", "school")
    assert "supabase_rls not checked (" in res.out, res.out


def test_check_in_a_supabase_cli_folder_is_unknown_not_the_bundled_set(tmp_path: Path) -> None:
    """`check` run in a Supabase CLI project's folder (./supabase/migrations, no ./migrations)
    read the set bundled in the package: the folder's applied file "missing", the school's
    files pending, a false CRITICAL page. Now UNKNOWN (3), the one line naming the folder's
    set and the flags to pass; with them, OK."""
    import os

    from tests.fixtures_core import run_cli_with

    for d in ("migrations", "rollback"):
        (tmp_path / "supabase" / d).mkdir(parents=True)
        (tmp_path / "supabase" / d / "20240101000000_init.sql").write_text(
            "CREATE TABLE t (id INTEGER);\n" if d == "migrations" else "DROP TABLE t;\n"
        )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALNU_")}
    db = ("--database", f"sqlite:///{tmp_path / 'x.db'}")
    own = ("--migrations-dir", "supabase/migrations", "--rollback-dir", "supabase/rollback")
    res = run_cli_with(env, *db, *own, "up", cwd=tmp_path)
    assert res.code == 0, res.err
    res = run_cli_with(env, *db, "check", cwd=tmp_path)
    first = res.out.splitlines()[0]
    assert res.code == 3 and first.startswith("MALNU UNKNOWN - "), res.out
    assert "./supabase/migrations is" in first and "--migrations-dir supabase/migrations" in first
    res = run_cli_with(env, *db, *own, "check", cwd=tmp_path)
    assert res.code == 0 and res.out.startswith("MALNU OK - "), res.out + res.err
