"""Sync between the databases: copy tables from one target to another and prove the copy
complete (counts, then checksums over key ranges, down to the differing keys).

No UI here: the CLI and the console call :func:`plan_sync`, :func:`run_sync`,
:func:`dry_run` and :func:`verify_sync` and show the frozen values they return. The names
below are imported on first use (PEP 562): ``sync status`` or a caller that needs only the
pairs (``sync.pairs``) never loads the copy and its checks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from malnu_tui.engine.lazy import lazy_exports

if TYPE_CHECKING:
    from malnu_tui.engine.sync.model import (
        Difference,
        SyncProgress,
        TablePlan,
        TableReport,
    )
    from malnu_tui.engine.sync.pairs import (
        SyncPair,
        configured_source,
        load_pairs,
        resolve_end,
    )
    from malnu_tui.engine.sync.readonly import (
        CopyStatus,
        copy_statuses,
        dry_run,
        lag_seconds,
        read_states,
        states,
        verify_sync,
    )
    from malnu_tui.engine.sync.relations import left_behind
    from malnu_tui.engine.sync.run import run_sync, start_early
    from malnu_tui.engine.sync.session import SyncRequest, SyncSession, plan_sync
    from malnu_tui.engine.sync.side import SyncState

__all__ = [
    "CopyStatus",
    "Difference",
    "SyncPair",
    "SyncProgress",
    "SyncRequest",
    "SyncSession",
    "SyncState",
    "TablePlan",
    "TableReport",
    "configured_source",
    "copy_statuses",
    "dry_run",
    "lag_seconds",
    "left_behind",
    "load_pairs",
    "plan_sync",
    "read_states",
    "resolve_end",
    "run_sync",
    "start_early",
    "states",
    "verify_sync",
]

_WHERE = {
    "Difference": "model",
    "SyncProgress": "model",
    "TablePlan": "model",
    "TableReport": "model",
    "SyncPair": "pairs",
    "configured_source": "pairs",
    "load_pairs": "pairs",
    "resolve_end": "pairs",
    "CopyStatus": "readonly",
    "copy_statuses": "readonly",
    "dry_run": "readonly",
    "lag_seconds": "readonly",
    "read_states": "readonly",
    "states": "readonly",
    "verify_sync": "readonly",
    "left_behind": "relations",
    "run_sync": "run",
    "start_early": "run",
    "SyncRequest": "session",
    "SyncSession": "session",
    "plan_sync": "session",
    "SyncState": "side",
}


__getattr__ = lazy_exports(__name__, _WHERE)
