"""Backups, verified restore and point-in-time recovery.

The public API the CLI and the TUI call (all in the engine, none of it prints):

- :func:`backups_of` (a target's own backups, wherever its stores are), :func:`find_backup`,
  :func:`list_backups`, :func:`load_manifest`,
  :func:`delete_backup`, :func:`plan_prune`, :func:`prune_backups`: the store of one target
  (``target.backup_dir``);
- :func:`create_backup`, :func:`verify_backup`, :func:`restore_backup`;
- :func:`plan_recover`, :func:`run_recover`: ``recover --to TIME``; :func:`native_recovery` /
  :func:`run_native_recover` where the kind has native PITR (D1 Time Travel).

Long operations take ``progress: Callable[[BackupProgress], None]``. The names are imported
on first use (PEP 562): ``check``, which reads the store only, never loads the backup, restore
and recovery modules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from malnu_tui.engine.lazy import lazy_exports

if TYPE_CHECKING:
    from malnu_tui.engine.backup.core import VerifyReport, create_backup, verify_backup
    from malnu_tui.engine.backup.method import METHOD_MODULES, Snapshot, VerifyCheck
    from malnu_tui.engine.backup.native_recover import (
        NativeRecoverPlan,
        native_recovery,
        plan_native_recover,
        run_native_recover,
    )
    from malnu_tui.engine.backup.owners import backup_of, backups_of, find_backup
    from malnu_tui.engine.backup.recover import (
        RecoverPlan,
        RecoverResult,
        parse_when,
        plan_recover,
        run_recover,
    )
    from malnu_tui.engine.backup.restore import RestoreResult, restore_backup
    from malnu_tui.engine.backup.retention import (
        PrunePlan,
        delete_backup,
        pinned_backups,
        plan_prune,
        prune_backups,
        prune_under_lock,
    )
    from malnu_tui.engine.backup.store import (
        REASONS,
        AppliedMigration,
        BackupCorrupt,
        BackupError,
        BackupManifest,
        BackupNotFound,
        BackupProgress,
        BackupProgressCallback,
        list_backups,
        load_manifest,
    )

__all__ = [
    "METHOD_MODULES",
    "REASONS",
    "AppliedMigration",
    "BackupCorrupt",
    "BackupError",
    "BackupManifest",
    "BackupNotFound",
    "BackupProgress",
    "BackupProgressCallback",
    "NativeRecoverPlan",
    "PrunePlan",
    "RecoverPlan",
    "RecoverResult",
    "RestoreResult",
    "Snapshot",
    "VerifyCheck",
    "VerifyReport",
    "backup_of",
    "backups_of",
    "create_backup",
    "delete_backup",
    "find_backup",
    "list_backups",
    "load_manifest",
    "native_recovery",
    "parse_when",
    "pinned_backups",
    "plan_native_recover",
    "plan_prune",
    "plan_recover",
    "prune_backups",
    "prune_under_lock",
    "restore_backup",
    "run_native_recover",
    "run_recover",
    "verify_backup",
]

_WHERE = {
    "RestoreResult": "restore",
    "VerifyReport": "core",
    "create_backup": "core",
    "restore_backup": "restore",
    "verify_backup": "core",
    "METHOD_MODULES": "method",
    "Snapshot": "method",
    "VerifyCheck": "method",
    "NativeRecoverPlan": "native_recover",
    "native_recovery": "native_recover",
    "plan_native_recover": "native_recover",
    "run_native_recover": "native_recover",
    "RecoverPlan": "recover",
    "RecoverResult": "recover",
    "parse_when": "recover",
    "plan_recover": "recover",
    "run_recover": "recover",
    "PrunePlan": "retention",
    "delete_backup": "retention",
    "pinned_backups": "retention",
    "plan_prune": "retention",
    "prune_backups": "retention",
    "prune_under_lock": "retention",
    "REASONS": "store",
    "AppliedMigration": "store",
    "BackupCorrupt": "store",
    "BackupError": "store",
    "BackupManifest": "store",
    "BackupNotFound": "store",
    "BackupProgress": "store",
    "BackupProgressCallback": "store",
    "backup_of": "owners",
    "backups_of": "owners",
    "find_backup": "owners",
    "list_backups": "store",
    "load_manifest": "store",
}


__getattr__ = lazy_exports(__name__, _WHERE)
