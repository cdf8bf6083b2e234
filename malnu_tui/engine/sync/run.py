"""``sync``: copy tables from one target to another, table by table, and prove the copy.

Order of steps (the rule of every write): preflight as values (:mod:`.session`: tables, keys,
the destination's schema checked against the source's mapped one, the mode of each table) →
the shell shows it and confirms → the destination's lock → the plan made again under the lock →
per table: create the copy when missing, copy (full, or rows changed since the watermark minus
the overlap), then compare every key range and repair what differs (this is how deletes and late
rows arrive), re-check what was repaired → state row and audit rows on both sides.

A chunk, its deletes and the state row commit together, so a killed sync leaves whole chunks
and a state row saying where to resume; every write is an upsert on the key, so a rerun never
duplicates a row.
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any, Literal

from malnu_tui.engine.backends.base import AuditEntry, utc_now
from malnu_tui.engine.sync.compare import MAX_REPORTED, Comparison, PhaseProgress, compare_ranges
from malnu_tui.engine.sync.copyrows import Written, changed_results, copy_rows
from malnu_tui.engine.sync.cycles import before_run, complete
from malnu_tui.engine.sync.d1_stopped import reworded
from malnu_tui.engine.sync.fastcopy import FastCopy
from malnu_tui.engine.sync.left_open import roll_back_left_open, settle_pg
from malnu_tui.engine.sync.model import (
    Key,
    ProgressCallback,
    TablePlan,
    TableReport,
    TableShape,
)
from malnu_tui.engine.sync.references import write_chunk
from malnu_tui.engine.sync.session import (
    SyncRequest,
    SyncSession,
    change_column,
    earlier_pairs,
    open_side,
    plan_sync,
)
from malnu_tui.engine.sync.side import Bounds, SyncState, columns_text
from malnu_tui.engine.sync.verify import (
    RangeResult,
    SourceKeys,
    changed_ranges,
    check_digests,
    compare_keys,
    compare_table,
    early_keys,
    int_key,
)
from malnu_tui.engine.sync.whole_run import sync_whole

__all__ = [
    "MAX_REPORTED",
    "Comparison",
    "PhaseProgress",
    "compare_ranges",
    "run_sync",
    "start_early",
    "sync_table",
]


def _found_through_index(s: SyncSession, shape: TableShape, cursor: str | None) -> bool:
    """Whether a SQLite/D1 source has an index leading with the cursor column (its changed
    rows are then found through it, a short read)."""
    from malnu_tui.engine.sync.side_sqlite import SqliteDialect

    return (
        cursor is not None
        and isinstance(s.src, SqliteDialect)
        and s.src.leads_an_index(shape.name, cursor)
    )


def _counts(s: SyncSession, table: str) -> tuple[int, int]:
    """Both sides' row counts, the destination's counted on a thread while the source counts."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="malnu-sync-count") as pool:
        theirs = pool.submit(s.dst.count, table)
        return s.src.count(table), theirs.result()


def _pair(s: SyncSession) -> str:
    """How a sync's audit rows begin (what :func:`start_early` looks for)."""
    return f"from {s.source_target.name} to {s.dest_target.name}: "


def _audit(
    s: SyncSession,
    report: TableReport,
    outcome: str,
    error: str = "",
    uncounted: frozenset[str] = frozenset(),
    carried: SyncState | None = None,
) -> None:
    """The table's audit row on both sides; ``uncounted``: the sides ("source",
    "destination") a stopped sync could not count (said so, not a count of another time);
    ``carried``: the state row a resumed sync went on from, whose counts its own include
    (said so: the stopped run's row and this one's added up to 40,200 inserted for 40,000
    rows)."""

    def rows(side: str, n: int) -> str:
        return f"{side} not counted" if side in uncounted else f"{side} {n} rows"

    before = (
        f", resumed: the counts include the {carried.rows_read} read, {carried.inserted} "
        f"inserted, {carried.updated} updated, {carried.deleted} deleted before it resumed"
        if carried is not None
        and carried.rows_read + carried.inserted + carried.updated + carried.deleted
        else ""
    )

    detail = (
        f"{_pair(s)}mode {report.mode}, read "
        f"{report.read}, inserted {report.inserted}, updated {report.updated}, deleted "
        f"{report.deleted}, {rows('source', report.source_count)}, "
        f"{rows('destination', report.dest_count)}, verified {'yes' if report.verified else 'no'}"
        + (f", {len(report.differences)} difference(s)" if report.differences else "")
        + before
        + (f"; {error}" if error else "")
    )
    for side in (s.dst, s.src):
        if getattr(side.backend, "read_only", False):
            continue  # a source this user may not write (SyncSession.notes says so)
        with contextlib.suppress(Exception):
            side.backend.append_audit(AuditEntry.now("sync", report.table, outcome, detail))


def sync_table(
    s: SyncSession,
    plan: TablePlan,
    req: SyncRequest,
    progress: ProgressCallback | None = None,
    stopped: list[TableReport] | None = None,
) -> TableReport:
    """Sync one table (the caller holds the destination's lock). A table it stops at has its
    report, as its audit row says it (:func:`_left`), appended to ``stopped``."""
    if plan.mode == "whole":  # no key: the copy's rows replaced in one unit (.whole)
        return sync_whole(s, plan, progress, (_audit, _left), stopped)
    started = time.perf_counter()
    rate = PhaseProgress(progress, plan.table)
    shape = s.src.describe(plan.table)
    assert shape is not None
    # A table created for a full copy into PostgreSQL gets its primary key after the rows.
    defer = plan.mode == "full" and plan.create and FastCopy.defers_key(s, shape)
    if plan.create:
        FastCopy.create_table(s, shape, defer)
    s.dst.describe(plan.table)  # the destination's key collation, for its range queries
    prev = s.dst.read_state(plan.table)
    resumed = plan.resume_after is not None or (
        plan.mode == "updated_at"
        and prev is not None
        and prev.status == "running"
        and prev.mode == "updated_at"
    )
    carried = prev if resumed else None  # its counts go on in this run's
    if resumed and prev is not None:
        state = replace(prev, status="running")
    else:
        direct = plan.mode == "full" and (plan.create or plan.dest_count == 0)
        # A copy killed before its key was built and not resumed: an empty table goes on
        # without it, any other gets it now (its rows are whole chunks: no duplicates).
        pending = not plan.create and prev is not None and prev.key_pending
        if pending and prev is not None:
            defer = direct and FastCopy.defers_key(s, shape)
            if not defer:
                FastCopy.add_key(s, shape, replace(prev, key_pending=False))
        state = SyncState.start(
            plan.table,
            s.source_target.name,
            plan.mode,
            watermark=prev.watermark if prev is not None and plan.mode != "full" else None,
            since=plan.since,
            direct=direct,
            key_pending=defer,
            copied_columns=columns_text(shape),
        )
    s.dst.write_state(state)
    report = TableReport(
        plan.table, plan.mode, 0, 0, 0, 0, plan.source_count, plan.dest_count, False,
        key=shape.key, dest_table=plan.dest_table,
    )  # fmt: skip
    fast: FastCopy | None = None
    try:
        results: Iterator[RangeResult] | None = None
        # An incremental pass (not a resumed one) verifies what it did: see changed_results.
        incremental = plan.mode == "updated_at" and not resumed and plan.since is not None
        written = Written() if incremental else None
        scope: Literal["full", "changed"] = "full"
        # The source's key fingerprint (the verification's check for deleted and lost rows)
        # is computed beside the copy.
        ahead = s.early.pop(plan.table, None)  # started before the destination was opened
        early = (
            early_keys(
                s.src,
                s.dst,
                shape,
                lambda: open_side(s.source_target, source=True),
                lambda: s.dst.again(open_side(s.dest_target)),
                ahead,
            )
            if written is not None
            else None
        )
        if ahead is not None and early is None:
            ahead.cancel()
        if written is not None and early is not None:
            written.before_write = early.before_write
            if _found_through_index(s, shape, plan.cursor):
                early.start_source()  # the read is short: the fingerprint runs beside it
        if plan.mode == "full":
            fast = FastCopy.start(s, shape, state.direct)
        elif written is not None and len(shape.key) == 1:
            fast = FastCopy.start(s, shape, False)  # its chunks proved by their bytes
            if fast is not None:
                fast.prove_writes()
        if plan.mode in ("full", "updated_at"):
            state, digests, end = copy_rows(s, plan, shape, state, req, rate, written, fast)
            if plan.mode == "full":
                # The copied ranges are checked against their checksums from the copy (each
                # source row read once); what came before a resumed copy is compared in full.
                head = plan.resume_after
                results = itertools.chain(
                    compare_table(s.src, s.dst, shape, bounds=(None, head)) if head else (),
                    fast.results(end)
                    if fast is not None
                    else check_digests(s.src, s.dst, shape, digests, end),
                )
        found_ranges = (
            changed_ranges(s.src, s.dst, shape, plan.source_count, early) if written else None
        )
        if written is not None and found_ranges is not None:
            ranges, counts = found_ranges
            results, scope = changed_results(s, shape, written, ranges), "changed"
        else:
            counts = (fast.counted() if fast is not None else None) or _counts(s, plan.table)
        before = state
        found = compare_ranges(s, shape, state, rate, max(counts), results)
        if fast is not None:
            fast.close()  # an incremental one's checks are done (a full one's: in results())
        compared = counts[0] if plan.mode == "checksum" else 0
        assert found.state is not None
        state = found.state
        src_count, dst_count = counts
        if state is not before:  # repaired: count again
            src_count, dst_count = _counts(s, plan.table)
        if fast is not None and fast.scoped and src_count != dst_count:
            # A row where no chunk's blocks were checked (see FastCopy.scoped): every range
            # compared by value, and repaired.
            found = compare_ranges(s, shape, state, rate, max(src_count, dst_count))
            assert found.state is not None
            state = found.state
            src_count, dst_count = _counts(s, plan.table)
        done = {"status": "done", "last_key": None, "since": None, "direct": False}
        # A checksum pass's read is the rows it compared and those it read again to copy:
        # the state row (`sync status`'s `read`) kept the second alone (1 of a 40,000-row
        # table whose sync said read 40,001).
        read = state.rows_read + compared
        state = _ended(state, found, src_count, dst_count, rows_read=read, **done)
        s.dst.write_state(state)
        if hasattr(s.dst, "settle_sequences"):  # PostgreSQL: see PostgresWrites
            s.dst.settle_sequences(shape)
        report = _reported(
            report,
            state,
            found,
            read=state.rows_read,
            compared=compared,
            seconds=time.perf_counter() - started,
            resumed=resumed,
            scope=scope,
            warnings=(
                *plan.warnings,
                # (kept under the copy's name: "Kelas" → kelas, whose warning was lost)
                *getattr(s.dst, "sequence_warnings", {}).pop(plan.dest_table or plan.table, ()),
            ),
        )
        rate("done", state.rows_read)
    except BaseException as exc:
        if fast is not None:
            fast.close()  # its verifying thread and connection
        if plan.create and isinstance(exc, Exception):
            _drop_empty_copy(s, plan.table)
        report = _left(s, report, exc)
        _audit(s, report, "failed", str(exc) or type(exc).__name__, report.uncounted, carried)
        if stopped is not None:
            stopped.append(report)
        raise
    if plan.table not in s.held_back:  # else audited once settled (_settle)
        _audit(s, report, "ok" if report.verified else "failed", carried=carried)
    return report


def _settle(
    s: SyncSession, plan: TablePlan, report: TableReport, progress: ProgressCallback | None
) -> TableReport:
    """A table whose deletes a reference held back (:mod:`.references`), or whose foreign key
    cuts a cycle (:mod:`.cycles`: pass two), once the tables after it are synced: what was held
    back compared again and repaired, the deletes with it; a row the copy's children still
    refer to (a child left out of the run) stays, said in the report's note."""
    rate = PhaseProgress(progress, plan.table)
    shape = s.src.describe(plan.table)
    assert shape is not None
    s.dst.describe(plan.table)
    held = s.held_back.pop(plan.table, [])
    state = s.dst.read_state(plan.table)
    assert state is not None
    state, cut = complete(s, shape, state, write_chunk)  # a cycle's pass two (.cycles)
    held += cut
    # Only what may differ: the ranges and keys whose deletes were held back, and the keys the
    # table's sync left different (the whole table was compared and counted again, on D1
    # billed as every row read once more).
    whole = report.truncated or plan.table in s.recheck
    results = None if whole else _held_results(s, shape, held, report)
    try:
        total = max(_counts(s, plan.table)) if whole else report.dest_count
        found = compare_ranges(s, shape, state, rate, total, results)
    except BaseException as exc:  # its audit row, as sync_table's of a table it stops at
        _audit(s, report, "failed", str(exc) or type(exc).__name__)
        raise
    assert found.state is not None
    if whole:
        src_count, dst_count = _counts(s, plan.table)
    else:  # the rows it deleted and wrote since the table's counts (its children leave it be)
        gone = found.state.deleted - state.deleted
        came = found.state.inserted - state.inserted
        src_count, dst_count = report.source_count, report.dest_count - gone + came
    note = report.note
    if plan.table in s.held_back:
        note = (
            f"rows deleted at the source are kept in the copy: other tables' rows there "
            f"still refer to them by a foreign key (sync those tables too: {plan.table} is "
            "settled after them)"
        )
    state = _ended(found.state, found, src_count, dst_count)
    s.dst.write_state(state)
    report = _reported(report, state, found, scope="full", note=note)
    rate("done", state.rows_read)
    _audit(s, report, "ok" if state.verified else "failed")
    return report


def _held_results(
    s: SyncSession,
    shape: TableShape,
    held: list[tuple[Bounds | None, tuple[Key, ...]]],
    report: TableReport,
) -> Iterator[RangeResult]:
    """The comparison of a settled table (:func:`_settle`): each key range whose deletes were
    held back, then the keys held back or left different, read by key."""
    for bounds, _keys in held:
        if bounds is not None:
            yield from compare_table(s.src, s.dst, shape, bounds=bounds)
    keys = list(
        dict.fromkeys([*(k for _b, ks in held for k in ks), *(d.key for d in report.differences)])
    )
    if keys:
        yield RangeResult((None, None), len(keys), tuple(compare_keys(s.src, s.dst, shape, keys)))


def _ended(
    state: SyncState, found: Comparison, src_count: int, dst_count: int, **more: Any
) -> SyncState:
    """A table's state row at the end of its sync: both sides' counts, and verified when
    every range compared equal and the counts balance."""
    return replace(
        state,
        source_count=src_count,
        dest_count=dst_count,
        verified=not found.left and src_count == dst_count,
        differences=found.left,
        finished_at=utc_now(),
        **more,
    )


def _reported(report: TableReport, state: SyncState, found: Comparison, **more: Any) -> TableReport:
    """A table's report from its state row as written at its end (:func:`_ended`)."""
    src_count, dst_count, verified = state.source_count, state.dest_count, state.verified
    assert src_count is not None and dst_count is not None and verified is not None
    return replace(
        report,
        inserted=state.inserted,
        updated=state.updated,
        deleted=state.deleted,
        source_count=src_count,
        dest_count=dst_count,
        verified=verified,
        differences=found.remaining,
        truncated=found.left > len(found.remaining),
        **more,
    )


def _left(s: SyncSession, report: TableReport, exc: BaseException) -> TableReport:
    """A sync that stopped (an error, Ctrl-C, SIGTERM): the counts of the chunks it committed,
    from its state row (its audit row said `inserted 0` with 20,000 rows in the copy), the
    rows each side holds now (it said `destination 0 rows`, the count of the plan, and, of an
    incremental pass, `source 20000 rows`: the plan under the lock takes that one from the
    state row, the count of the last sync), and, after an interrupt, a note that they stay
    (it said `terminated` alone). Also the sides that could not be counted (the error was
    that side gone, say), in the report's ``uncounted``: the audit row and the console say
    so instead of a count of another time."""
    if s.dst_if_open is not None:
        # A signal in the middle of a chunk's COPY left it open on the connection; one in the
        # chunk's exit from its transaction block, the chunk's transaction (.left_open).
        roll_back_left_open(s.dst_if_open)
    if s.src.kind == "postgresql":  # (a read: its page reader's block may still be open)
        settle_pg(s.src.conn, left_open=False)  # type: ignore[attr-defined]
    state: SyncState | None
    try:  # the stop is what to report
        state = s.dst.read_state(report.table)
    except Exception:  # the destination gone: the state its last committed chunk wrote
        state = s.committed.get(report.table)
    if state is not None and state.status == "running":
        n = (state.rows_read, state.inserted, state.updated, state.deleted)
        report = replace(report, read=n[0], inserted=n[1], updated=n[2], deleted=n[3])
    uncounted = {"source", "destination"}
    with contextlib.suppress(Exception):
        report = replace(report, dest_count=s.dst.count(report.table))
        uncounted.discard("destination")
    with contextlib.suppress(Exception):
        report = replace(report, source_count=s.src.count(report.table))
        uncounted.discard("source")
    if isinstance(exc, KeyboardInterrupt) and report.inserted + report.updated + report.deleted:
        exc.add_note(
            f"{report.table}: what whole chunks wrote before it stopped stays in the "
            f"destination ({report.inserted:,} inserted, {report.updated:,} updated, "
            f"{report.deleted:,} deleted); the next sync resumes after them"
        )
    return replace(report, uncounted=frozenset(uncounted))


def _drop_empty_copy(s: SyncSession, table: str) -> None:
    """A table this sync created and stopped on before any chunk was written (a value the
    destination refuses in the first chunk, say) is dropped with its state row: the
    destination is left as it was, and the next sync starts afresh. A copy with rows stays,
    to be resumed."""
    with contextlib.suppress(Exception):  # the sync's own error is the one to report
        s.dst.drop_empty_copy(table)


def start_early(s: SyncSession, req: SyncRequest) -> None:
    """Start, before the destination is connected, the source's key fingerprint of the first
    table of ``req`` that an incremental pass could sync (a SQLite source; one integer key
    column; the cursor column; synced to this destination before, as the source's audit
    says): SQLite computes it on the other core while the destination's driver loads
    (:class:`.verify.SourceKeys`). Once per session; a table whose plan turns out otherwise
    has it cancelled. Not for a D1 source (its reads are billed) nor ``--full``."""
    from malnu_tui.engine.sync.side_sqlite import SqliteSide

    if s.early_started:
        return
    s.early_started = True
    if req.full or not isinstance(s.src, SqliteSide):
        return
    for table in req.tables or s.src.tables():
        shape = s.src.describe(table)
        if shape is not None and change_column(shape, req.cursor)[0] is not None:
            if int_key(shape) and s.src.audited("sync", table, _pair(s)):
                s.early[table] = SourceKeys(shape, lambda: open_side(s.source_target, source=True))
            return


def _incremental(plan: TablePlan) -> bool:
    """Whether the plan may be an incremental pass (one that compares key fingerprints)."""
    return plan.mode == "updated_at" and plan.since is not None


def run_sync(
    s: SyncSession,
    req: SyncRequest,
    progress: ProgressCallback | None = None,
    done: list[TableReport] | None = None,
    stopped: list[TableReport] | None = None,
) -> list[TableReport]:
    """Take the destination's lock, plan again under it, and sync every table; the whole run is
    one row of the destination's run log (``sync``, ``SOURCE->DEST``: what ``check`` reads for
    failed syncs and the sync lag). Each table's report is appended to ``done`` as it ends,
    so a caller still has the tables synced before one that failed (an exception), and the
    report of the table it stopped at is appended to ``stopped`` (what its chunks wrote, both
    sides counted as it stopped)."""
    from malnu_tui.engine.monitor.runlog import record_run
    from malnu_tui.engine.oplock import migration_lock

    start_early(s, req)
    s.go_ahead()
    backend = s.dst.backend
    backend.ensure_schema()
    pair = f"{s.source_target.name}->{s.dest_target.name}"
    # The lock as every other command holds it (engine/migrate.py): a failed release after a
    # failure (the server or D1 gone) never hides the failure itself.
    with record_run(backend, "sync", pair) as run:
        run.also = earlier_pairs(s.source_target, s.dest_target)
        with migration_lock(backend, "sync"):
            plans = plan_sync(s, req, recount=False)
            for p in plans:
                if p.table in s.early and not _incremental(p):
                    s.early.pop(p.table).cancel()
            before_run(s, [p.table for p in plans])  # tables round a cycle: see .cycles
            reports = [] if done is None else done
            at = plans[0] if plans else None  # the table a failure stopped at
            try:
                for at in plans:
                    reports.append(sync_table(s, at, req, progress, stopped))
                # Deletes a child's rows held back, children first (see .references).
                for i in reversed(range(len(reports))):
                    if reports[i].table in s.held_back:
                        at = plans[i]
                        reports[i] = _settle(s, at, reports[i], progress)
            except BaseException as exc:
                roll_back_left_open(s.dst)  # (a state row's write cut short: see .left_open)
                if at is not None:  # D1 stopping a request at 30 s: what to do here
                    reworded(exc, at.table, "whole" if at.mode == "whole" else "sync")
                for r in reports:  # tables that were to be settled: their audit rows
                    if r.table in s.held_back:
                        _audit(s, r, "ok" if r.verified else "failed")
                raise
        run.count("tables", len(reports))
        for name in ("read", "inserted", "updated", "deleted"):
            run.count(name, sum(getattr(r, name) for r in reports))
        run.count("differences", sum(len(r.differences) for r in reports))
        unverified = [r.table for r in reports if not r.verified]
        if unverified:
            run.set_outcome("failed", "differences remain in " + ", ".join(unverified))
    return reports
