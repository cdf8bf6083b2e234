"""Data import (``malnu-tui import``): CSV files or another target's table into a table of any
target, mapped and transformed, validated per row, in one all-or-nothing unit.

The public API (the CLI and the console call these; none of it prints):

- :class:`ImportRequest`, :class:`MaxErrors`: what to import and how;
- :func:`open_csv` / :class:`TableSource`: the source;
- :func:`preview_import`: the mapping preview (format, schema check, first rows before/after);
- :func:`run_import`: the run (lock, re-check, safety backup, stream, checks, commit, audit);
- the table writers (:mod:`~malnu_tui.engine.data.writers`), reused by ``sync``.

The names below are imported on first use (PEP 562): a caller that needs one module of the
package (the sync: ``pgcopy``, ``sqlwrite``) does not load the import's whole pipeline.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from malnu_tui.engine.lazy import lazy_exports

if TYPE_CHECKING:
    from malnu_tui.engine.data.csvsource import CsvSource
    from malnu_tui.engine.data.errors import (
        ImportCheckFailed,
        InputFileError,
        MappingError,
        SchemaMismatch,
    )
    from malnu_tui.engine.data.preflight import open_csv
    from malnu_tui.engine.data.records import SourceRecord
    from malnu_tui.engine.data.report import ImportPreview, ImportProgress, ImportReport, SampleRow
    from malnu_tui.engine.data.request import ImportRequest, MaxErrors
    from malnu_tui.engine.data.rows import Rejection, Row
    from malnu_tui.engine.data.run import preview_import, run_import
    from malnu_tui.engine.data.sources import open_source
    from malnu_tui.engine.data.tablesource import TableSource
    from malnu_tui.engine.data.writers import (
        ON_CONFLICT,
        TableWriter,
        WriteOutcome,
        WriteSpec,
        open_writer,
    )

__all__ = [
    "ON_CONFLICT",
    "CsvSource",
    "ImportCheckFailed",
    "ImportPreview",
    "ImportProgress",
    "ImportReport",
    "ImportRequest",
    "InputFileError",
    "MappingError",
    "MaxErrors",
    "Rejection",
    "Row",
    "SampleRow",
    "SchemaMismatch",
    "SourceRecord",
    "TableSource",
    "TableWriter",
    "WriteOutcome",
    "WriteSpec",
    "open_csv",
    "open_source",
    "open_writer",
    "preview_import",
    "run_import",
]

_WHERE = {
    "CsvSource": "csvsource",
    "SourceRecord": "records",
    "ImportCheckFailed": "errors",
    "InputFileError": "errors",
    "MappingError": "errors",
    "SchemaMismatch": "errors",
    "Rejection": "rows",
    "Row": "rows",
    "ImportPreview": "report",
    "ImportProgress": "report",
    "ImportReport": "report",
    "ImportRequest": "request",
    "MaxErrors": "request",
    "SampleRow": "report",
    "open_csv": "preflight",
    "preview_import": "run",
    "run_import": "run",
    "TableSource": "tablesource",
    "open_source": "sources",
    "ON_CONFLICT": "writers",
    "TableWriter": "writers",
    "WriteOutcome": "writers",
    "WriteSpec": "writers",
    "open_writer": "writers",
}


__getattr__ = lazy_exports(__name__, _WHERE)
