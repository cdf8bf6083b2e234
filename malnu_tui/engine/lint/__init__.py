"""Migration lint: rules for the guide's "zero downtime", "backward compatible" and "rollback
ready" principles, in both dialects, with D1's rules as one rule set.

No UI here: callers get a frozen :class:`LintReport` and format it themselves. The names below
are imported on first use (PEP 562): a warm lint cache (``lint/cache.py``) needs none of the
rule code, and ``up`` then starts faster.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from malnu_tui.engine.lint.core import Dialect, lint_migrations
    from malnu_tui.engine.lint.model import Finding, LintReport, Rule, Severity
    from malnu_tui.engine.lint.rules import RULES

__all__ = ["RULES", "Dialect", "Finding", "LintReport", "Rule", "Severity", "lint_migrations"]

_WHERE = {
    "Dialect": "core",
    "lint_migrations": "core",
    "Finding": "model",
    "LintReport": "model",
    "Rule": "model",
    "Severity": "model",
    "RULES": "rules",
}


def __getattr__(name: str) -> object:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
