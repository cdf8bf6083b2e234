"""Monitoring commands: ``check`` (monitoring-plugin exit codes), ``doctor`` and ``history``."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from malnu_tui.cli.context import Context
    from malnu_tui.engine.config import Target
    from malnu_tui.engine.monitor.health import CheckReport, Severity

CHECK_EPILOG = """\
exit codes (the monitoring-plugin convention of Nagios/Icinga, NOT the other commands' codes):
  0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (a target that cannot be reached, a bad config or
  command line, a --prometheus file that cannot be written).
The first line of output is the summary (`MALNU CRITICAL - primary: … | failed=1;;1 slow=0;1;`),
then one line per problem, then every check per target."""


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    from malnu_tui.cli.argtypes import not_empty, times_read
    from malnu_tui.cli.parsing import Parser, common_options

    # Its own --target (repeatable) replaces the global one, and "resolve" edits the action it
    # replaces: on the shared one, that made `--target` a positional of every command after.
    own = Parser(add_help=False)
    common_options(own, suppress=True)
    p = sub.add_parser(
        "check",
        parents=[own],  # the global options work after `check` too (README)
        conflict_handler="resolve",  # its own --target is repeatable
        help="health of the targets; exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN",
        description="Check every target (or --target NAME ...): failed and slow migrations, "
        "drift, missing files, old pending migrations, stale locks, backup age, failed imports "
        "and syncs, sync lag.",
        epilog=CHECK_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--target",
        metavar="NAME",
        action="append",
        type=not_empty,
        default=argparse.SUPPRESS,
        help="check this target (repeatable; default: the one MALNU_TARGET or "
        "MALNU_DATABASE_URL names, else every configured target)",
    )
    p.add_argument("--all", action="store_true", help="check every configured target")
    p.add_argument("--prometheus", metavar="FILE", help="write gauges for node_exporter")
    p.add_argument("--alert", action="store_true", help="send new/resolved problems to webhooks")
    p.set_defaults(handler=cmd_check)

    p = sub.add_parser(
        "doctor",
        parents=[common],
        help="connection, versions, permissions, backup space and config, per target",
    )
    p.add_argument("--all", action="store_true", help="every configured target")
    p.set_defaults(handler=cmd_doctor)

    p = sub.add_parser("history", parents=[common], help="the run log of a target since a time")
    p.add_argument(
        "--since", metavar="TIME", default="-24h", help="ISO time or a span back: -90m, -24h, -7d"
    )
    p.set_defaults(handler=cmd_history, line_check=times_read("since"))


def _chosen_targets(ctx: Context) -> list[Target]:
    """``--database``; else ``--all``: every target; else each ``--target`` (refused, as by
    every command, where MALNU_TARGET or MALNU_DATABASE_URL names another database); else
    the one those variables name; else every target."""
    return [_again(ctx, t) for t in _targets(ctx)]


def _again(ctx: Context, target: Target) -> Target:
    """``target`` with the options that name it in a printed command (``--config PATH
    --target NAME``): `check`'s problem lines and alerts and `doctor`'s fixes quote commands
    an operator runs from anywhere (a webhook's reader is far from the config), and they acted
    on the default target."""
    if target.again:
        return target
    from dataclasses import replace

    from malnu_tui.engine.rerun import target_options

    return replace(target, again=tuple(target_options(ctx.settings, target)))


def _targets(ctx: Context) -> list[Target]:
    import os

    from malnu_tui.engine.config import ENV_DATABASE_URL, ENV_TARGET, resolve_target
    from malnu_tui.engine.errors import ConfigError

    settings = ctx.settings
    given = ctx.opt("target")  # a list (check's --target repeats), a string (the global one)
    names = list(dict.fromkeys([given] if isinstance(given, str) else given or []))  # each once
    dirs = {"migrations_dir": ctx.opt("migrations_dir"), "rollback_dir": ctx.opt("rollback_dir")}
    database = ctx.opt("database")
    if database:  # one database; a --target with it must name the same one (as everywhere)
        if len(names) > 1:
            raise ConfigError(f"--database names one database; --target names {len(names)}")
        return [
            resolve_target(settings, name=names[0] if names else None, database=database, **dirs)
        ]
    if ctx.opt("all"):
        return list(settings.targets.values())
    if names:
        return [resolve_target(settings, name=n, **dirs) for n in names]
    if os.environ.get(ENV_DATABASE_URL) or os.environ.get(ENV_TARGET):
        return [ctx.target]
    return list(settings.targets.values())


def _write_prometheus(ctx: Context, report: CheckReport) -> str | None:
    """Write ``--prometheus FILE`` (temp file + rename); why it could not be, else None."""
    from malnu_tui.engine.monitor.prometheus import render

    return write_prometheus(str(ctx.opt("prometheus")), render(report), ctx.message)


def write_prometheus(file: str, text: str, message: Callable[[str], None]) -> str | None:
    """Put ``text`` into ``file`` (temp file + rename); why it could not be, else None. The
    last run's file, which would go on showing its values to Prometheus as current, is
    removed where it can be."""
    from pathlib import Path

    from malnu_tui.engine.monitor.prometheus import NotARegularFile, write_atomic

    prom = Path(file)
    try:
        write_atomic(prom, text)
    except NotARegularFile as exc:  # left as it is: never removed
        said = f"cannot write {prom}: {exc.strerror}"
        message(f"error: {said}")
        return said
    except OSError as exc:
        try:
            prom.unlink(missing_ok=True)
            old = "no file of an earlier run is left"
        except OSError:
            old = "the file of an earlier run still shows its values"
        said = f"cannot write {prom}: {exc.strerror or exc}"
        message(f"error: {said}; {old}")
        return said
    return None


def cmd_check(ctx: Context) -> int:
    from malnu_tui.engine.monitor.config import load_monitor_config
    from malnu_tui.engine.monitor.health import Severity, worst
    from malnu_tui.engine.monitor.reading import run_checks

    # A check that cannot run (its config, a --target not there) is UNKNOWN to the monitoring
    # system, not a usage error: said by cli.main as every command's error (the `error:` line,
    # which this one lacked), then the UNKNOWN summary or JSON (say_unknown).
    cfg = load_monitor_config(ctx.settings)
    targets = _chosen_targets(ctx)
    report = run_checks(targets, cfg)
    for line in report.notes:  # (stderr: the plugin's output stays as it is)
        ctx.message(f"warning: {line}")
    status = report.status
    failed_file = _write_prometheus(ctx, report) if ctx.opt("prometheus") else None
    if failed_file is not None:
        # The run did not do what it was asked: UNKNOWN unless worse (a systemd unit fails,
        # cron mails), said by the summary's status word and the JSON's status as by the exit
        # code (they said OK beside exit 3), the databases' health kept beside it.
        status = worst((status, Severity.UNKNOWN))
    # Said before the alerts, which are due whatever became of it: a stdout its reader left
    # (`| head -1`) or on a full disk ended the run with a traceback before --alert sent
    # anything, exit 1 (WARNING); now the alerts go out, then stdout's failure is UNKNOWN
    # (cli.main: exit 3), and a reader gone leaves the health's own exit code.
    from malnu_tui.cli.context import reader_gone

    unwritten: OSError | None = None
    ctx.said_status = int(status)
    try:
        _say_report(ctx, report, status, failed_file)
        ctx.stdout.flush()
    except BrokenPipeError:
        reader_gone()
    except OSError as exc:
        unwritten = exc
        # What stays in stdout's buffer is dropped: flushed at the interpreter's exit, it
        # failed again there, and Python's own exit 120 replaced the health's code.
        reader_gone()
    if ctx.opt("alert"):
        from malnu_tui.engine.monitor.alerts import Configured, process_alerts
        from malnu_tui.engine.monitor.config import database_before_of
        from malnu_tui.engine.monitor.reading import target_database

        settings = ctx.settings
        ts = settings.targets.values()
        configured = (
            Configured(
                str(settings.config_path.resolve()),
                frozenset((t.name, target_database(t)) for t in ts),
                frozenset((t.name, database_before_of(t.url), target_database(t)) for t in ts),
            )
            if settings.config_path is not None
            else None
        )
        outcome = process_alerts(
            report,
            cfg.webhooks,
            configured=configured,
            notify_after=cfg.notify_after_seconds,
            resolve_after=cfg.resolve_after_seconds,
        )
        if outcome.no_webhooks:
            ctx.message("alert: no [[alerts.webhooks]] in the config; incidents kept, none sent")
        for line in outcome.closed:
            ctx.message(f"alert: incident closed, NOT fixed (no longer checked): {line}")
        for line in outcome.sent:
            ctx.message(f"alert sent: {line}")
        for line in outcome.waiting:
            ctx.message(f"alert: not sent yet (seen for less than [alerts] notify_after): {line}")
        for line in outcome.clearing:
            ctx.message(f"alert: gone, resolution not sent yet ([alerts] resolve_after): {line}")
        for line in outcome.outrun:
            ctx.message(f"alert: not alerted on, a later check already was: {line}")
        for line in outcome.failed:
            ctx.message(f"alert FAILED (retried next run): {line}")
        for line in outcome.state_errors:
            ctx.message(f"alert: {line}")
    if unwritten is not None:
        # UNKNOWN unless worse, as a --prometheus file that cannot be written: a CRITICAL
        # target said as exit 3 was the page many setups never send for UNKNOWN.
        from malnu_tui.engine.errors import MalnuError

        with contextlib.suppress(OSError):
            ctx.error(
                MalnuError(
                    "check's output could not be written to stdout: "
                    f"{unwritten.strerror or unwritten}",
                    hint="the monitoring system got no output: free the disk (or mend the "
                    "file) stdout goes to",
                )
            )
        status = worst((status, Severity.UNKNOWN))
    return int(status)


def _say_report(
    ctx: Context, report: CheckReport, status: Severity, failed_file: str | None
) -> None:
    """The plugin's output on stdout: the summary line, a line per problem, every check per
    target (or the JSON document)."""
    if ctx.json:
        doc = report.as_json()
        if failed_file is not None:
            doc["status"] = status.name
            doc["problems"] = [
                *(p.as_json() for p in report.problems),
                {"target": None, "check": "prometheus", "severity": "UNKNOWN"}
                | {"message": failed_file, "since": None},
            ]
        ctx.out_json(doc)
    else:
        text, _, perf = report.summary_line().rpartition(" | ")
        health = text.split(" - ", 1)[1]
        if failed_file is not None:
            health = f"{health}; {failed_file}"
        ctx.out(f"MALNU {status.name} - {plugin_text(health)} | {perf}")
        for p in report.problems:
            ctx.out(plugin_text(p.line()))
        if failed_file is not None:
            ctx.out(plugin_text(f"UNKNOWN prometheus: {failed_file}"))
        for t in report.targets:
            ctx.out(
                plugin_text(f"{t.target}: ")
                + ", ".join(f"{c} {t.check_word(c)}" for c in t.checks)
                + f" ({t.seconds:.2f} s)"
            )


def prometheus_in(argv: Sequence[str]) -> str | None:
    """The ``--prometheus FILE`` of a command line argparse refused (``--prometheus=FILE``
    too): its file says UNKNOWN as a config that cannot be read does, rather than keep
    the last run's gauges (a typo added to the cron line left them saying OK)."""
    for i, token in enumerate(argv):
        if token.startswith("--prometheus="):
            return token.partition("=")[2] or None
        if token == "--prometheus" and i + 1 < len(argv) and not argv[i + 1].startswith("-"):
            return argv[i + 1]
    return None


def plugin_text(text: str) -> str:
    """Text of ``check``'s output with its ``|`` as ``¦``: Nagios and Icinga read whatever
    follows a ``|``, on any line, as performance data. A failed migration's error quoting
    PostgreSQL (``operator does not exist: integer || integer``) lost the rest of its line
    and fed the graphs garbage (``--json`` keeps the text as it is)."""
    return text.replace("|", "\N{BROKEN BAR}")


def exit_after(said: int | None) -> int:
    """``check``'s exit code when it failed (an error, what it did not expect): UNKNOWN,
    unless the summary it had already printed (``said``) was worse. Nagios reads CRITICAL as
    worse than UNKNOWN, and many setups page on CRITICAL alone: stderr on a full disk after
    a CRITICAL summary exited 3, the page never sent."""
    from malnu_tui.engine.monitor.health import Severity, worst

    if said is None:
        return int(Severity.UNKNOWN)
    return int(worst((Severity(said), Severity.UNKNOWN)))


def say_unknown(
    reason: str,
    *,
    json: bool,
    prometheus: str | None = None,
    message: Callable[[str], None] | None = None,
) -> int:
    """``check`` stopped before it could check (a bad command line; a config it could not
    read, a target not in it), its ``error:`` line already on stderr: the summary line (or
    JSON) says UNKNOWN, exit 3, as the monitoring-plugin convention has it (2 would read as
    CRITICAL). The
    ``--prometheus`` file, when given, says ``malnu_check_status 3`` instead of the last
    run's gauges (a config broken by an edit left them saying OK for as long as it stayed)."""
    import json as jsonlib
    import sys

    from malnu_tui.engine.monitor.debuglog import mask_secrets, one_line
    from malnu_tui.engine.monitor.health import Severity, unknown_json

    reason = one_line(mask_secrets(reason))  # the plugin's summary: one line, as stderr's
    out = sys.stdout
    if prometheus:
        from malnu_tui.engine.monitor.prometheus import render_unknown

        said = message or (lambda line: print(line, file=sys.stderr))
        write_prometheus(prometheus, render_unknown(), said)
    try:
        if json:
            out.write(jsonlib.dumps(unknown_json(reason)) + "\n")
        else:
            print(f"MALNU UNKNOWN - {plugin_text(reason)}", file=out)
        out.flush()
    except OSError:  # a full disk, its reader gone: UNKNOWN all the same (its error: line said)
        from malnu_tui.cli.context import reader_gone

        reader_gone(out)  # (flushed again at the exit, it failed there: Python's exit 120)
    return int(Severity.UNKNOWN)


def cmd_doctor(ctx: Context) -> int:
    from malnu_tui.engine.errors import ConfigError
    from malnu_tui.engine.monitor.doctor import config_failed, run_doctor

    try:
        settings = ctx.settings  # a config that does not load is doctor's FAIL, not exit 2
    except ConfigError as exc:
        result = config_failed(str(exc), exc.hint)
    else:
        targets = _chosen_targets(ctx) if ctx.opt("all") else [ctx.target]
        result = run_doctor(settings, targets)
    if ctx.json:
        ctx.out_json(result.as_json())
    else:
        for line in result.lines():
            ctx.out(line)
    ctx.message(result.summary())  # with --json too: an exit 1 says why on stderr
    return 0 if result.ok else 1


def cmd_history(ctx: Context) -> int:
    from malnu_tui.engine.clock import parse_when
    from malnu_tui.engine.monitor.runlog import history_since

    since = parse_when(ctx.args.since)
    hist = history_since(ctx.reader(), since)
    if ctx.json:
        ctx.out_json(hist.as_json())
        return 0
    from malnu_tui.cli.output import print_table

    print_table(
        ctx.stdout,
        ["ended", "operation", "object", "outcome", "took", "counts", "error"],
        [
            (
                r.ended_at,
                r.op,
                r.obj,
                r.outcome,
                f"{r.duration_ms} ms",
                " ".join(f"{k}={v}" for k, v in sorted(r.counts.items())),
                r.error,
            )
            for r in hist.runs
        ],
        title=f"{ctx.target.name}: runs since {hist.since} UTC",
    )
    for what, complete_from in (("runs", hist.runs_from), ("other audit rows", hist.events_from)):
        if complete_from:  # more than one read holds: said, never shown as all of them
            ctx.message(
                f"note: more {what} since {hist.since} UTC than one read holds: only those "
                f"since {complete_from} UTC are shown"
            )
    others = sum(1 for e in hist.events if e.action != "run")
    ctx.message(f"{len(hist.runs)} runs and {others} other audit rows since {hist.since} UTC")
    return 0
