"""What the database and the files say, read once: every migration's state, and the rules that
follow from states (which count as applied, which a rollback picks). What changed since a
migration was applied (``verify``, ``repair``) is :mod:`malnu_tui.engine.drift`."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from malnu_tui.engine.backends.base import Backend, TrackingRecord, lock_host
from malnu_tui.engine.backends.lease import lock_is_stale
from malnu_tui.engine.clock import json_time, json_times
from malnu_tui.engine.errors import ConfigError, LockHolder
from malnu_tui.engine.files import Migration, MigrationSet, RollbackFile, normalise_version
from malnu_tui.engine.rollback_sums import RollbackEdit

__all__ = [
    "DONE_STATES",
    "STATE_SYMBOLS",
    "MigrationState",
    "MigrationStatus",
    "StatusReport",
    "applied_newest_first",
    "lock_json",
    "report_from_records",
    "row_named",
    "select_rollback",
    "status",
]


class MigrationState(StrEnum):
    APPLIED = "applied"
    PENDING = "pending"
    FAILED = "failed"
    DRIFTED = "drifted"
    MISSING = "missing"


# Symbol + word for every state: 16-colour terminals and NO_COLOR exist over SSH.
STATE_SYMBOLS: dict[MigrationState, str] = {
    MigrationState.APPLIED: "✔",
    MigrationState.PENDING: "○",
    MigrationState.FAILED: "✘",
    MigrationState.DRIFTED: "≠",
    MigrationState.MISSING: "?",
}

# The one rule for "applied": the migration ran and its tracking row says so (a drifted file
# ran, in its older form; a missing file ran and its file is gone). Exactly the rows with
# success = TRUE.
DONE_STATES = frozenset({MigrationState.APPLIED, MigrationState.DRIFTED, MigrationState.MISSING})


def lock_json(lock: LockHolder) -> dict[str, object]:
    """The lock as ``status --json`` and ``unlock --json`` print it: its fields (a contract),
    its times with their offset (the lock row keeps its own form)."""
    return json_times(lock.as_json(), "acquired_at", "expires_at")


@dataclass(frozen=True)
class MigrationStatus:
    """One migration as the operator sees it: the file, its tracking row, its state."""

    version: str
    filename: str
    name: str
    state: MigrationState
    checksum: str | None  # of the file on disk (None when the file is gone)
    recorded_checksum: str | None
    executed_at: str | None
    execution_time_ms: int | None
    error_message: str | None
    rollback_file: str | None
    description: str = ""
    author: str = ""
    # The tracking row's filename when it is not the file's: the file was renamed after it
    # ran (same version), so it is DRIFTED, and `repair` records the new name.
    recorded_filename: str | None = None
    # Its rollback file edited since it was applied (read by `status` and `verify` only:
    # :func:`.drift.mark_rollback_edits`); None when unchanged or nothing was recorded.
    rollback_edited: RollbackEdit | None = None

    def as_json(self) -> dict[str, object]:
        return {
            "version": self.version,
            "filename": self.filename,
            "name": self.name,
            "state": self.state.value,
            "checksum": self.checksum,
            "recorded_checksum": self.recorded_checksum,
            "executed_at": json_time(self.executed_at),  # (with its offset)
            "execution_time_ms": self.execution_time_ms,
            "error_message": self.error_message,
            "rollback_file": self.rollback_file,
            "description": self.description,
            "author": self.author,
            "recorded_filename": self.recorded_filename,
            "rollback_edited": self.rollback_edited and self.rollback_edited.as_json(),
        }


@dataclass(frozen=True)
class StatusReport:
    target: str
    display_url: str
    kind: str
    migrations: tuple[MigrationStatus, ...]
    lock: LockHolder | None
    warnings: tuple[str, ...] = ()
    lock_stale: str | None = None  # why the lock's holder is gone ("pid 4242 is not running")

    def count(self, state: MigrationState) -> int:
        return sum(1 for m in self.migrations if m.state is state)

    @property
    def counts(self) -> dict[str, int]:
        return {s.value: self.count(s) for s in MigrationState}

    @property
    def head(self) -> str | None:
        """The newest version applied successfully (drifted counts: it ran). A row whose name
        holds no version (another runner's ``init.sql``) is no head: it made every new file
        "older than the head" and the first to roll back."""
        done = [m.version for m in self.migrations if m.state in DONE_STATES and _is_version(m)]
        return max(done) if done else None

    def summary(self) -> str:
        c = self.counts
        text = (
            f"{c['applied']} applied, {c['pending']} pending, {c['failed']} failed, "
            f"{c['drifted']} drifted, {c['missing']} missing; head {self.head or '—'}"
        )
        if self.lock:
            text += f"; locked by {self.lock.describe()}"
        if self.lock and not self.lock_stale and (quiet := self.lock.unrenewed()):
            text += f" ({quiet})"
        if self.lock and self.lock_stale:  # after a kill: not someone at work
            text += f" ({self.lock_stale}: the next run takes its lock over, audited)"
        return text

    def as_json(self) -> dict[str, object]:
        return {
            "target": self.target,
            "url": self.display_url,
            "kind": self.kind,
            "head": self.head,
            "counts": self.counts,
            "lock": None if self.lock is None else lock_json(self.lock),
            "lock_stale": self.lock_stale,
            "warnings": list(self.warnings),
            "migrations": [m.as_json() for m in self.migrations],
        }


_VERSION = re.compile(r"\d{8}_\d{6}")
_FILENAME = re.compile(r"^\d{8}_?\d{6}_(?P<name>.+)\.sql$")


def _version_of(filename: str) -> str:
    try:
        return normalise_version(filename)
    except ValueError:
        return filename


def status(backend: Backend, mset: MigrationSet, target_name: str = "") -> StatusReport:
    """Every migration file and tracking row, with its state (records, lock, and the newest
    recover rows of the audit trail: a recover stopped half-way is the first warning)."""
    from malnu_tui.engine.recover_state import read_half_done, recovering

    report = report_from_records(
        backend, mset, backend.fetch_records(), backend.read_lock(), target_name
    )
    half = None if recovering(report.lock) else read_half_done(backend)
    if half is None:  # (a recover at work: the summary names its lock)
        return report
    return dataclasses.replace(
        report, warnings=(f"{half.describe()}: {half.way_out}", *report.warnings)
    )


def report_from_records(
    backend: Backend,
    mset: MigrationSet,
    tracking: Sequence[TrackingRecord],
    lock: LockHolder | None,
    target_name: str = "",
) -> StatusReport:
    """The status built from tracking rows already read (no database round trip)."""
    records = {r.filename: r for r in tracking}
    renamed = _renamed_records(mset, records)  # pops the rows it pairs with a file
    out: list[MigrationStatus] = []
    warnings = list(mset.warnings)
    for m in mset.migrations:
        rec = records.pop(m.filename, None) or renamed.get(m.filename)
        if rec is None:
            state = MigrationState.PENDING
        elif not rec.success:
            state = MigrationState.FAILED
        elif rec.filename != m.filename or not m.same_content(rec.checksum):
            state = MigrationState.DRIFTED
        else:
            state = MigrationState.APPLIED
        out.append(_status_row(m.version, m.filename, m.name, state, m, rec))
        if rec is not None and rec.filename != m.filename:
            warnings.append(_renamed_warning(m, rec))
    files = {m.version: m for m in out}
    for rec in records.values():
        version = _version_of(rec.filename)
        if not rec.success and version in files:  # failed, then fixed and renamed?
            now = files[version]
            warnings.append(
                f"{rec.filename} failed and its file is gone; {now.filename} has its version: "
                + (
                    f"clear the failed row with `malnu-tui clear-failed {rec.filename}`"
                    if now.state in DONE_STATES
                    else "once that is applied, this failed row is cleared"
                )
            )
        name = _name_of(rec.filename)
        rb = rollback_for_version(mset, version)
        out.append(
            MigrationStatus(
                version,
                rec.filename,
                name,
                MigrationState.MISSING if rec.success else MigrationState.FAILED,
                None,
                rec.checksum,
                rec.executed_at,
                rec.execution_time_ms,
                rec.error_message,
                rb.filename if rb else None,
            )
        )
    out.sort(key=lambda s: (s.version, s.filename))
    stale = lock_is_stale(lock, lock_host()) if lock else None
    return StatusReport(
        target_name, backend.display_url, backend.kind, tuple(out), lock, tuple(warnings), stale
    )


def _renamed_records(
    mset: MigrationSet, records: dict[str, TrackingRecord]
) -> dict[str, TrackingRecord]:
    """Successful tracking rows whose file is gone, paired with the file of another name and
    no row of its own that is the same migration renamed after it ran: one of the same
    version (a typo fixed in its name), or one of the same name and content under a new
    version (a branch's file re-stamped to sort after main's). Read as missing + pending,
    `up` ran it a second time (seed data inserted twice). Returns filename → row, and removes
    the paired rows from ``records``."""
    names = {m.filename for m in mset.migrations}
    orphans = [r for r in records.values() if r.success and r.filename not in names]
    if not orphans:
        return {}
    by_version: dict[str, list[TrackingRecord]] = {}
    by_content: dict[tuple[str, str], list[TrackingRecord]] = {}
    for rec in orphans:
        by_version.setdefault(_version_of(rec.filename), []).append(rec)
        by_content.setdefault((_name_of(rec.filename), rec.checksum), []).append(rec)
    paired: dict[str, TrackingRecord] = {}
    for m in mset.migrations:
        if m.filename in records:
            continue
        for rows in (by_version.get(m.version), by_content.get((m.name, m.checksum))):
            if rows and len(rows) == 1 and rows[0].filename in records:
                paired[m.filename] = rows[0]
                del records[rows[0].filename]
                break
    return paired


def _renamed_warning(m: Migration, rec: TrackingRecord) -> str:
    if m.same_content(rec.checksum):
        again = (
            ""
            if _version_of(rec.filename) == m.version
            else " (a copy meant to run once more needs a name of its own)"
        )
        return (
            f"{m.filename}: renamed since it ran (recorded as {rec.filename}): it is not run "
            "again; `malnu-tui repair` records the new name (audited), or rename the file "
            f"back{again}"
        )
    # The same version, another name and other content: that migration renamed and edited,
    # or a new one given a version already used: only the operator knows which.
    return (
        f"{m.filename}: has the version of {rec.filename}, applied at {rec.executed_at} and "
        "its file gone since, but not its content: if it is that migration renamed and "
        "edited, `malnu-tui repair` records it as it is now (without running it); if it is "
        "another migration, give it a version of its own (`malnu-tui create` names one); it "
        "is not run until then"
    )


def _name_of(filename: str) -> str:
    """The name part of a migration's filename (after its version, either style)."""
    m = _FILENAME.match(filename)
    return m["name"] if m else filename.removesuffix(".sql")


def _status_row(
    version: str,
    filename: str,
    name: str,
    state: MigrationState,
    m: Migration,
    rec: TrackingRecord | None,
) -> MigrationStatus:
    return MigrationStatus(
        version=version,
        filename=filename,
        name=name,
        state=state,
        checksum=m.checksum,
        recorded_checksum=rec.checksum if rec else None,
        executed_at=rec.executed_at if rec else None,
        execution_time_ms=rec.execution_time_ms if rec else None,
        error_message=rec.error_message if rec else None,
        rollback_file=m.rollback.filename if m.rollback else None,
        description=m.description,
        author=m.author,
        recorded_filename=rec.filename if rec and rec.filename != filename else None,
    )


def row_named(records: Sequence[TrackingRecord], given: str) -> TrackingRecord | None:
    """The tracking row an operator names (``clear-failed``): by its filename (a path's
    base name, ``.sql`` optional) or by its version, as every other command takes it; the
    failed row when that version has more than one."""
    name = given.strip().replace("\\", "/").rsplit("/", 1)[-1]
    by_name = {r.filename: r for r in records}
    rec = by_name.get(name) or by_name.get(name + ".sql")
    if rec is not None:
        return rec
    try:
        version = normalise_version(name)
    except ValueError:
        return None
    rows = [r for r in records if _version_of(r.filename) == version]
    failed = [r for r in rows if not r.success]
    if len(rows) == 1 or len(failed) == 1:
        return rows[0] if len(rows) == 1 else failed[0]
    return None


def rollback_for_version(mset: MigrationSet, version: str) -> RollbackFile | None:
    for m in mset.migrations:
        if m.version == version:
            return m.rollback
    # The migration file is gone; a rollback file may still be on disk.
    if mset.rollback_dir.is_dir():
        for p in sorted(mset.rollback_dir.glob("*.sql")):
            if _version_of(p.name) == version:
                return RollbackFile(p, mset.dialect)
    return None


# -- rollback selection ---------------------------------------------------------------------


def applied_newest_first(report: StatusReport) -> list[MigrationStatus]:
    """The applied migrations (:data:`DONE_STATES`), newest first."""
    done = [m for m in report.migrations if m.state in DONE_STATES]
    # (a row whose name holds no version counts as the oldest: see StatusReport.head)
    return sorted(done, key=lambda m: (_is_version(m), m.version, m.filename), reverse=True)


def nothing_to_roll_back(report: StatusReport | None, to: str | None) -> str:
    """What a rollback that selected nothing says: with ``--to`` at (or past) the head, the
    migrations stay applied, and saying "no migration is applied" sent a 2 a.m. operator
    looking for a wiped database."""
    applied = applied_newest_first(report) if report is not None else []
    if not applied or to is None:
        return "nothing to roll back: no migration is applied"
    try:
        limit = normalise_version(to)
    except ValueError:
        limit = to
    head = report.head if report is not None else None
    return (
        f"nothing to roll back: no applied migration is newer than {limit} "
        f"({len(applied)} applied, head {head or '—'}; they stay applied)"
    )


def _is_version(m: MigrationStatus) -> bool:
    return _VERSION.fullmatch(m.version) is not None


def select_rollback(
    report: StatusReport, *, steps: int | None = None, to: str | None = None
) -> list[MigrationStatus]:
    """The one rule for what a rollback undoes, newest first: the newest ``steps`` applied
    (default 1), or with ``to`` every applied migration newer than that version (which stays).

    ConfigError for both given, ``steps`` below 1, more steps than are applied (refused with
    the count, never silently fewer) or a ``to`` that names no migration.
    """
    if steps is not None and to is not None:
        raise ConfigError("give either --steps or --to, not both")
    if steps is not None and steps < 1:
        raise ConfigError(f"--steps must be 1 or more, got {steps}")
    applied = applied_newest_first(report)
    if to is not None:
        try:
            limit = normalise_version(to)
        except ValueError:
            raise ConfigError(f"--to {to!r}: not a migration version (YYYYMMDD_HHMMSS)") from None
        if not any(m.version == limit for m in report.migrations):
            raise ConfigError(f"--to {to}: no migration with version {limit}")
        return [m for m in applied if _is_version(m) and m.version > limit]
    if steps is not None and steps > len(applied):
        raise ConfigError(
            f"--steps {steps}: only {len(applied)} migration(s) are applied",
            hint=f"use --steps {len(applied)} to roll back all of them" if applied else None,
        )
    return applied[: steps or 1]
