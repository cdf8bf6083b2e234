"""The databases' own settings and privileges, as managed servers have them: a role that row
level security narrows, a read-only session (a hot standby, ``default_transaction_read_only``),
a role that may not alter a table it does not own. Each is said in one line naming what to
grant or change, before anything is written."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from tests.fixtures_core import CLI, REPO, run_cli
from tests.fixtures_pg import PgCluster
from tests.inproc import run_inproc


@pytest.fixture
def role(pg_cluster: PgCluster, pg_url: str) -> Iterator[str]:
    """A login role of its own (no superuser, no BYPASSRLS), dropped after the test with
    what it owns in ``pg_url``'s database (dropped later, by the pool's thread)."""
    plain = f"priv_{uuid.uuid4().hex[:8]}"
    name = sql.Identifier(plain)
    with psycopg.connect(pg_cluster.superuser_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(name))
    try:
        yield plain
    finally:
        for where in (pg_url, pg_cluster.superuser_url):
            with psycopg.connect(where, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP OWNED BY {}").format(name))
        with psycopg.connect(pg_cluster.superuser_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP ROLE {}").format(name))


def _one_migration(tmp_path: Path, filename: str, up: str, down: str) -> tuple[str, ...]:
    """Migration and rollback dirs under ``tmp_path`` holding ``filename`` (``up``, and
    ``down`` as its rollback): the CLI options that name them."""
    for folder, text in (("m", up), ("r", down)):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / filename).write_text(text)
    return ("--migrations-dir", str(tmp_path / "m"), "--rollback-dir", str(tmp_path / "r"))


def _as(pg_url: str, role: str) -> str:
    return pg_url.replace("://postgres@", f"://{role}@", 1)


def test_rows_row_level_security_hides_are_refused_not_left_out(
    tmp_path: Path, role: str, pg_url: str
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


def test_the_way_out_names_the_role_the_policies_apply_to_not_the_login_role(
    tmp_path: Path, pg_cluster: PgCluster, role: str, pg_url: str
) -> None:
    """A login role whose sessions act as another (the URL's ``options=-c role=…``, or
    ``ALTER ROLE … SET role``): policies and privileges are the acting role's, and the hint
    said `ALTER ROLE <login role> BYPASSRLS;`, which changed nothing. The acting role now."""
    gate = f"gate_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_cluster.superuser_url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {gate} LOGIN IN ROLE {role}")
    try:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(f"GRANT CREATE ON SCHEMA public TO {role}")
            _siswa(conn)
            conn.execute(f"GRANT SELECT ON siswa TO {role}")
        url = _as(pg_url, gate) + f"?options=-c%20role%3D{role}"
        copy = f"sqlite:///{tmp_path / 'copy.db'}"
        sync = ("sync", "--from", url, "--to", copy, "--tables", "siswa", "--full", "--yes")
        for args in (sync, ("--database", url, "backup", "create")):
            res = run_inproc(*args)
            assert res.code == 2, res.err
            hint = res.err.split("hint:", 1)[1]
            assert f"ALTER ROLE {role} BYPASSRLS;" in hint and gate not in hint, res.err
        with psycopg.connect(pg_cluster.superuser_url, autocommit=True) as conn:
            conn.execute(f"ALTER ROLE {role} BYPASSRLS")  # the hint, as written
        assert run_inproc(*sync).code == 0
        with sqlite3.connect(tmp_path / "copy.db") as db:
            assert db.execute("SELECT count(*) FROM siswa").fetchone() == (4,)
    finally:
        with psycopg.connect(pg_cluster.superuser_url, autocommit=True) as conn:
            conn.execute(f"ALTER ROLE {role} NOBYPASSRLS")
            conn.execute(f"DROP ROLE {gate}")


def test_a_view_whose_owner_a_policy_narrows_names_the_owner_not_the_reader(
    tmp_path: Path, role: str, pg_url: str
) -> None:
    """``import --from`` a view: it reads its tables as its owner, whose policies apply even
    to a superuser reading the view. The hint told the superuser `ALTER ROLE postgres
    BYPASSRLS;`, which changed nothing; it names the view's owner now, or security_invoker."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        _siswa(conn)
        conn.execute(f"GRANT SELECT ON siswa TO {role}")
        conn.execute("CREATE VIEW v_siswa AS SELECT id, kelas FROM siswa")
        conn.execute(f"ALTER VIEW v_siswa OWNER TO {role}")
    target = tmp_path / "copy.db"
    with sqlite3.connect(target) as db:
        db.execute("CREATE TABLE v_siswa (id INTEGER PRIMARY KEY, kelas TEXT)")
    args = ("--database", f"sqlite:///{target}", "import", "--from", f"{pg_url}:v_siswa",
            "--table", "v_siswa", "--yes", "--no-backup")  # fmt: skip
    res = run_inproc(*args)
    assert res.code == 2, res.err
    assert f"as the view's owner (role {role}), whose policies apply" in res.err
    assert f"`ALTER ROLE {role} BYPASSRLS;`" in res.err and "ROLE postgres" not in res.err
    with psycopg.connect(pg_url, autocommit=True) as conn:  # the hint, as written
        conn.execute("ALTER VIEW v_siswa SET (security_invoker = on);")
    assert run_inproc(*args).code == 0
    with sqlite3.connect(target) as db:
        assert db.execute("SELECT count(*) FROM v_siswa").fetchone() == (4,)


def test_a_read_only_session_is_refused_before_the_backup_and_says_what_set_it(
    tmp_path: Path, role: str, pg_url: str
) -> None:
    """``default_transaction_read_only = on`` for the role (a DBA's freeze; Supabase's on a
    full disk): ``up`` took a safety backup, failed on the file's first statement, and said
    its failure "could not be recorded either …: the database stopped answering". `doctor`
    gave "grant CREATE on the database/schema" for it, and for a missing GRANT its error ran
    over three lines (the statement, a caret), the fix on the last."""
    url = _as(pg_url, role)
    doctor = run_inproc("--database", url, "doctor")
    assert (
        "create tables: permission denied for schema public [SQLSTATE 42501] (fix: as the "
        f"schema's owner: GRANT CREATE ON SCHEMA public TO {role};)\n" in doctor.out
    )
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"GRANT CREATE ON SCHEMA public TO {role}")
    dirs = _one_migration(
        tmp_path, "20250101_000000_t.sql", "CREATE TABLE t (id int);\n", "DROP TABLE t;\n"
    )
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
    doctor = run_inproc("--database", url, "doctor")
    assert f"read-only (default_transaction_read_only = on for role {role})" in doctor.out
    assert "grant CREATE" not in doctor.out


def test_a_table_another_role_owns_is_said_as_the_role_and_the_owner_not_a_bad_file(
    tmp_path: Path, role: str, pg_url: str
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
    dirs = _one_migration(
        tmp_path, "20250101_000000_t.sql", "CREATE TABLE t (id INTEGER);\n", "DROP TABLE t;\n"
    )
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
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT count(*) FROM migrations").fetchone() == (1,)
    conn.close()  # (a connection left open keeps its -wal and -shm)
    # `doctor`'s probe said PostgreSQL's fix ("grant CREATE on the database/schema") and left
    # its -wal and -shm there too.
    proc = subprocess.run(
        [*AS_ANOTHER_USER, *CLI, "--database", url, "doctor"],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, cwd=REPO, timeout=60,
    )  # fmt: skip
    assert "create tables: " + f"{db}: user root may not write the file (owner " in proc.stdout
    assert "grant CREATE" not in proc.stdout
    assert [p.name for p in db.parent.iterdir()] == ["app.db"]
    # Not even readable (0600): `log` (and `check`'s UNKNOWN) said "unable to open database
    # file", exit 1.
    db.chmod(0o600)
    proc = subprocess.run(
        [*AS_ANOTHER_USER, *CLI, "--database", url, "log"],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, cwd=REPO, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert f"error: {db}: user root may not read the file (owner " in proc.stderr


def test_the_tools_connections_carry_tcp_keepalives_unless_the_url_sets_them(
    pg_cluster: PgCluster,
) -> None:
    """A server gone mid-command (a failover, a NAT dropping an idle flow) held a command for
    the OS's 2 hours before its first keepalive probe. The tool's connections ask for probes
    after 30 s of silence (and the URL's own values win); pg_dump's and pg_restore's too."""
    from malnu_tui.engine.backends.postgresql import open_url
    from malnu_tui.engine.backup.pg_tools import child_connection

    pg_url = pg_cluster.superuser_url  # (nothing is written: no database of its own)
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


def test_a_roles_idle_timeouts_do_not_end_the_tools_sessions(
    pg_cluster: PgCluster, role: str
) -> None:
    """``ALTER ROLE … SET idle_session_timeout`` (PostgreSQL 14+): the session holding the
    migration lock sits idle while pg_dump takes the safety backup, and was ended there; the
    lock went with it, and the migration said it "ran, but its tracking row could not be
    written", hinting at a file that drops the tool's tables. A DBA's
    ``idle_in_transaction_session_timeout`` ended an import whose transaction waited on its
    source between batches (and, set short, every migration between its statements)."""
    from malnu_tui.engine.backends.pg_sql import unit_failure
    from malnu_tui.engine.backends.postgresql import open_url

    pg_url = pg_cluster.superuser_url  # (nothing is written: no database of its own)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"ALTER ROLE {role} SET idle_session_timeout = '1s'")
        conn.execute(f"ALTER ROLE {role} SET idle_in_transaction_session_timeout = '1ms'")
    show = "SELECT current_setting('idle_session_timeout'), "
    show += "current_setting('idle_in_transaction_session_timeout')"
    with psycopg.connect(_as(pg_url, role), autocommit=True) as conn:  # the role has them
        assert conn.execute(show).fetchone() == ("1s", "1ms")
    backend = open_url(_as(pg_url, role))
    try:
        assert backend.conn.execute(show).fetchone() == ("0", "0")
    finally:
        backend.close()
    # A session the server ended anyway (a restart) before the tracking row: said so, not
    # "ran, but its tracking row could not be written … must not drop the tool's tables".
    lost = psycopg.OperationalError("consuming input failed: server closed the connection")
    error = unit_failure(backend.conn, ("pg", "public"), "a.sql", [], None, False, lost)
    assert "the connection was lost before its tracking row was written" in str(error)
    assert "nothing of it was committed" in str(error) and "must not drop" not in error.hint


def test_parity_on_a_database_the_role_may_not_create_a_schema_in_says_the_grant(
    tmp_path: Path, pg_cluster: PgCluster, role: str
) -> None:
    """PostgreSQL 15 gives a new role no CREATE on the database: ``parity`` and ``plan
    --check`` said "PostgreSQL error: permission denied for database …", exit 1, no way on;
    ``test`` said the role needs CREATE on the database, exit 1, without the GRANT."""
    db = tmp_path / "app.db"
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "20250101_000000_t.sql").write_text("CREATE TABLE t (id INTEGER);\n")
    pg_url, dbname = pg_cluster.superuser_url, "postgres"  # (its scratch is rolled back)
    for command in (("parity",), ("plan", "--check"), ("test",)):
        res = run_inproc(
            "--database", f"sqlite:///{db}", "--migrations-dir", str(tmp_path / "m"),
            "--rollback-dir", str(tmp_path / "rb"), *command, "--postgres", _as(pg_url, role),
        )  # fmt: skip
        assert res.code == 2, res.err
        assert f"GRANT CREATE ON DATABASE {dbname} TO {role}; (the scratch" in res.err


def test_a_deep_verify_the_role_cannot_run_leaves_a_sound_backup_verified(
    tmp_path: Path, pg_cluster: PgCluster, role: str, pg_url: str
) -> None:
    """``backup verify --deep`` restores into a scratch database; a role without CREATEDB
    (the usual migration role) got "FAILED verification: it will not be restored", and the
    sound backup was marked "✘ no" (``check``: CRITICAL, "no verified backup"). So did one
    under FORCE ROW LEVEL SECURITY (it owns the scratch's tables, FORCE restored with them),
    verifying a backup a role that reads every row made: the scratch's counts were the
    policy's, `siswa: 2 in the copy, 4 in the manifest`. Exit 2 for both now, the way out
    said, the backup's verified state as it was."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        _siswa(conn)
        conn.execute("ALTER TABLE siswa FORCE ROW LEVEL SECURITY")
    configs = []
    for name, url in (("made", pg_url), ("checked", _as(pg_url, role))):
        (tmp_path / f"{name}.toml").write_text(f'[targets.school]\nurl = "{url}"\n')
        configs.append(("--config", str(tmp_path / f"{name}.toml"), "--target", "school"))
    made = run_inproc(*configs[0], "backup", "create", "--json")
    assert made.code == 0, made.err
    backup_id = json.loads(made.out)["id"]
    res = run_inproc(*configs[1], "backup", "verify", "--deep", backup_id)
    assert res.code == 2, res.err
    assert "cannot create a scratch database (permission denied to create database)" in res.err
    assert f"hint: as a superuser: ALTER ROLE {role} CREATEDB;" in res.err
    with psycopg.connect(pg_cluster.superuser_url, autocommit=True) as conn:
        conn.execute(f"ALTER ROLE {role} CREATEDB")  # the hint, as written
    res = run_inproc(*configs[1], "backup", "verify", "--deep", backup_id)
    assert res.code == 2, res.err
    assert 'row-level security policy for table "siswa"' in res.err and "FAILED" not in res.err
    assert f"`ALTER ROLE {role} BYPASSRLS;`" in res.err
    listed = json.loads(run_inproc(*configs[1], "backup", "list", "--json").out)
    assert [b["verified_at"] is not None for b in listed] == [True]


def test_a_table_the_role_may_not_read_stops_the_backup_with_the_grant(
    role: str, pg_url: str
) -> None:
    """pg_dump reads (and locks) every table: one the role has no SELECT on stopped every
    backup, and every `up` behind its safety backup, with "check the disk space of the backup
    directory and the role's privileges", exit 1."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"GRANT CREATE ON SCHEMA public TO {role}")
        conn.execute("CREATE TABLE gaji (id int)")  # the bursar's, owned by another role
    res = run_inproc("--database", _as(pg_url, role), "backup", "create")
    assert res.code == 2, res.err
    assert f"pg_dump may not read table public.gaji as role {role}; no backup was made" in res.err
    assert f"GRANT SELECT ON TABLE public.gaji TO {role};" in res.err


def test_a_schema_with_a_space_the_role_may_not_use_is_granted_by_its_whole_name(
    role: str, pg_url: str
) -> None:
    """``permission denied for schema Data Sekolah`` (PostgreSQL names it unquoted) gave the
    hint ``GRANT USAGE ON SCHEMA Data TO …``, a GRANT that fails; a table with a space
    (``LOCK TABLE public."Data Siswa"``) was not found in pg_dump's words at all."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"GRANT CREATE ON SCHEMA public TO {role}")
        conn.execute('CREATE SCHEMA "Data Sekolah"; CREATE TABLE "Data Sekolah".gaji (id int)')
    res = run_inproc("--database", _as(pg_url, role), "backup", "create")
    assert res.code == 2, res.err
    assert f'GRANT USAGE ON SCHEMA "Data Sekolah" TO {role};' in res.err, res.err
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute('DROP SCHEMA "Data Sekolah" CASCADE; CREATE TABLE "Data Siswa" (id int)')
    res = run_inproc("--database", _as(pg_url, role), "backup", "create")
    assert res.code == 2, res.err
    assert f'GRANT SELECT ON TABLE public."Data Siswa" TO {role};' in res.err, res.err


def test_tool_tables_another_role_made_are_refused_with_the_grant_that_works(
    tmp_path: Path, role: str, pg_url: str
) -> None:
    """The tool's tables made by the DBA's role, and the operator's role given nothing on
    them: every command was `permission denied for table migrations`, exit 1, no way on."""
    assert run_inproc("--database", pg_url, "status").code == 0  # made by the superuser
    url = _as(pg_url, role)
    res = run_inproc("--database", url, "log")
    assert res.code == 2, res.err
    assert f"permission denied for table malnu_audit (role {role})" in res.err
    grant = (
        "GRANT SELECT, INSERT, UPDATE, DELETE ON public.migrations, public.malnu_audit, "
        f"public.malnu_lock TO {role};"
    )
    assert grant in res.err
    # Read only (SELECT): `up --no-backup`'s audit row was the bare error too.
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"GRANT SELECT ON migrations, malnu_audit, malnu_lock TO {role}")
    for d in ("m", "r"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "20250101_000000_t.sql").write_text("SELECT 1;\n")
    dirs = ("--migrations-dir", str(tmp_path / "m"), "--rollback-dir", str(tmp_path / "r"))
    res = run_inproc("--database", url, *dirs, "up", "--yes", "--no-backup")
    assert res.code == 2 and grant in res.err, res.err
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(grant)  # the hint, as written, is what lets it in
    res = run_inproc("--database", url, "log")
    assert res.code == 0, res.err


def test_an_audit_index_the_role_may_not_make_leaves_its_commands_working(
    tmp_path: Path, role: str, pg_url: str
) -> None:
    """The tool's tables made by the DBA's role before the audit indexes of (action, object[,
    outcome], id) existed, the operator's role granted what `log` says: its next `up` tried
    to make them (only a table's owner may) and failed, `must be owner of table
    malnu_audit`, as every command that may write would, for ever, with a hint to GRANT
    CREATE ON SCHEMA that does not help. The index is left unmade and said; `up` goes on."""
    assert run_inproc("--database", pg_url, "status").code == 0  # made by the superuser
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("DROP INDEX malnu_audit_action_object_id")
        conn.execute(
            "GRANT SELECT, INSERT, UPDATE, DELETE ON public.migrations, public.malnu_audit, "
            f"public.malnu_lock TO {role}"
        )
    dirs = _one_migration(tmp_path, "20250101_000000_t.sql", "SELECT 1;\n", "SELECT 1;\n")
    res = run_inproc("--database", _as(pg_url, role), *dirs, "up", "--yes", "--no-backup")
    assert res.code == 0, res.err
    said = [x for x in res.err.splitlines() if "audit index" in x]
    assert said == [
        "warning: the audit index malnu_audit_action_object_id was not made (must be owner of "
        f"table malnu_audit [SQLSTATE 42501]; role {role}): `check` reads the trail without "
        "it, slower on a long one; a command run once by the table's owner, or this CREATE "
        "INDEX, makes it: CREATE INDEX IF NOT EXISTS malnu_audit_action_object_id ON "
        '"public".malnu_audit (action, object, id);'
    ], res.err
    assert run_inproc("--database", pg_url, *dirs, "status").code == 0  # (the owner's)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        made = conn.execute(
            "SELECT count(*) FROM pg_indexes WHERE indexname = 'malnu_audit_action_object_id'"
        ).fetchone()
    assert made == (1,)


def test_an_audit_index_statement_timeout_stops_is_made_empty_and_not_waited_for_again(
    pg_url: str,
) -> None:
    """A trail too long to index within the target's statement_timeout: the build was
    cancelled, said, and tried again by every command that may write, each waiting the whole
    timeout for it (a sync every minute behind a 60 s timeout), for ever. Now made empty
    (``WHERE false``: no query uses it), as D1's is, and said once with the way to build it."""
    assert run_inproc("--database", pg_url, "status").code == 0
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("DROP INDEX malnu_audit_action_object_id")
        conn.execute("DROP INDEX malnu_audit_action_object_outcome_id")
        conn.execute(  # (long objects: 0.6 s to index here, 0.06 s to read)
            "INSERT INTO malnu_audit (at, actor, action, object, outcome) SELECT now(), 'o@h', "
            "'run', repeat('sync primary->analytics ', 60) || i, 'ok' "
            "FROM generate_series(1, 20000) i"
        )
    url = f"{pg_url}?statement_timeout=250ms"
    res = run_inproc("--database", url, "status")
    assert res.code == 0, res.err
    said = [x for x in res.err.splitlines() if "audit index" in x]
    assert len(said) == 2 and said[0] == (
        "warning: the audit index malnu_audit_action_object_id was not made (canceling "
        "statement due to statement timeout [SQLSTATE 57014]; role postgres): the trail is "
        "too long to index within the statement_timeout, so it was made empty (WHERE false: "
        "no query uses it) and no later command waits the timeout for it again; `check` reads "
        "the trail without it, slower on a long one. To have it, as the table's owner (psql): "
        'DROP INDEX "public".malnu_audit_action_object_id; SET statement_timeout = 0; '
        'CREATE INDEX CONCURRENTLY malnu_audit_action_object_id ON "public".malnu_audit '
        "(action, object, id);"
    ), res.err
    res = run_inproc("--database", url, "status")
    assert res.code == 0 and "audit index" not in res.err, res.err
    with psycopg.connect(pg_url, autocommit=True) as conn:
        made = conn.execute(
            "SELECT indexname, indexdef LIKE '%WHERE false' FROM pg_indexes "
            "WHERE tablename = 'malnu_audit' ORDER BY 1"
        ).fetchall()
    assert made == [
        ("malnu_audit_action_id", False),
        ("malnu_audit_action_object_id", True),
        ("malnu_audit_action_object_outcome_id", True),
        ("malnu_audit_pkey", False),
    ]


def test_a_migration_the_full_disk_stopped_is_not_blamed_on_the_file(tmp_path: Path) -> None:
    """A disk that fills during ``up`` (a seed's rows, at 2 a.m.): "disk I/O error (at
    COMMIT)" came with "fix the file and run again". Here the disk is a file-size limit on the
    process (RLIMIT_FSIZE: SQLite's write is refused as on a full disk)."""
    import resource

    (tmp_path / "m").mkdir()
    (tmp_path / "r").mkdir()
    (tmp_path / "m" / "20250101_000000_seed.sql").write_text(
        "CREATE TABLE nilai (id INTEGER PRIMARY KEY, t TEXT);\n"
        "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 20000)\n"
        "INSERT INTO nilai SELECT i, hex(randomblob(50)) FROM c;\n"
    )
    (tmp_path / "r" / "20250101_000000_seed.sql").write_text("DROP TABLE nilai;\n")
    url = f"sqlite:///{tmp_path / 'app.db'}"
    dirs = ("--migrations-dir", str(tmp_path / "m"), "--rollback-dir", str(tmp_path / "r"))
    assert run_inproc("--database", url, *dirs, "status").code == 0

    def small_disk() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (600_000, 600_000))

    proc = subprocess.run(
        [*CLI, "--database", url, *dirs, "up", "--yes", "--no-backup"],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, cwd=REPO, timeout=60,
        preexec_fn=small_disk,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    hint = f"all of it was rolled back\nhint: the disk holding {tmp_path} "
    assert hint in proc.stderr, proc.stderr
    assert "fix the file" not in proc.stderr


def test_a_database_error_no_path_says_yet_is_one_masked_line_not_a_traceback(
    tmp_path: Path, pg_cluster: PgCluster, pg_password_role: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """The catch-all at the top of the CLI: a real driver error (sqlite3's, psycopg's) that
    reached ``main`` unsaid was a traceback (a Laravel ``migrations`` table in the SQLite file
    was one: "no such column: filename"). The command here is a stand-in for such a path: it
    runs a real statement that fails."""
    import malnu_tui.cli.migrate as migrate

    db = tmp_path / "app.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE migrations (id INTEGER PRIMARY KEY, migration TEXT, batch INT)")
    conn.close()
    role, password = pg_password_role
    pg = f"postgresql://{role}:{password}@{pg_cluster.host}:{pg_cluster.port}/postgres"

    def sqlite_path(ctx: object) -> int:
        sqlite3.connect(db).execute("SELECT filename FROM migrations")
        return 0

    def postgres_path(ctx: object) -> int:
        with psycopg.connect(pg) as c:  # the message quotes the statement's position only
            c.execute("SELECT filename FROM no_such_table_here")
        return 0

    for handler, said in (
        (sqlite_path, f"error: sqlite://{db}: no such column: filename\n"),
        (postgres_path, 'relation "no_such_table_here" does not exist [SQLSTATE 42P01]\n'),
    ):
        monkeypatch.setattr(migrate, "cmd_log", handler)
        res = run_inproc("--database", pg if handler is postgres_path else f"sqlite:///{db}", "log")
        assert res.code == 1 and "Traceback" not in res.err, res.err
        first, hint = res.err.splitlines()
        assert first.endswith(said.rstrip("\n")) and password not in res.err
        assert hint.startswith("hint: malnu-tui did not expect this error here")


LARAVEL_MIGRATIONS = (
    'CREATE TABLE "migrations" ("id" integer primary key not null, '
    '"migration" varchar(255) not null, "batch" integer not null)'
)


def test_a_frameworks_own_migrations_table_is_left_alone_and_said(
    tmp_path: Path, pg_url: str
) -> None:
    """Laravel (and TypeORM) keep their history in a table named ``migrations`` too. On
    PostgreSQL `status` added four columns to it (a read command altering the application's
    table), then failed on "column filename does not exist"; on SQLite every command was a
    traceback, "no such column: filename"."""
    db = tmp_path / "app.db"
    conn = sqlite3.connect(db)
    conn.execute(LARAVEL_MIGRATIONS)
    conn.close()
    with psycopg.connect(pg_url, autocommit=True) as pg:
        pg.execute(LARAVEL_MIGRATIONS)
    for url, hint in (
        (f"sqlite:///{db}", "use the framework's own migration tool"),
        (pg_url, 'schema = "malnu" in the target\'s config'),
    ):
        res = run_inproc("--database", url, "status")
        assert res.code == 2, res.err
        assert "the table " in res.err and " there is not malnu-tui's (its columns: " in res.err
        assert hint in res.err and "Traceback" not in res.err
    with psycopg.connect(pg_url) as pg:
        columns = pg.execute(
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'migrations'"
        ).fetchone()
    assert columns == (3,)  # as Laravel made it
    assert run_inproc("--database", f"{pg_url}?schema=malnu", "status").code == 0  # the way out


def test_a_role_search_path_that_names_no_schema_is_said_not_blamed_on_the_file(
    tmp_path: Path, role: str, pg_url: str
) -> None:
    """``ALTER ROLE … SET search_path = reporting`` where no such schema is (a DBA's, for
    reports): a migration's unqualified names resolve nowhere, and the failure said "fix the
    file and run again"."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"GRANT CREATE ON SCHEMA public TO {role}")
        conn.execute(f"ALTER ROLE {role} SET search_path = reporting")
    dirs = _one_migration(
        tmp_path, "20250101_000000_t.sql", "CREATE TABLE kelas (id int);\n", "DROP TABLE kelas;\n"
    )
    res = run_inproc("--database", _as(pg_url, role), *dirs, "up", "--yes", "--no-backup")
    assert res.code == 1, res.err
    assert (
        "no schema has been selected to create in [SQLSTATE 3F000]; this session's search_path "
        "(reporting) names no schema that exists; all of it was rolled back" in res.err
    )
    assert "RESET search_path" in res.err and "fix the file" not in res.err


@contextlib.contextmanager
def hot_standby(pg_cluster: PgCluster, pg_url: str) -> Iterator[str]:
    """A real read replica of the test cluster as it is now (pg_basebackup -R: standby.signal
    and the primary's conninfo); yields the URL of ``pg_url``'s database there. Stopped and
    removed afterwards."""
    import shutil
    import tempfile

    from tests.fixtures_pg import _free_port, _run, _wait_ready, stop_cluster

    base = Path(tempfile.mkdtemp(prefix="malnu-standby-"))
    data = base / "data"
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
    try:
        _run(
            [pg_cluster.bin("pg_basebackup"), "-h", pg_cluster.host, "-p", str(pg_cluster.port),
             "-U", "postgres", "-D", str(data), "-R", "-X", "stream", "--checkpoint=fast",
             "--no-sync"],
            "pg_basebackup",
        )  # fmt: skip
        port = _free_port()
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={base} "
            "-c fsync=off -c max_connections=60 -c shared_buffers=32MB"
        )
        _run(
            [pg_cluster.bin("pg_ctl"), "-D", str(data), "-o", options, "-l",
             str(base / "server.log"), "-w", "-t", "60", "start"],
            "pg_ctl start (standby)",
        )  # fmt: skip
        _wait_ready("127.0.0.1", port, time.monotonic() + 30)
        yield pg_url.replace(f":{pg_cluster.port}/", f":{port}/", 1)
    finally:
        stop_cluster(pg_cluster.bin_dir, data)
        shutil.rmtree(base, ignore_errors=True)


def _replayed(primary: str, replica: str) -> None:
    """Until the replica has replayed what the primary has written so far."""
    with psycopg.connect(primary, autocommit=True) as conn:
        lsn = conn.execute("SELECT pg_current_wal_lsn()").fetchone()
    deadline = time.monotonic() + 120  # (only a replica that stopped streaming reaches it)
    with psycopg.connect(replica, autocommit=True) as conn:
        query = "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn"
        while conn.execute(query, lsn).fetchone() != (True,):
            assert time.monotonic() < deadline, "the replica never replayed the primary's writes"
            time.sleep(0.05)


def test_a_hot_standby_is_refused_before_the_lock_and_the_backup_and_check_says_it(
    tmp_path: Path, pg_cluster: PgCluster, pg_url: str
) -> None:
    """An operator's URL pointing at a read replica: `up` took a safety backup, failed on the
    file's first statement ("cannot execute CREATE TABLE in a read-only transaction") and said
    the database "stopped answering, not the file".

    And `check` on a target that takes no writes said OK: the cron job's next `up` (or
    restore, or sync into it) is refused, and every backup's audit row is lost, with nothing
    said before. A hot standby (the URL pointing at a replica) and a database frozen read-only
    (Supabase's on a full disk) are a WARNING now, saying which and what turns it off; the
    primary, writable again, is OK. (One replica for both: it streams the primary's `up`.)"""
    dirs = _one_migration(
        tmp_path, "20250101_000000_t.sql", "CREATE TABLE t (id int);\n", "DROP TABLE t;\n"
    )
    assert run_inproc("--database", pg_url, *dirs, "status").code == 0  # the tool's tables
    db = psycopg.conninfo.conninfo_to_dict(pg_url)["dbname"]

    def check(url: str) -> tuple[int, str]:
        res = run_inproc("--database", url, *dirs, "check")
        return res.code, res.out

    with hot_standby(pg_cluster, pg_url) as replica:
        with psycopg.connect(replica, autocommit=True) as conn:
            assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
        res = run_inproc("--database", replica, *dirs, "up", "--yes")
        # `test` and `plan --check` there said "the role needs CREATE on the database"
        checks = [
            run_inproc("--database", replica, *dirs, *c) for c in (["test"], ["plan", "--check"])
        ]
        assert run_inproc("--database", pg_url, *dirs, "up", "--yes").code == 0  # a backup too
        _replayed(pg_url, replica)
        made = run_inproc("--database", replica, "backup", "create")  # a replica serves them
        code, out = check(replica)
    assert res.code == 2, res.err
    assert "is a hot standby (a read replica, in recovery): it takes no writes" in res.err
    assert "safety backup" not in res.err and "point the target at the primary" in res.err
    for one in checks:
        assert one.code == 2 and "is a hot standby (a read replica" in one.err, one.err
    assert made.code == 0, made.err
    assert code == 1, out
    assert (
        "the database is a hot standby (a read replica, in recovery): it takes no writes (up, "
        "rollback, restore, import, a sync into it, the audit rows of backups); point the "
        "target at the primary" in out
    )
    assert "writable WARNING" in out and "reach OK" in out
    assert out.splitlines()[0].endswith(": read-only: writes will fail | failed=0;;1 slow=0;1;")
    with psycopg.connect(pg_cluster.superuser_url, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{db}" SET default_transaction_read_only = on')
    try:
        code, out = check(pg_url)
    finally:
        with psycopg.connect(pg_cluster.superuser_url, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{db}" RESET default_transaction_read_only')
    assert code == 1, out
    assert f"read-only (default_transaction_read_only = on for database {db})" in out
    assert f"ALTER DATABASE {db} RESET default_transaction_read_only;" in out
    code, out = check(pg_url)
    assert code == 0 and "writable OK" in out, out


def test_an_import_by_a_role_that_may_insert_but_not_lock_says_the_grant(
    tmp_path: Path, role: str, pg_url: str
) -> None:
    """A loader's grant, SELECT and INSERT: the import's own lock against other writers (SHARE
    ROW EXCLUSIVE, for which PostgreSQL asks UPDATE, DELETE or TRUNCATE) failed as a bare
    "permission denied for table nilai", exit 1, though the role may insert there."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"GRANT CREATE ON SCHEMA public TO {role}")
        conn.execute("CREATE TABLE nilai (id int PRIMARY KEY, skor int)")
        conn.execute(f"GRANT SELECT, INSERT ON nilai TO {role}")
    csv = tmp_path / "nilai.csv"
    csv.write_text("id,skor\n1,90\n2,80\n")
    url = _as(pg_url, role)
    args = ("--database", url, "import", str(csv), "--table", "nilai", "--yes", "--no-backup")
    res = run_inproc(*args)
    assert res.code == 2, res.err
    assert f"role {role} may not lock it against other writers" in res.err
    grant = f'GRANT UPDATE ON "public"."nilai" TO {role};'
    assert grant in res.err
    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM nilai").fetchone() == (0,)
        conn.execute(grant)  # the hint, as written, is what lets it in
        dbname = conn.execute("SELECT current_database()").fetchone()[0]  # type: ignore[index]
        conn.execute(f"REVOKE TEMPORARY ON DATABASE {dbname} FROM PUBLIC")  # a hardened server
    assert run_inproc(*args).code == 0  # a plain COPY: no stage
    res = run_inproc(*args, "--key", "id")  # an upsert stages its rows in a temporary table
    assert res.code == 2, res.err
    assert f"GRANT TEMPORARY ON DATABASE {dbname} TO {role};" in res.err


def test_a_sync_the_role_may_not_finish_is_refused_before_it_writes(
    tmp_path: Path, role: str, pg_url: str
) -> None:
    """A reporting role given SELECT, INSERT and UPDATE on the copy (the DBA made it): every
    sync failed at its state row ("permission denied for schema public": CREATE TABLE IF NOT
    EXISTS asks for CREATE even when the table is there); past that, its upserts committed and
    it failed at the deletes, the copy left half-synced."""
    src = tmp_path / "primary.db"
    conn = sqlite3.connect(src)
    conn.execute("CREATE TABLE siswa (id INTEGER PRIMARY KEY, nama TEXT, updated_at TEXT)")
    conn.executemany(
        "INSERT INTO siswa VALUES (?, ?, '2025-01-01 00:00:00')", [(i, f"n{i}") for i in (1, 2, 3)]
    )
    conn.commit()
    sync = ("sync", "--from", f"sqlite:///{src}", "--tables", "siswa", "--yes", "--to")
    assert run_inproc(*sync, pg_url).code == 0  # the DBA's first copy
    with psycopg.connect(pg_url, autocommit=True) as pg:
        pg.execute(f"GRANT SELECT, INSERT, UPDATE ON siswa, malnu_sync TO {role}")
        pg.execute(
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON migrations, malnu_audit, malnu_lock TO {role}"
        )
    conn.execute("DELETE FROM siswa WHERE id = 2")
    conn.execute("UPDATE siswa SET nama = 'baru', updated_at = '2025-02-01 00:00:00' WHERE id = 3")
    conn.commit()
    conn.close()
    with psycopg.connect(pg_url, autocommit=True) as pg:
        dbname = pg.execute("SELECT current_database()").fetchone()[0]  # type: ignore[index]
        pg.execute(f"REVOKE TEMPORARY ON DATABASE {dbname} FROM PUBLIC")  # a hardened server
    res = run_inproc(*sync, _as(pg_url, role))
    assert res.code == 2, res.err  # a grant to give: configuration (it was 1)
    assert f'siswa: role {role} lacks DELETE on "public"."siswa"' in res.err
    assert f"database {dbname}: role {role} may not create temporary tables" in res.err
    grants = (
        f'GRANT DELETE ON "public"."siswa" TO {role}',
        f"GRANT TEMPORARY ON DATABASE {dbname} TO {role}",
    )
    assert all(grant in res.err for grant in grants)
    with psycopg.connect(pg_url, autocommit=True) as pg:
        assert pg.execute("SELECT count(*), max(nama) FROM siswa").fetchone() == (3, "n3")
        for grant in grants:  # the hints, as written, are what let it through
            pg.execute(grant)
    assert run_inproc(*sync, _as(pg_url, role)).code == 0


def test_a_migration_stopped_by_statement_timeout_is_not_blamed_on_the_file(
    tmp_path: Path, pg_url: str
) -> None:
    """The target's ``statement_timeout`` (or a DBA's for the role, which the file restores
    with its own SET) cancels a long backfill: "canceling statement due to statement timeout"
    came with "fix the file and run again"."""
    dirs = _one_migration(
        tmp_path, "20250101_000000_backfill.sql", "SELECT pg_sleep(2);\n", "SELECT 1;\n"
    )
    url = f"{pg_url}?statement_timeout=100ms"
    res = run_inproc("--database", url, *dirs, "up", "--yes", "--no-backup")
    assert res.code == 1, res.err
    assert "statement timeout [SQLSTATE 57014]; all of it was rolled back" in res.err
    assert "SET statement_timeout = '30min';" in res.err and "fix the file" not in res.err


def test_a_restore_the_role_may_not_create_tables_for_says_the_grant(
    role: str, pg_url: str
) -> None:
    """The role owns its tables, and the schema's CREATE was taken from it since (PostgreSQL
    15's default for a new database's public): the restore, which creates its tables again,
    failed with psql's "permission denied for schema public" and no way on. (The restore
    itself, rolled back whole, is tested elsewhere; here what it says of psql's error.)"""
    from malnu_tui.engine.backends.postgresql import open_url
    from malnu_tui.engine.backup.pg_restore import _not_owner_hint

    psql_said = "ERROR:  permission denied for schema public; LINE 1: CREATE TABLE public.a (; ^"
    backend = open_url(_as(pg_url, role))
    try:
        hint = _not_owner_hint(backend, psql_said)
    finally:
        backend.close()
    assert hint is not None
    assert f"GRANT CREATE ON SCHEMA public TO {role}; (as the schema's owner)" in hint


def test_a_failed_restore_says_psqls_error_in_one_clean_line(
    tmp_path: Path, role: str, pg_url: str
) -> None:
    """The restore's error quoted psql whole: `ERROR:  permission denied for schema public;
    LINE 1: CREATE TABLE public.a (; ^`, the echoed statement and its caret as noise in the
    operator's one line (and in the audit row). Now the message, and the whole text in the
    debug log."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"GRANT CREATE ON SCHEMA public TO {role}")
    url = _as(pg_url, role)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE a (id int PRIMARY KEY, nama text)")
        conn.execute("INSERT INTO a VALUES (1, 'x')")
    env = {"XDG_DATA_HOME": str(tmp_path / "data")}
    made = run_cli("--database", url, "backup", "create", "--json", env=env)
    assert made.code == 0, made.err
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"REVOKE CREATE ON SCHEMA public FROM {role}")
        conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    backup_id = json.loads(made.out)["id"]
    res = run_cli("--database", url, "--debug", "backup", "restore", backup_id, "--yes",
                     env=env)  # fmt: skip
    assert res.code == 1, res.err
    error = next(ln for ln in res.err.splitlines() if ln.startswith("error:"))
    assert error == (
        "error: restore failed and was rolled back, the database is unchanged: "
        "ERROR: permission denied for schema public"
    ), error
    assert f"hint: the restore creates its tables again in schema public, where {role}" in res.err
    assert "LINE 1: CREATE TABLE public.a (" in res.err, "the whole text in the debug log"
    log = run_cli("--database", url, "log", "--json", env=env)
    failed = [e for e in json.loads(log.out) if e["action"] == "restore"]
    detail = failed[0]["detail"]
    assert "unchanged: ERROR: permission denied for schema public; pre-restore" in detail, detail
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT * FROM a").fetchall() == [(1, "x")]


def test_pg_restores_own_error_is_one_clean_line_too() -> None:
    """`backup verify --deep` quotes pg_restore's failure: its echo of the statement
    (`Command was:` and the statement's lines) is dropped the same way."""
    from malnu_tui.engine.backup.pg_tools import server_said

    said = (
        'pg_restore: error: could not execute query: ERROR:  type "geometry" does not exist\n'
        "LINE 3:     g geometry\n"
        "              ^\n"
        "Command was: CREATE TABLE public.t (\n"
        "    id integer,\n"
        "    g geometry\n"
        ");\n"
        "pg_restore: warning: errors ignored on restore: 1\n"
    )
    assert server_said(said) == (
        'pg_restore: error: could not execute query: ERROR: type "geometry" does not exist; '
        "pg_restore: warning: errors ignored on restore: 1"
    )


def test_a_role_connection_limit_is_named_with_the_way_out(role: str, pg_url: str) -> None:
    """``ALTER ROLE … CONNECTION LIMIT 2``: a backup (and `up`'s safety backup) needs three
    connections at once, its own, the snapshot's and pg_dump's; pg_dump's was refused and the
    hint said to check the backup directory's disk space."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"GRANT CREATE ON SCHEMA public TO {role}")
        conn.execute(f"ALTER ROLE {role} CONNECTION LIMIT 2")
    res = run_inproc("--database", _as(pg_url, role), "backup", "create")
    assert res.code == 1, res.err
    assert "pg_dump could not connect: too many connections; no backup was made" in res.err
    assert f"ALTER ROLE {role} CONNECTION LIMIT 10;" in res.err and "disk space" not in res.err


def _siswa(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    """Four students in classes 10A and 10B; a policy lets the role see those of 10A only."""
    conn.execute("CREATE TABLE siswa (id int PRIMARY KEY, kelas text)")
    conn.execute("INSERT INTO siswa VALUES (1, '10A'), (2, '10A'), (3, '10B'), (4, '10B')")
    conn.execute("ALTER TABLE siswa ENABLE ROW LEVEL SECURITY")
    conn.execute("CREATE POLICY wali ON siswa USING (kelas = '10A')")


def _classes(pg_url: str) -> list[tuple[int, str]]:
    with psycopg.connect(pg_url) as conn:
        return [(int(a), str(b)) for a, b in conn.execute("SELECT * FROM siswa ORDER BY id")]


def test_a_data_migration_row_level_security_narrows_is_refused_before_the_lock_and_backup(
    tmp_path: Path, role: str, pg_url: str
) -> None:
    """`UPDATE siswa SET kelas = …` run by a role a policy narrows (not the table's owner, no
    BYPASSRLS): with --no-backup it updated the two students the policy showed and was
    recorded as applied, exit 0, the other half of the school keeping last year's class;
    with the safety backup, pg_dump failed on the policy after the lock was taken, exit 1.
    Refused now, exit 2, before the lock and the backup; with BYPASSRLS every row is
    updated."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"GRANT CREATE ON SCHEMA public TO {role}")
        _siswa(conn)
        conn.execute(f"GRANT SELECT, UPDATE ON siswa TO {role}")
    dirs = _one_migration(
        tmp_path, "20250101_000000_naik_kelas.sql",
        "-- Description: every student moves up a class\n"
        "UPDATE siswa SET kelas = replace(kelas, '10', '11');\n",
        "UPDATE siswa SET kelas = replace(kelas, '11', '10');\n",
    )  # fmt: skip
    url = _as(pg_url, role)
    assert run_inproc("--database", url, *dirs, "status").code == 0  # the tool's tables
    for more in (("--no-backup",), ()):
        res = run_inproc("--database", url, *dirs, "up", "--yes", *more)
        assert res.code == 2, res.err
        assert (
            "20250101_000000_naik_kelas.sql:2 reads or writes table public.siswa, whose row "
            f"level security policies narrow what role {role} sees" in res.err
        )
        assert f"ALTER ROLE {role} BYPASSRLS;" in res.err and "(role postgres)" in res.err
        assert "pg_dump" not in res.err and "Traceback" not in res.err
        assert _classes(pg_url) == [(1, "10A"), (2, "10A"), (3, "10B"), (4, "10B")]
    assert run_inproc("--database", url, "backup", "list", "--json").out.strip() == "[]"
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM migrations").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM malnu_lock").fetchone() == (0,)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"ALTER ROLE {role} BYPASSRLS")  # the hint, as written
    res = run_inproc("--database", url, *dirs, "up", "--yes", "--no-backup")
    assert res.code == 0, res.err
    assert _classes(pg_url) == [(1, "11A"), (2, "11A"), (3, "11B"), (4, "11B")]
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"ALTER ROLE {role} NOBYPASSRLS")
    asked = run_inproc("--database", url, *dirs, "rollback")  # said before it asks
    assert asked.code == 2 and "reads or writes table public.siswa" in asked.err, asked.err
    assert "without confirmation" not in asked.err
    # The console's rollback and apply wizards show the preflight's problems as described:
    # with the way out.
    from malnu_tui.engine.backends.postgresql import open_url
    from malnu_tui.engine.config import Target
    from malnu_tui.engine.files import discover
    from malnu_tui.engine.preflight import preflight_rollback

    backend = open_url(url)
    try:
        target = Target("t", url, tmp_path / "m", tmp_path / "r", tmp_path / "backups")
        pf = preflight_rollback(backend, target, discover(tmp_path / "m", tmp_path / "r"))
    finally:
        backend.close()
    (said,) = [p.describe() for p in pf.blocking]
    assert "reads or writes table public.siswa" in said and f"ALTER ROLE {role} BYPASSRLS;" in said


def test_a_table_owner_under_force_row_level_security_is_refused_then_lifts_it_in_the_file(
    tmp_path: Path, role: str, pg_url: str
) -> None:
    """The tool's role owns `siswa` and the DBA forced its policies on the owner too (FORCE
    ROW LEVEL SECURITY): `up` and `rollback` changed the rows the policy showed, half the
    school, and said applied. Refused now before the lock, exit 2, with the owner's way out;
    a migration that lifts FORCE around its backfill (the hint's second way) runs, and its
    rollback too, on every row."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"GRANT CREATE ON SCHEMA public TO {role}")
    url = _as(pg_url, role)
    with psycopg.connect(url, autocommit=True) as conn:
        _siswa(conn)
        conn.execute("ALTER TABLE siswa FORCE ROW LEVEL SECURITY")
        assert conn.execute("SELECT count(*) FROM siswa").fetchone() == (2,)
    dirs = _one_migration(
        tmp_path, "20250101_000000_naik_kelas.sql",
        "UPDATE siswa SET kelas = replace(kelas, '10', '11');\n",
        "UPDATE siswa SET kelas = replace(kelas, '11', '10');\n",
    )  # fmt: skip
    for more in (("--no-backup",), ()):
        res = run_inproc("--database", url, *dirs, "up", "--yes", *more)
        assert res.code == 2, res.err
        assert f"whose row level security is forced on its owner, role {role}" in res.err
        assert "`ALTER TABLE public.siswa NO FORCE ROW LEVEL SECURITY;`" in res.err
        assert "pg_dump" not in res.err and "taking a safety backup" not in res.err
        assert _classes(pg_url) == [(1, "10A"), (2, "10A"), (3, "10B"), (4, "10B")]
    lift = "ALTER TABLE siswa NO FORCE ROW LEVEL SECURITY;\n"
    force = "ALTER TABLE siswa FORCE ROW LEVEL SECURITY;\n"
    for folder, (old, new) in (("m", ("10", "11")), ("r", ("11", "10"))):
        (tmp_path / folder / "20250101_000000_naik_kelas.sql").write_text(
            f"{lift}UPDATE siswa SET kelas = replace(kelas, '{old}', '{new}');\n{force}"
        )
    res = run_inproc("--database", url, *dirs, "up", "--yes", "--no-backup")
    assert res.code == 0, res.err
    assert _classes(pg_url) == [(1, "11A"), (2, "11A"), (3, "11B"), (4, "11B")]
    res = run_inproc("--database", url, *dirs, "rollback", "--yes", "--no-backup")
    assert res.code == 0, res.err
    assert _classes(pg_url) == [(1, "10A"), (2, "10A"), (3, "10B"), (4, "10B")]
    with psycopg.connect(pg_url) as conn:  # the policies are back on the owner
        assert conn.execute(
            "SELECT relforcerowsecurity FROM pg_class WHERE relname = 'siswa'"
        ).fetchone() == (True,)


def test_a_narrowed_write_the_preflight_cannot_see_fails_whole_with_the_way_out(
    tmp_path: Path, role: str, pg_url: str
) -> None:
    """The table named only at run time (dynamic SQL in a DO block): the preflight cannot see
    it, and the UPDATE changed the rows the policy showed. PostgreSQL refuses it now (the
    migration's transaction has row_security = off): nothing changed, the hint says how."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"GRANT CREATE ON SCHEMA public TO {role}")
        _siswa(conn)
        conn.execute(f"GRANT SELECT, UPDATE ON siswa TO {role}")
    dirs = _one_migration(
        tmp_path, "20250101_000000_naik_kelas.sql",
        "DO $$ BEGIN EXECUTE format('UPDATE %I SET kelas = %L', 'sis' || 'wa', '11A'); END $$;\n",
        "SELECT 1;\n",
    )  # fmt: skip
    res = run_inproc("--database", _as(pg_url, role), *dirs, "up", "--yes", "--no-backup")
    assert res.code == 1, res.err
    assert 'query would be affected by row-level security policy for table "siswa"' in res.err
    assert f"`ALTER ROLE {role} BYPASSRLS;`" in res.err and "(role postgres)" in res.err
    assert "all of it was rolled back" in res.err and "fix the file" not in res.err
    assert _classes(pg_url) == [(1, "10A"), (2, "10A"), (3, "10B"), (4, "10B")]


def test_what_the_preflight_counts_as_touching_a_narrowed_tables_rows() -> None:
    """Rows are read or written by DML, DO blocks and tables made from a query; a foreign key
    to the table, a comment or a string naming it, another schema's table of the same name
    and DDL the owner alone may run are not refused."""
    import re

    from malnu_tui.engine.backends.pg_rowsec import _names, reads_rows
    from malnu_tui.engine.sqlsplit import split_statements

    pattern = _names(("public", "siswa", True))
    other = _names(("auth", "users", False))

    def hit(sql_text: str, p: re.Pattern[str] = pattern) -> bool:
        from malnu_tui.engine.backends.pg_rowsec import _REFERENCES, _STRING
        from malnu_tui.engine.sqlsplit import strip_comments

        (st,) = split_statements(sql_text, "postgresql")
        text = _REFERENCES.sub(" ", _STRING.sub("''", strip_comments(st.text)))
        return reads_rows(st) and bool(p.search(text))

    assert hit("UPDATE siswa SET kelas = '11A'")
    assert hit('DELETE FROM public."siswa" WHERE id = 1')
    assert hit("INSERT INTO arsip SELECT * FROM Siswa")
    assert hit("CREATE TABLE arsip AS SELECT * FROM siswa")
    assert hit("WITH s AS (SELECT id FROM siswa) UPDATE nilai SET x = 1 FROM s")
    assert not hit("CREATE TABLE nilai (siswa_id int REFERENCES siswa (id))")
    assert not hit("UPDATE nilai SET note = 'siswa pindah' -- siswa\n")
    assert not hit("UPDATE nilai SET x = 1 FROM other.siswa")
    assert not hit("UPDATE nilai SET siswa = 1 WHERE siswa > 0")
    assert hit("SELECT * FROM nilai n, siswa s WHERE n.id = s.id")
    assert hit("COPY siswa TO stdout")
    assert not hit("ALTER TABLE siswa ADD COLUMN email text")
    assert not hit("CREATE VIEW v AS SELECT * FROM siswa")
    assert not hit("UPDATE profiles SET x = 1 FROM users", other)
    assert hit("UPDATE profiles SET x = 1 FROM auth.users u", other)


def test_a_backup_row_level_security_narrows_says_the_way_out(
    tmp_path: Path, role: str, pg_url: str
) -> None:
    """pg_dump reads with row_security = off: a table whose policies apply to the role (not
    its owner, or its owner under FORCE) stopped every backup, and every `up` behind its
    safety backup (a migration of another table), with "pg_dump failed … check the disk
    space of the backup directory", exit 1. Exit 2 now, with the way out."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"GRANT CREATE ON SCHEMA public TO {role}")
        _siswa(conn)
        conn.execute(f"GRANT SELECT ON siswa TO {role}")
    url = _as(pg_url, role)
    dirs = _one_migration(
        tmp_path, "20250101_000000_t.sql", "CREATE TABLE t (id int);\n", "DROP TABLE t;\n"
    )
    for args in (("backup", "create"), (*dirs, "up", "--yes")):
        res = run_inproc("--database", url, *args)
        assert res.code == 2, res.err
        assert (
            f"pg_dump may not read every row of table siswa as role {role} (row level security "
            "policies apply to it); no backup was made" in res.err
        )
        assert f"`ALTER ROLE {role} BYPASSRLS;`" in res.err and "disk space" not in res.err
        assert "pg_dump -Fc of" not in res.err  # said before pg_dump read a table
    res = run_inproc("--database", url, "doctor")  # said before the first nightly backup
    assert res.code == 1, res.out
    assert (
        f"row level security: policies apply to role {role} on 1 table(s) (public.siswa): a "
        "backup is refused (pg_dump reads every row)" in res.out
    )
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"ALTER TABLE siswa OWNER TO {role}")
        conn.execute("ALTER TABLE siswa FORCE ROW LEVEL SECURITY")
    res = run_inproc("--database", url, "backup", "create")
    assert res.code == 2, res.err
    assert "`ALTER TABLE siswa NO FORCE ROW LEVEL SECURITY;`" in res.err
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE siswa NO FORCE ROW LEVEL SECURITY")
    assert run_inproc("--database", url, "backup", "create").code == 0
    res = run_inproc("--database", url, "doctor")
    assert f" row level security: no table's policies apply to role {role}:" in res.out, res.out


def test_figures_a_policy_narrows_are_refused_or_said_never_the_policys(
    tmp_path: Path, role: str, pg_url: str
) -> None:
    """A role under row level security counted the rows its policy showed: an import's
    preview said "into siswa (2 rows now)" of 4 (the console asked for its confirmation on
    it; the import itself was refused only then), and the console rollback's rows at stake
    told the table's owner under FORCE "drops table siswa: 2 rows" of 4. Every count reads
    every row now, or is refused (the import, before its preview) or said not counted."""
    from malnu_tui.engine.backends.postgresql import open_url
    from malnu_tui.engine.impact import rows_at_stake

    with psycopg.connect(pg_url, autocommit=True) as conn:
        _siswa(conn)
        conn.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON siswa TO {role}")
    url = _as(pg_url, role)
    (tmp_path / "baru.csv").write_text("id,kelas\n5,10A\n")
    res = run_inproc(
        "--database", url, "import", str(tmp_path / "baru.csv"), "--table", "siswa", "--dry-run"
    )
    assert res.code == 2, res.err
    assert 'row-level security policy for table "siswa"' in res.err and "rows now" not in res.err
    assert f"`ALTER ROLE {role} BYPASSRLS;`" in res.err
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"ALTER TABLE siswa OWNER TO {role}")
        conn.execute("ALTER TABLE siswa FORCE ROW LEVEL SECURITY")
    drop = [("20250101_000000_siswa.sql", "DROP TABLE siswa;\n")]
    stakes = []
    for who in (url, pg_url):  # the owner under FORCE; a superuser
        backend = open_url(who)
        try:
            stakes += rows_at_stake(backend, drop, "postgresql")
        finally:
            backend.close()
    owner, superuser = stakes
    assert (owner.rows, owner.hidden, owner.at_risk) == (None, True, True)
    assert owner.describe().startswith(
        "drops table siswa: its rows not counted, row level security hides some of them"
    )
    assert superuser.describe() == "drops table siswa: 4 rows"


def test_check_warns_of_a_database_and_a_backup_store_on_a_file_system_gone_read_only(
    tmp_path: Path,
) -> None:
    """ext4's errors=remount-ro after I/O errors: the SQLite file and the backup store are
    there and read as before, so `check` said OK, while the next `up`, every cron backup
    (its data file, its manifest) and every safety backup were to fail. Each is a `writable`
    WARNING now. A real tmpfs remounted read-only (needs root, as the suite runs on CI)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)]
    if os.geteuid() != 0 or subprocess.run(mount, capture_output=True).returncode:
        pytest.skip("mounting a tmpfs needs root")
    try:
        dirs = _one_migration(
            tmp_path, "20250101_000000_t.sql", "CREATE TABLE t (id int);\n", "DROP TABLE t;\n"
        )
        db = disk / "school.db"
        base = ("--database", f"sqlite:///{db}", *dirs)
        env = {"MALNU_BACKUP_DIR": str(disk / "backups")}
        assert run_cli(*base, "up", "--yes", env=env).code == 0  # its safety backup too
        ok = run_cli(*base, "check", env=env)
        assert ok.code == 0 and "writable OK" in ok.out, ok.out
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        res = run_cli(*base, "check", env=env)
    finally:
        subprocess.run(["umount", str(disk)], check=True)
    assert res.code == 1, res.out
    assert ": read-only: writes will fail (database, store) |" in res.out.splitlines()[0]
    assert (
        "writable: the database is on a file system mounted read-only: it takes no writes "
        f"(up, rollback, restore, import, a sync into it, the audit rows of backups); the file "
        f"system of {disk} is read-only" in res.out
    )
    assert (
        "writable: the backup store is on a file system mounted read-only: every backup fails "
        "there (cron's, and the safety backup up, rollback and restore take first)" in res.out
    )


def test_row_level_security_on_the_tools_own_tables_is_said_not_read_as_pending(
    tmp_path: Path, role: str, pg_url: str
) -> None:
    """A DBA enabled row level security on every table of `public` (Supabase's advisor asks
    it), the tool's `migrations` too, with no policy for the migration role: `status` said the
    applied migration was pending, `check` said OK, and `up` ran it again (rolled back only
    because its tracking row was refused: "a migration must not drop or alter the tool's
    tables"). Refused now, exit 2 (`check`: UNKNOWN), the policy to add in the hint; with it,
    status reads every row and `up` records the next migration."""
    dirs = _one_migration(
        tmp_path, "20250101_000000_log.sql", "INSERT INTO log VALUES (1);\n", "DELETE FROM log;\n"
    )
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE log (id int)")
        conn.execute(f"GRANT ALL ON log TO {role}")
    assert run_inproc("--database", pg_url, *dirs, "up", "--yes", "--no-backup").code == 0
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"GRANT ALL ON migrations, malnu_audit, malnu_lock TO {role}")
        conn.execute(f"GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {role}")
        conn.execute("ALTER TABLE migrations ENABLE ROW LEVEL SECURITY")
    url = _as(pg_url, role)
    said = (
        f"row level security on the tool's table public.migrations hides rows from role {role} "
        "(it would read applied migrations as pending"
    )
    policy = (
        f"CREATE POLICY malnu_tui ON public.migrations TO {role} USING (true) WITH CHECK (true);"
    )
    for args in (("status",), ("up", "--yes", "--no-backup")):
        res = run_inproc("--database", url, *dirs, *args)
        assert res.code == 2, (args, res.err)
        assert said in res.err and policy in res.err and "(role postgres)" in res.err
    check = run_inproc("--database", url, *dirs, "check")
    assert check.code == 3 and said in check.out, check.out
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM log").fetchone() == (1,)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(policy)  # the hint, as written
    res = run_inproc("--database", url, *dirs, "status")
    assert res.code == 0 and "1 applied, 0 pending" in res.err, res.err
    (tmp_path / "m" / "20250102_000000_more.sql").write_text("INSERT INTO log VALUES (2);\n")
    (tmp_path / "r" / "20250102_000000_more.sql").write_text("DELETE FROM log WHERE id = 2;\n")
    res = run_inproc("--database", url, *dirs, "up", "--yes", "--no-backup")
    assert res.code == 0, res.err
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM migrations").fetchone() == (2,)
    # Every tool table so, each with its policy: an import's audit row (written with
    # row_security = off, as its rows) failed at its COMMIT, "table log …: query would be
    # affected by row-level security policy for table malnu_audit"; a sync, whose session
    # reads every row or none, failed at its first look at the audit table with the hint
    # "connect as the table's owner". The import writes its row as the policies let it now;
    # the sync is refused at once with the ways that let it through.
    tool = ("migrations", "malnu_audit", "malnu_lock")
    with psycopg.connect(pg_url, autocommit=True) as conn:
        for t in tool[1:]:
            conn.execute(f"ALTER TABLE {t} ENABLE ROW LEVEL SECURITY")
            conn.execute(policy.replace("public.migrations", f"public.{t}"))
    (tmp_path / "log.csv").write_text("id\n3\n")
    res = run_inproc("--database", url, "import", str(tmp_path / "log.csv"), "--table", "log",
                     "--yes", "--no-backup")  # fmt: skip
    assert res.code == 0, res.err
    source = tmp_path / "src.db"
    with sqlite3.connect(source) as db:
        db.execute("CREATE TABLE nilai (id INTEGER PRIMARY KEY, v TEXT)")
        db.execute("INSERT INTO nilai VALUES (1, 'a')")
    sync = ("sync", "--from", f"sqlite:///{source}", "--to", url, "--tables", "nilai", "--yes")
    res = run_inproc(*sync)
    assert res.code == 2, res.err
    assert (
        f"row level security applies to the tool's table public.malnu_audit for role {role}, "
        "and a sync reads and writes every row or none" in res.err
    )
    assert "`ALTER TABLE … DISABLE ROW LEVEL SECURITY;` on the tool's tables" in res.err
    with psycopg.connect(pg_url, autocommit=True) as conn:
        for t in tool:  # the hint, as written
            conn.execute(f"ALTER TABLE {t} DISABLE ROW LEVEL SECURITY")
        conn.execute(f"GRANT CREATE ON SCHEMA public TO {role}")  # (its copy of nilai)
    res = run_inproc(*sync)
    assert res.code == 0, res.err


def test_another_runners_history_row_level_security_hides_is_refused_not_read_as_empty(
    tmp_path: Path, role: str, pg_url: str
) -> None:
    """dbmate's history with row level security on and no policy for the tool's role (a DBA
    enabling it on every table of `public`, as Supabase's advisor asks): read as the policy
    showed it, no row, and `up` ran again the migration dbmate had applied. Exit 2 now,
    before anything runs, naming the table, the role and the way out."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"GRANT CREATE ON SCHEMA public TO {role}")
        conn.execute("CREATE TABLE schema_migrations (version varchar(255) PRIMARY KEY)")
        conn.execute("INSERT INTO schema_migrations VALUES ('20250101000000')")
        conn.execute(f"GRANT SELECT ON schema_migrations TO {role}")
        conn.execute("ALTER TABLE schema_migrations ENABLE ROW LEVEL SECURITY")
    dirs = _one_migration(
        tmp_path, "20250101000000_t.sql", "CREATE TABLE t (id int);\n", "DROP TABLE t;\n"
    )
    res = run_inproc("--database", _as(pg_url, role), *dirs, "up", "--yes", "--no-backup")
    assert res.code == 2, res.err
    assert (
        f"row level security hides rows of public.schema_migrations, another migration "
        f"runner's history, from role {role}" in res.err
    )
    assert f"`ALTER ROLE {role} BYPASSRLS;`" in res.err
    assert "`ALTER TABLE public.schema_migrations DISABLE ROW LEVEL SECURITY;`" in res.err
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT to_regclass('t')").fetchone() == (None,)
    res = run_inproc("--database", _as(pg_url, role), *dirs, "doctor")  # a FAIL line, not a stop
    assert res.code == 1, res.err
    assert "other runner: " in res.out and "hides rows of public.schema_migrations" in res.out
    assert "backup dir: " in res.out
    with psycopg.connect(pg_url, autocommit=True) as conn:  # the hint's way, as written
        conn.execute("ALTER TABLE public.schema_migrations DISABLE ROW LEVEL SECURITY;")
    res = run_inproc("--database", _as(pg_url, role), *dirs, "up", "--yes", "--no-backup")
    assert res.code == 1 and "dbmate" in res.err, res.err  # what dbmate applied: refused
    with psycopg.connect(pg_url, autocommit=True) as conn:  # the Supabase CLI's, the same way
        conn.execute("DROP TABLE schema_migrations")
        conn.execute("CREATE SCHEMA supabase_migrations")
        conn.execute(
            "CREATE TABLE supabase_migrations.schema_migrations (version text PRIMARY KEY, "
            "statements text[], name text)"
        )
        conn.execute(
            "INSERT INTO supabase_migrations.schema_migrations VALUES ('20250101000000', NULL, 't')"
        )
        conn.execute(f"GRANT USAGE ON SCHEMA supabase_migrations TO {role}")
        conn.execute(f"GRANT SELECT ON supabase_migrations.schema_migrations TO {role}")
        conn.execute("ALTER TABLE supabase_migrations.schema_migrations ENABLE ROW LEVEL SECURITY")
    res = run_inproc("--database", _as(pg_url, role), *dirs, "up", "--yes", "--no-backup")
    assert res.code == 2, res.err
    assert "hides rows of supabase_migrations.schema_migrations" in res.err
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT to_regclass('t')").fetchone() == (None,)


def test_an_import_of_ids_by_a_role_that_may_not_move_their_sequence_says_so(
    tmp_path: Path, role: str, pg_url: str
) -> None:
    """The import moves an identity column's sequence past the ids it wrote (else the
    application's next INSERT took id 1 and failed on the key); a loader without UPDATE on
    the sequence commits the rows and is told, with the statement to run, not failed."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"GRANT CREATE ON SCHEMA public TO {role}")  # the tool's own tables
        conn.execute(
            "CREATE TABLE akun (id int GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, n text)"
        )
        conn.execute(f"GRANT SELECT, INSERT, UPDATE ON akun TO {role}")
        conn.execute(f"GRANT USAGE ON SEQUENCE akun_id_seq TO {role}")
    csv = tmp_path / "akun.csv"
    csv.write_text("id,n\n1,Ani\n5,Budi\n")
    url = _as(pg_url, role)
    res = run_inproc(
        "--database", url, "import", str(csv), "--table", "akun", "--yes", "--no-backup"
    )
    assert res.code == 0, res.err
    warning = next(line for line in res.err.splitlines() if line.startswith("warning: the import"))
    assert warning.startswith(
        "warning: the import is committed, but: the sequence public.akun_id_seq was not moved "
        "past the imported id values (permission denied for sequence akun_id_seq)"
    )
    statement = warning.split("; run ", 1)[1]
    assert (
        statement
        == 'SELECT setval(\'public.akun_id_seq\', (SELECT max("id") FROM "public"."akun"));'
    )
    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM akun").fetchone() == (2,)
        conn.execute(statement)  # as the warning says
        assert conn.execute("INSERT INTO akun (n) VALUES ('Citra') RETURNING id").fetchone() == (6,)
