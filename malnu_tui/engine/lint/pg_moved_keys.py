"""PG-RENAME-MOVES-KEYS: PostgreSQL's variant of SQLITE-RENAME-MOVES-KEYS (lint/moved_keys.py
follows the steps, across files, for both). A rename-first rebuild (``ALTER TABLE t RENAME TO
t_old; CREATE TABLE t …; INSERT … SELECT … FROM t_old; DROP TABLE t_old``) while other tables'
foreign keys point at ``t``: PostgreSQL keeps a constraint on the referenced table's OID, not
its name, so the keys go with ``t_old``. Without CASCADE its DROP is refused after every row was
copied; with CASCADE the children's constraints are dropped without a word.

Whose keys point at a table: the live database's (``pg_constraint``) where one is given, as it
was before the pending migrations, and the migrations' own CREATE TABLE / ALTER TABLE …
REFERENCES otherwise (and for what the pending ones change).

Names are PostgreSQL's (:func:`pg_key`: ``"Kelas"`` is not ``kelas``), as the Op's ``pg_…``
fields and pg_constraint give them: the names this module is handed are folded already."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from malnu_tui.engine.lint.model import Rule
from malnu_tui.engine.lint.ops import IDENT, Op, split_top_level
from malnu_tui.engine.lint.ops import pg_key as key
from malnu_tui.engine.lint.rules import register

__all__ = ["PG_MOVED_KEYS", "LiveChildren", "PgReferences", "pg_moved_why"]

PG_MOVED_KEYS = Rule(
    "PG-RENAME-MOVES-KEYS",
    "error",
    "a PostgreSQL table renamed out of the way (then made again) while other tables reference it",
    "PostgreSQL keeps a foreign key on the referenced table itself (its OID), not its name: "
    "ALTER TABLE t RENAME TO t_old takes the children's keys (and the views over t, and the "
    "sequences its columns own) with it, so after CREATE TABLE t and the copy they still "
    "reference t_old; DROP TABLE t_old is then refused (the migration fails at its last "
    "statement, after copying everything), and DROP TABLE t_old CASCADE drops the children's "
    "foreign key constraints and those views without an error",
    "ALTER the table in place (ADD COLUMN, ALTER COLUMN … TYPE, ADD CONSTRAINT … NOT VALID "
    "then VALIDATE CONSTRAINT); to rebuild it, CREATE TABLE new_t, copy the rows, rename t to "
    "t_old and new_t to t, then re-point each child's key explicitly (ALTER TABLE child DROP "
    "CONSTRAINT …, ADD CONSTRAINT … FOREIGN KEY … REFERENCES t NOT VALID, VALIDATE CONSTRAINT) "
    "before DROP TABLE t_old, without CASCADE",
)
register(PG_MOVED_KEYS)

Child = tuple[str, str, str]  # (child table, its column, ON DELETE)
# The children of a live table (None: not known, no such table): pg_constraint's.
LiveChildren = Callable[[str], list[Child] | None]

_F = re.IGNORECASE | re.DOTALL
_REFERENCES = re.compile(rf"\bREFERENCES\s+(?:(?P<schema>{IDENT})\s*\.\s*)?(?P<parent>{IDENT})", _F)
_ON_DELETE = re.compile(r"\bON\s+DELETE\s+(?P<a>CASCADE|SET\s+NULL|SET\s+DEFAULT|RESTRICT)", _F)
_CONSTRAINT = re.compile(rf"^CONSTRAINT\s+(?P<name>{IDENT})\s+(?P<rest>.*)$", _F)
_TABLE_FK = re.compile(r"^FOREIGN\s+KEY\s*\((?P<cols>[^()]*)\)", _F)
_COLUMN = re.compile(rf"^(?P<col>{IDENT})\s", _F)


@dataclass
class _Key:
    child: str  # folded
    column: str
    parent: str  # folded
    on_delete: str
    name: str  # folded; PostgreSQL's default (child_column_fkey) when none is written
    schema: str = ""  # the parent's, folded, when written and not public


def _keys(child: str, part: str, column: str = "") -> list[_Key]:
    """The foreign keys of one column or table constraint definition of ``child``."""
    part = part.strip()
    name = ""
    if (c := _CONSTRAINT.match(part)) is not None:
        name, part = key(c["name"]), c["rest"]
    ref = _REFERENCES.search(part)
    if ref is None:
        return []
    if (fk := _TABLE_FK.match(part)) is not None:
        column = key(fk["cols"].split(",")[0].strip())
    elif not column and (col := _COLUMN.match(part)) is not None:
        column = key(col["col"])
    if not column:
        return []
    action = _ON_DELETE.search(part[ref.end() :])
    on_delete = " ".join(action["a"].upper().split()) if action else "NO ACTION"
    schema = _schema(ref["schema"])
    return [
        _Key(child, column, key(ref["parent"]), on_delete, name or f"{child}_{column}_fkey", schema)
    ]


def _schema(name: str | None) -> str:
    """A schema named (folded), "" for none or public (where an unqualified name is)."""
    s = key(name) if name else ""
    return "" if s == "public" else s


@dataclass
class PgReferences:
    """Whose foreign keys point at each table as the PostgreSQL migrations are walked: the
    files' own keys, over the live database's (``live``) as it was before the walk began."""

    live: LiveChildren | None = None
    keys: list[_Key] = field(default_factory=list)
    live_name: dict[str, str] = field(default_factory=dict)  # a name → the live table's
    not_live: set[str] = field(default_factory=set)  # names whose table the walk made
    gone: set[str] = field(default_factory=set)  # live children dropped or made again
    # A table the walk made → its schema ("" public): Supabase's REFERENCES auth.users is no
    # key to the migrations' own public users.
    made_in: dict[str, str] = field(default_factory=dict)

    def copy(self) -> PgReferences:
        """An independent copy as it is now (a rollback file is walked on one)."""
        keys = [_Key(k.child, k.column, k.parent, k.on_delete, k.name, k.schema) for k in self.keys]
        return PgReferences(
            self.live,
            keys,
            dict(self.live_name),
            set(self.not_live),
            set(self.gone),
            dict(self.made_in),
        )

    def _live_of(self, k: str) -> str | None:
        if k in self.live_name:
            return self.live_name[k]
        return None if k in self.not_live else k

    def foreign_keys_to(self, parent: str) -> list[Child]:
        """(child table, child column, ON DELETE) of every foreign key to ``parent`` (folded)
        now."""
        p = parent
        out = [
            (k.child, k.column, k.on_delete)
            for k in self.keys
            if k.parent == p and (not k.schema or self.made_in.get(p, k.schema) == k.schema)
        ]
        live_parent = self._live_of(parent) if self.live is not None else None
        if self.live is not None and live_parent is not None:
            for c in self.live(live_parent) or []:
                if c[0] not in self.gone and all((c[0], c[1]) != (o[0], o[1]) for o in out):
                    out.append(c)
        return [c for c in out if c[0] != p]  # (a self-reference goes with the table)

    def run(self, op: Op) -> None:
        """Follow one statement (a DO block's or WITH's inner ones are not followed)."""
        if op.kind == "create_table":
            t = op.pg_name
            self._made(t)
            self.made_in[t] = "" if op.pg_schema in ("", "public") else op.pg_schema
            self.keys = [k for k in self.keys if k.child != t]
            if op.body.startswith("("):
                for part in split_top_level(op.body[1 : op.body.rfind(")")]):
                    self.keys.extend(_keys(t, part))
        elif op.kind == "drop_table":
            gone = set(op.pg_names)
            for t in gone:
                self._made(t)
            self.keys = [k for k in self.keys if k.child not in gone]
            if op.value == "cascade":  # the children's constraints go with it
                self.keys = [k for k in self.keys if k.parent not in gone]
        elif op.kind == "alter_table":
            for a in op.actions:
                self._action(op.pg_name, a.kind, a.pg_column, a.pg_new, a.definition)

    def _made(self, t: str) -> None:
        self.live_name.pop(t, None)
        self.not_live.add(t)
        self.gone.add(t)

    def _action(self, t: str, kind: str, column: str, new: str, definition: str) -> None:
        if kind == "add_column":
            self.keys.extend(_keys(t, definition, column))
        elif kind == "add_fk":
            self.keys.extend(_keys(t, definition.split(None, 1)[1] if definition else ""))
        elif kind == "drop_constraint":
            self.keys = [k for k in self.keys if not (k.child == t and k.name == new)]
        elif kind == "drop_column":
            self.keys = [k for k in self.keys if not (k.child == t and k.column == column)]
        elif kind == "rename_table":
            n = new
            if t in self.made_in:
                self.made_in[n] = self.made_in.pop(t)
            for k in self.keys:  # PostgreSQL follows the table: its keys, either way
                k.child = n if k.child == t else k.child
                k.parent = n if k.parent == t else k.parent
            was = self._live_of(t)
            self.live_name.pop(t, None)
            self.not_live.add(t)
            if was is not None:
                self.live_name[n] = was
            else:
                self.live_name.pop(n, None)
                self.not_live.add(n)


def pg_moved_why(
    new: str, refs: str, how: str, dropped_here: bool, cascade: bool
) -> tuple[str, bool]:
    """The finding's text (after ``how``, what the file's step did) and whether it is an
    error: a DROP of the old copy without CASCADE is refused, loudly, and loses nothing."""
    if dropped_here and cascade:
        return (
            f"{how}: the DROP's CASCADE drops the foreign key constraints of {refs} (and any view "
            f"over {new}) without an error: their rows stay, checked against nothing",
            True,
        )
    if dropped_here:
        return (
            f"{how}: PostgreSQL refuses that DROP (constraints of {refs} depend on {new}), "
            "after every row was copied: the migration fails at that statement",
            False,
        )
    return f"{how}: their new rows are checked against {new}, the old copy", True
