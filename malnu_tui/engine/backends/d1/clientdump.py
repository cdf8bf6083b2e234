"""A dump of a D1 database taken by the client, for the one D1 cannot export: a database
holding a virtual table (an FTS5 search index), which D1's export refuses whole ("cannot export
databases with Virtual Tables (fts5)").

Each table is read in keyset pages (by rowid, or a WITHOUT ROWID table's key) over D1's HTTP
API, written as it comes: never a whole table in memory. Values travel exactly: integers as
their digits (D1's JSON rounds past 2**53), texts and BLOBs as hex (a text holding NUL, or
not UTF-8, kept as its bytes), one too large for one hex() in pieces (.pieces). The file is the
kind D1's export writes: the schema from ``sqlite_master`` (tables in the order they were made,
each with its rows; then the virtual tables; then indexes, views and triggers), ``INSERT``
statements with literals (a row past D1's 100 KB a statement in pieces: :func:`pieced_insert`).
An FTS5 index is re-created by its ``CREATE VIRTUAL TABLE``: one over a content table
(``content=tbl``) is rebuilt from it at the end (``INSERT INTO fts(fts) VALUES('rebuild')``);
one holding its own content gets its rows back (rowid and columns); its shadow tables
(``*_data``, ``*_idx``, ``*_content``, ``*_docsize``, ``*_config``) are never dumped as tables.
A contentless index (``content=''``) keeps no text to read back, nor does another module's
table promise its rows back as stored: those are refused (:attr:`Virtual.why_not`)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from malnu_tui.engine.backends import sqlite_sql as q
from malnu_tui.engine.backends.d1.pieces import (
    PIECE_BYTES,
    Cell,
    hex_or_length,
    read_pieces,
    settled,
)
from malnu_tui.engine.backends.sqlite_sql import bind_literals, sql_literal
from malnu_tui.engine.backup.durable import sha256_file
from malnu_tui.engine.data.sqlwrite import D1_STATEMENT_BYTES, RawText, RowRefused, d1_bound_row
from malnu_tui.engine.errors import BackendError
from malnu_tui.engine.progress import BackupProgress, BackupProgressCallback
from malnu_tui.engine.sqlsplit import Statement

if TYPE_CHECKING:
    from malnu_tui.engine.backends.d1.backend import D1Backend

__all__ = [
    "Virtual",
    "client_dump",
    "dump_literal",
    "module_of",
    "pieced_insert",
    "text_value",
    "virtual_tables",
]

FTS5_SHADOWS = ("_data", "_idx", "_content", "_docsize", "_config")
ANSWER_BYTES = 8_000_000  # a page's answer, as it travels (D1 refuses one over 50 MB)
PAGE_ROWS = 1_000
_ROWID_NAMES = ("rowid", "_rowid_", "oid")


def module_of(sql: str) -> str:
    """The module of a ``CREATE VIRTUAL TABLE`` (``fts5``), lower case."""
    found = re.search(r"\bUSING\s+(\w+)", sql, re.IGNORECASE)
    return found.group(1).lower() if found else "virtual"


_CONTENT = re.compile(
    r"""[(,]\s*content\s*=\s*('(?:[^']|'')*'|"(?:[^"]|"")*"|[^\s,)]+)""", re.IGNORECASE
)


@dataclass(frozen=True)
class Virtual:
    """One virtual table: its name, CREATE, module and, for FTS5, its external content table
    (``""`` contentless; None: it holds its own content)."""

    name: str
    sql: str
    module: str
    content: str | None

    @property
    def why_not(self) -> str | None:
        """Why a client-side dump cannot give this table back exactly, or None."""
        if self.module != "fts5":
            return f"a {self.module} table's rows are not read back as they were stored"
        if self.content == "":
            return "a contentless FTS5 index (content='') keeps no text to read back"
        return None

    @property
    def shadows(self) -> tuple[str, ...]:
        return tuple(self.name + s for s in FTS5_SHADOWS) if self.module == "fts5" else ()


def _unquote(word: str) -> str:
    if len(word) >= 2 and word[0] == word[-1] and word[0] in "'\"":
        return word[1:-1].replace(word[0] * 2, word[0])
    return word


def virtual_tables(d1: D1Backend) -> list[Virtual]:
    """The database's virtual tables (no b-tree of their own: rootpage 0, however their CREATE
    is spelled), by name."""
    rows = d1.query(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND rootpage = 0 ORDER BY name"
    )
    out = []
    for r in rows:
        sql = str(r["sql"])
        found = _CONTENT.search(sql)
        content = _unquote(found.group(1)) if found else None
        out.append(Virtual(str(r["name"]), sql, module_of(sql), content))
    return out


def dump_literal(value: Any) -> str:
    """``value`` as a dump's literal, exactly (a text not UTF-8 cast from its bytes; a REAL's
    infinity as 9e999, NaN as NULL as SQLite stores it)."""
    if isinstance(value, RawText):
        return f"CAST(X'{bytes(value).hex()}' AS TEXT)"
    if isinstance(value, float) and value != value:
        return "NULL"
    if isinstance(value, float) and abs(value) == float("inf"):
        return "9e999" if value > 0 else "-9e999"
    return sql_literal(value)


def _encoded(c: str) -> str:
    """SQL: the value of ``c`` (quoted) as it travels exactly (see :func:`_decoded`)."""
    return (
        f"typeof({c}), CASE typeof({c}) WHEN 'integer' THEN CAST({c} AS TEXT) "
        f"WHEN 'real' THEN CASE WHEN abs({c}) = 9e999 THEN CAST({c} AS TEXT) ELSE {c} END "
        f"WHEN 'null' THEN NULL ELSE {hex_or_length(c)} END"
    )


def _decoded(kind: str, value: Any) -> Any:
    if kind == "integer":
        return int(value)
    if kind == "real":
        return float(value)  # (a JSON 1 is the REAL 1.0)
    if kind in ("text", "blob") and isinstance(value, str):
        data = bytes.fromhex(value)
        return text_value(data) if kind == "text" else data
    return value  # NULL, or a size: read in pieces


def text_value(data: bytes) -> Any:
    """A text's bytes as its str, or kept as its bytes (RawText) when not UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return RawText(data)


class _Reader:
    """Reads one table (or an FTS5 index's own content) in keyset pages: ``keys`` (quoted: the
    rowid, or a WITHOUT ROWID table's key columns) and ``cols`` (quoted)."""

    def __init__(self, d1: D1Backend, table: str, keys: Sequence[str], cols: Sequence[str]) -> None:
        self.d1, self.table, self.keys, self.cols = d1, table, list(keys), list(cols)
        self.t = q.quote_ident(table)

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        if params:  # literals: D1's JSON parameters carry no bytes and round big integers
            sql = bind_literals(sql, list(params), dump_literal)
        return [tuple(r) for r in self.d1.api.raw(sql, []).rows]

    def page_rows(self) -> int:
        """Rows a page, from the table's largest row as it travels (hex: twice its bytes)."""
        size = " + ".join(
            f"CASE WHEN typeof({c}) IN ('text', 'blob') THEN "
            f"min(2 * length(CAST({c} AS BLOB)), {2 * PIECE_BYTES}) ELSE 32 END"
            for c in self.cols
        )
        largest = self.rows(f"SELECT max({size or '0'}) FROM {self.t}")[0][0] or 0
        per_row = int(largest) + 64 * (len(self.cols) + len(self.keys))
        return max(1, min(PAGE_ROWS, ANSWER_BYTES // per_row))

    def pages(self) -> Iterator[list[list[Any]]]:
        """Pages of rows (key values, then column values), in key order."""
        limit = self.page_rows()
        klist = ", ".join(self.keys)
        select = ", ".join(_encoded(c) for c in [*self.keys, *self.cols])
        after: list[Any] | None = None
        while True:
            where = ""
            if after is not None:
                marks = ", ".join("?" * len(self.keys))
                where = f" WHERE ({klist}) > ({marks})"
            asked = f"SELECT {select} FROM {self.t}{where} ORDER BY {klist} LIMIT {limit}"

            def read(
                asked: str = asked, params: Sequence[Any] = after or ()
            ) -> tuple[list[Any], list[Any]]:
                return self.rows(asked, params), []

            page = settled(  # (a row changed before its pieces were read: a row that never was)
                read,
                lambda found, _: self._decode(found),
                (),
                f"{self.d1.display_url}: reading {self.table}",
                pieced=self._pieced,
            )
            if not page:
                return
            yield page
            if len(page) < limit:
                return
            after = page[-1][: len(self.keys)]

    def _pieced(self, r: Sequence[Any]) -> bool:
        """Whether the page's row ``r`` holds a text or BLOB that came as its size."""
        return any(
            r[2 * i] in ("text", "blob") and isinstance(r[2 * i + 1], int)
            for i in range(len(self.keys) + len(self.cols))
        )

    def _decode(self, found: list[tuple[Any, ...]]) -> list[list[Any]]:
        names = [*self.keys, *self.cols]
        out: list[list[Any]] = []
        later: list[tuple[int, int, Cell]] = []  # (row, column, value) read in pieces
        for r in found:
            row = [_decoded(r[2 * i], r[2 * i + 1]) for i in range(len(names))]
            key = tuple(row[: len(self.keys)])
            for i, v in enumerate(row):
                if r[2 * i] in ("text", "blob") and isinstance(v, int):
                    named = f"reading {self.table}, row {key!r}, column {names[i]}"
                    later.append((len(out), i, Cell(names[i], key, v, named)))
            out.append(row)
        if later:
            where = f"({', '.join(self.keys)}) = ({', '.join('?' * len(self.keys))})"
            cells = [c for *_, c in later]
            got = read_pieces(self.rows, self.t, where, cells, self.d1.display_url)
            for (at, i, _), data in zip(later, got, strict=True):
                out[at][i] = text_value(data) if found[at][2 * i] == "text" else data
        return out


def _columns(d1: D1Backend, table: str) -> list[str]:
    """The columns an INSERT names (not generated, not a virtual table's hidden ones)."""
    rows = d1.query(f"PRAGMA table_xinfo({q.quote_ident(table)})")
    return [str(r["name"]) for r in rows if not int(r["hidden"] or 0)]


def _keys(d1: D1Backend, table: str, sql: str, cols: Sequence[str]) -> list[str]:
    """What a table is paged by, quoted: a WITHOUT ROWID table's key columns, else its
    rowid (by a name no column takes)."""
    # (Its options in either order: `) STRICT, WITHOUT ROWID` was paged by a rowid it lacks,
    # `no such column: rowid`, and the database could not be backed up.)
    if re.search(r"\)\s*(?:STRICT\s*,\s*)?WITHOUT\s+ROWID\b[^)]*$", sql, re.IGNORECASE):
        info = d1.query(f"PRAGMA table_info({q.quote_ident(table)})")
        pk = sorted((int(r["pk"]), str(r["name"])) for r in info if r["pk"])
        return [q.quote_ident(n) for _, n in pk]
    taken = {c.lower() for c in cols}
    free = [n for n in _ROWID_NAMES if n not in taken]
    if not free:
        raise BackendError(
            f"{table} has columns named rowid, _rowid_ and oid: its rows cannot be paged"
        )
    return [free[0]]


def _write_rows(
    out: TextIO, reader: _Reader, head: str, with_key: bool, emit: Callable[[int], None]
) -> int:
    """Each row of ``reader`` as ``head(values);`` (the key first when ``with_key``); a row
    whose statement would pass D1's 100 KB (a photo kept as a BLOB, an essay) as the
    import's: its large values built piece by piece in a scratch table, then read by the
    row's INSERT (:func:`.sqlwrite.d1_bound_row`, nothing bound), so D1's import takes it."""
    n, skip = 0, 0 if with_key else len(reader.keys)
    for page in reader.pages():
        for row in page:
            line = f"{head}({','.join(dump_literal(v) for v in row[skip:])})"
            if len(line) > D1_STATEMENT_BYTES // 4 and len(line.encode()) > D1_STATEMENT_BYTES:
                line = ";\n".join(_pieced(reader, head, row, skip))
            out.write(f"{line};\n")
        n += len(page)
        emit(n)
    return n


def pieced_insert(head: str, values: Sequence[Any]) -> list[str]:
    """``head(values)`` as statements each within D1's 100 KB: the row's large values built
    piece by piece in a scratch table (:func:`.sqlwrite.d1_bound_row`, nothing bound: SQL
    only, for a file D1 imports). Raises RowRefused for a row D1 cannot hold."""
    built = d1_bound_row(head, values, "", dump_literal, bind=False).statements()
    return [s for s in built if isinstance(s, str)]  # (nothing bound: all of them)


def _pieced(reader: _Reader, head: str, row: list[Any], skip: int) -> list[str]:
    try:
        return pieced_insert(head, row[skip:])
    except RowRefused as exc:
        key = tuple(row[: len(reader.keys)])
        raise BackendError(f"{reader.table}, row {key!r}: {exc}") from None


@dataclass(frozen=True)
class ClientDump:
    """A client-side dump written: its size, sha256 and rows written."""

    size: int
    sha256: str
    rows: int


def client_dump(
    d1: D1Backend, dest: Path, virtuals: Sequence[Virtual], progress: BackupProgressCallback
) -> ClientDump:
    """Write the client-side dump of ``d1`` into ``dest`` (fsynced). ``virtuals``: its virtual
    tables, each dumpable (``why_not`` None)."""
    shadows = {s for v in virtuals for s in v.shadows}
    by_name = {v.name: v for v in virtuals}
    objects = d1.query(
        "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL "
        f"AND {q.NOT_INTERNAL} ORDER BY rowid"
    )
    total = 0

    def table(name: str, keys: Sequence[str], cols: Sequence[str], with_key: bool) -> None:
        nonlocal total
        names = [*(["rowid"] if with_key else []), *map(q.quote_ident, cols)]
        head = f"INSERT INTO {q.quote_ident(name)}({','.join(names)}) VALUES"
        reader = _Reader(d1, name, keys, [q.quote_ident(c) for c in cols])
        done = total
        total += _write_rows(
            out,
            reader,
            head,
            with_key,
            lambda n: progress(BackupProgress("dump", done + n, 0, f"reading {name}")),
        )

    with dest.open("w", encoding="utf-8") as out:
        out.write("PRAGMA defer_foreign_keys=TRUE;\n")
        later: list[str] = []
        for o in objects:
            # (SQLite keeps a view's or an index's text up to its ``;``: a ``-- comment``
            # before it too, which swallowed a ``;`` written after it, and the dump failed)
            name, sql = str(o["name"]), str(o["sql"])
            if o["type"] != "table":
                later.append(Statement(sql, 0).as_script())
            elif name not in shadows and name not in by_name:
                out.write(Statement(sql, 0).as_script())
                cols = _columns(d1, name)
                table(name, _keys(d1, name, sql, cols), cols, False)
        _sequence(d1, out)
        rebuilds: list[str] = []
        for v in virtuals:
            out.write(Statement(v.sql, 0).as_script())
            t = q.quote_ident(v.name)
            if v.content:  # rebuilt from its content table, once everything is there
                rebuilds.append(f"INSERT INTO {t}({t}) VALUES('rebuild');\n")
            else:
                table(v.name, ["rowid"], _columns(d1, v.name), True)
        out.writelines(later)
        out.writelines(rebuilds)
        out.flush()
        os.fsync(out.fileno())
    sha256, size = sha256_file(dest)
    return ClientDump(size, sha256, total)


def _sequence(d1: D1Backend, out: TextIO) -> None:
    """sqlite_sequence as D1's export writes it (AUTOINCREMENT's counters)."""
    if not d1.query("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'"):
        return
    out.write('DELETE FROM "sqlite_sequence";\n')
    for r in d1.query("SELECT name, CAST(seq AS TEXT) AS seq FROM sqlite_sequence ORDER BY name"):
        name, seq = sql_literal(r["name"]), int(r["seq"])
        out.write(f'INSERT INTO "sqlite_sequence" VALUES({name},{seq});\n')
