"""The PostgreSQL side's writes (a base of :class:`.side_postgres.PostgresSide`): a chunk
written in one transaction — COPYed straight into a table a full copy fills, or COPYed into a
temp stage then one upsert (rows whose values are all equal left untouched) and the delete of
the range's keys the stage lacks — with its state row, and the table's blocks after a chunk
COPYed in without its key (where the range check reads its rows)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import psycopg
from psycopg import sql

from malnu_tui.engine.backends.base import utc_now
from malnu_tui.engine.backends.pg_sql import with_params
from malnu_tui.engine.data import pgcopy
from malnu_tui.engine.sync.model import SYNCED_AT, ChunkCounts, TableShape
from malnu_tui.engine.sync.side import Bounds, Chunk
from malnu_tui.engine.sync.side_pgbuild import PostgresKeyBuild
from malnu_tui.engine.sync.side_pgkeys import failing_row, pg_error
from malnu_tui.engine.sync.side_pgstate import PostgresState
from malnu_tui.engine.sync.side_pgtypes import compared_as_text
from malnu_tui.engine.sync.values import to_postgres

__all__ = ["PostgresWrites"]

_err = pg_error


class _Range(Protocol):
    def __call__(
        self, shape: TableShape, bounds: Bounds, alias: str = ""
    ) -> tuple[list[sql.Composable], list[Any]]: ...


class PostgresWrites(PostgresKeyBuild, PostgresState):
    """Chunks written into tables in ``schema`` (stages, upserts, deletes, the state row)."""

    _stages: dict[str, str]  # table → its temp stage (rows deleted at commit)
    _synced_default: dict[str, bool]  # table → synced_at has a default (see describe)
    heap_end: dict[str, int]  # table → its blocks after a chunk (key pending)
    _blocks_q: dict[str, sql.Composed]  # table → _state_blocks's statement
    _sequences: dict[str, list[tuple[str, str]]]  # table → its serial/identity columns
    sequence_warnings: dict[str, list[str]]  # table → sequences it could not move
    # What PostgresSide, the class this is a base of, gives: a key range's conditions.
    _range: _Range

    def stamps_by_default(self, table: str) -> bool:
        """True when the table's ``synced_at`` has a default (a copy made by the sync), so a
        full copy into it sends the data columns only."""
        return bool(self._synced_default.get(table))

    def _stage(self, shape: TableShape) -> sql.Identifier:
        name = self._stages.get(shape.name)
        if name is None:
            name = f"malnu_sync_stage_{len(self._stages)}"
            pgcopy.create_stage(self.conn, name, like=self._t(shape.name), on_commit="delete rows")
            self._stages[shape.name] = name
        return sql.Identifier(name)

    def _copy_data(
        self, target: sql.Composable, columns: Sequence[str], data: bytes | bytearray
    ) -> None:
        q = sql.SQL("COPY {} ({}) FROM STDIN").format(target, pgcopy.ident_list(columns))
        # (psycopg sends it in slices: views, not copies)
        pgcopy.copy_in(self.conn, q, lambda copy: copy.write(memoryview(data)))

    def write_chunk(self, shape: TableShape, chunk: Chunk) -> ChunkCounts:
        rows, state, bounds, delete = chunk.rows, chunk.state, chunk.bounds, chunk.delete
        direct, last_key = chunk.direct, chunk.last_key
        now = utc_now()
        convert = to_postgres([c.kind for c in shape.columns])
        t = self._t(shape.name)
        self.refuse_unscaled(shape, rows)
        inserted = updated = deleted = 0
        blocks = False
        try:
            with self.conn.transaction():
                self._ensure_state_table()
                stamped = direct and self.stamps_by_default(shape.name)
                if direct and chunk.data is not None and stamped:
                    self._copy_data(t, shape.names, chunk.data)  # made by copy_bytes
                    blocks = state.key_pending  # where its rows lie, for the range check
                elif stamped:
                    data = rows if convert is tuple else list(map(convert, rows))
                    pgcopy.copy_rows(self.conn, t, shape.names, data)
                elif direct:
                    data = [(*convert(r), now) for r in rows]
                    pgcopy.copy_rows(self.conn, t, (*shape.names, SYNCED_AT), data)
                else:
                    stage = self._stage(shape)
                    if chunk.data is not None:
                        self._copy_data(stage, shape.names, chunk.data)
                    else:
                        pgcopy.copy_rows(self.conn, stage, shape.names, list(map(convert, rows)))
                    inserted, updated = self._upsert(shape, stage, now)
                    deleted += self._delete_range(shape, stage, bounds)
                if direct:
                    inserted = len(rows)
                if not self.stamps_by_default(shape.name) and (
                    inserted or shape.name not in self._sequences  # and a copy synced before
                ):
                    self._advance_sequences(shape)
                if delete:
                    cond = sql.SQL(" AND ").join(
                        sql.SQL("{} = %s").format(sql.Identifier(k)) for k in shape.key
                    )
                    with self.conn.cursor() as cur:
                        for k in delete:
                            cur.execute(
                                with_params(
                                    sql.SQL("DELETE FROM {} WHERE {}").format(t, cond), self.conn
                                ),
                                k,
                            )
                            deleted += max(cur.rowcount, 0)
                if deleted and shape.name in self._fresh:
                    self._fresh[shape.name] = None  # not only inserted keys: no tally
                counts = ChunkCounts(inserted, updated, deleted)
                values = state.advanced(counts, len(rows), last_key).values()
                if blocks:  # the table's blocks now, told by the state row's statement
                    row = self.conn.execute(
                        with_params(self._state_blocks(shape.name), self.conn), values
                    ).fetchone()
                    self.heap_end[shape.name] = int(row[0])  # type: ignore[index]
                else:
                    self.conn.execute(with_params(self._state_upsert(), self.conn), values)
        except psycopg.Error as exc:
            self._stages.pop(shape.name, None)  # a stage created in this transaction is gone
            if shape.name in self._fresh:  # its upsert's keys were tallied, then rolled back
                self._fresh[shape.name] = None
            there = t.as_string(self.conn)
            where, hint = failing_row(
                shape, rows, exc, there, lambda c: self._copy_type(shape.name, c)
            )
            label = f"{self.label}: writing {shape.name}{where}"
            raise _err(
                label,
                exc,
                writing=True,
                row_named=bool(where),
                hint=hint,
                conn=self.conn,
                columns=shape.names,
            ) from None
        return counts

    def _advance_sequences(self, shape: TableShape) -> None:
        """A copy's serial or identity columns (a mirror that `up` built from the source's
        migrations) have their sequences moved past the ids the chunk wrote, as the import's
        are (:func:`.pgcopy.advance_sequences`). A copy the sync made (its ``synced_at`` has
        a default) has none, and is not asked."""
        t = self._t(shape.name)
        owned = self._sequences.get(shape.name)
        if owned is None:
            owned = self._sequences[shape.name] = pgcopy.owned_sequences(self.conn, t, shape.names)
        refused = pgcopy.advance_sequences(self.conn, t, owned, "synced") if owned else []
        if refused:  # said once; not tried again in this run
            self._sequences[shape.name] = []
            self.sequence_warnings.setdefault(shape.name, []).extend(refused)

    def settle_sequences(self, shape: TableShape) -> None:
        """At a table's end, its sequences moved past its ids when no chunk of this run did
        (an incremental pass that wrote nothing): a mirror synced before sequences were moved
        had them at 1 until a row of that table changed (a class list, for months)."""
        if shape.name in self._sequences or self.stamps_by_default(shape.name):
            return
        try:
            with self.conn.transaction():
                self._advance_sequences(shape)
        except psycopg.Error as exc:
            raise _err(f"{self.label}: {shape.name}", exc, conn=self.conn) from None

    def _state_blocks(self, table: str) -> sql.Composed:
        """The state row's upsert, returning how many blocks ``table`` has."""
        q = self._blocks_q.get(table)
        if q is None:
            size = "pg_relation_size({}::regclass) / current_setting('block_size')::int"
            q = self._state_upsert() + sql.SQL(" RETURNING " + size).format(
                sql.Literal(self._t(table).as_string(self.conn))
            )
            self._blocks_q[table] = q
        return q

    def _delete_range(self, shape: TableShape, stage: sql.Identifier, bounds: Bounds | None) -> int:
        """Delete the keys of ``bounds`` that are not in the stage (gone at the source)."""
        if bounds is None:
            return 0
        where, params = self._range(shape, bounds, alias="d")
        match = sql.SQL(" AND ").join(
            sql.SQL("s.{k} = d.{k}").format(k=sql.Identifier(k)) for k in shape.key
        )
        where.append(sql.SQL("NOT EXISTS (SELECT 1 FROM {} s WHERE {})").format(stage, match))
        q = sql.SQL("DELETE FROM {} d WHERE {}").format(
            self._t(shape.name), sql.SQL(" AND ").join(where)
        )
        cur = self.conn.execute(with_params(q, self.conn), params)
        return max(cur.rowcount, 0)

    def _upsert(self, shape: TableShape, stage: sql.Identifier, now: str) -> tuple[int, int]:
        """One INSERT … SELECT from the stage (engine/data's shared upsert): rows whose values
        are all equal are left untouched (compared as text where a type's ``=`` is no identity:
        ``compared_as_text``)."""
        data = [c for c in shape.names if c not in shape.key]
        returning, tally = self._upsert_extras(shape, stage)
        q = pgcopy.upsert_sql(
            self._t(shape.name),
            stage,
            (*shape.names, SYNCED_AT),
            shape.key,
            "update" if data else "skip",
            values=[*map(sql.Identifier, shape.names), sql.SQL("%s::timestamp")],
            only_changed=data,
            compare_as_text=[c.name for c in shape.columns if compared_as_text(c)],
            returning=returning,
            tally=tally,
            overriding=True,  # a GENERATED ALWAYS identity takes the source's ids, as COPY does
        )
        row = self.conn.execute(with_params(q, self.conn), (now,)).fetchone()  # (in write_chunk)
        assert row is not None
        self._upsert_done(shape, row)
        return int(row[0]), int(row[1])
