"""The user's tables of a PostgreSQL target, as a backup manifest and ``status`` read them: their
names (the tool's own tables left out), and the schema fingerprint (columns, constraints and
indexes) that tells whether two states of the database have the same shape."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

from malnu_tui.engine.backends.base import AUDIT_TABLE, LOCK_TABLE, TRACKING_TABLE

__all__ = ["TOOL_TABLES", "row_count", "schema_fingerprint", "table_names"]

TOOL_TABLES = (
    TRACKING_TABLE,
    AUDIT_TABLE,
    LOCK_TABLE,
    "malnu_sync",
)  # malnu_sync: the sync's state

Query = Callable[[str, Sequence[Any]], list[Any]]


def table_names(query: Query, data_schema: str, tool_schema: str) -> list[str]:
    """Base tables of ``data_schema`` (the tool's left out where they live there), sorted."""
    rows = query(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
        "AND table_type = 'BASE TABLE' ORDER BY table_name",
        (data_schema,),
    )
    names = [str(r[0]) for r in rows]
    if data_schema == tool_schema:
        names = [n for n in names if n not in TOOL_TABLES]
    return names


def schema_fingerprint(query: Query, data_schema: str, tables: Sequence[str]) -> str:
    """sha256 over columns, constraints and indexes of ``tables``."""
    cols = query(
        "SELECT table_name, column_name, data_type, is_nullable, coalesce(column_default, '') "
        "FROM information_schema.columns WHERE table_schema = %s AND table_name = ANY(%s) "
        "ORDER BY table_name, column_name",
        (data_schema, list(tables)),
    )
    cons = query(
        "SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid) "
        "FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid "
        "JOIN pg_namespace n ON n.oid = t.relnamespace "
        "WHERE n.nspname = %s AND t.relname = ANY(%s) ORDER BY 1, 2",
        (data_schema, list(tables)),
    )
    idx = query(
        "SELECT tablename, indexname, indexdef FROM pg_indexes "
        "WHERE schemaname = %s AND tablename = ANY(%s) ORDER BY 1, 2",
        (data_schema, list(tables)),
    )
    text = "\n".join("|".join(str(v) for v in row) for row in [*cols, *cons, *idx])
    return hashlib.sha256(text.encode()).hexdigest()


def row_count(query: Callable[..., list[Any]], schema: str, table: str) -> int:
    """``count(*)`` of ``schema.table`` (checked against the live schema by the caller)."""
    from psycopg import sql

    rows = query(
        sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(table))
    )
    return int(rows[0][0])
