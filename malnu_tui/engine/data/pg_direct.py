"""PostgreSQL plain inserts (``--on-conflict error``) COPYed straight into the table, the clean
blocks of a CSV file as the file has them.

The issue prescribes COPY into a temp table and one ``INSERT … SELECT`` — that path
(:mod:`.pg_writer`) writes every row twice, and stays for upserts and to name refused rows.
For a plain insert this writer tries first, in the same unit: rows are read, mapped and checked
by the client as on every backend (rows it rejects are never sent), and go to the table with
``COPY … FROM STDIN``: a clean block of the file (:class:`FlatRows`: complete records of the
header's width, no quote) is sent as its own text (``FORMAT csv``, BOM dropped, in UTF-8, line
ends ``\\n``) while the client reads the next; other rows go in COPY's text format. When every
column is text without a length or an integer and the server is PostgreSQL ≤ 15
(:attr:`PostgresDirectWriter.server_checks`), a clean block is not even split client-side: the
server refuses every value the client's checks would. If the database refuses any row (a CHECK,
UNIQUE, NOT NULL, a value its type refuses) the whole COPY fails and this writer raises
:class:`DirectRefused`: the import rolls the unit back and starts over, with the client's checks
on, through the temp table, which names every refused row with its line. Nothing is visible
until commit either way.
"""

from __future__ import annotations

from typing import Literal

import psycopg
from psycopg import sql

from malnu_tui.engine.data import pgcopy
from malnu_tui.engine.data.errors import DirectRefused, ImportCheckFailed
from malnu_tui.engine.data.flatblock import FlatRows
from malnu_tui.engine.data.pg_writer import ROW_STATES, PgUnit
from malnu_tui.engine.data.rows import Rejection, RowBatch
from malnu_tui.engine.data.spec import WriteOutcome


class PostgresDirectWriter(PgUnit):
    """COPY straight into the table (plain inserts only; see the module's docstring)."""

    @property
    def server_checks(self) -> bool:
        """Does the server refuse every integer the client's check refuses? PostgreSQL 16
        reads ``1_000`` and ``0x1F`` as integers; up to 15 it takes only what the client
        does (ASCII digits, sign, spaces around; in range). NOT NULL is the server's too."""
        return bool(self.conn.info.server_version < 160000)

    def _start(self) -> None:
        self._mode: Literal["csv", "text", ""] = ""
        self._sep = ""
        self._copied = 0
        self._utf8 = self.conn.info.encoding in ("utf-8", "utf8")

    def _open_copy(self, mode: Literal["csv", "text"], sep: str = "") -> None:
        if self._mode == mode and self._sep == sep:
            return
        self._close_copy()
        options: sql.Composable = sql.SQL("")
        if mode == "csv":
            options = sql.SQL(" (FORMAT csv, DELIMITER {})").format(sql.Literal(sep))
        statement = sql.SQL("COPY {} ({}) FROM STDIN{}").format(
            self._t, pgcopy.ident_list(self.spec.columns), options
        )
        self._cursor = self.conn.cursor()
        self._copy_cm = self._cursor.copy(statement)
        self._copy = self._copy_cm.__enter__()
        self._mode, self._sep = mode, sep

    def _close_copy(self) -> None:
        if self._copy_cm is not None:
            self._end_copy()
            self._copied += max(self._cursor.rowcount, 0)
        self._mode = ""

    def _refused(self, exc: psycopg.Error) -> Exception:
        if (exc.sqlstate or "")[:2] in ROW_STATES:
            return DirectRefused(str(exc))
        return self._fail(exc)

    def write(self, rows: RowBatch) -> list[Rejection]:
        if not len(rows):
            return []
        values = rows.values
        try:
            if _raw_ok(values, len(self.spec.columns)):
                assert isinstance(values, FlatRows)
                self._open_copy("csv", values.sep)
                if values.data is not None and self._utf8:
                    self._copy.write(values.data)  # the file's own bytes
                else:
                    self._copy.write(values.text)
            else:
                self._open_copy("text")
                pgcopy.copy_rows(self.conn, self._t, self.spec.columns, values, copy=self._copy)
        except psycopg.Error as exc:
            raise self._refused(exc) from None
        self.n += len(rows)
        return []

    def finish(self, max_rejections: int | None = None) -> WriteOutcome:
        try:
            self._close_copy()
            after = self._count()
            ignored_by = self._ignoring_triggers() if self._copied < self.n else ()
        except psycopg.Error as exc:
            raise self._refused(exc) from None
        if ignored_by:  # rows the table's own trigger dropped (RETURN NULL): skipped
            n, copied = self.n, self._copied
            return WriteOutcome(copied, 0, n - copied, (), self.before, after, n, ignored_by)
        if self._copied != self.n:
            raise ImportCheckFailed(
                f"COPY took {self._copied} rows of the {self.n} sent; nothing committed"
            )
        return WriteOutcome(self.n, 0, 0, (), self.before, after, self.n)


def _raw_ok(values: object, width: int) -> bool:
    """A batch whose raw lines are its rows in CSV as PostgreSQL reads them: a clean block
    of the file (FlatRows) of the table's width. A one-column line ``\\.`` would end COPY's
    data: such a block goes in text format."""
    if not isinstance(values, FlatRows) or not values.text or values.width != width:
        return False
    return width > 1 or "\\." not in values.flat
