"""What a PostgreSQL statement locks that the running app's queries wait for, on a table (or
view) the migration did not create: the reach of PG-LOCK-TIMEOUT (not only ALTER TABLE: a
plain CREATE INDEX, CREATE TRIGGER, CREATE POLICY, a foreign key's parent, DROP, TRUNCATE…),
and ALTER DOMAIN's validation of every column of the domain (PG-DOMAIN-CONSTRAINT).

Each lock as PostgreSQL 15 takes it (measured: a second session's SELECT and INSERT with
lock_timeout 200 ms while the statement's transaction is open). ``ALTER TYPE … ADD VALUE``
locks no table: the app's reads and writes go on.
"""

from __future__ import annotations

import re
from collections.abc import Container

from malnu_tui.engine.lint.model import Rule
from malnu_tui.engine.lint.ops import IDENT, QNAME, Op, key, pg_key, strip_comments
from malnu_tui.engine.lint.rules import register
from malnu_tui.engine.sqlsplit import Statement

__all__ = ["DOMAIN_RULE", "MadeHere", "domain_constraint", "new_domain", "strong_lock"]

DOMAIN_RULE = Rule(
    "PG-DOMAIN-CONSTRAINT",
    "warning",
    "ALTER DOMAIN … ADD CONSTRAINT (or SET NOT NULL) validated at once",
    "every column of the domain, in every table, is scanned under a SHARE lock on its table: "
    "the app's writes to those tables wait until the migration commits, and a row that "
    "breaks the constraint fails the migration",
    "put the CHECK on the columns instead (ADD CONSTRAINT … NOT VALID, then VALIDATE "
    "CONSTRAINT in a later migration, which lets writes go on); or add it to the domain NOT "
    "VALID (new values checked, nothing scanned) and run its VALIDATE CONSTRAINT in a "
    "migration of its own at a quiet hour: it takes SHARE on each table too (PostgreSQL 15)",
)
register(DOMAIN_RULE)

_F = re.IGNORECASE | re.DOTALL
_ON = rf"\s+ON\s+(?:{IDENT}\s*\.\s*)?(?P<table>{IDENT})"
_POLICY = re.compile(
    rf"^(?P<verb>CREATE|ALTER|DROP)\s+POLICY\s+(?:IF\s+EXISTS\s+)?{IDENT}{_ON}", _F
)
_DROP_TRIGGER = re.compile(rf"^DROP\s+TRIGGER\s+(?:IF\s+EXISTS\s+)?{IDENT}{_ON}", _F)
_REFERENCES = re.compile(rf"\bREFERENCES\s+(?:(?P<schema>{IDENT})\s*\.\s*)?(?P<parent>{IDENT})", _F)
_QUALIFIED = re.compile(rf"(?<![\w.$\"])(?P<schema>{IDENT})\s*\.\s*(?P<name>{IDENT})", _F)
_CREATE_DOMAIN = re.compile(rf"^CREATE\s+DOMAIN\s+{QNAME}", _F)
_ALTER_DOMAIN = re.compile(
    rf"^ALTER\s+DOMAIN\s+{QNAME}\s+(?:(?P<add>ADD\b.*)|(?P<nn>SET\s+NOT\s+NULL)\s*)$", _F
)
_VALIDATE_DOMAIN = re.compile(rf"^ALTER\s+DOMAIN\s+{QNAME}\s+VALIDATE\s+CONSTRAINT\b", _F)
_NOT_VALID = re.compile(r"\bNOT\s+VALID\s*$", _F)
_STRINGS = re.compile(r"'(?:[^']|'')*'")
_BLOCKING_MODES = {"SHARE", "SHARE ROW EXCLUSIVE", "EXCLUSIVE", "ACCESS EXCLUSIVE"}
# ALTER TABLE actions that take SHARE UPDATE EXCLUSIVE only (PostgreSQL's ALTER TABLE page;
# measured: tests/test_lint_realworld6.py), which no SELECT, INSERT, UPDATE or DELETE waits
# for: VALIDATE CONSTRAINT (the second half of NOT VALID), SET STATISTICS, a column's
# n_distinct, CLUSTER ON, SET WITHOUT CLUSTER, and the fillfactor, autovacuum, toast and
# parallel_workers storage parameters (any other parameter takes ACCESS EXCLUSIVE).
_WEAK_ACTION = re.compile(
    r"^(?:VALIDATE\s+CONSTRAINT\b|CLUSTER\s+ON\b|SET\s+WITHOUT\s+CLUSTER$"
    rf"|ALTER\s+(?:COLUMN\s+)?{IDENT}\s+(?:SET\s+STATISTICS\b|(?:SET|RESET)\s*\())",
    _F,
)
_STORAGE = re.compile(r"^(?:SET|RESET)\s*\((?P<params>.*)\)$", _F)
_WEAK_PARAM = re.compile(
    r"^(?:fillfactor|parallel_workers|autovacuum_\w+|toast\.\w+|toast_tuple_target)\b", _F
)


def _weak_action(text: str) -> bool:
    """An ALTER TABLE action that takes SHARE UPDATE EXCLUSIVE only."""
    if _WEAK_ACTION.match(text):
        return True
    m = _STORAGE.match(text)
    return m is not None and all(
        _WEAK_PARAM.match(p) for p in (p.strip() for p in m["params"].split(","))
    )


_WRITES = "writes to it wait"
_ALL = "reads and writes of it wait"


def _unq(name: str) -> str:
    return key(name)


class MadeHere:
    """The tables and views this migration made (folded names), as one statement sees them: a
    name it writes only qualified by another schema is not one of them (a Supabase set's
    ``CREATE TABLE users`` in public, then ``CREATE TRIGGER … ON auth.users``: the trigger waits
    for a lock on Auth's table, which every sign-up writes; it was "this migration's table")."""

    def __init__(self, names: Container[str], schemas: dict[str, str], text: str) -> None:
        self.names = names
        self.schemas = schemas  # name → the schema it was made in, "" for the default
        self.text = text
        self._bare = ""
        self._elsewhere: dict[str, set[str]] | None = None

    @property
    def elsewhere(self) -> dict[str, set[str]]:
        """Name → the schemas the statement names it in (read once, when first asked)."""
        if self._elsewhere is None:
            self._bare = _STRINGS.sub("''", self.text)
            self._elsewhere = {}
            for m in _QUALIFIED.finditer(self._bare):
                self._elsewhere.setdefault(pg_key(m["name"]), set()).add(key(m["schema"]))
        return self._elsewhere

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str) or name not in self.names:
            return False
        schemas = self.elsewhere.get(name)
        if not schemas:
            return True
        made_in = self.schemas.get(name) or "public"
        return made_in in schemas or self._also_unqualified(name)

    def _also_unqualified(self, name: str) -> bool:
        """Whether the statement also writes ``name`` with no schema (then it may be ours)."""
        for m in re.finditer(rf"(?<![\w.$\"]){IDENT}", self._bare):
            if pg_key(m.group()) == name and not self._bare[m.end() :].lstrip().startswith("."):
                return True
        return False

    def shown(self, name: str, pg: str = "") -> str:
        """``name`` as the statement qualifies it (``auth.users``), when it does so once
        (``pg``: as PostgreSQL folds it)."""
        schemas = self.elsewhere.get(pg or key(name), set())
        return f"{next(iter(schemas))}.{name}" if len(schemas) == 1 else name


def new_domain(text: str) -> str | None:
    """The domain a ``CREATE DOMAIN`` makes (folded), or None."""
    m = _CREATE_DOMAIN.match(text)
    return key(m["name"]) if m else None


def domain_constraint(text: str, new_domains: Container[str]) -> tuple[str, str] | None:
    """(domain, what) for an ``ALTER DOMAIN … ADD CONSTRAINT`` without NOT VALID or ``SET
    NOT NULL`` of a domain not in ``new_domains``; None otherwise."""
    m = _ALTER_DOMAIN.match(text)
    if m is None or key(m["name"]) in new_domains:
        return None
    if m["add"] and _NOT_VALID.search(m["add"]):
        return None
    return key(m["name"]), "SET NOT NULL" if m["nn"] else "ADD CONSTRAINT"


def _parents(text: str, table: str, created: Container[str], schema: str = "") -> list[str]:
    """The tables ``table``'s new foreign keys point at that the migration did not create,
    ``auth.users`` as written; the table itself (a key to its own rows) left out (``table``
    and ``created`` as PostgreSQL folds them)."""
    own = schema or "public"
    found: set[str] = set()
    for m in _REFERENCES.finditer(_STRINGS.sub("''", text)):
        where = key(m["schema"]) if m["schema"] else ""
        shown = pg_key(m["parent"])  # (as PostgreSQL names it: "Enrolment", not enrolment)
        if shown == table and where in ("", own):
            continue  # its own rows
        if shown not in created:
            found.add(f"{pg_key(m['schema'])}.{shown}" if where not in ("", "public") else shown)
    return sorted(found)


def _refs(parents: list[str]) -> str:
    return f"REFERENCES {', '.join(parents)} (SHARE ROW EXCLUSIVE on it: {_WRITES})"


_ALTER_TABLE_SCHEMA = re.compile(
    rf"^ALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?(?P<schema>{IDENT})\s*\.", _F
)


def _schema_of(st: Statement, op: Op) -> str:
    """The schema an ALTER TABLE names its table in, folded; "" for none."""
    m = _ALTER_TABLE_SCHEMA.match(strip_comments(st.text))
    return key(m["schema"]) if m else op.schema


def _pg(op: Op) -> str:
    """``op``'s table as PostgreSQL folds it (``created`` names them so)."""
    return op.pg_name or op.key


def _old(op: Op, created: Container[str]) -> list[str]:
    """The tables (views) ``op`` names that the migration did not create, as written."""
    return [n for i, n in enumerate(op.names) if (op.pg_of(i) or key(n)) not in created]


def strong_lock(
    st: Statement,
    op: Op,
    created: Container[str],
    new_indexes: Container[str],
    new_domains: Container[str],
) -> str | None:
    """What ``st`` waits to lock, in words (``CREATE INDEX on users (SHARE: writes to it
    wait)``), when the lock is on a table or view the migration did not create (``created``,
    ``new_indexes``: this migration's) and the app's writes or reads wait for it; None
    otherwise."""
    k = op.kind
    if k == "alter_table":  # a new foreign key locks its parent too
        parents = _parents(strip_comments(st.text), _pg(op), created, _schema_of(st, op))
        if parents:
            return f"ALTER TABLE {op.name} … {_refs(parents)}"
        if op.actions and all(_weak_action(a.definition) for a in op.actions):
            return None  # SHARE UPDATE EXCLUSIVE: nobody's query waits
        return f"ALTER TABLE {op.name}" if _pg(op) not in created else None
    if k == "create_table":
        parents = _parents(op.body, _pg(op), created, op.schema)
        return f"CREATE TABLE {op.name} … {_refs(parents)}" if parents else None
    table = op.pg_table or key(op.table)
    if k == "create_index" and not op.concurrently and table not in created:
        return f"CREATE INDEX on {op.table} (SHARE: {_WRITES})"
    if k == "create_trigger" and op.table and table not in created:
        shown = created.shown(op.table, op.pg_table) if isinstance(created, MadeHere) else op.table
        return f"CREATE TRIGGER on {shown} (SHARE ROW EXCLUSIVE: {_WRITES})"
    if k in ("drop_table", "drop_view"):
        old = _old(op, created)
        what = "TABLE" if k == "drop_table" else "VIEW"
        return f"DROP {what} {', '.join(old)} (ACCESS EXCLUSIVE: {_ALL})" if old else None
    if k == "drop_index" and not op.concurrently:
        old = [n for n in op.names if key(n) not in new_indexes]
        return f"DROP INDEX {', '.join(old)} (ACCESS EXCLUSIVE on its table)" if old else None
    if k == "delete_all" and st.first_words.startswith("TRUNCATE"):
        old = _old(op, created)
        return f"TRUNCATE {', '.join(old)} (ACCESS EXCLUSIVE: {_ALL})" if old else None
    if k == "lock_table" and op.value in _BLOCKING_MODES:
        old = _old(op, created)
        return f"LOCK {', '.join(old)} IN {op.value} MODE" if old else None
    if (
        k in ("refresh_view", "cluster")
        and op.name
        and not op.concurrently
        and _pg(op) not in created
    ):
        verb = "REFRESH MATERIALIZED VIEW" if k == "refresh_view" else "CLUSTER"
        return f"{verb} {op.name} (ACCESS EXCLUSIVE: {_ALL})"
    if k == "reindex" and not op.concurrently and op.value in ("index", "table"):
        mine = op.key in new_indexes if op.value == "index" else _pg(op) in created
        return None if mine else f"REINDEX {op.value.upper()} {op.name}"
    if k == "vacuum" and op.value == "full":
        return "VACUUM FULL (ACCESS EXCLUSIVE)"
    if k == "drop_trigger":
        m = _DROP_TRIGGER.match(strip_comments(st.text))
        if m is None or pg_key(m["table"]) in created:
            return None
        return f"DROP TRIGGER {op.name} ON {_unq(m['table'])} (ACCESS EXCLUSIVE: {_ALL})"
    if k != "other" or st.first_words[:4] not in ("CREA", "ALTE", "DROP"):
        return None
    text = strip_comments(st.text)
    if (m := _POLICY.match(text)) and pg_key(m["table"]) not in created:
        return f"{m['verb'].upper()} POLICY … ON {_unq(m['table'])} (ACCESS EXCLUSIVE: {_ALL})"
    if (d := domain_constraint(text, new_domains)) is not None:
        return f"ALTER DOMAIN {d[0]} {d[1]} (SHARE on every table with a column of it)"
    if (m := _VALIDATE_DOMAIN.match(text)) and key(m["name"]) not in new_domains:
        return f"ALTER DOMAIN {key(m['name'])} VALIDATE CONSTRAINT (SHARE on every table of it)"
    return None
