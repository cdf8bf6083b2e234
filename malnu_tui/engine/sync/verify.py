"""Proof that a copy is complete: counts, then checksums over key ranges, and only the ranges
that differ split until the differing rows are found (the data-diff idea).

One side is read in keyset pages and hashed here (SQLite and D1 have no hash function; each of
their rows is read once). The page's key range is then checksummed on the other side: by the
server when it is PostgreSQL (the same normal form in SQL), else by reading that range once and
hashing it here. A range whose count and hash sum agree is done; one that differs is halved
(server side) until it is small, and its rows' hashes are compared by key.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal, cast

from malnu_tui.engine.errors import BackendError
from malnu_tui.engine.sync.destnames import inner
from malnu_tui.engine.sync.model import Difference, Key, Row, TableShape
from malnu_tui.engine.sync.side import (
    FINGERPRINT_ROWS,
    FINGERPRINT_SPAN,
    Bounds,
    Fingerprint,
    Side,
    add_fingerprints,
    same_fingerprint,
)
from malnu_tui.engine.sync.values import key_normalizer, row_hasher

__all__ = [
    "BUCKET_ROWS",
    "EarlyKeys",
    "RangeDigest",
    "RangeResult",
    "SourceKeys",
    "bucket_ranges",
    "changed_ranges",
    "check_digests",
    "compare_keys",
    "compare_table",
    "early_keys",
    "int_key",
    "keys_digest",
    "page_digest",
]

DiffKind = Literal["missing", "extra", "different"]
PAGE_ROWS = 10_000
SMALL_RANGE = 64  # rows: below this a differing range is compared row by row
BUCKET_ROWS = 4_096  # rows per key range whose aggregates an incremental sync compares
_SAFE = 2**62  # key spans beyond this could overflow (key − base) in SQL


@dataclass(frozen=True)
class RangeResult:
    """One compared key range and the keys that differ in it."""

    bounds: Bounds
    rows: int  # rows of the paged side in the range
    differences: tuple[Difference, ...]
    split: int = 0  # how many times the range was halved


def _key(row: Row, kidx: tuple[int, ...]) -> Key:
    return tuple(row[i] for i in kidx)


@dataclass(frozen=True)
class RangeDigest:
    """The source's checksum of a key range, computed when its rows were read (by a copy)."""

    bounds: Bounds
    rows: int
    total: int


def page_digest(shape: TableShape) -> Callable[[Sequence[Row]], tuple[int, int]]:
    """(row count, sum of row hashes) of a page, as :func:`compare_table` computes them."""
    hasher = row_hasher([c.kind for c in shape.columns])

    def digest(rows: Sequence[Row]) -> tuple[int, int]:
        return len(rows), sum(map(hasher, rows))

    return digest


def check_digests(
    source: Side, dest: Side, shape: TableShape, digests: Sequence[RangeDigest], end: Key | None
) -> Iterator[RangeResult]:
    """The destination's checksum of each range against the one the source's rows had when
    they were copied (so each source row is read once); a range that differs is compared row
    by row, its source rows read again. The range after ``end`` is compared in full (rows the
    source gained meanwhile)."""
    comparer = _Comparer(shape, dest, True, source)
    for d in digests:
        if comparer.server:
            theirs = dest.range_digest(shape, d.bounds)
        else:
            hashes = [comparer.hasher(r) for page in dest.range_rows(shape, d.bounds) for r in page]
            theirs = (len(hashes), sum(hashes))
        if theirs == (d.rows, d.total):
            yield RangeResult(d.bounds, d.rows, ())
        else:
            yield from compare_table(source, dest, shape, bounds=d.bounds)
    yield from compare_table(source, dest, shape, bounds=(end, None))


def keys_digest(side: Side, shape: TableShape, keys: Sequence[Key]) -> tuple[int, int]:
    """(row count, sum of row hashes) of the rows with ``keys`` on ``side``: by its server when
    it can hash, else read by key and hashed here."""
    if side.server_hashing(shape):
        return side.keys_digest(shape, keys)
    hasher = row_hasher([c.kind for c in shape.columns])
    rows = side.rows_for_keys(shape, keys)
    return len(rows), sum(map(hasher, rows))


def int_key(shape: TableShape) -> bool:
    """True when the key is one integer column (what :func:`bucket_ranges` needs)."""
    col = shape.column(shape.key[0]) if len(shape.key) == 1 else None
    return col is not None and col.kind == "int"


Grid = tuple[int, int, int]  # (base, width, buckets)


class EarlyKeys:
    """The whole-table key fingerprints an incremental sync compares, each on a connection of
    its own: the destination's — for PostgreSQL — in a snapshot taken before the first write
    (the keys the writes insert are added to it: :meth:`.PostgresKeys.fresh_keys`), started
    at once; the source's (only read meanwhile) started by :meth:`before_write`, once the
    changed rows are read, so that it runs beside the writes rather than a long read (or at
    once, :meth:`start_source`, when the read is short)."""

    def __init__(
        self,
        pool: ThreadPoolExecutor,
        of_source: Callable[[], Fingerprint | None],
        dest: Future[Fingerprint | None] | None = None,
        taken: threading.Event | None = None,
        source: Future[Fingerprint | None] | None = None,
    ) -> None:
        self._pool, self._of_source = pool, of_source
        self.source = source  # already under way (SourceKeys), or started by start_source
        self.dest, self.taken = dest, taken  # taken: set once the snapshot is taken
        if source is not None:
            pool.shutdown(wait=False)

    def before_write(self) -> None:
        """Start the source's fingerprint, and return once nothing written from now on can be
        in the destination's."""
        self.start_source()
        if self.taken is not None:
            self.taken.wait()

    def start_source(self) -> None:
        if self.source is None:
            self.source = self._pool.submit(self._of_source)
            self._pool.shutdown(wait=False)


class SourceKeys:
    """One table's key fingerprint at the source, computed on a connection of its own from
    the very start of a sync (:func:`.run.start_early`): SQLite computes it on the other
    core while the destination's driver loads and connects, so it is ready before the
    changed rows are written instead of competing with them. :meth:`cancel` stops it (a
    table whose plan is not an incremental pass).

    Taken before the destination's lock and the changed rows' read, it is still a valid
    side of the comparison (README: what an incremental sync proves): a row the source
    gains after it is copied and counted at the destination only, so the fingerprints
    differ and the key ranges are compared; a row the source loses after it arrives with
    the next run, as one deleted just after a later fingerprint would."""

    def __init__(self, shape: TableShape, open_source: Callable[[], Side]) -> None:
        self.shape = shape
        self.result: Future[Fingerprint | None] = Future()
        self._open = open_source
        self._lock = threading.Lock()
        self._side: Side | None = None
        self._cancelled = False
        self._thread = threading.Thread(
            target=self._run, name="malnu-sync-source-keys", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        try:
            side = self._open()
        except BaseException as exc:  # the result says so; the fingerprint is taken again
            self.result.set_exception(exc)
            return
        try:
            with self._lock:
                if self._cancelled:
                    raise BackendError(f"{side.label}: key fingerprint cancelled")
                self._side = side
            self.result.set_result(side.key_fingerprint(self.shape))
        except BaseException as exc:
            self.result.set_exception(exc)
        finally:
            with self._lock:
                self._side = None
            side.backend.close()

    def cancel(self) -> None:
        """Stop it (a query under way is interrupted) and wait until its connection is
        closed."""
        from malnu_tui.engine.sync.side_sqlite import SqliteSide

        with self._lock:
            self._cancelled = True
        while self._thread.is_alive():
            # Again until it ends: an interrupt before its statement starts is not kept.
            with self._lock:
                if isinstance(self._side, SqliteSide):
                    self._side.interrupt()
            self._thread.join(0.01)


def _grid(source: Side, dest: Side, shape: TableShape, rows: int) -> Grid | bool | None:
    """The buckets' grid over both sides' keys; None when the key does not allow it, False
    when both sides are empty."""
    if not int_key(shape):
        return None
    spans = [sp for sp in (source.key_span(shape), dest.key_span(shape)) if sp is not None]
    if not spans:
        return False
    ends = [v for sp in spans for v in sp]
    if not all(type(v) is int for v in ends):
        return None
    base, top = min(ends) - 1, max(ends)
    if top - base >= _SAFE or base < -_SAFE or top >= _SAFE:
        return None
    buckets = max(1, -(-rows // BUCKET_ROWS))
    width = -(-(top - base) // buckets)
    return base, width, -(-(top - base) // width)


def early_keys(
    source: Side,
    dest: Side,
    shape: TableShape,
    open_source: Callable[[], Side],
    open_dest: Callable[[], Side],
    early: SourceKeys | None = None,
) -> EarlyKeys | None:
    """Start the key fingerprints (:class:`EarlyKeys`) on sides the openers open (and this
    closes), beside the copy — the source's already under way with ``early`` —; None when
    the fingerprint does not apply (not one integer key column, or keys spread wider than
    :data:`.side.FINGERPRINT_SPAN`). The caller calls :meth:`EarlyKeys.before_write` before
    its first write."""
    if not int_key(shape):
        return None
    spans = [sp for sp in (source.key_span(shape), dest.key_span(shape)) if sp is not None]
    ends = [v for sp in spans for v in sp]
    if not all(type(v) is int for v in ends):
        return None
    if ends and max(ends) - min(ends) >= FINGERPRINT_SPAN:
        return None

    def of_source() -> Fingerprint | None:
        side = open_source()
        try:
            return side.key_fingerprint(shape)
        finally:
            side.backend.close()

    def of_dest(taken: threading.Event) -> Fingerprint | None:
        from malnu_tui.engine.sync.side_postgres import PostgresSide

        try:
            side = open_dest()
            try:
                assert isinstance(inner(side), PostgresSide)
                return cast("PostgresSide", side).key_fingerprint_before(shape, taken)
            finally:
                side.backend.close()
        finally:
            taken.set()

    pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="malnu-sync-keys")
    ahead = early.result if early is not None else None
    if dest.kind != "postgresql":  # (its class's module loads psycopg: not for other ends)
        return EarlyKeys(pool, of_source, source=ahead)
    from malnu_tui.engine.sync.side_postgres import PostgresSide

    assert isinstance(inner(dest), PostgresSide)
    cast("PostgresSide", dest).count_fresh_keys(shape.name)
    taken = threading.Event()
    return EarlyKeys(pool, of_source, pool.submit(of_dest, taken), taken, ahead)


def changed_ranges(
    source: Side, dest: Side, shape: TableShape, rows: int, early: EarlyKeys | None = None
) -> tuple[list[Bounds], tuple[int, int]] | None:
    """The key ranges where rows may be missing or extra at the destination after an
    incremental copy, and both tables' row counts: none when both sides' whole-table key
    fingerprints (``early``: the source's, already under way) are equal — equal counts and
    fingerprints mean equal key sets (README: what an incremental sync proves) — else those
    of :func:`bucket_ranges`. None when neither applies: compare in full then."""
    if early is not None:
        try:
            theirs = _dest_fingerprint(dest, shape, early)
            early.start_source()  # (when nothing was written)
            assert early.source is not None
            try:
                mine = early.source.result()
            except Exception:  # its own connection failed: computed here instead
                mine = source.key_fingerprint(shape)
        except BackendError:  # e.g. SQLite's key sum beyond 64 bits: the ranges decide
            mine = theirs = None
        if (
            mine is not None
            and theirs is not None
            and same_fingerprint(mine, theirs)
            and mine[0] < FINGERPRINT_ROWS
        ):
            return [], (mine[0], theirs[0])
    return bucket_ranges(source, dest, shape, rows)


def _dest_fingerprint(dest: Side, shape: TableShape, early: EarlyKeys) -> Fingerprint | None:
    """The destination's key fingerprint now: the one before the writes plus the keys they
    inserted, else computed again."""
    if early.dest is not None:
        from malnu_tui.engine.sync.side_postgres import PostgresSide

        assert isinstance(inner(dest), PostgresSide)
        fresh = cast("PostgresSide", dest).fresh_keys(shape.name)
        try:
            before = early.dest.result()
        except Exception:  # its own connection failed: computed again below
            before = None
        if before is not None and fresh is not None:
            return add_fingerprints(before, fresh)
    return dest.key_fingerprint(shape)


def bucket_ranges(
    source: Side, dest: Side, shape: TableShape, rows: int
) -> tuple[list[Bounds], tuple[int, int]] | None:
    """The key ranges (about :data:`BUCKET_ROWS` rows each) whose aggregates differ between
    the sides: count, sum of the keys (modulo a prime), min and max key, each computed in SQL
    by each database in parallel (no row comes here), and both tables' row counts. This is
    how an incremental sync finds deleted rows, and rows its cursor did not see, without
    reading every row, once the key fingerprints (:func:`changed_ranges`) differ. ``rows``:
    about how many rows the table has. None when the key does not allow it (not one integer
    column, keys that are not integers, a span too wide): compare in full then."""
    found = _grid(source, dest, shape, rows)
    if found is None:
        return None
    if found is False:
        return [], (source.count(shape.name), dest.count(shape.name))
    assert isinstance(found, tuple)
    grid = found
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="malnu-sync-buckets") as pool:
        theirs_f = pool.submit(dest.bucket_digests, shape, *grid)
        src_rows, mine = source.bucket_digests(shape, *grid)
        dst_rows, theirs = theirs_f.result()
    base, width, _ = grid
    if sum(v[0] for v in mine.values()) != src_rows:
        return None  # keys that are not integers: the buckets do not hold every row
    if sum(v[0] for v in theirs.values()) != dst_rows:
        return None
    differ: list[Bounds] = [
        ((base + i * width,), (base + (i + 1) * width,))
        for i in sorted(mine.keys() | theirs.keys())
        if mine.get(i) != theirs.get(i)
    ]
    return differ, (src_rows, dst_rows)


def compare_table(
    source: Side,
    dest: Side,
    shape: TableShape,
    *,
    page_rows: int = PAGE_ROWS,
    bounds: Bounds = (None, None),
) -> Iterator[RangeResult]:
    """Compare ``shape``'s table on both sides range by range, in key order.

    ``missing`` keys are at the source only, ``extra`` at the destination only, ``different``
    on both with different values (after normalization through the type mapping).
    """
    if not source.server_hashing(shape):
        paged, other, paged_is_source = source, dest, True
    elif not dest.server_hashing(shape):
        paged, other, paged_is_source = dest, source, False
    else:
        paged, other, paged_is_source = source, dest, True
    comparer = _Comparer(shape, other, paged_is_source, paged)
    kidx = shape.key_index
    hasher = comparer.hasher
    lo: Key | None = bounds[0]
    # The other side's checksum of a range is computed (by its server) while this side's rows
    # of the same range are hashed here.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="malnu-sync-digest") as pool:
        for page in paged.pages(shape, after=lo, upto=bounds[1], page_rows=page_rows):
            hi = _key(page[-1], kidx)
            digest = pool.submit(other.range_digest, shape, (lo, hi)) if comparer.server else None
            hashes = list(map(hasher, page))
            theirs = digest.result() if digest else None
            if theirs == (len(hashes), sum(hashes)):
                yield RangeResult((lo, hi), len(hashes), ())  # equal: no key is looked at
            else:
                mine = [(_key(r, kidx), h) for r, h in zip(page, hashes, strict=True)]
                yield comparer.range((lo, hi), mine, theirs)
            lo = hi
    yield comparer.range((lo, bounds[1]), [])


def compare_keys(
    source: Side, dest: Side, shape: TableShape, keys: Sequence[Key]
) -> list[Difference]:
    """The differences left among ``keys`` (rows read by key on both sides)."""
    comparer = _Comparer(shape, dest, True, source)
    kidx = shape.key_index
    mine = [(_key(r, kidx), comparer.hasher(r)) for r in source.rows_for_keys(shape, keys)]
    theirs = [(_key(r, kidx), comparer.hasher(r)) for r in dest.rows_for_keys(shape, keys)]
    return comparer.diff(mine, theirs)


class _Comparer:
    def __init__(self, shape: TableShape, other: Side, paged_is_source: bool, paged: Side) -> None:
        self.shape = shape
        self.other = other
        self.paged = paged
        self.paged_is_source = paged_is_source
        self.hasher = row_hasher([c.kind for c in shape.columns])
        by_name = {c.name: c for c in shape.columns}
        self.knorm = key_normalizer([by_name[k].kind for k in shape.key])
        self.kidx = shape.key_index
        self.server = other.server_hashing(shape)

    def range(
        self, bounds: Bounds, mine: list[tuple[Key, int]], digest: tuple[int, int] | None = None
    ) -> RangeResult:
        if self.server:
            diffs, split = self._server(bounds, mine, digest)
        else:
            theirs = [
                (_key(r, self.kidx), self.hasher(r))
                for page in self.other.range_rows(self.shape, bounds)
                for r in page
            ]
            diffs, split = self.diff(mine, theirs), 0
        return RangeResult(bounds, len(mine), tuple(diffs), split)

    def _server(
        self, bounds: Bounds, mine: list[tuple[Key, int]], digest: tuple[int, int] | None = None
    ) -> tuple[list[Difference], int]:
        n, total = digest or self.other.range_digest(self.shape, bounds)
        if n == len(mine) and total == sum(h for _, h in mine):
            return [], 0
        if len(mine) <= SMALL_RANGE:
            return self.diff(mine, self.other.range_hashes(self.shape, bounds)), 0
        mid = len(mine) // 2
        cut = mine[mid - 1][0]
        left, s1 = self._server((bounds[0], cut), mine[:mid])
        right, s2 = self._server((cut, bounds[1]), mine[mid:])
        return left + right, 1 + s1 + s2

    def diff(
        self, mine: Sequence[tuple[Key, int]], theirs: Sequence[tuple[Key, int]]
    ) -> list[Difference]:
        here = {self.knorm(k): (k, h) for k, h in mine}
        there = {self.knorm(k): (k, h) for k, h in theirs}
        out: list[tuple[Key, Difference]] = []
        only_mine: DiffKind = "missing" if self.paged_is_source else "extra"
        only_theirs: DiffKind = "extra" if self.paged_is_source else "missing"
        for nk, (k, h) in here.items():
            other = there.get(nk)
            if other is None:
                out.append((k, Difference(only_mine, k)))
            elif other[1] != h:
                out.append((k, Difference("different", k)))
        for nk, (k, _h) in there.items():
            if nk not in here:
                out.append((k, Difference(only_theirs, k)))
        if any(d.kind == "different" for _, d in out):
            out = self._read_by_postgres(out, here, there)
        return [d for _, d in sorted(out, key=lambda p: _sortable(p[0]))]

    def _read_by_postgres(
        self,
        out: list[tuple[Key, Difference]],
        here: dict[tuple[str | None, ...], tuple[Key, int]],
        there: dict[tuple[str | None, ...], tuple[Key, int]],
    ) -> list[tuple[Key, Difference]]:
        """``out`` without the rows that are equal once PostgreSQL has read the other side's
        texts (:mod:`.pgread`): between PostgreSQL and a SQLite or D1 side only."""
        if (self.paged.kind == "postgresql") == (self.other.kind == "postgresql"):
            return out  # (checked first: these modules load psycopg)
        from malnu_tui.engine.sync.pgread import agreed
        from malnu_tui.engine.sync.side_postgres import PostgresSide

        paged, other = (
            isinstance(inner(self.paged), PostgresSide),
            isinstance(inner(self.other), PostgresSide),
        )
        if paged and not other:
            pg, lite, pg_side = cast("PostgresSide", self.paged), self.other, here
        elif other and not paged:
            pg, lite, pg_side = cast("PostgresSide", self.other), self.paged, there
        else:
            return out
        different = [k for k, d in out if d.kind == "different"]
        hashes = {nk: h for nk, (_k, h) in pg_side.items()}
        same = agreed(pg, lite, self.shape, different, hashes, self.knorm)
        return [(k, d) for k, d in out if d.kind != "different" or self.knorm(k) not in same]


def _sortable(key: Key) -> tuple[tuple[int, str], ...]:
    return tuple(
        (0, "") if v is None else (1, f"{v:>40}" if isinstance(v, int) else str(v)) for v in key
    )
