"""The contract between the backup store and a database kind's backup method.

Each kind has a module with ``METHOD``, ``SUFFIX`` and three functions, ``create``, ``check`` and
``restore``, registered in :data:`METHOD_MODULES`. The store, manifests, audit, locking and the
verify-before-restore rule are written once in :mod:`malnu_tui.engine.backup.core` and
:mod:`malnu_tui.engine.backup.restore`; a method only
moves bytes and checks them. A method may also offer native point-in-time recovery
(``native_recover``), as D1's Time Travel does.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import importlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, cast

from malnu_tui.engine.backup.durable import remove_quietly
from malnu_tui.engine.backup.store import (
    AppliedMigration,
    BackupCorrupt,
    BackupError,
    BackupManifest,
    BackupProgressCallback,
    save_manifest,
    utc_iso,
)
from malnu_tui.engine.private import hand_over

if TYPE_CHECKING:
    from malnu_tui.engine.backends.base import Backend
    from malnu_tui.engine.config import Target

# kind → module implementing :class:`BackupMethod`. D1's entry belongs to the D1 backend
# (export + bookmark, Time Travel restore); until that module exists D1 backups are refused
# with a clear message.
METHOD_MODULES: dict[str, str] = {
    "sqlite": "malnu_tui.engine.backup.sqlite",
    "postgresql": "malnu_tui.engine.backup.postgresql",
    "d1": "malnu_tui.engine.backends.d1.backup",
}


@dataclass(frozen=True)
class Snapshot:
    """What a method reports after writing (and fsyncing and checking) a data file."""

    sha256: str
    size: int
    migrations: tuple[AppliedMigration, ...]
    schema_hash: str
    row_counts: Mapping[str, int]
    native_restore_point: str | None = None
    details: Mapping[str, str] = field(default_factory=dict)
    # False when the file was written but is known not to be a faithful copy (the manifest is
    # then not marked verified; the method's check says why).
    verified: bool = True
    # How it was taken, when not the method's usual way (D1: a client-side dump, not an export)
    method: str | None = None


@dataclass(frozen=True)
class VerifyCheck:
    """One check of a verification: what was checked, whether it passed, and what was seen."""

    name: str
    ok: bool
    detail: str = ""
    # A finding about the server the backup would be restored into (a role it names that the
    # server lacks), not about the file: the backup stays counted as verified, `way_out` says
    # what to do before a restore.
    server: bool = False
    way_out: str = ""
    # A check that could not be run here (its scratch copy found no room on the disk): it
    # says nothing of the file, which stays counted as verified; `way_out` says what to do.
    not_run: bool = False


def compare_with_manifest(
    manifest: BackupManifest, counts: Mapping[str, int], schema_hash: str, copy: str = "copy"
) -> list[VerifyCheck]:
    """A deep verification's last two checks: row counts per table and the schema hash of a
    scratch restore (``copy`` names it in messages) against what the manifest recorded."""
    want = dict(manifest.row_counts)
    names = sorted(set(want) | set(counts))
    diff = [
        f"{t}: {counts.get(t)} in the {copy}, {want.get(t)} in the manifest"
        for t in names
        if counts.get(t) != want.get(t)
    ]
    summary = f"{len(names)} tables, {sum(counts.values())} rows"
    same = schema_hash == manifest.schema_hash
    return [
        VerifyCheck("row counts", not diff, "; ".join(diff) if diff else summary),
        VerifyCheck("schema hash", same, schema_hash[:12] if same else "differs from manifest"),
    ]


_CHUNK = 4 * 1024 * 1024


def copy_verified(src: Path, dest: Path, manifest: BackupManifest) -> None:
    """Copy a backup's data file ``src`` to ``dest`` (created 0600, must not exist), hashing
    the bytes as they are copied. A restore then reads ``dest``, a copy of its own, so it
    restores exactly the bytes whose sha256 the manifest records: a file swapped or damaged
    after its verification (while the pre-restore backup ran, say) is caught here, before
    anything is changed. On a mismatch ``dest`` is removed, the manifest no longer counts as
    verified, and :class:`BackupCorrupt` is raised; a copy that cannot be written is
    :class:`BackupError`."""
    digest = hashlib.sha256()
    size = 0
    try:
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        hand_over(fd, dest.parent)
        with src.open("rb", buffering=0) as fin, os.fdopen(fd, "wb") as fout:
            while chunk := fin.read(_CHUNK):
                digest.update(chunk)
                fout.write(chunk)
                size += len(chunk)
    except FileNotFoundError:
        problem = f"file: {src.name} is missing (removed since it was verified)"
    except OSError as exc:
        remove_quietly(dest)
        full = exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
        raise BackupError(
            f"cannot copy backup {manifest.id} for the restore into {dest.parent}: "
            f"{exc.strerror or exc}; nothing was restored",
            # It said `[Errno 28] No space left on device`, and nothing of what to do.
            hint=f"the restore needs room for one copy of the backup ({manifest.size:,} "
            "bytes) in the store, and that disk (or quota) is full: free space there, or set "
            "[backup] dir (or MALNU_BACKUP_DIR) to a bigger disk"
            if full
            else None,
        ) from None
    else:
        if digest.hexdigest() == manifest.sha256 and size == manifest.size:
            return
        problem = (
            f"sha256: content changed since it was verified ({size} bytes, "
            f"{digest.hexdigest()[:16]}…; manifest says {manifest.size} bytes, "
            f"{manifest.sha256[:16]}…)"
        )
    remove_quietly(dest)
    details = {**dict(manifest.details), "verify_failed_at": utc_iso()}
    with contextlib.suppress(OSError, BackupError):
        save_manifest(src.parent, replace(manifest, verified_at=None, details=details))
    raise BackupCorrupt(manifest.id, [problem])


class BackupMethod(Protocol):
    """A kind's backup module (see :data:`METHOD_MODULES`)."""

    METHOD: str
    SUFFIX: str

    def create(
        self, backend: Backend, target: Target, dest: Path, progress: BackupProgressCallback
    ) -> Snapshot:
        """Write a consistent copy of the database to ``dest`` (an existing empty 0600 file),
        fsync it, hash it and check it; raise :class:`BackupError` on any failure."""
        ...

    def check(
        self,
        target: Target,
        path: Path,
        manifest: BackupManifest,
        deep: bool,
        progress: BackupProgressCallback,
    ) -> list[VerifyCheck]:
        """The engine check of a data file whose hash already matched (and with ``deep``, a
        restore into a scratch database compared with the manifest)."""
        ...

    def restore(
        self,
        backend: Backend,
        target: Target,
        path: Path,
        manifest: BackupManifest,
        progress: BackupProgressCallback,
    ) -> None:
        """Replace the live database with the verified data file, atomically. The caller holds
        the migration lock and has taken a pre-restore backup."""
        ...


class NativeRecovery(Protocol):
    """Optional: a method with native point-in-time recovery (D1 Time Travel)."""

    def native_recover(
        self, backend: Backend, target: Target, when: datetime, progress: BackupProgressCallback
    ) -> str:
        """Bring the data back to ``when``; returns the restore point that undoes it."""
        ...


def method_for(kind: str) -> BackupMethod:
    """The backup method module of a database kind."""
    name = METHOD_MODULES.get(kind)
    if name is None:
        raise BackupError(f"no backup method for {kind} targets")
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and name.startswith(exc.name):
            raise BackupError(
                f"backups of {kind} targets are not available in this version of malnu-tui"
            ) from None
        raise
    return cast(BackupMethod, module)
