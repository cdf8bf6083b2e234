"""What the translation knows about the schema so far: a scratch in-memory SQLite database into
which every translated statement is also run (see :mod:`.scratch`), so that SQLite itself
answers questions such as "what are this table's keys?" after any sequence of
CREATE/ALTER/DROP."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from malnu_tui.engine.backends.sqlite_sql import NOT_INTERNAL
from malnu_tui.engine.translate.scratch import ScratchSchema
from malnu_tui.engine.translate.tableinfo import (
    ColumnInfo,
    index_keys,
    table_columns,
    without_rowid,
)
from malnu_tui.engine.translate.types import map_type

__all__ = ["ColumnInfo", "PendingKey", "SchemaState"]

# SQLite's names for a rowid table's row id (:meth:`SchemaState.rowid_names`).
ROWID_NAMES = frozenset({"rowid", "_rowid_", "oid"})
_AUTOINCREMENT = re.compile(r"\bAUTOINCREMENT\b", re.IGNORECASE)


@dataclass(frozen=True)
class PendingKey:
    """A foreign key to add once its target table exists on PostgreSQL."""

    child: str
    columns: tuple[str, ...]
    target: str
    ref_columns: tuple[str, ...]  # empty: the target's primary key
    sql: str  # ALTER TABLE child ADD … FOREIGN KEY …
    file: str
    line: int
    rebuilt: bool = False  # dropped with its (rebuilt) target, not a forward reference


def _text_or_not(columns: list[ColumnInfo]) -> tuple[frozenset[str], frozenset[str]]:
    text: set[str] = set()
    other: set[str] = set()
    for c in columns:
        pg = map_type(c.declared).postgres or ""
        (text if pg == "TEXT" or pg.startswith("VARCHAR") else other).add(c.name.lower())
    return frozenset(text), frozenset(other)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class SchemaState(ScratchSchema):
    """A scratch SQLite schema that follows the migrations being translated.

    Names are looked up in a mirror of sqlite_master's names, ASCII-folded: SQLite's
    case-insensitivity for names (ASCII letters only, like its ``lower()``)."""

    def __init__(self) -> None:
        super().__init__()
        self.trigger_functions: dict[str, str] = {}  # trigger name → PostgreSQL function name
        # Foreign keys waiting for their table to exist on PostgreSQL (forward references, and
        # keys dropped with a rebuilt table): target table (lower) → ALTER TABLE … ADD statements.
        self.pending_keys: dict[str, list[PendingKey]] = {}
        # Views dropped with a rebuilt table, re-created when it exists again: table → (name, SQL).
        self.pending_views: dict[str, list[tuple[str, str]]] = {}
        # Objects whose CREATE was withheld: name (lower) → (file, line) of that statement; and
        # the statements withheld because they depend on one: root (file, line) → dependents.
        self.withheld: dict[str, tuple[str, int]] = {}
        self.dependents: dict[tuple[str, int], list[tuple[str, int]]] = {}
        # Names of PostgreSQL indexes made by named PRIMARY KEY/UNIQUE constraints (per schema).
        self.constraint_names: set[str] = set()
        # Foreign keys left out on PostgreSQL (types differ…): (child, columns), lower-cased.
        self.left_out: set[tuple[str, tuple[str, ...]]] = set()

    def clone(self) -> SchemaState:
        """An independent copy (to try statements without changing this state)."""
        other = SchemaState()
        self.settle()
        if self.conn.in_transaction:
            # A migration's SAVEPOINT left a transaction open: a backup would wait for it
            # forever (SQLITE_LOCKED, retried); the pages as they stand copy it all.
            other.conn.deserialize(self.conn.serialize())
        else:
            self.conn.backup(other.conn)
        other._temp = self._temp
        other._shapes = set(self._shapes)
        other.trigger_functions = dict(self.trigger_functions)
        other.pending_keys = {k: list(v) for k, v in self.pending_keys.items()}
        other.pending_views = {k: list(v) for k, v in self.pending_views.items()}
        other.withheld = dict(self.withheld)
        other.constraint_names = set(self.constraint_names)
        other.left_out = set(self.left_out)
        return other

    def has_table(self, table: str) -> bool:
        """True when ``table`` (any case) exists."""
        return self.real_name(table) is not None

    def real_name(self, table: str) -> str | None:
        """The table's name as created (SQLite names are case-insensitive)."""
        try:  # (the commonest case first: answered already)
            return self._cache[table.lower()]["name"]  # type: ignore[no-any-return]
        except KeyError:
            pass
        name: str | None = self._cached("name", table, lambda: self._real_name(table))
        return name

    def _real_name(self, table: str) -> str | None:
        row = self._first(table, "table", "view")
        return None if row is None else row[2]

    def columns(self, table: str) -> list[ColumnInfo]:
        """Columns of ``table`` in order (empty when unknown)."""
        try:  # (the commonest case first: answered already)
            return self._cache[table.lower()]["columns"]  # type: ignore[no-any-return]
        except KeyError:
            pass
        cols: list[ColumnInfo] = self._cached("columns", table, lambda: self._columns(table))
        return cols

    def _columns(self, table: str) -> list[ColumnInfo]:
        name = self.real_name(table)
        if name is None:
            return []
        if (self._views or self._altered) and self._first(name, "view") is not None:
            self.settle()  # a view's columns come from tables and views that may wait
        return table_columns(self.conn, name)

    def primary_key(self, table: str) -> list[str]:
        """Primary key columns in key order."""
        cols = [c for c in self.columns(table) if c.pk]
        return [c.name for c in sorted(cols, key=lambda c: c.pk)]

    def unique_keys(self, table: str) -> list[list[str]]:
        """Primary key first, then every full (non-partial, column-only) unique index."""
        try:  # (the commonest case first: answered already)
            return self._cache[table.lower()]["keys"]  # type: ignore[no-any-return]
        except KeyError:
            pass
        keys: list[list[str]] = self._cached("keys", table, lambda: self._unique_keys(table))
        return keys

    def _unique_keys(self, table: str) -> list[list[str]]:
        keys: list[list[str]] = []
        pk = self.primary_key(table)
        if pk:
            keys.append(pk)
        name = self.real_name(table)
        if name is None:
            return keys
        return index_keys(self.conn, name, keys)

    def unique_constraint_count(self, table: str) -> int:
        """How many uniqueness constraints SQLite checks on an insert into ``table``: its
        unique indexes (partial and expression ones too) and a rowid-alias primary key."""
        name = self.real_name(table)
        if name is None:
            return 0
        row = self.conn.execute(
            'SELECT count(*) FROM pragma_index_list(?) WHERE "unique"', (name,)
        ).fetchone()
        return int(row[0]) + (1 if self.rowid_alias(table) is not None else 0)

    def is_rowid_alias(self, table: str, column: str) -> bool:
        """True for SQLite's ``INTEGER PRIMARY KEY`` column (auto-assigned rowid)."""
        alias = self.rowid_alias(table)
        return alias is not None and alias == column.lower()

    def rowid_alias(self, table: str) -> str | None:
        """The lower-cased name of the table's ``INTEGER PRIMARY KEY`` column, if any."""
        try:  # (the commonest case first: answered already)
            return self._cache[table.lower()]["rowid_alias"]  # type: ignore[no-any-return]
        except KeyError:
            pass
        alias: str | None = self._cached("rowid_alias", table, lambda: self._rowid_alias(table))
        return alias

    def _rowid_alias(self, table: str) -> str | None:
        pk = [c for c in self.columns(table) if c.pk]
        if (
            len(pk) == 1
            and pk[0].declared.strip().upper() == "INTEGER"
            and not self._without_rowid(table)
        ):
            return pk[0].name.lower()
        return None

    def rowid_names(self, table: str) -> frozenset[str]:
        """The names by which SQLite reads ``table``'s rowid (``rowid``, ``_rowid_``, ``oid``),
        unique like a key: none on a WITHOUT ROWID table, and none that a column has taken
        (a column named ``oid`` is that column, any number of rows may hold its value)."""
        if self.real_name(table) is None or self._without_rowid(table):
            return frozenset()
        return ROWID_NAMES - {c.name.lower() for c in self.columns(table)}

    def _without_rowid(self, table: str) -> bool:
        try:  # (the commonest case first: answered already)
            return self._cache[table.lower()]["without_rowid"]  # type: ignore[no-any-return]
        except KeyError:
            pass
        found: bool = self._cached("without_rowid", table, lambda: self._read_without_rowid(table))
        return found

    def _read_without_rowid(self, table: str) -> bool:
        found = self._first(table, "table")
        return found is not None and without_rowid(found[4])

    def autoincrement(self, table: str) -> bool:
        """True when ``table`` was created with AUTOINCREMENT (only those read their counter
        in ``sqlite_sequence``)."""
        found = self._first(table, "table")
        return found is not None and _AUTOINCREMENT.search(found[4]) is not None

    def boolean_columns(self, table: str) -> set[str]:
        """Lower-cased names of the columns declared BOOLEAN/BOOL."""
        try:  # (the commonest case first: answered already)
            return self._cache[table.lower()]["booleans"]  # type: ignore[no-any-return]
        except KeyError:
            pass
        found: set[str] = self._cached(
            "booleans",
            table,
            lambda: {
                c.name.lower()
                for c in self.columns(table)
                if c.declared.strip().upper() in ("BOOLEAN", "BOOL")
            },
        )
        return found

    def text_columns(self, table: str) -> tuple[frozenset[str], frozenset[str]]:
        """Lower-cased names of the columns whose type maps to TEXT/VARCHAR on PostgreSQL,
        and of the others."""
        try:  # (the commonest case first: answered already)
            return self._cache[table.lower()]["texts"]  # type: ignore[no-any-return]
        except KeyError:
            pass
        found: tuple[frozenset[str], frozenset[str]] = self._cached(
            "texts", table, lambda: _text_or_not(self.columns(table))
        )
        return found

    def trigger_table(self, trigger: str) -> str | None:
        """The table a trigger is on, or None."""
        row = self._first(trigger, "trigger")
        return None if row is None else row[3]

    def object_exists(self, name: str) -> bool:
        """True when a table, view, index or trigger named ``name`` (any case) exists."""
        return bool(self._rows(name))

    def referencing_keys(self, table: str) -> list[tuple[str, list[Any]]]:
        """Foreign keys of other tables that point at ``table``: (child table, PRAGMA
        foreign_key_list rows of one key, in column order)."""
        found: list[tuple[str, list[Any]]] = []
        self.settle()
        for (child,) in self.conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND lower(name) <> lower(?) "
            f"AND {NOT_INTERNAL} ORDER BY name",
            (table,),
        ).fetchall():
            groups: dict[int, list[Any]] = {}
            for row in self.conn.execute(f"PRAGMA foreign_key_list({_q(str(child))})"):
                if str(row[2]).lower() == table.lower():
                    groups.setdefault(int(row[0]), []).append(row)
            for rows in groups.values():
                found.append((str(child), sorted(rows, key=lambda r: r[1])))
        return found

    def referencing_views(self, table: str) -> list[tuple[str, str]]:
        """Views whose SQL names ``table``: (name, SQL)."""
        word = re.compile(r"(?<![\w$])[\"`\[]?" + re.escape(table) + r"[\"`\]]?(?![\w$])", re.I)
        self.settle()
        return [
            (str(name), str(sql))
            for name, sql in self.conn.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'view' ORDER BY rowid"
            ).fetchall()
            if sql and word.search(str(sql))
        ]
