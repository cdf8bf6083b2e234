"""The ``malnu-tui`` console script and ``python -m malnu_tui``: the CLI's ``main``, with a Ctrl-C
that comes before the command's own handling is in place (while the CLI is imported, or its
command line read) said in one line, exit 130, as every later one is: it printed a Python
traceback. Nothing has been opened or changed by then."""

from __future__ import annotations

import sys


def _interrupted() -> int:
    print("interrupted", file=sys.stderr)
    return 130


def main() -> int:
    """Run the CLI on ``sys.argv``; returns the exit code."""
    try:
        from malnu_tui.cli import main as run_cli
    except KeyboardInterrupt:
        return _interrupted()
    try:
        return run_cli()
    except KeyboardInterrupt:  # the command's own handler says one that comes later
        return _interrupted()
