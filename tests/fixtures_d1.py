"""D1 fixtures: the local D1-compatible HTTP server (``tests/d1server.py``, real SQLite behind
it) and fresh ``d1://`` databases on it, with the client pointed at it through the
environment exactly as an operator's shell would (``CLOUDFLARE_API_TOKEN``,
``MALNU_D1_API_BASE``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.d1server import D1Server, Database

ACCOUNT = "0123456789abcdef0123456789abcdef"


@dataclass
class D1Target:
    """One fresh database on the local D1 server."""

    server: D1Server
    db: Database

    @property
    def url(self) -> str:
        return f"d1://{self.db.account}/{self.db.id}"

    @property
    def token(self) -> str:
        return self.server.token

    @property
    def env(self) -> dict[str, str]:
        """What a subprocess (the CLI) needs to reach this database."""
        return {"CLOUDFLARE_API_TOKEN": self.token, "MALNU_D1_API_BASE": self.server.api_base}

    def sql(self, sql: str) -> list[tuple[object, ...]]:
        """Read the live SQLite file behind the API (assertions only)."""
        return self.server.sql(self.db, sql)


@pytest.fixture(scope="session")
def d1_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[D1Server]:
    """One local D1 server per test process; each test gets its own database on it."""
    server = D1Server(tmp_path_factory.mktemp("d1server")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def d1(d1_server: D1Server, monkeypatch: pytest.MonkeyPatch) -> Iterator[D1Target]:
    """A fresh empty D1 database; the environment points the client at it. Faults injected by
    the test are cleared afterwards (a request one still holds is answered)."""
    db = d1_server.add_database(ACCOUNT)
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", d1_server.token)
    monkeypatch.setenv("MALNU_D1_API_BASE", d1_server.api_base)
    yield D1Target(d1_server, db)
    d1_server.clear_faults()


@pytest.fixture
def d1_url(d1: D1Target) -> str:
    return d1.url


@pytest.fixture
def d1_fresh_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[D1Server]:
    """A server of the test's own (for tests that count requests or change server knobs)."""
    server = D1Server(tmp_path / "d1server").start()
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", server.token)
    monkeypatch.setenv("MALNU_D1_API_BASE", server.api_base)
    try:
        yield server
    finally:
        server.stop()
