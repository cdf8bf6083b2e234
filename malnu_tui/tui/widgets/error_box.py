"""An error shown in place, with the hint that says what to do next."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


class ErrorBox(Static):
    """Hidden until :meth:`show_error`; ``✘`` and the word ``error`` read without colour."""

    DEFAULT_CLASSES = "error-box"

    def on_mount(self) -> None:
        self.display = False

    def show_error(self, message: str, hint: str = "") -> None:
        text = Text()
        text.append("✘ error: ", style="bold")
        text.append(message)
        if hint:
            text.append("\n  hint: ", style="bold")
            text.append(hint)
        self.update(text)
        self.display = True

    def clear(self) -> None:
        self.update("")
        self.display = False
