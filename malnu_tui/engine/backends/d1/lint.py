"""Findings for SQL that Cloudflare D1 rejects or runs differently from a local SQLite file.

Run before applying to D1 (``plan`` and the TUI show them next to the SQL). The schema each
statement sees is rebuilt by replaying the migrations, in order, into a scratch in-memory
SQLite database (optionally on top of the live schema), so a ``DROP TABLE`` is checked against
the foreign keys that really point at that table at that moment.

What D1 does (from its documentation):

- SQL sent over the API runs as one batch in one implicit transaction; ``BEGIN``, ``COMMIT``
  and ``SAVEPOINT`` are rejected.
- Foreign keys are always enforced; ``PRAGMA foreign_keys = OFF`` is ignored. The supported
  escape hatch is ``PRAGMA defer_foreign_keys = on``, which defers constraint *checks* to the
  end of the batch but does not stop ``ON DELETE`` actions.
- So the classic SQLite table rebuild (create new, copy, ``DROP TABLE`` old, rename) runs the
  implicit ``DELETE`` of the drop with cascades on: every child row with ``ON DELETE CASCADE``
  is deleted. This has wiped child rows for real users.
- ``ATTACH``/``DETACH`` and ``VACUUM`` are not available; one statement is at most 100 KB.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from malnu_tui.engine.errors import MalnuError
from malnu_tui.engine.files import Migration, MigrationSet
from malnu_tui.engine.sqlsplit import Statement

if TYPE_CHECKING:
    from malnu_tui.engine.backends.base import Backend

__all__ = ["D1Finding", "lint_migration", "lint_migrations", "live_schema"]

Severity = Literal["error", "warning"]
MAX_STATEMENT_BYTES = 100_000

_PRAGMA_FK = re.compile(r"^\s*PRAGMA\s+(?:\w+\.)?foreign_keys\b", re.IGNORECASE)
_DROP_TABLE = re.compile(
    r"^\s*DROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:(?:\"[^\"]+\"|\w+)\s*\.\s*)?"
    r"(?P<name>\"(?:[^\"]|\"\")+\"|`[^`]+`|\[[^\]]+\]|\w+)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class D1Finding:
    """One problem of one statement for D1: where, how bad, why, and what to do instead."""

    file: str
    line: int
    code: str
    severity: Severity
    message: str
    suggestion: str

    def describe(self) -> str:
        return f"{self.file}:{self.line}: {self.severity} [{self.code}] {self.message}. " + (
            f"Instead: {self.suggestion}"
        )

    def as_json(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "suggestion": self.suggestion,
        }


def _unquote(name: str) -> str:
    if name[:1] in '"`[' and len(name) >= 2:
        inner = name[1:-1]
        return inner.replace('""', '"') if name[0] == '"' else inner
    return name


def _strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"--[^\n]*", " ", text)


def _cascading_children(
    conn: sqlite3.Connection, parent: str
) -> list[tuple[str, str, str]]:  # (child table, child column, on_delete)
    out: list[tuple[str, str, str]] = []
    tables = [
        r[0]
        for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    ]
    for child in tables:
        for fk in conn.execute("SELECT * FROM pragma_foreign_key_list(?)", (child,)):
            # (id, seq, table, from, to, on_update, on_delete, match)
            if str(fk[2]).lower() == parent.lower() and child.lower() != parent.lower():
                action = str(fk[6]).upper()
                if action in ("CASCADE", "SET NULL", "SET DEFAULT"):
                    out.append((child, str(fk[3]), action))
    return out


def _check_statement(
    filename: str, st: Statement, conn: sqlite3.Connection | None
) -> list[D1Finding]:
    found: list[D1Finding] = []
    words = st.first_words
    verb = words.split(" ", 1)[0]
    code = _strip_comments(st.text)

    def add(code_: str, severity: Severity, message: str, suggestion: str) -> None:
        found.append(D1Finding(filename, st.line, code_, severity, message, suggestion))

    if verb in ("SAVEPOINT", "RELEASE") or words.startswith("ROLLBACK TO"):
        add(
            "D1-SAVEPOINT",
            "error",
            f"D1 rejects {verb} in SQL sent over its API (savepoints are not available)",
            "remove it; the whole file runs as one batch that D1 rolls back on any error",
        )
    elif verb in ("BEGIN", "COMMIT", "END", "ROLLBACK"):
        add(
            "D1-TRANSACTION",
            "error",
            f"D1 rejects explicit transaction control ({words.title()})",
            "remove it; the tool sends each migration as one batch (one transaction)",
        )
    if _PRAGMA_FK.match(code):
        add(
            "D1-PRAGMA-FK",
            "warning",
            "D1 ignores PRAGMA foreign_keys: foreign keys stay enforced and ON DELETE "
            "actions still fire",
            "use PRAGMA defer_foreign_keys = on (defers checks to the end of the batch; "
            "it does not stop cascades)",
        )
    if verb in ("ATTACH", "DETACH"):
        add("D1-ATTACH", "error", f"D1 does not allow {verb}", "work on one database per migration")
    if verb == "VACUUM":
        add(
            "D1-VACUUM",
            "warning",
            "D1 does not run VACUUM from SQL",
            "remove it; D1 manages storage itself",
        )
    size = len(st.text.encode())
    if size > MAX_STATEMENT_BYTES:
        add(
            "D1-STATEMENT-SIZE",
            "error",
            f"statement is {size} bytes; D1 allows {MAX_STATEMENT_BYTES} per statement",
            "split the data into several INSERT statements or files",
        )
    m = _DROP_TABLE.match(code)
    if m and conn is not None:
        parent = _unquote(m["name"])
        children = _cascading_children(conn, parent)
        cascades = [c for c in children if c[2] == "CASCADE"]
        others = [c for c in children if c[2] != "CASCADE"]
        if cascades:
            names = ", ".join(f"{c}({col})" for c, col, _ in cascades)
            add(
                "D1-CASCADE-REBUILD",
                "error",
                f"DROP TABLE {parent} first deletes its rows, and on D1 foreign keys are always "
                f"on: ON DELETE CASCADE empties the matching rows of {names} (a table rebuild "
                "this way has wiped child rows for real users)",
                "avoid the rebuild (ALTER TABLE … ADD/RENAME/DROP COLUMN), or copy the child "
                "tables aside and rebuild them in the same migration; PRAGMA "
                "defer_foreign_keys does not stop cascades",
            )
        if others:
            names = ", ".join(f"{c}({col}) {a}" for c, col, a in others)
            add(
                "D1-FK-ACTION-REBUILD",
                "warning",
                f"DROP TABLE {parent} fires ON DELETE actions on D1: {names}",
                "rebuild the child tables in the same migration, or avoid the rebuild",
            )
    return found


def _replay(conn: sqlite3.Connection, st: Statement) -> None:
    if st.first_words.split(" ", 1)[0] in (
        "BEGIN",
        "COMMIT",
        "END",
        "ROLLBACK",
        "SAVEPOINT",
        "RELEASE",
        "ATTACH",
        "DETACH",
        "VACUUM",
    ):
        return
    # Lint is best effort: the apply itself reports real SQL errors with the line.
    with contextlib.suppress(sqlite3.Error):
        conn.execute(st.text)


def _template_findings(m: Migration) -> list[D1Finding]:
    parts = m.parts()
    return [
        D1Finding(
            m.filename,
            line,
            "D1-TRANSACTION",
            "warning",
            "D1 rejects BEGIN/COMMIT in SQL sent over its API; this template statement is "
            "stripped by the tool, which runs the file as one batch",
            "remove the BEGIN TRANSACTION/COMMIT lines from the file",
        )
        for line in parts.transaction_lines
    ]


def lint_migration(m: Migration, conn: sqlite3.Connection | None = None) -> list[D1Finding]:
    """Findings for one migration file; with ``conn`` (a scratch schema) cascade checks run
    against it and the file's statements are replayed into it."""
    findings = _template_findings(m)
    for st in m.statements():
        findings.extend(_check_statement(m.filename, st, conn))
        if conn is not None:
            _replay(conn, st)
    return findings


def lint_migrations(
    mset: MigrationSet,
    only: Iterable[str] | None = None,
    *,
    base_schema: Sequence[str] = (),
) -> list[D1Finding]:
    """Findings for the migrations of ``mset`` named in ``only`` (filenames; default: all).

    The schema is rebuilt by replaying every migration in version order into a scratch
    SQLite database; with ``base_schema`` (the live database's CREATE statements, see
    :func:`live_schema`) it starts from there and replays only the ``only`` files.
    """
    wanted = set(only) if only is not None else None
    conn = sqlite3.connect(":memory:", isolation_level=None)
    try:
        conn.execute("PRAGMA foreign_keys = ON")
        for sql in base_schema:
            try:
                conn.execute(sql)
            except sqlite3.Error:
                pass
        findings: list[D1Finding] = []
        for m in mset.migrations:
            selected = wanted is None or m.filename in wanted
            if base_schema and not selected:
                continue
            try:
                if selected:
                    findings.extend(lint_migration(m, conn))
                else:
                    for st in m.statements():
                        _replay(conn, st)
            except MalnuError:
                continue  # an unreadable file is reported by discovery and planning
        return findings
    finally:
        conn.close()


def live_schema(backend: object) -> list[str]:
    """The CREATE statements of a live SQLite-dialect database (D1 or a SQLite file), tables
    first, for :func:`lint_migrations`'s ``base_schema``."""
    from malnu_tui.engine.backends.d1.backend import D1Backend

    sql = (
        "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' "
        "AND name NOT LIKE '_cf_%' ORDER BY CASE type WHEN 'table' THEN 0 ELSE 1 END, rowid"
    )
    if isinstance(backend, D1Backend):
        return [str(r["sql"]) for r in backend.query(sql)]
    conn = getattr(backend, "conn", None)
    if isinstance(conn, sqlite3.Connection):
        return [str(r[0]) for r in conn.execute(sql)]
    return []


def lint_plan(backend: Backend, mset: MigrationSet, filenames: Sequence[str]) -> list[D1Finding]:
    """Findings for ``filenames`` about to run on a D1 ``backend``, against its live schema
    (nothing for other kinds: the lint is about what D1 itself rejects or misbehaves on)."""
    if backend.kind != "d1" or not filenames:
        return []
    return lint_migrations(mset, list(filenames), base_schema=live_schema(backend))
