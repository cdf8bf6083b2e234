"""Messages that workers post back to the UI thread. Frozen values from the engine travel in
them; the UI never touches a database connection itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from malnu_tui.engine.backends.base import AuditEntry
    from malnu_tui.engine.backup import BackupManifest
    from malnu_tui.engine.files import MigrationSet
    from malnu_tui.engine.histories import OtherHistories
    from malnu_tui.engine.migrate import Progress, StatusReport


@dataclass
class StatusLoaded(Message):
    """A target's status was read."""

    target: str
    report: StatusReport
    mset: MigrationSet
    token: tuple[int, ...] | None = None  # the SQLite file's change token when it was read
    histories: OtherHistories | None = None  # other tools' histories in the same database


@dataclass
class OperationFailed(Message):
    """An engine call failed; ``message`` and ``hint`` are for the operator (no traceback)."""

    what: str  # which step failed ("status", "plan", "backup", "run"…)
    message: str
    hint: str = ""
    # Refused before it began (the CLI's exit 2: bad input, configuration or schema, nothing
    # written): a screen may say "refused" with the way out, not "failed".
    refused: bool = False


@dataclass
class LocksLeft(Message):
    """Work that succeeded could not release its lock row (D1 unreachable as it released it):
    ``lines`` say so as the CLI's ``warning:`` lines do, with the way out."""

    what: str
    lines: tuple[str, ...]


@dataclass
class OperationProgress(Message):
    """A progress event of a running apply or rollback."""

    progress: Progress


@dataclass
class AuditLoaded(Message):
    entries: tuple[AuditEntry, ...]


# Worker results: one Message class per result, posted by the worker that produced it and
# handled with ``@on(TheClass)``. Results of one screen only are defined in that screen's
# module, next to the worker; the ones below are shared by several screens.


@dataclass
class BackupsListed(Message):
    """The backups of the target, newest first."""

    manifests: tuple[BackupManifest, ...]


@dataclass
class BackupProgress(Message):
    """Progress of a backup, verify or restore: done/total in arbitrary units (None: unknown)."""

    done: float
    total: float | None
    message: str = ""


@dataclass
class StatementProgress(Message):
    """The statement a running migration is on (``index`` 0: all at once, as one batch)."""

    filename: str
    index: int
    total: int
