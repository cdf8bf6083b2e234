"""Values produced by the translation: findings, translated statements and files."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["NOT_CHECKED", "FileTranslation", "Finding", "Severity", "TranslatedStatement"]

Severity = Literal["error", "warning", "note"]


# The construct of a note saying that a check on PostgreSQL could not try the statement
# (``plan --check``): its status is ``unchecked``, never ``ok``.
NOT_CHECKED = "not checked"


@dataclass(frozen=True)
class Finding:
    """Something the translation could not carry over faithfully (``error``: the statement is
    withheld, never emitted; ``warning``: the statement is emitted without a part PostgreSQL
    would reject, e.g. a foreign key whose column types differ) or changed in a way an operator
    should know about (``note``)."""

    file: str
    line: int
    construct: str
    why: str
    suggestion: str
    severity: Severity = "error"

    def describe(self) -> str:
        """One line: ``file:line: [severity] construct: why (suggestion)``."""
        text = f"{self.file}:{self.line}: [{self.severity}] {self.construct}: {self.why}"
        if self.suggestion:
            text += f" — {self.suggestion}"
        return text


@dataclass(frozen=True)
class TranslatedStatement:
    """One SQLite statement and the PostgreSQL statements it became (none when withheld or
    dropped)."""

    line: int
    source: str
    output: tuple[str, ...]
    findings: tuple[Finding, ...] = ()

    @property
    def withheld(self) -> bool:
        """True when an error finding kept this statement out of the output."""
        return any(f.severity == "error" for f in self.findings)


@dataclass(frozen=True)
class FileTranslation:
    """A whole migration (or rollback) file translated statement by statement."""

    file: str
    statements: tuple[TranslatedStatement, ...]
    findings_outside: tuple[Finding, ...] = ()  # about the file as a whole
    header: str = ""  # the file's leading comment block, carried over to the translation

    @property
    def findings(self) -> tuple[Finding, ...]:
        """Every finding of the file, in line order."""
        found = list(self.findings_outside)
        for st in self.statements:
            found.extend(st.findings)
        return tuple(sorted(found, key=lambda f: f.line))

    @property
    def errors(self) -> tuple[Finding, ...]:
        """Findings that withheld a statement."""
        return tuple(f for f in self.findings if f.severity == "error")

    @property
    def ok(self) -> bool:
        """True when every statement was translated."""
        return not self.errors

    @property
    def postgres_statements(self) -> tuple[str, ...]:
        """The PostgreSQL statements to run, in order."""
        return tuple(s for st in self.statements for s in st.output)

    def postgres_sql(self) -> str:
        """The PostgreSQL script for display: withheld statements appear as comments."""
        parts: list[str] = [self.header, ""] if self.header else []
        for st in self.statements:
            for f in st.findings:
                if f.severity == "error":
                    parts.append(f"-- NOT TRANSLATED (line {f.line}): {f.construct}: {f.why}")
                elif f.severity == "warning":
                    parts.append(f"-- WARNING (line {f.line}): {f.construct}: {f.why}")
                else:
                    parts.append(f"-- note (line {f.line}): {f.construct}: {f.why}")
            parts.extend(s + ";" for s in st.output)
        return "\n".join(parts) + ("\n" if parts else "")
