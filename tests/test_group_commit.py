"""Group commit of ``up`` on SQLite files (engine/apply.py), on real databases and processes:
quick migrations share one durable COMMIT, each still all or nothing with its tracking and audit
rows; nothing is reported applied before its COMMIT; a failing COMMIT falls back to one
transaction per migration; migrations that must run alone keep running alone."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
from pathlib import Path

import pytest

from malnu_tui.engine.apply import ALONE, FIRST, GROUP, Progress, unit_kind
from malnu_tui.engine.backends.sqlite import SQLiteBackend
from malnu_tui.engine.files import discover
from malnu_tui.engine.migrate import MigrationFailed, apply_plan, plan_up
from malnu_tui.engine.sqlsplit import split_statements
from tests.fixtures_core import MigrationDirs, popen_cli, run_cli


def up(db: Path, d: MigrationDirs) -> tuple[list[str], list[Progress]]:
    """Apply everything pending in process; (applied filenames, progress events)."""
    backend = SQLiteBackend(db)
    events: list[Progress] = []
    try:
        mset = discover(d.migrations, d.rollback)
        result = apply_plan(backend, mset, plan_up(backend, mset), progress=events.append)
        return [f for f, _ in result.done], events
    finally:
        backend.close()


def rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def tracking(db: Path) -> dict[str, tuple[int, str | None]]:
    got = rows(db, "SELECT filename, success, error_message FROM migrations")
    return {str(f): (int(str(s)), e if e is None else str(e)) for f, s, e in got}


def tables(db: Path) -> set[str]:
    got = rows(db, "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 't%'")
    return {str(r[0]) for r in got}


def add_tables(d: MigrationDirs, n: int, start: int = 1) -> list[str]:
    names = []
    for i in range(start, start + n):
        sql = f"CREATE TABLE t{i} (id INTEGER PRIMARY KEY);\nINSERT INTO t{i} VALUES ({i});"
        path = d.add(f"20250101_{i:06d}", f"t{i}", sql, f"DROP TABLE t{i};")
        names.append(path.name)
    return names


@pytest.fixture
def one_group(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bound no test run reaches: every groupable migration of a run shares one group."""
    monkeypatch.setenv("MALNU_UP_GROUP_MS", "60000")


def start_counting_up(
    tmp_path: Path, mdirs: MigrationDirs, n: int
) -> tuple[subprocess.Popen[str], Path]:
    """A real ``up`` process (and its SQLite file) over a seed table, then ``n`` migrations each
    creating a table and its row after ~10 ms of counting (from the seed row: the lint's replay
    of the schema, where seed is empty, skips it), so that it can be stopped part way."""
    mdirs.add(
        "20250101_000000",
        "seed",
        "CREATE TABLE seed (n INTEGER);\nINSERT INTO seed VALUES (1);",
        "DROP TABLE seed;",
    )
    for i in range(1, n + 1):
        sql = (
            f"CREATE TABLE t{i} AS WITH RECURSIVE c(x) AS (SELECT n FROM seed UNION ALL "
            f"SELECT x + 1 FROM c WHERE x < 40000) SELECT {i} AS id, count(*) AS n FROM c;"
        )
        mdirs.add(f"20250101_{i:06d}", f"t{i}", sql, f"DROP TABLE t{i};")
    db = tmp_path / "k.db"
    return popen_cli("--database", f"sqlite:///{db}", *mdirs.args(), "up", "--no-backup"), db


def rerun_applies_all(db: Path, mdirs: MigrationDirs, n: int) -> None:
    """After a stopped :func:`start_counting_up`: a rerun applies the rest, all of it."""
    res = run_cli("--database", f"sqlite:///{db}", *mdirs.args(), "up", "--no-backup")
    assert res.code == 0, res.err
    assert len(tracking(db)) == n + 1 and len(tables(db)) == n


def test_failure_inside_a_group_keeps_the_earlier_ones(
    tmp_path: Path, mdirs: MigrationDirs, one_group: None
) -> None:
    names = add_tables(mdirs, 2)
    bad = mdirs.add(
        "20250101_000003",
        "t3",
        "CREATE TABLE t3 (id INTEGER);\nINSERT INTO nowhere VALUES (1);",
        "DROP TABLE t3;",
    )
    later = add_tables(mdirs, 2, start=4)
    db = tmp_path / "g.db"
    with pytest.raises(MigrationFailed) as info:
        up(db, mdirs)
    assert info.value.failure.filename == bad.name and info.value.failure.line == 2
    assert [f for f, _ in info.value.done] == names
    assert tracking(db) == {
        names[0]: (1, None),
        names[1]: (1, None),
        bad.name: (0, "line 2: no such table: nowhere"),
    }
    assert tables(db) == {"t1", "t2"}  # nothing of t3, nothing of the later ones
    assert [f for f in later if f in tracking(db)] == []
    audit = rows(db, "SELECT object, outcome FROM malnu_audit WHERE action = 'apply'")
    assert audit == [(names[0], "ok"), (names[1], "ok"), (bad.name, "failed")]
    # Fixed and run again: the failed row becomes a success, the rest run once.
    bad.write_text("CREATE TABLE t3 (id INTEGER);\n")
    applied, _ = up(db, mdirs)
    assert applied == [bad.name, *later]
    assert tables(db) == {"t1", "t2", "t3", "t4", "t5"}


def test_done_is_reported_only_after_the_groups_commit(
    tmp_path: Path, mdirs: MigrationDirs, one_group: None
) -> None:
    names = add_tables(mdirs, 3)
    db = tmp_path / "g.db"
    seen: list[tuple[str, str, set[str]]] = []
    backend = SQLiteBackend(db)
    mset = discover(mdirs.migrations, mdirs.rollback)

    def watch(p: Progress) -> None:
        # What another connection sees as applied when the event is sent.
        if p.event in ("start", "done"):
            done = {str(r[0]) for r in rows(db, "SELECT filename FROM migrations")}
            seen.append((p.event, p.filename, done))

    apply_plan(backend, mset, plan_up(backend, mset), progress=watch)
    backend.close()
    assert [(e, f) for e, f, _ in seen] == [
        *(("start", f) for f in names),
        *(("done", f) for f in names),
    ]
    for event, filename, durable in seen:
        assert (filename in durable) == (event == "done")


@pytest.mark.parametrize("grouping", ["detected", "forced"])
def test_deferred_foreign_key_failing_at_commit_names_the_migration(
    tmp_path: Path,
    mdirs: MigrationDirs,
    monkeypatch: pytest.MonkeyPatch,
    one_group: None,
    grouping: str,
) -> None:
    """A deferred foreign key is checked only at COMMIT. The engine sees it in the schema and
    does not group, so a later migration that would repair the orphan cannot hide it;
    "forced" hides the schema from that check (and has no repairing migration), so the group's
    COMMIT really fails and the fallback (one transaction per migration) must name the
    migration at fault."""
    db = tmp_path / "g.db"
    with sqlite3.connect(db) as conn:
        conn.executescript(
            "CREATE TABLE parent (id INTEGER PRIMARY KEY);"
            "CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES "
            "parent(id) DEFERRABLE INITIALLY DEFERRED);"
        )
    if grouping == "forced":
        monkeypatch.setattr(SQLiteBackend, "has_deferred_checks", lambda self: False)
    first = add_tables(mdirs, 1)
    bad = mdirs.add(
        "20250101_000002",
        "orphan",
        "INSERT INTO child VALUES (1, 99);",
        "DELETE FROM child WHERE id = 1;",
    )
    later = add_tables(mdirs, 1, start=3)
    if grouping == "detected":
        mdirs.add("20250101_000004", "parent", "INSERT INTO parent VALUES (99);", "SELECT 1;")
    with pytest.raises(MigrationFailed) as info:
        up(db, mdirs)
    assert info.value.failure.filename == bad.name
    assert "FOREIGN KEY constraint failed (at COMMIT)" in str(info.value)
    assert tracking(db) == {
        first[0]: (1, None),
        bad.name: (0, "line 1: FOREIGN KEY constraint failed (at COMMIT)"),
    }
    assert rows(db, "SELECT count(*) FROM child") == [(0,)]
    assert later[0] not in tracking(db) and tables(db) == {"t1"}
    # The lock is free: the failure left no transaction open.
    assert rows(db, "SELECT count(*) FROM malnu_lock") == [(0,)]


def test_disk_full_inside_a_group_falls_back_and_keeps_the_earlier_ones(
    tmp_path: Path, mdirs: MigrationDirs, one_group: None
) -> None:
    """A full database (SQLite's max_page_count: the same SQLITE_FULL a full disk gives) rolls
    the whole group back; the engine runs the earlier migrations again one per transaction,
    then records the failure of the one that did not fit."""
    names = add_tables(mdirs, 2)
    big = mdirs.add(
        "20250101_000003",
        "big",
        "CREATE TABLE t3 (b BLOB);\nINSERT INTO t3 VALUES (zeroblob(400000));",
        "DROP TABLE t3;",
    )
    add_tables(mdirs, 1, start=4)
    backend = SQLiteBackend(tmp_path / "g.db")
    backend.ensure_schema()
    pages = int(backend.conn.execute("PRAGMA page_count").fetchone()[0])
    backend.conn.execute(f"PRAGMA max_page_count = {pages + 40}")
    events: list[Progress] = []
    mset = discover(mdirs.migrations, mdirs.rollback)
    with pytest.raises(MigrationFailed) as info:
        apply_plan(backend, mset, plan_up(backend, mset), progress=events.append)
    assert info.value.failure.filename == big.name
    assert "full" in info.value.failure.error
    assert [f for f, _ in info.value.done] == names
    assert not backend.conn.in_transaction and backend.read_lock() is None
    backend.close()
    db = tmp_path / "g.db"
    assert tracking(db) == {
        names[0]: (1, None),
        names[1]: (1, None),
        big.name: (0, f"line 2: {info.value.failure.error}"),
    }
    assert tables(db) == {"t1", "t2"}
    done = [e.filename for e in events if e.event == "done"]
    assert done == names  # each reported once, after the COMMIT that holds it


def test_migrations_that_must_run_alone_keep_their_behaviour(
    tmp_path: Path, mdirs: MigrationDirs, one_group: None
) -> None:
    """PRAGMA defer_foreign_keys lasts until its transaction ends: its migration runs alone, so
    the next migration's orphan row fails at once, as it would without grouping (in a group it
    would be deferred to the group's COMMIT, and the migration after it would repair it)."""
    db = tmp_path / "g.db"
    mdirs.add(
        "20250101_000001",
        "schema",
        "CREATE TABLE parent (id INTEGER PRIMARY KEY);\n"
        "CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent(id));",
        "DROP TABLE child;\nDROP TABLE parent;",
    )
    deferred = mdirs.add(
        "20250101_000002",
        "child_first",
        "PRAGMA defer_foreign_keys = ON;\n"
        "INSERT INTO child VALUES (1, 1);\nINSERT INTO parent VALUES (1);",
        "DELETE FROM child;\nDELETE FROM parent;",
    )
    orphan = mdirs.add(
        "20250101_000003", "orphan", "INSERT INTO child VALUES (2, 42);", "SELECT 1;"
    )
    mdirs.add("20250101_000004", "parent", "INSERT INTO parent VALUES (42);", "SELECT 1;")
    with pytest.raises(MigrationFailed) as info:
        up(db, mdirs)
    assert info.value.failure.filename == orphan.name
    assert info.value.failure.error == "FOREIGN KEY constraint failed"  # at the statement
    assert tracking(db)[deferred.name] == (1, None)
    assert rows(db, "SELECT id FROM child") == [(1,)]
    # VACUUM cannot run in a transaction, grouped or not: the same error as ever.
    orphan.unlink()
    vac = mdirs.add("20250101_000005", "vacuum", "VACUUM;", "SELECT 1;")
    with pytest.raises(MigrationFailed) as info:
        up(db, mdirs)
    assert info.value.failure.filename == vac.name
    assert "cannot VACUUM from within a transaction" in info.value.failure.error


def test_which_migrations_may_share_a_commit() -> None:
    def kind(sql: str) -> str:
        return unit_kind(split_statements(sql))

    assert kind("CREATE TABLE a (id INTEGER);\nINSERT INTO a VALUES (1);") == GROUP
    assert kind("CREATE INDEX i ON a(id);\nALTER TABLE a ADD COLUMN b TEXT;") == GROUP
    assert kind("UPDATE a SET b = 'x';") == FIRST
    assert kind("INSERT INTO a (id) SELECT id FROM b;") == FIRST
    assert kind("ALTER TABLE a DROP COLUMN b;") == FIRST
    assert kind('ALTER TABLE "my table" DROP COLUMN b;') == FIRST
    assert kind("ALTER TABLE a RENAME TO drop_a;") == GROUP
    assert kind("DROP TABLE a;") == FIRST
    assert kind("PRAGMA foreign_keys = OFF;\nCREATE TABLE a (id INTEGER);") == ALONE
    assert kind("SAVEPOINT s;\nCREATE TABLE a (id INTEGER);\nRELEASE s;") == ALONE
    assert kind("CREATE TABLE c (p INTEGER REFERENCES a DEFERRABLE INITIALLY DEFERRED);") == ALONE


def test_sigkill_of_a_real_up_leaves_only_whole_reported_migrations(
    tmp_path: Path, mdirs: MigrationDirs
) -> None:
    """Killed mid-run: every migration reported ok is tracked, every tracked one has all of its
    effect (table, row, audit row) and no untracked one has any; the rerun finishes cleanly."""
    n = 150
    proc, db = start_counting_up(tmp_path, mdirs, n)
    assert proc.stderr is not None
    reported: list[str] = []
    for line in proc.stderr:
        if line.rstrip().endswith("ms)") and " ok (" in line:
            reported.append(line.split()[1])
            if len(reported) >= 10:
                break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert len(reported) >= 10, "the run ended before it could be killed"
    tracked = tracking(db)
    assert set(reported) <= set(tracked)  # nothing reported ahead of its COMMIT
    assert len(tracked) < n + 1  # killed mid-run
    applied = {f for f, (ok, _) in tracked.items() if ok}
    assert applied == set(tracked)
    for i in range(1, n + 1):
        name = f"20250101_{i:06d}_t{i}.sql"
        if name in applied:
            assert rows(db, f"SELECT id FROM t{i}") == [(i,)], name
        else:
            assert f"t{i}" not in tables(db), name
    audit = rows(db, "SELECT object FROM malnu_audit WHERE action = 'apply' AND outcome = 'ok'")
    assert {str(r[0]) for r in audit} == applied
    rerun_applies_all(db, mdirs, n)
    for i in (1, n):
        assert rows(db, f"SELECT id FROM t{i}") == [(i,)]


def test_bad_group_bound_is_a_usage_error(tmp_path: Path, mdirs: MigrationDirs) -> None:
    add_tables(mdirs, 1)
    url = f"sqlite:///{tmp_path / 'g.db'}"
    res = run_cli(
        "--database", url, *mdirs.args(), "up", "--no-backup", env={"MALNU_UP_GROUP_MS": "0.5s"}
    )
    assert res.code == 2 and "MALNU_UP_GROUP_MS='0.5s'" in res.err and "Traceback" not in res.err
    # Before anything is changed (README "Bad input"): it was read once the run began, after
    # the database was made and its `pre-up` safety backup taken (listed, audited).
    assert not (tmp_path / "g.db").exists()
    store = tmp_path / "backups"
    res = run_cli(
        "--database", url, *mdirs.args(), "up",
        env={"MALNU_UP_GROUP_MS": "99999", "MALNU_BACKUP_DIR": str(store)},
    )  # fmt: skip
    assert res.code == 2 and "MALNU_UP_GROUP_MS='99999'" in res.err, res.err
    assert "safety backup" not in res.err and not store.exists(), res.err
    assert not (tmp_path / "g.db").exists()
    res = run_cli(
        "--database", url, *mdirs.args(), "up", "--no-backup", env={"MALNU_UP_GROUP_MS": "0"}
    )
    assert res.code == 0, res.err


@pytest.mark.anyio
async def test_console_progress_bar_counts_durable_migrations_only(
    tmp_path: Path, mdirs: MigrationDirs, one_group: None
) -> None:
    """The events of a real grouped run (several starts before the first done) move the
    console's bar forward only, one step per durable migration."""
    from textual.app import App, ComposeResult
    from textual.widgets import ProgressBar

    from malnu_tui.tui.widgets.progress import OperationProgress

    add_tables(mdirs, 4)
    _, events = up(tmp_path / "g.db", mdirs)
    assert [e.event for e in events][:2] == ["start", "start"]

    class Host(App[None]):
        def compose(self) -> ComposeResult:
            yield OperationProgress()

    async with Host().run_test() as pilot:
        widget = pilot.app.query_one(OperationProgress)
        widget.reset("applying", total=None)
        bar = pilot.app.query_one(ProgressBar)
        seen = []
        for e in events:
            widget.show_event(e, "applying")
            seen.append(bar.progress)
        assert seen == sorted(seen) and seen[-1] == bar.total == 4
        assert seen.count(0) == 4  # the four starts, before any COMMIT
