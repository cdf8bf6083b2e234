"""A database's backups are found whatever name it was given (`--database URL` from cron's shell
or the runbook, another config's name), and another database's never, whatever its name: real
``malnu-tui`` processes on a SQLite file, a PostgreSQL database of the throwaway cluster and a
database on the local D1 server, one test looping over the three."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.fixtures_core import CliResult, MigrationDirs, run_cli
from tests.fixtures_matrix import BACKENDS, DbTarget


def _config(path: Path, url: str, root: Path, d: MigrationDirs) -> Path:
    path.write_text(
        f'[backup]\ndir = "{root}"\n[targets.prod]\nurl = "{url}"\n'
        f'migrations_dir = "{d.migrations}"\nrollback_dir = "{d.rollback}"\n',
        encoding="utf-8",
    )
    return path


def _other_spelling(db: DbTarget, tmp: Path) -> str:
    """The same database as the runbook may spell it."""
    if db.kind == "sqlite":  # through a symlinked folder: the same real file
        link = tmp / "link"
        link.symlink_to(Path(db.url.removeprefix("sqlite:///")).parent)
        return f"sqlite:///{link / Path(db.url).name}"
    if db.kind == "postgresql":
        return db.url + ("&" if "?" in db.url else "?") + "connect_timeout=9"
    return db.url


def _json(res: CliResult) -> Any:
    assert res.code == 0, res.err
    return json.loads(res.out)


def _backup_age(res: CliResult) -> str:
    report = json.loads(res.out)
    (health,) = report["targets"].values()
    return str(health["checks"]["backup_age"])


def test_a_databases_backups_are_found_under_any_name_and_no_other_databases_are(
    tmp_path: Path, fresh_db: Callable[[str], DbTarget]
) -> None:
    # A backup taken as `--target prod` sits in backups/prod/: `--database URL` (no config: a
    # cron job, a colleague's shell, the runbook) looked in backups/<its URL's slug>/ only, so
    # `backup list` said "no backups", `restore ID` "no backup", `recover` "no verified
    # backup" and `check` backup_age CRITICAL while fresh backups existed. And another config
    # naming another database `prod` (same backup root) took them for its own: its list showed
    # them, `check` said OK, `recover` picked one and restored the other database's data.
    for kind in BACKENDS:
        tmp = tmp_path / kind
        d = MigrationDirs(tmp / "project")
        d.add("20260101000000", "pupils", "CREATE TABLE pupils (id INTEGER PRIMARY KEY)",
              "DROP TABLE pupils")  # fmt: skip
        root = tmp / "backups"
        db, other = fresh_db(kind), fresh_db(kind)
        cfg = _config(tmp / "prod.toml", db.url, root, d)
        cfg2 = _config(tmp / "other.toml", other.url, root, d)
        env = {**db.env, "MALNU_BACKUP_DIR": str(root)}
        for c in (cfg, cfg2):
            assert run_cli("--config", str(c), "up", "--no-backup", env=env).code == 0, kind
        made = run_cli("--config", str(cfg), "backup", "create", env=env)
        assert made.code == 0, made.err
        backup_id = made.out.strip()
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

        url = _other_spelling(db, tmp)

        def bare(*args: str, url: str = url, d: MigrationDirs = d) -> CliResult:
            return run_cli("--database", url, *d.args(), *args, env=env)  # noqa: B023

        listed = bare("backup", "list", "--json")
        assert [(m["id"], m["target_name"]) for m in _json(listed)] == [(backup_id, "prod")], kind
        if kind == "sqlite":  # a store linked beside itself is read once
            (root / "prod-link").symlink_to(root / "prod")
            assert len(_json(bare("backup", "list", "--json"))) == 1
            (root / "prod-link").unlink()
        shown = bare("backup", "list")
        assert "taken as" in shown.out and str(root / "prod") in shown.out, shown.out
        assert _backup_age(bare("check", "--json")) == "OK", kind
        if kind == "postgresql":  # tool tables in another schema: another set of migrations
            apart = bare("backup", "list", "--json", url=f"{db.url}?schema=school2")
            assert _json(apart) == [], apart.out
        if kind != "d1":  # (D1 recovers by Time Travel, not from a backup)
            plan = _json(bare("recover", "--to", now, "--dry-run", "--json"))
            assert plan["backup"]["id"] == backup_id, (kind, plan)

        # Another database named prod in another config, the same backup root: none of them.
        theirs = run_cli("--config", str(cfg2), "backup", "list", "--json", env=env)
        assert backup_id not in theirs.out and "other databases" in theirs.err, theirs.err
        checked = run_cli("--config", str(cfg2), "check", "--json", env=env)
        assert _backup_age(checked) == "CRITICAL", (kind, checked.out)
        asked = run_cli("--config", str(cfg2), "backup", "restore", backup_id, env=env)
        assert asked.code != 0 and "), not of prod (" in asked.err, asked.err
        if kind != "d1":
            refused = run_cli("--config", str(cfg2), "recover", "--to", now, "--yes", env=env)
            assert refused.code != 0 and "no verified backup" in refused.err, refused.err

        restored = bare("backup", "restore", backup_id[:15], "--yes")
        assert restored.code == 0 and f"restored {backup_id}" in restored.err, restored.err
        if kind == "sqlite":  # retention counts them: --keep 1 deletes the older, where it is
            assert bare("backup", "create").code == 0
            pruned = bare("backup", "prune", "--keep", "1", "--yes")
            assert pruned.code == 0 and "deleted 2 backup(s)" in pruned.err, pruned.err
            assert not list((root / "prod").glob("*.json")), "deleted in prod's store"
