"""``import``: a CSV file (or another target's table) into a table, all or nothing."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from malnu_tui.cli.context import Context
    from malnu_tui.engine.backends.base import Backend
    from malnu_tui.engine.data import ImportPreview, ImportProgress, ImportReport, ImportRequest
    from malnu_tui.engine.data.preflight import Source


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    p = sub.add_parser(
        "import",
        parents=[common],
        help="load a CSV file (or another target's table) into a table, all or nothing",
    )
    p.add_argument("file", nargs="?", metavar="FILE", help="the CSV file (header row first)")
    p.add_argument(
        "--from",
        dest="source",
        metavar="TARGET:TABLE",
        help="read a table of another target (a name from the config, or a URL) instead",
    )
    p.add_argument("--table", required=True, help="the table to load into")
    p.add_argument("--map", dest="mapping", metavar="FILE", help="mapping file (TOML)")
    p.add_argument("--key", metavar="COL", help="conflict key (default: the primary key)")
    p.add_argument(
        "--on-conflict",
        choices=("update", "skip", "error"),
        help="an existing key: update the row, skip it, or reject it (default: update with "
        "--key, else error)",
    )
    p.add_argument("--encoding", metavar="ENC", help="utf-8 (default), cp1252, latin-1…")
    p.add_argument(  # (type=str: a tab or a space is one, unlike an empty value; see below)
        "--delimiter", metavar="C", type=str, help="one of , ; tab | (default: sniffed)"
    )
    p.add_argument(
        "--header-line",
        type=_header_lines,
        metavar="N[-M]",
        help="the header is line N (a sheet's title rows above it are not read), or lines "
        "N-M, two rows with merged group cells over the names; default: the first line",
    )
    p.add_argument("--rejects", metavar="PATH", help="rejects file (default FILE.rejects.csv)")
    p.add_argument(
        "--max-errors",
        metavar="N|P%",
        default="0",
        help="commit only when rejected rows ≤ N (or ≤ P%% of rows read); default 0",
    )
    p.add_argument("--dry-run", action="store_true", help="read, map and validate; write nothing")
    p.add_argument("--no-backup", action="store_true", help="skip the safety backup (audited)")
    p.set_defaults(handler=cmd_import, line_check=import_request)


def _header_lines(value: str) -> tuple[int, int]:
    """``--header-line N`` or ``N-M`` (two rows: M is N + 1) → (N, rows)."""
    from malnu_tui.engine.data.csvsource import parse_header_line

    try:
        return parse_header_line(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def import_request(a: argparse.Namespace) -> ImportRequest:
    """The import the command line asks for; a usage error (exit 2) for a line that cannot be
    one (FILE and --from both or neither, a bad --max-errors or --delimiter, a CSV option
    with --from). Pure: it is also ``import``'s ``line_check``."""
    from pathlib import Path

    from malnu_tui.engine.data import ImportRequest, MaxErrors
    from malnu_tui.engine.data.csvformat import parse_delimiter
    from malnu_tui.engine.errors import ConfigError

    if bool(a.file) == bool(a.source):
        raise ConfigError("give either FILE or --from TARGET:TABLE (one of them)")
    key = tuple(k.strip() for k in (a.key or "").split(",") if k.strip())
    request = ImportRequest(
        table=a.table,
        file=Path(a.file) if a.file else None,
        source_label=a.source or "",
        mapping=Path(a.mapping) if a.mapping else None,
        key=key,
        on_conflict=a.on_conflict,
        encoding=a.encoding,
        delimiter=parse_delimiter(a.delimiter) if a.delimiter is not None else None,
        header_line=a.header_line[0] if a.header_line else None,
        header_rows=a.header_line[1] if a.header_line else 1,
        rejects=Path(a.rejects) if a.rejects else None,
        max_errors=MaxErrors.parse(a.max_errors),
        dry_run=a.dry_run,
    )
    request.check_options()  # before the --from target is opened
    return request


def _source(ctx: Context, request: ImportRequest) -> tuple[Source, Backend | None]:
    """The source, and the backend it holds open (a ``--from`` target)."""
    from malnu_tui.engine.data import open_source

    return open_source(ctx.settings, request)


def _show_preview(ctx: Context, preview: ImportPreview) -> None:
    ctx.message(f"import {preview.source}")
    ctx.message(
        f"  into {preview.table} of {preview.target_url} ({preview.before_count} rows now), "
        f"on conflict: {preview.on_conflict}"
        + (f" by {', '.join(preview.check.key)}" if preview.check.key else "")
    )
    for column, how in preview.rules:
        ctx.message(f"  {column} ← {how}")
    for note in preview.check.notes:
        ctx.message(f"  note: {note}")
    for problem in preview.problems:
        ctx.message(f"  problem: {problem}")


def _progress(ctx: Context) -> Callable[[ImportProgress], None]:
    def show(p: ImportProgress) -> None:
        if p.phase == "read":
            ctx.message(
                f"import: {p.read} rows read, {p.rejected} rejected, {p.rows_per_s:,.0f} rows/s"
            )
        elif p.message:
            ctx.message(f"import: {p.message}")
        elif p.phase == "check":
            ctx.message(f"import: {p.read} rows read ({p.rows_per_s:,.0f} rows/s); checking")

    return show


def _show_report(ctx: Context, report: ImportReport) -> None:
    if ctx.json:  # first: a stop while the lines below are said (Ctrl-C) leaves it said
        ctx.out_json(report.as_json())
    if report.backup_id:
        ctx.message(f"safety backup: {report.backup_id}")
    for r in report.first_rejects[:10]:
        where = f" {r.column}" if r.column else ""
        ctx.message(f"rejected line {r.line}{where}: {r.reason}")
    if report.rejected > 10:
        ctx.message(f"… {report.rejected - 10} more rejected rows")
    if report.rejects_file:
        ctx.message(f"rejects file: {report.rejects_file}")
    ctx.message(report.summary())
    for line in report.warning_lines():  # an error here had the same rows imported twice
        ctx.message(line)


def cmd_import(ctx: Context) -> int:
    from malnu_tui.engine.config import open_backend, require_existing
    from malnu_tui.engine.data import SchemaMismatch, preview_import, run_import

    request = import_request(ctx.args)
    require_existing(ctx.target)  # a wrong path: not a new database with the tool's tables
    source, source_backend = _source(ctx, request)
    # A dry run must not even create the tool tables: open the target without ensure_schema.
    backend = open_backend(ctx.target, rolled_back=True) if request.dry_run else ctx.backend()
    try:
        preview = preview_import(backend, request, source)
        _show_preview(ctx, preview)
        if preview.problems:
            raise SchemaMismatch(
                preview.table,
                preview.problems,
                from_table=request.file is None,
                mapped=request.mapping is not None,
            )
        if request.dry_run:
            report = run_import(backend, request, source, progress=_progress(ctx))
            _show_report(ctx, report)
            ctx.message("dry run: nothing was written")
            return 0 if request.max_errors.allows(report.rejected, report.read) else 1
        from malnu_tui.cli.plans import lock_preflight, safety_backup

        lock_preflight(ctx, backend, ctx.target, "import")  # a live holder: exit 3, not asked
        ctx.confirm(f"import into {request.table} of {backend.display_url}", backend.name)
        backup = safety_backup(ctx, backend, "import")
        report = run_import(backend, request, source, progress=_progress(ctx), safety_backup=backup)
        _show_report(ctx, report)
        return 0 if report.committed else 1
    finally:
        if request.dry_run:
            backend.close()
        if source_backend is not None:
            source_backend.close()
