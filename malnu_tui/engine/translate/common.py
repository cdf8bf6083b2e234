"""Shared pieces of the rewrite passes: the per-statement context, PostgreSQL's identifier
rules and small sqlglot helpers."""

from __future__ import annotations

import functools
import re
import threading

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.generator import Generator
from sqlglot.helper import name_sequence
from sqlglot.tokenizer_core import Token

from malnu_tui.engine.translate.model import Finding
from malnu_tui.engine.translate.schema import SchemaState

__all__ = [
    "PG_RESERVED",
    "POSTGRES",
    "SQLITE",
    "Context",
    "as_template",
    "compact_lists",
    "lit",
    "normalise_identifiers",
    "parse_sqlite",
    "parse_sqlite_table_constraints",
    "pg_expr",
    "pg_name",
    "pg_sql",
    "plain_index_order",
    "referenced_tables",
    "table_name",
]

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
        # PL/pgSQL's own reserved words (pl_reserved_kwlist.h) that SQL leaves free: inside a
        # trigger's function `new.begin` is no field ("record new has no field begin"), and
        # only when the trigger fires. Quoted everywhere: one name, one spelling.
        "begin",
        "declare",
        "foreach",
        "if",
        "loop",
        "strict",
        "while",
    ]
)
# Dialect objects, looked up once (a name is looked up again on every parse and generate).
SQLITE = Dialect.get_or_raise("sqlite")
POSTGRES = Dialect.get_or_raise("postgres")

_SIMPLE = re.compile(r"^[a-z_][a-z0-9_$]*$")
_READERS = threading.local()  # this thread's SQLite tokenizer and parser
_WRITERS = threading.local()  # this thread's PostgreSQL generators (plain, pretty)


def parse_sqlite(text: str) -> list[exp.Expr | None]:
    """``sqlglot.parse(text, read="sqlite")`` with this thread's tokenizer and parser reused
    (both reset themselves on every call; building them is a good part of a short parse)."""
    readers = getattr(_READERS, "sqlite", None)
    if readers is None:
        readers = _READERS.sqlite = (SQLITE.tokenizer(), SQLITE.parser())
    tokenizer, parser = readers
    return parser.parse(tokenizer.tokenize(text), text)


_STARTS_CONSTRAINT = frozenset({"CONSTRAINT", "PRIMARY KEY", "UNIQUE", "CHECK", "FOREIGN KEY"})
_QUOTED = sqlglot.TokenType.IDENTIFIER


def parse_sqlite_table_constraints(text: str) -> list[exp.Expr | None] | None:
    """A CREATE TABLE whose table constraints SQLite's grammar lets stand with no comma
    between them (``UNIQUE(member_id, app_id)`` then ``FOREIGN KEY(…) …`` on the next
    line, as D1 schemas write them), parsed with the commas put in;
    None when ``text`` is no such statement. sqlglot refused it ("Expecting )"), and the
    table was withheld with every statement that needed it."""
    readers = getattr(_READERS, "sqlite", None)
    if readers is None:
        readers = _READERS.sqlite = (SQLITE.tokenizer(), SQLITE.parser())
    tokenizer, parser = readers
    tokens = tokenizer.tokenize(text)
    if len(tokens) < 3 or tokens[0].token_type != sqlglot.TokenType.CREATE:
        return None
    out: list[Token] = []
    depth, constraints, added = 0, False, False
    for tok in tokens:
        kind, word = tok.token_type, tok.text.upper()
        if kind == sqlglot.TokenType.L_PAREN:
            depth += 1
        elif kind == sqlglot.TokenType.R_PAREN:
            depth -= 1
        elif depth == 1 and word in _STARTS_CONSTRAINT and out and kind != _QUOTED:
            # (a column quoted "check" or "unique" is a name: taken for a keyword, a later
            # column's own UNIQUE was cut off as a bare "UNIQUE," PostgreSQL refuses)
            before = out[-1].token_type
            named = len(out) > 1 and out[-2].text.upper() == "CONSTRAINT"
            if before == sqlglot.TokenType.COMMA:
                constraints = True  # (SQLite: the first table constraint follows a comma)
            elif constraints and not named:
                out.append(
                    Token(sqlglot.TokenType.COMMA, ",", tok.line, tok.col, tok.start, tok.start)
                )
                added = True
        out.append(tok)
    return parser.parse(out, text) if added else None


def pg_sql(node: exp.Expr, *, pretty: bool = False, copy: bool = True) -> str:
    """``node.sql(dialect=POSTGRES, pretty=pretty, copy=copy)`` with this thread's generator
    reused (building one is a fair part of generating a short statement). Per call it starts
    afresh, as a new one would: its messages are reset by ``generate``, its name sequence
    here."""
    writers: tuple[Generator, Generator] | None = getattr(_WRITERS, "postgres", None)
    if writers is None:
        writers = _WRITERS.postgres = (POSTGRES.generator(), POSTGRES.generator(pretty=True))
    generator = writers[1] if pretty else writers[0]
    generator._next_name = name_sequence("_t")
    return generator.generate(node, copy=copy)


def sqlite_sql(node: exp.Expr) -> str:
    """``node.sql(dialect=SQLITE)`` with this thread's SQLite generator reused (as pg_sql)."""
    writer: Generator | None = getattr(_WRITERS, "sqlite", None)
    if writer is None:
        writer = _WRITERS.sqlite = SQLITE.generator()
    writer._next_name = name_sequence("_t")
    return writer.generate(node, copy=True)


def parse_one_sqlite(text: str) -> exp.Expr:
    """``sqlglot.parse_one(text, read="sqlite")`` with this thread's tokenizer and parser."""
    for tree in parse_sqlite(text):
        if not tree:
            break
        return tree
    raise sqlglot.errors.ParseError(f"No expression was parsed from '{text}'")


class Context:
    """Per-statement state while rewriting: where we are and what we found."""

    __slots__ = (
        "extra",
        "file",
        "findings",
        "line",
        "opaque",
        "replaced",
        "row_table",
        "sqlite_accepted",
        "state",
        "tables",
        "tagged",
    )

    def __init__(self, file: str, line: int, state: SchemaState) -> None:
        self.file = file
        self.line = line
        self.state = state
        self.findings: list[Finding] = []
        self.extra: list[str] = []  # statements to run after this one
        self.sqlite_accepted = False  # the scratch SQLite schema ran the statement
        self.tagged = False  # a date/time value was translated (may need SQLite's text form)
        self.replaced = False  # rewrite_functions replaced a node of the tree (not opaquely)
        self.opaque = False  # … by a value holding nothing a later pass looks at
        self.tables: list[str] = []  # the tables the statement names
        self.row_table: str | None = None  # in a trigger's body: the table of NEW and OLD

    def note(self, construct: str, why: str, suggestion: str = "") -> None:
        self.findings.append(Finding(self.file, self.line, construct, why, suggestion, "note"))

    def warn(self, construct: str, why: str, suggestion: str = "") -> None:
        self.findings.append(Finding(self.file, self.line, construct, why, suggestion, "warning"))


def lit(node: exp.Expr | None) -> str | None:
    if isinstance(node, exp.Literal) and node.is_string:
        return str(node.this)
    return None


def pg_expr(text: str) -> exp.Expr:
    """A PostgreSQL expression parsed (each text parsed once; a fresh copy each call)."""
    return _parsed_pg(text).copy()


@functools.lru_cache(maxsize=4096)
def _parsed_pg(text: str) -> exp.Expr:
    node: exp.Expr = sqlglot.parse_one("SELECT " + text, read=POSTGRES).expressions[0]
    return as_template(node)


_POSITIONS = frozenset({"line", "col", "start", "end"})


def as_template(tree: exp.Expr) -> exp.Expr:
    """``tree`` made cheap to copy: the parser's source positions (which only error messages
    read, and a copy deep-copies per node) and empty comment lists are dropped."""
    for node in tree.walk():
        meta = node._meta
        if meta is not None and meta.keys() <= _POSITIONS:
            node._meta = None
        if node.comments is not None and not node.comments:
            node.comments = None  # (an empty list, which a copy deep-copies too)
    return tree


def table_name(node: exp.Expr | None) -> str | None:
    if isinstance(node, exp.Schema):
        node = node.this
    if isinstance(node, exp.Table):
        return str(node.name)
    return None


def pg_name(name: str) -> str:
    """A SQLite name as PostgreSQL spells it: lower-cased, quoted only where needed."""
    low = name.lower()
    if _SIMPLE.match(low) and low not in PG_RESERVED:
        return low
    return '"' + low.replace('"', '""') + '"'


def normalise_identifiers(tree: exp.Expr, idents: list[exp.Expr] | None = None) -> None:
    # SQLite names are case-insensitive whether quoted or not: lower-case them all, quote only
    # where PostgreSQL needs it. (``idents``: the tree's identifiers, when the caller has them.)
    for ident in tree.find_all(exp.Identifier) if idents is None else idents:
        this = str(ident.this)
        name, quoted = _pg_form(this)
        if name != this:
            ident.set("this", name)
        if bool(ident.args.get("quoted")) != quoted:
            ident.set("quoted", quoted)


@functools.lru_cache(maxsize=4096)
def _pg_form(this: str) -> tuple[str, bool]:
    """A name lower-cased, and whether PostgreSQL needs it quoted."""
    name = this.lower()
    return name, not _SIMPLE.match(name) or name in PG_RESERVED


def plain_index_order(tree: exp.Expr, holders: list[exp.Expr] | None = None) -> None:
    # sqlglot adds NULLS FIRST to keep SQLite's sort order; in index definitions and conflict
    # targets that is meaningless (and invalid in ON CONFLICT), so restore the plain form.
    if holders is None:
        holders = [*tree.find_all(exp.IndexParameters, exp.OnConflict)]
    for holder in holders:
        for ordered in holder.find_all(exp.Ordered):
            ordered.set("nulls_first", bool(ordered.args.get("desc")))


_LIST = re.compile(r"\(\n((?:[ \t]*[\w\"]+,?\n)+)[ \t]*\)")


def compact_lists(sql: str) -> str:
    # sqlglot's pretty mode puts each name of "(a, b)" on its own line; keep such lists inline.
    return _LIST.sub(lambda m: "(" + " ".join(m[1].split()) + ")", sql)


def referenced_tables(tree: exp.Expr) -> list[str]:
    return [str(t.name) for t in tree.find_all(exp.Table) if t.name]
