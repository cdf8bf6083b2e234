"""The values and the protocol every table writer shares (see :mod:`malnu_tui.engine.data.writers`
for the units of work); the writers of each backend import them from here."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from malnu_tui.engine.data.rows import Rejection, RowBatch
from malnu_tui.engine.data.sqlwrite import column_list, conflict_clause

if TYPE_CHECKING:
    from malnu_tui.engine.backends.base import AuditEntry, Backend
    from malnu_tui.engine.data.schema import TableSchema
    from malnu_tui.engine.data.uniques import UniqueSet

OnConflict = Literal["error", "update", "skip"]
ON_CONFLICT: tuple[OnConflict, ...] = ("error", "update", "skip")


@dataclass(frozen=True)
class WriteSpec:
    """What to write: the table, its columns (names from the live schema), the conflict key
    and what a conflict does (``error``: the row is rejected)."""

    schema: TableSchema
    columns: tuple[str, ...]
    key: tuple[str, ...] = ()
    on_conflict: OnConflict = "error"
    # The constraints a value of which is imported once (:mod:`.uniques`): the --key's first,
    # and every other UNIQUE constraint (the primary key first) whose columns it writes;
    # its value on an earlier line of the import is named by that line (:mod:`.keyrepeats`).
    uniques: tuple[UniqueSet, ...] = ()

    @property
    def table(self) -> str:
        return self.schema.name

    @property
    def others_among_new(self) -> bool:
        """``--key … --on-conflict skip``: the constraints after the key are compared among
        the rows whose key the table does not hold (a row it holds is skipped: its other
        values are never written)."""
        return bool(self.key) and self.on_conflict == "skip" and len(self.uniques) > 1

    def declared_types(self) -> tuple[str, ...]:
        out = []
        for name in self.columns:
            col = self.schema.column(name)
            out.append(col.declared_type if col else "")
        return tuple(out)

    def conflict_clause(self) -> str:
        """``ON CONFLICT …`` in the syntax SQLite and PostgreSQL share ("" for plain INSERT)."""
        return conflict_clause(self.table, self.columns, self.key, self.on_conflict)

    def column_list(self) -> str:
        return column_list(self.columns)


@dataclass(frozen=True)
class WriteOutcome:
    """What the unit does when committed."""

    inserted: int
    updated: int
    skipped: int
    rejections: tuple[Rejection, ...]  # refused by the database at finish (raw may be "")
    before_count: int
    after_count: int
    accepted: int  # rows the database took (inserted + updated + skipped)
    # The table's own triggers that may drop a row unwritten and unrefused (a BEFORE trigger's
    # RAISE(IGNORE), PostgreSQL's RETURN NULL), named when rows were skipped: its rows count
    # as skipped, also for a plain insert (they failed the count check: nothing committed).
    ignored_by: tuple[str, ...] = ()


class TableWriter(Protocol):
    """The unit of work on one table (see the module's docstring)."""

    def begin(self) -> int:
        """Open the unit; returns the table's row count before."""

    def write(self, rows: RowBatch) -> list[Rejection]:
        """Send a chunk (``RowBatch.of(rows)`` from Row tuples); returns the rows refused now
        (others may be found at finish)."""

    def finish(self, max_rejections: int | None = None) -> WriteOutcome:
        """Settle the unit without making it visible. Stops looking for refused rows once
        more than ``max_rejections`` were found (the import will not commit anyway)."""

    def commit(self, audit: AuditEntry | None) -> None:
        """Make the unit visible, with ``audit`` in the same unit."""

    def rollback(self) -> None:
        """Undo everything (safe to call twice, or after a failure)."""

    def stop(self) -> None:
        """From another thread, when the import is interrupted (Ctrl-C, SIGTERM): end what
        the database is doing for :meth:`write` now, so that the writer thread returns and
        the clean-up can run; :meth:`rollback` follows."""


def counts_from(
    on_conflict: OnConflict, accepted: int, changes: int, inserted: int
) -> tuple[int, int, int]:
    """(inserted, updated, skipped) from the rows accepted, the database's change count and
    the table's growth."""
    if on_conflict == "update":
        return inserted, changes - inserted, accepted - changes
    return inserted, 0, accepted - changes


def constraint_column(message: str, table: str) -> str:
    """The column a SQLite constraint message names (``NOT NULL constraint failed: t.c``);
    D1 ends it with its result code (``…: t.c: SQLITE_CONSTRAINT_PRIMARYKEY``), which is no
    part of the column's name (it was, in the rejects file's ``column``)."""
    prefix = f"{table}."
    message = _RESULT_CODE.sub("", message)
    for part in message.split(":", 1)[-1].split(","):
        part = part.strip()
        if part.startswith(prefix):
            return part[len(prefix) :]
    return ""


# SQLite and D1: a BEFORE trigger whose body RAISE(IGNORE)s: the row goes unwritten, unrefused.
_IGNORES = re.compile(r"\bBEFORE\b.*\bRAISE\s*\(\s*IGNORE\s*\)", re.IGNORECASE | re.DOTALL)
TRIGGERS_SQL = (
    "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ? COLLATE NOCASE "
    "ORDER BY name"
)


def ignoring_triggers(rows: Sequence[Sequence[object]]) -> tuple[str, ...]:
    """The names of the triggers (``TRIGGERS_SQL``'s rows) that may ignore a row."""
    return tuple(str(name) for name, text in rows if _IGNORES.search(str(text or "")))


# PostgreSQL: the table's enabled BEFORE … FOR EACH ROW triggers on INSERT or UPDATE whose
# function may RETURN NULL (its row dropped unwritten, unrefused); {rel}: the table's regclass.
PG_TRIGGERS_SQL = (
    "SELECT t.tgname FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid "
    "WHERE t.tgrelid = {rel} AND NOT t.tgisinternal AND t.tgenabled <> 'D' "
    "AND t.tgtype & 3 = 3 AND t.tgtype & 20 <> 0 AND p.prosrc ~* 'return\\s+null' "
    "ORDER BY t.tgname"
)


def dropping_triggers(backend: Backend, table: str) -> tuple[str, ...]:
    """``table``'s own triggers that may drop a row unwritten and unrefused (SQLite, D1: a
    BEFORE trigger's RAISE(IGNORE); PostgreSQL: RETURN NULL), read before anything is written:
    the import's preview names them, D1's dry run counts what they drop."""
    if backend.kind == "postgresql":
        rel = "(quote_ident(current_schema()) || '.' || quote_ident(%s))::regclass"
        conn = backend.conn  # type: ignore[attr-defined]
        return tuple(str(r[0]) for r in conn.execute(PG_TRIGGERS_SQL.format(rel=rel), (table,)))
    from malnu_tui.engine.data.schema import sqlite_rows

    return ignoring_triggers(sqlite_rows(backend, TRIGGERS_SQL, (table,)))


_RESULT_CODE = re.compile(r":\s*SQLITE_[A-Z_]+\s*$")
# PostgreSQL's detail of a unique or foreign key violation: Key (nis)=(0012) already exists.
# Found by its structure, ``(cols)=(``: a server speaking another language says the words
# around it in its own (Schlüssel »(nis)=(0012)« existiert bereits.).
KEY_DETAIL = re.compile(r"\((?P<cols>.+?)\)=\(")


def key_column(detail: str | None, columns: Sequence[str]) -> str:
    """The column a PostgreSQL unique or foreign key violation names in its detail (the first
    of a key of several, as SQLite names it), when it is one of ``columns``; else ``""``."""
    m = KEY_DETAIL.search(detail or "")
    if not m:
        return ""
    first = m["cols"].split(", ")[0]
    if len(first) > 1 and first[0] == first[-1] == '"':
        first = first[1:-1].replace('""', '"')
    return first if first in columns else ""
