"""The import's source as the operator names it, for the CLI and the console alike: a CSV file,
or ``TARGET:TABLE`` of another target (``--from``)."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from malnu_tui.engine.data.preflight import open_csv
from malnu_tui.engine.data.tablesource import TableSource
from malnu_tui.engine.errors import ConfigError, sqlite_damaged

if TYPE_CHECKING:
    from malnu_tui.engine.backends.base import Backend
    from malnu_tui.engine.config import Settings
    from malnu_tui.engine.data.preflight import Source
    from malnu_tui.engine.data.request import ImportRequest

__all__ = ["open_source"]


def open_source(settings: Settings, request: ImportRequest) -> tuple[Source, Backend | None]:
    """The import's source, for the CLI and the console alike: the CSV file, or the table
    ``TARGET:TABLE`` (``request.source_label``; TARGET a name of the config or a URL) with the
    connection it holds open, which the caller closes. ConfigError naming the label when it
    is no ``TARGET:TABLE``."""
    from malnu_tui.engine.config import open_backend, require_existing, resolve_target
    from malnu_tui.engine.config_sections import is_database_url
    from malnu_tui.engine.monitor.debuglog import register_secret
    from malnu_tui.engine.urls import mask_url, url_secrets

    if request.file is not None:
        return open_csv(request), None
    label = request.source_label
    # Typed into the console, a URL's password is known nowhere else: every message that
    # quotes the label (mistyped, or naming no table) is masked of it.
    for secret in url_secrets(label):
        register_secret(secret)
    where, sep, table = label.rpartition(":")
    if not sep or not where or not table:
        raise ConfigError(f"--from {label!r}: expected TARGET:TABLE (e.g. legacy:users)")
    url = is_database_url(where) or "://" in label
    if url and (not is_database_url(where) or table.isdigit() or "/" in table or "@" in table):
        # A URL without its :TABLE: the last colon was the port's or the password's, and
        # the rest was taken for a host to connect to ("port 5432 failed", "resolve host").
        raise ConfigError(
            f"--from {mask_url(label)}: the URL names no table",
            hint="put :TABLE after the URL, e.g. --from postgresql://host/legacy:users",
        )
    target = (
        resolve_target(settings, database=where, env={}, any_target=False)
        if url
        else settings.target(where)
    )
    require_existing(target)
    # Only read: a SQLite source is opened mode=ro (it was switched to WAL for good, which an
    # old application on it, or on a network share, may not read).
    if target.kind == "sqlite":
        from malnu_tui.engine.backends.sqlite import open_target
        from malnu_tui.engine.monitor.debuglog import name_target

        # Locking as its application does: read "immutable" (how monitoring reads a quiet
        # file), pages a checkpoint rewrote during the reading were read torn.
        backend: Backend = open_target(target, live=True)
        name_target(backend.display_url, target.name)  # as open_backend does
    else:
        backend = open_backend(target, read_only=True)
    try:
        return TableSource(backend, table, label="" if url else target.name), backend
    except sqlite3.DatabaseError as exc:
        backend.close()
        if not sqlite_damaged(exc):
            raise
        # Said of the source, not of the target: the CLI's catch-all named the TARGET damaged
        # and told the operator to restore a backup over it.
        raise ConfigError(
            f"--from {backend.display_url}: {exc} (the source is no SQLite database, or a "
            "damaged one)",
            hint="--from names a SQLite database file; a .sql dump is loaded into one first "
            "(sqlite3 legacy.db < dump.sql)",
        ) from None
    except BaseException:
        backend.close()
        raise
