"""The analytics migration set (PostgreSQL dialect) applied, used and rolled back on a real
PostgreSQL server through the CLI, as an operator would."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg

from tests.fixtures_core import REPO, run_cli

DIRS = [
    "--migrations-dir", str(REPO / "migrations-analytics"),
    "--rollback-dir", str(REPO / "rollback-analytics"),
]  # fmt: skip
TABLES = ["analytics_events", "performance_metrics", "user_sessions"]


def _tables(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
            "AND table_type = 'BASE TABLE' AND table_name = ANY(%s) ORDER BY 1",
            (TABLES,),
        ).fetchall()
    return [r[0] for r in rows]


def test_analytics_set_up_use_and_roll_back(pg_url: str) -> None:
    res = run_cli("--database", pg_url, *DIRS, "up", "--no-backup")
    assert res.code == 0, res.err
    res = run_cli("--database", pg_url, *DIRS, "status", "--json")
    states = {m["filename"]: m["state"] for m in json.loads(res.out)["migrations"]}
    assert len(states) == 4 and set(states.values()) == {"applied"}
    assert _tables(pg_url) == TABLES

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO analytics_events (event_type, user_id, metadata) "
            "VALUES ('login', 7, '{\"via\": \"web\"}'), ('page_view', 7, DEFAULT)"
        )
        conn.execute(
            "INSERT INTO user_sessions (user_id, login_time, logout_time) "
            "VALUES (7, '2025-12-01 08:00+07', '2025-12-01 08:30+07')"
        )
        conn.execute(
            "INSERT INTO performance_metrics (endpoint, response_time, status_code) "
            "VALUES ('/api/grades', 120.5, 200), ('/api/grades', 900, 503)"
        )
        assert conn.execute("SELECT duration FROM user_sessions").fetchone() == (1800,)
        assert conn.execute("SELECT active_users, events FROM daily_active_users").fetchone() == (
            1,
            2,
        )
        row = conn.execute("SELECT requests, server_errors FROM endpoint_latency_hourly").fetchone()
        assert row == (2, 1)

    res = run_cli("--database", pg_url, *DIRS, "verify")
    assert res.code == 0, res.err
    res = run_cli("--database", pg_url, *DIRS, "rollback", "--steps", "4", "--yes", "--no-backup")
    assert res.code == 0, res.err
    assert _tables(pg_url) == []
    res = run_cli("--database", pg_url, *DIRS, "up", "--no-backup")
    assert res.code == 0, res.err
    assert _tables(pg_url) == TABLES


def test_postgresql_dialect_target_plans_as_written(pg_url: str, tmp_path: Path) -> None:
    cfg = tmp_path / "malnu.toml"
    cfg.write_text(
        "[targets.analytics]\n"
        f'url = "{pg_url}"\n'
        f'migrations_dir = "{REPO / "migrations-analytics"}"\n'
        f'rollback_dir = "{REPO / "rollback-analytics"}"\n'
        'dialect = "postgresql"\n'
    )
    res = run_cli("--config", str(cfg), "plan", "--json")
    assert res.code == 0, res.err
    plan = json.loads(res.out)["migrations"]
    assert len(plan) == 4
    assert all(m["postgres_sql"] == m["sqlite_source"] and m["findings"] == [] for m in plan)
    res = run_cli("--config", str(cfg), "parity")
    assert res.code == 2 and "written for PostgreSQL" in res.err


def test_postgresql_target_defaults_to_postgresql_dialect(pg_url: str) -> None:
    res = run_cli("--database", pg_url, *DIRS, "plan", "--json")
    assert res.code == 0, res.err
    plan = json.loads(res.out)["migrations"]
    assert len(plan) == 4 and all(m["postgres_sql"] == m["sqlite_source"] for m in plan)
