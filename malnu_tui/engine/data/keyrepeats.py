"""A key repeated within ONE import (a student listed twice in the ministry's file; a legacy key
COLLATE NOCASE holding ``s004`` and ``S004``): the later row is a rejected row naming the line
of the first, on every backend and with every ``--on-conflict``. Without this, SQLite and D1
let the later row overwrite the earlier one (counted "updated": nothing existed before), and
PostgreSQL did the same once its search for a refused row split the two apart. A plain insert
(no ``--key``), and an upsert after its key, do the same for every UNIQUE constraint of the
table whose columns it writes
(:attr:`WriteSpec.uniques`: the primary key, ``users.email``, a unique index over several
columns), looked for once the table refused a row of one: the later row names the first's
line and the constraint's columns (it was the database's refusal, naming no line).

Values are compared as the target's constraint compares them (the collation of its UNIQUE
index or PRIMARY KEY, the column's type affinity), and never all held in Python: PostgreSQL
and D1 find repeats in their staging tables, SQLite and D1's dry run in a scratch SQLite file
(:class:`ScratchKeys`)."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from itertools import chain, islice
from typing import TYPE_CHECKING

from malnu_tui.engine.backends.sqlite_sql import quote_ident
from malnu_tui.engine.data.flatblock import FlatRows
from malnu_tui.engine.secrets import HIDDEN, masked_detail, secret_in

if TYPE_CHECKING:
    from malnu_tui.engine.data.rows import Rejection, RowBatch
    from malnu_tui.engine.data.spec import WriteSpec
    from malnu_tui.engine.data.uniques import UniqueSet

_RESULT_CODE = re.compile(r":\s*SQLITE_[A-Z_]+\s*$")


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


def column_affinity(u: UniqueSet, declared: str) -> str:
    """The affinity a watched constraint's column compares by: its declared type's, but a
    STRICT table's ANY column's none (it converts nothing; elsewhere "ANY" is NUMERIC)."""
    return "BLOB" if u.strict and declared.upper() == "ANY" else affinity(declared)


def stage_types(spec: WriteSpec) -> tuple[str, ...]:
    """A staging table's column types (D1's: ``v0, v1, …``, one a column of the import): a
    watched constraint's column (:attr:`WriteSpec.uniques`) gets the table's affinity, so the
    stage compares its values as the table does (``7.0`` and ``7`` in a REAL column, ``07``
    and ``7`` in a NUMERIC one, are one value); the others none (stored as given)."""
    types = [""] * len(spec.columns)
    for u in spec.uniques:
        for k in u.columns:
            col = spec.schema.column(k)
            types[spec.columns.index(k)] = column_affinity(u, col.declared_type if col else "")
    return tuple(types)


def key_indexes(spec: WriteSpec) -> tuple[int, ...]:
    """The columns of every watched constraint (:attr:`WriteSpec.uniques`), one after the
    other, as indexes into the row's values: the scratch table's ``k0, k1, …``."""
    return tuple(spec.columns.index(c) for u in spec.uniques for c in u.columns)


def first_repeat(
    conn: sqlite3.Connection, table: str, spec: WriteSpec, keys: Sequence[object]
) -> tuple[UniqueSet, int, tuple[object, ...]] | None:
    """The watched constraint whose value (of ``keys``, as :func:`key_indexes` orders them)
    a row of the scratch ``table`` holds, the line of that row, and the value; None if none
    does. A NULL never collides (SQL's rule, and SQLite's, which the scratch table follows)."""
    at = 0
    for u in spec.uniques:
        n = len(u.columns)
        value = tuple(keys[at : at + n])
        if None not in value:
            where = " AND ".join(f"k{i} = ?" for i in range(at, at + n))
            found = conn.execute(f"SELECT line FROM {table} WHERE {where}", value).fetchone()
            if found:
                return u, int(found[0]), value
        at += n
    return None


def key_words(
    spec: WriteSpec, columns: Sequence[str], values: Sequence[object], word: str = "key"
) -> str:
    """A key as the rejects name it: ``nis '0012'``, ``id 7`` (a whole number's digits as
    on every backend, SQLite's read as text), ``key (nis, mapel) = ('0012', 'MTK')`` (``word``
    for another constraint's); a secret-looking column's value (a token, a password's hash)
    shown as ``(hidden)``."""

    secret = secret_in(spec.schema.names)  # Laravel's sessions: its id

    def one(name: str, v: object) -> str:
        if secret(name):
            return HIDDEN
        if v is None:  # a value of a NULLS NOT DISTINCT constraint (PostgreSQL)
            return "NULL"
        col = spec.schema.column(name)
        if isinstance(v, str) and col is not None and col.family == "integer":
            return v if re.fullmatch(r"-?[0-9]+", v) else repr(v)
        return repr(v)

    shown = [one(c, v) for c, v in zip(columns, values, strict=True)]
    if len(columns) == 1:
        return f"{columns[0]} {shown[0]}"
    return f"{word} ({', '.join(columns)}) = ({', '.join(shown)})".lstrip()


def unique_columns(message: str, table: str) -> tuple[str, ...]:
    """The columns of a SQLite or D1 ``UNIQUE constraint failed: t.a, t.b`` (D1 ends it with
    its result code); ``()`` for any other message."""
    head, _, rest = _RESULT_CODE.sub("", message).partition(":")
    if head.strip() != "UNIQUE constraint failed":
        return ()
    prefix = f"{table}."
    parts = [p.strip() for p in rest.split(",")]
    if not parts or not all(p.startswith(prefix) for p in parts):
        return ()
    return tuple(p[len(prefix) :] for p in parts)


def taken_reason(spec: WriteSpec, message: str, values: Sequence[object]) -> str:
    """SQLite's and D1's refusal of a row whose key another row holds names the columns only:
    it gets the value (PostgreSQL's detail has it). The import's own earlier lines were taken
    out as repeats for :attr:`WriteSpec.uniques`: such a value was in the table before."""
    cols = unique_columns(message, spec.table)
    if not cols or not set(cols) <= set(spec.columns) or len(values) != len(spec.columns):
        return message
    what = key_words(spec, cols, [values[spec.columns.index(c)] for c in cols])
    message = _RESULT_CODE.sub("", message)
    if any(set(cols) == set(u.columns) for u in spec.uniques):
        return f"{message}: {what} is in the table already"
    return f"{message}: {what} is in the table already, or on an earlier line of this import"


def hide_secret_detail(
    detail: str, columns: tuple[str, ...] = (), sqlstate: str | None = None
) -> str:
    """PostgreSQL's detail of a key refused (``Key (api_token)=(…) already exists.``, in any
    language) with a secret-looking column's value hidden, as the rejects and messages name
    keys; the failing row (its error's ``sqlstate``) left out where the table's ``columns``
    hold a secret."""
    return masked_detail(detail, columns, mask=lambda _value: HIDDEN, sqlstate=sqlstate)


def repeat_rejection(
    spec: WriteSpec, unique: UniqueSet, line: int, first: int, values: Sequence[object]
) -> Rejection:
    """The later row of a value repeated for ``unique``: named by the line of the first, and,
    for a constraint other than the key, by the constraint's columns."""
    from malnu_tui.engine.data.rows import Rejection

    cols = unique.columns
    how = sorted({c for c in unique.collations if c and c.upper() not in ("BINARY", "DEFAULT")})
    compared = f", compared as the table compares it ({', '.join(how)})" if how else ""
    if unique.key:
        what = key_words(spec, cols, values)
        rule = "a key is imported once, from its first line"
    else:
        what = key_words(spec, cols, values, word="")
        rule = f"the table's UNIQUE ({', '.join(cols)}) takes a value once"
    return Rejection(
        line,
        cols[0],
        f"{what} repeats line {first} of this import{compared}: {rule}; remove or correct "
        "one of them",
        "",
    )


def sqlite_keys_table(spec: WriteSpec, name: str) -> str:
    """``CREATE TABLE`` of the values seen: the source line, then each watched
    constraint's columns (``k0, k1, …``, :func:`key_indexes`) with the table's affinity and
    the constraint's collation, UNIQUE as the constraint is (NULLs never repeat)."""
    cols, groups, at = [], [], 0
    for u in spec.uniques:
        for i, k in enumerate(u.columns):
            col = spec.schema.column(k)
            aff = column_affinity(u, col.declared_type if col else "")
            coll = quote_ident(u.collation(i) or "BINARY")
            cols.append(f"k{at + i} {aff} COLLATE {coll}")
        groups.append(", ".join(f"k{at + i}" for i in range(len(u.columns))))
        at += len(u.columns)
    uniques = ", ".join(f"UNIQUE ({g})" for g in groups)
    return (
        f"CREATE TABLE {quote_ident(name)} (line INTEGER PRIMARY KEY, {', '.join(cols)}, {uniques})"
    )


class ScratchKeys:
    """The values of the watched constraints an import has seen, kept in a scratch SQLite
    file of its own (SQLite deletes it at :meth:`close`) with the table's affinity and
    collation: SQLite's import (its unit's temp tables are kept in memory) and D1's dry run,
    which holds no unit on D1 across requests (each chunk's trial is rolled back, so a value
    seen in an earlier chunk was not). On disk behind SQLite's small page cache: memory stays
    flat however many rows the file has (never a set in Python)."""

    def __init__(self, spec: WriteSpec) -> None:
        self.spec = spec
        self._kidx = key_indexes(spec)
        # "": a private temp file. Written by the import's writer thread, closed by its caller.
        self.conn = sqlite3.connect("", isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode = OFF")
        self.conn.execute("PRAGMA synchronous = OFF")
        self.conn.execute(sqlite_keys_table(spec, "seen"))
        self._width = 1 + len(self._kidx)
        k = ", ".join(f"k{i}" for i in range(len(self._kidx)))
        # OR IGNORE: a row repeating any constraint's value is noted for none of them.
        self._insert = f"INSERT OR IGNORE INTO seen (line, {k}) VALUES "
        self._one = f"({', '.join('?' * self._width)})"
        most = self.conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        self._per = max(1, min(200, most // self._width))  # rows a statement

    def repeats(self, rows: RowBatch) -> list[Rejection]:
        """The rows whose value of a watched constraint an earlier row (of this call or an
        earlier one) holds, each as its rejection naming that row's line; the others' values
        are noted (several rows a statement: one a statement doubled an import's time)."""
        n = len(rows)
        if not n:
            return []
        c, kidx, width, per = self.conn, self._kidx, self._width, self._per
        values = rows.values
        cols: list[Sequence[object]]
        if isinstance(values, FlatRows) and values.width == len(self.spec.columns):
            flat, w = values.flat, values.width
            cols = [flat[j::w] for j in kidx]
        else:
            cols = [[v[j] for v in values] for j in kidx]
        tuples = zip(rows.lines, *cols, strict=True)
        whole = n - n % per
        c.execute("BEGIN")
        try:
            before = c.total_changes
            if whole:
                sql = self._insert + ", ".join([self._one] * per)
                params = list(chain.from_iterable(islice(tuples, whole)))
                c.executemany(sql, zip(*[iter(params)] * (per * width), strict=False))
            if whole < n:
                c.executemany(self._insert + self._one, tuples)
            if c.total_changes - before == n:  # every value new: the usual chunk
                return []
            lo, hi = rows.lines[0], rows.lines[-1]
            kept = {int(r[0]) for r in c.execute(_KEPT, (lo, hi))}
            out = []
            for j, r in enumerate(rows.rows()):
                if r.line in kept:
                    continue
                found = first_repeat(c, "seen", self.spec, [col[j] for col in cols])
                if found:
                    u, first, value = found
                    rejection = repeat_rejection(self.spec, u, r.line, first, value)
                    out.append(rejection._replace(raw=r.raw))
            return out
        finally:
            c.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()


_KEPT = "SELECT line FROM seen WHERE line BETWEEN ? AND ?"
