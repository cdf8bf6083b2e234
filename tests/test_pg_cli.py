"""The CLI against PostgreSQL as psql users expect it to connect (PGPASSWORD, .pgpass, sslmode),
with passwords never printed. (Every migration command on every backend: test_cli.py.)"""

from __future__ import annotations

import json
import os
from pathlib import Path

import psycopg
import pytest

from malnu_tui.engine.errors import ConfigError
from tests.fixtures_core import MigrationDirs, run_cli, school_set
from tests.fixtures_pg import PgCluster


def test_passwords_from_url_pgpassword_and_pgpass_are_never_printed(
    pg_cluster: PgCluster, pg_password_role: tuple[str, str], pg_password_db: str,
    mdirs: MigrationDirs, tmp_path: Path,
) -> None:  # fmt: skip
    role, password = pg_password_role
    d = school_set(mdirs)
    host = f"{pg_cluster.host}:{pg_cluster.port}"
    bare = f"postgresql://{role}@{host}/{pg_password_db}"
    env_clean = {"PGPASSWORD": "", "PGPASSFILE": str(tmp_path / "none")}

    res = run_cli("--database", bare, *d.args(), "status", env=env_clean)
    assert res.code != 0 and "password" in res.err.lower()

    with_pw = f"postgresql://{role}:{password}@{host}/{pg_password_db}?sslmode=disable"
    res = run_cli("--database", with_pw, *d.args(), "up", "--no-backup", env=env_clean)
    assert res.code == 0, res.err
    res = run_cli("--database", with_pw, *d.args(), "status", env=env_clean)
    assert res.code == 0
    assert password not in res.out + res.err and f"{role}:***@" in res.out + res.err

    wrong = f"postgresql://{role}:not-{password}@{host}/{pg_password_db}"
    res = run_cli("--database", wrong, *d.args(), "status", env=env_clean)
    assert res.code != 0 and f"not-{password}" not in res.out + res.err

    res = run_cli(
        "--database", bare, *d.args(), "status", env={**env_clean, "PGPASSWORD": password}
    )
    assert res.code == 0, res.err

    pgpass = tmp_path / "pgpass"
    pgpass.write_text(f"{pg_cluster.host}:{pg_cluster.port}:*:{role}:{password}\n")
    os.chmod(pgpass, 0o600)
    res = run_cli(
        "--database", bare, *d.args(), "status", env={"PGPASSWORD": "", "PGPASSFILE": str(pgpass)}
    )
    assert res.code == 0, res.err

    # sslmode is libpq's: require against a server without TLS fails with a clear error.
    res = run_cli(
        "--database", with_pw.replace("disable", "require"), *d.args(), "status", env=env_clean
    )
    assert res.code != 0 and "SSL" in res.err and password not in res.err


def test_config_options_schema_and_timeouts(
    pg_url: str, mdirs: MigrationDirs, tmp_path: Path
) -> None:
    d = school_set(mdirs)
    cfg = tmp_path / "malnu.toml"
    cfg.write_text(
        "[targets.secondary]\n"
        f'url = "{pg_url}"\n'
        f'migrations_dir = "{d.migrations}"\n'
        f'rollback_dir = "{d.rollback}"\n'
        'schema = "malnu_ops"\n'
        'lock_timeout = "2s"\n'
        'statement_timeout = "1min"\n'
    )
    res = run_cli("--config", str(cfg), "--target", "secondary", "up", "--no-backup")
    assert res.code == 0, res.err
    with psycopg.connect(pg_url) as conn:
        where = conn.execute(
            "SELECT table_schema FROM information_schema.tables WHERE table_name = 'migrations'"
        ).fetchall()
        assert where == [("malnu_ops",)]
        assert conn.execute("SELECT to_regclass('public.posts')").fetchone() == ("posts",)


def test_a_mistyped_schema_is_refused_where_the_tool_tables_live_elsewhere(
    pg_url: str, mdirs: MigrationDirs, tmp_path: Path
) -> None:
    # `schema = "malnuu"` for "malnu": status made a second, empty set of tool tables there
    # and said every migration was pending, `check` said OK, and `up` ran the whole set again.
    d = school_set(mdirs)
    cfg = tmp_path / "malnu.toml"

    def config(schema: str) -> None:
        cfg.write_text(
            f'[targets.secondary]\nurl = "{pg_url}"\nmigrations_dir = "{d.migrations}"\n'
            f'rollback_dir = "{d.rollback}"\nschema = "{schema}"\n'
        )

    config("malnu")
    assert run_cli("--config", str(cfg), "--target", "secondary", "up", "--no-backup").code == 0
    config("malnuu")
    for argv, code in ((("status",), 2), (("up", "--no-backup", "--yes"), 2), (("check",), 3)):
        res = run_cli("--config", str(cfg), "--target", "secondary", *argv)
        assert res.code == code, (argv, res.out, res.err)
        assert "schema 'malnuu' has no malnu-tui tables, but 'malnu'" in res.err + res.out
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT to_regnamespace('malnuu')").fetchone() == (None,)
    # The way out the hint gives: a separate set, started on purpose.
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA malnuu")
        conn.execute("CREATE TABLE malnuu.migrations (LIKE malnu.migrations INCLUDING ALL)")
    res = run_cli("--config", str(cfg), "--target", "secondary", "status")
    assert res.code == 0 and "pending" in res.out, res.err


def test_postgresql_mirror_runs_the_translated_primary_set(pg_url: str, tmp_path: Path) -> None:
    """A target with dialect = "sqlite" applies the school's SQLite files, translated."""
    from malnu_tui.engine.config import BUNDLED_PRIMARY

    cfg = tmp_path / "malnu.toml"
    cfg.write_text(
        "[targets.reporting]\n"
        f'url = "{pg_url}"\n'
        f'migrations_dir = "{BUNDLED_PRIMARY / "migrations"}"\n'
        f'rollback_dir = "{BUNDLED_PRIMARY / "rollback"}"\n'
        'dialect = "sqlite"\n'
    )
    res = run_cli("--config", str(cfg), "up", "--no-backup")
    assert res.code == 0, res.err
    res = run_cli("--config", str(cfg), "status", "--json")
    assert {m["state"] for m in json.loads(res.out)["migrations"]} == {"applied"}
    res = run_cli("--config", str(cfg), "rollback", "--steps", "2", "--yes", "--no-backup")
    assert res.code == 0, res.err


def test_a_supabase_transaction_pooler_is_refused_before_connecting(tmp_path: Path) -> None:
    """Port 6543 of Supabase (Supavisor or the dedicated PgBouncer) runs each transaction on
    any server connection: the lock and session settings would not hold, and would reach the
    application. Refused (exit 2) before any connection, the password masked; the session
    pooler (5432) and another server's 6543 are not refused."""
    from malnu_tui.engine.urls import refuse_transaction_pooler

    url = (
        "postgresql://postgres.abcd:s3cretPw@aws-0-ap-southeast-1.pooler.supabase.com:6543/postgres"
    )
    for args in (("--database", url, "status"), ("--database", url, "backup", "create")):
        res = run_cli(*args)
        assert res.code == 2, res.err
        assert "port 6543 is Supabase's transaction pooler" in res.err
        assert "s3cretPw" not in res.err + res.out
    refuse_transaction_pooler({"host": "aws-0-x.pooler.supabase.com", "port": "5432"}, url)
    refuse_transaction_pooler({"host": "db.internal.school", "port": "6543"}, url)


def test_a_transaction_pooler_is_judged_host_by_host_with_its_own_port() -> None:
    """libpq pairs each host of a list with the port at its place (or the one port for all;
    an empty one is 5432): Supabase's direct host on 5432 with another server's 6543 was
    refused, as "a Supabase host" and "a 6543" were looked for apart."""
    from malnu_tui.engine.urls import check_conninfo, refuse_transaction_pooler

    for url in (
        "postgresql://u:pw@db.abc.supabase.co:5432,replica.school:6543/postgres",
        "postgresql://u:pw@replica.school:6543,db.abc.supabase.co/postgres",  # (5432)
        "postgresql://u:pw@/postgres?host=db.abc.supabase.co,replica.school&port=,6543",
    ):
        check_conninfo(url)
    for url in (
        "postgresql://u:s3cretPw@replica.school:5432,aws-0-x.pooler.supabase.com:6543/postgres",
        "postgresql://u:s3cretPw@/postgres?host=replica.school,db.abc.supabase.co.&port=6543",
    ):
        with pytest.raises(ConfigError, match="port 6543 is Supabase's transaction pooler") as e:
            check_conninfo(url)
        assert "s3cretPw" not in str(e.value)
    # $PGHOST / $PGPORT where the URL names none, as libpq reads them
    env = {"PGHOST": "aws-0-x.pooler.supabase.com", "PGPORT": "6543"}
    with pytest.raises(ConfigError):
        refuse_transaction_pooler({}, "postgresql:///postgres", env)
    refuse_transaction_pooler({"port": "5432"}, "postgresql:///postgres", env)


def test_a_multi_host_url_reaches_the_server_that_answers_and_never_prints_its_password(
    pg_cluster: PgCluster, pg_password_role: tuple[str, str], pg_password_db: str,
    mdirs: MigrationDirs, tmp_path: Path,
) -> None:  # fmt: skip
    # libpq's high-availability form: hosts tried in turn. It was refused as malformed, exit 2
    # ("Port could not be cast to integer value as '…,h2:5433'"), before libpq saw it.
    from tests.fixtures_pg import _free_port

    role, password = pg_password_role
    d = school_set(mdirs)
    closed = f"127.0.0.1:{_free_port()}"  # nothing listens: libpq goes on to the next host
    url = (
        f"postgresql://{role}:{password}@{closed},{pg_cluster.host}:{pg_cluster.port}"
        f"/{pg_password_db}?target_session_attrs=read-write"
    )
    env = {"PGPASSWORD": "", "PGPASSFILE": str(tmp_path / "none")}
    env["MALNU_BACKUP_DIR"] = str(tmp_path / "backups")
    up = run_cli("--database", url, *d.args(), "--debug", "up", "--no-backup", env=env)
    assert up.code == 0, up.err
    status = run_cli("--database", url, *d.args(), "status", "--json", env=env)
    assert status.code == 0, status.err
    assert {m["state"] for m in json.loads(status.out)["migrations"]} == {"applied"}
    shown = run_cli("--database", url, *d.args(), "status", env=env)
    assert shown.code == 0, shown.err
    backup = run_cli("--database", url, *d.args(), "--debug", "backup", "create", "--json", env=env)
    assert backup.code == 0, backup.err  # pg_dump given the URL (each host) as libpq reads it
    bid = json.loads(backup.out)["id"]
    restore = run_cli("--database", url, *d.args(), "backup", "restore", bid, "--yes", env=env)
    assert restore.code == 0, restore.err  # pg_restore piped into psql, both given it too
    for res in (up, status, shown, backup, restore):
        assert password not in res.out + res.err
    assert f"{role}:***@{closed},{pg_cluster.host}" in shown.out + shown.err
