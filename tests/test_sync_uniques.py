"""A copy with UNIQUE constraints besides its key (a mirror that `up` built: ``siswa.nis``,
``users.email``) while unique values move between rows at the source (uniques.py): a student
deleted and registered again with the same nis, two students' nis swapped (in one chunk,
across chunks, in a full pass), an email moved to another account and one taken over from a
deleted one (by checksums: no cursor). The sync stopped on ``UNIQUE constraint failed`` /
``duplicate key value violates unique constraint`` (an incremental pass for good: its deletes
come after its copy), and a SQLite/D1 copy's ``UNIQUE ON CONFLICT REPLACE`` deleted the holder
and its grades by cascade, counted as nothing. Each sync must end equal and verified, with
counts that balance, the grades of a student whose nis moved left alone."""

from __future__ import annotations

import json
import re
import signal
import time
from pathlib import Path

import psycopg
import pytest

from malnu_tui.engine.errors import MalnuError
from malnu_tui.engine.sync import SyncRequest, SyncSession, run_sync
from malnu_tui.engine.sync.model import TableReport
from tests.fixtures_core import popen_cli, run_cli, stop_if_running
from tests.inproc import run_inproc
from tests.sync_support import Db, make_db, sqlite_source

OLD = "2025-01-01 00:00:00"
SOURCE = [
    "CREATE TABLE siswa (id INTEGER PRIMARY KEY, nis TEXT NOT NULL UNIQUE, nama TEXT NOT NULL, "
    f"updated_at DATETIME NOT NULL DEFAULT '{OLD}')",
    "CREATE TABLE nilai (id INTEGER PRIMARY KEY, siswa_id INTEGER NOT NULL REFERENCES siswa(id) "
    f"ON DELETE CASCADE, nilai INTEGER NOT NULL, updated_at DATETIME NOT NULL DEFAULT '{OLD}')",
    "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE, nama TEXT)",
    "CREATE TABLE kode (id INTEGER PRIMARY KEY, kode TEXT NOT NULL UNIQUE, alias TEXT)",
]
# A copy whose CHECK takes no value of the sync's own meanwhile (any kind of copy), and a
# UNIQUE alias the source does not have.
KODE = (
    "CREATE TABLE kode (id {int} PRIMARY KEY, kode text NOT NULL UNIQUE CHECK (kode LIKE 'K%'), "
    "alias text UNIQUE, synced_at {ts})"
)
# The copy: SQLite/D1's nis takes a conflicting value by REPLACE (deleting the holder, its
# grades by cascade); PostgreSQL's grades keep a deleted student until their own sync. The
# copy's email may be NULL (a moved email parked as NULL meanwhile), nis not (a marker).
COPY = {
    "sqlite": [
        "CREATE TABLE siswa (id INTEGER PRIMARY KEY, nis TEXT NOT NULL UNIQUE ON CONFLICT "
        "REPLACE, nama TEXT NOT NULL, updated_at DATETIME NOT NULL, synced_at DATETIME)",
        "CREATE TABLE nilai (id INTEGER PRIMARY KEY, siswa_id INTEGER NOT NULL REFERENCES "
        "siswa(id) ON DELETE CASCADE, nilai INTEGER NOT NULL, updated_at DATETIME NOT NULL, "
        "synced_at DATETIME)",
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT UNIQUE, nama TEXT, "
        "synced_at DATETIME)",
    ],
    "postgresql": [
        "CREATE TABLE siswa (id bigint PRIMARY KEY, nis text NOT NULL UNIQUE, nama text NOT "
        "NULL, updated_at timestamp NOT NULL, synced_at timestamp)",
        "CREATE TABLE nilai (id bigint PRIMARY KEY, siswa_id bigint NOT NULL REFERENCES "
        "siswa(id), nilai bigint NOT NULL, updated_at timestamp NOT NULL, "
        "synced_at timestamp)",
        "CREATE TABLE users (id bigint PRIMARY KEY, email text UNIQUE, nama text, "
        "synced_at timestamp)",
    ],
}


def _sync(
    src: Db, dst: Db, tables: tuple[str, ...] = ("siswa", "nilai", "users"), **kw: object
) -> dict[str, TableReport]:
    with SyncSession(src.target("primary"), dst.target("analytics")) as s:
        request = SyncRequest(tables=tables, chunk_rows=3, **kw)  # type: ignore[arg-type]
        return {r.table: r for r in run_sync(s, request)}


def _counts(r: TableReport) -> tuple[object, ...]:
    return (r.mode, r.inserted, r.updated, r.deleted, r.verified, r.source_count == r.dest_count)


def _same(src: Db, dst: Db) -> None:
    for table, cols in (("siswa", "id, nis"), ("nilai", "id, siswa_id"), ("users", "id, email")):
        query = f"SELECT {cols} FROM {table} ORDER BY id"
        assert src.run(query) == dst.run(query), table


@pytest.mark.parametrize("kind", ["sqlite", "postgresql", "d1"])
def test_unique_values_moving_between_rows(
    tmp_path: Path, kind: str, request: pytest.FixtureRequest
) -> None:
    src, dst = sqlite_source(tmp_path), make_db(kind, request, tmp_path, "copy")
    for ddl in SOURCE:
        src.run(ddl)
    for ddl in COPY["postgresql" if kind == "postgresql" else "sqlite"]:
        dst.run(ddl)
    pg = kind == "postgresql"
    dst.run(KODE.format(int="bigint" if pg else "INTEGER", ts="timestamp" if pg else "DATETIME"))
    src.many(
        "INSERT INTO siswa (id, nis, nama) VALUES (?, ?, ?)",
        [(i, f"N{i}", "s") for i in range(1, 10)],
    )
    src.many(
        "INSERT INTO nilai (id, siswa_id, nilai) VALUES (?, ?, 80)", [(i, i) for i in range(1, 10)]
    )
    src.many("INSERT INTO users (id, email) VALUES (?, ?)", [(i, f"u{i}@x") for i in range(1, 6)])
    src.run("INSERT INTO kode (id, kode) VALUES (1, 'K1'), (2, 'K2')")
    # The watermark past the rows' time: a pass reads the rows changed since (and 99).
    src.run("INSERT INTO siswa VALUES (99, 'N99', 's', '2025-06-01 00:00:00')")
    first = _sync(src, dst)
    assert all(r.verified for r in first.values()), first

    def change(sql: str, at: str) -> None:
        src.run(sql.replace("%NEW", f"updated_at = '{at}'"))

    # 4 and 5 swap their nis (one chunk: 4, 5, 99); users 2 takes 3's email, 3 gets another
    # (by checksums).
    for sql in (
        "UPDATE siswa SET nis = 'T', %NEW WHERE id = 4",
        "UPDATE siswa SET nis = 'N4', %NEW WHERE id = 5",
        "UPDATE siswa SET nis = 'N5', %NEW WHERE id = 4",
        "UPDATE users SET email = 'tmp' WHERE id = 3",
        "UPDATE users SET email = 'u3@x' WHERE id = 2",
        "UPDATE users SET email = 'lama@x' WHERE id = 3",
    ):
        change(sql, "2026-01-01 00:00:00")
    second = _sync(src, dst)
    assert _counts(second["siswa"]) == ("updated_at", 0, 2, 0, True, True), second["siswa"]
    assert _counts(second["users"]) == ("checksum", 0, 2, 0, True, True), second["users"]
    _same(src, dst)
    # Chunks 1, 3, 4 | 5, 6, 9 | 20: 1 and 9 swap across chunks; 2 deleted (its grade with
    # it) and registered again as 20 with the same nis (the copy's REPLACE deleted 2 as
    # nothing). A user deleted, its email taken by 1, whose own goes to a new user 6.
    for sql in (
        "UPDATE siswa SET nis = 'T', %NEW WHERE id = 1",
        "UPDATE siswa SET nis = 'N1', %NEW WHERE id = 9",
        "UPDATE siswa SET nis = 'N9', %NEW WHERE id = 1",
        "UPDATE siswa SET nama = 'x', %NEW WHERE id IN (3, 6)",
        "DELETE FROM nilai WHERE siswa_id = 2",
        "DELETE FROM siswa WHERE id = 2",
        "INSERT INTO siswa (id, nis, nama, updated_at) VALUES (20, 'N2', 'baru', '2026-02-01')",
        "DELETE FROM users WHERE id = 4",
        "UPDATE users SET email = 'u4@x' WHERE id = 1",
        "INSERT INTO users (id, email) VALUES (6, 'u1@x')",
    ):
        change(sql, "2026-02-01 00:00:00")
    before = len(dst.d1.server.requests) if dst.d1 is not None else 0
    third = _sync(src, dst)
    if dst.d1 is not None:  # no trial batches looked for the refused rows (billed, wasted)
        # (the worker's D1 server logs every test's requests: this sync's only)
        assert not [r for r in dst.d1.server.requests[before:] if "malnu_probe_" in r.body]
    assert _counts(third["siswa"]) == ("updated_at", 1, 4, 1, True, True), third["siswa"]
    # (The copy's cascade took 2's grade, or the sync deleted it: either way not re-inserted.)
    assert third["nilai"].inserted == 0 and third["nilai"].verified, third["nilai"]
    assert _counts(third["users"]) == ("checksum", 1, 1, 1, True, True), third["users"]
    _same(src, dst)
    # A full pass: 6 and 8 swap (chunk 5, 6, 8), 7 deleted and registered again as 21.
    for sql in (
        "UPDATE siswa SET nis = 'T' WHERE id = 6",
        "UPDATE siswa SET nis = 'N6' WHERE id = 8",
        "UPDATE siswa SET nis = 'N8' WHERE id = 6",
        "DELETE FROM nilai WHERE siswa_id = 7",
        "DELETE FROM siswa WHERE id = 7",
        "INSERT INTO siswa (id, nis, nama) VALUES (21, 'N7', 'baru')",
    ):
        src.run(sql)
    full = _sync(src, dst, full=True)
    assert _counts(full["siswa"])[1:] == (1, 2, 1, True, True), full["siswa"]
    assert full["nilai"].inserted == 0 and full["nilai"].verified, full["nilai"]
    _same(src, dst)
    # A swap the copy's CHECK keeps from writing in steps: refused, the row and the step named,
    # the copy as it was (no commit half-way).
    assert _sync(src, dst, ("kode",))["kode"].verified
    for sql in (
        "UPDATE kode SET kode = 'T' WHERE id = 1",
        "UPDATE kode SET kode = 'K1' WHERE id = 2",
    ):
        src.run(sql)
    src.run("UPDATE kode SET kode = 'K2' WHERE id = 1")
    with pytest.raises(MalnuError) as refused:
        _sync(src, dst, ("kode",))
    assert re.search("UNIQUE constraint failed|violates unique constraint", str(refused.value))
    assert (
        "a step was refused" in str(refused.value.hint)
        and "check" in str(refused.value.hint).lower()
    )
    assert dst.run("SELECT id, kode FROM kode ORDER BY id") == [(1, "K1"), (2, "K2")]
    # Two source rows holding one alias (the source lacks the rule): refused as before, the row
    # named, nothing parked (the last step was refused after the others had committed).
    for sql in ("'T', alias = 'A' WHERE id = 1", "'K2' WHERE id = 2", "'K1' WHERE id = 1"):
        src.run("UPDATE kode SET kode = " + sql)
    assert _sync(src, dst, ("kode",))["kode"].verified
    src.run("UPDATE kode SET alias = 'A' WHERE id = 2")
    with pytest.raises(MalnuError) as refused:
        _sync(src, dst, ("kode",))
    assert "correct the row at the source" in str(refused.value.hint), refused.value.hint
    assert dst.run("SELECT id, alias FROM kode ORDER BY id") == [(1, "A"), (2, None)]


def test_a_move_killed_before_its_last_commit_is_named_then_repaired_by_the_next_sync(
    tmp_path: Path, pg_url: str
) -> None:
    """Two students' nis swapped, written in steps: a sync killed (SIGKILL, a real process)
    after the step that parked the values and before the one that writes them back leaves the
    copy's nis as the sync's markers. `sync verify` must name those rows as different, and the
    next sync, with nothing changed at the source since, must find and repair them."""
    src, dst = sqlite_source(tmp_path), Db("postgresql", pg_url)
    src.run(SOURCE[0])
    dst.run(COPY["postgresql"][0])
    src.many(
        "INSERT INTO siswa (id, nis, nama) VALUES (?, ?, 's')", [(i, f"N{i}") for i in range(1, 7)]
    )
    config = tmp_path / "malnu.toml"
    config.write_text(
        f'[targets.primary]\nurl = "{src.url}"\n\n[targets.analytics]\nurl = "{pg_url}"\n\n'
        '[sync.rapor]\nfrom = "primary"\nto = "analytics"\ntables = ["siswa"]\nchunk_rows = 3\n',
        encoding="utf-8",
    )
    cfg = ["--config", str(config)]
    assert _sync(src, dst, ("siswa",))["siswa"].verified
    later = "2026-01-01 00:00:00"
    for sql in ("'T' WHERE id = 4", "'N4' WHERE id = 5", "'N5' WHERE id = 4"):
        src.run(f"UPDATE siswa SET updated_at = '{later}', nis = {sql}")
    # The third step waits (a row leaving its marker) on a lock this test holds: the kill
    # lands there, between the second commit and the third.
    dst.run(
        "CREATE FUNCTION wait_here() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN PERFORM pg_advisory_xact_lock(4242); RETURN NEW; END $$"
    )
    dst.run(
        "CREATE TRIGGER wait_here BEFORE UPDATE ON siswa FOR EACH ROW "
        "WHEN (left(OLD.nis, 1) = chr(1)) EXECUTE FUNCTION wait_here()"
    )
    waiting = (
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242 AND NOT granted"
    )
    with psycopg.connect(pg_url, autocommit=True) as gate:
        gate.execute("SELECT pg_advisory_lock(4242)")
        proc = popen_cli("sync", "rapor", "--yes", *cfg, env={"MALNU_ASSUME_NO_TTY": "1"})
        try:
            deadline = time.monotonic() + 60
            while not gate.execute(waiting).fetchall() and time.monotonic() < deadline:
                assert proc.poll() is None, proc.communicate()
                time.sleep(0.01)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            stop_if_running(proc)
        gate.execute("SELECT pg_advisory_unlock(4242)")
        others = (
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        )
        deadline = time.monotonic() + 60
        while gate.execute(others).fetchone() != (0,) and time.monotonic() < deadline:
            time.sleep(0.01)
    assert proc.returncode == -signal.SIGKILL
    dst.run("DROP TRIGGER wait_here ON siswa")
    assert dst.run("SELECT id, nis FROM siswa WHERE id IN (4, 5) ORDER BY id") == [
        (4, "\x014"),
        (5, "\x015"),
    ]
    named = run_inproc("sync", "verify", "rapor", "--json", *cfg)
    assert named.code == 1, named.err
    assert json.loads(named.out)[0]["differences"] == [
        {"kind": "different", "key": 4},
        {"kind": "different", "key": 5},
    ]
    again = run_cli("sync", "rapor", "--yes", "--json", *cfg)
    assert again.code == 0, again.err
    (report,) = json.loads(again.out)
    # (Resumed: its counts go on from the killed run's, whose parking step counted 4 and 5.)
    assert report["verified"] and report["differences"] == [], report
    query = "SELECT id, nis FROM siswa ORDER BY id"
    assert dst.run(query) == src.run(query)
    assert run_inproc("sync", "verify", "rapor", *cfg).code == 0
