"""The references a D1 migration broke, checked inside its batch when the file turns
``PRAGMA defer_foreign_keys`` off (Prisma's ``-- RedefineTables`` ends with ``PRAGMA
foreign_keys=ON; PRAGMA defer_foreign_keys=OFF;``). Turning it off clears SQLite's count of the
references broken so far (sqlite3 3.40.1, measured), so D1's COMMIT no longer fails on them: a
rebuild whose copy left out a parent row others refer to was committed, child rows pointing at
nothing, and `up` said ok. The file's batch gets one statement after its own: it fails (D1 rolls
the whole batch back) when ``PRAGMA foreign_key_check`` lists a row it did not list before the
migration, its error naming the first such row and how many there are. The rows listed before
are read in one request first (a reference broken before is not the migration's doing)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

from malnu_tui.engine.backends.sqlite_sql import (
    DEFER_OFF_WHY,
    broken_references,
    sql_literal,
)
from malnu_tui.engine.errors import StatementFailed

if TYPE_CHECKING:
    from malnu_tui.engine.backends.d1.client import D1Api

__all__ = ["broken_in_batch", "check_sql", "violations"]

_MARK = "malnu-fk"
# (SQLite's "JSON path error near '…'" before 3.45, "bad JSON path: '…'" since)
_NAMED = re.compile(_MARK + r"\x1f(\d+)\x1f(.*?)\x1f(.*?)\x1f(.*?)\x1f")
# Over this many rows listed before the migration, the check compares counts, not the rows.
_KNOWN_MAX = 200
_PAIR = '"table" || char(31) || parent'
_KEY = "\"table\" || char(31) || ifnull(rowid, '') || char(31) || parent || char(31) || fkid"


def violations(api: D1Api) -> list[tuple[object, ...]]:
    """``PRAGMA foreign_key_check``'s rows (table, rowid, parent, fk id) before the migration."""
    return [tuple(r) for r in api.raw("PRAGMA foreign_key_check").rows]


def check_sql(before: Sequence[tuple[object, ...]]) -> str:
    """The statement that fails when a table has more rows whose parent is gone, for a
    parent, than ``before``: a JSON path that is no path (``json_extract`` raises it, with the
    path, in D1's error). Counted by table and parent, not by rowid: a rebuild's copy numbers
    the rowids again (a TEXT key's after a deleted row) and the foreign keys' ids, and a row
    broken before came out as one the migration broke (the file refused). The row named is
    one not listed before where there is one."""
    if len(before) > _KNOWN_MAX:  # (as many as before: taken as the same ones)
        where = f" WHERE (SELECT count(*) FROM pragma_foreign_key_check) > {len(before)}"
        count = f"((SELECT count(*) FROM pragma_foreign_key_check) - {len(before)})"
        return (
            f"SELECT json_extract('{{}}', '{_MARK}' || char(31) || {count} || char(31) || "
            "\"table\" || char(31) || ifnull(rowid, 'NULL') || char(31) || parent || char(31)) "
            f"FROM pragma_foreign_key_check{where} LIMIT 1"
        )
    had, known = "0", "0"
    if before:
        pairs = Counter((str(row[0]), str(row[2])) for row in before)
        whens = " ".join(
            f"WHEN {sql_literal(t + chr(31) + p)} THEN {n}" for (t, p), n in sorted(pairs.items())
        )
        had = f"CASE {_PAIR} {whens} ELSE 0 END"
        keys = ", ".join(
            sql_literal("\x1f".join("" if v is None else str(v) for v in row)) for row in before
        )
        known = f"{_KEY} IN ({keys})"
    grouped = (
        f'SELECT "table" AS t, parent AS p, count(*) - ({had}) AS n, '
        f"coalesce(min(CASE WHEN NOT ({known}) THEN rowid END), min(rowid)) AS r "
        'FROM pragma_foreign_key_check GROUP BY "table", parent'
    )
    return (
        f"SELECT json_extract('{{}}', '{_MARK}' || char(31) || total || char(31) || t "
        "|| char(31) || ifnull(r, 'NULL') || char(31) || p || char(31)) "
        f"FROM (SELECT t, p, r, sum(n) OVER () AS total FROM ({grouped}) WHERE n > 0) "
        "ORDER BY t, p LIMIT 1"
    )


def broken_in_batch(filename: str, line: int, error: str) -> StatementFailed | None:
    """The migration's failure (at ``line``, its ``PRAGMA defer_foreign_keys = OFF``) when
    ``error`` (its batch's) is the check's, else None."""
    m = _NAMED.search(error)
    if m is None:
        return None
    return broken_references(filename, line, DEFER_OFF_WHY, int(m[1]), (m[2], m[3], m[4]))
