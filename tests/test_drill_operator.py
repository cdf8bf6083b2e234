"""What an operator's 2 a.m. drill (session 25) found, run through the real CLI on real
databases: each test names who was misled and how."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

from tests.fixtures_core import CLI, REPO, MigrationDirs, school_set
from tests.import_support import write_csv
from tests.inproc import run_inproc


def test_rollback_to_the_head_says_the_migrations_stay_applied(
    sqlite_url: str, mdirs: MigrationDirs
) -> None:
    """`rollback --to V` re-run after it worked (or with V pending): it said "nothing to roll
    back: no migration is applied" over a database holding every migration up to V, as if
    the rollback had wiped it."""
    d = school_set(mdirs)
    assert run_inproc("--database", sqlite_url, *d.args(), "up", "--to", "20250101_000200",
                      "--no-backup").code == 0  # fmt: skip
    for to in ("20250101_000200", "20250101_000300"):  # the head; a pending one past it
        res = run_inproc("--database", sqlite_url, *d.args(), "rollback", "--to", to, "--yes")
        assert res.code == 0, res.err
        assert "no migration is applied" not in res.err, res.err
        assert (
            f"nothing to roll back: no applied migration is newer than {to} "
            "(2 applied, head 20250101_000200; they stay applied)"
        ) in res.err, res.err
    res = run_inproc("--database", sqlite_url, *d.args(), "rollback", "--steps", "2", "--yes")
    assert res.code == 0, res.err
    res = run_inproc("--database", sqlite_url, *d.args(), "rollback", "--to", "20250101_000100",
                     "--yes")  # fmt: skip
    assert "nothing to roll back: no migration is applied" in res.err, res.err


def test_a_wrong_import_key_is_hinted_as_the_key_not_the_file(tmp_path: Path) -> None:
    """`import … --map m.toml --key name` on a table whose keys are id and email: the hint
    said "fix the mapping or the header", files that were right; it names the table's keys
    now, and the hint is about --key."""
    db = tmp_path / "school.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE, "
                 "name TEXT NOT NULL)")  # fmt: skip
    conn.close()
    mapping = tmp_path / "m.toml"
    mapping.write_text('[columns.email]\nfrom = "Email"\n[columns.name]\nfrom = "Nama"\n')
    csv = write_csv(tmp_path / "u.csv", "Email,Nama\r\na@x,Ani\r\n", bom=True)
    base = ("--database", f"sqlite:///{db}", "import", str(csv), "--table", "users",
            "--map", str(mapping), "--dry-run")  # fmt: skip
    res = run_inproc(*base, "--key", "name")
    assert res.code == 2, res.err
    assert (
        "--key name: no PRIMARY KEY or UNIQUE constraint on exactly these columns "
        "(the table's: id; email)" in res.err
    ), res.err
    hint = next(line for line in res.err.splitlines() if line.startswith("hint: "))
    assert hint.startswith("hint: --key names the columns of one PRIMARY KEY or UNIQUE"), hint
    assert "fix the mapping" not in hint, hint
    res = run_inproc(*base, "--key", "email")  # the right key: the same files pass
    assert res.code == 0, res.err


def test_a_slow_migration_reads_as_over_its_threshold(
    sqlite_url: str, mdirs: MigrationDirs
) -> None:
    """A migration of 30,040 ms under the default 30 s threshold: `check` (and the alert it
    sends) said "took 30.0 s (over 30 s)"; "0.0 s (over 0 s)" under a threshold of 0."""
    d = school_set(mdirs)
    assert run_inproc("--database", sqlite_url, *d.args(), "up", "--no-backup").code == 0
    conn = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"))
    with conn:  # the tracking row as a slow run leaves it
        conn.execute("UPDATE migrations SET execution_time_ms = 30040 WHERE id = 1")
    conn.close()
    res = run_inproc("--database", sqlite_url, *d.args(), "check")
    assert res.code == 2, res.out + res.err  # CRITICAL: no backup at all (--no-backup)
    assert "20250101_000100_create_users.sql took 30.040 s (over 30 s)" in res.out, res.out


def test_stdout_on_a_full_disk_is_one_error_line_not_a_traceback(
    tmp_path: Path, sqlite_url: str, mdirs: MigrationDirs
) -> None:
    """cron's `malnu-tui status --json > /var/log/malnu/status.json` with the disk full: every
    command but `check` printed a traceback (exit 1), or, its output buffered (no
    PYTHONUNBUFFERED, as cron runs it), Python's "Exception ignored" and exit 120 at the last
    flush; `check --json` with a broken config ended 120 too, not UNKNOWN (3)."""
    d = school_set(mdirs)
    assert run_inproc("--database", sqlite_url, *d.args(), "up", "--no-backup").code == 0
    broken = tmp_path / "broken.toml"
    broken.write_text("[targets.x\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    target = ("--database", sqlite_url, *d.args())
    for argv, code in (
        ((*target, "status"), 1),  # buffered: the exit's flush
        ((*target, "status", "--json"), 1),  # written at once
        ((*target, "log"), 1),  # a table (rich)
        (("--config", str(broken), "check", "--json"), 3),
    ):
        with open("/dev/full", "w") as full:
            proc = subprocess.run([*CLI, *argv], stdout=full, stderr=subprocess.PIPE,
                                  stdin=subprocess.DEVNULL, text=True, env=env, cwd=REPO,
                                  timeout=60)  # fmt: skip
        assert proc.returncode == code, (argv, proc.stderr)
        assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr, (
            argv,
            proc.stderr,
        )
        if code == 1:
            assert (
                "error: the output could not be written to stdout: No space left on device"
                in proc.stderr
            ), proc.stderr


def test_sync_verify_of_a_table_not_copied_yet_hints_the_sync_of_that_table(
    tmp_path: Path,
) -> None:
    """`sync verify reporting --tables assignments`, assignments not at the destination yet:
    the note said to run `malnu-tui sync reporting`, which syncs the pair's own tables and not
    assignments (run as told, the table was still missing); with --from/--to it copied every
    table of the source, private ones too. It names the table now, and works as printed."""
    src, dst = tmp_path / "primary.db", tmp_path / "copy.db"
    conn = sqlite3.connect(src)
    conn.executescript(
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL);"
        "CREATE TABLE assignments (id INTEGER PRIMARY KEY, title TEXT NOT NULL);"
        "CREATE TABLE chats (id INTEGER PRIMARY KEY, body TEXT);"
        "INSERT INTO users VALUES (1, 'a@x'); INSERT INTO assignments VALUES (1, 'PR 1');"
    )
    conn.close()
    sqlite3.connect(dst).close()
    config = tmp_path / "malnu.toml"
    config.write_text(
        f'[targets.primary]\nurl = "sqlite:///{src}"\n[targets.copy]\nurl = "sqlite:///{dst}"\n'
        '[sync.reporting]\nfrom = "primary"\nto = "copy"\ntables = ["users"]\n'
    )
    c = ("--config", str(config))
    res = run_inproc(*c, "sync", "verify", "reporting", "--tables", "assignments", "--json")
    assert res.code == 1, res.err
    said = f"`malnu-tui sync --tables assignments reporting --config {config}` copies it"
    assert said in res.err, res.err
    told = said.split("`")[1].split()[1:]  # run as printed (--yes: no terminal here)
    assert run_inproc(*told, "--yes").code == 0
    res = run_inproc(*c, "sync", "verify", "reporting", "--tables", "assignments")
    assert res.code == 0, res.err
    conn = sqlite3.connect(dst)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    conn.close()
    assert "assignments" in tables and "chats" not in tables, tables
