"""Safety backups taken before destructive work (``pre-up``, ``pre-rollback``…)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from malnu_tui.engine.backends.base import AuditEntry, Backend

if TYPE_CHECKING:
    from malnu_tui.engine.backup import BackupProgressCallback
    from malnu_tui.engine.config import Target


def record_skipped_backup(backend: Backend, command: str) -> None:
    """Audit that the operator chose ``--no-backup`` for ``command``."""
    backend.append_audit(
        AuditEntry.now("backup", f"pre-{command}", "skipped", "operator passed --no-backup")
    )


def warnings_to(say: Callable[[str], None]) -> BackupProgressCallback:
    """A backup's progress that passes on only its warnings (a D1 dump holding integers it
    rounds, say): the one thing of a safety backup an operator must read."""
    from malnu_tui.engine.progress import BackupProgress

    def show(p: BackupProgress) -> None:
        if p.message.startswith("warning:"):
            say(p.message)

    return show


def backup_taker(
    backend: Backend, target: Target, progress: BackupProgressCallback | None = None
) -> Callable[[str], str | None]:
    """A callable taking a safety backup with the given reason and returning its id
    (``apply_plan``'s ``safety_backup``); ``progress`` receives the backup's progress."""

    def take(reason: str) -> str | None:
        from malnu_tui.engine.backup import create_backup
        from malnu_tui.engine.backup.store import DumpRefused
        from malnu_tui.engine.progress import BackupProgress

        try:
            manifest = create_backup(backend, target, reason=reason, progress=progress)
        except DumpRefused as exc:
            # No dump can be made (D1 with virtual tables): its bookmark, taken under the
            # lock before the work, is the way back; said and audited, the work goes on.
            entry = AuditEntry.now("backup", reason, "bookmark", exc.way_back[:500])
            backend.append_audit(entry)
            if progress is not None:
                progress(BackupProgress("backup", 0, 0, f"warning: {exc.way_back}"))
            return None
        return manifest.id

    return take
