"""Every migration command through the CLI against PostgreSQL, as psql users expect it to
connect (PGPASSWORD, .pgpass, sslmode), with passwords never printed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import psycopg

from tests.fixtures_core import MigrationDirs, run_cli, school_set
from tests.fixtures_pg import PgCluster


def test_all_commands_on_postgresql(pg_url: str, mdirs: MigrationDirs) -> None:
    d = school_set(mdirs)
    db = ["--database", pg_url, *d.args()]
    res = run_cli(*db, "up", "--no-backup")
    assert res.code == 0, res.err
    d.add(
        "20250101_000400", "bad", "CREATE TABLE bad (id INTEGER);\nINSERT INTO nowhere VALUES (1);"
    )
    res = run_cli(*db, "up", "--no-backup")
    assert res.code == 1 and "bad.sql failed at line 2" in res.err, res.err
    status = json.loads(run_cli(*db, "status", "--json").out)
    rows = {m["filename"]: m for m in status["migrations"]}
    bad = rows["20250101_000400_bad.sql"]
    assert bad["state"] == "failed" and "nowhere" in bad["error_message"]
    assert all(
        k in bad
        for k in ("version", "checksum", "executed_at", "execution_time_ms", "rollback_file")
    )
    with psycopg.connect(pg_url) as conn:  # nothing of the failed migration is left
        assert conn.execute("SELECT to_regclass('public.bad')").fetchone() == (None,)

    assert run_cli(*db, "clear-failed", "20250101_000400_bad.sql").code == 2  # needs --yes
    res = run_cli(*db, "clear-failed", "20250101_000400_bad.sql", "--yes")
    assert res.code == 0, res.err
    (d.migrations / "20250101_000400_bad.sql").unlink()

    first = d.migrations / "20250101_000100_create_users.sql"
    first.write_text(first.read_text() + "-- edited\n")
    assert run_cli(*db, "verify").code == 1
    assert run_cli(*db, "up", "--no-backup").code == 1  # drift blocks up
    res = run_cli(*db, "repair", "--yes")
    assert res.code == 0, res.err
    assert run_cli(*db, "verify").code == 0

    res = run_cli(*db, "rollback", "--steps", "2", "--yes", "--no-backup")
    assert res.code == 0, res.err
    status = json.loads(run_cli(*db, "status", "--json").out)
    assert [m["state"] for m in status["migrations"]] == ["applied", "pending", "pending"]
    assert run_cli(*db, "unlock", "--yes").code == 0
    log = json.loads(run_cli(*db, "log", "--json").out)
    actions = {e["action"] for e in log}
    assert {"apply", "rollback", "repair", "clear-failed"} <= actions


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
