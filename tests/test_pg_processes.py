"""Two real operators on one PostgreSQL database: the second is told who holds the lock (exit 3),
and `unlock` ends the holder's session, whose migration the server rolls back completely."""

from __future__ import annotations

import time
from collections.abc import Callable

from tests.fixtures_core import MigrationDirs
from tests.fixtures_matrix import DbTarget


def test_second_operator_gets_exit_3_and_unlock_ends_the_holder(
    fresh_db: Callable[[str], DbTarget], mdirs: MigrationDirs
) -> None:
    pg = fresh_db("postgresql")
    d = mdirs
    d.add("20250101_000100", "first", "CREATE TABLE first (x INTEGER);", "DROP TABLE first;")
    d.add(
        "20250101_000200", "slow",
        "CREATE TABLE big (x INTEGER);\nINSERT INTO big VALUES (1);\nSELECT pg_sleep(20);",
        "DROP TABLE big;",
    )  # fmt: skip
    # The watcher makes the tool tables before the holder starts: made while the holder took
    # its lock, their creation (under the same key, a moment) could refuse it (exit 3).
    watcher = pg.open(d)
    holder = pg.popen(d, "up", "--no-backup")
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            held = watcher.read_lock()
            if held is not None and any(r.filename.endswith("first.sql") for r in
                                        watcher.fetch_records()):  # fmt: skip
                break
            time.sleep(0.05)
        held = watcher.read_lock()
        if held is None or held.pid != holder.pid:
            holder.kill()
            _out, err = holder.communicate()
            raise AssertionError(f"lock {held}; the holder ended {holder.returncode}: {err}")

        res = pg.cli(d, "up", "--no-backup")
        assert res.code == 3, res.err
        assert f"pid {holder.pid}" in res.err and "holds the migration lock" in res.err

        res = pg.cli(d, "unlock")
        assert res.code == 2  # destructive: needs --yes without a terminal
        res = pg.cli(d, "unlock", "--yes")
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
    res = pg.cli(d, "up", "--no-backup")
    assert res.code == 0, res.err
