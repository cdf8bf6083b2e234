"""The typed confirmation of every destructive step, written once: it says what to type and
why ("type school to roll back 1 migration on school.db"), its placeholder is not the word
itself, and Enter with an empty or wrong word says what is wrong instead of doing nothing."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input

from malnu_tui.engine.plan import is_confirmed
from malnu_tui.tui.widgets.fields import Field
from malnu_tui.tui.widgets.plain import Static


def confirmation_problem(typed: str, word: str, purpose: str) -> str | None:
    """Why ``typed`` does not confirm (None when it does), in words for the operator; the
    rule itself is the engine's (:func:`is_confirmed`), the same as the CLI prompt's."""
    if is_confirmed(typed, word):
        return None
    if not typed.strip():
        return f"nothing typed yet: type {word} to {purpose}"
    near = " (check upper and lower case)" if typed.strip().lower() == word.lower() else ""
    return f"✘ {typed!r} is not {word!r}{near}: type {word} exactly to {purpose}"


class TypedConfirmation(Vertical):
    """Prompt, field and the reason a submitted word was refused; posts :class:`Confirmed`
    when the right word is submitted and :class:`Changed` on every keystroke."""

    DEFAULT_CLASSES = "typed-confirmation"

    @dataclass
    class Confirmed(Message):
        confirmation: TypedConfirmation

    @dataclass
    class Changed(Message):
        confirmation: TypedConfirmation
        ok: bool

    def __init__(self, *, id: str | None = None, field_id: str | None = None) -> None:
        super().__init__(id=id)
        self.word = ""
        self.purpose = ""
        self._field_id = field_id

    def compose(self) -> ComposeResult:
        yield Static("", classes="typed-prompt")
        yield Field(placeholder="type the database name here", id=self._field_id)
        yield Static("", classes="typed-why")

    def ask(self, word: str, purpose: str) -> None:
        """Ask for ``word`` (the database name) to ``purpose`` ("roll back 1 migration on
        school.db"); clears what was typed before."""
        self.word, self.purpose = word, purpose
        self.query_one(".typed-prompt", Static).update(
            Text.assemble("Type ", (word, "bold reverse"), f" to {purpose}.")
        )
        field = self.query_one(Input)
        field.value = ""
        self.query_one(".typed-why", Static).update("")

    @property
    def ok(self) -> bool:
        return bool(self.word) and is_confirmed(self.query_one(Input).value, self.word)

    def focus_field(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        event.stop()
        self.query_one(".typed-why", Static).update("")
        self.post_message(self.Changed(self, self.ok))

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        problem = confirmation_problem(event.value, self.word, self.purpose)
        if problem is None:
            self.post_message(self.Confirmed(self))
        else:
            self.query_one(".typed-why", Static).update(Text(problem, style="bold"))
