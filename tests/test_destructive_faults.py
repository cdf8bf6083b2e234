"""Destructive paths under crashes and resource failures, as operators meet them: a backup
store that cannot be a directory, a full disk during an import, an application holding the
SQLite file's write lock, a signal arriving after a restore has committed. Each leaves the
database fully before or fully after, says one clear line, and never lists a half backup."""

from __future__ import annotations

import os
import resource
import select
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from malnu_tui.engine.backends.sqlite import SQLiteBackend
from malnu_tui.engine.backup import (
    BackupProgress,
    create_backup,
    delete_backup,
    list_backups,
    plan_prune,
    plan_recover,
    prune_backups,
    restore_backup,
    run_recover,
)
from malnu_tui.engine.config import Target, url_slug
from malnu_tui.engine.data import ImportRequest, open_csv, run_import
from malnu_tui.engine.errors import DatabaseBusy
from malnu_tui.engine.migrate import apply_plan, plan_up, unlock
from malnu_tui.engine.safety import record_skipped_backup
from tests.backup_support import V1, V2, execute, make_target, mset_of, open_fresh, up
from tests.d1server import Fault
from tests.fixtures_core import (
    CLI,
    REPO,
    CliResult,
    MigrationDirs,
    next_second,
    popen_cli,
    run_cli,
    school_set,
    stop_if_running,
)
from tests.fixtures_d1 import D1Target
from tests.inproc import run_inproc
from tests.test_processes import slow_sql
from tests.test_reliability import one_error


def _file_size_limit(limit: int) -> Callable[[], None]:
    """A child's ``preexec_fn``: no file it writes may grow past ``limit`` bytes, as on a full
    disk or quota (root ignores permissions, not this). Python ignores SIGXFSZ, so the write
    fails with EFBIG and SQLite says ``disk I/O error``."""

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def run_limited(limit: int, *args: str, env: dict[str, str] | None = None) -> CliResult:
    proc = subprocess.run(
        [*CLI, *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
        cwd=REPO,
        preexec_fn=_file_size_limit(limit),
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def _applied(db: Path) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        return [r[0] for r in conn.execute("SELECT filename FROM migrations ORDER BY 1")]
    finally:
        conn.close()


@pytest.mark.parametrize("blocked", ["parent", "store"])
def test_a_backup_store_that_cannot_be_a_directory_is_one_line_and_nothing_changes(
    tmp_path: Path, mdirs: MigrationDirs, blocked: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MALNU_BACKUP_DIR naming a file (or the store's own folder being a file): `backup
    create`, and the safety backup of an emergency `rollback`, ended in a traceback
    (NotADirectoryError / FileExistsError). Now: exit 2, one line naming the file, the
    database untouched."""
    d = school_set(mdirs)
    db = tmp_path / "primary.db"
    base = ["--database", f"sqlite:///{db}", *d.args()]
    assert run_inproc(*base, "up", "--to", "20250101_000200", "--no-backup").code == 0
    before = _applied(db)
    root = tmp_path / "backups"
    if blocked == "parent":
        root.write_text("not a folder\n")
        culprit = root
    else:
        root.mkdir()
        culprit = root / url_slug(f"sqlite:///{db}")
        culprit.write_text("not a folder\n")
    monkeypatch.setenv("MALNU_BACKUP_DIR", str(root))
    for argv in (["backup", "create"], ["rollback", "--yes"]):
        res = run_inproc(*base, *argv)
        assert res.code == 2, (argv, res.err)
        one_error(res.err, f"{culprit} is a file, not a directory", "nothing was changed")
        assert "MALNU_BACKUP_DIR" in res.err
    assert _applied(db) == before
    assert culprit.read_text() == "not a folder\n"


def test_an_import_into_sqlite_on_a_full_disk_is_rolled_back_and_said_in_one_line(
    tmp_path: Path, mdirs: MigrationDirs
) -> None:
    """The disk filled up while an import wrote its rows: a traceback (sqlite3.OperationalError:
    disk I/O error), and no audit row of the failed import. Now: exit 1, one line saying the
    import was rolled back, a hint about the disk; no row written, the lock released, audited."""
    mdirs.add("20250101_000100", "notes", "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);")
    db = tmp_path / "primary.db"
    base = ["--database", f"sqlite:///{db}", *mdirs.args()]
    assert run_cli(*base, "up", "--no-backup").code == 0
    csv = tmp_path / "notes.csv"
    csv.write_text("id,body\n" + "".join(f"{i},{'x' * 200}\n" for i in range(5000)))
    res = run_limited(
        400_000, *base, "import", str(csv), "--table", "notes", "--no-backup", "--yes"
    )
    assert res.code == 1, res.err
    one_error(res.err, str(db), "the import was rolled back, no row of it was written")
    assert "may be full" in res.err
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("SELECT count(*) FROM notes").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM malnu_lock").fetchone() == (0,)
        failed = conn.execute(
            "SELECT detail FROM malnu_audit WHERE action = 'import' AND outcome = 'failed'"
        ).fetchall()
        assert failed and "rolled back" in failed[0][0], failed
    finally:
        conn.close()


def test_delete_and_prune_while_the_app_holds_the_write_lock_delete_nothing(
    tmp_path: Path,
) -> None:
    """The school application holds the SQLite file's write lock as `backup delete` (or a
    cron `backup prune`) runs: the files went, then the audit row could not be written, and
    the command said "busy … run the command again" (exit 3) for a backup already gone and
    missing from the trail. Now the audit row is written first: busy means nothing deleted."""
    target = make_target(tmp_path, f"sqlite:///{tmp_path / 'school.db'}")
    backend = open_fresh(target)
    made = [create_backup(backend, target) for _ in range(3)]
    backend.close()
    ids = sorted(m.id for m in made)
    app = sqlite3.connect(tmp_path / "school.db", isolation_level=None)
    app.execute("BEGIN IMMEDIATE")
    backend = SQLiteBackend(tmp_path / "school.db", busy_timeout=0.2)
    try:
        with pytest.raises(DatabaseBusy) as busy:
            delete_backup(target.backup_dir, ids[0], backend=backend, target=target)
        assert busy.value.exit_code == 3
        plan = plan_prune(target.backup_dir, keep=1, target=target)
        assert len(plan.delete) == 2
        with pytest.raises(DatabaseBusy):
            prune_backups(target.backup_dir, plan, backend=backend)
        assert sorted(m.id for m in list_backups(target.backup_dir)) == ids
        assert len(list(target.backup_dir.glob("*.sqlite"))) == 3
        app.execute("ROLLBACK")
        delete_backup(target.backup_dir, ids[0], backend=backend, target=target)
        assert [e.object for e in backend.read_audit(action="backup-delete")] == [ids[0]]
        assert sorted(m.id for m in list_backups(target.backup_dir)) == ids[1:]
    finally:
        app.close()
        backend.close()


def _interrupt_at_commit(said: list[BackupProgress]) -> Callable[[BackupProgress], None]:
    """A progress callback that is Ctrl-C arriving as the restore's last step returns (the
    restore has committed then): raised where a signal's KeyboardInterrupt is, in Python code
    running right after the C call, at most once."""

    def progress(p: BackupProgress) -> None:
        said.append(p)
        done = p.phase == "restore" and p.total and p.done == p.total
        if done and not any(q.phase == "interrupt" for q in said):
            said.append(BackupProgress("interrupt", 0, 0, ""))
            raise KeyboardInterrupt

    return progress


def _school_with_backup(tmp_path: Path) -> tuple[Target, SQLiteBackend, str]:
    """V1 applied with a row "before" in it, a backup of that, then a row "after" written."""
    target = make_target(tmp_path, f"sqlite:///{tmp_path / 'school.db'}")
    backend = SQLiteBackend(tmp_path / "school.db", busy_timeout=1.0)
    backend.ensure_schema()
    up(backend, target, to=V1)
    backend.conn.execute("INSERT INTO users (id, email) VALUES (1, 'before@malnu.sch.id')")
    made = create_backup(backend, target)
    backend.conn.execute("INSERT INTO users (id, email) VALUES (2, 'after@malnu.sch.id')")
    return target, backend, made.id


def _emails(backend: SQLiteBackend) -> list[str]:
    return [r[0] for r in backend.conn.execute("SELECT email FROM users ORDER BY id")]


def _last_run(backend: SQLiteBackend, op: str) -> str:
    return next(e.outcome for e in backend.read_audit(action="run") if e.object.startswith(op))


def test_ctrl_c_after_a_sqlite_restore_committed_reports_it_done(tmp_path: Path) -> None:
    """Ctrl-C or SIGTERM landing as the restore's last step committed: the database WAS
    restored, yet the command said "terminated" (exit 143) and the run was recorded failed.
    Now the restore is reported done (with the id that undoes it), with a warning saying the
    interrupt came too late to undo it; the lock is released."""
    target, backend, backup_id = _school_with_backup(tmp_path)
    said: list[BackupProgress] = []
    try:
        try:
            result = restore_backup(backend, target, backup_id, progress=_interrupt_at_commit(said))
        except KeyboardInterrupt:
            pytest.fail("the restore had committed, and was reported interrupted")
        assert any(p.phase == "interrupt" for p in said), "the interrupt came"
        assert _emails(backend) == ["before@malnu.sch.id"]
        assert [w for w in result.warnings if "too late to undo it" in w], result.warnings
        assert result.pre_restore_id in {m.id for m in list_backups(target.backup_dir)}
        assert backend.read_lock() is None
        assert _last_run(backend, "restore") == "ok"
    finally:
        backend.close()


def test_ctrl_c_as_a_recovers_restore_committed_stops_it_half_way_and_says_so(
    tmp_path: Path,
) -> None:
    """The same interrupt inside `recover`: the backup was restored and the command said only
    "interrupted", not that the recover had stopped half way and how to undo it. Now it stops
    there and says so (the re-applied migrations not run), as any later interrupt does."""
    target, backend, _backup_id = _school_with_backup(tmp_path)
    mset = mset_of(target)
    next_second()  # the audit trail's times have one-second resolution
    record_skipped_backup(backend, "up")
    apply_plan(backend, mset, plan_up(backend, mset, V2))
    plan = plan_recover(backend, target, mset, datetime.now(UTC))
    assert plan.reapply == (mset.find(V2).filename,)
    said: list[BackupProgress] = []
    try:
        with pytest.raises(KeyboardInterrupt):
            run_recover(backend, target, mset, plan, progress=_interrupt_at_commit(said))
        stopped = [p.message for p in said if p.phase == "failed"]
        assert stopped and "the recover stopped half-way" in stopped[0], said
        assert "0 of 1 migration(s) re-run" in stopped[0]
        assert _emails(backend) == ["before@malnu.sch.id"]
        assert "posts" not in backend.table_names()
        assert backend.read_audit(action="recover")[0].outcome == "failed"
        assert backend.read_lock() is None
    finally:
        backend.close()


def test_a_restore_killed_after_its_commit_leaves_a_lock_row_that_says_restore(
    tmp_path: Path,
) -> None:
    """A SQLite restore carries the live lock row (its own) into the restored file; it was
    carried without its purpose, so a restore SIGKILLed between its COMMIT and the lock's
    release left a row saying who but not what ("[restore]") to the next operator."""
    target, backend, backup_id = _school_with_backup(tmp_path)
    seen: list[tuple[str, ...]] = []

    def progress(p: BackupProgress) -> None:
        if p.phase == "restore" and p.total and p.done == p.total:  # committed, still held
            other = sqlite3.connect(tmp_path / "school.db")
            seen.extend(other.execute("SELECT owner, purpose FROM malnu_lock").fetchall())
            other.close()

    try:
        restore_backup(backend, target, backup_id, progress=progress)
    finally:
        backend.close()
    assert len(seen) == 1 and seen[0][1] == "restore", seen


def test_a_sqlite_restore_on_a_full_disk_names_the_disk_not_another_process(
    tmp_path: Path,
) -> None:
    """The live file's disk fills up while a restore writes the database (its WAL grows by the
    whole backup): the database was unchanged, but the hint blamed "another process may hold
    a write lock; retry when it is idle". Now it names the live file's disk."""
    db = tmp_path / "school.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE photos (body BLOB)")
    conn.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 16) "
        "INSERT INTO photos SELECT randomblob(200000) FROM n"
    )
    conn.commit()
    conn.close()
    base = ["--database", f"sqlite:///{db}"]
    env = {"MALNU_BACKUP_DIR": str(tmp_path / "backups")}
    made = run_cli(*base, "backup", "create", env=env)
    assert made.code == 0, made.err
    backup_id = made.out.strip()
    conn = sqlite3.connect(db)
    conn.execute("DELETE FROM photos WHERE rowid > 8")
    conn.commit()
    conn.execute("VACUUM")
    conn.close()
    size = next((tmp_path / "backups").rglob(f"{backup_id}.sqlite")).stat().st_size
    # Room for the copies of the backup (and the smaller pre-restore backup), not for the
    # WAL frames of the whole database (each page plus a 24-byte frame header).
    res = run_limited(size + 8192, *base, "backup", "restore", backup_id, "--yes", env=env)
    assert res.code == 1, res.err
    one_error(res.err, f"restore into {db} failed, the database is unchanged")
    assert (
        f"the disk of {tmp_path} (or this user's quota) is full" in res.err
        and "write lock" not in res.err
    ), res.err
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT count(*) FROM photos").fetchone() == (8,)
    assert conn.execute("SELECT count(*) FROM malnu_lock").fetchone() == (0,)
    conn.close()


class _Killed(BaseException):
    """The process dying at this point: nothing after it runs (no handler catches it)."""


def test_a_postgresql_restore_dying_right_after_its_commit_is_in_the_audit_trail(
    pg_url: str, tmp_path: Path
) -> None:
    """A PostgreSQL restore's audit row was written by a later statement of its own: a
    process killed between the restore's COMMIT and that write (seen with SIGKILL) left the
    data restored and no "restore" row, so `log` showed no restore and `recover` replayed the
    trail as if none had happened. Now the row commits in the restore's own transaction."""
    target = make_target(tmp_path, pg_url)
    backend = open_fresh(target)
    try:
        up(backend, target, to=V1)
        made = create_backup(backend, target)
        execute(backend, "CREATE TABLE made_after (x INTEGER)")

        def progress(p: BackupProgress) -> None:
            if p.phase == "restore" and p.total and p.done == p.total:  # COMMIT done
                raise _Killed

        with pytest.raises(_Killed):
            restore_backup(backend, target, made.id, progress=progress)
        assert "made_after" not in backend.table_names()  # restored
        rows = backend.read_audit(action="restore")
        assert [(e.object, e.outcome) for e in rows] == [(made.id, "ok")], rows
        pre = [m for m in list_backups(target.backup_dir) if m.reason == "pre-restore"]
        assert len(pre) == 1 and pre[0].id in rows[0].detail
        # And a restore that runs to its end records it once.
        restore_backup(backend, target, made.id)
        assert len(backend.read_audit(action="restore")) == 2
    finally:
        backend.close()


def test_sigterm_while_d1_time_travels_is_held_until_the_audit_trail_is_put_back(
    d1: D1Target, mdirs: MigrationDirs
) -> None:
    """SIGTERM (or Ctrl-C) while D1 works on a Time Travel restore: the command said
    "terminated" (exit 143), D1 restored all the same, and the tool's own tables went back
    with it: the audit trail since the backup (the backup, the pre-restore backup, every
    run) was gone, no restore row, no undo bookmark said. Now the signal waits for D1's
    answer; the trail and the lock are put back, the restore is audited and reported done,
    and the interrupt is said to have come too late."""
    mdirs.add("20250101_000100", "t", "CREATE TABLE t (v TEXT);", "DROP TABLE t;")
    base = ["--database", d1.url, *mdirs.args()]
    assert run_inproc(*base, "up", "--no-backup").code == 0
    made = run_inproc(*base, "backup", "create")
    assert made.code == 0, made.err
    backup_id = made.out.strip()
    trail = [r[0] for r in d1.sql("SELECT id FROM malnu_audit ORDER BY id")]
    # D1 holds the restore request 1.5 s before running it, as a busy D1 would.
    d1.server.inject(Fault("slow", count=1, delay=1.5, path="time_travel/restore"))
    seen = len(d1.server.requests)
    proc = popen_cli(*base, "backup", "restore", backup_id, "--yes")
    deadline = time.monotonic() + 60
    while not any(r.path.endswith("time_travel/restore") for r in d1.server.requests[seen:]):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "came while D1 worked: restored all the same" in err and "terminated" not in err
    assert "Traceback" not in err
    left = {r[0] for r in d1.sql("SELECT id FROM malnu_audit")}
    assert set(trail) <= left, "the audit trail written since the backup was put back"
    restored = d1.sql("SELECT object FROM malnu_audit WHERE action = 'restore' AND outcome = 'ok'")
    assert (backup_id,) in restored
    assert d1.sql("SELECT count(*) FROM malnu_lock") == [(0,)]


def test_an_import_meeting_the_apps_write_lock_does_not_blame_itself(tmp_path: Path) -> None:
    """The school application takes the SQLite file's write lock just as an import (holding
    the migration lock) starts writing: the import said "another operator holds the migration
    lock: root@host (pid <its own pid>) [import] … run `malnu-tui unlock`". Now it says the
    database is busy with another connection (exit 3), and nothing is imported."""
    db = tmp_path / "school.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    conn.close()
    csv = tmp_path / "notes.csv"
    csv.write_text("id,body\n1,satu\n2,dua\n")
    backend = SQLiteBackend(db, busy_timeout=0.2)
    app = sqlite3.connect(db, isolation_level=None)

    def app_writes(_reason: str) -> None:  # right before the import's own transaction
        app.execute("BEGIN IMMEDIATE")
        return None

    request = ImportRequest(table="notes", file=csv)
    try:
        with pytest.raises(DatabaseBusy) as busy:
            run_import(backend, request, open_csv(request), safety_backup=app_writes)
        assert busy.value.exit_code == 3
        said = f"{busy.value} {busy.value.hint}"
        assert "another operator" not in said and "unlock" not in said, said
        assert "busy" in said
        app.execute("ROLLBACK")
        assert backend.conn.execute("SELECT count(*) FROM notes").fetchone() == (0,)
    finally:
        app.close()
        backend.close()  # (the lock row it could not delete while the app wrote goes now)
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT count(*) FROM malnu_lock").fetchone() == (0,)
    conn.close()


def test_a_postgresql_import_behind_the_apps_transaction_names_it_not_an_operator(
    pg_url: str, tmp_path: Path
) -> None:
    """The school app keeps a transaction open on the table being imported: the import said
    "another operator holds the migration lock: another session … if that process is dead, run
    `malnu-tui unlock`" (unlock frees nothing there). Now: busy, the app's session named, the
    way out given, exit 3, nothing imported."""
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as setup:
        setup.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    csv = tmp_path / "notes.csv"
    csv.write_text("id,body\n1,satu\n2,dua\n")
    app = psycopg.connect(pg_url, application_name="school-app")
    try:
        app.execute("INSERT INTO notes VALUES (99, 'open')")  # its transaction stays open
        res = run_cli(
            "--database", f"{pg_url}?lock_timeout=1s", "import", str(csv), "--table", "notes",
            "--no-backup", "--yes",
        )  # fmt: skip
        assert res.code == 3, res.err
        one_error(res.err, "table notes", "is busy", "nothing was imported")
        assert "school-app" in res.err and "pg_terminate_backend" in res.err, res.err
        assert "another operator" not in res.err and "unlock" not in res.err, res.err
        app.rollback()
        assert app.execute("SELECT count(*) FROM notes").fetchone() == (0,)
    finally:
        app.close()


def test_a_dropped_ssh_session_ends_up_as_sigterm_does(
    tmp_path: Path, mdirs: MigrationDirs
) -> None:
    """SIGHUP (the operator's SSH session dropped mid-`up`) killed the process outright: no
    rollback said, the run unrecorded, the lock row left (on D1, blocking every other host
    for the lease's 10 minutes). Now it ends as SIGTERM does: the migration rolled back, the
    lock released, the run recorded, exit 129."""
    mdirs.add(
        "20250101_000100", "seed", "CREATE TABLE seed (n INTEGER);\nINSERT INTO seed VALUES (1);"
    )
    mdirs.add("20250101_000200", "slow", slow_sql("sqlite", 1.5, seed="seed"), "DROP TABLE big;")
    db = tmp_path / "school.db"
    base = ["--database", f"sqlite:///{db}", *mdirs.args()]
    assert run_inproc(*base, "up", "--to", "20250101_000100", "--no-backup").code == 0
    proc = popen_cli(*base, "up", "--no-backup")
    watch = sqlite3.connect(db)
    deadline = time.monotonic() + 60
    while not watch.execute("SELECT count(*) FROM malnu_lock").fetchone()[0]:  # it is at work
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.01)
    watch.close()
    proc.send_signal(signal.SIGHUP)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 129, err
    assert "Traceback" not in err
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("SELECT count(*) FROM malnu_lock").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'big'").fetchone() == (
            0,
        )
        run = conn.execute(
            "SELECT outcome, detail FROM malnu_audit WHERE action = 'run' ORDER BY id DESC"
        ).fetchone()
        assert run[0] == "failed" and "interrupted" in run[1], run
    finally:
        conn.close()
    # Under `nohup` (a long step meant to outlive the SSH session: SIGHUP ignored) the same
    # SIGHUP is ignored: it stopped the command, exit 129, nothing done.
    proc = subprocess.Popen(
        ["nohup", *CLI, *base, "up", "--no-backup"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        cwd=REPO,
    )
    try:
        watch = sqlite3.connect(db)
        while not watch.execute("SELECT count(*) FROM malnu_lock").fetchone()[0]:
            assert proc.poll() is None and time.monotonic() < deadline + 60, proc.communicate()
            time.sleep(0.01)
        watch.close()
        proc.send_signal(signal.SIGHUP)
        _out, err = proc.communicate(timeout=60)
    finally:
        stop_if_running(proc)
    assert proc.returncode == 0, err
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'big'").fetchone() == (
            1,
        )
    finally:
        conn.close()


def test_a_second_signal_during_the_clean_up_is_noted_not_raised(
    tmp_path: Path, mdirs: MigrationDirs
) -> None:
    """A second signal (CI's SIGTERM after its SIGINT, systemd's SIGHUP after its SIGTERM, a
    second Ctrl-C) raised again while the first one's clean-up ran, wherever it landed, and the
    command ended on it (`terminated`, 143, after Ctrl-C). Sent back to back, the second one is
    taken as the first one's exception starts to unwind: it now is noted (said once), the
    clean-up runs to its end (lock released, run recorded) and the exit is the first one's."""
    mdirs.add(
        "20250101_000100", "seed", "CREATE TABLE seed (n INTEGER);\nINSERT INTO seed VALUES (1);"
    )
    mdirs.add("20250101_000200", "slow", slow_sql("sqlite", 0.5, seed="seed"), "DROP TABLE big;")
    db = tmp_path / "school.db"
    base = ["--database", f"sqlite:///{db}", *mdirs.args()]
    assert run_inproc(*base, "up", "--to", "20250101_000100", "--no-backup").code == 0
    # (pending together, they are taken in the order of their numbers; one of a kind pending
    # twice is taken once: hence pairs of two kinds, the lower first)
    pairs = [(signal.SIGINT, signal.SIGTERM, 130), (signal.SIGHUP, signal.SIGTERM, 129)]
    for first, second, code in pairs:
        proc = popen_cli(*base, "up", "--no-backup")
        try:
            watch = sqlite3.connect(db)
            deadline = time.monotonic() + 60
            while not watch.execute("SELECT count(*) FROM malnu_lock").fetchone()[0]:
                assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
                time.sleep(0.01)
            watch.close()
            proc.send_signal(first)
            proc.send_signal(second)
            _out, err = proc.communicate(timeout=60)
        finally:
            stop_if_running(proc)
        case = (first.name, second.name, err)
        conn = sqlite3.connect(db)
        try:
            assert conn.execute("SELECT count(*) FROM malnu_lock").fetchone() == (0,), case
            run = conn.execute(
                "SELECT outcome, detail FROM malnu_audit WHERE action = 'run' ORDER BY id DESC"
            ).fetchone()
            assert run[0] == "failed" and "interrupted" in run[1], (run, case)
            conn.execute("DELETE FROM malnu_audit WHERE action = 'run'")  # the next one's own
            conn.commit()
        finally:
            conn.close()
        assert proc.returncode == code, case
        assert "Traceback" not in err and err.count("already stopping: cleaning up") == 1, case


def _stderr_until(proc: Any, line: str, deadline: float) -> str:
    """What ``proc`` wrote to stderr up to ``line`` (its end), read from the pipe as it comes
    (``communicate`` reads the rest); fails at ``deadline`` or if it ends first."""
    fd, got = proc.stderr.fileno(), b""
    while line.encode() + b"\n" not in got:
        assert proc.poll() is None and time.monotonic() < deadline, got
        if select.select([fd], [], [], 0.1)[0]:
            got += os.read(fd, 65536)
    return got.decode(errors="replace")


def test_a_second_signal_while_the_lock_is_released_leaves_no_lock_row(
    pg_url: str, tmp_path: Path, mdirs: MigrationDirs
) -> None:
    """Ctrl-C, then SIGTERM while the clean-up releases the lock (here its DELETE waits behind
    another session's hold of the row): the second one raised inside the release (`terminated`,
    143; the row went only because the server went on with the DELETE the client gave up on).
    Now it is noted: the release finishes, the run is recorded, exit 130."""
    import psycopg

    mdirs.add("20250101_000100", "seed", "CREATE TABLE seed (n INTEGER);")
    mdirs.add("20250101_000200", "slow", slow_sql("postgresql", 30), "DROP TABLE big;")
    base = ["--database", pg_url, *mdirs.args()]
    assert run_inproc(*base, "up", "--to", "20250101_000100", "--no-backup").code == 0
    watch = psycopg.connect(pg_url, autocommit=True)
    holder = psycopg.connect(pg_url)
    proc = popen_cli(*base, "up", "--no-backup")
    try:
        deadline = time.monotonic() + 60
        while not watch.execute("SELECT count(*) FROM malnu_lock").fetchone()[0]:
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.01)
        holder.execute("SELECT 1 FROM malnu_lock FOR UPDATE")  # the release's DELETE waits
        proc.send_signal(signal.SIGINT)
        waiting = (
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND query LIKE 'DELETE FROM%malnu_lock%'"
        )
        while not watch.execute(waiting).fetchone()[0]:  # the clean-up is at the release
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.01)
        proc.send_signal(signal.SIGTERM)
        # Taken (raised, it would cancel the DELETE) before the DELETE is let go: a fixed
        # 0.5 s let one taken late on a loaded box come after the release (still passing).
        said = _stderr_until(proc, "already stopping: cleaning up", deadline)
        holder.rollback()
        _out, err = proc.communicate(timeout=60)
        err = said + err
    finally:
        stop_if_running(proc)
        holder.close()
    try:
        assert watch.execute("SELECT count(*) FROM malnu_lock").fetchone() == (0,), err
        run = watch.execute(
            "SELECT outcome, detail FROM malnu_audit WHERE action = 'run' ORDER BY id DESC"
        ).fetchone()
        assert run[0] == "failed" and "interrupted" in run[1], (run, err)
    finally:
        watch.close()
    assert proc.returncode == 130, err
    assert "already stopping: cleaning up" in err and "Traceback" not in err, err


def test_d1_export_onto_a_full_disk_is_one_line_and_leaves_no_file(
    d1: D1Target, mdirs: MigrationDirs, tmp_path: Path
) -> None:
    """`d1 export FILE` (an operator's own dump before a risky change) on a disk that fills up
    while the dump is downloaded: a traceback (OSError: File too large). Now one line saying
    no dump was written, exit 1, and no file (not even a half one) at that path."""
    mdirs.add(
        "20250101_000100",
        "essays",
        "CREATE TABLE essays (body TEXT);\n"
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 400) "
        "INSERT INTO essays SELECT hex(randomblob(500)) FROM n;",
    )
    base = ["--database", d1.url, *mdirs.args()]
    assert run_inproc(*base, "up", "--no-backup").code == 0
    dest = tmp_path / "before-the-change.sql"
    res = run_limited(100_000, *base, "d1", "export", str(dest))
    assert res.code == 1, res.err
    one_error(res.err, f"cannot write the dump to {dest}", "no dump was written")
    assert "may be full" in res.err
    assert not dest.exists() and not list(tmp_path.glob(".before-the-change*"))


def test_unlock_while_the_app_holds_the_write_lock_says_busy_not_run_unlock(
    tmp_path: Path,
) -> None:
    """`unlock --yes` of a dead operator's lock row while the application holds the SQLite
    file's write lock said "another operator holds the migration lock … run `malnu-tui
    unlock`" to the operator running unlock. Now: busy, what holds it, nothing released."""
    db = tmp_path / "school.db"
    backend = SQLiteBackend(db, busy_timeout=0.2)
    backend.ensure_schema()
    backend.conn.execute(
        "INSERT INTO malnu_lock (id, owner, host, pid, acquired_at, expires_at, purpose) "
        "VALUES (1, 'ops@laptop', 'laptop', 4242, '2026-12-06 01:00:00', '2099-01-01 00:00:00', "
        "'rollback')"
    )
    app = sqlite3.connect(db, isolation_level=None)
    app.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(DatabaseBusy) as busy:
            unlock(backend)
        said = f"{busy.value} {busy.value.hint}"
        assert busy.value.exit_code == 3 and "nothing was released" in said, said
        assert "another operator" not in said and "run `malnu-tui unlock" not in said, said
        app.execute("ROLLBACK")
        assert backend.read_lock() is not None
        assert unlock(backend) is not None and backend.read_lock() is None
    finally:
        app.close()
        backend.close()


def test_a_backup_made_while_the_app_writes_says_its_audit_row_is_missing(
    tmp_path: Path,
) -> None:
    """`backup create` (a cron job) while the application holds the SQLite write lock: the
    backup is made (a WAL reader), but its audit row could not be written and that was
    dropped without a word. Now a warning says so; the backup is still listed."""
    target = make_target(tmp_path, f"sqlite:///{tmp_path / 'school.db'}")
    backend = SQLiteBackend(tmp_path / "school.db", busy_timeout=0.2)
    backend.ensure_schema()
    app = sqlite3.connect(tmp_path / "school.db", isolation_level=None)
    app.execute("BEGIN IMMEDIATE")
    said: list[BackupProgress] = []
    try:
        made = create_backup(backend, target, progress=said.append)
    finally:
        app.execute("ROLLBACK")
        app.close()
        backend.close()
    assert [m.id for m in list_backups(target.backup_dir)] == [made.id]
    warned = [p.message for p in said if "audit row of this backup" in p.message]
    assert warned and made.id in warned[0] and "busy" in warned[0], said


def test_ctrl_c_once_the_manifest_is_in_place_leaves_no_manifest_without_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C (or the console's stop) landing in the folder's fsync after the manifest was
    renamed into place: the backup's file was removed as for any interrupted backup, but its
    manifest stayed, listed by `backup list` and chosen by `recover`, naming a file that is
    not there. Now neither stays: the store is as before the backup."""
    from malnu_tui.engine.backup import durable

    target, backend, first = _school_with_backup(tmp_path)
    real = durable.fsync_dir

    def interrupted_once_a_manifest_is_in(directory: Path) -> None:
        real(directory)
        if len(list(Path(directory).glob("*.json"))) > 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(durable, "fsync_dir", interrupted_once_a_manifest_is_in)
    try:
        with pytest.raises(KeyboardInterrupt):
            create_backup(backend, target)
        monkeypatch.setattr(durable, "fsync_dir", real)
        assert [m.id for m in list_backups(target.backup_dir)] == [first]
        left = sorted(p.name for p in Path(target.backup_dir).iterdir() if first not in p.name)
        assert left == [], left
    finally:
        backend.close()
