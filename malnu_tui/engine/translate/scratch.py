"""The scratch SQLite schema behind :class:`~malnu_tui.engine.translate.schema.SchemaState`: an
in-memory database into which every translated statement is also run, so that SQLite judges it.
DDL costs SQLite most, so some statements wait: a CREATE VIEW/TRIGGER/plain INDEX is only
prepared (EXPLAIN: SQLite's verdict), a plain ADD COLUMN answered aside, and each runs, in order,
before anything that could tell; a shape SQLite accepted already (the text but for words that can
only be names) is not prepared again when what SQLite checks besides syntax still holds. A direct
reader/writer of the scratch connection must call ``settle()`` first and keep the sqlite_master
mirror, the temp flag and the accepted shapes true to it (those live beneath, in scratch_db.py).
"""

from __future__ import annotations

import re
import sqlite3
from abc import ABC, abstractmethod
from typing import Any

from malnu_tui.engine.translate.names import FOLD as _FOLD
from malnu_tui.engine.translate.names import PLAIN_INDEX as _PLAIN_INDEX
from malnu_tui.engine.translate.names import RUN as _RUN
from malnu_tui.engine.translate.names import SQLITE_NAME
from malnu_tui.engine.translate.names import index_parts as _index_parts
from malnu_tui.engine.translate.names import mentioned_names as _names
from malnu_tui.engine.translate.names import trigger_parts as _trigger_parts
from malnu_tui.engine.translate.names import unquote_name as _unquote
from malnu_tui.engine.translate.scratch_db import Row, ScratchDatabase
from malnu_tui.engine.translate.tableinfo import (
    ColumnInfo,
    plain_added_column,
    side_alter,
    table_columns,
    without_rowid,
)

__all__ = ["SQLITE_NAME", "ColumnInfo", "ScratchSchema"]


_NAMED_DDL = re.compile(
    r"^\s*(?:CREATE|ALTER\s+TABLE|DROP\s+(?:TABLE|VIEW|TRIGGER))\b", re.IGNORECASE
)
# DDL that changes no table's columns or keys: an index changes only its table's unique keys;
# a view only answers for its own name; a trigger changes nothing the cache holds.
_INDEX_OR_VIEW_OR_TRIGGER = re.compile(
    r"^\s*CREATE\s+(?:(?P<index>(?:UNIQUE\s+)?INDEX)|(?:TEMP(?:ORARY)?\s+)?"
    r"(?P<kind>VIEW|TRIGGER))\s+(?:IF\s+NOT\s+EXISTS\s+)?"
    rf"(?:{SQLITE_NAME}\s*\.\s*)?(?P<name>{SQLITE_NAME})",
    re.IGNORECASE,
)
_DATA_ONLY = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|REPLACE|WITH|VALUES)\b", re.I)
_CREATE = re.compile(r"^\s*CREATE\b", re.IGNORECASE)
_ADD_COLUMN = re.compile(rf"^\s*ALTER\s+TABLE\s+(?P<name>{SQLITE_NAME})\s+ADD\b", re.IGNORECASE)
# A view of the main schema, named without a schema (its CREATE can wait: see _defer_view).
_MAIN_VIEW = re.compile(
    rf"^\s*CREATE\s+VIEW\s+(?:IF\s+NOT\s+EXISTS\s+)?(?P<name>{SQLITE_NAME})\s*(?:\(|AS\b)", re.I
)
# A trigger named without a schema (its CREATE can wait: see _defer_trigger).
_MAIN_TRIGGER = re.compile(
    rf"^\s*CREATE\s+TRIGGER\s+(?:IF\s+NOT\s+EXISTS\s+)?(?P<name>{SQLITE_NAME})\s", re.I
)
# A CREATE that may run while views wait (it cannot see them unless it names one).
_CREATE_OBJECT = re.compile(
    r"^\s*CREATE\s+(?:TEMP(?:ORARY)?\s+)?(?:UNIQUE\s+)?(?P<kind>TABLE|INDEX|TRIGGER|VIEW)\s+"
    rf"(?:IF\s+NOT\s+EXISTS\s+)?(?:{SQLITE_NAME}\s*\.\s*)?(?P<name>{SQLITE_NAME})",
    re.I,
)
# The cached answers a plain ADD COLUMN (_PLAIN_ADD) leaves as they were.
_ADD_KEEPS = frozenset({"name", "keys", "rowid_alias"})
# The cached answers read from a table itself (the others come from these, or from names).
_READ_TABLE = frozenset({"columns", "without_rowid"})


class ScratchSchema(ScratchDatabase, ABC):
    """The scratch database, what waits to run in it, and the answers cached about it."""

    def __init__(self) -> None:
        super().__init__()
        # Answers per (lower-cased) table name and question, until a change to that table.
        self._cache: dict[str, dict[str, Any]] = {}
        # CREATE VIEWs SQLite accepted (EXPLAIN) but not run yet, in order, and their names
        # (ASCII-folded): run when anything could see them (see _defer_view).
        self._views: list[str] = []
        self._view_names: set[str] = set()
        self._view_runs: set[str] = set()  # the word runs of their names
        self._view_sql_runs: set[str] = set()  # the word runs of their SQL
        self._view_asks: list[str] = []  # views whose boolean columns are read when they run
        self._just_deferred: str | None = None  # the view the statement being run created
        # CREATE TRIGGERs and plain CREATE INDEXes SQLite accepted (EXPLAIN) but not run yet,
        # in order; their names; the word runs of their names and SQL (see _defer_trigger).
        self._triggers: list[str] = []
        self._trigger_names: set[str] = set()
        self._trigger_runs: set[str] = set()
        self._trigger_sql_runs: set[str] = set()
        # Tables altered in the side database only (see _add_column): folded name → (name,
        # its CREATE TABLE after the ALTER or None when not asked yet, the ALTER, its CREATE
        # TABLE before); and the word runs of their names.
        self._altered: dict[str, tuple[str, str | None, str, str]] = {}
        self._altered_runs: set[str] = set()

    @abstractmethod
    def boolean_columns(self, table: str) -> set[str]:
        """The columns of ``table`` (or a view) that hold booleans; SchemaState answers it."""

    def settle(self) -> None:
        """Run everything that waits: the scratch schema is then complete."""
        if self._triggers:
            self._run_triggers()
        if self._altered:
            self._run_altered()
        if self._views:
            self._run_views()

    def run(self, sql: str) -> str | None:
        """Run one SQLite statement; returns SQLite's error text, or None. Statements that
        only touch data change nothing the translation asks about: they are only checked when
        they hold a double-quoted word (see ``double_quoted_strings``)."""
        if _DATA_ONLY.match(sql):
            if '"' not in sql:
                return None
            self.settle()  # (a trigger it fires may read any table or view)
            try:
                self.conn.execute(sql)  # data only: sqlite_master does not change
            except sqlite3.Error as exc:
                return str(exc)
            return None
        added = _ADD_COLUMN.match(sql)
        view = _MAIN_VIEW.match(sql)
        if self._triggers and self._needs_triggers(sql, added):
            self._run_triggers()
        if self._altered and view is None and self._needs_altered(sql, added):
            self._run_altered()
        if self._views and self._needs_views(sql, added):
            self._run_views()
        self._just_deferred = None
        kept = self._cache.get(_unquote(added["name"]).lower()) if added is not None else None
        self._forget(sql)
        if view is not None:
            return self._defer_view(sql, _unquote(view["name"]))
        if (trigger := _MAIN_TRIGGER.match(sql) or _PLAIN_INDEX.match(sql)) is not None:
            return self._defer_trigger(sql, _unquote(trigger["name"]))
        if added is not None:
            done, error = self._add_column(sql, _unquote(added["name"]), kept)
            if done:
                return error
            self.settle()  # the ALTER itself runs in the scratch schema
        self._note_temp(sql)
        try:
            self.conn.execute(sql)
        except sqlite3.Error as exc:
            self._objects = None
            return str(exc)
        if self._objects is not None:
            if _CREATE.match(sql):
                self._read_objects(self._last_rowid)
            else:
                self._objects = None
        return None

    # -- views that wait ---------------------------------------------------------------------
    def _defer_view(self, sql: str, name: str) -> str | None:
        """A CREATE VIEW of the main schema waits until something could see the view: a
        statement naming it (or sqlite_master), a question about it, a statement other than
        a data statement or a CREATE, a clone. SQLite checks a view's name and syntax when it
        prepares the CREATE, never the tables it reads (until the view is used): EXPLAIN
        gives its verdict and error text now, and the CREATE runs, in order, later."""
        folded = name.translate(_FOLD)
        error = self._view_verdict(sql, folded)
        if error is not None:
            return error
        self._views.append(sql)
        self._view_names.add(folded)
        self._view_runs.update(_RUN.findall(folded) or [""])  # "": no run, always seen
        self._view_sql_runs.update(self._runs_of(sql))
        self._just_deferred = folded
        return None

    def _view_verdict(self, sql: str, folded: str) -> str | None:
        """SQLite's verdict on CREATE VIEW ``sql`` (of the main schema, named ``folded``).

        Preparing a CREATE VIEW, SQLite checks its syntax, that it has no parameters, the
        schemas it names (only main's objects), and its name: not reserved (sqlite_…), not
        taken by a table, view or index of main. Nothing else — not the tables, columns or
        functions it reads (see tests). So when the name is free (no object of that name; any
        waiting one ran before: _needs_views, _needs_triggers) and the temp schema is empty,
        the verdict is that of any other CREATE VIEW of the same shape (_view_shape), which
        SQLite accepted already: no EXPLAIN."""
        free = not (self._temp or folded.startswith("sqlite_") or folded in self._mirror())
        return self._shape_verdict(sql, free)

    # -- triggers that wait ------------------------------------------------------------------
    def _defer_trigger(self, sql: str, name: str) -> str | None:
        """A CREATE TRIGGER (named without a schema) waits like a view: SQLite checks its
        name and its table when it prepares the CREATE (a trigger on a temp table goes to the
        temp schema, which holds that table already), never its body. So does a plain
        CREATE INDEX (_PLAIN_INDEX: not unique, no expression, no WHERE: it cannot fail on
        a row; and a unique key is all the index answers, see index_keys). It runs before
        anything that could see it: a statement naming it, one other than a data statement
        or a CREATE, a data statement SQLite runs (it may fire), a question about its name,
        its table's replacement (_run_altered), a clone."""
        error = self._shape_verdict(sql, self._index_judged(sql))
        if error is not None:
            return error
        folded = name.translate(_FOLD)
        self._triggers.append(sql)
        self._trigger_names.add(folded)
        self._trigger_runs.update(_RUN.findall(folded) or [""])
        self._trigger_sql_runs.update(self._runs_of(sql))
        return None

    def _index_judged(self, sql: str) -> bool:
        """True for a plain CREATE INDEX or BEFORE/AFTER CREATE TRIGGER named freely (no object,
        none waiting, empty temp schema; not sqlite_…) on a plain table of main holding the index's
        columns once: SQLite checks nothing else of it but syntax (not a trigger's body)."""
        parts = None if self._temp else _index_parts(sql) or _trigger_parts(sql)
        if parts is None:
            return False
        name, table, columns = parts
        found = self._first(table, "table") if table.isascii() else None
        if found is None or name in self._trigger_names or name in self._view_names:
            return False
        if name.startswith("sqlite_") or name in self._mirror() or table.lower() in self._altered:
            return False
        if found[2][:7].lower() == "sqlite_" or found[4][:20].upper().startswith("CREATE VIRTUAL"):
            return False
        if columns is None:
            return True  # (a trigger)
        known = self._cache.get(table.lower(), {}).get("columns")
        names = {c.name.translate(_FOLD) for c in known} if known is not None else set()
        return len(set(columns)) == len(columns) and names.issuperset(columns)

    def _needs_triggers(self, sql: str, added: re.Match[str] | None) -> bool:
        """True when DDL ``sql`` could see the waiting triggers, or change what one's
        CREATE would find: it creates a table or view named in their SQL (a temp table
        hides a main one). (ADD COLUMN changes no table a name finds.)"""
        changed: str | None = None
        if added is None:
            created = _CREATE_OBJECT.match(sql)
            if created is None:
                return True
            if created["kind"].upper() in ("TABLE", "VIEW"):
                changed = _unquote(created["name"])
        if self._names_in(self._trigger_runs, sql):
            return True
        if changed is None:
            return False
        runs = _RUN.findall(changed.translate(_FOLD))
        return not runs or not self._trigger_sql_runs.isdisjoint(runs)

    def _run_triggers(self) -> None:
        """Run the waiting CREATE TRIGGERs (SQLite accepted each when it was translated)."""
        triggers = self._triggers
        self._triggers, self._trigger_names = [], set()
        self._trigger_runs, self._trigger_sql_runs = set(), set()
        self._run_accepted(triggers)

    def _run_accepted(self, statements: list[str]) -> None:
        """Run waiting CREATEs that SQLite accepted when they were translated; the mirrored
        names are brought up to date (or dropped, should one fail after all)."""
        for sql in statements:
            self._note_temp(sql)
            try:
                self.conn.execute(sql)
            except sqlite3.Error:  # (not expected: nothing they could see has changed)
                self._objects = None
        if self._objects is not None:
            self._read_objects(self._last_rowid)

    def view_waiting(self) -> bool:
        """True while translating a CREATE VIEW that waits (see booleans_later)."""
        return self._just_deferred is not None

    def booleans_later(self, view: str) -> bool:
        """True (and nothing asked now) for the view whose CREATE the statement being
        translated made wait: its boolean columns (and so its columns, cached as main
        answers for it) are read when it runs, which is before anything they depend on can
        change (see _needs_views). For a translation whose result cannot depend on them."""
        if self._just_deferred is None or view.translate(_FOLD) != self._just_deferred:
            return False
        self._view_asks.append(view)
        return True

    def _needs_views(self, sql: str, added: re.Match[str] | None) -> bool:
        """True when DDL ``sql`` could see the waiting views, or change an answer about one
        (it creates or alters a name their SQL holds)."""
        if added is not None:
            changed: str | None = _unquote(added["name"])
        else:
            created = _CREATE_OBJECT.match(sql)
            if created is None:
                return True
            kind = created["kind"].upper()
            changed = _unquote(created["name"]) if kind in ("TABLE", "VIEW") else None
        if self._sees_views(sql):
            return True
        if changed is None:
            return False
        runs = _RUN.findall(changed.translate(_FOLD))
        return not runs or not self._view_sql_runs.isdisjoint(runs)

    def _sees_views(self, sql: str) -> bool:
        """True when ``sql`` may name a waiting view (or reads the schema itself)."""
        return self._names_in(self._view_runs, sql)

    def _run_views(self) -> None:
        """Run the waiting CREATE VIEWs (SQLite accepted each when it was translated)."""
        if self._altered:
            self._run_altered()  # (the views' answers read their tables)
        views, asks = self._views, self._view_asks
        self._views, self._view_asks = [], []
        self._view_names, self._view_runs, self._view_sql_runs = set(), set(), set()
        self._just_deferred = None
        self._run_accepted(views)
        for view in asks:
            self.boolean_columns(view)

    # -- tables altered in the side database -------------------------------------------------
    def _needs_altered(self, sql: str, added: re.Match[str] | None) -> bool:
        """True when DDL ``sql`` could see a table altered in the side database only."""
        if added is None and _CREATE_OBJECT.match(sql) is None:
            return True
        return self._names_in(self._altered_runs, sql)

    def _run_altered(self) -> None:
        """Bring the tables altered in the side database into the scratch schema."""
        if self._triggers:
            self._run_triggers()  # (a table's triggers are created again with it)
        altered = self._altered
        self._altered, self._altered_runs = {}, set()
        for name, create, alter, before in altered.values():
            if create is None and self._empty(name):
                if self._side is None:
                    self._side = sqlite3.connect(":memory:", isolation_level=None)
                create = side_alter(self._side, name, before, alter, columns=False)[0]
            if create is None or not self._replace_table(name, create):
                try:  # (not expected) the ALTER itself, as SQLite accepted it
                    self.conn.execute(alter)
                except sqlite3.Error:
                    pass
                self._objects = None

    # -- sqlite_master mirrored --------------------------------------------------------------
    def _rows(self, name: str) -> list[Row]:
        """sqlite_master's rows whose name is ``name`` (any ASCII case), in rowid order: a
        view or trigger of that name that waits runs first."""
        if self._views and name.translate(_FOLD) in self._view_names:
            self._run_views()
        if self._triggers and name.translate(_FOLD) in self._trigger_names:
            self._run_triggers()
        return super()._rows(name)

    # -- ALTER TABLE … ADD COLUMN --------------------------------------------------------------
    def _add_column(
        self, sql: str, table: str, kept: dict[str, Any] | None = None
    ) -> tuple[bool, str | None]:
        """``ALTER TABLE … ADD COLUMN`` without SQLite's reload of the whole schema (which
        makes a long set's ALTERs cost the square of its size). SQLite runs the ALTER on the
        table alone in a side database: its verdict and error text, the table's new SQL and
        the answers read from it (kept in the cache). The scratch schema gets
        the table (dropped and created again from that SQL, with its indexes and triggers)
        when something could see it there (_run_altered). Only for an empty table of the main
        schema with nothing in the temp schema; otherwise (False, None) and the caller runs
        the ALTER itself."""
        conn = self.conn
        found = self._first(table, "table")
        if found is None or found[2].lower().startswith("sqlite_"):
            return False, None
        name, create = found[2], found[4]
        if not create or create[:20].upper().startswith("CREATE VIRTUAL"):
            return False, None
        added = plain_added_column(sql, create)
        if (added is None or self._temp) and not self._empty(name):
            return False, None
        folded = name.translate(_FOLD)
        if added is not None:
            # SQLite's verdict from preparing the ALTER (the table is not STRICT and the column
            # has no constraint: nothing it checks when it runs can fail, rows or not); the
            # table's columns are its columns and the new one. Its new CREATE TABLE text is
            # asked of the side database when the table must reach the scratch schema
            # (_run_altered; nothing can add a row meanwhile, so an empty table is one then).
            # With nothing in the temp schema, the ALTER's table is the main one.
            own = bool(kept) and table.lower() == name.lower()
            before: list[ColumnInfo] | None = kept.get("columns") if kept and own else None
            if before is None:
                before = table_columns(conn, name)
            error = self._add_verdict(sql, added.name, before)
            if error is not None:
                return True, error
            answers = self._cache.setdefault(name.lower(), {})
            if kept and own:
                # What a column without constraints changes not: the table's name, its
                # unique keys, its rowid alias (``kept``: the answers before the ALTER).
                answers.update((k, v) for k, v in kept.items() if k in _ADD_KEEPS)
            answers["columns"] = [*before, added]
            answers["without_rowid"] = without_rowid(create)
            self._altered[folded] = (name, None, sql, create)
            self._altered_runs.update(_RUN.findall(folded) or [""])
            return True, None
        if self._side is None:
            self._side = sqlite3.connect(":memory:", isolation_level=None)
        altered, error, columns = side_alter(self._side, name, create, sql)
        if error is not None:
            return True, error
        if altered is None:
            return False, None
        # The answers read from the table that the scratch schema would give once the table is
        # replaced there. (Its unique keys stay: ADD COLUMN cannot add one.)
        answers = self._cache.setdefault(name.lower(), {})
        answers["columns"] = columns
        answers["without_rowid"] = without_rowid(altered)
        self._altered[folded] = (name, altered, sql, create)
        self._altered_runs.update(_RUN.findall(folded) or [""])
        return True, None

    def _add_verdict(self, sql: str, column: str, before: list[ColumnInfo]) -> str | None:
        """SQLite's verdict on the plain ADD COLUMN ``sql`` of a table of main (not a view,
        not virtual, not sqlite_…; the temp schema empty) whose columns are ``before``.
        Preparing it, SQLite checks its syntax, that table, and that the column is new (and
        within the column limit); nothing else. So for a new column, the verdict is that of
        any other plain ADD COLUMN of the same shape (_view_shape: the same tokens but for
        words that can only be names), which SQLite accepted already: no EXPLAIN."""
        new = column.lower()  # (an ASCII word: see plain_added_column)
        judged = len(before) < 1000 and all(c.name.translate(_FOLD) != new for c in before)
        return self._shape_verdict(sql, judged)

    # -- cached answers ----------------------------------------------------------------------
    def _cached(self, kind: str, key: str, compute: Any) -> Any:
        answers = self._cache.setdefault(key.lower(), {})
        if kind not in answers:
            if kind in _READ_TABLE and self._altered and key.translate(_FOLD) in self._altered:
                self._run_altered()  # (its answers were dropped: ask the scratch schema)
            answers[kind] = compute()
        return answers[kind]

    def _forget(self, sql: str) -> None:
        """Drop the cached answers DDL ``sql`` may change."""
        if (created := _INDEX_OR_VIEW_OR_TRIGGER.match(sql)) is not None:
            if created["index"]:
                if created["index"][:1].upper() == "U":  # (any other index is no unique key)
                    for name in _names(sql):  # its table's unique keys (any name it mentions)
                        self._cache.get(name, {}).pop("keys", None)
            elif created["kind"].upper() == "VIEW":
                self._cache.pop(_unquote(created["name"]).lower(), None)
        elif _NAMED_DDL.match(sql) and self._cache:
            # Only what the statement names can change (a view, index or trigger changes no
            # table's columns): keep the other tables' answers.
            for name in _names(sql):
                self._cache.pop(name, None)
        else:
            self._cache.clear()
