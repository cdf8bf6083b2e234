"""``check``'s reading half: each target opened and its facts read (tracking rows, migration
files, lock, the audit trail, the backup store), then evaluated by :mod:`.checks`; every target
at once on threads. The evaluation is plain functions of the facts (:func:`.checks.evaluate`)."""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from malnu_tui.engine.again import named_fields
from malnu_tui.engine.monitor.checks import Facts, evaluate
from malnu_tui.engine.monitor.config import MonitorConfig, database_before_of, database_of
from malnu_tui.engine.monitor.debuglog import mask_secrets
from malnu_tui.engine.monitor.health import CheckReport, Problem, Severity, TargetHealth
from malnu_tui.engine.monitor.runlog import audit_and_runs, format_time, last_runs_of

if TYPE_CHECKING:
    from malnu_tui.engine.backends.base import Backend
    from malnu_tui.engine.backup.store import BackupManifest
    from malnu_tui.engine.config import Target
    from malnu_tui.engine.errors import LockHolder
    from malnu_tui.engine.file_sums import FileSums
    from malnu_tui.engine.files import MigrationSet
    from malnu_tui.engine.monitor.pairs_seen import PairsSeen
    from malnu_tui.engine.status import StatusReport
    from malnu_tui.engine.supabase_target import OpenTables

__all__ = ["AUDIT_WINDOW", "check_target", "run_checks", "target_database"]

AUDIT_WINDOW = 2000  # newest audit rows read per target


def _for_check(target: Target) -> Target:
    """A target opened for a check: D1 retries kept short so a dead API answers quickly (a
    Retry-After over 8 s is UNKNOWN at once, naming it)."""
    if target.kind != "d1":
        return target
    opts = dict(target.options)
    opts.setdefault("retry_attempts", 2)
    opts.setdefault("retry_base_delay", 0.2)
    opts.setdefault("retry_max_delay", 2)
    opts.setdefault("timeout", 10)
    return dataclasses.replace(target, options=opts)


def _unknown(target: Target, message: str, started: float) -> TargetHealth:
    from malnu_tui.engine.supabase_target import supabase_of

    problem = Problem(target.name, "reach", Severity.UNKNOWN, mask_secrets(message), None, "target")
    took = time.perf_counter() - started
    supabase = target.kind == "postgresql" and supabase_of(target, "postgresql") is not None
    return TargetHealth(
        target.name,
        (problem,),
        {"status": 3.0},
        took,
        target_database(target),
        supabase,
        database_before_of(target.url),
    )


def target_database(target: Target) -> str:
    """The database ``target`` names (``urls.database_key``, masked): what a health and an
    incident are keyed by beside the target's name (:func:`.config.database_of`)."""
    return database_of(target.url)


def check_target(
    target: Target,
    cfg: MonitorConfig,
    now: datetime | None = None,
    *,
    report: StatusReport | None = None,
    stage: list[str] | None = None,
    sums: FileSums | None = None,
) -> TargetHealth:
    """Read one target's facts and evaluate every check; UNKNOWN when it cannot be reached.
    ``report``: a status just read by the caller (the console), not read again. ``stage``:
    what it is doing now, kept in its one item (for :func:`run_checks`' deadline). ``sums``:
    the rollback files' checksums kept from earlier checks (a file read only when changed)."""
    doing = stage if stage is not None else [""]
    from malnu_tui.engine.backup.owners import backups_of
    from malnu_tui.engine.backup.store import StoreUnreadable
    from malnu_tui.engine.config import check_own_set, check_rollback_dir, open_backend
    from malnu_tui.engine.drift import mark_rollback_edits
    from malnu_tui.engine.errors import ConfigError, MalnuError, MigrationFileError, NotInitialised
    from malnu_tui.engine.files import discover
    from malnu_tui.engine.status import status
    from malnu_tui.engine.urls import sqlite_path

    started = time.perf_counter()
    now = now or datetime.now(UTC)
    seen = _pairs_seen(cfg, now)  # (before it is reached: a pair is seen in the config)
    try:
        check_rollback_dir(target)  # a configured target's migrations_dir without rollback_dir
    except ConfigError as exc:
        return _unknown(target, str(exc), started)
    try:
        # The bundled set in a folder with its own (./supabase/migrations): the school's files
        # were reported pending, a false WARNING or CRITICAL page. UNKNOWN, the set to pass said.
        check_own_set(target)
    except ConfigError as exc:
        return _unknown(target, f"{exc}; {exc.hint}", started)
    path = sqlite_path(target.url) if target.kind == "sqlite" else None
    if path is not None and not path.is_file():
        why = "is a directory, not a database file" if path.is_dir() else "does not exist"
        return _unknown(target, f"database file {path} {why}", started)
    doing[0] = "connecting"
    try:
        backend = open_backend(_for_check(target), read_only=True)  # never writes it
    except Exception as exc:  # anything that stops us reaching it: UNKNOWN, never a traceback
        return _unknown(target, f"cannot connect: {exc}", started)
    files_error: str | None = None
    others: tuple[tuple[str, str], ...] = ()
    try:
        doing[0] = "reading the migrations"
        if report is None:
            try:
                mset = discover(target.migrations_dir, target.rollback_dir, target.files_dialect)
                # (With its rollback files edited since applied: a WARNING under drift.)
                report = mark_rollback_edits(
                    backend, status(backend, mset, target.name), mset, sums
                )
                doing[0] = "reading other tools' migration histories"
                others = _other_histories(backend, mset, report)
            except MalnuError as exc:
                if not isinstance(exc, MigrationFileError):
                    raise
                files_error = str(exc)  # the files are unusable; the database is still checked
                backend.fetch_records()
        doing[0] = "asking whether it takes writes"
        read_only = _read_only(backend, path)
        doing[0] = "reading which tables Supabase's API serves without row level security"
        open_to_anon = _open_to_anon(target, backend, cfg.supabase_public)
        doing[0] = "reading the lock"
        lock = backend.read_lock()
        doing[0] = "reading the audit trail"
        # Runs read apart: a busy sync's rows never push a failed import or sync (or the last
        # good sync) out of view; whether they are all of them (a pair never run is said so).
        audit, (runs_from, _) = audit_and_runs(backend, AUDIT_WINDOW)
        pairs = [f"{s}->{d}" for _, s, d in cfg.sync_pairs if d == target.name]
        # More run rows than one read holds: each pair's own, found whatever their age.
        pair_runs = last_runs_of(backend, "sync", pairs) if runs_from and pairs else ()
    except NotInitialised as exc:
        return _unknown(target, str(exc), started)
    except Exception as exc:
        return _unknown(target, f"cannot read: {exc}", started)
    finally:
        backend.close()
    doing[0] = "reading the backup store"
    backups: tuple[BackupManifest, ...] = ()
    backups_error = None
    earlier: tuple[str, ...] = ()
    try:
        # (a shared store: its own only; its database's beside it too, under another name)
        own, foreign = backups_of(target)
        backups = tuple(own)
        earlier = tuple(sorted({m.target for m in foreign if m.target_name == target.name}))
    except (OSError, MalnuError) as exc:
        said = isinstance(exc, StoreUnreadable)  # (its own words name the store)
        backups_error = str(exc) if said else f"cannot read the backup store: {exc}"
    facts = Facts(
        target.name,
        target.name in _production(cfg, target),
        report,
        files_error,
        audit,
        lock,
        backups,
        backups_error,
        _lock_here(lock),
        read_only,
        _store_unwritable(target.backup_dir),
        others,
        open_to_anon,
        earlier,
        pair_runs,
        seen,
    )
    health = evaluate(facts, cfg, now)
    took = time.perf_counter() - started
    return dataclasses.replace(
        health,
        seconds=took,
        database=target_database(target),
        database_before=database_before_of(target.url),
    )


def _pairs_seen(cfg: MonitorConfig, now: datetime) -> PairsSeen | None:
    """For :attr:`Facts.pairs_seen`: when this user's `check` first saw each [sync.NAME] pair
    of the config, those seen now recorded (and those gone from it forgotten); None without
    a config file."""
    if cfg.config_file is None:
        return None
    from malnu_tui.engine.monitor.pairs_seen import pairs_seen

    return pairs_seen(
        cfg.config_file,
        cfg.sync_pairs,
        now,
        databases=dict(cfg.databases),
        before=dict(cfg.databases_before),
    )


def _other_histories(
    backend: Backend, mset: MigrationSet, report: StatusReport
) -> tuple[tuple[str, str], ...]:
    """For :attr:`Facts.other_histories`: what `status` warns of (wrangler's, the Supabase
    CLI's and the other runners' rows `up` refuses until adopted), as (whose, its words)."""
    from malnu_tui.engine.histories import read_other_histories

    notes = read_other_histories(backend, mset, report).notes()
    return tuple((n.about, n.text) for n in notes if n.warning)


def _open_to_anon(target: Target, backend: Backend, public: frozenset[str]) -> OpenTables | None:
    """For :attr:`Facts.open_to_anon`: on a target :mod:`~malnu_tui.engine.supabase_target`
    takes for Supabase's (its live detection too), the tables of its exposed schemas with row
    level security off, and the views reading such rows as their owner, that anon or
    authenticated may read or write, but the ``public`` ones (one catalog query); None
    elsewhere."""
    from malnu_tui.engine.supabase_target import exposed_open_tables, supabase_of

    conn = getattr(backend, "conn", None)
    if target.kind != "postgresql" or conn is None:
        return None
    supabase = supabase_of(target, "postgresql", backend)
    if supabase is None:
        return None
    return exposed_open_tables(conn, supabase, public, str(getattr(backend, "schema", "")))


def _production(cfg: MonitorConfig, target: Target) -> frozenset[str]:
    if target.options.get("production") is True:
        return cfg.production | {target.name}
    return cfg.production


def run_checks(
    targets: Sequence[Target],
    cfg: MonitorConfig,
    now: datetime | None = None,
    *,
    sums: FileSums | None = None,
) -> CheckReport:
    """Check every target, each in a thread of its own (each waits on its own server), until
    ``check_timeout_seconds``: a target that has not answered by then is UNKNOWN, saying what
    it was doing. Its thread is left behind (a daemon: it ends with the process). A server
    that lets a client in and never answers (a stuck server, a pooler out of server
    connections) held `check` for ever, and a cron job every minute piled up behind it.

    The rollback files' checksums (the "edited since applied" warning) are those kept by
    earlier runs (``sums``, else the user cache dir's: :mod:`malnu_tui.engine.file_sums`), a
    file read only when it changed: a timer's run over 10,000 applied migrations read them
    all every minute."""
    import threading

    from malnu_tui.engine.file_sums import stored_sums

    now = now or datetime.now(UTC)
    started = time.perf_counter()
    limit = cfg.check_timeout_seconds
    stages = [["starting"] for _ in targets]
    results: list[TargetHealth | BaseException | None] = [None] * len(targets)
    kept = sums if sums is not None else stored_sums(t.rollback_dir for t in targets)
    notes: tuple[str, ...] = ()
    with contextlib.suppress(Exception):  # (whatever fails there is said per target)
        # Once before the targets: a damaged pairs file, started afresh, said once.
        seen = _pairs_seen(cfg, now)
        notes = (seen.damaged,) if seen is not None and seen.damaged else ()

    def one(i: int, target: Target) -> None:
        try:
            results[i] = check_target(target, cfg, now, stage=stages[i], sums=kept)
        except Exception as exc:
            # What no check expected (a bug, a fact of a form never met): this target UNKNOWN,
            # saying it; the others checked. It ended the whole run, every target's health
            # lost to one target's audit row.
            said = " ".join(str(exc).split()) or type(exc).__name__
            why = f"check failed unexpectedly: {type(exc).__name__}: {said}"
            results[i] = _unknown(target, why, started)
        except BaseException as exc:  # Ctrl-C, SIGTERM: raised in the caller's thread
            results[i] = exc

    threads = [
        threading.Thread(target=one, args=(i, t), name=f"check {t.name}", daemon=True)
        for i, t in enumerate(targets)
    ]
    for th in threads:
        th.start()
    for th in threads:
        th.join(None if limit <= 0 else max(0.0, started + limit - time.perf_counter()))
    if sums is None:
        kept.save()
    healths: list[TargetHealth] = []
    for target, result, stage in zip(targets, results, stages, strict=True):
        if isinstance(result, BaseException):
            raise result
        health = (
            result
            if result is not None
            else _unknown(
                target,
                f"no answer within {limit:g} s ([monitor] check_timeout_seconds) while "
                f"{stage[0]}: the database (or the way to it) has stopped answering",
                started,
            )
        )
        named = (named_fields(p, target.again, "message") for p in health.problems)
        healths.append(dataclasses.replace(health, problems=tuple(named)))
    return CheckReport(tuple(healths), format_time(now), notes)


def _read_only(backend: Backend, path: Path | None) -> tuple[str, str] | None:
    """For :attr:`Facts.read_only`: on PostgreSQL, a hot standby or a read-only session (the
    target's own role and database, as `up` would meet them); a SQLite file (``path``) on a
    file system mounted read-only; else None."""
    conn = getattr(backend, "conn", None)
    if path is not None:
        how = _mounted_read_only(path.parent)
        return None if how is None else ("on a file system mounted read-only", how)
    if backend.kind != "postgresql" or conn is None:
        return None
    from malnu_tui.engine.backends.pg_refusals import read_only_state

    return read_only_state(conn)


def _store_unwritable(store: Path) -> tuple[str, str] | None:
    """For :attr:`Facts.store_read_only`: why no backup can be written to ``store``, and what
    to do; None when nothing says so. A file where a folder of its path should be (a
    ``MALNU_BACKUP_DIR`` naming a file) failed every backup while `check` said "writable OK"."""
    for p in (store, *store.parents):
        try:
            if p.is_file():
                return (
                    f"cannot be made: {p} is a file, not a directory",
                    "set [backup] dir (or a target's backup_dir, or MALNU_BACKUP_DIR) to a "
                    "directory, or move that file away",
                )
            if p.exists():
                break
        except OSError:  # (a folder this user may not enter: a monitoring user's `check`, the
            break  # store 0700 the backup user's; PermissionError ended the check of all)
    how = _mounted_read_only(store)
    return None if how is None else ("is on a file system mounted read-only", how)


def _mounted_read_only(folder: Path) -> str | None:
    """What to do when ``folder`` (or, missing, its nearest parent) is on a file system
    mounted read-only (ext4's ``errors=remount-ro`` after I/O errors); None when it is not.
    A mount's flag, whoever checks (a monitoring user may well read only)."""
    import os

    for p in (folder, *folder.parents):
        try:
            flags = os.statvfs(p).f_flag
        except OSError:
            continue
        if not flags & os.ST_RDONLY:
            return None
        return (
            f"the file system of {p} is read-only: once its disk's errors are dealt with, "
            "remount it read-write (`mount -o remount,rw`)"
        )
    return None


def _lock_here(lock: LockHolder | None) -> str | None:
    """For :attr:`Facts.lock_here`: "running", why the holder is gone, or None (elsewhere)."""
    from malnu_tui.engine.backends.base import lock_host
    from malnu_tui.engine.backends.lease import pid_alive

    if lock is None or lock.host != lock_host():
        return None
    return "running" if pid_alive(lock.pid) else f"pid {lock.pid} is not running"
