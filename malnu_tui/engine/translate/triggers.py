"""SQLite ``CREATE TRIGGER … BEGIN … END`` → a PL/pgSQL function plus ``CREATE TRIGGER``.

The common "touch ``updated_at``" trigger (``AFTER UPDATE ON t … UPDATE t SET col = … WHERE id =
NEW.id``) becomes a ``BEFORE`` trigger assigning ``NEW.col``: run as written, PostgreSQL would
fire the trigger again from its own UPDATE (SQLite does not, recursive triggers being off), so the
literal translation would recurse. Any other body that writes to the trigger's own table is a
finding.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import sqlglot
from sqlglot import exp

from malnu_tui.engine.sqlsplit import split_statements
from malnu_tui.engine.translate.common import parse_one_sqlite, sqlite_sql
from malnu_tui.engine.translate.functions import Untranslatable

__all__ = ["TriggerParts", "parse_trigger", "trigger_function_name", "trigger_sql"]

_IDENT = r'(?:"(?:[^"]|"")+"|`[^`]+`|\[[^\]]+\]|[A-Za-z_][A-Za-z0-9_$]*)'
_HEAD = re.compile(
    r"^\s*CREATE\s+(?:(?P<temp>TEMP|TEMPORARY)\s+)?TRIGGER\s+(?P<ine>IF\s+NOT\s+EXISTS\s+)?"
    rf"(?:{_IDENT}\s*\.\s*)?(?P<name>{_IDENT})\s+"
    r"(?P<timing>BEFORE|AFTER|INSTEAD\s+OF)?\s*"
    r"(?P<event>DELETE|INSERT|UPDATE)(?:\s+OF\s+(?P<cols>.+?))?\s+"
    rf"ON\s+(?:{_IDENT}\s*\.\s*)?(?P<table>{_IDENT})\s*"
    r"(?:FOR\s+EACH\s+ROW\s*)?(?P<rest>(?:WHEN|BEGIN)\b.*)$",
    re.IGNORECASE | re.DOTALL,
)
# What may hold the word BEGIN without being the body's: strings, quoted names, comments.
_TOKEN = re.compile(
    r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|`[^`]*`|\[[^\]]*\]|--[^\n]*|/\*.*?\*/|[A-Za-z_][\w$]*",
    re.DOTALL,
)
_WHEN = re.compile(r"WHEN\b", re.IGNORECASE)
_END = re.compile(r"\bEND\s*$", re.IGNORECASE)
_RAISE = re.compile(
    r"^\s*SELECT\s+RAISE\s*\(\s*(?P<kind>ABORT|FAIL|ROLLBACK|IGNORE)\s*"
    r"(?:,\s*'(?P<msg>(?:[^']|'')*)'\s*)?\)\s*(?P<rest>(?:FROM\b|WHERE\b).*)?$",
    re.IGNORECASE | re.DOTALL,
)


def unquote(ident: str) -> str:
    """An identifier as written, without SQLite's quotes."""
    if ident[:1] in '"`[':
        inner = ident[1:-1]
        return inner.replace('""', '"') if ident[0] == '"' else inner
    return ident


def pg_ident(name: str) -> str:
    """A lower-cased, double-quoted PostgreSQL identifier."""
    return '"' + name.lower().replace('"', '""') + '"'


@dataclass(frozen=True)
class TriggerParts:
    """A SQLite trigger's header and body."""

    name: str
    table: str
    timing: str  # BEFORE, AFTER, INSTEAD OF
    event: str  # INSERT, UPDATE, DELETE
    columns: tuple[str, ...]
    when: str | None
    body: str
    if_not_exists: bool
    temporary: bool


def parse_trigger(text: str) -> TriggerParts | None:
    """Read a ``CREATE TRIGGER`` statement, or None when it is not one we can read."""
    m = _HEAD.match(text)
    if not m:
        return None
    when, body = _when_and_body(m["rest"])
    if body is None:
        return None
    cols = tuple(unquote(c.strip()) for c in m["cols"].split(",")) if m["cols"] else ()
    return TriggerParts(
        name=unquote(m["name"]),
        table=unquote(m["table"]),
        timing=" ".join((m["timing"] or "BEFORE").upper().split()),
        event=m["event"].upper(),
        columns=cols,
        when=when,
        body=body,
        if_not_exists=bool(m["ine"]),
        temporary=bool(m["temp"]),
    )


def _when_and_body(rest: str) -> tuple[str | None, str | None]:
    """``WHEN cond BEGIN body END`` (or ``BEGIN body END``) split at the first BEGIN that is a
    word of its own: not one inside a string (``WHEN NEW.note = 'BEGIN'``), a quoted name
    (``NEW."begin"``) or a comment. (None, None) when there is no such BEGIN or no final END."""
    when = _WHEN.match(rest)
    start = when.end() if when else 0
    for token in _TOKEN.finditer(rest, start):
        if token[0].upper() == "BEGIN":
            body = rest[token.end() :]
            end = _END.search(body)
            if end is None:
                return None, None
            return (rest[start : token.start()].strip() if when else None), body[: end.start()]
    return None, None


def trigger_function_name(trigger: str) -> str:
    """The PL/pgSQL function created for a trigger."""
    return (trigger.lower() + "_fn")[:63]


TranslateOne = Callable[[str], str]  # SQLite statement → one PostgreSQL statement (or raises)
TranslateExpr = Callable[[str], str]  # SQLite expression → PostgreSQL expression (or raises)


# The names by which SQLite reads a table's rowid (none that a column has taken, none on a
# WITHOUT ROWID table, where its trigger failed on every UPDATE), and its INTEGER PRIMARY KEY.
Rowid = tuple[frozenset[str], str | None]


def _touch_assignments(
    parts: TriggerParts,
    body: list[str],
    translate_expr: TranslateExpr,
    keys: frozenset[str],
    text: tuple[frozenset[str], TranslateExpr] | None,
    rowid: Rowid = (frozenset(), None),
) -> list[str] | None:
    """``NEW.col := expr`` lines when the body is the "touch a column" idiom, else None: one
    UPDATE of the trigger's own table whose WHERE is ``key = NEW.key`` (or, for an UPDATE
    trigger, ``key = OLD.key``: the same row unless the UPDATE changed its key), ``key`` a
    column alone unique (``keys``, lower-cased) or the rowid (``rowid``: the names SQLite reads
    as it, and its INTEGER PRIMARY KEY column, if any). On any other column the UPDATE reaches
    other rows too (``WHERE class_id = NEW.class_id``), which assigning NEW would not."""
    if len(body) != 1 or parts.event not in ("UPDATE", "INSERT"):
        return None
    try:
        tree = parse_one_sqlite(body[0])
    except sqlglot.errors.ParseError:
        return None
    if not isinstance(tree, exp.Update) or not isinstance(tree.this, exp.Table):
        return None
    if tree.this.name.lower() != parts.table.lower() or tree.args.get("from_"):
        return None
    where = tree.args.get("where")
    cond = where.this if where is not None else None
    if not isinstance(cond, exp.EQ):
        return None
    sides = [cond.this, cond.expression]
    if not all(isinstance(s, exp.Column) for s in sides):
        return None
    row = (
        "old" if parts.event == "UPDATE" and any(x.table.lower() == "old" for x in sides) else "new"
    )
    new_side = [x for x in sides if x.table.lower() == row]
    plain = [x for x in sides if not x.table or x.table.lower() == parts.table.lower()]
    if len(new_side) != 1 or len(plain) != 1 or new_side[0].name.lower() != plain[0].name.lower():
        return None
    key = plain[0].name.lower()
    names, alias = rowid
    is_rowid = key in names and key not in keys  # (old sample ports': rowid = new.rowid)
    if key not in keys and not is_rowid:
        return None
    lines: list[str] = []
    assigned: set[str] = set()
    for assignment in tree.expressions:
        if not isinstance(assignment, exp.EQ) or not isinstance(assignment.this, exp.Column):
            return None
        if not _row_columns_as_new(assignment, parts.table, assigned):
            return None
        column = assignment.this.name.lower()
        assigned.add(column)
        to_text = text is not None and column in text[0]  # (a date/time in SQLite's text)
        value = (text[1] if text and to_text else translate_expr)(sqlite_sql(assignment.expression))
        lines.append(f"NEW.{pg_ident(assignment.this.name)} := {value};")
    if is_rowid and row == "old":  # (PostgreSQL's NEW has no rowid: the IF failed when it ran)
        if alias is None:  # (a rowid is changed only by SET rowid = …, which has no equivalent)
            return lines
        key = alias
    if row == "old":  # (a key the UPDATE changed matches no row in SQLite: nothing touched)
        column = pg_ident(key)
        lines = [f"IF NEW.{column} = OLD.{column} THEN", *("  " + x for x in lines), "END IF;"]
    return lines


def _row_columns_as_new(assignment: exp.EQ, table: str, assigned: set[str]) -> bool:
    """The row's own columns in ``SET n = n + 1`` (bare, or named by the table) as ``NEW.n``:
    in the trigger's function a bare ``n`` is no column (it failed when the trigger fired).
    False when the value reads a column an earlier assignment of the same SET changed (an
    UPDATE reads them all before it writes; assignments to NEW run one after the other), or
    holds a subquery (in a BEFORE trigger it reads the table as it was before the change)."""
    value = assignment.expression
    if value.find(exp.Query) is not None:
        return False  # (a subquery: a BEFORE trigger's reads see the table before the change)
    for col in list(value.find_all(exp.Column)):
        owner = col.table.lower()
        if owner in ("", table.lower()):
            if col.name.lower() in assigned:
                return False
            col.set("table", exp.to_identifier("NEW"))
        elif owner == "new" and col.name.lower() in assigned:
            return False
    return True


def _writes_table(statement: str, table: str) -> bool:
    try:
        tree = parse_one_sqlite(statement)
    except sqlglot.errors.ParseError:
        return True  # cannot tell: assume the worst
    if isinstance(tree, exp.Insert | exp.Update | exp.Delete):
        target = tree.this.this if isinstance(tree.this, exp.Schema) else tree.this
        return isinstance(target, exp.Table) and target.name.lower() == table.lower()
    return False


def trigger_sql(
    parts: TriggerParts,
    translate_one: TranslateOne,
    translate_expr: TranslateExpr,
    keys: frozenset[str] = frozenset(),
    text: tuple[frozenset[str], TranslateExpr] | None = None,
    translate_when: TranslateExpr | None = None,
    rowid: Rowid = (frozenset(), None),
) -> tuple[list[str], list[str]]:
    """The PostgreSQL statements (function, trigger) for a trigger, and notes (``keys``: the
    lower-cased columns that are alone unique in the trigger's table; ``text``: its TEXT
    columns, and how to translate a value stored in one; ``translate_when``: how to translate
    the WHEN clause, a condition; ``rowid``: :data:`Rowid`).

    Raises :class:`Untranslatable` when the body cannot be carried over faithfully.
    """
    notes: list[str] = []
    if parts.temporary:
        raise Untranslatable(
            "CREATE TEMP TRIGGER", "PostgreSQL has no temporary triggers", "drop the trigger"
        )
    body = [s.text for s in split_statements(parts.body)]
    if not body:
        raise Untranslatable("CREATE TRIGGER", "the trigger body is empty", "")
    timing = parts.timing
    assignments = None
    if timing == "AFTER":
        assignments = _touch_assignments(parts, body, translate_expr, keys, text, rowid)
    lines: list[str] = []
    if assignments is not None:
        timing = "BEFORE"
        lines = assignments
        notes.append(
            "AFTER trigger updating its own row became a BEFORE trigger assigning NEW "
            "(PostgreSQL would otherwise fire it again from its own UPDATE)"
        )
    else:
        for stmt in body:
            raise_match = _RAISE.match(stmt)
            if raise_match:
                lines.append(_raise_sql(raise_match, translate_one))
                continue
            if _writes_table(stmt, parts.table):
                raise Untranslatable(
                    "trigger writing its own table",
                    "PostgreSQL fires triggers recursively where SQLite (recursive_triggers off) "
                    "does not, so the body would not mean the same",
                    "rewrite as a BEFORE trigger that assigns NEW.column",
                )
            if re.match(r"^\s*SELECT\b", stmt, re.IGNORECASE):
                raise Untranslatable(
                    "SELECT in a trigger body",
                    "a bare SELECT in PL/pgSQL must be PERFORM and its result is discarded",
                    "rewrite the body by hand",
                )
            lines.append(translate_one(stmt) + ";")
    if timing == "AFTER":
        ret = "RETURN NULL;"
    elif parts.event == "DELETE":
        ret = "RETURN OLD;"
    else:
        ret = "RETURN NEW;"
    fn = trigger_function_name(parts.name)
    body_sql = "\n".join("  " + line for line in [*lines, ret])
    function = (
        f"CREATE OR REPLACE FUNCTION {pg_ident(fn)}() RETURNS trigger LANGUAGE plpgsql AS $fn$\n"
        f"BEGIN\n{body_sql}\nEND\n$fn$"
    )
    event = parts.event
    if parts.columns:
        event += " OF " + ", ".join(pg_ident(c) for c in parts.columns)
    create = "CREATE OR REPLACE TRIGGER" if parts.if_not_exists else "CREATE TRIGGER"
    trigger = (
        f"{create} {pg_ident(parts.name)} {timing} {event} ON {pg_ident(parts.table)} FOR EACH ROW"
    )
    if parts.when:
        trigger += f" WHEN ({(translate_when or translate_expr)(parts.when)})"
    trigger += f" EXECUTE FUNCTION {pg_ident(fn)}()"
    if parts.if_not_exists:
        notes.append("IF NOT EXISTS became CREATE OR REPLACE TRIGGER (PostgreSQL 14+)")
    return [function, trigger], notes


def _raise_sql(m: re.Match[str], translate_one: TranslateOne) -> str:
    if m["kind"].upper() == "IGNORE":
        raise Untranslatable(
            "RAISE(IGNORE)", "PostgreSQL cannot skip the current row from an AFTER trigger", ""
        )
    msg = (m["msg"] or "").replace("''", "'")
    raise_stmt = "RAISE EXCEPTION '%', " + "'" + msg.replace("'", "''") + "';"
    if not m["rest"]:
        return raise_stmt
    probe = translate_one("SELECT 1 " + m["rest"])
    return f"IF EXISTS ({probe}) THEN\n    {raise_stmt}\n  END IF;"
