"""The values of the lint: rules, findings and the report (no UI, no database)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["Finding", "LintReport", "Rule", "Severity"]

Severity = Literal["error", "warning", "info"]
SEVERITY_ORDER: dict[str, int] = {"error": 0, "warning": 1, "info": 2}
LARGE_TABLE_ROWS = 100_000  # a live PostgreSQL table below this: a locking finding is a note


@dataclass(frozen=True)
class Rule:
    """One rule: its id, how bad a finding is, and the generic why / what to do instead."""

    id: str
    severity: Severity
    title: str
    why: str
    instead: str


@dataclass(frozen=True)
class Finding:
    """One finding of one rule at one statement (or file) of a migration."""

    rule: str
    severity: Severity
    file: str
    line: int
    why: str
    instead: str
    ignored: bool = False
    reason: str = ""  # the operator's reason from ``-- lint:ignore RULE reason``

    @property
    def active(self) -> bool:
        """Counts toward the exit code (not accepted with ``lint:ignore``)."""
        return not self.ignored

    def describe(self) -> str:
        head = f"{self.file}:{self.line}: {self.severity} [{self.rule}] {self.why}"
        if self.ignored:
            return f"{head} (accepted: {self.reason})"
        return f"{head}. Instead: {self.instead}"

    def as_json(self) -> dict[str, object]:
        return {
            "rule": self.rule,
            "severity": self.severity,
            "file": self.file,
            "line": self.line,
            "why": self.why,
            "instead": self.instead,
            "ignored": self.ignored,
            "reason": self.reason or None,
        }


@dataclass(frozen=True)
class LintReport:
    """Every finding for the checked migrations, in file and line order."""

    dialect: str
    checked: tuple[str, ...]
    findings: tuple[Finding, ...]
    notes: tuple[str, ...] = ()
    rule_sets: tuple[str, ...] = ()

    def count(self, severity: Severity, *, ignored: bool = False) -> int:
        return sum(1 for f in self.findings if f.severity == severity and f.ignored == ignored)

    @property
    def errors(self) -> tuple[Finding, ...]:
        """Errors not accepted with ``lint:ignore``: these fail ``lint`` (and an enforcing
        target's ``up``)."""
        return tuple(f for f in self.findings if f.severity == "error" and f.active)

    @property
    def ok(self) -> bool:
        return not self.errors

    def for_file(self, filename: str) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.file == filename)

    def summary(self) -> str:
        ignored = sum(1 for f in self.findings if f.ignored)
        return (
            f"lint: {len(self.checked)} migration(s), {self.count('error')} error(s), "
            f"{self.count('warning')} warning(s), {self.count('info')} note(s), "
            f"{ignored} accepted with lint:ignore"
        )

    def as_json(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "dialect": self.dialect,
            "rule_sets": list(self.rule_sets),
            "checked": list(self.checked),
            "errors": self.count("error"),
            "warnings": self.count("warning"),
            "infos": self.count("info"),
            "ignored": sum(1 for f in self.findings if f.ignored),
            "notes": list(self.notes),
            "findings": [f.as_json() for f in self.findings],
        }
