"""Bad values on the command line, as a script or a tired operator types them: each is one
``error:`` line naming the option or the value, exit 2, and nothing is run, created or
changed. An empty value (a script's unset variable: ``up --to "$VERSION"``) meant "not given":
``up --to ""`` applied every pending migration, ``import --map ""`` loaded the file unmapped,
``sync --tables ""`` copied every table; each is refused now, as ``--database ""`` was."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

from tests.fixtures_core import MigrationDirs, run_cli, school_set


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_an_empty_value_is_refused_before_anything_runs(
    sqlite_url: str, mdirs: MigrationDirs, tmp_path: Path
) -> None:
    d = school_set(mdirs)
    base = ["--database", sqlite_url, *d.args()]
    db = Path(sqlite_url.removeprefix("sqlite:///"))
    res = run_cli(*base, "up", "--to", "", "--no-backup")
    assert res.code == 2, res.err
    assert res.err.startswith("error: argument --to: must not be empty"), res.err
    assert not db.exists()  # nothing applied, nothing even opened
    assert run_cli(*base, "up", "--to", "20250101_000100", "--no-backup").code == 0
    before = _digest(db)
    csv = tmp_path / "users.csv"
    csv.write_text("id,email\n7,siti@malnu.sch.id\n")
    copy = tmp_path / "copy.db"
    sync = ["sync", "--from", sqlite_url, "--to", f"sqlite:///{copy}", "--yes"]
    cases = [
        (["up", "--to=", "--no-backup"], "argument --to: must not be empty"),
        (["import", str(csv), "--table", "users", "--map", "", "--yes"],
         "argument --map: must not be empty"),
        (["import", str(csv), "--table", "users", "--rejects", " ", "--yes"],
         "argument --rejects: must not be empty"),
        (["test", "--seed", ""], "argument --seed: must not be empty"),
        (["log", "--action", ""], "argument --action: must not be empty"),
        ([*sync, "--tables", ""], "argument --tables: no table names in ''"),
        ([*sync, "--tables", ","], "argument --tables: no table names in ','"),
        ([*sync, "--tables= , "], "argument --tables: no table names in ' , '"),
    ]  # fmt: skip
    for words, said in cases:
        res = run_cli(*base, *words)
        assert res.code == 2, (words, res.code, res.err)
        assert res.err.splitlines()[0] == f"error: {said} (an unset variable?)" or (
            res.err.splitlines()[0] == f"error: {said}"
        ), (words, res.err)
        assert res.out == "" and _digest(db) == before and not copy.exists(), words
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM migrations").fetchone() == (1,)
    conn.close()
    # A tab is a delimiter, not an empty value: still taken.
    res = run_cli(*base, "import", str(csv), "--table", "users", "--delimiter", "\t", "--dry-run")
    assert "must not be empty" not in res.err and "tab delimiter (given)" in res.err, res.err


def test_a_count_a_version_or_a_target_that_cannot_be_is_one_line_naming_it(
    sqlite_url: str, mdirs: MigrationDirs, tmp_path: Path
) -> None:
    """Zero and negative counts, a version no file has, a target the config does not name:
    exit 2, the value in the one ``error:`` line, the database as it was."""
    d = school_set(mdirs)
    base = ["--database", sqlite_url, *d.args()]
    assert run_cli(*base, "up", "--no-backup").code == 0
    db = Path(sqlite_url.removeprefix("sqlite:///"))
    before = _digest(db)
    csv = tmp_path / "users.csv"
    csv.write_text("id,email\n7,siti@malnu.sch.id\n")
    imp = ["import", str(csv), "--table", "users", "--yes", "--no-backup"]
    cases = [
        (["rollback", "--steps", "0", "--yes"], "--steps must be 1 or more, got 0"),
        (["rollback", "--steps", "-2", "--yes"], "--steps must be 1 or more, got -2"),
        (["rollback", "--to", "20990101_000000", "--yes"],
         "--to 20990101_000000: no migration with version 20990101_000000"),
        (["up", "--to", "20990101_000000"],
         "--to 20990101_000000: no migration with version 20990101_000000"),
        (["log", "--limit", "0"], "argument --limit: must be from 1 to 1,000,000,000, got '0'"),
        (["backup", "prune", "--keep", "-1", "--yes"],
         "argument --keep: must be from 1 to 1,000,000,000, got '-1'"),
        ([*imp, "--max-errors", "-1"],
         "--max-errors must be a count (10) or a percentage (1%), got '-1'"),
        ([*imp, "--max-errors", "101%"],
         "--max-errors must be a count (10) or a percentage (1%), got '101%'"),
        (["sync", "--from", sqlite_url, "--to", "nosuch", "--yes"],
         "no target named 'nosuch' (configured: local)"),
    ]  # fmt: skip
    for words, said in cases:
        res = run_cli(*base, *words)
        assert res.code == 2, (words, res.code, res.err)
        assert res.err.splitlines()[0] == f"error: {said}", (words, res.err)
        assert res.out == "" and _digest(db) == before, words
    res = run_cli("--target", "nosuch", *d.args(), "status")
    assert res.code == 2 and res.err.startswith("error: no target named 'nosuch'"), res.err
