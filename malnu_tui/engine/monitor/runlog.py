"""The run log: one audit row per operation (apply, rollback, repair, import, sync, backup,
verify, restore, recover) with its start, end, duration, outcome, error and counts.

A run row is an ordinary row of the target's audit table (the table exists on every backend;
nothing is altered): ``action = "run"``, ``object = "<operation> <object>"``, ``outcome`` ok /
failed / refused, and ``detail`` a JSON object (``{"run": 1, "op": …, "started_at": …}``).
Rows written before the run log, and every other audit row, keep their plain-text detail;
:func:`RunRecord.from_audit` tells the two apart.

Use it around any operation that changes a target::

    from malnu_tui.engine.monitor.runlog import record_run

    with record_run(backend, "import", "students.csv") as run:
        ...
        run.count("rows", 1200)

An exception inside the block records ``failed`` (``refused`` for a refusal such as a held lock
or a missing confirmation) with the error text (secrets masked) and is re-raised unchanged.
Writing the run row never raises: a monitoring record must not turn a finished operation into a
failure, nor hide the real error.

:func:`history_since` is the one query "what happened on this target since T".
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from malnu_tui.engine.backends.base import AuditEntry, actor, utc_now
from malnu_tui.engine.clock import json_time, json_times, parse_time

if TYPE_CHECKING:
    from malnu_tui.engine.backends.base import AuditWhere, Backend

__all__ = [
    "OPERATIONS",
    "RUN_ACTION",
    "History",
    "RunRecord",
    "RunRecorder",
    "audit_and_runs",
    "format_time",
    "history_since",
    "json_time",
    "json_times",
    "last_runs_of",
    "parse_time",
    "read_changes",
    "recent_runs",
    "record_run",
    "too_deep",
]

RUN_ACTION = "run"
OPERATIONS = (
    "apply",
    "rollback",
    "repair",
    "import",
    "sync",
    "backup",
    "verify",
    "restore",
    "recover",
)
# Refusals: nothing was attempted (lock held, not confirmed, a precondition failed).
_REFUSALS = ("LockHeld", "NotConfirmed", "ChecksumDrift", "MissingRollback", "BackupCorrupt",
             "RollbackEdited", "DumpRefused")  # fmt: skip
_HISTORY_LIMIT = 20_000


def too_deep(entry: AuditEntry) -> bool:
    """A run row whose JSON detail is nested too deep to parse (Python's ``json`` raises
    RecursionError past its recursion limit): no row this tool writes, but one written by
    hand or by another tool; every reader skips it and ``check`` names it."""
    detail = entry.detail
    if entry.action != RUN_ACTION or not detail.startswith("{"):
        return False
    if detail.count("[") + detail.count("{") < _DEEP:  # (cheap: nothing this deep can be)
        return False
    try:
        json.loads(detail)
    except RecursionError:
        return True
    except ValueError:
        return False
    return False


_DEEP = 500  # brackets below which no JSON text is too deep to parse (the limit is ~1000)


def format_time(when: datetime) -> str:
    """UTC ``YYYY-MM-DD HH:MM:SS`` (the audit table's form)."""
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


@dataclass(frozen=True)
class RunRecord:
    """One operation as the run log recorded it."""

    op: str
    obj: str
    outcome: str  # ok, failed, refused
    started_at: str  # UTC, YYYY-MM-DD HH:MM:SS
    ended_at: str
    duration_ms: int
    error: str = ""
    counts: Mapping[str, int] = field(default_factory=dict)
    actor: str = ""
    id: int | None = None
    # The object's earlier spellings (a sync from or to a URL, as an earlier version named
    # it): this run is their newest too, so a failure recorded under one of them is past.
    also: tuple[str, ...] = ()
    extra: Mapping[str, object] = field(default_factory=dict)  # more keys of the detail

    @property
    def ended(self) -> datetime | None:
        return parse_time(self.ended_at)

    def detail_json(self) -> str:
        return json.dumps(
            {
                **self.extra,
                "run": 1,
                "op": self.op,
                "object": self.obj,
                "started_at": self.started_at,
                "ended_at": self.ended_at,
                "duration_ms": self.duration_ms,
                "error": self.error,
                "counts": dict(self.counts),
                **({"also": list(self.also)} if self.also else {}),
            },
            sort_keys=True,
        )

    def as_audit(self) -> AuditEntry:
        obj = f"{self.op} {self.obj}".strip()
        return AuditEntry(
            self.ended_at, self.actor or actor(), RUN_ACTION, obj, self.outcome, self.detail_json()
        )

    def as_json(self) -> dict[str, object]:
        return {
            "op": self.op,
            "object": self.obj,
            "outcome": self.outcome,
            "started_at": json_time(self.started_at),
            "ended_at": json_time(self.ended_at),
            "duration_ms": self.duration_ms,
            "error": self.error,
            "counts": dict(self.counts),
            "actor": self.actor,
        }

    @staticmethod
    def from_audit(entry: AuditEntry) -> RunRecord | None:
        """The run an audit row records, or None for any other row."""
        if entry.action != RUN_ACTION or not entry.detail.startswith("{"):
            return None
        try:
            data: Any = json.loads(entry.detail)
        except (ValueError, RecursionError):  # (nested too deep: no row this tool wrote)
            return None
        if not isinstance(data, dict) or data.get("run") != 1:
            return None
        counts = data.get("counts") if isinstance(data.get("counts"), dict) else {}
        also: list[Any] = data["also"] if isinstance(data.get("also"), list) else []
        try:
            return RunRecord(
                op=str(data.get("op", "")),
                obj=str(data.get("object", "")),
                outcome=entry.outcome,
                started_at=str(data.get("started_at", entry.at)),
                ended_at=str(data.get("ended_at", entry.at)),
                duration_ms=int(data.get("duration_ms") or 0),
                error=str(data.get("error") or ""),
                counts={str(k): int(v) for k, v in dict(counts or {}).items()},
                actor=entry.actor,
                id=entry.id,
                also=tuple(str(a) for a in also),
            )
        except (TypeError, ValueError):
            return None


class RunRecorder:
    """Handed to the body of :func:`record_run`: counts and the object can be set as it goes."""

    def __init__(self, op: str, obj: str) -> None:
        self.op = op
        self.obj = obj
        self.counts: dict[str, int] = {}
        self.also: tuple[str, ...] = ()  # the object's earlier spellings (RunRecord.also)
        self.extra: dict[str, object] = {}  # more keys of the row's detail (an apply's sums)
        self.started_at = utc_now()
        self._t0 = time.perf_counter()
        self.record: RunRecord | None = None  # set when the run has ended
        self._outcome: tuple[str, str] | None = None

    def set_outcome(self, outcome: str, error: str = "") -> None:
        """Record ``failed`` (with the error) for a run that ends without an exception, e.g.
        a verification that found problems."""
        self._outcome = (outcome, error)

    def count(self, name: str, value: int) -> None:
        """Set (not add) a count, e.g. ``run.count("rows", 1200)``."""
        self.counts[name] = int(value)

    def add(self, name: str, value: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + int(value)

    def finish(self, outcome: str, error: str = "") -> RunRecord:
        ms = int((time.perf_counter() - self._t0) * 1000)
        self.record = RunRecord(
            self.op,
            self.obj,
            outcome,
            self.started_at,
            utc_now(),
            ms,
            _mask(error)[:500],
            dict(self.counts),
            actor(),
            also=self.also,
            extra=dict(self.extra),
        )
        return self.record


def _mask(text: str) -> str:
    from malnu_tui.engine.monitor.debuglog import mask_secrets

    return mask_secrets(text)


def _outcome_of(exc: BaseException) -> str:
    names = {cls.__name__ for cls in type(exc).__mro__}
    return "refused" if names & set(_REFUSALS) else "failed"


@contextlib.contextmanager
def record_run(backend: Backend | None, op: str, obj: str = "") -> Iterator[RunRecorder]:
    """Record the block as one run of ``op`` in ``backend``'s audit trail (see the module)."""
    from malnu_tui.engine.interrupts import interrupts_held, stop_for
    from malnu_tui.engine.monitor.debuglog import exception_text

    run = RunRecorder(op, obj)
    try:
        yield run
    except BaseException as exc:
        if not isinstance(exc, Exception | KeyboardInterrupt):
            raise
        # The row is written with stops held: the console's stop (its SIGHUP), raised into the
        # worker at its next line, came as the row was written after a failure it caused (psql
        # dead of the hangup first) and the run went unrecorded. Held, it ends the work after;
        # a second ends the row's write (a database that no longer answers: minutes of tries).
        with interrupts_held(second_ends=True) as held:
            if isinstance(exc, KeyboardInterrupt):
                record = run.finish("failed", "interrupted")
            else:
                record = run.finish(_outcome_of(exc), exception_text(exc))
            write_run(backend, record)
        if held.came and not isinstance(exc, KeyboardInterrupt):
            raise stop_for(held.signals[0]) from None
        raise
    with interrupts_held(second_ends=True) as held:
        write_run(backend, run.finish(*(run._outcome or ("ok", ""))))
    if held.came:
        raise stop_for(held.signals[0])


def write_run(backend: Backend | None, record: RunRecord) -> None:
    """Append the run row; never raises (see the module)."""
    if backend is None:
        return
    with contextlib.suppress(Exception):
        backend.append_audit(record.as_audit())


def read_changes(backend: Backend, limit: int = 200, action: str | None = None) -> list[AuditEntry]:
    """The audit trail without the run rows (``log`` and the audit screen show changes; the
    runs are ``history`` and the alerts view). ``action="run"`` gives the run rows."""
    if action:
        return backend.read_audit(limit=limit, action=action)
    rows = backend.read_audit(limit=limit * 4 + 20)  # at most one run row per operation
    return [e for e in rows if e.action != RUN_ACTION][:limit]


ACTIONS_READ = 2000  # rows read for the actions a trail holds (``log --action`` that matched none)


def actions_seen(backend: Backend) -> list[str]:
    """The actions of the newest audit rows, sorted: what ``log --action`` can name here, told
    when one matched nothing (``rolback`` printed an empty table, exit 0, as if none had run)."""
    return sorted({e.action for e in backend.read_audit(limit=ACTIONS_READ)})


def recent_runs(backend: Backend, limit: int = 100) -> tuple[RunRecord, ...]:
    """The newest ``limit`` runs, newest first, whatever their age."""
    rows = backend.read_audit(limit=limit, action=RUN_ACTION)
    return tuple(r for r in map(RunRecord.from_audit, rows) if r is not None)


@dataclass(frozen=True)
class History:
    """What happened on one target since a time: every audit row, and the runs among them,
    newest first."""

    since: str
    events: tuple[AuditEntry, ...]
    runs: tuple[RunRecord, ...]
    # Set when more rows than one read holds fall in the window: the time from which on
    # the runs (``runs_from``) or the other rows (``events_from``) were all read.
    runs_from: str | None = None
    events_from: str | None = None

    def as_json(self) -> dict[str, object]:
        return {
            "since": json_time(self.since),
            "complete": self.runs_from is None and self.events_from is None,
            "runs": [r.as_json() for r in self.runs],
            "events": [
                {
                    "at": json_time(e.at),
                    "actor": e.actor,
                    "action": e.action,
                    "object": e.object,
                    "outcome": e.outcome,
                    "detail": e.detail,
                }
                for e in self.events
                if e.action != RUN_ACTION
            ],
        }


def history_since(
    backend: Backend, since: datetime | timedelta, *, now: datetime | None = None
) -> History:
    """Everything the audit trail of ``backend`` records since ``since`` (a time, or a span
    back from ``now``), newest first, with the runs parsed. A time after ``now`` is refused
    (:func:`.clock.refuse_future`): a WIB time of a moment ago typed without its zone is 7
    hours ahead, and "0 runs" since then said that nothing had run."""
    from malnu_tui.engine.clock import refuse_future

    now = now or datetime.now(UTC)
    if not isinstance(since, timedelta):
        refuse_future(since, now, f"--since {format_time(since)} UTC")
    start = now - since if isinstance(since, timedelta) else since
    cutoff = format_time(start)
    rows, (runs_from, events_from) = audit_and_runs(backend, _HISTORY_LIMIT)
    events: list[AuditEntry] = []
    for e in rows:
        when = parse_time(e.at)
        if when is not None and format_time(when) < cutoff:
            continue
        events.append(e)
    runs = tuple(r for r in map(RunRecord.from_audit, events) if r is not None)

    def cut(complete_from: str | None) -> str | None:
        return complete_from if complete_from is not None and complete_from > cutoff else None

    return History(cutoff, tuple(events), runs, cut(runs_from), cut(events_from))


def last_runs_of(backend: Backend, op: str, objects: Iterable[str]) -> tuple[AuditEntry, ...]:
    """The newest run row of ``op`` for each of ``objects`` (``"a->b"``) and its newest
    ``ok`` one, newest first: each one query filtered by its object (and outcome), however
    many run rows are newer (a read of the newest N rows held none of a pair whose runs
    stopped behind a busy log), only where they are more than one read holds. The (action,
    object[, outcome], id) indexes (base.AUDIT_OBJECT_INDEX, AUDIT_OUTCOME_INDEX) take each
    straight to its pair's newest: a pair that never ran (or never completed) was a walk of
    every run row by the (action, id) one (SQLite: ~1 s a pair at a million); a database whose
    tool tables were not upgraded since (``check`` writes nothing) is still read so."""
    rows: dict[int | None, AuditEntry] = {}
    for obj in objects:
        about: AuditWhere = (("object", f"{op} {obj}".strip()),)
        newest = backend.read_audit(1, RUN_ACTION, where=about)
        rows.update((e.id, e) for e in newest)
        if newest and newest[0].outcome != "ok":  # (none at all, or ok: it is the answer)
            ok = backend.read_audit(1, RUN_ACTION, where=(*about, ("outcome", "ok")))
            rows.update((e.id, e) for e in ok)
    return tuple(sorted(rows.values(), key=lambda e: (e.id or 0, e.at), reverse=True))


def audit_and_runs(
    backend: Backend, limit: int
) -> tuple[tuple[AuditEntry, ...], tuple[str | None, str | None]]:
    """The newest ``limit`` audit rows and, read apart, the newest ``limit`` run rows, newest
    first: a sync writes a row per table on both sides, and those must not push a failed
    import or sync, or any run, out of view. Also the time from which on each read is
    complete (runs, other rows): None where it held every row."""
    rows = backend.read_audit(limit=limit)
    runs = backend.read_audit(limit=limit, action=RUN_ACTION)
    merged = {(e.id, e.at, e.detail): e for e in rows}
    for e in runs:
        merged.setdefault((e.id, e.at, e.detail), e)

    def complete_from(read: list[AuditEntry]) -> str | None:
        when = parse_time(read[-1].at) if len(read) >= limit else None
        return format_time(when) if when is not None else None

    newest_first = sorted(merged.values(), key=lambda e: (e.id or 0, e.at), reverse=True)
    return tuple(newest_first), (complete_from(runs), complete_from(rows))
