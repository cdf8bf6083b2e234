"""A CSV record's fields as values, and the chunk they are gathered in: an empty *unquoted*
field is ``None`` (NULL), an empty quoted one (``""``) the empty string (which fields were
quoted, read from the record's raw text); a field holding a NUL byte makes the record a
reject, named by its column. For :mod:`.csvsource`'s reading loop."""

from __future__ import annotations

from collections.abc import Sequence

from malnu_tui.engine.data.flatblock import Fields
from malnu_tui.engine.data.records import RecordChunk

__all__ = ["FillingChunk", "nul_error", "quoted_flags", "with_nulls"]


class FillingChunk:
    """A chunk being filled record by record."""

    __slots__ = ("errors", "fields", "lines", "raws")

    def __init__(self) -> None:
        self.lines: list[int] = []
        self.fields: list[Fields] = []
        self.raws: list[str] = []
        self.errors: dict[int, str] = {}

    def done(self) -> RecordChunk:
        return RecordChunk(self.lines, self.fields, self.raws, self.errors)


def nul_error(fields: list[str], header: Sequence[str]) -> str:
    """The complaint about a record holding a NUL byte: no database keeps it as text
    (PostgreSQL refuses it, SQLite cuts the text there), and it is never meant."""
    if not "".join(fields).strip("\x00"):
        # A file whose end was lost and filled with zeros (a card pulled out before its
        # data was written: the size was): the record is its NUL bytes and nothing else.
        nuls = sum(map(len, fields))
        return (
            f"{nuls:,} NUL bytes (0x00) and nothing else: the file's end is lost (a copy "
            "cut short, filled with zeros?): copy or download the file again"
        )
    at = next((i for i, f in enumerate(fields) if "\x00" in f), -1)
    where = f" in {header[at]!r}" if 0 <= at < len(header) else ""
    return f"a NUL byte (0x00){where}: not text (a binary file, or a broken export?)"


def with_nulls(fields: list[str], raw: str, delimiter: str) -> tuple[str | None, ...]:
    """Empty unquoted fields → None; empty quoted fields stay ``""``."""
    if "" not in fields:
        return tuple(fields)
    if '"' not in raw:
        return tuple(f if f else None for f in fields)
    quoted = quoted_flags(raw, delimiter)
    return tuple(f if f or (i < len(quoted) and quoted[i]) else None for i, f in enumerate(fields))


def quoted_flags(raw: str, delimiter: str) -> list[bool]:
    """For each field of one record's raw text: did it start with a quote?"""
    flags: list[bool] = []
    in_quotes = False
    at_start = True
    i, n = 0, len(raw)
    while i < n:
        ch = raw[i]
        if at_start:
            flags.append(ch == '"')
            at_start = False
            if ch == '"':
                in_quotes = True
                i += 1
                continue
        if in_quotes:
            if ch == '"':
                if i + 1 < n and raw[i + 1] == '"':
                    i += 1
                else:
                    in_quotes = False
        elif ch == delimiter:
            at_start = True
        elif ch in "\r\n":
            break
        i += 1
    if at_start:
        flags.append(False)
    return flags
