"""The ``[monitor]``, ``[alerts]`` and ``[log]`` tables of the config, and ``production = true``
per target, read into one frozen value (the rest of the config is :mod:`engine.config`'s).

```toml
[monitor]
slow_migration_seconds = 30     # WARNING over this, in the last 24 h
backup_max_age_hours = 26       # WARNING over this; CRITICAL when no verified backup at all
pending_max_age_days = 7        # WARNING for older pending migrations where production = true
sync_max_lag_minutes = 60       # WARNING when a sync's last success is older than this
check_timeout_seconds = 50      # UNKNOWN for a target that has not answered by then (0: none)
sync_never_run_hours = 24       # WARNING for a [sync.NAME] pair never completed, seen this long
supabase_public = []            # Supabase tables/views ("public.x") open to anon on purpose

[alerts]
notify_after = "3min"           # send a problem seen this long (default 0: at once)
resolve_after = "5min"          # say "resolved" once it has been gone this long (default 0)

[[alerts.webhooks]]
kind = "slack"                  # or "json"
url = "https://hooks.slack.com/services/…"
timeout = 5                     # seconds per try, in all (the whole answer too)
retries = 2

[log]
file = "malnu-debug.log"        # debug lines also go here (rotating)
max_bytes = 5242880
backups = 3
```
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from malnu_tui.engine.config_schema import read_config_file
from malnu_tui.engine.config_sections import MONITOR_DEFAULTS, monitor_values, sync_values

if TYPE_CHECKING:
    from malnu_tui.engine.config import Settings

__all__ = [
    "DEFAULTS",
    "MonitorConfig",
    "Webhook",
    "database_before_of",
    "database_of",
    "load_monitor_config",
    "mask_webhook",
]

DEFAULTS = MONITOR_DEFAULTS


def mask_webhook(url: str) -> str:
    """A webhook URL as it may be shown: scheme and host only (the path is the secret), and
    the host's first label masked too when it is a token rather than a name."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return "***"
    if not parts.scheme or not parts.netloc:
        return "***"
    host = parts.netloc.rsplit("@", 1)[-1]
    label, dot, rest = host.partition(".")
    if dot and len(label) >= 12 and any(c.isdigit() for c in label) and not label.isdigit():
        host = f"***.{rest}"  # a token for a host name (Pipedream's eo….m.pipedream.net)
    return f"{parts.scheme}://{host}/***"


@dataclass(frozen=True)
class Webhook:
    """One ``[[alerts.webhooks]]`` entry. ``url`` is a secret: show :attr:`display`."""

    kind: str
    url: str
    timeout: float = 5.0
    retries: int = 2
    number: int = 0  # its place among the config's [[alerts.webhooks]] (1, 2…; 0: not known)

    @property
    def display(self) -> str:
        """``#2 slack https://hooks.slack.com/***``: its place in the config names it, since
        the masked URL cannot (two Slack channels' webhooks read the same, and an "alert
        FAILED" line did not say which of them to mend)."""
        place = f"#{self.number} " if self.number else ""
        return f"{place}{self.kind} {mask_webhook(self.url)}"

    def __repr__(self) -> str:
        return f"Webhook({self.display!r}, timeout={self.timeout}, retries={self.retries})"


@dataclass(frozen=True)
class MonitorConfig:
    slow_migration_seconds: float = DEFAULTS["slow_migration_seconds"]
    backup_max_age_hours: float = DEFAULTS["backup_max_age_hours"]
    pending_max_age_days: float = DEFAULTS["pending_max_age_days"]
    sync_max_lag_minutes: float = DEFAULTS["sync_max_lag_minutes"]
    check_timeout_seconds: float = DEFAULTS["check_timeout_seconds"]
    sync_never_run_hours: float = DEFAULTS["sync_never_run_hours"]
    # Supabase tables and views (schema.name) meant to be read whole by anyone holding the
    # anon key: not a supabase_rls problem.
    supabase_public: frozenset[str] = frozenset()
    webhooks: tuple[Webhook, ...] = ()
    notify_after_seconds: float = 0.0  # [alerts] notify_after: a problem is sent once this old
    resolve_after_seconds: float = 0.0  # [alerts] resolve_after: a resolution once this long
    production: frozenset[str] = frozenset()  # target names with production = true
    log_file: Path | None = None
    log_max_bytes: int = 5 * 1024 * 1024
    log_backups: int = 3
    # The configured targets: only a sync from one of them is judged for lag (a sync from a
    # URL is a one-off, a test copy or a legacy import, that never runs again; its lag would
    # grow into a WARNING no run clears). None: every sync (no settings known).
    sync_sources: frozenset[str] | None = None
    # The config's [sync.NAME] pairs between two of its targets, (name, source, copy): each is
    # judged at its copy, whose run log a sync writes; one between URLs is not (a one-off).
    sync_pairs: tuple[tuple[str, str, str], ...] = ()
    # When the config file last changed: where when `check` first saw a pair cannot be
    # recorded (pairs_seen.py), its never-run grace counts from this.
    config_changed: datetime | None = None
    # The config file: whose pairs' first sighting `check` records (keyed by its real path).
    config_file: Path | None = None
    # Each configured target's database, (name, :func:`database_of` its URL: no secrets): a
    # pair's first sighting is kept per the databases it joins (pairs_seen.pair_key).
    databases: tuple[tuple[str, str], ...] = ()
    # ... and as versions before session 25 named it (:func:`database_before_of`), where that
    # differs: a pair's first sighting kept under it is taken over, its grace not restarted.
    databases_before: tuple[tuple[str, str], ...] = ()


def database_of(url: str) -> str:
    """The database ``url`` names (``urls.database_key``: a SQLite file's absolute path, a
    D1 database's ids, a PostgreSQL server, port and database; never a user, password or
    option), masked besides: what a health, an incident and a sync pair's first sighting
    are keyed by."""
    from malnu_tui.engine.errors import ConfigError
    from malnu_tui.engine.urls import database_key, mask_url

    try:
        return mask_url(database_key(url))
    except ConfigError:
        return mask_url(url)


def database_before_of(url: str) -> str:
    """:func:`database_of` as versions before session 25 gave it (a PostgreSQL URL's
    ``?host=``, ``?port=``, ``?dbname=`` ignored): the state kept under it is taken over."""
    from malnu_tui.engine.errors import ConfigError
    from malnu_tui.engine.urls import database_key_before, mask_url

    try:
        return mask_url(database_key_before(url))
    except ConfigError:
        return mask_url(url)


def parse_monitor_config(
    data: Mapping[str, Any], *, source: str = "config", base: Path | None = None
) -> MonitorConfig:
    """The monitoring part of a parsed config file; ConfigError naming the key on bad input
    (the rules are :func:`~malnu_tui.engine.config_sections.monitor_values`, run at load)."""
    values = monitor_values(data, source=source, base=base)
    values["webhooks"] = tuple(
        Webhook(kind, url, timeout, retries, number=i)
        for i, (kind, url, timeout, retries) in enumerate(values["webhooks"], 1)
    )
    return MonitorConfig(**values)


def load_monitor_config(settings: Settings) -> MonitorConfig:
    """Read the monitoring tables of the config file ``settings`` came from (defaults when
    there is none)."""
    path = settings.config_path
    names = frozenset(settings.targets)
    if path is None:
        return MonitorConfig(sync_sources=names)
    data = read_config_file(path)
    cfg = parse_monitor_config(data, source=str(path), base=path.parent)
    pairs = tuple(
        (v["name"], v["source"], v["dest"])
        for v in sync_values(data.get("sync", {}), str(path), names)
        if v["source"] in names and v["dest"] in names
    )
    try:
        st = path.stat()
        # The later of its mtime and ctime: a deploy by `rsync -a`, `cp -p`, tar, Docker's
        # COPY or a Nix store (mtime 1970) keeps the mtime the file had where it was edited,
        # and a pair added days before the deploy was said never run at the first check
        # after it; ctime is when it changed on this host, and no tool sets it back.
        changed: datetime | None = datetime.fromtimestamp(max(st.st_mtime, st.st_ctime), UTC)
    except OSError:  # (read a moment ago: gone since; no pair is judged never run)
        changed = None
    databases = tuple((n, database_of(t.url)) for n, t in sorted(settings.targets.items()))
    before = tuple(
        (n, was) for n, t in sorted(settings.targets.items())
        if (was := database_before_of(t.url)) != database_of(t.url)
    )  # fmt: skip
    return dataclasses.replace(cfg, sync_sources=names, sync_pairs=pairs, config_changed=changed,
                               config_file=path, databases=databases,
                               databases_before=before)  # fmt: skip
