"""Progress of long data work (backup, verify, restore, D1 export/import) as plain values: the
engine reports them through a callback, the CLI prints them and the console draws them. Below
every driver and the backup package, so a driver reports progress without importing either."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["BackupProgress", "BackupProgressCallback", "emitter"]


@dataclass(frozen=True)
class BackupProgress:
    """A progress event of a backup, verify or restore.

    ``phase`` is one of ``copy``, ``dump``, ``check``, ``hash``, ``fsync``, ``manifest``,
    ``verify``, ``pre-restore``, ``restore``, ``migrate``, ``done``. ``done``/``total`` are
    bytes (or pages) when ``total`` > 0; ``total`` is 0 when the amount is unknown.
    """

    phase: str
    done: int = 0
    total: int = 0
    message: str = ""

    @property
    def fraction(self) -> float | None:
        """0.0…1.0 when the total is known, else None."""
        if self.total <= 0:
            return None
        return min(1.0, self.done / self.total)


BackupProgressCallback = Callable[[BackupProgress], None]


def _no_progress(_p: BackupProgress) -> None:
    return None


def emitter(progress: BackupProgressCallback | None) -> BackupProgressCallback:
    """``progress`` or a callback that does nothing."""
    return progress or _no_progress
