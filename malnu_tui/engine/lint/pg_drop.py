"""PostgreSQL ``DROP … CASCADE`` of an object that tables or columns depend on: PostgreSQL drops
the dependents too, with only a NOTICE naming them ("drop cascades to table reporting.summary",
"drop cascades to column m of table p"), so the rows and values go without a finding of their
own (DROP-TABLE and DROP-COLUMN see only what a statement names)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from malnu_tui.engine.lint.model import Finding, Rule
from malnu_tui.engine.lint.ops import Op, key, strip_comments
from malnu_tui.engine.lint.rules import register
from malnu_tui.engine.sqlsplit import Statement

__all__ = ["PG_DROP_RULES", "PgDrops"]

PG_DROP_RULES = (
    Rule(
        "PG-DROP-CASCADE",
        "error",
        "DROP SCHEMA, TYPE, DOMAIN, EXTENSION or FUNCTION … CASCADE",
        "CASCADE drops whatever depends on the object without naming it: every table of a "
        "schema with its rows, every column of a type or domain (or of an extension's types) "
        "with its values",
        "drop or change what depends on it first, each by name (so each is linted and "
        "reviewed), then DROP it without CASCADE: PostgreSQL refuses that while anything still "
        "depends on it",
    ),
)
register(*PG_DROP_RULES)

_KINDS = ("schema", "type", "domain", "extension", "function", "procedure")
# A function dropped with CASCADE is most often re-created with its trigger in the same
# migration (the DROP … CASCADE; CREATE FUNCTION; CREATE TRIGGER idiom): a warning.
_WARN_ONLY = ("function", "procedure")
_IDENT = r'(?:"(?:[^"]|"")+"|[\w$]+)'
_CREATE = re.compile(
    rf"^CREATE\s+(?:OR\s+REPLACE\s+)?(?P<kind>SCHEMA|TYPE|DOMAIN|EXTENSION|FUNCTION|PROCEDURE)\s+"
    rf"(?:IF\s+NOT\s+EXISTS\s+)?"
    rf"(?:{_IDENT}\s*\.\s*)?(?P<name>{_IDENT})",
    re.IGNORECASE,
)
_WHAT = {
    "schema": "every table, view and function in it, tables with their rows",
    "type": "every column of that type, with its values",
    "domain": "every column of that domain, with its values",
    "extension": "every object it provides and every column of its types, with their values",
    "function": "every trigger, index, CHECK and default that calls it, and every generated "
    "column computed with it, with its values",
    "procedure": "whatever calls it",
}


@dataclass
class PgDrops:
    """One migration's ``DROP … CASCADE``\\s (``columns``: type → {(table, column)} declared in
    the migrations, to name the columns a type takes along)."""

    file: str
    columns: dict[str, set[tuple[str, str]]] = field(default_factory=dict)
    created: set[tuple[str, str]] = field(default_factory=set)  # (kind, name) of this migration

    def see(self, st: Statement, op: Op, out: list[Finding]) -> None:
        if st.first_words.startswith("CREATE"):
            m = _CREATE.match(strip_comments(st.text))
            if m:
                self.created.add((m["kind"].lower(), key(m["name"])))
            return
        kind = op.kind[5:] if op.kind.startswith("drop_") else ""
        if kind not in _KINDS or op.value != "cascade":
            return
        for name in op.names:
            if (kind, key(name)) in self.created:
                continue  # made in this migration: nothing of the app's depends on it yet
            why = f"DROP {kind.upper()} {name} CASCADE also drops {_WHAT[kind]}"
            known = sorted(f"{t}.{c}" for t, c in self.columns.get(key(name), ()))
            if known and kind in ("type", "domain"):
                why += f" (in the migrations: {', '.join(known)})"
            r = PG_DROP_RULES[0]
            severity = "warning" if kind in _WARN_ONLY else r.severity
            out.append(Finding(r.id, severity, self.file, st.line, why, r.instead))
