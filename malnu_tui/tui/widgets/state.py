"""How a migration state looks: symbol and word always, colour only as a third cue."""

from __future__ import annotations

from rich.text import Text

from malnu_tui.engine.migrate import STATE_SYMBOLS, MigrationState

STATE_STYLES: dict[MigrationState, str] = {
    MigrationState.APPLIED: "green",
    MigrationState.PENDING: "yellow",
    MigrationState.FAILED: "bold red",
    MigrationState.DRIFTED: "bold magenta",
    MigrationState.MISSING: "red",
}


def state_label(state: MigrationState) -> str:
    """``✔ applied``: readable without colour."""
    return f"{STATE_SYMBOLS[state]} {state.value}"


def state_text(state: MigrationState) -> Text:
    return Text(state_label(state), style=STATE_STYLES[state])
