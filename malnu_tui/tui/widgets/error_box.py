"""An error shown in place, with the hint that says what to do next."""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.text import Text

from malnu_tui.tui.widgets.plain import Static

if TYPE_CHECKING:
    from malnu_tui.engine.problems import Problem

# The engine's hints name CLI commands; inside the console the key that does it is the hint.
CONSOLE_KEYS = {
    "unlock": "press U on the status screen (unlock)",
    "repair": "select the migration and press D on the status screen (accept drift)",
    "clear-failed": "select the migration and press C on the status screen (clear failed)",
    "status": "look at the status screen (ctrl+r refreshes it)",
    # Named by its screen: inside a wizard, b is Back ("press b (backups) shows what exists"
    # read as an order, and did something else).
    "backup list": "the backups screen (b on the status screen)",
    "backup create": "c on the backups screen (b on the status screen)",
    "backup restore": "o on the backups screen (b on the status screen), the backup selected",
    "plan": "press a (the apply plan)",
    "rollback": "press r (emergency rollback)",
    "up": "press a (apply)",
}
_CLI = re.compile(r"(?:run )?`malnu-tui ([a-z-]+(?: [a-z-]+)?)[^`]*`")
# Flags the console has a key for: the rollback wizard's preview accepts edited files.
CONSOLE_FLAGS = {
    "run the edited file with `rollback --accept-edited-rollback`": (
        "press a (accept edited) to run the edited file as it is now"
    ),
    "run the edited file with `recover --accept-edited-rollback`": (
        "press a (accept edited) to run the edited file as it is now"
    ),
    # The console has none for this one: said as the shell command it is.
    "or run `malnu-tui up --accept-lint` (audited)": (
        "or accept them with the CLI's `up --accept-lint` from a shell (audited; the console "
        "does not accept lint errors)"
    ),
}


def lock_warnings(lines: Sequence[str]) -> Text:
    """Lock rows that work which succeeded left (:func:`malnu_tui.tui.session.locks_left`), as
    its result says them: the CLI's ``warning:`` lines, with the console's keys."""
    text = Text()
    for line in lines:
        text.append(f"⚠ warning: done, but: {console_hint(line)}\n", style="bold yellow")
    return text


def console_hint(hint: str) -> str:
    """``hint`` with each "`malnu-tui COMMAND …`" replaced by the console's key for it."""

    def swap(m: re.Match[str]) -> str:
        words = m.group(1)
        for command in (words, words.split(" ")[0]):
            if command in CONSOLE_KEYS:
                return CONSOLE_KEYS[command]
        return m.group(0)

    for flag, key in CONSOLE_FLAGS.items():
        hint = hint.replace(flag, key)
    return _CLI.sub(swap, hint)


_SHELL = re.compile(r"`malnu-tui (adopt|status)\b")


def for_shell(text: str, target: str) -> str:
    """``text`` (what ``status`` and ``up`` say of another tool's history) with the CLI
    commands the console has no key for named as a shell runs them on ``target``: `malnu-tui
    adopt --target school …` (run as written, on the config's default target, they adopted
    or refused on another tab's database), and `up --unrelated-history` as the shell command
    it is (the console's apply does not take it)."""
    name = shlex.quote(target)
    text = text.replace(
        "`up --unrelated-history`",
        f"the CLI's `malnu-tui up --target {name} --unrelated-history` from a shell (the "
        "console's apply does not take it)",
    )
    return _SHELL.sub(lambda m: f"`malnu-tui {m.group(1)} --target {name}", text)


def problem_text(problem: Problem) -> str:
    """A preflight's problem as every console screen lists it: its text with its way out
    (the engine's :func:`~malnu_tui.engine.problems.with_hint`), the hint naming the
    console's key where the CLI names a command."""
    from malnu_tui.engine.problems import with_hint

    return with_hint(problem, console_hint)


class ErrorBox(Static):
    """Hidden until :meth:`show_error`; ``✘`` and the word ``error`` read without colour."""

    DEFAULT_CLASSES = "error-box"

    def on_mount(self) -> None:
        self.display = False

    def show_error(self, message: str, hint: str = "") -> None:
        from malnu_tui.engine.monitor.debuglog import mask_secrets

        text = Text()
        text.append("✘ error: ", style="bold")
        text.append(mask_secrets(message))  # as the CLI's error: and hint: lines
        if hint:
            text.append("\n  hint: ", style="bold")
            text.append(console_hint(mask_secrets(hint)))
        self.update(text)
        self.display = True

    def clear(self) -> None:
        self.update("")
        self.display = False
