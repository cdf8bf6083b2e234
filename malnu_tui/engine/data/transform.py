"""The transform steps of a mapping (the guide's ``DataTransformer`` as data).

Each step takes a value (text, None for NULL, or what an earlier step made of it) and returns
the new value, or raises :class:`StepFailed` with the reason: a value that fails is a rejected
row, never a guess. NULL passes through every step unchanged (except ``map``/``default``).
The date and time steps are :mod:`malnu_tui.engine.data.dates`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from malnu_tui.engine.data.cells import null_if_error, strip_apostrophe, trimmed, undo_cp1252

Value = object  # str | int | bool | None
StepFn = Callable[[Value], Value]

# BENAR/SALAH: TRUE and FALSE as Excel, Google Sheets and LibreOffice in Indonesian write them.
# A lone "t" is not among them: it is "true" beside "f" (PostgreSQL's t/f) and "tidak" beside
# "y" (the Y/T of Indonesian forms), and which a file means is for the mapping to say.
TRUE_WORDS = ("1", "true", "yes", "y", "ya", "benar")
FALSE_WORDS = ("0", "false", "f", "no", "n", "tidak", "salah")
AMBIGUOUS_T = (
    "is true (T/F, as PostgreSQL writes it) or tidak (Y/T, as Indonesian forms write it)? "
    'say which with a mapping\'s step { bool = { true = ["y"], false = ["t"] } } or '
    '{ bool = { true = ["t"], false = ["f"] } }'
)
_INT = re.compile(r"^[+-]?\d+$")
# A word of letters, an apostrophe inside counted in (O'Brien, Jum'at).
WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
_SPACES = re.compile(r"\s+")


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
    return WORD.sub(lambda m: m[0][:1].upper() + m[0][1:].lower(), s)


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


def bool_step(true: Sequence[str] | None = None, false: Sequence[str] | None = None) -> StepFn:
    """Words meaning true/false (case-insensitive, spaces inside counted as one: ``Tidak
    Aktif`` with an NBSP from Excel) → True/False; anything else fails. Without words, the
    default ones (:data:`TRUE_WORDS`, :data:`FALSE_WORDS`), which refuse a lone ``t``."""
    yes = {_one_word(w) for w in (TRUE_WORDS if true is None else true)}
    no = {_one_word(w) for w in (FALSE_WORDS if false is None else false)}
    default = true is None and false is None

    def run(v: Value) -> Value:
        if v is None or isinstance(v, bool):
            return v
        word = _one_word(str(v))
        if word in yes:
            return True
        if word in no:
            return False
        if default and word == "t":
            raise StepFailed(f"bool: {v!r} {AMBIGUOUS_T}")
        hint = bool_hint(v)
        raise StepFailed(
            f"bool: {v!r} is none of {', '.join(sorted(yes | no))}"
            + (f"; another word: say what it means, {hint}" if hint else "")
        )

    return run


def _one_word(text: str) -> str:
    return " ".join(text.split()).lower()


def bool_hint(v: Value) -> str:
    """The step that says what another word means (``Aktif``/``Tidak Aktif``), shown after
    a refusal of it ("" for an empty value)."""
    word = _one_word(str(v)).replace('"', "")
    return f'"{word}" in {{ bool = {{ true = […], false = […] }} }}' if word else ""


def null_if_step(values: Sequence[str]) -> StepFn:
    """Any of ``values`` (as the text is, after the steps before) → NULL: MySQL's zero dates,
    a legacy system's ``-`` or ``N/A`` for "none"; any other value as it is."""
    none = frozenset(values)

    def run(v: Value) -> Value:
        return None if isinstance(v, str) and v in none else v

    return run


# A sum of money as Indonesian sheets write it: "Rp 1.000", "Rp1.000.000,00", "IDR 150.000",
# "-Rp 5.000" (Excel's currency format), "Rp 150.000,-" (typed by hand). Rupiah only: another
# currency's sign is no number.
_RUPIAH = re.compile(
    r"(?P<sign>[+-]?)(?:(?:Rp\.?|IDR)\s*(?P<sign2>[+-]?))?(?P<body>.+)", re.IGNORECASE
)


PERCENT_FORMS = ("points", "fraction")
# Excel's Accounting format (a treasurer's fee sheet) shows zero as a dash, "Rp -" (padded with
# spaces), and in its English form a negative number in parentheses with the sign at the cell's
# left edge, "Rp (5.000)" (a currency format's "(Rp 5.000)" alike); a CSV file holds what the
# cell shows.
ACCOUNTING_ZERO = re.compile(r"(?:(?:Rp\.?|IDR)\s*)?-", re.IGNORECASE)
ACCOUNTING_NEGATIVE = re.compile(
    r"(?P<sign>(?:Rp\.?|IDR)\s*)?\((?P<number>[^()]+)\)", re.IGNORECASE
)


def decimal_step(
    decimal_sep: str,
    thousands_sep: str,
    *,
    percent: str | None = None,
    accounting: bool = False,
) -> StepFn:
    """A number written with the given separators (Indonesian ``1.234,56``: decimal ``,``,
    thousands ``.``) → ``1234.56``, the digits as written. Thousands separators must group
    by three (``1.5`` with a thousands ``.`` is refused, not read as 15 or 1.5). A rupiah
    sign before it is read (``Rp 1.000``, ``Rp1.000.000,00``, ``IDR 150.000``, ``-Rp 5.000``),
    and ``150.000,-`` is whole rupiah. A percentage (``85,5%``, a cell Excel formats as one)
    is read only as ``percent`` says: ``points`` → ``85.5``, ``fraction`` → ``0.855`` (the
    cell's value); without it, refused (which one the column holds is for the mapping).
    ``accounting``: the column is in Excel's Accounting format, its zero ``Rp -`` → ``0`` and
    ``Rp (5.000)`` (or ``(Rp 5.000)``) → ``-5000``; without it they are refused, naming the
    option."""

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
        zero = ACCOUNTING_ZERO.fullmatch(text)
        negative = None if zero else ACCOUNTING_NEGATIVE.fullmatch(text)
        if (zero or negative) and not accounting:
            if text == "-":
                raise fail(
                    v,
                    "is a dash: zero as Excel's Accounting format shows it (say so with "
                    'accounting = true in the step) or "no value" (["trim", { null_if = ["-"] '
                    "}] before the step)?",
                )
            what = "a negative number" if negative else "zero"
            raise fail(
                v,
                f"is {what} as Excel's Accounting format shows it: say so with accounting = "
                "true in the step",
            )
        if zero:
            return "0"
        if negative:  # "Rp (5.000)" and "(Rp 5.000)" → "-Rp 5.000"
            text = "-" + (negative["sign"] or "") + negative["number"].strip()
        per_cent = text.endswith("%")
        if per_cent and percent is None:
            raise StepFailed(
                f'decimal: {v!r} is a percentage: say which number to store, percent = "points" '
                f'(85.5 for 85{decimal_sep}5%) or percent = "fraction" (0.855), in the step'
            )
        m = _RUPIAH.fullmatch(text[:-1].rstrip() if per_cent else text)
        if m is None or (m["sign"] and m["sign2"]) or (per_cent and m["sign2"] is not None):
            raise fail(v, "is not a number")
        sign = "-" if "-" in m["sign"] + (m["sign2"] or "") else ""
        body = m["body"]
        if body.endswith(decimal_sep + "-"):  # "150.000,-": whole rupiah, as written by hand
            body = body[:-2]
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
        number = f"{sign}{whole or '0'}" + (f".{frac}" if point else "")
        if per_cent and percent == "fraction":
            return format(Decimal(number).scaleb(-2), "f")
        return number

    return run


PHONE_FORMS = ("national", "e164")
_PHONE_NOISE = re.compile(r"[\s\-.()]")


def phone_step(form: str, *, leading_zero_lost: bool = False) -> StepFn:
    """A phone number as people write it (``0812-3456-7890``, ``+62 812 3456 7890``,
    ``(021) 555-1234``, ``0062…``) → one form: ``national`` (``081234567890``) or ``e164``
    (``+6281234567890``; a number of another country stays in its own code). A number
    without its leading 0, +62 or 00 (Excel drops the zero of a number cell) is refused:
    ``62…`` or ``8…`` could be either. ``leading_zero_lost``: the operator says the column
    was a number cell, so ``81234567890`` is ``081234567890``; ``62…`` stays refused (a +62
    number whose + Excel dropped, or an 062… area code: which is not for us to say)."""

    def run(v: Value) -> Value:
        if v is None:
            return None
        text = _unmarked(str(v).strip())
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
        elif leading_zero_lost and not compact.startswith("62"):
            intl = "62" + compact
        elif leading_zero_lost:
            raise StepFailed(
                f"phone: {v!r} could be +62 without its + or 0{compact[:3]}… without its 0: "
                "write the number with +62 or 0 in the sheet"
            )
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


def _unmarked(text: str) -> str:
    """An identifier or phone number without the ``'`` an export put before it so that Excel
    would keep its leading zeros (``'0051234567``): Excel keeps such a mark as part of the
    text of a CSV file's cell, and saves it again. Neither a number nor an identifier starts
    with one."""
    return text[1:].lstrip() if text[:1] == "'" else text


def digits_step(length: int, *, leading_zeros_lost: bool = False) -> StepFn:
    """An identifier of exactly ``length`` digits (NISN 10, NIK 16, NPSN 8), kept as text
    with its leading zeros; anything else is refused, a shorter one named as what Excel does
    to a number cell. ``leading_zeros_lost``: the operator says the column was a number cell,
    so the zeros it dropped are put back (``12345678`` → ``0012345678``); exact for an
    identifier of fixed length, since only leading zeros are ever lost that way."""

    def run(v: Value) -> Value:
        if v is None:
            return None
        text = _unmarked(str(v).strip())
        if not (text.isascii() and text.isdigit()):
            raise StepFailed(f"digits: {v!r} is not {length} digits")
        if len(text) < length and leading_zeros_lost:
            return text.zfill(length)
        if len(text) < length:
            raise StepFailed(
                f"digits: {v!r} has {len(text)} digits, not {length} (its leading zeros dropped "
                "by Excel? format the column as Text, or say leading_zeros_lost = true)"
            )
        if len(text) > length:
            raise StepFailed(f"digits: {v!r} has {len(text)} digits, not {length}")
        return text

    return run


SIMPLE_STEPS: dict[str, StepFn] = {
    "trim": _text("trim", trimmed),
    "lower": _text("lower", str.lower),
    "upper": _text("upper", str.upper),
    "title": _text("title", _title),
    "collapse_spaces": _text("collapse_spaces", lambda s: _SPACES.sub(" ", s)),
    "null_if_empty": _null_if_empty,
    "null_if_error": null_if_error,
    "strip_apostrophe": _text("strip_apostrophe", strip_apostrophe),
    "undo_cp1252": _text("undo_cp1252", undo_cp1252),
    "int": _int,
    "bool": bool_step(),
}
STEPS_WITH_ARGS = ("date", "bool", "decimal", "phone", "digits", "null_if", "timezone")
STEP_NAMES = (*SIMPLE_STEPS, "date", "decimal", "phone", "digits", "null_if", "timezone")


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
