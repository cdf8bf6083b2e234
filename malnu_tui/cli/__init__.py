"""The scriptable CLI: argument parsing and output over the engine. With no command it opens
the Textual console (imported lazily: other commands never pay for Textual)."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import sys
from collections.abc import Sequence
from typing import Any

from malnu_tui import __version__
from malnu_tui.cli.context import Context, reader_gone, sigterm_as_interrupt
from malnu_tui.cli.parsing import Parser, common_options, no_empty_values
from malnu_tui.engine.errors import MalnuError
from malnu_tui.engine.interrupts import HungUp, Terminated

# Each module has register(subparsers, common); handlers are set with set_defaults(handler=…)
# and called as handler(ctx) -> exit code. COMMANDS says which module defines each command, so
# a run registers only the module it needs (start-up time); help and errors register them all.
COMMANDS = {
    "malnu_tui.cli.migrate": (
        "status",
        "create",
        "up",
        "rollback",
        "verify",
        "repair",
        "clear-failed",
        "unlock",
        "log",
    ),
    "malnu_tui.cli.parity": ("plan", "diff", "parity"),
    "malnu_tui.cli.backup": ("backup", "recover"),
    "malnu_tui.cli.d1": ("adopt", "d1"),
    "malnu_tui.cli.monitor": ("check", "doctor", "history"),
    "malnu_tui.cli.safety": ("lint", "test", "rehearse"),
    "malnu_tui.cli.data": ("import",),
    "malnu_tui.cli.sync": ("sync",),
}
COMMAND_MODULES = tuple(COMMANDS)
_VALUE_OPTIONS = {"--database", "--target", "--config", "--migrations-dir", "--rollback-dir"}


def _command_in(argv: Sequence[str]) -> str | None:
    """The command word of ``argv`` (its first positional; None: none, or help wanted)."""
    skip = False
    for token in argv:
        if skip:
            skip = False
        elif token in ("-h", "--help", "--version"):
            return None
        elif token in _VALUE_OPTIONS:
            skip = True
        elif not token.startswith("-"):
            return token
    return None


def _module_for(argv: Sequence[str]) -> str | None:
    """The module defining the command in ``argv`` (None: no command, or help wanted)."""
    command = _command_in(argv)
    return next((m for m, cmds in COMMANDS.items() if command in cmds), None)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    parser = Parser(
        prog="malnu-tui",
        description="Migrations, backups and emergency rollbacks for MA Malnu Kananga's "
        "databases. With no command, opens the console.",
    )
    parser.add_argument("--version", action="version", version=f"malnu-tui {__version__}")
    common_options(parser, suppress=False)
    common = Parser(add_help=False)
    common_options(common, suppress=True)
    only = _module_for(argv) if argv is not None else None
    if only:
        parser.register("action", "parsers", _OneCommand)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    if isinstance(sub, _OneCommand):
        sub.wanted = _command_in(argv or ()) or ""
    for name in (only,) if only else COMMAND_MODULES:
        importlib.import_module(name).register(sub, common)
    no_empty_values(parser)
    return parser


class _OneCommand(argparse._SubParsersAction):  # type: ignore[type-arg]
    """Sub-parsers when the command is known: the module's other commands get a bare parser
    that is never reachable (building each with the common options costs start-up time)."""

    wanted = ""

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        if name != self.wanted:
            return argparse.ArgumentParser(prog=name, add_help=False, allow_abbrev=False)
        return super().add_parser(name, **kwargs)  # type: ignore[no-any-return]


def check_line(args: argparse.Namespace) -> None:
    """The command's own checks of its command line, those argparse cannot make (``sync``'s
    words, ``import``'s FILE or ``--from``, a time's form): a usage error, exit 2, before
    anything is opened. The README's command lines are held to them too."""
    check = getattr(args, "line_check", None)
    if check is not None:
        check(args)


def _writable_streams() -> None:
    """A terminal or pipe whose encoding cannot spell the output's symbols (``LANG`` of a
    Latin-1 locale, ``PYTHONIOENCODING=ascii`` in a cron job) gets them escaped (``\\u2714``)
    rather than a traceback after the work is done (``--json`` is ASCII already)."""
    for stream in (sys.stdout, sys.stderr):
        encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "")
        if encoding != "utf8" and isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``malnu-tui`` console script; returns the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    _writable_streams()
    _register_secrets_of(argv)
    parser = build_parser(argv)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        if exc.code == 2 and _command_in(argv) == "check":
            # A monitoring plugin's bad command line is UNKNOWN (3), never CRITICAL (2).
            from malnu_tui.cli.monitor import prometheus_in, say_unknown

            reason = f"bad command line: {Parser.last_error}"
            return say_unknown(reason, json="--json" in argv, prometheus=prometheus_in(argv))
        raise
    ctx = Context(args)
    try:
        check_line(args)
        from malnu_tui.engine.switches import check_switches

        check_switches()  # MALNU_DEBUG=2, MALNU_LINT_CACHE=false: refused before anything opens
        _debug_mode(ctx, console=getattr(args, "handler", None) is None)
        handler = getattr(args, "handler", None)
        if handler is None:
            ctx.require_terminal()
            from malnu_tui.tui import run_console

            return run_console(ctx)
        # SIGTERM (a service manager, a CI timeout, `kill`) ends every command as Ctrl-C does:
        # its own cleanup runs (a restore rolled back, a scratch database dropped, the lock
        # released), then exit 143.
        with sigterm_as_interrupt(), _waits_said(ctx, args):
            code: int = handler(ctx)
        # Done, but its lock row could not be released: only a command that loaded the lock
        # can have one (`status --json`, `check` never load it: test_startup).
        oplock = sys.modules.get("malnu_tui.engine.oplock")
        for line in oplock.unsaid_locks() if oplock is not None else ():
            ctx.message(f"warning: {line}")
        base = sys.modules.get("malnu_tui.engine.backends.base")
        for line in base.unsaid_upgrades() if base is not None else ():
            ctx.message(f"warning: {line}")  # (an audit index left unmade)
        return code
    except MalnuError as exc:
        _say_durable(ctx, exc)
        ctx.error(exc)
        for note in getattr(exc, "__notes__", ()):  # what the failure left (a lock row)
            ctx.message(f"note: {note}")
        if getattr(args, "command", None) == "check":  # before check could check (its config)
            from malnu_tui.cli.monitor import say_unknown

            prom = ctx.opt("prometheus", None)
            with contextlib.suppress(OSError):  # (stdout itself may be what failed)
                if not (ctx.lines or ctx.documents):  # (never a second summary or document)
                    say_unknown(str(exc), json=ctx.json, prometheus=prom, message=ctx.message)
            from malnu_tui.cli.monitor import exit_after

            return exit_after(ctx.said_status)
        return exc.exit_code
    except BrokenPipeError:
        # The reader of our stdout went away (e.g. `| head`): not an error of ours.
        reader_gone()
        if getattr(args, "command", None) == "check":
            # Its exit is the health it said (stdout's reader gone: cmd_check keeps it too);
            # stderr's reader gone after a CRITICAL summary (`--alert 2>&1 | logger`, the
            # logger dead) exited 0, OK. Gone before it said any: UNKNOWN, nothing checked.
            from malnu_tui.cli.monitor import exit_after

            return ctx.said_status if ctx.said_status is not None else exit_after(None)
        return 0
    except HungUp as exc:
        with contextlib.suppress(OSError):
            _say_durable(ctx, exc)  # (to a script's pipe; a terminal gone: to /dev/null)
            ctx.message("hung up")  # (to /dev/null when it was the terminal that went away)
            for note in getattr(exc, "__notes__", ()):
                ctx.message(f"note: {note}")
        if _said_critical(ctx, args):
            # As SIGTERM: `check` over SSH, the session dropped after its CRITICAL summary.
            return 2
        return 129
    except Terminated as exc:
        _say_durable(ctx, exc)
        ctx.message("terminated")
        for note in getattr(exc, "__notes__", ()):  # what the stop left (engine: add_note)
            ctx.message(f"note: {note}")
        if _said_critical(ctx, args):
            # Its CRITICAL summary already printed (`timeout 30 malnu-tui check --alert`, the
            # alerts cut short): 143 read as UNKNOWN, and many setups page on CRITICAL alone.
            return 2
        return 143
    except KeyboardInterrupt as exc:
        _say_durable(ctx, exc)
        ctx.message("interrupted")
        for note in getattr(exc, "__notes__", ()):
            ctx.message(f"note: {note}")
        return 130
    except Exception as exc:
        # A damaged SQLite file fails wherever it is first read (a lock row, a migration
        # row): one line and the way out, not a traceback, wherever that is. Any other
        # database error on a path that does not say it yet: one masked line too, exit 1.
        from malnu_tui.engine.errors import DatabaseDamaged, sqlite_damaged

        if getattr(args, "command", None) == "check":
            return _check_failed(ctx, exc)
        unexpected = _database_error(exc)
        if unexpected is None:
            raise
        _say_durable(ctx, exc)  # (a rollback done, its status re-read on a database gone)
        try:
            where = ctx.target.display_url
        except Exception:
            where = "the database"
        if sqlite_damaged(exc):
            ctx.error(DatabaseDamaged(where, str(exc)))
        else:
            hint = _disk_hint(ctx, exc) or _UNEXPECTED_HINT
            ctx.error(MalnuError(f"{where}: {unexpected}", hint=hint))
        return 1
    finally:
        ctx.close()


def _said_critical(ctx: Context, args: argparse.Namespace) -> bool:
    """``check`` whose summary line (or JSON document) saying CRITICAL is out: a SIGTERM (or
    SIGHUP) after it ends 2, as any failure after it does
    (:func:`~malnu_tui.cli.monitor.exit_after`); one before it (or after an OK or WARNING)
    stays 143 (129); Ctrl-C, an operator's, stays 130."""
    begun = ctx.lines or ctx.documents
    return getattr(args, "command", None) == "check" and bool(begun) and ctx.said_status == 2


def _check_failed(ctx: Context, exc: Exception) -> int:
    """``check`` met what it did not expect (a database error no path said, its stdout on a
    full disk, a bug): UNKNOWN (3), unless the summary it had printed said CRITICAL (2); one
    ``error:`` line and the summary line where stdout still takes it. It was a traceback and
    exit 1, which Nagios and Icinga read as WARNING: a check that could not check went on
    looking like a minor problem."""
    from malnu_tui.cli.monitor import exit_after, say_unknown

    said = _database_error(exc) or " ".join(str(exc).split()) or type(exc).__name__
    reason = f"check failed unexpectedly: {type(exc).__name__}: {said}"
    with contextlib.suppress(OSError):
        ctx.error(MalnuError(reason, hint=_UNEXPECTED_CHECK_HINT))
    if not (ctx.lines or ctx.documents):  # (never a second summary, nor a second document)
        prom = ctx.opt("prometheus", None)
        with contextlib.suppress(OSError):  # (stdout itself may be what failed)
            say_unknown(reason, json=ctx.json, prometheus=prom, message=ctx.message)
    return exit_after(ctx.said_status)  # (a CRITICAL already printed stays CRITICAL)


_UNEXPECTED_CHECK_HINT = (
    "run it again with --debug and report it; until then the targets' health is not known"
)


def _say_durable(ctx: Context, exc: BaseException) -> None:
    """--json: a command stopped (an error, Ctrl-C, SIGTERM) prints nothing on stdout, but
    what it left durable (the migrations applied before it stopped, a recover's restore, the
    tables a sync finished) is its one document, said before the ``error:`` (or
    ``interrupted``) line; never a second one after a document already begun."""
    from malnu_tui.engine.errors import durable_report

    report = durable_report(exc)
    if ctx.json and report is not None and not ctx.documents:
        try:
            with contextlib.suppress(KeyboardInterrupt):  # a second one: it is whole, and ending
                ctx.out_json(report)
        except BrokenPipeError:  # its reader gone (a `| jq` killed): ended as it would be
            reader_gone()  # (a traceback, exit 1, where SIGTERM's 143 was due)


_UNEXPECTED_HINT = (
    "malnu-tui did not expect this error here: `malnu-tui status` and `malnu-tui log` show "
    "what stands (a migration or an import commits whole or not at all); run it again with "
    "--debug to see the statement, and report it"
)


def _disk_hint(ctx: Context, exc: BaseException) -> str | None:
    """The disk's hint for a SQLite target's "disk I/O error" or "database or disk is full"
    that no path said yet: a database in rollback-journal mode (as an application or the
    sqlite3 shell makes it) on a disk a few KiB short of its -shm stopped every command, its
    first read, with "malnu-tui did not expect this error here … report it"."""
    from malnu_tui.engine.backends.sqlite_open import disk_hint
    from malnu_tui.engine.urls import sqlite_path, url_kind

    try:
        url = ctx.target.url
        return disk_hint(sqlite_path(url), exc) if url_kind(url) == "sqlite" else None
    except Exception:
        return None


def _database_error(exc: BaseException) -> str | None:
    """``exc`` as one line when it is a database driver's error (sqlite3's, psycopg's) that
    reached the top unsaid; None for anything else (a bug: its traceback is wanted)."""
    import sqlite3

    if isinstance(exc, sqlite3.Error):
        return str(exc) or type(exc).__name__
    psycopg = sys.modules.get("psycopg")  # (never imported here just to ask)
    if psycopg is not None and isinstance(exc, psycopg.Error):
        from malnu_tui.engine.backends.pg_sql import error_text

        return error_text(exc)
    return None


def _waits_said(ctx: Context, args: argparse.Namespace) -> contextlib.AbstractContextManager[None]:
    """A long wait (a D1 retry's backoff, a Retry-After) said on stderr as it starts, so an
    operator never takes it for a hang; not by ``check``, whose output is the plugin's."""
    from malnu_tui.engine.observe import observing_waits

    if getattr(args, "command", None) == "check":
        return contextlib.nullcontext()
    return observing_waits(lambda text: ctx.message(f"waiting: {text}"))


def _register_secrets_of(argv: Sequence[str]) -> None:
    """The secrets of every URL on the command line (``--database``, ``--postgres``, ``--from``,
    ``--to``, and one typed where it does not belong) join those every message is masked of,
    before anything can quote them: a usage error, or ``--config`` given the URL (a path, where
    ``//`` is folded to ``/`` and no URL pattern matches any more)."""
    values = [a.partition("=")[2] if a.startswith("--") else a for a in argv]
    urls = [v for v in values if "@" in v or "=" in v]  # user:password@, ?password=
    if not urls:
        return
    from malnu_tui.engine.monitor.debuglog import register_secret
    from malnu_tui.engine.urls import url_secrets

    for url in urls:
        for secret in url_secrets(url):
            register_secret(secret)


def _debug_mode(ctx: Context, *, console: bool) -> None:
    """``--debug``, ``MIGRATION_DEBUG=1`` or ``MALNU_DEBUG=1``: statement and D1 request lines
    on stderr (not under the console, which owns the terminal) and in ``[log] file``."""
    import os

    from malnu_tui.engine.monitor.debuglog import configure, debug_wanted

    if not debug_wanted(os.environ, bool(ctx.opt("debug", False))):
        return
    from malnu_tui.engine.monitor.config import load_monitor_config

    cfg = load_monitor_config(ctx.settings)
    warning = configure(
        debug=True,
        log_file=cfg.log_file,
        max_bytes=cfg.log_max_bytes,
        backups=cfg.log_backups,
        to_stderr=not console,
        said=None if console else (lambda text: ctx.message(f"warning: {text}")),
    )
    if warning:
        ctx.message(f"warning: {warning}")


if __name__ == "__main__":
    sys.exit(main())
