"""The PostgreSQL backend against a real throwaway server (no mocks)."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from malnu_tui.engine.backends.base import AuditEntry, RecordApplied, RemoveRecord
from malnu_tui.engine.backends.postgresql import (
    PostgresBackend,
    lock_key,
    open_url,
)
from malnu_tui.engine.errors import (
    BackendError,
    ConfigError,
    LockHeld,
    LockHolder,
    StatementFailed,
)
from malnu_tui.engine.migrate import migration_lock
from malnu_tui.engine.monitor import debuglog
from malnu_tui.engine.sqlsplit import Statement, split_statements
from malnu_tui.engine.urls import mask_url, split_tool_options
from tests.fixtures_core import MigrationDirs, run_cli, school_set


def _audit(action: str = "apply", obj: str = "x.sql") -> AuditEntry:
    return AuditEntry.now(action, obj, "ok")


def _holder(pid: int = 4242) -> LockHolder:
    return LockHolder("alice", "box1", pid, "2026-01-01 00:00:00")


def test_mask_url_hides_passwords() -> None:
    url = "postgresql://app:s3cr%40t@db.example:5432/school?sslmode=require&password=zz"
    masked = mask_url(url)
    assert "s3cr" not in masked and "zz" not in masked
    assert masked.startswith("postgresql://app:***@db.example:5432/school")
    assert "sslmode=require" in masked
    assert mask_url("postgresql://u@h/d") == "postgresql://u@h/d"


def test_tool_options_are_taken_off_the_url() -> None:
    url, opts = split_tool_options(
        "postgresql://u@h/d?sslmode=require&schema=analytics&lock_timeout=3s"
    )
    assert url == "postgresql://u@h/d?sslmode=require"
    assert opts.schema == "analytics" and opts.lock_timeout == "3s"
    with pytest.raises(ConfigError):
        split_tool_options("mysql://u@h/d")
    assert lock_key("public") != lock_key("analytics")


def test_bad_password_is_not_printed(pg_cluster: object) -> None:
    with pytest.raises(BackendError) as info:
        PostgresBackend("postgresql://nobody:hunter2@127.0.0.1:1/x", connect_timeout=2)
    assert "hunter2" not in str(info.value)


def test_apply_record_and_audit(pg_url: str) -> None:
    be = open_url(pg_url)
    try:
        be.ensure_schema()
        be.ensure_schema()  # idempotent
        sts = split_statements(
            "CREATE TABLE t (id int PRIMARY KEY, pct text);\nINSERT INTO t VALUES (1, '50%');"
        )
        ms = be.run_unit("a.sql", sts, RecordApplied("a.sql", "c1"), _audit())
        assert ms >= 0
        [rec] = be.fetch_records()
        assert rec.filename == "a.sql" and rec.success and rec.checksum == "c1"
        assert rec.executed_at and len(rec.executed_at) == 19
        assert be.table_names() == ["t"]
        assert be.row_count("t") == 1
        with pytest.raises(BackendError):
            be.row_count('t"; DROP TABLE t; --')
        fp = be.schema_fingerprint()
        be.run_unit(
            "b.sql",
            split_statements("CREATE INDEX ix ON t (pct)"),
            RecordApplied("b.sql", "c2"),
            _audit(),
        )
        assert be.schema_fingerprint() != fp
        be.set_checksum("a.sql", "c9", _audit("repair"))
        assert {r.filename: r.checksum for r in be.fetch_records()}["a.sql"] == "c9"
        be.run_unit("b.sql", split_statements("DROP INDEX ix"), RemoveRecord("b.sql"), _audit())
        assert [r.filename for r in be.fetch_records()] == ["a.sql"]
        log = be.read_audit()
        assert [e.action for e in log] == ["apply", "repair", "apply", "apply"]
        assert be.read_audit(action="repair")[0].object == "x.sql"
    finally:
        be.close()


def test_failure_leaves_nothing_and_names_the_line(pg_url: str) -> None:
    be = open_url(pg_url)
    try:
        be.ensure_schema()
        text = "CREATE TABLE a (id int);\n\nINSERT INTO a\n  VALUES (1, 2, nosuchcol);\n"
        with pytest.raises(StatementFailed) as info:
            be.run_unit("f.sql", split_statements(text), RecordApplied("f.sql", "c"), _audit())
        assert info.value.line == 4  # the server's error position, mapped to the file line
        assert info.value.filename == "f.sql"
        assert be.table_names() == []
        assert be.fetch_records() == []
        be.record_failure("f.sql", "c", str(info.value), 3, _audit(obj="f.sql"))
        [rec] = be.fetch_records()
        assert rec.success is False and rec.error_message and "f.sql:4" in rec.error_message
        ok = split_statements("CREATE TABLE a (id int)")
        be.run_unit("f.sql", ok, RecordApplied("f.sql", "c2"), _audit())
        [rec] = be.fetch_records()
        assert rec.success and rec.error_message is None and rec.checksum == "c2"
    finally:
        be.close()


def test_a_migration_s_duplicate_secret_is_masked_in_its_error(pg_url: str) -> None:
    """A UNIQUE index on a column of tokens that repeats fails with PostgreSQL's detail
    ``Key (remember_token)=(…) is duplicated``: the error (printed, kept in the run row and
    the audit) names the token by its fingerprint, never whole; another column's value stays."""
    token = "rt-9f2c41d07be84a6f93aa"
    be = open_url(pg_url)
    try:
        be.ensure_schema()
        setup = (
            "CREATE TABLE sessions (id int, remember_token text, email text);\n"
            f"INSERT INTO sessions VALUES (1, '{token}', 'a@x'), (2, '{token}', 'a@x');\n"
        )
        be.run_unit("s.sql", split_statements(setup), RecordApplied("s.sql", "c"), _audit())
        for cols, kept in (("remember_token", None), ("email", "(email)=(a@x)")):
            ix = f"CREATE UNIQUE INDEX ux ON sessions ({cols});\n"
            with pytest.raises(StatementFailed) as info:
                be.run_unit("u.sql", split_statements(ix), RecordApplied("u.sql", "c"), _audit())
            said = str(info.value)
            assert "is duplicated" in said and token not in said, said
            if kept is None:
                assert "(remember_token)=(sha256:" in said, said
            else:
                assert kept in said, said
    finally:
        be.close()


def test_a_duplicate_secret_holding_a_newline_is_masked_too(pg_url: str) -> None:
    """PostgreSQL's detail prints a value as it is, a newline too: ``Key (note, api_token)=(a
    note\nover two lines, the token)``. The mask's pattern stopped at the newline, matched
    nothing, and the detail went out whole, the token in it."""
    token = "tk-5b0e7a9d31c84f26a1d3"
    be = open_url(pg_url)
    try:
        be.ensure_schema()
        setup = (
            "CREATE TABLE api_clients (note text, api_token text);\n"
            f"INSERT INTO api_clients VALUES (E'kelas 7\\nwali', '{token}'), "
            f"(E'kelas 7\\nwali', '{token}');\n"
        )
        be.run_unit("s.sql", split_statements(setup), RecordApplied("s.sql", "c"), _audit())
        ix = "CREATE UNIQUE INDEX ux ON api_clients (note, api_token);\n"
        with pytest.raises(StatementFailed) as info:
            be.run_unit("u.sql", split_statements(ix), RecordApplied("u.sql", "c"), _audit())
        said = str(info.value)
        assert "is duplicated" in said and token not in said, said
        assert "=(kelas 7\nwali, sha256:" in said, said
    finally:
        be.close()


def test_a_data_migration_s_failing_row_holding_a_secret_is_left_out(
    pg_url: str, tmp_path: Path
) -> None:
    """A data migration's UPDATE of a users table that a CHECK refuses failed with PostgreSQL's
    "Failing row contains (…)": every value of the row, its password hash among them, printed,
    kept in the run row, audited and in the debug log. Left out where the table holds a
    secret column; kept for another table (it finds the row)."""
    pw = "$2y$10$Qm9vT2xkSGFzaFZhbHVlMDEyMzQ1Njc4OWFi"
    be = open_url(pg_url)
    log = tmp_path / "debug.log"
    try:
        be.ensure_schema()
        setup = (
            "CREATE TABLE akun (id int, kelas int CHECK (kelas BETWEEN 1 AND 12), pw_hash text);\n"
            f"INSERT INTO akun VALUES (1, 7, '{pw}');\n"
            "CREATE TABLE kelas (id int, n int CHECK (n > 0));\nINSERT INTO kelas VALUES (1, 7);\n"
        )
        be.run_unit("s.sql", split_statements(setup), RecordApplied("s.sql", "c"), _audit())
        debuglog.configure(debug=True, log_file=log, to_stderr=False)
        try:
            for table, col in (("akun", "kelas"), ("kelas", "n")):
                up = f"UPDATE {table} SET {col} = 99 * -1;\n"
                with pytest.raises(StatementFailed) as info:
                    be.run_unit(
                        "u.sql", split_statements(up), RecordApplied("u.sql", "c"), _audit()
                    )
                said = str(info.value)
                if table == "akun":
                    assert pw not in said and "Failing row contains (…): its values" in said
                else:
                    assert "Failing row contains (1, -99)" in said, said
        finally:
            debuglog.configure(debug=False)
        logged = log.read_text()
        assert "u.sql" in logged and pw not in logged, logged
    finally:
        be.close()


def test_a_migration_s_duplicate_laravel_session_id_is_masked(pg_url: str, tmp_path: Path) -> None:
    """A data migration repeating a row of Laravel's sessions (a copy of an old sessions
    table): PostgreSQL's ``Key (id)=(…) already exists`` printed the session id (the cookie's
    value: whoever reads it is logged in as the user) in its error, run row, audit and debug
    log; the id is a secret by its table's shape, which the detail alone does not show. Its
    fingerprint now; a school's table keyed by id keeps its value."""
    sid = "a1b2c3d4e5f6a7b8c9d0a1b2c3d4e5f6a7b8c9d0"  # Laravel's: 40 letters and digits
    be = open_url(pg_url)
    log = tmp_path / "debug.log"
    try:
        be.ensure_schema()
        setup = (
            "CREATE TABLE sessions (id varchar(255) PRIMARY KEY, user_id bigint, ip_address "
            "varchar(45), user_agent text, payload text NOT NULL, last_activity int NOT NULL);\n"
            f"INSERT INTO sessions VALUES ('{sid}', 1, NULL, NULL, 'YTox', 1);\n"
            "CREATE TABLE jadwal (id text PRIMARY KEY, payload text);\n"
            "INSERT INTO jadwal VALUES ('senin-1', 'x');\n"
        )
        be.run_unit("s.sql", split_statements(setup), RecordApplied("s.sql", "c"), _audit())
        debuglog.configure(debug=True, log_file=log, to_stderr=False)
        try:
            for table in ("sessions", "jadwal"):
                up = f"INSERT INTO {table} SELECT * FROM {table};\n"
                with pytest.raises(StatementFailed) as info:
                    be.run_unit(
                        "u.sql", split_statements(up), RecordApplied("u.sql", "c"), _audit()
                    )
                said = str(info.value)
                if table == "sessions":
                    assert sid not in said and "Key (id)=(sha256:" in said, said
                else:
                    assert "Key (id)=(senin-1) already exists" in said, said
        finally:
            debuglog.configure(debug=False)
        logged = log.read_text()
        assert "u.sql" in logged and sid[:12] not in logged, logged
    finally:
        be.close()


def test_statement_timeout(pg_url: str) -> None:
    be = PostgresBackend(pg_url, statement_timeout="200ms")
    try:
        with pytest.raises(StatementFailed, match="statement timeout"):
            be.run_unit(
                "slow.sql",
                [Statement("SELECT pg_sleep(2)", 7)],
                RecordApplied("slow.sql", "c"),
                _audit(),
            )
    finally:
        be.close()
    with pytest.raises(ConfigError):
        PostgresBackend(pg_url, lock_timeout="ten seconds")


def test_lock_timeout_stops_waiting_behind_a_long_transaction(pg_url: str) -> None:
    blocker = psycopg.connect(pg_url)
    be = PostgresBackend(pg_url, lock_timeout="300ms")
    try:
        be.ensure_schema()
        be.run_unit(
            "a.sql",
            split_statements("CREATE TABLE t (id int)"),
            RecordApplied("a.sql", "c"),
            _audit(),
        )
        blocker.execute("LOCK TABLE t IN ACCESS EXCLUSIVE MODE")
        with pytest.raises(StatementFailed, match="lock timeout"):
            be.run_unit(
                "b.sql",
                split_statements("ALTER TABLE t ADD COLUMN x int"),
                RecordApplied("b.sql", "c"),
                _audit(),
            )
    finally:
        blocker.close()
        be.close()


def test_lock_is_exclusive_and_names_the_holder(pg_url: str) -> None:
    one = open_url(pg_url)
    two = open_url(pg_url)
    try:
        assert one.read_lock() is None
        one.acquire_lock(_holder(4242))
        one.acquire_lock(_holder(4242))  # re-entrant for the same backend
        with pytest.raises(LockHeld) as info:
            two.acquire_lock(_holder(5555))
        assert info.value.exit_code == 3
        held = info.value.holder
        assert held is not None and (held.owner, held.host, held.pid) == ("alice", "box1", 4242)
        one.release_lock()
        assert two.read_lock() is None
        two.acquire_lock(_holder(5555))
        two.release_lock()
    finally:
        one.close()
        two.close()


def test_a_second_operator_handed_the_holders_session_by_a_pooler_is_refused(
    pg_url: str,
) -> None:
    """A pooler in transaction mode (pgbouncer's pool_mode = transaction: Neon's -pooler
    endpoint, DigitalOcean's pools) hands an idle server session to whichever client comes,
    and an advisory lock is re-entrant within its session: an operator whose statement landed
    in the holder's session "took" the lock too. Seen with pgbouncer 1.18 and two CLIs: a
    `rollback` ran while an `up` held the lock. Here the second client is given the first's
    session, as the pooler gives it."""
    one = open_url(pg_url)
    two = open_url(pg_url)
    two.conn.close()
    two.conn = one.conn  # the pooler's doing: one server session for both clients
    try:
        one.acquire_lock(_holder(4242))
        with pytest.raises(LockHeld, match=r"alice on box1 \(pid 4242\).*transaction mode"):
            two.acquire_lock(LockHolder("bob", "box2", 5555, "2026-01-01 00:00:01"))
        held = one.read_lock()
        assert held is not None and (held.owner, held.pid) == ("alice", 4242)
        one.release_lock()
        assert one.read_lock() is None  # the refused try left no count behind
    finally:
        one.close()


def test_holder_from_pg_stat_activity_without_info_row(pg_url: str) -> None:
    be = open_url(pg_url)
    be.ensure_schema()
    other = psycopg.connect(pg_url, autocommit=True, application_name="malnu-tui bob@box9 pid 77")
    try:
        other.execute("SELECT pg_advisory_lock(%s)", (lock_key("public"),))
        held = be.read_lock()
        assert held is not None and (held.owner, held.host, held.pid) == ("bob", "box9", 77)
    finally:
        other.close()
        be.close()


def test_force_unlock_terminates_the_holder(pg_url: str) -> None:
    one = open_url(pg_url)
    two = open_url(pg_url)
    try:
        one.acquire_lock(_holder(4242))
        held = two.force_unlock(_audit("unlock", "migration lock"))
        assert held is not None and held.pid == 4242
        assert two.read_lock() is None
        two.acquire_lock(_holder(5555))
        assert two.read_audit(action="unlock")
        with pytest.raises(BackendError):
            one.fetch_records()  # its session was ended
    finally:
        one.close()
        two.close()


def test_schema_option_keeps_tool_tables_apart(pg_url: str) -> None:
    be = open_url(pg_url + "?schema=malnu_ops")
    try:
        be.ensure_schema()
        be.run_unit(
            "a.sql",
            split_statements("CREATE TABLE t (id int)"),
            RecordApplied("a.sql", "c"),
            _audit(),
        )
        assert be.table_names() == ["t"]
        with psycopg.connect(pg_url) as conn:
            rows = conn.execute(
                "SELECT table_schema, table_name FROM information_schema.tables "
                "WHERE table_name IN ('migrations', 'malnu_audit', 'malnu_lock', 't') ORDER BY 2"
            ).fetchall()
        assert rows == [
            ("malnu_ops", "malnu_audit"),
            ("malnu_ops", "malnu_lock"),
            ("malnu_ops", "migrations"),
            ("public", "t"),
        ]
    finally:
        be.close()


def test_adopts_an_existing_tracking_table(pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE migrations (id SERIAL PRIMARY KEY, filename TEXT NOT NULL UNIQUE, "
            "checksum TEXT NOT NULL, executed_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP)"
        )
        conn.execute("INSERT INTO migrations (filename, checksum) VALUES ('old.sql', 'abc')")
    be = open_url(pg_url)
    try:
        [rec] = be.fetch_records()
        assert rec.filename == "old.sql" and rec.success
    finally:
        be.close()


def test_sessions_are_named_for_operators(pg_url: str) -> None:
    import os

    from malnu_tui.engine.backends.base import actor

    be = open_url(pg_url)
    try:
        with psycopg.connect(pg_url) as conn:
            names = [
                r[0]
                for r in conn.execute(
                    "SELECT application_name FROM pg_stat_activity "
                    "WHERE datname = current_database()"
                )
            ]
        assert f"malnu-tui {actor()} pid {os.getpid()}"[:63] in names
        assert be.name == pg_url.rsplit("/", 1)[1]
    finally:
        be.close()


def test_read_only_commands_take_no_lock_on_the_tool_tables(
    pg_url: str, mdirs: MigrationDirs
) -> None:
    """Issue 10.2: while another session has read ``migrations`` in an open transaction,
    ``status`` answers at once (no ALTER TABLE queued behind it); a schema upgrade of our own
    tables happens only when the catalog says it is needed, under the migration lock."""
    d = school_set(mdirs)
    assert run_cli("--database", pg_url, *d.args(), "up", "--no-backup").code == 0
    reader = psycopg.connect(pg_url, autocommit=False)
    try:
        reader.execute("SELECT count(*) FROM migrations").fetchone()  # BEGIN; … left open
        url = pg_url + ("&" if "?" in pg_url else "?") + "lock_timeout=2s"
        res = run_cli("--database", url, *d.args(), "status", "--json")
        assert res.code == 0, res.err
        assert json.loads(res.out)["counts"]["applied"] == 3
        assert run_cli("--database", url, *d.args(), "verify").code == 0
    finally:
        reader.rollback()
        reader.close()
    # An older lock-info table (no purpose column) is upgraded, once, under the lock.
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE malnu_lock DROP COLUMN purpose")
    be = PostgresBackend(pg_url)
    be.ensure_schema()
    assert be.read_lock() is None
    with migration_lock(be, "apply of 1 migration(s)"):
        assert be.read_lock() is not None
    be.close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        cols = conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'malnu_lock'"
        ).fetchall()
    assert ("purpose",) in cols


def test_a_role_that_may_create_tables_in_its_schema_but_not_schemas_starts(pg_url: str) -> None:
    # PostgreSQL 15's usual grant (Supabase's, RDS's): CREATE on schema public, or a schema a
    # DBA made for the role, and no CREATE on the database. `CREATE SCHEMA IF NOT EXISTS` asks
    # for the database's CREATE even when the schema is there: every command failed with
    # "cannot create the tool tables in schema 'public': permission denied for database".
    with psycopg.connect(pg_url, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'tbl_only'").fetchone() is None:
            conn.execute("CREATE ROLE tbl_only LOGIN")
        conn.execute("GRANT CREATE ON SCHEMA public TO tbl_only")
        conn.execute("CREATE SCHEMA malnu AUTHORIZATION tbl_only")
    url = pg_url.replace("postgres@", "tbl_only@", 1)
    for target_url in (url, f"{url}?schema=malnu"):
        backend = open_url(target_url)
        try:
            backend.ensure_schema()
            assert backend.fetch_records() == []
        finally:
            backend.close()
    with psycopg.connect(pg_url) as conn:
        made = conn.execute(
            "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relname = 'migrations' ORDER BY 1"
        ).fetchall()
    assert made == [("malnu",), ("public",)]


def test_a_deferred_constraint_failing_at_commit_is_a_failed_migration(
    pg_url: str, mdirs: MigrationDirs
) -> None:
    # A DEFERRABLE INITIALLY DEFERRED foreign key is checked at the COMMIT: the migration's
    # orphan row failed there, and the run said "error: <url>: insert or update … violates
    # foreign key constraint" with no file or line and no tracking row (status: pending, not
    # failed). Now it is a failed migration as any other, its row saying why.
    mdirs.add(
        "20240101_000000",
        "tables",
        "create table p (id int primary key);\n"
        "create table c (id int, p_id int references p deferrable initially deferred);",
        "drop table c; drop table p;",
    )
    mdirs.add("20240102_000000", "orphan", "insert into c values (1, 42);", "delete from c;")
    res = run_cli("--database", pg_url, *mdirs.args(), "up", "--no-backup")
    assert res.code == 1, res.err
    assert "migration 20240102_000000_orphan.sql failed at line 1: at its COMMIT" in res.err
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute("SELECT filename, success FROM migrations ORDER BY id").fetchall()
        assert rows == [("20240101_000000_tables.sql", True), ("20240102_000000_orphan.sql", False)]
        assert conn.execute("SELECT count(*) FROM c").fetchone() == (0,)


def test_a_migration_that_drops_the_tools_own_schema_is_said_so(
    pg_url: str, mdirs: MigrationDirs
) -> None:
    # A reporting mirror's "reset" (DROP SCHEMA reporting CASCADE) in the schema that holds the
    # tool's tables: "error: <url>: relation "reporting.migrations" does not exist".
    mdirs.add(
        "20240101_000000",
        "reset",
        "drop schema if exists reporting cascade;\ncreate schema reporting;",
        "select 1;",
    )
    res = run_cli("--database", f"{pg_url}?schema=reporting", *mdirs.args(), "up", "--no-backup")
    assert res.code == 1, res.err
    assert "20240101_000000_reset.sql ran, but its tracking row could not be written" in res.err
    assert "all of it was rolled back" in res.err
    assert "must not drop or alter the tool's tables (schema 'reporting')" in res.err


def test_a_migration_that_gives_up_on_a_lock_names_the_sessions_holding_one(
    pg_url: str, mdirs: MigrationDirs
) -> None:
    # 2 a.m.: the app left a transaction open on the table, the ALTER gives up after its
    # lock_timeout. The run said "canceling statement due to lock timeout" and "fix the file
    # and run again" — the file is fine. It names the sessions holding locks now, and says to
    # run it again once they end.
    mdirs.add("20240101_000000", "t", "create table t (id int);", "drop table t;")
    mdirs.add(
        "20240102_000000",
        "note",
        "SET lock_timeout = '200ms';\nalter table t add column note text;",
        "alter table t drop column note;",
    )
    assert run_cli("--database", pg_url, *mdirs.args(), "up", "--no-backup", "--to",
                   "20240101_000000").code == 0  # fmt: skip
    with psycopg.connect(pg_url, application_name="school-app") as app:
        app.execute("SELECT count(*) FROM t")  # idle in transaction from here
        res = run_cli("--database", pg_url, *mdirs.args(), "up", "--no-backup")
    assert res.code == 1, res.err
    assert "lock timeout" in res.err
    assert "sessions holding locks in this database now: pid " in res.err
    assert "(school-app, postgres, idle in transaction)" in res.err
    assert "fix the file" not in res.err and "run it again once they end" in res.err


def test_a_session_ended_by_the_server_says_who_may_have_ended_it(pg_url: str) -> None:
    """`unlock --yes` of a PostgreSQL lock ends the holder's session (pg_terminate_backend):
    the holder's next statement failed with 'terminating connection due to administrator
    command' alone, which says nothing of the other operator's unlock."""
    from malnu_tui.engine.backends.pg_sql import error_text

    victim = psycopg.connect(pg_url, autocommit=True)
    pid = victim.info.backend_pid
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))
    with pytest.raises(psycopg.OperationalError) as e:
        victim.execute("SELECT 1")
    victim.close()
    text = error_text(e.value)
    assert "57P01" in text and "another operator's `malnu-tui unlock`" in text, text
