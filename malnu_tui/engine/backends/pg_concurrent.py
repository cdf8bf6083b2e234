"""Running a CONCURRENTLY file (engine/concurrently.py) on PostgreSQL: outside a transaction,
statement by statement, fully before or fully after.

dbmate's ``transaction:false`` and Flyway's ``executeInTransaction=false`` leave an INVALID
index behind when a concurrent build fails or its client is killed, and a rerun with ``IF NOT
EXISTS`` then records the migration over that useless index. Here, before each CREATE, an
INVALID index of the same name (a killed build's leftover) is dropped first; when a statement
fails or the run is interrupted, every index this file's CREATEs built (valid or not) is
dropped again; the caller records the migration only after the last statement. Names come from
the file but are looked up in the catalog, and only catalog values are quoted into SQL.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from malnu_tui.engine.backends.base import AuditEntry
from malnu_tui.engine.backends.pg_sql import error_text, explained
from malnu_tui.engine.concurrently import (
    ConcurrentRefusal,
    ConcurrentStatement,
    ConcurrentUnit,
    catalog_name,
)
from malnu_tui.engine.errors import MigrationFileError, StatementFailed
from malnu_tui.engine.monitor import debuglog
from malnu_tui.engine.observe import statement_started

__all__ = ["BuildJournal", "invalid_index", "run_concurrently"]

Conn = psycopg.Connection[Any]
ACTION = "build-index"
# The session settings a concurrent file may change (SET lock_timeout, maintenance_work_mem…)
# are put back after it, as run_unit puts back a transactional file's SETs; these two always.
_SETTINGS = ("lock_timeout", "statement_timeout")


def _error_text(exc: BaseException) -> str:
    if not isinstance(exc, psycopg.Error):
        return f"interrupted ({type(exc).__name__})"
    return error_text(exc)


@dataclass(frozen=True)
class BuildJournal:
    """Audit rows (action ``build-index``) written, and committed, before each concurrent
    build: a killed client's build may still finish on the server, leaving a VALID index
    and no tracking row. The rerun finds it named by the file's newest ``started`` rows and
    drops it before building again, so the file runs fully once; an index that was there
    before the run is never in them."""

    conn: Conn
    table: sql.Composed  # the audit table
    filename: str

    def _write(self, outcome: str, detail: str) -> None:
        e = AuditEntry.now(ACTION, self.filename, outcome, detail)
        self.conn.execute(
            sql.SQL(
                "INSERT INTO {} (at, actor, action, object, outcome, detail) "
                "VALUES (%s::timestamp, %s, %s, %s, %s, %s)"
            ).format(self.table),
            (e.at, e.actor, e.action, e.object, e.outcome, e.detail),
        )

    def started(self, schema: str, name: str) -> None:
        self._write("started", f"{schema}.{name}")

    def undone(self, names: list[str]) -> None:
        self._write("undone", ", ".join(names))

    def left_invalid(self, what: str) -> None:
        self._write("left-invalid", what)

    def leftovers(self) -> set[str]:
        """The indexes an interrupted run of this file was building (its newest rows)."""
        rows = self.conn.execute(
            sql.SQL(
                "SELECT action, outcome, detail FROM {} WHERE object = %s "
                "ORDER BY id DESC LIMIT 100"
            ).format(self.table),
            (self.filename,),
        ).fetchall()
        out: set[str] = set()
        for action, outcome, detail in rows:
            if action != ACTION or outcome != "started":
                break
            out.add(str(detail))
        return out


def _table_schema(conn: Conn, st: ConcurrentStatement) -> str | None:
    """The schema of the table a CREATE INDEX names (the index lands there), from the
    catalog: the named schema, else the one the search path finds it in."""
    if st.schema is not None:
        row = conn.execute(
            "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relname = %s AND n.nspname = %s",
            (st.table, st.schema),
        ).fetchone()
    else:
        row = conn.execute(
            "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relname = %s AND pg_table_is_visible(c.oid)",
            (st.table,),
        ).fetchone()
    return None if row is None else str(row[0])


def _relation(conn: Conn, schema: str, name: str) -> tuple[str, bool | None] | None:
    """(relkind, indisvalid) of ``schema.name``; None when there is no such relation."""
    row = conn.execute(
        "SELECT c.relkind, x.indisvalid FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "LEFT JOIN pg_index x ON x.indexrelid = c.oid WHERE n.nspname = %s AND c.relname = %s",
        (schema, name),
    ).fetchone()
    return None if row is None else (str(row[0]), row[1])


def invalid_index(conn: Conn, schema: str, name: str) -> bool:
    """Whether ``schema.name`` is an index left INVALID (a failed or killed build)."""
    rel = _relation(conn, schema, name)
    return rel is not None and rel[0] in ("i", "I") and rel[1] is False


def _drop(conn: Conn, schema: str, name: str) -> None:
    conn.execute(
        sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}.{}").format(
            sql.Identifier(schema), sql.Identifier(name)
        )
    )


def _saved_settings(conn: Conn, unit: ConcurrentUnit) -> dict[str, str | None]:
    """The session's value of each setting the file sets (None: not defined before)."""
    names = [*_SETTINGS, *(s.name for s in unit.statements if s.kind == "set" and s.name)]
    saved: dict[str, str | None] = {}
    for name in dict.fromkeys(names):
        row = conn.execute("SELECT current_setting(%s, true)", (name,)).fetchone()
        saved[name] = None if row is None or row[0] is None else str(row[0])
    return saved


def _restore_settings(conn: Conn, saved: dict[str, str | None]) -> None:
    for name, value in saved.items():
        if value is None:
            conn.execute(sql.SQL("RESET {}").format(sql.Identifier(*name.split("."))))
        else:
            conn.execute("SELECT set_config(%s, %s, false)", (name, value))


def run_concurrently(
    conn: Conn,
    filename: str,
    unit: ConcurrentUnit | ConcurrentRefusal,
    where: str = "",
    finish: Callable[[int], None] | None = None,
    journal: BuildJournal | None = None,
) -> int:
    """Run ``unit`` on ``conn`` (in autocommit mode), then ``finish(ms)`` (the caller's
    tracking and audit rows) in one transaction. Returns the statements' time in ms.

    On a failing statement, a failing ``finish`` or an interrupt, the indexes the file's
    CREATEs built are dropped (``DROP INDEX CONCURRENTLY IF EXISTS``) before
    :class:`StatementFailed` (or the interrupt) goes on; the session's ``lock_timeout`` and
    ``statement_timeout`` are put back in every case. A refused file raises
    :class:`MigrationFileError` before anything runs (the preflight refuses it earlier)."""
    if isinstance(unit, ConcurrentRefusal):
        raise MigrationFileError(filename, unit.message(), line=unit.line)
    if not conn.autocommit:
        raise RuntimeError("a CONCURRENTLY file needs a connection in autocommit mode")
    ours: list[tuple[str, str]] = []  # indexes this run created (or is creating)
    rebuilt: list[_Reindex] = []  # the REINDEX's scope and the _ccnew/_ccold there before
    replaced: list[str] = []
    saved: dict[str, str | None] = {}
    current: ConcurrentStatement | None = None
    debug = debuglog.enabled()
    started = time.perf_counter()
    try:
        saved = _saved_settings(conn, unit)
        left = journal.leftovers() if journal is not None and unit.creates else set()
        for i, cs in enumerate(unit.statements, 1):
            current = cs
            statement_started(filename, i, len(unit.statements))
            t0 = time.perf_counter()
            if cs.kind == "create":
                _before_create(conn, cs, ours, replaced, left)
                if journal is not None and ours and ours[-1][1] == cs.name:
                    journal.started(*ours[-1])
            elif cs.kind == "reindex":
                rebuilt.append(_before_reindex(conn, cs, replaced))
            try:
                conn.execute(cs.statement.text)
            except psycopg.Error as exc:
                if debug:
                    ms = (time.perf_counter() - t0) * 1000
                    said = _error_text(exc)  # (psycopg's own text holds the detail unmasked)
                    debuglog.statement(where, filename, cs.statement.line, ms, None, said)
                raise
            if debug:
                ms = (time.perf_counter() - t0) * 1000
                debuglog.statement(where, filename, cs.statement.line, ms, -1)
        current = None
        elapsed = int((time.perf_counter() - started) * 1000)
        if finish is not None:
            with conn.transaction():
                finish(elapsed)
    except BaseException as exc:
        undo = _undo(conn, ours, journal) + "".join(_undo_reindex(conn, r) for r in rebuilt)
        if not isinstance(exc, psycopg.Error):
            # An interrupt goes on, the indexes dropped (as far as the server let us); a DROP
            # it stopped half-way is named on it (the CLI prints its notes) and in the audit.
            stopped = _drop_left(conn, current) if current is not None else ""
            if stopped:
                exc.add_note(stopped)
                if journal is not None:
                    with contextlib.suppress(psycopg.Error):
                        journal.left_invalid(stopped)
            raise
        st = (current or unit.statements[-1]).statement
        line = st.line
        pos = exc.diag.statement_position if current is not None else None
        if pos and pos.isdigit():
            line += st.text[: int(pos) - 1].count("\n")
        error = _error_text(exc)
        if replaced:
            error += f"; an INVALID leftover {', '.join(replaced)} was dropped first"
        stopped = _drop_left(conn, current) if current is not None else ""
        failed = StatementFailed(filename, line, st.text, error + undo, stopped)
        raise explained(conn, failed, exc) from None
    finally:
        if saved:
            with contextlib.suppress(psycopg.Error):
                _restore_settings(conn, saved)
    return elapsed


def _drop_left(conn: Conn, cs: ConcurrentStatement) -> str:
    """What a DROP INDEX CONCURRENTLY stopped half-way (a lock timeout, a cancel) left: past its
    first step the index is INVALID — queries no longer use it, writes still maintain it (a
    UNIQUE one still refuses duplicates) — until a DROP finishes it. "" when it is not."""
    if cs.kind != "drop" or cs.name is None or conn.closed:
        return ""
    try:
        row = conn.execute(
            "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relname = %s AND (n.nspname = %s OR (%s::text IS NULL AND "
            "pg_table_is_visible(c.oid)))",
            (cs.name, cs.schema, cs.schema),
        ).fetchone()
        if row is None or not invalid_index(conn, str(row[0]), cs.name):
            return ""
    except psycopg.Error:
        return ""
    return (
        f"the index {row[0]}.{cs.name} is left INVALID (the DROP stopped after its first step: "
        "queries no longer use it, writes still maintain it) and the migration's tracking row "
        "is unchanged"
    )


def _before_create(
    conn: Conn,
    cs: ConcurrentStatement,
    ours: list[tuple[str, str]],
    replaced: list[str],
    left: set[str],
) -> None:
    """An INVALID index of the same name is a killed build's leftover, and so is a valid one
    an interrupted run of this file was building (``left``): drop it, so that ``IF NOT
    EXISTS`` never takes it for the index. The index becomes this run's to drop on failure
    only when no relation of that name was there before."""
    assert cs.name is not None
    schema = _table_schema(conn, cs)
    if schema is None:
        return  # no such table: the CREATE itself fails and says so
    rel = _relation(conn, schema, cs.name)
    leftover = f"{schema}.{cs.name}" in left
    if rel is not None and rel[0] in ("i", "I") and (rel[1] is False or leftover):
        _drop(conn, schema, cs.name)
        replaced.append(f"{schema}.{cs.name}")
        rel = None
    if rel is None:
        ours.append((schema, cs.name))


# PostgreSQL names a REINDEX … CONCURRENTLY's new copy of index x ``x_ccnew`` (``x_ccnew1``… when
# taken; x cut to fit 63 bytes) and the old one, once swapped, ``x_ccold``; a failed or
# cancelled REINDEX leaves them behind, INVALID, and writes keep maintaining them.
_CC = re.compile(r"_(cc(?:new|old)[0-9]*)$")
_CC_INDEXES = (
    "SELECT n.nspname, c.relname, x.indisvalid, i.relname FROM pg_index x "
    "JOIN pg_class c ON c.oid = x.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
    "JOIN pg_index o ON o.indrelid = x.indrelid JOIN pg_class i ON i.oid = o.indexrelid "
    "AND i.relnamespace = c.relnamespace "
    "WHERE c.relname ~ '_cc(new|old)[0-9]*$' AND (%s::oid[] IS NULL OR x.indrelid = ANY(%s::oid[]))"
)
_SCOPE = {
    "INDEX": "SELECT x.indrelid, c.relname FROM pg_index x JOIN pg_class c "
    "ON c.oid = x.indexrelid WHERE x.indexrelid = to_regclass(%s)",
    "TABLE": "SELECT c.oid, NULL FROM pg_class c WHERE c.oid = to_regclass(%s)",
    "SCHEMA": "SELECT c.oid, NULL FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = %s AND c.relkind IN ('r', 'm', 'p')",
}


def _copy_of(leftover: str, index: str) -> bool:
    """Whether ``leftover`` is the name PostgreSQL gives a REINDEX's copy of ``index``:
    ``index`` cut to fit 63 bytes with ``_ccnew``/``_ccold`` (and a number) after it."""
    m = _CC.search(leftover)
    if m is None or leftover == index:
        return False
    room = 63 - 1 - len(m.group(1))
    return leftover[: m.start()] == index.encode()[:room].decode(errors="ignore")


@dataclass(frozen=True)
class _Reindex:
    """What a REINDEX rebuilds — its tables' oids, TOAST tables included (None: the whole
    database), and for ``REINDEX INDEX`` the index's name — and the ``_ccnew``/``_ccold``
    copies there before it ran."""

    tables: list[int] | None
    index: str | None
    before: frozenset[tuple[str, str]]


def _cc_indexes(
    conn: Conn, tables: list[int] | None, index: str | None
) -> dict[tuple[str, str], bool]:
    """The REINDEX copies (valid or not) of the indexes in scope: (schema, name) → valid."""
    out: dict[tuple[str, str], bool] = {}
    for schema, name, valid, of in conn.execute(_CC_INDEXES, (tables, tables)).fetchall():
        if _copy_of(str(name), str(of)) and (index is None or of == index):
            out[(str(schema), str(name))] = bool(valid)
    return out


def _before_reindex(conn: Conn, cs: ConcurrentStatement, replaced: list[str]) -> _Reindex:
    """The REINDEX's scope, read from the catalog, and the INVALID ``_ccnew``/``_ccold``
    leftovers of an earlier failed or killed REINDEX there, dropped first (REINDEX would
    build ``x_ccnew1`` beside them, and skips an INVALID index)."""
    what, name = cs.reindex or ("DATABASE", None)
    tables: list[int] | None = None
    index: str | None = None
    if what in _SCOPE and name is not None:
        arg = catalog_name(name) if what == "SCHEMA" else name
        try:
            found = conn.execute(_SCOPE[what], (arg,)).fetchall()
            oids = [int(r[0]) for r in found if r[0] is not None]
            toast = conn.execute(
                "SELECT reltoastrelid FROM pg_class WHERE oid = ANY(%s::oid[]) "
                "AND reltoastrelid <> 0",
                (oids,),
            ).fetchall()
        except psycopg.Error:
            found, oids, toast = [], [], []  # a name PostgreSQL cannot read: REINDEX says so
        tables = oids + [int(r[0]) for r in toast]
        index = str(found[0][1]) if what == "INDEX" and found else None
    for (schema, leftover), valid in _cc_indexes(conn, tables, index).items():
        if not valid:
            try:  # (a TOAST table's copy may be beyond the role: the REINDEX runs regardless)
                _drop(conn, schema, leftover)
            except psycopg.Error:
                continue
            replaced.append(f"{schema}.{leftover}")
    return _Reindex(tables, index, frozenset(_cc_indexes(conn, tables, index)))


def _undo_reindex(conn: Conn, rebuilt: _Reindex) -> str:
    """Drop the ``_ccnew``/``_ccold`` indexes a failed or interrupted REINDEX left."""
    if conn.closed:
        return "; the connection is gone: drop any INVALID …_ccnew / …_ccold index by hand"
    dropped: list[str] = []
    failed: list[str] = []
    try:
        now = _cc_indexes(conn, rebuilt.tables, rebuilt.index)
        left = [k for k in now if k not in rebuilt.before]
    except psycopg.Error as exc:
        return f"; could not look for its …_ccnew / …_ccold indexes: {_error_text(exc)}"
    for schema, name in left:
        try:
            _drop(conn, schema, name)
            dropped.append(f"{schema}.{name}")
        except psycopg.Error as exc:
            failed.append(f"{schema}.{name} ({_error_text(exc)})")
    text = f"; dropped the index(es) the REINDEX left: {', '.join(dropped)}" if dropped else ""
    if failed:
        text += (
            f"; could not drop {', '.join(failed)}: run DROP INDEX CONCURRENTLY IF EXISTS as a "
            "role that may (the next up tries again; a TOAST table's copy needs a superuser)"
        )
    return text


def _undo(conn: Conn, ours: list[tuple[str, str]], journal: BuildJournal | None) -> str:
    """Drop what this run built, newest first; what could not be dropped is named."""
    if not ours or conn.closed:
        left = ", ".join(f"{s}.{n}" for s, n in ours)
        return f"; the connection is gone: drop {left} by hand if it is there" if ours else ""
    dropped: list[str] = []
    failed: list[str] = []
    for schema, name in reversed(ours):
        try:
            if _relation(conn, schema, name) is not None:
                _drop(conn, schema, name)
                dropped.append(f"{schema}.{name}")
        except psycopg.Error as exc:
            failed.append(f"{schema}.{name} ({_error_text(exc)})")
    if journal is not None and not failed:
        with contextlib.suppress(psycopg.Error):
            journal.undone([f"{s}.{n}" for s, n in ours])
    text = f"; dropped the index(es) it built: {', '.join(dropped)}" if dropped else ""
    if failed:
        text += (
            f"; could not drop {', '.join(failed)}: run DROP INDEX CONCURRENTLY IF EXISTS by "
            "hand (the next up drops an INVALID one itself)"
        )
    return text
