"""The status table of one target: version, name, state, applied at, duration, rollback."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from malnu_tui.engine.migrate import MigrationState, MigrationStatus, StatusReport
from malnu_tui.tui.widgets.state import state_text

WIDE_COLUMNS = ("version", "name", "state", "applied at (UTC)", "took", "rollback")
# At 80 columns: the date only, no duration, and a one-word rollback column.
NARROW_COLUMNS = ("version", "state", "name", "applied", "rollback")
NARROW_WIDTH = 100


class MigrationTable(DataTable[str | Text]):
    """One row per migration; the row key is the migration's filename."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.rows_shown: tuple[MigrationStatus, ...] = ()
        self.narrow: bool | None = None

    def _set_columns(self) -> None:
        narrow = self.app.size.width < NARROW_WIDTH
        if narrow == self.narrow:
            return
        self.narrow = narrow
        self.clear(columns=True)
        if narrow:
            used = 15 + 10 + 10 + 6 + 2 * 5 + 4
            name_width = max(12, self.app.size.width - used)
            for label in NARROW_COLUMNS:
                self.add_column(label, key=label, width=name_width if label == "name" else None)
        else:
            for label in WIDE_COLUMNS:
                self.add_column(label, key=label)

    def on_mount(self) -> None:
        self._set_columns()

    def _row(self, m: MigrationStatus) -> tuple[str | Text, ...]:
        rollback = Text("yes") if m.rollback_file else Text("NO", style="bold red")
        if self.narrow:
            return (
                m.version,
                state_text(m.state),
                m.name,
                (m.executed_at or "")[:10],
                rollback,
            )
        return (
            m.version,
            m.name,
            state_text(m.state),
            m.executed_at or "",
            "" if m.execution_time_ms is None else f"{m.execution_time_ms} ms",
            rollback,
        )

    def show(self, report: StatusReport, state: MigrationState | None) -> None:
        """Show ``report``'s migrations (only those in ``state`` when given), keeping the
        cursor on the same migration when it is still listed."""
        keep = self.selected_filename()
        rows = tuple(m for m in report.migrations if state is None or m.state is state)
        self.rows_shown = rows
        self.clear()
        self._set_columns()
        self.add_rows(self._row(m) for m in rows)
        if keep is not None:
            for i, m in enumerate(rows):
                if m.filename == keep:
                    self.move_cursor(row=i, animate=False)
                    break

    def selected(self) -> MigrationStatus | None:
        if not self.rows_shown or self.cursor_row < 0:
            return None
        return self.rows_shown[min(self.cursor_row, len(self.rows_shown) - 1)]

    def selected_filename(self) -> str | None:
        m = self.selected()
        return m.filename if m else None
