"""A local stand-in for Cloudflare D1's HTTP API, backed by real SQLite files.

The one sanctioned mock in the project (STYLE.md): D1 cannot be reached from the test machines,
so this server speaks D1's JSON on 127.0.0.1 for the D1 backend's tests. What it implements,
after D1's API reference and wrangler's client code:

- ``POST …/accounts/{account}/d1/database/{db}/query`` and ``…/raw`` with ``{"sql", "params"}``
  or ``{"batch": [{"sql", "params"}, …]}``. All statements of one request run as one batch in
  one transaction, rolled back as a whole when a statement fails. Explicit transaction control
  (``BEGIN``, ``COMMIT``, ``SAVEPOINT``…) is refused as D1 refuses it (through SQLite's
  authorizer, so the error ends in ``SQLITE_AUTH``). Foreign keys are always on, so
  ``PRAGMA foreign_keys = OFF`` inside the batch is a no-op, as on D1.
- Envelope ``{"success", "errors": [{code, message}], "messages", "result"}``; per statement
  ``{"results", "success", "meta": {changes, duration, last_row_id, rows_read, rows_written,
  changed_db, size_after, served_by}}``; ``/raw`` gives ``results: {columns, rows}``.
- D1's documented limits (https://developers.cloudflare.com/d1/platform/limits/), set as
  SQLite's own on every connection, so refused in SQLite's words as D1 refuses them: 100,000
  bytes a statement, 100 bound parameters, 100 columns, 2,000,000 bytes a string, BLOB or row
  (``string or blob too big: SQLITE_TOOBIG``), 32 arguments a function, 50 bytes a LIKE
  pattern; a request body over 100 MB is answered 413 with Cloudflare's HTML page.
- D1's 30 s a query, which over the HTTP API bounds the whole request (``max_query_seconds``,
  lowered by tests): past it the request is rolled back and answered with D1's storage
  timeout (code 7429); an import's file, which D1 runs for as long as it takes, is held to
  it statement by statement.
- A BLOB in an answer is an array of its byte values, in any column (JSON has no bytes).
- Bearer tokens: missing or unknown → 401 (code 10000), a token not granted the account → 403
  (10000), an unknown account → 403 (7403), an unknown database → 404 (7404).
- Export: ``POST …/export`` polled with ``current_bookmark`` until ``result.signed_url``, a URL
  on this server that must be fetched *without* the API token (as R2's presigned URLs). A
  database holding a virtual table (an FTS5 index) is not exported, whatever ``dump_options``
  name (users report the check runs on the whole database first; reports differ, the
  stand-in takes the stricter reading): the poll answers ``status: "error"``, ``error:
  "cannot export databases with Virtual Tables (fts5)"`` (D1's import/export docs list
  databases with virtual tables as not exportable, the way round being to drop them, export
  and create them again; the words are D1's as wrangler prints them, "D1 Export error: …",
  in cloudflare/workers-sdk#6305 and #9519).
- Import: ``init`` (md5 ``etag``) → ``PUT upload_url`` (answers with an ``ETag``) → ``ingest``
  → ``poll`` with ``at_bookmark`` (the bookmark the import started from) until ``complete``
  with ``final_bookmark``. As on D1, an ``init`` whose file was uploaded before starts the
  import at once (wrangler's d1/execute.ts: "File already uploaded. Processing."), and every
  ``ingest`` or such ``init`` runs the file again: neither is safe to re-send blindly.
- Time Travel: every batch that changes the database is snapshotted with a timestamp and gets a
  bookmark; ``GET …/time_travel/bookmark?timestamp=`` and
  ``POST …/time_travel/restore?bookmark=|timestamp=`` → ``{bookmark, previous_bookmark, message}``.
- Fault injection (:class:`Fault`): answer the next N matching requests with 5xx or 429, or drop
  the connection before or after executing them; every request is logged in ``requests``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import shutil
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

API_PREFIX = "/client/v4"
# D1's documented limits (https://developers.cloudflare.com/d1/platform/limits/), each applying
# to every statement of a batch ("Limits for individual queries … apply to each individual
# statement contained within a batch statement"). They are SQLite's own limits
# (sqlite3_limit), set on every connection, so the stand-in refuses with SQLite's own words,
# as D1 does ("string or blob too big: SQLITE_TOOBIG", "too many SQL variables"…).
MAX_STATEMENT_BYTES = 100_000  # "Maximum SQL statement length: 100,000 bytes (100 KB)"
MAX_BOUND_PARAMS = 100  # "Maximum bound parameters per query: 100"
MAX_COLUMNS = 100  # "Maximum number of columns per table: 100"
# "Maximum string, BLOB or table row size: 2,000,000 bytes (2 MB)": SQLITE_LIMIT_LENGTH, which
# bounds each value and each row as SQLite stores it (its record: values and a header).
# workerd's SQLite sets 2,200,000 (src/workerd/util/sqlite.c++, setupSecurity); the stand-in
# holds D1 to the number it documents.
MAX_LENGTH = 2_000_000
MAX_FUNCTION_ARGS = 32  # "Maximum arguments per SQL function: 32"
MAX_LIKE_PATTERN = 50  # "Maximum characters (bytes) in a LIKE or GLOB pattern: 50 bytes"
# Cloudflare's network-wide request body limit, by plan (100 MB on Free and Pro), answered
# with 413 before D1 sees the request (https://developers.cloudflare.com/workers/platform/limits/).
MAX_REQUEST_BYTES = 100_000_000
TXN_REFUSED = (
    "To execute a transaction, please use the state.storage.transaction() or "
    "state.storage.transactionSync() APIs instead of the SQL BEGIN TRANSACTION or SAVEPOINT "
    "statements. The JavaScript API is safer because it will automatically roll back on "
    "exceptions, and because it interacts correctly with Durable Objects' automatic atomic "
    "write coalescing."
)
# "Maximum SQL query duration: 30 seconds", with the footnote "Requests to Cloudflare API must
# resolve in 30 seconds. Therefore, this duration limit also applies to the entire batch call"
# (D1's limits page): over the HTTP API the whole request is bounded, each statement within
# it. D1 stops it, rolls it back and answers with its storage timeout, code 7429 as wrangler
# prints it ("D1 DB storage operation exceeded timeout which caused object to be reset.
# [code: 7429]"; D1's error list: "a query is trying to write a large amount of information …
# and is taking too long"). The HTTP status of that answer is not documented: 400 here, as
# D1's other refusals of a request's SQL.
MAX_QUERY_SECONDS = 30.0
TIMEOUT_CODE = 7429
TIMEOUT_MESSAGE = "D1 DB storage operation exceeded timeout which caused object to be reset."
# A held request (Fault.hold) is answered after this long if the test never releases it.
HOLD_AT_MOST = 300.0

_ROUTE = re.compile(
    r"^/client/v4/accounts/(?P<account>[^/]+)/d1/database/(?P<db>[^/]+)"
    r"(?:/(?P<action>query|raw|export|import|time_travel/bookmark|time_travel/restore))?/?$"
)


@dataclass
class Fault:
    """One injected fault for the next ``count`` requests matching ``path`` and ``match``.

    kind: ``status`` (answer ``status`` with ``message`` without executing), ``drop-before``
    (close the connection without executing), ``drop-after`` (execute and commit, then close the
    connection without answering), ``slow`` (sleep ``delay`` seconds first; with ``hold``, wait
    until the test sets it instead: a request held for as long as the test needs, however
    loaded the machine), ``echo`` (answer
    ``status`` with a text page that echoes the request, its Authorization header included, as
    a misconfigured proxy's error page does), ``cut-after`` (execute and commit, then answer
    200 with the first half of the JSON only, its length declared as sent: an answer cut
    mid-way by a proxy that buffered it), ``error-after`` (execute and commit, then answer
    ``status`` with D1's error ``message``: D1's documented transient errors, "Network
    connection lost." or "… storage caused object to be reset.", come after the work may
    have been done; D1's error list says to retry them), ``slow-after`` (execute and commit,
    then sleep ``delay`` seconds before answering: the client stops waiting, or is stopped,
    after the work was done).
    """

    kind: str
    count: int = 1
    status: int = 503
    path: str = ""  # suffix of the request path ("" = any API request)
    match: str = ""  # substring of the request body
    delay: float = 0.0
    retry_after: int | None = None
    message: str = ""  # D1's error message: "" for each kind's own (status, error-after)
    hold: threading.Event | None = None  # ``slow``: held until set (the d1 fixture sets it)


@dataclass
class LoggedRequest:
    method: str
    path: str
    body: str
    authorization: bool
    status: int = 0
    fault: str = ""


@dataclass
class Snapshot:
    bookmark: str
    at: datetime
    path: Path


@dataclass
class Database:
    """One D1 database: a live SQLite file and its Time Travel snapshots."""

    account: str
    id: str
    dir: Path
    lock: threading.Lock = field(default_factory=threading.Lock)
    snapshots: list[Snapshot] = field(default_factory=list)
    seq: int = 0

    @property
    def path(self) -> Path:
        return self.dir / "db.sqlite"

    def connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = OFF")  # a test stand-in: speed over durability
        # "Maximum number of columns per table: 100" (D1's limits page); D1 answers a CREATE
        # TABLE of 101 with "too many columns on <table>: SQLITE_ERROR" (verified against D1
        # in cloudflare/cloudflare-docs#31047), SQLite's message for this limit, which also
        # bounds a SELECT's result columns.
        conn.setlimit(sqlite3.SQLITE_LIMIT_COLUMN, MAX_COLUMNS)
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_LENGTH)
        conn.setlimit(sqlite3.SQLITE_LIMIT_SQL_LENGTH, MAX_STATEMENT_BYTES)
        conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, MAX_BOUND_PARAMS)
        conn.setlimit(sqlite3.SQLITE_LIMIT_FUNCTION_ARG, MAX_FUNCTION_ARGS)
        conn.setlimit(sqlite3.SQLITE_LIMIT_LIKE_PATTERN_LENGTH, MAX_LIKE_PATTERN)
        return conn

    def snapshot(self) -> Snapshot:
        """Copy the live file as a new bookmark (called with ``lock`` held)."""
        self.seq += 1
        digest = hashlib.sha256(f"{self.id}/{self.seq}/{time.time_ns()}".encode()).hexdigest()
        bookmark = f"{self.seq:08x}-{len(self.snapshots):08x}-{0:08x}-{digest[:32]}"
        target = self.dir / "snapshots" / f"{self.seq:08d}.sqlite"
        target.parent.mkdir(exist_ok=True)
        src = self.connect()
        dst = sqlite3.connect(str(target))
        dst.execute("PRAGMA synchronous = OFF")
        try:
            src.backup(dst)
        finally:
            dst.close()
            src.close()
        snap = Snapshot(bookmark, datetime.now(UTC), target)
        self.snapshots.append(snap)
        return snap

    def find(self, bookmark: str) -> Snapshot | None:
        return next((s for s in self.snapshots if s.bookmark == bookmark), None)

    def at(self, when: datetime) -> Snapshot | None:
        """The newest snapshot taken at or before ``when`` (the state the database had then)."""
        chosen = None
        for snap in self.snapshots:
            if snap.at <= when:
                chosen = snap
        return chosen


class ApiError(Exception):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def split_sql(sql: str) -> list[str]:
    """Statements of ``sql``, split the way SQLite reads them (triggers and quotes respected)."""
    out: list[str] = []
    buf = ""
    pieces = sql.split(";")
    for i, piece in enumerate(pieces):
        buf += piece
        last = i == len(pieces) - 1
        if not last:
            buf += ";"
        if last or sqlite3.complete_statement(buf):
            if _has_code(buf):
                out.append(buf.strip())
            buf = ""
    return out


def _has_code(text: str) -> bool:
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"--[^\n]*", " ", text)
    return bool(text.strip().strip(";").strip())


def _d1_error(exc: sqlite3.Error) -> str:
    name = getattr(exc, "sqlite_errorname", "SQLITE_ERROR")
    message = str(exc)
    if name == "SQLITE_AUTH" or message == "not authorized":
        return f"{TXN_REFUSED}: SQLITE_AUTH"
    return f"{message}: {name}"


def _parse_time(text: str) -> datetime:
    text = text.strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return datetime.fromtimestamp(float(text), UTC)
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, 7400, f"Invalid timestamp {text!r}: expected ISO 8601") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class D1Server:
    """The D1 stand-in. ``start()`` it, ``add_database()``, point the client at ``api_base``."""

    def __init__(self, root: Path, *, token: str = "test-token-0123456789abcdef") -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.token = token
        # token → accounts it may use; the default token may use every account.
        self.tokens: dict[str, set[str] | None] = {token: None}
        self.read_only_tokens: set[str] = set()
        self.accounts: set[str] = set()
        self.databases: dict[tuple[str, str], Database] = {}
        self.faults: list[Fault] = []
        self.requests: list[LoggedRequest] = []
        self.export_polls = 1  # "active" answers before an export completes
        self.import_polls = 1
        self.max_db_bytes: int | None = None
        # Exports wrapped in BEGIN TRANSACTION; … COMMIT; as `sqlite3 .dump` writes them (and
        # as some D1 exports have been reported to).
        self.dump_transaction = False
        # Values cross D1's API as JavaScript numbers, which are exact only up to 2**53 - 1:
        # "D1 supports 64-bit signed INTEGER values internally, however BigInts are not
        # currently supported in the API yet. JavaScript integers are safe up to
        # Number.MAX_SAFE_INTEGER" (D1's Workers Binding API reference, type conversion; open
        # as cloudflare/workerd#4195: "all return values are wrapped in a JavaScript native
        # type"). A larger integer, bound or read, is rounded to the nearest double, written
        # as JavaScript writes it (9223372036854775807 → 9223372036854776000).
        self.js_numbers = True
        # "Maximum query result size: 50 MB" (D1's limits page); D1's wording of the refusal
        # is not documented, the stand-in's is its own. Tests lower it to stay small.
        self.max_result_bytes = 50_000_000
        self.max_request_bytes = MAX_REQUEST_BYTES  # tests lower it to stay small
        self.max_query_seconds = MAX_QUERY_SECONDS  # tests lower it (0.5 s) to stay quick
        self._exports: dict[str, bytes] = {}
        self._uploads: dict[str, bytes] = {}  # filename → content
        self._imports: dict[str, dict[str, Any]] = {}  # at_bookmark → job
        self._export_jobs: dict[str, int] = {}  # at_bookmark → polls so far
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> D1Server:
        server = self

        class Handler(_Handler):
            d1 = server

        self._httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(  # stop() waits up to one poll interval (0.5 s by default)
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return int(self._httpd.server_address[1])

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        """What the client uses instead of ``https://api.cloudflare.com/client/v4``."""
        return self.origin + API_PREFIX

    # -- setup --------------------------------------------------------------------------------
    def add_database(self, account: str | None = None, database_id: str | None = None) -> Database:
        """Create an empty database (and its first bookmark); returns it."""
        account = account or uuid.uuid4().hex
        database_id = database_id or str(uuid.uuid4())
        self.accounts.add(account)
        db = Database(account, database_id, self.root / account / database_id)
        db.dir.mkdir(parents=True, exist_ok=True)
        db.connect().close()
        with db.lock:
            db.snapshot()
        self.databases[(account, database_id)] = db
        return db

    def inject(self, fault: Fault) -> Fault:
        """Queue a fault; it applies to the next ``fault.count`` matching requests."""
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        """Drop every queued fault and answer every request a fault still holds."""
        with self._lock:
            for fault in self.faults:
                if fault.hold is not None:
                    fault.hold.set()
            self.faults.clear()

    def database(self, account: str, database_id: str) -> Database:
        return self.databases[(account, database_id)]

    def sql(self, db: Database, sql: str) -> list[tuple[Any, ...]]:
        """Run SQL directly on the live file (for test assertions), bypassing the API."""
        with db.lock:
            conn = db.connect()
            try:
                return list(conn.execute(sql).fetchall())
            finally:
                conn.close()

    # -- request handling ---------------------------------------------------------------------
    def take_fault(self, path: str, body: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.count > 0 and path.endswith(fault.path) and fault.match in body:
                    fault.count -= 1
                    return fault
        return None

    def authorize(self, header: str | None, account: str) -> None:
        if not header or not header.startswith("Bearer "):
            raise ApiError(401, 10000, "Authentication error")
        token = header.removeprefix("Bearer ").strip()
        if token not in self.tokens:
            raise ApiError(401, 10000, "Authentication error")
        allowed = self.tokens[token]
        if allowed is not None and account not in allowed:
            raise ApiError(403, 10000, "Authentication error")
        if account not in self.accounts:
            raise ApiError(
                403,
                7403,
                "The given account is not valid or is not authorized to access this service",
            )

    def lookup(self, account: str, database_id: str) -> Database:
        db = self.databases.get((account, database_id))
        if db is None:
            raise ApiError(404, 7404, f"The database {database_id} could not be found")
        return db

    def execute(
        self,
        db: Database,
        queries: list[tuple[str, list[Any]]],
        raw: bool,
        *,
        each_statement: bool = False,
    ) -> list[dict[str, Any]]:
        """Run every statement of ``queries`` as one transaction; rolled back on any failure.
        The request is held to ``max_query_seconds`` as a whole, or each statement alone
        (``each_statement``: an import's file)."""
        statements: list[tuple[str, list[Any]]] = []
        for sql, params in queries:
            parts = split_sql(sql)
            if params and len(parts) > 1:
                raise ApiError(
                    400, 7400, "D1_ERROR: parameters are only allowed with a single statement"
                )
            # In the HTTP API's words, as every SQL error it answers (HTTP 400, code 7500, no
            # "D1_ERROR: ", which a Worker's binding puts before them): "statement too long:
            # SQLITE_TOOBIG [code: 7500]" (wrangler's `d1 migrations apply --remote`,
            # cloudflare/workers-sdk#6347).
            if len(params) > MAX_BOUND_PARAMS:
                raise ApiError(400, 7500, "too many SQL variables: SQLITE_ERROR")
            statements.extend((p, params) for p in parts)
        for sql, _ in statements:
            if len(sql.encode()) > MAX_STATEMENT_BYTES:
                raise ApiError(400, 7500, "statement too long: SQLITE_TOOBIG")
        with db.lock:
            conn = db.connect()
            try:
                results = self._run(db, conn, statements, raw, each_statement)
            finally:
                conn.close()
        return results

    def _run(
        self,
        db: Database,
        conn: sqlite3.Connection,
        statements: list[tuple[str, list[Any]]],
        raw: bool,
        each_statement: bool = False,
    ) -> list[dict[str, Any]]:
        before_schema = conn.execute("PRAGMA schema_version").fetchone()[0]
        conn.execute("BEGIN IMMEDIATE")
        before_changes = conn.total_changes
        results: list[dict[str, Any]] = []
        conn.set_authorizer(_authorizer)
        # The request's whole work within max_query_seconds (MAX_QUERY_SECONDS): SQLite asks
        # every 1,000 instructions, and a non-zero answer interrupts the statement.
        deadline = [time.perf_counter() + self.max_query_seconds]
        conn.set_progress_handler(lambda: time.perf_counter() > deadline[0], 1000)
        try:
            for sql, params in statements:
                started = time.perf_counter()
                if each_statement:
                    deadline[0] = started + self.max_query_seconds
                changes0 = conn.total_changes
                if self.js_numbers:
                    params = [js_param(p) for p in params]
                cur = conn.execute(sql, params)
                rows = cur.fetchall()
                if self.js_numbers:
                    rows = [tuple(js_number(v) for v in r) for r in rows]
                # A BLOB comes out of D1 as an array of its byte values (JSON has no bytes;
                # D1 hands a Worker the same: cloudflare/workers-sdk#8642), whatever the
                # column's declared type: SQLite keeps a BLOB in any column.
                if any(type(v) is bytes for r in rows for v in r):
                    rows = [tuple(list(v) if type(v) is bytes else v for v in r) for r in rows]
                cols = [d[0] for d in cur.description] if cur.description else []
                changes = conn.total_changes - changes0
                meta = {
                    "served_by": "d1server.py",
                    "duration": round((time.perf_counter() - started) * 1000, 3),
                    "changes": changes,
                    "last_row_id": cur.lastrowid or 0,
                    "changed_db": changes > 0,
                    "size_after": 0,
                    "rows_read": len(rows),
                    "rows_written": changes,
                }
                payload: Any = (
                    {"columns": cols, "rows": [list(r) for r in rows]}
                    if raw
                    else [dict(zip(cols, r, strict=True)) for r in rows]
                )
                if rows and len(json.dumps(payload)) > self.max_result_bytes:
                    raise ApiError(
                        400,
                        7500,
                        "D1_ERROR: query result is larger than the maximum result size "
                        f"({self.max_result_bytes} bytes): SQLITE_TOOBIG",
                    )
                results.append({"results": payload, "success": True, "meta": meta})
        except (sqlite3.Error, ApiError) as exc:
            conn.set_authorizer(None)
            conn.set_progress_handler(None, 0)
            if conn.in_transaction:  # (an interrupted statement rolled it back itself)
                conn.execute("ROLLBACK")
            if isinstance(exc, ApiError):
                raise
            if getattr(exc, "sqlite_errorname", "") == "SQLITE_INTERRUPT":
                raise ApiError(400, TIMEOUT_CODE, TIMEOUT_MESSAGE) from None
            raise ApiError(400, 7500, _d1_error(exc)) from None
        conn.set_authorizer(None)
        conn.set_progress_handler(None, 0)
        changed = conn.total_changes != before_changes
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        size = pages * conn.execute("PRAGMA page_size").fetchone()[0]
        if self.max_db_bytes is not None and size > self.max_db_bytes:
            conn.execute("ROLLBACK")
            raise ApiError(400, 7500, "D1_ERROR: Exceeded maximum DB size: SQLITE_FULL")
        try:  # a check SQLite makes only at COMMIT (deferred foreign keys): the batch's error
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            conn.execute("ROLLBACK")
            raise ApiError(400, 7500, _d1_error(exc)) from None
        changed = changed or conn.execute("PRAGMA schema_version").fetchone()[0] != before_schema
        for r in results:
            r["meta"]["size_after"] = size
            r["meta"]["changed_db"] = changed
        if changed:
            db.snapshot()
        return results

    def dump(self, snap: Snapshot, options: dict[str, Any]) -> bytes:
        """D1-style SQL dump of a snapshot: tables in creation order, each followed by its
        rows, then indexes, triggers and views; no transaction control; ``_cf_`` tables left
        out."""
        conn = sqlite3.connect(str(snap.path))
        try:
            only = set(options.get("tables") or [])
            no_data = bool(options.get("no_data"))
            no_schema = bool(options.get("no_schema"))
            lines = ["PRAGMA defer_foreign_keys=TRUE;"]
            later: list[str] = []
            objects = conn.execute(
                "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE sql IS NOT NULL "
                # `_` escaped: D1 exports `scf_nilai` (only its own `_cf_…` are left out).
                "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
                "AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\' ORDER BY rowid"
            ).fetchall()
            for kind, name, table, sql in objects:
                if only and table not in only:
                    continue
                if kind != "table":
                    if not no_schema:
                        later.append(f"{sql};")
                    continue
                if not no_schema:
                    lines.append(f"{sql};")
                if no_data:
                    continue
                ident = '"' + name.replace('"', '""') + '"'
                cols = [r[1] for r in conn.execute(f"PRAGMA table_info({ident})")]
                values = ", ".join(
                    f"quote({c}), typeof({c})"
                    for c in ('"' + c.replace('"', '""') + '"' for c in cols)
                )
                for row in conn.execute(f"SELECT {values} FROM {ident} ORDER BY rowid"):
                    texts = [
                        # D1 writes its export through JavaScript numbers too: an integer past
                        # 2**53 comes out rounded (cloudflare/workers-sdk#15378, reproduced
                        # with the REST export endpoint).
                        str(js_number(int(text)))
                        if kind == "integer" and self.js_numbers
                        else str(text)
                        for text, kind in zip(row[::2], row[1::2], strict=True)
                    ]
                    lines.append(f"INSERT INTO {ident} VALUES({','.join(texts)});")
            has_seq = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'"
            ).fetchone()
            if has_seq and not no_data:
                lines.append('DELETE FROM "sqlite_sequence";')
                for name, seq in conn.execute("SELECT name, seq FROM sqlite_sequence"):
                    if not only or name in only:
                        quoted = "'" + str(name).replace("'", "''") + "'"
                        lines.append(f'INSERT INTO "sqlite_sequence" VALUES({quoted},{seq});')
            if self.dump_transaction:
                lines = ["PRAGMA foreign_keys=OFF;", "BEGIN TRANSACTION;", *lines[1:]]
                later.append("COMMIT;")
            return ("\n".join(lines + later) + "\n").encode()
        finally:
            conn.close()

    def restore(self, db: Database, snap: Snapshot) -> tuple[str, str]:
        """Put ``snap`` back in place; returns (new bookmark, previous bookmark)."""
        with db.lock:
            previous = db.snapshots[-1].bookmark
            src = sqlite3.connect(str(snap.path))
            dst = db.connect()
            try:
                src.backup(dst)
            finally:
                src.close()
                dst.close()
            new = db.snapshot()
        return new.bookmark, previous


MAX_SAFE_INTEGER = 2**53 - 1


def virtual_modules(path: Path) -> list[str]:
    """The modules of the virtual tables of the database at ``path`` (``fts5``), sorted."""
    conn = sqlite3.connect(str(path))
    try:
        rows = conn.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND rootpage = 0"
        ).fetchall()
    finally:
        conn.close()
    found = (re.search(r"\bUSING\s+(\w+)", str(r[0]), re.IGNORECASE) for r in rows)
    return sorted({m.group(1).lower() for m in found if m})


def js_number(value: Any) -> Any:
    """``value`` as it comes out of a JavaScript number: an integer beyond ±(2**53 - 1)
    rounded to the nearest double, then written as JavaScript's JSON.stringify writes it (the
    shortest digits that read back as that double, then zeros: 2**63 - 1 →
    9223372036854776000, beyond the int64 range)."""
    if type(value) is int and abs(value) > MAX_SAFE_INTEGER:
        return int(Decimal(repr(float(value))))
    return value


def js_param(value: Any) -> Any:
    """A bound parameter as D1 receives it (:func:`js_number`; SQLite stores a number past
    the int64 range as a REAL)."""
    value = js_number(value)
    return float(value) if type(value) is int and not -(2**63) <= value < 2**63 else value


def _authorizer(action: int, *_args: object) -> int:
    if action in (sqlite3.SQLITE_TRANSACTION, sqlite3.SQLITE_SAVEPOINT):
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_ATTACH or action == sqlite3.SQLITE_DETACH:
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that hang up (a killed process, a dropped connection) are part of the tests.
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    d1: D1Server
    protocol_version = "HTTP/1.1"
    server_version = "d1server/1"
    disable_nagle_algorithm = True  # headers and body are separate writes: avoid 40 ms stalls

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _too_large(self) -> bool:
        """Answer 413 as Cloudflare's edge does to a body over the plan's limit (an HTML page,
        not D1's JSON: D1 never sees the request), without reading the body."""
        if int(self.headers.get("Content-Length") or 0) <= self.d1.max_request_bytes:
            return False
        page = b"<html><head><title>413 Request Entity Too Large</title></head></html>"
        self.close_connection = True
        self.send_response(413)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(page)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(page)
        return True

    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        ctype = "application/octet-stream" if isinstance(payload, bytes) else "application/json"
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _envelope(self, status: int, result: Any, messages: list[str] | None = None) -> None:
        self._send(
            status,
            {"result": result, "success": True, "errors": [], "messages": messages or []},
        )

    def _error(
        self, status: int, code: int, message: str, headers: dict[str, str] | None = None
    ) -> None:
        self._send(
            status,
            {
                "result": None,
                "success": False,
                "errors": [{"code": code, "message": message}],
                "messages": [],
            },
            headers,
        )

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def _dispatch(self, method: str) -> None:
        if self._too_large():
            self.d1.requests.append(LoggedRequest(method, urlsplit(self.path).path, "", True, 413))
            return
        body = self._body()
        text = body.decode("utf-8", "replace")
        url = urlsplit(self.path)
        entry = LoggedRequest(method, url.path, text[:4000], "Authorization" in self.headers)
        self.d1.requests.append(entry)
        fault = self.d1.take_fault(url.path, text) if url.path.startswith(API_PREFIX) else None
        if fault is not None:
            entry.fault = fault.kind
            if fault.kind == "slow" and fault.hold is not None:
                fault.hold.wait(HOLD_AT_MOST)
            elif fault.kind == "slow":
                time.sleep(fault.delay)
            elif fault.kind == "status":
                entry.status = fault.status
                headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after else None
                msg = fault.message or (
                    "Too many requests" if fault.status == 429 else "D1 DB is overloaded."
                )
                code = 971 if fault.status == 429 else 7500
                self._error(fault.status, code, msg, headers)
                return
            elif fault.kind == "drop-before":
                self._drop()
                return
            elif fault.kind == "echo":
                entry.status = fault.status
                page = (
                    f"<html>{fault.status} error: {method} {self.path} "
                    f"Authorization: {self.headers.get('Authorization')} body={text[:80]}</html>"
                ).encode()
                self.send_response(fault.status)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)
                return
        try:
            if url.path.startswith("/__signed/"):
                entry.status = self._signed(method, url.path, body)
                return
            status, result, messages = self._api(method, url.path, parse_qs(url.query), body)
        except ApiError as exc:
            entry.status = exc.status
            self._error(exc.status, exc.code, exc.message)
            return
        except Exception as exc:  # a bug in the stand-in: report it as D1 would, loudly
            entry.status = 500
            self._error(500, 7500, f"internal error in d1server: {exc!r}")
            return
        if fault is not None and fault.kind == "drop-after":
            self._drop()
            return
        if fault is not None and fault.kind == "slow-after":
            time.sleep(fault.delay)
        if fault is not None and fault.kind == "error-after":
            entry.status = fault.status
            self._error(fault.status, 7500, fault.message or "D1_ERROR: Network connection lost.")
            return
        if fault is not None and fault.kind == "cut-after":
            whole = json.dumps(
                {"result": result, "success": True, "errors": [], "messages": messages}
            ).encode()
            entry.status = status
            self._send(status, whole[: len(whole) // 2])
            return
        entry.status = status
        self._envelope(status, result, messages)

    def _signed(self, method: str, path: str, body: bytes) -> int:
        # Presigned URLs carry their own authorization: a second one is an error (as on S3/R2),
        # which also catches a client that leaks the API token to a storage host.
        if "Authorization" in self.headers:
            self._send(400, b"InvalidArgument: Only one auth mechanism allowed")
            return 400
        name = path.rsplit("/", 1)[-1]
        if method == "GET" and path.startswith("/__signed/export/") and name in self.d1._exports:
            self._send(200, self.d1._exports[name])
            return 200
        if method == "PUT" and path.startswith("/__signed/import/"):
            self.d1._uploads[name] = body
            self._send(200, b"", {"ETag": f'"{hashlib.md5(body).hexdigest()}"'})
            return 200
        self._send(404, b"NoSuchKey")
        return 404

    def _api(
        self, method: str, path: str, query: dict[str, list[str]], body: bytes
    ) -> tuple[int, Any, list[str]]:
        m = _ROUTE.match(path)
        if not m:
            raise ApiError(404, 7000, "No route for that URI")
        account, database_id, action = m["account"], m["db"], m["action"] or ""
        self.d1.authorize(self.headers.get("Authorization"), account)
        db = self.d1.lookup(account, database_id)
        token = (self.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
        payload: dict[str, Any] = {}
        if body:
            try:
                payload = json.loads(body)
            except ValueError:
                raise ApiError(400, 7400, "Malformed JSON in request body") from None
        if action == "" and method == "GET":
            return 200, self._info(db), []
        if action in ("query", "raw") and method == "POST":
            if token in self.d1.read_only_tokens:
                raise ApiError(403, 10000, "Authentication error")
            if "batch" in payload:
                queries = [(q["sql"], list(q.get("params") or [])) for q in payload["batch"]]
            elif isinstance(payload.get("sql"), str):
                queries = [(payload["sql"], list(payload.get("params") or []))]
            else:
                raise ApiError(400, 7400, "The request body must have a 'sql' string")
            return 200, self.d1.execute(db, queries, raw=action == "raw"), []
        if action == "export" and method == "POST":
            return 200, self._export(db, payload), []
        if action == "import" and method == "POST":
            return 200, self._import(db, payload), []
        if action == "time_travel/bookmark" and method == "GET":
            ts = (query.get("timestamp") or [""])[0]
            with db.lock:
                snap = db.at(_parse_time(ts)) if ts else db.snapshots[-1]
            if snap is None:
                raise ApiError(400, 7400, f"No bookmark exists at or before {ts}")
            return 200, {"bookmark": snap.bookmark}, []
        if action == "time_travel/restore" and method == "POST":
            bm = (query.get("bookmark") or [""])[0]
            ts = (query.get("timestamp") or [""])[0]
            with db.lock:
                snap = db.find(bm) if bm else (db.at(_parse_time(ts)) if ts else None)
            if snap is None:
                raise ApiError(400, 7400, f"Invalid bookmark {bm or ts!r}")
            new, previous = self.d1.restore(db, snap)
            msg = f"Database restored to bookmark {snap.bookmark}"
            return (
                200,
                {
                    "bookmark": snap.bookmark,
                    "previous_bookmark": previous,
                    "message": msg,
                    "current_bookmark": new,
                },
                [],
            )
        raise ApiError(405, 7001, f"Method {method} not allowed for {path}")

    def _info(self, db: Database) -> dict[str, Any]:
        return {
            "uuid": db.id,
            "name": db.id,
            "version": "production",
            "file_size": db.path.stat().st_size,
            "num_tables": 0,
            "created_at": db.snapshots[0].at.isoformat(),
        }

    def _export(self, db: Database, payload: dict[str, Any]) -> dict[str, Any]:
        if payload.get("output_format") != "polling":
            raise ApiError(400, 7400, "output_format must be 'polling'")
        bookmark = payload.get("current_bookmark")
        with db.lock:
            snap = db.find(bookmark) if bookmark else db.snapshots[-1]
        if snap is None:
            raise ApiError(400, 7400, f"Unknown bookmark {bookmark!r}")
        polls = self.d1._export_jobs.get(snap.bookmark, -1) + 1
        self.d1._export_jobs[snap.bookmark] = polls
        base = {"success": True, "type": "export", "at_bookmark": snap.bookmark, "error": None}
        if polls < self.d1.export_polls:
            return {**base, "status": "active", "messages": [f"Generating {db.id}.sql"]}
        modules = virtual_modules(snap.path)
        if modules:  # checked on the whole database, before any `tables` of dump_options
            del self.d1._export_jobs[snap.bookmark]
            why = f"cannot export databases with Virtual Tables ({', '.join(modules)})"
            return {**base, "status": "error", "error": why, "messages": []}
        data = self.d1.dump(snap, dict(payload.get("dump_options") or {}))
        name = f"{db.id}-{snap.bookmark}.sql"
        self.d1._exports[name] = data
        del self.d1._export_jobs[snap.bookmark]
        url = f"{self.d1.origin}/__signed/export/{name}?X-Amz-Expires=3600&X-Amz-Signature=fake"
        return {
            **base,
            "status": "complete",
            "messages": ["Uploaded part 1", f"Finished uploading {name}"],
            "result": {"filename": name, "signed_url": url},
        }

    def _import(self, db: Database, payload: dict[str, Any]) -> dict[str, Any]:
        action = payload.get("action")
        if action == "init":
            etag = str(payload.get("etag") or "")
            filename = f"{etag}.sql"
            if filename in self.d1._uploads:
                return self._ingest(db, filename, etag)
            url = f"{self.d1.origin}/__signed/import/{filename}?X-Amz-Signature=fake"
            return {"success": True, "type": "import", "upload_url": url, "filename": filename}
        if action == "ingest":
            return self._ingest(db, str(payload.get("filename")), str(payload.get("etag")))
        if action == "poll":
            bm = str(payload.get("current_bookmark"))
            job = self.d1._imports.get(bm)
            if job is None:
                raise ApiError(400, 7400, f"No import in progress at bookmark {bm!r}")
            job["polls"] += 1
            if job["polls"] < self.d1.import_polls:
                return {
                    "success": True,
                    "type": "import",
                    "status": "active",
                    "at_bookmark": bm,
                    "messages": ["Processing"],
                }
            return dict(job["final"])
        raise ApiError(400, 7400, f"Unknown import action {action!r}")

    def _ingest(self, db: Database, filename: str, etag: str) -> dict[str, Any]:
        data = self.d1._uploads.get(filename)
        if data is None or hashlib.md5(data).hexdigest() != etag:
            raise ApiError(400, 7400, "Uploaded file does not match the etag")
        started = time.perf_counter()
        # at_bookmark is the bookmark the import started from: "Will not change for the
        # duration of the import" (D1's API reference); the import is polled with it.
        with db.lock:
            at = db.snapshots[-1].bookmark
        try:
            results = self.d1.execute(
                db, [(data.decode("utf-8"), [])], raw=True, each_statement=True
            )
        except ApiError as exc:
            failed = {
                "success": True,
                "type": "import",
                "status": "error",
                "at_bookmark": at,
                "messages": [],
                "errors": [exc.message],
                "error": exc.message,
            }
            self.d1._imports[at] = {"polls": self.d1.import_polls, "final": failed}
            return failed
        final = db.snapshots[-1].bookmark
        meta = {
            "duration": (time.perf_counter() - started) * 1000,
            "rows_read": sum(r["meta"]["rows_read"] for r in results),
            "rows_written": sum(r["meta"]["rows_written"] for r in results),
            "size_after": db.path.stat().st_size,
            "changed_db": True,
        }
        done = {
            "success": True,
            "type": "import",
            "status": "complete",
            "at_bookmark": at,
            "messages": [f"Executed {len(results)} queries"],
            "errors": [],
            "result": {"num_queries": len(results), "final_bookmark": final, "meta": meta},
        }
        self.d1._imports[at] = {"polls": 0, "final": done}
        return {
            "success": True,
            "type": "import",
            "status": "active",
            "at_bookmark": at,
            "messages": ["Import started"],
        }


@contextlib.contextmanager
def running_server(root: Path) -> Iterator[D1Server]:
    """A started :class:`D1Server` under ``root``, stopped afterwards."""
    server = D1Server(root).start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:  # pragma: no cover - manual use: python -m tests.d1server DIR
    import sys

    server = D1Server(Path(sys.argv[1] if len(sys.argv) > 1 else "d1-local")).start()
    db = server.add_database("0123456789abcdef0123456789abcdef")
    print(f"api base {server.api_base}  url d1://{db.account}/{db.id}  token {server.token}")
    with contextlib.suppress(KeyboardInterrupt):
        while True:
            time.sleep(3600)


if __name__ == "__main__":  # pragma: no cover
    main()
