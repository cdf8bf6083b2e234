"""The fast path of a full copy from a SQLite file into PostgreSQL, and its byte-level proof.

SQLite shapes each value in SQL so that psycopg's text for it is what PostgreSQL prints back for
the stored value (booleans stored as 1/0 become ``t``/``f``, whole REALs become integers);
psycopg's own row formatter (the one ``write_row`` uses) makes a chunk's COPY text in one
buffer, which is hashed here (SHA-256, in C) and sent with one write. While the copy goes on, a
second connection has the destination print each committed key range the same way in SQL
(:func:`.copytext.pg_line_sql`) and hash it: an equal row count and digest prove the range.
A range whose bytes differ — a value stored in another layout (a timestamp written with a ``T``, a
``NUMERIC(10,2)``, a float of 16 digits or more) — is compared value by value
(:func:`.verify.compare_table`), so a formatting difference costs time, never a false report.

Why equal bytes prove equal rows: the source's bytes are COPY text, in which a tab, newline or
backslash inside a value is always escaped (a backslash and a letter). The destination prints
every non-text value without any of those characters, and text with each backslash doubled and
nothing else escaped. So equal bytes have the same number of tabs and newlines (one row per
line, one field per tab), and inside each field every backslash of either side comes as a
doubled pair: the source value held no character that COPY escapes other than the backslash,
and both sides then spell the same value the same way.
"""

from __future__ import annotations

import contextlib
import gc
import queue
import threading
from collections.abc import Generator, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, cast

from malnu_tui.engine.sync import copytext
from malnu_tui.engine.sync.copytext import sqlite_select, text_digest
from malnu_tui.engine.sync.destnames import inner
from malnu_tui.engine.sync.model import Key, Row, TableShape
from malnu_tui.engine.sync.side import Bounds, SyncState
from malnu_tui.engine.sync.verify import RangeResult, compare_table, int_key

if TYPE_CHECKING:
    from malnu_tui.engine.sync.session import SyncSession
    from malnu_tui.engine.sync.side_postgres import PostgresSide
    from malnu_tui.engine.sync.side_sqlite import SqliteSide

__all__ = ["FastCopy"]


class _Collector:
    """Python's cyclic garbage collector, run less often while pages are read: every row read
    is a new tuple it tracks, so it ran every 700 rows, looking at tuples that hold no cycles
    (~5 % of the reading's CPU, 0.07 s per 1,000,000 rows); every 100,000 new objects it
    costs next to nothing and still frees cycles. Several threads' copies are counted: the
    usual threshold is back after the last."""

    ROWS = 100_000
    lock = threading.Lock()
    copies = 0
    before: tuple[int, int, int] = (700, 10, 10)

    @classmethod
    @contextlib.contextmanager
    def batched(cls) -> Iterator[None]:
        with cls.lock:
            if cls.copies == 0:
                cls.before = gc.get_threshold()
                gc.set_threshold(max(cls.before[0], cls.ROWS), *cls.before[1:])
            cls.copies += 1
        try:
            yield
        finally:
            with cls.lock:
                cls.copies -= 1
                if cls.copies == 0:
                    gc.set_threshold(*cls.before)


def _lines_digest(lines: Sequence[bytes | bytearray]) -> str | None:
    """The digest of COPY text ``lines`` (each ended by a newline), as PostgreSQL's
    :func:`.copytext.pg_digest_sql` of ``string_agg(line, E'\\n') || E'\\n'`` says it:
    None for no line."""
    return text_digest(b"\n".join(lines) + b"\n") if lines else None


def _proved(theirs: Future[tuple[int, str | None]], mine: tuple[int, str]) -> bool:
    """True when the destination's digest is in and equal; a failed check (its connection
    lost) proves nothing: the range is then compared value by value on the main one."""
    try:
        return theirs.result() == mine
    except Exception:
        return False


class FastCopy:
    """A full copy's fast path for one table (SQLite file → PostgreSQL): shaped pages, their
    COPY text and its digest, and a verifier that checks each committed range on its own
    connection while the copy goes on."""

    def __init__(
        self, s: SyncSession, shape: TableShape, select: str, own_connection: bool = True
    ) -> None:
        self.s, self.shape, self.select = s, shape, select
        # The destination hashes ranges on a connection of its own while the main one copies;
        # a read-only comparison leaves the main one idle and uses it.
        self.own_connection = own_connection
        self.src: SqliteSide = s.src  # type: ignore[assignment]
        self.dst: PostgresSide = s.dst  # type: ignore[assignment]
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="malnu-sync-verify")
        self._checks: list[tuple[Bounds, int, str, Future[tuple[int, str | None]]]] = []
        # Ranges checked in their chunk's heap blocks only (a copy whose key is built after
        # it): their proof says nothing of a row elsewhere, which the table's count shows.
        self.scoped = False
        self._side: PostgresSide | None = None
        self._counted: Future[tuple[int, int]] | None = None
        self.dst.copy_bytes([])  # its formatter made here, before the reading thread uses it

    @staticmethod
    def _select(s: SyncSession, shape: TableShape) -> str | None:
        # The kinds first: the PostgreSQL side's module and the formatter load psycopg, which
        # a sync without a PostgreSQL end never needs (~0.1 s of its start-up).
        if s.src.kind != "sqlite" or s.dst.kind != "postgresql":
            return None
        from malnu_tui.engine.sync.side_postgres import PostgresSide
        from malnu_tui.engine.sync.side_sqlite import SqliteSide, q

        if copytext.format_row_text is None:
            return None
        if not isinstance(s.src, SqliteSide) or not isinstance(inner(s.dst), PostgresSide):
            return None
        if s.dst.conn.info.server_version < copytext.DIGEST_SINCE:
            return None  # no sha256() to hash the destination's ranges with
        return sqlite_select(shape, q)

    @staticmethod
    def start(
        s: SyncSession, shape: TableShape, direct: bool, *, own_connection: bool = True
    ) -> FastCopy | None:
        """The fast path for this table, or None when it does not apply."""
        select = FastCopy._select(s, shape)
        if select is None or (
            direct and not cast("PostgresSide", s.dst).stamps_by_default(shape.name)
        ):
            return None
        return FastCopy(s, shape, select, own_connection)

    @staticmethod
    def defers_key(s: SyncSession, shape: TableShape) -> bool:
        """True when a full copy of ``shape`` into a table the sync creates takes this path and
        may build the table's primary key once the rows are in (see ``PostgresSide.add_key``):
        each chunk is then checked in the heap blocks it went to."""
        return FastCopy._select(s, shape) is not None and cast("PostgresSide", s.dst).defers_keys()

    @staticmethod
    def create_table(s: SyncSession, shape: TableShape, defer_key: bool) -> None:
        """Create the destination's copy of ``shape``; ``defer_key`` (see :meth:`defers_key`):
        without its primary key, which :meth:`add_key` builds after the copy."""
        if defer_key:
            cast("PostgresSide", s.dst).create_table(shape, defer_key=True)
        else:
            s.dst.create_table(shape)

    @staticmethod
    def add_key(s: SyncSession, shape: TableShape, state: SyncState) -> None:
        """Build the primary key a full copy deferred, ``state`` written with it."""
        cast("PostgresSide", s.dst).add_key(shape, state)

    def build_key(self, state: SyncState) -> None:
        """:meth:`add_key` at the end of this copy, both sides counted meanwhile (the source
        and the verifier's connection, after the last range checks): :meth:`counted`."""
        table = self.shape.name

        def count() -> tuple[int, int]:
            return self.src.count(table), self._verifier().count(table)

        def beside() -> Future[tuple[int, int]]:
            self._counted = self._pool.submit(count)
            return self._counted

        self.dst.add_key(self.shape, state, beside)

    def counted(self) -> tuple[int, int] | None:
        """Both sides' row counts taken while :meth:`build_key` built the key (None: not
        taken, or they failed)."""
        try:
            return None if self._counted is None else self._counted.result()
        except Exception:
            return None

    def pages(
        self,
        after: Key | None,
        page_rows: int,
        *,
        cursor: str | None = None,
        since: str | None = None,
    ) -> Generator[tuple[list[Row], bytearray, str], None, None]:
        """The pages after ``after`` (with ``cursor``: only rows changed since ``since``), each
        with its COPY text and the text's digest, read and formatted one page ahead in a thread
        (on the source's connection, which nothing else uses meanwhile): SQLite steps and
        psycopg formats while PostgreSQL takes in the previous chunk. At most two pages wait
        (memory stays flat)."""
        ready: queue.Queue[tuple[list[Row], bytearray, str] | BaseException | None]
        ready = queue.Queue(2)
        stop = threading.Event()

        def produce() -> None:
            try:
                for page in self.src.pages(
                    self.shape,
                    after=after,
                    page_rows=page_rows,
                    cursor=cursor,
                    since=since,
                    select=self.select,
                ):
                    data = self.dst.copy_bytes(page, self.shape)
                    ready.put((page, data, text_digest(data)))
                    if stop.is_set():
                        return
                ready.put(None)
            except BaseException as exc:  # handed to the consumer, raised there
                ready.put(exc)

        reader = threading.Thread(target=produce, name="malnu-sync-read", daemon=True)
        with _Collector.batched():
            reader.start()
            try:
                while (item := ready.get()) is not None:
                    if isinstance(item, BaseException):
                        raise item
                    yield item
            finally:
                stop.set()
                while reader.is_alive():  # let a blocked put() finish
                    with contextlib.suppress(queue.Empty):
                        ready.get(timeout=0.05)
                reader.join()

    def committed(
        self, bounds: Bounds, rows: int, digest: str, blocks: tuple[int, int] | None = None
    ) -> None:
        """A chunk is committed: have the destination hash its range (in the background);
        with ``blocks``, only in those heap blocks (the table has no key index yet)."""
        self.scoped = self.scoped or blocks is not None
        check = self._pool.submit(self._digest, bounds, blocks)
        self._checks.append((bounds, rows, digest, check))

    def prove_writes(self) -> None:
        """Have each chunk's upsert return the digest of the rows it wrote, as stored (an
        integer key): :meth:`written` needs no read-back when it covers the whole chunk."""
        if int_key(self.shape):
            self.dst.prove_writes(self.shape.name)

    def written(
        self, keys: Sequence[Key], rows: int, digest: str, data: bytearray | None = None
    ) -> Future[bool]:
        """Whether the destination's rows with ``keys`` (one column) print as the COPY text
        that was sent for them (``data``: ``rows`` lines, digest ``digest``). The rows the
        chunk's upsert wrote are proved by the text it returned for them as it stored them,
        and the rest (left alone: equal already) by the text it printed for them as they are
        stored (:meth:`prove_writes`); when that does not hold, the rest, or all of them, are
        read back on the verifier's connection while the sync goes on. An incremental chunk
        is proved by its bytes, else compared value by value."""
        got = self.dst.written_digest(self.shape.name)
        if got is not None and data is not None:
            lines = data.split(b"\n")[:-1]
            if len(lines) == rows == len(keys):
                kept = set(got.left)
                wrote = [line for k, line in zip(keys, lines, strict=True) if k[0] not in kept]
                if (got.rows, got.digest) == (len(wrote), _lines_digest(wrote)):
                    rest = [(k, line) for k, line in zip(keys, lines, strict=True) if k[0] in kept]
                    back = _lines_digest([line for _, line in rest])
                    if len(rest) == len(kept) and got.left_digest == back:
                        done: Future[bool] = Future()
                        done.set_result(True)
                        return done
                    if back is not None:
                        left = [k for k, _ in rest]
                        return self._pool.submit(self._written, left, len(rest), back)
        return self._pool.submit(self._written, keys, rows, digest)

    def _written(self, keys: Sequence[Key], rows: int, digest: str) -> bool:
        return self._verifier().keys_copy_digest(self.shape, keys) == (rows, digest)

    def _digest(self, bounds: Bounds, blocks: tuple[int, int] | None) -> tuple[int, str | None]:
        return self._verifier().copy_digest(self.shape, bounds, blocks)

    def _verifier(self) -> PostgresSide:
        """The destination's side the checks run on: a connection of its own (opened on first
        use), or the main one for a read-only comparison."""
        if not self.own_connection:
            return self.dst
        if self._side is None:
            from malnu_tui.engine.sync.session import open_side

            side = self.s.dst.again(open_side(self.s.dest_target))
            side.describe(self.shape.name)  # its key collation
            self._side = side  # type: ignore[assignment]
        assert self._side is not None
        return self._side

    def results(self, end: Key | None) -> Iterator[RangeResult]:
        """Each copied range: proved by its digest, else compared value by value; then the
        range after the last key copied (rows the source gained meanwhile)."""
        try:
            for bounds, rows, digest, theirs in self._checks:
                # A range checked in its blocks only, whose rows lie elsewhere too (space
                # found free in an older block): its whole key range, by the key's index.
                if _proved(theirs, (rows, digest)) or (
                    self.scoped and self.dst.copy_digest(self.shape, bounds) == (rows, digest)
                ):
                    yield RangeResult(bounds, rows, ())
                else:
                    yield from compare_table(self.s.src, self.s.dst, self.shape, bounds=bounds)
        finally:
            self.close()
        yield from compare_table(self.s.src, self.s.dst, self.shape, bounds=(end, None))

    def compare(self, page_rows: int) -> Iterator[RangeResult]:
        """``sync verify`` of the table by bytes: the source's pages as COPY text hashed here,
        each page's key range hashed by the destination meanwhile; proved ranges are reported
        as they come, the others compared value by value once the source is read."""
        try:
            lo: Key | None = None
            kidx = self.shape.key_index
            with contextlib.closing(self.pages(None, page_rows)) as pages:
                for page, _data, digest in pages:
                    hi = tuple(page[-1][i] for i in kidx)
                    self.committed((lo, hi), len(page), digest)
                    lo = hi
                    while self._checks and self._checks[0][3].done():
                        bounds, rows, mine, theirs = self._checks[0]
                        if not _proved(theirs, (rows, mine)):
                            break  # compared after the reading thread is done with the source
                        self._checks.pop(0)
                        yield RangeResult(bounds, rows, ())
            yield from self.results(lo)
        finally:
            self.close()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self._side is not None:
            self._side.backend.close()
            self._side = None
