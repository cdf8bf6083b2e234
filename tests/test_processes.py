"""Real processes racing and dying: two operators at once, and SIGKILL mid-migration."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from malnu_tui.engine.config import Target, open_backend
from tests.fixtures_core import REPO, MigrationDirs, run_cli


def slow_sql(url: str, seconds: int) -> str:
    if url.startswith("postgresql"):
        return (
            "CREATE TABLE big (x INTEGER);\nINSERT INTO big VALUES (1);\n"
            f"SELECT pg_sleep({seconds});"
        )
    rows = 4_000_000 * seconds
    return (
        "CREATE TABLE big (x INTEGER);\n"
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < "
        f"{rows}) INSERT INTO big SELECT x FROM c;"
    )


def popen_up(url: str, d: MigrationDirs) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "malnu_tui", "--database", url, *d.args(), "up", "--no-backup"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        cwd=REPO,
    )


def test_two_processes_up_at_once(engine_url: str, mdirs: MigrationDirs) -> None:
    d = mdirs
    d.add("20250101_000100", "counter", "CREATE TABLE counter (n INTEGER);", "DROP TABLE counter;")
    d.add("20250101_000200", "slow", slow_sql(engine_url, 1), "DROP TABLE big;")
    for i in range(3, 7):
        d.add(f"20250101_000{i}00", f"bump{i}", "INSERT INTO counter (n) VALUES (1);", "SELECT 1;")
    a, b = popen_up(engine_url, d), popen_up(engine_url, d)
    results = [(p.wait(timeout=120), *p.communicate()) for p in (a, b)]
    codes = sorted(code for code, _, _ in results)
    assert codes in ([0, 0], [0, 3]), results
    for code, _out, err in results:
        if code == 3:
            assert "holds the migration lock" in err and "pid" in err
    backend = open_backend(Target("t", engine_url, d.migrations, d.rollback, d.root))
    recs = backend.fetch_records()
    assert len(recs) == 6 and all(r.success for r in recs)
    assert backend.row_count("counter") == 4  # each bump ran exactly once
    assert backend.read_lock() is None
    backend.close()


def test_sigkill_mid_migration_leaves_database_as_before(
    engine_url: str, mdirs: MigrationDirs
) -> None:
    d = mdirs
    d.add("20250101_000100", "first", "CREATE TABLE first (n INTEGER);", "DROP TABLE first;")
    seconds = 30 if engine_url.startswith("postgresql") else 6
    slow = d.add("20250101_000200", "slow", slow_sql(engine_url, seconds), "DROP TABLE big;")
    assert (
        run_cli(
            "--database", engine_url, *d.args(), "up", "--to", "20250101_000100", "--no-backup"
        ).code
        == 0
    )
    target = Target("t", engine_url, d.migrations, d.rollback, d.root)
    watcher = open_backend(target)
    proc = popen_up(engine_url, d)
    deadline = time.monotonic() + 30
    while watcher.read_lock() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)  # well inside the slow migration now
    assert proc.poll() is None, proc.communicate()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    watcher.close()

    watcher = open_backend(target)
    # PostgreSQL notices the dead client within a second (client_connection_check_interval),
    # aborts its 30-second statement and frees the session lock; SQLite frees it at once.
    if engine_url.startswith("postgresql"):
        deadline = time.monotonic() + 10
        while watcher.read_lock() is not None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert watcher.read_lock() is None
    else:  # the dead process's lock row stays until the next operator takes it over
        assert watcher.read_lock() is not None
    assert "big" not in watcher.table_names()
    assert [r.filename for r in watcher.fetch_records()] == ["20250101_000100_first.sql"]
    watcher.close()
    # The next `up` succeeds (the dead process's lock is not in the way).
    slow.write_text("CREATE TABLE big (x INTEGER);\n")
    res = run_cli("--database", engine_url, *d.args(), "up", "--no-backup")
    assert res.code == 0, res.err
    watcher = open_backend(target)
    assert "big" in watcher.table_names()
    watcher.close()


@pytest.mark.parametrize("held_by_other_host", [False, True])
def test_held_lock_gives_exit_3_and_unlock_releases(
    sqlite_url: str, mdirs: MigrationDirs, held_by_other_host: bool
) -> None:
    from malnu_tui.engine.errors import LockHolder

    d = mdirs
    d.add("20250101_000100", "one", "CREATE TABLE one (n INTEGER);", "DROP TABLE one;")
    backend = open_backend(Target("t", sqlite_url, d.migrations, d.rollback, d.root))
    backend.ensure_schema()
    # A live holder: this very test process (same host) or an unexpired lease elsewhere.
    host = "other-box" if held_by_other_host else os.uname().nodename
    backend.acquire_lock(LockHolder("ops@other-box", host, os.getpid(), "2026-01-01 00:00:00"))
    res = run_cli("--database", sqlite_url, *d.args(), "up", "--no-backup")
    assert res.code == 3
    assert "ops@other-box" in res.err and f"pid {os.getpid()}" in res.err
    assert run_cli("--database", sqlite_url, *d.args(), "unlock").code == 2  # needs --yes
    res = run_cli("--database", sqlite_url, *d.args(), "unlock", "--yes")
    assert res.code == 0, res.err
    assert run_cli("--database", sqlite_url, *d.args(), "up", "--no-backup").code == 0
    entries = backend.read_audit(action="unlock")
    assert entries and "ops@other-box" in entries[-1].detail
    backend.close()
