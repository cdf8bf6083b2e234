"""One preflight per destructive operation, on SQLite, PostgreSQL and the local D1 server: every
problem as a value before anything is asked, a live holder named (exit 3), a dead holder's lock
taken over (audited), drift in the range told from drift elsewhere, a rollback planned again
under the lock (never a different plan than the one confirmed, also with two real processes),
and the before-image of every row repair/clear-failed/unlock change."""

from __future__ import annotations

import json
import os
import pty
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from malnu_tui.engine.backends.base import AuditEntry, Backend, lock_holder_for_this_process
from malnu_tui.engine.config import Target, open_backend
from malnu_tui.engine.errors import LockHolder, PlanChanged
from malnu_tui.engine.files import discover
from malnu_tui.engine.migrate import (
    apply_plan,
    clear_failed,
    plan_rollback,
    plan_up,
    repair,
    unlock,
)
from malnu_tui.engine.plan import Drift, LiveLock, MissingRollbackFiles, StaleLock, is_confirmed
from malnu_tui.engine.preflight import preflight_rollback, preflight_unlock
from tests.fixtures_core import CLI, REPO, MigrationDirs, run_cli, school_set


@pytest.fixture(params=["sqlite", "postgresql", "d1"])
def any_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh empty database of every kind: SQLite file, PostgreSQL, the local D1 server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'primary.db'}"
    elif request.param == "postgresql":
        yield request.getfixturevalue("pg_url")
    else:
        yield request.getfixturevalue("d1_url")


def _target(url: str, d: MigrationDirs) -> Target:
    return Target("t", url, d.migrations, d.rollback, d.root / "backups")


def _applied(d: MigrationDirs, url: str) -> tuple[Target, Backend]:
    school_set(d)
    target = _target(url, d)
    backend = open_backend(target)
    mset = discover(d.migrations, d.rollback)
    apply_plan(backend, mset, plan_up(backend, mset))
    return target, backend


def _dead_pid() -> int:
    gone = subprocess.Popen(["true"])
    gone.wait()
    return gone.pid


def test_live_holder_blocks_and_is_named_with_what_it_does(
    any_url: str, mdirs: MigrationDirs
) -> None:
    target, backend = _applied(mdirs, any_url)
    other = open_backend(target)
    other.acquire_lock(lock_holder_for_this_process("rollback of 2 migration(s) from x.sql"))
    try:
        (mdirs.rollback / "20250101_000300_undo_index_posts.sql").unlink()
        mset = discover(mdirs.migrations, mdirs.rollback)
        pf = preflight_rollback(backend, target, mset, steps=1)
        kinds = [type(p) for p in pf.blocking]
        assert kinds == [LiveLock, MissingRollbackFiles]  # every problem, not the first one
        text = pf.blocking[0].describe()
        assert f"pid {os.getpid()}" in text and socket.gethostname() in text
        assert "doing rollback of 2 migration(s) from x.sql" in text
        err = pf.error()
        assert err is not None and err.exit_code == 3
    finally:
        other.close()
        backend.close()


def test_dead_holders_lock_is_taken_over_and_audited(any_url: str, mdirs: MigrationDirs) -> None:
    target, backend = _applied(mdirs, any_url)
    pid = _dead_pid()
    other = open_backend(target)  # its session stays open on PostgreSQL: only its client died
    other.acquire_lock(LockHolder("ops@box", socket.gethostname(), pid, "2026-01-01 00:00:00"))
    try:
        mset = discover(mdirs.migrations, mdirs.rollback)
        pf = preflight_rollback(backend, target, mset, steps=1)
        assert pf.ok
        (notice,) = [p.describe() for p in pf.notices]
        assert notice.startswith(
            f"pid {pid} is not running: its lock will be taken over (audited); it was the lock "
            f"of ops@box on {socket.gethostname()} (pid {pid}) since 2026-01-01 00:00:00 UTC"
        )
        assert isinstance(pf.notices[0], StaleLock)
        assert pf.plan is not None
        result = apply_plan(backend, mset, pf.plan)
        assert [f for f, _ms in result.done] == ["20250101_000300_index_posts.sql"]
        details = [e.detail for e in backend.read_audit(action="unlock")]
        assert any(f"pid {pid} is not running" in d for d in details), details
        assert backend.read_lock() is None
    finally:
        other.close()
        backend.close()


def test_drift_in_the_range_blocks_drift_elsewhere_warns(
    any_url: str, mdirs: MigrationDirs
) -> None:
    target, backend = _applied(mdirs, any_url)
    try:
        first = mdirs.migrations / "20250101_000100_create_users.sql"
        first.write_text(first.read_text() + "-- edited\n")
        mset = discover(mdirs.migrations, mdirs.rollback)
        pf = preflight_rollback(backend, target, mset, steps=1)
        assert pf.ok and [type(p) for p in pf.notices] == [Drift]
        assert "outside the range" in pf.notices[0].describe()
        pf = preflight_rollback(backend, target, mset, steps=3)
        assert [type(p) for p in pf.blocking] == [Drift]
        assert "in the range" in pf.blocking[0].describe()
        pf = preflight_rollback(backend, target, mset, steps=4)  # more than are applied
        assert not pf.ok and "only 3 migration(s) are applied" in pf.blocking[0].describe()
    finally:
        backend.close()


def test_rollback_planned_again_under_the_lock_refuses_a_changed_plan(
    any_url: str, mdirs: MigrationDirs
) -> None:
    target, backend = _applied(mdirs, any_url)
    other = open_backend(target)
    try:
        mset = discover(mdirs.migrations, mdirs.rollback)
        confirmed = plan_rollback(backend, mset, steps=1)
        # Meanwhile another operator applies a newer migration.
        mdirs.add(
            "20250101_000400", "later", "CREATE TABLE later (n INTEGER);", "DROP TABLE later;"
        )
        mset = discover(mdirs.migrations, mdirs.rollback)
        apply_plan(other, mset, plan_up(other, mset))
        with pytest.raises(PlanChanged) as info:
            apply_plan(backend, mset, confirmed)
        assert "20250101_000400_later.sql" in str(info.value) and info.value.exit_code == 1
        assert len([r for r in backend.fetch_records() if r.success]) == 4  # nothing ran
        refused = backend.read_audit(action="rollback")
        assert refused and refused[0].outcome == "refused"
    finally:
        other.close()
        backend.close()


def test_up_planned_before_another_operator_rolled_back_runs_nothing(
    any_url: str, mdirs: MigrationDirs
) -> None:
    """`up` planned the newest pending migration; another operator rolled the one below it
    back before the lock was taken. The plan ran all the same, out of order, said "applied 1"
    and exit 0 with an older migration left pending behind it. Like a rollback, `up` now checks
    its plan again under the lock."""
    target, backend = _applied(mdirs, any_url)
    other = open_backend(target)
    try:
        mdirs.add(
            "20250101_000400", "mapel", "CREATE TABLE mapel (n INTEGER);", "DROP TABLE mapel;"
        )
        mset = discover(mdirs.migrations, mdirs.rollback)
        planned = plan_up(backend, mset)
        assert [s.filename for s in planned.steps] == ["20250101_000400_mapel.sql"]
        apply_plan(other, mset, plan_rollback(other, mset, steps=1))  # meanwhile
        with pytest.raises(PlanChanged, match=r"20250101_000300_index_posts\.sql") as info:
            apply_plan(backend, mset, planned)
        assert info.value.exit_code == 1
        done = {r.filename for r in backend.fetch_records() if r.success}
        assert "20250101_000400_mapel.sql" not in done  # nothing ran
    finally:
        other.close()
        backend.close()


def test_before_images_of_repair_clear_failed_and_unlock(
    any_url: str, mdirs: MigrationDirs
) -> None:
    target, backend = _applied(mdirs, any_url)
    try:
        mset = discover(mdirs.migrations, mdirs.rollback)
        before = {r.filename: r for r in backend.fetch_records()}
        f = mdirs.migrations / "20250101_000300_index_posts.sql"
        f.write_text(f.read_text() + "-- edited\n")
        repair(backend, discover(mdirs.migrations, mdirs.rollback))
        detail = backend.read_audit(action="repair")[0].detail
        image = json.loads(detail.split("before: ", 1)[1])
        assert image["checksum"] == before[f.name].checksum and image["success"] is True
        backend.record_failure(
            "20250101_000900_bad.sql",
            "c0ffee",
            "line 2: boom",
            0,
            AuditEntry.now("apply", "x", "failed"),
        )
        clear_failed(backend, "20250101_000900_bad.sql")
        detail = backend.read_audit(action="clear-failed")[0].detail
        image = json.loads(detail.split("before: ", 1)[1])
        assert image["filename"] == "20250101_000900_bad.sql"
        assert image["error_message"] == "line 2: boom" and image["checksum"] == "c0ffee"
        other = open_backend(target)
        other.acquire_lock(lock_holder_for_this_process("apply of 1 migration(s)"))
        try:
            assert preflight_unlock(backend, target).lock is not None
            unlock(backend)
        finally:
            other.close()
        detail = backend.read_audit(action="unlock")[0].detail
        image = json.loads(detail.split("before: ", 1)[1])
        assert image["pid"] == os.getpid() and image["host"] == socket.gethostname()
        assert mset.migrations
    finally:
        backend.close()


def test_typed_confirmation_rule() -> None:
    assert is_confirmed(" school \n", "school")
    assert not is_confirmed("School", "school") and not is_confirmed("", "school")


# -- the CLI, as a process ------------------------------------------------------------------


def test_cli_refuses_before_asking_when_a_live_operator_holds_the_lock(
    any_url: str, mdirs: MigrationDirs
) -> None:
    target, backend = _applied(mdirs, any_url)
    other = open_backend(target)
    other.acquire_lock(lock_holder_for_this_process("apply of 3 migration(s)"))
    try:
        # No terminal and no --yes would be exit 2 at the prompt: exit 3 proves it never asked.
        res = run_cli("--database", any_url, *mdirs.args(), "rollback")
        assert res.code == 3, res.err
        assert "Type the database name" not in res.err and "refusing" not in res.err
        assert f"pid {os.getpid()}" in res.err and "apply of 3 migration(s)" in res.err
    finally:
        other.close()
    assert len(backend.fetch_records()) == 3
    backend.close()


def test_cli_rollback_takes_over_a_dead_holders_lock(any_url: str, mdirs: MigrationDirs) -> None:
    target, backend = _applied(mdirs, any_url)
    pid = _dead_pid()
    other = open_backend(target)
    other.acquire_lock(
        LockHolder(
            "ops@box", socket.gethostname(), pid, "2026-01-01 00:00:00", note="rollback of 2"
        )
    )
    try:
        res = run_cli("--database", any_url, *mdirs.args(), "rollback", "--yes", "--no-backup")
        assert res.code == 0, res.err
        assert f"pid {pid} is not running: its lock will be taken over" in res.err
        # Whose it was and what it was doing when it died: a rollback killed half-way.
        assert f"it was the lock of ops@box on {socket.gethostname()} (pid {pid})" in res.err
        assert "[rollback of 2" in res.err
    finally:
        other.close()
    assert [r.filename for r in backend.fetch_records()] == [
        "20250101_000100_create_users.sql",
        "20250101_000200_create_posts.sql",
    ]
    details = [e.detail for e in backend.read_audit(action="unlock")]
    assert any(f"pid {pid} is not running" in d for d in details)
    backend.close()


def test_two_processes_a_rollback_confirmed_before_an_up_rolls_back_nothing(
    any_url: str, mdirs: MigrationDirs
) -> None:
    """Issue 10.1 with two real processes: a rollback waits at its typed confirmation while
    another operator applies a newer migration; once confirmed it plans again under the lock,
    sees a different plan, and runs nothing (exit 1)."""
    _, backend = _applied(mdirs, any_url)
    name = backend.name
    primary, replica = pty.openpty()
    proc = subprocess.Popen(
        [*CLI, "--database", any_url, *mdirs.args(), "rollback", "--no-backup"],
        stdin=replica,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO,
        text=True,
    )
    os.close(replica)
    try:
        assert proc.stderr is not None
        seen = ""
        deadline = time.monotonic() + 60
        while "Type the database name" not in seen and time.monotonic() < deadline:
            seen += proc.stderr.read(1)
        assert "Type the database name" in seen, seen
        # The other operator, as its own process, applies a newer migration.
        mdirs.add(
            "20250101_000400", "later", "CREATE TABLE later (n INTEGER);", "DROP TABLE later;"
        )
        res = run_cli("--database", any_url, *mdirs.args(), "up", "--no-backup")
        assert res.code == 0, res.err
        os.write(primary, f"{name}\n".encode())
        _out, err = proc.communicate(timeout=60)
    finally:
        os.close(primary)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1, seen + err
    assert "nothing was run" in err and "20250101_000400_later.sql" in err
    applied = sorted(r.filename for r in backend.fetch_records() if r.success)
    assert applied[-2:] == ["20250101_000300_index_posts.sql", "20250101_000400_later.sql"]
    backend.close()
    assert sys.executable  # the CLI ran under this interpreter


def test_cli_restore_refuses_before_asking_when_the_lock_is_held(
    sqlite_url: str, mdirs: MigrationDirs
) -> None:
    target, backend = _applied(mdirs, sqlite_url)
    res = run_cli("--database", sqlite_url, *mdirs.args(), "backup", "create", "--json")
    assert res.code == 0, res.err
    backup_id = json.loads(res.out)["id"]
    other = open_backend(target)
    other.acquire_lock(lock_holder_for_this_process("apply of 1 migration(s)"))
    try:
        res = run_cli("--database", sqlite_url, *mdirs.args(), "backup", "restore", backup_id)
        assert res.code == 3, res.err
        assert "Type the database name" not in res.err and "apply of 1 migration(s)" in res.err
    finally:
        other.close()
        backend.close()
