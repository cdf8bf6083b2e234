"""What the plan finds wrong with a table and its copy, and what to do about each: the copy's
schema against the source's mapped one, a source's own ``synced_at``, names only case tells
apart (SQLite and D1 ignore it), and each problem's hint —
the statements that add, drop or retype the copy's columns, make again a copy whose key
changed, or stop the copy's own triggers (the plan's note)."""

from __future__ import annotations

import string
from collections.abc import Sequence
from typing import TYPE_CHECKING

from malnu_tui.engine.backends.sqlite_sql import quote_ident, sql_literal
from malnu_tui.engine.data.sqlwrite import D1_MAX_COLUMNS
from malnu_tui.engine.data.uniques import deferrable_key as deferrable_constraint
from malnu_tui.engine.data.uniques import quoted_name
from malnu_tui.engine.errors import SyncRefused
from malnu_tui.engine.sync.model import TableShape
from malnu_tui.engine.sync.side import NULL_KEY, STATE_TABLE, TIME_KEY, Side

if TYPE_CHECKING:
    from malnu_tui.engine.sync.session import SyncSession

__all__ = [
    "ASCII_LOWER",
    "CASE_CLASH",
    "COLUMN_CLASH",
    "D1_WIDE",
    "NO_KEY",
    "case_clashes",
    "deferrable_key",
    "fires_note",
    "own_stamp",
    "own_stamp_hint",
    "problem_hint",
    "schema_problems",
    "table_key",
    "time_key_order",
]

NO_KEY = "no primary key or unique index at the source to match rows by"
_MIXED_KEY = "the two sides would order such keys differently"
_NO_STAMP = "destination lacks the synced_at column"
_KEYED_COPY = "it could not hold two equal rows of the source"
_NO_COLUMNS = "destination lacks column(s)"
_EXTRA_COLUMNS = "destination has column(s) the source lacks:"
# The next sync after columns were added to a copy is a full pass (see session._plan_table).
_REFILL = "sync again (a full pass: the rows copied before get their values)"
_OWN_STAMP = (
    "has a column synced_at of its own, where a copy keeps when the sync wrote each row: its "
    "values would not be copied"
)


def schema_problems(
    src: TableShape, dst: TableShape, *, copying: bool = True, sqlite_dest: bool = False
) -> list[str]:
    """The mismatches of the copy ``dst`` against the source ``src``. A SQLite or D1 copy
    (``sqlite_dest``) may keep dates and times in a TEXT column (SQLite has no type of its
    own for them; copies of a ``timestamp(3)`` were made so)."""
    t = src.name
    out: list[str] = []
    missing = [c for c in src.names if dst.column(c) is None]
    extra = [c for c in dst.names if src.column(c) is None]
    if missing:
        out.append(f"{t}: {_NO_COLUMNS} {', '.join(missing)}")
    if extra:
        out.append(f"{t}: {_EXTRA_COLUMNS} {', '.join(extra)}")
    for c in src.columns:
        d = dst.column(c.name)
        if d is None or d.kind == c.kind:
            continue
        if sqlite_dest and d.kind == "text" and c.kind in _TIMES:
            continue
        out.append(
            f"{t}.{c.name}: source {c.declared or '(no type)'} maps to {c.pg_type}, "
            f"destination has {d.declared or d.pg_type}"
        )
    if copying and not dst.has_synced_at:
        out.append(f"{t}: {_NO_STAMP}")
    if not src.key:  # copied whole each time (.whole): a copy with a key cannot take it
        if dst.key:
            out.append(
                f"{t}: the source has no key, but the destination has one "
                f"({', '.join(dst.key)}): {_KEYED_COPY}"
            )
    elif set(dst.key) != set(src.key) or not dst.unique_key:
        out.append(
            f"{t}: destination key ({', '.join(dst.key) or 'none'}) is not the source's "
            f"({', '.join(src.key)}) as a primary key or unique index"
        )
    return out


_DEFERRABLE = (
    "which PostgreSQL's upsert (INSERT … ON CONFLICT), the way the sync writes a copy, cannot use"
)


def deferrable_key(s: SyncSession, table: str, dst: TableShape) -> str | None:
    """The problem of a PostgreSQL copy whose key is a DEFERRABLE primary key or UNIQUE
    constraint (a table the sync did not make: an operator's): its first chunk of changes
    failed ("ON CONFLICT does not support deferrable unique constraints", exit 1) after a plan
    that said all was well. Read as the import reads it (engine/data/uniques.py)."""
    found = _deferrable(s, table, dst.key)
    if found is None:
        return None
    name, what = found
    return f"{table}: the {what} {quoted_name(name)} of {s.dst.table(table)} is DEFERRABLE, " + (
        _DEFERRABLE
    )


def _deferrable(s: SyncSession, table: str, key: Sequence[str]) -> tuple[str, str] | None:
    if s.dst.kind != "postgresql" or not key:
        return None
    b = s.dst.backend
    schema = str(b.schema)  # type: ignore[attr-defined]
    return deferrable_constraint(b.conn, s.dst.table(table), key, schema)  # type: ignore[attr-defined]


def _deferrable_hint(s: SyncSession, table: str, name: str) -> str:
    dst = s.dst.describe(table)
    key = dst.key if dst is not None else ()
    found = _deferrable(s, table, key)
    if found is None:  # (gone since the plan read it)
        return SyncRefused.MISMATCH
    c, what = quoted_name(found[0]), "PRIMARY KEY" if found[1] == "primary key" else "UNIQUE"
    cols = ", ".join(map(quote_ident, key))
    return (
        "make it NOT DEFERRABLE at the destination (PostgreSQL changes that only by dropping "
        f"the constraint and adding it again): ALTER TABLE {name} DROP CONSTRAINT {c}, ADD "
        f"CONSTRAINT {c} {what} ({cols}) (a foreign key referring to it is dropped first and "
        "added again after); or leave the table out with --tables"
    )


def own_stamp(src: Side, shape: TableShape) -> str | None:
    """The problem of a source table with a ``synced_at`` column of its own (an application
    that records when a device synced a row): the copy's ``synced_at`` is the sync's, so those
    values were left behind while the table verified equal. None when the column is the
    sync's own (the source is itself a copy: its ``malnu_sync`` has the table) or absent."""
    if not shape.has_synced_at or src.read_state(shape.name) is not None:
        return None
    return f"{shape.name}: {_OWN_STAMP}"


_TIMES = frozenset({"ts", "tstz", "date", "time"})
ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
CASE_CLASH = "SQLite's table names ignore case: they would be one table at the destination"
COLUMN_CLASH = "SQLite's column names ignore case: they would be one column at the destination"
_COLUMN_CLASH_HINT = (
    "rename one of them at the source, or leave the table out with --tables; a PostgreSQL "
    "destination keeps both"
)


def table_key(side: Side, name: str) -> str:
    """A table's name as ``side`` tells names apart: SQLite (and D1) ignore ASCII case, so a
    PostgreSQL source's "Siswa" is the table ``siswa`` there; a PostgreSQL destination's
    table that is a copy under the translation's name (``album``) is its source's (``Album``:
    :mod:`.destnames`)."""
    if side.kind != "postgresql":
        return name.translate(ASCII_LOWER)
    back = getattr(side, "source_name", None)
    return str(back(name)) if back is not None else name


def case_clashes(dst: Side, names: Sequence[str]) -> list[str]:
    """The problems of source tables whose names only case tells apart, for a SQLite or D1
    destination (creating the second stopped the sync on a traceback: "table siswa already
    exists")."""
    groups: dict[str, list[str]] = {}
    for n in names:
        groups.setdefault(table_key(dst, n), []).append(n)
    out = [f"{', '.join(g)}: {CASE_CLASH}" for g in groups.values() if len(g) > 1]
    if dst.kind != "postgresql":
        # A PostgreSQL source's "Migrations" or "Malnu_Audit" is the copy's own tracking or
        # audit table there (the sync stopped on a bare 'table "Malnu_Audit" already exists').
        from malnu_tui.engine.sync.side_sqlite import TOOL_TABLES

        own = {t.translate(ASCII_LOWER): t for t in TOOL_TABLES}
        out += [
            f"{n}: SQLite's table names ignore case: it would be the destination's own table "
            f"{own[key]} (malnu-tui's, or another migration tool's history)"
            for key, g in groups.items()
            if key in own
            for n in g
        ]
    return out


def own_stamp_hint(table: str) -> str:
    """What to do about :func:`own_stamp`."""
    return (
        "rename the column at the source (the application's own: e.g. ALTER TABLE "
        f'{quote_ident(table)} RENAME COLUMN "synced_at" TO "device_synced_at"), or leave the '
        "table out with --tables"
    )


def _at_dest(s: SyncSession, name: str) -> str:
    """``name`` (SQL text) as a hint's statement names it at the destination: in its schema
    on PostgreSQL."""
    if s.dst.kind != "postgresql":
        return name
    return quote_ident(str(getattr(s.dst, "schema", "public"))) + "." + name


def fires_note(s: SyncSession, table: str, names: Sequence[str]) -> str:
    """The plan's note for a copy whose own triggers fire on the sync's writes."""
    if s.dst.kind == "postgresql":
        where = _at_dest(s, quote_ident(s.dst.table(table)))
        stop = "; ".join(f"ALTER TABLE {where} DISABLE TRIGGER {quote_ident(n)}" for n in names)
    else:  # SQLite has no disabled trigger
        stop = "; ".join(f"DROP TRIGGER {quote_ident(n)}" for n in names)
    return (
        f"the copy has triggers that fire on every row the sync writes: {', '.join(names)} "
        "(a mirror built from the source's migrations has the source's: a log row written "
        "twice, a stamp changed and found different); where they should not fire there: "
        f"{stop}"
    )


D1_WIDE = f"D1 takes at most {D1_MAX_COLUMNS} columns a table"


def time_key_order(s: SyncSession, shape: TableShape) -> str | None:
    """A SQLite or D1 source's time key whose text order is not its PostgreSQL copy's time
    order (see :meth:`.side_sqlkeys.SqliteKeys.time_key`); a SQLite or D1 copy keeps the
    texts, in the same order."""
    from malnu_tui.engine.sync.side_sqlkeys import SqliteKeys

    if s.dst.kind != "postgresql" or not isinstance(s.src, SqliteKeys):
        return None
    return s.src.time_key(shape)


def problem_hint(s: SyncSession, table: str, problem: str) -> str:
    """What to do about one of ``table``'s problems."""
    if problem.endswith(NO_KEY):
        return SyncRefused.NO_KEY
    if problem.endswith(_MIXED_KEY):
        return SyncRefused.MIXED_KEY
    if problem.endswith(NULL_KEY):
        return SyncRefused.NULL_KEY
    if problem.endswith(TIME_KEY):
        key = quote_ident(problem.split(": key ", 1)[1].split(" holds ", 1)[0])
        return (
            "store every key in one layout at the source (SQLite's, in UTC), e.g. UPDATE "
            f"{quote_ident(table)} "
            f"SET {key} = datetime({key}) WHERE {key} GLOB '*[TZ+]*' (datetime() reads a T, a Z "
            "and an offset, in UTC, and drops a fraction of a second, which strftime('%Y-%m-%d "
            "%H:%M:%f', …) keeps; check first that no two rows then hold one time), or leave "
            "the table out with --tables"
        )
    if problem.endswith(_OWN_STAMP):
        return own_stamp_hint(table)
    if problem.endswith(COLUMN_CLASH):
        return _COLUMN_CLASH_HINT
    if problem.endswith(D1_WIDE):
        return (
            "leave the table out with --tables, or sync it into PostgreSQL or a SQLite file "
            "(D1's limit is fixed; it holds for each table)"
        )
    name = _at_dest(s, quote_ident(s.dst.table(table)))  # the copy's name there (.destnames)
    if problem.endswith(_DEFERRABLE):
        return _deferrable_hint(s, table, name)
    if problem.endswith(_NO_STAMP):
        kind = "timestamp" if s.dst.kind == "postgresql" else "DATETIME"
        return (
            f"add it at the destination (every copied row gets the time of its copy): "
            f"ALTER TABLE {name} ADD COLUMN synced_at {kind}"
        )
    if problem.endswith(_KEYED_COPY):
        return (
            f"drop that key at the destination (or the copy, DROP TABLE {name}: the sync makes "
            "it again without one), or leave the table out with --tables"
        )
    if (remake := _remade_key(s, table, name)) is not None:
        return remake
    if f"{table}: {_NO_COLUMNS} " in problem:
        # Columns a migration added at the source: the statements that add them here, then a
        # full pass (the rows copied before have the new columns empty).
        src, dst = s.src.describe(table), s.dst.describe(table)
        if src is not None and dst is not None:
            names = [c.name for c in src.columns if dst.column(c.name) is None]
            statements = "; ".join(s.dst.add_columns_ddl(src, names))
            return f"add them at the destination: {statements}; then {_REFILL}"
    if problem.startswith(f"{table}: {_EXTRA_COLUMNS} "):
        # Columns the copy has and the source not: dropped at the source by a migration, or
        # the destination's own (an analytics column added there on purpose), whose data the
        # DROP that once led this hint deleted. Both readings, the non-destructive one first.
        src, dst = s.src.describe(table), s.dst.describe(table)
        if src is not None and dst is not None:
            extra = [c for c in dst.names if src.column(c) is None]
            drops = "; ".join(f"ALTER TABLE {name} DROP COLUMN {quote_ident(c)}" for c in extra)
            one = len(extra) == 1
            it, they, own = ("it", "it", "its") if one else ("them", "they", "their")
            return (
                f"{', '.join(extra)} {'is' if one else 'are'} in the copy only (the source has "
                f"no such column): the copy cannot be verified with {it}. If {they} "
                f"belong{'s' if one else ''} to the destination (added there on purpose), keep "
                f"{it} in a table of {own} own beside the copy, or leave {table} out with "
                f"--tables; if the source dropped {it}, drop {it} here too (the values there go "
                f"with {it}): {drops}; then sync again"
            )
    if problem.startswith(f"{table}.") and " maps to " in problem:
        # Columns whose type changed at the source (a SQLite table rebuilt with REAL where it
        # had INTEGER): replaced at the destination, refilled by the next sync's full pass.
        src, dst = s.src.describe(table), s.dst.describe(table)
        if src is not None and dst is not None:
            changed = [
                c.name
                for c in src.columns
                if (d := dst.column(c.name)) is not None and d.kind != c.kind
            ]
            if changed and not set(changed) & set(src.key):
                there = s.dst.columns(table, changed)
                retyped = [
                    f"ALTER TABLE {name} DROP COLUMN {quote_ident(there.get(c, c))}"
                    for c in changed
                ]
                statements = "; ".join([*retyped, *s.dst.add_columns_ddl(src, changed)])
                return (
                    f"{', '.join(changed)} of another type at the destination (changed at the "
                    f"source?): replace them there (their values there go, and come back with "
                    f"the next sync): {statements}; then {_REFILL}"
                )
    return SyncRefused.MISMATCH


def _remade_key(s: SyncSession, table: str, name: str) -> str | None:
    """What to do when the source's key is no longer the key of the sync's copy (``nis``
    renamed ``nisn``, or another primary key): the copy is made again. Dropping the old key
    column, as the column hints said, fails in SQLite (a PRIMARY KEY column) and leaves a
    PostgreSQL copy without a key. None when the keys agree, or the copy is not the sync's
    (no state row: a table the destination's migrations made)."""
    src, dst = s.src.describe(table), s.dst.describe(table)
    if src is None or dst is None or set(dst.key) == set(src.key):
        return None
    last = s.dst.read_state(table)
    # No key: a copy made whole (.whole) of a source that has one now, or a key still to build.
    if last is None or not (dst.key or last.mode == "whole"):
        return None
    state = _at_dest(s, STATE_TABLE)
    return (
        f"the source's key of {table} is now ({', '.join(src.key) or 'none'}), its copy's "
        f"({', '.join(dst.key) or 'none'}): make the copy again, DROP TABLE {name}; DELETE "
        f"FROM {state} WHERE table_name = {sql_literal(s.dst.state_name(table))}; then sync "
        "again (a full copy)"
    )
