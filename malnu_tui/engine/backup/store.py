"""The backup store: manifests, its directory and listing (durable files: durable.py; deleting and
pruning: retention.py).

Discipline (Litestream / pgBackRest): data goes to a temporary name in the store directory, is
fsynced, hashed and checked, then renamed into place; the manifest is written last (temp, fsync,
rename) and the directory fsynced. Only a backup with a manifest is listed, so a backup that
failed half way is never offered. Files are 0600, the directory 0700.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from malnu_tui.engine.backup.durable import (
    TMP_PREFIX,
    fsync_dir,
    temp_is_stale,
    write_json_atomic,
)
from malnu_tui.engine.clock import json_times, parse_iso
from malnu_tui.engine.errors import ConfigError, MalnuError
from malnu_tui.engine.private import make_dirs, owned, user_name
from malnu_tui.engine.progress import BackupProgress, BackupProgressCallback, emitter

__all__ = [
    "MANIFEST_VERSION",
    "REASONS",
    "AppliedMigration",
    "BackupCorrupt",
    "BackupError",
    "BackupManifest",
    "BackupNotFound",
    "BackupProgress",
    "BackupProgressCallback",
    "DumpRefused",
    "emitter",
    "list_backups",
    "load_manifest",
    "read_manifest",
    "read_manifests",
]

# 2: SQLite/D1 tables named as by ``sqlite_sql.NOT_INTERNAL`` (1: the unescaped LIKE rule,
# kept to compare a version-1 backup as it was counted: ``sqlite_sql.names_rule``).
MANIFEST_VERSION = 2
RESTORE_NEEDS = "restore_needs"  # the manifest detail of :attr:`BackupManifest.restore_needs`
# Why a backup was taken (recorded in its manifest).
REASONS = (
    "manual",
    "pre-up",
    "pre-rollback",
    "pre-restore",
    "pre-recover",
    "pre-import",
    "scheduled",
)
ORPHAN_AGE_S = 3600.0
_ID = re.compile(r"^\d{8}T\d{6}\d{6}Z-[0-9a-f]{6}$")


# -- errors -----------------------------------------------------------------------------------


class BackupError(MalnuError):
    """A backup could not be made, read, checked or restored."""


class StoreUnreadable(BackupError):
    """This user may not enter or list the backup store (a monitoring user's; the store 0700,
    the backup user's, as :func:`ensure_store` makes it): said with the folder that stops it,
    its owner and mode. ``Path.is_dir`` raised PermissionError, a traceback out of `backup
    list` and every command reading the store; a folder listed without read access was empty,
    "no backups"."""

    @classmethod
    def of(cls, directory: Path) -> StoreUnreadable:
        me = user_name(os.geteuid())
        path = (*reversed(directory.parents), directory)
        blocked = next((p for p in path if not os.access(p, os.R_OK | os.X_OK)), directory)
        try:
            owner, facts = owned(blocked)
        except OSError:
            owner, facts = "the user who makes the backups", "its owner and mode not readable"
        return cls(
            f"cannot read the backup store {directory}: user {me} may not enter {blocked} "
            f"({facts})",
            hint=f"run it as {owner}, who makes the backups (`sudo -u {owner} malnu-tui …`): "
            "the store is its owner's only, as the tool makes it",
        )


class DumpRefused(BackupError):
    """The database cannot be dumped at all (D1's export refuses a database holding virtual
    tables); ``restore_point`` (a D1 bookmark) brings it back whole, and a safety step stands
    on it instead (``way_back``: the line saying so). Nothing was attempted."""

    def __init__(self, message: str, restore_point: str, way_back: str) -> None:
        super().__init__(message)
        self.restore_point = restore_point
        self.way_back = way_back


class BackupNotFound(BackupError):
    """No backup with that id in the target's store (exit 2: a usage error)."""

    exit_code = 2

    def __init__(self, backup_id: str, store: Path) -> None:
        super().__init__(
            f"no backup {backup_id!r} in {store}",
            hint="`malnu-tui backup list` shows the ids of this target's backups",
        )
        self.backup_id = backup_id


class RecoverTooEarly(BackupError):
    """``recover --to`` a time before this database's earliest backup: no backup can bring it
    back there, and the request is refused before anything is done (exit 2, as a time in the
    future is; it was 1, a recover that failed). Backups before the time that fail their
    check are a failure, exit 1 (:func:`.recover.plan_recover`)."""

    exit_code = 2

    def __init__(self, url: str, when: str, earliest: str) -> None:
        super().__init__(
            f"--to {when} is before the earliest backup of {url} (taken {earliest}): "
            "nothing was done",
            hint="`malnu-tui backup list` shows what exists; pick a time at or after it",
        )


class BackupGone(BackupError):
    """The backup was deleted while it was verified, or before the restore that verified it
    held the lock (a prune or delete ran in between): refused, nothing changed (exit 2)."""

    exit_code = 2

    def __init__(self, backup_id: str, when: str = "the restore waited for the lock") -> None:
        super().__init__(
            f"backup {backup_id} was deleted while {when} (a `backup prune` or `backup "
            "delete` ran meanwhile)",
            hint="nothing was changed; choose another backup (`malnu-tui backup list`)",
        )
        self.backup_id = backup_id


class BackupCorrupt(BackupError):
    """A backup failed verification: it is never restored."""

    def __init__(self, backup_id: str, problems: Sequence[str]) -> None:
        super().__init__(
            f"backup {backup_id} failed verification: " + "; ".join(problems),
            hint="nothing was changed; choose an older backup (`malnu-tui backup list`)",
        )
        self.backup_id = backup_id
        self.problems = tuple(problems)


# -- values -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AppliedMigration:
    """A migration applied at backup time, as its tracking row said."""

    filename: str
    checksum: str
    executed_at: str | None = None


@dataclass(frozen=True)
class BackupManifest:
    """Everything known about one backup; stored as ``<id>.json`` beside its data file."""

    id: str
    created_at: str  # ISO 8601, UTC, microseconds
    target: str  # the URL, secrets masked
    target_name: str
    target_kind: str  # sqlite, postgresql, d1
    method: str  # sqlite-backup-api, pg_dump-Fc, d1-export…
    reason: str
    size: int
    sha256: str
    file: str  # data file name inside the store directory
    migrations: tuple[AppliedMigration, ...]
    head: str | None
    schema_hash: str
    row_counts: Mapping[str, int]
    tool_version: str
    native_restore_point: str | None = None
    verified_at: str | None = None
    details: Mapping[str, str] = field(default_factory=dict)
    manifest_version: int = MANIFEST_VERSION
    # The data file's mtime (ns) when it was last verified (its size is ``size``): `check`
    # and `backup list` stat it instead of hashing it. None in manifests written before.
    verified_mtime_ns: int | None = None

    @property
    def created(self) -> datetime:
        """``created_at`` as an aware UTC datetime."""
        return parse_iso(self.created_at)

    @property
    def verified(self) -> bool:
        """Whether the last check of this backup (at creation or ``verify``) passed."""
        return self.verified_at is not None

    @property
    def gone(self) -> str | None:
        """Why this backup cannot be restored (its data file missing or not its size), as
        read by :func:`list_backups`; None when its data file is there."""
        return self.details.get("missing")

    @property
    def restore_needs(self) -> str | None:
        """What its last deep verification found this server lacks for its restore (a role
        its grants or policies name), with the way out; None when nothing."""
        return self.details.get(RESTORE_NEEDS)

    @property
    def changed(self) -> str | None:
        """Why this backup's data file is no longer the one verified (its mtime moved since),
        as read by :func:`list_backups`: not counted as verified until `backup verify`."""
        return self.details.get("changed")

    @property
    def verified_label(self) -> str:
        """``✔ yes``, ``✘ gone`` (no data file: verifying it again cannot help) or ``✘ no``:
        the word of `backup list` and of the console's lists alike."""
        return "✔ yes" if self.verified else "✘ gone" if self.gone else "✘ no"

    @property
    def applied_filenames(self) -> tuple[str, ...]:
        """Filenames of the migrations applied at backup time."""
        return tuple(m.filename for m in self.migrations)

    def as_json(self) -> dict[str, Any]:
        """The manifest as JSON-ready data (the ``<id>.json`` file, ``backup list --json``)."""
        data = asdict(self)
        data["migrations"] = [asdict(m) for m in self.migrations]
        data["row_counts"] = dict(self.row_counts)
        data["details"] = dict(self.details)
        return data

    def shown_json(self) -> dict[str, Any]:
        """The manifest as ``--json`` prints it (``backup create/list``, ``recover``): the
        file's fields, each migration's ``executed_at`` with its offset (the file keeps the
        tracking table's ``2026-12-07 16:41:56``)."""
        data = self.as_json()
        data["migrations"] = [json_times(m, "executed_at") for m in data["migrations"]]
        return data

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> BackupManifest:
        """Read a manifest; :class:`BackupError` when a field is missing or malformed."""
        try:
            # Every use of a backup reads its time, as UTC: one edited by hand into WIB
            # (`…T08:23:58+07:00`) was sorted (as text) newest, listed as "08:23 UTC", and
            # `prune --keep 2` kept it as the newest and deleted a backup taken after it.
            said = str(data["created_at"])
            try:
                created = utc_iso(parse_iso(said))
            except OverflowError:  # 0001-01-01T00:00+01:00: before year 1 in UTC
                raise BackupError(
                    f"unreadable backup manifest: created_at {said!r} is out of range "
                    "(before year 1 or after 9999 in UTC)"
                ) from None
            return BackupManifest(
                id=str(data["id"]),
                created_at=created,
                target=str(data["target"]),
                target_name=str(data.get("target_name", "")),
                target_kind=str(data["target_kind"]),
                method=str(data["method"]),
                reason=str(data["reason"]),
                size=int(data["size"]),
                sha256=str(data["sha256"]),
                file=str(data["file"]),
                migrations=tuple(
                    AppliedMigration(str(m["filename"]), str(m["checksum"]), m.get("executed_at"))
                    for m in data.get("migrations", [])
                ),
                head=data.get("head"),
                schema_hash=str(data.get("schema_hash", "")),
                row_counts={str(k): int(v) for k, v in dict(data.get("row_counts", {})).items()},
                tool_version=str(data.get("tool_version", "")),
                native_restore_point=data.get("native_restore_point"),
                verified_at=data.get("verified_at"),
                details={str(k): str(v) for k, v in dict(data.get("details", {})).items()},
                manifest_version=int(data.get("manifest_version", 1)),
                verified_mtime_ns=_int_or_none(data.get("verified_mtime_ns")),
            )
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            # ArithmeticError: a count edited to 1e400 or Infinity (OverflowError)
            raise BackupError(f"unreadable backup manifest: {exc!r}") from None


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


# -- time -------------------------------------------------------------------------------------


def utc_iso(when: datetime | None = None) -> str:
    """UTC ISO 8601 with microseconds, e.g. ``2026-11-24T13:15:02.123456+00:00``."""
    return (when or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="microseconds")


def new_backup_id(now: datetime) -> str:
    """Sortable, unique id: ``YYYYMMDDTHHMMSSffffffZ-xxxxxx`` (UTC)."""
    return now.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ") + "-" + secrets.token_hex(3)


def backup_time(backup_id: str) -> datetime | None:
    """When a backup was taken, by its id (:func:`new_backup_id`), to the microsecond."""
    try:
        return datetime.strptime(backup_id[:22], "%Y%m%dT%H%M%S%fZ").replace(tzinfo=UTC)
    except ValueError:
        return None


# -- the store directory ---------------------------------------------------------------------


def ensure_store(directory: Path) -> Path:
    """Create the store directory (0700) and sweep temp files left by dead processes. A path
    that cannot be a directory (a file in its place, a read-only or virtual file system) is a
    :class:`ConfigError` naming it, raised before anything is written anywhere."""
    try:
        make_dirs(directory)
        if not directory.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(directory))
        if not os.access(directory, os.W_OK | os.X_OK):
            # A store already there that cannot be written: a disk remounted read-only after
            # errors (ext4's errors=remount-ro), or another user's. Said as a missing one is.
            code = errno.EROFS if os.statvfs(directory).f_flag & os.ST_RDONLY else errno.EACCES
            raise OSError(code, os.strerror(code), str(directory))
    except OSError as exc:
        why = exc.strerror or str(exc)
        if isinstance(exc, (FileExistsError, NotADirectoryError)):
            file = next((p for p in (directory, *directory.parents) if p.is_file()), directory)
            why = f"{file} is a file, not a directory"
        elif exc.errno not in (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOENT):
            raise BackupError(f"cannot create the backup store {directory}: {why}") from None
        raise ConfigError(
            f"cannot use {directory} as the backup store: {why}; nothing was changed",
            hint="set [backup] dir (or a target's backup_dir, or MALNU_BACKUP_DIR) to a "
            "directory this user can create and write",
        ) from None
    with contextlib.suppress(OSError):
        os.chmod(directory, 0o700)
    sweep_stale_temp(directory)
    return directory


def sweep_stale_temp(directory: Path, *, orphan_age_s: float = ORPHAN_AGE_S) -> list[Path]:
    """Remove temp files (and SQLite side files) of processes that died half way, and data
    files whose manifest was never written (a crash between the two renames), once they are
    older than ``orphan_age_s``: such a backup was never listed and cannot be restored.

    A data file's age is from when it came into the store (its ctime, which a rename or a
    copy sets and nothing sets back), not its mtime: a backup copied back from offsite keeps
    its mtime (`cp -p`, `rsync -t`), and the first `backup list` run before its manifest was
    copied too deleted it."""
    removed: list[Path] = []
    if not directory.is_dir():
        return removed
    now = time.time()
    for p in directory.iterdir():
        if _ID.match(p.stem) and p.suffix != ".json":
            orphan = not manifest_path(directory, p.stem).exists()
            with contextlib.suppress(OSError):
                st = p.stat()
                if orphan and now - max(st.st_mtime, st.st_ctime) > orphan_age_s:
                    p.unlink()
                    removed.append(p)
            continue
        if temp_is_stale(p, now, orphan_age_s):
            with contextlib.suppress(OSError):
                p.unlink()
                removed.append(p)
    if removed:
        fsync_dir(directory)
    return removed


# -- the store --------------------------------------------------------------------------------


def manifest_path(directory: Path, backup_id: str) -> Path:
    """Where the manifest of ``backup_id`` lives (a plain id only: never a path)."""
    if not _ID.match(backup_id):
        raise BackupError(f"not a backup id: {backup_id[:80]!r}")
    return directory / f"{backup_id}.json"


def read_manifest(path: Path) -> BackupManifest:
    """The manifest stored at ``path`` (``<store>/<id>.json``); :class:`BackupError` when it is
    unreadable or corrupt.

    Where a backup's files are comes from this file's own name in the store, never from
    fields inside it: a manifest whose ``id`` is not exactly its file name, or whose ``file``
    is not ``<id>.<suffix>`` in the same directory (``"id": "../../victim"``), is corrupt, so
    no later write or delete can reach outside the store.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        # RecursionError: nested too deep to be one (a foreign file under a manifest's name)
        raise BackupError(f"cannot read manifest {path}: {exc}") from None
    if not isinstance(data, dict):
        raise BackupError(f"corrupt manifest {path}: not a JSON object")
    try:
        manifest = BackupManifest.from_json(data)
    except BackupError as exc:
        raise BackupError(f"corrupt manifest {path}: {exc}") from None
    if manifest.id != path.stem or not _ID.match(manifest.id):
        raise BackupError(
            f"corrupt manifest {path}: its id {manifest.id[:80]!r} is not its file name",
            hint="a hand-edited manifest is never trusted; restore the original or delete "
            "the file by hand",
        )
    if not re.fullmatch(re.escape(manifest.id) + r"\.[A-Za-z0-9.]+", manifest.file):
        raise BackupError(
            f"corrupt manifest {path}: its data file {manifest.file[:80]!r} is not "
            f"{manifest.id}.<suffix> in the store",
            hint="a hand-edited manifest is never trusted; restore the original or delete "
            "the file by hand",
        )
    return manifest


def list_backups(directory: Path) -> list[BackupManifest]:
    """Every backup with a readable manifest, newest first. Sweeps the temp files of dead
    processes first (every command that opens the store does)."""
    out = [m for _, m in _read_all(directory) if isinstance(m, BackupManifest)]
    out.sort(key=lambda m: (m.created_at, m.id), reverse=True)
    return out


def unreadable_manifests(directory: Path) -> list[tuple[str, str]]:
    """(id, why) of each manifest in the store that cannot be read (half-written by hand, or
    damaged): never listed, restored or pruned, its data file left, so commands say so."""
    return sorted((i, str(m)) for i, m in _read_all(directory) if isinstance(m, BackupError))


def read_manifests(directory: Path) -> list[BackupManifest]:
    """The backups of ``directory`` as :func:`list_backups` reads them (unsorted), without
    sweeping it: another target's store, only looked into (``owners.stores_beside``)."""
    return [m for _, m in _read_all(directory, sweep=False) if isinstance(m, BackupManifest)]


def _read_all(
    directory: Path, *, sweep: bool = True
) -> list[tuple[str, BackupManifest | BackupError]]:
    try:
        if not directory.is_dir():
            return []
        if not os.access(directory, os.R_OK | os.X_OK):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(directory))
    except PermissionError:
        raise StoreUnreadable.of(directory) from None
    if sweep:
        sweep_stale_temp(directory)
    out: list[tuple[str, BackupManifest | BackupError]] = []
    for p in directory.glob("*.json"):
        if not p.name.startswith(TMP_PREFIX) and _ID.match(p.stem):
            try:
                out.append((p.stem, _with_data_file(directory, read_manifest(p))))
            except BackupError as exc:
                out.append((p.stem, exc))
    return out


def _with_data_file(directory: Path, manifest: BackupManifest) -> BackupManifest:
    """``manifest``, or, when its data file is gone or not the size it records (deleted by a
    cleanup script, a store copied without it), the same not counted as verified (in memory,
    with ``details["missing"]`` saying why): `backup list`, `check`, `prune` and `rehearse`
    took such a backup for a good one. A verified one whose data file's mtime moved since its
    verification (replaced by a copy of the same size, written over in place) is likewise not
    counted (``details["changed"]``): `check` took it for the newest restorable backup. Only
    a stat(): a 266 MB dump is not hashed every few minutes."""
    try:
        st = (directory / manifest.file).stat()
    except OSError:
        why = f"its data file {manifest.file} is missing"
    else:
        if st.st_size != manifest.size:
            why = f"its data file {manifest.file} is {st.st_size} bytes, the manifest says "
            why += str(manifest.size)
        elif (
            manifest.verified
            and manifest.verified_mtime_ns is not None
            and not _same_mtime(st.st_mtime_ns, manifest.verified_mtime_ns)
        ):
            changed = (
                f"its data file {manifest.file} has another time than when it was verified "
                "(replaced, or copied without its times: `cp -p`, `rsync -t` keep them)"
            )
            details = {**manifest.details, "changed": changed}
            return replace(manifest, verified_at=None, details=details)
        else:
            return manifest
    return replace(manifest, verified_at=None, details={**manifest.details, "missing": why})


def _same_mtime(now_ns: int, recorded_ns: int) -> bool:
    """The same mtime, or the recorded one cut to the µs, ms or second a copy of the store kept
    (`cp -p`, `tar`, `rsync` onto a file system keeping coarser times): every backup of a
    store moved there read as changed, and `check` said CRITICAL, until each was verified."""
    return any(now_ns == recorded_ns - recorded_ns % unit for unit in (1, 10**3, 10**6, 10**9))


# The store a backup was found in beside the target's own (``owners.stores_beside``).
STORE_MARK = "store"
# What list_backups (and owners) mark in memory only: never written back into a manifest.
_READ_MARKS = ("missing", "changed", STORE_MARK)


def file_mtime_ns(directory: Path, manifest: BackupManifest) -> int | None:
    """The data file's mtime (ns) now, recorded when it is verified; None if it cannot be read."""
    try:
        return (directory / manifest.file).stat().st_mtime_ns
    except OSError:
        return None


def load_manifest(directory: Path, backup_id: str) -> BackupManifest:
    """The manifest of ``backup_id``; :class:`BackupNotFound` when there is none.

    A unique prefix of an id is accepted (ids are long). Sweeps the temp files of dead
    processes first (every command that opens the store does).
    """
    if not _ID.match(backup_id):
        matches = [m for m in list_backups(directory) if m.id.startswith(backup_id)]
        if len(matches) == 1 and backup_id:
            return matches[0]
        if len(matches) > 1:
            raise ConfigError(
                f"backup id {backup_id!r} is ambiguous: " + ", ".join(m.id for m in matches[:5])
            )
        missing = BackupNotFound(backup_id, directory)
        bad = [
            i for i, _ in unreadable_manifests(directory) if backup_id and i.startswith(backup_id)
        ]
        if bad:
            missing.hint = (
                f"backup {bad[0]} matches, but its manifest cannot be read, so it is never "
                "used: `malnu-tui backup list` says why"
            )
        raise missing
    if directory.is_dir():
        sweep_stale_temp(directory)
    path = manifest_path(directory, backup_id)
    if not path.exists():
        raise BackupNotFound(backup_id, directory)
    return read_manifest(path)


def save_manifest(directory: Path, manifest: BackupManifest) -> None:
    """Write (or rewrite) a manifest atomically (without what :func:`list_backups` marks)."""
    data = manifest.as_json()
    data["details"] = {k: v for k, v in data["details"].items() if k not in _READ_MARKS}
    write_json_atomic(manifest_path(directory, manifest.id), data)


def mark_verified(directory: Path, manifest: BackupManifest) -> BackupManifest:
    """Record a successful verification time in the manifest."""
    updated = replace(
        manifest, verified_at=utc_iso(), verified_mtime_ns=file_mtime_ns(directory, manifest)
    )
    save_manifest(directory, updated)
    return updated
