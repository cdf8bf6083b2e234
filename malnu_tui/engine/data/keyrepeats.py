"""A key repeated within ONE import (a student listed twice in the ministry's file; a legacy key
COLLATE NOCASE holding ``s004`` and ``S004``): the later row is a rejected row naming the line
of the first, on every backend and with every ``--on-conflict``. Without this, SQLite and D1
let the later row overwrite the earlier one (counted "updated": nothing existed before), and
PostgreSQL did the same once its search for a refused row split the two apart.

Keys are compared as the target's key compares them (the collation of its UNIQUE index or
PRIMARY KEY, the column's type affinity), and never all held in Python: SQLite keeps them in a
temp table with a UNIQUE index, PostgreSQL and D1 find repeats in their staging tables."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from malnu_tui.engine.backends.sqlite_sql import quote_ident

if TYPE_CHECKING:
    from malnu_tui.engine.backends.base import Backend
    from malnu_tui.engine.data.rows import Rejection
    from malnu_tui.engine.data.spec import WriteSpec


def sqlite_key_collations(backend: Backend, spec: WriteSpec) -> tuple[str, ...]:
    """The collation of each key column as the table's UNIQUE index on exactly the key compares
    it (``BINARY`` for an INTEGER PRIMARY KEY, which has no index); SQLite and D1."""
    from malnu_tui.engine.data.schema import sqlite_rows

    want = set(spec.key)
    for idx in sqlite_rows(
        backend,
        'SELECT name FROM pragma_index_list(?) WHERE "unique" AND NOT partial',
        (spec.table,),
    ):
        cols = sqlite_rows(
            backend,
            "SELECT name, coll FROM pragma_index_xinfo(?) WHERE key ORDER BY seqno",
            (str(idx[0]),),
        )
        if {str(c[0]) for c in cols} == want and len(cols) == len(want):
            colls = {str(c[0]): str(c[1] or "BINARY") for c in cols}
            return tuple(colls[k] for k in spec.key)
    return tuple("BINARY" for _ in spec.key)


def affinity(declared: str) -> str:
    """SQLite's type affinity of a declared type (its rules, in their order)."""
    t = declared.upper()
    if "INT" in t:
        return "INTEGER"
    if any(w in t for w in ("CHAR", "CLOB", "TEXT")):
        return "TEXT"
    if not t or "BLOB" in t:
        return "BLOB"
    if any(w in t for w in ("REAL", "FLOA", "DOUB")):
        return "REAL"
    return "NUMERIC"


def key_indexes(spec: WriteSpec) -> tuple[int, ...]:
    return tuple(spec.columns.index(k) for k in spec.key)


def repeat_rejection(
    spec: WriteSpec,
    line: int,
    first: int,
    values: Sequence[object],
    collations: Sequence[str] = (),
) -> Rejection:
    """The later row of a repeated key: named by the line of the first."""
    from malnu_tui.engine.data.rows import Rejection

    if len(spec.key) == 1:
        what = f"{spec.key[0]} {values[0]!r}"
    else:
        what = f"key ({', '.join(spec.key)}) = ({', '.join(repr(v) for v in values)})"
    how = sorted({c for c in collations if c.upper() not in ("BINARY", "DEFAULT")})
    compared = f", compared as the table compares it ({', '.join(how)})" if how else ""
    return Rejection(
        line,
        spec.key[0],
        f"{what} repeats line {first} of this import{compared}: a key is imported once, "
        f"from its first line; remove or correct one of them",
        "",
    )


def sqlite_keys_table(spec: WriteSpec, collations: Sequence[str], name: str) -> str:
    """``CREATE TEMP TABLE`` of the keys seen: the source line, then each key column with the
    table's affinity and collation, UNIQUE as the table's key is (NULLs never repeat)."""
    cols = []
    for i, k in enumerate(spec.key):
        col = spec.schema.column(k)
        aff = affinity(col.declared_type if col else "")
        coll = quote_ident(collations[i]) if i < len(collations) else "BINARY"
        cols.append(f"k{i} {aff} COLLATE {coll}")
    keys = ", ".join(f"k{i}" for i in range(len(spec.key)))
    return (
        f"CREATE TEMP TABLE {quote_ident(name)} (line INTEGER NOT NULL, {', '.join(cols)}, "
        f"UNIQUE ({keys}))"
    )
