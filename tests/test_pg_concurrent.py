"""CONCURRENTLY migrations on a real PostgreSQL server (no mocks): a file of CREATE INDEX
CONCURRENTLY (or one DROP INDEX / REINDEX … CONCURRENTLY) runs outside a transaction, fully
before or fully after: a failed or killed build leaves no index, a leftover INVALID index is
replaced, a mixed file is refused before anything runs."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest

from malnu_tui.engine.backends.base import AuditEntry, RecordApplied
from malnu_tui.engine.backends.postgresql import open_url
from malnu_tui.engine.concurrently import ConcurrentRefusal, ConcurrentUnit, classify
from malnu_tui.engine.errors import StatementFailed
from malnu_tui.engine.monitor import debuglog
from malnu_tui.engine.sqlsplit import split_statements
from tests.fixtures_core import MigrationDirs
from tests.fixtures_matrix import DbTarget
from tests.fixtures_pg import PgCluster

EVENTS = (
    "CREATE TABLE events (id bigint PRIMARY KEY, user_id int NOT NULL, code text);\n"
    "INSERT INTO events SELECT g, g % 100, 'c' || (g % 7) FROM generate_series(1, 2000) g;"
)


def _indexes(url: str) -> dict[str, bool]:
    """Index name → valid, for the indexes of table events."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT c.relname, x.indisvalid FROM pg_index x JOIN pg_class c "
            "ON c.oid = x.indexrelid WHERE x.indrelid = 'events'::regclass"
        ).fetchall()
    return {str(r[0]): bool(r[1]) for r in rows}


def _records(url: str) -> list[tuple[str, bool]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT filename, success FROM migrations ORDER BY id").fetchall()
    return [(str(r[0]), bool(r[1])) for r in rows]


def _base(pg: DbTarget, d: MigrationDirs) -> None:
    d.add("20250101_000100", "events", EVENTS, "DROP TABLE events;")
    res = pg.cli(d, "up", "--no-backup")
    assert res.code == 0, res.err


def test_classify_reads_the_concurrent_files() -> None:
    def c(text: str) -> object:
        return classify(split_statements(text))

    assert c("CREATE INDEX i ON t (a);") is None
    assert c("SELECT 'CREATE INDEX CONCURRENTLY x ON t (a)';") is None
    unit = c(
        "SET lock_timeout = '5s';\n-- why\nCREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS "
        '"Idx_A" ON s.T (a);\nCREATE INDEX CONCURRENTLY idx_b ON t (b);'
    )
    assert isinstance(unit, ConcurrentUnit)
    assert [(s.kind, s.name, s.schema, s.table) for s in unit.creates] == [
        ("create", "Idx_A", "s", "t"),
        ("create", "idx_b", None, "t"),
    ]
    assert isinstance(c("DROP INDEX CONCURRENTLY IF EXISTS idx_b;"), ConcurrentUnit)
    assert isinstance(c("REINDEX INDEX CONCURRENTLY idx_b;"), ConcurrentUnit)
    assert isinstance(c("REINDEX (VERBOSE, CONCURRENTLY) TABLE t;"), ConcurrentUnit)
    assert c("REINDEX (CONCURRENTLY false) TABLE t;") is None
    for bad, line in (
        ("CREATE TABLE x (a int);\nCREATE INDEX CONCURRENTLY i ON x (a);", 2),
        ("CREATE INDEX CONCURRENTLY ON t (a);", 1),
        ("DROP INDEX CONCURRENTLY a;\nDROP INDEX CONCURRENTLY b;", 1),
        ("CREATE INDEX CONCURRENTLY a ON t (a);\nDROP INDEX CONCURRENTLY b;", 1),
        ("SET LOCAL lock_timeout = '1s';\nDROP INDEX CONCURRENTLY b;", 2),
        ("DROP INDEX CONCURRENTLY a, b;", 1),
    ):
        got = c(bad)
        assert isinstance(got, ConcurrentRefusal) and got.line == line, (bad, got)


def test_concurrent_build_is_recorded_once_audited_and_settings_put_back(
    fresh_db: Callable[[str], DbTarget], mdirs: MigrationDirs
) -> None:
    pg, d = fresh_db("postgresql"), mdirs
    _base(pg, d)
    d.add(
        "20250101_000200", "idx",
        "SET lock_timeout = '3s';\nSET statement_timeout = '1min';\n"
        "CREATE INDEX CONCURRENTLY idx_events_user ON events (user_id);\n"
        "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS idx_events_id_code ON events (id, code);",
        "DROP INDEX idx_events_user, idx_events_id_code;",
    )  # fmt: skip
    res = pg.cli(d, "up", "--dry-run")
    assert res.code == 0, res.err
    assert "runs outside a transaction (2 × CREATE INDEX CONCURRENTLY)" in res.err
    assert "idx_events_user" not in _indexes(pg.url)

    res = pg.cli(d, "up", "--no-backup")
    assert res.code == 0, res.err
    assert _indexes(pg.url) == {"events_pkey": True, "idx_events_user": True,
                                "idx_events_id_code": True}  # fmt: skip
    assert _records(pg.url) == [("20250101_000100_events.sql", True),
                                ("20250101_000200_idx.sql", True)]  # fmt: skip
    res = pg.cli(d, "log", "--json", "--action", "apply")
    assert res.code == 0, res.err
    audit = [e for e in json.loads(res.out) if e["object"] == "20250101_000200_idx.sql"]
    assert [e["outcome"] for e in audit] == ["ok"]

    res = pg.cli(d, "rollback", "--yes", "--no-backup")
    assert res.code == 0, res.err
    assert "idx_events_user" not in _indexes(pg.url)

    # In-process: the file's SETs end with it, as a transactional file's do.
    be = open_url(pg.url)
    try:
        sts = split_statements(
            "SET lock_timeout = '1s';\nCREATE INDEX CONCURRENTLY idx_c ON events (code);"
        )
        be.run_unit("c.sql", sts, RecordApplied("c.sql", "x"), AuditEntry.now("apply", "c", "ok"))
        assert be.conn.execute("SHOW lock_timeout").fetchone() == ("10s",)
        assert be.conn.execute("SHOW statement_timeout").fetchone() == ("0",)
    finally:
        be.close()


def test_second_build_fails_and_neither_index_is_left(
    fresh_db: Callable[[str], DbTarget], mdirs: MigrationDirs
) -> None:
    pg, d = fresh_db("postgresql"), mdirs
    _base(pg, d)
    d.add(
        "20250101_000200", "idx",
        "CREATE INDEX CONCURRENTLY idx_events_user ON events (user_id);\n"
        "CREATE UNIQUE INDEX CONCURRENTLY idx_events_code\n  ON events (code);",
        "DROP INDEX idx_events_user, idx_events_code;",
    )  # fmt: skip
    res = pg.cli(d, "up", "--no-backup", "--json")
    assert res.code == 1, res.err
    assert "20250101_000200_idx.sql failed at line 2" in res.err
    assert "could not create unique index" in res.err
    assert "dropped the index(es) it built" in res.err
    assert json.loads(res.out)["failed"]["line"] == 2
    assert _indexes(pg.url) == {"events_pkey": True}
    assert _records(pg.url)[-1] == ("20250101_000200_idx.sql", False)

    # Fixed (duplicates removed by hand): the retry builds both and records the row once.
    with psycopg.connect(pg.url, autocommit=True) as conn:
        conn.execute("UPDATE events SET code = 'c' || id")
    res = pg.cli(d, "up", "--no-backup")
    assert res.code == 0, res.err
    assert _indexes(pg.url) == {"events_pkey": True, "idx_events_user": True,
                                "idx_events_code": True}  # fmt: skip
    assert _records(pg.url)[-1] == ("20250101_000200_idx.sql", True)
    assert len(_records(pg.url)) == 2


def test_invalid_leftover_is_replaced_not_taken_for_the_index(
    fresh_db: Callable[[str], DbTarget], mdirs: MigrationDirs
) -> None:
    pg, d = fresh_db("postgresql"), mdirs
    _base(pg, d)
    with psycopg.connect(pg.url, autocommit=True) as conn:  # a failed build by hand
        try:
            conn.execute("CREATE UNIQUE INDEX CONCURRENTLY idx_events_code ON events (code)")
        except psycopg.errors.UniqueViolation:
            pass
        conn.execute("UPDATE events SET code = 'c' || id")
    assert _indexes(pg.url)["idx_events_code"] is False
    d.add(
        "20250101_000200", "idx",
        "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS idx_events_code ON events (code);",
        "DROP INDEX CONCURRENTLY IF EXISTS idx_events_code;",
    )  # fmt: skip
    res = pg.cli(d, "up", "--no-backup")
    assert res.code == 0, res.err
    assert _indexes(pg.url)["idx_events_code"] is True
    assert _records(pg.url)[-1] == ("20250101_000200_idx.sql", True)

    res = pg.cli(d, "rollback", "--yes", "--no-backup")
    assert res.code == 0, res.err
    assert "idx_events_code" not in _indexes(pg.url)
    assert len(_records(pg.url)) == 1


def test_mixed_or_unnamed_file_is_refused_before_anything_runs(
    fresh_db: Callable[[str], DbTarget], mdirs: MigrationDirs
) -> None:
    pg, d = fresh_db("postgresql"), mdirs
    _base(pg, d)
    path = d.add(
        "20250101_000200", "mixed",
        "CREATE TABLE extra (a int);\n"
        "CREATE INDEX CONCURRENTLY idx_events_user ON events (user_id);",
        "DROP TABLE extra;",
    )  # fmt: skip
    for args in (("up", "--no-backup"), ("up", "--dry-run")):
        res = pg.cli(d, *args)
        assert res.code == 2, res.err
        assert f"{path}:2:" in res.err and "a migration of their own" in res.err
    with psycopg.connect(pg.url) as conn:
        assert conn.execute("SELECT to_regclass('extra')").fetchone() == (None,)
    assert len(_records(pg.url)) == 1

    path.write_text("CREATE INDEX CONCURRENTLY ON events (user_id);\n")
    res = pg.cli(d, "up", "--no-backup")
    assert res.code == 2 and f"{path}:1:" in res.err and "without an index name" in res.err
    assert _indexes(pg.url) == {"events_pkey": True}


def test_stairway_on_postgres_runs_concurrent_files(
    fresh_db: Callable[[str], DbTarget], mdirs: MigrationDirs
) -> None:
    pg, d = fresh_db("postgresql"), mdirs
    d.add("20250101_000100", "events", EVENTS, "DROP TABLE events;")
    d.add(
        "20250101_000200", "idx",
        "CREATE INDEX CONCURRENTLY idx_events_user ON events (user_id);",
        "DROP INDEX CONCURRENTLY idx_events_user;",
    )  # fmt: skip
    res = pg.cli(d, "test", "--postgres", pg.url, "--json")
    assert res.code == 0, res.out + res.err
    assert all(s["ok"] for s in json.loads(res.out)["steps"])


@contextlib.contextmanager
def _build_waiting_behind_a_writer(
    pg: DbTarget, d: MigrationDirs
) -> Iterator[subprocess.Popen[str]]:
    """`up` of a concurrent build that waits for a writer's open transaction, its INVALID index
    already in the catalog (as on a busy reporting table); the writer rolls back when the
    block ends, and the process is then waited for (killed if it does not end)."""
    _base(pg, d)
    d.add(
        "20250101_000200", "idx",
        "CREATE INDEX CONCURRENTLY idx_events_user ON events (user_id);",
        "DROP INDEX CONCURRENTLY idx_events_user;",
    )  # fmt: skip
    writer = psycopg.connect(pg.url)
    writer.execute("INSERT INTO events VALUES (999999, 1, 'w')")
    proc = pg.popen(d, "up", "--no-backup")
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and "idx_events_user" not in _indexes(pg.url):
            time.sleep(0.05)
        yield proc
    finally:
        writer.rollback()
        writer.close()
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


def test_kill_9_during_a_build_then_rerun_gives_a_valid_index_recorded_once(
    fresh_db: Callable[[str], DbTarget], mdirs: MigrationDirs
) -> None:
    pg, d = fresh_db("postgresql"), mdirs
    with _build_waiting_behind_a_writer(pg, d) as proc:
        assert _indexes(pg.url).get("idx_events_user") is False
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert [f for f, _ok in _records(pg.url)] == ["20250101_000100_events.sql"]

    res = pg.cli(d, "up", "--no-backup")
    assert res.code == 0, res.err
    assert _indexes(pg.url)["idx_events_user"] is True
    assert _records(pg.url) == [("20250101_000100_events.sql", True),
                                ("20250101_000200_idx.sql", True)]  # fmt: skip


def test_sigterm_during_a_build_drops_it_and_records_nothing(
    fresh_db: Callable[[str], DbTarget], mdirs: MigrationDirs
) -> None:
    pg, d = fresh_db("postgresql"), mdirs
    with _build_waiting_behind_a_writer(pg, d) as proc:
        proc.send_signal(signal.SIGTERM)
        # The build cancelled before the writer lets it go: a fixed 0.5 s let a stop taken
        # late on a loaded box come after that (still passing, on another case).
        build = (
            "SELECT 1 FROM pg_stat_activity WHERE state = 'active' "
            "AND datname = current_database() AND query LIKE 'CREATE INDEX CONCURRENTLY%'"
        )
        deadline = time.monotonic() + 60
        with psycopg.connect(pg.url, autocommit=True) as watch:
            while watch.execute(build).fetchone() is not None:
                assert time.monotonic() < deadline, "the build was never cancelled"
                time.sleep(0.02)
    assert proc.returncode == 143
    assert _indexes(pg.url) == {"events_pkey": True}
    assert [f for f, _ok in _records(pg.url)] == ["20250101_000100_events.sql"]


@contextlib.contextmanager
def _reindex_cancelled(url: str, index: str) -> Iterator[None]:
    """Inside the block a REINDEX … CONCURRENTLY of ``index`` is started (by hand or by `up`);
    it waits behind a writer's open transaction with ``<index>_ccnew`` already built INVALID,
    and is then cancelled (as a statement_timeout or a killed client's server side would)."""
    with psycopg.connect(url) as writer, psycopg.connect(url, autocommit=True) as watch:
        writer.execute("INSERT INTO events VALUES (999999, 1, 'w')")
        yield
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and f"{index}_ccnew" not in _indexes(url):
            time.sleep(0.05)
        watch.execute(
            "SELECT pg_cancel_backend(pid) FROM pg_stat_activity "
            "WHERE query ILIKE 'REINDEX%%' AND pid <> pg_backend_pid()"
        )
        writer.rollback()


def _failed_reindex_by_hand(url: str, index: str, table: str | None = None) -> None:
    """PostgreSQL's own leftover: ``<index>_ccnew`` INVALID after a cancelled REINDEX of the
    index (or of its ``table``)."""
    errors: list[BaseException] = []

    def run() -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            try:
                what = f"TABLE CONCURRENTLY {table}" if table else f"INDEX CONCURRENTLY {index}"
                conn.execute(f"REINDEX {what}")
            except psycopg.errors.QueryCanceled as exc:
                errors.append(exc)

    thread = threading.Thread(target=run)
    with _reindex_cancelled(url, index):
        thread.start()
    thread.join(30)
    assert errors and _indexes(url)[f"{index}_ccnew"] is False


def test_failed_reindex_leaves_no_ccnew_index_and_a_rerun_drops_an_old_one(
    fresh_db: Callable[[str], DbTarget], mdirs: MigrationDirs
) -> None:
    # A REINDEX … CONCURRENTLY that fails (cancelled, a statement_timeout, a deadlock) leaves
    # PostgreSQL's INVALID idx_ccnew: the run said "all of it was rolled back", and the index
    # stayed for every write to maintain; each rerun added idx_ccnew1, idx_ccnew2… Now the run
    # drops what its REINDEX left, and a leftover of an earlier (killed) run before it starts;
    # a leftover on an index the REINDEX does not touch is not its business.
    pg, d = fresh_db("postgresql"), mdirs
    _base(pg, d)
    with psycopg.connect(pg.url, autocommit=True) as conn:
        conn.execute("CREATE INDEX idx_events_user ON events (user_id)")
        conn.execute("CREATE INDEX idx_events_code ON events (code)")
    _failed_reindex_by_hand(pg.url, "idx_events_code")  # another index's: left alone
    d.add("20250101_000200", "reindex", "REINDEX INDEX CONCURRENTLY idx_events_user;", "SELECT 1;")
    with _reindex_cancelled(pg.url, "idx_events_user"):
        proc = pg.popen(d, "up", "--no-backup")
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    assert "dropped the index(es) the REINDEX left: public.idx_events_user_ccnew" in err
    expected = {"events_pkey": True, "idx_events_user": True, "idx_events_code": True,
                "idx_events_code_ccnew": False}  # fmt: skip
    assert _indexes(pg.url) == expected

    _failed_reindex_by_hand(pg.url, "idx_events_user")  # as a killed run leaves it
    res = pg.cli(d, "up", "--no-backup")
    assert res.code == 0, res.err
    assert "an INVALID leftover" not in res.err  # said only when the run fails
    assert _indexes(pg.url) == expected
    assert _records(pg.url)[-1] == ("20250101_000200_reindex.sql", True)


def test_reindex_table_by_the_owner_runs_past_a_toast_copy_it_may_not_drop(
    pg_cluster: PgCluster,
    pg_password_role: tuple[str, str],
    pg_password_db: str,
    mdirs: MigrationDirs,
) -> None:
    # The database owner (Supabase's role, no superuser) runs REINDEX TABLE CONCURRENTLY over
    # a cancelled REINDEX's leftovers: the table's copy is dropped first, but its TOAST
    # table's (pg_toast.…_index_ccnew) needs a superuser — the run must not stop on it.
    role, password = pg_password_role
    url = (
        f"postgresql://{role}:{quote(password)}@{pg_cluster.host}:{pg_cluster.port}/"
        f"{pg_password_db}"
    )
    pg, d = DbTarget("postgresql", url), mdirs
    _base(pg, d)
    _failed_reindex_by_hand(url, "events_pkey", table="events")
    d.add("20250101_000200", "reindex", "REINDEX TABLE CONCURRENTLY events;", "SELECT 1;")
    res = pg.cli(d, "up", "--no-backup")
    assert res.code == 0, res.err
    assert _indexes(url) == {"events_pkey": True}
    assert _records(url)[-1] == ("20250101_000200_reindex.sql", True)


def test_plan_check_tries_the_plain_statement_and_says_so(pg_url: str) -> None:
    from malnu_tui.engine.parity.scratch import check_statements

    files = [
        ("a.sql", split_statements(EVENTS)),
        ("b.sql", split_statements("CREATE INDEX CONCURRENTLY i_u ON events (user_id);")),
        ("c.sql", split_statements("DROP INDEX CONCURRENTLY i_u;")),
    ]
    findings, ran = check_statements(files, pg_url)
    assert ran == 4
    assert [(f.file, f.severity, f.construct) for f in findings] == [
        ("b.sql", "note", "CONCURRENTLY"),
        ("c.sql", "note", "CONCURRENTLY"),
    ]
    assert "the concurrent build itself was not tried" in findings[0].why


def _index_dropped_concurrently_on_rollback(
    pg: DbTarget, d: MigrationDirs, *, lock_timeout: str
) -> None:
    """The base set, and a migration (applied) whose rollback drops its index CONCURRENTLY."""
    _base(pg, d)
    d.add(
        "20250101_000200",
        "index",
        "CREATE INDEX idx_events_user ON events (user_id);",
        f"SET lock_timeout = '{lock_timeout}';\nDROP INDEX CONCURRENTLY idx_events_user;",
    )
    assert pg.cli(d, "up", "--no-backup").code == 0


def test_a_drop_index_concurrently_stopped_half_way_says_the_index_is_left_invalid(
    fresh_db: Callable[[str], DbTarget], mdirs: MigrationDirs
) -> None:
    # A DROP INDEX CONCURRENTLY that times out waiting for an older transaction has already
    # marked its index INVALID: queries stop using it (seq scans at 2 a.m.), writes go on
    # maintaining it. The rollback said "all of it was rolled back … the database is as it was
    # before this rollback file". Now it names the INVALID index, in the audit row too, and a
    # second run finishes the drop.
    pg, d = fresh_db("postgresql"), mdirs
    _index_dropped_concurrently_on_rollback(pg, d, lock_timeout="300ms")
    with psycopg.connect(pg.url) as reader:  # an application's open transaction on events
        reader.execute("SELECT count(*) FROM events")
        res = pg.cli(d, "rollback", "--yes", "--no-backup")
    assert res.code == 1, res.err
    assert "the index public.idx_events_user is left INVALID" in res.err
    assert "all of it was rolled back" not in res.err
    assert "as it was before" not in res.err
    assert _indexes(pg.url)["idx_events_user"] is False
    assert _records(pg.url)[-1] == ("20250101_000200_index.sql", True)
    with psycopg.connect(pg.url) as conn:
        detail = conn.execute(
            "SELECT detail FROM malnu_audit WHERE action = 'rollback' AND outcome = 'failed' "
            "ORDER BY id DESC LIMIT 1"
        ).fetchone()
    assert detail is not None and "left INVALID" in str(detail[0])
    with psycopg.connect(pg.url) as reader:  # --json's "failed" says it too
        reader.execute("SELECT count(*) FROM events")
        res = pg.cli(d, "--json", "rollback", "--yes", "--no-backup")
    assert res.code == 1 and "left INVALID" in json.loads(res.out)["failed"]["error"]
    res = pg.cli(d, "rollback", "--yes", "--no-backup")
    assert res.code == 0, res.err
    assert "idx_events_user" not in _indexes(pg.url)


def test_sigterm_during_a_drop_index_concurrently_names_the_index_it_leaves_invalid(
    fresh_db: Callable[[str], DbTarget], mdirs: MigrationDirs
) -> None:
    # Stopped by SIGTERM while waiting for an application's transaction, the DROP had already
    # made the index INVALID; the run said only "terminated". It names the index now, on
    # stderr and in the audit trail.
    pg, d = fresh_db("postgresql"), mdirs
    _index_dropped_concurrently_on_rollback(pg, d, lock_timeout="60s")
    with psycopg.connect(pg.url) as reader:
        reader.execute("SELECT count(*) FROM events")
        proc = pg.popen(d, "rollback", "--yes", "--no-backup")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _indexes(pg.url)["idx_events_user"]:
            time.sleep(0.05)  # the DROP's first step done: waiting for the reader
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "note: the index public.idx_events_user is left INVALID" in err
    with psycopg.connect(pg.url) as conn:
        row = conn.execute(
            "SELECT detail FROM malnu_audit WHERE outcome = 'left-invalid' ORDER BY id DESC"
        ).fetchone()
    assert row is not None and "public.idx_events_user" in str(row[0])


def test_a_concurrent_build_with_maintenance_work_mem_set_runs_and_puts_it_back(
    fresh_db: Callable[[str], DbTarget], mdirs: MigrationDirs
) -> None:
    # PostgreSQL's docs advise raising maintenance_work_mem for an index build (GitLab's and
    # Discourse's migrations do): `SET maintenance_work_mem = '256MB'` beside the CREATE INDEX
    # CONCURRENTLY was refused, exit 2, "could not be undone half-way" — a SET has nothing to
    # undo. It runs now, and the next file starts from the session's own value again.
    pg, d = fresh_db("postgresql"), mdirs
    _base(pg, d)
    d.add(
        "20250101_000200",
        "index",
        "SET maintenance_work_mem = '256MB';\nSET max_parallel_maintenance_workers = 0;\n"
        "CREATE INDEX CONCURRENTLY idx_events_user ON events (user_id);",
        "DROP INDEX CONCURRENTLY idx_events_user;",
    )
    d.add(
        "20250101_000300",
        "seen",
        "CREATE TABLE seen AS SELECT current_setting('maintenance_work_mem') AS mwm;",
        "DROP TABLE seen;",
    )
    assert pg.cli(d, "lint").code == 0
    res = pg.cli(d, "up", "--no-backup")
    assert res.code == 0, res.err
    assert _indexes(pg.url)["idx_events_user"] is True
    with psycopg.connect(pg.url) as conn:
        default = conn.execute("SELECT current_setting('maintenance_work_mem')").fetchone()
        assert conn.execute("SELECT mwm FROM seen").fetchone() == default


# A Flyway non-transactional migration (`-- flyway:executeInTransaction=false`), as found in a
# public repository (reproduced, table renamed): its session outlives the file, so it sets its
# timeouts for the build and RESETs them after it.
FLYWAY_RESET = """\
-- flyway:executeInTransaction=false
-- This non-transactional migration needs session settings; reset them after a successful build.
SET lock_timeout = '5s';
SET statement_timeout = '15min';

CREATE INDEX CONCURRENTLY ix_events_backlog
    ON events (user_id, id)
    WHERE code IN ('c1', 'c2');

RESET statement_timeout;
RESET lock_timeout;
"""


def test_a_concurrent_build_that_resets_its_timeouts_after_it_runs(
    fresh_db: Callable[[str], DbTarget], mdirs: MigrationDirs
) -> None:
    # `RESET lock_timeout` after the build was "mixed": `up` refused the file before anything
    # ran (exit 2, "shares its migration with RESET lock_timeout … could not be undone
    # half-way") and the lint said PG-CONCURRENTLY-IN-TRANSACTION, an error — though a RESET,
    # like a SET, has nothing to undo. It runs now, and the tool's own lock_timeout (which a
    # RESET takes back to the server's default) is put back for the next file.
    pg, d = fresh_db("postgresql"), mdirs
    _base(pg, d)
    d.add("20250101_000200", "backlog", FLYWAY_RESET, "DROP INDEX ix_events_backlog;")
    d.add(
        "20250101_000300",
        "seen",
        "CREATE TABLE seen AS SELECT current_setting('lock_timeout') AS lt;",
        "DROP TABLE seen;",
    )
    res = pg.cli(d, "lint", "--json")
    assert res.code == 0, res.out + res.err
    assert "PG-CONCURRENTLY-IN-TRANSACTION" not in res.out
    res = pg.cli(d, "up", "--no-backup")
    assert res.code == 0, res.err
    assert "runs outside a transaction (CREATE INDEX CONCURRENTLY)" in res.err
    assert _indexes(pg.url)["ix_events_backlog"] is True
    with psycopg.connect(pg.url) as conn:
        assert conn.execute("SELECT lt FROM seen").fetchone() == ("10s",)
    got = classify(split_statements("RESET ALL;\nDROP INDEX CONCURRENTLY ix_events_backlog;"))
    assert isinstance(got, ConcurrentRefusal)  # RESET ALL takes the tool's settings too


def test_a_concurrent_build_s_duplicate_secret_stays_out_of_the_debug_log(
    pg_url: str, tmp_path: Path
) -> None:
    """With MIGRATION_DEBUG=1 a CREATE UNIQUE INDEX CONCURRENTLY over repeated remember tokens
    logged its FAILED line with psycopg's whole text, "DETAIL: Key (remember_token)=(the
    token) is duplicated", on stderr and in the log file; the error itself was masked."""
    token = "rt-9f2c41d07be84a6f93aa"
    log = tmp_path / "debug.log"
    be, audit = open_url(pg_url), AuditEntry.now("apply", "x.sql", "ok")
    try:
        be.ensure_schema()
        setup = (
            "CREATE TABLE sessions (id int, remember_token text);\n"
            f"INSERT INTO sessions VALUES (1, '{token}'), (2, '{token}');\n"
        )
        be.run_unit("s.sql", split_statements(setup), RecordApplied("s.sql", "c"), audit)
        ix = "CREATE UNIQUE INDEX CONCURRENTLY ux ON sessions (remember_token);\n"
        debuglog.configure(debug=True, log_file=log, to_stderr=False)
        try:
            with pytest.raises(StatementFailed) as info:
                be.run_unit("u.sql", split_statements(ix), RecordApplied("u.sql", "c"), audit)
        finally:
            debuglog.configure(debug=False)
        assert token not in str(info.value), info.value
        logged = log.read_text()
        assert "FAILED: could not create unique index" in logged, logged
        assert token not in logged and "(remember_token)=(sha256:" in logged, logged
    finally:
        be.close()
