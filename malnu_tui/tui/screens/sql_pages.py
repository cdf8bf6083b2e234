"""A file too large to translate, read a piece at a time for the SQL view: the piece at a byte
offset (at most PIECE_LINES lines and PIECE_BYTES bytes, cut at a line end), and where it is
in the file. Only the piece is ever in memory; the pieces before it are remembered by their
offsets, so the operator pages back and forth through a seed of hundreds of MB. The last piece
is read from the file's end (:func:`read_back`), the pieces before it likewise: the line they
start on is not counted (the file before them is never read), where they are said in percent.
The view's piece keys (n / p / P / N) step with :func:`step_piece` where :func:`can_step` lets
them; :func:`large_note` is the one line over such a file, :func:`line_in_piece` where a
finding's line is in the piece shown."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# A piece: at most this many bytes (so characters) and lines (the view's diff limit).
PIECE_BYTES = 256 * 1024
PIECE_LINES = 5000
UNKNOWN_LINE = 0  # the line a piece read from the file's end starts on: not counted


@dataclass(frozen=True)
class PieceStart:
    """Where a piece starts: its byte offset, the line it is on, and whether that is inside a
    line (one longer than a piece: the piece before it ended there)."""

    offset: int = 0
    line: int = 1
    in_line: bool = False


@dataclass(frozen=True)
class Piece:
    """One piece of a large file's text (BOM dropped, CRLF folded, bytes that are not UTF-8
    shown as �), where it is, and the starts of the pieces before it."""

    path: Path
    text: str
    start: PieceStart
    end: int  # the byte offset after it: the next piece's start
    size: int  # the file's size in bytes
    before: tuple[PieceStart, ...] = ()

    @property
    def last(self) -> bool:
        return self.end >= self.size

    @property
    def lines(self) -> int:
        """The lines it shows (a last one without its line end counted)."""
        return self.text.count("\n") + (1 if self.text and not self.text.endswith("\n") else 0)

    @property
    def first(self) -> bool:
        return self.start.offset == 0

    @property
    def counted(self) -> bool:
        """Whether its lines are numbered as the file's (not read from the file's end)."""
        return self.start.line != UNKNOWN_LINE

    def next_start(self) -> PieceStart:
        whole = self.text.endswith("\n") or not self.text
        line = self.start.line + self.text.count("\n") if self.counted else UNKNOWN_LINE
        return PieceStart(self.end, line, not whole)

    def where(self) -> str:
        """``lines 5,001–10,000 of ~85,000`` (the total estimated from the bytes read so far,
        exact once the last piece is read), or ``at byte 262,144 of 17,825,792`` for a piece
        inside a line longer than a piece (its line numbers say nothing)."""
        whole = not self.start.in_line and (self.last or self.text.endswith("\n"))
        if not whole:
            return f"at byte {self.start.offset:,} of {self.size:,}"
        if not self.counted:  # read from the file's end: its line numbers are not known
            if self.last:
                return f"the last {self.lines:,} lines"
            return f"{self.lines:,} lines at {self.start.offset * 100 // self.size}% of the file"
        first, last = self.start.line, self.start.line + max(self.lines, 1) - 1
        if self.last:
            return f"lines {first:,}–{last:,} of {last:,}"
        estimate = round((first - 1 + self.lines) * self.size / max(self.end, 1))
        return f"lines {first:,}–{last:,} of ~{estimate:,}"


def read_piece(
    path: Path, start: PieceStart | None = None, before: tuple[PieceStart, ...] = ()
) -> Piece:
    """The piece of ``path`` at ``start``: one read of at most PIECE_BYTES bytes, cut after
    its PIECE_LINES-th line end, else after its last one; a piece with no line end at all (a
    line longer than a piece) is cut between two characters."""
    start = start or PieceStart()
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        fh.seek(start.offset)
        data = fh.read(PIECE_BYTES)
    cut = len(data)
    if start.offset + len(data) < size:  # not the file's end: cut at a line end
        at = -1
        for _ in range(PIECE_LINES):
            found = data.find(b"\n", at + 1)
            if found < 0:
                break
            at = found
        if at >= 0:
            cut = at + 1
        else:  # inside a long line: between two characters (not inside one)
            while cut > 0 and data[cut - 1] & 0xC0 == 0x80:
                cut -= 1
            if cut > 0 and data[cut - 1] >= 0xC0:
                cut -= 1
            cut = cut or len(data)  # (no character in it at all: as it is)
    data = data[:cut]
    if start.offset == 0 and data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    text = data.decode("utf-8", errors="replace").replace("\r\n", "\n")
    return Piece(path, text, start, start.offset + cut, size, before)


def next_piece(piece: Piece) -> Piece:
    """The piece after ``piece`` (the caller checks it is not the last)."""
    return read_piece(piece.path, piece.next_start(), (*piece.before, piece.start))


def previous_piece(piece: Piece) -> Piece:
    """The piece before ``piece`` (the caller checks there is one): the one read before it, else
    the one that ends where it starts, read backwards."""
    if piece.before:
        return read_piece(piece.path, piece.before[-1], piece.before[:-1])
    return read_back(piece.path, piece.start.offset)


def read_back(path: Path, end: int | None = None) -> Piece:
    """The piece that ends at byte ``end`` (the file's end when None): one read of at most
    PIECE_BYTES bytes before it, started after a line end (at most PIECE_LINES lines), or
    between two characters inside a line longer than a piece. The line it starts on is
    UNKNOWN_LINE unless the read reached the file's start."""
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        end = size if end is None else min(end, size)
        offset = max(0, end - PIECE_BYTES)
        fh.seek(offset)
        data = fh.read(end - offset)
    body = data[:-1] if data.endswith(b"\n") else data  # (its last line's own end)
    at, found_lines = len(body), 0
    while found_lines < PIECE_LINES and (found := body.rfind(b"\n", 0, at)) >= 0:
        at, found_lines = found, found_lines + 1
    in_line = False
    if offset == 0 and found_lines < PIECE_LINES:
        skip = 0  # the file's start, all of it
    elif found_lines:
        skip = at + 1
    else:  # inside a line longer than a piece: from a character's first byte
        skip = 0
        while skip < len(data) and data[skip] & 0xC0 == 0x80:
            skip += 1
        in_line = True
    line = 1 + data[:skip].count(b"\n") if offset == 0 else UNKNOWN_LINE
    data = data[skip:]
    if offset + skip == 0 and data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    text = data.decode("utf-8", errors="replace").replace("\r\n", "\n")
    return Piece(path, text, PieceStart(offset + skip, line, in_line), end, size)


def large_note(piece: Piece, translate: bool) -> str:
    """The one line over a file too large to translate: why, and where its piece is."""
    from malnu_tui.engine.translate import TRANSLATE_WHOLE_BYTES

    mb = f"{piece.size / (1 << 20):.1f} MB"
    if translate:
        limit = f"{TRANSLATE_WHOLE_BYTES >> 20} MB"
        return f"⚠ too large to translate: {mb} (over {limit}) · {piece.where()}"
    return f"⚠ large file: {mb} · {piece.where()}"


def can_step(piece: Piece, step: int) -> bool:
    """Whether a piece key goes anywhere from ``piece``: forward (``1`` next, ``2`` last) not
    from the last piece, back (``-1`` previous, ``-2`` first) not from the first."""
    return not piece.last if step > 0 else not piece.first


def step_piece(piece: Piece, step: int) -> Piece:
    """The next (``1``), previous (``-1``), first (``-2``) or last (``2``, read from the file's
    end) piece from ``piece`` (the caller checks :func:`can_step`)."""
    if abs(step) == 2:
        return read_back(piece.path) if step > 0 else read_piece(piece.path)
    return next_piece(piece) if step > 0 else previous_piece(piece)


def line_in_piece(piece: Piece, line: int) -> int | str:
    """The file's ``line`` as a line of ``piece`` (from 1), or the one line that says why it is
    not in the piece shown (not counted, or in another piece)."""
    first = piece.start.line
    if not piece.counted:
        return (
            f"line {line:,}: this piece's lines are not counted (read from the file's end): "
            "P reads the first piece, n the next"
        )
    if not first <= line < first + max(piece.lines, 1):
        return (
            f"line {line:,} is in another piece (this one: {piece.where()}): "
            "n / p read the next / previous"
        )
    return line - first + 1
