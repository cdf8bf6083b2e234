"""`recover --to TIME` stopped between its restore and its migrations, with real processes: the
mark it leaves (read by status, check, up and the next recover) and the one lock it holds
across both steps."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from malnu_tui.engine.backends.base import Backend
from malnu_tui.engine.backup import BackupProgress, create_backup, plan_recover, run_recover
from malnu_tui.engine.config import Target
from tests.backup_support import V1, V2, mset_of, up
from tests.fixtures_core import MigrationDirs, next_second, popen_cli, run_cli
from tests.fixtures_matrix import DbTarget

V2_FILE = "20250101_000200_fill_big.sql"
# Counts up from gate.n to 2e9: instant where gate.n is 2e9 (when `up` first ran it), minutes
# on the backup's gate.n = 0, which is the re-apply the recover is killed in. Once a takeover of
# the killed recover's lock is in the audit trail (the re-run recover's), instant again.
SLOW_ON_THE_BACKUP = """
CREATE TABLE big (x INTEGER);
WITH RECURSIVE c(x) AS (
  SELECT max(n, (SELECT count(*) * 2000000000 FROM malnu_audit WHERE action = 'unlock'))
  FROM gate
  UNION ALL SELECT x + 1 FROM c WHERE x < 2000000000
) INSERT INTO big SELECT x FROM c;
"""


def _applied(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT filename FROM migrations WHERE success ORDER BY 1")
        return [r[0] for r in rows]


def test_a_recover_killed_before_its_migrations_is_said_by_status_check_up_and_rerun(
    tmp_path: Path, mdirs: MigrationDirs
) -> None:
    """SIGKILL after the restore committed, while the re-applied migration runs: before, the
    database held the backup's data with that migration missing, `status` showed it merely
    pending, `check` was OK and `up` applied it (and every later file) onto the half-recovered
    database. Now each says the recover stopped half-way and to run it again, which finishes."""
    d = mdirs
    d.add(V1, "users_and_gate", "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT);\n"
          "CREATE TABLE gate (n INTEGER);\nINSERT INTO gate VALUES (0);",
          "DROP TABLE gate;\nDROP TABLE users;")  # fmt: skip
    d.add(V2, "fill_big", SLOW_ON_THE_BACKUP, "DROP TABLE big;")
    db = tmp_path / "school.db"
    env = {"XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    args = ["--database", f"sqlite:///{db}", *d.args()]

    def cli(*more: str) -> tuple[int, str, str]:
        r = run_cli(*args, *more, env=env)
        return r.code, r.out, r.err

    assert cli("up", "--to", V1, "--no-backup")[0] == 0
    assert cli("backup", "create")[0] == 0
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE gate SET n = 2000000000")
    assert cli("up", "--no-backup")[0] == 0  # V2, instant here
    next_second()  # audit times have one-second resolution: TIME in a second of its own
    when = datetime.now(UTC).isoformat()
    next_second()
    proc = popen_cli(*args, "recover", "--to", when, "--yes", env=env)
    assert proc.stderr is not None
    said = []
    for line in proc.stderr:  # synchronised on the re-apply starting: the restore committed
        said.append(line)
        if f"start: {V2_FILE}" in line:
            running = cli("status")  # a recover at work is not one stopped half-way
            os.kill(proc.pid, signal.SIGKILL)
            break
    assert proc.wait(timeout=60) == -signal.SIGKILL, "".join(said)
    proc.communicate()
    assert _applied(db) == [f"{V1}_users_and_gate.sql"]  # the backup's state
    assert "[recover to " in running[2] and "half-way" not in running[2], running

    code, _, err = cli("status")
    assert code == 0
    warning = next(line for line in err.splitlines() if "stopped half-way" in line)
    assert warning.startswith("warning: a recover to ") and "0 of 1 migration step(s)" in warning
    to = re.search(r"recover --to (\S+) .*` again", warning)
    assert to is not None, warning
    code, out, _ = cli("check")
    assert code == 2 and "CRITICAL" in out and "stopped half-way" in out, out
    code, _, err = cli("up", "--yes", "--no-backup")
    assert code == 1 and "stopped half-way" in err and "up refused" in err, err
    assert "Traceback" not in err and _applied(db) == [f"{V1}_users_and_gate.sql"]
    code, _, err = cli("up", "--dry-run")  # said in the preflight (a dry run said "would run")
    assert code == 1 and "up refused" in err, err
    code, _, err = cli("rollback", "--yes", "--no-backup")
    assert code == 1 and "rollback refused" in err, err

    code, _, err = cli("recover", "--to", to.group(1), "--yes")
    assert code == 0, err
    assert "this recover starts over" in err
    assert _applied(db) == [f"{V1}_users_and_gate.sql", V2_FILE]
    code, _, err = cli("status")
    assert code == 0 and "half-way" not in err, err
    assert cli("check")[0] == 0


def test_the_recovers_lock_is_not_released_between_its_restore_and_its_migrations(
    db: tuple[Target, Backend],
) -> None:
    """Another operator's `up` (a real process) the moment the recover's restore is done: the
    lock was released and taken again between the two steps, so that `up` ran onto the
    half-recovered database. Now it meets the recover's lock (exit 3) and nothing of it runs."""
    target, backend = db
    up(backend, target, V1)
    create_backup(backend, target)
    up(backend, target, V2)
    mset = mset_of(target)
    plan = plan_recover(backend, target, mset, datetime.now(UTC))
    assert [f[:15] for f in plan.reapply] == [V2]
    env = {"XDG_DATA_HOME": str(target.backup_dir.parent / "data")}
    other: list[tuple[int, str]] = []

    def progress(p: BackupProgress) -> None:
        if p.phase == "done" and p.message.startswith("restored "):
            dirs = ["--migrations-dir", str(target.migrations_dir)]
            dirs += ["--rollback-dir", str(target.rollback_dir)]
            r = run_cli("--database", target.url, *dirs, "up", "--yes", "--no-backup", env=env)
            other.append((r.code, r.err))

    result = run_recover(backend, target, mset, plan, progress=progress)
    assert other and other[0][0] == 3, other
    assert "recover to" in other[0][1]  # the holder's purpose names the recover
    assert [f[:15] for f in result.reapplied] == [V2]


def test_a_postgresql_recover_killed_before_its_migrations_leaves_the_mark(
    fresh_db: Callable[[str], DbTarget], tmp_path: Path, mdirs: MigrationDirs
) -> None:
    """PostgreSQL: the mark is inserted in the restore's own transaction (psql's), so the
    recover killed while its migration waits (here on an advisory lock the test holds) is
    said by status and refused by up; run again, it finishes."""
    import psycopg

    d, pg = mdirs, fresh_db("postgresql")
    d.add(V1, "users", "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT);",
          "DROP TABLE users;")  # fmt: skip
    d.add(V2, "gated", "SELECT pg_advisory_xact_lock(4242);\nCREATE TABLE big (x INTEGER);",
          "DROP TABLE big;")  # fmt: skip
    env = {"XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    args = ["--database", pg.url, *d.args()]

    def cli(*more: str) -> tuple[int, str, str]:
        r = run_cli(*args, *more, env=env)
        return r.code, r.out, r.err

    assert cli("up", "--to", V1, "--no-backup")[0] == 0
    assert cli("backup", "create")[0] == 0
    assert cli("up", "--no-backup")[0] == 0
    next_second()  # audit times have one-second resolution
    when = datetime.now(UTC).isoformat()
    next_second()
    with psycopg.connect(pg.url, autocommit=True) as gate:
        gate.execute("SELECT pg_advisory_lock(4242)")
        proc = popen_cli(*args, "recover", "--to", when, "--yes", env=env)
        assert proc.stderr is not None
        for line in proc.stderr:  # the restore committed; V2 cannot pass the gate
            if "start: 20250101_000200_gated.sql" in line:
                os.kill(proc.pid, signal.SIGKILL)
                break
        assert proc.wait(timeout=60) == -signal.SIGKILL
        proc.communicate()
        # The server notices the dead client only when it reads from it: end its session as
        # a DBA (or TCP keepalive) would, and wait until it is gone.
        waiting = (
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242 AND NOT granted"
        )
        for (pid,) in gate.execute(waiting).fetchall():
            gate.execute("SELECT pg_terminate_backend(%s, 30000)", (pid,))
    code, _, err = cli("status")
    assert code == 0 and "stopped half-way" in err and "0 of 1 migration step(s)" in err, err
    code, _, err = cli("up", "--yes", "--no-backup")
    assert code == 1 and "up refused" in err, err
    code, _, err = cli("recover", "--to", when, "--yes")
    assert code == 0, err
    code, _, err = cli("status")
    assert code == 0 and "half-way" not in err and "2 applied, 0 pending" in err, err


def test_what_closes_the_mark_and_what_does_not() -> None:
    """The mark is closed by the recover's `ok` row or a later restore (the undo with the
    pre-recover backup, or another recover's); a `failed` recover row (SIGTERM, a migration
    that failed) after it leaves it open: the database is half-way all the same."""
    from malnu_tui.engine.backends.base import AuditEntry
    from malnu_tui.engine.recover_state import half_done, started_row

    def row(n: int, action: str, outcome: str = "ok", detail: str = "") -> AuditEntry:
        return AuditEntry("2026-12-06 02:00:00", "ops", action, "x", outcome, detail, n)

    mark = started_row("2026-12-06T01:55:00+00:00", "B", "P", 2)
    mark = AuditEntry("2026-12-06 02:00:00", "ops", mark.action, mark.object, "ok", mark.detail, 3)
    half = half_done([row(1, "restore"), mark, row(4, "apply"), row(5, "recover", "failed")])
    assert half is not None and (half.backup_id, half.pre_recover_id) == ("B", "P")
    assert (half.ran, half.total) == (1, 2) and "1 of 2 migration step(s)" in half.describe()
    assert "backup restore P" in half.way_out
    assert half_done([mark, row(4, "apply"), row(5, "recover")]) is None
    assert half_done([mark, row(4, "restore")]) is None
    assert half_done([mark, row(4, "restore", "failed")]) is not None
    assert half_done([row(1, "recover"), row(2, "restore")]) is None


def test_a_recover_with_no_migration_to_run_leaves_no_mark(db: tuple[Target, Backend]) -> None:
    """Its restore is the whole recover: a mark there would call a recover killed before its
    `ok` row "half-way" with the database already as of TIME."""
    target, backend = db
    up(backend, target, V1)
    create_backup(backend, target)
    mset = mset_of(target)
    plan = plan_recover(backend, target, mset, datetime.now(UTC))
    assert plan.reapply == () and plan.rollback == ()
    run_recover(backend, target, mset, plan)
    assert backend.read_audit(action="recover-start") == []
    assert [e.outcome for e in backend.read_audit(action="recover")] == ["ok"]


def test_an_import_or_a_sync_into_a_database_a_recover_left_half_way_is_refused(
    tmp_path: Path,
) -> None:
    """Only `up` and `rollback` read the mark: an import (its preview too) loaded rows, and a
    sync wrote copies, into a database neither as before nor as of the recover's TIME. Both
    are now refused before anything is written, the way out named."""
    from malnu_tui.engine.backends.base import AuditEntry
    from malnu_tui.engine.config import open_backend
    from malnu_tui.engine.recover_state import started_row

    src, db = tmp_path / "primary.db", tmp_path / "school.db"
    for path in (src, db):
        with sqlite3.connect(path) as conn:
            conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT)")
            conn.execute("INSERT INTO users VALUES (1, 'a@malnu.sch.id')")
    target = Target("school", f"sqlite:///{db}", tmp_path, tmp_path, tmp_path)
    backend = open_backend(target)
    try:
        backend.ensure_schema()
        mark = started_row("2026-12-06T01:55:00+00:00", "B", "P", 1)
        backend.append_audit(AuditEntry.now(mark.action, mark.object, "ok", mark.detail))
    finally:
        backend.close()
    csv = tmp_path / "users.csv"
    csv.write_text("id,email\n2,b@malnu.sch.id\n")
    env = {"XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    cfg = tmp_path / "malnu.toml"
    cfg.write_text(
        f'[targets.primary]\nurl = "sqlite:///{src}"\n[targets.school]\nurl = "sqlite:///{db}"\n'
    )
    runs = [
        ("import", str(csv), "--table", "users", "--yes", "--no-backup"),
        ("import", str(csv), "--table", "users", "--dry-run"),
        ("sync", "--from", "primary", "--to", "school", "--yes"),
        ("sync", "--from", "primary", "--to", "school", "--dry-run"),
    ]
    for argv in runs:
        r = run_cli("--config", str(cfg), "--target", "school", *argv, env=env)
        assert r.code == 1, (argv, r.out, r.err)
        assert "stopped half-way" in r.err and "refused" in r.err, (argv, r.err)
        assert "backup restore P" in r.err and "Traceback" not in r.err, r.err
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM users").fetchone() == (1,)
        assert (
            conn.execute("SELECT name FROM sqlite_master WHERE name = 'malnu_sync'").fetchone()
            is None
        )
