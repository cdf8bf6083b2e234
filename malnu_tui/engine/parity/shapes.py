"""The values parity compares: schema shapes in PostgreSQL terms, differences and the report;
and the comparison itself."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from malnu_tui.engine.backends.base import AUDIT_TABLE, LOCK_TABLE, TRACKING_TABLE
from malnu_tui.engine.translate import Finding

__all__ = [
    "AUTO",
    "NOW",
    "NOW_NUMBER",
    "NOW_TEXT",
    "RANDOM",
    "TODAY",
    "TOOL_TABLES",
    "CheckShape",
    "ColumnShape",
    "Difference",
    "ForeignKeyShape",
    "IndexShape",
    "ParityReport",
    "SchemaShape",
    "TableShape",
    "compare",
    "norm_default",
    "norm_value",
]

TOOL_TABLES = frozenset({TRACKING_TABLE, AUDIT_TABLE, LOCK_TABLE, "d1_migrations"})
AUTO = "<auto>"  # identity / rowid alias
GENERATED = "<generated>"  # a generated column: its expression is no default
NOW = "<now>"  # the current time, whatever its spelling
TODAY = "<today>"


@dataclass(frozen=True)
class ColumnShape:
    """A column in PostgreSQL terms (for SQLite: what the mapping says it should become)."""

    name: str
    type: str  # format_type() spelling
    nullable: bool
    default: str | None  # normalised value (AUTO, NOW, TODAY, or the value as text)
    declared: str = ""  # SQLite's declared type, for display


@dataclass(frozen=True)
class ForeignKeyShape:
    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]
    on_update: str
    on_delete: str

    def describe(self) -> str:
        return (
            f"({', '.join(self.columns)}) → {self.ref_table}({', '.join(self.ref_columns)}) "
            f"on update {self.on_update.lower()}, on delete {self.on_delete.lower()}"
        )


@dataclass(frozen=True)
class IndexShape:
    name: str
    columns: tuple[str, ...]  # "<expr>" for an expression
    unique: bool
    partial: bool

    def describe(self) -> str:
        kind = "unique index" if self.unique else "index"
        where = " (partial)" if self.partial else ""
        return f"{kind} ({', '.join(self.columns)}){where}"


@dataclass(frozen=True)
class CheckShape:
    columns: tuple[str, ...]  # columns the check reads, sorted


@dataclass(frozen=True)
class TableShape:
    name: str
    columns: tuple[ColumnShape, ...]
    primary_key: tuple[str, ...]
    uniques: tuple[tuple[str, ...], ...]
    foreign_keys: tuple[ForeignKeyShape, ...]
    indexes: tuple[IndexShape, ...]
    checks: tuple[CheckShape, ...]


@dataclass(frozen=True)
class SchemaShape:
    tables: tuple[TableShape, ...]

    def table(self, name: str) -> TableShape | None:
        """The table named ``name`` (case-insensitive), or None."""
        for t in self.tables:
            if t.name == name.lower():
                return t
        return None


@dataclass(frozen=True)
class Difference:
    """One way the PostgreSQL schema differs from what the SQLite schema implies."""

    table: str
    aspect: str  # table, column, type, nullability, default, primary key, unique, foreign key…
    item: str
    expected: str  # from SQLite (mapped to PostgreSQL terms)
    actual: str  # found in PostgreSQL

    def describe(self) -> str:
        """One line for people."""
        where = f"{self.table}.{self.item}" if self.item else self.table
        return f"{where}: {self.aspect}: expected {self.expected}, PostgreSQL has {self.actual}"


@dataclass(frozen=True)
class ParityReport:
    """The comparison and every translation finding."""

    files: tuple[str, ...]
    differences: tuple[Difference, ...]
    findings: tuple[Finding, ...]
    expected: SchemaShape
    actual: SchemaShape
    mode: str = "scratch"  # scratch: translation applied to a scratch schema; live: a real one
    rollbacks_checked: bool = False  # the rollback files ran too, and were compared

    @property
    def errors(self) -> tuple[Finding, ...]:
        """Findings that withheld a statement (or that PostgreSQL rejected)."""
        return tuple(f for f in self.findings if f.severity == "error")

    @property
    def ok(self) -> bool:
        """No difference and no error finding."""
        return not self.differences and not self.errors

    def summary(self) -> str:
        """One line: how many tables, differences and findings."""
        notes = len(self.findings) - len(self.errors)
        mode = self.mode + (", rollbacks too" if self.rollbacks_checked else "")
        return (
            f"{len(self.expected.tables)} tables compared ({mode}): "
            f"{len(self.differences)} differences, {len(self.errors)} findings, {notes} notes"
        )

    def as_json(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        return {
            "ok": self.ok,
            "mode": self.mode,
            "rollbacks_checked": self.rollbacks_checked,
            "files": list(self.files),
            "differences": [dataclasses.asdict(d) for d in self.differences],
            "findings": [dataclasses.asdict(f) for f in self.findings],
            "expected": dataclasses.asdict(self.expected),
            "actual": dataclasses.asdict(self.actual),
        }


# -- normalising values ------------------------------------------------------------------------
_TS = re.compile(r"^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(\.\d+)?([+-]\d{2}(:?\d{2})?|Z)?$")


_CLOCK = re.compile(
    r"current_(?:timestamp|date|time)|\bnow\b|unixepoch|julianday|strftime|"
    r"\b(?:datetime|date|time)\s*\(",
    re.IGNORECASE,
)
_SUBSEC = re.compile(r"'subsec(?:ond)?'", re.IGNORECASE)
_CHANCE = re.compile(r"random|gen_random_uuid", re.IGNORECASE)
RANDOM = "<random>"
NOW_NUMBER = "<now, as a number>"
NOW_TEXT = "<now, as text>"


def norm_default(value: object, pg_type: str, expression: str) -> str | None:
    """A column default, evaluated (``value``), in comparable form. A default that reads the
    clock or chance (told by its ``expression``) is compared by kind, never by value: SQLite
    and PostgreSQL evaluate it at different instants, so its value would differ from run to
    run."""
    if _CHANCE.search(expression):
        return RANDOM
    if not _CLOCK.search(expression):
        return norm_value(value, pg_type)
    if value is None:
        if not _SUBSEC.search(expression):
            return None
        # 'subsec' is SQLite 3.42's (D1 has it); an older SQLite here reads it as NULL.
        if re.search(r"unixepoch|%s", expression, re.IGNORECASE):
            return NOW_NUMBER
        return NOW if pg_type.startswith("timestamp") else NOW_TEXT
    text = str(value).strip()
    if _TS.match(text) or pg_type.startswith("timestamp"):
        return NOW
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) or pg_type == "date":
        return TODAY
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        return NOW_NUMBER
    return NOW_TEXT


def norm_value(value: object, pg_type: str) -> str | None:
    """A constant value in comparable form (booleans, numbers and timestamps spelled one
    way)."""
    if value is None:
        return None
    text = str(value)
    if pg_type == "boolean":
        low = text.strip().lower()
        if low in ("1", "true", "t"):
            return "true"
        if low in ("0", "false", "f"):
            return "false"
        return text
    m = _TS.match(text.strip())
    if m:
        return f"{m[1]} {m[2]}"
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text.strip()):
        return text.strip()
    if pg_type in ("bigint", "integer", "smallint", "double precision") or pg_type.startswith(
        "numeric"
    ):
        try:
            return str(Decimal(text).normalize())
        except InvalidOperation:
            return text
    if re.fullmatch(r"-?\d+(\.\d+)?", text) and pg_type in ("", "numeric"):
        return str(Decimal(text).normalize())
    return text


# -- comparing ---------------------------------------------------------------------------------
def compare(expected: SchemaShape, actual: SchemaShape) -> list[Difference]:
    """Every difference between the expected (SQLite-derived) and actual PostgreSQL shapes.
    Tables only in ``actual`` are reported too."""
    diffs: list[Difference] = []
    for want in expected.tables:
        have = actual.table(want.name)
        if have is None:
            diffs.append(Difference(want.name, "table", "", "present", "no such table"))
            continue
        diffs.extend(_compare_table(want, have))
    for have in actual.tables:
        if expected.table(have.name) is None:
            diffs.append(Difference(have.name, "table", "", "absent", "an extra table"))
    return diffs


def _compare_table(want: TableShape, have: TableShape) -> list[Difference]:
    t = want.name
    diffs: list[Difference] = []
    have_cols = {c.name: c for c in have.columns}
    for col in want.columns:
        got = have_cols.pop(col.name, None)
        if got is None:
            diffs.append(Difference(t, "column", col.name, f"{col.type} column", "no column"))
            continue
        if got.type != col.type:
            declared = f" (SQLite {col.declared})" if col.declared else ""
            diffs.append(Difference(t, "type", col.name, col.type + declared, got.type))
        if got.nullable != col.nullable:
            diffs.append(
                Difference(
                    t, "nullability", col.name,
                    "NULL allowed" if col.nullable else "NOT NULL",
                    "NULL allowed" if got.nullable else "NOT NULL",
                )
            )  # fmt: skip
        if got.default != col.default:
            diffs.append(Difference(t, "default", col.name, str(col.default), str(got.default)))
    for extra in have_cols.values():
        diffs.append(Difference(t, "column", extra.name, "no column", f"{extra.type} column"))
    if want.primary_key != have.primary_key:
        diffs.append(
            Difference(
                t, "primary key", "", f"({', '.join(want.primary_key)})",
                f"({', '.join(have.primary_key)})",
            )
        )  # fmt: skip
    for u in sorted(set(want.uniques) - set(have.uniques)):
        diffs.append(Difference(t, "unique", ", ".join(u), "unique", "not unique"))
    for u in sorted(set(have.uniques) - set(want.uniques)):
        diffs.append(Difference(t, "unique", ", ".join(u), "not unique", "unique"))
    for fk in sorted(set(want.foreign_keys) - set(have.foreign_keys), key=lambda f: f.columns):
        diffs.append(Difference(t, "foreign key", ", ".join(fk.columns), fk.describe(), "none"))
    for fk in sorted(set(have.foreign_keys) - set(want.foreign_keys), key=lambda f: f.columns):
        diffs.append(Difference(t, "foreign key", ", ".join(fk.columns), "none", fk.describe()))
    have_idx = {i.name: i for i in have.indexes}
    for idx in want.indexes:
        got_idx = have_idx.pop(idx.name, None)
        if got_idx is None:
            diffs.append(Difference(t, "index", idx.name, idx.describe(), "no index"))
        elif got_idx != idx:
            diffs.append(Difference(t, "index", idx.name, idx.describe(), got_idx.describe()))
    for extra_idx in have_idx.values():
        diffs.append(Difference(t, "index", extra_idx.name, "no index", extra_idx.describe()))
    if sorted(want.checks, key=lambda c: c.columns) != sorted(have.checks, key=lambda c: c.columns):
        diffs.append(
            Difference(
                t, "check", "",
                "; ".join(f"CHECK on ({', '.join(c.columns)})" for c in want.checks) or "none",
                "; ".join(f"CHECK on ({', '.join(c.columns)})" for c in have.checks) or "none",
            )
        )  # fmt: skip
    return diffs
