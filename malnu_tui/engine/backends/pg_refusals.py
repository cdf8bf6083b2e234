"""What the server lets the tool's PostgreSQL session do, said before anything is written: a
read-only session (a hot standby, ``default_transaction_read_only``), row level security (a
sync's and an import's sessions read and write every row, or are refused), a privilege the
role lacks (the tool's tables made by another role, no TEMPORARY on the database). Each
refusal is a :class:`NotPermitted` (exit 2) whose hint says what to grant or change, naming
the role the session acts as (:func:`~.pg_session.role_name`)."""

from __future__ import annotations

import contextlib
import re
from typing import Any

import psycopg

from malnu_tui.engine.backends.pg_session import role_name, sql_name
from malnu_tui.engine.backends.pg_sql import error_text
from malnu_tui.engine.errors import BackendError, NotPermitted

__all__ = [
    "every_row",
    "policy_refusal",
    "read_only_state",
    "refusal",
    "refuse_read_only",
    "row_security_hint",
    "write_refusal",
]


def every_row(conn: psycopg.Connection[Any], *, local: bool = False) -> None:
    """Row level security off for this session, as pg_dump sets it: a read or write that a
    policy would narrow for this role fails (``query would be affected by row-level security
    policy for table …``, :func:`row_security_hint`) instead of seeing some of the rows. For
    the sessions of a sync and an import, which copy every row: a role subject to a policy
    read half a table, and the sync deleted the other half from its copy and said verified.
    A superuser, a ``BYPASSRLS`` role and a table's owner (unless FORCE) are not affected.
    ``local``: for the current transaction only (an import into the console's connection)."""
    conn.execute("SELECT set_config('row_security', 'off', %s)", (local,))


# Whether policies of the table an error names cannot be this role's (a superuser, BYPASSRLS,
# or its owner without FORCE): they are those of the role it was read as, a view's owner.
_NOT_MINE = """
SELECT (SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user)
    OR EXISTS (SELECT 1 FROM pg_class c WHERE c.relname = %s AND c.relrowsecurity
               AND NOT c.relforcerowsecurity AND pg_has_role(c.relowner, 'USAGE'))
"""


def _policy_table(exc: psycopg.Error, conn: psycopg.Connection[Any] | None) -> str | None:
    """The table :func:`every_row`'s refusal names ("" when it names none); None for another
    error. A server speaking another language says it in its own words, the table's name
    quoted (privileges' refusals leave theirs bare): taken when it is a table under row level
    security (the catalog read, where the session still reads)."""
    message = exc.diag.message_primary or ""
    if exc.sqlstate != "42501":
        return None
    if "row-level security" in message:
        table = re.search(r'for table "([^"]+)"', message)
        return table[1] if table else ""
    marks = _QUOTES.replace(" ", "")
    names = re.findall(rf"[{marks}]\s?([^{marks}\s]+)\s?[{marks}]", message)
    secured = False
    with contextlib.suppress(psycopg.Error, AttributeError):
        found = conn.execute(  # type: ignore[union-attr]
            "SELECT EXISTS (SELECT FROM pg_class WHERE relname = %s AND relrowsecurity)",
            (names[0] if len(names) == 1 else "",),
        ).fetchone()
        secured = bool(found and found[0])
    return names[0] if secured else None


def row_security_hint(
    exc: psycopg.Error, conn: psycopg.Connection[Any] | None = None, view_owner: str = ""
) -> str | None:
    """The way out of :func:`every_row`'s refusal, naming the role of ``conn`` (None for any
    other error); when the policies cannot be that role's (it reads every row), the view's
    (``view_owner``, when known) it was read through."""
    table = _policy_table(exc, conn)
    if table is None:
        return None
    quoted = role_name(conn)
    not_mine = None
    with contextlib.suppress(psycopg.Error, AttributeError):  # (an aborted transaction)
        row = conn.execute(_NOT_MINE, (table,)).fetchone()  # type: ignore[union-attr]
        not_mine = bool(row and row[0])
    if not_mine:
        owner = sql_name(view_owner) if view_owner else "…"
        return (
            f"role {quoted or '…'} reads every row, but the table was read through a view, "
            f"as the view's owner{f' (role {owner})' if view_owner else ''}, whose policies "
            f"apply: as a superuser, `ALTER ROLE {owner} BYPASSRLS;`, or have the view read "
            "as the role querying it (`ALTER VIEW … SET (security_invoker = on);`, "
            "PostgreSQL 15+)"
        )
    return (
        f"row level security would hide rows of this table from role {quoted or '…'}, or "
        "refuse some of its writes, and a sync, an import or a count reads every row or none: as a "
        f"superuser, `ALTER ROLE {quoted or '…'} BYPASSRLS;`, or connect as the table's owner "
        "(with `ALTER TABLE … NO FORCE ROW LEVEL SECURITY` where it is forced on the owner too)"
    )


def policy_refusal(
    where: str,
    exc: psycopg.Error,
    conn: psycopg.Connection[Any] | None = None,
    view_owner: str = "",
) -> NotPermitted | None:
    """:func:`every_row`'s refusal as the error to raise (exit 2, :func:`row_security_hint`
    its hint), said of ``where``; None for any other error."""
    hint = row_security_hint(exc, conn, view_owner)
    if hint is None:
        return None
    return NotPermitted(f"{where}: {exc.diag.message_primary}", hint=hint)


_DENIED = re.compile(r"^permission denied for (table|schema) (.+)$")


_NO_TEMP = "permission denied to create temporary tables in database"
# A name as a translated message quotes it: »name«, "name", « name », „name“…
_QUOTES = "\"'»«„“”‘’‹› "


def _no_temp(exc: psycopg.Error, conn: psycopg.Connection[Any] | None) -> bool:
    """Whether ``exc`` refuses a TEMPORARY table: by its English words, or (a server speaking
    another language says them in its own) the one insufficient-privilege error naming the
    database in quotes (``aclcheck``'s "… for database x" leaves it bare)."""
    message = exc.diag.message_primary or ""
    if exc.sqlstate != "42501" or message.startswith(_NO_TEMP):
        return exc.sqlstate == "42501" and message.startswith(_NO_TEMP)
    db = ""
    with contextlib.suppress(psycopg.Error, AttributeError):
        db = conn.info.dbname if conn is not None else ""
    return bool(db) and re.search(rf"[^\w\s]{re.escape(db)}[^\w\s]", message) is not None


# Whether this session's role lacks what the GRANT would give: a privilege (not ownership).
_LACKS = """
SELECT CASE WHEN %(kind)s = 'schema' THEN NOT has_schema_privilege(%(name)s, 'USAGE')
  ELSE NOT (has_table_privilege(c.oid, 'SELECT') AND has_table_privilege(c.oid, 'INSERT')
            AND has_table_privilege(c.oid, 'UPDATE') AND has_table_privilege(c.oid, 'DELETE'))
  END
FROM (SELECT) one LEFT JOIN pg_class c ON c.relname = %(name)s
  AND c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = %(schema)s)
"""


def _denied(
    exc: psycopg.Error, schema: str, conn: psycopg.Connection[Any] | None = None
) -> tuple[str, str] | None:
    """``("table" | "schema", name)`` of an insufficient-privilege error on a table or a
    schema. A server speaking another language says it in its own words (``keine
    Berechtigung für Tabelle migrations``), the name last: taken when it is one of the tool's
    tables or the target's ``schema`` (what a GRANT would be guessed for otherwise: a
    sequence, a function, a view), and the role lacks the privilege (the catalog read, where
    the session reads): the owner's refusals share the SQLSTATE (``Berechtigung nur für
    Eigentümer der Tabelle migrations``), and a GRANT the role already has was named."""
    from malnu_tui.engine.backends.pg_tables import TOOL_TABLES

    message = exc.diag.message_primary or ""
    if exc.sqlstate != "42501":
        return None
    english = _DENIED.match(message)
    if english is not None:
        return english[1], english[2]
    words = message.split()
    name = words[-1].strip(_QUOTES) if words else ""
    found = ("schema", name) if name and name == schema else ("table", name)
    if found[0] == "table" and name not in TOOL_TABLES:
        return None
    lacks = None
    with contextlib.suppress(psycopg.Error, AttributeError):  # (unread: the GRANT named)
        row = conn.execute(  # type: ignore[union-attr]
            _LACKS, {"kind": found[0], "name": name, "schema": schema}
        ).fetchone()
        lacks = row[0] if row else None
    return None if lacks is False else found


def write_refusal(
    where: str, exc: psycopg.Error, conn: psycopg.Connection[Any] | None = None
) -> NotPermitted | None:
    """A write the role may not make, as the error to raise (exit 2): :func:`policy_refusal`'s,
    or no TEMPORARY on the database (a hardened server's `REVOKE TEMP … FROM PUBLIC`), where
    an import's or a sync's rows are staged; None for any other error."""
    refused = policy_refusal(where, exc, conn)
    message = exc.diag.message_primary or ""
    if refused is not None or not _no_temp(exc, conn):
        return refused
    db = sql_name(conn.info.dbname) if conn is not None else "…"
    return NotPermitted(
        f"{where}: {message}",
        hint=f"an import or a sync stages its rows in a temporary table: as the database's "
        f"owner, GRANT TEMPORARY ON DATABASE {db} TO {role_name(conn) or '…'};",
    )


def refusal(
    where: str, exc: psycopg.Error, conn: psycopg.Connection[Any], schema: str
) -> NotPermitted | None:
    """A read the role may not make, as the error to raise (exit 2) with the GRANT that lets
    it: :func:`write_refusal`'s, or ``permission denied for table migrations`` (the tool's
    tables made by another role: its rights are the tool's to need, in ``schema``, the
    target's); None for any other error."""
    refused = write_refusal(where, exc, conn)
    m = _denied(exc, schema, conn)
    if refused is not None or m is None:
        return refused
    from malnu_tui.engine.backends.pg_tables import TOOL_TABLES

    role = role_name(conn) or "…"
    if m[0] == "schema":
        grant = f"GRANT USAGE ON SCHEMA {sql_name(m[1])} TO {role};"
    elif m[1] in TOOL_TABLES:  # the three every target has, and the sync's where it is one
        named = dict.fromkeys((*TOOL_TABLES[:3], m[1]))
        tables = ", ".join(f"{sql_name(schema)}.{t}" for t in named)
        grant = f"GRANT SELECT, INSERT, UPDATE, DELETE ON {tables} TO {role};"
    else:
        grant = f"GRANT SELECT ON TABLE {sql_name(m[1])} TO {role};"
    return NotPermitted(
        f"{where}: {exc.diag.message_primary} (role {role})",
        hint=f"as the owner of the tables (the role that made them) or a superuser: {grant}",
    )


# Where default_transaction_read_only = on comes from (pg_settings.source): how to say it, and
# what turns it off.
_READ_ONLY_FROM = {
    "user": (
        "for role {role}",
        "ALTER ROLE {role} RESET default_transaction_read_only;",
    ),
    "database": (
        "for database {db}",
        "ALTER DATABASE {db} RESET default_transaction_read_only;",
    ),
    "database user": (
        "for role {role} in database {db}",
        "ALTER ROLE {role} IN DATABASE {db} RESET default_transaction_read_only;",
    ),
    "configuration file": (
        "in the server's configuration",
        "ALTER SYSTEM RESET default_transaction_read_only; SELECT pg_reload_conf(); (or "
        "its line in postgresql.conf)",
    ),
    "client": (
        "by this connection's options",
        "leave -c default_transaction_read_only=on out of PGOPTIONS (or the URL's options=)",
    ),
}


def read_only_state(conn: psycopg.Connection[Any]) -> tuple[str, str] | None:
    """Why this session cannot write, and what turns that off: a hot standby (a read
    replica), or ``default_transaction_read_only = on`` (for the role, the database, the
    server — as Supabase sets it on a database whose disk is full), said where it was set;
    None when it can. :class:`psycopg.Error` as the server raises it."""
    row = conn.execute(
        "SELECT pg_is_in_recovery(), current_setting('transaction_read_only') = 'on', "
        "(SELECT source FROM pg_settings WHERE name = 'default_transaction_read_only'), "
        "current_database()"
    ).fetchone()
    if row is None or not (row[0] or row[1]):
        return None
    standby, _read_only, source, db = row
    if standby:
        return (
            "a hot standby (a read replica, in recovery)",
            "point the target at the primary server (a replica serves `status`, `check` "
            "and backups only)",
        )
    names = {
        "role": sql_name(conn.info.user) or "…",  # a role's settings are the login role's
        "db": sql_name(str(db)),
    }
    said, how = _READ_ONLY_FROM.get(
        str(source), (f"({source})", "SET default_transaction_read_only = off where it is set")
    )
    return (
        f"read-only (default_transaction_read_only = on {said.format(**names)})",
        f"as a superuser: {how.format(**names)} — Supabase sets it on a database whose disk "
        "is full: free space, or grow the disk, first",
    )


def refuse_read_only(conn: psycopg.Connection[Any], where: str) -> None:
    """:class:`NotPermitted` when this session cannot write (:func:`read_only_state`). Asked
    before the lock is taken: a write there failed only after the safety backup, and its
    failure could not be recorded either ("the database stopped answering")."""
    try:
        state = read_only_state(conn)
    except psycopg.Error as exc:
        raise BackendError(f"{where}: {error_text(exc)}") from None
    if state is None:
        return
    what, hint = state
    if what.startswith("a hot standby"):
        message = f"{where} is {what}: it takes no writes; nothing was changed"
    else:
        message = f"{where}: this session is {what}; nothing was changed"
    raise NotPermitted(message, hint=hint)
