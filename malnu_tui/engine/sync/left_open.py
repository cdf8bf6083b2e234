"""A sync stopped by Ctrl-C or SIGTERM: the destination's connection made fit for the clean-up.

The signal is raised at whichever Python line runs as it comes, and that can be one of the
chunk's own exit from its transaction block (psycopg's ``Transaction.__exit__``, or SQLite's
``transaction()`` between its block and its COMMIT): the block then neither committed nor
rolled back, and the chunk's rows and its state row stayed in a transaction still open on the
connection. The stop read that state row there and said `300 inserted … stays in the
destination` of a copy that held 200 rows once the process was gone; the audit row and the
lock's release, written on the same connection inside that transaction (psycopg makes a block
inside an open one a savepoint), were rolled back with it as the process ended: no audit row,
and the lock's row left behind. Here such a transaction is rolled back before anything is
read or written: what the stop reports, and writes, is what was committed.
"""

from __future__ import annotations

import contextlib
import sqlite3
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # (psycopg loads with the PostgreSQL side: a sync from SQLite starts sooner)
    import psycopg

__all__ = ["roll_back_left_open", "settle_pg"]


def settle_pg(conn: psycopg.Connection[Any], *, left_open: bool) -> None:
    """A command an interrupt left in progress on ``conn`` ended (:func:`settle_after_interrupt`);
    with ``left_open``, a transaction it left open rolled back too (only where no block of
    the caller can still be open: a source's page reader may be)."""
    from psycopg.pq import TransactionStatus

    from malnu_tui.engine.backends.pg_session import settle_after_interrupt

    settle_after_interrupt(conn)
    if not left_open or conn.closed:
        return
    if conn.pgconn.transaction_status not in (TransactionStatus.INTRANS, TransactionStatus.INERROR):
        return
    # The block cut short never left psycopg's count of open blocks: with it, rollback() is
    # refused and every later block is taken for a savepoint inside this transaction.
    conn._num_transactions = 0
    try:
        conn.rollback()
    except Exception:  # (then its session ends: the server rolls back, its locks go)
        with contextlib.suppress(Exception):
            conn.close()


def roll_back_left_open(side: Any) -> None:
    """The destination ``side`` after a stop: its command in progress ended and a transaction
    an interrupt left open rolled back (PostgreSQL, SQLite; D1's chunks are requests that the
    server commits or not, with no transaction left on this side)."""
    with contextlib.suppress(Exception):  # the stop is what to report
        if side.kind == "postgresql":
            settle_pg(side.conn, left_open=True)
        elif side.kind == "sqlite":
            conn = side.backend.conn
            if isinstance(conn, sqlite3.Connection) and conn.in_transaction:
                conn.execute("ROLLBACK")
