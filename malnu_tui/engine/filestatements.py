"""A large migration file's statements, read from the file piece by piece each time they are
walked, never held whole: a legacy seed of 150 MB of INSERTs split into a list of statements
took 5-7 times the file in memory (`up` of it was OOM-killed on a small jump box).

The file is decoded as :func:`files.read_sql_text` reads it (BOM dropped, line ends folded as
:func:`sqlsplit.line_ends` folds the whole file) and split by :func:`sqlsplit.split_prefix`,
which cuts only just past a statement's own ``;``: the statements, their lines and the errors
are the ones of the whole file. Every walk hashes what it reads and ends with an error when
that is not the checksum discovery took (the file was edited meanwhile): inside a migration's
transaction, so nothing of a changed file is kept or recorded.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import overload

from malnu_tui.engine.errors import MigrationFileError
from malnu_tui.engine.filestream import folded_blocks
from malnu_tui.engine.sqlcheck import check_statement, down_error, down_section, meta_command
from malnu_tui.engine.sqlsplit import SplitError, Statement, split_lf, split_prefix, strip_comments
from malnu_tui.engine.sqltemplate import TEMPLATE_KINDS, TemplateParts, template_kind

__all__ = ["FileStatements", "lacks_text", "lacks_verb", "read_large_parts", "text_pieces"]

BLOCK = 1 << 17  # bytes read at a time
CHUNK = 1 << 17  # characters split at a time (more when one statement is larger)
_BOM = b"\xef\xbb\xbf"
# Words a caller may ask about without a walk of the file (:func:`lacks_text`).
_MARKERS = {w: re.compile(w, re.IGNORECASE) for w in ("DEFERR", "CONCURRENTLY", "PRAGMA", "SET")}


def _line_mode(path: Path) -> str:
    """How :func:`sqlsplit.line_ends` folds the whole file: ``keep``, ``cr`` or ``crlf``."""
    cr = lf = crlf = 0
    last = b""
    try:
        with open(path, "rb", buffering=0) as fh:
            while data := fh.read(BLOCK):
                cr += data.count(b"\r")
                lf += data.count(b"\n")
                crlf += data.count(b"\r\n") + (last == b"\r" and data[:1] == b"\n")
                last = data[-1:]
    except OSError as exc:
        raise MigrationFileError(str(path), f"cannot read: {exc.strerror or exc}") from None
    if not cr:
        return "keep"
    if not lf:
        return "cr"
    return "crlf" if lf == crlf else "keep"


def _down(
    path: Path, piece: str, lines: int, down: tuple[str, int] | None
) -> tuple[str, int] | None:
    """:func:`.sqlcheck.down_section` of a piece, with what an earlier piece left open: a down
    section that looked empty at its piece's end is refused once SQL follows it."""
    if down is not None and strip_comments(piece).strip():
        raise down_error(path, *down)
    return down_section(path, piece, lines) or down


def text_pieces(path: Path, mode: str, checksum: str, *, check_down: bool = False) -> Iterator[str]:
    """The file's text in pieces that end at a line end (the last one may not), as the whole
    file is decoded and folded; a MigrationFileError at the end when what was read is not
    ``checksum`` (sha256 of the content, BOM stripped, CRLF folded: files.checksum_bytes).
    ``check_down``: refuse another tool's down section (sqlcheck.down_section)."""
    sha = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    pending = ""
    lines = 0  # lines before ``pending``
    down: tuple[str, int] | None = None  # an empty down section's marker in a piece before
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        raise MigrationFileError(str(path), f"cannot read: {exc.strerror or exc}") from None
    try:
        data = os.read(fd, BLOCK)
        while 0 < len(data) < 4 and (more := os.read(fd, BLOCK)):  # (a whole BOM first)
            data += more
        if data.startswith(_BOM):
            data = data[3:]
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise MigrationFileError(
                str(path), "saved as UTF-16, not UTF-8: save it again as UTF-8", line=1
            )
        for block in folded_blocks(fd, data, sha.update, BLOCK):
            try:
                text = decoder.decode(block)
            except UnicodeDecodeError as exc:
                line = lines + pending.count("\n") + block[: exc.start].count(b"\n") + 1
                raise MigrationFileError(
                    str(path), f"not UTF-8 (byte 0x{block[exc.start]:02x})", line=line
                ) from None
            if mode == "cr":
                text = text.replace("\r", "\n")
            elif mode == "crlf":
                text = text.replace("\r\n", "\n")  # (a pair is never cut: folded_blocks)
            pending += text
            cut = pending.rfind("\n") + 1
            if cut:
                piece, pending = pending[:cut], pending[cut:]
                if check_down:
                    down = _down(path, piece, lines, down)
                lines += piece.count("\n")
                yield piece
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise MigrationFileError(
                str(path), "not UTF-8 (its last bytes)", line=lines + 1
            ) from None
    finally:
        os.close(fd)
    if pending:
        if check_down:
            _down(path, pending, lines, down)
        yield pending
    if sha.hexdigest() != checksum:
        raise MigrationFileError(
            str(path),
            "changed while the tool was reading it (its checksum is no longer the one read "
            "when the command started): nothing of it was run or recorded; run the command "
            "again",
        )


def _split(pieces: Iterable[str], dialect: str) -> Iterator[Statement]:
    """The statements of the text in ``pieces``, as :func:`sqlsplit.split_lf` of the whole."""
    buf = ""
    line = 1  # the line where ``buf`` starts
    want = CHUNK
    for piece in pieces:
        buf = buf + piece if buf else piece
        if len(buf) < want:
            continue
        got, end = split_prefix(buf, dialect, line)
        if not end:  # one statement larger than the buffer: wait until it has doubled
            want = 2 * len(buf)
            continue
        yield from got
        line += buf.count("\n", 0, end)
        buf = buf[end:]
        want = max(CHUNK, 2 * len(buf))
    if buf:
        yield from split_lf(buf, dialect, line)


@dataclass(frozen=True)
class _Facts:
    """What the check of a large file found, known without reading it again."""

    count: int
    first: Statement | None
    last: Statement | None
    verbs: frozenset[str]  # the first word of each statement
    markers: frozenset[str]  # those of _MARKERS found anywhere in the file, in any case
    size: int  # characters of SQL
    skipped: frozenset[int]  # the template's own statements, by their place in the file


class FileStatements(Sequence[Statement]):
    """The statements to run of a large file (the template's own stripped, as
    :func:`sqltemplate.strip_template` strips them), read again at each walk. Made by
    :func:`read_large_parts`, which checked them all; its length, first and last statement
    and a few facts (:func:`lacks_verb`, :func:`lacks_text`) are known without a walk."""

    def __init__(
        self,
        path: Path,
        dialect: str,
        checksum: str,
        mode: str,
        facts: _Facts,
        extra: tuple[Statement, ...] = (),
    ) -> None:
        self.path, self.dialect, self.checksum, self.mode = path, dialect, checksum, mode
        self._facts = facts
        count, first, last = facts.count, facts.first, facts.last
        self.verbs, self.markers = facts.verbs, facts.markers
        self.size = facts.size + sum(len(st.text) for st in extra)  # characters of SQL
        self.extra = extra  # statements run after the file's (wrangler's row: engine/migrate)
        self._count = count + len(extra)
        self._first = first or (extra[0] if extra else None)
        self._last = extra[-1] if extra else last

    def with_extra(self, extra: Iterable[Statement]) -> FileStatements:
        """These statements, then ``extra``."""
        more = (*self.extra, *extra)
        return FileStatements(self.path, self.dialect, self.checksum, self.mode, self._facts, more)

    def __iter__(self) -> Iterator[Statement]:
        skipped = self._facts.skipped
        pieces = text_pieces(self.path, self.mode, self.checksum)
        try:
            for n, st in enumerate(_split(pieces, self.dialect)):
                if n not in skipped:
                    yield st
        except SplitError as exc:  # (only a file changed since it was checked)
            raise MigrationFileError(str(self.path), str(exc), line=exc.line) from None
        yield from self.extra

    def __len__(self) -> int:
        return self._count

    def __bool__(self) -> bool:
        return self._count > 0

    @overload
    def __getitem__(self, i: int) -> Statement: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[Statement]: ...
    def __getitem__(self, i: int | slice) -> Statement | Sequence[Statement]:
        if isinstance(i, slice):
            return list(self)[i]
        at = i + self._count if i < 0 else i
        if not 0 <= at < self._count:
            raise IndexError(i)
        if at == 0 and self._first is not None:
            return self._first
        if at == self._count - 1 and self._last is not None:
            return self._last
        for n, st in enumerate(self):
            if n == at:
                return st
        raise IndexError(i)  # (a file changed since it was checked)

    def __reversed__(self) -> Iterator[Statement]:
        return reversed(list(self))

    def __repr__(self) -> str:
        return f"FileStatements({str(self.path)!r}, {self._count} statements)"


def lacks_verb(statements: Sequence[Statement], *verbs: str) -> bool:
    """True when ``statements`` are a large file's (:class:`FileStatements`) and none of them
    starts with one of ``verbs``: known without reading the file again. False: look."""
    return isinstance(statements, FileStatements) and not (
        statements.verbs & set(verbs)
        or any(st.first_words.startswith(verbs) for st in statements.extra)
    )


def lacks_text(statements: Sequence[Statement], marker: str) -> bool:
    """True when ``statements`` are a large file's and ``marker`` (one of DEFERR,
    CONCURRENTLY, PRAGMA, SET) appears nowhere in it, in any case. False: look."""
    return (
        isinstance(statements, FileStatements)
        and marker not in statements.markers
        and not any(marker in st.text.upper() for st in statements.extra)
    )


def read_large_parts(path: Path, dialect: str, checksum: str) -> TemplateParts:
    """:func:`files.parse_sql_file` of a large file, read in pieces: the same checks and
    errors (file and line), the same template lines; its statements a
    :class:`FileStatements`."""
    mode = _line_mode(path)
    pg = dialect == "postgresql"
    lines: dict[str, list[int]] = {k: [] for k in TEMPLATE_KINDS}
    count = size = 0
    first: Statement | None = None
    last: Statement | None = None
    verbs: set[str] = set()
    markers: set[str] = set()
    meta_error: MigrationFileError | None = None  # raised as parse_sql_file raises them:
    error: MigrationFileError | None = None  # a split error first, then these in this order

    def pieces() -> Iterator[str]:
        for piece in text_pieces(path, mode, checksum, check_down=True):
            if len(markers) < len(_MARKERS):  # (no upper-cased copy of the piece)
                markers.update(
                    w for w, r in _MARKERS.items() if w not in markers and r.search(piece)
                )
            yield piece

    skipped: set[int] = set()  # psql meta-commands skipped, the template's own statements
    try:
        for n, st in enumerate(_split(pieces(), dialect)):
            if pg and st.text.startswith("\\"):
                skipped.add(n)
                try:
                    if meta_command(path, st):
                        continue
                except MigrationFileError as exc:
                    meta_error = meta_error or exc
                    continue
            if error is None:
                try:
                    check_statement(path, st)
                except MigrationFileError as exc:
                    error = exc
            kind = template_kind(st)
            if kind is not None:
                lines[kind].append(st.line)
                skipped.add(n)
                continue
            count += 1
            size += len(st.text)
            first = first or st
            last = st
            verbs.add(st.first_words.split(" ", 1)[0])
    except SplitError as exc:
        raise MigrationFileError(str(path), str(exc), line=exc.line) from None
    if meta_error is not None:
        raise meta_error
    if error is not None:
        raise error
    facts = _Facts(
        count, first, last, frozenset(verbs), frozenset(markers), size, frozenset(skipped)
    )
    statements = FileStatements(path, dialect, checksum, mode, facts)
    return TemplateParts(statements, *lines.values())
