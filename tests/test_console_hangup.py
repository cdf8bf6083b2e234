"""The operator's SSH session drops (tmux's server killed: SIGHUP, as sshd sends it) while the
console runs a migration: it was killed outright, the run unrecorded and its lock row left.
Now the migration in flight is rolled back as the CLI's SIGHUP rolls it back, the run recorded
as interrupted, the lock released, no session or child process left, and the console gone."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.fixtures_core import MigrationDirs, run_cli
from tests.test_processes import slow_sql
from tests.test_tui_terminal import _type_name
from tests.tmux_support import MALNU, Tmux


def _said(rc: Path) -> bool:
    """The exit code the console's shell wrote in ``rc`` (the file is made empty first)."""
    return rc.exists() and rc.read_text().strip() != ""


def _apply_then_hang_up(
    tmux: Tmux,
    tmp_path: Path,
    base: list[str],
    name: str,
    running: Callable[[], int | None],
    *,
    signalled: bool = True,
) -> int:
    """Open the console on ``base``, apply the pending migrations key by key, and hang up
    once ``running()`` names the pid working on the slow one; returns the console's exit
    code. As under sshd: the session's shell dies of the hangup, and the kernel hangs up on
    the foreground processes, the console and the subshell that writes down its exit code
    (which only traps SIGHUP: the console gets it as it comes). Not ``signalled``: the
    console runs in a session of its own (``setsid``), which the kernel sends no SIGHUP: its
    terminal is only gone (reads end, writes fail)."""
    rc = tmp_path / "rc"
    alone = "" if signalled else "setsid "
    console = f"{alone}env TERM=xterm-256color {MALNU} {' '.join(base)}"
    tmux.run("new-session", "-d", "-s", "malnu", "-x", "80", "-y", "24", "bash", "-c",
             f"(trap : HUP; {console}; echo $? > {rc})")  # fmt: skip
    tmux.wait_for("slow")
    tmux.run("send-keys", "-t", "malnu", "a")
    tmux.wait_for("Confirm ▶ (n)", timeout=30)
    tmux.run("send-keys", "-t", "malnu", "n")
    tmux.wait_for(f"Type {name}", timeout=30)
    _type_name(tmux, name)
    tmux.run("send-keys", "-t", "malnu", "Enter")
    deadline = time.monotonic() + 60
    pid = running()
    while pid is None:
        assert time.monotonic() < deadline, tmux.screen()
        time.sleep(0.05)
        pid = running()
    if not signalled:  # (its own session: not one the terminal's hangup is sent to)
        pane = tmux.run("list-panes", "-t", "malnu", "-F", "#{pane_pid}").strip()
        assert os.getsid(pid) == pid != os.getsid(int(pane))
    tmux.kill()
    try:
        while not _said(rc):  # bash's `> rc` makes the file before `echo` writes in it
            assert time.monotonic() < deadline + 60, "the console never exited"
            time.sleep(0.1)
    finally:  # (one that hangs is not left behind, spinning)
        with contextlib.suppress(OSError):
            if not rc.exists():
                os.kill(pid, 9)
    assert not Path(f"/proc/{pid}").exists()
    return int(rc.read_text())


def _check_backup(base: list[str], reason: str) -> None:
    """The safety backup is listed and verifies."""
    listed = run_cli(*base, "backup", "list", "--json")
    assert listed.code == 0, listed.err
    ids = [b["id"] for b in json.loads(listed.out) if b["reason"] == reason]
    assert len(ids) == 1, listed.out
    verified = run_cli(*base, "backup", "verify", ids[0])
    assert verified.code == 0, verified.err


def _no_session_left(watch: psycopg.Connection[Any], name: str) -> None:
    """No session but ``watch``'s on database ``name``, within 30 s: a client gone (closed, or
    psql dead of the hangup itself, as the terminal's whole process group gets it) ends its
    server session once the server has seen it go, a moment later; one still there after that
    was left behind."""
    others = "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> %s"
    gone = time.monotonic() + 30
    while watch.execute(others, (name, watch.info.backend_pid)).fetchone() != (0,):
        assert time.monotonic() < gone, "a session was left on the server"
        time.sleep(0.1)


@pytest.mark.parametrize("signalled", [True, False], ids=["sighup", "terminal-gone"])
def test_a_hangup_mid_apply_on_sqlite_rolls_back_records_and_releases(
    tmux: Tmux, tmp_path: Path, isolated_env: Path, mdirs: MigrationDirs, signalled: bool
) -> None:
    """SIGHUP, or the terminal gone without one (the console then spun on the keys' end and
    never exited): the slow statement interrupted (it ran to its end first), rolled back, the
    run recorded, the lock released, exit 129."""
    mdirs.add(
        "20250101_000100", "seed", "CREATE TABLE seed (n INTEGER);\nINSERT INTO seed VALUES (1);"
    )
    mdirs.add("20250101_000200", "slow", slow_sql("sqlite", 120, seed="seed"), "DROP TABLE big;")
    db = tmp_path / "school.db"
    base = ["--database", f"sqlite:///{db}", *mdirs.args()]
    assert run_cli(*base, "up", "--to", "20250101_000100", "--yes", "--no-backup").code == 0

    def running() -> int | None:
        # The lock taken and the slow statement started (the screen says which one runs).
        if "statement 2 of 2" not in tmux.screen():
            return None
        with sqlite3.connect(db) as conn:
            row = conn.execute("SELECT pid FROM malnu_lock").fetchone()
        return int(row[0]) if row else None

    code = _apply_then_hang_up(tmux, tmp_path, base, "school", running, signalled=signalled)
    assert code == 129
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM malnu_lock").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'big'").fetchone() == (
            0,
        )
        applied = conn.execute("SELECT filename FROM migrations WHERE success").fetchall()
        assert applied == [("20250101_000100_seed.sql",)]
        run = conn.execute(
            "SELECT outcome, detail FROM malnu_audit WHERE action = 'run' AND object LIKE "
            "'apply%' ORDER BY id DESC"
        ).fetchone()
    assert run[0] == "failed" and "interrupted" in run[1], run
    _check_backup(base, "pre-up")


def test_a_hangup_mid_apply_on_postgresql_cancels_the_statement_and_leaves_no_session(
    tmux: Tmux, tmp_path: Path, isolated_env: Path, mdirs: MigrationDirs, pg_url: str
) -> None:
    mdirs.add("20250101_000100", "first", "CREATE TABLE first (n INTEGER);", "DROP TABLE first;")
    mdirs.add("20250101_000200", "slow", slow_sql("postgresql", 600), "DROP TABLE big;")
    base = ["--database", pg_url, *mdirs.args()]
    assert run_cli(*base, "up", "--to", "20250101_000100", "--yes", "--no-backup").code == 0
    watch = psycopg.connect(pg_url, autocommit=True)
    sleeping = "SELECT pid FROM pg_stat_activity WHERE query LIKE %s AND pid <> %s"
    try:
        mine = watch.info.backend_pid
        name = watch.execute("SELECT current_database()").fetchone()[0]

        def running() -> int | None:
            # The statement is on the server: the console that sent it is the one working.
            if watch.execute(sleeping, ("%pg_sleep(600%", mine)).fetchone() is None:
                return None
            return _console_pid(tmux)

        code = _apply_then_hang_up(tmux, tmp_path, base, name, running)
        assert code == 129
        _no_session_left(watch, name)
        assert watch.execute("SELECT to_regclass('big')").fetchone() == (None,)
        run = watch.execute(
            "SELECT outcome, detail FROM malnu_audit WHERE action = 'run' AND object LIKE "
            "'apply%' ORDER BY id DESC"
        ).fetchone()
        assert run is not None and run[0] == "failed" and "interrupted" in run[1], run
    finally:
        watch.close()
    _check_backup(base, "pre-up")
    status = run_cli(*base, "status", "--json")
    assert status.code == 0 and json.loads(status.out)["lock"] is None, status.out


def _console_pid(tmux: Tmux) -> int:
    """The console's pid: the one process of the pane's shells that runs malnu-tui."""
    todo = tmux.run("list-panes", "-t", "malnu", "-F", "#{pane_pid}").split()
    while todo:
        pid = todo.pop()
        if "malnu-tui" in Path(f"/proc/{pid}/cmdline").read_text():
            with open(f"/proc/{pid}/comm") as comm:
                if comm.read().strip() != "bash":
                    return int(pid)
        todo += Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    raise AssertionError("the console is not running")


def test_a_hangup_mid_restore_on_postgresql_leaves_the_database_as_before_and_no_child(
    tmux: Tmux, tmp_path: Path, isolated_env: Path, mdirs: MigrationDirs, pg_url: str
) -> None:
    """The restore from the backup browser, hung up while psql loads the dump (pg_restore's
    COPY in the server): rolled back whole, recorded, no pg_restore, psql or session left."""
    mdirs.add("20250101_000100", "big", "CREATE TABLE big (x INTEGER, pad TEXT);")
    base = ["--database", pg_url, *mdirs.args()]
    assert run_cli(*base, "up", "--yes", "--no-backup").code == 0
    watch = psycopg.connect(pg_url, autocommit=True)
    try:
        watch.execute(
            "INSERT INTO big SELECT g, repeat('x', 50) FROM generate_series(1, 1500000) g"
        )
        made = run_cli(*base, "backup", "create", timeout=300)
        assert made.code == 0, made.err
        watch.execute("INSERT INTO big VALUES (-1, 'written since the backup')")
        name = watch.execute("SELECT current_database()").fetchone()[0]
        rc = tmp_path / "rc"
        console = f"env TERM=xterm-256color {MALNU} {' '.join(base)}"
        tmux.run("new-session", "-d", "-s", "malnu", "-x", "100", "-y", "30", "bash", "-c",
                 f"(trap : HUP; {console}; echo $? > {rc})")  # fmt: skip
        tmux.wait_for("big")
        tmux.run("send-keys", "-t", "malnu", "b")
        tmux.wait_for("manual", timeout=30)
        tmux.run("send-keys", "-t", "malnu", "o")
        tmux.wait_for("Next ▶ (n)", timeout=120)  # verified
        tmux.run("send-keys", "-t", "malnu", "n")
        tmux.wait_for(f"Type {name}", timeout=30)
        _type_name(tmux, name)
        tmux.run("send-keys", "-t", "malnu", "Enter")
        loading = (
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND state = 'active' "
            "AND application_name = 'psql' AND query LIKE 'COPY public.big%%'"
        )
        deadline = time.monotonic() + 120
        while watch.execute(loading, (name,)).fetchone() == (0,):
            assert time.monotonic() < deadline, tmux.screen()
            time.sleep(0.05)
        pid = _console_pid(tmux)
        tmux.kill()
        while not _said(rc):  # bash's `> rc` makes the file before `echo` writes in it
            assert time.monotonic() < deadline + 60, "the console never exited"
            time.sleep(0.1)
        assert int(rc.read_text()) == 129
        assert not Path(f"/proc/{pid}").exists()
        _no_session_left(watch, name)
        assert watch.execute("SELECT count(*), min(x) FROM big").fetchone() == (1500001, -1)
        run = watch.execute(
            "SELECT outcome, detail FROM malnu_audit WHERE action = 'run' AND object LIKE "
            "'restore%' ORDER BY id DESC"
        ).fetchone()
        assert run is not None and run[0] == "failed" and "interrupted" in run[1], run
    finally:
        watch.close()
    mine = (name.encode(), str(tmp_path).encode())  # psql's --dbname, pg_restore's dump file
    for proc in Path("/proc").glob("[0-9]*"):  # no child of the console's left behind
        with contextlib.suppress(OSError):
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            line = b" ".join(argv)
            tool = argv[0].endswith((b"pg_restore", b"psql", b"pg_dump"))
            assert not (tool and any(m in line for m in mine)), line
    _check_backup(base, "pre-restore")
    status = run_cli(*base, "status", "--json")
    assert status.code == 0 and json.loads(status.out)["lock"] is None, status.out


def test_a_stop_reaches_a_worker_once_and_waits_for_a_held_block() -> None:
    """The console's stop in its workers, as the CLI's signal in its main thread: raised once
    at the next Python line (a second SIGHUP does not cut the clean-up short); within
    interrupts_held (a D1 restore sent, which D1 runs whoever listens) only noted, the
    block's work done and the stop reported in ``came``, not raised."""
    import signal
    import threading

    from malnu_tui.engine.interrupts import HungUp, interrupts_held, stop_workers, stoppable

    started, cleaning = threading.Event(), threading.Event()
    seen: list[object] = []

    def plain() -> None:
        with stoppable():
            try:
                started.set()
                while True:
                    time.sleep(0.01)
            except HungUp:  # the engine's clean-up (a rollback, the run row, the lock)
                cleaning.set()
                for _ in range(30):
                    time.sleep(0.01)
                seen.append("cleaned")

    def held() -> None:
        with stoppable(), interrupts_held() as h:
            started.set()
            while not h.came:
                time.sleep(0.01)
            for _ in range(20):
                time.sleep(0.01)
            seen.append(("held done", list(h.signals)))

    for body in (plain, held):
        started.clear()
        worker = threading.Thread(target=body)
        worker.start()
        assert started.wait(10)
        assert stop_workers(signal.SIGHUP) == 1
        if body is plain:
            assert cleaning.wait(10)
            assert stop_workers(signal.SIGHUP) == 1  # a second one, during the clean-up
        worker.join(10)
        assert not worker.is_alive()
    assert seen == ["cleaned", ("held done", [signal.SIGHUP])], seen
    assert stop_workers(signal.SIGHUP) == 0


def test_a_stop_cancels_the_statement_in_flight_and_not_the_clean_ups(pg_url: str) -> None:
    """The console's stop cancels a worker's PostgreSQL statement that waits as it comes; it
    also cancelled, sent from another thread a moment after the stop, whatever the worker ran
    next: a worker stopped between two statements had its clean-up's own statement cancelled
    (the run row, the lock's release: the lock left behind). Now only a statement running as
    the stop comes is cancelled; the clean-up's run as they would in the CLI."""
    import signal
    import threading

    from malnu_tui.engine.backends.pg_session import open_session
    from malnu_tui.engine.interrupts import HungUp, stop_workers, stoppable

    started = threading.Event()
    seen: list[str] = []

    def worker(in_statement: bool) -> None:
        with stoppable(), open_session(pg_url, {}, "pg", "0", "0") as conn:
            try:
                started.set()
                if in_statement:
                    conn.execute("SELECT pg_sleep(60)")
                n = 0
                while True:  # between two statements (rows read from a source, a file)
                    n += 1
            except HungUp:
                seen.append("stopped")
            except psycopg.errors.QueryCanceled:
                seen.append("cancelled")
            try:  # the clean-up's statement: long enough for any cancel sent to hit it
                conn.rollback()
                conn.execute("SELECT pg_sleep(1)")
                seen.append("cleaned")
            except psycopg.errors.QueryCanceled:
                seen.append("clean-up cancelled")

    for in_statement in (True, False):
        started.clear()
        thread = threading.Thread(target=worker, args=(in_statement,))
        thread.start()
        assert started.wait(10)
        if in_statement:  # (the worker waits on the server)
            deadline = time.monotonic() + 10
            with psycopg.connect(pg_url, autocommit=True) as watch:
                q = "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(60)'"
                while watch.execute(q).fetchone() != (1,):
                    assert time.monotonic() < deadline
                    time.sleep(0.01)
        assert stop_workers(signal.SIGHUP) == 1
        thread.join(30)
        assert not thread.is_alive()
    # (the first clean-up's statement is not asserted on: psycopg's own cancel, sent when the
    # stop lands in its wait for the cancelled statement's answer, may still reach it)
    assert seen[0] == "stopped" and seen[2:] == ["stopped", "cleaned"], seen
