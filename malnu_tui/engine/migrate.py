"""The migration lifecycle, written once above the backend protocol: status, plan, apply,
rollback, verify, repair, clear-failed, unlock and create."""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from malnu_tui.engine.backends.base import (
    AuditEntry,
    Backend,
    RecordApplied,
    RemoveRecord,
    TrackingRecord,
    actor,
    utc_now,
)
from malnu_tui.engine.errors import (
    ChecksumDrift,
    ConfigError,
    LockHolder,
    MalnuError,
    MigrationFileError,
    MissingRollback,
    StatementFailed,
)
from malnu_tui.engine.files import Migration, MigrationSet, RollbackFile, normalise_version
from malnu_tui.engine.sqlsplit import Statement

__all__ = [
    "ApplyResult",
    "MigrationFailed",
    "MigrationState",
    "MigrationStatus",
    "Plan",
    "PlanStep",
    "Progress",
    "StatusReport",
    "apply_plan",
    "clear_failed",
    "create_migration",
    "migration_lock",
    "plan_rollback",
    "plan_up",
    "repair",
    "status",
    "unlock",
    "verify",
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

    def as_json(self) -> dict[str, object]:
        return {
            "version": self.version,
            "filename": self.filename,
            "name": self.name,
            "state": self.state.value,
            "checksum": self.checksum,
            "recorded_checksum": self.recorded_checksum,
            "executed_at": self.executed_at,
            "execution_time_ms": self.execution_time_ms,
            "error_message": self.error_message,
            "rollback_file": self.rollback_file,
            "description": self.description,
            "author": self.author,
        }


@dataclass(frozen=True)
class StatusReport:
    target: str
    display_url: str
    kind: str
    migrations: tuple[MigrationStatus, ...]
    lock: LockHolder | None
    warnings: tuple[str, ...] = ()

    def count(self, state: MigrationState) -> int:
        return sum(1 for m in self.migrations if m.state is state)

    @property
    def counts(self) -> dict[str, int]:
        return {s.value: self.count(s) for s in MigrationState}

    @property
    def head(self) -> str | None:
        """The newest version applied successfully (drifted counts: it ran)."""
        done = [
            m.version
            for m in self.migrations
            if m.state in (MigrationState.APPLIED, MigrationState.DRIFTED, MigrationState.MISSING)
        ]
        return max(done) if done else None

    def summary(self) -> str:
        c = self.counts
        text = (
            f"{c['applied']} applied, {c['pending']} pending, {c['failed']} failed, "
            f"{c['drifted']} drifted, {c['missing']} missing; head {self.head or '—'}"
        )
        if self.lock:
            text += f"; locked by {self.lock.describe()}"
        return text

    def as_json(self) -> dict[str, object]:
        return {
            "target": self.target,
            "url": self.display_url,
            "kind": self.kind,
            "head": self.head,
            "counts": self.counts,
            "lock": None if self.lock is None else self.lock.__dict__,
            "warnings": list(self.warnings),
            "migrations": [m.as_json() for m in self.migrations],
        }


def _version_of(filename: str) -> str:
    try:
        return normalise_version(filename)
    except ValueError:
        return filename


def status(backend: Backend, mset: MigrationSet, target_name: str = "") -> StatusReport:
    """Every migration file and tracking row, with its state."""
    records = {r.filename: r for r in backend.fetch_records()}
    out: list[MigrationStatus] = []
    for m in mset.migrations:
        rec = records.pop(m.filename, None)
        if rec is None:
            state = MigrationState.PENDING
        elif not rec.success:
            state = MigrationState.FAILED
        elif rec.checksum != m.checksum:
            state = MigrationState.DRIFTED
        else:
            state = MigrationState.APPLIED
        out.append(_status_row(m.version, m.filename, m.name, state, m, rec))
    for rec in records.values():
        version = _version_of(rec.filename)
        name = rec.filename.removesuffix(".sql").split("_", 2)[-1]
        rb = _rollback_for_version(mset, version)
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
    return StatusReport(
        target_name,
        backend.display_url,
        backend.kind,
        tuple(out),
        backend.read_lock(),
        mset.warnings,
    )


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
    )


def _rollback_for_version(mset: MigrationSet, version: str) -> RollbackFile | None:
    for m in mset.migrations:
        if m.version == version:
            return m.rollback
    # The migration file is gone; a rollback file may still be on disk.
    if mset.rollback_dir.is_dir():
        for p in sorted(mset.rollback_dir.glob("*.sql")):
            if _version_of(p.name) == version:
                return RollbackFile(p)
    return None


# -- plans ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanStep:
    """One file to run: a migration (up) or its rollback (down)."""

    filename: str  # the migration's filename (the tracking key)
    version: str
    file: Path  # the file whose SQL runs
    checksum: str  # the migration file's checksum (recorded on success)
    statements: tuple[Statement, ...]
    notes: tuple[str, ...] = ()

    def sql(self) -> str:
        return "".join(f"{st.text};\n" for st in self.statements)


@dataclass(frozen=True)
class Plan:
    direction: str  # "up" or "down"
    steps: tuple[PlanStep, ...]
    warnings: tuple[str, ...] = ()

    def sql_text(self) -> str:
        """The exact SQL that would run, file by file (for --dry-run and previews)."""
        chunks = []
        for s in self.steps:
            chunks.append(f"-- {self.direction}: {s.file.name}\n{s.sql()}")
        return "\n".join(chunks)

    def as_json(self) -> dict[str, object]:
        return {
            "direction": self.direction,
            "warnings": list(self.warnings),
            "steps": [
                {
                    "filename": s.filename,
                    "version": s.version,
                    "file": str(s.file),
                    "notes": list(s.notes),
                    "statements": [{"line": st.line, "sql": st.text} for st in s.statements],
                }
                for s in self.steps
            ],
        }


def _template_notes(path: Path, txn: list[int], tracking: list[int]) -> tuple[str, ...]:
    notes: list[str] = []
    if txn:
        notes.append(
            f"{path.name}: its own BEGIN/COMMIT (line {', '.join(map(str, txn))}) not run: "
            "the tool runs each migration in one transaction"
        )
    if tracking:
        notes.append(
            f"{path.name}: its INSERT INTO migrations (line {', '.join(map(str, tracking))}) "
            "not run: the tool records the migration itself"
        )
    return tuple(notes)


def _drifted(report: StatusReport) -> list[str]:
    return [m.filename for m in report.migrations if m.state is MigrationState.DRIFTED]


def plan_up(
    backend: Backend, mset: MigrationSet, to: str | None = None, *, target_name: str = ""
) -> Plan:
    """Pending (and failed, for a retry) migrations in version order, up to ``to``.

    Every file is read and split first; drift and unmet dependencies refuse the plan.
    """
    report = status(backend, mset, target_name)
    drift = _drifted(report)
    if drift:
        raise ChecksumDrift(drift)
    limit = normalise_version(to) if to else None
    if limit and not any(m.version == limit for m in mset.migrations):
        raise ConfigError(f"--to {to}: no migration with version {limit}")
    states = {s.filename: s.state for s in report.migrations}
    done = {f for f, st in states.items() if st in (MigrationState.APPLIED, MigrationState.MISSING)}
    head = report.head
    steps: list[PlanStep] = []
    warnings: list[str] = list(mset.warnings)
    planned: set[str] = set()
    for m in mset.migrations:
        if states.get(m.filename) not in (MigrationState.PENDING, MigrationState.FAILED):
            continue
        if limit and m.version > limit:
            break
        parts = m.parts()  # raises MigrationFileError naming file and line
        _check_deps_met(m, mset, done | planned)
        notes = _template_notes(m.path, parts.transaction_lines, parts.tracking_insert_lines)
        if head and m.version < head:
            notes += (f"{m.filename}: older than the head {head}: applied out of order",)
        if states.get(m.filename) is MigrationState.FAILED:
            notes += (f"{m.filename}: failed before; this run retries it",)
        if not parts.statements:
            notes += (f"{m.filename}: holds only comments: a no-op, recorded as applied",)
        steps.append(
            PlanStep(m.filename, m.version, m.path, m.checksum, tuple(parts.statements), notes)
        )
        planned.add(m.filename)
    return Plan("up", tuple(steps), tuple(warnings))


def _check_deps_met(m: Migration, mset: MigrationSet, available: set[str]) -> None:
    for dep in m.dependencies:
        dep_mig = mset.find(dep)
        if dep_mig.filename not in available:
            raise MigrationFileError(
                str(m.path),
                f"dependency {dep!r} ({dep_mig.filename}) is neither applied nor in this plan",
            )


def plan_rollback(
    backend: Backend,
    mset: MigrationSet,
    *,
    steps: int | None = None,
    to: str | None = None,
    target_name: str = "",
) -> Plan:
    """Rollback files for the newest applied migrations, newest first.

    Default one step; ``to`` keeps that version applied and undoes everything after it.
    Every precondition (rollback files present and parsable, no drift) is checked here,
    before anything runs.
    """
    if steps is not None and to is not None:
        raise ConfigError("give either --steps or --to, not both")
    if steps is not None and steps < 1:
        raise ConfigError(f"--steps must be 1 or more, got {steps}")
    report = status(backend, mset, target_name)
    applied = [
        s
        for s in report.migrations
        if s.state in (MigrationState.APPLIED, MigrationState.DRIFTED, MigrationState.MISSING)
    ]
    applied.sort(key=lambda s: (s.version, s.filename), reverse=True)
    if to is not None:
        limit = normalise_version(to)
        if not any(s.version == limit for s in report.migrations):
            raise ConfigError(f"--to {to}: no migration with version {limit}")
        chosen = [s for s in applied if s.version > limit]
    else:
        chosen = applied[: steps or 1]
    drift = [s.filename for s in chosen if s.state is MigrationState.DRIFTED]
    if drift:
        raise ChecksumDrift(drift)
    missing: list[str] = []
    undoes_nothing: list[str] = []
    plan_steps: list[PlanStep] = []
    for s in chosen:
        rb = _rollback_for_version(mset, s.version)
        if rb is None:
            missing.append(s.filename)
            continue
        parts = rb.parts()
        notes = _template_notes(rb.path, parts.transaction_lines, parts.tracking_insert_lines)
        if s.state is MigrationState.MISSING:
            notes += (f"{s.filename}: the migration file is gone; its rollback still runs",)
        if not parts.statements:  # diesel's convention: a warning in the plan, not a block
            undoes_nothing.append(
                f"{rb.filename} is empty (or only comments): rolling back {s.filename} "
                "undoes nothing; only its record is removed"
            )
        plan_steps.append(
            PlanStep(
                s.filename,
                s.version,
                rb.path,
                s.recorded_checksum or "",
                tuple(parts.statements),
                notes,
            )
        )
    if missing:
        raise MissingRollback(missing)
    return Plan("down", tuple(plan_steps), (*mset.warnings, *undoes_nothing))


# -- running --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    """A progress event for callers (CLI lines, TUI progress bars)."""

    event: str  # "start", "done", "failed", "skipped", "backup"
    index: int
    total: int
    filename: str
    elapsed_ms: int = 0
    message: str = ""


ProgressCallback = Callable[[Progress], None]


@dataclass(frozen=True)
class ApplyResult:
    direction: str
    done: tuple[tuple[str, int], ...]  # (filename, ms)
    skipped: tuple[str, ...] = ()
    backup_id: str | None = None
    notes: tuple[str, ...] = field(default=())


class MigrationFailed(MalnuError):
    """A migration (or rollback) failed: nothing of it was left behind."""

    def __init__(self, failure: StatementFailed, direction: str, done: list[tuple[str, int]]):
        verb = "migration" if direction == "up" else "rollback"
        super().__init__(
            f"{verb} {failure.filename} failed at line {failure.line}: {failure.error}; "
            "all of it was rolled back",
            hint="fix the file and run again; the tracking row records the error"
            if direction == "up"
            else "the database is as it was before this rollback file",
        )
        self.failure = failure
        self.done = tuple(done)


def lock_holder_for_this_process(purpose: str = "") -> LockHolder:
    return LockHolder(
        owner=actor(),
        host=socket.gethostname(),
        pid=os.getpid(),
        acquired_at=utc_now(),
        note=purpose,
    )


@contextlib.contextmanager
def migration_lock(backend: Backend, purpose: str) -> Iterator[None]:
    """Hold the one-operator-at-a-time lock for the duration of the block."""
    backend.ensure_schema()
    backend.acquire_lock(lock_holder_for_this_process(purpose))
    try:
        yield
    finally:
        backend.release_lock()


SafetyBackup = Callable[[str], str | None]  # reason → backup id


def apply_plan(
    backend: Backend,
    mset: MigrationSet,
    plan: Plan,
    *,
    progress: ProgressCallback | None = None,
    safety_backup: SafetyBackup | None = None,
) -> ApplyResult:
    """Run ``plan`` under the lock, one transaction per file (statements + tracking row +
    audit row). The plan is re-checked under the lock: a step another operator already ran
    is skipped, not run twice. Stops at the first failure and raises :class:`MigrationFailed`.
    """
    emit = progress or (lambda _p: None)
    done: list[tuple[str, int]] = []
    skipped: list[str] = []
    backup_id: str | None = None
    with migration_lock(backend, plan.direction):
        records = {r.filename: r for r in backend.fetch_records()}
        todo: list[PlanStep] = []
        for step in plan.steps:
            rec = records.get(step.filename)
            already = rec is not None and rec.success
            if (plan.direction == "up" and already) or (plan.direction == "down" and not already):
                skipped.append(step.filename)
            else:
                todo.append(step)
        if todo and safety_backup is not None:
            emit(Progress("backup", 0, len(todo), "", message="taking a safety backup"))
            backup_id = safety_backup("pre-up" if plan.direction == "up" else "pre-rollback")
        total = len(todo)
        for i, step in enumerate(todo, 1):
            emit(Progress("start", i, total, step.filename))
            action = "apply" if plan.direction == "up" else "rollback"
            change: RecordApplied | RemoveRecord = (
                RecordApplied(step.filename, step.checksum)
                if plan.direction == "up"
                else RemoveRecord(step.filename)
            )
            audit = AuditEntry.now(action, step.filename, "ok", f"ran {step.file.name}")
            try:
                ms = backend.run_unit(step.filename, step.statements, change, audit)
            except StatementFailed as exc:
                failure = StatementFailed(str(step.file.name), exc.line, exc.statement, exc.error)
                detail = f"line {exc.line}: {exc.error}"
                fail_audit = AuditEntry.now(action, step.filename, "failed", detail)
                if plan.direction == "up":
                    backend.record_failure(
                        step.filename,
                        step.checksum,
                        f"line {exc.line}: {exc.error}",
                        0,
                        fail_audit,
                    )
                else:
                    backend.append_audit(fail_audit)
                emit(Progress("failed", i, total, step.filename, message=detail))
                raise MigrationFailed(failure, plan.direction, done) from None
            done.append((step.filename, ms))
            emit(Progress("done", i, total, step.filename, elapsed_ms=ms))
            backend.renew_lock()
    notes = tuple(n for s in plan.steps for n in s.notes)
    return ApplyResult(plan.direction, tuple(done), tuple(skipped), backup_id, notes)


# -- troubleshooting ------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifyResult:
    drifted: tuple[MigrationStatus, ...]
    missing: tuple[MigrationStatus, ...]
    failed: tuple[MigrationStatus, ...]
    checked: int

    @property
    def ok(self) -> bool:
        return not self.drifted and not self.missing

    def as_json(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "drifted": [m.as_json() for m in self.drifted],
            "missing": [m.as_json() for m in self.missing],
            "failed": [m.as_json() for m in self.failed],
        }


def verify(backend: Backend, mset: MigrationSet) -> VerifyResult:
    """Compare the checksum of every applied file with its tracking row."""
    report = status(backend, mset)

    def pick(state: MigrationState) -> tuple[MigrationStatus, ...]:
        return tuple(m for m in report.migrations if m.state is state)

    checked = sum(
        1 for m in report.migrations if m.state in (MigrationState.APPLIED, MigrationState.DRIFTED)
    )
    return VerifyResult(
        pick(MigrationState.DRIFTED),
        pick(MigrationState.MISSING),
        pick(MigrationState.FAILED),
        checked,
    )


def repair(backend: Backend, mset: MigrationSet, filenames: list[str] | None = None) -> list[str]:
    """Accept edits of applied files: record their current checksums (audited, per file)."""
    report = status(backend, mset)
    drifted = {m.filename: m for m in report.migrations if m.state is MigrationState.DRIFTED}
    chosen = list(drifted) if not filenames else [mset.find(f).filename for f in filenames]
    for f in chosen:
        if f not in drifted:
            raise ConfigError(f"{f} has not drifted; nothing to repair")
    with migration_lock(backend, "repair"):
        for f in chosen:
            m = drifted[f]
            assert m.checksum is not None
            backend.set_checksum(
                f,
                m.checksum,
                AuditEntry.now("repair", f, "ok", f"checksum {m.recorded_checksum} → {m.checksum}"),
            )
    return chosen


def clear_failed(backend: Backend, filename: str) -> TrackingRecord:
    """Delete a success = FALSE tracking row (the seed's "clear stuck migration"), audited."""
    name = Path(filename).name
    records = {r.filename: r for r in backend.fetch_records()}
    rec = records.get(name)
    if rec is None:
        raise ConfigError(f"no tracking row for {name}")
    if rec.success:
        raise ConfigError(f"{name} succeeded; only failed rows can be cleared")
    with migration_lock(backend, "clear-failed"):
        backend.delete_record(
            name, AuditEntry.now("clear-failed", name, "ok", f"error was: {rec.error_message}")
        )
    return rec


def unlock(backend: Backend) -> LockHolder | None:
    """Release the migration lock whoever holds it (for a dead session), audited."""
    holder = backend.read_lock()
    detail = f"released lock of {holder.describe()}" if holder else "no lock was held"
    return backend.force_unlock(AuditEntry.now("unlock", "migration lock", "ok", detail))


def create_migration(
    mset_dirs: tuple[Path, Path], name: str, *, now: datetime | None = None, author: str = ""
) -> tuple[Path, Path]:
    """Write a new migration and its rollback skeleton named with the current UTC time."""
    import re

    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    if not slug:
        raise ConfigError(f"migration name {name!r} has no letters or digits")
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d_%H%M%S")
    mig_dir, rb_dir = mset_dirs
    mig_dir.mkdir(parents=True, exist_ok=True)
    rb_dir.mkdir(parents=True, exist_ok=True)
    mig = mig_dir / f"{stamp}_{slug}.sql"
    rb = rb_dir / f"{stamp}_undo_{slug}.sql"
    for p in (mig, rb):
        if p.exists():
            raise ConfigError(f"{p} already exists")
    for p in mig_dir.glob(f"{stamp}_*.sql"):
        raise ConfigError(f"version {stamp} is taken by {p.name}; wait a second and retry")
    author = author or actor()
    mig.write_text(
        f"-- Description: {name}\n-- Author: {author}\n-- Dependencies: none\n\n"
        "-- Write the migration here. The tool runs the file in one transaction and records\n"
        "-- it in the migrations table: no BEGIN/COMMIT or INSERT INTO migrations needed.\n",
        encoding="utf-8",
    )
    rb.write_text(
        f"-- Description: undo {mig.name}\n-- Author: {author}\n\n"
        "-- Write the statements that reverse the migration, newest change first.\n",
        encoding="utf-8",
    )
    return mig, rb
