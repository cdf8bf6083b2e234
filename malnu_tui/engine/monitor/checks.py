"""``check``: the health of each target as problems with a severity, in the monitoring-plugin
convention (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN).

Facts are read once per target (tracking rows, migration files, lock, the audit trail of the
last day, the backup store) and every check is a small function of them, so the thresholds are
tested on real databases without timing anything. What they find (problems, each target's
health, the report) are the values of :mod:`.health`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from malnu_tui.engine.monitor.config import MonitorConfig
from malnu_tui.engine.monitor.debuglog import mask_secrets
from malnu_tui.engine.monitor.health import (
    AHEAD,
    AUDIT_ROW,
    MIGRATION_FILES,
    Problem,
    Severity,
    TargetHealth,
    worst,
)
from malnu_tui.engine.monitor.runlog import format_time, parse_time, too_deep
from malnu_tui.engine.monitor.runlog_checks import CLOCK_SLACK_S, Add, ago, runlog_checks
from malnu_tui.engine.recover_state import half_done, recovering

if TYPE_CHECKING:
    from malnu_tui.engine.backends.base import AuditEntry
    from malnu_tui.engine.backup.store import BackupManifest
    from malnu_tui.engine.errors import LockHolder
    from malnu_tui.engine.monitor.pairs_seen import PairsSeen
    from malnu_tui.engine.status import StatusReport
    from malnu_tui.engine.supabase_target import OpenTables

__all__ = ["Facts", "evaluate"]


# -- facts ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Facts:
    """What one target's checks look at, read once."""

    target: str
    production: bool
    report: StatusReport | None  # None when the migration files could not be read
    files_error: str | None
    audit: tuple[AuditEntry, ...]
    lock: LockHolder | None
    backups: tuple[BackupManifest, ...]
    backups_error: str | None = None
    # The lock's holder on this host, judged by its process as every command judges it:
    # "running", or why it is gone ("pid 3446 is not running"); None: held from elsewhere.
    lock_here: str | None = None
    # Why the database takes no writes (a hot standby, default_transaction_read_only, a
    # SQLite file on a file system mounted read-only) and what turns that off; None when it
    # takes them (or cannot say: D1).
    read_only: tuple[str, str] | None = None
    # Why no backup can be written to the backup store (its file system mounted read-only, a
    # file where a folder of its path should be) and what turns that off.
    store_read_only: tuple[str, str] | None = None
    # Other tools' migration histories `up` refuses until `adopt` records them: (whose, what
    # `status` says of it), one per tool.
    other_histories: tuple[tuple[str, str], ...] = ()
    # A Supabase target's tables its API serves to every holder of the anon key (row level
    # security off); None on any other target.
    open_to_anon: OpenTables | None = None
    # The URLs of backups in its store taken under its name of another database by URL: its
    # URL before the file moved or the server changed (a backup of another database to the
    # tool, never counted), named where it has none of its own.
    backups_elsewhere: tuple[str, ...] = ()
    # Where the target's run rows are more than the newest AUDIT_WINDOW read: the newest run
    # and the newest completed one of each configured sync pair into it, read by themselves
    # (runlog.last_runs_of), so a pair's last success before them is still found.
    pair_runs: tuple[AuditEntry, ...] = ()
    # When `check` first saw each [sync.NAME] pair of the config (pairs_seen.py): a pair
    # never run is judged from then; None: not known (from the config's last change).
    pairs_seen: PairsSeen | None = None


def _version_time(version: str) -> datetime | None:
    try:
        return datetime.strptime(version, "%Y%m%d_%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None


def evaluate(facts: Facts, cfg: MonitorConfig, now: datetime) -> TargetHealth:
    """Every check over ``facts`` (no I/O): the problems and the gauges of one target."""
    from malnu_tui.engine.status import MigrationState

    t = facts.target
    problems: list[Problem] = []
    metrics: dict[str, float] = {}
    hour_ago, day_ago = format_time(now - timedelta(hours=1)), format_time(now - timedelta(days=1))

    def add(
        check: str,
        sev: Severity,
        msg: str,
        since: str | None = None,
        obj: str = "",
        recent: bool = True,
    ) -> None:
        problems.append(Problem(t, check, sev, msg, since, obj, recent))

    migs = facts.report.migrations if facts.report else ()
    if facts.read_only is not None:
        # Reads answer, so the rest looked fine; but `up`, a rollback, a restore, an import or
        # a sync into it, and every audit row (a cron backup's too) fail there.
        what, how = facts.read_only
        add(
            "writable",
            Severity.WARNING,
            f"the database is {what}: it takes no writes (up, rollback, restore, import, a "
            f"sync into it, the audit rows of backups); {how}",
            None,
            "target",
        )
    if facts.store_read_only is not None:
        what, how = facts.store_read_only
        add(
            "writable",
            Severity.WARNING,
            f"the backup store {what}: every backup fails there (cron's, and the safety "
            f"backup up, rollback and restore take first); {how}",
            None,
            "backup store",
        )
    if facts.files_error:
        add("missing_files", Severity.CRITICAL, facts.files_error, None, MIGRATION_FILES)

    # failed: a failed tracking row, or a failed apply/rollback in the last hour that was not
    # redone or cleared (clear-failed) since.
    failed: dict[str, str | None] = {
        m.filename: m.executed_at for m in migs if m.state is MigrationState.FAILED
    }
    latest: dict[str, AuditEntry] = {}
    for e in facts.audit:  # newest first
        if e.action in ("apply", "rollback", "clear-failed") and e.object not in latest:
            latest[e.object] = e
    for obj, e in latest.items():
        when = parse_time(e.at)
        if e.outcome == "failed" and when is not None and format_time(when) >= hour_ago:
            failed.setdefault(obj, format_time(when))
    for obj, since in sorted(failed.items()):
        recent = since is not None and _fmt(since) >= hour_ago
        err = next((m.error_message for m in migs if m.filename == obj and m.error_message), "")
        err = err or next((e.detail for e in facts.audit if e.object == obj), "")
        when = parse_time(since) if since is not None else None
        dated = ""
        if when is not None and (when - now).total_seconds() > CLOCK_SLACK_S:
            # Dated ahead of this clock (the host it ran on, or this one, set wrong): it was
            # summarised "in the last hour", a time it cannot be known to be in; said as a
            # sync or backup dated ahead is.
            recent = False
            dated = f", dated {ago(when, now)}{AHEAD} (a clock set wrong, here or where it ran)"
        add(
            "failed_migrations",
            Severity.CRITICAL,
            f"{obj} failed{dated}" + (f": {mask_secrets(err)}" if err else ""),
            since,
            obj,
            recent,
        )
    metrics["failed"] = len(failed)

    slow_ms = cfg.slow_migration_seconds * 1000
    slow = 0
    for m in migs:
        if m.state is MigrationState.FAILED or m.execution_time_ms is None:
            continue
        when = parse_time(m.executed_at or "")
        if when is None or format_time(when) < day_ago:
            continue
        if m.execution_time_ms > slow_ms:
            slow += 1
            add(
                "slow_migrations",
                Severity.WARNING,
                f"{m.filename} took {_seconds_over(m.execution_time_ms, slow_ms)} s "
                f"(over {cfg.slow_migration_seconds:g} s)",
                format_time(when),
                m.filename,
            )
    metrics["slow"] = slow

    for m in migs:
        if m.state is MigrationState.DRIFTED:
            what = (
                f"renamed (recorded as {m.recorded_filename})" if m.recorded_filename else "changed"
            )
            add("drift", Severity.CRITICAL, f"{m.filename} {what} since it ran", None, m.filename)
        if (rb := m.rollback_edited) is not None:  # `rollback` refuses it (WARNING: not broken)
            add("drift", Severity.WARNING, f"rollback file {rb.describe()}: `rollback` refuses it",
                None, rb.rollback_file)  # fmt: skip
        elif m.state is MigrationState.MISSING:
            add("missing_files", Severity.CRITICAL, f"{m.filename} applied but its file is gone",
                None, m.filename)  # fmt: skip

    pending = [m for m in migs if m.state is MigrationState.PENDING]
    metrics["pending"] = len(pending)
    if facts.production:
        limit = now - timedelta(days=cfg.pending_max_age_days)
        for m in pending:
            born = _version_time(m.version)
            if born is not None and born < limit:
                add(
                    "pending_age",
                    Severity.WARNING,
                    f"{m.filename} pending for {ago(now, born)} "
                    f"(over {cfg.pending_max_age_days:g} days)",
                    format_time(born),
                    m.filename,
                )

    for e in facts.audit:  # a run row nobody can read: skipped by every reader, named here
        if too_deep(e):
            add(
                "drift",
                Severity.WARNING,
                f"audit row {e.id} (run, {e.at} UTC, by {e.actor}) is nested too deep to "
                "read: no run this tool wrote (written by hand or by another tool); skipped, "
                "so what it may record (an apply's rollback checksums, a sync) is not known",
                _fmt(e.at),
                f"{AUDIT_ROW} {e.id}",
            )

    for about, text in facts.other_histories:  # `up` refuses: the deploy would stop there
        add("other_history", Severity.WARNING, text, None, about)

    half = half_done(facts.audit)
    if half is not None and not recovering(facts.lock, facts.lock_here in (None, "running")):
        add("failed_migrations", Severity.CRITICAL, f"{half.describe()}: {half.way_out}",
            half.at, f"recover to {half.to}")  # fmt: skip

    lock = facts.lock
    if lock is not None and facts.lock_here not in (None, "running"):
        add(
            "lock_lease",
            Severity.WARNING,
            f"lock of {lock.describe()} held by a process gone from this host "
            f"({facts.lock_here}): {_TAKE_OVER}",
            lock.acquired_at,
            "migration lock",
        )
    elif lock is not None and lock.expires_at and facts.lock_here is None:
        # By the database's clock when the row was read with it (a monitoring host whose
        # clock runs ahead had called every fresh lease overdue); else by ``now``.
        expires = parse_time(lock.expires_at)
        past = lock.lease_left < 0 if lock.lease_left is not None else None
        if past is None:
            past = expires is not None and expires < now
        if past:
            add(
                "lock_lease",
                Severity.WARNING,
                f"lock of {lock.describe()} held past its lease ({lock.expires_at} UTC): "
                + _TAKE_OVER,
                lock.expires_at,
                "migration lock",
            )

    if (opened := facts.open_to_anon) is not None:
        metrics["rls_off"] = opened.count
        if opened.count:
            add("supabase_rls", Severity.CRITICAL, _open_to_anon(opened), None, "exposed tables")

    _backup_checks(facts, cfg, now, add, metrics)
    runlog_checks(facts, cfg, now, add, metrics)
    metrics["status"] = float(worst(p.severity for p in problems))
    return TargetHealth(t, tuple(problems), metrics)


# How a lock left behind is taken over, as `up` and `unlock` do it (named with the target).
_TAKE_OVER = (
    "the next `malnu-tui up` takes it over by itself (audited); `malnu-tui unlock` releases it now"
)


_SHOWN = 3  # tables named by a supabase_rls problem (then "and N more")


def _first(names: tuple[str, ...], statements: tuple[str, ...]) -> tuple[str, str]:
    """The first few of ``names`` (then "and N more") and their statements."""
    more = len(names) - _SHOWN
    tail = f" and {more} more" if more > 0 else ""
    run = "; ".join(statements[:_SHOWN]) + (" (and the same for each)" if more > 0 else "")
    return ", ".join(names[:_SHOWN]) + tail, run


def _open_to_anon(opened: OpenTables) -> str:
    """The ``supabase_rls`` problem: how many, why the target is Supabase's, the first few
    with their statements, and the ways for one meant to be read by all."""
    counts = [
        f"{n} {word}{'' if n == 1 else 's'}"
        for n, word in ((len(opened.tables), "table"), (len(opened.views), "view"))
        if n
    ]
    parts = []
    if opened.tables:
        names, run = _first(opened.tables, opened.statements)
        parts.append(
            f"row level security off on {names}: anyone holding the project's anon key reads "
            f"and writes every row; run {run} (then, for an application's table, the policies "
            "for what anon and authenticated may do; the tool's own tables need none; a table "
            "meant to be read by all: CREATE POLICY … FOR SELECT TO anon, authenticated USING "
            "(true))"
        )
    if opened.views:
        names, run = _first(opened.views, opened.view_statements)
        parts.append(
            f"{names} read as their owner, to whom no policy applies: anyone holding the anon "
            f"key reads every row through them; run {run}"
        )
    return (
        f"{' and '.join(counts)} open to the anon key (in a schema Supabase's API exposes; "
        f"{opened.why}): "
        + "; ".join(parts)
        + "; one meant to be read whole by all: name it in [monitor] supabase_public"
    )


def _changed(b: BackupManifest) -> str:
    """A backup changed since verified, and the command that checks it again (the target
    named by reading.run_checks)."""
    return (
        f"backup {b.id}: {b.changed}: changed since verified: run `malnu-tui backup verify {b.id}`"
    )


def _backup_checks(facts: Facts, cfg: MonitorConfig, now: datetime, add: Add,
                   metrics: dict[str, float]) -> None:  # fmt: skip
    if facts.backups_error:
        add("backup_age", Severity.UNKNOWN, facts.backups_error, None, "backups")
        metrics["backup_age_seconds"] = float("nan")
        return
    verified = [b for b in facts.backups if b.verified]
    # A backup whose data file is gone is never counted (the store marks it, see
    # backup.store): all of them deleted by a cleanup script read as fresh backups.
    gone = [b for b in facts.backups if "missing" in b.details]
    # One whose data file's mtime moved since it was verified (replaced by a copy of the same
    # size, written over): not counted either (a stat, no hash), and named with its command.
    changed = [b for b in facts.backups if b.changed]
    if not verified:
        what = "no backup at all" if not facts.backups else "no verified backup"
        if not facts.backups and (urls := facts.backups_elsewhere):
            more = f" (and {len(urls) - 1} more URLs)" if len(urls) > 1 else ""
            what += (
                f" of this database (those taken as {facts.target} in its store are of "
                f"{urls[0]}{more}: its URL before a move? `malnu-tui backup list` names them)"
            )
        if changed:
            what += f": {_changed(changed[0])}"
        elif gone:
            more = f" (and {len(gone) - 1} more)" if len(gone) > 1 else ""
            what += f": backup {gone[0].id}: {gone[0].details['missing']}{more}"
        add("backup_age", Severity.CRITICAL, what, None, "backups")
        metrics["backup_age_seconds"] = float("nan")
        metrics["backup_dated_ahead"] = 0.0
        return
    newest = max(verified, key=lambda b: b.created)
    age = (now - newest.created).total_seconds()
    ahead = age < -CLOCK_SLACK_S
    # Dated ahead of this clock: no age to give (NaN, as for none: a negative age read as
    # the freshest of backups), and the flag says why (node_exporter's textfile convention:
    # one gauge a fact; an alert rule on `malnu_backup_age_seconds > …` never fires on NaN).
    metrics["backup_age_seconds"] = float("nan") if ahead else round(max(0.0, age), 3)
    metrics["backup_dated_ahead"] = 1.0 if ahead else 0.0
    newer_gone = [b for b in gone if b.created > newest.created]
    newer_changed = [b for b in changed if b.created > newest.created]
    if newer_gone or newer_changed:
        first = (
            _changed(newer_changed[0])
            if newer_changed
            else f"backup {newer_gone[0].id}: {newer_gone[0].details['missing']}"
        )
        add(
            "backup_age",
            Severity.WARNING,
            f"{first}; the newest verified backup is {ago(now, newest.created)} old",
            format_time(newest.created),
            "backups",
        )
        return
    if newest.restore_needs:
        # Sound, and the one `recover` takes, but its restore here fails (a role its grants
        # name, dropped since): a WARNING, one statement away, not "no backup" (CRITICAL);
        # its age too when over the limit (backups stopped for days were not said).
        old = age > cfg.backup_max_age_hours * 3600
        add(
            "backup_age",
            Severity.WARNING,
            f"newest verified backup {newest.id} does not restore into this server as it "
            f"is: {newest.restore_needs}"
            + (
                f"; and it is {ago(now, newest.created)} old (over {cfg.backup_max_age_hours:g} h)"
                if old
                else ""
            ),
            format_time(newest.created),
            "backups",
        )
        return
    if ahead:
        # Dated ahead of this clock: its age would read "fresh" until real time passed it,
        # however long backups had stopped by then.
        add(
            "backup_age",
            Severity.WARNING,
            f"newest verified backup is dated {ago(newest.created, now)}{AHEAD} (a clock "
            "set wrong, here or where it was made): its age cannot be judged",
            format_time(newest.created),
            "backups",
        )
    elif age > cfg.backup_max_age_hours * 3600:
        add(
            "backup_age",
            Severity.WARNING,
            f"newest verified backup is {ago(now, newest.created)} old "
            f"(over {cfg.backup_max_age_hours:g} h)",
            format_time(newest.created),
            "backups",
        )


def _fmt(when: str) -> str:
    parsed = parse_time(when)
    return format_time(parsed) if parsed else when


def _seconds_over(ms: int, limit_ms: float) -> str:
    """A duration that reads as over its limit: "took 30.0 s (over 30 s)" for 30,040 ms (and
    "0.0 s (over 0 s)") contradicted itself, on the terminal and in every alert."""
    text = f"{ms / 1000:.1f}"
    return text if float(text) * 1000 > limit_ms else f"{ms / 1000:.3f}"
