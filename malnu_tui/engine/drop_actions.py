"""What a ``DROP TABLE`` does to other tables' rows while foreign keys are on: SQLite deletes
the table's rows first, and its children's ``ON DELETE CASCADE`` / ``SET NULL`` / ``SET
DEFAULT`` act on theirs. D1 keeps foreign keys on whatever a file says, and a SQLite file does
when the file does not turn them off, so a table rebuild (create new, copy, drop, rename) there
empties or unlinks the child rows, and ``up`` says "ok". The rehearsal and the stairway (engine/
scratch.py) watch each drop and fail a migration whose rebuild did so, rather than say ✔."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

from malnu_tui.engine.backends.sqlite_sql import NOT_INTERNAL
from malnu_tui.engine.errors import StatementFailed
from malnu_tui.engine.sqlsplit import Statement

__all__ = ["DropWatch"]

_ACTS = ("CASCADE", "SET NULL", "SET DEFAULT")


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _acting_children(conn: sqlite3.Connection, parent: str) -> list[tuple[str, str, str]]:
    """(child, column, ACTION) for each foreign key whose ON DELETE acts on ``parent``'s
    rows."""
    out: list[tuple[str, str, str]] = []
    tables = conn.execute(
        f"SELECT name FROM sqlite_master WHERE type = 'table' AND {NOT_INTERNAL}"
    ).fetchall()
    for (child,) in tables:
        for fk in conn.execute(f"PRAGMA foreign_key_list({_q(str(child))})"):
            # (id, seq, table, from, to, on_update, on_delete, match)
            if str(fk[2]).lower() == parent.lower() and str(fk[6]).upper() in _ACTS:
                out.append((str(child), str(fk[3]), str(fk[6]).upper()))
    return out


def _referencing(conn: sqlite3.Connection, parent: str) -> list[str]:
    """The tables with a foreign key to ``parent`` (by name, whether it exists or not)."""
    tables = conn.execute(
        f"SELECT name FROM sqlite_master WHERE type = 'table' AND {NOT_INTERNAL}"
    ).fetchall()
    return [
        str(child)
        for (child,) in tables
        if any(
            str(fk[2]).lower() == parent.lower()
            for fk in conn.execute(f"PRAGMA foreign_key_list({_q(str(child))})")
        )
    ]


@dataclass
class DropWatch:
    """Per migration run: call :meth:`before` and :meth:`after` around each statement, then
    :meth:`check` before the COMMIT."""

    conn: sqlite3.Connection
    filename: str
    d1: bool
    # (the DROP, the table, child rows it deleted or changed, the acting children)
    acted: list[tuple[Statement, str, int, list[tuple[str, str, str]]]] = field(
        default_factory=list
    )
    _watching: tuple[str, int, int, list[tuple[str, str, str]]] | None = None

    def before(self, st: Statement) -> None:
        from malnu_tui.engine.lint.ops import read_ops

        self._watching = None
        if not st.first_words.startswith("DROP TABLE"):  # cheap: a seed's INSERTs pass here
            return
        op = read_ops(st)
        if op.kind != "drop_table" or len(op.names) != 1:
            return
        table = op.names[0]
        children = _acting_children(self.conn, table)
        if not children:
            return
        try:
            (rows,) = self.conn.execute(f"SELECT count(*) FROM {_q(table)}").fetchone()
        except sqlite3.Error:
            return  # no such table: the DROP fails on its own
        self._watching = (table, int(rows), self.conn.total_changes, children)

    def after(self, st: Statement) -> None:
        if self._watching is None:
            return
        table, rows, changes, children = self._watching
        self._watching = None
        # The drop's own implicit DELETE counts its rows; the rest were the children's.
        acted = self.conn.total_changes - changes - rows
        if acted > 0:
            self.acted.append((st, table, acted, children))

    def check(self) -> None:
        """:class:`StatementFailed` at the first DROP whose children's rows it changed, whose
        table the migration re-creates (a rebuild: it never meant to touch the children) or
        whose children are left referencing it, gone (a rebuild that renamed the old table out
        of the way first: SQLite 3.26+ moved their keys onto the copy it then dropped)."""
        for st, table, acted, acting in self.acted:
            children = [f"{c}({col}) {act}" for c, col, act in acting]
            again = self._exists(table)
            if not again:
                left = _referencing(self.conn, table)
                if left:
                    raise StatementFailed(
                        self.filename,
                        st.line,
                        st.text,
                        f"this DROP TABLE {table} deleted or changed {acted} row(s) of its "
                        f"child tables through their ON DELETE actions ({', '.join(children)}), "
                        f"and leaves {', '.join(left)} referencing {table}, which is gone: "
                        f"every later INSERT or UPDATE of them fails (no such table: main."
                        f"{table}); `up` would do the same to production and say ok. A rebuild "
                        "that renames the old table out of the way first moves its children's "
                        "keys onto the copy (SQLite 3.26+): create the new table first, copy, "
                        "drop the old one, rename the new one",
                    )
                # Rebuilt after the DROP, the copy took what it left: its rows deleted, or its
                # column set to NULL (harmless only when the rebuild drops that column).
                kept = dict.fromkeys(
                    c
                    for c, col, act in acting
                    if self._exists(c) and (act == "CASCADE" or self._has_column(c, col))
                )
                if kept:
                    raise StatementFailed(
                        self.filename,
                        st.line,
                        st.text,
                        f"this DROP TABLE {table} deleted or changed {acted} row(s) of "
                        f"{', '.join(kept)} through their ON DELETE actions "
                        f"({', '.join(children)}), a table the migration keeps (rebuilt after "
                        "this DROP, its copy took the rows as the DROP left them); `up` would "
                        "do the same to production and say ok. A rebuild that renames the old "
                        "table out of the way first moves its children's keys onto the copy "
                        "(SQLite 3.26+): rebuild the children before this DROP, or create the "
                        "new table first, copy, drop the old one, rename the new one",
                    )
                continue
            why = (
                "on D1 foreign keys stay on (PRAGMA foreign_keys = OFF is ignored there, and "
                "defer_foreign_keys does not stop ON DELETE actions)"
                if self.d1
                else "foreign keys are on: turn them off first (PRAGMA foreign_keys = OFF, as "
                "sqlite.org's rebuild procedure does)"
            )
            raise StatementFailed(
                self.filename,
                st.line,
                st.text,
                f"this DROP TABLE of a rebuild of {table} deleted or changed {acted} row(s) "
                f"of its child tables through their ON DELETE actions ({', '.join(children)}): "
                f"{why}; `up` would do the same to production's rows and say ok. Copy the "
                "child tables aside and rebuild them in the same migration, or avoid the rebuild",
            )

    def _has_column(self, table: str, column: str) -> bool:
        columns = self.conn.execute(f"PRAGMA table_info({_q(table)})").fetchall()
        return any(str(c[1]).lower() == column.lower() for c in columns)

    def _exists(self, table: str) -> bool:
        return (
            self.conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ? COLLATE NOCASE",
                (table,),
            ).fetchone()
            is not None
        )
