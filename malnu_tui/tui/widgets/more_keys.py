"""The keys of a screen that its footer leaves out, on a line of their own above the footer.

Textual's footer is one line: at 80 columns the status screen's recover, health, sync,
import, target, refresh, unlock, accept-drift and clear-failed keys did not fit, and were only
in help and the palette. An operator must find every key from the screen that takes it, so the
screen's own bindings declared with ``show=False`` are listed here, as the footer shows keys
(remapped ones as remapped), wrapped between keys, never inside one.
"""

from __future__ import annotations

from rich.cells import cell_len
from rich.text import Text
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Static

LABEL = "more:"


def hidden_bindings(screen: Screen[object]) -> list[Binding]:
    """The bindings the screen class declares that the footer does not show, one per action,
    in the order they are declared (with the keys ``[keys]`` gave them); not one that does
    nothing now (``check_action`` None: the SQL view's p and P on a file's first piece were
    listed, and pressed, did nothing; a footer would have told it by a dimmer colour alone)."""
    own = {b.id for b in type(screen).__dict__.get("BINDINGS", ()) if isinstance(b, Binding)}
    seen: dict[str, Binding] = {}
    for node, binding, enabled, _tooltip in screen.active_bindings.values():
        if node is not screen or binding.show or binding.id not in own or not enabled:
            continue  # Textual's own (tab, copy) and the footer's are not repeated here
        seen.setdefault(binding.action, binding)
    return list(seen.values())


def wrap_keys(items: list[tuple[str, str]], width: int) -> Text:
    """``LABEL key description  key description …`` in lines of at most ``width`` cells,
    broken only between keys."""
    text = Text()
    text.append(LABEL, style="dim")
    used = len(LABEL)
    for key, description in items:
        piece = cell_len(key) + 1 + cell_len(description)
        if used + 2 + piece > width and used > len(LABEL):
            text.append("\n")
            used = 0
        elif used:
            text.append("  ")
            used += 2
        text.append(key, style="bold")
        text.append(f" {description}")
        used += piece
    return text


class MoreKeys(Static):
    """Every key of the screen that the footer does not show (remapped ones as remapped).

    In the screen's flow below a ``1fr`` body, not docked: two docked lines would overlap."""

    DEFAULT_CSS = """
    MoreKeys {
        height: auto;
        padding: 0 1;
        color: $footer-foreground;
        background: $footer-background;
    }
    """

    def __init__(self) -> None:
        super().__init__(markup=False)

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)
        self._show()

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def on_resize(self) -> None:
        self._show()

    def _bindings_changed(self, _screen: Screen[object]) -> None:
        self._show()

    def _show(self) -> None:
        items = [
            (self.app.get_key_display(b), b.description or b.action)
            for b in hidden_bindings(self.screen)
        ]
        self.display = bool(items)
        width = self.size.width - 2 if self.size.width > 2 else self.app.size.width - 2
        self.update(wrap_keys(items, max(width, 20)))
