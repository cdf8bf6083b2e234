"""A sync into Supabase's database (the school's reporting copy) made its copies in ``public``
without row level security: anyone holding the project's public anon key read and wrote every
student's phone number through Supabase's API. A copy the sync creates in an exposed schema of
a Supabase destination (the lint's own detection, here the live database's anon and
authenticated roles and auth schema) now gets row level security in the transaction of its
CREATE TABLE; an existing copy with it off is warned of, with the statement, never altered; a
plain PostgreSQL destination is left as it was. One database, one process, every step."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg

from tests.fixtures_pg import supabase_roles
from tests.inproc import run_inproc
from tests.sync_support import Db

ENABLE = 'ALTER TABLE "public"."{}" ENABLE ROW LEVEL SECURITY'


def _rls(dst: Db) -> dict[str, bool]:
    rows = dst.run(
        "SELECT relname, relrowsecurity FROM pg_class WHERE relname IN ('siswa', 'nilai') "
        "AND relnamespace = 'public'::regnamespace"
    )
    return {str(r[0]): bool(r[1]) for r in rows}


def _as_anon(pg_url: str, table: str) -> int:
    """The rows anon reads of ``table`` (granted it as Supabase grants it)."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("SET ROLE anon")
        return int(conn.execute(f"SELECT count(*) FROM public.{table}").fetchone()[0])  # type: ignore[index]


def test_a_sync_into_supabase_enables_row_level_security_on_its_copies(
    tmp_path: Path, pg_url: str
) -> None:
    src = Db("sqlite", f"sqlite:///{tmp_path / 'primary.db'}", path=tmp_path / "primary.db")
    src.run("CREATE TABLE siswa (id INTEGER PRIMARY KEY, nama TEXT, no_hp TEXT, updated_at TEXT)")
    src.run("CREATE TABLE nilai (id INTEGER PRIMARY KEY, siswa_id INTEGER, nilai INTEGER)")
    src.many("INSERT INTO siswa VALUES (?, ?, ?, '2025-11-24 08:00:00')",
             [(i, f"s{i}", f"0812{i:04}") for i in range(1, 4)])  # fmt: skip
    src.many("INSERT INTO nilai VALUES (?, ?, ?)", [(i, i, 80 + i) for i in range(1, 4)])
    config = tmp_path / "malnu.toml"
    config.write_text(
        f'[targets.primary]\nurl = "sqlite:primary.db"\n\n[targets.analytics]\nurl = "{pg_url}"'
        '\n\n[sync.reporting]\nfrom = "primary"\nto = "analytics"\n',
        encoding="utf-8",
    )
    cfg = ["--config", str(config)]
    dst = Db("postgresql", pg_url)
    with psycopg.connect(pg_url, autocommit=True) as conn:  # Supabase's roles (cluster-wide)
        supabase_roles(conn)

    # A plain PostgreSQL destination (no auth schema): copies as before, nothing said.
    plain = run_inproc("sync", "reporting", *cfg, "--yes", "--json")
    assert plain.code == 0, plain.err
    assert _rls(dst) == {"siswa": False, "nilai": False}
    assert "row level security" not in plain.err + plain.out
    assert all("warnings" not in r for r in json.loads(plain.out))

    # Supabase's (its auth schema too): the existing copies the API serves are warned of with
    # the statement to run, in the dry run, the sync and its JSON; never altered.
    dst.run("CREATE SCHEMA auth")  # and its grants, as Supabase makes them
    dst.run("GRANT ALL ON ALL TABLES IN SCHEMA public TO anon, authenticated")
    dst.run("ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON TABLES TO anon, authenticated")
    dry = run_inproc("sync", "reporting", *cfg, "--dry-run")
    assert dry.code == 0, dry.err
    for t in ("siswa", "nilai"):
        assert dry.err.count(f"warning: {t}: row level security is off on public.{t}") == 1
        assert ENABLE.format(t) in dry.err
    # Said in the plan, before the question (a sync without --yes and no terminal is refused
    # there): it was said after the rows were written into the open copies.
    asked = run_inproc("sync", "reporting", *cfg)
    assert asked.code == 2, asked.err
    refused = asked.err.index("error: refusing to sync")
    for t in ("siswa", "nilai"):
        assert -1 < asked.err.find(f"warning: {t}: row level security is off") < refused
    warned = run_inproc("sync", "reporting", *cfg, "--yes", "--json")
    assert warned.code == 0, warned.err
    said = {r["table"]: r.get("warnings", []) for r in json.loads(warned.out)}
    assert [w for w in said["nilai"] if ENABLE.format("nilai") in w], said
    assert "anon key reads and writes every row" in said["siswa"][0], said
    assert _rls(dst) == {"siswa": False, "nilai": False}

    # A copy the sync creates there: row level security on with its CREATE TABLE (said in
    # the plan and the dry run); anon reads none of it, the sync's verify reads every row.
    dst.run("DROP TABLE siswa")
    dry = run_inproc("sync", "reporting", *cfg, "--dry-run")
    assert "note: row level security enabled with the table" in dry.err, dry.err
    assert "the live database has Supabase's anon and authenticated roles" in dry.err
    made = run_inproc("sync", "reporting", *cfg, "--yes", "--json")
    assert made.code == 0, made.err
    reports = {r["table"]: r for r in json.loads(made.out)}
    assert reports["siswa"]["verified"] and reports["siswa"]["dest_count"] == 3, reports
    assert "warnings" not in reports["siswa"] and reports["nilai"]["warnings"], reports
    assert _rls(dst) == {"siswa": True, "nilai": False}
    assert dst.run("SELECT count(*) FROM pg_policy") == [(0,)]
    assert (_as_anon(pg_url, "siswa"), _as_anon(pg_url, "nilai")) == (0, 3)
    # sync verify says it too, as the sync does (text and JSON), and stays a clean proof.
    again = run_inproc("sync", "verify", "reporting", *cfg)
    assert again.code == 0, again.err + again.out
    assert f"warning: nilai: {said['nilai'][0]}" in again.err, again.err
    assert "warning: siswa" not in again.err, again.err
    proof = run_inproc("sync", "verify", "reporting", *cfg, "--json")
    verified = {r["table"]: r for r in json.loads(proof.out)}
    assert (proof.code, verified["nilai"]["warnings"]) == (0, said["nilai"]), proof.out
    assert verified["nilai"]["verified"] and "warnings" not in verified["siswa"], proof.out
    # doctor says it too (one catalog query): the open copy with its statement, not siswa.
    doctor = run_inproc("doctor", "--target", "analytics", *cfg)
    line = [x for x in doctor.out.splitlines() if "sync copies" in x]
    assert line == [
        "FAIL analytics sync copies: row level security is off on nilai in public (the live "
        "database has Supabase's anon and authenticated roles and auth schema): anyone holding "
        f"the project's anon key reads and writes every row (fix: {ENABLE.format('nilai')})"
    ], doctor.out
    assert doctor.code == 1
