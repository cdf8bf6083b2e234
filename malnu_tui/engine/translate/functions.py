"""SQLite date/time functions → PostgreSQL expressions.

``datetime('now', '-1 hour')`` becomes ``(now() AT TIME ZONE 'UTC') - INTERVAL '1 hour'`` (SQLite's
'now' is UTC whatever the session's time zone); ``strftime('%s', 'now')`` becomes a truncated
epoch; modifiers PostgreSQL cannot express
with the same meaning (``localtime``, ``utc``, ``weekday N``…) raise :class:`Untranslatable`.
"""

from __future__ import annotations

import re

__all__ = [
    "NOW_UTC",
    "Untranslatable",
    "date_function_sql",
    "epoch_sql",
    "strftime_sql",
    "timestamp_sql",
]


class Untranslatable(Exception):
    """A construct with no faithful PostgreSQL form; becomes an error finding."""

    def __init__(self, construct: str, why: str, suggestion: str = "") -> None:
        super().__init__(why)
        self.construct = construct
        self.why = why
        self.suggestion = suggestion


# The current time as SQLite gives it: UTC, as a timestamp without time zone.
NOW_UTC = "(now() AT TIME ZONE 'UTC')"

_MOD = re.compile(
    r"^\s*(?P<sign>[+-]?)\s*(?P<n>\d+(?:\.\d+)?)\s+(?P<unit>year|month|day|hour|minute|second)s?"
    r"\s*$",
    re.IGNORECASE,
)
_START = re.compile(r"^\s*start\s+of\s+(?P<unit>day|month|year)\s*$", re.IGNORECASE)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _apply_modifiers(base: str, mods: list[str | None], func: str) -> str:
    out = base
    for mod in mods:
        if mod is None:
            raise Untranslatable(
                f"{func}() modifier",
                "a modifier that is not a string literal cannot be checked",
                "compute the interval in the application, or write the PostgreSQL by hand",
            )
        m = _MOD.match(mod)
        if m:
            sign = "-" if m["sign"] == "-" else "+"
            unit = m["unit"].lower()
            out = f"{out} {sign} INTERVAL {_literal(m['n'] + ' ' + unit + 's')}"
            continue
        s = _START.match(mod)
        if s:
            out = f"DATE_TRUNC({_literal(s['unit'].lower())}, {out})"
            continue
        if mod.strip().lower() in ("subsec", "subsecond"):
            raise Untranslatable(
                f"{func}() modifier {mod!r}",
                "the milliseconds it adds to SQLite's text are carried over in unixepoch() only",
                "use unixepoch('subsec') (a number), or write the PostgreSQL by hand",
            )
        raise Untranslatable(
            f"{func}() modifier {mod!r}",
            f"the modifier {mod!r} depends on SQLite's own calendar or the server's time zone",
            "use explicit AT TIME ZONE / date_trunc in a PostgreSQL-specific migration",
        )
    return out


def timestamp_sql(func: str, args: list[str | None], first: str) -> tuple[str, bool]:
    """The PostgreSQL timestamp expression (modifiers applied) behind ``datetime``/``date``/
    ``time`` of ``args``, and whether it is based on 'now' (SQLite's 'now' is UTC)."""
    time_value = args[0] if args else "now"
    mods = list(args[1:])
    if time_value is not None and time_value.lower() == "now":
        base, now = NOW_UTC, False  # SQLite's 'now' is UTC, whatever the session's time zone
    elif mods and mods[0] is not None and mods[0].lower() == "unixepoch":
        base, now = f"TO_TIMESTAMP({first}) AT TIME ZONE 'UTC'", False
        mods = mods[1:]
    else:
        base, now = f"CAST({first} AS TIMESTAMP)", False
    expr = _apply_modifiers(base, mods, func.lower())
    return (f"({expr})" if mods else expr), now


def date_function_sql(func: str, args: list[str | None], first: str) -> str:
    """PostgreSQL text for ``datetime``/``date``/``time`` with ``args`` (string literal
    values, None for non-literals) whose first argument renders as ``first`` in PostgreSQL."""
    func = func.lower()
    expr, _now = timestamp_sql(func, args, first)
    if func == "date":
        return f"CAST({expr} AS DATE)"
    if func == "time":
        return f"CAST(DATE_TRUNC('SECOND', {expr}) AS TIME)"  # truncated, like SQLite
    return expr


# strftime specifiers with the same meaning in to_char (%f: seconds with milliseconds).
_STRF = {
    "Y": "YYYY", "m": "MM", "d": "DD", "H": "HH24", "M": "MI", "S": "SS", "j": "DDD",
    "f": "SS.MS",
}  # fmt: skip


def epoch_sql(value: str) -> str:
    """Whole seconds since 1970 of a timestamp, truncated like SQLite's (not rounded)."""
    return f"CAST(TRUNC(EXTRACT(EPOCH FROM {value})) AS BIGINT)"


def strftime_sql(fmt: str | None, args: list[str | None], first: str) -> str:
    """PostgreSQL text for ``strftime(fmt, args…)`` (``first`` renders the time value)."""
    if fmt is None:
        raise Untranslatable(
            "strftime() format", "the format is not a string literal", "use to_char() by hand"
        )
    value = date_function_sql("datetime", args, first) if args else NOW_UTC
    if fmt == "%s":
        return epoch_sql(value)
    out: list[str] = []
    literal: list[str] = []
    i = 0
    while i < len(fmt):
        ch = fmt[i]
        if ch == "%" and i + 1 < len(fmt):
            spec = fmt[i + 1]
            if spec == "%":
                literal.append("%")
            elif spec in _STRF:
                if literal:
                    out.append('"' + "".join(literal) + '"')
                    literal = []
                out.append(_STRF[spec])
            else:
                raise Untranslatable(
                    f"strftime() %{spec}",
                    f"%{spec} has no to_char() equivalent with the same meaning",
                    "use EXTRACT()/to_char() by hand",
                )
            i += 2
            continue
        if ch == '"':
            raise Untranslatable("strftime() format", "a double quote in the format", "")
        literal.append(ch)
        i += 1
    if literal:
        out.append('"' + "".join(literal) + '"')
    return f"TO_CHAR({value}, {_literal(''.join(out))})"
