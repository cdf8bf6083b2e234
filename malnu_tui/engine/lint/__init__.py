"""Migration lint: rules for the guide's "zero downtime", "backward compatible" and "rollback
ready" principles, in both dialects, with D1's rules as one rule set.

No UI here: callers get a frozen :class:`LintReport` and format it themselves.
"""

from malnu_tui.engine.lint.core import Dialect, lint_migrations
from malnu_tui.engine.lint.model import Finding, LintReport, Rule, Severity
from malnu_tui.engine.lint.rules import RULES

__all__ = ["RULES", "Dialect", "Finding", "LintReport", "Rule", "Severity", "lint_migrations"]
