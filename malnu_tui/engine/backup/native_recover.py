"""``recover --to TIME`` where the kind's backup method has native point-in-time recovery (D1
Time Travel): the data itself comes back, not a backup and the migrations since. Which kinds
have it, its plan (one for the CLI and the console), and the run, audited by the method. The
recovery from backups and the audit trail is :mod:`.recover`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

from malnu_tui.engine.backends.base import Backend
from malnu_tui.engine.backup.method import NativeRecovery, method_for
from malnu_tui.engine.backup.store import BackupError, BackupProgressCallback, emitter, utc_iso
from malnu_tui.engine.config import Target

__all__ = ["NativeRecoverPlan", "native_recovery", "plan_native_recover", "run_native_recover"]


def native_recovery(kind: str) -> NativeRecovery | None:
    """The kind's native point-in-time recovery (D1 Time Travel), or None without one."""
    module = method_for(kind)
    return cast(NativeRecovery, module) if hasattr(module, "native_recover") else None


def run_native_recover(
    backend: Backend,
    target: Target,
    when: datetime,
    *,
    progress: BackupProgressCallback | None = None,
) -> str:
    """Native point-in-time recovery to ``when`` (data included); returns the restore point
    (bookmark) that undoes it. The method audits it."""
    from malnu_tui.engine.monitor.runlog import record_run

    native = native_recovery(backend.kind)
    if native is None:
        raise BackupError(f"{backend.kind} targets have no native point-in-time recovery")
    with record_run(backend, "recover", f"native {when.astimezone(UTC).isoformat()}"):
        return native.native_recover(backend, target, when.astimezone(UTC), emitter(progress))


@dataclass(frozen=True)
class NativeRecoverPlan:
    """What ``recover --to TIME`` does where the kind has native point-in-time recovery (D1
    Time Travel): the data itself comes back. One plan for the CLI and the console."""

    when: datetime
    lines: tuple[str, ...]

    @property
    def to(self) -> str:
        return utc_iso(self.when)

    def describe(self) -> list[str]:
        return list(self.lines)


def plan_native_recover(backend: Backend, target: Target, when: datetime) -> NativeRecoverPlan:
    """The native recovery's plan (D1: the bookmark of that time, asked of D1), under one
    heading: on D1 a general paragraph was followed by the Time Travel plan's own heading,
    saying twice what undoes it."""
    if backend.kind == "d1":
        from malnu_tui.engine.backends.d1.backend import D1Backend
        from malnu_tui.engine.backends.d1.timetravel import plan_time_travel

        assert isinstance(backend, D1Backend)
        tt = plan_time_travel(backend, when)
        heading = (
            f"Recover {target.name} ({backend.display_url}) to {tt.to} with D1 Time Travel, "
            "its native point-in-time restore: data and schema come back as they were then; "
            "everything written since is replaced."
        )
        return NativeRecoverPlan(when, (heading, *tt.steps()))
    lines = [
        f"Recover {target.name} ({backend.display_url}) to {utc_iso(when)} with "
        f"{backend.kind}'s native point-in-time restore:",
        "  data and schema come back as they were at that time; everything written since is",
        "  replaced. The restore point that undoes this is printed and recorded in the audit log.",
    ]
    return NativeRecoverPlan(when, tuple(lines))
