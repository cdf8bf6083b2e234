"""The syntax of plain CREATE VIEWs and CREATE TRIGGERs, judged without SQLite.

Preparing a CREATE VIEW, SQLite checks its syntax, its name and the schemas it names, never the
tables, columns or functions it reads; preparing a CREATE TRIGGER, its name and table, and the
syntax of its body (see :mod:`.scratch`, which checks all but the syntax itself). The scratch
schema asked SQLite for that syntax (``EXPLAIN``), once per statement: a cost that showed in the
translation's speed. Here a recursive descent over SQLite's tokens accepts a plain subset of
SQLite's grammar — one SELECT over named tables (joins, WHERE, GROUP BY, HAVING, ORDER BY,
LIMIT), a trigger whose body is plain UPDATE/INSERT/DELETE statements — with expressions made
of names, literals, calls, CASE, CAST, the binary operators and the postfix forms (IN with a
list, BETWEEN, LIKE/GLOB, IS, ISNULL/NOTNULL). It says True only for text SQLite's parser
takes (a name is a bare word that is none of SQLite's keywords, or quoted); anything else, or
anything it is unsure of (comments, parameters, blobs, hex numbers, subqueries, window
functions, keywords used as names, a number touching a word…), is False: SQLite is asked as
before. A test compares its verdicts with SQLite's on random statements.
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["plain_view_or_trigger"]

# SQLite's tokens, ASCII only, whitespace aside; a number, word or string may not touch what
# SQLite would read otherwise (1abc, x'00', 'a'b, a$b).
_TOKEN = (
    r"""(?:'(?:[^']|'')*'(?![A-Za-z0-9_$'"`\[])"""
    r"""|("(?:[^"]|"")+"|`[^`]+`|\[[^\]]+\])"""
    r"""|((?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)(?![A-Za-z0-9_$'"`\[])"""
    r"""|([A-Za-z_][A-Za-z0-9_]*)(?![$'"`\[])"""
    r"""|(\|\||==|!=|<>|<=|>=|<<|>>|[-+*/%&|~<>=\(\),.;]))"""
)
_TOKENS = re.compile(r"[ \t\n\f\r]*" + _TOKEN)
# The whole text as such tokens, the repetition possessive (never given back: linear time when
# a match fails), its groups not capturing (CPython 3.11's re mishandles a capture there).
_ALL_TOKENS = re.compile(
    r"(?:[ \t\n\f\r]*" + re.sub(r"(?<!\\)\((?!\?)", "(?:", _TOKEN) + r")*+[ \t\n\f\r]*"
)
_ARITHMETIC = frozenset({"||", "*", "/", "%", "+", "-", "<<", ">>", "&", "|"})
_BINARY = _ARITHMETIC | {"<", "<=", ">", ">=", "=", "==", "!=", "<>", "AND", "OR"}
_PREFIX = frozenset({"-", "+", "~", "NOT"})
_LITERAL = frozenset({"'", "0", "NULL", "CURRENT_DATE", "CURRENT_TIME", "CURRENT_TIMESTAMP"})
_NEGATED = frozenset({"NULL", "IN", "BETWEEN", "LIKE", "GLOB"})
_SUBQUERY = frozenset({"SELECT", "WITH", "VALUES"})
_END = "<end>"
# Symbols: a name "i" (a bare word that is no keyword, or quoted), a string "'", a number "0",
# a keyword upper-cased, an operator as written.

# At most this many tokens (SQLite's parser refuses an expression tree deeper than 1000) and
# this many arguments in a call.
_MAX_TOKENS = 400
_MAX_LIST = 100


class _Unsure(Exception):
    """Not plain, or not known to be SQLite's syntax: SQLite is asked."""


def _symbols(sql: str, keywords: frozenset[str]) -> list[str] | None:
    """``sql`` as symbols (see above), or None when some part of it is not a token of the plain
    subset."""
    if "--" in sql or "/*" in sql or _ALL_TOKENS.fullmatch(sql) is None:
        return None
    out: list[str] = []
    for quoted, number, word, op in _TOKENS.findall(sql):
        if word:
            up = word.upper()
            out.append(up if up in keywords else "i")
        elif op:
            out.append(op)
        elif quoted:
            out.append("i")
        else:
            out.append("0" if number else "'")
    return out


class _Parser:
    """Recursive descent over the symbols (ended by _END); each rule consumes its symbols or
    raises _Unsure."""

    def __init__(self, symbols: list[str]) -> None:
        self.s = [*symbols, _END]
        self.i = 0

    # -- symbols -------------------------------------------------------------------------
    def take(self, word: str) -> bool:
        if self.s[self.i] == word:
            self.i += 1
            return True
        return False

    def take_any(self, words: frozenset[str]) -> bool:
        if self.s[self.i] in words:
            self.i += 1
            return True
        return False

    def need(self, word: str) -> None:
        if self.s[self.i] != word:
            raise _Unsure
        self.i += 1

    def name(self) -> None:
        self.need("i")

    def names(self) -> None:
        """``( name, … )``"""
        self.need("(")
        self.need("i")
        while self.take(","):
            self.need("i")
        self.need(")")

    # -- expressions ---------------------------------------------------------------------
    def expr(self) -> None:
        """Operands joined by binary operators (SQLite's grammar takes any such chain; its
        precedence only groups it), with the postfix forms after any operand."""
        s = self.s
        self.operand()
        while True:
            sym = s[self.i]
            if sym in _BINARY:
                self.i += 1
                self.operand()
            elif sym == "IS":
                self.i += 1
                self.take("NOT")
                self.operand()
            elif not self.postfix(sym):
                return

    def postfix(self, sym: str) -> bool:
        """ISNULL, NOTNULL, [NOT] NULL/IN/BETWEEN/LIKE/GLOB after an operand (``sym``: the
        symbol there)."""
        if sym == "ISNULL" or sym == "NOTNULL":
            self.i += 1
            return True
        negated = sym == "NOT"
        if negated:
            if self.s[self.i + 1] not in _NEGATED:
                return False
            self.i += 1
            if self.take("NULL"):
                return True
            sym = self.s[self.i]
        if sym == "IN":
            self.i += 1
            self.need("(")
            if self.s[self.i] in _SUBQUERY or self.s[self.i] == ")":
                raise _Unsure  # a subquery, or an empty list
            self.expr_list()
            self.need(")")
        elif sym == "BETWEEN":
            self.i += 1
            self.arithmetic()
            self.need("AND")
            self.arithmetic()
        elif sym == "LIKE" or sym == "GLOB":
            self.i += 1
            self.arithmetic()
            if self.take("ESCAPE"):
                self.arithmetic()
        elif negated:
            raise _Unsure
        else:
            return False
        return True

    def arithmetic(self) -> None:
        """Operands joined by arithmetic operators only (BETWEEN's bounds, LIKE's pattern),
        none of them a NOT."""
        if self.s[self.i] == "NOT":
            raise _Unsure
        self.operand()
        while self.s[self.i] in _ARITHMETIC:
            self.i += 1
            self.operand()

    def operand(self) -> None:
        s = self.s
        while s[self.i] in _PREFIX:
            self.i += 1
        sym = s[self.i]
        self.i += 1
        if sym in _LITERAL:
            return
        if sym == "i":
            if s[self.i] == "(":
                self.i += 1
                self.call()
            elif s[self.i] == ".":
                self.i += 1
                self.need("i")  # table.column (no schema.table.column)
        elif sym == "(":
            if s[self.i] in _SUBQUERY:
                raise _Unsure
            self.expr()
            self.need(")")  # (no row values)
        elif sym == "CASE":
            if s[self.i] != "WHEN":
                self.expr()
            self.need("WHEN")
            self.expr()
            self.need("THEN")
            self.expr()
            while self.take("WHEN"):
                self.expr()
                self.need("THEN")
                self.expr()
            if self.take("ELSE"):
                self.expr()
            self.need("END")
        elif sym == "CAST":
            self.need("(")
            self.expr()
            self.need("AS")
            self.type_name()
            self.need(")")
        else:
            raise _Unsure

    def call(self) -> None:
        """A function's arguments, after its ``(``: none, ``*``, or [DISTINCT] expressions."""
        s = self.s
        if s[self.i] == ")" or (s[self.i] == "*" and s[self.i + 1] == ")"):
            self.i += 1 if s[self.i] == ")" else 2
        else:
            self.take("DISTINCT")
            if self.expr_list() > _MAX_LIST:
                raise _Unsure  # (SQLite limits a call's arguments: 127 by default)
            self.need(")")
        if s[self.i] == "FILTER" or s[self.i] == "OVER":
            raise _Unsure

    def type_name(self) -> None:
        self.need("i")
        while self.take("i"):
            pass
        if self.take("("):
            self.signed()
            if self.take(","):
                self.signed()
            self.need(")")

    def signed(self) -> None:
        if self.s[self.i] in ("+", "-"):
            self.i += 1
        self.need("0")

    # -- SELECT --------------------------------------------------------------------------
    def select(self) -> None:
        self.need("SELECT")
        if self.s[self.i] in ("DISTINCT", "ALL"):
            self.i += 1
        star = self.result_column()
        while self.take(","):
            star = self.result_column() or star
        if self.take("FROM"):
            self.from_clause()
        elif star:
            raise _Unsure  # (SELECT * needs a table)
        if self.take("WHERE"):
            self.expr()
        if self.take("GROUP"):
            self.need("BY")
            self.expr_list()
            if self.take("HAVING"):
                self.expr()
        if self.take("ORDER"):
            self.need("BY")
            self.ordering_term()
            while self.take(","):
                self.ordering_term()
        if self.take("LIMIT"):
            self.expr()
            if self.s[self.i] in ("OFFSET", ","):
                self.i += 1
                self.expr()

    def expr_list(self) -> int:
        """Expressions separated by commas; how many."""
        self.expr()
        n = 1
        while self.take(","):
            self.expr()
            n += 1
        return n

    def ordering_term(self) -> None:
        self.expr()
        if self.s[self.i] in ("ASC", "DESC"):
            self.i += 1

    def result_column(self) -> bool:
        """One result column; True for ``*`` or ``table.*``."""
        s, i = self.s, self.i
        if s[i] == "*":
            self.i += 1
            return True
        if s[i] == "i" and s[i + 1] == "." and s[i + 2] == "*":
            self.i += 3
            return True
        self.expr()
        if self.take("AS"):
            if self.s[self.i] not in ("i", "'"):
                raise _Unsure
            self.i += 1
        elif self.s[self.i] in ("i", "'"):
            self.i += 1  # an alias without AS
        return False

    def table(self) -> None:
        """A table by its bare name (no schema, no subquery, no INDEXED BY), and its alias."""
        self.need("i")
        if self.take("AS"):
            self.need("i")
        else:
            self.take("i")

    def from_clause(self) -> None:
        self.table()
        while True:
            if self.take(","):
                self.table()
                continue
            if self.take("CROSS"):
                self.need("JOIN")
                self.table()
                continue
            if self.take("LEFT"):
                self.take("OUTER")
                self.need("JOIN")
            elif self.take("INNER"):
                self.need("JOIN")
            elif not self.take("JOIN"):
                return
            self.table()
            if self.take("ON"):
                self.expr()
            elif self.take("USING"):
                self.names()

    # -- statements ----------------------------------------------------------------------
    def view(self) -> None:
        """CREATE VIEW [IF NOT EXISTS] name AS select (no column list, no TEMP)."""
        self.need("CREATE")
        self.need("VIEW")
        self.if_not_exists()
        self.need("i")
        self.need("AS")
        self.select()

    def if_not_exists(self) -> None:
        if self.take("IF"):
            self.need("NOT")
            self.need("EXISTS")

    def trigger(self) -> None:
        """CREATE TRIGGER [IF NOT EXISTS] name [BEFORE|AFTER] DELETE|INSERT|UPDATE [OF
        names] ON table [FOR EACH ROW] [WHEN expr] BEGIN statement; … END"""
        self.need("CREATE")
        self.need("TRIGGER")
        self.if_not_exists()
        self.need("i")
        if self.s[self.i] in ("BEFORE", "AFTER"):
            self.i += 1
        if self.take("UPDATE"):
            if self.take("OF"):
                self.need("i")
                while self.take(","):
                    self.need("i")
        elif self.s[self.i] in ("DELETE", "INSERT"):
            self.i += 1
        else:
            raise _Unsure
        self.need("ON")
        self.need("i")
        if self.take("FOR"):
            self.need("EACH")
            self.need("ROW")
        if self.take("WHEN"):
            self.expr()
        self.need("BEGIN")
        while True:
            self.body_statement()
            self.need(";")
            if self.take("END"):
                return

    def body_statement(self) -> None:
        """A plain UPDATE, INSERT or DELETE on a table named bare (SQLite refuses a schema
        there)."""
        if self.take("UPDATE"):
            self.need("i")
            self.need("SET")
            self.assignment()
            while self.take(","):
                self.assignment()
            if self.take("WHERE"):
                self.expr()
        elif self.take("INSERT"):
            self.need("INTO")
            self.need("i")
            if self.s[self.i] == "(":
                self.names()
            self.need("VALUES")
            self.row()
            while self.take(","):
                self.row()
        elif self.take("DELETE"):
            self.need("FROM")
            self.need("i")
            if self.take("WHERE"):
                self.expr()
        else:
            raise _Unsure

    def assignment(self) -> None:
        self.need("i")
        self.need("=")
        self.expr()

    def row(self) -> None:
        self.need("(")
        self.expr_list()
        self.need(")")


def plain_view_or_trigger(sql: str, keywords: frozenset[str]) -> bool:
    """True when ``sql`` is a CREATE VIEW or CREATE TRIGGER of the plain subset (see the
    module's doc), whose syntax SQLite's parser accepts; False otherwise, or when unsure.
    ``keywords``: SQLite's keywords (upper-case)."""
    symbols = _symbols(sql, keywords)
    if symbols is None or not 3 <= len(symbols) <= _MAX_TOKENS:
        return False
    parser = _Parser(symbols)
    rule: Callable[[], None] | None = {"VIEW": parser.view, "TRIGGER": parser.trigger}.get(
        symbols[1]
    )
    if rule is None:
        return False
    try:
        rule()
    except (_Unsure, RecursionError):
        return False
    return parser.s[parser.i] == _END
