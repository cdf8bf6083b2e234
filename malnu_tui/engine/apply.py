"""Running the steps of a plan under the lock: one transaction per file, or, for an ``up`` on
a SQLite file, consecutive quick migrations sharing one durable COMMIT (group commit, as
Alembic's one transaction per run and Flyway's ``group`` do, bounded in time).

In a group every migration is still all or nothing with its tracking and audit rows (its own
savepoint), and nothing is reported applied before the COMMIT that made it durable: the
"done" events of a group go out after its COMMIT. A group ends when :data:`GROUP_SECONDS`
have passed since it began, before a migration that must run alone (see :func:`unit_kind`),
before one that may run long, and at the end. If a group's COMMIT fails, all of it was rolled
back and its migrations run again one per transaction, which names the one at fault.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NoReturn

from malnu_tui.engine.backends.base import (
    AuditEntry,
    Backend,
    GroupCommits,
    RecordApplied,
    RemoveRecord,
)
from malnu_tui.engine.errors import (
    NO_SCHEMA_ON_PATH,
    BackendError,
    ConfigError,
    GroupCommitFailed,
    LockLost,
    MalnuError,
    StatementFailed,
)
from malnu_tui.engine.filestatements import lacks_text, lacks_verb
from malnu_tui.engine.plan import PlanStep
from malnu_tui.engine.sqlsplit import Statement

# A group commits once this much time has passed since it began. 0.1 s is what progress lines
# may already be late (cli/paced.py), so grouping adds no visible delay; it is ~30 fsyncs a
# second instead of one per migration, and a kill loses at most this much finished work (not
# yet reported) besides the migration running. MALNU_UP_GROUP_MS overrides it; 0 = one
# durable COMMIT per migration.
GROUP_SECONDS = 0.1
GROUP_ENV = "MALNU_UP_GROUP_MS"


@dataclass(frozen=True)
class Progress:
    """A progress event for callers (CLI lines, TUI progress bars). ``done`` is sent once the
    migration is durable (after the COMMIT that holds it)."""

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
    warnings: tuple[str, ...] = ()  # after the run was done (its lock row could not go)

    def as_json(self) -> dict[str, object]:
        """``up --json`` (``{"applied", "skipped", "backup_id"}``) or ``rollback --json``
        (``rolled_back``), each done file ``{"filename", "execution_time_ms"}``."""
        return {
            "applied" if self.direction == "up" else "rolled_back": [
                {"filename": f, "execution_time_ms": ms} for f, ms in self.done
            ],
            "skipped": list(self.skipped),
            "backup_id": self.backup_id,
        }


# A baseline dumped from a database the tool worked on re-creates its tables (the tracking
# table's own CREATE is skipped: engine/sqltemplate.py; these are the others).
# SQLite's and D1's words; PostgreSQL's in any language by its SQLSTATE (duplicate_table) and
# the name it quotes ("Relation »malnu_audit« existiert bereits").
_TOOL_TABLE_EXISTS = re.compile(
    r"(?:table|relation) \W?(?:\w+\.)?(?:malnu_audit|malnu_lock)\W? already exists"
    r"|(?<![\w$])(?:malnu_audit|malnu_lock)(?![\w$])[^\n]*\[SQLSTATE 42P07\]"
)


# SQLITE_FULL, SQLITE_IOERR (a full disk, a quota, a file-size limit, a failing device);
# PostgreSQL's disk_full and io_error.
_DISK = re.compile(r"database or disk is full|disk I/O error|\[SQLSTATE (?:53100|58030)\]")

# Failures the file is not at fault for, by the words the database said them with, and what
# to do instead of "fix the file": (pattern, hint), the first that matches.
_NOT_THE_FILE: tuple[tuple[re.Pattern[str], str], ...] = (
    (  # lock_timeout
        re.compile(r"\[SQLSTATE 55P03\]"),
        "another session held a lock this needs (the sessions are named above, where any "
        "still hold one): run it again once they end, or raise the file's SET lock_timeout",
    ),
    (  # the role's search_path names no schema (backends/pg_sql.py says so)
        re.compile(r"search_path \(.*" + re.escape(NO_SCHEMA_ON_PATH)),
        "the file may well be right: the role's (or database's) search_path points at no "
        "schema, so its unqualified names resolve nowhere: `ALTER ROLE … RESET search_path;` "
        "(or SET search_path at the file's top), then run it again",
    ),
    (
        re.compile(r"statement timeout \[SQLSTATE 57014\]"),
        "the file may well be right: a statement ran past statement_timeout (the target's "
        "`statement_timeout` option, or the file's own SET): raise it for this migration (`SET "
        "statement_timeout = '30min';` at the file's top, or the target's option), then run it "
        "again",
    ),
    (
        _DISK,
        "the disk where the database lives is full (or failing), not the file at fault: free "
        "space there (`df -h`), then run it again",
    ),
    (  # insufficient_privilege (the role and the owner are named by backends/pg_sql.py)
        re.compile(r"\[SQLSTATE 42501\]"),
        "the file may well be right: the tool's role may not do this here (it does not own the "
        "object, lacks a GRANT, or a row level security policy refuses it): connect as the "
        "objects' owner (or start the file with `SET ROLE owner;`, the tool's role a member of "
        "it), or have the owner `ALTER … OWNER TO` or GRANT it to this role, then run it again",
    ),
)

# Failures of the file whose cure is not to fix the failing statement where it stands.
_FILE_HINTS: tuple[tuple[re.Pattern[str], str], ...] = (
    (  # D1 stopped the migration's request at its 30 s (backends/d1/answers.py)
        re.compile(r"exceeded timeout which caused object to be reset|exceeded its CPU time"),
        "D1 allows a request 30 s and a migration goes to it as one request: split it into "
        "batches, each well under 30 s (a data migration over many rows: a range of keys per "
        "file; an index on a large table in a file of its own)",
    ),
    (  # VACUUM, CREATE DATABASE, ALTER SYSTEM, REINDEX SCHEMA… (active_sql_transaction)
        re.compile(r"\[SQLSTATE 25001\]"),
        "the statement runs only outside a transaction, and each migration runs in one with "
        "its tracking row: take it out of the migration and run it by hand (VACUUM: leave it "
        "to autovacuum); an index build or drop may be a file of CREATE/DROP INDEX "
        "CONCURRENTLY alone, which runs outside one",
    ),
    (
        re.compile(r"cannot VACUUM from within a transaction|cannot ATTACH database within"),
        "SQLite runs it only outside a transaction, and each migration runs in one with its "
        "tracking row: take it out of the migration and run it by hand",
    ),
    (  # unsafe_new_enum_value_usage
        re.compile(r"\[SQLSTATE 55P04\]"),
        "PostgreSQL lets a value that ALTER TYPE … ADD VALUE adds be used only once that "
        "transaction commits: keep the ADD VALUE here and move what uses the value into a later "
        "migration",
    ),
)


class MigrationFailed(MalnuError):
    """A migration (or rollback) failed: nothing of it was left behind, unless the failure
    says what was (``StatementFailed.left``)."""

    def __init__(
        self,
        failure: StatementFailed,
        direction: str,
        done: list[tuple[str, int]],
        unrecorded: str | None = None,
    ):
        verb = "migration" if direction == "up" else "rollback"
        if failure.left:
            outcome, hint = failure.left, "run it again to finish it, once what blocked it is gone"
        elif known := next((h for p, h in _NOT_THE_FILE if p.search(failure.error)), None):
            # (a SQLite file's full disk says which disk: its temporary directory, or the
            # database's, with the room left: backends/sqlite_open.disk_hint)
            disk = failure.hint if _DISK.search(failure.error) else None
            outcome, hint = "all of it was rolled back", disk or known
        elif direction == "up" and _TOOL_TABLE_EXISTS.search(failure.error):
            outcome = "all of it was rolled back"
            hint = (
                "the file creates the tool's own tables (a `sqlite3 .dump` or `pg_dump` of a "
                "database the tool worked on?): leave them out, e.g. `sqlite3 app.db '.dump "
                "users kelas …'` names the tables to dump"
            )
        elif direction == "up":
            outcome = "all of it was rolled back"
            hint = "fix the file and run again; the tracking row records the error"
            if specific := next((h for p, h in _FILE_HINTS if p.search(failure.error)), None):
                hint = f"{specific}; the tracking row records the error"
        else:
            outcome = "all of it was rolled back"
            hint = "the database is as it was before this rollback file"
            if specific := next((h for p, h in _FILE_HINTS if p.search(failure.error)), None):
                hint = f"{hint}; {specific}"
        if unrecorded is not None and _DISK.search(failure.error):
            # A full disk refuses the failure's row too: that says nothing of the server.
            hint = f"{hint} (its failure could not be recorded either, for the same reason)"
        elif unrecorded is not None and not failure.left:
            # The failure could not be written either: the database itself went away (a
            # server stopped or restarted, the session ended) far likelier than a bad file.
            # That second error used to be all that was said ("the connection is lost").
            hint = (
                f"its failure could not be recorded either ({unrecorded}): the database "
                "stopped answering, not the file; once it answers, `malnu-tui status` shows "
                "what stands, then run it again"
            )
        super().__init__(
            f"{verb} {failure.filename} failed at line {failure.line}: {failure.error}; " + outcome,
            hint=hint,
        )
        self.failure = failure
        self.done = tuple(done)
        self.backup_id: str | None = None  # the run's safety backup, when one was taken

    def failed_json(self) -> dict[str, object]:
        """The failed file as ``--json`` reports it: ``{"filename", "line", "error"}``."""
        f = self.failure
        error = f.error + (f"; {f.left}" if f.left else "")
        return {"filename": f.filename, "line": f.line, "error": error}


def group_seconds() -> float:
    """The group bound: :data:`GROUP_SECONDS`, or ``$MALNU_UP_GROUP_MS`` (0 turns grouping
    off); a value that is not a whole number of ms from 0 to 60,000 is a :class:`ConfigError`."""
    text = os.environ.get(GROUP_ENV, "").strip()
    if not text:
        return GROUP_SECONDS
    if not text.isdigit() or int(text) > 60_000:
        raise ConfigError(
            f"{GROUP_ENV}={text!r}: not a whole number of milliseconds from 0 to 60000",
            hint="0 commits every migration on its own; unset it for the default (100)",
        )
    return int(text) / 1000


# -- which migrations may share a COMMIT --------------------------------------------------

GROUP, FIRST, ALONE = "group", "first", "alone"

# Statements that behave differently inside a savepoint of a longer transaction, or whose
# effect lasts until the COMMIT (PRAGMA defer_foreign_keys): their migration runs in its own
# transaction exactly as without grouping.
_ALONE_WORDS = (
    "PRAGMA",
    "VACUUM",
    "ATTACH",
    "DETACH",
    "SAVEPOINT",
    "RELEASE",
    "ROLLBACK",
    "BEGIN",
    "COMMIT",
    "END",
)
# Statements that may rewrite many existing rows: their migration starts a fresh group (it
# runs first, without a savepoint, so a big change keeps no savepoint journal and earlier
# migrations are not held back by it).
_LONG_WORDS = ("UPDATE", "DELETE", "REINDEX", "ANALYZE", "DROP TABLE")
_SELECT = re.compile(r"\bSELECT\b", re.IGNORECASE)
_DROP = re.compile(r"\bDROP\b", re.IGNORECASE)
_BIG_UNIT = 64 * 1024  # characters of SQL


def unit_kind(statements: Sequence[Statement]) -> str:
    """:data:`GROUP` (may share a group), :data:`FIRST` (may run long: starts a new group)
    or :data:`ALONE` (its own transaction, as without grouping)."""
    big = getattr(statements, "size", 0) > _BIG_UNIT  # a large file's, known without reading
    if big and lacks_verb(statements, *_ALONE_WORDS) and lacks_text(statements, "DEFERR"):
        return FIRST  # (it again: filestatements.py)
    kind = GROUP
    size = 0
    for st in statements:
        first = st.first_words
        # (plain substring tests first: a case-blind regex search of every statement of a
        # 50 MB seed file took 2.5 s)
        upper = st.text.upper()
        if first.startswith(_ALONE_WORDS) or "DEFERR" in upper:
            return ALONE
        size += len(st.text)
        if first.startswith(_LONG_WORDS) or (
            first.startswith(("INSERT", "REPLACE", "WITH", "ALTER"))
            and "SELECT" in upper
            and _SELECT.search(st.text)
        ):
            kind = FIRST
        elif first.startswith("ALTER") and _DROP.search(st.text):
            kind = FIRST  # DROP COLUMN rewrites the table
    return FIRST if size > _BIG_UNIT else kind


# -- running ------------------------------------------------------------------------------


class StepRunner:
    """Runs a plan's steps in order and keeps what was done; stops at the first failure with
    :class:`MigrationFailed` (the failed tracking row and audit row written first)."""

    def __init__(
        self, backend: Backend, direction: str, total: int, emit: ProgressCallback
    ) -> None:
        self.backend = backend
        self.direction = direction
        self.total = total
        self.emit = emit
        self.action = "apply" if direction == "up" else "rollback"
        self.done: list[tuple[str, int]] = []
        # Run but not reported yet: the open group's migrations, and the one running alone.
        self._group_ran: list[tuple[int, PlanStep, int]] = []
        self._running: list[tuple[int, PlanStep, int]] = []

    def run(self, steps: Sequence[PlanStep]) -> None:
        backend = self.backend
        bound = group_seconds() if self.direction == "up" else 0.0
        try:
            if (
                bound > 0
                and isinstance(backend, GroupCommits)
                and not backend.has_deferred_checks()
            ):
                self._grouped(backend, steps, bound)
            else:
                for i, step in enumerate(steps, 1):
                    self.one(i, step)
        except MigrationFailed:
            raise
        except BaseException:
            if isinstance(backend, GroupCommits):
                # Again (a second Ctrl-C may have cut the first short): what is read back
                # next must not include this connection's own uncommitted rows.
                backend.rollback_group()
            self._report_durable()
            raise

    def one(self, i: int, step: PlanStep) -> None:
        """The step in its own transaction; "done" once it is committed."""
        self.emit(Progress("start", i, self.total, step.filename))
        self._running.append((i, step, -1))
        try:
            ms = self.backend.run_unit(step.filename, step.statements, *self._rows(step))
        except StatementFailed as exc:
            self.fail(i, step, exc)
        self._done(i, step, ms)
        self._running.clear()  # after the report: an interrupt inside it reports it again
        self.backend.renew_lock()

    def _report_durable(self) -> None:
        """After an interrupt (Ctrl-C lands mostly in a COMMIT's fsync, and is raised as soon
        as the COMMIT returns): report the migrations run but not reported yet that are in
        the database all the same, read back from the tracking table, so that what was
        reported is exactly what is durable. The open group was rolled back before."""
        ran = [*self._group_ran, *self._running]
        self._group_ran.clear()
        self._running.clear()
        if not ran:
            return
        try:
            records = {r.filename: r for r in self.backend.fetch_records()}
        except Exception:  # the interrupt goes on; the next status tells
            return
        for i, step, ms in ran:
            rec = records.get(step.filename)
            if self.direction != "up":
                durable = rec is None
            else:
                durable = rec is not None and rec.success and rec.checksum == step.checksum
            if durable:
                elapsed = rec.execution_time_ms if rec and rec.execution_time_ms else 0
                self._done(i, step, ms if ms >= 0 else elapsed)

    def _rows(self, step: PlanStep) -> tuple[RecordApplied | RemoveRecord, AuditEntry]:
        change: RecordApplied | RemoveRecord = (
            RecordApplied(step.filename, step.checksum)
            if self.direction == "up"
            else RemoveRecord(step.filename)
        )
        return change, AuditEntry.now(self.action, step.filename, "ok", f"ran {step.file.name}")

    def _done(self, i: int, step: PlanStep, ms: int) -> None:
        # Reported first: a signal lands readily in the report (the CLI's writer waits on a
        # lock or a pipe), and what is counted must have been shown.
        self.emit(Progress("done", i, self.total, step.filename, elapsed_ms=ms))
        self.done.append((step.filename, ms))

    def fail(self, i: int, step: PlanStep, exc: StatementFailed) -> NoReturn:
        """Record the failure (tracking row for ``up``, audit row) and stop."""
        failure = StatementFailed(
            str(step.file.name), exc.line, exc.statement, exc.error, exc.left, hint=exc.hint
        )
        detail = f"line {exc.line}: {exc.error}" + (f"; {exc.left}" if exc.left else "")
        fail_audit = AuditEntry.now(self.action, step.filename, "failed", detail)
        unrecorded: str | None = None
        try:
            if self.direction == "up":
                self.backend.record_failure(step.filename, step.checksum, detail, 0, fail_audit)
            else:
                self.backend.append_audit(fail_audit)
        except BackendError as exc:  # not a lock lost or taken over: that one says itself
            unrecorded = str(exc)
        except LockLost as lost:  # (the failure may be the new holder's doing: said, not kept)
            lost.add_note(f"{step.filename} failed meanwhile, not recorded: {detail}")
            raise
        self.emit(Progress("failed", i, self.total, step.filename, message=detail))
        raise MigrationFailed(failure, self.direction, self.done, unrecorded) from None

    def _grouped(self, backend: GroupCommits, steps: Sequence[PlanStep], bound: float) -> None:
        group = self._group_ran  # run in the open group, not yet durable
        began = 0.0

        def commit() -> None:
            if not group:
                backend.commit_group()  # a group whose only migration failed: nothing open
                return
            try:
                backend.commit_group()
            except GroupCommitFailed:
                # All of the group was rolled back: run it again one per transaction, which
                # fails at (and names) the migration at fault.
                ran = group[:]
                group.clear()
                for i, step, _ms in ran:
                    self.one(i, step)
                return
            while group:  # each leaves the list once reported (see _report_durable)
                i, step, ms = group[0]
                self._done(i, step, ms)
                del group[0]
            self.backend.renew_lock()

        alone_only = False  # after a migration with deferred checks: no more groups
        try:
            for i, step in enumerate(steps, 1):
                kind = ALONE if alone_only else unit_kind(step.statements)
                if kind == ALONE:
                    commit()
                    self.one(i, step)
                    alone_only = alone_only or (
                        not lacks_text(step.statements, "DEFERR")
                        and any("DEFERR" in s.text.upper() for s in step.statements)
                    )
                    continue
                if group and (kind == FIRST or time.monotonic() - began >= bound):
                    commit()
                if not group:
                    backend.begin_group()
                    began = time.monotonic()
                self.emit(Progress("start", i, self.total, step.filename))
                try:
                    ms = self.backend.run_unit(step.filename, step.statements, *self._rows(step))
                except StatementFailed as exc:
                    commit()  # the migrations before it stay applied
                    self.fail(i, step, exc)
                group.append((i, step, ms))
                if time.monotonic() - began >= bound:
                    commit()
            commit()
        except BaseException:
            backend.rollback_group()  # interrupted: an open group leaves nothing behind
            raise
