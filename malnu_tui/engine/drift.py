"""What changed since a migration was applied: its file (drifted, or gone: missing) or its
rollback file edited since; ``verify``'s answer, and what ``repair`` accepts to record anew."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from malnu_tui.engine.backends.base import Backend, TrackingRecord
from malnu_tui.engine.errors import MalnuError, MigrationFileError
from malnu_tui.engine.files import MigrationSet
from malnu_tui.engine.rollback_sums import FileSums, RollbackEdit, recorded
from malnu_tui.engine.status import (
    DONE_STATES,
    MigrationState,
    MigrationStatus,
    StatusReport,
    row_named,
    status,
)

__all__ = ["VerifyResult", "mark_rollback_edits", "select_repair", "verify", "verify_report"]


@dataclass(frozen=True)
class VerifyResult:
    drifted: tuple[MigrationStatus, ...]
    missing: tuple[MigrationStatus, ...]
    failed: tuple[MigrationStatus, ...]
    checked: int
    rollback_edited: tuple[MigrationStatus, ...] = ()  # their rollback file changed since

    @property
    def ok(self) -> bool:
        return not self.drifted and not self.missing and not self.rollback_edited

    def problems(self) -> str:
        text = f"{len(self.drifted)} drifted, {len(self.missing)} missing"
        if self.rollback_edited:
            text += f", {len(self.rollback_edited)} rollback file(s) edited since applied"
        return text

    def as_json(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "drifted": [m.as_json() for m in self.drifted],
            "missing": [m.as_json() for m in self.missing],
            "failed": [m.as_json() for m in self.failed],
            "rollback_edited": [m.as_json() for m in self.rollback_edited],
        }


def mark_rollback_edits(
    backend: Backend, report: StatusReport, mset: MigrationSet, sums: FileSums | None = None
) -> StatusReport:
    """``report`` with ``rollback_edited`` set on each applied migration whose rollback file
    is not the one recorded when it was applied (``status``, ``verify``: the operator sees it
    before choosing to roll back). Reads the rollback files of the applied migrations; with
    ``sums`` (the console's refresh) only those changed since that cache last read them."""
    by_name = mset.by_filename()
    files = {
        m.filename: rb
        for m in report.migrations
        if m.state in DONE_STATES
        and (mig := by_name.get(m.filename)) is not None
        and (rb := mig.rollback) is not None
    }
    then = recorded(backend, files)
    edits: dict[str, RollbackEdit] = {}
    for name, (was_file, was_sum) in then.items():
        try:
            now = files[name].checksum if sums is None else sums.of(files[name])
        except (MalnuError, OSError):
            continue  # unreadable: said where a rollback reads it
        if now != was_sum:
            edits[name] = RollbackEdit(name, files[name].filename, now, was_file, was_sum)
    if not edits:
        return report
    rows = tuple(
        dataclasses.replace(m, rollback_edited=edits[m.filename]) if m.filename in edits else m
        for m in report.migrations
    )
    return dataclasses.replace(report, migrations=rows)


def verify(backend: Backend, mset: MigrationSet) -> VerifyResult:
    """Compare the checksum of every applied file with its tracking row, and of its rollback
    file with the one recorded when it was applied (a run in the log)."""
    from malnu_tui.engine.monitor.runlog import record_run

    with record_run(backend, "verify", "checksums") as run:
        report = mark_rollback_edits(backend, status(backend, mset), mset)
        result = verify_report(report)
        edited = tuple(m for m in report.migrations if m.rollback_edited is not None)
        result = dataclasses.replace(result, rollback_edited=edited)
        run.count("checked", result.checked)
        run.count("drifted", len(result.drifted))
        run.count("missing", len(result.missing))
        run.count("rollback_edited", len(edited))
        if not result.ok:
            run.set_outcome("failed", result.problems())
    return result


def verify_report(report: StatusReport) -> VerifyResult:
    """:func:`verify` of a status already read."""

    def pick(state: MigrationState) -> tuple[MigrationStatus, ...]:
        return tuple(m for m in report.migrations if m.state is state)

    checked = sum(
        1 for m in report.migrations if m.state in (MigrationState.APPLIED, MigrationState.DRIFTED)
    )
    return VerifyResult(
        pick(MigrationState.DRIFTED),
        pick(MigrationState.MISSING),
        pick(MigrationState.FAILED),
        checked,
    )


def select_repair(
    report: StatusReport,
    mset: MigrationSet,
    filenames: Sequence[str] | None = None,
    backend: Backend | None = None,
) -> tuple[list[MigrationStatus], list[str]]:
    """What ``repair`` accepts, and why a named file cannot be: by default every drifted
    file (its checksum, or its new name, recorded); a file named on the command line must be
    drifted, or be a *missing* row (applied, its file gone: archived, or a row the template's
    own INSERT recorded under its placeholder name), whose row is then forgotten. Such a
    row used to stay for good (`verify` exit 1, `check` CRITICAL) unless deleted by hand."""
    # With ``backend``: an applied file whose rollback file was edited since it was applied
    # too (:func:`mark_rollback_edits`), that file's checksum then recorded anew.
    if backend is not None:
        report = mark_rollback_edits(backend, report, mset)
    drifted = {
        m.filename: m
        for m in report.migrations
        if m.state is MigrationState.DRIFTED or m.rollback_edited is not None
    }
    if not filenames:
        return list(drifted.values()), []
    missing = [m for m in report.migrations if m.state is MigrationState.MISSING]
    chosen: list[MigrationStatus] = []
    errors: list[str] = []
    for f in filenames:
        # A missing row named by its own filename is that row, though a file shares its
        # version (the template's placeholder row beside the file it was run from): found by
        # version, that file was "not drifted" and the row could not be forgotten.
        exact = next((m for m in missing if m.filename == f.rsplit("/", 1)[-1]), None)
        if exact is not None:
            if exact not in chosen:
                chosen.append(exact)
            continue
        try:
            name = mset.find(f).filename
        except MigrationFileError as exc:  # no such file: a missing row, named?
            row = row_named([_as_record(m) for m in missing], f)
            gone = next((m for m in missing if row and m.filename == row.filename), None)
            if gone is None:
                errors.append(str(exc))
            elif gone not in chosen:
                chosen.append(gone)
            continue
        if name not in drifted:
            errors.append(f"{name} has not drifted; nothing to repair")
        elif drifted[name] not in chosen:
            chosen.append(drifted[name])
    return chosen, errors


def _as_record(m: MigrationStatus) -> TrackingRecord:
    return TrackingRecord(
        m.filename, m.recorded_checksum or "", m.executed_at, m.execution_time_ms, True, None
    )
