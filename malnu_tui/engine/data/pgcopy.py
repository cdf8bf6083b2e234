"""PostgreSQL chunk writes shared by the import's writer and the sync: a temp staging table,
COPY of rows into any table (COPY text made in C when the values allow), and one
``INSERT … SELECT … ON CONFLICT`` from the staging table that says how many rows it inserted
and how many it updated.

All of it runs inside the caller's transaction; nothing here commits. Identifiers are
composed with :mod:`psycopg.sql` (never pasted from input).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal

import psycopg
from psycopg import sql

from malnu_tui.engine.backends.pg_sql import with_params

Mode = Literal["error", "update", "skip"]
Conn = psycopg.Connection[Any]


def ident_list(names: Iterable[str], prefix: str = "") -> sql.Composed:
    """``"a", "b"`` (``prefix`` e.g. ``"d."`` qualifies each)."""
    return sql.SQL(", ").join(sql.SQL(prefix) + sql.Identifier(n) for n in names)


def create_stage(
    conn: Conn,
    name: str,
    *,
    like: sql.Composable | None = None,
    columns: Sequence[tuple[str, str]] = (),
    on_commit: Literal["drop", "delete rows"] = "drop",
) -> sql.Identifier:
    """A temp table (not WAL-logged, no index) ``name``: ``LIKE`` a table, or with
    ``columns`` as (name, type) pairs — the type text must come from code or the catalog.
    ``IF NOT EXISTS``, so a stage kept across transactions (``delete rows``) is reused."""
    ident = sql.Identifier(name)
    if like is not None:
        body: sql.Composable = sql.SQL("LIKE {}").format(like)
    else:
        body = sql.SQL(", ").join(
            sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(t)) for n, t in columns
        )
    when = sql.SQL("DROP" if on_commit == "drop" else "DELETE ROWS")
    conn.execute(
        sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} ({}) ON COMMIT {}").format(ident, body, when)
    )
    return ident


def copy_text(
    rows: Sequence[Sequence[Any]], width: int, lead: Sequence[int] | None = None
) -> str | None:
    """COPY's text format for ``rows`` made in C (joins, no Python call per row), when every
    value is text needing no escape (no NULL, number, tab, newline, CR or backslash); else None
    (``copy_rows`` then lets psycopg encode each row). ``lead``: a first column of integers
    (e.g. source line numbers) put before each row."""
    if not rows:
        return ""
    try:
        lines = list(map("\t".join, rows))
    except TypeError:
        return None  # NULL or a number: psycopg's write_row encodes those
    body = "\n".join(lines)
    if body.count("\t") != len(lines) * (width - 1) or "\r" in body or "\\" in body:
        return None
    if body.count("\n") != len(lines) - 1:
        return None
    if lead is not None:
        return "".join(map("{}\t{}\n".format, lead, lines))
    return body + "\n"


def copy_rows(
    conn: Conn,
    target: sql.Composable,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    lead: Sequence[int] | None = None,
    copy: Any = None,
) -> int:
    """COPY ``rows`` (tuples in ``columns`` order) into ``target``; returns the count sent.
    ``lead``: values of a first column not in the tuples (``columns`` names it first), e.g.
    the source line of each row. ``copy``: an open ``cursor.copy(...)`` to write into (many
    chunks in one COPY statement); without it one COPY statement is run for these rows."""
    if copy is not None:
        _write(copy, rows, len(rows[0]) if rows else 0, lead)
        return len(rows)
    q = sql.SQL("COPY {} ({}) FROM STDIN").format(target, ident_list(columns))
    copy_in(conn, q, lambda cp: _write(cp, rows, len(columns) - (lead is not None), lead))
    return len(rows)


def copy_in(conn: Conn, statement: sql.Composed, write: Callable[[psycopg.Copy], None]) -> None:
    """Run ``statement`` (a ``COPY … FROM STDIN``), ``write`` sending its data. A signal (Ctrl-C,
    SIGTERM) raised in the exit of psycopg's COPY block, before that block had run its own
    end, left it suspended, holding the connection's lock for the whole COPY: the rollback of
    the caller's transaction then waited for that lock for ever, and a sync stopped in that
    moment hung until it was killed. Its end is run here then (the COPY ended as failed)."""
    with conn.cursor() as cur:
        block = cur.copy(statement)
        try:
            with block as copy:
                write(copy)
        except BaseException:
            block.gen.close()  # (one that ended is left as it is)
            raise


def _write(
    copy: Any, rows: Sequence[Sequence[Any]], width: int, lead: Sequence[int] | None
) -> None:
    text = copy_text(rows, width, lead)
    if text is not None:
        if text:
            copy.write(text)
        return
    write_row = copy.write_row  # psycopg's encoder: NULL, escapes, types
    if lead is None:
        for row in rows:
            write_row(row)
    else:
        for first, row in zip(lead, rows, strict=True):
            write_row((first, *row))


def upsert_sql(
    table: sql.Composable,
    source: sql.Composable,
    columns: Sequence[str],
    key: Sequence[str] = (),
    mode: Mode = "error",
    *,
    values: Sequence[sql.Composable] | None = None,
    where: sql.Composable | None = None,
    order_by: sql.Composable | None = None,
    only_changed: Sequence[str] | None = None,
    compare_as_text: Iterable[str] = (),
    returning: Sequence[sql.Composable] = (),
    tally: Sequence[sql.Composable] = (),
    overriding: bool = False,
) -> sql.Composed:
    """``INSERT INTO table AS d (columns) SELECT values FROM source [WHERE] [ORDER BY]
    [ON CONFLICT (key) DO …]``. ``values``: one expression per column over the source's
    columns (default: the same names; e.g. casts, or ``%s::timestamp`` for a stamp). In
    ``error`` mode (or without a key) a plain INSERT whose rowcount is the rows inserted;
    otherwise it returns one row (inserted, updated), told apart by ``xmax = 0``. ``update``
    sets every non-key column; with ``only_changed`` a row whose compared columns are all
    equal (IS NOT DISTINCT) is left untouched; ``compare_as_text`` columns (e.g. json, which
    has no equality) are compared as text. ``returning``: more expressions over the written
    rows (``d``) for the RETURNING list, and ``tally``: more aggregates over them (``up``,
    ``fresh`` true for a row inserted) after the two counts. ``overriding``: the values given
    for an identity column GENERATED ALWAYS are written, as ``COPY`` writes them (else
    PostgreSQL refuses the statement: "cannot insert a non-DEFAULT value")."""
    exprs = list(values) if values is not None else [sql.Identifier(c) for c in columns]
    body = sql.SQL("INSERT INTO {t} AS d ({cols}){o} SELECT {vals} FROM {src}").format(
        t=table,
        cols=ident_list(columns),
        o=sql.SQL(" OVERRIDING SYSTEM VALUE" if overriding else ""),
        vals=sql.SQL(", ").join(exprs),
        src=source,
    )
    if where is not None:
        body += sql.SQL(" WHERE ") + where
    if order_by is not None:
        body += sql.SQL(" ORDER BY ") + order_by
    if mode == "error" or not key:
        return body
    keys = ident_list(key)
    rest = [c for c in columns if c not in key]
    if mode == "skip" or not rest:
        action: sql.Composable = sql.SQL("DO NOTHING")
    else:
        sets = sql.SQL(", ").join(
            sql.SQL("{c} = excluded.{c}").format(c=sql.Identifier(c)) for c in rest
        )
        action = sql.SQL("DO UPDATE SET ") + sets
        if only_changed:
            astext = set(compare_as_text)

            def side(alias: str) -> sql.Composed:
                return sql.SQL(", ").join(
                    sql.SQL(alias) + sql.Identifier(c) + sql.SQL("::text" if c in astext else "")
                    for c in only_changed
                )

            action += sql.SQL(" WHERE ROW({}) IS DISTINCT FROM ROW({})").format(
                side("d."), side("excluded.")
            )
    return sql.SQL(
        "WITH up AS ({body} ON CONFLICT ({keys}) {action} RETURNING (xmax = 0) AS fresh{ret}) "
        "SELECT count(*) FILTER (WHERE fresh), count(*) FILTER (WHERE NOT fresh){tally} FROM up"
    ).format(
        body=body,
        keys=keys,
        action=action,
        ret=sql.SQL("").join(sql.SQL(", ") + r for r in returning),
        tally=sql.SQL("").join(sql.SQL(", ") + t for t in tally),
    )


def upsert_from(
    conn: Conn,
    table: sql.Composable,
    source: sql.Composable,
    columns: Sequence[str],
    key: Sequence[str] = (),
    mode: Mode = "error",
    *,
    params: Sequence[Any] = (),
    values: Sequence[sql.Composable] | None = None,
    where: sql.Composable | None = None,
    order_by: sql.Composable | None = None,
    only_changed: Sequence[str] | None = None,
    compare_as_text: Iterable[str] = (),
    overriding: bool = False,
) -> tuple[int, int]:
    """Run :func:`upsert_sql` (same arguments; ``params`` for its ``%s``); returns
    (inserted, updated)."""
    q = upsert_sql(
        table,
        source,
        columns,
        key,
        mode,
        values=values,
        where=where,
        order_by=order_by,
        only_changed=only_changed,
        compare_as_text=compare_as_text,
        overriding=overriding,
    )
    cur = conn.execute(with_params(q, conn), tuple(params))
    if mode == "error" or not key:
        return max(cur.rowcount, 0), 0
    row = cur.fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def owned_sequences(
    conn: Conn, table: sql.Composable, columns: Sequence[str]
) -> list[tuple[str, str]]:
    """The serial and identity columns of ``table`` among ``columns``, each with its
    sequence (one round trip, whatever the number of columns)."""
    rows = conn.execute(
        "SELECT c, s FROM unnest(%s::text[]) AS c, pg_get_serial_sequence(%s, c) AS s "
        "WHERE s IS NOT NULL",
        (list(columns), table.as_string(conn)),
    ).fetchall()
    return [(str(c), str(s)) for c, s in rows]


def advance_sequences(
    conn: Conn, table: sql.Composable, owned: Sequence[tuple[str, str]], what: str
) -> list[str]:
    """Move each sequence of ``owned`` (:func:`owned_sequences`) past the largest value its
    column holds (as pgloader does), inside the caller's transaction: PostgreSQL never moves
    it for values given (an import's legacy ids, a sync's copied ones), so the application's
    next INSERT took id 1, 2… again and failed on the primary key (SQLite and D1 take max + 1
    by themselves). Never moved back. A role without UPDATE on a sequence leaves it: the
    warning returned says so, with the ``setval`` to run (``what``: "imported", "synced")."""
    warnings: list[str] = []
    for column, sequence in owned:
        conn.execute("SAVEPOINT malnu_sequence")
        try:
            conn.execute(
                sql.SQL(
                    "SELECT setval(q.seqrelid, m.top) FROM (SELECT max({c})::bigint AS top "
                    "FROM {t}) m, pg_sequence q WHERE q.seqrelid = %s::regclass "
                    "AND q.seqincrement > 0 AND m.top >= COALESCE("
                    "pg_sequence_last_value(q.seqrelid) + q.seqincrement, q.seqstart)"
                ).format(c=sql.Identifier(column), t=table),
                (sequence,),
            )
        except psycopg.errors.InsufficientPrivilege as exc:
            conn.execute("ROLLBACK TO SAVEPOINT malnu_sequence")
            top = f"SELECT max({sql.Identifier(column).as_string(conn)}) FROM "
            warnings.append(
                f"the sequence {sequence} was not moved past the {what} {column} values "
                f"({exc.diag.message_primary}): the next INSERT may take one of them; run "
                f"SELECT setval('{sequence}', ({top}{table.as_string(conn)}));"
            )
        conn.execute("RELEASE SAVEPOINT malnu_sequence")
    return warnings
