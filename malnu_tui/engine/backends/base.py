"""The one small protocol every database kind implements (dbmate's shape): the migration
logic is written once above it in :mod:`malnu_tui.engine.migrate`."""

from __future__ import annotations

import functools
import getpass
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

from malnu_tui.engine.errors import LockHolder

if TYPE_CHECKING:
    from malnu_tui.engine.sqlsplit import Statement

TRACKING_TABLE = "migrations"
AUDIT_TABLE = "malnu_audit"
LOCK_TABLE = "malnu_lock"
# The audit table's index on (action, id): check/history read the newest runs every minute
# (``WHERE action = 'run' ORDER BY id DESC``); without it a scan of the whole table (on D1,
# billed by rows read). Added where the tool makes or upgrades its tables, never by a read.
AUDIT_INDEX = "malnu_audit_action_id"
# And on (action, object, id) and (action, object, outcome, id): ``check`` reads each
# configured sync pair's newest run and newest success (``WHERE action = 'run' AND object =
# 'sync a->b' [AND outcome = 'ok'] ORDER BY id DESC LIMIT 1``); by the (action, id) index alone
# a pair that never ran, or never completed, was a walk of every run row, and by (action,
# object, id) alone its success a walk of its own runs, a million failed ones a cron line
# refused every minute for two years (SQLite: ~1 s per pair and check at a million). Made and
# upgraded as AUDIT_INDEX.
AUDIT_OBJECT_INDEX = "malnu_audit_action_object_id"
AUDIT_OUTCOME_INDEX = "malnu_audit_action_object_outcome_id"
# An audit index an upgrade could not make (D1 stopped its build at its 30 s, a role that does
# not own the audit table): the command goes on without it (it only speeds ``check`` up), and
# the shell says it once (:func:`unsaid_upgrades`). Every command failed on it, for ever. Kept
# with the thread that met it: the console says it on the result of the worker that did (a
# status read finishing meanwhile took it, and it was said nowhere).
_UNSAID_UPGRADES: list[tuple[int, str]] = []
# More of :meth:`Backend.read_audit`'s conditions: (column, value) pairs, a column of these only
# (never a name from input); ``check`` finds a sync pair's last completion beyond its window so.
AuditWhere = tuple[tuple[Literal["object", "outcome"], str], ...]
AUDIT_WHERE_COLUMNS = ("object", "outcome")
LEASE_SECONDS = 600


_LAST_SECOND: list[tuple[int, str]] = [(-1, "")]


def utc_now() -> str:
    """UTC time as ``YYYY-MM-DD HH:MM:SS`` (SQLite's CURRENT_TIMESTAMP form). Formatted once
    per second: an ``up`` of many small migrations asks several times per migration."""
    second = int(time.time())
    last, text = _LAST_SECOND[0]
    if second != last:
        text = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%d %H:%M:%S")
        _LAST_SECOND[0] = (second, text)
    return text


@functools.cache
def hostname() -> str:
    """This machine's name, as ``socket.gethostname()`` gives it (``uname`` where there is
    one: the CLI's start-up then does not import ``socket``)."""
    if hasattr(os, "uname"):
        return os.uname().nodename
    import socket

    return socket.gethostname()


_INIT_PID_NAMESPACE = "pid:[4026531836]"  # the kernel's first pid namespace (PROC_PID_INIT_INO)


@functools.cache
def lock_host() -> str:
    """The host a lock row names, and against which a holder's pid is looked up: this
    machine's name, and, in a pid namespace of its own (a container: `docker run --network
    host` keeps the machine's name), that namespace too. A pid means something only in its
    own namespace: a holder in another one is judged by its lease, never by a pid looked up
    here."""
    name = hostname()
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        return name
    return name if namespace == _INIT_PID_NAMESPACE else f"{name}/{namespace}"


@functools.cache
def actor() -> str:
    """``user@host`` of the operator running this process (read once: every audit row asks)."""
    try:
        user = getpass.getuser()
    except Exception:  # no passwd entry in some containers
        user = os.environ.get("USER", "unknown")
    return f"{user}@{hostname()}"


def lock_holder_for_this_process(purpose: str = "") -> LockHolder:
    """The lock holder this process writes (``engine.migrate`` re-exports it; the sync takes
    it from here, which spares its start-up the import of the migration engine)."""
    return LockHolder(
        owner=actor(),
        host=lock_host(),
        pid=os.getpid(),
        acquired_at=utc_now(),
        note=purpose,
    )


@dataclass(frozen=True)
class TrackingRecord:
    """One row of the seed's ``migrations`` table."""

    filename: str
    checksum: str
    executed_at: str | None
    execution_time_ms: int | None
    success: bool
    error_message: str | None


@dataclass(frozen=True)
class AuditEntry:
    """One row of the audit trail."""

    at: str
    actor: str
    action: str  # apply, rollback, repair, clear-failed, unlock, backup, restore, recover…
    object: str
    outcome: str  # ok, failed, refused
    detail: str = ""
    id: int | None = None

    @staticmethod
    def now(action: str, obj: str, outcome: str, detail: str = "") -> AuditEntry:
        return AuditEntry(utc_now(), actor(), action, obj, outcome, detail)


def audit_row_held(backend: Backend, row: AuditEntry) -> bool:
    """Whether the live database holds ``row``, an audit row written in the same unit as a
    change (a restore's, an import's): then that change has committed, whatever stopped the
    command as it did. False when the database cannot tell (gone, its session broken)."""
    wanted = (row.at, row.actor, row.object, row.outcome, row.detail)
    try:
        found = backend.read_audit(limit=50, action=row.action)
    except Exception:
        return False
    return any((e.at, e.actor, e.object, e.outcome, e.detail) == wanted for e in found)


@dataclass(frozen=True)
class RecordApplied:
    """Tracking change: the migration succeeded (insert, or update a failed row)."""

    filename: str
    checksum: str


@dataclass(frozen=True)
class RemoveRecord:
    """Tracking change: the migration was rolled back (its row is deleted, as in the seed)."""

    filename: str


TrackingChange = RecordApplied | RemoveRecord
Kind = Literal["sqlite", "postgresql", "d1"]


class Backend(Protocol):
    """A connection to one target database."""

    kind: Kind
    display_url: str  # secrets masked
    name: str  # short database name for confirmations (file stem, db name, database id)

    def close(self) -> None: ...

    def ensure_schema(self) -> None:
        """Create (or adopt) the tracking, audit and lock tables."""

    def fetch_records(self) -> list[TrackingRecord]: ...

    def run_unit(
        self,
        filename: str,
        statements: Sequence[Statement],
        change: TrackingChange,
        audit: AuditEntry,
    ) -> int:
        """Run ``statements``, the tracking ``change`` and the ``audit`` row in ONE transaction.

        Returns the statements' execution time in ms (also stored in the tracking row). On a
        failing statement everything is rolled back and :class:`StatementFailed` raised.
        """

    def record_failure(
        self, filename: str, checksum: str, error: str, elapsed_ms: int, audit: AuditEntry
    ) -> None:
        """Upsert a success = FALSE row with the error, and the audit row."""

    def set_checksum(
        self, filename: str, checksum: str, audit: AuditEntry, rename_to: str | None = None
    ) -> None:
        """``repair``: record ``checksum`` (and the file's new name ``rename_to``, for a file
        renamed after it ran) in ``filename``'s row, with the audit row, in one unit."""

    def delete_record(self, filename: str, audit: AuditEntry) -> None: ...

    def append_audit(self, entry: AuditEntry) -> None: ...

    def read_audit(
        self, limit: int = 200, action: str | None = None, *, where: AuditWhere = ()
    ) -> list[AuditEntry]:
        """The newest ``limit`` audit rows (of ``action``, and each ``where``'s column equal
        to its value: ``(("object", "sync a->b"), ("outcome", "ok"))``), newest first."""

    def peek_audit(
        self, limit: int = 200, action: str | None = None, *, where: AuditWhere = ()
    ) -> list[AuditEntry]:
        """:meth:`read_audit` of the table as it is, creating nothing (none where it is not
        there) and upgrading nothing: what a preview or a dry run reads."""

    def acquire_lock(self, holder: LockHolder) -> None:
        """Take the migration lock or raise :class:`LockHeld` naming who has it."""

    def renew_lock(self) -> None: ...

    def release_lock(self) -> None: ...

    def read_lock(self) -> LockHolder | None: ...

    def force_unlock(self, audit: AuditEntry) -> LockHolder | None:
        """Release a lock left by another (dead) session; returns who held it."""

    def table_names(self) -> list[str]:
        """User tables (tool tables excluded), sorted."""

    def row_count(self, table: str) -> int: ...

    def schema_fingerprint(self) -> str:
        """sha256 of the normalised schema, for backup manifests. (SQLite and D1 take the
        names rule of an older manifest: ``schema_fingerprint(sqlite_sql.names_rule(v))``.)"""


@runtime_checkable
class GroupCommits(Protocol):
    """A backend whose migrations can share one durable COMMIT (a local SQLite file): between
    ``begin_group`` and ``commit_group`` each ``run_unit`` is still all or nothing (a
    savepoint), and only the group's COMMIT makes them durable (engine/apply.py)."""

    def begin_group(self) -> None: ...

    def commit_group(self) -> None:
        """COMMIT; on failure everything of the group is rolled back and
        :class:`GroupCommitFailed` raised. Nothing to do when no group is open."""

    def rollback_group(self) -> None: ...

    def has_deferred_checks(self) -> bool:
        """Whether some constraint is checked only at COMMIT (then no grouping)."""


def index_left(text: str) -> None:
    """Note that an upgrade of the tool's tables went on without an audit index (``text``:
    which, why, and the way out), for the shell to say (:func:`unsaid_upgrades`)."""
    left = (threading.get_ident(), text)
    if left not in _UNSAID_UPGRADES:
        _UNSAID_UPGRADES.append(left)


def unsaid_upgrades(*, thread: int | None = None) -> list[str]:
    """The audit indexes left unmade by this process's upgrades (:func:`index_left`), each
    said once by the shell that ran the command; ``thread``: those this thread's work left
    only (a console worker's)."""
    said: list[str] = []
    for left in list(_UNSAID_UPGRADES):
        if thread is None or left[0] == thread:
            _UNSAID_UPGRADES.remove(left)
            if left[1] not in said:
                said.append(left[1])
    return said
