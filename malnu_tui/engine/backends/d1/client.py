"""Cloudflare D1's HTTP API (``d1://ACCOUNT_ID/DATABASE_ID``), with httpx: the transport.

Errors as types, the ``d1://`` URL, the retry policy and :class:`D1Api` (authentication,
retries with backoff, error messages). A write whose outcome is unknown (the connection dropped,
a timeout, a 5xx after the request was sent) is never sent again blindly: the caller's
``took_effect`` reads the database first, and the write is re-sent only if it did not take
effect. The backend on top of it is :mod:`malnu_tui.engine.backends.d1.backend`.

The API token comes from the target's ``api_token`` option or ``CLOUDFLARE_API_TOKEN``; it is
sent only in the ``Authorization`` header to the API host and never appears in a message.
"""

from __future__ import annotations

import functools
import json
import os
import secrets
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import httpx

from malnu_tui.engine import observe
from malnu_tui.engine.backends.d1.answers import (
    OVERLOADED,
    first_error,
    json_of,
    refusal,
    retry_after,
    seconds_text,
    transient,
    utc_after,
)
from malnu_tui.engine.backends.d1.errors import (
    TOO_LARGE_HINT,
    D1AuthError,
    D1Error,
    D1LimitExceeded,
    D1NotFound,
    D1OutcomeUnknown,
    D1QueryError,
    D1RequestTooLarge,
    D1Unavailable,
    is_timeout,
)
from malnu_tui.engine.backends.d1.limits import (
    MAX_REQUEST_BYTES,
    MAX_ROW_BYTES,
    MAX_SAFE_INTEGER,
    MAX_STATEMENT_BYTES,
    BatchStatement,
    sent_bytes,
)
from malnu_tui.engine.config_schema import d1_number
from malnu_tui.engine.errors import ConfigError
from malnu_tui.engine.interrupts import hurried
from malnu_tui.engine.monitor import debuglog
from malnu_tui.engine.urls import D1Location, parse_d1_url

__all__ = [
    "DEFAULT_API_BASE",
    "ENV_API_BASE",
    "ENV_TOKEN",
    "MAX_ROW_BYTES",
    "MAX_SAFE_INTEGER",
    "MAX_STATEMENT_BYTES",
    "BatchStatement",
    "D1Api",
    "D1AuthError",
    "D1Error",
    "D1LimitExceeded",
    "D1Location",
    "D1NotFound",
    "D1OutcomeUnknown",
    "D1QueryError",
    "D1RequestTooLarge",
    "D1Result",
    "D1Unavailable",
    "RetryPolicy",
    "batch_body",
    "check_token",
    "parse_d1_url",
    "sent_bytes",
]

DEFAULT_API_BASE = "https://api.cloudflare.com/client/v4"
ENV_TOKEN = "CLOUDFLARE_API_TOKEN"
ENV_API_BASE = "MALNU_D1_API_BASE"  # e.g. the local D1-compatible server of the test suite

_T = TypeVar("_T")

STOPPING_TIMEOUT = 5.0  # seconds a request may take once the command is being stopped


# -- values ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """How transient failures (network, 429, 5xx) are retried: exponential backoff with
    jitter, ``attempts`` tries in all, each request bounded by ``timeout`` seconds."""

    attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 8.0
    timeout: float = 60.0

    def delay(self, attempt: int) -> float:
        raw: float = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return raw * (0.75 + 0.5 * secrets.randbelow(1000) / 1000)

    @staticmethod
    def from_options(options: Mapping[str, Any]) -> RetryPolicy:
        """The policy a target's options ask for: ``retry_attempts``, ``retry_base_delay``,
        ``retry_max_delay``, ``timeout``; ConfigError naming a value out of range (NaN,
        infinity, a negative timeout) or of the wrong type."""
        base = RetryPolicy()
        attempts = _option_number(options, "retry_attempts", base.attempts)
        return RetryPolicy(
            attempts=int(attempts),
            base_delay=_option_number(options, "retry_base_delay", base.base_delay),
            max_delay=_option_number(options, "retry_max_delay", base.max_delay),
            timeout=_option_number(options, "timeout", base.timeout),
        )


def _option_number(options: Mapping[str, Any], key: str, default: float) -> float:
    return d1_number(options, key, default, "D1 option")


@dataclass(frozen=True)
class D1Result:
    """The result of one statement: columns, rows and D1's ``meta``."""

    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    meta: Mapping[str, Any] = field(default_factory=dict)

    def dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, r, strict=False)) for r in self.rows]


def request_content(body: Mapping[str, Any]) -> bytes:
    """``body`` as the JSON httpx sends (compact, UTF-8)."""
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.encode()


def join_statements(statements: Sequence[str]) -> str:
    # A newline before each ';' so a trailing "-- comment" cannot swallow the separator.
    return "".join(f"{s}\n;\n" for s in statements)


def batch_body(statements: Sequence[BatchStatement]) -> dict[str, Any]:
    """A batch's request body: its statements joined into one SQL text, or, when one binds
    parameters, D1's ``{"batch": [{"sql", "params"}, …]}``."""
    if all(isinstance(st, str) for st in statements):
        return {"sql": join_statements([st for st in statements if isinstance(st, str)])}
    return {
        "batch": [
            {"sql": st} if isinstance(st, str) else {"sql": st[0], "params": list(st[1])}
            for st in statements
        ]
    }


def check_token(token: str, source: str) -> None:
    """A token is sent in an HTTP header: printable ASCII with no blank. A character pasted
    along (a zero-width space from a chat, a non-breaking space, a second line) was a
    traceback or six "connection lost" retries; named here by position, never shown."""
    if token.startswith(("Bearer ", "bearer ")):
        raise ConfigError(
            f"the Cloudflare API token in {source} starts with 'Bearer '",
            hint=f"set {source} to the token alone (the tool sends the 'Bearer ' itself)",
        )
    for i, ch in enumerate(token, 1):
        if not "!" <= ch <= "~":
            import unicodedata

            what = unicodedata.name(ch, "") or ("a line break" if ch in "\r\n" else "")
            raise ConfigError(
                f"the Cloudflare API token in {source} holds a character that cannot be sent, "
                f"at position {i} (U+{ord(ch):04X} {what}".rstrip()
                + ")",
                hint="copy the token again from the Cloudflare dashboard (a token is letters, "
                "digits, '-' and '_' only)",
            )


# -- HTTP -----------------------------------------------------------------------------------


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """httpx's own default TLS context (its CA bundle, or ``SSL_CERT_FILE``/``SSL_CERT_DIR``),
    made once per process: loading the CA bundle cost some 50 ms of CPU for every client,
    the lease keeper's twin included."""
    return httpx.create_ssl_context()


class D1Api:
    """D1's HTTP API for one database: authentication, retries, error messages.

    The token is held privately and sent only in the ``Authorization`` header of requests to
    ``api_base``; signed download/upload URLs get no token.
    """

    def __init__(
        self,
        location: D1Location,
        token: str,
        *,
        api_base: str = DEFAULT_API_BASE,
        policy: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        token_source: str = ENV_TOKEN,
    ) -> None:
        check_token(token, token_source)
        self.location = location
        self.__token = token
        debuglog.register_secret(token)  # masked wherever an answer or a message quotes it
        # Where the token came from (the variable named by api_token_env, or the option), so
        # a rejected token's hint names what the operator has to fix.
        self.token_source = token_source
        self.api_base = api_base.rstrip("/")
        self.policy = policy or RetryPolicy()
        self._sleep = sleep
        self._http = httpx.Client(
            timeout=httpx.Timeout(self.policy.timeout, connect=10.0),
            verify=_tls_context(),
            transport=transport,
            headers={"User-Agent": "malnu-tui"},
        )
        self._transport = transport
        self.requests_sent = 0
        self.stopping = False  # an interrupt came through: one brief try per request (call)

    def twin(self) -> D1Api:
        """A client of its own for the same database (for another thread: the lease keeper)."""
        return D1Api(
            self.location,
            self.__token,
            api_base=self.api_base,
            policy=self.policy,
            transport=self._transport,
            sleep=self._sleep,
            token_source=self.token_source,
        )

    def __repr__(self) -> str:
        return f"D1Api({self.location.url}, token=***)"

    def close(self) -> None:
        self._http.close()

    @property
    def database_path(self) -> str:
        loc = self.location
        return (
            f"/accounts/{quote(loc.account_id, safe='')}/d1/database/"
            f"{quote(loc.database_id, safe='')}"
        )

    max_request_bytes = MAX_REQUEST_BYTES

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.__token}"}

    def call(
        self,
        method: str,
        action: str,
        *,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
        took_effect: Callable[[], bool] | None = None,
    ) -> Any:
        """Send one API request for this database and return the envelope's ``result``.

        Reads (``took_effect`` None) are retried on any transient failure. For writes,
        ``took_effect`` reads the database to tell whether an attempt whose outcome is unknown
        was applied; if it was, ``call`` returns None instead of sending it again.

        Once an interrupt (Ctrl-C, SIGTERM, SIGHUP) has come through a request or a retry's
        wait, every later request of this client — the clean-up on the way out: the run row,
        the lock's release — is tried once, briefly: an operator who pressed Ctrl-C while D1
        failed sat through each one's six tries (84 s), and the lock row stayed all the same.
        So is every request (the one sent as it came: one more try) while a signal is held by
        an import's clean-up after its COMMIT (:func:`.interrupts.hurried`).
        """
        try:
            return self._call(method, action, body, params, took_effect)
        except KeyboardInterrupt:
            self.stopping = True
            raise

    def _call(
        self,
        method: str,
        action: str,
        body: Mapping[str, Any] | None,
        params: Mapping[str, str] | None,
        took_effect: Callable[[], bool] | None,
    ) -> Any:
        url = self.api_base + self.database_path + (f"/{action}" if action else "")
        # Encoded here as httpx would, to be measured: Cloudflare answers a body over its
        # limit with an HTML 413, after the whole of it was uploaded.
        content = None if body is None else request_content(body)
        if content is not None and len(content) > self.max_request_bytes:
            raise D1RequestTooLarge(
                f"D1 {self.location.database_id}: a request of {len(content):,} bytes; "
                f"Cloudflare refuses a body over {self.max_request_bytes:,} bytes (HTTP 413): "
                "nothing was sent",
                hint=TOO_LARGE_HINT,
            )
        headers = {**self._auth(), **({"Content-Type": "application/json"} if content else {})}
        attempt = 0
        while True:
            attempt += 1
            # (asked again each try: a SIGTERM held by an import's clean-up, during the last)
            brief = self.stopping or hurried()
            attempts = attempt if brief else self.policy.attempts
            short = min(STOPPING_TIMEOUT, self.policy.timeout)
            timeout: Any = short if brief else httpx.USE_CLIENT_DEFAULT
            unknown = False
            delay = self.policy.delay(attempt)
            asked = 0.0  # what the answer's Retry-After asks, in seconds
            t0 = time.perf_counter()
            try:
                self.requests_sent += 1
                resp = self._http.request(
                    method, url, content=content, params=params, headers=headers, timeout=timeout
                )
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                last = f"cannot connect to {urlsplit(url).netloc}: {type(exc).__name__}"
                _debug_http(method, url, type(exc).__name__, t0)
            except httpx.TimeoutException as exc:  # sent, and no answer in time
                within = short if brief else self.policy.timeout
                last = f"no answer within {within:g} s ({type(exc).__name__})"
                unknown = True
                _debug_http(method, url, type(exc).__name__, t0)
            except httpx.TransportError as exc:
                last = f"connection lost during the request ({type(exc).__name__})"
                unknown = True
                _debug_http(method, url, type(exc).__name__, t0)
            else:
                _debug_http(method, url, resp.status_code, t0)
                data = json_of(resp)
                if resp.status_code == 429:
                    # D1 answers its own overload 429 too (release notes, 2024-06-17): said as
                    # D1's, not as Cloudflare limiting the token ("check the network").
                    said = first_error(resp)[1]
                    last = (
                        f"HTTP 429: {said}"
                        if transient(said)
                        else "rate limited by Cloudflare (HTTP 429)"
                    )
                    asked = retry_after(resp)
                elif resp.status_code >= 500 and is_timeout(first_error(resp)[1]):
                    # D1 stopped the request at its 30 s and rolled it back (with whichever
                    # status: not documented). Sent again it runs 30 s again, each time holding
                    # the database from the application: said at once, with what to do.
                    raise refusal(resp, self.location, self.token_source)
                elif resp.status_code >= 500:
                    last = f"HTTP {resp.status_code}: {first_error(resp)[1] or resp.reason_phrase}"
                    unknown = True
                    # A 503 of maintenance or overload may say when to come back, as a 429 does.
                    asked = retry_after(resp)
                elif resp.status_code >= 400 and transient(first_error(resp)[1]):
                    # D1's own error list: retry these (and an overload: "send fewer requests
                    # by spreading the load over time" — the backoff does). The work may have
                    # been done before the error (a connection lost on D1's side; a request
                    # queued "for too long" is not said to be dropped): an unknown outcome.
                    last = first_error(resp)[1]
                    unknown = True
                elif resp.status_code < 300 and not (isinstance(data, dict) and "success" in data):
                    # A success whose answer is not D1's whole JSON (cut mid-way by a proxy):
                    # the request ran, or not; it is no refusal of the SQL.
                    last = f"HTTP {resp.status_code} with an answer cut short or not D1's JSON"
                    unknown = True
                elif resp.status_code < 400 and isinstance(data, dict) and data.get("success"):
                    return data.get("result")
                else:
                    raise refusal(resp, self.location, self.token_source)
            if unknown and took_effect is not None:
                try:
                    applied = took_effect()
                except D1Error as exc:
                    raise D1OutcomeUnknown(
                        f"D1 {self.location.database_id}: a write may or may not have been "
                        f"applied ({last}), and reading it back failed: {exc}",
                        hint="run `malnu-tui status` against this target before anything else",
                    ) from None
                if applied:
                    return None
            if asked > self.longest_wait:
                # Asked to come back later than this command waits: tried again sooner, it
                # was refused again (six times, minutes of silence); said now, with when.
                raise D1Unavailable(
                    f"D1 {self.location.database_id}: {last.rstrip('.')}, and asked to be tried "
                    f"again in {seconds_text(asked)} (Retry-After), longer than a command waits",
                    hint=f"run again after {utc_after(asked)}; nothing was applied twice",
                )
            delay = max(delay, asked)
            if hurried():  # (came during this try: one more, brief, and soon)
                delay = min(delay, 1.0)
            if attempt >= attempts:
                raise D1Unavailable(
                    f"D1 {self.location.database_id}: no answer after {attempt} attempts: {last}",
                    hint=(
                        "D1 says the database has more requests than it can queue (the "
                        "application's, at a busy hour?): run again at a quieter time"
                        if OVERLOADED in last
                        else "check https://www.cloudflarestatus.com/ and the network"
                    )
                    + "; nothing was applied twice",
                )
            if delay >= 1 or time.perf_counter() - t0 >= 1:  # a long wait, or after one
                observe.waiting(
                    f"D1: {last.rstrip('.')}; trying again in {seconds_text(delay)} "
                    f"(attempt {attempt + 1} of {attempts})"
                )
            self._sleep(delay)

    @property
    def longest_wait(self) -> float:
        """The longest this client waits before trying a request again, a Retry-After
        included (32 s by default; a ``check`` waits less)."""
        return max(self.policy.max_delay, 1.0) * 4

    # -- convenience ----------------------------------------------------------------------
    def raw(self, sql: str, params: Sequence[object] = ()) -> D1Result:
        """Run one read-only statement (bound parameters) and return its rows."""
        body: dict[str, Any] = {"sql": sql}
        if params:
            body["params"] = list(params)
        result = self.call("POST", "raw", body=body)
        return _parse_raw(result)[-1]

    def reads(self, statements: Sequence[BatchStatement]) -> list[D1Result]:
        """Run read-only ``statements`` as ONE request, retried as a read is: D1 runs them in
        one transaction, so every answer is of the same state of the database (two requests
        may see another writer's change between them)."""
        return _parse_raw(self.call("POST", "raw", body=batch_body(statements)))

    def trial(self, statements: Sequence[BatchStatement]) -> str | None:
        """Run ``statements`` in a batch that ends in a statement certain to fail, so D1 rolls
        it back whole: None when they would all succeed, else D1's error. Nothing is written
        (no bookmark, no row), whatever happens. D1 stopping the batch at its 30 s is raised
        (:class:`D1LimitExceeded`): it says nothing of the statements' rows, and a caller
        bisecting for a refused row took it for one."""
        table = f"malnu_probe_{secrets.token_hex(6)}"
        body = batch_body([*statements, f'SELECT * FROM "{table}"'])
        try:
            self.call("POST", "raw", body=body)
        except D1QueryError as exc:
            if table not in str(exc) and is_timeout(str(exc)):
                raise
            return None if table in str(exc) else str(exc)
        raise D1Error("a D1 probe batch did not fail as it must")

    def batch(
        self, statements: Sequence[BatchStatement], took_effect: Callable[[], bool]
    ) -> list[D1Result]:
        """Run ``statements`` as ONE D1 batch (one transaction). Returns [] when an attempt of
        unknown outcome turned out, on reading back, to have been applied."""
        result = self.call("POST", "raw", body=batch_body(statements), took_effect=took_effect)
        return [] if result is None else _parse_raw(result)

    def download(self, url: str, dest: Path, progress: Callable[[int], None] | None = None) -> int:
        """Stream a signed URL (no token sent) into ``dest``; returns the byte count."""

        def fetch() -> int:
            size = 0
            with self._http.stream("GET", url) as resp, dest.open("wb") as fh:
                if resp.status_code != 200:
                    raise D1Error(f"download of the export failed: HTTP {resp.status_code}")
                for chunk in resp.iter_bytes():
                    fh.write(chunk)
                    size += len(chunk)
                    if progress:
                        progress(size)
                fh.flush()
                os.fsync(fh.fileno())
            return size

        return self._signed("download of the export", fetch)

    def upload(self, url: str, data: bytes) -> str:
        """PUT ``data`` to a signed upload URL (no token sent); returns the ETag it answered."""
        resp = self._signed("upload of the dump", lambda: self._http.put(url, content=data))
        if resp.status_code != 200:
            raise D1Error(f"upload of the dump failed: HTTP {resp.status_code}")
        return str(resp.headers.get("etag", "")).strip('"')

    def _signed(self, what: str, send: Callable[[], _T]) -> _T:
        """``send()`` (a request to a signed URL, whole: it is sent again from its start) tried
        again with the policy's backoff while the connection fails."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return send()
            except httpx.TransportError as exc:
                if attempt >= self.policy.attempts:
                    raise D1Unavailable(f"{what} failed: {exc!r}") from None
                self._sleep(self.policy.delay(attempt))


def _debug_http(method: str, url: str, status: int | str, t0: float) -> None:
    if debuglog.enabled():
        debuglog.http_request(method, url, status, (time.perf_counter() - t0) * 1000)


def _parse_raw(result: Any) -> list[D1Result]:
    out: list[D1Result] = []
    for item in result or []:
        res = item.get("results") or {}
        cols = tuple(res.get("columns") or ())
        rows = tuple(tuple(map(_value, r)) for r in res.get("rows") or ())
        out.append(D1Result(cols, rows, item.get("meta") or {}))
    return out


def _value(value: Any) -> Any:
    """A value of D1's answer: a BLOB comes as an array of its byte values (JSON has no bytes;
    D1 hands a Worker the same, cloudflare/workers-sdk#8642), in any column (SQLite keeps a
    BLOB in a column declared TEXT or untyped): read back as the bytes it is."""
    return bytes(value) if type(value) is list else value
