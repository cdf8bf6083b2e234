"""A SQL dump file (a D1 export, ``sqlite3 .dump``): its statements read as SQLite ends them,
loaded into a scratch SQLite database as D1 imports it, and checked (integrity, row counts,
schema hash, applied migrations, integers an export of D1 rounds). No HTTP here: the backup
check, ``d1 import`` and the rehearsal read dumps through this module."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from malnu_tui.engine.backends import sqlite_sql as q
from malnu_tui.engine.backends.d1.client import MAX_SAFE_INTEGER, MAX_STATEMENT_BYTES
from malnu_tui.engine.backends.d1.clientdump import pieced_insert, text_value
from malnu_tui.engine.backends.sqlite_sql import truthy
from malnu_tui.engine.backends.sqlite_stop import StoppableConnection
from malnu_tui.engine.data.sqlwrite import D1_STATEMENT_BYTES, RowRefused
from malnu_tui.engine.private import hand_over
from malnu_tui.engine.sqltemplate import is_transaction_control

__all__ = [
    "DumpCheck",
    "check_dump",
    "code_start",
    "d1_refusal",
    "dump_statements",
    "load_dump",
    "tables_first",
    "within_statement_limit",
]


@dataclass(frozen=True)
class DumpCheck:
    """A dump loaded into a scratch SQLite database: what it holds and whether it is sound."""

    integrity: str
    row_counts: dict[str, int] = field(default_factory=dict)
    schema_hash: str = ""
    applied: tuple[tuple[str, str, str | None], ...] = ()  # (filename, checksum, executed_at)
    error: str = ""
    # Columns holding integers past ±(2**53 - 1), which D1's export writes rounded: "t.c: N
    # values (e.g. V)". The dump loads, but it is not a faithful copy of them.
    unsafe_integers: tuple[str, ...] = ()
    tables: int = 0  # tables the dump creates, the tool's own included

    @property
    def ok(self) -> bool:
        return not self.error and self.integrity == "ok"


# Where a ";" cannot end a statement: inside a string, a quoted identifier or a comment.
_OPENERS = re.compile(r"""['"`\[;]|--|/\*""")
_CLOSERS = {"'": "'", '"': '"', "`": "`", "[": "]", "--": "\n", "/*": "*/"}


def dump_statements(path: Path) -> Iterator[str]:
    """The statements of a SQL dump, read line by line (a dump can be large) and cut where
    SQLite ends a statement. Quotes and comments are skipped with ``str.find`` (a row of text
    full of ";" costs one pass); at each ";" outside them ``sqlite3.complete_statement`` has
    the last word (trigger bodies). Concatenated, they give the file back (trailing blanks
    aside)."""
    buf: list[str] = []
    closer: str | None = None  # what ends the quote or comment we are in
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            start = pos = 0
            while pos < len(line):
                if closer is not None:
                    end = line.find(closer, pos)
                    if end < 0:
                        break
                    pos, closer = end + len(closer), None
                    continue
                m = _OPENERS.search(line, pos)
                if m is None:
                    break
                pos = m.end()
                if m.group() != ";":
                    closer = _CLOSERS[m.group()]
                    continue
                buf.append(line[start:pos])
                start = pos
                text = "".join(buf)
                if sqlite3.complete_statement(text):
                    yield text
                    buf = []
                else:
                    buf = [text]  # inside a trigger body
            buf.append(line[start:])
    rest = "".join(buf)
    if rest.strip():
        yield rest


_NAME = r"""(?:"(?:[^"]|"")*"|`(?:[^`]|``)*`|\[[^\]]*\]|[\w$]+)"""
_ROWS = re.compile(
    rf"""\s*(INSERT\s+(?:OR\s+\w+\s+)?INTO\s+{_NAME}(?:\s*\.\s*{_NAME})?\s*"""
    rf"""(?:\((?:{_NAME}|[\s,])*\)\s*)?VALUES)\s*(\(.*\))\s*;?\s*$""",
    re.IGNORECASE | re.DOTALL,
)

_INTO = re.compile(rf"\s*INSERT\s+(?:OR\s+\w+\s+)?INTO\s+({_NAME}(?:\s*\.\s*{_NAME})?)", re.I)


# What may come before a statement's first word: blanks and comments (a note a dump's author
# wrote above a row, the comment at the end of the line before).
_LEADING = re.compile(r"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*", re.DOTALL)


def code_start(statement: str) -> int:
    """Where ``statement``'s SQL starts, past the blanks and comments before it."""
    m = _LEADING.match(statement)
    return m.end() if m else 0


def within_statement_limit(statement: str) -> str:
    """A dump's statement as D1's import takes it: an ``INSERT … VALUES`` past D1's 100 KB (a
    row holding a photo, an essay: D1's own export writes it whole, and its import then
    refuses it, "statement too long", workers-sdk#6146) as the client-side dump writes one,
    its large values built in pieces in a scratch table (.clientdump.pieced_insert); any other
    statement as it is."""
    if len(statement) <= D1_STATEMENT_BYTES // 4 or len(statement.encode()) <= D1_STATEMENT_BYTES:
        return statement
    m = _ROWS.match(statement, code_start(statement))  # (a comment above it: still a row)
    rows = _values(m.group(2)) if m else None
    if m is None or rows is None:
        return statement
    try:
        pieced = [s for row in rows for s in pieced_insert(m.group(1), row)]
    except RowRefused:  # a row D1 cannot hold at all: its own refusal says so
        return statement
    return "".join(f"\n{s};" for s in pieced)


def d1_refusal(path: Path) -> str | None:
    """The first statement of a dump that D1's import refuses by its limits even once a row
    past 100 KB goes in pieces (:func:`within_statement_limit`), as ``"LINE: why"``: a row
    over D1's 2,000,000 bytes (a local SQLite database's scan kept as text, which
    `sqlite3 .dump` writes whole), or a statement over 100,000 bytes that is no row of
    literals. None when every statement fits. Such a dump was uploaded and ingested, and D1
    refused it mid-import ("statement too long"), naming no line."""
    line = 1
    for statement in dump_statements(path):
        code = code_start(statement)  # its first line of SQL, past the comments before it
        at = line + statement[:code].count("\n")
        line += statement.count("\n")
        text = statement[code:].strip()
        if len(text.encode()) <= MAX_STATEMENT_BYTES or is_transaction_control(statement):
            continue
        why = _past_limits(text)
        if why is not None:
            return f"{at}: {why}"
    return None


def _past_limits(statement: str) -> str | None:
    """Why D1 refuses ``statement`` (over 100 KB) however it is sent, or None: its rows go in
    pieces."""
    m = _ROWS.match(statement)
    rows = _values(m.group(2)) if m else None
    if m is None or rows is None:
        size = len(statement.encode())
        return (
            f"a statement of {size:,} bytes, and D1 takes at most {MAX_STATEMENT_BYTES:,} bytes "
            "a statement"
        )
    for n, row in enumerate(rows, start=1):
        try:
            pieced_insert(m.group(1), row)
        except RowRefused as exc:
            table = _INTO.match(statement)
            head = f"INSERT INTO {table.group(1) if table else '…'}"
            which = f", row {n} of the statement" if len(rows) > 1 else ""
            return f"{head}{which}, value {exc.column + 1}: {exc}"
    return None


def _values(text: str) -> list[list[object]] | None:
    """The rows of a ``VALUES`` list of literals, each value exactly (a text as its bytes
    first: one not UTF-8 kept so), or None when SQLite cannot read them alone."""
    conn = sqlite3.connect(":memory:")
    try:
        n = len(conn.execute(f"SELECT * FROM (VALUES{text}) LIMIT 0").description)
        cols = ", ".join(
            f"typeof(column{i}), CASE typeof(column{i}) WHEN 'text' THEN "
            f"CAST(column{i} AS BLOB) ELSE column{i} END"
            for i in range(1, n + 1)
        )
        found = conn.execute(f"SELECT {cols} FROM (VALUES{text})").fetchall()
    except sqlite3.Error:
        return None
    finally:
        conn.close()
    return [
        [text_value(r[i + 1]) if r[i] == "text" else r[i + 1] for i in range(0, 2 * n, 2)]
        for r in found
    ]


_CREATE_TABLE = re.compile(r"\s*CREATE\s+TABLE\b", re.IGNORECASE)
_INSERT = re.compile(r"\s*INSERT\b", re.IGNORECASE)
_PRAGMA = re.compile(r"\s*PRAGMA\b", re.IGNORECASE)


def tables_first(path: Path) -> bool:
    """Move every ``CREATE TABLE`` of a dump before its first row, in place (fsynced), when
    a table comes after rows: D1 exports each table with its rows in the order the tables
    were made, so after a rebuild (Prisma's, drizzle-kit's) of a parent table, a child's
    rows reference a table made later, and the dump loads nowhere with foreign keys on (``no
    such table: main.User``; workers-sdk issue 5683): not into D1, not into the backup's
    check. Whether it was rewritten."""
    seen_rows = False
    for statement in dump_statements(path):
        if _INSERT.match(statement):
            seen_rows = True
        elif seen_rows and _CREATE_TABLE.match(statement):
            break
    else:
        return False
    tmp = path.with_name(path.name + ".order")
    head = 0  # the leading PRAGMA defer_foreign_keys, BEGIN…: they stay first
    for statement in dump_statements(path):
        if not (_PRAGMA.match(statement) or is_transaction_control(statement)):
            break
        head += 1
    mode = path.stat().st_mode & 0o777  # a backup is private (0600): so is its rewrite
    tmp.unlink(missing_ok=True)  # one a killed run left keeps its own mode
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    hand_over(fd, path)  # and its owner (an export root made in an operator's folder)
    with open(fd, "w", encoding="utf-8") as out:
        for i, statement in enumerate(dump_statements(path)):
            if i < head or _CREATE_TABLE.match(statement):
                out.write(statement)
        for i, statement in enumerate(dump_statements(path)):
            if i >= head and not _CREATE_TABLE.match(statement):
                out.write(statement)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    return True


def load_dump(path: Path, conn: sqlite3.Connection) -> str | None:
    """Load a dump into the SQLite database on ``conn`` as D1 imports it: one transaction,
    foreign keys on (checked at the end, as with D1's defer_foreign_keys), the dump's own
    transaction control skipped. Returns why it was refused (a ROLLBACK), else None; raises
    ``sqlite3.Error`` / ``OSError`` when it does not load."""
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("BEGIN")
    conn.execute("PRAGMA defer_foreign_keys = ON")
    for statement in dump_statements(path):
        control = is_transaction_control(statement)
        if control and control.startswith("ROLLBACK"):
            conn.execute("ROLLBACK")
            return "the dump has a ROLLBACK (written with errors)"
        if not control:
            conn.execute(statement)
    conn.execute("COMMIT")
    return None


def check_dump(path: Path, rule: str = q.NOT_INTERNAL) -> DumpCheck:
    """Load a dump into a scratch in-memory SQLite database: integrity check, row counts,
    schema hash (as the backends compute it) and the applied migrations it holds.

    The dump's own ``BEGIN TRANSACTION;``/``COMMIT;`` (as ``sqlite3 .dump`` writes them, and
    some D1 exports have) are skipped: the check runs the whole dump in one transaction of
    its own, as D1 imports it; a ``ROLLBACK`` (a dump written with errors) fails the check."""
    # Foreign keys on (checked at the end, as with D1's defer_foreign_keys) and one
    # transaction, as D1 imports it: a dump that D1 would refuse fails here too.
    with contextlib.suppress(OSError), path.open("rb") as fh:
        if fh.read(16) == b"SQLite format 3\x00":  # (wrangler refuses these too)
            return DumpCheck(
                "not checked",
                error=f"{path.name} is a SQLite database file, not a SQL dump: "
                f"`sqlite3 {path.name} .dump > {path.stem}.sql` writes one",
            )
    # Stoppable (Ctrl-C, the console's stop), as a SQLite backup's check is: its statements
    # (a long INSERT, the integrity_check) ran in sqlite3's C code, where no stop reached them.
    conn = sqlite3.connect(":memory:", isolation_level=None, factory=StoppableConnection)
    try:
        refused = load_dump(path, conn)
        if refused:
            return DumpCheck("not checked", error=refused)
        problems = conn.execute("PRAGMA foreign_key_check").fetchmany(5)
        if problems:
            return DumpCheck("not checked", error=f"foreign key violations: {problems}")
        rows = [str(r[0]) for r in conn.execute("PRAGMA integrity_check").fetchmany(20)]
        integrity = "ok" if rows == ["ok"] else "; ".join(rows)
        tables = [r[0] for r in conn.execute(q.select_tables(rule)) if r[0] not in q.TOOL_TABLES]
        counts = {
            t: int(conn.execute(f"SELECT count(*) FROM {q.quote_ident(t)}").fetchone()[0])
            for t in tables
        }
        schema = conn.execute(q.select_schema(rule)).fetchall()
        text_schema = "\n".join(
            f"{r[0]}|{r[1]}|{r[2]}|{' '.join(str(r[3]).split())}" for r in schema
        )
        have = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        applied: tuple[tuple[str, str, str | None], ...] = ()
        if "migrations" in have:
            applied = tuple(
                (r[0], r[1], r[2]) for r in conn.execute(q.records_sql_of(conn)) if truthy(r[4])
            )
        unsafe = _unsafe_integers(conn, tables)
    except (OSError, UnicodeDecodeError) as exc:
        return DumpCheck("not checked", error=f"cannot read the dump: {exc}")
    except sqlite3.Error as exc:
        return DumpCheck(
            "not checked", error="the dump does not load into SQLite: " + " ".join(str(exc).split())
        )
    finally:
        conn.close()
    schema_hash = hashlib.sha256(text_schema.encode()).hexdigest()
    return DumpCheck(
        integrity, counts, schema_hash, applied, unsafe_integers=unsafe, tables=len(have)
    )


def _unsafe_integers(conn: sqlite3.Connection, tables: Sequence[str]) -> tuple[str, ...]:
    """Columns of the loaded dump holding integers past ±(2**53 - 1): D1's export writes
    them through JavaScript numbers, rounded (cloudflare/workers-sdk#15378: 9007199254740993
    as 9007199254740992, and int64's ends as 9223372036854776000, which SQLite then reads as
    a REAL past the int64 range — counted too). One pass over each table."""
    out: list[str] = []
    for table in tables:
        t = q.quote_ident(table)
        names = [str(r[1]) for r in conn.execute(f"PRAGMA table_info({t})")]
        if not names:
            continue
        odd = [
            f"(typeof({c}) = 'integer' AND {c} NOT BETWEEN -{MAX_SAFE_INTEGER} AND "
            f"{MAX_SAFE_INTEGER}) OR (typeof({c}) = 'real' AND abs({c}) >= 9.2e18)"
            for c in map(q.quote_ident, names)
        ]
        sql = ", ".join(
            f"count(CASE WHEN {x} THEN 1 END), max(CASE WHEN {x} THEN {c} END)"
            for x, c in zip(odd, map(q.quote_ident, names), strict=True)
        )
        found = conn.execute(f"SELECT {sql} FROM {t}").fetchone()
        for i, name in enumerate(names):
            n, example = found[2 * i], found[2 * i + 1]
            if n:
                shown = int(example) if isinstance(example, float) else example
                out.append(f"{table}.{name}: {n} value{'s' if n > 1 else ''} (e.g. {shown})")
    return tuple(out)
