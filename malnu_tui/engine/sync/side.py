"""The one small interface each kind of database implements for the sync (the dbmate shape):
keyset-paginated reads, range checksums, chunk writes as one unit, and the ``malnu_sync``
state table. Ranges are ``(lo, hi]`` in key order; ``None`` is unbounded."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from malnu_tui.engine.backends.base import Backend, Kind, utc_now
from malnu_tui.engine.sync.model import ChunkCounts, Key, Row, TableShape

__all__ = [
    "FINGERPRINT_ROWS",
    "FINGERPRINT_SPAN",
    "RESIDUE",
    "STATE_TABLE",
    "Bounds",
    "CatalogReads",
    "Chunk",
    "Fingerprint",
    "Side",
    "SyncState",
    "add_fingerprints",
    "columns_since",
    "columns_text",
    "decode_key",
    "encode_key",
    "fingerprint_sql",
    "fingerprint_terms",
    "key_fingerprint",
    "no_fingerprint",
    "same_fingerprint",
    "state_select",
    "state_upgrade",
]

STATE_TABLE = "malnu_sync"
RESIDUE = 1_048_573  # a prime: a bucket's keys are summed modulo it (no sum can overflow)
Bounds = tuple[Key | None, Key | None]

# A whole table's key fingerprint (an incremental sync's first check for deleted and lost rows):
# the row count, the sum of the keys, and the sum of s(k) = (x² rem Q) & 0x55555555 where
# x = (k rem P) · A rem P (primes P, Q < 2**31, a multiplier 0 < A < P; rem: SQL's %, with the
# sign of k). The key sum changes with any one key swapped for another (closer than 2**52). s is
# not linear, and not a polynomial either (the mask drops every other bit of a scrambled
# square), so keys moved by +d and −d, or swapped for a set with the same sum and the same sums
# of powers (1, 5, 6 for 2, 3, 7), do not cancel in it but by chance (no cancellation in 400,000
# such patterns tried; the square alone cancelled in half of the second kind). Each term is
# below 2**31 and each product below 2**62, so SQLite and PostgreSQL compute the same integers
# (a key sum beyond 64 bits makes SQLite fail: the key ranges are compared instead).
_SQUARED = (2_147_483_549, 1_291_469_057, 2_147_483_629)  # P, A, Q
_MASK = 0x55555555
FINGERPRINT_SPAN = 2**52  # keys spread wider: no fingerprint
FINGERPRINT_ROWS = 2**32  # below it no sum of terms under 2**31 can overflow 64 bits
# The sums are reported modulo 2**52, so that D1's JSON (JavaScript numbers) carries them
# exactly; two sums that differ by less than 2**52 still differ.
_MOD = 2**52
Fingerprint = tuple[int, tuple[int, ...]]  # (rows, the sums)


def fingerprint_terms(k: str) -> list[str]:
    """The per-key terms of the key fingerprint of integer key expression ``k``, as SQL both
    dialects compute identically (no literal needs a parameter)."""
    p, a, q = _SQUARED
    x = f"({k} % {p} * {a} % {p})"  # negative for a negative key: the same square
    return [k, f"(({x} * {x} % {q}) & {_MASK})"]


def fingerprint_sql(k: str) -> str:
    """``count(*)`` and the sums of the key fingerprint of ``k`` (see
    :func:`fingerprint_terms`), each reported modulo 2**52 (the sign of SQL's ``%``)."""
    return "count(*), " + ", ".join(f"sum({t}) % {_MOD}" for t in fingerprint_terms(k))


def no_fingerprint() -> Fingerprint:
    """The fingerprint of no key at all."""
    return 0, (0, 0)


def same_fingerprint(a: Fingerprint, b: Fingerprint) -> bool:
    """Whether two fingerprints are equal (sums compared modulo 2**52, whatever their sign)."""
    return a[0] == b[0] and all((x - y) % _MOD == 0 for x, y in zip(a[1], b[1], strict=True))


def add_fingerprints(a: Fingerprint, b: Fingerprint) -> Fingerprint:
    """The fingerprint of the union of two disjoint key sets."""
    return a[0] + b[0], tuple((x + y) % _MOD for x, y in zip(a[1], b[1], strict=True))


def _rem(a: int, p: int) -> int:
    """SQL's ``a % p`` (the sign of ``a``), for ``p > 0``."""
    r = abs(a) % p
    return -r if a < 0 else r


def key_fingerprint(keys: Iterable[int]) -> Fingerprint:
    """What :func:`fingerprint_sql` computes, here (for tests and checks)."""
    p, a, q = _SQUARED
    n = total = mixed = 0
    for k in keys:
        n += 1
        total += k
        x = _rem(_rem(k, p) * a, p)
        mixed += (x * x % q) & _MASK
    return n, (_rem(total, _MOD), _rem(mixed, _MOD))


# The state table, in SQL both dialects accept; times are UTC text like the audit's.
STATE_COLUMNS = (
    "table_name", "source", "mode", "status", "watermark", "since", "last_key", "direct",
    "rows_read", "inserted", "updated", "deleted", "source_count", "dest_count", "verified",
    "differences", "started_at", "finished_at", "copied_columns",
)  # fmt: skip
# Added after the table's first release: a state table made before lacks it (read as NULL;
# added by the first write, see :func:`state_upgrade`).
COPIED_COLUMNS = "copied_columns"
STATE_DDL = (
    "CREATE TABLE IF NOT EXISTS {t} (table_name TEXT PRIMARY KEY, source TEXT NOT NULL, "
    "mode TEXT NOT NULL, status TEXT NOT NULL, watermark TEXT, since TEXT, last_key TEXT, "
    "direct INTEGER NOT NULL DEFAULT 0, rows_read BIGINT NOT NULL DEFAULT 0, "
    "inserted BIGINT NOT NULL DEFAULT 0, updated BIGINT NOT NULL DEFAULT 0, "
    "deleted BIGINT NOT NULL DEFAULT 0, source_count BIGINT, dest_count BIGINT, "
    "verified INTEGER, differences BIGINT, started_at TEXT NOT NULL, finished_at TEXT, "
    f"{COPIED_COLUMNS} TEXT)"
)


def state_select(present: Collection[str]) -> list[str]:
    """The state table's columns as a SELECT list reads them from a table that has the
    columns ``present`` (one made before a column was added reads it as NULL)."""
    return [c if c in present else f"NULL AS {c}" for c in STATE_COLUMNS]


def state_upgrade(present: Collection[str], table: str) -> list[str]:
    """The statements that add the columns a state table made before lacks (none when it has
    them all, or does not exist yet: ``present`` empty)."""
    if not present or COPIED_COLUMNS in present:
        return []
    return [f"ALTER TABLE {table} ADD COLUMN {COPIED_COLUMNS} TEXT"]


def columns_text(shape: TableShape) -> str:
    """The columns a pass copies into every row of the copy, for its state row: their names
    and kinds as JSON."""
    return json.dumps([[c.name, c.kind] for c in shape.columns], separators=(",", ":"))


def columns_since(recorded: str | None, shape: TableShape, dest: TableShape) -> list[str]:
    """The columns of ``shape`` (the source's) that not every row of the copy has been given:
    added (or retyped) at the source since the pass the state row ``recorded`` — a column the
    copy got by ``ALTER TABLE … ADD COLUMN`` is NULL in every row copied before. A state row
    written before the columns were recorded (None) tells nothing: then the copy's columns
    placed after its ``synced_at`` (added to it since it was made) are named."""
    if recorded is None:
        return [c for c in dest.after_stamp if shape.column(c) is not None]
    try:
        before = {str(n): str(k) for n, k in json.loads(recorded)}
    except (ValueError, TypeError):
        return list(shape.names)  # unreadable (edited by hand): every column
    return [c.name for c in shape.columns if before.get(c.name) != c.kind]


def encode_key(key: Key | None) -> str | None:
    """A key as JSON text for the state table (values as the source gave them)."""
    if key is None:
        return None
    return json.dumps([v.hex() if isinstance(v, bytes) else v for v in key], default=str)


def decode_key(text: str | None) -> Key | None:
    return None if text is None else tuple(json.loads(text))


# The end of the problem of a key holding NULL (see ``Side.mixed_key``).
NULL_KEY = "rows holding NULL there cannot be told apart"
# The end of the problem of a SQLite time key whose text order is not its time order (see
# ``SqliteKeys.time_key``).
TIME_KEY = "SQLite orders such keys as text and the copy by time: their key ranges would differ"


@dataclass(frozen=True)
class SyncState:
    """One row of ``malnu_sync``: where the sync of a table stands."""

    table_name: str
    source: str
    mode: str
    status: str  # running, done, failed
    watermark: str | None = None  # newest updated_at copied (normal form)
    since: str | None = None  # lower bound of the running incremental pass
    last_key: str | None = None  # JSON key of the last chunk written by the running pass
    direct: bool = False  # the running full copy started on an empty table
    # The copy was made without its primary key, built once the rows are in (a table the sync
    # created in PostgreSQL). Stored in the ``direct`` column as 2 (0: upsert, 1: direct).
    key_pending: bool = False
    rows_read: int = 0
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    source_count: int | None = None
    dest_count: int | None = None
    verified: bool | None = None
    differences: int | None = None
    started_at: str = ""
    finished_at: str | None = None
    # The source's columns the copy holds in every row (:func:`columns_text`): those of the
    # first or last full pass (an incremental one carries only the rows it reads).
    copied_columns: str | None = None

    def values(self) -> tuple[Any, ...]:
        return tuple(
            (2 if self.key_pending else int(self.direct))
            if c == "direct"
            else int(v)
            if isinstance(v, bool)
            else v
            for c, v in ((c, getattr(self, c)) for c in STATE_COLUMNS)
        )

    @staticmethod
    def from_row(row: Sequence[Any]) -> SyncState:
        d = dict(zip(STATE_COLUMNS, row, strict=True))
        d["key_pending"] = int(d["direct"] or 0) == 2
        d["direct"] = bool(d["direct"])
        d["verified"] = None if d["verified"] is None else bool(d["verified"])
        for k in ("rows_read", "inserted", "updated", "deleted"):
            d[k] = int(d[k] or 0)
        return SyncState(**d)

    def advanced(self, counts: ChunkCounts, read: int, last_key: Key | None) -> SyncState:
        """This state after one more chunk."""
        return replace(
            self,
            rows_read=self.rows_read + read,
            inserted=self.inserted + counts.inserted,
            updated=self.updated + counts.updated,
            deleted=self.deleted + counts.deleted,
            last_key=encode_key(last_key) if last_key is not None else self.last_key,
        )

    @staticmethod
    def start(table: str, source: str, mode: str, **kw: Any) -> SyncState:
        return SyncState(table, source, mode, "running", started_at=utc_now(), **kw)


@dataclass(frozen=True)
class Chunk:
    """One unit of writes at the destination: upsert ``rows`` (``synced_at`` set; unchanged
    rows left alone), delete the keys of ``bounds`` not among ``rows`` and the keys in
    ``delete``, and write ``state.advanced(counts, len(rows), last_key)``, all or nothing.
    ``direct``: the rows' keys are known to be new (a full copy into an empty table).
    ``data``: the rows' COPY text, already made (PostgreSQL only; see :mod:`.fastcopy`).
    ``kept``: keys of ``bounds`` written by the batches before this one, not deleted either
    (D1 only: a chunk written in pieces, :func:`.references.write_chunk`)."""

    rows: Sequence[Row]
    state: SyncState
    bounds: Bounds | None = None
    delete: Sequence[Key] = ()
    direct: bool = False
    last_key: Key | None = None
    data: bytes | bytearray | None = None
    kept: Sequence[Key] = ()


class CatalogReads(Protocol):
    """A side's own query method (every side has one), for its catalog's reads: foreign keys
    (:mod:`.references`, :mod:`.cycles`, :mod:`.uniques`, :mod:`.relations`)."""

    def _rows(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...


class Side(Protocol):
    """One database seen by the sync. Implemented for SQLite, D1 and PostgreSQL."""

    kind: Kind
    label: str  # for messages: the target's name and masked URL

    @property
    def backend(self) -> Backend:
        """The target's backend (lock, audit)."""

    def tables(self) -> list[str]:
        """User tables (tool tables excluded)."""

    def triggers(self, table: str) -> list[str]:
        """The triggers that fire on writes to ``table`` (enabled, not the database's own)."""

    def describe(self, table: str) -> TableShape | None:
        """The table's columns (types mapped to PostgreSQL's) and key; None when absent."""

    def create_ddl(self, source: TableShape) -> str:
        """The CREATE TABLE for a copy of ``source`` here (mapped types, key, synced_at)."""

    def create_table(self, source: TableShape) -> None: ...

    def add_columns_ddl(self, source: TableShape, names: Sequence[str]) -> list[str]:
        """The statements that add ``source``'s columns ``names`` (mapped types, NULL allowed:
        rows are there already) to its copy here."""

    def drop_empty_copy(self, table: str) -> bool:
        """Drop ``table`` and its state row, in one unit, when it holds no row (a copy this
        sync created and could not fill: the destination as it was before); True if done."""

    def count(self, table: str) -> int: ...

    def greatest(self, table: str, column: str, kind: str = "ts") -> object:
        """The greatest value of ``column`` now, None without any (a full copy's watermark);
        ``kind`` "int": of its integers (Unix seconds or milliseconds)."""
        ...

    def mixed_key(self, shape: TableShape) -> str | None:
        """What is wrong when the key's first column holds values of another type than its
        kind (SQLite keeps whatever it is given): the two sides would order them
        differently; or when it holds NULL (ending with :data:`NULL_KEY`: such rows cannot be
        told apart); None when every key is of its kind (or the database types its columns)."""
        ...

    def pages(
        self,
        shape: TableShape,
        *,
        after: Key | None,
        page_rows: int,
        cursor: str | None = None,
        since: str | None = None,
        upto: Key | None = None,
    ) -> Iterator[list[Row]]:
        """Rows in key order after ``after`` (up to ``upto``), ``page_rows`` at a time (keyset
        pagination); with ``cursor``, only rows whose cursor is NULL or >= ``since``."""

    def server_hashing(self, shape: TableShape) -> bool:
        """True when the database computes the normal-form hashes itself."""

    def range_digest(self, shape: TableShape, bounds: Bounds) -> tuple[int, int]:
        """(row count, sum of row hashes) of the key range, computed server-side."""

    def range_hashes(self, shape: TableShape, bounds: Bounds) -> list[tuple[Key, int]]:
        """(key, row hash) of every row of the key range, computed server-side."""

    def range_rows(self, shape: TableShape, bounds: Bounds) -> Iterator[list[Row]]:
        """The rows of a key range, in key order, in pages."""

    def rows_for_keys(self, shape: TableShape, keys: Sequence[Key]) -> list[Row]: ...

    def keys_digest(self, shape: TableShape, keys: Sequence[Key]) -> tuple[int, int]:
        """(row count, sum of row hashes) of the rows with ``keys``, computed server-side."""

    def key_span(self, shape: TableShape) -> tuple[Any, Any] | None:
        """(min, max) of a one-column key; None when the table is empty."""

    def bucket_digests(
        self, shape: TableShape, base: int, width: int, buckets: int
    ) -> tuple[int, dict[int, tuple[int, int, int, int]]]:
        """For an integer key: the table's row count, and per bucket ``i`` (keys in
        ``(base + i·width, base + (i+1)·width]``) that holds rows: (count, sum of
        ``(key − base) mod`` :data:`RESIDUE`, min key, max key), computed in SQL."""

    def key_fingerprint(self, shape: TableShape) -> Fingerprint | None:
        """For a one-column integer key: the table's row count and key fingerprint
        (:func:`fingerprint_sql`), computed in SQL; None when some key is no integer."""

    def write_chunk(self, shape: TableShape, chunk: Chunk) -> ChunkCounts:
        """Write ``chunk`` as ONE unit (see :class:`Chunk`)."""

    def read_state(self, table: str) -> SyncState | None: ...

    def all_states(self) -> list[SyncState]: ...

    def write_state(self, state: SyncState) -> None: ...
