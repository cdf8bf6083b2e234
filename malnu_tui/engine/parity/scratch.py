"""Running translated statements on a real PostgreSQL server, in a scratch schema that is always
rolled back: what ``plan --check`` and ``parity`` use to know that a translation is good.

Every emitted statement runs in order, each under a savepoint so that one rejection does not hide
the next. Each rejection becomes an error :class:`Finding` with the SQLite file, line and
PostgreSQL's message; a rejection that only follows from an earlier one (the table it needs was
itself rejected) says which statement it depends on.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql

from malnu_tui.engine.concurrently import (
    ConcurrentUnit,
    classify,
    is_concurrent,
    without_concurrently,
)
from malnu_tui.engine.errors import BackendError, ConfigError, NotPermitted
from malnu_tui.engine.sqlsplit import Statement
from malnu_tui.engine.translate import FileTranslation, Finding
from malnu_tui.engine.translate.model import NOT_CHECKED

__all__ = ["check_statements", "check_translations", "connect", "run_each", "scratch_schema"]

_MISSING = re.compile(r'(?:relation|table|view|index|function) "?([^"\s]+)"? does not exist')
_CREATES = re.compile(
    r"^\s*(?:CREATE|ALTER)\s+(?:OR\s+REPLACE\s+)?(?:UNIQUE\s+)?(?:TABLE|VIEW|INDEX|FUNCTION)\s+"
    r"(?:IF\s+NOT\s+EXISTS\s+)?\"?([^\s\"(]+)\"?(?:\s+RENAME\s+TO\s+\"?([^\s\"]+)\"?)?",
    re.IGNORECASE,
)
REJECTED = "PostgreSQL rejected"
_ADD_VALUE = re.compile(
    r"^\s*ALTER\s+TYPE\s+.+?\s+ADD\s+VALUE\s+(?:IF\s+NOT\s+EXISTS\s+)?'((?:[^']|'')*)'",
    re.IGNORECASE | re.DOTALL,
)
_NEW_VALUE = re.compile(r'new value "(.*)" of enum type')
# The first name a translated message quotes (»a«, "a", « a », „a“): where a server speaking
# another language says the words around it in its own (Relation »a« existiert nicht).
_QUOTED = re.compile(r'[»"«„“]\s?([^»«"„“”]+?)\s?[«"»“”]')
_NAMES_MISSING = ("42P01", "42883")  # undefined_table (a view, an index's), undefined_function


def _said_name(
    exc: psycopg.Error, message: str, english: re.Pattern[str], codes: tuple[str, ...]
) -> str | None:
    """The name ``english`` finds in ``message``; where the server says it in another
    language, the first name it quotes, for an error of one of ``codes``."""
    m = english.search(message)
    if m is not None:
        return m[1]
    quoted = _QUOTED.search(message) if exc.sqlstate in codes else None
    return quoted[1] if quoted else None


# A trigger function as the translation writes it (translate/triggers.py), and its trigger.
_TRIGGER_FUNCTION = re.compile(
    r'^CREATE OR REPLACE FUNCTION ("(?:[^"]|"")+")\(\) RETURNS trigger LANGUAGE plpgsql AS '
    r"\$fn\$\nBEGIN\n(?P<body>.*)\nEND\n\$fn\$$",
    re.DOTALL,
)
_TRIGGER = re.compile(
    r'^CREATE (?:OR REPLACE )?TRIGGER "(?:[^"]|"")+" .*? ON (?P<table>"(?:[^"]|"")+") '
    r'FOR EACH ROW .*EXECUTE FUNCTION (?P<fn>"(?:[^"]|"")+")\(\)$',
    re.DOTALL,
)
_BODY_STATEMENT = re.compile(r"^\s*((?:INSERT|UPDATE|DELETE|WITH)\b.*);$", re.IGNORECASE)
_BODY_ASSIGNMENT = re.compile(r'^\s*NEW\."(?:[^"]|"")+" := (.*);$')
_ROW = re.compile(r"\b(?:new|old)\.", re.IGNORECASE)


def connect(url: str, application: str = "malnu-tui parity") -> psycopg.Connection[Any]:
    """A connection to the server at ``url`` (tool options removed, password masked in errors)
    with the session every connection of the tool's has (pg_session.tool_session): the URL's
    ``statement_timeout`` and ``lock_timeout`` (10 s by default), never the role's; a
    `plan --check` or `parity` killed in a long statement ends at the server too. Without
    them, `parity --live` waited for ever behind another session's lock (a live column's
    default that reads a table, evaluated to be compared)."""
    from malnu_tui.engine.backends.pg_session import (
        bad_connection_string,
        connect_options,
        tool_session,
    )
    from malnu_tui.engine.urls import (
        URL_SETTING_HINT,
        check_timeout,
        mask_url,
        mask_url_error,
        split_tool_options,
    )

    libpq_url, opts = split_tool_options(url)
    statement_timeout = check_timeout("statement_timeout", opts.statement_timeout)
    lock_timeout = check_timeout("lock_timeout", opts.lock_timeout)
    try:
        conn = psycopg.connect(
            libpq_url, application_name=application, **connect_options(libpq_url)
        )
    except psycopg.Error as exc:
        why = mask_url_error(str(exc), url)
        if bad_connection_string(exc):
            raise ConfigError(
                f"cannot connect to {mask_url(url)}: {why}", hint=URL_SETTING_HINT
            ) from None
        raise BackendError(f"cannot connect to {mask_url(url)}: {why}") from None
    try:
        tool_session(conn, statement_timeout, lock_timeout)
    except psycopg.Error as exc:
        conn.close()
        raise BackendError(f"{mask_url(url)}: {mask_url_error(str(exc), url)}") from None
    return conn


@contextmanager
def scratch_schema(
    conn: psycopg.Connection[Any], *, server_path: bool = False, server_first: bool = False
) -> Iterator[str]:
    """A fresh schema, the only one on the search path, inside a transaction that is always
    rolled back: nothing is left behind and no real table can be reached by an unqualified
    name. ``server_path`` (a throwaway server: no database the tool manages) keeps the
    server's own search path after it, as ``up`` has it: a file that creates
    ``public.profiles`` and then names ``profiles`` finds it."""
    name = f"malnu_scratch_{uuid.uuid4().hex[:12]}"
    try:
        with conn.transaction(force_rollback=True):
            conn.execute("SET LOCAL lock_timeout = '5s'")
            conn.execute("SET LOCAL TimeZone = 'UTC'")
            try:
                conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
            except psycopg.errors.InsufficientPrivilege as exc:
                from malnu_tui.engine.backends.pg_session import role_name, sql_name

                db = sql_name(conn.info.dbname)
                raise NotPermitted(
                    f"cannot create a scratch schema on database {conn.info.dbname}: "
                    f"{exc.diag.message_primary}",
                    hint=f"GRANT CREATE ON DATABASE {db} TO {role_name(conn) or '…'}; (the "
                    "scratch schema is rolled back, nothing is left), or --postgres a server "
                    "where the role may create schemas",
                ) from None
            path = sql.Identifier(name).as_string(conn)
            if server_path:
                row = conn.execute("SELECT current_setting('search_path')").fetchone()
                if row and row[0] and server_first:  # bare names land where `up` puts them
                    path = f"{row[0]}, {path}"
                elif row and row[0]:
                    path += f", {row[0]}"
            else:  # a live database: only its schemas of extensions (Supabase's `extensions`)
                from malnu_tui.engine.live_guard import extension_only_path

                extensions = extension_only_path(conn)
                path += f", {extensions}" if extensions else ""
            conn.execute("SELECT set_config('search_path', %s, true)", (path,))
            yield name
    except psycopg.errors.ReadOnlySqlTransaction:  # a replica, a read-only role: said so
        from malnu_tui.engine.backends.pg_refusals import refuse_read_only

        refuse_read_only(conn, f"database {conn.info.dbname}")
        raise


def run_each(
    conn: psycopg.Connection[Any],
    file: str,
    statements: Iterable[tuple[int, str] | Statement],
    findings: list[Finding],
    failed: dict[str, tuple[str, int]] | None = None,
) -> int:
    """Run ``(line, text)`` PostgreSQL statements (or :class:`Statement` values, ``COPY …
    FROM stdin`` data included) in order, each under a savepoint; append a finding per
    rejection. ``failed`` (name → where) follows objects whose creation was rejected, so that
    their knock-on rejections name the root. Returns how many ran."""
    failed = {} if failed is None else failed
    ran = 0
    added: set[str] = set()  # enum values this file adds (ALTER TYPE … ADD VALUE)
    bodies: dict[str, str] = {}  # trigger functions created here (name → body)
    items = list(statements)
    # A CONCURRENTLY file (`up` runs it outside a transaction) may hold a VACUUM, which runs
    # there but never inside this rolled-back transaction: not tried, with a note.
    outside = isinstance(
        classify([i if isinstance(i, Statement) else Statement(i[1], i[0]) for i in items]),
        ConcurrentUnit,
    )
    for item in items:
        line, text = (item.line, item.text) if isinstance(item, Statement) else item
        data = item.copy_data if isinstance(item, Statement) else None
        st = Statement(text, line)
        if outside and without_concurrently(st) is None and not is_concurrent(st):
            findings.append(_not_vacuumed(file, line))  # a VACUUM (a REINDEX: noted below)
            continue
        if "CONCURRENTLY" in text.upper() and is_concurrent(Statement(text, line)):
            # Never inside this rolled-back transaction: the plain form is checked, and the
            # output says so instead of passing the concurrent build off as tried.
            plain = without_concurrently(Statement(text, line))
            findings.append(_not_built(file, line, plain is not None))
            if plain is None:
                continue
            text = plain.text
        ran += 1
        if (m_add := _ADD_VALUE.match(text)) is not None:
            added.add(m_add[1].replace("''", "'"))
        try:
            with conn.transaction():
                if data is not None:
                    with conn.cursor().copy(text) as copy:
                        copy.write(data)
                else:
                    conn.execute(text)
            if (m_fn := _TRIGGER_FUNCTION.match(text)) is not None:
                bodies[m_fn[1]] = m_fn["body"]
            elif (m_tr := _TRIGGER.match(text)) is not None and m_tr["fn"] in bodies:
                _check_trigger_body(conn, file, line, bodies[m_tr["fn"]], m_tr["table"], findings)
        except psycopg.Error as exc:
            message = (exc.diag.message_primary or str(exc)).strip()
            new_value = _said_name(exc, message, _NEW_VALUE, ("55P04",))
            if new_value is not None and exc.sqlstate == "55P04" and new_value not in added:
                findings.append(_enum_value_unchecked(file, line, message))
                continue
            m = _CREATES.match(text)
            if m:
                failed[(m[2] or m[1]).lower()] = (file, line)
            missing = _said_name(exc, message, _MISSING, _NAMES_MISSING)
            root = failed.get(missing.lower()) if missing else None
            if root is not None and root != (file, line):
                findings.append(
                    Finding(
                        file, line, "depends on a rejected statement",
                        f"{message} (its statement, {root[0]}:{root[1]}, was rejected)",
                        "fix that statement first", "error",
                    )
                )  # fmt: skip
                continue
            findings.append(
                Finding(
                    file, line, REJECTED, message,
                    "the translation is wrong here: report it, or write a "
                    "PostgreSQL-specific migration",
                )
            )  # fmt: skip
    return ran


def _check_trigger_body(
    conn: psycopg.Connection[Any],
    file: str,
    line: int,
    body: str,
    table: str,
    findings: list[Finding],
) -> None:
    """PL/pgSQL checks a statement of a function's body only when it first runs it: a
    translated trigger whose body names a column PostgreSQL does not have, or reads a bigint as
    a condition, was created and passed, then failed at the table's first write. Each body
    statement (and each value assigned to NEW) is analysed by PREPARE, never run, with NEW and
    OLD standing as a NULL row of the trigger's table; a refusal is a finding on the trigger."""
    row = f"(NULL::{table})."
    for body_line in body.splitlines():
        m = _BODY_STATEMENT.match(body_line)
        query = m[1] if m else None
        if query is None and (a := _BODY_ASSIGNMENT.match(body_line)) is not None:
            query = f"SELECT {a[1]}"
        if query is None:
            continue
        try:
            with conn.transaction():
                conn.execute(f"PREPARE malnu_trigger_check AS {_ROW.sub(row, query)}")
                conn.execute("DEALLOCATE malnu_trigger_check")
        except psycopg.Error as exc:
            message = (exc.diag.message_primary or str(exc)).strip()
            findings.append(
                Finding(
                    file, line, REJECTED, f"the trigger's body: {message}",
                    "PostgreSQL would refuse it at the table's first write: the translation "
                    "is wrong here, report it or write a PostgreSQL-specific migration",
                )
            )  # fmt: skip
            return


def _refuse_live_reach(
    conn: psycopg.Connection[Any], files: Sequence[tuple[str, Sequence[Statement]]]
) -> bool:
    """On a database the tool manages (live data: its audit table is there), a set that names
    one of its schemas is refused before anything runs (engine/live_guard.py), as ``test``
    refuses it: in the rolled-back transaction the live tables it names would stay locked for
    the check's length, and sequences move for good. Returns whether the tool manages it."""
    from malnu_tui.engine.errors import MigrationFileError
    from malnu_tui.engine.live_guard import is_managed, live_reach_of

    with conn.transaction(force_rollback=True):
        managed = is_managed(conn)
        reach = live_reach_of(files, conn) if managed else None
    if reach is not None:
        raise MigrationFileError(
            reach.file,
            f"names {reach.what}, a schema of the live database this check would run on: "
            "nothing was run (its tables would stay locked while the check runs); pass "
            "--postgres URL of a throwaway server to check this set",
            line=reach.line,
        )
    return managed


def _names_server_path(
    conn: psycopg.Connection[Any], files: Sequence[tuple[str, Sequence[Statement]]]
) -> bool:
    """Whether the set names a schema of the server's search path (``public.todos`` beside a
    bare ``todos``, as Supabase's and drizzle-kit's files are written): its bare names then
    mean that schema, as ``up`` has them, and the check puts them there (in its transaction,
    rolled back), not in the scratch schema, where ``public.todos`` found no table."""
    from malnu_tui.engine.live_guard import names_objects_in, path_schemas

    with conn.transaction(force_rollback=True):
        on_path = path_schemas(conn)
    return bool(on_path) and names_objects_in(files, on_path)


def _enum_value_unchecked(file: str, line: int, message: str) -> Finding:
    """An enum value an earlier migration adds, used here: PostgreSQL refuses it until the
    migration that adds it commits, and the check commits nothing (``up`` commits each
    migration, so there it runs)."""
    return Finding(
        file, line, NOT_CHECKED,
        f"{message}: the value is added by an earlier migration, which this check (one "
        "transaction, rolled back) never commits; up commits each migration, so it runs there",
        "test --postgres or rehearse run it for real",
        "note",
    )  # fmt: skip


def _not_vacuumed(file: str, line: int) -> Finding:
    return Finding(
        file, line, "VACUUM",
        "not run: the check runs in a transaction that is rolled back, where VACUUM cannot "
        "run (it changes no schema)",
        "up runs this CONCURRENTLY file outside a transaction, where it runs", "note",
    )  # fmt: skip


def _not_built(file: str, line: int, checked: bool) -> Finding:
    how = (
        "checked as the same statement without CONCURRENTLY"
        if checked
        else "not run (a REINDEX changes no schema)"
    )
    return Finding(
        file, line, "CONCURRENTLY",
        f"{how}: the check runs in a transaction that is rolled back, where CONCURRENTLY "
        "cannot run, so the concurrent build itself was not tried here",
        "up runs the file outside a transaction; rehearse or test --postgres try it for real",
        "note",
    )  # fmt: skip


def check_translations(
    translations: Sequence[FileTranslation], postgres_url: str
) -> tuple[list[Finding], int]:
    """Run every emitted statement of ``translations`` in order in a scratch schema on the
    server at ``postgres_url``; returns the rejections (as error findings) and how many
    statements ran."""
    files = [
        (ft.file, [Statement(text, st.line) for st in ft.statements for text in st.output])
        for ft in translations
    ]
    return check_statements(files, postgres_url)


def check_statements(
    files: Sequence[tuple[str, Sequence[Statement]]], postgres_url: str
) -> tuple[list[Finding], int]:
    """Run PostgreSQL statements, file by file and in order, in a scratch schema on the server
    at ``postgres_url``; returns the rejections (as error findings) and how many ran."""
    findings: list[Finding] = []
    failed: dict[str, tuple[str, int]] = {}
    ran = 0
    conn = connect(postgres_url, "malnu-tui plan --check")
    try:
        managed = _refuse_live_reach(conn, files)
        first = not managed and _names_server_path(conn, files)
        with scratch_schema(conn, server_path=not managed, server_first=first):
            for file, statements in files:
                ran += run_each(conn, file, statements, findings, failed)
    except psycopg.Error as exc:
        raise BackendError(f"check: PostgreSQL error: {exc}") from None
    finally:
        conn.close()
    return findings, ran
