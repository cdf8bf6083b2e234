"""The sync's side for Cloudflare D1: the SQLite dialect over HTTP.

Reads are keyset pages of bound-parameter queries (at most 100 parameters each). A chunk is
ONE D1 batch (one transaction) of statements with inlined literals, each under D1's 100 KB
statement limit; a batch whose outcome is unknown is checked through the state row it writes
before it is ever re-sent. BLOBs travel as hex (D1's JSON has no bytes); one too large for one
hex() (over 999,999 bytes) in pieces, read by its row's key after its page (.d1.pieces).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from malnu_tui.engine.backends.base import Kind, utc_now
from malnu_tui.engine.backends.d1.client import (
    MAX_SAFE_INTEGER,
    MAX_STATEMENT_BYTES,
    BatchStatement,
    D1QueryError,
    sent_bytes,
)
from malnu_tui.engine.backends.d1.limits import MAX_HEX_BLOB_BYTES, MAX_ROW_BYTES
from malnu_tui.engine.backends.d1.pieces import Cell, hex_or_length, read_pieces, settled
from malnu_tui.engine.backends.sqlite_sql import bind_literals, sql_literal
from malnu_tui.engine.data import sqlwrite
from malnu_tui.engine.errors import BackendError, RowTooLarge
from malnu_tui.engine.sync.copy_refused import (
    REFUSED,
    UniqueRefused,
    not_null_refusal,
    unique_refusal,
)
from malnu_tui.engine.sync.model import ChunkCounts, Key, Row, TableShape, key_text, row_text
from malnu_tui.engine.sync.pagesize import row_bytes
from malnu_tui.engine.sync.problems import table_key
from malnu_tui.engine.sync.side import (
    STATE_COLUMNS,
    STATE_TABLE,
    Bounds,
    Chunk,
    SyncState,
)
from malnu_tui.engine.sync.side_sqlite import (
    SqliteDialect,
    key_sql,
    q,
    row_placeholders,
    size_sql,
)
from malnu_tui.engine.sync.sqlite_values import unstorable_value
from malnu_tui.engine.sync.values import sqlite_param, to_sqlite

if TYPE_CHECKING:
    from malnu_tui.engine.backends.d1.backend import D1Backend

__all__ = ["D1Side", "literal"]

MAX_STATEMENT = sqlwrite.D1_STATEMENT_BYTES  # D1 refuses statements over 100 KB
CHUNK_ROWS = 500  # rows per batch: the key list of the range delete stays well under the limit
# A write's count is the rows it returns: D1's "changes" counts the rows the copy's own ON
# DELETE CASCADE took with them too (SQLite's total_changes(): a student's grades), and those
# its triggers wrote (a log row per change), where a SQLite copy counts the table's own rows.
_OWN_ROWS = " RETURNING 1"
# D1's API carries values as JavaScript numbers: an integer beyond ±(2**53 - 1) is rounded
# both ways ("BigInts are not currently supported in the API yet", D1's type conversion). Such
# integers are read as text (with a list of where, so a text stays a text) and bound as
# literals; one read any other way is refused, never used rounded.
SAFE = MAX_SAFE_INTEGER


def _is_big(value: Any) -> bool:
    return type(value) is int and not -SAFE <= value <= SAFE


def _big_sql(c: str) -> str:
    return f"typeof({c}) = 'integer' AND {c} NOT BETWEEN -{SAFE} AND {SAFE}"


def literal(value: Any) -> str:
    """A SQLite literal (the backends' one rule), plus BLOBs as ``X'..'`` and non-finite floats
    as NULL (SQLite has no literal for them)."""
    if isinstance(value, bytes | bytearray | memoryview):
        return "X'" + bytes(value).hex() + "'"
    if isinstance(value, float) and (value != value or abs(value) == float("inf")):
        return "NULL"
    return sql_literal(sqlite_param(value))


def tuple_literal(values: Sequence[Any]) -> str:
    return "(" + ", ".join(literal(v) for v in values) + ")"


def _in_order(keys: list[Key]) -> list[Key]:
    """``keys`` in key order when they compare (the range delete is then cut at them)."""
    try:
        return sorted(keys)
    except TypeError:
        return keys


def split_values(
    prefix: str, tuples: Sequence[str], suffix: str = "", named: Callable[[int], str] | None = None
) -> list[str]:
    """``prefix`` + comma-joined ``tuples`` + ``suffix``, as few statements under D1's limit
    (engine/data's shared chunking); a row too large for any statement is refused, by its key
    when ``named`` tells it (``named(i)``: the key of ``tuples[i]``)."""
    try:
        return sqlwrite.d1_statements(prefix, tuples, suffix, max_bytes=MAX_STATEMENT)
    except sqlwrite.RowTooLarge as exc:
        row = f"row {named(exc.index)}" if named is not None else "a row of the chunk"
        raise BackendError(
            f"{row} does not fit in one D1 statement ({exc})",
            hint="rows this large cannot be written to D1 in one statement",
        ) from None


def _sans_counts(state: SyncState) -> tuple[Any, ...]:
    return replace(state, inserted=0, updated=0, deleted=0).values()


def _ascending(keys: Sequence[Key]) -> bool:
    """Whether ``keys`` rise strictly, as SQLite orders them (integers, or text in BINARY
    order, which is Python's: code points; a key column of mixed types is refused earlier)."""
    try:
        return all(a < b for a, b in itertools.pairwise(keys))
    except TypeError:
        return False


class D1Side(SqliteDialect):
    """One D1 database."""

    kind: Kind = "d1"
    read_page_cap = 2_000  # rows per response, at most
    # D1 refuses a query whose result is over 50 MB (its limits page): pages are sized to
    # stay near answer_bytes (.pagesize), BLOBs counted as hex, as they travel.

    def __init__(self, backend: D1Backend, label: str) -> None:
        self.backend = backend
        self.api = backend.api
        self.label = label
        self._row_bytes = {}
        # Tables with foreign keys of the copy's own (a mirror `up` built), in table_key's
        # form: their chunks check them at the batch's end (.references sets it).
        self.related: set[str] = set()

    def rows_for_keys(self, shape: TableShape, keys: Sequence[Key]) -> list[Row]:
        """(See :class:`Side`.) Asked in batches whose answer stays near ``answer_bytes``,
        sized from the largest of each 90 rows (asked first: rows a sync has just repaired are
        not the size last read) — 90 rows near D1's 2 MB row limit passed its 50 MB result
        limit."""
        out: list[Row] = []
        per = max(1, 90 // len(shape.key))
        for i in range(0, len(keys), per):
            chunk = keys[i : i + per]
            values = ", ".join(row_placeholders(len(shape.key)) for _ in chunk)
            found = self._rows(
                f"SELECT max({size_sql(shape)}) FROM {q(shape.name)} "
                f"WHERE {key_sql(shape)} IN (VALUES {values})",
                [v for k in chunk for v in k],
            )
            step = max(1, self.answer_bytes // row_bytes(shape, found[0][0]))
            for j in range(0, len(chunk), step):
                out.extend(super().rows_for_keys(shape, chunk[j : j + step]))
        return out

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        sql, params = self._bound(sql, params)
        return self._checked(list(self.api.raw(sql, params).rows))

    def _rows_at_once(
        self, queries: Sequence[tuple[str, Sequence[Any]]]
    ) -> list[list[tuple[Any, ...]]]:
        """The rows of each of ``queries``, read in ONE request: D1 runs a request's
        statements in one transaction, so no other writer's change falls between them."""
        statements: list[BatchStatement] = []
        for sql, params in queries:
            sql, bound = self._bound(sql, params)
            statements.append((sql, bound) if bound else sql)
        return [self._checked(list(r.rows)) for r in self.api.reads(statements)]

    def _bound(self, sql: str, params: Sequence[Any]) -> tuple[str, list[Any]]:
        bound = [sqlite_param(p) for p in params]
        if any(isinstance(p, bytes | bytearray | memoryview) or _is_big(p) for p in bound):
            # D1's API takes JSON parameters, which carry no bytes (a BLOB key's keyset bound
            # is one) and round integers past 2**53 (a snowflake key's bound): the values go
            # into the statement as literals, a BLOB as X'…'.
            return bind_literals(sql, bound, literal), []
        return sql, bound

    def _checked(self, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        for row in rows:
            for value in row:
                if _is_big(value):
                    raise BackendError(
                        f"{self.label}: D1 answered with the integer {value}, beyond "
                        f"±{SAFE:,} (2**53 - 1): its HTTP API carries numbers as JavaScript "
                        "numbers and rounds such values, so it is not used",
                        hint="store such values (16-digit NIK/KK numbers, snowflake ids) as "
                        "TEXT in D1, or leave the table out of the sync",
                    )
        return rows

    def _select_list(self, shape: TableShape) -> str:
        # D1 answers at most 100 columns (SQLite's column limit bounds a result too): a table
        # of 100 has no room for the flags column, and was never read ("too many columns in
        # result set"). Its integers come as they are; one past 2**53 is refused (_rows).
        wide = len(shape.columns) >= sqlwrite.D1_MAX_COLUMNS
        cols = []
        for c in shape.columns:
            n = q(c.name)
            if c.kind == "bytes":  # hex(NULL) is '' in SQLite: keep NULL a NULL.
                # A value too large for one hex() comes as its size, read in pieces after
                # (_decode); a key's is needed whole to page by.
                whole = f"hex({n})" if c.name in shape.key else hex_or_length(n)
                cols.append(f"CASE WHEN {n} IS NULL THEN NULL ELSE {whole} END")
            elif wide:
                cols.append(n)
            else:  # an integer a JavaScript number would round comes as its digits
                cols.append(f"CASE WHEN {_big_sql(n)} THEN CAST({n} AS TEXT) ELSE {n} END")
        if wide:
            return ", ".join(cols)
        # Last, which columns of the row came as digits (NULL: none), so text stays text.
        flags = " || ".join(
            f"CASE WHEN {_big_sql(q(c.name))} THEN '{i},' ELSE '' END"
            for i, c in enumerate(shape.columns)
            if c.kind != "bytes"
        )
        return ", ".join([*cols, f"nullif({flags or repr('')}, '')"])

    def _not_utf8(
        self, shape: TableShape, exc: BackendError, after: Key | None, upto: Key | None
    ) -> None:
        """(See :class:`.side_sqlite.SqliteDialect`.) Also names the value D1 could not give
        back: a BLOB column is read as hex, twice its size, which D1 refuses over its
        2,000,000 bytes a value (``string or blob too big``, naming nothing)."""
        super()._not_utf8(shape, exc, after, upto)
        if "too big" not in str(exc) or self._scanning:
            return
        # Other values are read in pieces (_decode): a key's cannot be, it is paged by.
        keys = ", ".join(
            f"CASE WHEN {_big_sql(q(k))} THEN CAST({q(k)} AS TEXT) ELSE {q(k)} END"
            for k in shape.key
        )
        for c in shape.columns:
            if c.kind != "bytes" or c.name not in shape.key:
                continue
            found = self._rows(
                f"SELECT length({q(c.name)}), {keys} FROM {q(shape.name)} "
                f"WHERE length({q(c.name)}) > {MAX_HEX_BLOB_BYTES} LIMIT 1"
            )
            if found:
                size, *key = found[0]
                raise RowTooLarge(
                    f"{self.label}: reading {shape.name}, row {key_text(shape.key, tuple(key))}"
                    f", key column {c.name}: a BLOB of {size:,} bytes; D1 gives a BLOB back "
                    f"over its HTTP API as hex, twice its size, and no value over "
                    f"{MAX_ROW_BYTES:,} bytes: a sync pages by a key of at most "
                    f"{MAX_HEX_BLOB_BYTES:,} bytes",
                    hint="keep such files outside the database (R2, with their address in the "
                    "row), or leave the table out with --tables",
                ) from None

    def _read(self, shape: TableShape, sql: str, params: Sequence[Any]) -> list[Row]:
        """(See :class:`.side_sqlite.SqliteDialect`.) A BLOB too large for one hex() is read
        in pieces by its row's key a request later: a row the application changed meanwhile
        (a file replaced, its name with it) was copied with its old values and its new file.
        Such rows are read again after their pieces (.d1.pieces.settled)."""
        blobs = [i for i, c in enumerate(shape.columns) if c.kind == "bytes"]
        return settled(
            lambda: (self._rows(sql, params), []),
            lambda rows, _: self._decode(shape, rows),
            blobs,
            f"{self.label}: reading {shape.name}",
        )

    def _decode(self, shape: TableShape, rows: list[tuple[Any, ...]]) -> list[Row]:
        blobs = [i for i, c in enumerate(shape.columns) if c.kind == "bytes"]
        width = len(shape.columns)
        out: list[list[Any]] = []
        later: list[tuple[int, int, Cell]] = []  # (row, column, value) read in pieces
        for r in rows:
            row = list(r[:width])
            flags = r[width] if len(r) > width else None  # another select list has none
            if flags:
                for digits in str(flags).rstrip(",").split(","):
                    at = int(digits)
                    row[at] = int(row[at])
            for i in blobs:
                if isinstance(row[i], int):  # its size: too large for one hex()
                    key = tuple(row[k] for k in shape.key_index)
                    named = f"reading {shape.name}, row {key_text(shape.key, key)}, column "
                    later.append(
                        (len(out), i, Cell(q(shape.names[i]), key, row[i], named + shape.names[i]))
                    )
                elif row[i] is not None:
                    row[i] = bytes.fromhex(row[i])
            out.append(row)
        if later:
            where = f"{key_sql(shape)} = {row_placeholders(len(shape.key))}"
            values = read_pieces(
                self._rows, q(shape.name), where, [c for *_, c in later], self.label
            )
            for (at, i, _), value in zip(later, values, strict=True):
                out[at][i] = value
        return [tuple(r) for r in out]

    def key_span(self, shape: TableShape) -> tuple[Any, Any] | None:
        k, t = q(shape.key[0]), q(shape.name)
        # min() and max() each alone from the end of the index; as digits when past 2**53.
        ends = [
            self._rows(
                f"SELECT CASE WHEN {_big_sql('m')} THEN CAST(m AS TEXT) ELSE m END, "
                f"{_big_sql('m')} FROM (SELECT {way}({k}) AS m FROM {t})"
            )[0]
            for way in ("min", "max")
        ]
        lo, hi = (int(v) if big else v for v, big in ends)
        return None if lo is None else (lo, hi)

    def _batch(
        self,
        statements: Sequence[BatchStatement],
        expect: SyncState | None,
        done: Callable[[], bool] | None = None,
    ) -> list[Any]:
        """One D1 batch. An attempt of unknown outcome is read back before it is sent again:
        through the state row it writes (``expect``), or ``done``; without either it is
        re-sent (idempotent statements only)."""

        def took_effect() -> bool:
            if done is not None:
                return done()
            if expect is None:
                return False
            now = self.read_state(expect.table_name)  # (the counts are the batch's own)
            return now is not None and _sans_counts(now) == _sans_counts(expect)

        for st in statements:
            if (size := sent_bytes(st if isinstance(st, str) else st[0])) > MAX_STATEMENT_BYTES:
                raise BackendError(
                    f"{self.label}: a statement of {size} bytes exceeds D1's limit",
                    hint="rows this large cannot be written to D1 in one statement",
                )
        return self.backend.locked_batch(statements, took_effect)

    def create_table(self, source: TableShape) -> None:
        # Re-sent after it ran, CREATE TABLE would fail on the table it made.
        self._batch([self.create_ddl(source)], None, lambda: source.name in self.tables())

    def drop_empty_copy(self, table: str) -> bool:
        """(See :meth:`.side.Side.drop_empty_copy`; the sync's lock keeps other writers out
        between the look and the batch.)"""
        if (
            table not in self.tables()
            or self._rows(f"SELECT EXISTS (SELECT 1 FROM {q(table)})")[0][0]
        ):
            return False
        drop = [f"DROP TABLE {q(table)}"]
        if self._has_state_table():
            drop.append(f"DELETE FROM {STATE_TABLE} WHERE table_name = {literal(table)}")
        self._batch(drop, None, lambda: table not in self.tables())
        return True

    def write_state(self, state: SyncState) -> None:
        self._batch([*self._state_ddl(), self._state_sql(state)], None)
        self._state_made = True

    def _state_sql(self, state: SyncState) -> str:
        cols = ", ".join(STATE_COLUMNS)
        sets = ", ".join(f"{c} = excluded.{c}" for c in STATE_COLUMNS[1:])
        return (
            f"INSERT INTO {STATE_TABLE} ({cols}) VALUES {tuple_literal(state.values())} "
            f"ON CONFLICT (table_name) DO UPDATE SET {sets}"
        )

    def _range_deletes(
        self, shape: TableShape, bounds: Bounds, row_keys: Sequence[Key], keys: Sequence[str]
    ) -> list[str]:
        """The DELETE of the rows within ``bounds`` that the chunk (keys ``row_keys``, as
        literals ``keys``) does not have: rows the source no longer has. Under D1's limit
        (10,000 six-digit ids passed it): the range is cut at the chunk's own keys, which come
        in key order, each piece naming only its own. Keys out of order are never cut (one
        statement, which D1 may refuse by its size: an error, never a wrong delete)."""
        t, k = q(shape.name), key_sql(shape)

        def delete(lo: Key | None, hi: Key | None, group: Sequence[str]) -> str:
            # The bounds as literals (a text key may hold "?": never spliced into a template).
            cond = [f"{k} > {tuple_literal(lo)}"] if lo is not None else []
            cond += [f"{k} <= {tuple_literal(hi)}"] if hi is not None else []
            not_in = [f"{k} NOT IN (VALUES {', '.join(group)})"] if group else []
            return f"DELETE FROM {t} WHERE {' AND '.join(cond + not_in) or '1'}{_OWN_ROWS}"

        lo, hi = bounds
        whole = delete(lo, hi, keys)
        if sent_bytes(whole) <= MAX_STATEMENT or not _ascending(row_keys):
            return [whole]
        out: list[str] = []
        start, size = 0, 0
        # Room for a piece's keys: the limit less its frame and its two bounds (the largest
        # key's literal twice, at most), the rest for the keys and their separators.
        frame = len(delete(None, None, ["()"]).encode()) + 64
        room = MAX_STATEMENT - frame - 2 * max(len(x.encode()) for x in keys)
        for i, lit in enumerate(keys):
            size += len(lit.encode()) + 2
            if size > room and i > start:
                out.append(delete(lo, row_keys[i - 1], keys[start:i]))
                lo, start, size = row_keys[i - 1], i, len(lit.encode()) + 2
        out.append(delete(lo, hi, keys[start:]))
        return out

    def _refused_row(
        self,
        shape: TableShape,
        rows: Sequence[Row],
        singles: Sequence[list[BatchStatement]],
        message: str,
    ) -> tuple[str, str | None]:
        """``(", row id=7", hint)`` naming the row of a chunk the table refused on its own (D1's
        message names none): a NOT NULL names its column; else the first of ``singles`` (each
        row's upsert) that fails, found in batches D1 rolls back (``trial``), halving."""
        found = not_null_refusal(shape, rows, message)
        if found is not None:
            return found
        lo, hi = 0, len(singles)  # the first failing statement is in [lo, hi)

        def flat(groups: Sequence[list[BatchStatement]]) -> list[BatchStatement]:
            return [st for g in groups for st in g]

        if self.api.trial(flat(singles)) is None:
            return "", None  # each row alone is taken: rows of the chunk clash with each other
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self.api.trial(flat(singles[:mid])) is None:
                lo = mid
            else:
                hi = mid
        key = row_text(shape, rows[lo])
        return f", row {key}", REFUSED

    def _bound_row(
        self, shape: TableShape, row: Row, values: Sequence[Any], head: str, suffix: str
    ) -> sqlwrite.BoundRow:
        """The upsert of one row too large for a statement of literals, its largest texts
        bound, a BLOB over a statement built piece by piece (engine/data's
        :func:`~sqlwrite.d1_bound_row`, the import's too). One D1 cannot hold (over 2 MB) is
        refused by row and column (exit 2). A BLOB over 999,999 bytes, which D1 cannot give
        back in one hex(), is read back in pieces (.d1.pieces): it was refused, though D1
        keeps 2 MB."""
        key = row_text(shape, row)
        try:
            return sqlwrite.d1_bound_row(head, values, suffix, literal)
        except sqlwrite.RowRefused as exc:
            column = shape.names[min(exc.column, len(shape.names) - 1)]
            raise RowTooLarge(
                f"{self.label}: writing {shape.name}, row {key}, column {column}: {exc}",
                hint=self.TOO_LARGE,
            ) from None

    TOO_LARGE = (
        "D1 cannot take this row (developers.cloudflare.com/d1/platform/limits/): keep such "
        "files outside the database (R2, with their address in the row), or leave the table "
        "out with --tables; chunks written before it stay"
    )

    def _all_gone(self, deletes: Sequence[str]) -> bool:
        """Whether no row that ``deletes`` (``DELETE FROM … RETURNING 1``) delete is left."""
        cut = len("DELETE FROM ")
        probes = [(f"SELECT 1 FROM {st[cut : -len(_OWN_ROWS)]} LIMIT 1", ()) for st in deletes]
        return not probes or not any(self._rows_at_once(probes))

    def write_chunk(self, shape: TableShape, chunk: Chunk) -> ChunkCounts:
        rows, state, bounds, delete = chunk.rows, chunk.state, chunk.bounds, chunk.delete
        direct, last_key = chunk.direct, chunk.last_key
        refused = unstorable_value(shape, rows, d1=True)
        if refused is not None:
            raise BackendError(f"{self.label}: writing {shape.name}{refused[0]}", hint=refused[1])
        now = utc_now()
        convert = to_sqlite([c.kind for c in shape.columns])
        kidx = shape.key_index
        values = [(*convert(r), now) for r in rows]
        tuples = [tuple_literal(v) for v in values]
        keys = [tuple_literal([r[i] for i in kidx]) for r in rows]
        t, k = q(shape.name), key_sql(shape)
        statements: list[BatchStatement] = [*self._state_ddl()]
        if (
            table_key(self, shape.name) in self.related
        ):  # a statement's rows may refer to a later one's
            statements.insert(0, "PRAGMA defer_foreign_keys = on")
        # The chunk's counts are written by the batch itself, into the state row it writes
        # first: inserted and updated as if every row were new, then corrected by the rows
        # already there and by each statement's changes. They went in a second request: a
        # stop between the two left "rows read" advanced, "inserted" not (under-counted).
        at = f" WHERE table_name = {literal(state.table_name)}"
        provisional = state.advanced(ChunkCounts(len(rows), -len(rows), 0), len(rows), last_key)
        statements.append(self._state_sql(provisional))
        statements.extend(
            []
            if direct
            else split_values(
                f"UPDATE {STATE_TABLE} SET (inserted, updated) = (SELECT inserted - n, "
                f"updated + n FROM (SELECT count(*) AS n FROM {t} WHERE {k} IN (VALUES ",
                keys,
                ")))" + at,
            )
        )
        add = f"UPDATE {STATE_TABLE} SET {{c}} = {{c}} + changes(){at}"
        head = self._upsert_head(shape)
        suffix = ("" if direct else self._upsert_tail(shape)) + _OWN_ROWS
        # A row too large for a statement of literals goes alone, its texts bound (D1 keeps a
        # row up to 2 MB; its statements, 100 KB): a chat's long answer, a photo kept as a
        # data: URL. It was refused, naming neither the table nor the column.
        fixed = sent_bytes(head + suffix) + 2
        alone = {i for i, tup in enumerate(tuples) if fixed + len(tup.encode()) > MAX_STATEMENT}
        small = [i for i in range(len(rows)) if i not in alone]
        for st in split_values(head, [tuples[i] for i in small], suffix):
            statements.extend([st, add.format(c="updated")])
        bound = {i: self._bound_row(shape, rows[i], values[i], head, suffix) for i in alone}
        for big in bound.values():  # a large row's own statement counted only
            statements.extend([*big.build, big.row, add.format(c="updated"), *big.drop])
        removing: list[str] = []
        if bounds is not None and not direct:
            row_keys = [tuple(r[i] for i in kidx) for r in rows]
            kept = keys
            if chunk.kept:  # the chunk's rows of the batches before this one stay too
                row_keys = _in_order([*row_keys, *chunk.kept])
                kept = [tuple_literal(key) for key in row_keys]
            removing.extend(self._range_deletes(shape, bounds, row_keys, kept))
        if delete:
            removing.extend(
                split_values(
                    f"DELETE FROM {t} WHERE {k} IN (VALUES ",
                    [tuple_literal(d) for d in delete],
                    ")" + _OWN_ROWS,
                )
            )
        for st in removing:
            statements.extend([st, add.format(c="deleted")])
        statements.append(f"SELECT inserted, updated, deleted FROM {STATE_TABLE}{at}")
        # A chunk of no rows (the deletes past the last page, a repair's) leaves its state row
        # as it found it but for the counts: an attempt of unknown outcome was taken as run and
        # never sent again. Whether it ran is read from the rows it deletes.
        done = None if rows else (lambda: self._all_gone(removing))
        try:
            results = self._batch(statements, provisional, done)
        except D1QueryError as exc:
            if "constraint failed" not in str(exc):
                raise
            singles: list[list[BatchStatement]] = [
                bound[i].statements() if i in bound else [f"{head}{v}{suffix}"]
                for i, v in enumerate(tuples)
            ]

            said = str(exc)

            def named() -> BackendError:
                where, hint = self._refused_row(shape, rows, singles, said)
                return BackendError(f"{self.label}: writing {shape.name}{where}: {said}", hint=hint)

            if not direct and unique_refusal(exc):  # the row looked for only if it must be
                raise UniqueRefused(f"{self.label}: writing {shape.name}: {said}", named) from None
            raise named() from None
        if results:
            self._state_made = True
            total = [int(v) for v in results[-1].rows[0]]
        else:  # an attempt of unknown outcome had been applied: its counts are in its state row
            w = self.read_state(state.table_name) or provisional
            total = [w.inserted, w.updated, w.deleted]
        return ChunkCounts(
            total[0] - state.inserted, total[1] - state.updated, total[2] - state.deleted
        )
