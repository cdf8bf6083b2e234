"""The lint's runner: every rule over the selected migrations, ``lint:ignore`` applied."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Iterator, Sequence

from malnu_tui.engine.backends.sqlite_sql import foreign_keys_off_line
from malnu_tui.engine.concurrently import ConcurrentRefusal, classify
from malnu_tui.engine.errors import MalnuError
from malnu_tui.engine.files import Migration, MigrationSet
from malnu_tui.engine.filestatements import FileStatements, lacks_verb
from malnu_tui.engine.lint.app_access import dropped_for_good
from malnu_tui.engine.lint.cte import cte_statements
from malnu_tui.engine.lint.d1 import D1State, RowProbe, d1_end, d1_statement, d1_template
from malnu_tui.engine.lint.general import (
    Dialect,
    LiveTable,
    MigrationState,
    TableRows,
    finding,
    rollback_rules,
    statement_rules,
)
from malnu_tui.engine.lint.ignores import apply_ignores
from malnu_tui.engine.lint.model import LARGE_TABLE_ROWS, SEVERITY_ORDER, Finding, LintReport
from malnu_tui.engine.lint.moved_keys import KeysTo, RenamedAway
from malnu_tui.engine.lint.ops import Op, key, read_ops
from malnu_tui.engine.lint.pg import NotNullChecks
from malnu_tui.engine.lint.pg_do import do_statements
from malnu_tui.engine.lint.pg_drop import PgDrops
from malnu_tui.engine.lint.pg_enum import DeclaredColumns, NewEnumValues
from malnu_tui.engine.lint.pg_moved_keys import LiveChildren, PgReferences
from malnu_tui.engine.lint.pg_publication import LivePublications, Publications
from malnu_tui.engine.lint.pg_rls import RowSecurity
from malnu_tui.engine.lint.pg_sequence import SequenceFills, SequenceRun
from malnu_tui.engine.lint.rebuild import (
    RebuildFacts,
    left_dangling,
    legacy_alter_table,
    rebuild_findings,
    rebuilt_tables,
    renames_refused,
    views_in_the_way,
)
from malnu_tui.engine.lint.replay import Replay
from malnu_tui.engine.lint.rollback import read_rollback
from malnu_tui.engine.lint.rollback_data import Relaxed
from malnu_tui.engine.lint.rollback_lint import rollback_findings
from malnu_tui.engine.lint.shapes import LiveShape, Shape, Shapes, view_shape
from malnu_tui.engine.lint.supabase import Exposure, LiveTableInfo, Supabase
from malnu_tui.engine.lint.transaction import LiveStorage, OneTransaction
from malnu_tui.engine.sqlsplit import Statement

__all__ = ["LARGE_TABLE_ROWS", "Dialect", "lint_migrations"]


def _with_ops(statements: Iterable[Statement]) -> Iterator[tuple[Statement, Op]]:
    for st in statements:
        yield st, read_ops(st)


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


def _rebuild_with_fk_on(s: MigrationState, st: Statement, op: Op, replay: Replay) -> list[Finding]:
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
            out.append(finding("SQLITE-REBUILD-FOREIGN-KEYS-ON", s.file, st.line, why))
    return out


def _replayed_view(replay: Replay) -> LiveShape:
    """A view's columns as the replay has its CREATE VIEW (SQLite has no functions)."""

    def shape(kind: str, name: str) -> Shape | None:
        read = view_shape(replay.views.get(key(name), "")) if kind == "view" else None
        return read[1] if read else None

    return shape


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
    live_table: LiveTable | None = None,
    exposure: Exposure | None = None,
    shapes: Shapes | None = None,
    away: RenamedAway | None = None,
    storage: LiveStorage | None = None,
    pg_refs: PgReferences | None = None,
    seq_run: SequenceRun | None = None,
    pubs: Publications | None = None,
) -> list[Finding]:
    findings: list[Finding] = []
    shapes = shapes or Shapes()
    shapes.begin()
    try:
        statements = m.statements()
        text = None if isinstance(statements, FileStatements) else m.read_text()
    except MalnuError as exc:
        return [finding("FILE-UNREADABLE", m.filename, getattr(exc, "line", None) or 1, str(exc))]
    # A large file's statements are read again at each walk, and what is kept of each is
    # only its findings: its ops are read in one walk for the rebuilt tables, again in the next.
    ops = None if isinstance(statements, FileStatements) else [read_ops(st) for st in statements]
    if ops is None and lacks_verb(statements, "DROP", "ALTER"):
        rebuilt: set[str] = set()  # (a seed of INSERTs: known without a walk)
    else:
        rebuilt = rebuilt_tables(ops if ops is not None else map(read_ops, statements))
    rollback = read_rollback(m, findings)
    s = MigrationState(m.filename, dialect, rollback, rebuilt, session_lock_timeout, table_rows)
    s.replay = replay
    s.live_table = live_table
    if not_null_checks is not None:
        s.not_null_checks = not_null_checks
    s.columns = enum_columns
    enums = NewEnumValues(m.filename, enum_columns) if enum_columns is not None else None
    tx = OneTransaction(m.filename, dialect, s.created, table_rows, enums=enums, storage=storage)
    drops = PgDrops(m.filename, enum_columns.by_type) if enum_columns is not None else None
    seqs = SequenceFills.of(m.filename, seq_run) if seq_run is not None else None
    if pubs is not None:
        pubs.begin(m.filename)
    do_lines: dict[int, int] = {}  # a line inside a DO block or WITH → the statement's line
    legacy_rename = False  # PRAGMA legacy_alter_table=ON: a RENAME does not check views
    dropped: dict[tuple[str, str], tuple[str, int]] = {}  # what a DROP TABLE left naming it
    if d1 is not None:
        findings.extend(d1_template(m))
    if dialect == "postgresql":
        refused = classify(statements)  # what `up` refuses (engine/concurrently.py)
        tx.outside = refused is not None and not isinstance(refused, ConcurrentRefusal)
        if isinstance(refused, ConcurrentRefusal):
            findings.append(finding("PG-CONCURRENTLY-IN-TRANSACTION", m.filename, refused.line,
                               refused.why))  # fmt: skip
    # A SQLite file runs a rebuild with foreign keys on unless the file turns them off (D1,
    # which ignores the pragma, has its own rules for the drop).
    fk_on = dialect == "sqlite" and d1 is None and foreign_keys_off_line(statements) is None
    away = away if away is not None else RenamedAway()  # (the run's: steps across files)
    away.begin(m.filename, keeps_keys=dialect == "sqlite" and d1 is None and not fk_on)
    pairs = zip(statements, ops, strict=True) if ops is not None else _with_ops(statements)
    relaxed = Relaxed() if dialect == "postgresql" else None  # (the rollback's rules)
    for st, op in pairs:
        if relaxed is not None:
            relaxed.see(st, op)
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
        keys: KeysTo | None = replay if replay is not None else pg_refs
        if keys is not None:
            away.see(st, op, keys, legacy_rename)
        if op.kind == "alter_table":
            for a in op.actions:
                if a.kind == "rename_table" and key(a.new) in s.rebuilt:
                    s.rebuild_line[key(a.new)] = s.created.get(s.made(op.name, op.pg_name), st.line)
                    if op.key in s.filled:
                        s.filled[key(a.new)] = s.filled.pop(op.key)
                        s.coalesced[key(a.new)] = s.coalesced.pop(op.key, set())
                    if replay is not None and not legacy_rename:
                        findings.extend(views_in_the_way(m.filename, st.line, a.new, replay))
        elif op.kind == "pragma" and (on := legacy_alter_table(op.name, op.value)) is not None:
            legacy_rename = on
        statement_rules(s, st, op, findings)
        tx.see(st, op, findings)
        if exposure is not None:
            exposure.see(m.filename, st, op, findings)
        if drops is not None:
            drops.see(st, op, findings)
        if seqs is not None:
            seqs.see(st, op)
        if pubs is not None:
            pubs.see(st, op)
        if rls is not None:
            rls.see(st, op, s.created)
        shapes.see(st, op)
        for inner in _inner_statements(m.filename, st, op, dialect, findings):
            inner_op = read_ops(inner)
            if rls is not None:
                rls.see(inner, inner_op, s.created)
            statement_rules(s, inner, inner_op, findings)
            tx.see(inner, inner_op, findings)
            if exposure is not None:
                exposure.see(m.filename, inner, inner_op, findings, inner=op.kind == "do")
            if drops is not None:
                drops.see(inner, inner_op, findings)
            if seqs is not None:
                seqs.see(inner, inner_op)
            if pubs is not None:
                pubs.see(inner, inner_op)
            do_lines[inner.line] = st.line
        if replay is not None:
            replay.run(st, op, keep_references=away.keeps_keys and legacy_rename)
        elif pg_refs is not None:
            pg_refs.run(op)
    if pg_refs is not None and replay is None:
        findings.extend(away.findings())
    if replay is not None:
        findings.extend(left_dangling(m.filename, dropped, replay))
        findings.extend(away.findings())
        if d1 is not None:
            findings.extend(d1_end(m.filename, d1, notes))
        restores = s.rollback.restores_column
        facts = RebuildFacts(
            s.file,
            s.before_rebuild,
            s.rebuild_line,
            restores,
            s.filled,
            s.coalesced,
            s.last_write,
        )
        findings.extend(rebuild_findings(facts, replay))
    if statements:  # a comment-only migration is a no-op: nothing to undo
        rollback_rules(s, m, statements[0].line, findings)
    triggers = enum_columns.trigger_functions if enum_columns is not None else set()
    reshaped = shapes.reshaped()
    findings.extend(dropped_for_good(m.filename, s.dropped_objects, s.objects, triggers, reshaped))
    if rls is not None:
        findings.extend(rls.end(m.filename))
    if seqs is not None:
        seqs.end(findings)
    if pubs is not None:
        pubs.end(findings)
    if exposure is not None:
        exposure.end(findings)
    pieces = m.text_pieces if text is None else lambda: (text,)
    findings = apply_ignores(findings, pieces, m.filename, do_lines)
    findings.sort(key=_in_order)
    rb = s.rollback  # its own rules (lint/rollback_lint.py), after the migration's findings
    own = rollback_findings(rb, dialect, replay, d1=d1 is not None,
                            session_lock_timeout=session_lock_timeout,
                            probe=d1.probe if d1 is not None else None, notes=notes,
                            pg_refs=pg_refs, relaxed=relaxed,
                            columns=enum_columns)  # fmt: skip
    if own:
        own = apply_ignores(own, lambda: (rb.text,), rb.filename, {})
        findings.extend(sorted(own, key=_in_order))
    return findings


def _in_order(f: Finding) -> tuple[int, int, str]:
    return f.line, SEVERITY_ORDER[f.severity], f.rule


def _replay_only(m: Migration, replay: Replay, away: RenamedAway, d1: bool) -> None:
    """A migration not linted (one before those linted), replayed; its renames, tables made,
    copies and drops followed, for a rename-first rebuild that a linted migration completes."""
    statements = m.statements()
    away.begin(m.filename, keeps_keys=not d1 and foreign_keys_off_line(statements) is not None)
    legacy = False
    for st in statements:
        op = read_ops(st)
        away.see(st, op, replay, legacy)
        if op.kind == "pragma" and (on := legacy_alter_table(op.name, op.value)) is not None:
            legacy = on
        replay.run(st, op, keep_references=away.keeps_keys and legacy)


_RENAME_TABLE = re.compile(r"\bRENAME\s+TO\b", re.IGNORECASE)  # a table's, not a column's


def _follow_applied(m: Migration, live: KeysTo, away: RenamedAway) -> None:
    """A migration already applied, not linted, the live schema read (not replayed): its
    renames (whose children the live schema shows), tables made, copies and drops followed."""
    if not away.moved and not _RENAME_TABLE.search(m.read_text()):
        return  # (nothing to follow: parsing every applied file cost `up` 35 ms per 1,000)
    away.begin(m.filename, keeps_keys=False)
    for st in m.statements():
        away.see(st, read_ops(st), live, False, applied=True)


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
    live_table: LiveTable | None = None,
    supabase: Supabase | None = None,
    supabase_live: LiveTableInfo | None = None,
    live_shape: LiveShape | None = None,
    live_storage: LiveStorage | None = None,
    live_children: LiveChildren | None = None,
    live_publications: LivePublications | None = None,
) -> LintReport:
    """Lint the migrations of ``mset`` named in ``only`` (filenames; default all).

    SQLite-dialect files are replayed in version order into a scratch in-memory schema (from
    ``base_schema``, the live database's CREATE statements, when given: then only ``only``
    is replayed). ``d1`` adds D1's rule set; ``probe`` answers whether a child table has rows
    (the live database), for D1's RESTRICT rule. ``session_lock_timeout``: the target sets a
    lock_timeout on its sessions (PostgreSQL), which satisfies PG-LOCK-TIMEOUT. ``table_rows``
    (a live PostgreSQL database) makes a plain CREATE INDEX on a small table a note. ``live``:
    ``base_schema`` was read from the live database (a table not in it is not there);
    ``live_table`` answers the same of a PostgreSQL database, table by table. ``supabase``
    (a Supabase target, PostgreSQL's dialect) adds Supabase's rule set (lint/supabase.py);
    ``supabase_live`` answers it of the live database's tables. ``live_shape``: a function's
    or view's shape in the live PostgreSQL database (SQLite's are the replay's);
    ``live_storage``: a relation's persistence, tablespace and access method there;
    ``live_children``: the foreign keys to a table there (PG-RENAME-MOVES-KEYS);
    ``live_publications``: its tables' keys and its publications (PG-PUBLISHED-WITHOUT-IDENTITY).
    """
    wanted = set(only) if only is not None else None
    replay = Replay(base_schema, live=live) if dialect == "sqlite" else None
    checks = NotNullChecks() if dialect == "postgresql" else None
    enum_columns = DeclaredColumns() if dialect == "postgresql" else None
    rls = RowSecurity() if dialect == "postgresql" else None
    exposure = None
    if supabase is not None and enum_columns is not None:
        declared = enum_columns.order
        exposure = Exposure(supabase, mset.migrations, lambda t: declared.get(t, ()), supabase_live)
    shapes = Shapes(_replayed_view(replay) if replay is not None else live_shape)
    away = RenamedAway(dialect=dialect)  # a rename-first rebuild's steps, file to file
    pg_refs = PgReferences(live_children) if dialect == "postgresql" else None
    # The tables with a counter, file to file (PG-SEQUENCE-NOT-ADVANCED).
    seq_run = SequenceRun(mset.migrations) if dialect == "postgresql" else None
    # The tables' keys and the publications, file to file (PG-PUBLISHED-WITHOUT-IDENTITY).
    pubs = Publications(live_publications) if dialect == "postgresql" else None
    found: list[Finding] = []
    checked: list[str] = []
    out_notes = list(notes)
    try:
        for index, m in enumerate(mset.migrations):
            selected = wanted is None or m.filename in wanted
            if not selected:
                if replay is not None and not base_schema:
                    with contextlib.suppress(MalnuError):
                        _replay_only(m, replay, away, d1)
                elif replay is not None and not checked:  # (before the first one linted)
                    with contextlib.suppress(MalnuError):
                        _follow_applied(m, replay, away)
                if pg_refs is not None and live_children is not None and not checked:
                    with contextlib.suppress(MalnuError):
                        _follow_applied(m, pg_refs, away)  # (the live keys: not replayed)
                elif pg_refs is not None:
                    away.begin(m.filename, keeps_keys=False)
                if checks is not None and enum_columns is not None and rls is not None:
                    follow = SequenceFills.of(m.filename, seq_run) if seq_run else None
                    with contextlib.suppress(MalnuError):
                        for st in m.statements():
                            op = read_ops(st)
                            if pg_refs is not None and live_children is None:
                                away.see(st, op, pg_refs, False)
                                pg_refs.run(op)
                            checks.see(op)
                            enum_columns.see(op)
                            rls.see(st, op, set())
                            shapes.see(st, op)
                            if follow is not None:
                                follow.see(st, op)  # (its tables: its ids not judged)
                            if pubs is not None and live_publications is None:
                                pubs.see(st, op)  # (the live catalog has it, when read)
                    rls.end(m.filename)  # judged when it was linted
                continue
            checked.append(m.filename)
            if exposure is not None:
                exposure.at(index)
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
                    live_table,
                    exposure,
                    shapes,
                    away,
                    live_storage,
                    pg_refs,
                    seq_run,
                    pubs,
                )
            )
    finally:
        if replay is not None:
            replay.close()
    sets = (
        ("general", "postgresql" if dialect == "postgresql" else "sqlite")
        + (("d1",) if d1 else ())
        + (("supabase",) if exposure is not None else ())
    )
    return LintReport(dialect, tuple(checked), tuple(found), tuple(out_notes), sets)
