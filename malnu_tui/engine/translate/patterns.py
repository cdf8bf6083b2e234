"""SQLite's ``x GLOB 'pattern'`` as a PostgreSQL regular expression, and ``printf()`` /
``format()`` of plain ``%s`` / ``%d`` as text joined with ``||``, exactly.

GLOB is case-sensitive; ``*`` is any run of characters, ``?`` one character, ``[abc]`` /
``[a-z]`` / ``[^…]`` one character of (not of) a set, a ``]`` first in a set is itself, and
there is no escape character (``[*]`` is a star). The pattern is read as SQLite's
``patternCompare`` reads it and written as an anchored regular expression (``x ~ '^…$'``):
PostgreSQL's ``.`` matches any character, a newline too, and every other character is escaped
(a backslash before a character that is no letter or digit is that character, in a bracket
expression too). A set SQLite never closes matches nothing.
"""

from __future__ import annotations

from sqlglot import exp

from malnu_tui.engine.translate.common import Context, pg_expr, pg_sql
from malnu_tui.engine.translate.functions import Untranslatable

__all__ = ["glob_regex", "glob_to_regex", "printf_format"]


def _char(c: str) -> str:
    """``c`` as itself in a regular expression (ASCII punctuation escaped; a letter or digit,
    or a character past ASCII, is no operator and stays as it is)."""
    return "\\" + c if c.isascii() and not c.isalnum() else c


def glob_to_regex(pattern: str) -> str | None:
    """The anchored PostgreSQL regular expression matching what ``GLOB pattern`` matches, or
    None when nothing matches (a set that is never closed)."""
    out = ["^"]
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        i += 1
        if c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "[":
            invert = i < n and pattern[i] == "^"
            if invert:
                i += 1
            items: list[str] = []
            if i < n and pattern[i] == "]":
                items.append(_char("]"))
                i += 1
            prior = ""
            while i < n and pattern[i] != "]":
                c = pattern[i]
                i += 1
                if c == "-" and prior and i < n and pattern[i] != "]":
                    high = pattern[i]
                    i += 1
                    items[-1] = f"{_char(prior)}-{_char(high)}" if high >= prior else ""
                    prior = ""
                else:
                    items.append(_char(c))
                    prior = c
            if i >= n:
                return None  # never closed: SQLite matches nothing
            i += 1  # the closing ]
            body = "".join(items)
            if not body:  # (only empty ranges: no character is in the set)
                if not invert:
                    return None
                out.append(".")
            else:
                out.append("[" + ("^" if invert else "") + body + "]")
        else:
            out.append(_char(c))
    out.append("$")
    return "".join(out)


def glob_regex(node: exp.Glob, ctx: Context) -> exp.Expr:
    """``x GLOB 'pattern'`` → ``x ~ '^…$'`` (the value a text: an integer column is cast)."""
    pattern = node.expression
    if not (isinstance(pattern, exp.Literal) and pattern.is_string):
        raise Untranslatable(
            "GLOB", "the pattern is not a string literal: it cannot be rewritten as a regex", ""
        )
    regex = glob_to_regex(str(pattern.this))
    value: exp.Expr = node.this.copy()
    declared = _declared(node.this, ctx)  # (read once: both tests below use it)
    if declared and all("INT" in d for d in declared):
        value = exp.Cast(this=value, to=exp.DataType(this=exp.DataType.Type.TEXT))
    elif not _text_like(node.this, ctx, declared):
        raise Untranslatable(
            "GLOB", "the value is not known to be text or an integer (SQLite writes it as text)", ""
        )
    if regex is None:  # NULL for NULL, else no match (false)
        return pg_expr(f"({pg_sql(value)} IS NULL AND NULL)")
    # The node built, not parsed from text: GLOB is one statement in eight of bench_translate.
    return exp.RegexpLike(this=value, expression=exp.Literal.string(regex))


def _declared(node: exp.Expr, ctx: Context) -> list[str]:
    if not isinstance(node, exp.Column):
        return []
    name = node.name.lower()
    return [
        c.declared.strip().upper()
        for t in dict.fromkeys(t.lower() for t in ctx.tables)
        for c in ctx.state.columns(t)
        if c.name.lower() == name
    ]


def _integer_column(node: exp.Expr, ctx: Context) -> bool:
    declared = _declared(node, ctx)
    return bool(declared) and all("INT" in d for d in declared)


def _text_like(node: exp.Expr, ctx: Context, declared: list[str] | None = None) -> bool:
    if isinstance(node, exp.Literal):
        return bool(node.is_string)
    if isinstance(node, exp.DPipe | exp.Null):
        return True  # (|| gives text; NULL is '' for %s in both)
    if declared is None:
        declared = _declared(node, ctx)
    return bool(declared) and all(
        any(w in d for w in ("CHAR", "CLOB", "TEXT")) and "INT" not in d for d in declared
    )


_PRINTF_WHY = (
    "printf's %5.2f, %x, %05d… are not PostgreSQL format()'s (%s, %I, %L only), and format() "
    "fails only when the view or statement is run; translated: %s of text or integers, %d of "
    "integers, %%"
)


def printf_format(fmt: exp.Expr, args: list[exp.Expr], ctx: Context) -> exp.Expr:
    """``printf('%s-%d', name, n)`` (or ``format()``) → ``('' || COALESCE(CAST(name AS TEXT), '')
    || '-' || CAST(COALESCE(n, 0) AS TEXT))``: only ``%s`` of a text or integer value (NULL is
    '' in SQLite), ``%d`` of an integer (NULL is 0) and ``%%``; a REAL (SQLite writes 2.0,
    PostgreSQL 2), a width or a precision is withheld. Joined with ``||``, not PostgreSQL's
    format(), which is not immutable (a generated column refused it)."""
    if not (isinstance(fmt, exp.Literal) and fmt.is_string):
        raise Untranslatable("format() / printf()", "the format is not a string literal", "")
    text = str(fmt.this)
    pieces: list[exp.Expr] = []
    literal: list[str] = []
    used = 0
    i = 0
    while i < len(text):
        c = text[i]
        if c != "%":
            literal.append(c)
            i += 1
            continue
        spec = text[i + 1 : i + 2]
        i += 2
        if spec == "%":
            literal.append("%")
            continue
        if spec not in ("s", "d", "i"):
            raise Untranslatable("format() / printf()", _PRINTF_WHY, "to_char() / lpad() by hand")
        if used >= len(args):
            raise Untranslatable(
                "format() / printf()",
                "fewer values than the format asks for (SQLite writes nothing, PostgreSQL raises)",
                "",
            )
        arg = args[used]
        used += 1
        if literal:
            pieces.append(exp.Literal.string("".join(literal)))
            literal = []
        if spec == "s" and (_integer(arg, ctx) or _text_like(arg, ctx)):
            pieces.append(exp.Coalesce(this=_as_text(arg), expressions=[exp.Literal.string("")]))
        elif spec in ("d", "i") and _integer(arg, ctx):
            pieces.append(_as_text(exp.Coalesce(this=arg, expressions=[exp.Literal.number(0)])))
        else:
            raise Untranslatable(
                "format() / printf()",
                f"%{spec} of a value not known to be "
                + ("text or an integer" if spec == "s" else "an integer")
                + " (SQLite writes a REAL as 2.0, PostgreSQL as 2; %d of text reads its digits)",
                "cast the value, or write the PostgreSQL by hand",
            )
    if used != len(args):
        raise Untranslatable("format() / printf()", "more values than the format uses", "")
    if literal or not pieces:
        pieces.append(exp.Literal.string("".join(literal)))
    joined = pieces[0]
    for piece in pieces[1:]:
        joined = exp.DPipe(this=joined, expression=piece)
    return exp.Paren(this=joined)


def _as_text(node: exp.Expr) -> exp.Expr:
    return exp.Cast(this=node, to=exp.DataType(this=exp.DataType.Type.TEXT, nested=False))


def _integer(node: exp.Expr, ctx: Context) -> bool:
    if isinstance(node, exp.Literal):
        return not node.is_string and str(node.this).isdigit()
    return _integer_column(node, ctx)
