"""The CLI contract, run as real processes: exit codes, stdout/stderr, JSON, confirmation."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from tests.fixtures_core import CLI, REPO, MigrationDirs, run_cli, run_cli_with, school_set
from tests.fixtures_matrix import DbTarget
from tests.inproc import run_inproc


def test_status_json_contract(sqlite_url: str, mdirs: MigrationDirs) -> None:
    d = school_set(mdirs)
    assert (
        run_cli(
            "--database", sqlite_url, *d.args(), "up", "--to", "20250101_000100", "--no-backup"
        ).code
        == 0
    )
    res = run_cli("--database", sqlite_url, *d.args(), "status", "--json")
    assert res.code == 0, res.err
    data = json.loads(res.out)
    first, second = data["migrations"][:2]
    for key in (
        "version",
        "filename",
        "state",
        "checksum",
        "executed_at",
        "execution_time_ms",
        "rollback_file",
    ):
        assert key in first
    assert (first["state"], second["state"]) == ("applied", "pending")
    assert first["rollback_file"] == "20250101_000100_undo_create_users.sql"
    assert data["counts"] == {"applied": 1, "pending": 2, "failed": 0, "drifted": 0, "missing": 0}


def test_human_status_goes_to_stdout_summary_to_stderr(
    sqlite_url: str, mdirs: MigrationDirs
) -> None:
    d = school_set(mdirs)
    res = run_cli("--database", sqlite_url, *d.args(), "status")
    assert res.code == 0
    assert "○ pending" in res.out and "create_posts" in res.out
    assert "0 applied, 3 pending" in res.err and "pending" not in res.err.split(";")[1]


def test_a_terminal_that_cannot_spell_the_symbols_gets_them_escaped(
    sqlite_url: str, mdirs: MigrationDirs
) -> None:
    """A Latin-1 or ASCII locale (a cron job's PYTHONIOENCODING=ascii): the table is printed
    with its symbols escaped, not a traceback after the work was done."""
    d = school_set(mdirs)
    ascii_only = {"PYTHONIOENCODING": "ascii"}
    up = run_cli("--database", sqlite_url, *d.args(), "up", "--yes", env=ascii_only)
    assert up.code == 0, up.err
    res = run_cli("--database", sqlite_url, *d.args(), "status", env=ascii_only)
    assert res.code == 0, res.err
    assert "Traceback" not in res.err
    assert "\\u2714 applied" in res.out and "create_posts" in res.out


def test_global_options_after_the_command(sqlite_url: str, mdirs: MigrationDirs) -> None:
    d = school_set(mdirs)
    res = run_cli("status", "--database", sqlite_url, *d.args(), "--json")
    assert res.code == 0 and json.loads(res.out)["counts"]["pending"] == 3


def test_dry_run_prints_sql_and_changes_nothing(db_target: DbTarget, mdirs: MigrationDirs) -> None:
    d = school_set(mdirs)
    res = db_target.cli(d, "up", "--dry-run")
    assert res.code == 0
    assert "CREATE TABLE users" in res.out and "CREATE INDEX idx_posts_user" in res.out
    data = json.loads(db_target.cli(d, "status", "--json").out)
    assert data["counts"]["pending"] == 3
    db_target.cli(d, "up", "--no-backup")
    res = db_target.cli(d, "rollback", "--steps", "2", "--dry-run")
    assert res.code == 0 and res.out.index("DROP INDEX") < res.out.index("DROP TABLE posts")
    data = json.loads(db_target.cli(d, "status", "--json").out)
    assert data["counts"]["applied"] == 3


def test_rollback_refuses_without_tty_or_yes(db_target: DbTarget, mdirs: MigrationDirs) -> None:
    d = school_set(mdirs)
    db_target.cli(d, "up", "--no-backup")
    res = db_target.cli(d, "rollback", "--no-backup")
    assert res.code == 2 and "no terminal" in res.err
    assert json.loads(db_target.cli(d, "status", "--json").out)["counts"]["applied"] == 3
    res = db_target.cli(d, "rollback", "--yes", "--no-backup")
    assert res.code == 0, res.err


def test_usage_and_config_errors_exit_2(tmp_path: Path, mdirs: MigrationDirs) -> None:
    assert run_cli("--database", "mysql://x/y", "status").code == 2
    assert run_cli("rollback", "--steps", "x").code == 2
    bad = tmp_path / "bad.toml"
    bad.write_text("[targets.primary]\nurl = \n")
    res = run_cli("--config", str(bad), "status")
    assert res.code == 2 and "bad.toml" in res.err
    (mdirs.migrations / "20250101_000100_x.sql").write_bytes(b"SELECT '\xff';")
    res = run_cli("--database", f"sqlite:///{tmp_path / 'x.db'}", *mdirs.args(), "status")
    assert res.code == 2 and "20250101_000100_x.sql:1: not UTF-8" in res.err


def test_config_targets_env_override_and_masking(tmp_path: Path, mdirs: MigrationDirs) -> None:
    d = school_set(mdirs)
    cfg = tmp_path / "malnu.toml"
    cfg.write_text(
        'default_target = "primary"\n'
        "[targets.primary]\n"
        f'url = "sqlite:///{tmp_path / "primary.db"}"\n'
        f'migrations_dir = "{d.migrations}"\nrollback_dir = "{d.rollback}"\n'
        "[targets.analytics]\n"
        'url = "postgresql://malnu:s3cret-pw@127.0.0.1:1/analytics"\n'
    )
    res = run_cli("--config", str(cfg), "status", "--json")
    assert res.code == 0 and json.loads(res.out)["target"] == "primary"
    other = tmp_path / "other.db"
    res = run_cli(
        "--config", str(cfg), "status", "--json", env={"MALNU_DATABASE_URL": f"sqlite:///{other}"}
    )
    assert res.code == 0 and str(other) in json.loads(res.out)["url"]
    res = run_cli("--config", str(cfg), "--target", "analytics", "status")
    assert res.code == 1  # nothing listens on port 1
    assert "s3cret-pw" not in res.err + res.out and "***" in res.err


def test_embedded_default_without_any_config(tmp_path: Path) -> None:
    res = run_cli("status", "--json")  # cwd is the repo: ./migrations is the school's set
    assert res.code == 0, res.err
    data = json.loads(res.out)
    assert data["target"] == "local" and "malnu-tui/malnu.db" in data["url"]
    assert len(data["migrations"]) >= 7


def test_create_writes_a_pair(tmp_path: Path, mdirs: MigrationDirs) -> None:
    res = run_cli(*mdirs.args(), "create", "Add user profiles")
    assert res.code == 0, res.err
    mig, rb = (Path(p) for p in res.out.split())
    assert mig.parent == mdirs.migrations and mig.name.endswith("_add_user_profiles.sql")
    assert rb.parent == mdirs.rollback and rb.name[:15] == mig.name[:15]
    assert "-- Description: Add user profiles" in mig.read_text()


def test_create_never_writes_into_the_bundled_set(tmp_path: Path) -> None:
    """README "The CLI": `create` never edits the set bundled in the package. With
    `--migrations-dir` alone (or MALNU_MIGRATIONS_DIR, or a target's migrations_dir without
    rollback_dir) the rollback directory stayed the bundled one, and `create` wrote the
    rollback skeleton into the installed package. Refused now, exit 2, nothing written."""
    import subprocess

    from malnu_tui.engine.config import BUNDLED_PRIMARY

    bundled = BUNDLED_PRIMARY / "rollback"
    before = sorted(p.name for p in bundled.iterdir())
    db = ("--database", f"sqlite:///{tmp_path / 'x.db'}")
    (tmp_path / "supabase" / "migrations").mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALNU_")}
    try:
        for argv, extra in (
            (("--migrations-dir", "supabase/migrations"), {}),
            ((), {"MALNU_MIGRATIONS_DIR": "supabase/migrations"}),
        ):
            res = subprocess.run(
                [*CLI, *db, *argv, "create", "add_x"],
                cwd=tmp_path,
                env={**env, **extra},
                capture_output=True,
                text=True,
                stdin=subprocess.DEVNULL,
                timeout=60,
            )
            assert res.returncode == 2 and res.stdout == "", res.stderr
            assert "bundled in the package" in res.stderr and "--rollback-dir" in res.stderr
            assert list((tmp_path / "supabase" / "migrations").iterdir()) == []
        res = subprocess.run(
            [*CLI, *db, "--migrations-dir", "supabase/migrations", "--rollback-dir",
             "supabase/rollback", "create", "add_x"],
            cwd=tmp_path, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL,
            timeout=60,
        )  # fmt: skip
        assert res.returncode == 0, res.stderr
        assert [Path(p).parent.name for p in res.stdout.split()] == ["migrations", "rollback"]
    finally:
        for p in bundled.iterdir():  # (without the fix: the skeleton written there)
            if p.name not in before:
                p.unlink()
    assert sorted(p.name for p in bundled.iterdir()) == before


def test_a_mistyped_migrations_dir_is_said_as_that_not_as_a_missing_rollback_dir(
    tmp_path: Path,
) -> None:
    """README "Migration files": a mistyped `--migrations-dir` is refused, exit 2, before the
    database is opened. Given alone, it was refused as `no rollback directory for nope …`
    with the hint to add `--rollback-dir`, which only led to being told next that the
    migrations directory does not exist."""
    db = tmp_path / "school.db"
    for command in (["status"], ["up", "--yes"]):
        res = run_inproc(
            "--database", f"sqlite:///{db}", "--migrations-dir", str(tmp_path / "nope"), *command
        )
        assert res.code == 2, res.err
        first = res.err.splitlines()[0]
        assert first == (
            f"error: {tmp_path / 'nope'}: migrations directory does not exist; nothing was "
            "opened or created"
        ), res.err
        assert not db.exists()


def test_a_migrations_dir_is_never_paired_with_another_sets_rollback_files(
    tmp_path: Path,
) -> None:
    """README "The CLI": `--migrations-dir X` alone (or MALNU_MIGRATIONS_DIR, or a target's
    migrations_dir without rollback_dir) kept the default rollback directory: the set bundled
    in the package, or ./rollback beside ./migrations. `rollback` of X's 20251124_120500 ran
    the bundled example's `DROP TABLE users`; `up` recorded its checksum, `status` and `check`
    compared X's files with it. Every command refuses that pairing now, before the database
    is opened (nothing created); with a rollback directory given it works."""
    import subprocess

    x = tmp_path / "app" / "migrations"
    x.mkdir(parents=True)
    (x / "20251124_120500_create_users.sql").write_text("CREATE TABLE users (id INTEGER);\n")
    db = tmp_path / "school.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALNU_")}
    env["MALNU_BACKUP_DIR"] = str(tmp_path / "backups")
    cfg = tmp_path / "malnu.toml"
    cfg.write_text(f'[targets.school]\nurl = "sqlite:///{db}"\nmigrations_dir = "{x}"\n')

    def run(argv: list[str], extra: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
        res = run_cli_with({**env, **extra}, *argv, cwd=cwd)  # forked from the fork server
        return subprocess.CompletedProcess(argv, res.code, res.out, res.err)

    url = ("--database", f"sqlite:///{db}")
    ways: list[tuple[list[str], dict[str, str]]] = [
        ([*url, "--migrations-dir", str(x)], {}),
        ([*url], {"MALNU_MIGRATIONS_DIR": str(x)}),
        (["--config", str(cfg)], {}),
    ]
    commands = (["rollback", "--yes"], ["up", "--yes"], ["status"], ["check"], ["plan"])
    for cwd in (tmp_path, REPO):  # the bundled set's rollback files; ./rollback's
        for argv, extra in ways:
            for command in commands:
                res = run([*argv, *command], extra, cwd)
                assert not db.exists(), (argv, command)
                if command == ["check"]:  # a monitoring plugin: UNKNOWN, exit 3
                    assert res.returncode == 3, (argv, res.stdout, res.stderr)
                    assert f"no rollback directory for {x}" in res.stdout
                    continue
                assert res.returncode == 2, (argv, command, res.stdout, res.stderr)
                lines = res.stderr.splitlines()
                assert lines[0].startswith(f"error: no rollback directory for {x}"), lines
                assert "--rollback-dir" in lines[1], lines
    assert "set bundled in the package" in run(ways[0][0] + ["status"], {}, tmp_path).stderr
    assert f"{REPO / 'rollback'}, the pair of" in run(ways[0][0] + ["status"], {}, REPO).stderr
    rb = tmp_path / "app" / "rollback"
    rb.mkdir()
    (rb / "20251124_120500_create_users.sql").write_text("DROP TABLE users;\n")
    for argv, extra in ways:
        for more, more_env in (
            (["--rollback-dir", str(rb)], {}),
            ([], {"MALNU_ROLLBACK_DIR": str(rb)}),
        ):
            res = run([*argv, *more, "up", "--yes", "--no-backup"], {**extra, **more_env}, tmp_path)
            assert res.returncode == 0, res.stderr
            res = run(
                [*argv, *more, "rollback", "--yes", "--no-backup"], {**extra, **more_env}, tmp_path
            )
            assert res.returncode == 0, res.stderr
    # The default pair itself (./migrations with ./rollback, a config naming it) stays fine.
    (tmp_path / "migrations").mkdir()
    (tmp_path / "malnu.toml").write_text(
        f'[targets.school]\nurl = "sqlite:///{db}"\nmigrations_dir = "migrations"\n'
    )
    assert run(["status"], {}, tmp_path).returncode == 0


def test_verify_of_a_sqlite_path_that_names_no_file_is_refused(
    tmp_path: Path, mdirs: MigrationDirs
) -> None:
    """A typo in CI's `malnu-tui --database sqlite:///srv/app.db verify`: the file (and its
    folder) was created with the tool's tables and verify said "ok" (exit 0), for ever, as
    `backup create` did before it was refused (README "Backups")."""
    d = school_set(mdirs)
    missing = tmp_path / "srv" / "app.db"
    for json_flag in ((), ("--json",)):
        res = run_cli("--database", f"sqlite:///{missing}", *d.args(), "verify", *json_flag)
        assert res.code == 2 and res.out == "", res.out
        assert f"database file {missing} does not exist (nothing was created)" in res.err
    assert not missing.parent.exists()


@pytest.mark.parametrize(
    "argv",
    [
        ("rollback", "--yes"),
        ("repair", "--yes"),
        ("clear-failed", "20250101_000100", "--yes"),
        ("unlock", "--yes"),
        ("backup", "prune", "--keep", "1", "--yes"),
    ],
)
def test_commands_on_what_a_database_holds_refuse_a_sqlite_path_naming_no_file(
    tmp_path: Path, mdirs: MigrationDirs, argv: tuple[str, ...]
) -> None:
    """A typo in a rollback script, or a cron prune while app.db is moved aside to restore
    it: the path was made into an empty database (the app's path included) and the command
    said "nothing to roll back" / "nothing to prune", exit 0."""
    d = school_set(mdirs)
    missing = tmp_path / "srv" / "app.db"
    res = run_cli("--database", f"sqlite:///{missing}", *d.args(), *argv)
    assert res.code == 2, res.err
    assert f"database file {missing} does not exist (nothing was created)" in res.err, res.err
    assert not missing.parent.exists()


def test_status_shows_wrangler_history(tmp_path: Path, mdirs: MigrationDirs) -> None:
    import sqlite3

    d = school_set(mdirs)
    db = tmp_path / "wrangled.db"
    conn = sqlite3.connect(db)
    conn.execute(
        "CREATE TABLE d1_migrations (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE, "
        "applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)"
    )
    conn.execute("INSERT INTO d1_migrations (name) VALUES ('20250101_000100_create_users.sql')")
    conn.commit()
    conn.close()
    res = run_cli("--database", f"sqlite:///{db}", *d.args(), "status", "--json")
    assert res.code == 0, res.err
    rows = json.loads(res.out)["wrangler"]
    assert rows[0]["name"] == "20250101_000100_create_users.sql"
    assert rows[0]["in_files"] and not rows[0]["tracked"]
    res = run_cli("--database", f"sqlite:///{db}", *d.args(), "status")
    assert "malnu-tui adopt" in res.err


def test_sqlite_commands_stay_light(tmp_path: Path) -> None:
    """Start-up time: a SQLite status never imports Textual, httpx, psycopg or sqlglot."""
    import subprocess
    import sys

    code = (
        "import sys, io, contextlib\n"
        "from malnu_tui.cli import main\n"
        "out, err = io.StringIO(), io.StringIO()\n"
        "with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):\n"
        f"    main(['--database', 'sqlite:///{tmp_path / 'light.db'}', 'status', '--json'])\n"
        "print(sorted(m for m in ('textual', 'httpx', 'psycopg', 'sqlglot', 'rich')"
        " if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_command_table_matches_what_modules_register() -> None:
    """COMMANDS (used to register only the module a run needs) lists every command exactly."""
    import argparse

    from malnu_tui.cli import COMMANDS, build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert set(sub.choices) == {c for cmds in COMMANDS.values() for c in cmds}
    for module, cmds in COMMANDS.items():
        for cmd in cmds:
            one = build_parser([cmd])
            one_sub = next(a for a in one._actions if isinstance(a, argparse._SubParsersAction))
            assert cmd in one_sub.choices, (module, cmd)


def test_every_migration_command(db_target: DbTarget, mdirs: MigrationDirs) -> None:
    """The migration commands as an operator's script runs them, on each backend: a failed
    migration (exit 1, file and line, nothing of it left), clear-failed, drift (verify and up
    exit 1, repair), rollback, unlock and the log."""
    d = school_set(mdirs)
    res = db_target.cli(d, "up", "--no-backup")
    assert res.code == 0, res.err
    d.add(
        "20250101_000400", "bad", "CREATE TABLE bad (id INTEGER);\nINSERT INTO nowhere VALUES (1);"
    )
    res = db_target.cli(d, "up", "--no-backup")
    assert res.code == 1 and "20250101_000400_bad.sql failed at line 2" in res.err, res.err
    assert "nowhere" in res.err and "Traceback" not in res.err
    status = json.loads(db_target.cli(d, "status", "--json").out)
    bad = {m["filename"]: m for m in status["migrations"]}["20250101_000400_bad.sql"]
    assert bad["state"] == "failed" and "nowhere" in bad["error_message"]
    assert all(
        k in bad
        for k in ("version", "checksum", "executed_at", "execution_time_ms", "rollback_file")
    )
    backend = db_target.open(d)
    assert "bad" not in backend.table_names()  # nothing of the failed migration is left
    backend.close()

    assert db_target.cli(d, "clear-failed", "20250101_000400_bad.sql").code == 2  # needs --yes
    res = db_target.cli(d, "clear-failed", "20250101_000400_bad.sql", "--yes")
    assert res.code == 0, res.err
    (d.migrations / "20250101_000400_bad.sql").unlink()

    first = d.migrations / "20250101_000100_create_users.sql"
    first.write_text(first.read_text() + "-- edited\n")
    res = db_target.cli(d, "verify", "--json")
    assert res.code == 1 and json.loads(res.out)["drifted"][0]["filename"] == first.name
    assert db_target.cli(d, "up", "--no-backup").code == 1  # drift blocks up
    res = db_target.cli(d, "repair", "--yes")
    assert res.code == 0, res.err
    assert db_target.cli(d, "verify").code == 0

    res = db_target.cli(d, "rollback", "--steps", "2", "--yes", "--no-backup")
    assert res.code == 0, res.err
    status = json.loads(db_target.cli(d, "status", "--json").out)
    assert [m["state"] for m in status["migrations"]] == ["applied", "pending", "pending"]
    assert db_target.cli(d, "unlock", "--yes").code == 0
    log = json.loads(db_target.cli(d, "log", "--json").out)
    actions = [e["action"] for e in log]
    assert {"apply", "rollback", "repair", "clear-failed"} <= set(actions)
    failed = [e for e in log if e["action"] == "apply" and e["outcome"] == "failed"]
    assert failed and "@" in failed[0]["actor"]


def test_progress_lines_are_written_in_batches_and_none_is_held_back() -> None:
    """`up` writes its progress lines in batches (a thousand small migrations are not
    thousands of writes into a pipe), yet a line waiting alone — a long migration's "…"
    line — goes out by itself (the writer's thread), and every line is out at the end."""
    import io
    import time

    from malnu_tui.cli.paced import PacedLines

    class Counting(io.StringIO):
        writes = 0

        def write(self, s: str) -> int:
            self.writes += 1
            return super().write(s)

    stream = Counting()
    with PacedLines(stream, interval=0.05) as out:
        for i in range(200):
            out.line(f"line {i}")
        deadline = time.monotonic() + 30
        while not stream.getvalue().endswith("line 199\n") and time.monotonic() < deadline:
            time.sleep(0.01)  # nobody writes: the thread must
        assert stream.getvalue().endswith("line 199\n")
        out.line("last")
    assert stream.getvalue() == "".join(f"line {i}\n" for i in range(200)) + "last\n"
    assert stream.writes < 100


def test_a_failed_run_still_reports_what_is_durable(
    db_target: DbTarget, mdirs: MigrationDirs
) -> None:
    """`up --json` that stops at a failing file: the report of what was applied, and what
    failed, on stdout (exit 1, the error on stderr); with a safety backup its id is named."""
    mdirs.add("20250101_000100", "good", "CREATE TABLE good (id INTEGER);", "DROP TABLE good;")
    mdirs.add(
        "20250101_000200",
        "bad",
        "CREATE TABLE bad (id INTEGER);\nINSERT INTO nowhere VALUES (1);",
        "DROP TABLE bad;",
    )
    backup = [] if db_target.kind == "sqlite" else ["--no-backup"]
    res = db_target.cli(mdirs, "up", "--json", *backup)
    assert res.code == 1 and "Traceback" not in res.err, res.err
    report = json.loads(res.out)
    assert [m["filename"] for m in report["applied"]] == ["20250101_000100_good.sql"]
    assert report["failed"]["filename"] == "20250101_000200_bad.sql"
    assert report["failed"]["line"] == 2 and "nowhere" in report["failed"]["error"]
    if backup:
        assert report["backup_id"] is None
    else:
        assert report["backup_id"] and f"safety backup: {report['backup_id']}" in res.err


def test_a_flag_and_the_environment_naming_different_databases_are_refused(
    tmp_path: Path, mdirs: MigrationDirs
) -> None:
    d = school_set(mdirs)
    cfg = tmp_path / "malnu.toml"
    cfg.write_text(
        f'[targets.a]\nurl = "sqlite:///{tmp_path / "a.db"}"\n'
        f'[targets.b]\nurl = "sqlite:///{tmp_path / "b.db"}"\n'
        f'migrations_dir = "{d.migrations}"\nrollback_dir = "{d.rollback}"\n'
    )
    base = ("--config", str(cfg), "--target", "b", "status", "--json")
    c_url = f"sqlite:///{tmp_path / 'c.db'}"
    res = run_cli(*base, env={"MALNU_DATABASE_URL": c_url})
    assert res.code == 2, res.err
    assert res.err.count("\n") == 1 and "--target b" in res.err and "MALNU_DATABASE_URL" in res.err
    assert not (tmp_path / "c.db").exists() and not (tmp_path / "b.db").exists()
    res = run_cli(*base, env={"MALNU_TARGET": "a"})
    assert res.code == 2 and "MALNU_TARGET=a" in res.err
    # Agreeing (the same file by another spelling) is no conflict; the flag's target is used.
    res = run_cli(*base, env={"MALNU_DATABASE_URL": f"sqlite:{tmp_path / 'x' / '..' / 'b.db'}"})
    assert res.code == 0, res.err
    assert json.loads(res.out)["target"] == "b"
    # The directories: a flag and its variable naming different directories are refused too.
    res = run_cli(
        *base, "--migrations-dir", str(d.migrations), env={"MALNU_MIGRATIONS_DIR": str(tmp_path)}
    )
    assert res.code == 2 and "MALNU_MIGRATIONS_DIR" in res.err and "--migrations-dir" in res.err
    res = run_cli(*base, env={"MALNU_ROLLBACK_DIR": str(tmp_path)})  # no flag: the variable
    assert res.code == 0, res.err


def _two_targets(tmp_path: Path, d: MigrationDirs) -> Path:
    """A config of targets a and b (b with lint = "enforce": options that must not reach
    another database)."""
    cfg = tmp_path / "malnu.toml"
    cfg.write_text(
        f'[targets.a]\nurl = "sqlite:///{tmp_path / "a.db"}"\n'
        f'[targets.b]\nurl = "sqlite:///{tmp_path / "b.db"}"\nlint = "enforce"\n'
        f'migrations_dir = "{d.migrations}"\nrollback_dir = "{d.rollback}"\n'
    )
    return cfg


def test_both_variables_naming_different_databases_are_refused(
    tmp_path: Path, mdirs: MigrationDirs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MALNU_DATABASE_URL and MALNU_TARGET exported in two places (a profile, a cron line): the
    URL used to win with that target's options (production, lint = "enforce", its schema)."""
    d = school_set(mdirs)
    cfg = _two_targets(tmp_path, d)
    monkeypatch.setenv("MALNU_TARGET", "b")
    monkeypatch.setenv("MALNU_DATABASE_URL", f"sqlite:///{tmp_path / 'c.db'}")
    for argv in (("status", "--json"), ("up", "--yes")):
        res = run_inproc("--config", str(cfg), *argv)
        assert res.code == 2 and res.out == "", res.err
        assert res.err.count("\n") == 1 and "MALNU_DATABASE_URL=sqlite:///" in res.err, res.err
        assert "MALNU_TARGET=b" in res.err and "name different databases" in res.err, res.err
    assert sorted(p.name for p in tmp_path.glob("*.db")) == []
    # The same database by another spelling: no conflict; the target (its name, its options).
    monkeypatch.setenv("MALNU_DATABASE_URL", f"sqlite:{tmp_path / 'x' / '..' / 'b.db'}")
    res = run_inproc("--config", str(cfg), "status", "--json")
    assert res.code == 0 and json.loads(res.out)["target"] == "b", res.err


def test_database_and_target_flags_naming_different_databases_are_refused(
    tmp_path: Path, mdirs: MigrationDirs
) -> None:
    """`--database X --target b`: X was used with b's options (production, lint = "enforce",
    its schema, a D1 token) — refused as a flag against a variable is; the same database by
    another spelling is b itself."""
    d = school_set(mdirs)
    cfg = _two_targets(tmp_path, d)
    other = f"sqlite:///{tmp_path / 'c.db'}"
    for argv in (("status", "--json"), ("up", "--yes")):
        res = run_inproc("--config", str(cfg), "--database", other, "--target", "b", *argv)
        assert res.code == 2 and res.out == "", res.err
        assert "--target b" in res.err and "name different databases" in res.err, res.err
    assert sorted(p.name for p in tmp_path.glob("*.db")) == []
    same = f"sqlite:{tmp_path / 'x' / '..' / 'b.db'}"
    res = run_inproc("--config", str(cfg), "--database", same, "--target", "b", "status", "--json")
    assert res.code == 0 and json.loads(res.out)["target"] == "b", res.err


def test_a_url_naming_another_configured_targets_database_is_that_target(
    tmp_path: Path, mdirs: MigrationDirs
) -> None:
    """README "Configuration": a `--database` or `MALNU_DATABASE_URL` naming a configured
    target's database is that target, with its name and backup store. Only the default
    target was matched: `--database <b's file> up` ran a's migration set on b's database (a's
    migrations applied to b, or "drifted" when their versions met), with a's options, and its
    backups went to a store named after the URL, which `check` of b never reads."""
    d = school_set(mdirs)
    cfg = _two_targets(tmp_path, d)  # a (the default: the tool's bundled set), b (school_set)
    b_url = f"sqlite:{tmp_path / 'x' / '..' / 'b.db'}"
    base = ("--config", str(cfg), "--yes")
    assert run_cli(*base, "--target", "b", "up").code == 0
    for how in ({"argv": ("--database", b_url)}, {"env": {"MALNU_DATABASE_URL": b_url}}):
        argv, env = how.get("argv", ()), how.get("env")
        res = run_cli(*base, *argv, "status", "--json", env=env)  # type: ignore[arg-type]
        assert res.code == 0, res.err
        status = json.loads(res.out)
        assert status["target"] == "b", status["target"]
        assert [m["state"] for m in status["migrations"]] == ["applied"] * 3, status
        res = run_cli(*base, *argv, "up", "--json", env=env)  # type: ignore[arg-type]
        assert res.code == 0 and json.loads(res.out)["applied"] == [], res.err
    res = run_cli(*base, "--database", b_url, "backup", "create")
    assert res.code == 0, res.err
    listed = run_cli(*base, "--target", "b", "backup", "list", "--json")
    assert res.out.strip() in [m["id"] for m in json.loads(listed.out)], listed.err
    with sqlite3.connect(tmp_path / "b.db") as conn:
        applied = [r[0] for r in conn.execute("SELECT filename FROM migrations ORDER BY 1")]
    conn.close()
    assert applied == sorted(p.name for p in d.migrations.glob("*.sql")), applied


def _strict_json(text: str) -> object:
    """``json.loads`` as every other parser reads JSON: NaN and Infinity are not JSON (jq -e,
    Go's encoding/json and JavaScript's JSON.parse refuse them)."""

    def refuse(word: str) -> object:
        raise AssertionError(f"not JSON: {word}")

    return json.loads(text, parse_constant=refuse)


def test_every_json_output_is_json_on_stdout(tmp_path: Path, mdirs: MigrationDirs) -> None:
    """With --json, each migration command prints one JSON document on stdout, also when it
    has nothing to do (a script pipes it to jq): rollback with nothing applied, repair,
    clear-failed and unlock (they printed nothing, or repair a bare file name)."""
    import sqlite3

    d = school_set(mdirs)
    db = tmp_path / "primary.db"
    base = ["--database", f"sqlite:///{db}", *d.args()]

    def run_json(*args: str, code: int = 0) -> object:
        res = run_cli(*base, *args, "--json")
        assert res.code == code and "Traceback" not in res.err, res.err
        return _strict_json(res.out)

    assert run_cli(*base, "status").code == 0  # the database (a path naming no file: exit 2)
    assert run_json("rollback") == {"rolled_back": [], "skipped": [], "backup_id": None}
    assert len(run_json("up", "--no-backup")["applied"]) == 3  # type: ignore[index]
    assert run_json("up") == {"applied": [], "skipped": [], "backup_id": None}

    assert run_json("repair", "--yes") == {"repaired": []}
    first = d.migrations / "20250101_000100_create_users.sql"
    first.write_text(first.read_text() + "-- edited\n")
    assert run_json("repair", "--yes") == {"repaired": [first.name]}

    d.add("20250101_000400", "bad", "INSERT INTO nowhere VALUES (1);")
    run_json("up", "--no-backup", code=1)
    cleared = run_json("clear-failed", "20250101_000400_bad.sql", "--yes")
    assert cleared["cleared"] == "20250101_000400_bad.sql"  # type: ignore[index]
    assert "nowhere" in cleared["error_message"]  # type: ignore[index]

    assert run_json("unlock") == {"released": False, "lock": None}
    with sqlite3.connect(db) as conn:
        conn.execute(
            "INSERT INTO malnu_lock (id, owner, host, pid, acquired_at, expires_at) "
            "VALUES (1, 'ops@other', 'other-box', 4242, '2026-01-01 00:00:00', "
            "'2999-01-01 00:00:00')"
        )
    conn.close()
    released = run_json("unlock", "--yes")
    assert released["released"] is True  # type: ignore[index]
    assert released["lock"]["owner"] == "ops@other" and released["lock"]["pid"] == 4242  # type: ignore[index]
    # its times with their offset (the row holds '2026-01-01 00:00:00', UTC: kept so)
    assert released["lock"]["acquired_at"] == "2026-01-01T00:00:00+00:00"  # type: ignore[index]


def test_json_has_no_nan_where_a_figure_does_not_exist(
    sqlite_url: str, mdirs: MigrationDirs
) -> None:
    """`check --json` for a target with no backup: the backup's age is null (it printed NaN,
    which jq -e, Go and JavaScript refuse as JSON); the Prometheus file keeps NaN."""
    d = school_set(mdirs)
    assert run_cli("--database", sqlite_url, *d.args(), "up", "--no-backup").code == 0
    res = run_cli("--database", sqlite_url, *d.args(), "check", "--json")
    assert res.code == 2, res.err  # CRITICAL: no backup at all
    health = _strict_json(res.out)
    (metrics,) = (t["metrics"] for t in health["targets"].values())  # type: ignore[attr-defined]
    assert metrics["backup_age_seconds"] is None


def test_the_console_without_a_terminal_is_a_usage_error() -> None:
    """`malnu-tui` with no command from cron, CI or `ssh host malnu-tui` (no -t): one error
    line and exit 2 at once, not a console drawn into a pipe waiting for keys for ever."""
    for args in ((), ("--json",)):
        res = run_cli(*args, timeout=20)
        assert res.code == 2, res
        assert res.err.startswith("error: the console needs a terminal: stdin and stderr")
        assert res.out == "" and "\x1b[" not in res.err


def test_an_error_quoted_from_the_driver_is_one_error_line() -> None:
    """libpq's "Connection refused" comes with a second, tab-indented line ("Is the server
    running…"): the CLI's error is still one `error:` line a script or a cron mail reads whole."""
    res = run_cli("--database", "postgresql://ops:s3cret@127.0.0.1:1/school", "status")
    assert res.code == 1 and res.out == ""
    lines = res.err.splitlines()
    assert [line.split(":")[0] for line in lines] in (["error"], ["error", "hint"]), res.err
    assert "Connection refused; Is the server running" in lines[0]
    assert "s3cret" not in res.err


def test_doctor_reports_a_config_that_does_not_load_as_its_failed_check(tmp_path: Path) -> None:
    """`doctor` checks the config (README: one line per check, OK or FAIL with the fix; exit 1
    when one fails): a misspelt key is its `FAIL config:` line and exit 1, with --json too — it
    was the generic `error:` and exit 2, so its config check could never fail."""
    cfg = tmp_path / "malnu.toml"
    cfg.write_text(
        f'[targets.p]\nurl = "sqlite:///{tmp_path / "p.db"}"\n[monitor]\nslow_migration_secs = 3\n'
    )
    res = run_cli("--config", str(cfg), "doctor")
    assert res.code == 1, res.err
    assert res.out.startswith(f"FAIL config: {cfg}: unknown key [monitor] slow_migration_secs")
    assert "did you mean 'slow_migration_seconds'" in res.out and "1 of 1 checks failed" in res.err
    # The fix points where the keys are written down (it said `malnu-tui --help`, which lists none).
    assert "(fix: fix the file as the message says (malnu.example.toml" in res.out, res.out
    example = (REPO / "malnu.example.toml").read_text(encoding="utf-8")
    assert "[monitor]" in example and "slow_migration_seconds" in example
    assert "slow_migration_seconds" not in run_cli("--help").out
    res = run_cli("--config", str(cfg), "doctor", "--json")
    assert res.code == 1
    report = _strict_json(res.out)
    assert report["ok"] is False  # type: ignore[index]
    assert [(c["check"], c["ok"]) for c in report["checks"]] == [("config", False)]  # type: ignore[index]


def test_import_and_sync_stop_on_a_live_lock_before_asking(tmp_path: Path) -> None:
    """As every destructive command (issue 9: "and later import and sync"): a live operator's
    lock is exit 3 before the prompt — they asked first (exit 2 without a terminal; at one,
    the operator typed the database name, then was told the database is locked)."""
    import sqlite3

    src, dst = tmp_path / "src.db", tmp_path / "dst.db"
    with sqlite3.connect(src) as conn:
        conn.execute("CREATE TABLE kelas (id INTEGER PRIMARY KEY, nama TEXT NOT NULL)")
        conn.execute("INSERT INTO kelas VALUES (1, 'X-IPA-1')")
    conn.close()
    assert run_cli("--database", f"sqlite:///{dst}", "status").code == 0  # the tool's tables
    with sqlite3.connect(dst) as conn:
        conn.execute(
            "CREATE TABLE kelas (id INTEGER PRIMARY KEY, nama TEXT NOT NULL, synced_at DATETIME)"
        )
        conn.execute(
            "INSERT INTO malnu_lock (id, owner, host, pid, acquired_at, expires_at, purpose) "
            "VALUES (1, 'ops@other', 'other-box', 4242, '2026-01-01 00:00:00', "
            "'2999-01-01 00:00:00', 'up')"
        )
    conn.close()
    csv = tmp_path / "kelas.csv"
    csv.write_text("id,nama\n2,X-IPS-2\n", encoding="utf-8")
    for args in (
        ("--database", f"sqlite:///{dst}", "import", str(csv), "--table", "kelas"),
        ("sync", "--from", f"sqlite:///{src}", "--to", f"sqlite:///{dst}", "--tables", "kelas"),
    ):
        res = run_cli(*args)
        assert res.code == 3, (args, res.err)
        assert "ops@other on other-box" in res.err and "refusing" not in res.err, res.err


def test_log_says_which_actions_there_are_when_the_one_asked_for_matched_nothing(
    sqlite_url: str, mdirs: MigrationDirs
) -> None:
    """`log --action rolback` (a typo of README's `log --action rollback`) printed an empty
    table, exit 0, as if no rollback had ever run: it now says so, naming the actions the trail
    holds; a filter that matches says nothing more."""
    d = school_set(mdirs)
    base = ["--database", sqlite_url, *d.args()]
    assert run_cli(*base, "up", "--yes").code == 0
    assert run_cli(*base, "rollback", "--yes").code == 0
    for json_flag in ([], ["--json"]):
        res = run_cli(*base, "log", "--action", "rolback", *json_flag)
        assert res.code == 0 and "rollback" not in res.out, res.out
        assert "note: no audit row has action 'rolback'; the newest 2,000 rows have: " in res.err
        assert "apply, backup, rollback, run" in res.err, res.err
    res = run_cli(*base, "log", "--action", "rollback")
    assert res.code == 0 and "20250101_000300" in res.out and "note:" not in res.err, res.err
