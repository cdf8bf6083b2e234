"""Named sync pairs from the config (``[sync.NAME]``) and the two ends of a sync."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from malnu_tui.engine.config import Settings, Target, resolve_target
from malnu_tui.engine.errors import ConfigError

__all__ = [
    "DEFAULT_CHUNK_ROWS",
    "DEFAULT_CURSOR",
    "DEFAULT_OVERLAP_SECONDS",
    "SyncPair",
    "load_pairs",
    "parse_duration",
    "resolve_end",
]

DEFAULT_OVERLAP_SECONDS = 300  # late commits within five minutes of the watermark are caught
DEFAULT_CURSOR = "updated_at"
DEFAULT_CHUNK_ROWS = 10_000
_DURATION = re.compile(r"^\s*(\d+)\s*(s|sec|min|m|h|d)?\s*$")
_UNITS = {"": 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class SyncPair:
    """``[sync.NAME]``: which target is copied into which, and the options."""

    name: str
    source: str
    dest: str
    tables: tuple[str, ...] = ()  # empty: every table of the source
    overlap_seconds: int = DEFAULT_OVERLAP_SECONDS
    cursor: str = DEFAULT_CURSOR
    chunk_rows: int = DEFAULT_CHUNK_ROWS


def parse_duration(value: object, where: str) -> int:
    """Seconds from ``300``, ``"300s"``, ``"5min"``, ``"1h"``."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    m = _DURATION.match(str(value)) if isinstance(value, str) else None
    if not m:
        raise ConfigError(f'{where}: expected seconds or a duration like "5min", got {value!r}')
    return int(m[1]) * _UNITS[m[2] or ""]


def _pair(name: str, raw: Mapping[str, Any], where: str) -> SyncPair:
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
    return SyncPair(
        name=name,
        source=str(raw["from"]),
        dest=str(raw["to"]),
        tables=tuple(tables),
        overlap_seconds=parse_duration(
            raw.get("overlap", DEFAULT_OVERLAP_SECONDS), f"{where} overlap"
        ),
        cursor=cursor,
        chunk_rows=chunk,
    )


def load_pairs(settings: Settings) -> dict[str, SyncPair]:
    """Every ``[sync.NAME]`` of the config file (none without a config)."""
    path = settings.config_path
    if path is None:
        return {}
    import tomllib  # here: a sync run from a script needs no TOML (~10 ms of start-up)

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    raw = data.get("sync", {})
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: [sync] must hold named pairs, like [sync.reporting]")
    pairs: dict[str, SyncPair] = {}
    for name, body in raw.items():
        where = f"{path}: [sync.{name}]"
        if not isinstance(body, dict):
            raise ConfigError(f"{where} must be a table")
        pairs[name] = _pair(name, body, where)
    return pairs


def resolve_end(settings: Settings, name_or_url: str) -> Target:
    """A configured target by name, or a database URL."""
    if name_or_url in settings.targets:
        return resolve_target(settings, name=name_or_url, env={})
    if (
        "://" in name_or_url
        or name_or_url.startswith(("sqlite:", "d1:"))
        or name_or_url.endswith(".db")
    ):
        return resolve_target(settings, database=name_or_url, env={})
    known = ", ".join(sorted(settings.targets)) or "none"
    raise ConfigError(f"no target named {name_or_url!r} (configured: {known})")


def tables_option(text: str | None) -> tuple[str, ...]:
    """``--tables users,academic_records`` as a tuple (empty: all)."""
    if not text:
        return ()
    names = tuple(t.strip() for t in text.split(",") if t.strip())
    if not names:
        raise ConfigError(f"--tables: no table names in {text!r}")
    return names


def pick_pair(
    pairs: Mapping[str, SyncPair], name: str | None, source: str | None, dest: str | None
) -> SyncPair | None:
    """The pair named, or the one pair matching --from/--to, or the only one configured."""
    if name:
        if name not in pairs:
            known = ", ".join(sorted(pairs)) or "none"
            raise ConfigError(f"no sync pair named {name!r} (configured: {known})")
        return pairs[name]
    if source or dest:
        for p in pairs.values():
            if (source in (None, p.source)) and (dest in (None, p.dest)):
                return p
        return None
    if len(pairs) == 1:
        return next(iter(pairs.values()))
    return None


def describe_pairs(pairs: Sequence[SyncPair]) -> str:
    return ", ".join(f"{p.name} ({p.source} → {p.dest})" for p in pairs) or "none"
