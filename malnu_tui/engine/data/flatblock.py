"""Clean blocks of a CSV file, split at C speed.

Most files people import are clean: every line one record of the header's width, no quote, no
empty field. Such a block of the file (about a megabyte, cut after a line end) is checked and
split with a few calls over the whole block — never a Python step per record:

- the shape: the block with every byte but the delimiter and ``\\n`` deleted must be
  ``(delimiter × (width − 1) + \\n) × lines`` (``bytes.translate``);
- no quote, no lone ``\\r`` (``\\r\\n`` line ends are read as ``\\n``);
- then, when the values are needed, ``text.replace("\\n", delimiter).split(delimiter)``:
  one flat list of every value (an empty field is NULL, as in the record reader).

A block that is not clean is read record by record by :mod:`.csvsource` (same records, lines
and raw text). The encoding must keep ASCII bytes as themselves (UTF-8, cp1252, latin-1…).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import cached_property
from typing import BinaryIO, overload

Fields = tuple[str | None, ...]


class FlatRows(Sequence[Fields]):
    """Rows of ``width`` fields kept as ONE flat list of values (row after row). Iterating
    makes the row tuples in C; writers that know it take :attr:`flat` as it is (a column is
    ``flat[j::width]``). For a whole clean block of a file, ``text`` is the block's records as
    the file has them (``\\n`` line ends, ``sep`` between fields) and ``data`` the same in
    UTF-8 when the file is UTF-8; the flat list is then made from ``text`` when first asked
    for (a writer that sends ``data`` as it is never needs it), an empty field as None."""

    __slots__ = ("_flat", "_n", "data", "sep", "text", "width")

    def __init__(
        self,
        flat: list[str | None] | None,
        width: int,
        sep: str = "",
        text: str = "",
        data: bytes | None = None,
        rows: int = 0,
    ) -> None:
        self._flat = flat
        self.width = width
        self.sep = sep
        self.text = text
        self.data = data
        self._n = len(flat) // width if flat is not None else rows

    @property
    def flat(self) -> list[str | None]:
        if self._flat is None:
            flat: list[str | None] = self.text.replace("\n", self.sep).split(self.sep)  # type: ignore[assignment]
            flat.pop()  # after the last line end
            if "" in flat:  # an empty (unquoted) field is NULL
                flat = [v if v else None for v in flat]
            self._flat = flat
        return self._flat

    def __len__(self) -> int:
        return self._n

    @overload
    def __getitem__(self, i: int) -> Fields: ...

    @overload
    def __getitem__(self, i: slice) -> Sequence[Fields]: ...

    def __getitem__(self, i: int | slice) -> Fields | Sequence[Fields]:
        w = self.width
        if isinstance(i, slice):
            start, stop, step = i.indices(len(self))
            if step == 1:
                return FlatRows(self.flat[start * w : stop * w], w)
            return [self[k] for k in range(start, stop, step)]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        return tuple(self.flat[i * w : (i + 1) * w])

    def __iter__(self) -> Iterator[Fields]:
        return zip(*[iter(self.flat)] * self.width, strict=False)

    def column(self, j: int) -> list[str | None]:
        return self.flat[j :: self.width]


class BlockRaws(Sequence[str]):
    """The raw text of each record of a clean block, made only when asked (for a rejection)."""

    def __init__(self, text: str, crlf: bool, open_end: bool, lines: int) -> None:
        self._text = text  # ends with "\n"
        self._crlf = crlf
        self._open_end = open_end  # the file's last line had no line end
        self._n = lines

    @cached_property
    def _lines(self) -> list[str]:
        parts = self._text.split("\n")
        parts.pop()
        end = "\r\n" if self._crlf else "\n"
        out = [p + end for p in parts]
        if self._open_end and out:
            out[-1] = parts[-1]
        return out

    def __len__(self) -> int:
        return self._n

    @overload
    def __getitem__(self, i: int) -> str: ...

    @overload
    def __getitem__(self, i: slice) -> Sequence[str]: ...

    def __getitem__(self, i: int | slice) -> str | Sequence[str]:
        return self._lines[i]

    def __iter__(self) -> Iterator[str]:
        return iter(self._lines)


def ascii_safe(encoding: str) -> bool:
    """Does ``encoding`` keep the bytes of ASCII text as themselves?"""
    probe = "\n\r\t ,;|\"'abcXYZ019\\"
    try:
        return probe.encode(encoding) == probe.encode("ascii")
    except (LookupError, UnicodeError):
        return False


def byte_blocks(fh: BinaryIO, size: int) -> Iterator[tuple[bytes, bool]]:
    """The file in blocks of about ``size`` bytes, each cut right after a line end (``\\n``,
    ``\\r\\n`` or a lone ``\\r``, never between ``\\r`` and ``\\n``); (block, last block).
    The last block is always flagged, empty when the file ends with a line end: a reader
    holding a record still open (an unterminated quote) must hear that the file has ended."""
    pending = b""
    while True:
        data = fh.read(size)
        if not data:
            yield pending, True
            return
        buf = pending + data if pending else data
        cut = max(buf.rfind(b"\n"), buf.rfind(b"\r", 0, len(buf) - 1)) + 1
        if cut == 0:
            pending = buf  # a line longer than a block: read on
            continue
        pending = buf[cut:]
        yield buf[:cut], False


class FlatSplitter:
    """Checks and splits clean blocks of one file (delimiter, header width, encoding)."""

    def __init__(self, delimiter: str, width: int, encoding: str) -> None:
        self.sep = delimiter
        self.width = width
        self.encoding = encoding
        self.utf8 = encoding.replace("_", "-").lower() in ("utf-8", "utf8")
        self.bsep = delimiter.encode(encoding)
        keep = {self.bsep[0], ord("\n")}
        self._noise = bytes(b for b in range(256) if b not in keep)
        self._row_shape = self.bsep * (width - 1) + b"\n"
        self._empty_row = self._row_shape if width > 1 else b"\n"

    @property
    def usable(self) -> bool:
        return len(self.bsep) == 1 and self.bsep not in b'"\r\n' and ascii_safe(self.encoding)

    def split(self, buf: bytes, *, eof: bool) -> tuple[FlatRows, BlockRaws] | None:
        """The block's records (``buf`` holds whole lines) or None when it is not clean.
        Raises UnicodeDecodeError for bytes the encoding refuses."""
        if not buf or b'"' in buf or b"\x00" in buf:
            return None  # quotes and NUL bytes: the record reader
        crlf = False
        if b"\r" in buf:
            if buf.count(b"\r\n") != buf.count(b"\r"):
                return None
            buf = buf.replace(b"\r\n", b"\n")
            crlf = True
        open_end = not buf.endswith(b"\n")
        if open_end:
            if not eof:
                return None
            buf += b"\n"
        n = buf.count(b"\n")
        if buf.translate(None, self._noise) != self._row_shape * n:
            return None
        if self.width == 1 and (buf.startswith(b"\n") or b"\n\n" in buf):
            return None  # a blank line is no record (wider rows: the shape says so)
        if buf.startswith(self._empty_row) or b"\n" + self._empty_row in buf:
            return None  # a line of delimiters only (Excel's empty row) is no record either
        text = buf.decode(self.encoding)
        rows = FlatRows(None, self.width, self.sep, text, buf if self.utf8 else None, n)
        return rows, BlockRaws(text, crlf, open_end, n)
