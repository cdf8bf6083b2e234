"""Reading a large migration file in blocks for discovery: its checksum, its header and
whether it is blank, without holding the file (a 300 MB legacy seed) in memory. `status`,
`verify` and every other command discover the whole set; only the commands that run or
review a file's statements read it whole, and then only that file."""

from __future__ import annotations

import codecs
import hashlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from malnu_tui.engine.errors import MigrationFileError

__all__ = ["BLOCK", "Streamed", "checkout_checksums_of", "folded_blocks", "read_or_stream"]

BLOCK = 1 << 18  # bytes read at a time past the first ``limit``
_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class Streamed:
    """What discovery needs of a file too large to keep."""

    checksum: str  # as files.checksum_bytes of the whole file (BOM stripped, CRLF folded)
    head: str  # the decoded text up to the end of its leading comment block (at least)
    blank: bool  # only whitespace


def read_or_stream(path: str, limit: int) -> bytes | Streamed | None:
    """The bytes of the file at ``path`` when it holds at most ``limit`` bytes; else what
    discovery needs of it, read in blocks of :data:`BLOCK`; None when it is not UTF-8 (the
    caller reads it whole to name the line). OSError: a MigrationFileError."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        try:
            chunks: list[bytes] = []
            got = 0
            while got <= limit:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
                chunks.append(chunk)
                got += len(chunk)
            return _stream(fd, b"".join(chunks))
        finally:
            os.close(fd)
    except OSError as exc:
        raise MigrationFileError(path, f"cannot read: {exc.strerror or exc}") from None


def _stream(fd: int, data: bytes) -> Streamed | None:
    if data.startswith(_BOM):
        data = data[3:]
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16: the caller says so
        return None
    sha = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    head = ""
    last_line = ""  # the head's last (unfinished) line
    head_done = False
    blank = True
    for block in folded_blocks(fd, data, sha.update):
        try:
            text = decoder.decode(block)
        except UnicodeDecodeError:
            return None
        if blank and text.strip():
            blank = False
        if not head_done:
            head += text
            pending = last_line + text
            head_done = _header_ends(pending)
            last_line = pending.rsplit("\n", 1)[-1]
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return None
    return Streamed(sha.hexdigest(), head, blank)


def folded_blocks(
    fd: int, data: bytes, update: Callable[[bytes], None], size: int = BLOCK
) -> Iterator[bytes]:
    """The file's blocks from ``data`` (its first, the BOM stripped) on, reading ``size`` bytes
    at a time from ``fd``; each block's bytes with CRLF folded to LF go to ``update`` (the
    checksum's). A block's last CR waits for the next block, whose LF may follow it."""
    carry = b""
    while block := carry + data:
        data = os.read(fd, size)
        carry = b""
        if data and block.endswith(b"\r"):
            carry, block = b"\r", block[:-1]
        update(block.replace(b"\r\n", b"\n"))
        yield block


def _header_ends(text: str) -> bool:
    """Whether ``text`` holds a whole line past the leading comment block (headers are the
    leading ``--`` lines: files._header stops at the first other non-blank line)."""
    lines = text.split("\n")
    return any(line.strip() and not line.lstrip().startswith("--") for line in lines[:-1])


def checkout_checksums_of(path: str) -> frozenset[str]:
    """files.checkout_checksums of the file at ``path`` (each form a checkout of it may take:
    as it is, LF or CRLF line ends, with or without a BOM), read in blocks of :data:`BLOCK`.
    OSError: a MigrationFileError."""
    raw, lf, crlf, bom_lf, bom_crlf = (hashlib.sha256() for _ in range(5))
    bom_lf.update(_BOM)
    bom_crlf.update(_BOM)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        try:
            data = os.read(fd, BLOCK)
            raw.update(data)
            if data.startswith(_BOM):
                data = data[3:]
            carry = b""
            while block := carry + data:
                data = os.read(fd, BLOCK)
                raw.update(data)
                carry = b""
                if data and block.endswith(b"\r"):
                    carry, block = b"\r", block[:-1]
                folded = block.replace(b"\r\n", b"\n")
                lf.update(folded)
                bom_lf.update(folded)
                doubled = folded.replace(b"\n", b"\r\n")
                crlf.update(doubled)
                bom_crlf.update(doubled)
        finally:
            os.close(fd)
    except OSError as exc:
        raise MigrationFileError(path, f"cannot read: {exc.strerror or exc}") from None
    return frozenset(h.hexdigest() for h in (raw, lf, crlf, bom_lf, bom_crlf))
