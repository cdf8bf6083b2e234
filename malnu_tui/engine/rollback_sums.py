"""Rollback files edited after their migration ran: the checksum of each migration's rollback
file is recorded when the migration is applied (in the apply's run-log row: no tracking column
is added to the seed's ``migrations`` table), and a rollback whose file no longer has it is
refused before anything runs (``rollback --accept-edited-rollback`` runs it, audited). The
rollback reviewed with its migration is the one that runs at 2 a.m., or the operator is told.

A migration applied before this was recorded (or by another tool) has no recorded checksum:
nothing is said of its rollback file."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from malnu_tui.engine.errors import MalnuError
from malnu_tui.engine.file_sums import FileSums  # (kept here: the console imports it from here)

if TYPE_CHECKING:
    from malnu_tui.engine.backends.base import Backend
    from malnu_tui.engine.files import MigrationSet
    from malnu_tui.engine.monitor.runlog import RunRecorder
    from malnu_tui.engine.plan import Plan, PlanStep
    from malnu_tui.engine.status import MigrationStatus

__all__ = [
    "RUN_KEY",
    "FileSums",
    "RollbackEdit",
    "accept_edits",
    "at_apply",
    "check_under_lock",
    "edited",
    "edits",
    "note_applied",
    "recorded",
]

RUN_KEY = "rollbacks"  # in an apply's run row: {migration filename: "rollback file sha256"}
_RUN_ROWS = 5000  # the newest run rows read back (an apply's is one row per run)


@dataclass(frozen=True)
class RollbackEdit:
    """An applied migration's rollback file changed since the migration was applied (its
    checksum recorded then); ``rollback`` refuses to run it."""

    migration: str
    rollback_file: str  # as it is named now
    checksum: str  # of the file now
    recorded_rollback_file: str
    recorded_checksum: str

    def describe(self) -> str:
        renamed = (
            f", then named {self.recorded_rollback_file}"
            if self.recorded_rollback_file != self.rollback_file
            else ""
        )
        return (
            f"{self.rollback_file} (sha256 {self.checksum[:12]}…; recorded "
            f"{self.recorded_checksum[:12]}… when {self.migration} was applied{renamed})"
        )

    def sums(self) -> tuple[str, str, str]:
        """(the rollback file, its sha256 now, the one recorded at apply), in full."""
        return (self.rollback_file, self.checksum, self.recorded_checksum)

    def as_json(self) -> dict[str, object]:
        return {
            "rollback_file": self.rollback_file,
            "checksum": self.checksum,
            "recorded_rollback_file": self.recorded_rollback_file,
            "recorded_checksum": self.recorded_checksum,
        }


def at_apply(mset: MigrationSet, steps: Iterable[PlanStep]) -> dict[str, str]:
    """``{migration: "<rollback file> <sha256>"}`` of the steps of an ``up`` whose migration
    has a rollback file, read before anything runs (what was there when it was applied)."""
    by_name = mset.by_filename()
    out: dict[str, str] = {}
    for step in steps:
        m = by_name.get(step.filename)
        if m is not None and m.rollback is not None:
            with contextlib.suppress(MalnuError, OSError):
                out[step.filename] = f"{m.rollback.filename} {m.rollback.checksum}"
    return out


def recorded(
    backend: Backend, filenames: Iterable[str], *, before: tuple[str, int] | None = None
) -> dict[str, tuple[str, str]]:
    """``{migration: (rollback file, sha256)}`` as the newest apply of each recorded them
    (with ``before``, an audit row's (time, id), the newest apply before it)."""
    wanted = set(filenames)
    found: dict[str, tuple[str, str]] = {}
    if not wanted:
        return found
    try:
        rows = backend.peek_audit(limit=_RUN_ROWS, action="run")
    except MalnuError:
        return found
    for row in rows:  # newest first
        if before is not None and (row.at, row.id or 0) > before:
            continue
        if not row.detail.startswith("{") or f'"{RUN_KEY}"' not in row.detail:
            continue
        # RecursionError: nested too deep to parse, no row this tool wrote (a hand-made one):
        # skipped, as every reader of the run log does; `check` names it (runlog.too_deep).
        # It was a traceback from `status`, `rollback`, `verify`, and `check` UNKNOWN.
        with contextlib.suppress(ValueError, TypeError, AttributeError, RecursionError):
            data = json.loads(row.detail)
            if data.get("op") not in ("apply", "repair"):  # repair: an edit accepted
                continue
            sums: Mapping[str, str] = data.get(RUN_KEY) or {}
            for name, value in sums.items():
                if name in wanted and name not in found:
                    file, _, digest = str(value).rpartition(" ")
                    found[name] = (file, digest)
        if len(found) == len(wanted):
            break
    return found


def edits(
    backend: Backend, plan: Plan, *, before: tuple[str, int] | None = None
) -> dict[str, RollbackEdit]:
    """``{migration: RollbackEdit}`` of the steps of a rollback ``plan`` whose rollback file,
    as the plan read it, is not the one recorded when its migration was applied (with
    ``before``, an audit row (time, id): applied before it, the version a backup of then holds)."""
    steps: Sequence[PlanStep] = [s for s in plan.steps if s.rollback_checksum]
    then = recorded(backend, (s.filename for s in steps), before=before)
    return {
        s.filename: RollbackEdit(s.filename, s.file.name, s.rollback_checksum, *then[s.filename])
        for s in steps
        if s.filename in then and then[s.filename][1] != s.rollback_checksum
    }


def edited(
    backend: Backend, plan: Plan, *, before: tuple[str, int] | None = None
) -> tuple[str, ...]:
    """Each step of a rollback ``plan`` whose rollback file, as the plan read it, is not the
    one recorded when its migration was applied (by ``before``, as :func:`edits`): ``"<file>
    (sha256 <new>…; recorded <old>… when <migration> was applied)"``."""
    return tuple(e.describe() for e in edits(backend, plan, before=before).values())


def note_applied(
    run: RunRecorder, sums: Mapping[str, str], done: Iterable[tuple[str, int]]
) -> None:
    """Put the rollback sums of the migrations an ``up`` applied (``done``) in its run row."""
    got = {name: sums[name] for name, _ms in done if name in sums}
    if got:
        run.extra[RUN_KEY] = got


def check_under_lock(
    backend: Backend,
    plan: Plan,
    accepted: bool,
    *,
    command: str = "rollback",
    obj: str = "",
    before: tuple[str, int] | None = None,
) -> None:
    """Under the lock, before a rollback runs (or a ``recover`` restores anything): its files
    as the plan read them are the ones recorded at apply, else it is refused
    (:class:`RollbackEdited`, audited under ``command``, nothing run); an accepted edit is
    audited (``warning``) and runs."""
    from malnu_tui.engine.backends.base import AuditEntry
    from malnu_tui.engine.errors import RollbackEdited

    files = edited(backend, plan, before=before)
    if not files:
        return
    first = obj or plan.steps[0].filename
    said = "; ".join(files)
    if not accepted:
        backend.append_audit(
            AuditEntry.now(command, first, "refused", f"edited rollback file(s): {said}"[:1000])
        )
        raise RollbackEdited(list(files), command)
    detail = f"edited rollback file(s) run as accepted (--accept-edited-rollback): {said}"
    backend.append_audit(AuditEntry.now(command, first, "warning", detail[:1000]))


def accept_edits(backend: Backend, run: RunRecorder, rows: Iterable[MigrationStatus]) -> None:
    """``repair``: record the rollback files of ``rows`` edited since their migration was
    applied as they are now (in the repair's run row, which :func:`recorded` reads like an
    apply's), each audited with both checksums."""
    from malnu_tui.engine.backends.base import AuditEntry

    got: dict[str, str] = {}
    for m in rows:
        e = m.rollback_edited
        if e is None:
            continue
        got[m.filename] = f"{e.rollback_file} {e.checksum}"
        detail = f"rollback file of {m.filename}: checksum {e.recorded_checksum} → {e.checksum}" + (
            f" (was {e.recorded_rollback_file})"
            if e.recorded_rollback_file != e.rollback_file
            else ""
        )
        backend.append_audit(AuditEntry.now("repair", e.rollback_file, "ok", detail))
    if got:
        run.extra[RUN_KEY] = got
