"""The rejects file and the report's first rejected rows, by line: rows are judged out of line
order (a chunk's values as read, the database's refusals a chunk behind, repeated keys and
the staging table's refusals once every row is in), and the file listed them so, the first bad
line below the others; the report showed the first 50 judged, not the first 50 lines. Sorted
with bounded memory (sorted runs in temporary files past a budget, merged)."""

from __future__ import annotations

import resource
from pathlib import Path

import pytest

from malnu_tui.engine.data import ImportRequest, MaxErrors
from malnu_tui.engine.data.errors import ImportCheckFailed
from malnu_tui.engine.data.rejects import RejectsWriter
from malnu_tui.engine.data.rows import Rejection
from tests.import_support import ImportTarget, import_into, rejects_of, write_csv


def test_rejected_rows_are_listed_by_line_however_they_were_judged(
    imp: ImportTarget, tmp_path: Path
) -> None:
    """Line 2's key is in the table already and line 58 repeats line 3's (both judged once
    every row is in); lines 4–57 hold a date that is none (judged as each is read)."""
    imp.execute("INSERT INTO users (id, email, name) VALUES (9, 'old@malnu.sch.id', 'Lama')")
    rows = ["9,baru@malnu.sch.id,Baru,2024-01-02 07:00:00", "1,a@malnu.sch.id,Ana,2024-01-02"]
    rows += [f"{i},s{i}@malnu.sch.id,S{i},31/02/2024" for i in range(10, 64)]
    rows.append("1,b@malnu.sch.id,Ana Dua,2024-01-02")
    f = write_csv(tmp_path / "u.csv", "id,email,name,created_at\n" + "\n".join(rows) + "\n")
    req = ImportRequest("users", file=f, rejects=tmp_path / "r.csv", max_errors=MaxErrors(100))
    report = import_into(imp, req)
    lines = [int(r["line"]) for r in rejects_of(report.rejects_file)]
    assert lines == [2, *range(4, 58), 58], lines
    assert [r.line for r in report.first_rejects] == [2, *range(4, 53)]
    assert list(tmp_path.glob(".malnu-rejects-*")) == []


def test_a_long_list_is_sorted_in_runs_on_disk_and_merged(tmp_path: Path) -> None:
    """Past its memory budget the rows go to sorted run files beside the rejects file (and
    past so many runs, one merged run), merged at the end; none is left behind."""
    (tmp_path / "out").mkdir()
    path = tmp_path / "out" / "r.csv"
    writer = RejectsWriter(path, run_bytes=2_000, max_runs=4)
    order = [*range(2, 600, 3), *range(600, 2, -3), *range(4, 600, 3)]  # three judgings
    seen_runs = 0
    for line in order:
        writer.add(Rejection(line, "c", "bad", f"{line},x\n"))
        seen_runs = max(seen_runs, len(list(path.parent.glob(".malnu-rejects-run-*"))))
    writer.close()
    assert seen_runs >= 3, "written in runs, not held whole"
    got = [int(r["line"]) for r in rejects_of(str(path))]
    assert got == sorted(order), got[:20]
    assert [r.line for r in writer.first] == sorted(order)[:50]
    assert [p.name for p in path.parent.iterdir()] == ["r.csv"]
    assert path.stat().st_mode & 0o777 == 0o600


def test_a_run_that_did_not_fit_leaves_no_part_list_once_the_import_stops(tmp_path: Path) -> None:
    """The merge of the runs did not fit (a file size limit here; a full disk alike: the merge
    needs the runs' room again): the import failed saying the part written was removed, and its
    stop closed the writer, which wrote the rows still held alone, the runs removed, a few
    rows passing for every rejected row."""
    (tmp_path / "out").mkdir()
    path = tmp_path / "out" / "r.csv"
    writer = RejectsWriter(path, run_bytes=1_000, max_runs=3)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (5_000, hard))  # a run fits, three do not
    try:
        with pytest.raises(ImportCheckFailed, match="the part written was removed"):
            for line in range(2, 400):
                writer.add(Rejection(line, "c", "bad", "x" * 50))
        writer.close()  # as the import's stop does
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert list(path.parent.iterdir()) == []
