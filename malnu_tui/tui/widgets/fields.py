"""Text fields without a blinking cursor: over SSH every blink is a repaint sent down the
line, and a steady cursor is easier to find at 2 a.m."""

from __future__ import annotations

from textual.reactive import reactive
from textual.widgets import Input, TextArea


class Field(Input):
    cursor_blink = reactive(False, init=False)


class SqlText(TextArea):
    """Read-only SQL with highlighting."""

    cursor_blink = reactive(False, init=False)
