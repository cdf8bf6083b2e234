"""The scratch SQLite database itself, beneath
:class:`~malnu_tui.engine.translate.scratch.ScratchSchema` (which makes some statements wait):
the in-memory connection, sqlite_master mirrored by name and by table, SQLite's verdict on a
statement from preparing it (EXPLAIN) or from a shape it accepted already, whether the temp
schema may hold anything, and a table replaced with its indexes and triggers in one SAVEPOINT.
"""

from __future__ import annotations

import sqlite3

from malnu_tui.engine.translate.names import FOLD as _FOLD
from malnu_tui.engine.translate.names import RUN as _RUN
from malnu_tui.engine.translate.names import folded as _folded
from malnu_tui.engine.translate.names import plain_syntax
from malnu_tui.engine.translate.names import view_shape as _view_shape
from malnu_tui.engine.translate.tableinfo import quote_name as _q

__all__ = ["Row", "ScratchDatabase"]

Row = tuple[int, str, str, str, str]  # sqlite_master's rowid, type, name, tbl_name, sql ("")


class ScratchDatabase:
    """The scratch connection, its sqlite_master mirrored, and SQLite's verdicts on it."""

    def __init__(self) -> None:
        # (No statement cache: most texts run once here, e.g. each EXPLAIN's; ≈ 2 % faster.)
        self.conn = sqlite3.connect(":memory:", isolation_level=None, cached_statements=0)
        self._side: sqlite3.Connection | None = None  # see ScratchSchema._add_column
        # False while the temp schema is surely empty: no statement it ran named "temp" or
        # "temporary" (a temp object is made by nothing else, but by a statement that needs
        # one already).
        self._temp = False
        # sqlite_master's rows by name and by tbl_name (ASCII-folded), in rowid order. Kept up
        # to date after a CREATE (rows past the last rowid) and by _replace_table; any other
        # DDL drops them (read again when next asked).
        self._objects: dict[str, list[Row]] | None = None
        self._owned: dict[str, list[Row]] = {}
        self._last_rowid = 0
        self._explains = 0
        # Shapes of CREATE VIEWs and plain ADD COLUMNs SQLite accepted (_view_verdict,
        # _add_verdict).
        self._shapes: set[str] = set()
        self._last_runs: tuple[str, set[str], bool] = ("", set(), False)  # see _runs_of

    def close(self) -> None:
        """Free the scratch database."""
        self.conn.close()
        if self._side is not None:
            self._side.close()

    # -- SQLite's verdicts -------------------------------------------------------------------
    def _shape_verdict(self, sql: str, judged: bool) -> str | None:
        """SQLite's verdict on ``sql``; when ``judged`` (all SQLite checks of it but its
        syntax hold), that of any statement of the same shape accepted before, or None for a
        syntax SQLite accepts (names.plain_syntax): no EXPLAIN."""
        if not judged:
            return self._explain(sql)
        shape = _view_shape(sql)
        if shape in self._shapes:
            return None
        error = None if plain_syntax(sql) else self._explain(sql)
        if error is None:
            self._shapes.add(shape)
        return error

    def _runs_of(self, sql: str) -> set[str]:
        """The word runs of ``sql``, ASCII-folded (computed once for the statement run, with
        whether it may read the schema itself: sqlite_… or pragma_…)."""
        if self._last_runs[0] is not sql:
            low = _folded(sql)
            self._last_runs = (sql, set(_RUN.findall(low)), "sqlite_" in low or "pragma_" in low)
        return self._last_runs[1]

    def _names_in(self, runs: set[str], sql: str) -> bool:
        """True when ``sql`` may name one of the names whose word runs are ``runs`` ("" for
        a name without any: always), or reads the schema itself."""
        if "" in runs:
            return True
        return not runs.isdisjoint(self._runs_of(sql)) or self._last_runs[2]

    def _explain(self, sql: str) -> str | None:
        """SQLite's verdict on preparing ``sql`` (its error text, or None)."""
        # A new text each time: Python caches prepared statements by text, and an EXPLAIN
        # never checks that the schema it was prepared against is still current.
        self._explains += 1
        try:
            self.conn.execute(f"EXPLAIN /*{self._explains}*/ {sql}").close()
        except sqlite3.Error as exc:
            return str(exc)
        return None

    def _note_temp(self, sql: str) -> None:
        """Before the scratch schema runs DDL ``sql``: it may make a temp object."""
        if not self._temp:
            runs = self._runs_of(sql)
            self._temp = "temp" in runs or "temporary" in runs

    # -- sqlite_master mirrored --------------------------------------------------------------
    def _rows(self, name: str) -> list[Row]:
        """sqlite_master's rows whose name is ``name`` (any ASCII case), in rowid order."""
        return self._mirror().get(name.translate(_FOLD), [])

    def _mirror(self) -> dict[str, list[Row]]:
        if self._objects is None:
            self._objects = {}
            self._owned = {}
            self._last_rowid = 0
            self._read_objects(0)
        return self._objects

    def _read_objects(self, after: int) -> None:
        objects = self._objects
        assert objects is not None
        for rowid, kind, name, table, sql in self.conn.execute(
            "SELECT rowid, type, name, tbl_name, sql FROM sqlite_master WHERE rowid > ? "
            "ORDER BY rowid",
            (after,),
        ):
            row = (int(rowid), str(kind), str(name), str(table), str(sql) if sql else "")
            objects.setdefault(row[2].translate(_FOLD), []).append(row)
            self._owned.setdefault(row[3].translate(_FOLD), []).append(row)
            self._last_rowid = max(self._last_rowid, row[0])

    def _first(self, name: str, *kinds: str) -> Row | None:
        """The first sqlite_master row named ``name`` (any case) of one of ``kinds``."""
        for row in self._rows(name):
            if not kinds or row[1] in kinds:
                return row
        return None

    # -- a table's rows and its replacement ---------------------------------------------------
    def _empty(self, name: str) -> bool:
        """True when main table ``name`` has no row nor sqlite_sequence row and the temp
        schema holds nothing (one query)."""
        checks = "EXISTS (SELECT 1 FROM sqlite_temp_master) OR EXISTS (SELECT 1 FROM {})"
        params: tuple[str, ...] = ()
        if self._rows("sqlite_sequence"):
            checks += " OR EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = ?)"
            params = (name,)
        try:
            return not self.conn.execute("SELECT " + checks.format(_q(name)), params).fetchone()[0]
        except sqlite3.Error:
            return False

    def _owned_sql(self, name: str, *kinds: str) -> list[str]:
        """The SQL of the indexes and triggers (``kinds``) of table ``name``, in rowid order
        (a trigger's tbl_name is spelled as its CREATE TRIGGER wrote it)."""
        self._mirror()
        return [r[4] for r in self._owned.get(name.translate(_FOLD), []) if r[1] in kinds and r[4]]

    def _replace_table(self, name: str, altered: str) -> bool:
        """Drop table ``name`` and create it again from ``altered`` with its indexes and
        triggers, in one SAVEPOINT (False, and nothing changed, when SQLite refuses)."""
        conn = self.conn
        dependents = self._owned_sql(name, "index", "trigger")
        conn.execute("SAVEPOINT malnu_add_column")
        try:
            conn.execute(f"DROP TABLE {_q(name)}")
            (last,) = conn.execute("SELECT coalesce(max(rowid), 0) FROM sqlite_master").fetchone()
            conn.execute(altered)
            for text in dependents:
                conn.execute(text)
        except sqlite3.Error:
            conn.execute("ROLLBACK TO malnu_add_column")
            conn.execute("RELEASE malnu_add_column")
            return False
        conn.execute("RELEASE malnu_add_column")
        if self._objects is not None:  # the same names again, with new rowids
            folded = name.translate(_FOLD)
            for r in self._owned.pop(folded, []):
                key = r[2].translate(_FOLD)
                rows = [o for o in self._objects.get(key, []) if o[3].translate(_FOLD) != folded]
                if rows:
                    self._objects[key] = rows
                else:
                    self._objects.pop(key, None)
            self._last_rowid = int(last)  # the new rows follow the rows left
            self._read_objects(self._last_rowid)
        return True
