"""Both ends of a sync and the plan: which tables, their keys, the destination's schema
checked against the source's mapped one (what is wrong and the hint for each:
:mod:`.problems`), and the mode of each table (full, by updated_at, by checksum), decided
before anything is written."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from malnu_tui.engine.config import Target, earlier_slugs, url_slug
from malnu_tui.engine.config_sections import D1_CHUNK_ROWS
from malnu_tui.engine.data.sqlwrite import D1_MAX_COLUMNS
from malnu_tui.engine.errors import ConfigError, MalnuError, SyncRefused
from malnu_tui.engine.sync.d1_stopped import reworded
from malnu_tui.engine.sync.destnames import DestNames, renamed_note
from malnu_tui.engine.sync.ends import open_side, unwritable_source
from malnu_tui.engine.sync.exposed import guard_copies
from malnu_tui.engine.sync.model import SYNCED_AT, Key, TablePlan, TableShape
from malnu_tui.engine.sync.pairs import DEFAULT_CHUNK_ROWS, DEFAULT_CURSOR, DEFAULT_OVERLAP_SECONDS
from malnu_tui.engine.sync.problems import (
    ASCII_LOWER,
    CASE_CLASH,
    COLUMN_CLASH,
    D1_WIDE,
    case_clashes,
    deferrable_key,
    fires_note,
    own_stamp,
    problem_hint,
    schema_problems,
    table_key,
    time_key_order,
)
from malnu_tui.engine.sync.references import parents_first, references
from malnu_tui.engine.sync.relations import history_shape, unknown_tables
from malnu_tui.engine.sync.side import Bounds, columns_since, decode_key
from malnu_tui.engine.sync.timetext import utc_wall_clock
from malnu_tui.engine.sync.watermark import capped, epoch_scale
from malnu_tui.engine.urls import sqlite_path

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

    from malnu_tui.engine.sync.cycles import ForeignKey
    from malnu_tui.engine.sync.side import SyncState
    from malnu_tui.engine.sync.verify import SourceKeys

__all__ = [
    "CURSOR_KINDS",
    "SyncRequest",
    "SyncSession",
    "change_column",
    "earlier_pairs",
    "open_side",
    "plan_sync",
]

# A timestamp, a date, a text (times as an application wrote them) or an integer (Unix
# seconds or milliseconds: JavaScript's Date.now(), what D1 apps write).
CURSOR_KINDS = ("ts", "tstz", "date", "text", "int")
# The change column when no cursor is configured and a table has no updated_at: Prisma's
# @updatedAt convention (drizzle apps use it too). Without it such a table was compared by
# checksum each pass, which on D1 reads (and bills) every row.
CAMEL_CURSOR = "updatedAt"


def change_column(shape: TableShape, cursor: str) -> tuple[str | None, bool]:
    """The cursor column of ``shape`` (one of :data:`CURSOR_KINDS`) and whether it is the
    camelCase fallback: the configured ``cursor``; with none configured (the default
    ``updated_at``) and no ``updated_at`` column, ``updatedAt``."""
    col = shape.column(cursor)
    if col is None and cursor == DEFAULT_CURSOR:
        camel = shape.column(CAMEL_CURSOR)
        if camel is not None and camel.kind in CURSOR_KINDS:
            return CAMEL_CURSOR, True
    return (cursor if col is not None and col.kind in CURSOR_KINDS else None), False


@dataclass(frozen=True)
class SyncRequest:
    """What the operator asked for."""

    tables: tuple[str, ...] = ()  # empty: every table of the source
    full: bool = False
    overlap_seconds: int = DEFAULT_OVERLAP_SECONDS
    cursor: str = DEFAULT_CURSOR
    chunk_rows: int = DEFAULT_CHUNK_ROWS
    # Where ``tables`` were named, when not on the command line: ``malnu.toml: [sync.NAME]
    # tables`` (a table there that the source lacks is said to come from it).
    named_in: str = ""
    # Where ``cursor`` was set, when not the default: ``malnu.toml: [sync.NAME] cursor``.
    cursor_named_in: str = ""


class SyncSession:
    """Both ends of a sync, opened once; close() releases the lock and the connections."""

    def __init__(self, source: Target, dest: Target, *, read_only: bool = False) -> None:
        if source.url == dest.url:
            raise ConfigError(f"--from and --to are the same database ({source.display_url})")
        self.source_target, self.dest_target = source, dest
        if source.kind == "sqlite" and not sqlite_path(source.url).is_file():
            raise ConfigError(f"no SQLite database at {source.display_url} (the source of a sync)")
        self.read_only = read_only
        why = unwritable_source(source)
        self.src = open_side(source, source=True, read_only=read_only)
        self.notes: tuple[str, ...] = ()  # said before the plan (CLI and console)
        if why:
            self.notes = (
                f"the source is opened read-only ({why}): it is only read, and the sync's "
                f"audit rows are written on {dest.name} only",
            )
        self._dst: DestNames | None = None
        # A SQLite destination that names no file yet is planned as a dry run plans it and
        # made only when the sync goes ahead (:meth:`go_ahead`): a sync refused or answered
        # "no" left a new database file there, the tool's tables in it.
        self._dst_planned_only = (
            not read_only and dest.kind == "sqlite" and not sqlite_path(dest.url).exists()
        )
        # Work on the source started before the destination is connected (run.start_early):
        # table → its source key fingerprint, under way or done.
        self.early: dict[str, SourceKeys] = {}
        self.early_started = False
        # Each table's state as its last committed chunk left it (written with the chunk): what
        # a sync that stopped because the destination went away has written, when the state
        # row there can no longer be read.
        self.committed: dict[str, SyncState] = {}
        # Tables other tables of the destination refer to by a foreign key (in table_key's
        # form), and those whose deletes a reference held back in this run (.references).
        self.referenced: set[str] = set()
        # table → the key ranges and keys whose deletes were held back (what its settling
        # compares again).
        self.held_back: dict[str, list[tuple[Bounds | None, tuple[Key, ...]]]] = {}
        self.parents: dict[str, set[str]] = {}  # table → the tables its copy refers to
        self.self_referring: set[str] = set()  # tables whose copy refers to itself
        self.planned: set[str] = set()  # the tables of the run (table_key's form)
        # Tables that refer to each other round a cycle (.cycles): table → the foreign keys
        # cut there (written NULL while the parent is not in the copy, with the parent's
        # shape); the keys of the rows so written (pass two writes them again; True: pass one
        # counted the row); the cut tables compared whole once the others are synced (their
        # last sync ended unverified: stopped between the passes).
        self.cuts: dict[str, list[tuple[ForeignKey, TableShape]]] = {}
        self.nulled: dict[str, dict[Key, bool]] = {}
        self.recheck: set[str] = set()
        # Into D1 the rows one batch (a chunk) carries at most: a chunk with the held-back rows
        # of a self-reference it brings is written in pieces of this many (.references).
        self.batch_rows = D1_CHUNK_ROWS

    @property
    def dst(self) -> DestNames:
        """The destination, connected on first use: a sync from a SQLite file starts reading
        its source first (:func:`.run.start_early`), while the destination's driver loads.
        Spoken to in the source's names (:mod:`.destnames`)."""
        if self._dst is None:
            planned_only = self.read_only or self._dst_planned_only
            self._dst = DestNames(open_side(self.dest_target, read_only=planned_only), self.src)
        return self._dst

    def go_ahead(self) -> None:
        """The sync runs (confirmed): a destination opened for its plan only (a SQLite file
        that does not exist yet) is opened again to be written, which creates it."""
        if not self._dst_planned_only:
            return
        self._dst_planned_only = False
        if self._dst is not None:
            planned, self._dst = self._dst, None
            with contextlib.suppress(Exception):
                planned.backend.close()

    @property
    def dst_if_open(self) -> DestNames | None:
        """The destination if it is connected yet (None: nothing to tidy up there)."""
        return self._dst

    def close(self) -> None:
        while self.early:
            self.early.popitem()[1].cancel()
        if self._dst is not None:
            with contextlib.suppress(Exception):
                self._dst.backend.close()
        with contextlib.suppress(Exception):
            self.src.backend.close()

    def __enter__(self) -> SyncSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- preflight ----------------------------------------------------------------------------------


def _since(watermark: str | None, overlap: int, kind: str | None = None) -> str | None:
    """The lower bound of an incremental pass: ``watermark`` minus the overlap window. A
    watermark that is a date (a ``DATE`` cursor) gives a date: the day the window reaches
    back into. As a time (``2026-12-05 00:00:00``) it sorted after that day's own dates in a
    SQLite or D1 source, so `overlap = "1d"` re-read no row of the day before, and a row of
    that day changed late was left behind while the sync said verified."""
    if watermark is None:
        return None
    if kind == "int":  # the overlap in the watermark's unit (seconds or milliseconds)
        try:
            n = int(watermark)
        except ValueError:
            return watermark
        return str(n - overlap * epoch_scale(n))
    try:
        dt = datetime.fromisoformat(watermark)
    except ValueError:
        return watermark
    try:
        back = utc_wall_clock(dt - timedelta(seconds=overlap))  # a text cursor's offset: UTC
    except OverflowError:  # a year-1 watermark (a `0001-01-01` sentinel): none is before it
        return "0001-01-01" if len(watermark) == 10 else "0001-01-01 00:00:00"
    if len(watermark) == 10:
        return back.date().isoformat()
    return back.isoformat(" ", "seconds")  # strftime wrote year 1 as "1-01-01"


def same_source(recorded: str, source: Target) -> bool:
    """Whether a copy's ``malnu_sync`` source ``recorded`` is ``source``: its name, or, for a
    database given by URL, a name an earlier version gave that URL (a state row it wrote made
    the first sync after an upgrade a full pass: "last synced from …")."""
    if recorded == source.name:
        return True
    return source.name == url_slug(source.url) and recorded in earlier_slugs(source.url)


def earlier_pairs(source: Target, dest: Target) -> tuple[str, ...]:
    """The ``SOURCE->DEST`` names earlier versions gave this pair in the run log, where an end
    given by URL was named otherwise (:func:`~malnu_tui.engine.config.earlier_slugs`): a
    failed sync recorded so stayed `check`'s CRITICAL "failed sync" for ever, every later
    sync (named today's way) good."""

    def names(t: Target) -> tuple[str, ...]:
        return (t.name, *earlier_slugs(t.url)) if t.name == url_slug(t.url) else (t.name,)

    now = f"{source.name}->{dest.name}"
    pairs = (f"{a}->{b}" for a in names(source) for b in names(dest))
    return tuple(p for p in pairs if p != now)


def plan_sync(s: SyncSession, req: SyncRequest, *, recount: bool = True) -> list[TablePlan]:
    """Decide, for every table, how it will be synced; SyncRefused lists every mismatch.
    ``recount=False`` (the plan made again under the lock, which nobody reads): a table synced
    incrementally or by checksums keeps the counts of its last sync instead of counting both
    sides again — its run counts them in its verification."""
    from malnu_tui.engine.recover_state import refuse_half_done

    refuse_half_done(s.dst.backend, "a sync into it")  # the next recover's restore undoes it
    s.dst.forget()  # (the plan made again under the lock reads the names again)
    src_tables = s.src.tables()
    s.dst.knows(tables=src_tables)
    names = req.tables or tuple(src_tables)
    unknown = [t for t in names if t not in src_tables]
    if unknown:
        listed = f" (tables: {', '.join(src_tables) or 'none'})"
        raise unknown_tables(s.src, unknown, listed, req.named_in)
    dst_tables = {table_key(s.dst, t): t for t in s.dst.tables()}
    plans: list[TablePlan] = []
    problems: list[str] = case_clashes(s.dst, names)
    for t in names:  # the copy of another table, whose name only case tells from this one
        there = dst_tables.get(table_key(s.dst, t), t)
        if there != t and s.dst.read_state(there) is not None:
            problems.append(f"{t}: {CASE_CLASH} (the copy of {there})")
    hints: list[str] = [SyncRefused.CASE_CLASH for _ in problems]
    if s.dst.kind == "postgresql":  # what the role may not write, before anything is
        copies = [dst_tables.get(table_key(s.dst, t), t) for t in names]
        lacking = s.dst.missing_grants(copies)  # type: ignore[attr-defined]
        problems += [p for p, _grant in lacking]
        hints += [f"as its owner (or a superuser): {grant}" for _p, grant in lacking]
    # Each table's two counts at once: the destination's on a thread while the source counts.
    from concurrent.futures import ThreadPoolExecutor  # (here: `sync status` never plans)

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="malnu-sync-count")
    try:
        for t in names:
            before = len(problems)
            exists = table_key(s.dst, t) in dst_tables
            try:
                _plan_table(s, req, t, exists, pool, plans, problems, recount)
            except MalnuError as exc:  # D1 stopping a count at 30 s: what to do for a sync
                reworded(exc, t, "plan")
                raise
            hints.extend(problem_hint(s, t, problem) for problem in problems[before:])
    finally:
        pool.shutdown(wait=True)
    twice = [s.dst.ambiguous[t] for t in names if t in s.dst.ambiguous]  # two copies there?
    problems += twice
    hints += [SyncRefused.MIRROR_CASE] * len(twice)
    if problems:
        raise SyncRefused(problems, hints)
    _check_cursor(req, plans)
    refs = references(s.dst)  # the destination's foreign keys: parents are synced first
    s.referenced = {parent for _child, parent in refs}
    s.parents = {}
    s.self_referring = {child for child, parent in refs if child == parent}
    for child, parent in refs:
        if child != parent:
            s.parents.setdefault(child, set()).add(parent)
    s.planned = {table_key(s.dst, p.table) for p in plans}
    if s.dst.kind == "d1":  # its chunks' foreign keys checked at each batch's end
        s.dst.related = {t for ref in refs for t in ref}  # type: ignore[attr-defined]
    ordered, cuts = parents_first(s.dst, guard_copies(s, plans), refs)
    return _cut(s, ordered, cuts)


def _cut(s: SyncSession, plans: list[TablePlan], cuts: list[ForeignKey]) -> list[TablePlan]:
    """The plans with a note on each table whose foreign keys cut a cycle (``cuts``), kept in
    ``s.cuts`` by the tables' source names (:mod:`.cycles`)."""
    names = {table_key(s.dst, p.table): p.table for p in plans}
    s.cuts = {}
    for fk in cuts:
        parent = s.src.describe(names[fk.parent])
        assert parent is not None
        s.cuts.setdefault(names[fk.child], []).append((fk, parent))
    out = []
    for p in plans:
        notes = [
            f"{', '.join(f'{p.table}.{c}' for c in fk.columns)} written NULL where its "
            f"{parent.name} row is not in the copy yet, and set once {parent.name} is synced "
            f"(the copy's foreign keys go round a cycle through {p.table} and {parent.name})"
            for fk, parent in s.cuts.get(p.table, ())
        ]
        out.append(replace(p, notes=(*p.notes, *notes)) if notes else p)
    return out


def _check_cursor(req: SyncRequest, plans: list[TablePlan]) -> None:
    """A cursor set in the config that no table of the sync has as a change column (a typo,
    ``updatedAt`` for ``updated_at``) is refused: every table was compared by checksum, each
    pass reading both sides whole, with only a plan note to say so."""
    if req.cursor == DEFAULT_CURSOR or not plans or any(p.cursor for p in plans):
        return
    where = req.cursor_named_in or "cursor"
    raise ConfigError(
        f"{where} = {req.cursor!r}: no table of the sync has it as a time or number column "
        f"({', '.join(p.table for p in plans)}): each would be compared by checksum, every "
        "pass reading both sides whole",
        hint=f"name the change column as the tables spell it (the default is {DEFAULT_CURSOR}), "
        "or remove cursor from the pair",
    )


def _plan_table(
    s: SyncSession,
    req: SyncRequest,
    t: str,
    exists: bool,
    pool: ThreadPoolExecutor,
    plans: list[TablePlan],
    problems: list[str],
    recount: bool = True,
) -> None:
    """Plan one table (appended to ``plans``; its mismatches to ``problems``)."""
    shape = s.src.describe(t)
    assert shape is not None
    s.dst.knows(shape=shape)
    if history_shape(shape, bool(req.tables)):
        return
    whole = not shape.key  # copied whole each time, one unit (.whole)
    mixed = None if whole else s.src.mixed_key(shape)
    if whole:
        pass
    elif mixed is not None:
        problems.append(f"{t}: {mixed}")
    elif (odd := time_key_order(s, shape)) is not None:
        problems.append(f"{t}: {odd}")
    if (stamp := own_stamp(s.src, shape)) is not None:
        problems.append(stamp)
    if s.dst.kind != "postgresql":  # a PostgreSQL source's "Nama" and nama: a traceback
        folded: dict[str, list[str]] = {}
        for name in (*shape.names, SYNCED_AT):
            folded.setdefault(name.translate(ASCII_LOWER), []).append(name)
        problems.extend(
            f"{t}: columns {', '.join(g)}: {COLUMN_CLASH}" for g in folded.values() if len(g) > 1
        )
    if s.dst.kind == "d1" and not exists and len(shape.columns) + 1 > D1_MAX_COLUMNS:
        # D1 refused the CREATE ("too many columns") after the plan said all was well.
        problems.append(
            f"{t}: {len(shape.columns)} columns, and the copy adds synced_at: {D1_WIDE}"
        )
        return
    # A mirror `up` built from the source's own migrations has the source's triggers too: an
    # AFTER INSERT log trigger wrote its row at the destination, then the sync copied the
    # source's log row (duplicate key); a touch trigger re-stamps every copied row (the
    # verification finds it). Said in the plan, with the statements that stop them; not
    # refused: an analytics trigger that keeps a table of its own is the destination's right.
    fired = s.dst.triggers(t) if exists else []
    dshape = s.dst.describe(t) if exists else None
    state = s.dst.read_state(t) if exists else None
    if dshape is not None and state is not None and state.key_pending and not dshape.key:
        dshape = replace(dshape, key=shape.key, unique_key=True)  # built when the copy ends
    if dshape is not None:
        problems.extend(schema_problems(shape, dshape, sqlite_dest=s.dst.kind != "postgresql"))
        if (deferred := deferrable_key(s, t, dshape)) is not None:
            problems.append(deferred)
    cursor, camel = (None, False) if whole else change_column(shape, req.cursor)
    cur = shape.column(cursor) if cursor else None
    notes: list[str] = [fires_note(s, t, fired)] if fired else []
    if camel:
        notes.append(f"change column {CAMEL_CURSOR} (no {DEFAULT_CURSOR} column)")
    if (named := renamed_note(s.dst, t)) is not None:
        notes.insert(0, named)
    if state is not None and not same_source(state.source, s.source_target):
        # A copy last synced from another source (a pair whose `from` changed, `--from`
        # another target): its watermark and last key tell nothing of this source's rows.
        notes.append(f"last synced from {state.source}: a full pass")
        state = None
    if shape.generated and not exists:
        notes.append(
            f"generated column(s) {', '.join(shape.generated)} not copied (computed from the "
            "others at the source; the copy has none)"
        )
    # Columns the rows copied before do not hold (a column added at the source, then to the
    # copy by the refusal's hint): an incremental pass would leave them NULL there.
    stale = (
        columns_since(state.copied_columns, shape, dshape)
        if cursor and state is not None and dshape is not None and not req.full
        else []
    )
    if stale:
        notes.append(
            f"column(s) {', '.join(stale)} added since the copy's rows were written (NULL in "
            "them): a full pass"
        )
    resume: Key | None = None
    since: str | None = None
    running_full = state is not None and state.status == "running" and state.mode == "full"
    if whole:
        mode = "whole"
    elif req.full or state is None or not exists or running_full or stale:
        mode = "full"
        if running_full and not req.full and not stale and state is not None and state.last_key:
            resume = decode_key(state.last_key)
            notes.append("resumes a sync that was interrupted")
    elif cursor:
        mode = "updated_at"
        if state.status == "running" and state.mode == "updated_at":
            resume, since = decode_key(state.last_key), state.since
            notes.append("resumes a sync that was interrupted")
        else:
            mark = capped(cur.kind if cur is not None else None, state.watermark, state.started_at)
            if mark != state.watermark:
                notes.append(
                    f"the last watermark ({state.watermark}) is later than that sync began: "
                    f"reads from then ({mark})"
                )
            since = _since(mark, req.overlap_seconds, cur.kind if cur is not None else None)
    else:
        mode = "checksum"
        named = req.cursor + (f" or {CAMEL_CURSOR}" if req.cursor == DEFAULT_CURSOR else "")
        notes.append(f"no {named} column: chunks are compared by checksum")
    src_count, dst_count = (state.source_count, state.dest_count) if state else (None, None)
    if recount or mode in ("full", "whole") or src_count is None or dst_count is None:
        counting = pool.submit(s.dst.count, t) if exists else None
        src_count = s.src.count(t)
        dst_count = counting.result() if counting is not None else 0
    if whole:
        rows = f"{src_count:,} row" + ("" if src_count == 1 else "s")
        notes.append(f"no key: copied whole each time, {rows}")
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
            source_count=src_count,
            dest_count=dst_count,
            notes=tuple(notes),
            dest_table=s.dst.table(t) if s.dst.table(t) != t else "",
        )
    )
