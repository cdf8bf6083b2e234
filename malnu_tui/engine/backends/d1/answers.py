"""Reading D1's answers: the JSON, the first error, ``Retry-After``, and which of D1's
messages mean "try again" (transient) or "a limit was reached"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

__all__ = [
    "OVERLOADED",
    "first_error",
    "is_limit",
    "json_of",
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
)


def is_limit(message: str) -> bool:
    """Whether D1's error message says one of its limits was reached."""
    low = message.lower()
    return any(w.lower() in low for w in _LIMIT_WORDS)
