"""Values that flow between the sync engine and its shells (CLI, console)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from malnu_tui.engine.secrets import HIDDEN, Masked, masked, secret_column, secret_in, secret_names

__all__ = [
    "SYNCED_AT",
    "ChunkCounts",
    "Column",
    "Difference",
    "Key",
    "Row",
    "SyncMode",
    "SyncProgress",
    "TablePlan",
    "TableReport",
    "TableShape",
    "VerifyReport",
    "key_text",
    "row_text",
    "secret_column",
    "shown_key",
    "shown_values",
]

SYNCED_AT = "synced_at"  # set on every copied row (the guide's column); never copied itself
Row = tuple[Any, ...]
Key = tuple[Any, ...]
SyncMode = Literal["full", "updated_at", "checksum", "whole"]  # whole: no key (.whole)


@dataclass(frozen=True)
class Column:
    """A column as the sync sees it: its PostgreSQL type (through the translation's type
    mapping for SQLite-dialect sides) and the kind its values are normalized as."""

    name: str
    pg_type: str  # format_type() spelling: bigint, boolean, timestamp without time zone…
    kind: str  # int, bool, ts, tstz, date, time, float, numeric, bytes, json, uuid, text
    declared: str = ""  # as the side declares it (SQLite declared type, or PostgreSQL's)
    notnull: bool = False


@dataclass(frozen=True)
class TableShape:
    """One table on one side: its columns (without ``synced_at``) and its key."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    has_synced_at: bool = False
    unique_key: bool = True  # the key is backed by a PRIMARY KEY or UNIQUE index
    # Generated columns: not copied (computed from the others; a copy the sync creates has none)
    generated: tuple[str, ...] = ()
    # Columns placed after ``synced_at``: added to a copy since it was made (the sync puts
    # ``synced_at`` last), so NULL in the rows copied before unless a full pass followed.
    after_stamp: tuple[str, ...] = ()
    # The key's columns that may hold NULL (a SQLite source's: not NOT NULL, nor the rowid's
    # INTEGER PRIMARY KEY), looked for by ``Side.mixed_key``.
    nullable_key: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # A key that holds secrets by the table's shape (Laravel's sessions.id) is masked as
        # a secret's name is, wherever the key's names go (reports, messages, audit rows).
        object.__setattr__(self, "key", secret_names(self.key, self.names))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def key_index(self) -> tuple[int, ...]:
        names = self.names
        return tuple(names.index(k) for k in self.key)

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)


@dataclass(frozen=True)
class ChunkCounts:
    """What one written chunk did at the destination."""

    inserted: int = 0
    updated: int = 0
    deleted: int = 0


def key_text(names: tuple[str, ...], key: Key) -> str:
    """A key as messages and reports spell it: ``id=137``, ``code=NULL``, ``k=x'00ff'``; a
    secret's value masked (:func:`shown_key`): ``token=sha256:ab12cd34…``."""

    def value(v: Any) -> str:
        if v is None:
            return "NULL"
        if isinstance(v, Masked):  # a secret's value (:func:`shown_key`, :func:`shown_values`)
            return str(v)
        if isinstance(v, bytes | bytearray | memoryview):
            return f"x'{bytes(v).hex()}'"
        return repr(v)

    shown = shown_key(names, key)
    return ", ".join(f"{n}={value(v)}" for n, v in zip(names, shown, strict=False))


def shown_key(names: tuple[str, ...], key: Key) -> Key:
    """``key`` as a message, a report or an audit row may show it: the value of a
    :func:`.secrets.secret_column` (a session's ``token``, an API key's ``key_hash``) by its
    fingerprint (``sha256:ab12cd34…``, the same in every report; ``(hidden)`` when short),
    so a difference is still told from another and matched across reports."""
    return tuple(masked(v) if secret_column(n) else v for n, v in zip(names, key, strict=False))


def shown_values(names: tuple[str, ...], row: Row) -> Row:
    """``row`` as a message or report may show it: the values of :func:`secret_column`
    columns replaced by ``(hidden)`` (a table without a key names its rows by their values,
    where a keyed one's messages name the key and the value refused only)."""
    secret = secret_in(names)  # (Passport's oauth_clients.password_client: a flag, shown)
    return tuple(HIDDEN if secret(n) else v for n, v in zip(names, row, strict=False))


def row_text(shape: TableShape, row: Row) -> str:
    """A source row as a message names it: by its key (``id=7``); a table without a key
    (copied whole, .whole) by its values, each cut at 60 characters (``…``), a secret's
    hidden (:func:`shown_values`): it said ``row , column r`` or named no row at all."""
    if shape.key:
        return key_text(shape.key, tuple(row[i] for i in shape.key_index))
    shown = shown_values(shape.names, row)
    parts = (key_text((n,), (v,)) for n, v in zip(shape.names, shown, strict=False))
    return ", ".join(p if len(p) <= 60 else p[:59] + "…" for p in parts)


@dataclass(frozen=True)
class Difference:
    """One key whose row is missing at the destination, extra there, or different."""

    kind: Literal["missing", "extra", "different"]
    key: Key

    def describe(self, key_names: tuple[str, ...]) -> str:
        return f"{self.kind}: {key_text(key_names, self.key)}"

    def as_json(self, key_names: tuple[str, ...]) -> dict[str, Any]:
        shown = shown_key(key_names, self.key)  # a secret's value masked
        key: Any = shown[0] if len(shown) == 1 else dict(zip(key_names, shown, strict=False))
        return {"kind": self.kind, "key": key}


@dataclass(frozen=True)
class VerifyReport:
    """Counts and range checksums of one table on both sides, down to the differing keys."""

    table: str
    key: tuple[str, ...]
    source_count: int
    dest_count: int
    differences: tuple[Difference, ...]
    truncated: bool = False  # more differences than the report keeps
    ranges_compared: int = 0
    ranges_split: int = 0

    @property
    def ok(self) -> bool:
        return not self.differences and self.source_count == self.dest_count

    def count(self, kind: str) -> int:
        return sum(1 for d in self.differences if d.kind == kind)


@dataclass(frozen=True)
class TablePlan:
    """What a sync will do to one table, decided before anything is written."""

    table: str
    mode: SyncMode
    create: bool  # the destination table is created from the mapped schema
    ddl: str  # the CREATE TABLE that would run ("" when the table exists)
    key: tuple[str, ...]
    cursor: str | None  # the updated_at column of an incremental sync
    since: str | None  # rows with cursor >= since are read (watermark minus the overlap)
    resume_after: Key | None  # a killed sync of this table resumes after this key
    source_count: int
    dest_count: int
    notes: tuple[str, ...] = ()
    # What the operator should act on (a Supabase copy the API serves with row level
    # security off): carried into the table's report.
    warnings: tuple[str, ...] = ()
    # The copy's name when it is not the source's (``album`` for ``Album``: .destnames).
    dest_table: str = ""


@dataclass(frozen=True)
class TableReport:
    """The outcome of one table's sync (or of its verification alone)."""

    table: str
    mode: str
    read: int
    inserted: int
    updated: int
    deleted: int
    source_count: int
    dest_count: int
    verified: bool
    differences: tuple[Difference, ...] = ()
    key: tuple[str, ...] = ()
    seconds: float = 0.0
    dry_run: bool = False
    resumed: bool = False
    truncated: bool = False
    # What ``verified`` covers: "full" (every row of both sides compared: a first or --full
    # sync, a checksum-mode sync, ``sync verify``) or "changed" (an incremental sync: the rows
    # it wrote, the key ranges it wrote densely, and per-range counts/key sums of the rest).
    scope: Literal["full", "changed"] = "full"
    # Why the table could not be compared, when it could not (no copy at the destination), or
    # why its copy differs when that is known (columns added since its rows were written).
    note: str = ""
    # The error that stopped the sync at this table (the tables before it are synced).
    error: str = ""
    # The sides ("source", "destination") a stopped sync could not count as it stopped (the
    # error was that side gone): its counts there are the plan's, not a count of that time.
    uncounted: frozenset[str] = frozenset()
    # What the sync did and could not finish for the application (a sequence not moved).
    warnings: tuple[str, ...] = ()
    # The copy's name when it is not the source's ``table`` (``album`` for ``Album``).
    dest_table: str = ""
    # Of ``read``, the source's rows compared by checksum (a checksum-mode pass): the rest
    # were read again to copy them (the text report says so; ``read`` in JSON is the sum).
    compared: int = 0

    def as_json(self) -> dict[str, Any]:
        """The contract's per-table object (plus the differing keys, and ``note`` when the
        table could not be compared)."""
        data = {
            "table": self.table,
            "mode": self.mode,
            "read": self.read,
            "inserted": self.inserted,
            "updated": self.updated,
            "deleted": self.deleted,
            # null: a sync that stopped with that side gone could not count it
            "source_count": None if "source" in self.uncounted else self.source_count,
            "dest_count": None if "destination" in self.uncounted else self.dest_count,
            "verified": self.verified,
            "differences": [d.as_json(self.key) for d in self.differences],
            "verified_scope": self.scope,
        }
        if self.note:
            data["note"] = self.note
        if self.error:
            data["error"] = self.error
        if self.warnings:
            data["warnings"] = list(self.warnings)
        if self.dest_table:
            data["dest_table"] = self.dest_table
        return data


@dataclass(frozen=True)
class SyncProgress:
    """A progress event: one table's phase and rows done so far."""

    table: str
    phase: Literal["plan", "copy", "delete", "verify", "done"]
    rows: int
    total: int | None = None
    rate: float = 0.0  # rows per second of this phase (0.0: not measured yet)
    detail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


ProgressCallback = Callable[[SyncProgress], None]
