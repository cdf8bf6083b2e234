"""`check` (from a timer every minute, each run a new process) read every applied migration's
rollback file on every run for its "edited since applied" warning: 10,000 files a minute on a
school's long history. It now keeps their checksums as the console's status refresh does
(engine/file_sums.py, in the user cache dir between runs) and reads a file again only when its
size, mtime, ctime, inode or device changed, or it had changed less than SETTLED_NS before it
was read. An edit whose size and mtime are put back (``os.utime``) is still read again: ctime
cannot be put back."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import pytest

from malnu_tui.engine.config import Target
from malnu_tui.engine.file_sums import FileSums, cache_dir, settled_after
from malnu_tui.engine.files import RollbackFile
from malnu_tui.engine.monitor.config import MonitorConfig
from malnu_tui.engine.monitor.reading import run_checks
from tests.fixtures_core import MigrationDirs, run_cli

KELAS_RB = "20250101_000200_undo_kelas.sql"
SIBLING = "DROP TABLE siswa;\n"  # the same size as kelas's reviewed rollback, never reviewed
EDITED = "1 rollback file edited since applied"


def _applied(tmp_path: Path, mdirs: MigrationDirs) -> str:
    mdirs.add("20250101_000100", "siswa", "CREATE TABLE siswa (id INTEGER PRIMARY KEY);",
              "DROP TABLE siswa;")  # fmt: skip
    mdirs.add("20250101_000200", "kelas", "CREATE TABLE kelas (id INTEGER PRIMARY KEY);",
              "DROP TABLE kelas;")  # fmt: skip
    url = f"sqlite:///{tmp_path / 'school.db'}"
    res = run_cli("--database", url, *mdirs.args(), "up", "--yes", "--no-backup")
    assert res.code == 0, res.err
    # The rollback files settle (a kept checksum is trusted): as long as their stamps need,
    # SETTLED_NS for whole-second stamps, a tick for nanosecond ones (a fixed 2.2 s before).
    for rb in mdirs.rollback.iterdir():
        st = rb.stat()
        left = st.st_ctime_ns + settled_after(st.st_mtime_ns, st.st_ctime_ns) - time.time_ns()
        time.sleep(max(left, 0) / 1e9 + 0.1)
    return url


def _edit_keeping_size_and_mtime(path: Path, text: str) -> None:
    before = path.stat()
    assert len(text.encode()) == before.st_size
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (
        before.st_size,
        before.st_mtime_ns,
        before.st_ino,
    )


def test_check_reads_an_unchanged_rollback_file_once_and_an_edited_one_again(
    tmp_path: Path, mdirs: MigrationDirs
) -> None:
    url = _applied(tmp_path, mdirs)
    target = Target("school", url, mdirs.migrations, mdirs.rollback, tmp_path / "backups")
    sums = FileSums()
    first = run_checks([target], MonitorConfig(), sums=sums)
    assert sums.hashed == 2 and EDITED not in first.summary_line()
    run_checks([target], MonitorConfig(), sums=sums)
    assert sums.hashed == 2  # the second pass read neither file

    # Edited with its size and mtime put back: read again (its ctime moved) and warned of.
    _edit_keeping_size_and_mtime(mdirs.rollback / KELAS_RB, SIBLING)
    report = run_checks([target], MonitorConfig(), sums=sums)
    assert sums.hashed == 3
    assert any(KELAS_RB in p.line() for p in report.problems), report.problems


def test_a_file_read_within_a_tick_of_its_change_is_read_again_next_time(
    mdirs: MigrationDirs,
) -> None:
    """A file changed a moment before it was read could change again with the same stamps (one
    tick of the file system's clock): not trusted yet, read again next time ("racy git"). A
    settled one is trusted. (A try whose read came later than the tick is tried again.)"""
    mdirs.add("20250101_000200", "kelas", "CREATE TABLE kelas (id INTEGER);", "DROP TABLE kelas;")
    path = mdirs.rollback / KELAS_RB
    rb = RollbackFile(path)
    for _ in range(20):
        sums = FileSums()
        path.write_text("DROP TABLE kelas;\n", encoding="utf-8")
        sums.of(rb)
        st = path.stat()
        racy = time.time_ns() - st.st_ctime_ns < settled_after(st.st_mtime_ns, st.st_ctime_ns)
        sums.of(rb)
        if racy:
            assert sums.hashed == 2  # read again: not trusted yet
            break
    else:
        pytest.fail("no read came within a tick of the change in 20 tries")
    time.sleep(settled_after(st.st_mtime_ns, st.st_ctime_ns) / 1e9 + 0.1)
    sums = FileSums()
    sums.of(rb)
    sums.of(rb)
    assert sums.hashed == 1  # settled: trusted


def test_check_processes_keep_the_sums_on_disk_and_an_edit_with_mtime_put_back_is_seen(
    tmp_path: Path, mdirs: MigrationDirs
) -> None:
    url = _applied(tmp_path, mdirs)
    check = ("--database", url, *mdirs.args(), "check")
    res = run_cli(*check)
    assert EDITED not in res.out, res.out
    (kept,) = cache_dir().glob("*.json")
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    data = json.loads(kept.read_text(encoding="utf-8"))
    assert data["dir"] == str(mdirs.rollback) and sorted(data["files"]) == [
        "20250101_000100_undo_siswa.sql",
        KELAS_RB,
    ]

    # The next run trusts what the last one kept for an unchanged file (it is not read):
    # a kept checksum made wrong is what it compares, and says so.
    good = data["files"][KELAS_RB][-1]
    data["files"][KELAS_RB][-1] = "0" * 64
    kept.write_text(json.dumps(data), encoding="utf-8")
    res = run_cli(*check)
    assert EDITED in res.out and KELAS_RB in res.out, res.out
    # MALNU_SUMS_CACHE=0: nothing kept is read (every file read).
    assert EDITED not in run_cli(*check, env={"MALNU_SUMS_CACHE": "0"}).out
    data["files"][KELAS_RB][-1] = good
    kept.write_text(json.dumps(data), encoding="utf-8")
    assert EDITED not in run_cli(*check).out

    # Edited between two runs, size and mtime put back: the next run reads it and warns.
    _edit_keeping_size_and_mtime(mdirs.rollback / KELAS_RB, SIBLING)
    res = run_cli(*check)
    assert EDITED in res.out and KELAS_RB in res.out, res.out
