"""What an import reads and where it writes, checked before a row is read: the source and its
mapping, the table's live schema against both (and where the header is when title rows push
it down), the rejects file's place, no recover stopped half-way. The preview and the run (again
under the lock: the table may have changed since) call the same checks.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from itertools import pairwise
from typing import TYPE_CHECKING, Protocol

from malnu_tui.engine.data.csvformat import two_row_header
from malnu_tui.engine.data.csvsource import CsvSource
from malnu_tui.engine.data.errors import InputFileError, SchemaMismatch
from malnu_tui.engine.data.mapping import Mapping, identity_mapping, load_mapping
from malnu_tui.engine.data.records import RecordChunk, SourceRecord
from malnu_tui.engine.data.rejects import RejectsWriter
from malnu_tui.engine.data.request import ImportRequest
from malnu_tui.engine.data.schema import SchemaCheck, TableSchema, check_input, read_schema
from malnu_tui.engine.data.tablesource import TableSource
from malnu_tui.engine.data.uniques import refuse_deferrable_key

if TYPE_CHECKING:
    from malnu_tui.engine.backends.base import Backend

HEADER_SEARCH_LINES = 30  # how far down a header pushed by title rows is looked for


class Source(Protocol):
    kind: str
    header: tuple[str, ...]
    description: str

    def records(self) -> Iterator[SourceRecord]: ...

    def chunks(self, size: int) -> Iterator[RecordChunk]: ...


def open_csv(request: ImportRequest) -> CsvSource:
    assert request.file is not None
    return CsvSource(
        request.file,
        encoding=request.encoding,
        delimiter=request.delimiter,
        header_line=request.header_line,
        header_rows=request.header_rows,
    )


def rejects_for(request: ImportRequest) -> RejectsWriter:
    """The rejects file's writer, its place checked before anything is read: ``--rejects``
    must be writable; beside the CSV (the default) it may not be (a read-only card or share),
    and then it is ``TABLE.rejects.csv`` in the working folder, as for ``--from``."""
    writer = RejectsWriter(request.rejects_path())
    writer.refuse_foreign(request.file)  # the input, or a file not ours: said, never moved on
    try:
        writer.preflight()
    except InputFileError:
        if request.rejects is not None or request.file is None:
            raise
        writer = RejectsWriter(replace(request, file=None).rejects_path())
        writer.refuse_foreign(request.file)
        writer.preflight()
    return writer


def mapping_for(request: ImportRequest, source: Source) -> Mapping:
    if request.mapping is not None:
        return load_mapping(request.mapping)
    return identity_mapping(source.header)


def check_table(
    backend: Backend, request: ImportRequest, source: Source, mapping: Mapping
) -> tuple[TableSchema, SchemaCheck]:
    """The table's live schema, and the source and mapping checked against it."""
    schema = read_schema(backend, request.table)
    check = check_input(
        schema,
        source.header,
        mapping,
        key=request.key,
        on_conflict=request.conflict,
        table_source=source.description if isinstance(source, TableSource) else "",
    )
    if check.ok:
        refuse_deferrable_key(backend, request.table, check.key, request.conflict)
    # Also past a --header-line N that is the top of a two-row header, or a title row.
    if not check.ok and isinstance(source, CsvSource) and request.header_rows == 1:
        found = _header_below(source, schema, mapping)
        if found is not None:
            check = replace(check, problems=(*check.problems, found))
    return schema, check


def checked_table(
    backend: Backend, request: ImportRequest, source: Source
) -> tuple[Mapping, TableSchema, SchemaCheck]:
    """The import's mapping, the table's schema and their check; SchemaMismatch when the
    source does not fit the table (checked again under the lock, then by the import's step)."""
    mapping = mapping_for(request, source)
    schema, check = check_table(backend, request, source, mapping)
    if not check.ok:
        raise SchemaMismatch(
            request.table,
            check.problems,
            from_table=request.file is None,
            mapped=request.mapping is not None,
        )
    return mapping, schema, check


def _header_below(source: CsvSource, schema: TableSchema, mapping: Mapping) -> str | None:
    """Where the header is when title rows sit above it (a Dapodik or EMIS sheet's name, the
    school, the date of the download): the first line of the file's top that names every
    source column of the mapping (without one: only columns of the table)."""
    wanted = mapping.sources() if mapping.path is not None else None
    records = source.leading_records(HEADER_SEARCH_LINES)
    for line, fields in records[1:]:
        names = {f for f in fields if f}
        if names and (names >= wanted if wanted else names <= set(schema.names)):
            shown = ", ".join(f for f in fields if f)
            return (
                f"line {line} looks like the header ({shown[:60]}"
                f"{'…' if len(shown) > 60 else ''}), with a title above it: "
                f"pass --header-line {line}"
            )
    for (line, top), (below, sub) in pairwise(records):
        if wanted and set(two_row_header(top, sub)) >= wanted:
            return (
                f"lines {line} and {below} look like a header of two rows (merged cells over "
                f"the names): pass --header-line {line}-{below}"
            )
    return None


def refuse_half_done(backend: Backend) -> None:
    """A recover stopped half-way (engine/recover_state.py): an import would load rows into a
    database that is neither as before nor as of the recover's TIME."""
    from malnu_tui.engine.recover_state import refuse_half_done as refuse

    refuse(backend, "import")
