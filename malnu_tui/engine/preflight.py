"""One preflight per destructive operation: a single call that reads the database once and
returns the plan and every precondition problem as values (:class:`Preflight`).

The order every shell follows: preflight → show the plan and problems (stop on a blocking one,
before asking anything) → typed confirmation → the engine call that takes the lock, checks
again under it, takes the safety backup, runs and records.
"""

from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING

from malnu_tui.engine.backends.base import lock_host
from malnu_tui.engine.concurrently import ConcurrentRefusal, classify
from malnu_tui.engine.errors import LockHolder
from malnu_tui.engine.plan import (
    AppliedByWrangler,
    BadRequest,
    EditedRollback,
    LiveLock,
    Notice,
    Plan,
    PlanStep,
    Preflight,
    Problem,
    RecoverStoppedHalfWay,
    RollbackSelection,
    RowSecurity,
    StaleLock,
    UnreadableFile,
    confirmation_word,
    lock_problem,
    plan_rollback_from,
    plan_up_from,
    translated_for,
)
from malnu_tui.engine.problems import preflight_lock as preflight_lock
from malnu_tui.engine.status import StatusReport, status

if TYPE_CHECKING:
    from malnu_tui.engine.backends.base import Backend
    from malnu_tui.engine.config import Target
    from malnu_tui.engine.files import MigrationSet

__all__ = [
    "preflight_apply",
    "preflight_clear_failed",
    "preflight_lock",
    "preflight_repair",
    "preflight_rollback",
    "preflight_unlock",
]


def _with_lock(problems: list[Problem], holder: LockHolder | None) -> list[Problem]:
    lp = lock_problem(holder)
    return [lp, *problems] if lp is not None else problems


def _concurrent_checked(target: Target, plan: Plan, problems: list[Problem]) -> Plan:
    """On PostgreSQL: a file of CONCURRENTLY statements runs outside a transaction (a note on
    its step); one that mixes them with other statements is refused (engine/concurrently.py)."""
    if target.kind != "postgresql":
        return plan
    steps: list[PlanStep] = []
    for step in plan.steps:
        unit = classify(step.statements)
        if isinstance(unit, ConcurrentRefusal):
            problems.append(UnreadableFile(str(step.file), unit.message(), unit.line))
        elif unit is not None:
            step = dataclasses.replace(step, notes=(*step.notes, unit.note(step.file.name)))
        steps.append(step)
    return dataclasses.replace(plan, steps=tuple(steps))


def _refused_by_d1(backend: Backend, plan: Plan, problems: list[Problem]) -> None:
    """On D1: a step D1 refuses before running anything (transaction control, a statement over
    its 100,000 bytes as sent) is refused here, naming its file and line, before any step runs
    or a safety backup is taken. It was found only when its turn came: the steps before it
    applied (or rolled back), it recorded failed, the command half done."""
    if backend.kind != "d1":
        return
    from malnu_tui.engine.backends.d1.statements import refuse_unsendable
    from malnu_tui.engine.errors import StatementFailed

    for step in plan.steps:
        try:
            refuse_unsendable(step.file.name, step.statements)
        except StatementFailed as exc:
            problems.append(UnreadableFile(str(step.file), exc.error, exc.line))


def _applied_by_wrangler(backend: Backend, mset: MigrationSet, plan: Plan) -> list[Problem]:
    """A pending step that wrangler's history in the same database shows as applied (by name,
    or by wrangler's ``0002_name.sql`` numbering as ``adopt`` matches them) would run twice."""
    if backend.kind not in ("d1", "sqlite") or not plan.steps:
        return []
    from malnu_tui.engine.backends.d1.wrangler import plan_adopt, read_from_backend, table_for

    applied = read_from_backend(backend, table_for(backend, mset.migrations_dir))
    if not applied:
        return []
    planned = {s.filename for s in plan.steps}
    adopt = plan_adopt(mset, applied, backend.fetch_records(), "d1_migrations")
    both = [(m.filename, w.name) for m, w in adopt.to_adopt if m.filename in planned]
    if not both:
        return []
    names = ", ".join(f if f == w else f"{f} (wrangler's {w})" for f, w in both)
    return [
        AppliedByWrangler(
            f"wrangler already applied {len(both)} pending migration(s): {names}; "
            "running them again would apply them twice",
            hint="record them without running them: `malnu-tui adopt` (see `adopt --dry-run`)",
        )
    ]


def _applied_by_supabase(backend: Backend, mset: MigrationSet, plan: Plan) -> list[Problem]:
    """A pending step that the Supabase CLI's history in the same database
    (``supabase_migrations.schema_migrations``) shows as applied, by its version, would run
    twice: on a project that ran ``supabase db push`` until now, every file is pending here."""
    conn = getattr(backend, "conn", None)
    if backend.kind != "postgresql" or not plan.steps or conn is None:
        return []
    from malnu_tui.engine.backends.pg_record import SUPABASE_TABLE as TABLE
    from malnu_tui.engine.backends.pg_record import cli_history, files_applied

    applied = cli_history(conn)
    if not applied:
        return []
    theirs = files_applied(mset, applied)
    both = [(s.filename, theirs[s.filename]) for s in plan.steps if s.filename in theirs]
    if not both:
        return []
    names = ", ".join(f if f == w else f"{f} (the CLI's {w})" for f, w in both)
    return [
        AppliedByWrangler(
            f"the Supabase CLI already applied {len(both)} pending migration(s) ({TABLE}, "
            f"{len(applied)} row(s)): "
            f"{names}; running them again would apply them twice",
            hint="record them without running them: `malnu-tui adopt` (see `adopt --dry-run`)",
        )
    ]


def _applied_by_other_runners(
    backend: Backend, mset: MigrationSet, plan: Plan, report: StatusReport
) -> list[Problem]:
    """Another runner's history in the same database (Prisma, Drizzle, dbmate, Rails,
    golang-migrate, Flyway, Alembic: backends/other_runners.py): before this tool has applied
    or adopted anything there, each of its rows would run again; after, each pending file it
    names by version would. Refused (exit 2), nothing run or recorded."""
    if not plan.steps:
        return []
    from malnu_tui.engine.backends.other_runners import applied_by_other_runners
    from malnu_tui.engine.problems import AppliedByOtherRunner
    from malnu_tui.engine.status import DONE_STATES

    pending = [s.filename for s in plan.steps]
    taken_over = plan.unrelated_history or any(m.state in DONE_STATES for m in report.migrations)
    found = applied_by_other_runners(backend, taken_over, pending, mset)
    where = backend.display_url
    return [AppliedByOtherRunner(f.refusal(where)) for f in found if f.refuses_up]


def _half_done_recover(backend: Backend, report: StatusReport, operation: str) -> list[Problem]:
    """A recover stopped half-way (its mark, read again: status only warns of it) blocks
    ``up`` and ``rollback`` before the prompt; re-checked under the lock (engine/migrate)."""
    from malnu_tui.engine.recover_state import read_half_done, recovering

    half = None if recovering(report.lock) else read_half_done(backend)
    if half is None:
        return []
    return [RecoverStoppedHalfWay(f"{half.describe()}; {operation} refused", half.way_out)]


def _row_security(backend: Backend, plan: Plan) -> list[Problem]:
    """On PostgreSQL, a step that reads or writes a table whose row level security narrows
    what the tool's role sees: refused before the confirmation (and again before the lock,
    engine/migrate.py)."""
    conn = getattr(backend, "conn", None)
    if backend.kind != "postgresql" or not plan.steps or conn is None:
        return []
    from malnu_tui.engine.backends.pg_rowsec import narrowed_refusal

    where = getattr(backend, "display_url", "")
    refused = narrowed_refusal(conn, where, [(s.filename, s.statements) for s in plan.steps])
    return [] if refused is None else [RowSecurity(str(refused), refused.hint or "")]


def preflight_apply(
    backend: Backend,
    target: Target,
    mset: MigrationSet,
    *,
    to: str | None = None,
    unrelated_history: bool = False,
) -> Preflight:
    """``up`` / the apply wizard: pending migrations up to ``to`` in the target's dialect.
    ``unrelated_history``: another runner's history there is not this set's (the plan says
    so, for the check under the lock)."""
    from malnu_tui.engine.apply import group_seconds

    group_seconds()  # a bad MALNU_UP_GROUP_MS is refused here, not after the safety backup
    report = status(backend, mset, target.name)
    plan, problems = plan_up_from(report, mset, to)
    if plan is not None and unrelated_history:
        plan = dataclasses.replace(plan, unrelated_history=True)
    problems += _half_done_recover(backend, report, "up")
    if plan is not None:
        problems += _applied_by_wrangler(backend, mset, plan)
        problems += _applied_by_supabase(backend, mset, plan)
        problems += _applied_by_other_runners(backend, mset, plan, report)
        plan, untranslated = translated_for(target, plan, mset)
        problems += untranslated
        plan = _concurrent_checked(target, plan, problems)
        _refused_by_d1(backend, plan, problems)
        problems += _row_security(backend, plan)
    planned = {s.filename for s in plan.steps} if plan is not None else set()
    rows = tuple(m for m in report.migrations if m.filename in planned)
    return Preflight(
        "apply",
        target.name,
        confirmation_word(backend),
        plan,
        tuple(_with_lock(problems, report.lock)),
        report,
        rows,
        report.lock,
    )


def preflight_rollback(
    backend: Backend,
    target: Target,
    mset: MigrationSet,
    *,
    steps: int | None = None,
    to: str | None = None,
    accept_edited_rollback: bool = False,
) -> Preflight:
    """``rollback`` / the rollback wizard: what :func:`select_rollback` picks, newest first,
    with every problem (lock, drift in range vs elsewhere, rollback files edited since their
    migration was applied, translation)."""
    from malnu_tui.engine.rollback_sums import edits

    report = status(backend, mset, target.name)
    plan, problems, rows = plan_rollback_from(report, mset, RollbackSelection(steps, to))
    problems += _half_done_recover(backend, report, "rollback")
    if plan is not None and (found := edits(backend, plan)):
        files = tuple(e.describe() for e in found.values())
        problems.append(EditedRollback(files, accepted=accept_edited_rollback))
        # The preview and --dry-run's SQL name it with both checksums (plan.sql_text).
        marked = (dataclasses.replace(s, rollback_edited=found.get(s.filename)) for s in plan.steps)
        plan = dataclasses.replace(plan, steps=tuple(marked))
    if plan is not None:
        plan, untranslated = translated_for(target, plan, mset)
        problems += untranslated
        plan = _concurrent_checked(target, plan, problems)
        _refused_by_d1(backend, plan, problems)
        problems += _row_security(backend, plan)
    return Preflight(
        "rollback",
        target.name,
        confirmation_word(backend),
        plan,
        tuple(_with_lock(problems, report.lock)),
        report,
        tuple(rows),
        report.lock,
    )


def preflight_repair(
    backend: Backend, target: Target, mset: MigrationSet, filenames: list[str] | None = None
) -> Preflight:
    """``repair``: the drifted files whose checksums would be recorded, and the missing rows
    named to be forgotten (``rows``: :func:`select_repair`)."""
    from malnu_tui.engine.drift import select_repair

    report = status(backend, mset, target.name)
    rows, errors = select_repair(report, mset, filenames, backend)
    problems: list[Problem] = [BadRequest(e) for e in errors]
    problems += [
        Notice(
            f"rollback file edited since its migration was applied: {e.describe()}: "
            "recorded as it is now (then `rollback` runs it)"
        )
        for m in rows
        if (e := m.rollback_edited) is not None
    ]
    return Preflight(
        "repair",
        target.name,
        confirmation_word(backend),
        None,
        tuple(_with_lock(problems, report.lock)),
        report,
        tuple(rows),
        report.lock,
    )


def preflight_clear_failed(backend: Backend, target: Target, filename: str) -> Preflight:
    """``clear-failed``: the one failed tracking row that would be deleted."""
    from malnu_tui.engine.status import row_named

    name = os.path.basename(filename)
    rec = row_named(backend.fetch_records(), filename)
    lock = backend.read_lock()
    problems: list[Problem] = []
    if rec is None:
        problems.append(
            BadRequest(
                f"no tracking row for {name or repr(name)}",
                "name a failed migration by its filename or version, as `status` shows it",
            )
        )
    elif rec.success:
        problems.append(BadRequest(f"{rec.filename} succeeded; only failed rows can be cleared"))
    return Preflight(
        "clear-failed",
        target.name,
        confirmation_word(backend),
        None,
        tuple(_with_lock(problems, lock)),
        lock=lock,
    )


def preflight_unlock(backend: Backend, target: Target) -> Preflight:
    """``unlock``: who holds the lock, and whether its process is known to be alive (then
    releasing it lets two operators run at once: a notice, not a refusal)."""
    lock = backend.read_lock()
    problems: list[Problem] = []
    lp = lock_problem(lock)
    if isinstance(lp, StaleLock):
        problems.append(lp)
    elif isinstance(lp, LiveLock) and lock is not None and lock.host == lock_host():
        problems.append(
            Notice(
                f"pid {lock.pid} is still running on this host: release its lock only if that "
                "process is stuck (better: stop it first)"
            )
        )
    elif isinstance(lp, LiveLock) and lock is not None:
        # Its lease runs (D1, SQLite) or its session is open (PostgreSQL): as the console's
        # unlock dialog says, whether it still works cannot be told from here.
        from malnu_tui.engine.backends.lease import lock_liveness

        _kind, sentence = lock_liveness(lock, lock_host())
        problems.append(
            Notice(f"{sentence}: release it only if you know that session is dead (ask its owner)")
        )
    return Preflight(
        "unlock", target.name, confirmation_word(backend), None, tuple(problems), lock=lock
    )
