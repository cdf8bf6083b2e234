"""Supabase's rule set: its API (PostgREST) serves every table of an exposed schema
(``public``, and those ``supabase/config.toml`` lists) to anyone holding the project's public
``anon`` key, and Supabase grants them to ``anon`` and ``authenticated`` as they are made, so a
table made there without row level security is open to the world (Supabase's advisor, lint
``rls_disabled_in_public``; a policy on such a table, ``policy_exists_rls_disabled``, guards
nothing). Whether the target is Supabase's: :func:`.supabase_target.supabase_of` (the sync's
too)."""

from __future__ import annotations

import bisect
import contextlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from malnu_tui.engine.errors import MalnuError
from malnu_tui.engine.lint.app_access import revoke_of
from malnu_tui.engine.lint.model import Finding, Rule, Severity
from malnu_tui.engine.lint.ops import IDENT, Op, key, read_ops, strip_comments
from malnu_tui.engine.lint.pg_do import do_statements
from malnu_tui.engine.lint.pg_rls import RULE as NO_POLICY
from malnu_tui.engine.lint.pg_rls import enables_rls, policy_label, policy_of
from malnu_tui.engine.lint.rules import register
from malnu_tui.engine.lint.supabase_grants import default_grant, open_policy
from malnu_tui.engine.lint.supabase_realtime import realtime_replaced, realtime_restored
from malnu_tui.engine.sqlsplit import Statement
from malnu_tui.engine.supabase_target import Supabase, supabase_of

if TYPE_CHECKING:
    from malnu_tui.engine.files import Migration

__all__ = ["SUPABASE_RULES", "Exposure", "LiveTableInfo", "Supabase", "live_tables", "supabase_of"]


class LiveTableInfo(Protocol):
    """A live table's schema, columns and whether row level security is on (None: no such
    table), by its name (in ``schema``; "": found on the search path)."""

    def __call__(
        self, table: str, schema: str = ""
    ) -> tuple[str, tuple[str, ...], bool] | None: ...


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
    migration gives it (found on the search path, as the migration would find it, unless the
    migration names its schema)."""
    conn = getattr(backend, "conn", None)

    def info(table: str, schema: str = "") -> tuple[str, tuple[str, ...], bool] | None:
        if conn is None:
            return None
        try:
            from psycopg import sql

            name = sql.Identifier(*((schema, table) if schema else (table,)))
            row = conn.execute(_TABLE_INFO, (name.as_string(conn),)).fetchone()
        except Exception:  # best effort: unknown, as from the files alone
            return None
        return (str(row[0]), tuple(row[2]), bool(row[1])) if row else None

    return info


_MARKS = re.compile(r"level\s+security|policy|revoke|security_invoker|rename", re.IGNORECASE)
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
# A string: quoted, or dollar-quoted (pg_cron's `cron.schedule('…', '…', $$insert into log
# select …$$)`: its body is no SELECT … INTO of the statement's own, nor a view's FROM).
_STRING = re.compile(
    r"'(?:[^']|'')*'|(?<![\w$])\$(?P<tag>[A-Za-z_][A-Za-z0-9_]*|)\$.*?\$(?P=tag)\$", re.DOTALL
)
_INVOKER = re.compile(r"\bsecurity_invoker\b\s*(?:=\s*'?(?P<v>\w+)'?)?", re.IGNORECASE)
_FROM = re.compile(rf"\b(?:FROM|JOIN)\s+(?:ONLY\s+)?(?:{IDENT}\s*\.\s*)?({IDENT})", _F)


def _invoker(options: str) -> bool:
    """Whether view options (``security_invoker = true``, or bare) make it the caller's."""
    m = _INVOKER.search(options)
    return m is not None and (m["v"] or "true").lower() in ("true", "on", "1", "yes")


_TEMP = re.compile(r"^CREATE\s+(?:(?:GLOBAL|LOCAL)\s+)?TEMP", re.IGNORECASE)
_LIKE = re.compile(rf"^\(\s*LIKE\s+(?:{IDENT}\s*\.\s*)?(?P<src>{IDENT})", _F)
# SELECT … INTO new_table [FROM …] (PostgreSQL's CREATE TABLE AS; in PL/pgSQL a variable's).
_SELECT_INTO = re.compile(
    rf"^SELECT\b(?:(?!\bFROM\b).)*?\bINTO\s+(?P<temp>(?:(?:GLOBAL|LOCAL)\s+)?TEMP(?:ORARY)?\s+)?"
    rf"(?:UNLOGGED\s+)?(?:TABLE\s+)?(?:(?P<schema>{IDENT})\s*\.\s*)?(?P<name>{IDENT})(?P<rest>.*)$",
    _F,
)
_SET_SCHEMA = re.compile(
    rf"^ALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?(?:(?P<schema>{IDENT})\s*\.\s*)?"
    rf"(?P<name>{IDENT})\s+SET\s+SCHEMA\s+(?P<new>{IDENT})",
    _F,
)


# The schema a CREATE TABLE or VIEW names, as written (the statement's reading folds it).
_MADE_IN = re.compile(
    rf"^CREATE\b[^(\"]*?\b(?:TABLE|VIEW)\s+(?:IF\s+NOT\s+EXISTS\s+)?(?P<schema>{IDENT})\s*\.",
    _F,
)


def _made_in(st: Statement, op: Op, default: str) -> str:
    """The schema ``op`` (a CREATE TABLE or VIEW) makes its relation in: :func:`_folded`
    (``"Public"`` is not ``public``), ``default`` when it names none."""
    if not op.schema:
        return default
    m = _MADE_IN.match(strip_comments(st.text))
    return _folded(m["schema"]) if m else op.schema


def _folded(name: str) -> str:
    """A schema or table name as PostgreSQL reads it: quoted, as written (``"Public"`` is not
    ``public``); bare, case-folded."""
    if name[:1] == '"' and len(name) >= 2 and name[-1] == '"':
        return name[1:-1].replace('""', '"')
    return name.lower()


_BOTH = frozenset({"anon", "authenticated"})
_Sets = tuple[set[str], set[str], set[str], set[str]]
# In a migration's order: ("enable" | "policy" | "revoke" | "rename", table, role or new name).
_Events = list[tuple[str, str, str]]


def _marks(m: Migration) -> tuple[_Sets, _Events]:
    """(tables ``m`` enables row level security on, tables it creates a policy on, tables and
    views it revokes all on from both ``anon`` and ``authenticated``: out of the API's reach,
    views it sets ``security_invoker`` on), and those of its statements in order with its
    renames of tables (a table is followed by its name)."""
    enabled: set[str] = set()
    policies: set[str] = set()
    revoked: dict[str, set[str]] = {}
    invoker: set[str] = set()
    events: _Events = []
    # A file that cannot be read marks nothing here: FILE-UNREADABLE is its finding.
    with contextlib.suppress(MalnuError):
        if not any(_MARKS.search(p) for p in m.text_pieces()):
            return (enabled, policies, set(), set()), events
        for st in m.statements():
            words = st.first_words
            inner = do_statements(m.filename, st, []) if words.startswith("DO") else [st]
            for s in inner:
                if (p := policy_of(s)) is not None and p[0] == "CREATE":
                    policies.add(p[2])
                    events.append(("policy", p[2], ""))
                elif s.first_words.startswith("ALTER TABLE"):
                    op = read_ops(s)
                    if enables_rls(op):
                        enabled.add(op.key)
                        events.append(("enable", op.key, ""))
                    renames = (a for a in op.actions if a.kind == "rename_table")
                    events.extend(("rename", op.key, key(a.new)) for a in renames)
                elif (v := _ALTER_VIEW.match(strip_comments(s.text))) and _invoker(v["opts"]):
                    invoker.add(key(v["name"]))
                elif (r := revoke_of(s)) is not None and _ALL.match(r[0]):
                    for t in r[1]:
                        revoked.setdefault(t, set()).update(r[2])
                        events.extend(("revoke", t, role) for role in sorted(r[2]))
    closed = {t for t, roles in revoked.items() if roles >= _BOTH}
    return (enabled, policies, closed, invoker), events


@dataclass
class _Made:
    """A table the migration made (or moved into an exposed schema) and what it has done to
    it since, under its name of the moment."""

    name: str  # as made
    schema: str
    line: int  # where it reached its schema: the CREATE, the SELECT … INTO, the SET SCHEMA
    how: str  # "made", "a copy of the rows of …", "moved … into" (followed by the schema)
    renamed: str = ""
    enabled: bool = False
    policies: bool = False
    revoked: set[str] = field(default_factory=set)
    note: bool = True  # its PG-RLS-NO-POLICY note (a table made here)


@dataclass
class Exposure:
    """Across a run, each migration's new tables in an exposed schema (made, copied with
    SELECT … INTO, moved there with SET SCHEMA), followed through the migration in order
    (:meth:`see`, after :meth:`at`) under their names of the moment, and judged at its end
    (:meth:`end`) with what the later migrations of the set do."""

    supabase: Supabase
    migrations: Sequence[Migration]
    columns: Callable[[str], Sequence[str]] = lambda _t: ()  # a table's declared columns
    live: LiveTableInfo | None = None  # the live database's tables (pending migrations)
    _later: list[_Sets] = field(default_factory=list)
    _events: list[_Events] = field(default_factory=list)
    _touching: dict[str, list[int]] = field(default_factory=dict)  # table → its migrations
    _index: int = 0
    _made: dict[str, _Made] = field(default_factory=dict)  # this migration's, by name now
    _dropped: list[Finding] = field(default_factory=list)  # its DROP PUBLICATION supabase_realtime

    def __post_init__(self) -> None:
        seen: _Sets = (set(), set(), set(), set())
        later: list[_Sets] = []
        for marks, events in reversed([_marks(m) for m in self.migrations]):
            seen = (seen[0] | marks[0], seen[1] | marks[1], seen[2] | marks[2], seen[3] | marks[3])
            later.append(seen)
            self._events.append(events)
        self._later = later[::-1]
        self._events.reverse()
        for i, events in enumerate(self._events):
            for t in dict.fromkeys(e[1] for e in events):
                self._touching.setdefault(t, []).append(i)

    def at(self, index: int) -> None:
        """The migration of the set (its index) whose statements come next."""
        self._index = index

    def _finding(
        self, rule: Rule, file: str, line: int, why: str, sev: Severity | None = None
    ) -> Finding:
        return Finding(rule.id, sev or rule.severity, file, line, why, rule.instead)

    def see(
        self, file: str, st: Statement, op: Op, out: list[Finding], inner: bool = False
    ) -> None:
        """One statement (``inner``: of a DO block, where SELECT … INTO fills a variable)."""
        if op.kind == "create_table":
            self._created(st, op)
        elif op.kind == "drop_table":  # a work table gone by the commit was never seen
            for name in op.names:
                self._made.pop(key(name), None)
        elif op.kind == "alter_table":
            self._altered(st, op)
        elif op.kind == "create_view":
            self._view(file, st, op, out)
        elif op.kind != "other":
            return
        elif (p := policy_of(st)) is not None and p[0] == "CREATE":
            if p[2] in self._made:
                self._made[p[2]].policies = True
            self._guarding_nothing(file, st, policy_label(st), p[2], out)
            open_policy(file, st, self._columns, out)
        elif (r := revoke_of(st)) is not None and _ALL.match(r[0]):
            for t in r[1]:
                if t in self._made:
                    self._made[t].revoked |= r[2]
        elif st.first_words.startswith("SELECT") and not inner:
            self._select_into(st)
        elif (
            f := default_grant(file, st, self.supabase) or realtime_replaced(file, st)
        ) is not None:
            # A DROP PUBLICATION supabase_realtime: said at the end of the migration, unless a
            # CREATE … FOR ALL TABLES after it puts every table back (realtime_restored).
            dropped = f.rule == "SUPABASE-REALTIME-REPLACED" and f.why.startswith("DROP PUB")
            (self._dropped if dropped else out).append(f)
        elif realtime_restored(st):
            self._dropped.clear()

    def _columns(self, table: str) -> Sequence[str]:
        if declared := self.columns(table):
            return declared
        live = self.live(table) if self.live is not None else None
        return live[1] if live else ()

    def _created(self, st: Statement, op: Op) -> None:
        if _TEMP.match(strip_comments(st.text)):
            return
        like = _LIKE.match(op.body.strip())
        if op.source:
            how = f"a copy of the rows of {op.source} (CREATE TABLE … AS copies no row level "
            how += "security)"
        elif like:
            how = f"made LIKE {key(like['src'])} (LIKE copies no row level security or policy)"
        else:
            how = "made"
        schema = _made_in(st, op, self.supabase.default_schema)
        self._track(op.key, _Made(op.name, schema, st.line, how))

    def _select_into(self, st: Statement) -> None:
        m = _SELECT_INTO.match(_STRING.sub("''", strip_comments(st.text)))
        if m is None or m["temp"]:
            return
        source = _FROM.search(m["rest"])
        copied = f"the rows of {key(source[1])}" if source else "rows"
        how = f"a copy of {copied} made by SELECT … INTO (it copies no row level security)"
        raw = m["name"]
        name = raw[1:-1].replace('""', '"') if raw[:1] == '"' else raw
        schema = _folded(m["schema"]) if m["schema"] else self.supabase.default_schema
        self._track(key(m["name"]), _Made(name, schema, st.line, how))

    def _track(self, table: str, made: _Made) -> None:
        """Follow ``made`` by its name (one of another schema does not hide an exposed one of
        the same name, which is what this follows tables for)."""
        was = self._made.get(table)
        exposed = self.supabase.exposed
        if was is None or was.schema not in exposed or made.schema in exposed:
            self._made[table] = made

    def _altered(self, st: Statement, op: Op) -> None:
        made = self._made.get(op.key)
        if made is not None and enables_rls(op):
            made.enabled = True
        for a in op.actions:
            if a.kind == "rename_table" and made is not None:
                del self._made[op.key]
                made.renamed = a.new
                self._made[key(a.new)] = made
            elif a.kind == "set_schema":
                h = _SET_SCHEMA.match(strip_comments(st.text))
                self._moved(st, op, _folded(h["new"]) if h else key(a.new), made)

    def _moved(self, st: Statement, op: Op, schema: str, made: _Made | None) -> None:
        """``ALTER TABLE … SET SCHEMA``: a table moved into an exposed schema, with its row
        level security as it was made (this migration), as the live database has it, or off
        when no migration of the set enables it."""
        exposed = self.supabase.exposed
        if made is not None:
            if schema in exposed and made.schema not in exposed:
                made.how = f"made in {made.schema} at line {made.line} and moved by ALTER "
                made.how += "TABLE … SET SCHEMA into"
                made.line = st.line
            made.schema = schema
            return
        if schema not in exposed:
            return
        h = _SET_SCHEMA.match(strip_comments(st.text))
        was = _folded(h["schema"]) if h and h["schema"] else ""
        name = _folded(h["name"]) if h else op.name
        live = self.live(name, was) if self.live is not None else None
        if (live is not None and live[2]) or (live is None and op.key in self._later[0][0]):
            return  # its row level security is on (or some migration of the set turns it on)
        how = f"moved from {was or 'another schema'}"
        how += " (its row level security off in the live database)" if live else ""
        how += " by ALTER TABLE … SET SCHEMA into"
        self._made[op.key] = _Made(op.name, schema, st.line, how, note=False)

    def _after(self, table: str) -> tuple[bool, bool, bool]:
        """(row level security enabled, revoked from both anon and authenticated, a policy
        made) on ``table`` by the later migrations of the set, followed through renames."""
        enabled = policies = False
        roles: set[str] = set()
        after = self._index + 1
        while (i := self._next(table, after)) is not None:
            after = i + 1
            for kind, t, other in self._events[i]:
                if t != table:
                    continue
                if kind == "rename":
                    table = other
                enabled |= kind == "enable"
                policies |= kind == "policy"
                if kind == "revoke":
                    roles.add(other)
        return enabled, roles >= _BOTH, policies

    def _next(self, table: str, after: int) -> int | None:
        """The first migration from index ``after`` on that touches ``table``, if any."""
        touching = self._touching.get(table, [])
        at = bisect.bisect_left(touching, after)
        return touching[at] if at < len(touching) else None

    def end(self, out: list[Finding]) -> None:
        """The migration's findings on the tables it made (or moved) in an exposed schema and
        did not drop again."""
        out.extend(self._dropped)
        self._dropped = []
        made, self._made = self._made, {}
        for t, m in made.items():
            if m.schema not in self.supabase.exposed:
                continue
            enabled, closed, policies = self._after(t)
            if closed or m.revoked >= _BOTH:
                continue
            where = f"{m.schema}.{m.name}" + (f" (renamed {m.renamed})" if m.renamed else "")
            file = self.migrations[self._index].filename
            if enabled or m.enabled:
                if not (policies or m.policies) and m.note:
                    why = f"{where} gets row level security and no policy in this run: the app "
                    why += "(anon, authenticated) reads no row of it and its writes fail; only "
                    why += "the owner and service_role do (fine for a table only the server reads)"
                    out.append(self._finding(NO_POLICY, file, m.line, why, "info"))
                continue
            into = m.how if m.how.endswith(" into") else f"{m.how} in"
            why = f"{where} is {into} the exposed schema {m.schema} and no migration of this "
            why += "run enables row level security on it (nor revokes all on it from anon and "
            why += "authenticated): anyone holding the project's public anon key "
            why += "reads and writes every row through Supabase's API"
            if policies or m.policies:
                why += "; its policies apply only once row level security is on"
            out.append(self._finding(_BY_ID["SUPABASE-RLS-MISSING"], file, m.line, why))

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
        schema = _made_in(st, op, self.supabase.default_schema)
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
