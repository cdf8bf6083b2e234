"""The databases' own settings and privileges, as managed servers have them: a role that row
level security narrows, a read-only session (a hot standby, ``default_transaction_read_only``),
a role that may not alter a table it does not own. Each is said in one line naming what to
grant or change, before anything is written."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from tests.fixtures_core import CLI, REPO
from tests.inproc import run_inproc


@pytest.fixture
def role(pg_url: str) -> Iterator[str]:
    """A login role of its own (no superuser, no BYPASSRLS), dropped after the test."""
    name = f"priv_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(name)))
    try:
        yield name
    finally:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def _as(pg_url: str, role: str) -> str:
    return pg_url.replace("://postgres@", f"://{role}@", 1)


def test_rows_row_level_security_hides_are_refused_not_left_out(
    tmp_path: Path, pg_url: str, role: str
) -> None:
    """A reporting role that a policy narrows (Supabase's tables have row level security) read
    half of ``siswa``: the sync into the SQLite copy deleted the other half there and said
    "✔ yes", and ``import --from`` imported half and said committed."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE siswa (id int PRIMARY KEY, nama text)")
        conn.execute("INSERT INTO siswa SELECT i, 'n' || i FROM generate_series(1, 4) i")
        conn.execute(f"GRANT SELECT ON siswa TO {role}")
        conn.execute("ALTER TABLE siswa ENABLE ROW LEVEL SECURITY")
        conn.execute(f"CREATE POLICY own ON siswa FOR SELECT TO {role} USING (id <= 2)")
    copy = tmp_path / "copy.db"
    with sqlite3.connect(copy) as db:  # last night's copy, made when the role saw every row
        db.execute("CREATE TABLE siswa (id INTEGER PRIMARY KEY, nama TEXT, synced_at TEXT)")
        db.executemany(
            "INSERT INTO siswa VALUES (?, ?, NULL)", [(i, f"n{i}") for i in (1, 2, 3, 4)]
        )
    url = _as(pg_url, role)
    res = run_inproc(
        "sync", "--from", url, "--to", f"sqlite:///{copy}", "--tables", "siswa", "--full", "--yes"
    )
    assert res.code == 2, res.err
    assert 'row-level security policy for table "siswa"' in res.err
    assert f"ALTER ROLE {role} BYPASSRLS;" in res.err and "Traceback" not in res.err
    with sqlite3.connect(copy) as db:
        assert db.execute("SELECT count(*) FROM siswa").fetchone() == (4,)

    target = tmp_path / "school.db"
    with sqlite3.connect(target) as db:
        db.execute("CREATE TABLE people (id INTEGER PRIMARY KEY, nama TEXT)")
    res = run_inproc(
        "--database", f"sqlite:///{target}", "import", "--from", f"{url}:siswa",
        "--table", "people", "--yes", "--no-backup", "--rejects", str(tmp_path / "r.csv"),
    )  # fmt: skip
    assert res.code == 2 and f"ALTER ROLE {role} BYPASSRLS;" in res.err, res.err
    with sqlite3.connect(target) as db:
        assert db.execute("SELECT count(*) FROM people").fetchone() == (0,)


def test_a_read_only_session_is_refused_before_the_backup_and_says_what_set_it(
    tmp_path: Path, pg_url: str, role: str
) -> None:
    """``default_transaction_read_only = on`` for the role (a DBA's freeze; Supabase's on a
    full disk): ``up`` took a safety backup, failed on the file's first statement, and said
    its failure "could not be recorded either …: the database stopped answering"."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"GRANT CREATE ON SCHEMA public TO {role}")
    (tmp_path / "m").mkdir()
    (tmp_path / "r").mkdir()
    (tmp_path / "m" / "20250101_000000_t.sql").write_text("CREATE TABLE t (id int);\n")
    (tmp_path / "r" / "20250101_000000_t.sql").write_text("DROP TABLE t;\n")
    dirs = ("--migrations-dir", str(tmp_path / "m"), "--rollback-dir", str(tmp_path / "r"))
    url = _as(pg_url, role)
    assert run_inproc("--database", url, *dirs, "status").code == 0  # the tool's tables
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"ALTER ROLE {role} SET default_transaction_read_only = on")
    for more in ((), ("--no-backup",)):
        res = run_inproc("--database", url, *dirs, "up", "--yes", *more)
        assert res.code == 2, res.err
        assert f"read-only (default_transaction_read_only = on for role {role})" in res.err
        assert f"ALTER ROLE {role} RESET default_transaction_read_only;" in res.err
        assert "safety backup" not in res.err and "Traceback" not in res.err
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM migrations").fetchone() == (0,)
        assert conn.execute("SELECT to_regclass('t')").fetchone() == (None,)


def test_a_table_another_role_owns_is_said_as_the_role_and_the_owner_not_a_bad_file(
    tmp_path: Path, pg_url: str, role: str
) -> None:
    """Tables the dashboard (or a superuser's restore) made belong to another role than the
    one migrations run as: ``must be owner of table siswa`` came with "fix the file and run
    again"; the file was right and the owner was not named."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"GRANT CREATE ON SCHEMA public TO {role}")
        conn.execute("CREATE TABLE siswa (id int PRIMARY KEY)")
    (tmp_path / "m").mkdir()
    (tmp_path / "r").mkdir()
    (tmp_path / "m" / "20250101_000000_email.sql").write_text(
        "ALTER TABLE siswa ADD COLUMN email text;\n"
    )
    (tmp_path / "r" / "20250101_000000_email.sql").write_text(
        "ALTER TABLE siswa DROP COLUMN email;\n"
    )
    dirs = ("--migrations-dir", str(tmp_path / "m"), "--rollback-dir", str(tmp_path / "r"))
    res = run_inproc("--database", _as(pg_url, role), *dirs, "up", "--yes", "--no-backup")
    assert res.code == 1, res.err
    assert (
        f"must be owner of table siswa [SQLSTATE 42501]; the tool runs as role {role}, and "
        "table siswa belongs to role postgres; all of it was rolled back" in res.err
    )
    assert "fix the file" not in res.err and "the file may well be right" in res.err


# A process that file modes bind as they bind any user: root without the capabilities that
# override them (the suite runs as root; the venv's Python may be where no other user can
# reach it). Its files are judged by their owner, group and mode, as another user's are.
_NO_OVERRIDE = "-dac_override,-dac_read_search,-fowner"
AS_ANOTHER_USER = ["setpriv", f"--bounding-set={_NO_OVERRIDE}", f"--inh-caps={_NO_OVERRIDE}"]


def test_a_sqlite_file_another_user_owns_is_refused_before_it_is_opened(tmp_path: Path) -> None:
    """The school app's file, ``www-data`` 0644, and the operator's user is another: a read
    worked, and the first write (``rollback``'s audit row of --no-backup, the lock row) was a
    traceback, "attempt to write a readonly database", leaving a -wal and -shm of the
    operator's beside the file, which the application could then not write."""
    (tmp_path / "var").mkdir()
    db = tmp_path / "var" / "app.db"
    url = f"sqlite:///{db}"
    (tmp_path / "m").mkdir()
    (tmp_path / "r").mkdir()
    (tmp_path / "m" / "20250101_000000_t.sql").write_text("CREATE TABLE t (id INTEGER);\n")
    (tmp_path / "r" / "20250101_000000_t.sql").write_text("DROP TABLE t;\n")
    dirs = ("--migrations-dir", str(tmp_path / "m"), "--rollback-dir", str(tmp_path / "r"))
    assert run_inproc("--database", url, *dirs, "up", "--yes", "--no-backup").code == 0
    os.chown(db, 65534, 65534)  # nobody's, as www-data's would be
    db.chmod(0o644)
    proc = subprocess.run(
        [*AS_ANOTHER_USER, *CLI, "--database", url, *dirs, "rollback", "--yes", "--no-backup"],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, cwd=REPO, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith(f"error: {db}: user root may not write the file (owner ")
    assert "mode 0644); nothing was changed\nhint: run malnu-tui as " in proc.stderr
    assert [p.name for p in db.parent.iterdir()] == ["app.db"]  # no -wal, -shm of root's
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM migrations").fetchone() == (1,)


def test_the_tools_connections_carry_tcp_keepalives_unless_the_url_sets_them(pg_url: str) -> None:
    """A server gone mid-command (a failover, a NAT dropping an idle flow) held a command for
    the OS's 2 hours before its first keepalive probe. The tool's connections ask for probes
    after 30 s of silence (and the URL's own values win); pg_dump's and pg_restore's too."""
    from malnu_tui.engine.backends.postgresql import open_url
    from malnu_tui.engine.backup.pg_tools import child_connection

    for url, idle in ((pg_url, 30), (f"{pg_url}?keepalives_idle=7", 7)):
        backend = open_url(url)
        try:
            params = backend.conn.info.get_parameters()
            assert params["keepalives_idle"] == str(idle) and params["keepalives_count"] == "3"
            # What libpq did with them: the socket's own options, as the kernel holds them.
            sock = socket.socket(fileno=backend.conn.pgconn.socket)
            try:
                assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == idle
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL) == 10
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 60000
            finally:
                sock.detach()
        finally:
            backend.close()
    assert "&keepalives_idle=30&" in child_connection(pg_url).url


def test_a_roles_idle_session_timeout_does_not_end_the_locks_session(
    pg_url: str, role: str
) -> None:
    """``ALTER ROLE … SET idle_session_timeout`` (PostgreSQL 14+): the session holding the
    migration lock sits idle while pg_dump takes the safety backup, and was ended there; the
    lock went with it, and the migration said it "ran, but its tracking row could not be
    written", hinting at a file that drops the tool's tables."""
    from malnu_tui.engine.backends.postgresql import open_url

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"ALTER ROLE {role} SET idle_session_timeout = '1s'")
    with psycopg.connect(_as(pg_url, role)) as conn:  # the role's own sessions have it
        assert conn.execute("SHOW idle_session_timeout").fetchone() == ("1s",)
    backend = open_url(_as(pg_url, role))
    try:
        assert backend.conn.execute("SHOW idle_session_timeout").fetchone() == ("0",)
    finally:
        backend.close()


def test_parity_on_a_database_the_role_may_not_create_a_schema_in_says_the_grant(
    tmp_path: Path, pg_url: str, role: str
) -> None:
    """PostgreSQL 15 gives a new role no CREATE on the database: ``parity`` and ``plan
    --check`` said "PostgreSQL error: permission denied for database …", exit 1, no way on."""
    db = tmp_path / "app.db"
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "20250101_000000_t.sql").write_text("CREATE TABLE t (id INTEGER);\n")
    dbname = pg_url.rsplit("/", 1)[1]
    for command in (("parity",), ("plan", "--check")):
        res = run_inproc(
            "--database", f"sqlite:///{db}", "--migrations-dir", str(tmp_path / "m"),
            *command, "--postgres", _as(pg_url, role),
        )  # fmt: skip
        assert res.code == 2, res.err
        assert f"hint: GRANT CREATE ON DATABASE {dbname} TO {role}; (the scratch" in res.err
