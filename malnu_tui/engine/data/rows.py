"""From a source record to the values of one target row, or a rejection with its reason.

The mapping's rule gives each column's value; then the value is checked against the column's
declared type (the same rules on every backend, because SQLite would store ``'31/02/2024'`` in
a DATE column without a word): integers are whole numbers in range, dates are real ISO dates,
NULL never goes into a NOT NULL column. What only the database can judge (CHECK, UNIQUE,
foreign keys) is judged by the writer, per row.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import NamedTuple

from malnu_tui.engine.data.cells import (
    AROUND,
    excel_damage,
    is_padded,
    may_be_spoiled,
    may_hold_excel_damage,
    padded_at,
    spoiled,
)
from malnu_tui.engine.data.coerce import coercer
from malnu_tui.engine.data.flatblock import FlatRows
from malnu_tui.engine.data.mapping import ColumnRule, Mapping
from malnu_tui.engine.data.records import RecordChunk, SourceRecord
from malnu_tui.engine.data.schema import Column, SchemaCheck, TableSchema
from malnu_tui.engine.data.transform import (
    StepFailed,
    Value,
)


class Rejection(NamedTuple):
    """One rejected record: the line it starts on, the column at fault ("" for the whole
    record), why, and the record's text as read."""

    line: int
    column: str
    reason: str
    raw: str


class Row(NamedTuple):
    """One target row ready for a writer (a tuple: millions are made)."""

    line: int
    values: tuple[Value, ...]
    raw: str


@dataclass(frozen=True)
class RowBatch:
    """A chunk of target rows as parallel sequences (what the writers take)."""

    lines: Sequence[int]
    values: Sequence[tuple[Value, ...]]
    raws: Sequence[str]

    def __len__(self) -> int:
        return len(self.lines)

    def rows(self) -> Iterator[Row]:
        return map(Row, self.lines, self.values, self.raws)

    @staticmethod
    def of(rows: Sequence[Row]) -> RowBatch:
        if not rows:
            return RowBatch((), (), ())
        lines, values, raws = zip(*rows, strict=True)
        return RowBatch(lines, values, raws)


class ColumnFailed(ValueError):
    def __init__(self, column: str, reason: str) -> None:
        super().__init__(reason)
        self.column = column
        self.reason = reason


def _as_written(rule: ColumnRule) -> bool:
    """Does the column take the file's text as it is (no step that reads numbers, no map)?"""
    return (
        rule.source is not None
        and rule.value_map is None
        and not any(n.startswith(("decimal", "int")) for n in rule.step_names)
    )


def _getter(
    rule: ColumnRule, header: Sequence[str], now: str
) -> Callable[[Sequence[str | None]], Value]:
    if rule.now:
        return lambda _f: now
    if rule.has_const:
        const = rule.const
        return lambda _f: const
    index = list(header).index(rule.source or rule.column)
    steps = rule.steps
    vmap = rule.value_map
    default, has_default = rule.default, rule.has_default and rule.value_map is None
    if not steps and vmap is None and not has_default:
        return lambda f: f[index]

    def get(f: Sequence[str | None]) -> Value:
        v: Value = f[index]
        for step in steps:
            v = step(v)
        if vmap is not None:
            v = vmap(v)
        if v is None and has_default:
            v = default
        return v

    return get


def _database_booleans(check: Callable[[Value], Value]) -> Callable[[Value], Value]:
    """An integer column's check for a database's rows: a boolean (PostgreSQL's, read as
    ``true``/``false``) is 1 or 0, as SQLite and D1 keep one in an INTEGER column (it was
    refused: "'true' is not a whole number")."""

    def run(v: Value) -> Value:
        if v == "true" or v == "false":
            return check(v == "true")
        return check(v)

    return run


class _Slow(Exception):
    """A chunk the column-wise path cannot take as it is: it is built row by row instead
    (which names each bad row and its reason)."""


ColumnFn = Callable[[Sequence[Value]], Sequence[Value]]


def _fast_int(col: Column) -> ColumnFn:
    """Whole numbers of a column at C speed (``int`` over the column); anything unusual
    (``_`` separators, non-ASCII digits, out of range, not text) goes the slow way."""
    lo, hi = -(2 ** (col.int_bits - 1)), 2 ** (col.int_bits - 1) - 1

    def run(values: Sequence[Value]) -> Sequence[Value]:
        nonnull = [v for v in values if v is not None] if None in values else values
        try:
            joined = "".join(nonnull)  # type: ignore[arg-type]
            if "_" in joined or not joined.isascii():
                raise _Slow
            ints = list(map(int, nonnull))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise _Slow from None
        if ints and (min(ints) < lo or max(ints) > hi):
            raise _Slow
        if nonnull is values:
            return ints
        it = iter(ints)
        return [None if v is None else next(it) for v in values]

    return run


def _column_fn(col: Column, *, as_written: bool = False) -> ColumnFn | None:
    """The column-wise check of a column's values (None: text, nothing to check)."""
    if col.family == "text" and col.max_length is None:
        return None
    if col.family == "integer":
        return _fast_int(col)
    one = coercer(col, as_written=as_written)

    def run(values: Sequence[Value]) -> Sequence[Value]:
        try:
            return list(map(one, values))
        except StepFailed:
            raise _Slow from None

    return run


@dataclass(frozen=True)
class _ColumnPlan:
    index: int  # source field (-1: const/now)
    steps: tuple[Callable[[Value], Value], ...]
    value_map: Callable[[Value], Value] | None
    default: Value
    has_default: bool
    const: Value
    check: ColumnFn | None
    not_null: bool


def _column_plan(
    rule: ColumnRule, col: Column, header: Sequence[str], now: str, as_written: bool, key: bool
) -> _ColumnPlan:
    if rule.now or rule.has_const:
        index, const = -1, (now if rule.now else rule.const)
    else:
        index, const = list(header).index(rule.source or rule.column), None
    return _ColumnPlan(
        index,
        rule.steps,
        rule.value_map,
        rule.default,
        rule.has_default and rule.value_map is None,
        const,
        _column_fn(col, as_written=as_written),
        col.not_null or key,
    )


class RowBuilder:
    """Builds the target rows of one import (columns in ``check.columns`` order)."""

    def __init__(
        self,
        schema: TableSchema,
        check: SchemaCheck,
        mapping: Mapping,
        header: Sequence[str],
        now: str,
        *,
        numbers_as_text: bool = False,
        server_checks: bool = False,
        csv_text: bool = False,
    ) -> None:
        self.width = len(header)
        self.columns = check.columns
        self._header = tuple(header)
        # Class lists joined into one file (copy *.csv): each one's header line, and the BOM
        # it starts with, comes again among the records (a student "nama" with NIS "\ufeffnis"
        # was imported). Chunks whose text may hold one are built row by row.
        self._again = ("\n" + header[0]) if header and header[0] else ""
        rules = {r.column: r for r in mapping.rules}
        self._columns: list[_ColumnPlan] = []
        self._plan: list[
            tuple[str, Callable[[Sequence[str | None]], Value], Callable[[Value], Value], str]
        ] = []
        for name in self.columns:
            col = schema.column(name)
            assert col is not None
            # ``csv_text``: the values are a file's text, written in some locale; a value read
            # by no step (the decimal step says which separator is which) is as written.
            as_written = csv_text and _as_written(rules[name])
            # A row without its conflict key (a nullable UNIQUE, NISN not given yet) cannot
            # be found on a re-run: it was added again by every run (on D1 the count check
            # failed). Refused like a NULL in a NOT NULL column, with its own reason.
            key = name in check.key
            null = "NULL in a NOT NULL column" if col.not_null else ""
            if col.not_null and col.has_default and not rules[name].has_default:
                # An empty cell is NULL, never the column's DEFAULT (which only a column left
                # out of the import takes): say how to give the default.
                null += (
                    " (an empty cell takes no DEFAULT: give the value with the mapping's "
                    f"default = … in [columns.{name}], or leave the column out)"
                )
            if key and not col.not_null:
                null = (
                    f"no value for the key {name!r}: a re-run could not find the row and "
                    "would add it again"
                )
            self._plan.append(
                (
                    name,
                    _getter(rules[name], header, now),
                    _database_booleans(coercer(col, as_written=as_written))
                    if not csv_text and col.family == "integer"
                    else coercer(col, as_written=as_written, database=not csv_text),
                    null,
                )
            )
            self._columns.append(_column_plan(rules[name], col, header, now, as_written, key))
        # The pass-through: every column straight from a source field, no step. Its rows are
        # the file's own tuples (reordered in C), checked but not rebuilt; whole numbers may
        # then stay text for writers whose database converts them by the column's type
        # (SQLite's affinity, PostgreSQL's cast): ``numbers_as_text``.
        self._passthrough: tuple[int, ...] | None = None
        self._checks: list[str] = []
        plain = all(
            p.index >= 0 and not p.steps and p.value_map is None and not p.has_default
            for p in self._columns
        )
        if plain and self._columns:
            self._passthrough = tuple(p.index for p in self._columns)
            for name in self.columns:
                col = schema.column(name)
                assert col is not None
                if col.family == "text" and col.max_length is None:
                    self._checks.append("")
                elif (
                    col.family == "integer" and numbers_as_text and f"int{col.int_bits}" in _DIGITS
                ):
                    self._checks.append(f"int{col.int_bits}")
                else:
                    self._checks.append("other")
        self._not_null = [p.not_null for p in self._columns]
        # A text key with a space or an NBSP around it (Excel's trailing space, a value pasted
        # from a web page) is another key: the re-run meant to update the student stored
        # without it added the student again. Refused, as a row without its key.
        self._padded_keys = [
            (j, name)
            for j, name in enumerate(self.columns)
            if name in check.key and (c := schema.column(name)) is not None and c.family == "text"
        ]
        # Text and number columns refuse a spreadsheet's error values and numbers it wrote in
        # scientific notation (``#N/A``, ``3.20123E+15``): a chunk whose text may hold one is
        # built row by row, where each value is checked and each such row named.
        self._damageable = any(
            c.family in ("text", "number") for c in schema.columns if c.name in self.columns
        )
        # A file's text that was UTF-8 read as cp1252 and saved again (JosÃ©) is refused in a
        # text column, as the file has it (a step lower made "josã©"), unless the step
        # undo_cp1252 reads it: a chunk that may hold such a run is built row by row.
        self._spoil_checks = [
            (name, plan.index)
            for name, plan in zip(self.columns, self._columns, strict=True)
            if csv_text
            and plan.index >= 0
            and (c := schema.column(name)) is not None
            and c.family == "text"
            and "undo_cp1252" not in rules[name].step_names
        ]
        # ``server_checks``: the writer sends a clean block as the file has it to a database
        # that refuses every value these checks refuse (PostgreSQL ≤ 15's integer input and
        # NOT NULL; text without a length) and, when it refuses one, the import starts over
        # with the checks on. Such a block is then not even split into values here.
        self._server_checks = (
            server_checks
            and not self._padded_keys
            and self._passthrough == tuple(range(self.width))
            and all(c == "" or c.startswith("int") for c in self._checks)
        )

    def build(self, rec: SourceRecord) -> Row | Rejection:
        if rec.error:
            return Rejection(rec.line, "", rec.error, rec.raw)
        fields = rec.fields
        if len(fields) != self.width:
            more = "many" if len(fields) > self.width else "few"
            return Rejection(
                rec.line,
                "",
                f"too {more} fields ({len(fields)}; the header has {self.width})",
                rec.raw,
            )
        if any(f is not None and f[:2] == '="' for f in fields):
            fields = tuple(map(_excel_text, fields))
        first = fields[0] if fields else None
        if first is not None and (first.startswith("\ufeff") or first.strip() == self._header[0]):
            if tuple((f or "").strip().lstrip("\ufeff") for f in fields) == self._header:
                return Rejection(
                    rec.line, "", "the header line again (files joined together?)", rec.raw
                )
            if first.startswith("\ufeff"):
                return Rejection(
                    rec.line,
                    "",
                    "starts with a byte-order mark, U+FEFF, as a file does (files joined "
                    "together?)",
                    rec.raw,
                )
        for name, index in self._spoil_checks:
            if (f := fields[index]) is not None and (why := spoiled(f)):
                return Rejection(rec.line, name, why, rec.raw)
        values: list[Value] = []
        for i, (name, get, coerce, null) in enumerate(self._plan):
            try:
                v = coerce(get(fields))
            except StepFailed as exc:
                return Rejection(rec.line, name, self._why(i, fields, exc), rec.raw)
            if v is None and null:
                return Rejection(rec.line, name, null, rec.raw)
            values.append(v)
        for j, name in self._padded_keys:
            if is_padded(v := values[j]):
                assert isinstance(v, str)
                ends = padded_at(v)
                where = {(True, False): "start", (False, True): "end"}.get(ends, "start and end")
                what = "a space" if v != v.strip() else "an invisible character"
                why = (
                    f"the key {name} {v!r} has {what} at its {where} (Excel's, an NBSP, a "
                    "zero-width space): a re-run would not find the row stored without it and "
                    "would add it again; read it with a mapping's step trim"
                )
                return Rejection(rec.line, name, why, rec.raw)
        return Row(rec.line, tuple(values), rec.raw)

    def _joined(self, text: str) -> bool:
        """Might the chunk hold a header line again, or a BOM (files joined together)?"""
        return "\ufeff" in text or bool(
            self._again and (self._again in text or text.startswith(self._again[1:]))
        )

    def _why(self, i: int, fields: Sequence[str | None], exc: StepFailed) -> str:
        """Why column ``i`` refused its value: what the spreadsheet wrote in its place when
        the refused value is such (a phone step refusing ``6.28123E+12`` said only "not a
        phone number"); the step's own reason otherwise."""
        index = self._columns[i].index
        source = fields[index] if index >= 0 else None
        if isinstance(source, str) and repr(source) in str(exc) and (why := excel_damage(source)):
            return why
        return str(exc)

    def build_chunk(self, recs: RecordChunk) -> tuple[RowBatch, list[Rejection]]:
        """A chunk of records → the target rows and the rejections. Column by column at C
        speed when every value passes; a chunk with a bad record is built row by row."""
        try:
            return self._columnwise(recs), []
        except _Slow:
            rows: list[Row] = []
            rejected: list[Rejection] = []
            for rec in recs.records():
                res = self.build(rec)
                if isinstance(res, Row):
                    rows.append(res)
                else:
                    rejected.append(res)
            return RowBatch.of(rows), rejected

    def _columnwise(self, recs: RecordChunk) -> RowBatch:
        n = len(recs.lines)
        if not n:
            return RowBatch((), (), ())
        fields = recs.fields
        if isinstance(fields, FlatRows):
            if recs.errors or fields.width != self.width:
                raise _Slow
        elif recs.errors or set(map(len, fields)) != {self.width}:
            raise _Slow
        text = _chunk_text(recs)
        if (
            (self._damageable and may_hold_excel_damage(text))
            or (self._spoil_checks and may_be_spoiled(text))
            or self._joined(text)
            or ("=" in text and '="' in text)
        ):
            raise _Slow
        if self._passthrough is not None:
            batch = self._pass_through(recs)
            if batch is not None:
                return batch
        cols: Sequence[Sequence[Value]]
        if isinstance(fields, FlatRows):
            cols = [fields.column(j) for j in range(self.width)]
        else:
            cols = list(zip(*fields, strict=True))
        outs: list[Sequence[Value]] = []
        for plan in self._columns:
            col: Sequence[Value]
            if plan.index < 0:
                col = [plan.const] * n
            else:
                col = cols[plan.index]
                try:
                    for step in plan.steps:
                        col = list(map(step, col))
                    if plan.value_map is not None:
                        col = list(map(plan.value_map, col))
                except StepFailed:
                    raise _Slow from None
                if plan.has_default and None in col:
                    col = [plan.default if v is None else v for v in col]
            if plan.check is not None:
                col = plan.check(col)
            if plan.not_null and None in col:
                raise _Slow
            outs.append(col)
        if any(_padded(outs[j]) for j, _ in self._padded_keys):
            raise _Slow
        values = list(zip(*outs, strict=True))
        if len(values) != n:
            raise _Slow
        return RowBatch(recs.lines, values, recs.raws)

    def _pass_through(self, recs: RecordChunk) -> RowBatch | None:
        """The file's own tuples when every value passes as it is (None: build them)."""
        idx = self._passthrough
        assert idx is not None
        values: Sequence[tuple[Value, ...]]
        fields = recs.fields
        flat = fields if isinstance(fields, FlatRows) else None
        if flat is not None and self._server_checks and flat.text:
            return RowBatch(recs.lines, fields, recs.raws)
        if flat is not None:
            flat.flat  # noqa: B018 — split here, on the reading thread, not on the writer's
        if idx == tuple(range(self.width)):
            values = fields
        elif flat is not None:
            values = list(zip(*(flat.column(i) for i in idx), strict=True))
        elif len(idx) == 1:
            values = [(f[idx[0]],) for f in fields]
        else:
            values = list(map(itemgetter(*idx), fields))
        for j, (check, not_null) in enumerate(zip(self._checks, self._not_null, strict=True)):
            if not check and not not_null:
                continue
            col: Sequence[Value] = (
                flat.column(idx[j]) if flat is not None else list(map(itemgetter(j), values))
            )
            if not_null and None in col:
                raise _Slow
            if check == "other" or (check and not _whole_numbers(col, _DIGITS[check])):
                return None
        for j, _ in self._padded_keys:
            if _padded(flat.column(idx[j]) if flat is not None else [r[j] for r in values]):
                return None
        return RowBatch(recs.lines, values, recs.raws)


def _padded(col: Sequence[Value]) -> bool:
    """Does a text of ``col`` start or end with a space (an NBSP, a tab) or an invisible
    character (a zero-width space)?"""
    return any(isinstance(v, str) and v != v.strip(AROUND) for v in col)


# ="0012345678": what exports made for Excel write so that Excel keeps a number's leading
# zeros (a formula whose value is that text, shown as 0012345678). Its value is what is read.
_EXCEL_TEXT = re.compile(r'="((?:[^"]|"")*)"', re.S)


def _excel_text(field: str | None) -> str | None:
    """A field written ``="…"`` → the text Excel shows for it; any other field as it is."""
    if field is None or field[:2] != '="':
        return field
    m = _EXCEL_TEXT.fullmatch(field)
    return m[1].replace('""', '"') if m else field


def _chunk_text(recs: RecordChunk) -> str:
    """The chunk's records as the file has them: searched at C speed for what makes a chunk
    go row by row (a spreadsheet's error value, a header line again)."""
    fields = recs.fields
    return fields.text if isinstance(fields, FlatRows) and fields.text else "".join(recs.raws)


# Plain whole numbers short enough to be in range of the column's width whatever the digits
# (a longer one is checked exactly, value by value).
_DIGITS = {
    f"int{bits}": re.compile(rf"(?:-?[0-9]{{1,{d}}}\n)*+-?[0-9]{{1,{d}}}")
    for bits, d in ((16, 4), (32, 9), (64, 18))
}


def _whole_numbers(col: Sequence[Value], pattern: re.Pattern[str]) -> bool:
    """Every value a plain whole number within the column's range (at C speed), or NULL."""
    nonnull = [v for v in col if v is not None] if None in col else col
    if not nonnull:
        return True
    try:
        return pattern.fullmatch("\n".join(nonnull)) is not None  # type: ignore[arg-type]
    except TypeError:
        return False
