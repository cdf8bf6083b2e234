"""The schema as the lint walks SQLite-dialect migrations, so a rule sees a table as it is at
that statement (table rebuilds, D1's foreign keys).

Replaying every statement into one SQLite database costs SQLite a scan of the whole schema per
``ALTER TABLE`` (milliseconds once there are hundreds of tables), so instead each table keeps
its own history (its CREATE, ALTERs, indexes), and a table is replayed alone into a tiny
in-memory database only when a rule asks about it."""

from __future__ import annotations

import contextlib
import re
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field

from malnu_tui.engine.backends.sqlite_sql import NOT_INTERNAL
from malnu_tui.engine.lint.ops import Op, key, read_ops, strip_comments
from malnu_tui.engine.sqlsplit import Statement

__all__ = ["Replay", "TableShape"]

_CHECK = re.compile(r"\bCHECK\s*\(", re.IGNORECASE)
_IF_NOT_EXISTS = re.compile(r"^\s*CREATE\s+\w*\s*TABLE\s+IF\s+NOT\s+EXISTS\b", re.IGNORECASE)
_NAME = r'(?:"(?:[^"]|"")+"|`[^`]+`|\[[^\]]+\]|\'(?:[^\']|\'\')+\'|[\w$]+)'
# A table the replay keeps no history of, which may be there all the same.
_VIRTUAL = re.compile(
    rf"^\s*CREATE\s+VIRTUAL\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(?:{_NAME}\s*\.\s*)?(?P<n>{_NAME})",
    re.IGNORECASE,
)
# DROP TABLE IF EXISTS of tables of the main schema (named bare or as main.t), one or more.
_DROP_IF_EXISTS = re.compile(
    rf"^\s*DROP\s+TABLE\s+IF\s+EXISTS\s+(?:main\s*\.\s*)?{_NAME}"
    rf"(?:\s*,\s*(?:main\s*\.\s*)?{_NAME})*\s*$",
    re.IGNORECASE,
)


def _reference(table: str) -> re.Pattern[str]:
    """``table`` (folded) where a statement reads or writes it: after FROM, JOIN, UPDATE, INTO
    or a comma, quoted or not."""
    name = re.escape(table)
    return re.compile(
        r"(?:\bFROM|\bJOIN|\bUPDATE|\bINTO|,)\s+(?:(?:main|temp)\s*\.\s*)?"
        rf'(?P<t>"{name}"|`{name}`|\[{name}\]|{name}(?![\w$]))',
        re.IGNORECASE,
    )


def _references(table: str) -> re.Pattern[str]:
    """``table`` (folded) after REFERENCES, quoted or not."""
    name = re.escape(table)
    return re.compile(
        rf'\bREFERENCES\s+(?:main\s*\.\s*)?(?P<t>"{name}"|`{name}`|\[{name}\]|{name}(?![\w$]))',
        re.IGNORECASE,
    )


_LITERAL = re.compile(r"'(?:[^']|'')*'")


def _code(sql: str) -> str:
    """``sql`` without comments and string literals (a 'from users' in a string names no
    table)."""
    return _LITERAL.sub("''", strip_comments(sql))


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _checks(sql: str) -> list[str]:
    """The CHECK expressions of a CREATE TABLE, whitespace-normalised."""
    out: list[str] = []
    for m in _CHECK.finditer(sql):
        depth = 0
        for j in range(m.end() - 1, len(sql)):
            if sql[j] == "(":
                depth += 1
            elif sql[j] == ")":
                depth -= 1
                if depth == 0:
                    out.append(" ".join(sql[m.end() : j].split()).lower())
                    break
    return out


@dataclass(frozen=True)
class TableShape:
    """What a table rebuild is compared on: columns, unique column sets, CHECKs, and what a
    rebuild must re-create by hand (indexes, foreign keys, triggers)."""

    columns: dict[str, tuple[str, bool]]  # name (folded) → (declared type, NOT NULL)
    uniques: frozenset[tuple[str, ...]]
    checks: frozenset[str]
    indexes: dict[tuple[str, ...], str] = field(default_factory=dict)  # columns → index name
    foreign_keys: frozenset[tuple[str, str, str]] = frozenset()  # (column, parent, its column)
    triggers: frozenset[str] = frozenset()
    defaults: frozenset[str] = frozenset()  # columns with a DEFAULT (or a generated value)


class Replay:
    """Per-table schema histories; see the module doc."""

    def __init__(self, base_schema: Sequence[str] = (), *, live: bool = False) -> None:
        self.history: dict[str, list[str]] = {}
        self.live = live  # base_schema is the live database's: what is not here is not there
        self.virtual: set[str] = set()  # CREATE VIRTUAL TABLE: no history, there all the same
        self.index_table: dict[str, str] = {}
        self.trigger_table: dict[str, str] = {}
        self.views: dict[str, str] = {}  # view → its CREATE VIEW
        self.trigger_sql: dict[str, tuple[str, str]] = {}  # trigger → (its table, CREATE)
        # ("view" | "trigger", name) → the dropped table it still names: SQLite refuses every
        # ALTER TABLE … RENAME while one is there
        self.dangling: dict[tuple[str, str], str] = {}
        for sql in base_schema:
            self.run(Statement(sql, 0))

    def close(self) -> None:
        self.history.clear()

    def copy(self) -> Replay:
        """An independent copy of the schema as it is now (a rollback file is walked on one,
        from where its migration left the schema)."""
        twin = Replay(live=self.live)
        twin.history = {t: list(h) for t, h in self.history.items()}
        twin.virtual = set(self.virtual)
        twin.index_table, twin.trigger_table = dict(self.index_table), dict(self.trigger_table)
        twin.views, twin.trigger_sql = dict(self.views), dict(self.trigger_sql)
        twin.dangling = dict(self.dangling)
        return twin

    def run(self, st: Statement, op: Op | None = None, *, keep_references: bool = False) -> None:
        """Record what ``st`` does to the tables (data statements change nothing here).
        ``keep_references``: a rename leaves other tables' REFERENCES as written (a SQLite
        file with foreign keys off and legacy_alter_table on)."""
        op = op or read_ops(st)
        kind = op.kind
        if kind == "create_table":
            if op.key in self.history and _IF_NOT_EXISTS.match(st.text):
                return
            self.history[op.key] = [st.text]
            self._exists_again(op.key)
        elif kind == "other" and (v := _VIRTUAL.match(strip_comments(st.text))):
            self.virtual.add(key(v["n"].strip("'")))
        elif kind == "drop_table":
            for n in op.names:
                self.virtual.discard(key(n))
                for what in self.naming(n):  # left naming a table that is gone
                    self.dangling[what] = key(n)
                self.history.pop(key(n), None)
                for name, (t, _) in list(self.trigger_sql.items()):
                    if t == key(n):
                        del self.trigger_sql[name]
                        self.dangling.pop(("trigger", name), None)
        elif kind == "create_view":
            self.views[op.key] = st.text
        elif kind == "drop_view":
            for n in op.names:
                self.views.pop(key(n), None)
                self.dangling.pop(("view", key(n)), None)
        elif kind == "alter_table":
            hist = self.history.get(op.key)
            if hist is None:
                return
            hist.append(st.text)
            for a in op.actions:
                if a.kind == "rename_table":
                    self._renamed(op.key, a.new)
                    if not keep_references:
                        self._references_renamed(op.key, a.new)
                    self._exists_again(key(a.new))
                    self.history[key(a.new)] = self.history.pop(op.key)
                    for owned in (self.index_table, self.trigger_table):
                        for name, t in owned.items():
                            if t == op.key:
                                owned[name] = key(a.new)
        elif kind == "create_index":
            t = key(op.table)
            if t in self.history:
                self.history[t].append(st.text)
                if op.name:
                    self.index_table[op.key] = t
        elif kind == "create_trigger":
            t = key(op.table)
            self.trigger_sql[op.key] = (t, st.text)
            if t in self.history:
                self.history[t].append(st.text)
                self.trigger_table[op.key] = t
        elif kind in ("drop_index", "drop_trigger"):
            owner = self.index_table if kind == "drop_index" else self.trigger_table
            for n in op.names:
                self.trigger_sql.pop(key(n), None)
                self.dangling.pop(("trigger", key(n)), None)
                t = owner.pop(key(n), "")
                if t in self.history:
                    self.history[t].append(st.text)

    def _exists_again(self, table: str) -> None:
        for what, gone in list(self.dangling.items()):
            if gone == table:
                del self.dangling[what]

    def _renamed(self, old: str, new: str) -> None:
        """SQLite rewrites the views and triggers that name a renamed table."""
        for name, sql in self.views.items():
            self.views[name] = _reference(old).sub(lambda m: m[0][: -len(m["t"])] + new, sql)
        for name, (t, sql) in self.trigger_sql.items():
            sub = _reference(old).sub(lambda m: m[0][: -len(m["t"])] + new, sql)
            self.trigger_sql[name] = (key(new) if t == old else t, sub)

    def _references_renamed(self, old: str, new: str) -> None:
        """SQLite 3.26+ rewrites other tables' REFERENCES to a renamed table (it was left
        naming the old one here: a table renamed twice, then rebuilt rename-first, had no
        children by the time of its rebuild, and ``lint --all`` said nothing)."""
        ref = _references(old)
        for t, hist in self.history.items():
            if t != old and any(old in sql.lower() for sql in hist):
                self.history[t] = [ref.sub(lambda m: m[0][: -len(m["t"])] + _q(new), sql)
                                   for sql in hist]  # fmt: skip

    def drops_nothing(self, st: Statement, table: str) -> bool:
        """Whether ``st``, a ``DROP TABLE IF EXISTS`` of ``table`` (of the main schema), finds
        no such table in the schema as it is now (Cloudflare's D1 tutorial starts its first
        migration so: ``DROP TABLE IF EXISTS comments; CREATE TABLE …``)."""
        if not _DROP_IF_EXISTS.match(strip_comments(st.text)):
            return False
        return key(table) not in self.history and key(table) not in self.virtual

    def naming(self, table: str) -> list[tuple[str, str]]:
        """("view" | "trigger", name) of the views, and the triggers of other tables, whose SQL
        reads or writes ``table``."""
        t, ref = key(table), _reference(key(table))
        found = [("view", n) for n, sql in self.views.items() if ref.search(_code(sql))]
        found += [
            ("trigger", n)
            for n, (on, sql) in self.trigger_sql.items()
            if on != t and ref.search(_code(sql))
        ]
        return sorted(found)

    def drop_column_error(self, table: str, column: str) -> str | None:
        """SQLite's message when it refuses ``ALTER TABLE table DROP COLUMN column`` in the
        schema as it is now (its own checks: a PRIMARY KEY, UNIQUE, indexed or CHECKed
        column, one a view or trigger uses), asked of SQLite on a scratch copy of the table,
        its indexes and triggers, and the views and triggers that name it; None when it
        drops it (or the table's history is unknown)."""
        t = key(table)
        if t not in self.history:
            return None
        ref = _reference(t)
        others = [sql for sql in self.views.values() if ref.search(_code(sql))]
        others += [
            sql for on, sql in self.trigger_sql.values() if on != t and ref.search(_code(sql))
        ]
        named = [_code(x) for x in (*self.history[t], *others)]  # the tables these name
        tables = {t} | {n for n in self.history for sql in named if _reference(n).search(sql)}
        conn = sqlite3.connect(":memory:", isolation_level=None)
        try:
            for sql in [x for name in sorted(tables) for x in self.history[name]] + others:
                with contextlib.suppress(sqlite3.Error, sqlite3.Warning, ValueError):
                    conn.execute(sql)
            name = conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND lower(name) = ?", (t,)
            ).fetchone()
            if name is None:
                return None
            conn.execute(f"ALTER TABLE {_q(str(name[0]))} DROP COLUMN {_q(column)}")
        except (sqlite3.Error, sqlite3.Warning, ValueError) as exc:
            message = str(exc)  # one about the column, not a gap of the scratch copy
            return (
                message if "cannot drop" in message or column.lower() in message.lower() else None
            )
        finally:
            conn.close()
        return None

    def _alone(self, table: str) -> tuple[sqlite3.Connection, str] | None:
        """The table replayed alone: (connection, its name there)."""
        hist = self.history.get(key(table))
        if not hist:
            return None
        conn = sqlite3.connect(":memory:", isolation_level=None)
        for sql in hist:
            with contextlib.suppress(sqlite3.Error, sqlite3.Warning, ValueError):
                conn.execute(sql)
        row = conn.execute(
            f"SELECT name FROM sqlite_master WHERE type = 'table' AND {NOT_INTERNAL}"
        ).fetchone()
        if row is None:
            conn.close()
            return None
        return conn, str(row[0])

    def owned_by(self, table: str) -> set[tuple[str, str]]:
        """("index" | "trigger", name) of the objects on ``table`` now (names folded)."""
        t = key(table)
        return {("index", n) for n, owner in self.index_table.items() if owner == t} | {
            ("trigger", n) for n, owner in self.trigger_table.items() if owner == t
        }

    def insert_columns(self, table: str) -> tuple[str, ...]:
        """The columns an ``INSERT INTO table SELECT …`` without a column list fills, in
        order (generated columns left out, as SQLite leaves them); () when unknown."""
        alone = self._alone(table)
        if alone is None:
            return ()
        conn, name = alone
        try:
            return tuple(str(c[1]) for c in conn.execute(f"PRAGMA table_info({_q(name)})"))
        finally:
            conn.close()

    def has_table(self, name: str) -> bool:
        return key(name) in self.history

    def shape(self, table: str) -> TableShape | None:
        alone = self._alone(table)
        if alone is None:
            return None
        conn, name = alone
        try:
            sql = str(conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (name,))
                      .fetchone()[0])  # fmt: skip
            info = conn.execute(f"PRAGMA table_xinfo({_q(name)})").fetchall()
            # (cid, name, type, notnull, dflt_value, pk, hidden); a lone INTEGER PRIMARY KEY is
            # the rowid, never NULL whatever its declaration says
            alias = [c for c in info if c[5]]
            rowid = str(alias[0][1]).lower() if len(alias) == 1 else ""
            if rowid and str(alias[0][2]).upper() != "INTEGER":
                rowid = ""
            cols = {
                str(c[1]).lower(): (
                    " ".join(str(c[2]).upper().split()),
                    bool(c[3]) or str(c[1]).lower() == rowid,
                )
                for c in info
            }
            defaults = frozenset(str(c[1]).lower() for c in info if c[4] is not None or c[6])
            uniques: set[tuple[str, ...]] = set()
            indexes: dict[tuple[str, ...], str] = {}
            for idx in conn.execute(f"PRAGMA index_list({_q(name)})").fetchall():
                info = conn.execute(f"PRAGMA index_info({_q(str(idx[1]))})").fetchall()
                on = tuple(str(c[2]).lower() for c in info)
                if idx[2]:  # unique
                    uniques.add(on)
                else:
                    indexes[on] = str(idx[1])
            fks = frozenset(
                (str(fk[3]).lower(), str(fk[2]).lower(), str(fk[4] or "").lower())
                for fk in conn.execute("SELECT * FROM pragma_foreign_key_list(?)", (name,))
            )
            triggers = frozenset(
                str(r[0]).lower()
                for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
            )
            return TableShape(
                cols, frozenset(uniques), frozenset(_checks(sql)), indexes, fks, triggers, defaults
            )
        finally:
            conn.close()

    def tables(self) -> list[str]:
        return list(self.history)

    def foreign_keys_to(self, parent: str) -> list[tuple[str, str, str]]:
        """(child table, child column, ON DELETE action) of every foreign key to ``parent``."""
        out: list[tuple[str, str, str]] = []
        p = key(parent)
        for t, hist in self.history.items():
            if t == p or p not in " ".join(hist).lower():
                continue
            alone = self._alone(t)
            if alone is None:
                continue
            conn, name = alone
            try:
                for fk in conn.execute("SELECT * FROM pragma_foreign_key_list(?)", (name,)):
                    # (id, seq, table, from, to, on_update, on_delete, match)
                    if str(fk[2]).lower() == p:
                        out.append((name, str(fk[3]), str(fk[6]).upper()))
            finally:
                conn.close()
        return out
