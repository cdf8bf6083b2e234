"""The tool's own tables on a Supabase target, as its project role runs it: Supabase's default
privileges grant every new table of ``public`` to ``anon`` and ``authenticated``, and its API
serves ``public`` to anyone holding the anon key (it ships in the app's pages). The tracking,
audit, lock and sync state tables the tool made there were read (the audit trail) and written
(the migration history; a lock row: no deploy runs) by the world. They are now made with row
level security and without anon's and authenticated's rights, in the transaction of their
CREATE TABLE; every command still works as the project role (their owner). Tables of an install
from before are left as they are and named by ``doctor`` and ``check`` with the statement.
One database (Supabase's platform of test_supabase_backup.py), one process, every step."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from tests.fixtures_core import MigrationDirs
from tests.fixtures_pg import PgCluster, drop_database
from tests.inproc import run_inproc
from tests.test_supabase_backup import SUPABASE_PLATFORM, project_database

TOOL = ("migrations", "malnu_audit", "malnu_lock", "malnu_sync")
# As Supabase's `public`: what its project role (`postgres` there) makes, the API roles get.
DEFAULTS = """
GRANT USAGE ON SCHEMA public TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES FOR ROLE sb_operator IN SCHEMA public
  GRANT ALL ON TABLES TO anon, authenticated, service_role;
"""
CLOSE = (
    'ALTER TABLE "public"."{0}" ENABLE ROW LEVEL SECURITY; '
    'REVOKE ALL ON "public"."{0}" FROM anon, authenticated'
)


@dataclass(frozen=True)
class Project:
    url: str  # as the superuser
    role_url: str  # as the project role sb_operator (no superuser, BYPASSRLS)
    cfg: list[str]
    root: Path

    def sql(self, query: str, *, role: str = "") -> list[tuple[object, ...]]:
        with psycopg.connect(self.url if role != "sb_operator" else self.role_url) as conn:
            if role and role != "sb_operator":
                conn.execute(f"SET ROLE {role}")
            cur = conn.execute(query)
            rows = cur.fetchall() if cur.description else []
            conn.commit()
            return rows


@pytest.fixture(scope="module")
def project(pg_cluster: PgCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    root = tmp_path_factory.mktemp("selfguard")
    name, url = project_database(pg_cluster, SUPABASE_PLATFORM + DEFAULTS)
    role_url = url.replace(f"{pg_cluster.user}@", "sb_operator@")
    dirs = MigrationDirs(root / "project")
    dirs.add(
        "20250101_000100",
        "kelas",
        "CREATE TABLE public.kelas (id integer PRIMARY KEY, nama text NOT NULL, "
        "updated_at text);\nALTER TABLE public.kelas ENABLE ROW LEVEL SECURITY;",
        "DROP TABLE public.kelas;",
    )
    (root / "kelas.csv").write_text("id,nama\n1,X-A\n2,X-B\n", encoding="utf-8")
    primary = root / "primary.db"
    config = root / "malnu.toml"
    config.write_text(
        f'[backup]\ndir = "{root / "backups"}"\n\n'
        f'[targets.primary]\nurl = "sqlite:///{primary}"\n\n'
        f'[targets.analytics]\nurl = "{role_url}"\nschema = "public"\n'
        f'migrations_dir = "{dirs.migrations}"\nrollback_dir = "{dirs.rollback}"\n\n'
        '[sync.reporting]\nfrom = "primary"\nto = "analytics"\ntables = ["siswa"]\n',
        encoding="utf-8",
    )
    import sqlite3

    with sqlite3.connect(primary) as db:
        db.execute("CREATE TABLE siswa (id INTEGER PRIMARY KEY, nama TEXT, updated_at TEXT)")
        db.execute("INSERT INTO siswa VALUES (1, 'a', '2025-11-24 08:00:00')")
    try:
        yield Project(url, role_url, ["--config", str(config)], root)
    finally:
        drop_database(pg_cluster, name)


def _anon_refused(p: Project, table: str) -> list[str]:
    """What anon and authenticated could do to ``table``, as the API would do it for them."""
    done = []
    for role in ("anon", "authenticated"):
        for what, q in (
            ("read", f"SELECT * FROM public.{table}"),
            ("wrote", f"DELETE FROM public.{table}"),
        ):
            try:
                p.sql(q, role=role)
                done.append(f"{role} {what} {table}")
            except psycopg.errors.InsufficientPrivilege:
                pass
    return done


def test_the_tool_tables_are_made_closed_to_the_api_commands_work_and_old_ones_are_named(
    project: Project,
) -> None:
    p, cfg = project, project.cfg
    up = run_inproc("up", *cfg, "--target", "analytics", "--yes", "--no-backup")
    assert up.code == 0, up.err
    sync = run_inproc("sync", "reporting", *cfg, "--yes")
    assert sync.code == 0, sync.err
    # Row level security on, no policy, no right for the API's roles; the lock row refused.
    rows = p.sql(
        "SELECT relname, relrowsecurity, has_table_privilege('anon', oid, 'SELECT, INSERT'), "
        "has_table_privilege('service_role', oid, 'SELECT') FROM pg_class WHERE relname = "
        "ANY('{migrations,malnu_audit,malnu_lock,malnu_sync}') AND relnamespace = "
        "'public'::regnamespace ORDER BY 1"
    )
    assert rows == [(t, True, False, True) for t in sorted(TOOL)], rows
    assert [x for t in TOOL for x in _anon_refused(p, t)] == []
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        p.sql("INSERT INTO public.malnu_lock VALUES (1, 'x', 'h', 1, 'now', 1, '')", role="anon")
    assert p.sql("SELECT count(*) FROM pg_policy WHERE polname LIKE 'malnu%'") == [(0,)]

    # Every command, as the project role (their owner): they read and write every row.
    for args in (
        ("status", "--target", "analytics", "--json"),
        ("log", "--target", "analytics"),
        ("import", str(p.root / "kelas.csv"), "--table", "kelas", "--target", "analytics",
         "--yes", "--no-backup"),
        ("sync", "status"),
        ("check", "--target", "analytics", "--json"),
        ("unlock", "--target", "analytics", "--yes"),
        ("rollback", "--target", "analytics", "--yes", "--no-backup"),
        ("up", "--target", "analytics", "--yes", "--no-backup"),
        ("doctor", "--target", "analytics"),
    ):  # fmt: skip
        res = run_inproc(*args, *cfg)
        # (check: CRITICAL for want of a backup, not for these tables)
        assert res.code == (2 if args[0] == "check" else 0), (args, res.out, res.err)
        if args[0] == "status":
            assert '"applied"' in res.out or "20250101_000100" in res.out, res.out
        if args[0] == "check":
            checks = json.loads(res.out)["targets"]["analytics"]["checks"]
            assert (checks["supabase_rls"], checks["backup_age"]) == ("OK", "CRITICAL"), res.out
        if args[0] == "doctor":
            assert "OK   analytics tool tables: closed to the anon key (4 in public)" in res.out
    assert p.sql("SELECT count(*) FROM public.kelas") == [(0,)]  # rolled back, up again
    assert p.sql(
        "SELECT count(*) FROM public.malnu_audit WHERE action IN ('rollback', 'import')"
    ) != [(0,)]
    assert p.sql("SELECT count(*) FROM public.malnu_sync", role="sb_operator") == [(1,)]

    # An install from before, open to the API: named by doctor and check with the statement,
    # left as it is by `up`.
    opened = ("malnu_audit", "malnu_lock")
    for t in opened:  # as the tool made them before: open to the API
        p.sql(
            f"ALTER TABLE public.{t} DISABLE ROW LEVEL SECURITY; "
            f"GRANT ALL ON public.{t} TO anon, authenticated",
            role="sb_operator",
        )
    every = [f"{r} {w} malnu_lock" for r in ("anon", "authenticated") for w in ("read", "wrote")]
    assert _anon_refused(p, "malnu_lock") == every
    doctor = run_inproc("doctor", "--target", "analytics", *cfg)
    assert doctor.code == 1
    statements = "; ".join(CLOSE.format(t) for t in opened)
    assert (
        "FAIL analytics tool tables: the tool's malnu_audit, malnu_lock in public are open to "
        "the anon key (the live database has Supabase's anon and authenticated roles and auth "
        "schema): anyone holding it reads the audit trail and rewrites the migration history "
        f"or the lock (fix: {statements})"
    ) in doctor.out, doctor.out
    check = run_inproc("check", "--target", "analytics", *cfg, "--json")
    said = [x["message"] for x in json.loads(check.out)["problems"] if x["check"] == "supabase_rls"]
    assert len(said) == 1 and statements in said[0], check.out
    # `up` leaves them as they are (said by doctor and check, run by the operator).
    assert run_inproc("up", *cfg, "--target", "analytics", "--yes", "--no-backup").code == 0
    assert p.sql("SELECT relrowsecurity FROM pg_class WHERE relname = 'malnu_lock'") == [(False,)]
    p.sql(statements, role="sb_operator")
    assert _anon_refused(p, "malnu_lock") == []
    doctor = run_inproc("doctor", "--target", "analytics", *cfg)
    assert "OK   analytics tool tables" in doctor.out, doctor.out
