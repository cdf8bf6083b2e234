"""The check of one value against its column's declared type, the same on every backend
(SQLite would store ``'31/02/2024'`` in a DATE column, or ``12345.678`` in a NUMERIC(5,2)
one, without a word): whole numbers in range, real ISO dates and times, booleans, numbers
(``NUMERIC(p,s)`` rounded as PostgreSQL rounds), text within its length; and what a
spreadsheet writes in place of a value (``#N/A``, ``3.20123E+15``) refused in text and number
columns."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext

from malnu_tui.engine.data.cells import excel_damage
from malnu_tui.engine.data.dates import date_step, zero_date_hint
from malnu_tui.engine.data.schema import Column
from malnu_tui.engine.data.transform import (
    ACCOUNTING_NEGATIVE,
    ACCOUNTING_ZERO,
    AMBIGUOUS_T,
    FALSE_WORDS,
    TRUE_WORDS,
    StepFailed,
    Value,
    bool_hint,
    bool_step,
)

_INT = re.compile(r"^\s*[+-]?\d+\s*$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# A lone "t" from a database (PostgreSQL's text of a boolean, Rails' 't' in SQLite) or from
# a mapping's own map is true; in a file's text as it is, refused (Y/T or T/F?).
_to_bool = bool_step((*TRUE_WORDS, "t"), FALSE_WORDS)


def coercer(
    col: Column, *, as_written: bool = False, database: bool = False
) -> Callable[[Value], Value]:
    """The check of a value for ``col``'s declared type. ``as_written``: the value is a CSV
    file's text as it is (no step read it): ``150.000`` in a number column is refused, not
    read as 150 when the sheet meant 150000. ``database``: a database's value (``--from``),
    whose Infinity or NaN a PostgreSQL column that holds them takes (:func:`_pg_non_finite`)."""
    fam = col.family
    if fam == "integer":
        lo, hi = -(2 ** (col.int_bits - 1)), 2 ** (col.int_bits - 1) - 1

        def integer(v: Value) -> Value:
            if v is None:
                return None
            if isinstance(v, bool):
                return int(v)
            if isinstance(v, int):
                n = v
            elif isinstance(v, str) and _INT.match(v):
                n = int(v)
            else:
                raise StepFailed(
                    f"{v!r} is not a whole number ({col.declared_type} column)"
                    + sheet_number_hint(v)
                )
            if not lo <= n <= hi:
                raise StepFailed(f"{n} is out of range for {col.declared_type}")
            return n

        return integer
    if fam == "number":
        ps = col.precision_scale

        def number(v: Value) -> Value:
            if v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)):
                return v if ps is None or v is None else _fit_numeric(v, str(v), col, ps)
            text = str(v).strip()
            if why := excel_damage(text):
                raise StepFailed(why)
            if as_written and _THOUSANDS.fullmatch(text):
                whole = f"{text.replace('.', '')} with '.' between thousands (as Indonesian sheets"
                raise StepFailed(
                    f"{v!r} is ambiguous: {whole} write it) or {text}; say which with the step "
                    "decimal (decimal_sep and thousands_sep)"
                    if text.count(".") == 1
                    else f"{v!r} is {whole} write it): read it with the step decimal"
                )
            try:
                f = float(text)
            except ValueError:
                raise StepFailed(
                    f"{v!r} is not a number ({col.declared_type} column)" + sheet_number_hint(text)
                ) from None
            if f != f or f in (float("inf"), float("-inf")):
                if (
                    database
                    and text in _NUMBERS_NON_FINITE
                    and (special := _pg_non_finite(col, f)) is not None
                ):
                    return special
                raise StepFailed(f"{v!r} is not a finite number")
            return text if ps is None else _fit_numeric(v, text, col, ps)

        return number
    if fam == "boolean":

        def boolean(v: Value) -> Value:
            if isinstance(v, int) and not isinstance(v, bool) and v in (0, 1):
                return bool(v)
            if as_written and isinstance(v, str) and v.strip().lower() == "t":
                raise StepFailed(f"{v!r} {AMBIGUOUS_T}")
            try:
                return _to_bool(v)
            except StepFailed:
                hint = bool_hint(v)
                raise StepFailed(
                    f"{v!r} is not a boolean (true/false, benar/salah, ya/tidak, 1/0)"
                    + (f": say what it means, {hint} (a mapping's step)" if hint else "")
                ) from None

        return boolean
    if fam == "date":

        def a_date(v: Value) -> Value:
            if v is None:
                return None
            text = str(v).strip()
            if col.pg_dates and (special := _pg_special(text)) is not None:
                return special
            try:
                if not _DATE.match(text):
                    raise ValueError
                date.fromisoformat(text)
            except ValueError:
                raise StepFailed(
                    f"invalid date {v!r} for a {col.declared_type} column (YYYY-MM-DD)"
                    + (zero_date_hint(text) or sheet_date_hint(text, date_only=True))
                ) from None
            return text

        return a_date
    if fam == "timestamp":

        def timestamp(v: Value) -> Value:
            if v is None:
                return None
            text = str(v).strip()
            if col.pg_dates and (special := _pg_special(text, timestamp=True)) is not None:
                return special
            try:
                if len(text) < 10 or not _DATE.match(text[:10]):
                    raise ValueError
                moment = datetime.fromisoformat(text)
            except ValueError:
                raise StepFailed(
                    f"invalid date/time {v!r} for a {col.declared_type} column (ISO 8601)"
                    + (zero_date_hint(text) or sheet_date_hint(text))
                ) from None
            if moment.tzinfo is not None and col.pg_dates and not col.zoned:
                return _utc_wall_clock(moment, text)
            return text

        return timestamp
    if fam == "blob":
        return _blob
    limit = col.max_length

    def text(v: Value) -> Value:
        if v is None:
            return None
        s = (
            v
            if isinstance(v, str)
            else ("true" if v is True else "false" if v is False else str(v))
        )
        # What the spreadsheet wrote in place of the value first: "'0051234567" in a
        # varchar(10) is the mark, not 11 characters.
        if isinstance(v, str) and (why := excel_damage(v)):
            raise StepFailed(why)
        if limit is not None and len(s) > limit:
            raise StepFailed(f"{len(s)} characters; {col.declared_type} allows {limit}")
        return s

    return text


_INFINITY = re.compile(r"[+-]?infinity", re.I)
# The time after it as the Indonesian locale writes it too, with dots: 16/07/2008 07.30.
_SHEET_DATE = re.compile(
    r"(\d{1,2})([/.-])(\d{1,2})\2(\d{4}|\d{2})(?:\s+\d{1,2}([:.])\d{2}(\5\d{2})?)?"
)
_SERIAL = re.compile(r"\d{5}(?:[.,]\d+)?")
# A date with a month's name (and a day's), as a sheet or a letter writes it: 16 Juli 2008,
# 16-Agu-2008, Senin, 16 Juli 2008. The formats a refusal suggests, the first that reads it.
_NAMED_DATE_FORMATS = (
    "%d %B %Y",
    "%d %b %Y",
    "%d-%B-%Y",
    "%d-%b-%Y",
    "%A, %d %B %Y",
    "%A, %d %b %Y",
    "%A %d %B %Y",
    "%d %b %y",
    "%d-%b-%y",
)
_HAS_LETTERS = re.compile(r"\d.*[^\W\d_]{3}|[^\W\d_]{3}.*\d")


def sheet_date_hint(text: str, *, date_only: bool = False) -> str:
    """What reads a date as a spreadsheet writes it (``16/07/2008``, ``16-07-08 07:30``,
    ``16 Juli 2008``, ``Senin, 16 Juli 2008``, or the serial ``45123`` of a date cell exported
    as a number, ``45123,5`` in the Indonesian locale), said after a date or date/time column
    refused it: the refusal said "YYYY-MM-DD" and nothing of the mapping's ``date`` step,
    which reads them ("" for anything else, and for what no format makes a date).
    ``date_only``: a DATE column refused it, which keeps no time of day."""
    text = text.strip()
    if m := _SHEET_DATE.fullmatch(text):
        sep = m[2]
        day, month = ("%m", "%d") if int(m[3]) > 12 else ("%d", "%m")
        fmt = f"{day}{sep}{month}{sep}{'%Y' if len(m[4]) == 4 else '%y'}"
        if (t := m[5]) and date_only:
            return _midnight(text, fmt, text[m.end(4) :])
        if t:
            fmt += f" %H{t}%M{t}%S" if m[6] else f" %H{t}%M"
        return _read_by(text, (fmt,))
    if date_only and (m := _ISO_DATE_TIME.fullmatch(text)):
        return _midnight(text, "%Y-%m-%d", m[1])
    if _SERIAL.fullmatch(text):
        if date_only and text[5:].strip(".,0"):  # 45123,5: noon, which a DATE column loses
            return (
                "; an Excel date serial with a time of day (its fraction): a DATE column keeps "
                "none (a TIMESTAMP does)"
            )
        return '; an Excel date serial? read it with a mapping\'s step { date = ["excel"] }'
    if _HAS_LETTERS.search(text):
        return _read_by(text, _NAMED_DATE_FORMATS)
    return ""


# A date and a time as a database exports a DATETIME: 2008-05-14 00:00:00.
_ISO_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(?::\d{2})?)")


def _midnight(text: str, fmt: str, clock: str) -> str:
    """The hint for a date with a time, refused by a DATE column: a date cell with a date-time
    format writes every date at midnight (``14/05/2008 0:00``), which the time written into
    the format reads as the date alone (the step's time formats made a date/time the column
    refused again); another time would be lost."""
    if clock.strip(" T:.0"):
        return f"; a {clock.strip(' T')!r} time of day: a DATE column keeps none (a TIMESTAMP does)"
    return _read_by(text, (fmt + clock,))


def _read_by(text: str, formats: tuple[str, ...]) -> str:
    """The hint naming the first of ``formats`` the date step reads ``text`` by; none reads
    it: why the first that nearly did refused it (a two-digit year, a wrong day name), or ""."""
    why = ""
    for fmt in formats:
        try:
            date_step((fmt,))(text)
        except StepFailed as exc:
            why = why or str(exc).partition(f"matches none of {fmt} (")[2][:-1]
            continue
        return f'; read it with a mapping\'s step {{ date = ["{fmt}"] }}'
    return f"; {why}" if why else ""


# A number as an Indonesian sheet writes it: 1.234.567,50, 85,5, Rp 1.500.000, 150.000,-, 85,5%.
_SHEET_NUMBER = re.compile(
    r"[+-]?(?:(?:Rp\.?|IDR)\s*[+-]?)?(?:\d{1,3}(?:\.\d{3})+|\d+)(?:,\d*)?(?:,-)?(?:\s*%)?",
    re.IGNORECASE,
)


def sheet_number_hint(v: Value) -> str:
    """The step that reads a number as an Indonesian sheet writes it (decimal comma, dots
    between thousands, a rupiah sign, a percentage), said after a number column refused one
    ("" for anything else)."""
    text = str(v).strip()
    negative = ACCOUNTING_NEGATIVE.fullmatch(text)
    if (ACCOUNTING_ZERO.fullmatch(text) and text != "-") or (
        negative and _SHEET_NUMBER.fullmatch((negative["sign"] or "") + negative["number"])
    ):
        return (
            f"; {'a negative number' if negative else 'zero'} as Excel's Accounting format "
            "shows it? read it with a mapping's step "
            '{ decimal = { decimal_sep = ",", thousands_sep = ".", accounting = true } }'
        )
    if not _SHEET_NUMBER.fullmatch(text):
        return ""
    per = ', percent = "points"' if text.endswith("%") else ""
    return (
        "; a number as an Indonesian sheet writes it? read it with a mapping's step "
        f'{{ decimal = {{ decimal_sep = ",", thousands_sep = "."{per} }} }}'
        + (' (85.5 for 85,5%; "fraction": 0.855)' if per else "")
    )


def _utc_wall_clock(moment: datetime, text: str) -> str:
    """A time that says its offset, for a PostgreSQL ``timestamp without time zone``: its UTC
    time, as every other time the tool writes there (and Rails, Prisma). PostgreSQL itself
    drops the offset: a ``timezone`` step's ``07:00:00+07:00`` was stored as 07:00, a WIB
    wall clock among UTC times, and the step did nothing. Year 1 in UTC (out of Python's
    range) is left to PostgreSQL."""
    try:
        utc = moment.astimezone(UTC).replace(tzinfo=None)
    except OverflowError:
        return text
    return utc.isoformat(sep=" ")


# A database's non-finite number as read: PostgreSQL's text of a float or numeric, Python's of
# a SQLite REAL's infinity (SQLite holds no NaN). A text column's 'nan' (pandas wrote missing
# values so) is no number of the source: it reached a double precision as NaN, through a
# CHECK (x >= 0) (NaN is above every number in PostgreSQL) and into every average.
_NUMBERS_NON_FINITE = frozenset({"NaN", "Infinity", "-Infinity", "inf", "-inf"})


def _pg_non_finite(col: Column, f: float) -> str | None:
    """Infinity, -Infinity or NaN as PostgreSQL writes them, for a PostgreSQL column that holds
    it: a ``real`` or ``double precision`` any, a ``numeric`` NaN (and, without a precision,
    Infinity: PostgreSQL 14+). A legacy table's float Infinity (``inf`` as Python reads it) was
    a rejected row, "not a finite number", though the column holds it. None: the column does
    not (SQLite and D1 columns: a text 'inf' in a REAL column is no number there)."""
    t = col.declared_type.lower()
    floats = t in ("real", "double precision") or t.startswith("float")
    numeric = t.startswith(("numeric", "decimal")) and (f != f or col.precision_scale is None)
    if not col.pg_dates or not (floats or numeric):
        return None
    return "NaN" if f != f else ("Infinity" if f > 0 else "-Infinity")


def _pg_special(text: str, *, timestamp: bool = False) -> str | None:
    """A date or time PostgreSQL takes and ISO 8601 has no room for: ``infinity`` and
    ``-infinity``, or a BC date (``0044-03-15 BC``, as PostgreSQL writes one) whose part before
    `` BC`` is a real date (None: neither)."""
    if _INFINITY.fullmatch(text):
        return text.lower()
    if not text.upper().endswith(" BC"):
        return None
    ad = text[:-3].rstrip()
    try:
        if not _DATE.match(ad[:10]) or (len(ad) > 10 and not timestamp):
            return None
        datetime.fromisoformat(ad) if timestamp else date.fromisoformat(ad)
    except ValueError:
        return None
    return text


_HEX = re.compile(r"(?:[0-9a-fA-F]{2})*")


def _blob(v: Value) -> Value:
    """A BLOB or ``bytea`` column's value: PostgreSQL's ``\\x`` hex text of bytes (as ``--from``
    reads a BLOB, and as psql and pg_dump write a ``bytea``) is those bytes, which a SQLite or
    D1 BLOB column stores as they are (it stored the hex as text); any other value as it is."""
    if isinstance(v, str) and v[:2] == "\\x" and _HEX.fullmatch(v, 2):
        return bytes.fromhex(v[2:])
    return v


# A number written with '.' between groups of three digits, as a sheet in a comma-decimal
# locale writes it: 1.250.000, or 150.000 and 1.500 — one group taken for the thousands when it
# ends in 0 (a program or an English sheet writes 150 and 1.5, no trailing zero; 1.005 and
# 2.675 stay the decimals they read as).
_THOUSANDS = re.compile(r"[+-]?[1-9][0-9]{0,2}(?:\.[0-9]{3}){2,}|[+-]?[1-9][0-9]{0,2}\.[0-9]{2}0")


def _fit_numeric(v: Value, text: str, col: Column, ps: tuple[int, int]) -> str:
    """A number for a ``NUMERIC(p,s)`` column, checked the same on every backend: rounded to
    ``s`` decimals half away from zero on its decimal digits as written (PostgreSQL's rounding:
    1.005 → 1.01, where a float would give 1.00), and refused when it then needs more than
    ``p - s`` digits before the point (PostgreSQL's "numeric field overflow"; SQLite and D1
    would store it as it is)."""
    precision, scale = ps
    d = Decimal(text)
    limit = Decimal(10) ** (precision - scale)
    if d.copy_abs() < limit:
        with localcontext(Context(prec=precision + 2)):
            d = d.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP)
    if d.copy_abs() >= limit:
        room = max(precision - scale, 0)
        raise StepFailed(
            f"{v!r} does not fit {col.declared_type}: at most {room} digit(s) before the "
            f"decimal point (numeric field overflow)"
        )
    return format(d.copy_abs() if d.is_zero() else d, "f")
