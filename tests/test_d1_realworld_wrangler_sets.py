"""Two wrangler D1 sets written for this project (tests/realworld/README.md): ``d1_app_like``,
a school office's admin app in five files (a `DROP TABLE IF EXISTS` before each CREATE, `AFTER
UPDATE` triggers that stamp their own row, a partial unique index, login tables with one named
``user``, camelCase columns and ``unixepoch()`` defaults), and ``d1_small_like``, a class
newsletter and blog in three (``datetime('now')`` text defaults, ``ADD COLUMN``, a ``DESC``
index). Put through what an operator switching from wrangler runs: the rename the bad-name hint
asks for, ``lint --all`` in the wrangler project, ``up`` on a SQLite file, ``parity`` on
PostgreSQL, a ``sync`` of rows into PostgreSQL, a backup and its restore; and ``up``, a new
migration with its rollback, ``rollback`` and ``status`` on the D1 stand-in."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import psycopg

from tests.fixtures_core import MigrationDirs, run_cli
from tests.fixtures_d1 import D1Target

SETS = Path(__file__).parent / "realworld"
# Both sets in one wrangler project (one lint, one `up`, one parity), each renamed under its day.
SETS_DAYS = [("d1_app_like", "20240101"), ("d1_small_like", "20240102")]
TABLES = 16
# The findings of `lint --all` beside each file's NO-ROLLBACK: each of the app's `DROP TABLE IF
# EXISTS` of a table no earlier file makes, a note only.
FINDINGS = [
    ("DROP-TABLE", f"20240101_00000{n}", line)
    for n, lines in ((1, [2]), (2, [2, 3]), (3, [2]), (4, [2, 3, 4, 5]), (5, [2, 3]))
    for line in lines
]


def _renamed(name: str, day: str = "20240101") -> str:
    """The bad-name hint's rename: ``0004_create_auth_tables.sql`` →
    ``20240101_000004_create_auth_tables.sql``."""
    number, rest = name.split("_", 1)
    return f"{day}_{int(number):06d}_{rest}"


def _project(root: Path, name: str, sets: list[tuple[str, str]]) -> MigrationDirs:
    d = MigrationDirs(root / name)
    d.migrations.mkdir(parents=True)
    d.rollback.mkdir()
    for set_name, day in sets:
        for f in sorted((SETS / set_name / "migrations").glob("*.sql")):
            shutil.copyfile(f, d.migrations / _renamed(f.name, day))
    (d.root / "wrangler.jsonc").write_text(
        '{\n  "name": "x", // wrangler.jsonc allows comments\n  "d1_databases": [{"binding": "DB", '
        '"database_name": "DB", "database_id": "0", "migrations_dir": "migrations"}],\n}\n',
        encoding="utf-8",
    )
    return d


def test_lint_up_parity_sync_backup_on_sqlite_and_postgresql(tmp_path: Path, pg_url: str) -> None:
    d = _project(tmp_path, "office", SETS_DAYS)
    res = run_cli(*d.args(), "lint", "--all", "--json", cwd=d.root)
    report = json.loads(res.out)
    assert res.code == 1 and report["rule_sets"] == ["general", "sqlite", "d1"], res.err
    got = [(f["rule"], f["file"][:15], f["line"]) for f in report["findings"]]
    assert [f for f in got if f[0] != "NO-ROLLBACK"] == FINDINGS
    app = d.root / "app.db"
    base = ["--database", f"sqlite:///{app}", *d.args()]
    assert run_cli(*base, "up", "--no-backup").code == 0
    res = run_cli(*base, "parity", "--postgres", pg_url, "--json")
    assert res.code == 0, res.out[-2000:] + res.err
    parity = json.loads(res.out)["reports"][0]
    assert parity["differences"] == [] and len(parity["expected"]["tables"]) == TABLES
    notes = {f["construct"] for f in parity["findings"]}  # the stamping triggers, BEFORE
    assert notes <= {"CREATE TRIGGER"} and all(
        f["severity"] == "note" for f in parity["findings"]
    ), parity["findings"]
    # Rows into PostgreSQL: `user` (a reserved word there), camelCase columns folded as the
    # translation folds them, the stamping trigger's updated_at; then a backup of the SQLite
    # file and its restore after a guardian was deleted.
    conn = sqlite3.connect(app)
    conn.executescript(
        "INSERT INTO guardians (name, email) VALUES ('Ani', 'ani@x'), ('Budi', 'budi@x');"
        "INSERT INTO courses (name, description, fee) VALUES ('Piano', 'weekly', 1000);"
        "INSERT INTO enrolments (guardian_id, course_id, ends_at)"
        " VALUES (1, 1, '2027-01-01 00:00:00');"
        "INSERT INTO subscribers (email, consent_at) VALUES ('c@x', datetime('now'));"
        "INSERT INTO user (name, email, emailVerified) VALUES ('Admin', 'a@x', 1);"
        "INSERT INTO apiKey (name, key, userId) VALUES ('ci', 'k1', 1);"
    )
    conn.close()
    config = d.root / "malnu.toml"
    config.write_text(
        f'[targets.prod]\nurl = "sqlite:///{app}"\nmigrations_dir = "migrations"\n'
        f'rollback_dir = "rollback"\n\n[targets.mirror]\nurl = "{pg_url}"\n\n'
        f'[backup]\ndir = "{d.root / "backups"}"\n\n[sync.cermin]\nfrom = "prod"\nto = "mirror"\n'
        # The tables holding rows (and what they point at): the sixteen took 3.5 s.
        'tables = ["guardians", "courses", "enrolments", "user", "apiKey", "subscribers"]\n',
        encoding="utf-8",
    )
    cfg = ["--config", str(config)]
    res = run_cli(*cfg, "sync", "cermin", "--yes")
    assert res.code == 0 and "6 table(s) synced and verified" in res.err, res.err
    with psycopg.connect(pg_url) as pg:
        assert pg.execute('SELECT name, emailverified FROM "user"').fetchall() == [("Admin", 1)]
        assert pg.execute("SELECT key, userid FROM apikey").fetchall() == [("k1", 1)]
    assert run_cli(*cfg, "--target", "prod", "backup", "create").code == 0
    backup = json.loads(run_cli(*cfg, "--target", "prod", "backup", "list", "--json").out)[0]
    conn = sqlite3.connect(app)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("DELETE FROM guardians WHERE id = 1")  # its enrolment cascades
    conn.commit()
    conn.close()
    res = run_cli(*cfg, "--target", "prod", "backup", "restore", backup["id"], "--yes")
    assert res.code == 0, res.err
    conn = sqlite3.connect(app)
    try:
        assert conn.execute("SELECT count(*) FROM enrolments").fetchall() == [(1,)]
    finally:
        conn.close()


def test_up_new_migration_rollback_and_status_on_d1(d1: D1Target, tmp_path: Path) -> None:
    d = _project(tmp_path, "office", SETS_DAYS[:1])
    base = ["--database", d1.url, *d.args()]
    res = run_cli(*base, "up", "--no-backup")
    assert res.code == 0 and "applied 5 migration(s)" in res.err, res.err
    d1.sql("INSERT INTO guardians (name, email) VALUES ('Ani', 'ani@x')")
    d1.sql("UPDATE guardians SET notes = 'x' WHERE id = 1")  # the AFTER UPDATE trigger runs
    d.add(
        "20250101_000000",
        "add_plan",
        "ALTER TABLE guardians ADD COLUMN plan TEXT NOT NULL DEFAULT 'free';\n"
        "CREATE INDEX guardians_email ON guardians(email);",
        "DROP INDEX guardians_email;\nALTER TABLE guardians DROP COLUMN plan;",
    )
    res = run_cli(*base, "lint", "--json")
    assert res.code == 0 and json.loads(res.out)["findings"] == [], res.out
    assert run_cli(*base, "up").code == 0
    assert d1.sql("SELECT name, plan FROM guardians") == [("Ani", "free")]
    res = run_cli(*base, "rollback", "--yes")
    assert res.code == 0 and "rolled back 1 migration(s)" in res.err, res.err
    states = [m["state"] for m in json.loads(run_cli(*base, "status", "--json").out)["migrations"]]
    assert states == ["applied"] * 5 + ["pending"]
    assert d1.sql("SELECT name, notes FROM guardians") == [("Ani", "x")]


def test_a_wrangler_project_keeping_its_set_elsewhere_is_not_judged_by_the_bundled_set(
    tmp_path: Path,
) -> None:
    """A wrangler project whose D1 database keeps its files in ``migrations_dir = "drizzle"``
    (drizzle-kit's folder): `malnu-tui lint --all` run there linted the school's bundled set,
    "0 error(s)", exit 0. Now exit 2, naming ./drizzle."""
    root = tmp_path / "newsletter"
    shutil.copytree(SETS / "d1_small_like" / "migrations", root / "drizzle")
    (root / "wrangler.toml").write_text(
        'name = "newsletter"\n[[d1_databases]]\nbinding = "DB"\ndatabase_name = "newsletter"\n'
        'database_id = "0"\nmigrations_dir = "drizzle"\n',
        encoding="utf-8",
    )
    res = run_cli("lint", "--all", cwd=root)
    assert res.code == 2 and res.out == "", res.err
    assert "no ./migrations here, but ./drizzle is" in res.err, res.err
    assert "--migrations-dir drizzle --rollback-dir rollback" in res.err
