"""What every command handler gets: the resolved target, the backend, output helpers and the
confirmation rule for destructive work."""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import signal
import sys
import threading
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, TextIO

from malnu_tui.engine.errors import MalnuError, NotConfirmed
from malnu_tui.engine.interrupts import (
    ignored,
    mute_gone_terminal,
    statements_interruptible,
    stop_for,
)

if TYPE_CHECKING:
    from malnu_tui.engine.backends.base import Backend
    from malnu_tui.engine.config import Settings, Target
    from malnu_tui.engine.files import MigrationSet


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated`, SIGHUP :class:`HungUp` and Ctrl-C
    KeyboardInterrupt (main thread only): the first of them only. Later ones (CI's SIGTERM 7.5 s
    after its SIGINT, systemd's SIGHUP after its SIGTERM, a second Ctrl-C) raised again wherever
    the first one's clean-up was (its rollback, the run row, the lock's release). They are
    noted now (said once) and the command ends with the first one's exit code, as the
    console's workers take a stop only once (:func:`~malnu_tui.engine.interrupts.stop_workers`)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    first: list[int] = []

    def stop(signum: int, _frame: object) -> None:
        if first:
            if len(first) == 1:  # (os.write: a handler may come in the middle of a print)
                with contextlib.suppress(OSError):
                    os.write(2, b"already stopping: cleaning up\n")
            first.append(signum)
            return
        first.append(signum)
        if signum == signal.SIGHUP:
            mute_gone_terminal()  # (what the clean-up would print there would fail half way)
        raise stop_for(signum)

    # (`nohup malnu-tui sync …`: its SIGHUP, ignored, was made to stop the command all the same)
    signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    before = {s: signal.signal(s, stop) for s in signals if not ignored(s)}
    try:
        with statements_interruptible(lambda: bool(first)):  # (a SQLite one: it waited)
            yield
    finally:
        for s, handler in before.items():
            signal.signal(s, signal.SIG_DFL if handler is None else handler)


class Context:
    def __init__(
        self,
        args: argparse.Namespace,
        *,
        stdout: TextIO | None = None,
        stderr: TextIO | None = None,
        stdin: TextIO | None = None,
    ) -> None:
        self.args = args
        # Every write through it (a table, a line, JSON) that fails is kept: _stdout_failure.
        self.stdout: TextIO = _WatchedStdout(stdout or sys.stdout, self)  # type: ignore[assignment]
        self.stderr = stderr or sys.stderr
        self.stdin = stdin or sys.stdin
        self._settings: Settings | None = None
        self._target: Target | None = None
        self._backend: Backend | None = None
        self._mset: MigrationSet | None = None
        # The options a command quoted in a message is given (:meth:`message`): the target's
        # (:attr:`Target.again`) unless a command works on something else (a sync's pair:
        # then only that command is given them).
        self.again_options: tuple[str, ...] | None = None
        self.documents = 0  # JSON documents written on stdout (one a command)
        self.unwritten: OSError | None = None  # stdout failed (a full disk): OutputNotWritten
        self.lines = 0  # lines of text begun on stdout by out()
        # ``check``: the status its printed summary (or JSON) says, once it is begun: a
        # failure after it (stderr on a full disk) is UNKNOWN unless that said worse.
        self.said_status: int | None = None

    # -- options ----------------------------------------------------------------------------
    def opt(self, name: str, default: Any = None) -> Any:
        return getattr(self.args, name, default)

    @property
    def json(self) -> bool:
        return bool(self.opt("json", False))

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from malnu_tui.engine.config import load_settings

            self._settings = load_settings(config=self.opt("config"))
            for warning in self._settings.warnings:
                self.message(f"warning: {warning}")
        return self._settings

    @property
    def target(self) -> Target:
        if self._target is None:
            from dataclasses import replace

            from malnu_tui.engine.config import resolve_target
            from malnu_tui.engine.rerun import target_options

            target = resolve_target(
                self.settings,
                name=self.opt("target"),
                database=self.opt("database"),
                migrations_dir=self.opt("migrations_dir"),
                rollback_dir=self.opt("rollback_dir"),
            )
            again = tuple(target_options(self.settings, target))
            self._target = replace(target, again=again)
        return self._target

    def again(self, *words: str) -> str:
        """``malnu-tui WORDS`` naming this same target, config and directories: a command
        printed for the operator to copy and run next, from any directory."""
        from malnu_tui.engine.rerun import command

        return command(self.settings, self.target, *words)

    def backend(self) -> Backend:
        if self._backend is None:
            from malnu_tui.engine.config import open_backend

            # A dry run writes nothing: no tool table created or upgraded, no file created.
            dry = bool(self.opt("dry_run", False))
            new_ok = dry and self.opt("command") == "up"  # what the first `up` would make
            if self._needs_its_file():
                from malnu_tui.engine.config import require_existing

                require_existing(self.target)
            self._backend = open_backend(self.target, dry_run=dry, new_ok=new_ok)
            self._backend.ensure_schema()
        return self._backend

    def _needs_its_file(self) -> bool:
        """Commands that act on what a database already holds (its tracking rows, lock row,
        backups): a SQLite path naming no file (a typo; an app.db moved aside to restore) was
        made into an empty database, the school app's path included, and the command said
        "nothing to roll back" (exit 0). ``status``, ``up``, ``backup create``/``restore``
        and ``recover`` keep their own rules (a restore into a file moved aside makes it)."""
        command = self.opt("command")
        if command == "backup":
            return self.opt("backup_command") in ("prune", "delete")
        return command in ("rollback", "repair", "clear-failed", "unlock")

    def peek(self) -> Backend:
        """The target (or the one already open) opened as a dry run opens it, for commands
        that only look (``plan``, ``diff``, ``lint``): nothing created or upgraded, a database
        without the tool's tables (or a SQLite file not made yet) read as nothing applied."""
        if self._backend is None:
            from malnu_tui.engine.config import open_backend

            self._backend = open_backend(self.target, dry_run=True, new_ok=True)
            self._backend.ensure_schema()
        return self._backend

    def viewer(self) -> Backend:
        """The target as :meth:`backend` opens it (``status``, ``verify``: a new database gets
        the tool's tables, an earlier version's are upgraded), but one this user may not write
        (a read-only file or directory, a SELECT-only role, a read-only session, a hot
        standby) read as it is, as :meth:`peek` reads it: it was an error (exit 2) and showed
        nothing."""
        if self._backend is not None:
            return self._backend
        from malnu_tui.engine.errors import BackendError, NotPermitted

        try:
            return self.backend()
        except BackendError as exc:
            self.close()
            # Not allowed to write (NotPermitted), or to create or upgrade the tool tables (a
            # role without CREATE or ownership): read; any other failure is said as it was.
            if not isinstance(exc, NotPermitted) and "GRANT CREATE" not in (exc.hint or ""):
                raise
            backend = self.peek()
            from malnu_tui.engine.monitor.debuglog import mask_secrets, one_line

            said = one_line(mask_secrets(str(exc))).removesuffix("; nothing was changed")
            self.message(f"note: read as it is, nothing created or upgraded: {said}")
            return backend

    def reader(self) -> Backend:
        """The target opened for reading only (``history``, ``log``): nothing is created or
        changed there; a database the tool never used is NotInitialised (exit 1)."""
        if self._backend is None:
            from malnu_tui.engine.config import open_backend

            self._backend = open_backend(self.target, read_only=True)
        return self._backend

    def migration_set(self) -> MigrationSet:
        if self._mset is None:
            from malnu_tui.engine.config import check_own_set
            from malnu_tui.engine.files import discover

            t = self.target
            check_own_set(t)
            self._mset = discover(t.migrations_dir, t.rollback_dir, t.files_dialect)
        return self._mset

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()
            self._backend = None

    # -- output: data on stdout, messages on stderr ----------------------------------------
    def out(self, text: str = "") -> None:
        self.lines += 1
        print(text, file=self.stdout)

    def out_pieces(self, pieces: Iterable[str]) -> None:
        """:meth:`out` of the text made of ``pieces``, written as they come."""
        for piece in pieces:
            self.stdout.write(piece)
        self.stdout.write("\n")

    def flush_out(self) -> None:
        """stdout written out before the command reports success: on a full disk the flush
        at the interpreter's exit failed, and Python's exit 120 replaced the command's 0."""
        self.stdout.flush()

    @contextlib.contextmanager
    def _stdout_failure(self) -> Iterator[None]:
        """A failed write to stdout other than its reader gone (BrokenPipeError, said as
        before) is kept in ``unwritten`` (cli.main says it as :class:`OutputNotWritten`), and
        what stays in the buffer is dropped, so the exit's flush does not fail again."""
        try:
            yield
        except OSError as exc:
            self._stdout_failed(exc)
            raise

    def _stdout_failed(self, exc: OSError) -> None:
        """:meth:`_stdout_failure`'s work: kept unless the reader is gone (BrokenPipeError,
        said as before), the buffer dropped."""
        if isinstance(exc, BrokenPipeError):
            return
        self.unwritten = exc
        reader_gone(self.stdout)

    def out_json(self, data: object) -> None:
        """``data`` as JSON on stdout; a :class:`JsonList` in it is written item by item where
        it stands (a large seed's statements are never held as one document)."""
        # Indented for a person at a terminal; compact (and C-encoded, so fast) for programs.
        indent = 2 if _isatty(self.stdout) else None
        lists: dict[str, JsonList] = {}

        def later(value: object) -> object:
            if isinstance(value, JsonList):
                lists[json.dumps(value.marker)] = value
                return value.marker
            return str(value)

        try:
            text = json.dumps(data, indent=indent, default=later, allow_nan=False)
        except ValueError:  # NaN/Infinity are not JSON (jq's -e, Go, Node refuse them): null
            lists.clear()
            text = json.dumps(_finite(data), indent=indent, default=later, allow_nan=False)
        self.documents += 1  # (begun: a stop while it is written adds no second one)
        for marker, items in lists.items():
            head, text = text.split(marker, 1)
            self.stdout.write(head)
            self.stdout.writelines(items.encoded(indent, _line_indent(head)))
        from malnu_tui.engine.interrupts import interrupts_held

        # Whole or not at all: a Ctrl-C or SIGTERM as it is written (a slow reader, a large
        # report) is acted on once it is out, where a document cut short is no JSON.
        with interrupts_held() as held, self._stdout_failure():
            _write_whole(self.stdout, text + "\n")
        if held.came:
            signal.raise_signal(held.signals[0])

    def message(self, text: str) -> None:
        from malnu_tui.engine.again import whole_commands

        print(self.named(whole_commands(text)), file=self.stderr)

    def named(self, text: str) -> str:
        """``text`` with each `malnu-tui …` it quotes naming the target worked on."""
        if "`malnu-tui " in text:
            # A command a hint or warning quotes names the target worked on, so it runs as
            # copied from any directory (the engine's text names none).
            from malnu_tui.engine.again import name_target_in

            if self.again_options is not None:
                text = name_target_in(text, self.again_options, self.opt("command"))
            elif self._target is not None:
                text = name_target_in(text, self._target.again)
        return text

    def error(self, exc: MalnuError) -> None:
        from malnu_tui.engine.monitor.debuglog import mask_secrets, one_line

        # Every error of every command passes here: the last place a secret can be caught,
        # and where a message quoted from elsewhere (libpq's "Connection refused\n\tIs the
        # server running…") is folded into the one `error:` line scripts read.
        self.message(one_line(mask_secrets(f"error: {exc}")))
        if exc.hint:
            self.message(one_line(mask_secrets(f"hint: {exc.hint}")))

    def require_terminal(self) -> None:
        """The console reads keys from stdin and draws on stderr (Textual's way): without a
        terminal on both (cron, CI, ``ssh host malnu-tui`` without ``-t``) it would write
        escape codes into a pipe and wait for keys for ever. Refuse instead (exit 2)."""
        missing = [n for n, f in (("stdin", self.stdin), ("stderr", self.stderr)) if not _isatty(f)]
        if missing:
            from malnu_tui.engine.errors import NoTerminal

            raise NoTerminal(
                f"the console needs a terminal: {' and '.join(missing)} "
                f"{'is' if len(missing) == 1 else 'are'} not one here",
                hint="in scripts use a command: `malnu-tui status`, `malnu-tui up`, … "
                "(`malnu-tui --help` lists them); over ssh, `ssh -t`",
            )

    # -- confirmation -----------------------------------------------------------------------
    def confirm(self, what: str, expected: str) -> None:
        """Go on only with ``--yes``, or when the operator types ``expected`` at a terminal.

        Without a terminal and without ``--yes`` this refuses (scripts must say so).
        """
        if self.opt("yes", False):
            return
        if not _isatty(self.stdin):
            raise NotConfirmed(
                f"refusing to {what} without confirmation: no terminal to ask on",
                hint="re-run with --yes once you have read the plan above",
            )
        self.message(f"About to {what}.")
        self.stderr.write(f"Type the database name ({expected}) to go on, anything else stops: ")
        self.stderr.flush()
        from malnu_tui.engine.problems import is_confirmed

        answer = self.stdin.readline().strip()
        if not is_confirmed(answer, expected):
            raise NotConfirmed(f"not confirmed (typed {answer!r}); nothing was changed")


class JsonList:
    """A list for :meth:`Context.out_json` to write item by item, as ``json.dumps`` would
    write the list (items: JSON values without NaN)."""

    def __init__(self, items: Iterable[object]) -> None:
        self.items = items
        self.marker = f"\x00list {id(self)}\x00"

    def encoded(self, indent: int | None, pad: str) -> Iterator[str]:
        """The list's JSON in pieces, at a line indented by ``pad`` (with ``indent``)."""
        if indent is None:
            sep, inner = ", ", ""
        else:
            sep, inner = ",", "\n" + pad + " " * indent
        yield "["
        first = True
        for item in self.items:
            text = json.dumps(item, indent=indent, default=str, allow_nan=False)
            if indent is not None:
                text = inner + text.replace("\n", inner)
            yield text if first else sep + text
            first = False
        if indent is not None and not first:
            yield "\n" + pad
        yield "]"


class _WatchedStdout:
    """A command's stdout whose failed writes (a full disk) are kept on its :class:`Context`
    (``unwritten``), so cli.main says them in one line, and whose buffer is then dropped;
    everything else is the stream's own."""

    def __init__(self, stream: TextIO, ctx: Context) -> None:
        self._stream = stream
        self._ctx = ctx

    # A plain try on the hot path: a context manager a write cost ~3.8 µs (a million-line
    # listing ~8 s more); the failure is handled by the one method.
    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except OSError as exc:
            self._ctx._stdout_failed(exc)
            raise

    def writelines(self, lines: Iterable[str]) -> None:
        try:
            self._stream.writelines(lines)
        except OSError as exc:
            self._ctx._stdout_failed(exc)
            raise

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as exc:
            self._ctx._stdout_failed(exc)
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _write_whole(stream: TextIO, text: str) -> None:
    """``text`` on ``stream``, all of it: a write into a pipe that a signal interrupts part way
    is short, and Python's text stream drops the rest without a word (its buffered writer
    returns the short count): written to the file descriptor until it is all out."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):  # not a file (a test's StringIO)
        stream.write(text)
        stream.flush()
        return
    stream.flush()
    data = memoryview(text.encode(stream.encoding or "utf-8", "backslashreplace"))
    while data:
        data = data[os.write(fd, data) :]


def _line_indent(text: str) -> str:
    """The blanks that start the last line of ``text``."""
    line = text[text.rfind("\n") + 1 :]
    return line[: len(line) - len(line.lstrip(" "))]


def _finite(data: object) -> object:
    """``data`` with every NaN or infinite float replaced by None (JSON's null, as
    ``JSON.stringify`` writes them): a figure that does not exist, such as the age of a backup
    never taken, is null in ``--json`` output (the Prometheus file keeps NaN)."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {k: _finite(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_finite(v) for v in data]
    return data


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty() and os.environ.get("MALNU_ASSUME_NO_TTY") != "1"
    except (AttributeError, ValueError):
        return False


def reader_gone(stream: TextIO | None = None) -> None:
    """What is still written to ``stream`` (stdout), whose reader went away or whose disk is
    full, is dropped."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, (stream or sys.stdout).fileno())
        os.close(devnull)
