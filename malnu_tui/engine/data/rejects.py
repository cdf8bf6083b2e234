"""The rejects file: CSV with the header ``line,column,reason,raw``, one row per rejected
record (``line`` is the physical line where the record starts; the header is line 1), in the
order of the lines.

Rows are judged out of line order: a chunk's values as it is read, the database's refusals a
chunk or two behind, repeated keys and the staging table's refusals once every row is in. The
file listed them so (`4, 6, 7, 3, 5`): read from its top, the first bad line was not first,
and the head of a long file hid the duplicates at its tail. They are sorted by line with
bounded memory: up to :data:`RUN_BYTES` in memory (every import that rejects a few thousand
rows: one write at the end), beyond that in sorted runs in temporary files beside it, merged.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import heapq
import os
import struct
import tempfile
from collections.abc import Iterator
from operator import itemgetter
from pathlib import Path
from types import SimpleNamespace
from typing import BinaryIO

from malnu_tui.engine.data.errors import ImportCheckFailed, InputFileError
from malnu_tui.engine.data.rows import Rejection
from malnu_tui.engine.private import hand_over, make_dirs

HEADER = ("line", "column", "reason", "raw")
KEEP_FIRST = 50  # shown in reports and the console
RUN_BYTES = 16 * 1024 * 1024  # rows kept in memory before a sorted run goes to a temp file
MAX_RUNS = 64  # run files merged into one when there are this many (open files at the end)
_FRAME = struct.Struct(">QI")  # a run's row: its line, its CSV text's length, the text


class RejectsWriter:
    """Takes rejections as they come and writes them by line at :meth:`close`; the file is
    made then (its rows' ``written``), sorted runs of a long list beside it meanwhile."""

    def __init__(self, path: Path, run_bytes: int = RUN_BYTES, max_runs: int = MAX_RUNS) -> None:
        self.path = path
        self._run_bytes, self._max_runs = run_bytes, max_runs
        self.count = 0
        self._lowest: list[tuple[int, int, Rejection]] = []  # (-line, -count, r): a max-heap
        self._rows: list[tuple[int, bytes]] = []  # (line, CSV text) not yet in a run
        self._held = 0  # their bytes
        self._runs: list[Path] = []
        self._done = False
        self._out: list[str] = []  # (the writer's one write a row: read back at once)
        self._csv = csv.writer(SimpleNamespace(write=self._out.append))

    @property
    def first(self) -> list[Rejection]:
        """The :data:`KEEP_FIRST` rejections of the lowest lines, by line (those judged first
        were kept: a run's repeated keys, judged last, went unshown below 50 bad dates)."""
        return [r for _l, _c, r in sorted(self._lowest, reverse=True)]

    def refuse_foreign(self, source_file: Path | None) -> None:
        """A file already there must be a rejects file (its first line the header above), not
        the CSV being imported nor any other file (notes, a rejects file Excel saved again
        with ``;``): the first rejected row truncated it. An input error naming the path."""
        if self.path.is_dir() or not self.path.parent.is_dir():
            return  # preflight says why
        why = ""
        if source_file is not None and _same_file(self.path, source_file):
            why = "it is the file being imported"
        elif _first_line(self.path) not in (None, b"", *_HEADER_LINES):
            why = f"it is not a rejects file (its first line is not {','.join(HEADER)})"
        if why:
            raise InputFileError(
                str(self.path),
                f"{why}: the rejects file would overwrite it",
                hint="give --rejects another path, or move that file away",
            )

    def preflight(self) -> None:
        """Can the file be written there? Asked before anything is read or written (a folder
        given as ``--rejects``, the read-only card or share the CSV is on): an input error
        naming the path, where the first rejected row used to end the import in a traceback."""
        try:
            if self.path.is_dir():
                raise IsADirectoryError(errno.EISDIR, "it is a folder")
            if self.path.parent.exists() and not self.path.parent.is_dir():
                raise NotADirectoryError(errno.ENOTDIR, f"{self.path.parent} is not a folder")
            make_dirs(self.path.parent)
            with tempfile.NamedTemporaryFile(dir=self.path.parent, prefix=".malnu-rejects-"):
                pass
        except OSError as exc:
            raise InputFileError(
                str(self.path),
                f"the rejects file cannot be written there: {exc.strerror or exc}",
                hint="give --rejects a file path in a folder you can write to",
            ) from None

    def remove_earlier(self) -> bool:
        """Remove an earlier run's rejects file at this path, as this run starts: a run that
        rejects nothing left it there, its rows taken for this run's. Only a file whose first
        line is the header this tool writes (``refuse_foreign`` refused any other)."""
        if self.count or _first_line(self.path) not in _HEADER_LINES:
            return False
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise InputFileError(
                str(self.path),
                f"an earlier run's rejects file cannot be removed: {exc.strerror or exc}",
                hint="remove it, or give --rejects another path",
            ) from None
        return True

    def add(self, r: Rejection) -> None:
        self.count += 1
        mark = (-r.line, -self.count, r)
        if len(self._lowest) < KEEP_FIRST:
            heapq.heappush(self._lowest, mark)
        elif mark > self._lowest[0]:
            heapq.heapreplace(self._lowest, mark)
        self._csv.writerow((r.line, r.column, r.reason, r.raw.rstrip("\r\n")))
        text = "".join(self._out).encode()
        self._out.clear()
        self._rows.append((r.line, text))
        self._held += len(text) + 100  # (and the tuple's, the bytes object's own)
        if self._held >= self._run_bytes:
            self._spill()

    def _spill(self) -> None:
        """The rows held, sorted by line, to a run file of their own (framed: no CSV to read
        back); a failure to write it is the rejects file's (:meth:`_failed`)."""
        self._rows.sort(key=itemgetter(0))  # (stable: one line's rows in the order judged)
        try:
            self._run_of(iter(self._rows))
            if len(self._runs) >= self._max_runs:  # (a billion bytes rejected: one run of them)
                runs = list(self._runs)  # (kept in _runs till merged: removed on a failure)
                with contextlib.ExitStack() as stack:
                    self._run_of(_merged(stack, runs))
                for run in runs:
                    self._runs.remove(run)
                    run.unlink()
        except OSError as exc:
            raise self._failed(exc) from None
        self._rows, self._held = [], 0

    def _run_of(self, rows: Iterator[tuple[int, bytes]]) -> None:
        make_dirs(self.path.parent)
        fd, name = tempfile.mkstemp(dir=self.path.parent, prefix=".malnu-rejects-run-")
        self._runs.append(Path(name))
        with os.fdopen(fd, "wb") as fh:
            for line, text in rows:
                fh.write(_FRAME.pack(line, len(text)))
                fh.write(text)

    @property
    def written(self) -> bool:
        return self.count > 0

    def reset(self) -> None:
        """Start over (the import is read again from its start): no file, no count."""
        self._drop_runs()
        if self._done:
            self.path.unlink(missing_ok=True)
        self.count, self._lowest, self._rows, self._held, self._done = 0, [], [], 0, False

    def close(self) -> None:
        """Write the file, by line, and fsync it: a rejects file that loses rows is worse than
        none. Nothing to write: no file (once: a second call does nothing)."""
        if self._done or not self.count:
            return
        self._done = True
        try:
            self._write()
        except OSError as exc:  # its rows did not fit on the disk
            raise self._failed(exc) from None
        finally:
            self._drop_runs()
            self._rows, self._held = [], 0

    def _write(self) -> None:
        make_dirs(self.path.parent)
        # Owner only, as backups are: the raw rows are students' and parents' data.
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fd, 0o600)  # a file left by an earlier run keeps its mode otherwise
            hand_over(fd, self.path.parent)  # root's, in an operator's folder: theirs
            fh.write((",".join(HEADER) + "\r\n").encode())
            if not self._runs:
                self._rows.sort(key=itemgetter(0))
                fh.writelines(text for _line, text in self._rows)
            else:
                if self._rows:
                    self._spill()
                with contextlib.ExitStack() as stack:
                    fh.writelines(text for _line, text in _merged(stack, self._runs))
            fh.flush()
            os.fsync(fd)

    def _drop_runs(self) -> None:
        for run in self._runs:
            with contextlib.suppress(OSError):
                run.unlink()
        self._runs = []

    def _failed(self, exc: OSError) -> ImportCheckFailed:
        """A write of the file failed (a full disk, a file size limit): the part written
        ends in the middle of a row and would pass for the whole list of rejected rows, so it
        is removed (or, if that fails too, said to be partial); nothing is committed. The
        writer is done: the import's stop closes it, and the rows still held made a file of
        their own there (the spilled runs removed: a few rows passing for all of them)."""
        self._drop_runs()
        self._done, self._rows, self._held = True, [], 0
        try:
            self.path.unlink(missing_ok=True)
            left = "the part written was removed"
        except OSError:
            left = "the part written there is INCOMPLETE"
        return ImportCheckFailed(
            f"cannot write the rejects file {self.path}: {exc.strerror or exc}; {left}; "
            "nothing committed"
        )


def _merged(stack: contextlib.ExitStack, runs: list[Path]) -> Iterator[tuple[int, bytes]]:
    """The rows of sorted ``runs``, by line (of one line, in the order of the runs)."""
    frames = [_frames(stack.enter_context(p.open("rb"))) for p in runs]
    return heapq.merge(*frames, key=itemgetter(0))


def _frames(fh: BinaryIO) -> Iterator[tuple[int, bytes]]:
    """A run file's rows, (line, CSV text), as :meth:`RejectsWriter._spill` wrote them."""
    while head := fh.read(_FRAME.size):
        line, size = _FRAME.unpack(head)
        yield line, fh.read(size)


_HEADER_LINES = (",".join(HEADER).encode() + b"\r\n", ",".join(HEADER).encode() + b"\n")


def _first_line(path: Path) -> bytes | None:
    """The file's first line (at most 64 bytes); None: no file there. An unreadable file
    reads as a line that is not the header (not known to be ours)."""
    try:
        with path.open("rb") as fh:
            return fh.readline(64)
    except FileNotFoundError:
        return None
    except OSError:
        return b"?"


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and a.samefile(b)
    except OSError:
        return False
