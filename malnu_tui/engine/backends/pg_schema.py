"""The tool's own tables on PostgreSQL, created or upgraded only when the catalog says they
need it, and only under the migration lock: a read-only command finds them in place with one
catalog read and takes no lock on them (an ``ALTER TABLE`` on every run would queue behind any
session that has read ``migrations`` in an open transaction)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql

from malnu_tui.engine.backends.base import (
    AUDIT_INDEX,
    AUDIT_OBJECT_INDEX,
    AUDIT_OUTCOME_INDEX,
    AUDIT_TABLE,
    LOCK_TABLE,
    TRACKING_TABLE,
    index_left,
)
from malnu_tui.engine.backends.pg_refusals import refuse_read_only
from malnu_tui.engine.backends.pg_rowsec import refuse_narrowed_tool_tables
from malnu_tui.engine.backends.pg_sql import create_schema_if_missing, error_text
from malnu_tui.engine.errors import (
    BackendError,
    ForeignTrackingTable,
    NotInitialised,
    ToolTablesElsewhere,
)
from malnu_tui.engine.supabase_target import close_new_tables

__all__ = [
    "MISSING_AUDIT_INDEX",
    "UPGRADE_COLUMNS",
    "add_missing_columns",
    "create_tool_tables",
    "ensure_tool_tables",
    "missing_columns",
    "refuse_tables_elsewhere",
    "tracking_columns",
    "upgrade_tool_tables",
]

Conn = psycopg.Connection[tuple[Any, ...]]

# Columns a table made by other tools (the seed's scripts) or by an older version of this
# tool may lack; all nullable or defaulted, so adding them changes no existing row.
UPGRADE_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    TRACKING_TABLE: (
        ("executed_at", "TIMESTAMP DEFAULT CURRENT_TIMESTAMP"),
        ("execution_time_ms", "INTEGER"),
        ("success", "BOOLEAN DEFAULT TRUE"),
        ("error_message", "TEXT"),
    ),
    AUDIT_TABLE: (),
    LOCK_TABLE: (("purpose", "TEXT NOT NULL DEFAULT ''"),),
}


def _t(schema: str, table: str) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table))


# The audit table's index on (action, id) (base.AUDIT_INDEX), as :func:`missing_columns`
# reports it missing; and its indexes on (action, object[, outcome], id) (base's
# AUDIT_OBJECT_INDEX, AUDIT_OUTCOME_INDEX), reported so too.
MISSING_AUDIT_INDEX = (AUDIT_TABLE, AUDIT_INDEX)
_AUDIT_INDEXES = {
    AUDIT_INDEX: "action, id",
    AUDIT_OBJECT_INDEX: "action, object, id",
    AUDIT_OUTCOME_INDEX: "action, object, outcome, id",
}


def missing_columns(conn: Conn, schema: str, where: str = "") -> tuple[tuple[str, str | None], ...]:
    """What is missing, from the catalog alone (one read): ``(table, None)`` for a missing
    table, ``(table, column)`` for a missing column, ``(audit table, index)`` for a missing
    audit index (:data:`MISSING_AUDIT_INDEX`…). Empty when everything is in place. A
    ``migrations`` that is not the tool's (Laravel's) is :class:`ForeignTrackingTable`: its
    "missing" columns were added to it."""
    rows = conn.execute(
        "SELECT c.relname, a.attname FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
        "WHERE n.nspname = %s AND c.relname = ANY(%s) AND c.relkind IN ('r', 'p') "
        "UNION ALL SELECT t.relname, i.relname FROM pg_index x "
        "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
        "JOIN pg_namespace n ON n.oid = t.relnamespace "
        "WHERE n.nspname = %s AND t.relname = %s AND i.relname = ANY(%s)",
        (schema, list(UPGRADE_COLUMNS), schema, AUDIT_TABLE, list(_AUDIT_INDEXES)),
    ).fetchall()
    have: dict[str, set[str]] = {}
    for table, column in rows:
        have.setdefault(str(table), set()).add(str(column))
    ours = have.get(TRACKING_TABLE, {"filename", "checksum"})
    if not {"filename", "checksum"} <= ours:
        raise ForeignTrackingTable(
            where or schema,
            f"{schema}.{TRACKING_TABLE}",
            ", ".join(sorted(ours)),
            hint='keep malnu-tui\'s tables in a schema of their own: schema = "malnu" in the '
            "target's config (or ?schema=malnu in the URL); the tool creates them there",
        )
    missing: list[tuple[str, str | None]] = []
    for table, columns in UPGRADE_COLUMNS.items():
        if table not in have:
            missing.append((table, None))
            continue
        missing.extend((table, name) for name, _decl in columns if name not in have[table])
    if AUDIT_TABLE in have:
        missing.extend((AUDIT_TABLE, i) for i in _AUDIT_INDEXES if i not in have[AUDIT_TABLE])
    return tuple(missing)


def refuse_tables_elsewhere(conn: Conn, schema: str, where: str) -> None:
    """Raise :class:`ToolTablesElsewhere` when ``schema`` lacks the tracking table and other
    schemas have the tool's tables with tracking rows (a ``migrations`` table with
    ``filename`` and ``checksum``, beside ``malnu_audit``: another tool's ``migrations`` table
    is not taken for ours)."""
    rows = conn.execute(
        "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relname = %s AND c.relkind IN ('r', 'p') AND n.nspname <> %s "
        "AND EXISTS (SELECT 1 FROM pg_class a WHERE a.relnamespace = n.oid AND a.relname = %s) "
        "AND (SELECT count(*) FROM pg_attribute x WHERE x.attrelid = c.oid "
        "AND x.attname IN ('filename', 'checksum') AND NOT x.attisdropped) = 2 "
        "ORDER BY n.nspname",
        (TRACKING_TABLE, schema, AUDIT_TABLE),
    ).fetchall()
    found: list[tuple[str, int]] = []
    for (name,) in rows:
        try:
            with conn.transaction():
                (count,) = conn.execute(  # type: ignore[misc]
                    sql.SQL("SELECT count(*) FROM {}").format(_t(str(name), TRACKING_TABLE))
                ).fetchone()
        except psycopg.errors.InsufficientPrivilege:
            continue  # a set this role may not read is not the one it works with
        if count:  # an empty set (a `status` run once there) records nothing to run again
            found.append((str(name), int(count)))
    if found:
        raise ToolTablesElsewhere(where, schema, found)


def _create_audit_index(conn: Conn, schema: str, name: str, *, empty: bool = False) -> None:
    conn.execute(
        sql.SQL(
            "CREATE INDEX IF NOT EXISTS {} ON {} ("
            + _AUDIT_INDEXES[name]
            + (") WHERE false" if empty else ")")
        ).format(sql.Identifier(name), _t(schema, AUDIT_TABLE))
    )


def tracking_columns(missing: tuple[tuple[str, str | None], ...]) -> dict[str, sql.Composable]:
    """The tracking table's upgradable columns as a SELECT names them: a read-only open reads
    the seed's older table as it is, a typed NULL for each column it lacks."""
    absent = {c for t, c in missing if t == TRACKING_TABLE}
    return {
        name: sql.SQL("NULL::{}").format(sql.SQL(decl.split()[0]))
        if name in absent
        else sql.Identifier(name)
        for name, decl in UPGRADE_COLUMNS[TRACKING_TABLE]
    }


# What leaves an audit index unmade on an existing trail, the command going on without it (it
# only speeds `check` up): a role that does not own malnu_audit (the DBA's tables, the
# operator's role granted SELECT, INSERT, UPDATE, DELETE as `log` says), or its build stopped
# by the role's statement_timeout or lock_timeout. Every command that may write failed on it.
_INDEX_LEFT = {"42501", "57014", "55P03"}
_QUERY_CANCELED = "57014"  # (statement_timeout)


def _audit_index_or_said(conn: Conn, schema: str, name: str) -> None:
    try:
        with conn.transaction():  # (a savepoint: the columns beside it are kept)
            _create_audit_index(conn, schema, name)
    except psycopg.Error as exc:
        if exc.sqlstate not in _INDEX_LEFT:
            raise
        role = conn.execute("SELECT current_user").fetchone()
        why = f"{error_text(exc)}; role {role[0] if role else '?'}"
        if exc.sqlstate == _QUERY_CANCELED and _made_empty(conn, schema, name):
            index_left(
                f"the audit index {name} was not made ({why}): the trail is too long to index "
                "within the statement_timeout, so it was made empty (WHERE false: no query uses "
                "it) and no later command waits the timeout for it again; `check` reads the "
                "trail without it, slower on a long one. To have it, as the table's owner "
                f'(psql): DROP INDEX "{schema}".{name}; SET statement_timeout = 0; '
                f'CREATE INDEX CONCURRENTLY {name} ON "{schema}".{AUDIT_TABLE} '
                f"({_AUDIT_INDEXES[name]});"
            )
            return
        index_left(
            f"the audit index {name} was not made ({why}): `check` reads the trail without "
            "it, slower on a long one; a command run once by the table's owner, or this "
            f'CREATE INDEX, makes it: CREATE INDEX IF NOT EXISTS {name} ON "{schema}".'
            f"{AUDIT_TABLE} ({_AUDIT_INDEXES[name]});"
        )


def _made_empty(conn: Conn, schema: str, name: str) -> bool:
    """Make the audit index ``name`` whose build ``statement_timeout`` stopped empty (``WHERE
    false``: one read of the table, no sort; 0.44 s where the build took 14 s at two million
    rows, PostgreSQL 15), as D1's is (:func:`.sqlite_sql.empty_audit_index`): the catalog then
    has it, and no later command tries it again. Every command that may write waited the
    whole timeout for it, then went on without it, for ever. False if that failed too."""
    try:
        with conn.transaction():
            _create_audit_index(conn, schema, name, empty=True)
    except psycopg.Error as exc:
        if exc.sqlstate not in _INDEX_LEFT:
            raise
        return False
    return True


def create_tool_tables(conn: Conn, schema: str, migration_key: int, *, closed: bool) -> None:
    """Create the schema and the three tables (a first run), under the migration lock.
    ``closed`` (Supabase's API serves the schema): those made now get row level security and
    lose anon's and authenticated's rights in the same transaction
    (:func:`~malnu_tui.engine.supabase_target.close_new_tables`); one there before is left
    as it is (``doctor`` and ``check`` name it, with the statement)."""
    tables = (TRACKING_TABLE, AUDIT_TABLE, LOCK_TABLE)
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (migration_key,))
        absent = [
            str(r[0])
            for r in conn.execute(
                "SELECT t FROM unnest(%s::text[]) WITH ORDINALITY AS x(t, i) "
                "WHERE to_regclass(format('%%I.%%I', %s::text, t)) IS NULL ORDER BY i",
                (list(tables), schema),
            ).fetchall()
        ]
        if not absent:
            # Another session made them while we waited for the lock: let go of it at once.
            # Held a moment longer, an `up` taking the migration lock (the same key) just then
            # was told the lock is held (a first `status` beside a first `up`).
            return
        create_schema_if_missing(conn, schema)
        conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} ("
                "id INTEGER GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, "
                "filename TEXT NOT NULL UNIQUE, checksum TEXT NOT NULL, "
                "executed_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP, execution_time_ms INTEGER, "
                "success BOOLEAN DEFAULT TRUE, error_message TEXT)"
            ).format(_t(schema, TRACKING_TABLE))
        )
        conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} ("
                "id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, "
                "at TIMESTAMP NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, "
                "object TEXT NOT NULL, outcome TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '')"
            ).format(_t(schema, AUDIT_TABLE))
        )
        conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} ("
                "id INTEGER PRIMARY KEY CHECK (id = 1), owner TEXT NOT NULL, "
                "host TEXT NOT NULL, pid INTEGER NOT NULL, acquired_at TEXT NOT NULL, "
                "backend_pid INTEGER NOT NULL, purpose TEXT NOT NULL DEFAULT '')"
            ).format(_t(schema, LOCK_TABLE))
        )
        for name in _AUDIT_INDEXES:
            _create_audit_index(conn, schema, name)
        if closed and absent:
            close_new_tables(conn, schema, absent)


def add_missing_columns(
    conn: Conn,
    schema: str,
    missing: tuple[tuple[str, str | None], ...],
    migration_key: int,
    *,
    wait: bool,
) -> bool:
    """Add the missing columns (and the audit index) under the migration lock (this
    session's, when it holds it; else taken for the transaction). ``wait`` False: give up
    (False) when another session holds the lock, rather than queue behind its whole
    operation."""
    decls = {(t, name): decl for t, cols in UPGRADE_COLUMNS.items() for name, decl in cols}
    with conn.transaction():
        if wait:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (migration_key,))
        else:
            row = conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (migration_key,)).fetchone()
            if not row or not row[0]:
                return False
        for table, column in missing:
            if table == AUDIT_TABLE and column in _AUDIT_INDEXES:
                _audit_index_or_said(conn, schema, column)
                continue
            if column is None:
                continue
            conn.execute(
                sql.SQL(
                    "ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} " + decls[(table, column)]
                ).format(_t(schema, table), sql.Identifier(column))
            )
    return True


def ensure_tool_tables(
    conn: Conn,
    schema: str,
    where: str,
    lock_key: int,
    *,
    read_only: bool,
    fresh_ok: bool,
    served: Callable[[], str | None] = lambda: None,
) -> tuple[tuple[str, str | None], ...]:
    """The tool's tables in ``schema`` made ready, taking no lock when they are: one catalog
    read. A database without them gets them (under the migration lock, ``lock_key``); columns
    an adopted or older table lacks are added here only when reading needs them, else left
    for :func:`upgrade_tool_tables` under the migration lock. Returns what is still missing.
    ``read_only`` (monitoring, a dry run): nothing is made; NotInitialised without the
    tracking table, unless ``fresh_ok``. ``where`` names the database (masked). ``served``:
    why Supabase's API serves ``schema`` (None: it does not), asked only before creating."""
    try:
        missing = missing_columns(conn, schema, where)
        if (TRACKING_TABLE, None) in missing:
            refuse_tables_elsewhere(conn, schema, where)
        else:
            tool = (TRACKING_TABLE, AUDIT_TABLE, LOCK_TABLE)
            refuse_narrowed_tool_tables(conn, schema, tool, where)
        if read_only:
            if (TRACKING_TABLE, None) in missing and not fresh_ok:
                raise NotInitialised(f"{where} (schema {schema!r})")
            return missing
        if any(col is None for _t, col in missing):  # a whole table is missing
            create_tool_tables(conn, schema, lock_key, closed=served() is not None)
            missing = missing_columns(conn, schema)
        # Tracking columns are needed to read at all (wait for the lock, bounded by
        # lock_timeout); the lock's purpose column can wait for our own lock.
        needed = any(t == TRACKING_TABLE for t, _c in missing)
        if missing and add_missing_columns(conn, schema, missing, lock_key, wait=needed):
            missing = ()
    except psycopg.Error as exc:
        if exc.sqlstate == "25006":  # a hot standby, default_transaction_read_only
            refuse_read_only(conn, where)
        denied = exc.sqlstate == "42501"  # PostgreSQL 15+: no CREATE on public by default
        raise BackendError(
            f"{where}: cannot create the tool tables in schema {schema!r}: {error_text(exc)}",
            hint=f'GRANT CREATE ON SCHEMA "{schema}" (and, for a new schema, CREATE ON '
            'DATABASE) to this role, or set the target\'s schema = "…" to one it owns'
            if denied
            else None,
        ) from None
    return missing


def upgrade_tool_tables(
    conn: Conn,
    schema: str,
    where: str,
    missing: tuple[tuple[str, str | None], ...],
    lock_key: int,
) -> None:
    """Add the ``missing`` columns :func:`ensure_tool_tables` left, under the migration lock."""
    try:
        add_missing_columns(conn, schema, missing, lock_key, wait=True)
    except psycopg.Error as exc:
        raise BackendError(
            f"{where}: cannot upgrade the tool tables in schema {schema!r}: {error_text(exc)}"
        ) from None
