"""A real throwaway PostgreSQL cluster for the test session (one per xdist worker).

The cluster lives in a temp directory, listens on 127.0.0.1 at a free port with trust auth and
its unix socket inside that directory, runs with fsync and autovacuum off (no test waits on
either; autovacuum woke on the suite's many short-lived tables), and is stopped and removed at
the end of the session, also when a test (or the start itself) fails. As root it runs as the
``postgres`` system user, since PostgreSQL refuses to run as root. Missing binaries are an
error, not a skip:
``scripts/test`` installs them.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

SUPERUSER = "postgres"
# The server's own translations (Debian's postgresql package ships them) without a generated
# locale: gettext reads LANGUAGE under lc_messages 'C.UTF-8' (not under 'C', the cluster's
# default, so every other session speaks English). A session that sets TRANSLATED gets German,
# as a server whose lc_messages is de_DE.UTF-8 speaks (tests/test_secrets_translated.py).
SERVER_ENV = {**os.environ, "LANGUAGE": "de"}
TRANSLATED = "SET lc_messages = 'C.UTF-8'"


@dataclass(frozen=True)
class PgCluster:
    """A running throwaway cluster."""

    host: str
    port: int
    user: str
    bin_dir: Path
    data_dir: Path

    def url(self, dbname: str = "postgres") -> str:
        """A ``postgresql://`` URL for ``dbname`` as the superuser (trust auth, no password)."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{dbname}"

    @property
    def superuser_url(self) -> str:
        return self.url("postgres")

    def bin(self, name: str) -> str:
        """Path of a server binary of the same version (pg_dump, psql, …)."""
        return str(self.bin_dir / name)


def find_bin_dir() -> Path:
    """The newest ``/usr/lib/postgresql/<version>/bin`` that has ``initdb``; fails loudly."""
    root = Path("/usr/lib/postgresql")
    candidates: list[tuple[int, Path]] = []
    if root.is_dir():
        for child in root.iterdir():
            if re.fullmatch(r"\d+", child.name) and (child / "bin" / "initdb").exists():
                candidates.append((int(child.name), child / "bin"))
    if not candidates:
        pytest.fail(
            "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin: "
            "run scripts/test (it installs Debian's `postgresql` package)",
            pytrace=False,
        )
    return max(candidates)[1]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_server_user(argv: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", SUPERUSER, "--", *argv]
    return argv


def _run(argv: list[str], what: str, env: dict[str, str] | None = None) -> None:
    proc = subprocess.run(
        _as_server_user(argv), capture_output=True, text=True, timeout=120, check=False, env=env
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")


def _wait_ready(host: str, port: int, deadline: float) -> None:
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with psycopg.connect(
                host=host, port=port, user=SUPERUSER, dbname="postgres", connect_timeout=2
            ):
                return
        except psycopg.OperationalError as exc:
            last = exc
            time.sleep(0.1)
    raise RuntimeError(f"PostgreSQL did not become ready on {host}:{port}: {last}")


def start_cluster(base: Path) -> PgCluster:
    """initdb + start a cluster inside ``base`` (which must be empty). Caller stops it."""
    bin_dir = find_bin_dir()
    data_dir = base / "data"
    sock_dir = base / "sock"
    sock_dir.mkdir()
    if os.geteuid() == 0:
        shutil.chown(base, SUPERUSER, SUPERUSER)
        shutil.chown(sock_dir, SUPERUSER, SUPERUSER)
    _run(
        [
            str(bin_dir / "initdb"),
            "-D", str(data_dir),
            "-U", SUPERUSER,
            "-A", "trust",
            "-E", "UTF8",
            "--locale=C",
            "--no-sync",
        ],
        "initdb",
    )  # fmt: skip
    last_error: Exception | None = None
    for _attempt in range(5):  # a free port can be taken by another worker between probe and use
        port = _free_port()
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={sock_dir} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c autovacuum=off "
            "-c max_connections=60 -c shared_buffers=32MB -c log_min_messages=fatal"
        )
        try:
            _run(
                [
                    str(bin_dir / "pg_ctl"),
                    "-D", str(data_dir),
                    "-o", options,
                    "-l", str(base / "server.log"),
                    "-w", "-t", "60",
                    "start",
                ],
                "pg_ctl start",
                SERVER_ENV,
            )  # fmt: skip
            _wait_ready("127.0.0.1", port, time.monotonic() + 30)
            return PgCluster("127.0.0.1", port, SUPERUSER, bin_dir, data_dir)
        except RuntimeError as exc:
            last_error = exc
            stop_cluster(bin_dir, data_dir)
    log = (
        (base / "server.log").read_text(errors="replace") if (base / "server.log").exists() else ""
    )
    raise RuntimeError(f"could not start PostgreSQL: {last_error}\n{log[-2000:]}")


def stop_cluster(bin_dir: Path, data_dir: Path) -> None:
    """Stop a cluster immediately (its data is thrown away anyway)."""
    if not (data_dir / "postmaster.pid").exists():
        return
    subprocess.run(
        _as_server_user([str(bin_dir / "pg_ctl"), "-D", str(data_dir), "-m", "immediate", "stop"]),
        capture_output=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """A running throwaway PostgreSQL cluster (per xdist worker), removed at session end."""
    base = Path(tempfile.mkdtemp(prefix="malnu-pg-"))
    bin_dir = find_bin_dir()

    def cleanup() -> None:
        stop_cluster(bin_dir, base / "data")
        shutil.rmtree(base, ignore_errors=True)

    atexit.register(cleanup)  # also when the session dies between setup and teardown
    try:
        cluster = start_cluster(base)
    except Exception as exc:
        cleanup()
        pytest.fail(f"throwaway PostgreSQL cluster: {exc}", pytrace=False)
    pool = _POOLS[cluster.port] = DatabasePool(cluster)
    try:
        yield cluster
    finally:
        pool.close()
        del _POOLS[cluster.port]
        cleanup()
        atexit.unregister(cleanup)


def _create(cluster: PgCluster, prefix: str) -> str:
    """``CREATE DATABASE`` from ``template1`` by copying its files (``STRATEGY FILE_COPY``):
    PostgreSQL 15's default (WAL_LOG) writes the template through the WAL, 4.2 MB a database
    against 776 bytes, some 0.7 GB per test process a session, its WAL segments made and
    zero-filled as it grows (a fresh cluster's first databases took 0.3-0.9 s each under load,
    against ~0.1 s). The database made is the same. (Before 15 there is no choice: FILE_COPY.)"""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(cluster.superuser_url, autocommit=True) as conn:
        strategy = " STRATEGY FILE_COPY" if conn.info.server_version >= 150000 else ""
        conn.execute(sql.SQL("CREATE DATABASE {}" + strategy).format(sql.Identifier(name)))
    return name


def _drop(cluster: PgCluster, name: str) -> None:
    with (
        contextlib.suppress(psycopg.Error),
        psycopg.connect(cluster.superuser_url, autocommit=True) as conn,
    ):
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


class DatabasePool:
    """Fresh empty databases made ahead and dropped behind by a thread of the test process,
    while tests run: a test's setup and teardown seldom wait on CREATE or DROP DATABASE
    (0.1–0.5 s each, some 500 times a session). A database made ahead is the same as one made
    on demand (``CREATE DATABASE`` from ``template1``, a unique ``t_…`` name, never given
    twice); when none is ready, the test makes its own."""

    READY = 2  # made ahead: a test takes one, another is made while it runs

    def __init__(self, cluster: PgCluster) -> None:
        self.cluster = cluster
        self._ready: list[str] = []
        self._drops: list[str] = []
        self._stopped = False
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._work, name="pg-database-pool", daemon=True)
        self._thread.start()

    def take(self) -> str:
        with self._changed:
            if self._ready:
                self._changed.notify_all()
                return self._ready.pop(0)
        return _create(self.cluster, "t")

    def drop_later(self, name: str) -> None:
        with self._changed:
            self._drops.append(name)
            self._changed.notify_all()

    def close(self) -> None:
        """Stop the thread (databases not yet dropped go with the cluster)."""
        with self._changed:
            self._stopped = True
            self._changed.notify_all()
        self._thread.join(timeout=60)

    def _work(self) -> None:
        while True:
            with self._changed:
                while not (self._stopped or self._drops or len(self._ready) < self.READY):
                    self._changed.wait()
                if self._stopped:
                    return
                drop = self._drops.pop(0) if self._drops else None
            if drop is not None:
                _drop(self.cluster, drop)
                continue
            try:
                name = _create(self.cluster, "t")
            except psycopg.Error:  # the server stopped, restarting…: tests make their own
                with self._changed:
                    self._changed.wait(timeout=1)
                continue
            with self._changed:
                self._ready.append(name)


_POOLS: dict[int, DatabasePool] = {}  # by the cluster's port: one cluster per test process


def create_database(cluster: PgCluster, prefix: str = "t") -> str:
    """A fresh empty database with a unique name (made ahead by the pool when ready);
    returns the name."""
    pool = _POOLS.get(cluster.port)
    if prefix == "t" and pool is not None:
        return pool.take()
    return _create(cluster, prefix)


def drop_database(cluster: PgCluster, name: str) -> None:
    """DROP DATABASE … WITH (FORCE): sessions left open by a test are ended (by the pool's
    thread, a moment later, when the cluster has one)."""
    pool = _POOLS.get(cluster.port)
    if pool is not None:
        pool.drop_later(name)
    else:
        _drop(cluster, name)


@pytest.fixture
def pg_url(pg_cluster: PgCluster) -> Iterator[str]:
    """URL of a fresh empty database, dropped after the test."""
    name = create_database(pg_cluster)
    try:
        yield pg_cluster.url(name)
    finally:
        drop_database(pg_cluster, name)


PASSWORD_ROLE = "malnu_pw"
PASSWORD = "s3cret-Pw!42"


@pytest.fixture(scope="session")
def pg_password_role(pg_cluster: PgCluster) -> tuple[str, str]:
    """A login role that must give a password (scram-sha-256), for libpq password tests:
    (role, password). The rest of the cluster keeps trust auth."""
    hba = pg_cluster.data_dir / "pg_hba.conf"
    rule = f"host all {PASSWORD_ROLE} 127.0.0.1/32 scram-sha-256\n"
    text = hba.read_text()
    if rule not in text:
        hba.write_text(rule + text)  # first match wins: before the trust lines
    with psycopg.connect(pg_cluster.superuser_url, autocommit=True) as conn:
        conn.execute("SET password_encryption = 'scram-sha-256'")
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (PASSWORD_ROLE,))
        if exists.fetchone() is None:
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN CREATEDB PASSWORD {}").format(
                    sql.Identifier(PASSWORD_ROLE), sql.Literal(PASSWORD)
                )
            )
        conn.execute("SELECT pg_reload_conf()")
    return PASSWORD_ROLE, PASSWORD


@pytest.fixture
def pg_password_db(pg_cluster: PgCluster, pg_password_role: tuple[str, str]) -> Iterator[str]:
    """A fresh database owned by the password role; yields its name."""
    name = f"pw_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_cluster.superuser_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(name), sql.Identifier(pg_password_role[0])
            )
        )
    try:
        yield name
    finally:
        drop_database(pg_cluster, name)


def supabase_roles(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    """Supabase's ``anon``, ``authenticated`` and ``service_role`` roles on ``conn``'s
    cluster. Roles are the cluster's, shared by the workers' tests: one made by another test
    between the look and the CREATE is taken as made."""
    for role in ("anon", "authenticated", "service_role"):
        with contextlib.suppress(psycopg.errors.DuplicateObject):
            conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(role)))
