"""Cloudflare D1 as a :class:`~malnu_tui.engine.backends.base.Backend`, over
:class:`~malnu_tui.engine.backends.d1.client.D1Api`.

D1 has no sessions: every request is its own transaction. So each migration, its tracking row
and its audit row go to D1 as ONE multi-statement request (D1 runs such a request as one batch,
rolled back as a whole when a statement fails). Values of our own rows are inlined as quoted
SQL literals rather than bound, because D1 binds parameters only for single statements. The
lock is a row with a lease (D1 has no session to hold a lock).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from malnu_tui.engine.backends import sqlite_sql as q
from malnu_tui.engine.backends.base import (
    AUDIT_TABLE,
    AuditEntry,
    AuditWhere,
    Kind,
    RecordApplied,
    TrackingChange,
    TrackingRecord,
    index_left,
    utc_now,
)
from malnu_tui.engine.backends.d1 import fkcheck, lockrow
from malnu_tui.engine.backends.d1.client import (
    DEFAULT_API_BASE,
    ENV_API_BASE,
    ENV_TOKEN,
    BatchStatement,
    D1Api,
    D1Error,
    D1LimitExceeded,
    D1OutcomeUnknown,
    D1QueryError,
    D1Result,
    D1Unavailable,
    RetryPolicy,
    parse_d1_url,
)
from malnu_tui.engine.backends.d1.errors import is_timeout
from malnu_tui.engine.backends.d1.statements import locate_failure, refuse_unsendable
from malnu_tui.engine.backends.sqlite_sql import bind_literals, truthy
from malnu_tui.engine.config_schema import d1_text, d1_token_variable
from malnu_tui.engine.errors import (
    BackendError,
    ConfigError,
    LockHeld,
    LockHolder,
    LockLeft,
    LockLost,
    MalnuError,
    StatementFailed,
)
from malnu_tui.engine.monitor import debuglog
from malnu_tui.engine.observe import statement_started
from malnu_tui.engine.sqlsplit import Statement

if TYPE_CHECKING:
    from malnu_tui.engine.backends.lease import LeaseKeeper
    from malnu_tui.engine.config import Target

__all__ = ["D1Backend", "open_target"]

# The tool's own tables missing inside a migration's batch: the file dropped or renamed one
# (its statements ran, then the tracking row failed; it was said as the file's line 1).
_TOOL_TABLE_GONE = re.compile(r"no such table: (?:main\.)?(?:migrations|malnu_audit|malnu_lock)\b")


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


# -- the backend ----------------------------------------------------------------------------


class D1Backend:
    """One D1 database as a :class:`~malnu_tui.engine.backends.base.Backend`."""

    kind: Kind = "d1"

    def __init__(self, api: D1Api, *, read_only: bool = False, fresh_ok: bool = False) -> None:
        self.api = api
        self.read_only = read_only  # monitoring: no tool table created (NotInitialised)
        self._fresh_ok = fresh_ok  # read-only (a dry run): no tracking table = nothing applied
        self._absent: frozenset[str] = frozenset()
        self.location = api.location
        self.display_url = api.location.url
        self.name = api.location.database_id
        self._my_lock: LockHolder | None = None
        self._keeper: LeaseKeeper | None = None  # renews the lease while the lock is held
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
        have = {r["name"]: r["sql"] for r in self.query(q.SELECT_TOOL_TABLES)}
        q.refuse_foreign_tracking(have, self.display_url)
        if self.read_only:
            self._absent = q.absent_tool_tables(have, self.display_url, fresh_ok=self._fresh_ok)
        elif todo := q.schema_upgrade(have):
            # An audit index on an existing trail goes in a request of its own: D1 may stop
            # its build at 30 s, and then the rest is kept and the command goes on.
            apart = [s for s in todo if AUDIT_TABLE in have and q.audit_index_of(s)]
            rest = [s for s in todo if s not in apart]

            # CREATE … IF NOT EXISTS is idempotent: a blind re-send is harmless. A column added
            # (the lock's purpose, the seed's tracking columns): a re-send after the batch (all
            # or nothing) took effect fails with "duplicate column"; it took effect when
            # nothing of it is left to do.
            def took() -> bool:
                again = {r["name"]: r["sql"] for r in self.query(q.SELECT_TOOL_TABLES)}
                return not set(q.schema_upgrade(again)) & set(rest)

            if rest:
                self.api.batch(rest, took)
            for create in apart:
                self._audit_index(create)
        self._schema_ready = True

    def _audit_index(self, create: str) -> None:
        """Make an audit index on an existing trail (``create``, of ``schema_upgrade``'s); one
        D1 stops at its 30 s is made empty instead (:func:`.sqlite_sql.empty_audit_index`) and
        said: every command that may write tried it again, and failed on it, for ever."""
        name = q.audit_index_of(create) or ""

        def made() -> bool:  # (an answer lost: IF NOT EXISTS makes a re-send harmless)
            return bool(self.query("SELECT 1 FROM sqlite_master WHERE name = ?", (name,)))

        try:
            self.api.batch([create], made)
        except D1QueryError as exc:
            if not is_timeout(str(exc)):
                raise
            self.api.batch([q.empty_audit_index(name)], made)
            index_left(
                f"{self.display_url}: D1 stopped the build of the audit index {name} at its "
                "30 s (the audit trail is too long for one request): made empty, so no command "
                "tries it again; reads go without it (`check`'s of each [sync.NAME] pair, "
                "slower on a long trail). To have it: delete old rows of malnu_audit in ranges "
                f"of ids, then DROP INDEX {name}; the next command builds it"
            )

    # -- tracking ---------------------------------------------------------------------------
    def fetch_records(self) -> list[TrackingRecord]:
        self.ensure_schema()
        if "migrations" in self._absent:
            return []
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
            for r in self.query(q.records_sql(self._absent))
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
        refuse_unsendable(filename, statements)
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
        statement_started(filename, 0, len(texts))  # 0: all of them, as one batch
        guard = _guard_sql(change)
        # Prisma's rebuild turns defer_foreign_keys off: the references it broke, checked
        off = q.defer_off_statement(statements)
        check = [] if off is None else [fkcheck.check_sql(fkcheck.violations(self.api))]
        started = time.perf_counter()
        try:
            results = self.locked_batch(
                [guard, *texts, *check, tracking, self._audit_sql(audit)], took_effect
            )
        except D1QueryError as exc:
            if off is not None and (broke := fkcheck.broken_in_batch(filename, off.line, str(exc))):
                raise broke from None
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
            if _TOOL_TABLE_GONE.search(str(exc)):  # (the tool made them before the batch)
                raise D1Error(
                    f"{self.display_url}: {filename} ran, but its tracking row could not be "
                    f"written: {exc}; all of it was rolled back",
                    hint="a migration must not drop or alter the tool's tables (migrations, "
                    "malnu_audit, malnu_lock)",
                ) from None
            if is_timeout(str(exc)) and len(statements) > 1:
                # D1 does not say which statement was running, and probing would run the
                # slow work again: the first is named, and what ran past the limit is said.
                first, last = statements[0], statements[-1]
                raise StatementFailed(
                    filename,
                    first.line,
                    first.text,
                    f"{exc} (its {len(statements)} statements, lines {first.line}–{last.line}, "
                    "go to D1 as one request, held to 30 s as a whole; D1 does not say which "
                    "statement was running)",
                ) from None
            line, text = locate_failure(
                self.api, statements, str(exc), time.perf_counter() - started
            )
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

    def record_failure(
        self, filename: str, checksum: str, error: str, elapsed_ms: int, audit: AuditEntry
    ) -> None:
        self._write(
            [bind_literals(q.UPSERT_FAILURE, (filename, checksum, utc_now(), elapsed_ms, error))],
            audit,
        )

    def set_checksum(
        self, filename: str, checksum: str, audit: AuditEntry, rename_to: str | None = None
    ) -> None:
        row = (checksum, rename_to or filename, filename)
        self._write([bind_literals(q.UPDATE_CHECKSUM, row)], audit)

    def delete_record(self, filename: str, audit: AuditEntry) -> None:
        self._write([bind_literals(q.DELETE_RECORD, (filename,))], audit)

    # -- audit ------------------------------------------------------------------------------
    def append_audit(self, entry: AuditEntry) -> None:
        self.ensure_schema()
        self._write([], entry)

    def peek_audit(
        self, limit: int = 200, action: str | None = None, *, where: AuditWhere = ()
    ) -> list[AuditEntry]:
        if not self._schema_ready and not self.query(q.HAS_AUDIT):
            return []
        return self.read_audit(limit, action, where=where)

    def read_audit(
        self, limit: int = 200, action: str | None = None, *, where: AuditWhere = ()
    ) -> list[AuditEntry]:
        self.ensure_schema()
        if "malnu_audit" in self._absent:
            return []
        sql, params = q.select_audit(limit, action, where)
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
            self.ensure_schema()
            if "malnu_lock" in self._absent:
                return None
            # A read-only open leaves a lock table made before the purpose column as it is.
            old = "malnu_lock.purpose" in self._absent
            rows = self.query(q.SELECT_LOCK.replace(", purpose", ", ''") if old else q.SELECT_LOCK)
        except D1QueryError:
            return None  # no lock table yet
        if not rows:
            return None
        return lockrow.holder(rows[0])

    def acquire_lock(self, holder: LockHolder) -> None:
        """Take the lock row (:func:`.lockrow.acquire`) and keep its lease while held."""
        self.ensure_schema()
        lockrow.acquire(self, holder)
        self._my_lock = holder
        # The lease is renewed while this process runs, also through one long step (a big
        # import or sync, an export): another host takes the lock over only once it is dead.
        self._keeper = lockrow.keep_lease(self.api, holder)

    def renew_lock(self) -> None:
        if self._my_lock is None:
            return
        h = self._my_lock
        results = self._flush(lockrow.renew_sql(h))
        if results and not results[0].meta.get("changes", 1):
            # Our lock row is gone (an `unlock`, or a lease that ran out while this process
            # could not reach D1): stop before doing more.
            raise self._lock_gone()

    def _lock_gone(self) -> MalnuError:
        """This session's lock row is gone: forget it, and say who holds the lock now."""
        self._stop_keeper()
        self._my_lock = None
        now = self.read_lock()
        if now is None:
            return LockLost(self.display_url)
        return LockHeld(now, "this session's lock was taken over")

    def locked_batch(
        self, statements: Sequence[BatchStatement], took_effect: Callable[[], bool]
    ) -> list[D1Result]:
        """One batch of changes that D1 runs only while this session holds the migration
        lock: its first statement checks the lock row, so a session whose lock was released
        (`unlock` from another host) or taken over changes nothing more (LockLost/LockHeld).
        Without a lock held, a plain batch."""
        h = self._my_lock
        if h is None:
            return self.api.batch(statements, took_effect)
        try:
            return self.api.batch([lockrow.guard_sql(h), *statements], took_effect)[1:]
        except D1QueryError:
            if lockrow.is_mine(self.read_lock(), h):
                raise
            raise self._lock_gone() from None

    def _stop_keeper(self) -> None:
        if self._keeper is not None:
            self._keeper.stop()
            self._keeper = None

    def release_lock(self) -> None:
        if self._my_lock is None:
            return
        self._stop_keeper()
        h = self._my_lock
        self._my_lock = None
        try:
            self._flush(bind_literals(q.RELEASE_LOCK, (h.host, h.pid)))
        except (D1Unavailable, D1OutcomeUnknown) as exc:
            # D1 unreachable once the work is done (restarting after a restore, say): the
            # work stands; the row is left to its lease, or to the next run on this host,
            # which takes over a lock whose process is gone (audited). The caller says so
            # (oplock): it was said only after an interrupt, and a failed `up` left it
            # without a word.
            raise LockLeft(str(exc)) from None

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

    def schema_fingerprint(self, rule: str = q.NOT_INTERNAL) -> str:
        rows = self.api.raw(q.select_schema(rule)).rows
        text = "\n".join(f"{r[0]}|{r[1]}|{r[2]}|{' '.join(str(r[3]).split())}" for r in rows)
        return hashlib.sha256(text.encode()).hexdigest()


def open_target(target: Target, *, read_only: bool = False, fresh_ok: bool = False) -> D1Backend:
    """Connect to the D1 database a ``d1://ACCOUNT_ID/DATABASE_ID`` target names.

    Token: the target's ``api_token`` option, else the variable named by ``api_token_env``
    (default ``CLOUDFLARE_API_TOKEN``). API base: the ``api_base`` option, else
    ``$MALNU_D1_API_BASE``, else Cloudflare's. Retries: ``retry_attempts``,
    ``retry_base_delay``, ``retry_max_delay`` and ``timeout`` (seconds).
    """
    location = parse_d1_url(target.url)
    options = dict(target.options)
    env_name = d1_token_variable(options, "D1 option", ENV_TOKEN)
    token = (d1_text(options, "api_token", "D1 option") or os.environ.get(env_name) or "").strip()
    if not token:
        raise ConfigError(
            f"no Cloudflare API token for {location.url}",
            hint=f"export {env_name}=… (a token with 'D1 Edit' permission on the account)",
        )
    source = "the api_token option" if options.get("api_token") else env_name
    api_base = (
        d1_text(options, "api_base", "D1 option")
        or os.environ.get(ENV_API_BASE)
        or DEFAULT_API_BASE
    )
    if not api_base.startswith(("https://", "http://127.0.0.1", "http://localhost")):
        raise ConfigError(
            f"D1 API base {api_base!r} must be https:// (plain http only to localhost)",
            hint="the API token must never travel unencrypted",
        )
    api = D1Api(
        location,
        token,
        api_base=api_base,
        policy=RetryPolicy.from_options(options),
        token_source=source,
    )
    return D1Backend(api, read_only=read_only, fresh_ok=fresh_ok)
