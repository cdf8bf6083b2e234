"""Migration commands: status, create, up, rollback, verify, repair, clear-failed, unlock, log."""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path
from typing import TYPE_CHECKING

from malnu_tui.cli.argtypes import count
from malnu_tui.cli.context import JsonList
from malnu_tui.cli.plans import report_result, run_plan, show_plan, show_preflight
from malnu_tui.engine.errors import reporting

if TYPE_CHECKING:
    from collections.abc import Iterator

    from malnu_tui.cli.context import Context


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    p = sub.add_parser("status", parents=[common], help="every migration with its state")
    p.set_defaults(handler=cmd_status)

    p = sub.add_parser("create", parents=[common], help="new migration + rollback skeleton")
    p.add_argument("name", help="what the migration does, e.g. add_user_profiles")
    p.set_defaults(handler=cmd_create)

    p = sub.add_parser("up", parents=[common], help="apply pending migrations in order")
    p.add_argument("--to", metavar="VERSION", help="stop after this version")
    p.add_argument("--dry-run", action="store_true", help="print the SQL, change nothing")
    p.add_argument("--no-backup", action="store_true", help="skip the safety backup (audited)")
    p.add_argument(
        "--unrelated-history",
        action="store_true",
        help="another runner's history in the database is not this set's (an application's "
        "own): run anyway; the pending files it names by version are still refused",
    )
    p.add_argument(
        "--accept-lint",
        action="store_true",
        help='run although lint errors remain on a lint = "enforce" target (audited)',
    )
    p.set_defaults(handler=cmd_up)

    p = sub.add_parser("rollback", parents=[common], help="run rollback files, newest first")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--steps", type=int, metavar="N", help="how many migrations (default 1)")
    g.add_argument("--to", metavar="VERSION", help="undo everything after VERSION")
    p.add_argument("--dry-run", action="store_true", help="print the SQL, change nothing")
    p.add_argument("--no-backup", action="store_true", help="skip the safety backup (audited)")
    p.add_argument(
        "--accept-edited-rollback",
        action="store_true",
        help="run rollback files edited since their migration was applied (audited)",
    )
    p.set_defaults(handler=cmd_rollback)

    p = sub.add_parser("verify", parents=[common], help="checksums of applied files; 1 on drift")
    p.set_defaults(handler=cmd_verify)

    p = sub.add_parser("repair", parents=[common], help="accept edited applied files (audited)")
    p.add_argument(
        "files",
        nargs="*",
        help="only these files (default: every drifted one); a missing one (applied, its file "
        "gone) named here has its tracking row forgotten",
    )
    p.set_defaults(handler=cmd_repair)

    p = sub.add_parser("clear-failed", parents=[common], help="delete a failed tracking row")
    p.add_argument("file", help="the migration's filename or version")
    p.set_defaults(handler=cmd_clear_failed)

    p = sub.add_parser("unlock", parents=[common], help="release a stale migration lock")
    p.set_defaults(handler=cmd_unlock)

    p = sub.add_parser("log", parents=[common], help="the audit trail, newest first")
    p.add_argument("--limit", type=count, default=50)
    p.add_argument("--action", help="only this action (apply, rollback, backup…)")
    p.set_defaults(handler=cmd_log)


def cmd_status(ctx: Context) -> int:
    # From engine.status itself: engine.migrate would load the planning and applying modules,
    # which a cron's `status --json` never uses (start-up).
    from malnu_tui.engine.drift import mark_rollback_edits as mark
    from malnu_tui.engine.histories import read_other_histories
    from malnu_tui.engine.status import STATE_SYMBOLS, status

    # The files first: a missing or bad migrations directory is refused before the
    # database is opened (a SQLite file not made yet was made, and left behind, empty).
    mset, backend = ctx.migration_set(), ctx.viewer()
    report = mark(backend, status(backend, mset, ctx.target.name), mset)
    others = read_other_histories(backend, mset, report)
    if ctx.json:
        ctx.out_json({**report.as_json(), **others.as_json()})
        return 0
    from malnu_tui.cli.output import print_table

    rows = [
        (
            m.version,
            m.name,
            f"{STATE_SYMBOLS[m.state]} {m.state.value}",
            m.executed_at or "",
            "" if m.execution_time_ms is None else f"{m.execution_time_ms} ms",
            ("≠ edited" if m.rollback_edited else "yes") if m.rollback_file else "NO",
        )
        for m in report.migrations
    ]
    print_table(
        ctx.stdout,
        ["version", "name", "state", "applied (UTC)", "took", "rollback"],
        rows,
        title=f"{ctx.target.name}: {report.display_url}",
    )
    ctx.message(report.summary())
    for w in report.warnings:
        ctx.message(f"warning: {w}")
    for m in report.migrations:
        if m.rollback_edited:
            ctx.message(
                f"warning: rollback file changed since its migration was applied: "
                f"{m.rollback_edited.describe()}; `rollback` refuses it"
            )
    for m in report.migrations:
        if m.error_message:
            ctx.message(f"failed: {m.filename}: {m.error_message}")
    for note in others.notes():
        ctx.message(note.line)
    return 0


def cmd_create(ctx: Context) -> int:
    from malnu_tui.engine.config import BUNDLED_PRIMARY
    from malnu_tui.engine.migrate import create_migration

    t = ctx.target
    dirs = (t.migrations_dir, t.rollback_dir)
    if Path(t.migrations_dir) == BUNDLED_PRIMARY / "migrations":
        # No ./migrations here: the set that ships inside the package is never edited (an
        # installed package would be changed under the operator's feet). Start a project here.
        dirs = (Path.cwd() / "migrations", Path.cwd() / "rollback")
    # (`--migrations-dir X` alone, whose rollback directory was the bundled one: refused by
    # resolve_target, as by every command.)
    from datetime import UTC, datetime

    from malnu_tui.engine.migrate import newest_version

    before = newest_version(*dirs)
    mig, rb = create_migration(dirs, ctx.args.name)
    if dirs[0] != Path(t.migrations_dir):
        # Said once they are made: said before, it stood above a refusal that made nothing.
        ctx.message(
            "no ./migrations here: created ./migrations and ./rollback (the bundled set is "
            "never edited; the tool uses ./migrations from now on in this directory)"
        )
    now = datetime.now(UTC).strftime("%Y%m%d_%H%M%S")
    if before is not None and before > now:  # (the same second: bumped without a word)
        ctx.message(
            f"note: the newest migration's version, {before}, is after now ({now} UTC): this "
            "one is named one second after it, so it sorts last (was that file named by a "
            "local clock? WIB is UTC+7)"
        )
    if ctx.json:
        ctx.out_json({"migration": str(mig), "rollback": str(rb)})
    else:
        ctx.out(str(mig))
        ctx.out(str(rb))
    return 0


@contextlib.contextmanager
def _few_collections() -> Iterator[None]:
    """A run of many small migrations allocates tens of thousands of small objects (files,
    statements, plan steps, status rows), none of them in reference cycles: the cyclic GC
    runs every 20,000 allocations instead of 700 meanwhile (a few percent of the run)."""
    import gc

    before = gc.get_threshold()
    gc.set_threshold(20_000, 20, 20)
    try:
        yield
    finally:
        gc.set_threshold(*before)


def cmd_up(ctx: Context) -> int:
    with _few_collections():
        return _up(ctx)


def _up(ctx: Context) -> int:
    from malnu_tui.engine.apply import ApplyResult, group_seconds
    from malnu_tui.engine.config import not_made_yet
    from malnu_tui.engine.preflight import preflight_apply

    group_seconds()  # a bad MALNU_UP_GROUP_MS: refused before the database is opened
    mset = ctx.migration_set()  # the files first, as status
    # A SQLite file not made yet is planned as a dry run reads it (the new empty database, in
    # memory) and made only once nothing refuses: an `up --to` of a version not there, or
    # a lint error, left an empty file behind.
    new = not ctx.args.dry_run and not_made_yet(ctx.target)
    backend = ctx.peek() if new else ctx.backend()
    unrelated = ctx.args.unrelated_history
    pf = preflight_apply(backend, ctx.target, mset, to=ctx.args.to, unrelated_history=unrelated)
    show_preflight(ctx, pf, dry_run=ctx.args.dry_run)
    plan = pf.plan
    assert plan is not None
    from malnu_tui.cli.safety import gate_up

    record_lint = gate_up(ctx, [s.filename for s in plan.steps])
    if new:
        ctx.close()
        backend = ctx.backend()
    if not ctx.args.dry_run:
        record_lint(backend)
    if ctx.args.dry_run:
        if ctx.json:
            ctx.out_json(plan.as_json(JsonList))  # a large seed's statements as they come
        else:
            show_plan(ctx, plan)
            ctx.out_pieces(plan.sql_pieces())  # a large seed's SQL is never held whole
        ctx.message(f"dry run: {len(plan.steps)} migration(s) would run; nothing was changed")
        return 0
    if not plan.steps:
        ctx.message("nothing to apply: the database is up to date")
        if ctx.json:
            ctx.out_json(ApplyResult("up", ()).as_json())
        return 0
    show_plan(ctx, plan)
    result = run_plan(ctx, "applied", plan)
    with reporting(result.as_json):  # done: a stop before its report is said still says it
        if result.backup_id:
            ctx.message(f"safety backup: {result.backup_id}")
        for f in result.skipped:
            ctx.message(f"skipped {f}: another operator applied it meanwhile")
        report_result(ctx, "applied", result)
    return 0


def cmd_rollback(ctx: Context) -> int:
    from malnu_tui.engine.migrate import ApplyResult, verify_after
    from malnu_tui.engine.preflight import preflight_rollback

    mset, backend = ctx.migration_set(), ctx.backend()  # the files first, as status
    accept = bool(ctx.args.accept_edited_rollback)
    pf = preflight_rollback(backend, ctx.target, mset, steps=ctx.args.steps, to=ctx.args.to,
                            accept_edited_rollback=accept)  # fmt: skip
    show_preflight(ctx, pf, dry_run=ctx.args.dry_run)
    plan = pf.plan
    assert plan is not None
    if not plan.steps:
        from malnu_tui.engine.status import nothing_to_roll_back

        ctx.message(nothing_to_roll_back(pf.report, ctx.args.to))
        if ctx.json:
            ctx.out_json(ApplyResult("down", ()).as_json())
        return 0
    show_plan(ctx, plan)
    if ctx.args.dry_run:
        if ctx.json:
            ctx.out_json(plan.as_json(JsonList))  # a large seed's statements as they come
        else:
            ctx.out_pieces(plan.sql_pieces())  # a large seed's SQL is never held whole
        ctx.message(f"dry run: {len(plan.steps)} rollback file(s) would run; nothing changed")
        return 0
    ctx.message(f"Rollback plan for {ctx.target.name} ({backend.display_url}), newest first:")
    for s in plan.steps:
        ctx.message(f"  {s.version}  {s.filename}  ← {s.file.name}")
    ctx.confirm(f"roll back {len(plan.steps)} migration(s) on {backend.name}", pf.database_name)
    result = run_plan(ctx, "rolled back", plan, accept_edited_rollback=accept)
    # Done: a stop before its report is said (the status re-read on a database gone, Ctrl-C)
    # still says what is rolled back.
    with reporting(result.as_json):
        if result.backup_id:
            undo = ctx.again("backup", "restore", result.backup_id)
            ctx.message(f"safety backup: {result.backup_id}; to undo this rollback: {undo}")
        after = verify_after(backend, mset, plan, ctx.target.name)
        if after.not_done:
            ctx.message(f"warning: still applied after the rollback: {', '.join(after.not_done)}")
        else:
            done = len(result.done)
            ctx.message(f"verified: {done} tracking row(s) gone; {after.report.summary()}")
        report_result(ctx, "rolled back", result)
    return 0


def cmd_verify(ctx: Context) -> int:
    from malnu_tui.engine.config import require_existing
    from malnu_tui.engine.migrate import verify

    # A SQLite path that names no file (a typo in CI's or cron's line) is no database to
    # verify: it was created, with the tool's tables, and said "ok" (exit 0) for ever.
    require_existing(ctx.target)
    result = verify(ctx.viewer(), ctx.migration_set())
    if ctx.json:
        ctx.out_json(result.as_json())
    else:
        for m in result.drifted:
            ctx.out(f"drifted  {m.filename}  recorded {m.recorded_checksum}  file {m.checksum}")
            if m.recorded_filename:
                was = m.recorded_filename
                ctx.message(f"  {m.filename}: renamed since it ran (recorded as {was})")
        for m in result.missing:
            ctx.out(f"missing  {m.filename}  (applied, but the file is gone)")
        for m in result.failed:
            ctx.message(f"failed   {m.filename}: {m.error_message}")
        for m in result.rollback_edited:
            e = m.rollback_edited
            assert e is not None
            ctx.out(
                f"edited   {e.rollback_file}  recorded {e.recorded_checksum}  file "
                f"{e.checksum}  (the rollback of {m.filename}, edited since it was applied)"
            )
    if result.ok:
        ctx.message(f"ok: {result.checked} applied file(s) match their checksums")
        return 0
    ctx.message(result.problems())
    if result.rollback_edited:
        ctx.message(
            "hint: restore the rollback file reviewed with its migration, or accept the "
            "edit with `malnu-tui repair` (audited); `rollback` refuses it until then"
        )
    return 1


def cmd_repair(ctx: Context) -> int:
    from malnu_tui.engine.migrate import repair
    from malnu_tui.engine.preflight import preflight_repair

    mset, backend = ctx.migration_set(), ctx.backend()  # the files first, as status
    pf = preflight_repair(backend, ctx.target, mset, ctx.args.files or None)
    show_preflight(ctx, pf)
    if not pf.rows:
        ctx.message("nothing to repair: no applied file has changed")
        if ctx.json:
            ctx.out_json({"repaired": []})
        return 0
    for m in pf.rows:
        if m.checksum is None:  # a missing row, named: forgotten
            ctx.message(
                f"  {m.filename}: its file is gone: its row is removed (it would run "
                "again if the file came back)"
            )
            continue
        if m.state.value == "applied":  # only its rollback file was edited: a note above
            continue
        ctx.message(f"  {m.filename}: {m.recorded_checksum} → {m.checksum}")
        if m.recorded_filename:
            ctx.message(f"    renamed since it ran: its row {m.recorded_filename} takes this name")
    gone = sum(1 for m in pf.rows if m.checksum is None)
    # Rows whose migration is as it ran: only their rollback file was edited (accepted here).
    edited = sum(1 for m in pf.rows if m.checksum is not None and m.state.value == "applied")
    what = (
        "forget the rows of the missing files above"
        if gone == len(pf.rows)
        else "accept the edited rollback file(s) above"
        if edited == len(pf.rows)
        else (
            "record the current checksums of the files above"
            + (" and forget the missing ones" if gone else "")
        )
    )
    ctx.confirm(what, pf.database_name)
    done = repair(backend, mset, [m.filename for m in pf.rows])
    if ctx.json:
        ctx.out_json({"repaired": list(done)})
    else:
        for f in done:
            ctx.out(f)
    said = []
    if len(done) > edited:
        said.append(f"repaired {len(done) - edited} row(s) (audited, with each row's before-image)")
    if edited:
        said.append(f"accepted {edited} edited rollback file(s) (audited, with both checksums)")
    ctx.message("; ".join(said))
    return 0


def cmd_clear_failed(ctx: Context) -> int:
    from malnu_tui.engine.migrate import clear_failed
    from malnu_tui.engine.preflight import preflight_clear_failed

    backend = ctx.backend()
    pf = preflight_clear_failed(backend, ctx.target, ctx.args.file)
    show_preflight(ctx, pf)
    ctx.confirm(f"delete the failed tracking row of {ctx.args.file}", pf.database_name)
    rec = clear_failed(backend, ctx.args.file)
    if ctx.json:
        ctx.out_json({"cleared": rec.filename, "error_message": rec.error_message})
    ctx.message(f"cleared {rec.filename} (was: {rec.error_message}; before-image in the audit log)")
    return 0


def cmd_unlock(ctx: Context) -> int:
    from malnu_tui.engine.migrate import unlock
    from malnu_tui.engine.preflight import preflight_unlock
    from malnu_tui.engine.status import lock_json

    backend = ctx.backend()
    pf = preflight_unlock(backend, ctx.target)
    if pf.lock is None:
        ctx.message("no lock is held")
        if ctx.json:
            ctx.out_json({"released": False, "lock": None})
        return 0
    ctx.message(f"lock held by {pf.lock.describe()}")
    show_preflight(ctx, pf)
    ctx.confirm("release this lock (only if that session is dead)", pf.database_name)
    released = unlock(backend) or pf.lock
    if ctx.json:
        ctx.out_json({"released": True, "lock": lock_json(released)})
    ctx.message("lock released (audited, with the lock row's before-image)")
    return 0


def cmd_log(ctx: Context) -> int:
    from malnu_tui.engine.clock import json_times
    from malnu_tui.engine.monitor.runlog import ACTIONS_READ, actions_seen, read_changes

    entries = read_changes(ctx.reader(), limit=ctx.args.limit, action=ctx.args.action)
    if ctx.args.action and not entries:
        seen = actions_seen(ctx.reader())
        ctx.message(
            f"note: no audit row has action {ctx.args.action!r}; the newest {ACTIONS_READ:,} "
            f"rows have: {', '.join(seen) or 'none'}"
        )
    if ctx.json:
        ctx.out_json([json_times(e.__dict__, "at") for e in entries])
        return 0
    from malnu_tui.cli.output import print_table

    print_table(
        ctx.stdout,
        ["at (UTC)", "actor", "action", "object", "outcome", "detail"],
        [(e.at, e.actor, e.action, e.object, e.outcome, e.detail) for e in entries],
    )
    return 0
