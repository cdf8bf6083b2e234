"""Which entries of a PostgreSQL dump a restore runs (``pg_restore --use-list``), and what it
says of those it leaves out: the live database's own that the restore keeps (the tool's audit
trail and lock row, its extensions and their schemas, a schema of its platform's roles), and
what the restoring role may not create (event triggers) or own as the backup says.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from malnu_tui.engine.backup.pg_toc import entry, superuser_only, unquoted
from malnu_tui.engine.backup.pg_tools import TOOL_ENTRY_NAMES

if TYPE_CHECKING:
    from malnu_tui.engine.backends.postgresql import PostgresBackend

__all__ = ["RestoreListing", "restore_listing"]


@dataclass(frozen=True)
class RestoreListing:
    """The entries to restore; what to say of the rest (progress lines); the schemas whose
    live objects the restore leaves as they are (no lock, no drop there); and whether owners
    are left out (``pg_restore --no-owner``)."""

    entries: list[str]
    said: list[str]
    kept_schemas: frozenset[str]
    no_owner: bool


_NO_ENTRY = ("", "", "", "")


def _parts(line: str) -> tuple[str, str, str, str]:
    """(kind, schema, name, owner) of a TOC line (pg_toc's split: names may hold spaces)."""
    return entry(line) or _NO_ENTRY


def _is_tool_entry(line: str) -> bool:
    """An entry of the tool's audit trail or lock row: its table, sequence, key, index, or
    a grant, comment, default or constraint of them (named in the entry's name)."""
    return any(unquoted(w) in TOOL_ENTRY_NAMES for w in _parts(line)[2].split(" "))


def _is_schema_entry(line: str, schemas: set[str]) -> bool:
    """The ``SCHEMA`` entry of a schema holding the tool's tables (``schema = "malnu"``, or
    another target's in the same database, the README's reporting mirror) or a live extension
    (Supabase's ``extensions``): ``--clean`` would drop it, which fails while the live audit
    trail and lock row, or the extensions, all left out of the restore, are in it (the schema
    itself is there already)."""
    kind, _, name, _ = _parts(line)
    return kind == "SCHEMA" and name in schemas


def _is_live_extension_entry(line: str, live: set[str]) -> bool:
    """An ``EXTENSION`` (or its ``COMMENT``) entry of an extension the live database already
    has: --clean would drop and re-create it, which only its owner may do (on Supabase a
    platform role, never the operator's), and the restore's data needs only that it exists."""
    kind, _, name, _ = _parts(line)
    if kind == "EXTENSION":
        return name in live
    if kind == "COMMENT" and name.startswith("EXTENSION "):
        # quoted there (`COMMENT - EXTENSION "uuid-ossp"`): the COMMENT ON EXTENSION, which
        # only the extension's owner may run, failed a restore by any other role
        return unquoted(name.removeprefix("EXTENSION ")) in live
    return False


def _owner(line: str) -> str:
    """An entry's owner ("" for an entry without one)."""
    return _parts(line)[3]


def _of_schema(kind: str, schema: str, name: str) -> set[str]:
    """The schemas an entry is in or of: its own, or the schema it is (``SCHEMA``, a grant
    or comment ``SCHEMA auth``)."""
    if kind == "SCHEMA":
        return {name}
    if kind in ("ACL", "COMMENT") and name.startswith("SCHEMA "):
        return {unquoted(name.removeprefix("SCHEMA "))}
    return {schema}


def _function(name: str) -> str:
    """A grant's or comment's ``FUNCTION "Hitung Nilai"(a integer)`` without its quotes
    (``Hitung Nilai(a integer)``)."""
    what = name.removeprefix("FUNCTION ")
    head, paren, args = what.partition("(")
    return unquoted(head) + paren + args


# Schemas of the live database whose owner the restoring role may not act as (Supabase's
# auth, storage: supabase_auth_admin's, supabase_storage_admin's; not `public`, everyone's,
# where another role's table stops the restore with a hint); and the functions --clean
# could not drop there: those triggers on such roles' tables call (Supabase's
# handle_new_user() behind a trigger on auth.users), and those of such roles (the platform's
# event trigger functions in `extensions`).
_THEIR_SCHEMAS = """
SELECT n.nspname FROM pg_namespace n
WHERE NOT pg_has_role(n.nspowner, 'MEMBER') AND n.nspname <> 'public'
  AND n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'"""
# Each function as its own entry names it (`f(integer)`) and as a grant's or comment's does
# (`f(a integer)`: its arguments' names too).
_CALLED_BY_THEIR_TRIGGERS = r"""
SELECT DISTINCT pn.nspname, p.proname || '(' || oidvectortypes(p.proargtypes) || ')',
       p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')'
FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
JOIN pg_proc p ON p.oid = t.tgfoid JOIN pg_namespace pn ON pn.oid = p.pronamespace
WHERE NOT t.tgisinternal AND NOT pg_has_role(c.relowner, 'MEMBER')
UNION
SELECT n.nspname, p.proname || '(' || oidvectortypes(p.proargtypes) || ')',
       p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')'
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE NOT pg_has_role(p.proowner, 'MEMBER')
  AND n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema'"""


def _theirs(
    backend: PostgresBackend, listed: Sequence[str]
) -> tuple[list[str], list[str], set[str]]:
    """(entries of ``listed`` the restore leaves to the live database because their owner is
    a role the restoring one may not act as, in a schema of such a role there; what to say;
    those schemas)."""
    conn = backend.conn
    schemas = {str(r[0]) for r in conn.execute(_THEIR_SCHEMAS).fetchall()}
    owners = {_owner(ln) for ln in listed} - {""}
    foreign = {
        str(r[0])
        for r in conn.execute(
            "SELECT r FROM unnest(%s::text[]) AS r WHERE NOT EXISTS (SELECT 1 FROM pg_roles "
            "WHERE rolname = r AND pg_has_role(oid, 'MEMBER'))",
            (sorted(owners),),
        ).fetchall()
    }
    rows = conn.execute(_CALLED_BY_THEIR_TRIGGERS).fetchall()
    called = {(str(r[0]), str(r[1])) for r in rows}
    called_as = {(str(r[0]), str(r[2])) for r in rows}  # (a grant's, a comment's)
    left: list[str] = []
    kept: set[str] = set()
    functions: list[str] = []
    defaults: set[str] = set()
    for line in listed:
        kind, schema, name, owner = _parts(line)
        mentioned = schemas & _of_schema(kind, schema, name)
        if owner in foreign and mentioned:
            left.append(line)
            kept |= mentioned
        elif kind == "DEFAULT ACL" and owner in foreign:
            left.append(line)  # ALTER DEFAULT PRIVILEGES FOR ROLE supabase_admin …
            defaults.add(owner)
        elif kind == "FUNCTION" and (schema, name) in called:
            left.append(line)
            functions.append(f"{schema}.{name}")
        elif (
            kind in ("COMMENT", "ACL")
            and name.startswith("FUNCTION ")
            and (schema, _function(name)) in called_as
        ):
            left.append(line)  # COMMENT ON (and GRANT on) a function only its owner may
    said = []
    if kept:
        said.append(
            f"left as the database has it: schema(s) {', '.join(sorted(kept))}, whose owner "
            "the restoring role may not act as (their definitions and rows are not restored)"
        )
    if functions:
        said.append(
            f"left as the database has it: function(s) {', '.join(functions)} (of a role "
            "the restoring one may not act as, or called by its triggers)"
        )
    if defaults:
        said.append(
            f"left as the database has them: the default privileges of role(s) "
            f"{', '.join(sorted(defaults))}, which the restoring role may not act as"
        )
    return left, said, kept


def _owners_not_ours(backend: PostgresBackend, listed: Sequence[str]) -> str:
    """What to say when the dump's objects belong to roles this session may not become (not
    a member, or no such role on this server): Supabase's ``auth`` is its platform roles'
    (supabase_auth_admin), and in a new database (a rehearsal's scratch, a fresh one) every
    restore failed on its first `ALTER SCHEMA auth OWNER TO supabase_auth_admin` (`must be
    member of role`). Those restores then leave owners out, as ``pg_restore --no-owner`` does:
    the restoring role owns what it creates. "" when every owner is this session's to be."""
    owners = {_owner(ln) for ln in listed} - {""}
    rows = backend.conn.execute(
        "SELECT r, current_user FROM unnest(%s::text[]) AS r WHERE NOT EXISTS (SELECT 1 "
        "FROM pg_roles WHERE rolname = r AND pg_has_role(oid, 'MEMBER')) ORDER BY 1",
        (sorted(owners),),
    ).fetchall()
    if not rows:
        return ""
    me = str(rows[0][1])
    return (
        f"the backup names role(s) {', '.join(str(r[0]) for r in rows)} as owner, which {me} "
        f"may not act as: what the restore creates of theirs is owned by {me} (pg_restore "
        "--no-owner)"
    )


def restore_listing(backend: PostgresBackend, listed: Sequence[str]) -> RestoreListing:
    """The entries of ``listed`` (``pg_restore --list``) a restore into ``backend``'s
    database runs, and what it says of the others (see the module's doc)."""
    conn = backend.conn
    live = conn.execute(
        "SELECT e.extname, n.nspname FROM pg_extension e "
        "JOIN pg_namespace n ON n.oid = e.extnamespace"
    ).fetchall()
    live_ext = {str(r[0]) for r in live}
    # The schemas whose live tool tables the restore keeps (there: a live target, not a fresh
    # scratch database): this target's, and any other target's in the database; and those of
    # the live extensions, which stay (Supabase's `extensions`).
    kept_schemas = {
        str(r[0])
        for r in conn.execute(
            "SELECT nspname FROM pg_namespace n WHERE nspname = %s OR EXISTS (SELECT 1 "
            "FROM pg_class c WHERE c.relnamespace = n.oid AND c.relkind IN ('r', 'p') "
            "AND c.relname IN ('malnu_audit', 'malnu_lock'))",
            (backend.schema,),
        )
    } | {str(r[1]) for r in live}
    entries = [
        ln
        for ln in listed
        if not _is_tool_entry(ln)
        and not _is_live_extension_entry(ln, live_ext)
        and not _is_schema_entry(ln, kept_schemas)
    ]
    theirs, said, kept = _theirs(backend, entries)
    left = set(theirs)
    entries = [ln for ln in entries if ln not in left]
    entries, left_out = superuser_only(conn, entries)
    if left_out:
        said.append(f"left out: {left_out}")
    foreign = _owners_not_ours(backend, entries)
    return RestoreListing(
        entries, [*said, foreign] if foreign else said, frozenset(kept), bool(foreign)
    )
