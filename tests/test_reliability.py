"""Hostile and mistaken input (issue 10): every bad value is one ``error:`` line naming it,
exit 2, and nothing changed; nothing is silently skipped or silently defaulted."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.fixtures_core import MigrationDirs, run_cli, school_set
from tests.fixtures_d1 import D1Target
from tests.inproc import run_inproc


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "-"


def one_error(err: str, *needles: str) -> None:
    """The CLI contract for bad input: no traceback, exactly one ``error:`` line naming it."""
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], (needle, err)


@pytest.fixture
def applied(tmp_path: Path, mdirs: MigrationDirs) -> tuple[list[str], Path]:
    """The school set applied to a SQLite file: (base args, the database file)."""
    d = school_set(mdirs)
    db = tmp_path / "primary.db"
    base = ["--database", f"sqlite:///{db}", *d.args()]
    assert run_inproc(*base, "up", "--no-backup").code == 0
    return base, db


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["rollback", "--to", "yesterday", "--yes"], "'yesterday'"),
        (["up", "--to", "notaversion", "--yes"], "'notaversion'"),
        (["recover", "--to", "-99999999999d", "--yes"], "'-99999999999d'"),
        (["recover", "--to", "0001-01-01T00:00:00+01:00", "--yes"], "0001-01-01"),
        (["recover", "--to", "next tuesday", "--yes"], "'next tuesday'"),
    ],
)
def test_bad_versions_and_times_are_one_error_line(
    applied: tuple[list[str], Path], isolated_env: Path, argv: list[str], named: str
) -> None:
    base, db = applied
    before = digest(db)
    res = run_inproc(*base, *argv)
    assert res.code == 2
    one_error(res.err, named)
    assert digest(db) == before
    backups = list(isolated_env.rglob("backups/*/*"))
    assert backups == [], "nothing is backed up before the input is read"


def test_bad_database_paths_are_exit_2(tmp_path: Path, mdirs: MigrationDirs) -> None:
    school_set(mdirs)
    regular = tmp_path / "regular-file"
    regular.write_text("keep me")
    for url, named in [
        (f"sqlite:///{regular}/x.db", str(regular)),
        (f"sqlite:///{tmp_path}", str(tmp_path)),
    ]:
        res = run_inproc("--database", url, *mdirs.args(), "status")
        assert res.code == 2, res.err
        one_error(res.err, named)
    assert regular.read_text() == "keep me"


def test_empty_option_values_are_exit_2(tmp_path: Path, mdirs: MigrationDirs) -> None:
    """``--database "$UNSET"`` must not fall back to the embedded default database."""
    d = school_set(mdirs)
    for option in ("--database", "--target", "--config", "--migrations-dir", "--rollback-dir"):
        res = run_inproc(*d.args(), option, "", "up", "--yes")
        assert res.code == 2, (option, res.err)
        one_error(res.err, option, "empty")
    embedded = list(tmp_path.rglob("malnu.db"))
    assert embedded == [], "the embedded default database was not touched"


def test_real_process_empty_database_and_traceback_free(sqlite_url: str) -> None:
    res = run_cli("--database", "", "status")
    assert res.code == 2 and res.out == ""
    one_error(res.err, "--database")
    assert run_cli("--database", sqlite_url, "status").code == 0  # (rollback makes no database)
    res = run_cli("--database", sqlite_url, "rollback", "--to", "yesterday", "--yes")
    assert res.code == 2
    one_error(res.err, "'yesterday'")


@pytest.mark.parametrize("kind", ["directory", "dangling symlink", "symlink loop", ".SQL"])
def test_non_files_named_like_migrations_are_errors(
    applied: tuple[list[str], Path], mdirs: MigrationDirs, kind: str
) -> None:
    base, db = applied
    before = digest(db)
    odd = mdirs.migrations / "20250102_000001_x.sql"
    if kind == ".SQL":  # a Windows tool's upper case: it was skipped, and `up` said up to date
        odd = odd.with_suffix(".SQL")
        odd.write_text("DROP TABLE users;")
    elif kind == "directory":
        odd.mkdir()
    elif kind == "dangling symlink":
        odd.symlink_to(mdirs.root / "gone.sql")
    else:
        odd.symlink_to(mdirs.migrations / "20250102_000001_x.sql")
    for argv in (["up", "--yes"], ["status"]):
        res = run_inproc(*base, *argv)
        assert res.code == 2, res.err
        one_error(res.err, str(odd))
    assert digest(db) == before
    odd_rb = mdirs.rollback / "20250101_000300_undo_again.sql"
    os.symlink(mdirs.root / "nowhere.sql", odd_rb)
    odd.unlink() if kind != "directory" else odd.rmdir()
    if kind == ".SQL":
        return
    res = run_inproc(*base, "rollback", "--yes", "--no-backup")
    assert res.code == 2
    one_error(res.err, str(odd_rb))
    assert digest(db) == before


def test_relative_times_as_documented(d1: D1Target, mdirs: MigrationDirs) -> None:
    """`d1 time-travel --to -30m` and `d1 bookmark --at -2h`, verbatim from --help/README."""
    d = school_set(mdirs)
    base = ["--database", d1.url, *d.args()]
    assert run_inproc(*base, "up", "--no-backup").code == 0
    for argv in (["d1", "bookmark", "--at", "-0s"], ["d1", "bookmark", "--at=-0s"]):
        res = run_inproc(*base, *argv)
        assert res.code == 0, res.err
        assert res.out.strip()
    now = datetime.now(UTC)
    for argv, ago in (
        (["d1", "bookmark", "--at", "-2h"], timedelta(hours=2)),
        (["d1", "time-travel", "--to", "-30m", "--dry-run"], timedelta(minutes=30)),
        (["recover", "--to", "-2h", "--dry-run"], timedelta(hours=2)),
    ):
        res = run_inproc(*base, *argv)
        # The database is younger than that: the server is asked for that time and says so.
        assert res.code == 1, res.err
        one_error(res.err, "No bookmark exists at or before")
        asked = datetime.fromisoformat(res.err.split("before ")[1].split()[0])
        assert abs(asked - (now - ago)) < timedelta(minutes=5), res.err
    res = run_inproc("d1", "time-travel", "--help")
    assert "-30m" in res.out
    status = json.loads(run_inproc(*base, "status", "--json").out)
    assert [m["state"] for m in status["migrations"]] == ["applied"] * 3


def test_rejected_token_hint_names_the_configured_variable(
    d1: D1Target, mdirs: MigrationDirs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = school_set(mdirs)
    cfg = tmp_path / "malnu.toml"
    cfg.write_text(
        f'[targets.prod]\nurl = "{d1.url}"\napi_token_env = "CF_TOKEN_PROD"\n'
        f'migrations_dir = "{d.migrations}"\nrollback_dir = "{d.rollback}"\n'
    )
    monkeypatch.setenv("CF_TOKEN_PROD", "wrong-" + "7" * 20)
    res = run_inproc("--config", str(cfg), "status")
    assert res.code == 2
    one_error(res.err, "rejected the API token")
    assert "hint: set CF_TOKEN_PROD " in res.err and "CLOUDFLARE_API_TOKEN" not in res.err
    assert "7" * 20 not in res.err


def test_every_documented_time_example_is_read(
    d1: D1Target, mdirs: MigrationDirs, applied: tuple[list[str], Path]
) -> None:
    """The time examples of the README and of --help, verbatim, reach the command (whatever
    it then decides about that time): never a usage error or "cannot read the time"."""
    import re
    import shlex

    from tests.fixtures_core import REPO

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    examples = [
        shlex.split(line.split("#")[0])[1:]
        for line in readme.splitlines()
        if line.startswith("malnu-tui ")
        and re.search(r" --(to|at) \S", line)
        and re.search(r"(recover|time-travel|bookmark)", line)
    ]
    for command, option in (
        ("d1 time-travel", "--to"),
        ("d1 bookmark", "--at"),
        ("recover", "--to"),
    ):
        help_text = run_inproc(*command.split(), "--help").out
        for value in re.findall(r"-\d+[smhdw]", help_text):
            examples.append([*command.split(), option, value])
    assert len(examples) >= 8, examples
    sqlite_base, _db = applied
    d1_base = ["--database", d1.url, *mdirs.args()]
    for example in examples:
        argv = [a for a in example if a not in ("--target", "production")]
        if argv[0] != "d1" and "--dry-run" not in argv:
            argv.append("--dry-run")  # recover: only the plan
        if argv[:2] == ["d1", "time-travel"] and "--dry-run" not in argv:
            argv.append("--dry-run")
        base = d1_base if argv[0] == "d1" else sqlite_base
        res = run_inproc(*base, *argv)
        assert "Traceback" not in res.err, (example, res.err)
        assert "argument" not in res.err, (example, res.err)
        assert "cannot read the time" not in res.err, (example, res.err)


def test_rollback_of_more_steps_than_applied_is_refused_with_the_count(
    applied: tuple[list[str], Path],
) -> None:
    base, db = applied  # 3 applied
    before = digest(db)
    res = run_inproc(*base, "rollback", "--steps", "999", "--yes", "--no-backup")
    assert res.code == 2
    one_error(res.err, "--steps 999", "only 3 migration(s) are applied")
    assert res.err.count("only 3 migration(s)") == 1, "said once, not as problem: then error:"
    assert "--steps 3" in res.err, "the hint says how to roll back all of them"
    assert digest(db) == before
    res = run_inproc(*base, "rollback", "--steps", "3", "--yes", "--no-backup")
    assert res.code == 0, res.err
    status = json.loads(run_inproc(*base, "status", "--json").out)
    assert [m["state"] for m in status["migrations"]] == ["pending"] * 3


def test_create_without_a_project_never_edits_the_bundled_set(tmp_path: Path) -> None:
    import subprocess

    from malnu_tui.engine.config import BUNDLED_PRIMARY
    from tests.fixtures_core import CLI

    before = sorted(p.name for p in (BUNDLED_PRIMARY / "migrations").iterdir())
    work = tmp_path / "work"  # no ./migrations, no config: the embedded default
    work.mkdir()
    proc = subprocess.run(
        [*CLI, "create", "add_guardians"], cwd=work, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (BUNDLED_PRIMARY / "migrations").iterdir()) == before
    created = [Path(line) for line in proc.stdout.split()]
    assert [p.parent for p in created] == [work / "migrations", work / "rollback"]
    assert all(p.exists() for p in created)
    assert "created ./migrations" in proc.stderr


def test_create_refused_without_a_project_says_nothing_was_created(tmp_path: Path) -> None:
    """A name too long for a file: `create` printed "no ./migrations here: creating
    ./migrations and ./rollback" above its error, although it created nothing. Now only the
    error line (exit 2), and no directory is made."""
    import subprocess

    from tests.fixtures_core import CLI

    work = tmp_path / "work"  # no ./migrations, no config: the embedded default
    work.mkdir()
    proc = subprocess.run(
        [*CLI, "create", "x" * 300], cwd=work, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2, proc.stderr
    assert "file systems allow 255" in proc.stderr
    assert "creat" not in proc.stderr.replace("`create`", ""), proc.stderr
    assert list(work.iterdir()) == []
