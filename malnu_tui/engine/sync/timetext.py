"""Dates and times as PostgreSQL reads their text, for the normal form (:mod:`.values`) and the
values the sync writes into a ``timestamp without time zone``: the layouts SQLite and D1 apps
write (a space or a ``T``, a fraction, ``Z`` or an offset), PostgreSQL's own texts of what
Python cannot hold, and a time that says its offset as its UTC time."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from typing import Any

__all__ = [
    "CANON_DATE",
    "CANON_TS",
    "MS_FROM",
    "PG_ONLY_DATE",
    "PG_ONLY_TS",
    "fmt_dt",
    "ms_time",
    "parse_dt",
    "pg_read_time",
    "pg_read_tod",
    "ts_for_postgres",
    "utc_wall_clock",
]


# Text already in the normal form (the common case in SQLite): returned as it is. Not a leap
# second, 24:00:00 or a fraction finer than microseconds: PostgreSQL stores another text.
CANON_TS = re.compile(r"\d{4}-\d\d-\d\d (?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d{0,5}[1-9])?\Z")
CANON_DATE = re.compile(r"\d{4}-\d\d-\d\d\Z")


def fmt_dt(dt: datetime) -> str:
    """A naive datetime as ``YYYY-MM-DD HH:MM:SS[.ffffff]``, fraction without trailing zeros."""
    text = dt.isoformat(sep=" ")
    return text.rstrip("0") if dt.microsecond else text


# A date and time as PostgreSQL 15 reads it (datetime.c): seconds up to 60 (a leap second is
# the next minute's first), a fraction rounded to microseconds as rint(strtod(…) * 1e6) does
# (half to even, on the double), and a time of day up to 24:00:00 exactly (the next day's
# midnight; time_overflows()). Anything else it refuses, and so is no such time here either.
_PG_TIME_TEXT = re.compile(
    r"\s*(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d)(?::(\d\d)(\.\d*)?)?"
    r"\s*(Z|[+-]\d\d(?::?\d\d)?)?\s*\Z"
)
_DAY_USEC = 86_400_000_000


def pg_read_time(v: str) -> tuple[date, int, tzinfo | None] | None:
    """The day, the time of day in microseconds and the zone PostgreSQL reads in ``v``."""
    m = _PG_TIME_TEXT.match(v)
    if m is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = m.groups()
    usec = round(float("0" + fraction) * 1_000_000) if fraction else 0
    h, mi, sec = int(hour), int(minute), int(second or 0)
    tod = ((h * 60 + mi) * 60 + sec) * 1_000_000 + usec
    if mi > 59 or sec > 60 or usec > 1_000_000 or tod > _DAY_USEC:
        return None
    try:
        the_day = date(int(year), int(month), int(day))
    except ValueError:
        return None
    tz: tzinfo | None = None
    if zone == "Z":
        tz = UTC
    elif zone:
        digits = zone[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or 0))
        tz = timezone(-offset if zone[0] == "-" else offset)
    return the_day, tod, tz


# What PostgreSQL prints for a date or timestamp Python cannot hold (``infinity``, a year BC or
# past 9999), which the sync reads as that text: kept as it is, since PostgreSQL prints no other
# value so (any other spelling of such a value is asked of PostgreSQL: see .pgread).
PG_ONLY_TS = re.compile(
    r"(?:\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d{0,5}[1-9])? BC"
    r"|\d{5,}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d{0,5}[1-9])?|-?infinity)\Z"
)
PG_ONLY_DATE = re.compile(r"(?:\d{4}-\d\d-\d\d BC|\d{5,}-\d\d-\d\d|-?infinity)\Z")
# A time of day as PostgreSQL 15 reads it: the hour in one or two digits, a zone ignored, and
# a date before it (a valid one) ignored too — Rails stores a TIME as `2000-01-01 07:30:00`.
_PG_TOD_TEXT = re.compile(
    r"\s*(?:(\d{4})-(\d\d?)-(\d\d?) +)?"
    r"(\d\d?):(\d\d)(?::(\d\d)(\.\d*)?)?\s*(?:Z|[+-]\d\d(?::?\d\d)?)?\s*\Z"
)


def pg_read_tod(v: str) -> int | None:
    """The time of day in microseconds PostgreSQL reads in ``v`` (see :func:`pg_read_time`:
    a leap second is the next minute's first, up to 24:00:00 exactly), None if it refuses it."""
    m = _PG_TOD_TEXT.match(v)
    if m is None:
        return None
    year, month, day, hour, minute, second, fraction = m.groups()
    if year is not None:
        try:
            date(int(year), int(month), int(day))
        except ValueError:
            return None
    usec = round(float("0" + fraction) * 1_000_000) if fraction else 0
    h, mi, sec = int(hour), int(minute), int(second or 0)
    tod = ((h * 60 + mi) * 60 + sec) * 1_000_000 + usec
    if mi > 59 or sec > 60 or usec > 1_000_000 or tod > _DAY_USEC:
        return None
    return tod


def parse_dt(v: Any) -> datetime | None:
    if isinstance(v, datetime):
        return v
    if isinstance(v, date):
        return datetime(v.year, v.month, v.day)
    if isinstance(v, str):
        read = pg_read_time(v)
        if read is not None:
            the_day, tod, tz = read
            try:
                start = datetime(the_day.year, the_day.month, the_day.day, tzinfo=tz)
                return start + timedelta(microseconds=tod)
            except OverflowError:  # 9999-12-31 24:00:00: year 10000, beyond Python's
                return None
        try:
            return datetime.fromisoformat(v.strip())
        except ValueError:
            return None
    return None


def utc_wall_clock(dt: datetime) -> datetime:
    """A time that says its offset (an application's ``…T17:00:00+07:00``) as the UTC time a
    ``timestamp without time zone`` copy holds (:func:`.values.to_postgres` writes it so:
    PostgreSQL itself drops the offset, and a WIB wall clock stood among UTC times,
    verified); naive as it is. Year 1 in UTC (out of Python's range) keeps its clock."""
    if dt.tzinfo is None:
        return dt
    try:
        return dt.astimezone(UTC).replace(tzinfo=None)
    except OverflowError:
        return dt.replace(tzinfo=None)


# The end of a time that says its offset (``+07:00``, ``-0500``, ``+07``): PostgreSQL drops it.
_OFFSET_END = re.compile(r"\d[+-]\d\d(?::?\d\d)?\s*\Z")


def ts_for_postgres(v: Any) -> Any:
    """A value for a ``timestamp without time zone`` column: a text with an offset as its UTC
    time (:func:`utc_wall_clock`), Unix milliseconds as theirs (:func:`ms_time`); anything
    else as it is (PostgreSQL parses it)."""
    if type(v) is str and len(v) > 19 and _OFFSET_END.search(v):
        dt = parse_dt(v)
        if dt is not None and dt.tzinfo is not None:
            return fmt_dt(utc_wall_clock(dt))
    elif type(v) is int:
        return ms_time(v) or v
    return v


# From here on an integer in a date/time column is Unix milliseconds (10^11 ms is 1973; as
# seconds the year 5138), up to the year 9999: Prisma's SQLite ``DateTime``, ``Date.now()``.
MS_FROM, _MS_UPTO = 100_000_000_000, 253_402_300_800_000
_EPOCH = datetime(1970, 1, 1)


def ms_time(v: Any) -> str | None:
    """Unix milliseconds (an integer from :data:`MS_FROM`) as the UTC time in the normal
    form (``2026-01-05 08:00:00.123``); None for any other value."""
    if type(v) is not int or not MS_FROM <= v < _MS_UPTO:
        return None
    return fmt_dt(_EPOCH + timedelta(milliseconds=v))
