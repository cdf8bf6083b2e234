"""The D1 table writer: a staging table filled in chunks, promoted in one final batch.

D1 has no session, so no transaction can span requests. Rows go to a staging table keyed by
their source line (``INSERT OR IGNORE``: a retried request whose first delivery landed adds
nothing), each statement under 100 KB with its values inlined; a row larger than that goes
alone with its largest texts bound (D1 keeps a row up to 2 MB), as the sync writes it. Rows
the table would refuse are found before the promote by probe batches that end in a statement
certain to fail (D1 rolls each probe back whole).
The promote is ONE batch: a guard that the table was not written meanwhile, the INSERT …
SELECT, a guard that the counts are the ones predicted, the audit row, and the DROP of the
staging table; a re-sent promote finds no staging table and changes nothing. A killed import
leaves the target untouched (and a staging table that the next import sweeps).
"""

from __future__ import annotations

import contextlib
import re
import secrets
from collections.abc import Sequence
from typing import TYPE_CHECKING

from malnu_tui.engine.backends import sqlite_sql as q
from malnu_tui.engine.backends.d1.client import BatchStatement
from malnu_tui.engine.backends.d1.errors import D1LimitExceeded, is_timeout
from malnu_tui.engine.backends.sqlite_sql import bind_literals, quote_ident
from malnu_tui.engine.data.errors import ImportCheckFailed
from malnu_tui.engine.data.keyrepeats import (
    ScratchKeys,
    held_keys,
    repeat_rejection,
    stage_types,
    taken_reason,
)
from malnu_tui.engine.data.rows import Rejection, Row, RowBatch
from malnu_tui.engine.data.spec import (
    WriteOutcome,
    WriteSpec,
    constraint_column,
    counts_from,
    dropping_triggers,
    ignoring_triggers,
)
from malnu_tui.engine.data.sqlwrite import (
    D1_MAX_COLUMNS,
    D1_STATEMENT_BYTES,
    IMPORT_INSERT,
    RowRefused,
    d1_bound_row,
    d1_requests,
    d1_statements,
    insert_head,
    sql_tuple,
)
from malnu_tui.engine.errors import BackendError

if TYPE_CHECKING:
    from malnu_tui.engine.backends.base import AuditEntry
    from malnu_tui.engine.backends.d1.backend import D1Backend

STAGE_PREFIX = q.STAGE_PREFIX
GUARD = "malnu import guard"
# A probe's last statement fails with its (bad) JSON path in SQLite's message ("JSON path error
# near 'malnu 3 5'", "bad JSON path: 'malnu 3 5'"): the promote's changes() and the table's
# count read back from a batch D1 rolls back.
_COUNTS = re.compile(r"'malnu (\d+) (\d+)'")
# D1 stopped the request that moves the staged rows into the table (or its rolled-back trial)
# at its 30 s a request: the rows are not at fault (it was reported as a rejected row).
SLOW_PROMOTE_HINT = (
    "D1 stops a request after 30 s, and the staged rows go into the table in one request (all "
    "or nothing); nothing was imported. Import the file in parts, each one smaller (or look "
    "for a trigger of the table that makes each row slow)"
)
# D1 stopped one of a dry run's trials (each rolled back) at its 30 s: the client's hint said to
# split a migration into batches.
SLOW_TRIAL_HINT = (
    "D1 stops a request after 30 s, and a dry run tries the file's rows against the table in "
    "requests D1 rolls back (nothing was written): one ran past it. The import itself moves "
    "every row into the table in one request, longer still: import the file in parts, each one "
    "smaller, and dry-run each (or look for a trigger of the table that makes each row slow)"
)


def _values_statements(
    head: str,
    rows: Sequence[Row],
    columns: Sequence[str],
    tail: str = "",
    *,
    line: bool = False,
) -> tuple[list[BatchStatement | list[BatchStatement]], list[Rejection]]:
    """``head`` + as many ``(…)`` tuples as fit in one statement under D1's 100 KB (+ tail),
    each row's values preceded by its source line when ``line``. A row too large for that
    (an essay pasted into a cell, a photo as a data: URL) goes alone with its texts bound, as
    the sync writes it (D1 keeps a row up to 2 MB); one D1 cannot hold at all is a rejected
    row, taken out: the rest of the file goes on."""
    lead = 1 if line else 0
    values = [(r.line, *r.values) if line else tuple(r.values) for r in rows]
    tuples = [sql_tuple(v) for v in values]
    fixed = len(head.encode()) + len(tail.encode())
    small = [i for i, t in enumerate(tuples) if fixed + len(t.encode()) + 2 <= D1_STATEMENT_BYTES]
    # A VALUES of several rows is a SELECT, whose result D1 limits to 100 columns: rows wider
    # than that (the staging table's line and 100 values) go one a statement.
    one = 1 if len(columns) + lead > D1_MAX_COLUMNS else None
    statements: list[BatchStatement | list[BatchStatement]] = [
        *d1_statements(head, [tuples[i] for i in small], tail, max_rows=one)
    ]
    rejected: list[Rejection] = []
    for i in sorted(set(range(len(rows))) - set(small)):
        try:
            statements.append(d1_bound_row(head, values[i], tail).statements())
        except RowRefused as exc:
            row, at = rows[i], max(exc.column - lead, 0)
            column = columns[at] if at < len(columns) else ""
            value = row.values[at] if at < len(row.values) else None
            chars = f", {len(value):,} characters" if isinstance(value, str) else ""
            rejected.append(
                Rejection(
                    row.line,
                    column,
                    f"the row is too large for D1 ({column!r}{chars}: {exc})",
                    row.raw,
                )
            )
    return statements, rejected


def probe(backend: D1Backend, statements: Sequence[BatchStatement]) -> str | None:
    """Would ``statements`` all succeed? Tried in a batch D1 rolls back whole (None: yes; else
    the database's error)."""
    return backend.api.trial(statements)


def _clean(error: str) -> str:
    return error.removeprefix("D1_ERROR: ").removesuffix(": SQLITE_CONSTRAINT")


class D1Writer:
    """Writes rows into one D1 table through a staging table."""

    def __init__(self, backend: D1Backend, spec: WriteSpec) -> None:
        self.backend = backend
        self.api = backend.api
        self.spec = spec
        self.stage = f"{STAGE_PREFIX}{secrets.token_hex(6)}"
        self._s = quote_ident(self.stage)
        self._t = quote_ident(spec.table)
        self.sent = 0
        self.before = 0
        self._outcome: WriteOutcome | None = None
        self._ignoring: tuple[str, ...] = ()  # the table's triggers that may drop a row
        self._vcols = ", ".join(f"v{i}" for i in range(len(spec.columns)))

    def _count(self, table: str) -> int:
        rows = self.api.raw(f"SELECT count(*) FROM {table}").rows
        return int(rows[0][0])

    def begin(self) -> int:
        # Staging tables of killed imports: only one import runs at a time (the lock). And,
        # in the same request, the table's triggers that may drop a row (spec.TRIGGERS_SQL).
        found = self.api.raw(
            "SELECT type, name, sql FROM sqlite_master WHERE (type = 'table' AND name LIKE ?) "
            "OR (type = 'trigger' AND tbl_name = ? COLLATE NOCASE) ORDER BY name",
            (STAGE_PREFIX + "%", self.spec.table),
        ).rows
        old = [str(r[1]) for r in found if r[0] == "table"]
        self._ignoring = ignoring_triggers([r[1:] for r in found if r[0] == "trigger"])
        drops = [f"DROP TABLE IF EXISTS {quote_ident(n)}" for n in old]
        # IF NOT EXISTS: the name is this run's own, and a re-send after an answer was lost
        # (D1 ran it) failed on "table … already exists".
        # Keyed by the source line held in the rowid, not in a column of its own: D1 allows
        # 100 columns a table, and a _line column made the staging table of a 100-column
        # table one too many ("too many columns on …": such a table could never be imported).
        # A watched UNIQUE's column has the table's affinity (:func:`.keyrepeats.stage_types`):
        # untyped, '7.0' and '7' of a REAL column were two values in the stage and one in the
        # table (its refusal said "in the table already" of line 2's; a key's, the count check
        # failed). Affinity names only, never the input's.
        typed = [f"v{i} {t}".rstrip() for i, t in enumerate(stage_types(self.spec))]
        create = f"CREATE TABLE IF NOT EXISTS {self._s} ({', '.join(typed)})"
        self.api.batch([*drops, create], lambda: False)
        self.before = self._count(self._t)
        return self.before

    def write(self, rows: RowBatch) -> list[Rejection]:
        head = f"INSERT OR IGNORE INTO {self._s} (rowid, {self._vcols}) VALUES "
        batch = list(rows.rows())
        statements, too_large = _values_statements(head, batch, self.spec.columns, line=True)
        for request in d1_requests(statements):
            self._send(request)
        self.sent += len(batch) - len(too_large)
        return too_large

    def _send(self, statements: list[BatchStatement]) -> None:
        # INSERT OR IGNORE keyed by line: re-sending a request that landed is harmless.
        self.api.batch(statements, lambda: False)

    def _probe(self, where: str) -> str | None:
        """Would the promote of the staged rows matching ``where`` succeed? (rolled back)"""
        try:
            return probe(self.backend, [self._promote_sql(where)])
        except D1LimitExceeded as exc:  # (trial raises only D1's timeout)
            raise self._too_slow(exc) from None

    def _too_slow(self, exc: BackendError) -> BackendError:
        return BackendError(
            f"D1: moving the {self.sent:,} rows staged into {self.spec.table} ran past D1's "
            f"30 s a request ({exc})",
            hint=SLOW_PROMOTE_HINT,
        )

    def _promote_sql(self, where: str) -> str:
        vals = ", ".join(f"v{i}" for i in range(len(self.spec.columns)))
        return (
            f"{IMPORT_INSERT} {self._t} ({self.spec.column_list()}) SELECT {vals} FROM {self._s} "
            f"WHERE {where} ORDER BY rowid{self.spec.conflict_clause()}"
        )

    def _line_at(self, offset: int) -> int:
        rows = self.api.raw(
            f"SELECT rowid FROM {self._s} ORDER BY rowid LIMIT 1 OFFSET ?", (offset,)
        ).rows
        return int(rows[0][0])

    def finish(self, max_rejections: int | None = None) -> WriteOutcome:
        staged = self._count(self._s)
        if staged != self.sent:
            raise ImportCheckFailed(
                f"D1 staging table holds {staged} rows but {self.sent} were sent; nothing was "
                "promoted"
            )
        rejections: list[Rejection] = self._drop_repeats() if self.spec.key and staged else []
        staged -= len(rejections)
        refused = staged > 0 and self._probe("true") is not None
        if refused and self.spec.uniques and not self.spec.key:
            # A plain insert's UNIQUE values (its primary key, users.email) are looked for
            # once the table refused a row (a clean file pays nothing): a repeat is named by
            # its first line, not refused.
            rejections = self._drop_repeats()
            staged -= len(rejections)
            if rejections:  # the rest may be clean now
                refused = staged > 0 and self._probe("true") is not None
        while refused:
            if max_rejections is not None and len(rejections) > max_rejections:
                break
            # The first row whose prefix fails is refused (earlier rows count: UNIQUE).
            lo, hi = 0, staged - 1
            error = ""
            while lo < hi:
                mid = (lo + hi) // 2
                failed = self._probe(f"rowid <= {self._line_at(mid)}")
                if failed is None:
                    lo = mid + 1
                else:
                    hi, error = mid, failed
            line = self._line_at(lo)
            if not error:
                error = self._probe(f"rowid <= {line}") or "refused by the database"
            message = _clean(error)
            column = constraint_column(message, self.spec.table)
            rejections.append(Rejection(line, column, self._taken(line, message), ""))
            self.api.batch([f"DELETE FROM {self._s} WHERE rowid = {line}"], lambda: False)
            staged -= 1
            refused = staged > 0 and self._probe("true") is not None
        inserted = staged
        if self.spec.key and self.spec.on_conflict != "error" and staged:
            match = " AND ".join(
                f"t.{quote_ident(k)} IS s.v{self.spec.columns.index(k)}" for k in self.spec.key
            )
            keys = ", ".join(f"v{self.spec.columns.index(k)}" for k in self.spec.key)
            rows = self.api.raw(
                f"SELECT count(*) FROM (SELECT DISTINCT {keys} FROM {self._s} s WHERE NOT EXISTS "
                f"(SELECT 1 FROM {self._t} t WHERE {match}))"
            ).rows
            inserted = int(rows[0][0])
        updated = staged - inserted if self.spec.on_conflict == "update" else 0
        skipped = staged - inserted if self.spec.on_conflict == "skip" else 0
        self.before = self._count(self._t)
        after = self.before + inserted
        if self._ignoring and staged and (counted := self._trial_counts()) is not None:
            # The table's own BEFORE trigger may drop rows (RAISE(IGNORE)): the counts are
            # the promote's own, tried and rolled back (the prediction took them as written).
            changes, after = counted
            mode = self.spec.on_conflict
            inserted, updated, skipped = counts_from(mode, staged, changes, after - self.before)
        self._outcome = WriteOutcome(
            inserted,
            updated,
            skipped,
            tuple(sorted(rejections, key=lambda r: r.line)),
            self.before,
            after,
            staged,
            self._ignoring if skipped else (),
        )
        return self._outcome

    def _taken(self, line: int, message: str) -> str:
        """The refusal of a key another row holds, with the staged row's value of it."""
        if not message.startswith("UNIQUE constraint failed"):
            return message
        rows = self.api.raw(f"SELECT {self._vcols} FROM {self._s} WHERE rowid = ?", (line,)).rows
        return taken_reason(self.spec, message, rows[0]) if rows else message

    def _drop_repeats(self) -> list[Rejection]:
        """The staged rows whose value of a watched constraint (:attr:`WriteSpec.uniques`)
        an earlier line of the import has (compared with the constraint's collation: NOCASE
        keeps ``s004`` and ``S004`` one key), deleted from the stage and returned as
        rejections naming that line, one constraint after the other; found by D1 in the
        staging table: read, then deleted by the same query (a re-sent delete finds none)."""
        out: list[Rejection] = []
        for n, u in enumerate(self.spec.uniques):
            kidx = [self.spec.columns.index(c) for c in u.columns]
            keys = ", ".join(
                f"v{j} COLLATE {quote_ident(u.collation(i) or 'BINARY')}"
                for i, j in enumerate(kidx)
            )
            known = " AND ".join(f"v{j} IS NOT NULL" for j in kidx)
            if n > 0 and self.spec.others_among_new:  # among the rows a skip adds
                known += f" AND {self._new_key()}"
            found = (
                f"SELECT rowid AS line, first FROM (SELECT rowid, min(rowid) OVER (PARTITION "
                f"BY {keys}) AS first FROM {self._s} WHERE {known}) WHERE rowid <> first"
            )
            vals = ", ".join(f"s.v{j}" for j in kidx)
            listed = (
                f"SELECT d.line, d.first, {vals} FROM ({found}) d JOIN {self._s} s "
                "ON s.rowid = d.line ORDER BY d.line"
            )
            delete = f"DELETE FROM {self._s} WHERE rowid IN (SELECT line FROM ({found}))"
            rows = self.api.raw(listed).rows
            if rows:
                self.api.batch([delete], lambda: False)
            out += [repeat_rejection(self.spec, u, int(r[0]), int(r[1]), r[2:]) for r in rows]
        return out

    def _new_key(self) -> str:
        """``--on-conflict skip``: the staged row's key is held by no row of the table (none
        of the import's is in yet), compared as the key's index compares (the stage's column
        has the table's affinity)."""
        u = self.spec.uniques[0]
        match = " AND ".join(
            f"h.{quote_ident(k)} = {self._s}.v{self.spec.columns.index(k)} "
            f"COLLATE {quote_ident(u.collation(i) or 'BINARY')}"
            for i, k in enumerate(u.columns)
        )
        return f"NOT EXISTS (SELECT 1 FROM {self._t} h WHERE {match})"

    def _trial_counts(self) -> tuple[int, int] | None:
        """The promote's changes() and the table's count after it, from a batch D1 rolls back
        (None: D1's message did not carry them)."""
        try:
            error = probe(
                self.backend,
                [
                    self._promote_sql("true"),
                    f"SELECT json_extract('{{}}', 'malnu ' || changes() || ' ' || "
                    f"(SELECT count(*) FROM {self._t}))",
                ],
            )
        except D1LimitExceeded as exc:
            raise self._too_slow(exc) from None
        m = _COUNTS.search(error or "")
        return (int(m[1]), int(m[2])) if m else None

    def commit(self, audit: AuditEntry | None) -> None:
        o = self._outcome
        assert o is not None, "finish() first"
        changes = o.inserted + o.updated
        statements = [
            f"SELECT CASE WHEN (SELECT count(*) FROM {self._t}) <> {o.before_count} "
            f"THEN json('{GUARD}: the table changed during the import') END",
            self._promote_sql("true"),
            f"SELECT CASE WHEN changes() <> {changes} OR (SELECT count(*) FROM {self._t}) "
            f"<> {o.after_count} THEN json('{GUARD}: count check failed') END",
            f"DROP TABLE {self._s}",
        ]
        if audit is not None:
            e = audit
            params = (e.at, e.actor, e.action, e.object, e.outcome, e.detail)
            statements.append(bind_literals(q.INSERT_AUDIT, params))

        def took_effect() -> bool:
            rows = self.api.raw(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?",
                (self.stage,),
            ).rows
            return int(rows[0][0]) == 0

        try:
            self.backend.locked_batch(statements, took_effect)
        except BackendError as exc:
            if is_timeout(str(exc)):
                raise self._too_slow(exc) from None
            if "malformed JSON" in str(exc) and self._ignoring:
                raise ImportCheckFailed(
                    f"D1: table {self.spec.table}'s own trigger(s) {', '.join(self._ignoring)} "
                    "dropped rows (RAISE(IGNORE)) that the import could not count before it "
                    "commits; nothing was promoted"
                ) from None
            if "malformed JSON" in str(exc):
                raise ImportCheckFailed(
                    "D1: the table's count did not match the import's (another writer?); "
                    "nothing was promoted"
                ) from None
            raise

    def stop(self) -> None:
        """Nothing to end here: a D1 request in flight is the client's (its own timeout and
        interrupt handling)."""

    def rollback(self) -> None:
        with contextlib.suppress(BackendError):
            self.api.batch([f"DROP TABLE IF EXISTS {self._s}"], lambda: False)


HELD_BYTES = D1_STATEMENT_BYTES * 3 // 4  # a dry run's SELECT of keys: its values' text


class D1DryRun:
    """``--dry-run`` on D1, where no unit can stay open across requests: each chunk is tried in
    probe batches (rolled back whole by D1), so CHECK, NOT NULL, foreign keys and UNIQUE
    against the rows already there are judged and nothing is written. A key (or a plain
    insert's value of any UNIQUE constraint) repeated within the import (in any two chunks:
    each trial was rolled back) is found in a scratch SQLite file of the values seen
    (:class:`.keyrepeats.ScratchKeys`). Not seen: the inserted/updated
    split (every accepted row counts as inserted) but
    on a table whose own BEFORE trigger may drop rows (RAISE(IGNORE)): there each chunk's
    accepted rows are tried once more, their changes() and the table's growth read back, so
    the counts (skipped: the dropped rows) and the warning are the run's."""

    def __init__(self, backend: D1Backend, spec: WriteSpec) -> None:
        self.backend = backend
        self.spec = spec
        self.before = 0
        self.accepted = 0
        self._head = insert_head(spec.table, spec.columns, IMPORT_INSERT)
        self._ignoring: tuple[str, ...] = ()
        self._counted: list[int] | None = [0, 0]  # changes(), growth; None: D1 did not say
        self.warnings: list[str] = []
        self._seen: ScratchKeys | None = None  # the keys of the chunks tried so far

    def begin(self) -> int:
        t = quote_ident(self.spec.table)
        rows = self.backend.api.raw(f"SELECT count(*) FROM {t}").rows
        self.before = int(rows[0][0])
        self._ignoring = dropping_triggers(self.backend, self.spec.table)
        if self.spec.uniques:
            held = None
            if self.spec.others_among_new:  # (values spelt as literals: 100 parameters)
                held = held_keys(self.spec, self._selects, rows=500, max_bytes=HELD_BYTES)
            self._seen = ScratchKeys(self.spec, held)
        return self.before

    def _selects(
        self, statements: list[tuple[str, list[object]]]
    ) -> list[Sequence[Sequence[object]]]:
        """The rows of each SELECT, one request (a chunk's keys the table holds)."""
        sqls: list[BatchStatement] = [bind_literals(sql, p) for sql, p in statements]
        return [r.rows for r in self.backend.api.batch(sqls, lambda: False)]

    def write(self, rows: RowBatch) -> list[Rejection]:
        batch = list(rows.rows())
        _statements, too_large = _values_statements(
            self._head, batch, self.spec.columns, self.spec.conflict_clause()
        )
        out = {r.line for r in too_large}
        batch = [r for r in batch if r.line not in out]
        repeats = self._seen.repeats(RowBatch.of(batch)) if self._seen is not None else []
        if repeats:  # as the run drops them from its stage before anything is tried
            again = {r.line for r in repeats}
            batch = [r for r in batch if r.line not in again]
        refused = self._refused(batch)
        self.accepted += len(batch) - len(refused)
        if self._ignoring and self._counted is not None:
            gone = {r.line for r in refused}
            self._count([r for r in batch if r.line not in gone])
        return sorted([*too_large, *repeats, *refused], key=lambda r: r.line)

    def _count(self, rows: list[Row]) -> None:
        """Add the changes() of the accepted ``rows``' INSERTs (AFTER triggers' writes not
        counted) and the table's growth, tried in batches D1 rolls back."""
        statements, _ = _values_statements(
            self._head, rows, self.spec.columns, self.spec.conflict_clause()
        )
        t, tally = quote_ident(self.spec.table), f"malnu_changes_{secrets.token_hex(6)}"
        for request in d1_requests(statements):
            tried: list[BatchStatement] = [f'CREATE TABLE "{tally}" (n INTEGER)']
            for st in request:
                tried.append(st)
                if (st if isinstance(st, str) else st[0]).startswith(self._head):
                    tried.append(f'INSERT INTO "{tally}" SELECT changes()')
            changes = f'(SELECT coalesce(sum(n), 0) FROM "{tally}")'
            tried.append(
                f"SELECT json_extract('{{}}', 'malnu ' || {changes} || ' ' || "
                f"(SELECT count(*) FROM {t}))"
            )
            m = _COUNTS.search(self._probe(tried, rows) or "")
            if m is None or self._counted is None:
                self._counted = None
                return
            self._counted[0] += int(m[1])
            self._counted[1] += int(m[2]) - self.before

    def _refused(self, rows: list[Row]) -> list[Rejection]:
        """The rows of a chunk the table would refuse: the shortest failing prefix ends in
        one (earlier rows count, so a key repeated within the chunk is found too)."""
        refused: list[Rejection] = []
        rows = list(rows)
        while rows and (error := self._try(rows)) is not None:
            lo, hi = 0, len(rows) - 1
            while lo < hi:
                mid = (lo + hi) // 2
                failed = self._try(rows[: mid + 1])
                if failed is None:
                    lo = mid + 1
                else:
                    hi, error = mid, failed
            r, message = rows.pop(lo), _clean(error)
            column = constraint_column(message, self.spec.table)
            reason = taken_reason(self.spec, message, r.values)
            refused.append(Rejection(r.line, column, reason, r.raw))
        return refused

    def _try(self, rows: list[Row]) -> str | None:
        statements, _ = _values_statements(
            self._head, rows, self.spec.columns, self.spec.conflict_clause()
        )
        for request in d1_requests(statements):
            error = self._probe(request, rows)
            if error is not None:
                return error
        return None

    def _probe(self, statements: Sequence[BatchStatement], rows: list[Row]) -> str | None:
        """:func:`probe`, D1 stopping it at its 30 s said as the dry run's (its lines)."""
        try:
            return probe(self.backend, statements)
        except D1LimitExceeded as exc:  # (trial raises only D1's timeout)
            raise BackendError(
                f"D1: the dry run's trial of lines {rows[0].line}–{rows[-1].line} against "
                f"{self.spec.table} ran past D1's 30 s a request ({exc})",
                hint=SLOW_TRIAL_HINT,
            ) from None

    def finish(self, max_rejections: int | None = None) -> WriteOutcome:
        n = self.accepted
        if not self._ignoring:
            return WriteOutcome(n, 0, 0, (), self.before, self.before + n, n)
        if self._counted is None:
            self.warnings.append(
                f"D1 did not say how many rows table {self.spec.table}'s own trigger(s) "
                f"{', '.join(self._ignoring)} would drop unwritten (RAISE(IGNORE)): every "
                "accepted row is counted as inserted; the run counts those it drops as skipped"
            )
            return WriteOutcome(n, 0, 0, (), self.before, self.before + n, n)
        changes, grown = self._counted
        ins, upd, skip = counts_from(self.spec.on_conflict, n, changes, grown)
        ignored_by = self._ignoring if skip else ()
        return WriteOutcome(ins, upd, skip, (), self.before, self.before + ins, n, ignored_by)

    def commit(self, audit: AuditEntry | None) -> None:
        raise AssertionError("a dry run never commits")

    def stop(self) -> None:
        """Nothing to end here: a D1 request in flight is the client's (its own timeout and
        interrupt handling)."""

    def rollback(self) -> None:
        if self._seen is not None:
            self._seen.close()
            self._seen = None
