"""The Textual console. Importing this package is cheap; Textual loads in run_console."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from malnu_tui.cli.context import Context


def run_console(ctx: Context) -> int:
    """Open the console on the context's settings and target; returns the exit code."""
    from malnu_tui.tui.app import MalnuApp

    app = MalnuApp(settings=ctx.settings, target=ctx.target)
    app.run()
    return int(app.return_code or 0)
