"""Copies in a schema Supabase's API serves (:mod:`malnu_tui.engine.supabase_target`, the lint's
own detection): anyone holding the project's public anon key reads and writes a table there
whose row level security is off. A copy the sync creates there gets it enabled in the
transaction of its CREATE TABLE, with no policy (the table's owner, the service role and a
``BYPASSRLS`` role still read it: the sync and the reporting tool connect as those); an
existing copy with it off is warned of, with the statement to run, never altered."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from malnu_tui.engine.supabase_target import enable_rls_statement, open_tables, served_schema

if TYPE_CHECKING:
    from malnu_tui.engine.sync.model import TablePlan
    from malnu_tui.engine.sync.session import SyncSession

__all__ = ["guard_copies", "open_copy_warnings"]


def _served(s: SyncSession) -> str | None:
    """Why the destination's copies are served by Supabase's API (its detection, and the
    schema), or None: not Supabase's, or a schema its API does not expose."""
    dst: Any = s.dst
    return served_schema(s.dest_target, dst) if dst.kind == "postgresql" else None


def open_copy_warnings(
    s: SyncSession, tables: Sequence[str], where: str | None = None
) -> dict[str, str]:
    """Each of the existing copies ``tables`` that Supabase's API serves to every holder of
    the anon key (row level security off) → the warning to carry into its report, with the
    statement to run (one catalog query; none off Supabase). The one text of the sync, its
    dry run and ``sync verify``."""
    where = where or _served(s)
    if where is None or not tables:
        return {}
    dst: Any = s.dst
    named = {s.dst.table(t): t for t in tables}  # the copies' names there (.destnames)
    opened = [t for t, now in open_tables(dst.conn, dst.schema, list(named)).items() if now]
    return {
        named[t]: (
            f"row level security is off on {dst.schema}.{t} ({where}): anyone holding the "
            "project's anon key reads and writes every row; run "
            f"{enable_rls_statement(dst.conn, dst.schema, t)}"
        )
        for t in opened
    }


def guard_copies(s: SyncSession, plans: list[TablePlan]) -> list[TablePlan]:
    """``plans`` with, on a Supabase destination whose API exposes the copies' schema, a note on
    each copy to be created (and the destination told to enable row level security with it)
    and a warning on each existing copy the API serves with row level security off (one
    catalog query)."""
    where = _served(s)
    if where is None:
        return plans
    dst: Any = s.dst
    dst.rls_on_create = True
    opened = open_copy_warnings(s, [p.table for p in plans if not p.create], where)
    out = []
    for p in plans:
        if p.create:
            note = (
                f"row level security enabled with the table ({where}), no policy: anon and "
                "authenticated read none of it, its owner (this sync) and service_role every "
                "row; another reporting role needs a policy (CREATE POLICY … FOR SELECT TO it "
                "USING (true))"
            )
            p = replace(p, notes=(*p.notes, note))
        elif p.table in opened:
            p = replace(p, warnings=(*p.warnings, opened[p.table]))
        out.append(p)
    return out
