"""What an operator's 2 a.m. drill (session 25) found, run through the real CLI on real
databases: each test names who was misled and how."""

from __future__ import annotations

from tests.fixtures_core import MigrationDirs, school_set
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
