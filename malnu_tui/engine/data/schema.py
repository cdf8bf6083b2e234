"""The live schema of the import's target table, and the check of the input against it.

Identifiers used in SQL come from here (the database's own catalog), never from the file:
a header such as ``name"; DROP TABLE users;--`` is simply a column the table does not have.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from malnu_tui.engine.data.cells import AROUND, INVISIBLE
from malnu_tui.engine.errors import ConfigError

if TYPE_CHECKING:
    from malnu_tui.engine.backends.base import Backend
    from malnu_tui.engine.data.mapping import Mapping

_NUMERIC = re.compile(r"\s*(?:numeric|decimal)\s*\(\s*(\d+)\s*(?:,\s*([+-]?\d+)\s*)?\)", re.I)

_GEOMETRIC = frozenset({"point", "line", "lseg", "box", "path", "polygon", "circle"})

# How values are checked before they are sent: by the column's declared type.
Family = str  # "text", "integer", "number", "boolean", "date", "timestamp", "blob"


def type_family(declared: str) -> Family:
    """SQLite's affinity rules, extended with PostgreSQL's type names and date/time types."""
    t = declared.lower()
    if "blob" in t or t == "bytea":
        return "blob"
    if t.endswith("]") or "range" in t or t in _GEOMETRIC:
        return "text"  # integer[], daterange, point: no integer or date, by their names
    if "timestamp" in t or "datetime" in t:
        return "timestamp"
    if t.startswith("time") or t == "interval":
        return "text"
    if "date" in t:
        return "date"
    if "bool" in t:
        return "boolean"
    if "int" in t or t in ("serial", "bigserial", "smallserial"):
        return "integer"
    if any(w in t for w in ("real", "floa", "doub", "numeric", "decimal")):
        return "number"
    return "text"


@dataclass(frozen=True)
class Column:
    name: str
    declared_type: str
    family: Family
    not_null: bool
    has_default: bool
    primary_key: bool = False
    max_length: int | None = None  # PostgreSQL character varying(n)
    int_bits: int = 64
    # PostgreSQL's dates and times: ``infinity``, ``-infinity`` and BC dates are values (a
    # legacy table's "valid until forever"); SQLite and D1 have no such dates.
    pg_dates: bool = False

    @property
    def precision_scale(self) -> tuple[int, int] | None:
        """``NUMERIC(p,s)``/``DECIMAL(p,s)`` → (p, s) (``(p)``: scale 0); None otherwise."""
        m = _NUMERIC.match(self.declared_type)
        return (int(m[1]), int(m[2] or 0)) if m else None

    @property
    def zoned(self) -> bool:
        """A PostgreSQL ``timestamptz``: it reads a time written without an offset as UTC."""
        return self.pg_dates and "with time zone" in self.declared_type.lower()

    @property
    def required(self) -> bool:
        """NOT NULL without a default: the input must give it."""
        return self.not_null and not self.has_default


@dataclass(frozen=True)
class TableSchema:
    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    unique_sets: tuple[tuple[str, ...], ...]  # PRIMARY KEY and UNIQUE column sets
    rowid: bool = False  # SQLite/D1: a rowid table (keyset paging by rowid)

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


def read_schema(backend: Backend, table: str, *, view: bool = False) -> TableSchema:
    """The live definition of ``table`` (ConfigError when there is no such table); ``view``:
    of a view the caller found (an import's source), which has columns and no key."""
    if not view and table not in backend.table_names():
        raise ConfigError(
            f"no table {table!r} in {backend.display_url}",
            hint="tables: " + ", ".join(backend.table_names()[:20]),
        )
    if backend.kind == "postgresql":
        return _pg_schema(backend, table)
    return _sqlite_schema(backend, table)


def sqlite_rows(
    backend: Backend, query: str, params: Sequence[object] = ()
) -> list[tuple[Any, ...]]:
    """Rows of one read-only query on a SQLite-dialect backend (a local file or D1)."""
    if backend.kind == "sqlite":
        return [tuple(r) for r in backend.conn.execute(query, tuple(params)).fetchall()]  # type: ignore[attr-defined]
    return [tuple(r) for r in backend.api.raw(query, params).rows]  # type: ignore[attr-defined]


def _sqlite_schema(backend: Backend, table: str) -> TableSchema:
    cols = sqlite_rows(
        backend, 'SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info(?)', (table,)
    )
    pk_cols = sorted((int(r[4]), str(r[0])) for r in cols if int(r[4]) > 0)
    primary = tuple(n for _, n in pk_cols)
    rowid_alias = (
        primary[0]
        if len(primary) == 1
        and next(str(r[1]) for r in cols if r[0] == primary[0]).upper() == "INTEGER"
        else None
    )
    columns = tuple(
        Column(
            name=str(r[0]),
            declared_type=str(r[1] or ""),
            family=type_family(str(r[1] or "")),
            not_null=bool(r[2]) and r[0] != rowid_alias,
            has_default=r[3] is not None or r[0] == rowid_alias,
            primary_key=int(r[4]) > 0,
        )
        for r in cols
    )
    uniques: list[tuple[str, ...]] = [primary] if primary else []
    for idx in sqlite_rows(
        backend, 'SELECT name, "unique", partial FROM pragma_index_list(?)', (table,)
    ):
        if not int(idx[1]) or int(idx[2]):
            continue
        names = tuple(
            str(r[0])
            for r in sqlite_rows(
                backend, "SELECT name FROM pragma_index_info(?) ORDER BY seqno", (str(idx[0]),)
            )
        )
        if names and None not in names and names not in uniques:
            uniques.append(names)
    sql = sqlite_rows(
        backend, "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
    )
    without_rowid = bool(sql and sql[0][0] and re.search(r"WITHOUT\s+ROWID", str(sql[0][0]), re.I))
    return TableSchema(table, columns, primary, tuple(uniques), rowid=not without_rowid)


def _pg_schema(backend: Backend, table: str) -> TableSchema:
    conn = backend.conn  # type: ignore[attr-defined]
    rows = conn.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, "
        "a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> '', "
        "CASE WHEN t.typname IN ('varchar', 'bpchar') AND a.atttypmod > 4 "
        "THEN a.atttypmod - 4 END, t.typname "
        "FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
        "WHERE a.attrelid = (quote_ident(current_schema()) || '.' || quote_ident(%s))::regclass "
        "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        (table,),
    ).fetchall()
    cons = conn.execute(
        "SELECT c.contype, array(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(n, o) "
        "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.o) "
        "FROM pg_constraint c WHERE c.conrelid = "
        "(quote_ident(current_schema()) || '.' || quote_ident(%s))::regclass "
        "AND c.contype IN ('p', 'u') ORDER BY c.contype, c.conname",
        (table,),
    ).fetchall()
    idx = conn.execute(
        "SELECT array(SELECT a.attname FROM unnest(i.indkey) WITH ORDINALITY k(n, o) "
        "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n ORDER BY k.o) "
        "FROM pg_index i WHERE i.indrelid = "
        "(quote_ident(current_schema()) || '.' || quote_ident(%s))::regclass "
        "AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL",
        (table,),
    ).fetchall()
    primary = next((tuple(c[1]) for c in cons if c[0] == "p"), ())
    uniques: list[tuple[str, ...]] = [primary] if primary else []
    for names in [tuple(c[1]) for c in cons if c[0] == "u"] + [tuple(r[0]) for r in idx]:
        if names and names not in uniques:
            uniques.append(names)
    bits = {"int2": 16, "int4": 32, "int8": 64}
    columns = tuple(
        Column(
            name=str(r[0]),
            declared_type=str(r[1]),
            family=type_family(str(r[1])),
            not_null=bool(r[2]),
            has_default=bool(r[3]),
            primary_key=str(r[0]) in primary,
            max_length=None if r[4] is None else int(r[4]),
            int_bits=bits.get(str(r[5]), 64),
            pg_dates=True,
        )
        for r in rows
    )
    return TableSchema(table, columns, primary, tuple(uniques))


@dataclass(frozen=True)
class SchemaCheck:
    """The input's columns against the table: what will be written, and what is wrong."""

    table: str
    columns: tuple[str, ...]  # target columns the import writes, in table order
    key: tuple[str, ...]  # conflict key (empty: plain INSERT)
    problems: tuple[str, ...]
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems


def check_input(
    schema: TableSchema,
    header: Sequence[str],
    mapping: Mapping,
    *,
    key: Sequence[str] = (),
    on_conflict: str | None = None,
    table_source: str = "",
) -> SchemaCheck:
    """Every problem at once: duplicate or empty headers, unknown columns (mapped or not),
    sources missing from the header, NOT NULL columns without default left out, a bad key."""
    problems: list[str] = []
    notes: list[str] = []
    seen: set[str] = set()
    # Excel writes a delimiter after the last column when a cell beyond it was ever touched
    # (``a;b;c;;``): trailing empty header fields name nothing and are not read. With a mapping
    # file, only the header fields it reads must be named, once.
    named = len(header)
    while named and not header[named - 1]:
        named -= 1
    mapped = mapping.path is not None
    blank = []
    for i, h in enumerate(header, 1):
        if not h:
            blank.append(i)
            if i <= named and not mapped:
                problems.append(f"header field {i} is empty")
        elif h in seen and (not mapped or h in mapping.sources()):
            problems.append(f"duplicate header {h!r}")
        seen.add(h)
    if blank and (mapped or named < len(header)):
        fields = ", ".join(map(str, blank if mapped else blank[-(len(header) - named) :]))
        notes.append(f"header field(s) {fields} empty: not imported")
    targets = [r.column for r in mapping.rules]
    for name in targets:
        if schema.column(name) is None:
            where = f" (mapping line {r.line})" if (r := _rule(mapping, name)) and r.line else ""
            whose = f" (a column of {table_source})" if table_source and not mapped else ""
            problems.append(f"unknown column {name!r}{where}{whose}{_near(schema, name)}")
    if mapping.path is not None:
        for r in mapping.rules:
            if r.source is not None and r.source not in header and table_source:
                # A table's columns (--from), in a table's words: "the header" was a file's.
                problems.append(
                    f"mapping line {r.line}: column {r.source!r} is not in {table_source}"
                    + (_one_like(r.source, header, "its column is") or _columns(header))
                )
            elif r.source is not None and r.source not in header:
                problems.append(
                    f"mapping line {r.line}: source column {r.source!r} is not in the header"
                    + _one_like(r.source, header, "the header has")
                )
        unused = [h for h in header if h and h not in mapping.sources()]
        if unused:
            notes.append("source columns not imported: " + ", ".join(unused))
    for c in schema.columns:
        if c.required and c.name not in targets:
            problems.append(f"NOT NULL column {c.name!r} has no default and is not given")
    chosen = tuple(key)
    if on_conflict in ("update", "skip") and not chosen:
        chosen = schema.primary_key
        if not chosen:
            problems.append(
                f"--on-conflict {on_conflict}: the table has no primary key; give --key"
            )
    for k in chosen:
        if schema.column(k) is None:
            problems.append(f"--key: unknown column {k!r}")
        elif k not in targets:
            problems.append(f"--key {k!r} is not among the imported columns")
    known = chosen and all(schema.column(k) for k in chosen)
    if known and not any(set(u) == set(chosen) for u in schema.unique_sets):
        problems.append(
            f"--key {','.join(chosen)}: no PRIMARY KEY or UNIQUE constraint on exactly "
            "these columns"
            + (
                f" (the table's: {'; '.join(','.join(u) for u in schema.unique_sets)})"
                if schema.unique_sets
                else " (the table has none)"
            )
        )
    ordered = tuple(n for n in schema.names if n in targets)
    return SchemaCheck(schema.name, ordered, chosen, tuple(problems), tuple(notes))


def zone_notes(
    schema: TableSchema, mapping: Mapping, samples: Sequence[dict[str, object]]
) -> list[str]:
    """A note for each PostgreSQL ``timestamptz`` column whose sample values (the preview's
    first rows, as they will be written) hold a time without its offset and no ``timezone``
    step: PostgreSQL takes it as UTC, which a legacy WIB time is not. Nothing is changed."""
    notes = []
    for r in mapping.rules:
        col = schema.column(r.column)
        if r.source is None or col is None or not col.zoned or r.zone_given:
            continue
        naive = next((v for s in samples if _naive_time(v := s.get(r.column))), None)
        if naive is not None:
            notes.append(
                f"{r.column} is {col.declared_type}: a time without its offset ({naive!r}) is "
                "taken as UTC (08:00 WIB would be stored as 15:00 WIB); if the source's times "
                'are local, say their zone with the step { timezone = "Asia/Jakarta" }'
            )
    return notes


def _naive_time(v: object) -> bool:
    try:
        return isinstance(v, str) and datetime.fromisoformat(v.strip()).tzinfo is None
    except ValueError:
        return False


def _columns(names: Sequence[str], most: int = 30) -> str:
    """`` (its columns: a, b, …)``: what a mapping's ``from`` may name in a source table."""
    shown = ", ".join(names[:most]) + (f", … ({len(names)} in all)" if len(names) > most else "")
    return f" (its columns: {shown})"


def _near(schema: TableSchema, name: str) -> str:
    """The table's one column ``name`` differs from only by case, spaces or underscores (a
    sheet's ``NIS``, ``Nama``, ``Birth Date``), said beside the unknown column: the problem
    named the header alone, and the table's columns nowhere."""
    return _one_like(name, [c.name for c in schema.columns], "the table's column is", name)


def _one_like(name: str, names: Sequence[str], what: str, header_name: str = "") -> str:
    def norm(text: str) -> str:
        return re.sub(r"[\s_-]+", "_", text.strip(AROUND).casefold().translate(_DROP_UNSEEN))

    near = [n for n in names if n and norm(n) == norm(name)]
    if len(near) != 1:
        return ""
    # A header field with a non-breaking space (a title pasted from a web page, Dapodik's)
    # shows as a plain space in Excel: "names must match exactly" left the operator looking
    # for a difference no one sees. Named, with how a mapping's from spells it.
    header_name = header_name or near[0]
    unseen = sorted({c for c in header_name if c in AROUND and c not in " \t"})
    if not unseen:
        return f" ({what} {near[0]!r}: names must match exactly)"
    chars = ", ".join(
        _BREAKS.get(c) or f"{unicodedata.name(c, '')} (U+{ord(c):04X})" for c in unseen
    )
    spelled = "".join(
        (repr(c)[1:-1] if c in _BREAKS else f"\\u{ord(c):04x}") if c in unseen else c
        for c in header_name
    )
    looks = (
        "shows as nothing"
        if set(unseen) <= set(INVISIBLE)
        else "the sheet shows as a new line in the cell"
        if set(unseen) <= set(_BREAKS)
        else "looks like a space"
    )
    return (
        f" ({what} {near[0]!r}: names must match exactly; the header's holds {chars}, which"
        f' {looks}: a mapping reads it with from = "{spelled}")'
    )


_DROP_UNSEEN = dict.fromkeys(map(ord, INVISIBLE))
# A header cell written on two lines (Alt+Enter: "Tanggal\nLahir").
_BREAKS = {"\n": "a line break (Alt+Enter)", "\r": "a carriage return"}


def _rule(mapping: Mapping, name: str) -> Any:
    return next((r for r in mapping.rules if r.column == name), None)
