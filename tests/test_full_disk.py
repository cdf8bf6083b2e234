"""A SQLite database on a disk that is full, at every amount of room left: a real small tmpfs
(needs root, as the suite has on CI) filled to within N KiB, then `rollback`. Whatever N, the
database is left fully before or fully after, and a failure is one line whose hint names the
disk, never the database "stopped answering" or a bare "disk I/O error"."""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from tests.fixtures_core import MigrationDirs, run_cli, school_set
from tests.test_backup_months import _small_tmpfs
from tests.test_reliability import one_error


def _fill(disk: Path, leave: int) -> None:
    """Fill ``disk`` with one file until ``leave`` bytes are left."""
    st = os.statvfs(disk)
    room = st.f_bavail * st.f_frsize - leave
    with open(disk / "filler", "wb") as f:
        while room > 0:
            f.write(b"\0" * min(room, 1 << 20))
            room -= 1 << 20


def _fresh(disk: Path, db: Path, base_db: Path, leave_kib: int) -> None:
    """``disk`` holding a copy of ``base_db`` at ``db`` and ``leave_kib`` KiB of room."""
    for old in disk.iterdir():
        old.unlink()
    deadline = time.monotonic() + 5
    while os.statvfs(disk).f_bfree < os.statvfs(disk).f_blocks and time.monotonic() < deadline:
        time.sleep(0.05)  # (the files of the process that just ended are let go)
    shutil.copyfile(base_db, db)
    _fill(disk, leave_kib * 1024)


def _walk(ended_at: Callable[[int], str]) -> set[str]:
    """Where a command ends at 0, 4, … 128 KiB of room. The band where it is done but its
    lock row cannot be released is a page or so wide, between the last failure and the first
    clean end: a file of the process before still let go (a loaded box) or another filesystem's
    block accounting (CI) can move it past a 4 KiB step, so it is walked again there a KiB at
    a time."""
    ended = {kib: ended_at(kib) for kib in range(0, 132, 4)}
    seen = set(ended.values())
    last = max(k for k, e in ended.items() if not e.startswith("done"))
    first = min(k for k, e in ended.items() if k > last)
    for _ in range(3):
        if "done, its lock row left" in seen:
            break
        seen.update(ended_at(kib) for kib in range(last, first + 1))
    return seen


def _state(db: Path) -> tuple[bool, bool]:
    """(the index's tracking row is there, the index is there): both or neither."""
    conn = sqlite3.connect(db)
    try:
        row = conn.execute(
            "SELECT count(*) FROM migrations WHERE filename LIKE '20250101_000300%'"
        ).fetchone()
        index = conn.execute(
            "SELECT count(*) FROM sqlite_master WHERE name = 'idx_posts_user'"
        ).fetchone()
        return bool(row[0]), bool(index[0])
    finally:
        conn.close()


def test_a_rollback_on_a_full_disk_names_the_disk_whatever_room_is_left(
    tmp_path: Path, mdirs: MigrationDirs
) -> None:
    """With no room for its -shm, `status` and `rollback` said `error: cannot open …: disk I/O
    error` and nothing more; with a little more, `COMMIT failed: database or disk is full`
    (the lock row); with a little more still, the rollback's failure came with "the database
    stopped answering, not the file" (its failure row could not be written either); with a
    little more still, the rollback was done and committed but its lock row could not be
    deleted: `error: cannot release the migration lock` (exit 1, no summary, no safety
    backup id), so the operator ran it again and rolled back one migration more. Now each
    failure says the disk holding the database is full; a rollback that was done says so
    (exit 0) with a warning that its lock row stays."""
    base_db = tmp_path / "base.db"
    args = school_set(mdirs).args()
    assert run_cli("--database", f"sqlite:///{base_db}", *args, "up", "--no-backup").code == 0
    seen: set[str] = set()
    with _small_tmpfs(tmp_path / "disk", "1m") as disk:
        db = disk / "school.db"
        url = ["--database", f"sqlite:///{db}", *args]

        def rollback_with(kib: int) -> str:
            """A rollback with ``kib`` KiB of room: checked, and where it ended."""
            _fresh(disk, db, base_db, kib)
            res = run_cli(*url, "rollback", "--no-backup", "--yes")
            (disk / "filler").unlink()  # as the operator would, then look
            row, index = _state(db)
            assert row == index, (kib, res.err)  # fully before or fully after
            if not row:  # rolled back: said so (exit 0), whatever could not follow it
                assert res.code == 0, (kib, res.err)
                assert "rolled back 1 migration(s)" in res.err, (kib, res.err)
                assert "error:" not in res.err and "Traceback" not in res.err, (kib, res.err)
                if "warning: the migrations are rolled back, but: cannot release" in res.err:
                    assert "the next malnu-tui run on this host takes it over" in res.err
                    return "done, its lock row left"
                return "done"
            assert res.code == 1, (kib, res.code, res.err)
            one_error(res.err)
            error = next(line for line in res.err.splitlines() if line.startswith("error: "))
            assert "stopped answering" not in res.err, (kib, res.err)
            assert f"hint: the disk holding {disk} is full (" in res.err or (
                "hint: the disk where the database lives is full" in res.err
            ), (kib, res.err)
            return error.split(":")[1].strip().split()[0]

        seen.update(_walk(rollback_with))
        _fresh(disk, db, base_db, 0)
        res = run_cli(*url, "status")
        assert res.code == 1, res.err
        one_error(res.err, f"cannot open {db}")
        assert f"hint: the disk holding {disk} is full (0 KiB left; " in res.err, res.err
    # The room left decides where it fails: opening, the lock row, the rollback, the lock
    # row's release after it, or nowhere.
    assert {"cannot", "rollback", "done", "done, its lock row left"} <= seen, seen


def test_an_import_on_a_full_disk_is_done_or_not_and_says_which_whatever_room_is_left(
    tmp_path: Path,
) -> None:
    """An import that committed its rows on a disk that then had no room for the lock row's
    DELETE said `error: cannot release the migration lock …` (exit 1): run again, as an
    error invites, it imported every row a second time (a table with no key takes them).
    Now the import is reported committed (exit 0) with a warning that its lock row stays;
    one that did not commit says the disk, and wrote nothing."""
    base_db = tmp_path / "base.db"
    conn = sqlite3.connect(base_db)
    conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    conn.close()
    assert run_cli("--database", f"sqlite:///{base_db}", "status").code == 0
    csv = tmp_path / "notes.csv"
    csv.write_text("body\n" + "".join(f"note {i}\n" for i in range(50)))
    seen: set[str] = set()
    with _small_tmpfs(tmp_path / "disk", "1m") as disk:
        db = disk / "school.db"

        def import_with(kib: int) -> str:
            """An import with ``kib`` KiB of room: checked, and where it ended."""
            _fresh(disk, db, base_db, kib)
            res = run_cli(
                "--database", f"sqlite:///{db}", "import", str(csv), "--table", "notes",
                "--no-backup", "--yes",
            )  # fmt: skip
            (disk / "filler").unlink()
            conn = sqlite3.connect(db)
            rows = conn.execute("SELECT count(*) FROM notes").fetchone()[0]
            conn.close()
            assert rows in (0, 50), (kib, res.err)  # all or nothing
            assert "Traceback" not in res.err, (kib, res.err)
            if rows:
                assert res.code == 0 and "error:" not in res.err, (kib, res.err)
                assert "inserted 50" in res.err and "committed" in res.err, (kib, res.err)
                left = "warning: the import is committed, but: cannot release the migration lock"
                return "done, its lock row left" if left in res.err else "done"
            assert res.code == 1, (kib, res.err)
            one_error(res.err)
            assert "may be full" in res.err or f"the disk holding {disk} is full (" in res.err
            return "not done"

        seen.update(_walk(import_with))
    assert seen == {"not done", "done", "done, its lock row left"}, seen


def test_a_restore_whose_store_has_no_room_for_its_copy_says_so_and_changes_nothing(
    tmp_path: Path,
) -> None:
    """A restore copies the backup it restores into the store first (so it restores exactly
    the bytes it verified): with the store's disk too full for that copy, after the
    pre-restore backup fitted, it said `… [Errno 28] No space left on device; nothing was
    restored` and nothing of what to do. Now the hint says the store's disk is full and how
    much room the copy needs; the database is unchanged."""
    db = tmp_path / "school.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE photos (body BLOB)")
    conn.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 12) "
        "INSERT INTO photos SELECT randomblob(50000) FROM n"
    )
    conn.commit()
    conn.close()
    with _small_tmpfs(tmp_path / "store", "2m") as store:
        env = {"MALNU_BACKUP_DIR": str(store)}
        base = ["--database", f"sqlite:///{db}"]
        made = run_cli(*base, "backup", "create", env=env)
        assert made.code == 0, made.err
        backup_id = made.out.strip()
        conn = sqlite3.connect(db)
        conn.execute("DELETE FROM photos WHERE rowid > 1")
        conn.commit()
        conn.execute("VACUUM")
        conn.close()
        _fill(store, 300 * 1024)  # room for the small pre-restore backup, not for the copy
        res = run_cli(*base, "backup", "restore", backup_id, "--yes", env=env)
        assert res.code == 1, res.err
        one_error(
            res.err, f"cannot copy backup {backup_id} for the restore", "nothing was restored"
        )
        assert "[Errno" not in res.err, res.err
        assert "hint: the restore needs room for one copy of the backup (" in res.err, res.err
        assert "that disk (or quota) is full" in res.err, res.err
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT count(*) FROM photos").fetchone() == (1,)
    assert conn.execute("SELECT count(*) FROM malnu_lock").fetchone() == (0,)
    conn.close()
