"""The D1 client's errors: what an operator needs to act on each way D1 (or Cloudflare in
front of it) can answer, with the CLI's exit code."""

from __future__ import annotations

from malnu_tui.engine.errors import BackendError
from malnu_tui.engine.monitor import debuglog

__all__ = [
    "TIMEOUT_HINT",
    "TOO_LARGE_HINT",
    "D1AuthError",
    "D1Error",
    "D1LimitExceeded",
    "D1NotFound",
    "D1OutcomeUnknown",
    "D1QueryError",
    "D1RequestTooLarge",
    "D1Unavailable",
    "is_timeout",
]


class D1Error(BackendError):
    """D1 answered with an error, or could not be reached."""

    def __init__(
        self, message: str, *, hint: str | None = None, status: int = 0, code: int = 0
    ) -> None:
        # The message may quote an answer that echoes the request (a proxy's error page, an
        # API error naming the token): masked here, before it reaches any output or row.
        super().__init__(debuglog.mask_secrets(message), hint=hint)
        self.status = status
        self.code = code


class D1AuthError(D1Error):
    """The API token is missing, invalid, or not allowed on this account (a configuration
    problem: exit 2)."""

    exit_code = 2


class D1NotFound(D1Error):
    """The account or database id of the ``d1://`` URL does not exist (exit 2)."""

    exit_code = 2


class D1QueryError(D1Error):
    """D1 rejected the SQL of a request; nothing of that request was kept."""


class D1LimitExceeded(D1QueryError):
    """A D1 limit was hit (statement length, bound parameters, database size…)."""


class D1RequestTooLarge(D1Error):
    """A request over the body size Cloudflare takes (413): D1 never saw it, so nothing ran,
    and no statement of it is to blame (exit 2: the same request can never pass)."""

    exit_code = 2


TOO_LARGE_HINT = (
    "split it: a migration goes as one request (make several smaller files); bulk data goes "
    "with `malnu-tui import` or `malnu-tui d1 import`"
)


class D1Unavailable(D1Error):
    """D1 kept failing (network, 429, 5xx) after every retry; nothing was sent twice."""


class D1OutcomeUnknown(D1Error):
    """A write may or may not have happened and it could not be read back to find out."""


# D1 stopped a request that ran too long: "D1 DB storage operation exceeded timeout which
# caused object to be reset." (code 7429), or "D1 DB exceeded its CPU time limit and was
# reset." D1 allows 30 s a query and, over its HTTP API, 30 s the whole request ("Requests to
# Cloudflare API must resolve in 30 seconds. Therefore, this duration limit also applies to
# the entire batch call": its limits page); the request was rolled back.
_TIMEOUT_WORDS = ("DB storage operation exceeded timeout", "DB exceeded its CPU time limit")
TIMEOUT_HINT = (
    "D1 stops a request after 30 s (each query, and the whole batch an API request sends: "
    "developers.cloudflare.com/d1/platform/limits/) and rolled it back: split it into "
    "batches, each well under 30 s (a data migration over many rows: a range of keys per "
    "file or per request; an index on a large table in a file of its own)"
)


def is_timeout(message: str) -> bool:
    """Whether D1's error message says it stopped the request for running too long."""
    return any(w in message for w in _TIMEOUT_WORDS)
