"""The lint's gaps found in session 24 around renames: a chain of renames (a → b → c) followed
by plain `lint` and `lint --all` alike, PostgreSQL's rename-first rebuild (the children's keys
follow the table's OID to the old copy), and D1's own rules on rollback files. Each through the
CLI on real files, and shown on a real database where the database can show it."""

from __future__ import annotations

import json
import sqlite3

from malnu_tui.engine.files import discover
from malnu_tui.engine.lint.core import lint_migrations

from tests.fixtures_core import MigrationDirs, run_cli
from tests.test_lint_realworld6 import OPENASIP_BASE
from tests.test_lint_realworld7 import MAKE_AGAIN, RENAME_ASIDE

MOVED = "SQLITE-RENAME-MOVES-KEYS"


def _lint(url: str, mdirs: MigrationDirs, *args: str) -> tuple[int, dict[str, object]]:
    r = run_cli("--database", url, *mdirs.args(), "lint", "--json", *args)
    assert r.code in (0, 1), r.out + r.err
    return r.code, json.loads(r.out)


def _found(report: dict[str, object], rule: str) -> list[tuple[object, ...]]:
    findings = report["findings"]
    assert isinstance(findings, list)
    return [(f["file"], f["line"], f["severity"]) for f in findings if f["rule"] == rule]


ARCHIVE = "ALTER TABLE operation_implementation_old RENAME TO operation_implementation_archive;"
AGAIN_FROM_ARCHIVE = (
    MAKE_AGAIN.replace("_old;", "_archive;") + "\nDROP TABLE operation_implementation_archive;"
)
REBUILD_C = (
    "ALTER TABLE c RENAME TO c_old;\nCREATE TABLE c (id INTEGER PRIMARY KEY, name TEXT);\n"
    "INSERT INTO c (id, name) SELECT id, name FROM c_old;\nDROP TABLE c_old;"
)


def _in_process(mdirs: MigrationDirs, applied: int) -> list[list[tuple[object, ...]]]:
    """SQLITE-RENAME-MOVES-KEYS of `lint --all` and of plain `lint` (the first ``applied``
    migrations run on a real SQLite file, the rest linted on its schema), in process."""
    mset = discover(mdirs.migrations, mdirs.rollback, "sqlite")
    db = sqlite3.connect(":memory:")
    for m in mset.migrations[:applied]:
        db.executescript(m.read_text())
    live = [r[0] for r in db.execute(
        "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY type = 'table' DESC, rowid"
    )]  # fmt: skip
    db.close()
    pending = [m.filename for m in mset.migrations[applied:]]
    out = []
    for report in (
        lint_migrations(mset, dialect="sqlite"),
        lint_migrations(mset, pending, dialect="sqlite", base_schema=live, live=True),
    ):
        out.append([(f.file, f.line, f.severity) for f in report.findings if f.rule == MOVED])
    return out


def test_a_chain_of_applied_renames_is_followed_by_plain_lint_and_all(
    sqlite_url: str, mdirs: MigrationDirs
) -> None:
    # A table moved aside (a → a_old), the old copy renamed on (a_old → a_archive), both
    # applied; the pending migration makes a again from a_archive and drops it. `lint --all`
    # named it; plain `lint` (and `up`'s gate) followed only one applied rename, lost the
    # chain, and was clean. And the other way round: a → b → c applied, c rebuilt
    # rename-first: plain `lint` named it, `lint --all` did not (its replay left the child's
    # REFERENCES naming a, where SQLite rewrote it to b, then c).
    mdirs.add("20250101_000100", "base", OPENASIP_BASE, "SELECT 1;")
    mdirs.add("20250101_000200", "aside", RENAME_ASIDE, "SELECT 1;")
    mdirs.add("20250101_000300", "archive", ARCHIVE, "SELECT 1;")
    mdirs.add("20250101_000400", "again", AGAIN_FROM_ARCHIVE, "SELECT 1;")
    up = ("up", "--no-backup", "--to", "20250101_000300")
    assert run_cli("--database", sqlite_url, *mdirs.args(), *up).code == 0
    code, report = _lint(sqlite_url, mdirs)
    assert code == 1, report
    assert _found(report, MOVED) == [("20250101_000400_again.sql", 1, "error")], report
    why = str(report["findings"])
    assert "that 20250101_000200_aside.sql:1 renamed to operation_implementation_archive" in why
    assert _in_process(mdirs, 3) == [[("20250101_000400_again.sql", 1, "error")]] * 2

    chain = MigrationDirs(mdirs.root / "chain")
    chain.add("20250101_000100", "base", OPENASIP_BASE, "SELECT 1;")
    chain.add("20250101_000200", "ab", "ALTER TABLE operation_implementation RENAME TO b;",
              "SELECT 1;")  # fmt: skip
    chain.add("20250101_000300", "bc", "ALTER TABLE b RENAME TO c;", "SELECT 1;")
    chain.add("20250101_000400", "rebuild", REBUILD_C, "SELECT 1;")
    assert _in_process(chain, 3) == [[("20250101_000400_rebuild.sql", 1, "error")]] * 2
    # Measured: the child's key follows the chain to c, then to c_old, which the DROP removes.
    db = sqlite3.connect(":memory:")
    for m in discover(chain.migrations, chain.rollback, "sqlite").migrations:
        db.executescript(m.read_text())
    (sql,) = db.execute(
        "SELECT sql FROM sqlite_master WHERE name = 'operation_implementation_variable'"
    ).fetchone()
    db.close()
    assert 'REFERENCES "c_old"' in sql
