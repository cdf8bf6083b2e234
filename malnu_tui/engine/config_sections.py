"""The ``[monitor]``, ``[alerts]``, ``[log]`` and ``[sync.NAME]`` tables of ``malnu.toml``, checked
and read into plain values. Loading the config runs these for every command (a bad value is exit
2 now, not at the next ``check`` or sync); the frozen types built from them (``MonitorConfig``,
``SyncPair``) stay with their readers, since defining a dataclass costs ~1 ms at import."""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from malnu_tui.engine.config_schema import WEBHOOK_KINDS, closest
from malnu_tui.engine.errors import ConfigError

MONITOR_DEFAULTS: Mapping[str, float] = {
    "slow_migration_seconds": 30.0,
    "backup_max_age_hours": 26.0,
    "pending_max_age_days": 7.0,
    "sync_max_lag_minutes": 60.0,
    # A check gives up on a target that has not answered by then (UNKNOWN), below a minute so
    # that a check run every minute never piles up behind one that waits; 0: no limit.
    "check_timeout_seconds": 50.0,
    # A [sync.NAME] pair that has never completed a sync: WARNING once check first saw it this
    # long ago (set up, never started: the reporting copy nobody reads is noticed); 0: at once.
    "sync_never_run_hours": 24.0,
}
# The thresholds with a ceiling: past it the check died with a traceback (exit 1, WARNING to
# Nagios) on every run, `pending_max_age_days = 1000000` ("never") reaching before year 1 and
# `check_timeout_seconds = 1e10` ("no limit") past the longest wait a thread can be given.
_MONITOR_MAXIMA: Mapping[str, float] = {
    "pending_max_age_days": 36500.0,  # a hundred years
    "check_timeout_seconds": 86400.0,  # a day (0: no limit at all)
    "sync_never_run_hours": 876000.0,  # a hundred years
}
DEFAULT_OVERLAP_SECONDS = 300  # late commits within five minutes of the watermark are caught
DEFAULT_CURSOR = "updated_at"
# Rows per chunk. 25,000 rather than 10,000: each chunk costs its own statements and round
# trips (a transaction, the COPY, the state row), and the main thread's turn at the GIL between
# the reading thread's pages; a 1,000,000-row full copy into PostgreSQL took 0.3 s less client
# CPU and ~10 % less time (benchmarks/RESULTS.md, session 14). Pages stay near 8 MB of values
# whatever this says (sync/pagesize.py), so memory does not grow with it.
DEFAULT_CHUNK_ROWS = 25_000
# Into D1 a chunk is one batch request (one transaction): at most this many rows, as before.
D1_CHUNK_ROWS = 10_000
_DURATION = re.compile(r"^\s*(\d+)\s*(s|sec|min|m|h|d)?\s*$")
_UNITS = {"": 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def _number(
    value: object,
    where: str,
    *,
    minimum: float = 0.0,
    maximum: float | None = None,
    whole: bool = False,
) -> float:
    """A number of the config in its range (``nan``, ``inf``, a fraction where a count is
    meant: refused, naming the key, never a traceback or a check that can never fire)."""
    n = float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
    if (
        n is None
        or not math.isfinite(n)
        or n < minimum
        or (maximum is not None and n > maximum)
        or (whole and not n.is_integer())
    ):
        kind = "a whole number" if whole else "a number"
        limits = f">= {minimum:g}" if maximum is None else f"from {minimum:g} to {maximum:g}"
        raise ConfigError(f"{where}: expected {kind} {limits}, got {value!r}")
    return n


def _table(data: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: [{key}] must be a table")
    return value


def _unusable_webhook_url(url: str) -> str | None:
    """Why no request could ever reach ``url`` (checked at load: found only when an alert was
    due, it failed as "unhandled errors in a TaskGroup" or "Invalid port", and `doctor`
    passed the config), else None."""
    from urllib.parse import urlsplit

    if any(c <= " " or c == "\x7f" for c in url):
        return "holds a space or a control character (percent-encode it)"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        if "range" in str(exc):
            return "has a port out of range (1-65535)"
        if "IPv6" in str(exc):
            return "has a malformed IPv6 host (write it as [::1])"
        return "has a port that is not a number"
    if port == 0:
        return "has a port out of range (1-65535)"
    if not parts.hostname:
        return "has no host"
    return None


def _qualified_names(value: object, where: str) -> frozenset[str]:
    """A list of ``schema.name`` strings (a table or view), as PostgreSQL spells them."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f'{where}: expected a list of "schema.name" strings, got {value!r}')
    for v in value:
        schema, dot, name = v.partition(".")
        if not (schema and dot and name):
            raise ConfigError(f'{where}: {v!r} is not "schema.name" (e.g. "public.kelas")')
    return frozenset(value)


def monitor_values(
    data: Mapping[str, Any], *, source: str = "config", base: Path | None = None
) -> dict[str, Any]:
    """The monitoring part of a parsed config file as ``MonitorConfig``'s keyword arguments
    (``webhooks`` as ``(kind, url, timeout, retries)`` tuples); ConfigError naming the key."""
    from malnu_tui.engine.monitor.debuglog import register_secret

    mon = _table(data, "monitor", source)
    values: dict[str, Any] = {}
    for key, default in MONITOR_DEFAULTS.items():
        values[key] = (
            _number(mon[key], f"{source}: [monitor] {key}", maximum=_MONITOR_MAXIMA.get(key))
            if key in mon
            else float(default)
        )
    values["supabase_public"] = _qualified_names(
        mon.get("supabase_public", []), f"{source}: [monitor] supabase_public"
    )
    for key in mon:
        if key not in (*MONITOR_DEFAULTS, "supabase_public"):
            known = ", ".join((*MONITOR_DEFAULTS, "supabase_public"))
            raise ConfigError(f"{source}: [monitor] unknown key {key!r} (known: {known})")
    alerts = _table(data, "alerts", source)
    raw_hooks = alerts.get("webhooks", [])
    if not isinstance(raw_hooks, list):
        raise ConfigError(f"{source}: alerts.webhooks must be an array of tables ([[...]])")
    hooks: list[tuple[str, str, float, int]] = []
    for i, raw in enumerate(raw_hooks, 1):
        where = f"{source}: [[alerts.webhooks]] #{i}"
        if not isinstance(raw, dict):
            raise ConfigError(f"{where}: must be a table")
        kind = str(raw.get("kind", "json")).strip().lower()
        if kind not in WEBHOOK_KINDS:
            raise ConfigError(f"{where}: kind must be one of {', '.join(WEBHOOK_KINDS)}")
        url = raw.get("url")
        if not isinstance(url, str) or not url.lower().startswith(("http://", "https://")):
            raise ConfigError(f"{where}: url must be an http(s) URL")
        register_secret(url)
        unusable = _unusable_webhook_url(url)
        if unusable:  # said without the URL: it is a secret
            raise ConfigError(f"{where}: url {unusable}: no alert could ever be sent to it")
        timeout = _number(raw.get("timeout", 5), f"{where} timeout", minimum=0.1, maximum=3600)
        retries = int(_number(raw.get("retries", 2), f"{where} retries", maximum=20, whole=True))
        hooks.append((kind, url, timeout, retries))
    values["webhooks"] = tuple(hooks)
    # A problem seen for less than notify_after is not sent (a network blip that a cron run
    # every minute sees once); a resolution waits resolve_after (a problem that flaps).
    for key in ("notify_after", "resolve_after"):
        seconds = parse_duration(alerts.get(key, 0), f"{source}: [alerts] {key}")
        if seconds > 86400:
            raise ConfigError(f"{source}: [alerts] {key}: at most a day (1d), got {alerts[key]!r}")
        values[f"{key}_seconds"] = float(seconds)
    log = _table(data, "log", source)
    log_file: Path | None = None
    if "file" in log:
        if not isinstance(log["file"], str) or not log["file"]:
            raise ConfigError(f"{source}: [log] file = {log['file']!r}: expected a path string")
        log_file = Path(log["file"]).expanduser()
        if not log_file.is_absolute() and base is not None:
            log_file = base / log_file
    values["log_file"] = log_file
    values["log_max_bytes"] = int(
        _number(log.get("max_bytes", 5 * 1024 * 1024), f"{source}: [log] max_bytes", whole=True)
    )
    values["log_backups"] = int(
        _number(log.get("backups", 3), f"{source}: [log] backups", maximum=1000, whole=True)
    )
    production: set[str] = set()
    targets = data.get("targets", {})
    if isinstance(targets, dict):
        for name, raw in targets.items():
            if isinstance(raw, dict) and "production" in raw:
                if not isinstance(raw["production"], bool):
                    raise ConfigError(f"{source}: [targets.{name}] production must be true/false")
                if raw["production"]:
                    production.add(str(name))
    values["production"] = frozenset(production)
    return values


def parse_duration(value: object, where: str) -> int:
    """Seconds from ``300``, ``"300s"``, ``"5min"``, ``"1h"``."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    m = _DURATION.match(str(value)) if isinstance(value, str) else None
    if not m:
        raise ConfigError(f'{where}: expected seconds or a duration like "5min", got {value!r}')
    return int(m[1]) * _UNITS[m[2] or ""]


def is_database_url(text: str) -> bool:
    """Whether a sync end (``from``/``to``, ``--from``/``--to``) is a URL, not a target name."""
    return "://" in text or text.startswith(("sqlite:", "d1:")) or text.endswith(".db")


def pair_values(name: str, raw: Mapping[str, Any], where: str) -> dict[str, Any]:
    """One ``[sync.NAME]`` table as ``SyncPair``'s keyword arguments."""
    for key in ("from", "to"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise ConfigError(f'{where}: needs {key} = "TARGET"')
    tables = raw.get("tables", [])
    if not isinstance(tables, list) or not all(isinstance(t, str) and t for t in tables):
        raise ConfigError(f"{where}: tables must be a list of table names")
    chunk = raw.get("chunk_rows", DEFAULT_CHUNK_ROWS)
    if not isinstance(chunk, int) or isinstance(chunk, bool) or not 1 <= chunk <= 1_000_000:
        raise ConfigError(f"{where}: chunk_rows must be a whole number from 1 to 1000000")
    cursor = raw.get("cursor", DEFAULT_CURSOR)
    if not isinstance(cursor, str) or not cursor:
        raise ConfigError(f"{where}: cursor must be a column name")
    return {
        "name": name,
        "source": str(raw["from"]),
        "dest": str(raw["to"]),
        "tables": tuple(tables),
        "overlap_seconds": parse_duration(
            raw.get("overlap", DEFAULT_OVERLAP_SECONDS), f"{where} overlap"
        ),
        "cursor": cursor,
        "chunk_rows": chunk,
    }


def sync_values(
    raw: object, source: str, targets: Collection[str] | None = None
) -> list[dict[str, Any]]:
    """Every pair of a ``[sync]`` table (:func:`pair_values` each); ConfigError naming the file
    and ``[sync.NAME] key``. With ``targets``, an end that is neither one of them nor a
    database URL is an error too."""
    from malnu_tui.engine.monitor.debuglog import register_secret
    from malnu_tui.engine.urls import mask_url, url_secrets

    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: [sync] must hold named pairs, like [sync.reporting]")
    pairs: list[dict[str, Any]] = []
    for name, body in raw.items():
        where = f"{source}: [sync.{name}]"
        if not isinstance(body, dict):
            raise ConfigError(f"{where} must be a table")
        pair = pair_values(name, body, where)
        for key, end in (("from", pair["source"]), ("to", pair["dest"])):
            for secret in url_secrets(end):  # an end given as a URL, mistyped ones too
                register_secret(secret)
            if targets is None or end in targets or is_database_url(end):
                continue
            close = closest(end, sorted(targets), 0.6)
            tip = f"; did you mean {close!r}?" if close else ""
            known = ", ".join(sorted(targets)) or "none"
            raise ConfigError(
                f"{where} {key} = {mask_url(end)!r}: no target of that name, and not a "
                f"database URL (configured: {known}{tip})"
            )
        pairs.append(pair)
    return pairs
