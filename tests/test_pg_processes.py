"""Two real operators on one PostgreSQL database: the second is told who holds the lock (exit 3),
and `unlock` ends the holder's session, whose migration the server rolls back completely."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from malnu_tui.engine.config import Target, open_backend
from tests.fixtures_core import REPO, MigrationDirs, run_cli


def _popen(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "malnu_tui", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        cwd=REPO,
        env={**os.environ, "MALNU_ASSUME_NO_TTY": "1"},
    )


def test_second_operator_gets_exit_3_and_unlock_ends_the_holder(
    pg_url: str, mdirs: MigrationDirs
) -> None:
    d = mdirs
    d.add("20250101_000100", "first", "CREATE TABLE first (x INTEGER);", "DROP TABLE first;")
    d.add(
        "20250101_000200", "slow",
        "CREATE TABLE big (x INTEGER);\nINSERT INTO big VALUES (1);\nSELECT pg_sleep(20);",
        "DROP TABLE big;",
    )  # fmt: skip
    holder = _popen("--database", pg_url, *d.args(), "up", "--no-backup")
    watcher = open_backend(Target("t", pg_url, d.migrations, d.rollback, d.root))
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            held = watcher.read_lock()
            if held is not None and any(r.filename.endswith("first.sql") for r in
                                        watcher.fetch_records()):  # fmt: skip
                break
            time.sleep(0.05)
        held = watcher.read_lock()
        assert held is not None and held.pid == holder.pid, held

        res = run_cli("--database", pg_url, *d.args(), "up", "--no-backup")
        assert res.code == 3, res.err
        assert f"pid {holder.pid}" in res.err and "holds the migration lock" in res.err

        res = run_cli("--database", pg_url, *d.args(), "unlock")
        assert res.code == 2  # destructive: needs --yes without a terminal
        res = run_cli("--database", pg_url, *d.args(), "unlock", "--yes")
        assert res.code == 0, res.err
        code = holder.wait(timeout=30)
        assert code != 0  # its session was ended mid-migration

        assert "big" not in watcher.table_names()
        assert [r.filename for r in watcher.fetch_records()] == ["20250101_000100_first.sql"]
        assert watcher.read_lock() is None
        entries = watcher.read_audit(action="unlock")
        assert entries and f"(pid {holder.pid})" in entries[0].detail
    finally:
        if holder.poll() is None:
            holder.kill()
        holder.communicate()
        watcher.close()

    (d.migrations / "20250101_000200_slow.sql").write_text("CREATE TABLE big (x INTEGER);\n")
    res = run_cli("--database", pg_url, *d.args(), "up", "--no-backup")
    assert res.code == 0, res.err
