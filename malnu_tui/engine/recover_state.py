"""The durable mark of a ``recover --to TIME`` stopped between its restore and its migrations.

A recover restores a backup, then rolls back and re-applies migrations. Killed between the two
(SIGKILL, a power cut, a dropped host), the database holds the backup's data with migrations
missing, and before this nothing said so: ``status`` showed them pending and ``up`` would have
applied every pending file, those added after TIME too. The restore therefore commits, with the
restored data (the same SQLite transaction, or psql's on PostgreSQL), an audit row
``recover-start <TIME>`` (an action of its own: the ``recover`` rows keep saying how each
recover ended); the recover's own ``ok`` row, or a later restore, closes it.
``status``, ``check``, ``up`` and ``rollback`` read it; running the recover again finishes it.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass

from malnu_tui.engine.backends.base import AuditEntry, Backend, lock_host
from malnu_tui.engine.backends.lease import lock_is_stale
from malnu_tui.engine.errors import LockHolder, RecoverHalfDone

__all__ = [
    "MARK",
    "HalfDoneRecover",
    "half_done",
    "read_half_done",
    "recovering",
    "refuse_half_done",
]

MARK = "recover-start"  # the action of the mark
_TOTAL = re.compile(r"; (\d+) migration step\(s\) to run")
_PRE = re.compile(r"pre-recover backup (\S+)")


def started_row(to: str, backup_id: str, pre_id: str, steps: int) -> AuditEntry:
    """The mark, committed with the restore of ``backup_id`` by a recover to ``to``."""
    return AuditEntry.now(
        MARK,
        to,
        "ok",
        f"restored {backup_id}; {steps} migration step(s) to run; pre-recover backup {pre_id}",
    )


@dataclass(frozen=True)
class HalfDoneRecover:
    """A recover whose restore committed and whose migrations did not all run."""

    to: str
    at: str
    backup_id: str
    pre_recover_id: str
    ran: int
    total: int | None
    # The options naming this target in the commands of :attr:`way_out` (``--config PATH
    # --target NAME``, from :func:`read_half_done`'s backend).
    again: tuple[str, ...] = ()

    def describe(self) -> str:
        of = f" of {self.total}" if self.total is not None else ""
        return (
            f"a recover to {self.to} stopped half-way (started {self.at} UTC): backup "
            f"{self.backup_id} is restored and {self.ran}{of} migration step(s) re-run, so the "
            f"database is neither as before nor as of {self.to}"
        )

    @property
    def way_out(self) -> str:
        finish = shlex.join(["malnu-tui", "recover", "--to", self.to, *self.again])
        undo = shlex.join(["malnu-tui", "backup", "restore", self.pre_recover_id, *self.again])
        return f"run `{finish}` again to finish it, or undo it with `{undo}`"

    def as_json(self) -> dict[str, object]:
        return {
            "to": self.to,
            "started": self.at,
            "backup": self.backup_id,
            "pre_recover_backup": self.pre_recover_id,
            "ran": self.ran,
            "total": self.total,
        }


def half_done(audit: Iterable[AuditEntry]) -> HalfDoneRecover | None:
    """The recover the audit trail ``audit`` shows stopped half-way, or None. The newest mark
    counts unless a recover finished, or a restore (the undo, or a later recover's) ran, after
    it; a recover that failed after its restore (its ``failed`` row) is still half-way."""
    rows = sorted(audit, key=lambda e: (e.at, e.id or 0))
    marks = [i for i, e in enumerate(rows) if e.action == MARK]
    if not marks:
        return None
    mark, after = rows[marks[-1]], rows[marks[-1] + 1 :]
    if any(e.action in ("recover", "restore") and e.outcome == "ok" for e in after):
        return None
    ran = sum(1 for e in after if e.action in ("apply", "rollback", "adopt") and e.outcome == "ok")
    total = _TOTAL.search(mark.detail)
    pre = _PRE.search(mark.detail)
    return HalfDoneRecover(
        mark.object,
        mark.at,
        mark.detail.removeprefix("restored ").split(";", 1)[0],
        pre.group(1) if pre else "?",
        ran,
        int(total.group(1)) if total else None,
    )


def recovering(lock: LockHolder | None, live: bool | None = None) -> bool:
    """Whether ``lock`` is a live recover's (its mark is then the work in progress, not a
    recover stopped half-way). ``live``: judged by the caller, else as every command does."""
    if lock is None or not lock.note.startswith("recover to "):
        return False
    return live if live is not None else lock_is_stale(lock, lock_host()) is None


def read_half_done(backend: Backend) -> HalfDoneRecover | None:
    """:func:`half_done` of ``backend``'s trail: one small read when no mark is there. D1
    recovers by Time Travel (one request, never half-way): nothing is read there. The trail is
    read as it is (``peek_audit``): a preview or a dry run of `import` and `sync` asks too, and
    made the tool tables in a database that had none, or upgraded an older version's."""
    if backend.kind == "d1":
        return None
    marks = backend.peek_audit(limit=1, action=MARK)
    if not marks:
        return None
    mark = max((e.at, e.id or 0) for e in marks)
    closers = backend.peek_audit(limit=5, action="recover")
    closers += backend.peek_audit(limit=5, action="restore")
    if any(e.outcome == "ok" and (e.at, e.id or 0) > mark for e in closers):
        return None  # the usual case: that recover finished (or was undone)
    found = half_done(backend.peek_audit(limit=2000))
    if found is None:
        return None
    from malnu_tui.engine.again import options_for

    return dataclasses.replace(found, again=options_for(backend))


def refuse_half_done(backend: Backend, operation: str) -> None:
    """:class:`RecoverHalfDone` (exit 1) when a recover stopped half-way: ``operation`` (an
    ``up``: every pending file, those added after the recover's TIME too) would run on it."""
    found = read_half_done(backend)
    if found is not None:
        raise RecoverHalfDone(f"{found.describe()}; {operation} refused", hint=found.way_out)
