"""Helpers shared by the backup and recovery tests (no tests here): a migration set that runs
on SQLite and PostgreSQL alike, targets with their own backup store, row-level snapshots."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from malnu_tui.engine.backends.base import Backend
from malnu_tui.engine.config import Target, open_backend
from malnu_tui.engine.files import MigrationSet, discover
from malnu_tui.engine.migrate import apply_plan, plan_up
from tests.fixtures_core import CliResult, run_cli

# Portable SQL: runs unchanged on SQLite and PostgreSQL.
MIGRATIONS = [
    (
        "20250101_000100_create_users",
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE);",
        "DROP TABLE users;",
    ),
    (
        "20250101_000200_create_posts",
        "CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL "
        "REFERENCES users(id), body TEXT);",
        "DROP TABLE posts;",
    ),
    (
        "20250101_000300_nick_and_index",
        "ALTER TABLE users ADD COLUMN nick TEXT;\nCREATE INDEX idx_posts_user ON posts(user_id);",
        "DROP INDEX idx_posts_user;\nALTER TABLE users DROP COLUMN nick;",
    ),
]
V1, V2, V3 = (m[0][:15] for m in MIGRATIONS)


def write_migrations(root: Path) -> tuple[Path, Path]:
    mig, rb = root / "migrations", root / "rollback"
    mig.mkdir(parents=True, exist_ok=True)
    rb.mkdir(parents=True, exist_ok=True)
    for name, up, down in MIGRATIONS:
        (mig / f"{name}.sql").write_text(up + "\n", encoding="utf-8")
        (rb / f"{name[:15]}_undo.sql").write_text(down + "\n", encoding="utf-8")
    return mig, rb


def make_target(tmp: Path, url: str, name: str = "t") -> Target:
    mig, rb = write_migrations(tmp / "project")
    return Target(name, url, mig, rb, tmp / "backups" / name)


def mset_of(target: Target) -> MigrationSet:
    return discover(target.migrations_dir, target.rollback_dir)


def up(backend: Backend, target: Target, to: str | None = None) -> None:
    mset = mset_of(target)
    apply_plan(backend, mset, plan_up(backend, mset, to))


def execute(backend: Backend, sql: str, params: tuple[Any, ...] = ()) -> None:
    conn: Any = getattr(backend, "conn")  # noqa: B009 - both backends expose .conn
    if backend.kind == "postgresql":
        conn.execute(sql.replace("?", "%s"), params)
    else:
        conn.execute(sql, params)


def rows(backend: Backend) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every user table, ordered: for row-level comparisons."""
    conn: Any = getattr(backend, "conn")  # noqa: B009
    out: dict[str, list[tuple[Any, ...]]] = {}
    for t in backend.table_names():
        out[t] = [tuple(r) for r in conn.execute(f'SELECT * FROM "{t}" ORDER BY 1').fetchall()]
    return out


def fill(backend: Backend, users: int = 50, posts: int = 3) -> None:
    execute(backend, "BEGIN")
    for i in range(1, users + 1):
        execute(backend, "INSERT INTO users (id, email) VALUES (?, ?)", (i, f"u{i}@malnu.sch.id"))
        for j in range(posts):
            execute(
                backend,
                "INSERT INTO posts (id, user_id, body) VALUES (?, ?, ?)",
                (i * 100 + j, i, f"post {j} of {i} " + "x" * 200),
            )
    execute(backend, "COMMIT")


def open_fresh(target: Target) -> Backend:
    backend = open_backend(target)
    backend.ensure_schema()
    return backend


def cli(
    *args: str, home: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> CliResult:
    """``malnu-tui ARGS`` as a real process (:func:`tests.fixtures_core.run_cli`), its data and
    config dirs under ``home`` (the backups then are in ``home / "data" / "malnu-tui"``)."""
    dirs = {"XDG_DATA_HOME": str(home / "data"), "XDG_CONFIG_HOME": str(home / "config")}
    return run_cli(*args, env={**dirs, **(env or {})}, timeout=timeout)


WRITER = r"""
import os, sys, time
kind, url, stop, base = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
if kind == "sqlite":
    import sqlite3
    conn = sqlite3.connect(url, timeout=30, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 30000")
    sql = "INSERT INTO users (id, email) VALUES (?, ?)"
else:
    import psycopg
    conn = psycopg.connect(url, autocommit=True)
    sql = "INSERT INTO users (id, email) VALUES (%s, %s)"
n = 0
print("ready", flush=True)
while not os.path.exists(stop):
    conn.execute(sql, (base + n, f"w{n}@malnu.sch.id"))
    n += 1
print(n, flush=True)
"""

FULL_DISK = r"""
import resource, signal, sys
# A full disk: writes past the limit fail with EFBIG (the signal is ignored, as a real
# ENOSPC would not signal either). Children (pg_dump) inherit both.
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
from malnu_tui.cli import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Target, Backend]]:
    """A target with its own backup store and an open backend, on each kind."""
    url = request.getfixturevalue("fresh_db")(request.param).url
    target = make_target(tmp_path, url)
    backend = open_fresh(target)
    try:
        yield target, backend
    finally:
        backend.close()
