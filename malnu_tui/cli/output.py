"""Human output: tables, laid out here when they fit the width, by rich when they must wrap.

Cells are data (file names, error messages, table names), never markup: a cell holding ``[/]``
or ``[bold]`` is printed as written. Laying out a table that fits takes a join per row; rich's
own layout of every cell took 2.6 s of a 2,000-migration ``status``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import TextIO

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # a line break, a tab: rich folds or expands them
_BOLD, _ITALIC, _RESET = "\x1b[1m", "\x1b[3m", "\x1b[0m"
PLAIN_WIDTH = 160  # the width of a table written to a file or a pipe


def print_table(
    stream: TextIO,
    headers: Sequence[str],
    rows: Sequence[Sequence[object]],
    *,
    title: str | None = None,
) -> None:
    """A table on ``stream``; colour only on a terminal and never with NO_COLOR."""
    from rich.cells import cell_len

    tty = stream.isatty()
    colour = tty and not os.environ.get("NO_COLOR")
    n = len(headers)
    cells = [[("" if c is None else str(c)) for c in r][:n] + [""] * (n - len(r)) for r in rows]
    width = _terminal_width(stream) if tty else PLAIN_WIDTH
    widths = [cell_len(h) for h in headers]
    for r in cells:
        for i, c in enumerate(r):
            n = cell_len(c)
            if n > widths[i]:
                widths[i] = n
    total = sum(widths) + 2 * max(len(widths) - 1, 0)
    odd = any(_CONTROL.search(c) for r in cells for c in r) or (
        title is not None and (_CONTROL.search(title) or cell_len(title) > total)
    )
    if total > width or odd:
        _rich_table(stream, headers, cells, title, tty, colour)
        return

    def line(values: Sequence[str]) -> str:
        return "  ".join(v + " " * (w - cell_len(v)) for v, w in zip(values, widths, strict=True))

    out: list[str] = []
    if title is not None:
        pad = " " * (total - cell_len(title))
        out.append(f"{_ITALIC}{title}{_RESET}{pad}" if colour else title + pad)
    head = line(headers)
    out.append(f"{_BOLD}{head}{_RESET}" if colour else head)
    out.extend(line(r) for r in cells)
    stream.write("\n".join(out) + "\n")


def _terminal_width(stream: TextIO) -> int:
    from rich.console import Console

    return Console(file=stream).width


def _rich_table(
    stream: TextIO,
    headers: Sequence[str],
    cells: Sequence[Sequence[str]],
    title: str | None,
    tty: bool,
    colour: bool,
) -> None:
    """A table too wide for the terminal (its cells folded), or with line breaks in cells."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(
        file=stream,
        no_color=not colour,
        width=None if tty else PLAIN_WIDTH,
        highlight=False,
        soft_wrap=False,
    )
    table = Table(
        title=None if title is None else Text(title),
        title_justify="left",
        box=None,
        pad_edge=False,
    )
    for h in headers:
        table.add_column(Text(h), overflow="fold")
    for r in cells:
        table.add_row(*(Text(c) for c in r))
    console.print(table)
