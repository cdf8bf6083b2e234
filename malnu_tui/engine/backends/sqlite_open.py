"""Opening a SQLite file: read-write (its parent directories made), or read-only for
monitoring, creating nothing beside it (no ``-wal`` or ``-shm`` owned by the monitoring
user, no database where a path has a typo). :mod:`.sqlite` is the backend over it."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from urllib.parse import quote

from malnu_tui.engine.backends.sqlite_stop import StoppableConnection
from malnu_tui.engine.errors import (
    BackendError,
    ConfigError,
    DatabaseBusy,
    DatabaseDamaged,
    NotPermitted,
    sqlite_damaged,
)
from malnu_tui.engine.private import hand_over, make_dirs, owned, user_name

__all__ = [
    "OTHER_WRITER",
    "check_path",
    "connect",
    "disk_hint",
    "open_connection",
    "refuse_unwritable",
    "unwritable_reason",
]

OTHER_WRITER = (
    "an application or a `sqlite3` shell keeps a write transaction open (`fuser` or `lsof` on "
    "the file names the process); let it finish, then run the command again"
)


def check_path(path: Path, *, create: bool = True) -> None:
    """A usable database path, or a :class:`ConfigError` naming it (a bad ``--database`` is a
    usage error, exit 2). Creates the missing parent directories; without ``create`` (a
    read-only open) the file must exist."""
    if not create and not path.exists():
        raise ConfigError(
            f"database file {path} does not exist (nothing was created)",
            hint="check the path; a command that writes (`status`, `up`) creates a new database",
        )
    try:
        if create:
            make_dirs(path.parent)
    except OSError as exc:
        why = f"{exc.filename} is not a directory" if isinstance(exc, FileExistsError) else ""
        raise ConfigError(
            f"cannot use {path} as a SQLite database: cannot create {path.parent} "
            f"({why or exc.strerror or exc})"
        ) from None
    if path.is_dir():
        raise ConfigError(f"cannot use {path} as a SQLite database: it is a directory")
    if create:
        refuse_unwritable(path)
    elif not os.access(path, os.R_OK):  # (monitoring: `check`, `log`) said as unwritable is
        owner, facts = owned(path)
        me = user_name(os.geteuid())
        raise NotPermitted(
            f"{path}: user {me} may not read the file ({facts})",
            hint=f"give {me} read access (a group both are in: chgrp, chmod g+r), or run as "
            f"{owner}",
        )
    wal = path.with_name(path.name + "-wal")
    if create and not path.exists() and wal.is_file() and wal.stat().st_size:
        # A database moved or deleted without its WAL (committed rows not yet checkpointed):
        # opening a new file there makes SQLite discard that WAL, and the rows in it.
        raise ConfigError(
            f"{path} does not exist, but {wal.name} beside it does: the WAL of the database "
            "that was there, holding rows written to it; nothing was created",
            hint=f"move {wal.name} (and {path.name}-shm) to where the database went, or "
            "delete them if that database is to be given up",
        )


def disk_hint(path: Path, exc: BaseException) -> str | None:
    """The hint for SQLite's "database or disk is full" or "disk I/O error" on the database at
    ``path`` (None for any other error), with the room its disk has left: a full disk made
    `status` say a bare "cannot open …: disk I/O error" (its -shm cannot grow), a lock row
    "COMMIT failed", with no word of the disk."""
    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
    if code not in (sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR):
        return None
    folder = path.parent
    left = _room(folder)
    spill = _temp_dir() if code == sqlite3.SQLITE_FULL else None
    if spill is not None and not _same_disk(spill, folder) and 0 <= _room(spill) < _NEARLY_FULL:
        # (a sort or an index build spills to SQLite's temporary directory: a full /tmp was
        # named as the database's disk, whose room the line then showed)
        return (
            f"SQLite's temporary directory {spill} is full ({_room(spill) // 1024:,} KiB left), "
            f"not the disk holding {folder} nor the database: a sort or an index build spills "
            f"there; free space there (`df -h {spill}`), or set SQLITE_TMPDIR to a folder on a "
            "disk with room, then run it again"
        )
    if code == sqlite3.SQLITE_FULL or 0 <= left < _NEARLY_FULL:
        room = f"{left // 1024:,} KiB left; " if left >= 0 else ""
        return (
            f"the disk holding {folder} is full ({room}or this user's quota is used up), not "
            f"the database at fault: free space there (`df -h {folder}`), then run it again"
        )
    return (
        f"the disk holding {folder} ({left // 1024**2:,} MiB left) failed a read or write: a "
        "failing device (`dmesg`), or a quota or file size limit reached; run it again once "
        "that is fixed"
    )


_NEARLY_FULL = 1024**2  # less room than this left, and an I/O error is a full disk's


def _room(folder: Path) -> int:
    """Bytes this user may still write on ``folder``'s disk (-1: cannot tell)."""
    try:
        st = os.statvfs(folder)
    except OSError:
        return -1
    return st.f_bavail * st.f_frsize


def _temp_dir() -> Path | None:
    """The folder SQLite puts its temporary files in (its unix VFS's order): SQLITE_TMPDIR,
    TMPDIR, /var/tmp, /usr/tmp, /tmp, the first that is a folder this user may write."""
    for where in (os.environ.get("SQLITE_TMPDIR"), os.environ.get("TMPDIR"), "/var/tmp",
                  "/usr/tmp", "/tmp"):  # fmt: skip
        if where and os.path.isdir(where) and os.access(where, os.W_OK | os.X_OK):
            return Path(where)
    return None


def _same_disk(a: Path, b: Path) -> bool:
    try:
        return os.stat(a).st_dev == os.stat(b).st_dev
    except OSError:
        return True  # (cannot tell: the database's disk is named, as before)


def refuse_unwritable(path: Path) -> None:
    """:class:`NotPermitted` when this user may not write the database at ``path``: the file,
    a ``-wal``/``-shm`` another user's application made, or the directory where SQLite makes
    them (and a rollback journal). Asked before SQLite opens it: opened anyway, a read worked
    and the first write (the lock row, an audit row) was a traceback, "attempt to write a
    readonly database", with a ``-wal`` and ``-shm`` of this user's left beside the file,
    which the application, running as another user, could then not write."""
    me = user_name(os.geteuid())
    side = [path.with_name(path.name + s) for s in ("-wal", "-shm")]
    blocked: Path | None = None
    if path.exists() and not os.access(path, os.W_OK):
        blocked, what = path, "the file"
    elif found := next((p for p in side if p.exists() and not os.access(p, os.W_OK)), None):
        blocked, what = found, f"{found.name}, which the application made as its user"
    elif not all(p.exists() for p in side) and not os.access(path.parent, os.W_OK | os.X_OK):
        blocked = path.parent
        what = f"its directory, where SQLite makes {path.name}-wal and -shm (or a -journal)"
    if blocked is None:
        return
    owner, facts = owned(blocked)
    where = facts if blocked == path else f"{blocked}: {facts}"
    raise NotPermitted(
        f"{path}: user {me} may not write {what} ({where}); nothing was changed",
        hint=f"run malnu-tui as {owner}, the user the application writes it as (`sudo -u "
        f"{owner} malnu-tui …`), or give {me} write access to the file, its -wal and -shm and "
        "its directory (a group both are in: chgrp, chmod g+w)",
    )


def unwritable_reason(path: Path) -> str | None:
    """Why this user may not write the database at ``path`` (:func:`refuse_unwritable`'s
    words), or None when it may."""
    try:
        refuse_unwritable(path)
    except NotPermitted as exc:
        return str(exc).removesuffix("; nothing was changed")
    return None


def _create_private(path: Path) -> None:
    """A database this tool creates is its owner's only (0600, whatever the umask): SQLite
    made it 0644, every user of a shared box reading the students' rows; its ``-wal``,
    ``-shm`` and ``-journal`` take the file's mode from SQLite. A file that exists is left
    as it is (the application's, its mode its own). Made by root (cron, `sudo`) in a folder
    another user owns, it is that user's, as SQLite gives root's ``-wal`` the database's
    owner: a restore into a file moved aside (the damaged-file hint's way) made a file of
    root's that the application, running as the folder's owner, could not open."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    except OSError:
        return  # SQLite's own open says what is wrong, as it did before
    try:
        os.fchmod(fd, 0o600)  # under a umask that takes the owner's bits too (0277)
        hand_over(fd, path.parent)
    finally:
        os.close(fd)


def _wal_mode(path: Path) -> bool:
    """Whether the file's header says WAL (bytes 18 and 19 are 2)."""
    try:
        with open(path, "rb") as f:
            header = f.read(20)
    except OSError:
        return False
    return header[:16] == b"SQLite format 3\x00" and header[18:20] == b"\x02\x02"


def connect(
    path: Path, busy_timeout: float, read_only: bool, *, live: bool = False
) -> sqlite3.Connection:
    """A connection with the busy timeout; ``read_only``: ``mode=ro``, creating nothing. A WAL
    database without a ``-wal`` (no connection open) is read as it is on disk (``immutable``):
    mode=ro would create a ``-wal`` and ``-shm`` it cannot remove. So is one whose ``-shm``
    this user cannot create (a monitoring user allowed to read the file only) while its WAL
    holds nothing; one whose WAL holds changes is said. ``live`` (an import's source, read for
    minutes while its application writes): never ``immutable``, which takes no lock and read
    pages a checkpoint was rewriting ("database disk image is malformed", or wrong rows)."""

    def connect(where: str) -> sqlite3.Connection:
        conn = sqlite3.connect(
            where,
            isolation_level=None,
            timeout=busy_timeout,
            check_same_thread=False,
            uri=read_only,
            factory=StoppableConnection,  # (the console's stop ends its running statement)
        )
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        return conn

    if not read_only:
        _create_private(path)
        return connect(str(path))
    uri = f"file:{quote(str(path.absolute()))}?mode=ro"
    if live:
        return connect(uri)
    wal = Path(f"{path}-wal")
    if not wal.exists() and _wal_mode(path):
        # Nothing in a WAL to read, and mode=ro would leave a -wal and -shm behind, owned by
        # this (monitoring) user: an application running as another could not write them.
        return connect(uri + "&immutable=1")
    conn = connect(uri)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.OperationalError as exc:
        conn.close()
        if "readonly" not in str(exc) and "unable to open" not in str(exc):
            raise
        if wal.exists() and wal.stat().st_size > 0:
            raise BackendError(
                f"cannot read {path}: its WAL ({wal.name}) holds changes and this user cannot "
                f"create {path.name}-shm beside it ({exc})",
                hint=f"let this user write to {path.parent}, or run as the database's owner",
            ) from None
    return connect(uri + "&immutable=1")


def open_connection(
    path: Path,
    busy_timeout: float,
    read_only: bool,
    *,
    live: bool = False,
    fresh_ok: bool = False,
    keep_journal: bool = False,
) -> sqlite3.Connection:
    """The backend's connection to ``path``: WAL mode (asked only when it is not WAL yet),
    foreign keys on; ``read_only`` opens mode=ro and switches nothing; ``live`` also locks as
    the application does (an import's source); ``fresh_ok`` reads a database not made yet as
    the new empty one, in memory; ``keep_journal`` leaves a rollback-journal file one. What
    stops it is said as this file's: busy, damaged, or the disk's."""
    # A dry run of a database not made yet (`up --dry-run` before the first `up`): read
    # as the new empty database `up` would make, in memory; the file is not created.
    new = fresh_ok and not path.exists()
    if not new:
        check_path(path, create=not read_only)
    try:
        # live: read-only, and locking as the application does (an import's source).
        conn = (
            sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
            if new
            else connect(path, busy_timeout, read_only, live=live)
        )
        # Switching to WAL needs the file to itself: only ask when it is not WAL yet, so
        # a second operator opening a busy database never waits on (or fails at) it.
        journal = "" if read_only else conn.execute("PRAGMA journal_mode").fetchone()[0]
        # ``keep_journal`` (a dry run, rolled back): an application's rollback-journal
        # file stays one (`import --dry-run` switched it to WAL for good).
        if not read_only and not keep_journal and str(journal).lower() != "wal":
            conn.execute("PRAGMA journal_mode = WAL")
        if live:
            # Its first read here: an application's write lock held past the busy timeout
            # is said as this file's (it was a traceback at the source's first query).
            # Anything else (no database at all) is said by the first read, as a source's.
            try:
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            except sqlite3.DatabaseError as exc:
                if "locked" in str(exc) or "busy" in str(exc):
                    raise
        conn.execute("PRAGMA foreign_keys = ON")
    except sqlite3.Error as exc:
        if ("locked" in str(exc) or "busy" in str(exc)) and read_only:
            # Only read (an import's source, a check): nothing was to be switched.
            raise DatabaseBusy(
                str(path), busy_timeout, doing="as it was opened to be read (it is "
                "only read)", hint=OTHER_WRITER,
            ) from None  # fmt: skip
        if "locked" in str(exc) or "busy" in str(exc):
            # A database not in WAL mode yet needs the file to itself to switch: an
            # application's open write transaction refuses that at once.
            raise DatabaseBusy(
                str(path), 0, doing="as it was opened (switching it to WAL mode needs "
                "the file to itself)", hint=OTHER_WRITER,
            ) from None  # fmt: skip
        if sqlite_damaged(exc):
            raise DatabaseDamaged(f"cannot open {path}", str(exc)) from None
        raise BackendError(f"cannot open {path}: {exc}", hint=disk_hint(path, exc)) from None
    return conn
