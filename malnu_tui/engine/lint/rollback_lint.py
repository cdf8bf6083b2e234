"""The rules a rollback file is held to, named with the rollback file's name and lines.

A rollback runs in an emergency, on the schema its migration left: destroying what the
migration made is its job, so the destructive rules (DROP-TABLE, DROP-COLUMN, DELETE-ALL-ROWS,
RENAME-TABLE…) do not apply to it. What does: what makes the rollback itself lose rows or
hang the app while everyone waits for it —

- SQLITE-RENAME-MOVES-KEYS: a rename-first rebuild (TypeORM's SQLite down migrations are
  written so) repoints the children's foreign keys at the old copy, whose DROP deletes their
  rows on D1 (and on a SQLite file with foreign keys on); PG-RENAME-MOVES-KEYS, PostgreSQL's:
  the keys follow the old copy, whose DROP is refused, or with CASCADE drops them;
- SQLITE-REBUILD-FOREIGN-KEYS-ON: a rebuild in sqlite.org's order on a SQLite file without
  PRAGMA foreign_keys = OFF: its DROP of the old table deletes (or unlinks) the children's
  rows;
- PG-LOCK-TIMEOUT: an ALTER or DROP of a table in use, with no lock_timeout, queues every
  query of the table behind it while it waits for a long one;
- on D1, D1's own rules: what D1 refuses or ignores (D1-TRANSACTION, D1-SAVEPOINT,
  D1-PRAGMA-FK, D1-ATTACH, D1-VACUUM, D1-STATEMENT-SIZE, D1-LIMITS), a DROP TABLE that fails
  there (D1-RESTRICT-DROP, and the end-of-batch count after defer_foreign_keys), and the
  children's rows a *rebuild* of a parent deletes or unlinks (D1-CASCADE-REBUILD,
  D1-FK-ACTION-REBUILD: not a plain DROP TABLE, undoing is the rollback's job);
- ROLLBACK-NARROWS-TYPE and ROLLBACK-FAILS-ON-NEW-ROWS (lint/rollback_data.py): what the
  rollback rounds, cuts or fails on among the rows the migration allowed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from malnu_tui.engine.backends.sqlite_sql import foreign_keys_off_line
from malnu_tui.engine.lint.d1 import (
    D1State,
    RowProbe,
    d1_end,
    d1_statement,
    d1_template_lines,
)
from malnu_tui.engine.lint.model import Finding
from malnu_tui.engine.lint.moved_keys import RenamedAway
from malnu_tui.engine.lint.ops import key, read_ops
from malnu_tui.engine.lint.pg_enum import DeclaredColumns
from malnu_tui.engine.lint.pg_locks import strong_lock
from malnu_tui.engine.lint.pg_moved_keys import PgReferences
from malnu_tui.engine.lint.rebuild import legacy_alter_table, rebuilt_tables
from malnu_tui.engine.lint.replay import Replay
from malnu_tui.engine.lint.rollback import RollbackFile
from malnu_tui.engine.lint.rollback_data import Relaxed, pg_rollback_data, sqlite_rollback_data
from malnu_tui.engine.lint.rules import RULES
from malnu_tui.engine.sqlsplit import SplitError, Statement, split_statements
from malnu_tui.engine.sqltemplate import strip_template

__all__ = ["rollback_findings"]

# A table renamed (``RENAME TO``; not a column's ``RENAME [COLUMN] a TO b``): a rebuild's, only
# then is the rollback walked on a copy of the schema.
_RENAME = re.compile(r"\bRENAME\s+TO\b", re.IGNORECASE)


def _statements(rb: RollbackFile, dialect: str) -> Sequence[Statement]:
    if rb.lined is not None:
        return rb.lined
    try:
        return strip_template(split_statements(rb.text, dialect)).statements
    except SplitError:
        return []  # (read_rollback named it FILE-UNREADABLE)


_EFFECTS = {"CASCADE": "its rows are deleted", "SET NULL": "its rows are unlinked",
            "SET DEFAULT": "its rows are unlinked"}  # fmt: skip


def _fk_on(file: str, line: int, table: str, children: list[tuple[str, str, str]]) -> Finding:
    names = "; ".join(
        f"{c}({col}) ON DELETE {a}: " + _EFFECTS.get(a, "the rollback fails once it holds rows")
        for c, col, a in children
    )
    why = (
        f"the rollback rebuilds {table} and drops it with foreign keys on (no PRAGMA "
        f"foreign_keys = OFF in the file), so its implicit DELETE reaches the tables that "
        f"reference it: {names}"
    )
    r = RULES["SQLITE-REBUILD-FOREIGN-KEYS-ON"]
    return Finding(r.id, r.severity, file, line, why, r.instead)


def _sqlite_rebuilds(rb: RollbackFile, replay: Replay, d1: bool) -> list[Finding]:
    """SQLITE-RENAME-MOVES-KEYS and (on a SQLite file) SQLITE-REBUILD-FOREIGN-KEYS-ON of the
    rollback, walked on a copy of the schema its migration left (``replay``, not changed)."""
    statements = _statements(rb, "sqlite")
    ops = [read_ops(st) for st in statements]
    off = not d1 and foreign_keys_off_line(statements) is not None
    rebuilt = rebuilt_tables(ops) if not d1 and not off else set()  # (D1: its own rules)
    out: list[Finding] = []
    away = RenamedAway()
    away.begin(rb.filename, keeps_keys=off, kind="rollback")
    schema = replay.copy()
    legacy = False
    for st, op in zip(statements, ops, strict=True):
        if op.kind == "drop_table":
            for n in op.names:
                children = schema.foreign_keys_to(n) if key(n) in rebuilt else []
                if children:
                    out.append(_fk_on(rb.filename, st.line, n, children))
        away.see(st, op, schema, legacy)
        if op.kind == "pragma" and (on := legacy_alter_table(op.name, op.value)) is not None:
            legacy = on
        schema.run(st, op, keep_references=off and legacy)
    return out + away.findings()


def _pg_rebuilds(rb: RollbackFile, refs: PgReferences) -> list[Finding]:
    """PG-RENAME-MOVES-KEYS of the rollback, walked on a copy of the keys its migration left
    (``refs``, not changed)."""
    away = RenamedAway(dialect="postgresql")
    away.begin(rb.filename, keeps_keys=False, kind="rollback")
    schema = refs.copy()
    for st in _statements(rb, "postgresql"):
        op = read_ops(st)
        away.see(st, op, schema, False)
        schema.run(op)
    return away.findings()


# What may round, cut or refuse rows: a type change, SET NOT NULL, a constraint, a unique
# index (PostgreSQL); a rebuild's copy (SQLite). Only then are the rollback's ops read.
_PG_DATA = re.compile(r"\bTYPE\b|\bSET\s+NOT\s+NULL\b|\bADD\b|\bUNIQUE\b", re.IGNORECASE)
_COPY = re.compile(r"\bSELECT\b", re.IGNORECASE)  # (no INSERT…SELECT scan: quadratic)


def _data(
    rb: RollbackFile,
    dialect: str,
    replay: Replay | None,
    relaxed: Relaxed | None,
    columns: DeclaredColumns | None,
) -> list[Finding]:
    """ROLLBACK-NARROWS-TYPE and ROLLBACK-FAILS-ON-NEW-ROWS of the rollback (see
    lint/rollback_data.py)."""
    if dialect == "postgresql" and relaxed is not None and _PG_DATA.search(rb.text):
        statements = list(_statements(rb, "postgresql"))
        ops = [read_ops(st) for st in statements]
        return pg_rollback_data(rb.filename, statements, ops, relaxed, columns)
    if dialect == "sqlite" and replay is not None and _COPY.search(rb.text):
        statements = list(_statements(rb, "sqlite"))
        ops = [read_ops(st) for st in statements]
        return sqlite_rollback_data(rb.filename, statements, ops, replay)
    return []


_REBUILD_ONLY = ("D1-CASCADE-REBUILD", "D1-FK-ACTION-REBUILD")


def _d1(
    rb: RollbackFile, replay: Replay, probe: RowProbe | None, notes: list[str]
) -> list[Finding]:
    """D1's rules of the rollback (see the module doc), walked on a copy of the schema its
    migration left (``replay``, not changed); ``probe`` asks the live database for rows."""
    statements = _statements(rb, "sqlite")
    ops = [read_ops(st) for st in statements]
    rebuilt = rebuilt_tables(ops)
    state = D1State(probe)
    drops = any(op.kind == "drop_table" for op in ops)  # (only a DROP asks the schema)
    schema = replay.copy() if drops else replay
    try:  # its own BEGIN/COMMIT, stripped as a migration's are: said as a migration's are
        own = strip_template(split_statements(rb.text)).transaction_lines
    except SplitError:
        own = []
    out = d1_template_lines(rb.filename, own)
    for st, op in zip(statements, ops, strict=True):
        found = d1_statement(rb.filename, st, op, schema, state, notes)
        if op.kind == "drop_table" and not any(key(n) in rebuilt for n in op.names):
            found = [f for f in found if f.rule not in _REBUILD_ONLY]
        out.extend(found)
        if drops:
            schema.run(st, op)
    out.extend(d1_end(rb.filename, state, notes))
    return [_of_the_rollback(f) for f in out]


def _of_the_rollback(f: Finding) -> Finding:
    """D1's words ("the migration fails at its end") said of the rollback file."""
    instead = f.instead.replace("the same migration", "the same rollback file")
    instead = instead.replace("each migration", "each rollback file")
    return replace(f, why=f.why.replace("the migration", "the rollback"), instead=instead)


def _lock_timeout(rb: RollbackFile, session_lock_timeout: bool) -> list[Finding]:
    """PG-LOCK-TIMEOUT, once, at the rollback's first statement that waits for a lock the
    app's queries then queue behind, with no lock_timeout in force (the file's own SET, or
    the target's unless the file turns it off or RESETs it)."""
    own = False  # SET lock_timeout = '5s' in the file
    off_line, reset = 0, ""
    created: set[str] = set()  # tables the rollback itself makes: nobody waits for them
    indexes: set[str] = set()
    for st in _statements(rb, "postgresql"):
        op = read_ops(st)
        if op.kind == "set_lock_timeout":
            own, off_line = op.value == "", st.line if op.value else 0
            reset = "RESET" if st.first_words.startswith("RESET") else "SET … TO DEFAULT"
            reset = reset if op.value == "default" else ""
            continue
        guarded = own or (session_lock_timeout and not off_line)
        what = None if guarded else strong_lock(st, op, created, indexes, set())
        if op.kind == "create_table":
            created.add(op.pg_name or op.key)  # (as PostgreSQL folds: strong_lock's lookups)
        elif op.kind == "create_index" and op.name:
            indexes.add(op.key)
        if what is None:
            continue
        why = f"{what} runs in the rollback with no lock_timeout set in it or the target"
        if reset:
            why = f"{what} runs in the rollback with no lock_timeout: the {reset} at line "
            why += f"{off_line} puts back the server's default, not the target's"
        elif off_line:
            why = f"{what} runs in the rollback with no lock_timeout: the SET at line "
            why += f"{off_line} turns the target's off"
        why += (
            ": a rollback runs in an emergency, while the app is busy, and every query of the "
            "table queues behind it while it waits"
        )
        r = RULES["PG-LOCK-TIMEOUT"]
        instead = r.instead.replace("start the migration", "start the rollback file", 1)
        return [Finding(r.id, r.severity, rb.filename, st.line, why, instead)]
    return []


def rollback_findings(
    rb: RollbackFile,
    dialect: str,
    replay: Replay | None,
    *,
    d1: bool,
    session_lock_timeout: bool,
    probe: RowProbe | None = None,
    notes: list[str] | None = None,
    pg_refs: PgReferences | None = None,
    relaxed: Relaxed | None = None,
    columns: DeclaredColumns | None = None,
) -> list[Finding]:
    """The rollback file's own findings (see the module doc), in line order, before any
    ``lint:ignore`` of it is applied. ``replay``: SQLite's schema as the migration left it;
    ``probe`` (D1): whether a child table holds rows in the live database; ``notes``: the
    report's, for what needs the live database and could not ask it; ``pg_refs``:
    PostgreSQL's foreign keys as the migration left them; ``relaxed``: what the migration
    lifts (PostgreSQL); ``columns``: the types the migrations declared, as it left them."""
    if not rb.exists or not rb.text:
        return []
    out: list[Finding] = []
    if dialect == "sqlite" and replay is not None and _RENAME.search(rb.text):
        out.extend(_sqlite_rebuilds(rb, replay, d1))
    if dialect == "sqlite" and replay is not None and d1:
        out.extend(_d1(rb, replay, probe, notes if notes is not None else []))
    if dialect == "postgresql":
        out.extend(_lock_timeout(rb, session_lock_timeout))
    if dialect == "postgresql" and pg_refs is not None and _RENAME.search(rb.text):
        out.extend(_pg_rebuilds(rb, pg_refs))
    out.extend(_data(rb, dialect, replay, relaxed, columns))
    return sorted(out, key=lambda f: f.line)
