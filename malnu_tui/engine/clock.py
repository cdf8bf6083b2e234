"""Times told to operators and typed by them: the UTC time the tool works in, this machine's
local time, and the times an operator types (``recover --to``, ``history --since``, D1 bookmarks).

Times typed without a zone (``recover --to "2026-11-24 01:55"``) are read as UTC (a contract);
an operator in WIB (UTC+7) who meant local time would restore 7 hours off. Plans echo the time
on this machine's clock, so the difference is seen before the confirmation word is typed."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from malnu_tui.engine.errors import ConfigError

__all__ = [
    "json_time",
    "json_times",
    "local_offset",
    "local_time_line",
    "parse_iso",
    "parse_time",
    "parse_when",
    "refuse_future",
]


def _offset_text(offset: timedelta) -> str:
    sign, rest = ("+" if offset >= timedelta(0) else "-"), abs(offset)
    hours, minutes = divmod(int(rest.total_seconds()) // 60, 60)
    return f"{sign}{hours:02d}:{minutes:02d}"


def local_offset(when: datetime | None = None) -> str:
    """This machine's UTC offset at ``when`` (default now) as typed after a time: ``+07:00``."""
    local = (when or datetime.now().astimezone()).astimezone()
    return _offset_text(local.utcoffset() or timedelta(0))


# Indonesia's zones: a server kept in UTC is read by operators on one of these clocks.
_ZONES = (("WIB", 7), ("WITA", 8), ("WIT", 9))


def local_time_line(utc: str) -> str | None:
    """A plan line giving the ISO 8601 time ``utc`` on this machine's clock; on a machine kept
    in UTC, on Indonesia's clocks: there a school's time typed without its zone (08:00 WIB
    meant, 08:00 UTC read, 15:00 WIB) was said as `…T08:00:00+00:00` alone, and a recover
    to 7 hours after the time meant (after the bad deploy) was confirmed as that."""
    when = datetime.fromisoformat(utc)
    local = when.astimezone()
    offset = local.utcoffset() or timedelta(0)
    if not offset:
        day = when.astimezone(timezone(timedelta(hours=7)))
        # (WITA's or WIT's date where it is not WIB's: 16:30 UTC is 23:30 WIB, and 00:30 WITA,
        # 01:30 WIT of the next day: a night's deploy was read a day early in Makassar)
        shown = []
        for name, hours in _ZONES:
            t = when.astimezone(timezone(timedelta(hours=hours)))
            form = "%H:%M:%S" if t.date() == day.date() else "%Y-%m-%d %H:%M:%S"
            shown.append(f"{t:{form}} {name}")
        wib, *rest = shown
        return (
            f"That is {day:%Y-%m-%d} {wib} ({', '.join(rest)}); this machine's clock is UTC, "
            "and a time given without a zone is read as UTC."
        )
    zone = f"UTC{_offset_text(offset)}"
    name = local.tzname() or ""
    if name and name != zone and not name.startswith(("+", "-")):
        zone = f"{name}, {zone}"
    return (
        f"That is {local:%Y-%m-%d %H:%M:%S} here ({zone}, this machine's local time); "
        "a time given without a zone is read as UTC."
    )


def refuse_future(when: datetime, now: datetime, said: str) -> None:
    """:class:`ConfigError` when ``when`` is past ``now`` (a second's grace): ``said`` is the
    time as the message names it. A WIB time of a moment ago typed without its zone reads as
    7 hours ahead, so the message gives the UTC time now and the zone rule."""
    if when > now + timedelta(seconds=1):
        offset = local_offset()
        # On a machine kept in UTC (a server's usual clock), "add +00:00" changes nothing: the
        # time was read on another clock (the operator's, WIB's), so say those offsets.
        add = (
            f"for this machine's local time add its offset ({offset})"
            if offset != "+00:00"
            else "this machine's clock is UTC too: for a time read in Indonesia add its "
            "offset (WIB +07:00, WITA +08:00, WIT +09:00)"
        )
        raise ConfigError(
            f"{said} is in the future (it is {now.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC now)",
            hint=f"a time given without a zone is read as UTC: {add}, or give a relative time "
            "such as -2h",
        )


def parse_iso(text: str) -> datetime:
    """An ISO 8601 time; a naive one is taken as UTC."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace(" ", "T", 1))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


_RELATIVE = re.compile(r"^(-)?\s*((?:\d+(?:\.\d+)?\s*[smhdw]\s*)+?)\s*(ago)?$", re.I)
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])", re.I)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_ZONE_NAME = re.compile(r"\b(WIB|WITA|WIT)\b", re.I)  # Indonesia's zones, said by name
# A fraction after the hours or the minutes (``14.05``, ``02:30,5``): Indonesian writes 14:05
# as "14.05", and Python's fromisoformat reads the ".05" as 0.05 s (14:00:00.05), silently.
_CLOCK_FRACTION = re.compile(r"[T ]\s*(\d{2})(:?\d{2})?[.,]\d+")


def parse_when(text: str, *, now: datetime | None = None) -> datetime:
    """A recovery time: ISO 8601 (naive means UTC), ``now``, or relative like ``-2h``,
    ``-90m``, ``-1d``, ``-1h30m`` or ``2h ago``. Returns an aware UTC datetime; a
    :class:`ConfigError` naming the text for anything else (also for times out of range)."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    value = text.strip()
    if value.lower() == "now":
        return now
    try:
        m = _RELATIVE.match(value)
        if m and (m.group(1) or m.group(3)):
            if "M" in m.group(2):
                # Grafana's and Prometheus' dashboards read `now-1M` as a month.
                raise ConfigError(
                    f"cannot read the time {text!r}: M is a month in Grafana, a minute here",
                    hint="write m for minutes (-90m), d for days (-30d), or give a date",
                )
            seconds = sum(float(n) * _UNITS[u.lower()] for n, u in _PART.findall(m.group(2)))
            return now - timedelta(seconds=seconds)
        _refuse_clock_fraction(text, value)
        return parse_iso(value)
    except OverflowError:
        raise ConfigError(
            f"the time {text!r} is out of range",
            hint="give a time between year 1 and 9999, e.g. -2h or 2026-11-24T09:30:00Z",
        ) from None
    except ValueError:
        zone = _ZONE_NAME.search(value)
        raise ConfigError(
            f"cannot read the time {text!r}"
            + (f": write {zone.group(0)} as its offset" if zone else ""),
            hint="use ISO 8601 (2026-11-24T09:30:00Z; without a zone it is UTC; WIB is "
            "+07:00, WITA +08:00, WIT +09:00: 2026-11-24 16:30+07:00) "
            "or a relative time like -2h, -30m, -1d",
        ) from None


def _refuse_clock_fraction(text: str, value: str) -> None:
    """:class:`ConfigError` for a dot or comma after the hours or minutes of a time: never a
    fraction of a second, and never read as what was meant."""
    frac = _CLOCK_FRACTION.search(value)
    if frac is None:
        return
    hh, mm = frac.groups()
    written = frac.group(0).strip(" T")
    meant = f"{hh}:{written[3:]}" if mm is None else f"{hh}:{mm.lstrip(':')}:SS"
    raise ConfigError(
        f"cannot read the time {text!r}: {written} is a fraction of "
        f"{'an hour' if mm is None else 'a minute'} in ISO 8601; write the time with colons "
        f"({meant})",
        hint="e.g. 2026-11-24 14:05+07:00 (WIB), 2026-11-24T07:05:00Z, or -2h",
    )


def json_time(text: str | None) -> str | None:
    """An audit/tracking time as ``--json`` prints it: ISO 8601 with its offset
    (``2026-12-07T16:41:56+00:00``, as ``backup list --json``'s), never the audit table's
    ``2026-12-07 16:41:56``, which a reader in another zone took for its local time. Text that
    is no time is left as it is; None stays None."""
    if text is None:
        return None
    when = parse_time(text)
    return when.isoformat() if when is not None else text


def parse_time(text: str) -> datetime | None:
    """An audit/tracking time (``YYYY-MM-DD HH:MM:SS``, ISO 8601, naive = UTC) or None."""
    if not text:
        return None
    try:
        value = datetime.fromisoformat(str(text).strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00: before year 1 in UTC, no time it can hold
        return None


def json_times(data: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    """``data`` with the times under ``keys`` as ``--json`` prints them (:func:`json_time`);
    the other fields, and ``data`` itself, as they are."""
    return {k: json_time(v) if k in keys and isinstance(v, str) else v for k, v in data.items()}
