"""``json_extract(x, '$.a.b')``, ``x ->> 'a'`` and ``x -> '$[0]'`` where a jsonb form means
exactly what SQLite computes.

SQLite's json_extract (and ``->>``) returns the JSON value as its own SQL type: a JSON integer
an INTEGER, a real a REAL, true 1, false 0, a string its unquoted TEXT, null NULL, an object or
array its minified text; ``->`` returns the value's JSON text. PostgreSQL's ``->>`` gives text
for all of them ('true', '1.50', '{"a": 1}') and ``->`` jsonb: no one PostgreSQL type holds
what SQLite returns. Where the use of the value fixes what matters, jsonb is exact:

- compared with a string (``= 'paid'``, ``<>``, ``IN ('a', 'b')``): a JSON string equals it as
  text does, a number, boolean, object or array never does (SQLite compares an INTEGER and a
  TEXT as different), JSON null and a missing key are NULL on both sides:
  ``NULLIF(CAST(x AS JSONB) -> 'a', 'null') = CAST('"paid"' AS JSONB)``;
- ``IS [NOT] NULL`` (JSON null or missing; for ``->`` missing only, as SQLite's 'null' text);
- a column of a non-unique index (an index holds no value anyone reads; the same expression
  as the comparisons above, so PostgreSQL's planner can use it).

Anything else (a generated column, a select list, an ORDER BY, arithmetic) is withheld with
that reason. A path of keys is a chain of ``->``; one with an index is a strict jsonpath
(``JSONB_PATH_QUERY_FIRST(…, 'strict $."a"[0]', '{}', TRUE)``): ``-> 0`` reads a scalar as a
one-element array and ``#> '{0}'`` reads an object's key "0", where SQLite's ``$[0]`` finds
nothing.
"""

from __future__ import annotations

import json

from sqlglot import exp

from malnu_tui.engine.translate.common import Context, pg_expr, pg_sql
from malnu_tui.engine.translate.functions import Untranslatable

__all__ = ["empty_json_text", "json_each_membership", "json_extract_sql"]

_WHY = (
    "SQLite returns the JSON value as its own SQL type (an integer, a real, 1 for true, the "
    "unquoted text of a string, an object's minified text) where PostgreSQL's ->> gives text "
    "for all ('true', '1.50', '{\"a\": 1}') and -> jsonb; translated only where jsonb is "
    "exact: compared with a string (= 'x', <>, IN), IS [NOT] NULL, a non-unique index"
)
_SUGGESTION = (
    "when the value is always a JSON string, write CAST(x AS JSONB) ->> 'key' by hand in a "
    "PostgreSQL-specific migration"
)


def empty_json_text(node: exp.Expr) -> str | None:
    """``json_object()`` / ``json_array()`` of no arguments: the constant text ``'{}'`` /
    ``'[]'``, the same on both sides (no key order, no spacing to differ), or None. A real
    D1 set writes ``profile TEXT NOT NULL DEFAULT (json_object())`` on its
    core tables: every one was withheld with the reason of a json_object() of pairs, and
    every statement after it that needed those tables."""
    if isinstance(node, exp.JSONObject) and not node.expressions:
        return "'{}'"
    is_array = isinstance(node, exp.Anonymous) and str(node.this).upper() == "JSON_ARRAY"
    return "'[]'" if is_array and not node.expressions else None


def json_extract_sql(node: exp.JSONExtract | exp.JSONExtractScalar, ctx: Context) -> exp.Expr:
    """The jsonb replacement of ``node`` where its use makes it exact (see the module's doc);
    raises :class:`Untranslatable` elsewhere."""
    scalar = isinstance(node, exp.JSONExtractScalar)
    construct = "json_extract() / ->>" if scalar else "->"
    source, steps = _source_and_steps(node, construct)
    if all(isinstance(step, str) for step in steps):
        # Keys only: PostgreSQL's -> with a key finds nothing but in an object, as SQLite.
        keys = "".join(" -> '" + str(k).replace("'", "''") + "'" for k in steps)
        chain = f"CAST({source} AS JSONB){keys}"
    else:
        # An index: -> 0 reads a scalar as a one-element array ('"s"' -> 0 is "s"), where
        # SQLite's $[0] finds nothing; a strict path does not (errors silenced: NULL).
        path = "strict $" + "".join(
            f"[{k}]" if isinstance(k, int) else "." + json.dumps(k, ensure_ascii=False)
            for k in steps
        )
        chain = f"JSONB_PATH_QUERY_FIRST(CAST({source} AS JSONB), {_literal(path)}, '{{}}', TRUE)"
    # json_extract/->> read JSON null as NULL; -> gives the text 'null', which is no NULL.
    value = f"NULLIF({chain}, 'null')" if scalar else f"({chain})"
    parent = node.parent
    if (
        isinstance(parent, exp.Is)
        and isinstance(parent.expression, exp.Null)
        and parent.this is node
    ):
        return _value(value, ctx)
    if scalar and isinstance(parent, exp.EQ | exp.NEQ):
        other = parent.expression if parent.this is node else parent.this
        if _plain_string(other):
            other.replace(_jsonb_string(other))
            return _value(value, ctx)
    if (
        scalar
        and isinstance(parent, exp.In)
        and parent.this is node
        and not parent.args.get("query")
        and parent.expressions
        and all(_plain_string(e) for e in parent.expressions)
    ):
        for item in list(parent.expressions):
            item.replace(_jsonb_string(item))
        return _value(value, ctx)
    if _in_plain_index(node):
        return _value(value, ctx)
    raise Untranslatable(construct, _WHY, _SUGGESTION)


_NOTE = "JSON in TEXT (json_extract, ->>, ->, json_each)"


def _value(value: str, ctx: Context) -> exp.Expr:
    _note(ctx)
    return pg_expr(value)


def _note(ctx: Context) -> None:
    if any(f.construct == _NOTE and f.line == ctx.line for f in ctx.findings):
        return  # (one note a statement)
    ctx.note(
        _NOTE,
        "became a jsonb path (exact here); PostgreSQL reads a key given twice in one object "
        "as its last value, SQLite as its first, and refuses JSON5 text SQLite 3.42+ reads",
    )


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _source_and_steps(node: exp.Expr, construct: str) -> tuple[str, list[str | int]]:
    """The PostgreSQL of the JSON text (a column or a string) and the ``->`` operands of the
    path; ``x -> 'a' ->> 'b'`` is one path from x (SQLite's -> gives JSON text)."""
    if node.expressions:
        raise Untranslatable(
            "json_extract() of several paths",
            "SQLite returns a JSON array's text of the values; PostgreSQL has no such text",
            "extract each path on its own",
        )
    steps = _steps(node.expression, construct)
    inner = node.this
    if isinstance(inner, exp.JSONExtract) and not isinstance(inner, exp.JSONExtractScalar):
        source, first = _source_and_steps(inner, construct)
        return source, first + steps
    if isinstance(inner, exp.Column) or (isinstance(inner, exp.Literal) and inner.is_string):
        return pg_sql(inner), steps
    raise Untranslatable(
        construct,
        "the JSON is an expression, not a column or a string: it is not translated inside",
        _SUGGESTION,
    )


def _steps(path: exp.Expr, construct: str) -> list[str | int]:
    if not isinstance(path, exp.JSONPath):
        shown = path.sql("sqlite") if isinstance(path, exp.Expr) else str(path)
        raise Untranslatable(
            f"{construct} path {shown}",
            "not a path the translator reads ('$.a.b', '$[0]', a key, an index): SQLite's "
            "'#' for the array's end, a key of digits, a path that is no literal",
            "write the path as '$.key[0]'",
        )
    steps: list[str | int] = []
    for part in path.expressions[1:]:
        value = part.this if isinstance(part, exp.JSONPathKey | exp.JSONPathSubscript) else None
        key = isinstance(part, exp.JSONPathKey) and isinstance(value, str)
        index = isinstance(part, exp.JSONPathSubscript) and isinstance(value, int) and value >= 0
        if (key or index) and isinstance(value, str | int):
            steps.append(value)
        else:
            raise Untranslatable(
                f"{construct} path {path.sql('sqlite')}",
                "a wildcard, slice or negative index: SQLite refuses or reads it otherwise",
                "write the path as '$.key[0]'",
            )
    if not path.expressions or not isinstance(path.expressions[0], exp.JSONPathRoot):
        raise Untranslatable(f"{construct} path", "the path does not start at '$'", "")
    return steps


def _plain_string(node: exp.Expr) -> bool:
    """A string literal that is no JSON object or array's text (SQLite compares an object's
    minified text with it; jsonb would compare a string)."""
    return (
        isinstance(node, exp.Literal)
        and node.is_string
        and not str(node.this).lstrip().startswith(("{", "["))
    )


def _jsonb_string(node: exp.Expr) -> exp.Expr:
    """The string as a jsonb constant (immutable: an index's WHERE may hold it)."""
    return pg_expr(f"CAST({_literal(json.dumps(str(node.this), ensure_ascii=False))} AS JSONB)")


def _in_plain_index(node: exp.Expr) -> bool:
    """True for a column of a CREATE INDEX that is not UNIQUE (a WHERE's value is read: there
    the comparisons above apply)."""
    parent = node.parent
    if isinstance(parent, exp.Ordered):
        parent = parent.parent
    if not isinstance(parent, exp.IndexParameters):
        return False
    create = parent.parent.parent if parent.parent is not None else None
    return (
        isinstance(create, exp.Create)
        and str(create.args.get("kind") or "").upper() == "INDEX"
        and not create.args.get("unique")
    )


def json_each_membership(call: exp.Anonymous, ctx: Context) -> bool:
    """``'admin' IN (SELECT value FROM json_each(roles))`` (is the string one of the JSON
    array's elements; an object's member values, a scalar itself) in place as a jsonb test,
    exactly: a JSON string equals it, a number or boolean never does (SQLite compares an
    INTEGER and a TEXT as different), a JSON null element makes a miss NULL, and no JSON (NULL)
    is no element (false). True when ``call`` was that idiom and the IN was replaced."""
    table = call.parent
    sel = table.parent.parent if isinstance(table, exp.Table) and table.parent else None
    sub = sel.parent if isinstance(sel, exp.Select) else None
    test = sub.parent if isinstance(sub, exp.Subquery) else None
    if not (
        isinstance(sel, exp.Select)
        and isinstance(test, exp.In)
        and test.args.get("query") is sub
        and _plain_string(test.this)
        and len(call.expressions) == 1
        and len(sel.expressions) == 1
        and isinstance(sel.expressions[0], exp.Column)
        and sel.expressions[0].name.lower() == "value"
        and not any(v for k, v in sel.args.items() if k not in ("expressions", "from_", "from"))
    ):
        return False
    source = call.expressions[0]
    if not (
        isinstance(source, exp.Column) or (isinstance(source, exp.Literal) and source.is_string)
    ):
        return False
    j = f"CAST({pg_sql(source)} AS JSONB)"
    # An array's elements, an object's member values, a scalar itself (strict paths: nothing
    # where the JSON is not of that kind).
    each = "SELECT NULLIF(v, 'null') FROM JSONB_PATH_QUERY({j}, '{path}', '{{}}', TRUE) AS v"
    elements = " UNION ALL ".join(
        [
            each.format(j=j, path="strict $[*]"),
            each.format(j=j, path="strict $.*"),
            f"SELECT NULLIF({j}, 'null') WHERE JSONB_TYPEOF({j}) NOT IN ('array', 'object')",
        ]
    )
    string = _literal(json.dumps(str(test.this.this), ensure_ascii=False))
    test.replace(pg_expr(f"CAST({string} AS JSONB) IN ({elements})"))
    ctx.replaced = True
    _note(ctx)
    return True
