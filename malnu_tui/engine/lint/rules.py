"""The catalogue of lint rules: id, severity, and the generic why / what to do instead.

A finding carries its own specific text (the table, the column); the catalogue gives each
finding its severity and "instead", and is what the README's lint table lists (every rule
module registers its own rules here when imported).
"""

from __future__ import annotations

from malnu_tui.engine.lint.model import Finding, Rule, Severity

__all__ = ["RULES", "finding", "rule"]

_RULES = (
    Rule(
        "DROP-TABLE",
        "error",
        "DROP TABLE",
        "destroys a table and its rows; the running app still reads it until the next deploy",
        "expand/contract: stop using the table in one deploy, drop it in a later one; keep a "
        "rollback that re-creates it and copy the rows aside first (a backup covers the data)",
    ),
    Rule(
        "DELETE-ALL-ROWS",
        "error",
        "TRUNCATE, or DELETE without WHERE",
        "empties a table the running app still reads; only a backup brings the rows back",
        "delete only what the change needs (a WHERE, in batches); copy the rows aside first "
        "(CREATE TABLE … AS SELECT) if they may be needed",
    ),
    Rule(
        "DROP-COLUMN",
        "error",
        "DROP COLUMN",
        "destroys a column and its values; the running app still reads and writes it",
        "stop using the column in one deploy, drop it in a later one; the rollback re-adds it",
    ),
    Rule(
        "RENAME-TABLE",
        "warning",
        "RENAME TABLE",
        "the running app still uses the old name until it is redeployed",
        "expand/contract: create the new table (or a view with the new name), move the app, "
        "then drop the old one in a later deploy",
    ),
    Rule(
        "RENAME-COLUMN",
        "warning",
        "RENAME COLUMN",
        "the running app still uses the old column name until it is redeployed",
        "add the new column, write both, backfill in batches, move reads, drop the old later",
    ),
    Rule(
        "ADD-COLUMN-NOT-NULL",
        "error",
        "ADD COLUMN NOT NULL without a default",
        "fails on a table with rows (and the running app's INSERTs do not set the column)",
        "add the column with a DEFAULT, or nullable first, backfill in batches, then add "
        "NOT NULL in a later deploy",
    ),
    Rule(
        "SET-NOT-NULL",
        "error",
        "NOT NULL added to an existing column",
        "fails if any row holds NULL, and the running app may still write NULLs",
        "backfill in batches first and make the app write a value; on PostgreSQL add a "
        "CHECK (col IS NOT NULL) NOT VALID, VALIDATE it, then SET NOT NULL",
    ),
    Rule(
        "COLUMN-TYPE-CHANGE",
        "warning",
        "column type change",
        "rewrites the table under a lock and can fail or truncate existing values",
        "add a column of the new type, write both, backfill in batches, switch reads, then "
        "drop the old column in a later deploy",
    ),
    Rule(
        "ADD-UNIQUE",
        "warning",
        "UNIQUE added to an existing table",
        "data-dependent: fails if existing rows hold duplicates",
        "check for duplicates first (SELECT col, count(*) … HAVING count(*) > 1); on "
        "PostgreSQL build the unique index CONCURRENTLY and attach it",
    ),
    Rule(
        "ADD-CHECK",
        "warning",
        "CHECK added to an existing table",
        "data-dependent: fails if an existing row violates it",
        "check the rows first; on PostgreSQL add it NOT VALID, then VALIDATE CONSTRAINT",
    ),
    Rule(
        "REBUILD-LOSES-OBJECTS",
        "error",
        "SQLite table rebuild that does not re-create an index, foreign key or trigger",
        "DROP TABLE takes the old table's indexes and triggers with it, and the new table has "
        "only the constraints its CREATE TABLE declares: lost uniqueness, lost integrity, "
        "full scans",
        "after the RENAME, re-create every index and trigger of the old table, and declare its "
        "foreign keys in the new CREATE TABLE (SQLite's twelve-step ALTER procedure)",
    ),
    Rule(
        "PG-INDEX-NOT-CONCURRENT",
        "warning",
        "CREATE INDEX without CONCURRENTLY on an existing table",
        "blocks every write to the table while the index builds",
        "on a large table, use CREATE INDEX CONCURRENTLY in a migration of its own: it runs "
        "outside a transaction, and a failed or killed build is dropped",
    ),
    Rule(
        "PG-CONCURRENTLY-IN-TRANSACTION",
        "error",
        "CONCURRENTLY mixed with other statements, or an unnamed concurrent index",
        "a CONCURRENTLY statement runs outside a transaction, so a file that mixes it with "
        "others could not be undone half-way (and an unnamed index could not be found to drop "
        "after a failed build): up refuses the file",
        "put the CONCURRENTLY statements in a migration of their own (all CREATE INDEX "
        "CONCURRENTLY with named indexes, or one DROP INDEX CONCURRENTLY, or one REINDEX … "
        "CONCURRENTLY; session SETs and RESETs such as lock_timeout or maintenance_work_mem "
        "may stay)",
    ),
    Rule(
        "PG-LOCK-TIMEOUT",
        "warning",
        "a lock the app waits for, taken without lock_timeout",
        "an ALTER TABLE, a plain CREATE INDEX, CREATE TRIGGER or CREATE POLICY, a new foreign "
        "key (its parent too), DROP or TRUNCATE of an existing table waits for its lock "
        "behind long queries, and every query of the table queues behind it",
        "start the migration with SET lock_timeout = '5s' (or configure lock_timeout on the "
        "target) and retry on timeout",
    ),
    Rule(
        "NO-ROLLBACK",
        "error",
        "migration without a rollback file",
        "it cannot be undone with `malnu-tui rollback`",
        "write rollback/<version>_<name>.sql that reverses it, newest change first",
    ),
    Rule(
        "ROLLBACK-LEAVES-OBJECTS",
        "error",
        "rollback leaves objects the migration created",
        "after a rollback the schema is not what it was, and re-applying the migration fails",
        "drop every table, index, view, trigger and column the migration creates in its "
        "rollback (`malnu-tui test` checks this on a scratch copy)",
    ),
    Rule(
        "FILE-UNREADABLE",
        "error",
        "unreadable migration or rollback file",
        "the file cannot be split into statements",
        "fix the file at the line named",
    ),
)

RULES: dict[str, Rule] = {r.id: r for r in _RULES}


def rule(rule_id: str) -> Rule:
    """A rule of the catalogue (the D1 set registers its own with :func:`register`)."""
    return RULES[rule_id]


def register(*rules: Rule) -> None:
    """Add a rule set's rules to the catalogue (idempotent)."""
    for r in rules:
        RULES.setdefault(r.id, r)


def finding(
    rule_id: str, file: str, line: int, why: str, *, severity: Severity | None = None
) -> Finding:
    """A finding of ``rule_id`` at ``file``:``line``: its own ``why``, the catalogue's
    severity (or ``severity``) and "instead" (one helper for every rule module)."""
    r = RULES[rule_id]
    return Finding(rule_id, severity or r.severity, file, line, why, r.instead)
