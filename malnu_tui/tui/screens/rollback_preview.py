"""What the rollback wizard previews: how far the operator chose to go, and the engine's
preflight for it with the rows each DROP would take (one connection, in a worker)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from rich.text import Text

from malnu_tui.engine.errors import MalnuError
from malnu_tui.engine.plan import Preflight, RollbackSelection
from malnu_tui.engine.status import nothing_to_roll_back, select_rollback
from malnu_tui.tui.session import looking, migration_set
from malnu_tui.tui.widgets.error_box import problem_text

if TYPE_CHECKING:
    from malnu_tui.engine.config import Target
    from malnu_tui.engine.errors import LockHolder
    from malnu_tui.engine.files import MigrationSet
    from malnu_tui.engine.impact import RowsAtStake
    from malnu_tui.engine.migrate import MigrationStatus, Plan, StatusReport


@dataclass(frozen=True)
class RollbackChoice:
    """How far to go back: the last one, N steps, or everything after a version."""

    mode: Literal["last", "steps", "to"]
    steps: int = 1
    to: str | None = None

    def describe(self) -> str:
        if self.mode == "to":
            return f"undo everything after {self.to} (keep {self.to} applied)"
        n = 1 if self.mode == "last" else self.steps
        return "undo the last migration" if n == 1 else f"undo the last {n} migrations"

    def selection(self) -> RollbackSelection:
        if self.mode == "to":
            return RollbackSelection(to=self.to)
        return RollbackSelection(steps=self.steps if self.mode == "steps" else None)

    def chosen(self, report: StatusReport) -> list[MigrationStatus]:
        """The applied migrations this choice undoes, newest first (the engine's rule)."""
        sel = self.selection()
        try:
            return select_rollback(report, steps=sel.steps, to=sel.to)
        except MalnuError:
            return []


def choice_line(applied: Sequence[str], count: int | None) -> str:
    """How far the choice on the how-far step goes, in words: ``→ rolls back 2 (V1 … V2),
    keeps V3`` (``applied`` the versions newest first, ``count`` how many it undoes, None
    when N is not a number of them)."""
    if not applied:
        return ""
    if count is None:
        return f"→ N: a whole number from 1 to {len(applied)}"
    if count == 0:
        return f"→ rolls back nothing: {applied[0]} is the newest applied (kept)"
    span = applied[0] if count == 1 else f"{applied[0]} … {applied[count - 1]}"
    kept = f"keeps {applied[count]}" if count < len(applied) else "keeps none applied"
    return f"→ rolls back {count} ({span}), {kept}"


@dataclass(frozen=True)
class RollbackPreview:
    """The engine's preflight for this choice: what would run, and every reason it may not."""

    choice: RollbackChoice
    preflight: Preflight
    mset: MigrationSet
    stakes: tuple[RowsAtStake, ...] = ()  # what each DROP in the rollback files takes with it

    @property
    def plan(self) -> Plan | None:
        return self.preflight.plan

    @property
    def rows(self) -> tuple[MigrationStatus, ...]:
        return self.preflight.rows

    @property
    def database_name(self) -> str:
        return self.preflight.database_name

    @property
    def lock(self) -> LockHolder | None:
        return self.preflight.lock

    @property
    def problems(self) -> tuple[str, ...]:
        """What blocks, for the operator (with the hint where there is one)."""
        texts = [problem_text(p) for p in self.preflight.blocking]
        if self.plan is not None and not self.plan.steps and not texts:
            # As the CLI says it: with "to" at the head, the migrations stay applied ("no
            # migration is applied" over a database holding them all read as a wiped one).
            texts.append(nothing_to_roll_back(self.preflight.report, self.choice.to))
        return tuple(texts)

    @property
    def notices(self) -> tuple[str, ...]:
        return tuple(problem_text(p) for p in self.preflight.notices)

    @property
    def edited_acceptable(self) -> bool:
        """Only rollback files edited since their migration was applied block: the operator
        may accept them (audited), as ``rollback --accept-edited-rollback`` does."""
        from malnu_tui.engine.plan import EditedRollback

        blocking = self.preflight.blocking
        return bool(blocking) and all(isinstance(p, EditedRollback) for p in blocking)

    def edited_sums(self) -> list[tuple[str, str, str]]:
        """(rollback file, its sha256 now, the one recorded when its migration was applied)
        of each edited rollback file in the plan."""
        steps = self.plan.steps if self.plan is not None else ()
        return [
            (e.rollback_file, e.checksum, e.recorded_checksum)
            for s in steps
            if (e := s.rollback_edited) is not None
        ]


def preview_rollback(
    target: Target, choice: RollbackChoice, *, accept_edited: bool = False
) -> RollbackPreview:
    """The engine's preflight for ``choice``, on one connection (runs in a worker);
    ``accept_edited``: rollback files edited since their migration was applied are accepted
    (the CLI's ``--accept-edited-rollback``), a notice instead of a blocking problem."""
    from malnu_tui.engine.impact import files_at_stake
    from malnu_tui.engine.preflight import preflight_rollback

    mset = migration_set(target)
    sel = choice.selection()
    with looking(target) as backend:
        pf = preflight_rollback(
            backend, target, mset, steps=sel.steps, to=sel.to, accept_edited_rollback=accept_edited
        )
        stakes: list[RowsAtStake] = []
        if pf.plan is not None and pf.plan.steps:
            stakes = files_at_stake(backend, [s.file for s in pf.plan.steps], mset.dialect)
    return RollbackPreview(choice, pf, mset, tuple(stakes))


def preconditions_sentence(pf: Preflight) -> str:
    """The green line of a preview, true word for word: "no drift" only when no applied file
    has drifted, "lock free" only when no lock is held."""
    from malnu_tui.engine.plan import Drift, StaleLock

    drift_elsewhere = any(isinstance(p, Drift) and not p.in_range for p in pf.problems)
    takeover = any(isinstance(p, StaleLock) for p in pf.problems)
    parts = [
        "every rollback file present and parsable",
        "no drift in the range (drift elsewhere: see below)"
        if drift_elsewhere
        else "no applied file has drifted",
        "the dead holder's lock will be taken over" if takeover else "lock free",
    ]
    if pf.lock is not None and not takeover:
        parts[-1] = "lock held (see below)"
    return "✔ preconditions hold: " + ", ".join(parts)


def edited_sums_text(sums: Sequence[tuple[str, str, str]], accepted: bool) -> Text:
    """Each edited rollback file with both sha256 in full, as the rollback and recover
    wizards show them (the engine's one-line refusal cuts them to 12 characters)."""
    text = Text()
    if not sums:
        return text
    state = "accepted (audited), runs as it is now" if accepted else "edited"
    text.append(f"Rollback file(s) changed since applied ({state}):\n", style="bold")
    for name, now, recorded in sums:
        text.append(f"  {name}\n    now      sha256 {now}\n")
        text.append(f"    recorded sha256 {recorded}\n")
    return text
