"""An error shown in place, with the hint that says what to do next."""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.text import Text
from textual.containers import VerticalScroll

from malnu_tui.tui.widgets.hanging import Hanging
from malnu_tui.tui.widgets.plain import Static

if TYPE_CHECKING:
    from textual.app import ComposeResult

    from malnu_tui.engine.problems import Problem
    from malnu_tui.tui.messages import OperationFailed

# The engine's hints name CLI commands; inside the console the key that does it is the hint.
# Each is said as a thing (the key and where), read after "with", "see" or "and" ("accept the
# edit with select the migration and press D…" read as two orders run together); where the
# hint said "run", or the command began a clause, it is "press" (see :func:`console_hint`).
CONSOLE_KEYS = {
    "unlock": "U on the status screen (unlock)",
    "repair": "D on the status screen, the migration selected (accept drift)",
    "clear-failed": "C on the status screen, the migration selected (clear failed)",
    "status": "the status screen (ctrl+r refreshes it)",
    # Named by its screen: inside a wizard, b is Back ("press b (backups) shows what exists"
    # read as an order, and did something else).
    "backup list": "the backups screen (b on the status screen)",
    "backup create": "c on the backups screen (b on the status screen)",
    "backup restore": "o on the backups screen (b on the status screen), the backup selected",
    "plan": "a (the apply plan)",
    "rollback": "r (emergency rollback)",
    "up": "a (apply)",
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
    """What work left (:func:`malnu_tui.tui.session.locks_left`: lock rows it could not
    release, audit indexes it could not make), as its result says them: the CLI's
    ``warning:`` lines, with the console's keys."""
    text = Text()
    for line in lines:
        text.append(f"⚠ warning: {console_hint(line)}\n", style="bold yellow")
    return text


def console_hint(hint: str) -> str:
    """``hint`` with each "`malnu-tui COMMAND …`" replaced by the console's key for it."""

    def swap(m: re.Match[str]) -> str:
        words = m.group(1)
        for command in (words, words.split(" ")[0]):
            if command in CONSOLE_KEYS:
                key = CONSOLE_KEYS[command]
                before = m.string[: m.start()].rstrip()
                order = m.group(0).startswith("run ") or not before or before[-1] in ",;:—"
                return f"press {key}" if order and not key.startswith("the ") else key
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


# What failed, as the operator reads it: the words the screens' workers report by.
DOING = {
    "status": "reading the status",
    "health": "reading the health",
    "list": "reading the backups",
    "audit": "reading the audit trail",
    "alerts": "reading the alerts",
    "read lock": "reading the lock",
    "sql": "reading the SQL",
    "piece": "reading the SQL",
    "check": "the SQL check",
    "preflight": "the check",
    "create": "backup",
    "run": "the run",
}


def outcome(refused: bool) -> str:
    """What became of work that raised: ``refused`` (the CLI's exit 2: before anything was
    done) or ``failed``, as the error box and the step's own line both say it."""
    return "refused" if refused else "failed"


def failure_text(what: str, message: str, hint: str, *, refused: bool, writes: bool = True) -> Text:
    """An error as every screen says it, in words and symbols as well as colour: ``✘ WHAT
    refused: nothing was written`` (the CLI's exit 2, refused before anything was done;
    ``writes`` false for a read or a check) or ``✘ WHAT failed``, then ``why:`` and each
    ``way out:`` (a hint's "; also …" parts on their own ``also:`` lines), whole."""
    shown = Text(f"✘ {what} " if what else "✘ ", style="bold")
    shown.append(outcome(refused), style="bold")
    if refused and writes:
        shown.append(": nothing was written", style="bold")
    shown.append("\n  why: ", style="bold")
    shown.append(message)
    for i, way in enumerate(w for w in hint.split("; also ") if w.strip()):
        shown.append("\n  way out: " if i == 0 else "\n  also: ", style="bold")
        shown.append(way)
    return shown


class ErrorBox(VerticalScroll):
    """Hidden until :meth:`show_error`. Never cuts: past its height it scrolls, Tab reaches it
    (↓, End, PgDn) and its border says there is more; at 80×24 a refusal's way out (the ALTER
    to run, the role that needs BYPASSRLS, the config key) was cut mid-word at its sixth
    line, the one line that said what to do."""

    DEFAULT_CLASSES = "error-box"
    DEFAULT_CSS = "ErrorBox { display: none; }"
    MORE = "↓ more: Tab here, then ↓ / End"
    shown = ""  # the plain text of the error on show (hidden: what it said last)

    def allow_focus(self) -> bool:
        # Shown only: hidden, a screen's first focus went to it (Textual's focusable reads
        # visibility, not display), and the keys went nowhere to be seen.
        return self.display

    def compose(self) -> ComposeResult:
        yield Static("", classes="error-text")

    @property
    def text(self) -> str:
        """What it says, as plain text (empty when hidden)."""
        return str(self.query_one(".error-text", Static).render()) if self.display else ""

    def show_error(
        self, message: str, hint: str = "", *, what: str = "", refused: bool = False
    ) -> None:
        """``message`` and its way out ``hint`` (secrets masked, the CLI's commands named by
        the console's keys); ``what`` failed (an :class:`OperationFailed`'s word, said as
        :data:`DOING` says it), ``refused`` before it began."""
        from malnu_tui.engine.monitor.debuglog import mask_secrets

        text = failure_text(
            DOING.get(what, what),
            mask_secrets(message),
            console_hint(mask_secrets(hint)) if hint else "",
            refused=refused,
        )
        # The same error said again (the status screen re-reads a failing target every few
        # seconds) keeps the operator's place: scrolled home at each re-read, an operator
        # who had pressed End to read the way out lost it within five seconds.
        again = self.display and self.shown == text.plain
        self.shown = text.plain
        # Wrapped lines under their label (at column 0 they ran on under "why:" itself).
        self.query_one(".error-text", Static).update(Hanging(text))
        self.display = True
        if not again:
            self.scroll_home(animate=False)
        self.call_after_refresh(self._say_more)

    def show_failed(self, event: OperationFailed) -> None:
        """A worker's failure (:func:`malnu_tui.tui.session.reporting`), said whole."""
        self.show_error(event.message, event.hint, what=event.what, refused=event.refused)

    def _say_more(self) -> None:
        self.border_subtitle = self.MORE if self.max_scroll_y > 0 else ""

    def on_resize(self) -> None:
        self.call_after_refresh(self._say_more)

    def clear(self) -> None:
        self.query_one(".error-text", Static).update("")
        self.shown = ""
        self.border_subtitle = ""
        self.display = False
