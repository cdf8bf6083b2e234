"""A keyless table's copy replaced in D1 (:mod:`.whole`): D1 has no transaction across
requests, so the rows go into a staging table, one batch per page (within D1's limits), and one
final batch empties the copy, moves the staged rows in, drops the stage and writes the state
row — all or nothing. A sync killed before that batch leaves the copy as it was (and the stage,
dropped by the next sync before it fills it again; staging tables are not tables of a sync); one
stopped by an error drops its stage at once (a stage that did not fit left the database full,
and the application's own writes refused, until the next sync).

The final batch moves the staged rows in one ``INSERT … SELECT`` per page staged (a range of
the stage's row ids). D1 bounds each statement of a batch to 30 s, and over its HTTP API the
whole request too ("Requests to Cloudflare API must resolve in 30 seconds. Therefore, this
duration limit also applies to the entire batch call": its limits page): cutting the final
batch's DELETE or moves into more statements keeps it no shorter, and cutting it into more
requests would show the application a half-filled table. A copy too large to be swapped
within 30 s is stopped by D1 and rolled back whole; the sync says so (:data:`SLOW_HINT`) and
leaves the copy as it was."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from malnu_tui.engine.backends.base import utc_now
from malnu_tui.engine.backends.d1.errors import D1LimitExceeded, D1QueryError, is_timeout
from malnu_tui.engine.backends.sqlite_sql import STAGE_PREFIX
from malnu_tui.engine.errors import BackendError
from malnu_tui.engine.sync.copy_refused import REFUSED
from malnu_tui.engine.sync.model import SYNCED_AT, Row, TableShape
from malnu_tui.engine.sync.side import Side, SyncState
from malnu_tui.engine.sync.side_sqlkeys import q
from malnu_tui.engine.sync.values import to_sqlite

__all__ = ["FULL_HINT", "SLOW_HINT", "d1_replace", "stage_name"]

# A D1 database at its size limit (D1's limits page: 500 MB Free, 10 GB Paid) while a table
# without a key was staged: the stage holds a second copy of the table until the swap.
FULL_HINT = (
    "the D1 database is at its size limit: a table without a key is copied whole through a "
    "stage as large as the table (D1 allows 500 MB on Workers Free, 10 GB on Paid); the copy "
    "was left as it was and the stage dropped. Make room there, give the table a key at the "
    "source (then it is synced by chunks, with no stage), or leave it out with --tables"
)


# D1 stopped the final batch at its 30 s a request (backends/d1/errors.py: is_timeout).
SLOW_HINT = (
    "D1 stops a request after 30 s and the swap that replaces a table without a key is one "
    "request (all or nothing): D1 rolled it back, the copy was left as it was and the stage "
    "dropped. Give the table a key at the source (then it is synced by chunks, each well "
    "under 30 s, with no swap), or leave it out with --tables"
)


def stage_name(table: str) -> str:
    """The staging table of ``table``'s rows (left out of every sync by its prefix)."""
    return f"{STAGE_PREFIX}whole_{table}"


def d1_replace(
    side: Side, shape: TableShape, pages: Iterator[list[Row]], state: SyncState
) -> SyncState:
    """(See :func:`.whole.replace_rows`.)"""
    d1: Any = side
    stage = stage_name(shape.name)
    try:
        return _replace(d1, shape, pages, state, stage)
    except Exception:
        with contextlib.suppress(Exception):  # (the swap that failed dropped nothing)
            d1._batch([f"DROP TABLE IF EXISTS {q(stage)}"], None)
        raise


def _full(exc: BaseException, hint: str | None) -> str | None:
    """:data:`FULL_HINT` where ``exc`` is D1 refusing the write at its database size limit."""
    full = isinstance(exc, D1LimitExceeded) and "maximum db size" in str(exc).lower()
    return FULL_HINT if full else hint


def _replace(
    d1: Any, shape: TableShape, pages: Iterator[list[Row]], state: SyncState, stage: str
) -> SyncState:
    from malnu_tui.engine.backends.d1.client import sent_bytes
    from malnu_tui.engine.sync.side_d1 import MAX_STATEMENT, split_values, tuple_literal
    from malnu_tui.engine.sync.sqlite_values import unstorable_value

    side: Side = d1
    staged = replace(shape, name=stage, key=())
    d1._batch([f"DROP TABLE IF EXISTS {q(stage)}", d1.create_ddl(staged)], None)
    convert = to_sqlite([c.kind for c in shape.columns])
    now = utc_now()
    cols = ", ".join(q(c) for c in (*shape.names, SYNCED_AT))
    head = f"INSERT INTO {q(stage)} ({cols}) VALUES "
    inserted = 0
    staged_pages: list[tuple[int, int]] = []  # each page's row ids in the stage (1, 2, … in order)
    for page in pages:
        refused = unstorable_value(shape, page, d1=True)
        if refused is not None:
            raise BackendError(f"{side.label}: writing {shape.name}{refused[0]}", hint=refused[1])
        values = [(*convert(r), now) for r in page]
        tuples = [tuple_literal(v) for v in values]
        after = inserted + len(page)

        def landed(n: int = after) -> bool:  # an attempt of unknown outcome: sent once only
            return int(d1._rows(f"SELECT count(*) FROM {q(stage)}")[0][0]) == n

        # A row too large for a statement of literals goes alone, its texts bound (as a chunk's).
        fixed = sent_bytes(head) + 2
        alone = {i for i, t in enumerate(tuples) if fixed + len(t.encode()) > MAX_STATEMENT}
        small = [t for i, t in enumerate(tuples) if i not in alone]
        statements = split_values(head, small) if small else []
        for i in sorted(alone):
            statements += d1._bound_row(shape, page[i], values[i], head, "").statements()
        try:
            d1._batch(statements, None, landed)
        except BackendError as exc:
            raise BackendError(
                f"{side.label}: writing {shape.name}: {exc}", hint=_full(exc, exc.hint)
            ) from None
        staged_pages.append((inserted + 1, after))
        inserted = after
    deleted = d1.count(shape.name)  # under the sync's lock: no one else writes the copy
    state = replace(state, rows_read=inserted, inserted=inserted, deleted=deleted)
    swap = [
        *d1._state_ddl(),
        f"DELETE FROM {q(shape.name)}",
        *_moves(shape, stage, cols, staged_pages),
        f"DROP TABLE {q(stage)}",
        d1._state_sql(state),
    ]
    try:
        d1._batch(swap, state)
    except D1QueryError as exc:  # the copy's own constraint or trigger refused a staged row
        told = _full(exc, REFUSED if "CONSTRAINT" in str(exc).upper() else None)
        if is_timeout(str(exc)):
            told = SLOW_HINT
        raise BackendError(f"{side.label}: writing {shape.name}: {exc}", hint=told) from None
    d1._state_made = True
    return state


def _moves(shape: TableShape, stage: str, cols: str, staged: list[tuple[int, int]]) -> list[str]:
    """The ``INSERT … SELECT`` statements that move the stage's rows into the copy, one per
    page staged (its row ids: the stage is new, nothing deleted from it); one for the whole
    stage where its columns hide the row id (named ``rowid``, ``_rowid_`` and ``oid``)."""
    move = f"INSERT INTO {q(shape.name)} ({cols}) SELECT {cols} FROM {q(stage)}"
    taken = {n.lower() for n in shape.names}
    rid = next((a for a in ("rowid", "_rowid_", "oid") if a not in taken), None)
    if rid is None or len(staged) < 2:
        return [move]
    return [f"{move} WHERE {rid} BETWEEN {lo} AND {hi} ORDER BY {rid}" for lo, hi in staged]
