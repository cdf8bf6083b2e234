"""SQLite ↔ PostgreSQL schema parity.

:func:`check_parity` builds the SQLite schema from the migration files in a temp SQLite database,
applies their PostgreSQL translation to a scratch schema on a real server (inside one transaction
that is always rolled back, so nothing is left behind and no real table is ever touched),
introspects both and compares tables, columns (mapped types, nullability, defaults), primary keys,
unique constraints, foreign keys, indexes and check constraints.

:func:`compare_live` compares the mirrored tables of a live PostgreSQL schema with the schema the
migrations describe (drift between the primary and the secondary).
"""

from __future__ import annotations

from malnu_tui.engine.parity.check import check_parity, compare_live
from malnu_tui.engine.parity.introspect import postgres_shape, sqlite_schema, sqlite_shape
from malnu_tui.engine.parity.shapes import (
    CheckShape,
    ColumnShape,
    Difference,
    ForeignKeyShape,
    IndexShape,
    ParityReport,
    SchemaShape,
    TableShape,
    compare,
)

__all__ = [
    "CheckShape",
    "ColumnShape",
    "Difference",
    "ForeignKeyShape",
    "IndexShape",
    "ParityReport",
    "SchemaShape",
    "TableShape",
    "check_parity",
    "compare",
    "compare_live",
    "postgres_shape",
    "sqlite_schema",
    "sqlite_shape",
]
