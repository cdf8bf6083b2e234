"""What a statement does to the schema, read with regular expressions over the splitter's
statements (fast enough for thousands of files; no full parse needed for the lint's rules).

Names are compared unquoted and case-folded (:func:`key`); both dialects' quoting is read. The
``pg_…`` fields hold the same names as PostgreSQL folds them (:func:`pg_key`: ``"Kelas"`` and
``kelas`` are two tables there), for the PostgreSQL rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from malnu_tui.engine.lint.names import (
    IDENT,
    PG_DROP_TABLE,
    PG_RENAME_TO,
    PG_TABLE_NAMED,
    QNAME,
    key,
    pg_key,
    split_top_level,
    strip_comments,
)
from malnu_tui.engine.lint.names import unquote as _unq
from malnu_tui.engine.lint.where import unbounded_where
from malnu_tui.engine.sqlsplit import Statement

__all__ = [
    "IDENT",
    "PG_DROP_TABLE",
    "PG_RENAME_TO",
    "PG_TABLE_NAMED",
    "QNAME",
    "Action",
    "Op",
    "adds_not_null_without_default",
    "adds_unique",
    "key",
    "pg_key",
    "read_ops",
    "split_top_level",
    "strip_comments",
]

_IDENT, _QNAME = IDENT, QNAME
_F = re.IGNORECASE | re.DOTALL

# SQLite also takes a name in single quotes there, as `sqlite3 .dump` writes a virtual table's
# shadow tables (``CREATE TABLE IF NOT EXISTS 'posts_fts_data'(…)``): read as a table named
# "if", which the rollback "does not drop".
_CREATE_TABLE = re.compile(
    rf"^CREATE\s+(?:(?:GLOBAL|LOCAL)\s+)?(?:TEMP(?:ORARY)?\s+|UNLOGGED\s+)?TABLE\s+"
    rf"(?:IF\s+NOT\s+EXISTS\s+)?(?:(?P<schema>{_IDENT})\s*\.\s*)?(?P<name>{_IDENT}|'(?:[^']|'')+')"
    rf"\s*(?P<rest>.*)$",
    _F,
)
# A virtual table's shadow tables (FTS3/4/5, R*Tree), which go with it: like the virtual table
# itself (CREATE VIRTUAL TABLE), no table the rules follow.
_SHADOW = re.compile(
    r"_(?:data|idx|docsize|config|content|segments|segdir|stat|node|parent|rowid)$"
)
_CREATE_INDEX = re.compile(
    rf"^CREATE\s+(?P<unique>UNIQUE\s+)?INDEX\s+(?P<conc>CONCURRENTLY\s+)?"
    rf"(?:IF\s+NOT\s+EXISTS\s+)?(?:(?:{_IDENT}\s*\.\s*)?(?P<name>{_IDENT})\s+)?ON\s+(?:ONLY\s+)?"
    rf"(?:(?P<schema>{_IDENT})\s*\.\s*)?(?P<table>{_IDENT})",
    _F,
)
_CREATE_OTHER = re.compile(
    rf"^CREATE\s+(?:OR\s+REPLACE\s+)?(?:TEMP(?:ORARY)?\s+)?(?:(?P<mat>MATERIALIZED)\s+)?"
    rf"(?P<kind>VIEW|TRIGGER|FUNCTION|PROCEDURE|SEQUENCE|TYPE)\s+(?:IF\s+NOT\s+EXISTS\s+)?"
    rf"(?:(?P<schema>{_IDENT})\s*\.\s*)?(?P<name>{_IDENT})",
    _F,
)
# A trigger function (RETURNS trigger, before its body): no app calls it.
_RETURNS_TRIGGER = re.compile(r"[^$']*?\bRETURNS\s+(?:EVENT_)?TRIGGER\b", _F)
# A function's body and strings, blanked to read its attributes (IMMUTABLE, STABLE).
_BODIES = re.compile(r"(\$(?:[A-Za-z_]\w*)?\$).*?\1|'(?:[^']|'')*'", re.DOTALL)
_NOT_VOLATILE = re.compile(r"\b(?:IMMUTABLE|STABLE)\b", re.IGNORECASE)
_TRIGGER_TABLE = re.compile(rf"\bON\s+(?:{_IDENT}\s*\.\s*)?(?P<table>{_IDENT})", _F)
_DROP = re.compile(
    r"^DROP\s+(?:(?P<mat>MATERIALIZED)\s+)?(?P<kind>TABLE|INDEX|VIEW|TRIGGER|FUNCTION|PROCEDURE|"
    r"SEQUENCE|TYPE|SCHEMA|DOMAIN|EXTENSION)\s+(?P<conc>CONCURRENTLY\s+)?(?:IF\s+EXISTS\s+)?(?P<names>.*)$",
    _F,
)
_DROP_BEHAVIOUR = re.compile(r"\s+(?:CASCADE|RESTRICT)\s*$", re.IGNORECASE)
_DROP_NAME = re.compile(rf"\s*{_QNAME}", _F)
_ALTER_TABLE = re.compile(
    rf"^ALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?{_QNAME}\s+(?P<rest>.*)$", _F
)
# A sequence owned by a column (pg_dump's and Rails' structure.sql for every serial): dropped
# with its table.
_OWNED_BY = re.compile(
    rf"\bOWNED\s+BY\s+(?:{_IDENT}\s*\.\s*)?(?P<table>{_IDENT})\s*\.\s*{_IDENT}\s*$", _F
)
_ALTER_SEQUENCE = re.compile(rf"^ALTER\s+SEQUENCE\s+(?:IF\s+EXISTS\s+)?{_QNAME}\s", _F)
# ALTER FUNCTION f(args) IMMUTABLE | STABLE | VOLATILE: the function's volatility re-declared.
_ALTER_ROUTINE = re.compile(
    rf"^ALTER\s+(?:FUNCTION|ROUTINE)\s+{_QNAME}\s*(?:\((?:[^()]|\([^()]*\))*\))?(?P<rest>.*)$", _F
)
# Its actions' tokens: a quoted name or string is one token, never a keyword.
_ROUTINE_TOKEN = re.compile(r"\$(?:[A-Za-z_]\w*)?\$|'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|[\w.]+|\S")
_VOLATILITIES = frozenset({"IMMUTABLE", "STABLE", "VOLATILE"})


def _volatility(rest: str) -> str | None:
    """The volatility an ALTER FUNCTION's actions (``rest``, after the signature) declare:
    read as an action only, never in RENAME TO / OWNER TO / SET SCHEMA, a SET parameter's
    value, RESET's, COST's, ROWS', SUPPORT's or PARALLEL's operand."""
    toks = [t.upper() for t in _ROUTINE_TOKEN.findall(rest)]
    if not toks or toks[0] in ("RENAME", "OWNER", "DEPENDS", "NO") or toks[:2] == ["SET", "SCHEMA"]:
        return None
    found, i = None, 0
    while i < len(toks):
        t = toks[i]
        if t in _VOLATILITIES:
            found = t.lower()
        elif t == "SET" and i + 2 < len(toks) and toks[i + 2] == "FROM":
            i += 3  # SET param FROM CURRENT
        elif t == "SET":
            i += 2  # SET param TO|= value [, value …]
            while i + 1 < len(toks):
                i += 1 + (toks[i + 1] in ("-", "+"))  # the value (a sign is its own token)
                if i + 1 < len(toks) and toks[i + 1] == ",":
                    i += 1
                    continue
                break
        elif t in ("RESET", "COST", "ROWS", "SUPPORT", "PARALLEL"):
            i += 1
        i += 1
    return found


_RENAME_TYPE = re.compile(rf"^ALTER\s+TYPE\s+{_QNAME}\s+RENAME\s+TO\s+(?P<new>{_IDENT})\s*$", _F)
_INSERT_SELECT = re.compile(
    rf"^INSERT\s+(?:OR\s+\w+\s+)?INTO\s+{_QNAME}\s*(?:\((?P<cols>[^()]*)\))?.*?\bSELECT\b.*?\bFROM\s+"
    rf"(?:{_IDENT}\s*\.\s*)?(?P<source>{_IDENT})",
    _F,
)
_AS_SELECT = re.compile(rf"^AS\s+SELECT\b.*?\bFROM\s+(?:{_IDENT}\s*\.\s*)?(?P<source>{_IDENT})", _F)
_STRINGS = re.compile(r"'(?:[^']|'')*'")
_TRUNCATE = re.compile(r"^TRUNCATE\s+(?:TABLE\s+)?(?:ONLY\s+)?(?P<names>.*)$", _F)
_TRUNCATE_TAIL = re.compile(
    r"\s+(?:(?:RESTART|CONTINUE)\s+IDENTITY|CASCADE|RESTRICT)\b.*$", re.IGNORECASE | re.DOTALL
)
_DELETE = re.compile(rf"^DELETE\s+FROM\s+(?:ONLY\s+)?{_QNAME}(?P<rest>.*)$", _F)
_UPDATE = re.compile(
    rf"^UPDATE\s+(?:OR\s+\w+\s+)?(?:ONLY\s+)?{_QNAME}\s*\*?\s*(?:(?:AS\s+)?(?!SET\b)\w+\s+)?"
    rf"SET\b(?P<rest>.*)$",
    _F,
)
_LOCK = re.compile(
    r"^LOCK\s+(?:TABLE\s+)?(?:ONLY\s+)?(?P<names>.*?)(?:\s+IN\s+(?P<mode>[A-Z ]+?)\s+MODE)?"
    r"(?:\s+NOWAIT)?$",
    _F,
)
_VACUUM = re.compile(r"^VACUUM\b(?:\s*\((?P<options>[^)]*)\))?(?P<rest>.*)$", _F)
_REFRESH = re.compile(rf"^REFRESH\s+MATERIALIZED\s+VIEW\s+(?P<conc>CONCURRENTLY\s+)?{_QNAME}", _F)
_REINDEX = re.compile(
    r"^REINDEX\b(?:\s*\([^)]*\))?\s+(?P<kind>INDEX|TABLE|SCHEMA|DATABASE|SYSTEM)\b\s*"
    rf"(?P<conc>CONCURRENTLY\b\s*)?(?:{_QNAME})?",
    _F,
)
_CLUSTER = re.compile(rf"^CLUSTER\b(?:\s*\([^)]*\))?(?:\s+VERBOSE\b)?(?:\s+{_QNAME})?", _F)
_SET_LOCK_TIMEOUT = re.compile(
    r"^SET\s+(?:LOCAL\s+|SESSION\s+)?lock_timeout\b(?:\s*(?:=|\bTO\b)\s*(?P<v>.*))?$", _F
)
_SET_CONFIG_LOCK = re.compile(r"set_config\s*\(\s*'lock_timeout'\s*(?:,\s*(?P<v>'[^']*'))?", _F)
# lock_timeout = 0 (pg_dump's preamble writes it): no timeout, whatever the session had.
_ZERO = re.compile(r"^'?\s*0+(?:\.0*)?\s*(?:us|ms|s|min|h|d)?\s*'?$", re.IGNORECASE)
# RESET lock_timeout (or ALL, or SET … TO DEFAULT): the server's default again, which is not
# the tool's (it sets its own per session, so a RESET takes it away: 0 unless configured).
_RESET_LOCK = re.compile(r"^RESET\s+(?:lock_timeout|ALL)\s*$", _F)
_DEFAULT_VALUE = re.compile(r"^DEFAULT\s*$", re.IGNORECASE)


def _lock_value(v: str | None) -> str:
    if _DEFAULT_VALUE.match(v or ""):
        return "default"
    return "off" if _ZERO.match(v or "") else ""


_PRAGMA = re.compile(r"^PRAGMA\s+(?:\w+\.)?(?P<name>\w+)\s*(?:=\s*|\(\s*)?(?P<value>[\w'\"-]*)", _F)

# ALTER TABLE actions
_A_ADD_CONSTRAINT = re.compile(
    rf"^ADD\s+(?:CONSTRAINT\s+(?P<name>{_IDENT})\s+)?(?P<kind>UNIQUE|CHECK|PRIMARY\s+KEY|"
    rf"FOREIGN\s+KEY|EXCLUDE)\b(?P<rest>.*)$",
    _F,
)
# CHECK (col IS NOT NULL): once validated, PostgreSQL's SET NOT NULL skips its table scan.
_IS_NOT_NULL_CHECK = re.compile(
    rf"^\s*\(\s*\(?\s*(?P<col>{_IDENT})\s+IS\s+NOT\s+NULL\s*\)?\s*\)", _F
)
_A_ADD_COLUMN = re.compile(
    rf"^ADD\s+(?:COLUMN\s+)?(?:IF\s+NOT\s+EXISTS\s+)?(?P<col>{_IDENT})\s*(?P<def>.*)$", _F
)
_A_DROP_COLUMN = re.compile(
    rf"^DROP\s+(?:COLUMN\s+)?(?:IF\s+EXISTS\s+)?(?P<col>{_IDENT})(?:\s+(?:CASCADE|RESTRICT))?$", _F
)
_A_DROP_CONSTRAINT = re.compile(rf"^DROP\s+CONSTRAINT\s+(?:IF\s+EXISTS\s+)?(?P<name>{_IDENT})", _F)
_A_RENAME_TABLE = re.compile(rf"^RENAME\s+TO\s+(?:{_IDENT}\s*\.\s*)?(?P<new>{_IDENT})$", _F)
_A_SET_SCHEMA = re.compile(rf"^SET\s+SCHEMA\s+(?P<new>{_IDENT})$", _F)
_A_RENAME_COLUMN = re.compile(
    rf"^RENAME\s+(?:COLUMN\s+)?(?P<old>{_IDENT})\s+TO\s+(?P<new>{_IDENT})$", _F
)
_A_TYPE = re.compile(rf"^ALTER\s+(?:COLUMN\s+)?(?P<col>{_IDENT})\s+(?:SET\s+DATA\s+)?TYPE\b", _F)
_A_SET_NOT_NULL = re.compile(rf"^ALTER\s+(?:COLUMN\s+)?(?P<col>{_IDENT})\s+SET\s+NOT\s+NULL\b", _F)
_A_VALIDATE = re.compile(rf"^VALIDATE\s+CONSTRAINT\s+(?P<name>{_IDENT})", _F)
_NOT_NULL = re.compile(r"\bNOT\s+NULL\b", _F)
_DEFAULT = re.compile(r"\b(?:DEFAULT|GENERATED|AS\s*\()", _F)
_CONSTRAINT_KINDS = {"UNIQUE": "add_unique", "CHECK": "add_check", "PRIMARY KEY": "add_pk",
                     "FOREIGN KEY": "add_fk", "EXCLUDE": "add_exclude"}  # fmt: skip
_KEYWORDS_NOT_COLUMNS = {"constraint", "unique", "check", "primary", "foreign", "exclude"}


@dataclass(frozen=True)
class Action:
    """One action of an ALTER TABLE."""

    kind: str  # add_column, drop_column, rename_table, rename_column, alter_type,
    #            set_not_null, add_unique, add_check, add_pk, add_fk, validate,
    #            add_exclude, attach_index (ADD … UNIQUE/PRIMARY KEY USING INDEX),
    #            drop_constraint,
    #            set_schema (new: the schema), other
    column: str = ""  # add_check: the column of a CHECK (col IS NOT NULL)
    new: str = ""  # add_…/validate: the constraint's name
    definition: str = ""
    not_valid: bool = False
    pg_column: str = ""  # column and new as PostgreSQL folds them
    pg_new: str = ""


@dataclass(frozen=True)
class Op:
    """What one statement does: its kind, the object's name and details."""

    kind: str  # create_table, create_index, create_view, create_trigger, create_function…,
    #            drop_table, drop_index, drop_view, drop_trigger…, alter_table,
    #            insert_select, set_lock_timeout (value: "off" for 0, "default" for a
    #            RESET), pragma, delete_all (TRUNCATE, or DELETE without WHERE),
    #            update_all (UPDATE without WHERE),
    #            lock_table (value: the mode), vacuum (value: "full" or ""), do (a
    #            PostgreSQL DO block), with (its statements: lint/cte.py), refresh_view
    #            (a materialized view; concurrently), cluster (name: the table, "" for a
    #            bare CLUSTER), rename_type (value: the new name), reindex (value: index,
    #            table, schema…; concurrently), sequence_owned (ALTER SEQUENCE … OWNED BY
    #            table.column), alter_function (value: the volatility an ALTER
    #            FUNCTION re-declares: immutable, stable or volatile), other
    name: str = ""  # display form (unquoted)
    table: str = ""  # the table of an index/trigger, the source of an INSERT … SELECT
    unique: bool = False
    concurrently: bool = False
    names: tuple[str, ...] = ()  # DROP TABLE a, b; the columns of INSERT INTO t (a, b) SELECT
    actions: tuple[Action, ...] = ()
    value: str = ""  # PRAGMA value, LOCK mode, the always-true WHERE of a DELETE/UPDATE,
    #                  "cascade" for a DROP or TRUNCATE … CASCADE; a CREATE FUNCTION's
    #                  "trigger" (RETURNS trigger) or "volatile" (not IMMUTABLE nor STABLE)
    source: str = ""  # CREATE TABLE … AS SELECT … FROM source
    body: str = ""  # CREATE TABLE's column list text
    schema: str = ""  # CREATE …: the schema named (an index's: its table's), folded
    # name, table, names and schema as PostgreSQL folds them (set where read_ops reads them
    # for a PostgreSQL rule: CREATE, DROP, ALTER TABLE, INSERT … SELECT, TRUNCATE, DELETE,
    # UPDATE, LOCK, CLUSTER, REINDEX)
    pg_name: str = ""
    pg_table: str = ""
    pg_names: tuple[str, ...] = ()
    pg_schema: str = ""

    @property
    def key(self) -> str:
        return key(self.name)

    def pg_of(self, i: int) -> str:
        """``names[i]`` as PostgreSQL folds it ("" when not read)."""
        return self.pg_names[i] if i < len(self.pg_names) else ""


def _action(text: str) -> Action:
    m = _A_ADD_CONSTRAINT.match(text)
    if m:
        kind = " ".join(m["kind"].upper().split())
        not_valid = bool(re.search(r"\bNOT\s+VALID\b", m["rest"], _F))
        nn = _IS_NOT_NULL_CHECK.match(m["rest"]) if kind == "CHECK" else None
        if kind in ("UNIQUE", "PRIMARY KEY") and re.match(r"\s*USING\s+INDEX\b", m["rest"], _F):
            # an index built (CONCURRENTLY) and checked already, attached without a scan
            new, pg_new = (_unq(m["name"]), pg_key(m["name"])) if m["name"] else ("", "")
            return Action("attach_index", new=new, definition=text, pg_new=pg_new)
        return Action(
            _CONSTRAINT_KINDS[kind],
            column=_unq(nn["col"]) if nn else "",
            new=_unq(m["name"]) if m["name"] else "",
            definition=text,
            not_valid=not_valid,
            pg_column=pg_key(nn["col"]) if nn else "",
            pg_new=pg_key(m["name"]) if m["name"] else "",
        )
    m = _A_VALIDATE.match(text)
    if m:
        return Action("validate", new=_unq(m["name"]), pg_new=pg_key(m["name"]), definition=text)
    m = _A_DROP_CONSTRAINT.match(text)
    if m:  # a UNIQUE or PRIMARY KEY constraint's index has its name and goes with it
        return Action(
            "drop_constraint", new=_unq(m["name"]), pg_new=pg_key(m["name"]), definition=text
        )
    m = _A_ADD_COLUMN.match(text)
    if m and key(m["col"]) not in _KEYWORDS_NOT_COLUMNS:
        return Action(
            "add_column", column=_unq(m["col"]), pg_column=pg_key(m["col"]), definition=m["def"]
        )
    m = _A_DROP_COLUMN.match(text)
    if m and key(m["col"]) != "constraint":
        return Action("drop_column", column=_unq(m["col"]), pg_column=pg_key(m["col"]))
    m = _A_RENAME_TABLE.match(text)
    if m:
        return Action("rename_table", new=_unq(m["new"]), pg_new=pg_key(m["new"]))
    m = _A_RENAME_COLUMN.match(text)
    if m and key(m["old"]) != "constraint":
        return Action(
            "rename_column",
            column=_unq(m["old"]),
            pg_column=pg_key(m["old"]),
            new=_unq(m["new"]),
            pg_new=pg_key(m["new"]),
        )
    m = _A_TYPE.match(text)
    if m:
        return Action(
            "alter_type", column=_unq(m["col"]), pg_column=pg_key(m["col"]), definition=text
        )
    m = _A_SET_NOT_NULL.match(text)
    if m:
        return Action("set_not_null", column=_unq(m["col"]), pg_column=pg_key(m["col"]))
    m = _A_SET_SCHEMA.match(text)
    if m:
        return Action("set_schema", new=_unq(m["new"]), pg_new=pg_key(m["new"]))
    return Action("other", definition=text)


def _written(raw: str) -> list[str]:
    """The names of a list (``a, "B", c *``) as written."""
    parts = (_DROP_NAME.match(p.rstrip(" *")) for p in split_top_level(raw))
    return [p["name"] for p in parts if p is not None]


def adds_unique(definition: str) -> bool:
    """A column definition declaring UNIQUE or PRIMARY KEY."""
    return (
        re.search(r"\b(?:UNIQUE|PRIMARY\s+KEY)\b", _STRINGS.sub("''", definition), _F) is not None
    )


_SERIAL = re.compile(r"^\s*(?:small|big)?serial[248]?\b", re.IGNORECASE)


def adds_not_null_without_default(definition: str, dialect: str = "sqlite") -> bool:
    """A column definition with NOT NULL and no DEFAULT (nor a generated value; on
    PostgreSQL a serial type is one: ``DEFAULT nextval(…)``, as Prisma writes an
    ``@default(autoincrement())`` field, ``"seq" SERIAL NOT NULL``)."""
    if dialect == "postgresql" and _SERIAL.match(definition):
        return False
    return bool(_NOT_NULL.search(definition)) and not _DEFAULT.search(definition)


def read_ops(st: Statement) -> Op:
    """What ``st`` does (``Op("other")`` for anything the rules do not look at)."""
    text = strip_comments(st.text)
    head = text[:12].upper()
    if head.startswith("CREATE"):
        m = _CREATE_TABLE.match(text)
        if m and m["name"].startswith("'"):
            name = m["name"][1:-1].replace("''", "'")
            made = Op("create_table", name, body=m["rest"], pg_name=name)
            return Op("other") if _SHADOW.search(name) else made
        if m:
            rest = m["rest"]
            a = _AS_SELECT.match(rest)
            return Op(
                "create_table",
                _unq(m["name"]),
                source=_unq(a["source"]) if a else "",
                body=rest,
                schema=key(m["schema"]) if m["schema"] else "",
                pg_name=pg_key(m["name"]),
                pg_table=pg_key(a["source"]) if a else "",
                pg_schema=pg_key(m["schema"]) if m["schema"] else "",
            )
        m = _CREATE_INDEX.match(text)
        if m:
            return Op(
                "create_index",
                _unq(m["name"] or ""),
                table=_unq(m["table"]),
                unique=bool(m["unique"]),
                concurrently=bool(m["conc"]),
                schema=key(m["schema"]) if m["schema"] else "",
                pg_name=pg_key(m["name"] or ""),
                pg_table=pg_key(m["table"]),
                pg_schema=pg_key(m["schema"]) if m["schema"] else "",
            )
        m = _CREATE_OTHER.match(text)
        if m:
            kind = m["kind"].lower()
            if m["mat"]:
                kind = "view"
            table = pg_table = ""
            if kind == "trigger" and (t := _TRIGGER_TABLE.search(text, m.end())):
                table, pg_table = _unq(t["table"]), pg_key(t["table"])
            elif kind == "sequence" and (owned := _OWNED_BY.search(text, m.end())):
                table, pg_table = _unq(owned["table"]), pg_key(owned["table"])
            schema = key(m["schema"]) if m["schema"] else ""
            returns = ""
            if kind == "function" and _RETURNS_TRIGGER.match(text, m.end()):
                returns = "trigger"
            elif kind == "function" and not _NOT_VOLATILE.search(_BODIES.sub("''", text)):
                returns = "volatile"  # PostgreSQL's default: a DEFAULT calling it rewrites
            pg_schema = pg_key(m["schema"]) if m["schema"] else ""
            return Op(
                f"create_{kind}",
                _unq(m["name"]),
                table=table,
                schema=schema,
                value=returns,
                pg_name=pg_key(m["name"]),
                pg_table=pg_table,
                pg_schema=pg_schema,
            )
        return Op("other")
    if head.startswith("DROP"):
        m = _DROP.match(text)
        if m:
            kind = "view" if m["mat"] else m["kind"].lower()
            raw = _DROP_BEHAVIOUR.sub("", m["names"])
            cascade = raw != m["names"] and m["names"].rstrip().upper().endswith("CASCADE")
            # Each name as one identifier, quotes respected ("a b; c" is one name).
            written = [n["name"] for n in map(_DROP_NAME.match, split_top_level(raw)) if n]
            names, pg_names = tuple(map(_unq, written)), tuple(map(pg_key, written))
            return Op(
                f"drop_{kind}",
                names[0] if names else "",
                names=names,
                concurrently=bool(m["conc"]),
                value="cascade" if cascade else "",
                pg_name=pg_names[0] if pg_names else "",
                pg_names=pg_names,
            )
        return Op("other")
    if head.startswith("ALTER"):
        m = _ALTER_TABLE.match(text)
        if m:
            actions = tuple(_action(a) for a in split_top_level(m["rest"]))
            return Op("alter_table", _unq(m["name"]), actions=actions, pg_name=pg_key(m["name"]))
        m = _RENAME_TYPE.match(text)
        if m:
            return Op("rename_type", _unq(m["name"]), value=_unq(m["new"]))
        m = _ALTER_ROUTINE.match(text) if head[6:].startswith(("FUNCTI", "ROUTIN")) else None
        if m and (v := _volatility(m["rest"])):
            return Op("alter_function", _unq(m["name"]), value=v)
        m = _ALTER_SEQUENCE.match(text)
        if m and (owned := _OWNED_BY.search(text, m.end())):
            return Op("sequence_owned", _unq(m["name"]), table=_unq(owned["table"]))
        return Op("other")
    if head.startswith("INSERT"):
        # (the regex's lazy scan for SELECT cost 1 ms per 8 KB of VALUES: 8 s of a 50 MB seed)
        m = _INSERT_SELECT.match(text) if "SELECT" in text.upper() else None
        if m:
            cols = tuple(_unq(c) for c in split_top_level(m["cols"])) if m["cols"] else ()
            return Op("insert_select", _unq(m["name"]), table=_unq(m["source"]), names=cols,
                      pg_name=pg_key(m["name"]), pg_table=pg_key(m["source"]))  # fmt: skip
        return Op("other")
    if head.startswith("TRUNCATE"):
        m = _TRUNCATE.match(text)
        if m:
            raw = _TRUNCATE_TAIL.sub("", m["names"])
            parts = [p["name"] for p in map(_DROP_NAME.match, split_top_level(raw)) if p]
            emptied, pg_names = tuple(map(_unq, parts)), tuple(map(pg_key, parts))
            cascade = re.search(r"\bCASCADE\b", m["names"][len(raw) :], re.IGNORECASE)
            return Op(
                "delete_all",
                emptied[0] if emptied else "",
                names=emptied,
                value="cascade" if cascade else "",
                pg_name=pg_names[0] if pg_names else "",
                pg_names=pg_names,
            )
        return Op("other")
    if head.startswith("DELETE"):
        m = _DELETE.match(text)
        if m and (always := unbounded_where(m["rest"])) is not None:
            name, pg = _unq(m["name"]), pg_key(m["name"])
            return Op("delete_all", name, names=(name,), value=always, pg_name=pg, pg_names=(pg,))
        return Op("other")
    if head.startswith("UPDATE"):
        m = _UPDATE.match(text)
        if m and (always := unbounded_where(m["rest"])) is not None:
            name, pg = _unq(m["name"]), pg_key(m["name"])
            return Op("update_all", name, names=(name,), value=always, pg_name=pg, pg_names=(pg,))
        return Op("other")
    if head.startswith("LOCK"):
        m = _LOCK.match(text)
        if m:
            parts = _written(m["names"])
            locked, pg_names = tuple(map(_unq, parts)), tuple(map(pg_key, parts))
            mode = " ".join((m["mode"] or "ACCESS EXCLUSIVE").upper().split())
            return Op("lock_table", locked[0] if locked else "", names=locked, value=mode,
                      pg_name=pg_names[0] if pg_names else "", pg_names=pg_names)  # fmt: skip
        return Op("other")
    if head.startswith("VACUUM"):
        m = _VACUUM.match(text)
        if m:
            full = re.search(r"\bFULL\b(?!\s+(?:FALSE|OFF|0)\b)", m["options"] or "", _F)
            full = full or re.match(r"\s*FULL\b", m["rest"], _F)
            return Op("vacuum", value="full" if full else "")
        return Op("other")
    if head.startswith("REFRESH"):
        m = _REFRESH.match(text)
        if m:
            return Op("refresh_view", _unq(m["name"]), concurrently=bool(m["conc"]))
        return Op("other")
    if head.startswith("REINDEX"):
        m = _REINDEX.match(text)
        if m:
            name = _unq(m["name"]) if m["name"] else ""
            return Op("reindex", name, value=m["kind"].lower(), concurrently=bool(m["conc"]),
                      pg_name=pg_key(m["name"]) if m["name"] else "")  # fmt: skip
        return Op("other")
    if head.startswith("CLUSTER"):
        m = _CLUSTER.match(text)
        if m and m["name"]:
            return Op("cluster", _unq(m["name"]), pg_name=pg_key(m["name"]))
        return Op("cluster")
    if head.startswith("SET"):
        if m := _SET_LOCK_TIMEOUT.match(text):
            return Op("set_lock_timeout", value=_lock_value(m["v"]))
        return Op("other")
    if head.startswith("RESET") and _RESET_LOCK.match(text):
        return Op("set_lock_timeout", value="default")
    if head.startswith("SELECT") and (m := _SET_CONFIG_LOCK.search(text)):
        return Op("set_lock_timeout", value="off" if _ZERO.match(m["v"] or "") else "")
    if re.match(r"DO\b", head, re.IGNORECASE):
        return Op("do")
    if re.match(r"WITH\b", head, re.IGNORECASE):
        return Op("with")
    if head.startswith("PRAGMA"):
        m = _PRAGMA.match(text)
        if m:
            return Op("pragma", m["name"].lower(), value=m["value"].strip("'\"").lower())
    return Op("other")
