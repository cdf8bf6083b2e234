"""The sync's state table in PostgreSQL (a base of :class:`.side_postgres.PostgresSide`):
``malnu_sync`` created with the first write, upgraded when a release added a column to it
(read as NULL until then: ``sync status`` opens a database read-only), and its rows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import psycopg
from psycopg import sql

from malnu_tui.engine.backends.pg_session import role_name, sql_name
from malnu_tui.engine.backends.pg_sql import create_schema_if_missing, with_params
from malnu_tui.engine.supabase_target import close_new_tables
from malnu_tui.engine.sync.side import (
    STATE_COLUMNS,
    STATE_DDL,
    STATE_TABLE,
    SyncState,
    state_select,
    state_upgrade,
)
from malnu_tui.engine.sync.side_pgkeys import PostgresKeys, pg_error

if TYPE_CHECKING:
    from malnu_tui.engine.backends.postgresql import PostgresBackend

__all__ = ["PostgresState"]


class PostgresState(PostgresKeys):
    """``malnu_sync`` in the target's schema."""

    backend: PostgresBackend
    _state_ready = False  # created (and upgraded) by a committed write of this session
    _upsert_q: sql.Composed | None = None

    def _state_upsert(self) -> sql.Composed:
        if self._upsert_q is None:  # made once: it is written with every chunk
            cols = sql.SQL(", ").join(sql.Identifier(c) for c in STATE_COLUMNS)
            sets = sql.SQL(", ").join(
                sql.SQL("{c} = excluded.{c}").format(c=sql.Identifier(c)) for c in STATE_COLUMNS[1:]
            )
            ph = sql.SQL(", ").join(sql.Placeholder() for _ in STATE_COLUMNS)
            self._upsert_q = sql.SQL(
                "INSERT INTO {} ({}) VALUES ({}) ON CONFLICT (table_name) DO UPDATE SET {}"
            ).format(self._t(STATE_TABLE), cols, ph, sets)
        return self._upsert_q

    def _ensure_state_table(self) -> None:
        """The state table, made (and, where Supabase's API serves the schema, closed to it in
        the same transaction, as the tool's other tables: pg_schema) or upgraded."""
        if self._state_ready:
            return
        name = self._t(STATE_TABLE).as_string(self.conn)
        present = self._state_columns()
        if present:  # CREATE … IF NOT EXISTS asks for CREATE on the schema even then: a role
            # without it (the DBA made the table) failed every sync ("permission denied for
            # schema public")
            for ddl in state_upgrade(present, name):
                self.conn.execute(ddl.encode())
            return
        create_schema_if_missing(self.conn, self.schema)
        self.conn.execute(STATE_DDL.format(t=name).encode())
        if self.backend.served_by_api() is not None:
            close_new_tables(self.conn, self.schema, [STATE_TABLE])

    def _state_columns(self) -> list[str]:
        """The state table's columns (none: there is no state table)."""
        rows = self._rows(
            "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attnum > 0 "
            "AND NOT attisdropped",
            (self._t(STATE_TABLE).as_string(self.conn),),
        )
        return [str(r[0]) for r in rows]

    def _read_states(self, where: str, params: tuple[str, ...] = ()) -> list[SyncState]:
        present = self._state_columns()
        if not present:
            return []
        q = sql.SQL("SELECT {} FROM {} " + where).format(
            sql.SQL(", ").join(sql.SQL(c) for c in state_select(present)), self._t(STATE_TABLE)
        )
        return [SyncState.from_row(r) for r in self._rows(q, params)]

    def read_state(self, table: str) -> SyncState | None:
        found = self._read_states("WHERE table_name = %s", (table,))
        return found[0] if found else None

    def all_states(self) -> list[SyncState]:
        return self._read_states("ORDER BY 1")

    def write_state(self, state: SyncState) -> None:
        try:
            with self.conn.transaction():
                self._ensure_state_table()
                self.conn.execute(with_params(self._state_upsert(), self.conn), state.values())
            self._state_ready = True
        except psycopg.Error as exc:
            raise pg_error(self.label, exc) from None

    def missing_grants(self, tables: Sequence[str]) -> list[tuple[str, str]]:
        """What this role lacks to write the copies of ``tables`` (an existing copy needs
        SELECT, INSERT, UPDATE and DELETE, the state table the first three; a new copy, CREATE
        on the schema; the stage, TEMPORARY on the database), as (problem, the GRANT) pairs.
        Asked before anything is written: a role without DELETE had the sync's upserts
        committed, then failed at its deletes."""
        names = [*tables, STATE_TABLE]
        rows = self._rows(
            "SELECT to_regclass(q) IS NOT NULL, (SELECT string_agg(p, ', ' ORDER BY o) FROM "
            "unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']) WITH ORDINALITY AS x(p, o) "
            "WHERE to_regclass(q) IS NOT NULL AND NOT has_table_privilege(q, p)), "
            "has_schema_privilege(%s, 'CREATE') "
            "FROM unnest(%s::text[]) WITH ORDINALITY AS t(q, i) ORDER BY i",
            (self.schema, [self._t(t).as_string(self.conn) for t in names]),
        )
        role = role_name(self.conn) or "…"
        out = []
        for table, (exists, lacks, may_create) in zip(names, rows, strict=True):
            q = self._t(table).as_string(self.conn)
            # (the state table's rows are deleted only with an empty copy the sync dropped)
            keep = ("DELETE",) if table == STATE_TABLE else ()
            lacking = ", ".join(p for p in (lacks or "").split(", ") if p and p not in keep)
            if exists and lacking:
                grant = f"GRANT {lacking} ON {q} TO {role}"
                out.append((f"{table}: role {role} lacks {lacking} on {q}", grant))
            elif not exists and not may_create and table != STATE_TABLE:
                grant = f"GRANT CREATE ON SCHEMA {sql_name(self.schema)} TO {role}"
                out.append((f"{table}: role {role} may not create its copy here", grant))
        # Rows are staged in a temporary table (a hardened server revokes TEMP from PUBLIC).
        db = self._rows("SELECT current_database(), has_database_privilege(current_database(), "
                        "'TEMPORARY')")[0]  # fmt: skip
        if not db[1]:
            grant = f"GRANT TEMPORARY ON DATABASE {sql_name(str(db[0]))} TO {role}"
            where = f"database {db[0]}: role {role} may not create temporary tables (the stage)"
            out.append((where, grant))
        return out
