"""The command palette (ctrl+p): every action of the console, searchable by the words of its
title and its help, each with the key that runs it beside it (from the binding registry)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content
from textual.markup import escape

from malnu_tui.tui.host import TargetsHost
from malnu_tui.tui.keys import keys_for_action

if TYPE_CHECKING:
    from textual.app import App
    from textual.fuzzy import Matcher

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
        "Wizard: undo migrations — how far, preview, typed confirmation, safety backup, run",
        "open_rollback",
    ),
    PaletteCommand(
        "Backups",
        "Browse, create, verify, restore or delete backups of this target",
        "open_backups",
    ),
    PaletteCommand(
        "Restore a backup",
        "Open the backups and pick one: verify, typed confirmation, pre-restore backup",
        "open_backups",
    ),
    PaletteCommand(
        "Point-in-time recovery",
        "Wizard: recover to a time — what is and is not recovered, confirm, run",
        "open_recover",
    ),
    PaletteCommand("Audit log", "Every change the tool made to this target", "open_audit"),
    PaletteCommand(
        "Health and alerts",
        "Every target's check, open incidents, recent runs with their durations",
        "open_alerts",
    ),
    PaletteCommand(
        "Sync between the databases",
        "Pairs, last sync and lag, sync with progress, verify report with differing keys",
        "open_sync",
    ),
    PaletteCommand(
        "Import a CSV file or a table",
        "Wizard: file or TARGET:TABLE, mapping preview, validation, typed confirmation, run",
        "open_import",
    ),
    PaletteCommand("Filter by state", "Show all, or one state at a time", "cycle_filter"),
    PaletteCommand("Next target", "Switch to the next configured database", "next_target"),
    PaletteCommand(
        "Release a stale lock", "Unlock after a dead session: who holds it, audited", "unlock"
    ),
    PaletteCommand(
        "Accept drift (repair)",
        "Record the edited file's checksum for the selected drifted migration (audited)",
        "repair",
    ),
    PaletteCommand(
        "Clear a failed migration",
        "Delete the failed row of the selected migration so it can run again (audited)",
        "clear_failed",
    ),
    PaletteCommand("Help", "Every key of every screen, with its id", "open_help"),
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


def help_with_key(app: App[object], command: PaletteCommand) -> str:
    """The command's help with the key that runs it (as remapped in ``[keys]``)."""
    keymap: dict[str, str] = getattr(app, "key_overrides", {})
    key = keys_for_action(command.action, type(app), keymap)
    return f"{command.help}   [key: {key}]" if key else command.help


def highlight_literal(matcher: Matcher, title: str) -> Content:
    """``title`` as written, its matched characters styled as Textual's ``highlight`` styles
    them (which reads the title as markup: "Switch to target sekolah [lama]" showed
    "… sekolah")."""
    content = Content(title)
    _score, offsets = matcher.fuzzy_search.match(matcher.query, title)
    for offset in offsets:
        if not title[offset].isspace():
            content = content.stylize(matcher.match_style, offset, offset + 1)
    return content


class MalnuCommands(Provider):
    """Lists every console action in the command palette."""

    def _commands(self) -> list[tuple[PaletteCommand, str]]:
        """Each command with its help, escaped: the palette reads help as markup (a target's
        URL is the help of its "Switch to target")."""
        app = self.app
        if not isinstance(app, TargetsHost):
            return []
        return [(c, escape(help_with_key(self.app, c))) for c in palette_commands(app.targets)]

    async def discover(self) -> Hits:
        for c, help_text in self._commands():
            yield DiscoveryHit(
                Content(c.title), partial(self.app.run_action, c.action), c.title, help_text
            )

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        words = query.lower().split()
        for c, help_text in self._commands():
            score = matcher.match(c.title)
            if score <= 0 and words and all(w in f"{c.title} {c.help}".lower() for w in words):
                # Every word of the query is in the help text: "undo" finds the rollback.
                score = 0.5
            if score > 0:
                yield Hit(
                    score,
                    highlight_literal(matcher, c.title),
                    partial(self.app.run_action, c.action),
                    c.title,
                    help_text,
                )
