"""Which entries of a PostgreSQL dump a restore runs (``pg_restore --use-list``), and what it
says of those it leaves out: the live database's own that the restore keeps (the tool's audit
trail and lock row, its extensions and their schemas, a schema of its platform's roles), and
what the restoring role may not create (event triggers) or own as the backup says.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from malnu_tui.engine.backup.pg_tools import TOC_LINE, TOOL_ENTRY_NAMES, superuser_only

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


def _words(line: str) -> list[str]:
    m = TOC_LINE.match(line)
    return m.group("rest").split(" ") if m else []


def _is_tool_entry(line: str) -> bool:
    return any(w in TOOL_ENTRY_NAMES for w in _words(line)[1:4])


def _is_schema_entry(line: str, schemas: set[str]) -> bool:
    """The ``SCHEMA`` entry of a schema holding the tool's tables (``schema = "malnu"``, or
    another target's in the same database, the README's reporting mirror) or a live extension
    (Supabase's ``extensions``): ``--clean`` would drop it, which fails while the live audit
    trail and lock row, or the extensions, all left out of the restore, are in it (the schema
    itself is there already)."""
    words = _words(line)[:3]
    return words[:2] == ["SCHEMA", "-"] and len(words) == 3 and words[2] in schemas


def _is_live_extension_entry(line: str, live: set[str]) -> bool:
    """An ``EXTENSION`` (or its ``COMMENT``) entry of an extension the live database already
    has: --clean would drop and re-create it, which only its owner may do (on Supabase a
    platform role, never the operator's), and the restore's data needs only that it exists."""
    words = [w for w in _words(line) if w]
    if words[:2] == ["EXTENSION", "-"] and len(words) > 2:
        return words[2] in live
    if words[:3] == ["COMMENT", "-", "EXTENSION"] and len(words) > 3:
        # quoted there (`COMMENT - EXTENSION "uuid-ossp"`): the COMMENT ON EXTENSION, which
        # only the extension's owner may run, failed a restore by any other role
        return words[3].strip('"') in live
    return False


def _owner(line: str) -> str:
    """An entry's owner, its last word ("" for an entry without one: it ends in a space)."""
    words = _words(line)
    return words[-1] if len(words) > 1 else ""


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
_CALLED_BY_THEIR_TRIGGERS = r"""
SELECT DISTINCT pn.nspname, p.proname || '(' || oidvectortypes(p.proargtypes) || ')'
FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
JOIN pg_proc p ON p.oid = t.tgfoid JOIN pg_namespace pn ON pn.oid = p.pronamespace
WHERE NOT t.tgisinternal AND NOT pg_has_role(c.relowner, 'MEMBER')
UNION
SELECT n.nspname, p.proname || '(' || oidvectortypes(p.proargtypes) || ')'
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
    called = {(str(r[0]), str(r[1])) for r in conn.execute(_CALLED_BY_THEIR_TRIGGERS).fetchall()}
    left: list[str] = []
    kept: set[str] = set()
    functions: list[str] = []
    defaults: set[str] = set()
    for line in listed:
        words = _words(line)
        mentioned = schemas.intersection(words[1:4])
        if _owner(line) in foreign and mentioned:
            left.append(line)
            kept |= mentioned
        elif words[:2] == ["DEFAULT", "ACL"] and _owner(line) in foreign:
            left.append(line)  # ALTER DEFAULT PRIVILEGES FOR ROLE supabase_admin …
            defaults.add(_owner(line))
        elif words[:1] == ["FUNCTION"] and (words[1], " ".join(words[2:-1])) in called:
            left.append(line)
            functions.append(f"{words[1]}.{' '.join(words[2:-1])}")
        elif (
            words[:1] in (["COMMENT"], ["ACL"])
            and words[2:3] == ["FUNCTION"]
            and (words[1], " ".join(words[3:-1])) in called
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
