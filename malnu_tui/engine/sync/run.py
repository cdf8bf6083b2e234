"""``sync``: copy tables from one target to another, table by table, and prove the copy.

Order of steps (the rule of every write): preflight as values (tables, keys, the destination's
schema checked against the source's mapped one, the mode of each table) → the shell shows it and
confirms → the destination's lock → the plan made again under the lock → per table: create the
copy when missing, copy (full, or rows changed since the watermark minus the overlap), then
compare every key range and repair what differs (this is how deletes and late rows arrive),
re-check what was repaired → state row and audit rows on both sides.

A chunk, its deletes and the state row commit together, so a killed sync leaves whole chunks
and a state row saying where to resume; every write is an upsert on the key, so a rerun never
duplicates a row.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from malnu_tui.engine.backends.base import AuditEntry, utc_now
from malnu_tui.engine.config import Target, open_backend, sqlite_path
from malnu_tui.engine.errors import ConfigError, SyncRefused
from malnu_tui.engine.sync.model import (
    Difference,
    Key,
    ProgressCallback,
    Row,
    SyncProgress,
    TablePlan,
    TableReport,
    TableShape,
)
from malnu_tui.engine.sync.pairs import DEFAULT_CHUNK_ROWS, DEFAULT_CURSOR, DEFAULT_OVERLAP_SECONDS
from malnu_tui.engine.sync.side import Side, SyncState, decode_key
from malnu_tui.engine.sync.values import normalizer
from malnu_tui.engine.sync.verify import compare_keys, compare_table

__all__ = ["SyncRequest", "SyncSession", "open_side", "plan_sync", "run_sync", "verify_sync"]

CURSOR_KINDS = ("ts", "tstz", "date", "text")
MAX_REPORTED = 1_000  # differing keys kept in a report (all are repaired)


@dataclass(frozen=True)
class SyncRequest:
    """What the operator asked for."""

    tables: tuple[str, ...] = ()  # empty: every table of the source
    full: bool = False
    overlap_seconds: int = DEFAULT_OVERLAP_SECONDS
    cursor: str = DEFAULT_CURSOR
    chunk_rows: int = DEFAULT_CHUNK_ROWS


def open_side(target: Target) -> Side:
    """Connect to ``target`` and wrap it for the sync."""
    backend = open_backend(target)
    label = f"{target.name} ({target.display_url})"
    if backend.kind == "sqlite":
        from malnu_tui.engine.sync.side_sqlite import SqliteSide

        return SqliteSide(backend, label)  # type: ignore[arg-type]
    if backend.kind == "postgresql":
        from malnu_tui.engine.sync.side_postgres import PostgresSide

        return PostgresSide(backend, label)  # type: ignore[arg-type]
    from malnu_tui.engine.sync.side_d1 import D1Side

    return D1Side(backend, label)  # type: ignore[arg-type]


class SyncSession:
    """Both ends of a sync, opened once; close() releases the lock and the connections."""

    def __init__(self, source: Target, dest: Target) -> None:
        if source.url == dest.url:
            raise ConfigError(f"--from and --to are the same database ({source.display_url})")
        self.source_target, self.dest_target = source, dest
        if source.kind == "sqlite" and not sqlite_path(source.url).is_file():
            raise ConfigError(f"no SQLite database at {source.display_url} (the source of a sync)")
        self.src = open_side(source)
        try:
            self.dst = open_side(dest)
        except BaseException:
            self.src.backend.close()
            raise

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.dst.backend.close()
        with contextlib.suppress(Exception):
            self.src.backend.close()

    def __enter__(self) -> SyncSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- preflight ----------------------------------------------------------------------------------


def _problems(src: TableShape, dst: TableShape, *, copying: bool = True) -> list[str]:
    t = src.name
    out: list[str] = []
    missing = [c for c in src.names if dst.column(c) is None]
    extra = [c for c in dst.names if src.column(c) is None]
    if missing:
        out.append(f"{t}: destination lacks column(s) {', '.join(missing)}")
    if extra:
        out.append(f"{t}: destination has column(s) the source lacks: {', '.join(extra)}")
    for c in src.columns:
        d = dst.column(c.name)
        if d is not None and d.kind != c.kind:
            out.append(
                f"{t}.{c.name}: source {c.declared or '(no type)'} maps to {c.pg_type}, "
                f"destination has {d.declared or d.pg_type}"
            )
    if copying and not dst.has_synced_at:
        out.append(f"{t}: destination lacks the synced_at column")
    if set(dst.key) != set(src.key) or not dst.unique_key:
        out.append(
            f"{t}: destination key ({', '.join(dst.key) or 'none'}) is not the source's "
            f"({', '.join(src.key)}) as a primary key or unique index"
        )
    return out


def _since(watermark: str | None, overlap: int) -> str | None:
    if watermark is None:
        return None
    try:
        dt = datetime.fromisoformat(watermark)
    except ValueError:
        return watermark
    return (dt - timedelta(seconds=overlap)).strftime("%Y-%m-%d %H:%M:%S")


def plan_sync(s: SyncSession, req: SyncRequest) -> list[TablePlan]:
    """Decide, for every table, how it will be synced; SyncRefused lists every mismatch."""
    src_tables = s.src.tables()
    names = req.tables or tuple(src_tables)
    unknown = [t for t in names if t not in src_tables]
    if unknown:
        raise ConfigError(
            f"no table {', '.join(map(repr, unknown))} at the source {s.src.label} "
            f"(tables: {', '.join(src_tables) or 'none'})"
        )
    dst_tables = set(s.dst.tables())
    plans: list[TablePlan] = []
    problems: list[str] = []
    for t in names:
        shape = s.src.describe(t)
        assert shape is not None
        if not shape.key:
            problems.append(f"{t}: no primary key or unique index at the source to match rows by")
            continue
        exists = t in dst_tables
        dshape = s.dst.describe(t) if exists else None
        if dshape is not None:
            problems.extend(_problems(shape, dshape))
        state = s.dst.read_state(t) if exists else None
        cur = shape.column(req.cursor)
        cursor = req.cursor if cur is not None and cur.kind in CURSOR_KINDS else None
        notes: list[str] = []
        resume: Key | None = None
        since: str | None = None
        running_full = state is not None and state.status == "running" and state.mode == "full"
        if req.full or state is None or not exists or running_full:
            mode = "full"
            if running_full and not req.full and state is not None and state.last_key:
                resume = decode_key(state.last_key)
                notes.append("resumes a sync that was interrupted")
        elif cursor:
            mode = "updated_at"
            if state.status == "running" and state.mode == "updated_at":
                resume, since = decode_key(state.last_key), state.since
                notes.append("resumes a sync that was interrupted")
            else:
                since = _since(state.watermark, req.overlap_seconds)
        else:
            mode = "checksum"
            notes.append(f"no {req.cursor} column: chunks are compared by checksum")
        plans.append(
            TablePlan(
                table=t,
                mode=mode,  # type: ignore[arg-type]
                create=not exists,
                ddl="" if exists else s.dst.create_ddl(shape),
                key=shape.key,
                cursor=cursor,
                since=since,
                resume_after=resume,
                source_count=s.src.count(t),
                dest_count=s.dst.count(t) if exists else 0,
                notes=tuple(notes),
            )
        )
    if problems:
        raise SyncRefused(problems)
    return plans


# -- run ----------------------------------------------------------------------------------------


class _Rate:
    def __init__(self, progress: ProgressCallback | None, table: str) -> None:
        self.progress, self.table = progress, table
        self.started = time.perf_counter()
        self.phase = ""

    def __call__(self, phase: str, rows: int, total: int | None = None, detail: str = "") -> None:
        if phase != self.phase:
            self.phase, self.started = phase, time.perf_counter()
        if self.progress is not None:
            took = max(time.perf_counter() - self.started, 1e-6)
            self.progress(SyncProgress(self.table, phase, rows, total, rows / took, detail))  # type: ignore[arg-type]


def _key_of(row: Row, kidx: tuple[int, ...]) -> Key:
    return tuple(row[i] for i in kidx)


def _watermark(
    shape: TableShape, cursor: str | None, rows: Sequence[Row], current: str | None
) -> str | None:
    if cursor is None:
        return current
    col = shape.column(cursor)
    assert col is not None
    i = shape.names.index(cursor)
    norm = normalizer(col.kind)
    seen = [norm(r[i]) for r in rows if r[i] is not None]
    seen = [v for v in seen if not v.startswith("?")]
    if not seen:
        return current
    top = max(seen)
    return top if current is None or top > current else current


def prefetched(pages: Iterator[list[Row]], depth: int = 2) -> Iterator[list[Row]]:
    """``pages`` read one or two ahead in a thread: the source is read while the destination
    writes the previous chunk. The source's connection is used by that thread alone meanwhile."""
    box: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: tuple[str, Any]) -> bool:
        while not stop.is_set():
            try:
                box.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for page in pages:
                if not put(("page", page)):
                    return
            put(("end", None))
        except BaseException as exc:  # handed to the consumer, raised there
            put(("error", exc))

    worker = threading.Thread(target=produce, name="malnu-sync-read", daemon=True)
    worker.start()
    try:
        while True:
            what, value = box.get()
            if what == "page":
                yield value
            elif what == "error":
                raise value
            else:
                return
    finally:
        stop.set()
        worker.join(timeout=30)


def _copy(
    s: SyncSession,
    plan: TablePlan,
    shape: TableShape,
    state: SyncState,
    req: SyncRequest,
    rate: _Rate,
) -> SyncState:
    kidx = shape.key_index
    lo = plan.resume_after
    direct = state.direct
    watermark = state.watermark if plan.mode == "updated_at" else None
    read = 0
    cursor = plan.cursor if plan.mode == "updated_at" and plan.since is not None else None
    pages = s.src.pages(shape, after=lo, page_rows=req.chunk_rows, cursor=cursor, since=plan.since)
    for page in prefetched(pages):
        hi = _key_of(page[-1], kidx)
        watermark = _watermark(shape, plan.cursor, page, watermark)
        state = replace(state, watermark=watermark)
        bounds = (lo, hi) if plan.mode == "full" else None
        counts = s.dst.write_chunk(
            shape, page, state=state, bounds=bounds, direct=direct, last_key=hi
        )
        state = state.advanced(counts, len(page), hi)
        read += len(page)
        lo = hi
        rate("copy", read, plan.source_count)
    if plan.mode == "full" and not direct:
        counts = s.dst.write_chunk(shape, [], state=state, bounds=(lo, None))
        state = state.advanced(counts, 0, None)
    return state


def _repair(
    s: SyncSession, shape: TableShape, state: SyncState, diffs: Sequence[Difference]
) -> tuple[SyncState, list[Difference]]:
    fix = [d.key for d in diffs if d.kind != "extra"]
    extra = [d.key for d in diffs if d.kind == "extra"]
    rows = s.src.rows_for_keys(shape, fix) if fix else []
    counts = s.dst.write_chunk(shape, rows, state=state, delete=extra)
    state = state.advanced(counts, len(rows), None)
    return state, compare_keys(s.src, s.dst, shape, [d.key for d in diffs])


def _compare(
    s: SyncSession, shape: TableShape, state: SyncState | None, rate: _Rate, total: int
) -> tuple[SyncState | None, list[Difference], int, int, int]:
    """Compare every range; repair differences when ``state`` is given (a real run).
    Returns the state, the remaining differences, and (missing, different, extra) counts."""
    remaining: list[Difference] = []
    counts = {"missing": 0, "different": 0, "extra": 0}
    done = 0
    for rr in compare_table(s.src, s.dst, shape):
        done += rr.rows
        rate("verify", done, total)
        if not rr.differences:
            continue
        for d in rr.differences:
            counts[d.kind] += 1
        if state is not None:
            state, left = _repair(s, shape, state, rr.differences)
        else:
            left = list(rr.differences)
        remaining.extend(left[: MAX_REPORTED - len(remaining)])
    return state, remaining, counts["missing"], counts["different"], counts["extra"]


def _audit(s: SyncSession, report: TableReport, outcome: str, error: str = "") -> None:
    detail = (
        f"from {s.source_target.name} to {s.dest_target.name}: mode {report.mode}, read "
        f"{report.read}, inserted {report.inserted}, updated {report.updated}, deleted "
        f"{report.deleted}, source {report.source_count} rows, destination "
        f"{report.dest_count} rows, verified {'yes' if report.verified else 'no'}"
        + (f", {len(report.differences)} difference(s)" if report.differences else "")
        + (f"; {error}" if error else "")
    )
    for side in (s.dst, s.src):
        with contextlib.suppress(Exception):
            side.backend.append_audit(AuditEntry.now("sync", report.table, outcome, detail))


def sync_table(
    s: SyncSession, plan: TablePlan, req: SyncRequest, progress: ProgressCallback | None = None
) -> TableReport:
    """Sync one table (the caller holds the destination's lock)."""
    started = time.perf_counter()
    rate = _Rate(progress, plan.table)
    shape = s.src.describe(plan.table)
    assert shape is not None
    if plan.create:
        s.dst.create_table(shape)
    s.dst.describe(plan.table)  # the destination's key collation, for its range queries
    prev = s.dst.read_state(plan.table)
    resumed = plan.resume_after is not None or (
        plan.mode == "updated_at"
        and prev is not None
        and prev.status == "running"
        and prev.mode == "updated_at"
    )
    if resumed and prev is not None:
        state = replace(prev, status="running")
    else:
        state = SyncState.start(
            plan.table,
            s.source_target.name,
            plan.mode,
            watermark=prev.watermark if prev is not None and plan.mode != "full" else None,
            since=plan.since,
            direct=plan.mode == "full" and (plan.create or plan.dest_count == 0),
        )
    s.dst.write_state(state)
    report = TableReport(
        plan.table, plan.mode, 0, 0, 0, 0, plan.source_count, plan.dest_count, False, key=shape.key
    )
    try:
        if plan.mode in ("full", "updated_at"):
            state = _copy(s, plan, shape, state, req, rate)
        src_count = s.src.count(plan.table)
        after_state, remaining, *_ = _compare(s, shape, state, rate, src_count)
        compared = src_count if plan.mode == "checksum" else 0
        assert after_state is not None
        state = after_state
        src_count, dst_count = s.src.count(plan.table), s.dst.count(plan.table)
        verified = not remaining and src_count == dst_count
        state = replace(
            state,
            status="done",
            last_key=None,
            since=None,
            direct=False,
            source_count=src_count,
            dest_count=dst_count,
            verified=verified,
            differences=len(remaining),
            finished_at=utc_now(),
        )
        s.dst.write_state(state)
        report = replace(
            report,
            read=state.rows_read + compared,
            inserted=state.inserted,
            updated=state.updated,
            deleted=state.deleted,
            source_count=src_count,
            dest_count=dst_count,
            verified=verified,
            differences=tuple(remaining),
            seconds=time.perf_counter() - started,
            resumed=resumed,
        )
        rate("done", state.rows_read)
    except BaseException as exc:
        _audit(s, report, "failed", str(exc) or type(exc).__name__)
        raise
    _audit(s, report, "ok" if report.verified else "failed")
    return report


def run_sync(
    s: SyncSession,
    req: SyncRequest,
    progress: ProgressCallback | None = None,
) -> list[TableReport]:
    """Take the destination's lock, plan again under it, and sync every table."""
    from malnu_tui.engine.migrate import lock_holder_for_this_process

    backend = s.dst.backend
    backend.ensure_schema()
    backend.acquire_lock(lock_holder_for_this_process("sync"))
    try:
        plans = plan_sync(s, req)
        return [sync_table(s, p, req, progress) for p in plans]
    finally:
        backend.release_lock()


def dry_run(
    s: SyncSession, plans: Sequence[TablePlan], progress: ProgressCallback | None = None
) -> list[TableReport]:
    """Read both sides and say what a sync would change; writes nothing (no lock, no state)."""
    reports = []
    for plan in plans:
        rate = _Rate(progress, plan.table)
        shape = s.src.describe(plan.table)
        assert shape is not None
        if plan.create:
            reports.append(
                TableReport(plan.table, plan.mode, plan.source_count, plan.source_count, 0, 0,
                            plan.source_count, 0, False, key=shape.key, dry_run=True)
            )  # fmt: skip
            continue
        s.dst.describe(plan.table)
        _, diffs, missing, different, extra = _compare(s, shape, None, rate, plan.source_count)
        reports.append(
            TableReport(plan.table, plan.mode, plan.source_count, missing, different, extra,
                        plan.source_count, plan.dest_count, not diffs, tuple(diffs), shape.key,
                        dry_run=True)
        )  # fmt: skip
    return reports


def verify_sync(
    s: SyncSession, tables: Sequence[str] = (), progress: ProgressCallback | None = None
) -> list[TableReport]:
    """``sync verify``: counts and range checksums of each table on both sides, read-only."""
    src_tables = s.src.tables()
    names = list(tables) or src_tables
    unknown = [t for t in names if t not in src_tables]
    if unknown:
        raise ConfigError(f"no table {', '.join(map(repr, unknown))} at the source {s.src.label}")
    dst_tables = set(s.dst.tables())
    reports: list[TableReport] = []
    for t in names:
        started = time.perf_counter()
        shape = s.src.describe(t)
        assert shape is not None
        src_count = s.src.count(t)
        if t not in dst_tables:
            reports.append(TableReport(t, "verify", 0, 0, 0, 0, src_count, 0, False, key=shape.key))
            continue
        dshape = s.dst.describe(t)
        assert dshape is not None
        problems = _problems(shape, dshape, copying=False)
        if problems or not shape.key:
            raise SyncRefused(problems or [f"{t}: no primary key or unique index to compare by"])
        _, diffs, *_ = _compare(s, shape, None, _Rate(progress, t), src_count)
        dst_count = s.dst.count(t)
        reports.append(
            TableReport(t, "verify", src_count, 0, 0, 0, src_count, dst_count,
                        not diffs and src_count == dst_count, tuple(diffs), shape.key,
                        seconds=time.perf_counter() - started)
        )  # fmt: skip
    return reports


def states(side: Side) -> list[SyncState]:
    """Every ``malnu_sync`` row of a destination."""
    return side.all_states()


def read_states(dest: Target) -> list[SyncState]:
    """Every ``malnu_sync`` row of the destination ``dest`` (opened and closed here)."""
    side = open_side(dest)
    try:
        return side.all_states()
    finally:
        side.backend.close()


def lag_seconds(state: SyncState, now: datetime | None = None) -> float | None:
    """Seconds since the table's last finished sync."""
    if not state.finished_at:
        return None
    try:
        done = datetime.fromisoformat(state.finished_at)
    except ValueError:
        return None
    now = now or datetime.fromisoformat(utc_now())
    return max((now - done).total_seconds(), 0.0)
