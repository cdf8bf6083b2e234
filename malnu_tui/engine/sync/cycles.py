"""Tables whose copies refer to each other round a cycle (a school's ``guru.kelas_id`` → kelas
and ``kelas.wali_kelas_id`` → guru: the homeroom teacher). Each chunk commits on its own, so
one of them always comes before the rows it refers to: the sync refused such a pair, and an
operator with that schema could not sync at all. Now the cycle is cut at one foreign key whose
columns may be NULL at the copy (:func:`cut_cycle`: of the keys round the cycle, the first by
its table's name, then its parent's), in two passes within the one run:

- pass one: the cut key's table is synced first; a row whose parent is not in the copy yet is
  written with the key's columns NULL (:func:`null_absent`), the others as they are;
- pass two, once the tables after it are synced (:func:`.run._settle`): those rows are written
  again from the source (:func:`complete`) and compared. Each is counted once: a new class's
  new teacher says ``inserted 1``, not ``inserted 1, updated 1``; a teacher whose class alone
  changed, to a new one, ``updated 1`` (by pass two: pass one wrote the row as it was).

Every commit satisfies the copy's foreign keys. A sync killed between the passes leaves its
table's state row unverified (pass one's comparison found the NULLs): the next sync compares
that table whole once its parents are there (:func:`before_run`), and repairs it. A cycle whose
every key is NOT NULL (or refers to other columns than its parent's key) is still refused
before anything is written, exit 2."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from itertools import pairwise
from typing import TYPE_CHECKING, cast

from malnu_tui.engine.errors import ConfigError
from malnu_tui.engine.sync.model import ChunkCounts, Key, Row, TableShape
from malnu_tui.engine.sync.problems import table_key
from malnu_tui.engine.sync.side import Bounds, CatalogReads, Chunk, Side, SyncState
from malnu_tui.engine.sync.values import row_hasher

if TYPE_CHECKING:
    from malnu_tui.engine.sync.session import SyncSession

__all__ = ["ForeignKey", "before_run", "complete", "cut_cycle", "null_absent"]

# The copy's foreign keys between tables: child, parent, referring and referred columns in
# order, whether every referring column may be NULL, whether the referred ones are the
# parent's primary key. Asked only once a cycle is found.
_PG = (
    "SELECT c.relname, p.relname, "
    "array(SELECT a.attname::text FROM unnest(k.conkey) WITH ORDINALITY u(n, i) "
    "JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.n ORDER BY u.i), "
    "array(SELECT a.attname::text FROM unnest(k.confkey) WITH ORDINALITY u(n, i) "
    "JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.n ORDER BY u.i), "
    "NOT EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = k.conrelid "
    "AND a.attnum = ANY (k.conkey) AND a.attnotnull), "
    "EXISTS (SELECT FROM pg_constraint pk WHERE pk.conrelid = k.confrelid AND pk.contype = 'p' "
    "AND pk.conkey @> k.confkey AND pk.conkey <@ k.confkey) "
    "FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid "
    "JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_class p ON p.oid = k.confrelid "
    "JOIN pg_namespace pn ON pn.oid = p.relnamespace "
    "WHERE k.contype = 'f' AND n.nspname = %s AND pn.nspname = %s ORDER BY k.conname"
)
_SQLITE = (
    'SELECT m.name, f."table", f.id, f."from", f."to", i."notnull" OR i.pk > 0 '
    "FROM sqlite_master m JOIN pragma_foreign_key_list(m.name) f "
    'JOIN pragma_table_info(m.name) i ON i.name = f."from" COLLATE NOCASE '
    "WHERE m.type = 'table' ORDER BY m.name, f.id, f.seq"
)
_SQLITE_PK = (
    "SELECT m.name, i.name FROM sqlite_master m JOIN pragma_table_info(m.name) i "
    "WHERE m.type = 'table' AND i.pk > 0 ORDER BY m.name, i.pk"
)


@dataclass(frozen=True)
class ForeignKey:
    """One foreign key of the copy, between two of its tables (names in table_key's form)."""

    child: str
    parent: str
    columns: tuple[str, ...]
    refers_to: tuple[str, ...]  # empty: the parent's key, in its order
    nullable: bool  # every referring column may hold NULL
    keyed: bool  # it refers to the parent's primary key (what a lookup by key can check)


def _foreign_keys(side: Side) -> list[ForeignKey]:
    reads = cast(CatalogReads, side)
    if side.kind == "postgresql":
        schema = str(side.schema)  # type: ignore[attr-defined]
        return [
            ForeignKey(
                table_key(side, str(c)),
                table_key(side, str(p)),
                tuple(a),
                tuple(b),
                bool(n),
                bool(k),
            )
            for c, p, a, b, n, k in reads._rows(_PG, (schema, schema))
        ]
    pk: dict[str, set[str]] = {}
    for t, col in reads._rows(_SQLITE_PK):
        pk.setdefault(table_key(side, str(t)), set()).add(str(col).casefold())
    found: dict[tuple[str, int], list[tuple[str, str, str | None, bool]]] = {}
    for child, parent, fk, col, to, notnull in reads._rows(_SQLITE):
        c, p = table_key(side, str(child)), table_key(side, str(parent))
        found.setdefault((c, int(fk)), []).append((p, str(col), to, bool(notnull)))
    out = []
    for (child, _id), cols in found.items():
        parent = cols[0][0]
        tos = tuple(str(to) for _p, _c, to, _n in cols if to is not None)
        refers = tos if len(tos) == len(cols) else ()
        keyed = not refers or {t.casefold() for t in refers} == pk.get(parent, set())
        out.append(
            ForeignKey(
                child,
                parent,
                tuple(c for _p, c, _t, _n in cols),
                refers,
                not any(n for *_x, n in cols),
                keyed,
            )
        )
    return out


def cut_cycle(side: Side, parents: dict[str, set[str]], done: set[str]) -> list[ForeignKey]:
    """The foreign keys to leave NULL in pass one, so that ``parents`` (table → the tables its
    copy refers to; the tables in ``done`` already ordered) loses one cycle: of the tables round
    one cycle, the first by name (then its parent's name) whose keys to the next are all
    nullable and refer to its key: ``guru`` ↔ ``kelas`` is cut at ``guru.kelas_id``. None such:
    refused (exit 2) before anything is written."""
    path = [min(t for t in parents if t not in done)]
    while path[-1] not in path[:-1]:
        path.append(min(parents[path[-1]] - done))
    ring = path[path.index(path[-1]) :]
    keys = _foreign_keys(side)
    for child, parent in sorted(pairwise(ring)):
        edge = [k for k in keys if (k.child, k.parent) == (child, parent)]
        if edge and all(k.nullable and k.keyed for k in edge):
            return edge
    tables = sorted(set(ring))
    raise ConfigError(
        f"the copy's tables {' and '.join(tables)} refer to each other by foreign keys "
        f"({' → '.join(ring)}), and no column of those keys may be NULL at the copy: a first "
        "pass writes one of them NULL until the table it refers to is there; nothing was written",
        hint=f"let one key's columns be NULL at the copy ({ring[0]}'s to {ring[1]}: PostgreSQL "
        "ALTER TABLE … ALTER COLUMN … DROP NOT NULL, SQLite and D1 the table made again), "
        f"or drop one of these foreign keys, or leave {' and '.join(tables)} out of the run "
        "(--tables)",
    )


def _parent_keys(shape: TableShape, fk: ForeignKey, parent: TableShape) -> tuple[int, ...] | None:
    """The indices in ``shape`` of ``fk``'s columns, in the order of ``parent``'s key (None: a
    column the source's table lacks)."""
    names = [n.casefold() for n in shape.names]
    to = [t.casefold() for t in fk.refers_to] or [k.casefold() for k in parent.key]
    by = {t: f.casefold() for f, t in zip(fk.columns, to, strict=False)}
    try:
        return tuple(names.index(by[k.casefold()]) for k in parent.key)
    except (KeyError, ValueError):
        return None


def null_absent(s: SyncSession, shape: TableShape, chunk: Chunk) -> Chunk:
    """Pass one: ``chunk`` with the cut keys' columns NULL in the rows whose parent is not in
    the copy yet. Their keys are kept in ``s.nulled`` for pass two, each with whether pass one
    counts it: a row the copy has already, whose only change is that column, is not (pass one
    writes it as it is there), and pass two counts it as updated."""
    cuts = s.cuts.get(shape.name)
    if not cuts or not chunk.rows:
        return chunk
    rows: list[Row] = list(chunk.rows)
    kidx = shape.key_index
    nulled: dict[Key, Row] = {}
    for fk, parent in cuts:
        idx = _parent_keys(shape, fk, parent)
        if idx is None:
            continue
        wanted = {p for r in rows if None not in (p := tuple(r[i] for i in idx))}
        found = s.dst.rows_for_keys(parent, list(wanted)) if wanted else []
        there = {tuple(r[i] for i in parent.key_index) for r in found}
        for n, r in enumerate(rows):
            p = tuple(r[i] for i in idx)
            if None not in p and p not in there:
                rows[n] = tuple(None if i in idx else v for i, v in enumerate(r))
                nulled[tuple(r[i] for i in kidx)] = rows[n]
    if not nulled:
        return chunk
    hasher = row_hasher([c.kind for c in shape.columns])
    keys = list(nulled)
    same = {
        k
        for r in s.dst.rows_for_keys(shape, keys)
        if (k := tuple(r[i] for i in kidx)) in nulled and hasher(nulled[k]) == hasher(r)
    }
    counted = s.nulled.setdefault(shape.name, {})
    for k in keys:
        counted.setdefault(k, k not in same)  # (as the run first wrote it)
    return replace(chunk, rows=rows, data=None)  # (a fast path's COPY text: of the rows as read)


def complete(
    s: SyncSession, shape: TableShape, state: SyncState, write: Callable[..., object]
) -> tuple[SyncState, list[tuple[Bounds | None, tuple[Key, ...]]]]:
    """Pass two: the rows pass one wrote with a cut key NULL, written again from the source now
    that their parents are synced (by ``write``, :func:`.references.write_chunk`, a chunk's
    worth at a time: ``s.batch_rows``), and what the table's settling compares,
    ``[(None, keys)]``. Counted once: a row pass one counted (new, or changed in other columns
    too) is not counted again; the others as updated."""
    counted = s.nulled.pop(shape.name, {})
    if not counted:
        return state, []
    keys, kidx = list(counted), shape.key_index
    # A chunk's worth at a time: a first copy nulls every row whose class is not there yet,
    # and all of them were read into memory and written as one chunk.
    for at in range(0, len(keys), s.batch_rows):
        rows = s.src.rows_for_keys(shape, keys[at : at + s.batch_rows])
        if rows:
            write(s, shape, Chunk(rows, state))
            more = sum(1 for r in rows if not counted[tuple(r[i] for i in kidx)])
            state = state.advanced(ChunkCounts(updated=more), 0, None)
    return state, [(None, tuple(keys))]


def before_run(s: SyncSession, tables: Sequence[str]) -> None:
    """Under the lock, before the run's tables are synced: each table cut in pass one
    (``s.cuts``) is settled after the others (its audit row too: :func:`.run._settle`), and
    compared whole there when its last sync ended unverified (``s.recheck``: killed between
    the passes, pass one's NULLs were left; any other difference is repaired with them)."""
    s.nulled, s.recheck = {}, set()  # (a session's earlier run, stopped: its own)
    for table in tables:
        if table in s.cuts:
            s.held_back.setdefault(table, [])
            state = s.dst.read_state(table)
            if state is not None and state.status != "running" and not state.verified:
                s.recheck.add(table)
