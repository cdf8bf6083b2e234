"""Migrations and row level security. A data migration (``UPDATE siswa SET kelas = …``) run
by a role a policy narrows (not the table's owner, or its owner under FORCE ROW LEVEL
SECURITY, and no BYPASSRLS) touched only the rows the policy showed it, and was recorded as
applied: the other students kept the old value, and nothing said so. A migration's
transaction therefore runs with ``row_security = off`` (:data:`EVERY_ROW`, as pg_dump and the
tool's sync and import run): PostgreSQL raises instead of filtering. A statement that would be
refused is said by the preflight and again before the lock and the safety backup
(:func:`narrowed_refusal`), exit 2, with the way out. The tool's own tables under a policy
that hides rows from its role are refused when they are opened
(:func:`refuse_narrowed_tool_tables`)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, NamedTuple

import psycopg

from malnu_tui.engine.backends.pg_refusals import row_security_hint
from malnu_tui.engine.backends.pg_session import role_name, sql_name
from malnu_tui.engine.errors import BackendError, NotPermitted
from malnu_tui.engine.sqlsplit import Statement, strip_comments

__all__ = [
    "AS_POLICIES",
    "EVERY_ROW",
    "Narrowed",
    "history_hidden",
    "narrowed_refusal",
    "narrowed_tables",
    "reads_rows",
    "refuse_narrowed",
    "refuse_narrowed_tool_tables",
    "refuse_tool_tables_every_row",
]

# For the migration's transaction only (SET LOCAL): through a transaction-mode pooler a
# session setting would stay on the server connection the application gets next.
EVERY_ROW = "SELECT set_config('row_security', 'off', true)"
AS_POLICIES = "SELECT set_config('row_security', 'on', true)"  # the tool's own rows after it

# Tables a policy applies to for the current role (PostgreSQL's check_enable_rls): row level
# security on, the role not BYPASSRLS (nor a superuser), and not the owner (nor a member with
# its privileges) unless FORCE applies it to the owner too; with some right on the table
# (without one the statement fails for that, and is said so).
_NARROWED = """
SELECT n.nspname, c.relname, pg_get_userbyid(c.relowner),
       n.nspname = ANY (current_schemas(false)), pg_has_role(c.relowner, 'USAGE')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relrowsecurity AND c.relkind IN ('r', 'p')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND (c.relforcerowsecurity OR NOT pg_has_role(c.relowner, 'USAGE'))
  AND NOT (SELECT rolbypassrls OR rolsuper FROM pg_roles WHERE rolname = current_user)
  AND has_schema_privilege(n.oid, 'USAGE')
  AND has_table_privilege(c.oid, 'SELECT, INSERT, UPDATE, DELETE')
"""
# Of those, the ones pg_dump reads the rows of: plain tables (a partitioned table's rows are
# its partitions', each under its own policies), not temporary, not an extension's.
_DUMPED = """
  AND c.relkind = 'r' AND c.relpersistence <> 't'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = c.oid AND d.deptype = 'e')
"""

# Statements that read or write a table's rows (a policy applies to them): DML, a DO block or
# a procedure, a table or materialized view made from a query. Other DDL of a table is the
# owner's to run (a non-owner is refused for that, and told so); a foreign key's checks are
# not subject to policies.
_ROWS_FIRST = {"SELECT", "INSERT", "UPDATE", "DELETE", "MERGE", "WITH", "COPY", "DO", "CALL"}
_ROWS_FIRST |= {"REFRESH", "VALUES", "TABLE"}
_CREATE_AS = re.compile(r"\bAS\s*\(?\s*(?:SELECT|WITH|TABLE|VALUES)\b", re.IGNORECASE)
_VIEWS_ROUTINES = re.compile(
    r"^CREATE\s+(?:OR\s+REPLACE\s+)?(?:TEMP\s+|TEMPORARY\s+|RECURSIVE\s+)*"
    r"(?:VIEW|FUNCTION|PROCEDURE|TRIGGER|RULE)\b",
    re.IGNORECASE,
)
_STRING = re.compile(r"'(?:[^']|'')*'")
_REFERENCES = re.compile(
    r'\bREFERENCES\s+(?:(?:"(?:[^"]|"")+"|\w+)\s*\.\s*)?(?:"(?:[^"]|"")+"|\w+)', re.IGNORECASE
)


def reads_rows(st: Statement) -> bool:
    """Whether ``st`` reads or writes rows of the tables it names (see ``_ROWS_FIRST``)."""
    words = st.first_words.split()
    if not words:
        return False
    if words[0] in _ROWS_FIRST:
        return True
    text = strip_comments(st.text).strip()
    return (
        words[0] == "CREATE" and not _VIEWS_ROUTINES.match(text) and bool(_CREATE_AS.search(text))
    )


# Where a table's name stands alone in a statement that reads or writes it (a column of the
# same name, `SET siswa = …`, is not it). What this misses PostgreSQL still refuses.
_TABLE_PLACE = r"(?:(?i:\b(?:FROM|JOIN|INTO|UPDATE|USING|TABLE|ONLY|COPY))|,)\s*"


def _names(table: tuple[str, str, bool], *, placed: bool = True) -> re.Pattern[str]:
    """How a statement names ``(schema, table, on the search_path)``: qualified, or (when its
    schema is on the search path) alone where a table stands, quoted or not."""
    schema, name, on_path = table

    def ident(word: str) -> str:
        quoted = re.escape('"' + word.replace('"', '""') + '"')
        if re.fullmatch(r"[a-z_][a-z0-9_$]*", word):
            return rf"(?:{quoted}|(?i:\b{re.escape(word)}\b))"
        return quoted

    qualified = rf"{ident(schema)}\s*\.\s*{ident(name)}"
    if not on_path:
        return re.compile(qualified)
    place = _TABLE_PLACE if placed else ""
    return re.compile(rf"{qualified}|{place}{ident(name)}(?![\w$]|\s*\.)")


class Narrowed(NamedTuple):
    """A table whose rows a policy narrows for this session's role."""

    schema: str
    table: str
    owner: str
    on_path: bool  # its schema is on the search path: named alone too
    owned: bool  # the role owns it: FORCE ROW LEVEL SECURITY applies the policies to it


def narrowed_tables(conn: psycopg.Connection[Any], *, dumped: bool = False) -> list[Narrowed]:
    """Each table whose rows a policy narrows for this session's role (``dumped``: of those
    whose rows pg_dump reads)."""
    query = _NARROWED + (_DUMPED if dumped else "") + "ORDER BY 1, 2"
    return [
        Narrowed(str(a), str(b), str(c), bool(d), bool(e)) for a, b, c, d, e in conn.execute(query)
    ]


def _switch(table: Narrowed) -> re.Pattern[str]:
    """A statement that lifts the policies off ``table`` for what follows (its owner's ``ALTER
    TABLE … NO FORCE ROW LEVEL SECURITY`` before a backfill, or DISABLE: group ``off``) or
    puts them back (FORCE, ENABLE)."""
    name = _names((table.schema, table.table, table.on_path), placed=False).pattern
    return re.compile(
        rf"^\s*ALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?(?:{name})\s+"
        r"(?:(?P<off>NO\s+FORCE|DISABLE)|FORCE|ENABLE)\s+ROW\s+LEVEL\s+SECURITY\s*$",
        re.IGNORECASE,
    )


def refuse_narrowed(
    conn: psycopg.Connection[Any], where: str, files: Sequence[tuple[str, Sequence[Statement]]]
) -> None:
    """:func:`narrowed_refusal` raised: asked before the lock and the safety backup (and,
    by the preflight, before the confirmation); nothing is changed."""
    refused = narrowed_refusal(conn, where, files)
    if refused is not None:
        raise refused


def narrowed_refusal(
    conn: psycopg.Connection[Any], where: str, files: Sequence[tuple[str, Sequence[Statement]]]
) -> NotPermitted | None:
    """The :class:`NotPermitted` naming the first statement of ``files`` (``(filename,
    statements)``) that reads or writes a table whose rows a policy narrows for this role:
    run with every row (:data:`EVERY_ROW`), PostgreSQL would refuse it half way; run as the
    role, it would touch only the rows the policy shows. None when there is none."""
    try:
        tables = narrowed_tables(conn)
    except psycopg.Error as exc:
        raise BackendError(f"{where}: {exc.diag.message_primary or exc}") from None
    if not tables:
        return None
    watched = {t: (_names((t.schema, t.table, t.on_path)), _switch(t)) for t in tables}
    lifted: set[Narrowed] = set()
    for filename, statements in files:
        for st in statements:
            text = strip_comments(st.text)
            for t, (_named, switch) in watched.items():
                if m := switch.match(text):
                    (lifted.add if m["off"] else lifted.discard)(t)
            if not reads_rows(st):
                continue
            text = _REFERENCES.sub(" ", _STRING.sub("''", text))
            for t, (named, _) in watched.items():
                if t not in lifted and named.search(text):
                    return _refusal(conn, where, filename, st.line, t)
    return None


def _refusal(
    conn: psycopg.Connection[Any], where: str, filename: str, line: int, t: Narrowed
) -> NotPermitted:
    role = role_name(conn) or "…"
    name = f"{sql_name(t.schema)}.{sql_name(t.table)}"
    if t.owned:
        why = f"row level security is forced on its owner, role {sql_name(t.owner)}"
        way = (
            f"as its owner, `ALTER TABLE {name} NO FORCE ROW LEVEL SECURITY;` (or in the "
            "migration, before its statements, and FORCE again at its end), or as a superuser, "
            f"`ALTER ROLE {role} BYPASSRLS;`"
        )
    else:
        why = f"row level security policies narrow what role {role} sees and may write"
        way = (
            f"as a superuser, `ALTER ROLE {role} BYPASSRLS;`, or run the migrations as the "
            f"table's owner (role {sql_name(t.owner)}), which sees every row"
        )
    return NotPermitted(
        f"{where}: {filename}:{line} reads or writes table {name}, whose {why}: run as "
        f"{role}, it would touch only some of the rows; nothing was changed",
        hint=way,
    )


# The tool's own tables (tracking, audit, lock, sync state) under row level security that
# applies to this role (not BYPASSRLS; not the owner, or the owner under FORCE), with no
# policy letting it see and write every row: one permissive policy for all commands, to it
# or PUBLIC, ``USING (true)`` (and ``WITH CHECK`` true or none), and no restrictive one.
_TOOL_NARROWED = """
SELECT c.relname, pg_get_userbyid(c.relowner), pg_has_role(c.relowner, 'USAGE')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relname = ANY (%s) AND c.relrowsecurity
  AND (c.relforcerowsecurity OR NOT pg_has_role(c.relowner, 'USAGE'))
  AND NOT (SELECT rolbypassrls OR rolsuper FROM pg_roles WHERE rolname = current_user)
  AND (NOT EXISTS (
         SELECT 1 FROM pg_policy p
         WHERE p.polrelid = c.oid AND p.polpermissive AND p.polcmd = '*'
           AND ('0'::oid = ANY (p.polroles)
                OR EXISTS (SELECT 1 FROM unnest(p.polroles) r WHERE pg_has_role(r, 'USAGE')))
           AND pg_get_expr(p.polqual, p.polrelid) = 'true'
           AND (p.polwithcheck IS NULL OR pg_get_expr(p.polwithcheck, p.polrelid) = 'true'))
       OR EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid AND NOT p.polpermissive))
ORDER BY 1
"""


def refuse_narrowed_tool_tables(
    conn: psycopg.Connection[Any], schema: str, tables: Sequence[str], where: str
) -> None:
    """:class:`NotPermitted` when row level security hides rows of the tool's own tables from
    this role (a DBA's `ENABLE ROW LEVEL SECURITY` on every table of ``public``, as
    Supabase's advisor asks, with no policy for the tool's role): `status` said every applied
    migration was pending, `check` said OK, and `up` ran the first one again (rolled back
    only because its tracking row was refused, and blamed on the file)."""
    rows = conn.execute(_TOOL_NARROWED, (schema, list(tables))).fetchall()
    if not rows:
        return
    table, owner, owned = str(rows[0][0]), str(rows[0][1]), bool(rows[0][2])
    role = role_name(conn) or "…"
    name = f"{sql_name(schema)}.{sql_name(table)}"
    if owned:
        way = f"as its owner, `ALTER TABLE {name} NO FORCE ROW LEVEL SECURITY;`"
    else:
        way = (
            f"as its owner (role {sql_name(owner)}), a policy that lets {role} see and write "
            f"every row, `CREATE POLICY malnu_tui ON {name} TO {role} USING (true) WITH CHECK "
            f"(true);` (kept for each of the tool's tables), or `ALTER ROLE {role} BYPASSRLS;` "
            "as a superuser (what a sync into this database needs: it reads every row or none)"
        )
    raise NotPermitted(
        f"{where}: row level security on the tool's table {name} hides rows from role {role} "
        "(it would read applied migrations as pending, and its audit and lock rows partly); "
        "nothing was changed",
        hint=way,
    )


def history_hidden(
    where: str, exc: psycopg.Error, conn: psycopg.Connection[Any]
) -> NotPermitted | None:
    """Another tool's migration history (dbmate's, Prisma's, the Supabase CLI's…) read with
    every row (:func:`~.pg_refusals.every_row`) and refused by a policy that hides rows of it
    from this role (a DBA's `ENABLE ROW LEVEL SECURITY` on every table of `public`, as
    Supabase's advisor asks): read as the policy showed it, no row, `up` ran again what that
    tool had applied. The error to raise (exit 2), None for any other error."""
    if row_security_hint(exc, conn) is None:
        return None
    said = re.search(r'for table "([^"]+)"', exc.diag.message_primary or "")
    table, role = (said[1] if said else "…"), role_name(conn) or "…"
    try:  # its schema (Drizzle's drizzle, the Supabase CLI's supabase_migrations)
        tables = narrowed_tables(conn)
    except psycopg.Error:
        tables = []
    for t in tables:
        if t.table == table:
            table = f"{sql_name(t.schema)}.{sql_name(t.table)}"
            break
    return NotPermitted(
        f"{where}: row level security hides rows of {table}, another migration runner's "
        f"history, from role {role}: what it applied cannot be read (`up` would run it "
        "again); nothing was changed",
        # (row_security = off refuses any table whose policies apply: a policy showing every
        # row is no way out)
        hint=f"as a superuser, `ALTER ROLE {role} BYPASSRLS;`, or run as the table's owner; "
        f"a history only the server reads needs no row level security: as its owner, `ALTER "
        f"TABLE {table} DISABLE ROW LEVEL SECURITY;` (on Supabase with `REVOKE ALL ON {table} "
        "FROM anon, authenticated;`, which keeps it out of the API)",
    )


def refuse_tool_tables_every_row(
    conn: psycopg.Connection[Any], schema: str, tables: Sequence[str], where: str
) -> None:
    """:class:`NotPermitted` when policies apply to this role on one of the tool's own tables
    (``tables`` of ``schema``) on a session that reads and writes every row or none (a
    sync's, :func:`~.pg_refusals.every_row`): a policy that lets the role see every row, the
    way out :func:`refuse_narrowed_tool_tables` gives for migrations, does not let that
    session through (row_security = off refuses any table whose policies apply). The sync
    failed at its first look at the audit table, blaming the table, the hint "connect as the
    table's owner"."""
    hit = [t for t in narrowed_tables(conn) if t.schema == schema and t.table in tables]
    if not hit:
        return
    t, role = hit[0], role_name(conn) or "…"
    name = f"{sql_name(t.schema)}.{sql_name(t.table)}"
    each = ", ".join(f"{sql_name(h.schema)}.{sql_name(h.table)}" for h in hit)
    way = "NO FORCE" if t.owned else "DISABLE"
    raise NotPermitted(
        f"{where}: row level security applies to the tool's table {name} for role {role}, "
        "and a sync reads and writes every row or none (row_security = off), which no policy "
        "lets through; nothing was changed",
        hint=f"as a superuser, `ALTER ROLE {role} BYPASSRLS;`, or as their owner (role "
        f"{sql_name(t.owner)}), `ALTER TABLE … {way} ROW LEVEL SECURITY;` on the tool's "
        f"tables that have it ({each}): they hold no school data (on Supabase, `REVOKE ALL "
        "ON … FROM anon, authenticated;` keeps them out of the API)",
    )
