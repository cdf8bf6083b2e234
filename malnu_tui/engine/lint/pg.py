"""PostgreSQL's own rules: what a statement does to a live PostgreSQL table that the general
rules (both dialects) do not see."""

from __future__ import annotations

import re
from collections.abc import Container
from dataclasses import dataclass, field

from malnu_tui.engine.lint.masking import Unreadable, mask_code
from malnu_tui.engine.lint.model import Finding, Rule
from malnu_tui.engine.lint.ops import IDENT, QNAME, Action, Op, key, pg_key, split_top_level
from malnu_tui.engine.lint.rules import register

__all__ = [
    "PG_RULES",
    "RENAME_OBJECT",
    "NotNullChecks",
    "pg_alter_action",
    "renamed_object",
    "type_text",
    "widens",
]

PG_RULES = (
    Rule(
        "ADD-FOREIGN-KEY",
        "warning",
        "FOREIGN KEY added to an existing table",
        "data-dependent: fails if a row points at no parent, and validating it scans the "
        "table while writes to both tables wait",
        "add it NOT VALID (new rows are checked at once), then VALIDATE CONSTRAINT in a later "
        "migration: in the same transaction the ADD's lock is still held",
    ),
    Rule(
        "PG-ADD-COLUMN-REWRITE",
        "warning",
        "ADD COLUMN that rewrites the table",
        "a volatile DEFAULT (random(), gen_random_uuid(), clock_timestamp(), nextval()), a "
        "serial type, an identity or a stored generated column is computed for every row: "
        "the whole table is rewritten while every query on it waits",
        "add the column with no default (or a constant one), backfill it in batches, then "
        "SET DEFAULT for new rows",
    ),
)
RENAME_OBJECT = Rule(
    "PG-RENAME-OBJECT",
    "warning",
    "a view, function or enum value renamed",
    "the running app still uses the old name until it is redeployed: its queries of the "
    "view, its calls of the function (Supabase's rpc()), its writes of the enum value fail",
    "expand/contract: add the new one beside the old (a view or function under the new name, "
    "a new enum value), move the app, then drop or stop using the old one in a later deploy",
)
register(*PG_RULES, RENAME_OBJECT)
_BY_ID = {r.id: r for r in PG_RULES}


def _finding(rule_id: str, file: str, line: int, why: str) -> Finding:
    r = _BY_ID[rule_id]
    return Finding(rule_id, r.severity, file, line, why, r.instead)


# What makes ADD COLUMN compute a value per row (PostgreSQL 11+ stores a constant or stable
# default once, in the catalog, and rewrites nothing).
_REWRITE = re.compile(
    r"^\s*(?:small|big)?serial(?:2|4|8)?\b|\bGENERATED\b.*\b(?:STORED|IDENTITY)\b|"
    r"\bDEFAULT\b.*\b(?:random|random_normal|gen_random_uuid|uuid_generate_v[14]|"
    r"uuid_generate_v1mc|clock_timestamp|timeofday|nextval)\s*\(",
    re.IGNORECASE | re.DOTALL,
)

_STRING = re.compile(r"'(?:[^']|'')*'")
_DEFAULT_EXPR = re.compile(
    r"\bDEFAULT\b(?P<expr>.*?)(?:\b(?:REFERENCES|CHECK|CONSTRAINT)\b|$)", re.IGNORECASE | re.DOTALL
)
_CALL = re.compile(rf"(?:{IDENT}\s*\.\s*)?(?P<fn>{IDENT})\s*\(", re.IGNORECASE)


_REFERENCES = re.compile(r"\bREFERENCES\s+(?P<parent>[^\s(]+)", re.IGNORECASE)
_CHECK = re.compile(r"\bCHECK\s*\(", re.IGNORECASE)


_RENAMED = re.compile(
    rf"^ALTER\s+(?P<kind>MATERIALIZED\s+VIEW|VIEW|FUNCTION|PROCEDURE)\s+(?:IF\s+EXISTS\s+)?"
    rf"{QNAME}\s*(?:\([^()]*\))?\s+RENAME\s+(?:COLUMN\s+(?P<col>{IDENT})\s+)?TO\s+"
    rf"(?P<new>{IDENT})\s*$",
    re.IGNORECASE | re.DOTALL,
)
_VALUE_RENAMED = re.compile(
    rf"^ALTER\s+TYPE\s+{QNAME}\s+RENAME\s+VALUE\s+(?P<old>'(?:[^']|'')*')\s+TO\s+"
    r"(?P<new>'(?:[^']|'')*')\s*$",
    re.IGNORECASE | re.DOTALL,
)


def renamed_object(
    file: str, line: int, text: str, new_objects: Container[tuple[str, str]]
) -> Finding | None:
    """PG-RENAME-OBJECT for ``text`` (comments stripped), an ALTER VIEW / FUNCTION /
    PROCEDURE … RENAME or ALTER TYPE … RENAME VALUE of an object not in ``new_objects``
    ((kind, folded name) pairs: what this migration created)."""
    r = RENAME_OBJECT
    if m := _RENAMED.match(text):
        kind = "view" if "VIEW" in m["kind"].upper() else m["kind"].lower()
        if (kind, key(m["name"])) in new_objects:
            return None
        name, new = key(m["name"]), key(m["new"])
        what = f"column {key(m['col'])} of view {name}" if m["col"] else f"{kind} {name}"
        why = f"{what} is renamed to {new}"
        if kind in ("function", "procedure") and not m["col"]:
            why += f": the app's calls of {name} (Supabase's rpc('{name}')) fail"
        return Finding(r.id, r.severity, file, line, why, r.instead)
    if (m := _VALUE_RENAMED.match(text)) and ("type", key(m["name"])) not in new_objects:
        why = f"enum value {m['old']} of {key(m['name'])} is renamed to {m['new']}: the app's "
        why += f"writes of {m['old']} fail (invalid input value for enum)"
        return Finding(r.id, r.severity, file, line, why, r.instead)
    return None


def _code(text: str) -> str:
    """``text`` with its strings, dollar quotes, quoted names and comments blanked."""
    try:
        return mask_code(text)
    except Unreadable:
        return _STRING.sub("''", text)


def _volatile_call(definition: str, volatile: Container[str]) -> str | None:
    """The first function of ``volatile`` the DEFAULT of a column ``definition`` calls."""
    m = _DEFAULT_EXPR.search(definition)
    for call in _CALL.finditer(m["expr"] if m else ""):
        if key(call["fn"]) in volatile:
            return key(call["fn"])
    return None


def pg_alter_action(
    file: str, line: int, table: str, a: Action, volatile: Container[str] = ()
) -> list[Finding]:
    """PostgreSQL's findings for one action of an ALTER TABLE on an existing table
    (``volatile``: the functions the migrations declare neither IMMUTABLE nor STABLE)."""
    out: list[Finding] = []
    if a.kind == "add_fk" and not a.not_valid:
        why = f"a FOREIGN KEY is added to {table} and validated against its rows"
        out.append(_finding("ADD-FOREIGN-KEY", file, line, why))
    if a.kind != "add_column":
        return out
    definition = _STRING.sub("''", a.definition)
    if _REWRITE.search(definition):
        why = f"ADD COLUMN {table}.{a.column} computes a value for every row: {table} is rewritten"
        out.append(_finding("PG-ADD-COLUMN-REWRITE", file, line, why))
    elif (fn := _volatile_call(definition, volatile)) is not None:
        why = (
            f"ADD COLUMN {table}.{a.column} computes a value for every row: its DEFAULT calls "
            f"{fn}(), which the migrations declare neither IMMUTABLE nor STABLE (so VOLATILE, "
            f"PostgreSQL's default): {table} is rewritten"
        )
        out.append(_finding("PG-ADD-COLUMN-REWRITE", file, line, why))
    if _CHECK.search(_code(a.definition)):  # a column constraint cannot be NOT VALID either
        why = (
            f"ADD COLUMN {table}.{a.column} … CHECK: the new CHECK is validated with a scan of "
            f"{table} under ADD COLUMN's lock (every query on it waits), and fails if the "
            "default breaks it (Django's PositiveIntegerField writes one)"
        )
        instead = (
            "add the column without CHECK, then ADD CONSTRAINT … CHECK (…) NOT VALID, and "
            "VALIDATE CONSTRAINT in a later migration"
        )
        out.append(Finding("ADD-CHECK", "warning", file, line, why, instead))
    ref = _REFERENCES.search(definition)
    if ref is not None:  # a column constraint cannot be NOT VALID: validated at once
        parent = ref["parent"].replace('"', "")
        why = (
            f"ADD COLUMN {table}.{a.column} REFERENCES {parent}: the new foreign key is "
            f"validated with a scan of {table} under ADD COLUMN's lock (every query on it "
            f"waits), and writes to {parent} wait until the migration commits (Django's "
            "AddField of a ForeignKey writes it so)"
        )
        instead = (
            "add the column without REFERENCES, then ADD CONSTRAINT … FOREIGN KEY … NOT "
            "VALID, and VALIDATE CONSTRAINT in a later migration"
        )
        out.append(Finding("ADD-FOREIGN-KEY", "warning", file, line, why, instead))
    return out


_DECLARED_NOT_NULL = re.compile(r"\bNOT\s+NULL\b|\bPRIMARY\s+KEY\b", re.IGNORECASE)
_LITERAL_OR_IS = re.compile(r"'(?:[^']|'')*'|\bIS\s+NOT\s+NULL\b", re.IGNORECASE)
_COLUMN_NAME = re.compile(rf"^(?P<col>{IDENT})\s", re.IGNORECASE)
_TABLE_PK = re.compile(r"^(?:CONSTRAINT\s+\S+\s+)?PRIMARY\s+KEY\s*\((?P<cols>[^)]*)\)",
                       re.IGNORECASE)  # fmt: skip
_DROP_NOT_NULL = re.compile(
    rf"^ALTER\s+(?:COLUMN\s+)?(?P<col>{IDENT})\s+DROP\s+NOT\s+NULL\b", re.IGNORECASE
)


@dataclass
class NotNullChecks:
    """PostgreSQL ``CHECK (col IS NOT NULL)`` constraints seen so far, across migrations (the
    two-deploy pattern adds one NOT VALID, then VALIDATEs it): once one is validated, ``SET
    NOT NULL`` on its column uses it instead of scanning the table (PostgreSQL 12+). And the
    columns the migrations declared NOT NULL (or a primary key's): ``SET NOT NULL`` on one
    does nothing, no scan (Laravel's ``->change()`` writes it for every required column).
    Tables and columns named as PostgreSQL folds them (``"Kelas"`` is not kelas)."""

    named: dict[str, tuple[str, str]] = field(default_factory=dict)  # name → (table, column)
    proven: set[tuple[str, str]] = field(default_factory=set)
    declared: set[tuple[str, str]] = field(default_factory=set)  # NOT NULL already

    def _forget(self, table: str) -> None:
        self.declared = {(t, c) for t, c in self.declared if t != table}

    def _declare(self, table: str, definition: str) -> None:
        text = _LITERAL_OR_IS.sub("''", definition.strip())
        if pk := _TABLE_PK.match(text):
            self.declared |= {(table, pg_key(c)) for c in pk["cols"].split(",")}
        elif (m := _COLUMN_NAME.match(text)) and _DECLARED_NOT_NULL.search(text, m.end()):
            self.declared.add((table, pg_key(m["col"])))

    def see(self, op: Op) -> None:
        table = op.pg_name or op.key
        if op.kind == "create_table":
            self._forget(table)
            if op.body.startswith("("):
                for part in split_top_level(op.body[1 : op.body.rfind(")")]):
                    self._declare(table, part)
        elif op.kind == "drop_table":
            for i, name in enumerate(op.names):
                self._forget(op.pg_of(i) or key(name))
        for a in op.actions:
            where = (table, a.pg_column or key(a.column))
            if a.kind == "add_check" and a.column:
                if a.new:
                    self.named[key(a.new)] = where
                if not a.not_valid:
                    self.proven.add(where)
            elif a.kind == "validate" and key(a.new) in self.named:
                self.proven.add(self.named[key(a.new)])
            elif a.kind == "add_column":
                column = (a.pg_column or key(a.column)).replace('"', '""')
                self._declare(table, f'"{column}" {a.definition}')  # (quoted: as folded)
            elif a.kind == "drop_column":
                self.declared.discard(where)
            elif a.kind == "rename_column" and where in self.declared:
                self.declared.discard(where)
                self.declared.add((table, a.pg_new or key(a.new)))
            elif a.kind == "rename_table":
                moved = {c for t, c in self.declared if t == table}
                self._forget(table)
                self.declared |= {(a.pg_new or key(a.new), c) for c in moved}
            elif a.kind == "other" and (m := _DROP_NOT_NULL.match(a.definition.strip())):
                self.declared.discard((table, pg_key(m["col"])))


# Where a column's type ends in its definition, or in ALTER … TYPE's.
_TYPE_END = re.compile(
    r"\s+(?:COLLATE|USING|NOT|NULL|DEFAULT|PRIMARY|UNIQUE|CHECK|REFERENCES|CONSTRAINT|"
    r"GENERATED)\b|\s*$",
    re.IGNORECASE,
)
_SPELLINGS = (("character varying", "varchar"), ("decimal", "numeric"))
_WIDENABLE = re.compile(
    r"^(?:pg_catalog\.)?(?P<base>varchar|text|numeric)(?:\((?P<p>\d+)(?:,(?P<s>\d+))?\))?$"
)


def _normal(text: str) -> str:
    t = " ".join(text.replace('"', "").lower().split())
    for long, short in _SPELLINGS:
        t = t.replace(long, short)
    return re.sub(r"\s*([(),])\s*", r"\1", t)


_ALIKE = {"int": "integer", "int4": "integer", "serial": "integer", "serial4": "integer",
          "int8": "bigint", "bigserial": "bigint", "serial8": "bigint", "int2": "smallint",
          "smallserial": "smallint", "serial2": "smallint", "bool": "boolean",
          "float8": "double precision", "float4": "real"}  # fmt: skip
_ZONED = re.compile(
    r"^(?P<base>timestamp|time)(?P<tz>tz)?(?P<p>\(\d+\))?(?P<zone> ?with(?:out)? time zone)?$"
)


def _spelled_alike(normal: str) -> str:
    """A type from ``type_text`` in one spelling of its several (``int4``, ``integer``;
    ``timestamp(0) without time zone``, ``timestamp(0)``; a ``serial``'s integer)."""
    if m := _ZONED.match(normal):
        zoned = m["tz"] is not None or (m["zone"] or "").strip() == "with time zone"
        return f"{m['base']}{m['p'] or ''}{' with time zone' if zoned else ''}"
    return _ALIKE.get(normal, normal)


def type_text(definition: str) -> str:
    """The type at the start of ``definition`` (a column's, after its name; or what follows
    ALTER … TYPE), normalised: ``character varying (100)`` → ``varchar(100)``."""
    m = _TYPE_END.search(definition)
    return _normal(definition[: m.start()] if m else definition)


def widens(old: str, column: str, definition: str) -> bool:
    """ALTER … TYPE (``definition``, the action) from the declared type ``old`` to one that
    PostgreSQL changes without rewriting or scanning the table (binary-coercible, with room
    for every value): varchar(n) → varchar(m ≥ n), varchar or text → text or varchar,
    numeric(p, s) → numeric(q ≥ p, s) or numeric. A USING that only casts the column
    (Django's ``USING "col"::varchar(300)``) changes nothing."""
    m = re.search(r"\bTYPE\s+", definition, re.IGNORECASE)
    if m is None:
        return False
    new = type_text(definition[m.end() :])
    if re.search(r"\bCOLLATE\b", definition, re.IGNORECASE):
        return False  # another collation: its indexes are rebuilt
    using = re.search(r"\bUSING\b(?P<expr>.*)$", definition, re.IGNORECASE | re.DOTALL)
    expr = _normal(using["expr"]) if using else ""
    if expr.startswith("(") and expr.endswith(")"):
        expr = expr[1:-1]
    if using and expr != f"{_normal(column)}::{new}":
        return False
    if _spelled_alike(old) == _spelled_alike(new):
        return True  # the type restated (Laravel's `->nullable()->change()`): nothing changes
    o, n = _WIDENABLE.match(old), _WIDENABLE.match(new)
    if o is None or n is None:
        return False
    if n["base"] == "text" or (n["base"] == "varchar" and n["p"] is None):
        return o["base"] in ("varchar", "text")
    if n["base"] == "varchar":
        return o["base"] == "varchar" and o["p"] is not None and int(n["p"]) >= int(o["p"])
    if o["base"] != "numeric":
        return False
    if n["p"] is None:
        return True
    same_scale = int(n["s"] or 0) == int(o["s"] or 0)
    return o["p"] is not None and same_scale and int(n["p"]) >= int(o["p"])
