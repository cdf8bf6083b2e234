"""Which rows of a SQLite-dialect side (a local file or D1) an incremental pass reads — those
whose cursor is at or after the watermark minus the overlap, whatever layout or unit the
application wrote it in — and the greatest cursor value a full copy takes its watermark from.
Mixed into :class:`.side_sqlite.SqliteDialect`."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from malnu_tui.engine.sync.model import TableShape
from malnu_tui.engine.sync.side_sqlkeys import key_sql, q
from malnu_tui.engine.sync.timetext import MS_FROM, ms_time
from malnu_tui.engine.sync.values import normalizer
from malnu_tui.engine.sync.watermark import SECONDS_BELOW, epoch_scale, int_since

__all__ = ["BEHIND_UTC", "SqliteChanged", "behind_ranges", "since_ms", "since_ranges", "utc_sql"]


def since_ranges(since: str) -> list[tuple[str, str | None]]:
    """The text ranges of a cursor column's values at or after ``since`` (``YYYY-MM-DD
    HH:MM:SS[.f]``, the normal form). Applications stamp in two layouts: SQLite's
    ``CURRENT_TIMESTAMP`` with a space, JavaScript's ``toISOString()`` with a ``T`` (and
    ``.000Z``). Compared as text, every ``T`` value of ``since``'s day sorts after it, so each
    pass read again all of that day's changes (on D1, rows read are billed): the day's ``T``
    values are compared with ``since`` spelt with a ``T``. Any other text keeps the one range
    (a later day, or another separator, is never left out)."""
    if len(since) < 19 or since[10] != " " or not since[:4].isdigit():
        return [(since, None)]
    day_t = since[:10] + "T"
    return [(since, day_t), (day_t + since[11:], None)]


# How far a text's clock can stand behind its UTC time: the most negative offset a text can
# say (SQLite reads them down to -14:00; no zone is behind -12:00).
BEHIND_UTC = timedelta(hours=14)


def behind_ranges(since: str) -> list[tuple[str, str]]:
    """The text ranges :func:`since_ranges` leaves out where a time that says a negative
    offset (``2026-01-05T03:05:00-05:00``, 08:05 UTC) can still be at or after ``since``
    (the normal form: UTC): its clock is up to :data:`BEHIND_UTC` behind. Such a row is
    read when its UTC time (SQLite's ``datetime()``) is at or after ``since``. Each layout's
    texts of those hours only (as one range from ``lo``, every ``T`` text of the day before
    sorted in it: 38 hours of them)."""
    if len(since) < 19 or since[10] != " " or not since[:4].isdigit():
        return []
    try:
        moment = datetime.fromisoformat(since[:19])
    except ValueError:
        return []
    try:  # (isoformat: strftime wrote year 1 as "1-01-01", sorted after every time)
        lo = (moment - BEHIND_UTC).isoformat(" ", "seconds")
    except OverflowError:  # within 14 hours of year 1 (a `0001-01-01` placeholder's watermark)
        lo = "0001-01-01 00:00:00"
    lo_t, day_t = lo[:10] + "T", since[:10] + "T"
    if lo[:10] == since[:10]:
        return [(lo, since), (lo_t + lo[11:], day_t + since[11:])]
    # The day before's own texts, its T texts from then and the day's own texts up to
    # ``since``, the day's T texts up to it.
    return [(lo, lo_t), (lo_t + lo[11:], since), (day_t, day_t + since[11:])]


def since_ms(since: str) -> int | None:
    """``since`` (the normal form: UTC) in Unix milliseconds, or None when it is no time."""
    if len(since) < 19 or since[10] != " " or not since[:4].isdigit():
        return None
    try:
        return int(datetime.fromisoformat(since).replace(tzinfo=UTC).timestamp() * 1000)
    except ValueError:
        return None


def utc_sql(c: str) -> str:
    """SQL for the UTC time (``YYYY-MM-DD HH:MM:SS``) of the text in column ``c``, by SQLite's
    datetime(): an offset as ``+07:00``, and as ``+07`` (PostgreSQL's text of a timestamptz,
    a Supabase export's) or ``+0700`` too; ``'9'``, after every time, for a text it cannot
    read (such a row is read)."""
    return (
        f"coalesce(datetime({c}), datetime({c} || ':00'), "
        f"datetime(substr({c}, 1, length({c}) - 2) || ':' || substr({c}, -2)), '9')"
    )


class SqliteChanged:
    """The changed rows' condition and the cursor's greatest value, over ``_rows``."""

    @abstractmethod
    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one read statement and return its rows."""

    def changed_filter(
        self, shape: TableShape, cursor: str, since: str | None, page_rows: int
    ) -> tuple[str, list[Any]]:
        """The condition of the rows changed since ``since`` (or without a ``cursor`` value),
        and its parameters. When an index starts with the cursor column and few rows changed
        (at most four pages: each page's statement gathers their keys again), they are found
        through it (a subquery of their keys); else every row is looked at in key order."""
        found, params, _counted = self._changed(shape, cursor, since, page_rows)
        return found, params

    def _changed(
        self, shape: TableShape, cursor: str, since: str | None, page_rows: int
    ) -> tuple[str, list[Any], int | None]:
        """:meth:`changed_filter`, and how many rows it counted through the index (None when
        it did not)."""
        c, t = q(cursor), q(shape.name)
        col = shape.column(cursor)
        params: list[Any]
        lo = int_since(col.kind if col is not None else None, since)
        if lo is not None:
            # Unix seconds or milliseconds: compared as numbers (a text or a blob in the
            # column sorts above every number: read too, never left behind). In a column of
            # milliseconds, a time in seconds (a DEFAULT (unixepoch()) beside Date.now()) is
            # read too, as a number is in a column of texts.
            conds, params, others = [f"{c} >= ?"], [lo], [f"{c} IS NULL"]
            if epoch_scale(lo) > 1:
                others.append(f"{c} < {SECONDS_BELOW}")
        else:
            ranges = since_ranges(since or "")
            # A number in the column (Unix seconds or a julianday an application wrote into
            # a DATETIME column) sorts below every text, so no range holds it: such rows are
            # read too (``< ''``: numbers only, through the index as well), and the copy then
            # stores them or refuses them by name, never leaves them behind unread.
            conds = [f"{c} >= ?" + (f" AND {c} < ?" if hi is not None else "") for _, hi in ranges]
            params = [v for lo, hi in ranges for v in (lo, hi) if v is not None]
            # A time that says its offset is read by its UTC time (:func:`utc_sql`): one
            # ahead of UTC (a phone's WIB ``…T15:00:00+07:00``) sorts after ``since`` for 7
            # hours after it was written, and each pass read it again; one behind it (a
            # negative offset) sorts before ``since`` however late it is.
            utc, at = f"{utc_sql(c)} >= ?", (since or "")[:19]
            behind = behind_ranges(since or "")
            if behind:
                conds = [f"{x} AND {utc}" for x in conds]
                params = [v for lo, hi in ranges for v in (lo, hi, at) if v is not None]
            for lo_b, hi_b in behind:
                conds.append(f"{c} >= ? AND {c} < ? AND {utc}")
                params += [lo_b, hi_b, at]
            others = [f"{c} IS NULL", f"{c} < ''"]
            ms = since_ms(since or "")
            if ms is not None:  # Unix milliseconds (Prisma's DateTime): those since only
                others[1:] = [f"({c} >= ? AND {c} < '')", f"{c} < {MS_FROM}"]
                params.append(ms)
        plain = "(" + " OR ".join([*(f"({x})" for x in conds), *others]) + ")"
        if not self.leads_an_index(shape.name, cursor):
            return plain, params, None
        conds += others
        changed = self._rows(
            "SELECT " + " + ".join(f"(SELECT count(*) FROM {t} WHERE {x})" for x in conds), params
        )[0][0]
        if int(changed) > 4 * page_rows:
            return plain, params, None
        keys = ", ".join(q(x) for x in shape.key)
        union = " UNION ALL ".join(f"SELECT {keys} FROM {t} WHERE {x}" for x in conds)
        return f"{key_sql(shape)} IN ({union})", params, int(changed)

    def leads_an_index(self, table: str, column: str) -> bool:
        for row in self._rows(f"PRAGMA index_list({q(table)})"):
            if not int(row[4]):  # not partial
                info = self._rows(f"PRAGMA index_info({q(str(row[1]))})")
                if info and min(info)[2] == column:
                    return True
        return False

    def indexed_greatest_text(self, table: str, column: str) -> tuple[bool, str | None]:
        """(True, the greatest text value of ``column``, None without any) when an index (not
        partial) leads with it in BINARY order: read from that index's end, one search
        (numbers sort below text and blobs above it, so it starts under the blobs); else
        (False, None)."""
        for row in self._rows(f"PRAGMA index_list({q(table)})"):
            if int(row[4]):  # partial
                continue
            info = self._rows(f"PRAGMA index_xinfo({q(str(row[1]))})")
            if info and (info[0][2], str(info[0][4]).upper()) == (column, "BINARY"):
                c = q(column)
                top = self._rows(
                    f"SELECT {c} FROM {q(table)} WHERE {c} < x'' "
                    f"ORDER BY {c} COLLATE BINARY DESC LIMIT 1"
                )
                value = top[0][0] if top else None
                return True, value if type(value) is str else None
        return False, None

    def greatest(self, table: str, column: str, kind: str = "ts") -> str | int | None:
        """(See :class:`Side`.) The greatest TEXT value (numbers, blobs and NULLs left out), in
        BINARY order: from the end of an index leading with it (one search), else one scan.
        ``kind`` "int": the greatest number (below every text), the same way."""
        if kind == "int":
            c = q(column)
            top = self._rows(f"SELECT {c} FROM {q(table)} WHERE {c} < '' ORDER BY {c} DESC LIMIT 1")
            number = top[0][0] if top else None
            return number if type(number) is int else None
        c = q(column)
        indexed, value = self.indexed_greatest_text(table, column)
        if indexed:  # and the greatest number, from the index's other end of the texts
            top = self._rows(f"SELECT {c} FROM {q(table)} WHERE {c} < '' ORDER BY {c} DESC LIMIT 1")
            number = top[0][0] if top else None
        else:  # one scan for both
            top = self._rows(
                f"SELECT max(CASE WHEN typeof({c}) = 'text' THEN {c} COLLATE BINARY END), "
                f"max(CASE WHEN typeof({c}) = 'integer' THEN {c} END) FROM {q(table)}"
            )
            value, number = top[0] if top else (None, None)
        text = value if type(value) is str else None
        # Unix milliseconds (Prisma's SQLite DateTime): the later of them and the texts.
        ms = ms_time(number)
        if ms is not None and (text is None or ms > normalizer(kind)(text)):
            return int(number)  # type: ignore[arg-type]
        return text
