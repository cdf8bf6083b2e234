"""What to import and how (``ImportRequest``, ``MaxErrors``): built by the CLI and the console
alike, checked here once."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from malnu_tui.engine.data.writers import OnConflict
from malnu_tui.engine.errors import ConfigError


@dataclass(frozen=True)
class MaxErrors:
    """``--max-errors N`` (rejected ≤ N commits) or ``P%`` (rejected ≤ P % of rows read)."""

    count: int | None = 0
    percent: float | None = None

    @staticmethod
    def parse(text: str) -> MaxErrors:
        t = text.strip()
        m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*%", t)
        if m and float(m[1]) <= 100:
            return MaxErrors(None, float(m[1]))
        if t.isdigit():
            return MaxErrors(int(t), None)
        raise ConfigError(f"--max-errors must be a count (10) or a percentage (1%), got {text!r}")

    def allows(self, rejected: int, read: int) -> bool:
        if self.percent is not None:
            # In exact decimals, as written: in floats 0.7 / 100 * 1000 is 6.999…, and 7
            # rejected of 1,000 read was over --max-errors 0.7% (29 of 100 over 29%).
            return rejected * 100 <= Fraction(str(self.percent)) * read
        return rejected <= (self.count or 0)

    def describe(self) -> str:
        return f"{self.percent:g}%" if self.percent is not None else str(self.count or 0)


@dataclass(frozen=True)
class ImportRequest:
    table: str
    file: Path | None = None  # a CSV file, or…
    # … "TARGET:TABLE" (the source object is passed separately); a URL's password: no repr
    source_label: str = field(default="", repr=False)
    mapping: Path | None = None
    key: tuple[str, ...] = ()
    on_conflict: OnConflict | None = None
    encoding: str | None = None
    delimiter: str | None = None
    header_line: int | None = None  # the header's line (title rows above it are not read)
    header_rows: int = 1  # 2: the header is two rows (merged group cells above the names)
    rejects: Path | None = None
    max_errors: MaxErrors = field(default_factory=MaxErrors)
    dry_run: bool = False

    @property
    def conflict(self) -> OnConflict:
        """``--on-conflict``; by default ``update`` with ``--key``, else ``error``."""
        return self.on_conflict or ("update" if self.key else "error")

    def check_options(self) -> None:
        """Options that only a CSV file has are refused with ``--from`` (a table's rows): they
        were silently ignored, leaving the operator to think they had been applied."""
        if self.file is not None:
            return
        given = (
            ("--header-line", self.header_line is not None),
            ("--encoding", self.encoding is not None),
            ("--delimiter", self.delimiter is not None),
        )
        for option, set_ in given:
            if set_:
                raise ConfigError(
                    f"{option} is for a CSV file: with --from the rows come from a table",
                    hint=f"drop {option}, or import the CSV file itself",
                )

    def rejects_path(self) -> Path:
        if self.rejects is not None:
            return self.rejects
        if self.file is not None:
            return self.file.with_name(self.file.stem + ".rejects.csv")
        return Path.cwd() / f"{self.table}.rejects.csv"
