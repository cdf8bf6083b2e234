"""The backup store on its own: ids, listing, pruning rules, stale temp files, and the
PostgreSQL client discovery and credentials (real files, real binaries)."""

from __future__ import annotations

import json
import os
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from malnu_tui.engine.backends.sqlite import SQLiteBackend
from malnu_tui.engine.backup import (
    BackupManifest,
    BackupNotFound,
    create_backup,
    delete_backup,
    list_backups,
    load_manifest,
    plan_prune,
    prune_backups,
)
from malnu_tui.engine.backup.store import save_manifest, sweep_stale_temp, utc_iso
from malnu_tui.engine.errors import ConfigError
from tests.backup_support import make_target, open_fresh, up


def _aged(directory: Path, m: BackupManifest, days: float, verified: bool = True) -> None:
    when = datetime.now(UTC) - timedelta(days=days)
    save_manifest(
        directory,
        replace(m, created_at=utc_iso(when), verified_at=utc_iso() if verified else None),
    )


def test_prune_by_count_and_age_keeps_the_newest_verified(tmp_path: Path) -> None:
    target = make_target(tmp_path, f"sqlite:///{tmp_path / 'p.db'}")
    backend = open_fresh(target)
    try:
        made = [create_backup(backend, target) for _ in range(4)]
    finally:
        backend.close()
    d = target.backup_dir
    # Ages 0, 10, 20, 30 days; the newest is NOT verified, so the 10-day one is protected.
    for m, days in zip(made[::-1], (0, 10, 20, 30), strict=True):
        _aged(d, m, days, verified=days != 0)
    ids = [m.id for m in list_backups(d)]
    assert ids == [m.id for m in made[::-1]]

    plan = plan_prune(d, keep=1)
    assert plan.protected == ids[1]
    assert [m.id for m in plan.delete] == ids[2:]
    plan = plan_prune(d, older_than_days=15)
    assert [m.id for m in plan.delete] == ids[2:]
    plan = plan_prune(d, keep=3, older_than_days=15)
    assert [m.id for m in plan.delete] == ids[3:]
    # Even "delete everything older than 5 days" keeps the newest verified backup.
    plan = plan_prune(d, older_than_days=5)
    assert ids[1] not in [m.id for m in plan.delete] and len(plan.delete) == 2
    done = prune_backups(d, plan)
    assert sorted(m.id for m in done) == sorted(ids[2:])
    assert [m.id for m in list_backups(d)] == ids[:2]
    assert not any(p.name.startswith(ids[3]) for p in d.iterdir()), "data files go too"
    with pytest.raises(ConfigError):
        plan_prune(d)
    with pytest.raises(ConfigError):
        plan_prune(d, keep=0)


def test_ids_prefixes_and_missing(tmp_path: Path) -> None:
    target = make_target(tmp_path, f"sqlite:///{tmp_path / 'i.db'}")
    backend = open_fresh(target)
    try:
        up(backend, target)
        m = create_backup(backend, target, reason="scheduled")
        with pytest.raises(ConfigError):
            create_backup(backend, target, reason="because")
    finally:
        backend.close()
    d = target.backup_dir
    assert load_manifest(d, m.id[:20]).id == m.id
    for bad in ("../etc/passwd", "nope", ""):
        with pytest.raises(BackupNotFound):
            load_manifest(d, bad)
    data = json.loads((d / f"{m.id}.json").read_text())
    assert data["target_kind"] == "sqlite" and data["reason"] == "scheduled"
    assert BackupManifest.from_json(data) == load_manifest(d, m.id)
    # A manifest that cannot be read is never listed (and never offered for restore).
    (d / "20990101T000000000000Z-abcdef.json").write_text("{not json")
    assert [b.id for b in list_backups(d)] == [m.id]
    delete_backup(d, m.id)
    assert list_backups(d) == []
    assert sorted(p.name for p in d.iterdir()) == ["20990101T000000000000Z-abcdef.json"]


def test_stale_temp_files_of_dead_processes_are_swept(tmp_path: Path) -> None:
    d = tmp_path / "store"
    d.mkdir()
    dead = d / ".tmp-999999999-abcd.sqlite"  # no such pid
    mine = d / f".tmp-{os.getpid()}-abcd.sqlite"
    dead.write_bytes(b"half a backup")
    mine.write_bytes(b"in progress")
    assert sweep_stale_temp(d) == [dead]
    assert not dead.exists() and mine.exists()
    # A data file whose manifest never got written (crash between the renames) goes too,
    # once it is clearly not a backup in progress.
    orphan = d / "20260101T000000000000Z-abcdef.sqlite"
    orphan.write_bytes(b"never listed")
    assert sweep_stale_temp(d) == []
    assert sweep_stale_temp(d, orphan_age_s=-1) == [orphan]
    # A backup copied back from offsite keeps its times (`cp -p`, `rsync -t`): its data file
    # is there before its manifest, and `backup list` run meanwhile deleted it.
    copied = d / "20251101T000000000000Z-abcdef.sqlite"
    copied.write_bytes(b"a backup of last month")
    os.utime(copied, (time.time() - 30 * 86400,) * 2)
    assert sweep_stale_temp(d) == [] and copied.exists()


def test_manifest_schema_hash_matches_the_backend(tmp_path: Path) -> None:
    db = tmp_path / "f.db"
    target = make_target(tmp_path, f"sqlite:///{db}")
    backend = SQLiteBackend(db)
    try:
        backend.ensure_schema()
        up(backend, target)
        m = create_backup(backend, target)
        assert m.schema_hash == backend.schema_fingerprint()
        assert m.details["sqlite_version"]
    finally:
        backend.close()


def test_pg_password_never_reaches_a_command_line() -> None:
    from malnu_tui.engine.backup.postgresql import child_connection

    child = child_connection(
        "postgresql://app:s3cr%40t@db.example:5432/school?sslmode=require&schema=analytics"
    )
    assert child.password == "s3cr@t" and child.env["PGPASSWORD"] == "s3cr@t"
    assert "s3cr" not in child.url and "schema=" not in child.url
    assert child.url == (
        "postgresql://app@db.example:5432/school?sslmode=require&keepalives=1&"
        "keepalives_idle=30&keepalives_interval=10&keepalives_count=3"
    )
    child = child_connection("postgresql://u@h/d?password=zz")
    assert child.password == "zz" and "zz" not in child.url and not child.pass_fds


def test_pg_clients_older_than_the_server_are_refused() -> None:
    from malnu_tui.engine.backup.postgresql import PgToolsMissing, find_pg_tools

    tools = find_pg_tools(None)
    assert tools.major >= 14 and Path(tools.pg_dump).name == "pg_dump"
    with pytest.raises(PgToolsMissing) as info:
        find_pg_tools(tools.major + 1)
    assert "older" in str(info.value) and info.value.hint
