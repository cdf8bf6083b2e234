"""One table writer per backend behind one small protocol (reused by ``sync``).

A writer holds ONE unit of work on its table: :meth:`TableWriter.begin` opens it and counts
the table, :meth:`write` takes rows in chunks (returning the rows the database refused, each
with its reason), :meth:`finish` settles what the unit would do (inserted / updated / skipped,
the rows refused at that point, the table's count before and after) without making it
visible, and then either :meth:`commit` (with the audit row, in the same unit) or
:meth:`rollback`. Until ``commit`` returns nothing is visible to others, and a killed process
leaves the table as it was:

- SQLite: one ``BEGIN IMMEDIATE`` transaction, ``executemany`` per chunk under a savepoint
  (a chunk with a bad row is replayed row by row to name it);
- PostgreSQL: ``COPY`` into a temp table, then one ``INSERT … SELECT … ON CONFLICT`` (split in
  halves under savepoints only when a row fails, to name it), the table locked against other
  writers so the count check means something;
- D1: a staging table filled in chunks (each statement under 100 KB, values inlined; a row
  larger than that alone, its largest texts bound), promoted in one final batch that also
  checks the counts and drops the staging table. Staging rows are keyed by their source
  line, so a retried request never duplicates.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from malnu_tui.engine.data.spec import (
    ON_CONFLICT,
    OnConflict,
    TableWriter,
    WriteOutcome,
    WriteSpec,
    constraint_column,
    counts_from,
)

if TYPE_CHECKING:
    from malnu_tui.engine.backends.base import Backend

__all__ = [
    "ON_CONFLICT",
    "OnConflict",
    "TableWriter",
    "WriteOutcome",
    "WriteSpec",
    "constraint_column",
    "counts_from",
    "open_writer",
]


def open_writer(backend: Backend, spec: WriteSpec, *, direct: bool = False) -> TableWriter:
    """The writer for ``backend``'s kind. ``direct``: on PostgreSQL, plain inserts COPY
    straight into the table (:mod:`.pg_direct`; it raises ``DirectRefused`` when the database
    refuses a row, and the caller starts over without ``direct``); on SQLite they keep no keys
    until the table refuses its primary key's (the same start over)."""
    if backend.kind == "sqlite":
        from malnu_tui.engine.data.sqlite_writer import SQLiteWriter

        return SQLiteWriter(backend, spec, direct=direct)  # type: ignore[arg-type]
    if backend.kind == "postgresql":
        if direct and spec.on_conflict == "error":
            from malnu_tui.engine.data.pg_direct import PostgresDirectWriter

            return PostgresDirectWriter(backend, spec)  # type: ignore[arg-type]
        from malnu_tui.engine.data.pg_writer import PostgresWriter

        return PostgresWriter(backend, spec)  # type: ignore[arg-type]
    from malnu_tui.engine.data.d1_writer import D1Writer

    return D1Writer(backend, spec)  # type: ignore[arg-type]
