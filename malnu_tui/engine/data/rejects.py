"""The rejects file: CSV with the header ``line,column,reason,raw``, one row per rejected
record (``line`` is the physical line where the record starts; the header is line 1)."""

from __future__ import annotations

import contextlib
import csv
import errno
import os
import tempfile
from pathlib import Path
from typing import TextIO

from malnu_tui.engine.data.errors import ImportCheckFailed, InputFileError
from malnu_tui.engine.data.rows import Rejection
from malnu_tui.engine.private import hand_over, make_dirs

HEADER = ("line", "column", "reason", "raw")
KEEP_FIRST = 50  # shown in reports and the console


class RejectsWriter:
    """Writes rejections as they come; the file is created with the first one."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self.first: list[Rejection] = []
        self._fh: TextIO | None = None
        self._writer: csv.Writer | None = None  # type: ignore[name-defined]

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
        if self._fh is not None or _first_line(self.path) not in _HEADER_LINES:
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
        try:
            if self._fh is None:
                make_dirs(self.path.parent)
                # Owner only, as backups are: the raw rows are students' and parents' data.
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                os.fchmod(fd, 0o600)  # a file left by an earlier run keeps its mode otherwise
                hand_over(fd, self.path.parent)  # root's, in an operator's folder: theirs
                self._fh = os.fdopen(fd, "w", encoding="utf-8", newline="")
                self._writer = csv.writer(self._fh)
                self._writer.writerow(HEADER)
            assert self._writer is not None
            self._writer.writerow((r.line, r.column, r.reason, r.raw.rstrip("\r\n")))
        except OSError as exc:  # a full disk: the rows refused must be kept, or nothing is
            raise self._failed(exc) from None
        self.count += 1
        if len(self.first) < KEEP_FIRST:
            self.first.append(r)

    @property
    def written(self) -> bool:
        return self._fh is not None

    def reset(self) -> None:
        """Start over (the import is read again from its start): no file, no count."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None
            self._writer = None
            self.path.unlink(missing_ok=True)
        self.count = 0
        self.first = []

    def close(self) -> None:
        """Flush and fsync: a rejects file that loses rows is worse than none."""
        if self._fh is not None and not self._fh.closed:
            try:
                self._fh.flush()
                os.fsync(self._fh.fileno())
                self._fh.close()
            except OSError as exc:  # its last rows did not fit on the disk
                raise self._failed(exc) from None

    def _failed(self, exc: OSError) -> ImportCheckFailed:
        """A write of the file failed (a full disk, a file size limit): the part written
        ends in the middle of a row and would pass for the whole list of rejected rows, so it
        is removed (or, if that fails too, said to be partial); nothing is committed."""
        fh, self._fh, self._writer = self._fh, None, None
        if fh is not None:
            with contextlib.suppress(OSError):
                fh.close()  # its buffer cannot be written either: dropped
            if not fh.closed:
                with contextlib.suppress(OSError):
                    os.close(fh.fileno())
        try:
            self.path.unlink(missing_ok=True)
            left = "the part written was removed"
        except OSError:
            left = "the part written there is INCOMPLETE"
        return ImportCheckFailed(
            f"cannot write the rejects file {self.path}: {exc.strerror or exc}; {left}; "
            "nothing committed"
        )


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
