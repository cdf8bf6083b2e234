"""Migration safety before production: ``lint``, ``test`` (the stairway) and ``rehearse``."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from malnu_tui.cli.context import Context
    from malnu_tui.engine.backends.base import Backend
    from malnu_tui.engine.config import Target
    from malnu_tui.engine.files import MigrationSet
    from malnu_tui.engine.lint import LintReport
    from malnu_tui.engine.lint.dialect import DialectChoice


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
    _dialect_option(p)
    p.set_defaults(handler=cmd_lint)

    p = sub.add_parser(
        "test",
        parents=[common],
        help="stairway test on a scratch copy: apply, roll back, compare, re-apply; 1 on failure",
    )
    p.add_argument(
        "--postgres",
        metavar="URL|TARGET",
        help="run it in a scratch schema on this PostgreSQL server (default: the target's own "
        "server for a PostgreSQL target, else a temp SQLite file)",
    )
    p.add_argument("--seed", metavar="FILE.sql", help="data to load first (data migrations)")
    _dialect_option(p)
    p.set_defaults(handler=cmd_test)

    p = sub.add_parser(
        "rehearse",
        parents=[common],
        help="apply pending migrations to a scratch restore of the newest verified backup",
    )
    p.add_argument("--backup", metavar="ID", help="this backup instead of the newest verified")
    p.set_defaults(handler=cmd_rehearse)


def _dialect_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--dialect",
        choices=("sqlite", "postgresql", "postgres"),
        type=str.lower,
        help="the dialect the files are written in (default: the target's; with no target "
        "configured, guessed from the files, and said)",
    )


def lint_report(
    ctx: Context,
    filenames: list[str] | None,
    *,
    live: bool,
    choice: DialectChoice | None = None,
) -> LintReport:
    """The lint of ``filenames`` (None: all) for the context's target. With ``live`` the
    target's database is asked (D1's live checks; pending migrations replayed on its
    schema); an unreachable database is noted in the report, not an error. ``choice``: the
    dialect to judge by when it is not the target's (``lint --dialect``, or a guess)."""
    from malnu_tui.engine.errors import MalnuError
    from malnu_tui.engine.lint.target import lint_target

    target, mset = judged_as(ctx, choice)
    backend: Backend | None = None
    if live or target.kind == "d1":
        with contextlib.suppress(MalnuError):
            backend = ctx.peek()
    return lint_target(target, mset, filenames, backend, from_live_schema=live)


def judged_as(ctx: Context, choice: DialectChoice | None) -> tuple[Target, MigrationSet]:
    """The context's target and set, read in ``choice``'s dialect (engine/lint/dialect.py)."""
    from malnu_tui.engine.lint import dialect

    return dialect.judged_as(ctx.target, ctx.migration_set(), choice)


def files_dialect(ctx: Context) -> DialectChoice:
    """``lint``'s and ``test``'s dialect, as the console's SQL view has it too."""
    from malnu_tui.engine.lint.dialect import lint_dialect

    return lint_dialect(ctx.settings, ctx.target, ctx.migration_set, flag=ctx.opt("dialect"))


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

    states = status(ctx.peek(), mset, ctx.target.name)
    waiting = (MigrationState.PENDING, MigrationState.FAILED)
    return [m.filename for m in states.migrations if m.state in waiting], True


def gate_up(ctx: Context, filenames: list[str]) -> Callable[[Backend], None]:
    """``up``: show the lint of the migrations about to run; a target with ``lint =
    "enforce"`` refuses while an error remains unless ``--accept-lint``. Returns what records
    that acceptance (audited) in the database ``up`` then writes (not a dry run's)."""
    from malnu_tui.engine.lint.target import lint_gate

    if not filenames:
        return lambda backend: None
    report = lint_report(ctx, filenames, live=True)
    show_findings(ctx, report)
    entry = lint_gate(ctx.target, report, accept=bool(ctx.opt("accept_lint", False)))

    def record(backend: Backend) -> None:
        if entry is not None:
            backend.append_audit(entry)
            n = len(report.errors)
            ctx.message(f"warning: --accept-lint: {n} lint error(s) accepted (audited)")

    return record


def cmd_lint(ctx: Context) -> int:
    choice = files_dialect(ctx)
    only, live = selected_for_lint(ctx)
    report = lint_report(ctx, only, live=live, choice=choice)
    ctx.message(f"lint: {choice.line()}")
    if ctx.json:
        data = report.as_json()
        ctx.out_json({"ok": data.pop("ok"), "dialect": data.pop("dialect"),
                      "dialect_from": choice.source, **data})  # fmt: skip
    else:
        for f in report.findings:
            ctx.out(f.describe() if f.ignored else f"{f.file}:{f.line}: {f.severity} [{f.rule}] "
                    f"{f.why}\n    instead: {f.instead}")  # fmt: skip
        for n in report.notes:
            ctx.message(f"note: {n}")
    ctx.message(report.summary())
    return 0 if report.ok else 1


def _postgres_for_test(ctx: Context) -> str | None:
    """The stairway's PostgreSQL server: ``--postgres`` (a URL or a target's name), else the
    target when it is PostgreSQL. Unlike ``plan --check`` it does not read
    ``$MALNU_PARITY_DATABASE``: without ``--postgres`` a SQLite target's stairway runs on SQLite,
    where its migrations will run."""
    from malnu_tui.engine.urls import check_server

    return check_server(ctx.target, ctx.settings.targets, ctx.opt("postgres"), environ={})


def _is_a_targets_database(ctx: Context, url: str) -> bool:
    """Whether the stairway's server ``url`` is a configured target's database (the target's
    own by default: live data), not a scratch server of its own."""
    from malnu_tui.engine.urls import database_key

    targets = [ctx.target, *ctx.settings.targets.values()]
    return database_key(url) in {database_key(t.url) for t in targets}


def cmd_test(ctx: Context) -> int:
    """Exit 1 when any migration fails its stair."""
    from malnu_tui.engine.lint.target import dialect_of
    from malnu_tui.engine.scratch import Scratch, SQLiteScratch
    from malnu_tui.engine.scratch_pg import PostgresScratch
    from malnu_tui.engine.stairway import StairStep, read_seed, run_stairway, units_for

    choice = files_dialect(ctx)
    target, mset = judged_as(ctx, choice)
    url = _postgres_for_test(ctx)
    if url is None and choice.dialect == "postgresql":
        from malnu_tui.engine.errors import ConfigError

        raise ConfigError(
            f"the stairway of these files, {choice.line()}, needs a PostgreSQL server, not a "
            "temp SQLite file; nothing was run",
            hint="name a scratch server: --postgres postgresql://…",
        )
    seed_dialect = "sqlite" if url is None else "postgresql"  # run as written on the scratch
    seed = read_seed(ctx.opt("seed"), seed_dialect) if ctx.opt("seed") else None
    scratch: Scratch
    if url is not None:
        units = units_for(mset, translate=dialect_of(target) == "sqlite")
        scratch = PostgresScratch(url, rolled_back=_is_a_targets_database(ctx, url))
    else:
        units = units_for(mset, translate=False)
        scratch = SQLiteScratch(d1=ctx.target.kind == "d1")

    def show(step: StairStep) -> None:
        ctx.message(f"  {step.filename}: {step.stage} ({step.ms} ms)")

    try:
        ctx.message(f"stairway: {len(units)} migration(s) on {scratch.where}, {choice.line()}")
        report = run_stairway(scratch, units, seed=seed, progress=show)
    finally:
        scratch.close()
    if ctx.json:
        ctx.out_json(report.as_json())
    else:
        for s in report.steps:
            ctx.out(s.describe())
    for n in report.notes:
        ctx.message(f"note: {n}")
    ctx.message(report.summary())
    return 0 if report.ok else 1


def cmd_rehearse(ctx: Context) -> int:
    """Exit 1 when a pending migration fails on the production data's copy."""
    from malnu_tui.engine.backup.store import BackupProgress
    from malnu_tui.engine.rehearse import rehearse

    def show(p: BackupProgress) -> None:
        if p.message and p.phase in ("verify", "restore", "migrate"):
            ctx.message(p.message)

    from malnu_tui.engine.monitor.config import load_monitor_config

    slow = load_monitor_config(ctx.settings).slow_migration_seconds
    report = rehearse(ctx.target, ctx.migration_set(), backup_id=ctx.opt("backup"),
                      progress=show, slow_seconds=slow)  # fmt: skip
    if ctx.json:
        ctx.out_json(report.as_json())
    else:
        ctx.out(
            f"backup {report.backup_id} of {report.target}, taken {report.backup_created_at} "
            f"(data {report.age_text} old), restored in {report.restore_seconds:.2f} s"
        )
        for m in report.migrations:
            ctx.out(m.describe())
            for f in m.findings:
                ctx.out(f"    lint: {f.describe()}")
    for n in report.notes:
        ctx.message(f"note: {n}")
    ctx.message(report.summary())
    return 0 if report.ok else 1
