"""The records every import source gives (a CSV file, another target's table): one record
with where it starts and its raw text, and chunks of them as parallel sequences."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from typing import NamedTuple

from malnu_tui.engine.data.flatblock import Fields


class SourceRecord(NamedTuple):
    """One record of the input: where it starts, its fields, and its text as read (a tuple:
    millions are made)."""

    line: int
    fields: tuple[str | None, ...]
    raw: str
    error: str = ""  # a malformed record (the reader's complaint); rejected as it is


class RecordChunk(NamedTuple):
    """Consecutive records as parallel sequences (``errors``: position → the reader's
    complaint about a malformed record). ``fields`` is a :class:`FlatRows` for a clean
    block read at C speed (every record complete, of the header's width, no empty field)."""

    lines: Sequence[int]
    fields: Sequence[Fields]
    raws: Sequence[str]
    errors: dict[int, str]

    def records(self) -> Iterator[SourceRecord]:
        for i, (line, fields, raw) in enumerate(
            zip(self.lines, self.fields, self.raws, strict=True)
        ):
            yield SourceRecord(line, fields, raw, self.errors.get(i, ""))


def chunked(
    records: Iterator[SourceRecord], size: int, *, max_bytes: int | None = None
) -> Iterator[RecordChunk]:
    """Records → chunks of ``size`` records (for sources that read record by record), or
    fewer once their text reaches ``max_bytes`` (rows of photos or essays: a chunk of 5,000
    of them held gigabytes)."""
    lines: list[int] = []
    fields: list[Fields] = []
    raws: list[str] = []
    errors: dict[int, str] = {}
    text = 0
    for rec in records:
        if rec.error:
            errors[len(lines)] = rec.error
        lines.append(rec.line)
        fields.append(rec.fields)
        raws.append(rec.raw)
        if max_bytes is not None:
            text += len(rec.raw)
        if len(lines) >= size or (max_bytes is not None and text >= max_bytes):
            yield RecordChunk(lines, fields, raws, errors)
            lines, fields, raws, errors = [], [], [], {}
            text = 0
    if lines:
        yield RecordChunk(lines, fields, raws, errors)


RAW_BLOCK = 1024  # records per digest of RawDigests


class RawDigests:
    """Digests of a source's raw texts, one per ``RAW_BLOCK`` records in the order read: a
    later reading tells which blocks read as the first one did (a table's rows are found by
    their place: the rows the target refused come back as lines alone)."""

    def __init__(self) -> None:
        self.blocks: list[bytes] = []
        self.last = 0  # records in the last block (fewer than RAW_BLOCK: where reading ended)
        self._hash = hashlib.blake2b(digest_size=16)
        self._in_block = 0

    def add(self, raw: str) -> bool:
        """One more record's text; True when it ended a block."""
        self._hash.update(raw.encode("utf-8", "surrogatepass"))
        self._hash.update(b"\0")
        self._in_block += 1
        if self._in_block < RAW_BLOCK:
            return False
        self.close()
        return True

    def close(self) -> None:
        """End the block being read (the last, shorter one)."""
        if self._in_block:
            self.blocks.append(self._hash.digest())
            self.last = self._in_block
            self._hash = hashlib.blake2b(digest_size=16)
            self._in_block = 0


def raws_again(
    records: Iterator[SourceRecord], lines: set[int], first: RawDigests | None
) -> dict[int, str]:
    """The raw text of ``lines`` from a later reading of a source, kept only where the block
    of rows around each reads as it did the ``first`` time (None: not known, all kept). The
    first reading's last, shorter block is compared with as many rows (that reading stopped
    early, at --max-errors, or rows were added since)."""
    found: dict[int, str] = {}
    block: dict[int, str] = {}
    again = RawDigests()
    last = max(lines)

    def as_first() -> None:
        n = len(again.blocks) - 1
        if first is None or (n < len(first.blocks) and first.blocks[n] == again.blocks[n]):
            found.update(block)
        block.clear()

    for rec in records:
        if rec.line in lines:
            block[rec.line] = rec.raw
        if again.add(rec.raw):
            as_first()
            if rec.line >= last:
                return found
        elif first is not None and (len(again.blocks), again._in_block) == (
            len(first.blocks) - 1,
            first.last,
        ):  # where the first reading ended: no row after it was read then
            again.close()
            as_first()
            return found
    again.close()
    if block:
        as_first()
    return found
