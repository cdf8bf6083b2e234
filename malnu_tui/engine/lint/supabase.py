"""Supabase's rule set: its API (PostgREST) serves every table of an exposed schema
(``public``, and those ``supabase/config.toml`` lists) to anyone holding the project's public
``anon`` key, and Supabase grants them to ``anon`` and ``authenticated`` as they are made, so a
table made there without row level security is open to the world (Supabase's advisor, lint
``rls_disabled_in_public``; a policy on such a table, ``policy_exists_rls_disabled``, guards
nothing). Whether the target is Supabase's: :func:`.supabase_target.supabase_of` (the sync's
too)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from malnu_tui.engine.errors import MalnuError
from malnu_tui.engine.lint.app_access import revoke_of
from malnu_tui.engine.lint.model import Finding, Rule, Severity
from malnu_tui.engine.lint.ops import IDENT, Op, key, read_ops, strip_comments
from malnu_tui.engine.lint.pg_do import do_statements
from malnu_tui.engine.lint.pg_rls import RULE as NO_POLICY
from malnu_tui.engine.lint.pg_rls import enables_rls, policy_of
from malnu_tui.engine.lint.rules import register
from malnu_tui.engine.sqlsplit import Statement
from malnu_tui.engine.supabase_target import Supabase, supabase_of

if TYPE_CHECKING:
    from malnu_tui.engine.files import Migration

__all__ = ["SUPABASE_RULES", "Exposure", "LiveTableInfo", "Supabase", "live_tables", "supabase_of"]

# A live table's schema, columns and whether row level security is on (None: no such table).
LiveTableInfo = Callable[[str], "tuple[str, tuple[str, ...], bool] | None"]

SUPABASE_RULES = (
    Rule(
        "SUPABASE-RLS-MISSING",
        "error",
        "a table in an exposed schema without row level security",
        "Supabase's API serves every table of an exposed schema to anyone holding the "
        "project's public anon key: without row level security they read and write every row",
        "ALTER TABLE … ENABLE ROW LEVEL SECURITY in the same migration (or a later one of the "
        "same run) and create its policies; a table only the server reads: enable it with no "
        "policy, or make it in a schema the API does not expose",
    ),
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
        "SUPABASE-VIEW-BYPASSES-RLS",
        "warning",
        "a view in an exposed schema reading a table with row level security as its owner",
        "a view reads its tables with its owner's rights (Supabase's postgres, to whom no "
        "policy applies): anon and authenticated read every row through it",
        "create it WITH (security_invoker = true) (PostgreSQL 15+) so the caller's policies "
        "apply; or REVOKE ALL on it FROM anon, authenticated, or make it in a schema the API "
        "does not expose; a view meant to show every row (a count per class): lint:ignore it",
    ),
)
register(*SUPABASE_RULES)
_BY_ID = {r.id: r for r in SUPABASE_RULES}
_F = re.IGNORECASE | re.DOTALL
_TABLE_INFO = (
    "SELECT n.nspname, c.relrowsecurity, array(SELECT a.attname::text FROM pg_attribute a "
    "WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum) "
    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.oid = to_regclass(%s) AND c.relkind IN ('r', 'p')"
)


def live_tables(backend: object) -> LiveTableInfo:
    """A live PostgreSQL table's (schema, columns, row level security on), by the name a
    migration gives it (found on the search path, as the migration would find it)."""
    conn = getattr(backend, "conn", None)

    def info(table: str) -> tuple[str, tuple[str, ...], bool] | None:
        if conn is None:
            return None
        try:
            from psycopg import sql

            row = conn.execute(_TABLE_INFO, (sql.Identifier(table).as_string(conn),)).fetchone()
        except Exception:  # best effort: unknown, as from the files alone
            return None
        return (str(row[0]), tuple(row[2]), bool(row[1])) if row else None

    return info


_MARKS = re.compile(r"level\s+security|policy|revoke|security_invoker", re.IGNORECASE)
_ALL = re.compile(r"^ALL\b", re.IGNORECASE)
_VIEW_HEAD = re.compile(
    rf"^CREATE\s+(?:OR\s+REPLACE\s+)?(?:TEMP(?:ORARY)?\s+)?(?:RECURSIVE\s+)?"
    rf"(?P<mat>MATERIALIZED\s+)?VIEW\s+(?:IF\s+NOT\s+EXISTS\s+)?(?:{IDENT}\s*\.\s*)?{IDENT}"
    rf"\s*(?:\([^()]*\)\s*)?(?:USING\s+\w+\s*)?(?:WITH\s*\((?P<opts>[^()]*)\))?",
    _F,
)
_ALTER_VIEW = re.compile(
    rf"^ALTER\s+VIEW\s+(?:IF\s+EXISTS\s+)?(?:{IDENT}\s*\.\s*)?(?P<name>{IDENT})\s+SET\s*"
    rf"\((?P<opts>[^()]*)\)",
    _F,
)
_STRING = re.compile(r"'(?:[^']|'')*'")
_INVOKER = re.compile(r"\bsecurity_invoker\b\s*(?:=\s*'?(?P<v>\w+)'?)?", re.IGNORECASE)
_FROM = re.compile(rf"\b(?:FROM|JOIN)\s+(?:ONLY\s+)?(?:{IDENT}\s*\.\s*)?({IDENT})", _F)


def _invoker(options: str) -> bool:
    """Whether view options (``security_invoker = true``, or bare) make it the caller's."""
    m = _INVOKER.search(options)
    return m is not None and (m["v"] or "true").lower() in ("true", "on", "1", "yes")


_TEMP = re.compile(r"^CREATE\s+(?:(?:GLOBAL|LOCAL)\s+)?TEMP", re.IGNORECASE)
_LIKE = re.compile(rf"^\(\s*LIKE\s+(?:{IDENT}\s*\.\s*)?(?P<src>{IDENT})", _F)
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


_Marks = tuple[set[str], set[str], set[str], set[str]]


def _marks(m: Migration) -> _Marks:
    """(tables ``m`` enables row level security on, tables it creates a policy on, tables and
    views it revokes all on from both ``anon`` and ``authenticated``: out of the API's reach,
    views it sets ``security_invoker`` on)."""
    enabled: set[str] = set()
    policies: set[str] = set()
    revoked: dict[str, set[str]] = {}
    invoker: set[str] = set()
    # A file that cannot be read marks nothing here: FILE-UNREADABLE is its finding.
    with contextlib.suppress(MalnuError):
        if not any(_MARKS.search(p) for p in m.text_pieces()):
            return enabled, policies, set(), set()
        for st in m.statements():
            words = st.first_words
            inner = do_statements(m.filename, st, []) if words.startswith("DO") else [st]
            for s in inner:
                if (p := policy_of(s)) is not None and p[0] == "CREATE":
                    policies.add(p[2])
                elif s.first_words.startswith("ALTER TABLE"):
                    if enables_rls(op := read_ops(s)):
                        enabled.add(op.key)
                elif (v := _ALTER_VIEW.match(strip_comments(s.text))) and _invoker(v["opts"]):
                    invoker.add(key(v["name"]))
                elif (r := revoke_of(s)) is not None and _ALL.match(r[0]):
                    for t in r[1]:
                        revoked.setdefault(t, set()).update(r[2])
    closed = {t for t, roles in revoked.items() if {"anon", "authenticated"} <= roles}
    return enabled, policies, closed, invoker


def _personal(columns: Iterable[str]) -> list[str]:
    return [c for c in columns if _PERSONAL & set(c.lower().split("_")) or c.lower() in _PERSONAL]


@dataclass
class Exposure:
    """Across a run, each migration's new tables in an exposed schema, judged against what
    that migration and the later ones of the set do (:meth:`see`, after :meth:`at`)."""

    supabase: Supabase
    migrations: Sequence[Migration]
    columns: Callable[[str], Sequence[str]] = lambda _t: ()  # a table's declared columns
    live: LiveTableInfo | None = None  # the live database's tables (pending migrations)
    _later: list[_Marks] = field(default_factory=list)
    _index: int = 0
    _made: dict[str, Finding] = field(default_factory=dict)  # this migration's, by table

    def __post_init__(self) -> None:
        seen: _Marks = (set(), set(), set(), set())
        later: list[_Marks] = []
        for marks in reversed([_marks(m) for m in self.migrations]):
            seen = (seen[0] | marks[0], seen[1] | marks[1], seen[2] | marks[2], seen[3] | marks[3])
            later.append(seen)
        self._later = later[::-1]

    def at(self, index: int) -> None:
        """The migration of the set (its index) whose statements come next."""
        self._index = index

    def _finding(
        self, rule: Rule, file: str, line: int, why: str, sev: Severity | None = None
    ) -> Finding:
        return Finding(rule.id, sev or rule.severity, file, line, why, rule.instead)

    def see(self, file: str, st: Statement, op: Op, out: list[Finding]) -> None:
        if op.kind == "create_table":
            self._created(file, st, op, self._made)
        elif op.kind == "drop_table":  # a work table gone by the commit was never seen
            for name in op.names:
                self._made.pop(key(name), None)
        elif op.kind == "create_view":
            self._view(file, st, op, out)
        elif op.kind == "other" and st.first_words.startswith("CREATE POLICY"):
            self._policy(file, st, out)

    def end(self, out: list[Finding]) -> None:
        """The migration's findings on the tables it made and did not drop again."""
        out.extend(self._made.values())
        self._made.clear()

    def _created(self, file: str, st: Statement, op: Op, out: dict[str, Finding]) -> None:
        text = strip_comments(st.text)
        schema = op.schema or self.supabase.default_schema
        if schema not in self.supabase.exposed or _TEMP.match(text) or not self._later:
            return
        enabled, policies, closed, _ = self._later[self._index]
        where = f"{schema}.{op.name}"
        if op.key in closed:
            return
        if op.key in enabled:
            if op.key not in policies:
                why = f"{where} gets row level security and no policy in this run: the app "
                why += "(anon, authenticated) reads no row of it and its writes fail; only the "
                why += "owner and service_role do (fine for a table only the server reads)"
                out[op.key] = self._finding(NO_POLICY, file, st.line, why, "info")
            return
        like = _LIKE.match(op.body.strip())
        if op.source:
            how = f"a copy of the rows of {op.source} (CREATE TABLE … AS copies no row "
            how += "level security)"
        elif like:
            how = f"made LIKE {key(like['src'])} (LIKE copies no row level security or policy)"
        else:
            how = "made"
        why = f"{where} is {how} in the exposed schema {schema} and no migration of this run "
        why += "enables row level security on it (nor revokes all on it from anon and "
        why += "authenticated): anyone holding the project's public anon key "
        why += "reads and writes every row through Supabase's API"
        if op.key in policies:
            why += "; its policies apply only once row level security is on"
        out[op.key] = self._finding(_BY_ID["SUPABASE-RLS-MISSING"], file, st.line, why)

    def _guarding_nothing(
        self, file: str, st: Statement, policy: str, table: str, out: list[Finding]
    ) -> None:
        """A policy made on a live table of an exposed schema whose row level security is off
        and that no migration of the run turns on (Supabase's policy_exists_rls_disabled)."""
        live = self.live(table) if self.live is not None else None
        if live is None or live[2] or live[0] not in self.supabase.exposed or not self._later:
            return
        enabled, _, closed, _ = self._later[0]  # (an earlier pending one counts too)
        if table in enabled or table in closed:
            return
        why = f"policy {policy} is made on {live[0]}.{table}, whose row level security is off "
        why += "in the live database and no migration of this run turns it on: the policy "
        why += "guards nothing, anyone holding the project's public anon key reads and writes "
        why += "every row"
        out.append(self._finding(_BY_ID["SUPABASE-RLS-MISSING"], file, st.line, why))

    def _view(self, file: str, st: Statement, op: Op, out: list[Finding]) -> None:
        """A view (or materialized view, which no policy ever filters) made in an exposed
        schema over a table some migration of the set protects with row level security."""
        text = strip_comments(st.text)
        schema = op.schema or self.supabase.default_schema
        if schema not in self.supabase.exposed or _TEMP.match(text) or not self._later:
            return
        _, _, closed, invoker = self._later[self._index]
        protected = self._later[0][0]  # row level security on, in some migration of the set
        head = _VIEW_HEAD.match(text)
        if op.key in closed or op.key in invoker or (head and _invoker(head["opts"] or "")):
            return
        read = sorted({key(t) for t in _FROM.findall(_STRING.sub("''", text))} & protected)
        if not read:
            return
        kind = "materialized view" if head and head["mat"] else "view"
        why = f"{kind} {schema}.{op.name} reads {', '.join(read)}, which row level security "
        why += "protects, with its owner's rights"
        why += (
            " (a materialized view is never filtered)"
            if kind != "view"
            else (" (no security_invoker)")
        )
        why += ": anon and authenticated read every row of it through the view"
        out.append(self._finding(_BY_ID["SUPABASE-VIEW-BYPASSES-RLS"], file, st.line, why))

    def _policy(self, file: str, st: Statement, out: list[Finding]) -> None:
        p = policy_of(st)
        m = _POLICY_REST.match(strip_comments(st.text))
        if p is None or m is None:
            return
        self._guarding_nothing(file, st, p[1], p[2], out)
        rest = _STRING.sub("''", m["rest"])
        cmd_m = _FOR.search(rest)
        cmd = cmd_m["cmd"].upper() if cmd_m else "ALL"
        to = _TO.search(rest)
        roles = {key(r.strip()) for r in to["roles"].split(",")} if to else {"public"}
        if _AS.search(rest) or not roles & {"anon", "authenticated", "public"}:
            return
        who = "anon" if "anon" in roles else "authenticated"
        named = "PUBLIC (anon too)" if roles.isdisjoint({"anon", "authenticated"}) else who
        using, check = _clause(rest, "USING"), _clause(rest, "WITH CHECK")
        open_rows = using is not None and _always(using)
        open_values = check is not None and _always(check)
        if open_rows and cmd in ("ALL", "SELECT"):
            live = self.live(p[2]) if self.live is not None else None
            personal = _personal(self.columns(p[2]) or (live[1] if live else ()))
            if personal:
                why = f"policy {p[1]} lets {named} read every row of {p[2]} (USING (true)), whose "
                why += f"{', '.join(personal[:4])} then reach {_REACH[who]}"
                out.append(self._finding(_BY_ID["SUPABASE-OPEN-POLICY"], file, st.line, why))
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
            why = f"policy {p[1]} ({cmd}) lets {named} {verbs} rows of {p[2]} with no condition "
            why += f"({', '.join(said)}): {_REACH[who]} writes them"
            out.append(self._finding(_BY_ID["SUPABASE-OPEN-WRITE"], file, st.line, why))


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
