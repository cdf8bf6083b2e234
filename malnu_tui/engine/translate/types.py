"""SQLite declared column types → PostgreSQL types, one mapping for translation and parity.

SQLite stores every integer in 64 bits whatever the declared name, so ``INTEGER``/``INT`` become
``BIGINT``; ``CHAR(n)`` becomes ``VARCHAR(n)`` because PostgreSQL's ``char`` pads with blanks and
SQLite's does not; ``DATETIME`` becomes ``TIMESTAMP``; ``BLOB`` becomes ``BYTEA``. Unknown names
follow SQLite's affinity rules (https://sqlite.org/datatype3.html, section 3.1).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

__all__ = ["TypeMapping", "format_type", "map_type"]


@dataclass(frozen=True)
class TypeMapping:
    """The PostgreSQL type for a SQLite declared type (``None`` when there is no type), and a
    note when the mapping is a guess from SQLite's affinity rules."""

    declared: str
    postgres: str | None
    note: str = ""


_EXACT: dict[str, str] = {
    "INTEGER": "BIGINT", "INT": "BIGINT", "BIGINT": "BIGINT", "INT8": "BIGINT",
    "UNSIGNED BIG INT": "BIGINT", "SMALLINT": "SMALLINT", "INT2": "SMALLINT",
    "TINYINT": "SMALLINT", "MEDIUMINT": "INTEGER", "INT4": "INTEGER",
    "TEXT": "TEXT", "CLOB": "TEXT",
    "REAL": "DOUBLE PRECISION", "DOUBLE": "DOUBLE PRECISION", "FLOAT": "DOUBLE PRECISION",
    "DOUBLE PRECISION": "DOUBLE PRECISION",
    "NUMERIC": "NUMERIC", "DECIMAL": "NUMERIC",
    "BOOLEAN": "BOOLEAN", "BOOL": "BOOLEAN",
    "DATETIME": "TIMESTAMP", "TIMESTAMP": "TIMESTAMP",
    "TIMESTAMPTZ": "TIMESTAMPTZ", "TIMESTAMP WITH TIME ZONE": "TIMESTAMPTZ",
    "DATE": "DATE", "TIME": "TIME",
    "BLOB": "BYTEA", "BYTEA": "BYTEA",
    "JSON": "JSON", "JSONB": "JSONB", "UUID": "UUID",
}  # fmt: skip
_CHARS = {
    "VARCHAR", "NVARCHAR", "CHAR", "NCHAR", "CHARACTER", "VARYING CHARACTER",
    "CHARACTER VARYING", "NATIVE CHARACTER",
}  # fmt: skip
_DECL = re.compile(r"^(?P<base>[A-Z][A-Z0-9 _]*?)\s*(?:\((?P<params>[^)]*)\))?$")


@functools.lru_cache(maxsize=1024)
def map_type(declared: str) -> TypeMapping:
    """The PostgreSQL type for a column declared ``declared`` in SQLite (a value: each
    declared text is mapped once)."""
    decl = " ".join(declared.upper().split())
    if not decl:
        return TypeMapping(declared, None, "the column has no declared type")
    m = _DECL.match(decl)
    if not m:
        return TypeMapping(declared, None, f"cannot read the declared type {declared!r}")
    base = m["base"].strip()
    params = [p.strip() for p in (m["params"] or "").split(",") if p.strip()]
    if base in _CHARS:
        if params and params[0].isdigit():
            return TypeMapping(declared, f"VARCHAR({params[0]})")
        return TypeMapping(declared, "TEXT")
    if base in ("NUMERIC", "DECIMAL") and params and all(p.isdigit() for p in params):
        return TypeMapping(declared, f"NUMERIC({', '.join(params[:2])})")
    if base in _EXACT:
        return TypeMapping(declared, _EXACT[base])
    # SQLite's affinity rules, in their order.
    if "INT" in base:
        pg = "BIGINT"
    elif any(w in base for w in ("CHAR", "CLOB", "TEXT")):
        pg = "TEXT"
    elif "BLOB" in base:
        pg = "BYTEA"
    elif any(w in base for w in ("REAL", "FLOA", "DOUB")):
        pg = "DOUBLE PRECISION"
    else:
        pg = "NUMERIC"
    return TypeMapping(
        declared,
        pg,
        f"{declared!r} is not a type name PostgreSQL shares; mapped by SQLite affinity",
    )


_FORMAT = {
    "BIGINT": "bigint", "SMALLINT": "smallint", "INTEGER": "integer", "TEXT": "text",
    "DOUBLE PRECISION": "double precision", "NUMERIC": "numeric", "BOOLEAN": "boolean",
    "TIMESTAMP": "timestamp without time zone", "TIMESTAMPTZ": "timestamp with time zone",
    "DATE": "date", "TIME": "time without time zone", "BYTEA": "bytea", "JSON": "json",
    "JSONB": "jsonb", "UUID": "uuid",
}  # fmt: skip


def format_type(pg_type: str) -> str:
    """How PostgreSQL's ``format_type()`` spells ``pg_type`` (for comparing with the catalog)."""
    t = " ".join(pg_type.upper().split())
    m = re.fullmatch(r"VARCHAR\((\d+)\)", t)
    if m:
        return f"character varying({m[1]})"
    m = re.fullmatch(r"NUMERIC\((\d+)(?:,\s*(\d+))?\)", t)
    if m:
        return f"numeric({m[1]},{m[2] or 0})"
    return _FORMAT.get(t, t.lower())
