"""Cloudflare D1 over its HTTP API (``d1://ACCOUNT_ID/DATABASE_ID``), with httpx.

D1 has no sessions: every request is its own transaction. So each migration, its tracking row
and its audit row go to D1 as ONE multi-statement request (D1 runs such a request as one batch,
rolled back as a whole when a statement fails). Values of our own rows are inlined as quoted
SQL literals rather than bound, because D1 binds parameters only for single statements.

Network trouble is retried with backoff. A write whose outcome is unknown (the connection
dropped, a timeout, a 5xx after the request was sent) is never sent again blindly: the tracking
and audit tables are read first, and the write is re-sent only if it did not take effect.

The API token comes from the target's ``api_token`` option or ``CLOUDFLARE_API_TOKEN``; it is
sent only in the ``Authorization`` header to the API host and never appears in a message.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import httpx

from malnu_tui.engine.backends import sqlite_sql as q
from malnu_tui.engine.backends.base import (
    AuditEntry,
    Kind,
    RecordApplied,
    TrackingChange,
    TrackingRecord,
    utc_now,
)
from malnu_tui.engine.backends.sqlite import lease_until, lock_is_stale, truthy
from malnu_tui.engine.errors import (
    BackendError,
    ConfigError,
    LockHeld,
    LockHolder,
    StatementFailed,
)
from malnu_tui.engine.monitor import debuglog
from malnu_tui.engine.sqlsplit import Statement

if TYPE_CHECKING:
    from malnu_tui.engine.config import Target

__all__ = [
    "DEFAULT_API_BASE",
    "ENV_API_BASE",
    "ENV_TOKEN",
    "D1Api",
    "D1AuthError",
    "D1Backend",
    "D1Error",
    "D1LimitExceeded",
    "D1Location",
    "D1NotFound",
    "D1OutcomeUnknown",
    "D1QueryError",
    "D1Result",
    "D1Unavailable",
    "RetryPolicy",
    "open_target",
    "parse_d1_url",
    "sql_literal",
]

DEFAULT_API_BASE = "https://api.cloudflare.com/client/v4"
ENV_TOKEN = "CLOUDFLARE_API_TOKEN"
ENV_API_BASE = "MALNU_D1_API_BASE"  # e.g. the local D1-compatible server of the test suite

# D1's documented limits, checked before sending so the operator gets a clear message.
MAX_STATEMENT_BYTES = 100_000

_TXN_VERBS = {"BEGIN", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE"}
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


# -- errors ---------------------------------------------------------------------------------


class D1Error(BackendError):
    """D1 answered with an error, or could not be reached."""

    def __init__(
        self, message: str, *, hint: str | None = None, status: int = 0, code: int = 0
    ) -> None:
        super().__init__(message, hint=hint)
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


class D1Unavailable(D1Error):
    """D1 kept failing (network, 429, 5xx) after every retry; nothing was sent twice."""


class D1OutcomeUnknown(D1Error):
    """A write may or may not have happened and it could not be read back to find out."""


# -- values ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class D1Location:
    """Which D1 database: the Cloudflare account id and the database id (a UUID)."""

    account_id: str
    database_id: str

    @property
    def url(self) -> str:
        return f"d1://{self.account_id}/{self.database_id}"


def parse_d1_url(url: str) -> D1Location:
    """``d1://ACCOUNT_ID/DATABASE_ID`` → :class:`D1Location`; ConfigError when malformed."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "d1":
        raise ConfigError(f"not a D1 URL: {url!r}")
    if parts.username or parts.password or parts.query or ":" in parts.netloc:
        raise ConfigError(
            "a d1:// URL carries no credentials or options",
            hint=f"use d1://ACCOUNT_ID/DATABASE_ID and put the token in {ENV_TOKEN}",
        )
    account = parts.hostname or ""
    # urlsplit lower-cases the host; account ids are lower-case hex anyway, keep the original.
    raw_host = parts.netloc
    if raw_host.lower() == account:
        account = raw_host
    database = parts.path.strip("/")
    if not _ID.match(account) or not _ID.match(database):
        raise ConfigError(
            f"bad D1 URL {url!r}",
            hint="expected d1://ACCOUNT_ID/DATABASE_ID (the account id from the Cloudflare "
            "dashboard, the database id from `wrangler d1 list`)",
        )
    return D1Location(account, database)


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


@dataclass(frozen=True)
class D1Result:
    """The result of one statement: columns, rows and D1's ``meta``."""

    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    meta: Mapping[str, Any] = field(default_factory=dict)

    def dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, r, strict=False)) for r in self.rows]


def sql_literal(value: object) -> str:
    """``value`` as a SQLite literal: text single-quoted with quotes doubled, NUL removed."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    text = str(value).replace("\x00", "\ufffd")
    return "'" + text.replace("'", "''") + "'"


def bind_literals(sql: str, params: Sequence[object]) -> str:
    """Replace each ``?`` outside quotes in ``sql`` by the matching literal of ``params``."""
    out: list[str] = []
    it = iter(params)
    i, n = 0, len(sql)
    quote_char = ""
    while i < n:
        ch = sql[i]
        if quote_char:
            out.append(ch)
            if ch == quote_char:
                quote_char = ""
        elif ch in "'\"":
            quote_char = ch
            out.append(ch)
        elif ch == "?":
            try:
                out.append(sql_literal(next(it)))
            except StopIteration:
                raise ValueError("more placeholders than parameters") from None
        else:
            out.append(ch)
        i += 1
    if next(it, _END) is not _END:
        raise ValueError("more parameters than placeholders")
    return "".join(out)


_END = object()


def _join(statements: Sequence[str]) -> str:
    # A newline before each ';' so a trailing "-- comment" cannot swallow the separator.
    return "".join(f"{s}\n;\n" for s in statements)


BISECT_MAX_SECONDS = 2.0
_ERROR_OBJECT = re.compile(
    r"no such (?:table|column|index|view|trigger): (?:\w+\.)?(?P<a>\S+?)(?::|$)"
    r"|(?:table|index|view|trigger) (?P<b>\S+) already exists"
    r"|near \"(?P<c>[^\"]+)\": syntax error"
    r"|(?:UNIQUE|NOT NULL|PRIMARY KEY) constraint failed: (?P<d>[\w]+)\.",
)


def _guess_failing(statements: Sequence[Statement], error: str) -> Statement | None:
    """The one statement that names the object of a SQLite error message, if exactly one."""
    m = _ERROR_OBJECT.search(error)
    if not m:
        return None
    name = next(g for g in m.groups() if g).strip("\"'`[]")
    word = re.compile(rf"(?<![\w$]){re.escape(name)}(?![\w$])", re.IGNORECASE)
    hits = [st for st in statements if word.search(st.text)]
    if m["b"]:  # "already exists": the statement that creates it
        hits = [st for st in hits if st.first_words.startswith(("CREATE", "ALTER"))]
    if m["d"]:  # a constraint: the statement that writes into that table
        writes = re.compile(rf"\b(?:INSERT|UPDATE|REPLACE)\b[^;]*?{word.pattern}", re.I | re.S)
        hits = [st for st in statements if writes.search(st.text)]
    return hits[0] if len(hits) == 1 else None


_GUARD_ERROR = "malformed JSON"
_SUCCESS = "(success = 1 OR lower(CAST(success AS TEXT)) IN ('1', 'true', 't', 'yes'))"


def _guard_sql(change: TrackingChange) -> str:
    """First statement of a migration batch: fails (a runtime error, so the whole batch is
    rolled back) when the tracking row already shows the change. A delayed duplicate of a
    batch, or a second session, can therefore never apply a migration twice."""
    negate = "" if isinstance(change, RecordApplied) else "NOT "
    return bind_literals(
        f"SELECT CASE WHEN {negate}EXISTS (SELECT 1 FROM migrations WHERE filename = ? "
        f"AND {_SUCCESS}) THEN json('malnu guard: tracking row already changed') END",
        (change.filename,),
    )


def _verb(text: str) -> str:
    return Statement(text, 1).first_words.split(" ", 1)[0]


# -- HTTP -----------------------------------------------------------------------------------


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
    ) -> None:
        self.location = location
        self.__token = token
        self.api_base = api_base.rstrip("/")
        self.policy = policy or RetryPolicy()
        self._sleep = sleep
        self._http = httpx.Client(
            timeout=httpx.Timeout(self.policy.timeout, connect=10.0),
            transport=transport,
            headers={"User-Agent": "malnu-tui"},
        )
        self.requests_sent = 0

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
        """
        url = self.api_base + self.database_path + (f"/{action}" if action else "")
        attempt = 0
        while True:
            attempt += 1
            unknown = False
            delay = self.policy.delay(attempt)
            t0 = time.perf_counter()
            try:
                self.requests_sent += 1
                resp = self._http.request(
                    method, url, json=body, params=params, headers=self._auth()
                )
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                last = f"cannot connect to {urlsplit(url).netloc}: {type(exc).__name__}"
                _debug_http(method, url, type(exc).__name__, t0)
            except httpx.TransportError as exc:
                last = f"connection lost during the request ({type(exc).__name__})"
                unknown = True
                _debug_http(method, url, type(exc).__name__, t0)
            else:
                _debug_http(method, url, resp.status_code, t0)
                if resp.status_code == 429:
                    last = "rate limited by Cloudflare (HTTP 429)"
                    delay = max(delay, _retry_after(resp, self.policy.max_delay))
                elif resp.status_code >= 500:
                    last = f"HTTP {resp.status_code}: {_first_error(resp)[1] or resp.reason_phrase}"
                    unknown = True
                else:
                    return self._result(resp)
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
            if attempt >= self.policy.attempts:
                raise D1Unavailable(
                    f"D1 {self.location.database_id}: no answer after {attempt} attempts: {last}",
                    hint="check https://www.cloudflarestatus.com/ and the network; "
                    "nothing was applied twice",
                )
            self._sleep(delay)

    def _result(self, resp: httpx.Response) -> Any:
        try:
            data = resp.json()
        except ValueError:
            data = None
        if resp.status_code < 400 and isinstance(data, dict) and data.get("success"):
            return data.get("result")
        code, message = _first_error(resp)
        loc = self.location
        status = resp.status_code
        if status == 401 or (status in (400, 403) and code in (10000, 6003, 6111, 9106, 9109)):
            if status == 403:
                raise D1AuthError(
                    f"the Cloudflare API token may not use D1 on account {loc.account_id} "
                    f"(HTTP 403: {message})",
                    hint="give the token the 'D1 Edit' permission on this account",
                    status=status,
                    code=code,
                )
            raise D1AuthError(
                f"Cloudflare rejected the API token (HTTP {status}: {message})",
                hint=f"set {ENV_TOKEN} to a valid API token with 'D1 Edit' permission",
                status=status,
                code=code,
            )
        if status == 403 or code == 7403:
            raise D1NotFound(
                f"account {loc.account_id} is not valid or not authorized for D1 ({message})",
                hint="check the account id in d1://ACCOUNT_ID/DATABASE_ID (Cloudflare dashboard "
                "→ Workers & Pages → Account ID)",
                status=status,
                code=code,
            )
        if status == 404 or code == 7404:
            raise D1NotFound(
                f"D1 database {loc.database_id} not found in account {loc.account_id} ({message})",
                hint="check the database id (`wrangler d1 list` shows it)",
                status=status,
                code=code,
            )
        if _is_limit(message):
            raise D1LimitExceeded(
                f"D1 limit reached: {message}",
                hint="D1 allows 100 KB per SQL statement, 100 bound parameters per query and "
                "a bounded database size: split large data migrations into smaller files",
                status=status,
                code=code,
            )
        raise D1QueryError(message or f"HTTP {status}", status=status, code=code)

    # -- convenience ----------------------------------------------------------------------
    def raw(self, sql: str, params: Sequence[object] = ()) -> D1Result:
        """Run one read-only statement (bound parameters) and return its rows."""
        body: dict[str, Any] = {"sql": sql}
        if params:
            body["params"] = list(params)
        result = self.call("POST", "raw", body=body)
        return _parse_raw(result)[-1]

    def batch(self, statements: Sequence[str], took_effect: Callable[[], bool]) -> list[D1Result]:
        """Run ``statements`` as ONE D1 batch (one transaction). Returns [] when an attempt of
        unknown outcome turned out, on reading back, to have been applied."""
        result = self.call("POST", "raw", body={"sql": _join(statements)}, took_effect=took_effect)
        return [] if result is None else _parse_raw(result)

    def download(self, url: str, dest: Path, progress: Callable[[int], None] | None = None) -> int:
        """Stream a signed URL (no token sent) into ``dest``; returns the byte count."""
        attempt = 0
        while True:
            attempt += 1
            try:
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
            except httpx.TransportError as exc:
                if attempt >= self.policy.attempts:
                    raise D1Unavailable(f"download of the export failed: {exc!r}") from None
                self._sleep(self.policy.delay(attempt))

    def upload(self, url: str, data: bytes) -> str:
        """PUT ``data`` to a signed upload URL (no token sent); returns the ETag it answered."""
        attempt = 0
        while True:
            attempt += 1
            try:
                resp = self._http.put(url, content=data)
            except httpx.TransportError as exc:
                if attempt >= self.policy.attempts:
                    raise D1Unavailable(f"upload of the dump failed: {exc!r}") from None
                self._sleep(self.policy.delay(attempt))
                continue
            if resp.status_code != 200:
                raise D1Error(f"upload of the dump failed: HTTP {resp.status_code}")
            return str(resp.headers.get("etag", "")).strip('"')


def _debug_http(method: str, url: str, status: int | str, t0: float) -> None:
    if debuglog.enabled():
        debuglog.http_request(method, url, status, (time.perf_counter() - t0) * 1000)


def _retry_after(resp: httpx.Response, cap: float) -> float:
    try:
        return min(float(resp.headers.get("retry-after", "0")), max(cap, 1.0) * 4)
    except ValueError:
        return 0.0


def _first_error(resp: httpx.Response) -> tuple[int, str]:
    try:
        data = resp.json()
    except ValueError:
        return 0, resp.text[:200]
    errors = data.get("errors") if isinstance(data, dict) else None
    if errors and isinstance(errors, list) and isinstance(errors[0], dict):
        return int(errors[0].get("code") or 0), str(errors[0].get("message") or "")
    return 0, ""


_LIMIT_WORDS = (
    "SQLITE_TOOBIG",
    "too long",
    "too many SQL variables",
    "Exceeded maximum DB size",
    "SQLITE_FULL",
    "exceeded timeout",
    "too many requests queued",
)


def _is_limit(message: str) -> bool:
    low = message.lower()
    return any(w.lower() in low for w in _LIMIT_WORDS)


def _parse_raw(result: Any) -> list[D1Result]:
    out: list[D1Result] = []
    for item in result or []:
        res = item.get("results") or {}
        cols = tuple(res.get("columns") or ())
        rows = tuple(tuple(r) for r in res.get("rows") or ())
        out.append(D1Result(cols, rows, item.get("meta") or {}))
    return out


# -- the backend ----------------------------------------------------------------------------


class D1Backend:
    """One D1 database as a :class:`~malnu_tui.engine.backends.base.Backend`."""

    kind: Kind = "d1"

    def __init__(self, api: D1Api) -> None:
        self.api = api
        self.location = api.location
        self.display_url = api.location.url
        self.name = api.location.database_id
        self._my_lock: LockHolder | None = None
        self._schema_ready = False
        self._pending: list[str] = []  # idempotent bookkeeping not yet sent

    def __repr__(self) -> str:
        return f"D1Backend({self.display_url})"

    def _flush(self, *then: str) -> list[D1Result]:
        """Send pending bookkeeping (plus ``then``, also idempotent) as one batch."""
        sqls, self._pending = [*self._pending, *then], []
        if not sqls:
            return []
        try:
            return self.api.batch(sqls, lambda: False)[len(sqls) - len(then) :]
        except D1Error:
            if then:
                raise
            return []  # only the timings were lost: the migrations themselves are recorded

    @property
    def held_lock(self) -> LockHolder | None:
        """The lock this session holds (None when it holds none)."""
        return self._my_lock

    def forget_schema(self) -> None:
        """After the database was replaced (Time Travel, import): check the tool tables again."""
        self._schema_ready = False

    def close(self) -> None:
        with contextlib.suppress(D1Error):
            if self._my_lock is not None:
                self.release_lock()
            self._flush()
        self.api.close()

    # -- plumbing ---------------------------------------------------------------------------
    def query(self, sql: str, params: Sequence[object] = ()) -> list[dict[str, Any]]:
        """Rows of one read-only statement, as dicts (bound parameters)."""
        return self.api.raw(sql, params).dicts()

    def _audit_sql(self, e: AuditEntry) -> str:
        return bind_literals(
            q.INSERT_AUDIT, (e.at, e.actor, e.action, e.object, e.outcome, e.detail)
        )

    def _audit_written(self, e: AuditEntry) -> bool:
        rows = self.api.raw(
            "SELECT count(*) FROM malnu_audit WHERE at = ? AND actor = ? AND action = ? "
            "AND object = ? AND outcome = ? AND detail = ?",
            (e.at, e.actor, e.action, e.object, e.outcome, e.detail),
        ).rows
        return bool(rows and int(rows[0][0]) > 0)

    def _write(self, statements: Sequence[str], audit: AuditEntry | None) -> list[D1Result]:
        """One audited batch; an attempt of unknown outcome is checked via its audit row."""

        def took_effect() -> bool:
            return audit is not None and self._audit_written(audit)

        sqls = list(statements) + ([self._audit_sql(audit)] if audit else [])
        return self.api.batch(sqls, took_effect)

    def ensure_schema(self) -> None:
        if self._schema_ready:
            return
        have = {
            r["name"]
            for r in self.query(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name IN ('migrations', 'malnu_audit', 'malnu_lock')"
            )
        }
        if not {"migrations", "malnu_audit", "malnu_lock"} <= have:
            # CREATE … IF NOT EXISTS is idempotent: a blind re-send is harmless.
            self.api.batch([q.CREATE_TRACKING, q.CREATE_AUDIT, q.CREATE_LOCK], lambda: False)
        self._schema_ready = True

    # -- tracking ---------------------------------------------------------------------------
    def fetch_records(self) -> list[TrackingRecord]:
        self.ensure_schema()
        self._flush()
        return [
            TrackingRecord(
                filename=r["filename"],
                checksum=r["checksum"],
                executed_at=r["executed_at"],
                execution_time_ms=None
                if r["execution_time_ms"] is None
                else int(r["execution_time_ms"]),
                success=truthy(r["success"]),
                error_message=r["error_message"],
            )
            for r in self.query(q.SELECT_RECORDS)
        ]

    def _record(self, filename: str) -> TrackingRecord | None:
        rows = self.query(
            "SELECT filename, checksum, executed_at, execution_time_ms, success, error_message "
            "FROM migrations WHERE filename = ?",
            (filename,),
        )
        if not rows:
            return None
        r = rows[0]
        return TrackingRecord(
            r["filename"],
            r["checksum"],
            r["executed_at"],
            r["execution_time_ms"],
            truthy(r["success"]),
            r["error_message"],
        )

    def run_unit(
        self,
        filename: str,
        statements: Sequence[Statement],
        change: TrackingChange,
        audit: AuditEntry,
    ) -> int:
        """Statements + tracking change + audit row as one D1 batch (see the protocol)."""
        for st in statements:
            verb = _verb(st.text)
            if verb in _TXN_VERBS:
                raise StatementFailed(
                    filename,
                    st.line,
                    st.text,
                    f"D1 rejects {verb} in SQL sent over its API: remove the transaction "
                    "control (the tool runs each migration as one batch)",
                )
            if len(st.text.encode()) > MAX_STATEMENT_BYTES:
                raise StatementFailed(
                    filename,
                    st.line,
                    st.text[:200],
                    f"statement is {len(st.text.encode())} bytes; D1 allows "
                    f"{MAX_STATEMENT_BYTES} per statement: split it",
                )
        now = utc_now()
        if isinstance(change, RecordApplied):
            tracking = bind_literals(
                q.UPSERT_SUCCESS, (change.filename, change.checksum, now, None)
            )
        else:
            tracking = bind_literals(q.DELETE_RECORD, (change.filename,))

        def took_effect() -> bool:
            # Read the tracking table first: that is what decides whether it ran.
            rec = self._record(change.filename)
            if isinstance(change, RecordApplied):
                done = rec is not None and rec.success and rec.checksum == change.checksum
            else:
                done = rec is None
            return done and self._audit_written(audit)

        texts = [st.text for st in statements]
        guard = _guard_sql(change)
        started = time.perf_counter()
        try:
            results = self.api.batch([guard, *texts, tracking, self._audit_sql(audit)], took_effect)
        except D1QueryError as exc:
            if _GUARD_ERROR in str(exc) and self._guard_fired(change):
                # An earlier delivery of this very batch (delayed past its timeout) or another
                # session applied it first: this one was refused whole by the guard.
                if took_effect():
                    return int((time.perf_counter() - started) * 1000)
                raise D1Error(
                    f"{change.filename}: another session changed its tracking row meanwhile; "
                    "nothing was run",
                    hint="run `malnu-tui status`; check who else works on this database",
                ) from None
            if isinstance(exc, D1LimitExceeded) and not texts:
                raise
            line, text = self._locate_failure(statements, str(exc), time.perf_counter() - started)
            raise StatementFailed(filename, line, text, str(exc)) from None
        if results:
            timed = results[1 : 1 + len(texts)]
            elapsed = int(sum(float(r.meta.get("duration") or 0) for r in timed))
            if debuglog.enabled():
                for st, r in zip(statements, timed, strict=False):
                    ms, rows = float(r.meta.get("duration") or 0), r.meta.get("changes")
                    debuglog.statement(self.display_url, filename, st.line, ms, rows)
        else:
            elapsed = int((time.perf_counter() - started) * 1000)
        if isinstance(change, RecordApplied):
            # The time is known only once D1 has answered. Recording it is idempotent and
            # rides along with the next lock renewal (one round trip fewer per migration).
            self._pending.append(
                bind_literals(
                    "UPDATE migrations SET execution_time_ms = ? WHERE filename = ?",
                    (elapsed, change.filename),
                )
            )
        return elapsed

    def _guard_fired(self, change: TrackingChange) -> bool:
        rec = self._record(change.filename)
        applied = rec is not None and rec.success
        return applied if isinstance(change, RecordApplied) else not applied

    def _locate_failure(
        self, statements: Sequence[Statement], error: str, batch_seconds: float = 0.0
    ) -> tuple[int, str]:
        """Which statement failed: D1 does not say. First the error's object name (``no such
        table: x``, ``near "x"``…) when exactly one statement mentions it; else, when the
        failed batch was quick, bisect with probe batches ending in a statement certain to
        fail (each probe is rolled back whole and changes nothing). A slow batch is not
        re-run: on D1 that would block the database again for every probe."""
        if not statements:
            return 0, ""
        if len(statements) == 1:
            return statements[0].line, statements[0].text
        guess = _guess_failing(statements, error)
        if guess is not None:
            return guess.line, guess.text
        if batch_seconds > BISECT_MAX_SECONDS:
            return statements[0].line, statements[0].text
        probe_table = f"malnu_probe_{secrets.token_hex(6)}"
        probe = f'SELECT * FROM "{probe_table}"'
        lo, hi = 0, len(statements) - 1  # the failing index is in [lo, hi]
        try:
            while lo < hi:
                mid = (lo + hi) // 2
                try:
                    self.api.call(
                        "POST",
                        "raw",
                        body={"sql": _join([s.text for s in statements[: mid + 1]] + [probe])},
                    )
                    break  # cannot happen: the probe always fails
                except D1QueryError as exc:
                    if probe_table in str(exc):
                        lo = mid + 1  # statements 0..mid all ran
                    else:
                        hi = mid
            else:
                return statements[lo].line, statements[lo].text
        except D1Error:
            pass
        return statements[0].line, statements[0].text

    def record_failure(
        self, filename: str, checksum: str, error: str, elapsed_ms: int, audit: AuditEntry
    ) -> None:
        self._write(
            [bind_literals(q.UPSERT_FAILURE, (filename, checksum, utc_now(), elapsed_ms, error))],
            audit,
        )

    def set_checksum(self, filename: str, checksum: str, audit: AuditEntry) -> None:
        self._write([bind_literals(q.UPDATE_CHECKSUM, (checksum, filename))], audit)

    def delete_record(self, filename: str, audit: AuditEntry) -> None:
        self._write([bind_literals(q.DELETE_RECORD, (filename,))], audit)

    # -- audit ------------------------------------------------------------------------------
    def append_audit(self, entry: AuditEntry) -> None:
        self.ensure_schema()
        self._write([], entry)

    def read_audit(self, limit: int = 200, action: str | None = None) -> list[AuditEntry]:
        self.ensure_schema()
        sql = q.SELECT_AUDIT
        params: list[object] = []
        if action:
            sql += " WHERE action = ?"
            params.append(action)
        sql += " ORDER BY id DESC LIMIT ?"
        params.append(int(limit))
        return [
            AuditEntry(
                r["at"],
                r["actor"],
                r["action"],
                r["object"],
                r["outcome"],
                r["detail"],
                id=int(r["id"]),
            )
            for r in self.query(sql, params)
        ]

    # -- locking: a lock row with a lease (D1 has no session to hold a lock) ---------------
    def read_lock(self) -> LockHolder | None:
        try:
            rows = self.query(q.SELECT_LOCK)
        except D1QueryError:
            return None  # no lock table yet
        if not rows:
            return None
        r = rows[0]
        return LockHolder(
            owner=r["owner"],
            host=r["host"],
            pid=int(r["pid"]),
            acquired_at=r["acquired_at"],
            expires_at=r["expires_at"],
        )

    def acquire_lock(self, holder: LockHolder) -> None:
        """Insert the lock row; a plain INSERT fails on the primary key if anyone holds it,
        so two operators racing cannot both win. A stale row (dead process on this host, or
        an expired lease) is deleted in the same batch, exactly as read, and audited."""
        self.ensure_schema()
        current = self.read_lock()
        stale = lock_is_stale(current, holder.host) if current else None
        if current is not None and stale is None:
            raise LockHeld(current)
        expires = lease_until()
        mine = LockHolder(
            holder.owner, holder.host, holder.pid, holder.acquired_at, expires, holder.note
        )
        sqls: list[str] = []
        audit: AuditEntry | None = None
        if current is not None:
            sqls.append(
                bind_literals(
                    "DELETE FROM malnu_lock WHERE id = 1 AND owner = ? AND host = ? AND pid = ? "
                    "AND acquired_at = ?",
                    (current.owner, current.host, current.pid, current.acquired_at),
                )
            )
            audit = AuditEntry.now(
                "unlock",
                "migration lock",
                "ok",
                f"took over a stale lock of {current.describe()}: {stale}",
            )
        sqls.append(
            bind_literals(
                "INSERT INTO malnu_lock (id, owner, host, pid, acquired_at, expires_at) "
                "VALUES (1, ?, ?, ?, ?, ?)",
                (holder.owner, holder.host, holder.pid, holder.acquired_at, expires),
            )
        )

        def took_effect() -> bool:
            now = self.read_lock()
            return now is not None and (now.host, now.pid, now.acquired_at) == (
                holder.host,
                holder.pid,
                holder.acquired_at,
            )

        if audit is not None:
            sqls.append(self._audit_sql(audit))
        try:
            self.api.batch(sqls, took_effect)
        except D1QueryError as exc:
            if "constraint" in str(exc).lower():
                raise LockHeld(self.read_lock(), "taken a moment ago") from None
            raise
        self._my_lock = mine

    def renew_lock(self) -> None:
        if self._my_lock is None:
            return
        h = self._my_lock
        expires = lease_until()
        results = self._flush(bind_literals(q.RENEW_LOCK, (expires, h.host, h.pid)))
        if results and not results[0].meta.get("changes", 1):
            # Our lease ran out and another operator took the lock: stop before doing more.
            self._my_lock = None
            raise LockHeld(self.read_lock(), "this session's lease expired and was taken over")
        self._my_lock = LockHolder(h.owner, h.host, h.pid, h.acquired_at, expires, h.note)

    def release_lock(self) -> None:
        if self._my_lock is None:
            return
        h = self._my_lock
        self._flush(bind_literals(q.RELEASE_LOCK, (h.host, h.pid)))
        self._my_lock = None

    def force_unlock(self, audit: AuditEntry) -> LockHolder | None:
        self.ensure_schema()
        current = self.read_lock()
        self._write([q.FORCE_RELEASE_LOCK], audit)
        return current

    # -- introspection ----------------------------------------------------------------------
    def table_names(self) -> list[str]:
        return [r["name"] for r in self.query(q.SELECT_TABLES) if r["name"] not in q.TOOL_TABLES]

    def row_count(self, table: str) -> int:
        if table not in self.table_names() and table not in q.TOOL_TABLES:
            raise BackendError(f"no table {table!r} in {self.display_url}")
        rows = self.api.raw(f"SELECT count(*) FROM {q.quote_ident(table)}").rows
        return int(rows[0][0])

    def schema_fingerprint(self) -> str:
        rows = self.api.raw(q.SELECT_SCHEMA).rows
        text = "\n".join(f"{r[0]}|{r[1]}|{r[2]}|{' '.join(str(r[3]).split())}" for r in rows)
        return hashlib.sha256(text.encode()).hexdigest()


def _policy_from(options: Mapping[str, Any]) -> RetryPolicy:
    base = RetryPolicy()
    try:
        return RetryPolicy(
            attempts=int(options.get("retry_attempts", base.attempts)),
            base_delay=float(options.get("retry_base_delay", base.base_delay)),
            max_delay=float(options.get("retry_max_delay", base.max_delay)),
            timeout=float(options.get("timeout", base.timeout)),
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"bad D1 retry option: {exc}") from None


def open_target(target: Target) -> D1Backend:
    """Connect to the D1 database a ``d1://ACCOUNT_ID/DATABASE_ID`` target names.

    Token: the target's ``api_token`` option, else the variable named by ``api_token_env``
    (default ``CLOUDFLARE_API_TOKEN``). API base: the ``api_base`` option, else
    ``$MALNU_D1_API_BASE``, else Cloudflare's. Retries: ``retry_attempts``,
    ``retry_base_delay``, ``retry_max_delay`` and ``timeout`` (seconds).
    """
    location = parse_d1_url(target.url)
    options = dict(target.options)
    env_name = str(options.get("api_token_env") or ENV_TOKEN)
    token = str(options.get("api_token") or os.environ.get(env_name) or "").strip()
    if not token:
        raise ConfigError(
            f"no Cloudflare API token for {location.url}",
            hint=f"export {env_name}=… (a token with 'D1 Edit' permission on the account)",
        )
    api_base = str(options.get("api_base") or os.environ.get(ENV_API_BASE) or DEFAULT_API_BASE)
    if not api_base.startswith(("https://", "http://127.0.0.1", "http://localhost")):
        raise ConfigError(
            f"D1 API base {api_base!r} must be https:// (plain http only to localhost)",
            hint="the API token must never travel unencrypted",
        )
    return D1Backend(D1Api(location, token, api_base=api_base, policy=_policy_from(options)))
