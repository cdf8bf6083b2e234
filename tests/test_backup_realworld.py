"""Backups, restore and recovery as operators meet them on real databases: the CLI as a real
process, real SQLite files (and real PostgreSQL where the case needs it)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from urllib.parse import quote

import psycopg

from tests.fixtures_core import run_cli
from tests.fixtures_pg import PgCluster


def _one_value_db(path: Path, value: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("CREATE TABLE t (v TEXT)")
        conn.execute("INSERT INTO t VALUES (?)", (value,))
    conn.close()


def _values(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [r[0] for r in conn.execute("SELECT v FROM t")]
    finally:
        conn.close()


def test_databases_with_long_alike_urls_never_share_a_store(tmp_path: Path) -> None:
    # Two databases whose URLs differ only after 80 characters (a Supabase pooler's
    # …/postgres and …/analytics; long paths): `recover` of one restored the other's backup.
    deep = tmp_path / "sekolah-malnu-kananga" / "production-databases" / "school-platform-2026"
    main, analytics = deep / "primary-region-main.db", deep / "primary-region-analytics.db"
    _one_value_db(main, "MAIN")
    _one_value_db(analytics, "ANALYTICS")
    env = {"MALNU_BACKUP_DIR": str(tmp_path / "backups")}
    made = run_cli("--database", f"sqlite:///{main}", "backup", "create", env=env)
    assert made.code == 0, made.err

    other = ("--database", f"sqlite:///{analytics}")
    listed = run_cli(*other, "backup", "list", "--json", env=env)
    assert listed.code == 0 and json.loads(listed.out) == [], listed.out
    res = run_cli(*other, "recover", "--to", "now", "--yes", env=env)
    assert res.code == 1, res.err
    assert "no verified backup" in res.err and "Traceback" not in res.err
    assert _values(analytics) == ["ANALYTICS"]
    assert _values(main) == ["MAIN"]


def test_recover_never_picks_another_targets_backup_in_a_shared_store(tmp_path: Path) -> None:
    # Two configured targets given the same backup_dir: recover of one must not restore the
    # other's backup; an explicit restore says whose backup it is.
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    _one_value_db(a, "A")
    _one_value_db(b, "B")
    shared = tmp_path / "shared-backups"
    config = tmp_path / "malnu.toml"
    config.write_text(
        f'[targets.alpha]\nurl = "sqlite:///{a}"\nbackup_dir = "{shared}"\n'
        f'[targets.beta]\nurl = "sqlite:///{b}"\nbackup_dir = "{shared}"\n',
        encoding="utf-8",
    )
    base = ("--config", str(config))
    made = run_cli(*base, "--target", "alpha", "backup", "create")
    assert made.code == 0, made.err
    backup_id = made.out.strip()

    res = run_cli(*base, "--target", "beta", "recover", "--to", "now", "--yes")
    assert res.code == 1, res.err
    assert f"skipped {backup_id}: a backup of alpha, not this database" in res.err
    assert _values(b) == ["B"]

    plan = run_cli(*base, "--target", "beta", "backup", "restore", backup_id)
    assert plan.code == 2  # no terminal, no --yes: refused after the plan
    assert "this is a backup of alpha" in plan.err
    assert _values(b) == ["B"]


def test_pg_restore_as_the_database_owner_keeps_a_superusers_extensions(
    pg_cluster: PgCluster, pg_password_role: tuple[str, str], pg_password_db: str
) -> None:
    # Supabase: the operator's role owns the database, extensions (pgcrypto, citext…) belong
    # to a platform role. --clean dropped and re-created them: "must be owner of extension",
    # so every restore failed.
    role, password = pg_password_role
    with psycopg.connect(pg_cluster.url(pg_password_db), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION citext")
        conn.execute("COMMENT ON EXTENSION citext IS 'case-insensitive text'")
    url = f"postgresql://{role}:{quote(password)}@{pg_cluster.host}:{pg_cluster.port}/{pg_password_db}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE users (id int PRIMARY KEY, email citext UNIQUE)")
        conn.execute("INSERT INTO users SELECT g, 'U' || g || '@x' FROM generate_series(1, 50) g")
    env = {"MALNU_BACKUP_DIR": str(pg_cluster.data_dir.parent / f"backups-{pg_password_db}")}
    made = run_cli("--database", url, "backup", "create", env=env)
    assert made.code == 0, made.err
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DELETE FROM users WHERE id > 10")

    res = run_cli("--database", url, "backup", "restore", made.out.strip(), "--yes", env=env)
    assert res.code == 0, res.err
    assert password not in res.out + res.err
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM users").fetchone() == (50,)
        assert conn.execute("SELECT email = 'u7@X' FROM users WHERE id = 7").fetchone() == (True,)
        owner = conn.execute(
            "SELECT extowner::regrole::text FROM pg_extension WHERE extname = 'citext'"
        )
        assert owner.fetchone() == ("postgres",)
