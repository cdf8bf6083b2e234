"""What a spreadsheet leaves in a cell besides its value: an error value, a formula, a
number in scientific notation or with Excel's text mark ' before it (never data: refused in
text and number columns), and the invisible characters around a value (a zero-width space, a
BOM, pasted from a web page or a chat) that ``str.strip`` keeps. :mod:`.transform`'s steps
and :mod:`.rows`' key checks use it."""

from __future__ import annotations

import re

# Characters that show as nothing (zero-width space, non-joiner, joiner, word joiner, the
# BOM as a zero-width no-break space): not whitespace to str.strip, so "0051234567\u200b"
# kept one, and the key it was part of matched no row stored without it.
INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff"
# What str.strip() removes (every character str.isspace() is true of), and those: one strip
# with the characters named is also half the cost of two checks on an import's key column.
AROUND = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000" + INVISIBLE
)


def trimmed(text: str) -> str:
    """``text`` without the spaces (an NBSP, a tab) and invisible characters around it."""
    return text.strip(AROUND)


def padded_at(text: str) -> tuple[bool, bool]:
    """Whether ``text`` starts, and whether it ends, with a space or an invisible character."""
    return (text[:1] in AROUND and text != "", text[-1:] in AROUND and text != "")


def is_padded(v: object) -> bool:
    """Is ``v`` a text with a space or an invisible character around it (what the step trim
    removes)?"""
    return isinstance(v, str) and v != v.strip(AROUND)


# What a spreadsheet writes for a cell it could not show as it was typed: an error value of a
# formula (Excel ``#N/A``, ``#VALUE!``, ``#DIV/0!``… and their translations ``#NILAI!``,
# ``#NAMA?``; LibreOffice ``Err:502``), or a long number in scientific notation (a 16-digit
# NIK shown and saved as ``3.20123E+15``, ``3,20123E+15`` in the Indonesian locale: the
# digits past the sixth are gone). Never data: refused in text and number columns.
_EXCEL_ERROR = re.compile(
    r"#(?:N/A|NULL!|DIV/0!|VALUE!|REF!|NAME\?|NUM!|GETTING_DATA|SPILL!|CALC!|FIELD!|BLOCKED!"
    r"|CONNECT!|BUSY!|UNKNOWN!|EXTERNAL!|PYTHON!|ERROR!|NILAI!|NAMA\?|ANGKA!)|Err:\d{3}"
)  # a list, not a shape: "#SEMANGAT!" in a student's motto is text
_EXCEL_SCIENTIFIC = re.compile(r"[+-]?\d(?:[.,]\d+)?E\+\d{2,3}")
# A formula saved as such (LibreOffice's "save cell formulas instead of calculated values"):
# =SUM(B2:B9), =VLOOKUP(…), =B2*2 — its value is not in the file.
_FORMULA = re.compile(r"=\$?(?:[A-Za-z_][A-Za-z0-9_.]*\(|[A-Z]{1,3}\$?[0-9]+).*", re.S)
_FORMULA_START = re.compile(r"=\$?[A-Za-z_]")
_HASH_WORD = re.compile(r"#[A-Z]")
_EXPONENT = re.compile(r"E\+\d")
# A number, an identifier, a phone number or a date with the ' that old school systems write
# before it so that Excel keeps it as text ('0051234567, '14/05/2008): Excel keeps the mark as
# part of a CSV file's cell, shows it and saves it again. A TEXT column stored NISN
# "'0051234567". Not a name ('Ainun), which no digit follows.
_MARKED_NUMBER = re.compile(r"'[+-]?\d+(?:[ .,/:-]\d+)*")
_MARK = re.compile(r"'[+-]?\d")


def may_hold_excel_damage(text: str) -> bool:
    """Might ``text`` (a whole block of the file) hold such a value? One-character searches
    first (memchr speed): most blocks hold no ``#``, ``+``, ``:`` or ``=`` at all."""
    return bool(
        ("#" in text and _HASH_WORD.search(text))
        or ("+" in text and _EXPONENT.search(text))
        or (":" in text and "Err:" in text)
        or ("=" in text and _FORMULA_START.search(text))
        or ("'" in text and _MARK.search(text))
    )


def excel_damage(text: str) -> str | None:
    """Why ``text`` is no value but what a spreadsheet wrote in place of one (None: fine)."""
    if not ("#" in text or "E+" in text or "Err:" in text or "=" in text or "'" in text):
        return None
    value = text.strip()
    if _MARKED_NUMBER.fullmatch(value):
        return (
            f"{text!r} starts with ', the mark an export puts before a number or a date so "
            "that Excel keeps it as text (Excel saves it as part of the cell): read it with a "
            "mapping's step strip_apostrophe (digits and phone read it too)"
        )
    if _FORMULA.fullmatch(value):
        return (
            f"{text!r} is a formula, not its value (the sheet was saved with its formulas: "
            "save the CSV with the values)"
        )
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


def strip_apostrophe(text: str) -> str:
    """A number with Excel's text mark before it (``'0051234567``, `` '+62 812…``) without
    the mark (and the spaces around it); any other text as it is: ``'Ainun`` is a name."""
    value = text.strip()
    return value[1:] if _MARKED_NUMBER.fullmatch(value) else text


# UTF-8 text read as cp1252 and saved again: a UTF-8 CSV file without its BOM opened in Excel
# (which reads it as cp1252) and saved as "CSV UTF-8" holds "JosÃ©" for José, "â€œ" for “.
# Each such run is a UTF-8 sequence's bytes shown as cp1252 characters: a lead and the
# continuation bytes 0x80-0xBF as cp1252 shows them (€ ‚ ƒ „ … † ‡ ˆ ‰ Š ‹ Œ Ž ' ' " " • – —
# ˜ ™ š › œ ž Ÿ, the five bytes cp1252 leaves undefined as Windows passes them through, and
# U+00A0-U+00BF); the run is checked to decode as UTF-8 too. The leads are those of Latin
# letters (Â Ã Ä Å: é, ü, ā, ś…), Arabic script (Ø Ù Ú Û) and punctuation, € and ™ (â): a
# block of the file holding none of them (an accented name's own é) is passed at C speed.
_LEADS = "\u00c2\u00c3\u00c4\u00c5\u00d8\u00d9\u00da\u00db"
_CONT = (
    "\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc"
    "\u2013\u2014\u2018-\u201a\u201c-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a\u20ac\u2122"
)
_SPOILED = re.compile(f"[{_LEADS}][{_CONT}]|\u00e2[{_CONT}]{{2}}")
_UNDEFINED_1252 = {chr(b): bytes([b]) for b in (0x81, 0x8D, 0x8F, 0x90, 0x9D)}


def _as_utf8(run: str) -> str | None:
    """The text a run of cp1252 characters was, read as UTF-8 (None: it was no UTF-8)."""
    try:
        data = b"".join(_UNDEFINED_1252.get(c) or c.encode("cp1252") for c in run)
        return data.decode("utf-8")
    except UnicodeError:
        return None


def spoiled(text: str) -> str | None:
    """Why ``text`` is UTF-8 text read as cp1252 and saved again (None: it is not)."""
    if text.isascii():
        return None
    for m in _SPOILED.finditer(text):
        if (was := _as_utf8(m[0])) is not None:
            return (
                f"{text!r} holds {m[0]!r}, which is {was!r} read as cp1252 and saved again (the "
                "file, UTF-8 without a BOM, was opened in Excel and saved): import the file as "
                "it was exported, or read the column with a mapping's step undo_cp1252"
            )
    return None


def may_be_spoiled(text: str) -> bool:
    """Might ``text`` (a whole block of the file) hold such a run? One-character searches
    first (C speed): most blocks hold none of the leads."""
    return (
        not text.isascii()
        and any(lead in text for lead in _LEAD_CHARS)
        and _SPOILED.search(text) is not None
    )


_LEAD_CHARS = (*_LEADS, "\u00e2")


def undo_cp1252(text: str) -> str:
    """``text`` with each run of UTF-8 read as cp1252 read back (``JosÃ©`` → ``José``, ``â€œ``
    → ``“``); the rest, a name written with its own é, as it is."""
    if text.isascii():
        return text
    return _SPOILED.sub(lambda m: _as_utf8(m[0]) or m[0], text)


def null_if_error(v: object) -> object:
    if isinstance(v, str) and _EXCEL_ERROR.fullmatch(v.strip()):
        return None
    return v
