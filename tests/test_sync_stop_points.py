"""SIGTERM at the exact points of a chunk's write where it left the sync saying what was not
so, or hung it. The signal is real (sent to this process, the CLI's own handler raising it);
a profile hook sends it as the chosen function of the chunk's write is entered, so that its
handler runs there, as a signal arriving at that moment does (a CI run met the first of them
once, among thousands of SIGTERMs sent at random).

- a chunk's exit from its transaction block cut short (its state row written, no COMMIT yet):
  the note said `300 inserted … stays in the destination` of a copy holding 200 rows once the
  process was gone, and its audit row and the lock's release, written inside that open
  transaction, were rolled back at exit (no audit row, the lock's row left behind);
- the exit of psycopg's COPY block cut short: the sync hung until it was killed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType

import pytest

from tests.fixtures_d1 import D1Target
from tests.inproc import run_inproc
from tests.sync_support import Db
from tests.test_sync_cli import school


def _within(frame: FrameType, function: str, file: str, depth: int) -> bool:
    """``frame`` runs within ``function`` of ``file`` (at most ``depth`` callers up)."""
    back = frame.f_back
    for _ in range(depth):
        if back is None:
            return False
        if back.f_code.co_name == function and back.f_code.co_filename.endswith(file):
            return True
        back = back.f_back
    return False


def _transaction_exit(frame: FrameType) -> bool:
    """psycopg's exit of a PostgreSQL chunk's transaction block (the COMMIT not sent yet)."""
    code = frame.f_code
    return (
        code.co_name == "__exit__"
        and code.co_filename.endswith(os.path.join("psycopg", "transaction.py"))
        and _within(frame, "write_chunk", "side_pgwrite.py", 3)
    )


def _block_exit(frame: FrameType) -> bool:
    """The exit of ``with conn.transaction()`` of a PostgreSQL chunk (psycopg's block, a
    generator, not yet resumed: left suspended, its transaction open, while the exception
    lives)."""
    code = frame.f_code
    if code.co_name != "__exit__" or not code.co_filename.endswith("contextlib.py"):
        return False
    gen = getattr(frame.f_locals.get("self"), "gen", None)
    return getattr(gen, "__name__", "") == "transaction" and _within(
        frame, "write_chunk", "side_pgwrite.py", 1
    )


def _copy_exit(frame: FrameType) -> bool:
    """The exit of psycopg's COPY block of a chunk (the block still to end the COPY)."""
    code = frame.f_code
    if code.co_name != "__exit__" or not code.co_filename.endswith("contextlib.py"):
        return False
    gen = getattr(frame.f_locals.get("self"), "gen", None)
    return getattr(gen, "__name__", "") == "copy" and _within(
        frame, "write_chunk", "side_pgwrite.py", 4
    )


def _sqlite_commit(frame: FrameType) -> bool:
    """The COMMIT of a SQLite chunk's transaction, about to be run."""
    return (
        frame.f_code.co_name == "execute"
        and frame.f_locals.get("args", ("",))[:1] == ("COMMIT",)
        and _within(frame, "write_chunk", "side_sqlite.py", 3)
    )


def _d1_chunk_written(frame: FrameType) -> bool:
    """A D1 chunk's batch of rows just answered (the batch of its statements, committed by
    D1), the chunk's write not yet returned."""
    code = frame.f_code
    return (
        code.co_name == "_batch"
        and code.co_filename.endswith("side_d1.py")
        and len(frame.f_locals.get("statements", ())) > 1
        and _within(frame, "write_chunk", "side_d1.py", 1)
    )


class _Hung(BaseException):
    """The sync did not end within the test's time (a deadlock)."""


@contextlib.contextmanager
def sigterm_at(point: Callable[[FrameType], bool], nth: int, event: str = "call") -> Iterator[None]:
    """SIGTERM to this process as the ``nth`` call that ``point`` matches is entered (main
    thread; as it returns with ``event="return"``); a run still going 20 s later is stopped
    (:class:`_Hung`, raised every 2 s until it is out: the test fails, its worker goes on)."""
    seen, at = [0], event

    def hook(frame: FrameType, event: str, _arg: object) -> None:
        if event == at and point(frame):
            seen[0] += 1
            if seen[0] == nth:
                sys.setprofile(None)
                os.kill(os.getpid(), signal.SIGTERM)

    def hung(_signum: int, _frame: object) -> None:
        signal.alarm(2)  # (again: the clean-up that follows may hang on the same lock)
        raise _Hung

    before = signal.signal(signal.SIGALRM, hung)
    signal.alarm(20)
    sys.setprofile(hook)
    try:
        yield
    finally:
        sys.setprofile(None)
        signal.alarm(0)
        signal.signal(signal.SIGALRM, before)
    assert seen[0] >= nth, f"the point was met {seen[0]} time(s)"


def _stopped_at_chunk_three(dst: Db, cfg: list[str], point: Callable[[FrameType], bool]) -> None:
    """A first copy of 500 rows in chunks of 100, SIGTERM at ``point`` of the third chunk:
    what the note, the audit row and the state row say is what the destination holds (the
    two chunks committed), and the lock is free."""
    with sigterm_at(point, 3):
        res = run_inproc("sync", "reporting", "--yes", *cfg)
    assert res.code == 143, res.err
    assert "Traceback" not in res.err, res.err
    assert dst.count() == 200, res.err
    assert (
        "stays in the destination (200 inserted, 0 updated, 0 deleted); the next sync resumes "
        "after them"
    ) in res.err, res.err
    (detail,) = dst.run("SELECT detail FROM malnu_audit WHERE action = 'sync'")[0]
    assert "inserted 200," in detail and "destination 200 rows," in detail, detail
    assert "Terminated" in detail, detail
    assert dst.run("SELECT status, rows_read, inserted FROM malnu_sync") == [("running", 200, 200)]
    assert dst.run("SELECT count(*) FROM malnu_lock") == [(0,)]  # released, and committed


@pytest.mark.parametrize(
    "point", [_transaction_exit, _block_exit, _copy_exit], ids=["commit", "block-exit", "copy-end"]
)
def test_sigterm_in_a_chunks_exit_into_postgresql_reports_and_audits_what_is_committed(
    tmp_path: Path, pg_url: str, point: Callable[[FrameType], bool]
) -> None:
    src, dst, cfg = school(tmp_path, pg_url, chunk_rows=100)
    src.create_users(500)
    _stopped_at_chunk_three(dst, cfg, point)


def test_sigterm_before_a_sqlite_chunks_commit_reports_and_audits_what_is_committed(
    tmp_path: Path,
) -> None:
    """The same into a SQLite copy (BEGIN IMMEDIATE … COMMIT): the lock's row, left behind,
    held every run of another host off for the lease's 10 minutes."""
    src = Db("sqlite", "", path=tmp_path / "primary.db")
    dst = Db("sqlite", "", path=tmp_path / "copy.db")
    src.create_users(500)
    config = tmp_path / "malnu.toml"
    config.write_text(
        f'[targets.primary]\nurl = "sqlite:{src.path}"\n\n'
        f'[targets.copy]\nurl = "sqlite:{dst.path}"\n\n'
        '[sync.reporting]\nfrom = "primary"\nto = "copy"\ntables = ["users"]\n'
        "chunk_rows = 100\n",
        encoding="utf-8",
    )
    _stopped_at_chunk_three(dst, ["--config", str(config)], _sqlite_commit)


def test_sigterm_after_a_d1_chunks_batch_counts_what_it_wrote(tmp_path: Path, d1: D1Target) -> None:
    """Into D1 a chunk's rows and its state row's counts went in two requests: a SIGTERM
    between them left "rows read" advanced and "inserted" not, the note saying 200 inserted
    of the 300 rows the copy held, and the next run counting from there. One batch now."""
    src = Db("sqlite", "", path=tmp_path / "primary.db")
    dst = Db("d1", d1.url, d1=d1)
    src.create_users(500)
    config = tmp_path / "malnu.toml"
    config.write_text(
        f'[targets.primary]\nurl = "sqlite:{src.path}"\n\n'
        f'[targets.copy]\nurl = "{d1.url}"\n\n'
        '[sync.reporting]\nfrom = "primary"\nto = "copy"\ntables = ["users"]\n'
        "chunk_rows = 100\n",
        encoding="utf-8",
    )
    with sigterm_at(_d1_chunk_written, 3, event="return"):
        res = run_inproc("sync", "reporting", "--yes", "--config", str(config))
    assert res.code == 143, res.err
    assert "Traceback" not in res.err, res.err
    assert dst.count() == 300, res.err
    assert "stays in the destination (300 inserted, 0 updated, 0 deleted)" in res.err, res.err
    assert dst.run("SELECT status, rows_read, inserted FROM malnu_sync") == [("running", 300, 300)]
    (detail,) = dst.run("SELECT detail FROM malnu_audit WHERE action = 'sync'")[0]
    assert "inserted 300," in detail, detail
    src.insert_users(range(501, 511))
    again = run_inproc("sync", "reporting", "--yes", "--json", "--config", str(config))
    assert again.code == 0, again.err
    assert dst.count() == 510
    assert dst.run("SELECT rows_read, inserted, updated FROM malnu_sync") == [(510, 510, 0)]


def test_psycopg_s_count_of_open_blocks_is_what_left_open_resets(pg_url: str) -> None:
    """:func:`.left_open.settle_pg` resets psycopg's private ``_num_transactions`` (a block
    cut short never left its count: ``rollback()`` is refused, a later block taken for a
    savepoint). psycopg is not pinned (>=3.2,<4): were the count renamed, setting it would
    pass silently, the rollback be refused and the connection closed, and a stopped sync
    lose its audit row and leave its lock's row. Here, with the installed psycopg: a block
    entered and never left is rolled back, the session kept, and the next block is a
    transaction of its own (committed, seen from another session)."""
    import psycopg

    from malnu_tui.engine.sync.left_open import settle_pg

    with psycopg.connect(pg_url) as conn:
        conn.execute("CREATE TABLE stop_t (a int)")
        conn.commit()
        block = conn.transaction()
        block.__enter__()  # (its exit cut short by the signal: never run)
        conn.execute("INSERT INTO stop_t VALUES (1)")
        assert conn._num_transactions == 1, "psycopg's count of open blocks is not there"
        pid = conn.info.backend_pid
        settle_pg(conn, left_open=True)
        assert not conn.closed and conn.info.backend_pid == pid
        assert conn._num_transactions == 0
        with conn.transaction():
            conn.execute("INSERT INTO stop_t VALUES (2)")
        with psycopg.connect(pg_url) as other:
            assert other.execute("SELECT a FROM stop_t").fetchall() == [(2,)]
