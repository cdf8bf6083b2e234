"""A copy with UNIQUE constraints besides its key (a mirror that `up` built: ``siswa.nis``,
``users.email``). School data moves unique values between rows: a student deleted and
registered again under a new id with the same nis, two students' nis swapped (a typo
corrected), an email moved from an old account to a new one. A chunk upserts its rows before
its deletes (a row re-parented away from a deleted one must move first), and an incremental
pass finds its deletes only after its copy, so such a chunk was refused, ``UNIQUE constraint
failed: siswa.nis`` (PostgreSQL: ``duplicate key value violates unique constraint``), and every
later sync stopped on the same chunk. A chunk the copy refuses so is written again in up to
three commits, each leaving the copy's constraints satisfied (:func:`resolve`):

1. the copy's rows holding a value the chunk brings whose key the source no longer has
   (deleted there): deleted (a delete held back for the copy's children of the row, synced
   later in the run, has the row's unique values parked meanwhile: :func:`_park_held`);
2. the chunk, with the source's rows of the other holders (the swapped student, the old
   account: read by key), a row taking a value another of them still holds written with that
   column parked (NULL, or a marker of its own);
3. the parked rows with their values.

The rows the third commit writes were counted by the second (each a real insert or update):
nothing is counted twice, and nothing deleted goes uncounted (a copy's ``UNIQUE ON CONFLICT
REPLACE`` deleted the holder silently; the sync's INSERT is ``OR ABORT``). A chunk with no such
conflict costs nothing: this is only the refused chunk's path."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, cast

from malnu_tui.engine.backends.sqlite_sql import quote_ident
from malnu_tui.engine.errors import MalnuError
from malnu_tui.engine.sync.copy_refused import UniqueRefused
from malnu_tui.engine.sync.model import ChunkCounts, Key, Row, TableShape
from malnu_tui.engine.sync.side import CatalogReads, Chunk, Side, SyncState

if TYPE_CHECKING:
    from malnu_tui.engine.sync.session import SyncSession

__all__ = ["present", "resolve"]

Write = Callable[[Chunk], ChunkCounts]

_PG_UNIQUE = (
    "SELECT array(SELECT a.attname::text FROM unnest(i.indkey) WITH ORDINALITY u(n, o) "
    "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = u.n ORDER BY u.o) "
    "FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n "
    "ON n.oid = c.relnamespace WHERE i.indisunique AND NOT i.indisprimary "
    "AND i.indexprs IS NULL AND n.nspname = %s AND c.relname = %s"
)
# One statement (D1 bills each request); an index on an expression has a NULL column name.
_SQLITE_UNIQUE = (
    "SELECT l.name, i.name FROM pragma_index_list(?) l JOIN pragma_index_info(l.name) i "
    "WHERE l.\"unique\" = 1 AND l.origin <> 'pk' ORDER BY l.seq, i.seqno"
)
_ROUNDS = 16  # holders of holders' values looked up at most so many times


def _standing(refused: MalnuError) -> MalnuError:
    """The refusal as raised when it stands: D1's with its row named."""
    return refused.named() if isinstance(refused, UniqueRefused) else refused


def _unique_sets(side: Side, shape: TableShape) -> list[tuple[int, ...]]:
    """The copy's UNIQUE column sets besides the key, as indices into ``shape``."""
    reads = cast(CatalogReads, side)
    if side.kind == "postgresql":
        found = [list(r[0]) for r in reads._rows(_PG_UNIQUE, (side.schema, shape.name))]  # type: ignore[attr-defined]
    else:
        by: dict[str, list[Any]] = {}
        for index, column in reads._rows(_SQLITE_UNIQUE, (shape.name,)):
            by.setdefault(str(index), []).append(column)
        found = list(by.values())
    names = [n.casefold() for n in shape.names]
    key = {k.casefold() for k in shape.key}
    out = []
    for cols in found:
        folded = [str(c).casefold() for c in cols if c is not None]
        if len(folded) == len(cols) and set(folded) <= set(names) and set(folded) != key:
            out.append(tuple(names.index(c) for c in folded))
    return out


def _converter(side: Side, shape: TableShape) -> Callable[[Row], tuple[Any, ...]]:
    """A row's values as ``side`` stores and compares them (the sync's own conversion)."""
    from malnu_tui.engine.sync.values import to_postgres, to_sqlite

    kinds = [c.kind for c in shape.columns]
    return to_postgres(kinds) if side.kind == "postgresql" else to_sqlite(kinds)  # type: ignore[return-value]


def _holders(
    side: Side, shape: TableShape, u: tuple[int, ...], rows: Sequence[Row]
) -> list[tuple[Key, tuple[Any, ...]]]:
    """The copy's rows holding one of ``rows``' values of the columns ``u``: (key, values)."""
    pg = side.kind == "postgresql"
    convert = _converter(side, shape)
    wanted = list(dict.fromkeys(tuple(convert(r)[i] for i in u) for r in rows))
    wanted = [w for w in wanted if None not in w]

    table = quote_ident(shape.name)
    if pg:
        table = f"{quote_ident(str(getattr(side, 'schema', '')))}.{table}"
    cols = [quote_ident(shape.names[i]) for i in u]
    select = ", ".join([*(quote_ident(k) for k in shape.key), *cols])
    lhs = cols[0] if len(u) == 1 else "(" + ", ".join(cols) + ")"
    one = "%s" if len(u) == 1 else "(" + ", ".join(["%s"] * len(u)) + ")"
    reads = cast(CatalogReads, side)
    width = len(shape.key)
    head = f"SELECT {select} FROM {table} WHERE {lhs} IN "
    if pg:
        step = 10_000 // len(u)
        parts = [wanted[at : at + step] for at in range(0, len(wanted), step)]
        queries = [
            (head + f"({', '.join([one] * len(p))})", [v for w in p for v in w]) for p in parts
        ]
    else:  # literals, as few statements as D1 takes (it bills each request; 100 parameters)
        from malnu_tui.engine.sync.side_d1 import split_values, tuple_literal

        tuples = [tuple_literal(w) for w in wanted]
        queries = [(q, []) for q in split_values(head + "(VALUES ", tuples, ")")] if tuples else []
    out = []
    for query, params in queries:
        for r in reads._rows(query, params):
            out.append((tuple(r[:width]), tuple(r[width:])))
    return out


def present(
    side: Side, shape: TableShape, u: tuple[int, ...], values: Sequence[tuple[Any, ...]]
) -> set[tuple[Any, ...]]:
    """Which of ``values`` (of the columns ``u``, as the source holds them) a row of ``side``
    holds: the parents a reference to a UNIQUE column names (``kelas.induk_kode``)."""
    width = len(shape.columns)
    rows = []
    for v in values:
        row: list[Any] = [None] * width
        for i, x in zip(u, v, strict=True):
            row[i] = x
        rows.append(tuple(row))
    convert = _converter(side, shape)
    found = {held for _, held in _holders(side, shape, u, rows)}
    return {
        v for v, r in zip(values, rows, strict=True) if tuple(convert(r)[i] for i in u) in found
    }


def _marker(shape: TableShape, dest: TableShape | None, i: int, key: Key) -> Any:
    """The value a parked row holds in column ``i`` meanwhile: NULL where the copy allows it,
    else a short text or a number of the sync's own, made from the row's key (so no two rows
    ever hold the same one, and a text column of a few characters takes it)."""
    column = shape.columns[i]
    there = dest.column(column.name) if dest is not None else None
    if there is not None and not there.notnull:
        return None
    if column.kind == "text":
        return "\x01" + ",".join(map(str, key))
    if column.kind == "int" and len(key) == 1 and type(key[0]) is int:
        return -(2**62) - key[0]
    raise LookupError(column.name)


def _park_held(
    s: SyncSession,
    shape: TableShape,
    dest: TableShape | None,
    gone: Sequence[Key],
    state: SyncState,
    write: Write,
) -> None:
    """Rows deleted at the source whose delete waits for the copy's children of them (a
    grade table synced later in the run: see :mod:`.references`): their unique values
    parked, so the chunk takes them; counted nowhere (their delete is, once settled)."""
    every = {i for u in _unique_sets(s.dst, shape) for i in u}
    left = s.dst.rows_for_keys(shape, list(gone))
    gone_keys = [tuple(r[i] for i in shape.key_index) for r in left]
    parked = [
        tuple(_marker(shape, dest, i, k) if i in every else v for i, v in enumerate(r))
        for k, r in zip(gone_keys, left, strict=True)
    ]
    if parked:
        write(Chunk(parked, state))


def resolve(
    s: SyncSession, shape: TableShape, chunk: Chunk, write: Write, refused: MalnuError
) -> ChunkCounts:
    """Write ``chunk``, which the copy refused on a UNIQUE value, as the module says; the
    refusal is raised again when no row of the copy holds a value the chunk brings (the
    source's own rows collide: a source without that constraint) or a row cannot be parked."""
    sets = _unique_sets(s.dst, shape)
    kidx = shape.key_index

    def key_of(r: Row) -> Key:
        return tuple(r[i] for i in kidx)

    rows: dict[Key, Row] = {key_of(r): r for r in chunk.rows}
    gone: list[Key] = []
    # Each row's values of each set, as the copy compares them (its own conversion).
    held: dict[tuple[int, tuple[Any, ...]], Key] = {}  # (set, values) → the copy's holder
    new = list(rows.values())
    for _ in range(_ROUNDS):
        if not new:
            break
        asked: set[Key] = set()
        for n, u in enumerate(sets):
            for k, values in _holders(s.dst, shape, u, new):
                held[(n, values)] = k
                if k not in rows and k not in gone:
                    asked.add(k)
        found = {key_of(r): r for r in s.src.rows_for_keys(shape, list(asked))} if asked else {}
        gone.extend(k for k in asked if k not in found)
        rows.update(found)
        new = list(found.values())
    convert = _converter(s.dst, shape)
    parked: dict[Key, set[int]] = {}  # a row taking a value another row of the chunk holds
    brought: set[tuple[int, tuple[Any, ...]]] = set()
    for k, r in rows.items():
        values = convert(r)
        for n, u in enumerate(sets):
            value = (n, tuple(values[i] for i in u))
            if value in brought and None not in value[1]:
                raise _standing(refused)  # two source rows hold it (a source without the rule)
            brought.add(value)
            holder = held.get(value)
            if holder is not None and holder != k and holder in rows:
                parked.setdefault(k, set()).update(u)
    if not gone and not parked:
        raise _standing(refused)
    dest = s.dst.describe(shape.name)
    state = chunk.state
    counts = ChunkCounts()
    try:
        first = [
            tuple(
                _marker(shape, dest, i, k) if i in parked.get(k, ()) else v for i, v in enumerate(r)
            )
            for k, r in rows.items()
        ]
        if gone:  # 1. deleted at the source
            counts = write(Chunk([], state, delete=gone))
            state = state.advanced(counts, 0, None)
            if counts.deleted < len(gone):  # held back: see below
                _park_held(s, shape, dest, gone, state, write)
        # 2. the chunk and the other holders, rows taking a held value parked
        done = write(replace(chunk, rows=first, state=state, delete=chunk.delete, data=None))
        if parked:  # 3. the parked rows' own values (counted in 2.)
            later = state.advanced(done, len(first), chunk.last_key)
            write(Chunk([rows[k] for k in parked], later, last_key=chunk.last_key))
    except MalnuError as again:
        if "foreign key" in str(again).lower():
            raise  # (write_chunk's hint names the table to sync)
        refused = _standing(refused)
        refused.hint = (
            f"the copy holds the value in another row, which the sync moves out of the way "
            f"in steps (its row deleted at the source, or its own value written first); a "
            f"step was refused: {again}"
        )
        raise refused from None
    except LookupError as column:  # no value of the sync's own fits the column
        refused = _standing(refused)
        refused.hint = (
            f"the copy holds the value in another row, and its column {column} (NOT NULL, of "
            "neither text nor integer) cannot hold a value of the sync's own meanwhile: "
            "allow NULL there, or write the move at the copy by hand, then sync again"
        )
        raise refused from None
    return ChunkCounts(
        counts.inserted + done.inserted,
        counts.updated + done.updated,
        counts.deleted + done.deleted,
    )
