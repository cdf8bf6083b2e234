"""``check --prometheus FILE``: the check's facts as gauges for node_exporter's textfile
collector, written to a temp file in the same directory and renamed into place (a scrape never
sees half a file)."""

from __future__ import annotations

import contextlib
import errno
import math
import os
import stat
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from malnu_tui.engine.private import hand_over

if TYPE_CHECKING:
    from malnu_tui.engine.monitor.health import CheckReport

__all__ = ["GAUGES", "NotARegularFile", "render", "render_unknown", "write_atomic"]

# gauge name → (metric key in TargetHealth.metrics, help text)
GAUGES: tuple[tuple[str, str, str], ...] = (
    ("malnu_migrations_failed", "failed", "Failed migrations (stuck, or failed in the last hour)"),
    ("malnu_migrations_pending", "pending", "Pending migrations"),
    ("malnu_migrations_slow", "slow", "Migrations over slow_migration_seconds in the last 24 h"),
    ("malnu_backup_age_seconds", "backup_age_seconds",
     "Newest verified backup age (NaN: none, or dated ahead of this clock)"),
    ("malnu_backup_dated_ahead", "backup_dated_ahead",
     "1: the newest verified backup is dated over 5 min ahead of this clock (its age NaN)"),
    ("malnu_imports_failed", "failed_imports", "Imports whose newest run failed"),
    ("malnu_syncs_failed", "failed_syncs", "Syncs whose newest run failed"),
    ("malnu_sync_lag_seconds", "sync_lag_seconds",
     "Seconds since the oldest last successful sync (NaN: every one dated ahead of this clock)"),
    ("malnu_syncs_dated_ahead", "syncs_dated_ahead",
     "Syncs whose last success is dated over 5 min ahead of this clock (their lag not known)"),
    ("malnu_syncs_never_run", "syncs_never_run",
     "The config's [sync.NAME] pairs into this target no sync ever completed"),
    ("malnu_supabase_rls_off_tables", "rls_off", "Supabase tables and views open to the anon key"),
    ("malnu_check_status", "status", "Check status: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN"),
)  # fmt: skip


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def render(report: CheckReport) -> str:
    """The exposition-format text (``# HELP``, ``# TYPE``, one sample per target)."""
    lines: list[str] = []
    for name, key, help_text in GAUGES:
        samples = [
            f'{name}{{target="{_label(t.target)}"}} {_number(float(t.metrics[key]))}'
            for t in report.targets
            if key in t.metrics
        ]
        if not samples:
            continue
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} gauge")
        lines.extend(samples)
    return "\n".join(lines) + "\n"


def render_unknown() -> str:
    """The file of a run that could check no target (a config that cannot be read, an unknown
    ``--target``): ``malnu_check_status 3`` without a target label, in place of the last
    run's gauges, which went on saying 0 (OK) to Prometheus while nothing was checked."""
    name, _, help_text = GAUGES[-1]
    return f"# HELP {name} {help_text}\n# TYPE {name} gauge\n{name} 3\n"


class NotARegularFile(OSError):
    """``--prometheus`` names something that is no file to replace: a device, a folder, a
    pipe. Renamed over (as root), ``/dev/null`` became a regular file for the whole machine."""


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to a temp file beside ``path``, fsync, and rename it into place. Only a
    regular file (or a link, which is replaced itself) is replaced: :class:`NotARegularFile`."""
    path = Path(path)
    with contextlib.suppress(FileNotFoundError):
        mode = os.lstat(path).st_mode
        if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
            raise NotARegularFile(
                errno.EINVAL,
                "not a regular file (a device, a folder, a pipe): name a file "
                "in node_exporter's textfile folder",
            )
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        hand_over(fd, directory)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
