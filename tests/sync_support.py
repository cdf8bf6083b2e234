"""Test helpers for the sync: a database of each kind behind one small interface (raw SQL for
setting up and asserting), and the school's users table with values of every kind."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest

from malnu_tui.engine.config import Target
from malnu_tui.engine.sync import SyncRequest, SyncSession, run_sync, verify_sync
from malnu_tui.engine.sync.model import TableReport
from tests.fixtures_d1 import D1Target

SQLITE_USERS = """CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    active BOOLEAN,
    score REAL,
    photo BLOB,
    born DATE,
    created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
)"""
PG_USERS = """CREATE TABLE users (
    id BIGINT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    active BOOLEAN,
    score DOUBLE PRECISION,
    photo BYTEA,
    born DATE,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
)"""
COLUMNS = ("id", "email", "name", "active", "score", "photo", "born", "created_at", "updated_at")


def user_row(i: int, updated: str = "2025-11-24 08:00:00") -> tuple[Any, ...]:
    """Row ``i`` of the users table: every kind, NULLs on every seventh row."""
    null = i % 7 == 0
    return (
        i,
        f"siswa{i}@malnu.sch.id",
        f"Siswa {i}",
        None if null else bool(i % 2),
        None if null else i * 0.25,
        None if null else bytes([i % 256, 0, 255]),
        None if null else f"2008-{1 + i % 12:02d}-{1 + i % 28:02d}",
        "2025-07-14 07:00:00",
        updated,
    )


@dataclass
class Db:
    """One test database and how to run SQL on it directly (not through the engine)."""

    kind: str
    url: str
    path: Path | None = None
    d1: D1Target | None = None
    options: dict[str, Any] = field(default_factory=dict)  # the target's (a D1 retry policy)

    def target(self, name: str) -> Target:
        here = Path("/nonexistent")
        return Target(name, self.url, here, here, here, dict(self.options))

    def _sqlite(self) -> sqlite3.Connection:
        path = self.path if self.d1 is None else self.d1.db.path
        return sqlite3.connect(str(path), isolation_level=None)

    def run(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        if self.kind == "postgresql":
            with psycopg.connect(self.url, autocommit=True) as c:
                query = sql.replace("%", "%%").replace("?", "%s") if params else sql
                cur = c.execute(query, tuple(params) or None)  # type: ignore[arg-type]
                return cur.fetchall() if cur.description else []
        if self.d1 is not None:
            with self.d1.db.lock:
                c = self._sqlite()
                try:
                    return c.execute(sql, tuple(params)).fetchall()
                finally:
                    c.close()
        c = self._sqlite()
        try:
            return c.execute(sql, tuple(params)).fetchall()
        finally:
            c.close()

    def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if self.kind == "postgresql":
            with psycopg.connect(self.url, autocommit=True) as c, c.transaction():
                c.cursor().executemany(sql.replace("%", "%%").replace("?", "%s"), rows)  # type: ignore[arg-type]
            return
        c = self._sqlite()
        try:
            if self.d1 is not None:
                with self.d1.db.lock:
                    c.execute("BEGIN")
                    c.executemany(sql, rows)
                    c.execute("COMMIT")
            else:
                c.execute("BEGIN")
                c.executemany(sql, rows)
                c.execute("COMMIT")
        finally:
            c.close()

    def create_users(self, n: int, updated: str = "2025-11-24 08:00:00") -> None:
        self.run(PG_USERS if self.kind == "postgresql" else SQLITE_USERS)
        self.insert_users(range(1, n + 1), updated)

    def insert_users(
        self, ids: Sequence[int] | range, updated: str = "2025-11-24 08:00:00"
    ) -> None:
        marks = ", ".join("?" * len(COLUMNS))
        self.many(
            f"INSERT INTO users ({', '.join(COLUMNS)}) VALUES ({marks})",
            [user_row(i, updated) for i in ids],
        )

    def count(self, table: str = "users") -> int:
        return int(self.run(f'SELECT count(*) FROM "{table}"')[0][0])


def sqlite_source(tmp_path: Path) -> Db:
    """A SQLite database at ``tmp_path / "p.db"`` (the usual source)."""
    path = tmp_path / "p.db"
    return Db("sqlite", f"sqlite:///{path}", path=path)


def sqlite_to_pg(tmp_path: Path, pg_url: str) -> tuple[Db, Db]:
    """The main road's two ends: a SQLite source and the PostgreSQL database at ``pg_url``."""
    return sqlite_source(tmp_path), Db("postgresql", pg_url)


def make_db(kind: str, request: pytest.FixtureRequest, tmp_path: Path, name: str) -> Db:
    if kind == "sqlite":
        path = tmp_path / f"{name}.db"
        return Db("sqlite", f"sqlite:///{path}", path=path)
    if kind == "postgresql":
        return Db("postgresql", request.getfixturevalue("pg_url"))
    d1: D1Target = request.getfixturevalue("d1")
    return Db("d1", d1.url, d1=d1)


@pytest.fixture
def pg_second(pg_cluster: Any) -> Iterator[str]:
    """A second fresh PostgreSQL database (for PostgreSQL → PostgreSQL)."""
    from tests.fixtures_pg import create_database, drop_database

    name = create_database(pg_cluster)
    try:
        yield pg_cluster.url(name)
    finally:
        drop_database(pg_cluster, name)


def sync(src: Db, dst: Db, progress: object = None, **kw: object) -> TableReport:
    """Sync the one table of ``src`` into ``dst`` through the engine (``kw``: SyncRequest's)."""
    with SyncSession(src.target("primary"), dst.target("analytics")) as s:
        (report,) = run_sync(s, SyncRequest(**kw), progress)  # type: ignore[arg-type]
    return report


def verify(src: Db, dst: Db, tables: Sequence[str] = ()) -> TableReport:
    """``sync verify`` of the one table of ``src`` (or of ``tables``' one) against ``dst``."""
    with SyncSession(src.target("primary"), dst.target("analytics")) as s:
        (report,) = verify_sync(s, tables)
    return report
