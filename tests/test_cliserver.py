"""``run_cli`` forks the CLI from a server that imported it once (tests/cliserver.py): each run
must be what a fresh ``python -m malnu_tui`` gives, exit code, stdout and stderr to the byte."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from tests import cliserver
from tests.fixtures_core import CLI, REPO, MigrationDirs, popen_cli, run_cli, school_set
from tests.fixtures_matrix import DbTarget
from tests.test_processes import slow_sql


def fresh(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    proc = subprocess.run(
        [*CLI, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        input="",
        timeout=60,
        cwd=REPO,
    )
    return proc.returncode, proc.stdout, proc.stderr


def forked(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    return cliserver.run(list(args), {**os.environ, **(env or {})}, "", 60, REPO)


def _same(text: str, db: Path) -> str:
    """The run's text with what differs between two runs on two databases made equal: the
    database's path, milliseconds taken (``12 ms``; JSON's ``"execution_time_ms": 12``: a
    whole-suite run had 0 and 1), times of day, and the padding of table columns whose
    width follows the milliseconds (``3 ms`` or ``12 ms``, under load)."""
    text = text.replace(db.parent.name, "WAY")
    text = re.sub(r"\d+(\.\d+)? m?s\b", "N ms", text)
    text = re.sub(r'("\w*_ms"): \d+', r"\1: N", text)  # JSON's execution_time_ms, under load
    text = re.sub(r"\d\d:\d\d(:\d\d(\.\d+)?)?", "HH:MM", text)
    return re.sub(r" +", " ", text)


def test_a_forked_run_is_a_fresh_processs_to_the_byte(tmp_path: Path, mdirs: MigrationDirs) -> None:
    d = school_set(mdirs)
    bad = tmp_path / "bad.toml"
    bad.write_text("[targets.primary]\nurl = \n")
    runs: tuple[tuple[bool, tuple[str, ...], dict[str, str] | None], ...] = (
        (False, ("--help",), None),  # argparse's prog and its exit through SystemExit(0)
        (False, ("rollback", "--steps", "x"), None),  # a usage error: exit 2
        (False, ("--config", str(bad), "status"), None),  # a config error naming the file
        (True, ("up", "--no-backup"), None),  # the run's lines on stderr, exit 0
        (True, ("status",), {"TZ": "Asia/Jakarta"}),  # the time zone of the run's environment
        (True, ("rollback", "--no-backup"), None),  # no terminal, no --yes: exit 2
        (True, ("status", "--json"), None),
    )
    # A short root: a --database path over 80 characters (xdist's tmp_path) names its store
    # with a hash of the whole URL, which differs between wayA and wayB.
    root = Path(tempfile.mkdtemp(prefix="cs", dir="/tmp"))
    for on_db, args, env in runs:  # each way on a database of its own: the runs change them
        seen = []
        for way, db in ((forked, root / "wayA" / "x.db"), (fresh, root / "wayB" / "x.db")):
            db.parent.mkdir(exist_ok=True)
            where = ("--database", f"sqlite:///{db}", *d.args()) if on_db else ()
            code, out, err = way(*where, *args, env=env)
            seen.append((code, _same(out, db), _same(err, db)))
        assert seen[0] == seen[1], args
    shutil.rmtree(root)


def test_a_forked_run_is_a_process_of_its_own(tmp_path: Path) -> None:
    """Runs started together run together, each with its own exit status and output; a run
    that outlasts its timeout is killed and said, as ``subprocess.run`` does."""
    script = tmp_path / "pid.toml"
    script.write_text("[targets.primary]\nurl = \n")
    results: list[tuple[int, str, str]] = []

    def one() -> None:
        results.append(forked("--config", str(script), "status"))

    threads = [threading.Thread(target=one) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 3 and len(set(results)) == 1 and results[0][0] == 2, results
    silent = socket.create_server(("127.0.0.1", 0))  # lets the client in, never answers
    try:
        url = f"postgresql://x@127.0.0.1:{silent.getsockname()[1]}/db?connect_timeout=30"
        with pytest.raises(subprocess.TimeoutExpired):
            run_cli("--database", url, "status", timeout=1)
    finally:
        silent.close()


def test_a_run_whose_environment_changes_how_python_starts_gets_a_fresh_interpreter() -> None:
    env = {**os.environ, "PYTHONIOENCODING": "ascii"}
    assert not cliserver.usable(env)
    with pytest.raises(ValueError):
        cliserver.run(["--help"], env, "", 60, REPO)
    assert run_cli("--help", env={"PYTHONIOENCODING": "ascii"}).code == 0


def test_a_started_run_is_signalled_and_ends_as_a_fresh_process_does(
    fresh_db: Callable[[str], DbTarget], mdirs: MigrationDirs
) -> None:
    """``popen_cli`` forks its run too: the run holds the lock under its own pid, takes
    SIGTERM in the middle of a migration, and ends with a fresh process's exit status and
    lines (its stderr read line by line, then ``communicate``)."""
    mdirs.add("20250101_000100", "seed", "CREATE TABLE seed (n INTEGER);", "DROP TABLE seed;")
    mdirs.add("20250101_000200", "slow", slow_sql("postgresql:", 60), "DROP TABLE big;")
    starts = {
        "forked": lambda *a: popen_cli(*a),
        "fresh": lambda *a: subprocess.Popen(
            [*CLI, *a], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL, text=True, cwd=REPO,
        ),
    }  # fmt: skip
    seen = {}
    for way, start in starts.items():
        db = fresh_db("postgresql")
        proc = start("--database", db.url, *mdirs.args(), "up", "--no-backup")
        assert isinstance(proc, cliserver.Started) == (way == "forked")
        try:
            assert proc.stderr is not None
            while line := proc.stderr.readline():
                if line.startswith("[2/2]"):
                    break
            assert proc.poll() is None, line
            with psycopg.connect(db.url) as conn:
                holder = conn.execute("SELECT pid FROM malnu_lock").fetchall()
            assert holder == [(proc.pid,)]
            proc.send_signal(signal.SIGTERM)
            _out, err = proc.communicate(timeout=60)
        finally:
            proc.kill()
        seen[way] = (proc.returncode, err.replace(db.url, "DB"))
    assert seen["forked"] == seen["fresh"] and seen["fresh"][0] != 0, seen


_CHILD_SAYS = (
    "import signal, subprocess, sys\n"
    "from tests.conftest import interrupts_as_from_a_terminal\n"
    "interrupts_as_from_a_terminal()\n"
    "probe = 'import signal as s; print(s.getsignal(s.SIGINT) is s.default_int_handler)'\n"
    "print(subprocess.run([sys.executable, '-c', probe], capture_output=True, text=True).stdout)\n"
)


def test_a_suite_started_with_ctrl_c_ignored_gives_its_processes_ctrl_c() -> None:
    """A suite run as a background job of a script (`pytest … > out.txt &`) inherits SIGINT
    ignored and passed it on to every CLI run: the three tests that send SIGINT failed (in
    CI, as if under load). This process has Python's handler back (conftest), and a process
    started with SIGINT ignored that does as conftest does starts its own with SIGINT's
    default."""
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler

    def ignored() -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    res = subprocess.run([sys.executable, "-c", _CHILD_SAYS], capture_output=True, text=True,
                         cwd=REPO, preexec_fn=ignored, timeout=60)  # fmt: skip
    assert res.stdout.strip() == "True", res.stdout + res.stderr
