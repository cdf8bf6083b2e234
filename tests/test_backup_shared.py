"""A backup store two targets share (a per-target ``backup_dir``; the config warns, and runs):
each target's list, prune, delete, monitoring and rehearsal see its own backups only. Real
``malnu-tui`` processes on real SQLite files."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.fixtures_core import CliResult, run_cli


def _shared(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(config, a.db, b.db): targets a and b with one backup_dir."""
    for name in ("a", "b"):
        with sqlite3.connect(tmp_path / f"{name}.db") as c:
            c.execute(f"CREATE TABLE t_{name} (x INTEGER)")
            c.execute(f"INSERT INTO t_{name} VALUES (1)")
        (tmp_path / f"mig-{name}").mkdir()
        (tmp_path / f"rb-{name}").mkdir()
    cfg = tmp_path / "malnu.toml"
    cfg.write_text(
        "".join(
            f'[targets.{n}]\nurl = "sqlite:{n}.db"\nbackup_dir = "store"\n'
            f'migrations_dir = "mig-{n}"\nrollback_dir = "rb-{n}"\n'
            for n in ("a", "b")
        )
    )
    return cfg, tmp_path / "a.db", tmp_path / "b.db"


def _cli(cfg: Path, target: str, *args: str) -> CliResult:
    return run_cli("--config", str(cfg), "--target", target, *args)


def _ids(cfg: Path, target: str) -> list[str]:
    res = _cli(cfg, target, "backup", "list", "--json")
    assert res.code == 0, res.err
    return [m["id"] for m in json.loads(res.out)]


def test_prune_of_one_target_never_deletes_the_other_targets_backups(tmp_path: Path) -> None:
    # `--target a backup prune --keep 2` counted b's backups as a's: it deleted b's only
    # backup (and protected only the store's newest verified one, a's); `backup list` of
    # either target showed both targets' backups, and `--target a backup delete <b's id>`
    # deleted b's backup. Each target now lists, prunes and deletes its own.
    cfg, _a, _b = _shared(tmp_path)
    made = _cli(cfg, "b", "backup", "create")
    assert made.code == 0, made.err
    b_id = made.out.strip()
    a_ids = []
    for _ in range(3):
        res = _cli(cfg, "a", "backup", "create")
        assert res.code == 0, res.err
        a_ids.append(res.out.strip())
    listed = _cli(cfg, "a", "backup", "list")
    assert listed.code == 0 and b_id not in listed.out, listed.out
    assert "1 backup(s) of other databases" in listed.err and "b (1)" in listed.err, listed.err
    assert _ids(cfg, "a") == a_ids[::-1] and _ids(cfg, "b") == [b_id]

    pruned = _cli(cfg, "a", "backup", "prune", "--keep", "2", "--yes")
    assert pruned.code == 0, pruned.err
    assert pruned.out.split() == [a_ids[0]], pruned.out
    assert _ids(cfg, "b") == [b_id], "b's backup survives a's prune"
    assert _ids(cfg, "a") == a_ids[:0:-1]

    refused = _cli(cfg, "a", "backup", "delete", b_id, "--yes")
    assert refused.code == 2, refused.err
    assert f"backup {b_id} is a backup of b" in refused.err and "Traceback" not in refused.err
    assert _ids(cfg, "b") == [b_id]


def test_check_of_a_target_without_backups_is_not_satisfied_by_the_other_targets(
    tmp_path: Path,
) -> None:
    # b never had a backup; a's fresh one in the shared store made b's backup_age OK.
    cfg, _a, _b = _shared(tmp_path)
    assert _cli(cfg, "b", "up", "--no-backup").code == 0  # b is one of the tool's databases
    assert _cli(cfg, "a", "backup", "create").code == 0
    res = _cli(cfg, "b", "check", "--json")
    report = json.loads(res.out)
    assert report["targets"]["b"]["checks"]["backup_age"] == "CRITICAL", report
    assert res.code == 2, res.err
