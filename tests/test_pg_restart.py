"""The PostgreSQL server restarted (``pg_ctl restart``: a maintenance window, a failover, a
crash) in the middle of a command: a cluster of the test's own, since every session on it
ends. What the operator reads, and what the audit trail keeps."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.fixtures_core import popen_cli, run_cli, stop_if_running
from tests.fixtures_pg import PgCluster, _as_server_user, start_cluster, stop_cluster

WAIT = 90  # seconds: far beyond what any of these takes; only a hang reaches it


@pytest.fixture(scope="module")
def own_cluster() -> Iterator[PgCluster]:
    base = Path(tempfile.mkdtemp(prefix="malnu-pg-restart-"))
    try:
        cluster = start_cluster(base)
    except Exception:
        shutil.rmtree(base, ignore_errors=True)
        raise
    try:
        yield cluster
    finally:
        stop_cluster(cluster.bin_dir, cluster.data_dir)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def filled(own_cluster: PgCluster) -> str:
    """The 400,000 rows, made once: each test's database is a copy of this one."""
    name = "r_filled"
    with psycopg.connect(own_cluster.superuser_url, autocommit=True) as c:
        c.execute(f"CREATE DATABASE {name}")
    with psycopg.connect(own_cluster.url(name), autocommit=True) as c:
        c.execute(
            "CREATE TABLE kelas (kode text PRIMARY KEY, nama text); INSERT INTO kelas "
            "SELECT 'K' || g, repeat('x', 200) FROM generate_series(1, 400000) g"
        )
    return name


@pytest.fixture
def db_url(own_cluster: PgCluster, filled: str) -> str:
    """A fresh database of the test's own cluster, filled with 400,000 rows: a file copy of
    the module's filled one (the same table, rows and index as building them again, at a
    fraction of the CPU; nobody ever connects to the template, so the copy is never refused)."""
    name = f"r_{time.monotonic_ns()}"
    with psycopg.connect(own_cluster.superuser_url, autocommit=True) as c:
        c.execute(f"CREATE DATABASE {name} TEMPLATE {filled} STRATEGY FILE_COPY")
    return own_cluster.url(name)


def _restart_when(cluster: PgCluster, query: str, proc: subprocess.Popen[str]) -> None:
    """``pg_ctl restart`` (fast: every session ended) once ``query`` finds a session."""
    log = str(cluster.data_dir.parent / "server.log")
    # The new postmaster keeps whatever output it is given: a log file, not a pipe.
    _pg_ctl_when(cluster, query, proc, "-l", log, "restart")


def _pg_ctl_when(cluster: PgCluster, query: str, proc: subprocess.Popen[str], *action: str) -> None:
    """``pg_ctl -m fast -w ACTION…`` once ``query`` finds a session (``proc`` still running)."""
    deadline = time.monotonic() + WAIT
    with psycopg.connect(cluster.superuser_url, autocommit=True) as c:
        while not c.execute(query).fetchone():  # type: ignore[arg-type]
            assert time.monotonic() < deadline and proc.poll() is None, "never got there"
            time.sleep(0.01)
    pg_ctl = [cluster.bin("pg_ctl"), "-D", str(cluster.data_dir), "-m", "fast", "-w"]
    subprocess.run(
        _as_server_user([*pg_ctl, *action]),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=WAIT,
        check=True,
    )


def _ended(proc: subprocess.Popen[str]) -> str:
    try:
        _out, err = proc.communicate(timeout=WAIT)
    finally:
        stop_if_running(proc)
    return err


def test_a_restore_cut_by_a_server_restart_is_audited_and_said_plainly(
    own_cluster: PgCluster, db_url: str, tmp_path: Path
) -> None:
    """`pg_ctl restart` while the restore's psql streamed the data in: the restore was
    rolled back (right), but no audit row said it had failed (the row, and the run row, were
    written on the tool's session the restart had ended: lost without a word), and the error
    was libpq's three lines run together, `…unexpectedly; This probably means the server
    terminated abnormally; before or while processing the request.; FATAL: …`, with no hint.
    Now the failure is audited on a new session, and said in one line with a way on."""
    env = {"MALNU_BACKUP_DIR": str(tmp_path / "store")}
    assert run_cli("--database", db_url, "backup", "create", env=env).code == 0
    (backup,) = json.loads(run_cli("--database", db_url, "backup", "list", "--json", env=env).out)
    with psycopg.connect(db_url, autocommit=True) as c:
        c.execute("INSERT INTO kelas VALUES ('baru', 'sesudah backup')")
    proc = popen_cli("--database", db_url, "backup", "restore", backup["id"], "--yes", env=env)
    _restart_when(
        own_cluster,
        "SELECT 1 FROM pg_stat_activity WHERE application_name = 'psql' "
        "AND query LIKE 'COPY%FROM stdin%'",
        proc,
    )
    err = _ended(proc)
    assert proc.returncode == 1, err
    assert "Traceback" not in err and ".;" not in err and ";;" not in err, err
    assert (
        "error: restore failed and was rolled back, the database is unchanged: the server "
        "ended psql's session (terminating connection due to administrator command)\n"
    ) in err, err
    assert "hint: a server restart, a failover or `pg_terminate_backend` ends a session" in err
    with psycopg.connect(db_url) as c:
        assert c.execute("SELECT count(*) FROM kelas").fetchone() == (400_001,)
        rows = c.execute(
            "SELECT action, outcome, detail FROM malnu_audit WHERE action IN ('restore', 'run') "
            "ORDER BY id"
        ).fetchall()
    (failed,) = [r for r in rows if r[0] == "restore"]
    assert failed[1] == "failed" and "the server ended psql's session" in failed[2], rows
    run = json.loads(rows[-1][2])
    assert (rows[-1][1], run["op"]) == ("failed", "restore"), rows


def test_a_backup_cut_by_a_server_restart_says_no_backup_was_made_and_why(
    own_cluster: PgCluster, db_url: str, tmp_path: Path
) -> None:
    """A restart during `backup create` (or a safety backup) ends the snapshot's session
    too, and its error was all the operator read: `error: postgresql://…: terminating
    connection due to administrator command`, nothing of the backup, no hint. pg_dump's
    own failure, when it is the one said, ran its lines together: its last, `Command was:
    COPY public.kelas (kode, nama) TO stdout;`, then `; no backup was made` gave `;;`."""
    env = {"MALNU_BACKUP_DIR": str(tmp_path / "store")}
    copying = (
        "SELECT pid FROM pg_stat_activity WHERE application_name = 'pg_dump' "
        "AND query LIKE 'COPY%TO stdout%'"
    )
    proc = popen_cli("--database", db_url, "backup", "create", env=env)
    _restart_when(own_cluster, copying, proc)
    err = _ended(proc)
    assert proc.returncode == 1, err
    assert "error: postgresql://" in err and "; no backup was made\n" in err, err
    assert "the server ended the backup snapshot's session (" in err, err
    assert "hint: a server restart, a failover or `pg_terminate_backend` ends a session" in err
    assert ".;" not in err and "Traceback" not in err, err

    proc = popen_cli("--database", db_url, "backup", "create", env=env)
    deadline = time.monotonic() + WAIT
    with psycopg.connect(own_cluster.superuser_url, autocommit=True) as c:
        while not (found := c.execute(copying).fetchone()):
            assert time.monotonic() < deadline and proc.poll() is None, "never copied"
            time.sleep(0.01)
        c.execute("SELECT pg_terminate_backend(%s, 5000)", (found[0],))
    err = _ended(proc)
    assert proc.returncode == 1, err
    assert "error: pg_dump failed" in err and " TO stdout; no backup was made" in err, err
    assert ";;" not in err and ".;" not in err and "Traceback" not in err, err
    listed = run_cli("--database", db_url, "backup", "list", "--json", env=env)
    assert json.loads(listed.out) == [], listed


def test_a_deep_verification_cut_by_a_server_restart_leaves_the_backup_as_it_was(
    own_cluster: PgCluster, db_url: str, tmp_path: Path
) -> None:
    """A restart while `backup verify --deep` restored into its scratch database: the sound
    backup was marked `FAILED verification: it will not be restored` (its verified state
    cleared: `restore` and `check` then treated it as bad), for a failure of the server.
    Now nothing is concluded: an error that says so, the backup's state as it was."""
    env = {"MALNU_BACKUP_DIR": str(tmp_path / "store")}
    assert run_cli("--database", db_url, "backup", "create", env=env).code == 0
    (before,) = json.loads(run_cli("--database", db_url, "backup", "list", "--json", env=env).out)
    assert before["verified_at"] is not None
    proc = popen_cli("--database", db_url, "backup", "verify", "--deep", before["id"], env=env)
    _restart_when(
        own_cluster,
        "SELECT 1 FROM pg_stat_activity WHERE datname LIKE 'malnu\\_verify\\_%' "
        "AND query LIKE 'COPY%'",
        proc,
    )
    err = _ended(proc)
    assert proc.returncode == 1, err
    assert "FAILED verification" not in err and "Traceback" not in err, err
    assert (
        f"error: backup verify --deep of {before['id']}: the server ended pg_restore's session ("
    ) in err, err
    assert "nothing was concluded about the backup, its verified state is as it was" in err
    (after,) = json.loads(run_cli("--database", db_url, "backup", "list", "--json", env=env).out)
    assert after["verified_at"] == before["verified_at"], after


def test_a_restore_cut_by_a_server_stop_says_at_once_that_it_is_not_audited(
    own_cluster: PgCluster, db_url: str, tmp_path: Path
) -> None:
    """`pg_ctl stop` while the restore's psql streamed the data in: the tool tried for 15 s
    to write the failure's audit row on a new session (as it must for a restart) before the
    operator read anything, and then did not say the row was never written. Now a server
    that refuses outright twice in a row, a second apart, is not waited for, and the error's
    hint says the row is missing and what is left of the attempt. The attempts are counted by
    debug mode's lines (one per attempt)."""
    env = {"MALNU_BACKUP_DIR": str(tmp_path / "store")}
    assert run_cli("--database", db_url, "backup", "create", env=env).code == 0
    (backup,) = json.loads(run_cli("--database", db_url, "backup", "list", "--json", env=env).out)
    args = ("--debug", "--database", db_url, "backup", "restore", backup["id"], "--yes")
    proc = popen_cli(*args, env=env)
    pg_ctl = [own_cluster.bin("pg_ctl"), "-D", str(own_cluster.data_dir), "-w"]
    try:
        _stop_when(
            own_cluster,
            "SELECT 1 FROM pg_stat_activity WHERE application_name = 'psql' "
            "AND query LIKE 'COPY%FROM stdin%'",
            proc,
        )
        err = _ended(proc)
    finally:  # started again as it was (the module's other tests use it)
        log = str(own_cluster.data_dir.parent / "server.log")
        was = shlex.split((own_cluster.data_dir / "postmaster.opts").read_text())[1:]
        at = was.index("-D")
        options = shlex.join(was[:at] + was[at + 2 :])
        subprocess.run(
            _as_server_user([*pg_ctl, "-o", options, "-l", log, "start"]),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=WAIT,
            check=True,
        )
    assert proc.returncode == 1, err
    assert "error: restore failed and was rolled back, the database is unchanged" in err, err
    pre = next(
        b
        for b in json.loads(run_cli("--database", db_url, "backup", "list", "--json", env=env).out)
        if b["id"] != backup["id"]
    )
    assert (
        "the audit row of this failure could not be written (the server refused the "
        "connection: it is not running): nothing in the database records this attempt; the "
        f"pre-restore backup {pre['id']} in the backup store (and this message) are its only "
        "trace"
    ) in err, err
    attempts = [ln for ln in err.splitlines() if "reconnect target=" in ln]
    # The first two refusals in a row end it (the 15 s of retries took ~30); every attempt
    # before them found the server on its way down (which may be a restart) or gone.
    said = "".join(_what_the_server_said(ln) for ln in attempts)
    assert re.fullmatch("[DCR]*RR", said) and "RR" not in said[:-1], (said, attempts)
    with psycopg.connect(db_url) as c:
        assert c.execute("SELECT count(*) FROM kelas").fetchone() == (400_000,)
        failed = c.execute(
            "SELECT count(*) FROM malnu_audit WHERE action = 'restore' AND outcome = 'failed'"
        ).fetchone()
    assert failed == (0,)  # (none could be written: what the hint says)


def _what_the_server_said(attempt: str) -> str:
    """A reconnect attempt's debug line as a letter: D, `the database system is shutting
    down`, said while a server stopped (``-m fast``) ends its sessions; R, a refusal, once it
    is gone; C, `server closed the connection unexpectedly`, an attempt let in and dropped,
    which comes around the first refusal in no fixed place. The test took every attempt before
    the last two for a D and failed on a C (`pg_ctl stop` with 3 busy loops: C, R, R in one
    run of three). A loop connecting every 20 ms through 25 stops read, in 13 of its 100
    threads, a C after a refusal (up to 1.5 s after: the kernel's answer, not the server's);
    reopen itself, called 150 times through a stop, read D, R, C, R, R once. "?": anything
    else."""
    text = attempt.lower()
    if "connection refused" in text or "no such file or directory" in text:
        return "R"
    if "the database system is shutting down" in text:
        return "D"
    return "C" if "server closed the connection unexpectedly" in text else "?"


def _stop_when(cluster: PgCluster, query: str, proc: subprocess.Popen[str]) -> None:
    """``pg_ctl stop`` (fast: every session ended) once ``query`` finds a session."""
    _pg_ctl_when(cluster, query, proc, "stop")
