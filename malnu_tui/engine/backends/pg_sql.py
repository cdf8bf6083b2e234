"""SQL text for PostgreSQL that psycopg's placeholders do not trip over."""

from __future__ import annotations

import contextlib
import logging
import re
import socket
import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql

from malnu_tui.engine.errors import NO_SCHEMA_ON_PATH, BackendError, MalnuError, StatementFailed
from malnu_tui.engine.secrets import is_failing_row, masked_detail, names_key
from malnu_tui.engine.sqltokens import DOLLAR_TAG

if TYPE_CHECKING:
    from malnu_tui.engine.sqlsplit import Statement

# psycopg logs what it could not tidy up after a lost connection ("error ignored terminating
# <psycopg.Copy [BAD] at 0x7f…>: the connection is lost") as a warning; with no handler,
# Python's last resort printed it on stderr beside the one-line error (and over the console's
# screen). The error raised says what happened; debug mode's own handlers still see it.
logging.getLogger("psycopg").addHandler(logging.NullHandler())

__all__ = [
    "LOCK_NOT_AVAILABLE",
    "answered_within",
    "create_schema_if_missing",
    "do_block_line",
    "error_text",
    "explained",
    "failing_line",
    "lock_holders",
    "run_statement",
    "session_ended",
    "unit_failure",
    "with_params",
]


def run_statement(conn: psycopg.Connection[Any], st: Statement) -> int:
    """Run one statement of a migration file as ``up`` runs it: its text (no parameters:
    psycopg sends it as is, a literal ``%`` too), or a ``COPY … FROM stdin`` with the rows the
    file holds after it. Its row count (-1 when the server gives none)."""
    cur = conn.cursor()
    if st.copy_data is not None:
        with cur.copy(st.text) as copy:
            copy.write(st.copy_data)
    else:
        cur.execute(st.text)  # type: ignore[call-overload]  # the file's text, not a literal
    return cur.rowcount


def with_params(query: sql.Composable | str, conn: psycopg.Connection[Any]) -> str:
    """``query`` as the text for an ``execute()`` WITH parameters: each ``%`` inside its
    identifiers and literals doubled. psycopg reads every ``%`` of such a query as a
    placeholder's, its own quoting of a name included (psycopg's issue #581), so a column
    named ``Grade %`` broke every statement with a parameter that named it. The SQL parts are
    left as written: their ``%`` is the author's (``%s``, or ``%%`` for the operator)."""
    if isinstance(query, str):
        return query
    if isinstance(query, sql.Composed):
        return "".join(with_params(part, conn) for part in query)
    text = query.as_string(conn)
    return text.replace("%", "%%") if isinstance(query, sql.Identifier | sql.Literal) else text


# The CONTEXT of an error raised inside a DO block: the body's line it ran (line 1 is what
# follows the opening dollar quote), the outermost frame being the DO's own.
_DO_CONTEXT = re.compile(r"^PL/pgSQL function inline_code_block line (\d+) ", re.MULTILINE)
_DO_BODY = re.compile(
    r"^\s*DO\s+(?:LANGUAGE\s+(?:plpgsql|\"plpgsql\")\s+)?" + DOLLAR_TAG.pattern,
    re.IGNORECASE,
)


def do_block_line(text: str, context: str | None) -> int | None:
    """How many lines below a ``DO`` statement's first line its PL/pgSQL body failed, read
    from the error's CONTEXT (``PL/pgSQL function inline_code_block line 4 at SQL
    statement``); None for another statement, or an error without that frame."""
    if not context or (body := _DO_BODY.match(text)) is None:
        return None
    frames = _DO_CONTEXT.findall(context)
    if not frames:
        return None
    return text[: body.end()].count("\n") + int(frames[-1]) - 1


def failing_line(st: Statement, exc: psycopg.Error) -> int:
    """The file's line of what failed in ``st``: the server's position in the statement (a
    function body's syntax error included), or the line of a DO block's body that failed;
    else the statement's first line."""
    pos = exc.diag.statement_position
    if pos and pos.isdigit():  # the server's 1-based character position inside the statement
        return st.line + st.text[: int(pos) - 1].count("\n")
    below = do_block_line(st.text, exc.diag.context)
    return st.line + (below or 0)


def error_text(exc: psycopg.Error, columns: tuple[str, ...] | None = None) -> str:
    """A PostgreSQL error as one line: its message, SQLSTATE and detail (a secret column's
    values in "Key (token)=(…)" masked; the refused row, "Failing row contains (…)" in any
    language, left out where the table's ``columns`` hold a secret, and where they are not
    given: a catch-all's, the run log's, the debug log's know no table)."""
    diag = exc.diag
    text = diag.message_primary or str(exc).strip()
    if diag.sqlstate:
        text = f"{text} [SQLSTATE {diag.sqlstate}]"
    if diag.message_detail:
        detail = masked_detail(
            diag.message_detail, columns or (), sqlstate=diag.sqlstate, row_unknown=columns is None
        )
        text += f"; {detail}"
    return text + session_ended(exc)


def _detail_columns(conn: Any, exc: psycopg.Error) -> tuple[str, ...]:
    """The columns of the table whose row PostgreSQL's detail "Failing row contains (…)"
    spells out (a CHECK or NOT NULL that refused a data migration's UPDATE), or whose key's
    values it names (``Key (id)=(…)``: Laravel's sessions' id is a secret by its table's
    shape, :func:`.secrets.secret_by_shape`), read once the transaction is rolled back; ()
    when there is no such detail or the table is gone."""
    d = exc.diag
    detail = d.message_detail or ""
    if not (is_failing_row(detail, d.sqlstate) or names_key(detail)) or not d.table_name:
        return ()
    try:
        rows = conn.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) "
            "AND attnum > 0 AND NOT attisdropped",
            (sql.Identifier(d.schema_name or "public", d.table_name).as_string(conn),),
        ).fetchall()
    except psycopg.Error:
        return ()
    return tuple(str(r[0]) for r in rows)


@contextlib.contextmanager
def answered_within(conn: psycopg.Connection[Any], seconds: float) -> Iterator[list[bool]]:
    """Within the block, the server must answer in ``seconds`` (0: no limit), or the
    connection's socket is shut down, which ends the wait with an error; the list it gives
    holds True then. For the first query after connecting: a server that lets a client in and
    then answers nothing (stuck, or a pooler with no server connection free) is as unreachable
    as one that does not answer the connection, and no timeout of the server's applies."""
    fired = [False]
    if seconds <= 0:
        yield fired
        return

    def cut() -> None:
        fired[0] = True
        with contextlib.suppress(OSError):
            sock = socket.socket(fileno=conn.pgconn.socket)  # the socket itself, borrowed
            try:
                sock.shutdown(socket.SHUT_RDWR)
            finally:
                sock.detach()  # the connection keeps its descriptor

    timer = threading.Timer(seconds, cut)
    timer.daemon = True
    timer.start()
    try:
        yield fired
    finally:
        timer.cancel()
        timer.join()


def session_ended(exc: psycopg.Error) -> str:
    """Why a session was ended by the server (SQLSTATE 57P01, admin_shutdown:
    ``pg_terminate_backend``, or a server stop), as the end of a message; "" otherwise."""
    if exc.diag.sqlstate != "57P01":
        return ""
    return (
        "; the server ended this session: an administrator, a server restart or failover, or, "
        "for a session that held the migration lock, another operator's `malnu-tui unlock` "
        "(see `malnu-tui log --action unlock`)"
    )


def create_schema_if_missing(conn: psycopg.Connection[Any], schema: str) -> None:
    """``CREATE SCHEMA`` only when there is none of that name. ``CREATE SCHEMA IF NOT EXISTS``
    asks for CREATE on the database even when the schema is there, so a role that may create
    tables in its schema (``GRANT CREATE ON SCHEMA public``, a schema made for it) but not
    schemas — PostgreSQL 15's usual grant, Supabase's and RDS's — could not start at all."""
    found = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone()
    if found is None:
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))


def lock_holders(conn: Any, tables: Sequence[str] | None = None, *, any_mode: bool = False) -> str:
    """The other sessions (clients, not autovacuum) holding locks on ``tables`` — with None,
    an ACCESS EXCLUSIVE lock on any relation of the database (what stops a backup reading),
    or with ``any_mode`` a lock of any mode there (what stops a migration's ALTER: an
    application idle in a transaction that read the table) — as ``pid 4242 (application,
    user, state)``, for a message; "" when there are none."""
    mode = "" if any_mode else "l.mode = 'AccessExclusiveLock' AND "
    where = (
        "l.relation = ANY(%s::regclass[])"
        if tables is not None
        else f"{mode}l.relation IS NOT NULL AND l.database = "
        "(SELECT oid FROM pg_database WHERE datname = current_database())"
    )
    if tables is not None and not tables:
        return ""
    try:
        rows = conn.execute(
            "SELECT DISTINCT a.pid, a.application_name, a.state, a.usename FROM pg_locks l "
            "JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.granted "
            f"AND l.pid <> pg_backend_pid() AND a.backend_type = 'client backend' AND {where} "
            "ORDER BY a.pid",
            () if tables is None else (list(tables),),
        ).fetchall()
    except psycopg.Error:
        return ""  # a table dropped meanwhile: what runs next says what happens
    return ", ".join(
        f"pid {pid} ({app or 'no application_name'}, {user}, {state})"
        for pid, app, state, user in rows[:5]
    ) + (f" and {len(rows) - 5} more" if len(rows) > 5 else "")


LOCK_NOT_AVAILABLE = "55P03"  # lock_timeout ran out (or NOWAIT)


def explained(conn: Any, failure: StatementFailed, exc: psycopg.Error) -> StatementFailed:
    """``failure`` with what the server can say of its cause, read once the migration's
    transaction is rolled back: for a statement that gave up on a lock (``lock_timeout``), the
    sessions that hold locks in the database now (an application idle in a transaction, as a
    rule); for one the role may not run (``must be owner of table …``, ``permission denied
    for schema …``), the role the tool runs as and the object's owner; for a name found
    nowhere, a ``search_path`` that names no schema. The failing row of a table holding a
    secret is left out (a users table's UPDATE: it printed the password hashes). Else
    ``failure``."""
    if not conn.closed and (columns := _detail_columns(conn, exc)):
        error = error_text(exc, columns)
        if error != error_text(exc):
            failure = StatementFailed(
                failure.filename, failure.line, failure.statement, error, failure.left
            )
    if conn.closed or exc.sqlstate not in (LOCK_NOT_AVAILABLE, INSUFFICIENT_PRIVILEGE, *_NOWHERE):
        return failure
    if exc.sqlstate in _NOWHERE:
        facts = _nowhere(conn)
    elif exc.sqlstate == INSUFFICIENT_PRIVILEGE:
        facts = _privilege_facts(conn, exc.diag.message_primary or "")
    else:
        holders = lock_holders(conn, any_mode=True)
        facts = f"sessions holding locks in this database now: {holders}" if holders else ""
    if not facts:
        return failure
    error = f"{failure.error}; {facts}"
    return StatementFailed(failure.filename, failure.line, failure.statement, error, failure.left)


INSUFFICIENT_PRIVILEGE = "42501"
# undefined_table, invalid_schema_name ("no schema has been selected to create in")
_NOWHERE = ("42P01", "3F000")


def _nowhere(conn: Any) -> str:
    """Why an unqualified name found nothing, when the session's ``search_path`` (the role's
    or the database's: ``ALTER ROLE … SET search_path``) names no schema that exists."""
    try:
        row = conn.execute("SELECT current_schema(), current_setting('search_path')").fetchone()
    except psycopg.Error:
        return ""
    if row is None or row[0] is not None:
        return ""
    return f"this session's search_path ({row[1] or 'empty'}) {NO_SCHEMA_ON_PATH}"


# PostgreSQL's words for an object the role does not own, with the catalog query of its owner.
_OWNER_OF = re.compile(
    r"^must be owner of (?:(table|view|materialized view|index|sequence|relation|foreign table)"
    r"|(schema)) (.+)$"
)
_POLICY = re.compile(r'^query would be affected by row-level security policy for table "(.+)"$')
_OWNER_SQL = (
    "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = to_regclass(quote_ident(%s))",
    "SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = %s",
)


def _quoted(name: str) -> str:
    """A role's name as SQL writes it (pg_session.sql_name, which imports this module)."""
    return name if re.fullmatch(r"[a-z_][a-z0-9_]*", name) else '"' + name.replace('"', '""') + '"'


def _privilege_facts(conn: Any, message: str) -> str:
    """``tool role app; table students belongs to postgres`` ("" when nothing can be read)."""
    try:
        role = conn.execute("SELECT current_user").fetchone()[0]
        facts = f"the tool runs as role {role}"
        rls = _POLICY.match(message)
        if rls:  # (pg_rowsec.py: a migration runs with row_security = off)
            row = conn.execute(_OWNER_SQL[0], (rls[1],)).fetchone()
            owner = str(row[0]) if row and row[0] else ""
            way = f"as a superuser, `ALTER ROLE {_quoted(role)} BYPASSRLS;`"
            if owner == role:
                way = (
                    f"as its owner, `ALTER TABLE {_quoted(rls[1])} NO FORCE ROW LEVEL "
                    f"SECURITY;` (or in the migration, before its statements), or {way}"
                )
            else:
                way += f", or run the migrations as the table's owner (role {owner or '…'})"
            return (
                f"{facts}, which row level security lets see only some of the rows of "
                f"{rls[1]}: {way}"
            )
        m = _OWNER_OF.match(message)
        if m:
            row = conn.execute(_OWNER_SQL[bool(m[2])], (m[3],)).fetchone()
            if row and row[0]:
                facts += f", and {m[1] or m[2]} {m[3]} belongs to role {row[0]}"
    except psycopg.Error:
        return ""
    return facts


def unit_failure(
    conn: Any,
    where: tuple[str, str],
    filename: str,
    statements: Sequence[Statement],
    failure: StatementFailed | None,
    recorded: bool,
    exc: psycopg.Error,
) -> MalnuError:
    """What a migration's transaction ending in ``exc`` was (``where``: the target's masked
    URL and tool schema): a statement's failure (``failure``, :func:`explained`), a COMMIT
    the server ended or refused (``recorded``: its tracking row was written), or a tracking
    row that could not be written, its statements having run."""
    url, schema = where
    if failure is not None:
        return explained(conn, failure, exc)
    if recorded and conn.closed:  # the session ended while it committed
        return BackendError(
            f"{url}: {filename}: the connection was lost at its COMMIT ({error_text(exc)}): "
            "whether it committed is not known",
            hint="once the server answers, `malnu-tui status` shows whether it is applied (its "
            "tracking row commits with it, or not at all); then run `up` again, which runs it "
            "only if it is not",
        )
    if recorded:  # the COMMIT failed: a DEFERRABLE constraint is checked only then
        from malnu_tui.engine.sqlsplit import Statement

        last = statements[-1] if statements else Statement("", 1)
        error = f"at its COMMIT (deferred constraints are checked then): {error_text(exc)}"
        return StatementFailed(filename, last.line, last.text, error)
    if conn.closed:  # the server ended the session (a restart, a timeout of its own)
        return BackendError(
            f"{url}: {filename}: the connection was lost before its tracking row was written "
            f"({error_text(exc)}); nothing of it was committed",
            hint="the server ended the session (a restart, a failover, an administrator): "
            "once it answers, `malnu-tui status` shows what stands, then run it again",
        )
    # Its statements ran; writing its tracking or audit row failed (a file that drops the
    # tool's own schema or tables, a role without rights on them): all rolled back.
    return BackendError(
        f"{url}: {filename} ran, but its tracking row could not be written: "
        f"{error_text(exc)}; all of it was rolled back",
        hint=f"a migration must not drop or alter the tool's tables (schema {schema!r}); the "
        "tool's role needs INSERT, UPDATE and DELETE on them",
    )
