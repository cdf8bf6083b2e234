"""On/off environment variables (``MIGRATION_DEBUG``, ``MALNU_DEBUG``, ``MALNU_LINT_CACHE``,
``MALNU_SUMS_CACHE``): one reading of their values, and a value that is none of them refused
(exit 2) before anything is opened. ``MALNU_DEBUG=2`` or ``MALNU_LINT_CACHE=false`` was taken
silently for the opposite of what was meant (debug off; the cache on)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from malnu_tui.engine.errors import ConfigError

__all__ = ["SWITCHES", "check_switches", "switch"]

ON = ("1", "true", "yes", "on")
OFF = ("0", "false", "no", "off")
# name → its value when unset (or empty)
SWITCHES: dict[str, bool] = {
    "MIGRATION_DEBUG": False,
    "MALNU_DEBUG": False,
    "MALNU_LINT_CACHE": True,
    "MALNU_SUMS_CACHE": True,
}


def switch(name: str, env: Mapping[str, str] | None = None) -> bool:
    """``name``'s value in ``env`` (the environment): one of :data:`ON` or :data:`OFF` (any
    case), else a :class:`ConfigError` naming the variable and the value."""
    raw = (os.environ if env is None else env).get(name, "")
    text = raw.strip().lower()
    if not text:
        return SWITCHES[name]
    if text in ON:
        return True
    if text in OFF:
        return False
    default = "on" if SWITCHES[name] else "off"
    raise ConfigError(
        f"{name}={raw!r}: expected 1, true, yes or on, or 0, false, no or off",
        hint=f"unset it for the default ({default})",
    )


def check_switches(env: Mapping[str, str] | None = None) -> None:
    """Every switch's value read once: a bad one refused before a command opens anything."""
    for name in SWITCHES:
        switch(name, env)
