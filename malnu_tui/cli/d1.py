"""D1 and wrangler commands: ``adopt`` (wrangler's history, or on PostgreSQL the Supabase CLI's,
into our tracking table), and under
``d1``: ``lint``, ``bookmark``, ``time-travel``, ``export``, ``import``, ``wrangler-status``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from malnu_tui.cli.context import Context
    from malnu_tui.engine.backends.d1.backend import D1Backend
    from malnu_tui.engine.backends.d1.wrangler import AdoptPlan, WranglerMigration
    from malnu_tui.engine.backup.store import BackupProgress


def _wrangler_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--wrangler-state",
        metavar="PATH",
        help="wrangler's local state: a project dir, .wrangler/state/v3/d1, or the .sqlite "
        "file (default: read d1_migrations from the target database itself)",
    )
    p.add_argument(
        "--table",
        help="wrangler's migrations_table (default: from wrangler's config, wrangler.json, "
        ".jsonc or .toml, as wrangler finds it; else d1_migrations)",
    )


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    from malnu_tui.cli.argtypes import times_read

    p = sub.add_parser(
        "adopt",
        parents=[common],
        help="record migrations another runner applied, without running them: wrangler, the "
        "Supabase CLI, Prisma, Drizzle, dbmate, Rails, golang-migrate, Flyway, Alembic",
    )
    _wrangler_options(p)
    p.add_argument(
        "--through",
        metavar="VERSION",
        help="record every file up to VERSION as applied by the other runner whose history is "
        "in the database (Drizzle, golang-migrate, Flyway, Alembic: their rows name no file)",
    )
    p.add_argument("--dry-run", action="store_true", help="show what would be recorded")
    p.set_defaults(handler=cmd_adopt)

    d1 = sub.add_parser(  # (parents: the global options after `d1` too, as after `backup`)
        "d1", parents=[common], help="Cloudflare D1 specifics: lint, Time Travel, export, import"
    )
    d1sub = d1.add_subparsers(dest="d1_command", metavar="D1_COMMAND", required=True)

    p = d1sub.add_parser("lint", parents=[common], help="what D1 rejects in pending migrations")
    p.add_argument("--all", action="store_true", help="every migration, not only pending ones")
    p.set_defaults(handler=cmd_lint)

    p = d1sub.add_parser("bookmark", parents=[common], help="the Time Travel bookmark of a time")
    p.add_argument("--at", metavar="TIME", help="ISO 8601 or -2h/-30m (default: now)")
    p.set_defaults(handler=cmd_bookmark, line_check=times_read("at"))

    p = d1sub.add_parser(
        "time-travel", parents=[common], help="restore the database in place to a time/bookmark"
    )
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--to", metavar="TIME", help="ISO 8601 or -2h/-30m")
    g.add_argument("--bookmark", metavar="BOOKMARK", help="a bookmark (e.g. to undo a restore)")
    p.add_argument("--dry-run", action="store_true", help="resolve and show, change nothing")
    p.set_defaults(handler=cmd_time_travel, line_check=times_read("to"))

    p = d1sub.add_parser("export", parents=[common], help="export the database to a SQL dump")
    p.add_argument("file", help="where to write the dump (mode 0600)")
    p.set_defaults(handler=cmd_export)

    p = d1sub.add_parser("import", parents=[common], help="replace the database with a dump")
    p.add_argument("file", help="a SQL dump (e.g. from `d1 export`)")
    p.set_defaults(handler=cmd_import)

    p = d1sub.add_parser(
        "wrangler-status", parents=[common], help="wrangler's applied migrations beside ours"
    )
    _wrangler_options(p)
    p.set_defaults(handler=cmd_wrangler_status)

    p = d1sub.add_parser(
        "adopt", parents=[common], help="record migrations wrangler applied (same as `adopt`)"
    )
    _wrangler_options(p)
    p.add_argument("--dry-run", action="store_true", help="show what would be recorded")
    p.set_defaults(handler=cmd_adopt)


def _d1(ctx: Context, *, look: bool = False) -> D1Backend:
    """The target's D1 database; ``look`` (`d1 bookmark`, `d1 export`): opened as a dry run
    opens it, nothing created (they sent a database the tool never used CREATE TABLE)."""
    from malnu_tui.engine.backends.d1.backend import D1Backend
    from malnu_tui.engine.errors import ConfigError

    backend = ctx.peek() if look else ctx.backend()
    if not isinstance(backend, D1Backend):
        raise ConfigError(
            f"{backend.display_url} is not a D1 database",
            hint="use --database d1://ACCOUNT_ID/DATABASE_ID or a d1 target",
        )
    return backend


def _progress(ctx: Context) -> Callable[[BackupProgress], None]:
    def show(p: BackupProgress) -> None:
        if p.message:
            ctx.message(p.message)

    return show


def _wrangler_applied(ctx: Context) -> tuple[list[WranglerMigration], str]:
    from malnu_tui.engine.backends.d1.wrangler import (
        DEFAULT_TABLE,
        find_local_state,
        read_from_backend,
        read_local_state,
        table_for,
        table_from_config,
    )

    state = ctx.opt("wrangler_state")
    if state:
        table = ctx.opt("table") or table_from_config(Path(state)) or table_from_config(Path.cwd())
        path = find_local_state(Path(state), table or DEFAULT_TABLE)
        return read_local_state(path, table or DEFAULT_TABLE), f"wrangler local state {path}"
    backend = ctx.backend()
    table = ctx.opt("table") or table_for(backend, ctx.target.migrations_dir)
    return read_from_backend(backend, table), f"{table} in {backend.display_url}"


def _wrangler_table_here(ctx: Context) -> str | None:
    """wrangler's history table in the target's own database (D1, a SQLite file such as
    wrangler's local state), as `up` keeps it in step; None where there is none."""
    from malnu_tui.engine.backends.d1.wrangler import in_database, table_for

    backend = ctx.backend()
    if backend.kind not in ("d1", "sqlite"):
        return None
    table = ctx.opt("table") or table_for(backend, ctx.target.migrations_dir)
    return table if in_database(backend, table) else None


def cmd_adopt(ctx: Context) -> int:
    from malnu_tui.engine.backends.d1.wrangler import adopt, plan_adopt

    backend, mset = ctx.backend(), ctx.migration_set()
    table: str | None = None  # wrangler's table in the target's database, kept in step
    other = None if ctx.opt("wrangler_state") else _other_runner_plan(ctx)
    if other is not None:
        plan = other
    elif backend.kind == "postgresql" and not ctx.opt("wrangler_state"):
        plan = _supabase_plan(ctx)
    else:
        applied, source = _wrangler_applied(ctx)
        plan = plan_adopt(mset, applied, backend.fetch_records(), source)
        table = _wrangler_table_here(ctx)
    for line in plan.describe():
        ctx.message(line)
    if ctx.opt("dry_run", False) or not plan.to_adopt:
        if ctx.json:
            ctx.out_json({**plan.as_json(), "adopted": []})
        return 0
    result = adopt(backend, plan, table)
    if ctx.json:
        ctx.out_json({**plan.as_json(), "adopted": list(result.adopted)})
    ctx.message(f"adopted {len(result.adopted)} migration(s) (recorded, not run; audited)")
    return 0


def _other_runner_plan(ctx: Context) -> AdoptPlan | None:
    """Another runner's history in the target database (Prisma, Drizzle, dbmate, Rails,
    golang-migrate, Flyway, Alembic), unless wrangler's or the Supabase CLI's is there with
    rows and --through is not given (those are adopted as before)."""
    from malnu_tui.engine.backends import other_runners
    from malnu_tui.engine.errors import ConfigError

    backend, through = ctx.backend(), ctx.opt("through")
    if through is None:
        conn = getattr(backend, "conn", None)
        if backend.kind == "postgresql":
            from malnu_tui.engine.backends.pg_record import cli_history

            if cli_history(conn):
                return None
        else:
            from malnu_tui.engine.backends.d1.wrangler import read_from_backend

            if read_from_backend(backend):
                return None
    plan = other_runners.plan_adopt(backend, ctx.migration_set(), through)
    if plan is None and through is not None:
        raise ConfigError(
            f"--through: {backend.display_url} has no other runner's migration history "
            "(Prisma, Drizzle, dbmate, Rails, golang-migrate, Flyway, Alembic); nothing was "
            "recorded"
        )
    return plan


def _supabase_plan(ctx: Context) -> AdoptPlan:
    """On PostgreSQL: the Supabase CLI's history in the target database itself."""
    from malnu_tui.engine.backends import supabase_history as sb
    from malnu_tui.engine.errors import ConfigError

    backend = ctx.backend()
    conn = getattr(backend, "conn", None)
    applied = sb.read_history(conn)
    source = f"{sb.TABLE} in {backend.display_url}"
    if applied is None and conn is not None and not sb.table_exists(conn):
        # No history at all: nothing to adopt, as on SQLite and D1 without wrangler's table
        # (it was exit 2 here, with a hint about wrangler's local state).
        return sb.plan_adopt(ctx.migration_set(), [], backend.fetch_records(), source)
    if applied is None:
        raise ConfigError(
            f"{backend.display_url} has {sb.TABLE}, which this role may not read: nothing "
            "was adopted",
            hint="let this role read it (as its owner: GRANT USAGE ON SCHEMA "
            f"{sb.TABLE.split('.')[0]}, and GRANT SELECT ON {sb.TABLE}, to it), or adopt as "
            "a role that may",
        )
    return sb.plan_adopt(ctx.migration_set(), applied, backend.fetch_records(), source)


def cmd_wrangler_status(ctx: Context) -> int:
    from malnu_tui.engine.backends.d1.wrangler import wrangler_status

    ctx.peek()  # only read: nothing created in a database the tool never used
    applied, source = _wrangler_applied(ctx)
    rows = wrangler_status(ctx.migration_set(), applied, ctx.backend().fetch_records())
    if ctx.json:
        ctx.out_json({"source": source, "wrangler": [r.as_json() for r in rows]})
        return 0
    from malnu_tui.cli.output import print_table

    print_table(
        ctx.stdout,
        ["wrangler migration", "applied at", "file here", "tracked by malnu-tui"],
        [
            (r.name, r.applied_at, "yes" if r.in_files else "NO", "yes" if r.tracked else "no")
            for r in rows
        ],
        title=f"wrangler history ({source})",
    )
    return 0


def cmd_lint(ctx: Context) -> int:
    """The lint's D1 rule set only (``malnu-tui lint`` runs every rule)."""
    from malnu_tui.cli.safety import lint_report, selected_for_lint

    only, live = selected_for_lint(ctx)
    report = lint_report(ctx, only, live=live)
    findings = [f for f in report.findings if f.rule.startswith("D1-")]
    if ctx.json:
        ctx.out_json({"findings": [f.as_json() for f in findings], "notes": list(report.notes)})
    else:
        for f in findings:
            ctx.out(f.describe())
        for n in report.notes:
            ctx.message(f"note: {n}")
    errors = sum(1 for f in findings if f.severity == "error" and f.active)
    ctx.message(f"{len(findings)} finding(s), {errors} error(s) for D1")
    return 1 if errors else 0


def cmd_bookmark(ctx: Context) -> int:
    from malnu_tui.engine.backends.d1.timetravel import bookmark_at, current_bookmark
    from malnu_tui.engine.clock import json_time, parse_when

    backend = _d1(ctx, look=True)
    at = ctx.opt("at")
    bookmark = bookmark_at(backend, parse_when(at)) if at else current_bookmark(backend)
    if ctx.json:
        ctx.out_json({"at": json_time(at) if at else "now", "bookmark": bookmark})
    else:
        ctx.out(bookmark)
    return 0


def cmd_time_travel(ctx: Context) -> int:
    from malnu_tui.engine.backends.d1.timetravel import (
        check_bookmark,
        current_bookmark,
        plan_time_travel,
        restore_bookmark,
    )
    from malnu_tui.engine.clock import parse_when
    from malnu_tui.engine.oplock import migration_lock

    given = None if ctx.opt("to") else check_bookmark(ctx.args.bookmark)
    backend = _d1(ctx)
    if given is None:
        plan = plan_time_travel(backend, parse_when(ctx.args.to))
        for line in plan.describe():
            ctx.message(line)
        bookmark = plan.bookmark
    else:
        bookmark = given
        ctx.message(f"Restore D1 database {backend.name} in place to bookmark {bookmark}.")
        ctx.message(f"The current state stays reachable: bookmark {current_bookmark(backend)}.")
    if ctx.opt("dry_run", False):
        if ctx.json:
            ctx.out_json({"bookmark": bookmark, "dry_run": True})
        ctx.message("dry run: nothing was changed")
        return 0
    ctx.confirm(f"restore D1 database {backend.name} to bookmark {bookmark}", backend.name)
    from malnu_tui.engine.monitor.runlog import record_run

    with (
        record_run(backend, "recover", f"bookmark {bookmark}"),
        migration_lock(backend, "time-travel"),
    ):
        done = restore_bookmark(backend, bookmark, action="recover", progress=_progress(ctx))
    if ctx.json:
        ctx.out_json(
            {
                "bookmark": done.bookmark,
                "previous_bookmark": done.previous_bookmark,
                "message": done.message,
            }
        )
    ctx.message(f"restored to bookmark {done.bookmark}")
    undo = ctx.again("d1", "time-travel", "--bookmark", done.previous_bookmark)
    ctx.message(f"to undo: {undo}")
    return 0


def cmd_export(ctx: Context) -> int:
    import os
    import tempfile

    from malnu_tui.engine.backends.d1.timetravel import export_dump
    from malnu_tui.engine.errors import ConfigError
    from malnu_tui.engine.private import hand_over

    backend = _d1(ctx, look=True)
    dest = Path(ctx.args.file)
    if dest.is_dir():  # found before the export (which D1 serves by blocking the database)
        raise ConfigError(f"{dest} is a directory", hint="give the dump's file name, e.g. dump.sql")
    try:
        # A new file of its own (O_EXCL, 0600): the fixed `.<name>.part` it was, opened with
        # O_TRUNC, followed a symlink another user of a shared folder had put there (root's
        # cron export overwrote its target) and kept the mode of one left there (0644).
        fd, part = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    except OSError as exc:
        raise ConfigError(
            f"cannot write the dump beside {dest}: {exc.strerror}",
            hint="give a file in an existing folder you may write to",
        ) from None
    hand_over(fd, dest.parent)  # root's cron, in an operator's folder: the dump is theirs
    os.close(fd)
    tmp = Path(part)
    try:
        res = export_dump(backend, tmp, _progress(ctx))
        os.replace(tmp, dest)
    except OSError as exc:  # a full disk or quota while the dump was written: no traceback
        from malnu_tui.engine.backup.store import BackupError

        raise BackupError(
            f"cannot write the dump to {dest}: {exc.strerror or exc}; no dump was written",
            hint=f"the disk of {dest.parent} (or this user's quota) may be full: free space "
            "there, or export to another disk",
        ) from None
    finally:
        if tmp.exists():
            tmp.unlink()
    if ctx.json:
        ctx.out_json(
            {"file": str(dest), "bookmark": res.bookmark, "size": res.size, "sha256": res.sha256}
        )
    else:
        ctx.out(f"{dest}  {res.size} bytes  sha256 {res.sha256}  bookmark {res.bookmark}")
    return 0


def cmd_import(ctx: Context) -> int:
    from malnu_tui.engine.backends.d1.dumpfile import d1_refusal
    from malnu_tui.engine.backends.d1.timetravel import check_dump, import_dump
    from malnu_tui.engine.errors import ConfigError
    from malnu_tui.engine.oplock import migration_lock

    backend = _d1(ctx)
    path = Path(ctx.args.file)
    checked = check_dump(path)
    if not checked.ok:
        raise ConfigError(f"{path}: not a usable dump: {checked.error or checked.integrity}")
    refused = d1_refusal(path)
    if refused is not None:  # before anything is sent: D1 refused it mid-import
        raise ConfigError(
            f"{path}:{refused}; nothing was sent",
            hint="D1 takes no statement over 100,000 bytes and keeps no value or row over "
            "2,000,000 bytes (developers.cloudflare.com/d1/platform/limits/): keep such files "
            "outside the database (R2, with their address in the row), or leave them out of "
            "the dump",
        )
    if not checked.tables:
        # Every table is dropped first: an empty or cut file would leave an empty database.
        raise ConfigError(
            f"{path}: the dump creates no table ({path.stat().st_size} bytes): importing it "
            "would leave the database empty",
            hint="export again (`malnu-tui d1 export FILE`) and check the file's size",
        )
    ctx.message(
        f"Replace every table of D1 database {backend.name} with {path.name} "
        f"({len(checked.row_counts)} tables, {sum(checked.row_counts.values())} rows)."
    )
    if checked.unsafe_integers:
        # Exact in a dump of sqlite3's; rounded in one of D1's own exports.
        ctx.message(
            "warning: the dump holds integers past ±9,007,199,254,740,991 (2**53 - 1), which "
            "an export of D1 writes rounded: " + "; ".join(checked.unsafe_integers)
        )
    ctx.confirm(f"replace D1 database {backend.name} with {path.name}", backend.name)
    from malnu_tui.engine.monitor.runlog import record_run

    with record_run(backend, "import", path.name) as run, migration_lock(backend, "import"):
        res = import_dump(backend, path, progress=_progress(ctx))
        run.count("queries", res.num_queries)
    if ctx.json:
        ctx.out_json(
            {
                "final_bookmark": res.final_bookmark,
                "previous_bookmark": res.previous_bookmark,
                "num_queries": res.num_queries,
            }
        )
    undo = ctx.again("d1", "time-travel", "--bookmark", res.previous_bookmark)
    ctx.message(f"imported {res.num_queries} queries; to undo: {undo}")
    return 0
