"""Glue between workers and the engine: open a target, read its status, report errors.

Everything here runs in worker threads. Each call opens its own connection and closes it, so a
connection is never shared between threads.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from malnu_tui.engine.errors import MalnuError
from malnu_tui.tui.messages import BackupProgress, OperationFailed

if TYPE_CHECKING:
    from textual.message_pump import MessagePump

    from malnu_tui.engine.backends.base import Backend
    from malnu_tui.engine.backup import BackupProgress as EngineBackupProgress
    from malnu_tui.engine.backup import BackupProgressCallback
    from malnu_tui.engine.config import Target
    from malnu_tui.engine.files import MigrationSet
    from malnu_tui.engine.migrate import Plan, StatusReport


@contextlib.contextmanager
def connected(target: Target) -> Iterator[Backend]:
    """An open backend for ``target`` with the tool's tables in place; closed afterwards."""
    from malnu_tui.engine.config import open_backend

    backend = open_backend(target)
    try:
        backend.ensure_schema()
        yield backend
    finally:
        backend.close()


def migration_set(target: Target) -> MigrationSet:
    from malnu_tui.engine.files import discover

    return discover(target.migrations_dir, target.rollback_dir)


def load_status(target: Target) -> tuple[StatusReport, MigrationSet]:
    """Discover the target's files and read its tracking table."""
    from malnu_tui.engine.migrate import status

    mset = migration_set(target)
    with connected(target) as backend:
        return status(backend, mset, target.name), mset


def change_token(target: Target) -> tuple[int, ...] | None:
    """A cheap token that changes when a SQLite target's file (or its WAL) is written: the
    status screen reloads at once when another operator changes the lock or the tracking table.
    ``None`` for servers, which are polled instead."""
    if target.kind != "sqlite":
        return None
    from malnu_tui.engine.config import sqlite_path

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


def files_dialect(target: Target) -> str:
    """The dialect the target's migration files are written in: its ``dialect`` option, else
    PostgreSQL's for a PostgreSQL target and SQLite's otherwise (as the CLI decides)."""
    value = target.options.get("dialect")
    if value is None:
        return "postgresql" if target.kind == "postgresql" else "sqlite"
    value = str(value).lower()
    return "postgresql" if value in ("postgresql", "postgres") else value


def plan_for_target(target: Target, plan: Plan, mset: MigrationSet) -> Plan:
    """A PostgreSQL mirror of the primary (``dialect = "sqlite"``) runs the PostgreSQL
    translation of the SQLite files; an untranslatable statement refuses the plan."""
    if target.kind == "postgresql" and files_dialect(target) == "sqlite":
        from malnu_tui.engine.translate import postgres_plan

        return postgres_plan(plan, mset)
    return plan


def take_safety_backup(
    target: Target, reason: str, progress: BackupProgressCallback | None = None
) -> str:
    """A backup of ``target`` before destructive work; returns its id."""
    from malnu_tui.engine.backup import create_backup

    with connected(target) as backend:
        return create_backup(backend, target, reason=reason, progress=progress).id


def backup_progress_poster(pump: MessagePump) -> BackupProgressCallback:
    """A progress callback that posts :class:`BackupProgress` messages to ``pump``."""

    def post(p: EngineBackupProgress) -> None:
        total = float(p.total) if p.total > 0 else None
        pump.post_message(BackupProgress(float(p.done), total, p.message or p.phase))

    return post


def explain(exc: BaseException) -> tuple[str, str]:
    """(message, hint) for the operator: engine errors as they are, anything else named."""
    if isinstance(exc, MalnuError):
        return str(exc), exc.hint or ""
    return (
        f"unexpected {type(exc).__name__}: {exc}",
        "nothing was committed by the step that failed; check the audit log (l) and retry",
    )


@contextlib.contextmanager
def reporting(pump: MessagePump, what: str) -> Iterator[None]:
    """Run a worker body; any error becomes an :class:`OperationFailed` posted to ``pump``."""
    try:
        yield
    except Exception as exc:  # every failure is shown in the UI, never as a traceback
        message, hint = explain(exc)
        pump.post_message(OperationFailed(what, message, hint))
