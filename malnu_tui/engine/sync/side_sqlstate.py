"""The sync's state table in the SQLite dialect (a base of :class:`.side_sqlite.SqliteDialect`,
so of the SQLite file's side and D1's): ``malnu_sync`` read through ``_rows`` — a table made
before a release added a column to it reads that column as NULL, since ``sync status`` opens a
database read-only — and the statements that create it, upgrade it and write a row."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from malnu_tui.engine.sync.side import (
    STATE_COLUMNS,
    STATE_DDL,
    STATE_TABLE,
    SyncState,
    state_select,
    state_upgrade,
)

__all__ = ["SqliteState"]


class SqliteState(ABC):
    """``malnu_sync`` over ``_rows``."""

    # The state table's columns once a write has made (or upgraded) it in this session.
    _state_made: bool = False

    @abstractmethod
    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one read statement and return its rows."""

    def _state_columns(self) -> list[str]:
        """The state table's columns (none: there is no state table). The statement form of
        the pragma, which D1 documents (as :meth:`.SqliteDialect.describe` reads tables)."""
        return [str(r[1]) for r in self._rows(f"PRAGMA table_info({STATE_TABLE})")]

    def _has_state_table(self) -> bool:
        return bool(self._state_columns())

    def _state_ddl(self) -> list[str]:
        """The statements that make the state table ready for a write (cheap once done: the
        caller sets ``_state_made`` after the write that ran them committed)."""
        if self._state_made:
            return [STATE_DDL.format(t=STATE_TABLE)]
        upgrade = state_upgrade(self._state_columns(), STATE_TABLE)
        return [STATE_DDL.format(t=STATE_TABLE), *upgrade]

    def _state_upsert_sql(self) -> str:
        cols = ", ".join(STATE_COLUMNS)
        sets = ", ".join(f"{c} = excluded.{c}" for c in STATE_COLUMNS[1:])
        marks = ", ".join("?" for _ in STATE_COLUMNS)
        return (
            f"INSERT INTO {STATE_TABLE} ({cols}) VALUES ({marks}) "
            f"ON CONFLICT (table_name) DO UPDATE SET {sets}"
        )

    def _read_states(self, where: str, params: Sequence[Any] = ()) -> list[SyncState]:
        present = self._state_columns()
        if not present:
            return []
        select = ", ".join(state_select(present))
        rows = self._rows(f"SELECT {select} FROM {STATE_TABLE} {where}", params)
        return [SyncState.from_row(r) for r in rows]

    def read_state(self, table: str) -> SyncState | None:
        found = self._read_states("WHERE table_name = ?", (table,))
        return found[0] if found else None

    def all_states(self) -> list[SyncState]:
        return self._read_states("ORDER BY 1")
