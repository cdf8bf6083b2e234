"""Opening a sync's ends: a target connected and wrapped as the side of its kind, read-only
where the action only reads or the source is a SQLite file this user may not write."""

from __future__ import annotations

from malnu_tui.engine.config import Target, open_backend
from malnu_tui.engine.sync.side import Side
from malnu_tui.engine.urls import sqlite_path

__all__ = ["open_side", "unwritable_source"]


def open_side(target: Target, *, source: bool = False, read_only: bool = False) -> Side:
    """Connect to ``target`` and wrap it for the sync; ``read_only`` (``sync verify``,
    ``sync status``, ``--dry-run``): opened as a dry run opens it, writing nothing (a database
    this user may only read was refused), and a ``source`` SQLite file this user may not
    write (:func:`unwritable_source`: a read-only mount, another user's file) read-only."""
    if read_only:  # as a dry run reads: no tool tables is nothing yet, a new copy is empty
        backend = open_backend(target, dry_run=True, new_ok=not source)
    else:
        backend = open_backend(target, read_only=bool(source and unwritable_source(target)))
    label = f"{target.name} ({target.display_url})"
    if backend.kind == "sqlite":
        from malnu_tui.engine.sync.side_sqlite import SqliteSide

        return SqliteSide(backend, label)  # type: ignore[arg-type]
    if backend.kind == "postgresql":
        from malnu_tui.engine.sync.side_postgres import PostgresSide

        return PostgresSide(backend, label)  # type: ignore[arg-type]
    from malnu_tui.engine.sync.side_d1 import D1Side

    return D1Side(backend, label)  # type: ignore[arg-type]


def unwritable_source(target: Target) -> str | None:
    """Why this user may not write a SQLite source (None when it may, or for another kind):
    the sync then reads it read-only and writes its audit row on the destination only (it was
    refused, the dry run and ``sync verify`` too, for the audit row wanted on the source)."""
    if target.kind != "sqlite":
        return None
    from malnu_tui.engine.backends.sqlite_open import unwritable_reason

    return unwritable_reason(sqlite_path(target.url))
