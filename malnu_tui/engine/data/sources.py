"""The import's source as the operator names it, for the CLI and the console alike: a CSV file,
or ``TARGET:TABLE`` of another target (``--from``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from malnu_tui.engine.data.run import open_csv
from malnu_tui.engine.data.tablesource import TableSource
from malnu_tui.engine.errors import ConfigError

if TYPE_CHECKING:
    from malnu_tui.engine.backends.base import Backend
    from malnu_tui.engine.config import Settings
    from malnu_tui.engine.data.request import ImportRequest
    from malnu_tui.engine.data.run import Source

__all__ = ["open_source"]


def open_source(settings: Settings, request: ImportRequest) -> tuple[Source, Backend | None]:
    """The import's source, for the CLI and the console alike: the CSV file, or the table
    ``TARGET:TABLE`` (``request.source_label``; TARGET a name of the config or a URL) with the
    connection it holds open, which the caller closes. ConfigError naming the label when it
    is no ``TARGET:TABLE``."""
    from malnu_tui.engine.config import open_backend, require_existing, resolve_target

    if request.file is not None:
        return open_csv(request), None
    label = request.source_label
    where, sep, table = label.rpartition(":")
    if not sep or not where or not table:
        raise ConfigError(f"--from {label!r}: expected TARGET:TABLE (e.g. legacy:users)")
    if "://" in where:
        target = resolve_target(settings, database=where, env={})
    else:
        target = settings.target(where)
    require_existing(target)
    backend = open_backend(target)
    try:
        return TableSource(backend, table, label=f"{target.name}"), backend
    except BaseException:
        backend.close()
        raise
