"""A D1 school app's migrations as people write them for D1 (STRICT and WITHOUT ROWID tables,
JSON profiles with json_valid CHECKs and json_extract indexes, reporting views counting with
``sum(status = 'hadir')``, weeks by ``strftime('%W')``, ``julianday`` ages, an upsert seed):
``parity`` on the real PostgreSQL server finds no difference and withholds only what has no
exact form, and the views give on PostgreSQL the rows SQLite gives."""

from __future__ import annotations

import sqlite3

import psycopg

from malnu_tui.engine.files import discover
from malnu_tui.engine.parity import check_parity
from malnu_tui.engine.translate import SchemaState, translate_script
from tests.fixtures_core import MigrationDirs

INIT = """\
CREATE TABLE IF NOT EXISTS students (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  nis TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  profile TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(profile)),
  is_active INTEGER NOT NULL DEFAULT 1
) STRICT;
CREATE INDEX IF NOT EXISTS idx_students_class ON students (json_extract(profile, '$.class'));
CREATE TABLE IF NOT EXISTS attendance (
  student_id INTEGER NOT NULL REFERENCES students(id) ON DELETE CASCADE,
  day TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('hadir', 'izin', 'sakit', 'alpa')),
  meta TEXT,
  PRIMARY KEY (student_id, day)
) WITHOUT ROWID;
"""

REPORTS = """\
CREATE VIEW IF NOT EXISTS weekly_attendance AS
SELECT strftime('%Y-%W', day) AS week, student_id,
       sum(status = 'hadir') AS present, total(status <> 'hadir') AS absent,
       avg(status = 'hadir') AS rate
FROM attendance GROUP BY week, student_id;
CREATE VIEW IF NOT EXISTS missing_letters AS
SELECT student_id, day, CAST(julianday('2025-02-01') - julianday(day) AS INTEGER) AS days_ago
FROM attendance WHERE status = 'izin' AND meta ->> '$.letter' IS NULL;
CREATE VIEW IF NOT EXISTS class_7a AS
SELECT id, name FROM students WHERE json_extract(profile, '$.class') = '7A' AND is_active;
"""

SEED = """\
INSERT INTO students (nis, name, profile) VALUES
  ('1001', 'Ana', '{"class":"7A"}'), ('1002', 'Budi', '{"class":"7B"}'),
  ('2001', 'Citra', '{"class":"7A"}');
INSERT INTO attendance (student_id, day, status, meta) VALUES
  (1, '2025-01-06', 'hadir', NULL), (1, '2025-01-07', 'izin', '{"letter":null}'),
  (2, '2025-01-06', 'sakit', '{"letter":"scan.pdf"}'), (3, '2025-01-13', 'izin', NULL),
  (3, '2025-01-14', 'hadir', NULL)
  ON CONFLICT (student_id, day) DO UPDATE SET status = excluded.status
  WHERE excluded.status <> attendance.status;
UPDATE students SET is_active = (nis GLOB '1*');
"""

VIEWS = ("weekly_attendance", "missing_letters", "class_7a")


def test_d1_school_app_has_parity(pg_url: str, mdirs: MigrationDirs) -> None:
    # A WITHOUT ROWID table's CHECK was not seen on the SQLite side (sqlglot cannot parse the
    # option): a false difference; sum(status = 'hadir') was rejected (no sum(boolean)).
    mdirs.add("20250110_000000", "init", INIT)
    mdirs.add("20250111_000000", "reports", REPORTS)
    report = check_parity(discover(mdirs.migrations, mdirs.rollback).migrations, pg_url)
    assert report.differences == (), [d.describe() for d in report.differences]
    assert report.errors == (), [f.describe() for f in report.errors]


def test_d1_school_app_views_give_the_same_rows(pg_url: str) -> None:
    state = SchemaState()
    statements: list[str] = []
    for name, text in (("init", INIT), ("reports", REPORTS), ("seed", SEED)):
        ft = translate_script(text, f"{name}.sql", state)
        assert ft.ok, [f.describe() for f in ft.errors]
        statements.extend(ft.postgres_statements)
    lite = sqlite3.connect(":memory:")
    lite.executescript(INIT + REPORTS + SEED)
    with psycopg.connect(pg_url) as conn, conn.transaction(force_rollback=True):
        conn.execute("CREATE SCHEMA d1_app")
        conn.execute("SET LOCAL search_path = d1_app")
        for stmt in statements:
            conn.execute(stmt)
        for view in VIEWS:
            query = f"SELECT * FROM {view} ORDER BY 1, 2"
            got = [tuple(_plain(v) for v in row) for row in conn.execute(query)]
            want = [tuple(_plain(v) for v in row) for row in lite.execute(query)]
            assert got == want, view
    lite.close()


def _plain(value: object) -> object:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
