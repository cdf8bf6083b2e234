"""The ``--json`` contract of a command stopped by a signal (README "The CLI"): Ctrl-C or
SIGTERM (exit 130 or 143, its ``interrupted`` or ``terminated`` line) prints what the command
left durable as its one document, as a failure does: the migrations an ``up`` or ``rollback``
committed before the one it stopped in, a recover's restore, the tables a ``sync`` finished,
an ``import`` whose COMMIT was in; so does a ``rollback`` done whose status cannot be read
again. Real processes and real signals, each landing where the test holds the command: on an
advisory lock of the test's PostgreSQL session (in a migration, or a trigger on the run rows)
or a table lock, seen waiting in ``pg_locks`` before the signal is sent. One database a test,
every case in it."""

from __future__ import annotations

import array
import fcntl
import json
import os
import signal
import sqlite3
import subprocess
import termios
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from tests.fixtures_core import (
    CLI,
    REPO,
    CliResult,
    MigrationDirs,
    popen_cli,
    run_cli,
    stop_if_running,
)

GATE = 4242  # the advisory lock the test holds; a gated statement waits on it
HOLD_GATE = f"SELECT pg_advisory_lock({GATE})"
WAIT_GATE = f"SELECT pg_advisory_xact_lock({GATE});"
V1, V2 = "20250101_000100", "20250101_000200"


def _stopped(url: str, sig: signal.Signals, held: str, *args: str, **env: str) -> CliResult:
    """``malnu-tui ARGS --json`` sent ``sig`` once one of its sessions waits on the lock the
    test holds (``held``: the statement taking it, in a transaction left open meanwhile)."""
    with psycopg.connect(url) as gate:
        gate.execute(held)
        proc = popen_cli(*args, "--json", env=env)
        try:
            _until_waiting(url, proc)
            proc.send_signal(sig)
            out, err = proc.communicate(timeout=60)
        finally:
            stop_if_running(proc)
        gate.rollback()
    return CliResult(proc.returncode, out, err)


def _stopped_unread(url: str, sig: signal.Signals, *args: str, **env: str) -> CliResult:
    """:func:`_stopped` (on :data:`HOLD_GATE`), its stdout a pipe whose reader is gone."""
    read, write = os.pipe()
    os.close(read)
    with psycopg.connect(url) as gate:
        gate.execute(HOLD_GATE)
        proc = subprocess.Popen(
            [*CLI, *args, "--json"],
            stdout=write,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env={**os.environ, **env},
            cwd=REPO,
        )
        os.close(write)
        try:
            _until_waiting(url, proc)
            proc.send_signal(sig)
            _out, err = proc.communicate(timeout=60)
        finally:
            stop_if_running(proc)
        gate.rollback()
    return CliResult(proc.returncode, "", err)


def _until_waiting(url: str, proc: Any) -> None:
    """Until a session other than the test's waits on a lock (a minute at most)."""
    deadline = time.monotonic() + 60
    with psycopg.connect(url, autocommit=True) as c:
        while time.monotonic() < deadline and proc.poll() is None:
            if c.execute("SELECT 1 FROM pg_locks WHERE NOT granted").fetchone():
                return
            time.sleep(0.01)
    raise AssertionError(f"never waited: {proc.communicate(timeout=60)}")


def test_up_rollback_and_recover_stopped_by_a_signal_say_what_is_in(
    tmp_path: Path, pg_url: str
) -> None:
    """`up --json` stopped by SIGTERM in its second migration (the first committed), then
    `rollback --json` stopped by Ctrl-C in its second rollback file: each printed nothing on
    stdout, and a deploy script could not tell which went in. Now the one document says the
    files done, exit 143 or 130 with `terminated` or `interrupted`."""
    d = MigrationDirs(tmp_path)
    d.add(V1, "kelas", "CREATE TABLE kelas (id INTEGER PRIMARY KEY);",
          WAIT_GATE + "\nDROP TABLE kelas;")  # fmt: skip
    d.add(V2, "nilai", WAIT_GATE + "\nCREATE TABLE nilai (id INTEGER PRIMARY KEY);",
          "DROP TABLE nilai;")  # fmt: skip
    env = {"XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    base = ["--database", pg_url, *d.args()]

    up = _stopped(pg_url, signal.SIGTERM, HOLD_GATE, *base, "up", "--no-backup", **env)
    assert up.code == 143 and up.err.endswith("terminated\n"), up.err
    doc = json.loads(up.out)  # one document, whole
    assert [f["filename"] for f in doc["applied"]] == [f"{V1}_kelas.sql"], doc
    assert (doc["skipped"], doc["backup_id"]) == ([], None), doc
    # Its reader gone (`| jq` killed, a logger that died): the document could not be written,
    # and a traceback ended it, exit 1, where it ends as any SIGTERM does.
    assert run_cli(*base, "rollback", "--yes", "--no-backup", env=env).code == 0
    unread = _stopped_unread(pg_url, signal.SIGTERM, *base, "up", "--no-backup", **env)
    assert unread.code == 143 and unread.err.endswith("terminated\n"), unread.err
    assert run_cli(*base, "up", "--no-backup", env=env).code == 0  # V2 too

    back = _stopped(pg_url, signal.SIGINT, HOLD_GATE, *base, "rollback", "--steps", "2", "--yes",
                    "--no-backup", **env)  # fmt: skip
    assert back.code == 130 and back.err.endswith("interrupted\n"), back.err
    doc = json.loads(back.out)
    assert [f["filename"] for f in doc["rolled_back"]] == [f"{V2}_nilai.sql"], doc
    status = json.loads(run_cli(*base, "status", "--json", env=env).out)
    assert [m["state"] for m in status["migrations"]] == ["applied", "pending"], status
    # A rollback done whose status, read again after it, fails (the database gone: here its
    # session ended by a DBA as its run row waits): it printed no document.
    _gate_run_rows(pg_url)
    assert run_cli(*base, "up", "--no-backup", env=env).code == 0  # (V2: the gate is free)
    # A rollback done, SIGTERM as its run row is written (its lock released): all of it is in.
    late = _stopped(pg_url, signal.SIGTERM, HOLD_GATE, *base, "rollback", "--yes", "--no-backup",
                    **env)  # fmt: skip
    assert late.code == 143 and late.err.endswith("terminated\n"), late.err
    assert [f["filename"] for f in json.loads(late.out)["rolled_back"]] == [f"{V2}_nilai.sql"]
    assert run_cli(*base, "up", "--no-backup", env=env).code == 0
    with psycopg.connect(pg_url, autocommit=True) as dba:
        dba.execute(HOLD_GATE)
        proc = popen_cli(*base, "rollback", "--yes", "--no-backup", "--json", env=env)
        try:
            _until_waiting(pg_url, proc)
            dba.execute("SELECT pg_terminate_backend(pid) FROM pg_locks WHERE NOT granted")
            dba.execute(f"SELECT pg_advisory_unlock({GATE})")
            out, err = proc.communicate(timeout=60)
        finally:
            stop_if_running(proc)
    gone = CliResult(proc.returncode, out, err)
    assert gone.code == 1 and "error: " in gone.err, gone.err
    assert [f["filename"] for f in json.loads(gone.out)["rolled_back"]] == [f"{V2}_nilai.sql"]

    # A recover stopped half-way by SIGTERM (restored, V2 re-run waits): the restore is durable
    # and the pre-recover backup undoes it, as for a recover whose migration failed.
    with psycopg.connect(pg_url, autocommit=True) as c:
        c.execute("DROP TRIGGER gate_runs ON malnu_audit")
    assert run_cli(*base, "backup", "create", env=env).code == 0  # (V1 applied)
    assert run_cli(*base, "up", "--no-backup", env=env).code == 0
    when = datetime.now(UTC).isoformat()  # (the audit's seconds: backup <= V2's apply <= when)
    rec = _stopped(
        pg_url, signal.SIGTERM, HOLD_GATE, *base, "recover", "--to", when, "--yes", **env
    )
    assert rec.code == 143 and rec.err.endswith("terminated\n"), rec.err
    doc = json.loads(rec.out)
    assert (doc["reapplied"], doc["rolled_back"]) == ([], []), doc
    assert doc["restored"] and doc["pre_recover_backup"] in rec.err, (doc, rec.err)


def _gate_run_rows(url: str) -> None:
    """Each run row (written after the run, its lock released) waits on the test's gate."""
    with psycopg.connect(url, autocommit=True) as c:
        c.execute(
            "CREATE FUNCTION gate_runs() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN PERFORM pg_advisory_xact_lock({GATE}); RETURN NEW; END $$;"
            "CREATE TRIGGER gate_runs BEFORE INSERT ON malnu_audit FOR EACH ROW "
            "WHEN (NEW.action = 'run') EXECUTE FUNCTION gate_runs()"
        )


def test_import_and_sync_stopped_by_a_signal_say_what_is_in(tmp_path: Path, pg_url: str) -> None:
    """`import --json` whose COMMIT was in when SIGTERM came (as its run row is written) and
    `sync --json` stopped by Ctrl-C in its second table (the first synced and verified):
    nothing on stdout, though the rows were in. Now the import's report (`committed`), the
    sync's tables (the one it stopped at with `error`). The import, committed, is said done
    (exit 0, the signal too late to undo it), as one whose COMMIT returned as the signal came
    (tests/test_import_stop_points.py): it said `terminated` (143)."""
    env = {"XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    with psycopg.connect(pg_url, autocommit=True) as c:
        c.execute("CREATE TABLE siswa (id INTEGER PRIMARY KEY, nama TEXT NOT NULL)")
    csv = tmp_path / "siswa.csv"
    csv.write_text("id,nama\n1,Siti\n2,Budi\n", encoding="utf-8")
    ok = run_cli("--database", pg_url, "status", env=env)  # (the tool's tables, then the gate)
    assert ok.code == 0, ok.err
    _gate_run_rows(pg_url)
    into = ["--database", pg_url, "import", str(csv), "--table", "siswa", "--yes", "--no-backup"]
    imp = _stopped(pg_url, signal.SIGTERM, HOLD_GATE, *into, **env)
    assert imp.code == 0 and "came after it had committed, too late" in imp.err, imp.err
    assert "terminated" not in imp.err, imp.err
    doc = json.loads(imp.out)
    assert (doc["committed"], doc["inserted"]) == (True, 2), doc
    with psycopg.connect(pg_url, autocommit=True) as c:
        assert c.execute("SELECT count(*) FROM siswa").fetchone() == (2,)
        c.execute("DROP TRIGGER gate_runs ON malnu_audit")

    src = tmp_path / "primary.db"
    with sqlite3.connect(src) as conn:
        conn.executescript(
            "CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO a VALUES (1, 'x');"
            "CREATE TABLE b (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO b VALUES (1, 'y');"
        )
    conn.close()
    cfg = tmp_path / "malnu.toml"
    cfg.write_text(
        f'[targets.primary]\nurl = "sqlite:///{src}"\n[targets.analytics]\nurl = "{pg_url}"\n'
        '[sync.reporting]\nfrom = "primary"\nto = "analytics"\ntables = ["a", "b"]\n',
        encoding="utf-8",
    )
    sync = ["--config", str(cfg), "sync", "reporting", "--yes"]
    first = run_cli(*sync, env=env)
    assert first.code == 0, first.err
    with sqlite3.connect(src) as conn:
        conn.execute("INSERT INTO a VALUES (2, 'x')")
        conn.execute("INSERT INTO b VALUES (2, 'y')")
    conn.close()
    stop = _stopped(pg_url, signal.SIGINT, "LOCK TABLE b IN SHARE MODE", *sync, **env)
    assert stop.code == 130 and stop.err.endswith("interrupted\n"), stop.err
    a, b = json.loads(stop.out)
    assert (a["table"], a["verified"], a["dest_count"]) == ("a", True, 2), a
    assert (b["table"], b["verified"], b["error"]) == ("b", False, "interrupted"), b


def test_a_document_is_written_whole_and_once_when_a_signal_comes_as_it_is_written(
    tmp_path: Path,
) -> None:
    """SIGTERM while `up --json` writes its document into a pipe its reader has not emptied
    (a slow `jq`, a full buffer): the write was cut where the signal came, and the script read
    a cut document (no JSON). Now the document is written whole, then the command ends
    `terminated` (143) as any SIGTERM ends it, without the document a second time (what it
    did is its report, which a stop before the document is out writes)."""
    d = MigrationDirs(tmp_path)
    for n in range(120):  # a document of ~9 KB, over the pipe's 4 KB
        d.add(f"20250101_{n:06d}", f"kelas_{n}", f"CREATE TABLE kelas_{n} (id INTEGER);")
    db = ["--database", f"sqlite:///{tmp_path / 'school.db'}", *d.args()]
    proc = subprocess.Popen(
        [*CLI, *db, "up", "--no-backup", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        out = proc.stdout.fileno()
        size = fcntl.fcntl(out, fcntl.F_SETPIPE_SZ, 4096)
        deadline = time.monotonic() + 60
        while _unread(out) < size:  # full: the writer waits in its write (more to come)
            assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
            time.sleep(0.01)
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        stop_if_running(proc)
    assert proc.returncode == 143 and stderr.endswith(b"terminated\n"), stderr
    doc = json.loads(stdout)  # one document, whole
    assert len(doc["applied"]) == 120


def _unread(fd: int) -> int:
    """Bytes in the pipe ``fd`` not read yet."""
    buf = array.array("i", [0])
    fcntl.ioctl(fd, termios.FIONREAD, buf)
    return buf[0]
