"""A scratch in-memory SQLite schema the lint replays SQLite-dialect migrations into, so a
rule sees each table as it is at that statement (table rebuilds, D1's foreign keys)."""

from __future__ import annotations

import contextlib
import re
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from malnu_tui.engine.sqlsplit import Statement

__all__ = ["Replay", "TableShape"]

_NO_REPLAY = {"BEGIN", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE", "ATTACH", "DETACH",
              "VACUUM"}  # fmt: skip
_CHECK = re.compile(r"\bCHECK\s*\(", re.IGNORECASE)


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
    """What a table rebuild is compared on: columns, unique column sets, CHECKs."""

    columns: dict[str, tuple[str, bool]]  # name (folded) → (declared type, NOT NULL)
    uniques: frozenset[tuple[str, ...]]
    checks: frozenset[str]


class Replay:
    """An in-memory SQLite database with foreign keys on (as on D1)."""

    def __init__(self, base_schema: Sequence[str] = ()) -> None:
        self.conn = sqlite3.connect(":memory:", isolation_level=None)
        self.conn.execute("PRAGMA foreign_keys = ON")
        for sql in base_schema:
            with contextlib.suppress(sqlite3.Error):
                self.conn.execute(sql)

    def close(self) -> None:
        self.conn.close()

    def run(self, st: Statement) -> None:
        """Best effort: the apply itself reports real SQL errors with the line."""
        if st.first_words.split(" ", 1)[0] in _NO_REPLAY:
            return
        with contextlib.suppress(sqlite3.Error, sqlite3.Warning, ValueError):
            self.conn.execute(st.text)

    def has_table(self, name: str) -> bool:
        row = self.conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND lower(name) = lower(?)", (name,)
        ).fetchone()
        return row is not None

    def shape(self, table: str) -> TableShape | None:
        row = self.conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND lower(name) = lower(?)",
            (table,),
        ).fetchone()
        if row is None:
            return None
        name, sql = str(row[0]), str(row[1] or "")
        cols = {
            str(c[1]).lower(): (" ".join(str(c[2]).upper().split()), bool(c[3]))
            for c in self.conn.execute(f"PRAGMA table_xinfo({_q(name)})")
        }
        uniques: set[tuple[str, ...]] = set()
        for idx in self.conn.execute(f"PRAGMA index_list({_q(name)})").fetchall():
            if idx[2]:  # unique
                info = self.conn.execute(f"PRAGMA index_info({_q(str(idx[1]))})").fetchall()
                uniques.add(tuple(str(c[2]).lower() for c in info))
        return TableShape(cols, frozenset(uniques), frozenset(_checks(sql)))

    def tables(self) -> list[str]:
        return [
            str(r[0])
            for r in self.conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]

    def foreign_keys_to(self, parent: str) -> list[tuple[str, str, str]]:
        """(child table, child column, ON DELETE action) of every foreign key to ``parent``."""
        out: list[tuple[str, str, str]] = []
        for child in self.tables():
            if child.lower() == parent.lower():
                continue
            for fk in self.conn.execute("SELECT * FROM pragma_foreign_key_list(?)", (child,)):
                # (id, seq, table, from, to, on_update, on_delete, match)
                if str(fk[2]).lower() == parent.lower():
                    out.append((child, str(fk[3]), str(fk[6]).upper()))
        return out
