"""The D1 client's errors: what an operator needs to act on each way D1 (or Cloudflare in
front of it) can answer, with the CLI's exit code."""

from __future__ import annotations

from malnu_tui.engine.errors import BackendError
from malnu_tui.engine.monitor import debuglog

__all__ = [
    "TOO_LARGE_HINT",
    "D1AuthError",
    "D1Error",
    "D1LimitExceeded",
    "D1NotFound",
    "D1OutcomeUnknown",
    "D1QueryError",
    "D1RequestTooLarge",
    "D1Unavailable",
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
