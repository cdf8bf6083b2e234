"""What the audit trail says of the time between a backup and ``recover --to TIME``: the
migrations applied by then, replayed over the backup's own (:func:`applied_at`), and a restore
done meanwhile (:func:`restored_since`), whose backup the recovery starts from instead, verified
(:func:`base_after_restore`). Plain functions for :func:`.recover.plan_recover`."""

from __future__ import annotations

from datetime import datetime

from malnu_tui.engine.backends.base import AuditEntry, Backend
from malnu_tui.engine.backup.core import verify_backup
from malnu_tui.engine.backup.store import (
    BackupError,
    BackupManifest,
    BackupNotFound,
    BackupProgressCallback,
    load_manifest,
    utc_iso,
)
from malnu_tui.engine.config import Target
from malnu_tui.engine.files import normalise_version

__all__ = ["applied_at", "base_after_restore", "restored_since"]

_AUDIT_TS = "%Y-%m-%d %H:%M:%S"


def applied_at(
    backend: Backend, target: Target, start: BackupManifest, since: datetime, when: datetime
) -> tuple[set[str], list[str], set[str]]:
    """Replay the audit trail from ``since`` (when the database held ``start``'s content) to
    ``when`` over ``start``'s applied set: (the migrations applied at ``when``, notes, the
    migrations of ``start`` rolled back meanwhile, applied again or not).

    Audit times have one-second resolution: events in ``since``'s own second are replayed
    too (replaying is idempotent: apply adds, rollback removes, restore resets).
    """
    state = set(start.applied_filenames)
    undone: set[str] = set()  # rolled back since: what the database had of them then is gone
    notes: list[str] = []
    lo = since.strftime(_AUDIT_TS)
    hi = when.strftime(_AUDIT_TS)
    entries = sorted(
        (e for e in backend.read_audit(limit=1_000_000) if lo <= e.at <= hi),
        key=lambda e: (e.at, e.id or 0),
    )
    for e in entries:
        if e.outcome != "ok" or (e.action in ("apply", "rollback") and not _a_file(e.object)):
            continue
        if e.action == "apply":
            state.add(e.object)
        elif e.action == "rollback":
            state.discard(e.object)
            undone.add(e.object)
        elif e.action == "restore" and e.at > lo:
            undone = set()  # its content from here on (plan_recover starts past such one)
            try:
                state = set(load_manifest(target.backup_dir, e.object).applied_filenames)
            except (BackupNotFound, BackupError):
                notes.append(
                    f"a restore of {e.object} at {e.at} is in the audit trail but its manifest "
                    "is gone; the migrations it brought back are assumed unchanged"
                )
    return state, notes, undone & set(start.applied_filenames)


def _a_file(name: str) -> bool:
    """Whether an apply row names a migration file: the first `up --unrelated-history` audits
    another runner's history as an apply of its table (``alembic_version``), which made every
    recover from a backup of before it "cannot recover: migrations applied by then are not in
    migrations: alembic_version"."""
    try:
        normalise_version(name)
    except ValueError:
        return False
    return True


def restored_since(backend: Backend, chosen: BackupManifest, when: datetime) -> AuditEntry | None:
    """The last restore (``backup restore``, or the one inside a ``recover``) done after
    ``chosen`` was taken and by ``when``: from then on the database held the restored backup's
    content, not ``chosen``'s. A restore in ``chosen``'s own second counts when ``chosen`` is
    its own pre-restore backup (the usual case: it is taken the moment before)."""
    lo = chosen.created.strftime(_AUDIT_TS)
    hi = when.strftime(_AUDIT_TS)
    own = f"pre-restore backup {chosen.id}"
    found = [
        e
        for e in backend.read_audit(limit=1_000_000, action="restore")
        if e.outcome == "ok" and lo <= e.at <= hi and (e.at > lo or own in e.detail)
    ]
    return max(found, key=lambda e: (e.at, e.id or 0), default=None)


def base_after_restore(
    target: Target,
    chosen: BackupManifest,
    restore: AuditEntry,
    when: datetime,
    progress: BackupProgressCallback | None,
) -> BackupManifest:
    """The backup a restore between ``chosen`` and ``when`` put in place, verified: the
    database held its content as of that restore, so recovering to ``when`` starts there."""
    why = (
        f"backup {restore.object} was restored at {restore.at} UTC, after backup {chosen.id} "
        f"and before {utc_iso(when)}: the database held that backup's data then"
    )
    pick = f"pick a time before {restore.at} UTC, or restore a backup by hand"
    try:
        manifest = load_manifest(target.backup_dir, restore.object)
    except (BackupNotFound, BackupError) as exc:
        raise BackupError(
            f"cannot recover to {utc_iso(when)}: {why}, and it cannot be read ({exc}); restoring "
            f"{chosen.id} would bring back the data that restore replaced",
            hint=pick,
        ) from None
    report = verify_backup(target, manifest.id, progress=progress)
    if not report.ok:
        raise BackupError(
            f"cannot recover to {utc_iso(when)}: {why}, and it fails verification ("
            + "; ".join(report.problems)
            + f"); restoring {chosen.id} would bring back the data that restore replaced",
            hint=pick,
        )
    return report.manifest
