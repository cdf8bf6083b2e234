"""The migration lifecycle, written once above the backend protocol: status, plan, apply,
rollback, verify, repair, clear-failed, unlock and create."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from malnu_tui.engine import rollback_sums
from malnu_tui.engine.apply import (
    ApplyResult,
    MigrationFailed,
    Progress,
    ProgressCallback,
    StepRunner,
)
from malnu_tui.engine.backends.base import (
    AuditEntry,
    Backend,
    TrackingRecord,
)
from malnu_tui.engine.create import create_migration, newest_version
from malnu_tui.engine.drift import VerifyResult, select_repair, verify, verify_report
from malnu_tui.engine.errors import (
    ConfigError,
    LockHolder,
    PlanChanged,
    reporting,
)
from malnu_tui.engine.files import MigrationSet
from malnu_tui.engine.monitor.runlog import record_run
from malnu_tui.engine.oplock import holds_lock, migration_lock
from malnu_tui.engine.plan import (
    Plan,
    PlanStep,
    Problem,
    RollbackSelection,
    plan_rollback_from,
    plan_up_from,
)
from malnu_tui.engine.status import (
    DONE_STATES,
    STATE_SYMBOLS,
    MigrationState,
    MigrationStatus,
    StatusReport,
    report_from_records,
    select_rollback,
    status,
)

# Status names are re-exported: callers read the lifecycle from this one module.
__all__ = [
    "DONE_STATES",
    "STATE_SYMBOLS",
    "AfterRun",
    "ApplyResult",
    "MigrationFailed",
    "MigrationState",
    "MigrationStatus",
    "Plan",
    "PlanStep",
    "Progress",
    "StatusReport",
    "VerifyResult",
    "apply_plan",
    "clear_failed",
    "create_migration",
    "holds_lock",
    "migration_lock",
    "newest_version",
    "plan_rollback",
    "plan_up",
    "repair",
    "status",
    "unlock",
    "verify",
    "verify_after",
]


# -- plans (made by the preflight: one rule each, in engine/plan.py) --------------------------


def plan_up(
    backend: Backend, mset: MigrationSet, to: str | None = None, *, target_name: str = ""
) -> Plan:
    """Pending (and failed, for a retry) migrations in version order, up to ``to``.

    Every file is read and split first; drift and unmet dependencies refuse the plan (the
    first problem of :func:`plan_up_from` is raised).
    """
    report = status(backend, mset, target_name)
    plan, problems = plan_up_from(report, mset, to)
    _raise_first(problems)
    assert plan is not None
    return plan


def plan_rollback(
    backend: Backend,
    mset: MigrationSet,
    *,
    steps: int | None = None,
    to: str | None = None,
    target_name: str = "",
) -> Plan:
    """Rollback files for the newest applied migrations, newest first (the selection rule
    of :func:`select_rollback`): default one step; ``to`` keeps that version applied and
    undoes everything after it. Every precondition is checked before anything runs."""
    report = status(backend, mset, target_name)
    plan, problems, _rows = plan_rollback_from(report, mset, RollbackSelection(steps, to))
    _raise_first(problems)
    assert plan is not None
    return plan


def _raise_first(problems: list[Problem]) -> None:
    for p in problems:
        if p.blocking:
            raise p.error()


# -- running --------------------------------------------------------------------------------


SafetyBackup = Callable[[str], str | None]  # reason → backup id


def apply_plan(
    backend: Backend,
    mset: MigrationSet,
    plan: Plan,
    *,
    progress: ProgressCallback | None = None,
    safety_backup: SafetyBackup | None = None,
    accept_edited_rollback: bool = False,
) -> ApplyResult:
    """Run ``plan`` under the lock: each file all or nothing with its tracking row and audit
    row (engine/apply.py: an ``up`` on a SQLite file groups quick migrations under one durable
    COMMIT; "done" progress only once durable). The plan is re-checked under the lock: a step
    another operator already ran is skipped, not run twice; a rollback file edited since its
    migration was applied is refused unless ``accept_edited_rollback`` (rollback_sums.py).
    Stops at the first failure and raises :class:`MigrationFailed`. The whole run is one row
    of the run log (engine/monitor/runlog.py), with an ``up``'s rollback files' checksums."""
    span = [s.version for s in plan.steps]
    obj = f"{span[0]}..{span[-1]}" if len(span) > 1 else (span[0] if span else "nothing")
    sums = rollback_sums.at_apply(mset, plan.steps) if plan.direction == "up" else {}
    result: ApplyResult | None = None  # (done, and an interrupt as its run row is written)
    with (
        reporting(lambda: result.as_json() if result is not None else None),
        record_run(backend, "apply" if plan.direction == "up" else "rollback", obj) as run,
    ):
        runners: list[StepRunner] = []
        try:
            result = _apply_plan(
                backend, mset, plan, progress, safety_backup, runners, accept_edited_rollback
            )
        except MigrationFailed as exc:
            rollback_sums.note_applied(run, sums, exc.done)
            run.count("done", len(exc.done))
            run.count("failed", 1)
            raise
        except BaseException:
            # Interrupted, or the database kept busy mid-run: the row says how many are in.
            if runners:
                rollback_sums.note_applied(run, sums, runners[0].done)
                run.count("done", len(runners[0].done))
            raise
        rollback_sums.note_applied(run, sums, result.done)
        run.count("done", len(result.done))
        run.count("skipped", len(result.skipped))
    return result


def _apply_plan(
    backend: Backend,
    mset: MigrationSet,
    plan: Plan,
    progress: ProgressCallback | None,
    safety_backup: SafetyBackup | None,
    runners: list[StepRunner],
    accept_edited_rollback: bool = False,
) -> ApplyResult:
    emit = progress or (lambda _p: None)
    skipped: list[str] = []
    backup_id: str | None = None
    nested = holds_lock(backend)  # recover's own steps run on its half-way state
    _refuse_narrowed(backend, plan)  # before the lock and the safety backup

    def durable() -> dict[str, object] | None:
        # Stopped once files ran (an error between files: the lock lost to an `unlock`, the
        # database kept busy; Ctrl-C, SIGTERM): what was reported done is applied, and --json
        # says which, as for a failed file (whose report says where it failed).
        if not runners:
            return None
        return ApplyResult(plan.direction, tuple(runners[0].done), (), backup_id).as_json()

    with (
        reporting(durable),
        migration_lock(backend, _purpose(plan), warn=True) as unreleased,
    ):
        if not nested:
            from malnu_tui.engine.recover_state import refuse_half_done

            refuse_half_done(backend, "up" if plan.direction == "up" else "rollback")
        tracking = backend.fetch_records()
        if plan.selection is not None:
            _check_still_selected(backend, mset, plan, tracking)
        if plan.direction == "down":
            from malnu_tui.engine.rollback_sums import check_under_lock

            check_under_lock(backend, plan, accept_edited_rollback)
        elif plan.every_pending:
            _check_nothing_below_undone(backend, mset, plan, tracking)
        if plan.direction == "up" and not nested:
            _refuse_other_runners(backend, mset, plan, tracking)
        records = {r.filename: r for r in tracking}
        todo: list[PlanStep] = []
        for step in plan.steps:
            rec = records.get(step.filename)
            already = rec is not None and rec.success
            if (plan.direction == "up" and already) or (plan.direction == "down" and not already):
                skipped.append(step.filename)
            else:
                todo.append(step)
        todo = keep_wrangler_in_step(backend, mset, plan.direction, todo)
        _keep_supabase_in_step(backend, mset)
        if todo and safety_backup is not None:
            # Under the lock and after the confirmation: every row written before this
            # moment is in the backup, and nobody can change the database until we finish.
            emit(Progress("backup", 0, len(todo), "", message="taking a safety backup"))
            backup_id = safety_backup("pre-up" if plan.direction == "up" else "pre-rollback")
        runner = StepRunner(backend, plan.direction, len(todo), emit)
        runners.append(runner)
        up = plan.direction == "up"
        try:
            runner.run(todo)  # MigrationFailed at the first failure
        except MigrationFailed as exc:
            exc.backup_id = backup_id
            if up:  # (not when interrupted: nothing more is written then)
                _clear_superseded(backend, tracking, [f for f, _ms in runner.done])
            ran = ApplyResult(plan.direction, exc.done, (), backup_id)
            exc.report = ran.as_json() | {"failed": exc.failed_json()}
            raise
        if up:
            _clear_superseded(backend, tracking, [f for f, _ms in runner.done])
    notes = tuple(n for s in plan.steps for n in s.notes)
    done, left = tuple(runner.done), tuple(unreleased)
    return ApplyResult(plan.direction, done, tuple(skipped), backup_id, notes, left)


def _refuse_other_runners(
    backend: Backend, mset: MigrationSet, plan: Plan, tracking: list[TrackingRecord]
) -> None:
    """Another runner's history, read again under the lock (engine/preflight.py read it
    before the prompt): a `prisma migrate deploy` or `drizzle-kit migrate` that ran in the
    meantime is not run over. Refused (exit 1, as before the prompt) before the safety backup;
    nothing run."""
    from malnu_tui.engine.backends.other_runners import applied_by_other_runners
    from malnu_tui.engine.errors import MalnuError

    done = {r.filename for r in tracking if r.success}
    pending = [s.filename for s in plan.steps if s.filename not in done]
    if not pending:
        return
    taken_over = bool(done) or plan.unrelated_history  # (`up --unrelated-history`)
    found = applied_by_other_runners(backend, taken_over, pending, mset)
    refused = [f for f in found if f.refuses_up]
    if refused:
        raise MalnuError(refused[0].refusal(backend.display_url))
    declared = [f for f in found if f.runner.rows] if plan.unrelated_history and not done else []
    for f in declared:  # the operator's word, audited once: on the first `up` it let run
        detail = f"up --unrelated-history: {f.runner.describe()} is not this set's history"
        backend.append_audit(AuditEntry.now("apply", f.runner.table, "ok", detail))


def _clear_superseded(backend: Backend, tracking: list[TrackingRecord], done: list[str]) -> None:
    """After a migration is applied, the failed row of its version under another name (it
    failed, then was fixed *and* renamed, its old file gone) is deleted, audited with its
    before-image: the retry replaced it, as a retry under the same name updates its row. It
    stayed as a failure for good (`check` CRITICAL) beside the applied migration."""
    from malnu_tui.engine.files import normalise_version

    def version(name: str) -> str | None:
        try:
            return normalise_version(name)
        except ValueError:
            return None

    failed = [r for r in tracking if not r.success]
    for f in done:
        for r in failed:
            if r.filename != f and version(r.filename) == version(f):
                detail = f"superseded: {f}, of its version, applied; {before_image(r)}"
                backend.delete_record(
                    r.filename, AuditEntry.now("clear-failed", r.filename, "ok", detail)
                )


def keep_wrangler_in_step(
    backend: Backend, mset: MigrationSet, direction: str, todo: list[PlanStep]
) -> list[PlanStep]:
    """Where wrangler's ``d1_migrations`` (or the ``migrations_table`` its config names) is in
    the same database (D1, or a SQLite file such as wrangler's local state), each step also
    records (or, rolled back, removes) its row there, in the same unit: wrangler run
    afterwards sees what this tool applied instead of running it again. A rollback removes
    the row under wrangler's own ``0002_name.sql`` too (the name adopt matched the file by):
    left there, wrangler took the change for applied, and `up` refused to run it again
    ("wrangler already applied it") — an adopt then recorded it without running it."""
    if not todo or backend.kind not in ("d1", "sqlite"):
        return todo
    from malnu_tui.engine.backends.d1.wrangler import in_database, read_from_backend, table_for
    from malnu_tui.engine.backends.d1.wrangler_names import names_of
    from malnu_tui.engine.backends.sqlite_sql import bind_literals, quote_ident
    from malnu_tui.engine.filestatements import FileStatements
    from malnu_tui.engine.sqlsplit import Statement

    table = table_for(backend, mset.migrations_dir)  # its config's migrations_table
    if not in_database(backend, table):
        return todo
    wrangler = quote_ident(table)
    applied = [w.name for w in read_from_backend(backend, table)] if direction != "up" else []
    out: list[PlanStep] = []
    for s in todo:
        if direction == "up":
            sqls = [f"INSERT OR IGNORE INTO {wrangler} (name) VALUES (?)"]
            params: list[tuple[str, ...]] = [(s.filename,)]
        else:
            gone = names_of(mset, applied, s.filename)
            sqls = [f"DELETE FROM {wrangler} WHERE name = ?"] * len(gone)
            params = [(n,) for n in gone]
        extra = tuple(Statement(bind_literals(q, p), 0) for q, p in zip(sqls, params, strict=True))
        both = (
            s.statements.with_extra(extra)  # a large file's: never held (filestatements.py)
            if isinstance(s.statements, FileStatements)
            else (*s.statements, *extra)
        )
        out.append(dataclasses.replace(s, statements=both))
    return out


def _rename_in_wrangler(backend: Backend, mset: MigrationSet, old: str, new: str) -> None:
    """A rename accepted by ``repair``, in wrangler's ``d1_migrations`` too where `up` keeps it
    in step: left under the old name, wrangler run on the same directory took the renamed
    file for one never applied."""
    if backend.kind not in ("d1", "sqlite"):
        return
    from malnu_tui.engine.backends.d1.wrangler import in_database, table_for
    from malnu_tui.engine.backends.sqlite_sql import quote_ident

    table = table_for(backend, mset.migrations_dir)
    if not in_database(backend, table):
        return
    w = quote_ident(table)
    rename = f"UPDATE {w} SET name = ? WHERE name = ? AND ? NOT IN (SELECT name FROM {w})"
    query = getattr(backend, "query", None)  # D1
    conn = getattr(backend, "conn", None)  # SQLite
    if callable(query):
        query(rename, (new, old, new))
    elif conn is not None:
        conn.execute(rename, (new, old, new))


def _keep_supabase_in_step(backend: Backend, mset: MigrationSet) -> None:
    """Whether each step also writes (or, rolled back, removes) the Supabase CLI's row
    (backends/pg_record.py): only for the set the CLI reads — a ``supabase/migrations``
    directory, or a set sharing the CLI's history (one of its files is in the CLI's table: it
    was adopted, or kept in step). Another set in the same database (the school's analytics
    set, a reporting mirror) never writes there: the CLI would refuse every `db push` over
    versions it cannot find in its own directory."""
    if backend.kind != "postgresql" or not hasattr(backend, "supabase_in_step"):
        return
    from malnu_tui.engine.backends.pg_record import cli_history, files_applied

    path = Path(mset.migrations_dir)
    own = path.name == "migrations" and path.parent.name == "supabase"
    if not own:
        applied = cli_history(getattr(backend, "conn", None)) or []
        own = bool(files_applied(mset, applied))
    setattr(backend, "supabase_in_step", own)  # noqa: B010 - a PostgreSQL backend's own flag


def _refuse_narrowed(backend: Backend, plan: Plan) -> None:
    """PostgreSQL: a step that reads or writes a table whose rows row level security narrows
    for the tool's role is refused (backends/pg_rowsec.py), exit 2, nothing changed."""
    conn = getattr(backend, "conn", None)
    if backend.kind != "postgresql" or conn is None or not plan.steps:
        return
    from malnu_tui.engine.backends.pg_rowsec import refuse_narrowed

    where = getattr(backend, "display_url", "")
    refuse_narrowed(conn, where, [(s.filename, s.statements) for s in plan.steps])


def _purpose(plan: Plan) -> str:
    """What the lock holder is doing, for another operator's "lock held" message."""
    n = len(plan.steps)
    if plan.direction == "up":
        return f"apply of {n} migration(s)"
    newest = plan.steps[0].filename if plan.steps else ""
    return f"rollback of {n} migration(s) from {newest}"


def _check_still_selected(
    backend: Backend, mset: MigrationSet, plan: Plan, tracking: list[TrackingRecord]
) -> None:
    """Under the lock: the rollback selection made again must give exactly the confirmed
    steps (another operator may have applied or rolled back meanwhile); else nothing runs."""
    assert plan.selection is not None
    report = report_from_records(backend, mset, tracking, None)
    sel = plan.selection
    try:
        now = [m.filename for m in select_rollback(report, steps=sel.steps, to=sel.to)]
    except ConfigError:
        now = []
    planned = [s.filename for s in plan.steps]
    if now != planned:
        detail = (
            f"confirmed {', '.join(planned) or 'nothing'}; the database now gives "
            f"{', '.join(now) or 'nothing'}"
        )
        backend.append_audit(
            AuditEntry.now("rollback", planned[0] if planned else "", "refused", detail)
        )
        raise PlanChanged(detail)


def _check_nothing_below_undone(
    backend: Backend, mset: MigrationSet, plan: Plan, tracking: list[TrackingRecord]
) -> None:
    """Under the lock, for an ``up``: a migration the plan left out (it was applied when the
    plan was made) that is no longer applied, below the plan's last step, was rolled back
    meanwhile by another operator: running the plan would apply out of order what was
    planned in order, and leave that one pending."""
    if not plan.steps:
        return
    last = plan.steps[-1].version
    planned = {s.filename for s in plan.steps}
    applied = {r.filename for r in tracking if r.success}
    undone = [
        m.filename
        for m in mset.migrations
        if m.version <= last and m.filename not in planned and m.filename not in applied
    ]
    if undone:
        detail = f"{', '.join(undone)} no longer applied (rolled back meanwhile?)"
        backend.append_audit(AuditEntry.now("apply", plan.steps[0].filename, "refused", detail))
        raise PlanChanged(detail)


# -- troubleshooting ------------------------------------------------------------------------


def before_image(row: TrackingRecord | LockHolder) -> str:
    """The row as it was, for the audit detail: every change of ``repair``, ``clear-failed``
    and ``unlock`` can be undone by hand from the audit trail alone."""
    image = row.as_json() if isinstance(row, LockHolder) else dataclasses.asdict(row)
    return "before: " + json.dumps(image, sort_keys=True, ensure_ascii=False)


def repair(backend: Backend, mset: MigrationSet, filenames: list[str] | None = None) -> list[str]:
    """Accept edits of applied files: record their current checksums (or a renamed file's
    new name), and forget the missing rows named in ``filenames`` (:func:`select_repair`);
    audited per file, with the tracking row's before-image. Checked again under the lock."""
    with (
        record_run(backend, "repair", ", ".join(filenames or ["every drifted file"])) as run,
        migration_lock(backend, "repair of drifted checksums"),
    ):
        tracking = backend.fetch_records()
        report = report_from_records(backend, mset, tracking, None)
        records = {r.filename: r for r in tracking}
        rows, errors = select_repair(report, mset, filenames, backend)
        if errors:
            raise ConfigError(errors[0])
        chosen = [m.filename for m in rows]
        rollback_sums.accept_edits(backend, run, rows)  # its rollback file edited since applied
        for m in (m for m in rows if m.state is not MigrationState.APPLIED):
            f = m.filename
            if m.state is MigrationState.MISSING:
                detail = f"forgot {f}: applied, its file is gone; {before_image(records[f])}"
                backend.delete_record(f, AuditEntry.now("repair", f, "ok", detail))
                continue
            assert m.checksum is not None
            row = m.recorded_filename or f  # a file renamed after it ran: its old name's row
            detail = f"checksum {m.recorded_checksum} → {m.checksum}; {before_image(records[row])}"
            if row != f:
                detail = f"renamed {row} → {f}; {detail}"
            audit = AuditEntry.now("repair", f, "ok", detail)
            backend.set_checksum(row, m.checksum, audit, rename_to=f if row != f else None)
            if row != f:
                _rename_in_wrangler(backend, mset, row, f)
        run.count("files", len(chosen))
    return chosen


def clear_failed(backend: Backend, filename: str) -> TrackingRecord:
    """Delete a success = FALSE tracking row (the seed's "clear stuck migration"), audited
    with the row's before-image. Checked again under the lock."""
    from malnu_tui.engine.status import row_named

    name = Path(filename).name
    with migration_lock(backend, f"clear-failed of {name}"):
        rec = row_named(backend.fetch_records(), filename)
        if rec is None:
            raise ConfigError(f"no tracking row for {name or repr(name)}")
        name = rec.filename
        if rec.success:
            raise ConfigError(f"{name} succeeded; only failed rows can be cleared")
        detail = f"error was: {rec.error_message}; {before_image(rec)}"
        backend.delete_record(name, AuditEntry.now("clear-failed", name, "ok", detail))
    return rec


def unlock(backend: Backend) -> LockHolder | None:
    """Release the migration lock whoever holds it (for a dead session), audited with the
    lock row's before-image."""
    holder = backend.read_lock()
    detail = (
        f"released lock of {holder.describe()}; {before_image(holder)}"
        if holder
        else "no lock was held"
    )
    return backend.force_unlock(AuditEntry.now("unlock", "migration lock", "ok", detail))


@dataclass(frozen=True)
class AfterRun:
    """The verification after a run: the status read once, checksums, and the planned steps
    whose tracking row is not what the run should have left (still applied after a rollback,
    still pending after an apply)."""

    report: StatusReport
    verified: VerifyResult
    not_done: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.not_done and self.verified.ok


def verify_after(
    backend: Backend, mset: MigrationSet, plan: Plan, target_name: str = ""
) -> AfterRun:
    """Read the status once after a run and check it against the plan."""
    report = status(backend, mset, target_name)
    states = {m.filename: m.state for m in report.migrations}
    want_done = plan.direction == "up"
    not_done = tuple(
        s.filename for s in plan.steps if (states.get(s.filename) in DONE_STATES) != want_done
    )
    return AfterRun(report, verify_report(report), not_done)
