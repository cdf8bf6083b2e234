"""What a CSV file looks like, before any record is read: its encoding and delimiter (given,
declared, or sniffed among ``, ; \\t |``) and the names of a header of two rows."""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass

DELIMITERS = (",", ";", "\t", "|")
_DELIMITER_NAMES = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}


@dataclass(frozen=True)
class CsvFormat:
    """What was detected (or given) about a CSV file."""

    encoding: str
    delimiter: str
    bom: bool
    delimiter_sniffed: bool
    sep_line: bool = False  # the delimiter came from Excel's "sep=" first line (skipped)

    def describe(self) -> str:
        name = {"\t": "tab", ",": "comma", ";": "semicolon", "|": "pipe"}.get(
            self.delimiter, repr(self.delimiter)
        )
        how = "sniffed" if self.delimiter_sniffed else "given"
        if self.sep_line:
            how = "sep= on line 1"
        return f"{self.encoding}{' with BOM' if self.bom else ''}, {name} delimiter ({how})"


def parse_delimiter(text: str) -> str:
    """``--delimiter`` value → one character (``tab``/``\\t`` accepted for a tab)."""
    value = _DELIMITER_NAMES.get(text.lower(), text)
    if len(value) != 1 or value in '"\r\n':
        from malnu_tui.engine.errors import ConfigError

        raise ConfigError(f"--delimiter must be one character (or 'tab'), got {text!r}")
    return value


def normalise_encoding(name: str) -> str:
    try:
        return codecs.lookup(name).name
    except LookupError:
        from malnu_tui.engine.errors import ConfigError

        raise ConfigError(
            f"unknown encoding {name!r}", hint="use utf-8, cp1252 or latin-1"
        ) from None


def sniff_delimiter(sample: str) -> str:
    """The candidate delimiter that splits the header into the most fields and the following
    lines into the same number most often; ``,`` for a one-column file. Between two that do
    that equally, the one that reads the first line as the header: a `;` file whose every
    value holds one comma (``85,5``; ``Jl. Mawar, RT 01``) splits as evenly by ``,`` once its
    header, without a comma, is taken for a title line."""
    lines = sample.splitlines(keepends=True)
    if len(lines) > 1 and not sample.endswith(("\n", "\r")):
        lines = lines[:-1]  # a record cut by the sample's end
    text = "".join(lines[:200])
    best: tuple[float, int, int, int] = (0.0, 1, 0, 0)
    chosen = ","
    for rank, d in enumerate(DELIMITERS):
        try:
            rows = [r for r in csv.reader(io.StringIO(text, newline=""), delimiter=d) if r][:60]
        except csv.Error:
            continue
        titles = 0
        while rows and len(rows[0]) < 2:
            rows.pop(0)  # a title line above the header, written without delimiters
            titles += 1
        rows = rows[:50]
        if not rows or len(rows[0]) < 2:
            continue
        width = len(rows[0])
        consistency = sum(1 for r in rows if len(r) == width) / len(rows)
        score = (consistency, width, -titles, -rank)
        if score > best:
            best, chosen = score, d
    return chosen


def two_row_header(top: Sequence[str], sub: Sequence[str]) -> tuple[str, ...]:
    """The names of a header of two rows, as a sheet with merged cells is saved (Dapodik's
    ``Data Ayah`` over ``Nama``, ``Pekerjaan``…): a top cell with a cell below it names a
    group, ``Data Ayah / Nama``, running on over the empty top cells to its right; a top cell
    with nothing below is a column of its own (merged down)."""
    width = max(len(top), len(sub))
    names: list[str] = []
    group = ""
    for t, b in zip(
        [c.strip() for c in top] + [""] * (width - len(top)),
        [c.strip() for c in sub] + [""] * (width - len(sub)),
        strict=True,
    ):
        if t:
            group = t if b else ""
        names.append(f"{group} / {b}" if group and b else b or t)
    return tuple(names)
