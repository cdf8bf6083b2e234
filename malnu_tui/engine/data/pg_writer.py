"""The PostgreSQL table writer: COPY into a temp table, then one INSERT … SELECT … ON CONFLICT.

The temp table holds text (so COPY never fails on a value); the INSERT casts to the column's
declared type (read from the catalog). When that INSERT fails, the range is split in halves
under savepoints until the refused rows are named; a clean import is one statement.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql

from malnu_tui.engine.backends.base import AUDIT_TABLE
from malnu_tui.engine.backends.pg_refusals import every_row, write_refusal
from malnu_tui.engine.backends.pg_rowsec import AS_POLICIES
from malnu_tui.engine.backends.pg_sql import session_ended
from malnu_tui.engine.data import pgcopy
from malnu_tui.engine.data.keyrepeats import hide_secret_detail, repeat_rejection
from malnu_tui.engine.data.rows import Rejection, RowBatch
from malnu_tui.engine.data.spec import (
    KEY_DETAIL,
    PG_TRIGGERS_SQL,
    WriteOutcome,
    WriteSpec,
    counts_from,
    key_column,
)
from malnu_tui.engine.errors import BackendError, DatabaseBusy, NotPermitted

if TYPE_CHECKING:
    from malnu_tui.engine.backends.base import AuditEntry
    from malnu_tui.engine.backends.postgresql import PostgresBackend
    from malnu_tui.engine.data.uniques import UniqueSet

TEMP = "malnu_import_rows"
# SQLSTATE classes that belong to a row: data exceptions, integrity violations, and
# "ON CONFLICT DO UPDATE command cannot affect row a second time" (a key twice in the input).
ROW_STATES = ("21", "22", "23")
# The table's deferrable UNIQUE, PRIMARY KEY and EXCLUDE constraints, schema-qualified.
_DEFERRABLE = (
    "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.conname) FROM pg_constraint c "
    "JOIN pg_namespace n ON n.oid = c.connamespace WHERE c.conrelid = %s::regclass "
    "AND c.condeferrable AND c.contype IN ('u', 'p', 'x') ORDER BY c.conname"
)


def _reason(exc: psycopg.Error, columns: tuple[str, ...] = ()) -> str:
    """PostgreSQL's refusal as a rejected row's reason: a key's value (``Key (nis)=(0012)``),
    a secret-looking one hidden; the failing row's values left out where the table's
    ``columns`` hold a secret (they held an account's password hash)."""
    d = exc.diag
    text = d.message_primary or str(exc).strip()
    if d.message_detail:
        text += f" ({hide_secret_detail(d.message_detail, columns, d.sqlstate)})"
    return text + session_ended(exc)


class PgUnit:
    """The unit every PostgreSQL writer shares: one transaction, the table locked against other
    writers (so the count check means something), the audit row at commit."""

    def __init__(self, backend: PostgresBackend, spec: WriteSpec) -> None:
        self.backend = backend
        self.conn: psycopg.Connection[tuple[Any, ...]] = backend.conn
        self.spec = spec
        self._names = spec.schema.names  # the failing row's columns (:func:`_reason`)
        self.n = 0
        self.last_line = 0
        self.before = 0
        self._open = False
        self._copy_cm: Any = None
        self._copy: Any = None
        self._cursor: Any = None
        self.warnings: list[str] = []  # after it committed (a sequence it could not move)

    def _table(self) -> sql.Composed:
        schema = self.conn.execute("SELECT current_schema()").fetchone()
        assert schema is not None
        return sql.SQL("{}.{}").format(
            sql.Identifier(str(schema[0])), sql.Identifier(self.spec.table)
        )

    def _fail(self, exc: psycopg.Error) -> BackendError:
        where = f"table {self.spec.table} of {self.backend.display_url}"
        refused = write_refusal(where, exc, self.conn)
        return refused or BackendError(f"{self.backend.display_url}: {_reason(exc, self._names)}")

    def _busy(self) -> DatabaseBusy:
        """The table stayed locked past ``lock_timeout`` by other sessions (the school app's
        open transaction, not an operator: `unlock` frees nothing here), named as the
        restore names them."""
        from malnu_tui.engine.backends.pg_sql import lock_holders

        who = lock_holders(self.conn, [self._t.as_string(self.conn)])
        return DatabaseBusy(
            f"table {self.spec.table} of {self.backend.display_url}",
            0,
            doing=f"past lock_timeout = {self.backend.lock_timeout} before the import could "
            "lock it; nothing was imported",
            hint=(f"{who} holds it: " if who else "")
            + "let that transaction finish (or end it with pg_terminate_backend), then run "
            "the import again",
        )

    def _no_lock(self) -> NotPermitted:
        """A role with INSERT (a loader's grant) but none of what PostgreSQL asks of a lock that
        stops other writers: said with the grant (it was a bare "permission denied for table
        nilai", exit 1, though the role may insert there)."""
        from malnu_tui.engine.backends.pg_session import role_name

        role = role_name(self.conn) or "…"
        return NotPermitted(
            f"table {self.spec.table} of {self.backend.display_url}: role {role} may not lock "
            "it against other writers (LOCK TABLE … IN SHARE ROW EXCLUSIVE MODE, which the "
            "import takes so that its count check means something); nothing was imported",
            hint=f"PostgreSQL asks UPDATE, DELETE or TRUNCATE on the table for that lock: GRANT "
            f"UPDATE ON {self._t.as_string(self.conn)} TO {role}; (as the table's owner), or "
            "import as the owner",
        )

    def _count(self) -> int:
        row = self.conn.execute(sql.SQL("SELECT count(*) FROM {}").format(self._t)).fetchone()
        return int(row[0]) if row else 0

    def begin(self) -> int:
        self._t = self._table()
        try:
            self.conn.execute("BEGIN")
            self._open = True
            every_row(self.conn, local=True)  # every row, or an error: never what a policy shows
            # Other writers wait (readers do not): the count check must mean something.
            try:
                self.conn.execute(
                    sql.SQL("LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE").format(self._t)
                )
            except psycopg.errors.InsufficientPrivilege:
                self.rollback()
                raise self._no_lock() from None
            self.before = self._count()
            self._checked_now()
            self._start()
        except psycopg.errors.LockNotAvailable:
            self.rollback()
            raise self._busy() from None
        except psycopg.Error as exc:
            self.rollback()
            raise self._fail(exc) from None
        return self.before

    def _checked_now(self) -> None:
        """The table's DEFERRABLE UNIQUE, PRIMARY KEY and EXCLUDE constraints checked as each
        statement ends, not at COMMIT: there one failed the whole import with the database's
        bare message, naming no line, and a dry run (rolled back, never committed) said
        nothing of it. So the direct COPY is refused and the temp table names each row. A
        deferred foreign key stays deferred (a row may refer to a later line's)."""
        names = [
            str(r[0])
            for r in self.conn.execute(_DEFERRABLE, (self._t.as_string(self.conn),)).fetchall()
        ]
        if names:  # quoted by the catalog (quote_ident)
            listed = sql.SQL(", ").join(sql.SQL(n) for n in names)
            self.conn.execute(sql.SQL("SET CONSTRAINTS {} IMMEDIATE").format(listed))

    def _start(self) -> None:
        """What the writer opens inside the unit, after the lock and the count."""

    def _ignoring_triggers(self) -> tuple[str, ...]:
        """The table's enabled BEFORE … FOR EACH ROW triggers on INSERT or UPDATE whose
        function may RETURN NULL: such a trigger drops its row unwritten and unrefused."""
        rows = self.conn.execute(
            PG_TRIGGERS_SQL.format(rel="%s::regclass"), (self._t.as_string(self.conn),)
        ).fetchall()
        return tuple(str(r[0]) for r in rows)

    def commit(self, audit: AuditEntry | None) -> None:
        committing = False
        try:
            self._advance_sequences()
            if audit is not None:
                e = audit
                self.conn.execute(AS_POLICIES)  # the tool's row as its policies let it write
                self.conn.execute(
                    sql.SQL(
                        "INSERT INTO {}.{} (at, actor, action, object, outcome, detail) "
                        "VALUES (%s::timestamp, %s, %s, %s, %s, %s)"
                    ).format(sql.Identifier(self.backend.schema), sql.Identifier(AUDIT_TABLE)),
                    (e.at, e.actor, e.action, e.object, e.outcome, e.detail),
                )
            committing = True
            self.conn.execute("COMMIT")
            self._open = False
        except psycopg.Error as exc:
            self.rollback()
            if committing and self.conn.closed:  # the session ended while it committed
                raise BackendError(
                    f"{self.backend.display_url}: the connection was lost at the import's "
                    f"COMMIT ({_reason(exc, self._names)}): whether its rows were imported is "
                    "not known",
                    hint="once the server answers, the import's audit row tells (`malnu-tui "
                    "log --action import`): it commits with the rows, or not at all",
                ) from None
            raise self._fail(exc) from None

    def _advance_sequences(self) -> None:
        """The sequence of each imported serial or identity column moved past the ids the
        import wrote (:func:`.pgcopy.advance_sequences`, which the sync shares)."""
        owned = pgcopy.owned_sequences(self.conn, self._t, self.spec.columns)
        self.warnings += pgcopy.advance_sequences(self.conn, self._t, owned, "imported")

    def _end_copy(self, exc: BaseException | None = None) -> None:
        """Close the open COPY: complete it (``exc`` None) or abandon it. A signal (SIGTERM,
        Ctrl-C) raised in the exit of psycopg's COPY block before the block had run its own
        end left it suspended, holding the connection's lock: the import's ROLLBACK waited
        for it for ever (the sync's same hang, :func:`.pgcopy.copy_in`). Its end is run here
        then (the COPY ended as failed; one that ended is left as it is)."""
        if self._copy_cm is not None:
            cm, self._copy_cm, self._copy = self._copy_cm, None, None
            if exc is None:
                try:
                    cm.__exit__(None, None, None)
                except BaseException:
                    cm.gen.close()
                    raise
            else:
                with contextlib.suppress(Exception):
                    cm.__exit__(type(exc), exc, None)

    def stop(self) -> None:
        """The statement running for :meth:`write` cancelled on the server: a COPY the server
        had stopped reading (behind a slow trigger, a row lock) held the writer thread, and
        the interrupted import with it, until the server was done (a minute after SIGTERM)."""
        from psycopg.pq import TransactionStatus

        if self.conn.pgconn.transaction_status == TransactionStatus.ACTIVE:
            with contextlib.suppress(Exception):
                self.conn.cancel_safe(timeout=5.0)

    def rollback(self) -> None:
        self._end_copy(RuntimeError("import abandoned"))
        if self._open:
            with contextlib.suppress(psycopg.Error):
                self.conn.execute("ROLLBACK")
            self._open = False


class PostgresWriter(PgUnit):
    """Writes rows into one table of a PostgreSQL database inside one transaction, through a
    temp table (see the module's docstring)."""

    def _start(self) -> None:
        self._temp_buffers()
        width = len(self.spec.columns)
        names = ["_line", *(f"v{i}" for i in range(width))]
        pgcopy.create_stage(
            self.conn, TEMP, columns=[("_line", "bigint"), *((n, "text") for n in names[1:])]
        )
        self._cursor = self.conn.cursor()
        self._copy_cm = self._cursor.copy(
            sql.SQL("COPY {} ({}) FROM STDIN").format(
                sql.Identifier(TEMP), pgcopy.ident_list(names)
            )
        )
        self._copy = self._copy_cm.__enter__()

    def _temp_buffers(self) -> None:
        """More memory for the temp table than the default 8 MB, so a large import is not
        written to disk twice; allowed only before the session's first temp table."""
        self.conn.execute("SAVEPOINT malnu_temp_buffers")
        try:
            self.conn.execute("SET LOCAL temp_buffers = '256MB'")
        except psycopg.Error:
            self.conn.execute("ROLLBACK TO SAVEPOINT malnu_temp_buffers")
        self.conn.execute("RELEASE SAVEPOINT malnu_temp_buffers")

    def write(self, rows: RowBatch) -> list[Rejection]:
        if not len(rows):
            return []
        try:
            pgcopy.copy_rows(
                self.conn,
                sql.Identifier(TEMP),
                ("_line", *self.spec.columns),
                rows.values,
                lead=rows.lines,
                copy=self._copy,
            )
        except psycopg.Error as exc:
            raise self._fail(exc) from None
        self.n += len(rows)
        self.last_line = rows.lines[-1]
        return []

    def _insert(self, lo: int, hi: int) -> tuple[int, int]:
        """Insert the staged rows of source lines [lo, hi]: (inserted, updated)."""
        casts: list[sql.Composable] = []
        for i, declared in enumerate(self.spec.declared_types()):
            v = sql.Identifier(f"v{i}")
            # The type's name comes from the catalog (format_type), never from the input.
            casts.append(sql.SQL("{}::{}").format(v, sql.SQL(declared)) if declared else v)
        plain = self.spec.on_conflict == "error"
        return pgcopy.upsert_from(
            self.conn,
            self._t,
            sql.Identifier(TEMP),
            self.spec.columns,
            self.spec.key,
            self.spec.on_conflict,
            params=(lo, hi),
            values=casts,
            where=sql.SQL("_line BETWEEN %s AND %s"),
            # File order decides when a key repeats (xmax = 0 tells inserts from updates).
            order_by=None if plain else sql.SQL("_line"),
            # An identity column GENERATED ALWAYS takes the ids given, as the direct COPY
            # writes them: the upsert (or the fallback after a refused row) failed whole.
            overriding=True,
        )

    def _drop_repeats(self) -> list[Rejection]:
        """The staged rows whose value of a watched constraint (:attr:`WriteSpec.uniques`: the
        key, or a plain insert's every UNIQUE) an earlier line of the import has, taken out of
        the stage and returned as rejections naming that line, one constraint after the other
        (a row taken out for one is no first line for the next)."""
        out: list[Rejection] = []
        for n, u in enumerate(self.spec.uniques):
            out += self._drop_repeats_of(u, among_new=n > 0 and self.spec.others_among_new)
        return out

    def _new_key(self, stage: str, cast: bool) -> sql.Composable:
        """``--on-conflict skip``: the staged row (alias ``stage``) is one the upsert adds, its
        key held by no row of the table (none of the import's is in yet), compared as the key's
        index compares (uncast: as text, where a value not of its type fails the cast)."""
        u = self.spec.uniques[0]
        declared = self.spec.declared_types()
        match: list[sql.Composable] = []
        for i, k in enumerate(u.columns):
            j = self.spec.columns.index(k)
            mine: sql.Composable = sql.Identifier(stage, f"v{j}")
            theirs: sql.Composable = sql.Identifier("h", k)
            if cast and declared[j]:  # the type's name from the catalog (format_type)
                mine = sql.SQL("({}::{})").format(mine, sql.SQL(declared[j]))
            elif declared[j]:
                theirs = sql.SQL("({}::text)").format(theirs)
            if u.collation(i):  # quoted by the catalog (uniques.py)
                mine = sql.SQL("{} COLLATE {}").format(mine, sql.SQL(u.collation(i)))
            match.append(sql.SQL("{} = {}").format(theirs, mine))
        return sql.SQL("NOT EXISTS (SELECT 1 FROM {} h WHERE {})").format(
            self._t, sql.SQL(" AND ").join(match)
        )

    def _drop_repeats_of(self, u: UniqueSet, *, among_new: bool = False) -> list[Rejection]:
        """:meth:`_drop_repeats` for one constraint: compared as its type and collation compare
        (citext without case; NULLs as values under NULLS NOT DISTINCT), found by the server
        (no value held here); ``among_new``: among the rows whose key the table does not hold
        (:attr:`.spec.WriteSpec.others_among_new`)."""
        kidx = [self.spec.columns.index(c) for c in u.columns]
        declared = self.spec.declared_types()
        shown = [
            u.collation(i) or ("citext" if declared[j].lower() == "citext" else "")
            for i, j in enumerate(kidx)
        ]

        def parts(cast: bool) -> list[sql.Composable]:
            out: list[sql.Composable] = []
            for i, j in enumerate(kidx):
                e: sql.Composable = sql.Identifier(f"v{j}")
                if cast and declared[j]:  # the type's name from the catalog (format_type)
                    e = sql.SQL("({}::{})").format(e, sql.SQL(declared[j]))
                if u.collation(i):  # quoted by the catalog (uniques.py)
                    e = sql.SQL("{} COLLATE {}").format(e, sql.SQL(u.collation(i)))
                out.append(e)
            return out

        tmp = sql.Identifier(TEMP)
        known: sql.Composable = sql.SQL("true")
        if u.nulls_distinct:
            known = sql.SQL(" AND ").join(
                sql.SQL("{} IS NOT NULL").format(sql.Identifier(f"v{j}")) for j in kidx
            )
        same = "{} IS NOT DISTINCT FROM d.{}" if not u.nulls_distinct else "{} = d.{}"
        ret = sql.SQL(", ").join(sql.SQL("s.{}").format(sql.Identifier(f"v{j}")) for j in kidx)
        found: list[tuple[Any, ...]] = []
        for cast in (True, False):
            # Grouped (a hash; the join reads nothing when no value repeats), not a window
            # over every row.
            exprs = parts(cast)
            names = [sql.Identifier(f"k{i}") for i in range(len(exprs))]
            query = sql.SQL(
                "DELETE FROM {tmp} s USING (SELECT {keys}, min(_line) AS first FROM {tmp} g "
                "WHERE {known} AND {new_g} GROUP BY {groups} HAVING count(*) > 1) d "
                "WHERE {match} AND s._line <> d.first AND {new_s} RETURNING s._line, d.first, "
                "{ret}"
            ).format(
                tmp=tmp,
                new_g=self._new_key("g", cast) if among_new else sql.SQL("true"),
                new_s=self._new_key("s", cast) if among_new else sql.SQL("true"),
                keys=sql.SQL(", ").join(
                    sql.SQL("{} AS {}").format(e, n) for e, n in zip(exprs, names, strict=True)
                ),
                groups=sql.SQL(", ").join(sql.SQL(str(i + 1)) for i in range(len(exprs))),
                known=known,
                match=sql.SQL(" AND ").join(
                    sql.SQL(same).format(e, n) for e, n in zip(exprs, names, strict=True)
                ),
                ret=ret,
            )
            index = sql.SQL("CREATE UNIQUE INDEX malnu_import_keys ON {} ({}){}").format(
                tmp,
                sql.SQL(", ").join(sql.SQL("({})").format(e) for e in exprs),
                sql.SQL("" if u.nulls_distinct else " NULLS NOT DISTINCT"),
            )
            self.conn.execute("SAVEPOINT malnu_repeats")
            try:
                # A unique index built on the stage proves that no value repeats (a sort: a
                # third of the grouping's time, which then runs only when one does).
                self.conn.execute(index)
            except psycopg.Error:
                # A repeat; a cast an index may not hold (timestamptz's is STABLE); a value
                # not of its type (that row is refused later): the grouping says.
                self.conn.execute("ROLLBACK TO SAVEPOINT malnu_repeats")
            else:
                self.conn.execute("DROP INDEX malnu_import_keys")
                self.conn.execute("RELEASE SAVEPOINT malnu_repeats")
                return []
            try:
                found = self.conn.execute(query).fetchall()
            except psycopg.Error as exc:
                # A value that is not of its type (refused by line later) fails the cast: its
                # text is compared as it is instead.
                if not cast or (exc.sqlstate or "")[:2] != "22":
                    raise
                self.conn.execute("ROLLBACK TO SAVEPOINT malnu_repeats")
                continue
            self.conn.execute("RELEASE SAVEPOINT malnu_repeats")
            break
        found.sort()
        shown_u = replace(u, collations=tuple(shown))
        return [repeat_rejection(self.spec, shown_u, int(r[0]), int(r[1]), r[2:]) for r in found]

    def finish(self, max_rejections: int | None = None) -> WriteOutcome:
        try:
            self._end_copy()
            rejections: list[Rejection] = []
            if self.spec.uniques and self.n:  # a plain insert's: only after COPY was refused
                rejections = self._drop_repeats()
            inserted = changes = 0
            ranges = [(0, self.last_line)] if self.n else []
            stopped = False
            while ranges:
                lo, hi = ranges.pop()
                self.conn.execute("SAVEPOINT malnu_range")
                try:
                    ins, upd = self._insert(lo, hi)
                except psycopg.Error as exc:
                    if (exc.sqlstate or "")[:2] not in ROW_STATES:
                        raise
                    self.conn.execute("ROLLBACK TO SAVEPOINT malnu_range")
                    lines = self._lines_between(lo, hi)
                    if lines[0] == lines[1]:
                        reason = _reason(exc, self._names) + self._maybe_earlier(exc)
                        rejections.append(Rejection(lines[0], self._column(exc), reason, ""))
                        if max_rejections is not None and len(rejections) > max_rejections:
                            # Nothing will commit: the search stops, and the rows not judged
                            # count as the INSERT would take them (the report balances).
                            unjudged = sum(self._lines_between(a, b)[3] for a, b in ranges)
                            inserted += unjudged
                            changes += unjudged
                            stopped = True
                            break
                    else:
                        mid = lines[2]
                        ranges += [(mid + 1, hi), (lo, mid)]  # the first half first: file order
                    continue
                self.conn.execute("RELEASE SAVEPOINT malnu_range")
                inserted += ins
                changes += ins + upd
            accepted = self.n - len(rejections)
            after = self.before + inserted if stopped else self._count()
            ignored_by = self._ignoring_triggers() if changes < accepted else ()
        except psycopg.Error as exc:
            raise self._fail(exc) from None
        ins, upd, skip = counts_from(self.spec.on_conflict, accepted, changes, inserted)
        return WriteOutcome(
            ins,
            upd,
            skip,
            tuple(sorted(rejections, key=lambda r: r.line)),
            self.before,
            after,
            accepted,
            ignored_by,
        )

    def _maybe_earlier(self, exc: psycopg.Error) -> str:
        """A UNIQUE the import does not watch (a partial or expression index, one whose
        columns the file does not all give): PostgreSQL's "already exists" may be of a row an
        earlier line of the import added, as SQLite's refusal says it."""
        if exc.sqlstate != "23505":
            return ""
        m = KEY_DETAIL.search(exc.diag.message_detail or "")
        cols = {c.strip('"') for c in m["cols"].split(", ")} if m else set()
        if any(cols == set(u.columns) for u in self.spec.uniques):
            return ""  # a repeat within the file was taken out first: the table's own
        return ": in the table, or on an earlier line of this import"

    def _column(self, exc: psycopg.Error) -> str:
        """The column a refused row is refused for: PostgreSQL names it for NOT NULL, and in
        the detail of a unique or foreign key violation (``Key (nis)=(…)``), where the rejects
        file's ``column`` was empty (SQLite and D1 named it)."""
        d = exc.diag
        return d.column_name or key_column(d.message_detail, self.spec.columns)

    def _lines_between(self, lo: int, hi: int) -> tuple[int, int, int, int]:
        """First, last and median source line of the staged rows in [lo, hi], and how many."""
        tmp = sql.Identifier(TEMP)
        first_last = self.conn.execute(
            sql.SQL(
                "SELECT min(_line), max(_line), count(*) FROM {} WHERE _line BETWEEN %s AND %s"
            ).format(tmp),
            (lo, hi),
        ).fetchone()
        assert first_last is not None
        first, last, count = int(first_last[0]), int(first_last[1]), int(first_last[2])
        mid = self.conn.execute(
            sql.SQL(
                "SELECT _line FROM {} WHERE _line BETWEEN %s AND %s "
                "ORDER BY _line OFFSET %s LIMIT 1"
            ).format(tmp),
            (lo, hi, (count - 1) // 2),
        ).fetchone()
        assert mid is not None
        return first, last, int(mid[0]), count
