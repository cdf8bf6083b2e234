"""What the translation knows about the schema so far: a scratch in-memory SQLite database into
which every translated statement is also run, so that SQLite itself answers questions such as
"what are this table's keys?" after any sequence of CREATE/ALTER/DROP."""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from typing import Any

__all__ = ["ColumnInfo", "PendingKey", "SchemaState"]


@dataclass(frozen=True)
class PendingKey:
    """A foreign key to add once its target table exists on PostgreSQL."""

    child: str
    columns: tuple[str, ...]
    target: str
    ref_columns: tuple[str, ...]  # empty: the target's primary key
    sql: str  # ALTER TABLE child ADD … FOREIGN KEY …
    file: str
    line: int
    rebuilt: bool = False  # dropped with its (rebuilt) target, not a forward reference


@dataclass(frozen=True)
class ColumnInfo:
    """One column as SQLite reports it (``PRAGMA table_xinfo``)."""

    name: str
    declared: str
    notnull: bool
    default: str | None
    pk: int  # position in the primary key, 0 when not part of it
    hidden: int = 0  # 2/3: generated column


_NAMED_DDL = re.compile(
    r"^\s*(?:CREATE|ALTER\s+TABLE|DROP\s+(?:TABLE|VIEW|TRIGGER))\b", re.IGNORECASE
)
_NAMES = re.compile(
    r"'(?:[^']|'')*'|\"((?:[^\"]|\"\")+)\"|`([^`]+)`|\[([^\]]+)\]|([A-Za-z_][\w$]*)"
)
_NAME = r"(?:\"(?:[^\"]|\"\")+\"|`[^`]+`|\[[^\]]+\]|[\w$]+)"
# DDL that changes no table's columns or keys: an index changes only its table's unique keys;
# a view only answers for its own name; a trigger changes nothing the cache holds.
_INDEX_OR_VIEW_OR_TRIGGER = re.compile(
    r"^\s*CREATE\s+(?:(?P<index>(?:UNIQUE\s+)?INDEX)|(?:TEMP(?:ORARY)?\s+)?"
    r"(?P<kind>VIEW|TRIGGER))\s+(?:IF\s+NOT\s+EXISTS\s+)?"
    rf"(?:{_NAME}\s*\.\s*)?(?P<name>{_NAME})",
    re.IGNORECASE,
)
_DATA_ONLY = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|REPLACE|WITH|VALUES)\b", re.I)
_CREATE = re.compile(r"^\s*CREATE\b", re.IGNORECASE)
# SQLite's case-insensitivity for names: ASCII letters only (COLLATE NOCASE).
_FOLD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_ADD_COLUMN = re.compile(rf"^\s*ALTER\s+TABLE\s+(?P<name>{_NAME})\s+ADD\b", re.IGNORECASE)
# A view of the main schema, named without a schema (its CREATE can wait: see _defer_view).
_MAIN_VIEW = re.compile(
    rf"^\s*CREATE\s+VIEW\s+(?:IF\s+NOT\s+EXISTS\s+)?(?P<name>{_NAME})\s*(?:\(|AS\b)", re.I
)
# A CREATE that may run while views wait (it cannot see them unless it names one).
_CREATE_OBJECT = re.compile(
    r"^\s*CREATE\s+(?:TEMP(?:ORARY)?\s+)?(?:UNIQUE\s+)?(?P<kind>TABLE|INDEX|TRIGGER|VIEW)\s+"
    rf"(?:IF\s+NOT\s+EXISTS\s+)?(?:{_NAME}\s*\.\s*)?(?P<name>{_NAME})",
    re.I,
)
# A name's word runs: a statement naming it (bare, in any quotes, '…' too: SQLite takes a
# single-quoted name where a name is expected) holds each of them as a whole run.
_RUN = re.compile(r"[\w$]+")


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _names(sql: str) -> set[str]:
    """Every name ``sql`` mentions, unquoted and lower-cased (string literals skipped)."""
    named = {m[1] or m[2] or m[3] or m[4] for m in _NAMES.finditer(sql)}
    return {n.replace('""', '"').lower() for n in named if n}


def _folded(sql: str) -> str:
    """``sql`` with ASCII letters lower-cased (SQLite's case-insensitivity for names)."""
    return sql.lower() if sql.isascii() else sql.translate(_FOLD)


def _unquote(name: str) -> str:
    if name[:1] in ('"', "`", "["):
        inner = name[1:-1]
        return inner.replace('""', '"') if name[0] == '"' else inner
    return name


class SchemaState:
    """A scratch SQLite schema that follows the migrations being translated.

    Names are looked up with ``name = ? COLLATE NOCASE``: SQLite's case-insensitivity for
    names (ASCII letters only, like its ``lower()``), without a function call per row."""

    def __init__(self) -> None:
        self.conn = sqlite3.connect(":memory:", isolation_level=None)
        self.trigger_functions: dict[str, str] = {}  # trigger name → PostgreSQL function name
        # Foreign keys waiting for their table to exist on PostgreSQL (forward references, and
        # keys dropped with a rebuilt table): target table (lower) → ALTER TABLE … ADD statements.
        self.pending_keys: dict[str, list[PendingKey]] = {}
        # Views dropped with a rebuilt table, re-created when it exists again: table → (name, SQL).
        self.pending_views: dict[str, list[tuple[str, str]]] = {}
        # Objects whose CREATE was withheld: name (lower) → (file, line) of that statement; and
        # the statements withheld because they depend on one: root (file, line) → dependents.
        self.withheld: dict[str, tuple[str, int]] = {}
        self.dependents: dict[tuple[str, int], list[tuple[str, int]]] = {}
        # Names of PostgreSQL indexes made by named PRIMARY KEY/UNIQUE constraints (per schema).
        self.constraint_names: set[str] = set()
        # Foreign keys left out on PostgreSQL (types differ…): (child, columns), lower-cased.
        self.left_out: set[tuple[str, tuple[str, ...]]] = set()
        # Answers per (lower-cased) table name and question, until a change to that table.
        self._cache: dict[str, dict[str, Any]] = {}
        self._side: sqlite3.Connection | None = None  # see _add_column
        # sqlite_master's rows by name (ASCII-folded), in rowid order: (rowid, type, name,
        # tbl_name). Kept up to date after a CREATE (rows past the last rowid) and by
        # _add_column; any other DDL drops it (read again when next asked).
        self._objects: dict[str, list[tuple[int, str, str, str]]] | None = None
        self._last_rowid = 0
        # CREATE VIEWs SQLite accepted (EXPLAIN) but not run yet, in order, and their names
        # (ASCII-folded): run when anything could see them (see _defer_view).
        self._views: list[str] = []
        self._view_names: set[str] = set()
        self._view_runs: set[str] = set()  # the word runs of their names
        self._view_sql_runs: set[str] = set()  # the word runs of their SQL
        self._view_asks: list[str] = []  # views whose boolean columns are read when they run
        self._just_deferred: str | None = None  # the view the statement being run created
        self._explains = 0

    def close(self) -> None:
        """Free the scratch database."""
        self.conn.close()
        if self._side is not None:
            self._side.close()

    def clone(self) -> SchemaState:
        """An independent copy (to try statements without changing this state)."""
        other = SchemaState()
        if self._views:
            self._run_views()
        if self.conn.in_transaction:
            # A migration's SAVEPOINT left a transaction open: a backup would wait for it
            # forever (SQLITE_LOCKED, retried); the pages as they stand copy it all.
            other.conn.deserialize(self.conn.serialize())
        else:
            self.conn.backup(other.conn)
        other.trigger_functions = dict(self.trigger_functions)
        other.pending_keys = {k: list(v) for k, v in self.pending_keys.items()}
        other.pending_views = {k: list(v) for k, v in self.pending_views.items()}
        other.withheld = dict(self.withheld)
        other.constraint_names = set(self.constraint_names)
        other.left_out = set(self.left_out)
        return other

    def run(self, sql: str) -> str | None:
        """Run one SQLite statement; returns SQLite's error text, or None. Statements that
        only touch data change nothing the translation asks about: they are only checked when
        they hold a double-quoted word (see ``double_quoted_strings``)."""
        if _DATA_ONLY.match(sql):
            if '"' not in sql:
                return None
            if self._views and self._sees_views(sql):
                self._run_views()
            try:
                self.conn.execute(sql)  # data only: sqlite_master does not change
            except sqlite3.Error as exc:
                return str(exc)
            return None
        added = _ADD_COLUMN.match(sql)
        if self._views and self._needs_views(sql, added):
            self._run_views()
        self._just_deferred = None
        self._forget(sql)
        if (view := _MAIN_VIEW.match(sql)) is not None:
            return self._defer_view(sql, _unquote(view["name"]))
        if added is not None:
            done, error = self._add_column(sql, _unquote(added["name"]))
            if done:
                return error
            if self._views:
                self._run_views()  # the ALTER itself runs in the scratch schema
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

    def _defer_view(self, sql: str, name: str) -> str | None:
        """A CREATE VIEW of the main schema waits until something could see the view: a
        statement naming it (or sqlite_master), a question about it, a statement other than
        a data statement or a CREATE, a clone. SQLite checks a view's name and syntax when it
        prepares the CREATE, never the tables it reads (until the view is used): EXPLAIN
        gives its verdict and error text now, and the CREATE runs, in order, later."""
        # A new text each time: Python caches prepared statements by text, and an EXPLAIN
        # never checks that the schema it was prepared against is still current.
        self._explains += 1
        try:
            self.conn.execute(f"EXPLAIN /*{self._explains}*/ {sql}").close()
        except sqlite3.Error as exc:
            return str(exc)
        folded = name.translate(_FOLD)
        self._views.append(sql)
        self._view_names.add(folded)
        self._view_runs.update(_RUN.findall(folded) or [""])  # "": no run, always seen
        self._view_sql_runs.update(_RUN.findall(_folded(sql)))
        self._just_deferred = folded
        return None

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
        folded = _folded(sql)
        if "" in self._view_runs or "sqlite_" in folded or "pragma_" in folded:
            return True
        return not self._view_runs.isdisjoint(_RUN.findall(folded))

    def _run_views(self) -> None:
        """Run the waiting CREATE VIEWs (SQLite accepted each when it was translated)."""
        views, asks = self._views, self._view_asks
        self._views, self._view_asks = [], []
        self._view_names, self._view_runs, self._view_sql_runs = set(), set(), set()
        self._just_deferred = None
        for sql in views:
            try:
                self.conn.execute(sql)
            except sqlite3.Error:  # (not expected: nothing they could see has changed)
                self._objects = None
        if self._objects is not None:
            self._read_objects(self._last_rowid)
        for view in asks:
            self.boolean_columns(view)

    def _forget(self, sql: str) -> None:
        """Drop the cached answers DDL ``sql`` may change."""
        if (created := _INDEX_OR_VIEW_OR_TRIGGER.match(sql)) is not None:
            if created["index"]:
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

    def _rows(self, name: str) -> list[tuple[int, str, str, str]]:
        """sqlite_master's rows whose name is ``name`` (any ASCII case), in rowid order."""
        if self._views and name.translate(_FOLD) in self._view_names:
            self._run_views()
        if self._objects is None:
            self._objects = {}
            self._last_rowid = 0
            self._read_objects(0)
        return self._objects.get(name.translate(_FOLD), [])

    def _read_objects(self, after: int) -> None:
        objects = self._objects
        assert objects is not None
        for rowid, kind, name, table in self.conn.execute(
            "SELECT rowid, type, name, tbl_name FROM sqlite_master WHERE rowid > ? ORDER BY rowid",
            (after,),
        ):
            row = (int(rowid), str(kind), str(name), str(table))
            objects.setdefault(row[2].translate(_FOLD), []).append(row)
            self._last_rowid = max(self._last_rowid, row[0])

    def _first(self, name: str, *kinds: str) -> tuple[int, str, str, str] | None:
        """The first sqlite_master row named ``name`` (any case) of one of ``kinds``."""
        for row in self._rows(name):
            if not kinds or row[1] in kinds:
                return row
        return None

    def _add_column(self, sql: str, table: str) -> tuple[bool, str | None]:
        """``ALTER TABLE … ADD COLUMN`` without SQLite's reload of the whole schema (which
        makes a long set's ALTERs cost the square of its size). SQLite runs the ALTER on the
        table alone in a side database (its verdict and error text, and the table's new SQL);
        the scratch schema then drops the table and creates it again from that SQL, with its
        indexes and triggers. Only for an empty table of the main schema with nothing in the
        temp schema; otherwise (False, None) and the caller runs the ALTER itself."""
        conn = self.conn
        found = self._first(table, "table")
        if found is None or found[2].lower().startswith("sqlite_"):
            return False, None
        name = found[2]
        row = conn.execute("SELECT sql FROM sqlite_master WHERE rowid = ?", (found[0],)).fetchone()
        create = str(row[0]) if row and row[0] else ""
        if not create or create[:20].upper().startswith("CREATE VIRTUAL"):
            return False, None
        try:
            if conn.execute("SELECT 1 FROM sqlite_temp_master LIMIT 1").fetchone():
                return False, None
            if conn.execute(f"SELECT 1 FROM {_q(name)} LIMIT 1").fetchone():
                return False, None
            if (
                self._rows("sqlite_sequence")
                and conn.execute("SELECT 1 FROM sqlite_sequence WHERE name = ?", (name,)).fetchone()
            ):
                return False, None
        except sqlite3.Error:
            return False, None
        if self._side is None:
            self._side = sqlite3.connect(":memory:", isolation_level=None)
        side = self._side
        try:
            side.execute(create)
        except sqlite3.Error:
            return False, None
        try:
            side.execute(sql)
        except sqlite3.Error as exc:
            return True, str(exc)
        else:
            got = side.execute(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
            ).fetchone()
            altered = str(got[0]) if got and got[0] else None
        finally:
            side.execute(f"DROP TABLE IF EXISTS {_q(name)}")
        if altered is None:
            return False, None
        # Everything DROP TABLE removes: the table, its indexes and its triggers (a trigger's
        # tbl_name is spelled as its CREATE TRIGGER wrote it).
        owned = conn.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE tbl_name = ? COLLATE NOCASE "
            "ORDER BY rowid",
            (name,),
        ).fetchall()
        dependents = [str(r[2]) for r in owned if r[0] in ("index", "trigger") and r[2]]
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
            return False, None
        conn.execute("RELEASE malnu_add_column")
        if self._objects is not None:  # the same names again, with new rowids
            folded = name.translate(_FOLD)
            for r in owned:
                key = str(r[1]).translate(_FOLD)
                rows = [o for o in self._objects.get(key, []) if o[3].translate(_FOLD) != folded]
                if rows:
                    self._objects[key] = rows
                else:
                    self._objects.pop(key, None)
            self._last_rowid = int(last)  # the new rows follow the rows left
            self._read_objects(self._last_rowid)
        return True, None

    def _cached(self, kind: str, key: str, compute: Any) -> Any:
        answers = self._cache.setdefault(key.lower(), {})
        if kind not in answers:
            answers[kind] = compute()
        return answers[kind]

    def has_table(self, table: str) -> bool:
        """True when ``table`` (any case) exists."""
        return self.real_name(table) is not None

    def real_name(self, table: str) -> str | None:
        """The table's name as created (SQLite names are case-insensitive)."""
        name: str | None = self._cached("name", table, lambda: self._real_name(table))
        return name

    def _real_name(self, table: str) -> str | None:
        row = self._first(table, "table", "view")
        return None if row is None else row[2]

    def columns(self, table: str) -> list[ColumnInfo]:
        """Columns of ``table`` in order (empty when unknown)."""
        cols: list[ColumnInfo] = self._cached("columns", table, lambda: self._columns(table))
        return cols

    def _columns(self, table: str) -> list[ColumnInfo]:
        name = self.real_name(table)
        if name is None:
            return []
        if self._views and self._first(name, "view") is not None:
            self._run_views()  # a view's columns may come from waiting views
        try:
            rows = self.conn.execute(f"PRAGMA table_xinfo({_q(name)})").fetchall()
        except sqlite3.Error:  # a view over a table that is gone
            return []
        return [
            ColumnInfo(str(r[1]), str(r[2] or ""), bool(r[3]), r[4], int(r[5]), int(r[6]))
            for r in rows
        ]

    def primary_key(self, table: str) -> list[str]:
        """Primary key columns in key order."""
        cols = [c for c in self.columns(table) if c.pk]
        return [c.name for c in sorted(cols, key=lambda c: c.pk)]

    def unique_keys(self, table: str) -> list[list[str]]:
        """Primary key first, then every full (non-partial, column-only) unique index."""
        keys: list[list[str]] = self._cached("keys", table, lambda: self._unique_keys(table))
        return keys

    def _unique_keys(self, table: str) -> list[list[str]]:
        keys: list[list[str]] = []
        pk = self.primary_key(table)
        if pk:
            keys.append(pk)
        name = self.real_name(table)
        if name is None:
            return keys
        for row in self.conn.execute(f"PRAGMA index_list({_q(name)})").fetchall():
            index, unique, origin, partial = str(row[1]), int(row[2]), str(row[3]), int(row[4])
            if not unique or partial or origin == "pk":
                continue
            info = self.conn.execute(f"PRAGMA index_info({_q(index)})").fetchall()
            cols = [str(r[2]) for r in info]
            if cols and all(r[2] is not None for r in info) and cols not in keys:
                keys.append(cols)
        return keys

    def is_rowid_alias(self, table: str, column: str) -> bool:
        """True for SQLite's ``INTEGER PRIMARY KEY`` column (auto-assigned rowid)."""
        alias = self.rowid_alias(table)
        return alias is not None and alias == column.lower()

    def rowid_alias(self, table: str) -> str | None:
        """The lower-cased name of the table's ``INTEGER PRIMARY KEY`` column, if any."""
        alias: str | None = self._cached("rowid_alias", table, lambda: self._rowid_alias(table))
        return alias

    def _rowid_alias(self, table: str) -> str | None:
        pk = [c for c in self.columns(table) if c.pk]
        if (
            len(pk) == 1
            and pk[0].declared.strip().upper() == "INTEGER"
            and not self._without_rowid(table)
        ):
            return pk[0].name.lower()
        return None

    def _without_rowid(self, table: str) -> bool:
        found: bool = self._cached("without_rowid", table, lambda: self._read_without_rowid(table))
        return found

    def _read_without_rowid(self, table: str) -> bool:
        found = self._first(table, "table")
        if found is None:
            return False
        row = self.conn.execute(
            "SELECT sql FROM sqlite_master WHERE rowid = ?", (found[0],)
        ).fetchone()
        return bool(row and row[0] and "WITHOUT ROWID" in " ".join(str(row[0]).upper().split()))

    def boolean_columns(self, table: str) -> set[str]:
        """Lower-cased names of the columns declared BOOLEAN/BOOL."""
        found: set[str] = self._cached(
            "booleans",
            table,
            lambda: {
                c.name.lower()
                for c in self.columns(table)
                if c.declared.strip().upper() in ("BOOLEAN", "BOOL")
            },
        )
        return found

    def trigger_table(self, trigger: str) -> str | None:
        """The table a trigger is on, or None."""
        row = self._first(trigger, "trigger")
        return None if row is None else row[3]

    def object_exists(self, name: str) -> bool:
        """True when a table, view, index or trigger named ``name`` (any case) exists."""
        return bool(self._rows(name))

    def referencing_keys(self, table: str) -> list[tuple[str, list[Any]]]:
        """Foreign keys of other tables that point at ``table``: (child table, PRAGMA
        foreign_key_list rows of one key, in column order)."""
        found: list[tuple[str, list[Any]]] = []
        for (child,) in self.conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND lower(name) <> lower(?) "
            "AND name NOT LIKE 'sqlite_%' ORDER BY name",
            (table,),
        ).fetchall():
            groups: dict[int, list[Any]] = {}
            for row in self.conn.execute(f"PRAGMA foreign_key_list({_q(str(child))})"):
                if str(row[2]).lower() == table.lower():
                    groups.setdefault(int(row[0]), []).append(row)
            for rows in groups.values():
                found.append((str(child), sorted(rows, key=lambda r: r[1])))
        return found

    def referencing_views(self, table: str) -> list[tuple[str, str]]:
        """Views whose SQL names ``table``: (name, SQL)."""
        word = re.compile(r"(?<![\w$])[\"`\[]?" + re.escape(table) + r"[\"`\]]?(?![\w$])", re.I)
        if self._views:
            self._run_views()
        return [
            (str(name), str(sql))
            for name, sql in self.conn.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'view' ORDER BY rowid"
            ).fetchall()
            if sql and word.search(str(sql))
        ]
