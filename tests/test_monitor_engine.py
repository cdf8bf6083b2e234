"""The run log and every check of `check`, on real SQLite, PostgreSQL and the local D1 server:
each check triggers at its threshold and not below it (times are injected, never waited for)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from malnu_tui.engine.backends.base import AuditEntry, Backend
from malnu_tui.engine.backup import create_backup, verify_backup
from malnu_tui.engine.backup.store import RESTORE_NEEDS, save_manifest
from malnu_tui.engine.config import Target, open_backend
from malnu_tui.engine.files import discover
from malnu_tui.engine.migrate import MigrationFailed, apply_plan, plan_up, verify
from malnu_tui.engine.monitor.config import MonitorConfig
from malnu_tui.engine.monitor.health import CHECKS, CheckReport, Severity, TargetHealth
from malnu_tui.engine.monitor.reading import check_target
from malnu_tui.engine.monitor.runlog import (
    RunRecord,
    format_time,
    history_since,
    record_run,
)
from tests.fixtures_core import MigrationDirs

KINDS = ["sqlite", "postgresql", "d1"]


@pytest.fixture(params=KINDS)
def target(
    request: pytest.FixtureRequest, tmp_path: Path, mdirs: MigrationDirs
) -> Iterator[Target]:
    """An empty database of each kind, with the test's own migrations and backup store."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'primary.db'}"
    elif request.param == "postgresql":
        url = request.getfixturevalue("pg_url")
    else:
        url = request.getfixturevalue("d1_url")
    yield Target("primary", url, mdirs.migrations, mdirs.rollback, tmp_path / "backups")


def _slow_sql(kind: str) -> str:
    if kind == "postgresql":
        return "SELECT pg_sleep(0.05);"
    # SQLite and D1: a recursive count that takes some milliseconds on any machine. Its rows
    # deleted as it ends: the test's backup then dumps an empty table (on D1 a dump of the
    # 50,000 rows, page by page through the API, was two thirds of the test's time).
    return (
        "CREATE TABLE slow_t (n INTEGER);\n"
        "INSERT INTO slow_t WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
        "WHERE x < 50000) SELECT x FROM c;\nDELETE FROM slow_t;"
    )


def _up(target: Target) -> Backend:
    b = open_backend(target)
    b.ensure_schema()
    mset = discover(target.migrations_dir, target.rollback_dir)
    apply_plan(b, mset, plan_up(b, mset))
    return b


def _health(target: Target, cfg: MonitorConfig | None = None, **kw: datetime) -> TargetHealth:
    return check_target(target, cfg or MonitorConfig(), kw.get("now"))


def _checks(h: TargetHealth) -> dict[str, Severity]:
    return {c: h.check_status(c) for c in CHECKS if h.check_status(c) is not Severity.OK}


def test_run_log_records_operations_and_answers_since(target: Target, mdirs: MigrationDirs) -> None:
    mdirs.add("20250101_000100", "a", "CREATE TABLE a (id INTEGER);", "DROP TABLE a;")
    mdirs.add("20250101_000200", "b", "INSERT INTO nosuch VALUES (1);")
    b = open_backend(target)
    try:
        b.ensure_schema()
        b.append_audit(AuditEntry("2020-01-01 00:00:00", "x@y", "apply", "old.sql", "ok", "plain"))
        mset = discover(target.migrations_dir, target.rollback_dir)
        with pytest.raises(MigrationFailed):
            apply_plan(b, mset, plan_up(b, mset))
        create_backup(b, target)
        verify(b, mset)
        hist = history_since(b, timedelta(hours=1))
        runs = {r.op: r for r in hist.runs}
        assert set(runs) == {"apply", "backup", "verify"}
        apply = runs["apply"]
        assert apply.outcome == "failed" and "nosuch" in apply.error
        assert apply.counts == {"done": 1, "failed": 1}
        assert apply.obj == "20250101_000100..20250101_000200"
        assert apply.started_at <= apply.ended_at and apply.duration_ms >= 0
        assert runs["backup"].outcome == "ok" and runs["backup"].counts["bytes"] > 0
        assert runs["verify"].counts["checked"] == 1
        # The old plain row is outside the window and is not a run (backward compatible).
        assert all(e.object != "old.sql" for e in hist.events)
        everything = history_since(b, datetime(2019, 1, 1, tzinfo=UTC))
        old = next(e for e in everything.events if e.object == "old.sql")
        assert RunRecord.from_audit(old) is None
        # A recorder used by importer/sync: counts, failure, re-raise.
        with pytest.raises(RuntimeError), record_run(b, "import", "students.csv") as run:
            run.count("rows", 7)
            raise RuntimeError("bad row 8")
        imp = history_since(b, timedelta(minutes=5)).runs[0]
        assert (imp.op, imp.obj, imp.outcome, imp.counts) == (
            "import",
            "students.csv",
            "failed",
            {"rows": 7},
        )
    finally:
        b.close()


def test_failed_and_slow_migrations_at_their_thresholds(
    target: Target, mdirs: MigrationDirs
) -> None:
    mdirs.add("20250101_000100", "slow", _slow_sql(target.kind))
    b = _up(target)
    try:
        ms = next(r.execution_time_ms for r in b.fetch_records())
        assert ms is not None and ms >= 1, "the slow statement takes at least a millisecond"
        create_backup(b, target)
        # A rollback that failed 59 minutes ago counts; one 61 minutes ago does not.
        now = datetime.now(UTC)
        b.append_audit(
            AuditEntry(
                format_time(now - timedelta(minutes=61)),
                "ops",
                "rollback",
                "x.sql",
                "failed",
                "line 1: boom",
            )
        )
    finally:
        b.close()
    at_limit = MonitorConfig(slow_migration_seconds=ms / 1000)
    below = MonitorConfig(slow_migration_seconds=(ms - 1) / 1000)
    assert _checks(_health(target, at_limit)) == {}
    h = _health(target, below)
    assert _checks(h) == {"slow_migrations": Severity.WARNING} and h.metrics["slow"] == 1
    # A day later the slow migration is no longer "in the last 24 h".
    assert _checks(_health(target, below, now=now + timedelta(hours=25))) == {}
    b = open_backend(target)
    try:
        b.append_audit(
            AuditEntry(
                format_time(now - timedelta(minutes=59)),
                "ops",
                "rollback",
                "y.sql",
                "failed",
                "line 1: boom",
            )
        )
    finally:
        b.close()
    h = _health(target, at_limit)
    assert _checks(h) == {"failed_migrations": Severity.CRITICAL}
    assert [p.obj for p in h.problems] == ["y.sql"] and h.metrics["failed"] == 1
    assert h.health_line() == "primary: CRITICAL - 1 failed migration in the last hour"


def test_a_failed_migration_dated_ahead_of_the_clock_is_said_so(
    tmp_path: Path, mdirs: MigrationDirs
) -> None:
    """A rollback that failed on a host whose clock was 3 h ahead (or read by one 3 h behind)
    was summarised "1 failed migration in the last hour": a time it is not known to be in.
    Said as a sync or backup dated ahead is; one a minute ahead (another host's clock) is
    still "in the last hour"."""
    target = Target("primary", f"sqlite:///{tmp_path / 'p.db'}", mdirs.migrations,
                    mdirs.rollback, tmp_path / "backups")  # fmt: skip
    now = datetime.now(UTC)
    b = open_backend(target)
    try:
        b.ensure_schema()
        at = format_time(now + timedelta(hours=3))
        b.append_audit(AuditEntry(at, "ops", "rollback", "y.sql", "failed", "line 1: boom"))
    finally:
        b.close()
    h = _health(target, now=now)
    said = "primary: CRITICAL - 1 failed migration dated ahead of the clock; no verified backup"
    assert h.health_line() == said, h.health_line()
    (p,) = [p for p in h.problems if p.check == "failed_migrations"]
    assert p.message == (
        "y.sql failed, dated 3.0 h ahead of this machine's clock (a clock set wrong, here or "
        "where it ran): line 1: boom"
    ), p.message
    h = _health(target, now=now + timedelta(hours=3, minutes=-1))  # (a minute ahead)
    said = "primary: CRITICAL - 1 failed migration in the last hour; no verified backup"
    assert h.health_line() == said, h.health_line()


def test_drift_missing_pending_age_and_backups(target: Target, mdirs: MigrationDirs) -> None:
    path = mdirs.add("20250101_000100", "a", "CREATE TABLE a (id INTEGER);")
    gone = mdirs.add("20250101_000200", "b", "CREATE TABLE b (id INTEGER);")
    now = datetime.now(UTC)
    b = _up(target)
    b.close()
    h = _health(target)
    assert _checks(h) == {"backup_age": Severity.CRITICAL}, "no verified backup at all"
    b = open_backend(target)
    manifest = create_backup(b, target)
    b.close()
    assert _checks(_health(target)) == {}
    cfg = MonitorConfig(backup_max_age_hours=26)
    made = manifest.created
    assert _checks(_health(target, cfg, now=made + timedelta(hours=25, minutes=59))) == {}
    late = _health(target, cfg, now=made + timedelta(hours=26, minutes=1))
    assert _checks(late) == {"backup_age": Severity.WARNING}
    assert late.metrics["backup_age_seconds"] > 26 * 3600
    # One a restore here needs a role for (its deep verification's finding): its age is said
    # too (it was left out, backups stopped for days read as one statement away).
    needs = dataclasses.replace(manifest, details={**manifest.details, RESTORE_NEEDS: "role x"})
    save_manifest(target.backup_dir, needs)
    late = _health(target, cfg, now=made + timedelta(days=3))
    assert _checks(late) == {"backup_age": Severity.WARNING}
    assert late.problems[0].message.endswith(
        "does not restore into this server as it is: role x; and it is 3.0 days old (over 26 h)"
    ), late.problems[0].message
    save_manifest(target.backup_dir, manifest)
    # A backup dated ahead of the checking clock read as fresh (a negative age) until real
    # time passed it, however long backups had stopped by then.
    assert _checks(_health(target, cfg, now=made - timedelta(minutes=4))) == {}
    ahead = _health(target, cfg, now=made - timedelta(hours=2))
    assert _checks(ahead) == {"backup_age": Severity.WARNING}
    assert "ahead of this machine's clock" in ahead.problems[0].message
    # Its summary said "backup too old" of the newest backup there is (the console's line).
    assert ahead.health_line() == "primary: WARNING - backup dated ahead of the clock"
    assert late.health_line() == "primary: WARNING - backup too old"
    # Its data file replaced since verified (the same size, other bytes, a later mtime): not
    # counted (a stat, no hash), named with the command that verifies it; verified again once
    # its bytes are back.
    data = target.backup_dir / manifest.file
    good, st = data.read_bytes(), data.stat()
    data.write_bytes(good[:-64] + bytes(b ^ 0xFF for b in good[-64:]))
    os.utime(data, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    h = _health(target)
    assert _checks(h) == {"backup_age": Severity.CRITICAL}
    assert f"changed since verified: run `malnu-tui backup verify {manifest.id}" in (
        h.problems[0].message
    )
    assert not verify_backup(target, manifest.id).ok
    data.write_bytes(good)
    assert verify_backup(target, manifest.id).ok and _checks(_health(target)) == {}

    # Pending: 8 days old warns on a production target, 6 days old does not; never elsewhere.
    old = (now - timedelta(days=8)).strftime("%Y%m%d_%H%M%S")
    young = (now - timedelta(days=6)).strftime("%Y%m%d_%H%M%S")
    mdirs.add(old, "old_pending", "SELECT 1;")
    mdirs.add(young, "young_pending", "SELECT 1;")
    assert _checks(_health(target)) == {}, "not a production target"
    prod = dataclasses.replace(target, options={"production": True})
    h = _health(prod)
    assert _checks(h) == {"pending_age": Severity.WARNING}
    assert [p.obj for p in h.problems] == [f"{old}_old_pending.sql"] and h.metrics["pending"] == 2
    assert _checks(_health(prod, MonitorConfig(pending_max_age_days=9))) == {}

    path.write_text("CREATE TABLE a (id INTEGER, x TEXT);\n")
    gone.unlink()
    h = _health(target)
    assert _checks(h) == {"drift": Severity.CRITICAL, "missing_files": Severity.CRITICAL}
    assert h.status is Severity.CRITICAL
    assert "1 applied migration without its file" in h.health_line()

    # A file the tool cannot read as a migration is named as that, not counted as a missing one.
    (mdirs.migrations / "001_bad.sql").write_text("SELECT 1;\n")
    h = _health(target)
    assert h.check_status("missing_files") is Severity.CRITICAL
    assert "001_bad.sql: bad migration file name" in h.health_line()
    assert "without its file" not in h.health_line()


def test_failed_imports_syncs_and_sync_lag(target: Target) -> None:
    b = open_backend(target)
    try:
        b.ensure_schema()
        create_backup(b, target)
        with pytest.raises(ValueError), record_run(b, "import", "students.csv"):
            raise ValueError("row 3: bad date")
        with record_run(b, "sync", "reporting") as run:
            run.count("rows", 10)
    finally:
        b.close()
    now = datetime.now(UTC)
    h = _health(target, MonitorConfig(sync_max_lag_minutes=60), now=now + timedelta(minutes=59))
    assert _checks(h) == {"failed_imports": Severity.CRITICAL}
    assert "row 3: bad date" in h.problems[0].message
    h = _health(target, MonitorConfig(sync_max_lag_minutes=60), now=now + timedelta(minutes=61))
    assert _checks(h) == {"failed_imports": Severity.CRITICAL, "sync_lag": Severity.WARNING}
    # Dated 2 h ahead of the checking machine's clock (the syncing host's clock, or this one,
    # set wrong): its lag read as none, so syncs stopped for 2 h + the limit went unsaid.
    h = _health(target, MonitorConfig(sync_max_lag_minutes=60), now=now - timedelta(hours=2))
    assert h.check_status("sync_lag") is Severity.WARNING, h
    (ahead,) = [p for p in h.problems if p.check == "sync_lag"]
    assert "min ahead of this machine's clock" in ahead.message, ahead.message
    # "1 sync lagging" (and "backup too old") of what is dated ahead, whose lag (and age)
    # cannot be judged at all: said as it is (the backup is dated 2 h ahead too).
    said = CheckReport((h,), "t").summary_line()
    assert said.endswith(", 1 sync dated ahead of the clock | failed=0;;1 slow=0;1;"), said
    assert "lagging" not in said
    assert h.health_line() == (
        "primary: CRITICAL - 1 failed import; backup dated ahead of the clock; "
        "1 sync dated ahead of the clock"
    )
    b = open_backend(target)
    try:
        with record_run(b, "import", "students.csv"):
            pass
        with pytest.raises(RuntimeError), record_run(b, "sync", "reporting"):
            raise RuntimeError("destination refused")
    finally:
        b.close()
    assert _checks(_health(target)) == {"failed_syncs": Severity.CRITICAL}


def test_lock_held_past_its_lease(tmp_path: Path, mdirs: MigrationDirs) -> None:
    import sqlite3

    target = Target(
        "primary",
        f"sqlite:///{tmp_path / 'p.db'}",
        mdirs.migrations,
        mdirs.rollback,
        tmp_path / "backups",
    )
    b = open_backend(target)
    b.ensure_schema()
    create_backup(b, target)
    b.close()
    now = datetime.now(UTC)
    with sqlite3.connect(tmp_path / "p.db") as conn:
        conn.execute(
            "INSERT INTO malnu_lock (id, owner, host, pid, acquired_at, expires_at) "
            "VALUES (1, 'ops@other', 'other-box', 4242, ?, ?)",
            (format_time(now - timedelta(hours=1)), format_time(now + timedelta(minutes=1))),
        )
    assert _checks(_health(target)) == {}
    # Judged by the database's clock, not by the clock of the machine that checks.
    assert _checks(_health(target, now=now + timedelta(minutes=2))) == {}
    with sqlite3.connect(tmp_path / "p.db") as conn:
        conn.execute(
            "UPDATE malnu_lock SET expires_at = ?", (format_time(now - timedelta(minutes=1)),)
        )
    h = _health(target)
    assert _checks(h) == {"lock_lease": Severity.WARNING}
    assert "ops@other" in h.problems[0].message


def test_lock_of_this_host_is_judged_by_its_process(tmp_path: Path, mdirs: MigrationDirs) -> None:
    """On the host that holds it, a lock is alive exactly while its process runs (as every
    command judges it): a migration longer than the lease (renewed only at its COMMIT) was
    paged as "held past its lease" while it ran, and a killed holder's lock went unsaid for
    ten minutes."""
    import os
    import sqlite3
    import subprocess

    from malnu_tui.engine.backends.base import lock_host

    target = Target(
        "primary", f"sqlite:///{tmp_path / 'p.db'}", mdirs.migrations, mdirs.rollback,
        tmp_path / "backups",
    )  # fmt: skip
    b = open_backend(target)
    b.ensure_schema()
    create_backup(b, target)
    b.close()
    gone = subprocess.Popen(["true"])
    gone.wait()

    def lock_of(pid: int, lease: str) -> None:
        with sqlite3.connect(tmp_path / "p.db") as conn:
            conn.execute(
                "INSERT OR REPLACE INTO malnu_lock (id, owner, host, pid, acquired_at, "
                f"expires_at) VALUES (1, 'ops@here', ?, ?, datetime('now', '-1 hour'), "
                f"datetime('now', '{lease}'))",
                (lock_host(), pid),
            )

    lock_of(os.getpid(), "-5 minutes")  # a long migration, running
    assert _checks(_health(target)) == {}
    lock_of(gone.pid, "+5 minutes")  # killed a minute ago
    h = _health(target)
    assert _checks(h) == {"lock_lease": Severity.WARNING}
    assert f"pid {gone.pid} is not running" in h.problems[0].message
    # its lease still runs: the summary says what is wrong, not "held past its lease"
    assert h.health_line() == "primary: WARNING - migration lock held by a process that is gone"


def test_unreachable_targets_are_unknown(tmp_path: Path, mdirs: MigrationDirs) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    d1_options = {"api_base": f"http://127.0.0.1:{port}/client/v4", "api_token": "tok-hunter2pw"}
    for url, options in (
        (f"postgresql://nobody:hunter2pw@127.0.0.1:{port}/x", {}),
        (f"sqlite:///{tmp_path / 'missing' / 'p.db'}", {}),
        ("d1://0123456789abcdef0123456789abcdef/dead-db", d1_options),
    ):
        t = Target("dead", url, mdirs.migrations, mdirs.rollback, tmp_path / "b", options)
        h = _health(t)
        assert h.status is Severity.UNKNOWN and h.problems[0].check == "reach", url
        assert "hunter2pw" not in h.problems[0].message
    assert not (tmp_path / "missing").exists(), "check never creates a database"
