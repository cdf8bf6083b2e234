"""Dry runs and the commands that only look (`plan`, `lint`) write nothing: no tool table
created in a new database, none of an earlier version's upgraded, no SQLite file created."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import psycopg

from tests.fixtures_core import MigrationDirs, run_cli, school_set
from tests.fixtures_d1 import D1Target

FIXTURES = Path(__file__).parent / "fixtures" / "upgrade"
LOOKS = (("up", "--dry-run"), ("rollback", "--dry-run"), ("recover", "--to", "now", "--dry-run"),
         ("plan",), ("lint",))  # fmt: skip


def _state(path: Path) -> tuple[str, int, list[str]]:
    """The file's bytes, its mtime and what is beside it (no -wal/-shm/-journal made)."""
    data = hashlib.sha256(path.read_bytes()).hexdigest()
    return data, path.stat().st_mtime_ns, sorted(p.name for p in path.parent.iterdir())


def test_dry_runs_write_nothing_to_sqlite(mdirs: MigrationDirs, tmp_path: Path) -> None:
    school_set(mdirs)
    old, fresh = tmp_path / "db" / "old.db", tmp_path / "db" / "fresh.db"
    old.parent.mkdir()
    conn = sqlite3.connect(old)  # the first release's tool tables (no audit index, no purpose)
    conn.executescript((FIXTURES / "84e3c15_sqlite_tool_tables.sql").read_text(encoding="utf-8"))
    conn.close()
    sqlite3.connect(fresh).close()
    before = {db: _state(db) for db in (old, fresh)}
    env = {"MALNU_BACKUP_DIR": str(tmp_path / "store")}

    for db in (old, fresh):
        for args in LOOKS:
            res = run_cli("--database", f"sqlite:///{db}", *mdirs.args(), *args, env=env)
            assert "Traceback" not in res.err and res.code in (0, 1), (args, res.err)
            assert _state(db) == before[db], (db.name, args, res.err)
    dry = run_cli("--database", f"sqlite:///{fresh}", *mdirs.args(), "up", "--dry-run")
    assert "3 migration(s) would run" in dry.err  # no tracking table: every one pending
    mistyped = tmp_path / "mistyped" / "path.db"
    res = run_cli("--database", f"sqlite:///{mistyped}", "recover", "--to", "now", "--dry-run")
    assert res.code == 2 and "does not exist" in res.err, res.err
    # What the first `up` would make: read as a new empty database, still not created.
    first = run_cli("--database", f"sqlite:///{mistyped}", *mdirs.args(), "up", "--dry-run")
    assert first.code == 0 and "3 migration(s) would run" in first.err, first.err
    assert not mistyped.parent.exists()


def test_dry_runs_create_no_tool_table_on_postgresql(mdirs: MigrationDirs, pg_url: str) -> None:
    school_set(mdirs)
    for args in LOOKS:
        res = run_cli("--database", pg_url, *mdirs.args(), *args)
        assert "Traceback" not in res.err and res.code in (0, 1), (args, res.err)
    with psycopg.connect(pg_url) as conn:
        made = conn.execute(
            "SELECT schemaname, tablename FROM pg_tables "
            "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
        ).fetchall()
    assert made == []  # was: migrations, malnu_audit, malnu_lock


def test_dry_runs_send_d1_no_write(mdirs: MigrationDirs, d1: D1Target) -> None:
    school_set(mdirs)
    first = len(d1.server.requests)
    for args in LOOKS:
        res = run_cli("--database", d1.url, *mdirs.args(), *args)
        assert "Traceback" not in res.err and res.code in (0, 1), (args, res.err)
    bodies = [r.body.upper() for r in d1.server.requests[first:]]
    writes = [b for b in bodies if any(w in b for w in ("CREATE ", "INSERT ", "ALTER ", "DROP "))]
    assert writes == [] and bodies, writes


def test_import_dry_run_leaves_an_applications_rollback_journal_file_as_it_was(
    tmp_path: Path,
) -> None:
    # It opened the target as a command that writes: the file was switched to WAL for good
    # (which an old application on it, or a network share, may not read) under "dry run:
    # nothing was written".
    db = tmp_path / "db" / "app.db"
    db.parent.mkdir()
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE users (email TEXT NOT NULL UNIQUE, name TEXT)")
    conn.commit()
    conn.close()
    (tmp_path / "u.csv").write_text("email,name\nsiti@sekolah.id,Siti\n", encoding="utf-8")
    before = _state(db)

    res = run_cli("--database", f"sqlite:///{db}", "import", str(tmp_path / "u.csv"),
                  "--table", "users", "--dry-run")  # fmt: skip
    assert res.code == 0 and "nothing was written" in res.err, res.err
    assert _state(db) == before
    assert sqlite3.connect(db).execute("PRAGMA journal_mode").fetchone() == ("delete",)
