"""The import wizard: file and table → mapping preview (format, schema check, first rows before
and after the transforms) → validation report (a dry run: counts, first rejects with their
lines) → typed confirmation → import with progress (lock, safety backup, one unit) → result."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.containers import Horizontal
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Input

from malnu_tui.engine.errors import ConfigError
from malnu_tui.tui.messages import BackupProgress
from malnu_tui.tui.screens.wizard import StepPane, WizardScreen
from malnu_tui.tui.session import backup_progress_poster, connected, reporting, trying
from malnu_tui.tui.widgets.dialog import FitScroll
from malnu_tui.tui.widgets.fields import Field
from malnu_tui.tui.widgets.migration_table import elide_middle
from malnu_tui.tui.widgets.plain import DataTable, Label, Static
from malnu_tui.tui.widgets.progress import OperationProgress
from malnu_tui.tui.widgets.typed_confirm import TypedConfirmation

if TYPE_CHECKING:
    from malnu_tui.engine.config import Settings, Target
    from malnu_tui.engine.data import ImportPreview, ImportProgress, ImportReport, ImportRequest
    from malnu_tui.engine.data.preflight import Source


@dataclass
class ImportPreviewed(Message):
    preview: ImportPreview
    database_name: str


@dataclass
class ImportValidated(Message):
    report: ImportReport


@dataclass
class ImportProgressed(Message):
    progress: ImportProgress


@dataclass
class ImportFinished(Message):
    report: ImportReport


def _reject_reason(reason: str, columns: Sequence[str]) -> str:
    """A sample's reason with the column it names elided in the middle: the reason is the
    first column's cell, and at 80 columns a long name (rata_rata_nilai_ulangan_harian_…)
    pushed the reason itself past the right edge."""
    for column in columns:
        if reason.startswith(f"{column}: "):
            return elide_middle(column, 16) + reason[len(column) :]
    return reason


def _short(value: object, width: int = 24) -> str:
    text = "NULL" if value is None else str(value).replace("\n", "⏎")
    return text if len(text) <= width else text[: width - 1] + "…"


class ImportWizard(WizardScreen):
    """Load a CSV file, or a table of another target (the legacy database), into a table of
    the current target, all or nothing."""

    WIZARD_TITLE: ClassVar[str] = "Import a file or table"
    STEPS: ClassVar[tuple[tuple[str, str], ...]] = (
        ("source", "Source"),
        ("preview", "Mapping preview"),
        ("validate", "Validation"),
        ("confirm", "Confirm"),
        ("run", "Import"),
        ("result", "Result"),
    )
    NO_RETURN_FROM: ClassVar[str] = "run"
    READ_STEPS: ClassVar[frozenset[str]] = frozenset({"preview"})

    def __init__(
        self,
        target: Target,
        *,
        settings: Settings | None = None,
        file: str = "",
        table: str = "",
        mapping: str = "",
    ) -> None:
        super().__init__()
        self.target = target
        self.settings = settings  # where a TARGET:TABLE source is looked up
        self.initial = (file, table, mapping)
        self.request: ImportRequest | None = None
        self.preview: ImportPreview | None = None
        self.database_name = ""
        self.validation: ImportReport | None = None
        self.report: ImportReport | None = None

    def compose_steps(self) -> Iterable[Widget]:
        with StepPane(id="source"):
            yield Static(
                f"Import into {self.target.display_url}. Nothing is written before the "
                "typed confirmation.",
                classes="intro",
            )
            file, table, mapping = self.initial
            # An empty field's placeholder says what leaving it empty does, an example only
            # after "e.g.": without colour "users" and "id (existing keys are updated)" read as
            # filled in (Next then said "name the table"; a re-run without a key rejected
            # every row it was meant to update).
            for label, field_id, placeholder, value in (
                ("CSV file", "import-file", "path/to/file.csv", file),
                ("or a table", "import-from", "TARGET:TABLE of another target (legacy:users)", ""),
                ("into table", "import-table", "the table to fill, e.g. users", table),
                ("mapping (optional)", "import-map", "path/to/mapping.toml", mapping),
                (
                    "key (optional)",
                    "import-key",
                    "none: rows are added; e.g. id updates existing ones",
                    "",
                ),
                ("on conflict", "import-conflict", "update with a key, else error; or skip", ""),
                ("max errors", "import-max", "0, or 1%", "0"),
                ("header line", "import-header", "1  (below a title: its line; 5-6: two rows)", ""),
                ("encoding", "import-encoding", "utf-8 (a BOM says so); cp1252, latin-1…", ""),
                ("delimiter", "import-delimiter", "sniffed; or , ; tab |", ""),
            ):
                with Horizontal(classes="import-field"):
                    yield Label(label, classes="import-label")
                    # Compact: one line, as the row it sits in (a bordered Input there showed
                    # its top border only, never the path being typed).
                    yield Field(value, placeholder=placeholder, id=field_id, compact=True)
        with StepPane(id="preview"):
            yield Static("", id="preview-text", classes="intro")
            yield DataTable(id="preview-rows", cursor_type="row", zebra_stripes=True)
        with StepPane(id="validate"):
            yield OperationProgress(log=False, id="validate-progress")
            yield Static("", id="validate-text", classes="intro")
            yield DataTable(id="validate-rejects", cursor_type="row")
        with StepPane(id="confirm"):
            yield FitScroll("", id="confirm-text", classes="intro")
            yield TypedConfirmation(id="import-typed", field_id="confirm-input")
        with StepPane(id="run"):
            yield OperationProgress(id="run-progress")
        with StepPane(id="result"):
            yield Static("", id="result-text", classes="intro")
            yield DataTable(id="result-rejects", cursor_type="row")

    def typed_input(self) -> list[str]:
        """The source step's fields changed from what the wizard opened with."""
        file, table, mapping = self.initial
        given = {"import-file": file, "import-table": table, "import-map": mapping}
        given["import-max"] = "0"
        return [
            str(row.query_one(Label).render())
            for row in self.query("#source .import-field")
            if row.query_one(Input).value.strip()
            and row.query_one(Input).value != given.get(row.query_one(Input).id or "", "")
        ]

    # -- steps --------------------------------------------------------------------------------
    def enter_step(self, step: str) -> None:
        self.set_next_label("Next ▶ (n)")
        if step == "source":
            self._source_changed()
            self.query_one("#import-file", Input).focus()
        elif step == "preview":
            self.query_one("#preview-text", Static).update(Text("reading…", style="italic"))
            self.set_working(True)
            assert self.request is not None
            self._preview(self.request)
        elif step == "validate":
            self.query_one("#validate-text", Static).update("")
            self.query_one("#validate-rejects", DataTable).clear(columns=True)
            self.query_one("#validate-progress", OperationProgress).reset(
                "validating every row (a dry run: nothing is written)…"
            )
            self.set_working(True)
            assert self.request is not None
            self._validate(replace(self.request, dry_run=True))
        elif step == "confirm":
            self._show_confirm()
        elif step == "run":
            self._start_run()
        elif step == "result":
            self._show_result()
            self.finish()

    def _request(self) -> ImportRequest:
        from malnu_tui.engine.data import ON_CONFLICT, ImportRequest, MaxErrors
        from malnu_tui.engine.data.csvformat import parse_delimiter
        from malnu_tui.engine.data.csvsource import parse_header_line

        def value(field_id: str) -> str:
            return self.query_one(f"#{field_id}", Input).value.strip()

        key = tuple(k.strip() for k in value("import-key").split(",") if k.strip())
        mapping = value("import-map")
        conflict = value("import-conflict").lower() or None
        if conflict is not None and conflict not in ON_CONFLICT:
            raise ConfigError(
                f"on conflict: {conflict!r} is none of update, skip, error",
                hint="leave it empty: update with a key, else error",
            )
        encoding, delimiter = value("import-encoding"), value("import-delimiter")
        header = value("import-header")
        try:
            line, rows = parse_header_line(header) if header else (None, 1)
        except ValueError as exc:
            raise ConfigError(
                f"header line: {exc}",
                hint="the line that holds the column names (1, or below a title; 5-6: two rows)",
            ) from None
        file, source = value("import-file"), value("import-from")
        if file and source:
            raise ConfigError(
                "give either a CSV file or a table of another target, not both",
                hint="clear one of the two fields",
            )
        return ImportRequest(
            table=value("import-table"),
            file=Path(file).expanduser() if file else None,
            source_label=source,
            mapping=Path(mapping).expanduser() if mapping else None,
            key=key,
            on_conflict=conflict,  # type: ignore[arg-type]  # checked above
            max_errors=MaxErrors.parse(value("import-max") or "0"),
            encoding=encoding or None,
            delimiter=parse_delimiter(delimiter) if delimiter else None,
            header_line=line,
            header_rows=rows,
        )

    @on(Input.Changed, ".import-field Input")
    def _source_typed(self) -> None:
        if self.step == "source":
            self._source_changed()

    def _source_changed(self) -> None:
        file = self.query_one("#import-file", Input).value.strip()
        source = self.query_one("#import-from", Input).value.strip()
        table = self.query_one("#import-table", Input).value.strip()
        if not file and not source:
            self.allow_next("name the CSV file, or a table as TARGET:TABLE")
        elif not table:
            self.allow_next("name the table")
        else:
            self.allow_next(label="Preview ▶ (n)")

    @on(Input.Submitted, ".import-field Input")
    def _source_submitted(self) -> None:
        # Enter in a field goes on, or says what is missing (it did nothing at all).
        self.action_why_blocked()

    def leave_step(self, step: str) -> bool:
        if step == "source":
            try:
                self.request = self._request()
            except ConfigError as exc:
                self.show_error(str(exc), exc.hint or "")
                return False
        return True

    @contextlib.contextmanager
    def _source(self, request: ImportRequest) -> Iterator[Source]:
        """The request's source (the engine's, as the CLI opens it), its connection closed
        at the end."""
        from malnu_tui.engine.config import load_settings
        from malnu_tui.engine.data import open_source

        source, backend = open_source(self.settings or load_settings(), request)
        try:
            yield source
        finally:
            if backend is not None:
                backend.close()

    # -- preview ------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="import-preview")
    def _preview(self, request: ImportRequest) -> None:
        from malnu_tui.engine.data import preview_import

        with reporting(self, "preview"), self._source(request) as source:
            with trying(self.target) as backend:
                preview = preview_import(backend, request, source)
                self.post_message(ImportPreviewed(preview, backend.name))

    @on(ImportPreviewed)
    def _previewed(self, event: ImportPreviewed) -> None:
        event.stop()
        self.set_working(False)
        p = self.preview = event.preview
        self.database_name = event.database_name
        text = Text()
        text.append(f"{p.source}\n", style="bold")
        text.append(f"into {p.table} ({p.before_count} rows now), on conflict: {p.on_conflict}\n")
        for column, how in p.rules:
            text.append(f"  {column} ← {how}\n")
        for note in p.check.notes:
            text.append(f"  ℹ {note}\n")
        if p.problems:
            text.append("✘ the file does not fit the table:\n", style="bold red")
            for problem in p.problems:
                text.append(f"  ✘ {problem}\n")
        else:
            text.append("✔ schema check: every column known, required columns given", "green")
        self.query_one("#preview-text", Static).update(text)
        table = self.query_one("#preview-rows", DataTable)
        table.clear(columns=True)
        # Each sample record twice: as the file has it, and as the table will get it.
        table.add_columns("line", *p.check.columns)
        for s in p.samples:
            before = dict(s.before)
            table.add_row(
                f"{s.line} file", *(_short(before.get(src)) if src else "—" for src in p.sources)
            )
            if s.after is not None:
                table.add_row("  → table", *(_short(v) for _, v in s.after))
            else:
                blanks = [""] * (len(p.check.columns) - 1)
                table.add_row(
                    "  ✘", Text(_reject_reason(s.reason, p.check.columns), "red"), *blanks
                )
        if p.problems:
            self.allow_next("fix the file or the mapping")
        else:
            self.allow_next(label="Validate ▶ (n)")

    # -- validation (a dry run) ---------------------------------------------------------------
    @work(thread=True, exclusive=True, group="import-validate")
    def _validate(self, request: ImportRequest) -> None:
        from malnu_tui.engine.data import run_import

        with reporting(self, "validate"), self._source(request) as source:
            with trying(self.target) as backend:
                report = run_import(
                    backend,
                    request,
                    source,
                    progress=self._post_progress,
                )
            self.post_message(ImportValidated(report))

    def _post_progress(self, p: ImportProgress) -> None:
        self.post_message(ImportProgressed(p))

    @on(ImportProgressed)
    def _progress(self, event: ImportProgressed) -> None:
        p = event.progress
        selector = "#run-progress" if self.step == "run" else "#validate-progress"
        widget = self.query_one(selector, OperationProgress)
        line = (
            f"{p.read:,} rows read, {p.rejected:,} rejected, {p.rows_per_s:,.0f} rows/s"
            if p.phase in ("read", "check")
            else p.message or p.phase
        )
        widget.caption(line if p.phase != "commit" else f"{line}; committing…")
        widget.log_line(line)

    @on(BackupProgress)
    def _backup_progress(self, event: BackupProgress) -> None:
        if self.step == "run":
            self.query_one("#run-progress", OperationProgress).show_backup(
                event.done, event.total, event.message
            )

    @on(ImportValidated)
    def _validated(self, event: ImportValidated) -> None:
        event.stop()
        self.set_working(False)
        r = self.validation = event.report
        assert self.request is not None
        self.query_one("#validate-progress", OperationProgress).finish(
            "✔ every row read and checked"
        )
        ok = self.request.max_errors.allows(r.rejected, r.read)
        text = Text()
        text.append(
            f"{r.read} rows read: {r.inserted} to insert, {r.updated} to update, "
            f"{r.skipped} to skip, {r.rejected} rejected\n",
            style="bold",
        )
        if r.rejects_file:
            text.append(f"rejects file: {r.rejects_file}\n")
        for line in r.warning_lines():  # before the confirmation: rows a trigger will drop
            text.append(f"⚠ {line}\n", "bold yellow")
        if ok:
            text.append(
                f"✔ within --max-errors {self.request.max_errors.describe()}: the import can run",
                style="green",
            )
        else:
            text.append(
                f"✘ {r.rejected} rejected, over the limit of "
                f"{self.request.max_errors.describe()}: nothing would be written",
                style="bold red",
            )
        self.query_one("#validate-text", Static).update(text)
        self._fill_rejects("#validate-rejects", r)
        if ok:
            self.allow_next(label="Confirm ▶ (n)")
        else:
            self.allow_next("too many rejected rows (Back: raise max errors, or fix the file)")

    def _fill_rejects(self, selector: str, r: ImportReport) -> None:
        table = self.query_one(selector, DataTable)
        table.clear(columns=True)
        # The reason before the column, and the column's name elided in the middle to what is
        # left: at 80 columns a school's long column names (rata_rata_nilai_ulangan_harian_…)
        # pushed every reason past the right edge.
        table.add_columns("line", "reason", "column")
        shown = r.first_rejects[:50]
        widest = max((len(rej.reason) for rej in shown), default=0)
        room = max(12, self.app.size.width - 14 - widest)  # line, paddings, scrollbar
        for rej in shown:
            table.add_row(str(rej.line), rej.reason, elide_middle(rej.column or "—", room))
        table.display = bool(shown)

    # -- confirm ------------------------------------------------------------------------------
    def _show_confirm(self) -> None:
        r, p = self.validation, self.preview
        assert r is not None and p is not None
        text = Text()
        text.append(f"Import {r.read - r.rejected} row(s) ", style="bold")
        text.append(f"of {p.source} into {p.table} on {self.target.display_url}.\n")
        text.append(
            "First the lock and a safety backup; then one unit: every row or none. "
            f"{r.rejected} rejected row(s) go to the rejects file."
        )
        self.query_one("#confirm-text", Static).update(text)
        # The one typed confirmation of every wizard: the engine's rule, a placeholder that is
        # not the word itself, and Enter on an empty or wrong word says why.
        n = r.read - r.rejected
        self.ask_typed(
            self.database_name,
            f"import {n} row{'' if n == 1 else 's'} into {p.table}",
            label="Import ▶",
        )

    # -- run ----------------------------------------------------------------------------------
    def _start_run(self) -> None:
        if not self.app_begin("import"):
            self.go(self.step_index("confirm"))
            return
        self.query_one("#run-progress", OperationProgress).reset(
            "taking the lock and a safety backup…"
        )
        self.set_working(True)
        assert self.request is not None
        self._run(self.request)

    @work(thread=True, exclusive=True, group="import-run")
    def _run(self, request: ImportRequest) -> None:
        from malnu_tui.engine import safety
        from malnu_tui.engine.data import run_import

        with reporting(self, "run"), self._source(request) as source:
            with connected(self.target) as backend:
                backup = safety.backup_taker(backend, self.target, backup_progress_poster(self))
                report = run_import(
                    backend,
                    request,
                    source,
                    progress=self._post_progress,
                    safety_backup=backup,
                )
            self.post_message(ImportFinished(report))

    @on(ImportFinished)
    def _finished(self, event: ImportFinished) -> None:
        event.stop()
        self.app_end()
        self.set_working(False)
        self.report = r = event.report
        progress = self.query_one("#run-progress", OperationProgress)
        if r.committed:
            progress.finish(f"✔ {r.inserted + r.updated} row(s) written, committed")
        else:
            progress.caption(f"✘ not committed: {r.reason}")
        self.go(self.step_index("result"))

    def _show_result(self) -> None:
        r = self.report
        text = Text()
        if r is None:
            text.append("✘ the import did not complete: ", style="bold red")
            text.append(f"{self.last_error or 'see the error above'}\nNothing was committed.")
            self.query_one("#result-rejects", DataTable).display = False
        else:
            if r.committed:
                text.append("✔ committed\n", style="bold green")
            else:
                text.append(f"✘ NOT committed ({r.reason}): nothing was written\n", "bold red")
            text.append(
                f"read {r.read}, inserted {r.inserted}, updated {r.updated}, "
                f"skipped {r.skipped}, rejected {r.rejected}\n"
            )
            text.append(f"{r.table}: {r.before_count} → {r.after_count} rows\n")
            if r.backup_id:
                text.append(f"safety backup: {r.backup_id}\n")
            if r.rejects_file:
                text.append(f"rejects file: {r.rejects_file}\n")
            if r.sha256:
                text.append(f"file sha256: {r.sha256[:16]}… (in the audit log)\n")
            for line in r.warning_lines():  # as the CLI says them: rows a trigger dropped
                text.append(f"⚠ {line}\n", "bold yellow")
            self._fill_rejects("#result-rejects", r)
        self.query_one("#result-text", Static).update(text)

    def step_failed(self, what: str) -> None:
        if what == "run":
            self.app_end()
            self.report = None
            self.set_working(False)
            self.query_one("#run-progress", OperationProgress).caption(
                "✘ the import failed: nothing was committed"
            )
            self.allow_next(label="Result ▶ (n)")
            return
        # The step's own line must not go on saying "reading…" under the error.
        if what == "preview":
            self.query_one("#preview-text", Static).update(
                Text("✘ no preview (the error is above; b goes back to the source)", style="bold")
            )
        elif what == "validate":
            self.query_one("#validate-progress", OperationProgress).caption(
                "✘ the validation stopped: nothing was written"
            )
        super().step_failed(what)
