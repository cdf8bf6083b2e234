"""SQLite table rebuilds (create ``new_t``, copy, ``DROP TABLE t``, rename ``new_t`` to ``t``, as
SQLite's twelve-step ALTER procedure, Prisma and Drizzle write them): each rebuilt table is
compared with what it was before the migration, and the views and triggers that name it are
checked, since SQLite 3.26+ (and D1) refuses the final ``RENAME`` while one of them names a
table that is gone (``error in view v: no such table: main.t``)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from malnu_tui.engine.lint.model import Finding, Rule, Severity
from malnu_tui.engine.lint.ops import IDENT, Op, key, split_top_level, strip_comments
from malnu_tui.engine.lint.replay import Replay, TableShape
from malnu_tui.engine.lint.rules import RULES, register

__all__ = [
    "DANGLING_RULES",
    "REBUILD_RULES",
    "RebuildFacts",
    "coalesced_columns",
    "left_dangling",
    "rebuild_findings",
    "rebuilt_tables",
    "renames_refused",
    "views_in_the_way",
]

REBUILD_RULES = (
    Rule(
        "REBUILD-BREAKS-VIEW",
        "error",
        "SQLite table rebuild of a table a view or another table's trigger names",
        "since SQLite 3.26 (and on D1) ALTER TABLE … RENAME checks every view and trigger: "
        "after the rebuild's DROP TABLE one of them names a table that is gone, so the RENAME "
        "fails (error in view …: no such table) and so does the migration",
        "DROP VIEW (and DROP TRIGGER) before the rebuild and re-create them after the RENAME, "
        "as SQLite's twelve-step ALTER procedure says; PRAGMA legacy_alter_table=ON before the "
        "rebuild also lets the RENAME through",
    ),
)
DANGLING_RULES = (
    Rule(
        "SQLITE-DANGLING-VIEW",
        "error",
        "a view or trigger left naming a dropped table",
        "SQLite lets DROP TABLE leave a view (or another table's trigger) that names the "
        "table: every read of the view fails, and SQLite 3.26+ (and D1) refuses every later "
        "ALTER TABLE … RENAME, of any table or column, while it is there (error in view v: no "
        "such table), so a later, unrelated migration fails",
        "DROP VIEW (or DROP TRIGGER) in the migration that drops the table, or re-create it "
        "without the table",
    ),
)
register(*REBUILD_RULES, *DANGLING_RULES)


def _f(rule_id: str, file: str, line: int, why: str, sev: Severity | None = None) -> Finding:
    r = RULES[rule_id]
    return Finding(rule_id, sev or r.severity, file, line, why, r.instead)


def rebuilt_tables(ops: Iterable[Op]) -> set[str]:
    """Tables dropped and then replaced by a renamed table (SQLite's rebuild idiom)."""
    dropped: set[str] = set()
    rebuilt: set[str] = set()
    for op in ops:
        if op.kind == "drop_table":
            dropped.update(key(n) for n in op.names)
        elif op.kind == "alter_table":
            for a in op.actions:
                if a.kind == "rename_table" and key(a.new) in dropped:
                    rebuilt.add(key(a.new))
    return rebuilt


def views_in_the_way(file: str, line: int, table: str, replay: Replay) -> list[Finding]:
    """REBUILD-BREAKS-VIEW for the final RENAME of ``table``'s rebuild (``table`` dropped)."""
    out: list[Finding] = []
    for kind, name in replay.naming(table):
        why = (
            f"the rebuild of {table} renames the new table while {kind} {name} names {table}, "
            f"which the DROP TABLE removed: SQLite refuses the RENAME (error in {kind} {name}: "
            f"no such table: main.{table}) and the migration fails"
        )
        out.append(_f("REBUILD-BREAKS-VIEW", file, line, why))
    return out


@dataclass(frozen=True)
class RebuildFacts:
    """One migration's rebuilds: each table's shape before it, the line the rebuild starts at,
    and whether the rollback restores a column."""

    file: str
    before: dict[str, TableShape]
    lines: dict[str, int]
    restores: Callable[[str, str], bool]  # (table, column) → the rollback re-adds it
    filled: dict[str, set[str] | None]  # the copy's columns (None: all) into each new table
    # columns the copy fills with coalesce(col, 'literal'): never NULL (Django's AlterField)
    coalesced: dict[str, set[str]] = field(default_factory=dict)
    last_write: int = 0  # the last statement that may write rows (not a rebuild's own copy)


def _lost_objects(
    file: str, t: str, line: int, old: TableShape, new: TableShape, out: list[Finding]
) -> None:
    """What the old table had and the rebuilt one lacks (a dropped column's own index or
    foreign key goes with the column: DROP-COLUMN names that)."""
    lost: list[str] = []

    def kept(cols: tuple[str, ...]) -> bool:
        return all(c in new.columns for c in cols)

    for cols in sorted(old.uniques - new.uniques):
        if kept(cols):
            lost.append(f"UNIQUE ({', '.join(cols)})")
    for cols, name in sorted(old.indexes.items()):
        if kept(cols) and cols not in new.indexes and cols not in new.uniques:
            lost.append(f"index {name} ({', '.join(cols)})")
    for col, parent, to in sorted(old.foreign_keys - new.foreign_keys):
        if kept((col,)):
            lost.append(f"foreign key {col} → {parent}" + (f"({to})" if to else ""))
    lost.extend(f"trigger {name}" for name in sorted(old.triggers - new.triggers))
    for what in lost:
        why = f"the rebuild of {t} loses {what}: it is not re-created on the new table"
        out.append(_f("REBUILD-LOSES-OBJECTS", file, line, why))


def _columns(
    facts: RebuildFacts, t: str, line: int, old: TableShape, new: TableShape, out: list[Finding]
) -> None:
    file = facts.file
    for col, (typ, notnull) in old.columns.items():
        if col not in new.columns:
            why = f"the rebuild of {t} drops column {col} and its values"
            sev: Severity | None = "warning" if facts.restores(t, col) else None
            out.append(_f("DROP-COLUMN", file, line, why, sev))
            continue
        new_typ, new_nn = new.columns[col]
        if new_typ != typ and not _widened(typ, new_typ):
            why = f"the rebuild of {t} changes {col} from {typ or '(none)'} to {new_typ}"
            out.append(_f("COLUMN-TYPE-CHANGE", file, line, why))
        if new_nn and not notnull and col not in facts.coalesced.get(t, set()):
            why = f"the rebuild of {t} adds NOT NULL to {col}, which holds rows already"
            out.append(_f("SET-NOT-NULL", file, line, why))
    filled = facts.filled.get(t, set())
    for col, (_, notnull) in new.columns.items():
        if col in old.columns or not notnull or col in new.defaults:
            continue
        if filled is None or col in filled:
            continue  # the copy gives every row a value (Django's rebuild), as a DEFAULT would
        why = (
            f"the rebuild of {t} adds {col} NOT NULL without a default, and its copy of the "
            "rows does not fill it: the copy fails on a table with rows"
        )
        out.append(_f("ADD-COLUMN-NOT-NULL", file, line, why))


def _null_in_every_row(
    facts: RebuildFacts, t: str, col: str, old: TableShape, new: TableShape
) -> bool:
    """``col`` is new in the rebuild of ``t``, nullable, with no default, not filled by the
    copy, and nothing written since (drizzle-kit's ``__new_students`` gaining ``nisn`` and
    its ``students_nisn_unique``): it is NULL in every row."""
    filled = facts.filled.get(t, set())
    if col in old.columns or col not in new.columns or filled is None or col in filled:
        return False
    return (
        not new.columns[col][1]
        and col not in new.defaults
        and (facts.last_write < facts.lines.get(t, 1))
    )


def rebuild_findings(facts: RebuildFacts, replay: Replay) -> list[Finding]:
    """Compare each rebuilt table with what it was before the migration."""
    out: list[Finding] = []
    for t, old in facts.before.items():
        new = replay.shape(t)
        if new is None:
            continue
        line = facts.lines.get(t, 1)
        _columns(facts, t, line, old, new, out)
        _lost_objects(facts.file, t, line, old, new, out)
        for cols in sorted(new.uniques - old.uniques):
            if any(_null_in_every_row(facts, t, c, old, new) for c in cols):
                continue  # NULLs are distinct: no row can fail it
            why = f"the rebuild of {t} adds UNIQUE ({', '.join(cols)})"
            out.append(_f("ADD-UNIQUE", facts.file, line, why))
        for chk in sorted(new.checks - old.checks):
            why = f"the rebuild of {t} adds CHECK ({chk})"
            out.append(_f("ADD-CHECK", facts.file, line, why))
    return out


_LEGACY_ON = re.compile(r"^(?:1|on|true|yes)$", re.IGNORECASE)


def legacy_alter_table(name: str, value: str) -> bool | None:
    """For a ``PRAGMA name = value``: whether it turns legacy_alter_table on (None: another
    pragma)."""
    if name != "legacy_alter_table":
        return None
    return bool(_LEGACY_ON.match(value))


def renames_refused(file: str, line: int, target: str, replay: Replay) -> list[Finding]:
    """SQLITE-DANGLING-VIEW for an ALTER TABLE … RENAME (of ``target``'s table or a column)
    while a view or trigger names a dropped table (one the rename itself brings back is a
    rebuild's, named by REBUILD-BREAKS-VIEW)."""
    out: list[Finding] = []
    for (kind, name), gone in sorted(replay.dangling.items()):
        if gone == target.lower():
            continue
        why = (
            f"{kind} {name} still names {gone}, which is dropped: SQLite refuses this RENAME "
            f"(error in {kind} {name}: no such table: main.{gone}) and the migration fails"
        )
        out.append(_f("SQLITE-DANGLING-VIEW", file, line, why))
    return out


def left_dangling(
    file: str, dropped: dict[tuple[str, str], tuple[str, int]], replay: Replay
) -> list[Finding]:
    """SQLITE-DANGLING-VIEW at each DROP TABLE of this migration that leaves a view or trigger
    naming the table at its end (``dropped``: (kind, name) → (table, line of the DROP))."""
    out: list[Finding] = []
    for (kind, name), (table, line) in sorted(dropped.items()):
        if replay.dangling.get((kind, name)) == table:
            why = (
                f"DROP TABLE {table} leaves {kind} {name} naming it: reading it fails, and "
                "SQLite refuses every later ALTER TABLE … RENAME while it is there"
            )
            out.append(_f("SQLITE-DANGLING-VIEW", file, line, why))
    return out


_SIZED = re.compile(r"^\s*([A-Za-z][A-Za-z ]*?)\s*\(\s*(\d+)\s*\)\s*$")
_TEXT_TYPES = ("CHAR", "VARCHAR", "CHARACTER", "CHARACTER VARYING", "NVARCHAR", "NCHAR")


def _widened(old: str, new: str) -> bool:
    """A text column's length only raised (``VARCHAR(255)`` → ``VARCHAR(320)`` or ``TEXT``, as
    Knex and Prisma rebuild a table for ``.alter()``): SQLite stores the same values either way
    and PostgreSQL changes only the catalog, so no reader or writer can break."""
    m = _SIZED.match(old or "")
    if m is None or " ".join(m[1].upper().split()) not in _TEXT_TYPES:
        return False
    if " ".join(new.upper().split()) == "TEXT":
        return True
    n = _SIZED.match(new)
    return n is not None and n[1].upper() == m[1].upper() and int(n[2]) >= int(m[2])


_SELECT_LIST = re.compile(r"\bSELECT\s+(?P<list>.*?)\s+FROM\b", re.IGNORECASE | re.DOTALL)
_COALESCE = re.compile(r"^\s*(?:coalesce|ifnull)\s*\((?P<args>.*)\)\s*$", re.IGNORECASE | re.DOTALL)
_NOT_NULL_LITERAL = re.compile(
    r"^\s*(?:'(?:[^']|'')*'|[-+]?\d+(?:\.\d+)?|TRUE|FALSE|CURRENT_(?:TIMESTAMP|DATE|TIME))\s*$",
    re.IGNORECASE,
)


# Prisma names each copied value (``coalesce("title", '') AS "title"``).
_ALIAS = re.compile(rf"\s+AS\s+{IDENT}\s*$", re.IGNORECASE)


def coalesced_columns(text: str, columns: tuple[str, ...]) -> set[str]:
    """The columns of ``INSERT INTO t (columns) SELECT …`` whose value is ``coalesce(x,
    'literal')`` (or ``ifnull``): never NULL, as Django's rebuild for AlterField(null=False)
    and Prisma's for a column made required with a default write it into the copy. Folded
    names."""
    m = _SELECT_LIST.search(strip_comments(text))
    if m is None or not columns:
        return set()
    out: set[str] = set()
    for column, expr in zip(columns, split_top_level(m["list"]), strict=False):
        c = _COALESCE.match(_ALIAS.sub("", expr))
        if c is not None and _NOT_NULL_LITERAL.match(split_top_level(c["args"])[-1]):
            out.add(key(column))
    return out
