"""Plans and their preconditions, as values: what a destructive operation would run and every
reason it may not, found in one pass before anything is asked or locked.

A shell (CLI or console) calls one ``preflight_*`` function, shows the plan and the problems,
and stops while any problem is blocking; only then does it ask for the typed confirmation and
hand the plan to :func:`malnu_tui.engine.migrate.apply_plan`, which takes the lock and checks
again under it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from malnu_tui.engine.backends.base import lock_host
from malnu_tui.engine.errors import (
    ChecksumDrift,
    ConfigError,
    LockHeld,
    LockHolder,
    MalnuError,
    MigrationFileError,
    MissingRollback,
)
from malnu_tui.engine.files import (
    Migration,
    MigrationSet,
    dependencies_line,
    normalise_version,
)
from malnu_tui.engine.sqlsplit import Statement
from malnu_tui.engine.status import (
    DONE_STATES,
    MigrationState,
    MigrationStatus,
    StatusReport,
    rollback_for_version,
    select_rollback,
)

if TYPE_CHECKING:
    from malnu_tui.engine.backends.base import Backend
    from malnu_tui.engine.config import Target

__all__ = [
    "BadRequest",
    "Drift",
    "LiveLock",
    "MissingRollbackFiles",
    "Notice",
    "Plan",
    "PlanStep",
    "Preflight",
    "Problem",
    "RollbackSelection",
    "StaleLock",
    "UnreadableFile",
    "Untranslatable",
    "confirmation_word",
    "is_confirmed",
    "lock_problem",
    "plan_rollback_from",
    "plan_up_from",
]


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
class RollbackSelection:
    """What the operator asked a rollback for (``--steps`` or ``--to``): under the lock the
    selection is made again and must give exactly the steps that were confirmed."""

    steps: int | None = None
    to: str | None = None


@dataclass(frozen=True)
class Plan:
    direction: str  # "up" or "down"
    steps: tuple[PlanStep, ...]
    warnings: tuple[str, ...] = ()
    selection: RollbackSelection | None = None  # down plans made from --steps/--to
    every_pending: bool = False  # an up plan of every pending migration up to its last step

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


# -- problems -------------------------------------------------------------------------------


@dataclass(frozen=True)
class LiveLock:
    """Another operator's process holds the migration lock: nothing may start (exit 3)."""

    holder: LockHolder
    blocking: ClassVar[bool] = True

    def describe(self) -> str:
        h = self.holder
        doing = h.note or "an operation"
        return (
            f"the migration lock is held by {h.owner} on {h.host} (pid {h.pid}), "
            f"doing {doing}, since {h.acquired_at}"
        )

    def error(self) -> MalnuError:
        return LockHeld(self.holder)


@dataclass(frozen=True)
class StaleLock:
    """The lock of a dead holder (its process is gone, or its lease expired): it is taken
    over when the operation takes the lock, and the takeover is audited."""

    holder: LockHolder
    reason: str  # "pid 3446 is not running", "its lease expired at …"
    blocking: ClassVar[bool] = False

    def describe(self) -> str:
        # Whose it was and what it was doing: a rollback killed half-way wants a look.
        return (
            f"{self.reason}: its lock will be taken over (audited); it was the lock of "
            f"{self.holder.describe()}"
        )

    def error(self) -> MalnuError:
        return LockHeld(self.holder, self.reason)


@dataclass(frozen=True)
class Drift:
    """Applied files edited since they ran: inside the range an operation touches (blocks),
    or elsewhere (a warning for a rollback; a block for ``up``, which builds on them)."""

    filenames: tuple[str, ...]
    in_range: bool
    blocking: bool = True

    def describe(self) -> str:
        where = "in the range" if self.in_range else "outside the range"
        return f"drift {where}: " + ", ".join(self.filenames) + " changed since they ran"

    def error(self) -> MalnuError:
        return ChecksumDrift(list(self.filenames))


@dataclass(frozen=True)
class MissingRollbackFiles:
    filenames: tuple[str, ...]
    gone: tuple[str, ...] = ()  # of them, rows whose migration file is gone too
    blocking: ClassVar[bool] = True

    def describe(self) -> str:
        return str(self.error())

    def error(self) -> MalnuError:
        return MissingRollback(list(self.filenames), list(self.gone))


@dataclass(frozen=True)
class UnreadableFile:
    """A file that cannot be read or split, or whose dependencies are not met."""

    path: str
    message: str
    line: int | None = None
    blocking: ClassVar[bool] = True

    def describe(self) -> str:
        return str(self.error())

    def error(self) -> MalnuError:
        return MigrationFileError(self.path, self.message, line=self.line)


@dataclass(frozen=True)
class _Blocking:
    """A blocking problem that is its message (and a hint)."""

    message: str
    hint: str = ""
    blocking: ClassVar[bool] = True

    def describe(self) -> str:
        return self.message


@dataclass(frozen=True)
class Untranslatable(_Blocking):
    """Statements with no faithful translation for the target's dialect."""

    def error(self) -> MalnuError:
        return MalnuError(self.message, hint=self.hint or None)


@dataclass(frozen=True)
class BadRequest(_Blocking):
    """What was asked cannot be planned (unknown version, more steps than applied…)."""

    def error(self) -> MalnuError:
        return ConfigError(self.message, hint=self.hint or None)


@dataclass(frozen=True)
class AppliedByWrangler(_Blocking):
    """Pending migrations that wrangler's own history (``d1_migrations``), or the Supabase
    CLI's (``supabase_migrations.schema_migrations``), shows as applied: running them again
    would apply them twice."""

    def error(self) -> MalnuError:
        return MalnuError(self.message, hint=self.hint or None)


@dataclass(frozen=True)
class RecoverStoppedHalfWay(_Blocking):
    """A ``recover --to TIME`` stopped between its restore and its migrations
    (engine/recover_state.py): ``up``/``rollback`` would run on its half-way state."""

    def error(self) -> MalnuError:
        from malnu_tui.engine.errors import RecoverHalfDone

        return RecoverHalfDone(self.message, hint=self.hint or None)


@dataclass(frozen=True)
class RowSecurity(_Blocking):
    """A step reads or writes a table whose row level security policies narrow what the
    tool's role sees (backends/pg_rowsec.py): it would touch only some of the rows. Said
    with its way out (the console's plan step shows ``describe()`` alone)."""

    def describe(self) -> str:
        return f"{self.message} — {self.hint}" if self.hint else self.message

    def error(self) -> MalnuError:
        from malnu_tui.engine.errors import NotPermitted

        return NotPermitted(self.message, hint=self.hint or None)


@dataclass(frozen=True)
class Notice:
    """Something the operator should read before confirming; blocks nothing."""

    message: str
    blocking: ClassVar[bool] = False

    def describe(self) -> str:
        return self.message

    def error(self) -> MalnuError:
        return MalnuError(self.message)


Problem = (
    Notice
    | AppliedByWrangler
    | LiveLock
    | StaleLock
    | Drift
    | MissingRollbackFiles
    | UnreadableFile
    | Untranslatable
    | BadRequest
    | RecoverStoppedHalfWay
    | RowSecurity
)


@dataclass(frozen=True)
class Preflight:
    """One operation's plan and every precondition problem, before anything is asked."""

    operation: str  # rollback, apply, repair, clear-failed, unlock, restore, recover
    target: str
    database_name: str  # the word the operator types to confirm (:func:`confirmation_word`)
    plan: Plan | None
    problems: tuple[Problem, ...] = ()
    report: StatusReport | None = None
    rows: tuple[MigrationStatus, ...] = ()  # what the operation touches, even when blocked
    lock: LockHolder | None = None

    @property
    def blocking(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.blocking)

    @property
    def notices(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if not p.blocking)

    @property
    def ok(self) -> bool:
        return not self.blocking

    def error(self) -> MalnuError | None:
        """The error a script sees: a live lock first (exit 3), else the first blocking
        problem's own error; None when nothing blocks."""
        blocking = self.blocking
        live = [p for p in blocking if isinstance(p, LiveLock)]
        first = live[0] if live else (blocking[0] if blocking else None)
        return None if first is None else first.error()

    def raise_if_blocked(self) -> None:
        err = self.error()
        if err is not None:
            raise err

    def require_plan(self) -> Plan:
        self.raise_if_blocked()
        assert self.plan is not None
        return self.plan


# -- rules ----------------------------------------------------------------------------------


def confirmation_word(backend: Backend) -> str:
    """The one word an operator types to confirm destructive work: the database's name."""
    return backend.name


def is_confirmed(typed: str, word: str) -> bool:
    """The typed confirmation rule, for the CLI prompt and the console alike."""
    return typed.strip() == word


def lock_problem(holder: LockHolder | None, this_host: str | None = None) -> Problem | None:
    """A held lock as a problem: live (blocks, exit 3) or dead (taken over)."""
    if holder is None:
        return None
    from malnu_tui.engine.backends.lease import lock_is_stale

    host = this_host or lock_host()
    reason = lock_is_stale(holder, host)
    if reason is None:
        return LiveLock(holder)
    return StaleLock(holder, reason)


def _file_problem(exc: MalnuError) -> Problem:
    if isinstance(exc, MigrationFileError):
        where = f"{exc.path}:{exc.line}: " if exc.line else f"{exc.path}: "
        return UnreadableFile(exc.path, str(exc).removeprefix(where), exc.line)
    if isinstance(exc, ConfigError):
        return BadRequest(str(exc), exc.hint or "")
    return Untranslatable(str(exc), exc.hint or "")


def plan_up_from(
    report: StatusReport, mset: MigrationSet, to: str | None = None
) -> tuple[Plan | None, list[Problem]]:
    """Pending (and failed, for a retry) migrations in version order, up to ``to``, with
    every problem: drift, unreadable files, unmet dependencies, an unknown ``to``."""
    problems: list[Problem] = []
    drift = tuple(_drifted(m) for m in report.migrations if m.state is MigrationState.DRIFTED)
    if drift:
        problems.append(Drift(drift, in_range=False))
    limit: str | None = None
    if to:
        try:
            limit = normalise_version(to)
        except ValueError:
            problems.append(BadRequest(f"--to {to!r}: not a migration version (YYYYMMDD_HHMMSS)"))
            return None, problems
        if not any(m.version == limit for m in mset.migrations):
            problems.append(BadRequest(f"--to {to}: no migration with version {limit}"))
            return None, problems
    states = {s.filename: s.state for s in report.migrations}
    done = {f for f, st in states.items() if st in DONE_STATES}
    head = report.head
    steps: list[PlanStep] = []
    planned: set[str] = set()
    for m in mset.migrations:
        if states.get(m.filename) not in (MigrationState.PENDING, MigrationState.FAILED):
            continue
        if limit and m.version > limit:
            break
        try:
            parts = m.parts()  # MigrationFileError naming file and line
            if m.dependencies:
                _check_deps_met(m, mset, done | planned)
        except MalnuError as exc:
            problems.append(_file_problem(exc))
            continue
        notes = parts.notes(m.path.name)
        if head and m.version < head:
            notes += (f"{m.filename}: older than the head {head}: applied out of order",)
        if states.get(m.filename) is MigrationState.FAILED:
            notes += (f"{m.filename}: failed before; this run retries it",)
        if not parts.statements and parts.is_template:
            notes += (f"{m.filename}: nothing left to run: a no-op, recorded as applied",)
        elif not parts.statements:
            notes += (f"{m.filename}: holds only comments: a no-op, recorded as applied",)
        steps.append(
            PlanStep(m.filename, m.version, m.path, m.checksum, tuple(parts.statements), notes)
        )
        planned.add(m.filename)
    return Plan("up", tuple(steps), tuple(mset.warnings), every_pending=True), problems


def _drifted(m: MigrationStatus) -> str:
    """A drifted file as a problem names it: a rename says from what."""
    if m.recorded_filename:
        return f"{m.filename} (renamed since it ran: recorded as {m.recorded_filename})"
    return m.filename


def _check_deps_met(m: Migration, mset: MigrationSet, available: set[str]) -> None:
    for dep in m.dependencies:
        try:
            name = mset.find(dep).filename
        except MigrationFileError:  # no file: met only by an applied row whose file is gone
            version = normalise_version(dep)  # (discover let only versions through)
            if any(_is_version(f, version) for f in available):
                continue
            raise MigrationFileError(
                str(m.path),
                f"unknown dependency {dep!r}: no migration file and no applied migration has "
                f"version {version}",
                line=dependencies_line(m),
            ) from None
        if name not in available:
            raise MigrationFileError(
                str(m.path),
                f"dependency {dep!r} ({name}) is neither applied nor in this plan",
                line=dependencies_line(m),
            )


def _is_version(filename: str, version: str) -> bool:
    try:
        return normalise_version(filename) == version
    except ValueError:
        return False


def plan_rollback_from(
    report: StatusReport,
    mset: MigrationSet,
    selection: RollbackSelection,
) -> tuple[Plan | None, list[Problem], list[MigrationStatus]]:
    """Rollback files for what :func:`select_rollback` picks, newest first, with every
    problem: drift inside the range (blocks) and elsewhere (warns), missing or unparsable
    rollback files, a bad request. Also returns the picked rows, for previews."""
    try:
        chosen = select_rollback(report, steps=selection.steps, to=selection.to)
    except ConfigError as exc:
        return None, [BadRequest(str(exc), exc.hint or "")], []
    problems: list[Problem] = []
    picked = {s.filename for s in chosen}
    inside = tuple(_drifted(s) for s in chosen if s.state is MigrationState.DRIFTED)
    outside = tuple(
        _drifted(m)
        for m in report.migrations
        if m.state is MigrationState.DRIFTED and m.filename not in picked
    )
    if inside:
        problems.append(Drift(inside, in_range=True))
    if outside:
        problems.append(Drift(outside, in_range=False, blocking=False))
    problems += _applied_out_of_order(report, chosen)
    missing: list[str] = []
    undoes_nothing: list[str] = []
    plan_steps: list[PlanStep] = []
    for s in chosen:
        rb = rollback_for_version(mset, s.version)
        if rb is None:
            missing.append(s.filename)
            continue
        try:
            parts = rb.parts()
        except MalnuError as exc:
            problems.append(_file_problem(exc))
            continue
        notes = parts.notes(rb.path.name)
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
        gone = tuple(s.filename for s in chosen if s.filename in missing and s.checksum is None)
        problems.append(MissingRollbackFiles(tuple(missing), gone))
    plan = Plan("down", tuple(plan_steps), (*mset.warnings, *undoes_nothing), selection)
    return plan, problems, chosen


def _applied_out_of_order(report: StatusReport, chosen: list[MigrationStatus]) -> list[Problem]:
    """A notice for each applied migration that stays applied although it ran after one the
    rollback undoes (a branch merged with an older version, applied out of order): a rollback
    goes by version, so "undo the last deploy" may undo an older deploy's migration and keep
    the one that just ran."""
    if not chosen:
        return []
    picked = {s.filename for s in chosen}
    first = min((_when(s) for s in chosen if s.executed_at), default=None)
    if first is None:
        return []
    later = [
        m
        for m in report.migrations
        if m.state in DONE_STATES and m.filename not in picked and _when(m) > first
    ]
    done = [m.version for m in report.migrations if m.state in DONE_STATES]
    return [
        Notice(
            f"{m.filename} ran at {m.executed_at}, after migrations this rollback undoes, "
            "although its version is older (applied out of order): a rollback goes by "
            "version, newest first, so it stays applied (`rollback --steps "
            f"{sum(1 for v in done if v >= m.version)}` undoes it too)"
        )
        for m in later
    ]


def _when(m: MigrationStatus) -> str:
    """``executed_at`` comparable as text: the tool's ``YYYY-MM-DD HH:MM:SS`` and an adopted
    row's ISO 8601 (``…T…Z``, as a JavaScript runner writes it) alike."""
    return (m.executed_at or "").replace("T", " ")[:19]


def translated_for(target: Target, plan: Plan, mset: MigrationSet) -> tuple[Plan, list[Problem]]:
    """The plan in the target's dialect (:meth:`Target.files_dialect`): a PostgreSQL target
    whose files are SQLite's runs their translation; untranslatable statements are problems."""
    if target.kind != "postgresql" or target.files_dialect != "sqlite" or not plan.steps:
        return plan, []
    from malnu_tui.engine.translate import postgres_plan

    try:
        return postgres_plan(plan, mset), []
    except MalnuError as exc:
        return plan, [Untranslatable(str(exc), exc.hint or "")]
