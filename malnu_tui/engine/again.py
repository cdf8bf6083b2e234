"""The options naming the target a backend was opened for (``--config PATH --target NAME``,
:func:`malnu_tui.engine.rerun.target_options`), kept beside it for the commands the engine
prints about that database (a hint, an undo line): without them the command, copied and run
from another directory, acted on the default target."""

from __future__ import annotations

import shlex
import weakref
from collections.abc import Sequence
from typing import Any

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
