"""A keyless table's copy replaced in D1 (:mod:`.whole`): D1 has no transaction across
requests, so the rows go into a staging table, one batch per page (within D1's limits), and one
final batch empties the copy, moves the staged rows in, drops the stage and writes the state
row — all or nothing. A sync killed before that batch leaves the copy as it was (and the stage,
dropped by the next sync before it fills it again; staging tables are not tables of a sync)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from malnu_tui.engine.backends.base import utc_now
from malnu_tui.engine.backends.d1.errors import D1QueryError
from malnu_tui.engine.backends.sqlite_sql import STAGE_PREFIX
from malnu_tui.engine.errors import BackendError
from malnu_tui.engine.sync.copy_refused import REFUSED
from malnu_tui.engine.sync.model import SYNCED_AT, Row, TableShape
from malnu_tui.engine.sync.side import Side, SyncState
from malnu_tui.engine.sync.side_sqlkeys import q
from malnu_tui.engine.sync.values import to_sqlite

__all__ = ["d1_replace", "stage_name"]


def stage_name(table: str) -> str:
    """The staging table of ``table``'s rows (left out of every sync by its prefix)."""
    return f"{STAGE_PREFIX}whole_{table}"


def d1_replace(
    side: Side, shape: TableShape, pages: Iterator[list[Row]], state: SyncState
) -> SyncState:
    """(See :func:`.whole.replace_rows`.)"""
    from malnu_tui.engine.backends.d1.client import sent_bytes
    from malnu_tui.engine.sync.side_d1 import MAX_STATEMENT, split_values, tuple_literal
    from malnu_tui.engine.sync.sqlite_values import unstorable_value

    d1: Any = side
    stage = stage_name(shape.name)
    staged = replace(shape, name=stage, key=())
    d1._batch([f"DROP TABLE IF EXISTS {q(stage)}", d1.create_ddl(staged)], None)
    convert = to_sqlite([c.kind for c in shape.columns])
    now = utc_now()
    cols = ", ".join(q(c) for c in (*shape.names, SYNCED_AT))
    head = f"INSERT INTO {q(stage)} ({cols}) VALUES "
    inserted = 0
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
                f"{side.label}: writing {shape.name}: {exc}", hint=exc.hint
            ) from None
        inserted = after
    deleted = d1.count(shape.name)  # under the sync's lock: no one else writes the copy
    state = replace(state, rows_read=inserted, inserted=inserted, deleted=deleted)
    swap = [
        *d1._state_ddl(),
        f"DELETE FROM {q(shape.name)}",
        f"INSERT INTO {q(shape.name)} ({cols}) SELECT {cols} FROM {q(stage)}",
        f"DROP TABLE {q(stage)}",
        d1._state_sql(state),
    ]
    try:
        d1._batch(swap, state)
    except D1QueryError as exc:  # the copy's own constraint or trigger refused a staged row
        told = REFUSED if "CONSTRAINT" in str(exc).upper() else None
        raise BackendError(f"{side.label}: writing {shape.name}: {exc}", hint=told) from None
    d1._state_made = True
    return state
