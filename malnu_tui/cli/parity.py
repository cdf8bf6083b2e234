"""PostgreSQL translation commands: ``plan`` and ``diff`` (each migration's SQLite source and its
PostgreSQL translation, findings marked) and ``parity`` (the translation applied to a scratch
PostgreSQL schema and compared with the SQLite schema; optionally a live schema too)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING

from malnu_tui.engine.errors import ConfigError
from malnu_tui.engine.urls import ENV_PARITY_DATABASE

if TYPE_CHECKING:
    from malnu_tui.cli.context import Context
    from malnu_tui.engine.files import Migration
    from malnu_tui.engine.lint import LintReport
    from malnu_tui.engine.parity import ParityReport
    from malnu_tui.engine.plan_diff import LinePair, MigrationTranslation
    from malnu_tui.engine.translate import Finding


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    for name, help_text, handler in (
        ("plan", "pending SQL beside its PostgreSQL translation", cmd_plan),
        (
            "diff",
            "unified diff from each pending migration to its PostgreSQL translation",
            cmd_diff,
        ),
    ):
        p = sub.add_parser(name, parents=[common], help=help_text)
        p.add_argument("migrations", nargs="*", metavar="MIGRATION", help="version or filename")
        p.add_argument("--all", action="store_true", help="every migration, not only pending")
        p.add_argument(
            "--check",
            action="store_true",
            help="run every translated statement, in order, on a scratch schema of a PostgreSQL "
            "server (rolled back): a statement is ok only when PostgreSQL took it; exit 1 when "
            "it rejects any",
        )
        p.add_argument(
            "--postgres",
            metavar="URL|TARGET",
            help=f"the PostgreSQL server for --check (default: ${ENV_PARITY_DATABASE}, else "
            "the target when it is PostgreSQL)",
        )
        p.set_defaults(handler=handler)

    p = sub.add_parser(
        "parity",
        parents=[common],
        help="apply the PostgreSQL translation to a scratch schema and compare with SQLite's",
    )
    p.add_argument(
        "--postgres",
        metavar="URL|TARGET",
        help=f"PostgreSQL server for the scratch schema (default: ${ENV_PARITY_DATABASE}, "
        "else the target when it is PostgreSQL)",
    )
    p.add_argument(
        "--live", action="store_true", help="also compare that server's live tables (read only)"
    )
    p.add_argument(
        "--schema",
        help="the live schema (with --live; default: that server's target's schema, else public)",
    )
    p.set_defaults(handler=cmd_parity)


# -- plan / diff ---------------------------------------------------------------------------------
def _selected(ctx: Context) -> tuple[list[Migration], list[str] | None]:
    mset = ctx.migration_set()
    names: list[str] = list(ctx.opt("migrations") or [])
    if names:
        return list(mset.migrations), [mset.find(n).filename for n in names]
    if ctx.opt("all", False):
        return list(mset.migrations), None
    from malnu_tui.engine.migrate import MigrationState, status

    report = status(ctx.peek(), mset, ctx.target.name)
    waiting = (MigrationState.PENDING, MigrationState.FAILED)
    return list(mset.migrations), [m.filename for m in report.migrations if m.state in waiting]


def _dialect(ctx: Context, *, explicit_only: bool = False) -> str:
    """The dialect a target's migration files are written in: its ``dialect`` option, else
    PostgreSQL's for a PostgreSQL target and SQLite's otherwise."""
    if explicit_only and ctx.target.options.get("dialect") is None:
        return ""
    return ctx.target.files_dialect  # the one rule


def _plan(ctx: Context) -> list[MigrationTranslation]:
    from malnu_tui.engine.plan_diff import as_written, translate_plan

    migrations, only = _selected(ctx)
    url = _postgres_url(ctx) if ctx.opt("check", False) else None
    if _dialect(ctx) == "postgresql":
        ctx.message(f"target {ctx.target.name}: migrations are written for PostgreSQL (as is)")
        return as_written(migrations, only, postgres_url=url)
    return translate_plan(migrations, only, postgres_url=url)


def _state(m: MigrationTranslation) -> str:
    if not m.checked:
        if not m.ok:
            return "has untranslatable statements"
        return "translated, not checked on PostgreSQL: use --check"
    if m.rejected:
        return f"{m.rejected} rejected by PostgreSQL"
    if not m.ok:
        return "has untranslatable statements"
    unchecked = sum(1 for p in m.statements if p.status == "unchecked")
    if unchecked:  # e.g. a use of an enum value an earlier migration adds: see its note
        return f"ran on PostgreSQL; {unchecked} statement(s) could not be checked"
    return "ok: ran on PostgreSQL"


def _exit(ctx: Context, plan: list[MigrationTranslation]) -> int:
    """0, or 1 when --check found statements PostgreSQL rejects."""
    rejected = sum(m.rejected for m in plan)
    if ctx.opt("check", False):
        ran = sum(1 for m in plan for p in m.statements if p.status in ("ok", "rejected"))
        ctx.message(f"checked on PostgreSQL: {ran} statements ran, {rejected} rejected")
    return 1 if rejected else 0


def lint_findings(ctx: Context, filenames: list[str]) -> LintReport:
    """The lint of ``filenames`` about to run (D1's rule set included for a D1 target),
    against the live database's schema."""
    from malnu_tui.cli.safety import lint_report

    return lint_report(ctx, filenames, live=True)


_RUN_ERRORS = ("PostgreSQL rejected", "depends on a rejected statement")


def _marker(f: Finding) -> str:
    if f.severity == "error":
        return "✘ REJECTED" if f.construct in _RUN_ERRORS else "✘ NOT TRANSLATED"
    return "⚠ warning" if f.severity == "warning" else "• note"


def cmd_plan(ctx: Context) -> int:
    """Each selected migration: statement by statement, SQLite beside PostgreSQL."""
    plan = _plan(ctx)
    lint = lint_findings(ctx, [m.filename for m in plan])
    if ctx.json:
        data: dict[str, object] = {"migrations": [m.as_json() for m in plan]}
        data["lint"] = lint.as_json()
        if ctx.target.kind == "d1":
            data["d1_findings"] = [f.as_json() for f in lint.findings if f.rule.startswith("D1-")]
        data["checked"] = bool(ctx.opt("check", False))
        ctx.out_json(data)
        return _exit(ctx, plan)
    from malnu_tui.cli.safety import show_findings

    show_findings(ctx, lint)
    if not plan:
        ctx.message("nothing pending (use --all to see every migration)")
        return _exit(ctx, plan)
    from malnu_tui.cli.output import print_table

    # A PostgreSQL-dialect set runs as written: its file is not SQLite.
    source = "file" if _dialect(ctx) == "postgresql" else "SQLite"
    for m in plan:
        shown, rest = _shown(m.statements)
        rows = [
            (
                p.line,
                p.sqlite,
                p.postgres or f"({p.status})",
                p.status,
                "\n".join(f"{_marker(f)}: {f.construct}: {f.why}" for f in p.findings),
            )
            for p in shown
        ]
        print_table(
            ctx.stdout, ["line", source, "PostgreSQL", "status", "findings"], rows,
            title=f"{m.filename} ({_state(m)})",
        )  # fmt: skip
        if rest:
            ctx.out(ctx.named(_more_line(rest, m.filename)))  # `malnu-tui diff` as copied
        ctx.out()
    _summarise_findings(ctx, [f for m in plan for f in m.findings])
    return _exit(ctx, plan)


# A file's table lists this many statements; of the rest only those with an error or a warning.
PLAN_ROWS = 200


def _shown(pairs: Sequence[LinePair]) -> tuple[list[LinePair], list[LinePair]]:
    """The statements the table lists and those its summary line counts (a seed of 35,000
    INSERTs drew a table of every one: 12 s and 204 MB for 2 MB)."""
    if len(pairs) <= PLAN_ROWS:
        return list(pairs), []
    shown: list[LinePair] = []
    rest: list[LinePair] = []
    for i, p in enumerate(pairs):
        loud = any(f.severity in ("error", "warning") for f in p.findings)
        (shown if i < PLAN_ROWS or loud else rest).append(p)
    return shown, rest


def _more_line(rest: list[LinePair], filename: str) -> str:
    """``… and 35,000 more statements (35,000 INSERT; 35,000 unchecked), …``"""
    from collections import Counter

    kinds = Counter((p.sqlite.split(None, 1) or ["(none)"])[0].upper() for p in rest)
    states = Counter(p.status for p in rest)
    notes = sum(len(p.findings) for p in rest)
    what = ", ".join(f"{n:,} {k}" for k, n in kinds.most_common())
    how = ", ".join(f"{n:,} {k}" for k, n in states.most_common())
    return (
        f"… and {len(rest):,} more statement{'' if len(rest) == 1 else 's'} ({what}; {how}"
        + (f"; {notes:,} notes" if notes else "; no findings")
        + f"), not listed: `malnu-tui diff {filename}` or `plan --json` shows each"
    )


def cmd_diff(ctx: Context) -> int:
    """Each selected migration as a unified diff from SQLite to PostgreSQL."""
    plan = _plan(ctx)
    if ctx.json:
        ctx.out_json(
            {
                "checked": bool(ctx.opt("check", False)),
                "migrations": [
                    {"filename": m.filename, "ok": m.ok, "checked": m.checked, "diff": m.diff}
                    for m in plan
                ],
            }
        )
        return _exit(ctx, plan)
    for m in plan:
        ctx.stdout.write(m.diff)
        for f in m.findings:
            ctx.out(f"# {f.file}:{f.line}: {_marker(f)}: {f.construct}: {f.why}")
    if not plan:
        ctx.message("nothing pending (use --all to see every migration)")
    _summarise_findings(ctx, [f for m in plan for f in m.findings])
    return _exit(ctx, plan)


def _summarise_findings(ctx: Context, findings: list[Finding]) -> None:
    errors = [f for f in findings if f.severity == "error" and f.construct not in _RUN_ERRORS]
    warnings = sum(1 for f in findings if f.severity == "warning")
    notes = sum(1 for f in findings if f.severity == "note")
    ctx.message(
        f"{len(errors)} untranslatable statements, "
        + (f"{warnings} warnings, " if warnings else "")
        + f"{notes} notes"
        + (" — these are withheld, never run on PostgreSQL" if errors else "")
    )


# -- parity --------------------------------------------------------------------------------------
def _postgres_url(ctx: Context) -> str:
    from malnu_tui.engine.urls import check_server

    url = check_server(ctx.target, ctx.settings.targets, ctx.opt("postgres"))
    if url is not None:
        return url
    raise ConfigError(
        "parity needs a PostgreSQL server for its scratch schema",
        hint=f"pass --postgres postgresql://user@host/db (or a target name), or set "
        f"${ENV_PARITY_DATABASE}",
    )


def cmd_parity(ctx: Context) -> int:
    """Exit 1 when any difference or untranslatable statement is found."""
    from malnu_tui.engine.parity import check_parity, compare_live

    # A configured target by the one rule (a PostgreSQL one without `dialect` too: the
    # README's Supabase target, whose every statement was "SQLite rejected …: it fails on the
    # primary too"); a URL given with --database only by an explicit `dialect`, since no
    # config can say a mirror's files are SQLite's there.
    by_url = ctx.opt("database") is not None or ctx.target.name not in ctx.settings.targets
    if _dialect(ctx, explicit_only=by_url) == "postgresql":
        raise ConfigError(
            f"target {ctx.target.name}: its migrations are written for PostgreSQL already",
            hint="parity compares a SQLite-dialect set (the primary's) with its translation: "
            'use --target primary --postgres URL (a mirror of its tables says dialect = "sqlite")',
        )
    url = _postgres_url(ctx)
    migrations = list(ctx.migration_set().migrations)
    reports = [check_parity(migrations, url)]
    schema = "public"
    if ctx.opt("live", False):
        from malnu_tui.engine.urls import live_schema

        schema = ctx.opt("schema") or live_schema(
            ctx.target, ctx.settings.targets, ctx.opt("postgres")
        )
        reports.append(compare_live(migrations, url, schema=schema))
    ok = all(r.ok for r in reports)
    if ctx.json:
        ctx.out_json({"ok": ok, "reports": [r.as_json() for r in reports]})
    else:
        for r in reports:
            _print_report(ctx, r, schema)
    for r in reports:
        ctx.message(r.summary())
        if r.mode == "live" and r.expected.tables and not r.actual.tables:
            # Every table "no such table" is a wrong schema far more often than a lost mirror
            # (`--postgres analytics --live`, the analytics set's `public`, not the mirror's).
            ctx.message(
                f"hint: none of the {len(r.expected.tables)} tables is in schema {schema} "
                "there: name the mirror's schema (--schema NAME), or its target (--postgres "
                'TARGET, the one with dialect = "sqlite"), whose schema is then taken'
            )
    return 0 if ok else 1


def _print_report(ctx: Context, report: ParityReport, schema: str) -> None:
    from malnu_tui.cli.output import print_table

    label = "scratch schema" if report.mode == "scratch" else f"live schema {schema}"
    if report.differences:
        print_table(
            ctx.stdout,
            ["table", "aspect", "item", "expected (from SQLite)", "PostgreSQL"],
            [(d.table, d.aspect, d.item, d.expected, d.actual) for d in report.differences],
            title=f"differences ({label})",
        )
    else:
        ctx.out(f"no differences ({label}, {len(report.expected.tables)} tables)")
    if report.findings:
        print_table(
            ctx.stdout,
            ["where", "", "construct", "why", "suggestion"],
            [
                (f"{f.file}:{f.line}", _marker(f), f.construct, f.why, f.suggestion)
                for f in report.findings
            ],
            title="translation findings",
        )
