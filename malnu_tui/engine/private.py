"""Directories the tool makes, readable by their owner only (the XDG base directory spec asks
0700 of an application's directories). Under the umask 002 of a shared operators' group a
directory made 775 lets any member rename what is in it: the 0700 backup store itself, put
back as one of their own whose dump a restore then runs. What root makes (cron, `sudo`) in a
folder another user owns is that user's (:func:`hand_over`)."""

from __future__ import annotations

import contextlib
import errno
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = ["hand_over", "make_dirs", "owned", "replacing", "user_name", "write_private"]


def hand_over(fd: int, like: Path) -> None:
    """Run as root, give the file or folder open on ``fd``, which the tool has just made, the
    owner and group of ``like``: the folder it was made in, or the file it replaces. Root
    (from cron, or `sudo`) writing into an operator's folder (an import's rejects, a D1
    export, a backup store, a SQLite database, a log) left files of root's, mode 0600, that
    the operator could not read, and folders (0700) they could not enter or empty. Nothing
    changes in root's own folders, nor for anyone else (only root may give a file away).
    By descriptor, never by name: a name in another user's folder may be theirs by then."""
    if os.geteuid() != 0:
        return
    # A folder gone or a file system that refuses chown (a FAT USB stick, an NFS export with
    # root squashed): the file stays root's, as every file root made did before.
    with contextlib.suppress(OSError):
        st = os.stat(like)
        if st.st_uid != 0 and os.fstat(fd).st_uid == 0:  # another user's file stays theirs
            os.fchown(fd, st.st_uid, st.st_gid)


def user_name(uid: int) -> str:
    """The login name of ``uid`` (``uid N`` where it has none)."""
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def owned(path: Path) -> tuple[str, str]:
    """(owner's name, "owner X, mode 0644") of ``path``. OSError as ``stat`` raises it."""
    st = path.stat()
    owner = user_name(st.st_uid)
    return owner, f"owner {owner}, mode {st.st_mode & 0o7777:04o}"


def make_dirs(path: Path) -> None:
    """``mkdir -p path``, each directory it makes mode 0700 (and its parent's owner's, made
    by root: :func:`hand_over`); those already there are left as they are (not the tool's to
    change). OSError as ``Path.mkdir`` raises it."""
    missing: list[Path] = []
    for p in (path, *path.parents):
        if p.is_dir():
            break
        missing.append(p)
    for p in reversed(missing):
        try:
            os.mkdir(p, 0o700)
        except FileExistsError:
            if not p.is_dir():  # a file in its place: as mkdir -p says it
                raise
            continue
        if os.geteuid() == 0:
            try:  # (O_NOFOLLOW: a link put in its place meanwhile is not followed)
                fd = os.open(p, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
            except OSError:
                continue
            try:
                hand_over(fd, p.parent)
            finally:
                os.close(fd)


def write_private(path: Path, text: str, *, durable: bool = True) -> None:
    """Replace ``path`` with ``text``, readable by its owner only: written to a temp name
    beside it, fsynced (``durable``; a cache, made again when lost, is not), renamed into
    place. A write that fails (a full disk, a file size limit) or is interrupted removes its
    temp file and leaves the old file as it was: on a full disk `lint` left one more cache
    temp file with every run (and `check --alert` one more ``.incidents.json.<pid>.tmp``).
    OSError as the write raises it."""
    with replacing(path, durable=durable) as put:
        put(text)


@contextlib.contextmanager
def replacing(
    path: Path, *, room: int = 0, durable: bool = True
) -> Iterator[Callable[[str], None]]:
    """:func:`write_private` in two steps: the temp file is made (and ``room`` bytes of disk
    taken for it) on entry, ``put(text)`` writes and renames it into place later. Room that
    cannot be had is OSError on entry, before the caller does what the file is to record
    (`check --alert` sent its alerts, then found no room to record them sent: on a full disk
    it sent them again every minute). Left without ``put``, nothing is replaced."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    done = False

    def put(text: str) -> None:
        nonlocal done
        data = text.encode("utf-8")
        written = 0
        while written < len(data):  # into the room taken: no block to find now
            written += os.pwrite(fd, data[written:], written)
        os.ftruncate(fd, len(data))
        if durable:
            os.fsync(fd)
        os.replace(tmp, path)
        done = True
        if durable:
            # The rename itself to disk too: a power cut after it kept the earlier file, whole
            # but a run behind (`check --alert`'s incidents: what it had sent was sent again).
            with contextlib.suppress(OSError):  # (a file system that cannot: as before)
                folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
                try:
                    os.fsync(folder)
                finally:
                    os.close(folder)

    try:
        os.fchmod(fd, 0o600)  # a temp file a killed run with this pid left keeps its mode
        hand_over(fd, path.parent)
        if room:
            _take(fd, room)
        yield put
    finally:
        with contextlib.suppress(OSError):
            os.close(fd)
        if not done:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def _take(fd: int, room: int) -> None:
    """``room`` bytes of disk for the file open on ``fd`` (OSError: not to be had)."""
    fallocate = getattr(os, "posix_fallocate", None)  # (not on macOS: zeros written there)
    if fallocate is not None:
        try:
            fallocate(fd, 0, room)
            return
        except OSError as exc:  # a file system that cannot: zeros written instead
            if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
                raise
    done = 0
    while done < room:
        done += os.pwrite(fd, bytes(min(room - done, 65536)), done)
