"""Rules that exist because a migration runs in one transaction: what a statement locks is held
until the commit (an explicit LOCK, every row of an unbounded UPDATE, the lock of an ADD … NOT
VALID that a VALIDATE in the same migration then scans under), and what cannot run in a
transaction at all (VACUUM)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from malnu_tui.engine.lint.model import LARGE_TABLE_ROWS, Finding, Rule, Severity
from malnu_tui.engine.lint.names import fold
from malnu_tui.engine.lint.ops import IDENT, QNAME, Op, key, strip_comments
from malnu_tui.engine.lint.pg_enum import NewEnumValues
from malnu_tui.engine.lint.rules import register
from malnu_tui.engine.sqlsplit import Statement

__all__ = [
    "PG_INDEX_LOCK_RULES",
    "PG_LOCKING_RULES",
    "TRANSACTION_RULES",
    "LiveStorage",
    "OneTransaction",
]

TRANSACTION_RULES = (
    Rule(
        "LOCK-TABLE",
        "warning",
        "explicit LOCK of an existing table",
        "the lock is held until the migration commits: from SHARE mode up every write to the "
        "table waits, and in ACCESS EXCLUSIVE (LOCK's default) every read too",
        "leave the locking to the statements that need it (each takes the weakest lock it "
        "can); if the table must be frozen, keep that migration to the one change, with a "
        "lock_timeout, and accept it with `-- lint:ignore LOCK-TABLE why`",
    ),
    Rule(
        "UPDATE-ALL-ROWS",
        "warning",
        "UPDATE without WHERE on an existing table (a backfill inside the migration)",
        "every row is rewritten in the migration's one transaction: PostgreSQL keeps each "
        "updated row locked until the commit (the app's writes to them wait), SQLite and D1 "
        "hold the database's write lock throughout (and D1 stops a statement that runs long)",
        "backfill in batches outside the migration (a script or job that updates a range of "
        "keys per transaction); for a small table, accept it with "
        "`-- lint:ignore UPDATE-ALL-ROWS why`",
    ),
    Rule(
        "PG-VALIDATE-IN-SAME-MIGRATION",
        "warning",
        "VALIDATE CONSTRAINT in the migration that adds it NOT VALID",
        "NOT VALID gains nothing here: the ADD's lock (ACCESS EXCLUSIVE for a CHECK, SHARE ROW "
        "EXCLUSIVE on both tables for a FOREIGN KEY) is held until the commit, so the "
        "validation scans the table while the app waits, as if NOT VALID were not there",
        "VALIDATE CONSTRAINT in a later migration: alone, it takes a lock that lets reads and "
        "writes go on while it scans",
    ),
    Rule(
        "VACUUM-IN-MIGRATION",
        "error",
        "VACUUM in a migration",
        "VACUUM cannot run inside a transaction (PostgreSQL and SQLite both refuse it), and "
        "each migration runs in one: the migration fails; VACUUM FULL would also rewrite the "
        "table under ACCESS EXCLUSIVE",
        "leave VACUUM to autovacuum, or run it by hand (VACUUM FULL in a maintenance window); "
        "ANALYZE may stay in the migration",
    ),
)
PG_LOCKING_RULES = (
    Rule(
        "PG-REFRESH-NOT-CONCURRENT",
        "warning",
        "REFRESH MATERIALIZED VIEW without CONCURRENTLY",
        "the refresh takes ACCESS EXCLUSIVE on the view: every read of it waits while the "
        "query re-runs, and in a migration until the commit",
        "REFRESH MATERIALIZED VIEW CONCURRENTLY, which lets reads go on (it needs a UNIQUE "
        "index on the view and a populated view; unlike CREATE INDEX CONCURRENTLY it runs in "
        "the migration's transaction), or refresh outside the migration on a schedule",
    ),
    Rule(
        "PG-CLUSTER",
        "warning",
        "CLUSTER in a migration",
        "CLUSTER rewrites the table in index order under ACCESS EXCLUSIVE: every read and "
        "write of it waits for the whole rewrite and, in a migration, until the commit (and a "
        "table never clustered before, with no USING, fails); a bare CLUSTER cannot run "
        "inside a transaction at all, so the migration fails",
        "leave the physical order to a maintenance window (run CLUSTER, or pg_repack, by "
        "hand); an index gives the order a query needs without rewriting the table",
    ),
    Rule(
        "PG-SET-STORAGE-REWRITE",
        "warning",
        "ALTER TABLE … SET LOGGED, SET UNLOGGED, SET TABLESPACE or SET ACCESS METHOD of an "
        "existing table (ALTER MATERIALIZED VIEW … SET TABLESPACE or ACCESS METHOD, ALTER "
        "INDEX … SET TABLESPACE), unless it is already so",
        "the whole table is rewritten (SET LOGGED also writes every row to the WAL, SET "
        "TABLESPACE copies every block and the indexes' with ALL IN TABLESPACE) under ACCESS "
        "EXCLUSIVE: every read and write of it waits for the whole copy and, in a migration, "
        "until the commit; SET UNLOGGED also loses the table's rows at a crash and leaves it "
        "out of replicas; a table already in that state is left as it is",
        "do it in a maintenance window, by hand or in a migration of its own with a "
        "lock_timeout, and accept it with `-- lint:ignore PG-SET-STORAGE-REWRITE why`; to move "
        "a big table online, copy it with pg_repack (--tablespace) or logical replication",
    ),
)
PG_INDEX_LOCK_RULES = (
    Rule(
        "PG-DROP-INDEX-NOT-CONCURRENT",
        "warning",
        "DROP INDEX without CONCURRENTLY of an existing index",
        "DROP INDEX takes ACCESS EXCLUSIVE on the index's table and holds it until the "
        "migration commits: every read and write of the table waits (and, while it waits for "
        "a long query to finish, every later query queues behind it)",
        "DROP INDEX CONCURRENTLY in a migration of its own (up runs it outside a transaction, "
        "after the others): reads and writes go on",
    ),
    Rule(
        "PG-REINDEX",
        "warning",
        "REINDEX without CONCURRENTLY in a migration",
        "REINDEX rebuilds the index while its table's writes wait, and reads that would use "
        "the index wait too, until the migration commits; REINDEX SCHEMA, DATABASE and SYSTEM "
        "cannot run inside a transaction at all, so the migration fails",
        "REINDEX … CONCURRENTLY in a migration of its own (up runs it outside a transaction), "
        "or by hand; a new index needs no REINDEX",
    ),
)
register(*TRANSACTION_RULES, *PG_LOCKING_RULES, *PG_INDEX_LOCK_RULES)
_BY_ID = {r.id: r for r in (*TRANSACTION_RULES, *PG_LOCKING_RULES, *PG_INDEX_LOCK_RULES)}
# LOCK modes that the running app's reads and writes (ACCESS SHARE, ROW EXCLUSIVE) wait for.
_BLOCKING_MODES = {"SHARE", "SHARE ROW EXCLUSIVE", "EXCLUSIVE", "ACCESS EXCLUSIVE"}
TableRows = Callable[[str], "int | None"]
_SET_STORAGE = re.compile(
    rf"^(?:IN\s+TABLESPACE\s+(?P<all>{IDENT})\s+(?:OWNED\s+BY\s+.*?\s+)?)?(?P<what>SET\s+"
    rf"(?:(?P<logged>LOGGED|UNLOGGED)|TABLESPACE\s+(?P<space>{IDENT})|ACCESS\s+METHOD\s+"
    rf"(?P<am>{IDENT})))(?:\s+NOWAIT)?\s*$",
    re.IGNORECASE | re.DOTALL,
)
# ALTER MATERIALIZED VIEW / ALTER INDEX … SET TABLESPACE or ACCESS METHOD: a rewrite too.
_ALTER_REL = re.compile(
    rf"^ALTER\s+(?P<kind>MATERIALIZED\s+VIEW|INDEX)\s+(?:IF\s+EXISTS\s+)?(?:{QNAME}\s+"
    rf"(?=SET\b)|ALL\s+)(?P<rest>.*)$",
    re.IGNORECASE | re.DOTALL,
)
StorageState = tuple[str, str, str]  # (relpersistence p/u, tablespace, access method)


class LiveStorage:
    """A relation's storage in the live PostgreSQL database (``ask``: name → its
    relpersistence, tablespace and access method, or None), as the linted migrations change
    it: a SET … seen is what the next statement finds; a table created, dropped or renamed
    by them is unknown."""

    def __init__(self, ask: Callable[[str], StorageState | None]) -> None:
        self.ask = ask
        self.seen: dict[str, StorageState | None] = {}

    def state(self, name: str) -> StorageState | None:
        k = key(name)
        if k not in self.seen:
            self.seen[k] = self.ask(name)
        return self.seen[k]

    def forget(self, *names: str) -> None:
        for name in names:
            self.seen[key(name)] = None

    def already(self, name: str, m: re.Match[str]) -> bool | None:
        """Whether ``name`` is already what SET … of ``m`` makes it (None: unknown); the
        state is then what the statement leaves."""
        now = self.state(name)
        if now is None:
            return None
        persistence, space, am = now
        if m["logged"]:
            want = "p" if m["logged"].upper() == "LOGGED" else "u"
            done, persistence = persistence == want, want
        elif m["space"]:
            done, space = key(space) == key(m["space"]), key(m["space"])
        else:
            done, am = key(am) == key(m["am"]), key(m["am"])
        self.seen[key(name)] = (persistence, space, am)
        return done


def _unless(m: re.Match[str]) -> str:
    if m["logged"]:
        return f"unless it is already {m['logged'].lower()}"
    if m["space"]:
        return f"unless it is already in tablespace {m['space']}"
    return f"unless it already uses access method {m['am']}"


def _finding(
    rule_id: str, file: str, line: int, why: str, severity: Severity | None = None
) -> Finding:
    r = _BY_ID[rule_id]
    return Finding(rule_id, severity or r.severity, file, line, why, r.instead)


@dataclass
class OneTransaction:
    """One migration's statements as one transaction sees them (``created``: the tables this
    migration creates, kept by the runner, which are new and empty)."""

    file: str
    dialect: str
    created: dict[str, int] = field(default_factory=dict)  # (on PostgreSQL: as it folds)
    table_rows: TableRows | None = None
    not_valid: dict[str, tuple[str, int]] = field(default_factory=dict)  # name → (table, line)
    views: set[str] = field(default_factory=set)  # views this migration creates
    indexes: set[str] = field(default_factory=set)  # indexes this migration creates
    enums: NewEnumValues | None = None  # PostgreSQL: enum values this migration adds
    outside: bool = False  # a CONCURRENTLY file: `up` runs it outside a transaction
    storage: LiveStorage | None = None  # PostgreSQL, pending migrations: the live storage

    def see(self, st: Statement, op: Op, out: list[Finding]) -> None:
        if self.enums is not None and op.kind not in ("do", "with"):  # their parts are seen
            self.enums.see(st, op, out)
        if op.kind == "lock_table" and op.value in _BLOCKING_MODES:
            for i, name in enumerate(op.names):
                if fold(self.dialect, name, op.pg_of(i)) not in self.created:
                    blocks = "reads and writes" if op.value == "ACCESS EXCLUSIVE" else "writes"
                    why = (
                        f"LOCK {name} IN {op.value} MODE blocks the app's {blocks} on it until "
                        "the migration commits"
                    )
                    out.append(_finding("LOCK-TABLE", self.file, st.line, why))
        elif op.kind == "update_all" and self._old(op):
            where = f"whose WHERE ({op.value}) holds for every row" if op.value else "without WHERE"
            why, sev = self._sized(
                op.name, f"UPDATE {op.name} {where} rewrites every row in one transaction",
                "a short one",
            )  # fmt: skip
            out.append(_finding("UPDATE-ALL-ROWS", self.file, st.line, why, sev))
        elif op.kind == "alter_table" and self.dialect == "postgresql":
            self._validate(st, op, out)
            self._set_storage(st, op, out)
        elif op.kind == "create_view":
            self.views.add(op.key)
        elif op.kind == "create_index" and op.name:
            self.indexes.add(op.key)
        elif op.kind == "other" and self.dialect == "postgresql" and "SET" in st.text.upper():
            self._set_storage_other(st, out)
        if self.storage is not None and op.kind in ("create_table", "drop_table", "alter_table"):
            renamed = [a.new for a in op.actions if a.kind == "rename_table" and a.new]
            if op.kind != "alter_table" or renamed:
                self.storage.forget(op.name, *op.names, *renamed)
        elif op.kind in ("drop_index", "reindex") and self.dialect == "postgresql":
            self._index_lock(st, op, out)
        elif op.kind == "refresh_view" and self.dialect == "postgresql":
            self._refresh(st, op, out)
        elif op.kind == "cluster" and self.dialect == "postgresql":
            self._cluster(st, op, out)
        elif op.kind == "vacuum" and self.outside:  # (engine/concurrently.py) it runs there
            if op.value == "full":
                why = "VACUUM FULL rewrites the table under ACCESS EXCLUSIVE"
                out.append(_finding("VACUUM-IN-MIGRATION", self.file, st.line, why, "warning"))
        elif op.kind == "vacuum":
            what = "VACUUM FULL" if op.value == "full" else "VACUUM"
            why = f"{what} cannot run inside the migration's transaction: the migration fails"
            if op.value == "full":
                why += ", and it rewrites the table under ACCESS EXCLUSIVE"
            out.append(_finding("VACUUM-IN-MIGRATION", self.file, st.line, why))

    def _index_lock(self, st: Statement, op: Op, out: list[Finding]) -> None:
        if op.concurrently:
            return  # a migration of its own, outside a transaction (or PG-CONCURRENTLY-…)
        if op.kind == "drop_index":
            for name in op.names:
                if key(name) not in self.indexes:
                    why = f"DROP INDEX {name} blocks every read and write of its table until "
                    why += "the migration commits"
                    out.append(_finding("PG-DROP-INDEX-NOT-CONCURRENT", self.file, st.line, why))
        elif op.value in ("schema", "database", "system"):
            why = f"REINDEX {op.value.upper()} cannot run inside the migration's transaction: "
            why += "the migration fails"
            out.append(_finding("PG-REINDEX", self.file, st.line, why, "error"))
        elif op.key not in self.indexes if op.value == "index" else self._old(op):
            why = f"REINDEX {op.value.upper()} {op.name} blocks writes to its table, and reads "
            why += "that use the index, until the migration commits"
            out.append(_finding("PG-REINDEX", self.file, st.line, why))

    def _refresh(self, st: Statement, op: Op, out: list[Finding]) -> None:
        if op.concurrently or op.key in self.views:
            return  # reads go on; or a view of this migration, which nobody reads yet
        why = (
            f"REFRESH MATERIALIZED VIEW {op.name} blocks every read of {op.name} until the "
            "migration commits"
        )
        out.append(_finding("PG-REFRESH-NOT-CONCURRENT", self.file, st.line, why))

    def _cluster(self, st: Statement, op: Op, out: list[Finding]) -> None:
        if not op.name:
            why = "a CLUSTER of every table cannot run inside the migration's transaction: "
            why += "the migration fails"
            out.append(_finding("PG-CLUSTER", self.file, st.line, why, "error"))
        elif self._old(op):
            why, sev = self._sized(
                op.name, f"CLUSTER {op.name} rewrites it while every read and write of it waits",
                "a short lock",
            )  # fmt: skip
            out.append(_finding("PG-CLUSTER", self.file, st.line, why, sev))

    def _old(self, op: Op) -> bool:
        """Whether ``op``'s table is one this migration did not create."""
        return fold(self.dialect, op.name, op.pg_name) not in self.created

    def _set_storage(self, st: Statement, op: Op, out: list[Finding]) -> None:
        if not self._old(op):
            return  # a new table: empty, and nobody else reads it yet
        for a in op.actions:
            m = _SET_STORAGE.match(a.definition) if a.kind == "other" else None
            if m is not None:
                self._storage_finding(st, "TABLE", op.name, m, out)

    def _set_storage_other(self, st: Statement, out: list[Finding]) -> None:
        r = _ALTER_REL.match(strip_comments(st.text))
        m = _SET_STORAGE.match(r["rest"]) if r is not None else None
        if r is None or m is None or (r["name"] is None) != (m["all"] is not None):
            return
        kind = " ".join(r["kind"].upper().split())
        mine = self.indexes if kind == "INDEX" else self.views
        if r["name"] is not None and key(r["name"]) in mine:
            return  # made by this migration: nobody uses it yet
        self._storage_finding(st, kind, r["name"] or "all", m, out)

    def _storage_finding(
        self, st: Statement, kind: str, name: str, m: re.Match[str], out: list[Finding]
    ) -> None:
        what = " ".join(m["what"].split())
        if m["all"]:  # ALTER TABLE ALL IN TABLESPACE a SET TABLESPACE b
            if m["space"] is None or key(m["all"]) == key(m["space"]):
                return  # to the tablespace they are in: PostgreSQL moves nothing
            why = f"ALTER {kind} ALL IN TABLESPACE {m['all']} {what} copies every one there "
            why += "while every read and write of each waits"
            out.append(_finding("PG-SET-STORAGE-REWRITE", self.file, st.line, why))
            return
        already = self.storage.already(name, m) if self.storage is not None else None
        if already:
            return  # PostgreSQL leaves it as it is (measured: the same relfilenode)
        waits = "every query of its table" if kind == "INDEX" else "every read and write of it"
        why = f"ALTER {kind} {name} {what} rewrites it while {waits} waits"
        if already is None:
            why += f" ({_unless(m)}: then PostgreSQL does nothing)"
        why, sev = self._sized(name, why, "a short lock") if kind != "INDEX" else (why, None)
        out.append(_finding("PG-SET-STORAGE-REWRITE", self.file, st.line, why, sev))

    def _sized(self, table: str, why: str, short: str) -> tuple[str, Severity | None]:
        """``why`` and its severity: a note when the live table holds under
        ``LARGE_TABLE_ROWS`` rows (the default severity otherwise)."""
        rows = self.table_rows(table) if self.table_rows is not None else None
        if rows is not None and rows < LARGE_TABLE_ROWS:
            return f"{why} (about {rows} rows live now: {short})", "info"
        return why, None

    def _validate(self, st: Statement, op: Op, out: list[Finding]) -> None:
        if not self._old(op):
            return  # a new table: empty, and nobody else holds it
        for a in op.actions:
            if a.kind in ("add_check", "add_fk") and a.not_valid and a.new:
                self.not_valid[key(a.new)] = (op.name, st.line)
            elif a.kind == "validate" and key(a.new) in self.not_valid:
                table, line = self.not_valid[key(a.new)]
                why = (
                    f"{a.new} is added NOT VALID (line {line}) and validated in the same "
                    f"migration: the scan of {table} runs under the ADD's lock"
                )
                out.append(_finding("PG-VALIDATE-IN-SAME-MIGRATION", self.file, st.line, why))
