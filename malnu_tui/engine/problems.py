"""What a preflight finds, as values: the problems (a live or stale lock, drift, missing
rollbacks, unreadable files…), the :class:`Preflight` that carries them, and the rules of the
typed confirmation and of the lock. Light on purpose (no migration files, status or plans): a
sync, an import or a restore shows its lock precondition and asks for its confirmation without
loading the migration modules (start-up). :mod:`.plan` re-exports every name here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from malnu_tui.engine.backends.base import lock_host
from malnu_tui.engine.errors import (
    ChecksumDrift,
    ConfigError,
    LockHeld,
    LockHolder,
    MalnuError,
    MigrationFileError,
    MissingRollback,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from malnu_tui.engine.backends.base import Backend
    from malnu_tui.engine.config import Target
    from malnu_tui.engine.plan import Plan
    from malnu_tui.engine.status import MigrationStatus, StatusReport

__all__ = [
    "AppliedByOtherRunner",
    "AppliedByWrangler",
    "BadRequest",
    "Drift",
    "EditedRollback",
    "LiveLock",
    "MissingRollbackFiles",
    "Notice",
    "Preflight",
    "Problem",
    "RecoverStoppedHalfWay",
    "RowSecurity",
    "StaleLock",
    "UnreadableFile",
    "Untranslatable",
    "confirmation_word",
    "is_confirmed",
    "lock_problem",
    "preflight_lock",
    "with_hint",
]


# -- problems -------------------------------------------------------------------------------


@dataclass(frozen=True)
class LiveLock:
    """Another operator's process holds the migration lock: nothing may start (exit 3)."""

    holder: LockHolder
    blocking: ClassVar[bool] = True

    def describe(self) -> str:
        h = self.holder
        doing = h.note or "an operation"
        return (
            f"the migration lock is held by {h.owner} on {h.host} (pid {h.pid}), "
            f"doing {doing}, since {h.acquired_at}"
        )

    def error(self) -> MalnuError:
        return LockHeld(self.holder)


@dataclass(frozen=True)
class StaleLock:
    """The lock of a dead holder (its process is gone, or its lease expired): it is taken
    over when the operation takes the lock, and the takeover is audited."""

    holder: LockHolder
    reason: str  # "pid 3446 is not running", "its lease expired at …"
    blocking: ClassVar[bool] = False

    def describe(self) -> str:
        # Whose it was and what it was doing: a rollback killed half-way wants a look.
        return (
            f"{self.reason}: its lock will be taken over (audited); it was the lock of "
            f"{self.holder.describe()}"
        )

    def error(self) -> MalnuError:
        return LockHeld(self.holder, self.reason)


@dataclass(frozen=True)
class Drift:
    """Applied files edited since they ran: inside the range an operation touches (blocks),
    or elsewhere (a warning for a rollback; a block for ``up``, which builds on them)."""

    filenames: tuple[str, ...]
    in_range: bool
    blocking: bool = True

    def describe(self) -> str:
        where = "in the range" if self.in_range else "outside the range"
        return f"drift {where}: " + ", ".join(self.filenames) + " changed since they ran"

    def error(self) -> MalnuError:
        return ChecksumDrift(list(self.filenames))


@dataclass(frozen=True)
class EditedRollback:
    """Rollback files changed since their migration was applied (engine/rollback_sums.py):
    blocks, unless the operator accepts them (``--accept-edited-rollback``, audited)."""

    files: tuple[str, ...]
    accepted: bool = False

    @property
    def blocking(self) -> bool:
        return not self.accepted

    def describe(self) -> str:
        if self.accepted:
            return "edited rollback file(s) accepted (audited): " + "; ".join(self.files)
        return str(self.error())

    def error(self) -> MalnuError:
        from malnu_tui.engine.errors import RollbackEdited

        return RollbackEdited(list(self.files))


@dataclass(frozen=True)
class MissingRollbackFiles:
    filenames: tuple[str, ...]
    gone: tuple[str, ...] = ()  # of them, rows whose migration file is gone too
    blocking: ClassVar[bool] = True

    def describe(self) -> str:
        return str(self.error())

    def error(self) -> MalnuError:
        return MissingRollback(list(self.filenames), list(self.gone))


@dataclass(frozen=True)
class UnreadableFile:
    """A file that cannot be read or split, or whose dependencies are not met."""

    path: str
    message: str
    line: int | None = None
    blocking: ClassVar[bool] = True

    def describe(self) -> str:
        return str(self.error())

    def error(self) -> MalnuError:
        return MigrationFileError(self.path, self.message, line=self.line)


@dataclass(frozen=True)
class _Blocking:
    """A blocking problem that is its message (and a hint)."""

    message: str
    hint: str = ""
    blocking: ClassVar[bool] = True

    def describe(self) -> str:
        return self.message


@dataclass(frozen=True)
class Untranslatable(_Blocking):
    """Statements with no faithful translation for the target's dialect."""

    def error(self) -> MalnuError:
        return MalnuError(self.message, hint=self.hint or None)


@dataclass(frozen=True)
class BadRequest(_Blocking):
    """What was asked cannot be planned (unknown version, more steps than applied…)."""

    def error(self) -> MalnuError:
        return ConfigError(self.message, hint=self.hint or None)


@dataclass(frozen=True)
class AppliedByWrangler(_Blocking):
    """Pending migrations that wrangler's own history (``d1_migrations``), or the Supabase
    CLI's (``supabase_migrations.schema_migrations``), shows as applied: running them again
    would apply them twice."""

    def error(self) -> MalnuError:
        return MalnuError(self.message, hint=self.hint or None)


@dataclass(frozen=True)
class AppliedByOtherRunner(AppliedByWrangler):
    """Another runner's history (Prisma, Drizzle, dbmate, Rails, golang-migrate, Flyway,
    Alembic: backends/other_runners.py) shows migrations applied that `up` would run again:
    exit 1 as for wrangler's and the Supabase CLI's, one line naming its table, its rows and
    the `adopt` that records them."""


@dataclass(frozen=True)
class RecoverStoppedHalfWay(_Blocking):
    """A ``recover --to TIME`` stopped between its restore and its migrations
    (engine/recover_state.py): ``up``/``rollback`` would run on its half-way state."""

    def error(self) -> MalnuError:
        from malnu_tui.engine.errors import RecoverHalfDone

        return RecoverHalfDone(self.message, hint=self.hint or None)


@dataclass(frozen=True)
class RowSecurity(_Blocking):
    """A step reads or writes a table whose row level security policies narrow what the
    tool's role sees (backends/pg_rowsec.py): it would touch only some of the rows. Said
    with its way out (the CLI's ``problem:`` lines show ``describe()`` alone;
    :func:`with_hint` does not say it twice)."""

    def describe(self) -> str:
        return f"{self.message} — {self.hint}" if self.hint else self.message

    def error(self) -> MalnuError:
        from malnu_tui.engine.errors import NotPermitted

        return NotPermitted(self.message, hint=self.hint or None)


@dataclass(frozen=True)
class Notice:
    """Something the operator should read before confirming; blocks nothing."""

    message: str
    blocking: ClassVar[bool] = False

    def describe(self) -> str:
        return self.message

    def error(self) -> MalnuError:
        return MalnuError(self.message)


Problem = (
    Notice
    | AppliedByWrangler
    | LiveLock
    | StaleLock
    | Drift
    | EditedRollback
    | MissingRollbackFiles
    | UnreadableFile
    | Untranslatable
    | BadRequest
    | RecoverStoppedHalfWay
    | RowSecurity
)


def with_hint(problem: Problem, hint_as: Callable[[str], str] | None = None) -> str:
    """A problem as a screen lists it: its text and, when it blocks, its way out (its error's
    hint, which the CLI prints as ``hint:``), said once (RowSecurity's text already ends with
    it). ``hint_as`` rewords the hint (the console names its keys for the CLI's commands).
    Secrets masked, as the CLI masks its lines."""
    from malnu_tui.engine.monitor.debuglog import mask_secrets

    text = problem.describe()
    hint = problem.error().hint if problem.blocking else None
    if hint and hint not in text:
        text = f"{text} — {hint_as(hint) if hint_as is not None else hint}"
    return mask_secrets(text)


@dataclass(frozen=True)
class Preflight:
    """One operation's plan and every precondition problem, before anything is asked."""

    operation: str  # rollback, apply, repair, clear-failed, unlock, restore, recover
    target: str
    database_name: str  # the word the operator types to confirm (:func:`confirmation_word`)
    plan: Plan | None
    problems: tuple[Problem, ...] = ()
    report: StatusReport | None = None
    rows: tuple[MigrationStatus, ...] = ()  # what the operation touches, even when blocked
    lock: LockHolder | None = None

    @property
    def blocking(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.blocking)

    @property
    def notices(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if not p.blocking)

    @property
    def ok(self) -> bool:
        return not self.blocking

    def error(self) -> MalnuError | None:
        """The error a script sees: a live lock first (exit 3), else the first blocking
        problem's own error; None when nothing blocks."""
        blocking = self.blocking
        live = [p for p in blocking if isinstance(p, LiveLock)]
        first = live[0] if live else (blocking[0] if blocking else None)
        return None if first is None else first.error()

    def raise_if_blocked(self) -> None:
        err = self.error()
        if err is not None:
            raise err

    def require_plan(self) -> Plan:
        self.raise_if_blocked()
        assert self.plan is not None
        return self.plan


# -- rules ----------------------------------------------------------------------------------


def confirmation_word(backend: Backend) -> str:
    """The one word an operator types to confirm destructive work: the database's name."""
    return backend.name


def is_confirmed(typed: str, word: str) -> bool:
    """The typed confirmation rule, for the CLI prompt and the console alike."""
    return typed.strip() == word


def lock_problem(holder: LockHolder | None, this_host: str | None = None) -> Problem | None:
    """A held lock as a problem: live (blocks, exit 3) or dead (taken over)."""
    if holder is None:
        return None
    from malnu_tui.engine.backends.lease import lock_is_stale

    host = this_host or lock_host()
    reason = lock_is_stale(holder, host)
    if reason is None:
        return LiveLock(holder)
    return StaleLock(holder, reason)


def preflight_lock(backend: Backend, target: Target, operation: str) -> Preflight:
    """The lock precondition alone, for operations whose plan is made elsewhere (restore,
    recover, import, sync): a live holder blocks before anything is asked; a dead one is
    taken over."""
    lock = backend.read_lock()
    problem = lock_problem(lock)
    return Preflight(
        operation,
        target.name,
        confirmation_word(backend),
        None,
        (problem,) if problem is not None else (),
        lock=lock,
    )
