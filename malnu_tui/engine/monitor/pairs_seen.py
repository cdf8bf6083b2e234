"""When ``check`` first saw each ``[sync.NAME]`` pair of a config: ``sync_pairs_seen.json``
beside the incident state file (the platformdirs user state dir, which outlives reboots, where
``check --alert`` keeps its incidents). A pair never completed is a WARNING once it has been
seen for ``sync_never_run_hours``: counted from the config file's last change, every deploy
that rewrote the config started the grace again, and a pair that never ran was never said.

Per config file (its real path), and per pair by its name, its ends' target names and the
databases they name (:func:`pair_key`; no secret): a pair pointed at another database is a new
pair, whose grace starts again.

Its own file, not a key of ``incidents.json``: every ``check`` records (with ``--alert`` or
not), and a plain one must neither wait for the incidents' lock (held up to 40 s by a run
sending to a slow webhook) nor write back a damaged incident file as a fresh one. Written
only when something changes (a pair first seen, one gone from its config), atomically, 0600.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from malnu_tui.engine.monitor.runlog import format_time, parse_time
from malnu_tui.engine.private import make_dirs, write_private

__all__ = ["SEEN_FILE", "PairsSeen", "pair_key", "pairs_seen", "seen_path"]

SEEN_FILE = "sync_pairs_seen.json"
_WAIT_S = 2.0  # for another check's hold (a read and a write: milliseconds)
# A first sighting dated further ahead of this clock was recorded by a clock set wrong (a box
# booted before NTP set it, a VM restored): taken as seen now (runlog_checks' CLOCK_SLACK_S).
_AHEAD_S = 300


@dataclass(frozen=True)
class PairsSeen:
    """When each pair (:func:`pair_key`) was first seen; ``unrecorded``: why a pair not in
    ``first`` could not be recorded (its grace then counts from the config's last change)."""

    first: dict[str, datetime] = field(default_factory=dict)
    unrecorded: str | None = None
    damaged: str | None = None  # the file was unreadable, started afresh: said by `check`


def pair_key(name: str, source: str, dest: str, databases: Mapping[str, str] | None = None) -> str:
    """A pair as the file keys it: ``reporting a->b sqlite:///srv/a.db->postgresql://h:5432/r``,
    its name, its ends' target names and the databases they name (``databases``: target name
    → :func:`.config.database_of`, no secrets; ``reporting a->b`` where not known). A rename,
    a new end, or an end pointed at another database is a new pair: keyed by the names alone,
    a pair moved to a new copy kept the old one's grace, and went unsaid for as long as that
    one had been (or was said at once, never having had a day to run)."""
    key = f"{name} {source}->{dest}"
    if databases and source in databases and dest in databases:
        key += f" {databases[source]}->{databases[dest]}"
    return key


def _earlier(
    mine: Mapping[str, str],
    pair: tuple[str, str, str],
    databases: Mapping[str, str] | None,
    before: Mapping[str, str] | None,
) -> str | None:
    """The first sighting an earlier version recorded for ``pair``: keyed by its names only,
    or by the databases as versions before session 25 named them (a PostgreSQL URL's
    ``?host=`` ignored): taken over once, its grace not started again at the upgrade. The
    names-only key is the pair's own (:func:`pair_key` without databases): it was cut from the
    new key at its second space, so a pair named ``laporan harian`` (or an end whose URL holds
    a space) was not found, and its grace started again at the upgrade."""
    if before and databases and any(end in before for end in pair[1:]):
        was = pair_key(*pair, {**databases, **before})
        if mine.get(was):
            return mine[was]
    return mine.get(pair_key(*pair))


def seen_path() -> Path:
    """``sync_pairs_seen.json`` beside the incident state file (the user state dir)."""
    from malnu_tui.engine.monitor.incidents import state_path

    return state_path().with_name(SEEN_FILE)


def pairs_seen(
    config: Path,
    pairs: Sequence[tuple[str, str, str]],
    now: datetime,
    path: Path | None = None,
    *,
    databases: Mapping[str, str] | None = None,
    before: Mapping[str, str] | None = None,
) -> PairsSeen:
    """When each of ``pairs`` (name, source, copy) of the config file ``config`` was first
    seen (keyed by :func:`pair_key`, with the ``databases`` their ends name); those seen now
    for the first time recorded as ``now``, and the config's pairs no longer in it forgotten
    (a pair removed, then added again, or pointed at another database, starts again).
    ``before``: the databases as an earlier version named them, where that differs (its
    first sightings are taken over once: :func:`_earlier`)."""
    path = path or seen_path()
    key = str(config.resolve())
    wanted = [pair_key(*p, databases) for p in pairs]
    data, damaged = _read(path)
    known = _configs(data, now).get(key, {})
    if damaged is None and sorted(known) == sorted(wanted):  # (every run but the first)
        return PairsSeen(_times(known))
    try:
        make_dirs(path.parent)
        with _held(path.with_name(f".{SEEN_FILE}.lock")):
            data, damaged = _read(path)  # (another check may have started it afresh since)
            configs = _configs(data, now)
            mine = configs.get(key, {})
            configs[key] = {
                k: mine.get(k) or _earlier(mine, pair, databases, before) or format_time(now)
                for k, pair in zip(wanted, pairs, strict=True)
            }
            for other in [c for c in configs if c != key and not Path(c).exists()]:
                del configs[other]  # (a config file gone: none of its pairs is checked)
            write_private(path, json.dumps({"version": 1, "configs": configs}, indent=1))
    except OSError as exc:
        why = f"cannot record when `check` first saw it in {path}: {exc.strerror or exc}"
        return PairsSeen(_times(known), why)
    said = (
        f"sync pair state {path} was unreadable ({damaged}): started afresh, every "
        "[sync.NAME] pair's never-run grace starts again"
        if damaged is not None
        else None
    )
    return PairsSeen(_times(configs[key]), damaged=said)


def _read(path: Path) -> tuple[Any, str | None]:
    """The file's data (``{}`` when missing or damaged) and why it is damaged, else None. A
    damaged one silently restarted every pair's grace: now said, as a damaged incident file
    is."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:  # missing, or not ours to read (its write then fails and says so)
        return {}, None
    except ValueError as exc:  # (not UTF-8)
        return {}, str(exc)
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        return {}, " ".join(str(exc).split()) or type(exc).__name__
    if not isinstance(data, dict) or not isinstance(data.get("configs"), dict):
        return {}, "not a sync pair state file"
    return data, None


def _configs(data: Any, now: datetime) -> dict[str, dict[str, str]]:
    """The file's configs and their pairs' first-seen times, whatever was edited into it;
    a time dated ahead of ``now`` left out (seen again now: kept, its pair's grace would not
    begin before this clock reached it, and a pair never run went unsaid till then)."""
    configs = data.get("configs") if isinstance(data, dict) else None
    if not isinstance(configs, dict):
        return {}

    def kept(v: Any) -> bool:
        t = parse_time(v) if isinstance(v, str) else None
        return t is not None and (t - now).total_seconds() <= _AHEAD_S

    return {
        c: {k: v for k, v in pairs.items() if kept(v)}
        for c, pairs in configs.items()
        if isinstance(pairs, dict)
    }


def _times(pairs: dict[str, str]) -> dict[str, datetime]:
    return {k: t for k, v in pairs.items() if (t := parse_time(v)) is not None}


@contextlib.contextmanager
def _held(lock: Path) -> Iterator[None]:
    """The file's lock for its read and write; OSError after :data:`_WAIT_S` of another's."""
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        started = time.monotonic()
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() - started >= _WAIT_S:
                    raise OSError(0, f"held by another check for over {_WAIT_S:g} s") from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)
