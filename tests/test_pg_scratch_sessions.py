"""What the tool leaves open on a PostgreSQL server while it runs, seen from the server by
another role and after a kill: a scratch database holding a copy of the school's data is
the tool's role's only, and a statement whose client was killed does not run on."""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
from psycopg import sql

from tests.fixtures_core import MigrationDirs, popen_cli, run_cli, stop_if_running
from tests.fixtures_pg import PgCluster

# An index whose expression sleeps in a scratch database only (malnu_verify_…,
# malnu_rehearse_…): the restore into the scratch waits there, as a large one does, while
# the test looks at the server; on the live database it costs nothing.
SLOW_INDEX = """CREATE FUNCTION slow(x int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF current_database() LIKE 'malnu\\_%' THEN PERFORM pg_sleep(120); END IF;
  RETURN x;
END $$;
CREATE TABLE siswa (id int PRIMARY KEY, nisn text);
INSERT INTO siswa VALUES (1, '0051234567');
CREATE INDEX siswa_slow ON siswa (slow(id));
"""


@dataclass(frozen=True)
class Roles:
    cluster: PgCluster
    tool: str  # LOGIN CREATEDB, no superuser: a managed server's migration role
    other: str  # LOGIN only: any other user of the server
    database: str  # the school's, owned by ``tool``

    @property
    def url(self) -> str:
        return self.cluster.url(self.database).replace("://postgres@", f"://{self.tool}@", 1)

    def other_url(self, dbname: str) -> str:
        return self.cluster.url(dbname).replace("://postgres@", f"://{self.other}@", 1)


@pytest.fixture
def roles(pg_cluster: PgCluster) -> Iterator[Roles]:
    tag = uuid.uuid4().hex[:8]
    r = Roles(pg_cluster, f"tool_{tag}", f"other_{tag}", f"t_{tag}")
    with psycopg.connect(pg_cluster.superuser_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN CREATEDB").format(sql.Identifier(r.tool)))
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(r.other)))
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(r.database), sql.Identifier(r.tool)
            )
        )
    try:
        yield r
    finally:
        with psycopg.connect(pg_cluster.superuser_url, autocommit=True) as conn:
            owned = conn.execute(
                "SELECT datname FROM pg_database WHERE datdba = "
                "(SELECT oid FROM pg_roles WHERE rolname = %s)",
                (r.tool,),
            ).fetchall()
            for (name,) in owned:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )
            for name in (r.tool, r.other):
                conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def _scratch_sessions(cluster: PgCluster) -> list[tuple[int, str, str]]:
    """(pid, database, role) of the sessions sleeping in a scratch database."""
    with psycopg.connect(cluster.superuser_url, autocommit=True) as conn:
        return [
            (int(pid), str(db), str(user))
            for pid, db, user in conn.execute(
                "SELECT pid, datname, usename FROM pg_stat_activity "
                "WHERE datname LIKE 'malnu\\_%' AND wait_event = 'PgSleep'"
            ).fetchall()
        ]


@pytest.mark.parametrize("command", ["rehearse", "verify --deep"])
def test_a_scratch_copy_of_the_school_is_closed_to_the_servers_other_roles(
    roles: Roles, mdirs: MigrationDirs, command: str
) -> None:
    """`rehearse` and `backup verify --deep` restore the school's backup into a scratch
    database that PostgreSQL opened to PUBLIC (CONNECT, TEMPORARY): while it existed any role
    of the server could connect to the copy of the students' data. Another role is refused
    now; the tool's own role (no superuser: the database's owner) still restores into it."""
    mdirs.add("20250101_000100", "siswa", SLOW_INDEX, "DROP TABLE siswa; DROP FUNCTION slow;")
    base = ["--database", roles.url, *mdirs.args()]
    assert (res := run_cli(*base, "up", "--no-backup")).code == 0, res.err
    made = run_cli(*base, "backup", "create", "--json")
    assert made.code == 0, made.err
    backup_id = json.loads(made.out)["id"]
    mdirs.add("20250101_000200", "kelas", "CREATE TABLE kelas (id int);", "DROP TABLE kelas;")
    args = ["rehearse"] if command == "rehearse" else ["backup", "verify", "--deep", backup_id]
    proc = popen_cli(*base, *args)
    try:
        deadline = time.monotonic() + 60
        while not (found := _scratch_sessions(roles.cluster)):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.1)
        ((pid, scratch, user),) = found
        assert user == roles.tool, "the tool's own role restores into its scratch"
        with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
            psycopg.connect(roles.other_url(scratch)).close()
        with psycopg.connect(roles.cluster.superuser_url, autocommit=True) as conn:
            conn.execute("SELECT pg_cancel_backend(%s)", (pid,))
        proc.communicate(timeout=60)
    finally:
        stop_if_running(proc)
    with psycopg.connect(roles.cluster.superuser_url, autocommit=True) as conn:
        left = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'malnu\\_%'")
        assert left.fetchall() == [], "the scratch is dropped after"


def _tool_sessions(conn: psycopg.Connection[tuple[object, ...]]) -> list[tuple[object, ...]]:
    return conn.execute(
        "SELECT pid, wait_event, query FROM pg_stat_activity "
        "WHERE application_name LIKE 'malnu-tui%'"
    ).fetchall()


@pytest.mark.parametrize("command", ["test", "plan --check"])
def test_a_killed_runs_sleeping_statement_ends_with_it(
    mdirs: MigrationDirs, pg_url: str, command: str
) -> None:
    """`plan --check` (and `diff --check`, `parity`: their sessions are made alike) killed
    outright (kill -9, CI's job timeout) inside a long statement of a migration: the statement
    ran on at the server until it ended by itself, holding its locks. The server now cancels
    it when the client is gone, as for `test`'s, `up`'s and every session of the backend's."""
    mdirs.add("20250101_000100", "kelas", "CREATE TABLE kelas (id int);", "DROP TABLE kelas;")
    base = ["--database", pg_url, *mdirs.args()]
    assert (res := run_cli(*base, "up", "--no-backup")).code == 0, res.err
    mdirs.add("20250101_000200", "slow", "SELECT pg_sleep(600);", "SELECT 1;")
    with psycopg.connect(pg_url, autocommit=True) as look:
        cli = popen_cli(*base, *command.split())
        try:
            deadline = time.monotonic() + 60
            while not any(s[1] == "PgSleep" for s in _tool_sessions(look)):
                assert cli.poll() is None and time.monotonic() < deadline, cli.communicate()
                time.sleep(0.1)
        finally:
            if cli.poll() is None:
                os.kill(cli.pid, signal.SIGKILL)
            cli.communicate()
        deadline = time.monotonic() + 30
        while (left := _tool_sessions(look)) and time.monotonic() < deadline:
            time.sleep(0.1)
        look.execute(  # (what a failure leaves: not for the next tests; only those sessions,
            # never the other tests' on the same cluster: a worker beside this one lost its
            # `up`'s lock and its import's session to this line)
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = ANY(%s)",
            ([int(str(r[0])) for r in left],),
        )
        assert left == [], "the server ends the dead client's statement"
