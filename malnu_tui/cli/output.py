"""Human output: tables with rich (imported only when a table is printed)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TextIO


def print_table(
    stream: TextIO,
    headers: Sequence[str],
    rows: Sequence[Sequence[object]],
    *,
    title: str | None = None,
) -> None:
    """A table on ``stream``; colour only on a terminal and never with NO_COLOR."""
    from rich.console import Console
    from rich.table import Table

    tty = stream.isatty()
    console = Console(
        file=stream,
        no_color=bool(os.environ.get("NO_COLOR")) or not tty,
        width=None if tty else 160,
        highlight=False,
        soft_wrap=False,
    )
    table = Table(title=title, title_justify="left", box=None, pad_edge=False)
    for h in headers:
        table.add_column(h, overflow="fold")
    for r in rows:
        table.add_row(*("" if c is None else str(c) for c in r))
    console.print(table)
