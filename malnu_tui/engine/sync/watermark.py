"""The watermark of a sync: the greatest value of the cursor column (``updated_at``) that a copy
vouches for, in the normal form's layout. An incremental pass reads the rows changed since the
watermark minus the overlap window (:mod:`.session`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from malnu_tui.engine.sync.model import Row, TableShape
from malnu_tui.engine.sync.side import Side
from malnu_tui.engine.sync.timetext import fmt_dt, parse_dt, utc_wall_clock
from malnu_tui.engine.sync.values import normalizer

__all__ = [
    "SECONDS_BELOW",
    "capped",
    "epoch_scale",
    "greatest_of",
    "int_since",
    "mark_before_copy",
]


def greatest_of(
    shape: TableShape, cursor: str | None, rows: Sequence[Row], current: str | None
) -> str | None:
    """The later of ``current`` and the greatest ``cursor`` value of ``rows`` (normalized: for
    timestamps all in the one layout ``YYYY-MM-DD HH:MM:SS``, the greatest text is the latest
    time; values that do not normalize are left out)."""
    if cursor is None:
        return current
    col = shape.column(cursor)
    assert col is not None
    i = shape.names.index(cursor)
    # A timestamp's UTC time (a text that says its offset, as its copy holds it): a source
    # reads a time behind UTC by its UTC time (:mod:`.side_sqlchanged`). As the texts' own
    # clock (an offset left out), a New York ``…T03:05:00-05:00`` (08:05 UTC) sorted before a
    # watermark of 08:00 from a row stamped in UTC, and the next passes left it behind.
    norm = normalizer(col.kind)
    values = [r[i] for r in rows if r[i] is not None]
    if not values:
        return current
    if col.kind == "text" and all(_time_text(v) for v in values):
        # Times in a TEXT column, in several shapes (a space or a ``T``, ``Z``, an offset):
        # the latest by UTC time, not the greatest text (a WIB ``…T08:00:00+07:00``, 01:00
        # UTC, sorted after ``…T02:30:00Z``: each pass read the 7 hours before again).
        norm = normalizer("ts")
    if col.kind == "int":  # Unix seconds or milliseconds (a text among them is left out)
        nums = [v for v in values if type(v) is int]
        if not nums:
            return current
        top_n = max(nums)
        return str(top_n) if current is None or top_n > _int_or(current, top_n - 1) else current
    if col.kind in ("ts", "tstz") and all(
        type(v) is str and len(v) == 19 and v[10] == " " for v in values
    ):
        top = norm(max(values))  # one layout: the greatest text is the latest time
    else:
        seen = [t for t in map(norm, values) if not t.startswith("?")]
        if not seen:
            return current
        top = max(seen)
    return top if current is None or top > current else current


def mark_before_copy(src: Side, shape: TableShape, cursor: str | None) -> tuple[bool, str | None]:
    """(True, the watermark) when a full copy takes it before its first page: a column of
    timestamps' (or of Unix times') greatest value then (:meth:`.Side.greatest`: from the end
    of an index leading with it, or one scan). A row changed while the copy runs, even behind
    its reading, is newer, so the next incremental pass reads it however long the copy took.
    Else (False,
    None): each page's rows tell it as the copy reads them (:func:`greatest_of`)."""
    col = shape.column(cursor) if cursor else None
    if cursor is None or col is None or col.kind not in ("ts", "tstz", "int"):
        return False, None
    top = src.greatest(shape.name, cursor, col.kind)
    return True, greatest_of(
        shape, cursor, [tuple(top if c == cursor else None for c in shape.names)], None
    )


def epoch_scale(n: int) -> int:
    """1000 for a time in Unix milliseconds (JavaScript's ``Date.now()``, what D1 apps write),
    1 for one in seconds (``unixepoch()``): 10^11 seconds is the year 5138, 10^11 ms 1973."""
    return 1000 if abs(n) >= SECONDS_BELOW else 1


# Below this a Unix time is in seconds (see :func:`epoch_scale`).
SECONDS_BELOW = 10**11


def int_since(kind: str | None, since: str | None) -> int | None:
    """The lower bound of an incremental pass by a cursor of integers (Unix seconds or
    milliseconds), or None for any other cursor."""
    if kind != "int" or not since or not since.lstrip("-").isdigit():
        return None
    return int(since)


def _int_or(text: str, default: int) -> int:
    try:
        return int(text)
    except ValueError:
        return default


def capped(kind: str | None, watermark: str | None, began: str) -> str | None:
    """``watermark``, but no later than ``began`` (when the sync's run began: UTC,
    ``YYYY-MM-DD HH:MM:SS``; a date cursor: that day). A row stamped in the future (a clock
    set wrong, a typo, a ``9999-12-31`` placeholder) would otherwise carry the watermark past
    every real change to come, and the incremental passes would leave each of them behind
    while saying verified. The cost: such a row, and any stamped in a local time ahead of UTC,
    is read again by the next pass. Kept as it is for a text cursor that is not a time."""
    if watermark is None or not began or kind not in ("ts", "tstz", "date", "text", "int"):
        return watermark
    if kind == "int":  # Unix seconds or milliseconds: when the sync began, in that unit
        try:
            n = int(watermark)
            start = int(datetime.fromisoformat(began).replace(tzinfo=UTC).timestamp())
        except ValueError:
            return watermark
        top_n = start * epoch_scale(n)
        return str(top_n) if n > top_n else watermark
    top = began[:10] if kind == "date" else began
    if kind == "text":  # the text as the application wrote it: ``T`` or space, a zone
        if not _looks_like_time(watermark):
            return watermark
        when = watermark[:10] + " " + watermark[11:19]  # its day and clock, in either layout
        said = parse_dt(watermark)
        if said is not None and said.tzinfo is not None:  # an offset: its UTC time
            when = fmt_dt(utc_wall_clock(said))[:19]
        return top if when > top else watermark
    return top if watermark > top else watermark


def _time_text(v: object) -> bool:
    """Whether ``v`` is a text of a date and a time of day (``YYYY-MM-DD`` then ``T`` or a
    space)."""
    return type(v) is str and len(v) >= 19 and v[10] in "T " and _looks_like_time(v)


def _looks_like_time(text: str) -> bool:
    """Whether ``text`` starts as an ISO date does (``YYYY-MM-DD``)."""
    return len(text) >= 10 and text[4] == text[7] == "-" and (text[:4] + text[5:7]).isdigit()
