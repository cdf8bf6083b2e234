"""A database that is slow, unreachable or goes away while a command runs: every command ends
with a one-line error that says what happened (never a wait without end, never the error of a
clean-up step in place of the one that stopped it). Real processes and real sockets."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import sqlite3
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.d1server import Fault
from tests.fixtures_core import CliResult, MigrationDirs, popen_cli, run_cli, stop_if_running
from tests.fixtures_d1 import D1Target
from tests.sync_support import Db
from tests.webhook_support import Receiver

WAIT = 60  # seconds: far beyond what any of these takes; only a hang reaches it


def _session_waiting_on_a_lock(url: str, deadline: float) -> int:
    """The backend pid of the tool's session once it waits on a table lock."""
    with psycopg.connect(url, autocommit=True) as c:
        while time.monotonic() < deadline:
            row = c.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'malnu-tui %' "
                "AND wait_event_type = 'Lock'"
            ).fetchone()
            if row is not None:
                return int(row[0])
            time.sleep(0.05)
    raise AssertionError("the sync never waited on the table's lock")


def test_a_sync_whose_session_the_server_ends_says_so_not_the_connection_is_closed(
    tmp_path: Path, pg_url: str
) -> None:
    """The PostgreSQL server stopped (or restarted, or the session was terminated) in the
    middle of a sync: the command said `error: …: the connection is closed`, the error of
    releasing the lock on the dead session, which hid what had happened."""
    src = Db("sqlite", f"sqlite:///{tmp_path / 'p.db'}", path=tmp_path / "p.db")
    src.create_users(20)
    dst = Db("postgresql", pg_url)
    to = f"{pg_url}?lock_timeout=60s"  # the sync waits on the app's lock until it is ended
    args = ("sync", "--from", src.url, "--to", to, "--tables", "users", "--yes")
    assert run_cli(*args).code == 0
    src.insert_users(range(21, 41), updated="2025-11-25 08:00:00")
    with psycopg.connect(pg_url) as app:
        app.execute("LOCK TABLE users IN SHARE MODE")  # reads pass, the sync's writes wait
        proc = popen_cli(*args)
        try:
            pid = _session_waiting_on_a_lock(pg_url, time.monotonic() + WAIT)
            with psycopg.connect(pg_url, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))
            _out, err = proc.communicate(timeout=WAIT)
        finally:
            stop_if_running(proc)
    assert proc.returncode == 1, err
    assert "the connection is closed" not in err, err
    assert "the server ended this session" in err, err
    assert "Traceback" not in err
    assert dst.count() == 20  # the chunk that was cut off was rolled back


def test_a_backup_behind_a_table_locked_by_another_session_gives_up_and_names_it(
    pg_url: str,
) -> None:
    """pg_dump locks every table it dumps, in every schema. Behind a maintenance session
    holding a table of another schema exclusively (one the tool's own reads never touch),
    `backup create` — and the safety backup before every `up` — printed "pg_dump -Fc of …"
    and waited for ever. It now waits the target's lock_timeout, as the tool's statements do."""
    with psycopg.connect(pg_url, autocommit=True) as c:
        c.execute("CREATE SCHEMA laporan; CREATE TABLE laporan.rekap (id int)")
    with psycopg.connect(pg_url, application_name="vacuum-full-job") as maint:
        maint.execute("LOCK TABLE laporan.rekap IN ACCESS EXCLUSIVE MODE")
        res = run_cli("--database", f"{pg_url}?lock_timeout=1s", "backup", "create", timeout=WAIT)
    assert res.code == 1, res.err
    assert "pg_dump gave up waiting 1s for a lock on laporan.rekap; no backup was made" in res.err
    assert "(vacuum-full-job, postgres, idle in transaction)" in res.err
    assert "Traceback" not in res.err
    listed = run_cli("--database", pg_url, "backup", "list", "--json")
    assert listed.code == 0 and json.loads(listed.out) == [], listed.out


def test_d1_asking_to_come_back_in_an_hour_is_said_at_once_not_retried_for_minutes(
    d1: D1Target, tmp_path: Path
) -> None:
    """Cloudflare's 429 (or a 503 of maintenance) with `Retry-After: 3600`: the client waited
    32 s (its own cap), was refused again, five times — `status` sat silent for 160 s, then
    said "no answer after 6 attempts"; `check` took 32 s. Neither honoured the hour asked.
    Now a wait longer than the command's is said at once, with the time to come back."""
    empty = tmp_path / "none"
    empty.mkdir()
    files = ("--migrations-dir", str(empty), "--rollback-dir", str(empty))
    assert run_cli("--database", d1.url, *files, "status").code == 0  # the tool's tables
    d1.server.inject(Fault("status", count=1000, status=429, retry_after=3600))
    res = run_cli("--database", d1.url, *files, "status", timeout=WAIT)
    assert res.code == 1, res.err
    assert "rate limited by Cloudflare (HTTP 429), and asked to be tried again in 60 min" in res.err
    assert "hint: run again after " in res.err and " UTC; nothing was applied twice" in res.err
    checked = run_cli("--database", d1.url, *files, "check", timeout=WAIT)
    assert checked.code == 3, checked.out
    assert checked.out.startswith("MALNU UNKNOWN - ")
    assert "asked to be tried again in 60 min (Retry-After)" in checked.out.splitlines()[0]


def test_a_d1_retry_wait_is_said_as_it_starts(d1: D1Target, tmp_path: Path) -> None:
    """A 503 with `Retry-After: 2`: the command waited in silence (up to 32 s a retry, over
    two minutes in all) and an operator took it for a hang. Each wait of a second or more is
    now one stderr line saying what it waits for; the command then goes on."""
    empty = tmp_path / "none"
    empty.mkdir()
    files = ("--migrations-dir", str(empty), "--rollback-dir", str(empty))
    assert run_cli("--database", d1.url, *files, "status").code == 0
    d1.server.inject(Fault("status", count=1, status=503, retry_after=2))
    res = run_cli("--database", d1.url, *files, "status", timeout=WAIT)
    assert res.code == 0, res.err
    assert (
        "waiting: D1: HTTP 503: D1 DB is overloaded; trying again in 2.0 s (attempt 2 of 6)"
        in res.err
    )


def _session_running(url: str, query: str, deadline: float) -> int:
    """The backend pid of the tool's session once it runs ``query`` (a prefix) and sleeps, in
    ``url``'s database: the cluster is shared by the workers, and another test's sleeping COPY
    had the signal sent before this one's COPY began (seen once in a whole-suite run)."""
    with psycopg.connect(url, autocommit=True) as c:
        while time.monotonic() < deadline:
            row = c.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'malnu-tui %%' "
                "AND query LIKE %s AND wait_event = 'PgSleep' AND datname = current_database()",
                (query + "%",),
            ).fetchone()
            if row is not None:
                return int(row[0])
            time.sleep(0.05)
    raise AssertionError(f"the tool's session never ran {query!r}")


def _ended_by_the_server(pg_url: str, query: str, *argv: str) -> CliResult:
    """The CLI run with ``argv``, its session ended by the server (pg_terminate_backend) while
    it runs ``query``."""
    proc = popen_cli(*argv)
    try:
        pid = _session_running(pg_url, query, time.monotonic() + WAIT)
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))
        out, err = proc.communicate(timeout=WAIT)
    finally:
        stop_if_running(proc)
    return CliResult(proc.returncode, out, err)


def _up_ended_by_the_server(pg_url: str, mdirs: MigrationDirs, query: str) -> CliResult:
    return _ended_by_the_server(pg_url, query, "--database", pg_url, *mdirs.args(), "up",
                                "--no-backup")  # fmt: skip


def test_a_migration_cut_off_by_a_server_stop_says_so_not_the_connection_is_lost(
    pg_url: str, mdirs: MigrationDirs
) -> None:
    """The server stopped (a restart, a failover, `pg_terminate_backend`) while a migration
    ran: writing its failure row failed in turn, and that was all the operator read —
    `error: …: the connection is lost` — with no word of the migration or of its state."""
    mdirs.add("20240101_000000", "backfill", "SELECT pg_sleep(60);\nCREATE TABLE t (id int);",
              "DROP TABLE t;")  # fmt: skip
    res = _up_ended_by_the_server(pg_url, mdirs, "SELECT pg_sleep")
    assert res.code == 1, res.err
    assert (
        "migration 20240101_000000_backfill.sql failed at line 1: terminating connection" in res.err
    )
    assert "the server ended this session" in res.err and "all of it was rolled back" in res.err
    assert "its failure could not be recorded either (" in res.err
    assert "fix the file" not in res.err and "Traceback" not in res.err
    assert run_cli("--database", pg_url, *mdirs.args(), "status").code == 0
    with psycopg.connect(pg_url) as c:
        assert c.execute("SELECT count(*) FROM migrations").fetchone() == (0,)
        assert c.execute("SELECT to_regclass('t')").fetchone() == (None,)


def test_a_session_ended_during_the_commit_says_the_outcome_is_not_known(
    pg_url: str, mdirs: MigrationDirs
) -> None:
    """Ended while its COMMIT ran (here a deferred constraint trigger's work at COMMIT): it was
    reported "failed … all of it was rolled back", which the client cannot know — the
    COMMIT may have gone through. Now it says so, and how to find out."""
    mdirs.add(
        "20240101_000000",
        "nilai",
        "CREATE TABLE nilai (id int);\n"
        "CREATE FUNCTION nilai_cek() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN PERFORM pg_sleep(60); RETURN NULL; END $$;\n"
        "CREATE CONSTRAINT TRIGGER nilai_cek AFTER INSERT ON nilai DEFERRABLE INITIALLY "
        "DEFERRED FOR EACH ROW EXECUTE FUNCTION nilai_cek();\n"
        "INSERT INTO nilai VALUES (1);",
        "DROP TABLE nilai; DROP FUNCTION nilai_cek();",
    )
    res = _up_ended_by_the_server(pg_url, mdirs, "COMMIT")
    assert res.code == 1, res.err
    assert "20240101_000000_nilai.sql: the connection was lost at its COMMIT (" in res.err
    assert "whether it committed is not known" in res.err
    assert "`malnu-tui status " in res.err and "` shows whether it is applied" in res.err
    assert "rolled back" not in res.err and "Traceback" not in res.err


def test_a_d1_request_that_timed_out_is_said_before_it_is_sent_again(
    d1: D1Target, tmp_path: Path
) -> None:
    """D1 (or a proxy before it) that accepts and does not answer: each attempt waited its
    whole `timeout` (60 s by default) in silence, `status` six minutes with nothing said for
    the first two, and the end read "connection lost during the request (ReadTimeout)"."""
    empty = tmp_path / "none"
    empty.mkdir()
    config = tmp_path / "malnu.toml"
    config.write_text(
        f'[targets.primary]\nurl = "{d1.url}"\nmigrations_dir = "none"\nrollback_dir = "none"\n'
        "timeout = 1\n"
    )
    assert run_cli("--config", str(config), "status").code == 0
    d1.server.inject(Fault("slow", count=1, delay=3))
    res = run_cli("--config", str(config), "status", timeout=WAIT)
    assert res.code == 0, res.err
    assert "waiting: D1: no answer within 1 s (ReadTimeout); trying again in " in res.err
    assert "(attempt 2 of 6)" in res.err


def _import_ended_by_the_server(pg_url: str, csv: Path, query: str) -> CliResult:
    args = ("--database", pg_url, "import", str(csv), "--table", "kelas", "--no-backup", "--yes")
    return _ended_by_the_server(pg_url, query, *args)


KELAS = """CREATE TABLE kelas (kode text PRIMARY KEY, nama text);
CREATE FUNCTION kelas_lambat() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN IF NEW.kode = 'K000005' THEN PERFORM pg_sleep(60); END IF; RETURN NEW; END $$;"""


def test_an_import_cut_off_mid_copy_prints_no_psycopg_internals(
    pg_url: str, tmp_path: Path
) -> None:
    """The session ended while the CSV streamed in: beside the error, stderr had `error
    ignored terminating <psycopg.Copy [BAD] at 0x7f9cdc0f01d0>: the connection is lost`, a
    library's log line, which the console would have drawn over its screen."""
    with psycopg.connect(pg_url, autocommit=True) as c:
        c.execute(KELAS)
        c.execute(
            "CREATE TRIGGER kelas_lambat BEFORE INSERT ON kelas FOR EACH ROW "
            "EXECUTE FUNCTION kelas_lambat()"
        )
    csv = tmp_path / "kelas.csv"  # far more than the socket buffers hold, so it is mid-send
    filler = "x" * 200
    csv.write_text("kode,nama\n" + "".join(f"K{i:06d},{filler}\n" for i in range(150_000)))
    res = _import_ended_by_the_server(pg_url, csv, "COPY")
    assert res.code == 1, res.err
    assert "error ignored" not in res.err and "psycopg" not in res.err, res.err
    assert res.err.rstrip().splitlines()[-1].startswith("error: "), res.err
    with psycopg.connect(pg_url) as c:
        assert c.execute("SELECT count(*) FROM kelas").fetchone() == (0,)


def test_an_import_whose_session_ends_during_its_commit_says_the_outcome_is_not_known(
    pg_url: str, tmp_path: Path
) -> None:
    """Ended during the import's COMMIT: it said the import failed (the operator runs it again
    with `--on-conflict error` and gets duplicates refused, or without a key imports twice).
    The COMMIT may have gone through: now it says so, and where to look."""
    with psycopg.connect(pg_url, autocommit=True) as c:
        c.execute(KELAS)
        c.execute(
            "CREATE CONSTRAINT TRIGGER kelas_lambat AFTER INSERT ON kelas DEFERRABLE "
            "INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION kelas_lambat()"
        )
    csv = tmp_path / "kelas.csv"
    csv.write_text("kode,nama\n" + "".join(f"K{i:06d},Kelas {i}\n" for i in range(10)))
    res = _import_ended_by_the_server(pg_url, csv, "COMMIT")
    assert res.code == 1, res.err
    assert "the connection was lost at the import's COMMIT (" in res.err
    assert "the server ended this session" in res.err
    assert "whether its rows were imported is not known" in res.err
    assert "`malnu-tui log --action import " in res.err and "Traceback" not in res.err


def test_ctrl_c_while_d1_fails_stops_at_once_not_after_every_clean_up_retried(
    d1: D1Target, mdirs: MigrationDirs
) -> None:
    """Ctrl-C during a retry's wait while D1 answered 503: the command went on to its
    clean-up (the migrations read back, the run row, the lock's release), each tried six
    times with D1's Retry-After between — 84 s after the Ctrl-C here, with 5 s — and left
    the lock row all the same, without a word. Now the clean-up gets one brief try each, and
    the lock row left is said."""
    mdirs.add("20240101_000000", "t", "CREATE TABLE t (id INTEGER);", "DROP TABLE t;")
    d1.server.inject(
        Fault("status", count=1000, status=503, retry_after=10, match="CREATE TABLE t")
    )
    seen = len(d1.server.requests)  # the server is shared: earlier tests' requests are there
    proc = popen_cli("--database", d1.url, *mdirs.args(), "up", "--yes", "--no-backup")
    try:
        deadline = time.monotonic() + WAIT
        while not any(r.fault for r in d1.server.requests[seen:]):
            assert time.monotonic() < deadline, "the migration's batch was never sent"
            time.sleep(0.05)
        d1.server.faults.clear()
        d1.server.inject(Fault("status", count=1000, status=503, retry_after=10))
        proc.send_signal(signal.SIGINT)  # in the first 10 s wait
        _out, err = proc.communicate(timeout=WAIT)  # it took 150 s
    finally:
        stop_if_running(proc)
        d1.server.faults.clear()
    assert proc.returncode == 130, err
    assert "\ninterrupted\nnote: the migration lock could not be released (D1 " in err, err
    assert "the next malnu-tui run on this host takes it over" in err
    assert d1.sql("SELECT count(*) FROM migrations") == [(0,)]


def _message(kind: bytes, payload: bytes) -> bytes:
    return kind + struct.pack("!i", len(payload) + 4) + payload


def _let_in_and_never_answer(conn: socket.socket) -> None:
    """The server side of one client: the startup answered as PostgreSQL answers a trusted
    login, then every query read and left unanswered (a stuck server; a pooler that let the
    client in and has no server connection to give it)."""
    with contextlib.suppress(OSError, struct.error), conn:
        while True:
            (n,) = struct.unpack("!i", conn.recv(4, socket.MSG_WAITALL))
            body = conn.recv(n - 4, socket.MSG_WAITALL)
            if struct.unpack("!i", body[:4])[0] not in (80877103, 80877104):
                break  # the startup packet (the others ask for SSL or GSS encryption)
            conn.sendall(b"N")
        hello = _message(b"R", struct.pack("!i", 0))
        for key, value in (("server_version", "15.8"), ("client_encoding", "UTF8"),
                           ("standard_conforming_strings", "on"), ("TimeZone", "UTC"),
                           ("integer_datetimes", "on"), ("DateStyle", "ISO, MDY")):  # fmt: skip
            hello += _message(b"S", f"{key}\0{value}\0".encode())
        conn.sendall(hello + _message(b"K", struct.pack("!ii", 4242, 1)) + _message(b"Z", b"I"))
        while conn.recv(65536):
            pass


@pytest.fixture
def silent_pg() -> Iterator[int]:
    """The port of a PostgreSQL that lets every client in and answers nothing after."""
    server = socket.create_server(("127.0.0.1", 0))

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = server.accept()
                threading.Thread(target=_let_in_and_never_answer, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield server.getsockname()[1]
    finally:
        server.close()


def test_check_of_a_server_that_lets_it_in_and_never_answers_ends_unknown(
    tmp_path: Path, silent_pg: int
) -> None:
    """A PostgreSQL that accepts the login and then answers no query (a server stuck on its
    disk, a pgbouncer whose pool the application has exhausted): `check` waited for ever
    — no connect timeout applies once in, and the server's statement_timeout is the server's
    — and cron started another every minute behind it. It now gives up at
    `[monitor] check_timeout_seconds`, UNKNOWN, the other targets checked as usual. (Here
    the connection's own bound, below, is set longer, so the check's is the one met.)"""
    healthy = tmp_path / "ok.db"
    assert run_cli("--database", f"sqlite:///{healthy}", "status").code == 0
    config = tmp_path / "malnu.toml"
    config.write_text(
        "[monitor]\ncheck_timeout_seconds = 2\n[targets.laporan]\n"
        f'url = "postgresql://malnu@127.0.0.1:{silent_pg}/laporan?connect_timeout=600"\n'
        f'[targets.utama]\nurl = "sqlite:///{healthy}"\n'
    )
    res = run_cli("--config", str(config), "check", "--all", timeout=WAIT)
    assert res.code in (2, 3), res.out + res.err  # the healthy one has no backup: CRITICAL
    lines = res.out.splitlines()
    assert (
        "UNKNOWN laporan reach: no answer within 2 s ([monitor] check_timeout_seconds) while "
        "connecting: the database (or the way to it) has stopped answering"
    ) in lines, res.out
    assert any(line.startswith("utama: reach OK") for line in lines), res.out


def test_a_server_that_lets_the_client_in_and_never_answers_is_cannot_connect(
    silent_pg: int,
) -> None:
    """The same server for every other command: `status`, `up`, `doctor` waited for ever in
    the first query after the login, with nothing said. The connection's `connect_timeout`
    (10 s unless the URL or PGCONNECT_TIMEOUT says) now bounds that first answer too."""
    url = f"postgresql://malnu@127.0.0.1:{silent_pg}/laporan?connect_timeout=1"
    res = run_cli("--database", url, "status", timeout=WAIT)
    assert res.code == 1, res.err
    assert res.err.strip() == (
        f"error: cannot connect to {url}: it let this client in, then did not answer within "
        "1 s (a stuck server, or a pooler with no server connection free)"
    )


@contextlib.contextmanager
def _sending_to_a_hanging_hook(config: Path, timeout: float) -> Iterator[subprocess.Popen[str]]:
    """`check --alert` of ``config`` (a missing SQLite file as its target) started, and caught
    sending its problem to a receiver that takes the POST and never answers (its try waits
    ``timeout`` s): it holds the incident state. Killed at the end if still running."""
    hook = socket.create_server(("127.0.0.1", 0))
    calls: list[socket.socket] = []

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                calls.append(hook.accept()[0])

    threading.Thread(target=accept, daemon=True).start()
    config.write_text(
        f'[targets.utama]\nurl = "sqlite:///{config.parent / "gone.db"}"\n'
        f'[[alerts.webhooks]]\nkind = "json"\nurl = "http://127.0.0.1:{hook.getsockname()[1]}/x"\n'
        f"timeout = {timeout:g}\nretries = 0\n"
    )
    first = popen_cli("--config", str(config), "check", "--alert")
    try:
        deadline = time.monotonic() + WAIT
        while not calls:  # the first run is sending: it holds the incident state
            assert time.monotonic() < deadline and first.poll() is None, "it never sent"
            time.sleep(0.05)
        yield first
    finally:
        first.kill()
        first.communicate()
        hook.close()
        for c in calls:
            c.close()


def test_check_alert_behind_a_run_stopped_with_ctrl_z_ends_and_says_so(tmp_path: Path) -> None:
    """An operator's `check --alert`, suspended with Ctrl-Z while it sent (or stuck on its
    disk), kept its hold on the incident state: every `check --alert` cron started after it
    waited on that hold for ever, silent. Now a run waits 5 s, then says who holds it and
    that its alerts wait for the next run; its check's result and exit code stand."""
    config = tmp_path / "malnu.toml"
    with _sending_to_a_hanging_hook(config, 60) as first:
        first.send_signal(signal.SIGSTOP)  # Ctrl-Z
        second = run_cli("--config", str(config), "check", "--alert", timeout=WAIT)
    assert second.code == 3, second.out + second.err  # the check's own result: UNKNOWN
    assert second.out.startswith("MALNU UNKNOWN - utama: database file ")
    assert (
        f"alerting FAILED: cannot keep the incident state in {tmp_path}/home/xdg_state_home/"
        f"malnu-tui/incidents.json: another `malnu-tui check --alert` (pid {first.pid}) has "
        "held it for over 5 s (stopped with Ctrl-Z, or stuck): alerts wait for the next run; "
        "nothing sent"
    ) in second.err, second.err


def test_check_alert_waits_for_another_configs_run_sending_to_a_dead_webhook(
    tmp_path: Path, receiver: Receiver
) -> None:
    """Two configs on one host (staging, production), each `check --alert` from cron every
    minute, share the user's incident state. The one whose webhook is dead (its host drops
    the packets) held it for timeout × tries every run (5 s × 3 by default), and the other
    gave up after 5 s, every minute ("… held it for over 5 s (stopped with Ctrl-Z, or
    stuck)"): its alerts, to a working webhook, were never sent while the other's stayed
    dead. A run that is running is now waited for (40 s at most)."""
    other = tmp_path / "staging.toml"
    other.write_text(
        f'[targets.arsip]\nurl = "sqlite:///{tmp_path / "arsip.db"}"\n'
        f'[[alerts.webhooks]]\nkind = "json"\nurl = "{receiver.url()}"\n'
    )
    with _sending_to_a_hanging_hook(tmp_path / "malnu.toml", 7) as first:
        second = run_cli("--config", str(other), "check", "--alert", timeout=WAIT)
        first.wait(WAIT)
    assert second.code == 3 and "alerting FAILED" not in second.err, second.err
    assert receiver.events() == [("problem", "arsip|reach|target")], second.err  # its own only
    assert "alert sent: problem arsip|reach|target → #1 json http://127.0.0.1:" in second.err


def test_a_restore_whose_session_ends_before_it_begins_says_the_database_is_unchanged(
    pg_url: str,
) -> None:
    """The server ended the restore's session (a restart, `pg_terminate_backend`) while its
    pre-restore backup ran: the restore's first query on it was a traceback
    (`psycopg.OperationalError: the connection is closed`) that said nothing of the
    database, whose content had not been touched."""
    with psycopg.connect(pg_url, autocommit=True) as c:
        c.execute("CREATE TABLE nilai (id int); INSERT INTO nilai VALUES (1)")
        c.execute("CREATE SCHEMA laporan; CREATE TABLE laporan.rekap (id int)")
    made = run_cli("--database", pg_url, "backup", "create")
    assert made.code == 0, made.err
    (backup,) = json.loads(run_cli("--database", pg_url, "backup", "list", "--json").out)
    with psycopg.connect(pg_url, autocommit=True) as c:
        c.execute("INSERT INTO nilai VALUES (2)")
    with psycopg.connect(pg_url) as maint, psycopg.connect(pg_url, autocommit=True) as admin:
        maint.execute("LOCK TABLE laporan.rekap IN ACCESS EXCLUSIVE MODE")  # pg_dump waits
        proc = popen_cli("--database", pg_url, "backup", "restore", backup["id"], "--yes")
        try:
            deadline = time.monotonic() + WAIT
            while not admin.execute(
                "SELECT 1 FROM pg_stat_activity WHERE application_name = 'pg_dump' "
                "AND wait_event_type = 'Lock'"
            ).fetchone():  # the pre-restore backup waits: the restore's session is idle
                assert time.monotonic() < deadline, "the pre-restore backup never waited"
                time.sleep(0.05)
            admin.execute(
                "SELECT pg_terminate_backend(pid, 5000) FROM pg_locks "
                "WHERE locktype = 'advisory' AND granted AND database = "
                "(SELECT oid FROM pg_database WHERE datname = current_database())"
            )
            maint.rollback()
            _out, err = proc.communicate(timeout=WAIT)
        finally:
            stop_if_running(proc)
    assert proc.returncode == 1, err
    assert "Traceback" not in err, err
    assert "the restore had not begun: the database is unchanged" in err
    with psycopg.connect(pg_url) as c:
        assert c.execute("SELECT count(*) FROM nilai").fetchone() == (2,)


def test_a_backup_whose_pg_dump_the_server_cuts_off_says_so_not_the_disk(
    pg_url: str, tmp_path: Path
) -> None:
    """The server ended pg_dump's session (`pg_terminate_backend`, a restart) during `backup
    create` (or the safety backup of `up`, `restore`…): the one line quoted pg_dump, but the
    hint sent the operator to "check the disk space of the backup directory and the role's
    privileges". Now it says the server ended the session; no backup is listed."""
    with psycopg.connect(pg_url, autocommit=True) as c:
        c.execute("CREATE TABLE nilai (id int); INSERT INTO nilai VALUES (1)")
    env = {"MALNU_BACKUP_DIR": str(tmp_path / "store")}
    with psycopg.connect(pg_url) as maint, psycopg.connect(pg_url, autocommit=True) as admin:
        maint.execute("LOCK TABLE nilai IN ACCESS EXCLUSIVE MODE")  # pg_dump waits on it
        proc = popen_cli("--database", pg_url, "backup", "create", env=env)
        try:
            _end_session_once(
                admin,
                "SELECT pid FROM pg_stat_activity WHERE application_name = 'pg_dump' "
                "AND wait_event_type = 'Lock'",
                "pg_dump never waited",
            )
            maint.rollback()
            _out, err = proc.communicate(timeout=WAIT)
        finally:
            stop_if_running(proc)
    assert proc.returncode == 1, err
    assert "Traceback" not in err and err.count("\nerror: ") == 1, err
    assert "error: pg_dump failed" in err and "no backup was made" in err, err
    assert "hint: the server ended pg_dump's session" in err, err
    assert "check the disk space" not in err, err
    listed = run_cli("--database", pg_url, "backup", "list", "--json", env=env)
    assert json.loads(listed.out) == [], listed


def test_an_import_whose_source_session_ends_mid_read_says_nothing_was_imported(
    pg_url: str, tmp_path: Path
) -> None:
    """`import --from legacy:siswa`: the source's server ended its session while the import
    read it page by page (a restart, `pg_terminate_backend`). It said `error: table siswa of
    …: terminating connection due to administrator command` and nothing of the import, which
    was open and writing. Now the line says the import was rolled back and no row written,
    and the hint what ended the session; the destination is as it was."""
    with psycopg.connect(pg_url, autocommit=True) as c:
        c.execute(
            "CREATE TABLE siswa (id int PRIMARY KEY, nama text NOT NULL); INSERT INTO siswa "
            "SELECT g, 'siswa ' || g FROM generate_series(1, 200000) g"
        )
    db = tmp_path / "primary.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE siswa (id INTEGER PRIMARY KEY, nama TEXT NOT NULL)")
    conn.close()
    proc = popen_cli(
        "--database", f"sqlite:///{db}", "import", "--from", f"{pg_url}:siswa", "--table",
        "siswa", "--no-backup", "--yes",
    )  # fmt: skip
    try:
        with psycopg.connect(pg_url, autocommit=True) as admin:
            _end_session_once(
                admin,
                "SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'malnu-tui %' "
                "AND query LIKE '%WHERE (%) > (%' AND datname = current_database()",  # page 2+
                "never paged",
                proc,
            )
        _out, err = proc.communicate(timeout=WAIT)
    finally:
        stop_if_running(proc)
    assert proc.returncode == 1, err
    assert "Traceback" not in err and err.count("\nerror: ") == 1, err
    assert "error: table siswa of " in err, err
    assert "; the import was rolled back, no row of it was written" in err, err
    assert "hint: the source's server ended its session" in err, err
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT count(*) FROM siswa").fetchone() == (0,)
    assert conn.execute("SELECT count(*) FROM malnu_lock").fetchone() == (0,)
    conn.close()


def test_a_read_behind_a_table_held_exclusively_names_the_session(pg_url: str) -> None:
    """`VACUUM FULL malnu_audit` (the audit table grows) or a DBA's ALTER holds a tool table
    exclusively: `status` and `check` gave up at lock_timeout saying only "canceling statement
    due to lock timeout" — nothing of what they waited for, or on whom."""
    assert run_cli("--database", pg_url, "status").code == 0
    url = f"{pg_url}?lock_timeout=1s"
    with psycopg.connect(pg_url, application_name="vacuum-full") as maint:
        maint.execute("LOCK TABLE malnu_audit IN ACCESS EXCLUSIVE MODE")
        res = run_cli("--database", url, "status", timeout=WAIT)
        checked = run_cli("--database", url, "check", timeout=WAIT)
    who = "a session holds a table exclusively: pid "
    assert res.code == 1 and who in res.err, res.err
    assert "(vacuum-full, postgres, idle in transaction)" in res.err
    assert checked.code == 3 and who in checked.out.splitlines()[0], checked.out


def test_a_restore_whose_session_ends_in_its_commit_says_the_outcome_is_not_known(
    pg_url: str,
) -> None:
    """psql lost the server while the restore's COMMIT ran: the restore was reported "failed
    and was rolled back, the database is unchanged", which no client can know once COMMIT is
    sent. (Held at COMMIT here by a deferred unique check on the audit table waiting for
    another transaction that wrote the same key.)"""
    with psycopg.connect(pg_url, autocommit=True) as c:
        c.execute("CREATE TABLE nilai (id int); INSERT INTO nilai VALUES (1)")
    made = run_cli("--database", pg_url, "backup", "create")
    assert made.code == 0, made.err
    (backup,) = json.loads(run_cli("--database", pg_url, "backup", "list", "--json").out)
    with psycopg.connect(pg_url, autocommit=True) as c:
        c.execute(
            "ALTER TABLE malnu_audit ADD COLUMN restored int GENERATED ALWAYS AS "
            "(CASE WHEN action = 'restore' AND outcome = 'ok' THEN 1 END) STORED, "
            "ADD UNIQUE (restored) DEFERRABLE INITIALLY DEFERRED"
        )
    with psycopg.connect(pg_url) as other, psycopg.connect(pg_url, autocommit=True) as admin:
        other.execute(
            "INSERT INTO malnu_audit (at, actor, action, object, outcome, detail) "
            "VALUES (now(), 'x', 'restore', 'x', 'ok', 'x')"
        )  # not committed: the restore's own row waits for it at COMMIT
        proc = popen_cli("--database", pg_url, "backup", "restore", backup["id"], "--yes")
        try:
            _end_session_once(
                admin,
                "SELECT pid FROM pg_stat_activity WHERE application_name = 'psql' "
                "AND query LIKE 'COMMIT%' AND wait_event_type = 'Lock'",
                "the restore never waited in its COMMIT",
            )
            _out, err = proc.communicate(timeout=WAIT)
        finally:
            stop_if_running(proc)
            other.rollback()
    assert proc.returncode == 1, err
    assert "the connection was lost while the restore committed (" in err, err
    assert "whether the database is restored is not known" in err
    assert "`malnu-tui log --action restore " in err
    assert "unchanged" not in err and "Traceback" not in err


def test_a_command_a_signal_stopped_half_way_is_ended_before_the_clean_up(pg_url: str) -> None:
    """Ctrl-C or SIGTERM in the middle of a sync's chunk left its COPY open on the
    destination's connection: the clean-up's state read, audit row and lock release all
    failed with "another command is already in progress" (a CI run: the sync said neither
    what stayed nor released its lock). The command is now ended first."""
    from psycopg import pq

    from malnu_tui.engine.backends.pg_session import settle_after_interrupt

    with psycopg.connect(pg_url) as conn:
        conn.execute("CREATE TABLE halfway (id int)")
        conn.commit()
        # A COPY still taking data, as a signal between two of a chunk's writes leaves it.
        conn.pgconn.send_query(b"COPY halfway FROM STDIN")
        while (res := conn.pgconn.get_result()) is None or res.status != pq.ExecStatus.COPY_IN:
            pass
        conn.pgconn.put_copy_data(b"1\n")
        with pytest.raises(psycopg.Error, match="another command is already in progress"):
            conn.execute("SELECT 1")
        settle_after_interrupt(conn)
        assert conn.execute("SELECT count(*) FROM halfway").fetchone() == (0,)
        conn.commit()
        # A statement still running (the chunk's upsert): cancelled, not waited for (a server
        # that kept it running past settle's 5 s would have the connection closed).
        conn.pgconn.send_query(b"SELECT pg_sleep(600)")
        settle_after_interrupt(conn)
        assert not conn.closed and conn.execute("SELECT 1").fetchone() == (1,)


def _end_session_once(
    admin: psycopg.Connection[Any], query: str, never: str, proc: Any = None
) -> None:
    """Wait (WAIT seconds at most; ``proc``, when given, still running) until ``query`` finds a
    session's pid, then end that session as an administrator or a restart would."""
    deadline = time.monotonic() + WAIT
    while not (found := admin.execute(query).fetchone()):  # type: ignore[arg-type]
        assert time.monotonic() < deadline and (proc is None or proc.poll() is None), never
        time.sleep(0.02)
    admin.execute("SELECT pg_terminate_backend(%s, 5000)", (found[0],))


def test_parity_live_behind_another_sessions_lock_gives_up_at_the_lock_timeout(
    pg_url: str, mdirs: MigrationDirs, tmp_path: Path
) -> None:
    """The parity check's connection had none of the tool's session settings (every other
    connection has them: the URL's lock_timeout, 10 s by default, and statement_timeout):
    `parity --live` evaluates a live column's default to compare it, and a default that
    reads a table another session holds (a VACUUM FULL, a migration's ALTER) waited for
    ever. It now gives up at the lock_timeout and shows the default as written."""
    mdirs.add("20240101_000000", "kelas", "CREATE TABLE kelas (kode TEXT PRIMARY KEY, nama TEXT);",
              "DROP TABLE kelas;")  # fmt: skip
    with psycopg.connect(pg_url, autocommit=True) as c:
        c.execute(
            "CREATE TABLE arsip (nama text); CREATE FUNCTION nama_baru() RETURNS text "
            "LANGUAGE sql AS $$ SELECT 'kelas ' || count(*) FROM arsip $$; "
            "CREATE TABLE kelas (kode text PRIMARY KEY, nama text DEFAULT nama_baru())"
        )
    url = f"{pg_url}?lock_timeout=1s"
    db = f"sqlite:///{tmp_path / 'primary.db'}"
    with psycopg.connect(pg_url, application_name="vacuum-full") as maint:
        maint.execute("LOCK TABLE arsip IN ACCESS EXCLUSIVE MODE")
        res = run_cli("--database", db, *mdirs.args(), "parity", "--postgres", url, "--live",
                      "--json", timeout=WAIT)  # fmt: skip
    assert res.code == 1, res.err
    live = json.loads(res.out)["reports"][1]
    assert live["ok"] is False and "Traceback" not in res.err
    (diff,) = [d for d in live["differences"] if d["aspect"] == "default"]
    assert diff["actual"] == "nama_baru()", diff


def test_sigterm_while_the_server_holds_an_imports_copy_ends_it_at_once(
    pg_url: str, tmp_path: Path
) -> None:
    """SIGTERM (or Ctrl-C) while the server had stopped reading an import's COPY (a slow
    trigger here; a row lock, a loaded server): the writer thread stayed blocked sending,
    and the command with it, until the server was done (a minute here, for ever behind a
    lock with `lock_timeout = 0`); the clean-up waited behind it. The statement is now
    cancelled on the server: rolled back, the run row written, `terminated` at once."""
    with psycopg.connect(pg_url, autocommit=True) as c:
        c.execute(KELAS.replace("pg_sleep(60)", "pg_sleep(600)"))
        c.execute(
            "CREATE TRIGGER kelas_lambat BEFORE INSERT ON kelas FOR EACH ROW "
            "EXECUTE FUNCTION kelas_lambat()"
        )
    csv = tmp_path / "kelas.csv"  # far more than the socket buffers hold: the send blocks
    csv.write_text("kode,nama\n" + "".join(f"K{i:06d},{'x' * 200}\n" for i in range(150_000)))
    args = ("--database", pg_url, "import", str(csv), "--table", "kelas", "--no-backup", "--yes")
    proc = popen_cli(*args)
    try:
        _session_running(pg_url, "COPY", time.monotonic() + WAIT)
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=WAIT)
    finally:
        stop_if_running(proc)
    assert proc.returncode == 143, err
    assert err.endswith("terminated\n") and "Traceback" not in err, err
    with psycopg.connect(pg_url, autocommit=True) as c:
        assert c.execute("SELECT count(*) FROM kelas").fetchone() == (0,)
        (run,) = c.execute("SELECT outcome, detail FROM malnu_audit WHERE action = 'run'")
        assert run[0] == "failed" and json.loads(run[1])["error"] == "interrupted", run
        assert not c.execute(
            "SELECT 1 FROM pg_stat_activity WHERE application_name LIKE 'malnu-tui %' "
            "AND state <> 'idle'"
        ).fetchone()


def test_parity_against_a_named_target_takes_its_configured_timeouts(
    pg_url: str, mdirs: MigrationDirs, tmp_path: Path
) -> None:
    """`parity --postgres analytics` (a target's name, or the target itself when it is
    PostgreSQL) connected with the target's URL alone: its config's `statement_timeout` and
    `lock_timeout`, which every other connection to it has, were lost. Here a live default
    that takes 3 s is cut at the target's 1 s and shown as written, not evaluated."""
    mdirs.add("20240101_000000", "kelas", "CREATE TABLE kelas (kode TEXT PRIMARY KEY, nama TEXT);",
              "DROP TABLE kelas;")  # fmt: skip
    with psycopg.connect(pg_url, autocommit=True) as c:
        c.execute(
            "CREATE FUNCTION nama_lambat() RETURNS text LANGUAGE sql AS "
            "$$ SELECT 'lambat' FROM pg_sleep(3) $$; "
            "CREATE TABLE kelas (kode text PRIMARY KEY, nama text DEFAULT nama_lambat())"
        )
    config = tmp_path / "malnu.toml"
    config.write_text(
        f'[targets.primary]\nurl = "sqlite:///{tmp_path / "primary.db"}"\n'
        f'migrations_dir = "{mdirs.migrations}"\nrollback_dir = "{mdirs.rollback}"\n\n'
        f'[targets.analytics]\nurl = "{pg_url}"\nstatement_timeout = "1s"\n'
    )
    res = run_cli("--config", str(config), "--target", "primary", "parity", "--postgres",
                  "analytics", "--live", "--json", timeout=WAIT)  # fmt: skip
    assert res.code == 1, res.err
    live = json.loads(res.out)["reports"][1]
    (diff,) = [d for d in live["differences"] if d["aspect"] == "default"]
    assert diff["actual"] == "nama_lambat()", diff
