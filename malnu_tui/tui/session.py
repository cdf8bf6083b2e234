"""Glue between workers and the engine: open a target, read its status, report errors.

Everything here runs in worker threads. Each call opens its own connection and closes it, so a
connection is never shared between threads.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from malnu_tui.engine.errors import MalnuError
from malnu_tui.engine.observe import StatementObserver, observing
from malnu_tui.tui.messages import (
    BackupProgress,
    LocksLeft,
    OperationFailed,
    OperationProgress,
    StatementProgress,
)

if TYPE_CHECKING:
    from textual.message_pump import MessagePump

    from malnu_tui.engine.backends.base import Backend
    from malnu_tui.engine.backup import BackupProgress as EngineBackupProgress
    from malnu_tui.engine.backup import BackupProgressCallback
    from malnu_tui.engine.config import Target
    from malnu_tui.engine.errors import StatementFailed
    from malnu_tui.engine.files import MigrationSet
    from malnu_tui.engine.histories import OtherHistories
    from malnu_tui.engine.migrate import AfterRun, ApplyResult, Plan, Progress, StatusReport
    from malnu_tui.engine.rollback_sums import FileSums


@contextlib.contextmanager
def connected(target: Target) -> Iterator[Backend]:
    """An open backend for ``target`` with the tool's tables in place; closed afterwards."""
    with _opened(target) as backend:
        yield backend


@contextlib.contextmanager
def _opened(target: Target, **how: bool) -> Iterator[Backend]:
    """``target`` opened with ``how`` (open_backend's options), its tool tables read."""
    from malnu_tui.engine.config import open_backend

    backend = open_backend(target, **how)
    try:
        backend.ensure_schema()
        yield backend
    finally:
        backend.close()


@contextlib.contextmanager
def looking(target: Target) -> Iterator[Backend]:
    """``target`` opened as a dry run opens it, for what the console shows (status, previews,
    the audit log, the lock): nothing created or upgraded, a database without the tool's
    tables read as one where nothing is applied yet, a SQLite path with no file read as the
    new database the first `up` would make. Opening the console sent every configured target
    CREATE TABLE (on D1 too) and upgraded an earlier version's tables before the operator did
    anything: the first operation that writes (:func:`connected`) makes them now."""
    with _opened(target, dry_run=True, new_ok=True) as backend:
        yield backend


@contextlib.contextmanager
def trying(target: Target) -> Iterator[Backend]:
    """``target`` opened as `import --dry-run` opens it, for the import wizard's preview and
    validation (work rolled back): writable, but nothing created, upgraded or switched by
    opening it (they made the tool's tables, and a rollback-journal SQLite file WAL for good),
    and a SQLite path with no file refused, not created."""
    from malnu_tui.engine.config import open_backend, require_existing

    require_existing(target)
    backend = open_backend(target, rolled_back=True)
    try:
        yield backend
    finally:
        backend.close()


def migration_set(target: Target) -> MigrationSet:
    from malnu_tui.engine.config import check_own_set, check_rollback_dir
    from malnu_tui.engine.files import discover

    check_rollback_dir(target)  # another configured target's (the tab's own is resolved)
    check_own_set(target)
    return discover(target.migrations_dir, target.rollback_dir, target.files_dialect)


def load_status(target: Target) -> tuple[StatusReport, MigrationSet]:
    """Discover the target's files and read its tracking table."""
    from malnu_tui.engine.migrate import status

    mset = migration_set(target)
    with looking(target) as backend:
        return status(backend, mset, target.name), mset


def load_panel(
    target: Target, sums: FileSums | None = None
) -> tuple[StatusReport, MigrationSet, OtherHistories]:
    """The status screen's reading of ``target``: its status with the rollback files edited
    since their migration was applied marked (``sums``: the panel's checksums, a file read
    again only when it changed), and other tools' migration histories in the same database
    (wrangler's, the Supabase CLI's, Prisma's…) as the CLI's `status` reads them, on the same
    connection."""
    from malnu_tui.engine.drift import mark_rollback_edits
    from malnu_tui.engine.histories import read_other_histories
    from malnu_tui.engine.migrate import status

    mset = migration_set(target)
    with looking(target) as backend:
        report = mark_rollback_edits(backend, status(backend, mset, target.name), mset, sums)
        return report, mset, read_other_histories(backend, mset, report)


def change_token(target: Target) -> tuple[int, ...] | None:
    """A cheap token that changes when a SQLite target's file (or its WAL) is written: the
    status screen reloads at once when another operator changes the lock or the tracking table.
    ``None`` for servers, which are polled instead."""
    if target.kind != "sqlite":
        return None
    from malnu_tui.engine.urls import sqlite_path

    path = sqlite_path(target.url)
    token: list[int] = []
    for p in (path, path.with_name(path.name + "-wal")):
        try:
            st = p.stat()
        except OSError:
            token += [0, 0]
        else:
            token += [st.st_mtime_ns, st.st_size]
    return tuple(token)


@dataclass(frozen=True)
class RunOutcome:
    """How a confirmed apply or rollback ended: the result (or the failure with what ran
    before it), and the status read once afterwards on the same connection."""

    result: ApplyResult | None
    failure: StatementFailed | None
    done: tuple[tuple[str, int], ...]
    error: str
    after: AfterRun | None
    backup_id: str | None = None  # the safety backup, when one was taken (also on failure)


def run_confirmed(
    target: Target,
    mset: MigrationSet,
    plan: Plan,
    pump: MessagePump,
    *,
    accept_edited_rollback: bool = False,
) -> RunOutcome:
    """The step after the typed confirmation, on ONE connection: take the lock, check the
    plan again under it, take the safety backup (so it holds every row written until now),
    run, and read the status once to verify. Progress goes to ``pump`` as messages.
    ``accept_edited_rollback``: the operator accepted rollback files edited since their
    migration was applied (audited by the engine, as the CLI's flag)."""
    from malnu_tui.engine.migrate import ApplyResult, MigrationFailed, apply_plan, verify_after
    from malnu_tui.engine.safety import backup_taker

    reported: list[tuple[str, int]] = []  # "done" events: durable migrations

    def progress(p: Progress) -> None:
        if p.event == "done":
            reported.append((p.filename, p.elapsed_ms))
        pump.post_message(OperationProgress(p))

    result: ApplyResult | None = None
    failure: StatementFailed | None = None
    done: tuple[tuple[str, int], ...] = ()
    error = ""
    after: AfterRun | None = None
    with connected(target) as backend:
        take = backup_taker(backend, target, backup_progress_poster(pump))
        taken: list[str] = []

        def taker(reason: str) -> str | None:
            backup_id = take(reason)
            if backup_id:
                taken.append(backup_id)
            return backup_id

        from malnu_tui.engine.interrupts import interrupts_held, stops_done

        try:
            try:
                with observing(statement_poster(pump)):
                    result = apply_plan(
                        backend,
                        mset,
                        plan,
                        progress=progress,
                        safety_backup=taker,
                        accept_edited_rollback=accept_edited_rollback,
                    )
            except MigrationFailed as exc:
                failure, done, error = exc.failure, exc.done, str(exc)
            except MalnuError as exc:
                # Stopped mid-run otherwise (the database kept busy, a full disk): what was
                # reported done is in, and the result screen must not say "nothing was changed".
                done, error = tuple(reported), explain(exc)[0]
            stops_done()  # (the outcome is shown whole: a stop from now on is not delivered)
        except KeyboardInterrupt as exc:
            if type(exc) is not KeyboardInterrupt:  # SIGHUP, SIGTERM: the console exits
                raise
            # The stop key (stop_workers(SIGINT, owner)): the engine rolled the step back,
            # recorded the run and released the lock, as on the CLI's Ctrl-C; unless it came
            # once every migration was in (its run row being written): nothing rolled back.
            ran = tuple(dict(reported).items())  # (one reported again after the stop: once)
            every = {f for f, _ in ran} >= {s.filename for s in plan.steps}
            if failure is None and not error and (result is not None or every):
                result = result or ApplyResult(
                    plan.direction, ran, backup_id=taken[0] if taken else None, notes=(LATE,)
                )
            elif failure is None and not error:
                done, error = ran, STOPPED_D1 if target.kind == "d1" else STOPPED

        # (A stop confirmed as the run ended is only noted: the status after is still read.)
        with interrupts_held():
            try:
                after = verify_after(backend, mset, plan, target.name)
            except MalnuError as exc:
                error += f"; status afterwards could not be read: {exc}"
    return RunOutcome(result, failure, done, error, after, taken[0] if taken else None)


LATE = "the stop came once every migration was in: nothing was rolled back"
STOPPED = (
    "stopped at your request: the step in progress was rolled back (the database is as it was "
    "before it), the ones shown done stay done, the run is recorded as interrupted"
)
# D1: a batch already sent cannot be recalled; D1 runs it (all or nothing) whoever listens.
STOPPED_D1 = (
    "stopped at your request: the migration already sent to D1 was left to D1 (it is shown "
    "done if D1 applied it), none after it was sent, the run is recorded as interrupted"
)


def statement_poster(pump: MessagePump) -> StatementObserver:
    """Tells ``pump`` which statement a migration is on, at most ten times a second (a file
    of thousands of statements must not flood the screen with messages)."""
    last = [0.0]

    def post(filename: str, index: int, total: int) -> None:
        now = time.monotonic()
        if index <= 1 or index == total or now - last[0] >= 0.1:
            last[0] = now
            pump.post_message(StatementProgress(filename, index, total))

    return post


def backup_progress_poster(pump: MessagePump) -> BackupProgressCallback:
    """A progress callback that posts :class:`BackupProgress` messages to ``pump``."""

    def post(p: EngineBackupProgress) -> None:
        # An event without a message is the bar moving (pg_dump's bytes every 0.25 s, a hash
        # every 256 MiB): its phase name as a message put "safety backup: dump" in the run's
        # log four times a second for as long as the dump took.
        total = float(p.total) if p.total > 0 else None
        pump.post_message(BackupProgress(float(p.done), total, p.message))

    return post


def explain(exc: BaseException) -> tuple[str, str]:
    """(message, hint) for the operator: engine errors as they are, anything else named;
    secrets masked as the CLI masks its ``error:`` and ``hint:`` lines."""
    from malnu_tui.engine.monitor.debuglog import mask_secrets

    if isinstance(exc, MalnuError):
        return mask_secrets(str(exc)), mask_secrets(exc.hint or "")
    from malnu_tui.engine.errors import damaged_hint, sqlite_damaged

    if sqlite_damaged(exc):  # read wherever it first fails, as the CLI says it
        return f"the SQLite database is damaged: {exc}", damaged_hint(str(exc))
    return (
        mask_secrets(f"unexpected {type(exc).__name__}: {exc}"),
        "nothing was committed by the step that failed; check the audit log (l) and retry",
    )


@contextlib.contextmanager
def reporting(pump: MessagePump, what: str) -> Iterator[None]:
    """Run a worker body; any error becomes an :class:`OperationFailed` posted to ``pump``.
    The console's SIGHUP or SIGTERM stops the body as the CLI's stops a command
    (:func:`~malnu_tui.engine.interrupts.stop_workers`): its clean-up run, then said here."""
    from malnu_tui.engine.interrupts import HungUp, stoppable

    try:
        with stoppable(owner=pump):  # (the stop key stops its screen's work alone)
            yield
    except KeyboardInterrupt as exc:
        why = "the terminal hung up" if isinstance(exc, HungUp) else "the console was terminated"
        if type(exc) is KeyboardInterrupt:
            why = "at your request"
        from malnu_tui.engine.monitor.debuglog import mask_secrets

        notes = mask_secrets("; ".join(getattr(exc, "__notes__", ())))
        pump.post_message(OperationFailed(what, f"stopped: {why}", notes, False))
        return
    except Exception as exc:  # every failure is shown in the UI, never as a traceback
        message, hint = explain(exc)
        refused = isinstance(exc, MalnuError) and exc.exit_code == 2
        # An audit index its open could not make, before it failed: said with the failure
        # (left for later, it was said on the result of some other work, or never).
        hint = "; also ".join(x for x in (hint, *locks_left()) if x)
        pump.post_message(OperationFailed(what, message, hint, refused))
        return
    left = locks_left()
    if left:  # after the body's result message: said on the result it shows
        pump.post_message(LocksLeft(what, left))


# What this console has said of the tool's audit indexes an upgrade left unmade: the same
# cause (a role that does not own malnu_audit) is met again by every operation's open, and is
# said on the first result only (its words name the index, the role and the way out).
_SAID_UPGRADES: set[str] = set()


def locks_left() -> tuple[str, ...]:
    """What the work just done left, each said once, as the CLI's ``warning:`` lines say it
    (the console showed a plain success): the lock rows it could not release (D1 unreachable
    as it released them), then the audit indexes its open of the tool's tables could not make
    (D1 stopped the build at its 30 s; a PostgreSQL role that does not own malnu_audit), with
    the way out (the CREATE INDEX to run as the owner). Secrets masked."""
    from malnu_tui.engine.backends.base import unsaid_upgrades
    from malnu_tui.engine.monitor.debuglog import mask_secrets
    from malnu_tui.engine.oplock import unsaid_locks

    # A lock row is left by work that was done; an index may be left by work that then
    # stopped (its open made the tables ready before the first migration failed).
    said = [f"done, but: {line}" for line in unsaid_locks()]
    for line in unsaid_upgrades(thread=threading.get_ident()):  # (this worker's: not a read's)
        if line not in _SAID_UPGRADES:
            _SAID_UPGRADES.add(line)
            said.append(line)
    return tuple(mask_secrets(line) for line in said)
