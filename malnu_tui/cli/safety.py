"""Migration safety before production: ``lint``, ``test`` (the stairway) and ``rehearse``."""

from __future__ import annotations

import argparse
import contextlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from malnu_tui.cli.context import Context
    from malnu_tui.engine.backends.base import Backend
    from malnu_tui.engine.lint import LintReport


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    p = sub.add_parser(
        "lint",
        parents=[common],
        help="review migrations for downtime, compatibility and rollback problems; 1 on errors",
    )
    p.add_argument("migrations", nargs="*", metavar="MIGRATION", help="version or filename")
    p.add_argument("--all", action="store_true", help="every migration, not only pending")
    p.set_defaults(handler=cmd_lint)


def lint_report(ctx: Context, filenames: list[str] | None, *, live: bool) -> LintReport:
    """The lint of ``filenames`` (None: all) for the context's target. With ``live`` the
    target's database is asked (D1's live checks; pending migrations replayed on its
    schema); an unreachable database is noted in the report, not an error."""
    from malnu_tui.engine.errors import MalnuError
    from malnu_tui.engine.lint.target import lint_target

    backend: Backend | None = None
    if live or ctx.target.kind == "d1":
        with contextlib.suppress(MalnuError):
            backend = ctx.backend()
    return lint_target(ctx.target, ctx.migration_set(), filenames, backend, from_live_schema=live)


def show_findings(ctx: Context, report: LintReport, *, prefix: str = "lint: ") -> None:
    """Findings as messages (stderr), for commands whose stdout is other data."""
    for f in report.findings:
        ctx.message(prefix + f.describe())
    for n in report.notes:
        ctx.message(f"{prefix}note: {n}")


def selected_for_lint(ctx: Context) -> tuple[list[str] | None, bool]:
    """(filenames to lint or None for all, whether they are the pending ones of the live
    database): named migrations, ``--all``, or by default the pending ones."""
    mset = ctx.migration_set()
    names: list[str] = list(ctx.opt("migrations") or [])
    if names:
        return [mset.find(n).filename for n in names], False
    if ctx.opt("all", False):
        return None, False
    from malnu_tui.engine.migrate import MigrationState, status

    states = status(ctx.backend(), mset, ctx.target.name)
    waiting = (MigrationState.PENDING, MigrationState.FAILED)
    return [m.filename for m in states.migrations if m.state in waiting], True


def gate_up(ctx: Context, backend: Backend, filenames: list[str], *, dry_run: bool) -> None:
    """``up``: show the lint of the migrations about to run; a target with ``lint =
    "enforce"`` refuses while an error remains unless ``--accept-lint`` (audited)."""
    from malnu_tui.engine.lint.target import lint_gate

    if not filenames:
        return
    report = lint_report(ctx, filenames, live=True)
    show_findings(ctx, report)
    entry = lint_gate(ctx.target, report, accept=bool(ctx.opt("accept_lint", False)))
    if entry is not None and not dry_run:
        backend.append_audit(entry)
        n = len(report.errors)
        ctx.message(f"warning: --accept-lint: {n} lint error(s) accepted (audited)")


def cmd_lint(ctx: Context) -> int:
    only, live = selected_for_lint(ctx)
    report = lint_report(ctx, only, live=live)
    if ctx.json:
        ctx.out_json(report.as_json())
    else:
        for f in report.findings:
            ctx.out(f.describe() if f.ignored else f"{f.file}:{f.line}: {f.severity} [{f.rule}] "
                    f"{f.why}\n    instead: {f.instead}")  # fmt: skip
        for n in report.notes:
            ctx.message(f"note: {n}")
    ctx.message(report.summary())
    return 0 if report.ok else 1
