"""Migration lint: rules for the guide's "zero downtime", "backward compatible" and "rollback
ready" principles, in both dialects, with D1's rules as one rule set.

No UI here: callers get a frozen :class:`LintReport` and format it themselves. The names below
are imported on first use (PEP 562): a warm lint cache (``lint/cache.py``) needs none of the
rule code, and ``up`` then starts faster.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from malnu_tui.engine.lazy import lazy_exports

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


__getattr__ = lazy_exports(__name__, _WHERE)
