"""A migration's tracking and audit rows on PostgreSQL, in one round trip; and, where the
Supabase CLI keeps its history in the same database (``supabase_migrations.schema_migrations``,
engine/backends/supabase_history.py), its row too, in the same transaction.

Without that row, ``supabase db push`` run after this tool's ``up`` took the migration for
pending and ran it a second time; and a rollback that left the CLI's row behind made the next
``up`` refuse the migration as "already applied by the Supabase CLI", pointing at an ``adopt``
that would have recorded it without running it. Only for the set the CLI itself reads (its
``supabase/migrations`` directory, or one sharing its history: engine/migrate.py decides): the
school's analytics set or a reporting mirror in the same database never writes there — the CLI
would find "remote migration versions not found in local migrations directory" and refuse.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from psycopg import sql

from malnu_tui.engine.backends.base import (
    AUDIT_TABLE,
    AUDIT_WHERE_COLUMNS,
    TRACKING_TABLE,
    AuditEntry,
    AuditWhere,
    RecordApplied,
    TrackingChange,
)
from malnu_tui.engine.errors import BadVersion

if TYPE_CHECKING:
    from malnu_tui.engine.files import Migration, MigrationSet

__all__ = [
    "SUPABASE_TABLE",
    "audit_rows",
    "cli_history",
    "cli_matcher",
    "files_applied",
    "insert_audit",
    "record",
    "supabase_history",
    "upsert_tracking",
    "version_of",
]

SUPABASE_TABLE = "supabase_migrations.schema_migrations"
_FILE = re.compile(r"^(\d{8})_?(\d{6})_(.+)\.sql$", re.IGNORECASE)


# Whether the CLI's history table is there with the given privileges (CASE: a name is looked
# up only in a schema that exists and the role may use — to_regclass raises "permission
# denied for schema" otherwise — and a privilege asked only of a table that exists), and
# whether it has the newer CLI's ``name`` column.
SUPABASE_TABLE_SQL = (
    "SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = "
    "'supabase_migrations') THEN false WHEN NOT has_schema_privilege('supabase_migrations', "
    "'USAGE') THEN false WHEN to_regclass(%(t)s) IS NULL THEN false ELSE {privileges} END, "
    "EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = "
    "'supabase_migrations' AND table_name = 'schema_migrations' AND column_name = 'name')"
)


def supabase_history(conn: Any) -> tuple[bool, bool]:
    """Whether the Supabase CLI's history table is in this database and the tool's role may
    write it (INSERT and DELETE), and whether it has the newer CLI's ``name`` column. Asked
    outside the migration's transaction (an error would abort it): on any error, no."""
    import psycopg

    privileges = "has_table_privilege(%(t)s, 'INSERT') AND has_table_privilege(%(t)s, 'DELETE')"
    try:
        with conn.transaction(force_rollback=True):
            row = conn.execute(
                SUPABASE_TABLE_SQL.format(privileges=privileges), {"t": SUPABASE_TABLE}
            ).fetchone()
    except psycopg.Error:
        return False, False
    return (bool(row[0]), bool(row[1])) if row else (False, False)


def cli_history(conn: Any) -> list[str] | None:
    """The Supabase CLI's applied migrations in the database of ``conn`` (a PostgreSQL
    connection in autocommit mode), oldest first, each named ``<version>_<name>.sql`` (the
    file the CLI applied; its version alone in an older CLI's table, which has no ``name``);
    None when there is no such table, or the role may not read it. Read in a transaction
    rolled back: it changes nothing."""
    import psycopg

    from malnu_tui.engine.backends.pg_refusals import every_row
    from malnu_tui.engine.backends.pg_rowsec import history_hidden

    try:
        with conn.transaction(force_rollback=True):
            query = SUPABASE_TABLE_SQL.format(privileges="has_table_privilege(%(t)s, 'SELECT')")
            row = conn.execute(query, {"t": SUPABASE_TABLE}).fetchone()
            if row is None or not row[0]:
                return None
            name = "name" if row[1] else "NULL"
            every_row(conn, local=True)  # every row, or an error: never what a policy shows
            rows = conn.execute(
                f"SELECT version, {name} FROM {SUPABASE_TABLE} ORDER BY version"  # constants
            ).fetchall()
    except psycopg.Error as exc:  # no USAGE on the schema: the history is not ours to read
        hidden = history_hidden(f"database {conn.info.dbname}", exc, conn)
        if hidden is not None:
            raise hidden from None
        return None
    return [f"{v}_{label}.sql" if label else str(v) for v, label in rows]


def version_of(name: str) -> str | None:
    """The normalised version (``YYYYMMDD_HHMMSS``) of a CLI name, or None."""
    try:
        from malnu_tui.engine.files import normalise_version  # (a migration's write only)

        return normalise_version(name.split("_", 1)[0])
    except BadVersion:
        return None


def files_applied(mset: MigrationSet, applied: Sequence[str]) -> dict[str, str]:
    """Our files that the CLI's history (:func:`cli_history`) shows as applied, matched by
    version (or, renamed, by :func:`cli_file`): filename → the CLI's name for it."""
    find = cli_matcher(mset, applied)
    out: dict[str, str] = {}
    for name in applied:
        m = find(name)
        if m is not None:
            out[m.filename] = name
    return out


_NUMBERS = re.compile(r"^(?:\d+_)+")


def _name_part(name: str) -> str:
    """``0001_profiles.sql``, ``20260125_001_profiles.sql`` → ``profiles`` (lowercased)."""
    return _NUMBERS.sub("", name.removesuffix(".sql")).lower()


def cli_matcher(mset: MigrationSet, applied: Sequence[str]) -> Callable[[str], Migration | None]:
    """Our file for a name of the CLI's history (``applied``): the one of the same version;
    or, for a version no file of ours can have (the CLI takes any digits: ``0001_profiles.sql``,
    ``202602220001_baseline.sql``, which this tool refuses until they are renamed to a
    timestamp), the one file whose name is the same (``20240101_000001_profiles.sql``), as
    wrangler's ``0002_name.sql`` numbering is matched. Renamed, such a file was pending with
    nothing said, and `up` ran what the CLI had applied a second time. Only for the set whose
    names match most of those rows: another set in the database (the analytics set)
    sharing one name (``init``) is not the CLI's."""
    by_version = {m.version: m for m in mset.migrations}
    by_part: dict[str, list[Migration]] = {}
    for m in mset.migrations:
        by_part.setdefault(_name_part(m.name), []).append(m)

    def renamed(name: str) -> Migration | None:
        part = _name_part(name) if "_" in name else ""  # "": an older CLI's version alone
        same = by_part.get(part, []) if part else []
        return same[0] if len(same) == 1 else None

    theirs = [n for n in applied if version_of(n) is None and "_" in n]
    renamed_set = 2 * sum(renamed(n) is not None for n in theirs) > len(theirs)

    def find(name: str) -> Migration | None:
        v = version_of(name)
        if v is not None:
            return by_version.get(v)
        return renamed(name) if renamed_set else None

    return find


def _supabase_row(conn: Any, change: TrackingChange, with_name: bool) -> None:
    """The CLI's row for the migration (its ``version`` is the file's YYYYMMDDHHMMSS, as the
    CLI writes it), inserted with the tracking row or deleted with it."""
    m = _FILE.match(change.filename)
    if m is None:
        return
    version = m[1] + m[2]
    if not isinstance(change, RecordApplied):
        conn.execute(f"DELETE FROM {SUPABASE_TABLE} WHERE version = %s", (version,))
        if with_name:  # and its row under a version of the CLI's own (cli_matcher): renamed
            conn.execute(
                f"DELETE FROM {SUPABASE_TABLE} WHERE version !~ '^[0-9]{{14}}$' "
                "AND lower(regexp_replace(name, '^([0-9]+_)+', '')) = %s",
                (_name_part(m[3]),),
            )
    elif with_name:
        conn.execute(
            f"INSERT INTO {SUPABASE_TABLE} (version, name) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            (version, m[3]),
        )
    else:
        conn.execute(
            f"INSERT INTO {SUPABASE_TABLE} (version) VALUES (%s) ON CONFLICT DO NOTHING",
            (version,),
        )


def record(
    conn: Any,
    schema: str,
    change: TrackingChange,
    elapsed_ms: int,
    audit: AuditEntry,
    supabase: tuple[bool, bool] = (False, False),
) -> None:
    """The tracking change and the audit row in one round trip (data-modifying CTEs);
    UPDATE-then-INSERT because an adopted table may lack the UNIQUE on filename. With
    ``supabase`` (:func:`supabase_history`, and the set keeping in step with the CLI:
    engine/migrate.py) writable, the CLI's row as well."""
    t = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(TRACKING_TABLE))
    a = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(AUDIT_TABLE))
    audit_params = (audit.at, audit.actor, audit.action, audit.object, audit.outcome, audit.detail)
    audit_sql = sql.SQL(
        "audit AS (INSERT INTO {} (at, actor, action, object, outcome, detail) "
        "VALUES (%s::timestamp, %s, %s, %s, %s, %s))"
    ).format(a)
    if isinstance(change, RecordApplied):
        query = sql.SQL(
            "WITH upd AS (UPDATE {t} SET checksum = %s, executed_at = CURRENT_TIMESTAMP, "
            "execution_time_ms = %s, success = TRUE, error_message = NULL "
            "WHERE filename = %s RETURNING 1), "
            "ins AS (INSERT INTO {t} (filename, checksum, executed_at, execution_time_ms, "
            "success, error_message) SELECT %s, %s, CURRENT_TIMESTAMP, %s, TRUE, NULL "
            "WHERE NOT EXISTS (SELECT 1 FROM upd)), {audit} SELECT 1"
        ).format(t=t, audit=audit_sql)
        params: tuple[Any, ...] = (
            change.checksum,
            elapsed_ms,
            change.filename,
            change.filename,
            change.checksum,
            elapsed_ms,
            *audit_params,
        )
    else:
        query = sql.SQL(
            "WITH del AS (DELETE FROM {t} WHERE filename = %s), {audit} SELECT 1"
        ).format(t=t, audit=audit_sql)
        params = (change.filename, *audit_params)
    conn.execute(query, params)
    if supabase[0]:
        _supabase_row(conn, change, supabase[1])


def upsert_tracking(
    conn: Any, schema: str, filename: str, checksum: str, elapsed_ms: int, error: str | None
) -> None:
    """A migration's tracking row as it ran (``error`` None: it succeeded), on its own:
    UPDATE then INSERT rather than ON CONFLICT, as an adopted table may lack the UNIQUE."""
    t = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(TRACKING_TABLE))
    success = error is None
    cur = conn.execute(
        sql.SQL(
            "UPDATE {} SET checksum = %s, executed_at = CURRENT_TIMESTAMP, "
            "execution_time_ms = %s, success = %s, error_message = %s WHERE filename = %s"
        ).format(t),
        (checksum, elapsed_ms, success, error, filename),
    )
    if cur.rowcount == 0:
        conn.execute(
            sql.SQL(
                "INSERT INTO {} (filename, checksum, executed_at, execution_time_ms, "
                "success, error_message) VALUES (%s, %s, CURRENT_TIMESTAMP, %s, %s, %s)"
            ).format(t),
            (filename, checksum, elapsed_ms, success, error),
        )


def insert_audit(conn: Any, schema: str, e: AuditEntry) -> None:
    """One audit row on its own, in the caller's transaction."""
    conn.execute(
        sql.SQL(
            "INSERT INTO {} (at, actor, action, object, outcome, detail) "
            "VALUES (%s::timestamp, %s, %s, %s, %s, %s)"
        ).format(sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(AUDIT_TABLE))),
        (e.at, e.actor, e.action, e.object, e.outcome, e.detail),
    )


def audit_rows(
    query: Callable[..., list[Any]],
    table: sql.Composable,
    limit: int,
    action: str | None,
    more: AuditWhere = (),
) -> list[AuditEntry]:
    """The newest ``limit`` rows of the audit ``table`` (only ``action``'s, if given, and
    those whose ``more`` columns equal their values), newest first, through ``query`` (the
    backend's)."""
    conds: list[tuple[str, str]] = [("action", action)] if action else []
    conds += list(more)
    for col, _ in conds:
        if col not in ("action", *AUDIT_WHERE_COLUMNS):
            raise ValueError(f"not an audit column to select by: {col!r}")
    where = (
        sql.SQL("WHERE ")
        + sql.SQL(" AND ").join(sql.SQL("{} = %s").format(sql.Identifier(col)) for col, _ in conds)
        if conds
        else sql.SQL("")
    )
    params: tuple[Any, ...] = (*(v for _, v in conds), limit)
    rows = query(
        sql.SQL(
            "SELECT id, to_char(at, {fmt}), actor, action, object, outcome, detail "
            "FROM {t} {where} ORDER BY id DESC LIMIT %s"
        ).format(fmt=sql.Literal("YYYY-MM-DD HH24:MI:SS"), t=table, where=where),
        params,
    )
    return [AuditEntry(r[1], r[2], r[3], r[4], r[5], r[6], id=int(r[0])) for r in rows]
