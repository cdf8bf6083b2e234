"""The selected migration's SQL (or its rollback's) beside its PostgreSQL translation, with
translation findings marked on their lines; a unified diff on narrow terminals (the files read
and shown: :mod:`sql_documents`). When a PostgreSQL server is known, every statement is checked
on it (``plan --check``'s engine call, see :mod:`sql_check`) and shown with its checked
status."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, ClassVar, Literal

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import ContentSwitcher, Footer, TextArea

from malnu_tui.tui.host import TargetsHost
from malnu_tui.tui.messages import OperationFailed
from malnu_tui.tui.screens.sql_check import (
    SqlCheck,
    SqlChecked,
    check_line,
    check_sql,
    checking_line,
    findings_rows,
)
from malnu_tui.tui.screens.sql_documents import (
    NOT_READ,
    READING,
    SqlBundle,
    SqlDocument,
    load_sql,
    translation_pane_text,
    unified_diff,
)
from malnu_tui.tui.screens.sql_pages import can_step, large_note, line_in_piece, step_piece
from malnu_tui.tui.session import reporting
from malnu_tui.tui.widgets.error_box import ErrorBox
from malnu_tui.tui.widgets.fields import SqlText
from malnu_tui.tui.widgets.hanging import Hanging
from malnu_tui.tui.widgets.header import AppHeader
from malnu_tui.tui.widgets.more_keys import MoreKeys
from malnu_tui.tui.widgets.plain import DataTable, Label, Static
from malnu_tui.tui.widgets.state import state_text

if TYPE_CHECKING:
    from malnu_tui.engine.config import Target
    from malnu_tui.engine.files import MigrationSet
    from malnu_tui.engine.lint import Finding as LintFinding
    from malnu_tui.engine.migrate import MigrationStatus

# Below this width the two panes are too narrow to read: show a unified diff instead.
SPLIT_MIN_WIDTH = 110
Which = Literal["migration", "rollback"]


@dataclass
class SqlPaged(Message):
    """The worker read another piece of a file too large to translate."""

    which: Which
    document: SqlDocument


@dataclass
class SqlLoaded(Message):
    """The worker read (and translated) the migration and its rollback, and linted them."""

    bundle: SqlBundle
    lint: tuple[LintFinding, ...] = ()
    lint_said: tuple[str, ...] = ()  # the dialect judged by and why, the lint's notes


class SqlViewScreen(Screen[None]):
    """SQL, rollback SQL and PostgreSQL translation of one migration."""

    HELP_TITLE = "SQL view"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back", id="sql.back"),
        Binding("m", "show('migration')", "Migration", id="sql.migration"),
        Binding("r", "show('rollback')", "Rollback", id="sql.rollback"),
        Binding("d", "toggle_layout", "Split/diff", id="sql.layout"),
        # On the more: line (widgets/more_keys.py): in the footer at 80 columns they pushed
        # "c Check on PostgreSQL", "q Quit" and "f1 Help" under the palette key.
        Binding("g", "goto_finding", "Go to finding", show=False, id="sql.goto"),
        Binding("c", "check", "Check on PostgreSQL", show=False, id="sql.check"),
        # A file too large to translate, a piece at a time: listed only on such a file.
        Binding("n", "piece(1)", "Next piece", show=False, id="sql.next_piece"),
        Binding("p", "piece(-1)", "Prev piece", show=False, id="sql.previous_piece"),
        # (home / end are the source pane's and the findings table's.)
        Binding("P", "piece(-2)", "First piece", show=False, id="sql.first_piece"),
        Binding("N", "piece(2)", "Last piece", show=False, id="sql.last_piece"),
    ]

    def __init__(self, target: Target, status: MigrationStatus, mset: MigrationSet) -> None:
        super().__init__()
        self.target = target
        self.status = status
        self.mset = mset
        self.bundle: SqlBundle | None = None
        self.lint: tuple[LintFinding, ...] = ()
        self.lint_said: tuple[str, ...] = ()
        self.check: SqlCheck | None = None  # the PostgreSQL check's result, None while it runs
        self.checking = False
        self.which: Which = "migration"
        self.forced_layout: Literal["split", "diff"] | None = None
        # The primary's files are SQLite (and D1); a PostgreSQL target runs its files as written.
        self.translates = target.files_dialect == "sqlite"

    def compose(self) -> ComposeResult:
        yield AppHeader()
        yield Static("", id="sql-title", classes="screen-title")
        yield ErrorBox()
        # The layout of this width from the start: the pane the view opens focused on is one
        # on screen (the hidden ones cannot take the focus, see _apply_layout).
        layout = self._layout(self.app.size.width)
        with ContentSwitcher(initial=layout, id="sql-layout"):
            with Horizontal(id="split"):
                # Said from the start, as every pane says what it shows: they stayed blank
                # until the worker's answer (a long set's translation, a slow lint).
                source = SqlText(
                    f"-- {READING}\n", language="sql", read_only=True, id="source",
                    show_line_numbers=True,
                )  # fmt: skip
                translation = SqlText(
                    f"-- {READING}\n",
                    language="sql",
                    read_only=True,
                    id="translation",
                    show_line_numbers=True,
                    soft_wrap=True,
                )
                source.can_focus = translation.can_focus = layout == "split"
                with Vertical(classes="sql-pane"):
                    yield Label("SQLite", id="source-label", classes="pane-label")
                    yield source
                with Vertical(classes="sql-pane"):
                    yield Label("PostgreSQL translation", classes="pane-label")
                    yield translation
            with VerticalScroll(id="diff") as diff:
                diff.can_focus = layout == "diff"
                yield Static(READING, id="diff-text")
        yield Static("", id="check-line")
        yield Label(
            "statements and findings: PostgreSQL check, translation, lint", classes="pane-label"
        )
        yield DataTable(id="findings", cursor_type="row")
        yield Static("", id="finding-detail")
        yield MoreKeys()
        yield Footer(compact=True)

    def on_mount(self) -> None:
        m = self.status
        title = Text()
        title.append(m.filename, style="bold")
        title.append("  ")
        title.append_text(state_text(m.state))
        if m.description:
            title.append(f"  · {m.description}")
        if m.author:
            title.append(f"  · by {m.author}", style="dim")
        said = state_said(m)
        title.append_text(said)
        self.query_one("#sql-title", Static).update(Hanging(title) if said else title)
        table = self.query_one("#findings", DataTable)
        table.add_columns("line", "status", "construct", "why")
        self._apply_layout(self.size.width)
        self._load()
        self.action_check()

    @work(thread=True, exclusive=True, group="sql-view")
    def _load(self) -> None:
        with reporting(self, "sql"):
            bundle = load_sql(self.mset, self.status.filename, translate=self.translates)
            names = [m.filename for m in self.mset.migrations]
            only = [self.status.filename] if self.status.filename in names else []
            lint, said = self._lint(only) if only else ((), ())
            self.post_message(SqlLoaded(bundle, lint, said))

    def _lint(self, only: list[str]) -> tuple[tuple[LintFinding, ...], tuple[str, ...]]:
        """The lint of this migration in the dialect ``malnu-tui lint`` judges it by (the
        target's, or, for the embedded default database nobody named, guessed from the files:
        a Supabase set there was judged as SQLite's, SQLITE-… errors the CLI does not give),
        and what `lint` says on stderr with it: that dialect and why, and its notes (Supabase's
        rules on, and why). The view said neither: a guess read as the target's own."""
        from malnu_tui.engine.config import Settings
        from malnu_tui.engine.lint.dialect import choose_dialect, judged_as, lint_dialect
        from malnu_tui.engine.lint.target import lint_target

        settings = getattr(self.app, "settings", None)
        target, mset = self.target, self.mset
        if isinstance(settings, Settings):
            choice = lint_dialect(settings, target, lambda: mset)
        else:
            choice = choose_dialect(target, flag=None, named=True)
        target, mset = judged_as(target, mset, choice)
        report = lint_target(target, mset, only)
        return report.findings, (choice.line(), *report.notes)

    # -- the PostgreSQL check -------------------------------------------------------------------
    def _targets(self) -> dict[str, Target]:
        app = self.app
        known = {t.name: t for t in app.targets} if isinstance(app, TargetsHost) else {}
        known.setdefault(self.target.name, self.target)
        return known

    def action_check(self) -> None:
        """(Re)run the check of this migration and its rollback on the PostgreSQL server the
        CLI's rule names; without one, say so at once (no worker)."""
        if self.checking:
            self.notify("the check is still running…", timeout=3, markup=False)
            return
        from malnu_tui.engine.errors import MalnuError
        from malnu_tui.engine.urls import check_server

        targets = self._targets()
        try:
            url = check_server(self.target, targets)
        except MalnuError as exc:
            self.check = SqlCheck(None, str(exc))
            self._show_check()
            return
        if url is None:
            self.check = SqlCheck()
            self._show_check()
            return
        self.check, self.checking = None, True
        self.query_one("#check-line", Static).update(checking_line(url))
        self._check(targets)

    @work(thread=True, exclusive=True, group="sql-check")
    def _check(self, targets: dict[str, Target]) -> None:
        with reporting(self, "check"):
            self.post_message(
                SqlChecked(check_sql(self.target, targets, self.mset, self.status.filename))
            )

    @on(SqlChecked)
    def _checked(self, event: SqlChecked) -> None:
        event.stop()
        self.check, self.checking = event.check, False
        self._show()

    def _show_check(self) -> None:
        if not self.checking:
            self.query_one("#check-line", Static).update(check_line(self.check, self.which))

    @on(SqlLoaded)
    def _loaded(self, event: SqlLoaded) -> None:
        event.stop()
        self.bundle = event.bundle
        self.lint, self.lint_said = event.lint, event.lint_said
        self._show()
        self.refresh_bindings()  # the piece keys, on a file too large to translate

    @on(OperationFailed)
    def _failed(self, event: OperationFailed) -> None:
        event.stop()
        if event.what == "check":
            self.checking = False
            self.check = SqlCheck(None, event.message)
            self._show_check()
            return
        self.query_one(ErrorBox).show_failed(event)
        if self.bundle is None:  # nothing read: the panes no longer say "reading…"
            for pane in self.query(SqlText):
                pane.load_text(f"-- {NOT_READ}\n")
            self.query_one("#diff-text", Static).update(NOT_READ)

    def on_resize(self, event: events.Resize) -> None:
        self._apply_layout(event.size.width)

    def _layout(self, width: int) -> Literal["split", "diff"]:
        return self.forced_layout or ("split" if width >= SPLIT_MIN_WIDTH else "diff")

    def _apply_layout(self, width: int) -> None:
        layout = self._layout(width)
        switcher = self.query_one("#sql-layout", ContentSwitcher)
        switcher.current = layout
        # The keys go to the layout on screen: below 110 columns the view opened with the
        # hidden SQL pane focused, so ↓ and PgDn moved nothing in the diff until Tab.
        for pane in self.query_one("#split").query(SqlText):
            pane.can_focus = layout == "split"
        self.query_one("#diff").can_focus = layout == "diff"
        focused, shown = self.focused, switcher.get_child_by_id(layout)
        if focused is None or (
            switcher in focused.ancestors and shown not in focused.ancestors_with_self
        ):
            self.query_one("#diff" if layout == "diff" else "#source").focus()

    def action_toggle_layout(self) -> None:
        current = self.query_one("#sql-layout", ContentSwitcher).current
        self.forced_layout = "diff" if current == "split" else "split"
        self._apply_layout(self.size.width)

    def action_show(self, which: Which) -> None:
        self.which = which
        self._show()
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # The piece keys are listed only on a file read a piece at a time; at its first or
        # last piece the one that goes no further does nothing.
        if action != "piece":
            return True
        doc = self._document()
        piece = doc.piece if doc is not None else None
        if piece is None:
            return False
        step = parameters[0] if parameters and isinstance(parameters[0], int) else 0
        return can_step(piece, step) or None

    def action_piece(self, step: int) -> None:
        """The next (``1``), previous (``-1``), first (``-2``) or last (``2``, read from the
        file's end) piece of a file too large to translate, read in the view's worker."""
        doc = self._document()
        if doc is None or doc.piece is None or self.check_action("piece", (step,)) is not True:
            return
        self._read_piece(self.which, doc, step)

    @work(thread=True, exclusive=True, group="sql-piece")
    def _read_piece(self, which: Which, doc: SqlDocument, step: int) -> None:
        assert doc.piece is not None
        with reporting(self, "piece"):
            piece = step_piece(doc.piece, step)
            note = large_note(piece, self.translates)
            self.post_message(SqlPaged(which, replace(doc, sql=piece.text, note=note, piece=piece)))

    @on(SqlPaged)
    def _paged(self, event: SqlPaged) -> None:
        event.stop()
        if self.bundle is None:
            return
        self.bundle = replace(self.bundle, **{event.which: event.document})
        if event.which == self.which:
            self._show()
            self.query_one("#diff", VerticalScroll).scroll_home(animate=False)
        self.refresh_bindings()

    def _document(self) -> SqlDocument | None:
        if self.bundle is None:
            return None
        return self.bundle.migration if self.which == "migration" else self.bundle.rollback

    def _show(self) -> None:
        self._show_check()
        doc = self._document()
        if doc is None:
            return
        label = "migration" if self.which == "migration" else "rollback"
        source = self.query_one("#source", TextArea)
        translation = self.query_one("#translation", TextArea)
        findings = self.query_one("#findings", DataTable)
        findings.clear()
        self.query_one("#finding-detail", Static).update("")
        if doc.sql is None:
            missing = (
                "✘ no rollback file: this migration cannot be rolled back"
                if self.which == "rollback"
                else "✘ the migration file is gone (state: missing)"
            )
            self.query_one("#source-label", Label).update(f"SQLite {label}: {missing}")
            source.load_text(f"-- {missing}\n")
            translation.load_text("")
            self.query_one("#diff-text", Static).update(Text(missing, style="bold"))
            return
        dialect = "SQLite" if self.translates else "PostgreSQL"
        self.query_one("#source-label", Label).update(f"{dialect} {label}: {doc.filename}")
        source.load_text(doc.sql)
        source.line_number_start = doc.piece.start.line if doc.piece is not None else 1
        # (A piece read from the file's end: its lines are not counted, none numbered.)
        source.show_line_numbers = doc.piece is None or doc.piece.counted
        translation.load_text(translation_pane_text(doc))
        self.query_one("#diff-text", Static).update(unified_diff(doc))
        checked = self.check.of(self.which) if self.check is not None else None
        rows = findings_rows(
            doc.filename, doc.translation, doc.note, checked, self.lint, self.size.width,
            translates=self.translates, lint_said=self.lint_said,
        )  # fmt: skip
        for row in rows:
            findings.add_row(*row)

    def action_goto_finding(self) -> None:
        """Put the source cursor on the line of the highlighted finding."""
        findings = self.query_one("#findings", DataTable)
        row = findings.get_row_at(max(findings.cursor_row, 0)) if findings.row_count else [""]
        line_cell = row[0]
        if not str(line_cell).isdigit():  # (g did nothing at all on "· none")
            self.notify(
                "g: the highlighted row names no line to go to",
                severity="warning",
                timeout=4,
                markup=False,
            )
            return
        line = int(str(line_cell))
        doc = self._document()
        piece = doc.piece if doc is not None else None
        if piece is not None:  # a file shown a piece at a time: the line within the piece
            within = line_in_piece(piece, line)
            if isinstance(within, str):
                self.notify(within, severity="warning", timeout=5, markup=False)
                return
            line = within
        self.forced_layout = "split"
        self._apply_layout(self.size.width)
        source = self.query_one("#source", TextArea)
        source.select_line(line - 1)
        source.scroll_cursor_visible(center=True)
        source.focus()

    @on(DataTable.RowHighlighted, "#findings")
    def _finding_highlighted(self, event: DataTable.RowHighlighted) -> None:
        """The highlighted row in full (a message is often wider than its column). A row the
        table no longer has is passed over: the findings are filled again when the lint or the
        check answers, and a highlight of the rows before (or of the empty table's row 0)
        can arrive after it (it stopped the console with RowDoesNotExist, seen in a suite run)."""
        if event.row_key not in event.data_table.rows:
            return
        line, status, construct, why = (str(c) for c in event.data_table.get_row(event.row_key))
        text = Text(f"line {line}" if line else "", style="bold")
        for part in (status, construct, why):
            if part:
                text.append(" · " if text.plain else "")
                text.append(part)
        self.query_one("#finding-detail", Static).update(text)

    @on(DataTable.RowSelected, "#findings")
    def _finding_selected(self) -> None:
        self.action_goto_finding()


def state_said(m: MigrationStatus) -> Text:
    """What the tracking row says of a failed or drifted migration, as ``status`` says it: the
    error it failed with (the console showed the SQL alone: the reason was in no screen), or
    both checksums of an edited file, each with its way out on the status screen."""
    from malnu_tui.engine.status import MigrationState

    text = Text()
    if m.state is MigrationState.FAILED:
        when = f" at {m.executed_at}" if m.executed_at else ""
        text.append(f"\n✘ failed{when}: ", style="bold")
        text.append(m.error_message or "(no error recorded)")
        text.append("\n  way out: ", style="bold")
        text.append("fix the file, then a (apply) on the status screen runs it again; C there")
        text.append(" clears its row instead")
    elif m.state is MigrationState.DRIFTED:
        text.append("\n≠ changed since it ran: ", style="bold")
        text.append(f"recorded {m.recorded_checksum or '(none)'}, file now {m.checksum}")
        text.append("\n  way out: ", style="bold")
        text.append("restore the file as it ran, or D on the status screen accepts the edit")
    return text
