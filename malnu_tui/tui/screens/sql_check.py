"""The SQL view's PostgreSQL check: the engine call of ``plan --check`` (every translated
statement, in order, on a scratch schema of a real server, always rolled back) for the shown
migration, and the same for its rollback after the migrations it undoes. A statement is shown
``✓ ok`` only when PostgreSQL took it; without a server the view says plainly it is not checked.
The view's table is built here too: the checked statements (else the translation's findings),
then the lint's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.text import Text
from textual.message import Message

from malnu_tui.engine.errors import MalnuError
from malnu_tui.engine.urls import ENV_PARITY_DATABASE, check_server, mask_url

if TYPE_CHECKING:
    from malnu_tui.engine.config import Target
    from malnu_tui.engine.files import MigrationSet
    from malnu_tui.engine.lint import Finding as LintFinding
    from malnu_tui.engine.plan_diff import LinePair, MigrationTranslation
    from malnu_tui.engine.translate import FileTranslation

# Findings that are the check's own (a rejection, or one that follows from another): the
# statement's row carries them, they are not listed again as translation findings.
CHECK_FINDINGS = ("PostgreSQL rejected", "depends on a rejected statement")

# A PostgreSQL target is its own server; any other needs the variable (the CLI's rule).
NO_SERVER = f"⊘ not checked: no PostgreSQL server (set ${ENV_PARITY_DATABASE})"


@dataclass(frozen=True)
class SqlCheck:
    """What the check found. ``server`` is the masked URL (None: no server known);
    ``error`` says why it could not run; ``migration``/``rollback`` hold each statement's
    checked status (``rollback`` None when there is no rollback file)."""

    server: str | None = None
    error: str | None = None
    migration: MigrationTranslation | None = None
    rollback: MigrationTranslation | None = None

    def of(self, which: str) -> MigrationTranslation | None:
        return self.migration if which == "migration" else self.rollback


@dataclass
class SqlChecked(Message):
    """The check worker finished (or found no server, or could not run)."""

    check: SqlCheck


def check_sql(
    target: Target, targets: Mapping[str, Target], mset: MigrationSet, filename: str
) -> SqlCheck:
    """Run the check (in a worker). The server is chosen by the CLI's one rule
    (:func:`check_server`: ``$MALNU_PARITY_DATABASE``, else the target when it is
    PostgreSQL)."""
    from malnu_tui.engine.plan_diff import as_written, translate_plan, translate_rollback
    from malnu_tui.tui.session import explain

    try:
        url = check_server(target, targets)
    except MalnuError as exc:  # e.g. the variable names no PostgreSQL server
        return SqlCheck(None, str(exc))
    if url is None:
        return SqlCheck()
    server = server_label(url)
    if filename not in {m.filename for m in mset.migrations}:
        return SqlCheck(server, "the migration file is gone: nothing to check")
    try:
        migrations = list(mset.migrations)
        as_is = target.files_dialect == "postgresql"
        plan = as_written if as_is else translate_plan
        (migration,) = plan(migrations, [filename], postgres_url=url)
        rollback = translate_rollback(
            migrations, filename, postgres_url=url, written_for_postgres=as_is
        )
    except Exception as exc:  # shown in the view: a failed check never hides the SQL
        message, hint = explain(exc)
        return SqlCheck(server, message + (f" ({hint})" if hint else ""))
    return SqlCheck(server, None, migration, rollback)


Row = tuple[str, Text, str, str]  # a table row: line, status, construct (or words), why

STATUS = {
    "ok": ("✓ ok", "green"),
    "rejected": ("✗ rejected", "bold red"),
    "withheld": ("⊘ withheld", "yellow"),
    "dropped": ("– dropped", "dim"),
    "unchecked": ("? unchecked", "yellow"),
}


def server_label(url: str) -> str:
    """The server as the view names it: its URL, password masked."""
    return mask_url(url)


def checking_line(url: str) -> Text:
    return Text(
        f"⟳ checking on PostgreSQL {server_label(url)} (scratch schema, rolled back)…", "italic"
    )


def check_line(check: SqlCheck | None, which: str) -> Text:
    """One line above the findings: whether (and where) the shown file was checked, with the
    count of each statement state; never "ok" without a server."""
    if check is None:
        return Text("⟳ checking on PostgreSQL…", "italic")
    if check.error is not None:
        return Text(f"✗ not checked: {check.error} · c: check again", "bold red")
    if check.server is None:
        return Text(NO_SERVER + " · c: check", "yellow")
    mt = check.of(which)
    if mt is None:
        return Text(f"⊘ not checked: no {which} file", "yellow")
    counts: dict[str, int] = {}
    for p in mt.statements:
        counts[p.status] = counts.get(p.status, 0) + 1
    order = ("ok", "rejected", "withheld", "dropped")
    told = ", ".join(f"{counts[s]} {s}" for s in order if counts.get(s)) or "nothing to run"
    if counts.get("rejected"):
        text = Text("✗ ", "bold red")
    elif counts.get("withheld"):
        text = Text("⚠ ", "yellow")
    else:
        text = Text("✓ ", "green")
    text.append(f"checked on PostgreSQL {check.server}: {told}")
    return text


def statement_cells(mt: MigrationTranslation, width: int) -> list[Row]:
    """One row per statement (line, checked status, its first words, why), followed by its
    translation findings other than the check's own."""
    rows: list[Row] = []
    room = 32 if width >= 110 else 14  # the message matters more than the statement's words
    for p in mt.statements:
        label, style = STATUS.get(p.status, (p.status, ""))
        if p.sqlite or p.status != "dropped":  # not a note outside any statement
            rows.append((str(p.line), Text(label, style), _head(p.sqlite, room), _why(p)))
        for f in p.findings:
            if f.construct in CHECK_FINDINGS or (p.status == "withheld" and f.severity == "error"):
                continue
            sev = Text("⚠ warning" if f.severity == "warning" else "ℹ note", style="yellow")
            rows.append((str(f.line), sev, f.construct, f.why))
    return rows


def _head(sql: str, room: int) -> str:
    """The statement's first words, cut at the end to fit."""
    flat = " ".join(sql.split())
    return flat if len(flat) <= room else flat[: room - 1] + "…"


def _why(p: LinePair) -> str:
    if p.status == "ok":
        return "PostgreSQL accepted it"
    if p.status == "rejected":
        return "; ".join(f.why for f in p.findings if f.construct in CHECK_FINDINGS)
    if p.status == "withheld":
        return "; ".join(
            f.why + (f" — {f.suggestion}" if f.suggestion else "")
            for f in p.findings
            if f.severity == "error"
        )
    if p.status == "dropped":
        return "nothing runs on PostgreSQL"
    return "translated, not run on PostgreSQL"


# -- the view's table of statements and findings ----------------------------------------------
def findings_rows(
    filename: str | None,
    translation: FileTranslation | None,
    note: str | None,
    checked: MigrationTranslation | None,
    lint: Sequence[LintFinding],
    width: int,
    *,
    translates: bool,
    lint_said: Sequence[str] = (),
) -> list[Row]:
    """The SQL view's table for the shown file: each statement with its checked status once
    the check ran (else the translation's findings), then the lint's; a file too large to
    translate first says so (``note``); a translated file with none of them says "· none".
    The lint's findings are headed by what `lint` says first on stderr (``lint_said``: the
    dialect it judged by and why, its notes)."""
    linted = lint_cells(filename, lint)
    rows = statement_cells(checked, width) if checked is not None else finding_cells(translation)
    rows += linted
    if note is not None:
        word, what = ("too large", "translation") if translates else ("large", "view")
        rows.insert(0, ("", Text(f"⚠ {word}", style="yellow"), what, note[2:]))
    if not rows and translation is not None:
        rows.append(("", Text("· none", style="dim"), "", "no translation or lint finding"))
    at = len(rows) - len(linted)
    rows[at:at] = [("", Text("ℹ note", style="dim"), "lint", said) for said in lint_said]
    return rows


def lint_cells(filename: str | None, lint: Sequence[LintFinding]) -> list[Row]:
    """The lint's findings for this file (``malnu-tui lint``), in the same table."""
    rows = []
    for f in lint:
        if f.file != filename:
            continue
        if f.ignored:
            sev = Text("✔ accepted", style="green")
            why = f"{f.why} — accepted: {f.reason}"
        else:
            style = {"error": "bold red", "warning": "yellow"}.get(f.severity, "")
            sev = Text(("✘ " if f.severity == "error" else "⚠ ") + f.severity, style=style)
            why = f"{f.why} — instead: {f.instead}"
        rows.append((str(f.line), sev, f"lint {f.rule}", why))
    return rows


def finding_cells(translation: FileTranslation | None) -> list[Row]:
    """The translation's findings (before, or without, a check on PostgreSQL)."""
    if translation is None:
        return []
    rows = []
    for f in translation.findings:
        sev = (
            Text("✘ error", style="bold red")
            if f.severity == "error"
            else Text("ℹ note", style="yellow")
        )
        why = f.why + (f" — {f.suggestion}" if f.suggestion else "")
        rows.append((str(f.line), sev, f.construct, why))
    return rows
