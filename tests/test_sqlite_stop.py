"""The console's stop (its SIGHUP or SIGTERM, raised into the worker) during a long SQLite
statement: it waited for the statement to end (a big UPDATE: minutes), since a worker in
sqlite3's C code runs no Python line to take it. Now the statement running as the stop comes is
interrupted, and the step ends as the CLI's does (rolled back, recorded as interrupted, the lock
released); a statement of the clean-up that follows the stop is not."""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from tests.fixtures_core import MigrationDirs, popen_cli, run_cli

# Counting to 4 billion: about 1,000 s here, were it not interrupted; far beyond WAIT on any box.
LONG = (
    "WITH RECURSIVE c(x) AS (SELECT n FROM seed UNION ALL SELECT x + 1 FROM c WHERE x < "
    "4000000000) INSERT INTO big SELECT x FROM c;"
)
WAIT = 60  # seconds: far beyond what a stop takes on a loaded box


def test_a_stop_interrupts_the_sqlite_statement_in_flight_and_ends_the_step(
    tmp_path: Path, mdirs: MigrationDirs
) -> None:
    from malnu_tui.engine.backends.sqlite import SQLiteBackend
    from malnu_tui.engine.files import discover
    from malnu_tui.engine.interrupts import HungUp, stop_workers, stoppable
    from malnu_tui.engine.migrate import apply_plan, plan_up

    mdirs.add(
        "20250101_000100", "seed", "CREATE TABLE seed (n INTEGER);\nINSERT INTO seed VALUES (1);"
    )
    mdirs.add(
        "20250101_000200", "slow", f"CREATE TABLE big (x INTEGER);\n{LONG}", "DROP TABLE big;"
    )
    db = tmp_path / "school.db"
    mset = discover(mdirs.migrations, mdirs.rollback, "sqlite")
    backend = SQLiteBackend(db)
    backend.ensure_schema()
    apply_plan(backend, mset, plan_up(backend, mset, "20250101_000100"))
    backend.close()
    seen: list[object] = []
    slow = threading.Event()

    def worker() -> None:
        with stoppable():
            b = SQLiteBackend(db)
            try:
                b.ensure_schema()
                apply_plan(b, mset, plan_up(b, mset), progress=lambda p: slow.set())
                seen.append("done")
            except BaseException as exc:  # (what the console's `reporting` gets)
                seen.append(type(exc))
            finally:
                b.close()

    thread = threading.Thread(target=worker, daemon=True)  # (unstopped: gone with the process)
    thread.start()
    assert slow.wait(WAIT), seen  # (its "start": the only one pending)
    time.sleep(0.3)  # well into the INSERT
    assert stop_workers(signal.SIGHUP) == 1
    # Ended long before the statement would have: a wall time asserted as well (`< 5 s`) was
    # the box's load to fail on, not the stop's.
    thread.join(WAIT)
    assert not thread.is_alive(), "the stop waited for the statement to end"
    assert seen == [HungUp], seen
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM malnu_lock").fetchone() == (0,)
        big = conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'big'").fetchone()
        assert big == (0,)  # the slow migration rolled back
        applied = conn.execute("SELECT filename FROM migrations WHERE success").fetchall()
        assert applied == [("20250101_000100_seed.sql",)]
        failed = conn.execute("SELECT count(*) FROM migrations WHERE NOT success").fetchone()
        assert failed == (0,)  # interrupted, not a failed migration to be cleared
        run = conn.execute(
            "SELECT outcome, detail FROM malnu_audit WHERE action = 'run' ORDER BY id DESC"
        ).fetchone()
    assert run[0] == "failed" and "interrupted" in run[1], run
    assert stop_workers(signal.SIGHUP) == 0


def test_a_stop_between_sqlite_statements_leaves_the_clean_ups_statement_be(
    tmp_path: Path,
) -> None:
    """A worker stopped while it runs Python (rows read from a file, between two statements)
    gets the stop there; the clean-up's statement that follows (the run row, the lock's
    release) runs to its end, not interrupted by a stop that was not its own."""
    from malnu_tui.engine.backends.sqlite_open import connect
    from malnu_tui.engine.interrupts import HungUp, stop_workers, stoppable

    started = threading.Event()
    seen: list[object] = []

    def worker() -> None:
        with stoppable():
            conn = connect(tmp_path / "x.db", 5.0, False)
            try:
                conn.execute("CREATE TABLE t (x INTEGER)")
                started.set()
                n = 0
                while True:  # between two statements
                    n += 1
            except HungUp:
                seen.append("stopped")
            try:  # the clean-up's statement: long enough for a late interrupt to hit it
                count = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
                conn.execute(count + "WHERE x < 500000) SELECT count(*) FROM c").fetchone()
                seen.append("cleaned")
            except sqlite3.OperationalError as exc:
                seen.append(str(exc))
            finally:
                conn.close()

    thread = threading.Thread(target=worker, daemon=True)
    thread.start()
    assert started.wait(10)
    assert stop_workers(signal.SIGHUP) == 1
    thread.join(30)
    assert not thread.is_alive()
    assert seen == ["stopped", "cleaned"], seen


def test_ctrl_c_interrupts_the_cli_s_sqlite_statement_in_flight(
    tmp_path: Path, mdirs: MigrationDirs
) -> None:
    """The CLI's Ctrl-C (its handler runs only at the next Python line) waited as long for a
    SQLite statement: the migration, rolled back all the same, ended when it would have."""
    mdirs.add(
        "20250101_000100", "seed", "CREATE TABLE seed (n INTEGER);\nINSERT INTO seed VALUES (1);"
    )
    mdirs.add(
        "20250101_000200", "slow", f"CREATE TABLE big (x INTEGER);\n{LONG}", "DROP TABLE big;"
    )
    db = tmp_path / "school.db"
    base = ["--database", f"sqlite:///{db}", *mdirs.args()]
    assert run_cli(*base, "up", "--to", "20250101_000100", "--no-backup").code == 0
    proc = popen_cli(*base, "up", "--no-backup")
    try:
        deadline = time.monotonic() + 30
        with sqlite3.connect(db) as conn:
            while conn.execute("SELECT count(*) FROM malnu_lock").fetchone() == (0,):
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.02)
        time.sleep(0.5)  # well into the INSERT
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=WAIT)
    finally:
        proc.kill()
        _out, err = proc.communicate(timeout=30)
    assert code == 130 and err.rstrip().endswith("interrupted"), err
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM malnu_lock").fetchone() == (0,)
        big = conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'big'").fetchone()
        assert big == (0,)
        run = conn.execute(
            "SELECT outcome, detail FROM malnu_audit WHERE action = 'run' ORDER BY id DESC"
        ).fetchone()
    assert run[0] == "failed" and "interrupted" in run[1], run


def test_a_stop_during_the_safety_backup_s_copy_ends_it_between_steps(
    tmp_path: Path, mdirs: MigrationDirs
) -> None:
    """The safety backup's copy was one ``backup(pages=-1)`` step, in C: a stop (the console's
    stop key, its SIGHUP) waited for the whole copy of the database (a 10 GB file: minutes)
    before the step was stopped. It is copied in steps within one read transaction now: the
    stop is taken between two steps, no backup is kept, nothing is applied, the run recorded."""
    from malnu_tui.engine.backends.sqlite import SQLiteBackend
    from malnu_tui.engine.backup import list_backups
    from malnu_tui.engine.config import Target
    from malnu_tui.engine.files import discover
    from malnu_tui.engine.interrupts import stop_workers, stoppable
    from malnu_tui.engine.migrate import apply_plan, plan_up
    from malnu_tui.engine.progress import BackupProgress
    from malnu_tui.engine.safety import backup_taker

    mdirs.add("20250101_000100", "t", "CREATE TABLE t (x INTEGER);", "DROP TABLE t;")
    db = tmp_path / "school.db"
    with sqlite3.connect(db) as conn:  # 10,000 pages of 4 KiB: steps of 2,048
        conn.execute("CREATE TABLE filler (b BLOB)")
        fill = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?) "
        conn.execute(fill + "INSERT INTO filler SELECT zeroblob(3000) FROM c", (10_000,))
    target = Target("t", f"sqlite:///{db}", mdirs.migrations, mdirs.rollback, tmp_path / "bk")
    mset = discover(mdirs.migrations, mdirs.rollback, "sqlite")
    copied: list[tuple[int, int]] = []
    seen: list[object] = []

    def progress(p: BackupProgress) -> None:
        if p.phase == "copy" and p.done > 0 and not copied:
            copied.append((p.done, p.total))  # the first step done: the stop comes now
            stopper = threading.Thread(target=stop_workers, args=(signal.SIGINT,))
            stopper.start()
            stopper.join()

    def worker() -> None:
        with stoppable():
            b = SQLiteBackend(db)
            try:
                b.ensure_schema()
                apply_plan(
                    b, mset, plan_up(b, mset), safety_backup=backup_taker(b, target, progress)
                )
                seen.append("done")
            except BaseException as exc:
                seen.append(type(exc))
            finally:
                b.close()

    thread = threading.Thread(target=worker, daemon=True)
    thread.start()
    thread.join(20)
    assert seen == [KeyboardInterrupt], seen
    ((done, total),) = copied
    assert 0 < done < total, "the stop waited for the whole copy"
    assert list_backups(target.backup_dir) == []
    assert [p.name for p in target.backup_dir.iterdir() if p.suffix != ".json"] == []
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 't'").fetchone() == (
            0,
        )
        assert conn.execute("SELECT count(*) FROM malnu_lock").fetchone() == (0,)
        run = conn.execute(
            "SELECT outcome, detail FROM malnu_audit WHERE action = 'run' ORDER BY id DESC"
        ).fetchone()
    assert run[0] == "failed" and "interrupted" in run[1], run


def _cpu_s(pid: int) -> float:
    """CPU seconds ``pid`` has used (user + system)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _ctrl_c_in_quick_check(proc: Any, what: str) -> tuple[int, str, str]:
    """SIGINT to ``proc`` well into its ``quick_check`` (its line on stderr, then 0.2 s of CPU
    burnt: the only work there that takes CPU seconds); (exit code, stdout, stderr)."""
    try:
        said = ""
        while "quick_check" not in said:  # the check's phase begun (its line on stderr)
            said = proc.stderr.readline() if proc.stderr else ""
            assert said, f"{what} ended before its check"
        since, deadline = _cpu_s(proc.pid), time.monotonic() + WAIT
        while _cpu_s(proc.pid) - since < 0.2:
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=WAIT)
    finally:
        proc.kill()
        out, err = proc.communicate(timeout=30)
    return code, out, err


def test_ctrl_c_during_backup_create_s_quick_check_ends_it_and_keeps_nothing(
    tmp_path: Path,
) -> None:
    """`backup create`'s read-back of its copy (``PRAGMA quick_check``, side by side with its
    sha256) ran in sqlite3's C code, where no Ctrl-C reached it: on a 400 MB database the
    operator waited many seconds (here, a NOT NULL generated column that quick_check
    computes for each of 30,000 rows: about 1,000 s). Now the check is interrupted and the
    hash given up at its next chunk, and the stop ends as a stop of the copy does: exit 130,
    "interrupted", no file or manifest left in the store, the lock released, the run recorded
    as interrupted."""
    db = tmp_path / "school.db"
    with sqlite3.connect(db) as conn:  # rows put in cheaply: the column made costly after
        conn.execute("CREATE TABLE heavy (x INTEGER, g INTEGER GENERATED ALWAYS AS (x) VIRTUAL)")
        fill = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 30000) "
        conn.execute(fill + "INSERT INTO heavy (x) SELECT x FROM c")
        costly = "(length(hex(zeroblob(4000000 + x)))) VIRTUAL NOT NULL)"
        conn.execute("PRAGMA writable_schema = ON")
        conn.execute("UPDATE sqlite_master SET sql = replace(sql, '(x) VIRTUAL)', ?)", (costly,))
        conn.execute("PRAGMA writable_schema = OFF")
    store = tmp_path / "bk"
    proc = popen_cli(
        "--database", f"sqlite:///{db}", "backup", "create", env={"MALNU_BACKUP_DIR": str(store)}
    )
    code, _out, err = _ctrl_c_in_quick_check(proc, "backup create")
    assert code == 130 and err.rstrip().endswith("interrupted"), err
    assert sorted(p.name for p in store.rglob("*") if p.is_file()) == [], "a half-made backup"
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM malnu_lock").fetchone() == (0,)
        run = conn.execute(
            "SELECT outcome, detail FROM malnu_audit WHERE action = 'run' ORDER BY id DESC"
        ).fetchone()
        assert conn.execute("SELECT count(*) FROM heavy").fetchone() == (30000,)
    assert run[0] == "failed" and "interrupted" in run[1], run


def test_a_backup_s_hash_is_given_up_between_two_chunks(tmp_path: Path) -> None:
    """The copy's sha256 runs in a helper thread no stop reaches: a stop waited for it to read
    the whole file. It asks ``stopped`` between two 4 MiB chunks (a stop sets the flag from the
    stopping thread) and ends at the next one."""
    from malnu_tui.engine.backup.durable import HashStopped, sha256_file

    path = tmp_path / "copy.sqlite"
    path.write_bytes(b"\0" * (3 * 4 * 1024 * 1024))  # three chunks
    asked: list[int] = []

    def stopped() -> bool:
        asked.append(1)
        return len(asked) == 2  # (the stop comes after the first chunk)

    try:
        sha256_file(path, stopped=stopped)
        raise AssertionError("the hash read the whole file")
    except HashStopped:
        pass
    assert len(asked) == 2
    assert sha256_file(path, stopped=lambda: False)[1] == path.stat().st_size


def _heavy_backup(tmp_path: Path) -> tuple[Path, Path, str]:
    """A small backup (30,000 rows, cheap to make) whose ``quick_check`` takes about 1,000 s:
    the generated column made costly in the backup file after ``backup create``, its manifest's
    sha256 and size made the file's (its verification gets to quick_check)."""
    import hashlib
    import json

    db = tmp_path / "school.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE heavy (x INTEGER, g INTEGER GENERATED ALWAYS AS (x) VIRTUAL)")
        fill = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 30000) "
        conn.execute(fill + "INSERT INTO heavy (x) SELECT x FROM c")
    store = tmp_path / "bk"
    env = {"MALNU_BACKUP_DIR": str(store)}
    made = run_cli("--database", f"sqlite:///{db}", "--json", "backup", "create", env=env)
    assert made.code == 0, made.err
    (mpath,) = [p for p in store.rglob("*.json")]
    manifest = json.loads(mpath.read_text())
    data = mpath.parent / Path(manifest["file"]).name
    data.chmod(0o600)
    conn = sqlite3.connect(data)
    costly = "(length(hex(zeroblob(4000000 + x)))) VIRTUAL NOT NULL)"
    conn.execute("PRAGMA writable_schema = ON")
    conn.execute("UPDATE sqlite_master SET sql = replace(sql, '(x) VIRTUAL)', ?)", (costly,))
    conn.execute("PRAGMA writable_schema = OFF")
    conn.commit()
    conn.close()
    raw = data.read_bytes()
    manifest.update(sha256=hashlib.sha256(raw).hexdigest(), size=len(raw))
    mpath.write_text(json.dumps(manifest))
    return db, store, str(manifest["id"])


def test_ctrl_c_during_backup_verify_s_quick_check_ends_it_and_records_nothing(
    tmp_path: Path,
) -> None:
    """`backup verify` (and restore's check of its backup, the same code) ran the backup's
    ``PRAGMA quick_check`` in sqlite3's C code, where no Ctrl-C reached it: on a 400 MB backup
    the operator waited. Now the check is interrupted as `backup create`'s is: exit 130,
    "interrupted", no verdict (neither verified nor failed) recorded in the manifest."""
    db, store, backup_id = _heavy_backup(tmp_path)
    (mpath,) = [p for p in store.rglob("*.json")]
    before = mpath.read_bytes()
    proc = popen_cli(
        "--database",
        f"sqlite:///{db}",
        "backup",
        "verify",
        backup_id,
        env={"MALNU_BACKUP_DIR": str(store)},
    )
    code, out, err = _ctrl_c_in_quick_check(proc, "backup verify")
    assert code == 130 and err.rstrip().endswith("interrupted"), err
    assert "verified" not in out + err and "FAIL" not in out + err, out + err
    assert mpath.read_bytes() == before, "a verdict recorded"


def test_ctrl_c_during_restore_s_check_of_its_backup_restores_nothing(tmp_path: Path) -> None:
    """`backup restore` verifies its backup first (the same ``quick_check``): Ctrl-C there
    waited for the whole file too. Now: exit 130, "interrupted", nothing restored, no
    pre-restore backup made, the lock released, the backup's manifest as it was."""
    db, store, backup_id = _heavy_backup(tmp_path)
    (mpath,) = [p for p in store.rglob("*.json")]
    before = mpath.read_bytes()
    proc = popen_cli(
        "--database",
        f"sqlite:///{db}",
        "backup",
        "restore",
        backup_id,
        "--yes",
        env={"MALNU_BACKUP_DIR": str(store)},
    )
    code, _out, err = _ctrl_c_in_quick_check(proc, "backup restore")
    assert code == 130 and err.rstrip().endswith("interrupted"), err
    assert [p for p in store.rglob("*.json")] == [mpath] and mpath.read_bytes() == before
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM malnu_lock").fetchone() == (0,)
        (sql,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'heavy'").fetchone()
        assert "zeroblob" not in sql, "the backup was restored"


def test_a_stop_during_a_d1_dump_s_integrity_check_ends_it(tmp_path: Path) -> None:
    """A D1 backup's check (`backup create`, `verify`, restore's check: ``check_dump``) loads
    the dump into a scratch SQLite database and runs ``PRAGMA integrity_check`` there, in
    sqlite3's C code on a plain connection: Ctrl-C or the console's stop waited for it. The
    scratch connection is a StoppableConnection now: the check is interrupted and the stop
    raised. (Here a CHECK put off while the dump loads, costly for each of 30,000 rows as
    integrity_check computes it: about 1,000 s.)"""
    from malnu_tui.engine.backends.d1.dumpfile import check_dump
    from malnu_tui.engine.interrupts import stop_workers, stoppable

    dump = tmp_path / "d1.sql"
    dump.write_text(
        "CREATE TABLE heavy (x INTEGER CHECK (length(hex(zeroblob(4000000 + x))) > 0));\n"
        "PRAGMA ignore_check_constraints = ON;\n"
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 30000) "
        "INSERT INTO heavy SELECT x FROM c;\n"
        "PRAGMA ignore_check_constraints = OFF;\n"
    )
    seen: list[object] = []
    started = threading.Event()

    def worker() -> None:
        with stoppable():
            started.set()
            try:
                seen.append(check_dump(dump))
            except BaseException as exc:
                seen.append(type(exc))

    thread = threading.Thread(target=worker, daemon=True)  # (unstopped: gone with the process)
    thread.start()
    assert started.wait(WAIT)
    time.sleep(0.5)  # the load done (a few ms), well into the integrity_check
    assert stop_workers(signal.SIGINT) == 1
    thread.join(WAIT)
    assert not thread.is_alive(), "the stop waited for the integrity_check to end"
    assert seen == [KeyboardInterrupt], seen
