"""The PostgreSQL side's plumbing and its key aggregates (a base of
:class:`.side_postgres.PostgresSide`): the key span, the per-range key aggregates, and the
whole-table key fingerprint an incremental sync compares — taken before its writes in a
snapshot of its own, plus the fingerprint of the keys its upserts insert."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from malnu_tui.engine.backends.pg_refusals import write_refusal
from malnu_tui.engine.backends.pg_sql import session_ended, with_params
from malnu_tui.engine.backends.sqlite_sql import quote_ident
from malnu_tui.engine.errors import BackendError
from malnu_tui.engine.secrets import is_failing_row, masked_detail
from malnu_tui.engine.sync.copy_refused import relaxed_hint
from malnu_tui.engine.sync.copytext import (
    DIGEST_CLOSE,
    DIGEST_OPEN,
    DIGEST_SINCE,
    pg_digest_sql,
    pg_line_sql,
)
from malnu_tui.engine.sync.model import Row, TableShape, row_text
from malnu_tui.engine.sync.side import (
    RESIDUE,
    Fingerprint,
    add_fingerprints,
    fingerprint_sql,
    fingerprint_terms,
    no_fingerprint,
)

__all__ = [
    "LONG_KEY_HINT",
    "PostgresKeys",
    "UpsertProof",
    "failing_row",
    "ident_text",
    "long_index_value",
    "pg_error",
]


# A value the destination's column does not take (its type: class 22) or a constraint refuses
# (class 23): the source's data, not the sync, has to change.
_DATA_ERRORS = (psycopg.errors.DataError, psycopg.errors.IntegrityError)
_TOO_WIDE = (psycopg.errors.StringDataRightTruncation, psycopg.errors.NumericValueOutOfRange)
_DATA_HINT = (
    "the destination's column does not take this value (its type or a constraint): correct "
    "the row at the source, then sync again (chunks written before it stay, and the next "
    "sync resumes after them)"
)
# A key (or another index's value) over what a B-tree index entry holds: a long URL, path or
# token as a key. PostgreSQL's message names a heap tuple, no key, and said nothing to do.
LONG_KEY_HINT = (
    "PostgreSQL's B-tree index takes a value of at most 2,704 bytes (after compression), and "
    "a row holds a longer one in the key (or in another index of the copy): key the table "
    "at the source by something shorter (an id, or a hash of the long text), or leave the "
    "table out with --tables"
)


def long_index_value(exc: psycopg.Error) -> bool:
    """Whether ``exc`` is PostgreSQL's "index row size … exceeds btree … maximum": the
    program limit error that names the index (its constraint name; a server speaking another
    language says the words in its own), the English words where no index is named."""
    message = exc.diag.message_primary or ""
    return isinstance(exc, psycopg.errors.ProgramLimitExceeded) and (
        bool(exc.diag.constraint_name) or message.startswith("index row size")
    )


# COPY's context: ``COPY t, line 7, column n: "x"``; a server speaking another language says
# the words in its own (``COPY t, Zeile 7, Spalte n: »x«``; ``ligne 7, colonne n : « x »``).
_COPY_LINE = re.compile(r"^COPY .*?, \w+ (\d+)(?:, \w+ (.+?) ?: )?", re.MULTILINE)


def ident_text(name: str, conn: psycopg.Connection[Any]) -> str:
    """``name`` quoted, as text to paste into a statement run with parameters (``%``
    doubled: see :func:`malnu_tui.engine.backends.pg_sql.with_params`)."""
    return sql.Identifier(name).as_string(conn).replace("%", "%%")


def pg_error(
    label: str,
    exc: psycopg.Error,
    *,
    writing: bool = False,
    row_named: bool = False,
    hint: str | None = None,
    conn: psycopg.Connection[Any] | None = None,
    columns: tuple[str, ...] = (),
) -> BackendError:
    """A PostgreSQL error as the sync's BackendError, with its message and detail (and, when
    ``writing`` source rows met a value the destination refuses, what to do). With
    ``row_named`` (the label names the row by its key) PostgreSQL's "Failing row contains
    (…)" is left out: every value of the row, which the message and the audit trail need not
    hold (a password hash, say). A secret column's value in the detail's ``Key (…)=(…)``
    is masked (a copy's UNIQUE ``remember_token``), and the failing row's values of a table
    of ``columns`` that holds a secret left out (:func:`.secrets.masked_detail`)."""
    diag = exc.diag
    text = diag.message_primary or str(exc).strip()
    detail = masked_detail(diag.message_detail or "", columns, sqlstate=diag.sqlstate)
    if detail and not (row_named and is_failing_row(diag.message_detail or "", diag.sqlstate)):
        text += f"; {detail}"
    if writing and isinstance(exc, _DATA_ERRORS):
        hint = hint or _DATA_HINT
    if long_index_value(exc):
        hint = hint or LONG_KEY_HINT
    refused = write_refusal(label, exc, conn)
    if refused is not None:
        return refused
    said = BackendError(f"{label}: {text}{session_ended(exc)}", hint=hint)
    said.sqlstate = diag.sqlstate
    return said


def failing_row(
    shape: TableShape,
    rows: Sequence[Row],
    exc: psycopg.Error,
    dest: str = "",
    copy_type: Callable[[str], str | None] | None = None,
) -> tuple[str, str | None]:
    """``, row id=7, column n`` naming the source row a chunk's write of ``rows`` stopped at:
    the line its COPY names (a chunk's COPY has one line per row, in order), or, for a NULL
    that a NOT NULL column refuses, the first row holding NULL there; "" when neither says.
    With it, a hint of its own for the value when one applies (:func:`number_as_time_hint`;
    a NULL the source's column allows: the statement that lets the copy, ``dest``, take it;
    a value too long or too large for the copy's column, ``copy_type`` of it, that the
    source's type takes: the statement that widens it)."""
    if not isinstance(exc, _DATA_ERRORS):
        return "", None
    diag = exc.diag
    found = _COPY_LINE.search(diag.context or "")
    row: Row | None = None
    column = found[2] if found and found[2] else diag.column_name
    if found and 1 <= int(found[1]) <= len(rows):
        row = rows[int(found[1]) - 1]
    elif isinstance(exc, psycopg.errors.NotNullViolation) and column in shape.names:
        i = shape.names.index(column)
        row = next((r for r in rows if r[i] is None), None)
    elif "NUL (0x00)" in str(exc):  # refused by psycopg before it is sent: no line, no column
        found_nul = _nul_text(shape, rows)
        if found_nul is not None:
            row, column = found_nul
            key = row_text(shape, row)
            c, t = quote_ident(column), quote_ident(shape.name)
            return f", row {key}, column {column}", (
                "PostgreSQL text cannot hold the NUL character: remove it at the source, e.g. "
                f"UPDATE {t} SET {c} = replace({c}, char(0), '') WHERE instr({c}, char(0)); "
                "then sync again"
            )
    if row is None:
        return "", None
    key = row_text(shape, row)
    hint = None
    if column in shape.names:
        value = row[shape.names.index(column)]
        hint = number_as_time_hint(shape, column, value) or blob_as_text_hint(shape, column, value)
    if column in shape.key and isinstance(exc, psycopg.errors.NotNullViolation):
        hint = _null_key_hint(shape, column)
    elif isinstance(exc, psycopg.errors.NotNullViolation) and dest and column:
        relax = f"ALTER TABLE {dest} ALTER COLUMN {quote_ident(column)} DROP NOT NULL"
        hint = relaxed_hint(shape, column, f"let the copy take NULL: {relax}")
    elif isinstance(exc, _TOO_WIDE) and dest and column and copy_type is not None:
        hint = _widen_hint(shape, column, copy_type(column), dest) or hint
    return f", row {key}" + (f", column {column}" if column else ""), hint


def _roomier(pg_type: str) -> str | None:
    """A type that takes every value of ``pg_type``'s kind that SQLite keeps under a declared
    type of that name (any length, any digits, a 64-bit integer); None when there is none."""
    own = pg_type.split("(", 1)[0].strip().lower()
    if own in ("character varying", "character"):
        return "text"
    if own == "numeric":
        return "numeric"
    return "bigint" if own in ("smallint", "integer") else None


def _widen_hint(shape: TableShape, column: str, there: str | None, dest: str) -> str | None:
    """What to do about a value the copy's column (of type ``there``) is too narrow for,
    where the source's type differs (``varchar(20)`` widened to ``varchar(100)``, ``integer``
    to ``bigint`` at the source since the copy was made): the statement that widens the
    copy's. Where the types agree, the source holds what its own declared type does not
    (SQLite and D1 keep a 12-character text under ``NVARCHAR(10)``, 123456789.5 under
    ``NUMERIC(10,2)``, 40000 under ``SMALLINT``): the statement that gives the copy a type
    that takes it (it said to correct the row at the source, the application's data)."""
    c = shape.column(column)
    if c is None or there is None:
        return None
    if there == c.pg_type:
        roomier = _roomier(there)
        if roomier is None:
            return None
        return (
            f"the copy's {column} is {there}, as the source declares it, but the source does "
            f"not hold its values to it (SQLite and D1 keep any length, digits or size under a "
            f"declared type): let the copy take them, ALTER TABLE {dest} ALTER COLUMN "
            f"{quote_ident(column)} TYPE {roomier}; then sync again (chunks written before it "
            "stay, and the next sync resumes after them), or correct the row at the source"
        )
    return (
        f"the copy's {column} is {there}, the source's {c.pg_type} (widened at the source "
        f"since the copy was made?): let the copy take it, ALTER TABLE {dest} ALTER COLUMN "
        f"{quote_ident(column)} TYPE {c.pg_type}; then sync again (chunks written before it "
        "stay, and the next sync resumes after them)"
    )


def _null_key_hint(shape: TableShape, column: str) -> str:
    """What to do about a source row whose key ``column`` is NULL: a key from a UNIQUE index
    on a column that allows NULL (a UNIQUE column takes any number of them), or a SQLite
    PRIMARY KEY that is no INTEGER one (SQLite lets such a key be NULL)."""
    c, t = quote_ident(column), quote_ident(shape.name)
    return (
        f"{column} is the key the sync matches rows by, and rows holding NULL there cannot be "
        f"told apart (a UNIQUE column takes any number of NULLs): give each a value at the "
        f"source (UPDATE {t} SET {c} = … WHERE {c} IS NULL), or give the table a primary key; "
        "or leave the table out with --tables"
    )


def _nul_text(shape: TableShape, rows: Sequence[Row]) -> tuple[Row, str] | None:
    """The first row of ``rows`` with a text holding NUL, and its column."""
    for r in rows:
        for name, v in zip(shape.names, r, strict=True):
            if type(v) is str and "\x00" in v:
                return r, name
    return None


def number_as_time_hint(shape: TableShape, column: str, value: object) -> str | None:
    """What to do when a SQLite source holds a number in a date/time column (SQLite keeps
    whatever it is given: an application's ``unixepoch()``, ``Date.now()`` or ``julianday()``)
    that the destination's timestamp or date refuses: the statement that stores it at the
    source as the text the other rows hold. None for any other value."""
    col = shape.column(column)
    if col is None or col.kind not in ("ts", "tstz", "date") or type(value) not in (int, float):
        return None
    c, t = quote_ident(column), quote_ident(shape.name)
    fn = "date" if col.kind == "date" else "datetime"
    number = float(value)  # type: ignore[arg-type]
    if type(value) is float and 1_000_000 <= number < 5_373_484.5:
        what, expr = "a Julian day number", f"{fn}({c})"
    elif abs(number) >= 100_000_000_000:
        what, expr = "Unix milliseconds", f"{fn}({c} / 1000, 'unixepoch')"
    else:
        what, expr = "Unix seconds", f"{fn}({c}, 'unixepoch')"
    # Prisma's SQLite connector writes its DateTime as Unix milliseconds and reads no text
    # ("Inconsistent column data: Conversion failed"): the statement alone would break it.
    prisma = (
        " — unless the application reads them only as numbers: Prisma's SQLite DateTime is "
        "Unix milliseconds and fails on text, so leave such a table out with --tables (the "
        "copy cannot take them)"
        if what == "Unix milliseconds"
        else ""
    )
    return (
        f"{column} holds a number ({value!r}: {what}?) where the other rows hold text and the "
        f"destination takes a {'date' if col.kind == 'date' else 'timestamp'}: store such "
        f"values at the source as text, e.g. UPDATE {t} SET {c} = {expr} WHERE "
        f"typeof({c}) IN ('integer', 'real'); then sync again{prisma}"
    )


def blob_as_text_hint(shape: TableShape, column: str, value: object) -> str | None:
    """What to do when a SQLite source holds a BLOB of UTF-8 text in a column whose copy
    takes a date, time or number (bytes an application bound for it: Python's sqlite3 stores
    ``b'…'`` so): the statement that stores it at the source as that text. PostgreSQL's
    message shows it as bytea's text (``\\x32303235…``), which said nothing of a BLOB. None for
    any other value."""
    col = shape.column(column)
    if col is None or col.kind in ("bytes", "text", "json") or type(value) is not bytes:
        return None
    try:
        text = value.decode()
    except UnicodeDecodeError:
        return None
    c, t = quote_ident(column), quote_ident(shape.name)
    shown = text if len(text) <= 40 else text[:40] + "…"
    return (
        f"{column} holds a BLOB (the text {shown!r} as bytes, as an application's bytes "
        f"parameter stores it) where its copy takes {col.pg_type}: store such values "
        f"at the source as their text, e.g. UPDATE {t} SET {c} = CAST({c} AS TEXT) WHERE "
        f"typeof({c}) = 'blob'; then sync again"
    )


@dataclass(frozen=True)
class UpsertProof:
    """What one upsert of a stage wrote and left alone, as the destination stored it
    (:meth:`PostgresKeys.prove_writes`)."""

    rows: int  # rows written (inserted or updated)
    digest: str | None  # digest of their COPY text lines, in key order (None: no row)
    left: tuple[int, ...]  # the staged keys it left alone (equal already)
    left_digest: str | None  # digest of those rows' lines as they are stored, in key order


class PostgresKeys:
    """Plumbing and key aggregates over ``conn`` (tables in ``schema``)."""

    conn: psycopg.Connection[tuple[Any, ...]]
    schema: str
    label: str
    # table → the fingerprint of the keys its upserts inserted (None: a write deleted rows)
    _fresh: dict[str, Fingerprint | None]
    # table → (rows, digest) its last upsert wrote (see prove_writes)
    _prove: dict[str, UpsertProof | None]
    _notnull: dict[str, frozenset[str]]  # table → its NOT NULL columns
    _partitioned: dict[str, bool]  # table → partitioned (see _from)

    def _t(self, table: str) -> sql.Composed:
        return sql.SQL("{}.{}").format(sql.Identifier(self.schema), sql.Identifier(table))

    def _from(self, table: str) -> sql.Composed:
        """``table`` as a read names it: ``ONLY`` its own rows. A table others inherit from
        (``INHERITS``, each synced on its own) held their rows too, so they were copied twice,
        and its key, not unique across them, could repeat; a partitioned table has no rows of
        its own: its partitions' are its rows (they are not synced on their own)."""
        if table not in self._partitioned:
            kind = self._rows(
                "SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)",
                (self._t(table).as_string(self.conn),),
            )
            self._partitioned[table] = bool(kind) and kind[0][0] == "p"
        if self._partitioned[table]:
            return self._t(table)
        return sql.SQL("ONLY {}").format(self._t(table))

    def _rows(
        self, query: sql.Composable | str, params: Sequence[Any] = ()
    ) -> list[tuple[Any, ...]]:
        try:
            return self.conn.execute(with_params(query, self.conn), params).fetchall()  # type: ignore[arg-type]
        except psycopg.Error as exc:
            raise pg_error(self.label, exc, conn=self.conn) from None

    def key_span(self, shape: TableShape) -> tuple[Any, Any] | None:
        q = sql.SQL("SELECT min({k}), max({k}) FROM {t}").format(
            k=sql.Identifier(shape.key[0]), t=self._from(shape.name)
        )
        lo, hi = self._rows(q)[0]
        return None if lo is None else (lo, hi)

    def bucket_digests(
        self, shape: TableShape, base: int, width: int, buckets: int
    ) -> tuple[int, dict[int, tuple[int, int, int, int]]]:
        # Every row falls in a group (one outside the buckets makes a group of its own).
        q = sql.SQL(
            "SELECT ({k} - %s - 1) / %s, count(*), sum(({k} - %s) %% %s), min({k}), max({k}) "
            "FROM {t} GROUP BY 1"
        ).format(k=sql.Identifier(shape.key[0]), t=self._from(shape.name))
        rows = self._rows(q, (base, width, base, RESIDUE))
        out = {int(i): (int(n), int(t), int(lo), int(hi)) for i, n, t, lo, hi in rows}
        return sum(v[0] for v in out.values()), out

    def key_fingerprint(self, shape: TableShape) -> Fingerprint | None:
        k = sql.Identifier(shape.key[0]).as_string(self.conn) + "::int8"  # (% doubled below)
        q = sql.SQL("SELECT " + fingerprint_sql(k).replace("%", "%%") + " FROM {}").format(
            self._from(shape.name)
        )  # type: ignore[arg-type]
        n, *sums = self._rows(q)[0]
        return int(n), tuple(int(v or 0) for v in sums)

    def count_fresh_keys(self, table: str) -> None:
        """From now on, keep the key fingerprint of the rows the upserts into ``table`` insert
        (one integer key column): :meth:`fresh_keys` returns it."""
        self._fresh[table] = no_fingerprint()

    def fresh_keys(self, table: str) -> Fingerprint | None:
        """The key fingerprint of the rows inserted since :meth:`count_fresh_keys` (and stop
        keeping it); None when it was not kept, or a write deleted rows meanwhile."""
        return self._fresh.pop(table, None)

    def key_fingerprint_before(
        self, shape: TableShape, taken: threading.Event
    ) -> Fingerprint | None:
        """:meth:`key_fingerprint` in a snapshot of its own: ``taken`` is set once the snapshot
        is taken (what other connections commit after it is not counted)."""
        try:
            # One process: parallel workers only add to what the sync's own writes wait for.
            self.conn.execute("SET max_parallel_workers_per_gather = 0")
            self.conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
            self._rows("SELECT 1")  # the snapshot is taken by the first statement
        except psycopg.Error as exc:
            raise pg_error(self.label, exc) from None
        finally:
            taken.set()
        try:
            return self.key_fingerprint(shape)
        finally:
            self.conn.execute("COMMIT")

    def prove_writes(self, table: str) -> None:
        """From now on, each upsert into ``table`` (one integer key column) also returns the
        COPY text digest of the rows it wrote, as it stored them: :meth:`written_digest`. Not
        when the table has a trigger or a rule of its own: what RETURNING shows is the row
        before its AFTER triggers (which may change it again) and rules run, so such a
        table's written rows are read back (the road without this)."""
        name = self._t(table).as_string(self.conn)
        (rewrites,) = self._rows(
            "SELECT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = %s::regclass "
            "AND NOT tgisinternal) OR EXISTS (SELECT 1 FROM pg_rewrite "
            "WHERE ev_class = %s::regclass AND rulename <> '_RETURN')",
            (name, name),
        )[0]
        if not rewrites and self.conn.info.server_version >= DIGEST_SINCE:
            self._prove[table] = None

    def written_digest(self, table: str) -> UpsertProof | None:
        """What the last upsert into ``table`` wrote and left alone (and forget it); None
        when not kept."""
        found = self._prove.get(table)
        if table in self._prove:
            self._prove[table] = None
        return found

    def _upsert_extras(
        self, shape: TableShape, stage: sql.Composable
    ) -> tuple[list[sql.Composable], list[sql.Composable]]:
        """The upsert's extra RETURNING expressions and aggregates: the inserted keys'
        fingerprint (:meth:`count_fresh_keys`), then the written rows' digest
        (:meth:`prove_writes`)."""
        fresh, prove = self._fresh.get(shape.name) is not None, shape.name in self._prove
        if not (fresh or prove):
            return [], []
        returning: list[sql.Composable] = [
            sql.SQL("d.{} AS malnu_key").format(sql.Identifier(shape.key[0]))
        ]
        tally: list[sql.Composable] = []
        if fresh:
            k = sql.SQL("up.malnu_key::int8").as_string(self.conn)
            tally += [
                sql.SQL("coalesce(sum(" + t.replace("%", "%%") + ") FILTER (WHERE fresh), 0)")  # type: ignore[arg-type]
                for t in fingerprint_terms(k)
            ]
        if prove:
            cols = ["d." + sql.Identifier(c).as_string(self.conn) for c in shape.names]
            notnull = self._notnull.get(shape.name, frozenset())
            line = pg_line_sql(
                cols, [c.kind for c in shape.columns], [c in notnull for c in shape.names]
            )
            returning.append(sql.SQL(line.replace("%", "%%") + " AS malnu_line"))  # type: ignore[arg-type]
            tally.append(
                sql.SQL(
                    pg_digest_sql("string_agg(malnu_line, E'\\n' ORDER BY malnu_key) || E'\\n'")
                )  # type: ignore[arg-type]
            )
            key = sql.Identifier(shape.key[0])
            alone = sql.SQL(
                "(SELECT s.{k} FROM {stage} s WHERE s.{k} NOT IN (SELECT malnu_key FROM up))"
            ).format(k=key, stage=stage)
            # Only when the stage holds more rows than it wrote (PostgreSQL runs a
            # subquery in an untaken CASE branch not at all).
            some = sql.SQL("CASE WHEN count(*) < (SELECT count(*) FROM {stage}) THEN ").format(
                stage=stage
            )
            tally.append(
                some
                + sql.SQL("(SELECT array_agg({k}) FROM {alone} a) END").format(k=key, alone=alone)
            )
            # The rows it left alone, as they are stored (the statement's snapshot: untouched
            # by it), printed the same way: proved without reading them back.
            kept = pg_line_sql(
                ["k." + c.removeprefix("d.") for c in cols],
                [c.kind for c in shape.columns],
                [c in notnull for c in shape.names],
            )
            tally.append(
                some
                + sql.SQL("(SELECT " + DIGEST_OPEN + "string_agg(")  # type: ignore[arg-type]
                + sql.SQL(kept.replace("%", "%%"))  # type: ignore[arg-type]
                + sql.SQL(
                    ", E'\\n' ORDER BY k.{k}) || E'\\n'" + DIGEST_CLOSE + " FROM {t} k "
                    "WHERE k.{k} IN {alone}) END"
                ).format(k=key, t=self._from(shape.name), alone=alone)
            )
        return returning, tally

    def _upsert_done(self, shape: TableShape, row: Sequence[Any]) -> None:
        """Take the upsert's result row (inserted, updated, then the extras)."""
        fresh = self._fresh.get(shape.name)
        if fresh is not None:
            mine = (int(row[0]), tuple(int(v) for v in row[2:4]))
            self._fresh[shape.name] = add_fingerprints(fresh, mine)
        if shape.name in self._prove:
            left = tuple(int(k) for k in row[-2] or ())
            self._prove[shape.name] = UpsertProof(int(row[0]) + int(row[1]), row[-3], left, row[-1])
