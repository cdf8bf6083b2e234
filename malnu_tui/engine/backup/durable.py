"""Files written durably, as the backup store's discipline asks (data to a temp name, fsync,
rename, directory fsync): temp names that carry their process and host, and whether that
process is gone (a store shared between hosts); fsync of a file and of a directory; JSON written
atomically; a file's sha256 read in chunks, with progress; a file and its SQLite side files
removed quietly. No manifest here: the store itself is :mod:`.store`."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import socket
from collections.abc import Callable
from pathlib import Path

from malnu_tui.engine.backends.lease import pid_alive
from malnu_tui.engine.private import hand_over
from malnu_tui.engine.progress import BackupProgress, BackupProgressCallback, emitter

__all__ = [
    "TMP_PREFIX",
    "HashStopped",
    "fsync_dir",
    "fsync_file",
    "remove_quietly",
    "sha256_file",
    "temp_is_stale",
    "temp_path",
    "write_json_atomic",
]

TMP_PREFIX = ".tmp-"
_CHUNK = 4 * 1024 * 1024

# This machine, as temp names carry it: a store shared between hosts (NFS) must not take
# another machine's backup in progress for a dead process of this one.
_HOST = re.sub(r"\W+", "_", socket.gethostname())[:40] or "host"
_TMP = re.compile(re.escape(TMP_PREFIX) + r"(\d+)-[0-9a-f]+(?:-h(\w+?))?(?=[.-]|$)")


def temp_path(directory: Path, suffix: str) -> Path:
    """A fresh temp name in ``directory`` that names this process and host (for the sweep)."""
    return directory / f"{TMP_PREFIX}{os.getpid()}-{secrets.token_hex(4)}-h{_HOST}{suffix}"


def temp_is_stale(p: Path, now: float, orphan_age_s: float) -> bool:
    """Whether ``p`` is a temp file left by a process that died: on this host, its pid is
    gone; from another host (a shared store), it has not been written for ``orphan_age_s``."""
    m = _TMP.match(p.name)
    if not m:
        return False
    pid, host = int(m.group(1)), m.group(2)
    if host is not None and host != _HOST:
        try:
            return now - p.stat().st_mtime > orphan_age_s
        except OSError:
            return False
    return pid != os.getpid() and not pid_alive(pid)


def remove_quietly(*paths: Path) -> None:
    """Unlink files (and their SQLite ``-journal``/``-wal``/``-shm`` companions) if present."""
    for p in paths:
        for q in (p, *(p.with_name(p.name + s) for s in ("-journal", "-wal", "-shm"))):
            with contextlib.suppress(OSError):
                q.unlink()


def fsync_file(path: Path) -> None:
    """Flush a file's data to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(directory: Path) -> None:
    """Flush a directory entry change (create, rename, unlink) to disk."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class HashStopped(Exception):
    """:func:`sha256_file` given up between two chunks: its ``stopped`` said so."""


def sha256_file(
    path: Path,
    progress: BackupProgressCallback | None = None,
    *,
    phase: str = "hash",
    stopped: Callable[[], bool] | None = None,
) -> tuple[str, int]:
    """(sha256 hex, size) of a file, reading it in 4 MiB chunks; :class:`HashStopped` as soon
    as ``stopped()`` says so between two of them (a helper thread's hash, which no stop
    reaches: its caller's stop waited for the whole file)."""
    emit = emitter(progress)
    total = path.stat().st_size
    h = hashlib.sha256()
    done = 0
    with path.open("rb", buffering=0) as f:
        while chunk := f.read(_CHUNK):
            if stopped is not None and stopped():
                raise HashStopped(str(path))
            h.update(chunk)
            done += len(chunk)
            if done % (64 * _CHUNK) < _CHUNK:
                emit(BackupProgress(phase, done, total))
    emit(BackupProgress(phase, done, total))
    return h.hexdigest(), done


def write_json_atomic(path: Path, data: object) -> None:
    """Write JSON to a temp name, fsync, rename over ``path``, fsync the directory."""
    tmp = temp_path(path.parent, ".json")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        hand_over(fd, path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, sort_keys=True)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        remove_quietly(tmp)
        raise
    fsync_dir(path.parent)
