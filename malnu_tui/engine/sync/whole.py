"""Tables without a key (a link table, a log): no row can be matched to its copy, so each
sync replaces the copy's rows in ONE unit — PostgreSQL: the copy emptied and filled by COPY in
one transaction; SQLite: one transaction; D1: a staging table filled in batches and swapped in
by one final batch (:mod:`.whole_d1`). The rows stream from the source (never a whole table in
memory).

The proof compares the two sides as multisets: the row count and the sum of the rows' hashes
(the normal form every comparison uses), which no order changes and a duplicated row adds to
twice. Computed on each side as it streams (PostgreSQL: by the server). When they differ, the
rows are named by their values (there is no key to name): rows are put into buckets by hash,
and the rows of the buckets that differ are compared hash by hash."""

from __future__ import annotations

import re
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any, cast

from malnu_tui.engine.backends.base import utc_now
from malnu_tui.engine.backends.d1.pieces import settled
from malnu_tui.engine.data.sqlwrite import D1_MAX_COLUMNS
from malnu_tui.engine.errors import BackendError
from malnu_tui.engine.sync.compare import MAX_REPORTED
from malnu_tui.engine.sync.model import (
    SYNCED_AT,
    Column,
    Difference,
    Row,
    TableShape,
    shown_values,
)
from malnu_tui.engine.sync.side import Side, SyncState
from malnu_tui.engine.sync.side_sqlkeys import q
from malnu_tui.engine.sync.values import normalizer, row_hasher, to_postgres, to_sqlite

if TYPE_CHECKING:
    import psycopg

__all__ = [
    "NOTE",
    "PAGE_ROWS",
    "Digest",
    "differences",
    "digest",
    "hashed",
    "replace_rows",
    "rows_of",
]

PAGE_ROWS = 5_000
_D1_PAGE = 1_000
_BUCKETS = 4_096
# What a report of such a table says of its differences (there is no key to name).
NOTE = (
    "no key: differing rows are named by their values (a row edited in the copy is one extra "
    "and one missing)"
)
Digest = tuple[int, int]  # (rows, sum of row hashes)


def _own(side: Side, shape: TableShape) -> tuple[Side, TableShape]:
    """``side`` itself and ``shape`` in its own names: a destination may name the source's
    table and columns otherwise (:class:`.destnames.DestNames`: ``"PostTags"`` → ``posttags``
    in a PostgreSQL copy), and this module reads and writes through the side's connection."""
    from malnu_tui.engine.sync.destnames import DestNames, inner

    if isinstance(side, DestNames):
        return inner(side), side.dest_shape(shape)
    return side, shape


def rows_of(side: Side, shape: TableShape) -> Iterator[list[Row]]:
    """Every row of the table, in pages, read as one snapshot where the side has one
    (PostgreSQL: a cursor in one transaction; SQLite: one statement); D1 in rowid pages (each
    its own request: see :func:`.whole_run.sync_whole`, which reads a D1 source's digest
    again). Pages are sized from the rows read to stay near the side's ``answer_bytes``, as a
    keyed table's (.pagesize): a fixed 5,000 rows held a table of photos whole in memory, and
    its D1 copy's batch went over the 100 MB a request (refused every time)."""
    side, shape = _own(side, shape)
    limit = side._page_limit  # type: ignore[attr-defined]
    if side.kind == "postgresql":
        from psycopg import sql  # (only once a PostgreSQL end is open: test_startup)

        conn: psycopg.Connection[Any] = side.conn  # type: ignore[attr-defined]
        query = sql.SQL("SELECT {} FROM {}").format(
            side._select(shape),  # type: ignore[attr-defined]
            side._from(shape.name),  # type: ignore[attr-defined]
        )
        n = limit(shape, PAGE_ROWS, None)
        with conn.transaction(), conn.cursor(name="malnu_sync_whole") as cur:
            cur.execute(query)
            while rows := cur.fetchmany(n):
                yield rows
                n = limit(shape, PAGE_ROWS, rows)
        return
    decode = side._decode  # type: ignore[attr-defined]
    if side.kind == "sqlite":
        c: sqlite3.Connection = side.conn  # type: ignore[attr-defined]
        select = side._select_list(shape)  # type: ignore[attr-defined]
        try:
            n = limit(shape, PAGE_ROWS, None)
            read = c.execute(f"SELECT {select} FROM {q(shape.name)}")
            while rows := read.fetchmany(n):
                page = decode(shape, rows)
                yield page
                n = limit(shape, PAGE_ROWS, page)
        except sqlite3.Error as exc:
            raise BackendError(f"{side.label}: reading {shape.name}: {exc}") from None
        return
    # D1: paged by rowid, read as a last column (and the key a BLOB too large for one hex() is
    # read back by, in pieces), by a name of it no column has: a column named rowid hides it
    # (paged by that text, rows of equal values and NULLs were skipped, and proved so).
    taken = {n.lower() for n in shape.names}
    rid = next((a for a in ("rowid", "_rowid_", "oid") if a not in taken), None)
    if rid is None:
        raise BackendError(
            f"{side.label}: reading {shape.name}: its columns rowid, _rowid_ and oid hide the "
            "row id it is read by in pages",
            hint=f"rename one of them at the source, or leave {shape.name} out with --tables",
        )
    if len(shape.columns) >= D1_MAX_COLUMNS:
        yield from _d1_wide_pages(side, shape, rid)
        return
    paged = replace(shape, columns=(*shape.columns, Column(rid, "bigint", "int")), key=(rid,))
    select = side._select_list(paged)  # type: ignore[attr-defined]
    after = None
    n = limit(shape, _D1_PAGE, None)
    while True:
        where = "" if after is None else f" WHERE {rid} > ?"
        asked = f"SELECT {select} FROM {q(shape.name)}{where} ORDER BY {rid} LIMIT ?"
        params = [*([] if after is None else [after]), n]

        def rows_read(
            asked: str = asked, params: list[Any] = params
        ) -> tuple[list[Any], list[Any]]:
            return side._rows(asked, params), []  # type: ignore[attr-defined]

        page = _settled(side, shape, rows_read, lambda rows, _: decode(paged, rows))
        if not page:
            return
        yield [r[:-1] for r in page]
        if len(page) < n:
            return
        after = page[-1][-1]
        n = limit(shape, _D1_PAGE, page)


def _d1_wide_pages(side: Side, shape: TableShape, rid: str) -> Iterator[list[Row]]:
    """A D1 table of 100 columns in pages of rowid ranges: D1 answers 100 columns a query,
    with no room for the rowid (it was asked 101, "too many columns in result set", and could
    never be synced). Each page's last rowid is asked first, then the rows up to it, and
    (a table with a BLOB) their rowids by a second query of the same request."""
    t, d1 = q(shape.name), cast(Any, side)
    select, limit = d1._select_list(shape), d1._page_limit
    blobs = any(c.kind == "bytes" for c in shape.columns)
    after: list[Any] = []  # the last rowid read (none yet)
    n = limit(shape, _D1_PAGE, None)
    while True:
        where = f" WHERE {rid} > ?" if after else ""
        ends = d1._rows(
            f"SELECT {rid} FROM {t}{where} ORDER BY {rid} LIMIT 1 OFFSET ?", [*after, n - 1]
        )
        upto = f"{' AND' if after else ' WHERE'} {rid} <= ?" if ends else ""
        params = [*after, *(ends[0] if ends else [])]
        read = (f"SELECT {select} FROM {t}{where}{upto} ORDER BY {rid}", params)
        ids = (f"SELECT {rid} FROM {t}{where}{upto} ORDER BY {rid}", params)

        def rows_and_ids(read: Any = read, ids: Any = ids) -> tuple[list[Any], list[Any]]:
            if blobs:  # one request: D1 runs it as one transaction, both answers of one state
                rows, rids = d1._rows_at_once([read, ids])
                return rows, rids
            return d1._rows(*read), []

        page = _settled(
            side, shape, rows_and_ids, lambda rows, rids: _decode_wide(side, shape, rid, rows, rids)
        )
        if page:
            yield page
        if not ends:  # the rows after the last page's end: the table's last
            return
        after = [ends[0][0]]
        n = limit(shape, _D1_PAGE, page or None)


def _settled(
    side: Side,
    shape: TableShape,
    read: Callable[[], tuple[list[Any], list[Any]]],
    decode: Callable[[list[Any], list[Any]], list[Row]],
) -> list[Row]:
    """A D1 page read as one state of the table (:func:`.d1.pieces.settled`)."""
    blobs = [i for i, c in enumerate(shape.columns) if c.kind == "bytes"]
    return settled(read, decode, blobs, f"{side.label}: reading {shape.name}")


def _decode_wide(
    side: Side, shape: TableShape, rid: str, rows: list[Any], rids: list[Any]
) -> list[Row]:
    """A wide page's rows decoded. A BLOB too large for one hex() is read afterwards by its
    row's id, which the page could not carry: ``rids``, the ids of the same rows read in the
    same request (a keyless table has no other key; decoded without one, its pieces were
    asked for by an empty key, "near ')': syntax error"). Asked for by a request of their
    own, a row deleted and another added between the two (as many rows) paired each row
    after it with the next one's id: its BLOB was read from another row, and copied so."""
    d1 = cast(Any, side)
    blobs = [i for i, c in enumerate(shape.columns) if c.kind == "bytes"]
    if not any(isinstance(r[i], int) for r in rows for i in blobs):
        return list(d1._decode(shape, rows))
    paged = replace(shape, columns=(*shape.columns, Column(rid, "bigint", "int")), key=(rid,))
    page = d1._decode(paged, [(*r, i[0]) for r, i in zip(rows, rids, strict=True)])
    return [r[:-1] for r in page]


def digest(side: Side, shape: TableShape) -> Digest:
    """(rows, sum of row hashes) of the whole table: by the server where it hashes."""
    if side.server_hashing(shape):
        return side.range_digest(shape, (None, None))
    hasher = row_hasher([c.kind for c in shape.columns])
    n = total = 0
    for page in rows_of(side, shape):
        n += len(page)
        total += sum(map(hasher, page))
    return n, total


def _buckets(side: Side, shape: TableShape) -> dict[int, Digest]:
    hasher = row_hasher([c.kind for c in shape.columns])
    out: dict[int, Digest] = {}
    for page in rows_of(side, shape):
        for row in page:
            h = hasher(row)
            n, t = out.get(h % _BUCKETS, (0, 0))
            out[h % _BUCKETS] = (n + 1, t + h)
    return out


def _in_buckets(
    side: Side, shape: TableShape, wanted: set[int]
) -> tuple[Counter[int], dict[int, Row]]:
    hasher = row_hasher([c.kind for c in shape.columns])
    seen: Counter[int] = Counter()
    rows: dict[int, Row] = {}
    for page in rows_of(side, shape):
        for row in page:
            h = hasher(row)
            if h % _BUCKETS in wanted:
                seen[h] += 1
                rows.setdefault(h, row)
    return seen, rows


def differences(source: Side, dest: Side, shape: TableShape) -> tuple[list[Difference], int]:
    """The rows that differ, each named by its values (``missing``: at the source more times
    than in the copy; ``extra``: the other way), once per copy too many or too few; and how
    many there are in all (the list keeps :data:`MAX_REPORTED`). Only the rows of the hash
    buckets whose count or sum differ are held, never a whole table."""
    ours, theirs = _buckets(source, shape), _buckets(dest, shape)
    wanted = {b for b in ours.keys() | theirs.keys() if ours.get(b) != theirs.get(b)}
    if not wanted:
        return [], 0
    a, a_rows = _in_buckets(source, shape, wanted)
    b, b_rows = _in_buckets(dest, shape, wanted)
    norms = [normalizer(c.kind) for c in shape.columns]

    def named(row: Row) -> tuple[Any, ...]:  # (a secret's value hidden: .model.shown_values)
        return shown_values(shape.names, tuple(f(v) for f, v in zip(norms, row, strict=True)))

    out: list[Difference] = []
    total = 0
    for h in sorted(a.keys() | b.keys()):
        more = a[h] - b[h]
        total += abs(more)
        kind = "missing" if more > 0 else "extra"
        row = a_rows[h] if more > 0 else b_rows[h]
        for _ in range(min(abs(more), MAX_REPORTED - len(out))):
            out.append(Difference(kind, named(row)))  # type: ignore[arg-type]
    return out, total


def _sqlite_replace(
    side: Side, shape: TableShape, pages: Iterator[list[Row]], state: SyncState
) -> SyncState:
    from malnu_tui.engine.sync.copy_refused import REFUSED, not_null_refusal
    from malnu_tui.engine.sync.side_sqlite import row_placeholders
    from malnu_tui.engine.sync.sqlite_values import unstorable_value

    backend: Any = side.backend
    convert = to_sqlite([c.kind for c in shape.columns])
    now = utc_now()
    cols = ", ".join(q(c) for c in (*shape.names, SYNCED_AT))
    insert = f"INSERT INTO {q(shape.name)} ({cols}) VALUES {row_placeholders(len(shape.names) + 1)}"
    inserted = 0
    page: list[Row] = []
    try:
        with backend.transaction() as c:
            backend.keep_lock()  # nothing commits once our lock was released
            c.execute("PRAGMA defer_foreign_keys = ON")  # the copy's own, checked at COMMIT
            side._ensure_state_table(c)  # type: ignore[attr-defined]
            deleted = c.execute(f"DELETE FROM {q(shape.name)}").rowcount
            for page in pages:
                refused = unstorable_value(shape, page, d1=False)
                if refused is not None:
                    raise BackendError(
                        f"{side.label}: writing {shape.name}{refused[0]}", hint=refused[1]
                    )
                c.executemany(insert, [(*convert(r), now) for r in page])
                inserted += len(page)
            state = _filled(state, inserted, deleted)
            c.execute(side._state_upsert_sql(), state.values())  # type: ignore[attr-defined]
    except sqlite3.IntegrityError as exc:  # the copy's own constraint or trigger
        row, hint = not_null_refusal(shape, page, str(exc)) or ("", REFUSED)
        raise BackendError(f"{side.label}: writing {shape.name}{row}: {exc}", hint=hint) from None
    except sqlite3.Error as exc:
        raise BackendError(
            f"{side.label}: writing {shape.name}: {exc}",
            hint=side._disk(exc),  # type: ignore[attr-defined]
        ) from None
    return state


def _pg_replace(
    side: Side, shape: TableShape, pages: Iterator[list[Row]], state: SyncState
) -> SyncState:
    import psycopg
    from psycopg import sql

    from malnu_tui.engine.backends.pg_sql import with_params
    from malnu_tui.engine.data import pgcopy
    from malnu_tui.engine.sync.side_pgkeys import failing_row, pg_error

    conn: psycopg.Connection[Any] = side.conn  # type: ignore[attr-defined]
    w: Any = side
    convert = to_postgres([c.kind for c in shape.columns])
    now = utc_now()
    t = w._t(shape.name)
    inserted = 0
    page: list[Row] = []
    try:
        with conn.transaction():
            w._ensure_state_table()
            # DELETE, not TRUNCATE: the reports reading the copy meanwhile see the old rows
            # (TRUNCATE would make them wait for the whole copy).
            deleted = max(conn.execute(sql.SQL("DELETE FROM {}").format(t)).rowcount, 0)
            for page in pages:
                w.refuse_unscaled(shape, page)
                data = [(*convert(r), now) for r in page]
                inserted += pgcopy.copy_rows(conn, t, (*shape.names, SYNCED_AT), data)
            # Its serial or identity columns (a copy made by hand) moved past the ids written,
            # as a keyed copy's are: they stayed at 1, and the next INSERT there took id 1.
            owned = pgcopy.owned_sequences(conn, t, shape.names)
            refused = pgcopy.advance_sequences(conn, t, owned, "synced") if owned else []
            w.sequence_warnings.setdefault(shape.name, []).extend(refused)
            state = _filled(state, inserted, deleted)
            conn.execute(with_params(w._state_upsert(), conn), state.values())
    except psycopg.Error as exc:  # the page's COPY names its line: the row, by its values
        there = t.as_string(conn)
        where, hint = failing_row(shape, page, exc, there, lambda c: w._copy_type(shape.name, c))
        raise pg_error(
            f"{side.label}: writing {shape.name}{where}",
            exc,
            writing=True,
            row_named=bool(where),
            hint=hint,
            conn=conn,
            columns=shape.names,
        ) from None
    return state


def _filled(state: SyncState, inserted: int, deleted: int) -> SyncState:
    return replace(state, rows_read=inserted, inserted=inserted, deleted=deleted)


def replace_rows(
    side: Side, shape: TableShape, pages: Iterator[list[Row]], state: SyncState
) -> SyncState:
    """Replace every row of ``side``'s copy with ``pages`` and write ``state`` (its counts
    filled in: read and inserted, the rows there before as deleted), as ONE unit. A row the
    copy refuses leaves it as it was: its hint says so (:func:`_unit_hint`)."""
    from malnu_tui.engine.sync.destnames import DestNames
    from malnu_tui.engine.sync.whole_d1 import d1_replace

    named = state.table_name
    if isinstance(side, DestNames):
        state = replace(state, table_name=side.state_name(named))
    side, shape = _own(side, shape)
    write = {"postgresql": _pg_replace, "sqlite": _sqlite_replace}.get(side.kind, d1_replace)
    try:
        return replace(write(side, shape, pages, state), table_name=named)
    except BackendError as exc:
        if exc.hint:
            exc.hint = _unit_hint(exc.hint)
        raise


# What the hints of a refused row say of a keyed copy, written chunk by chunk.
_CHUNKS_STAY = re.compile(
    r"chunks written before it stay(?:, and the next sync resumes after them)?"
)


def _unit_hint(hint: str) -> str:
    """``hint`` as it holds for a table copied whole: nothing was written (the hints said
    that the chunks written before the row stay and the next sync resumes after them)."""
    return _CHUNKS_STAY.sub(
        "the copy was left as it was: a table without a key is copied whole", hint
    )


def hashed(pages: Iterator[list[Row]], shape: TableShape, into: list[int]) -> Iterator[list[Row]]:
    """``pages`` as they are, their (rows, sum of hashes) added into ``into`` as they pass
    (the source's digest, each row read once)."""
    hasher = row_hasher([c.kind for c in shape.columns])
    for page in pages:
        into[0] += len(page)
        into[1] += sum(map(hasher, page))
        yield page
