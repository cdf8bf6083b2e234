"""The stairway test (pytest-alembic's, Liquibase's update-testing-rollback): on a scratch
database, for each migration in order, fingerprint the schema, apply the migration, roll it
back, check the schema is what it was, apply it again. A rollback that leaves or loses
something is named with the objects that differ; a migration that cannot be re-applied is
named with the failing statement."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from malnu_tui.engine.errors import MigrationFileError, StatementFailed
from malnu_tui.engine.files import MigrationSet, read_sql_file
from malnu_tui.engine.scratch import SchemaDifference, Scratch, compare_fingerprints
from malnu_tui.engine.scratch_data import RowDigests, changed_tables, table_rows
from malnu_tui.engine.sqlsplit import Statement

if TYPE_CHECKING:
    from malnu_tui.engine.translate import PostgresUnits

__all__ = ["StairStep", "StairwayReport", "Unit", "read_seed", "run_stairway", "units_for"]


@dataclass(frozen=True)
class Unit:
    """A migration's statements and its rollback's (None: no rollback file), or why it cannot
    run on this database (an untranslatable statement)."""

    filename: str
    up: tuple[Statement, ...]
    down: tuple[Statement, ...] | None
    rollback_file: str = ""
    problem: str = ""


@dataclass(frozen=True)
class StairStep:
    """One migration's stair: ``stage`` names where it went wrong (``ok`` when it did not)."""

    filename: str
    stage: str  # ok, apply, rollback, compare, reapply, no-rollback, untranslatable
    message: str = ""
    file: str = ""  # the file whose statement failed
    line: int | None = None
    statement: str | None = None
    differences: tuple[SchemaDifference, ...] = ()
    ms: int = 0

    @property
    def ok(self) -> bool:
        return self.stage == "ok"

    def describe(self) -> str:
        if self.ok:
            return f"✔ {self.filename}: apply, rollback, re-apply ({self.ms} ms)"
        where = f" ({self.file}:{self.line})" if self.line else ""
        text = f"✘ {self.filename}: {self.stage}: {self.message}{where}"
        for d in self.differences:
            text += f"\n    {d.describe()}"
        return text

    def as_json(self) -> dict[str, object]:
        return {
            "filename": self.filename,
            "ok": self.ok,
            "stage": self.stage,
            "message": self.message,
            "file": self.file or None,
            "line": self.line,
            "statement": self.statement,
            "differences": [d.as_json() for d in self.differences],
            "ms": self.ms,
        }


@dataclass(frozen=True)
class StairwayReport:
    where: str
    steps: tuple[StairStep, ...]
    notes: tuple[str, ...] = ()
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.steps)

    def summary(self) -> str:
        bad = [s for s in self.steps if not s.ok]
        return (
            f"stairway on {self.where}: {len(self.steps) - len(bad)} of {len(self.steps)} "
            f"migration(s) apply, roll back cleanly and re-apply ({self.seconds:.2f} s)"
        )

    def as_json(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "where": self.where,
            "seconds": round(self.seconds, 3),
            "notes": list(self.notes),
            "steps": [s.as_json() for s in self.steps],
        }


def units_as_written(mset: MigrationSet) -> list[Unit]:
    """Each migration's statements and its rollback's, as the files say."""
    out: list[Unit] = []
    for m in mset.migrations:
        down: tuple[Statement, ...] | None = None
        if m.rollback is not None:
            down = tuple(m.rollback.parts().statements)  # as `rollback` reads it
        rb_name = m.rollback.filename if m.rollback else ""
        out.append(Unit(m.filename, tuple(m.statements()), down, rb_name))
    return out


def units_translated(mset: MigrationSet, units: PostgresUnits) -> list[Unit]:
    """Each migration and rollback as translated to PostgreSQL (SQLite-dialect files on a
    PostgreSQL scratch)."""
    out: list[Unit] = []
    for m in mset.migrations:
        errors = [f for f in units.findings.get(m.filename, ()) if f.severity == "error"]
        problem = "; ".join(f"{f.file}:{f.line}: {f.construct}: {f.why}" for f in errors)
        down = units.rollbacks.get(m.filename) if m.rollback is not None else None
        rb_name = m.rollback.filename if m.rollback else ""
        out.append(Unit(m.filename, units.migrations[m.filename], down, rb_name, problem))
    return out


def _failed(filename: str, stage: str, exc: StatementFailed, ms: int) -> StairStep:
    return StairStep(filename, stage, exc.error, exc.filename, exc.line, exc.statement, (), ms)


class _Seeder:
    """Seed statements run as soon as they can: before the first migration and after each
    one, every statement not yet run is tried (each in its own transaction)."""

    def __init__(self, scratch: Scratch, statements: Sequence[Statement], name: str) -> None:
        self.scratch = scratch
        self.pending = list(statements)
        self.name = name
        self.errors: dict[int, str] = {}

    def __call__(self) -> None:
        left: list[Statement] = []
        for st in self.pending:
            try:
                self.scratch.run(self.name, (st,))
            except StatementFailed as exc:
                self.errors[st.line] = exc.error
                left.append(st)
        self.pending = left

    def notes(self) -> list[str]:
        return [
            f"{self.name}:{st.line}: seed statement never ran: {self.errors.get(st.line, '?')}"
            for st in self.pending
        ]


def run_stairway(
    scratch: Scratch,
    units: Sequence[Unit],
    *,
    seed: tuple[str, Sequence[Statement]] | None = None,
    progress: Callable[[StairStep], None] | None = None,
) -> StairwayReport:
    """Walk ``units`` up the stairs on ``scratch`` (which the caller closes). Stops at a
    migration that cannot be applied or re-applied: the next ones would run on a schema the
    files never produce."""
    _refuse_live_reach(scratch, units, seed)
    started = time.perf_counter()
    steps: list[StairStep] = []
    seeder = _Seeder(scratch, seed[1], seed[0]) if seed else None
    notes: list[str] = list(scratch.swept)  # what killed runs left, removed first
    for unit in units:
        if seeder is not None:
            seeder()
        # Seeded: whether the rollback gives back the rows as well as the schema.
        rows_before = table_rows(scratch) if seeder is not None and not unit.problem else None
        changed: list[str] = []

        def rows_back(before: RowDigests | None = rows_before, out: list[str] = changed) -> None:
            if before is not None:
                out.extend(changed_tables(before, table_rows(scratch)))

        step = _stair(scratch, unit, rows_back)
        steps.append(step)
        if step.ok and changed:
            notes.append(
                f"{unit.rollback_file} gives the schema back but not the seeded rows of "
                f"{', '.join(changed)}: a `rollback` of {unit.filename} keeps what it changed "
                "in them (only a backup has the rows as they were)"
            )
        if progress is not None:
            progress(step)
        if step.stage in ("apply", "reapply", "untranslatable"):
            left = len(units) - len(steps)
            if left:
                notes.append(f"stopped after {unit.filename}: {left} later migration(s) not run")
            break
    if seeder is not None:
        seeder()
        notes.extend(seeder.notes())
    notes.extend(_left_outside(scratch))
    return StairwayReport(scratch.where, tuple(steps), tuple(notes), time.perf_counter() - started)


def _left_outside(scratch: Scratch) -> list[str]:
    from malnu_tui.engine.scratch_pg import PostgresScratch

    left = scratch.left_outside() if isinstance(scratch, PostgresScratch) else None
    return [left] if left else []


def _refuse_live_reach(
    scratch: Scratch, units: Sequence[Unit], seed: tuple[str, Sequence[Statement]] | None
) -> None:
    """On a scratch schema of a live database, a set that names one of its schemas is refused
    before anything runs (engine/live_guard.py); on a scratch server, one that names a schema
    of the server's search path has its bare names land there, as ``up`` has them."""
    from malnu_tui.engine.live_guard import live_reach_of, names_objects_in
    from malnu_tui.engine.scratch_pg import PostgresScratch

    if not isinstance(scratch, PostgresScratch):
        return
    files: list[tuple[str, Sequence[Statement]]] = [*([seed] if seed else [])]
    for u in units:
        files.append((u.filename, u.up))
        if u.down is not None:
            files.append((u.rollback_file, u.down))
    if not scratch.rolled_back:
        if scratch.path_schemas and names_objects_in(files, scratch.path_schemas):
            scratch.server_path_first()
        return
    reach = live_reach_of(files, scratch.backend.conn)
    if reach is not None:
        raise MigrationFileError(
            reach.file,
            f"names {reach.what}, a schema of the live database {scratch.backend.display_url}: "
            "the stairway there runs in a scratch schema, which this leaves (its locks held "
            "until the end, sequences moved for good); pass --postgres URL of a throwaway "
            "server to test this set",
            line=reach.line,
        )


def _stair(scratch: Scratch, unit: Unit, rolled_back: Callable[[], None]) -> StairStep:
    t0 = time.perf_counter()

    def ms() -> int:
        return int((time.perf_counter() - t0) * 1000)

    if unit.problem:
        return StairStep(unit.filename, "untranslatable", unit.problem)
    before = scratch.fingerprint()
    try:
        scratch.run(unit.filename, unit.up)
    except StatementFailed as exc:
        return _failed(unit.filename, "apply", exc, ms())
    if unit.down is None:  # it applied (the next stairs stand on it), in that time
        why = "it applies; no rollback file, so it cannot be undone"
        return StairStep(unit.filename, "no-rollback", why, ms=ms())
    after = scratch.fingerprint()
    try:
        scratch.run(unit.rollback_file, unit.down)
    except StatementFailed as exc:
        step = _failed(unit.filename, "rollback", exc, ms())
        return step
    diff = compare_fingerprints(before, scratch.fingerprint())
    if not diff:
        rolled_back()
    try:
        scratch.run(unit.filename, unit.up)
    except StatementFailed as exc:
        step = _failed(unit.filename, "reapply", exc, ms())
        if diff:
            msg = f"{exc.error} (after a rollback that did not undo it: {len(diff)} difference(s))"
            return StairStep(step.filename, "reapply", msg, step.file, step.line, step.statement,
                             tuple(diff), step.ms)  # fmt: skip
        return step
    if diff:
        n = len(diff)
        return StairStep(
            unit.filename,
            "compare",
            f"{unit.rollback_file} does not restore the schema: {n} object(s) differ",
            unit.rollback_file,
            None,
            None,
            tuple(diff),
            ms(),
        )
    again = compare_fingerprints(after, scratch.fingerprint())
    if again:
        return StairStep(unit.filename, "compare", "re-applying gives a different schema",
                         unit.filename, None, None, tuple(again), ms())  # fmt: skip
    return StairStep(unit.filename, "ok", ms=ms())


def read_seed(path: str, dialect: str = "sqlite") -> tuple[str, list[Statement]]:
    """A seed file's statements (the name used in messages, the statements), written in
    ``dialect`` (the scratch's: it runs there as written)."""
    from pathlib import Path

    from malnu_tui.engine.errors import ConfigError

    p = Path(path)
    try:  # as a migration file is read: a BOM, CRLF, pg_dump's \restrict lines
        return p.name, list(read_sql_file(p, dialect).statements)
    except MigrationFileError as exc:
        raise ConfigError(f"--seed {exc}") from None


def translated_units(mset: MigrationSet) -> list[Unit]:
    from malnu_tui.engine.translate import postgres_units

    return units_translated(mset, postgres_units(mset))


def units_for(mset: MigrationSet, *, translate: bool) -> list[Unit]:
    """The units to climb: the files as written, or their PostgreSQL translation."""
    return translated_units(mset) if translate else units_as_written(mset)
