"""What a PostgreSQL restore needs of the server it restores into, beyond the dump itself: the
roles its grants, default privileges and policies name (roles belong to the server, not to a
database: one dropped since the backup, or absent on a new server, stops the restore at its
GRANT or CREATE POLICY), and, for a restore that leaves a schema as the database has it
(Supabase's ``auth``), the rows the dump's foreign keys point at there.

``backup verify --deep`` restores into a scratch database without privileges (and owners), so it
checks the roles here (:func:`missing_roles`); the restore's failures get their way out from
:func:`role_hint` and :func:`foreign_key_hint`.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from malnu_tui.engine.backends.pg_session import sql_name
from malnu_tui.engine.backup.pg_toc import entry, sections, unquoted
from malnu_tui.engine.backup.pg_tools import PgTools, read_dump
from malnu_tui.engine.backup.pg_tooltext import ServerError
from malnu_tui.engine.backup.store import BackupError

__all__ = ["MissingRoles", "foreign_key_hint", "missing_roles", "refused_object", "role_hint"]

_KINDS = ("ACL", "DEFAULT ACL", "POLICY")
_TOKEN = re.compile(r"\"(?:[^\"]|\"\")*\"|'(?:[^']|'')*'|[A-Za-z_][A-Za-z0-9_$]*|\S")
_DEFAULTS = ["ALTER", "DEFAULT", "PRIVILEGES"]
_NOT_ROLES = frozenset({"PUBLIC", "CURRENT_USER", "SESSION_USER", "CURRENT_ROLE", "GROUP"})


@dataclass(frozen=True)
class MissingRoles:
    """The roles the dump names that the server lacks, each with what names it; the TOC lines
    of the policies among those (a scratch restore leaves them out to check the rest)."""

    named_by: dict[str, list[str]]
    policies: list[str]

    def detail(self) -> str:
        names = ", ".join(sorted(self.named_by))
        by = ", ".join(dict.fromkeys(w for r in sorted(self.named_by) for w in self.named_by[r]))
        return (
            f"role(s) {names} (named by {by}) do not exist on this server: a restore here "
            "fails at the first of them; the file itself is sound"
        )

    def way_out(self) -> str:
        create = " ".join(f"CREATE ROLE {sql_name(r)} NOLOGIN;" for r in sorted(self.named_by))
        return (
            f"create them before restoring ({create} as a role with CREATEROLE: a NOLOGIN role "
            "lets no one in, and the grants and policies come back as they were), or restore "
            "on the server the backup was taken from"
        )


def _names(tokens: list[str], i: int) -> tuple[list[str], int]:
    """The role names of a list starting at ``tokens[i]`` (``a, "B", PUBLIC``), and the index
    after it."""
    out: list[str] = []
    while i < len(tokens):
        tok = tokens[i]
        if tok.startswith('"'):
            out.append(tok[1:-1].replace('""', '"'))
        elif tok[:1].isalpha() or tok[:1] == "_":
            if tok.upper() == "GROUP":
                i += 1
                continue
            if tok.upper() not in _NOT_ROLES:
                out.append(tok.lower())
        else:
            break
        if i + 1 < len(tokens) and tokens[i + 1] == ",":
            i += 2
            continue
        return out, i + 1
    return out, i


def roles_in(sql: str) -> set[str]:
    """The roles named by the GRANT / REVOKE, ALTER DEFAULT PRIVILEGES, CREATE POLICY and SET
    SESSION AUTHORIZATION statements of ``sql`` (pg_dump's: names quoted where they need it)."""
    found: set[str] = set()
    statement: list[str] = []
    for tok in [*_TOKEN.findall(sql), ";"]:
        if tok != ";":
            statement.append(tok)
            continue
        words = [t.upper() if not t.startswith(('"', "'")) else t for t in statement]
        if words[:2] == ["CREATE", "POLICY"] and "TO" in words:
            found.update(_names(statement, words.index("TO") + 1)[0])
        elif words[:3] == ["SET", "SESSION", "AUTHORIZATION"]:
            found.update(_names(statement, 3)[0])
        elif words[:1] in (["GRANT"], ["REVOKE"]) or words[:3] == _DEFAULTS:
            if words[:3] == _DEFAULTS and words[3:4] == ["FOR"]:
                found.update(_names(statement, 5)[0])  # FOR ROLE a, b
            grantees = [i for i, w in enumerate(words) if w in ("TO", "FROM")]  # bare: keywords
            if grantees:
                found.update(_names(statement, grantees[-1] + 1)[0])
            if "BY" in words and words[words.index("BY") - 1] == "GRANTED":
                found.update(_names(statement, words.index("BY") + 1)[0])
        statement = []
    return found


def _what(kind: str, schema: str, name: str, body: str) -> str:
    """An entry, as a message names it: a grant on table public.profiles, policy p on …"""
    where = "" if schema == "-" else f"{schema}."
    if kind == "POLICY":
        # The tag (`Data Siswa wali baca`) cannot tell the table from the policy where a
        # name holds a space; the statement quotes them: CREATE POLICY "wali baca" ON s."t"
        toks = _TOKEN.findall(body)
        if [t.upper() for t in toks[:2]] == ["CREATE", "POLICY"] and "ON" in toks[3:4]:
            policy, table = unquoted(toks[2]), unquoted(toks[6] if toks[5:6] == ["."] else toks[4])
        else:
            table, _, policy = name.partition(" ")
        return f"policy {policy} on {where}{table}"
    if kind == "DEFAULT ACL":
        what = name.removeprefix("DEFAULT PRIVILEGES ").lower()  # FOR TABLES
        return f"default privileges {what}{'' if schema == '-' else ' in schema ' + schema}"
    obj, _, rest = name.partition(" ")
    return f"a grant on {obj.lower()} {where}{unquoted(rest)}" if rest else f"a grant on {name}"


def missing_roles(conn: Any, tools: PgTools, path: Path, listed: Sequence[str]) -> MissingRoles:
    """The roles the dump's ACL, DEFAULT ACL and POLICY entries among ``listed`` name that
    ``conn``'s server lacks (one pg_restore of those entries, read as SQL)."""
    parts = {int(ln.split(";", 1)[0]): (ln, e) for ln in listed if (e := entry(ln))}
    wanted = [ln for ln, e in parts.values() if e[0] in _KINDS]
    if not wanted:
        return MissingRoles({}, [])
    with tempfile.NamedTemporaryFile("w", suffix=".list", encoding="utf-8") as list_file:
        list_file.write("\n".join(wanted) + "\n")
        list_file.flush()
        code, sql, err = read_dump(
            tools, ["--verbose", f"--use-list={list_file.name}", "--file=-", str(path)]
        )
    if code != 0:  # (its output then read as if whole: roles missed, or a traceback)
        raise BackupError(
            f"pg_restore could not read the grants and policies of {path.name} (exit {code}): "
            f"{' '.join(err.split())[-500:]}"
        )
    # Each entry's statements, by its number (``-- TOC entry N``), its parts from the TOC
    # (names with spaces read whole: pg_toc).
    by_entry: list[tuple[str, str, str, str, str, set[str]]] = []
    for dump_id, _, body in sections(sql):
        if dump_id in parts:
            line, (kind, schema, name, _) = parts[dump_id]
            by_entry.append((line, kind, schema, name, body, roles_in(body)))
    named = sorted({r for *_, roles in by_entry for r in roles})
    rows = conn.execute(
        "SELECT r FROM unnest(%s::text[]) AS r WHERE NOT EXISTS "
        "(SELECT 1 FROM pg_roles WHERE rolname = r) ORDER BY 1",
        (named,),
    ).fetchall()
    absent = {str(r[0]) for r in rows}
    named_by: dict[str, list[str]] = {}
    policies: list[str] = []
    for line, kind, schema, name, body, roles in by_entry:
        for r in sorted(roles & absent):
            named_by.setdefault(r, []).append(_what(kind, schema, name, body))
        if kind == "POLICY" and roles & absent:
            policies.append(line)
    return MissingRoles(named_by, policies)


_NO_ROLE = re.compile(r'role "((?:[^"]|"")+)" does not exist')
# A name as the server quotes it in any language ("…", »…«, « … », „…“, 「…」): from the first
# opening quote to the last closing one (a name may hold quotes of its own).
_QUOTED_NAME = re.compile(r"[\"»«„“「『](?P<name>.+)[\"«»“”」』]", re.DOTALL)
# Where the server raises "role … does not exist" for a GRANT's grantee, a policy's role, an
# owner, ALTER DEFAULT PRIVILEGES FOR ROLE (acl.c's get_role_oid, measured on PostgreSQL 15):
# a function's name, which no lc_messages translates. SQLSTATE 42704 alone is any undefined
# object (a type, a table: ``Typ »nosuchtype« existiert nicht``).
_ROLE_LOOKUP = "get_role_oid,"


def role_hint(error: str, server: ServerError | None = None) -> str | None:
    """The way out of a restore stopped by a role the server lacks; None for another error.
    Read from PostgreSQL's English words, else from ``server`` (psql's verbose fields, any
    language): SQLSTATE 42704 raised where the server looks a role up, the role as its
    message quotes it."""
    m = _NO_ROLE.search(error)
    if m:
        role: str | None = m[1]
    elif (
        server is not None
        and server.sqlstate == "42704"
        and server.location.startswith(_ROLE_LOOKUP)
    ):
        quoted = _QUOTED_NAME.search(server.message)
        role = quoted["name"].strip() if quoted else None
    else:
        return None
    if role is None:  # (a translation quoting in a way not read here: the way out unnamed)
        return (
            "the backup names a role this server lacks (dropped since the backup, or a new "
            "server): `backup verify --deep` lists every role a backup needs; CREATE ROLE … "
            "NOLOGIN; each (as a role with CREATEROLE), then restore again"
        )
    return (
        f"the backup names role {role}, which this server lacks (dropped since the backup, or "
        f"a new server): CREATE ROLE {sql_name(role)} NOLOGIN; (as a role with CREATEROLE), then "
        "restore again; `backup verify --deep` lists every role a backup needs"
    )


_FK = re.compile(
    r'insert or update on table "(?P<table>[^"]+)" violates foreign key constraint '
    r'"(?P<con>[^"]+)"(?:.*?Key \((?P<cols>[^)]*)\)=\((?P<vals>.*?)\) is not present)?'
)


# A key's values in any language (``Schlüssel (user_id)=(7) ist nicht in Tabelle »users«``).
_KEY = re.compile(r"\((?P<cols>[^()]*)\)=\((?P<vals>[^()]*)\)")


def foreign_key_hint(conn: Any, error: str, server: ServerError | None = None) -> str | None:
    """The way out of a restore stopped at a foreign key whose referenced rows the dump does
    not restore (they live in a table the restore leaves as the database has it: Supabase's
    auth.users, the platform's), deleted since the backup; read from PostgreSQL's English
    words, else from ``server``'s SQLSTATE 23503 and its table and constraint (psql's fields,
    any language); None for another error."""
    m: Any = _FK.search(error)
    if not m and server is not None and server.sqlstate == "23503" and server.constraint:
        values = _KEY.search(error)
        m = {"table": server.table, "con": server.constraint, "cols": values and values["cols"],
             "vals": values and values["vals"]}  # fmt: skip
    if not m:
        return None
    try:
        row = conn.execute(
            "SELECT format('%%I.%%I', t.relnamespace::regnamespace, t.relname), "
            "format('%%I.%%I', r.relnamespace::regnamespace, r.relname), "
            "pg_get_userbyid(r.relowner), pg_has_role(r.relowner, 'MEMBER') "
            "FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid "
            "JOIN pg_class r ON r.oid = c.confrelid WHERE c.conname = %s AND t.relname = %s "
            "LIMIT 1",
            (m["con"], m["table"]),
        ).fetchone()
    except Exception:  # the server gone meanwhile: PostgreSQL's words stand alone
        return None
    if row is None:  # a foreign key the backup has and the live database not
        return None
    table, ref, owner, ours = (str(row[0]), str(row[1]), str(row[2]), bool(row[3]))
    cols, vals = m["cols"], m["vals"]
    key = "" if cols is None else f" ({cols} = {vals})"
    kept = (
        f"the restore leaves {ref} as the database has it ({owner}'s, a role the restoring one "
        "may not act as), so it cannot bring them back"
        if not ours
        else f"{ref} is not in the backup's restore, so it cannot bring them back"
    )
    return (
        f"rows of {table} name {ref} rows deleted since the backup{key} through "
        f"{m['con']}; {kept}: put those {ref} rows back (the same key; on Supabase, the "
        f"user), then restore again, or restore as {owner} or a superuser"
    )


# What a refusal (SQLSTATE 42501) may be about, for a message in another language or a name
# with a space (``must be owner of table Data Siswa``): the relations the restoring role may
# not replace (owned by a role it is no member of), and the schemas it may not create in.
_REFUSABLE = """
SELECT 'relation', format('%%I.%%I', n.nspname, c.relname), c.relname,
       pg_get_userbyid(c.relowner), current_user
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND NOT pg_has_role(c.relowner, 'MEMBER')
  AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%%'
  AND strpos(%(said)s, c.relname) > 0
UNION ALL
SELECT 'schema', n.nspname, n.nspname, pg_get_userbyid(n.nspowner), current_user
FROM pg_namespace n
WHERE NOT has_schema_privilege(n.oid, 'CREATE') AND strpos(%(said)s, n.nspname) > 0
  AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%%'
"""


def refused_object(conn: Any, message: str) -> tuple[str, str, str, str] | None:
    """``(kind, name, owner, role)`` of what a refusal's ``message`` names, in any language:
    a relation the role restoring (``role``) may not replace (``name`` schema-qualified as
    SQL writes it), else a schema it may not create in (``name`` bare); the longest name the
    message holds whole. None when it names neither, or the catalog cannot be read."""
    try:
        rows = conn.execute(_REFUSABLE, {"said": message}).fetchall()
    except Exception:  # the server gone meanwhile: its words stand alone
        return None
    named = [
        (str(kind), str(name), str(owner), str(me))
        for kind, name, bare, owner, me in rows
        if re.search(rf"(?<![\w$]){re.escape(str(bare))}(?![\w$])", message)
    ]
    named.sort(key=lambda r: (r[0] != "relation", -len(r[1])))
    return named[0] if named else None
