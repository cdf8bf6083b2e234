"""The lease of the lock row (D1, SQLite): judged by the database's clock, never by the
clock of whichever machine reads it, and renewed while its holder runs. Operators' machines
with a wrong clock are real processes here: the CLI (or a holder script) runs with a
``sitecustomize`` that shifts its clock, as a laptop whose clock is set wrong would be."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from malnu_tui.engine.backends import lease
from malnu_tui.engine.backends.base import lock_holder_for_this_process, utc_now
from malnu_tui.engine.config import Target, open_backend
from malnu_tui.engine.errors import LockHeld, LockHolder
from tests.fixtures_core import CLI, REPO, MigrationDirs, run_cli, school_set
from tests.fixtures_d1 import D1Target
from tests.fixtures_matrix import DbTarget

_SKEW = """\
import datetime as _dt, os, time
_off = float(os.environ["MALNU_TEST_CLOCK_SKEW"])
_real = time.time
time.time = lambda: _real() + _off
class _Skewed(_dt.datetime):
    @classmethod
    def now(cls, tz=None):
        return _dt.datetime.fromtimestamp(time.time(), tz)
_dt.datetime = _Skewed
"""


def skewed_clock(tmp_path: Path, seconds: float) -> dict[str, str]:
    """The environment of a process whose machine's clock is ``seconds`` off."""
    site = tmp_path / "skewed-clock"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(_SKEW)
    return {"PYTHONPATH": str(site), "MALNU_TEST_CLOCK_SKEW": str(seconds)}


_HOLD = """\
import os, sys
from malnu_tui.engine.backends import lease
from malnu_tui.engine.backends.base import lock_holder_for_this_process, utc_now
from malnu_tui.engine.config import Target, open_backend
from malnu_tui.engine.errors import LockHolder
b = open_backend(Target("t", sys.argv[1], sys.argv[2], sys.argv[2], sys.argv[2], {}))
b.ensure_schema()
b.acquire_lock(LockHolder("ops@box-a", "box-a", 4242, utc_now(), note="import"))
os._exit(0)  # box-a goes on working (as far as anyone can see from another host)
"""


def test_a_clock_running_ahead_does_not_take_over_a_live_lease(
    d1: D1Target, mdirs: MigrationDirs, tmp_path: Path
) -> None:
    """Box-a holds the lock from another host, its lease fresh. An operator whose laptop clock
    runs 11 minutes ahead (a clock set by hand, a dual-boot machine) ran `up`: the lease looked
    expired by that clock, the live lock was taken over and both changed the database."""
    d = school_set(mdirs)
    a = open_backend(Target("t", d1.url, d.migrations, d.rollback, d.root, {}))
    a.ensure_schema()
    a.acquire_lock(LockHolder("ops@box-a", "box-a", 4242, utc_now(), note="import"))
    ahead = skewed_clock(tmp_path, 660)
    res = run_cli("--database", d1.url, *d.args(), "up", "--no-backup", env=ahead)
    assert res.code == 3, res.err
    assert "ops@box-a on box-a (pid 4242)" in res.err and "Traceback" not in res.err
    assert d1.sql("SELECT count(*) FROM migrations") == [(0,)]
    assert d1.sql("SELECT host FROM malnu_lock") == [("box-a",)]
    # Nor does `check` on such a machine call the lease overdue.
    res = run_cli("--database", d1.url, *d.args(), "check", env=ahead)
    assert "past its lease" not in res.out + res.err
    a.close()  # its own lock: released
    assert d1.sql("SELECT count(*) FROM malnu_lock") == [(0,)]


def test_a_lease_written_by_a_clock_running_behind_is_still_live(
    d1: D1Target, mdirs: MigrationDirs, tmp_path: Path
) -> None:
    """Box-a's clock runs 11 minutes behind: the lease it wrote had expired before it was
    written, and any other operator took its live lock at once."""
    env = {**d1.env, **skewed_clock(tmp_path, -660)}
    hold = [sys.executable, "-c", _HOLD, d1.url, str(mdirs.root)]
    done = subprocess.run(hold, env=env, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    b = open_backend(Target("t", d1.url, mdirs.migrations, mdirs.rollback, mdirs.root, {}))
    with pytest.raises(LockHeld, match=r"ops@box-a on box-a \(pid 4242\)"):
        b.acquire_lock(LockHolder("ops@box-b", "box-b", 1, utc_now()))
    b.close()
    assert d1.sql("SELECT host FROM malnu_lock") == [("box-a",)]


def test_the_lease_is_renewed_while_its_holder_works_through_one_long_step(
    d1: D1Target, mdirs: MigrationDirs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lease was renewed only between migrations (and after an import, never during a
    sync): an import, a sync or an export longer than the lease (10 minutes) had its live lock
    taken over from another host half-way, and two operators wrote at once."""
    monkeypatch.setattr(lease, "RENEW_EVERY_S", 0.05, raising=False)
    a = open_backend(Target("t", d1.url, mdirs.migrations, mdirs.rollback, mdirs.root, {}))
    a.ensure_schema()
    a.acquire_lock(LockHolder("ops@box-a", "box-a", 4242, utc_now(), note="import"))
    # Box-a is inside one long step, and the lease it took has run out by D1's clock.
    late = "UPDATE malnu_lock SET expires_at = datetime('now', '-1 minute')"
    b = open_backend(Target("t", d1.url, mdirs.migrations, mdirs.rollback, mdirs.root, {}))
    b.api.batch([late], lambda: False)
    deadline = time.monotonic() + 30
    while d1.sql("SELECT expires_at > datetime('now') FROM malnu_lock") != [(1,)]:
        assert time.monotonic() < deadline, "the lease was never renewed"
        time.sleep(0.05)
    with pytest.raises(LockHeld, match=r"ops@box-a on box-a \(pid 4242\)"):
        b.acquire_lock(LockHolder("ops@box-b", "box-b", 1, utc_now()))
    # Released, it is renewed no more: the keeper has stopped.
    a.release_lock()
    assert d1.sql("SELECT count(*) FROM malnu_lock") == [(0,)]
    assert not [t for t in threading.enumerate() if t.name == "malnu-lease"]
    a.close()
    b.close()


def _in_own_pid_namespace() -> list[str] | None:
    """``unshare`` argv that runs a command in a pid namespace of its own (a container started
    with ``docker run --network host``: the machine's name, its own pids), or None here."""
    argv = ["unshare", "--pid", "--fork", "--mount-proc"]
    try:
        ok = subprocess.run([*argv, "true"], capture_output=True, timeout=30).returncode == 0
    except OSError:
        return None
    return argv if ok else None


def test_a_holder_in_another_pid_namespace_of_this_host_is_not_taken_for_dead(
    fresh_db: Callable[[str], DbTarget], mdirs: MigrationDirs
) -> None:
    """`docker run --network host` keeps the machine's host name, with pids of its own: an
    operator in such a container looked the live holder's pid up in its own namespace, found
    nothing, "took over a stale lock" and ran (on PostgreSQL: ended the holder's session)."""
    unshare = _in_own_pid_namespace()
    if unshare is None:
        pytest.skip("no pid namespace can be made here (unshare needs root or user namespaces)")
    d = school_set(mdirs)
    for kind in ("sqlite", "postgresql"):
        db = fresh_db(kind)
        a = db.open(d)
        a.acquire_lock(lock_holder_for_this_process("import"))  # alive, on this machine
        argv = [*unshare, *CLI, "--database", db.url, *d.args(), "up", "--no-backup"]
        res = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=REPO)
        assert res.returncode == 3, (kind, res.stderr)
        assert f"(pid {os.getpid()})" in res.stderr and "took over" not in res.stderr
        assert a.fetch_records() == []
        a.release_lock()
        a.close()


def test_unlock_says_a_lock_from_another_host_may_be_live(
    d1: D1Target, mdirs: MigrationDirs
) -> None:
    """`unlock` warned about a live holder on this host only: a lock taken a minute ago on
    another laptop, its lease running, was offered for release as if it were stale."""
    a = open_backend(Target("t", d1.url, mdirs.migrations, mdirs.rollback, mdirs.root, {}))
    a.ensure_schema()
    a.acquire_lock(LockHolder("ops@box-a", "box-a", 4242, utc_now(), note="import"))
    res = run_cli("--database", d1.url, *mdirs.args(), "unlock")
    assert res.code == 2, res.err  # no terminal to confirm on
    assert "held from another host (box-a): whether pid 4242 still runs cannot be seen" in res.err
    assert re.search(r"its lease runs until \S+ \S+ UTC", res.err), res.err
    assert d1.sql("SELECT host FROM malnu_lock") == [("box-a",)]
    a.close()


def test_a_d1_import_whose_lock_was_released_mid_run_writes_nothing(
    d1: D1Target, mdirs: MigrationDirs, tmp_path: Path
) -> None:
    """Box-b released box-a's lock (`unlock --yes`) while box-a's import was reading, and
    started its own work. Box-a's import went on to write its rows into the table all the
    same, then said exit 3: two operators had changed the database."""
    from malnu_tui.engine.data import ImportRequest, open_csv, run_import
    from malnu_tui.engine.errors import LockLost
    from malnu_tui.engine.migrate import unlock

    target = Target("t", d1.url, mdirs.migrations, mdirs.rollback, mdirs.root, {})
    a, b = open_backend(target), open_backend(target)
    b.ensure_schema()
    b.api.batch(["CREATE TABLE kelas (id INTEGER PRIMARY KEY, nama TEXT NOT NULL)"], lambda: False)  # type: ignore[attr-defined]
    csv_file = tmp_path / "kelas.csv"
    csv_file.write_text("id,nama\n1,X IPA 1\n2,X IPS 2\n")
    request = ImportRequest(table="kelas", file=csv_file)

    def box_b_steps_in(event: object) -> None:
        if getattr(event, "phase", "") == "commit":
            unlock(b)
            b.acquire_lock(LockHolder("ops@box-b", "box-b", 1, utc_now(), note="up"))

    with pytest.raises((LockLost, LockHeld)):
        run_import(a, request, open_csv(request), progress=box_b_steps_in)
    assert d1.sql("SELECT count(*) FROM kelas") == [(0,)]
    assert d1.sql("SELECT host FROM malnu_lock") == [("box-b",)]
    a.close()
    b.release_lock()
    b.close()


def test_a_d1_sync_whose_lock_was_released_mid_run_stops_writing(
    tmp_path: Path, request: pytest.FixtureRequest, mdirs: MigrationDirs
) -> None:
    """The same for a sync into D1: it wrote every chunk after its lock was released and
    another operator had taken it, and never noticed (the sync never looked at its lock)."""
    from malnu_tui.engine.migrate import unlock
    from tests.sync_support import make_db, sqlite_source, sync

    src, dst = sqlite_source(tmp_path), make_db("d1", request, tmp_path, "d1")
    src.create_users(6)
    b = open_backend(dst.target("analytics"))
    b.ensure_schema()
    chunks: list[int] = []

    def box_b_steps_in(event: object) -> None:
        if getattr(event, "phase", "") == "copy" and not chunks:
            chunks.append(getattr(event, "rows", 0))
            unlock(b)
            b.acquire_lock(LockHolder("ops@box-b", "box-b", 1, utc_now(), note="up"))

    with pytest.raises(LockHeld, match=r"ops@box-b .*\(this session's lock was taken over\)"):
        sync(src, dst, box_b_steps_in, chunk_rows=2, full=True)
    assert chunks and dst.count() == chunks[0] < 6  # nothing written after box-b took over
    b.release_lock()
    b.close()


def test_a_sqlite_import_or_sync_whose_lock_was_released_mid_run_commits_nothing(
    tmp_path: Path, mdirs: MigrationDirs
) -> None:
    """On a SQLite file a migration never commits once its lock row is gone (an `unlock
    --yes` of a live process, with its note); an import or a sync did: released during the
    import's safety backup, the lock was taken by another operator, who rolled a migration
    back, and the import then committed beside it with exit 0 (seen with real processes)."""
    from malnu_tui.engine.data import ImportRequest, open_csv, run_import
    from malnu_tui.engine.errors import LockLost
    from malnu_tui.engine.migrate import unlock
    from tests.sync_support import make_db, sqlite_source, sync

    url = f"sqlite:///{tmp_path / 'school.db'}"
    target = Target("t", url, mdirs.migrations, mdirs.rollback, mdirs.root, {})
    a, b = open_backend(target), open_backend(target)
    b.ensure_schema()
    b.conn.execute("CREATE TABLE kelas (id INTEGER PRIMARY KEY, nama TEXT NOT NULL)")  # type: ignore[attr-defined]
    csv_file = tmp_path / "kelas.csv"
    csv_file.write_text("id,nama\n1,X IPA 1\n2,X IPS 2\n")
    request = ImportRequest(table="kelas", file=csv_file)

    def released_during_the_backup(_reason: str) -> str | None:
        unlock(b)  # box-b: `unlock --yes`, then its own work
        b.acquire_lock(LockHolder("ops@box-b", "box-b", 1, utc_now(), note="up"))
        b.release_lock()
        return None

    with pytest.raises(LockLost):
        run_import(a, request, open_csv(request), safety_backup=released_during_the_backup)
    assert b.row_count("kelas") == 0
    a.close()
    b.close()

    # A sync into a SQLite file: no chunk after the release commits.
    src, dst = sqlite_source(tmp_path), make_db("sqlite", None, tmp_path, "copy")  # type: ignore[arg-type]
    src.create_users(6)
    other = open_backend(dst.target("analytics"))
    other.ensure_schema()
    chunks: list[int] = []

    def box_b_steps_in(event: object) -> None:
        if getattr(event, "phase", "") == "copy" and not chunks:
            chunks.append(getattr(event, "rows", 0))
            unlock(other)

    with pytest.raises(LockLost):
        sync(src, dst, box_b_steps_in, chunk_rows=2, full=True)
    assert chunks and dst.count() == chunks[0] < 6
    other.close()


def test_a_migration_failing_after_its_lock_was_taken_records_nothing_over_the_new_holder(
    tmp_path: Path, mdirs: MigrationDirs
) -> None:
    """On a SQLite file, box-a's `up` lost its lock during its safety backup (box-b's `unlock
    --yes`, then box-b's own `up` applied the same migration). Box-a's run of it then failed
    ("table … already exists") and wrote its failure over box-b's tracking row: the applied
    migration read *failed*, and every later `up` failed on it. Now the failure is written
    only while the lock is box-a's: LockLost (exit 3), box-b's row left as it was."""
    from malnu_tui.engine.errors import LockLost
    from malnu_tui.engine.files import discover
    from malnu_tui.engine.migrate import apply_plan, plan_up, status, unlock

    mdirs.add("20250101_000100", "kelas", "CREATE TABLE kelas (id INTEGER);", "DROP TABLE kelas;")
    url = f"sqlite:///{tmp_path / 'school.db'}"
    target = Target("t", url, mdirs.migrations, mdirs.rollback, mdirs.root, {})
    a, b = open_backend(target), open_backend(target)
    mset = discover(mdirs.migrations, mdirs.rollback)

    def taken_during_the_backup(_reason: str) -> str | None:
        unlock(b)  # box-b: `unlock --yes`, then its own `up`
        assert [f for f, _ms in apply_plan(b, mset, plan_up(b, mset)).done] == [
            "20250101_000100_kelas.sql"
        ]
        return None

    with pytest.raises(LockLost) as lost:
        apply_plan(a, mset, plan_up(a, mset), safety_backup=taken_during_the_backup)
    assert lost.value.__notes__ == [
        "20250101_000100_kelas.sql failed meanwhile, not recorded: line 1: table kelas already "
        "exists"
    ]
    rows = {m.filename: m.state.value for m in status(b, mset).migrations}
    assert rows == {"20250101_000100_kelas.sql": "applied"}
    failed = [e for e in b.read_audit() if e.outcome == "failed" and e.action == "apply"]
    assert failed == []
    a.close()
    b.close()
