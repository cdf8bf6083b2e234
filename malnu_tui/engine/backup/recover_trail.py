"""What the audit trail says of the time between a backup and ``recover --to TIME``: the
migrations applied by then, replayed over the backup's own (:func:`applied_at`), and a restore
done meanwhile (:func:`restored_since`), whose backup the recovery starts from instead, verified
(:func:`base_after_restore`). Plain functions for :func:`.recover.plan_recover`."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import datetime

from malnu_tui.engine.backends.base import AuditEntry, Backend
from malnu_tui.engine.backup.core import verify_backup
from malnu_tui.engine.backup.owners import find_backup
from malnu_tui.engine.backup.store import (
    BackupError,
    BackupManifest,
    BackupNotFound,
    BackupProgressCallback,
    backup_time,
    utc_iso,
)
from malnu_tui.engine.config import Target
from malnu_tui.engine.files import normalise_version

__all__ = ["Replayed", "applied_at", "as_of_backup", "base_after_restore", "restored_since"]

_AUDIT_TS = "%Y-%m-%d %H:%M:%S"


@dataclass(frozen=True)
class Replayed:
    """The migrations of the database at ``when``, as the audit trail replays them over a
    backup's (:func:`applied_at`)."""

    state: frozenset[str]  # applied (or adopted) at ``when``
    notes: tuple[str, ...]
    undone: frozenset[str]  # the backup's own, rolled back since (applied again or not)
    adopted: frozenset[str]  # of ``state``: recorded by `adopt` since, never run by this tool


def applied_at(
    backend: Backend,
    target: Target,
    start: BackupManifest,
    since: datetime,
    when: datetime,
    restore: AuditEntry | None = None,
) -> Replayed:
    """Replay the audit trail from ``since`` (when the database held ``start``'s content) to
    ``when`` over ``start``'s applied set; with ``restore`` (the row of the restore that put
    ``start`` in place at ``since``), from the rows after it.

    Audit times have one-second resolution: events in ``since``'s own second are replayed
    too (replaying is idempotent: apply adds, rollback removes, restore resets), but not those
    before ``restore``: what it replaced (an `up` of that second re-applied over the backup).
    """
    state = set(start.applied_filenames)
    undone: set[str] = set()  # rolled back since: what the database had of them then is gone
    adopted: set[str] = set()  # recorded without running (another tool ran them)
    notes: list[str] = []
    lo = since.strftime(_AUDIT_TS)
    hi = when.strftime(_AUDIT_TS)
    trail = backend.read_audit(limit=1_000_000)
    fence = _fence(trail, when)
    entries = sorted(
        (
            e
            for e in trail
            if lo <= e.at <= hi
            and not (fence and _after(e, fence))
            and (restore is None or _after(e, restore))
        ),
        key=lambda e: (e.at, e.id or 0),
    )
    for e in entries:
        if e.outcome != "ok" or (e.action in _ROWS and not _a_file(e.object)):
            continue
        if e.action in ("apply", "adopt"):
            state.add(e.object)
            (adopted.add if e.action == "adopt" else adopted.discard)(e.object)
        elif e.action == "rollback":
            state.discard(e.object)
            undone.add(e.object)
            adopted.discard(e.object)
        elif e.action == "restore" and (e.at > lo or restore is not None):
            # Its content from here on (plan_recover starts past the last such restore).
            undone, adopted = set(), set()
            try:
                state = set(find_backup(target, e.object).applied_filenames)
            except (BackupNotFound, BackupError):
                notes.append(
                    f"a restore of {e.object} at {e.at} is in the audit trail but its manifest "
                    "is gone; the migrations it brought back are assumed unchanged"
                )
    own = set(start.applied_filenames)
    return Replayed(
        frozenset(state), tuple(notes), frozenset(undone & own), frozenset(adopted - own)
    )


_ROWS = ("apply", "rollback", "adopt")  # rows whose object is a migration file


def _fence(trail: list[AuditEntry], when: datetime) -> AuditEntry | None:
    """The first audit row known to come after ``when`` in ``when``'s own second: the row of
    a backup begun at or after ``when`` (its id says when, to the microsecond), written once
    it was made. Audit times have one-second resolution: a recover to the very time of a
    pre-up backup (or a time typed to the second, just before it) re-applied the migration
    that backup was taken for, the rows after it in that second being read as before TIME."""
    hi = when.strftime(_AUDIT_TS)
    after = [
        e
        for e in trail
        if e.at == hi
        and e.action == "backup"
        and e.outcome == "ok"
        and e.id is not None
        and (begun := backup_time(e.object)) is not None
        and begun >= when
    ]
    return min(after, key=lambda e: e.id or 0, default=None)


def as_of_backup(backend: Backend, backup: BackupManifest) -> tuple[str, int]:
    """Where in the audit trail ``backup`` was taken: (its second, the id of its own row
    there), what came before it being what it holds. Audit times have one-second resolution:
    a rollback and an `up` of the edited file in the backup's second (a fix script run at
    once) read as before it, their rollback sums taken for those of the version it holds."""
    second = backup.created.strftime(_AUDIT_TS)
    rows = backend.read_audit(limit=1_000_000, action="backup")
    ids = [e.id for e in rows if e.object == backup.id and e.at == second and e.id is not None]
    return second, min(ids, default=sys.maxsize)


def _after(e: AuditEntry, row: AuditEntry) -> bool:
    """Whether ``e`` comes after ``row``: in a later second, or in its second by id."""
    return e.at > row.at or (e.at == row.at and (e.id or 0) > (row.id or 0))


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
    fence = _fence(backend.read_audit(limit=1_000_000, action="backup"), when)
    found = [
        e
        for e in backend.read_audit(limit=1_000_000, action="restore")
        if e.outcome == "ok"
        and lo <= e.at <= hi
        and (e.at > lo or own in e.detail)
        and not (fence and _after(e, fence))
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
        manifest = find_backup(target, restore.object)
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
