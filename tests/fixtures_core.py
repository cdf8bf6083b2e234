"""Core fixtures: an isolated environment, migration sets written on the fly, and the CLI run as
a real process (``run_cli``, ``popen_cli``: the one way tests start it). The backend matrix
(``db_target``, ``fresh_db``) is in :mod:`tests.fixtures_matrix`."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest

from tests import cliserver

REPO = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "malnu_tui"]


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own user data/config dirs and no MALNU_* variables."""
    home = tmp_path / "home"
    for name in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        d = home / name.lower()
        d.mkdir(parents=True, exist_ok=True)
        monkeypatch.setenv(name, str(d))
    for key in list(os.environ):
        if key.startswith("MALNU_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("NO_COLOR", "1")
    return home


@dataclass
class MigrationDirs:
    """A migrations/ + rollback/ pair in a temp dir, written by tests."""

    root: Path

    @property
    def migrations(self) -> Path:
        return self.root / "migrations"

    @property
    def rollback(self) -> Path:
        return self.root / "rollback"

    def add(
        self, version: str, name: str, sql: str, rollback: str | None = None, **header: str
    ) -> Path:
        self.migrations.mkdir(parents=True, exist_ok=True)
        self.rollback.mkdir(parents=True, exist_ok=True)
        head = "".join(f"-- {k.capitalize()}: {v}\n" for k, v in header.items())
        path = self.migrations / f"{version}_{name}.sql"
        path.write_text(head + textwrap.dedent(sql).strip() + "\n", encoding="utf-8")
        if rollback is not None:
            rb = self.rollback / f"{version}_undo_{name}.sql"
            rb.write_text(textwrap.dedent(rollback).strip() + "\n", encoding="utf-8")
        return path

    def args(self) -> list[str]:
        return ["--migrations-dir", str(self.migrations), "--rollback-dir", str(self.rollback)]


def school_config(tmp_path: Path, url: str, d: MigrationDirs) -> Path:
    """``tmp_path/malnu.toml``: one target, ``school`` at ``url`` with ``d``'s directories, and
    backups in ``tmp_path/backups``."""
    cfg = tmp_path / "malnu.toml"
    cfg.write_text(
        f'[backup]\ndir = "{tmp_path / "backups"}"\n'
        f'[targets.school]\nurl = "{url}"\n'
        f'migrations_dir = "{d.migrations}"\nrollback_dir = "{d.rollback}"\n',
        encoding="utf-8",
    )
    return cfg


@pytest.fixture
def mdirs(tmp_path: Path) -> MigrationDirs:
    d = MigrationDirs(tmp_path / "project")
    d.migrations.mkdir(parents=True)
    d.rollback.mkdir(parents=True)
    return d


def school_set(d: MigrationDirs) -> MigrationDirs:
    """Three small migrations with rollbacks: users, posts, an index."""
    d.add(
        "20250101_000100",
        "create_users",
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE);",
        "DROP TABLE users;",
    )
    d.add(
        "20250101_000200",
        "create_posts",
        """
        CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id),
                            body TEXT NOT NULL DEFAULT 'a;b -- not a comment');
        INSERT INTO users (id, email) VALUES (1, 'admin@malnu.sch.id');
        """,
        "DROP TABLE posts;\nDELETE FROM users WHERE id = 1;",
    )
    d.add(
        "20250101_000300",
        "index_posts",
        "CREATE INDEX idx_posts_user ON posts(user_id);",
        "DROP INDEX idx_posts_user;",
    )
    return d


def next_second() -> None:
    """Sleep until the clock is in the next whole second (plus a little): the audit trail's
    times have one-second resolution (truncated), so what was written before this call is in
    an earlier second than anything after it. Half a second on average, where a fixed
    ``sleep(1.1)`` waited 1.1."""
    now = time.time()
    time.sleep(int(now) + 1 - now + 0.02)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'primary.db'}"


@dataclass
class CliResult:
    code: int
    out: str
    err: str


def run_cli(
    *args: str,
    env: dict[str, str] | None = None,
    input: str | None = None,
    timeout: float = 60,
    cwd: Path | None = None,
) -> CliResult:
    """Run ``malnu-tui ARGS`` as a real process with no terminal: forked from the CLI fork
    server (:mod:`tests.cliserver`, the imports done once), or a fresh ``python -m malnu_tui``
    when the environment changes how Python starts or ``MALNU_TEST_FRESH_CLI=1``."""
    return run_cli_with({**os.environ, **(env or {})}, *args, input=input, timeout=timeout, cwd=cwd)


def run_cli_with(
    full_env: dict[str, str],
    *args: str,
    input: str | None = None,
    timeout: float = 60,
    cwd: Path | None = None,
) -> CliResult:
    """``run_cli`` with ``full_env`` as the whole environment (not added to this process's)."""
    stdin = input if input is not None else ""
    if cliserver.usable(full_env):
        code, out, err = cliserver.run(list(args), full_env, stdin, timeout, cwd or REPO)
        return CliResult(code, out, err)
    proc = subprocess.run(
        [*CLI, *args],
        capture_output=True,
        text=True,
        env=full_env,
        input=stdin,
        timeout=timeout,
        cwd=cwd or REPO,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def popen_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """``malnu-tui ARGS`` started in the background as a real process, no terminal (stdin on
    /dev/null), output piped; the caller waits for it (or signals or kills it) and reads
    ``communicate()``. Forked from the CLI fork server as ``run_cli`` is (what tests use of a
    ``Popen``: :class:`tests.cliserver.Started`), or a fresh interpreter when ``run_cli``'s
    would be one."""
    full_env = {**os.environ, **(env or {})}
    if cliserver.usable(full_env):
        started: Any = cliserver.start(list(args), full_env, REPO)
        return cast("subprocess.Popen[str]", started)
    return subprocess.Popen(
        [*CLI, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=full_env,
        cwd=REPO,
    )


def stop_if_running(proc: Any) -> None:
    """A test's ``finally``: ``proc`` killed and reaped if it still runs (an assertion or a
    timeout left it), so no process outlives its test."""
    if proc.poll() is None:
        proc.kill()
        proc.communicate()


_TIME_SHAPE = r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d(:\d\d(\.\d+)?)?"


def zoneless_times(doc: Any, where: str = "", keep: tuple[str, ...] = ("watermark",)) -> list[str]:
    """Every value of a ``--json`` document that is a time without its offset
    (``2026-12-07 16:41:56``: read as local time in another zone), as ``path = value``. Under
    ``keep`` (a sync watermark: the source database's own value) they are left as they are."""
    import re

    found: list[str] = []
    if isinstance(doc, dict):
        for key, value in doc.items():
            if key not in keep:
                found += zoneless_times(value, f"{where}.{key}", keep)
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            found += zoneless_times(value, f"{where}[{i}]", keep)
    elif isinstance(doc, str) and re.fullmatch(_TIME_SHAPE, doc.strip()):
        found.append(f"{where} = {doc}")
    return found
