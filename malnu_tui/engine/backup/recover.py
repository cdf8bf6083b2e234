"""``recover --to TIME``: point-in-time recovery as far as backups and the audit trail allow.

Without native PITR the tool restores the newest verified backup taken at or before TIME, then
re-applies (or rolls back) the migrations the audit trail shows changed by TIME, in order. Data
written by the application between that backup and TIME is not in any backup: the plan says so,
with the length of that window (what the audit trail says of it: recover_trail.py). A kind whose
backup method offers ``native_recover`` (D1 Time Travel) brings the data itself back instead
(native_recover.py).
"""

from __future__ import annotations

import contextlib
import shlex
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from malnu_tui.engine.backends.base import AuditEntry, Backend, RecordApplied
from malnu_tui.engine.backup.core import verify_backup
from malnu_tui.engine.backup.method import method_for
from malnu_tui.engine.backup.owners import backup_of, backups_of
from malnu_tui.engine.backup.recover_trail import (
    applied_at,
    as_of_backup,
    base_after_restore,
    restored_since,
)
from malnu_tui.engine.backup.restore import RestoreResult, restore_backup
from malnu_tui.engine.backup.store import (
    BackupError,
    BackupManifest,
    BackupProgress,
    BackupProgressCallback,
    RecoverTooEarly,
    backup_time,
    emitter,
    unreadable_manifests,
    utc_iso,
)
from malnu_tui.engine.clock import local_time_line, parse_iso, parse_when, refuse_future
from malnu_tui.engine.config import Target
from malnu_tui.engine.errors import ChecksumDrift, MalnuError, RollbackEdited, durable_report
from malnu_tui.engine.files import MigrationSet, normalise_version
from malnu_tui.engine.plan import Plan, PlanStep
from malnu_tui.engine.recover_state import read_half_done, started_row

__all__ = [
    "RecoverPlan",
    "RecoverResult",
    "parse_when",
    "plan_recover",
    "run_recover",
]


def _fmt_duration(seconds: float) -> str:
    total = max(0, round(seconds))
    d, rest = divmod(total, 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    parts = [f"{d}d"] if d else []
    if h or d:
        parts.append(f"{h}h")
    if m or h or d:
        parts.append(f"{m}m")
    parts.append(f"{s}s")
    return " ".join(parts)


@dataclass(frozen=True)
class RecoverPlan:
    """What ``recover --to TIME`` will do (a dry run is this plan and nothing else)."""

    to: str  # ISO 8601 UTC
    backup: BackupManifest
    reapply: tuple[str, ...]  # migration filenames, in version order
    rollback: tuple[str, ...]  # migrations applied in the backup but not at TIME, newest first
    skipped_backups: tuple[tuple[str, str], ...]  # (id, why) newer candidates refused
    lost_seconds: float
    not_recovered: str
    notes: tuple[str, ...] = ()
    # Rollback files edited since their migration was applied, run only as accepted
    # (``recover --accept-edited-rollback``, engine/rollback_sums.py): re-checked under the lock.
    edited_rollbacks: tuple[str, ...] = ()
    accept_edited_rollback: bool = False
    edited_sums: tuple[tuple[str, str, str], ...] = ()  # RollbackEdit.sums() of each
    record: tuple[str, ...] = ()  # adopted by then: recorded as applied, not run

    def describe(self) -> list[str]:
        """The plan as plain sentences, for the CLI and the TUI."""
        b = self.backup
        lines = [f"Recover {b.target_name or b.target} to {self.to}."]
        lines += filter(None, [local_time_line(self.to)])
        lines += [
            "1. Back up the current database (reason pre-recover), so this can be undone.",
            f"2. Restore backup {b.id} taken {b.created_at} ({b.reason}; head {b.head or '—'}).",
        ]
        steps = [
            (self.rollback, "Roll back {n} migration(s) undone by then: "),
            (
                self.record,
                "Record {n} migration(s) adopted by then as applied, without running them (as "
                "`adopt` did): ",
            ),
            (self.reapply, "Re-apply {n} migration(s) applied by then, in order: "),
        ]
        for step, (files, said) in enumerate([s for s in steps if s[0]], start=3):
            lines.append(f"{step}. " + said.format(n=len(files)) + ", ".join(files))
        if not (self.rollback or self.record or self.reapply):
            lines.append("3. No migration to re-apply: the backup has the schema of then.")
        lines.append(f"NOT recovered: {self.not_recovered}")
        for bid, why in self.skipped_backups:
            lines.append(f"skipped newer backup {bid}: {why}")
        lines.extend(f"note: {n}" for n in self.notes)
        return lines

    def as_json(self) -> dict[str, object]:
        return {
            "to": self.to,
            "backup": self.backup.shown_json(),
            "reapply": list(self.reapply),
            "rollback": list(self.rollback),
            "record": list(self.record),
            "skipped_backups": [{"id": i, "why": w} for i, w in self.skipped_backups],
            "lost_seconds": round(self.lost_seconds, 3),
            "not_recovered": self.not_recovered,
            "notes": list(self.notes),
            "edited_rollbacks": list(self.edited_rollbacks),
        }


def _version(filename: str) -> str:
    try:
        return normalise_version(filename)
    except ValueError:
        return filename


def _down_plan(mset: MigrationSet, filenames: tuple[str, ...]) -> Plan:
    """The rollback steps of a recover, each with its rollback file's checksum as read now."""
    files = mset.by_filename()
    steps = []
    for f in filenames:
        m = files[f]
        assert m.rollback is not None  # checked by plan_recover
        statements = tuple(m.rollback.parts().statements)
        steps.append(PlanStep(f, m.version, m.rollback.path, m.checksum, statements,
                              rollback_checksum=m.rollback.checksum))  # fmt: skip
    return Plan("down", tuple(steps))


def plan_recover(
    backend: Backend,
    target: Target,
    mset: MigrationSet,
    when: datetime,
    *,
    now: datetime | None = None,
    progress: BackupProgressCallback | None = None,
    accept_edited_rollback: bool = False,
) -> RecoverPlan:
    """Choose the newest verified backup at or before ``when`` and the migrations to replay.

    Candidates are re-verified (hash and engine check) newest first; a failing one is skipped
    and named in the plan. A rollback file to run that was edited since its migration was
    applied is refused here (:class:`RollbackEdited`), before anything is restored, unless
    ``accept_edited_rollback``. Nothing is changed.
    """
    now = now or datetime.now(UTC)
    when = when.astimezone(UTC)
    refuse_future(when, now, f"--to {utc_iso(when)}")
    ours, foreign = backups_of(target)  # (foreign: in its store, named when passed over)
    candidates = sorted(
        (m for m in (*ours, *foreign) if m.target_kind == backend.kind and m.created <= when),
        key=lambda m: (m.created_at, m.id),
        reverse=True,
    )
    skipped: list[tuple[str, str]] = []
    chosen: BackupManifest | None = None
    # A manifest that cannot be read is never a candidate, but a recover that passes over a
    # newer backup for it says so (its data file is still in the store).
    unreadable = [
        (bid, taken, why)
        for bid, why in unreadable_manifests(target.backup_dir)
        if (taken := backup_time(bid)) is not None and taken <= when
    ]
    for m in candidates:
        if not backup_of(m, target):
            who = m.target_name or m.target
            if m.target_name == target.name:  # (its URL before a move: "prod, not this" misled)
                who = f"{m.target_name} at {m.target}"
            skipped.append((m.id, f"a backup of {who}, not this database"))
            continue
        report = verify_backup(target, m.id, progress=progress)
        if report.ok:
            chosen = report.manifest
            break
        skipped.append((m.id, "; ".join(report.problems)))
    if chosen is None and ours and not unreadable and all(m.created > when for m in ours):
        raise RecoverTooEarly(target.display_url, utc_iso(when), min(m.created_at for m in ours))
    if chosen is None:
        skipped += [(bid, why) for bid, _, why in unreadable]
        passed_over = "".join(f"; skipped {bid}: {why}" for bid, why in skipped[:5])
        own = [m for m in ours if m.verified]
        first = (
            f"; the oldest verified one was taken {min(m.created_at for m in own)}" if own else ""
        )
        raise BackupError(
            f"no verified backup of {target.display_url} was taken at or before "
            f"{utc_iso(when)}{passed_over}{first}"
            + ("" if ours else f"; {target.backup_dir} holds none of its backups"),
            hint="`malnu-tui backup list` shows what exists; pick a later time"
            if ours
            else (
                "backups made as another user (systemd's User=, another account's cron) are "
                "in that user's data directory, and those made with MALNU_BACKUP_DIR (or "
                "another config's [backup] dir) under that folder: run as that user, or set "
                "MALNU_BACKUP_DIR to it"
            ),
        )
    skipped += [(bid, why) for bid, taken, why in unreadable if taken > chosen.created]
    since = chosen.created
    held = f"the backup ({chosen.created_at})"
    restore = restored_since(backend, chosen, when)
    if restore is not None:
        skipped.append(
            (chosen.id, f"backup {restore.object} was restored over its data at {restore.at} UTC")
        )
        # (The restore's second, but never before the backup it passed over: taken before it.)
        since = max(parse_iso(restore.at), chosen.created)
        chosen = base_after_restore(target, chosen, restore, when, progress)
        held = f"the restore of backup {chosen.id} ({restore.at} UTC)"
    replayed = applied_at(backend, target, chosen, since, when, restore)
    state, notes, undone = replayed.state, list(replayed.notes), replayed.undone
    in_backup = set(chosen.applied_filenames)
    files = mset.by_filename()
    # Adopted since the backup (`adopt`: another tool ran them): recorded again, never run.
    # They were left out, the adoption undone, and `up` then refused (or, told
    # `--unrelated-history`, ran them again).
    record = tuple(sorted(replayed.adopted, key=lambda f: (_version(f), f)))
    # Rolled back and applied again since the backup, edited (the fix of a bad deploy, run
    # with `up --no-backup`): the backup holds the version of before, TIME had the file's.
    # Restored alone, its schema was the old one, said to be "the schema of then", and `status`
    # called the file drifted.
    ran = {m.filename: m.checksum for m in chosen.migrations}
    redo = {f for f in undone & state if f in files and not files[f].same_content(ran[f])}
    for f in sorted(redo):
        again = f"{f} was rolled back and applied again, edited, after the backup: the backup "
        if files[f].rollback is None:  # (deleted since): as before, said
            redo.discard(f)
            notes.append(
                again + "holds its version of before, and without a rollback file it stays: "
                "`status` will call the file drifted"
            )
            continue
        notes.append(
            again + "holds its version of before, which is rolled back (with its rollback "
            "file as it is now) and the file applied again as it is"
        )
    reapply = tuple(
        sorted((state - in_backup - replayed.adopted) | redo, key=lambda f: (_version(f), f))
    )
    rollback = tuple(
        sorted((in_backup - state) | redo, key=lambda f: (_version(f), f), reverse=True)
    )
    missing = [f for f in (*reapply, *record) if f not in files]
    no_rb = [f for f in rollback if f not in files or files[f].rollback is None]
    if missing:
        raise BackupError(
            "cannot recover: migrations applied by then are not in "
            f"{mset.migrations_dir}: " + ", ".join(missing)
        )
    if no_rb:
        raise BackupError("cannot recover: no rollback file for: " + ", ".join(no_rb))
    # A file edited since it ran would be re-applied as edited (`up` refuses drift): the
    # schema of TIME never had that, and the new tracking row would hide the drift.
    recorded = {r.filename: r.checksum for r in backend.fetch_records() if r.success}
    drifted = [f for f in reapply if f in recorded and not files[f].same_content(recorded[f])]
    if drifted:
        drift = ChecksumDrift(drifted)
        drift.hint = (
            "recover would re-apply them as they are now, which the database of then never "
            "ran: restore the original files, or accept the edits with `malnu-tui repair` first"
        )
        raise drift
    # A rollback file edited since its migration ran: refused now, not half-way (after the
    # restore) as the rollback step's own check would.
    from malnu_tui.engine.rollback_sums import edits as edits_of

    # A rolled back and applied again one undoes the version the backup holds: its rollback
    # file is compared with the one recorded when that version was applied.
    plain = tuple(f for f in rollback if f not in redo)
    found_by = edits_of(backend, _down_plan(mset, plain)) if plain else {}
    if redo:
        then = as_of_backup(backend, chosen)
        found_by |= edits_of(backend, _down_plan(mset, tuple(sorted(redo))), before=then)
    found = [found_by[f] for f in rollback if f in found_by]
    edits = tuple(e.describe() for e in found)
    sums = tuple(e.sums() for e in found)  # in full: the console shows them as `rollback`'s
    if edits and not accept_edited_rollback:
        raise RollbackEdited(list(edits), "recover", sums=sums)
    lost = (when - since).total_seconds()
    not_recovered = (
        f"data written by the application between {held} and "
        f"{utc_iso(when)}, {_fmt_duration(lost)} of changes: rows inserted, updated or deleted "
        "in that window are lost. Everything after that time is replaced too; it stays in the "
        "pre-recover backup."
    )
    notes.append(
        "audit times have one-second resolution: choose a time at least a second away from "
        "the change you want on either side"
    )
    if edits:
        notes.append("edited rollback file(s) accepted (audited): " + "; ".join(edits))
    half = read_half_done(backend)
    if half is not None:
        notes.append(
            f"{half.describe()}; this recover starts over from its backup; the database as it "
            f"was before that recover is pre-recover backup {half.pre_recover_id}"
        )
    return RecoverPlan(
        to=utc_iso(when),
        backup=chosen,
        reapply=reapply,
        rollback=rollback,
        record=record,
        skipped_backups=tuple(skipped),
        lost_seconds=lost,
        not_recovered=not_recovered,
        notes=tuple(notes),
        edited_rollbacks=edits,
        accept_edited_rollback=accept_edited_rollback,
        edited_sums=sums,
    )


@dataclass(frozen=True)
class RecoverResult:
    """What a recovery did."""

    plan: RecoverPlan
    restore: RestoreResult
    reapplied: tuple[str, ...]
    rolled_back: tuple[str, ...]
    seconds: float
    recorded: tuple[str, ...] = ()  # adopted by then: recorded as applied again, not run

    def counts(self) -> str:
        """What was done to the migrations, as the "done" lines (CLI, console, audit) say it:
        the adopted ones recorded again were left unsaid (the plan announced them)."""
        recorded = f", recorded {len(self.recorded)} adopted (not run)" if self.recorded else ""
        return f"re-applied {len(self.reapplied)}{recorded}, rolled back {len(self.rolled_back)}"

    def as_json(self) -> dict[str, object]:
        return {
            "to": self.plan.to,
            "restored": self.restore.backup_id,
            "pre_recover_backup": self.restore.pre_restore_id,
            "reapplied": list(self.reapplied),
            "recorded": list(self.recorded),
            "rolled_back": list(self.rolled_back),
            "not_recovered": self.plan.not_recovered,
            "seconds": round(self.seconds, 3),
        }


def run_recover(
    backend: Backend,
    target: Target,
    mset: MigrationSet,
    plan: RecoverPlan,
    *,
    progress: BackupProgressCallback | None = None,
) -> RecoverResult:
    """Carry out a :class:`RecoverPlan`: pre-recover backup, restore, then the migrations."""
    from malnu_tui.engine.monitor.runlog import record_run

    with record_run(backend, "recover", plan.to) as run:
        result = _run_recover(backend, target, mset, plan, progress)
        run.count("reapplied", len(result.reapplied))
        run.count("rolled_back", len(result.rolled_back))
    return result


def _run_recover(
    backend: Backend,
    target: Target,
    mset: MigrationSet,
    plan: RecoverPlan,
    progress: BackupProgressCallback | None,
) -> RecoverResult:
    from malnu_tui.engine.oplock import migration_lock

    method_for(backend.kind)  # a kind without backups fails before anything changes
    # One lock from the pre-recover backup to the last migration: released between the
    # restore and the migrations, another operator's `up` would run on the half-way state.
    with migration_lock(backend, f"recover to {plan.to}"):
        return _recover_locked(backend, target, mset, plan, progress)


def _recover_locked(
    backend: Backend,
    target: Target,
    mset: MigrationSet,
    plan: RecoverPlan,
    progress: BackupProgressCallback | None,
) -> RecoverResult:
    from malnu_tui.engine.migrate import Progress, apply_plan
    from malnu_tui.engine.rollback_sums import check_under_lock

    emit = emitter(progress)
    started = time.perf_counter()
    steps_total = len(plan.rollback) + len(plan.record) + len(plan.reapply)
    # Rollback files edited since planned (or since applied): refused before the pre-recover
    # backup and the restore, under this lock, never half-way (audited as the recover's).
    down = _down_plan(mset, plan.rollback)
    redo = tuple(f for f in plan.rollback if f in plan.reapply)  # (rolled back, applied again)
    plain = tuple(f for f in plan.rollback if f not in redo)
    accepted = plan.accept_edited_rollback
    check_under_lock(backend, _down_plan(mset, plain), accepted, command="recover", obj=plan.to)
    then = as_of_backup(backend, plan.backup)
    check_under_lock(backend, _down_plan(mset, redo), accepted, command="recover", obj=plan.to,
                     before=then)  # fmt: skip
    restored = restore_backup(
        backend,
        target,
        plan.backup.id,
        progress=emit,
        pre_reason="pre-recover",
        # Committed with the restored data: a recover killed before its migrations ran
        # leaves this mark, which status/check/up read (engine/recover_state.py). With no
        # migration to run, the restore alone is the recover: nothing can be left half-way.
        mark=(lambda pre: started_row(plan.to, plan.backup.id, pre.id, steps_total))
        if steps_total
        else None,
    )

    def relay(p: Progress) -> None:
        if p.event in ("start", "done", "failed"):
            emit(BackupProgress("migrate", p.index, p.total, f"{p.event}: {p.filename}"))

    files = mset.by_filename()
    rolled: tuple[str, ...] = ()
    adopted: list[str] = []
    reapplied: tuple[str, ...] = ()
    rolling = True  # the rollback files run first, then the re-applied migrations
    try:
        if restored.interrupted is not None:  # Ctrl-C or SIGTERM as the restore committed
            raise restored.interrupted
        if plan.rollback:
            # Checked above, before the restore: not again half-way (rollback_checksum "").
            undo = tuple(replace(s, rollback_checksum="") for s in down.steps)
            done = apply_plan(backend, mset, Plan("down", undo), progress=relay)
            rolled = tuple(f for f, _ in done.done)
        rolling = False
        # Before the re-applied ones: as adopted, the database is this tool's again (another
        # runner's history there refuses an `up` into a database it tracks nothing of).
        adopted = _record_adopted(backend, mset, plan)
        if plan.reapply:
            steps = [
                PlanStep(
                    f,
                    files[f].version,
                    files[f].path,
                    files[f].checksum,
                    tuple(files[f].parts().statements),
                )
                for f in plan.reapply
            ]
            done = apply_plan(backend, mset, Plan("up", tuple(steps)), progress=relay)
            reapplied = tuple(f for f, _ in done.done)
    except BaseException as exc:
        # Half-way: the backup is restored, not every migration is. Say so, and how to undo
        # it, where the operator looks (the error's hint, or a line before "interrupted").
        from malnu_tui.engine.apply import MigrationFailed

        total = steps_total
        if isinstance(exc, MigrationFailed):
            part = tuple(f for f, _ in exc.done)
        else:  # stopped between files or by Ctrl-C, SIGTERM: the steps' report says which ran
            part = _done_in(durable_report(exc), "rolled_back" if rolling else "applied")
        ran = len(rolled) + len(adopted) + len(part)
        where = (
            f"the recover stopped half-way: backup {plan.backup.id} is restored and {ran} of "
            f"{total} migration(s) re-run, so the database is neither as before nor as of "
            f"{plan.to}; to undo the recover: "
            + shlex.join(["malnu-tui", "backup", "restore", restored.pre_restore_id, *target.again])
        )
        with contextlib.suppress(Exception):
            backend.append_audit(
                AuditEntry.now(
                    "recover",
                    plan.to,
                    "failed",
                    f"restored {plan.backup.id}, then: {exc or type(exc).__name__}; "
                    f"pre-recover backup {restored.pre_restore_id}"[:500],
                )
            )
        # --json: the restore and the steps that ran are durable (the pre-recover backup
        # undoes them), as `up --json` reports the migrations before the failed one; stopped
        # by Ctrl-C or SIGTERM too (the steps' own report, of a plan, is replaced).
        seconds = time.perf_counter() - started
        if rolling:  # (reapplied and rolled are set once their whole step has run)
            left = RecoverResult(plan, restored, (), part, seconds).as_json()
        else:
            left = RecoverResult(plan, restored, part, rolled, seconds, tuple(adopted)).as_json()
        if isinstance(exc, MalnuError):
            exc.hint = f"{where}; or fix the cause and run this recover again to finish it"
            failed = exc.failed_json() if isinstance(exc, MigrationFailed) else None
            exc.report = left | {
                "failed": failed or {"filename": None, "line": None, "error": str(exc)}
            }
        else:
            emit(BackupProgress("failed", 0, 0, where))
            with contextlib.suppress(Exception):
                exc.report = left  # type: ignore[attr-defined]
        raise
    seconds = time.perf_counter() - started
    result = RecoverResult(plan, restored, reapplied, rolled, seconds, tuple(adopted))
    backend.append_audit(
        AuditEntry.now(
            "recover",
            plan.to,
            "ok",
            f"restored {plan.backup.id}; {result.counts()}; "
            f"not recovered: {_fmt_duration(plan.lost_seconds)} of data; "
            f"pre-recover backup {restored.pre_restore_id}",
        )
    )
    emit(BackupProgress("done", 0, 0, f"recovered to {plan.to}"))
    return result


def _record_adopted(backend: Backend, mset: MigrationSet, plan: RecoverPlan) -> list[str]:
    """Record the migrations adopted by the recover's time as `adopt` did: tracking row and
    audit row in one unit each, nothing run; a file recorded meanwhile is passed over. Where
    wrangler's history table is in the database (D1, its local state), each file's name goes
    there too, in its unit, as `adopt` and `up` write it: the restored backup has wrangler's
    old ``0001_name.sql`` rows only, and wrangler, reading the renamed directory, listed the
    adopted files as still to apply (a `wrangler d1 migrations apply` ran them again)."""
    from malnu_tui.engine.migrate import keep_wrangler_in_step

    tracked = {r.filename for r in backend.fetch_records() if r.success}
    files = mset.by_filename()
    todo = [
        PlanStep(f, files[f].version, files[f].path, files[f].checksum, ())
        for f in plan.record
        if f not in tracked
    ]
    for step in keep_wrangler_in_step(backend, mset, "up", todo):
        f = step.filename
        detail = f"recorded again by the recover to {plan.to} (adopted by then); not run"
        audit = AuditEntry.now("adopt", f, "ok", detail)
        backend.run_unit(f, list(step.statements), RecordApplied(f, step.checksum), audit)
    return list(plan.record)


def _done_in(report: object, key: str) -> tuple[str, ...]:
    """The files a stopped run of steps reported done (``applied`` or ``rolled_back`` of its
    report, :meth:`ApplyResult.as_json`)."""
    done = report.get(key) if isinstance(report, dict) else None
    return tuple(d["filename"] for d in done) if isinstance(done, list) else ()
