"""`malnu-tui test` killed outright (`kill -9`, the OOM killer, CI's job timeout): its scratch
(the temp SQLite folder, the scratch schema on a `--postgres` scratch server) stayed for ever;
the next `test` from this host removes it, and says so."""

from __future__ import annotations

import subprocess
from pathlib import Path

import psycopg

from tests.fixtures_core import MigrationDirs, popen_cli, run_cli

# Never ends (on SQLite and PostgreSQL alike): the run is surely killed inside its scratch.
FOREVER = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n;"


def _killed_after_first_stair(cli: subprocess.Popen[str], first: str) -> None:
    """Wait until ``cli`` says its first stair is climbed (the second, FOREVER, runs), then
    leave it running; the caller looks, then kills."""
    assert cli.stderr is not None
    while line := cli.stderr.readline():
        if line.startswith(f"  {first}: ok"):
            return
    raise AssertionError(f"the stairway ended: {cli.poll()}")


def _two_stairs(mdirs: MigrationDirs) -> tuple[str, Path]:
    first = mdirs.add("20250101_000100", "kelas", "CREATE TABLE kelas (id INTEGER PRIMARY KEY);",
                      "DROP TABLE kelas;")  # fmt: skip
    slow = mdirs.add("20250101_000200", "forever", FOREVER, "SELECT 1;")
    return first.name, slow


def test_a_stairway_killed_outright_leaves_no_temp_folder(
    mdirs: MigrationDirs, tmp_path: Path
) -> None:
    first, slow = _two_stairs(mdirs)
    base = ["--database", f"sqlite:///{tmp_path / 'prod.db'}", *mdirs.args()]
    temp = tmp_path / "tmp"
    temp.mkdir()
    cli = popen_cli(*base, "test", env={"TMPDIR": str(temp)})
    try:
        _killed_after_first_stair(cli, first)
        left = list(temp.iterdir())
        assert len(left) == 1 and (left[0] / "scratch.db").exists(), left
    finally:
        cli.kill()
        cli.communicate()
    assert left[0].exists(), "killed outright, it stays (until the next run)"
    slow.write_text("SELECT 1;\n", encoding="utf-8")
    again = run_cli(*base, "test", env={"TMPDIR": str(temp)})
    assert again.code == 0, again.err
    assert f"note: removed {left[0]}, left by a test killed" in again.err
    assert list(temp.iterdir()) == []


def test_a_stairway_killed_outright_leaves_no_schema_on_the_scratch_server(
    mdirs: MigrationDirs, tmp_path: Path, pg_url: str
) -> None:
    first, slow = _two_stairs(mdirs)
    base = ["--database", f"sqlite:///{tmp_path / 'prod.db'}", *mdirs.args()]
    scratch = "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'malnu_stairway%'"
    with psycopg.connect(pg_url, autocommit=True) as look:
        cli = popen_cli(*base, "test", "--postgres", pg_url)
        try:
            _killed_after_first_stair(cli, first)
            left = [r[0] for r in look.execute(scratch).fetchall()]
            assert len(left) == 1, left
        finally:
            cli.kill()
            cli.communicate()
            # The server session of the killed run counts on (it has nothing to send yet).
            look.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        assert [r[0] for r in look.execute(scratch).fetchall()] == left, "it stays"
        slow.write_text("SELECT 1;\n", encoding="utf-8")
        again = run_cli(*base, "test", "--postgres", pg_url)
        assert again.code == 0, again.err
        assert f"note: dropped {left[0]}, left by a test killed" in again.err
        assert look.execute(scratch).fetchall() == []
