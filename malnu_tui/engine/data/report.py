"""What an import shows the operator, as values (one set for the CLI and the console): the
preview before anything is written (the schema check, the rules, sample rows before and after
the mapping), the progress of a run, and its report, which always balances (read = inserted +
updated + skipped + rejected) and says whether it committed and why not."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from malnu_tui.engine.data.rows import Rejection
from malnu_tui.engine.data.schema import SchemaCheck
from malnu_tui.engine.data.writers import OnConflict

__all__ = ["ImportPreview", "ImportProgress", "ImportProgressCallback", "ImportReport", "SampleRow"]


@dataclass(frozen=True)
class SampleRow:
    """A record before and after the mapping (``after`` None: it would be rejected)."""

    line: int
    before: tuple[tuple[str, str | None], ...]
    after: tuple[tuple[str, object], ...] | None
    reason: str = ""


@dataclass(frozen=True)
class ImportPreview:
    """Everything shown before the operator confirms: nothing was written to get it."""

    table: str
    target_url: str
    source: str
    header: tuple[str, ...]
    check: SchemaCheck
    rules: tuple[tuple[str, str], ...]  # (target column, how it gets its value)
    sources: tuple[str | None, ...]  # the source column of each of check.columns (None: const)
    samples: tuple[SampleRow, ...]
    before_count: int
    on_conflict: OnConflict

    @property
    def problems(self) -> tuple[str, ...]:
        return self.check.problems


@dataclass(frozen=True)
class ImportProgress:
    phase: str  # backup, read, check, commit
    read: int
    rejected: int
    elapsed_s: float
    message: str = ""

    @property
    def rows_per_s(self) -> float:
        return self.read / self.elapsed_s if self.elapsed_s > 0 else 0.0


ImportProgressCallback = Callable[[ImportProgress], None]


@dataclass(frozen=True)
class ImportReport:
    table: str
    read: int
    inserted: int
    updated: int
    skipped: int
    rejected: int
    committed: bool
    rejects_file: str | None
    before_count: int
    after_count: int
    sha256: str | None
    dry_run: bool = False
    backup_id: str | None = None
    elapsed_s: float = 0.0
    first_rejects: tuple[Rejection, ...] = ()
    reason: str = ""  # why it did not commit
    # Lines of delimiters only (Excel's empty rows): no record, like blank lines, so in no
    # count of the balance (not in the --json contract either); the summary mentions them.
    empty_lines: int = 0
    # After it committed (its lock row could not go, rows a trigger dropped); a dry run's:
    # what the run would warn of (rows a trigger would drop).
    warnings: tuple[str, ...] = ()

    def as_json(self) -> dict[str, object]:
        data: dict[str, object] = {
            "read": self.read,
            "inserted": self.inserted,
            "updated": self.updated,
            "skipped": self.skipped,
            "rejected": self.rejected,
            "committed": self.committed,
            "rejects_file": self.rejects_file,
            "before_count": self.before_count,
            "after_count": self.after_count,
            "sha256": self.sha256,
        }
        if self.warnings:  # as the text's warning lines say them (a dry run's too)
            data["warnings"] = list(self.warnings)
        return data

    def warning_lines(self) -> tuple[str, ...]:
        """The warnings as the CLI prints them and the console shows them: after a commit,
        and before it, in a dry run (the validation step): the same words."""
        lead = "dry run" if self.dry_run else "the import is committed, but"
        return tuple(f"warning: {lead}: {w}" for w in self.warnings)

    def summary(self) -> str:
        verb = "committed" if self.committed else "NOT committed"
        text = (
            f"{self.table}: read {self.read}, inserted {self.inserted}, updated {self.updated}, "
            f"skipped {self.skipped}, rejected {self.rejected}; rows {self.before_count} → "
            f"{self.after_count}; {verb}" + (f" ({self.reason})" if self.reason else "")
        )
        # After the outcome's reason, which it is not ("…skipped (1 rejected, over
        # --max-errors 0)" read as the reason the lines were skipped).
        if self.empty_lines:
            text += f"; {self.empty_lines} empty line(s) of delimiters only skipped"
        return text
