"""Values PostgreSQL reads otherwise than the normal form says, asked of PostgreSQL itself.

A SQLite or D1 value goes into PostgreSQL as its text, which the column type's input function
reads: ``7:30 PM``, ``2025-1-5``, ``{A0EEBC99-…}``, ``epoch``, ``9999-12-31 24:00:00``,
``0001-01-01 00:00:00+07:00`` (a time BC in UTC) are all stored, as another text than the one
written. The normal form (:mod:`.values`) reads the common spellings as PostgreSQL does; a row
whose hash still differs from its copy's is looked at again here before it is called different:
each text of a typed column is read by PostgreSQL as the copy's column type (without its
modifier: a value ``numeric(5,2)`` or ``timestamp(0)`` rounds is no equal), on the sync's own
connection (its settings: DateStyle's input order, TimeZone UTC — those the copy was written
with), and the row is hashed again with those forms. Equal: PostgreSQL stores that very value
from that text, so the copy holds what the source says. A text it refuses keeps its own form
(still different). Texts are not asked (a ``varchar(n)`` cast would cut them): their normal
form is the text itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql

from malnu_tui.engine.sync.model import Key, TableShape
from malnu_tui.engine.sync.timetext import ts_for_postgres
from malnu_tui.engine.sync.values import hash_fields, normalizer, pg_text_sql

if TYPE_CHECKING:
    from malnu_tui.engine.sync.side import Side
    from malnu_tui.engine.sync.side_postgres import PostgresSide

__all__ = ["agreed"]

# Kinds whose values PostgreSQL reads from their text by a type's input function.
_ASKED = frozenset({"int", "bool", "ts", "tstz", "date", "time", "float", "numeric", "uuid"})
_TIME_KINDS = frozenset({"ts", "tstz", "date", "time"})
# A type's modifier (``numeric(5,2)``, ``timestamp(0)``): left out of the question, so that a
# value the copy's column rounds (85.333 stored as 85.33) is not read as equal to it.
_TYPMOD = re.compile(r"\(\d+(?:,\s*\d+)?\)")
_BATCH = 1_000


def agreed(
    pg: PostgresSide,
    other: Side,
    shape: TableShape,
    keys: Sequence[Key],
    pg_hashes: Mapping[tuple[str | None, ...], int],
    knorm: Callable[[Sequence[Any]], tuple[str | None, ...]],
) -> set[tuple[str | None, ...]]:
    """The normalized keys among ``keys`` whose row at ``other`` (a SQLite-dialect side)
    hashes as PostgreSQL's copy (``pg_hashes``: by normalized key) once PostgreSQL has read
    each of its texts of a typed column."""
    types = {c.name: c.pg_type for c in (pg.describe(shape.name) or shape).columns}
    kinds = [c.kind for c in shape.columns]
    rows = other.rows_for_keys(shape, keys)
    asked: dict[int, dict[str, str | None]] = {}
    for i, c in enumerate(shape.columns):
        texts = {_text(r[i], c.kind) for r in rows} - {None}
        if c.kind in _ASKED and texts and c.name in types:
            exact = _TYPMOD.sub("", types[c.name])
            asked[i] = read_as(pg.conn, exact, c.kind, sorted(texts))  # type: ignore[arg-type]
    norms = [normalizer(k) for k in kinds]
    kidx = shape.key_index
    out: set[tuple[str | None, ...]] = set()
    for r in rows:
        fields = [
            None
            if v is None
            else (asked[i].get(_text(v, kinds[i]) or "") if i in asked else None) or norms[i](v)
            for i, v in enumerate(r)
        ]
        nk = knorm(tuple(r[i] for i in kidx))
        if pg_hashes.get(nk) == hash_fields(fields, kinds):
            out.add(nk)
    return out


def _text(value: Any, kind: str) -> str | None:
    """The COPY text a value of ``kind`` was written as, when PostgreSQL is asked to read it:
    a text (one with an offset, for a ``timestamp without time zone``, as its UTC time:
    :func:`.timetext.ts_for_postgres`), or an integer in a date or time column (``20250105`` is
    a date to PostgreSQL)."""
    if type(value) is str:
        return ts_for_postgres(value) if kind == "ts" else value
    if type(value) is int and kind in _TIME_KINDS:
        return str(value)
    return None


def read_as(
    conn: psycopg.Connection[Any], pg_type: str, kind: str, texts: Sequence[str]
) -> dict[str, str | None]:
    """Each text's normal form as PostgreSQL reads it as ``pg_type`` (a type name from the
    catalog, ``format_type()``'s spelling); None for a text it refuses."""
    # (The type of a kind read here is a built-in's name, with its modifier: no quote.)
    expr = pg_text_sql(f"(u.x::{pg_type})", kind)
    query = sql.SQL(f"SELECT u.x, {expr} FROM unnest(%s::text[]) AS u(x)")  # type: ignore[arg-type]
    out: dict[str, str | None] = {}
    for i in range(0, len(texts), _BATCH):
        batch = list(texts[i : i + _BATCH])
        try:
            with conn.transaction():
                out.update(conn.execute(query, (batch,)).fetchall())
            continue
        except psycopg.Error:  # one of them refused: each on its own
            pass
        for text in batch:
            try:
                with conn.transaction():
                    out.update(conn.execute(query, ([text],)).fetchall())
            except psycopg.Error:
                out[text] = None
    return out
