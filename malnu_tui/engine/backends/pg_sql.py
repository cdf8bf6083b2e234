"""SQL text for PostgreSQL that psycopg's placeholders do not trip over."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql

if TYPE_CHECKING:
    from malnu_tui.engine.sqlsplit import Statement

__all__ = ["create_schema_if_missing", "error_text", "run_statement", "with_params"]


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


def error_text(exc: psycopg.Error) -> str:
    """A PostgreSQL error as one line: its message, SQLSTATE and detail."""
    diag = exc.diag
    text = diag.message_primary or str(exc).strip()
    if diag.sqlstate:
        text = f"{text} [SQLSTATE {diag.sqlstate}]"
    if diag.message_detail:
        text += f"; {diag.message_detail}"
    return text


def create_schema_if_missing(conn: psycopg.Connection[Any], schema: str) -> None:
    """``CREATE SCHEMA`` only when there is none of that name. ``CREATE SCHEMA IF NOT EXISTS``
    asks for CREATE on the database even when the schema is there, so a role that may create
    tables in its schema (``GRANT CREATE ON SCHEMA public``, a schema made for it) but not
    schemas — PostgreSQL 15's usual grant, Supabase's and RDS's — could not start at all."""
    found = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone()
    if found is None:
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
