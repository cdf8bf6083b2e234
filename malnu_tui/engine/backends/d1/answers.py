"""Reading D1's answers: the JSON, the first error, ``Retry-After``, which of D1's messages
mean "try again" (transient) or "a limit was reached", and the error a refusal stands for."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from malnu_tui.engine.backends.d1.errors import (
    TIMEOUT_HINT,
    TOO_LARGE_HINT,
    D1AuthError,
    D1Error,
    D1LimitExceeded,
    D1NotFound,
    D1QueryError,
    D1RequestTooLarge,
    is_timeout,
)
from malnu_tui.engine.urls import D1Location

__all__ = [
    "OVERLOADED",
    "first_error",
    "is_limit",
    "json_of",
    "refusal",
    "retry_after",
    "seconds_text",
    "transient",
    "utc_after",
]


def json_of(resp: httpx.Response) -> Any:
    """The answer's JSON, None when it is not JSON (an HTML page, a body cut short)."""
    try:
        return resp.json()
    except ValueError:
        return None


def retry_after(resp: httpx.Response) -> float:
    """The seconds a ``Retry-After`` header asks for (a number, or an HTTP date); 0 without."""
    value = resp.headers.get("retry-after", "").strip()
    if not value:
        return 0.0
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return 0.0
    if when.tzinfo is None:
        return 0.0
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def seconds_text(value: float) -> str:
    """A wait in words: ``2.0 s``, ``32 s``, ``60 min``."""
    if value >= 90:
        return f"{value / 60:.0f} min"
    return f"{value:.0f} s" if value >= 10 else f"{value:.1f} s"


def utc_after(seconds: float) -> str:
    """The UTC clock time ``seconds`` from now, for "run again after …"."""
    return (datetime.now(UTC) + timedelta(seconds=seconds)).strftime("%H:%M:%S UTC")


def first_error(resp: httpx.Response) -> tuple[int, str]:
    """(code, message) of the answer's first error; the text's start when it is not JSON."""
    try:
        data = resp.json()
    except ValueError:
        return 0, resp.text[:200]
    errors = data.get("errors") if isinstance(data, dict) else None
    if errors and isinstance(errors, list) and isinstance(errors[0], dict):
        return int(errors[0].get("code") or 0), str(errors[0].get("message") or "")
    return 0, ""


# D1's transient errors, whose recommended action is "Retry the operation" (D1's error list,
# developers.cloudflare.com/d1/observability/debug-d1/; the retry example of "Retry queries").
OVERLOADED = "D1 DB is overloaded"  # "Too many requests queued." / "Requests queued for too long."
_TRANSIENT_WORDS = (
    "Network connection lost",
    "storage caused object to be reset",
    "reset because its code was updated",
    OVERLOADED,
)


def transient(message: str) -> bool:
    """Whether D1's error message is one of those D1 says to retry."""
    return any(w in message for w in _TRANSIENT_WORDS)


_LIMIT_WORDS = (
    "SQLITE_TOOBIG",
    "too long",
    "too many SQL variables",
    "too many arguments on function",
    "pattern too complex",
    "too many columns",
    "Exceeded maximum DB size",
    "SQLITE_FULL",
    "exceeded timeout",
    "exceeded its CPU time limit",
)


# The database itself is full: splitting the work does not help (the generic hint said to
# split the migration, where an import or a sync had filled it).
_FULL_WORDS = ("Exceeded maximum DB size", "SQLITE_FULL")
DATABASE_FULL_HINT = (
    "the database is at D1's size limit (500 MB on Workers Free, 10 GB on Workers Paid: "
    "developers.cloudflare.com/d1/platform/limits/) and the request was rolled back: free "
    "space in it (old rows of a log or sessions table) or move to Workers Paid; an import "
    "stages its rows in the database before it commits them, so it needs their size free twice"
)


def is_limit(message: str) -> bool:
    """Whether D1's error message says one of its limits was reached."""
    low = message.lower()
    return any(w.lower() in low for w in _LIMIT_WORDS)


def refusal(resp: httpx.Response, location: D1Location, token_source: str) -> D1Error:
    """The error a refusing answer stands for, with what the operator must fix: the token
    (rejected, or without D1 on the account: named by ``token_source``), the account or the
    database id, a body Cloudflare's edge refused as too large, one of D1's limits, else the
    SQL's own error as D1 said it."""
    code, message = first_error(resp)
    loc = location
    status = resp.status_code
    if status == 401 or (status in (400, 403) and code in (10000, 6003, 6111, 9106, 9109)):
        if status == 403:
            return D1AuthError(
                f"the Cloudflare API token may not use D1 on account {loc.account_id} "
                f"(HTTP 403: {message})",
                hint="give the token the 'D1 Edit' permission on this account",
                status=status,
                code=code,
            )
        return D1AuthError(
            f"Cloudflare rejected the API token (HTTP {status}: {message})",
            hint=f"set {token_source} to a valid API token with 'D1 Edit' permission",
            status=status,
            code=code,
        )
    if status == 403 or code == 7403:
        return D1NotFound(
            f"account {loc.account_id} is not valid or not authorized for D1 ({message})",
            hint="check the account id in d1://ACCOUNT_ID/DATABASE_ID (Cloudflare dashboard "
            "→ Workers & Pages → Account ID)",
            status=status,
            code=code,
        )
    if status == 404 or code == 7404:
        return D1NotFound(
            f"D1 database {loc.database_id} not found in account {loc.account_id} ({message})",
            hint="check the database id (`wrangler d1 list` shows it)",
            status=status,
            code=code,
        )
    if status == 413:  # Cloudflare's edge, before D1: an HTML page, not D1's JSON
        return D1RequestTooLarge(
            f"D1 {loc.database_id}: Cloudflare refused a request of "
            f"{len(resp.request.content):,} bytes as too large (HTTP 413): nothing ran",
            hint=TOO_LARGE_HINT,
            status=status,
        )
    if is_limit(message) and any(w in message for w in _FULL_WORDS):
        return D1LimitExceeded(
            f"D1 limit reached: {message}",
            hint=DATABASE_FULL_HINT,
            status=status,
            code=code,
        )
    if is_timeout(message):
        return D1LimitExceeded(
            f"D1 limit reached: {message}", hint=TIMEOUT_HINT, status=status, code=code
        )
    if is_limit(message):
        return D1LimitExceeded(
            f"D1 limit reached: {message}",
            # developers.cloudflare.com/d1/platform/limits/
            hint="D1 allows 100 KB per SQL statement, 2 MB per value or row, 100 bound "
            "parameters per query, 32 arguments per SQL function, 50 bytes per LIKE "
            "pattern and a bounded database size: split large data migrations into "
            "smaller files",
            status=status,
            code=code,
        )
    return D1QueryError(message or f"HTTP {status}", status=status, code=code)
