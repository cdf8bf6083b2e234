"""Both ends of a sync and the plan: which tables, their keys, the destination's schema
checked against the source's mapped one, and the mode of each table (full, by updated_at, by
checksum), decided before anything is written."""

from __future__ import annotations

import contextlib
import string
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from malnu_tui.engine.backends.sqlite_sql import quote_ident, sql_literal
from malnu_tui.engine.config import Target, earlier_slugs, url_slug
from malnu_tui.engine.data.sqlwrite import D1_MAX_COLUMNS
from malnu_tui.engine.errors import ConfigError, SyncRefused
from malnu_tui.engine.sync.ends import open_side, unwritable_source
from malnu_tui.engine.sync.model import SYNCED_AT, Key, TablePlan, TableShape
from malnu_tui.engine.sync.pairs import DEFAULT_CHUNK_ROWS, DEFAULT_CURSOR, DEFAULT_OVERLAP_SECONDS
from malnu_tui.engine.sync.relations import unknown_tables
from malnu_tui.engine.sync.side import NULL_KEY, STATE_TABLE, Side, columns_since, decode_key
from malnu_tui.engine.sync.timetext import utc_wall_clock
from malnu_tui.engine.sync.watermark import capped, epoch_scale
from malnu_tui.engine.urls import sqlite_path

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

    from malnu_tui.engine.sync.verify import SourceKeys

__all__ = [
    "SyncRequest",
    "SyncSession",
    "case_clashes",
    "earlier_pairs",
    "open_side",
    "own_stamp",
    "own_stamp_hint",
    "plan_sync",
    "schema_problems",
    "table_key",
]

# A timestamp, a date, a text (times as an application wrote them) or an integer (Unix
# seconds or milliseconds: JavaScript's Date.now(), what D1 apps write).
CURSOR_KINDS = ("ts", "tstz", "date", "text", "int")
_NO_KEY = "no primary key or unique index at the source to match rows by"
_MIXED_KEY = "the two sides would order such keys differently"
_NO_STAMP = "destination lacks the synced_at column"
_NO_COLUMNS = "destination lacks column(s)"
_EXTRA_COLUMNS = "destination has column(s) the source lacks:"
# The next sync after columns were added to a copy is a full pass (see _plan_table).
_REFILL = "sync again (a full pass: the rows copied before get their values)"
_OWN_STAMP = (
    "has a column synced_at of its own, where a copy keeps when the sync wrote each row: its "
    "values would not be copied"
)


@dataclass(frozen=True)
class SyncRequest:
    """What the operator asked for."""

    tables: tuple[str, ...] = ()  # empty: every table of the source
    full: bool = False
    overlap_seconds: int = DEFAULT_OVERLAP_SECONDS
    cursor: str = DEFAULT_CURSOR
    chunk_rows: int = DEFAULT_CHUNK_ROWS


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
        self._dst: Side | None = None
        # Work on the source started before the destination is connected (run.start_early):
        # table → its source key fingerprint, under way or done.
        self.early: dict[str, SourceKeys] = {}
        self.early_started = False

    @property
    def dst(self) -> Side:
        """The destination, connected on first use: a sync from a SQLite file starts reading
        its source first (:func:`.run.start_early`), while the destination's driver loads."""
        if self._dst is None:
            self._dst = open_side(self.dest_target, read_only=self.read_only)
        return self._dst

    @property
    def dst_if_open(self) -> Side | None:
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


def schema_problems(
    src: TableShape, dst: TableShape, *, copying: bool = True, sqlite_dest: bool = False
) -> list[str]:
    """The mismatches of the copy ``dst`` against the source ``src``. A SQLite or D1 copy
    (``sqlite_dest``) may keep dates and times in a TEXT column (SQLite has no type of its
    own for them; copies of a ``timestamp(3)`` were made so)."""
    t = src.name
    out: list[str] = []
    missing = [c for c in src.names if dst.column(c) is None]
    extra = [c for c in dst.names if src.column(c) is None]
    if missing:
        out.append(f"{t}: {_NO_COLUMNS} {', '.join(missing)}")
    if extra:
        out.append(f"{t}: {_EXTRA_COLUMNS} {', '.join(extra)}")
    for c in src.columns:
        d = dst.column(c.name)
        if d is None or d.kind == c.kind:
            continue
        if sqlite_dest and d.kind == "text" and c.kind in _TIMES:
            continue
        out.append(
            f"{t}.{c.name}: source {c.declared or '(no type)'} maps to {c.pg_type}, "
            f"destination has {d.declared or d.pg_type}"
        )
    if copying and not dst.has_synced_at:
        out.append(f"{t}: {_NO_STAMP}")
    if set(dst.key) != set(src.key) or not dst.unique_key:
        out.append(
            f"{t}: destination key ({', '.join(dst.key) or 'none'}) is not the source's "
            f"({', '.join(src.key)}) as a primary key or unique index"
        )
    return out


def own_stamp(src: Side, shape: TableShape) -> str | None:
    """The problem of a source table with a ``synced_at`` column of its own (an application
    that records when a device synced a row): the copy's ``synced_at`` is the sync's, so those
    values were left behind while the table verified equal. None when the column is the
    sync's own (the source is itself a copy: its ``malnu_sync`` has the table) or absent."""
    if not shape.has_synced_at or src.read_state(shape.name) is not None:
        return None
    return f"{shape.name}: {_OWN_STAMP}"


_TIMES = frozenset({"ts", "tstz", "date", "time"})
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
_CASE_CLASH = "SQLite's table names ignore case: they would be one table at the destination"
_COLUMN_CLASH = "SQLite's column names ignore case: they would be one column at the destination"
_COLUMN_CLASH_HINT = (
    "rename one of them at the source, or leave the table out with --tables; a PostgreSQL "
    "destination keeps both"
)


def table_key(side: Side, name: str) -> str:
    """A table's name as ``side`` tells names apart: SQLite (and D1) ignore ASCII case, so a
    PostgreSQL source's "Siswa" is the table ``siswa`` there."""
    return name if side.kind == "postgresql" else name.translate(_ASCII_LOWER)


def mirrored_elsewhere(
    s: SyncSession, names: Sequence[str], there: Iterable[str]
) -> list[tuple[str, str]]:
    """Source tables of SQLite or D1 (names that ignore case) whose PostgreSQL destination
    has no table of their exact name but one that only case tells from it: ``siswa``, the
    translation's name for ``Siswa`` in a mirror `up` built. The sync made a second table
    "Siswa" beside it, copied there and said verified, while the reports read ``siswa``."""
    if s.dst.kind != "postgresql" or s.src.kind == "postgresql":
        return []
    present = set(there)
    folded = {name.translate(_ASCII_LOWER): name for name in sorted(present)}
    out = []
    for t in names:
        other = folded.get(t.translate(_ASCII_LOWER))
        if t not in present and other is not None:
            out.append((t, other))
    return out


def case_clashes(dst: Side, names: Sequence[str]) -> list[str]:
    """The problems of source tables whose names only case tells apart, for a SQLite or D1
    destination (creating the second stopped the sync on a traceback: "table siswa already
    exists")."""
    groups: dict[str, list[str]] = {}
    for n in names:
        groups.setdefault(table_key(dst, n), []).append(n)
    return [f"{', '.join(g)}: {_CASE_CLASH}" for g in groups.values() if len(g) > 1]


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
    back = utc_wall_clock(dt - timedelta(seconds=overlap))  # a text cursor's offset: UTC
    if len(watermark) == 10:
        return back.date().isoformat()
    return back.strftime("%Y-%m-%d %H:%M:%S")


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
    src_tables = s.src.tables()
    names = req.tables or tuple(src_tables)
    unknown = [t for t in names if t not in src_tables]
    if unknown:
        raise unknown_tables(s.src, unknown, f" (tables: {', '.join(src_tables) or 'none'})")
    dst_tables = {table_key(s.dst, t): t for t in s.dst.tables()}
    plans: list[TablePlan] = []
    problems: list[str] = case_clashes(s.dst, names)
    for t in names:  # the copy of another table, whose name only case tells from this one
        there = dst_tables.get(table_key(s.dst, t), t)
        if there != t and s.dst.read_state(there) is not None:
            problems.append(f"{t}: {_CASE_CLASH} (the copy of {there})")
    hints: list[str] = [SyncRefused.CASE_CLASH for _ in problems]
    for t, there in mirrored_elsewhere(s, names, dst_tables.values()):
        problems.append(
            f"{t}: the destination has {there}, not {quote_ident(t)}: the sync would make a "
            f"second table beside it (a copy keeps the source's name exactly; {there} is the "
            "translation's name for it, as `up` makes it from SQLite migrations)"
        )
        hints.append(SyncRefused.MIRROR_CASE)
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
            _plan_table(s, req, t, exists, pool, plans, problems, recount)
            hints.extend(_hint(s, t, problem) for problem in problems[before:])
    finally:
        pool.shutdown(wait=True)
    if problems:
        raise SyncRefused(problems, hints)
    return plans


def own_stamp_hint(table: str) -> str:
    """What to do about :func:`own_stamp`."""
    return (
        "rename the column at the source (the application's own: e.g. ALTER TABLE "
        f'{quote_ident(table)} RENAME COLUMN "synced_at" TO "device_synced_at"), or leave the '
        "table out with --tables"
    )


def _at_dest(s: SyncSession, name: str) -> str:
    """``name`` (SQL text) as a hint's statement names it at the destination: in its schema
    on PostgreSQL."""
    if s.dst.kind != "postgresql":
        return name
    return quote_ident(str(getattr(s.dst, "schema", "public"))) + "." + name


def _fires_note(s: SyncSession, table: str, names: Sequence[str]) -> str:
    """The plan's note for a copy whose own triggers fire on the sync's writes."""
    if s.dst.kind == "postgresql":
        where = _at_dest(s, quote_ident(table))
        stop = "; ".join(f"ALTER TABLE {where} DISABLE TRIGGER {quote_ident(n)}" for n in names)
    else:  # SQLite has no disabled trigger
        stop = "; ".join(f"DROP TRIGGER {quote_ident(n)}" for n in names)
    return (
        f"the copy has triggers that fire on every row the sync writes: {', '.join(names)} "
        "(a mirror built from the source's migrations has the source's: a log row written "
        "twice, a stamp changed and found different); where they should not fire there: "
        f"{stop}"
    )


_D1_WIDE = f"D1 takes at most {D1_MAX_COLUMNS} columns a table"


def _hint(s: SyncSession, table: str, problem: str) -> str:
    """What to do about one of ``table``'s problems."""
    if problem.endswith(_NO_KEY):
        return SyncRefused.NO_KEY
    if problem.endswith(_MIXED_KEY):
        return SyncRefused.MIXED_KEY
    if problem.endswith(NULL_KEY):
        return SyncRefused.NULL_KEY
    if problem.endswith(_OWN_STAMP):
        return own_stamp_hint(table)
    if problem.endswith(_COLUMN_CLASH):
        return _COLUMN_CLASH_HINT
    if problem.endswith(_D1_WIDE):
        return (
            "leave the table out with --tables, or sync it into PostgreSQL or a SQLite file "
            "(D1's limit is fixed; it holds for each table)"
        )
    name = _at_dest(s, quote_ident(table))
    if problem.endswith(_NO_STAMP):
        kind = "timestamp" if s.dst.kind == "postgresql" else "DATETIME"
        return (
            f"add it at the destination (every copied row gets the time of its copy): "
            f"ALTER TABLE {name} ADD COLUMN synced_at {kind}"
        )
    if (remake := _remade_key(s, table, name)) is not None:
        return remake
    if (mirrored := _mirrored_columns(s, table)) and (
        f"{table}: {_NO_COLUMNS} " in problem or problem.startswith(f"{table}: {_EXTRA_COLUMNS} ")
    ):
        return (
            f"{mirrored} (`up` lower-cases SQLite's names in a mirror it builds), and a copy "
            "keeps the source's names exactly: let the sync make this copy (drop the table "
            "at the destination, or leave it out of the set applied there), or name the "
            "columns in lower case at the source — not the statements that add and drop them "
            "(the mirror's reports read its names)"
        )
    if f"{table}: {_NO_COLUMNS} " in problem:
        # Columns a migration added at the source: the statements that add them here, then a
        # full pass (the rows copied before have the new columns empty).
        src, dst = s.src.describe(table), s.dst.describe(table)
        if src is not None and dst is not None:
            names = [c.name for c in src.columns if dst.column(c.name) is None]
            statements = "; ".join(s.dst.add_columns_ddl(src, names))
            return f"add them at the destination: {statements}; then {_REFILL}"
    if problem.startswith(f"{table}: {_EXTRA_COLUMNS} "):
        # Columns the copy has and the source not: dropped at the source by a migration, or
        # the destination's own (an analytics column added there on purpose), whose data the
        # DROP that once led this hint deleted. Both readings, the non-destructive one first.
        src, dst = s.src.describe(table), s.dst.describe(table)
        if src is not None and dst is not None:
            extra = [c for c in dst.names if src.column(c) is None]
            drops = "; ".join(f"ALTER TABLE {name} DROP COLUMN {quote_ident(c)}" for c in extra)
            one = len(extra) == 1
            it, they, own = ("it", "it", "its") if one else ("them", "they", "their")
            return (
                f"{', '.join(extra)} {'is' if one else 'are'} in the copy only (the source has "
                f"no such column): the copy cannot be verified with {it}. If {they} "
                f"belong{'s' if one else ''} to the destination (added there on purpose), keep "
                f"{it} in a table of {own} own beside the copy, or leave {table} out with "
                f"--tables; if the source dropped {it}, drop {it} here too (the values there go "
                f"with {it}): {drops}; then sync again"
            )
    if problem.startswith(f"{table}.") and " maps to " in problem:
        # Columns whose type changed at the source (a SQLite table rebuilt with REAL where it
        # had INTEGER): replaced at the destination, refilled by the next sync's full pass.
        src, dst = s.src.describe(table), s.dst.describe(table)
        if src is not None and dst is not None:
            changed = [
                c.name
                for c in src.columns
                if (d := dst.column(c.name)) is not None and d.kind != c.kind
            ]
            if changed and not set(changed) & set(src.key):
                retyped = [f"ALTER TABLE {name} DROP COLUMN {quote_ident(c)}" for c in changed]
                statements = "; ".join([*retyped, *s.dst.add_columns_ddl(src, changed)])
                return (
                    f"{', '.join(changed)} of another type at the destination (changed at the "
                    f"source?): replace them there (their values there go, and come back with "
                    f"the next sync): {statements}; then {_REFILL}"
                )
    return SyncRefused.MISMATCH


def _mirrored_columns(s: SyncSession, table: str) -> str:
    """For a SQLite or D1 source into PostgreSQL: the copy's columns that are the
    translation's lower-case names of the source's (``namalengkap`` for ``namaLengkap``: a
    mirror `up` built), said as such; "" when there are none."""
    if s.dst.kind != "postgresql" or s.src.kind == "postgresql":
        return ""
    src, dst = s.src.describe(table), s.dst.describe(table)
    if src is None or dst is None:
        return ""
    extra = {c.translate(_ASCII_LOWER): c for c in dst.names if src.column(c) is None}
    found = [(c, extra.get(c.translate(_ASCII_LOWER))) for c in src.names if dst.column(c) is None]
    return "; ".join(f"{d} is the translation's name of {c}" for c, d in found if d is not None)


def _remade_key(s: SyncSession, table: str, name: str) -> str | None:
    """What to do when the source's key is no longer the key of the sync's copy (``nis``
    renamed ``nisn``, or another primary key): the copy is made again. Dropping the old key
    column, as the column hints said, fails in SQLite (a PRIMARY KEY column) and leaves a
    PostgreSQL copy without a key. None when the keys agree, or the copy is not the sync's
    (no state row: a table the destination's migrations made)."""
    src, dst = s.src.describe(table), s.dst.describe(table)
    if src is None or dst is None or not dst.key or set(dst.key) == set(src.key):
        return None
    if s.dst.read_state(table) is None:
        return None
    state = _at_dest(s, STATE_TABLE)
    return (
        f"the source's key of {table} is now ({', '.join(src.key)}), its copy's "
        f"({', '.join(dst.key)}): make the copy again, DROP TABLE {name}; DELETE FROM {state} "
        f"WHERE table_name = {sql_literal(table)}; then sync again (a full copy)"
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
    if not shape.key:
        problems.append(f"{t}: {_NO_KEY}")
        return
    mixed = s.src.mixed_key(shape)
    if mixed is not None:
        problems.append(f"{t}: {mixed}")
    if (stamp := own_stamp(s.src, shape)) is not None:
        problems.append(stamp)
    if s.dst.kind != "postgresql":  # a PostgreSQL source's "Nama" and nama: a traceback
        folded: dict[str, list[str]] = {}
        for name in (*shape.names, SYNCED_AT):
            folded.setdefault(name.translate(_ASCII_LOWER), []).append(name)
        problems.extend(
            f"{t}: columns {', '.join(g)}: {_COLUMN_CLASH}" for g in folded.values() if len(g) > 1
        )
    if s.dst.kind == "d1" and not exists and len(shape.columns) + 1 > D1_MAX_COLUMNS:
        # D1 refused the CREATE ("too many columns") after the plan said all was well.
        problems.append(
            f"{t}: {len(shape.columns)} columns, and the copy adds synced_at: {_D1_WIDE}"
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
    cur = shape.column(req.cursor)
    cursor = req.cursor if cur is not None and cur.kind in CURSOR_KINDS else None
    notes: list[str] = [_fires_note(s, t, fired)] if fired else []
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
    if req.full or state is None or not exists or running_full or stale:
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
        notes.append(f"no {req.cursor} column: chunks are compared by checksum")
    src_count, dst_count = (state.source_count, state.dest_count) if state else (None, None)
    if recount or mode == "full" or src_count is None or dst_count is None:
        counting = pool.submit(s.dst.count, t) if exists else None
        src_count = s.src.count(t)
        dst_count = counting.result() if counting is not None else 0
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
        )
    )


# -- run ----------------------------------------------------------------------------------------
