"""Errors of the data import: bad input files and mappings (exit 2), failed checks (exit 1)."""

from __future__ import annotations

from malnu_tui.engine.errors import ConfigError, MalnuError


class InputFileError(ConfigError):
    """The input file (CSV or mapping) cannot be used as it is; names the file and line."""

    def __init__(
        self, path: str, message: str, *, line: int | None = None, hint: str | None = None
    ):
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {message}", hint=hint)
        self.path = path
        self.line = line


class MappingError(InputFileError):
    """The mapping file (TOML) is invalid: the message names its line."""


class SchemaMismatch(ConfigError):
    """The file's columns do not fit the live table (unknown, duplicate, missing NOT NULL)."""

    def __init__(
        self,
        table: str,
        problems: tuple[str, ...],
        *,
        from_table: bool = False,
        mapped: bool = False,
    ) -> None:
        # ``from_table``: the rows come from a table (--from), which has no header to fix;
        # ``mapped``: a mapping was given (telling its author to add one misled).
        if from_table:
            hint = (
                "a mapping file's from = names a column of the source table; without a "
                "mapping (--map), each column of the source table is a column of the target's"
            )
        elif any("pass --header-line" in p for p in problems):
            hint = "pass --header-line as said above: the title lines over the header are not read"
        elif mapped:
            hint = (
                "fix the mapping or the header: each from = names a header field exactly, and "
                "a NOT NULL column without a default needs its [columns.NAME]"
            )
        else:
            hint = "fix the header or add a mapping file (--map) naming each target column"
        # A wrong --key alone is not the file's fault: "fix the mapping or the header" sent the
        # operator to edit a file that was right.
        keyed = [p for p in problems if p.startswith(("--key", "--on-conflict"))]
        key_hint = (
            "--key names the columns of one PRIMARY KEY or UNIQUE constraint of the table, "
            "each of them imported (without --key: the primary key)"
        )
        if keyed and len(keyed) == len(problems):
            hint = key_hint
        elif keyed:
            hint = f"{hint}; {key_hint}"
        super().__init__(
            f"the input does not fit table {table!r}: " + "; ".join(problems), hint=hint
        )
        self.problems = problems


class ImportCheckFailed(MalnuError):
    """A count check failed (the balance, or the table's count before/after): nothing was
    committed (exit 1)."""


class DirectRefused(Exception):
    """The database refused a row of a direct COPY (:mod:`.pg_direct`): the import starts
    over on the path that names each refused row. Never reaches the operator."""
