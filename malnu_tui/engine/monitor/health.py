"""What ``check`` reports, as values: a severity in the monitoring-plugin convention (0 OK,
1 WARNING, 2 CRITICAL, 3 UNKNOWN) and which of several outranks the others, one problem on one
target, each target's health (its line in the console), and the whole report: the plugin's
summary line with its performance data, and the JSON of ``check --json``.

The checks themselves, functions of what was read from each target, are in :mod:`.checks`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum

from malnu_tui.engine.monitor.debuglog import one_line
from malnu_tui.engine.monitor.runlog import json_time

__all__ = [
    "AHEAD",
    "AUDIT_ROW",
    "CHECKS",
    "MIGRATION_FILES",
    "CheckReport",
    "Problem",
    "Severity",
    "TargetHealth",
    "unknown_json",
    "worst",
]


class Severity(IntEnum):
    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3


# Which of several results a summary reports: CRITICAL, then UNKNOWN, then WARNING, then OK.
# By its number UNKNOWN (3) hid a CRITICAL (2) of another target — and many setups do not
# page on UNKNOWN; a target that cannot be reached still outranks a warning.
_RANK = {Severity.OK: 0, Severity.WARNING: 1, Severity.UNKNOWN: 2, Severity.CRITICAL: 3}


def worst(severities: Iterable[Severity]) -> Severity:
    """The summary of ``severities`` (OK for none): see ``_RANK``."""
    return max(severities, key=_RANK.__getitem__, default=Severity.OK)


# Every check, in the order reported; each line of `check` output names one of these.
CHECKS: tuple[str, ...] = (
    "reach",
    "writable",
    "failed_migrations",
    "slow_migrations",
    "drift",
    "missing_files",
    "pending_age",
    "other_history",
    "lock_lease",
    "backup_age",
    "failed_imports",
    "failed_syncs",
    "sync_lag",
    "supabase_rls",
)
# Checks made on some targets only, each with the metric its targets carry: Supabase's.
_ONLY_WITH: dict[str, str] = {"supabase_rls": "rls_off"}


@dataclass(frozen=True)
class Problem:
    """One thing wrong on one target. ``key`` (target + check + object) identifies an
    incident across runs."""

    target: str
    check: str
    severity: Severity
    message: str
    since: str | None = None  # UTC YYYY-MM-DD HH:MM:SS when known
    obj: str = ""
    # failed_migrations: failed in the last hour (else a stuck old row, or dated ahead of the
    # clock: its message says so, with AHEAD)
    recent: bool = True

    def __post_init__(self) -> None:
        # One problem, one line: a driver's message over two lines would split the plugin's
        # summary line from its performance data (Nagios reads the first line only).
        object.__setattr__(self, "message", one_line(self.message))

    @property
    def key(self) -> str:
        return f"{self.target}|{self.check}|{self.obj}"

    def line(self) -> str:
        return f"{self.severity.name} {self.target} {self.check}: {self.message}"

    def as_json(self) -> dict[str, object]:
        return {
            "target": self.target,
            "check": self.check,
            "severity": self.severity.name,
            "message": self.message,
            "since": json_time(self.since),  # (with its offset: json_time)
        }


@dataclass(frozen=True)
class TargetHealth:
    """The outcome of every check on one target, and the figures behind them."""

    target: str
    problems: tuple[Problem, ...]
    metrics: Mapping[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    # Which database (``urls.database_key``, no secrets): two configs may both call theirs
    # "primary" (staging and production on one host); their incidents are kept apart by it.
    database: str = ""
    # Its config says it is Supabase's (the supabase option, its folder, its host): not
    # reached, its supabase_rls is UNKNOWN beside its other checks (it was left out).
    supabase: bool = False
    # The database as versions before session 25 named it (``?host=`` ignored): its
    # incidents kept under that are taken over.
    database_before: str = ""

    @property
    def status(self) -> Severity:
        return worst(p.severity for p in self.problems)

    @property
    def reached(self) -> bool:
        """False when the target could not be read (a ``reach`` problem): its other checks
        were not made."""
        return not any(p.check == "reach" for p in self.problems)

    @property
    def checks(self) -> tuple[str, ...]:
        """The checks made on this target, in :data:`CHECKS`' order: ``supabase_rls`` on a
        Supabase target only (its ``rls_off`` metric)."""
        return tuple(
            c
            for c in CHECKS
            if c not in _ONLY_WITH
            or _ONLY_WITH[c] in self.metrics
            or (c == "supabase_rls" and self.supabase and not self.reached)
        )

    def check_status(self, check: str) -> Severity:
        """One check's result; UNKNOWN for every check but ``reach`` of a target not reached
        (they were not made: "failed_migrations OK" of a database nobody could read misled a
        script that reads one check)."""
        if check != "reach" and not self.reached:
            return Severity.UNKNOWN
        return worst(p.severity for p in self.problems if p.check == check)

    def check_word(self, check: str) -> str:
        """:meth:`check_status` in the text of ``check``: ``not checked`` for a check not made."""
        if check != "reach" and not self.reached:
            return "not checked"
        return self.check_status(check).name

    def health_line(self) -> str:
        """``primary: OK`` or ``primary: CRITICAL - 1 failed migration in the last hour; …``
        (no clock-dependent figures: the console shows it and pictures of it are compared)."""
        if not self.problems:
            return f"{self.target}: OK"
        brief = _summaries(self.problems, brief=True)
        return f"{self.target}: {self.status.name} - " + "; ".join(brief)


def _summaries(problems: Sequence[Problem], *, brief: bool = False) -> list[str]:
    """One phrase per check, most severe first (counts where a check found several)."""
    by_check: dict[str, list[Problem]] = {}
    for p in sorted(problems, key=lambda p: (-p.severity, CHECKS.index(p.check))):
        by_check.setdefault(p.check, []).append(p)
    out: list[str] = []
    for check, group in by_check.items():
        n = len(group)
        if check == "failed_migrations":
            when = " in the last hour" if all(p.recent for p in group) else ""
            if all(AHEAD in p.message for p in group):  # (not in the last hour: not known)
                when = " dated ahead of the clock"
            out.append(f"{_plural(n, 'failed migration')}{when}")
        elif check == "backup_age" and brief:
            worst = group[0].severity
            dated_ahead = AHEAD in group[0].message  # (not old: its age cannot be judged)
            old = "backup dated ahead of the clock" if dated_ahead else "backup too old"
            out.append("no verified backup" if worst is Severity.CRITICAL else old)
        elif check == "supabase_rls":  # "2 tables open to the anon key" (its count is in it)
            out.append(group[0].message.split(" (", 1)[0])
        elif check == "reach" and brief:
            out.append("cannot be reached")
        elif check == "lock_lease" and " held by a process gone " in group[0].message:
            # its lease may still run: "past its lease" was untrue (the detail line was right)
            out.append("migration lock held by a process that is gone")
        elif check == "drift" and any(p.severity is Severity.WARNING for p in group):
            rows = sum(1 for p in group if p.obj.startswith(f"{AUDIT_ROW} "))
            edited = sum(1 for p in group if p.severity is Severity.WARNING) - rows
            changed = [_PHRASES["drift"](n - edited - rows)] if n > edited + rows else []
            if edited:
                changed.append(f"{_plural(edited, 'rollback file')} edited since applied")
            if rows:
                changed.append(f"{_plural(rows, 'audit row')} too deep to read")
            out.append("; ".join(changed))
        elif check == "sync_lag":
            # Three kinds: lagging; dated ahead of this clock (no lag can be judged: "lagging"
            # said the opposite of the detail line); a configured pair never run.
            never = sum(1 for p in group if _NEVER in p.message)
            ahead = sum(1 for p in group if AHEAD in p.message)
            lagging = n - never - ahead
            words = [_PHRASES["sync_lag"](lagging)] if lagging else []
            if ahead:
                words.append(f"{_plural(ahead, 'sync')} dated ahead of the clock")
            if never:
                words.append(f"{_plural(never, 'sync pair')} never run")
            out.append("; ".join(words))
        elif check == "missing_files" and group[0].obj == MIGRATION_FILES:
            # The migration files cannot be read (a bad file name, an unreadable directory):
            # that, not a count of applied migrations without their files.
            out.append(group[0].message)
        else:
            phrase = _PHRASES.get(check)
            out.append(phrase(n) if phrase else group[0].message)
    return out


# The object of a problem reading the migration files themselves (not one applied file).
MIGRATION_FILES = "migration files"
# In the message of a sync_lag problem of a [sync.NAME] pair no sync ever completed.
_NEVER = " has never completed a sync"
# In the message of a sync_lag or backup_age problem dated ahead of the checking clock.
AHEAD = " ahead of this machine's clock"
# The object of a run row nested too deep to read (``audit row 17``): a drift WARNING.
AUDIT_ROW = "audit row"


def _others(n: int) -> str:
    return "another tool's" if n == 1 else f"{n} other tools'"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


_PHRASES: dict[str, Callable[[int], str]] = {
    "writable": lambda n: "read-only: writes will fail" + ("" if n == 1 else " (database, store)"),
    "slow_migrations": lambda n: f"{_plural(n, 'slow migration')} in the last 24 h",
    "drift": lambda n: f"{_plural(n, 'applied file')} changed since it ran",
    "missing_files": lambda n: f"{_plural(n, 'applied migration')} without its file",
    "pending_age": lambda n: f"{_plural(n, 'pending migration')} waiting too long",
    "other_history": lambda n: _others(n) + " migrations not adopted: up refuses",
    "failed_imports": lambda n: f"{_plural(n, 'failed import')}",
    "failed_syncs": lambda n: f"{_plural(n, 'failed sync')}",
    "sync_lag": lambda n: f"{_plural(n, 'sync')} lagging",
    "lock_lease": lambda n: "migration lock held past its lease",
}


@dataclass(frozen=True)
class CheckReport:
    """Every target's health: the summary line, the exit code, JSON and gauges."""

    targets: tuple[TargetHealth, ...]
    checked_at: str
    # What the run could not keep as it was (a damaged sync pair state file): said on stderr.
    notes: tuple[str, ...] = ()

    @property
    def status(self) -> Severity:
        return worst(t.status for t in self.targets)

    @property
    def problems(self) -> tuple[Problem, ...]:
        return tuple(p for t in self.targets for p in t.problems)

    def total(self, metric: str) -> int:
        return int(sum(t.metrics.get(metric, 0) for t in self.targets))

    def _perf(self, metric: str) -> str:
        """A total for the performance data: ``U`` (the plugin convention's "undetermined")
        when a target could not be read: ``failed=0`` of a database nobody reached was
        graphed as a database without failures."""
        if not all(t.reached for t in self.targets):
            return "U"
        return str(self.total(metric))

    def summary_line(self) -> str:
        """``MALNU CRITICAL - primary: 1 failed migration in the last hour | failed=1;;1
        slow=0;1;`` (the monitoring-plugin form: text, then performance data)."""
        perf = f"failed={self._perf('failed')};;1 slow={self._perf('slow')};1;"
        bad = [t for t in self.targets if t.problems]
        if not bad:
            n = len(self.targets)
            text = f"{_plural(n, 'target')} OK"
        else:
            ranked = sorted(bad, key=lambda t: -_RANK[t.status])
            text = "; ".join(f"{t.target}: {', '.join(_summaries(t.problems))}" for t in ranked)
        return f"MALNU {self.status.name} - {text} | {perf}"

    def as_json(self) -> dict[str, object]:
        return {
            "status": self.status.name,
            "problems": [p.as_json() for p in self.problems],
            "checked_at": json_time(self.checked_at),
            "targets": {
                t.target: {
                    "status": t.status.name,
                    "checks": {c: t.check_status(c).name for c in t.checks},
                    "metrics": dict(t.metrics),
                }
                for t in self.targets
            },
        }


def unknown_json(message: str, now: datetime | None = None) -> dict[str, object]:
    """``check --json`` when no target could be checked (a config that cannot be read, an
    unknown target): every documented field, the reason as one UNKNOWN problem."""
    problem = {"target": None, "check": "config", "severity": "UNKNOWN", "message": message,
               "since": None}  # fmt: skip
    return {
        "status": Severity.UNKNOWN.name,
        "problems": [problem],
        "checked_at": (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0).isoformat(),
        "targets": {},
        "error": message,
    }
