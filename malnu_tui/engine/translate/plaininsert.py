"""Plain ``INSERT … VALUES`` statements read without sqlglot's tokenizer and parser.

Seed files are mostly rows: ``INSERT [OR …] INTO t (a, b) VALUES ('x', 1), (…)``. For that
form sqlglot's tokenizer and parser cost ≈ 30 µs a statement; the tree built here from one
regular expression costs under half of that. :func:`plain_insert` builds exactly the tree
sqlglot's SQLite parser builds (the same nodes, arguments and values; not its source
positions, which only error messages read), or says None for anything else or anything it is
unsure of, and the parser reads the statement as before:

- names: bare ASCII words that sqlglot's tokenizer reads as plain names (none of its
  keywords, nor the first word of one of several words), or double-quoted (as D1's exports
  write every name); no schema;
- values: strings (``''`` for a quote), unsigned or minus-signed decimal numbers, ``NULL``,
  ``TRUE``, ``FALSE``; no expression, call, blob, parameter or comment.

A test builds random statements from a grammar wider than this and compares the two trees.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from sqlglot import exp

from malnu_tui.engine.translate.common import SQLITE, parse_sqlite

__all__ = ["plain_insert"]

_START = re.compile(r"[ \t\n\r]*INSERT[ \t\n\r]", re.I)
# One token after optional whitespace: a word; a string; a number, a minus sign touching it;
# a parenthesis or comma; else one character that makes the statement not plain. A word,
# string or number may not touch what would make it something else (1abc, 'a'b, x'00').
_TOKEN = re.compile(
    r"[ \t\n\r]*(?:([A-Za-z_][A-Za-z0-9_]*)(?![A-Za-z0-9_$'\"`\[])"
    r"|(\")((?:[^\"]|\"\")+)\"(?![A-Za-z0-9_$'\"`\[])"
    r"|(')((?:[^']|'')*)'(?![A-Za-z0-9_$'\"`\[])"
    r"|(-?)([0-9]+(?:\.[0-9]+)?)(?![A-Za-z0-9_$.'\"`\[])"
    r"|([(),])"
    r"|(.))",
    re.S,
)
# word, double quote and the name it quotes, quote and the string, minus, number, punct, other
Token = tuple[str, str, str, str, str, str, str, str, str]
_WORD, _DQ, _QUOTED, _PUNCT = 0, 1, 2, 7  # the fields read by position
_ALTERNATIVES = frozenset({"IGNORE", "REPLACE", "ABORT", "FAIL", "ROLLBACK"})
_CONSTANTS: dict[str, Callable[[], exp.Expr]] = {
    "NULL": exp.Null,
    "TRUE": lambda: exp.Boolean(this=True),
    "FALSE": lambda: exp.Boolean(this=False),
}
# Words sqlglot's SQLite tokenizer gives a meaning of its own: never a plain name here.
_KEYWORDS = frozenset(
    {k.upper() for k in SQLITE.tokenizer_class.KEYWORDS}
    | {k.split()[0].upper() for k in SQLITE.tokenizer_class.KEYWORDS if " " in k}
)
# The arguments the parser gives every INSERT, in its order, with their values; when one of
# those (other than the table, the rows and the conflict resolution) is a node or a list (some
# other sqlglot than the one tested), every tree would share it: nothing is built then.
_TEMPLATE: dict[str, Any] = dict(parse_sqlite("INSERT INTO t VALUES (1)")[0].args)  # type: ignore[union-attr]
_BUILDS = not any(
    isinstance(v, exp.Expr | list)
    for k, v in _TEMPLATE.items()
    if k not in ("this", "expression", "alternative")
)


class _Unsure(Exception):
    """Not the plain form: sqlglot's parser reads the statement."""


def plain_insert(text: str) -> exp.Insert | None:
    """The tree sqlglot's SQLite parser builds for ``text`` when it is a plain INSERT …
    VALUES (see the module's doc); None otherwise."""
    if not (_BUILDS and _START.match(text)):
        return None
    try:
        return _insert(_TOKEN.findall(text))
    except (_Unsure, IndexError):  # (IndexError: the tokens end too soon)
        return None


def _insert(tokens: list[Token]) -> exp.Insert:
    """The descent over the tokens, in one function (each token read once, in order):
    INSERT [OR alternative] INTO name [(name, …)] VALUES (value, …) [, (value, …)]…"""
    word = tokens[1][_WORD].upper()
    alternative = None
    at = 2
    if word == "OR":
        alternative = tokens[2][_WORD]  # as written (the parser keeps its case)
        if alternative.upper() not in _ALTERNATIVES:
            raise _Unsure
        word = tokens[3][_WORD].upper()
        at = 4
    if word != "INTO":
        raise _Unsure
    target: exp.Expr = exp.Table(this=_name(tokens[at]))
    at += 1
    if tokens[at][_PUNCT] == "(":
        names, at = _parenthesized(tokens, at, _name)
        target = exp.Schema(this=target, expressions=names)
    if tokens[at][_WORD].upper() != "VALUES":
        raise _Unsure
    rows = []
    while True:  # at: VALUES, or the comma before the next row
        values, at = _parenthesized(tokens, at + 1, _value)
        rows.append(exp.Tuple(expressions=values))
        if at == len(tokens):
            break
        if tokens[at][_PUNCT] != ",":
            raise _Unsure
    args = dict(_TEMPLATE)
    args.update(this=target, expression=exp.Values(expressions=rows), alternative=alternative)
    return exp.Insert(**args)


def _parenthesized(
    tokens: list[Token], at: int, item: Callable[[Token], exp.Expr]
) -> tuple[list[exp.Expr], int]:
    """The items of ``(item, …)`` whose parenthesis is ``tokens[at]``, and the index of the
    token after it."""
    if tokens[at][_PUNCT] != "(":
        raise _Unsure
    items = []
    while True:
        items.append(item(tokens[at + 1]))
        punct = tokens[at + 2][_PUNCT]
        at += 2
        if punct != ",":
            break
    if punct != ")":
        raise _Unsure
    return items, at + 1


def _name(token: Token) -> exp.Identifier:
    word = token[_WORD]
    if token[_DQ]:
        return exp.Identifier(this=token[_QUOTED].replace('""', '"'), quoted=True)
    if not word or word.upper() in _KEYWORDS:
        raise _Unsure
    return exp.Identifier(this=word, quoted=False)


def _value(token: Token) -> exp.Expr:
    word, _dq, _quoted, quote, string, minus, number, _punct, _other = token
    if quote:
        return exp.Literal(this=string.replace("''", "'"), is_string=True)
    if number:
        literal = exp.Literal(this=number, is_string=False)
        return exp.Neg(this=literal) if minus else literal
    constant = _CONSTANTS.get(word.upper()) if word else None
    if constant is None:
        raise _Unsure
    return constant()
