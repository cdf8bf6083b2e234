"""The command palette (ctrl+p): every action of the console, searchable by name."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

from malnu_tui.tui.host import TargetsHost

if TYPE_CHECKING:
    from malnu_tui.engine.config import Target


@dataclass(frozen=True)
class PaletteCommand:
    title: str
    help: str
    action: str  # an app action, e.g. "open_rollback" or "switch_target('local')"


BASE_COMMANDS: tuple[PaletteCommand, ...] = (
    PaletteCommand("Refresh status", "Re-read every target's migrations", "refresh_status"),
    PaletteCommand("View SQL", "SQL of the selected migration, its rollback", "view_sql"),
    PaletteCommand("Apply pending migrations", "Wizard: plan, backup, confirm, run", "open_apply"),
    PaletteCommand(
        "Emergency rollback",
        "Wizard: how far, preview, safety backup, typed confirmation, run, verify",
        "open_rollback",
    ),
    PaletteCommand("Backups", "Browse, create, verify, restore or delete backups", "open_backups"),
    PaletteCommand(
        "Point-in-time recovery",
        "Wizard: pick a time, see what is and is not recovered, confirm, run",
        "open_recover",
    ),
    PaletteCommand("Audit log", "Every change the tool made to this target", "open_audit"),
    PaletteCommand("Filter by state", "Show all, or one state at a time", "cycle_filter"),
    PaletteCommand("Next target", "Switch to the next configured database", "next_target"),
    PaletteCommand("Release a stale lock", "Unlock after a dead session (audited)", "unlock"),
    PaletteCommand("Help", "Every key of every screen", "open_help"),
    PaletteCommand("Quit", "Leave the console (not while an operation runs)", "quit_app"),
)


def palette_commands(targets: Sequence[Target]) -> list[PaletteCommand]:
    commands = list(BASE_COMMANDS)
    for t in targets:
        commands.append(
            PaletteCommand(
                f"Switch to target {t.name}", t.display_url, f"switch_target({t.name!r})"
            )
        )
    return commands


class MalnuCommands(Provider):
    """Lists every console action in the command palette."""

    def _commands(self) -> list[PaletteCommand]:
        app = self.app
        return palette_commands(app.targets) if isinstance(app, TargetsHost) else []

    async def discover(self) -> Hits:
        for c in self._commands():
            yield DiscoveryHit(c.title, partial(self.app.run_action, c.action), help=c.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for c in self._commands():
            score = matcher.match(c.title)
            if score > 0:
                yield Hit(
                    score,
                    matcher.highlight(c.title),
                    partial(self.app.run_action, c.action),
                    help=c.help,
                )
