"""The ``malnu-tui`` console script and ``python -m malnu_tui``: the CLI's ``main``, with a Ctrl-C
that comes before the command's own handling is in place (while the CLI is imported, or its
command line read) said in one line, exit 130, as every later one is: it printed a Python
traceback. Nothing has been opened or changed by then."""

from __future__ import annotations

import sys


def _interrupted() -> int:
    print("interrupted", file=sys.stderr)
    return 130


def _interrupt_behind(exc: RuntimeError) -> KeyboardInterrupt | None:
    """The Ctrl-C (or SIGTERM) that ``exc`` wraps: Python 3.11 turns one that comes while a
    class is made (a dataclass's ``field()`` named, as a module is imported) into
    ``RuntimeError: Error calling __set_name__ …``, which printed a traceback."""
    cause = exc.__cause__
    return cause if isinstance(cause, KeyboardInterrupt) else None


def _stderr_settled(code: int) -> int:
    """``code``, with stderr's buffer flushed; where stderr itself failed (a full disk, its
    reader gone: the command said so in its code), what stays in it is dropped: flushed at the
    interpreter's exit it failed again, and Python's own exit 120 replaced the command's code
    (a CRITICAL check's 2) where Python buffers a stderr that is no terminal."""
    try:
        sys.stderr.flush()
    except (OSError, ValueError):
        from malnu_tui.cli.context import reader_gone

        reader_gone(sys.stderr)
    return code


def main() -> int:
    """Run the CLI on ``sys.argv``; returns the exit code."""
    try:
        from malnu_tui.cli import main as run_cli
    except KeyboardInterrupt:
        return _interrupted()
    except RuntimeError as exc:
        if _interrupt_behind(exc) is None:
            raise
        return _interrupted()
    try:
        return _stderr_settled(run_cli())
    except KeyboardInterrupt:  # the command's own handler says one that comes later
        return _interrupted()
    except RuntimeError as exc:  # one the command's handler did not see: said as it says it
        stop = _interrupt_behind(exc)
        if stop is None:
            raise
        from malnu_tui.engine.interrupts import HungUp, Terminated

        if isinstance(stop, HungUp):
            return 129
        if isinstance(stop, Terminated):
            print("terminated", file=sys.stderr)
            return 143
        return _interrupted()
