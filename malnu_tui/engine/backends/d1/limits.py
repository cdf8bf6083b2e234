"""D1's documented limits and the form of a batch's statement: what the writers (import,
sync) size their statements by, without the HTTP client (nor httpx) behind them."""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Sequence

__all__ = [
    "MAX_HEX_BLOB_BYTES",
    "MAX_REQUEST_BYTES",
    "MAX_ROW_BYTES",
    "MAX_SAFE_INTEGER",
    "MAX_STATEMENT_BYTES",
    "SENT_OVERHEAD",
    "BatchStatement",
    "hold_to_d1_limits",
    "parsed_limit_refusal",
    "record_bytes",
    "sent_bytes",
    "value_bytes",
]

# D1's documented limits (https://developers.cloudflare.com/d1/platform/limits/), checked
# before sending so the operator gets a clear message.
MAX_STATEMENT_BYTES = 100_000  # "Maximum SQL statement length: 100,000 bytes (100 KB)"
# "Maximum string, BLOB or table row size: 2,000,000 bytes (2 MB)": SQLite's
# SQLITE_LIMIT_LENGTH, which bounds a row as SQLite stores it (its record: a header, then the
# values), refused from 2,000,000 bytes on (a value of 1,999,995 bytes alone is refused).
MAX_ROW_BYTES = 2_000_000
# D1's JSON carries a BLOB read with hex() as text twice its size, itself a value under the
# limit: a larger BLOB can be written but not read back that way.
MAX_HEX_BLOB_BYTES = (MAX_ROW_BYTES - 1) // 2  # hex() allocates twice the bytes and a NUL
# Cloudflare refuses a request body over its plan's limit with 413 before D1 sees it: 100 MB
# on the Free and Pro plans (https://developers.cloudflare.com/workers/platform/limits/,
# "Request limits"); what api.cloudflare.com takes for D1 is not documented, so the smallest.
# A batch runs within D1's 30 s a request too ("Maximum SQL query duration … applies to the
# entire batch call", D1's limits page).
MAX_REQUEST_BYTES = 100_000_000
# Values cross D1's API (and its export) as JavaScript numbers, exact only up to 2**53 - 1:
# "BigInts are not currently supported in the API yet" (D1's type conversion reference).
MAX_SAFE_INTEGER = 2**53 - 1

SENT_OVERHEAD = 2  # the "\n;" join_statements ends each statement with: D1 counts it
# A statement of a batch: SQL text, or SQL with its bound parameters (D1's 100 KB limit is
# the SQL's; a parameter carries a text up to D1's 2 MB a row).
BatchStatement = str | tuple[str, Sequence[object]]


def sent_bytes(statement: str) -> int:
    """How long ``statement`` is as D1 receives it (compared with MAX_STATEMENT_BYTES)."""
    return len(statement.encode()) + SENT_OVERHEAD


def value_bytes(value: object) -> int:
    """What ``value`` takes in a row D1 stores: a text its UTF-8, a BLOB its bytes, a number
    at most 24 (8 stored as a number; its text, in a column of TEXT affinity)."""
    if value is None:
        return 0
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, bytes | bytearray):
        return len(value)
    if isinstance(value, memoryview):
        return value.nbytes
    return 24


def record_bytes(values: Sequence[object]) -> int:
    """No less than the size SQLite stores ``values`` in as one row (a varint of at most 9
    bytes a value and one for the header's length, then the values), which D1 holds to
    MAX_ROW_BYTES: a row fits when this is below it."""
    return 9 * (len(values) + 1) + sum(map(value_bytes, values))


# D1's limits that SQLite itself checks as it reads a statement (sqlite3_limit), before it
# looks for a table: SQLite, compiling it with them, says which in its own words, as D1 does
# ("too many columns on t", "too many arguments on function json_object").
_PARSED_LIMITS = (
    (sqlite3.SQLITE_LIMIT_COLUMN, 100),  # "Maximum number of columns per table: 100"
    (sqlite3.SQLITE_LIMIT_FUNCTION_ARG, 32),  # "Maximum arguments per SQL function: 32"
)
# D1's limits that SQLite enforces as it runs a statement: a local copy standing for D1 (a
# rehearsal's, `malnu-tui test`'s) refuses what D1 refuses, in SQLite's words, as D1 says
# them: a value grown past 2 MB by a migration, a LIKE pattern read from the data. (A
# statement's length is checked as it is sent, refuse_unsendable; the tool's own queries of
# the copy are not sent to D1, so they are not held to it, nor to its 100 parameters.)
_RUN_LIMITS = (
    *_PARSED_LIMITS,
    (sqlite3.SQLITE_LIMIT_LENGTH, MAX_ROW_BYTES),  # "string or blob too big"
    (sqlite3.SQLITE_LIMIT_LIKE_PATTERN_LENGTH, 50),  # "… in a LIKE or GLOB pattern: 50 bytes"
)


def hold_to_d1_limits(conn: sqlite3.Connection) -> None:
    """Set D1's documented limits on a local SQLite connection that stands for D1."""
    for limit, value in _RUN_LIMITS:
        conn.setlimit(limit, value)


_INSERT_VALUES = re.compile(r"\s*(?:INSERT|REPLACE)\b.*?\bVALUES\b", re.IGNORECASE | re.DOTALL)
_CALL = re.compile(r"[A-Za-z_]\w*\s*\(")
_compiler = threading.local()  # one SQLite connection per thread, D1's limits set


def _may_exceed(text: str) -> bool:
    """Whether ``text`` can hold a function of 33 arguments or a table of 101 columns: 32
    commas, and, for a seed's INSERT … VALUES, a call among its values (its rows are never
    compiled: a seed of a million of them would take half a minute)."""
    if text.count(",") < 32:
        return False
    m = _INSERT_VALUES.match(text)
    return m is None or _CALL.search(text, m.end()) is not None


def parsed_limit_refusal(text: str) -> str | None:
    """SQLite's refusal of the statement ``text`` under D1's column and function-argument
    limits (D1 refuses it whatever the database holds), or None. EXPLAIN runs nothing; a
    missing table or any other error is not one of these."""
    if not _may_exceed(text):
        return None
    conn = getattr(_compiler, "conn", None)
    if conn is None:
        conn = _compiler.conn = sqlite3.connect(":memory:")
        for limit, value in _PARSED_LIMITS:
            conn.setlimit(limit, value)
    try:
        conn.execute("EXPLAIN " + text)
    except sqlite3.Error as exc:
        if str(exc).startswith(("too many columns", "too many arguments")):
            return str(exc)
    return None
