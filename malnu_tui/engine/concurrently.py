"""PostgreSQL migrations that build or drop indexes CONCURRENTLY: which files qualify.

PostgreSQL refuses ``CREATE INDEX CONCURRENTLY``, ``DROP INDEX CONCURRENTLY`` and ``REINDEX …
CONCURRENTLY`` inside a transaction block, so a file made only of them runs outside one,
statement by statement (engine/backends/pg_concurrent.py). Only such a file: one that mixes them
with anything else could not be undone if it failed half-way, so it is refused before anything
runs. Read from the statement splitter's output only (no database): the shells, the lint and the
runners all ask :func:`classify` and get the same answer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from malnu_tui.engine.filestatements import lacks_text
from malnu_tui.engine.sqlsplit import Statement

__all__ = [
    "ConcurrentRefusal",
    "ConcurrentStatement",
    "ConcurrentUnit",
    "classify",
    "is_concurrent",
    "without_concurrently",
]

OWN_MIGRATION = (
    "put the CONCURRENTLY statements in a migration of their own (all CREATE INDEX "
    "CONCURRENTLY, each index named, or one DROP INDEX CONCURRENTLY, or one REINDEX … "
    "CONCURRENTLY; session SETs (and RESETs) such as lock_timeout or maintenance_work_mem may "
    "accompany them, as may VACUUM and ANALYZE)"
)

_IDENT = r'(?:"(?:[^"]|"")+"|[^\W\d][\w$]*)'
_F = re.IGNORECASE | re.DOTALL
_WORD = re.compile(r"\bCONCURRENTLY\b", re.IGNORECASE)
_CREATE = re.compile(
    rf"^CREATE\s+(?:UNIQUE\s+)?INDEX\s+CONCURRENTLY\s+(?:IF\s+NOT\s+EXISTS\s+)?"
    rf"(?:(?P<name>{_IDENT})\s+)?ON\s+(?:ONLY\s+)?(?:(?P<schema>{_IDENT})\s*\.\s*)?"
    rf"(?P<table>{_IDENT})",
    _F,
)
_DROP = re.compile(
    rf"^DROP\s+INDEX\s+CONCURRENTLY\s+(?:IF\s+EXISTS\s+)?(?:(?P<schema>{_IDENT})\s*\.\s*)?"
    rf"(?P<name>{_IDENT})\s*(?:CASCADE|RESTRICT)?\s*$",
    _F,
)
_DROP_ANY = re.compile(r"^DROP\s+INDEX\s+CONCURRENTLY\b", _F)
_REINDEX = re.compile(
    r"^REINDEX\s+(?:\((?P<opts>[^)]*)\)\s*)?(?P<what>INDEX|TABLE|SCHEMA|DATABASE|SYSTEM)\s+"
    rf"(?P<conc>CONCURRENTLY\b)?\s*(?P<target>(?:{_IDENT}\s*\.\s*)?{_IDENT})?",
    _F,
)
_OPT_ON = re.compile(r"\bCONCURRENTLY\b(?!\s+(?:FALSE|OFF|0)\b)", re.IGNORECASE)
# A session setting (``SET lock_timeout = '30s'``, ``SET maintenance_work_mem = '1GB'``, as
# PostgreSQL's docs advise before an index build): no transaction needed, and nothing to undo —
# put back after the file (engine/backends/pg_concurrent.py). Not SET LOCAL (its transaction is
# the statement's own), nor SET ROLE / SESSION AUTHORIZATION / TRANSACTION / CONSTRAINTS.
_SET_SESSION = re.compile(
    r"^SET\s+(?:SESSION\s+)?(?!LOCAL\b|SESSION\b)(?P<name>[A-Za-z_][\w.]*)\s*(?:=|\bTO\b)", _F
)
# ``RESET lock_timeout`` after the build, as a Flyway non-transactional migration ends (its
# session outlives the file): a SET the other way, put back the same. Not RESET ALL (the
# tool's own settings with it), ROLE or SESSION AUTHORIZATION.
_RESET_SESSION = re.compile(r"^RESET\s+(?!ALL\b|ROLE\b|SESSION\b)(?P<name>[A-Za-z_][\w.]*)\s*$", _F)
# Statements with nothing to undo, which may share such a file (nasa/cumulus's index migration
# times each build with ``SELECT CURRENT_TIMESTAMP;`` and ends with ``VACUUM (ANALYZE)``, and
# was refused as "mixed"): VACUUM and ANALYZE change no schema and no row (VACUUM runs only
# outside a transaction anyway), and a SELECT of the clock or of constants reads nothing.
_MAINTAIN = re.compile(r"^(?:VACUUM|ANALYZE|ANALYSE)\b", _F)
_VACUUM = re.compile(r"^VACUUM\b", _F)
_VALUE = (
    r"(?:CURRENT_TIMESTAMP|CURRENT_DATE|CURRENT_TIME|LOCALTIMESTAMP|LOCALTIME"
    r"|(?:now|clock_timestamp|statement_timestamp|timeofday|version)\s*\(\s*\)"
    r"|'(?:[^']|'')*'|\d+)(?:\s*::\s*\w+)?(?:\s+(?:AS\s+)?\w+)?"
)
_CLOCK_SELECT = re.compile(rf"^SELECT\s+{_VALUE}(?:\s*,\s*{_VALUE})*$", _F)
_BLOCK_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
_LINE_COMMENT = re.compile(r"--[^\n]*")
_CONC_KEYWORD = re.compile(r"\s+CONCURRENTLY\b", re.IGNORECASE)

Kind = Literal["create", "drop", "reindex", "set", "aside"]
_WHAT = {
    "create": "CREATE INDEX CONCURRENTLY",
    "drop": "DROP INDEX CONCURRENTLY",
    "reindex": "REINDEX … CONCURRENTLY",
}


def catalog_name(ident: str) -> str:
    """An identifier as PostgreSQL's catalog spells it: quoted as written (``""`` → ``"``),
    unquoted folded to lower case (ASCII only, as the server does), cut at 63 bytes."""
    if ident.startswith('"'):
        name = ident[1:-1].replace('""', '"')
    else:
        name = "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in ident)
    raw = name.encode()
    if len(raw) > 63:
        name = raw[:63].decode(errors="ignore")
    return name


def _head(text: str) -> str:
    """The statement with comments taken out (enough to read its leading clauses)."""
    if "/*" in text:
        text = _BLOCK_COMMENT.sub(" ", text)
    if "--" in text:
        text = _LINE_COMMENT.sub(" ", text)
    return text.strip()


@dataclass(frozen=True)
class ConcurrentStatement:
    """One statement of a concurrent file. For ``create``: the index's name and its table's
    (schema is None when the table is unqualified: found by the search path); for ``drop``:
    the index named; for ``reindex``: what it rebuilds (``INDEX``, ``TABLE``, ``SCHEMA``,
    ``DATABASE`` or ``SYSTEM``) and the name as written (None when there is none); for
    ``set``: the setting's name, lower case; ``aside``: a statement with nothing to undo
    (VACUUM, ANALYZE, a SELECT of the clock)."""

    statement: Statement
    kind: Kind
    name: str | None = None
    table: str | None = None
    schema: str | None = None
    reindex: tuple[str, str | None] | None = None

    @property
    def what(self) -> str:
        return _WHAT.get(self.kind, "SET")


@dataclass(frozen=True)
class ConcurrentUnit:
    """A file that runs outside a transaction: its statements, each classified."""

    statements: tuple[ConcurrentStatement, ...]

    @property
    def what(self) -> str:
        kinds = [s.what for s in self.statements if s.kind not in ("set", "aside")]
        return kinds[0] if len(kinds) == 1 else f"{len(kinds)} × {kinds[0]}"

    @property
    def creates(self) -> tuple[ConcurrentStatement, ...]:
        return tuple(s for s in self.statements if s.kind == "create")

    def note(self, filename: str) -> str:
        """What ``up``, ``rollback``, ``plan`` and the console tell before running it."""
        if self.creates:
            undo = "if one fails or the run is stopped, the indexes it built are dropped"
        elif any(s.kind == "reindex" for s in self.statements):
            undo = (
                "if it fails or the run is stopped, the …_ccnew / …_ccold indexes it left are "
                "dropped (and such INVALID leftovers of an earlier run, first)"
            )
        else:
            undo = (
                "if it fails, nothing is recorded and the run stops (a DROP stopped past its "
                "first step leaves the index INVALID: the error says so, and a rerun finishes it)"
            )
        return (
            f"{filename}: runs outside a transaction ({self.what}): statement by statement "
            f"under the migration lock, recorded once the last one is done; {undo}"
        )


@dataclass(frozen=True)
class ConcurrentRefusal:
    """A file that may not run: CONCURRENTLY mixed with other statements, or an unnamed
    concurrent index. ``line`` is the CONCURRENTLY statement's."""

    line: int
    why: str
    instead: str = OWN_MIGRATION

    def message(self) -> str:
        return f"{self.why}: {self.instead}"


def is_concurrent(st: Statement) -> bool:
    """Whether PostgreSQL refuses ``st`` inside a transaction block for its CONCURRENTLY."""
    return _WORD.search(st.text) is not None and _kind(_head(st.text)) is not None


def _kind(head: str) -> Kind | None:
    if _CREATE.match(head) or re.match(r"^CREATE\s+(?:UNIQUE\s+)?INDEX\s+CONCURRENTLY\b", head, _F):
        return "create"
    if _DROP_ANY.match(head):
        return "drop"
    m = _REINDEX.match(head)
    if m and (m["conc"] or (m["opts"] and _OPT_ON.search(m["opts"]))):
        return "reindex"
    return None


def _read(st: Statement) -> ConcurrentStatement | ConcurrentRefusal | None:
    head = _head(st.text)
    kind = _kind(head) if _WORD.search(head) else None
    if kind is None:
        m = _SET_SESSION.match(head) or _RESET_SESSION.match(head)
        if m:
            return ConcurrentStatement(st, "set", name=m["name"].lower())
        if _MAINTAIN.match(head) or _CLOCK_SELECT.match(head):
            return ConcurrentStatement(st, "aside")
        return None
    if kind == "create":
        m = _CREATE.match(head)
        if m is None or m["name"] is None:
            return ConcurrentRefusal(
                st.line,
                "CREATE INDEX CONCURRENTLY without an index name",
                "name the index (CREATE INDEX CONCURRENTLY idx_… ON …), so that a failed or "
                "killed build can be found and dropped",
            )
        schema = catalog_name(m["schema"]) if m["schema"] else None
        return ConcurrentStatement(
            st, kind, catalog_name(m["name"]), catalog_name(m["table"]), schema
        )
    if kind == "drop":
        m = _DROP.match(head)
        if m is None:
            return ConcurrentRefusal(
                st.line,
                "DROP INDEX CONCURRENTLY of more than one index",
                "drop one index per migration (PostgreSQL allows only one with CONCURRENTLY)",
            )
        schema = catalog_name(m["schema"]) if m["schema"] else None
        return ConcurrentStatement(st, kind, catalog_name(m["name"]), None, schema)
    m = _REINDEX.match(head)
    assert m is not None  # _kind said reindex
    return ConcurrentStatement(st, kind, reindex=(m["what"].upper(), m["target"]))


def classify(statements: Sequence[Statement]) -> ConcurrentUnit | ConcurrentRefusal | None:
    """None for a file with no CONCURRENTLY statement (it runs in one transaction); a
    :class:`ConcurrentUnit` for a file that runs outside one; a :class:`ConcurrentRefusal`
    for a file that may not run at all."""
    if lacks_text(statements, "CONCURRENTLY") or not any(
        "CONCURRENTLY" in st.text.upper() and _WORD.search(st.text) for st in statements
    ):
        return None  # the common case (a case-blind regex alone: 2 s per pass of 50 MB)
    read = [(st, _read(st)) for st in statements]
    conc = [
        r
        for _st, r in read
        if isinstance(r, ConcurrentStatement) and r.kind not in ("set", "aside")
    ]
    refused = [r for _st, r in read if isinstance(r, ConcurrentRefusal)]
    if not conc and not refused:
        return None
    if refused:
        return refused[0]
    first = conc[0]
    where = f"{first.what} (line {first.statement.line})"
    for st, r in read:
        if r is None:
            words = " ".join(_head(st.text).split()[:3])
            return ConcurrentRefusal(
                first.statement.line,
                f"{where} shares its migration with {words} … (line {st.line}): CONCURRENTLY "
                "runs outside a transaction, so the file could not be undone half-way",
            )
    kinds = {r.kind for r in conc}
    if len(kinds) > 1 or (kinds != {"create"} and len(conc) > 1):
        other = next(r for r in conc[1:] if r.kind != "create" or first.kind != "create")
        return ConcurrentRefusal(
            first.statement.line,
            f"{where} shares its migration with {other.what} (line {other.statement.line})",
        )
    return ConcurrentUnit(tuple(r for _st, r in read if isinstance(r, ConcurrentStatement)))


def without_concurrently(st: Statement) -> Statement | None:
    """``st`` with its CONCURRENTLY taken out, for a check inside a transaction that is
    rolled back (``plan --check``): the same index built or dropped the plain way. None for a
    REINDEX (it changes no schema, and REINDEX SCHEMA never runs in a transaction), and for a
    VACUUM (it changes no schema, and never runs in a transaction)."""
    head = _head(st.text)
    kind = _kind(head)
    if kind is None:
        return None if _VACUUM.match(head) else st
    if kind == "reindex":
        return None
    return Statement(_CONC_KEYWORD.sub("", _head(st.text), count=1), st.line)
