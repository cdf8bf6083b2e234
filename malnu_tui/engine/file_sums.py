"""Rollback files' checksums kept between readings: the console's status refresh (every few
seconds) and `check` (every minute from a timer, each run a new process, so kept on disk) of
up to 10,000 applied migrations read each rollback file again only when it changed.

The rule, the same for both: a kept checksum is trusted only while the file's size,
``mtime_ns``, ``ctime_ns``, inode and device are all what they were when it was read, and only
when the file had last changed (mtime or ctime) longer before that read than one tick of the
file system's clock (:func:`settled_after`: 50 ms for nanosecond stamps, which move with the
kernel's tick of 10 ms at most; 2 s for whole-second ones, ext4 with small inodes, FAT, some
NFS). ``ctime`` is the one stamp a user cannot set back (``os.utime`` and ``touch -d`` set
mtime and move ctime to now), so an edit whose size and mtime are put back is read again; a
file changed just before (or while) it was read, inside that tick, could be changed again
with the same stamps, so it is read again every time until it has settled ("racy git"). A
file that cannot be read is the caller's to say.

On disk: one file per rollback directory in the user cache dir (``rollback-sums/`` beside
``lint/``), owner only; a broken or foreign one is ignored, one that cannot be written is
skipped (never fails a check). ``MALNU_SUMS_CACHE=0`` turns it off (every file read)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from malnu_tui.engine.private import make_dirs, write_private

if TYPE_CHECKING:
    from malnu_tui.engine.files import RollbackFile

__all__ = [
    "SETTLED_NS",
    "TICK_NS",
    "FileSums",
    "cache_dir",
    "enabled",
    "settled_after",
    "stored_sums",
]

SETTLED_NS = 2_000_000_000  # whole-second stamps: changed less than this before: read again
TICK_NS = 50_000_000  # nanosecond stamps: the same, a tick (10 ms at most) and a margin
FORMAT = "malnu-rollback-sums 1"

_Key = tuple[int, int, int, int, int]  # size, mtime_ns, ctime_ns, inode, device


def settled_after(mtime_ns: int, ctime_ns: int) -> int:
    """How long after its last change a file's stamps can be trusted (see the module)."""
    whole = mtime_ns % 1_000_000_000 == 0 and ctime_ns % 1_000_000_000 == 0
    return SETTLED_NS if whole else TICK_NS


def enabled() -> bool:
    from malnu_tui.engine.switches import switch

    return switch("MALNU_SUMS_CACHE")


def cache_dir() -> Path:
    """``rollback-sums/`` in the platformdirs user cache dir (``~/.cache/malnu-tui``)."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("malnu-tui")) / "rollback-sums"


class FileSums:
    """Rollback files' checksums kept between readings (the rule: the module's docstring).
    Safe to share between threads (`check` reads its targets at once)."""

    def __init__(self) -> None:
        self._sums: dict[str, tuple[_Key, str]] = {}
        self._lock = threading.Lock()
        self._dirs: tuple[Path, ...] = ()  # where it was loaded from (:func:`stored_sums`)
        self._changed = False  # since loaded: written back only then
        self.hashed = 0  # files hashed (read) by this cache, for the tests

    def of(self, rb: RollbackFile) -> str:
        """``rb``'s sha256, read only when the file changed (OSError, MalnuError: the
        caller's to say)."""
        from malnu_tui.engine.files import RollbackFile

        path = os.path.abspath(rb.path)  # as :func:`stored_sums` names them
        read_at = time.time_ns()
        st = os.stat(path)
        key = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)
        with self._lock:
            kept = self._sums.get(path)
        if kept is not None and kept[0] == key:
            return kept[1]
        # Read now, after the stat (``rb`` may hold a checksum read before it): a change
        # between the two moves the stamps, and the next reading reads it again.
        digest = RollbackFile(rb.path, rb.dialect).checksum
        with self._lock:
            self.hashed += 1
            self._changed = True
            changed = max(st.st_mtime_ns, st.st_ctime_ns)
            if changed < read_at - settled_after(st.st_mtime_ns, st.st_ctime_ns):
                self._sums[path] = (key, digest)
            else:
                self._sums.pop(path, None)
        return digest

    def save(self) -> None:
        """Write what is kept back to the directories it was loaded from, when a file was read
        since: each file of a rollback directory still there (one `check --target` keeps
        another's files)."""
        with self._lock:
            if not self._changed:
                return
            sums = dict(self._sums)
        for folder in self._dirs:
            with contextlib.suppress(OSError):
                names = set(os.listdir(folder))
                files = {
                    name: [*key, digest]
                    for path, (key, digest) in sums.items()
                    if (cut := path.rpartition("/"))[0] == str(folder) and (name := cut[2]) in names
                }
                _write(_file_of(folder), {"format": FORMAT, "dir": str(folder), "files": files})


def stored_sums(rollback_dirs: Iterable[Path]) -> FileSums:
    """A :class:`FileSums` with what earlier runs kept of the files of ``rollback_dirs``
    (empty when the cache is off, missing or unreadable); :meth:`FileSums.save` writes it
    back."""
    sums = FileSums()
    if not enabled():
        return sums
    dirs = tuple(dict.fromkeys(Path(os.path.abspath(d)) for d in rollback_dirs))
    sums._dirs = dirs
    for folder in dirs:
        with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
            data = json.loads(_file_of(folder).read_text(encoding="utf-8"))
            if data.get("format") != FORMAT or data.get("dir") != str(folder):
                continue
            for name, (size, mtime, ctime, ino, dev, digest) in data["files"].items():
                if "/" in name or not isinstance(digest, str) or len(digest) != 64:
                    continue
                key = (int(size), int(mtime), int(ctime), int(ino), int(dev))
                sums._sums[str(folder / name)] = (key, digest)
    return sums


def _file_of(folder: Path) -> Path:
    return cache_dir() / f"{hashlib.sha256(str(folder).encode()).hexdigest()[:32]}.json"


def _write(path: Path, data: dict[str, object]) -> None:
    make_dirs(path.parent)
    write_private(path, json.dumps(data), durable=False)
