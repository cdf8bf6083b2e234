"""Interop with the Supabase CLI's migration history, so a project that ran its migrations with
``supabase db push`` (or ``supabase migration up``) can switch to this tool without running
them again.

The Supabase CLI records each migration it applies in ``supabase_migrations.schema_migrations``
of the project's own database: ``version`` (the file's ``YYYYMMDDHHMMSS`` prefix, its primary
key) and, in newer CLI versions, ``name``, ``statements`` and more. A file of ours stands for a
row when their versions are equal (``20240101120000_init.sql`` and our
``20240101_120000_init.sql`` alike): the version is the CLI's own key. ``up`` refuses a pending
migration the CLI has applied (engine/preflight.py), and ``adopt`` records them without running
them (:func:`plan_adopt`, then wrangler's :func:`~malnu_tui.engine.backends.d1.wrangler.adopt`);
``up`` and ``rollback`` keep the CLI's rows in step (engine/backends/pg_record.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from malnu_tui.engine.backends.base import TrackingRecord
from malnu_tui.engine.backends.d1.wrangler import AdoptPlan, WranglerMigration
from malnu_tui.engine.backends.pg_record import SUPABASE_TABLE, SUPABASE_TABLE_SQL
from malnu_tui.engine.errors import BadVersion
from malnu_tui.engine.files import Migration, MigrationSet, normalise_version

__all__ = ["TABLE", "TOOL", "plan_adopt", "read_history"]

TABLE = SUPABASE_TABLE
TOOL = "the Supabase CLI"


def read_history(conn: Any) -> list[WranglerMigration] | None:
    """The Supabase CLI's applied migrations in the database of ``conn`` (a PostgreSQL
    connection in autocommit mode), oldest first, each named ``<version>_<name>.sql`` (the
    file the CLI applied; its version alone in an older CLI's table, which has no ``name``);
    None when there is no such table, or the role may not read it."""
    import psycopg

    try:
        with conn.transaction(force_rollback=True):
            query = SUPABASE_TABLE_SQL.format(privileges="has_table_privilege(%(t)s, 'SELECT')")
            row = conn.execute(query, {"t": TABLE}).fetchone()
            if row is None or not row[0]:
                return None
            name = "name" if row[1] else "NULL"
            rows = conn.execute(
                f"SELECT version, {name} FROM {TABLE} ORDER BY version"  # constants only
            ).fetchall()
    except psycopg.Error:  # no USAGE on the schema: the history is not ours to read
        return None
    out: list[WranglerMigration] = []
    for i, (version, label) in enumerate(rows, 1):
        text = str(version)
        out.append(WranglerMigration(i, f"{text}_{label}.sql" if label else text, ""))
    return out


def _version(name: str) -> str | None:
    try:
        return normalise_version(name.split("_", 1)[0])
    except BadVersion:
        return None


def files_applied(mset: MigrationSet, applied: Sequence[WranglerMigration]) -> dict[str, str]:
    """Our files that the CLI's history shows as applied: filename → the CLI's name for it."""
    by_version = {m.version: m for m in mset.migrations}
    out: dict[str, str] = {}
    for w in applied:
        v = _version(w.name)
        m = by_version.get(v) if v is not None else None
        if m is not None:
            out[m.filename] = w.name
    return out


def plan_adopt(
    mset: MigrationSet,
    applied: Sequence[WranglerMigration],
    records: Sequence[TrackingRecord],
    source: str,
) -> AdoptPlan:
    """Match the CLI's applied versions to our files by version; changes nothing."""
    by_version = {m.version: m for m in mset.migrations}
    tracked = {r.filename for r in records if r.success}
    to_adopt: list[tuple[Migration, WranglerMigration]] = []
    already: list[str] = []
    unmatched: list[str] = []
    for w in applied:
        v = _version(w.name)
        m = by_version.get(v) if v is not None else None
        if m is None:
            unmatched.append(w.name)
        elif m.filename in tracked:
            already.append(m.filename)
        else:
            to_adopt.append((m, w))
    return AdoptPlan(source, tuple(to_adopt), tuple(already), tuple(unmatched), tool=TOOL)
