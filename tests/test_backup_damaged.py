"""A damaged SQLite database ("database disk image is malformed"), the commonest reason to
restore one, on real files damaged the way a failing disk damages them: a page overwritten.

`backup restore` refused to replace it: its pre-restore backup failed PRAGMA quick_check, and
no backup could be restored over the damaged file. A page of the lock table gave a traceback,
a damaged first page an error without a way out."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from malnu_tui.engine.backup import (
    BackupManifest,
    create_backup,
    list_backups,
    load_manifest,
    restore_backup,
)
from malnu_tui.engine.config import Target
from tests.backup_support import fill, make_target, open_fresh, rows, up
from tests.inproc import run_inproc


def _damaged_db(tmp_path: Path) -> tuple[Target, str, dict[str, list[tuple[object, ...]]]]:
    """A target with 200 users and their posts, a verified backup of it (its id), and the rows."""
    target = make_target(tmp_path, f"sqlite:///{tmp_path / 'sekolah.db'}")
    backend = open_fresh(target)
    try:
        up(backend, target)
        fill(backend, users=200)
        backup = create_backup(backend, target)
        return target, backup.id, rows(backend)
    finally:
        backend.close()


def _overwrite_page(db: Path, table: str | int | None) -> None:
    """Overwrite the root page of ``table`` (or page number ``table``; None: the first page's
    b-tree) with garbage."""
    with sqlite3.connect(db) as conn:
        size = conn.execute("PRAGMA page_size").fetchone()[0]
        page = table if isinstance(table, int) else 1
        if isinstance(table, str):
            page = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,))
            page = page.fetchone()[0]
    conn.close()
    with db.open("r+b") as f:
        f.seek((page - 1) * size + (100 if page == 1 else 0))  # page 1: after the file header
        f.write(b"\xde\xad\xbe\xef" * 256)


def _config(tmp_path: Path, target: Target) -> list[str]:
    cfg = tmp_path / "malnu.toml"
    cfg.write_text(
        f'[targets.sekolah]\nurl = "{target.url}"\nbackup_dir = "{target.backup_dir}"\n'
        f'migrations_dir = "{target.migrations_dir}"\nrollback_dir = "{target.rollback_dir}"\n',
        encoding="utf-8",
    )
    return ["--config", str(cfg), "--target", "sekolah"]


def test_a_damaged_database_is_restored_and_its_copy_kept(tmp_path: Path) -> None:
    target, backup_id, before = _damaged_db(tmp_path)
    db = tmp_path / "sekolah.db"
    _overwrite_page(db, "posts")
    res = run_inproc(*_config(tmp_path, target), "backup", "restore", backup_id, "--yes")
    assert res.code == 0, res.err
    assert "Traceback" not in res.err
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA quick_check").fetchone() == ("ok",)
    conn.close()
    backend = open_fresh(target)
    try:
        assert rows(backend) == before
    finally:
        backend.close()
    pre = [m for m in _manifests(target) if m.reason == "pre-restore"]
    assert len(pre) == 1 and not pre[0].verified
    assert pre[0].details["damaged"].startswith("PRAGMA quick_check: ")
    assert (target.backup_dir / pre[0].file).stat().st_size == db.stat().st_size
    assert f"the damaged database it replaced is kept as backup {pre[0].id}" in res.err
    assert "warning: the restore is done, but: the database it replaced was damaged" in res.err
    assert f"to undo: malnu-tui backup restore {pre[0].id}" not in res.err


def test_a_damaged_leaf_page_is_one_line_per_check(tmp_path: Path) -> None:
    """A leaf page of a table damaged (quick_check answers rows, the first holding a line
    break): `backup verify` of the pre-restore copy printed a check over two lines."""
    import shutil

    target, backup_id, _ = _damaged_db(tmp_path)
    db, probe = tmp_path / "sekolah.db", tmp_path / "probe.db"
    with sqlite3.connect(db) as conn:
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.close()
    for page in range(2, pages + 1):  # a page whose damage quick_check reports as rows
        shutil.copyfile(db, probe)
        _overwrite_page(probe, page)
        try:
            with sqlite3.connect(probe) as conn:
                said = conn.execute("PRAGMA quick_check").fetchone()[0]
        except sqlite3.DatabaseError:
            continue
        finally:
            conn.close()
        if "\n" in said:
            break
    else:
        raise AssertionError("no page found whose damage quick_check reports in rows")
    _overwrite_page(db, page)
    args = _config(tmp_path, target)
    assert run_inproc(*args, "backup", "restore", backup_id, "--yes").code == 0
    pre = next(m for m in list_backups(target.backup_dir) if m.reason == "pre-restore")
    assert pre.details["damaged"].startswith("PRAGMA quick_check: *** in database main ***; ")
    res = run_inproc(*args, "backup", "verify", pre.id)
    assert res.code == 1
    assert [line.split()[2] for line in res.out.splitlines()] == [
        "size:",
        "sha256:",
        "quick_check:",
    ]


def test_a_damaged_audit_trail_does_not_stop_the_restore(tmp_path: Path) -> None:
    target, backup_id, before = _damaged_db(tmp_path)
    _overwrite_page(tmp_path / "sekolah.db", "malnu_audit")
    backend = open_fresh(target)
    try:
        result = restore_backup(backend, target, backup_id)
        assert rows(backend) == before
        trail = backend.read_audit(limit=500)
        assert [e.action for e in trail if e.object == backup_id] == ["restore"]
        # The backup's own trail, kept where the damaged one could not be read.
        assert len([e for e in trail if e.action == "apply"]) == 3
        assert backend.read_lock() is None
    finally:
        backend.close()
    assert not load_manifest(target.backup_dir, result.pre_restore_id).verified


def test_a_database_damaged_where_nothing_can_read_it_is_one_line_with_the_way_out(
    tmp_path: Path,
) -> None:
    target, backup_id, _ = _damaged_db(tmp_path)
    db = tmp_path / "sekolah.db"
    args = _config(tmp_path, target)
    for table in ("malnu_lock", None):  # the lock row is read first; then the schema
        _overwrite_page(db, table)
        res = run_inproc(*args, "backup", "restore", backup_id, "--yes")
        assert res.code == 1 and "Traceback" not in res.err, res.err
        assert "database disk image is malformed" in res.err
        assert "hint: the SQLite file itself is damaged" in res.err
        assert "move it aside with its -wal and -shm files" in res.err
    db.rename(db.with_suffix(".damaged"))  # as the hint says
    assert run_inproc(*args, "backup", "restore", backup_id, "--yes").code == 0


def _manifests(target: Target) -> list[BackupManifest]:
    return list_backups(target.backup_dir)


def test_a_manifest_damaged_by_hand_is_said_not_silently_passed_over(tmp_path: Path) -> None:
    """A truncated manifest made its backup vanish from `backup list` without a word, and
    `recover` chose an older backup (more data lost) without naming the newer one; a
    `created_at` edited to something that is not a time was a traceback in `recover`."""
    from datetime import UTC, datetime

    from malnu_tui.engine.backup import plan_recover
    from tests.backup_support import mset_of

    target, older, _ = _damaged_db(tmp_path)
    backend = open_fresh(target)
    try:
        newer = create_backup(backend, target).id
        args = _config(tmp_path, target)
        manifest = target.backup_dir / f"{newer}.json"
        text = manifest.read_text(encoding="utf-8")
        for damaged in (text[:300], text.replace('"created_at": "', '"created_at": "kemarin')):
            manifest.write_text(damaged, encoding="utf-8")
            res = run_inproc(*args, "backup", "list")
            assert res.code == 0 and newer not in res.out and older in res.out
            assert f"warning: backup {newer} is not listed (nor restored or pruned): " in res.err
            assert f" manifest {manifest}: " in res.err
            plan = plan_recover(backend, target, mset_of(target), datetime.now(UTC))
            assert plan.backup.id == older
            assert [bid for bid, _ in plan.skipped_backups] == [newer]
            res = run_inproc(*args, "recover", "--to", "now", "--dry-run")
            assert res.code == 0 and "Traceback" not in res.err, res.err
            assert f"skipped newer backup {newer}: " in res.out and str(manifest) in res.out
            res = run_inproc(*args, "backup", "restore", newer[:-3], "--yes")
            assert res.code == 2 and f"hint: backup {newer} matches, but its manifest" in res.err
    finally:
        backend.close()


def test_a_database_moved_away_without_its_wal_is_not_replaced_by_a_new_file(
    tmp_path: Path,
) -> None:
    """Moved aside without its -wal (rows the app committed, not yet checkpointed, as after a
    crash): a restore (or any command) opened a new file there, and SQLite deleted that WAL,
    and the rows in it, for good."""
    import subprocess
    import sys

    target, backup_id, _ = _damaged_db(tmp_path)
    db = tmp_path / "sekolah.db"
    crash = (
        "import os, sqlite3, sys\n"
        "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "c.execute('PRAGMA wal_autocheckpoint = 0')\n"
        "c.executemany('INSERT INTO users (id, email) VALUES (?, ?)',"
        " [(1000 + i, f'baru{i}@malnu.sch.id') for i in range(50)])\n"
        "os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", crash, str(db)], check=True)
    wal = tmp_path / "sekolah.db-wal"
    assert wal.stat().st_size > 0
    db.rename(tmp_path / "sekolah.damaged")
    res = run_inproc(*_config(tmp_path, target), "backup", "restore", backup_id, "--yes")
    assert res.code == 2 and "Traceback" not in res.err, res.err
    assert "sekolah.db-wal beside it does: the WAL of the database that was there" in res.err
    assert not db.exists() and wal.stat().st_size > 0
    wal.rename(tmp_path / "sekolah.damaged-wal")
    with sqlite3.connect(tmp_path / "sekolah.damaged") as conn:
        assert conn.execute("SELECT count(*) FROM users WHERE id >= 1000").fetchone() == (50,)
    conn.close()


def test_a_restore_into_a_new_file_keeps_the_backups_history(tmp_path: Path) -> None:
    """Restoring into a file that is not there (moved aside as the damaged-file hint says, or
    a new server after a disk died): the new file's empty audit trail replaced the backup's,
    and the history up to the backup (what was applied when, what `recover` replays) was gone."""
    target, backup_id, before = _damaged_db(tmp_path)
    (tmp_path / "sekolah.db").rename(tmp_path / "sekolah.damaged")
    res = run_inproc(*_config(tmp_path, target), "backup", "restore", backup_id, "--yes")
    assert res.code == 0, res.err
    backend = open_fresh(target)
    try:
        assert rows(backend) == before
        trail = backend.read_audit(limit=500)
        assert len([e for e in trail if e.action == "apply"]) == 3
        assert [e.object for e in trail if e.action == "restore"] == [backup_id]
        assert backend.read_lock() is None
    finally:
        backend.close()


def test_a_schema_of_a_newer_sqlite_is_not_called_damaged(tmp_path: Path) -> None:
    """A sound file whose schema uses syntax newer than this machine's SQLite (an app bundling
    a newer one: `group_concat(x ORDER BY y)` is 3.44) reads as SQLITE_CORRUPT, "malformed
    database schema". Advising to restore a backup over it would throw away sound data."""
    db = tmp_path / "baru.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT)")
        conn.execute("PRAGMA writable_schema = ON")  # as SQLite 3.44 would have written it
        conn.execute(
            "INSERT INTO sqlite_master VALUES ('view', 'v', 'v', 0, "
            "'CREATE VIEW v AS SELECT group_concat(email ORDER BY id) FROM users')"
        )
    conn.close()
    for command in (["status"], ["backup", "create"]):
        res = run_inproc("--database", f"sqlite:///{db}", *command)
        assert res.code == 1 and "Traceback" not in res.err, res.err
        assert "malformed database schema (v)" in res.err
        assert "the file may well be sound" in res.err and "before restoring" in res.err
        assert "restore a backup over it" not in res.err


def test_the_console_names_a_damaged_database_with_the_way_out(tmp_path: Path) -> None:
    """The console's workers showed "unexpected DatabaseError: database disk image is
    malformed" and "retry"; the way out is the CLI's (no console is run here)."""
    from malnu_tui.tui.session import explain

    _damaged_db(tmp_path)
    _overwrite_page(tmp_path / "sekolah.db", "malnu_lock")
    with sqlite3.connect(tmp_path / "sekolah.db") as conn:
        try:
            conn.execute("SELECT * FROM malnu_lock").fetchall()
        except sqlite3.DatabaseError as exc:
            message, hint = explain(exc)
    conn.close()
    assert message == "the SQLite database is damaged: database disk image is malformed"
    assert hint.startswith("the SQLite file itself is damaged: restore a backup over it")


def test_a_backup_whose_data_file_is_gone_is_never_counted_as_good(tmp_path: Path) -> None:
    """A cleanup script (`find /var/backups -mtime +7 -delete`) or a store copied without its
    data files: `backup list` still said "✔ yes", `check` said backup_age OK, and `prune`
    kept that ghost as "the newest verified backup", deleting the real one."""
    target, older, _ = _damaged_db(tmp_path)
    backend = open_fresh(target)
    try:
        newer = create_backup(backend, target)
    finally:
        backend.close()
    args = _config(tmp_path, target)
    (target.backup_dir / newer.file).unlink()

    res = run_inproc(*args, "backup", "list")
    assert res.code == 0
    assert (
        f"warning: backup {newer.id} cannot be restored: its data file {newer.file} is missing"
        in (res.err)
    )
    assert [line.split()[-2] for line in res.out.splitlines() if newer.id in line] == ["gone"]
    res = run_inproc(*args, "check")
    assert res.code == 1 and f"backup {newer.id}: its data file {newer.file} is missing" in res.out
    res = run_inproc(*args, "backup", "prune", "--keep", "1", "--yes")
    assert res.code == 0, res.err
    assert (target.backup_dir / f"{older}.sqlite").exists(), "the only real backup was pruned"
    (target.backup_dir / f"{older}.sqlite").unlink()
    res = run_inproc(*args, "check")
    assert res.code == 2 and "no verified backup: backup " in res.out


def test_a_backup_whose_file_changed_since_verified_is_not_counted_by_check(
    tmp_path: Path,
) -> None:
    """A data file replaced after its verification (a bad copy back from offsite: the same
    size, other bytes) or truncated: `check` counted the backup as verified from its manifest
    alone and said OK while no restorable backup was newer than the last sound one. It now
    compares a stat() with the size and mtime recorded at verification (no hash), names the
    changed one with the command that verifies it, and judges the next sound one."""
    import json
    import os

    target, oldest, _ = _damaged_db(tmp_path)
    backend = open_fresh(target)
    try:
        middle = create_backup(backend, target)
        newest = create_backup(backend, target)
    finally:
        backend.close()
    args = _config(tmp_path, target)
    store = target.backup_dir
    res = run_inproc(*args, "check")
    assert res.code == 0, res.out

    # The newest replaced: the same size, other bytes, a later mtime; the middle truncated.
    path = store / newest.file
    data = bytearray(path.read_bytes())
    data[-4096:] = b"\x00" * 4096 if data[-4096:] != b"\x00" * 4096 else b"\x01" * 4096
    st = path.stat()
    (store / "copy.tmp").write_bytes(bytes(data))
    os.replace(store / "copy.tmp", path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 5 * 10**9))
    assert path.stat().st_size == newest.size
    with (store / middle.file).open("r+b") as f:
        f.truncate(middle.size // 2)

    res = run_inproc(*args, "check")
    assert res.code == 1, res.out  # WARNING: the oldest is the newest verified one
    said = f"backup {newest.id}: its data file {newest.file} has another time than when it was "
    said += "verified (replaced, or copied without its times: `cp -p`, `rsync -t` keep them)"
    assert said in res.out and "changed since verified: run `malnu-tui backup verify" in res.out
    assert f"backup verify {newest.id} --config {tmp_path / 'malnu.toml'} --target sekolah`" in (
        res.out
    )
    res = run_inproc(*args, "--json", "backup", "list")
    verified = {m["id"]: m["verified_at"] is not None for m in json.loads(res.out)}
    assert verified == {oldest: True, middle.id: False, newest.id: False}
    assert f"warning: backup {newest.id} is not counted as verified" in res.err
    assert f"`malnu-tui backup verify {newest.id} --config" in res.err
    # A store copied where times keep whole seconds (the same file, its mtime cut): counted.
    kept = store / f"{oldest}.sqlite"
    ns = kept.stat().st_mtime_ns
    os.utime(kept, ns=(ns, ns - ns % 10**9))
    assert run_inproc(*args, "check").code == 1
    os.utime(kept, ns=(ns, ns))
    res = run_inproc(*args, "backup", "verify", newest.id)
    assert res.code != 0  # its bytes are not the backup's: the hash says so, and it stays failed
    res = run_inproc(*args, "check")
    assert res.code == 1 and "changed since verified" not in res.out

    # The oldest only touched (rsync without -t): not counted until verified again, which
    # records its mtime anew; a manifest written before mtimes were recorded is read as before.
    os.utime(store / f"{oldest}.sqlite", ns=(st.st_atime_ns, st.st_mtime_ns + 9 * 10**9))
    res = run_inproc(*args, "check")
    assert res.code == 2 and f"no verified backup: backup {oldest}: " in res.out, res.out
    assert run_inproc(*args, "backup", "verify", oldest).code == 0
    res = run_inproc(*args, "check")  # (WARNING: the truncated middle one is newer)
    assert res.code == 1 and "changed since verified" not in res.out, res.out
    manifest = store / f"{oldest}.json"
    old = json.loads(manifest.read_text(encoding="utf-8"))
    assert isinstance(old.pop("verified_mtime_ns"), int)
    manifest.write_text(json.dumps(old), encoding="utf-8")
    assert load_manifest(store, oldest).verified_mtime_ns is None
    res = run_inproc(*args, "check")
    assert res.code == 1 and "the newest verified backup is " in res.out, res.out


def test_a_manifest_time_out_of_range_is_one_line_naming_it(tmp_path: Path) -> None:
    """A `created_at` edited to a time that is before year 1 (or after 9999) in UTC
    (`0001-01-01T00:00+01:00`) was said as `OverflowError('date value out of range')`, without
    the value: the backup is not listed, as any damaged manifest, and the line names it."""
    import json

    target = make_target(tmp_path, f"sqlite:///{tmp_path / 'sekolah.db'}")
    backend = open_fresh(target)
    try:
        older, newer = create_backup(backend, target).id, create_backup(backend, target).id
    finally:
        backend.close()
    manifest = target.backup_dir / f"{newer}.json"
    data = json.loads(manifest.read_text(encoding="utf-8"))
    args = _config(tmp_path, target)
    for said in ("0001-01-01T00:00+01:00", "9999-12-31T23:59-01:00"):
        manifest.write_text(json.dumps({**data, "created_at": said}), encoding="utf-8")
        res = run_inproc(*args, "backup", "list")
        assert res.code == 0 and newer not in res.out and older in res.out, res.err
        (line,) = [x for x in res.err.splitlines() if newer in x]
        assert str(manifest) in line and f"created_at {said!r} is out of range" in line
        assert "Traceback" not in res.err and "OverflowError" not in res.err
