"""``malnu-tui`` in a real pseudo-terminal (tmux) on a fresh config: the status table appears,
and q quits cleanly. With TERM=xterm-256color and TERM=linux (16 colours), and NO_COLOR."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.tmux_support import MALNU, Tmux


@pytest.mark.parametrize("term", ["xterm-256color", "linux"])
def test_console_in_a_real_terminal_shows_status_and_quits(
    tmux: Tmux, tmp_path: Path, term: str, isolated_env: Path
) -> None:
    exit_file = tmp_path / "exit-code"
    work = tmp_path / "work"  # no malnu.toml, no migrations/: the embedded default
    work.mkdir()
    command = f"cd {work} && env TERM={term} {MALNU}; echo $? > {exit_file}"
    tmux.run("new-session", "-d", "-s", "malnu", "-x", "80", "-y", "24", command)
    screen = tmux.wait_for("create_users_table")
    assert "version" in screen and "state" in screen
    assert "○ pending" in screen  # the symbol and the word, whatever the colours
    assert "7 pending" in screen
    tmux.run("send-keys", "-t", "malnu", "q")
    deadline = time.monotonic() + 15
    while not exit_file.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert exit_file.read_text().strip() == "0"
    # The embedded database is read as the new one the first `up` makes: opening and
    # looking creates nothing (it was created, with the tool's tables, by opening the console).
    data_home = Path(isolated_env) / "xdg_data_home"
    assert not (data_home / "malnu-tui" / "malnu.db").exists()


def _type_name(tmux: Tmux, db_name: str) -> list[str]:
    """Type the database name into the confirmation field. The field takes the keys once its
    focus has landed, a moment after the prompt is drawn: retype until the field shows it."""
    for _ in range(5):
        for ch in db_name:
            tmux.run("send-keys", "-t", "malnu", ch)
        try:
            tmux.wait_for(f"▊  {db_name} ", timeout=3)
            return [*db_name]
        except AssertionError:
            tmux.run("send-keys", "-t", "malnu", *["BSpace"] * (len(db_name) + 2))
    raise AssertionError("the confirmation field never took the typed name")


def _rollback_keys(tmux: Tmux, db_name: str) -> list[str]:
    """The emergency rollback of the newest migration, key by key, as an operator types it;
    returns the keys pressed (the test compares the count with and without a dead lock)."""
    pressed: list[str] = []

    def press(*keys: str) -> None:
        for key in keys:
            tmux.run("send-keys", "-t", "malnu", key)
            pressed.append(key)

    tmux.wait_for("add_marks")
    press("r")
    tmux.wait_for("How far?")
    press("n")
    tmux.wait_for("preconditions hold")
    press("n")
    tmux.wait_for(f"Type {db_name} to roll back 1 migration")
    pressed += _type_name(tmux, db_name)
    press("Enter")
    tmux.wait_for("rolled back", timeout=60)
    press("n")
    tmux.wait_for("Safety backup")
    return pressed


def test_emergency_rollback_takes_over_a_sigkilled_operators_lock_in_no_more_keys(
    tmux: Tmux, tmp_path: Path, isolated_env: Path
) -> None:
    import os
    import signal
    import sqlite3

    from tests.fixtures_core import MigrationDirs, popen_cli, run_cli

    project = MigrationDirs(tmp_path / "project")
    project.add(
        "20250101_000100",
        "create_pupils",
        "CREATE TABLE pupils (id INTEGER);",
        "DROP TABLE pupils;",
    )
    project.add(
        "20250101_000200", "add_marks", "CREATE TABLE marks (id INTEGER);", "DROP TABLE marks;"
    )
    project.add(
        "20250101_000300",
        "slow_backfill",
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 400000000)"
        " SELECT count(*) FROM c;",
        "SELECT 1;",
    )
    db = tmp_path / "school.db"
    base = ["--database", f"sqlite:///{db}", *project.args()]
    assert run_cli(*base, "up", "--to", "20250101_000200", "--yes", "--no-backup").code == 0

    def console() -> None:
        command = f"env TERM=xterm-256color {MALNU} {' '.join(base)}"
        tmux.run("new-session", "-d", "-s", "malnu", "-x", "80", "-y", "24", command)

    # Without a dead lock: the keys of an emergency rollback of the newest migration.
    console()
    clean_keys = _rollback_keys(tmux, "school")
    tmux.kill()
    assert run_cli(*base, "up", "--to", "20250101_000200", "--yes", "--no-backup").code == 0

    # An operator's `up` dies with SIGKILL while it holds the lock (a dropped SSH session).
    up = popen_cli(*base, "up", "--yes", "--no-backup")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with sqlite3.connect(db) as conn:
            try:
                if conn.execute("SELECT count(*) FROM malnu_lock").fetchone()[0]:
                    break
            except sqlite3.OperationalError:
                pass
        time.sleep(0.05)
    else:
        raise AssertionError("the up process never took the lock")
    os.kill(up.pid, signal.SIGKILL)
    up.wait()
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT pid FROM malnu_lock").fetchone() == (up.pid,)

    tmux.socket += "-2"
    console()
    tmux.wait_for("add_marks")
    keys = _rollback_keys_with_takeover(tmux, "school", up.pid)
    assert len(keys) <= len(clean_keys)
    with sqlite3.connect(db) as conn:
        applied = [r[0] for r in conn.execute("SELECT filename FROM migrations WHERE success")]
        audit = [r[0] for r in conn.execute("SELECT action FROM malnu_audit")]
        assert conn.execute("SELECT count(*) FROM malnu_lock").fetchone() == (0,)
    assert applied == ["20250101_000100_create_pupils.sql"]
    assert any("takeover" in a or "lock" in a for a in audit), audit


def _rollback_keys_with_takeover(tmux: Tmux, db_name: str, pid: int) -> list[str]:
    screen = tmux.wait_for("add_marks")
    assert "LOCKED" in screen or "lock" in screen
    keys = []
    tmux.run("send-keys", "-t", "malnu", "r")
    keys.append("r")
    tmux.wait_for("How far?")
    tmux.run("send-keys", "-t", "malnu", "n")
    keys.append("n")
    preview = tmux.wait_for("taken over")
    assert f"pid {pid} is not running" in preview
    tmux.run("send-keys", "-t", "malnu", "n")
    keys.append("n")
    tmux.wait_for(f"Type {db_name} to roll back 1 migration")
    keys += _type_name(tmux, db_name)
    tmux.run("send-keys", "-t", "malnu", "Enter")
    keys.append("Enter")
    tmux.wait_for("rolled back", timeout=60)
    tmux.run("send-keys", "-t", "malnu", "n")
    keys.append("n")
    tmux.wait_for("Safety backup")
    return keys
