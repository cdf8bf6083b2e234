"""The date and time steps of a mapping: a date as a sheet writes it (``strptime`` formats
with Indonesian month and day names, Excel's date serials, WIB/WITA/WIT after a time), MySQL's
"zero date" named in a refusal, and a local time given the offset it had in its zone."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta, tzinfo
from decimal import Decimal

from malnu_tui.engine.data.transform import WORD, StepFailed, StepFn, Value

__all__ = ["EXCEL_FORMATS", "date_step", "timezone_step", "zero_date_hint"]

_TIME_DIRECTIVES = ("%H", "%I", "%M", "%S", "%p", "%f", "%X", "%c", "%T", "%R")

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
# Indonesian day names (for %A/%a): "Senin, 5 Januari 2025". Jum'at is written with and
# without its apostrophe; Ahad is Sunday's other name.
_ID_DAYS = {
    "senin": "Monday",
    "selasa": "Tuesday",
    "rabu": "Wednesday",
    "kamis": "Thursday",
    "jumat": "Friday",
    "jum'at": "Friday",
    "sabtu": "Saturday",
    "minggu": "Sunday",
    "ahad": "Sunday",
    "sen": "Mon",
    "sel": "Tue",
    "rab": "Wed",
    "kam": "Thu",
    "jum": "Fri",
    "sab": "Sat",
    "min": "Sun",
}
_ID_DAY_NAMES = ("Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu", "Minggu")
EXCEL_FORMATS = ("excel", "excel1904")  # Excel's date serials, as a format of the date step
_EXCEL_SERIAL = re.compile(r"\d+(?:[.,]\d+)?")  # 45123,5: Excel in the Indonesian locale
# The last day Excel knows, 9999-12-31, in each date system.
_EXCEL_LAST = {"excel": 2958465, "excel1904": 2957003}


def _english_names(text: str, months: bool, days: bool) -> str:
    """Indonesian month names (``months``) and day names (``days``) → English ones."""

    def one(m: re.Match[str]) -> str:
        word = m[0].lower()
        return (months and _ID_MONTHS.get(word)) or (days and _ID_DAYS.get(word)) or m[0]

    return WORD.sub(one, text)


def _excel_serial(text: str, system: str) -> tuple[str | None, str]:
    """An Excel date serial → ISO (a date; a date and time when it has a fraction), or
    (None, why) when the text is no serial Excel could have written."""
    if not _EXCEL_SERIAL.fullmatch(text):
        return None, ""
    serial = Decimal(text.replace(",", "."))
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


# Zone names a sheet writes after a time, as their offsets: Indonesia's three, and UTC.
_ZONE_OFFSETS = {"wib": "+0700", "wita": "+0800", "wit": "+0900", "utc": "+0000", "gmt": "+0000"}
_ZONE_WORD = re.compile(r"\b(WIB|WITA|WIT|UTC|GMT|Z)\s*\Z", re.IGNORECASE)


def _zone_offset(text: str) -> str:
    """A time's zone name at its end (``07:00 WIB``) as its offset (``07:00 +0700``), for a
    format's ``%Z``, which ``strptime`` reads by this machine's zone names and then drops:
    ``07:00 WIB`` was 07:00 without a zone on a jump box set to WIB (a timestamptz took it as
    UTC) and no time at all on one in UTC. Another name is left: the format then fails."""
    return _ZONE_WORD.sub(lambda m: _ZONE_OFFSETS.get(m[1].lower(), "+0000"), text)


def date_step(formats: Sequence[str]) -> StepFn:
    """Parse with each ``strptime`` format in turn → ISO 8601 (``YYYY-MM-DD`` when the formats
    hold no time, ``YYYY-MM-DDTHH:MM:SS`` when they do). ``%B``/``%b`` take Indonesian month
    names too (``16 Juli 2023``, ``16-Agt-2023``). The format ``excel`` (``excel1904``: Excel
    for Mac's old date system) reads Excel's date serials (``45123`` → ``2023-07-16``; with
    a fraction, the time of day too). ``%Z`` reads WIB, WITA, WIT, UTC and GMT as their
    offsets, on any machine, and the time keeps its offset (``…T07:00:00+07:00``)."""
    fmts = tuple(formats)
    months = any("%b" in f or "%B" in f for f in fmts)
    days = any("%a" in f or "%A" in f for f in fmts)

    def run(v: Value) -> Value:
        if v is None:
            return None
        text = str(v).strip()
        named = _english_names(text, months, days) if months or days else text
        why = ""
        for fmt in fmts:
            if fmt in EXCEL_FORMATS:
                iso, no = _excel_serial(text, fmt)
                if iso is not None:
                    return iso
                why = why or no
                continue
            given = named if "%b" in fmt or "%B" in fmt or "%a" in fmt or "%A" in fmt else text
            if "%Z" in fmt:
                zoned, fmt = _zone_offset(given), fmt.replace("%Z", "%z")
                if zoned == given:
                    why = why or (
                        "no WIB, WITA, WIT, UTC or GMT after the time for %Z; another zone: "
                        "its offset, with %z"
                    )
                given = zoned
            try:
                parsed = datetime.strptime(given, fmt)
            except ValueError:
                why = why or _month_name_length(given, fmt)
                continue
            # A two-digit year: strptime reads 30-68 as 2030-2068, Excel (which wrote it) and
            # Windows as 1930-1968 — a parent born in 1968 would be born in 2068. Refused where
            # the two disagree; both read 00-29 as 20xx and 69-99 as 19xx.
            if "%y" in fmt and 2030 <= parsed.year <= 2068:
                why = why or (
                    f"a two-digit year: {parsed.year % 100:02d} is {parsed.year} or "
                    f"{parsed.year - 100}? write the year in four digits"
                )
                continue
            # strptime reads a day name and does not check it: "Senin, 5 Januari 2025" (a
            # Sunday) has a wrong day or a wrong date, and which one is not for us to say.
            if ("%a" in fmt or "%A" in fmt) and time.strptime(given, fmt).tm_wday != (
                parsed.weekday()
            ):
                day = _ID_DAY_NAMES[parsed.weekday()]
                why = why or f"a wrong day name: {parsed.date().isoformat()} is a {day}"
                continue
            if any(d in fmt for d in _TIME_DIRECTIVES):
                return parsed.isoformat(timespec="seconds")
            return parsed.date().isoformat()
        raise StepFailed(
            f"date: {v!r} matches none of {', '.join(fmts)}"
            + (f" ({why})" if why else "")
            + zero_date_hint(text)
        )

    return run


def _month_name_length(text: str, fmt: str) -> str:
    """Why ``fmt`` did not read ``text`` when it is the month name's length: ``%B`` reads
    full names (Agustus), ``%b`` short ones (Agu, Agt); "" otherwise."""
    for has, other, what in (("%B", "%b", "a short"), ("%b", "%B", "a full")):
        if has in fmt and other not in fmt:
            try:
                datetime.strptime(text, fmt.replace(has, other))
            except ValueError:
                continue
            return f"{what} month name: {other} reads it, not {has}"
    return ""


def zero_date_hint(text: str) -> str:
    """What to do with MySQL's "zero date" (``0000-00-00``, ``0000-00-00 00:00:00``: MySQL's
    "no date", which no other database takes) — said after the refusal of one ("" else)."""
    if not _ZERO_DATE.fullmatch(text.strip()):
        return ""
    return f'; MySQL\'s "zero date" (no date): make it NULL with {{ null_if = ["{text.strip()}"] }}'


_ZERO_DATE = re.compile(r"0000-00-00(?:[ T]00:00:00(?:\.0+)?)?")


def timezone_step(zone: tzinfo) -> StepFn:
    """A date/time written without its offset (a legacy app's local time, WIB) → the same
    text with the offset it had in ``zone`` (``2019-07-15 08:00:00`` in Asia/Jakarta →
    ``2019-07-15 08:00:00+07:00``; a date alone is its midnight there). A value that says its
    offset already is left as it is; a local time a clock change skipped or repeated (not in
    WIB, WITA or WIT) is refused rather than guessed."""

    def run(v: Value) -> Value:
        if v is None:
            return None
        text = str(v).strip()
        try:
            if len(text) < 10 or not _ISO_DATE.match(text):
                raise ValueError
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise StepFailed(
                f"timezone: {v!r} is no ISO 8601 date/time (read it with a date step first)"
            ) from None
        if moment.tzinfo is not None:
            return text
        if len(text) == 10:
            text += "T00:00:00"
        first, second = moment.replace(tzinfo=zone), moment.replace(tzinfo=zone, fold=1)
        offset = first.utcoffset()
        if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != moment:
            raise StepFailed(f"timezone: {text} never was in {zone} (a clock set forward)")
        if offset != second.utcoffset():
            raise StepFailed(f"timezone: {text} was twice in {zone} (a clock set back): which?")
        assert offset is not None
        minutes = int(offset.total_seconds()) // 60
        sign, minutes = ("-", -minutes) if minutes < 0 else ("+", minutes)
        return f"{text}{sign}{minutes // 60:02d}:{minutes % 60:02d}"

    return run


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
