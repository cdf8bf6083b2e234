"""SQLite's own rules (D1 is SQLite): what SQLite's ALTER TABLE refuses only when the table holds
rows, so a migration that passes on a fresh database, and in ``malnu-tui test``'s empty scratch
copy, fails on production's."""

from __future__ import annotations

import re
import sqlite3

from malnu_tui.engine.lint.model import Rule
from malnu_tui.engine.lint.ops import Op
from malnu_tui.engine.lint.rules import register

__all__ = [
    "ALTER_UNSUPPORTED",
    "CONCURRENTLY",
    "REBUILD_FK_ON",
    "SQLITE_RULES",
    "add_column_refusal",
    "alter_refusal",
    "concurrently_refusal",
]

SQLITE_RULES = (
    Rule(
        "SQLITE-ADD-COLUMN-REFUSED",
        "error",
        "ADD COLUMN that SQLite refuses on a table with rows",
        "SQLite (and D1) adds a column to a table with rows only with a plain constant "
        "default: CURRENT_TIMESTAMP, CURRENT_DATE, an expression such as (datetime('now')), a "
        "REFERENCES column with a non-NULL default, a STORED generated column, or a CHECK "
        "that the default (or NULL) fails are refused there, while the same statement runs "
        "on an empty table (a fresh database, a test run): the migration fails in production "
        "only",
        "add the column nullable (or with a constant default), then fill it with an UPDATE "
        "(in batches) and let the app, or a trigger, set it for new rows; or rebuild the "
        "table (create the new one, copy, drop, rename) when the default must be an "
        "expression; a generated column can be VIRTUAL",
    ),
    Rule(
        "SQLITE-DROP-COLUMN-REFUSED",
        "error",
        "DROP COLUMN that SQLite refuses",
        "SQLite (and D1) drops a column only when nothing else in the schema uses it: not a "
        "PRIMARY KEY or UNIQUE column, not one an index, a CHECK, a generated column, a view "
        "or a trigger names (error in view v after drop column: no such column): the "
        "migration fails at that statement",
        "drop or re-create what uses the column first (DROP INDEX, DROP VIEW and re-create it "
        "without the column), or rebuild the table without it",
    ),
)
REBUILD_FK_ON = Rule(
    "SQLITE-REBUILD-FOREIGN-KEYS-ON",
    "error",
    "table rebuild with foreign keys on",
    "a rebuild's DROP TABLE of a table other tables reference runs its implicit DELETE with "
    "foreign keys on when the file does not turn them off: ON DELETE CASCADE deletes the "
    "children's rows, SET NULL unlinks them, and RESTRICT, NO ACTION or a DEFERRABLE key "
    "fails the migration (at the DROP, or at its COMMIT); Django's sqlmigrate output leaves "
    "the pragma out (Django turns the checks off on its own connection)",
    "put PRAGMA foreign_keys = OFF; before the rebuild (and = ON after it), as sqlite.org's "
    "procedure and Prisma write it: the tool turns the checks off before the migration's "
    "transaction and runs PRAGMA foreign_key_check before its COMMIT",
)
CONCURRENTLY = Rule(
    "SQLITE-CONCURRENTLY",
    "error",
    "CONCURRENTLY in a SQLite-dialect file",
    "SQLite (and D1) has no CONCURRENTLY: it reads the word as the index's name, so CREATE "
    "INDEX CONCURRENTLY name ON …, DROP INDEX CONCURRENTLY name and REINDEX … CONCURRENTLY "
    "are syntax errors and the migration fails (an unnamed CREATE INDEX CONCURRENTLY ON t "
    "makes an index called CONCURRENTLY)",
    "leave CONCURRENTLY out: SQLite builds the index in the migration's transaction, and a "
    'PostgreSQL mirror of the set (dialect = "sqlite") runs what the file says; keep '
    "CONCURRENTLY for a PostgreSQL-dialect set",
)
ALTER_UNSUPPORTED = Rule(
    "SQLITE-ALTER-UNSUPPORTED",
    "error",
    "an ALTER TABLE form SQLite does not have",
    "SQLite's (and D1's) ALTER TABLE does one thing per statement: RENAME TO, RENAME COLUMN, "
    "ADD COLUMN or DROP COLUMN. ALTER COLUMN (TYPE, SET/DROP NOT NULL, SET DEFAULT), ADD/DROP "
    "CONSTRAINT, ADD UNIQUE/CHECK/PRIMARY KEY/FOREIGN KEY and several actions joined by commas "
    "(PostgreSQL's and MySQL's forms) are syntax errors: the migration fails",
    "one ADD COLUMN or DROP COLUMN per statement; for anything else rebuild the table (create "
    "the new one, copy, drop, rename: sqlite.org's twelve steps), or a UNIQUE index for a "
    "UNIQUE constraint",
)
register(*SQLITE_RULES, REBUILD_FK_ON, CONCURRENTLY, ALTER_UNSUPPORTED)
_SQLITE_ACTIONS = ("add_column", "drop_column", "rename_table", "rename_column")
_LABELS = {
    "alter_type": "ALTER COLUMN … TYPE",
    "set_not_null": "ALTER COLUMN … SET NOT NULL",
    "add_unique": "ADD UNIQUE",
    "add_check": "ADD CHECK",
    "add_pk": "ADD PRIMARY KEY",
    "add_fk": "ADD FOREIGN KEY",
    "add_exclude": "ADD EXCLUDE",
    "attach_index": "ADD … USING INDEX",
    "validate": "VALIDATE CONSTRAINT",
    "drop_constraint": "DROP CONSTRAINT",
    "set_schema": "SET SCHEMA",
}
_NOT_SQLITE = re.compile(r"^\s*(?:ALTER|SET)\b", re.IGNORECASE)

# What makes SQLite refuse ADD COLUMN only when the table has rows (its own messages).
_SUSPECT = re.compile(r"\bDEFAULT\b|\bREFERENCES\b|\bSTORED\b|\bCHECK\b", re.IGNORECASE)
_REFUSALS = (
    "non-constant default",
    "REFERENCES column with non-NULL default",
    "cannot add a STORED column",
    "CHECK constraint failed",  # (3.37+) a CHECK the default, or NULL, fails on each row
)


def alter_refusal(op: Op) -> str | None:
    """Why SQLite refuses ``op``, an ALTER TABLE in a form it does not have; None otherwise."""
    if op.kind != "alter_table":
        return None
    if len(op.actions) > 1:
        return (
            f"SQLite does one action per ALTER TABLE: {op.name}'s {len(op.actions)}, joined "
            "by commas, are a syntax error and the migration fails"
        )
    for a in op.actions:
        if a.kind in _SQLITE_ACTIONS or (a.kind == "other" and not _NOT_SQLITE.match(a.definition)):
            continue
        what = _LABELS.get(a.kind) or " ".join(a.definition.split()[:3]) + " …"
        return f"SQLite has no ALTER TABLE … {what}: a syntax error, the migration fails"
    return None


def concurrently_refusal(op: Op) -> str | None:
    """Why SQLite fails (or misreads) ``op``, an index statement with CONCURRENTLY; None for
    any other statement."""
    if not op.concurrently or op.kind not in ("create_index", "drop_index", "reindex"):
        return None
    verb = {"create_index": "CREATE INDEX", "drop_index": "DROP INDEX"}.get(op.kind, "REINDEX")
    if op.kind == "create_index" and not op.name:
        return (
            f"SQLite reads CREATE INDEX CONCURRENTLY ON {op.table} as an index named "
            "CONCURRENTLY: the next such file fails (index CONCURRENTLY already exists)"
        )
    return f"SQLite has no {verb} … CONCURRENTLY: a syntax error, the migration fails"


def add_column_refusal(column: str, definition: str) -> str | None:
    """SQLite's message when it refuses ``ADD COLUMN column definition`` on a table with rows
    (asked of SQLite itself, on a scratch table holding one row); None when it adds it."""
    if not _SUSPECT.search(definition):
        return None
    con = sqlite3.connect(":memory:")
    try:
        con.execute("PRAGMA foreign_keys = ON")  # as on D1, and as the app's connections run
        con.execute("CREATE TABLE t (x)")
        con.execute("INSERT INTO t VALUES (1)")
        name = '"' + column.replace('"', '""') + '"'
        con.execute(f"ALTER TABLE t ADD COLUMN {name} {definition}")
    except (sqlite3.Error, sqlite3.Warning, ValueError) as exc:
        message = str(exc)
        return message if any(r in message for r in _REFUSALS) else None
    finally:
        con.close()
    return None
