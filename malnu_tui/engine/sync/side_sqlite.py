"""The sync's side for SQLite-dialect databases: local SQLite files here, and the shared SQL
that the D1 side (:mod:`malnu_tui.engine.sync.side_d1`) sends over HTTP."""

from __future__ import annotations

import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from malnu_tui.engine.backends.base import AUDIT_TABLE, Kind, utc_now
from malnu_tui.engine.backends.other_runners import HISTORY_TABLES
from malnu_tui.engine.backends.sqlite_open import disk_hint
from malnu_tui.engine.backends.sqlite_sql import STAGE_PREFIX
from malnu_tui.engine.data import sqlwrite
from malnu_tui.engine.errors import BackendError
from malnu_tui.engine.sync.copy_refused import REFUSED, not_null_refusal
from malnu_tui.engine.sync.model import (
    SYNCED_AT,
    ChunkCounts,
    Column,
    Key,
    Row,
    TableShape,
    key_text,
)
from malnu_tui.engine.sync.pagesize import PageSizer
from malnu_tui.engine.sync.side import STATE_TABLE, Bounds, Chunk, SyncState
from malnu_tui.engine.sync.side_sqlchanged import SqliteChanged
from malnu_tui.engine.sync.side_sqlkeys import SqliteKeys, key_order, key_sql, q
from malnu_tui.engine.sync.side_sqlstate import SqliteState
from malnu_tui.engine.sync.sqlite_values import (
    is_utf8,
    not_utf8_column,
    not_utf8_error,
    not_utf8_key,
    unstorable_value,
)
from malnu_tui.engine.sync.values import (
    kind_of,
    pg_type_for_sqlite,
    sqlite_decl_for,
    sqlite_param,
    to_sqlite,
)

if TYPE_CHECKING:
    from malnu_tui.engine.backends.sqlite import SQLiteBackend

__all__ = ["SqliteDialect", "SqliteSide", "key_sql", "q", "size_sql"]

TOOL_TABLES = HISTORY_TABLES | {
    "migrations",
    "malnu_audit",
    "malnu_lock",
    STATE_TABLE,
    "sqlite_sequence",
    "d1_migrations",
}


def row_placeholders(n: int) -> str:
    return "(" + ", ".join("?" * n) + ")"


def size_sql(shape: TableShape) -> str:
    """The size of a row as it travels in D1's JSON answer (BLOBs as hex: twice their size)."""
    sizes = " + ".join(
        f"CASE WHEN typeof({q(c.name)}) = 'blob' THEN 2 * length({q(c.name)}) "
        f"ELSE coalesce(length(CAST({q(c.name)} AS BLOB)), 0) END"
        for c in shape.columns
    )
    return sizes or "0"


class SqliteDialect(SqliteKeys, SqliteChanged, SqliteState, PageSizer, ABC):
    """SQL text of the SQLite dialect, and the reading logic on top of ``_rows`` (which each
    executor, a local file or D1's HTTP API, provides)."""

    kind: Kind
    label: str
    read_page_cap = 1_000_000
    _scanning = False  # looking for a text that is not UTF-8 (_not_utf8)

    @abstractmethod
    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one read statement and return its rows."""

    def _select_list(self, shape: TableShape) -> str:
        return ", ".join(q(c.name) for c in shape.columns)

    def _decode(self, shape: TableShape, rows: list[tuple[Any, ...]]) -> list[Row]:
        return rows

    def _read(self, shape: TableShape, sql: str, params: Sequence[Any]) -> list[Row]:
        """The rows of ``shape`` that ``sql`` selects (its select list's), decoded."""
        return self._decode(shape, self._rows(sql, params))

    # -- schema ---------------------------------------------------------------------------
    def triggers(self, table: str) -> list[str]:
        rows = self._rows(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ? "
            "COLLATE NOCASE ORDER BY name",
            (table,),
        )
        return [str(r[0]) for r in rows]

    def tables(self) -> list[str]:
        # Not a virtual table (an FTS5 index) nor its shadow tables: derived data, without keys
        # (they stopped every sync). table_list tells them apart, on D1 too. Nor the staging
        # table a killed D1 import left: a pair of every table copied it as a table of its own.
        rows = self._rows("PRAGMA table_list")
        return sorted(
            str(name)
            for schema, name, kind, *_ in rows
            if schema == "main"
            and kind == "table"
            and not str(name).startswith(("sqlite_", "_cf_", STAGE_PREFIX))
            and name not in TOOL_TABLES
        )

    def describe(self, table: str) -> TableShape | None:
        if table not in self.tables():
            return None
        info = self._rows(f"PRAGMA table_xinfo({q(table)})")
        cols: list[Column] = []
        pk: list[tuple[int, str]] = []
        has_synced = False
        generated: list[str] = []
        after: list[str] = []  # TableShape.after_stamp
        for _cid, name, decl, notnull, _dflt, pkpos, hidden in info:
            if hidden:  # 2, 3: generated (not copied, see TableShape.generated); 1: a vtab's
                if int(hidden) in (2, 3):
                    generated.append(str(name))
                continue
            if name == SYNCED_AT:
                has_synced = True
                continue
            pg = pg_type_for_sqlite(str(decl or ""))
            cols.append(Column(str(name), pg, kind_of(pg), str(decl or ""), bool(notnull)))
            if has_synced:
                after.append(str(name))
            if pkpos:
                pk.append((int(pkpos), str(name)))
        key = [n for _, n in sorted(pk)]
        if not key:
            key = self._unique_index(table)
        # SQLite lets NULL into any key column but the rowid's own, an INTEGER PRIMARY KEY (a
        # WITHOUT ROWID table's key columns are said NOT NULL).
        rowid = {n for _, n in pk if len(pk) == 1}
        nullable = tuple(
            c.name
            for c in cols
            if c.name in key
            and not c.notnull
            and not (c.name in rowid and c.declared.strip().upper() == "INTEGER")
        )
        return TableShape(
            table,
            tuple(cols),
            tuple(key),
            has_synced,
            bool(key),
            generated=tuple(generated),
            after_stamp=tuple(after),
            nullable_key=nullable,
        )

    def _unique_index(self, table: str) -> list[str]:
        for row in self._rows(f"PRAGMA index_list({q(table)})"):
            name, unique, partial = str(row[1]), int(row[2]), int(row[4])
            if unique and not partial:
                cols = [r[2] for r in self._rows(f"PRAGMA index_info({q(name)})")]
                if cols and all(c is not None for c in cols):
                    return [str(c) for c in cols]
        return []

    def _decl(self, source: TableShape, c: Column) -> str:
        """The copy's declared type of ``c``: a SQLite or D1 source's own, none too (a
        key-value table's ``value``: every value kept as given — as TEXT, SQLite stored a REAL
        as its 15-digit text, ``1.79769313486232e+308``, different for ever)."""
        if source_is_sqlite(source):
            return c.declared
        return sqlite_decl_for(c.pg_type)

    def add_columns_ddl(self, source: TableShape, names: Sequence[str]) -> list[str]:
        """(See :class:`.side.Side`.)"""
        return [
            f"ALTER TABLE {q(source.name)} ADD COLUMN {q(c.name)} {self._decl(source, c)}".rstrip()
            for c in source.columns
            if c.name in names
        ]

    def create_ddl(self, source: TableShape) -> str:
        parts = []
        for c in source.columns:
            decl = self._decl(source, c)
            parts.append(f"{q(c.name)} {decl}".rstrip() + (" NOT NULL" if c.notnull else ""))
        parts.append(f"{q(SYNCED_AT)} DATETIME")
        if source.key:  # none: a table copied whole (.whole)
            parts.append(f"PRIMARY KEY ({', '.join(q(k) for k in source.key)})")
        return f"CREATE TABLE {q(source.name)} ({', '.join(parts)})"

    def count(self, table: str) -> int:
        return int(self._rows(f"SELECT count(*) FROM {q(table)}")[0][0])

    # -- reads ----------------------------------------------------------------------------
    def _where(self, shape: TableShape, bounds: Bounds) -> tuple[list[str], list[Any]]:
        lo, hi = bounds
        k = key_sql(shape)
        ph = row_placeholders(len(shape.key))
        where: list[str] = []
        params: list[Any] = []
        if lo is not None:
            where.append(f"{k} > {ph}")
            params.extend(lo)
        if hi is not None:
            where.append(f"{k} <= {ph}")
            params.extend(hi)
        return where, params

    def pages(
        self,
        shape: TableShape,
        *,
        after: Key | None,
        page_rows: int,
        cursor: str | None = None,
        since: str | None = None,
        upto: Key | None = None,
        select: str | None = None,
    ) -> Iterator[list[Row]]:
        """(See :class:`Side`.) ``select``: another select list (the key columns as they are)."""
        page_rows = min(page_rows, self.read_page_cap)
        order = ", ".join(key_order(shape))
        kidx = shape.key_index
        base = f"SELECT {select or self._select_list(shape)} FROM {q(shape.name)}"
        extra, extra_params, counted = (
            self._changed(shape, cursor, since, page_rows) if cursor else ("", [], None)
        )
        read, limit = 0, self._page_limit(shape, page_rows, None)
        while True:
            where, params = self._where(shape, (after, upto))
            if extra:
                where.append(extra)
                params.extend(extra_params)
            sql = base + (" WHERE " + " AND ".join(where) if where else "")
            try:
                rows = self._read(shape, f"{sql} ORDER BY {order} LIMIT ?", [*params, limit])
            except BackendError as exc:
                self._not_utf8(shape, exc, after, upto)
                raise
            if not rows:
                return
            yield rows
            read += len(rows)
            if len(rows) < limit or (counted is not None and read >= counted):
                # All the rows counted as changed are read: a row changed since (stamped later)
                # is read by the next sync (another statement would gather every key again).
                return
            limit = self._page_limit(shape, page_rows, rows)
            last = rows[-1]
            after = tuple(last[i] for i in kidx)

    def _largest_sampled(self, shape: TableShape) -> Any:
        return self._rows(
            f"SELECT max(s) FROM (SELECT {size_sql(shape)} AS s FROM {q(shape.name)} "
            f"LIMIT {self.sample_rows})"
        )[0][0]

    def range_rows(self, shape: TableShape, bounds: Bounds) -> Iterator[list[Row]]:
        return self.pages(shape, after=bounds[0], upto=bounds[1], page_rows=self.read_page_cap)

    def server_hashing(self, shape: TableShape) -> bool:
        return False

    def range_digest(self, shape: TableShape, bounds: Bounds) -> tuple[int, int]:
        raise BackendError(f"{self.label}: no server-side hashing in SQLite")

    def range_hashes(self, shape: TableShape, bounds: Bounds) -> list[tuple[Key, int]]:
        raise BackendError(f"{self.label}: no server-side hashing in SQLite")

    def rows_for_keys(self, shape: TableShape, keys: Sequence[Key]) -> list[Row]:
        out: list[Row] = []
        width = len(shape.key)
        per = max(1, 90 // width)
        for i in range(0, len(keys), per):
            batch = keys[i : i + per]
            values = ", ".join(row_placeholders(width) for _ in batch)
            sql = (
                f"SELECT {self._select_list(shape)} FROM {q(shape.name)} "
                f"WHERE {key_sql(shape)} IN (VALUES {values})"
            )
            try:
                out.extend(self._read(shape, sql, [v for k in batch for v in k]))
            except BackendError as exc:
                self._not_utf8(shape, exc, None, None)
                raise
        return out

    def _not_utf8(
        self, shape: TableShape, exc: BackendError, after: Key | None, upto: Key | None
    ) -> None:
        """When ``exc`` is a text SQLite's driver could not read as UTF-8 (it names the
        column, not the row), raises the error naming the first such row after ``after``."""
        column = not_utf8_column(str(exc))
        if column is None or self._scanning:
            return
        self._scanning = True
        try:
            keyed = [k for k in shape.key if column in (k, f"quote({q(k)})")]
            if keyed:  # a key: looked for in the key's bytes (no row can be read by it)
                blobs = ", ".join(f"CAST({q(k)} AS BLOB)" for k in shape.key)
                c = q(keyed[0])
                found = self._rows(
                    f"SELECT {blobs} FROM {q(shape.name)} WHERE typeof({c}) = 'text'"
                )
                raise not_utf8_key(self.label, shape, keyed[0], found) from None
            self._not_utf8_scan(shape, column, after, upto)
        finally:
            self._scanning = False

    def mixed_key(self, shape: TableShape) -> str | None:
        """(See :class:`.side.Side`; a key that is not UTF-8 named.)"""
        try:
            return super().mixed_key(shape)
        except BackendError as exc:
            self._not_utf8(shape, exc, None, None)
            raise

    def _not_utf8_scan(
        self, shape: TableShape, column: str, after: Key | None, upto: Key | None
    ) -> None:
        named = [n for n in shape.names if n not in shape.key]
        for name in [column] if column in named else named:
            i, c = shape.names.index(name), q(name)
            select = ", ".join(
                q(n)
                if n in shape.key
                else f"CASE WHEN typeof({c}) = 'text' THEN CAST({c} AS BLOB) END"
                if n == name
                else "NULL"
                for n in shape.names
            )
            for page in self.pages(shape, after=after, upto=upto, page_rows=10_000, select=select):
                for row in page:
                    raw = row[i]
                    if isinstance(raw, bytes) and not is_utf8(raw):
                        key = tuple(row[k] for k in shape.key_index)
                        raise not_utf8_error(self.label, shape, key, name, raw) from None

    def keys_digest(self, shape: TableShape, keys: Sequence[Key]) -> tuple[int, int]:
        raise BackendError(f"{self.label}: no server-side hashing in SQLite")

    # -- writes (shared SQL) --------------------------------------------------------------
    def _upsert_head(self, shape: TableShape) -> str:
        """``INSERT OR ABORT INTO t (columns…, synced_at) VALUES `` (engine/data's shared SQL):
        a copy's ``UNIQUE ON CONFLICT REPLACE`` deleted the row that held a value a synced row
        brought (and its children by cascade), counted as nothing; the refusal is now resolved
        by :mod:`.uniques`."""
        return sqlwrite.insert_head(shape.name, (*shape.names, SYNCED_AT), sqlwrite.IMPORT_INSERT)

    def _upsert_tail(self, shape: TableShape) -> str:
        """The conflict clause: every column set from the source's row and ``synced_at``
        stamped, unless the data columns are all equal (the row is then left untouched)."""
        data = [c for c in shape.names if c not in shape.key]
        return sqlwrite.conflict_clause(
            shape.name,
            (*shape.names, SYNCED_AT),
            shape.key,
            "update" if data else "skip",
            only_changed=data,
        )


def source_is_sqlite(shape: TableShape) -> bool:
    """True when the shape was read from a SQLite-dialect side (declared types kept)."""
    return all(
        c.declared == "" or c.pg_type == pg_type_for_sqlite(c.declared) for c in shape.columns
    )


class SqliteSide(SqliteDialect):
    """A local SQLite file: reads on the backend's connection, chunks in one transaction."""

    kind: Kind = "sqlite"

    def __init__(self, backend: SQLiteBackend, label: str) -> None:
        self.backend = backend
        self.conn = backend.conn
        self.label = label
        self._row_bytes = {}

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return self.conn.execute(sql, tuple(map(sqlite_param, params))).fetchall()
        except sqlite3.Error as exc:
            raise BackendError(f"{self.label}: {exc}", hint=self._disk(exc)) from None

    def _disk(self, exc: sqlite3.Error) -> str | None:
        """The hint for a full (or failing) disk under this file: a destination a few KiB
        short of room said `…: disk I/O error` and nothing of the disk."""
        return disk_hint(self.backend.path, exc)

    def interrupt(self) -> None:
        """Stop the statement running on this side's connection (from another thread)."""
        self.conn.interrupt()

    def audited(self, action: str, table: str, detail: str) -> bool:
        """Whether this database's audit has a row of ``action`` on ``table`` whose detail
        starts with ``detail`` (False when it has no audit table). Read from the newest row
        back: the last such run is near the end of a long audit."""
        try:
            row = self.conn.execute(
                f"SELECT 1 FROM {AUDIT_TABLE} WHERE action = ? AND object = ? "
                "AND substr(detail, 1, ?) = ? ORDER BY id DESC LIMIT 1",
                (action, table, len(detail), detail),
            ).fetchone()
        except sqlite3.Error:
            return False
        return row is not None

    def create_table(self, source: TableShape) -> None:
        try:
            with self.backend.transaction() as c:
                c.execute(self.create_ddl(source))
        except sqlite3.Error as exc:  # a traceback, where every other write names its table
            raise BackendError(
                f"{self.label}: creating {source.name}: {exc}", hint=self._disk(exc)
            ) from None

    def drop_empty_copy(self, table: str) -> bool:
        """(See :meth:`.side.Side.drop_empty_copy`.)"""
        if table not in self.tables():
            return False
        with self.backend.transaction() as c:
            if c.execute(f"SELECT EXISTS (SELECT 1 FROM {q(table)})").fetchone()[0]:
                return False
            c.execute(f"DROP TABLE {q(table)}")
            if self._has_state_table():
                c.execute(f"DELETE FROM {STATE_TABLE} WHERE table_name = ?", (table,))
        return True

    def _ensure_state_table(self, c: sqlite3.Connection) -> None:
        for ddl in self._state_ddl():
            c.execute(ddl)

    def write_state(self, state: SyncState) -> None:
        with self.backend.transaction() as c:
            self._ensure_state_table(c)
            c.execute(self._state_upsert_sql(), state.values())
        self._state_made = True

    def write_chunk(self, shape: TableShape, chunk: Chunk) -> ChunkCounts:
        rows, state, bounds, delete = chunk.rows, chunk.state, chunk.bounds, chunk.delete
        direct, last_key = chunk.direct, chunk.last_key
        refused = unstorable_value(shape, rows, d1=False)
        if refused is not None:
            raise BackendError(f"{self.label}: writing {shape.name}{refused[0]}", hint=refused[1])
        now = utc_now()
        convert = to_sqlite([c.kind for c in shape.columns])
        values = [(*convert(r), now) for r in rows]
        kidx = shape.key_index
        width = len(shape.key)
        kcols = ", ".join(f"k{i}" for i in range(width))
        # One temp table per key width: it stays for the connection, and one made for a table
        # of another width refused this one's keys ("has 1 columns but 2 values").
        keys = f"temp.malnu_sync_keys_{width}"
        inserted = updated = deleted = 0
        try:
            with self.backend.transaction() as c:
                self.backend.keep_lock()  # no chunk commits once our lock was released
                # The copy's own foreign keys (a mirror `up` built) checked at the chunk's
                # COMMIT, not row by row: a student whose class leader (siswa.ketua_id) comes
                # later in the chunk was refused.
                c.execute("PRAGMA defer_foreign_keys = ON")
                self._ensure_state_table(c)
                ph = row_placeholders(len(shape.names) + 1)
                if direct:
                    c.executemany(self._upsert_head(shape) + ph, values)
                    inserted = len(values)
                else:
                    c.execute(f"CREATE TEMP TABLE IF NOT EXISTS malnu_sync_keys_{width} ({kcols})")
                    c.execute(f"DELETE FROM {keys}")
                    c.executemany(
                        f"INSERT INTO {keys} VALUES {row_placeholders(width)}",
                        [tuple(v[i] for i in kidx) for v in values],
                    )
                    existing = c.execute(
                        f"SELECT count(*) FROM {q(shape.name)} WHERE {key_sql(shape)} IN "
                        f"(SELECT {kcols} FROM {keys})"
                    ).fetchone()[0]
                    # The rows the upsert wrote (sqlite3_changes()): total_changes() counted
                    # the rows the copy's own triggers wrote too (a log row per change said
                    # `updated 4` for one row changed and one inserted).
                    changed = c.executemany(
                        self._upsert_head(shape) + ph + self._upsert_tail(shape), values
                    ).rowcount
                    inserted = len(values) - int(existing)
                    updated = changed - inserted
                    if bounds is not None:
                        where, params = self._where(shape, bounds)
                        where.append(f"{key_sql(shape)} NOT IN (SELECT {kcols} FROM {keys})")
                        cur = c.execute(
                            f"DELETE FROM {q(shape.name)} WHERE {' AND '.join(where)}",
                            [sqlite_param(p) for p in params],
                        )
                        deleted += cur.rowcount
                if delete:
                    cond = " AND ".join(f"{q(k)} = ?" for k in shape.key)
                    # The rows it deleted: total_changes counted the copy's own ON DELETE
                    # CASCADE rows (a student's grades) as deleted from this table too.
                    deleted += c.executemany(
                        f"DELETE FROM {q(shape.name)} WHERE {cond}",
                        [tuple(map(sqlite_param, k)) for k in delete],
                    ).rowcount
                counts = ChunkCounts(inserted, updated, deleted)
                new_state = state.advanced(counts, len(rows), last_key)
                c.execute(self._state_upsert_sql(), new_state.values())
            self._state_made = True
        except sqlite3.IntegrityError as exc:
            found = not_null_refusal(shape, rows, str(exc))
            row, hint = found or (self._refused_row(shape, values, direct), REFUSED)
            raise BackendError(
                f"{self.label}: writing {shape.name}{row}: {exc}", hint=hint if row else None
            ) from None
        except sqlite3.Error as exc:
            raise BackendError(
                f"{self.label}: writing {shape.name}: {exc}", hint=self._disk(exc)
            ) from None
        return counts

    def _refused_row(self, shape: TableShape, values: Sequence[Row], direct: bool) -> str:
        """``, row id=7`` naming the first row of a refused chunk that the table refuses on
        its own (a constraint of the destination's: UNIQUE, CHECK, a STRICT column's type),
        found by writing the rows one by one and rolling back; "" when none is."""
        sql = self._upsert_head(shape) + row_placeholders(len(shape.names) + 1)
        if not direct:
            sql += self._upsert_tail(shape)

        class Found(Exception):
            pass

        try:
            with self.backend.transaction() as c:
                for v in values:
                    try:
                        c.execute(sql, v)
                    except sqlite3.IntegrityError:
                        key = tuple(v[i] for i in shape.key_index)
                        raise Found(f", row {key_text(shape.key, key)}") from None
                raise Found("")  # all taken alone: rolled back all the same
        except Found as found:
            return str(found)
        except sqlite3.Error:
            return ""
