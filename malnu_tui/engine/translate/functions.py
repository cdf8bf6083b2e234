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
    "julianday_sql",
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

# As SQLite reads them: no space before the number or after the unit (' +1 day' is NULL there).
_MOD = re.compile(
    r"^(?P<sign>[+-]?)(?P<n>\d+(?:\.\d*)?|\.\d+)\s+(?P<unit>year|month|day|hour|minute|second)s?$",
    re.IGNORECASE,
)
_START = re.compile(r"^start of (?P<unit>day|month|year)$", re.IGNORECASE)
_WEEKDAY = re.compile(r"^weekday \s*(?P<n>[0-6])(?:\.0*)?\s*$", re.IGNORECASE)
_LOOSE = re.compile(
    r"^\s*[+-]?\s*[\d.]+\s*(year|month|day|hour|minute|second)s?\s*$|^\s*start\s+of\s", re.I
)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _apply_modifiers(base: str, mods: list[str | None], func: str) -> str:
    out = base
    at_first = False  # the value is the first of a month ('start of month' / 'year')
    for mod in mods:
        was_at_first, at_first = at_first, False
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
            interval = f"INTERVAL {_literal(m['n'] + ' ' + unit + 's')}"
            if unit in ("month", "year"):
                out = _calendar_add(out, sign, interval, m["n"], unit, func, was_at_first)
            else:
                out = f"{out} {sign} {interval}"
            continue
        s = _START.match(mod)
        if s:
            out = f"DATE_TRUNC({_literal(s['unit'].lower())}, {out})"
            at_first = s["unit"].lower() != "day"
            continue
        w = _WEEKDAY.match(mod)
        if w:
            # SQLite moves forward to the next day numbered N (0 = Sunday; the same day when it
            # is one), keeping the time of day: EXTRACT(DOW) numbers days the same way.
            days = f"MOD(CAST({w['n']} + 7 - EXTRACT(DOW FROM {out}) AS INT), 7)"
            out = f"{out} + {days} * INTERVAL '1 day'"
            continue
        if _LOOSE.match(mod):
            raise Untranslatable(
                f"{func}() modifier {mod!r}",
                "SQLite does not read this modifier (a space where it allows none): "
                f"{func}() gives NULL there, PostgreSQL would compute a value",
                "write the modifier as SQLite documents it ('+1 day', 'start of month')",
            )
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


def _calendar_add(
    value: str, sign: str, interval: str, n: str, unit: str, func: str, at_first: bool
) -> str:
    """``value`` moved by whole months or years as SQLite moves it: the day of the month is
    kept and a day past the month's end runs on into the next month (January 31 + 1 month is
    March 3; February 29 + 1 year is March 1), where PostgreSQL's interval stops at the last
    day (February 28). From the first of the month, PostgreSQL and SQLite land on the same
    day; the days and time past the first are added back after. A fraction of a month is 30
    days in both; a fraction of a year is 365 days in SQLite, 6 months in PostgreSQL."""
    if unit == "year" and float(n) != int(float(n)):
        raise Untranslatable(
            f"{func}() modifier '{sign}{n} years'",
            "SQLite adds a fraction of a year as 365 days, PostgreSQL as months",
            "write the years and the days as two modifiers",
        )
    if at_first and float(n) == int(float(n)):
        return f"{value} {sign} {interval}"
    first = f"DATE_TRUNC('month', {value})"
    return f"{first} {sign} {interval} + ({value} - {first})"


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
    elif first.strip().upper() in _SQLITE_CLOCK:
        # SQLite's CURRENT_TIMESTAMP (CURRENT_DATE) is UTC; PostgreSQL's, cast, is the
        # session's wall clock: a server set up in WIB stored times 7 hours ahead.
        base, now = _SQLITE_CLOCK[first.strip().upper()], False
    else:
        base, now = f"CAST({first} AS TIMESTAMP)", False
    expr = _apply_modifiers(base, mods, func.lower())
    return (f"({expr})" if mods else expr), now


_SQLITE_CLOCK = {
    "CURRENT_TIMESTAMP": NOW_UTC,
    "CURRENT_DATE": f"CAST(CAST({NOW_UTC} AS DATE) AS TIMESTAMP)",
}


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


# strftime specifiers to_char has no form for (SQLite 3.40's): %w the day of the week, 0 =
# Sunday (to_char's D starts at 1); %W the week of the year, weeks starting on Monday, the
# days before the year's first Monday in week 00 (SQLite: (day of year + 7 − ISO weekday) / 7).
_WEEK = {
    "w": "CAST(CAST(EXTRACT(DOW FROM {v}) AS INT) AS TEXT)",
    "W": "LPAD(CAST((CAST(EXTRACT(DOY FROM {v}) AS INT) + 7"
    " - CAST(EXTRACT(ISODOW FROM {v}) AS INT)) / 7 AS TEXT), 2, '0')",
}


def julianday_sql(value: str) -> str:
    """SQLite's ``julianday()`` of a timestamp, to the last bit: SQLite keeps the time as whole
    milliseconds since the Julian epoch (1970-01-01 is 2440587.5 days after it), rounds the
    seconds to the millisecond and divides by 86,400,000 as a double; so does this."""
    return (
        f"(CAST(ROUND(EXTRACT(EPOCH FROM {value}) * 1000) + 210866760000000 AS DOUBLE PRECISION)"
        " / CAST(86400000 AS DOUBLE PRECISION))"
    )


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
    # Pieces in order: ("code", to_char's), ("text", literal), ("sql", an expression).
    pieces: list[tuple[str, str]] = []
    i = 0
    while i < len(fmt):
        ch = fmt[i]
        if ch == "%" and i + 1 < len(fmt):
            spec = fmt[i + 1]
            if spec == "%":
                pieces.append(("text", "%"))
            elif spec in _STRF:
                pieces.append(("code", _STRF[spec]))
            elif spec in _WEEK:
                pieces.append(("sql", _WEEK[spec].format(v=value)))
            else:
                raise Untranslatable(
                    f"strftime() %{spec}",
                    f"%{spec} has no to_char() equivalent with the same meaning",
                    "use EXTRACT()/to_char() by hand",
                )
            i += 2
            continue
        pieces.append(("text", ch))
        i += 1
    return _to_char_sql(value, pieces)


# Literal text to_char may hold in its format ("…"): sqlglot rewrites letters there as codes
# ('" d"' became '" D"', 'minggu' 'MInggu'); any other text is joined on with ||.
_PLAIN_TEXT = frozenset("-:/., _0123456789")


def _to_char_sql(value: str, pieces: list[tuple[str, str]]) -> str:
    parts: list[str] = []
    fmt: list[str] = []  # to_char's format being built
    text: list[str] = []  # literal text being gathered

    def flush_text() -> None:
        if not text:
            return
        joined = "".join(text)
        text.clear()
        if set(joined) <= _PLAIN_TEXT:
            fmt.append('"' + joined + '"')
        else:
            flush_fmt()
            parts.append(_literal(joined))

    def flush_fmt() -> None:
        if fmt:
            parts.append(f"TO_CHAR({value}, {_literal(''.join(fmt))})")
            fmt.clear()

    for kind, piece in pieces:
        if kind == "text":
            text.append(piece)
            continue
        flush_text()
        if kind == "code":
            fmt.append(piece)
        else:
            flush_fmt()
            parts.append(piece)
    flush_text()
    flush_fmt()
    if not any(kind != "text" for kind, _piece in pieces):
        # only text: SQLite still gives NULL for a NULL time value
        parts.insert(0, f"LEFT(CAST({value} AS TEXT), 0)")
    return parts[0] if len(parts) == 1 else "(" + " || ".join(parts) + ")"
