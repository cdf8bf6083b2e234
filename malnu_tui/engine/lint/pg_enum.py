"""A value added to a PostgreSQL enum with ``ALTER TYPE … ADD VALUE`` and used in the same
migration: PostgreSQL 12+ runs the ADD VALUE inside the transaction but refuses to use the new
value before the commit ("unsafe use of new value"), so the migration fails at that statement.

A use is only named where the literal plainly means the enum, so an unrelated string that
happens to spell the value is not: a cast to the type (``'v'::mood``), a column of the type
declared with ``DEFAULT 'v'``, and, for a column known to be of the type (declared in this or
an earlier migration), a comparison, an assignment, an ``IN`` list, ``SET DEFAULT 'v'``, or the
value at that column's place in ``INSERT … VALUES`` or ``INSERT … SELECT`` (with a column list,
or without one in the table's column order, as declared in the migrations).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from malnu_tui.engine.lint.model import Finding, Rule
from malnu_tui.engine.lint.ops import Op, key, pg_key, split_top_level, strip_comments
from malnu_tui.engine.lint.pg import type_text
from malnu_tui.engine.lint.rules import register
from malnu_tui.engine.sqlsplit import Statement

__all__ = ["ENUM_RULES", "DeclaredColumns", "NewEnumValues"]

ENUM_RULES = (
    Rule(
        "PG-NEW-ENUM-VALUE-USED",
        "error",
        "enum value added and used in the same migration",
        "PostgreSQL refuses to use a value added by ALTER TYPE … ADD VALUE before that "
        'transaction commits ("unsafe use of new value"): the migration fails there',
        "add the value in one migration and use it in a later one",
    ),
)
register(*ENUM_RULES)

_F = re.IGNORECASE | re.DOTALL
_IDENT = r'(?:"(?:[^"]|"")+"|[\w$]+)'
_COLUMN = re.compile(rf"^(?P<col>{_IDENT})\s+(?:{_IDENT}\s*\.\s*)?(?P<type>{_IDENT})", _F)
_NOT_COLUMNS = {"constraint", "primary", "unique", "check", "foreign", "exclude", "like"}
_TYPE_AFTER = re.compile(rf"\bTYPE\s+((?:{_IDENT}\s*\.\s*)?(?P<type>{_IDENT}))", _F)
_INSERT = re.compile(
    rf"^INSERT\s+INTO\s+(?:{_IDENT}\s*\.\s*)?(?P<table>{_IDENT})\s*(?:AS\s+\w+\s*)?"
    r"(?:\((?P<cols>[^()]*)\)\s*)?(?:OVERRIDING\s+\w+\s+VALUE\s*)?"
    r"(?:VALUES\s*(?P<rows>.*?)|SELECT\s+(?:ALL\s+)?(?P<select>.*?)(?:\s+FROM\b.*?)?)"
    r"\s*(?:ON\s+CONFLICT\b.*|RETURNING\b.*)?$",
    _F,
)


def _word(name: str) -> str:
    """A pattern for ``name`` (folded) as written, quoted or not."""
    return rf'(?:\b{re.escape(name)}\b|"{re.escape(name)}")'


@dataclass
class DeclaredColumns:
    """Each column's declared type, across migrations (PostgreSQL): type → {(table, column)},
    and (table, column) → the type as written (``varchar(100)``; that table and column as
    PostgreSQL folds them: ``"Kelas"`` is not kelas); and each table's columns in order, for an
    ``INSERT`` without a column list."""

    by_type: dict[str, set[tuple[str, str]]] = field(default_factory=dict)
    declared: dict[tuple[str, str], str] = field(default_factory=dict)
    order: dict[str, list[str]] = field(default_factory=dict)  # table → its columns
    unknown_order: set[str] = field(default_factory=set)  # CREATE TABLE … (LIKE …), AS …
    trigger_functions: set[str] = field(default_factory=set)  # RETURNS trigger: no app calls
    volatile_functions: set[str] = field(default_factory=set)  # neither IMMUTABLE nor STABLE

    def _add(self, table: str, definition: str, pg: tuple[str, str]) -> None:
        """``definition``'s column, of ``table`` (``pg``: it and the column as PostgreSQL
        folds them, "" for the column as written in ``definition``)."""
        m = _COLUMN.match(definition.strip())
        if m and key(m["col"]) not in _NOT_COLUMNS:
            self.by_type.setdefault(key(m["type"]), set()).add((table, key(m["col"])))
            self.order.setdefault(table, []).append(key(m["col"]))
            where = (pg[0], pg[1] or pg_key(m["col"]))
            self.declared[where] = type_text(definition.strip()[m.end("col") :])
        elif definition.strip().upper().startswith("LIKE"):
            self.unknown_order.add(table)

    def has_table(self, table: str) -> bool:
        """Whether a migration seen so far creates ``table`` (and none drops it since)."""
        return key(table) in self.order

    def columns_of(self, table: str) -> list[str] | None:
        """``table``'s columns in order, when every one of them was seen."""
        return None if table in self.unknown_order else self.order.get(table)

    def see(self, op: Op) -> None:
        if op.kind == "create_function" and op.value == "trigger":
            self.trigger_functions.add(op.key)
        if op.kind == "create_function" and op.value == "volatile":
            self.volatile_functions.add(op.key)
        elif op.kind == "create_function":  # (re)declared IMMUTABLE or STABLE
            self.volatile_functions.discard(op.key)
        elif op.kind == "alter_function" and op.value == "volatile":
            self.volatile_functions.add(op.key)
        elif op.kind == "alter_function":  # ALTER FUNCTION f() IMMUTABLE (or STABLE)
            self.volatile_functions.discard(op.key)
        if op.kind == "create_table":
            self.order[op.key] = []
            self.unknown_order.discard(op.key)
            if not op.body.startswith("("):
                self.unknown_order.add(op.key)  # AS SELECT, OF type, PARTITION OF
                return
            for part in split_top_level(op.body[1 : op.body.rfind(")")]):
                self._add(op.key, part, (op.pg_name or op.key, ""))
        elif op.kind == "drop_table":
            for name in op.names:
                self.order.pop(key(name), None)
        elif op.kind == "alter_table":
            cols = self.order.get(op.key, [])
            pg = op.pg_name or op.key
            for a in op.actions:
                if a.kind == "add_column":
                    self._add(op.key, f"{a.column} {a.definition}", (pg, a.pg_column))
                elif a.kind == "drop_column" and key(a.column) in cols:
                    cols.remove(key(a.column))
                elif a.kind == "rename_column" and key(a.column) in cols:
                    cols[cols.index(key(a.column))] = key(a.new)
                elif a.kind == "rename_table" and op.key in self.order:
                    self.order[key(a.new)] = self.order.pop(op.key)
                elif a.kind == "alter_type" and (t := _TYPE_AFTER.search(a.definition)):
                    self.by_type.setdefault(key(t["type"]), set()).add((op.key, key(a.column)))
                    where = (pg, a.pg_column or key(a.column))
                    self.declared[where] = type_text(a.definition[t.start(1) :])


_LANGUAGE = re.compile(r"\bLANGUAGE\s+'?(?P<lang>\w+)", _F)
_BODY = re.compile(r"(?P<q>\$\w*\$).*?(?P=q)|\bAS\s+'(?:[^']|'')*'", _F)


def _unparsed_body_removed(text: str) -> str:
    """A CREATE FUNCTION's text without its body when PostgreSQL does not parse the body at
    creation (PL/pgSQL and other languages, run only when called); an SQL-language body is
    parsed there, so a new enum value in it fails at once, and stays."""
    bodies = list(_BODY.finditer(text))
    outside = _BODY.sub(" ", text)
    lang = _LANGUAGE.search(outside)
    if lang is None or lang["lang"].lower() == "sql" or not bodies:
        return text
    return outside


_ALIAS = re.compile(rf"\s+AS\s+{_IDENT}$", _F)
_ADD_VALUE = re.compile(
    rf"^ALTER\s+TYPE\s+(?:{_IDENT}\s*\.\s*)?(?P<type>{_IDENT})\s+ADD\s+VALUE\s+"
    r"(?:IF\s+NOT\s+EXISTS\s+)?'(?P<value>(?:[^']|'')*)'",
    _F,
)


@dataclass
class NewEnumValues:
    """One migration's ``ADD VALUE``\\s, and the later statements that use one."""

    file: str
    columns: DeclaredColumns
    added: list[tuple[str, str, int]] = field(default_factory=list)  # (type, literal, line)

    def see(self, st: Statement, op: Op, out: list[Finding]) -> None:
        text = strip_comments(st.text)
        if op.kind == "other" and (m := _ADD_VALUE.match(text)):
            self.added.append((key(m["type"]), f"'{m['value']}'", st.line))
            return
        if op.kind in ("create_function", "create_procedure"):
            text = _unparsed_body_removed(text)
        for typ, literal, line in self.added:
            if self._uses(text, typ, literal):
                r = ENUM_RULES[0]
                why = (
                    f"{literal} is added to {typ} at line {line} and used here, before the "
                    "migration commits: PostgreSQL refuses it and the migration fails"
                )
                out.append(Finding(r.id, r.severity, self.file, st.line, why, r.instead))
                break
        self.columns.see(op)

    def _uses(self, text: str, typ: str, literal: str) -> bool:
        lit, t = re.escape(literal), _word(typ)
        cast = rf"{lit}\s*::\s*(?:{_IDENT}\s*\.\s*)?{t}|CAST\s*\(\s*{lit}\s+AS\s+"
        cast += rf"(?:{_IDENT}\s*\.\s*)?{t}"
        default = rf"{t}(?:\s*\[\s*\])?\s+[^,;]*?\bDEFAULT\s+{lit}"
        if re.search(f"{cast}|{default}", text, _F):
            return True
        if literal not in text:
            return False
        for table, col in self.columns.by_type.get(typ, ()):
            if not re.search(_word(table), text, _F):
                continue
            c = _word(col)
            used = (
                rf"{c}\s*(?:=|<>|!=)\s*{lit}|{lit}\s*(?:=|<>|!=)\s*{c}|"
                rf"{c}\s+(?:NOT\s+)?IN\s*\([^)]*{lit}|{c}\s+SET\s+DEFAULT\s+{lit}"
            )
            if re.search(used, text, _F) or self._inserted(text, table, col, literal):
                return True
        return False

    def _inserted(self, text: str, table: str, col: str, literal: str) -> bool:
        """``literal`` at ``col``'s place in ``INSERT INTO table [(columns)] VALUES …`` or
        ``… SELECT …`` (without a column list, the table's own column order)."""
        m = _INSERT.match(text)
        if m is None or key(m["table"]) != table:
            return False
        cols = (
            [key(c) for c in split_top_level(m["cols"])]
            if m["cols"] is not None
            else self.columns.columns_of(table) or []
        )
        if col not in cols:
            return False
        at = cols.index(col)
        if m["select"] is not None:
            rows = [m["select"]]
        else:
            rows = [r.strip()[1:-1] for r in split_top_level(m["rows"]) if r.strip()[:1] == "("]
        for row in rows:
            values = [_ALIAS.sub("", v) for v in split_top_level(row)]
            if at < len(values) and values[at] == literal:
                return True
        return False
