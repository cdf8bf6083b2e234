"""What a sync's comparison does with each range: progress events as ranges are compared, the
differences repaired from the source on a real run (and checked again), the first
:data:`MAX_REPORTED` of what is left kept for the report. Shared by ``sync`` (:mod:`.run`) and
the read-only ``sync verify`` / dry run (:mod:`.readonly`)."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from malnu_tui.engine.sync.heldrows import HeldRows
from malnu_tui.engine.sync.model import Difference, ProgressCallback, SyncProgress, TableShape
from malnu_tui.engine.sync.references import write_chunk
from malnu_tui.engine.sync.session import SyncSession
from malnu_tui.engine.sync.side import Chunk, SyncState
from malnu_tui.engine.sync.verify import RangeResult, compare_keys, compare_table

__all__ = ["MAX_REPORTED", "Comparison", "PhaseProgress", "compare_ranges"]

MAX_REPORTED = 1_000  # differing keys kept in a report (all are repaired)


class PhaseProgress:
    """Progress events of one table, with the rate of the current phase."""

    # A phase's first event comes after work already done (a chunk written, a range compared):
    # its rate is measured from that event on, over a quarter of a second at least (the rows
    # of the first event over the time since the phase "began" at it printed billions a second).
    MIN_SPAN = 0.25

    def __init__(self, progress: ProgressCallback | None, table: str) -> None:
        self.progress, self.table = progress, table
        self.started = time.perf_counter()
        self.phase = ""
        self.first_rows = 0

    def __call__(self, phase: str, rows: int, total: int | None = None, detail: str = "") -> None:
        now = time.perf_counter()
        if phase != self.phase:
            self.phase, self.started, self.first_rows = phase, now, rows
        if self.progress is not None:
            took = now - self.started
            speed = max(rows - self.first_rows, 0) / took if took >= self.MIN_SPAN else 0.0
            self.progress(SyncProgress(self.table, phase, rows, total, speed, detail))  # type: ignore[arg-type]


def _repair(
    s: SyncSession,
    shape: TableShape,
    state: SyncState,
    diffs: Sequence[Difference],
    held: HeldRows,
    waiting: list[Difference],
) -> tuple[SyncState, list[Difference]]:
    """Repair ``diffs`` from the source and check them again. Rows whose parent in their own
    table is not at the destination yet (it comes with a later range) are held back
    (``held``), their differences put in ``waiting``, checked once they are written. Rows
    written with a cycle's cut key NULL are left as they are, still different (see
    :mod:`.cycles`): pass two writes them, once their parents are synced (writing them again
    now read each once more, in vain)."""
    cut = s.nulled.get(shape.name, {})  # written with a cut key NULL: pass two's (.cycles)
    wait = [d for d in diffs if d.kind == "different" and d.key in cut]
    diffs = [d for d in diffs if not (d.kind == "different" and d.key in cut)]
    fix = [d.key for d in diffs if d.kind != "extra"]
    extra = [d.key for d in diffs if d.kind == "extra"]
    rows, _ = held.take(s.src.rows_for_keys(shape, fix) if fix else [], None)
    if rows or extra:
        counts = write_chunk(s, shape, Chunk(rows, state, delete=extra))
        state = state.advanced(counts, len(rows), None)
    later = held.holds([d.key for d in diffs])
    waiting.extend(d for d in diffs if d.key in later)
    again = compare_keys(s.src, s.dst, shape, [d.key for d in diffs if d.key not in later])
    return state, [*wait, *again]


@dataclass(frozen=True)
class Comparison:
    """What a comparison found: the counts before any repair, and what is left after it (the
    first :data:`MAX_REPORTED` keys kept; ``left`` counts them all)."""

    state: SyncState | None
    remaining: tuple[Difference, ...]
    missing: int
    different: int
    extra: int
    left: int


def compare_ranges(
    s: SyncSession,
    shape: TableShape,
    state: SyncState | None,
    rate: PhaseProgress,
    total: int,
    results: Iterator[RangeResult] | None = None,
) -> Comparison:
    """Compare every range; repair the differences when ``state`` is given (a real run)."""
    remaining: list[Difference] = []
    counts = {"missing": 0, "different": 0, "extra": 0}
    done = left_total = 0
    held = HeldRows(s, shape, False) if state is not None else None
    waiting: list[Difference] = []
    try:
        for rr in results if results is not None else compare_table(s.src, s.dst, shape):
            done += rr.rows
            # The rows of the side paged: more than the total given when the other side has
            # fewer (or rows arrive meanwhile); past it, the count alone ("verify 30/29 rows").
            rate("verify", done, total if done <= total else None)
            if not rr.differences:
                continue
            for d in rr.differences:
                counts[d.kind] += 1
            if state is not None and held is not None:
                state, left = _repair(s, shape, state, rr.differences, held, waiting)
            else:
                left = list(rr.differences)
            left_total += len(left)
            remaining.extend(left[: MAX_REPORTED - len(remaining)])
        wrote_rest = False
        if state is not None and held is not None:  # their parents came, or never will
            for rows in held.rest():
                wrote = write_chunk(s, shape, Chunk(rows, state))
                state, wrote_rest = state.advanced(wrote, len(rows), None), True
        if wrote_rest:
            left = compare_keys(s.src, s.dst, shape, [d.key for d in waiting])
            left_total += len(left)
            remaining.extend(left[: MAX_REPORTED - len(remaining)])
    finally:
        if held is not None:
            held.close()
    return Comparison(
        state,
        tuple(remaining),
        counts["missing"],
        counts["different"],
        counts["extra"],
        left_total,
    )
