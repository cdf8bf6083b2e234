"""The commands malnu-tui prints for the operator to copy and run next (undo lines, hints),
copied as printed and run as real processes from another directory: each must act on the same
database (target, config, directories), never the default target, never fail for a token the
target's ``api_token_env`` gives, never print a secret."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest

from tests.fixtures_core import CLI, REPO, CliResult
from tests.fixtures_d1 import D1Target


def run_in(cwd: Path, *args: str, env: dict[str, str] | None = None) -> CliResult:
    """``malnu-tui ARGS`` as a real process run from ``cwd`` (not the repository)."""
    full = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    proc = subprocess.run(
        [*CLI, *args], capture_output=True, text=True, env=full, cwd=cwd, timeout=120
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def printed(err: str, after: str) -> list[str]:
    """The command printed after ``after`` (to the end of its line), as argv without
    ``malnu-tui``."""
    line = err.split(after, 1)[1].splitlines()[0].strip().strip("`")
    words = shlex.split(line)
    assert words[0] == "malnu-tui", line
    return words[1:]


@pytest.fixture
def school(tmp_path: Path, d1: D1Target, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config whose default target is a SQLite file and whose ``school`` target is D1 with
    its token in ``api_token_env`` (no CLOUDFLARE_API_TOKEN in the environment)."""
    conf = tmp_path / "conf"
    (conf / "migrations").mkdir(parents=True)
    (conf / "rollback").mkdir()
    (conf / "malnu.toml").write_text(
        '[targets.local]\nurl = "sqlite:///local.db"\n'
        'migrations_dir = "migrations"\nrollback_dir = "rollback"\n\n'
        f'[targets.school]\nurl = "{d1.url}"\napi_token_env = "CF_TOKEN_SCHOOL"\n'
        'migrations_dir = "migrations"\nrollback_dir = "rollback"\n'
    )
    monkeypatch.delenv("CLOUDFLARE_API_TOKEN")
    monkeypatch.setenv("CF_TOKEN_SCHOOL", d1.token)
    (tmp_path / "elsewhere").mkdir()
    return conf / "malnu.toml"


def test_d1_time_travel_and_import_undo_lines_run_from_elsewhere(
    school: Path, d1: D1Target, tmp_path: Path
) -> None:
    """The undo line of `d1 time-travel` named the database by URL (so the undo, run alone,
    had no token: "no Cloudflare API token"), and `d1 import`'s named nothing (so it ran on
    the default target, a SQLite file: "not a D1 database"). Both now name the config and the
    target, and undo the change from any directory."""
    here = ["--config", str(school), "--target", "school"]
    elsewhere = tmp_path / "elsewhere"
    d1.server.execute(d1.db, [("CREATE TABLE t (v TEXT)", [])], raw=True)
    d1.server.execute(d1.db, [("INSERT INTO t VALUES ('before')", [])], raw=True)
    before = run_in(school.parent, *here, "d1", "bookmark")
    assert before.code == 0, before.err
    d1.server.execute(d1.db, [("INSERT INTO t VALUES ('after')", [])], raw=True)

    res = run_in(school.parent, *here, "d1", "time-travel", "--bookmark", before.out.strip(), "-y")
    assert res.code == 0, res.err
    assert d1.sql("SELECT v FROM t") == [("before",)]
    undo = printed(res.err, "to undo: ")
    again = run_in(elsewhere, *undo, "--yes")
    assert again.code == 0, (undo, again.err)
    assert d1.sql("SELECT v FROM t ORDER BY v") == [("after",), ("before",)]

    dump = tmp_path / "dump.sql"
    dump.write_text("CREATE TABLE t (v TEXT);\nINSERT INTO t VALUES('imported');\n")
    res = run_in(school.parent, *here, "d1", "import", str(dump), "--yes")
    assert res.code == 0, res.err
    assert d1.sql("SELECT v FROM t") == [("imported",)]
    undo = printed(res.err, "to undo: ")
    again = run_in(elsewhere, *undo, "--yes")
    assert again.code == 0, (undo, again.err)
    assert d1.sql("SELECT v FROM t ORDER BY v") == [("after",), ("before",)]
    assert not (school.parent / "local.db").exists(), "the default target was opened"
