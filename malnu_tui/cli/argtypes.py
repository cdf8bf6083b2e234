"""argparse ``type=`` functions for values whose bad forms must be a usage error (exit 2, one
line naming the value) instead of a failure deep inside a command."""

from __future__ import annotations

import argparse
from collections.abc import Callable

MAX_COUNT = 1_000_000_000  # beyond any real number of rows or migrations; SQLite-safe


def not_empty(value: str) -> str:
    """An option value that must say something: ``--database ""`` (an unset variable in a
    script) must not fall back silently to the configured or embedded database."""
    if not value.strip():
        raise argparse.ArgumentTypeError("must not be empty (an unset variable?)")
    return value


def table_names(value: str) -> str:
    """``--tables a,b``: at least one name (``--tables ,`` or ``""``, a script's empty list, is
    not "every table")."""
    if not any(name.strip() for name in value.split(",")):
        raise argparse.ArgumentTypeError(f"no table names in {value!r}")
    return value


def count(value: str) -> int:
    """A whole number from 1 to a billion (``--limit``, ``--keep``)."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
    if not 1 <= number <= MAX_COUNT:
        raise argparse.ArgumentTypeError(f"must be from 1 to {MAX_COUNT:,}, got {value!r}")
    return number


def times_read(*dests: str) -> Callable[[argparse.Namespace], None]:
    """A ``line_check`` (see ``malnu_tui.cli.check_line``) for the options holding a time
    (``recover --to``, ``history --since``): read as the command reads it, before anything is
    opened (a bad one was said after the database, or D1, had been reached)."""

    def check(args: argparse.Namespace) -> None:
        from malnu_tui.engine.clock import parse_when

        for dest in dests:
            value = getattr(args, dest, None)
            if value is not None:
                parse_when(value)

    return check
