"""SIGTERM at the exact point of an import into PostgreSQL where it hung: the exit of
psycopg's COPY block, which the import's writers keep open across chunks and end by hand
(engine/data/pg_writer.py ``_end_copy``), cut short before the block had ended the COPY. The
block was left suspended holding the connection's lock, and the import's ROLLBACK waited for
it for ever (the sync's same hang: tests/test_sync_stop_points.py, whose hook lands it)."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from tests.d1server import Fault
from tests.fixtures_core import CliResult, popen_cli
from tests.fixtures_matrix import DbTarget
from tests.import_support import ImportTarget
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


@pytest.mark.parametrize("kind", ["sqlite", "postgresql", "d1"])
def test_sigterm_as_an_imports_commit_returns_says_the_rows_are_imported(
    tmp_path: Path, kind: str, fresh_db: Callable[[str], DbTarget]
) -> None:
    """SIGTERM landing just as the COMMIT returned (D1: as its final batch, the promotion
    with the `import ok` row, was answered): 300 rows in, the audit row `import ok`, but the
    run row said failed/interrupted and the CLI only "terminated" (exit 143), read as undone.
    The import is now said done (exit 0, its report, a warning that the signal came too
    late), and its run row is `ok` with its counts, as its audit row."""
    db = _kelas(tmp_path, fresh_db(kind))
    res = run_stopped("import_commit_return", 1, *_import_args(tmp_path, db), event="return")
    _said_done(res, db)
    if kind == "d1":  # (its staging table dropped by the batch itself)
        assert not db.rows("SELECT name FROM sqlite_master WHERE name LIKE '%stage%'")


@pytest.mark.parametrize(
    ("point", "event"), [("import_step_return", "return"), ("lock_release", "call")]
)
def test_sigterm_after_an_imports_step_before_its_run_row_says_the_rows_are_imported(
    tmp_path: Path, point: str, event: str, fresh_db: Callable[[str], DbTarget]
) -> None:
    """SIGTERM landing once the import's step had returned committed (``run._execute``), or
    as the lock was released, before the run row was written: the run row said "failed:
    interrupted" with no counts beside `import ok` and the 300 rows, `check` counted a failed
    import, and the CLI said "terminated" (exit 143) with no report, even under --json. Now
    held from the COMMIT to the run row, and said as one that came as the COMMIT returned."""
    db = _kelas(tmp_path, fresh_db("sqlite"))
    res = run_stopped(point, 1, *_import_args(tmp_path, db), event=event)
    _said_done(res, db)


def _kelas(tmp_path: Path, target: DbTarget) -> ImportTarget:
    db = ImportTarget(target.kind, target.url, tmp_path)
    db.execute("CREATE TABLE kelas (kode TEXT PRIMARY KEY, nama TEXT NOT NULL)")
    return db


def _import_args(tmp_path: Path, db: ImportTarget) -> tuple[str, ...]:
    csv = tmp_path / "kelas.csv"
    csv.write_text("kode,nama\n" + "".join(f"K{i:04d},kelas {i}\n" for i in range(300)))
    return ("--database", db.url, "import", str(csv), "--table", "kelas", "--no-backup", "--yes",
            "--json")  # fmt: skip


def _said_done(res: CliResult, db: ImportTarget) -> None:
    assert res.code == 0, res.err
    assert json.loads(res.out)["committed"] is True and json.loads(res.out)["inserted"] == 300
    late = "warning: the import is committed, but: an interrupt (Ctrl-C or SIGTERM) came after "
    assert late + "it had committed, too late to undo it" in res.err, res.err
    assert "terminated" not in res.err, res.err
    assert db.count("kelas") == 300
    audit = db.rows("SELECT action, outcome, detail FROM malnu_audit ORDER BY id")
    assert [a[1] for a in audit if a[0] == "import"] == ["ok"], audit
    (run,) = [a for a in audit if a[0] == "run"]
    assert run[1] == "ok" and json.loads(run[2])["counts"]["inserted"] == 300, run
    assert not db.rows("SELECT * FROM malnu_lock"), "the lock row left behind"


@pytest.mark.parametrize("hangs", ["DELETE FROM malnu_lock", "'run', 'import kelas'"])
def test_a_second_ctrl_c_ends_an_import_whose_d1_hangs_after_its_commit(
    tmp_path: Path, hangs: str, fresh_db: Callable[[str], DbTarget]
) -> None:
    """D1 stops answering once the import's rows are in (its lock's release, or its run row,
    hangs): the stop held from the COMMIT to the run row (and the run row's own hold, every
    command's) held every Ctrl-C and SIGTERM, and the command sat through each request's six
    tries of up to 60 s (the release, the run row: minutes), a 2 a.m. import no key could
    end. The first stop is still held; a second one within the hold ends the wait (the
    client's clean-up then tried once, briefly), and the import is said done (exit 0, the
    too-late warning, its rows in)."""
    target = fresh_db("d1")
    assert target.d1 is not None
    db = _kelas(tmp_path, target)
    gate = threading.Event()
    hung = target.d1.server.inject(Fault("slow", count=1, match=hangs, hold=gate))
    proc = popen_cli(*_import_args(tmp_path, db), env=target.env)
    try:
        deadline = time.monotonic() + 30
        while hung.count and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        assert not hung.count, proc.communicate()
        proc.send_signal(signal.SIGINT)
        time.sleep(0.3)
        assert proc.poll() is None  # the first is held: the release may still be answered
        deadline = time.monotonic() + 20
        while proc.poll() is None and time.monotonic() < deadline:
            proc.send_signal(signal.SIGINT)  # (again until it ends: two may land as one)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=0.5)
        code = proc.wait(timeout=0.1)
    finally:
        gate.set()
        if proc.poll() is None:
            proc.kill()
    out, err = proc.communicate()
    assert code == 0, err
    assert json.loads(out)["committed"] is True and json.loads(out)["inserted"] == 300
    assert "came after it had committed, too late to undo it" in err, err
    assert db.count("kelas") == 300


def test_one_sigterm_hurries_an_imports_d1_clean_up_after_its_commit(
    tmp_path: Path, fresh_db: Callable[[str], DbTarget]
) -> None:
    """A single SIGTERM (systemd, a CI runner: SIGKILL 90 s later) held from the COMMIT to the
    run row while D1 stopped answering the lock's release: the release went through its six
    tries (each up to the target's timeout, 60 s by default, with waits between) before the
    run row, and the SIGKILL came first (the run row lost, the lock's release not said). Now
    a signal held there makes D1's client brief (one more short try): the import ends within
    seconds, said done (exit 0, the too-late warning), the lock row said left behind."""
    target = fresh_db("d1")
    assert target.d1 is not None
    db = _kelas(tmp_path, target)
    cfg = tmp_path / "malnu.toml"
    cfg.write_text(f'[targets.production]\nurl = "{target.url}"\ntimeout = 1\n')
    args = ("--config", str(cfg), "--target", "production", *_import_args(tmp_path, db)[2:])
    gate = threading.Event()
    hung = target.d1.server.inject(
        Fault("slow", count=6, match="DELETE FROM malnu_lock", hold=gate)
    )
    proc = popen_cli(*args, env=target.env)
    try:
        deadline = time.monotonic() + 30
        while hung.count == 6 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        assert hung.count < 6, proc.communicate()
        proc.send_signal(signal.SIGTERM)
        t0 = time.monotonic()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=6)  # (1 s, the release's try; 0.5 s; 1 s, its brief one)
        took = time.monotonic() - t0
    finally:
        gate.set()
        if proc.poll() is None:
            proc.kill()
    out, err = proc.communicate()
    assert proc.returncode == 0, (took, err)
    assert json.loads(out)["committed"] is True and json.loads(out)["inserted"] == 300
    assert "came after it had committed, too late to undo it" in err, err
    assert "the lock row of this session" in err and "stays" in err, err
    assert hung.count == 4, hung.count  # the release sent twice: the try it came in, one more
    assert db.count("kelas") == 300
