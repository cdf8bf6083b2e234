"""One sync of a table without a key (:mod:`.whole`): its rows replaced in one unit, then the
copy proved against what was read (a D1 source, whose pages are not one snapshot, read again),
the rows that differ named by their values; and its ``sync verify``."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING

from malnu_tui.engine.backends.base import utc_now
from malnu_tui.engine.sync.compare import PhaseProgress
from malnu_tui.engine.sync.destnames import dest_table
from malnu_tui.engine.sync.model import (
    Difference,
    ProgressCallback,
    Row,
    TablePlan,
    TableReport,
    TableShape,
)
from malnu_tui.engine.sync.side import SyncState, columns_text
from malnu_tui.engine.sync.whole import (
    NOTE,
    Digest,
    differences,
    digest,
    hashed,
    replace_rows,
    rows_of,
)

if TYPE_CHECKING:
    from malnu_tui.engine.sync.session import SyncSession

__all__ = ["sync_whole", "verify_whole"]

Audit = Callable[..., None]
Left = Callable[["SyncSession", TableReport, BaseException], TableReport]


def _compared(
    s: SyncSession, shape: TableShape, ours: Digest, theirs: Digest
) -> tuple[bool, Digest, list[Difference], int]:
    """Whether the two digests agree; else the differing rows (and how many in all)."""
    if ours == theirs:
        return True, ours, [], 0
    found, total = differences(s.src, s.dst, shape)
    return False, ours, found, total


def sync_whole(
    s: SyncSession,
    plan: TablePlan,
    progress: ProgressCallback | None,
    shell: tuple[Audit, Left],
    stopped: list[TableReport] | None,
) -> TableReport:
    """Sync one keyless table (the caller holds the destination's lock); ``shell``: how
    :mod:`.run` writes a table's audit rows and reports a table it stopped at."""
    audit, left = shell
    started = time.perf_counter()
    rate = PhaseProgress(progress, plan.table)
    shape = s.src.describe(plan.table)
    assert shape is not None
    if plan.create:
        s.dst.create_table(shape)
    state = SyncState.start(
        plan.table, s.source_target.name, "whole", copied_columns=columns_text(shape)
    )
    report = TableReport(
        plan.table, "whole", 0, 0, 0, 0, plan.source_count, plan.dest_count, False,
        key=shape.names, dest_table=plan.dest_table,
    )  # fmt: skip
    seen = [0, 0]  # the source's rows and hash sum, as they are copied

    def pages() -> Iterator[list[Row]]:
        for page in hashed(rows_of(s.src, shape), shape, seen):
            yield page
            rate("copy", seen[0], plan.source_count)

    try:
        state = replace_rows(s.dst, shape, pages(), state)
        rate("verify", 0)
        ours = digest(s.src, shape) if s.src.kind == "d1" else (seen[0], seen[1])
        ok, ours, found, total = _compared(s, shape, ours, digest(s.dst, shape))
        rate("verify", ours[0], ours[0])  # as a keyed table's ranges say it: "verify 30/30"
        dest_count = s.dst.count(plan.table)
        state = replace(
            state,
            status="done",
            source_count=ours[0],
            dest_count=dest_count,
            verified=ok and ours[0] == dest_count,
            differences=total,
            finished_at=utc_now(),
        )
        s.dst.write_state(state)
    except BaseException as exc:
        if plan.create and isinstance(exc, Exception):
            with contextlib.suppress(Exception):
                s.dst.drop_empty_copy(plan.table)
        report = left(s, report, exc)  # a PostgreSQL side's COPY settled, both sides counted
        audit(s, report, "failed", str(exc) or type(exc).__name__, report.uncounted)
        if stopped is not None:
            stopped.append(report)
        raise
    report = replace(
        report,
        read=state.rows_read,
        inserted=state.inserted,
        deleted=state.deleted,
        source_count=ours[0],
        dest_count=dest_count,
        verified=bool(state.verified),
        differences=tuple(found),
        truncated=total > len(found),
        seconds=time.perf_counter() - started,
        note="" if ok else NOTE,
        warnings=(
            *plan.warnings,
            *getattr(s.dst, "sequence_warnings", {}).pop(plan.dest_table or plan.table, ()),
        ),
    )
    rate("done", state.rows_read)
    audit(s, report, "ok" if report.verified else "failed")
    return report


def verify_whole(
    s: SyncSession, shape: TableShape, progress: ProgressCallback | None
) -> TableReport:
    """``sync verify`` of a keyless table: both sides' counts and hash sums (read-only)."""
    started = time.perf_counter()
    rate = PhaseProgress(progress, shape.name)
    rate("verify", 0)
    ok, ours, found, total = _compared(s, shape, digest(s.src, shape), digest(s.dst, shape))
    rate("verify", ours[0], ours[0])
    dest_count = s.dst.count(shape.name)
    return TableReport(
        shape.name, "verify", ours[0], 0, 0, 0, ours[0], dest_count, ok and ours[0] == dest_count,
        tuple(found), shape.names, seconds=time.perf_counter() - started,
        truncated=total > len(found), note="" if ok else NOTE,
        dest_table=dest_table(s.dst, shape.name) if dest_table(s.dst, shape.name) != shape.name
        else "",
    )  # fmt: skip
