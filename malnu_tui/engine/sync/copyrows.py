"""Phase one of a table's sync: copying its rows (all of them, or those changed since the
watermark minus the overlap), chunk by chunk, from the source's pages (or the fast path's COPY
text) into the destination; a full copy's checksum of each range as read, for the check after
it; and what an incremental copy leaves to verify — the key ranges it wrote densely, the chunks
whose written copy differs — with that verification."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace

from malnu_tui.engine.config_sections import D1_CHUNK_ROWS
from malnu_tui.engine.sync.compare import PhaseProgress
from malnu_tui.engine.sync.destnames import dest_table
from malnu_tui.engine.sync.fastcopy import FastCopy
from malnu_tui.engine.sync.heldrows import HELD_PAGES, HeldRows
from malnu_tui.engine.sync.model import Difference, Key, Row, TablePlan, TableShape
from malnu_tui.engine.sync.references import write_chunk
from malnu_tui.engine.sync.session import SyncRequest, SyncSession
from malnu_tui.engine.sync.side import Bounds, Chunk, SyncState
from malnu_tui.engine.sync.verify import (
    RangeDigest,
    RangeResult,
    compare_keys,
    compare_table,
    int_key,
    keys_digest,
    page_digest,
)
from malnu_tui.engine.sync.watermark import capped, greatest_of, mark_before_copy

__all__ = ["Written", "changed_results", "copy_rows"]

Digest = Callable[[Sequence[Row]], tuple[int, int]]
DENSE = 32  # a chunk whose keys span at most this many keys per row written: range-compared


def _key_of(row: Row, kidx: tuple[int, ...]) -> Key:
    return tuple(row[i] for i in kidx)


@dataclass
class Written:
    """What an incremental copy leaves to verify: the key ranges it wrote densely (compared in
    full), and the keys whose rows still differ after their chunk was written."""

    spans: list[Bounds] = field(default_factory=list)
    differences: list[Difference] = field(default_factory=list)
    rows: int = 0  # rows whose written copy was checked
    # Chunks whose bytes the destination is checking meanwhile (FastCopy.written).
    pending: list[tuple[list[Key], Future[bool]]] = field(default_factory=list)
    before_write: Callable[[], None] | None = None  # called once, before the first write


def _check_chunk(
    s: SyncSession,
    shape: TableShape,
    page: Sequence[Row],
    written: Written,
    digest_of: Digest,
    sent: tuple[FastCopy, str, bytearray | None] | None = None,
) -> None:
    """Check one written chunk: a dense run of integer keys becomes a range to compare in full
    (so a hand-edited row between the written ones is found too); otherwise the destination's
    checksum of the written keys against the rows as they were read — on the fast path
    (``sent``: its COPY text's md5 and the text), the destination prints those rows as that
    text."""
    kidx = shape.key_index
    lo, hi = _key_of(page[0], kidx), _key_of(page[-1], kidx)
    ints = int_key(shape) and type(lo[0]) is int and type(hi[0]) is int
    if ints and hi[0] - lo[0] < DENSE * len(page):
        written.spans.append(((lo[0] - 1,), hi))
        return
    keys = [_key_of(r, kidx) for r in page]
    written.rows += len(page)
    if sent is not None:
        fast, md5, data = sent
        written.pending.append((keys, fast.written(keys, len(page), md5, data)))
    elif keys_digest(s.dst, shape, keys) != digest_of(page):
        written.differences.extend(compare_keys(s.src, s.dst, shape, keys))


def copy_rows(
    s: SyncSession,
    plan: TablePlan,
    shape: TableShape,
    state: SyncState,
    req: SyncRequest,
    rate: PhaseProgress,
    written: Written | None = None,
    fast: FastCopy | None = None,
) -> tuple[SyncState, list[RangeDigest], Key | None]:
    """Phase one: copy the rows (all of them, or those changed since the watermark). A full
    copy also returns the checksum of every range it copied, computed from the rows as read
    (or, on the fast path, hands each range's byte digest to ``fast``), and its last key;
    with ``written``, each chunk written is checked (:func:`_check_chunk`)."""
    kidx = shape.key_index
    lo = plan.resume_after
    direct = state.direct
    full = plan.mode == "full"
    watermark = state.watermark if plan.mode == "updated_at" else None
    read = 0
    digests: list[RangeDigest] = []
    cursor = plan.cursor if plan.mode == "updated_at" and plan.since is not None else None
    # Row by row: read, hash and write in turn (a reading thread beside psycopg's many short
    # waits on the socket made every wait queue for the GIL: the copy ran 3× slower). The
    # fast path reads one page ahead in a thread instead: it sends each chunk in one write.
    marked, mark = mark_before_copy(s.src, shape, plan.cursor) if full else (False, None)
    column = shape.column(plan.cursor) if plan.cursor else None
    kind = column.kind if column is not None else None
    watermark = mark if marked else watermark
    # Into D1 a chunk is one batch request: no more rows than before the default grew.
    rows = min(req.chunk_rows, D1_CHUNK_ROWS) if s.dst.kind == "d1" else req.chunk_rows
    s.batch_rows = min(req.chunk_rows, D1_CHUNK_ROWS)
    pages: Generator[tuple[list[Row], bytearray | None, str], None, None] = (
        fast.pages(lo, rows, cursor=cursor, since=plan.since)
        if fast is not None
        else (
            (page, None, "")
            for page in s.src.pages(
                shape, after=lo, page_rows=rows, cursor=cursor, since=plan.since
            )
        )
    )
    digest_of = page_digest(shape)
    held = HeldRows(s, shape, full, HELD_PAGES * rows)  # a table that refers to itself
    first_block = 0  # a chunk's rows lie from the last block of the one before (key pending)
    # closing(): a stopped copy stops the fast path's reading thread before anything else
    # uses the source's connection; ``held`` closes its scratch file, however the copy ends.
    with contextlib.closing(pages), held:
        for page, data, md5 in pages:
            digest = digest_of(page) if full and fast is None else None
            hi = _key_of(page[-1], kidx)
            if not marked:
                watermark = greatest_of(shape, plan.cursor, page, watermark)
            state = replace(state, watermark=capped(kind, watermark, state.started_at))
            bounds = (lo, hi) if full else None
            writing, first = held.take(page, lo)
            sent = fast is not None
            if first < len(page) or len(writing) != len(page):  # rows held back, or come now
                sent = False
                data = fast.dst.copy_bytes(writing, shape) if fast is not None and writing else None
                if full and first < len(page):  # a held row's copy is not deleted meanwhile
                    bounds = (lo, _key_of(page[first - 1], kidx)) if first else None
            if written is not None and written.before_write is not None:
                written.before_write()
                written.before_write = None
            counts = write_chunk(
                s,
                shape,
                Chunk(writing, state, bounds=bounds, direct=direct, last_key=hi, data=data),
            )
            state = state.advanced(counts, len(writing), hi)
            s.committed[plan.table] = state
            if digest is not None:
                digests.append(RangeDigest((lo, hi), *digest))
            if fast is not None and full:
                blocks = None
                if state.key_pending:  # no key index yet: the range in its chunk's blocks
                    end = fast.dst.heap_end[dest_table(fast.dst, shape.name)]
                    blocks, first_block = (first_block, end), max(end - 1, 0)
                fast.committed((lo, hi), len(page), md5, blocks)
            if written is not None and writing:
                how = (fast, md5, data) if fast is not None and sent else None
                _check_chunk(s, shape, writing, written, digest_of, how)
            read += len(page)
            lo = hi
            # Of a full copy, out of the source's rows; an incremental pass reads the rows
            # changed since its watermark, and its plan under the lock holds the last sync's
            # count (it printed `copy 300/200 rows`): no total.
            rate("copy", read, plan.source_count if full else None)
        # Rows whose parent no chunk brought (the source lacks it too: refused by row), and
        # those the scratch file held, parents first, a batch at a time.
        rests = held.rest()
        rest = next(rests, [])
        while True:
            more = next(rests, None)
            if full and not direct:  # the deletes past the last page's range with the last
                tail: Bounds | None = (lo, None) if more is None else None
                counts = write_chunk(s, shape, Chunk(rest, state, bounds=tail))
                state = state.advanced(counts, len(rest), None)
            elif rest:
                counts = write_chunk(s, shape, Chunk(rest, state, direct=direct, last_key=lo))
                state = state.advanced(counts, len(rest), lo)
                if written is not None:  # (in key order: the range its keys span)
                    rest.sort(key=lambda r: _key_of(r, kidx))
                    _check_chunk(s, shape, rest, written, digest_of)
            if more is None:
                break
            rest = more
    if state.key_pending:
        state = replace(state, key_pending=False)
        if fast is not None:
            fast.build_key(state)  # both sides counted meanwhile
        else:
            FastCopy.add_key(s, shape, state)
    return state, digests, lo


def changed_results(
    s: SyncSession, shape: TableShape, written: Written, ranges: Sequence[Bounds]
) -> Iterator[RangeResult]:
    """An incremental sync's verification: the written keys that differ, the ranges written
    densely and the ranges whose aggregates differ, each compared row by row."""
    for keys, same in written.pending:
        try:
            proved = same.result()
        except Exception:  # the second connection failed: the values decide, on this one
            proved = False
        if not proved:
            written.differences.extend(compare_keys(s.src, s.dst, shape, keys))
    if written.differences:
        yield RangeResult((None, None), written.rows, tuple(written.differences))
    for b in sorted({*written.spans, *ranges}, key=lambda b: b[0] or ()):
        yield from compare_table(s.src, s.dst, shape, bounds=b)
