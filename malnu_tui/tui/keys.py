"""One registry of the console's key bindings, read by the help screen, the command palette and
the tests, so none of them is kept by hand: a screen added tomorrow shows in help by itself.

Every screen and widget of ``malnu_tui.tui`` declares its own ``BINDINGS`` (each with an id, so
``[keys]`` in malnu.toml can remap it) and, for help, a ``HELP_TITLE``.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from textual.binding import Binding
from textual.dom import DOMNode

KEY_NAMES = {
    "question_mark": "?",
    "slash": "/",
    "escape": "esc",
    "enter": "enter",
    "pageup": "PgUp",
    "pagedown": "PgDn",
    "up": "↑",
    "down": "↓",
}


@dataclass(frozen=True)
class KeyEntry:
    """One binding as an operator reads it."""

    where: str  # the screen or widget (its HELP_TITLE)
    keys: str  # as declared, e.g. "enter,v"
    description: str
    id: str | None
    action: str

    def label(self, keymap: Mapping[str, str] | None = None) -> str:
        """The keys, remapped ones marked: ``R (remapped)``."""
        if keymap and self.id and self.id in keymap:
            return f"{key_label(keymap[self.id])} (remapped)"
        return key_label(self.keys)


def key_label(keys: str) -> str:
    return " / ".join(KEY_NAMES.get(k.strip(), k.strip()) for k in keys.split(","))


def _console_modules() -> Iterator[str]:
    for package in ("malnu_tui.tui.screens", "malnu_tui.tui.widgets"):
        pkg = importlib.import_module(package)
        for info in pkgutil.iter_modules(pkg.__path__):
            yield f"{package}.{info.name}"


def binding_owners(app: type[DOMNode] | None = None) -> list[type[DOMNode]]:
    """Every screen and widget class of the console that declares bindings of its own, and the
    ``app`` class (passed in: the app imports the screens, never the other way round); the app
    first, then the status screen, then the others by name."""
    seen: dict[str, type[DOMNode]] = {}
    if app is not None:
        seen["app"] = app
    for name in _console_modules():
        module = importlib.import_module(name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if (
                issubclass(cls, DOMNode)
                and cls.__module__ == module.__name__
                and cls.__dict__.get("BINDINGS")
            ):
                seen[f"{cls.__module__}.{cls.__qualname__}"] = cls
    first = ("MalnuApp", "StatusScreen", "MigrationTable")

    def order(cls: type[DOMNode]) -> tuple[int, str]:
        name = cls.__name__
        return (first.index(name) if name in first else len(first), help_title(cls))

    return sorted(seen.values(), key=order)


def help_title(cls: type[DOMNode]) -> str:
    """The class's own ``HELP_TITLE``: an inherited one filed a subclass's keys under its
    parent's (the rollback and recovery wizards' ``a`` under "Wizards (every one)", as if the
    apply or import wizard took it)."""
    title = cls.__dict__.get("HELP_TITLE")
    return str(title) if title else cls.__name__


def key_entries(app: type[DOMNode] | None = None) -> list[KeyEntry]:
    """Every binding of ``app`` and of every screen and widget, in help order."""
    entries: list[KeyEntry] = []
    for cls in binding_owners(app):
        for b in cls.__dict__["BINDINGS"]:
            if isinstance(b, Binding):
                entries.append(
                    KeyEntry(help_title(cls), b.key, b.description or b.action, b.id, b.action)
                )
    return entries


def keys_for_action(
    action: str, app: type[DOMNode] | None = None, keymap: Mapping[str, str] | None = None
) -> str:
    """The key (as shown to the operator) that runs ``action`` on the status screen or
    anywhere; '' when no key does (the palette then shows none)."""
    for entry in key_entries(app):
        bare = entry.action.removeprefix("app.")
        if bare == action and entry.where in ("Everywhere", "Status"):
            return entry.label(keymap)
    return ""
