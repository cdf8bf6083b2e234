"""Whose backups a store holds, and where a target's backups are: the one place that finds them
(`backup list | restore | verify | delete | prune`, `recover`, `rehearse`, `check` and the
console's backup browser all ask here).

A target's store is ``<backup root>/<its name>/``; the same database run under another name
(``--database URL`` from cron's shell or the runbook, a config naming it otherwise) has another
store. Its backups are found in every store beside its own whose manifests record the same
database (``urls.database_key``: a SQLite file's real path, a PostgreSQL server, port, database
and tool schema, a D1 account and database id; never a password), whatever name it was given.
A backup of another database is never taken for this one's, whatever its name: two configs
naming two databases ``prod`` share ``<root>/prod/``, and one's restore and `recover` took the
other's backups for its own.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from malnu_tui.engine.backup.store import (
    STORE_MARK,
    BackupManifest,
    BackupNotFound,
    list_backups,
    load_manifest,
    read_manifests,
)
from malnu_tui.engine.errors import ConfigError

if TYPE_CHECKING:
    from malnu_tui.engine.config import Target

__all__ = [
    "backup_of",
    "backups_of",
    "find_backup",
    "other_owners",
    "refuse_foreign",
    "store_of",
    "stores_beside",
]


def backup_of(manifest: BackupManifest, target: Target) -> bool:
    """Whether ``manifest`` is a backup of ``target``'s database: the same URL with secrets
    masked, or the same database however spelt or named (:func:`_database`). A configured
    name alone counts only for a manifest whose URL cannot be told (one an earlier version
    wrote with a relative SQLite path); a name with another database's URL is another
    database's backup (two configs naming two databases ``prod``: one's restore put the
    other's data in place of its own). A database given by URL (``--database``) is named after
    its URL's slug, which two URLs can share (``…/sekolah 1/x.db`` and ``…/sekolah_1/x.db``):
    it is told by its URL alone. A SQLite file's manifest records its absolute path; one an
    earlier version wrote with a relative path (``sqlite:app.db``, run in which folder is not
    known) is no database's by URL: read from another school's folder it was taken for that
    school's, and its data restored there."""
    return _judge(target)(manifest) is not None


def _judge(target: Target) -> Callable[[BackupManifest], str | None]:
    """:func:`backup_of` for the manifests of one target: how each is ``target``'s ("url": its
    URL or its database; "name": its name alone, the URL unknown) or None. What is known of the
    target, and of each URL a manifest records, is worked out once: `check` reading 900
    manifests took 0.5 s."""
    from malnu_tui.engine.config import url_slug
    from malnu_tui.engine.urls import recorded_url, store_spelling

    spelt = store_spelling(target.url)
    here = _database(recorded_url(target.url), None, target)  # (a relative path made absolute)
    by_name = target.name != url_slug(target.url)
    seen: dict[tuple[str, str | None, str], str | None] = {}

    def judge(m: BackupManifest) -> str | None:
        key = (m.target, m.details.get("tool_schema"), m.target_name)
        if key not in seen:
            same_url = _spelt(m.target) == spelt
            recorded = None if same_url else _database(m.target, m)
            if same_url or (recorded is not None and recorded == here):
                seen[key] = "url"
            elif recorded is None and by_name and m.target_name == target.name:
                seen[key] = "name"
            else:
                seen[key] = None
        return seen[key]

    return judge


def _spelt(recorded: str) -> str | None:
    """A manifest's recorded URL as :func:`~malnu_tui.engine.urls.store_spelling` spells it;
    None (no database's) for a relative SQLite path or a URL that cannot be read."""
    from malnu_tui.engine.urls import sqlite_path, store_spelling, url_kind

    try:
        if url_kind(recorded) == "sqlite" and not sqlite_path(recorded).is_absolute():
            return None
        return store_spelling(recorded)
    except ConfigError:
        return None


def _database(
    url: str, manifest: BackupManifest | None, target: Target | None = None
) -> str | None:
    """Which database ``url`` is (:func:`~malnu_tui.engine.urls.database_key`; a PostgreSQL
    one with the schema of the tool's tables, whose migrations a backup records); None for
    one that cannot be told (:func:`_spelt`)."""
    from malnu_tui.engine.urls import database_key, split_tool_options, url_kind

    if _spelt(url) is None:
        return None
    try:
        key = database_key(url)
        if url_kind(url) != "postgresql":
            return key
        schema = split_tool_options(url)[1].schema or ""
    except ConfigError:
        return None
    if manifest is not None:
        schema = manifest.details.get("tool_schema", schema)
    elif target is not None:
        schema = str(target.options.get("schema") or schema)
    return f"{key} schema {schema or 'public'}"


def stores_beside(target: Target) -> Iterator[tuple[Path, list[BackupManifest]]]:
    """(store, its backups of ``target``'s database) for each store beside the target's own
    (the other folders of its backup root) holding any, each marked with its store
    (:func:`store_of`). Only read: temp files there are their own target's to sweep."""
    here, judge = target.backup_dir, _judge(target)
    with contextlib.suppress(OSError):
        for d in sorted(p for p in here.parent.iterdir() if p.is_dir() and p != here):
            found = [
                replace(m, details={**m.details, STORE_MARK: str(d)})
                for m in read_manifests(d)
                if judge(m) == "url"  # (a name alone: only in its own store)
            ]
            if found:
                yield d, found


def backups_of(target: Target) -> tuple[list[BackupManifest], list[BackupManifest]]:
    """(``target``'s backups, the other databases' backups in its own store), newest first.
    Its backups are those of its store and those of its database in the stores beside it
    (:func:`stores_beside`; :func:`store_of` says where each is). Two targets may share one
    store (a per-target ``backup_dir``, warned at load): listing, pruning, deleting, choosing
    and judging a target's backups look at its own only."""
    own: list[BackupManifest] = []
    others: list[BackupManifest] = []
    judge = _judge(target)
    for m in list_backups(target.backup_dir):
        (own if judge(m) else others).append(m)
    ids = {m.id for m in own}
    for _, found in stores_beside(target):
        for m in found:
            if m.id not in ids:  # (a store linked beside itself: once)
                ids.add(m.id)
                own.append(m)
    own.sort(key=lambda m: (m.created_at, m.id), reverse=True)
    return own, others


def store_of(manifest: BackupManifest, home: Path) -> Path:
    """The store ``manifest`` was read from: the one :func:`stores_beside` marked, else
    ``home`` (the target's own store)."""
    where = manifest.details.get(STORE_MARK)
    return Path(where) if where else home


def find_backup(target: Target, backup_id: str) -> BackupManifest:
    """The backup ``backup_id`` (or a unique prefix of it) of ``target``: in its own store as
    :func:`~malnu_tui.engine.backup.store.load_manifest` finds it, else among its database's
    backups in the stores beside it (marked: :func:`store_of`). :class:`BackupNotFound`
    (exit 2) when neither has it."""
    try:
        return load_manifest(target.backup_dir, backup_id)
    except BackupNotFound as missing:
        found = list(
            {
                m.id: m
                for _, ms in stores_beside(target)
                for m in ms
                if backup_id and m.id.startswith(backup_id)
            }.values()
        )
        if len(found) > 1:
            raise ConfigError(
                f"backup id {backup_id!r} is ambiguous: " + ", ".join(m.id for m in found[:5])
            ) from None
        if not found:
            raise missing from None
        return found[0]


def other_owners(others: Sequence[BackupManifest], name: str = "") -> str:
    """The databases ``others`` are backups of, for a message: ``b (2), c (1)``; one named
    ``name`` (this target's name, another config's database) with its URL."""
    counts: dict[str, int] = {}
    for m in others:
        who = m.target_name or m.target
        who = f"{who} at {m.target}" if who == name else who
        counts[who] = counts.get(who, 0) + 1
    return ", ".join(f"{who} ({n})" for who, n in counts.items())


def refuse_foreign(manifest: BackupManifest, target: Target, doing: str) -> None:
    """:class:`ConfigError` (exit 2) when ``manifest`` is another database's backup."""
    if backup_of(manifest, target):
        return
    who = manifest.target_name or manifest.target
    raise ConfigError(
        f"backup {manifest.id} is a backup of {who} ({manifest.target}), not of "
        f"{target.name}: it is not {doing} from {target.name}",
        hint=f"run it as that target (`malnu-tui --target {who} …`) if that is what you mean",
    )
