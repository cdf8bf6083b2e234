"""The copy's table in PostgreSQL (a base of :class:`.side_postgres.PostgresSide`): its CREATE
TABLE; the primary key a full copy builds once its rows are in (see :mod:`.fastcopy`) — one
sorted build instead of a row at a time, under a lock that stops writers but not readers, so
what reads the table at the end of the copy (its last range checks, both sides' counts) goes on
beside the build; then the index becomes the key, with the name and definition an inline
``PRIMARY KEY`` gives it —; the statements that add columns a migration added at the source;
the undoing of a copy the sync created and could not fill; and the refusal of a value its
``numeric(p,s)`` would round (:mod:`.side_pgtypes`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future, wait
from typing import Any

import psycopg
from psycopg import sql

from malnu_tui.engine.backends.pg_sql import create_schema_if_missing, with_params
from malnu_tui.engine.data import pgcopy
from malnu_tui.engine.errors import BackendError
from malnu_tui.engine.supabase_target import enable_rls_statement
from malnu_tui.engine.sync.model import SYNCED_AT, Column, Row, TableShape
from malnu_tui.engine.sync.side import STATE_TABLE, SyncState
from malnu_tui.engine.sync.side_pgkeys import (
    LONG_KEY_HINT,
    PostgresKeys,
    long_index_value,
    pg_error,
)
from malnu_tui.engine.sync.side_pgtypes import SCALES_SQL, scales, unscaled_value

__all__ = ["FILLFACTOR", "PostgresKeyBuild", "key_name"]

# A tenth of each page of a copy the sync creates stays free: an incremental update's new row
# version then fits on its page (a HOT update: no new index entry).
FILLFACTOR = 90

_NAME_BYTES = 63  # PostgreSQL's identifiers (NAMEDATALEN - 1)


def key_name(table: str) -> str:
    """The name PostgreSQL gives the primary key of ``table`` when it is free: the table's
    name, cut (at a character's end) so that with ``_pkey`` it fits in 63 bytes."""
    raw = table.encode()[: _NAME_BYTES - len("_pkey")]
    while True:
        try:
            return raw.decode() + "_pkey"
        except UnicodeDecodeError:  # a character cut in the middle
            raw = raw[:-1]


class PostgresKeyBuild(PostgresKeys):
    """Building a deferred primary key (on ``conn``, tables in ``schema``)."""

    _c_keys: dict[str, tuple[int, ...]]
    _scales: dict[str, dict[str, tuple[int, str]]]  # table → its numeric columns' scales
    # What PostgresSide, the class this is a base of, gives: the state row's upsert statement
    # and the destination table's shape.
    _state_upsert: Callable[[], sql.Composed]
    describe: Callable[[str], TableShape | None]
    rls_on_create = False  # a copy made here gets row level security (.exposed.guard_copies)

    def create_ddl(self, source: TableShape, *, key: bool = True) -> str:
        """The copy's CREATE TABLE; without ``key``, the same table but its primary key (added
        by :meth:`add_key` once a full copy is in: one sorted build, not a row at a time)."""
        parts: list[sql.Composable] = []
        here = self._types_here(source.columns)
        for c in source.columns:
            pg_type = here[c.pg_type]
            # (Not an inet, enum or citext key: no collation, or none that orders it; such a
            # key is paged as its text.)
            own = pg_type.split("(", 1)[0].strip().lower()
            collated = own in ("text", "character varying", "character")
            coll = ' COLLATE "C"' if c.name in source.key and collated else ""
            notnull = " NOT NULL" if c.notnull or c.name in source.key else ""
            parts.append(sql.SQL("{} " + pg_type + coll + notnull).format(sql.Identifier(c.name)))
        # The default stamps the rows a full copy COPYs straight in (none sent per row): UTC
        # as a fixed offset (the zone's name was looked up again for every row: 33 vs 7 ns).
        parts.append(
            sql.SQL("{} timestamp DEFAULT (now() AT TIME ZONE INTERVAL '00:00')").format(
                sql.Identifier(SYNCED_AT)
            )
        )
        if key and source.key:  # none: a table copied whole (.whole)
            parts.append(sql.SQL("PRIMARY KEY ({})").format(pgcopy.ident_list(source.key)))
        q = sql.SQL("CREATE TABLE {} ({}) WITH (fillfactor = " + str(FILLFACTOR) + ")").format(
            self._t(source.name), sql.SQL(", ").join(parts)
        )
        return q.as_string(self.conn)

    def _types_here(self, columns: Sequence[Column]) -> dict[str, str]:
        """Each of ``columns``' types as the copy here has it (one round trip): a type this
        database lacks (a PostgreSQL source's enum, citext without its extension here) is kept
        as its text, as it is read and compared (the copy was refused at its creation, 'type
        "citext" does not exist', and the hint that adds such a column named it)."""
        types = list(dict.fromkeys(c.pg_type for c in columns))
        rows = self.conn.execute(
            "SELECT t FROM unnest(%s::text[]) AS t WHERE to_regtype(t) IS NULL", (types,)
        ).fetchall()
        absent = {str(r[0]) for r in rows}
        return {t: "text" if t in absent else t for t in types}

    def create_table(self, source: TableShape, *, defer_key: bool = False) -> None:
        try:
            with self.conn.transaction():
                create_schema_if_missing(self.conn, self.schema)
                self.conn.execute(self.create_ddl(source, key=not defer_key).encode())
                if self.rls_on_create:  # Supabase's API serves the schema (.exposed)
                    self.conn.execute(enable_rls_statement(self.conn, self.schema, source.name))
        except psycopg.Error as exc:
            raise pg_error(self.label, exc) from None

    def refuse_unscaled(self, shape: TableShape, rows: Sequence[Row]) -> None:
        """Refuse ``rows`` when one holds a value the table's numeric(p,s) would round."""
        scale = self._scales.get(shape.name)
        if scale is None and rows:
            at = self._t(shape.name).as_string(self.conn)
            scale = self._scales[shape.name] = scales(self._rows(SCALES_SQL, (at,)))
        refused = unscaled_value(shape, rows, scale or {}, self._t(shape.name).as_string(self.conn))
        if refused is not None:
            raise BackendError(f"{self.label}: writing {shape.name}{refused[0]}", hint=refused[1])

    def _copy_type(self, table: str, column: str) -> str | None:
        """The type of ``column`` of the copy ``table`` (``format_type``; looked up when a
        write failed)."""
        rows = self._rows(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = "
            "to_regclass(%s) AND attname = %s AND NOT attisdropped",
            (self._t(table).as_string(self.conn), column),
        )
        return str(rows[0][0]) if rows else None

    def defers_keys(self) -> bool:
        """True when a full copy into a new table may build its key afterwards: the range
        checks meanwhile read the chunk's own blocks (TID range scans, PostgreSQL 14+)."""
        return self.conn.info.server_version >= 140000

    def _free_key_name(self, table: str) -> str | None:
        """:func:`key_name`, or None when a relation or constraint of the schema has it
        (PostgreSQL would choose another: the key is then added the plain way)."""
        name = key_name(table)
        taken = self._rows(
            "SELECT EXISTS (SELECT FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname = %s) OR EXISTS (SELECT FROM pg_constraint c "
            "JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = %s "
            "AND c.conname = %s)",
            (self.schema, name, self.schema, name),
        )[0][0]
        return None if taken else name

    def add_key(
        self,
        shape: TableShape,
        state: SyncState,
        beside: Callable[[], Future[Any]] | None = None,
    ) -> None:
        """Build the primary key a full copy deferred (the name and definition the CREATE
        TABLE would have given it), and write ``state`` (key no longer pending) with it. A
        duplicate key is an error naming it; the copied rows stay. ``beside`` starts reads
        of the table on other connections (autocommitted), run while the index is built
        (writers wait from the start of the build to its commit) and waited for before the
        index becomes the key."""
        t, cols = self._t(shape.name), pgcopy.ident_list(shape.key)
        name = self._free_key_name(shape.name) if beside is not None else None
        try:
            with self.conn.transaction():
                # In this one process: parallel workers each get a share of
                # maintenance_work_mem, so their sort spilled to disk and was merged (1M rows,
                # the default 64 MB: 0.27-0.63 s, one process in memory 0.22-0.32 s).
                self.conn.execute("SET LOCAL max_parallel_maintenance_workers = 0")
                if name is None or beside is None:
                    self.conn.execute(
                        sql.SQL("ALTER TABLE {} ADD PRIMARY KEY ({})").format(t, cols)
                    )
                else:
                    self.conn.execute(sql.SQL("LOCK TABLE {} IN SHARE MODE").format(t))
                    reads = beside()
                    try:
                        self.conn.execute(
                            sql.SQL("CREATE UNIQUE INDEX {} ON {} ({})").format(
                                sql.Identifier(name), t, cols
                            )
                        )
                    finally:
                        wait([reads])  # done before the key's exclusive lock (they'd hold it)
                    self.conn.execute(
                        sql.SQL(
                            "ALTER TABLE {} ADD CONSTRAINT {} PRIMARY KEY USING INDEX {}"
                        ).format(t, sql.Identifier(name), sql.Identifier(name))
                    )
                self.conn.execute(with_params(self._state_upsert(), self.conn), state.values())
        except psycopg.Error as exc:
            hint = None
            if long_index_value(exc):  # the copy holds every row, and no key can be built
                forget = sql.SQL("DELETE FROM {} WHERE table_name = {}").format(
                    self._t(STATE_TABLE), sql.Literal(shape.name)
                )
                hint = (
                    f"{LONG_KEY_HINT}; then drop the copy, which has its rows but no key, for "
                    f"the next sync to make it again: DROP TABLE {t.as_string(self.conn)}; "
                    f"{forget.as_string(self.conn)}"
                )
            label = f"{self.label}: building the primary key of {shape.name}"
            raise pg_error(label, exc, hint=hint) from None
        self._c_keys.pop(shape.name, None)
        self.describe(shape.name)

    def add_columns_ddl(self, source: TableShape, names: Sequence[str]) -> list[str]:
        """(See :class:`.side.Side`; each column's type the one :meth:`create_ddl` gives it.)"""
        added = [c for c in source.columns if c.name in names]
        here = self._types_here(added)
        return [
            sql.SQL("ALTER TABLE {} ADD COLUMN {} " + here[c.pg_type])
            .format(self._t(source.name), sql.Identifier(c.name))
            .as_string(self.conn)
            for c in added
        ]

    def drop_empty_copy(self, table: str) -> bool:
        """(See :meth:`.side.Side.drop_empty_copy`.)"""
        t = self._t(table)
        try:
            with self.conn.transaction():
                exists = self._rows("SELECT to_regclass(%s)", (t.as_string(self.conn),))[0][0]
                if exists is None:
                    return False
                if self._rows(sql.SQL("SELECT EXISTS (SELECT FROM {})").format(t))[0][0]:
                    return False
                self.conn.execute(sql.SQL("DROP TABLE {}").format(t))
                state = self._t(STATE_TABLE)
                if self._rows("SELECT to_regclass(%s)", (state.as_string(self.conn),))[0][0]:
                    delete = sql.SQL("DELETE FROM {} WHERE table_name = %s").format(state)
                    self.conn.execute(with_params(delete, self.conn), (table,))
        except psycopg.Error as exc:
            raise pg_error(f"{self.label}: dropping the empty copy of {table}", exc) from None
        self._c_keys.pop(table, None)
        self._notnull.pop(table, None)
        self._scales.pop(table, None)
        return True
