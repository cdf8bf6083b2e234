"""Reading CSV files as people's files really are, one record at a time.

UTF-8 with or without a BOM (the BOM never becomes part of the first header), cp1252/latin-1
when asked, the delimiter sniffed among ``, ; \\t |`` (Indonesian Excel writes ``;``), quoted
fields with delimiters and newlines. Each record carries the physical line it starts on (the
header is line 1; newlines inside quotes count) and its raw text, for the rejects file. Values
stay text: nothing is guessed from the data. An empty *unquoted* field is ``None`` (NULL); an
empty quoted field (``""``) is the empty string. Excel's ``sep=;`` first line declares the
delimiter and is skipped (the header is the next line; line numbers stay physical). A line of
delimiters only (``;;;``: Excel writes them for rows it once formatted, at the end and between
blocks) is no record, like a blank line.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
from collections.abc import Iterator
from itertools import repeat
from pathlib import Path
from typing import BinaryIO

from malnu_tui.engine.data.csvencoding import (
    BOM,
    C1_BYTE,
    UTF16_BOMS,
    c1_error,
    decode_error,
    refuse_not_csv,
    refuse_utf8,
)
from malnu_tui.engine.data.csvfields import FillingChunk, nul_error, with_nulls
from malnu_tui.engine.data.csvformat import (
    CsvFormat,
    normalise_encoding,
    sniff_delimiter,
    two_row_header,
)
from malnu_tui.engine.data.errors import InputFileError
from malnu_tui.engine.data.flatblock import FlatSplitter, byte_blocks
from malnu_tui.engine.data.records import RecordChunk, SourceRecord

SNIFF_BYTES = 64 * 1024
BLOCK_BYTES = 1 << 20  # lines are read about a megabyte at a time

# Excel's delimiter declaration, a first line of its own ("sep=;"; trailing delimiters when a
# tool wrote it as a row).
_SEP_LINE = re.compile(r"sep=([^\r\n\"])\1*(?:\r\n|\n|\r|$)", re.IGNORECASE)
_LINE_END = re.compile(rb"\r\n|\n|\r")
_NON_ASCII = re.compile(rb"[\x80-\xff]")

# A legitimately long field (an essay in a submissions export) must not stop the import.
csv.field_size_limit(16 * 1024 * 1024)


def parse_header_line(value: str) -> tuple[int, int]:
    """A header's place as an operator writes it (``--header-line``, the console's field):
    ``N``, or ``N-M`` for a header of two rows (M = N + 1) → (line, rows). ValueError says
    what is wrong with ``value``."""
    first, dash, last = value.strip().partition("-")

    def line(text: str) -> int:
        if not text.strip().isdigit():
            raise ValueError(f"not a whole number: {value!r}")
        if not 1 <= int(text) <= 1_000_000_000:
            raise ValueError(f"must be from 1 to 1,000,000,000, got {value!r}")
        return int(text)

    start = line(first)
    if not dash:
        return start, 1
    if line(last) != start + 1:
        raise ValueError(f"a header of two rows is N-M with M = N + 1 (e.g. 5-6), got {value!r}")
    return start, 2


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


class CsvSource:
    """A CSV file as a stream of :class:`SourceRecord` (one pass per :meth:`records` call)."""

    kind = "csv"

    def __init__(
        self,
        path: Path,
        *,
        encoding: str | None = None,
        delimiter: str | None = None,
        header_line: int | None = None,
        header_rows: int = 1,
    ) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise InputFileError(str(self.path), "no such file")
        with self.path.open("rb") as fh:
            head = fh.read(SNIFF_BYTES)
        refuse_not_csv(self.path, head, encoding)
        bom = head.startswith(BOM)
        if bom:
            head = head[len(BOM) :]
        enc = normalise_encoding(encoding) if encoding else "utf-8"
        bom16 = head.startswith(UTF16_BOMS)
        # A BOM is the file's own word on its encoding, over an --encoding kept from another
        # file's command: Excel's "Unicode Text" (UTF-16, the BOM also says the byte order)
        # or "CSV UTF-8" read as cp1252 stored "José" as "JosÃ©".
        overridden = encoding is not None and not enc.startswith("utf-16" if bom16 else "utf-8")
        if bom16:
            enc = "utf-16"
        elif bom and overridden:
            enc = "utf-8"
        elif encoding is not None and not enc.startswith("utf") and not head.isascii():
            refuse_utf8(self.path, head, encoding, enc)
        # Its first 64 KB all ASCII, the file's first letter beyond it comes later, and says
        # there whether the file is UTF-8 (read as cp1252, "José" was stored as "JosÃ©").
        self._utf8_watch = (
            encoding
            if encoding is not None
            and not enc.startswith("utf")
            and not bom
            and len(head) == SNIFF_BYTES
            and head.isascii()
            else None
        )
        self._encoding = enc
        try:
            decoder = codecs.getincrementaldecoder(enc)()
            sample = decoder.decode(head, final=len(head) < SNIFF_BYTES - (3 if bom else 0))
        except UnicodeError:
            raise decode_error(self.path, self._encoding) from None
        declared = m[1] if (m := _SEP_LINE.match(sample)) else None
        if declared is not None and delimiter is not None and delimiter != declared:
            raise InputFileError(
                str(self.path),
                f"the file declares its delimiter (sep={declared}) but --delimiter "
                f"{delimiter!r} was given",
                line=1,
                hint="leave --delimiter out: the sep= line is Excel's own declaration",
            )
        # Physical lines before the header: Excel's sep= line, or what --header-line passes
        # over (a sheet's title rows above its header); no records, lines all the same.
        self._preamble = 1 if declared is not None else 0
        if header_line is not None:
            if header_line <= self._preamble:
                raise InputFileError(
                    str(self.path),
                    f"--header-line {header_line}: line 1 is Excel's sep= line",
                    line=1,
                )
            self._preamble = header_line - 1
        self.format = CsvFormat(
            enc,
            delimiter or declared or sniff_delimiter(_after_lines(sample, self._preamble)),
            bom,
            delimiter is None and declared is None,
            declared is not None,
        )
        first = next(self._header_record(), None)
        if first is None or not first.fields:
            raise InputFileError(
                str(self.path),
                "empty file: no header row" if not header_line else "no header row from this line",
                line=self._preamble + 1,
            )
        self.header: tuple[str, ...] = tuple((f or "").strip() for f in first.fields)
        if header_rows == 2:  # the second row is read as the header; the first names groups
            rows = self.leading_records(2)
            if len(rows) < 2:
                raise InputFileError(
                    str(self.path), "no header of two rows from this line", line=header_line
                )
            (_, top), (sub_line, sub) = rows
            self._preamble = sub_line - 1
            self.header = two_row_header(top, sub)
        where = ""
        if header_line is not None:
            last = f"-{header_line + 1}" if header_rows == 2 else ""
            where = f", header on line{'s' if last else ''} {header_line}{last}"
        if overridden and (bom or bom16):
            where += f", by its BOM, not --encoding {encoding}"
        self.description = f"{self.path.name} ({self.format.describe()}{where})"
        # The sha256 of the file's bytes, once a pass over every record has read them all.
        self.digest: str | None = None
        # Lines of delimiters only skipped by the last pass (no record: not in any count).
        self.empty_lines = 0

    def _open(self) -> io.TextIOWrapper:
        raw: BinaryIO = self.path.open("rb")
        if raw.read(len(BOM)) != BOM:
            raw.seek(0)
        fh = io.TextIOWrapper(raw, encoding=self.format.encoding, newline="", errors="strict")
        for _ in range(self._preamble):
            fh.readline()  # Excel's sep= line
        return fh

    def _header_record(self) -> Iterator[SourceRecord]:
        """The first non-blank record (read on its own: a file's first lines only)."""
        with self._open() as fh:
            reader = csv.reader(fh, delimiter=self.format.delimiter, strict=True)
            try:
                for fields in reader:
                    if any(fields):
                        yield SourceRecord(reader.line_num + self._preamble, tuple(fields), "")
                        return
            except csv.Error as exc:
                raise InputFileError(
                    str(self.path),
                    f"malformed header: {exc}",
                    line=reader.line_num + self._preamble,
                ) from None
            except UnicodeError:
                raise decode_error(self.path, self._encoding) from None

    def leading_records(self, limit: int) -> list[tuple[int, tuple[str, ...]]]:
        """The first ``limit`` non-blank records from the header on, as (the line each starts
        on, stripped fields): a header of two rows, or one that title rows pushed down."""
        found: list[tuple[int, tuple[str, ...]]] = []
        with self._open() as fh:
            reader = csv.reader(fh, delimiter=self.format.delimiter)
            start = 1
            try:
                for fields in reader:
                    if any(fields):
                        found.append((start + self._preamble, tuple(map(str.strip, fields))))
                    start = reader.line_num + 1
                    if len(found) >= limit:
                        break
            except (csv.Error, UnicodeError):
                # The header lines read before the fault: this is a hint for the schema check
                # only, and the import itself names what is wrong with the file.
                return found
        return found

    def records(self) -> Iterator[SourceRecord]:
        """Every record after the header, in file order."""
        for chunk in self.chunks(1024):
            yield from chunk.records()

    def chunks(self, size: int) -> Iterator[RecordChunk]:
        """The records after the header, ``size`` at a time, as parallel lists."""
        return self._chunks(size, skip_header=True)

    def _chunks(self, size: int, *, skip_header: bool) -> Iterator[RecordChunk]:
        # The hot loop of every import. The file is read in byte blocks cut after a line end.
        # A clean block (see flatblock.py) becomes ONE chunk, checked and split in a few C
        # calls. Any other block is decoded into lines: without a quote character each line
        # is split in C (str.split: one record per line); with quotes it goes through the csv
        # module, and a record still open at the block's end (a quoted newline) is carried
        # into the next block. Each record keeps its starting line and raw text; no object per
        # record. (Encodings that do not keep ASCII bytes as they are: lines from io.)
        delim = self.format.delimiter
        width = len(self.header)
        ready: list[RecordChunk] = []
        chunk = FillingChunk()
        skip = skip_header

        def full() -> None:
            nonlocal chunk
            if len(chunk.lines) >= size:
                ready.append(chunk.done())
                chunk = FillingChunk()

        def emit(line: int, fields: list[str], raw: str, error: str = "") -> None:
            nonlocal skip
            if not fields and not error:
                return  # a blank line
            if not error and not any(fields) and '"' not in raw:
                self.empty_lines += 1  # delimiters only (Excel's empty rows): no record
                return
            if skip and not error:
                skip = False
                return
            if not error and "\x00" in raw:
                error = nul_error(fields, self.header)
            if error:
                chunk.errors[len(chunk.lines)] = error
            chunk.lines.append(line)
            chunk.raws.append(raw)
            chunk.fields.append(with_nulls(fields, raw, delim) if "" in fields else tuple(fields))
            full()

        def quoted_block(lines: list[str], start: int, eof: bool) -> list[str]:
            """Records of ``lines`` (starting at line index ``start``); returns the lines of
            a record left open at the end (to be read again with the next block)."""
            reader = csv.reader(iter(lines), delimiter=delim, strict=True)
            consumed = 0
            while True:
                try:
                    for fields in reader:
                        first, consumed = consumed, reader.line_num
                        raw = (
                            lines[first]
                            if consumed - first == 1
                            else "".join(lines[first:consumed])
                        )
                        emit(start + first + 1, fields, raw)
                    return []
                except csv.Error as exc:
                    first, consumed = consumed, reader.line_num
                    if not eof and consumed >= len(lines) and "unexpected end" in str(exc):
                        return lines[first:]
                    if "field larger than field limit" in str(exc):
                        # A quote never closed, met by the field's size before the file's end:
                        # every line after it is in that record too (read on from here, the
                        # rest of the file would be records cut at a random line).
                        runaway.append((start + first + 1, "".join(lines[first:])))
                        return []
                    reason = f"malformed CSV: {exc}"
                    if "unexpected end" in str(exc):
                        reason = "malformed CSV: a quote opened in this record is never closed"
                    emit(start + first + 1, [], "".join(lines[first:consumed]), reason)

        def plain_block(lines: list[str], start: int) -> None:
            """A block without quotes: one record per line, split in C."""
            nonlocal skip
            if skip and lines and lines[0].rstrip("\r\n").replace(delim, ""):
                skip = False  # the header line, then the block as usual
                lines, start = lines[1:], start + 1
            stripped = list(map(str.rstrip, lines, repeat("\r\n")))
            joined = "\n".join(stripped)
            sep = delim
            odd = (
                skip
                or "" in stripped
                or "\x00" in joined
                or sep + sep in joined
                or "\n" + sep in joined
                or sep + "\n" in joined
                or joined.startswith(sep)
                or joined.endswith(sep)
            )
            rows = list(map(str.split, stripped, repeat(sep)))
            if odd:  # blank lines, empty fields, the header: record by record
                for i, fields in enumerate(rows):
                    emit(start + i + 1, fields if stripped[i] else [], lines[i])
                return
            numbers = range(start + 1, start + 1 + len(lines))
            done = 0
            while done < len(rows):
                take = min(size - len(chunk.lines), len(rows) - done)
                chunk.lines.extend(numbers[done : done + take])
                chunk.raws.extend(lines[done : done + take])
                chunk.fields.extend(map(tuple, rows[done : done + take]))
                done += take
                full()

        splitter = FlatSplitter(delim, width, self.format.encoding)
        runaway: list[tuple[int, str]] = []  # (line, text so far) of a quote never closed
        latin1 = self.format.encoding == "iso8859-1"
        raw: BinaryIO = self.path.open("rb")
        self.digest = None
        self.empty_lines = 0
        digest = hashlib.sha256()  # of the file's bytes, as they are read
        try:
            if raw.read(len(BOM)) != BOM:
                raw.seek(0)
            else:
                digest.update(BOM)
            if splitter.usable:
                blocks = _line_blocks(raw, digest)
            else:
                blocks = _text_blocks(raw, self.format.encoding)
            carry: list[str] = []
            carry_start = 0
            base = 0  # index of the next line the file gives
            preamble = self._preamble
            watch = self._utf8_watch
            for data, block, eof in blocks:
                if latin1 and data and (c1 := C1_BYTE.search(data)):
                    line = base + len(_LINE_END.findall(data, 0, c1.start())) + 1
                    raise c1_error(str(self.path), data[c1.start()], line)
                if watch and data and not data.isascii():
                    _refuse_later_utf8(self.path, data, base, watch, self.format.encoding)
                    watch = None  # its first letter beyond ASCII is not UTF-8: as given
                if runaway:  # the rest of the file is in a record never closed: lines only
                    base += len(block) if data is None else len(_LINE_END.findall(data))
                    continue
                if preamble:  # lines before the header: no record, but lines all the same
                    if data is not None:
                        while preamble and data:
                            m = _LINE_END.search(data)
                            data = data[m.end() :] if m else b""
                            preamble, base = preamble - 1, base + 1
                    else:
                        drop = min(preamble, len(block))
                        block, preamble, base = block[drop:], preamble - drop, base + drop
                    if preamble:
                        continue  # the lines above the header go on in the next block
                if data is not None and not carry and skip and skip_header:
                    rest = _drop_header(data, splitter.bsep)
                    if rest is not None:
                        data, skip = rest, False
                        base += 1
                if data is not None and not carry and not skip:
                    clean = splitter.split(data, eof=eof)
                    if clean is not None:  # a clean block: one chunk, split in one go
                        rows, raws = clean
                        if chunk.lines:
                            ready.append(chunk.done())
                            chunk = FillingChunk()
                        n = len(raws)
                        ready.append(RecordChunk(range(base + 1, base + 1 + n), rows, raws, {}))
                        base += n
                        while ready:
                            yield ready.pop(0)
                        continue
                if data is not None:
                    block = _readlines(data.decode(self.format.encoding))
                start = carry_start if carry else base
                lines = carry + block if carry else block
                base += len(block)
                if lines:
                    if not carry and '"' not in "".join(block):
                        plain_block(lines, start)
                        carry = []
                    else:
                        carry = quoted_block(lines, start, eof)
                        carry_start = start + len(lines) - len(carry)
                while ready:
                    yield ready.pop(0)
                if eof:
                    break
            if runaway:
                line, text = runaway[0]
                emit(
                    line,
                    [],
                    text,
                    "malformed CSV: a quote opened in this record is never closed (a field "
                    f"over {csv.field_size_limit():,} bytes: the record runs to the end of the "
                    f"file, line {base}; its first {text.count(chr(10)):,} lines are in raw)",
                )
            if chunk.lines:
                yield chunk.done()
            if splitter.usable:
                self.digest = digest.hexdigest()
        except UnicodeError:
            raise decode_error(self.path, self._encoding) from None
        finally:
            raw.close()


def _after_lines(text: str, lines: int) -> str:
    """``text`` without its first ``lines`` lines (the sample the delimiter is sniffed on)."""
    return "".join(_readlines(text)[lines:]) if lines else text


def _refuse_later_utf8(path: Path, data: bytes, base: int, asked: str, encoding: str) -> None:
    """The line of ``data`` (a block of whole lines, ``base`` lines into the file) holding
    the file's first byte beyond ASCII, refused when it is UTF-8 (see ``refuse_utf8``)."""
    first = _NON_ASCII.search(data)
    assert first is not None
    at = first.start()
    start = max(data.rfind(b"\n", 0, at), data.rfind(b"\r", 0, at)) + 1
    end = m.start() if (m := _LINE_END.search(data, at)) else len(data)
    line = base + len(_LINE_END.findall(data, 0, start)) + 1
    refuse_utf8(path, data[start:end], asked, encoding, line)


def _readlines(text: str) -> list[str]:
    """Lines as a file opened with ``newline=""`` gives them (``\n``, ``\r\n``, ``\r``)."""
    return io.StringIO(text, newline="").readlines()


Block = tuple[bytes | None, list[str], bool]


def _line_blocks(raw: BinaryIO, digest: hashlib._Hash) -> Iterator[Block]:
    """Blocks of whole lines as bytes (an encoding that keeps ASCII bytes as they are);
    the lines are made by the caller only when the block is not clean. Each block goes
    into ``digest`` too (the file's sha256 comes with the read, not from a second one)."""
    # A quarter of the text path's block: a clean block is one chunk of a few thousand rows.
    for data, eof in byte_blocks(raw, max(1, BLOCK_BYTES // 4)):
        digest.update(data)
        yield data, [], eof


def _drop_header(data: bytes, sep: bytes) -> bytes | None:
    """The block without its first line when that line is a plain header (not blank nor
    delimiters only, no quote, ``\n`` or ``\r\n`` line end); None: let the record reader
    find the header."""
    nl = data.find(b"\n")
    if nl < 0:
        return None
    first = data[:nl].removesuffix(b"\r")
    if not first.replace(sep, b"").strip() or b'"' in first or b"\r" in first:
        return None
    return data[nl + 1 :]


def _text_blocks(raw: BinaryIO, encoding: str) -> Iterator[Block]:
    """Any other encoding: lines decoded by the io module."""
    fh = io.TextIOWrapper(raw, encoding=encoding, newline="", errors="strict")
    while True:
        block = fh.readlines(BLOCK_BYTES)
        yield None, block, not block
        if not block:
            return
