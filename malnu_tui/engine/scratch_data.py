"""The rows of a scratch database, table by table, for the stairway with ``--seed``: a
rollback that gives the schema back but not the rows (a column's values moved and not moved
back, a data migration it cannot undo) passed its stair without a word. Each table's rows are
hashed in a fixed order, so two moments compare without holding the rows."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from malnu_tui.engine.backends.sqlite_sql import NOT_INTERNAL

if TYPE_CHECKING:
    from malnu_tui.engine.scratch import Scratch

__all__ = ["RowDigests", "changed_tables", "table_rows"]

RowDigests = dict[str, tuple[int, str]]  # table → (rows, sha256 of them)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def table_rows(scratch: Scratch) -> RowDigests:
    """Each user table of the scratch → (its row count, a digest of its rows)."""
    from malnu_tui.engine.scratch import TOOL_TABLES, SQLiteScratch
    from malnu_tui.engine.scratch_pg import PostgresScratch

    out: RowDigests = {}
    if isinstance(scratch, SQLiteScratch):
        conn = scratch.conn
        names = [
            str(r[0])
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                f"AND {NOT_INTERNAL} ORDER BY name"
            )
        ]
        for name in names:
            if name in TOOL_TABLES:
                continue
            rows = sorted(repr(r) for r in conn.execute(f"SELECT * FROM {_q(name)}"))
            out[name] = (len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest())
    elif isinstance(scratch, PostgresScratch):
        pg = scratch.backend.conn
        names = [
            str(r[0])
            for r in pg.execute(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s AND c.relkind IN ('r', 'p') ORDER BY 1",
                (scratch.schema,),
            ).fetchall()
        ]
        for name in names:
            if name in TOOL_TABLES:
                continue
            qt = f"{_q(scratch.schema)}.{_q(name)}"
            row = pg.execute(
                f"SELECT count(*), coalesce(md5(string_agg(t::text, E'\\n' ORDER BY t::text)), '') "
                f"FROM {qt} t"
            ).fetchone()
            if row is not None:
                out[name] = (int(row[0]), str(row[1]))
    return out


def changed_tables(before: RowDigests, after: RowDigests) -> list[str]:
    """``users (3 → 2 rows)``, ``users (3 rows, other values)`` for each table in both whose
    rows differ."""
    out: list[str] = []
    for t in sorted(set(before) & set(after)):
        (n, digest), (m, digest_after) = before[t], after[t]
        if digest != digest_after:
            out.append(f"{t} ({n} → {m} rows)" if n != m else f"{t} ({n} row(s), other values)")
    return out
