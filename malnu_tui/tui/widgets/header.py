"""The console's header: Textual's, with an icon that every common terminal font has ("⭘",
Textual's default, shows as a box in many fonts over SSH)."""

from __future__ import annotations

from textual.widgets import Header

HEADER_ICON = "≡"


class AppHeader(Header):
    """Header with :data:`HEADER_ICON`; clicking it opens the command palette, as before."""

    def __init__(self) -> None:
        super().__init__(icon=HEADER_ICON)
