"""The ``[monitor]``, ``[alerts]`` and ``[log]`` tables of the config, and ``production = true``
per target, read into one frozen value (the rest of the config is :mod:`engine.config`'s).

```toml
[monitor]
slow_migration_seconds = 30     # WARNING over this, in the last 24 h
backup_max_age_hours = 26       # WARNING over this; CRITICAL when no verified backup at all
pending_max_age_days = 7        # WARNING for older pending migrations where production = true
sync_max_lag_minutes = 60       # WARNING when a sync's last success is older than this

[[alerts.webhooks]]
kind = "slack"                  # or "json"
url = "https://hooks.slack.com/services/…"
timeout = 5                     # seconds
retries = 2

[log]
file = "malnu-debug.log"        # debug lines also go here (rotating)
max_bytes = 5242880
backups = 3
```
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from malnu_tui.engine.config_schema import WEBHOOK_KINDS
from malnu_tui.engine.errors import ConfigError
from malnu_tui.engine.monitor.debuglog import register_secret

if TYPE_CHECKING:
    from malnu_tui.engine.config import Settings

__all__ = ["DEFAULTS", "MonitorConfig", "Webhook", "load_monitor_config", "mask_webhook"]

DEFAULTS: Mapping[str, float] = {
    "slow_migration_seconds": 30.0,
    "backup_max_age_hours": 26.0,
    "pending_max_age_days": 7.0,
    "sync_max_lag_minutes": 60.0,
}


def mask_webhook(url: str) -> str:
    """A webhook URL as it may be shown: scheme and host only (the path is the secret)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return "***"
    if not parts.scheme or not parts.netloc:
        return "***"
    host = parts.netloc.rsplit("@", 1)[-1]
    return f"{parts.scheme}://{host}/***"


@dataclass(frozen=True)
class Webhook:
    """One ``[[alerts.webhooks]]`` entry. ``url`` is a secret: show :attr:`display`."""

    kind: str
    url: str
    timeout: float = 5.0
    retries: int = 2

    @property
    def display(self) -> str:
        return f"{self.kind} {mask_webhook(self.url)}"

    def __repr__(self) -> str:
        return f"Webhook({self.display!r}, timeout={self.timeout}, retries={self.retries})"


@dataclass(frozen=True)
class MonitorConfig:
    slow_migration_seconds: float = DEFAULTS["slow_migration_seconds"]
    backup_max_age_hours: float = DEFAULTS["backup_max_age_hours"]
    pending_max_age_days: float = DEFAULTS["pending_max_age_days"]
    sync_max_lag_minutes: float = DEFAULTS["sync_max_lag_minutes"]
    webhooks: tuple[Webhook, ...] = ()
    production: frozenset[str] = frozenset()  # target names with production = true
    log_file: Path | None = None
    log_max_bytes: int = 5 * 1024 * 1024
    log_backups: int = 3


def _number(value: object, where: str, *, minimum: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise ConfigError(f"{where}: expected a number >= {minimum:g}, got {value!r}")
    return float(value)


def _table(data: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: [{key}] must be a table")
    return value


def parse_monitor_config(
    data: Mapping[str, Any], *, source: str = "config", base: Path | None = None
) -> MonitorConfig:
    """The monitoring part of a parsed config file; ConfigError naming the key on bad input."""
    mon = _table(data, "monitor", source)
    values: dict[str, float] = {}
    for key, default in DEFAULTS.items():
        values[key] = (
            _number(mon[key], f"{source}: [monitor] {key}") if key in mon else float(default)
        )
    for key in mon:
        if key not in DEFAULTS:
            known = ", ".join(DEFAULTS)
            raise ConfigError(f"{source}: [monitor] unknown key {key!r} (known: {known})")
    alerts = _table(data, "alerts", source)
    raw_hooks = alerts.get("webhooks", [])
    if not isinstance(raw_hooks, list):
        raise ConfigError(f"{source}: alerts.webhooks must be an array of tables ([[...]])")
    hooks: list[Webhook] = []
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
        timeout = _number(raw.get("timeout", 5), f"{where} timeout", minimum=0.1)
        retries = int(_number(raw.get("retries", 2), f"{where} retries"))
        hooks.append(Webhook(str(kind), url, timeout, retries))
    log = _table(data, "log", source)
    log_file: Path | None = None
    if "file" in log:
        if not isinstance(log["file"], str) or not log["file"]:
            raise ConfigError(f"{source}: [log] file must be a path string")
        log_file = Path(log["file"]).expanduser()
        if not log_file.is_absolute() and base is not None:
            log_file = base / log_file
    production: set[str] = set()
    targets = data.get("targets", {})
    if isinstance(targets, dict):
        for name, raw in targets.items():
            if isinstance(raw, dict) and "production" in raw:
                if not isinstance(raw["production"], bool):
                    raise ConfigError(f"{source}: [targets.{name}] production must be true/false")
                if raw["production"]:
                    production.add(str(name))
    return MonitorConfig(
        slow_migration_seconds=values["slow_migration_seconds"],
        backup_max_age_hours=values["backup_max_age_hours"],
        pending_max_age_days=values["pending_max_age_days"],
        sync_max_lag_minutes=values["sync_max_lag_minutes"],
        webhooks=tuple(hooks),
        production=frozenset(production),
        log_file=log_file,
        log_max_bytes=int(_number(log.get("max_bytes", 5 * 1024 * 1024), f"{source}: [log]")),
        log_backups=int(_number(log.get("backups", 3), f"{source}: [log] backups")),
    )


def load_monitor_config(settings: Settings) -> MonitorConfig:
    """Read the monitoring tables of the config file ``settings`` came from (defaults when
    there is none)."""
    path = settings.config_path
    if path is None:
        return MonitorConfig()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return parse_monitor_config(data, source=str(path), base=path.parent)
