"""``check --alert``: each new problem sent once to the configured webhooks, a "resolved"
message when it clears, and the open incidents kept in the user state dir so a cron run every
minute does not repeat them.

An incident is identified by target + check + object (:attr:`Problem.key`). Delivery is tracked
per webhook: a webhook that fails is reported and tried again on the next run (not for the
rest of this run: one run costs at most ``timeout`` × tries per webhook); the others are not
sent the same message twice. Sending is bounded by each webhook's ``timeout`` and
``retries`` and never raises. Webhook URLs are secrets: only :func:`mask_webhook` forms are ever
put into messages. The bodies and the sending are webhooks.py's; the state file incidents.py's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from malnu_tui.engine.monitor.config import Webhook
from malnu_tui.engine.monitor.debuglog import mask_secrets
from malnu_tui.engine.monitor.health import CheckReport, Problem, Severity, worst
from malnu_tui.engine.monitor.incidents import locked_state, read_state, state_key, state_path
from malnu_tui.engine.monitor.runlog import format_time, json_time, parse_time
from malnu_tui.engine.monitor.webhooks import (
    Sender,
    hook_id,
    http_sender,
    json_body,
    slack_body,
)

__all__ = [
    "AlertOutcome",
    "Configured",
    "Incident",
    "load_incidents",
    "process_alerts",
]


@dataclass(frozen=True)
class Incident:
    """An open (or resolving) problem as the state file keeps it."""

    key: str
    target: str
    check: str
    obj: str
    severity: str
    message: str
    since: str | None
    opened_at: str
    state: str  # "open" or "resolved" (resolved, but a webhook has not been told yet)

    def as_json(self) -> dict[str, object]:
        return {
            "target": self.target,
            "check": self.check,
            "object": self.obj,
            "severity": self.severity,
            "message": self.message,
            "since": self.since,
            "opened_at": self.opened_at,
            "state": self.state,
        }


@dataclass(frozen=True)
class AlertOutcome:
    """What one ``check --alert`` run did."""

    sent: tuple[str, ...]  # "problem primary|failed_migrations|x.sql → slack https://host/***"
    failed: tuple[str, ...]  # the same, with the reason; retried on the next run
    open_incidents: int
    no_webhooks: bool = False
    state_errors: tuple[str, ...] = ()  # the incident state could not be read or kept
    # Incidents of a target the config no longer has (or that now names another database):
    # "primary|backup_age|: target 'primary' is no longer in /etc/malnu/malnu.toml"
    closed: tuple[str, ...] = ()
    # Problems seen but not sent yet ([alerts] notify_after), and problems gone whose
    # resolution waits ([alerts] resolve_after): "primary|reach|"
    waiting: tuple[str, ...] = ()
    clearing: tuple[str, ...] = ()
    # Targets whose check in this run began before that of a run already alerted on (runs
    # that overlap, finishing out of order): "primary (10:00:00; alerted on: 10:01:00)"
    outrun: tuple[str, ...] = ()


@dataclass(frozen=True)
class Configured:
    """The config file a run read and the targets it has, as (name, database) pairs
    (``reading.target_database``): an incident opened for one of them is that config's, and
    is closed when the config no longer has it (else it would stay open for ever)."""

    path: str
    targets: frozenset[tuple[str, str]]
    # (name, database as versions before session 25 named it, database now), where they
    # differ (:func:`.config.database_before_of`): its incidents are taken over, not re-sent.
    before: frozenset[tuple[str, str, str]] = frozenset()


def load_incidents(path: Path | None = None) -> tuple[Incident, ...]:
    """The incidents the state file holds, oldest first (for the console's alerts view)."""
    data = read_state(path or state_path())
    out = []
    for key, inc in data["incidents"].items():
        with contextlib.suppress(KeyError, TypeError):
            out.append(
                Incident(
                    key,
                    str(inc["target"]),
                    str(inc["check"]),
                    str(inc.get("object", "")),
                    str(inc["severity"]),
                    str(inc["message"]),
                    _shown_time(inc.get("since")),
                    _shown_time(inc.get("opened_at")) or "",
                    str(inc.get("state", "open")),
                )
            )
    # by the problem's own key (target|check|object), as before incidents named a database
    return tuple(sorted(out, key=lambda i: (i.opened_at, f"{i.target}|{i.check}|{i.obj}")))


def _shown_time(value: object) -> str | None:
    """A state file's time as the console shows it (``2026-12-07 16:41:56``, UTC), whichever
    form the file holds it in; text that is no time as it is."""
    if value is None:
        return None
    when = parse_time(str(value))
    return format_time(when) if when is not None else str(value)


@dataclass(frozen=True)
class _Damping:
    """``[alerts] notify_after`` and ``resolve_after``, in seconds (0: at once). An incident
    waiting to be sent is ``pending``; one gone, its resolution waiting, is ``clearing``."""

    notify_after: float = 0.0
    resolve_after: float = 0.0

    @staticmethod
    def waited(since: object, at: str) -> float:
        """Seconds from ``since`` (a state time) to ``at``; a time that does not read: long."""
        start, end = parse_time(str(since or "")), parse_time(at)
        return float("inf") if start is None or end is None else (end - start).total_seconds()


def _incident(p: Problem, now: str, database: str = "", *, pending: bool = False) -> dict[str, Any]:
    return {
        "database": database,
        "target": p.target,
        "check": p.check,
        "object": p.obj,
        "severity": p.severity.name,
        "message": p.message,
        "since": json_time(p.since),
        "opened_at": now,
        "state": "pending" if pending else "open",
        "sent": [],
    }


def process_alerts(
    report: CheckReport,
    hooks: Sequence[Webhook],
    *,
    path: Path | None = None,
    sender: Sender | None = None,
    now: datetime | None = None,
    configured: Configured | None = None,
    notify_after: float = 0.0,
    resolve_after: float = 0.0,
) -> AlertOutcome:
    """Open incidents for new problems, resolve cleared ones, and deliver whatever each
    webhook has not been told yet. Never raises for a webhook; saves the state.
    ``configured``: the config this run read; its incidents of targets it no longer has are
    resolved, the message saying so (not fixed: no longer checked). ``notify_after``
    (seconds): a problem is sent once it has been seen that long (one gone before is never
    sent); ``resolve_after``: a resolution is sent once the problem has been gone that long
    (back before: the same incident, nothing sent)."""
    send = sender or http_sender
    # ISO 8601 with its offset, as the webhook bodies carry it (the state file's times were
    # the audit table's `2026-12-07 16:41:56`; both forms are read: parse_time).
    at = json_time(format_time(now or datetime.now(UTC))) or ""
    dbs = {t.target: t.database for t in report.targets}
    current = {state_key(p.key, dbs.get(p.target, "")): p for p in report.problems}
    # Only a target checked in this run and reached can show that a problem cleared: one not
    # named (`check --target other`) or not reachable says nothing about its open incidents,
    # nor does another config's target of the same name (another database).
    seen = {
        (t.database, t.target) for t in report.targets if t.check_status("reach") is Severity.OK
    }
    ids = {hook_id(h): h for h in hooks}
    sent: list[str] = []
    failed: list[str] = []
    path = path or state_path()
    errors: list[str] = []
    closed: list[str] = []
    incidents_now: dict[str, dict[str, Any]] = {}
    outrun: list[str] = []
    try:
        # (room for each problem as a new incident, told to every webhook)
        more = sum(len(p.message.encode()) + 512 + 64 * len(ids) for p in report.problems)
        with locked_state(path, more) as state:
            if "damaged" in state:
                errors.append(
                    f"incident state {path} was unreadable ({state.pop('damaged')}): started "
                    "afresh, open problems are sent again"
                )
            older = _outrun(state, report, at)
            outrun = [f"{t} ({report.checked_at}; alerted on: {newer})" for _, t, newer in older]
            gone = {(db, t) for db, t, _ in older}
            current = {
                k: p for k, p in current.items() if (dbs.get(p.target, ""), p.target) not in gone
            }
            seen -= gone
            _name_databases(state["incidents"], dbs)
            moves = {(t.target, t.database_before): t.database for t in report.targets}
            if configured is not None:
                moves |= {(name, was): db for name, was, db in configured.before}
            _take_over(state["incidents"], moves)
            if configured is not None:
                closed = _close_unconfigured(state["incidents"], configured, at)
            damping = _Damping(notify_after, resolve_after)
            mine = _Owner(configured, frozenset((t.target, t.database) for t in report.targets))
            open_count = _deliver(state, current, seen, ids, send, at, sent, failed, damping, mine)
            incidents_now = dict(state["incidents"])
            if configured is not None:
                _stamp_config(state["incidents"], configured)
    except OSError as exc:
        # Not a traceback (exit 1 reads as WARNING to a monitoring system): the check's own
        # result stands and the operator is told why alerting is not working.
        errors.append(
            f"alerting FAILED: cannot keep the incident state in {path}: {exc.strerror or exc}"
            + ("; nothing sent" if not sent else "; what was sent will be sent again")
        )
        open_count = 0
    return AlertOutcome(
        tuple(sent),
        tuple(failed),
        open_count,
        no_webhooks=not hooks,
        state_errors=tuple(errors),
        closed=tuple(closed),
        waiting=_shown(incidents_now, "pending"),
        clearing=_shown(incidents_now, "clearing"),
        outrun=tuple(outrun),
    )


def _outrun(state: dict[str, Any], report: CheckReport, at: str) -> list[tuple[str, str, str]]:
    """The targets of ``report`` (database, name, when the newer check began) that a run
    whose check began later has already alerted on: their result is older than what the
    incidents say. Runs that overlap (cron every minute, `check_timeout_seconds = 0` and a
    target that hangs) finish in any order, and the older one's "problem" reopened what the
    newer one had resolved, sent again. Each target's newest check (``state["checked"]``) is
    kept a day; one dated after ``at`` (the clock was set back) is not believed.

    A target whose key changed at an upgrade (``database_before``: session 25's re-key) has
    its old key's entry taken over by the first run of this version: that entry counts for it,
    and is set to this run's check, so a run of the earlier version still in flight at the
    upgrade (its check began before this one's) is told it was outrun. It was not: finishing
    after this run had sent "resolved", it sent the fixed problem again under the old key,
    and the next run took that over and sent "resolved" again."""
    kept = state.get("checked")
    if not isinstance(kept, dict):
        kept = state["checked"] = {}
    began, now = parse_time(report.checked_at), parse_time(at)
    older = []
    for t in report.targets:
        names = [f"{t.target}@{t.database}"]
        was = f"{t.target}@{t.database_before}"
        if t.database_before and names[0] not in kept and was in kept and was != names[0]:
            names.append(was)  # (this version's first run of it: taken over, see above)
        newer = max(
            ((when, str(kept[n])) for n in names if (when := parse_time(str(kept.get(n, ""))))),
            default=None,
        )
        if began and newer and now and began < newer[0] <= now:
            older.append((t.database, t.target, newer[1]))
        elif began:
            kept.update(dict.fromkeys(names, report.checked_at))
    for name, when in list(kept.items()):
        last = parse_time(str(when))
        if last is None or now is None or (now - last).total_seconds() > 86400:
            del kept[name]
    return older


@dataclass(frozen=True)
class _Owner:
    """Which incidents of the shared state file are this run's to send, to its config's
    webhooks: those of its config (stamped with it, or of a target it has, by name and
    database) and of the targets it checked. Two configs on one host (staging, production:
    one user, one state file) each sent the other's incidents to their own webhooks, and the
    first to tell its webhooks an incident was resolved removed it: the other config's
    webhooks, told of the problem, never heard it was resolved."""

    configured: Configured | None
    checked: frozenset[tuple[str, str]]

    def __call__(self, inc: dict[str, Any]) -> bool:
        pair = (str(inc.get("target")), str(inc.get("database", "")))
        if pair in self.checked:
            return True
        cfg = self.configured
        return cfg is not None and (inc.get("config") == cfg.path or pair in cfg.targets)


def _all_told(inc: dict[str, Any], done: set[str], at: str) -> bool:
    """Whether every webhook told of a resolved incident's problem has been told it was
    resolved (or a day has passed: a webhook no config has now is never told). Two configs
    checking one database under one name (production's and the IT office's) share its
    incident: the first to tell its own webhooks of the resolution removed it, and the
    other's, told of the problem, never heard it was resolved."""
    told = set(inc.get("told", []))
    return told <= done or _Damping.waited(inc.get("resolved_at"), at) > 86400


def _shown(incidents: dict[str, dict[str, Any]], state: str) -> tuple[str, ...]:
    return tuple(
        f"{i.get('target')}|{i.get('check')}|{i.get('object', '')}"
        for i in incidents.values()
        if i.get("state") == state
    )


def _stamp_config(incidents: dict[str, dict[str, Any]], configured: Configured) -> None:
    """Incidents of a target this config has (by name AND database) are this config's. One
    of a target it never had (`check --database URL` of another database) is not stamped: it
    is no config's, and never closed as "no longer in" one."""
    for inc in incidents.values():
        pair = (str(inc.get("target")), str(inc.get("database", "")))
        if "config" not in inc and pair in configured.targets:
            inc["config"] = configured.path


def _close_unconfigured(
    incidents: dict[str, dict[str, Any]], configured: Configured, at: str
) -> list[str]:
    """Resolve this config's open incidents whose target it no longer has, or that now names
    another database (renamed, removed, moved): nothing will ever check them again. The
    message says it was not fixed, and what became of the database."""
    closed = []
    names = {name: db for name, db in configured.targets}
    for inc in incidents.values():
        if inc.get("config") != configured.path or inc.get("state") != "open":
            continue
        target, db = str(inc.get("target")), str(inc.get("database", ""))
        if (target, db) in configured.targets:
            continue
        if target in names:
            why = f"target {target!r} now names another database in {configured.path}"
        else:
            why = f"target {target!r} is no longer in {configured.path}"
            now_named = sorted(name for name, other in configured.targets if other == db)
            if now_named:
                why += f" (its database is checked as target {now_named[0]!r})"
        inc.update(
            state="resolved",
            resolved_at=at,
            sent=[],
            closed=why,
            message=f"not fixed, no longer checked: {why}; the problem was: {inc['message']}",
        )
        closed.append(f"{target}|{inc.get('check')}|{inc.get('object', '')}: {why}")
    return closed


def _name_databases(incidents: dict[str, dict[str, Any]], dbs: dict[str, str]) -> None:
    """Incidents kept before they named their database take the one their target names in
    this run (a state file of an older version: no burst of resolved and new messages)."""
    for key, inc in list(incidents.items()):
        db = dbs.get(str(inc.get("target")))
        if "database" not in inc and db:
            del incidents[key]
            incidents.setdefault(state_key(key, db), {**inc, "database": db})


def _take_over(incidents: dict[str, dict[str, Any]], moves: dict[tuple[str, str], str]) -> None:
    """Incidents kept under the database a target's URL named before session 25 (its query's
    ``?host=``, ``?port=``, ``?dbname=`` ignored) take the one it names now: once, with what
    was sent (an upgrade sent "resolved" and the problem again, or closed it as "now names
    another database"). ``moves``: (target, database then) → database now."""
    for key, inc in list(incidents.items()):
        db = moves.get((str(inc.get("target")), str(inc.get("database", ""))))
        if db and db != inc.get("database"):
            del incidents[key]
            incidents.setdefault(state_key(_problem_of(inc), db), {**inc, "database": db})


def _problem_of(inc: dict[str, Any]) -> str:
    return f"{inc.get('target')}|{inc.get('check')}|{inc.get('object', '')}"


def _deliver(
    state: dict[str, Any],
    current: dict[str, Problem],
    seen: set[tuple[str, str]],
    ids: dict[str, Webhook],
    send: Sender,
    at: str,
    sent: list[str],
    failed: list[str],
    damping: _Damping | None = None,
    mine: Callable[[dict[str, Any]], bool] = lambda _inc: True,
) -> int:
    """Update the incidents in ``state`` and send what each webhook has not been told yet,
    of the incidents that are ``mine`` (this run's config's); the number of open incidents."""
    damping = damping or _Damping()
    down: set[str] = set()  # webhooks that failed in this run: not tried again until the next
    incidents: dict[str, dict[str, Any]] = state["incidents"]
    wait = damping.notify_after > 0
    for key, inc in list(incidents.items()):
        was = inc.get("state")
        if key in current and was == "resolved":
            # back again: a new incident
            incidents[key] = _incident(current[key], at, str(inc.get("database", "")), pending=wait)
        elif key not in current and was in ("open", "pending", "clearing"):
            if (str(inc.get("database", "")), inc.get("target")) not in seen:
                continue
            if was == "pending":  # gone before it was ever sent: a blip, nobody is told
                del incidents[key]
                continue
            if was == "open" and damping.resolve_after > 0:
                inc["state"], inc["cleared_at"] = "clearing", at
            if inc["state"] == "clearing":
                if damping.waited(inc.get("cleared_at"), at) < damping.resolve_after:
                    continue
                inc.pop("cleared_at", None)
            inc["state"] = "resolved"
            inc["resolved_at"] = at
            inc["told"] = sorted({*inc.get("told", []), *inc.get("sent", [])})  # (older files)
            inc["sent"] = []
        elif key in current:
            if was == "clearing":  # back before its resolution was said: the same incident
                inc["state"] = "open"
                inc.pop("cleared_at", None)
            p = current[key]
            was = Severity.__members__.get(str(inc.get("severity")), Severity.OK)
            if worst((was, p.severity)) is not was:
                # Grown worse (an old backup's WARNING, now no backup at all: CRITICAL): told
                # again, since receivers route by severity (a WARNING to a channel, CRITICAL
                # to whoever is on call).
                inc["sent"] = []
            inc["severity"], inc["message"] = p.severity.name, p.message
    for key, p in current.items():
        # "key@database"
        incidents.setdefault(key, _incident(p, at, key[len(p.key) + 1 :], pending=wait))
    for inc in incidents.values():
        pending = inc.get("state") == "pending" and mine(inc)  # its config's notify_after
        if pending and damping.waited(inc.get("opened_at"), at) >= damping.notify_after:
            inc["state"], inc["sent"] = "open", []
    for key, inc in list(incidents.items()):
        if inc.get("state") in ("pending", "clearing") or not mine(inc):
            continue  # not to be said yet, or another config's (to its own webhooks)
        event = "problem" if inc.get("state") == "open" else "resolved"
        done = set(inc.get("sent", []))
        for hid, hook in ids.items():
            if hid in done:
                continue
            body = (slack_body if hook.kind == "slack" else json_body)(event, inc, at)
            shown = f"{inc.get('target')}|{inc.get('check')}|{inc.get('object', '')}"
            what = f"{event} {shown} → {hook.display}"
            if hid in down:
                # A receiver that hangs would otherwise cost timeout × tries per message,
                # and a cron run every minute would pile up behind the state lock.
                failed.append(f"{what}: not tried, it failed earlier in this run")
                continue
            try:
                send(hook, body)
            except Exception as exc:
                down.add(hid)
                failed.append(f"{what}: {mask_secrets(str(exc)) or type(exc).__name__}")
                continue
            done.add(hid)
            inc["sent"] = sorted(done)  # kept at once: a SIGTERM may end the run next
            if event == "problem":
                inc["told"] = sorted({*inc.get("told", []), hid})
            sent.append(what)
        inc["sent"] = sorted(done)
        if event == "resolved" and set(ids) <= done and _all_told(inc, done, at):
            del incidents[key]
    return sum(1 for i in incidents.values() if i.get("state") in ("open", "clearing"))
