"""``check``'s run-log checks (:func:`.checks.evaluate` calls them): failed imports and syncs
(their newest run failed), the sync lag, and the config's ``[sync.NAME]`` pairs no sync ever
completed. Plain functions of the facts, as every check."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from malnu_tui.engine.monitor.config import MonitorConfig
from malnu_tui.engine.monitor.health import AHEAD, Severity
from malnu_tui.engine.monitor.pairs_seen import pair_key
from malnu_tui.engine.monitor.runlog import RunRecord

if TYPE_CHECKING:
    from malnu_tui.engine.backends.base import AuditEntry
    from malnu_tui.engine.monitor.checks import Facts

__all__ = ["CLOCK_SLACK_S", "Add", "ago", "runlog_checks"]

CLOCK_SLACK_S = 300  # a backup or sync dated further ahead of this clock is a clock problem


def ago(now: datetime, when: datetime) -> str:
    seconds = max(0.0, (now - when).total_seconds())
    if seconds < 120:
        return f"{int(seconds)} s"
    if seconds < 7200:
        return f"{int(seconds // 60)} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


class Add(Protocol):  # the signature of evaluate's local ``add`` (for the helpers' type hints)
    def __call__(
        self,
        check: str,
        sev: Severity,
        msg: str,
        since: str | None = None,
        obj: str = "",
        recent: bool = True,
    ) -> None: ...


def runlog_checks(facts: Facts, cfg: MonitorConfig, now: datetime, add: Add,
                  metrics: dict[str, float]) -> None:  # fmt: skip
    """Failed imports/syncs (their newest run failed) and the sync lag, from the run log."""
    newest: dict[tuple[str, str], RunRecord] = {}
    last_ok: dict[str, RunRecord] = {}
    sources = cfg.sync_sources
    ok_into: set[str] = set()  # copies a newer sync succeeded into
    past: set[str] = set()  # failed syncs from a source no longer configured, a copy since good
    succeeded: set[str] = set()  # pairs ("a->b") a sync ever completed, under any of its names
    for e in _with_pair_runs(facts):  # newest first
        run = RunRecord.from_audit(e)
        if run is None or run.op not in ("import", "sync"):
            continue
        for obj in (run.obj, *run.also):  # a run is also the newest of its earlier names
            newest.setdefault((run.op, obj), run)
        source, _, copy = run.obj.partition("->")
        if run.op == "sync" and run.outcome == "ok":
            last_ok.setdefault(run.obj, run)
            ok_into.add(copy)
            succeeded.update((run.obj, *run.also))
        elif (
            run.op == "sync"
            and sources is not None
            and source not in sources  # renamed or removed in the config, a URL's one-off:
            and copy in ok_into  # no sync of that name runs again; it was CRITICAL for ever
            and newest.get(("sync", run.obj)) is run
        ):
            past.add(run.obj)
    failed = {"import": 0, "sync": 0}
    for (op, obj), run in sorted(newest.items()):
        if op == "sync" and obj in past:
            continue
        if run.outcome == "failed" and obj == run.obj:
            failed[op] += 1
            add(
                f"failed_{op}s",
                Severity.CRITICAL,
                f"{op} {obj or '(unnamed)'} failed" + (f": {run.error}" if run.error else ""),
                run.ended_at,
                obj,
            )
    metrics["failed_imports"] = failed["import"]
    metrics["failed_syncs"] = failed["sync"]
    lag_limit = cfg.sync_max_lag_minutes * 60
    worst = 0.0
    judged = False
    ahead = 0  # syncs dated ahead of this clock: no lag to give
    for obj, run in sorted(last_ok.items()):
        ended = run.ended
        if ended is None or (sources is not None and obj.split("->")[0] not in sources):
            continue  # a sync from a URL, or a target no longer configured: a one-off
        lag = (now - ended).total_seconds()
        if lag >= -CLOCK_SLACK_S:  # (a little ahead: another host's clock, fresh)
            judged = True
            worst = max(worst, lag)
        if lag < -CLOCK_SLACK_S:
            ahead += 1
            # Dated ahead of this clock (the host that ran it, or this one, set wrong): its lag
            # read as none until real time passed it, however long syncs had stopped by then.
            add(
                "sync_lag",
                Severity.WARNING,
                f"sync {obj or '(unnamed)'} last succeeded at {run.ended_at} UTC, "
                f"{ago(ended, now)}{AHEAD} (a clock set wrong, here or where it ran): its "
                "lag cannot be judged",
                run.ended_at,
                obj,
            )
        elif lag > lag_limit:
            add(
                "sync_lag",
                Severity.WARNING,
                f"sync {obj or '(unnamed)'} last succeeded {ago(now, ended)} ago "
                f"(over {cfg.sync_max_lag_minutes:g} min)",
                run.ended_at,
                obj,
            )
    _never_run(facts, cfg, now, add, metrics, newest, succeeded)
    if judged or ahead:
        # The oldest of those that can be judged; NaN when every one is dated ahead (it read
        # 0, the freshest of syncs, however long they had stopped), and the count of those
        # beside it: a gauge of its own (node_exporter's convention), not a value in this one.
        metrics["sync_lag_seconds"] = round(worst, 3) if judged else float("nan")
        metrics["syncs_dated_ahead"] = ahead


def _with_pair_runs(facts: Facts) -> tuple[AuditEntry, ...]:
    """The audit rows read, and the configured pairs' runs read apart, newest first."""
    if not facts.pair_runs:
        return facts.audit
    read = {e.id for e in facts.audit}
    more = [e for e in facts.pair_runs if e.id not in read]
    return tuple(sorted((*facts.audit, *more), key=lambda e: (e.id or 0, e.at), reverse=True))


def _never_run(facts: Facts, cfg: MonitorConfig, now: datetime, add: Add,
               metrics: dict[str, float], newest: dict[tuple[str, str], RunRecord],
               succeeded: set[str]) -> None:  # fmt: skip
    """The config's ``[sync.NAME]`` pairs into this target that no sync ever completed: set
    up and never started (or refused each time), the copy nobody reads goes on ageing
    unsaid — it has no last success to lag from. WARNING once ``check`` first saw it
    ``sync_never_run_hours`` ago (:attr:`Facts.pairs_seen`; where that cannot be recorded,
    once the config file is that old, said so); one whose newest run failed is
    ``failed_syncs``' (CRITICAL) already. A busy log's pair whose runs are older than the
    rows read is found by a query of its own (:attr:`Facts.pair_runs`)."""
    mine = [(n, s, d) for n, s, d in cfg.sync_pairs if d == facts.target]
    if not mine:
        return
    never = [(n, s, d) for n, s, d in mine if f"{s}->{d}" not in succeeded]
    metrics["syncs_never_run"] = len(never)
    for name, s, d in never:
        pair = f"{s}->{d}"
        last = newest.get(("sync", pair))
        if last is not None and last.outcome == "failed":
            continue  # CRITICAL under failed_syncs
        grace = _grace(facts, cfg, now, pair_key(name, s, d, dict(cfg.databases)))
        if grace is None:
            continue
        how = (
            f"its runs were {last.outcome}, the last at {last.ended_at} UTC"
            + (f" ({last.error})" if last.error else "")
            if last is not None
            else "no sync of it in this target's run log"
        )
        add(
            "sync_lag",
            Severity.WARNING,
            f"sync pair {name} ({pair}) has never completed a sync: {how}; {grace}: start it "
            f"(malnu-tui sync {name} --yes, from cron or a timer), or remove the pair from "
            "the config",
            last.ended_at if last is not None else None,
            pair,
        )


def _grace(facts: Facts, cfg: MonitorConfig, now: datetime, key: str) -> str | None:
    """How long the pair ``key`` has gone unsynced, in words, once that is over its grace
    (``sync_never_run_hours``); None within it. From when ``check`` first saw it; the config
    file's last change only where that could not be recorded (a deploy rewrites the config:
    counted from it, the grace started again at every deploy and the pair was never said)."""
    seen = facts.pairs_seen
    first = seen.first.get(key) if seen is not None else None
    since = first or cfg.config_changed
    limit = f"over [monitor] sync_never_run_hours = {cfg.sync_never_run_hours:g}"
    if since is None or (now - since).total_seconds() < cfg.sync_never_run_hours * 3600:
        return None
    if first is not None:
        return f"`check` first saw it {ago(now, first)} ago ({limit})"
    why = (
        f"; {seen.unrecorded}, so its grace counts from the config's last change"
        if (seen is not None and seen.unrecorded)
        else ""
    )
    return f"the config is {ago(now, since)} old ({limit}{why})"
