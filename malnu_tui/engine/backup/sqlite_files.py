"""Reading a SQLite backup file: opened read-only (its statement in flight ended by a stop, if
asked), checked with a PRAGMA, its schema hash, row counts and applied migrations, as the backend
reads them; a helper thread; and the read-back of a new copy given up by a stop (its hash)."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

from malnu_tui.engine.backends import sqlite_sql as q
from malnu_tui.engine.backends.sqlite_stop import StoppableConnection
from malnu_tui.engine.backup.store import AppliedMigration
from malnu_tui.engine.interrupts import on_stop

_T = TypeVar("_T")


def file_uri(path: Path, params: str) -> str:
    """A ``file:`` URI for SQLite (the path absolute and percent-quoted)."""
    return f"file:{quote(str(path.resolve()))}?{params}"


def open_readonly(path: Path, *, stoppable: bool = False) -> sqlite3.Connection:
    """``stoppable``: its statement in flight ended by a stop, as a migration's is."""
    # immutable=1: a backup file never changes and must not grow -journal/-wal files.
    uri = file_uri(path, "mode=ro&immutable=1")
    if stoppable:
        return sqlite3.connect(uri, uri=True, isolation_level=None, factory=StoppableConnection)
    return sqlite3.connect(uri, uri=True, isolation_level=None)


class GivenUp(threading.Event):
    """Set when the copy's read-back is given up (a stop, or a failure of it): the helper
    thread's hash ends at its next chunk. A stop sets it at once (``on_stop``, from the
    stopping thread: the console's stop key, the CLI's signal watcher), as it interrupts the
    ``quick_check`` running then; the caller, waiting for the hash, then takes the stop."""

    def __init__(self) -> None:
        super().__init__()
        on_stop(self._in_flight, at_once=True)

    def _in_flight(self) -> Callable[[], object]:
        return self.set


def fingerprint(conn: sqlite3.Connection, rule: str = q.NOT_INTERNAL) -> str:
    """The schema hash, computed exactly as :meth:`SQLiteBackend.schema_fingerprint` does
    (``rule``: :func:`sqlite_sql.names_rule` of the manifest it is compared with)."""
    rows = conn.execute(q.select_schema(rule)).fetchall()
    text = "\n".join(f"{r[0]}|{r[1]}|{r[2]}|{' '.join(str(r[3]).split())}" for r in rows)
    return hashlib.sha256(text.encode()).hexdigest()


def table_names(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def user_tables(conn: sqlite3.Connection, rule: str = q.NOT_INTERNAL) -> list[str]:
    """User tables (tool tables excluded), as the backend lists them."""
    return [r[0] for r in conn.execute(q.select_tables(rule)) if r[0] not in q.TOOL_TABLES]


def row_counts(conn: sqlite3.Connection, rule: str = q.NOT_INTERNAL) -> dict[str, int]:
    """``count(*)`` of every user table."""
    return {
        t: int(conn.execute(f"SELECT count(*) FROM {q.quote_ident(t)}").fetchone()[0])
        for t in user_tables(conn, rule)
    }


def applied(conn: sqlite3.Connection) -> tuple[AppliedMigration, ...]:
    """Successful tracking rows of the database on ``conn``."""
    if "migrations" not in table_names(conn):
        return ()
    from malnu_tui.engine.backends.sqlite_sql import truthy

    return tuple(
        AppliedMigration(r[0], r[1], r[2])
        for r in conn.execute(q.records_sql_of(conn)).fetchall()
        if truthy(r[4])
    )


def check_pragma(conn: sqlite3.Connection, pragma: str) -> str:
    """``ok``, or what the check found on one line (its first row holds line breaks:
    ``*** in database main ***`` then the pages), as `backup verify` prints one per check."""
    rows = [str(r[0]) for r in conn.execute(f"PRAGMA {pragma}").fetchmany(20)]
    if rows == ["ok"]:
        return "ok"
    return "; ".join(line.strip() for row in rows for line in row.splitlines() if line.strip())


def in_thread(fn: Callable[[], _T]) -> tuple[threading.Thread, list[_T], list[BaseException]]:
    out: list[_T] = []
    err: list[BaseException] = []

    def run() -> None:
        try:
            out.append(fn())
        except BaseException as exc:  # re-raised by the caller after join
            err.append(exc)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, out, err
