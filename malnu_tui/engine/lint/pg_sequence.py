"""PostgreSQL: explicit ids INSERTed into a serial or identity column do not move its sequence.

A table rebuilt by copying its rows (``CREATE TABLE t_new (id bigserial PRIMARY KEY, …);
INSERT INTO t_new SELECT * FROM t;``) or seeded with ids 1..N keeps its sequence at 1, so the
app's next INSERT takes id 1 and fails with a duplicate key, right after the deploy. Followed
for the tables the migrations create (in the file or an earlier one, linted or applied: a
:class:`SequenceRun` keeps them file to file), an ``INSERT`` or a psql ``COPY … FROM stdin``
data block, until a ``setval`` (by the sequence's name or ``pg_get_serial_sequence``), ``ALTER
SEQUENCE … RESTART WITH n`` or ``ALTER TABLE … ALTER COLUMN … RESTART WITH n`` later in the
same migration or a later one of the set."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator, Sequence
from csv import Error as CsvError
from csv import reader as csv_reader
from dataclasses import dataclass, field

from malnu_tui.engine.errors import MalnuError
from malnu_tui.engine.files import Migration
from malnu_tui.engine.lint.model import Finding, Rule
from malnu_tui.engine.lint.ops import (
    IDENT,
    PG_DROP_TABLE,
    PG_RENAME_TO,
    PG_TABLE_NAMED,
    Op,
    split_top_level,
    strip_comments,
)
from malnu_tui.engine.lint.ops import pg_key as key
from malnu_tui.engine.lint.rules import register
from malnu_tui.engine.sqlsplit import Statement

__all__ = ["PG_SEQUENCE_RULES", "SequenceFills", "SequenceRun"]

PG_SEQUENCE_RULES = (
    Rule(
        "PG-SEQUENCE-NOT-ADVANCED",
        "error",
        "explicit ids INSERTed (or COPYed) into a serial or identity column, no setval after",
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
_HEAD = re.compile(
    rf"\s*INSERT\s+INTO\s+(?:(?P<schema>{IDENT})\s*\.\s*)?(?P<name>{IDENT})", re.IGNORECASE
)
_COLS = re.compile(r"\s*\((?P<cols>[^()'\"/-]*)\)\s*(?:VALUES|SELECT)\b", re.IGNORECASE)
_VALUES = re.compile(r"^VALUES\s*\(", re.IGNORECASE)
# A value that takes the sequence's own number (``nextval('t_id_seq')``, as Hibernate's and
# Liquibase's seeds write it), or a number below where it starts (a sentinel row ``0`` or
# ``-1``, seeds under an identity's ``START WITH 1000``): the app's next id cannot meet it.
_OWN_NEXT = re.compile(
    r"^nextval\s*\(\s*(?:'(?P<seq>(?:[^']|'')+)'|pg_get_serial_sequence\s*\()", re.IGNORECASE
)
_NUMBER = re.compile(r"^\(*\s*(?P<n>[-+]?\s*\d+)\s*\)*(?:\s*::\s*\w+)?$")
_SELECT = re.compile(r"^SELECT\s+(?P<list>.*)$", _F)
_FROM = re.compile(r"\s+FROM\b", re.IGNORECASE)
_START = re.compile(r"\bSTART\s+(?:WITH\s+)?(?P<n>[-+]?\d+)", re.IGNORECASE)
_SETVAL = re.compile(
    r"\bsetval\s*\(\s*(?:pg_get_serial_sequence\s*\(\s*'(?P<t>(?:[^']|'')+)'\s*,\s*"
    r"'(?P<c>(?:[^']|'')+)'\s*\)|'(?P<seq>(?:[^']|'')+)')",
    _F,
)
# A value, or a bare RESTART after a START WITH n in the same statement (it restarts at the
# START just set); a bare RESTART alone goes back to the START the sequence had.
_RESTART = (
    r"(?:\bRESTART\s*(?:WITH\s*)?[(+]*\s*\d"
    r"|\bSTART\s+(?:WITH\s+)?[-+]?\d+\b.*\bRESTART\b(?!\s*(?:WITH\b|[(+-]*\s*\d))"
    r"|\bRESTART\b(?!\s*(?:WITH\b|[(+-]*\s*\d)).*\bSTART\s+(?:WITH\s+)?[-+]?\d)"
)
_ALTER_SEQUENCE = re.compile(
    rf"^ALTER\s+SEQUENCE\s+(?:IF\s+EXISTS\s+)?(?:{IDENT}\s*\.\s*)?(?P<seq>{IDENT}).*{_RESTART}", _F
)
# A sequence the migration makes for a `DEFAULT nextval('s')` column: its START (or an
# ascending one's MINVALUE) is where the app's ids begin.
_CREATE_SEQUENCE = re.compile(
    rf"^CREATE\s+SEQUENCE\s+(?:IF\s+NOT\s+EXISTS\s+)?(?:{IDENT}\s*\.\s*)?(?P<seq>{IDENT})"
    r"(?P<rest>.*)$",
    _F,
)
_MINVALUE = re.compile(r"(?<!NO )\bMINVALUE\s+(?P<n>[-+]?\d+)", re.IGNORECASE)
_DESCENDING = re.compile(r"\bINCREMENT\s+(?:BY\s+)?-", re.IGNORECASE)
# `TRUNCATE [TABLE] [ONLY] a, b [RESTART IDENTITY] [CASCADE]`: the rows are gone, so the ids
# written before meet nothing (a re-seed after it is read again).
_TRUNCATE = re.compile(r"^TRUNCATE\s+(?:TABLE\s+)?(?P<names>[^;]*)$", _F)
_TRUNCATE_TAIL = re.compile(r"\s+(?:(?:RESTART|CONTINUE)\s+IDENTITY|CASCADE|RESTRICT)\b.*$", _F)
# A counter given to a column after its CREATE TABLE: `supabase db dump`'s and pg_dump's
# `ALTER TABLE t ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY (SEQUENCE NAME …)`,
# `ALTER TABLE ONLY t ALTER COLUMN id SET DEFAULT nextval('t_id_seq'::regclass)`.
_ADDED = re.compile(
    rf"^ALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?(?:{IDENT}\s*\.\s*)?(?P<name>{IDENT})\s+"
    rf"ALTER\s+(?:COLUMN\s+)?(?P<col>{IDENT})\s+(?:ADD\s+GENERATED\s+(?P<how>ALWAYS|BY\s+DEFAULT)"
    rf"\s+AS\s+IDENTITY\b(?:\s*\(.*?\bSEQUENCE\s+NAME\s+(?:{IDENT}\s*\.\s*)?(?P<named>{IDENT}))?"
    r"|SET\s+DEFAULT\s+nextval\s*\(\s*'(?P<seq>(?:[^']|'')+)')",
    _F,
)
# A psql data block: `COPY [ONLY] t (id, …) FROM stdin [WITH (FORMAT csv, …)]` and its rows
# (pg_dump's, a hand-written seed's), tab-separated (a `DELIMITER 'c'`, or a comma in CSV).
_COPY = re.compile(
    rf"^COPY\s+(?:(?P<schema>{IDENT})\s*\.\s*)?(?P<name>{IDENT})\s*(?:\((?P<cols>[^()]*)\))?\s*"
    r"FROM\s+STDIN\b(?P<opts>.*)$",
    _F,
)
# A custom `NULL 'x'` (`NULL AS ''`): a row's marker for no value, not an id of its own.
_NULL = re.compile(r"\bNULL\s+(?:AS\s+)?'(?P<n>(?:[^']|'')*)'", re.IGNORECASE)
_QUOTE = re.compile(r"\bQUOTE\s+(?:AS\s+)?'(?P<c>[^']|'')'", re.IGNORECASE)
_CSV = re.compile(r"\bCSV\b|\bFORMAT\s+'?csv\b", re.IGNORECASE)
# (`HEADER false`, `off`, `0`: PostgreSQL's booleans, no header line: its first row is data)
_HEADER = re.compile(r"\bHEADER\b(?!\s*(?:'?(?:false|off|0)'?)\b)", re.IGNORECASE)
_DELIMITER = re.compile(r"\bDELIMITER\s+(?:AS\s+)?E?'(?P<c>[^']|'')'", re.IGNORECASE)
# What a later file of the set may hold that moves a sequence (read only when one is pending).
_MOVES = re.compile(r"setval|RESTART|TRUNCATE", re.IGNORECASE)
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
    start: int = 1  # an identity's START WITH (the first id the app's INSERT takes)


@dataclass
class _Table:
    name: str  # display form
    columns: list[str]  # folded, in order
    counters: dict[str, _Counter]
    made_in: str = ""  # the file whose CREATE TABLE made it
    schema: str = ""  # the schema its CREATE TABLE named (as PostgreSQL folds it)

    def other_schema(self, schema: str | None) -> bool:
        """An INSERT's or COPY's ``schema.`` is another table of the same name (a seed of
        ``auth.users`` is not the ``users`` a migration made in public)."""
        return schema is not None and key(schema) != (self.schema or "public")


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


def _table(name: str, body: str, starts: dict[str, int], tkey: str) -> _Table:
    table = _Table(name, [], {})
    for item in split_top_level(body):
        m = _COLUMN.match(item.strip())
        if m is None or m["name"].lower() in _NOT_A_COLUMN:
            continue
        col, rest = key(m["name"]), m["rest"]
        table.columns.append(col)
        kind, sequences, start = "", {f"{tkey}_{col}_seq"}, 1
        if _SERIAL.match(rest):
            kind = "serial"
        elif (ident := _IDENTITY.search(rest)) is not None:
            kind = " ".join(ident["how"].lower().split())
            start = _start(rest[ident.end() :])
        elif (nv := _NEXTVAL.search(rest)) is not None:
            kind, sequences = "nextval", {_last_part(nv["seq"])}
            start = starts.get(_last_part(nv["seq"]), 1)
        if kind:
            table.counters[col] = _Counter(_unquoted(m["name"]), kind, sequences, start)
    return table


def _unquoted(name: str) -> str:
    return name[1:-1].replace('""', '"') if name[:1] == '"' and len(name) >= 2 else name


def _written(table: _Table, cols: str | None, over: str, rest: str) -> list[str]:
    """The counter columns (folded) an INSERT's columns and values give values of their own."""
    if rest.upper().startswith("DEFAULT VALUES"):
        return []
    names = [key(c) for c in split_top_level(cols)] if cols is not None else table.columns
    out = []
    for n in names:
        c = table.counters.get(n)
        if c is not None and not (over.upper() == "USER" and c.kind in ("always", "by default")):
            out.append(n)
    if out and _VALUES.match(rest):  # DEFAULT, nextval(…): the sequence's own value
        at = {n: i for i, n in enumerate(names) if n in out}
        left = set(out)
        judged: dict[tuple[str, str], bool] = {}  # (a seed repeats its nextval(…) text)
        for row in _rows(rest):  # (a seed of ids 1..N stops at its first row)
            values = _VALUE.findall(row) if row is not None else []
            if len(values) < len(names):  # a row not read (E'\'' …): the values are its own
                left.clear()
            for n in list(left):
                v = values[at[n]].strip()
                own = judged.get((n, v))
                if own is None:
                    own = _takes_its_own(v, table.counters[n])
                    if v[:1].isalpha():  # (numbers all differ: not kept)
                        judged[(n, v)] = own
                if not own:
                    left.discard(n)
            if not left:
                break
        out = [n for n in out if n not in left]
    elif out and (sel := _SELECT.match(rest[:4000])) is not None:  # SELECT nextval('…'), …
        parts = split_top_level(sel["list"])
        at = {n: i for i, n in enumerate(names) if n in out}
        out = [n for n in out if not (at[n] < len(parts) and _takes_its_own(
            _FROM.split(parts[at[n]], 1)[0].strip(), table.counters[n]))]  # fmt: skip
    return out


def _takes_its_own(value: str, c: _Counter) -> bool:
    """``value``, in a counter column, is the sequence's own next number (``DEFAULT``,
    ``nextval('t_id_seq')``) or one below where it starts (so the app's ids never meet it)."""
    if value.upper() == "DEFAULT":
        return True
    if (nv := _OWN_NEXT.match(value)) is not None:
        return nv["seq"] is None or _last_part(nv["seq"]) in c.sequences
    num = _NUMBER.match(value)
    return num is not None and int(num["n"].replace(" ", "")) < c.start


def _start(options: str) -> int:
    """An identity's ``(START WITH n …)`` from the text after ``AS IDENTITY``."""
    if options.lstrip()[:1] != "(":
        return 1
    m = _START.search(_body(options))
    return int(m["n"]) if m is not None else 1


def _rows(rest: str) -> Iterator[str | None]:
    """Each row of ``VALUES (…), (…)`` (``rest`` starts at VALUES), the text inside its
    parentheses (None for one not read), read no further than the caller asks."""
    at = rest.find("(")
    while at >= 0:
        m = _ROW.match(rest, at)
        yield m["row"] if m is not None else None
        at = m.end() if m is not None and m["more"] else -1


_VALUE = re.compile(  # a row's values, split at its top-level commas
    r"(?:[^,()'\"]+|'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|\((?:[^()']+|'(?:[^']|'')*'|\([^()]*\))*\))+"
)
_ROW = re.compile(
    r"\((?P<row>(?:[^()'\"]+|'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|\((?:[^()']+|'(?:[^']|'')*'"
    r"|\([^()]*\))*\))*)\)\s*(?P<more>,\s*(?=\())?"
)


@dataclass
class SequenceFills:
    """One PostgreSQL migration's INSERTs of explicit ids into the serial or identity columns
    of the tables it creates, and the ``setval``\\s after them."""

    file: str
    tables: dict[str, _Table] = field(default_factory=dict)  # folded name → table
    pending: dict[tuple[str, str], tuple[int, str]] = field(default_factory=dict)
    written: set[str] = field(default_factory=set)  # tables whose every counter is pending
    starts: dict[str, int] = field(default_factory=dict)  # its CREATE SEQUENCEs' first ids
    run: SequenceRun | None = None  # the set's: its later files' setvals
    copies: set[int] = field(default_factory=set)  # the lines of its COPY … FROM stdin
    lists: dict[tuple[str, str], bool] = field(default_factory=dict)  # _names_counter's
    skip: str = ""  # the head of the last INSERT that named no counter column, to its VALUES

    @classmethod
    def of(cls, file: str, run: SequenceRun) -> SequenceFills:
        """The fills of one file of ``run`` (the tables and sequences it knows, shared)."""
        return cls(file, run.tables, starts=run.starts, run=run)

    def see(self, st: Statement, op: Op) -> None:
        if self.skip and st.text.startswith(self.skip):
            return  # (a seed's next INSERT of the same shape, naming no counter column)
        if op.kind in ("create_table", "drop_table", "alter_table"):
            self.lists.clear()  # (the counters may change)
            self.skip = ""
        if op.kind == "create_table":
            tk = _key_of(op, st.text)
            known = self.tables.get(tk)
            schema = op.pg_schema  # ("School" as written: not school, the INSERT's own)
            if known and schema not in ("", "public") and schema != (known.schema or "public"):
                return  # (another schema's table of that name: public's is the one followed)
            self.tables[tk] = _table(op.name, _body(op.body), self.starts, tk)
            self.tables[tk].made_in = self.file
            self.tables[tk].schema = schema
            self.written.discard(tk)
            for t, c in [p for p in self.pending if p[0] == tk]:
                del self.pending[(t, c)]  # a new table of that name: the old one was dropped
            return
        if op.kind == "drop_table":
            d = PG_DROP_TABLE.match(strip_comments(st.text).rstrip("; "))
            raw = split_top_level(d["names"]) if d is not None else op.names
            for n in [key(n.rsplit(".", 1)[-1]) for n in raw]:
                self.tables.pop(n, None)
                self.written.discard(n)
                for p in [p for p in self.pending if p[0] == n]:
                    del self.pending[p]
            return
        if st.first_words.startswith("CREATE SEQUENCE"):
            self._sequence(strip_comments(st.text))
        if not self.tables:  # (a seed's INSERTs into tables made before: nothing to read)
            return
        if st.first_words.startswith("TRUNCATE"):
            self._truncated(strip_comments(st.text))
            return
        if op.kind == "alter_table":
            self._renamed(op, strip_comments(st.text))
            self._added(strip_comments(st.text))
        # A seed's every row: read no further than the table's name (and not at all once
        # each of its counters was written).
        head = _HEAD.match(st.text)
        if head is None and st.text.lstrip()[:1] in ("-", "/"):
            head = _HEAD.match(strip_comments(st.text[:400]))
        if head is not None:
            name = key(head["name"])
            if name not in self.tables or name in self.written:
                return
            if self.tables[name].other_schema(head["schema"]):
                return
            # A seed's INSERTs that name no counter column: known from the column list
            # alone (a table an earlier file made: 200,000 of them cost 3 s, now 0.2 s).
            cols = _COLS.match(st.text, head.end()) if head.string is st.text else None
            if cols is not None and not self._names_counter(name, cols["cols"]):
                self.skip = st.text[: cols.end()]
                return
        text = strip_comments(st.text)
        if st.copy_data is not None:
            self._copied(st, text)
            return
        if head is not None and (m := _INSERT.match(text)) is not None:
            table = self.tables[name]
            for col in _written(table, m["cols"], m["over"] or "", m["rest"]):
                self.pending.setdefault((name, col), (st.line, m["name"]))
            if all((name, c) in self.pending for c in table.counters):
                self.written.add(name)
            return
        for s in _SETVAL.finditer(text):
            if s["t"] is not None:  # (its column is read as written, not folded)
                self._reset(_last_part(s["t"]), s["c"].replace("''", "'"))
            else:
                self._reset_sequence(_last_part(s["seq"]))
        if (a := _ALTER_SEQUENCE.match(text)) is not None:
            self._reset_sequence(key(a["seq"]))
        if (ac := _ALTER_COLUMN.match(text)) is not None:
            self._reset(key(ac["name"]), key(ac["col"]))

    def _names_counter(self, table: str, cols: str) -> bool:
        """Whether an INSERT's column list ``cols`` names a counter column of ``table``."""
        known = self.lists.get((table, cols))
        if known is None:
            counters = self.tables[table].counters
            known = any(key(c) in counters for c in split_top_level(cols))
            if len(self.lists) < 64:
                self.lists[(table, cols)] = known
        return known

    def _copied(self, st: Statement, text: str) -> None:
        """A ``COPY t (id, …) FROM stdin`` data block's ids in a counter column."""
        m = _COPY.match(text)
        table = self.tables.get(key(m["name"])) if m is not None else None
        if m is None or table is None or st.copy_data is None or table.other_schema(m["schema"]):
            return
        names = [key(c) for c in split_top_level(m["cols"])] if m["cols"] else table.columns
        at = {n: i for i, n in enumerate(names) if n in table.counters}
        csv = _CSV.search(m["opts"]) is not None
        d = _DELIMITER.search(m["opts"])
        sep = d["c"].replace("''", "'") if d is not None else "," if csv else "\t"
        nl = _NULL.search(m["opts"])
        null = nl["n"].replace("''", "'") if nl is not None else "" if csv else "\\N"
        q = _QUOTE.search(m["opts"])
        quote = q["c"].replace("''", "'") if q is not None else '"'
        # CSV by its quoting (a quoted comma is inside its value), rows running over lines
        data = st.copy_data
        rows = csv_reader(io.StringIO(data), delimiter=sep, quotechar=quote) if csv else (
            r.split(sep) for r in data.splitlines()
        )  # fmt: skip
        if csv and _HEADER.search(m["opts"]):
            next(rows, None)
        left = dict(at)  # (a seed of ids 1..N stops at its first row)
        for values in _read(rows):
            for n, i in list(left.items()):
                v = values[i].strip() if i < len(values) else "?"
                if v != null and not _takes_its_own(v, table.counters[n]):
                    self.pending.setdefault((key(m["name"]), n), (st.line, m["name"]))
                    self.copies.add(st.line)
                    del left[n]
            if not left:
                break

    def _renamed(self, op: Op, text: str) -> None:
        old = _key_of(op, text)
        for a in op.actions:
            if a.kind == "rename_table" and old in self.tables:
                table = self.tables.pop(old)
                r = PG_RENAME_TO.search(text)
                new = key(r["new"]) if r is not None else key(a.new)
                for c, counter in table.counters.items():  # the translator renames it too
                    counter.sequences.add(f"{new}_{c}_seq")
                self.tables[new] = table
                if old in self.written:
                    self.written.discard(old)
                    self.written.add(new)
                for t, col in [p for p in self.pending if p[0] == old]:
                    self.pending[(new, col)] = self.pending.pop((t, col))

    def _added(self, text: str) -> None:
        m = _ADDED.match(text)
        table = self.tables.get(key(m["name"])) if m is not None else None
        if m is None or table is None:
            return
        col = key(m["col"])
        start = 1
        if m["seq"] is not None:
            kind, sequences = "nextval", {_last_part(m["seq"])}
            start = self.starts.get(_last_part(m["seq"]), 1)
        else:
            start = _start(text[text.upper().find("IDENTITY", m.start("how")) + 8 :])
            kind = " ".join(m["how"].lower().split())
            sequences = {key(m["named"]) if m["named"] else f"{key(m['name'])}_{col}_seq"}
        table.counters[col] = _Counter(_unquoted(m["col"]), kind, sequences, start)
        self.written.discard(key(m["name"]))

    def _sequence(self, text: str) -> None:
        m = _CREATE_SEQUENCE.match(text)
        if m is None or _DESCENDING.search(m["rest"]):
            return
        first = _START.search(m["rest"]) or _MINVALUE.search(m["rest"])
        self.starts[key(m["seq"])] = int(first["n"]) if first is not None else 1

    def _truncated(self, text: str) -> None:
        for t in _truncated(text):
            for p in [p for p in self.pending if p[0] == t]:
                del self.pending[p]
            self.written.discard(t)

    def _reset(self, table: str, col: str) -> None:
        self.pending.pop((table, col), None)
        self.written.discard(table)

    def _reset_sequence(self, seq: str) -> None:
        for t, col in list(self.pending):
            counter = self.tables[t].counters[col] if t in self.tables else None
            if counter is not None and seq in counter.sequences:
                del self.pending[(t, col)]
                self.written.discard(t)

    def _moved_later(self, moved: _Moved) -> None:
        for t, c in moved.columns:
            self._reset(t, c)
        for seq in moved.sequences:
            self._reset_sequence(seq)
        for t in moved.truncated:
            for p in [p for p in self.pending if p[0] == t]:
                del self.pending[p]

    def end(self, out: list[Finding]) -> None:
        r = PG_SEQUENCE_RULES[0]
        if self.pending and self.run is not None:  # a later file's setval: deployed with it
            for moved in self.run.after(self.file):
                self._moved_later(moved)
        for (t, col), (line, written) in sorted(self.pending.items(), key=lambda p: p[1][0]):
            table = self.tables[t]
            c = table.counters[col]
            kind = {"serial": "serial", "nextval": "DEFAULT nextval", "always":
                    "GENERATED ALWAYS AS IDENTITY", "by default": "GENERATED BY DEFAULT AS "
                    "IDENTITY"}[c.kind]  # fmt: skip
            verb = "COPY" if line in self.copies else "INSERT INTO"
            why = (
                f"{verb} {_unquoted(written)} writes its own values into "
                f"{table.name}.{c.column} ({kind}) and nothing after it in this migration or a "
                f"later one moves the column's sequence (setval, RESTART WITH): "
            )
            if table.made_in == self.file:
                why += "it still starts at 1, so the app's next INSERT takes id 1 and fails "
                why += "with a duplicate key"
            else:  # (a table an earlier migration made: its counter is where the app left it)
                why += (
                    f"{table.name} was made by an earlier migration ({table.made_in}), and its "
                    "sequence stays where the app's rows left it, not past these ids: the "
                    "app's INSERT that reaches one fails with a duplicate key"
                )
            if c.kind == "always":
                why += " (PostgreSQL refuses the INSERT itself without OVERRIDING SYSTEM VALUE)"
            out.append(Finding(r.id, r.severity, self.file, line, why, r.instead))


def _key_of(op: Op, text: str) -> str:
    """The table a CREATE or ALTER TABLE names, folded as PostgreSQL does (:func:`key`)."""
    m = PG_TABLE_NAMED.match(strip_comments(text[:2000]))
    return key(m["name"]) if m is not None else op.key


def _read(rows: Iterator[list[str]]) -> Iterator[list[str]]:
    """The rows of a COPY block, up to one CSV cannot read (PostgreSQL refuses it itself)."""
    try:
        yield from rows
    except CsvError:
        return


def _truncated(text: str) -> list[str]:
    """The tables (folded) a ``TRUNCATE`` statement empties; none for another statement."""
    m = _TRUNCATE.match(text.strip().rstrip(";"))
    out = []
    for name in split_top_level(_TRUNCATE_TAIL.sub("", m["names"])) if m is not None else []:
        name = re.sub(r"^ONLY\s+", "", name.strip(), flags=re.IGNORECASE).rstrip(" *")
        out.append(key(name.rsplit(".", 1)[-1].strip()) if name else "")
    return out


@dataclass
class _Moved:
    """What one file does that moves a sequence (or empties its table), names folded."""

    columns: set[tuple[str, str]] = field(default_factory=set)  # setval(pg_get_serial…), RESTART
    sequences: set[str] = field(default_factory=set)  # setval('s'), ALTER SEQUENCE s RESTART
    truncated: set[str] = field(default_factory=set)


def _moved(m: Migration) -> _Moved:
    moved = _Moved()
    try:
        if _MOVES.search(m.read_text()) is None:
            return moved
        statements = m.statements()
    except MalnuError:
        return moved  # (its own lint, or `up`, names it)
    for st in statements:
        if _MOVES.search(st.text) is None:
            continue
        text = strip_comments(st.text)
        for sv in _SETVAL.finditer(text):  # (inside a DO block too)
            if sv["t"] is not None:
                moved.columns.add((_last_part(sv["t"]), sv["c"].replace("''", "'")))
            else:
                moved.sequences.add(_last_part(sv["seq"]))
        if (a := _ALTER_SEQUENCE.match(text)) is not None:
            moved.sequences.add(key(a["seq"]))
        if (ac := _ALTER_COLUMN.match(text)) is not None:
            moved.columns.add((key(ac["name"]), key(ac["col"])))
        moved.truncated.update(_truncated(text))
    return moved


@dataclass
class SequenceRun:
    """A lint run's tables with a counter, file to file (those of the files applied or not
    linted too), and what its files do that moves a sequence, read once a file after them has
    ids pending (a setval in a later migration of the set: deployed with it)."""

    migrations: Sequence[Migration] = ()  # the set, in order
    tables: dict[str, _Table] = field(default_factory=dict)
    starts: dict[str, int] = field(default_factory=dict)
    _moved: dict[str, _Moved] = field(default_factory=dict)

    def after(self, file: str) -> Iterator[_Moved]:
        """What each migration after ``file`` does that moves a sequence, in order."""
        names = [m.filename for m in self.migrations]
        at = names.index(file) + 1 if file in names else len(names)
        for m in self.migrations[at:]:
            if m.filename not in self._moved:
                self._moved[m.filename] = _moved(m)
            yield self._moved[m.filename]
