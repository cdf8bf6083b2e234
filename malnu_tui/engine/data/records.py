"""The records every import source gives (a CSV file, another target's table): one record
with where it starts and its raw text, and chunks of them as parallel sequences."""

from __future__ import annotations

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
