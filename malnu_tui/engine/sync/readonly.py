"""The read-only uses of the sync engine: a dry run, ``sync verify``, and the state of the
copies (``sync status``, the console's last sync and lag)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from malnu_tui.engine.backends.base import lock_host, utc_now
from malnu_tui.engine.backends.lease import lock_is_stale
from malnu_tui.engine.config import Target
from malnu_tui.engine.errors import ConfigError, MalnuError, SyncRefused
from malnu_tui.engine.monitor.debuglog import mask_secrets, one_line
from malnu_tui.engine.sync.d1_stopped import reworded
from malnu_tui.engine.sync.exposed import open_copy_warnings
from malnu_tui.engine.sync.model import ProgressCallback, TablePlan, TableReport, TableShape
from malnu_tui.engine.sync.problems import (
    case_clashes,
    own_stamp,
    own_stamp_hint,
    problem_hint,
    schema_problems,
    table_key,
    time_key_order,
)
from malnu_tui.engine.sync.relations import history_shape, left_behind_by_table, unknown_tables
from malnu_tui.engine.sync.session import SyncSession, open_side
from malnu_tui.engine.sync.side import NULL_KEY, Side, SyncState, columns_since
from malnu_tui.engine.urls import sqlite_path

__all__ = [
    "CopyStatus",
    "copy_statuses",
    "dry_run",
    "lag_seconds",
    "read_states",
    "states",
    "verify_sync",
]


def dry_run(
    s: SyncSession, plans: Sequence[TablePlan], progress: ProgressCallback | None = None
) -> list[TableReport]:
    """Read both sides and say what a sync would change; writes nothing (no lock, no state)."""
    reports: list[TableReport] = []
    for plan in plans:
        try:
            reports.append(_dry_run_table(s, plan, progress))
        except MalnuError as exc:  # D1 stopping a read at 30 s: what to do for a dry run
            reworded(exc, plan.table, "dry run")
            raise
    return reports


def _dry_run_table(
    s: SyncSession, plan: TablePlan, progress: ProgressCallback | None
) -> TableReport:
    # The comparisons' modules are loaded here, not with this one: ``sync status`` and the
    # console's lag read the states only.
    from malnu_tui.engine.sync.compare import PhaseProgress, compare_ranges

    rate = PhaseProgress(progress, plan.table)
    shape = s.src.describe(plan.table)
    assert shape is not None
    if plan.mode == "whole":  # every row replaced: what it would insert and delete
        n, there = plan.source_count, plan.dest_count
        return TableReport(plan.table, "whole", n, n, 0, there, n, there, False,
                           key=shape.names, dry_run=True, warnings=plan.warnings)  # fmt: skip
    if plan.create:
        return TableReport(plan.table, plan.mode, plan.source_count, plan.source_count, 0, 0,
                           plan.source_count, 0, False, key=shape.key, dry_run=True,
                           warnings=plan.warnings, dest_table=plan.dest_table)  # fmt: skip
    s.dst.describe(plan.table)
    found = compare_ranges(s, shape, None, rate, plan.source_count)
    return TableReport(plan.table, plan.mode, plan.source_count, found.missing,
                       found.different, found.extra, plan.source_count, plan.dest_count,
                       not found.left, found.remaining, shape.key, dry_run=True,
                       truncated=found.left > len(found.remaining), warnings=plan.warnings,
                       dest_table=plan.dest_table)  # fmt: skip


def verify_sync(
    s: SyncSession,
    tables: Sequence[str] = (),
    progress: ProgressCallback | None = None,
    named_in: str = "",
) -> list[TableReport]:
    """``sync verify``: counts and range checksums of each table on both sides, read-only
    (``named_in``: where ``tables`` were named, see :class:`.session.SyncRequest`)."""
    src_tables = s.src.tables()
    s.dst.knows(tables=src_tables)
    names = list(tables) or src_tables
    unknown = [t for t in names if t not in src_tables]
    if unknown:
        raise unknown_tables(s.src, unknown, named_in=named_in)
    dst_tables = {table_key(s.dst, t) for t in s.dst.tables()}
    if clashes := case_clashes(s.dst, names):
        raise SyncRefused(clashes, [SyncRefused.CASE_CLASH])
    if twice := [s.dst.ambiguous[t] for t in names if t in s.dst.ambiguous]:
        raise SyncRefused(twice, [SyncRefused.MIRROR_CASE])  # two copies there? (.destnames)
    reports: list[TableReport] = []
    for t in names:
        try:
            asked = bool(tables) and not named_in  # named on the command line
            report = _verify_table(s, t, bool(tables), dst_tables, progress, asked=asked)
        except MalnuError as exc:  # D1 stopping a read at 30 s: what to do for a verification
            reworded(exc, t, "verify")
            raise
        if report is not None:
            reports.append(report)
    # A Supabase copy its API serves to every holder of the anon key: said as the sync says it.
    there = [r.table for r in reports if table_key(s.dst, r.table) in dst_tables]
    opened = open_copy_warnings(s, there)
    return [replace(r, warnings=(opened[r.table],)) if r.table in opened else r for r in reports]


def _verify_table(
    s: SyncSession,
    t: str,
    named: bool,
    dst_tables: set[str],
    progress: ProgressCallback | None,
    *,
    asked: bool = False,
) -> TableReport | None:
    """``sync verify`` of table ``t`` (None: a history table left out, ``named``: the tables
    were named, ``asked``: on the command line)."""
    from malnu_tui.engine.sync.compare import PhaseProgress, compare_ranges
    from malnu_tui.engine.sync.fastcopy import FastCopy
    from malnu_tui.engine.sync.verify import PAGE_ROWS
    from malnu_tui.engine.sync.whole_run import verify_whole

    started = time.perf_counter()
    shape = s.src.describe(t)
    assert shape is not None
    s.dst.knows(shape=shape)
    if history_shape(shape, named):
        return None
    src_count = s.src.count(t)
    if table_key(s.dst, t) not in dst_tables:
        # A table named on the command line: the sync of that table (a bare `sync` of the
        # pair synced the pair's tables, not it; without tables, every table of the source).
        sync = f"sync --tables {t}" if asked else "sync"
        note = f"no table {t} at the destination {s.dst.label}: `malnu-tui {sync}` copies it"
        return TableReport(t, "verify", 0, 0, 0, 0, src_count, 0, False, key=shape.key, note=note)
    dshape = s.dst.describe(t)
    assert dshape is not None
    problems = schema_problems(shape, dshape, copying=False, sqlite_dest=s.dst.kind != "postgresql")
    hints, failed = None, False
    if not dshape.key and (state := s.dst.read_state(t)) is not None and state.key_pending:
        problems = [f"{t}: a full copy was interrupted before its primary key was built"]
        hints, failed = ["run the sync again to finish the copy, then verify"], True
    elif (mixed := s.src.mixed_key(shape)) is not None:
        hint = SyncRefused.NULL_KEY if mixed.endswith(NULL_KEY) else SyncRefused.MIXED_KEY
        problems, hints = [f"{t}: {mixed}"], [hint]
    elif (stamp := own_stamp(s.src, shape)) is not None:
        problems, hints = [stamp], [own_stamp_hint(t)]
    elif (odd := time_key_order(s, shape)) is not None:
        problems = [f"{t}: {odd}"]
        hints = [problem_hint(s, t, problems[0])]
    if problems:
        # The schema's problems get the sync's own hints (the exact ALTER TABLE), not the
        # general one: the verify refuses what the sync would refuse, and says it alike.
        hints = hints or [problem_hint(s, t, p) for p in problems]
        raise SyncRefused(problems, hints, failed=failed)
    if not shape.key:  # compared whole: counts and hash sums (.whole_run)
        return verify_whole(s, shape, progress)
    fast = FastCopy.start(s, shape, False, own_connection=False)
    found = compare_ranges(
        s,
        shape,
        None,
        PhaseProgress(progress, t),
        src_count,
        fast.compare(PAGE_ROWS) if fast is not None else None,
    )
    dst_count = s.dst.count(t)
    ok = not found.left and src_count == dst_count
    return TableReport(t, "verify", src_count, 0, 0, 0, src_count, dst_count, ok,
                       found.remaining, shape.key, seconds=time.perf_counter() - started,
                       truncated=found.left > len(found.remaining),
                       note="" if ok else _unfilled(s, shape, dshape),
                       dest_table="" if s.dst.table(t) == t else s.dst.table(t))  # fmt: skip


def _unfilled(s: SyncSession, shape: TableShape, dshape: TableShape) -> str:
    """Why a copy differs, when its rows copied before hold none of columns added since (the
    next sync is a full pass that fills them: :func:`.session._plan_table`); "" otherwise."""
    state = s.dst.read_state(shape.name)
    stale = columns_since(state.copied_columns, shape, dshape) if state is not None else []
    if not stale:
        return ""
    return (
        f"column(s) {', '.join(stale)} added since the copy's rows were written (NULL in them): "
        "the next sync is a full pass that fills them"
    )


def states(side: Side) -> list[SyncState]:
    """Every ``malnu_sync`` row of a destination."""
    return side.all_states()


def read_states(dest: Target) -> list[SyncState]:
    """Every ``malnu_sync`` row of the destination ``dest`` (opened and closed here)."""
    if _not_made(dest):
        return []
    side = open_side(dest, read_only=True)
    try:
        return side.all_states()
    finally:
        side.backend.close()


@dataclass(frozen=True)
class CopyStatus:
    """A copy's ``malnu_sync`` row, and whether its source still has its table: True, False
    (renamed or dropped there: nothing syncs the copy any more, its lag only grows) or None
    (not checked: the source could not be reached). ``source_note`` says which: the warning
    ``sync`` prints (with the statements that drop the copy), or why it was not checked.
    ``live``: whether a sync at work holds the destination's lock now (None: the lock could
    not be read); a row ``running`` without one is a sync stopped or killed, that the next
    sync resumes (the row stays ``running`` for that)."""

    state: SyncState
    source_has_table: bool | None
    source_note: str = ""
    live: bool | None = None


def copy_statuses(dest: Target, source_of: Callable[[str], Target]) -> list[CopyStatus]:
    """``sync status``: every ``malnu_sync`` row of ``dest``, each checked against its source
    (``source_of`` resolves a row's source name to a target; each source opened once, read
    only: its list of tables, :func:`.relations.left_behind_by_table` as ``sync`` warns)."""
    if _not_made(dest):
        return []
    side = open_side(dest, read_only=True)
    try:
        states = side.all_states()
        live = _sync_at_work(side) if states else False
        checked = {
            name: _source_check(side, name, source_of)
            for name in sorted({st.source for st in states})
        }
    finally:
        side.backend.close()
    out = []
    for st in states:
        gone, why = checked[st.source]
        if gone is None:
            out.append(CopyStatus(st, None, why, live))
        else:
            there = st.table_name not in gone
            out.append(CopyStatus(st, there, gone.get(st.table_name, ""), live))
    return out


def _sync_at_work(side: Side) -> bool | None:
    """Whether a sync that still runs holds the lock of the destination ``side`` (None: the
    lock could not be read). A sync stopped (SIGTERM, Ctrl-C) or killed outright leaves its
    tables' rows ``running``, which is how the next sync resumes; only the lock tells one at
    work from one gone, judged as ``status`` judges it (:func:`.lease.lock_is_stale`: on this
    host its pid, from another its lease). A live holder doing something else (an ``up``) is
    no sync; one whose purpose is not recorded (an older lock table) may be."""
    try:
        holder = side.backend.read_lock()
    except MalnuError:
        return None
    if holder is None or lock_is_stale(holder, lock_host()) is not None:
        return False
    # The purpose, as the lock row keeps it; PostgreSQL adds its backend pid after a ";".
    purpose = holder.note.split(";")[0].strip()
    return purpose in ("sync", "") or purpose.startswith("PostgreSQL backend pid")


def _not_made(dest: Target) -> bool:
    """A SQLite destination whose file the first sync has yet to make: nothing synced there
    (opened, it was created, by a look at it)."""
    return dest.kind == "sqlite" and not sqlite_path(dest.url).exists()


def _source_check(
    dst: Side, name: str, source_of: Callable[[str], Target]
) -> tuple[dict[str, str] | None, str]:
    """The copies from source ``name`` whose table it no longer has (None: not checked, and
    why)."""
    try:
        target = source_of(name)
        if target.kind == "sqlite" and not sqlite_path(target.url).is_file():
            raise ConfigError(f"no SQLite database at {target.display_url}")
        src = open_side(target, read_only=True)
        try:
            return left_behind_by_table(src, dst, name), ""
        finally:
            src.backend.close()
    except MalnuError as exc:
        why = one_line(mask_secrets(str(exc)))
        return None, f"source {name} not read ({why}): whether its tables are there was not checked"


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
