"""Key aggregates of a SQLite-dialect side (a local file or D1), computed in SQL: the key's
span, per-bucket digests and fingerprint of an integer key, and whether a key column holds
values of another type than its own. Mixed into :class:`.side_sqlite.SqliteDialect`."""

from __future__ import annotations

import json
import re
from abc import abstractmethod
from collections.abc import Sequence
from typing import Any

from malnu_tui.engine.backends.sqlite_sql import quote_ident, sql_literal
from malnu_tui.engine.secrets import masked, secret_in
from malnu_tui.engine.sync.model import TableShape
from malnu_tui.engine.sync.side import NULL_KEY, RESIDUE, TIME_KEY, Fingerprint, fingerprint_sql

__all__ = ["SqliteKeys", "key_order", "key_sql", "q"]


def q(name: str) -> str:
    """A quoted identifier (names come from the schema, never from input)."""
    return quote_ident(name)


# Key kinds that compare alike in every collation (integers, blobs): the others are compared
# COLLATE BINARY, the order of PostgreSQL's "C" that the other side walks the keys in.
_COLLATION_FREE = frozenset({"int", "bytes"})


def key_order(shape: TableShape) -> list[str]:
    """The key's columns as they are compared and ordered: a text key in BINARY order even
    when the column is declared ``COLLATE NOCASE`` (or RTRIM), which SQLite would otherwise
    use — the sides would then page and bound their key ranges in two orders, and rows of one
    side's range lie in another range on the other side (reported missing and extra, and
    deleted by the repair). An index in the column's own collation then serves no longer: a
    NOCASE key's pages are sorted (README)."""
    out = []
    for k in shape.key:
        col = shape.column(k)
        plain = col is not None and col.kind in _COLLATION_FREE
        out.append(q(k) if plain else f"{q(k)} COLLATE BINARY")
    return out


def key_sql(shape: TableShape) -> str:
    """The key as a row value for comparisons and key lists (see :func:`key_order`)."""
    return "(" + ", ".join(key_order(shape)) + ")"


# SQLite's own layouts of a time (what CURRENT_TIMESTAMP and datetime() write), whose text
# order is their time order; a fraction of a second after them is looked at on its own. (By
# their separators: D1 refuses a GLOB pattern over 50 bytes, and a text that is no time is
# refused by the copy's type, by row.)
_TIME_LAYOUTS = {"date": "????-??-??", "ts": "????-??-?? ??:??:??"}
_OFFSET = re.compile(r"[+-]9")  # after the day: +07:00, -0500

# The SQLite storage class every key of a kind has: a key of another class orders elsewhere.
_KEY_TYPES = {"text": "text", "bytes": "blob"}
_TYPE_WORDS = {"integer": "integers", "real": "reals", "text": "text", "blob": "blobs"}


class SqliteKeys:
    """Key aggregates over ``_rows`` (see the module's doc)."""

    @abstractmethod
    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one read statement and return its rows."""

    def mixed_key(self, shape: TableShape) -> str | None:
        """(See :class:`.side.Side`.) SQLite orders a column's values by type first (numbers,
        then text, then blobs), so the first and last keys in its order show whether the
        first key column holds any value of another type: two searches of its index. Each
        key column that may hold NULL (``TableShape.nullable_key``) is looked at in the same
        query: the first by a search of the key's index, the others by a scan of it."""
        col = shape.column(shape.key[0]) if shape.key else None
        own = _KEY_TYPES.get(col.kind) if col is not None else None
        t = q(shape.name)
        parts = []
        if col is not None and own is not None:  # (first: its columns name a text not UTF-8)
            k = q(col.name)
            parts = [
                f"SELECT * FROM (SELECT typeof({k}), quote({k}) FROM {t} WHERE {k} IS NOT NULL "
                f"ORDER BY {k} {way} LIMIT 1)"
                for way in ("ASC", "DESC")
            ]
        parts += [
            f"SELECT * FROM (SELECT 'null', {sql_literal(n)} FROM {t} WHERE {q(n)} IS NULL LIMIT 1)"
            for n in shape.key
            if n in shape.nullable_key
        ]
        if col is None or not parts:
            return None
        found = [(str(a), str(b)) for a, b in self._rows(" UNION ALL ".join(parts))]
        if null := [name for kind, name in found if kind == "null"]:
            return (
                f"key {null[0]} holds NULL (SQLite lets a UNIQUE column, or a PRIMARY KEY "
                f"that is no INTEGER one, hold NULLs): {NULL_KEY}"
            )
        if own is None:
            return None
        odd = [(kind, text) for kind, text in found if kind != own]
        if not odd:
            return None
        kinds = " and ".join(dict.fromkeys(_TYPE_WORDS.get(k, k) for k, _ in odd))
        # a session's token (or Laravel's session id): by its fingerprint
        secret = secret_in(shape.names)(col.name)
        shown = ", ".join(
            str(masked(text)) if secret else text if len(text) <= 40 else text[:37] + "…"
            for _, text in odd
        )
        declared = col.declared or "none"
        return (
            f"key {col.name} holds {kinds} (e.g. {shown}) where its copy's key, {col.pg_type}, "
            f"takes {_TYPE_WORDS[own]} (declared type: {declared}): the two sides would order "
            f"such keys differently"
        )

    def time_key(self, shape: TableShape) -> str | None:
        """What is wrong when a key column that its PostgreSQL copy keeps as a time holds
        texts whose text order is not their time order: in two layouts (SQLite's
        ``YYYY-MM-DD HH:MM:SS`` beside a Worker's ``…T08:30:00.000Z``, where every ``T``
        sorts after the day's other times) or with an offset (``+07:00``). SQLite pages the
        texts and PostgreSQL the times, so each side's key range held rows of another (a
        --full into an existing copy deleted half of it, then stopped on "cannot dump lists
        of mixed types"). Keys in one layout (SQLite's, a fraction of a second or not; or
        one other, such as every key a Worker's) are in one order. One scan of the column
        (its index's, when it leads one), for a table keyed by a time only."""
        t = q(shape.name)
        for name in shape.key:
            col = shape.column(name)
            kind = col.kind if col is not None else ""
            layout = _TIME_LAYOUTS.get("ts" if kind == "tstz" else kind)
            if layout is None:
                continue
            k, n = q(name), len(layout)
            own = f"{k} GLOB {sql_literal(layout)}"
            if kind != "date":
                own += (
                    f" OR ({k} GLOB {sql_literal(layout + '.?*')} AND substr({k}, {n + 2}) "
                    "NOT GLOB '*[^0-9]*')"
                )
            digits = k
            for d in "0123456789":  # the layout: each digit as 9
                digits = f"replace({digits}, '{d}', '9')"
            found = self._rows(
                f"SELECT CASE WHEN {own} THEN '' ELSE {digits} END AS layout, min({k}) "
                f"FROM {t} WHERE typeof({k}) = 'text' GROUP BY layout ORDER BY 2 LIMIT 2"
            )
            layouts = [(str(a), str(b)) for a, b in found]
            if len(layouts) > 1:
                (_, first), (_, other) = layouts
                return (
                    f"key {name} holds times in two layouts ({first[:40]!r}, "
                    f"{other[:40]!r}); {TIME_KEY}"
                )
            if layouts and layouts[0][0] and _OFFSET.search(layouts[0][0][10:]):
                return f"key {name} holds times with an offset ({layouts[0][1][:40]!r}); {TIME_KEY}"
        return None

    def key_span(self, shape: TableShape) -> tuple[Any, Any] | None:
        k, t = q(shape.key[0]), q(shape.name)
        # Two queries: SQLite answers each of min() and max() alone from the end of the index.
        lo = self._rows(f"SELECT min({k}) FROM {t}")[0][0]
        hi = self._rows(f"SELECT max({k}) FROM {t}")[0][0]
        return None if lo is None else (lo, hi)

    def bucket_digests(
        self, shape: TableShape, base: int, width: int, buckets: int
    ) -> tuple[int, dict[int, tuple[int, int, int, int]]]:
        # One range search per bucket (a GROUP BY would sort every key first); the count of
        # the whole table last (rows whose key is no integer fall in no bucket).
        k, t = q(shape.key[0]), q(shape.name)
        sql = (
            "WITH RECURSIVE b(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM b WHERE i < ?) "
            f"SELECT i, (SELECT json_array(count(*), sum(({k} - ?) % ?), min({k}), max({k})) "
            f"FROM {t} WHERE {k} > ? + i * ? AND {k} <= ? + (i + 1) * ?) FROM b "
            f"UNION ALL SELECT NULL, count(*) FROM {t}"
        )
        out: dict[int, tuple[int, int, int, int]] = {}
        total = 0
        for i, found in self._rows(sql, (buckets - 1, base, RESIDUE, base, width, base, width)):
            if i is None:
                total = int(found)
                continue
            n, part, lo, hi = json.loads(found)
            if n:
                out[int(i)] = (int(n), int(part), lo, hi)
        return total, out

    def key_fingerprint(self, shape: TableShape) -> Fingerprint | None:
        k, t = q(shape.key[0]), q(shape.name)
        # Arithmetic would take a text or real key for another number: unless the key is the
        # rowid (always an integer), count the keys that are integers too.
        ints = (
            ""
            if self._rowid_key(shape)
            else f", count(CASE WHEN typeof({k}) = 'integer' THEN 1 END)"
        )
        n, *sums = self._rows(f"SELECT {fingerprint_sql(k)}{ints} FROM {t}")[0]
        if ints and sums.pop() != n:
            return None
        return int(n), tuple(int(v or 0) for v in sums)

    def _rowid_key(self, shape: TableShape) -> bool:
        """True when the key is the table's INTEGER PRIMARY KEY, an alias of the rowid (a
        primary key with no index of its own: not a WITHOUT ROWID table, not ``DESC``)."""
        pk = [r[1] for r in self._rows(f"PRAGMA table_xinfo({q(shape.name)})") if r[5]]
        col = shape.column(shape.key[0])
        if pk != list(shape.key) or col is None or col.declared.upper() != "INTEGER":
            return False
        return all(r[3] != "pk" for r in self._rows(f"PRAGMA index_list({q(shape.name)})"))
