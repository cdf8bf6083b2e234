"""D1's native restore points: Time Travel bookmarks, export to a SQL dump, import of a dump.

Plain functions over :class:`~malnu_tui.engine.backends.d1.backend.D1Backend`; the backup method
of D1 (:mod:`malnu_tui.engine.backends.d1.backup`) and the CLI build on them.

Both ways of putting data back (a bookmark restore, an import) replace the whole database, the
tool's own tables included. The audit trail is append-only, so rows written after the restore
point are carried over into the restored database, and the lock row of the session doing the
restore is put back; then the restore itself is audited with the bookmark that undoes it.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from malnu_tui.engine.backends import sqlite_sql as q
from malnu_tui.engine.backends.base import AuditEntry
from malnu_tui.engine.backends.d1.backend import D1Backend
from malnu_tui.engine.backends.d1.client import (
    D1Error,
    D1LimitExceeded,
    D1OutcomeUnknown,
    D1QueryError,
    D1Unavailable,
)
from malnu_tui.engine.backends.d1.dumpfile import (
    DumpCheck,
    check_dump,
    dump_statements,
    tables_first,
    within_statement_limit,
)
from malnu_tui.engine.backends.d1.errors import is_timeout
from malnu_tui.engine.backends.sqlite_sql import bind_literals
from malnu_tui.engine.clock import local_time_line, refuse_future
from malnu_tui.engine.errors import BackendError, ConfigError, LockHolder
from malnu_tui.engine.interrupts import HeldInterrupts, interrupts_held
from malnu_tui.engine.progress import BackupProgress, BackupProgressCallback, emitter
from malnu_tui.engine.sqltemplate import is_transaction_control

__all__ = [
    "TIME_TRAVEL_DAYS",
    "DumpCheck",
    "ExportResult",
    "ImportResult",
    "TimeTravelPlan",
    "TimeTravelRestore",
    "bookmark_at",
    "check_bookmark",
    "check_dump",
    "current_bookmark",
    "dump_statements",
    "export_dump",
    "import_dump",
    "plan_time_travel",
    "restore_bookmark",
]

TIME_TRAVEL_DAYS = 30  # 7 on the Workers Free plan
POLL_INTERVAL_S = 0.5
POLL_LIMIT = 1200  # polls before giving up on an export or import (10 minutes at 0.5 s)
_CARRY_CHUNK = 50  # audit rows per carry-over batch (well under D1's statement size limit)
_AUDIT_PAGE = 1_000  # audit rows read a request (D1 answers 50 MB at most)


@dataclass(frozen=True)
class ExportResult:
    """A SQL dump written by :func:`export_dump` and the bookmark it was taken at."""

    path: Path
    bookmark: str
    size: int
    sha256: str


@dataclass(frozen=True)
class TimeTravelRestore:
    """A bookmark restore: where the database is now, and the bookmark that undoes it."""

    bookmark: str
    previous_bookmark: str
    message: str
    carried_audit_rows: int = 0


@dataclass(frozen=True)
class ImportResult:
    """An import of a dump: the bookmark after it, and the bookmark that undoes it."""

    final_bookmark: str
    previous_bookmark: str
    num_queries: int
    carried_audit_rows: int = 0


@dataclass(frozen=True)
class TimeTravelPlan:
    """What ``recover --to TIME`` does on D1: restore this bookmark in place."""

    to: str
    bookmark: str
    current_bookmark: str
    database: str

    def describe(self) -> list[str]:
        """The plan as plain sentences, for the CLI and the TUI."""
        return [
            f"Recover D1 database {self.database} to {self.to} with Time Travel.",
            *self.steps(),
        ]

    def steps(self) -> list[str]:
        """The plan without its heading (``recover``'s own heading names the target)."""
        return [
            *filter(None, [local_time_line(self.to)]),
            f"1. Restore bookmark {self.bookmark} in place (data and schema as of then).",
            f"2. The current state stays reachable: bookmark {self.current_bookmark} "
            "(the restore prints and audits the exact bookmark that undoes it).",
            "The audit trail written since then is carried over; nothing else is kept.",
        ]

    def as_json(self) -> dict[str, object]:
        return {
            "to": self.to,
            "bookmark": self.bookmark,
            "current_bookmark": self.current_bookmark,
            "database": self.database,
        }


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


# -- bookmarks ------------------------------------------------------------------------------


# A bookmark as D1 hands them out (and as the API reference's example): four groups of
# lowercase hex digits, 8-8-8-32 ("Bookmarks are lexicographically sortable", Time Travel docs).
_BOOKMARK = re.compile(r"[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{32}")


def check_bookmark(text: str) -> str:
    """``text`` as a bookmark (surrounding blanks of a paste dropped); refused as bad input
    (exit 2, naming the value) before D1 is asked when it is not shaped like one."""
    bookmark = text.strip()
    if not _BOOKMARK.fullmatch(bookmark):
        raise ConfigError(
            f"{text!r} is not a D1 bookmark (4 groups of lowercase hex digits, 8-8-8-32, "
            "e.g. 00000085-0000024c-00004c6d-8e61117bf38d7adb71b934ebbf891683)",
            hint="`malnu-tui d1 bookmark --at TIME` prints the bookmark of a time",
        )
    return bookmark


def current_bookmark(backend: D1Backend) -> str:
    """The bookmark of the database as it is now."""
    result = backend.api.call("GET", "time_travel/bookmark")
    return str(result["bookmark"])


def bookmark_at(backend: D1Backend, when: datetime, *, now: datetime | None = None) -> str:
    """The bookmark of the database as it was at ``when`` (within the Time Travel window)."""
    now = now or datetime.now(UTC)
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    refuse_future(when, now, _iso(when))
    if when < now - timedelta(days=TIME_TRAVEL_DAYS):
        raise ConfigError(
            f"{_iso(when)} is older than D1 Time Travel reaches ({TIME_TRAVEL_DAYS} days; "
            "7 on the Workers Free plan)",
            hint="restore a backup (`malnu-tui backup restore ID`) instead",
        )
    result = backend.api.call("GET", "time_travel/bookmark", params={"timestamp": _iso(when)})
    return str(result["bookmark"])


def plan_time_travel(backend: D1Backend, when: datetime) -> TimeTravelPlan:
    """Resolve ``when`` to a bookmark, and note the current one; changes nothing."""
    return TimeTravelPlan(
        _iso(when), bookmark_at(backend, when), current_bookmark(backend), backend.name
    )


# -- carrying the audit trail (and our lock) across a whole-database replacement -------------


def _audit_rows(backend: D1Backend) -> list[dict[str, Any]]:
    """The whole audit trail, in pages: in one query, a long trail (a year of syncs) was more
    than D1 answers at once (50 MB), refused, taken for "no audit table", and nothing was
    carried. A refusal other than a missing table stops the restore before it is sent."""
    rows: list[dict[str, Any]] = []
    after, page = 0, _AUDIT_PAGE
    while True:
        try:
            got = backend.query(
                "SELECT id, at, actor, action, object, outcome, detail FROM malnu_audit "
                "WHERE id > ? ORDER BY id LIMIT ?",
                (after, page),
            )
        except D1LimitExceeded:
            if page == 1:
                raise
            page = max(1, page // 4)  # rows of long details: fewer a page
            continue
        except D1QueryError as exc:
            if "no such table" in str(exc):
                return []  # no audit table yet
            raise
        rows.extend(got)
        if len(got) < page:
            return rows
        after = int(got[-1]["id"])


def _carry_over(
    backend: D1Backend, before: Sequence[dict[str, Any]], lock: LockHolder | None
) -> int:
    """Re-insert the audit rows the restored database lacks, and put back the lock row the
    live database had (the restoring session's, normally): both are live state, not data."""
    backend.forget_schema()
    backend.ensure_schema()
    # The lock row first: until it is back the database says "no lock", and another operator
    # could take it while the trail is carried (whose row the carry-over then deleted).
    sqls = ["DELETE FROM malnu_lock"]
    if lock is not None:
        sqls.append(
            bind_literals(
                "INSERT INTO malnu_lock (id, owner, host, pid, acquired_at, expires_at, purpose) "
                f"VALUES (1, ?, ?, ?, ?, {q.LEASE_UNTIL}, ?)",
                (lock.owner, lock.host, lock.pid, lock.acquired_at, lock.note),
            )
        )
    backend.api.batch(sqls, lambda: False)
    rows = backend.query("SELECT coalesce(max(id), 0) AS m FROM malnu_audit")
    top = int(rows[0]["m"]) if rows else 0
    missing = [r for r in before if int(r["id"]) > top]
    cols = "id, at, actor, action, object, outcome, detail"
    for i in range(0, len(missing), _CARRY_CHUNK):
        chunk = missing[i : i + _CARRY_CHUNK]
        sqls = [
            bind_literals(
                f"INSERT OR IGNORE INTO malnu_audit ({cols}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (r["id"], r["at"], r["actor"], r["action"], r["object"], r["outcome"], r["detail"]),
            )
            for r in chunk
        ]
        backend.api.batch(sqls, lambda: False)  # INSERT OR IGNORE by id: safe to re-send
    return len(missing)


# -- restore by bookmark ----------------------------------------------------------------------


def restore_bookmark(
    backend: D1Backend,
    bookmark: str,
    *,
    action: str = "restore",
    reason: str = "",
    progress: BackupProgressCallback | None = None,
) -> TimeTravelRestore:
    """Restore the database in place to ``bookmark`` (D1 Time Travel), audited with the
    bookmark that undoes it. The caller holds the migration lock and has confirmed."""
    emit = emitter(progress)
    before = _audit_rows(backend)
    lock = backend.read_lock()
    current = current_bookmark(backend)
    lost: list[bool] = []

    def resend() -> bool:
        # The answer was lost: the restore may have run. Sending it again is harmless (same
        # bookmark), but D1's previous_bookmark then names the already restored state, so
        # the undo point is the bookmark read just before.
        lost.append(True)
        return False

    emit(
        BackupProgress(
            "restore", 0, 0, f"Time Travel restore to bookmark {bookmark} ({_UNSTOPPABLE})"
        )
    )
    with interrupts_held() as held:  # sent, D1 restores whoever listens: settle it first
        try:
            result = backend.api.call(
                "POST", "time_travel/restore", params={"bookmark": bookmark}, took_effect=resend
            )
        except D1Unavailable as exc:
            if not lost:  # every attempt refused (429, no connection): it never ran
                _audit_failed(backend, action, bookmark, str(exc))
                raise
            # Sent, and no answer came back (5xx, timeouts): each attempt may have restored.
            # The audit trail and the lock are put back either way (harmless if it did not
            # run); it used to be "failed", and a backup's restore then imported its dump
            # over the restored database, the trail written since the backup lost.
            why = f"the Time Travel restore to bookmark {bookmark} was sent, and D1 did not answer"
            entry = AuditEntry.now(
                action, f"bookmark {bookmark}", "unknown", f"{why} ({exc}); undo with {current}"
            )
            _settle(backend, before, lock, entry, emit, "maybe restored")
            raise D1OutcomeUnknown(
                f"{why} ({exc}): it may have run",
                hint="run `malnu-tui status` once D1 answers (the audit trail and this "
                "session's lock were put back either way); sending the same restore again "
                f"changes nothing; `malnu-tui d1 time-travel --bookmark {current}` undoes it",
            ) from None
        except D1Error as exc:
            _audit_failed(backend, action, bookmark, str(exc))
            raise
        restored = TimeTravelRestore(
            bookmark=str(result.get("bookmark") or bookmark),
            previous_bookmark=current if lost else str(result.get("previous_bookmark") or current),
            message=str(result.get("message") or ""),
        )
        detail = f"Time Travel to bookmark {restored.bookmark}; undo with bookmark " + (
            restored.previous_bookmark or "(not returned by D1)"
        )
        if reason:
            detail = f"{reason}: {detail}"
        entry = AuditEntry.now(action, f"bookmark {restored.bookmark}", "ok", detail)
        carried = _settle(backend, before, lock, entry, emit, "restored")
    _too_late(held, emit, "restored")
    emit(BackupProgress("restore", 1, 1, f"undo with bookmark {restored.previous_bookmark}"))
    return TimeTravelRestore(
        restored.bookmark, restored.previous_bookmark, restored.message, carried
    )


_UNSTOPPABLE = "once sent it cannot be stopped: Ctrl-C waits for D1's answer"


def _audit_failed(backend: D1Backend, action: str, bookmark: str, why: str) -> None:
    with contextlib.suppress(D1Error):
        backend.append_audit(AuditEntry.now(action, f"bookmark {bookmark}", "failed", why[:500]))


def _too_late(held: HeldInterrupts, emit: BackupProgressCallback, done: str) -> None:
    if held.came:
        emit(
            BackupProgress(
                "restore",
                1,
                1,
                f"warning: an interrupt (Ctrl-C or SIGTERM) came while D1 worked: {done} all the "
                "same (too late to stop it), the audit trail and the lock put back",
            )
        )


def _settle(
    backend: D1Backend,
    before: Sequence[dict[str, Any]],
    lock: LockHolder | None,
    entry: AuditEntry,
    emit: BackupProgressCallback,
    done: str,
) -> int:
    """After the database was replaced: carry the audit trail and the lock over, then audit
    ``entry``. The replacement is done whatever happens here, so D1 failing now (it may be
    restarting after the restore) is said as a warning, never as the restore having failed."""
    carried = 0
    try:
        carried = _carry_over(backend, before, lock)
    except D1Error as exc:
        emit(
            BackupProgress(
                "restore",
                1,
                1,
                f"warning: {done}, but the audit trail written since and this session's lock "
                f"could not be put back ({exc})",
            )
        )
    try:
        backend.append_audit(entry)
    except D1Error as exc:
        emit(
            BackupProgress("restore", 1, 1, f"warning: {done}, but it could not be audited ({exc})")
        )
    return carried


# -- export --------------------------------------------------------------------------------


# D1 stopped a statement of an imported dump at its 30 s (backends/d1/errors.py).
SLOW_IMPORT_HINT = (
    "D1 stops a statement after 30 s and one of the dump's ran past it (D1 does not say which: "
    "a CREATE INDEX after many rows, an INSERT … SELECT?): run `malnu-tui status` and look at "
    "the tables before anything else, then take that statement out of the dump (a migration "
    "of its own, or split into ranges of keys) and import again"
)


def _until_complete(
    backend: D1Backend, action: str, first: dict[str, Any], follow_up: dict[str, Any]
) -> dict[str, Any]:
    """Poll an export or import (``follow_up`` + ``current_bookmark``) until it completes."""
    result = first
    for _ in range(POLL_LIMIT):
        if result.get("status") == "complete":
            return result
        if result.get("status") == "error" or result.get("success") is False:
            why = result.get("error") or result.get("errors") or "no reason given"
            slow = action == "import" and is_timeout(str(why))
            raise BackendError(
                f"D1 {action} failed: {why}", hint=SLOW_IMPORT_HINT if slow else None
            )
        time.sleep(min(POLL_INTERVAL_S, backend.api.policy.base_delay))
        body = {**follow_up, "current_bookmark": result.get("at_bookmark")}
        result = backend.api.call("POST", action, body=body)
    raise BackendError(f"D1 {action} did not complete after {POLL_LIMIT} polls")


def export_dump(
    backend: D1Backend, dest: Path, progress: BackupProgressCallback | None = None
) -> ExportResult:
    """Export the whole database (schema and data) as a SQL dump into ``dest`` (overwritten,
    fsynced); returns the bookmark the dump was taken at, its size and sha256."""
    emit = emitter(progress)
    emit(BackupProgress("dump", 0, 0, f"asking D1 to export {backend.name}"))
    body: dict[str, Any] = {"output_format": "polling", "dump_options": {}}
    done = _until_complete(backend, "export", backend.api.call("POST", "export", body=body), body)
    bookmark = str(done["at_bookmark"])
    url = str((done.get("result") or {}).get("signed_url") or "")
    if not url:
        raise BackendError("D1 export completed without a download URL")
    emit(BackupProgress("dump", 0, 0, f"downloading the dump at bookmark {bookmark}"))
    size = backend.api.download(url, dest, lambda n: emit(BackupProgress("dump", n, 0)))
    if tables_first(dest):  # a rebuilt parent table came after its children's rows
        emit(BackupProgress("dump", size, 0, "moved the tables before the rows: it loads"))
        size = dest.stat().st_size
    h = hashlib.sha256()
    with dest.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return ExportResult(dest, bookmark, size, h.hexdigest())


# -- import ----------------------------------------------------------------------------------


def _drop_everything(backend: D1Backend) -> list[str]:
    objs = backend.query(
        "SELECT type, name FROM sqlite_master WHERE type IN ('table', 'view') "
        f"AND {q.NOT_INTERNAL} ORDER BY type DESC, name"
    )
    return [
        f"DROP {'VIEW' if o['type'] == 'view' else 'TABLE'} IF EXISTS {q.quote_ident(o['name'])}"
        for o in objs
    ]


def _start_import(backend: D1Backend, body: dict[str, Any], at: str) -> dict[str, Any]:
    """Send an import's ``init`` or ``ingest``. Both may start the import (an ``init`` does
    when D1 already has the file), and D1 runs the file again for each one it receives: one
    whose answer was lost is never re-sent blindly. D1 is asked first, by polling the import
    at the bookmark it starts from (``at``), whether it already runs or ran; if so, that
    answer is used instead of starting it a second time."""
    answer: list[dict[str, Any]] = []

    def started() -> bool:
        try:
            status = backend.api.call(
                "POST", "import", body={"action": "poll", "current_bookmark": at}
            )
        except D1QueryError:
            return False  # no import at that bookmark: nothing started
        if not isinstance(status, dict) or status.get("success") is False:
            return False
        if status.get("status") not in ("active", "complete", "error"):
            return False
        answer.append(status)
        return True

    result = backend.api.call("POST", "import", body=body, took_effect=started)
    if result is None:
        return answer[-1]
    if not isinstance(result, dict):
        raise BackendError(f"D1 answered the import's {body['action']} with {result!r}")
    return result


def import_dump(
    backend: D1Backend,
    path: Path,
    *,
    replace: bool = True,
    action: str = "import",
    reason: str = "",
    progress: BackupProgressCallback | None = None,
    name: str | None = None,
) -> ImportResult:
    """Replace the database with the dump at ``path`` through D1's import API, in ONE batch
    (D1 rolls an import back whole on failure). With ``replace`` every table and view is
    dropped first, in the same batch. Audited with the bookmark that undoes it, under ``name``
    (default the file's name; a backup's restore reads a temp copy and names its backup file)."""
    name = name or path.name
    emit = emitter(progress)
    before = _audit_rows(backend)
    lock = backend.read_lock()
    previous = current_bookmark(backend)
    # D1 refuses transaction control in an import: a dump's own BEGIN/COMMIT go (one batch
    # is all or nothing anyway).
    # D1's import takes no statement over 100 KB: a row past it (its own export writes one
    # whole) goes in pieces.
    kept = (
        within_statement_limit(s) for s in dump_statements(path) if not is_transaction_control(s)
    )
    sql = "".join(kept).encode()
    if replace:
        head = ["PRAGMA defer_foreign_keys = on", *_drop_everything(backend)]
        sql = "".join(f"{s};\n" for s in head).encode() + sql
    etag = hashlib.md5(sql, usedforsecurity=False).hexdigest()
    emit(BackupProgress("restore", 0, len(sql), f"uploading {len(sql)} bytes to D1"))
    try:
        init = _start_import(backend, {"action": "init", "etag": etag}, previous)
        if "upload_url" in init:
            got = backend.api.upload(str(init["upload_url"]), sql)
            if got != etag:
                raise BackendError(
                    "the dump did not upload intact (etag mismatch); nothing changed"
                )
            emit(BackupProgress("restore", len(sql), len(sql), f"D1 is importing ({_UNSTOPPABLE})"))
            # The bookmark the import will start from (and that undoes it): read again, as
            # the application may have written during the upload.
            previous = current_bookmark(backend)
            ingest = {"action": "ingest", "filename": init["filename"], "etag": etag}
        with interrupts_held() as held:  # started, D1 imports whoever listens: settle it first
            # (D1 already had the file when init gave no upload URL: init answers like ingest.)
            first = _start_import(backend, ingest, previous) if "upload_url" in init else init
            try:
                done = _until_complete(backend, "import", first, {"action": "poll"})
            except (D1Unavailable, D1OutcomeUnknown) as exc:
                # Started, and D1 could not be asked how it ended: it may have run.
                raise D1OutcomeUnknown(
                    f"the import of {name} was started but how it ended could not be read ({exc})",
                    hint=f"run `malnu-tui status` once D1 answers; if it ran, `malnu-tui d1 "
                    f"time-travel --bookmark {previous}` undoes it",
                ) from None
            final = str((done.get("result") or {}).get("final_bookmark") or done.get("at_bookmark"))
            num = int((done.get("result") or {}).get("num_queries") or 0)
            detail = f"imported {name} ({num} queries); undo with bookmark {previous}"
            if reason:
                detail = f"{reason}: {detail}"
            entry = AuditEntry.now(action, name, "ok", detail)
            carried = _settle(backend, before, lock, entry, emit, f"imported {name}")
    except BackendError as exc:
        with contextlib.suppress(D1Error):
            backend.append_audit(AuditEntry.now(action, name, "failed", str(exc)[:500]))
        raise
    _too_late(held, emit, f"imported {name}")
    return ImportResult(final, previous, num, carried)
