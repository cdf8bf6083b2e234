"""What a rollback would destroy, told before it runs: for every ``DROP TABLE`` and
``ALTER TABLE … DROP COLUMN`` in the rollback files, how many rows the table holds now.

Table names come from the files but are only ever looked up in the live schema (and counted
through the backend, which quotes them); a name the database does not have is reported as
"not there", never pasted into SQL.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from malnu_tui.engine.backends.base import Backend
from malnu_tui.engine.errors import NotPermitted
from malnu_tui.engine.files import read_sql_text
from malnu_tui.engine.lint.ops import key, read_ops
from malnu_tui.engine.sqlsplit import SplitError, split_statements


@dataclass(frozen=True)
class RowsAtStake:
    """One destructive statement of a rollback file and the rows it would take with it."""

    file: str
    line: int
    table: str
    column: str | None  # None: the whole table goes
    rows: int | None  # None: no such table now (nothing to lose), or not counted (hidden)
    hidden: bool = False  # row level security hides some of its rows from the tool's role

    @property
    def at_risk(self) -> bool:
        """Rows go with it, or may: said in bold."""
        return bool(self.rows) or self.hidden

    def describe(self) -> str:
        """``drops table users: 1,234 rows`` / ``drops column users.phone of 1,234 rows``."""
        if self.hidden:
            what = f"column {self.table}.{self.column}" if self.column else f"table {self.table}"
            return (
                f"drops {what}: its rows not counted, row level security hides some of them "
                "from this role (every row goes)"
            )
        if self.rows is None:
            what = f"column {self.table}.{self.column}" if self.column else f"table {self.table}"
            return f"drops {what}: not in the database now"
        rows = f"{self.rows:,} row{'' if self.rows == 1 else 's'}"
        if self.column:
            return f"drops column {self.table}.{self.column} of {rows}"
        return f"drops table {self.table}: {rows}"


def _destructive(filename: str, sql: str, dialect: str) -> Iterable[tuple[int, str, str | None]]:
    try:
        statements = split_statements(sql, dialect)
    except SplitError:
        return  # an unparsable file is the preflight's problem, named there
    for st in statements:
        op = read_ops(st)
        if op.kind == "drop_table":
            for name in op.names:
                yield st.line, name, None
        elif op.kind == "alter_table":
            for action in op.actions:
                if action.kind == "drop_column":
                    yield st.line, op.name, action.column


def rows_at_stake(
    backend: Backend, files: Iterable[tuple[str, str]], dialect: str = "sqlite"
) -> list[RowsAtStake]:
    """For each (file name, SQL) in the order given (a rollback's files, newest first, written
    in ``dialect``), every table or column it drops with the table's current row count."""
    live = {key(t): t for t in backend.table_names()}
    counts: dict[str, int | None] = {}
    found: list[RowsAtStake] = []
    for filename, sql in files:
        for line, table, column in _destructive(filename, sql, dialect):
            name = live.get(key(table))
            rows: int | None = None
            if name is not None:
                if name not in counts:
                    try:
                        counts[name] = backend.row_count(name)
                    except NotPermitted:  # a policy's count: "2 rows" of 4 (PostgreSQL)
                        counts[name] = None
                rows = counts[name]
            hidden = name is not None and rows is None
            found.append(RowsAtStake(filename, line, name or table, column, rows, hidden))
    return found


def files_at_stake(
    backend: Backend, paths: Iterable[Path], dialect: str = "sqlite"
) -> list[RowsAtStake]:
    """:func:`rows_at_stake` of the rollback files at ``paths``, read as ``rollback`` reads
    them (a Notepad file's BOM before its first DROP hid that DROP)."""
    return rows_at_stake(backend, [(p.name, read_sql_text(p)) for p in paths], dialect)
