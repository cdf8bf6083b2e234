"""SIGTERM at the exact point of an import into PostgreSQL where it hung: the exit of
psycopg's COPY block, which the import's writers keep open across chunks and end by hand
(engine/data/pg_writer.py ``_end_copy``), cut short before the block had ended the COPY. The
block was left suspended holding the connection's lock, and the import's ROLLBACK waited for
it for ever (the sync's same hang: tests/test_sync_stop_points.py, whose hook lands it)."""

from __future__ import annotations

import json
from pathlib import Path
from types import FrameType

import psycopg
import pytest

from tests.inproc import run_inproc
from tests.test_sync_stop_points import _within, sigterm_at


def _copy_end(frame: FrameType) -> bool:
    """The exit of psycopg's COPY block, entered by the writer's ``_end_copy``."""
    code = frame.f_code
    if code.co_name != "__exit__" or not code.co_filename.endswith("contextlib.py"):
        return False
    gen = getattr(frame.f_locals.get("self"), "gen", None)
    return getattr(gen, "__name__", "") == "copy" and _within(frame, "_end_copy", "pg_writer.py", 1)


@pytest.mark.parametrize(
    "how", [(), ("--key", "kode", "--on-conflict", "update")], ids=["direct", "staged"]
)
def test_sigterm_as_an_imports_copy_ends_stops_it_and_says_nothing_was_imported(
    tmp_path: Path, pg_url: str, how: tuple[str, ...]
) -> None:
    with psycopg.connect(pg_url, autocommit=True) as c:
        c.execute("CREATE TABLE kelas (kode text PRIMARY KEY, nama text NOT NULL)")
    csv = tmp_path / "kelas.csv"
    csv.write_text("kode,nama\n" + "".join(f"K{i:04d},kelas {i}\n" for i in range(300)))
    args = ("--database", pg_url, "import", str(csv), "--table", "kelas", *how)
    with sigterm_at(_copy_end, 1):
        res = run_inproc(*args, "--no-backup", "--yes")
    assert res.code == 143, res.err
    assert "Traceback" not in res.err, res.err
    with psycopg.connect(pg_url, autocommit=True) as c:
        assert c.execute("SELECT count(*) FROM kelas").fetchone() == (0,)
        audit = c.execute("SELECT action, outcome, detail FROM malnu_audit ORDER BY id").fetchall()
        assert not [a for a in audit if a[0] == "import" and a[1] == "ok"], audit
        (run,) = [a for a in audit if a[0] == "run"]
        assert run[1] == "failed" and json.loads(run[2])["error"] == "interrupted", run
        assert not c.execute("SELECT 1 FROM pg_locks WHERE relation = 'kelas'::regclass").fetchone()
    again = run_inproc(*args, "--no-backup", "--yes")  # nothing left in the way
    assert again.code == 0, again.err
