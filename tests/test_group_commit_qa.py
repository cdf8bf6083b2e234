"""Group commit of ``up`` (engine/apply.py) as an operator meets it: interrupts that land right
after a COMMIT or right after a BEGIN, SIGTERM of a real process, another writer keeping the
database busy mid-run, a constraint that rolls the whole transaction back, the seed's template
files and trigger bodies in a group. What was reported done is exactly what is durable."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from malnu_tui.engine.apply import GROUP, Progress, unit_kind
from malnu_tui.engine.backends.sqlite import SQLiteBackend
from malnu_tui.engine.errors import DatabaseBusy
from malnu_tui.engine.files import discover
from malnu_tui.engine.migrate import MigrationFailed, apply_plan, plan_up
from tests.fixtures_core import MigrationDirs, run_cli
from tests.test_group_commit import (
    add_tables,
    rerun_applies_all,
    rows,
    start_counting_up,
    tables,
    tracking,
    up,
)


@pytest.fixture
def one_group(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALNU_UP_GROUP_MS", "60000")


def add_update(d: MigrationDirs, i: int) -> str:
    """A migration that starts a group of its own (an UPDATE) and makes table t<i>."""
    sql = f"CREATE TABLE t{i} (id INTEGER PRIMARY KEY);\nUPDATE t{i} SET id = id;"
    return d.add(f"20250101_{i:06d}", f"t{i}", sql, f"DROP TABLE t{i};").name


def run_row(db: Path) -> dict[str, object]:
    got = rows(db, "SELECT detail FROM malnu_audit WHERE action = 'run' ORDER BY id DESC LIMIT 1")
    detail: dict[str, object] = json.loads(str(got[0][0]))
    return detail


def interrupt_after(monkeypatch: pytest.MonkeyPatch, name: str, when: Callable[[], bool]) -> None:
    """SQLiteBackend.<name> does its work, then Ctrl-C arrives (as a signal's is: raised as
    soon as the C call returns), once, the first time ``when()`` says so."""
    real = getattr(SQLiteBackend, name)
    fired: list[bool] = []

    def patched(self: SQLiteBackend, *args: object) -> object:
        result = real(self, *args)
        if not fired and when():
            fired.append(True)  # one Ctrl-C
            raise KeyboardInterrupt
        return result

    monkeypatch.setattr(SQLiteBackend, name, patched)


@pytest.mark.parametrize(
    ("where", "group_ms"),
    [("commit_group", "60000"), ("_close_unit", "0"), ("_begin", "60000")],
)
def test_interrupt_reports_exactly_what_is_durable(
    tmp_path: Path,
    mdirs: MigrationDirs,
    monkeypatch: pytest.MonkeyPatch,
    where: str,
    group_ms: str,
) -> None:
    """Ctrl-C lands mostly in a COMMIT's fsync and is raised when it returns: the migrations
    that COMMIT made durable are reported done all the same (read back from the tracking
    table), the run row counts them, nothing is left open, the lock is free, a rerun does
    the rest. Right after a BEGIN (before its bookkeeping) the transaction is rolled back."""
    monkeypatch.setenv("MALNU_UP_GROUP_MS", group_ms)
    names = [*add_tables(mdirs, 2), add_update(mdirs, 3), *add_tables(mdirs, 2, start=4)]
    db = tmp_path / "i.db"
    events: list[Progress] = []
    started: list[str] = []

    def armed() -> bool:
        # commit_group/_close_unit: the COMMIT that holds the second migration; _begin: the
        # BEGIN of the group after the first one (the UPDATE migration starts a new group).
        if where == "_begin":
            return any(e.event == "done" for e in events)
        return len(started) == 2 and sum(e.event == "done" for e in events) < 2

    interrupt_after(monkeypatch, where, armed)
    backend = SQLiteBackend(db)
    mset = discover(mdirs.migrations, mdirs.rollback)

    def watch(p: Progress) -> None:
        events.append(p)
        if p.event == "start":
            started.append(p.filename)

    with pytest.raises(KeyboardInterrupt):
        apply_plan(backend, mset, plan_up(backend, mset), progress=watch)
    assert not backend.conn.in_transaction
    backend.close()
    done = [e.filename for e in events if e.event == "done"]
    assert done == names[:2]
    assert tracking(db) == {n: (1, None) for n in done}
    assert tables(db) == {"t1", "t2"}
    assert rows(db, "SELECT count(*) FROM malnu_lock") == [(0,)]
    assert run_row(db)["counts"] == {"done": 2} and run_row(db)["error"] == "interrupted"
    monkeypatch.undo()
    applied, _ = up(db, mdirs)
    assert applied == names[2:] and len(tables(db)) == 5


def test_sigterm_of_a_real_up_ends_it_like_ctrl_c(tmp_path: Path, mdirs: MigrationDirs) -> None:
    """A service manager's SIGTERM: the open group rolled back, lock released, the run row
    written with what is in, exit 143; every migration reported ok is tracked and no other."""
    n = 100
    proc, db = start_counting_up(tmp_path, mdirs, n)
    assert proc.stderr is not None
    lines: list[str] = []
    for line in proc.stderr:
        lines.append(line)
        if sum(" ok (" in x for x in lines) >= 5:
            break
    os.kill(proc.pid, signal.SIGTERM)
    lines += proc.stderr.readlines()
    assert proc.wait(timeout=30) == 143
    assert lines[-1].strip() == "terminated" and not any("Traceback" in x for x in lines)
    reported = {x.split()[1] for x in lines if " ok (" in x}
    assert reported == set(tracking(db)) and len(reported) < n + 1
    assert rows(db, "SELECT count(*) FROM malnu_lock") == [(0,)]
    assert run_row(db)["counts"] == {"done": len(reported)}
    assert len(tables(db)) == len(reported) - 1  # the seed's table is not a t<i>
    rerun_applies_all(db, mdirs, n)


def test_another_writer_keeping_the_database_busy_mid_run(
    tmp_path: Path, mdirs: MigrationDirs, one_group: None
) -> None:
    """An application's write transaction outlasts the busy timeout between two groups: the
    run stops with exit 3 saying so (not "another operator holds the migration lock", naming
    this very session); what was reported is applied; once the writer is done, a rerun
    finishes."""
    names = [*add_tables(mdirs, 1), add_update(mdirs, 2), *add_tables(mdirs, 1, start=3)]
    db = tmp_path / "b.db"
    backend = SQLiteBackend(db, busy_timeout=0.2)
    other = sqlite3.connect(db, isolation_level=None)
    events: list[Progress] = []

    def watch(p: Progress) -> None:
        events.append(p)
        if p.event == "done":
            other.execute("BEGIN IMMEDIATE")  # held until the run gave up

    mset = discover(mdirs.migrations, mdirs.rollback)
    with pytest.raises(DatabaseBusy) as info:
        apply_plan(backend, mset, plan_up(backend, mset), progress=watch)
    assert info.value.exit_code == 3
    assert "another operator" not in str(info.value) and "busy" in str(info.value)
    other.execute("ROLLBACK")
    other.close()
    backend.close()  # the lock row it could not delete while the database was busy
    assert [e.filename for e in events if e.event == "done"] == names[:1]
    assert tracking(db) == {names[0]: (1, None)}
    assert rows(db, "SELECT count(*) FROM malnu_lock") == [(0,)]
    applied, _ = up(db, mdirs)
    assert applied == names[1:]


def test_a_constraint_that_rolls_back_the_whole_transaction(
    tmp_path: Path, mdirs: MigrationDirs, one_group: None
) -> None:
    """ON CONFLICT ROLLBACK (like RAISE(ROLLBACK) in a trigger) ends the group's transaction,
    not only the savepoint: the earlier migrations of the group run again one per
    transaction and stay; the failing one is recorded; nothing is reported twice."""
    first = mdirs.add(
        "20250101_000001",
        "a",
        "CREATE TABLE a (id INTEGER PRIMARY KEY, v INTEGER UNIQUE ON CONFLICT ROLLBACK);\n"
        "INSERT INTO a VALUES (1, 1);",
        "DROP TABLE a;",
    )
    second = add_tables(mdirs, 1, start=2)[0]
    bad = mdirs.add("20250101_000003", "dup", "INSERT INTO a VALUES (2, 1);", "SELECT 1;")
    add_tables(mdirs, 1, start=4)
    db = tmp_path / "r.db"
    with pytest.raises(MigrationFailed) as info:
        up(db, mdirs)
    assert info.value.failure.filename == bad.name
    assert [f for f, _ in info.value.done] == [first.name, second]
    assert tracking(db) == {
        first.name: (1, None),
        second: (1, None),
        bad.name: (0, "line 1: UNIQUE constraint failed: a.v"),
    }
    assert rows(db, "SELECT id FROM a") == [(1,)] and tables(db) == {"t2"}


def test_seed_templates_bom_crlf_and_triggers_share_a_group(
    tmp_path: Path, mdirs: MigrationDirs, one_group: None
) -> None:
    """The seed's template (own BEGIN/COMMIT, trailing INSERT INTO migrations), a file with a
    BOM and CRLF, and trigger bodies with UPDATE/DELETE/BEGIN…END are quick migrations: one
    group, each applied whole and recorded once (the template's own INSERT not run)."""
    mdirs.add(
        "20250101_000001",
        "users",
        "-- Start transaction\nBEGIN TRANSACTION;\n"
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, n INTEGER DEFAULT 0);\n"
        "INSERT INTO users (name) VALUES ('a');\nCOMMIT;\n"
        "INSERT INTO migrations (filename, checksum)\n"
        "VALUES ('20250101_000001_users.sql', 'checksum_hash');",
        "DROP TABLE users;",
        dependencies="none",
    )
    bom = mdirs.migrations / "20250101_000002_crlf.sql"
    bom.write_bytes(
        "\ufeff-- Dependencies: 20250101_000001_users.sql\r\n"
        "BEGIN TRANSACTION;\r\nCREATE TABLE log (id INTEGER PRIMARY KEY, what TEXT);\r\n"
        "COMMIT;\r\n".encode()
    )
    (mdirs.rollback / "20250101_000002_undo_crlf.sql").write_text("DROP TABLE log;\n")
    trig = (
        "CREATE TRIGGER users_upd AFTER UPDATE OF name ON users BEGIN\n"
        "  UPDATE users SET n = CASE WHEN NEW.n IS NULL THEN 1 ELSE NEW.n + 1 END"
        " WHERE id = NEW.id;\n"
        "  DELETE FROM log WHERE what = 'END; COMMIT;';\n"
        "  INSERT INTO log (what) VALUES ('renamed ' || NEW.name);\nEND;\n"
        "CREATE TRIGGER no_delete BEFORE DELETE ON users BEGIN SELECT RAISE(ABORT, 'kept'); END;"
    )
    mdirs.add("20250101_000003", "trig", trig, "DROP TRIGGER users_upd;\nDROP TRIGGER no_delete;")
    mset = discover(mdirs.migrations, mdirs.rollback)
    assert {unit_kind(m.statements()) for m in mset.migrations} == {GROUP}
    db = tmp_path / "t.db"
    applied, events = up(db, mdirs)
    assert len(applied) == 3 and [e.event for e in events] == ["start"] * 3 + ["done"] * 3
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE users SET name = 'b'")
        assert conn.execute("SELECT name, n FROM users").fetchall() == [("b", 1)]
        assert conn.execute("SELECT what FROM log").fetchall() == [("renamed b",)]
    assert set(tracking(db)) == set(applied)
    assert rows(db, "SELECT count(*) FROM migrations") == [(3,)]


def test_a_lock_that_cannot_be_released_is_said_not_a_traceback(
    tmp_path: Path, mdirs: MigrationDirs
) -> None:
    """The lock row's DELETE fails (a full disk does it at COMMIT; here a trigger refuses it):
    after a clean run the run is reported done (exit 0: an error made operators run a
    `rollback` twice, tests/test_full_disk.py) with a warning naming the lock, no traceback;
    after a failed migration the migration's failure is what is told. The next run on this
    host takes the row over (its process is gone)."""
    names = add_tables(mdirs, 2)
    db = tmp_path / "l.db"
    url = f"sqlite:///{db}"
    backend = SQLiteBackend(db)
    backend.ensure_schema()
    backend.conn.execute(
        "CREATE TRIGGER keep_lock BEFORE DELETE ON malnu_lock "
        "BEGIN SELECT RAISE(ABORT, 'lock kept'); END"
    )
    backend.close()
    res = run_cli("--database", url, *mdirs.args(), "up", "--no-backup")
    assert res.code == 0 and "Traceback" not in res.err and "error:" not in res.err
    assert "applied 2 migration(s)" in res.err, res.err
    said = "warning: the migrations are applied, but: cannot release the migration lock"
    assert said in res.err and "lock kept" in res.err, res.err
    assert tracking(db) == {n: (1, None) for n in names}
    bad = mdirs.add("20250101_000003", "bad", "INSERT INTO nowhere VALUES (1);", "SELECT 1;")
    res = run_cli("--database", url, *mdirs.args(), "up", "--no-backup")
    assert res.code == 1 and "Traceback" not in res.err
    assert f"error: migration {bad.name} failed at line 1" in res.err
    assert "took over a stale lock" in str(rows(db, "SELECT detail FROM malnu_audit"))


def test_console_run_stopped_mid_run_shows_what_is_in(
    tmp_path: Path, mdirs: MigrationDirs, monkeypatch: pytest.MonkeyPatch, one_group: None
) -> None:
    """The console's apply step (tui/session.run_confirmed) stopped by a database kept busy
    after one group: its outcome lists the durable migrations (its result screen would
    otherwise say "nothing was changed") and the status read afterwards agrees."""
    from typing import cast

    from textual.message import Message
    from textual.message_pump import MessagePump

    from malnu_tui.engine.config import Target
    from malnu_tui.tui.session import run_confirmed

    names = [*add_tables(mdirs, 1), add_update(mdirs, 2)]
    db = tmp_path / "c.db"
    target = Target("c", f"sqlite:///{db}", mdirs.migrations, mdirs.rollback, tmp_path / "bk")
    defaults = {**(SQLiteBackend.__init__.__kwdefaults__ or {}), "busy_timeout": 0.2}
    monkeypatch.setattr(SQLiteBackend.__init__, "__kwdefaults__", defaults)
    other = sqlite3.connect(db, isolation_level=None)

    class Pump:
        def post_message(self, message: Message) -> bool:
            event = getattr(message, "progress", None)
            if isinstance(event, Progress) and event.event == "done":
                other.execute("BEGIN IMMEDIATE")  # an application's long write
            return True

    backend = SQLiteBackend(db)
    mset = discover(mdirs.migrations, mdirs.rollback)
    plan = plan_up(backend, mset)
    backend.close()
    outcome = run_confirmed(target, mset, plan, cast(MessagePump, Pump()))
    other.execute("ROLLBACK")
    assert outcome.result is None and "busy" in outcome.error
    assert [f for f, _ in outcome.done] == names[:1]
    assert outcome.after is not None and outcome.after.not_done == (names[1],)


def test_a_second_ctrl_c_during_the_rollback_reports_nothing_undurable(
    tmp_path: Path, mdirs: MigrationDirs, monkeypatch: pytest.MonkeyPatch, one_group: None
) -> None:
    """Ctrl-C after the group's second migration ran, and again just as the group is being
    rolled back: the group is still rolled back before anything is read back, so the
    migrations of the group (its own uncommitted rows) are never reported done."""
    add_tables(mdirs, 3)
    db = tmp_path / "d.db"
    started: list[str] = []
    interrupt_after(monkeypatch, "run_unit", lambda: len(started) == 2)
    real_rollback = SQLiteBackend.rollback_group
    calls: list[int] = []

    def rollback_group(self: SQLiteBackend) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise KeyboardInterrupt  # the second Ctrl-C, before the ROLLBACK ran
        real_rollback(self)

    monkeypatch.setattr(SQLiteBackend, "rollback_group", rollback_group)
    events: list[Progress] = []

    def watch(p: Progress) -> None:
        events.append(p)
        if p.event == "start":
            started.append(p.filename)

    backend = SQLiteBackend(db)
    mset = discover(mdirs.migrations, mdirs.rollback)
    with pytest.raises(KeyboardInterrupt):
        apply_plan(backend, mset, plan_up(backend, mset), progress=watch)
    assert not backend.conn.in_transaction
    backend.close()
    assert [e.event for e in events] == ["start", "start"]
    assert tracking(db) == {} and tables(db) == set()
    assert rows(db, "SELECT count(*) FROM malnu_lock") == [(0,)]


@pytest.mark.parametrize("group_ms", ["60000", "0"])
def test_an_interrupt_inside_the_report_reports_it_again(
    tmp_path: Path, mdirs: MigrationDirs, monkeypatch: pytest.MonkeyPatch, group_ms: str
) -> None:
    """Ctrl-C raised while a "done" is being reported (the CLI's progress writer waits on a
    lock or a pipe there, where signals land): that migration is durable, so it is reported
    again from the tracking table; shown, counted and tracked agree."""
    monkeypatch.setenv("MALNU_UP_GROUP_MS", group_ms)
    names = add_tables(mdirs, 3)
    db = tmp_path / "e.db"
    shown: list[str] = []
    interrupted: list[bool] = []

    def show(p: Progress) -> None:
        if p.event == "done":
            if not interrupted:
                interrupted.append(True)
                raise KeyboardInterrupt
            shown.append(p.filename)

    backend = SQLiteBackend(db)
    mset = discover(mdirs.migrations, mdirs.rollback)
    with pytest.raises(KeyboardInterrupt):
        apply_plan(backend, mset, plan_up(backend, mset), progress=show)
    backend.close()
    assert shown == sorted(tracking(db)) and shown[0] == names[0]
    assert run_row(db)["counts"] == {"done": len(shown)}


@pytest.mark.parametrize("group_ms", ["60000", "0"])
def test_unlocked_by_another_session_mid_run_commits_nothing_more(
    tmp_path: Path, mdirs: MigrationDirs, monkeypatch: pytest.MonkeyPatch, group_ms: str
) -> None:
    """Another session runs `unlock` while this `up` runs (its lock row deleted, audited):
    the next COMMIT finds the row gone, rolls back and stops (LockLost, exit 3), so no
    migration is ever committed without the lock; a later `up` does the rest."""
    from malnu_tui.engine.errors import LockLost
    from malnu_tui.engine.migrate import unlock

    monkeypatch.setenv("MALNU_UP_GROUP_MS", group_ms)
    names = [*add_tables(mdirs, 1), add_update(mdirs, 2), *add_tables(mdirs, 1, start=3)]
    db = tmp_path / "u.db"
    events: list[Progress] = []

    def watch(p: Progress) -> None:
        events.append(p)
        if p.event == "done" and len(events) == 2:  # after the first COMMIT
            other = SQLiteBackend(db)
            unlock(other)
            other.close()

    backend = SQLiteBackend(db)
    mset = discover(mdirs.migrations, mdirs.rollback)
    with pytest.raises(LockLost) as info:
        apply_plan(backend, mset, plan_up(backend, mset), progress=watch)
    assert info.value.exit_code == 3 and not backend.conn.in_transaction
    backend.close()
    assert [e.filename for e in events if e.event == "done"] == names[:1]
    assert tracking(db) == {names[0]: (1, None)} and tables(db) == {"t1"}
    applied, _ = up(db, mdirs)
    assert applied == names[1:]
