"""SIGTERM at the exact points of a chunk's write where it left the sync saying what was not
so, or hung it. The signal is real (sent to the CLI's process, its own handler raising it);
a profile hook sends it as the chosen function of the chunk's write is entered, so that its
handler runs there, as a signal arriving at that moment does (a CI run met the first of them
once, among thousands of SIGTERMs sent at random): tests/stop_points.py.

- a chunk's exit from its transaction block cut short (its state row written, no COMMIT yet):
  the note said `300 inserted … stays in the destination` of a copy holding 200 rows once the
  process was gone, and its audit row and the lock's release, written inside that open
  transaction, were rolled back at exit (no audit row, the lock's row left behind);
- the exit of psycopg's COPY block cut short: the sync hung until it was killed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures_d1 import D1Target
from tests.inproc import run_inproc
from tests.stop_points import run_stopped
from tests.sync_support import Db
from tests.test_sync_cli import school


def _stopped_at_chunk_three(dst: Db, cfg: list[str], point: str) -> None:
    """A first copy of 500 rows in chunks of 100, SIGTERM at ``point`` of the third chunk:
    what the note, the audit row and the state row say is what the destination holds (the
    two chunks committed), and the lock is free."""
    res = run_stopped(point, 3, "sync", "reporting", "--yes", *cfg)
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
    "point",
    ["transaction_exit", "block_exit", "copy_exit"],
    ids=["commit", "block-exit", "copy-end"],
)
def test_sigterm_in_a_chunks_exit_into_postgresql_reports_and_audits_what_is_committed(
    tmp_path: Path, pg_url: str, point: str
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
    _stopped_at_chunk_three(dst, ["--config", str(config)], "sqlite_commit")


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
    res = run_stopped(
        "d1_chunk_written", 3, "sync", "reporting", "--yes", "--config", str(config), event="return"
    )
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
