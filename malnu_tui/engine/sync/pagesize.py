"""How many rows a page of a table holds: near ``answer_bytes`` of values as they are read
(BLOBs counted twice: hex in D1's JSON answer and in a COPY into ``bytea``), sized from the
rows read so far, the first page from a few rows of the table. ``chunk_rows`` caps it.

D1 refuses an answer over 50 MB; and from a SQLite file or PostgreSQL a page of 10,000 rows
of photos (a 300 KB profile picture each) was held whole in memory, with its COPY text and
the page read ahead: a sync's memory grew with the table (a 40 MB table took 129 MB)."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import Any

from malnu_tui.engine.sync.model import Row, TableShape

__all__ = ["PageSizer", "row_bytes", "values_bytes"]


def row_bytes(shape: TableShape, largest: Any) -> int:
    """Bytes per row for a row of ``largest`` bytes of values (its columns' overhead added)."""
    return max(1, int(largest or 0) + 8 * len(shape.columns))


# Rows of a page whose sizes size the next one: spread over the page (a page's every value
# measured in Python cost a full copy of 1,000,000 rows a second of CPU, and its verification
# as much again).
_SAMPLED = 64


def values_bytes(row: Row) -> int:
    """A row's values as a page counts them (a BLOB twice: its hex in D1's JSON, in COPY)."""
    return sum(
        2 * len(v)
        if isinstance(v, bytes | bytearray | memoryview)
        else len(v)
        if isinstance(v, str)
        else 8
        for v in row
    )


def _bytes_per_row(page: Sequence[Row]) -> int:
    sample = page[:: max(1, len(page) // _SAMPLED)]
    return max(1, sum(map(values_bytes, sample)) // len(sample))


class PageSizer:
    """A side's page sizing; each side says how large the largest of a few rows is."""

    answer_bytes = 8_000_000
    sample_rows = 20  # rows whose size sizes a table's first page
    _row_bytes: dict[str, int]  # table → bytes per row, as last read (set by __init__)

    @abstractmethod
    def _largest_sampled(self, shape: TableShape) -> Any:
        """The size of the largest of the table's first ``sample_rows`` rows (None: empty)."""

    def _page_limit(self, shape: TableShape, cap: int, page: Sequence[Row] | None) -> int:
        """Rows to ask for next, at most ``cap``: ``answer_bytes`` over the bytes per row of
        ``page`` (the page just read), else of the last page read, else of a sample."""
        if page:
            self._row_bytes[shape.name] = _bytes_per_row(page)
        each = self._row_bytes.get(shape.name)
        if each is None:  # before any page: the size of a few rows
            each = self._row_bytes[shape.name] = row_bytes(shape, self._largest_sampled(shape))
        return max(1, min(cap, self.answer_bytes // each))
