"""Real processes racing and dying, on each backend of the matrix: two operators at once, a
held lock naming its holder, and SIGKILL mid-migration (SQLite and PostgreSQL roll the
migration back; D1 finishes a batch it has started, so the next run must see it as applied and
never run it twice)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from pathlib import Path

import pytest

from malnu_tui.engine.backends.base import Backend
from tests.d1server import Fault
from tests.fixtures_core import MigrationDirs, popen_cli, run_cli
from tests.fixtures_matrix import DbTarget


def slow_sql(url: str, seconds: float, seed: str = "") -> str:
    """A migration that runs for about ``seconds``. On SQLite/D1 it counts up from the rows of
    the table ``seed`` (one row, already in the database) when given: the lint of ``up`` replays
    pending migrations on an empty copy of the schema, where it then costs nothing."""
    if url.startswith("postgresql"):
        return (
            "CREATE TABLE big (x INTEGER);\nINSERT INTO big VALUES (1);\n"
            f"SELECT pg_sleep({seconds});"
        )
    rows = int(4_000_000 * seconds)
    anchor = f"SELECT n FROM {seed}" if seed else "SELECT 1"
    return (
        "CREATE TABLE big (x INTEGER);\n"
        f"WITH RECURSIVE c(x) AS ({anchor} UNION ALL SELECT x + 1 FROM c WHERE x < "
        f"{rows}) INSERT INTO big SELECT x FROM c;"
    )


def test_two_processes_up_at_once(db_target: DbTarget, mdirs: MigrationDirs) -> None:
    d = mdirs
    # The slow step's count starts from seed's one row (slow_sql: on an empty copy of the
    # schema it costs nothing). On D1 the server holds the slow batch half a second, as the
    # SIGKILL test does: the stand-in, in the test process, counted 2 million rows.
    d.add("20250101_000100", "counter",
          "CREATE TABLE counter (n INTEGER);\nCREATE TABLE seed (n INTEGER);\n"
          "INSERT INTO seed VALUES (1);", "DROP TABLE counter;\nDROP TABLE seed;")  # fmt: skip
    if db_target.d1 is not None:
        db_target.d1.server.inject(Fault("slow", count=1, delay=0.5, match="CREATE TABLE big"))
        slow_text = "CREATE TABLE big (x INTEGER);"
    else:
        slow_text = slow_sql(db_target.url, 0.5, seed="seed")
    d.add("20250101_000200", "slow", slow_text, "DROP TABLE big;")
    for i in range(3, 7):
        d.add(f"20250101_000{i}00", f"bump{i}", "INSERT INTO counter (n) VALUES (1);", "SELECT 1;")
    a, b = db_target.popen(d, "up", "--no-backup"), db_target.popen(d, "up", "--no-backup")
    results = [(p.wait(timeout=120), *p.communicate()) for p in (a, b)]
    codes = sorted(code for code, _, _ in results)
    assert codes in ([0, 0], [0, 3]), results
    for code, _out, err in results:
        if code == 3:
            assert "holds the migration lock" in err and "pid" in err
    backend = db_target.open(d)
    recs = backend.fetch_records()
    assert len(recs) == 6 and all(r.success for r in recs)
    assert backend.row_count("counter") == 4  # each bump ran exactly once
    assert backend.read_lock() is None
    backend.close()


def test_sigkill_mid_migration(db_target: DbTarget, mdirs: MigrationDirs) -> None:
    d = mdirs
    d.add(
        "20250101_000100",
        "first",
        "CREATE TABLE first (n INTEGER);\nINSERT INTO first (n) VALUES (1);",
        "DROP TABLE first;",
    )
    if db_target.d1 is not None:
        # D1: the server holds the slow batch for 2 s before running it (as a busy D1 would);
        # the client is killed meanwhile, and the batch still runs.
        db_target.d1.server.inject(Fault("slow", count=1, delay=2.0, match="CREATE TABLE big"))
        slow_text = "CREATE TABLE big (x INTEGER);"
    else:
        seconds = 30 if db_target.kind == "postgresql" else 6
        slow_text = slow_sql(db_target.url, seconds, seed="first")
    slow = d.add("20250101_000200", "slow", slow_text, "DROP TABLE big;")
    d.add("20250101_000300", "bump", "INSERT INTO first (n) VALUES (1);", "SELECT 1;")
    assert db_target.cli(d, "up", "--to", "20250101_000100", "--no-backup").code == 0
    watcher = db_target.open(d)
    seen = len(db_target.d1.server.requests) if db_target.d1 else 0  # the D1 server is shared
    proc = db_target.popen(d, "up", "--no-backup")
    deadline = time.monotonic() + 30
    while not _slow_step_started(watcher, db_target, seen) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # well inside the slow migration now
    assert proc.poll() is None, proc.communicate()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    watcher.close()

    watcher = db_target.open(d)
    applied = ["20250101_000100_first.sql"]
    if db_target.kind == "postgresql":
        # PostgreSQL notices the dead client within a second (client_connection_check_interval),
        # aborts its 30-second statement and frees the session lock.
        deadline = time.monotonic() + 10
        while watcher.read_lock() is not None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert watcher.read_lock() is None
        assert "big" not in watcher.table_names()
    elif db_target.kind == "sqlite":  # rolled back at once; the lock row stays until taken over
        assert watcher.read_lock() is not None
        assert "big" not in watcher.table_names()
    else:
        # D1 finishes a batch it has started, whoever stopped listening: the migration and its
        # tracking row commit together; the dead process's lock row is left behind.
        deadline = time.monotonic() + 60
        while "big" not in watcher.table_names() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert watcher.read_lock() is not None
        applied.append("20250101_000200_slow.sql")
    assert [r.filename for r in watcher.fetch_records()] == applied
    watcher.close()
    # The next `up` succeeds (the dead process's lock is taken over, audited) and runs every
    # migration exactly once.
    if db_target.kind != "d1":  # not applied: make it quick for the rerun
        slow.write_text("CREATE TABLE big (x INTEGER);\n")
    res = db_target.cli(d, "up", "--no-backup")
    assert res.code == 0, res.err
    watcher = db_target.open(d)
    assert "big" in watcher.table_names()
    assert watcher.row_count("first") == 2  # its own row and bump's, each once
    if db_target.kind != "postgresql":
        assert watcher.read_audit(action="unlock"), "taking over the dead lock is audited"
    watcher.close()


def _slow_step_started(watcher: Backend, db_target: DbTarget, seen: int) -> bool:
    """The killed process is inside the slow migration (its lock is held and, on D1, the slow
    batch has reached the server)."""
    if watcher.read_lock() is None:
        return False
    if db_target.d1 is None:
        return True
    return any("CREATE TABLE big" in r.body for r in db_target.d1.server.requests[seen:])


@pytest.mark.parametrize("held_by_other_host", [False, True])
def test_held_lock_gives_exit_3_and_unlock_releases(
    db_target: DbTarget, mdirs: MigrationDirs, held_by_other_host: bool
) -> None:
    from malnu_tui.engine.errors import LockHolder

    d = mdirs
    d.add("20250101_000100", "one", "CREATE TABLE one (n INTEGER);", "DROP TABLE one;")
    holder = db_target.open(d)
    # A live holder: this very test process (same host) or an unexpired lease elsewhere.
    host = "other-box" if held_by_other_host else os.uname().nodename
    holder.acquire_lock(LockHolder("ops@other-box", host, os.getpid(), "2026-01-01 00:00:00"))
    res = db_target.cli(d, "up", "--no-backup")
    assert res.code == 3
    assert "ops@other-box" in res.err and f"pid {os.getpid()}" in res.err
    assert db_target.cli(d, "unlock").code == 2  # needs --yes
    res = db_target.cli(d, "unlock", "--yes")
    assert res.code == 0, res.err
    assert db_target.cli(d, "up", "--no-backup").code == 0
    with contextlib.suppress(Exception):  # on PostgreSQL `unlock` ended the holder's session
        holder.close()
    backend = db_target.open(d)
    entries = backend.read_audit(action="unlock")
    assert entries and "ops@other-box" in entries[-1].detail
    backend.close()


def test_status_after_a_kill_says_the_lock_is_a_dead_runs_not_someone_at_work(
    tmp_path: Path, mdirs: MigrationDirs
) -> None:
    """SIGKILL (the OOM killer, `kill -9`) of an `up` leaves its lock row on SQLite: `status`
    then said `locked by root@box (pid 4242) … [apply of 1 migration(s)]` just as it does
    while that run works, so the operator waited on a run that was gone, or ran `unlock`.
    Now, with the holder gone, it adds that its process is not running and that the next
    run takes the lock over (`status --json`: `lock_stale`); while the run lives, nothing."""
    d = mdirs
    d.add("20250101_000100", "first", "CREATE TABLE first (n INTEGER);", "DROP TABLE first;")
    url = ["--database", f"sqlite:///{tmp_path / 'school.db'}", *d.args()]
    slow = slow_sql("sqlite:", 20)
    d.add("20250101_000200", "slow", slow, "DROP TABLE big;")
    assert run_cli(*url, "up", "--to", "20250101_000100", "--no-backup").code == 0
    proc = popen_cli(*url, "up", "--no-backup")
    try:
        deadline = time.monotonic() + 60
        while "locked by" not in (live := run_cli(*url, "status")).err:
            assert time.monotonic() < deadline and proc.poll() is None, live.err
            time.sleep(0.1)
        assert f"(pid {proc.pid})" in live.err and "not running" not in live.err, live.err
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
    res = run_cli(*url, "status")
    assert res.code == 0, res.err
    said = f"(pid {proc.pid} is not running: the next run takes its lock over, audited)"
    assert said in res.err, res.err
    report = json.loads(run_cli(*url, "--json", "status").out)
    assert report["lock_stale"] == f"pid {proc.pid} is not running", report
