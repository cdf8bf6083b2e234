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


def _tables(db: Path) -> list[str]:
    with sqlite3.connect(db) as c:
        rows = c.execute("SELECT name FROM sqlite_master WHERE name LIKE 't_%' ORDER BY name")
        return [r[0] for r in rows]


def test_restore_yes_of_another_databases_backup_needs_its_own_flag(tmp_path: Path) -> None:
    # `--target a backup restore <b's id> --yes` (a script, the wrong runbook line) put b's
    # data over a's: the plan's note said whose backup it was, and --yes passed it. --yes
    # alone is refused now (exit 2, nothing changed); --from-another-database says it is meant.
    cfg, a, _b = _shared(tmp_path)
    made = _cli(cfg, "b", "backup", "create")
    assert made.code == 0, made.err
    b_id = made.out.strip()

    refused = _cli(cfg, "a", "backup", "restore", b_id, "--yes")
    assert refused.code == 2, refused.err
    assert "Traceback" not in refused.err
    assert (
        f"error: backup {b_id} is a backup of b (sqlite://{tmp_path / 'b.db'}), not of a: "
        "--yes alone never restores another database's data over this one; nothing was changed"
    ) in refused.err, refused.err
    assert "add --from-another-database" in refused.err
    assert _tables(a) == ["t_a"] and _ids(cfg, "a") == [], "no change, no pre-restore backup"

    done = _cli(cfg, "a", "backup", "restore", b_id, "--yes", "--from-another-database")
    assert done.code == 0, done.err
    assert _tables(a) == ["t_b"]
    own = _cli(cfg, "a", "backup", "list", "--json")  # its pre-restore backup undoes it
    (pre,) = json.loads(own.out)
    assert pre["reason"] == "pre-restore"
    again = _cli(cfg, "a", "backup", "restore", pre["id"], "--yes")  # its own: --yes is enough
    assert again.code == 0, again.err
    assert _tables(a) == ["t_a"]


def test_backups_from_before_a_targets_file_moved_are_named_where_it_has_none(
    tmp_path: Path,
) -> None:
    # The target's file moved (its URL with it): its earlier backups are another database's
    # by URL, never counted. `check` said "no backup at all" as if backups had never run, and
    # `recover` "skipped …: a backup of a, not this database" of a target named a. Both now
    # name the URL they were taken of; `backup list`'s note says how they are restored.
    cfg, a, _b = _shared(tmp_path)
    made = _cli(cfg, "a", "backup", "create")
    assert made.code == 0, made.err
    old_url = f"sqlite://{a}"
    moved = tmp_path / "moved-a.db"
    a.rename(moved)
    cfg.write_text(cfg.read_text().replace('"sqlite:a.db"', '"sqlite:moved-a.db"'))

    res = _cli(cfg, "a", "check")
    assert res.code == 2, res.out + res.err
    assert (
        f"CRITICAL a backup_age: no backup at all of this database (those taken as a in its "
        f"store are of {old_url}: its URL before a move?"
    ) in res.out, res.out
    res = _cli(cfg, "a", "recover", "--to", "now", "--yes")
    assert res.code == 1, res.err
    assert f"skipped {made.out.strip()}: a backup of a at {old_url}, not this database" in res.err
    res = _cli(cfg, "a", "backup", "list")
    assert "those taken as a at another URL (its URL before a move?) are restored by id" in res.err
