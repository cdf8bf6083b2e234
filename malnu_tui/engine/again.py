"""The options naming the target a backend was opened for (``--config PATH --target NAME``,
:func:`malnu_tui.engine.rerun.target_options`), kept beside it for the commands the engine
prints about that database (a hint, an undo line): without them the command, copied and run
from another directory, acted on the default target."""

from __future__ import annotations

import dataclasses
import re
import shlex
import weakref
from collections.abc import Sequence
from typing import Any, TypeVar

_T = TypeVar("_T")

_AGAIN: weakref.WeakKeyDictionary[Any, tuple[str, ...]] = weakref.WeakKeyDictionary()


def remember(backend: object, again: Sequence[str]) -> None:
    """Keep the options naming ``backend``'s target (its :attr:`Target.again`) for the
    commands the engine prints about it (:func:`command_for`)."""
    if again:
        try:
            _AGAIN[backend] = tuple(again)
        except TypeError:  # not weakly referable: its commands name no target
            pass


def options_for(backend: object) -> tuple[str, ...]:
    """The options naming ``backend``'s target, as the CLI resolved it (none when it was
    opened otherwise: the console, a test)."""
    try:
        return _AGAIN.get(backend, ())
    except TypeError:  # not weakly referable: nothing was kept
        return ()


def command_for(backend: object, *words: str) -> str:
    """``malnu-tui WORDS`` with the options naming ``backend``'s target."""
    return shlex.join(["malnu-tui", *words, *options_for(backend)])


# A command quoted in a message: `malnu-tui WORDS`.
_QUOTED = re.compile(r"`malnu-tui ([^`-][^`]*)`")
_NAMING = ("--config", "--target", "--database")


# The CLI commands the engine quotes bare, as the console shows them (its own words for
# them: tui/widgets/error_box.py): the CLI prints them whole, to be named like the others.
_BARE = re.compile(r"`((?:rollback --steps \d+|up --unrelated-history|up --to \w+)[^`]*)`")


def whole_commands(text: str) -> str:
    """``text`` with the CLI commands the engine quotes without ``malnu-tui`` (`` `rollback
    --steps 2` ``, `` `up --unrelated-history` ``, `` `up --to VERSION` ``) quoted whole, for
    :func:`name_target_in`."""
    return _BARE.sub(r"`malnu-tui \1`", text)


def name_target_in(text: str, again: Sequence[str], command: str | None = None) -> str:
    """``text`` with each command it quotes (`` `malnu-tui WORDS` ``: a hint's, a warning's)
    given ``again``, the options naming the target the CLI works on, unless it names one of
    its own (`` `malnu-tui --target other …` ``, one built with them); with ``command``, only
    that command (a sync's pair is no other command's target)."""
    if not again:
        return text

    def named(m: re.Match[str]) -> str:
        words = m.group(1)
        if any(flag in words.split() for flag in _NAMING):
            return m.group(0)
        if command is not None and words.split()[0] != command:
            return m.group(0)
        return f"`malnu-tui {words.rstrip()} {shlex.join(again)}`"

    return _QUOTED.sub(named, text)


def named_fields(value: _T, again: Sequence[str], *fields: str) -> _T:
    """``value`` (a frozen dataclass: a `check` problem, a `doctor` line) with the commands
    its text ``fields`` quote given ``again``: read far from the config (a webhook's alert,
    a `doctor --all` over several targets), they acted on the default target."""
    texts = {f: getattr(value, f) for f in fields}
    changed = {f: name_target_in(t, again) for f, t in texts.items() if "`malnu-tui " in t}
    return dataclasses.replace(value, **changed) if again and changed else value  # type: ignore[type-var]
