"""Text that scrolls when it is taller than the screen leaves it, while the field and buttons
below it stay on screen: a dialog's body, a wizard's confirmation (the list of what will run).
A sync plan with long warnings, or 18 pending migrations above the apply wizard's typed
confirmation, no longer pushes the field (and the reason a typed word was refused) off an 80×24
screen, and no line of the text is lost below the fold."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.widget import Widget

from malnu_tui.tui.widgets.plain import Static


class FitScroll(VerticalScroll):
    """A :class:`Static` (its ``id`` and ``classes`` given here, updated as before) as tall as
    its text; when its container overflows (class ``-long``, see :func:`refit`), it takes
    what the container's other widgets leave and scrolls."""

    DEFAULT_CLASSES = "fit-scroll"

    def __init__(self, content: Text | str, *, id: str | None = None, classes: str = "") -> None:
        super().__init__()
        self._content = content
        self._static_id = id
        self._static_classes = classes

    def compose(self) -> ComposeResult:
        yield Static(self._content, id=self._static_id, classes=self._static_classes)


def refit(container: Widget) -> None:
    """Mark ``container`` ``-long`` when its children, its :class:`FitScroll` at its text's
    full height, take more than its height, so that the FitScroll shrinks to what is left and
    scrolls. Measured once the new text is laid out; the class is never taken off to measure
    (taken off, then measured a refresh too early, a loaded machine and a quiet one ended in
    different pictures)."""
    container.call_after_refresh(_fit, container)


def _tables_sizing(container: Widget) -> bool:
    """Whether a table in ``container`` has yet to size itself (a DataTable does so when
    idle, late on a loaded machine): measured before, the step stayed as measured."""
    from textual.widgets import DataTable

    return any(
        t._require_update_dimensions or t._new_rows or t._updated_cells
        for t in container.query(DataTable)
    )


def _fit(container: Widget, tries: int = 50) -> None:
    from textual.css.scalar import Unit

    if tries and _tables_sizing(container):  # measure once they have their size
        container.call_after_refresh(_fit, container, tries - 1)
        return

    taken = 0
    for child in container.displayed_children:
        margin = child.styles.margin.top + child.styles.margin.bottom
        gutter = child.outer_size.height - child.size.height
        height = child.styles.height
        if isinstance(child, FitScroll):
            inner = sum(
                c.outer_size.height + c.styles.margin.top + c.styles.margin.bottom
                for c in child.displayed_children
            )
            taken += inner + gutter + margin
        elif height is not None and height.unit == Unit.FRACTION:
            least = child.styles.min_height
            taken += (int(least.value) if least is not None else 1) + gutter + margin
        else:
            taken += child.outer_size.height + margin
    container.set_class(taken > container.content_region.height, "-long")


def page_text(container: Widget, direction: int) -> None:
    """PgUp/PgDn: scroll ``container``'s :class:`FitScroll` (the field keeps the focus)."""
    for text in container.query(FitScroll):
        if direction < 0:
            text.scroll_page_up(animate=False)
        else:
            text.scroll_page_down(animate=False)


class DialogBox(Vertical):
    """The ``.dialog`` frame. As tall as its content; when that is taller than the screen,
    it takes the screen's height and its :class:`FitScroll` scrolls. PgUp/PgDn scroll the
    text from the field; Tab also reaches it (then ↑ ↓ Home End)."""

    DEFAULT_CLASSES = "dialog"
    HELP_TITLE = "Dialogs"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("pageup", "page_text(-1)", "Scroll the text up", id="dialog.page_up"),
        Binding("pagedown", "page_text(1)", "Scroll the text down", id="dialog.page_down"),
    ]

    # The screen under the dialog, whose footer and more: line it hides while it is open.
    _under: Widget | None = None

    def on_mount(self) -> None:
        # They stayed on view under the dialog, told apart by a dimmer colour alone: with
        # NO_COLOR or in mono "a Apply  r Rollback  q Quit" read as keys of the dialog, and
        # were letters typed into its field. The dialog's buttons name its keys.
        stack = self.app.screen_stack
        if len(stack) > 1 and stack[-1] is self.screen:
            self._under = stack[-2]
            self._under.add_class("-under-dialog")

    def on_unmount(self) -> None:
        if self._under is not None:
            self._under.remove_class("-under-dialog")

    def on_resize(self, event: events.Resize) -> None:
        # Grown or shrunk (new text, a resized terminal): measure again.
        refit(self)

    def action_page_text(self, direction: int) -> None:
        page_text(self, direction)
