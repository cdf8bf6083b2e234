"""The lint's runner: every rule over the selected migrations, ``lint:ignore`` applied."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

from malnu_tui.engine.backends.sqlite_sql import foreign_keys_off_line
from malnu_tui.engine.concurrently import ConcurrentRefusal, classify
from malnu_tui.engine.errors import MalnuError
from malnu_tui.engine.files import Migration, MigrationSet
from malnu_tui.engine.filestatements import FileStatements, lacks_verb
from malnu_tui.engine.lint.cte import cte_statements
from malnu_tui.engine.lint.d1 import D1State, RowProbe, d1_end, d1_statement, d1_template
from malnu_tui.engine.lint.ignores import apply_ignores
from malnu_tui.engine.lint.model import (
    LARGE_TABLE_ROWS,
    SEVERITY_ORDER,
    Finding,
    LintReport,
    Severity,
)
from malnu_tui.engine.lint.ops import (
    Op,
    adds_not_null_without_default,
    adds_unique,
    key,
    read_ops,
    strip_comments,
)
from malnu_tui.engine.lint.pg import NotNullChecks, pg_alter_action, widens
from malnu_tui.engine.lint.pg_do import do_statements
from malnu_tui.engine.lint.pg_drop import PgDrops
from malnu_tui.engine.lint.pg_enum import DeclaredColumns, NewEnumValues
from malnu_tui.engine.lint.pg_rls import RowSecurity
from malnu_tui.engine.lint.rebuild import (
    RebuildFacts,
    coalesced_columns,
    left_dangling,
    legacy_alter_table,
    rebuild_findings,
    renames_refused,
    views_in_the_way,
)
from malnu_tui.engine.lint.replay import Replay, TableShape
from malnu_tui.engine.lint.rollback import RollbackFile, read_rollback
from malnu_tui.engine.lint.rules import RULES
from malnu_tui.engine.lint.sqlite_rules import add_column_refusal
from malnu_tui.engine.lint.transaction import OneTransaction
from malnu_tui.engine.sqlsplit import Statement

__all__ = ["LARGE_TABLE_ROWS", "Dialect", "lint_migrations"]

Dialect = Literal["sqlite", "postgresql"]
TableRows = Callable[[str], "int | None"]  # live rows of a table (None: unknown)
_WORDS = re.compile(r'"(?:[^"]|"")+"|`[^`]+`|\[[^\]]+\]|[A-Za-z_][\w$]*')
_CONSTANT_DEFAULT = re.compile(r"\bDEFAULT\s+(?:'|[-+]?\d|TRUE\b|FALSE\b)", re.IGNORECASE)


def _f(
    rule_id: str, file: str, line: int, why: str, *, severity: Severity | None = None
) -> Finding:
    r = RULES[rule_id]
    return Finding(rule_id, severity or r.severity, file, line, why, r.instead)


@dataclass
class _State:
    """One migration's running state for the rules."""

    file: str
    dialect: Dialect
    rollback: RollbackFile
    rebuilt: set[str]
    session_lock_timeout: bool
    table_rows: TableRows | None = None
    not_null_checks: NotNullChecks = field(default_factory=NotNullChecks)
    columns: DeclaredColumns | None = None  # PostgreSQL: each column's declared type
    created: dict[str, int] = field(default_factory=dict)  # table → line
    objects: dict[tuple[str, str], tuple[int, str]] = field(default_factory=dict)
    index_columns: dict[str, set[str]] = field(default_factory=dict)  # index → names it uses
    added_columns: dict[tuple[str, str], int] = field(default_factory=dict)
    copied: set[str] = field(default_factory=set)
    lock_timeout: bool = False
    lock_flagged: bool = False
    before_rebuild: dict[str, TableShape] = field(default_factory=dict)
    rebuild_line: dict[str, int] = field(default_factory=dict)
    had_before: set[tuple[str, str]] = field(default_factory=set)  # dropped, then re-created
    filled: dict[str, set[str] | None] = field(default_factory=dict)  # INSERT … SELECT's columns
    coalesced: dict[str, set[str]] = field(default_factory=dict)  # … filled never NULL
    replay: Replay | None = None  # SQLite: the schema before each statement


def _with_ops(statements: Iterable[Statement]) -> Iterator[tuple[Statement, Op]]:
    for st in statements:
        yield st, read_ops(st)


def _rebuilt_tables(ops: Iterable[Op]) -> set[str]:
    """Tables dropped and then replaced by a renamed table (SQLite's rebuild idiom)."""
    dropped: set[str] = set()
    rebuilt: set[str] = set()
    for op in ops:
        if op.kind == "drop_table":
            dropped.update(key(n) for n in op.names)
        elif op.kind == "alter_table":
            for a in op.actions:
                if a.kind == "rename_table" and key(a.new) in dropped:
                    rebuilt.add(key(a.new))
    return rebuilt


def _drop_table(s: _State, st: Statement, op: Op, out: list[Finding]) -> None:
    for name in op.names:
        k = key(name)
        if k in s.created:
            s.created.pop(k)
            continue
        if k in s.rebuilt:
            if k in s.copied:
                continue
            why = (
                f"the rebuild of {name} drops the table without copying its rows into the new "
                f"one (no INSERT … SELECT … FROM {name} before the DROP): every row is lost"
            )
            out.append(_f("DROP-TABLE", s.file, st.line, why))
            continue
        if s.replay is not None and s.replay.drops_nothing(st, name):
            if s.replay.live:
                continue  # the live database has no such table, nor does an earlier migration
            why = f"DROP TABLE IF EXISTS {name}: no earlier migration creates {name}, so it "
            why += "drops nothing in a database these migrations made (one from before them "
            why += "would lose it, with its rows)"
            out.append(_f("DROP-TABLE", s.file, st.line, why, severity="info"))
            continue
        covered = k in s.rollback.creates or k in s.copied
        why = f"DROP TABLE {name} destroys the table and its rows"
        if k in s.rollback.creates:
            why += "; the rollback re-creates the table, but the rows come back only from a backup"
        elif k in s.copied:
            why += "; the migration copies its rows aside first"
        out.append(_f("DROP-TABLE", s.file, st.line, why, severity="warning" if covered else None))


def _inline_unique(s: _State, st: Statement, op: Op, out: list[Finding]) -> None:
    """ADD COLUMN … UNIQUE / PRIMARY KEY (Django's AddField(unique=True)): SQLite refuses it
    whatever the table holds; PostgreSQL fails when a constant default gives two rows one
    value (NULLs, or a default computed per row, are distinct)."""
    for a in op.actions:
        if a.kind == "add_column" and adds_unique(a.definition):
            if s.dialect == "sqlite":
                why = f"SQLite refuses ADD COLUMN {op.name}.{a.column} UNIQUE or PRIMARY KEY "
                why += '("Cannot add a UNIQUE column"): the migration fails'
                out.append(_f("ADD-UNIQUE", s.file, st.line, why, severity="error"))
            elif op.key not in s.created and _CONSTANT_DEFAULT.search(a.definition):
                why = f"{op.name}.{a.column} is added UNIQUE with a constant default to a table "
                why += "that holds rows: every row gets the same value, and the index fails"
                out.append(_f("ADD-UNIQUE", s.file, st.line, why))


def _alter_table(s: _State, st: Statement, op: Op, out: list[Finding]) -> None:
    t = op.key
    _inline_unique(s, st, op, out)
    if s.dialect == "postgresql":
        s.not_null_checks.see(op)
    if t in s.created:
        for a in op.actions:
            if a.kind == "rename_table":
                line = s.created.pop(t)
                if key(a.new) not in s.rebuilt:
                    s.created[key(a.new)] = line
        return
    unguarded = not (s.lock_timeout or s.session_lock_timeout or s.lock_flagged)
    if s.dialect == "postgresql" and unguarded:
        why = f"ALTER TABLE {op.name} runs with no lock_timeout set in the migration or target"
        out.append(_f("PG-LOCK-TIMEOUT", s.file, st.line, why))
        s.lock_flagged = True
    for a in op.actions:
        if a.kind == "add_column":
            s.added_columns[(t, key(a.column))] = st.line
            if adds_not_null_without_default(a.definition):
                out.append(
                    _f(
                        "ADD-COLUMN-NOT-NULL",
                        s.file,
                        st.line,
                        f"{op.name}.{a.column} is added NOT NULL without a default",
                    )
                )
            elif s.dialect == "sqlite" and (refused := add_column_refusal(a.column, a.definition)):
                why = f"SQLite refuses ADD COLUMN {op.name}.{a.column} on a table with rows "
                why += f"({refused}): it runs on an empty table, a fresh or test database"
                out.append(_f("SQLITE-ADD-COLUMN-REFUSED", s.file, st.line, why))
        elif a.kind == "drop_column":
            if s.replay is not None and (refused := s.replay.drop_column_error(t, a.column)):
                why = f"SQLite refuses DROP COLUMN {op.name}.{a.column} ({refused}): the "
                why += "migration fails here"
                out.append(_f("SQLITE-DROP-COLUMN-REFUSED", s.file, st.line, why))
            back = s.rollback.restores_column(t, key(a.column))
            why = f"DROP COLUMN {op.name}.{a.column} destroys the column and its values"
            if back:
                why += "; the rollback re-adds it, but the values come back only from a backup"
            sev: Severity | None = "warning" if back else None
            out.append(_f("DROP-COLUMN", s.file, st.line, why, severity=sev))
        elif a.kind == "rename_table":
            if key(a.new) not in s.rebuilt:
                why = f"{op.name} is renamed to {a.new}"
                out.append(_f("RENAME-TABLE", s.file, st.line, why))
        elif a.kind == "rename_column":
            why = f"{op.name}.{a.column} is renamed to {a.new}"
            out.append(_f("RENAME-COLUMN", s.file, st.line, why))
        elif a.kind == "set_schema":  # the running app's queries of the old name fail too
            why = f"{op.name} moves to schema {a.new}"
            out.append(_f("RENAME-TABLE", s.file, st.line, why))
        elif a.kind == "alter_type":
            old = s.columns.declared.get((t, key(a.column)), "") if s.columns else ""
            if old and widens(old, a.column, a.definition):
                continue  # PostgreSQL neither rewrites nor scans: the old app's values fit
            why = f"the type of {op.name}.{a.column} changes"
            out.append(_f("COLUMN-TYPE-CHANGE", s.file, st.line, why))
        elif a.kind == "set_not_null":
            if (t, key(a.column)) in s.not_null_checks.proven:
                continue  # a validated CHECK (col IS NOT NULL) proves it without a scan
            why = f"NOT NULL is added to {op.name}.{a.column}, which holds rows already"
            out.append(_f("SET-NOT-NULL", s.file, st.line, why))
        elif a.kind in ("add_unique", "add_pk"):
            why = f"a UNIQUE/PRIMARY KEY constraint is added to {op.name}, which holds rows"
            out.append(_f("ADD-UNIQUE", s.file, st.line, why))
        elif a.kind == "add_check" and not a.not_valid:
            why = f"a CHECK constraint is added to {op.name} and validated against its rows"
            out.append(_f("ADD-CHECK", s.file, st.line, why))
        if s.dialect == "postgresql":
            out.extend(pg_alter_action(s.file, st.line, op.name, a))


def _create_index(s: _State, st: Statement, op: Op, out: list[Finding]) -> None:
    t = key(op.table)
    if op.name:
        s.objects[("index", op.key)] = (st.line, op.table)
        body = strip_comments(st.text)
        at = body.find("(", body.upper().find(" ON "))
        s.index_columns[op.key] = {key(w) for w in _WORDS.findall(body[at:])} if at >= 0 else set()
    existing = t not in s.created and t not in s.rebuilt
    if not existing:
        return
    if op.unique:
        why = f"unique index {op.name or '(unnamed)'} on {op.table}, which holds rows already"
        out.append(_f("ADD-UNIQUE", s.file, st.line, why))
    if s.dialect == "postgresql" and not op.concurrently:
        why = f"CREATE INDEX {op.name or ''} on {op.table} blocks writes while it builds"
        rows = s.table_rows(op.table) if s.table_rows is not None else None
        sev: Severity | None = None
        if rows is not None and rows < LARGE_TABLE_ROWS:
            why += f" (about {rows} rows live now: a short lock)"
            sev = "info"
        out.append(
            _f("PG-INDEX-NOT-CONCURRENT", s.file, st.line, " ".join(why.split()), severity=sev)
        )


def _delete_all(s: _State, st: Statement, op: Op, out: list[Finding]) -> None:
    cascade = st.first_words.startswith("TRUNCATE") and op.value == "cascade"
    for name in op.names:
        if key(name) in s.created:
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
        out.append(_f("DELETE-ALL-ROWS", s.file, st.line, why, severity=sev))


def _statement_rules(s: _State, st: Statement, op: Op, out: list[Finding]) -> None:
    if op.kind == "create_table":
        s.created[op.key] = st.line
        if op.source:
            s.copied.add(key(op.source))
    elif op.kind == "insert_select":
        s.copied.add(key(op.table))
        s.filled[op.key] = {key(c) for c in op.names} if op.names else None
        s.coalesced[op.key] = coalesced_columns(st.text, op.names)
    elif op.kind == "set_lock_timeout":
        s.lock_timeout = True
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


def _rollback_rules(s: _State, m: Migration, first_line: int, out: list[Finding]) -> None:
    rb = s.rollback
    if not rb.exists:
        why = f"{m.filename} has no rollback file (one named {m.version}_….sql)"
        out.append(_f("NO-ROLLBACK", s.file, first_line, why))
        return
    rb_name = m.rollback.filename if m.rollback else ""
    dropped_tables = rb.drops.get("table", set())
    for t, line in s.created.items():
        if t not in dropped_tables:
            why = f"{rb_name} does not drop table {t}, which {m.filename} creates"
            out.append(_f("ROLLBACK-LEAVES-OBJECTS", s.file, line, why))
    for (kind, name), (line, table) in s.objects.items():
        tk = key(table)
        if name in rb.drops.get(kind, set()) or (kind, name) in s.had_before:
            continue  # dropped by the rollback, or a rebuilt table's own object re-created
        if table and (tk in s.created or tk in dropped_tables):
            continue  # goes with its table
        used = s.index_columns.get(name, set()) if kind == "index" else set()
        if s.dialect == "postgresql" and any((tk, c) in rb.dropped_columns for c in used):
            continue  # PostgreSQL's DROP COLUMN drops the indexes that use the column
        why = f"{rb_name} does not drop {kind} {name}, which {m.filename} creates"
        out.append(_f("ROLLBACK-LEAVES-OBJECTS", s.file, line, why))
    for (t, col), line in s.added_columns.items():
        if (t, col) in rb.dropped_columns or t in dropped_tables or t in rb.creates:
            continue
        why = f"{rb_name} does not drop column {t}.{col}, which {m.filename} adds"
        out.append(_f("ROLLBACK-LEAVES-OBJECTS", s.file, line, why))


def _inner_statements(
    file: str, st: Statement, op: Op, dialect: Dialect, out: list[Finding]
) -> list[Statement]:
    """The statements inside a PostgreSQL DO block or a WITH (its CTEs and main statement)."""
    if op.kind == "with":
        return cte_statements(st)
    if op.kind != "do" or dialect != "postgresql":
        return []
    inner = do_statements(file, st, out)
    return [x for s in inner for x in (cte_statements(s) if read_ops(s).kind == "with" else [s])]


def _rebuild_with_fk_on(s: _State, st: Statement, op: Op, replay: Replay) -> list[Finding]:
    out: list[Finding] = []
    for n in op.names:
        children = replay.foreign_keys_to(n) if key(n) in s.rebuilt else []
        if children:
            effects = {"CASCADE": "its rows are deleted", "SET NULL": "its rows are unlinked",
                       "SET DEFAULT": "its rows are unlinked"}  # fmt: skip
            names = "; ".join(
                f"{c}({col}) ON DELETE {a}: "
                + effects.get(a, "the migration fails once it holds rows")
                for c, col, a in children
            )
            why = (
                f"the rebuild drops {n} with foreign keys on (no PRAGMA foreign_keys = OFF in "
                f"the file), so its implicit DELETE reaches the tables that reference it: {names}"
            )
            out.append(_f("SQLITE-REBUILD-FOREIGN-KEYS-ON", s.file, st.line, why))
    return out


def _lint_one(
    m: Migration,
    dialect: Dialect,
    replay: Replay | None,
    d1: D1State | None,
    session_lock_timeout: bool,
    notes: list[str],
    table_rows: TableRows | None = None,
    not_null_checks: NotNullChecks | None = None,
    enum_columns: DeclaredColumns | None = None,
    rls: RowSecurity | None = None,
) -> list[Finding]:
    findings: list[Finding] = []
    try:
        statements = m.statements()
        text = None if isinstance(statements, FileStatements) else m.read_text()
    except MalnuError as exc:
        return [_f("FILE-UNREADABLE", m.filename, getattr(exc, "line", None) or 1, str(exc))]
    # A large file's statements are read again at each walk, and what is kept of each is
    # only its findings: its ops are read in one walk for the rebuilt tables, again in the next.
    ops = None if isinstance(statements, FileStatements) else [read_ops(st) for st in statements]
    if ops is None and lacks_verb(statements, "DROP", "ALTER"):
        rebuilt: set[str] = set()  # (a seed of INSERTs: known without a walk)
    else:
        rebuilt = _rebuilt_tables(ops if ops is not None else map(read_ops, statements))
    rollback = read_rollback(m, findings)
    s = _State(m.filename, dialect, rollback, rebuilt, session_lock_timeout, table_rows)
    s.replay = replay
    if not_null_checks is not None:
        s.not_null_checks = not_null_checks
    s.columns = enum_columns
    enums = NewEnumValues(m.filename, enum_columns) if enum_columns is not None else None
    tx = OneTransaction(m.filename, dialect, s.created, table_rows, enums=enums)
    drops = PgDrops(m.filename, enum_columns.by_type) if enum_columns is not None else None
    do_lines: dict[int, int] = {}  # a line inside a DO block or WITH → the statement's line
    legacy_rename = False  # PRAGMA legacy_alter_table=ON: a RENAME does not check views
    dropped: dict[tuple[str, str], tuple[str, int]] = {}  # what a DROP TABLE left naming it
    if d1 is not None:
        findings.extend(d1_template(m))
    if dialect == "postgresql":
        refused = classify(statements)  # what `up` refuses (engine/concurrently.py)
        tx.outside = refused is not None and not isinstance(refused, ConcurrentRefusal)
        if isinstance(refused, ConcurrentRefusal):
            findings.append(_f("PG-CONCURRENTLY-IN-TRANSACTION", m.filename, refused.line,
                               refused.why))  # fmt: skip
    # A SQLite file runs a rebuild with foreign keys on unless the file turns them off (D1,
    # which ignores the pragma, has its own rules for the drop).
    fk_on = dialect == "sqlite" and d1 is None and foreign_keys_off_line(statements) is None
    pairs = zip(statements, ops, strict=True) if ops is not None else _with_ops(statements)
    for st, op in pairs:
        if replay is not None:
            if d1 is not None:
                findings.extend(d1_statement(m.filename, st, op, replay, d1, notes))
            if op.kind == "drop_table" and fk_on:
                findings.extend(_rebuild_with_fk_on(s, st, op, replay))
            if op.kind == "drop_table":
                for n in op.names:
                    shape = replay.shape(n) if key(n) in s.rebuilt else None
                    if shape is not None:
                        s.before_rebuild[key(n)] = shape
                        s.had_before.update(replay.owned_by(n))
        if replay is not None and op.kind == "drop_table":
            for n in op.names:
                if key(n) not in s.rebuilt:
                    dropped.update({w: (key(n), st.line) for w in replay.naming(n)})
        if replay is not None and op.kind == "alter_table" and not legacy_rename:
            kinds = {a.kind for a in op.actions}
            if kinds & {"rename_table", "rename_column"}:
                renamed = next((a.new for a in op.actions if a.kind == "rename_table"), op.name)
                findings.extend(renames_refused(m.filename, st.line, key(renamed), replay))
        if op.kind == "alter_table":
            for a in op.actions:
                if a.kind == "rename_table" and key(a.new) in s.rebuilt:
                    s.rebuild_line[key(a.new)] = s.created.get(op.key, st.line)
                    if op.key in s.filled:
                        s.filled[key(a.new)] = s.filled.pop(op.key)
                        s.coalesced[key(a.new)] = s.coalesced.pop(op.key, set())
                    if replay is not None and not legacy_rename:
                        findings.extend(views_in_the_way(m.filename, st.line, a.new, replay))
        elif op.kind == "pragma" and (on := legacy_alter_table(op.name, op.value)) is not None:
            legacy_rename = on
        _statement_rules(s, st, op, findings)
        tx.see(st, op, findings)
        if drops is not None:
            drops.see(st, op, findings)
        if rls is not None:
            rls.see(st, op, s.created)
        for inner in _inner_statements(m.filename, st, op, dialect, findings):
            inner_op = read_ops(inner)
            if rls is not None:
                rls.see(inner, inner_op, s.created)
            _statement_rules(s, inner, inner_op, findings)
            tx.see(inner, inner_op, findings)
            if drops is not None:
                drops.see(inner, inner_op, findings)
            do_lines[inner.line] = st.line
        if replay is not None:
            replay.run(st, op)
    if replay is not None:
        findings.extend(left_dangling(m.filename, dropped, replay))
        if d1 is not None:
            findings.extend(d1_end(m.filename, d1, notes))
        restores = s.rollback.restores_column
        facts = RebuildFacts(
            s.file, s.before_rebuild, s.rebuild_line, restores, s.filled, s.coalesced
        )
        findings.extend(rebuild_findings(facts, replay))
    if statements:  # a comment-only migration is a no-op: nothing to undo
        _rollback_rules(s, m, statements[0].line, findings)
    if rls is not None:
        findings.extend(rls.end(m.filename))
    pieces = m.text_pieces if text is None else lambda: (text,)
    findings = apply_ignores(findings, pieces, m.filename, do_lines)
    findings.sort(key=lambda f: (f.line, SEVERITY_ORDER[f.severity], f.rule))
    return findings


def lint_migrations(
    mset: MigrationSet,
    only: Iterable[str] | None = None,
    *,
    dialect: Dialect = "sqlite",
    d1: bool = False,
    base_schema: Sequence[str] = (),
    probe: RowProbe | None = None,
    session_lock_timeout: bool = False,
    notes: Sequence[str] = (),
    table_rows: TableRows | None = None,
    live: bool = False,
) -> LintReport:
    """Lint the migrations of ``mset`` named in ``only`` (filenames; default all).

    SQLite-dialect files are replayed in version order into a scratch in-memory schema (from
    ``base_schema``, the live database's CREATE statements, when given: then only ``only``
    is replayed). ``d1`` adds D1's rule set; ``probe`` answers whether a child table has rows
    (the live database), for D1's RESTRICT rule. ``session_lock_timeout``: the target sets a
    lock_timeout on its sessions (PostgreSQL), which satisfies PG-LOCK-TIMEOUT. ``table_rows``
    (a live PostgreSQL database) makes a plain CREATE INDEX on a small table a note. ``live``:
    ``base_schema`` was read from the live database (a table not in it is not there).
    """
    wanted = set(only) if only is not None else None
    replay = Replay(base_schema, live=live) if dialect == "sqlite" else None
    checks = NotNullChecks() if dialect == "postgresql" else None
    enum_columns = DeclaredColumns() if dialect == "postgresql" else None
    rls = RowSecurity() if dialect == "postgresql" else None
    found: list[Finding] = []
    checked: list[str] = []
    out_notes = list(notes)
    try:
        for m in mset.migrations:
            selected = wanted is None or m.filename in wanted
            if not selected:
                if replay is not None and not base_schema:
                    try:
                        for st in m.statements():
                            replay.run(st)
                    except MalnuError:
                        pass
                if checks is not None and enum_columns is not None and rls is not None:
                    with contextlib.suppress(MalnuError):
                        for st in m.statements():
                            op = read_ops(st)
                            checks.see(op)
                            enum_columns.see(op)
                            rls.see(st, op, set())
                    rls.end(m.filename)  # judged when it was linted
                continue
            checked.append(m.filename)
            d1_state = D1State(probe) if d1 else None
            found.extend(
                _lint_one(
                    m,
                    dialect,
                    replay,
                    d1_state,
                    session_lock_timeout,
                    out_notes,
                    table_rows,
                    checks,
                    enum_columns,
                    rls,
                )
            )
    finally:
        if replay is not None:
            replay.close()
    sets = ("general", "postgresql" if dialect == "postgresql" else "sqlite") + (
        ("d1",) if d1 else ()
    )
    return LintReport(dialect, tuple(checked), tuple(found), tuple(out_notes), sets)
