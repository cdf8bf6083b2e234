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
from collections.abc import Callable, Sequence
from itertools import chain, islice
from typing import TYPE_CHECKING

from malnu_tui.engine.backends.sqlite_sql import quote_ident, sql_literal
from malnu_tui.engine.data.flatblock import FlatRows
from malnu_tui.engine.secrets import HIDDEN, masked_detail, secret_in

if TYPE_CHECKING:
    from malnu_tui.engine.data.rows import Rejection, RowBatch
    from malnu_tui.engine.data.spec import WriteSpec
    from malnu_tui.engine.data.uniques import UniqueSet

_RESULT_CODE = re.compile(r":\s*SQLITE_[A-Z_]+\s*$")
# Which of these key values the target table holds (one bool each, in order).
HeldKeys = Callable[[list[tuple[object, ...]]], list[bool]]


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


def sqlite_keys_table(spec: WriteSpec, unique: UniqueSet, name: str) -> str:
    """``CREATE TABLE`` of the values of one watched constraint seen: the source line, then
    its columns (``k0, k1, …``) with the table's affinity and the constraint's collation,
    UNIQUE as the constraint is (NULLs never repeat)."""
    cols = []
    for i, k in enumerate(unique.columns):
        col = spec.schema.column(k)
        aff = column_affinity(unique, col.declared_type if col else "")
        cols.append(f"k{i} {aff} COLLATE {quote_ident(unique.collation(i) or 'BINARY')}")
    keys = ", ".join(f"k{i}" for i in range(len(unique.columns)))
    head = f"CREATE TABLE {quote_ident(name)} (line INTEGER PRIMARY KEY"
    return f"{head}, {', '.join(cols)}, UNIQUE ({keys}))"


def held_keys(
    spec: WriteSpec,
    run: Callable[[list[tuple[str, list[object]]]], list[Sequence[Sequence[object]]]],
    *,
    rows: int,
    max_bytes: int | None = None,
) -> HeldKeys:
    """:data:`HeldKeys` of the ``--key`` (``spec.uniques[0]``): ``run`` takes SELECTs with
    their parameters (``rows`` key values a statement at most; ``max_bytes``: and at most
    that many bytes of values, where they are spelt as literals) and returns each one's rows,
    SQLite's in its unit, D1's in one request. Compared as the key's UNIQUE index compares
    (its collation; the column's affinity applied to the value, as an INSERT applies it); a
    NULL is held by no row."""
    u = spec.uniques[0]
    t = quote_ident(spec.table)
    width = 1 + len(u.columns)
    match = " AND ".join(
        f"h.{quote_ident(k)} = v.column{i + 2} COLLATE {quote_ident(u.collation(i) or 'BINARY')}"
        for i, k in enumerate(u.columns)
    )
    one = "(" + ", ".join("?" * width) + ")"
    tail = f") v WHERE EXISTS (SELECT 1 FROM {t} h WHERE {match})"

    def held(keys: list[tuple[object, ...]]) -> list[bool]:
        statements: list[tuple[str, list[object]]] = []
        params: list[object] = []
        n = size = 0
        for i, key in enumerate(keys):
            # (the literal's bytes, as D1 counts them: a character of Javanese script is 3,
            # and ~190 KB of keys counted as 67,500 characters were refused as too long)
            more = 0
            if max_bytes is not None:
                more = sum(len(sql_literal(v).encode()) + 2 for v in key) + len(str(i)) + 4
            if n and (n >= rows or (max_bytes is not None and size + more > max_bytes)):
                statements.append(
                    (f"SELECT v.column1 FROM (VALUES {', '.join([one] * n)}{tail}", params)
                )
                params, n, size = [], 0, 0
            params += (i, *key)
            n += 1
            size += more
        if n:
            statements.append(
                (f"SELECT v.column1 FROM (VALUES {', '.join([one] * n)}{tail}", params)
            )
        out = [False] * len(keys)
        for found in run(statements) if statements else []:
            for r in found:
                out[int(str(r[0]))] = True
        return out

    return held


class _Seen:
    """One watched constraint's table of values seen (:class:`ScratchKeys`)."""

    def __init__(self, conn: sqlite3.Connection, spec: WriteSpec, u: UniqueSet, n: int) -> None:
        self.unique = u
        self.name = f"seen{n}"
        self.kidx = tuple(spec.columns.index(c) for c in u.columns)
        conn.execute(sqlite_keys_table(spec, u, self.name))
        width = 1 + len(u.columns)
        k = ", ".join(f"k{i}" for i in range(len(u.columns)))
        self.insert = f"INSERT OR IGNORE INTO {self.name} (line, {k}) VALUES "
        self.one = f"({', '.join('?' * width)})"
        self.per = max(1, min(200, conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // width))
        self.width = width
        where = " AND ".join(f"k{i} = ?" for i in range(len(u.columns)))
        self.first = f"SELECT line FROM {self.name} WHERE {where}"
        self.kept = f"SELECT line FROM {self.name} WHERE line BETWEEN ? AND ?"

    def add(
        self, conn: sqlite3.Connection, lines: Sequence[int], cols: list[Sequence[object]]
    ) -> bool:
        """Note the rows' values (several rows a statement: one a statement doubled an
        import's time); True when every one was new (or NULL)."""
        n, per, width = len(lines), self.per, self.width
        tuples = zip(lines, *cols, strict=True)
        whole = n - n % per
        before = conn.total_changes
        if whole:
            sql = self.insert + ", ".join([self.one] * per)
            params = list(chain.from_iterable(islice(tuples, whole)))
            conn.executemany(sql, zip(*[iter(params)] * (per * width), strict=False))
        if whole < n:
            conn.executemany(self.insert + self.one, tuples)
        return conn.total_changes - before == n


class ScratchKeys:
    """The values of the watched constraints an import has seen, kept in a scratch SQLite
    file of its own (SQLite deletes it at :meth:`close`) with the table's affinity and
    collation: SQLite's import (its unit's temp tables are kept in memory) and D1's dry run,
    which holds no unit on D1 across requests (each chunk's trial is rolled back, so a value
    seen in an earlier chunk was not). On disk behind SQLite's small page cache: memory stays
    flat however many rows the file has (never a set in Python).

    One constraint after the other, as PostgreSQL's and D1's stages are searched: a row taken
    out for one is no first line for the next (its values of those are not noted). A single
    table of every constraint's values noted a row refused for a later constraint under none,
    so a later row holding its value of an earlier one was taken, and the refused row was
    said to repeat that later line ("id 2 repeats line 4" of line 3)."""

    def __init__(self, spec: WriteSpec, held: HeldKeys | None = None) -> None:
        self.spec = spec
        # --on-conflict skip: which keys the table holds (those rows' other values unwritten)
        self._held = held if spec.others_among_new else None
        # "": a private temp file. Written by the import's writer thread, closed by its caller.
        self.conn = sqlite3.connect("", isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode = OFF")
        self.conn.execute("PRAGMA synchronous = OFF")
        self._seen = [_Seen(self.conn, spec, u, n) for n, u in enumerate(spec.uniques)]

    def repeats(self, rows: RowBatch) -> list[Rejection]:
        """The rows whose value of a watched constraint an earlier row (of this call or an
        earlier one) holds, each as its rejection naming that row's line; the others' values
        are noted."""
        n = len(rows)
        if not n:
            return []
        c = self.conn
        values = rows.values
        lines: Sequence[int] = rows.lines
        left: list[int] | None = None  # the rows still in (None: all)
        out: list[Rejection] = []
        c.execute("BEGIN")
        try:
            for n_seen, seen in enumerate(self._seen):
                cols: list[Sequence[object]]
                if isinstance(values, FlatRows) and values.width == len(self.spec.columns):
                    flat, w = values.flat, values.width
                    cols = [flat[j::w] for j in seen.kidx]
                else:
                    cols = [[v[j] for v in values] for j in seen.kidx]
                looked = left  # the rows compared (None: all)
                if n_seen == 1 and self._held is not None:
                    left = self._new_keys(values, n if left is None else left)
                    looked = left
                if looked is not None:
                    cols = [[col[i] for i in looked] for col in cols]
                at = lines if looked is None else [lines[i] for i in looked]
                if not at or seen.add(c, at, cols):
                    continue
                kept = {int(r[0]) for r in c.execute(seen.kept, (at[0], at[-1]))}
                still: list[int] = []
                for i, line in enumerate(at):
                    row = i if looked is None else looked[i]
                    if line in kept:
                        still.append(row)
                        continue
                    value = tuple(col[i] for col in cols)
                    found = c.execute(seen.first, value).fetchone()
                    u = seen.unique
                    out.append(
                        repeat_rejection(self.spec, u, line, int(found[0]), value)._replace(
                            raw=rows.raws[row]
                        )
                    )
                left = still
            return sorted(out, key=lambda r: r.line)
        finally:
            c.execute("COMMIT")

    def _new_keys(self, values: Sequence[Sequence[object]], rows: int | list[int]) -> list[int]:
        """Of ``rows`` (their indexes, or the first n), those whose key the table does not
        hold: the rows an ``--on-conflict skip`` adds (the others are skipped, their values
        of the other constraints never written, so compared with none)."""
        looked = list(range(rows)) if isinstance(rows, int) else rows
        kidx = self._seen[0].kidx
        keys = [tuple(values[i][j] for j in kidx) for i in looked]
        assert self._held is not None
        held = self._held(keys)
        return [i for i, h in zip(looked, held, strict=True) if not h]

    def close(self) -> None:
        self.conn.close()
