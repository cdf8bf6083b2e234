"""The lint's gaps found in session 24 around renames: a chain of renames (a → b → c) followed
by plain `lint` and `lint --all` alike, PostgreSQL's rename-first rebuild (the children's keys
follow the table's OID to the old copy), and D1's own rules on rollback files. Each through the
CLI on real files, and shown on a real database where the database can show it."""

from __future__ import annotations

import json
import sqlite3

import psycopg

from malnu_tui.engine.files import discover
from malnu_tui.engine.lint.core import lint_migrations
from tests.fixtures_core import MigrationDirs, run_cli
from tests.fixtures_d1 import D1Target
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


PG_MOVED = "PG-RENAME-MOVES-KEYS"
KELAS = """\
CREATE TABLE kelas (id integer PRIMARY KEY, nama text NOT NULL);
CREATE TABLE siswa (id integer PRIMARY KEY, nama text,
    kelas_id integer REFERENCES kelas (id) ON DELETE CASCADE);
INSERT INTO kelas VALUES (1, 'X IPA 1');
INSERT INTO siswa VALUES (1, 'Ani', 1);
"""
# A rename-first rebuild as a PostgreSQL migration (Knex's and TypeORM's SQLite habit, carried
# over): the new column wali added by making the table again.
PG_REBUILD = """\
SET lock_timeout = '5s';
ALTER TABLE kelas RENAME TO kelas_old;
CREATE TABLE kelas (id integer PRIMARY KEY, nama text NOT NULL, wali text);
INSERT INTO kelas (id, nama) SELECT id, nama FROM kelas_old;
DROP TABLE kelas_old CASCADE;
"""
NOWHERE = "postgresql://nobody@127.0.0.1:1/none"


def _fk_targets(pg_url: str) -> list[tuple[str, str]]:
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute(
            "SELECT conrelid::regclass::text, confrelid::regclass::text FROM pg_constraint "
            "WHERE contype = 'f' ORDER BY 1"
        ).fetchall()
    return [(str(a), str(b)) for a, b in rows]


def _pg_moved(mdirs: MigrationDirs, why: str = "") -> list[tuple[str, int, str]]:
    """PG-RENAME-MOVES-KEYS of `lint --all` (the files alone), each saying ``why``."""
    mset = discover(mdirs.migrations, mdirs.rollback, "postgresql")
    found = [f for f in lint_migrations(mset, dialect="postgresql").findings if f.rule == PG_MOVED]
    assert all(why in f.why for f in found), found
    return [(f.file, f.line, f.severity) for f in found]


def test_a_postgresql_rename_first_rebuild(pg_url: str, mdirs: MigrationDirs) -> None:
    # PostgreSQL keeps siswa's key on kelas's OID: the rename takes it to kelas_old, DROP
    # TABLE kelas_old is then refused after the copy, and DROP … CASCADE drops the constraint
    # with no error (both measured below). The lint said a RENAME-TABLE and a DROP-TABLE
    # warning, nothing of the children. From the files alone (`lint --all`): their REFERENCES.
    mdirs.add("20250101_000100", "base", KELAS, "DROP TABLE siswa, kelas;")
    mdirs.add("20250101_000200", "wali", PG_REBUILD, "ALTER TABLE kelas DROP COLUMN wali;")
    cascade = "the DROP's CASCADE drops the foreign key constraints of siswa(kelas_id)"
    assert _pg_moved(mdirs, cascade) == [("20250101_000200_wali.sql", 2, "error")]
    refused = MigrationDirs(mdirs.root / "refused")
    refused.add("20250101_000100", "base", KELAS, "DROP TABLE siswa, kelas;")
    refused.add("20250101_000200", "wali", PG_REBUILD.replace(" CASCADE", ""), "SELECT 1;")
    refuses = "PostgreSQL refuses that DROP (constraints of siswa(kelas_id) depend on kelas_old)"
    assert _pg_moved(refused, refuses) == [("20250101_000200_wali.sql", 2, "warning")]
    # The same rebuild as a rollback file (putting kelas back without wali): named there.
    undo = MigrationDirs(mdirs.root / "undo")
    undo.add("20250101_000100", "base", KELAS, "DROP TABLE siswa, kelas;")
    undo.add("20250101_000200", "wali", "ALTER TABLE kelas ADD COLUMN wali text;",
             PG_REBUILD.replace(", wali text", ""))  # fmt: skip
    assert _pg_moved(undo, cascade) == [("20250101_000200_undo_wali.sql", 2, "error")]
    # ALTERed in place, or a child without a key to it: nothing to say.
    for body in ("ALTER TABLE kelas ADD COLUMN wali text;",
                 PG_REBUILD.replace("kelas", "rombel")):  # fmt: skip
        clean = MigrationDirs(mdirs.root / f"clean{len(body)}")
        clean.add(
            "20250101_000100",
            "base",
            KELAS + "CREATE TABLE rombel (id integer PRIMARY KEY, nama text NOT NULL);",
            "SELECT 1;",
        )
        clean.add("20250101_000200", "wali", body, "SELECT 1;")
        assert _pg_moved(clean) == [], body

    # The live database: its keys are read from pg_constraint (nilai's, made by hand, is in
    # no migration), the rename applied in one migration, the rest pending in the next.
    live = MigrationDirs(mdirs.root / "live")
    live.add("20250101_000100", "base", KELAS, "DROP TABLE siswa, kelas;")
    live.add("20250101_000200", "aside", "ALTER TABLE kelas RENAME TO kelas_old;", "SELECT 1;")
    again = PG_REBUILD.split("\n", 2)[2]  # CREATE, INSERT, DROP … CASCADE
    live.add("20250101_000300", "again", again.replace(" CASCADE", ""), "SELECT 1;")
    assert run_cli("--database", pg_url, *live.args(), "up", "--no-backup", "--to",
                   "20250101_000100").code == 0  # fmt: skip
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE nilai (id integer, kelas_id integer REFERENCES kelas (id))")
    assert run_cli("--database", pg_url, *live.args(), "up", "--no-backup", "--to",
                   "20250101_000200").code == 0  # fmt: skip
    _, report = _lint(pg_url, live)
    assert _found(report, PG_MOVED) == [("20250101_000300_again.sql", 1, "warning")], report
    why = str(report["findings"])
    assert "nilai(kelas_id), siswa(kelas_id)" in why
    assert "that 20250101_000200_aside.sql:1 renamed to kelas_old" in why
    assert "PostgreSQL refuses that DROP" in why
    r = run_cli("--database", pg_url, *live.args(), "up", "--no-backup")
    assert r.code == 1 and "other objects depend on it" in r.err, r.err
    assert _fk_targets(pg_url) == [("nilai", "kelas_old"), ("siswa", "kelas_old")]
    # With CASCADE (the failed file fixed "to make it pass"; an error, above), up drops both
    # keys without a word: a siswa row for a class that does not exist is taken.
    (live.migrations / "20250101_000300_again.sql").write_text(again, encoding="utf-8")
    assert run_cli("--database", pg_url, *live.args(), "up", "--no-backup").code == 0
    assert _fk_targets(pg_url) == []
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("INSERT INTO siswa VALUES (2, 'Budi', 999)")


# A column dropped again the way SQLite-first teams write it: sqlite.org's rebuild with foreign
# keys off, safe on a SQLite file (the pragma holds), not on D1 (ignored there).
LESSON = """\
CREATE TABLE lesson (id INTEGER PRIMARY KEY, title TEXT NOT NULL);
CREATE TABLE attendance (id INTEGER PRIMARY KEY,
    lesson_id INTEGER REFERENCES lesson (id) ON DELETE CASCADE, student TEXT);
INSERT INTO lesson VALUES (1, 'Matematika');
INSERT INTO attendance VALUES (1, 1, 'Ani'), (2, 1, 'Budi');
"""
DROP_ROOM = """\
PRAGMA foreign_keys = OFF;
CREATE TABLE new_lesson (id INTEGER PRIMARY KEY, title TEXT NOT NULL);
INSERT INTO new_lesson (id, title) SELECT id, title FROM lesson;
DROP TABLE lesson;
ALTER TABLE new_lesson RENAME TO lesson;
PRAGMA foreign_keys = ON;
"""
TOPICS = """\
CREATE TABLE topic (id INTEGER PRIMARY KEY, name TEXT);
CREATE TABLE subtopic (id INTEGER PRIMARY KEY,
    topic_id INTEGER REFERENCES topic (id) ON DELETE CASCADE);
"""


def _rollback_rules(mdirs: MigrationDirs, d1: bool) -> list[tuple[str, int, str]]:
    mset = discover(mdirs.migrations, mdirs.rollback, "sqlite")
    report = lint_migrations(mset, dialect="sqlite", d1=d1)
    return [(f.file, f.line, f.rule) for f in report.findings if "_undo_" in f.file]


def test_d1_rules_run_on_rollback_files(d1: D1Target, mdirs: MigrationDirs) -> None:
    # A rollback runs on D1 too, but only the rename-first rule looked at it there (the
    # rebuild-with-foreign-keys-on rule leaves D1 to D1's rules, which never ran on a
    # rollback): this one, clean, deleted every attendance row on D1 (measured below). Now
    # D1's rules run on it, but not its destructive ones on a plain DROP TABLE (undoing what
    # the migration made is the rollback's job): subtopic's cascade is no finding, its
    # VACUUM and its LIKE pattern over D1's 50 bytes are.
    mdirs.add("20250101_000100", "base", LESSON, "DROP TABLE attendance;\nDROP TABLE lesson;")
    mdirs.add("20250101_000200", "room", "ALTER TABLE lesson ADD COLUMN room TEXT;", DROP_ROOM)
    seeded = "'% (seeded by the topics migration, 2025-01-01, for the demo)'"  # 60 bytes
    undo = "DROP TABLE topic;\nDROP TABLE subtopic;\nVACUUM;\n"
    mdirs.add("20250101_000300", "topics", TOPICS,
              f"{undo}DELETE FROM lesson WHERE title LIKE {seeded};")  # fmt: skip
    assert _rollback_rules(mdirs, d1=False) == []  # (a SQLite file keeps the pragma)
    assert _rollback_rules(mdirs, d1=True) == [
        ("20250101_000200_undo_room.sql", 1, "D1-PRAGMA-FK"),
        ("20250101_000200_undo_room.sql", 4, "D1-CASCADE-REBUILD"),
        ("20250101_000300_undo_topics.sql", 3, "D1-VACUUM"),
        ("20250101_000300_undo_topics.sql", 4, "D1-LIMITS"),
    ]
    (mdirs.migrations / "20250101_000300_topics.sql").unlink()
    (mdirs.rollback / "20250101_000300_undo_topics.sql").unlink()
    d1_url = d1.url
    code, report = _lint(d1_url, mdirs)  # plain lint of the pending ones, on D1
    assert code == 1, report
    rb = [(f["line"], f["rule"], f["severity"]) for f in report["findings"]  # type: ignore[union-attr]
          if f["file"] == "20250101_000200_undo_room.sql"]  # fmt: skip
    assert rb == [(1, "D1-PRAGMA-FK", "warning"), (4, "D1-CASCADE-REBUILD", "error")], report
    assert "attendance(lesson_id)" in str(report["findings"])
    assert run_cli("--database", d1_url, *mdirs.args(), "up", "--no-backup").code == 0
    r = run_cli("--database", d1_url, *mdirs.args(), "rollback", "--yes", "--no-backup")
    assert r.code == 0, r.err
    assert d1.sql("SELECT count(*) FROM lesson") == [(1,)]
    assert d1.sql("SELECT count(*) FROM attendance") == [(0,)]  # both rows deleted


# Prisma's PostgreSQL tables: quoted, in PascalCase.
KELAS_QUOTED = """\
CREATE TABLE "Kelas" (id integer PRIMARY KEY, nama text NOT NULL);
CREATE TABLE "Siswa" (id integer PRIMARY KEY, nama text,
    "kelasId" integer REFERENCES "Kelas" (id) ON DELETE CASCADE);
"""


def test_a_quoted_table_s_live_children_are_read(pg_url: str, mdirs: MigrationDirs) -> None:
    # The live keys were looked up by the folded name (to_regclass('"kelas"')): a quoted
    # "Kelas" (Prisma's names) had none, and plain lint said nothing of the rebuild that
    # `lint --all` (the files' REFERENCES) names.
    mdirs.add("20250101_000100", "base", KELAS_QUOTED, 'DROP TABLE "Siswa", "Kelas";')
    rebuild = PG_REBUILD.replace("kelas_old", '"Kelas_old"').replace("kelas", '"Kelas"')
    mdirs.add("20250101_000200", "wali", rebuild.replace(" CASCADE", ""), "SELECT 1;")
    assert run_cli("--database", pg_url, *mdirs.args(), "up", "--no-backup", "--to",
                   "20250101_000100").code == 0  # fmt: skip
    _, report = _lint(pg_url, mdirs)
    assert _found(report, PG_MOVED) == [("20250101_000200_wali.sql", 2, "warning")], report
    assert "Siswa(kelasId)" in str(report["findings"]), report


def test_a_key_to_another_schema_s_table_of_the_same_name_is_not_moved(
    mdirs: MigrationDirs,
) -> None:
    # Supabase: profiles reference auth.users; the app's own public users is rebuilt
    # rename-first. The REFERENCES' schema was dropped, so profiles' key to auth.users was
    # said to move with public users (an error, from the files alone); a key written
    # public.users (or unqualified) still is.
    base = (
        "CREATE TABLE users (id uuid PRIMARY KEY, nama text);\n"
        "CREATE TABLE profiles (id uuid PRIMARY KEY REFERENCES auth.users (id) ON DELETE CASCADE);"
    )
    rebuild = (
        "ALTER TABLE users RENAME TO users_old;\n"
        "CREATE TABLE users (id uuid PRIMARY KEY, nama text, kelas text);\n"
        "INSERT INTO users (id, nama) SELECT id, nama FROM users_old;\n"
        "DROP TABLE users_old CASCADE;"
    )
    mdirs.add("20250101_000100", "base", base, "SELECT 1;")
    mdirs.add("20250101_000200", "users", rebuild, "SELECT 1;")
    assert _pg_moved(mdirs) == []
    mine = MigrationDirs(mdirs.root / "mine")
    mine.add("20250101_000100", "base", base.replace("auth.users", "public.users"), "SELECT 1;")
    mine.add("20250101_000200", "users", rebuild, "SELECT 1;")
    assert _pg_moved(mine, "profiles(id)") == [("20250101_000200_users.sql", 1, "error")]
