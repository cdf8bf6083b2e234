"""What a rollback file does to the rows written since its migration: the values it rounds or
cuts (ROLLBACK-NARROWS-TYPE) and the rows it fails on (ROLLBACK-FAILS-ON-NEW-ROWS).

A migration that widens a column (``integer`` → ``numeric(5,2)``, ``varchar(10)`` →
``varchar(20)``), makes it nullable, drops a CHECK or UNIQUE or adds an enum value lets the
app write rows the old schema refused; its rollback, written to put the old schema back, then
rounds those values without a word (PostgreSQL casts ``87.50`` to ``88``), or fails on them,
once, at 2 a.m., when it is needed (in its transaction: nothing lost, but it cannot be run).
Both are warnings: the operator must still be able to run the rollback once the rows are
looked at. Measured on PostgreSQL 15 (``ALTER … TYPE`` without ``USING`` casts by assignment,
which fails on a value too long; ``USING col::varchar(10)`` casts explicitly, which cuts it;
a cast to an enum lacking a value refuses a row holding it) and on SQLite (a rebuild's copy
fails on a NULL into a NOT NULL column, or a row a new CHECK or UNIQUE refuses; SQLite keeps
a value whatever the declared type, so a type is not a loss).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from malnu_tui.engine.lint.model import Finding, Rule
from malnu_tui.engine.lint.ops import IDENT, QNAME, Op, key, pg_key, strip_comments
from malnu_tui.engine.lint.pg import type_text
from malnu_tui.engine.lint.pg_enum import DeclaredColumns
from malnu_tui.engine.lint.replay import Replay
from malnu_tui.engine.lint.rules import finding, register
from malnu_tui.engine.sqlsplit import Statement

__all__ = ["Relaxed", "pg_rollback_data", "sqlite_rollback_data"]

register(
    Rule(
        "ROLLBACK-NARROWS-TYPE",
        "warning",
        "a rollback's type change that rounds or cuts values",
        "the rollback puts a narrower type back (numeric scale down, numeric → integer, "
        "timestamp → date, a cast to a shorter varchar): the values the app wrote since the "
        "migration are rounded or cut without an error, and only a backup has them",
        "copy the column aside in the rollback before narrowing it (CREATE TABLE … AS SELECT "
        "id, col …), or check first that no row uses what the migration allowed",
    ),
    Rule(
        "ROLLBACK-FAILS-ON-NEW-ROWS",
        "warning",
        "a rollback that fails once rows use what the migration allowed",
        "the rollback puts back a limit the migration lifted (NOT NULL, a shorter varchar, a "
        "smaller integer, a CHECK or UNIQUE): once the app writes a row the old schema "
        "refused, the rollback fails (in its transaction: nothing lost, but it cannot be "
        "run when it is needed)",
        "make the rollback fix those rows first (an UPDATE that fills the NULLs or shortens "
        "the values, a DELETE of the repeats), or check for them before running it",
    ),
)


# (a quoted name read whole: "a b", "say ""hi""")
_DROP_NOT_NULL = re.compile(rf"^ALTER\s+(?:COLUMN\s+)?(?P<col>{IDENT})\s+DROP\s+NOT\s+NULL\b", re.I)
_NOT_NULL_OR_KEY = re.compile(r"\bNOT\s+NULL\b|\bPRIMARY\s+KEY\b", re.I)
# An enum's labels: ALTER TYPE t ADD VALUE 'v' (a migration's), CREATE TYPE t AS ENUM (…) (the
# rollback's new type, Prisma's way of taking a value out: Term_new, then a cast to it).
_ADD_VALUE = re.compile(
    rf"^ALTER\s+TYPE\s+(?P<q>{QNAME})\s+ADD\s+VALUE\s+(?:IF\s+NOT\s+EXISTS\s+)?'(?P<v>(?:[^']|'')*)'",
    re.I | re.S,
)
_AS_ENUM = re.compile(
    rf"^CREATE\s+TYPE\s+(?P<q>{QNAME})\s+AS\s+ENUM\s*\((?P<labels>.*)\)", re.I | re.S
)
_LABEL = re.compile(r"'((?:[^']|'')*)'")


def _enum_key(name: str) -> str:
    """An enum type's name as ``type_text`` reads a column's type, public's without its schema
    (Prisma 6 and drizzle-kit write ``"public"."Term"``; a column declared ``"Term"`` is it)."""
    t = type_text(name)
    return t.removeprefix("public.")


def _norm(text: str) -> str:
    return " ".join(strip_comments(text).replace('"', "").lower().rstrip(";").split())


@dataclass
class Relaxed:
    """What a migration lifts (PostgreSQL): the columns it makes nullable (``DROP NOT NULL``)
    or adds nullable, and the constraints and indexes it drops and does not put back as they
    were (Django's AlterField drops a unique constraint and adds the same one back), each
    with its line; and the columns and tables it renames (a column made nullable keeps it
    under its new name, or its table's, which the rollback may rename back first)."""

    nullable: dict[tuple[str, str], int] = field(default_factory=dict)
    dropped: dict[str, tuple[str, int]] = field(default_factory=dict)  # name → (table, line)
    readded: dict[str, str] = field(default_factory=dict)  # name → its text, normalised
    # a column the migration renames: its name now → its name before (None: reused since)
    renamed: dict[tuple[str, str], tuple[str, str] | None] = field(default_factory=dict)
    labels: dict[str, dict[str, int]] = field(default_factory=dict)  # enum → added → line
    tables: dict[str, str] = field(default_factory=dict)  # a table renamed: now → before

    def see(self, st: Statement, op: Op) -> None:
        typed = op.kind == "other" and st.first_words.startswith("ALTER TYPE")  # (cheap first)
        if typed and (m := _ADD_VALUE.match(strip_comments(st.text))) is not None:
            self.labels.setdefault(_enum_key(m["q"]), {})[m["v"]] = st.line
        if op.kind == "drop_index":
            for n in op.names:
                self.dropped[key(n)] = ("", st.line)
        elif op.kind == "create_index" and op.name:
            self.readded[op.key] = _norm(st.text)
        if op.kind != "alter_table":
            return
        table = op.pg_name or op.key  # (tables and columns as PostgreSQL folds them)
        for a in op.actions:
            column = (table, a.pg_column or key(a.column))
            if a.kind == "rename_table":  # what was lifted on its columns goes with it
                self._table_renamed(table, a.pg_new or key(a.new))
            elif a.kind == "drop_constraint":
                self.dropped[key(a.new)] = (table, st.line)
            elif a.kind in _CONSTRAINTS and a.new:
                self.readded[key(a.new)] = _norm(a.definition)
            elif a.kind == "add_column" and not _NOT_NULL_OR_KEY.search(a.definition):
                self.nullable[column] = st.line
            elif a.kind == "set_not_null":
                self.nullable.pop(column, None)
            elif a.kind == "other" and (m := _DROP_NOT_NULL.match(a.definition)):
                self.nullable[(table, pg_key(m["col"]))] = st.line
            elif a.kind == "rename_column":  # the column keeps what was lifted on it
                was, now = column, (table, a.pg_new or key(a.new))
                if was in self.nullable:
                    self.nullable[now] = self.nullable.pop(was)
                self.renamed[now] = self.renamed.pop(was, self._first_table(was))
            elif a.kind == "drop_column":
                self.nullable.pop(column, None)
            if a.kind == "add_column":  # a new column of a renamed one's old name
                for renamed, first in self.renamed.items():
                    if first == self._first_table(column):
                        self.renamed[renamed] = None

    def _first_table(self, where: tuple[str, str]) -> tuple[str, str]:
        return (self.tables.get(where[0], where[0]), where[1])

    def _table_renamed(self, was: str, now: str) -> None:
        """The table ``was`` renamed ``now``: its columns' entries follow it."""
        self.tables[now] = self.tables.pop(was, was)
        for t, c in [w for w in self.nullable if w[0] == was]:
            self.nullable[(now, c)] = self.nullable.pop((t, c))
        for t, c in [w for w in self.renamed if w[0] == was]:
            self.renamed[(now, c)] = self.renamed.pop((t, c))
        for n, (t, line) in list(self.dropped.items()):
            if t == was:
                self.dropped[n] = (now, line)

    def first_name(self, where: tuple[str, str]) -> tuple[str, str] | None:
        """The name the column ``where`` (as the migration leaves it) had before the
        migration renamed it or its table (itself when not renamed; None: its old name
        since reused)."""
        return self.renamed[where] if where in self.renamed else self._first_table(where)

    def lifted(self, table: str, name: str, text: str) -> int | None:
        """The line of the migration's DROP of the constraint or index ``name`` (``text``:
        the rollback's definition of it), when the migration does not add it back as the
        rollback does; unnamed (""), of any constraint of ``table`` it drops for good."""
        if name:
            dropped = self.dropped.get(key(name))
            same = self.readded.get(key(name)) == _norm(text)
            return dropped[1] if dropped is not None and not same else None
        gone = [line for n, (t, line) in self.dropped.items() if t == table and n not in
                self.readded]  # fmt: skip
        return gone[0] if gone else None


_CONSTRAINTS = ("add_unique", "add_pk", "add_check", "add_exclude")
_INT_RANGE = {"smallint": (2, "±32,767"), "integer": (4, "±2,147,483,647"), "bigint": (8, "")}
_INTS = {"int2": "smallint", "int": "integer", "int4": "integer", "int8": "bigint",
         "serial": "integer", "serial4": "integer", "bigserial": "bigint", "serial8": "bigint",
         "smallserial": "smallint", "serial2": "smallint"}  # fmt: skip
_NUMERIC = re.compile(r"^numeric(?:\((?P<p>\d+)(?:,(?P<s>\d+))?\))?$")
_TEXT = re.compile(r"^(?:varchar|text|char|character|bpchar)(?:\((?P<n>\d+)\))?$")
_STAMP = re.compile(
    r"^(?P<base>timestamp|timestamptz)(?:\((?P<p>\d)\))?(?P<zone> ?with(?:out)? time zone)?$"
)


def _int(t: str) -> str:
    t = _INTS.get(t, t)
    return t if t in _INT_RANGE else ""


_FLOAT_N = re.compile(r"^float\((?P<n>\d+)\)$")
_ARRAY = re.compile(r"^(?P<element>.+?)(?:\s*(?:\[\d*\])+| array(?:\[\d*\])?)$")


def _element(t: str) -> str:
    """An array type's element type (Prisma's enum list ``"Term"[]``); ``t`` itself else."""
    m = _ARRAY.match(t)
    return m["element"] if m else t


def _float_digits(t: str) -> int:
    """The significant digits ``t`` keeps when it is a floating-point type (0: it is not):
    ``real`` about 6, ``double precision`` 15 (``float(n)`` is real up to n = 24)."""
    if t in ("real", "float4"):
        return 6
    if t in ("double precision", "float8", "float"):
        return 15
    m = _FLOAT_N.match(t)
    return (6 if int(m["n"]) <= 24 else 15) if m else 0


def _what_changes(old: str, new: str, using: str | None) -> list[tuple[str, str]]:
    """(rule, what) of ``ALTER … TYPE new`` from ``old`` (both ``type_text``'s; ``using``:
    the USING expression, None without one), as measured on PostgreSQL 15; none when no
    value written under ``old`` is rounded, cut or refused."""
    lose, fail = "ROLLBACK-NARROWS-TYPE", "ROLLBACK-FAILS-ON-NEW-ROWS"
    o_arr, n_arr = _ARRAY.match(old), _ARRAY.match(new)
    if o_arr and n_arr:  # each element is cast as a value of the element type is
        inner = _what_changes(o_arr["element"], n_arr["element"], using)
        return [(rule, f"{what}, in each element of the arrays") for rule, what in inner]
    if o_arr or n_arr:
        return _array_to_value(o_arr is not None, new, using)
    o_num, n_num = _NUMERIC.match(old), _NUMERIC.match(new)
    o_int, n_int = _int(old), _int(new)
    o_float, n_float = _float_digits(old), _float_digits(new)
    whole = o_num is not None and o_num["p"] is not None and (o_num["s"] or "0") == "0"
    if (o_num is not None or o_float) and n_int and not whole:
        return [(lose, "the fractions are rounded away (87.50 becomes 88)")]
    if (o_num or o_float) and n_num and n_num["p"]:
        n_s, found = int(n_num["s"] or 0), []
        if o_float or o_num is None or o_num["p"] is None or n_s < int(o_num["s"] or 0):
            found.append((lose, f"every value is rounded to {n_s} decimal places"))
        room = int(n_num["p"]) - n_s
        o_room = int(o_num["p"]) - int(o_num["s"] or 0) if o_num and o_num["p"] else None
        if o_float or o_room is None or room < o_room:  # (an unconstrained numeric: any size)
            found.append((fail, f"a value of over {room} digits before the point fails "
                                "(numeric field overflow)"))  # fmt: skip
        return found
    if o_num and n_float and (o_num["p"] is None or int(o_num["p"]) > n_float):
        shown = "0.12345679" if n_float == 6 else "0.12345678901234568"
        return [(lose, f"{new} keeps about {n_float} significant digits "
                       f"(0.1234567890123456789 becomes {shown})")]  # fmt: skip
    if o_float > n_float > 0:
        return [(lose, "real keeps about 6 significant digits")]
    if o_int and n_int and _INT_RANGE[n_int][0] < _INT_RANGE[o_int][0]:
        return [(fail, f"a value over {_INT_RANGE[n_int][1]} fails (out of range)")]
    o_text, n_text = _TEXT.match(old), _TEXT.match(new)
    if o_text and n_text and n_text["n"]:
        n = n_text["n"]
        if o_text["n"] is None or int(n) < int(o_text["n"]):
            if using is not None:  # an explicit cast cuts; an assignment cast refuses (measured)
                return [(lose, f"the USING cast cuts every value to {n} characters")]
            return [(fail, f"a value longer than {n} characters fails (value too long)")]
    if o_text and not n_text and new not in ("json", "jsonb", "xml", "citext"):
        return [(fail, f"a value that is not a {new} fails the cast")]
    o_stamp, n_stamp = _STAMP.match(old), _STAMP.match(new)
    if o_stamp and new == "date":
        return [(lose, "the time of day is dropped")]
    if o_stamp and n_stamp and int(n_stamp["p"] or 6) < int(o_stamp["p"] or 6):
        return [(lose, f"seconds are rounded to {n_stamp['p']} fractional digits")]
    return []


_SUBSCRIPT = re.compile(r"^\(?\s*\"?\w+\"?\s*\[")


def _array_to_value(from_array: bool, new: str, using: str | None) -> list[tuple[str, str]]:
    """An array put back as one value (``text[]`` → ``text``), as measured on PostgreSQL 15:
    a subscript keeps one element; a shorter varchar refuses (or, cast in USING, cuts) the
    array's text form ``{a,b}``; text keeps that form whole. A value made an array, or an
    array made another type without USING (refused whatever the rows), is not a loss."""
    if not from_array:
        return []
    if using is not None and _SUBSCRIPT.match(using):
        return [("ROLLBACK-NARROWS-TYPE", "the USING subscript keeps one element of each "
                 "array and drops the others")]  # fmt: skip
    n_text = _TEXT.match(new)
    if n_text and n_text["n"]:
        n = n_text["n"]
        if using is not None:
            return [("ROLLBACK-NARROWS-TYPE", f"the USING cast cuts each array's text form "
                     f"({{a,b}}) to {n} characters")]  # fmt: skip
        return [("ROLLBACK-FAILS-ON-NEW-ROWS", f"an array whose text form ({{a,b}}) is longer "
                 f"than {n} characters fails (value too long)")]  # fmt: skip
    return []


_TYPE = re.compile(r"\bTYPE\s+", re.I)
_USING = re.compile(r"\bUSING\b", re.I)


def pg_rollback_data(
    file: str,
    statements: list[Statement],
    ops: list[Op],
    relaxed: Relaxed,
    columns: DeclaredColumns | None,
) -> list[Finding]:
    """A PostgreSQL rollback's type changes, ``SET NOT NULL`` and constraints, against the
    types the migrations declared (``columns``, as the migration left them) and what the
    migration lifted (``relaxed``)."""
    out: list[Finding] = []
    types: dict[tuple[str, str], str] = {}  # the rollback's own type changes so far
    # a column the rollback renames or adds: its name there → its name as the migration
    # leaves it (None: a column the migration does not leave)
    names: dict[tuple[str, str], tuple[str, str] | None] = {}
    declared = columns.declared if columns is not None else {}
    enums: dict[str, tuple[str, set[str]]] = {}  # the rollback's enums: (name, labels)
    # a table the rollback renames: its name there → its name as the migration leaves it
    # (a NUL-marked name: not a table the migration leaves, as an old name renamed away)
    tables: dict[str, str] = {}
    for st, op in zip(statements, ops, strict=True):
        if op.kind == "create_type" and (e := _AS_ENUM.match(strip_comments(st.text))):
            enums[_enum_key(e["q"])] = (op.name, set(_LABEL.findall(e["labels"])))
        lifted = relaxed.lifted("", op.name, st.text) if op.kind == "create_index" else None
        if op.unique and lifted is not None:
            why = f"the rollback re-creates the unique index {op.name}, which the migration "
            why += f"drops (its line {lifted}): it fails once the app writes two rows of "
            why += f"{op.table} with the same value"
            out.append(finding("ROLLBACK-FAILS-ON-NEW-ROWS", file, st.line, why))
        if op.kind != "alter_table":
            continue
        named = op.pg_name or op.key  # (tables and columns as PostgreSQL folds them)
        table = tables.get(named, named)  # (as the migration leaves it)
        for a in op.actions:
            if a.kind == "rename_table":  # (its columns' entries are keyed by ``table``)
                tables[a.pg_new or key(a.new)], tables[named] = table, f"\0{named}"
                continue
            where = (table, a.pg_column or key(a.column))
            was = names.get(where, where)  # the column's name as the migration leaves it
            if a.kind == "alter_type" and (m := _TYPE.search(a.definition)):
                new = type_text(a.definition[m.end() :])
                old = types[where] if where in types else _declared(declared, relaxed, was)
                types[where] = new
                u = _USING.search(a.definition)
                found = _what_changes(old, new, a.definition[u.end() :].strip() if u else None)
                enum = enums.get(_enum_key(_element(new))) if not found else None
                if enum is not None and (added := relaxed.labels.get(_enum_key(_element(old)))):
                    out.extend(_labels_lost(file, st.line, f"{op.name}.{a.column}", added, enum))
                for rule, what in found if old else []:
                    why = f"the rollback changes {op.name}.{a.column} from {old} back to "
                    why += f"{new}: {what}, on the rows written since the migration"
                    out.append(finding(rule, file, st.line, why))
            elif a.kind == "rename_column":  # its type and name go with it ("": not known)
                now = (table, a.pg_new or key(a.new))
                if where in types or was is None:
                    types[now] = types.pop(where, "")
                else:
                    types.pop(now, None)  # (the migrations' type, found by ``was``)
                names[now], names[where] = was, None
            elif a.kind in ("add_column", "drop_column"):  # (not the migration's column)
                names[where] = None
                types.pop(where, None)
            elif a.kind == "set_not_null" and was is not None and was in relaxed.nullable:
                said = f" ({was[1]} as the migration leaves it)" if was[1] != where[1] else ""
                if was[0] != named:
                    said = f" ({was[0]}.{was[1]} as the migration leaves it)"
                why = f"the rollback sets NOT NULL on {op.name}.{a.column}{said}, which the "
                why += f"migration makes nullable (its line {relaxed.nullable[was]}): it fails "
                why += "once a row holds NULL there"
                out.append(finding("ROLLBACK-FAILS-ON-NEW-ROWS", file, st.line, why))
            elif (
                a.kind in _CONSTRAINTS
                and not a.not_valid
                and ((lifted := relaxed.lifted(table, a.new, a.definition)) is not None)
            ):
                what = "CHECK" if a.kind == "add_check" else "UNIQUE/PRIMARY KEY/EXCLUDE"
                name = f" {a.new}" if a.new else ""
                why = f"the rollback adds the {what} constraint{name} to {op.name} back, "
                why += f"which the migration drops (its line {lifted}): it fails once a row "
                why += "written since breaks it"
                out.append(finding("ROLLBACK-FAILS-ON-NEW-ROWS", file, st.line, why))
    return out


def _declared(
    declared: dict[tuple[str, str], str], relaxed: Relaxed, where: tuple[str, str] | None
) -> str:
    """The type the migrations declare for ``where`` as the migration leaves it ("": not
    known), under the name it had before the migration renamed it when needed."""
    if where is None:
        return ""
    if where in declared:
        return declared[where]
    first = relaxed.first_name(where)
    return declared.get(first, "") if first is not None and first != where else ""


def _labels_lost(
    file: str, line: int, column: str, added: dict[str, int], enum: tuple[str, set[str]]
) -> list[Finding]:
    """A rollback's cast of ``column`` to its own enum (``enum``: its name and labels) that
    lacks a value the migration added to the column's enum (``added``: each with its line),
    as Prisma takes a value out (``Term_new``): PostgreSQL refuses a row holding it."""
    lost = [v for v in added if v not in enum[1]]
    if not lost:
        return []
    shown = ", ".join(f"'{v}'" for v in lost)
    why = f"the rollback changes {column} to the enum {enum[0]}, which lacks {shown} that the "
    why += f"migration adds (its line {added[lost[0]]}): it fails once a row written since "
    why += f"holds it (invalid input value for enum {enum[0]})"
    return [finding("ROLLBACK-FAILS-ON-NEW-ROWS", file, line, why)]


_FILLED = re.compile(r"\b(?:coalesce|ifnull)\s*\(\s*[\"`\[]?(?P<col>\w+)", re.I)


def sqlite_rollback_data(
    file: str, statements: list[Statement], ops: list[Op], replay: Replay
) -> list[Finding]:
    """A SQLite (or D1) rollback's rebuild, walked on a copy of the schema its migration
    left: a copy (``INSERT INTO new_t … SELECT … FROM t``) into a table that declares NOT
    NULL where ``t`` is nullable, or a CHECK or UNIQUE ``t`` does not have."""
    out: list[Finding] = []
    schema = replay.copy()
    for st, op in zip(statements, ops, strict=True):
        if op.kind == "insert_select" and op.table:
            into, source = schema.shape(op.name), schema.shape(op.table)
            if into is not None and source is not None:
                filled = {key(m["col"]) for m in _FILLED.finditer(strip_comments(st.text))}
                copied = {key(n) for n in op.names} or set(into.columns)
                lost = [
                    c for c, (_t, nn) in into.columns.items()
                    if nn and c in copied and c not in filled
                    and c in source.columns and not source.columns[c][1]
                ]  # fmt: skip
                for c in lost:
                    why = f"the rollback's copy into {op.name} declares {c} NOT NULL, which "
                    why += f"{op.table} (as the migration leaves it) allows NULL in: it fails "
                    why += "once a row holds NULL there"
                    out.append(finding("ROLLBACK-FAILS-ON-NEW-ROWS", file, st.line, why))
                checks = sorted(into.checks - source.checks)
                uniques = sorted(into.uniques - source.uniques)
                if checks or uniques:
                    what = [f"CHECK ({c})" for c in checks]
                    what += [f"UNIQUE ({', '.join(u)})" for u in uniques]
                    why = f"the rollback's copy into {op.name} declares {'; '.join(what)}, "
                    why += f"which {op.table} (as the migration leaves it) does not have: it "
                    why += "fails once a row written since breaks it"
                    out.append(finding("ROLLBACK-FAILS-ON-NEW-ROWS", file, st.line, why))
        schema.run(st, op)
    return out
