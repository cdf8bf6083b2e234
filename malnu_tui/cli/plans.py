"""What a destructive command says around its engine call: the preflight's problems (a
blocking one stops it before anything is asked), the safety backup or its audited skip, and
for a migration plan (``up``, ``rollback``) its notes, progress lines and what ran."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from malnu_tui.cli.context import Context
    from malnu_tui.engine.backends.base import Backend
    from malnu_tui.engine.config import Target
    from malnu_tui.engine.migrate import ApplyResult, Plan, Progress
    from malnu_tui.engine.plan import Preflight

__all__ = [
    "lock_preflight",
    "report_result",
    "run_plan",
    "safety_backup",
    "say_warnings",
    "show_plan",
    "show_preflight",
]


@contextlib.contextmanager
def _progress(ctx: Context) -> Iterator[Callable[[Progress], None]]:
    """Progress lines of a run on stderr, written in batches (cli/paced.py); all of them are
    out when the block ends, before anything else is said. In debug mode each line is written at
    once, so it falls between the statement lines of its migration, in the order things ran."""
    from malnu_tui.cli.paced import PacedLines
    from malnu_tui.engine.monitor import debuglog

    with PacedLines(ctx.stderr, interval=0.0 if debuglog.enabled() else 0.1) as out:

        def show(p: Progress) -> None:
            if p.event == "start":
                out.line(f"[{p.index}/{p.total}] {p.filename} …")
            elif p.event == "done":
                out.line(f"[{p.index}/{p.total}] {p.filename} ok ({p.elapsed_ms} ms)")
            elif p.event == "failed":
                out.line(f"[{p.index}/{p.total}] {p.filename} FAILED: {p.message}")
                out.flush()
            elif p.message:
                out.line(p.message)
                out.flush()

        yield show


def show_preflight(ctx: Context, pf: Preflight, *, dry_run: bool = False) -> None:
    """Print every problem of a preflight and stop on a blocking one, before anything is
    asked (a live lock is exit 3). A dry run changes nothing: a held lock does not stop it."""
    from malnu_tui.engine.problems import LiveLock

    blocking = [p for p in pf.blocking if not (dry_run and isinstance(p, LiveLock))]
    live = [p for p in blocking if isinstance(p, LiveLock)]
    stop = (live or blocking or [None])[0]  # the one said as the `error:` line
    for p in pf.problems:
        if p is not stop:  # not twice: `problem: X` then `error: X`
            ctx.message(f"{'problem' if p.blocking else 'note'}: {p.describe()}")
    if stop is not None:
        raise stop.error()


def lock_preflight(ctx: Context, backend: Backend, target: Target, operation: str) -> Preflight:
    """The lock precondition before the prompt, for work whose plan is made elsewhere
    (restore, recover, import, sync): a live holder is exit 3 before anything is asked; a
    dead holder's lock is announced (taken over, audited, when the work starts)."""
    from malnu_tui.engine.problems import preflight_lock

    pf = preflight_lock(backend, target, operation)
    show_preflight(ctx, pf)
    return pf


def say_warnings(ctx: Context, warnings: Iterable[str], where: str = "") -> None:
    """A plan's warnings (``where``: the table's ``nilai: ``), said before its question: what
    the run will warn of that the plan knows already (a Supabase copy open to the anon key,
    rows a trigger drops) is not learnt only after the writes."""
    for w in warnings:
        ctx.message(f"warning: {where}{w}")


def show_plan(ctx: Context, plan: Plan) -> None:
    say_warnings(ctx, plan.warnings)
    for s in plan.steps:
        for n in s.notes:
            ctx.message(f"note: {n}")


def safety_backup(
    ctx: Context, backend: Backend, operation: str
) -> Callable[[str], str | None] | None:
    """The safety backup before ``operation`` (up, rollback, import), unless --no-backup
    (which is audited)."""
    from malnu_tui.engine import safety

    if ctx.opt("no_backup", False):
        safety.record_skipped_backup(backend, operation)
        ctx.message("warning: --no-backup: no safety backup is taken (recorded in the audit log)")
        return None
    return safety.backup_taker(backend, ctx.target, safety.warnings_to(ctx.message))


def run_plan(
    ctx: Context, verb: str, plan: Plan, *, accept_edited_rollback: bool = False
) -> ApplyResult:
    """Run ``plan`` (the safety backup first, unless --no-backup). When a file fails, what
    is durable is still reported before the error (exit 1): the safety backup's id, and with
    --json the report with ``failed`` (filename, line, error) on stdout (the error's report,
    which the engine attaches and :func:`malnu_tui.cli.main` writes)."""
    from malnu_tui.engine.errors import reporting
    from malnu_tui.engine.migrate import MigrationFailed, apply_plan

    backup = safety_backup(ctx, ctx.backend(), ctx.args.command)
    result: ApplyResult | None = None
    try:
        with (
            reporting(lambda: result.as_json() if result is not None else None),
            _progress(ctx) as show,  # (its last lines: an interrupt then, all of it done)
        ):
            result = apply_plan(
                ctx.backend(),
                ctx.migration_set(),
                plan,
                progress=show,
                safety_backup=backup,
                accept_edited_rollback=accept_edited_rollback,
            )
    except MigrationFailed as exc:
        if exc.backup_id:
            ctx.message(f"safety backup: {exc.backup_id}")
        raise
    assert result is not None
    return result


def report_result(ctx: Context, verb: str, result: ApplyResult) -> None:
    if ctx.json:
        ctx.out_json(result.as_json())
    ctx.message(f"{verb} {len(result.done)} migration(s)")
    for w in result.warnings:
        ctx.message(f"warning: the migrations are {verb}, but: {w}")
