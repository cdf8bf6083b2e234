"""Plans and their preconditions, as values: what a destructive operation would run and every
reason it may not, found in one pass before anything is asked or locked (the problems and the
:class:`Preflight` that carries them are in :mod:`.problems`, re-exported here).

A shell (CLI or console) calls one ``preflight_*`` function, shows the plan and the problems,
and stops while any problem is blocking; only then does it ask for the typed confirmation and
hand the plan to :func:`malnu_tui.engine.migrate.apply_plan`, which takes the lock and checks
again under it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from malnu_tui.engine.errors import (
    ConfigError,
    MalnuError,
    MigrationFileError,
)
from malnu_tui.engine.files import (
    Migration,
    MigrationSet,
    dependencies_line,
    normalise_version,
)
from malnu_tui.engine.problems import (
    AppliedByWrangler,
    BadRequest,
    Drift,
    EditedRollback,
    LiveLock,
    MissingRollbackFiles,
    Notice,
    Preflight,
    Problem,
    RecoverStoppedHalfWay,
    RowSecurity,
    StaleLock,
    UnreadableFile,
    Untranslatable,
    confirmation_word,
    is_confirmed,
    lock_problem,
    with_hint,
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
    from malnu_tui.engine.config import Target
    from malnu_tui.engine.rollback_sums import RollbackEdit

__all__ = [
    "AppliedByWrangler",
    "BadRequest",
    "Drift",
    "EditedRollback",
    "LiveLock",
    "MissingRollbackFiles",
    "Notice",
    "Plan",
    "PlanStep",
    "Preflight",
    "Problem",
    "RecoverStoppedHalfWay",
    "RollbackSelection",
    "RowSecurity",
    "StaleLock",
    "UnreadableFile",
    "Untranslatable",
    "confirmation_word",
    "is_confirmed",
    "lock_problem",
    "plan_rollback_from",
    "plan_up_from",
    "with_hint",
]


# -- plans ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanStep:
    """One file to run: a migration (up) or its rollback (down)."""

    filename: str  # the migration's filename (the tracking key)
    version: str
    file: Path  # the file whose SQL runs
    checksum: str  # the migration file's checksum (recorded on success)
    # A large file's are read again from the file at each walk (filestatements.py).
    statements: Sequence[Statement]
    notes: tuple[str, ...] = ()
    rollback_checksum: str = ""  # a rollback step's: its file as the plan read it
    rollback_edited: RollbackEdit | None = None  # that file edited since it was applied

    def sql(self) -> str:
        return "".join(st.as_script() for st in self.statements)

    def sql_pieces(self) -> Iterator[str]:
        """:meth:`sql` in pieces of about 1 MB (a large file's is never held whole)."""
        piece: list[str] = []
        size = 0
        for st in self.statements:
            script = st.as_script()
            piece.append(script)
            size += len(script)
            if size >= 1 << 20:
                yield "".join(piece)
                piece, size = [], 0
        yield "".join(piece)


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
    # `up --unrelated-history`: another runner's history in the database is not this set's
    # (backends/other_runners.py): only the pending files it names by version are refused
    unrelated_history: bool = False

    def sql_text(self) -> str:
        """The exact SQL that would run, file by file (for --dry-run and previews)."""
        return "".join(self.sql_pieces())

    def sql_pieces(self) -> Iterator[str]:
        """:meth:`sql_text` in pieces: a large file's SQL is never held whole."""
        for i, s in enumerate(self.steps):
            e = s.rollback_edited
            was = f"\n-- EDITED since {e.migration} was applied: sha256 {e.checksum}, recorded " \
                f"{e.recorded_checksum}" if e else ""  # fmt: skip
            yield f"{chr(10) if i else ''}-- {self.direction}: {s.file.name}{was}\n"
            yield from s.sql_pieces()

    def as_json(
        self, statements: Callable[[Iterator[dict[str, object]]], object] = list
    ) -> dict[str, object]:
        """Plain data; each step's statements as ``statements`` makes them of their items (a
        caller that writes them as they come: a large seed's are then never held)."""
        return {
            "direction": self.direction,
            "warnings": list(self.warnings),
            "steps": [
                {
                    "filename": s.filename,
                    "version": s.version,
                    "file": str(s.file),
                    "notes": list(s.notes),
                    "rollback_edited": s.rollback_edited and s.rollback_edited.as_json(),
                    "statements": statements(
                        {"line": st.line, "sql": st.text} for st in s.statements
                    ),
                }
                for s in self.steps
            ],
        }


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
            PlanStep(m.filename, m.version, m.path, m.checksum, _kept(parts.statements), notes)
        )
        planned.add(m.filename)
    return Plan("up", tuple(steps), tuple(mset.warnings), every_pending=True), problems


def _kept(statements: Sequence[Statement]) -> Sequence[Statement]:
    """A file's statements as a plan keeps them: a tuple, or a large file's read again at each
    walk (a tuple of a 150 MB seed's statements took 5-7 times the file in memory)."""
    from malnu_tui.engine.filestatements import FileStatements

    return statements if isinstance(statements, FileStatements) else tuple(statements)


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
    problems += _to_not_applied(report, selection.to)
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
                _kept(parts.statements),
                notes,
                rb.checksum,
            )
        )
    if missing:
        gone = tuple(s.filename for s in chosen if s.filename in missing and s.checksum is None)
        problems.append(MissingRollbackFiles(tuple(missing), gone))
    plan = Plan("down", tuple(plan_steps), (*mset.warnings, *undoes_nothing), selection)
    return plan, problems, chosen


def _to_not_applied(report: StatusReport, to: str | None) -> list[Problem]:
    """A notice when ``rollback --to`` names a version that is not applied (pending, failed:
    applied out of order around it, or never run): the rollback undoes what is newer, as
    asked, but the database is then not "at" that version; it said nothing of it."""
    if to is None:
        return []
    version = normalise_version(to)  # (select_rollback took it)
    rows = [m for m in report.migrations if m.version == version]
    if not rows or any(m.state in DONE_STATES for m in rows):
        return []
    m = rows[0]
    return [
        Notice(
            f"--to {to}: {m.filename} is {m.state.value}, not applied: the rollback undoes the "
            f"migrations newer than it and leaves it {m.state.value} (`up --to {version}` "
            "applies it afterwards)"
        )
    ]


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
    row's ISO 8601 (``…T…Z``, as a JavaScript runner writes it) alike, and a time that says
    its offset (``…T15:00:00+07:00``, edited by hand in WIB) as its UTC time."""
    text = (m.executed_at or "").strip()
    try:
        said = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        said = None
    if said is not None and said.tzinfo is not None:
        with contextlib.suppress(OverflowError):
            said = said.astimezone(UTC)
        return said.strftime("%Y-%m-%d %H:%M:%S")
    return text.replace("T", " ")[:19]


def translated_for(target: Target, plan: Plan, mset: MigrationSet) -> tuple[Plan, list[Problem]]:
    """The plan in the target's dialect (:meth:`Target.files_dialect`): a PostgreSQL target
    whose files are SQLite's runs their translation; untranslatable statements are problems."""
    if target.kind != "postgresql" or target.files_dialect != "sqlite" or not plan.steps:
        return plan, []
    from malnu_tui.engine.translate import postgres_plan

    try:
        return postgres_plan(plan, mset), []
    except MalnuError as exc:  # (a file too large to translate: the file's problem)
        return plan, [_file_problem(exc)]
