"""The status table of one target: version, name, state, applied at, duration, rollback.

A line-API widget: each paint renders only the rows on screen, so 10,000 migrations load and
scroll as fast as ten (Textual's DataTable measures every cell of every row when rows are added).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from malnu_tui.engine.migrate import MigrationState, MigrationStatus, StatusReport
from malnu_tui.tui.widgets.state import STATE_STYLES, state_label

WIDE_COLUMNS = ("version", "name", "state", "applied at (UTC)", "took", "rollback")
# At 80 columns: the date only, no duration, and a one-word rollback column.
NARROW_COLUMNS = ("version", "state", "name", "applied", "rollback")
NARROW_WIDTH = 100
GAP = 2
MIN_NAME_WIDTH = 12


def elide_middle(text: str, width: int) -> str:
    """``text`` cut to ``width`` cells with "…" in the middle, so both the start and the end of
    a file name stay readable."""
    if len(text) <= width:
        return text
    if width <= 1:
        return text[:width]
    head = width // 2
    tail = width - 1 - head
    return text[:head] + "…" + (text[-tail:] if tail else "")


def duration_label(ms: int | None) -> str:
    """ "<1 ms" for work that took under a millisecond: "0 ms" reads like "did not run"."""
    if ms is None:
        return ""
    return "<1 ms" if ms < 1 else f"{ms} ms"


def short_time(executed_at: str | None) -> str:
    """The time of day for today's migrations (UTC), the date for older ones."""
    if not executed_at:
        return ""
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    if executed_at[:10] == today and len(executed_at) >= 16:
        return executed_at[11:16]
    return executed_at[:10]


class MigrationTable(ScrollView, can_focus=True):
    """One row per migration, a sticky header, a row cursor; enter selects."""

    HELP_TITLE = "Migration table"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor(-1)", "Up", show=False, id="table.up"),
        Binding("down,j", "cursor(1)", "Down", show=False, id="table.down"),
        Binding("pageup", "page(-1)", "Page up", show=False, id="table.page_up"),
        Binding("pagedown", "page(1)", "Page down", show=False, id="table.page_down"),
        Binding("home", "jump(0)", "First", show=False, id="table.first"),
        Binding("end", "jump(-1)", "Last", show=False, id="table.last"),
        Binding("enter", "select", "SQL view of the row", show=False, id="table.select"),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "migration-table--header",
        "migration-table--cursor",
        "migration-table--odd",
    }

    cursor_row: reactive[int] = reactive(0, always_update=True, init=False)

    class Selected(Message):
        """Enter (or a click) on a row."""

        def __init__(self, table: MigrationTable, status: MigrationStatus) -> None:
            super().__init__()
            self.table = table
            self.status = status

        @property
        def control(self) -> MigrationTable:
            return self.table

    class Highlighted(Message):
        """The cursor moved to another row."""

        def __init__(self, table: MigrationTable, row: int) -> None:
            super().__init__()
            self.table = table
            self.row = row

        @property
        def control(self) -> MigrationTable:
            return self.table

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.rows_shown: tuple[MigrationStatus, ...] = ()
        self._cells: list[tuple[str, ...]] = []
        self._columns: tuple[str, ...] = WIDE_COLUMNS
        self._widths: list[int] = [len(c) for c in WIDE_COLUMNS]
        self.narrow = False
        self._fitted_width = 0  # the width the columns were fitted to

    # -- data -----------------------------------------------------------------------------------
    @property
    def row_count(self) -> int:
        return len(self.rows_shown)

    def get_row_at(self, index: int) -> tuple[str, ...]:
        return self._cells[index]

    def _row(self, m: MigrationStatus) -> tuple[str, ...]:
        # The CLI's status words: a rollback file edited since its migration was applied.
        rollback = ("≠ edited" if m.rollback_edited else "yes") if m.rollback_file else "NO"
        if self.narrow:
            return (m.version, state_label(m.state), m.name, short_time(m.executed_at), rollback)
        return (
            m.version,
            m.name,
            state_label(m.state),
            m.executed_at or "",
            duration_label(m.execution_time_ms),
            rollback,
        )

    def show(self, report: StatusReport, state: MigrationState | None) -> None:
        """Show ``report``'s migrations (only those in ``state`` when given), keeping the
        cursor on the same migration when it is still listed."""
        self.show_rows(m for m in report.migrations if state is None or m.state is state)

    def show_rows(self, rows: Iterable[MigrationStatus]) -> None:
        """Show these migrations, in this order."""
        keep = self.selected_filename()
        self.narrow = self.app.size.width < NARROW_WIDTH
        self._columns = NARROW_COLUMNS if self.narrow else WIDE_COLUMNS
        self.rows_shown = tuple(rows)
        self._cells = [self._row(m) for m in self.rows_shown]
        widths = [len(c) for c in self._columns]
        for cells in self._cells:
            for i, cell in enumerate(cells):
                if len(cell) > widths[i]:
                    widths[i] = len(cell)
        self._fit_name_column(widths)
        self._widths = widths
        self.virtual_size = Size(sum(widths) + GAP * len(widths) + 1, len(self._cells) + 1)
        row = 0
        if keep is not None:
            for i, m in enumerate(self.rows_shown):
                if m.filename == keep:
                    row = i
                    break
        self.move_cursor(row=row)
        self.refresh()

    def _fit_name_column(self, widths: list[int]) -> None:
        """Narrow the name column (names elided in the middle) so that the state and rollback
        columns stay on screen: those are what an operator must see at 80 columns."""
        # The table's own width once laid out, else the screen's; one cell for a scrollbar.
        self._fitted_width = self.size.width
        available = (self.size.width or self.app.size.width or 80) - 1
        total = sum(widths) + GAP * len(widths) + 1
        name = self._columns.index("name")
        if total <= available:
            return
        width = max(MIN_NAME_WIDTH, widths[name] - (total - available))
        if width >= widths[name]:
            return
        widths[name] = width
        self._cells = [
            tuple(elide_middle(c, width) if i == name else c for i, c in enumerate(cells))
            for cells in self._cells
        ]

    def on_resize(self, event: events.Resize) -> None:
        # Laid out after the rows were shown (a wizard step's table), or the terminal was
        # resized: fit the columns to the width the table has now.
        if self.rows_shown and event.size.width != self._fitted_width:
            self.show_rows(self.rows_shown)

    def selected(self) -> MigrationStatus | None:
        if not self.rows_shown:
            return None
        return self.rows_shown[min(max(self.cursor_row, 0), len(self.rows_shown) - 1)]

    def selected_filename(self) -> str | None:
        m = self.selected()
        return m.filename if m else None

    # -- cursor ---------------------------------------------------------------------------------
    def move_cursor(self, *, row: int, animate: bool = False) -> None:
        last = max(len(self.rows_shown) - 1, 0)
        self.cursor_row = min(max(row, 0), last)

    def watch_cursor_row(self, old: int, new: int) -> None:
        visible = max(self.scrollable_content_region.height - 1, 1)
        top = int(self.scroll_y)
        if new < top:
            self.scroll_to(y=new, animate=False)
        elif new >= top + visible:
            self.scroll_to(y=new - visible + 1, animate=False)
        self.refresh()
        self.post_message(self.Highlighted(self, new))

    def action_cursor(self, delta: int) -> None:
        self.move_cursor(row=self.cursor_row + delta)

    def action_page(self, direction: int) -> None:
        visible = max(self.scrollable_content_region.height - 1, 1)
        self.move_cursor(row=self.cursor_row + direction * visible)

    def action_jump(self, row: int) -> None:
        self.move_cursor(row=row if row >= 0 else len(self.rows_shown) - 1)

    def action_select(self) -> None:
        m = self.selected()
        if m is not None:
            self.post_message(self.Selected(self, m))

    def on_click(self, event: events.Click) -> None:
        row = int(self.scroll_y) + event.y - 1
        if 0 <= row < len(self.rows_shown):
            if row == self.cursor_row and event.chain > 1:
                self.action_select()
            self.move_cursor(row=row)

    # -- painting -------------------------------------------------------------------------------
    def _line(self, cells: tuple[str, ...], base: Style, state_style: Style | None) -> Strip:
        segments: list[Segment] = [Segment(" ", base)]
        for i, (cell, width) in enumerate(zip(cells, self._widths, strict=False)):
            text = cell.ljust(width)
            style = base
            column = self._columns[i]
            if state_style is not None and column == "state":
                style = base + state_style
            elif state_style is not None and column == "rollback" and cell == "NO":
                style = base + Style(bold=True, color="red")
            elif state_style is not None and column == "rollback" and cell == "≠ edited":
                style = base + Style(bold=True, color="yellow")
            segments.append(Segment(text, style))
            segments.append(Segment(" " * GAP, base))
        return Strip(segments)

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        scroll_x = int(self.scroll_x)
        if y == 0:
            base = self.get_component_rich_style("migration-table--header")
            strip = self._line(self._columns, base, None)
        else:
            index = int(self.scroll_y) + y - 1
            if index >= len(self._cells):
                return Strip.blank(width, self.rich_style)
            if index == self.cursor_row:
                base = self.get_component_rich_style("migration-table--cursor")
                state_style: Style | None = Style()  # the cursor's colours win; words remain
            else:
                base = self.rich_style
                if index % 2:
                    base = base + self.get_component_rich_style("migration-table--odd")
                state_style = Style.parse(STATE_STYLES[self.rows_shown[index].state])
            strip = self._line(self._cells[index], base, state_style)
        return strip.crop(scroll_x, scroll_x + width).extend_cell_length(width, base)
