"""``malnu-tui sync`` as a real process: the config's pair, the JSON contract, exit codes, a
SIGKILL in the middle and the rerun that resumes it."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from tests.fixtures_core import popen_cli, run_cli, stop_if_running
from tests.fixtures_d1 import D1Target
from tests.inproc import run_inproc
from tests.sync_support import Db

FIELDS = {
    "table", "mode", "read", "inserted", "updated", "deleted", "source_count", "dest_count",
    "verified", "differences", "verified_scope",
}  # fmt: skip


def school(
    tmp_path: Path, pg_url: str, *, chunk_rows: int = 5000, d1: D1Target | None = None
) -> tuple[Db, Db, list[str]]:
    """The school's reporting pair: the primary (SQLite, or D1 in production) into the
    PostgreSQL analytics target."""
    if d1 is None:
        src = Db("sqlite", f"sqlite:///{tmp_path / 'primary.db'}", path=tmp_path / "primary.db")
        primary = "sqlite:primary.db"
    else:
        src, primary = Db("d1", d1.url, d1=d1), d1.url
    dst = Db("postgresql", pg_url)
    secret_url = pg_url.replace("postgres@", "postgres:Sup3rSecret@")  # trust auth ignores it
    config = tmp_path / "malnu.toml"
    config.write_text(
        f'[targets.primary]\nurl = "{primary}"\n\n'
        f'[targets.analytics]\nurl = "{secret_url}"\n\n'
        f'[sync.reporting]\nfrom = "primary"\nto = "analytics"\ntables = ["users"]\n'
        f'overlap = "5min"\nchunk_rows = {chunk_rows}\n',
        encoding="utf-8",
    )
    return src, dst, ["--config", str(config)]


def test_the_reporting_pair_syncs_with_the_json_contract_and_verify_names_the_key(
    tmp_path: Path, pg_url: str
) -> None:
    src, dst, cfg = school(tmp_path, pg_url)
    src.create_users(200)
    src.run("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")  # not in the pair

    refused = run_inproc("sync", "reporting", *cfg)
    assert refused.code == 2 and "--yes" in refused.err
    assert dst.run("SELECT to_regclass('users')") == [(None,)]
    # No copy yet: not verified, and said why (it was "1 table(s) differ" with nothing named).
    uncopied = run_inproc("sync", "verify", "reporting", "--json", *cfg)
    assert uncopied.code == 1
    (report,) = json.loads(uncopied.out)
    assert (report["verified"], report["source_count"], report["dest_count"]) == (False, 200, 0)
    assert report["note"].startswith("no table users at the destination analytics")
    assert "users: no table users at the destination analytics" in uncopied.err

    done = run_cli("sync", "reporting", "--yes", "--json", *cfg)
    assert done.code == 0, done.err
    (report,) = json.loads(done.out)
    assert set(report) == FIELDS
    assert (report["mode"], report["inserted"], report["verified"]) == ("full", 200, True)
    assert "Sup3rSecret" not in done.out + done.err and "***" in done.err
    assert "users: copy" in done.err  # progress on stderr

    dst.run("UPDATE users SET name = 'diubah' WHERE id = 137")
    text = run_inproc("sync", "verify", "--from", "primary", "--to", "analytics", *cfg)
    assert text.code == 1
    assert "users: different: id=137" in text.out
    as_json = run_inproc("sync", "verify", "reporting", "--json", *cfg)
    assert as_json.code == 1
    assert json.loads(as_json.out)[0]["differences"] == [{"kind": "different", "key": 137}]

    status = run_inproc("sync", "status", "--json", *cfg)
    assert status.code == 0
    (row,) = json.loads(status.out)
    assert (row["table"], row["status"], row["verified"], row["dest_count"]) == (
        "users",
        "done",
        True,
        200,
    )
    # ISO 8601 with its offset: `2026-12-07 16:41:56` (no zone) read as local time elsewhere.
    finished = datetime.fromisoformat(row["finished_at"])
    assert "T" in row["finished_at"] and finished.utcoffset() == timedelta(0), row
    assert abs((datetime.now(UTC) - finished).total_seconds()) < 600, row

    unknown = run_inproc(
        "sync", "--from", "primary", "--to", "analytics", "--tables", "nope", "--yes", *cfg
    )
    assert unknown.code == 2 and unknown.err.startswith("error: no table 'nope'")


def test_an_incremental_passs_progress_is_not_out_of_the_last_syncs_count(
    tmp_path: Path, pg_url: str
) -> None:
    """The copy's progress of an incremental pass, 100 rows added to 200, said `users: copy
    300/200 rows`: its total was the plan's source count, which the plan made again under the
    lock takes from the state row (the last sync's). It now says the rows read, no total; the
    plan's line before says the source's rows now."""
    src, _dst, cfg = school(tmp_path, pg_url)
    src.create_users(200)
    assert run_cli("sync", "reporting", "--yes", *cfg).code == 0
    src.insert_users(range(201, 301), "2025-12-01 08:00:00")
    res = run_cli("sync", "reporting", "--yes", *cfg)
    assert res.code == 0, res.err
    assert "source 300 rows, destination 200 rows" in res.err, res.err
    assert "users: copy 300 rows" in res.err and "/200 rows" not in res.err, res.err


NO_TTY = {"MALNU_ASSUME_NO_TTY": "1"}


def _start_sync(cfg: list[str], *extra: str) -> subprocess.Popen[str]:
    """``sync reporting --yes`` of the config ``cfg`` as a process of its own, left running
    (forked from the CLI fork server; stdout and stderr piped)."""
    return popen_cli("sync", "reporting", "--yes", *extra, *cfg, env=NO_TTY)


def _until_rows_read(pg_url: str, rows: int) -> None:
    """Wait (a minute at most) until the running sync's state row at ``pg_url`` has read
    ``rows`` (a finished sync's row, an earlier pass's, does not count)."""
    deadline = time.monotonic() + 60
    with psycopg.connect(pg_url, autocommit=True) as c:
        while time.monotonic() < deadline:
            if c.execute("SELECT to_regclass('malnu_sync')").fetchone() != (None,):
                q = "SELECT rows_read FROM malnu_sync WHERE status = 'running'"
                row = c.execute(q).fetchone()
                if row and row[0] >= rows:
                    return
            time.sleep(0.005)


def _sigterm_after(proc: subprocess.Popen[str], pg_url: str, rows: int) -> str:
    """SIGTERM to the sync ``proc`` once it has read ``rows``; its stderr once it ended."""
    try:
        _until_rows_read(pg_url, rows)
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
    finally:
        stop_if_running(proc)
    return err


@pytest.mark.parametrize("primary", ["sqlite", "d1"])
def test_sigkill_in_the_middle_then_a_rerun_resumes_without_duplicates(
    tmp_path: Path, pg_url: str, primary: str, request: pytest.FixtureRequest
) -> None:
    d1 = request.getfixturevalue("d1") if primary == "d1" else None
    src, dst, cfg = school(tmp_path, pg_url, chunk_rows=100, d1=d1)
    src.create_users(8_000)
    proc = _start_sync(cfg)
    try:
        _until_rows_read(pg_url, 200)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    (status, last_key) = dst.run(
        "SELECT status, last_key FROM malnu_sync WHERE table_name = 'users'"
    )[0]
    copied = dst.count()
    assert status == "running" and last_key is not None and 200 <= copied < 8_000
    if primary == "sqlite":  # its primary key built after the copy: not yet
        assert dst.run("SELECT direct, to_regclass('users_pkey') FROM malnu_sync") == [(2, None)]

    rerun = run_cli("sync", "reporting", "--yes", "--json", *cfg)
    assert rerun.code == 0, rerun.err
    assert "resumes" in rerun.err
    (report,) = json.loads(rerun.out)
    assert report["inserted"] == 8_000 and report["verified"] and report["dest_count"] == 8_000
    assert dst.run("SELECT to_regclass('users_pkey') IS NOT NULL") == [(True,)]
    assert dst.run("SELECT count(DISTINCT id), count(*) FROM users") == [(8_000, 8_000)]
    clean = run_inproc("sync", "verify", "reporting", *cfg)
    assert clean.code == 0, clean.out


def test_sync_status_after_a_kill_says_stopped_not_running_for_ever(
    tmp_path: Path, pg_url: str
) -> None:
    """A sync killed outright (kill -9, the machine lost) leaves its table's row `running`, so
    that the next sync resumes: `sync status` showed `running` for ever, and the operator
    waited for a sync that was gone. Now, with no live sync holding the destination's lock,
    it says `stopped (resumes on the next sync)`; `--json` keeps `status` and adds `live`
    (true while the sync runs)."""
    src, dst, cfg = school(tmp_path, pg_url, chunk_rows=100)
    src.create_users(40_000)  # 400 chunks: still copying while `sync status` looks
    proc = _start_sync(cfg)
    try:
        _until_rows_read(pg_url, 200)
        while_running = run_inproc("sync", "status", "--json", *cfg)
        still_running = proc.poll() is None
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert while_running.code == 0 and still_running, while_running.err
    (live,) = json.loads(while_running.out)
    assert (live["status"], live["live"]) == ("running", True), live
    assert dst.run("SELECT status FROM malnu_sync") == [("running",)]  # kept for the resume

    text = run_cli("sync", "status", *cfg)
    assert text.code == 0, text.err
    assert "stopped (resumes on the next sync)" in text.out and "running" not in text.out
    as_json = run_cli("sync", "status", "--json", *cfg)
    assert as_json.code == 0, as_json.err
    (row,) = json.loads(as_json.out)
    assert set(row) == set(live)  # the same fields; `status` as stored, for the scripts
    assert (row["table"], row["status"], row["live"]) == ("users", "running", False), row


def test_sigterm_in_the_middle_says_what_stays_and_audits_what_was_written(
    tmp_path: Path, pg_url: str
) -> None:
    """A service manager's SIGTERM (or Ctrl-C) in the middle of a first copy: the command said
    `terminated` alone, and its audit row `read 0, inserted 0` while thousands of rows, whole
    chunks, stayed in the reporting table. Now a note says what stays and that the next sync
    resumes after it, and the audit row counts the rows written and, where it said
    `destination 0 rows` (the plan's count), the rows the destination holds."""
    src, dst, cfg = school(tmp_path, pg_url, chunk_rows=100)
    # 400 chunks: the copy runs on well past the signal even when a loaded box is slow to
    # send it (8,000 rows, 80 chunks, were all copied first now and then).
    src.create_users(40_000)
    proc = _start_sync(cfg)
    err = _sigterm_after(proc, pg_url, 200)
    assert proc.returncode == 143, err
    copied = dst.count()
    assert 200 <= copied < 40_000, err
    assert "terminated\n" in err and "Traceback" not in err, err
    said = (
        f"note: users: what whole chunks wrote before it stopped stays in the destination "
        f"({copied:,} inserted, 0 updated, 0 deleted); the next sync resumes after them"
    )
    assert said in err, err
    (detail,) = dst.run("SELECT detail FROM malnu_audit WHERE action = 'sync'")[0]
    assert f"inserted {copied}," in detail and "Terminated" in detail, detail
    assert f"destination {copied} rows," in detail, detail  # not the plan's `0 rows`
    rerun = run_cli("sync", "reporting", "--yes", "--json", *cfg)
    assert rerun.code == 0 and "resumes" in rerun.err, rerun.err
    assert dst.run("SELECT count(DISTINCT id), count(*) FROM users") == [(40_000, 40_000)]
    # The rerun's row counts the whole copy, and says that the stopped run's rows are in it
    # (read alone, the two rows added up to 40,000 + `copied` inserted for 40,000 rows).
    (resumed,) = dst.run("SELECT detail FROM malnu_audit WHERE action = 'sync' AND outcome = 'ok'")[
        0
    ]
    assert "inserted 40000," in resumed, resumed
    assert (
        f"resumed: the counts include the {copied} read, {copied} inserted, 0 updated, "
        "0 deleted before it resumed"
    ) in resumed, resumed


def test_sigterm_in_an_incremental_pass_audits_the_source_as_it_is_not_as_it_was(
    tmp_path: Path, pg_url: str
) -> None:
    """SIGTERM in the middle of an incremental pass, after 20,000 new rows at the source: the
    plan said `source 40,000 rows` and the audit row `source 20000 rows`, the count of the
    last sync, which the plan made again under the lock takes from the state row. The row an
    operator reads the morning after now counts both sides as the sync stopped."""
    src, dst, cfg = school(tmp_path, pg_url, chunk_rows=100)
    src.create_users(20_000)
    first = run_cli("sync", "reporting", "--yes", *cfg)
    assert first.code == 0, first.err
    src.insert_users(range(20_001, 40_001), "2025-12-01 08:00:00")  # 400 chunks to read
    proc = _start_sync(cfg)
    err = _sigterm_after(proc, pg_url, 200)
    assert proc.returncode == 143, err
    assert "source 40,000 rows, destination 20,000 rows" in err, err  # the plan's line
    held = dst.count()
    assert held < 40_000, err
    (detail,) = dst.run(
        "SELECT detail FROM malnu_audit WHERE action = 'sync' AND outcome = 'failed'"
    )[0]
    assert "mode updated_at," in detail and "Terminated" in detail, detail
    assert f"source 40000 rows, destination {held} rows," in detail, detail


def test_json_of_a_sync_stopped_by_a_table_reports_the_tables_already_synced(
    tmp_path: Path,
) -> None:
    """`sync --json` that stops at a table the destination refuses (exit 1) still prints what
    it did, as `up --json` does: the tables synced and verified before it, then the table it
    stopped at with `error` (stdout was empty: a script could not tell `a` was copied)."""
    import sqlite3

    src, dst = tmp_path / "src.db", tmp_path / "dst.db"
    with sqlite3.connect(src) as conn:
        conn.executescript(
            "CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO a VALUES (1, 'ok');"
            "CREATE TABLE b (id INTEGER PRIMARY KEY, email TEXT);"
            "INSERT INTO b VALUES (1, 'Siti@malnu.sch.id'), (2, 'siti@malnu.sch.id');"
        )
    conn.close()
    with sqlite3.connect(dst) as conn:  # the copy's own rule: one address whatever its case
        conn.execute(
            "CREATE TABLE b (id INTEGER PRIMARY KEY, email TEXT UNIQUE COLLATE NOCASE, "
            "synced_at DATETIME)"
        )
    conn.close()
    res = run_cli(
        "sync", "--from", f"sqlite:///{src}", "--to", f"sqlite:///{dst}", "--tables", "a,b",
        "--yes", "--json",
    )  # fmt: skip
    assert res.code == 1 and "error: " in res.err, res.err
    first, stopped = json.loads(res.out)
    assert set(first) == FIELDS and (first["table"], first["verified"]) == ("a", True)
    assert (stopped["table"], stopped["verified"], stopped["source_count"]) == ("b", False, 2)
    assert "UNIQUE constraint failed" in stopped["error"] and "row id=2" in stopped["error"]


def test_json_of_a_sync_stopped_after_whole_chunks_counts_what_they_wrote(
    tmp_path: Path,
) -> None:
    """`sync --json` stopped at row 251 by the destination's own UNIQUE rule, two chunks of
    100 written and kept: the table's object said `read 0, inserted 0` and `dest_count` 0 (the
    plan's count) while the destination held 200 rows and the audit row said so. Now it says
    what the audit row says: 200 read and inserted, both sides counted as it stopped."""
    import sqlite3

    config, dst = _refused_at_row_251(tmp_path)
    res = run_cli("sync", "backup", "--yes", "--json", "--config", str(config))
    assert res.code == 1 and "row id=251" in res.err, res.err
    (stopped,) = json.loads(res.out)
    assert "UNIQUE constraint failed" in stopped["error"], stopped
    counts = [stopped[k] for k in ("read", "inserted", "source_count", "dest_count")]
    assert counts == [200, 200, 300, 200], stopped
    with sqlite3.connect(dst) as conn:
        (held,) = conn.execute("SELECT count(*) FROM b").fetchone()
        (detail,) = conn.execute("SELECT detail FROM malnu_audit WHERE action = 'sync'").fetchone()
    conn.close()
    assert held == 200
    assert "inserted 200, updated 0, deleted 0, source 300 rows, destination 200 rows" in detail


def test_text_of_a_sync_stopped_after_whole_chunks_shows_its_table(tmp_path: Path) -> None:
    """The same sync without `--json`: it printed the progress lines and the error alone, so
    an operator at a terminal could not tell that 200 rows stayed in the copy (the audit row
    and `--json` said so). The report table now shows the stopped table's counts as it
    stopped, `✘ stopped`, above the error."""
    config, _dst = _refused_at_row_251(tmp_path)
    res = run_cli("sync", "backup", "--yes", "--config", str(config))
    assert res.code == 1 and "row id=251" in res.err, res.err
    (row,) = [ln.split() for ln in res.out.splitlines() if ln.startswith("b ")]
    assert row == ["b", "full", "200", "200", "0", "0", "300", "200", "✘", "stopped"], res.out


def _refused_at_row_251(tmp_path: Path) -> tuple[Path, Path]:
    """A pair whose copy's own UNIQUE rule refuses source row 251 (chunks of 100): (config,
    the copy's file)."""
    import sqlite3

    src, dst = tmp_path / "src.db", tmp_path / "dst.db"
    with sqlite3.connect(src) as conn:
        conn.execute("CREATE TABLE b (id INTEGER PRIMARY KEY, email TEXT)")
        conn.executemany(
            "INSERT INTO b VALUES (?, ?)", [(i, f"s{i}@malnu.sch.id") for i in range(1, 301)]
        )
        conn.execute("UPDATE b SET email = 'S250@malnu.sch.id' WHERE id = 251")
    conn.close()
    with sqlite3.connect(dst) as conn:
        conn.execute(
            "CREATE TABLE b (id INTEGER PRIMARY KEY, email TEXT UNIQUE COLLATE NOCASE, "
            "synced_at DATETIME)"
        )
    conn.close()
    config = tmp_path / "malnu.toml"
    config.write_text(
        f'[targets.primary]\nurl = "sqlite:///{src}"\n\n[targets.copy]\nurl = "sqlite:///{dst}"\n\n'
        '[sync.backup]\nfrom = "primary"\nto = "copy"\nchunk_rows = 100\n',
        encoding="utf-8",
    )
    return config, dst


@pytest.mark.parametrize("as_json", [True, False], ids=["json", "text"])
def test_a_sync_whose_destination_went_away_says_what_it_wrote_and_what_it_could_not_count(
    tmp_path: Path, pg_url: str, as_json: bool
) -> None:
    """The destination's sessions ended in the middle of a first copy (a failover, an
    administrator): `sync --json` said the stopped table had `read 0, inserted 0` and
    `dest_count` 0 (the plan's count), while hundreds of rows, whole chunks, stayed: the
    state row those counts come from could not be read on the gone server. Now the counts
    are those of the last chunk it committed, and the side it could not count is null
    (`not counted` in the text table, as in the console)."""
    src, _dst, cfg = school(tmp_path, pg_url, chunk_rows=100)
    src.create_users(40_000)
    proc = _start_sync(cfg, *(["--json"] if as_json else []))
    try:
        _until_rows_read(pg_url, 200)
        with psycopg.connect(pg_url, autocommit=True) as c:
            c.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> "
                "pg_backend_pid() AND datname = current_database() "
                "AND application_name LIKE 'malnu-tui%'"
            )
        out, err = proc.communicate(timeout=60)
    finally:
        stop_if_running(proc)
    ended = ("terminating connection", "server closed the connection")  # (as the cut lands)
    assert proc.returncode == 1 and any(e in err for e in ended), err
    with psycopg.connect(pg_url, autocommit=True) as c:
        (held,) = c.execute("SELECT count(*) FROM users").fetchone()  # type: ignore[misc]
    assert held >= 200 and held % 100 == 0, held  # whole chunks
    # The last chunk it knows committed: the one whose COMMIT the cut answered may be in too.
    known = (held, held - 100)
    if as_json:
        (stopped,) = json.loads(out)
        got = [stopped[k] for k in ("read", "inserted", "source_count", "dest_count")]
        assert got[0] == got[1] and got[0] in known and got[2:] == [40_000, None], stopped
    else:
        (row,) = [ln.split() for ln in out.splitlines() if ln.startswith("users ")]
        assert row[2] == row[3] and row[3] in [f"{n:,}" for n in known] and row[4] == "0", out
        assert row[6:] == ["40,000", "not", "counted", "✘", "stopped"], out


def test_a_pairs_table_the_source_lacks_is_said_to_come_from_the_config(
    tmp_path: Path, pg_url: str
) -> None:
    """A migration renamed `users` at the primary: the cron's `sync reporting` stopped on
    "no table 'users' at the source primary (…)", a name the command line never gave, with no
    word of the `[sync.reporting] tables` it came from. It now names the file and the key
    (exit 2, nothing written), for `sync` and `sync verify` alike; a table given with --tables
    is said as before."""
    src, dst, cfg = school(tmp_path, pg_url)
    src.run("CREATE TABLE pengguna (id INTEGER PRIMARY KEY, nama TEXT)")
    config = tmp_path / "malnu.toml"
    for words in (("sync", "reporting", "--yes"), ("sync", "verify", "reporting")):
        got = run_inproc(*words, *cfg)
        assert got.code == 2, got.err
        assert (
            f"error: {config}: [sync.reporting] tables: no table 'users' at the source " in got.err
        )
        assert "hint: list only tables the source has there" in got.err
    assert dst.run("SELECT to_regclass('pengguna')") == [(None,)]
    asked = run_inproc("sync", "reporting", "--tables", "murid", "--yes", *cfg)
    assert asked.code == 2
    assert "error: no table 'murid' at the source primary" in asked.err
    assert "[sync.reporting]" not in asked.err


def test_a_pairs_cursor_no_table_has_is_refused_naming_the_config(
    tmp_path: Path, pg_url: str
) -> None:
    """`cursor = "updatedAt"` for tables whose column is `updated_at` (a typo) made every pass
    compare the tables by checksum, reading both sides whole, with only a plan note to say
    so. It is now refused before anything is written, naming the file and the key (exit 2);
    the pair with the cursor its tables have syncs incrementally."""
    src, dst, cfg = school(tmp_path, pg_url)
    src.create_users(50)
    config = tmp_path / "malnu.toml"
    text = config.read_text(encoding="utf-8")
    config.write_text(text + 'cursor = "updatedAt"\n', encoding="utf-8")
    got = run_inproc("sync", "reporting", "--yes", *cfg)
    assert got.code == 2, got.err
    assert (
        f"error: {config}: [sync.reporting] cursor = 'updatedAt': no table of the sync " in got.err
    )
    assert "hint: name the change column as the tables spell it" in got.err
    assert dst.run("SELECT to_regclass('users')") == [(None,)]
    config.write_text(text + 'cursor = "updated_at"\n', encoding="utf-8")
    assert run_inproc("sync", "reporting", "--yes", *cfg).code == 0
    src.run("UPDATE users SET name = 'Siti', updated_at = datetime('now') WHERE id = 7")
    again = run_inproc("sync", "reporting", "--yes", "--json", *cfg)
    assert again.code == 0, again.err
    assert [(r["mode"], r["updated"]) for r in json.loads(again.out)] == [("updated_at", 1)]


def test_a_sync_refused_before_anything_is_written_exits_2_in_text_and_json(
    tmp_path: Path, pg_url: str
) -> None:
    """A sync refused before it writes anything (a copy whose columns do not match, which
    needs an ALTER the operator runs; a table without a key whose copy has one; a key holding
    NULL) is usage or configuration: exit 2, as a table the source lacks already was, for
    `sync` and `sync verify`, with and without --json. It was 1, the code of a sync that
    failed or found differences, so cron and CI could not tell "change something" from "try
    again"."""
    src, dst, cfg = school(tmp_path, pg_url)
    src.create_users(5)
    assert run_inproc("sync", "reporting", "--yes", *cfg).code == 0
    dst.run("ALTER TABLE users DROP COLUMN name")
    src.run("CREATE TABLE catatan (isi TEXT)")  # no key, and its copy has one
    dst.run("CREATE TABLE catatan (isi text PRIMARY KEY, synced_at timestamp)")
    src.run("CREATE TABLE jadwal (kelas INT, hari TEXT, PRIMARY KEY (kelas, hari))")
    src.run("INSERT INTO jadwal VALUES (1, NULL)")
    sync, verify = ("sync", "--yes"), ("sync", "verify")
    # The hint is the exact statement for `sync verify` too: it said only "make the
    # destination table match", where `sync` gave the ALTER TABLE.
    added = 'hint: add them at the destination: ALTER TABLE "public"."users" ADD COLUMN "name"'
    for tables, said, hinted, commands in (
        ("users", "destination lacks column(s) name", added, (sync, verify)),
        (
            "catatan",
            "catatan: the source has no key, but the destination has one",
            "",
            (sync, verify),
        ),
        ("jadwal", "jadwal: key hari holds NULL", "", (sync,)),
    ):
        for words in commands:
            for json_flag in ((), ("--json",)):
                got = run_inproc(*words, "reporting", "--tables", tables, *json_flag, *cfg)
                assert (got.code, got.out) == (2, ""), (words, json_flag, got.err)
                assert got.err.startswith("error: sync refused: ") and said in got.err, got.err
                assert hinted in got.err, (words, got.err)
    # A sync that found differences stays 1.
    dst.run("ALTER TABLE users ADD COLUMN name text")
    differs = run_inproc("sync", "verify", "reporting", "--json", *cfg)
    assert differs.code == 1, differs.err


def test_a_checksum_pass_says_what_its_read_count_is(tmp_path: Path) -> None:
    """A table without an updated_at column is compared by checksum, and the rows that differ
    are read again to copy them: `read 6` for a 3-row table, with nothing to say why. The
    text report now says what the number is; the JSON's `read` keeps its sum."""
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    src = Db("sqlite", f"sqlite:///{a}", a)
    src.run("CREATE TABLE kelas (id INTEGER PRIMARY KEY, nama TEXT)")
    src.many("INSERT INTO kelas VALUES (?, ?)", [(1, "X-1"), (2, "X-2"), (3, "X-3")])
    pair = ("--from", f"sqlite:///{a}", "--to", f"sqlite:///{b}", "--yes")
    assert run_inproc("sync", *pair).code == 0
    src.run("UPDATE kelas SET nama = nama || 'A'")
    got = run_inproc("sync", *pair)
    assert got.code == 0, got.err
    row = next(line.split() for line in got.out.splitlines() if line.startswith("kelas "))
    assert row[1:5] == ["checksum", "6", "0", "3"], got.out
    said = "kelas: read 6: the 3 source row(s) compared by checksum, 3 of them read again to copy"
    assert said in got.out, got.out
    src.run("UPDATE kelas SET nama = 'XI' WHERE id = 2")
    doc = run_inproc("sync", *pair, "--json")
    assert [(r["read"], r["updated"]) for r in json.loads(doc.out)] == [(4, 1)], doc.out
    # `sync status`'s `read` is that sync's read (it was the state row's 1: the row read again).
    status = run_inproc("sync", "status", "--to", f"sqlite:///{b}", "--json")
    assert [(r["read"], r["updated"]) for r in json.loads(status.out)] == [(4, 1)], status.out
