"""The transform steps of a mapping (the guide's ``DataTransformer`` as data).

Each step takes a value (text, None for NULL, or what an earlier step made of it) and returns
the new value, or raises :class:`StepFailed` with the reason: a value that fails is a rejected
row, never a guess. NULL passes through every step unchanged (except ``map``/``default``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

Value = object  # str | int | bool | None
StepFn = Callable[[Value], Value]

TRUE_WORDS = ("1", "true", "t", "yes", "y", "ya")
FALSE_WORDS = ("0", "false", "f", "no", "n", "tidak")
_INT = re.compile(r"^[+-]?\d+$")
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
_SPACES = re.compile(r"\s+")
_TIME_DIRECTIVES = ("%H", "%I", "%M", "%S", "%p", "%f", "%X", "%c", "%T", "%R")


class StepFailed(ValueError):
    """A value a step cannot handle; the row is rejected with this reason."""


def _text(step: str, fn: Callable[[str], Value]) -> StepFn:
    def run(v: Value) -> Value:
        if v is None:
            return None
        if not isinstance(v, str):
            raise StepFailed(f"{step}: expects text, got {v!r}")
        return fn(v)

    return run


def _title(s: str) -> str:
    return _WORD.sub(lambda m: m[0][:1].upper() + m[0][1:].lower(), s)


def _null_if_empty(v: Value) -> Value:
    if isinstance(v, str) and not v.strip():
        return None
    return v


def _int(v: Value) -> Value:
    if v is None or (isinstance(v, int) and not isinstance(v, bool)):
        return v
    text = str(v).strip()
    if not _INT.match(text):
        raise StepFailed(f"int: {v!r} is not a whole number")
    return int(text)


def bool_step(true: Sequence[str] = TRUE_WORDS, false: Sequence[str] = FALSE_WORDS) -> StepFn:
    """Words meaning true/false (case-insensitive) → True/False; anything else fails."""
    yes = {w.strip().lower() for w in true}
    no = {w.strip().lower() for w in false}

    def run(v: Value) -> Value:
        if v is None or isinstance(v, bool):
            return v
        word = str(v).strip().lower()
        if word in yes:
            return True
        if word in no:
            return False
        raise StepFailed(f"bool: {v!r} is none of {', '.join(sorted(yes | no))}")

    return run


# Indonesian month names (and old spellings) → the English ones strptime's %B/%b know; the
# names both languages share (April, September, November, Jan, Mar…) need no translation.
# No name means one month in one language and another in the other: nothing is guessed.
_ID_MONTHS = {
    "januari": "January",
    "februari": "February",
    "pebruari": "February",
    "maret": "March",
    "mei": "May",
    "juni": "June",
    "juli": "July",
    "agustus": "August",
    "oktober": "October",
    "nopember": "November",
    "desember": "December",
    "peb": "Feb",
    "agt": "Aug",
    "agu": "Aug",
    "ags": "Aug",
    "sept": "Sep",
    "okt": "Oct",
    "nop": "Nov",
    "des": "Dec",
}
_LETTERS = re.compile(r"[^\W\d_]+")
EXCEL_FORMATS = ("excel", "excel1904")  # Excel's date serials, as a format of the date step
_EXCEL_SERIAL = re.compile(r"\d+(?:\.\d+)?")
# The last day Excel knows, 9999-12-31, in each date system.
_EXCEL_LAST = {"excel": 2958465, "excel1904": 2957003}


def _english_months(text: str) -> str:
    return _LETTERS.sub(lambda m: _ID_MONTHS.get(m[0].lower(), m[0]), text)


def _excel_serial(text: str, system: str) -> tuple[str | None, str]:
    """An Excel date serial → ISO (a date; a date and time when it has a fraction), or
    (None, why) when the text is no serial Excel could have written."""
    if not _EXCEL_SERIAL.fullmatch(text):
        return None, ""
    serial = Decimal(text)
    days = int(serial)
    if system == "excel":
        # Excel's 1900 system counts 29 February 1900, a day that never was (Lotus 1-2-3's
        # bug, kept for compatibility): serial 60 is that day, and from 61 on one day is extra.
        if days == 60:
            return None, f"{system}: serial 60 is 29 February 1900, a day that never was"
        first, base = 1, date(1899, 12, 31) if days < 60 else date(1899, 12, 30)
    else:
        first, base = 0, date(1904, 1, 1)
    if not first <= days <= _EXCEL_LAST[system]:
        return None, f"{system}: {text} is not a date serial ({first} to {_EXCEL_LAST[system]})"
    day = base + timedelta(days=days)
    seconds = round((serial - days) * 86400)
    if not seconds:
        return day.isoformat(), ""
    moment = datetime.combine(day, datetime.min.time()) + timedelta(seconds=seconds)
    return moment.isoformat(timespec="seconds"), ""


def date_step(formats: Sequence[str]) -> StepFn:
    """Parse with each ``strptime`` format in turn → ISO 8601 (``YYYY-MM-DD`` when the formats
    hold no time, ``YYYY-MM-DDTHH:MM:SS`` when they do). ``%B``/``%b`` take Indonesian month
    names too (``16 Juli 2023``, ``16-Agt-2023``). The format ``excel`` (``excel1904``: Excel
    for Mac's old date system) reads Excel's date serials (``45123`` → ``2023-07-16``; with
    a fraction, the time of day too)."""
    fmts = tuple(formats)
    months = any("%b" in f or "%B" in f for f in fmts)

    def run(v: Value) -> Value:
        if v is None:
            return None
        text = str(v).strip()
        named = _english_months(text) if months else text
        why = ""
        for fmt in fmts:
            if fmt in EXCEL_FORMATS:
                iso, no = _excel_serial(text, fmt)
                if iso is not None:
                    return iso
                why = why or no
                continue
            try:
                parsed = datetime.strptime(named if "%b" in fmt or "%B" in fmt else text, fmt)
            except ValueError:
                continue
            if any(d in fmt for d in _TIME_DIRECTIVES):
                return parsed.isoformat(timespec="seconds")
            return parsed.date().isoformat()
        raise StepFailed(
            f"date: {v!r} matches none of {', '.join(fmts)}" + (f" ({why})" if why else "")
        )

    return run


def decimal_step(decimal_sep: str, thousands_sep: str) -> StepFn:
    """A number written with the given separators (Indonesian ``1.234,56``: decimal ``,``,
    thousands ``.``) → ``1234.56``, the digits as written. Thousands separators must group
    by three (``1.5`` with a thousands ``.`` is refused, not read as 15 or 1.5)."""

    def fail(v: Value, why: str) -> StepFailed:
        return StepFailed(
            f"decimal: {v!r} {why} (decimal {decimal_sep!r}, thousands {thousands_sep!r})"
        )

    def digits(s: str) -> bool:
        return s.isascii() and s.isdigit()

    def run(v: Value) -> Value:
        if v is None or (isinstance(v, int) and not isinstance(v, bool)):
            return v
        text = str(v).strip()
        sign = "-" if text[:1] == "-" else ""
        body = text[1:] if text[:1] in "+-" else text
        whole, point, frac = body.partition(decimal_sep)
        if point and not digits(frac):
            raise fail(v, "is not a number")
        if thousands_sep and thousands_sep in whole:
            groups = whole.split(thousands_sep)
            if not digits("".join(groups)):
                raise fail(v, "is not a number")
            if not (1 <= len(groups[0]) <= 3 and all(len(g) == 3 for g in groups[1:])):
                raise fail(v, "has thousands separators out of place")
            whole = "".join(groups)
        if not digits(whole) and not (point and whole == ""):
            raise fail(v, "is not a number")
        return f"{sign}{whole or '0'}" + (f".{frac}" if point else "")

    return run


PHONE_FORMS = ("national", "e164")
_PHONE_NOISE = re.compile(r"[\s\-.()]")


def phone_step(form: str) -> StepFn:
    """A phone number as people write it (``0812-3456-7890``, ``+62 812 3456 7890``,
    ``(021) 555-1234``, ``0062…``) → one form: ``national`` (``081234567890``) or ``e164``
    (``+6281234567890``; a number of another country stays in its own code). A number
    without its leading 0, +62 or 00 (Excel drops the zero of a number cell) is refused:
    ``62…`` or ``8…`` could be either."""

    def run(v: Value) -> Value:
        if v is None:
            return None
        text = str(v).strip()
        if text.startswith("+"):
            text = text.replace("(0)", "", 1)  # "+62 (0)21…": the national 0 shown aside
        compact = _PHONE_NOISE.sub("", text)
        if not (compact.lstrip("+").isascii() and compact.lstrip("+").isdigit()):
            raise StepFailed(f"phone: {v!r} is not a phone number")
        if compact.startswith("+"):
            intl = compact[1:]
        elif compact.startswith("00"):
            intl = compact[2:]
        elif compact.startswith("0"):
            intl = "62" + compact[1:]
        else:
            raise StepFailed(
                f"phone: {v!r} has no leading 0, +62 or 00 (the zero lost by Excel? "
                "store the column as text)"
            )
        if intl.startswith("62"):
            national = intl[2:]
            if national.startswith("0") or not 7 <= len(national) <= 12:
                raise StepFailed(f"phone: {v!r} is not an Indonesian number (0 + 7 to 12 digits)")
            return "0" + national if form == "national" else "+" + intl
        if form == "national" or not 8 <= len(intl) <= 15:
            where = "not Indonesian (+62): it has no national form" if form == "national" else ""
            raise StepFailed(f"phone: {v!r} is {where or 'not a phone number'}")
        return "+" + intl

    return run


# What a spreadsheet writes for a cell it could not show as it was typed: an error value of a
# formula (Excel ``#N/A``, ``#VALUE!``, ``#DIV/0!``… and their translations ``#NILAI!``,
# ``#NAMA?``; LibreOffice ``Err:502``), or a long number in scientific notation (a 16-digit
# NIK shown and saved as ``3.20123E+15``, ``3,20123E+15`` in the Indonesian locale: the
# digits past the sixth are gone). Never data: refused in text and number columns.
_EXCEL_ERROR = re.compile(r"#N/A|#GETTING_DATA|#[A-Z][A-Z/0-9]*[!?]|Err:\d{3}")
_EXCEL_SCIENTIFIC = re.compile(r"[+-]?\d(?:[.,]\d+)?E\+\d{2,3}")
_HASH_WORD = re.compile(r"#[A-Z]")
_EXPONENT = re.compile(r"E\+\d")


def may_hold_excel_damage(text: str) -> bool:
    """Might ``text`` (a whole block of the file) hold such a value? One-character searches
    first (memchr speed): most blocks hold no ``#``, ``+`` or ``:`` at all."""
    return bool(
        ("#" in text and _HASH_WORD.search(text))
        or ("+" in text and _EXPONENT.search(text))
        or (":" in text and "Err:" in text)
    )


def excel_damage(text: str) -> str | None:
    """Why ``text`` is no value but what a spreadsheet wrote in place of one (None: fine)."""
    if not ("#" in text or "E+" in text or "Err:" in text):
        return None
    value = text.strip()
    if _EXCEL_ERROR.fullmatch(value):
        return (
            f"{text!r} is a spreadsheet's error value (a formula that failed in the sheet): "
            "fix the cell, or map it to NULL with the step null_if_error"
        )
    if _EXCEL_SCIENTIFIC.fullmatch(value):
        return (
            f"{text!r} is a number the spreadsheet wrote in scientific notation: its digits "
            "are lost (format the column as Text in the sheet and save the CSV again)"
        )
    return None


def _null_if_error(v: Value) -> Value:
    if isinstance(v, str) and _EXCEL_ERROR.fullmatch(v.strip()):
        return None
    return v


SIMPLE_STEPS: dict[str, StepFn] = {
    "trim": _text("trim", str.strip),
    "lower": _text("lower", str.lower),
    "upper": _text("upper", str.upper),
    "title": _text("title", _title),
    "collapse_spaces": _text("collapse_spaces", lambda s: _SPACES.sub(" ", s)),
    "null_if_empty": _null_if_empty,
    "null_if_error": _null_if_error,
    "int": _int,
    "bool": bool_step(),
}
STEPS_WITH_ARGS = ("date", "bool", "decimal", "phone")
STEP_NAMES = (*SIMPLE_STEPS, "date", "decimal", "phone")


@dataclass(frozen=True)
class ValueMap:
    """``map = {S = "student", …}`` with an optional ``default``; unmapped and no default
    rejects (never a silent NULL)."""

    table: Mapping[str, Value]
    default: Value = None
    has_default: bool = False

    def __call__(self, v: Value) -> Value:
        key = "" if v is None else str(v)
        if key in self.table:
            return self.table[key]
        if self.has_default:
            return self.default
        shown = "an empty value" if key == "" else repr(key)
        raise StepFailed(f"map: {shown} is not mapped ({', '.join(sorted(self.table))})")
