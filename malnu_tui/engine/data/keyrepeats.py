"""A key repeated within ONE import (a student listed twice in the ministry's file; a legacy key
COLLATE NOCASE holding ``s004`` and ``S004``): the later row is a rejected row naming the line
of the first, on every backend and with every ``--on-conflict``. Without this, SQLite and D1
let the later row overwrite the earlier one (counted "updated": nothing existed before), and
PostgreSQL did the same once its search for a refused row split the two apart. A plain insert
(no ``--key``) does the same for the table's primary key (:attr:`WriteSpec.seen_key`), looked
for once the table refused a row of it.

Keys are compared as the target's key compares them (the collation of its UNIQUE index or
PRIMARY KEY, the column's type affinity), and never all held in Python: SQLite keeps them in a
temp table with a UNIQUE index, PostgreSQL and D1 find repeats in their staging tables, D1's
dry run in a scratch SQLite file (:class:`ScratchKeys`)."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING

from malnu_tui.engine.backends.sqlite_sql import quote_ident
from malnu_tui.engine.secrets import HIDDEN, masked_detail, secret_by_shape, secret_column

if TYPE_CHECKING:
    from malnu_tui.engine.backends.base import Backend
    from malnu_tui.engine.data.rows import Rejection, Row
    from malnu_tui.engine.data.spec import WriteSpec

_RESULT_CODE = re.compile(r":\s*SQLITE_[A-Z_]+\s*$")


def sqlite_key_collations(backend: Backend, spec: WriteSpec) -> tuple[str, ...]:
    """The collation of each key column as the table's UNIQUE index on exactly the key compares
    it (``BINARY`` for an INTEGER PRIMARY KEY, which has no index); SQLite and D1."""
    from malnu_tui.engine.data.schema import sqlite_rows

    want = set(spec.seen_key)
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
            return tuple(colls[k] for k in spec.seen_key)
    return tuple("BINARY" for _ in spec.seen_key)


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
    return tuple(spec.columns.index(k) for k in spec.seen_key)


def key_words(spec: WriteSpec, columns: Sequence[str], values: Sequence[object]) -> str:
    """A key as the rejects name it: ``nis '0012'``, ``id 7`` (a whole number's digits as
    on every backend, SQLite's read as text), ``key (nis, mapel) = ('0012', 'MTK')``; a
    secret-looking column's value (a token, a password's hash) shown as ``(hidden)``."""

    by_shape = secret_by_shape(spec.schema.names)  # Laravel's sessions: its id

    def one(name: str, v: object) -> str:
        if secret_column(name) or name in by_shape:
            return HIDDEN
        col = spec.schema.column(name)
        if isinstance(v, str) and col is not None and col.family == "integer":
            return v if re.fullmatch(r"-?[0-9]+", v) else repr(v)
        return repr(v)

    shown = [one(c, v) for c, v in zip(columns, values, strict=True)]
    if len(columns) == 1:
        return f"{columns[0]} {shown[0]}"
    return f"key ({', '.join(columns)}) = ({', '.join(shown)})"


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
    out as repeats for :attr:`WriteSpec.seen_key`: such a value was in the table before."""
    cols = unique_columns(message, spec.table)
    if not cols or not set(cols) <= set(spec.columns) or len(values) != len(spec.columns):
        return message
    what = key_words(spec, cols, [values[spec.columns.index(c)] for c in cols])
    message = _RESULT_CODE.sub("", message)
    if set(cols) == set(spec.seen_key):
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
    spec: WriteSpec,
    line: int,
    first: int,
    values: Sequence[object],
    collations: Sequence[str] = (),
) -> Rejection:
    """The later row of a repeated key: named by the line of the first."""
    from malnu_tui.engine.data.rows import Rejection

    what = key_words(spec, spec.seen_key, values)
    how = sorted({c for c in collations if c and c.upper() not in ("BINARY", "DEFAULT")})
    compared = f", compared as the table compares it ({', '.join(how)})" if how else ""
    return Rejection(
        line,
        spec.seen_key[0],
        f"{what} repeats line {first} of this import{compared}: a key is imported once, "
        f"from its first line; remove or correct one of them",
        "",
    )


def sqlite_keys_table(
    spec: WriteSpec, collations: Sequence[str], name: str, *, temp: bool = True
) -> str:
    """``CREATE TEMP TABLE`` of the keys seen: the source line, then each key column with the
    table's affinity and collation, UNIQUE as the table's key is (NULLs never repeat)."""
    cols = []
    for i, k in enumerate(spec.seen_key):
        col = spec.schema.column(k)
        aff = affinity(col.declared_type if col else "")
        coll = quote_ident(collations[i]) if i < len(collations) else "BINARY"
        cols.append(f"k{i} {aff} COLLATE {coll}")
    keys = ", ".join(f"k{i}" for i in range(len(spec.seen_key)))
    return (
        f"CREATE {'TEMP ' if temp else ''}TABLE {quote_ident(name)} "
        f"(line INTEGER NOT NULL, {', '.join(cols)}, UNIQUE ({keys}))"
    )


class ScratchKeys:
    """The keys an import has seen, kept in a scratch SQLite file of its own (SQLite deletes
    it at :meth:`close`) with the table's affinity and collation: D1's dry run, which holds no
    unit on D1 across requests (each chunk's trial is rolled back, so a key seen in an earlier
    chunk was not). On disk behind SQLite's small page cache: memory stays flat however many
    keys the file has (never a set of them in Python)."""

    def __init__(self, spec: WriteSpec, collations: Sequence[str]) -> None:
        self.spec = spec
        self.collations = tuple(collations)
        self._kidx = key_indexes(spec)
        # "": a private temp file. Written by the import's writer thread, closed by its caller.
        self.conn = sqlite3.connect("", isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode = OFF")
        self.conn.execute("PRAGMA synchronous = OFF")
        self.conn.execute(sqlite_keys_table(spec, self.collations, "seen", temp=False))
        n = len(self._kidx)
        k = ", ".join(f"k{i}" for i in range(n))
        self._insert = f"INSERT OR IGNORE INTO seen (line, {k}) VALUES (?{', ?' * n})"
        self._first = "SELECT line FROM seen WHERE " + " AND ".join(f"k{i} = ?" for i in range(n))

    def repeats(self, rows: Sequence[Row]) -> list[Rejection]:
        """The rows whose key an earlier row (of this call or an earlier one) holds, each as
        its rejection naming that row's line; the others' keys are noted."""
        if not rows:
            return []
        c, kidx = self.conn, self._kidx
        keyed = [(r.line, *(r.values[j] for j in kidx)) for r in rows]
        c.execute("BEGIN")
        try:
            before = c.total_changes
            c.executemany(self._insert, keyed)
            if c.total_changes - before == len(keyed):  # every key new: the usual chunk
                return []
            lo, hi = keyed[0][0], keyed[-1][0]
            kept = {
                int(r[0])
                for r in c.execute("SELECT line FROM seen WHERE line BETWEEN ? AND ?", (lo, hi))
            }
            out = []
            for r, k in zip(rows, keyed, strict=True):
                if r.line not in kept:
                    found = c.execute(self._first, k[1:]).fetchone()
                    first = int(found[0]) if found else 0
                    out.append(
                        repeat_rejection(self.spec, r.line, first, k[1:], self.collations)._replace(
                            raw=r.raw
                        )
                    )
            return out
        finally:
            c.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()
