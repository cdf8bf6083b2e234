"""The general rules (both dialects), statement by statement, over one migration's running
state, and the rollback rules judged from that state at its end: what ``core`` (the runner)
calls for each statement, outside the dialects' own rule sets."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Literal

from malnu_tui.engine.files import Migration
from malnu_tui.engine.lint.app_access import revoked, rls_disabled
from malnu_tui.engine.lint.backfill import nulls_filled
from malnu_tui.engine.lint.model import LARGE_TABLE_ROWS, Finding, Severity
from malnu_tui.engine.lint.names import fold
from malnu_tui.engine.lint.ops import (
    Op,
    adds_not_null_without_default,
    adds_unique,
    key,
    split_top_level,
    strip_comments,
)
from malnu_tui.engine.lint.pg import NotNullChecks, pg_alter_action, renamed_object, widens
from malnu_tui.engine.lint.pg_enum import DeclaredColumns
from malnu_tui.engine.lint.pg_locks import MadeHere, domain_constraint, new_domain, strong_lock
from malnu_tui.engine.lint.pg_rls import policy_label, policy_of
from malnu_tui.engine.lint.rebuild import coalesced_columns
from malnu_tui.engine.lint.replay import Replay, TableShape
from malnu_tui.engine.lint.rollback import RollbackFile
from malnu_tui.engine.lint.rules import finding
from malnu_tui.engine.lint.sqlite_rules import (
    add_column_refusal,
    alter_refusal,
    concurrently_refusal,
)
from malnu_tui.engine.sqlsplit import Statement

__all__ = [
    "Dialect",
    "LiveTable",
    "MigrationState",
    "TableRows",
    "finding",
    "rollback_rules",
    "statement_rules",
]

Dialect = Literal["sqlite", "postgresql"]
TableRows = Callable[[str], "int | None"]  # live rows of a table (None: unknown)
LiveTable = Callable[[str], "bool | None"]  # a table of that name live (None: unknown)
_WORDS = re.compile(r'"(?:[^"]|"")+"|`[^`]+`|\[[^\]]+\]|[A-Za-z_][\w$]*')
_CONSTANT_DEFAULT = re.compile(r"\bDEFAULT\s+(?:'|[-+]?\d|TRUE\b|FALSE\b)", re.IGNORECASE)


_UNIQUE_CONCURRENTLY = (
    "check for duplicates first (SELECT col, count(*) … GROUP BY col HAVING count(*) > 1) and "
    "remove them: a concurrent build that meets one fails and its INVALID index is dropped; "
    "then attach the index with ADD CONSTRAINT … UNIQUE USING INDEX in a later migration if "
    "a constraint is wanted"
)


@dataclass
class MigrationState:
    """One migration's running state for the rules."""

    file: str
    dialect: Dialect
    rollback: RollbackFile
    rebuilt: set[str]
    session_lock_timeout: bool
    table_rows: TableRows | None = None
    not_null_checks: NotNullChecks = field(default_factory=NotNullChecks)
    columns: DeclaredColumns | None = None  # PostgreSQL: each column's declared type
    # table → line; on PostgreSQL named as it folds them ("Kelas" is not kelas: :meth:`made`)
    created: dict[str, int] = field(default_factory=dict)
    objects: dict[tuple[str, str], tuple[int, str]] = field(default_factory=dict)
    index_columns: dict[str, set[str]] = field(default_factory=dict)  # index → names it uses
    added_columns: dict[tuple[str, str], int] = field(default_factory=dict)
    # added with no default (nor NOT NULL, a generated value, a serial): NULL in every row
    # until a write; (table, column) → the line, and the last statement that may write rows
    null_columns: dict[tuple[str, str], int] = field(default_factory=dict)
    last_write: int = 0
    copied: set[str] = field(default_factory=set)
    lock_timeout: bool = False
    lock_flagged: bool = False
    lock_off_line: int = 0  # SET lock_timeout = 0 (or a RESET) here: the target's own is off
    lock_reset: str = ""  # … by a RESET (or SET … TO DEFAULT): which
    before_rebuild: dict[str, TableShape] = field(default_factory=dict)
    rebuild_line: dict[str, int] = field(default_factory=dict)
    had_before: set[tuple[str, str]] = field(default_factory=set)  # dropped, then re-created
    filled: dict[str, set[str] | None] = field(default_factory=dict)  # INSERT … SELECT's columns
    coalesced: dict[str, set[str]] = field(default_factory=dict)  # … filled never NULL
    replay: Replay | None = None  # SQLite: the schema before each statement
    live_table: LiveTable | None = None  # PostgreSQL: whether the live database has a table
    replaced: set[tuple[str, str]] = field(default_factory=set)  # made by CREATE OR REPLACE
    nulls_filled: dict[tuple[str, str], int] = field(default_factory=dict)  # → the UPDATE's line
    schemas: dict[tuple[str, str], str] = field(default_factory=dict)  # (kind, name) → schema
    domains: set[str] = field(default_factory=set)  # PostgreSQL: domains created here
    # a view, function or procedure from before, dropped here: (kind, name) → (line, name)
    dropped_objects: dict[tuple[str, str], tuple[int, str]] = field(default_factory=dict)
    labels: dict[tuple[str, str], str] = field(default_factory=dict)  # a policy's, as written
    search_path: str = ""  # PostgreSQL: the first schema a `SET search_path` of the file names
    pg_views: set[str] = field(default_factory=set)  # PostgreSQL: views made here, as it folds

    def made(self, name: str, pg: str = "") -> str:
        """``name``'s key in ``created`` (``pg``: the Op's ``pg_…`` of it): on PostgreSQL as
        PostgreSQL folds it, so CREATE TABLE "Kelas" does not make the live kelas new."""
        return fold(self.dialect, name, pg)


_OR_REPLACE = re.compile(r"\s*CREATE\s+OR\s+REPLACE\b", re.IGNORECASE)


_DROP_IF_EXISTS = re.compile(r"^DROP\s+TABLE\s+IF\s+EXISTS\b", re.IGNORECASE)


def _drops_nothing(s: MigrationState, st: Statement, name: str) -> bool | None:
    """For a ``DROP TABLE IF EXISTS`` of a table no earlier migration creates (the D1
    tutorial's and many a Supabase seed's first line): True when the live database has none
    either, False when it has one from before the migrations (seen from the files alone,
    that cannot be told). None for any other DROP TABLE."""
    if s.replay is not None:  # SQLite's dialect: the files replayed, on the live schema or not
        if not s.replay.drops_nothing(st, name):
            return None
        if s.replay.live:
            return True
    elif s.columns is None or not _DROP_IF_EXISTS.match(strip_comments(st.text)):
        return None
    elif s.columns.has_table(name):
        return None  # an earlier migration made it: a table with rows by now
    live = s.live_table(name) if s.live_table is not None else None
    return None if live else live is False


def _drop_table(s: MigrationState, st: Statement, op: Op, out: list[Finding]) -> None:
    for i, name in enumerate(op.names):
        k = key(name)
        made = s.made(name, op.pg_of(i))
        if made in s.created:
            s.created.pop(made)
            continue
        if k in s.rebuilt:
            if k in s.copied:
                continue
            why = (
                f"the rebuild of {name} drops the table without copying its rows into the new "
                f"one (no INSERT … SELECT … FROM {name} before the DROP): every row is lost"
            )
            out.append(finding("DROP-TABLE", s.file, st.line, why))
            continue
        gone = _drops_nothing(s, st, name)
        if gone is not None:
            if gone:
                continue  # the live database has no such table, nor does an earlier migration
            why = f"DROP TABLE IF EXISTS {name}: no earlier migration creates {name}, so it "
            why += "drops nothing in a database these migrations made (one from before them "
            why += "would lose it, with its rows)"
            out.append(finding("DROP-TABLE", s.file, st.line, why, severity="info"))
            continue
        covered = k in s.rollback.creates or k in s.copied
        why = f"DROP TABLE {name} destroys the table and its rows"
        if k in s.rollback.creates:
            why += "; the rollback re-creates the table, but the rows come back only from a backup"
        elif k in s.copied:
            why += "; the migration copies its rows aside first"
        out.append(
            finding("DROP-TABLE", s.file, st.line, why, severity="warning" if covered else None)
        )


def _inline_unique(s: MigrationState, st: Statement, op: Op, out: list[Finding]) -> None:
    """ADD COLUMN … UNIQUE / PRIMARY KEY (Django's AddField(unique=True)): SQLite refuses it
    whatever the table holds; PostgreSQL fails when a constant default gives two rows one
    value (NULLs, or a default computed per row, are distinct)."""
    for a in op.actions:
        if a.kind == "add_column" and adds_unique(a.definition):
            if s.dialect == "sqlite":
                why = f"SQLite refuses ADD COLUMN {op.name}.{a.column} UNIQUE or PRIMARY KEY "
                why += '("Cannot add a UNIQUE column"): the migration fails'
                out.append(finding("ADD-UNIQUE", s.file, st.line, why, severity="error"))
            elif s.made(op.name, op.pg_name) not in s.created and _CONSTANT_DEFAULT.search(
                a.definition
            ):
                why = f"{op.name}.{a.column} is added UNIQUE with a constant default to a table "
                why += "that holds rows: every row gets the same value, and the index fails"
                out.append(finding("ADD-UNIQUE", s.file, st.line, why))


def _alter_table(s: MigrationState, st: Statement, op: Op, out: list[Finding]) -> None:
    t = op.key
    _inline_unique(s, st, op, out)
    if s.dialect == "postgresql":
        s.not_null_checks.see(op)
    made = s.made(op.name, op.pg_name)
    if made in s.created:
        for a in op.actions:
            if a.kind == "rename_table":
                line = s.created.pop(made)
                if key(a.new) not in s.rebuilt:
                    s.created[s.made(a.new, a.pg_new)] = line
        return
    for a in op.actions:
        if a.kind == "add_column":
            s.added_columns[(t, key(a.column))] = st.line
            if not _FILLS_ROWS.search(a.definition):
                s.null_columns[(t, key(a.column))] = st.line
            if adds_not_null_without_default(a.definition, s.dialect):
                out.append(
                    finding(
                        "ADD-COLUMN-NOT-NULL",
                        s.file,
                        st.line,
                        f"{op.name}.{a.column} is added NOT NULL without a default",
                    )
                )
            elif s.dialect == "sqlite" and (refused := add_column_refusal(a.column, a.definition)):
                why = f"SQLite refuses ADD COLUMN {op.name}.{a.column} on a table with rows "
                why += f"({refused}): it runs on an empty table, a fresh or test database"
                out.append(finding("SQLITE-ADD-COLUMN-REFUSED", s.file, st.line, why))
        elif a.kind == "drop_column":
            if s.replay is not None and (refused := s.replay.drop_column_error(t, a.column)):
                why = f"SQLite refuses DROP COLUMN {op.name}.{a.column} ({refused}): the "
                why += "migration fails here"
                out.append(finding("SQLITE-DROP-COLUMN-REFUSED", s.file, st.line, why))
            back = s.rollback.restores_column(t, key(a.column))
            why = f"DROP COLUMN {op.name}.{a.column} destroys the column and its values"
            if back:
                why += "; the rollback re-adds it, but the values come back only from a backup"
            sev: Severity | None = "warning" if back else None
            out.append(finding("DROP-COLUMN", s.file, st.line, why, severity=sev))
        elif a.kind == "rename_table":
            if key(a.new) not in s.rebuilt:
                why = f"{op.name} is renamed to {a.new}"
                out.append(finding("RENAME-TABLE", s.file, st.line, why))
        elif a.kind == "rename_column":
            why = f"{op.name}.{a.column} is renamed to {a.new}"
            out.append(finding("RENAME-COLUMN", s.file, st.line, why))
        elif a.kind == "set_schema":  # the running app's queries of the old name fail too
            why = f"{op.name} moves to schema {a.new}"
            out.append(finding("RENAME-TABLE", s.file, st.line, why))
        elif a.kind == "alter_type":
            where = (op.pg_name or t, a.pg_column or key(a.column))  # (as PostgreSQL folds)
            old = s.columns.declared.get(where, "") if s.columns else ""
            if old and widens(old, a.column, a.definition):
                continue  # PostgreSQL neither rewrites nor scans: the old app's values fit
            why = f"the type of {op.name}.{a.column} changes"
            out.append(finding("COLUMN-TYPE-CHANGE", s.file, st.line, why))
        elif a.kind == "set_not_null":
            checked = (op.pg_name or t, a.pg_column or key(a.column))  # (as PostgreSQL folds)
            if checked in s.not_null_checks.proven:
                continue  # a validated CHECK (col IS NOT NULL) proves it without a scan
            if checked in s.not_null_checks.declared:
                continue  # NOT NULL already: PostgreSQL does nothing (measured: no scan)
            why = f"NOT NULL is added to {op.name}.{a.column}, which holds rows already"
            filled = s.nulls_filled.get((t, key(a.column)))
            if filled is not None:  # Rails' change_column_null with a default, Django's
                why = f"NOT NULL is added to {op.name}.{a.column}: the UPDATE at line {filled} "
                why += "fills its NULLs first, so no row fails, but the table is scanned "
                why += "under ACCESS EXCLUSIVE (every read and write waits)"
            sev = "warning" if filled is not None else None
            out.append(finding("SET-NOT-NULL", s.file, st.line, why, severity=sev))
            s.not_null_checks.declared.add(checked)  # a second one does nothing
        elif a.kind in ("add_unique", "add_pk"):
            why = f"a UNIQUE/PRIMARY KEY constraint is added to {op.name}, which holds rows"
            out.append(finding("ADD-UNIQUE", s.file, st.line, why))
        elif a.kind == "add_exclude":  # no CONCURRENTLY, no USING INDEX for one
            why = f"an EXCLUDE constraint is added to {op.name}, which holds rows: its index "
            why += "is built under ACCESS EXCLUSIVE (every read and write of the table waits "
            why += "until the migration commits), and it fails if two rows conflict"
            out.append(finding("ADD-UNIQUE", s.file, st.line, why))
        elif a.kind == "add_check" and not a.not_valid:
            why = f"a CHECK constraint is added to {op.name} and validated against its rows"
            out.append(finding("ADD-CHECK", s.file, st.line, why))
        if s.dialect == "postgresql":
            volatile = s.columns.volatile_functions if s.columns is not None else set()
            out.extend(pg_alter_action(s.file, st.line, op.name, a, volatile))


# What gives an added column a value in the rows a table holds (anything else leaves NULL).
_FILLS_ROWS = re.compile(
    r"\b(?:DEFAULT|GENERATED|AS|IDENTITY|SERIAL|BIGSERIAL|SMALLSERIAL|SERIAL[248]|NOT\s+NULL)\b",
    re.IGNORECASE,
)
_PLAIN_KEY = re.compile(r'^(?:"(?:[^"]|"")+"|`[^`]+`|\[[^\]]+\]|[\w$]+)(?:\s+(?:ASC|DESC))?$', re.I)
# A statement that may write rows of tables from before (a copy into a table made here does
# not: the rebuild's own copy is read by its column list).
_USING = re.compile(r"\bUSING\b", re.IGNORECASE)
_WRITES = ("UPDATE", "INSERT", "REPLACE", "WITH", "MERGE", "COPY", "DO", "CALL", "SELECT")


def _all_null_key(s: MigrationState, st: Statement, t: str) -> bool:
    """A unique index whose key has a column this migration added with no default, nothing
    written since (drizzle-kit's and Prisma's ``ADD `nisn` text`` then ``CREATE UNIQUE
    INDEX``): every row's key holds a NULL, and NULLs are distinct, so no row can fail it."""
    body = strip_comments(st.text)
    at = body.find("(", body.upper().find(" ON "))
    end = body.rfind(")")
    if at < 0 or end < at or re.search(r"\bNULLS\s+NOT\s+DISTINCT\b", body, re.IGNORECASE):
        return False
    parts = [p.strip() for p in split_top_level(body[at + 1 : end])]
    if not all(_PLAIN_KEY.match(p) for p in parts):
        return False  # an expression (coalesce(col, '')) may not be NULL
    cols = [key(p.split()[0]) for p in parts]
    return any(s.null_columns.get((t, c), 0) > s.last_write for c in cols)


def _create_index(s: MigrationState, st: Statement, op: Op, out: list[Finding]) -> None:
    t = key(op.table)
    if op.name:
        s.objects[("index", op.key)] = (st.line, op.table)
        body = strip_comments(st.text)
        at = body.find("(", body.upper().find(" ON "))
        s.index_columns[op.key] = {key(w) for w in _WORDS.findall(body[at:])} if at >= 0 else set()
    existing = s.made(op.table, op.pg_table) not in s.created and t not in s.rebuilt
    if not existing:
        return
    if op.unique and not _all_null_key(s, st, t):
        why = f"unique index {op.name or '(unnamed)'} on {op.table}, which holds rows already"
        f = finding("ADD-UNIQUE", s.file, st.line, why)
        if s.dialect == "postgresql" and op.concurrently:  # built the way the rule advises
            f = replace(f, instead=_UNIQUE_CONCURRENTLY)
        out.append(f)
    if s.dialect == "postgresql" and not op.concurrently:
        why = f"CREATE INDEX {op.name or ''} on {op.table} blocks writes while it builds"
        rows = s.table_rows(op.table) if s.table_rows is not None else None
        sev: Severity | None = None
        if rows is not None and rows < LARGE_TABLE_ROWS:
            why += f" (about {rows} rows live now: a short lock)"
            sev = "info"
        out.append(
            finding("PG-INDEX-NOT-CONCURRENT", s.file, st.line, " ".join(why.split()), severity=sev)
        )


def _delete_all(s: MigrationState, st: Statement, op: Op, out: list[Finding]) -> None:
    cascade = st.first_words.startswith("TRUNCATE") and op.value == "cascade"
    for i, name in enumerate(op.names):
        if s.made(name, op.pg_of(i)) in s.created:
            continue
        if s.dialect != "postgresql" and key(name).startswith("sqlite_"):
            continue  # SQLite's own tables (`.dump`'s DELETE FROM sqlite_sequence): no rows of ours
        if cascade:
            why = f"TRUNCATE … CASCADE empties {name} and every table referencing it (theirs too)"
        elif st.first_words.startswith("TRUNCATE"):
            why = f"TRUNCATE empties {name}"
        elif op.value:
            why = f"DELETE whose WHERE ({op.value}) holds for every row empties {name}"
        else:
            why = f"DELETE without WHERE empties {name}"
        sev: Severity | None = None
        if key(name) in s.copied and not cascade:  # the referencing tables' rows are not
            why, sev = why + "; the migration copies its rows aside first", "warning"
        out.append(finding("DELETE-ALL-ROWS", s.file, st.line, why, severity=sev))


# `SET [SESSION|LOCAL] search_path TO app, public`: where the file's unqualified CREATEs go
# ("$user" first: a schema named as the role, which no school has: the next one; DEFAULT and
# `RESET search_path`: the default, public). The string form (`TO 'app'`, `'$user', 'app'`)
# names the schema as written, like a quoted identifier.
_SEARCH_PATH = re.compile(
    r"^(?:SET\s+(?:SESSION\s+|LOCAL\s+)?search_path\s*(?:=|TO)\s*"
    r"(?:(?:\"\$user\"|'\$user')\s*,\s*)?(?:(?P<first>\"[^\"]+\"|[A-Za-z_][\w$]*)"
    r"|'(?P<literal>(?:[^']|'')+)'|'')|RESET\s+search_path\b)",
    re.IGNORECASE,
)


class _NewIndexes:
    """The indexes this migration created so far (a view of ``MigrationState.objects``)."""

    def __init__(self, objects: dict[tuple[str, str], tuple[int, str]]) -> None:
        self.objects = objects

    def __contains__(self, name: object) -> bool:
        return ("index", name) in self.objects


def _pg_locks(s: MigrationState, st: Statement, op: Op, out: list[Finding]) -> None:
    """PG-LOCK-TIMEOUT (once per migration) for a statement that waits for a lock the app's
    queries then queue behind; PG-DOMAIN-CONSTRAINT; the domains this migration creates."""
    if op.kind == "other" and st.first_words.startswith(("CREATE DOMAIN", "ALTER DOMAIN")):
        text = strip_comments(st.text)
        if (made := new_domain(text)) is not None:
            s.domains.add(made)
        elif (d := domain_constraint(text, s.domains)) is not None:
            used = sorted(s.columns.by_type.get(d[0], set())) if s.columns else []
            cols = ", ".join(f"{t}.{c}" for t, c in used) or "every column of it"
            why = f"ALTER DOMAIN {d[0]} {d[1]} checks {cols} at once, writes to their tables "
            why += "waiting until the migration commits"
            out.append(finding("PG-DOMAIN-CONSTRAINT", s.file, st.line, why))
    if op.kind == "other" and (policy := policy_of(st)) is not None:
        verb, name, table = policy  # a policy of its table: the rollback drops it, or the table
        if verb == "CREATE":
            s.objects[("policy", f"{table}.{name}")] = (st.line, table)
            s.labels[("policy", f"{table}.{name}")] = policy_label(st)
        elif s.objects.pop(("policy", f"{table}.{name}"), None) is None:
            s.had_before.add(("policy", f"{table}.{name}"))  # re-created: not new
    # This migration's tables and views: no user yet, nobody waits for their locks (pg_dump's
    # and `supabase db dump`'s `ALTER TABLE a_view OWNER TO …` after its CREATE VIEW).
    ours = {*s.created, *s.pg_views, *(k for kind, k in s.objects if kind == "view")}
    where = {
        name: s.schemas.get(("table", name), s.schemas.get(("view", name), "")) for name in ours
    }
    new = MadeHere(ours, where, strip_comments(st.text))
    if op.kind == "other" and st.first_words.startswith("REVOKE"):
        if (took := revoked(s.file, st, new)) is not None:
            out.append(took)
    elif op.kind == "alter_table" and (off := rls_disabled(s.file, st, op, s.created)):
        out.append(off)
    guarded = s.lock_timeout or (s.session_lock_timeout and not s.lock_off_line)
    if guarded or s.lock_flagged:
        return
    what = strong_lock(st, op, new, _NewIndexes(s.objects), s.domains)
    if what is None:
        return
    why = f"{what} runs with no lock_timeout set in the migration or target"
    if s.lock_reset:
        why = f"{what} runs with no lock_timeout: the {s.lock_reset} at line {s.lock_off_line} "
        why += "puts back the server's default (none unless the role or database sets one), "
        why += "not the target's, which the tool sets for its session"
    elif s.lock_off_line:
        why = f"{what} runs with no lock_timeout: the SET at line {s.lock_off_line} turns "
        why += "the target's off (lock_timeout = 0, as pg_dump's preamble writes it)"
    out.append(finding("PG-LOCK-TIMEOUT", s.file, st.line, why))
    s.lock_flagged = True


def statement_rules(s: MigrationState, st: Statement, op: Op, out: list[Finding]) -> None:
    copy = op.kind == "insert_select" and s.made(op.name, op.pg_name) in s.created  # made here
    # (ALTER … TYPE … USING writes every row too)
    using = any(a.kind == "alter_type" and _USING.search(a.definition) for a in op.actions)
    if (st.first_words.split(" ", 1)[0] in _WRITES and not copy) or using:
        s.last_write = st.line
    if s.dialect == "postgresql":
        _pg_locks(s, st, op, out)
    if s.dialect == "sqlite" and (refused := concurrently_refusal(op)):
        out.append(finding("SQLITE-CONCURRENTLY", s.file, st.line, refused))
    if s.dialect == "sqlite" and (refused := alter_refusal(op)):
        out.append(finding("SQLITE-ALTER-UNSUPPORTED", s.file, st.line, refused))
    alter = s.dialect == "postgresql" and op.kind == "other" and st.first_words[:5] == "ALTER"
    if alter and (renamed := renamed_object(s.file, st.line, strip_comments(st.text), s.objects)):
        out.append(renamed)
    if s.dialect == "postgresql" and (m := _SEARCH_PATH.match(st.text.strip())):
        first = key(m["first"]) if m["first"] else ""
        if m["literal"]:
            first = key('"' + m["literal"].replace("''", "'").replace('"', '""') + '"')
        s.search_path = "" if first in ("default", '"$user"', "$user") else first
    if op.kind.startswith("create_") and (op.schema or s.search_path):
        made = s.made(op.name, op.pg_name) if op.kind == "create_table" else op.key
        s.schemas[(op.kind[7:], made)] = op.schema or s.search_path
    if op.kind in ("create_table", "drop_table") and s.dialect == "postgresql":
        s.not_null_checks.see(op)
    if op.kind == "create_table":
        s.created[s.made(op.name, op.pg_name)] = st.line
        if op.source:
            s.copied.add(key(op.source))
    elif op.kind == "insert_select":
        s.copied.add(key(op.table))
        s.filled[op.key] = {key(c) for c in op.names} if op.names else None
        # Without a column list, the values go to the new table's columns in order (sqlite.org's
        # "INSERT INTO new_X SELECT … FROM X"): Django's coalesce is read the same way.
        names = op.names or (s.replay.insert_columns(op.name) if s.replay is not None else ())
        s.coalesced[op.key] = coalesced_columns(st.text, names)
    elif op.kind == "set_lock_timeout":
        s.lock_timeout = op.value == ""
        s.lock_off_line = st.line if op.value else 0
        reset = "RESET" if st.first_words.startswith("RESET") else "SET … TO DEFAULT"
        s.lock_reset = reset if op.value == "default" else ""
    elif op.kind == "drop_table":
        _drop_table(s, st, op, out)
    elif op.kind == "delete_all":
        _delete_all(s, st, op, out)
    elif op.kind == "alter_table":
        _alter_table(s, st, op, out)
    elif op.kind == "create_index":
        _create_index(s, st, op, out)
    elif op.kind.startswith("create_"):
        s.objects[(op.kind[7:], op.key)] = (st.line, op.table)
        if _OR_REPLACE.match(st.text):
            s.replaced.add((op.kind[7:], op.key))
        if op.kind == "create_view" and op.pg_name and s.dialect == "postgresql":
            s.pg_views.add(op.pg_name)
    elif op.kind in ("other", "update_all") and st.first_words[:6] == "UPDATE":
        table, columns = nulls_filled(st.text)  # (not every INSERT of a seed read)
        for column in columns:
            s.nulls_filled[(table, column)] = st.line
    elif op.kind == "sequence_owned" and ("sequence", op.key) in s.objects:
        where = s.objects[("sequence", op.key)][0]
        s.objects[("sequence", op.key)] = (where, op.table)  # it goes with its table
    elif op.kind == "rename_type":  # Prisma's enum swap: Role → Role_old, Role_new → Role
        line = s.objects.pop(("type", op.key), None)
        if line is None:
            s.had_before.add(("type", op.key))
        elif ("type", key(op.value)) not in s.had_before:
            s.objects[("type", key(op.value))] = line
    elif op.kind.startswith("drop_"):
        for n in op.names:
            if s.objects.pop((op.kind[5:], key(n)), None) is None:
                s.had_before.add((op.kind[5:], key(n)))  # re-created later: not new
                if op.value != "cascade" or op.kind == "drop_view":  # (else PG-DROP-CASCADE)
                    s.dropped_objects.setdefault((op.kind[5:], key(n)), (st.line, n))


def rollback_rules(s: MigrationState, m: Migration, first_line: int, out: list[Finding]) -> None:
    rb = s.rollback
    if not rb.exists:
        why = f"{m.filename} has no rollback file (one named {m.version}_….sql)"
        out.append(finding("NO-ROLLBACK", s.file, first_line, why))
        return
    rb_name = m.rollback.filename if m.rollback else ""
    gone = rb.drops.get("schema", set())  # DROP SCHEMA (… CASCADE) takes what is in it
    # (this migration's tables named, on PostgreSQL, as PostgreSQL folds them: the rollback's
    # DROP TABLE kelas does not drop "Kelas")
    with_schema = {t for t in s.created if s.schemas.get(("table", t), "") in gone}
    dropped_tables = rb.drops.get("table", set()) | {key(t) for t in with_schema}
    own = rb.pg_tables if s.dialect == "postgresql" else dropped_tables
    for t, line in s.created.items():
        if t not in own and t not in with_schema:
            why = f"{rb_name} does not drop table {t}, which {m.filename} creates"
            out.append(finding("ROLLBACK-LEAVES-OBJECTS", s.file, line, why))
    made = {key(t) for t in s.created}
    for (kind, name), (line, table) in s.objects.items():
        tk = key(table)
        if name in rb.drops.get(kind, set()) or (kind, name) in s.had_before:
            continue  # dropped by the rollback, or a rebuilt table's own object re-created
        if s.schemas.get((kind, name), "") in gone:
            continue  # its schema is dropped
        if (kind, name) in s.replaced and (kind, name) in rb.recreates:
            continue  # CREATE OR REPLACE of one from before: the rollback puts that one back
        if table and (tk in made or tk in dropped_tables):
            continue  # goes with its table
        used = s.index_columns.get(name, set()) if kind == "index" else set()
        if s.dialect == "postgresql" and any((tk, c) in rb.dropped_columns for c in used):
            continue  # PostgreSQL's DROP COLUMN drops the indexes that use the column
        label = s.labels.get((kind, name), name[len(tk) + 1 :])
        what = f"{kind} {name}" if kind != "policy" else f"policy {label} on {tk}"
        why = f"{rb_name} does not drop {what}, which {m.filename} creates"
        out.append(finding("ROLLBACK-LEAVES-OBJECTS", s.file, line, why))
    for (t, col), line in s.added_columns.items():
        if (t, col) in rb.dropped_columns or t in dropped_tables or t in rb.creates:
            continue
        why = f"{rb_name} does not drop column {t}.{col}, which {m.filename} adds"
        out.append(finding("ROLLBACK-LEAVES-OBJECTS", s.file, line, why))
