"""The rehearsal: the guide's "tested in staging first", with production's own data. The
newest verified backup of a target (or the one named) is restored into a scratch database
with the backup module's own verify and restore, the pending migrations are applied there one
transaction each, and each one's time, rows touched, failure and lint findings are reported.
The scratch is dropped; the target itself is never written to."""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from malnu_tui.engine.errors import ConfigError, StatementFailed
from malnu_tui.engine.lint.model import Finding
from malnu_tui.engine.sqlsplit import Statement

if TYPE_CHECKING:
    from malnu_tui.engine.backends.base import Backend
    from malnu_tui.engine.backup.store import BackupManifest, BackupProgressCallback
    from malnu_tui.engine.config import Target
    from malnu_tui.engine.files import MigrationSet

__all__ = ["RehearsalReport", "RehearsedMigration", "choose_backup", "rehearse"]


@dataclass(frozen=True)
class RehearsedMigration:
    filename: str
    ran: bool
    ok: bool
    ms: int = 0
    rows: int = 0
    error: str | None = None
    line: int | None = None
    statement: str | None = None
    findings: tuple[Finding, ...] = ()

    def describe(self) -> str:
        if not self.ran:
            return f"- {self.filename}: not run (an earlier migration failed)"
        if not self.ok:
            took = f" (after {self.ms} ms)"
            return f"✘ {self.filename}: failed at line {self.line}: {self.error}{took}"
        lint = f", {len(self.findings)} lint finding(s)" if self.findings else ""
        return f"✔ {self.filename}: {self.ms} ms, {self.rows} row(s) affected{lint}"

    def as_json(self) -> dict[str, object]:
        return {
            "filename": self.filename,
            "ran": self.ran,
            "ok": self.ok,
            "ms": self.ms,
            "rows": self.rows,
            "error": self.error,
            "line": self.line,
            "statement": self.statement,
            "findings": [f.as_json() for f in self.findings],
        }


@dataclass(frozen=True)
class RehearsalReport:
    target: str
    backup_id: str
    backup_created_at: str
    data_age_seconds: float
    where: str
    restore_seconds: float
    migrations: tuple[RehearsedMigration, ...]
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return all(m.ok for m in self.migrations)

    @property
    def age_text(self) -> str:
        s = int(self.data_age_seconds)
        if s < 3600:
            return f"{s // 60} min"
        if s < 86400:
            return f"{s // 3600} h {s % 3600 // 60} min"
        return f"{s // 86400} d {s % 86400 // 3600} h"

    def summary(self) -> str:
        done = sum(1 for m in self.migrations if m.ok)
        total_ms = sum(m.ms for m in self.migrations)
        verdict = "all applied" if self.ok else "FAILED"
        what = (
            f"{done}/{len(self.migrations)} pending migration(s) applied in {total_ms} ms on "
            f"{self.where}: {verdict}"
            if self.migrations
            else "no pending migration (the backup has every one applied): nothing was run"
        )
        return (
            f"rehearsal of {self.target} on backup {self.backup_id} (data {self.age_text} old, "
            f"taken {self.backup_created_at}): {what}; the scratch was dropped, the target "
            "was not touched"
        )

    def as_json(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "target": self.target,
            "backup": {
                "id": self.backup_id,
                "created_at": self.backup_created_at,
                "age_seconds": round(self.data_age_seconds, 1),
            },
            "scratch": self.where,
            "restore_seconds": round(self.restore_seconds, 3),
            "notes": list(self.notes),
            "migrations": [m.as_json() for m in self.migrations],
        }


def choose_backup(target: Target, backup_id: str | None) -> BackupManifest:
    """The named backup, or the newest verified one of ``target``."""
    from malnu_tui.engine.backup import backups_of, find_backup

    if backup_id:
        return find_backup(target, backup_id)
    for manifest in backups_of(target)[0]:
        if manifest.verified or _rounded(manifest):
            return manifest
    raise ConfigError(
        f"target {target.name} has no verified backup to rehearse on (in {target.backup_dir})",
        hint="take one with `malnu-tui backup create`, or name one with --backup ID",
    )


# D1's export writes integers past 2**53 rounded (a 16-digit NIK stored as INTEGER): such a
# backup is never "verified" for a restore, but a rehearsal on it is still one, with a note.
_ROUNDED_CHECK = "integers exact"


def _rounded(manifest: BackupManifest) -> str:
    """The columns whose integers the backup holds rounded ("" when none)."""
    return str(manifest.details.get("unsafe_integers", "")) if manifest.target_kind == "d1" else ""


Runner = Callable[[str, Sequence[Statement]], tuple[int, int]]
D1_QUERY_SECONDS = 30  # D1's limit on one query's duration


def _units(
    target: Target, mset: MigrationSet, pending: list[str]
) -> dict[str, Sequence[Statement]]:
    from malnu_tui.engine.lint.target import dialect_of

    if target.kind == "postgresql" and dialect_of(target) == "sqlite":
        from malnu_tui.engine.translate import postgres_units

        units = postgres_units(mset, pending)
        units.require(pending, rollback=False)
        return {f: units.migrations[f] for f in pending}
    by_name = mset.by_filename()
    return {f: by_name[f].statements() for f in pending}


def _run_all(
    run: Runner, units: dict[str, Sequence[Statement]], lint: dict[str, tuple[Finding, ...]],
    progress: BackupProgressCallback,
) -> list[RehearsedMigration]:  # fmt: skip
    from malnu_tui.engine.backup.store import BackupProgress

    out: list[RehearsedMigration] = []
    failed = False
    for i, (filename, statements) in enumerate(units.items(), 1):
        found = lint.get(filename, ())
        if failed:
            out.append(RehearsedMigration(filename, False, False, findings=found))
            continue
        progress(BackupProgress("migrate", i - 1, len(units), f"applying {filename}"))
        started = time.perf_counter()
        try:
            ms, rows = run(filename, statements)
        except StatementFailed as exc:
            failed = True
            took = int((time.perf_counter() - started) * 1000)  # production's lock is held so long
            out.append(RehearsedMigration(filename, True, False, took, 0, exc.error, exc.line,
                                          exc.statement, found))  # fmt: skip
            continue
        out.append(RehearsedMigration(filename, True, True, ms, rows, findings=found))
    done = sum(1 for m in out if m.ok)
    if not units:  # ("pending migrations applied" when there were none)
        said = "no pending migration: the backup has every one applied"
    elif failed:
        said = f"stopped: {done} of {len(units)} applied"
    else:
        said = f"{done} pending migration(s) applied"
    progress(BackupProgress("migrate", len(units), len(units), said))
    return out


def rehearse(
    target: Target,
    mset: MigrationSet,
    *,
    backup_id: str | None = None,
    progress: BackupProgressCallback | None = None,
    slow_seconds: float = 30.0,
) -> RehearsalReport:
    """Restore a verified backup of ``target`` into a scratch database and apply the
    migrations the backup does not have there. Never writes to ``target``'s database. A
    migration slower than ``slow_seconds`` (``[monitor] slow_migration_seconds``) there is
    noted."""
    from malnu_tui.engine.backup import verify_backup
    from malnu_tui.engine.backup.core import data_path
    from malnu_tui.engine.backup.store import BackupCorrupt, BackupProgress, emitter
    from malnu_tui.engine.lint.target import lint_target

    emit = emitter(progress)
    manifest = choose_backup(target, backup_id)
    if manifest.target_kind != target.kind:
        raise ConfigError(
            f"backup {manifest.id} is of a {manifest.target_kind} database; "
            f"target {target.name} is {target.kind}"
        )
    emit(BackupProgress("verify", 0, 0, f"verifying backup {manifest.id}"))
    report = verify_backup(target, manifest.id, progress=emit)
    if any(not c.ok and c.name != _ROUNDED_CHECK for c in report.checks):
        raise BackupCorrupt(manifest.id, report.problems)
    applied = set(manifest.applied_filenames)
    pending = [m.filename for m in mset.migrations if m.filename not in applied]
    units = _units(target, mset, pending)
    age = (datetime.now(UTC) - manifest.created).total_seconds()
    path = data_path(target, manifest)
    started = time.perf_counter()
    with _scratch(target, manifest, path, emit) as (where, backend, run):
        restore_s = time.perf_counter() - started
        lint = lint_target(target, mset, pending, backend, from_live_schema=True)
        by_file = {f: lint.for_file(f) for f in pending}
        results = _run_all(run, units, by_file, emit)
    notes = list(lint.notes)
    if not pending:
        notes.append(f"backup {manifest.id} already has every migration: nothing to rehearse")
    if rounded := _rounded(manifest):
        notes.append(
            f"backup {manifest.id} holds integers past 2**53 - 1 that D1's export rounds "
            f"({rounded}): the rehearsal ran on the rounded values, so a UNIQUE index or a "
            f"comparison on those columns may act otherwise than on {target.name}"
        )
    notes.extend(_applied_since(target, manifest, pending))
    notes.extend(_slow(target, results, slow_seconds))
    return RehearsalReport(
        target.name, manifest.id, manifest.created_at, age, where, restore_s,
        tuple(results), tuple(notes),
    )  # fmt: skip


def _slow(target: Target, results: list[RehearsedMigration], seconds: float) -> list[str]:
    """A note per migration slower on the copy than ``seconds``: it holds the write lock (on
    PostgreSQL, its tables' locks) that long on production too, and D1 stops a query after
    30 s (a local copy is no slower than D1)."""
    out: list[str] = []
    for m in results:
        if not m.ok or m.ms <= seconds * 1000:
            continue
        note = (
            f"{m.filename} took {m.ms / 1000:.1f} s on the copy, over slow_migration_seconds "
            f"({seconds:g} s): on {target.name} the application's writes wait as long for it, "
            "and `check` warns of it afterwards"
        )
        if target.kind == "d1" and m.ms > D1_QUERY_SECONDS * 1000:
            note += f"; D1 stops a query after {D1_QUERY_SECONDS} s, so it may fail there"
        out.append(note)
    return out


def _applied_since(target: Target, manifest: BackupManifest, pending: list[str]) -> list[str]:
    """A note when production applied some of ``pending`` after the backup was taken: the
    rehearsal runs them again, on data older than production's, and counts them as pending.
    Production is read only (as ``check`` reads it); unreachable, it is not mentioned."""
    from malnu_tui.engine.config import open_backend
    from malnu_tui.engine.errors import MalnuError

    if not pending:
        return []
    try:
        backend = open_backend(target, read_only=True)
        try:
            records = backend.fetch_records()
        finally:
            backend.close()
    except (MalnuError, OSError, sqlite3.Error):
        return []
    applied = {r.filename for r in records if r.success}
    since = [f for f in pending if f in applied]
    if not since:
        return []
    left = len(pending) - len(since)
    return [
        f"backup {manifest.id} predates {len(since)} migration(s) that {target.name} has "
        f"applied since ({', '.join(since)}): the rehearsal runs them again, on older data, "
        f"and only {left} of its {len(pending)} are pending on {target.name}; take a fresh "
        "backup (`malnu-tui backup create`) to rehearse those on today's data"
    ]


@contextlib.contextmanager
def _scratch(
    target: Target, manifest: BackupManifest, path: Path, emit: BackupProgressCallback
) -> Iterator[tuple[str, Backend, Runner]]:
    """(where, a backend on the scratch for the lint's live checks, a runner) of a scratch
    database holding the backup's data; removed on exit."""
    if target.kind == "postgresql":
        with _postgres_scratch(target, manifest, path, emit) as got:
            yield got
        return
    from malnu_tui.engine.backends.sqlite import SQLiteBackend
    from malnu_tui.engine.backup.method import method_for
    from malnu_tui.engine.backup.store import BackupProgress
    from malnu_tui.engine.scratch import SQLiteScratch
    from malnu_tui.engine.urls import sqlite_url

    tmp = _temp_dir(emit)
    try:
        _check_room(tmp, manifest)
        db = tmp / "rehearsal.db"
        backend = SQLiteBackend(db)
        try:
            emit(BackupProgress("restore", 0, 0, f"restoring backup {manifest.id} into {db}"))
            if target.kind == "d1":  # D1's export, loaded into a local SQLite file
                from malnu_tui.engine.backends.d1.dumpfile import load_dump

                try:
                    refused = load_dump(path, backend.conn)
                except (sqlite3.Error, OSError) as exc:
                    refused = f"the export does not load into SQLite: {exc}"
                if refused:
                    raise ConfigError(f"backup {manifest.id}: {refused}")
            else:
                scratch_target = replace(target, url=sqlite_url(db), backup_dir=path.parent)
                method_for("sqlite").restore(backend, scratch_target, path, manifest, emit)
            scratch = SQLiteScratch(db, d1=target.kind == "d1")
            try:
                yield f"scratch SQLite file {db}", backend, scratch.run
            finally:
                scratch.close()
        finally:
            backend.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# The SQLite / D1 scratch is a temp folder naming its process and host: one a rehearsal killed
# outright left (SIGKILL, the OOM killer), a whole copy of production's data in the temp folder
# for ever (and a full /tmp refusing the next rehearsals), is removed by the next one.
def _temp_dir(emit: BackupProgressCallback) -> Path:
    from malnu_tui.engine.backup.store import BackupProgress
    from malnu_tui.engine.left_behind import temp_dir

    tmp, said = temp_dir("rehearse")
    for line in said:
        emit(BackupProgress("restore", 0, 0, line))
    return tmp


def _check_room(tmp: Path, manifest: BackupManifest) -> None:
    """:class:`BackupError` before anything is copied when the temp folder has no room for
    the scratch database (a 5 GB school database, a /tmp that is a 1 GB tmpfs): it failed
    half-way with "database or disk is full" and a hint about write locks."""
    from malnu_tui.engine.backup.store import BackupError

    free = shutil.disk_usage(tmp).free
    if free < manifest.size:
        mib = 1024 * 1024
        raise BackupError(
            f"the rehearsal's scratch copy of backup {manifest.id} ({manifest.size / mib:.1f} "
            f"MiB) does not fit in {tmp.parent} ({free / mib:.1f} MiB free); nothing was done",
            hint="point TMPDIR at a disk with room for it, e.g. "
            "`TMPDIR=/var/tmp malnu-tui rehearse`",
        )


@contextlib.contextmanager
def _postgres_scratch(
    target: Target, manifest: BackupManifest, path: Path, emit: BackupProgressCallback
) -> Iterator[tuple[str, Backend, Runner]]:
    """A scratch database on the target's server (needs CREATEDB), restored with pg_restore
    as ``backup restore`` does, dropped on exit; one a rehearsal killed outright left is
    dropped first (:func:`~malnu_tui.engine.backup.pg_tools.drop_left_behind`)."""
    from malnu_tui.engine.backends.postgresql import open_target
    from malnu_tui.engine.backup.method import method_for
    from malnu_tui.engine.backup.pg_tools import (
        create_scratch_database,
        drop_left_behind,
        drop_scratch,
        scratch_database_name,
        with_dbname,
    )
    from malnu_tui.engine.backup.store import BackupProgress
    from malnu_tui.engine.scratch_pg import pg_run

    name = scratch_database_name("rehearse")
    admin = open_target(target)
    try:
        for said in drop_left_behind(admin):
            emit(BackupProgress("restore", 0, 0, said))
        try:
            create_scratch_database(admin, name)
        except Exception as exc:
            raise ConfigError(
                f"cannot create the scratch database {name} on {admin.display_url}: {exc}",
                hint="the rehearsal needs a role with CREATEDB on the target's server",
            ) from None
        scratch_target = replace(target, url=with_dbname(target.url, name))
        try:
            backend = open_target(scratch_target)
            try:
                emit(BackupProgress("restore", 0, 0, f"restoring {manifest.id} into {name}"))
                method_for("postgresql").restore(backend, scratch_target, path, manifest, emit)

                def run(filename: str, statements: Sequence[Statement]) -> tuple[int, int]:
                    return pg_run(backend, filename, statements)

                yield f"scratch database {name} on {admin.display_url}", backend, run
            finally:
                backend.close()
        finally:
            drop_scratch(admin, name)
    finally:
        admin.close()
