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
from malnu_tui.engine.backends.pg_record import SUPABASE_TABLE, cli_history, cli_matcher
from malnu_tui.engine.files import Migration, MigrationSet

__all__ = ["TABLE", "TOOL", "plan_adopt", "read_history", "table_exists"]

TABLE = SUPABASE_TABLE
TOOL = "the Supabase CLI"


def read_history(conn: Any) -> list[WranglerMigration] | None:
    """The Supabase CLI's applied migrations (:func:`~malnu_tui.engine.backends.pg_record.
    cli_history`), as adopt reads a history; None when there is none this role may read."""
    names = cli_history(conn)
    return None if names is None else [WranglerMigration(i, n, "") for i, n in enumerate(names, 1)]


def table_exists(conn: Any) -> bool:
    """Whether the database has the CLI's table at all (read from the catalog, which every
    role may read: a table this role may not read is still there)."""
    schema, table = TABLE.split(".")
    row = conn.execute(
        "SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = %s",
        (schema, table),
    ).fetchone()
    return row is not None


def plan_adopt(
    mset: MigrationSet,
    applied: Sequence[WranglerMigration],
    records: Sequence[TrackingRecord],
    source: str,
    tool: str = TOOL,
) -> AdoptPlan:
    """Match the CLI's applied versions to our files by version (a renamed file of a
    version no file of ours can have, by its name: :func:`cli_matcher`); changes nothing.
    Prisma's, dbmate's and Rails' rows are matched so too (``tool``: backends/other_runners)."""
    find = cli_matcher(mset, [w.name for w in applied])
    tracked = {r.filename for r in records if r.success}
    to_adopt: list[tuple[Migration, WranglerMigration]] = []
    already: list[str] = []
    unmatched: list[str] = []
    for w in applied:
        m = find(w.name)
        if m is None:
            unmatched.append(w.name)
        elif m.filename in tracked:
            already.append(m.filename)
        else:
            to_adopt.append((m, w))
    return AdoptPlan(source, tuple(to_adopt), tuple(already), tuple(unmatched), tool=tool)
