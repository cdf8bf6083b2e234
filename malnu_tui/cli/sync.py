"""``sync``, ``sync verify`` and ``sync status``: copies of tables between targets, proved
complete. ``malnu-tui sync [verify|status] [PAIR] [--from T --to T] [--tables a,b] [--full]
[--dry-run]``; a PAIR is a ``[sync.NAME]`` of the config."""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING

from malnu_tui.cli.argtypes import table_names
from malnu_tui.engine.errors import ConfigError, MalnuError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from malnu_tui.cli.context import Context
    from malnu_tui.engine.config import Target
    from malnu_tui.engine.sync import SyncPair, SyncProgress, TablePlan, TableReport

ACTIONS = ("verify", "status")


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    p = sub.add_parser(
        "sync",
        parents=[common],
        help="copy tables between targets and prove the copy (sync verify, sync status)",
        description="sync [PAIR]: copy tables; sync verify [PAIR]: compare them; "
        "sync status: the last sync of every table at the destinations.",
    )
    p.add_argument("words", nargs="*", metavar="[verify|status] [PAIR]", help=argparse.SUPPRESS)
    p.add_argument("--from", dest="sync_from", metavar="TARGET", help="the source target")
    p.add_argument("--to", dest="sync_to", metavar="TARGET", help="the destination target")
    p.add_argument(
        "--tables",
        metavar="T,…",
        type=table_names,
        help="only these tables (default: the pair's, or all)",
    )
    p.add_argument("--full", action="store_true", help="recopy every row (not incremental)")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="read both sides, say what would change, write nothing",
    )
    p.set_defaults(handler=cmd_sync, line_check=sync_words)


# -- resolution -------------------------------------------------------------------------------


def _ends(ctx: Context, pair_name: str | None) -> tuple[Target, Target, SyncPair | None]:
    from malnu_tui.engine.sync.pairs import describe_pairs, load_pairs, pick_pair, resolve_end

    settings = ctx.settings
    pairs = load_pairs(settings)
    source, dest = ctx.opt("sync_from"), ctx.opt("sync_to")
    pair = pick_pair(pairs, pair_name, source, dest)
    source = source or (pair.source if pair else None)
    dest = dest or (pair.dest if pair else None)
    if not source or not dest:
        raise ConfigError(
            "sync needs --from TARGET and --to TARGET, or a pair from the config "
            f"(configured pairs: {describe_pairs(list(pairs.values()))})",
            hint='add [sync.reporting] from = "primary", to = "analytics" to malnu.toml',
        )
    ctx.again_options = _again(ctx, pair if pair_name else None, source, dest)
    return resolve_end(settings, source), resolve_end(settings, dest), pair


def _again(ctx: Context, pair: SyncPair | None, source: str, dest: str) -> tuple[str, ...]:
    """What a `malnu-tui sync …` quoted in a message needs to run from any directory: the
    pair by name, or its ends as given (a URL's password masked), and the config's path."""
    from malnu_tui.engine.urls import mask_url

    if pair is not None and not ctx.opt("sync_from") and not ctx.opt("sync_to"):
        words = [pair.name]
    else:
        words = ["--from", mask_url(source), "--to", mask_url(dest)]
    path = ctx.settings.config_path
    return (*words, *(("--config", str(path.absolute())) if path else ()))


def _request(ctx: Context, pair: SyncPair | None) -> tuple[tuple[str, ...], str]:
    """The tables asked for, and where they were named when the config named them."""
    from malnu_tui.engine.sync.pairs import tables_option

    asked = tables_option(ctx.opt("tables"))
    if asked or pair is None or not pair.tables:
        return asked, ""
    return pair.tables, f"{ctx.settings.config_path}: [sync.{pair.name}] tables"


def _progress(ctx: Context) -> object:
    last: dict[str, float] = {}

    def show(p: SyncProgress) -> None:
        now = time.monotonic()
        key = f"{p.table}:{p.phase}"
        if p.phase != "done" and now - last.get(key, 0.0) < 1.0:
            return
        last[key] = now
        if p.phase == "done":
            return
        total = f"/{p.total:,}" if p.total is not None else ""
        speed = f" ({p.rate:,.0f} rows/s)" if p.rate else ""
        ctx.message(f"{p.table}: {p.phase} {p.rows:,}{total} rows{speed}")

    return show


# -- output -------------------------------------------------------------------------------------


def _plan_lines(ctx: Context, plans: list[TablePlan], source: Target, dest: Target) -> None:
    from malnu_tui.cli.plans import say_warnings
    from malnu_tui.engine.sync.model import key_text

    ctx.message(f"sync {source.name} ({source.display_url}) → {dest.name} ({dest.display_url})")
    for p in plans:
        how = {
            "full": "full copy",
            "updated_at": f"rows with {p.cursor} >= {p.since}" if p.since else "every row",
            "checksum": "chunks whose checksums differ",
            "whole": "no key: every row replaced in one unit, proved by count and hash sum",
        }[p.mode]
        extra = "; create the table" if p.create else ""
        if p.resume_after is not None:
            extra += f"; resumes after key {key_text(p.key, p.resume_after)}"
        ctx.message(
            f"  {p.table}: {p.mode} ({how}{extra}); source {p.source_count:,} rows, "
            f"destination {p.dest_count:,} rows"
        )
        for n in p.notes:
            ctx.message(f"    note: {n}")
        if p.ddl:
            ctx.message(f"    {p.ddl}")
        # Before the question (a Supabase copy open to the anon key): said after the writes.
        say_warnings(ctx, p.warnings, f"{p.table}: ")


def _verified_cell(r: TableReport, dry_run: bool) -> str:
    if dry_run:
        return "—"
    if r.error:  # the table a sync stopped at (its error follows)
        return "✘ stopped"
    if not r.verified:
        return "✘ no"
    return "✔ yes (what it changed)" if r.scope == "changed" else "✔ yes"


def _count_cell(r: TableReport, side: str, count: int) -> str:
    """A side's row count, or ``not counted`` (a sync that stopped with that side gone)."""
    return "not counted" if side in r.uncounted else f"{count:,}"


def _print_reports(
    ctx: Context,
    reports: list[TableReport],
    *,
    dry_run: bool = False,
    stopped_by: MalnuError | None = None,
    said: Sequence[TablePlan] = (),
) -> None:
    """The reports (``stopped_by``: of a sync that error stopped; with --json they are its
    report, which :func:`malnu_tui.cli.main` writes before its ``error:`` line); a warning
    the plan just ``said`` is not said twice."""
    from malnu_tui.cli.plans import say_warnings

    planned = {p.table: p.warnings for p in said}
    for r in reports:
        if r.note:
            ctx.message(f"{r.table}: {r.note}")
        said_now = planned.get(r.table, ())
        say_warnings(ctx, [w for w in r.warnings if w not in said_now], f"{r.table}: ")
    if ctx.json:
        doc = [r.as_json() for r in reports]
        if stopped_by is not None:
            stopped_by.report = doc
        else:
            ctx.out_json(doc)
        for r in reports:
            if r.truncated:
                ctx.message(f"{r.table}: only the first {len(r.differences):,} differing keys")
        return
    from malnu_tui.cli.output import print_table

    verbs = (
        ("would insert", "would update", "would delete")
        if dry_run
        else ("inserted", "updated", "deleted")
    )
    print_table(
        ctx.stdout,
        ["table", "mode", "read", *verbs, "source", "destination", "verified"],
        [
            (
                r.table, r.mode, f"{r.read:,}",
                f"{r.inserted:,}", f"{r.updated:,}", f"{r.deleted:,}",
                _count_cell(r, "source", r.source_count),
                _count_cell(r, "destination", r.dest_count),
                _verified_cell(r, dry_run),
            )
            for r in reports
        ],
    )  # fmt: skip
    for r in reports:
        if r.compared and r.read > r.compared:  # a checksum pass: each row compared, some twice
            again = r.read - r.compared
            ctx.out(
                f"{r.table}: read {r.read:,}: the {r.compared:,} source row(s) compared by "
                f"checksum, {again:,} of them read again to copy {'it' if again == 1 else 'them'}"
            )
        for d in r.differences:
            ctx.out(f"{r.table}: {d.describe(r.key)}")
        if r.truncated:
            ctx.message(
                f"{r.table}: only the first {len(r.differences):,} differing keys are listed"
            )


# -- commands -----------------------------------------------------------------------------------


def sync_words(args: argparse.Namespace) -> tuple[str, str | None]:
    """``sync [verify|status] [PAIR]``: the action and the pair named; a usage error for a
    word more (also ``sync``'s ``line_check``)."""
    words = list(getattr(args, "words", None) or [])
    action = words.pop(0) if words and words[0] in ACTIONS else "sync"
    if len(words) > 1:
        raise ConfigError(
            f"sync: unexpected argument {words[1]!r} (usage: sync [verify|status] [PAIR])"
        )
    return action, (words[0] if words else None)


def cmd_sync(ctx: Context) -> int:
    action, pair_name = sync_words(ctx.args)
    if action == "status":
        return _status(ctx, pair_name)
    source, dest, pair = _ends(ctx, pair_name)
    tables, named_in = _request(ctx, pair)
    from malnu_tui.engine.sync import (
        SyncRequest,
        SyncSession,
        dry_run,
        left_behind,
        plan_sync,
        run_sync,
        start_early,
        verify_sync,
    )

    progress = _progress(ctx)
    with SyncSession(source, dest, read_only=action == "verify" or bool(ctx.opt("dry_run"))) as s:
        for gone in (*s.notes, *left_behind(s.src, s.dst, source.name)):
            ctx.message(f"warning: {gone}")
        if action == "verify":
            reports = verify_sync(s, tables, progress, named_in)  # type: ignore[arg-type]
            _print_reports(ctx, reports)
            bad = [r for r in reports if not r.verified]
            if bad:
                ctx.message(f"✘ {len(bad)} table(s) differ: {', '.join(r.table for r in bad)}")
                return 1
            ctx.message(f"✔ {len(reports)} table(s) equal on both sides")
            return 0
        req = SyncRequest(tables=tables, full=bool(ctx.opt("full")), named_in=named_in)
        if pair is not None:
            req = replace(
                req,
                overlap_seconds=pair.overlap_seconds,
                cursor=pair.cursor,
                chunk_rows=pair.chunk_rows,
                cursor_named_in=f"{ctx.settings.config_path}: [sync.{pair.name}] cursor",
            )
        if not ctx.opt("dry_run"):
            start_early(s, req)  # the source's share, while the destination connects
        plans = plan_sync(s, req)
        _plan_lines(ctx, plans, source, dest)
        if ctx.opt("dry_run"):
            reports = dry_run(s, plans, progress)  # type: ignore[arg-type]
            _print_reports(ctx, reports, dry_run=True, said=plans)
            ctx.message("dry run: nothing was written")
            return 0
        from malnu_tui.cli.plans import lock_preflight

        lock_preflight(ctx, s.dst.backend, dest, "sync")  # a live holder: exit 3, not asked
        ctx.confirm(f"sync {len(plans)} table(s) into {dest.name}", s.dst.backend.name)
        done: list[TableReport] = []
        stopped: list[TableReport] = []
        try:
            reports = run_sync(s, req, progress, done, stopped)  # type: ignore[arg-type]
        except MalnuError as exc:
            # What is synced, and where it stopped, as `up --json` reports (in text too: it
            # said the error alone, the tables synced before it only in the audit rows).
            _print_reports(ctx, _stopped(done, plans, exc, stopped), stopped_by=exc)
            raise
        except KeyboardInterrupt as exc:  # Ctrl-C, SIGTERM: said in text by the notes after
            if ctx.json:  # `terminated`; the --json document is the report, as for an error
                exc.report = [r.as_json() for r in _stopped(done, plans, exc, stopped)]  # type: ignore[attr-defined]
            raise
    _print_reports(ctx, reports)
    bad = [r for r in reports if not r.verified]
    if bad:
        ctx.message(f"✘ verification found differences in: {', '.join(r.table for r in bad)}")
        return 1
    ctx.message(f"✔ {len(reports)} table(s) synced and verified")
    return 0


def _stopped(
    done: list[TableReport],
    plans: list[TablePlan],
    exc: BaseException,
    stopped: Sequence[TableReport] = (),
) -> list[TableReport]:
    """``sync --json`` stopped by an error (or Ctrl-C, SIGTERM): the reports of the tables
    synced before it, then the table it stopped at (not verified, with ``error``): what its
    whole chunks wrote and both sides' rows as it stopped, as its audit row says (it said
    `inserted 0` and the plan's `dest_count` beside 200 rows written); the plan's counts when
    it stopped before the table began (the lock, the plan under it)."""
    from malnu_tui.engine.monitor.debuglog import mask_secrets, one_line
    from malnu_tui.engine.sync import TableReport

    rows = list(done)
    synced = {r.table for r in done}
    at = next((p for p in plans if p.table not in synced), None)
    if at is not None:
        error = one_line(mask_secrets(str(exc))) or _signal_word(exc)
        left = next((r for r in stopped if r.table == at.table), None)
        report = (
            replace(left, error=error)
            if left is not None
            else TableReport(at.table, at.mode, 0, 0, 0, 0, at.source_count, at.dest_count,
                             False, key=at.key, error=error, dest_table=at.dest_table)
        )  # fmt: skip
        rows.append(report)
    return rows


def _signal_word(exc: BaseException) -> str:
    """What a stop by a signal is said as (cli.main's line): ``terminated``, ``interrupted``."""
    from malnu_tui.engine.interrupts import HungUp, Terminated

    if isinstance(exc, HungUp):
        return "hung up"
    return "terminated" if isinstance(exc, Terminated) else "interrupted"


def _status(ctx: Context, pair_name: str | None) -> int:
    from malnu_tui.engine.monitor.runlog import json_time
    from malnu_tui.engine.sync import copy_statuses, lag_seconds
    from malnu_tui.engine.sync.pairs import configured_source, end_label, load_pairs, resolve_end

    settings = ctx.settings
    pairs = load_pairs(settings)
    if ctx.opt("sync_to"):
        dests = [str(ctx.opt("sync_to"))]
    elif pair_name:
        if pair_name not in pairs:
            raise ConfigError(
                f"no sync pair named {pair_name!r} (configured: {', '.join(pairs) or 'none'})"
            )
        dests = [pairs[pair_name].dest]
    else:
        dests = sorted({p.dest for p in pairs.values()})
    if not dests:
        raise ConfigError(
            "sync status: no [sync.NAME] pairs in the config; name one with --to TARGET"
        )

    rows: list[dict[str, object]] = []
    said: list[str] = []
    for name in dests:
        ask = partial(configured_source, settings)
        for cs in copy_statuses(resolve_end(settings, name), ask):
            st = cs.state
            lag = lag_seconds(st)
            if cs.source_has_table is False:
                said.append(f"warning: {cs.source_note}")
            elif cs.source_has_table is None and f"note: {cs.source_note}" not in said:
                said.append(f"note: {cs.source_note}")
            rows.append(
                {
                    "destination": end_label(name),
                    "table": st.table_name,
                    "source": st.source,
                    "mode": st.mode,
                    "status": st.status,
                    "finished_at": st.finished_at,
                    "lag_seconds": None if lag is None else int(lag),
                    "watermark": st.watermark,
                    "read": st.rows_read,
                    "inserted": st.inserted,
                    "updated": st.updated,
                    "deleted": st.deleted,
                    "source_count": st.source_count,
                    "dest_count": st.dest_count,
                    "verified": st.verified,
                    "differences": st.differences,
                    "source_has_table": cs.source_has_table,
                    "source_note": cs.source_note or None,
                    "live": cs.live,
                }
            )
    for line in said:
        ctx.message(line)
    if ctx.json:  # its times ISO 8601 with their offset (the table's: as stored, UTC)
        ctx.out_json([r | {"finished_at": json_time(_finished_at(r))} for r in rows])
        return 0
    if not rows:
        ctx.message("no table has been synced yet")
        return 0
    from malnu_tui.cli.output import print_table

    print_table(
        ctx.stdout,
        ["destination", "table", "from", "mode", "status", "last sync", "lag", "rows", "verified",
         "at source"],
        [
            (
                r["destination"], r["table"], r["source"], r["mode"], _status_cell(r),
                r["finished_at"] or "—", _age(r["lag_seconds"]), r["dest_count"],
                {True: "✔ yes", False: "✘ no", None: "—"}[r["verified"]],  # type: ignore[index]
                _AT_SOURCE[r["source_has_table"]],  # type: ignore[index]
            )
            for r in rows
        ],
    )  # fmt: skip
    return 0


def _finished_at(row: dict[str, object]) -> str | None:
    """A ``sync status`` row's ``finished_at``, as stored (UTC ``YYYY-MM-DD HH:MM:SS``)."""
    value = row["finished_at"]
    return None if value is None else str(value)


def _status_cell(row: dict[str, object]) -> object:
    """A row ``running`` with no sync at work holding the destination's lock: that sync was
    stopped or killed (it read as running for ever); the next one resumes after its last
    whole chunk. (``--json`` keeps ``status`` as stored and says it with ``live``.)"""
    if row["status"] == "running" and row["live"] is False:
        return "stopped (resumes on the next sync)"
    return row["status"]


# Whether the copy's source still has its table (``sync status``'s "at source" column).
_AT_SOURCE = {True: "✔ there", False: "✘ gone", None: "not checked"}


def _age(seconds: object) -> str:
    if not isinstance(seconds, int):
        return "—"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"
