"""A dialog's frame: title, a body that scrolls when it is taller than the screen leaves it, and
below it the field and buttons, always on screen. A sync plan with long warnings, or a repair of
many drifted files, no longer pushes the typed confirmation and the buttons off an 80×24
screen, and no line of the body is lost below the fold."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static


class DialogBox(Vertical):
    """The ``.dialog`` frame. As tall as its content; when that is taller than the screen,
    it takes the screen's height and its :class:`DialogBody` scrolls (class ``-long``).
    PgUp/PgDn scroll the body from the field; Tab also reaches it (then ↑ ↓ Home End)."""

    DEFAULT_CLASSES = "dialog"
    HELP_TITLE = "Dialogs"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("pageup", "page_body(-1)", "Scroll the text up", id="dialog.page_up"),
        Binding("pagedown", "page_body(1)", "Scroll the text down", id="dialog.page_down"),
    ]

    def on_resize(self, event: events.Resize) -> None:
        # Grown or shrunk (new text, a resized terminal): measure again at content height.
        self.remove_class("-long")
        self.call_after_refresh(self._fit)

    def _fit(self) -> None:
        self.set_class(self.virtual_size.height > self.content_region.height, "-long")

    def action_page_body(self, direction: int) -> None:
        for body in self.query(DialogBody):
            if direction < 0:
                body.scroll_page_up(animate=False)
            else:
                body.scroll_page_down(animate=False)


class DialogBody(VerticalScroll):
    """The dialog's text (a :class:`Static` with ``id``, updated as before)."""

    DEFAULT_CLASSES = "dialog-body-box"

    def __init__(self, content: Text | str, *, id: str | None = None) -> None:
        super().__init__()
        self._content = content
        self._static_id = id

    def compose(self) -> ComposeResult:
        yield Static(self._content, id=self._static_id, classes="dialog-body")
