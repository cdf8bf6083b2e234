"""Supabase's rules on what a migration gives the API's roles: a policy letting ``anon`` or
``authenticated`` read every row of a table with personal data (SUPABASE-OPEN-POLICY) or write
rows with no condition (SUPABASE-OPEN-WRITE), and default privileges granting every future
table to them (SUPABASE-DEFAULT-GRANT). ``anon`` is anyone holding the project's public anon
key; ``authenticated`` anyone who signs up. The tables themselves: :mod:`.supabase`."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence

from malnu_tui.engine.lint.model import Finding, Rule
from malnu_tui.engine.lint.ops import IDENT, key, strip_comments
from malnu_tui.engine.lint.pg_rls import policy_label, policy_of
from malnu_tui.engine.lint.rules import register
from malnu_tui.engine.sqlsplit import Statement
from malnu_tui.engine.supabase_target import Supabase

__all__ = ["GRANT_RULES", "default_grant", "open_policy"]

GRANT_RULES = (
    Rule(
        "SUPABASE-OPEN-POLICY",
        "warning",
        "a policy letting anon or authenticated read every row of a table with personal data",
        "USING (true) for anon (or PUBLIC) hands every row, phone numbers and all, to anyone "
        "holding the project's public anon key; for authenticated, to anyone who signs up "
        "(Supabase gives every account that role; sign-ups are open unless turned off)",
        "limit the rows (USING ((select auth.uid()) = user_id), or a role of the app's own "
        "checked in a table: EXISTS (SELECT 1 FROM guru g WHERE g.user_id = (select "
        "auth.uid()))), or the columns (REVOKE SELECT ON t FROM anon, authenticated; GRANT "
        "SELECT (nama, kelas) ON t TO anon); if the table is meant to be public, say why with "
        "`-- lint:ignore SUPABASE-OPEN-POLICY why`",
    ),
    Rule(
        "SUPABASE-OPEN-WRITE",
        "warning",
        "a policy letting anon or authenticated write rows of a table with no condition",
        "WITH CHECK (true) (or USING (true) for an UPDATE, DELETE or ALL) lets anyone holding "
        "the project's public anon key, or for authenticated anyone who signs up, insert, "
        "change or delete rows: a grade, an attendance mark, another student's phone number",
        "tie the write to its owner (WITH CHECK ((select auth.uid()) = user_id)) or to a role "
        "of the app's own checked in a table (EXISTS (SELECT 1 FROM guru g WHERE g.user_id = "
        "(select auth.uid()))), or write through the server (service_role) and give the app "
        "none; a form anyone may send (insert only): `-- lint:ignore SUPABASE-OPEN-WRITE why`",
    ),
    Rule(
        "SUPABASE-DEFAULT-GRANT",
        "warning",
        "default privileges granting every future table to anon or authenticated",
        "every table made from then on (by the role named, in the schema named) is granted to "
        "the role the moment it is made: read and written through Supabase's API before any "
        "ENABLE ROW LEVEL SECURITY, and a table made outside the migrations (the dashboard, "
        "a script) never gets one",
        "grant each table as it is made, once its row level security is on (GRANT SELECT ON "
        "t TO anon); to expose a schema, grant USAGE on it and the tables one by one; if the "
        "grant is meant, say why with `-- lint:ignore SUPABASE-DEFAULT-GRANT why`",
    ),
)
register(*GRANT_RULES)
_BY_ID = {r.id: r for r in GRANT_RULES}
_F = re.IGNORECASE | re.DOTALL
_STRING = re.compile(r"'(?:[^']|'')*'")
_POLICY_REST = re.compile(
    rf"^CREATE\s+POLICY\s+{IDENT}\s+ON\s+(?:{IDENT}\s*\.\s*)?{IDENT}\s*(?P<rest>.*)$", _F
)
_AS = re.compile(r"\bAS\s+RESTRICTIVE\b", _F)
_FOR = re.compile(r"\bFOR\s+(?P<cmd>ALL|SELECT|INSERT|UPDATE|DELETE)\b", _F)
_TO = re.compile(r"\bTO\s+(?P<roles>.+?)(?=\s+USING\b|\s+WITH\s+CHECK\b|\s*$)", _F)
_CLAUSE = re.compile(r"\b(?P<word>USING|WITH\s+CHECK)\s*\(", _F)
_ALWAYS = frozenset({"true", "1=1"})
# Who a policy's role reaches through Supabase's API.
_REACH = {
    "anon": "anyone holding the project's public anon key",
    "authenticated": "anyone who signs up (Supabase gives every account the authenticated "
    "role, anonymous sign-ins too; sign-ups are open unless turned off in Auth's settings)",
}
# Words of a column name (split at _) that say the column holds personal data: the school's
# (telp, no_hp, nik, nisn, alamat, tanggal_lahir, nama_ibu…) and English ones.
_PERSONAL = frozenset(
    {
        "phone",
        "telp",
        "telepon",
        "hp",
        "handphone",
        "whatsapp",
        "wa",
        "email",
        "nik",
        "nisn",
        "nip",
        "kk",
        "ktp",
        "alamat",
        "address",
        "lahir",
        "birth",
        "birthday",
        "dob",
        "birthdate",
        "passport",
        "paspor",
        "ibu",
        "ayah",
        "wali",
        "gaji",
        "salary",
        "password",
        "medical",
    }
)


def _finding(rule_id: str, file: str, line: int, why: str) -> Finding:
    r = _BY_ID[rule_id]
    return Finding(rule_id, r.severity, file, line, why, r.instead)


def _reached(roles: set[str]) -> tuple[str, str]:
    """The API role whose reach a grant or policy to ``roles`` has (PUBLIC: anon's, the
    widest; it was said as authenticated's, anyone who signs up), and the roles as named."""
    who = "anon" if roles & {"anon", "public"} else "authenticated"
    return who, "PUBLIC (anon too)" if roles.isdisjoint({"anon", "authenticated"}) else who


def _personal(columns: Iterable[str]) -> list[str]:
    return [c for c in columns if _PERSONAL & set(c.lower().split("_")) or c.lower() in _PERSONAL]


def open_policy(
    file: str, st: Statement, columns: Callable[[str], Sequence[str]], out: list[Finding]
) -> None:
    """SUPABASE-OPEN-POLICY and SUPABASE-OPEN-WRITE of a ``CREATE POLICY`` (``columns``: a
    table's, from the migrations or the live database)."""
    p = policy_of(st)
    m = _POLICY_REST.match(strip_comments(st.text))
    if p is None or m is None:
        return
    rest = _STRING.sub("''", m["rest"])
    cmd_m = _FOR.search(rest)
    cmd = cmd_m["cmd"].upper() if cmd_m else "ALL"
    to = _TO.search(rest)
    roles = {key(r.strip()) for r in to["roles"].split(",")} if to else {"public"}
    if _AS.search(rest) or not roles & {"anon", "authenticated", "public"}:
        return
    (who, named), label = _reached(roles), policy_label(st)
    using, check = _clause(rest, "USING"), _clause(rest, "WITH CHECK")
    open_rows = using is not None and _always(using)
    open_values = check is not None and _always(check)
    if open_rows and cmd in ("ALL", "SELECT"):
        personal = _personal(columns(p[2]))
        if personal:
            why = f"policy {label} lets {named} read every row of {p[2]} (USING (true)), whose "
            why += f"{', '.join(personal[:4])} then reach {_REACH[who]}"
            out.append(_finding("SUPABASE-OPEN-POLICY", file, st.line, why))
    writes = []
    if cmd in ("INSERT", "ALL") and (open_values or (cmd == "ALL" and open_rows and not check)):
        writes.append("insert")
    if cmd in ("UPDATE", "ALL") and (open_rows or open_values):
        writes.append("update")
    if cmd in ("DELETE", "ALL") and open_rows:
        writes.append("delete")
    if writes:
        clauses = (("USING (true)", open_rows), ("WITH CHECK (true)", open_values))
        said = [c for c, on in clauses if on]
        verbs = ", ".join(writes[:-1]) + (" and " if len(writes) > 1 else "") + writes[-1]
        why = f"policy {label} ({cmd}) lets {named} {verbs} rows of {p[2]} with no condition "
        why += f"({', '.join(said)}): {_REACH[who]} writes them"
        out.append(_finding("SUPABASE-OPEN-WRITE", file, st.line, why))


def _clause(rest: str, word: str) -> str | None:
    """The expression of a policy's ``USING (…)`` or ``WITH CHECK (…)`` (strings blanked),
    None without one."""
    for m in _CLAUSE.finditer(rest):
        if " ".join(m["word"].upper().split()) != word:
            continue
        depth, start = 1, m.end()
        for i in range(start, len(rest)):
            depth += {"(": 1, ")": -1}.get(rest[i], 0)
            if depth == 0:
                return rest[start:i]
        return rest[start:]
    return None


def _always(expr: str) -> bool:
    """``true`` or ``1 = 1``, in any parentheses and spacing."""
    text = "".join(expr.split()).lower()
    while text.startswith("(") and text.endswith(")"):
        text = text[1:-1]
    return text in _ALWAYS


_DEFAULT_GRANT = re.compile(
    rf"^ALTER\s+DEFAULT\s+PRIVILEGES\s+(?:FOR\s+(?:ROLE|USER)\s+(?P<owners>{IDENT}(?:\s*,\s*"
    rf"{IDENT})*)\s+)?(?:IN\s+SCHEMA\s+(?P<schemas>{IDENT}(?:\s*,\s*{IDENT})*)\s+)?GRANT\s+"
    r"(?P<privs>.+?)\s+ON\s+TABLES\s+TO\s+(?P<roles>.+?)(?:\s+WITH\s+GRANT\s+OPTION)?\s*$",
    _F,
)
# The roles Supabase's own default privileges are for (public's tables, granted to anon and
# authenticated as they are made): `supabase db pull` writes them again in every dump.
_PLATFORM = frozenset({"postgres", "supabase_admin"})
_WRITES = re.compile(r"\b(?:ALL|INSERT|UPDATE|DELETE|TRUNCATE)\b", re.IGNORECASE)
_READS = re.compile(r"\b(?:ALL|SELECT)\b", re.IGNORECASE)


def default_grant(file: str, st: Statement, supabase: Supabase) -> Finding | None:
    """SUPABASE-DEFAULT-GRANT of an ``ALTER DEFAULT PRIVILEGES … GRANT … ON TABLES TO`` anon,
    authenticated or PUBLIC in an exposed schema (or in every schema); not Supabase's own
    default for ``public`` restated."""
    if not st.first_words.startswith("ALTER DEFAULT PRIVILEGES"):
        return None
    m = _DEFAULT_GRANT.match(strip_comments(st.text))
    if m is None:
        return None
    roles = {key(r.strip()) for r in m["roles"].split(",")}
    if not roles & {"anon", "authenticated", "public"}:
        return None
    owners = [key(o.strip()) for o in m["owners"].split(",")] if m["owners"] else []
    schemas = [key(x.strip()) for x in m["schemas"].split(",")] if m["schemas"] else []
    exposed = [x for x in schemas if x in supabase.exposed]
    if schemas and (not exposed or (exposed == ["public"] and set(owners) <= _PLATFORM)):
        return None
    who, named = _reached(roles)
    where = f"in {', '.join(exposed)}" if schemas else "in every schema (public too)"
    by = f"by {', '.join(owners)}" if owners else "by the role that runs the migration"
    privs = " ".join(m["privs"].split())
    does = " and ".join(v for v, r in (("reads", _READS), ("writes", _WRITES)) if r.search(privs))
    why = f"ALTER DEFAULT PRIVILEGES grants {privs} on every table made from now on {where} "
    why += f"{by} to {named}: {_REACH[who]} {does or 'uses'} each one through Supabase's API "
    why += "the moment it is made, before any migration enables its row level security"
    return _finding("SUPABASE-DEFAULT-GRANT", file, st.line, why)
