"""D1's documented limits and the form of a batch's statement: what the writers (import,
sync) size their statements by, without the HTTP client (nor httpx) behind them."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "MAX_ROW_BYTES",
    "MAX_SAFE_INTEGER",
    "MAX_STATEMENT_BYTES",
    "SENT_OVERHEAD",
    "BatchStatement",
    "sent_bytes",
]

# D1's documented limits, checked before sending so the operator gets a clear message.
MAX_STATEMENT_BYTES = 100_000
MAX_ROW_BYTES = 2_000_000  # "Maximum string, BLOB or table row size"
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
