"""The backend matrix (dbmate's ``testURLs()``): every engine and process test takes
``db_target`` and runs once per backend: a temp SQLite file, a fresh database on the throwaway
PostgreSQL cluster, a fresh database on the local D1 server. ``fresh_db(kind)`` makes one more
database of a given kind (a second target, a kind-specific test). ``DbTarget.cli`` and
``DbTarget.popen`` run the CLI as a real process against it (through
:func:`tests.fixtures_core.run_cli` and :func:`tests.fixtures_core.popen_cli`, the one way
tests start the CLI)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from malnu_tui.engine.backends.base import Backend
from malnu_tui.engine.config import Target, open_backend
from tests.fixtures_core import CliResult, MigrationDirs, popen_cli, run_cli
from tests.fixtures_d1 import D1Target

BACKENDS = ("sqlite", "postgresql", "d1")


@dataclass
class DbTarget:
    """One fresh, empty database: its kind and URL, and what a CLI process needs to reach it
    (``env``: the D1 token and API base; empty for the others)."""

    kind: str
    url: str
    env: dict[str, str] = field(default_factory=dict)
    d1: D1Target | None = None  # the database on the local D1 server (its request log…)

    def target(self, d: MigrationDirs, name: str = "t", **options: Any) -> Target:
        """The target for the migration set ``d`` (its backups under ``d.root / "backups"``)."""
        return Target(name, self.url, d.migrations, d.rollback, d.root / "backups", options)

    def open(self, d: MigrationDirs, **options: Any) -> Backend:
        """An open backend with the tool tables in place; the caller closes it."""
        backend = open_backend(self.target(d, **options))
        backend.ensure_schema()
        return backend

    def cli(
        self, d: MigrationDirs, *args: str, input: str | None = None, timeout: float = 60
    ) -> CliResult:
        """``malnu-tui --database URL --migrations-dir … --rollback-dir … ARGS`` as a process."""
        return run_cli(
            "--database", self.url, *d.args(), *args, env=self.env, input=input, timeout=timeout
        )

    def popen(self, d: MigrationDirs, *args: str) -> subprocess.Popen[str]:
        """The same, started in the background (stdin closed, output piped)."""
        return popen_cli("--database", self.url, *d.args(), *args, env=self.env)


@pytest.fixture
def fresh_db(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[str], DbTarget]:
    """``fresh_db(kind)``: a new empty database of ``kind`` ("sqlite", "postgresql", "d1"),
    dropped (PostgreSQL) or forgotten (D1, SQLite) after the test. The PostgreSQL cluster and
    the D1 server are started only when a test asks for that kind."""
    made: list[int] = []

    def make(kind: str) -> DbTarget:
        made.append(1)
        if kind == "sqlite":
            return DbTarget("sqlite", f"sqlite:///{tmp_path / f'db{len(made)}.sqlite'}")
        if kind == "postgresql":
            from tests.fixtures_pg import PgCluster, create_database, drop_database

            cluster: PgCluster = request.getfixturevalue("pg_cluster")
            name = create_database(cluster)
            request.addfinalizer(lambda: drop_database(cluster, name))
            return DbTarget("postgresql", cluster.url(name))
        if kind == "d1":
            from tests.fixtures_d1 import ACCOUNT

            server = request.getfixturevalue("d1_server")
            monkeypatch: pytest.MonkeyPatch = request.getfixturevalue("monkeypatch")
            target = D1Target(server, server.add_database(ACCOUNT))
            for key, value in target.env.items():  # in-process engine calls reach it too
                monkeypatch.setenv(key, value)
            request.addfinalizer(server.faults.clear)
            return DbTarget("d1", target.url, target.env, target)
        raise ValueError(f"unknown backend kind {kind!r}")

    return make


@pytest.fixture(params=BACKENDS)
def db_target(
    request: pytest.FixtureRequest, fresh_db: Callable[[str], DbTarget]
) -> Iterator[DbTarget]:
    """A fresh empty database of each kind in turn: the backend matrix."""
    yield fresh_db(request.param)


@pytest.fixture
def engine_url(db_target: DbTarget) -> str:
    """The URL of ``db_target`` (older tests; new ones take ``db_target`` itself)."""
    return db_target.url
