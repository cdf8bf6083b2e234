"""The health line of a target (the `check` command's verdict) for the status screen and the
alerts view: computed in a worker, shown as a symbol, a word and the problems."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.text import Text
from textual.message import Message

from malnu_tui.engine.monitor.health import Severity, TargetHealth

if TYPE_CHECKING:
    from textual.app import App

    from malnu_tui.engine.config import Target
    from malnu_tui.engine.file_sums import FileSums
    from malnu_tui.engine.migrate import StatusReport

__all__ = ["HEALTH_SECONDS", "HealthLoaded", "TargetHealth", "health_text", "target_health"]

HEALTH_SECONDS = 30.0  # the status screen re-checks a target's health at most this often

SEVERITY_LOOK: dict[Severity, tuple[str, str]] = {
    Severity.OK: ("✔", "green"),
    Severity.WARNING: ("⚠", "yellow"),
    Severity.CRITICAL: ("✘", "bold red"),
    Severity.UNKNOWN: ("?", "magenta"),
}


@dataclass
class HealthLoaded(Message):
    """A target's health was checked."""

    target: str
    health: TargetHealth
    token: tuple[int, ...] | None = None  # the SQLite file's change token after the check


def target_health(
    app: App[object],
    target: Target,
    report: StatusReport | None = None,
    sums: FileSums | None = None,
) -> TargetHealth:
    """Run every check on ``target`` with the config's thresholds (in a worker thread);
    ``report``: the status just read, reused (the files are not read and hashed again);
    ``sums``: else the rollback files' checksums kept (the target's panel's: a file is read
    again only when it changed)."""
    from malnu_tui.engine.monitor.config import MonitorConfig, load_monitor_config
    from malnu_tui.engine.monitor.reading import check_target

    settings = getattr(app, "settings", None)
    try:
        cfg = load_monitor_config(settings) if settings is not None else MonitorConfig()
    except Exception:  # a bad [monitor] table is reported by `check`/`doctor`; use defaults
        cfg = MonitorConfig()
    return check_target(target, cfg, report=report, sums=sums)


def health_text(health: TargetHealth, *, hint: bool = True) -> Text:
    """``✔ health OK`` or ``✘ health CRITICAL - 1 failed migration…`` (symbol + word)."""
    symbol, style = SEVERITY_LOOK[health.status]
    line = health.health_line().split(": ", 1)[-1]
    text = Text()
    text.append(f"{symbol} health ", style=style)
    text.append(line, style=style if health.status is not Severity.OK else "")
    if hint and health.status is not Severity.OK:
        text.append("  (h: alerts)", style="dim")
    return text
