"""PostgreSQL: explicit ids INSERTed into a serial or identity column do not move its sequence.

A table rebuilt by copying its rows (``CREATE TABLE t_new (id bigserial PRIMARY KEY, …);
INSERT INTO t_new SELECT * FROM t;``) or seeded with ids 1..N keeps its sequence at 1, so the
app's next INSERT takes id 1 and fails with a duplicate key, right after the deploy. Followed
for the tables a migration creates, until a ``setval`` (by the sequence's name or
``pg_get_serial_sequence``), ``ALTER SEQUENCE … RESTART WITH n`` or ``ALTER TABLE … ALTER
COLUMN … RESTART WITH n`` later in the same migration."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from malnu_tui.engine.lint.model import Finding, Rule
from malnu_tui.engine.lint.ops import IDENT, Op, key, split_top_level, strip_comments
from malnu_tui.engine.lint.rules import register
from malnu_tui.engine.sqlsplit import Statement

__all__ = ["PG_SEQUENCE_RULES", "SequenceFills"]

PG_SEQUENCE_RULES = (
    Rule(
        "PG-SEQUENCE-NOT-ADVANCED",
        "error",
        "explicit ids INSERTed into a new table's serial or identity column, no setval after",
        "an INSERT that writes a serial or identity column's values does not move its "
        "sequence: it still starts at 1, so the app's next INSERT takes id 1 and fails with a "
        "duplicate key right after the deploy",
        "after the INSERT, in the same migration: SELECT setval(pg_get_serial_sequence('t', "
        "'id'), coalesce(max(id), 0) + 1, false) FROM t; (or ALTER TABLE t ALTER COLUMN id "
        "RESTART WITH n for an identity column); or leave the column out of the INSERT",
    ),
)
register(*PG_SEQUENCE_RULES)

_F = re.IGNORECASE | re.DOTALL
_NOT_A_COLUMN = frozenset(
    {"constraint", "primary", "unique", "check", "foreign", "exclude", "like"}
)
_SERIAL = re.compile(r"^(?:small|big)?serial[248]?\b", re.IGNORECASE)
_IDENTITY = re.compile(r"\bGENERATED\s+(?P<how>ALWAYS|BY\s+DEFAULT)\s+AS\s+IDENTITY\b", _F)
_NEXTVAL = re.compile(r"\bDEFAULT\s+nextval\s*\(\s*'(?P<seq>(?:[^']|'')+)'", _F)
_COLUMN = re.compile(rf"^(?P<name>{IDENT})\s+(?P<rest>.*)$", _F)
_INSERT = re.compile(
    rf"^INSERT\s+INTO\s+(?:{IDENT}\s*\.\s*)?(?P<name>{IDENT})(?:\s+AS\s+{IDENT})?\s*"
    rf"(?:\((?P<cols>[^()]*)\))?\s*(?:OVERRIDING\s+(?P<over>SYSTEM|USER)\s+VALUE\s*)?"
    r"(?P<rest>.*)$",
    _F,
)
_VALUES = re.compile(r"^VALUES\s*\(", re.IGNORECASE)
_SETVAL = re.compile(
    r"\bsetval\s*\(\s*(?:pg_get_serial_sequence\s*\(\s*'(?P<t>(?:[^']|'')+)'\s*,\s*"
    r"'(?P<c>(?:[^']|'')+)'\s*\)|'(?P<seq>(?:[^']|'')+)')",
    _F,
)
_RESTART = r"\bRESTART\s*(?:WITH\s*)?[(+]*\s*\d"  # a value: a bare RESTART goes back to START
_ALTER_SEQUENCE = re.compile(
    rf"^ALTER\s+SEQUENCE\s+(?:IF\s+EXISTS\s+)?(?:{IDENT}\s*\.\s*)?(?P<seq>{IDENT}).*{_RESTART}", _F
)
_ALTER_COLUMN = re.compile(
    rf"^ALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?(?:{IDENT}\s*\.\s*)?(?P<name>{IDENT})\s+"
    rf"ALTER\s+(?:COLUMN\s+)?(?P<col>{IDENT})\s+[^,]*?{_RESTART}",
    _F,
)


@dataclass
class _Counter:
    column: str  # display form
    kind: str  # "serial", "always" or "by default" (identity), "nextval"
    sequences: set[str]  # the names its sequence goes by (folded)


@dataclass
class _Table:
    name: str  # display form
    columns: list[str]  # folded, in order
    counters: dict[str, _Counter]


def _last_part(name: str) -> str:
    """A name inside a string (``'public."T_id_seq"'``), its last part, folded."""
    name = name.replace("''", "'")
    return key(name.rsplit(".", 1)[-1].strip())


def _body(rest: str) -> str:
    """The column list of a CREATE TABLE's ``rest`` (its first balanced parentheses)."""
    depth = 0
    start = rest.find("(")
    for i, ch in enumerate(rest[start:] if start >= 0 else "", start):
        depth += (ch == "(") - (ch == ")")
        if depth == 0:
            return rest[start + 1 : i]
    return ""


def _table(name: str, body: str) -> _Table:
    table = _Table(name, [], {})
    for item in split_top_level(body):
        m = _COLUMN.match(item.strip())
        if m is None or m["name"].lower() in _NOT_A_COLUMN:
            continue
        col, rest = key(m["name"]), m["rest"]
        table.columns.append(col)
        kind, sequences = "", {f"{key(name)}_{col}_seq"}
        if _SERIAL.match(rest):
            kind = "serial"
        elif (ident := _IDENTITY.search(rest)) is not None:
            kind = " ".join(ident["how"].lower().split())
        elif (nv := _NEXTVAL.search(rest)) is not None:
            kind, sequences = "nextval", {_last_part(nv["seq"])}
        if kind:
            table.counters[col] = _Counter(_unquoted(m["name"]), kind, sequences)
    return table


def _unquoted(name: str) -> str:
    return name[1:-1].replace('""', '"') if name[:1] == '"' and len(name) >= 2 else name


def _written(table: _Table, cols: str | None, over: str, rest: str) -> list[str]:
    """The counter columns (folded) an INSERT's columns and values give values of their own."""
    if rest.upper().startswith("DEFAULT VALUES"):
        return []
    names = [key(c) for c in split_top_level(cols)] if cols is not None else table.columns
    if _VALUES.match(rest):  # a first row's DEFAULT takes the sequence's value
        first = _body(rest)
        values = split_top_level(first)
        names = [n for n, v in zip(names, values, strict=False) if v.upper() != "DEFAULT"]
    out = []
    for n in names:
        c = table.counters.get(n)
        if c is not None and not (over.upper() == "USER" and c.kind in ("always", "by default")):
            out.append(n)
    return out


@dataclass
class SequenceFills:
    """One PostgreSQL migration's INSERTs of explicit ids into the serial or identity columns
    of the tables it creates, and the ``setval``\\s after them."""

    file: str
    tables: dict[str, _Table] = field(default_factory=dict)  # folded name → table
    pending: dict[tuple[str, str], tuple[int, str]] = field(default_factory=dict)

    def see(self, st: Statement, op: Op) -> None:
        if op.kind == "create_table":
            self.tables[op.key] = _table(op.name, _body(op.body))
            for t, c in [p for p in self.pending if p[0] == op.key]:
                del self.pending[(t, c)]  # a new table of that name: the old one was dropped
            return
        if op.kind == "drop_table":
            for n in op.names:
                self.tables.pop(key(n), None)
                for p in [p for p in self.pending if p[0] == key(n)]:
                    del self.pending[p]
            return
        if not self.tables:  # (a seed's INSERTs into tables made before: nothing to read)
            return
        if op.kind == "alter_table":
            self._renamed(op)
        first = st.first_words
        if first.startswith("INSERT"):
            head = _INSERT.match(strip_comments(st.text[:400]))
            if head is None or key(head["name"]) not in self.tables:
                return
        text = strip_comments(st.text)
        if first.startswith("INSERT") and (m := _INSERT.match(text)) is not None:
            table = self.tables.get(key(m["name"]))
            if table is not None:
                for col in _written(table, m["cols"], m["over"] or "", m["rest"]):
                    self.pending.setdefault((key(m["name"]), col), (st.line, m["name"]))
        for s in _SETVAL.finditer(text):
            if s["t"] is not None:
                self._reset(_last_part(s["t"]), _last_part(s["c"]))
            else:
                self._reset_sequence(_last_part(s["seq"]))
        if (a := _ALTER_SEQUENCE.match(text)) is not None:
            self._reset_sequence(key(a["seq"]))
        if (ac := _ALTER_COLUMN.match(text)) is not None:
            self._reset(key(ac["name"]), key(ac["col"]))

    def _renamed(self, op: Op) -> None:
        for a in op.actions:
            if a.kind == "rename_table" and op.key in self.tables:
                table = self.tables.pop(op.key)
                new = key(a.new)
                for c, counter in table.counters.items():  # the translator renames it too
                    counter.sequences.add(f"{new}_{c}_seq")
                self.tables[new] = table
                for t, col in [p for p in self.pending if p[0] == op.key]:
                    self.pending[(new, col)] = self.pending.pop((t, col))

    def _reset(self, table: str, col: str) -> None:
        self.pending.pop((table, col), None)

    def _reset_sequence(self, seq: str) -> None:
        for t, col in list(self.pending):
            counter = self.tables[t].counters[col] if t in self.tables else None
            if counter is not None and seq in counter.sequences:
                del self.pending[(t, col)]

    def end(self, out: list[Finding]) -> None:
        r = PG_SEQUENCE_RULES[0]
        for (t, col), (line, written) in sorted(self.pending.items(), key=lambda p: p[1][0]):
            table = self.tables[t]
            c = table.counters[col]
            kind = {"serial": "serial", "nextval": "DEFAULT nextval", "always":
                    "GENERATED ALWAYS AS IDENTITY", "by default": "GENERATED BY DEFAULT AS "
                    "IDENTITY"}[c.kind]  # fmt: skip
            why = (
                f"INSERT INTO {_unquoted(written)} writes its own values into "
                f"{table.name}.{c.column} ({kind}) and nothing after it in this migration moves "
                f"the column's sequence (setval, RESTART WITH): it still starts at 1, so the "
                f"app's next INSERT takes id 1 and fails with a duplicate key"
            )
            if c.kind == "always":
                why += " (PostgreSQL refuses the INSERT itself without OVERRIDING SYSTEM VALUE)"
            out.append(Finding(r.id, r.severity, self.file, line, why, r.instead))
