"""A backup manifest as text (the backup browser's side pane, the restore wizard), and the
backups of a target: shared by the backup browser, the restore and the recover wizards."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text

if TYPE_CHECKING:
    from malnu_tui.engine.backup import BackupManifest
    from malnu_tui.engine.config import Target


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def short_time(iso: str | None) -> str:
    """``2026-11-24T13:15:02.123456+00:00`` → ``2026-11-24 13:15:02``."""
    if not iso:
        return ""
    return iso.replace("T", " ")[:19]


def verified_cell(m: BackupManifest) -> Text:
    """The "verified" cell of a list of backups: the engine's word, in colour too."""
    label = m.verified_label
    return Text(label, style="green" if m.verified else "bold red" if m.gone else "yellow")


def manifest_text(m: BackupManifest) -> Text:
    text = Text()

    def field(name: str, value: str, style: str = "") -> None:
        text.append(f"{name:>13} ", style="bold")
        text.append(value + "\n", style=style)

    field("id", m.id)
    field("created", short_time(m.created_at) + " UTC")
    field("reason", m.reason)
    field("target", m.target)
    field("method", m.method)
    field("size", f"{human_size(m.size)} ({m.size} bytes)")
    field("sha256", m.sha256)
    field("head", m.head or "—")
    field("migrations", f"{len(m.migrations)} applied at backup time")
    if m.verified_at:
        field("verified", f"✔ {short_time(m.verified_at)} UTC", "green")
    elif m.gone:
        field("verified", f"✘ gone: {m.gone}; it cannot be restored", "bold red")
    else:
        field("verified", "✘ not verified (v to verify)", "bold yellow")
    field("schema hash", m.schema_hash[:16] + "…")
    if m.row_counts:
        counts = ", ".join(f"{t} {n}" for t, n in sorted(m.row_counts.items()))
        field("rows", counts)
    if m.native_restore_point:
        field("restore point", m.native_restore_point)
    field("tool", m.tool_version)
    return text


def list_target_backups(target: Target) -> tuple[BackupManifest, ...]:
    from malnu_tui.engine.backup import backups_of

    return tuple(backups_of(target)[0])
