"""A CSV file's bytes against its encoding: the BOMs (UTF-8's skipped; UTF-16's, or UTF-8's
over an ``--encoding`` given, the file's own word), a UTF-8 file given as cp1252 or latin-1
refused with the word it would spoil, the first line holding a byte the encoding cannot decode,
and latin-1's C1 controls, which say the file is cp1252; a workbook or UTF-16 text without its BOM
given as the CSV file, named as what it is. For :mod:`.csvsource`."""

from __future__ import annotations

import codecs
import re
from pathlib import Path

from malnu_tui.engine.data.errors import InputFileError

__all__ = [
    "BOM",
    "C1_BYTE",
    "UTF16_BOMS",
    "c1_error",
    "decode_error",
    "refuse_not_csv",
    "refuse_utf8",
]

BOM = codecs.BOM_UTF8
UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def decode_error(path: Path, encoding: str) -> InputFileError:
    """The first line of ``path`` holding a byte ``encoding`` cannot decode, as an error; or
    its last line, when the file ends in the middle of a character."""
    decoder = codecs.getincrementaldecoder(encoding)()
    utf16 = _is_utf16(encoding)
    number = 1
    with path.open("rb") as fh:
        for number, line in enumerate(fh, 1):
            try:
                decoder.decode(line)
            except UnicodeError as exc:
                if not isinstance(exc, UnicodeDecodeError):  # no BOM for utf-16
                    order = _utf16_order(path.read_bytes()[:512])
                    return InputFileError(
                        str(path),
                        f"not valid {encoding}: {exc}",
                        line=number,
                        hint=f"UTF-16 without its BOM: pass --encoding utf-16-{order[0]}e"
                        if order
                        else "the file is not UTF-16 text: leave --encoding out",
                    )
                byte = exc.object[exc.start : exc.start + 1].hex()
                return InputFileError(
                    str(path),
                    f"not valid {encoding} (byte 0x{byte})",
                    line=number,
                    # A UTF-16 file is not cp1252 for a broken character in it.
                    hint=None
                    if utf16
                    else "pass --encoding cp1252 (Windows/Excel) or --encoding latin-1",
                )
        try:
            decoder.decode(b"", final=True)
        except UnicodeError:
            # A copy or download that stopped part way (a card pulled out, a dropped
            # connection): it said "not valid utf-8" naming no line and giving no reason.
            return InputFileError(
                str(path),
                f"the file ends in the middle of a character (not valid {encoding}): it was "
                "cut short, its last line is not all there",
                line=number,
                hint="copy or download the file again",
            )
    return InputFileError(str(path), f"not valid {encoding}")


# Latin-1's C1 range: control characters no text holds, where cp1252 (what Windows and Excel
# write) has ’ “ ” … € and the like. Read as latin-1 they were stored as invisible controls.
C1_BYTE = re.compile(rb"[\x80-\x9f]")


def refuse_utf8(path: Path, head: bytes, asked: str, encoding: str, line: int = 1) -> None:
    """A file given as ``encoding`` (cp1252, latin-1…) whose first bytes beyond ASCII are
    UTF-8: UTF-8 (no legacy text reads so by chance). Read as asked, ``José`` would be stored
    as ``JosÃ©``. ``head``: the file's first bytes, or the line (``line``) that holds them."""
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return
    at = next(i for i, ch in enumerate(text) if not ch.isascii())
    word = re.findall(r"[^\s,;|]*$", text[:at])[0] + re.findall(r"^[^\s,;|]*", text[at:])[0]
    raise InputFileError(
        str(path),
        f"the file is UTF-8, not {asked}: {word!r} would be read as "
        f"{word.encode('utf-8').decode(encoding, errors='replace')!r}",
        line=line + text.count("\n", 0, at),
        hint="leave --encoding out (UTF-8 is the default)",
    )


def c1_error(path: str, byte: int, line: int) -> InputFileError:
    """A latin-1 file holding C1 control ``byte`` on ``line``: the file is cp1252."""
    shown = bytes([byte]).decode("cp1252", errors="replace")
    return InputFileError(
        path,
        f"byte 0x{byte:02x} is a control character in latin-1 ({shown!r} in cp1252): "
        "the file is cp1252 (Windows, Excel), not latin-1",
        line=line,
        hint="pass --encoding cp1252",
    )


_SAVE_AS_CSV = (
    "open it in the spreadsheet and save it as CSV (Excel: File → Save As → "
    "'CSV UTF-8 (Comma delimited)'; LibreOffice: File → Save As → 'Text CSV'), "
    "then import that file"
)


def refuse_not_csv(path: Path, head: bytes, encoding: str | None) -> None:
    """A file that is no CSV text, named as what it is before it is read as one: an Excel
    workbook (``.xlsx``, a zip; ``.xls``, an OLE2 file) or an OpenDocument sheet picked instead
    of its CSV export, and UTF-16 text without its BOM (a NUL beside every ASCII letter). Read
    as text they failed on a byte "not valid utf-8", with ``--encoding cp1252`` as the hint,
    which then read the workbook's bytes as a header of garbage."""
    what = ""
    if head.startswith(b"PK\x03\x04"):
        if b"mimetypeapplication/vnd.oasis.opendocument.spreadsheet" in head[:200]:
            what = "an OpenDocument spreadsheet (.ods)"
        elif b"xl/" in head or b"[Content_Types].xml" in head:
            what = "an Excel workbook (.xlsx)"
        else:
            what = "a zip file"
    elif head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        what = "an Excel 97-2003 workbook (.xls)"
    if what:
        raise InputFileError(str(path), f"the file is {what}, not a CSV file", hint=_SAVE_AS_CSV)
    if head.startswith(UTF16_BOMS) or (encoding is not None and _is_utf16(encoding)):
        return
    if order := _utf16_order(head[:512]):
        raise InputFileError(
            str(path),
            f"the file is UTF-16 ({order}-endian) text without its BOM, not UTF-8",
            line=1,
            hint=f"pass --encoding utf-16-{order[0]}e",
        )


def _utf16_order(sample: bytes) -> str | None:
    """ "little" or "big" when ``sample`` (a file's first bytes) is UTF-16 text without its BOM:
    a sheet's text is mostly ASCII, its high bytes NUL, its low bytes not (None: it is not)."""
    half = len(sample) // 2
    if half < 4:
        return None
    for order, zeros, other in (
        ("little", sample[1::2], sample[0::2]),
        ("big", sample[0::2], sample[1::2]),
    ):
        if zeros.count(0) >= 0.9 * half and other.count(0) <= 0.1 * half:
            return order
    return None


def _is_utf16(encoding: str) -> bool:
    """Is ``encoding`` a name of UTF-16 (``utf-16``, ``UTF16LE``, ``utf_16_be``…)?"""
    try:
        return codecs.lookup(encoding).name.startswith("utf-16")
    except LookupError:
        return False
