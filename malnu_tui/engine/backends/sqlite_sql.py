"""SQL text shared by the SQLite-dialect backends (local SQLite files and Cloudflare D1)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from malnu_tui.engine.backends.base import AUDIT_WHERE_COLUMNS, LEASE_SECONDS
from malnu_tui.engine.backends.sqlite_stop import running
from malnu_tui.engine.errors import ForeignTrackingTable, NotInitialised, StatementFailed

if TYPE_CHECKING:
    import sqlite3

    from malnu_tui.engine.backends.base import AuditWhere
    from malnu_tui.engine.sqlsplit import Statement

# The seed's tracking table, same name and columns; an existing one is adopted as it is.
CREATE_TRACKING = """CREATE TABLE IF NOT EXISTS migrations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    filename TEXT NOT NULL UNIQUE,
    checksum TEXT NOT NULL,
    executed_at DATETIME DEFAULT CURRENT_TIMESTAMP,
    execution_time_ms INTEGER,
    success BOOLEAN DEFAULT TRUE,
    error_message TEXT
)"""

CREATE_AUDIT = """CREATE TABLE IF NOT EXISTS malnu_audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    object TEXT NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
)"""

CREATE_LOCK = """CREATE TABLE IF NOT EXISTS malnu_lock (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    owner TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    acquired_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    purpose TEXT NOT NULL DEFAULT ''
)"""
# What the holder is doing ("rollback of 2 migration(s) from …"), for the next operator's
# "lock held" message; added to lock tables made before it existed.
ADD_LOCK_PURPOSE = "ALTER TABLE malnu_lock ADD COLUMN purpose TEXT NOT NULL DEFAULT ''"
CREATE_AUDIT_INDEX = "CREATE INDEX IF NOT EXISTS malnu_audit_action_id ON malnu_audit (action, id)"
CREATE_AUDIT_OBJECT_INDEX = (  # base.AUDIT_OBJECT_INDEX
    "CREATE INDEX IF NOT EXISTS malnu_audit_action_object_id ON malnu_audit (action, object, id)"
)
CREATE_AUDIT_OUTCOME_INDEX = (  # base.AUDIT_OUTCOME_INDEX
    "CREATE INDEX IF NOT EXISTS malnu_audit_action_object_outcome_id "
    "ON malnu_audit (action, object, outcome, id)"
)
# Tracking columns a table made by the seed's own scripts may lack (its test utility's table
# has neither execution_time_ms nor error_message): (name, how it is added, read as when
# absent). Nullable or a constant default (SQLite adds no CURRENT_TIMESTAMP default to a
# table with rows), so adding them changes no row; PostgreSQL's are pg_schema.UPGRADE_COLUMNS.
TRACKING_ADDED = (
    ("executed_at", "DATETIME", "NULL"),
    ("execution_time_ms", "INTEGER", "NULL"),
    ("success", "BOOLEAN DEFAULT TRUE", "1"),
    ("error_message", "TEXT", "NULL"),
)
# The tool's tables and the audit indexes (base.AUDIT_INDEX, AUDIT_OBJECT_INDEX,
# AUDIT_OUTCOME_INDEX), by name.
SELECT_TOOL_TABLES = (
    "SELECT name, sql FROM sqlite_master WHERE (type = 'table' "
    "AND name IN ('migrations', 'malnu_audit', 'malnu_lock')) "
    "OR (type = 'index' AND name IN ('malnu_audit_action_id', 'malnu_audit_action_object_id', "
    "'malnu_audit_action_object_outcome_id') AND tbl_name = 'malnu_audit')"
)


def refuse_foreign_tracking(have: Mapping[str, object], where: str) -> None:
    """:class:`ForeignTrackingTable` when ``migrations`` (in :data:`SELECT_TOOL_TABLES`'
    rows) is not the tool's: Laravel's or TypeORM's own. Every command stopped on "no such
    column: filename" (a traceback)."""
    create = str(have.get("migrations") or "")
    if "migrations" in have and not ("filename" in create and "checksum" in create):
        columns = re.sub(r"\s+", " ", create.partition("(")[2].rpartition(")")[0]).strip()
        raise ForeignTrackingTable(
            where,
            "migrations",
            columns[:200] or "?",
            hint="malnu-tui keeps its history in a table named migrations, and this database's "
            "belongs to the application's framework: malnu-tui cannot track migrations here; "
            "use the framework's own migration tool for this database",
        )


def tracking_lacks(have: Mapping[str, object]) -> list[str]:
    """The :data:`TRACKING_ADDED` columns an existing ``migrations`` table lacks (from its
    ``CREATE TABLE`` in :data:`SELECT_TOOL_TABLES`' rows)."""
    create = str(have.get("migrations") or "")
    if not create:
        return []
    return [n for n, _d, _r in TRACKING_ADDED if not re.search(rf"\b{n}\b", create, re.I)]


def select_records(lacking: Sequence[str] = ()) -> str:
    """:data:`SELECT_RECORDS` for a tracking table without the ``lacking`` columns (a
    read-only open, which adds none): each read as its default."""
    picks = [f"{r} AS {n}" if n in lacking else n for n, _d, r in TRACKING_ADDED]
    return f"SELECT filename, checksum, {', '.join(picks)} FROM migrations ORDER BY filename"


def schema_upgrade(have: Mapping[str, object]) -> list[str]:
    """What a writable open runs to bring the tool's objects up to date, from
    :data:`SELECT_TOOL_TABLES`' rows (empty when all is in place: no write at all)."""
    lacking = tracking_lacks(have)  # of an existing table, which CREATE … IF NOT EXISTS keeps
    add = [
        f"ALTER TABLE migrations ADD COLUMN {n} {d}" for n, d, _r in TRACKING_ADDED if n in lacking
    ]
    if not {"migrations", "malnu_audit", "malnu_lock"} <= set(have):
        return [CREATE_TRACKING, *add, CREATE_AUDIT, CREATE_LOCK, *_AUDIT_INDEXES.values()]
    todo = add
    if "purpose" not in str(have["malnu_lock"] or ""):
        todo.append(ADD_LOCK_PURPOSE)
    # (On a big trail a write the operator's command takes a moment more for, once.)
    todo.extend(create for name, create in _AUDIT_INDEXES.items() if name not in have)
    return todo


_AUDIT_INDEXES = {
    "malnu_audit_action_id": CREATE_AUDIT_INDEX,
    "malnu_audit_action_object_id": CREATE_AUDIT_OBJECT_INDEX,
    "malnu_audit_action_object_outcome_id": CREATE_AUDIT_OUTCOME_INDEX,
}


def audit_index_of(statement: str) -> str | None:
    """The audit index ``statement`` (of :func:`schema_upgrade`'s) makes; None for another."""
    return next((n for n, create in _AUDIT_INDEXES.items() if create == statement), None)


def empty_audit_index(name: str) -> str:
    """The audit index ``name`` made empty (``WHERE 0``: it holds no row, no read uses it, and
    it is made by one read of the table, no sort: 0.14 s where the index takes 1.0 s at a
    million rows): what stands for one D1 stopped the build of at its 30 s, so that the next
    command does not hold the database 30 s again, and fail, for it. ``DROP INDEX name`` (a
    trail pruned) has the next command try again."""
    return f"{_AUDIT_INDEXES[name]} WHERE 0"


def absent_tool_tables(
    have: Mapping[str, object], where: str, *, fresh_ok: bool = False
) -> frozenset[str]:
    """The tool tables missing from ``have`` (:data:`SELECT_TOOL_TABLES`' rows), and
    ``malnu_lock.purpose`` for a lock table made before that column, for a read-only backend
    that must not create them; :class:`NotInitialised` without ``migrations``, unless
    ``fresh_ok`` (a dry run: no tracking table is every migration pending)."""
    if "migrations" not in have and not fresh_ok:
        raise NotInitialised(where)
    absent = {"migrations", "malnu_audit", "malnu_lock"} - set(have)
    if "malnu_lock" in have and "purpose" not in str(have["malnu_lock"] or ""):
        absent.add("malnu_lock.purpose")
    absent.update(f"migrations.{n}" for n in tracking_lacks(have))
    return frozenset(absent)


# A constraint SQLite checks only at COMMIT (LIKE is case-insensitive for ASCII).
SELECT_DEFERRED = "SELECT 1 FROM sqlite_master WHERE sql LIKE '%deferred%' LIMIT 1"

SELECT_RECORDS = select_records()


def records_sql(absent: frozenset[str]) -> str:
    """The tracking rows' SELECT of a backend whose open found ``absent`` (a read-only open
    of the seed's own table: :func:`absent_tool_tables`' ``migrations.COLUMN`` entries)."""
    lacking = [a.partition(".")[2] for a in absent if a.startswith("migrations.")]
    return select_records(lacking) if lacking else SELECT_RECORDS


def records_sql_of(conn: sqlite3.Connection) -> str:
    """The tracking rows' SELECT for the table in the file on ``conn`` as it is (a backup's
    copy, a D1 dump loaded for a check: never upgraded)."""
    return select_records(tracking_lacks(dict(conn.execute(SELECT_TOOL_TABLES).fetchall())))


# Insert, or turn an earlier failed row into a success (a retry after the fix).
UPSERT_SUCCESS = (
    "INSERT INTO migrations (filename, checksum, executed_at, execution_time_ms, success, "
    "error_message) VALUES (?, ?, ?, ?, 1, NULL) "
    "ON CONFLICT(filename) DO UPDATE SET checksum = excluded.checksum, "
    "executed_at = excluded.executed_at, execution_time_ms = excluded.execution_time_ms, "
    "success = 1, error_message = NULL"
)

UPSERT_FAILURE = (
    "INSERT INTO migrations (filename, checksum, executed_at, execution_time_ms, success, "
    "error_message) VALUES (?, ?, ?, ?, 0, ?) "
    "ON CONFLICT(filename) DO UPDATE SET checksum = excluded.checksum, "
    "executed_at = excluded.executed_at, execution_time_ms = excluded.execution_time_ms, "
    "success = 0, error_message = excluded.error_message"
)

DELETE_RECORD = "DELETE FROM migrations WHERE filename = ?"
# (repair: the file as it is now, its content and its name: a file renamed after it ran)
UPDATE_CHECKSUM = "UPDATE migrations SET checksum = ?, filename = ? WHERE filename = ?"

INSERT_AUDIT = (
    "INSERT INTO malnu_audit (at, actor, action, object, outcome, detail) VALUES (?, ?, ?, ?, ?, ?)"
)
SELECT_AUDIT = "SELECT id, at, actor, action, object, outcome, detail FROM malnu_audit"


def select_audit(limit: int, action: str | None, where: AuditWhere) -> tuple[str, list[object]]:
    """:data:`SELECT_AUDIT` of the newest ``limit`` rows of ``action`` (if given) whose
    ``where`` columns (:data:`~.base.AUDIT_WHERE_COLUMNS` only) equal their values, newest
    first; its parameters. By the (action, id) index, newest first, to the first match."""
    conds = [("action", action)] if action else []
    conds += [(col, value) for col, value in where]
    for col, _ in conds:
        if col not in ("action", *AUDIT_WHERE_COLUMNS):
            raise ValueError(f"not an audit column to select by: {col!r}")
    sql = SELECT_AUDIT
    if conds:
        sql += " WHERE " + " AND ".join(f"{col} = ?" for col, _ in conds)
    return sql + " ORDER BY id DESC LIMIT ?", [*(v for _, v in conds), int(limit)]


HAS_AUDIT = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'malnu_audit'"

# The lease is written and judged by the database's clock (D1's; the SQLite file's host),
# never by the clock of the machine that reads it: an operator's laptop whose clock runs
# ahead had taken live locks over, and one whose clock runs behind wrote expired leases.
LEASE_UNTIL = f"datetime('now', '+{LEASE_SECONDS} seconds')"
SELECT_LOCK = (
    "SELECT owner, host, pid, acquired_at, expires_at, purpose, "
    "(julianday(expires_at) - julianday('now')) * 86400.0 AS lease_left "
    "FROM malnu_lock WHERE id = 1"
)
INSERT_LOCK = (
    "INSERT OR REPLACE INTO malnu_lock (id, owner, host, pid, acquired_at, expires_at, purpose) "
    f"VALUES (1, ?, ?, ?, ?, {LEASE_UNTIL}, ?)"
)
# A row of this very holder (its acquired_at too: a pid reused on that host is not it).
RENEW_LOCK = (
    f"UPDATE malnu_lock SET expires_at = {LEASE_UNTIL} "
    "WHERE id = 1 AND host = ? AND pid = ? AND acquired_at = ?"
)
RELEASE_LOCK = "DELETE FROM malnu_lock WHERE id = 1 AND host = ? AND pid = ?"
FORCE_RELEASE_LOCK = "DELETE FROM malnu_lock WHERE id = 1"

# The staging table of a D1 import (engine/data/d1_writer.py), promoted and dropped in its
# last batch; one a killed import left (this version's or an earlier one's) stays until the
# next import sweeps it. The tool's, never the application's: no sync copies it.
STAGE_PREFIX = "malnu_stage_"

TOOL_TABLES = (
    "migrations",
    "malnu_audit",
    "malnu_lock",
    "malnu_sync",
    "sqlite_sequence",
    "d1_migrations",
)
# SQLite's own objects (sqlite_sequence, sqlite_stat1…) and D1's (_cf_KV, _cf_METADATA): no
# application's. `_` is LIKE's wildcard, so it is escaped: unescaped, as versions before
# session 12 had it, `scf_nilai` or `acf_log` (2nd-3rd letters "cf") were no table to the tool
# (`import --table` found none, backups did not count them, D1's restore left them).
NOT_INTERNAL = "name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\'"
# The earlier rule, kept only to check a backup whose manifest was made by it (version 1).
NOT_INTERNAL_V1 = "name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%'"


def select_tables(rule: str = NOT_INTERNAL) -> str:
    """User and tool tables by name (``rule``: which names are SQLite's and D1's own)."""
    return f"SELECT name FROM sqlite_master WHERE type = 'table' AND {rule} ORDER BY name"


def select_schema(rule: str = NOT_INTERNAL) -> str:
    """The rows the schema hash is made of (``rule`` as in :func:`select_tables`)."""
    return (
        "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE sql IS NOT NULL "
        f"AND {rule} "
        "AND tbl_name NOT IN ('migrations', 'malnu_audit', 'malnu_lock') ORDER BY type, name"
    )


def names_rule(manifest_version: int) -> str:
    """The rule a backup manifest of that version was made by: its tables and schema hash
    are compared as they were counted, so an earlier backup stays verified."""
    return NOT_INTERNAL_V1 if manifest_version < 2 else NOT_INTERNAL


SELECT_TABLES = select_tables()
SELECT_SCHEMA = select_schema()


def quote_ident(name: str) -> str:
    """Quote an identifier for SQLite/PostgreSQL (double quotes, doubled inside)."""
    return '"' + name.replace('"', '""') + '"'


def truthy(value: object) -> bool:
    """SQLite booleans as stored by the seed (1/0, or text in hand-made rows)."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "t", "yes")
    return bool(value)


def sql_literal(value: object) -> str:
    """``value`` as a SQLite literal: text single-quoted with quotes doubled (a text holding
    NUL as ``CAST(X'…' AS TEXT)``); bytes as a BLOB literal ``X'…'``."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "X'" + bytes(value).hex() + "'"  # a BLOB (str() spelt "b'…'" as text)
    text = str(value)
    if "\x00" in text:
        # Not in the SQL's text (a statement ends at a NUL), nor changed: NUL used to become
        # U+FFFD, a different value stored and reported imported. The text's UTF-8 as a BLOB,
        # cast back to TEXT, is that very value.
        return f"CAST(X'{text.encode().hex()}' AS TEXT)"
    return "'" + text.replace("'", "''") + "'"


def bind_literals(
    sql: str, params: Sequence[object], literal: Callable[[object], str] | None = None
) -> str:
    """Replace each ``?`` outside quotes in ``sql`` by the matching literal of ``params``
    (spelt by ``literal``, :func:`sql_literal` by default)."""
    spell = literal or sql_literal
    out: list[str] = []
    it = iter(params)
    i, n = 0, len(sql)
    quote_char = ""
    while i < n:
        ch = sql[i]
        if quote_char:
            out.append(ch)
            if ch == quote_char:
                quote_char = ""
        elif ch in "'\"":
            quote_char = ch
            out.append(ch)
        elif ch == "?":
            try:
                out.append(spell(next(it)))
            except StopIteration:
                raise ValueError("more placeholders than parameters") from None
        else:
            out.append(ch)
        i += 1
    if next(it, _END) is not _END:
        raise ValueError("more parameters than placeholders")
    return "".join(out)


_END = object()


_FK_OFF = re.compile(
    r"PRAGMA\s+(?:main\.)?foreign_keys\s*=\s*(['\"]?)(?:off|0|false|no)\1(?!\w)", re.IGNORECASE
)


def foreign_keys_off_line(statements: Sequence[Statement]) -> int | None:
    """The line of the file's ``PRAGMA foreign_keys = OFF``, if it has one."""
    from malnu_tui.engine.filestatements import lacks_verb  # (not in a sync's start-up)

    if lacks_verb(statements, "PRAGMA"):  # a large file's, known without reading it again
        return None
    for st in statements:
        if st.first_words.startswith("PRAGMA") and _FK_OFF.match(st.text):
            return st.line
    return None


_DEFER_OFF = re.compile(
    r"PRAGMA\s+(?:main\.)?defer_foreign_keys\s*=\s*(['\"]?)(?:off|0|false|no)\1(?!\w)",
    re.IGNORECASE,
)


def defer_off_statement(statements: Sequence[Statement]) -> Statement | None:
    """The file's ``PRAGMA defer_foreign_keys = OFF`` (Prisma's rebuild ends with it), if it
    has one. With foreign keys on (D1, always), turning it off clears SQLite's count of the
    references broken so far, so the COMMIT no longer fails on them."""
    from malnu_tui.engine.filestatements import lacks_verb  # (not in a sync's start-up)

    if lacks_verb(statements, "PRAGMA"):
        return None
    return next(
        (
            st
            for st in statements
            if st.first_words.startswith("PRAGMA") and _DEFER_OFF.match(st.text)
        ),
        None,
    )


# Why a D1 migration's references are checked before its COMMIT (:func:`check_foreign_keys`).
DEFER_OFF_WHY = (
    "with PRAGMA defer_foreign_keys turned off (which clears SQLite's count of broken "
    "references before the COMMIT checks it)"
)


def foreign_key_violations(c: sqlite3.Connection) -> set[tuple[object, ...]]:
    """``PRAGMA foreign_key_check``'s rows: (table, rowid, parent, fk id)."""
    return {tuple(r) for r in c.execute("PRAGMA foreign_key_check").fetchall()}


def check_foreign_keys(
    c: sqlite3.Connection,
    filename: str,
    line: int,
    before: set[tuple[object, ...]],
    why: str = "with foreign_keys OFF",
) -> None:
    """sqlite.org's rebuild procedure: with the checks off, see that the migration broke no
    reference (one broken before it is not its doing), or fail it (:class:`StatementFailed`).
    Rows are counted by table and parent: a rebuild's copy numbers a table's rowids again (a
    TEXT key's, after a deleted row) and its foreign keys' ids, so a row broken before it came
    out under another rowid, taken for the migration's doing: a file that broke nothing was
    refused (Prisma's rebuild of a table holding one such row, on SQLite and D1 alike)."""
    after = foreign_key_violations(c)
    grew = Counter((v[0], v[2]) for v in after)
    grew.subtract((v[0], v[2]) for v in before)
    count = sum(n for n in grew.values() if n > 0)
    if count:
        new = sorted(
            (v for v in after if grew[(v[0], v[2])] > 0), key=lambda v: (v in before, repr(v))
        )
        raise broken_references(filename, line, why, count, new[0][:3])


def broken_references(
    filename: str, line: int, why: str, count: int, first: Sequence[object]
) -> StatementFailed:
    """The failure of a migration that left ``count`` rows whose parent is gone."""
    table, rowid, parent = first
    return StatementFailed(
        filename,
        line,
        "PRAGMA foreign_key_check",
        f"{why} the migration left {count} row(s) whose parent is gone (first: {table} "
        f"rowid {rowid} → {parent}; PRAGMA foreign_key_check)",
    )


# Connection settings (not stored in the database, not undone by a ROLLBACK) that a migration
# may set with ``PRAGMA name = value``; each reads back as a number.
_SESSION_PRAGMAS = frozenset(
    {
        "automatic_index",
        "busy_timeout",
        "cache_size",
        "cell_size_check",
        "ignore_check_constraints",
        "legacy_alter_table",
        "query_only",
        "recursive_triggers",
        "reverse_unordered_selects",
        "temp_store",
        "trusted_schema",
        "writable_schema",
    }
)
_SET_PRAGMA = re.compile(r"PRAGMA\s+(?:main\.)?(\w+)\s*=", re.IGNORECASE)


def run_statement(c: sqlite3.Connection, text: str) -> sqlite3.Cursor:
    """Run one statement of a migration file as the sqlite3 shell and D1 run it: to its end.
    Python's sqlite3 steps a statement that returns rows only to its first row, so a guard
    whose later rows fail (``SELECT CASE WHEN email IS NULL THEN json('stop: …') END FROM
    users``) passed here, and the migration went on and committed what D1 refuses. Its rows
    are read and dropped."""
    with running(c):  # (the console's stop interrupts the reading of its rows too)
        cur = c.execute(text)
        if cur.description is not None:
            while cur.fetchmany(1024):
                pass
    return cur


def connection_pragmas(c: sqlite3.Connection, statements: Sequence[Statement]) -> dict[str, int]:
    """The current values of the connection settings ``statements`` set (to put back)."""
    from malnu_tui.engine.filestatements import lacks_verb  # (not in a sync's start-up)

    saved: dict[str, int] = {}
    if lacks_verb(statements, "PRAGMA"):
        return saved
    for st in statements:
        if not st.first_words.startswith("PRAGMA"):
            continue
        m = _SET_PRAGMA.match(st.text)
        name = m[1].lower() if m else ""
        if name in _SESSION_PRAGMAS and name not in saved:
            row = c.execute(f"PRAGMA {name}").fetchone()
            if row is not None and isinstance(row[0], int):
                saved[name] = row[0]
    return saved


def restore_pragmas(c: sqlite3.Connection, saved: dict[str, int]) -> None:
    """Put back the connection settings :func:`connection_pragmas` read. ``writable_schema``
    goes back with RESET, which also reloads the schema: `sqlite3 .dump` creates a virtual
    table by ``PRAGMA writable_schema=ON;`` and an ``INSERT INTO sqlite_schema``, which this
    connection did not see, so the next migration of the run that wrote the FTS table (or
    fired a trigger that does) failed "no such table: main.posts_fts", and `test` failed the
    dump's own rollback."""
    for name, value in saved.items():
        setting = "RESET" if name == "writable_schema" and not value else str(int(value))
        c.execute(f"PRAGMA {name} = {setting}")
