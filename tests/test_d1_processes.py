"""Real processes against the local D1 server: two operators at once (lock lease contention),
a held lock naming its holder, and a client killed mid-batch (on D1 the batch still commits
server-side: the next run must see it as applied, never run it twice)."""

from __future__ import annotations

import os
import signal
import time

import pytest

from malnu_tui.engine.config import Target, open_backend
from tests import test_processes as process_suite
from tests.fixtures_core import MigrationDirs, run_cli
from tests.fixtures_d1 import D1Target


@pytest.fixture
def engine_url(d1: D1Target) -> str:
    return d1.url


@pytest.fixture
def sqlite_url(d1: D1Target) -> str:
    """The lock tests of test_processes.py are written for one URL; here it is a D1 one."""
    return d1.url


test_two_processes_up_at_once = process_suite.test_two_processes_up_at_once
test_held_lock_gives_exit_3_and_unlock_releases = (
    process_suite.test_held_lock_gives_exit_3_and_unlock_releases
)


def test_client_killed_mid_batch_is_not_applied_twice(d1: D1Target, mdirs: MigrationDirs) -> None:
    d = mdirs
    d.add("20250101_000100", "first", "CREATE TABLE first (n INTEGER);", "DROP TABLE first;")
    d.add("20250101_000200", "slow", process_suite.slow_sql(d1.url, 1), "DROP TABLE big;")
    d.add("20250101_000300", "bump", "INSERT INTO first (n) VALUES (1);", "SELECT 1;")
    target = Target("t", d1.url, d.migrations, d.rollback, d.root)
    watcher = open_backend(target)
    seen = len(d1.server.requests)  # the server is shared: look only at this test's requests
    proc = process_suite.popen_up(d1.url, d)
    deadline = time.monotonic() + 30
    while (
        not any("CREATE TABLE big" in r.body for r in d1.server.requests[seen:])
        and time.monotonic() < deadline
    ):
        time.sleep(0.02)
    time.sleep(0.3)  # the slow batch is running on the server now
    assert proc.poll() is None, proc.communicate()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    # D1 finishes a batch it has started, whoever stopped listening: the migration and its
    # tracking row committed together; the dead process's lock row is left behind.
    deadline = time.monotonic() + 30
    while "big" not in watcher.table_names() and time.monotonic() < deadline:
        time.sleep(0.1)
    recs = {r.filename for r in watcher.fetch_records()}
    assert "20250101_000200_slow.sql" in recs
    assert watcher.read_lock() is not None
    watcher.close()
    res = run_cli("--database", d1.url, *d.args(), "up", "--no-backup")
    assert res.code == 0, res.err
    watcher = open_backend(target)
    assert [r.filename for r in watcher.fetch_records()] == [
        "20250101_000100_first.sql",
        "20250101_000200_slow.sql",
        "20250101_000300_bump.sql",
    ]
    assert watcher.row_count("first") == 1
    assert watcher.read_audit(action="unlock"), "taking over the dead lock is audited"
    watcher.close()
