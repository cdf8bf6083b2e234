"""SQLITE-RENAME-MOVES-KEYS: a SQLite (and D1) rebuild in the old order, the table renamed out
of the way first (``ALTER TABLE t RENAME TO t_old; CREATE TABLE t …; copy; DROP TABLE t_old``),
while other tables' foreign keys point at it: SQLite rewrites their REFERENCES to ``t_old``.

PostgreSQL's variant, PG-RENAME-MOVES-KEYS (lint/pg_moved_keys.py: the keys follow the table's
OID), is followed here too, with its own words. The steps are followed across the whole run,
not one file: a set that renames in one migration
and makes the table again, copies or drops the old copy in later ones (or a migration's rollback
file doing the same) springs the same trap, and the finding names every step's file and line."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from malnu_tui.engine.lint.model import Finding, Rule
from malnu_tui.engine.lint.ops import Op, key
from malnu_tui.engine.lint.pg_moved_keys import PG_MOVED_KEYS, pg_moved_why
from malnu_tui.engine.lint.rules import register
from malnu_tui.engine.sqlsplit import Statement

__all__ = ["MOVED_KEYS", "KeysTo", "RenamedAway"]

MOVED_KEYS = Rule(
    "SQLITE-RENAME-MOVES-KEYS",
    "error",
    "a table renamed out of the way (then made again) while other tables reference it",
    "SQLite 3.26+ rewrites every other table's REFERENCES to a table it renames (and, with "
    "foreign keys on, as on D1, whatever legacy_alter_table says), so a rebuild that renames "
    "the old table first (ALTER TABLE t RENAME TO t_old; CREATE TABLE t …; copy; DROP TABLE "
    "t_old, as TypeORM's SQLite down migrations and older Knex write it) leaves the children "
    "pointing at t_old: once it is dropped every INSERT or UPDATE of them fails (no such "
    "table: main.t_old), and with foreign keys on its DROP deletes their rows (ON DELETE "
    "CASCADE) first",
    "rebuild in sqlite.org's order, as Prisma and Drizzle write it: CREATE TABLE new_t, copy "
    "the rows, DROP TABLE t, ALTER TABLE new_t RENAME TO t; on a SQLite file (not D1) PRAGMA "
    "foreign_keys = OFF and PRAGMA legacy_alter_table = ON before the rename also keep the "
    "children's references",
)
register(MOVED_KEYS)

Child = tuple[str, str, str]  # (child table, its column, ON DELETE)
Step = tuple[str, int]  # (file, line)
_DELETES = ("CASCADE", "SET NULL", "SET DEFAULT")


class KeysTo(Protocol):
    """The schema as walked: SQLite's replay (lint/replay.py) or PostgreSQL's references."""

    def foreign_keys_to(self, parent: str) -> list[Child]: ...


@dataclass
class _Moved:
    """One table renamed away while children referenced it, and the rebuild's later steps."""

    renamed: Step
    new: str  # the old copy's name (t_old)
    children: list[Child]
    made_again: Step | None = None
    copied: bool = False  # the table made again is filled from the old copy
    dropped: Step | None = None  # DROP TABLE of the old copy
    cascade: bool = False  # … CASCADE (PostgreSQL: the children's constraints go with it)
    reported: set[str] = field(default_factory=set)  # files a finding was made in


@dataclass
class RenamedAway:
    """The rename-first rebuilds seen so far in the run (one instance per run, :meth:`begin`
    at each file): a table renamed while other tables' foreign keys point at it (SQLite
    rewrites them to the new name), whose old name is then created again — the rename was a
    rebuild's first step, and the children now reference the old copy."""

    dialect: str = "sqlite"  # postgresql: PG-RENAME-MOVES-KEYS, in its words
    file: str = ""
    kind: str = "migration"  # what the file begun last is: a migration or a rollback
    keeps_keys: bool = False  # foreign keys off and legacy_alter_table on: nothing rewritten
    moved: dict[str, _Moved] = field(default_factory=dict)  # old name → its rebuild
    # A name applied renames gave a table → the name it had before the first of them, and
    # where that rename is (a → b, then b → c: c → (a, the first rename)).
    renamed_into: dict[str, tuple[str, Step]] = field(default_factory=dict)

    def _k(self, name: str) -> str:
        """A name as compared: SQLite's folded; PostgreSQL's are folded already (pg_key)."""
        return name if self.dialect == "postgresql" else key(name)

    def begin(self, file: str, *, keeps_keys: bool, kind: str = "migration") -> None:
        self.file, self.keeps_keys, self.kind = file, keeps_keys, kind

    def see(
        self, st: Statement, op: Op, replay: KeysTo, legacy: bool, *, applied: bool = False
    ) -> None:
        """Follow one statement of the file begun last, before ``replay`` runs it (``legacy``:
        PRAGMA legacy_alter_table is on there). ``applied``: a migration already applied,
        ``replay`` the live schema (after it), not run."""
        pg = self.dialect == "postgresql"  # (PostgreSQL's names: "Kelas" is not kelas)
        name = op.pg_name if pg else op.name
        if op.kind == "alter_table":
            for a in op.actions:
                new = a.pg_new if pg else a.new
                if a.kind == "rename_table" and applied:
                    self.applied_rename(st.line, name, new, replay)
                elif a.kind == "rename_table":
                    self.renamed(st.line, name, new, replay, legacy)
        elif op.kind == "create_table":
            self.created(name, st.line)
        elif op.kind == "insert_select":
            self.copied(name, op.pg_table if pg else op.table)
        elif op.kind == "drop_table":
            names = op.pg_names if pg else op.names
            self.dropped_tables(names, st.line, cascade=op.value == "cascade")

    def renamed(self, line: int, old: str, new: str, replay: KeysTo, legacy: bool) -> None:
        if self.keeps_keys and legacy:
            return
        for t, e in list(self.moved.items()):
            if self._k(e.new) != self._k(old):
                continue  # (below: the old copy renamed again, and the children with it)
            if self._k(new) == t:
                del self.moved[t]  # renamed back: their keys reference t again, nothing moved
            else:
                e.new = new
        children = [c for c in replay.foreign_keys_to(old) if self._k(c[0]) != self._k(new)]
        if children:
            self.moved[self._k(old)] = _Moved((self.file, line), new, children)

    def applied_rename(self, line: int, old: str, new: str, live: KeysTo) -> None:
        """A rename already applied: the live schema says whose keys SQLite rewrote to ``new``
        (none with legacy_alter_table on and foreign keys off). Applied renames are followed
        as a chain (a → b, then b → c: a's children reference c now, the rebuild's old copy);
        one renamed back to its first name (a → b → a) is forgotten."""
        chained = self.renamed_into.pop(self._k(old), None)
        first, step = chained if chained is not None else (old, (self.file, line))
        if chained is not None:
            self.moved.pop(self._k(first), None)  # (found again below, under its latest name)
        if self._k(new) == self._k(first):
            return  # renamed back: the children reference it again, nothing moved
        self.renamed_into[self._k(new)] = (first, step)
        children = [c for c in live.foreign_keys_to(new) if self._k(c[0]) != self._k(first)]
        if children:
            self.moved[self._k(first)] = _Moved(step, new, children)

    def created(self, name: str, line: int) -> None:
        t = self._k(name)
        if t in self.moved and self.moved[t].made_again is None:
            self.moved[t].made_again = (self.file, line)
        for old, e in self.moved.items():  # a child made again: its keys are new
            if t != old:
                e.children = [c for c in e.children if self._k(c[0]) != t]

    def copied(self, target: str, source: str) -> None:
        e = self.moved.get(self._k(target))
        if e is not None and e.made_again is not None and self._k(source) == self._k(e.new):
            e.copied = True

    def dropped_tables(self, names: tuple[str, ...], line: int, *, cascade: bool = False) -> None:
        gone = {self._k(n) for n in names}
        for e in self.moved.values():
            if e.dropped is not None:
                continue  # (a child dropped after the old copy: its rows were lost first)
            # A child dropped before the old copy is (rebuilt in sqlite.org's order, its new
            # copy's REFERENCES as written, or dropped for good): its key went with it, and the
            # copy's DROP touches none of its rows.
            e.children = [c for c in e.children if self._k(c[0]) not in gone]
            if self._k(e.new) in gone:
                e.dropped, e.cascade = (self.file, line), cascade

    def _where(self, step: Step) -> str:
        return f"line {step[1]}" if step[0] == self.file else f"{step[0]}:{step[1]}"

    def findings(self) -> list[Finding]:
        """The findings of the file begun last: where its steps complete a rebuild (made
        again, copied, or the old copy dropped)."""
        out: list[Finding] = []
        for old in sorted(self.moved):
            e = self.moved[old]
            if not e.children or e.made_again is None or self.file in e.reported:
                continue
            f = self._finding(old, e)
            if f is not None:
                e.reported.add(self.file)
                out.append(f)
        return out

    def _finding(self, old: str, e: _Moved) -> Finding | None:
        refs = ", ".join(f"{c}({col})" for c, col, _ in e.children)
        assert e.made_again is not None
        here = self.file
        pg = self.dialect == "postgresql"
        moves = (  # what the rename did to the children's keys
            f"takes the foreign keys of {refs} with it (PostgreSQL keeps them on the table, "
            "not its name)"
            if pg
            else f"rewrites the foreign keys of {refs} to reference {e.new}"
        )
        one_file = e.renamed[0] == here and e.made_again[0] == here
        if one_file:  # the whole rebuild in this file: named at its rename, as before
            line = e.renamed[1]
            why = (
                f"ALTER TABLE {old} RENAME TO {e.new} {moves}, and the {self.kind} then "
                f"creates {old} again: they no longer reference {old}"
            )
        elif e.made_again[0] == here and (e.copied or e.dropped is not None):
            line = e.made_again[1]
            why = (
                f"CREATE TABLE {old} makes again the table that {self._where(e.renamed)} "
                f"renamed to {e.new} (ALTER TABLE {old} RENAME TO {e.new}), which "
                f"{moves.replace('takes', 'took', 1).replace('rewrites', 'rewrote', 1)}: "
                f"they no longer reference {old}"
            )
        elif e.dropped is not None and e.dropped[0] == here:
            line = e.dropped[1]
            how = "the foreign keys follow the table" if pg else "ALTER TABLE … RENAME rewrote"
            why = (
                f"DROP TABLE {e.new} drops the old copy of {old} that {refs} still reference: "
                f"{self._where(e.renamed)} renamed {old} to {e.new} ({how}"
                f"{'' if pg else ' their foreign keys'}) and {self._where(e.made_again)} "
                f"created {old} again"
            )
        else:
            return None
        dropped_here = e.dropped is not None and e.dropped[0] == here
        if dropped_here and e.dropped is not None and line != e.dropped[1]:
            why += f", and {e.new} is dropped at {self._where(e.dropped)}"
        if pg:
            if e.dropped is not None and not dropped_here:  # (the DROP's file says more)
                why += f" (and {e.new} is dropped at {self._where(e.dropped)}"
                why += " with CASCADE)" if e.cascade else ")"
                error = True
            else:
                why, error = pg_moved_why(e.new, refs, why, dropped_here, e.cascade)
            r = PG_MOVED_KEYS
            return Finding(r.id, "error" if error else "warning", here, line, why, r.instead)
        if dropped_here:
            why += f": every INSERT or UPDATE of them fails (no such table: main.{e.new})"
            if any(a in _DELETES for _, _, a in e.children):
                why += ", and with foreign keys on (D1) that DROP deletes or unlinks their rows"
        elif e.dropped is not None:
            why += f" (and {e.new} is dropped at {self._where(e.dropped)})"
        else:
            why += f": their new rows are checked against {e.new}, the old copy"
        return Finding(MOVED_KEYS.id, MOVED_KEYS.severity, here, line, why, MOVED_KEYS.instead)
