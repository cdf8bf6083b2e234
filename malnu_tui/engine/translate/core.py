"""Translate SQLite-dialect migrations into PostgreSQL, statement by statement.

Each statement is split by the engine's splitter, parsed by sqlglot (``read="sqlite"``), rewritten
where sqlglot passes SQLite-only syntax through or means something else, and generated with
``write="postgres"``. What cannot be carried over faithfully becomes an error :class:`Finding`
and is withheld: the output never contains SQL known to fail or to mean something else.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import sqlglot
from sqlglot import exp

from malnu_tui.engine.sqlsplit import SplitError, Statement, split_statements, strip_template
from malnu_tui.engine.translate.functions import (
    Untranslatable,
    date_function_sql,
    strftime_sql,
    timestamp_sql,
)
from malnu_tui.engine.translate.model import FileTranslation, Finding, TranslatedStatement
from malnu_tui.engine.translate.schema import SchemaState
from malnu_tui.engine.translate.triggers import (
    parse_trigger,
    pg_ident,
    trigger_function_name,
    trigger_sql,
    unquote,
)
from malnu_tui.engine.translate.types import map_type

if TYPE_CHECKING:
    from malnu_tui.engine.files import Migration

__all__ = [
    "PG_RESERVED",
    "translate_expression",
    "translate_migrations",
    "translate_script",
    "translate_statement",
]

# sqlglot logs a warning when it falls back to an opaque Command; we report those as findings.
logging.getLogger("sqlglot").setLevel(logging.ERROR)

# Words PostgreSQL reserves (as identifiers) that SQLite accepts unquoted.
PG_RESERVED = frozenset(
    [
        "all",
        "analyse",
        "analyze",
        "and",
        "any",
        "array",
        "as",
        "asc",
        "asymmetric",
        "authorization",
        "binary",
        "both",
        "case",
        "cast",
        "check",
        "collate",
        "collation",
        "column",
        "concurrently",
        "constraint",
        "create",
        "cross",
        "current_catalog",
        "current_date",
        "current_role",
        "current_schema",
        "current_time",
        "current_timestamp",
        "current_user",
        "default",
        "deferrable",
        "desc",
        "distinct",
        "do",
        "else",
        "end",
        "except",
        "false",
        "fetch",
        "for",
        "foreign",
        "freeze",
        "from",
        "full",
        "grant",
        "group",
        "having",
        "ilike",
        "in",
        "initially",
        "inner",
        "intersect",
        "into",
        "is",
        "isnull",
        "join",
        "lateral",
        "leading",
        "left",
        "like",
        "limit",
        "localtime",
        "localtimestamp",
        "natural",
        "not",
        "notnull",
        "null",
        "offset",
        "on",
        "only",
        "or",
        "order",
        "outer",
        "overlaps",
        "placing",
        "primary",
        "references",
        "returning",
        "right",
        "select",
        "session_user",
        "similar",
        "some",
        "symmetric",
        "system_user",
        "table",
        "tablesample",
        "then",
        "to",
        "trailing",
        "true",
        "union",
        "unique",
        "user",
        "using",
        "variadic",
        "verbose",
        "when",
        "where",
        "window",
        "with",
    ]
)
_SIMPLE = re.compile(r"^[a-z_][a-z0-9_$]*$")

# Functions PostgreSQL has with the same name and meaning that sqlglot leaves anonymous.
_PG_SAME = frozenset({"NOW", "GEN_RANDOM_UUID", "TO_CHAR", "DATE_TRUNC", "TO_TIMESTAMP", "CHR"})
_NO_EQUIVALENT: dict[str, tuple[str, str]] = {
    "JULIANDAY": ("a Julian day number has no PostgreSQL function", "use EXTRACT(EPOCH …)/86400"),
    "LAST_INSERT_ROWID": ("there is no session rowid in PostgreSQL", "use INSERT … RETURNING"),
    "CHANGES": ("no PostgreSQL function counts the last statement's rows", "use RETURNING"),
    "TOTAL_CHANGES": ("no PostgreSQL equivalent", ""),
    "TYPEOF": ("SQLite's storage classes do not exist in PostgreSQL", "use pg_typeof()"),
    "RANDOMBLOB": ("no PostgreSQL equivalent without pgcrypto", "use gen_random_bytes()"),
    "ZEROBLOB": ("no PostgreSQL equivalent", "use decode(repeat('00', n), 'hex')"),
    "QUOTE": ("SQLite literal quoting differs", "use quote_literal()"),
    "PRINTF": ("printf formats differ", "use format() by hand"),
    "FORMAT": ("printf formats differ", "use format() by hand"),
    "HEX": ("no hex() in PostgreSQL", "use encode(x, 'hex')"),
    "UNHEX": ("no unhex() in PostgreSQL", "use decode(x, 'hex')"),
    "LIKELY": ("planner hints do not exist in PostgreSQL", "drop the hint"),
    "UNLIKELY": ("planner hints do not exist in PostgreSQL", "drop the hint"),
    "LIKELIHOOD": ("planner hints do not exist in PostgreSQL", "drop the hint"),
    "TOTAL": ("total() returns 0.0 on no rows where sum() returns NULL", "use coalesce(sum(x), 0)"),
    "RAISE": ("RAISE() exists only inside SQLite triggers", ""),
    "JSON": ("SQLite's json() minifies text", "cast to json/jsonb"),
    "UNIXEPOCH": ("only unixepoch() of 'now' is translated", "use EXTRACT(EPOCH FROM …)"),
}
_DATE_FUNCS = {"DATETIME", "DATE", "TIME"}
_LEFTOVERS = [
    (re.compile(r"\bINSERT\s+OR\s+\w+", re.I), "INSERT OR …"),
    (re.compile(r"\bWITHOUT\s+ROWID\b", re.I), "WITHOUT ROWID"),
    (re.compile(r"\bAUTOINCREMENT\b", re.I), "AUTOINCREMENT"),
    (re.compile(r"^\s*PRAGMA\b", re.I), "PRAGMA"),
    (re.compile(r"\)\s*STRICT\s*$", re.I), "STRICT"),
    (re.compile(r"\bGLOB\b", re.I), "GLOB"),
    (re.compile(r"\bCOLLATE\s+NOCASE\b", re.I), "COLLATE NOCASE"),
]
_TABLE_OPTIONS = re.compile(
    r"\)\s*((?:WITHOUT\s+ROWID|STRICT)(?:\s*,\s*(?:WITHOUT\s+ROWID|STRICT))*)\s*$", re.I
)
_CONFLICT_CLAUSE = re.compile(
    r"\bON\s+CONFLICT\s+(ROLLBACK|ABORT|FAIL|IGNORE|REPLACE)\b", re.IGNORECASE
)
_DROP_TRIGGER = re.compile(
    r"^\s*DROP\s+TRIGGER\s+(?P<ie>IF\s+EXISTS\s+)?(?:[\w\"`\[\]]+\s*\.\s*)?"
    r"(?P<name>\"(?:[^\"]|\"\")+\"|`[^`]+`|\[[^\]]+\]|\w+)\s*$",
    re.IGNORECASE,
)


class _Context:
    """Per-statement state while rewriting: where we are and what we found."""

    def __init__(self, file: str, line: int, state: SchemaState) -> None:
        self.file = file
        self.line = line
        self.state = state
        self.findings: list[Finding] = []
        self.extra: list[str] = []  # statements to run after this one
        self.sqlite_accepted = False  # the scratch SQLite schema ran the statement
        self.tagged = False  # a date/time value was translated (may need SQLite's text form)

    def note(self, construct: str, why: str, suggestion: str = "") -> None:
        self.findings.append(Finding(self.file, self.line, construct, why, suggestion, "note"))


def _lit(node: exp.Expr | None) -> str | None:
    if isinstance(node, exp.Literal) and node.is_string:
        return str(node.this)
    return None


def _pg_expr(text: str) -> exp.Expr:
    node: exp.Expr = sqlglot.parse_one("SELECT " + text, read="postgres").expressions[0]
    return node


def _table_name(node: exp.Expr | None) -> str | None:
    if isinstance(node, exp.Schema):
        node = node.this
    if isinstance(node, exp.Table):
        return str(node.name)
    return None


# -- expression rewrites ----------------------------------------------------------------------
def _rewrite_functions(tree: exp.Expr, ctx: _Context) -> exp.Expr:
    def fix(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.LowerHex | exp.Hex):
            random_hex = _random_hex(node, ctx)
            if random_hex is not None:
                return random_hex
        if isinstance(node, exp.Anonymous):
            name = str(node.this).upper()
            args = list(node.expressions)
            if name in _DATE_FUNCS:
                first = args[0].sql(dialect="postgres") if args else "now()"
                lits = [_lit(a) for a in args]
                out = _pg_expr(date_function_sql(name, lits, first))
                return _tag(ctx, out, name, *timestamp_sql(name, lits, first))
            if name == "STRFTIME" and args:
                first = args[1].sql(dialect="postgres") if len(args) > 1 else "now()"
                return _pg_expr(strftime_sql(_lit(args[0]), [_lit(a) for a in args[1:]], first))
            if name == "UNIXEPOCH" and (not args or (len(args) == 1 and _lit(args[0]) == "now")):
                return _pg_expr("CAST(EXTRACT(EPOCH FROM now()) AS BIGINT)")
            if name in _NO_EQUIVALENT:
                why, suggestion = _NO_EQUIVALENT[name]
                raise Untranslatable(f"{name.lower()}()", why, suggestion)
            if name not in _PG_SAME:
                raise Untranslatable(
                    f"{name.lower()}()",
                    "a function the translator does not know in both dialects",
                    "write the PostgreSQL equivalent by hand",
                )
        if isinstance(node, exp.Date):
            args = [node.this, *node.expressions]
            first = args[0].sql(dialect="postgres")
            lits = [_lit(a) for a in args]
            out = _pg_expr(date_function_sql("date", lits, first))
            return _tag(ctx, out, "DATE", *timestamp_sql("date", lits, first))
        if isinstance(node, exp.CurrentTimestamp | exp.CurrentDate | exp.CurrentTime):
            kind = {exp.CurrentTimestamp: "DATETIME", exp.CurrentDate: "DATE"}.get(
                type(node), "TIME"
            )
            return _tag(ctx, node, kind, "now()", True)
        if isinstance(node, exp.Typeof):
            raise Untranslatable(
                "typeof()", "SQLite's storage classes do not exist in PostgreSQL", "pg_typeof()"
            )
        if isinstance(node, exp.TimeToStr):
            fmt = _lit(node.args.get("format"))
            value = node.this
            while isinstance(value, exp.TsOrDsToTimestamp | exp.TsOrDsToDate | exp.Cast):
                value = value.this
            args = [_lit(value)]
            return _pg_expr(strftime_sql(fmt, args, value.sql(dialect="postgres")))
        if isinstance(node, exp.Glob):
            raise Untranslatable("GLOB", "PostgreSQL has no GLOB", "use SIMILAR TO or ~ by hand")
        if isinstance(node, exp.Rand):
            raise Untranslatable(
                "random()",
                "SQLite's random() is a 64-bit integer, PostgreSQL's a float in [0, 1)",
                "write the PostgreSQL expression by hand",
            )
        if isinstance(node, exp.JSONExtract | exp.JSONExtractScalar):
            raise Untranslatable(
                "json_extract / ->",
                "SQLite keeps JSON in TEXT and returns typed values",
                "cast the column to jsonb and use ->/->> by hand",
            )
        if isinstance(node, exp.CurrentVersion):
            raise Untranslatable("sqlite_version()", "no meaning on PostgreSQL", "")
        if isinstance(node, exp.Like):
            # SQLite's LIKE ignores ASCII case; PostgreSQL's does not.
            return exp.ILike(**node.args)
        if isinstance(node, exp.Greatest | exp.Least):
            ctx.note(
                "max(a, b) / min(a, b)",
                "GREATEST/LEAST ignore NULL arguments where SQLite returns NULL",
            )
        return node

    return tree.transform(fix, copy=False)


def _random_hex(node: exp.LowerHex | exp.Hex, ctx: _Context) -> exp.Expr | None:
    """D1's random-id idiom ``lower(hex(randomblob(n)))`` (n ≤ 16) → hex digits of
    ``gen_random_uuid()`` (PostgreSQL 13+)."""
    blob = node.this
    if not (isinstance(blob, exp.Anonymous) and str(blob.this).upper() == "RANDOMBLOB"):
        return None
    args = list(blob.expressions)
    if len(args) != 1 or not isinstance(args[0], exp.Literal) or args[0].is_string:
        return None
    size = int(str(args[0].this)) if str(args[0].this).isdigit() else 0
    if not 1 <= size <= 16:
        return None
    digits = "REPLACE(CAST(gen_random_uuid() AS TEXT), '-', '')"
    if size < 16:
        digits = f"LEFT({digits}, {size * 2})"
    if not isinstance(node, exp.LowerHex):  # LowerHex is a Hex too
        digits = f"UPPER({digits})"
    ctx.note(
        "randomblob() id",
        "random hex digits now come from gen_random_uuid(): one digit is the UUID version, "
        "so 122 of the 128 bits are random",
    )
    return _pg_expr(digits)


def _bool_literal(node: exp.Expr) -> exp.Expr | None:
    if isinstance(node, exp.Literal) and not node.is_string and str(node.this) in ("0", "1"):
        return exp.Boolean(this=str(node.this) == "1")
    return None


_DT_TAG = "malnu_datetime"
_TEXT_FORMATS = {"DATETIME": "YYYY-MM-DD HH24:MI:SS", "DATE": "YYYY-MM-DD", "TIME": "HH24:MI:SS"}


def _tag(ctx: _Context, node: exp.Expr, kind: str, timestamp: str, now: bool) -> exp.Expr:
    """Mark a translated date/time value: SQLite returns it as TEXT, so where it meets a TEXT
    column it must be formatted the way SQLite writes it (from ``timestamp``, in UTC)."""
    node.meta[_DT_TAG] = (kind, timestamp, now)
    ctx.tagged = True
    return node


def _as_sqlite_text(node: exp.Expr) -> exp.Expr:
    kind, timestamp, now = node.meta[_DT_TAG]
    if now:  # SQLite's 'now' is UTC
        timestamp = f"({timestamp}) AT TIME ZONE 'UTC'"
    return _pg_expr(f"TO_CHAR({timestamp}, '{_TEXT_FORMATS[kind]}')")


def _rewrite_text_datetimes(tree: exp.Expr, text_cols: set[str]) -> None:
    if not text_cols:
        return

    def is_text(node: exp.Expr) -> bool:
        return isinstance(node, exp.Column) and node.name.lower() in text_cols

    def tagged(node: exp.Expr | None) -> bool:
        return node is not None and _DT_TAG in (node.meta or {})

    comparisons = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)
    for node in list(tree.find_all(*comparisons, exp.Between)):
        if isinstance(node, exp.Between):
            if is_text(node.this):
                for key in ("low", "high"):
                    side = node.args.get(key)
                    if side is not None and tagged(side):
                        side.replace(_as_sqlite_text(side))
            continue
        left, right = node.this, node.expression
        if is_text(left) and tagged(right):
            right.replace(_as_sqlite_text(right))
        elif is_text(right) and tagged(left):
            left.replace(_as_sqlite_text(left))


def _text_columns(tables: list[str], state: SchemaState) -> set[str]:
    """Lower-cased names of TEXT-mapped columns of ``tables`` (ambiguous names left out)."""
    text: set[str] = set()
    other: set[str] = set()
    for t in tables:
        for c in state.columns(t):
            pg = map_type(c.declared).postgres or ""
            (text if pg == "TEXT" or pg.startswith("VARCHAR") else other).add(c.name.lower())
    return text - other


def _double_quoted_strings(tree: exp.Expr, ctx: _Context) -> None:
    """SQLite reads ``"word"`` as a string when no column has that name (a legacy quirk D1
    inherits); PostgreSQL would look for a column. Only applied when SQLite accepted the
    statement, so the quoted word cannot have been a missing column."""
    tables = _referenced_tables(tree)
    if not tables or not all(ctx.state.has_table(t) for t in tables):
        return
    known = {c.name.lower() for t in tables for c in ctx.state.columns(t)}
    known |= {str(a.alias).lower() for a in tree.find_all(exp.Alias)}
    for col in list(tree.find_all(exp.Column)):
        ident = col.this
        if (
            isinstance(ident, exp.Identifier)
            and ident.quoted
            and not col.table
            and str(ident.this).lower() not in known
        ):
            col.replace(exp.Literal.string(str(ident.this)))
            ctx.note(
                f'"{ident.this}"',
                "a double-quoted word SQLite reads as a string (no such column) became a "
                "single-quoted string",
                "use single quotes for strings",
            )


def _listed_columns(tree: exp.Insert) -> list[str]:
    """The column list an INSERT names (``INSERT INTO t (a, b)``), or [] when it names none."""
    target = tree.this
    if not isinstance(target, exp.Schema):
        return []
    return [str(i.name) for i in target.expressions if isinstance(i, exp.Identifier | exp.Column)]


def _insert_text_datetimes(tree: exp.Insert, state: SchemaState) -> None:
    table = _table_name(tree.this)
    values = tree.expression
    if table is None or not isinstance(values, exp.Values):
        return
    listed = _listed_columns(tree)
    cols = listed or [c.name for c in state.columns(table) if c.hidden == 0]
    text = _text_columns([table], state)
    for row in values.expressions:
        if not isinstance(row, exp.Tuple):
            continue
        for i, item in enumerate(list(row.expressions)):
            if i < len(cols) and cols[i].lower() in text and _DT_TAG in (item.meta or {}):
                item.replace(_as_sqlite_text(item))


def _rewrite_booleans(tree: exp.Expr, bool_cols: set[str]) -> None:
    if not bool_cols:
        return

    def is_bool(node: exp.Expr) -> bool:
        return isinstance(node, exp.Column) and node.name.lower() in bool_cols

    for node in list(tree.find_all(exp.EQ, exp.NEQ, exp.In)):
        if isinstance(node, exp.In):
            if is_bool(node.this):
                for i, item in enumerate(list(node.expressions)):
                    b = _bool_literal(item)
                    if b is not None:
                        node.expressions[i].replace(b)
            continue
        left, right = node.this, node.expression
        if is_bool(left) and (b := _bool_literal(right)) is not None:
            right.replace(b)
        elif is_bool(right) and (b := _bool_literal(left)) is not None:
            left.replace(b)


def _normalise_identifiers(tree: exp.Expr) -> None:
    # SQLite names are case-insensitive whether quoted or not: lower-case them all, quote only
    # where PostgreSQL needs it.
    for ident in tree.find_all(exp.Identifier):
        name = str(ident.this).lower()
        ident.set("this", name)
        ident.set("quoted", not _SIMPLE.match(name) or name in PG_RESERVED)


def _plain_index_order(tree: exp.Expr) -> None:
    # sqlglot adds NULLS FIRST to keep SQLite's sort order; in index definitions and conflict
    # targets that is meaningless (and invalid in ON CONFLICT), so restore the plain form.
    holders: list[exp.Expr] = [*tree.find_all(exp.IndexParameters, exp.OnConflict)]
    for holder in holders:
        for ordered in holder.find_all(exp.Ordered):
            ordered.set("nulls_first", bool(ordered.args.get("desc")))


_LIST = re.compile(r"\(\n((?:[ \t]*[\w\"]+,?\n)+)[ \t]*\)")


def _compact_lists(sql: str) -> str:
    # sqlglot's pretty mode puts each name of "(a, b)" on its own line; keep such lists inline.
    return _LIST.sub(lambda m: "(" + " ".join(m[1].split()) + ")", sql)


def _referenced_tables(tree: exp.Expr) -> list[str]:
    return [str(t.name) for t in tree.find_all(exp.Table) if t.name]


# -- statement kinds --------------------------------------------------------------------------
def _text_default(kind: str) -> exp.Expr:
    fmt = {"ts": "YYYY-MM-DD HH24:MI:SS", "date": "YYYY-MM-DD", "time": "HH24:MI:SS"}[kind]
    return _pg_expr(f"TO_CHAR(now() AT TIME ZONE 'UTC', '{fmt}')")


def _rewrite_column(
    col: exp.ColumnDef, table: str, ctx: _Context, table_pk: list[str] | None = None
) -> None:
    name = str(col.name)
    info = {c.name.lower(): c for c in ctx.state.columns(table)}.get(name.lower())
    kind = col.args.get("kind")
    declared = info.declared if info is not None else (kind.sql() if kind is not None else "")
    mapping = map_type(declared)
    if mapping.postgres is None:
        raise Untranslatable(
            f"column {name}",
            mapping.note or "no type",
            "declare a type (SQLite accepts untyped columns, PostgreSQL does not)",
        )
    if mapping.note:
        ctx.note(f"column {name} type {declared}", mapping.note)
    pg_type = mapping.postgres
    col.set("kind", exp.DataType.build(pg_type, dialect="postgres"))
    constraints: list[exp.ColumnConstraint] = []
    identity = ctx.state.is_rowid_alias(table, name)
    if identity:
        constraints.append(
            exp.ColumnConstraint(kind=exp.GeneratedAsIdentityColumnConstraint(this=False))
        )
    is_bool = pg_type == "BOOLEAN"
    is_text = pg_type == "TEXT" or pg_type.startswith("VARCHAR")
    for c in col.args.get("constraints") or []:
        k = c.args.get("kind")
        if isinstance(k, exp.AutoIncrementColumnConstraint):
            continue
        if isinstance(k, exp.CollateColumnConstraint):
            coll = k.this.name.upper() if isinstance(k.this, exp.Column) else str(k.this).upper()
            if coll == "BINARY":
                continue
            raise Untranslatable(
                f"COLLATE {coll}",
                "PostgreSQL has no such collation: comparisons and UNIQUE would differ",
                "use citext, or a unique index on lower(column)",
            )
        if isinstance(k, exp.ComputedColumnConstraint) and not k.args.get("persisted"):
            k.set("persisted", True)
            ctx.note(f"column {name}", "a VIRTUAL generated column became STORED")
        if isinstance(k, exp.DefaultColumnConstraint):
            value = k.this
            if isinstance(value, exp.Paren):
                value = value.this
            if is_bool and (b := _bool_literal(value)) is not None:
                k.set("this", b)
            elif is_text and isinstance(value, exp.CurrentTimestamp):
                k.set("this", _text_default("ts"))
            elif is_text and isinstance(value, exp.CurrentDate):
                k.set("this", _text_default("date"))
            elif is_text and isinstance(value, exp.CurrentTime):
                k.set("this", _text_default("time"))
            elif (
                is_text
                and isinstance(value, exp.Anonymous)
                and str(value.this).upper() in _DATE_FUNCS
                and [_lit(a) for a in value.expressions] in (["now"], [])
            ):
                kind_key = {"DATETIME": "ts", "DATE": "date", "TIME": "time"}
                k.set("this", _text_default(kind_key[str(value.this).upper()]))
        constraints.append(c)
    col.set("constraints", constraints)


def _rewrite_create_table(tree: exp.Create, ctx: _Context) -> None:
    schema = tree.this
    props = tree.args.get("properties")
    if props is not None:
        kept = [p for p in props.expressions if not isinstance(p, exp.StrictProperty)]
        if len(kept) != len(props.expressions):
            ctx.note("STRICT", "dropped: PostgreSQL columns are always strictly typed")
        if kept:
            props.set("expressions", kept)
        else:
            tree.set("properties", None)
    if not isinstance(schema, exp.Schema):
        return  # CREATE TABLE … AS SELECT: types follow the query
    table = _table_name(schema)
    if table is None:
        return
    _check_references(schema, table, ctx)
    for item in schema.expressions:
        if isinstance(item, exp.ColumnDef):
            _rewrite_column(item, table, ctx)
        elif isinstance(item, exp.Identifier):
            raise Untranslatable(
                f"column {item.this}",
                "the column has no declared type",
                "declare a type (SQLite accepts untyped columns, PostgreSQL does not)",
            )


def _check_references(node: exp.Expr, table: str, ctx: _Context) -> None:
    """PostgreSQL needs a foreign key's table to exist already; SQLite does not."""
    for ref in node.find_all(exp.Reference):
        target = _table_name(ref.this)
        if target and target.lower() != table.lower() and not ctx.state.has_table(target):
            raise Untranslatable(
                f"REFERENCES {target}",
                f"{target!r} does not exist yet: SQLite accepts that, PostgreSQL does not",
                f"create {target} first, or add the foreign key later "
                "(ALTER TABLE … ADD FOREIGN KEY)",
            )


def _rewrite_insert(tree: exp.Insert, ctx: _Context) -> None:
    alternative = str(tree.args.get("alternative") or "").upper()
    table = _table_name(tree.this)
    state = ctx.state
    if table is None:
        if alternative:
            raise Untranslatable(f"INSERT OR {alternative}", "cannot find the target table", "")
        return
    listed = _listed_columns(tree)
    table_cols = [c for c in state.columns(table) if c.hidden == 0]
    cols = listed or [c.name for c in table_cols]
    colset = {c.lower() for c in cols}

    native = tree.args.get("conflict")
    if native is not None and not alternative:
        # SQLite resolves a bare column in DO UPDATE to the existing row; PostgreSQL calls it
        # ambiguous (it could be EXCLUDED's), so qualify it with the table.
        for assignment in native.expressions:
            value = assignment.expression if isinstance(assignment, exp.EQ) else assignment
            for column in list(value.find_all(exp.Column)):
                if not column.table:
                    column.set("table", exp.to_identifier(table))
        where = native.args.get("where")
        if where is not None:
            for column in list(where.find_all(exp.Column)):
                if not column.table:
                    column.set("table", exp.to_identifier(table))
    if alternative:
        tree.set("alternative", None)
        if tree.args.get("conflict") is not None:
            raise Untranslatable(
                f"INSERT OR {alternative} … ON CONFLICT",
                "both a conflict resolution and an upsert clause",
                "keep only the ON CONFLICT clause",
            )
    if alternative == "IGNORE":
        tree.set("conflict", exp.OnConflict(action=exp.var("DO NOTHING")))
        ctx.note(
            "INSERT OR IGNORE",
            "became ON CONFLICT DO NOTHING, which skips duplicate keys only; SQLite also "
            "skipped rows breaking NOT NULL or CHECK, PostgreSQL raises for those",
        )
    elif alternative == "REPLACE":
        if not state.has_table(table):
            raise Untranslatable(
                "INSERT OR REPLACE",
                f"the keys of {table!r} are unknown (not created by earlier migrations)",
                "write INSERT … ON CONFLICT (key) DO UPDATE by hand",
            )
        keys = state.unique_keys(table)
        candidates = [k for k in keys if all(c.lower() in colset for c in k)]
        if not keys:
            ctx.note("INSERT OR REPLACE", f"{table!r} has no keys: a plain INSERT")
        elif len(candidates) != 1:
            why = (
                "none of its keys is given by the inserted columns"
                if not candidates
                else "more than one key is given and SQLite replaces on each of them; "
                "ON CONFLICT accepts one"
            )
            raise Untranslatable(
                "INSERT OR REPLACE", why, "write INSERT … ON CONFLICT (key) DO UPDATE by hand"
            )
        else:
            key = candidates[0]
            keyset = {k.lower() for k in key}
            sets: list[str] = []
            for c in table_cols:
                if c.name.lower() in keyset:
                    continue
                # REPLACE deletes the old row: columns not inserted go back to their defaults.
                value = f"EXCLUDED.{pg_ident(c.name)}" if c.name.lower() in colset else "DEFAULT"
                sets.append(f"{pg_ident(c.name)} = {value}")
            keys_sql = ", ".join(pg_ident(k) for k in key)
            action = "DO UPDATE SET " + ", ".join(sets) if sets else "DO NOTHING"
            template = sqlglot.parse_one(
                f"INSERT INTO x VALUES (1) ON CONFLICT ({keys_sql}) {action}", read="postgres"
            )
            conflict = template.args["conflict"]
            for column in list(conflict.find_all(exp.Column)):
                if column.name.upper() == "DEFAULT" and not column.table:
                    column.replace(exp.var("DEFAULT"))
            tree.set("conflict", conflict)
    elif alternative in ("ABORT", "FAIL", "ROLLBACK"):
        ctx.note(
            f"INSERT OR {alternative}",
            "a plain INSERT: the tool runs each migration in one transaction, so any error "
            "aborts the whole migration anyway",
        )
    elif alternative:
        raise Untranslatable(f"INSERT OR {alternative}", "unknown conflict resolution", "")

    # 0/1 into BOOLEAN columns; NULL into the rowid alias means "assign one" in SQLite.
    bools = state.boolean_columns(table)
    identity = {c.name.lower() for c in table_cols if state.is_rowid_alias(table, c.name)}
    values = tree.expression
    explicit_ids = False
    if isinstance(values, exp.Values):
        for row in values.expressions:
            if not isinstance(row, exp.Tuple):
                continue
            for i, item in enumerate(list(row.expressions)):
                if i >= len(cols):
                    break
                name = cols[i].lower()
                if name in bools and (b := _bool_literal(item)) is not None:
                    item.replace(b)
                elif name in identity:
                    if isinstance(item, exp.Null):
                        item.replace(exp.var("DEFAULT"))
                    else:
                        explicit_ids = True
    elif identity & colset:
        explicit_ids = True  # INSERT … SELECT into the identity column

    # Explicit values for an identity column do not move its sequence in PostgreSQL.
    for c in table_cols:
        if c.name.lower() in identity and c.name.lower() in colset and explicit_ids:
            t, col = pg_ident(table), pg_ident(c.name)
            ctx.extra.append(
                f"SELECT setval(pg_get_serial_sequence('{t.replace(chr(39), chr(39) * 2)}', "
                f"'{c.name.lower()}'), coalesce((SELECT max({col}) FROM {t}), 0) + 1, false)"
            )


# -- driver -----------------------------------------------------------------------------------
def _dropped(st: Statement, ctx: _Context, construct: str, why: str) -> TranslatedStatement:
    ctx.note(construct, why)
    return TranslatedStatement(st.line, st.text, (), tuple(ctx.findings))


def _withheld(
    st: Statement, ctx: _Context, construct: str, why: str, suggestion: str = ""
) -> TranslatedStatement:
    ctx.findings.append(Finding(ctx.file, st.line, construct, why, suggestion, "error"))
    return TranslatedStatement(st.line, st.text, (), tuple(ctx.findings))


def _generate(text: str, ctx: _Context, *, expression_only: bool = False) -> str:
    """Parse one SQLite statement, rewrite it and generate PostgreSQL (raises Untranslatable)."""
    try:
        trees = [t for t in sqlglot.parse(text, read="sqlite") if t is not None]
    except sqlglot.errors.SqlglotError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise Untranslatable(
            "unparsed SQL", f"sqlglot cannot parse it ({first})",
            "simplify the statement, or keep a PostgreSQL-specific migration",
        ) from None  # fmt: skip
    if len(trees) != 1:
        raise Untranslatable("statement", "sqlglot read it as several statements", "")
    tree = trees[0]
    if isinstance(tree, exp.Command):
        raise Untranslatable(
            str(tree.this).upper(),
            "sqlglot does not understand it and would pass it through unchanged",
            "write the PostgreSQL equivalent by hand",
        )
    if isinstance(tree, exp.Create):
        kind = str(tree.args.get("kind") or "").upper()
        if kind == "TABLE":
            _rewrite_create_table(tree, ctx)
        elif kind == "VIEW" and tree.args.get("exists"):
            tree.set("exists", False)
            tree.set("replace", True)
            ctx.note(
                "CREATE VIEW IF NOT EXISTS",
                "became CREATE OR REPLACE VIEW (PostgreSQL has no IF NOT EXISTS for views)",
            )
    elif isinstance(tree, exp.Alter):
        table = _table_name(tree.this) or ""
        for action in tree.args.get("actions") or []:
            if isinstance(action, exp.ColumnDef):
                _check_references(action, table, ctx)
                _rewrite_column(action, table, ctx)
    elif isinstance(tree, exp.Insert):
        _rewrite_insert(tree, ctx)
    # Each pass walks the tree: skip those that cannot apply (cheap checks first).
    if ctx.sqlite_accepted and '"' in text:
        _double_quoted_strings(tree, ctx)
    bools: set[str] = set()
    tables = _referenced_tables(tree)
    for t in tables:
        bools |= ctx.state.boolean_columns(t)
    tree = _rewrite_functions(tree, ctx)
    _rewrite_booleans(tree, bools)
    if ctx.tagged and not isinstance(tree, exp.Create | exp.Alter):
        _rewrite_text_datetimes(tree, _text_columns(tables, ctx.state))
        if isinstance(tree, exp.Insert):
            _insert_text_datetimes(tree, ctx.state)
    _normalise_identifiers(tree)
    if isinstance(tree, exp.Create | exp.Insert):
        _plain_index_order(tree)
    if expression_only and isinstance(tree, exp.Select):
        out: str = tree.expressions[0].sql(dialect="postgres", copy=False)
    else:
        # One column per line for CREATE TABLE (readable in plan/diff); the rest on one line.
        pretty = isinstance(tree, exp.Create) and isinstance(tree.this, exp.Schema)
        out = tree.sql(dialect="postgres", pretty=pretty, copy=False)
        if pretty:
            out = _compact_lists(out)
    for pattern, construct in _LEFTOVERS:
        if pattern.search(out):
            raise Untranslatable(
                construct,
                "the translation would still contain SQLite-only syntax",
                "write the PostgreSQL equivalent by hand",
            )
    return out


def translate_expression(sql: str, state: SchemaState | None = None) -> str:
    """A SQLite expression as PostgreSQL text (raises :class:`Untranslatable`)."""
    ctx = _Context("<expression>", 1, state or SchemaState())
    return _generate("SELECT " + sql, ctx, expression_only=True)


def translate_statement(
    st: Statement, file: str, state: SchemaState, *, track: bool = True
) -> TranslatedStatement:
    """Translate one SQLite statement. ``state`` follows the schema: with ``track`` the
    statement is also run in it (so later statements know this one's tables and keys)."""
    ctx = _Context(file, st.line, state)
    text = st.text
    words = st.first_words
    verb = words.split(" ", 1)[0] if words else ""

    trigger_table: str | None = None
    drop = _DROP_TRIGGER.match(text) if verb == "DROP" else None
    if drop:
        trigger_table = state.trigger_table(unquote(drop["name"]))
    # Never run statements that reach outside the scratch database (ATTACH creates files).
    if track and verb not in ("PRAGMA", "VACUUM", "ATTACH", "DETACH"):
        error = state.run(text)
        ctx.sqlite_accepted = error is None
        if error:
            ctx.note(
                "schema tracking",
                f"SQLite rejected the statement in the scratch schema "
                f"({error}); keys and types it implies are unknown to later statements",
            )

    try:
        if verb == "PRAGMA":
            return _dropped(st, ctx, "PRAGMA", "dropped: PRAGMAs configure SQLite only")
        if verb == "VACUUM":
            return _dropped(st, ctx, "VACUUM", "dropped: cannot run inside a transaction")
        if verb == "REINDEX":
            return _dropped(st, ctx, "REINDEX", "dropped: PostgreSQL keeps indexes current")
        if verb in ("ATTACH", "DETACH"):
            return _withheld(
                st,
                ctx,
                verb,
                "PostgreSQL has no attached databases",
                "use a schema or postgres_fdw",
            )
        if verb in ("SAVEPOINT", "RELEASE"):
            return _withheld(
                st, ctx, verb, "the tool owns the migration's transaction", "remove it"
            )
        if words.startswith("CREATE VIRTUAL TABLE"):
            return _withheld(
                st,
                ctx,
                "CREATE VIRTUAL TABLE",
                "SQLite virtual tables (FTS, R*Tree) do not exist in PostgreSQL",
                "use a tsvector column with a GIN index",
            )
        if verb == "CREATE" and "TRIGGER" in words.split()[1:4]:
            return _translate_trigger(st, ctx)
        if drop:
            name = unquote(drop["name"])
            if trigger_table is None:
                if drop["ie"]:
                    return _dropped(
                        st,
                        ctx,
                        "DROP TRIGGER IF EXISTS",
                        f"dropped: no trigger {name!r} exists at this point",
                    )
                return _withheld(
                    st,
                    ctx,
                    "DROP TRIGGER",
                    f"PostgreSQL needs the trigger's table; {name!r} is unknown",
                    "write DROP TRIGGER name ON table",
                )
            fn = state.trigger_functions.get(name.lower(), trigger_function_name(name))
            drops = (
                f"DROP TRIGGER IF EXISTS {pg_ident(name)} ON {pg_ident(trigger_table)}",
                f"DROP FUNCTION IF EXISTS {pg_ident(fn)}()",
            )
            return TranslatedStatement(st.line, text, drops, tuple(ctx.findings))
        if verb == "REPLACE":
            text = re.sub(r"^\s*REPLACE\b", "INSERT OR REPLACE", text, count=1, flags=re.I)
        if verb == "CREATE" and "TABLE" in words.split()[1:3]:
            if _CONFLICT_CLAUSE.search(text):
                return _withheld(
                    st,
                    ctx,
                    "constraint ON CONFLICT clause",
                    "PostgreSQL constraints have no conflict resolution",
                    "drop the clause; use INSERT … ON CONFLICT where needed",
                )
            m = _TABLE_OPTIONS.search(text)
            if m:
                text = text[: m.start()] + ")"
                ctx.note(
                    " ".join(m[1].upper().split()),
                    "dropped: PostgreSQL tables have no rowid and are strictly typed",
                )
        out = _generate(text, ctx)
    except Untranslatable as exc:
        return _withheld(st, ctx, exc.construct, exc.why, exc.suggestion)
    return TranslatedStatement(st.line, st.text, (out, *ctx.extra), tuple(ctx.findings))


def _translate_trigger(st: Statement, ctx: _Context) -> TranslatedStatement:
    parts = parse_trigger(st.text)
    if parts is None:
        return _withheld(
            st,
            ctx,
            "CREATE TRIGGER",
            "cannot read the trigger's header",
            "write the PL/pgSQL function and trigger by hand",
        )

    def one(sql: str) -> str:
        inner = _Context(ctx.file, ctx.line, ctx.state)
        out = _generate(sql, inner)
        ctx.findings.extend(inner.findings)
        if inner.extra:
            raise Untranslatable("trigger body", "needs statements a trigger cannot hold", "")
        return out

    def expr(sql: str) -> str:
        inner = _Context(ctx.file, ctx.line, ctx.state)
        out = _generate("SELECT " + sql, inner, expression_only=True)
        ctx.findings.extend(inner.findings)
        return out

    statements, notes = trigger_sql(parts, one, expr)
    for n in notes:
        ctx.note("CREATE TRIGGER", n)
    ctx.state.trigger_functions[parts.name.lower()] = trigger_function_name(parts.name)
    return TranslatedStatement(st.line, st.text, tuple(statements), tuple(ctx.findings))


def translate_script(
    sql: str, file: str = "<sql>", state: SchemaState | None = None
) -> FileTranslation:
    """Translate a whole SQLite script. Pass one ``state`` through a sequence of files so that
    later files know the tables and keys earlier ones created."""
    state = state if state is not None else SchemaState()
    try:
        statements = split_statements(sql)
    except SplitError as exc:
        return FileTranslation(
            file, (), (Finding(file, exc.line, "SQL text", str(exc), "fix the file"),)
        )
    parts = strip_template(statements)
    outside = [
        Finding(file, line, "template statement",
                "not translated: the tool owns the transaction and the tracking row", "", "note")
        for line in [*parts.transaction_lines, *parts.tracking_insert_lines]
    ]  # fmt: skip
    translated = tuple(translate_statement(st, file, state) for st in parts.statements)
    return FileTranslation(file, translated, tuple(outside), _header_comments(sql))


def _header_comments(sql: str) -> str:
    """The file's leading ``--`` comment block (Description/Author/Dependencies…)."""
    lines: list[str] = []
    for line in sql.replace("\r\n", "\n").split("\n"):
        stripped = line.strip()
        if stripped.startswith("--"):
            lines.append(stripped)
        elif stripped or lines:
            break
    return "\n".join(lines)


def translate_migrations(
    migrations: Iterable[Migration], state: SchemaState | None = None
) -> list[FileTranslation]:
    """Translate migrations in order, sharing schema knowledge between them."""
    state = state if state is not None else SchemaState()
    return [translate_script(m.read_text(), m.filename, state) for m in migrations]


def translate_statements(
    statements: Sequence[Statement], file: str, state: SchemaState
) -> FileTranslation:
    """Translate already split statements (e.g. ``Migration.statements()``)."""
    return FileTranslation(file, tuple(translate_statement(st, file, state) for st in statements))
