"""Named sync pairs from the config (``[sync.NAME]``) and the two ends of a sync."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from malnu_tui.engine.config import Settings, Target, resolve_target

# The rules of a [sync.NAME] table live with the config's (checked at load, by every command).
from malnu_tui.engine.config_schema import read_config_file
from malnu_tui.engine.config_sections import DEFAULT_CHUNK_ROWS as DEFAULT_CHUNK_ROWS
from malnu_tui.engine.config_sections import DEFAULT_CURSOR as DEFAULT_CURSOR
from malnu_tui.engine.config_sections import DEFAULT_OVERLAP_SECONDS as DEFAULT_OVERLAP_SECONDS
from malnu_tui.engine.config_sections import is_database_url, sync_values
from malnu_tui.engine.config_sections import parse_duration as parse_duration
from malnu_tui.engine.errors import ConfigError
from malnu_tui.engine.urls import mask_url

__all__ = [
    "DEFAULT_CHUNK_ROWS",
    "DEFAULT_CURSOR",
    "DEFAULT_OVERLAP_SECONDS",
    "SyncPair",
    "load_pairs",
    "parse_duration",
    "resolve_end",
]


@dataclass(frozen=True)
class SyncPair:
    """``[sync.NAME]``: which target is copied into which, and the options. An end may be a
    URL with its password: shown through :func:`end_label`, and out of the repr."""

    name: str
    source: str = field(repr=False)
    dest: str = field(repr=False)
    tables: tuple[str, ...] = ()  # empty: every table of the source
    overlap_seconds: int = DEFAULT_OVERLAP_SECONDS
    cursor: str = DEFAULT_CURSOR
    chunk_rows: int = DEFAULT_CHUNK_ROWS


def load_pairs(settings: Settings) -> dict[str, SyncPair]:
    """Every ``[sync.NAME]`` of the config file (none without a config)."""
    path = settings.config_path
    if path is None:
        return {}
    data = read_config_file(path)  # TOML imported there: a sync from a script needs none
    values = sync_values(data.get("sync", {}), str(path), settings.targets)
    return {v["name"]: SyncPair(**v) for v in values}


def end_label(end: str) -> str:
    """A pair's end as it may be shown: a target's name as it is, a URL masked."""
    try:
        return mask_url(end)
    except ConfigError:
        return "***"


def resolve_end(settings: Settings, name_or_url: str) -> Target:
    """A configured target by name, or a database URL."""
    if name_or_url in settings.targets:
        return resolve_target(settings, name=name_or_url, env={})
    if is_database_url(name_or_url):
        return resolve_target(settings, database=name_or_url, env={}, any_target=False)
    known = ", ".join(sorted(settings.targets)) or "none"
    raise ConfigError(f"no target named {mask_url(name_or_url)!r} (configured: {known})")


def configured_source(settings: Settings, name: str) -> Target:
    """A copy's source (its ``malnu_sync`` row's name) as a target of the config, for
    ``sync status`` to ask it: a copy synced ``--from`` a URL has a name made from the URL,
    which names no target (ConfigError: not checked)."""
    if name not in settings.targets:
        raise ConfigError(f"{name} is no target of the config")
    return resolve_end(settings, name)


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
    return (
        ", ".join(f"{p.name} ({end_label(p.source)} → {end_label(p.dest)})" for p in pairs)
        or "none"
    )
