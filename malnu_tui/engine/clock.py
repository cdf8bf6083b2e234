"""Times told to operators: the UTC time the tool works in, and this machine's local time.

Times typed without a zone (``recover --to "2026-11-24 01:55"``) are read as UTC (a contract);
an operator in WIB (UTC+7) who meant local time would restore 7 hours off. Plans echo the time
on this machine's clock, so the difference is seen before the confirmation word is typed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from malnu_tui.engine.errors import ConfigError

__all__ = ["local_offset", "local_time_line", "refuse_future"]


def _offset_text(offset: timedelta) -> str:
    sign, rest = ("+" if offset >= timedelta(0) else "-"), abs(offset)
    hours, minutes = divmod(int(rest.total_seconds()) // 60, 60)
    return f"{sign}{hours:02d}:{minutes:02d}"


def local_offset(when: datetime | None = None) -> str:
    """This machine's UTC offset at ``when`` (default now) as typed after a time: ``+07:00``."""
    local = (when or datetime.now().astimezone()).astimezone()
    return _offset_text(local.utcoffset() or timedelta(0))


def local_time_line(utc: str) -> str | None:
    """A plan line giving the ISO 8601 time ``utc`` on this machine's clock, or None when the
    local time there is UTC (nothing to tell apart)."""
    when = datetime.fromisoformat(utc)
    local = when.astimezone()
    offset = local.utcoffset() or timedelta(0)
    if not offset:
        return None
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
        raise ConfigError(
            f"{said} is in the future (it is {now.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC now)",
            hint="a time given without a zone is read as UTC: for this machine's local time "
            f"add its offset ({local_offset()}), or give a relative time such as -2h",
        )
