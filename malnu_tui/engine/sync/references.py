"""A destination whose tables hold foreign keys between them (a mirror that `up` built from the
primary's migrations: kelas ← siswa ← nilai). The sync writes each table in chunks that commit
on their own, so the order of the tables, and of the deletes, matters there:

- the tables are synced parents first (:func:`parents_first`): a child's rows never arrive
  before the parent rows they refer to (in the source's alphabetical order, ``nilai`` came
  before ``siswa``, and the sync stopped on "violates foreign key constraint");
- a table others refer to has the deletes of a chunk that the destination refuses held back
  (:func:`write_chunk`): the chunk's upserts commit without them, and the table is settled
  once the tables after it are synced (:mod:`.run`), children first, when no row refers to
  the deleted ones any more (a class deleted at the source, or its key changed, while the
  copy's students still referred to it stopped the sync half-way);
- a table that refers to itself (``pegawai.atasan_id`` → ``pegawai.id``, a category tree) has
  the rows whose parent is not at the destination yet held back (:class:`.heldrows.HeldRows`) and
  written with the chunk that brings it: a parent in a later chunk than its child stopped
  the sync;
- tables that refer to each other (``guru`` ↔ ``kelas``) are synced with the cycle cut at one
  nullable key, written NULL where its parent is not there yet and set once it is
  (:mod:`.cycles`): one of them always came before the rows it refers to (they were refused).

The copy is never left with a row whose parent is missing: every commit satisfies the
destination's own foreign keys."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, cast

from malnu_tui.engine.errors import MalnuError
from malnu_tui.engine.sync.copy_refused import foreign_key_refusal, unique_refusal
from malnu_tui.engine.sync.cycles import ForeignKey, cut_cycle, null_absent
from malnu_tui.engine.sync.model import ChunkCounts, Key, Row, TablePlan, TableShape
from malnu_tui.engine.sync.pagesize import PageSizer, values_bytes
from malnu_tui.engine.sync.problems import table_key
from malnu_tui.engine.sync.side import CatalogReads, Chunk, Side
from malnu_tui.engine.sync.uniques import resolve

if TYPE_CHECKING:
    from malnu_tui.engine.sync.session import SyncSession

__all__ = ["parents_first", "references", "self_references", "write_chunk"]

_PG = (
    "SELECT c.relname, p.relname FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid "
    "JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_class p ON p.oid = k.confrelid "
    "JOIN pg_namespace pn ON pn.oid = p.relnamespace "
    "WHERE k.contype = 'f' AND n.nspname = %s AND pn.nspname = %s"
)
# One statement for every table (D1 bills each request): drizzle-kit reads D1's keys so too.
_SQLITE = (
    'SELECT m.name, f."table" FROM sqlite_master m JOIN pragma_foreign_key_list(m.name) f '
    "WHERE m.type = 'table'"
)

# A table's foreign keys to itself, with their columns (referring, referred) in order.
_PG_SELF = (
    "SELECT array(SELECT a.attname::text FROM unnest(k.conkey) WITH ORDINALITY u(n, i) "
    "JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.n ORDER BY u.i), "
    "array(SELECT a.attname::text FROM unnest(k.confkey) WITH ORDINALITY u(n, i) "
    "JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.n ORDER BY u.i) "
    "FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n "
    "ON n.oid = c.relnamespace WHERE k.contype = 'f' AND k.conrelid = k.confrelid "
    "AND n.nspname = %s AND c.relname = %s"
)
_SQLITE_SELF = 'SELECT id, "from", "to", "table" FROM pragma_foreign_key_list(?) ORDER BY id, seq'


def references(side: Side) -> list[tuple[str, str]]:
    """The foreign keys between ``side``'s tables, as (child, parent) names in the form
    :func:`.problems.table_key` gives them."""
    reads = cast(CatalogReads, side)
    if side.kind == "postgresql":
        schema = str(side.schema)  # type: ignore[attr-defined]
        rows = reads._rows(_PG, (schema, schema))
    else:
        rows = reads._rows(_SQLITE)
    return [(table_key(side, str(c)), table_key(side, str(p))) for c, p in rows]


def parents_first(
    side: Side, plans: Sequence[TablePlan], refs: Sequence[tuple[str, str]]
) -> tuple[list[TablePlan], list[ForeignKey]]:
    """``plans`` with every table after the tables its copy refers to (``refs``), in their
    order otherwise. Tables that refer to each other round a cycle (``guru.kelas_id`` →
    ``kelas``, ``kelas.wali_kelas_id`` → ``guru``) are ordered with the cycle cut at one
    nullable key (the second value: :func:`.cycles.cut_cycle`, which refuses a cycle it cannot
    cut), its table first: see :mod:`.cycles`."""
    parents: dict[str, set[str]] = {table_key(side, p.table): set() for p in plans}
    for child, parent in refs:
        if child != parent and child in parents and parent in parents:
            parents[child].add(parent)
    left, done, out = list(plans), set[str](), list[TablePlan]()
    cuts: list[ForeignKey] = []
    while left:
        at = next((i for i, p in enumerate(left) if parents[table_key(side, p.table)] <= done), -1)
        if at < 0:
            edge = cut_cycle(side, parents, done)
            parents[edge[0].child].discard(edge[0].parent)
            cuts += edge
            continue
        plan = left.pop(at)
        out.append(plan)
        done.add(table_key(side, plan.table))
    return out, cuts


def write_chunk(s: SyncSession, shape: TableShape, chunk: Chunk) -> ChunkCounts:
    """Write ``chunk`` at the destination. Of a table other tables there refer to, a chunk the
    destination refuses is written again without its deletes (a row still referred to by a
    child's copy, which the child's sync, later in the run, repoints or deletes); the table is
    then in ``s.held_back``, for the run to settle it after the others. A chunk refused without
    its deletes too is refused for its own reason: that error is raised, and when that reason
    is the copy's foreign key to a parent table, its hint says what to sync (it said to
    "correct the row at the source", where the row was right and its parent not synced)."""
    name = table_key(s.dst, shape.name)
    chunk = null_absent(s, shape, chunk)  # a table whose cycle is cut here: see .cycles

    def write(c: Chunk) -> ChunkCounts:
        if s.dst.kind == "d1" and _over(s, c.rows):
            return _in_pieces(s, shape, c, name)
        return _write(s, shape, c, name)

    try:
        try:
            return write(chunk)
        except MalnuError as exc:
            if chunk.direct or not chunk.rows or not unique_refusal(exc):
                raise
            return resolve(s, shape, chunk, write, exc)  # a unique value moved: see .uniques
    except MalnuError as exc:
        parents = sorted({*s.parents.get(name, ()), *({name} & s.self_referring)})
        if parents and foreign_key_refusal(exc):
            exc.hint = _parents_hint(shape.name, parents, s.planned)
        raise


def _over(s: SyncSession, rows: Sequence[Row]) -> bool:
    """More rows than a page (so a D1 batch) carries, or twice its bytes (a page is sized to
    them, by a sample): a chunk's page with the held-back rows it brings the parents of (a
    chain whose every parent comes later: the whole table)."""
    if len(rows) > s.batch_rows:
        return True
    sample = rows[:: max(1, len(rows) // 64)]
    most = 2 * _bytes(s) * len(sample)
    return len(rows) > 1 and sum(map(values_bytes, sample)) * len(rows) > most


def _bytes(s: SyncSession) -> int:
    """The bytes of values a page of the source holds (:class:`.pagesize.PageSizer`)."""
    return int(getattr(s.src, "answer_bytes", PageSizer.answer_bytes))


def _in_pieces(s: SyncSession, shape: TableShape, chunk: Chunk, name: str) -> ChunkCounts:
    """Into D1, a chunk over a batch's rows or bytes (:func:`_over`; it was one batch of the
    whole chain, past them and toward D1's 30 s a batch) in batches of at most as many, parents
    first, each committing its state with the key before the chunk's; the last has the
    chunk's deletes, keeping the rows before it (``kept``)."""
    rows, ring = _parents_first(chunk.rows, shape.key_index, self_references(s.dst, shape))
    pieces: list[list[Row]] = [[]]
    size, most = 0, _bytes(s)
    for r in rows[: len(rows) - ring]:
        n = values_bytes(r)
        if pieces[-1] and (len(pieces[-1]) == s.batch_rows or size + n > most):
            pieces.append([])
            size = 0
        pieces[-1].append(r)
        size += n
    pieces[-1] += rows[len(rows) - ring :]  # rows referring to each other in a ring: together
    state, counts = chunk.state, ChunkCounts()
    for piece in pieces[:-1]:
        done = _write(s, shape, Chunk(piece, state, direct=chunk.direct), name)
        state = state.advanced(done, len(piece), None)
        counts = _plus(counts, done)
    kept = [tuple(r[i] for i in shape.key_index) for p in pieces[:-1] for r in p]
    last = replace(chunk, rows=pieces[-1], state=state, kept=kept)
    return _plus(counts, _write(s, shape, last, name))


def _plus(a: ChunkCounts, b: ChunkCounts) -> ChunkCounts:
    return ChunkCounts(a.inserted + b.inserted, a.updated + b.updated, a.deleted + b.deleted)


def _parents_first(
    rows: Sequence[Row],
    kidx: Sequence[int],
    refs: Sequence[tuple[tuple[int, ...], tuple[int, ...]]],
) -> tuple[list[Row], int]:
    """``rows`` with each row after its parent among them (and after an earlier row of its own
    key), else in their order; rows that refer to each other in a ring come last, together
    (how many: the second value)."""
    at: dict[Key, int] = {}  # a key's first row
    last: dict[Key, int] = {}  # and its latest, which a later one of the key follows
    after: dict[int, list[int]] = {}
    waits = [0] * len(rows)
    for n, r in enumerate(rows):
        k = tuple(r[i] for i in kidx)
        if k in last:
            after.setdefault(last[k], []).append(n)
            waits[n] += 1
        at.setdefault(k, n)
        last[k] = n
    firsts: dict[tuple[int, ...], dict[Key, int]] = {tuple(kidx): at}  # a row by what it is
    for _, to in refs:  # referred to by (its key, or a UNIQUE column)
        if to not in firsts:
            firsts[to] = {}
            for n, r in enumerate(rows):
                firsts[to].setdefault(tuple(r[i] for i in to), n)
    for n, r in enumerate(rows):
        for idx, to in refs:
            m = firsts[to].get(tuple(r[i] for i in idx))
            if m is not None and m != n:
                after.setdefault(m, []).append(n)
                waits[n] += 1
    ready = deque(n for n in range(len(rows)) if not waits[n])
    order: list[int] = []
    while ready:
        n = ready.popleft()
        order.append(n)
        for c in after.get(n, ()):
            waits[c] -= 1
            if not waits[c]:
                ready.append(c)
    ring = [n for n in range(len(rows)) if waits[n]]
    return [rows[n] for n in [*order, *ring]], len(ring)


def _parents_hint(table: str, parents: list[str], planned: set[str]) -> str:
    missing = [p for p in parents if p not in planned]
    if missing:
        return (
            f"{table}'s copy refers to {', '.join(missing)} (a foreign key of the copy's): "
            f"sync {'them' if len(missing) > 1 else 'it'} in the same run, which puts parents "
            f"first (--tables {','.join([*missing, table])}), then the rows arrive whole"
        )
    return (
        f"the row refers to a {' or '.join(parents)} row that the source does not have either "
        "(a source whose foreign keys are not enforced keeps such rows: PRAGMA "
        "foreign_key_check lists them there): correct it at the source, then sync again"
    )


def _write(s: SyncSession, shape: TableShape, chunk: Chunk, name: str) -> ChunkCounts:
    if name not in s.referenced or not (chunk.bounds or chunk.delete):
        return s.dst.write_chunk(shape, chunk)
    try:
        return s.dst.write_chunk(shape, chunk)
    except MalnuError as refused:
        try:
            counts = s.dst.write_chunk(shape, replace(chunk, bounds=None, delete=()))
        except MalnuError:
            raise refused from None
        s.held_back.setdefault(shape.name, []).append((chunk.bounds, tuple(chunk.delete)))
        return counts


def self_references(side: Side, shape: TableShape) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """``side``'s foreign keys from ``shape``'s table to itself, each as the indices in
    ``shape`` of the referring columns and of the referred ones (the key, in its order, or a
    UNIQUE column set besides it: ``kelas.induk_kode`` → ``kelas.kode``)."""
    reads = cast(CatalogReads, side)
    fold = str.casefold
    if side.kind == "postgresql":
        schema = str(side.schema)  # type: ignore[attr-defined]
        found = [(list(a), list(b)) for a, b in reads._rows(_PG_SELF, (schema, shape.name))]
    else:
        by_id: dict[int, tuple[list[str], list[str]]] = {}
        for fk, child, parent, table in reads._rows(_SQLITE_SELF, (shape.name,)):
            if fold(str(table)) == fold(shape.name):
                froms, tos = by_id.setdefault(int(fk), ([], []))
                froms.append(str(child))
                tos.append(str(parent) if parent is not None else "")
        found = [(froms, tos if all(tos) else list(shape.key)) for froms, tos in by_id.values()]
    names = [fold(n) for n in shape.names]
    out = []
    for froms, tos in found:
        to_from = {fold(t): fold(f) for f, t in zip(froms, tos, strict=False)}
        if not set(to_from) | set(to_from.values()) <= set(names):
            continue
        order = (
            [fold(k) for k in shape.key]
            if set(to_from) == set(map(fold, shape.key))
            else [*to_from]
        )
        out.append(
            (tuple(names.index(to_from[t]) for t in order), tuple(names.index(t) for t in order))
        )
    return out
