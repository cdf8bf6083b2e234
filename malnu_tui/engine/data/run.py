"""``import``, written once for the CLI and the console: preview (no writes), then the run
under the lock (re-check → safety backup → stream → checks → commit or nothing → audit).

What it shows and returns (preview, progress, report) are the values of report.py. One
all-or-nothing unit per import. The report always balances
(read = inserted + updated + skipped + rejected), and that, the table's count before and after,
and the rejects file's row count are checked before anything is committed.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from malnu_tui.engine.backends.base import AuditEntry, audit_row_held, utc_now
from malnu_tui.engine.data.csvsource import CsvSource, file_sha256
from malnu_tui.engine.data.errors import DirectRefused, ImportCheckFailed
from malnu_tui.engine.data.pipeline import WritePipeline, no_cyclic_gc, quick_handoffs
from malnu_tui.engine.data.preflight import (
    Source,
    check_table,
    checked_table,
    mapping_for,
    refuse_half_done,
    rejects_for,
)
from malnu_tui.engine.data.rejects import RejectsWriter
from malnu_tui.engine.data.report import (
    ImportPreview,
    ImportProgress,
    ImportProgressCallback,
    ImportReport,
    SampleRow,
)
from malnu_tui.engine.data.request import ImportRequest
from malnu_tui.engine.data.rows import Rejection, Row, RowBuilder
from malnu_tui.engine.data.schema import zone_notes
from malnu_tui.engine.data.spec import dropping_triggers
from malnu_tui.engine.data.tablesource import SourceReadFailed, TableSource
from malnu_tui.engine.data.uniques import watched_uniques
from malnu_tui.engine.data.writers import (
    OnConflict,
    TableWriter,
    WriteOutcome,
    WriteSpec,
    open_writer,
)
from malnu_tui.engine.errors import MalnuError, reporting
from malnu_tui.engine.interrupts import HeldInterrupts, interrupts_held, stop_for

if TYPE_CHECKING:
    from malnu_tui.engine.backends.base import Backend

CHUNK_ROWS = 5000
PROGRESS_EVERY_S = 0.5
SAMPLE_ROWS = 5


def preview_import(
    backend: Backend, request: ImportRequest, source: Source, *, sample: int = SAMPLE_ROWS
) -> ImportPreview:
    """The mapping preview: detected format, schema check, the first rows before/after."""
    request.check_options()
    refuse_half_done(backend)
    mapping = mapping_for(request, source)
    schema, check = check_table(backend, request, source, mapping)
    rejects_for(request)
    samples: list[SampleRow] = []
    if check.ok:
        builder = RowBuilder(
            schema,
            check,
            mapping,
            source.header,
            utc_now_iso(),
            csv_text=isinstance(source, CsvSource),
        )
        for rec in source.records():
            before = tuple(zip(source.header, rec.fields, strict=False))
            res = builder.build(rec)
            if isinstance(res, Row):
                samples.append(
                    SampleRow(rec.line, before, tuple(zip(check.columns, res.values, strict=True)))
                )
            else:
                where = f"{res.column}: " if res.column else ""
                samples.append(SampleRow(rec.line, before, None, where + res.reason))
            if len(samples) >= sample:
                break
    rules = tuple((r.column, r.describe()) for r in mapping.rules if r.column in check.columns)
    by_column = {r.column: r.source for r in mapping.rules}
    after = [dict(s.after) for s in samples if s.after is not None]
    notes = (*zone_notes(schema, mapping, after), *_dropping_note(backend, request.table))
    check = replace(check, notes=(*check.notes, *notes))
    return ImportPreview(
        table=request.table,
        target_url=backend.display_url,
        source=source.description,
        header=source.header,
        check=check,
        rules=rules,
        sources=tuple(by_column.get(c) for c in check.columns),
        samples=tuple(samples),
        before_count=backend.row_count(request.table),
        on_conflict=request.conflict,
    )


def _dropping_note(backend: Backend, table: str) -> tuple[str, ...]:
    """Before the question: the table's own triggers that may drop rows unwritten, which the
    run names after committing (``_ignored``)."""
    names = dropping_triggers(backend, table)
    if not names:
        return ()
    return (
        f"table {table}'s own trigger(s) {', '.join(names)} may drop rows unwritten "
        "(RAISE(IGNORE), RETURN NULL): the run counts them as skipped, a dry run counts them "
        "first",
    )


def utc_now_iso() -> str:
    """The import's ``now``: UTC, ISO 8601."""
    return utc_now().replace(" ", "T") + "Z"


SafetyBackup = Callable[[str], str | None]


def run_import(
    backend: Backend,
    request: ImportRequest,
    source: Source,
    *,
    progress: ImportProgressCallback | None = None,
    safety_backup: SafetyBackup | None = None,
) -> ImportReport:
    """Run the import. ``--dry-run`` reads, maps and validates everything inside a unit that is
    always rolled back, without the lock, backup or audit row: it writes nothing."""
    if request.dry_run:
        return _execute(backend, request, source, progress)
    from malnu_tui.engine.monitor.runlog import record_run
    from malnu_tui.engine.oplock import migration_lock

    done: list[ImportReport] = []  # (its COMMIT returned: a stop after it, still its report)
    backup_id = None
    # From its COMMIT to its run row, a stop (Ctrl-C, SIGTERM, SIGHUP) is held, then said too
    # late: one landing as the step returned was raised there, and the run row said "failed:
    # interrupted" (no counts) beside `import ok` and the rows in the table. Held, it hurries
    # the clean-up (D1: each request tried once, briefly): systemd's SIGKILL comes 90 s after.
    held: list[HeldInterrupts] = []
    stopped: list[BaseException] = []
    try:
        with contextlib.ExitStack() as after_commit:

            def hold() -> None:
                held.append(
                    after_commit.enter_context(interrupts_held(second_ends=True, hurries=True))
                )

            # One run row (monitoring): outside the lock, so a held lock is recorded as refused.
            with (
                reporting(
                    lambda: replace(done[0], backup_id=backup_id).as_json() if done else None
                ),
                record_run(backend, "import", request.table) as run,
                migration_lock(backend, "import", warn=True) as unreleased,
            ):
                # Re-checked under the lock: the table may have changed since the preview.
                refuse_half_done(backend)
                checked_table(backend, request, source)
                if safety_backup is not None:
                    if progress:
                        progress(ImportProgress("backup", 0, 0, 0.0, "taking a safety backup"))
                    backup_id = safety_backup("pre-import")
                report = _execute(backend, request, source, progress, on_commit=hold)
                done.append(report)
                for name in ("read", "inserted", "updated", "skipped", "rejected"):
                    run.count(name, getattr(report, name))
                if not report.committed:
                    run.set_outcome("failed", f"not committed: {report.reason}")
                backend.renew_lock()
    except KeyboardInterrupt as exc:
        # (one that came as the run row was written, raised after it; never one held as
        # another error ended the block: that error is said)
        if not (done and done[0].committed) or exc.__context__ is not None:
            raise
        stopped.append(exc)
    stopped += [stop_for(s) for h in held for s in h.signals]
    report = done[0]
    late = [w for w in map(_too_late, stopped[:1]) if w not in report.warnings]
    return replace(report, backup_id=backup_id, warnings=(*report.warnings, *late, *unreleased))


def _execute(
    backend: Backend,
    request: ImportRequest,
    source: Source,
    progress: ImportProgressCallback | None,
    *,
    on_commit: Callable[[], object] = lambda: None,
) -> ImportReport:
    """The import's step: open the unit, stream every row, check, commit or roll back, audit.
    ``on_commit`` is called as soon as the rows are known committed."""
    started = time.monotonic()
    request.check_options()
    mapping, schema, check = checked_table(backend, request, source)
    now = utc_now_iso()
    rejects = rejects_for(request)
    uniques = watched_uniques(backend, schema, check.columns, check.key, request.conflict)
    spec = WriteSpec(schema, check.columns, check.key, request.conflict, uniques=uniques)
    writer: TableWriter
    if request.dry_run and backend.kind == "d1":
        from malnu_tui.engine.data.d1_writer import D1DryRun

        writer = D1DryRun(backend, spec)  # type: ignore[arg-type]
    else:
        writer = open_writer(backend, spec, direct=True)

    def row_builder(writer: TableWriter) -> RowBuilder:
        # D1: real numbers (its staging table types a watched UNIQUE's columns alone).
        return RowBuilder(
            schema,
            check,
            mapping,
            source.header,
            now,
            numbers_as_text=backend.kind != "d1",
            server_checks=getattr(writer, "server_checks", False),
            csv_text=isinstance(source, CsvSource),
        )

    builder = row_builder(writer)
    # Over an absolute limit nothing commits: stop reading ("stop after N bad rows"). A dry
    # run reads on and has the database judge every row, to report every problem at once
    # (PostgreSQL's search for the rows it refuses stopped at the limit: one duplicate of many).
    limit = request.max_errors.count if request.max_errors.percent is None else None
    stop_at = None if request.dry_run else limit
    emit = progress or (lambda _p: None)
    if rejects.remove_earlier():  # a run rejecting nothing left it, its rows taken for ours
        emit(
            ImportProgress(
                "rejects",
                0,
                0,
                0.0,
                f"removed {rejects.path}, an earlier run's rejects file (this run writes its "
                "own there if it rejects a row)",
            )
        )

    def stream(writer: TableWriter) -> tuple[int, int, bool]:
        """Open the unit and send every row: (count before, rows read, stopped early)."""
        read = 0
        stopped = False
        before = writer.begin()
        last_emit = started
        with no_cyclic_gc(), quick_handoffs(), WritePipeline(writer) as pipe:
            for recs in source.chunks(CHUNK_ROWS):
                read += len(recs.lines)
                batch, bad = builder.build_chunk(recs)
                for r in bad:
                    rejects.add(r)
                if len(batch):
                    pipe.send(batch)
                for r in pipe.drain():
                    rejects.add(r)
                if stop_at is not None and rejects.count > stop_at:
                    stopped = True  # "stop after N bad rows": nothing will commit anyway
                    break
                now = time.monotonic()
                if now - last_emit >= PROGRESS_EVERY_S:
                    last_emit = now
                    emit(ImportProgress("read", read, rejects.count, now - started))
        for r in pipe.drain():
            rejects.add(r)
        return before, read, stopped

    done: AuditEntry | None = None  # the `import ok` row, which commits with the rows
    late: tuple[str, ...] = ()  # what came once it had committed
    try:
        try:
            before, read, stopped = stream(writer)
            outcome = writer.finish(stop_at)
        except DirectRefused:
            # The database refused a row of the direct COPY: the unit is undone and the
            # import starts over through the temp table, which names each refused row.
            writer.rollback()
            rejects.reset()
            writer = open_writer(backend, spec)
            builder = row_builder(writer)
            before, read, stopped = stream(writer)
            outcome = writer.finish(stop_at)
        emit(ImportProgress("check", read, rejects.count, time.monotonic() - started))
        sha = _sha256(request, source, stopped)
        for r in _with_raw(list(outcome.rejections), source):
            rejects.add(r)
        rejects.close()
        rejected = rejects.count
        _check_balance(read, outcome, rejected, request.conflict)
        unread = source.unread(read) if isinstance(source, TableSource) and not stopped else None
        if unread is not None:
            raise ImportCheckFailed(f"count check failed: {unread}; nothing committed")
        allowed = request.max_errors.allows(rejected, read) and not stopped
        reason = ""
        if not allowed:
            reason = f"{rejected} rejected, over --max-errors {request.max_errors.describe()}"
        elif request.dry_run:
            reason = "dry run"
        committed = False
        if allowed and not request.dry_run:
            emit(ImportProgress("commit", read, rejected, time.monotonic() - started))
            done = _audit(request, source, sha, read, outcome, rejected, "ok")
            writer.commit(done)
            committed = True
            on_commit()
        else:
            writer.rollback()
    except BaseException as exc:
        writer.rollback()  # (after its COMMIT: the clean-up the commit did not reach)
        if done is not None and audit_row_held(backend, done):
            # Ctrl-C, SIGTERM or an error that came as the COMMIT returned: the rows are in,
            # with their `import ok` row. Said so, as a restore's is; "terminated" read as
            # undone, beside a run row "failed" and 300 rows in the table.
            committed, late = True, (_too_late(exc),)
            on_commit()
        else:
            _stopped(backend, request, source, rejects, exc)
            raise
    after = outcome.after_count if committed else before
    if not committed:
        recount = backend.row_count(request.table)
        if recount != before and not request.dry_run:
            raise ImportCheckFailed(
                f"{request.table}: {before} rows before, {recount} after an import that did not "
                "commit (another writer?)"
            )
        if not request.dry_run:
            backend.append_audit(_audit(request, source, sha, read, outcome, rejected, "failed"))
    return ImportReport(
        table=request.table,
        read=read,
        inserted=outcome.inserted,
        updated=outcome.updated,
        skipped=outcome.skipped,
        rejected=rejected,
        committed=committed,
        rejects_file=str(rejects.path) if rejects.written else None,
        before_count=before,
        after_count=after,
        sha256=sha,
        dry_run=request.dry_run,
        elapsed_s=time.monotonic() - started,
        first_rejects=tuple(sorted(rejects.first, key=lambda r: r.line)),
        reason=reason,
        empty_lines=source.empty_lines if isinstance(source, CsvSource) else 0,
        # A dry run that would commit says what the run will: the rows a trigger drops.
        warnings=(*getattr(writer, "warnings", ()), *_ignored(request, outcome), *late)
        if committed or (request.dry_run and allowed)
        else (),
    )


def _stopped(
    backend: Backend,
    request: ImportRequest,
    source: Source,
    rejects: RejectsWriter,
    exc: BaseException,
) -> None:
    """An import stopped before it committed (rolled back): its rejects file closed, its
    failure audited; a source that failed to read is said as rolled back."""
    with contextlib.suppress(MalnuError):  # its own failure must not hide ``exc``
        rejects.close()
    if not request.dry_run and isinstance(exc, (MalnuError, OSError)):
        with contextlib.suppress(MalnuError):
            backend.append_audit(
                AuditEntry.now("import", request.table, "failed", f"{source.description}: {exc}")
            )
    if isinstance(exc, SourceReadFailed):
        raise exc.rolled_back() from None


def _too_late(exc: BaseException) -> str:
    """What came after the import had committed (the report's warning)."""
    what = (
        "an interrupt (Ctrl-C or SIGTERM)"
        if isinstance(exc, KeyboardInterrupt)
        else f"an error ({exc or type(exc).__name__})"
    )
    return f"{what} came after it had committed, too late to undo it"


def _sha256(request: ImportRequest, source: Source, stopped: bool) -> str | None:
    """The file's sha256: read along with the records when the whole file was read."""
    if request.file is None:
        return None
    if isinstance(source, CsvSource) and source.digest is not None and not stopped:
        return source.digest
    return file_sha256(request.file)


def _ignored(request: ImportRequest, o: WriteOutcome) -> tuple[str, ...]:
    """The rows the table's own triggers dropped unwritten, counted as skipped, named."""
    if not (o.ignored_by and o.skipped):
        return ()
    verb = "are rows" if request.conflict == "error" else "may include rows"
    return (
        f"the {o.skipped} skipped row(s) {verb} table {request.table}'s own trigger(s) "
        f"{', '.join(o.ignored_by)} dropped unwritten (RAISE(IGNORE), RETURN NULL)",
    )


def _check_balance(read: int, o: WriteOutcome, rejected: int, on_conflict: OnConflict) -> None:
    """The counts must agree before anything is committed; a mismatch fails the unit."""
    problems = []
    if on_conflict == "error" and ((o.skipped and not o.ignored_by) or o.updated):
        problems.append(
            f"{o.skipped + o.updated} row(s) sent were neither inserted nor refused by the database"
        )
    if min(o.inserted, o.updated, o.skipped) < 0:
        problems.append(
            f"negative count (inserted {o.inserted}, updated {o.updated}, skipped {o.skipped})"
        )
    if read != o.inserted + o.updated + o.skipped + rejected:
        problems.append(
            f"read {read} ≠ inserted {o.inserted} + updated {o.updated} + skipped {o.skipped} "
            f"+ rejected {rejected}"
        )
    if o.after_count != o.before_count + o.inserted:
        problems.append(
            f"table count {o.before_count} → {o.after_count}, but {o.inserted} inserted"
        )
    if problems:
        raise ImportCheckFailed(
            "count check failed: " + "; ".join(problems) + "; nothing committed"
        )


def _with_raw(rejections: list[Rejection], source: Source) -> list[Rejection]:
    """Rejections found by the database at the end carry no raw text: one more pass over
    the source fills it in (rare: only when the database refused rows)."""
    missing = {r.line for r in rejections if not r.raw}
    if not missing:
        return rejections
    if isinstance(source, TableSource):
        raws = source.raws(missing)
        changed = (
            "; the source table changed after it was read: the row now at its place is "
            "another's, its text is left out"
        )
        return [
            r
            if r.raw
            else r._replace(raw=raws[r.line])
            if r.line in raws
            else r._replace(reason=r.reason + changed)
            for r in rejections
        ]
    raws = {}
    for rec in source.records():
        if rec.line in missing:
            raws[rec.line] = rec.raw
            if len(raws) == len(missing):
                break

    return [r if r.raw else r._replace(raw=raws.get(r.line, "")) for r in rejections]


def _audit(
    request: ImportRequest,
    source: Source,
    sha: str | None,
    read: int,
    o: WriteOutcome,
    rejected: int,
    outcome: str,
) -> AuditEntry:
    detail = (
        f"{source.description}"
        + (f"; sha256 {sha}" if sha else "")
        + f"; read {read}, inserted {o.inserted}, updated {o.updated}, skipped {o.skipped}, "
        f"rejected {rejected}; rows {o.before_count} → "
        f"{o.after_count if outcome == 'ok' else o.before_count}"
    )
    return AuditEntry.now("import", request.table, outcome, detail)
