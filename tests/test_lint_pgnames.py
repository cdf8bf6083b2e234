"""PostgreSQL's lint rules read names as PostgreSQL does: an unquoted name folded to lower case,
a quoted one kept as written (``"Kelas"`` and ``kelas`` are two tables, as Prisma's quoted
PascalCase tables sit beside hand-written lower-case ones). Shown on the real cluster."""

from __future__ import annotations

import psycopg
import pytest

from malnu_tui.engine.files import discover
from malnu_tui.engine.lint.core import lint_migrations
from tests.fixtures_core import MigrationDirs, run_cli

PG_MOVED = "PG-RENAME-MOVES-KEYS"

# Two tables PostgreSQL keeps apart: "Kelas" (Prisma's) and kelas (a report's copy). "Siswa"
# references "Kelas"; siswa (a plain list, no key) is another table than "Siswa".
TWO_KELAS = """\
CREATE TABLE kelas (id integer PRIMARY KEY, nama text NOT NULL);
CREATE TABLE "Kelas" (id integer PRIMARY KEY, nama text NOT NULL);
CREATE TABLE siswa (id integer PRIMARY KEY, nama text);
CREATE TABLE "Siswa" (id integer PRIMARY KEY, nama text,
    "kelasId" integer REFERENCES "Kelas" (id) ON DELETE CASCADE);
"""
# kelas (unquoted: no child) rebuilt rename-first: nothing moves.
LOWER_REBUILD = """\
ALTER TABLE kelas RENAME TO kelas_old;
CREATE TABLE kelas (id integer PRIMARY KEY, nama text NOT NULL, wali text);
INSERT INTO kelas (id, nama) SELECT id, nama FROM kelas_old;
DROP TABLE kelas_old CASCADE;
"""
# "Kelas" rebuilt rename-first, the unrelated siswa dropped on the way: "Siswa"'s key moves.
QUOTED_REBUILD = """\
ALTER TABLE "Kelas" RENAME TO "Kelas_old";
CREATE TABLE "Kelas" (id integer PRIMARY KEY, nama text NOT NULL, wali text);
INSERT INTO "Kelas" (id, nama) SELECT id, nama FROM "Kelas_old";
DROP TABLE siswa;
DROP TABLE "Kelas_old" CASCADE;
"""


def _pg_moved(mdirs: MigrationDirs) -> list[tuple[str, int, str]]:
    mset = discover(mdirs.migrations, mdirs.rollback, "postgresql")
    found = lint_migrations(mset, dialect="postgresql").findings
    return [(f.file[:15], f.line, f.severity) for f in found if f.rule == PG_MOVED]


def _fk_targets(url: str) -> list[tuple[str, str]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT conrelid::regclass::text, confrelid::regclass::text FROM pg_constraint "
            "WHERE contype = 'f' ORDER BY 1"
        ).fetchall()
    return [(str(a), str(b)) for a, b in rows]


def test_rename_moves_keys_folds_names_as_postgresql(pg_url: str, mdirs: MigrationDirs) -> None:
    """PG-RENAME-MOVES-KEYS folded names the SQLite way: the rebuild of kelas was said to take
    "Siswa"'s key (an error, false: it references "Kelas"), and the DROP TABLE siswa before
    "Kelas_old"'s was taken for "Siswa"'s, so the CASCADE that drops its key was not named."""
    undo = 'DROP TABLE "Siswa", siswa, "Kelas", kelas;'
    mdirs.add("20250101_000100", "base", TWO_KELAS, undo)
    mdirs.add("20250101_000200", "lower", LOWER_REBUILD, "ALTER TABLE kelas DROP COLUMN wali;")
    assert _pg_moved(mdirs) == []
    quoted = MigrationDirs(mdirs.root / "quoted")
    quoted.add("20250101_000100", "base", TWO_KELAS, undo)
    quoted.add("20250101_000200", "quoted", QUOTED_REBUILD, "SELECT 1;")
    assert _pg_moved(quoted) == [("20250101_000200", 1, "error")]
    # What PostgreSQL 15 does: the first rebuild leaves "Siswa"'s key on "Kelas"; the second
    # drops it with the old copy.
    assert run_cli("--database", pg_url, *mdirs.args(), "up", "--no-backup").code == 0
    assert _fk_targets(pg_url) == [('"Siswa"', '"Kelas"')]
    mdirs.add("20250101_000300", "quoted", QUOTED_REBUILD, "SELECT 1;")
    assert run_cli("--database", pg_url, *mdirs.args(), "up", "--no-backup").code == 0
    assert _fk_targets(pg_url) == []


# A quoted mixed-case schema in CREATE TABLE: it was folded the SQLite way ("School" read as
# school), so the statements naming "School"."Student" as written were taken for another
# schema's table.
SCHOOL = """\
CREATE SCHEMA "School";
CREATE TABLE "School"."Student" (id SERIAL NOT NULL, nama text,
    CONSTRAINT "Student_pkey" PRIMARY KEY (id));
INSERT INTO "School"."Student" (id, nama) VALUES (1, 'Ani'), (2, 'Budi');
CREATE PUBLICATION rapor FOR TABLE "School"."Student";
"""


def test_a_quoted_schema_in_create_table_is_read_as_written(
    pg_url: str, mdirs: MigrationDirs
) -> None:
    """PG-SEQUENCE-NOT-ADVANCED missed the seed's own ids (its INSERT was taken for another
    schema's table), PG-PUBLISHED-WITHOUT-IDENTITY the key dropped under the publication."""
    mdirs.add("20250101_000100", "base", SCHOOL, 'DROP PUBLICATION rapor; DROP SCHEMA "School" '
              "CASCADE;")  # fmt: skip
    table = 'ALTER TABLE "School"."Student" '
    mdirs.add("20250101_000200", "nokey", f'{table}DROP CONSTRAINT "Student_pkey";',
              f'{table}ADD CONSTRAINT "Student_pkey" PRIMARY KEY (id);')  # fmt: skip
    mset = discover(mdirs.migrations, mdirs.rollback, "postgresql")
    found = [(f.rule, f.file[:15], f.line, f.severity)
             for f in lint_migrations(mset, dialect="postgresql").findings]  # fmt: skip
    assert ("PG-SEQUENCE-NOT-ADVANCED", "20250101_000100", 4, "error") in found
    assert ("PG-PUBLISHED-WITHOUT-IDENTITY", "20250101_000200", 1, "error") in found
    # Both true on PostgreSQL 15: the next id taken is 1 (a duplicate key), and once the key
    # is dropped the publication refuses every UPDATE.
    assert run_cli("--database", pg_url, *mdirs.args(), "up", "--no-backup").code == 0
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("""INSERT INTO "School"."Student" (nama) VALUES ('Citra')""")  # id 1 again
        assert conn.execute(
            """SELECT count(*) FROM "School"."Student" WHERE id = 1"""
        ).fetchone() == (2,)
        with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState, match="replica identity"):
            conn.execute("""UPDATE "School"."Student" SET nama = 'Ani P' WHERE id = 2""")


# The live kelas (a report's copy, with a row whose nama is NULL) and, in the next migration,
# Prisma's "Kelas" made beside it: every later statement on kelas is on the old table.
LIVE_KELAS = """\
CREATE TABLE kelas (id integer PRIMARY KEY, nama text);
INSERT INTO kelas (id, nama) VALUES (1, NULL);
"""
BESIDE = """\
CREATE TABLE "Kelas" (id integer PRIMARY KEY, nama text NOT NULL);
ALTER TABLE kelas ADD COLUMN wali text NOT NULL;
ALTER TABLE kelas ALTER COLUMN nama SET NOT NULL;
CREATE UNIQUE INDEX kelas_nama ON kelas (nama);
ALTER TABLE kelas ENABLE ROW LEVEL SECURITY;
UPDATE kelas SET nama = 'X';
DELETE FROM kelas;
"""
REFERS = 'CREATE TABLE "Kelas" (id integer PRIMARY KEY, lama integer REFERENCES kelas (id));'


def test_a_quoted_table_made_here_is_not_the_live_one(pg_url: str, mdirs: MigrationDirs) -> None:
    """The tables "created in this migration" were folded the SQLite way: CREATE TABLE "Kelas"
    made the live kelas look new and empty, and every finding on it was silenced (the
    ADD COLUMN … NOT NULL that fails was lint-clean)."""
    mdirs.add("20250101_000100", "base", LIVE_KELAS, "DROP TABLE kelas;")
    mdirs.add("20250101_000200", "beside", BESIDE, 'DROP INDEX kelas_nama; DROP TABLE "Kelas"; '
              "ALTER TABLE kelas DROP COLUMN wali, DISABLE ROW LEVEL SECURITY;")  # fmt: skip
    mset = discover(mdirs.migrations, mdirs.rollback, "postgresql")
    found = {(f.rule, f.line, f.severity)
             for f in lint_migrations(mset, dialect="postgresql").findings
             if f.file.startswith("20250101_000200")}  # fmt: skip
    assert {
        ("ADD-COLUMN-NOT-NULL", 2, "error"),
        ("PG-LOCK-TIMEOUT", 2, "warning"),
        ("SET-NOT-NULL", 3, "error"),
        ("ADD-UNIQUE", 4, "warning"),
        ("PG-INDEX-NOT-CONCURRENT", 4, "warning"),
        ("PG-RLS-NO-POLICY", 5, "warning"),
        ("UPDATE-ALL-ROWS", 6, "warning"),
        ("DELETE-ALL-ROWS", 7, "error"),
    } <= found
    assert not any(rule == "ROLLBACK-LEAVES-OBJECTS" for rule, _, _ in found)
    # A rollback dropping kelas (the live table) does not drop "Kelas" (it passed); a key of
    # "Kelas" to kelas locks kelas (it was taken for a key to its own rows).
    wrong = MigrationDirs(mdirs.root / "wrong")
    wrong.add("20250101_000100", "base", LIVE_KELAS, "DROP TABLE kelas;")
    wrong.add("20250101_000200", "beside", REFERS, "DROP TABLE kelas;")
    mset = discover(wrong.migrations, wrong.rollback, "postgresql")
    found_wrong = lint_migrations(mset, dialect="postgresql").findings
    left = [(f.file[:15], f.line, f.why.split(" does ")[1])
            for f in found_wrong if f.rule == "ROLLBACK-LEAVES-OBJECTS"]  # fmt: skip
    assert left == [
        ("20250101_000200", 1, "not drop table Kelas, which 20250101_000200_beside.sql creates")
    ]
    refs = "CREATE TABLE Kelas … REFERENCES kelas (SHARE ROW EXCLUSIVE"
    assert any(f.rule == "PG-LOCK-TIMEOUT" and f.file == "20250101_000200_beside.sql"
               and f.why.startswith(refs) for f in found_wrong)  # fmt: skip
    # On PostgreSQL 15 "Kelas" is made beside kelas, and the migration fails on kelas's row.
    live = MigrationDirs(mdirs.root / "live")
    live.add("20250101_000100", "base", LIVE_KELAS, "DROP TABLE kelas;")
    assert run_cli("--database", pg_url, *live.args(), "up", "--no-backup").code == 0
    with psycopg.connect(pg_url) as conn:
        conn.execute(REFERS.encode())
        locks = conn.execute(
            "SELECT mode FROM pg_locks WHERE relation = 'kelas'::regclass AND granted"
        ).fetchall()
        assert ("ShareRowExclusiveLock",) in locks
        tables = conn.execute(
            "SELECT relname FROM pg_class WHERE relname IN ('Kelas', 'kelas') ORDER BY 1"
        ).fetchall()
        assert tables == [("Kelas",), ("kelas",)]
        for statement in BESIDE.splitlines()[1:3]:
            with pytest.raises(psycopg.errors.NotNullViolation, match='"kelas" contains null'):
                with conn.transaction():
                    conn.execute(statement.encode())
        conn.execute("DROP TABLE kelas CASCADE")  # the wrong rollback: "Kelas" stays
        assert conn.execute("SELECT to_regclass('\"Kelas\"') IS NOT NULL").fetchone() == (True,)
        conn.rollback()
    live.add("20250101_000200", "beside", BESIDE, "SELECT 1;")
    failed = run_cli("--database", pg_url, *live.args(), "up", "--no-backup")
    assert failed.code != 0 and 'column "wali" of relation "kelas" contains null' in failed.err


# Both tables have a kode; "Kelas"'s, declared last, shadowed kelas's type the SQLite way.
TWO_KODE = """\
CREATE TABLE kelas (id integer PRIMARY KEY, kode varchar(200));
CREATE TABLE "Kelas" (id integer PRIMARY KEY, kode varchar(20));
INSERT INTO kelas (id, kode) VALUES (1, repeat('x', 150));
"""


def test_a_column_type_is_the_one_its_own_table_declares(pg_url: str, mdirs: MigrationDirs) -> None:
    """kelas.kode narrowed from varchar(200) to varchar(100) was read as "Kelas".kode's
    varchar(20) widened, and COLUMN-TYPE-CHANGE was silent; the migration fails on a row."""
    mdirs.add("20250101_000100", "base", TWO_KODE, 'DROP TABLE kelas, "Kelas";')
    narrow = "ALTER TABLE kelas ALTER COLUMN kode TYPE varchar(100);"
    mdirs.add("20250101_000200", "narrow", narrow, narrow.replace("100", "200"))
    mset = discover(mdirs.migrations, mdirs.rollback, "postgresql")
    found = [(f.rule, f.file[:15], f.line)
             for f in lint_migrations(mset, dialect="postgresql").findings]  # fmt: skip
    assert ("COLUMN-TYPE-CHANGE", "20250101_000200", 1) in found
    failed = run_cli("--database", pg_url, *mdirs.args(), "up", "--no-backup")
    assert failed.code != 0 and "value too long for type character varying(100)" in failed.err
