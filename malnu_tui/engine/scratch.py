"""Scratch databases for the stairway test and the rehearsal: a temp SQLite file, or a scratch
schema (or database) on a PostgreSQL server (scratch_pg.py). Each runs a migration's statements
in one transaction (as the backends do), counts the rows they touch, fingerprints the schema
object by object, and removes itself when closed."""

from __future__ import annotations

import contextlib
import re
import shutil
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from malnu_tui.engine.backends.base import AUDIT_TABLE, LOCK_TABLE, TRACKING_TABLE
from malnu_tui.engine.backends.sqlite_sql import (
    DEFER_OFF_WHY,
    NOT_INTERNAL,
    check_foreign_keys,
    connection_pragmas,
    defer_off_statement,
    foreign_key_violations,
    foreign_keys_off_line,
    restore_pragmas,
    run_statement,
)
from malnu_tui.engine.drop_actions import DropWatch
from malnu_tui.engine.errors import StatementFailed
from malnu_tui.engine.sqlsplit import Statement

# The PostgreSQL scratch (PostgresScratch, pg_run, its fingerprints) is in scratch_pg.py.
__all__ = [
    "TOOL_TABLES",
    "Fingerprint",
    "SQLiteScratch",
    "SchemaDifference",
    "Scratch",
    "compare_fingerprints",
    "normal_sql",
    "sqlite_fingerprint",
]

TOOL_TABLES = frozenset({TRACKING_TABLE, AUDIT_TABLE, LOCK_TABLE, "d1_migrations"})
Fingerprint = dict[str, str]


def normal_sql(sql: str) -> str:
    """``sql`` with its spacing in one form, as fingerprints compare it."""
    text = " ".join(str(sql).split())
    for a, b in (("( ", "("), (" )", ")"), (" ,", ","), (",", ", "), (",  ", ", ")):
        text = text.replace(a, b)
    return text


class Scratch(Protocol):
    """A throwaway database: run units, fingerprint the schema, close (removes it)."""

    where: str
    swept: list[str]  # what killed runs of this host left, removed (engine/left_behind.py)

    def run(self, filename: str, statements: Sequence[Statement]) -> tuple[int, int]:
        """Run ``statements`` in one transaction: (ms, rows affected); on a failing statement
        everything is rolled back and :class:`StatementFailed` raised."""
        ...

    def fingerprint(self) -> Fingerprint:
        """Every schema object (tables, columns with type/default/NOT NULL, indexes,
        constraints, triggers, views…) → its normalised definition."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class SchemaDifference:
    """One object that differs between two fingerprints."""

    object: str
    change: str  # "left behind", "lost", "changed"
    before: str
    after: str

    def describe(self) -> str:
        if self.change == "changed":
            return f"{self.object} changed: {self.before} → {self.after}"
        return f"{self.object} {self.change}"

    def as_json(self) -> dict[str, str]:
        return {
            "object": self.object,
            "change": self.change,
            "before": self.before,
            "after": self.after,
        }


def compare_fingerprints(before: Fingerprint, after: Fingerprint) -> list[SchemaDifference]:
    """What ``after`` has that ``before`` did not ("left behind"), lacks ("lost") or defines
    differently ("changed"). A table whose only change is in its columns is named by them."""
    out: list[SchemaDifference] = []
    for name in sorted(set(before) | set(after)):
        b, a = before.get(name), after.get(name)
        if b == a:
            continue
        if b is None:
            out.append(SchemaDifference(name, "left behind", "", a or ""))
        elif a is None:
            out.append(SchemaDifference(name, "lost", b, ""))
        else:
            out.append(SchemaDifference(name, "changed", b, a))
    columns = [d.object.split(" ", 1)[1] for d in out if d.object.startswith("column ")]
    named = {c.rsplit(".", 1)[0] for c in columns}  # "notes", or "public.notes" outside
    return [
        d
        for d in out
        if not (d.change == "changed" and d.object.startswith("table ")
                and d.object.split(" ", 1)[1] in named)
    ]  # fmt: skip


# -- SQLite ---------------------------------------------------------------------------------


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# A table's own name as its CREATE TABLE spells it: `ALTER TABLE new_t RENAME TO t` (the last
# step of a rebuild) writes it back as "t", so a table created as t, `t` or [t] and rebuilt
# by its rollback is the same table.
_TABLE_HEAD = re.compile(
    r"""\s*(CREATE\s+(?:TEMP(?:ORARY)?\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?)"""
    r"""("(?:[^"]|"")*"|`(?:[^`]|``)*`|\[[^\]]*\]|'(?:[^']|'')*'|[^\s(]+)""",
    re.IGNORECASE,
)


def sqlite_fingerprint(conn: sqlite3.Connection) -> Fingerprint:
    fp: Fingerprint = {}
    rows = conn.execute(
        "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE "
        f"{NOT_INTERNAL} ORDER BY type, name"
    ).fetchall()
    for typ, name, table, sql in rows:
        if str(table) in TOOL_TABLES or sql is None:
            continue
        if typ == "table":
            head = _TABLE_HEAD.match(str(sql))
            if head is not None:
                sql = head[1] + _q(str(name)) + str(sql)[head.end() :]
        fp[f"{typ} {name}"] = normal_sql(sql)
        if typ != "table":
            continue
        for c in conn.execute(f"PRAGMA table_xinfo({_q(name)})"):
            # (cid, name, type, notnull, dflt_value, pk, hidden)
            desc = str(c[2]) or "(no type)"
            if c[3]:
                desc += " NOT NULL"
            if c[4] is not None:
                desc += f" DEFAULT {c[4]}"
            if c[5]:
                desc += " PRIMARY KEY"
            fp[f"column {name}.{c[1]}"] = desc
        for fk in conn.execute(f"PRAGMA foreign_key_list({_q(name)})"):
            fp[f"foreign key {name}({fk[3]}) → {fk[2]}({fk[4]})"] = (
                f"ON UPDATE {fk[5]} ON DELETE {fk[6]}"
            )
    return fp


class SQLiteScratch:
    """A temp SQLite file (deleted on close), foreign keys on as on the tool's connections.

    With ``d1`` it runs each unit as D1 does: foreign keys stay on (D1 ignores a file's
    ``PRAGMA foreign_keys = OFF``, so a rebuild's ``DROP TABLE`` fires its children's ``ON
    DELETE`` actions or fails on their rows), and what D1 refuses before running is refused;
    D1's limits are SQLite's on its connection (a value over 2 MB, a LIKE pattern over 50
    bytes: refused as D1 refuses them)."""

    def __init__(self, path: Path | None = None, *, d1: bool = False) -> None:
        from malnu_tui.engine.left_behind import temp_dir

        self.d1 = d1
        self._dir: Path | None = None
        self.swept: list[str] = []
        if path is None:
            self._dir, self.swept = temp_dir("stairway")
            path = self._dir / "scratch.db"
        self.path = path
        self.where = f"scratch SQLite file {path}"
        self.conn = sqlite3.connect(str(path), isolation_level=None)
        self.conn.execute("PRAGMA foreign_keys = ON")
        if d1:  # a migration D1 refuses as it runs (a value grown past 2 MB) fails here too
            from malnu_tui.engine.backends.d1.limits import hold_to_d1_limits

            hold_to_d1_limits(self.conn)
        if self._dir is not None:  # a throwaway file: no need to survive a power cut
            self.conn.execute("PRAGMA synchronous = OFF")

    def run(self, filename: str, statements: Sequence[Statement]) -> tuple[int, int]:
        rows = 0
        started = time.perf_counter()
        # As `up` runs it (backends/sqlite.py): a file's PRAGMA foreign_keys = OFF before the
        # BEGIN (inside, it is a no-op), and the references checked before the COMMIT. D1
        # runs it inside its batch's transaction, where it is a no-op.
        fk_off = None if self.d1 else foreign_keys_off_line(statements)
        # On D1 a file that turns defer_foreign_keys off is checked so (backends/d1/fkcheck.py)
        off = defer_off_statement(statements) if self.d1 else None
        if self.d1:
            from malnu_tui.engine.backends.d1.statements import refuse_unsendable

            refuse_unsendable(filename, statements)
        if fk_off is not None:
            self.conn.execute("PRAGMA foreign_keys = OFF")
        saved = connection_pragmas(self.conn, statements)  # a file's settings end with it
        self.conn.execute("BEGIN IMMEDIATE")
        # With foreign keys on, a rebuild's DROP TABLE acts on the child rows (drop_actions.py).
        drops = DropWatch(self.conn, filename, self.d1) if fk_off is None else None
        try:
            checked = fk_off is not None or off is not None
            broken = foreign_key_violations(self.conn) if checked else set()
            for st in statements:
                if drops is not None:
                    drops.before(st)
                try:
                    cur = run_statement(self.conn, st.text)
                except (sqlite3.Error, sqlite3.Warning, ValueError) as exc:
                    raise StatementFailed(filename, st.line, st.text, str(exc)) from None
                rows += max(cur.rowcount, 0)
                if drops is not None:
                    drops.after(st)
            if fk_off is not None:
                check_foreign_keys(self.conn, filename, fk_off, broken)
            elif off is not None:
                check_foreign_keys(self.conn, filename, off.line, broken, DEFER_OFF_WHY)
            if drops is not None:
                drops.check()
            try:
                self.conn.execute("COMMIT")
            except sqlite3.Error as exc:  # a check SQLite makes only then, as `up` says it
                line = statements[-1].line if statements else 0
                raise StatementFailed(filename, line, "COMMIT", f"{exc} (at COMMIT)") from None
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                self.conn.execute("ROLLBACK")
            raise
        finally:
            with contextlib.suppress(sqlite3.Error):
                if fk_off is not None:
                    self.conn.execute("PRAGMA foreign_keys = ON")
                restore_pragmas(self.conn, saved)
        return int((time.perf_counter() - started) * 1000), rows

    def fingerprint(self) -> Fingerprint:
        return sqlite_fingerprint(self.conn)

    def close(self) -> None:
        self.conn.close()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
