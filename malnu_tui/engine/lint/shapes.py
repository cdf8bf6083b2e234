"""The shape the running app sees of a function, procedure or view: a function's parameters
(names, types, defaults) and result type, a view's columns. A migration that drops one and
creates it again (the only way PostgreSQL lets a function's result type or a parameter's name
change, or a view lose a column) changes it under the deployed app: Supabase's ``rpc()`` and
PostgREST's ``/rpc/…`` call a function by its parameters' names and read its result as it was.

The old shape comes from the CREATE of an earlier migration, else from ``live`` (the live
database, or SQLite's replay of the schema); an old shape not known for sure (overloads, a
``SELECT *`` view) is no finding."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from malnu_tui.engine.lint.masking import Unreadable, closing_paren, mask_code
from malnu_tui.engine.lint.ops import IDENT, Op, key, split_top_level, strip_comments
from malnu_tui.engine.sqlsplit import Statement

__all__ = ["LiveShape", "Shape", "Shapes", "function_shape", "pg_live_shape", "view_shape"]

_F = re.IGNORECASE | re.DOTALL
_ROUTINE = re.compile(
    rf"^CREATE\s+(?:OR\s+REPLACE\s+)?(?P<kind>FUNCTION|PROCEDURE)\s+(?:{IDENT}\s*\.\s*)?"
    rf"(?P<name>{IDENT})\s*\(",
    _F,
)
_VIEW = re.compile(
    rf"^CREATE\s+(?:OR\s+REPLACE\s+)?(?:TEMP(?:ORARY)?\s+)?(?:RECURSIVE\s+)?"
    rf"(?:MATERIALIZED\s+)?VIEW\s+(?:IF\s+NOT\s+EXISTS\s+)?(?:{IDENT}\s*\.\s*)?"
    rf"(?P<name>{IDENT})\s*",
    _F,
)
_RETURNS = re.compile(r"\s*RETURNS\s+(?P<setof>SETOF\s+)?", _F)
_RESULT_END = re.compile(
    r"\s+(?:LANGUAGE|AS|IMMUTABLE|STABLE|VOLATILE|SECURITY|SET|STRICT|CALLED|RETURNS|"
    r"PARALLEL|COST|ROWS|SUPPORT|LEAKPROOF|NOT|BEGIN|WINDOW|TRANSFORM|EXTERNAL)\b|\s*$",
    _F,
)
# A parameter's name (quoted: spaces and all, as `"student id"`) and type; else a type alone
# (`"public"."study"`, `numeric(10, 2)`: no name before it).
_NAMED = re.compile(r'^(?P<name>"(?:[^"]|"")*"|[^\W\d][\w$]*)\s+(?P<type>\S.*)$', re.DOTALL)
_MODE = re.compile(r"^(?P<mode>IN|OUT|INOUT|VARIADIC)\s+", _F)
_DEFAULT = re.compile(r"\s+DEFAULT\s+|\s*=\s*", _F)
# A parameter's type of two words or more (then it has no name before it).
_LONG_TYPE = re.compile(
    r"^(?:double\s+precision|character\s+varying|bit\s+varying|(?:timestamp|time)\s+with(?:out)?"
    r"\s+time\s+zone)\b",
    _F,
)
_ALIASES = {
    "int": "integer", "int4": "integer", "int8": "bigint", "int2": "smallint",
    "bool": "boolean", "float8": "double precision", "float4": "real",
    "timestamptz": "timestamp with time zone", "timetz": "time with time zone",
    "varchar": "character varying", "decimal": "numeric", "char": "character",
    "timestamp": "timestamp without time zone", "time": "time without time zone",
}  # fmt: skip
_SELECT = re.compile(r"\bSELECT\s+(?:ALL\s+|DISTINCT\s+(?:ON\s*\([^)]*\)\s*)?)?", _F)
_TOP_END = re.compile(r"\b(?:FROM|UNION|INTERSECT|EXCEPT|WHERE|GROUP|ORDER|LIMIT|WINDOW)\b", _F)
_ALIAS = re.compile(rf"(?:\bAS\s+|[\s)])(?P<alias>{IDENT})\s*$", _F)
_COLUMN = re.compile(rf"^(?:{IDENT}\s*\.\s*)*(?P<col>{IDENT})$", _F)
# A string parameter's type either way: a caller passes the same value to both.
_STRINGS = {"character varying": "text", "character": "text"}
_KEYWORDS = {"end", "null", "true", "false", "distinct", "current_date", "current_timestamp"}


@dataclass(frozen=True)
class Shape:
    """A function's input parameters ((name, type, has a default), names folded, "" when
    unnamed) and result (``setof study``, ``(id integer, name text)`` for OUT parameters or
    ``RETURNS TABLE``), or a view's columns."""

    params: tuple[tuple[str, str, bool], ...] = ()
    result: str = ""
    columns: tuple[str, ...] = ()


LiveShape = Callable[[str, str], "Shape | None"]  # (kind, name) → its shape there, if known


def _type(text: str) -> str:
    """A type as PostgreSQL prints a parameter's: no schema, no modifier, canonical name."""
    t = " ".join(text.replace('"', "").lower().split())
    t = re.sub(r"\s*\([^()]*\)", "", t)  # varchar(100): a parameter's type has no modifier
    t = re.sub(r"^(?:[\w$]+\s*\.\s*)+", "", t)  # public.study, pg_catalog.text
    array = t.endswith("[]")
    t = _ALIASES.get(t.removesuffix("[]").strip(), t.removesuffix("[]").strip())
    return t + ("[]" if array else "")


def _closing(text: str, start: int) -> int:
    """The index of the parenthesis closing the one at ``start`` (-1: none)."""
    close = closing_paren(mask_code(text), start) if start >= 0 else None
    return -1 if close is None else close


def _params(text: str) -> tuple[list[tuple[str, str, bool]], list[str]] | None:
    """The input parameters and the OUT ones (``name type``) of a parameter list."""
    ins: list[tuple[str, str, bool]] = []
    outs: list[str] = []
    for part in split_top_level(text):
        mode = _MODE.match(part)
        rest = part[mode.end() :] if mode else part
        d = _DEFAULT.search(mask_code(rest))
        decl, has_default = (rest[: d.start()], True) if d else (rest, False)
        if not decl.strip():
            return None
        named = None if _LONG_TYPE.match(decl.strip()) else _NAMED.match(decl.strip())
        if named is not None:
            name, typ = key(named["name"]), _type(named["type"])
        else:
            name, typ = "", _type(decl)
        if mode and mode["mode"].upper() in ("OUT", "INOUT"):
            outs.append(f"{name} {typ}")
        if not mode or mode["mode"].upper() != "OUT":
            ins.append((name, typ, has_default))
    return ins, outs


def function_shape(text: str) -> tuple[str, str, Shape] | None:
    """(kind, folded name, shape) of a ``CREATE FUNCTION`` / ``PROCEDURE`` (None: unread)."""
    text = strip_comments(text)
    m = _ROUTINE.match(text)
    end = _closing(text, m.end() - 1) if m else -1
    read = _params(text[m.end() : end]) if m and end > 0 else None
    if m is None or read is None:
        return None
    ins, outs = read
    kind, name = m["kind"].lower(), key(m["name"])
    r = _RETURNS.match(text, end + 1)
    result = ""
    if r is not None:
        rest = text[r.end() :]
        if rest[:5].upper() == "TABLE":
            close = _closing(rest, rest.find("("))
            table = _params(rest[rest.find("(") + 1 : close]) if close > 0 else None
            if table is None:
                return None
            result = "setof (" + ", ".join(f"{n} {t}" for n, t, _ in table[0]) + ")"
        else:
            e = _RESULT_END.search(rest)
            result = ("setof " if r["setof"] else "") + _type(rest[: e.start() if e else None])
    if outs and result.removeprefix("setof ") in ("", "record"):
        result = ("setof " if result.startswith("setof") else "") + f"({', '.join(outs)})"
    return kind, name, Shape(tuple(ins), result)


def _select_columns(select: str) -> tuple[str, ...] | None:
    code = mask_code(select)
    s = _SELECT.search(code)
    if s is None or s.start() != 0:
        return None
    depth, end = 0, len(code)
    for i in range(s.end(), len(code)):
        depth += code[i] == "("
        depth -= code[i] == ")"
        if depth == 0 and (t := _TOP_END.match(code, i)) and (i == 0 or not code[i - 1].isalnum()):
            end = t.start()
            break
    columns = []
    for item in split_top_level(select[s.end() : end]):
        a = _ALIAS.search(item)
        c = _COLUMN.match(item.strip())
        name = key(a["alias"]) if a and not item.rstrip().endswith(")") else ""
        name = name or (key(c["col"]) if c else "")
        if not name or name in _KEYWORDS or name == "*":
            return None  # SELECT *, an expression PostgreSQL names itself: not known for sure
        columns.append(name)
    return tuple(columns)


def view_shape(text: str) -> tuple[str, Shape] | None:
    """(folded name, shape) of a ``CREATE VIEW`` whose columns are plain to read."""
    text = strip_comments(text)
    m = _VIEW.match(text)
    if m is None:
        return None
    rest, columns = text[m.end() :], None
    if rest.startswith("("):
        close = _closing(rest, 0)
        columns = tuple(key(c) for c in split_top_level(rest[1:close])) if close > 0 else None
    a = re.search(r"\bAS\s+(?=SELECT\b|\()", mask_code(rest), re.IGNORECASE)
    if columns is None and a is not None:
        body = rest[a.end() :].strip()
        while body.startswith("(") and body.endswith(")"):
            body = body[1:-1].strip()
        columns = _select_columns(body)
    return (key(m["name"]), Shape(columns=columns)) if columns else None


def _result_changed(old: str, new: str) -> bool:
    """Whether a caller reading ``old`` misreads ``new``: not from ``void`` (nothing was read),
    nor to a row with more columns (``(a integer)`` → ``(a integer, b text)``: a name more in
    PostgREST's JSON), nor between a trigger function's."""
    if old == new or old in ("", "void") or "trigger" in (old, new):
        return False
    o, n = old.partition("(")[::2], new.partition("(")[::2]
    if o[1] and n[1] and old.startswith("setof") == new.startswith("setof"):
        return not set(split_top_level(o[1][:-1])) <= set(split_top_level(n[1][:-1]))
    return True


def changes(kind: str, name: str, old: Shape, new: Shape) -> list[str]:
    """What a caller of ``old`` meets in ``new``, each said once."""
    if kind == "view":
        gone = [c for c in old.columns if c not in new.columns]
        if not gone:
            return []
        return [
            f"column {gone[0]} is gone" if len(gone) == 1 else f"columns {', '.join(gone)} are gone"
        ]
    out = []
    if _result_changed(old.result, new.result):
        out.append(f"it returned {old.result or 'nothing'}, now {new.result or 'nothing'}")
    for (on, ot, od), (nn, nt, nd) in zip(old.params, new.params, strict=False):
        label = on or nn or "a parameter"
        if on and nn and on != nn:
            out.append(f"parameter {on} is now named {nn}")
        if _STRINGS.get(ot, ot) != _STRINGS.get(nt, nt):
            out.append(f"parameter {label} was {ot}, now {nt}")
        if od and not nd:
            out.append(f"parameter {label} lost its DEFAULT")
    for n, t, d in new.params[len(old.params) :]:
        if not d:
            out.append(f"parameter {n or t} is added without a DEFAULT")
    out.extend(f"parameter {n or t} is removed" for n, t, _ in old.params[len(new.params) :])
    return out


_DROP_ROUTINE = re.compile(
    r"^DROP\s+(?:FUNCTION|PROCEDURE|ROUTINE)\s+(?:IF\s+EXISTS\s+)?(?P<names>.*?)"
    r"(?:\s+(?:CASCADE|RESTRICT))?\s*$",
    _F,
)
_DROP_ONE = re.compile(rf"^(?:{IDENT}\s*\.\s*)?(?P<name>{IDENT})\s*(?:\((?P<args>.*)\))?$", _F)


def _types(shape: Shape) -> list[str]:
    return [t for _, t, _ in shape.params]


def _drop_types(text: str) -> dict[str, list[str] | None]:
    """Each function a DROP FUNCTION names → its argument types, as it says them (None: not
    said, as ``DROP FUNCTION f``)."""
    m = _DROP_ROUTINE.match(strip_comments(text))
    out: dict[str, list[str] | None] = {}
    for part in split_top_level(m["names"]) if m else []:
        one = _DROP_ONE.match(part.strip())
        read = _params(one["args"]) if one and one["args"] is not None else None
        if one:
            out[key(one["name"])] = [t for _, t, _ in read[0]] if read else None
    return out


_UNKNOWN = Shape(result="?")  # an overloaded name: which one the app calls is not known


@dataclass
class Shapes:
    """The functions', procedures' and views' shapes across migrations ((kind, folded name) →
    shape), and, for the migration at hand, the old shape of each one it dropped and the new
    one it made again."""

    live: LiveShape | None = None
    known: dict[tuple[str, str], Shape] = field(default_factory=dict)
    gone: dict[tuple[str, str], Shape] = field(default_factory=dict)
    made: dict[tuple[str, str], tuple[int, Shape]] = field(default_factory=dict)
    new: set[tuple[str, str]] = field(default_factory=set)  # created by this migration

    def begin(self) -> None:
        self.gone.clear()
        self.made.clear()
        self.new.clear()

    def _old(self, kind: str, name: str, types: list[str] | None) -> Shape | None:
        """The shape of what a DROP drops (``types``: its argument types, when it says them):
        None when not known, or when the types are another overload's (it drops nothing the
        shape says, or fails)."""
        old = self.known.get((kind, key(name)))
        if old is None and self.live is not None:
            old = self.live(kind, name)
        if old is not None and types is not None and [t for _, t, _ in old.params] != types:
            return None
        self.known.pop((kind, key(name)), None)
        return None if old is _UNKNOWN else old

    def see(self, st: Statement, op: Op) -> None:
        kind = op.kind.partition("_")[2]
        if kind not in ("function", "procedure", "view"):
            return
        if op.kind.startswith("drop_"):
            try:
                types = _drop_types(st.text) if kind != "view" else {}
            except Unreadable:  # an unterminated string: the types are not known
                types = {}
            for n in op.names:
                old = self._old(kind, n, types.get(key(n)))
                if old is not None and (kind, key(n)) not in self.new:
                    self.gone.setdefault((kind, key(n)), old)
            return
        if not op.kind.startswith("create_"):
            return
        self.new.add((kind, op.key))
        try:
            if kind == "view":
                read_view = view_shape(st.text)
                found = ("view", read_view[0], read_view[1]) if read_view else None
            else:
                found = function_shape(st.text)
        except Unreadable:  # an unterminated string: PostgreSQL refuses it anyway
            found = None
        if found is None:
            self.known.pop((kind, op.key), None)  # not read: unknown from here on
            return
        k = (found[0], found[1])
        before = self.known.get(k)
        if (
            kind != "view"
            and before is not None
            and (before is _UNKNOWN or _types(before) != _types(found[2]))
        ):
            self.known[k] = _UNKNOWN  # CREATE f(a, b) beside f(a): another function
            return
        self.known[k] = found[2]
        if k in self.gone:
            self.made.setdefault(k, (st.line, found[2]))

    def reshaped(self) -> dict[tuple[str, str], tuple[int, list[str]]]:
        """(kind, name) → (the line of its CREATE, what changed) of this migration's."""
        out = {}
        for k, (line, new) in self.made.items():
            if what := changes(k[0], k[1], self.gone[k], new):
                out[k] = (line, what)
        return out


# By the name folded either way (a DROP's names come unquoted: "getStudent" and getStudent
# alike); two objects of that name (two schemas, both spellings) are not one shape.
_LIVE_ROUTINE = (
    "SELECT CASE p.prokind WHEN 'p' THEN 'procedure' ELSE 'function' END, "
    "pg_get_function_arguments(p.oid), pg_get_function_result(p.oid) FROM pg_proc p "
    "JOIN pg_namespace n ON n.oid = p.pronamespace "
    "WHERE lower(p.proname) = lower(%s) AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
)
_LIVE_VIEW = (
    "SELECT c.oid, a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
    "JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE lower(c.relname) = lower(%s) AND c.relkind IN ('v', 'm') AND a.attnum > 0 "
    "AND NOT a.attisdropped AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
    "ORDER BY c.oid, a.attnum"
)


def pg_live_shape(conn: Any) -> LiveShape:
    """A function's, procedure's or view's shape in the live PostgreSQL database (``conn``,
    psycopg's), for the pending migrations: None when it is not there, not one object of that
    name (overloads, two schemas), or the database did not answer."""

    def shape(kind: str, name: str) -> Shape | None:
        try:
            if kind == "view":
                cols = conn.execute(_LIVE_VIEW, (name,)).fetchall()
                names = [str(c[1]) for c in cols]
                if len({c[0] for c in cols}) != 1 or len(set(names)) != len(names):
                    return None
                return Shape(columns=tuple(names))
            rows = conn.execute(_LIVE_ROUTINE, (name,)).fetchall()
        except Exception:  # best effort: unknown, so no finding
            return None
        if len(rows) != 1 or rows[0][0] != kind:
            return None
        returns = f" RETURNS {rows[0][2]}" if rows[0][2] else ""
        try:
            read = function_shape(f'CREATE {kind} "{key(name)}"({rows[0][1]}){returns}')
        except Unreadable:
            return None
        return read[2] if read else None

    return shape
