"""What the running app stops being able to do, or starts letting anyone do, after a
migration, beyond the tables and columns the general rules follow: a view or function it
uses dropped and not re-created (DROP-OBJECT), or re-created in another shape
(OBJECT-SHAPE-CHANGED: lint/shapes.py reads the shapes), a REVOKE on a table it reads
(PG-REVOKE), and row level security turned off on a table it protected (PG-RLS-DISABLED)."""

from __future__ import annotations

import re
from collections.abc import Container, Mapping

from malnu_tui.engine.lint.model import Finding, Rule
from malnu_tui.engine.lint.ops import IDENT, Op, key, pg_key, split_top_level, strip_comments
from malnu_tui.engine.lint.rules import register
from malnu_tui.engine.sqlsplit import Statement

__all__ = ["APP_RULES", "dropped_for_good", "revoke_of", "revoked", "rls_disabled"]

APP_RULES = (
    Rule(
        "DROP-OBJECT",
        "warning",
        "a view or function dropped and not re-created",
        "the running app still uses it until it is redeployed: its queries of the view, its "
        "calls of the function (Supabase's rpc()) fail",
        "expand/contract: stop using it in one deploy, drop it in a later one; to change a "
        "view or function, CREATE OR REPLACE it, or drop and re-create it in the same "
        "migration",
    ),
    Rule(
        "OBJECT-SHAPE-CHANGED",
        "warning",
        "a view or function dropped and re-created in another shape",
        "the running app still calls the old one until it is redeployed: a call by a "
        "parameter's old name (Supabase's rpc(), PostgREST's /rpc/…), or without a new "
        "parameter, fails; a changed result type, or a view's column gone, reaches its code "
        "at once",
        "expand/contract: create the new shape under a new name (get_x_v2, v_x_v2), move the "
        "app to it, drop the old one in a later deploy; a parameter added WITH a DEFAULT, or "
        "a view's column added, is fine",
    ),
    Rule(
        "PG-REVOKE",
        "warning",
        "REVOKE on an existing table",
        "the role's queries of the table fail (permission denied) from the commit on: "
        "Supabase's anon and authenticated are the app",
        "stop using the privilege in one deploy and revoke it in a later one; on a table "
        "this migration creates, revoking is fine",
    ),
    Rule(
        "PG-RLS-DISABLED",
        "error",
        "row level security turned off on an existing table",
        "its policies stop applying: every role granted the table (Supabase's anon and "
        "authenticated: anyone holding the public API key) reads and writes every row",
        "keep row level security on and change the policies (CREATE / DROP POLICY); if the "
        "table must be open, say why with `-- lint:ignore PG-RLS-DISABLED why`",
    ),
)
register(*APP_RULES)
_BY_ID = {r.id: r for r in APP_RULES}
_F = re.IGNORECASE | re.DOTALL
_REVOKE = re.compile(
    rf"^REVOKE\s+(?!GRANT\s+OPTION\b)(?P<privs>.+?)\s+ON\s+(?:(?P<all>ALL\s+TABLES\s+IN\s+"
    rf"SCHEMA\s+{IDENT}(?:\s*,\s*{IDENT})*)|(?:TABLE\s+)?(?P<names>.+?))\s+FROM\s+"
    r"(?P<roles>.+?)(?:\s+GRANTED\s+BY\s+.+?)?(?:\s+(?:CASCADE|RESTRICT))?\s*$",
    _F,
)
_NOT_TABLES = re.compile(
    r"^(?:FUNCTION|PROCEDURE|ROUTINE|SEQUENCE|SCHEMA|DATABASE|TYPE|DOMAIN|LANGUAGE|"
    r"FOREIGN|LARGE|TABLESPACE|PARAMETER|ALL\s+(?:FUNCTIONS|PROCEDURES|ROUTINES|"
    r"SEQUENCES))\b",
    re.IGNORECASE,
)
_NAME = re.compile(rf"^\s*(?:{IDENT}\s*\.\s*)?(?P<name>{IDENT})\s*$")
_DISABLE = re.compile(r"^\s*DISABLE\s+ROW\s+LEVEL\s+SECURITY\s*$", re.IGNORECASE)
_KINDS = ("view", "function", "procedure")


def _finding(rule_id: str, file: str, line: int, why: str) -> Finding:
    r = _BY_ID[rule_id]
    return Finding(rule_id, r.severity, file, line, why, r.instead)


def revoke_of(st: Statement) -> tuple[str, list[str], set[str]] | None:
    """(the privileges, the tables (folded), the roles (folded)) of a ``REVOKE … ON`` tables
    (not of a whole schema, nor of functions, sequences…), or None."""
    if not st.first_words.startswith("REVOKE"):
        return None
    m = _REVOKE.match(strip_comments(st.text))
    if m is None or m["all"] or _NOT_TABLES.match(m["names"]):
        return None
    names = [key(n["name"]) for p in split_top_level(m["names"]) if (n := _NAME.match(p))]
    roles = {key(r.strip()) for r in m["roles"].split(",")}
    return " ".join(m["privs"].split()).upper(), names, roles


def revoked(file: str, st: Statement, created: Container[str]) -> Finding | None:
    """PG-REVOKE for a REVOKE of a privilege on a table or view this migration did not
    create (or on every table of a schema)."""
    if not st.first_words.startswith("REVOKE"):
        return None
    m = _REVOKE.match(strip_comments(st.text))
    if m is None or (m["names"] and _NOT_TABLES.match(m["names"])):
        return None
    roles = " ".join(m["roles"].split())
    privs = " ".join(m["privs"].split())
    if m["all"]:
        what = " ".join(m["all"].split())
        why = f"REVOKE {privs} ON {what} FROM {roles}: their queries of every table there fail"
        return _finding("PG-REVOKE", file, st.line, why)
    names = [n["name"] for p in split_top_level(m["names"]) if (n := _NAME.match(p))]
    old = [key(n) for n in names if pg_key(n) not in created]  # (created: as PostgreSQL folds)
    if not old:
        return None
    why = f"REVOKE {privs} ON {', '.join(old)} FROM {roles}: their queries of it fail "
    why += "(permission denied)"
    return _finding("PG-REVOKE", file, st.line, why)


def rls_disabled(file: str, st: Statement, op: Op, created: Container[str]) -> Finding | None:
    """PG-RLS-DISABLED for ``ALTER TABLE … DISABLE ROW LEVEL SECURITY`` of an existing table."""
    if (op.pg_name or op.key) in created or not any(
        a.kind == "other" and _DISABLE.match(a.definition) for a in op.actions
    ):
        return None
    why = f"row level security is turned off on {op.name}: its policies stop applying, and "
    why += "every role granted it (Supabase's anon and authenticated) reads and writes every row"
    return _finding("PG-RLS-DISABLED", file, st.line, why)


def dropped_for_good(
    file: str,
    dropped: Mapping[tuple[str, str], tuple[int, str]],
    made: Container[tuple[str, str]],
    triggers: Container[str] = (),
    reshaped: Mapping[tuple[str, str], tuple[int, list[str]]] | None = None,
) -> list[Finding]:
    """DROP-OBJECT for each view, function or procedure the migration dropped (``dropped``:
    (kind, folded name) → (line, name as written)) and did not create again (``made``); not a
    trigger function (``triggers``: those the migrations declare ``RETURNS trigger``).
    OBJECT-SHAPE-CHANGED for each one made again in another shape (``reshaped``: → (the line
    of its CREATE, what changed), from lint/shapes.py)."""
    out = []
    for (kind, k), (line, name) in dropped.items():
        if kind not in _KINDS or (kind, k) in made or (kind == "function" and k in triggers):
            continue
        why = f"{kind} {name} is dropped and not re-created: the running app's "
        why += "queries of it fail" if kind == "view" else f"calls of it (rpc('{name}')) fail"
        out.append(_finding("DROP-OBJECT", file, line, why))
    for (kind, k), (line, what) in (reshaped or {}).items():  # (also after DROP … CASCADE)
        name = dropped.get((kind, k), (0, k))[1]
        call = "queries of it" if kind == "view" else f"calls of it (rpc('{name}'))"
        why = f"{kind} {name} is dropped and re-created in another shape ("
        why += "; ".join(what) + f"): the running app's {call} fail or misread"
        out.append(_finding("OBJECT-SHAPE-CHANGED", file, line, why))
    return out
