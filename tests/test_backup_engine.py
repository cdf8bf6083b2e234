"""Backups on real SQLite files and a real PostgreSQL cluster: round trips, corruption,
concurrent writers, full disks, and restoring an older schema (no mocks)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from malnu_tui.engine.backends.base import Backend
from malnu_tui.engine.backup import (
    BackupCorrupt,
    create_backup,
    list_backups,
    restore_backup,
    verify_backup,
)
from malnu_tui.engine.config import Target
from malnu_tui.engine.migrate import MigrationState, status
from tests.backup_support import (
    FULL_DISK,
    V1,
    V3,
    WRITER,
    fill,
    make_target,
    mset_of,
    open_fresh,
    rows,
    up,
)


def _files(target: Target) -> list[str]:
    d = target.backup_dir
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


def test_round_trip_restores_every_row(db: tuple[Target, Backend]) -> None:
    target, backend = db
    up(backend, target)
    fill(backend)
    before = rows(backend)
    m = create_backup(backend, target, reason="manual")

    # The manifest describes the file and the database at that moment.
    assert m.reason == "manual" and m.target_kind == backend.kind and m.head == V3
    assert [a.filename[:15] for a in m.migrations] == ["20250101_000100", "20250101_000200", V3]
    assert m.schema_hash == backend.schema_fingerprint()
    assert dict(m.row_counts) == {"posts": 150, "users": 50}
    assert m.verified_at is not None and len(m.sha256) == 64 and m.size > 0
    data = target.backup_dir / m.file
    for p in (data, target.backup_dir / f"{m.id}.json"):
        assert stat.S_IMODE(p.stat().st_mode) == 0o600
    assert stat.S_IMODE(target.backup_dir.stat().st_mode) == 0o700
    assert [b.id for b in list_backups(target.backup_dir)] == [m.id]
    assert verify_backup(target, m.id, deep=True).ok

    # Damage the live data, then restore: every row comes back exactly.
    from tests.backup_support import execute

    execute(backend, "DELETE FROM posts WHERE user_id > 10")
    execute(backend, "UPDATE users SET email = 'changed' || email WHERE id < 5")
    execute(backend, "INSERT INTO users (id, email) VALUES (999, 'new@x')")
    assert rows(backend) != before
    result = restore_backup(backend, target, m.id)
    assert rows(backend) == before
    assert result.schema_matches and result.backup_id == m.id

    # A pre-restore backup holds the damaged state; the audit trail survived the restore.
    backups = list_backups(target.backup_dir)
    pre = next(b for b in backups if b.id == result.pre_restore_id)
    assert pre.reason == "pre-restore" and pre.row_counts["users"] == 51
    audit = backend.read_audit(limit=50)
    assert any(e.action == "restore" and e.object == m.id and e.outcome == "ok" for e in audit)
    assert any(e.action == "apply" for e in audit), "audit rows from before the backup survive"
    assert backend.read_lock() is None, "the restore released its lock"
    assert not [f for f in _files(target) if f.startswith(".tmp-")]


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_damaged_backup_is_refused_and_database_untouched(
    db: tuple[Target, Backend], damage: str
) -> None:
    target, backend = db
    up(backend, target)
    fill(backend, users=20)
    m = create_backup(backend, target)
    from tests.backup_support import execute

    execute(backend, "DELETE FROM posts")
    live_before = rows(backend)
    path = target.backup_dir / m.file
    raw = bytearray(path.read_bytes())
    if damage == "flip":
        raw[len(raw) // 2] ^= 0x01
    else:
        raw = raw[: len(raw) // 2]
    path.write_bytes(bytes(raw))

    report = verify_backup(target, m.id)
    assert not report.ok
    assert any(("sha256" in p) if damage == "flip" else ("truncated" in p) for p in report.problems)
    assert list_backups(target.backup_dir)[0].verified_at is None
    with pytest.raises(BackupCorrupt) as info:
        restore_backup(backend, target, m.id)
    assert m.id in str(info.value) and "nothing was changed" in (info.value.hint or "")
    assert rows(backend) == live_before
    assert len(list_backups(target.backup_dir)) == 1, "no pre-restore backup for a refused one"
    refused = backend.read_audit(limit=5, action="restore")
    assert refused and refused[0].outcome == "refused"


def test_older_schema_restore_then_up(db: tuple[Target, Backend]) -> None:
    target, backend = db
    up(backend, target, to=V1)
    from tests.backup_support import execute

    execute(backend, "INSERT INTO users (id, email) VALUES (1, 'first@malnu.sch.id')")
    old = create_backup(backend, target)
    up(backend, target)
    fill_rows = "INSERT INTO posts (id, user_id, body) VALUES (1, 1, 'later')"
    execute(backend, fill_rows)
    full_schema = backend.schema_fingerprint()

    restore_backup(backend, target, old.id)
    mset = mset_of(target)
    report = status(backend, mset)
    assert [s.state for s in report.migrations] == [
        MigrationState.APPLIED,
        MigrationState.PENDING,
        MigrationState.PENDING,
    ]
    assert backend.table_names() == ["users"]
    assert backend.schema_fingerprint() == old.schema_hash
    up(backend, target)
    assert backend.schema_fingerprint() == full_schema
    assert rows(backend)["users"][0][:2] == (1, "first@malnu.sch.id")
    assert rows(backend)["posts"] == []


def test_backup_while_another_process_writes(db: tuple[Target, Backend], tmp_path: Path) -> None:
    target, backend = db
    up(backend, target)
    fill(backend, users=400, posts=10)
    stop = tmp_path / "stop"
    url = str(getattr(backend, "path", "")) if backend.kind == "sqlite" else target.url
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, backend.kind, url, str(stop), "100000"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "ready"
        before = backend.row_count("users")
        waited: list[int] = []

        def while_backing_up(_event: object) -> None:
            # At the backup's first progress event, wait until the writer has committed again:
            # the overlap is made certain here instead of being left to the CPU scheduler (on a
            # loaded machine the writer may not get a time slice during a short backup).
            if waited:
                return
            watcher = open_fresh(target)
            deadline = time.monotonic() + 30
            while watcher.row_count("users") <= before and time.monotonic() < deadline:
                time.sleep(0.01)
            waited.append(watcher.row_count("users"))
            watcher.close()

        m = create_backup(backend, target, progress=while_backing_up)
        after = backend.row_count("users")
    finally:
        stop.touch()
        out, _ = writer.communicate(timeout=60)
    assert writer.returncode == 0
    assert after > before, "the writer kept committing during the backup"
    assert int(out.strip()) > 0
    assert before <= m.row_counts["users"] <= after
    report = verify_backup(target, m.id, deep=True)
    assert report.ok, report.problems  # the deep check compares counts with the manifest


def test_full_disk_during_backup_lists_nothing(db: tuple[Target, Backend], tmp_path: Path) -> None:
    target, backend = db
    up(backend, target)
    from tests.backup_support import execute

    execute(backend, "BEGIN")
    for i in range(1, 4001):
        execute(backend, "INSERT INTO users (id, email) VALUES (?, ?)", (i, os.urandom(120).hex()))
    execute(backend, "COMMIT")
    home = tmp_path / "home"
    env = {
        **os.environ,
        "MALNU_BACKUP_DIR": str(target.backup_dir.parent),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CONFIG_HOME": str(home / "config"),
    }
    args = ["--database", target.url, "--migrations-dir", str(target.migrations_dir)]
    args += ["--rollback-dir", str(target.rollback_dir), "backup", "create"]
    proc = subprocess.run(
        [sys.executable, "-c", FULL_DISK, str(256 * 1024), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    assert "error:" in proc.stderr and "Traceback" not in proc.stderr
    if backend.kind == "sqlite":  # the full disk named is the store's, not the database's
        assert f"cannot write the backup to {target.backup_dir.parent}" in proc.stderr
    # The CLI's store for --database URL is <backup root>/<slug>: nothing listed, nothing left.
    stores = [p for p in target.backup_dir.parent.iterdir() if p.is_dir()]
    assert stores, "the store directory was created"
    for store in stores:
        assert list_backups(store) == []
        assert list(store.iterdir()) == [], list(store.iterdir())
    # The database itself is fine and a backup without the limit works.
    m = create_backup(backend, target)
    assert verify_backup(target, m.id).ok


def test_sqlite_restore_is_atomic_for_other_connections(tmp_path: Path) -> None:
    """A reader in a transaction keeps seeing the old database through the restore, and sees
    the whole new one once it starts a new transaction: never a mix."""
    import sqlite3

    from tests.backup_support import execute

    db = tmp_path / "a.db"
    target = make_target(tmp_path, f"sqlite:///{db}")
    backend = open_fresh(target)
    try:
        up(backend, target)
        fill(backend, users=30)
        m = create_backup(backend, target)
        execute(backend, "DELETE FROM posts")
        execute(backend, "DELETE FROM users WHERE id > 10")
        reader = sqlite3.connect(str(db), isolation_level=None)
        reader.execute("BEGIN")
        old = reader.execute("SELECT count(*) FROM users").fetchone()[0]
        restore_backup(backend, target, m.id)
        assert reader.execute("SELECT count(*) FROM users").fetchone()[0] == old == 10
        assert reader.execute("SELECT count(*) FROM posts").fetchone()[0] == 0
        reader.execute("COMMIT")
        assert reader.execute("SELECT count(*) FROM users").fetchone()[0] == 30
        assert reader.execute("SELECT count(*) FROM posts").fetchone()[0] == 90
        reader.close()
        assert len(rows(backend)["users"]) == 30
    finally:
        backend.close()
