"""`backup prune` (a cron job, at night) beside the operations that need a backup: a recover
stopped half-way (its pre-recover backup is its only undo) and a restore at work (its backup
is being read). Real SQLite files and real `malnu-tui` processes; the mark and the lock row
are written as the recover and the restore write them."""

from __future__ import annotations

import json
from pathlib import Path

from malnu_tui.engine.backends.base import lock_holder_for_this_process
from malnu_tui.engine.recover_state import started_row
from tests.backup_support import cli, make_target, open_fresh


def _setup(tmp_path: Path, backups: int) -> tuple[list[str], Path, list[str]]:
    """(global args, home, backup ids newest first) of a SQLite file with ``backups`` backups."""
    target = make_target(tmp_path, f"sqlite:///{tmp_path / 'school.db'}")
    open_fresh(target).close()
    args = ["--database", target.url, "--migrations-dir", str(target.migrations_dir)]
    args += ["--rollback-dir", str(target.rollback_dir)]
    home = tmp_path / "home"
    for _ in range(backups):
        assert cli(*args, "backup", "create", home=home).code == 0
    return args, home, _ids(args, home)


def _ids(args: list[str], home: Path) -> list[str]:
    listed = cli(*args, "backup", "list", "--json", home=home)
    assert listed.code == 0, listed.err
    return [b["id"] for b in json.loads(listed.out)]


def test_prune_keeps_the_backups_a_recover_stopped_half_way_names(tmp_path: Path) -> None:
    """A recover stopped half-way names its pre-recover backup as its only undo (`backup
    restore <pre>`), and the backup it restored. Two nightly backups of the half-recovered
    database later, `prune --keep 1` deleted both like any others: the way back was gone.
    Now they are kept, and the plan and the JSON say why; `backup delete` of one warns."""
    args, home, ids = _setup(tmp_path, 2)
    pre, restored = ids  # the pre-recover backup is taken after the one restored
    target = make_target(tmp_path, f"sqlite:///{tmp_path / 'school.db'}")
    backend = open_fresh(target)
    backend.append_audit(started_row("2026-12-06T01:00:00+00:00", restored, pre, 2))
    backend.close()
    for _ in range(2):
        assert cli(*args, "backup", "create", "--reason", "scheduled", home=home).code == 0
    newer = [i for i in _ids(args, home) if i not in ids]

    p = cli(*args, "backup", "prune", "--keep", "1", "--yes", "--json", home=home)
    assert p.code == 0, p.err
    out = json.loads(p.out)
    assert out["deleted"] == [newer[1]], out  # only the older scheduled one
    assert {pin["id"] for pin in out["pinned"]} == {pre, restored}
    assert f"kept: {pre} (the pre-recover backup of a recover to " in p.err, p.err
    assert "its only undo" in p.err
    assert set(_ids(args, home)) == {newer[0], pre, restored}
    # `backup delete` of it (an operator naming it) is done, and warned before the confirm
    p = cli(*args, "backup", "delete", pre, "--yes", home=home)
    assert p.code == 0 and f"warning: {pre} is the pre-recover backup of " in p.err, p.err


def test_prune_deletes_nothing_while_a_restore_holds_the_lock(tmp_path: Path) -> None:
    """A cron prune during a long restore (a PostgreSQL one runs for minutes) deleted the very
    backup being restored. Now prune holds the migration lock as every write does: a restore
    at work (its lock row, here held by this test's live process as a restore writes it) is
    met with exit 3, naming it, and nothing is deleted; once the restore is done, it prunes."""
    args, home, ids = _setup(tmp_path, 3)
    target = make_target(tmp_path, f"sqlite:///{tmp_path / 'school.db'}")
    backend = open_fresh(target)
    try:
        backend.acquire_lock(lock_holder_for_this_process("restore"))
        p = cli(*args, "backup", "prune", "--keep", "1", "--yes", home=home)
        assert p.code == 3 and "[restore]" in p.err, p.err
        assert "Traceback" not in p.err and _ids(args, home) == ids
        # `backup delete` of one by hand likewise: the backup may be the one being read
        d = cli(*args, "backup", "delete", ids[0], "--yes", home=home)
        assert d.code == 3 and "[restore]" in d.err, d.err
        assert _ids(args, home) == ids
        backend.release_lock()
    finally:
        backend.close()
    p = cli(*args, "backup", "prune", "--keep", "1", "--yes", home=home)
    assert p.code == 0, p.err
    assert _ids(args, home) == ids[:1]


def test_prune_never_keeps_a_backup_whose_file_was_replaced_in_place_of_a_real_one(
    tmp_path: Path,
) -> None:
    """At 2 a.m. an operator copies an older backup's file over the newest one's (`cp`, the
    wrong way round): the same size, so `backup list` still says `✔ yes`. `prune --keep 1`
    kept that one as "the newest verified" and deleted every real backup, and its restore then
    failed on its hash: nothing was left to restore. Now prune hashes the backup it keeps:
    one whose file no longer matches its manifest is said, recorded as failed, and the next
    sound one is kept (and restores)."""
    args, home, ids = _setup(tmp_path, 3)
    newest, sound, oldest = ids
    store = next((home / "data").rglob(f"{newest}.json")).parent
    (store / f"{newest}.sqlite").write_bytes((store / f"{oldest}.sqlite").read_bytes())
    # (`backup list` and `check` see its mtime moved since verified: no longer `✔ yes`.)
    assert [b["verified_at"] is not None for b in _listed(args, home)] == [False, True, True]

    p = cli(*args, "backup", "prune", "--keep", "1", "--yes", "--json", home=home)
    assert p.code == 0, p.err
    out = json.loads(p.out)
    assert out["deleted"] == [oldest], out
    assert [f["id"] for f in out["failed_verification"]] == [newest], out
    assert f"warning: backup {newest} failed verification" in p.err, p.err
    assert f"kept always: {sound} (the newest verified backup)" in p.err, p.err
    assert [(b["id"], b["verified_at"] is not None) for b in _listed(args, home)] == [
        (newest, False),
        (sound, True),
    ]
    r = cli(*args, "backup", "restore", sound, "--yes", home=home)
    assert r.code == 0 and f"restored {sound}" in r.err, r.err


def _listed(args: list[str], home: Path) -> list[dict[str, object]]:
    listed = cli(*args, "backup", "list", "--json", home=home)
    assert listed.code == 0, listed.err
    return list(json.loads(listed.out))


def test_a_manifest_time_edited_into_wib_is_read_as_the_same_instant(tmp_path: Path) -> None:
    """An operator edits the oldest backup's manifest, writing its time as WIB (`…T08:23:58
    +07:00`, the same instant). Compared as text it was the newest: `backup list` put it first
    as "08:23 (UTC)", and `prune --keep 2` kept it and deleted a backup taken after it. A time
    is read as the instant it names, in UTC, wherever it is used."""
    from datetime import datetime, timedelta, timezone

    args, home, ids = _setup(tmp_path, 3)
    newest, middle, oldest = ids
    path = next((home / "data").rglob(f"{oldest}.json"))
    data = json.loads(path.read_text())
    utc = data["created_at"]
    wib = datetime.fromisoformat(utc).astimezone(timezone(timedelta(hours=7)))
    data["created_at"] = wib.isoformat()
    path.write_text(json.dumps(data))

    listed = _listed(args, home)
    assert [b["id"] for b in listed] == ids and listed[2]["created_at"] == utc, listed
    p = cli(*args, "backup", "prune", "--keep", "2", "--yes", "--json", home=home)
    assert p.code == 0, p.err
    assert json.loads(p.out)["deleted"] == [oldest], p.out
    assert _ids(args, home) == [newest, middle]
