"""The destination's names for a sync's tables and columns, found the way SQLite names them.

SQLite's (and D1's) names ignore case, and the translation folds them to lower case in the
PostgreSQL mirror `up` builds (``"User"("Email")`` → ``"user"(email)``, ``[Album]`` →
``album``). A copy found by the source's exact name only was refused there (``Album: the
destination has album, not "Album"``), for every Prisma-on-D1 ``"User"`` and ``"createdAt"``.
Here each name is the destination's: the exact one first; else the one name there equal to it
in lower case (two such: refused, naming both); else, for a copy the sync makes in PostgreSQL
from SQLite or D1, the translation's lower-case name, so that a later `up` of the same
migrations finds it. A SQLite or D1 destination finds its tables in any case itself; its
columns are matched so too (a PostgreSQL source's ``email`` is a SQLite copy's ``Email``).

:class:`DestNames` wraps the destination's side: the sync speaks the source's names to it, and
it speaks the destination's to the database (shapes, table names, the state rows), and gives
the source's names back (``describe``, ``tables``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from malnu_tui.engine.sync.model import SYNCED_AT, ChunkCounts, Row, TableShape
from malnu_tui.engine.sync.side import Bounds, Chunk, Fingerprint, Side, SyncState

if TYPE_CHECKING:
    from malnu_tui.engine.backends.base import Backend

__all__ = ["DestNames", "dest_table", "fold", "inner", "renamed_note"]

# The PostgreSQL side's own methods that take a table's name or shape (the others, its
# catalog reads among them, are the side's as they are).
_SPEAKING = frozenset(
    {
        "add_key",
        "copy_bytes",
        "copy_digest",
        "count_fresh_keys",
        "fresh_keys",
        "key_fingerprint_before",
        "missing_grants",
        "prove_writes",
        "settle_sequences",
        "stamps_by_default",
        "written_digest",
    }
)


def fold(name: str) -> str:
    """A name as the translation spells it in PostgreSQL (``translate.common.pg_name``)."""
    return name.lower()


def inner(side: Side) -> Side:
    """The side a :class:`DestNames` wraps (``side`` itself otherwise)."""
    return side._side if isinstance(side, DestNames) else side


def dest_table(side: Side, table: str) -> str:
    """The destination's name of the source's ``table`` at ``side``."""
    return side.table(table) if isinstance(side, DestNames) else table


def renamed_note(side: DestNames, t: str) -> str | None:
    """The plan's note for a table whose copy, or some of its columns, the destination names
    otherwise (``Album → album (as the translation names it)``); None when none is."""
    name, cols = side.table(t), side.renamed_columns(t)
    if name == t and not cols:
        return None
    said = f"{t} → {name}" if name != t else f"{t}'s columns"
    renamed = ", ".join(f"{c} → {d}" for c, d in cols)
    columns = f"; {renamed}" if name != t and cols else f" {renamed}" if cols else ""
    why = (
        f"as the translation names {'it' if name != t else 'them'}"
        if side.kind == "postgresql"
        else "the copy's: SQLite's names ignore case"
    )
    return f"{said}{columns} ({why})"


class DestNames:
    """The destination's side, speaking the destination's names (see the module)."""

    def __init__(self, side: Side, src: Side) -> None:
        self._side, self._src = side, src
        self.kind, self.label = side.kind, side.label
        # A copy the sync makes in PostgreSQL from SQLite or D1 takes the translation's names;
        # any other pair but PostgreSQL's finds names in any case. A SQLite or D1 copy's state
        # row keeps the source's name, as before (the same table there).
        self._tables_fold = side.kind == "postgresql" and src.kind != "postgresql"
        self._any_case = not (side.kind == src.kind == "postgresql")
        self.forget()

    def forget(self) -> None:
        """Read the destination's names again (a plan made again, a copy created)."""
        self._there: list[str] | None = None
        self._tables: dict[str, str] = {}
        self._columns: dict[str, dict[str, str]] = {}
        self._source_names: dict[str, tuple[str, ...]] = {}
        self._back: dict[str, str] | None = None
        self._src_tables: list[str] | None = None
        self.ambiguous: dict[str, str] = {}  # problem by source table (refused by the plan)

    def again(self, side: Side) -> DestNames:
        """Another connection to the destination (a verifier's), speaking the same names."""
        other = DestNames(side, self._src)
        other._there, other._tables, other._columns = self._there, self._tables, self._columns
        other._source_names, other._src_tables = self._source_names, self._src_tables
        return other

    # -- the names -------------------------------------------------------------------------

    def _sources(self) -> list[str]:
        if self._src_tables is None:
            self._src_tables = self._src.tables()
        return self._src_tables

    def _present(self) -> list[str]:
        if self._there is None:
            self._there = self._side.tables()
        return self._there

    def table(self, t: str) -> str:
        """The destination's name of the source's table ``t``."""
        if not self._any_case:
            return t
        found = self._tables.get(t)
        if found is None:
            found = self._tables[t] = self._find(t, self._present(), t)
        return found

    def _find(self, name: str, there: Sequence[str], table: str, what: str = "table") -> str:
        if name in there:
            return name
        same = sorted(d for d in there if fold(d) == fold(name))
        if len(same) > 1:
            self.ambiguous.setdefault(
                table,
                f"{table}: the destination has {what}s {', '.join(same)}, each "
                f"{fold(name)} as the translation names {name}: which one is the copy's is "
                "not clear",
            )
            return name
        return same[0] if same else fold(name) if self._tables_fold else name

    def columns(self, t: str, names: Sequence[str]) -> dict[str, str]:
        """The destination's names of the source's columns ``names`` of table ``t``."""
        if not self._any_case:
            return {}
        known = self._columns.setdefault(t, {})
        missing = [c for c in names if c not in known]
        if missing:
            shape = self._side.describe(self.table(t))
            there = (*shape.names, SYNCED_AT) if shape is not None else ()
            for c in missing:
                if shape is None:
                    known[c] = fold(c) if self._tables_fold else c
                else:
                    known[c] = self._find(c, there, t, "column")
        return known

    def _source_columns(self, t: str) -> tuple[str, ...]:
        if t not in self._source_names:
            shape = self._src.describe(t) if t in self._sources() else None
            self._source_names[t] = shape.names if shape is not None else ()
        return self._source_names[t]

    def dest_shape(self, shape: TableShape) -> TableShape:
        """``shape`` (the source's names) with the destination's."""
        name = self.table(shape.name)
        cols = self.columns(shape.name, (*shape.names, *shape.generated))
        if name == shape.name and all(k == v for k, v in cols.items()):
            return shape

        def n(c: str) -> str:
            return cols.get(c, c)

        return replace(
            shape,
            name=name,
            columns=tuple(replace(c, name=n(c.name)) for c in shape.columns),
            key=tuple(map(n, shape.key)),
            generated=tuple(map(n, shape.generated)),
            nullable_key=tuple(map(n, shape.nullable_key)),
        )

    def state_name(self, table: str) -> str:
        """The name of the source's ``table``'s ``malnu_sync`` row here."""
        return self.table(table) if self._tables_fold else table

    def _state(self, state: SyncState) -> SyncState:
        name = self.state_name(state.table_name)
        return state if name == state.table_name else replace(state, table_name=name)

    def source_name(self, name: str) -> str:
        """The source's name of the destination's table ``name`` (the catalog's foreign keys
        read in the sync's names); ``name`` itself when no source table is copied there."""
        if not self._tables_fold:
            return name
        if self._back is None:
            self._back = {self.table(t): t for t in self._sources()}
        return self._back.get(name, name)

    def renamed_columns(self, t: str) -> list[tuple[str, str]]:
        """The source's columns of ``t`` whose copy's have another name, and that name."""
        return [(c, d) for c, d in self.columns(t, self._source_columns(t)).items() if c != d]

    # -- Side ------------------------------------------------------------------------------

    @property
    def backend(self) -> Backend:
        return self._side.backend

    def tables(self) -> list[str]:
        there = self._present()
        if not self._tables_fold:
            return list(there)
        ours = {self.table(t): t for t in self._sources()}
        return [ours.get(d, d) for d in there]

    def triggers(self, table: str) -> list[str]:
        return self._side.triggers(self.table(table))

    def describe(self, table: str) -> TableShape | None:
        shape = self._side.describe(self.table(table))
        if shape is None or not self._any_case:
            return shape if shape is None or shape.name == table else replace(shape, name=table)
        back = {d: c for c, d in self.columns(table, self._source_columns(table)).items()}

        def n(c: str) -> str:
            return back.get(c, c)

        return replace(
            shape,
            name=table,
            columns=tuple(replace(c, name=n(c.name)) for c in shape.columns),
            key=tuple(map(n, shape.key)),
            generated=tuple(map(n, shape.generated)),
            after_stamp=tuple(map(n, shape.after_stamp)),
            nullable_key=tuple(map(n, shape.nullable_key)),
        )

    def create_ddl(self, source: TableShape) -> str:
        return self._side.create_ddl(self.dest_shape(source))

    def create_table(self, source: TableShape, **kw: Any) -> None:
        self._side.create_table(self.dest_shape(source), **kw)  # type: ignore[call-arg]
        self._there = self._back = None

    def add_columns_ddl(self, source: TableShape, names: Sequence[str]) -> list[str]:
        cols = self.columns(source.name, names)
        return self._side.add_columns_ddl(self.dest_shape(source), [cols.get(c, c) for c in names])

    def drop_empty_copy(self, table: str) -> bool:
        done = self._side.drop_empty_copy(self.table(table))
        self._there = self._back = None
        return done

    def count(self, table: str) -> int:
        return self._side.count(self.table(table))

    def greatest(self, table: str, column: str, kind: str = "ts") -> object:
        col = self.columns(table, [column]).get(column, column)
        return self._side.greatest(self.table(table), col, kind)

    def mixed_key(self, shape: TableShape) -> str | None:
        return self._side.mixed_key(self.dest_shape(shape))

    def pages(
        self,
        shape: TableShape,
        *,
        after: Any = None,
        page_rows: int,
        cursor: str | None = None,
        since: str | None = None,
        upto: Any = None,
    ) -> Iterator[list[Row]]:
        if cursor is not None:
            cursor = self.columns(shape.name, [cursor]).get(cursor, cursor)
        return self._side.pages(
            self.dest_shape(shape),
            after=after,
            page_rows=page_rows,
            cursor=cursor,
            since=since,
            upto=upto,
        )

    def server_hashing(self, shape: TableShape) -> bool:
        return self._side.server_hashing(self.dest_shape(shape))

    def range_digest(self, shape: TableShape, bounds: Bounds) -> tuple[int, int]:
        return self._side.range_digest(self.dest_shape(shape), bounds)

    def range_hashes(self, shape: TableShape, bounds: Bounds) -> list[tuple[Any, int]]:
        return self._side.range_hashes(self.dest_shape(shape), bounds)

    def range_rows(self, shape: TableShape, bounds: Bounds) -> Iterator[list[Row]]:
        return self._side.range_rows(self.dest_shape(shape), bounds)

    def rows_for_keys(self, shape: TableShape, keys: Sequence[Any]) -> list[Row]:
        return self._side.rows_for_keys(self.dest_shape(shape), keys)

    def keys_digest(self, shape: TableShape, keys: Sequence[Any]) -> tuple[int, int]:
        return self._side.keys_digest(self.dest_shape(shape), keys)

    def key_span(self, shape: TableShape) -> tuple[Any, Any] | None:
        return self._side.key_span(self.dest_shape(shape))

    def bucket_digests(
        self, shape: TableShape, base: int, width: int, buckets: int
    ) -> tuple[int, dict[int, tuple[int, int, int, int]]]:
        return self._side.bucket_digests(self.dest_shape(shape), base, width, buckets)

    def key_fingerprint(self, shape: TableShape) -> Fingerprint | None:
        return self._side.key_fingerprint(self.dest_shape(shape))

    def write_chunk(self, shape: TableShape, chunk: Chunk) -> ChunkCounts:
        chunk = replace(chunk, state=self._state(chunk.state))
        return self._side.write_chunk(self.dest_shape(shape), chunk)

    def read_state(self, table: str) -> SyncState | None:
        state = self._side.read_state(self.state_name(table))
        return state if state is None else replace(state, table_name=table)

    def all_states(self) -> list[SyncState]:
        return self._side.all_states()

    def write_state(self, state: SyncState) -> None:
        self._side.write_state(self._state(state))

    # -- the PostgreSQL side's own (fast copies, grants, sequences) -------------------------

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._side, name)
        return self._speaking(value) if name in _SPEAKING else value

    def _speaking(self, method: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kw: Any) -> Any:
            return method(*(self._arg(a) for a in args), **kw)

        return call

    def _arg(self, a: Any) -> Any:
        if isinstance(a, TableShape):
            return self.dest_shape(a)
        if isinstance(a, SyncState):
            return self._state(a)
        if isinstance(a, str):  # a table's name (prove_writes, stamps_by_default…)
            return self.table(a)
        if isinstance(a, list) and a and all(isinstance(x, str) for x in a):
            return [self.table(x) for x in a]  # tables (missing_grants)
        return a

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_") or name in ("kind", "label", "ambiguous"):
            object.__setattr__(self, name, value)
        else:  # the side's own (D1's ``related``)
            setattr(self._side, name, value)
