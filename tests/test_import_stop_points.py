"""SIGTERM at the exact point of an import into PostgreSQL where it hung: the exit of
psycopg's COPY block, which the import's writers keep open across chunks and end by hand
(engine/data/pg_writer.py ``_end_copy``), cut short before the block had ended the COPY. The
block was left suspended holding the connection's lock, and the import's ROLLBACK waited for
it for ever (the sync's same hang: tests/test_sync_stop_points.py, whose hook lands it)."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path

import psycopg
import pytest

from tests.inproc import run_inproc
from tests.stop_points import run_stopped


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
    res = run_stopped("import_copy_end", 1, *args, "--no-backup", "--yes")
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


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_sigterm_as_an_imports_commit_returns_says_the_rows_are_imported(
    tmp_path: Path, kind: str, request: pytest.FixtureRequest
) -> None:
    """SIGTERM landing just as the COMMIT returned: 300 rows in, the audit row `import ok`,
    but the run row said failed/interrupted and the CLI only "terminated" (exit 143), read
    as undone. The import is now said done (exit 0, its report, a warning that the signal
    came too late), and its run row is `ok` with its counts, as its audit row."""
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'sekolah.db'}"
        with contextlib.closing(sqlite3.connect(tmp_path / "sekolah.db")) as c:
            c.execute("CREATE TABLE kelas (kode TEXT PRIMARY KEY, nama TEXT NOT NULL)")
    else:
        url = request.getfixturevalue("pg_url")
        with psycopg.connect(url, autocommit=True) as c:
            c.execute("CREATE TABLE kelas (kode text PRIMARY KEY, nama text NOT NULL)")
    csv = tmp_path / "kelas.csv"
    csv.write_text("kode,nama\n" + "".join(f"K{i:04d},kelas {i}\n" for i in range(300)))
    args = ("--database", url, "import", str(csv), "--table", "kelas", "--no-backup", "--yes")
    res = run_stopped("import_commit_return", 1, *args, "--json", event="return")
    assert res.code == 0, res.err
    assert json.loads(res.out)["committed"] is True and json.loads(res.out)["inserted"] == 300
    late = "warning: the import is committed, but: an interrupt (Ctrl-C or SIGTERM) came after "
    assert late + "it had committed, too late to undo it" in res.err, res.err
    assert "terminated" not in res.err, res.err
    if kind == "sqlite":
        with contextlib.closing(sqlite3.connect(tmp_path / "sekolah.db")) as conn:
            count = conn.execute("SELECT count(*) FROM kelas").fetchone()
            audit = conn.execute("SELECT action, outcome, detail FROM malnu_audit").fetchall()
    else:
        with psycopg.connect(url, autocommit=True) as pc:
            count = pc.execute("SELECT count(*) FROM kelas").fetchone()
            audit = pc.execute("SELECT action, outcome, detail FROM malnu_audit").fetchall()
    assert count == (300,)
    assert [a[1] for a in audit if a[0] == "import"] == ["ok"], audit
    (run,) = [a for a in audit if a[0] == "run"]
    assert run[1] == "ok" and json.loads(run[2])["counts"]["inserted"] == 300, run
