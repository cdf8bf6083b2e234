"""Migration files as real tools write them (pg_dump, psql scripts, Supabase, Prisma), read in
their set's dialect as psql or the sqlite3 shell reads them, and applied through the real CLI
on a real PostgreSQL cluster or SQLite file."""

from __future__ import annotations

import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from tests.fixtures_core import MigrationDirs, run_cli
from tests.fixtures_matrix import DbTarget
from tests.fixtures_pg import PgCluster


def _rows(url: str, query: str) -> list[tuple[object, ...]]:
    """Run ``query``; its rows (none for a statement that returns none)."""
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(query)  # type: ignore[call-overload]  # test text, no parameters
        return cur.fetchall() if cur.description else []


def test_a_postgresql_file_is_split_as_psql_splits_it(
    fresh_db: Callable[[str], DbTarget], mdirs: MigrationDirs
) -> None:
    """Refused before (nothing applied): a nested comment (PostgreSQL nests them; its inner
    ``*/`` ended it, and the statement it had commented out was read as one), a rule whose
    ``DO ALSO ( … ; … )`` holds two statements, an ``ARRAY['^[A-Z]+$', …]`` (``[`` read as
    SQLite's quote: "unterminated quoted text"), and a trigger on a column named ``begin``
    (read as a SQLite trigger body: "BEGIN … END body has no END")."""
    db = fresh_db("postgresql")
    mdirs.add(
        "20260101_000000",
        "audit",
        r"""
        CREATE TABLE keep (id int);
        /* Disabled while the export runs:
           /* see ticket 12 */
           DROP TABLE keep;
        */
        CREATE TABLE codes (code text CHECK (code ~ ANY (ARRAY['^[A-Z]+$', '^[0-9]+$'])));
        CREATE TABLE events (id int PRIMARY KEY, begin timestamptz, note text);
        CREATE TABLE events_log (id int, note text);
        CREATE RULE events_copy AS ON INSERT TO events DO ALSO (
            INSERT INTO events_log VALUES (NEW.id, NEW.note);
            INSERT INTO events_log VALUES (-NEW.id, 'copy; of ' || NEW.note)
        );
        CREATE FUNCTION events_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN NEW.note := NEW.note || '!'; RETURN NEW; END $$;
        CREATE TRIGGER events_begin BEFORE UPDATE OF begin ON events
            FOR EACH ROW EXECUTE FUNCTION events_stamp();
        """,
        """
        DROP TABLE events; DROP TABLE events_log; DROP FUNCTION events_stamp();
        DROP TABLE codes; DROP TABLE keep;
        """,
    )
    r = db.cli(mdirs, "up", "--dry-run")
    assert r.code == 0, r.err
    r = db.cli(mdirs, "up", "--yes", "--no-backup")
    assert r.code == 0, r.err
    _rows(db.url, "INSERT INTO events VALUES (1, NULL, 'a')")
    _rows(db.url, "INSERT INTO codes VALUES ('AB'), ('12')")
    assert _rows(db.url, "SELECT id, note FROM events_log ORDER BY id") == [
        (-1, "copy; of a"),
        (1, "a"),
    ]
    assert _rows(db.url, "SELECT count(*) FROM keep") == [(0,)]  # commented out: kept
    _rows(db.url, "UPDATE events SET begin = now()")
    assert _rows(db.url, "SELECT note FROM events") == [("a!",)]
    r = db.cli(mdirs, "rollback", "--yes", "--no-backup")
    assert r.code == 0, r.err


# pg_dump --schema-only of a database with what a school's Supabase project holds.
_SOURCE = r"""
CREATE SCHEMA app;
CREATE TYPE app.mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE app.people (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text NOT NULL,
    mood app.mood DEFAULT 'ok', tags text[] DEFAULT '{}', code text
        CHECK (code ~ ANY (ARRAY['^[A-Z]{3}$', '^[0-9]+;$'])));
COMMENT ON TABLE app.people IS 'People; with ''quotes'', -- dashes and /* stars';
COMMENT ON COLUMN app.people.name IS E'Name\nsecond line';
CREATE TABLE app.log (id serial PRIMARY KEY, person bigint REFERENCES app.people(id), note text);
CREATE VIEW app.named AS SELECT id, name FROM app.people WHERE name !~ '^[;]$';
CREATE FUNCTION app.add(a int, b int) RETURNS int LANGUAGE sql IMMUTABLE
    BEGIN ATOMIC SELECT CASE WHEN a IS NULL THEN b ELSE a + b END; END;
CREATE PROCEDURE app.note(x int) LANGUAGE sql
    BEGIN ATOMIC INSERT INTO app.log (note) VALUES ('p' || x); INSERT INTO app.log (note)
    VALUES ('q;' || x); END;
CREATE RULE keep_log AS ON DELETE TO app.log DO INSTEAD (
    UPDATE app.log SET note = 'deleted; ' || old.note WHERE id = old.id; SELECT 1);
"""


def test_pg_dump_schema_only_output_applies_as_dumped(
    pg_cluster: PgCluster, fresh_db: Callable[[str], DbTarget], mdirs: MigrationDirs
) -> None:
    """pg_dump's own output, as a Supabase baseline migration: its ``\\restrict`` line (pg_dump
    16.10/17.6/15.14 and later) was refused as "unparsable SQL: statement starts with
    'RESTRICT'", and its rules' ``( … ; … )`` bodies were cut in two. Now the database it
    builds dumps the same schema as the one it was dumped from."""
    source, dest = fresh_db("postgresql"), fresh_db("postgresql")
    with psycopg.connect(source.url, autocommit=True) as conn:
        conn.execute(_SOURCE)  # type: ignore[call-overload]  # a script, no parameters

    def dump(url: str) -> str:
        out = subprocess.run(
            [pg_cluster.bin("pg_dump"), "--schema-only", "--no-owner", "-n", "app", url],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        return "".join(x for x in out.splitlines(True) if "restrict " not in x)

    text = dump(source.url)
    raw = subprocess.run(
        [pg_cluster.bin("pg_dump"), "--schema-only", source.url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    mdirs.add("20260101000000", "remote_schema", raw, "DROP SCHEMA app CASCADE;")
    r = dest.cli(mdirs, "up", "--yes", "--no-backup")
    assert r.code == 0, r.err
    assert dump(dest.url) == text
    _rows(dest.url, "CALL app.note(5)")
    assert _rows(dest.url, "SELECT app.add(1, 2), app.add(NULL, 4)") == [(3, 4)]
    _rows(dest.url, "DELETE FROM app.log WHERE note = 'p5'")
    assert _rows(dest.url, "SELECT note FROM app.log ORDER BY id") == [("deleted; p5",), ("q;5",)]
    r = dest.cli(mdirs, "rollback", "--yes", "--no-backup")
    assert r.code == 0, r.err


def test_a_psql_meta_command_is_refused_naming_its_line(
    fresh_db: Callable[[str], DbTarget], mdirs: MigrationDirs
) -> None:
    """``\\connect`` (pg_dump -C, pg_dumpall) cannot run outside psql: refused with its line,
    before anything runs, rather than as "unparsable SQL: statement starts with 'CONNECT'";
    a script's ``\\set ON_ERROR_STOP on`` is what the tool does anyway."""
    db = fresh_db("postgresql")
    mdirs.add("20260101_000000", "a", "\\set ON_ERROR_STOP on\nCREATE TABLE a (id int);")
    r = db.cli(mdirs, "up", "--yes", "--no-backup")
    assert r.code == 0, r.err
    mdirs.add("20260102_000000", "b", "CREATE TABLE b (id int);\n\\connect school\nSELECT 1;")
    r = db.cli(mdirs, "up", "--yes", "--no-backup")
    assert r.code == 2
    assert "20260102_000000_b.sql:2: psql meta-command '\\connect' is not SQL" in r.err
    assert _rows(db.url, "SELECT to_regclass('b') IS NULL") == [(True,)]


def test_a_sqlite_file_is_still_split_as_sqlite_reads_it(
    mdirs: MigrationDirs, sqlite_url: str
) -> None:
    """What SQLite reads differently stays SQLite's: a comment ends at its first ``*/``,
    ``[…]`` and backticks quote names, a trigger's BEGIN … END (with CASE … END) is one
    statement."""
    mdirs.add(
        "20260101_000000",
        "a",
        """
        /* old /* note */ CREATE TABLE [a;b] (`c;d` TEXT, n INT);
        CREATE TABLE log (v TEXT);
        CREATE TRIGGER t AFTER INSERT ON [a;b] BEGIN
          INSERT INTO log VALUES (CASE WHEN NEW.n > 0 THEN 'pos;' ELSE 'neg' END);
        END;
        INSERT INTO [a;b] VALUES ('x', 1)
        """,
    )
    r = run_cli("--database", sqlite_url, *mdirs.args(), "up", "--yes", "--no-backup")
    assert r.code == 0, r.err
    with sqlite3.connect(sqlite_url.removeprefix("sqlite:///")) as conn:
        assert conn.execute("SELECT v FROM log").fetchall() == [("pos;",)]


def test_postgresql_spellings_of_the_files_own_transaction_are_the_tools(
    fresh_db: Callable[[str], DbTarget], mdirs: MigrationDirs
) -> None:
    """``BEGIN WORK`` … ``COMMIT WORK`` (and ``START TRANSACTION``, ``END``, ``COMMIT AND
    CHAIN``) were run as written: the COMMIT ended the tool's transaction half-way, so when a
    later statement failed, "all of it was rolled back" was said while the tables stayed and
    the fixed file could not run again. ``ABORT`` (PostgreSQL's ROLLBACK) is refused as
    ROLLBACK is."""
    db = fresh_db("postgresql")
    mdirs.add(
        "20260101_000000",
        "w",
        """
        BEGIN WORK;
        CREATE TABLE w1 (id int);
        COMMIT WORK;
        START TRANSACTION ISOLATION LEVEL READ COMMITTED;
        CREATE TABLE w2 (id int);
        COMMIT AND NO CHAIN;
        SELECT 1 / 0;
        """,
    )
    r = db.cli(mdirs, "up", "--yes", "--no-backup")
    assert r.code == 1 and "all of it was rolled back" in r.err, r.err
    assert _rows(db.url, "SELECT to_regclass('w1'), to_regclass('w2')") == [(None, None)]
    path = mdirs.add("20260101_000000", "w", "BEGIN;\nCREATE TABLE w1 (id int);\nABORT WORK;")
    r = db.cli(mdirs, "up", "--yes", "--no-backup")
    assert r.code == 2 and f"{path}:3: ABORT: the file undoes its own transaction" in r.err


def test_a_file_run_as_its_owning_role_is_recorded(
    fresh_db: Callable[[str], DbTarget], mdirs: MigrationDirs
) -> None:
    """``SET ROLE app_owner`` first, so the tables it creates belong to that role (the usual
    way to keep ownership right): the tool then wrote its tracking row as app_owner, "permission
    denied for table migrations", and the whole migration failed with no row saying so."""
    db = fresh_db("postgresql")
    _rows(db.url, "CREATE ROLE app_owner")
    try:
        _rows(db.url, "CREATE SCHEMA app AUTHORIZATION app_owner")
        mdirs.add(
            "20260101_000000",
            "owned",
            "SET ROLE app_owner;\nCREATE TABLE app.t (id int);",
            "DROP TABLE app.t;",
        )
        mdirs.add("20260102_000000", "next", "CREATE TABLE app_next (id int);")
        r = db.cli(mdirs, "up", "--yes", "--no-backup")
        assert r.code == 0, r.err
        owners = "SELECT tableowner FROM pg_tables WHERE tablename IN ('t', 'app_next') ORDER BY 1"
        assert _rows(db.url, owners) == [("app_owner",), ("postgres",)]  # the next file: not
        assert len(_rows(db.url, "SELECT 1 FROM migrations WHERE success")) == 2
    finally:
        _rows(db.url, "DROP SCHEMA IF EXISTS app CASCADE")
        _rows(db.url, "DROP OWNED BY app_owner")
        _rows(db.url, "DROP ROLE app_owner")


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_cr_inside_a_value_of_an_lf_file_is_kept(
    kind: str, fresh_db: Callable[[str], DbTarget], mdirs: MigrationDirs
) -> None:
    """pg_dump ``--inserts`` writes a value's CR LF (a browser's textarea sends them) raw
    inside its quotes in a file whose lines end in LF: the CR was dropped (and a lone CR made
    LF), another value stored, "ok". A Windows (CRLF) file still reads as its LF checkout."""
    db = fresh_db(kind)
    path = mdirs.add("20260101_000000", "notes", "CREATE TABLE notes (id int, body text);")
    path.write_bytes(
        path.read_bytes()
        + b"INSERT INTO notes VALUES (1, 'baris satu\r\nbaris dua'), (2, 'only\rcr');\n"
    )
    win = mdirs.add("20260102_000000", "win", "x")
    win.write_bytes(b"INSERT INTO notes VALUES (3, 'a\r\nb');\r\nSELECT 1;\r\n")
    r = db.cli(mdirs, "up", "--yes", "--no-backup")
    assert r.code == 0, r.err
    query = "SELECT body FROM notes ORDER BY id"
    if kind == "sqlite":
        with sqlite3.connect(db.url.removeprefix("sqlite:///")) as conn:
            got = [row[0] for row in conn.execute(query)]
    else:
        got = [row[0] for row in _rows(db.url, query)]
    assert got == ["baris satu\r\nbaris dua", "only\rcr", "a\nb"]


def test_a_sqlite3_shell_command_is_refused_naming_it(
    mdirs: MigrationDirs, sqlite_url: str
) -> None:
    """A script written for the sqlite3 shell (``.bail on``, ``.read seed.sql``) was refused as
    "unparsable SQL: statement starts with 'BAIL'"."""
    path = mdirs.add("20260101_000000", "a", "CREATE TABLE a (x INT);\n.read seed.sql\n")
    r = run_cli("--database", sqlite_url, *mdirs.args(), "up", "--yes", "--no-backup")
    assert r.code == 2
    assert f"{path}:2: sqlite3 shell command '.read' is not SQL" in r.err


def test_files_joined_with_cat_keep_no_bom_inside(
    fresh_db: Callable[[str], DbTarget], mdirs: MigrationDirs
) -> None:
    """A squashed baseline made with ``cat a.sql b.sql``: b's BOM started a statement, and
    PostgreSQL failed it with 'syntax error at or near "CREATE"' (the BOM invisible in it)."""
    db = fresh_db("postgresql")
    path = mdirs.add("20260101_000000", "squashed", "x")
    path.write_bytes(
        b"\xef\xbb\xbfCREATE TABLE a (id int);\n\xef\xbb\xbfCREATE TABLE b (id int);\n"
    )
    r = db.cli(mdirs, "up", "--yes", "--no-backup")
    assert r.code == 0, r.err
    assert _rows(db.url, "SELECT to_regclass('a') IS NOT NULL, to_regclass('b') IS NOT NULL") == [
        (True, True)
    ]


def test_a_psql_gexec_script_is_refused_before_anything_runs(
    fresh_db: Callable[[str], DbTarget], mdirs: MigrationDirs
) -> None:
    """psql's ``SELECT format(…) FROM … \\gexec`` (dynamic DDL in psql scripts) went to the
    server as SQL: 'syntax error at or near "\\"', exit 1, after the statements before it ran
    (and were rolled back). Now refused before anything runs, naming the line."""
    db = fresh_db("postgresql")
    path = mdirs.add(
        "20260101_000000",
        "indexes",
        "CREATE TABLE t (id int, nis text);\n"
        "SELECT format('CREATE INDEX ON t (%I)', c) FROM unnest(ARRAY['id', 'nis']) c \\gexec\n",
    )
    r = db.cli(mdirs, "up", "--yes", "--no-backup")
    assert r.code == 2, r.err
    assert f"{path}:2: psql meta-command '\\gexec' inside a statement is not SQL" in r.err


def test_prismas_migrations_folder_is_not_read_as_an_empty_set(
    mdirs: MigrationDirs, sqlite_url: str
) -> None:
    """Pointed at ``prisma/migrations`` (one folder per migration, each holding migration.sql),
    the tool saw no file and said "nothing to apply: the database is up to date", exit 0."""
    for folder, sql in (
        ("20240101000000_init", 'CREATE TABLE "User" (id INTEGER PRIMARY KEY);'),
        ("20240102000000_add_role", 'ALTER TABLE "User" ADD COLUMN role TEXT;'),
    ):
        (mdirs.migrations / folder).mkdir()
        (mdirs.migrations / folder / "migration.sql").write_text(sql + "\n")
    (mdirs.migrations / "migration_lock.toml").write_text('provider = "sqlite"\n')
    for command in (["status"], ["up", "--yes"]):
        r = run_cli("--database", sqlite_url, *mdirs.args(), *command)
        assert r.code == 2, r.err
        assert "20240101000000_init/migration.sql is one level down (Prisma's layout)" in r.err


def test_a_role_retired_with_reassign_owned(
    fresh_db: Callable[[str], DbTarget], mdirs: MigrationDirs
) -> None:
    """``REASSIGN OWNED BY old TO new`` (retiring a role's objects) and a data migration that
    walks a cursor were refused as "unparsable SQL: statement starts with 'REASSIGN'"."""
    db = fresh_db("postgresql")
    _rows(db.url, "CREATE ROLE teacher_old")
    _rows(db.url, "CREATE ROLE teacher_new")
    try:
        mdirs.add(
            "20260101_000000",
            "retire",
            """
            CREATE TABLE grades (id int);
            ALTER TABLE grades OWNER TO teacher_old;
            REASSIGN OWNED BY teacher_old TO teacher_new;
            DECLARE c CURSOR FOR SELECT id FROM grades;
            FETCH NEXT FROM c;
            MOVE LAST IN c;
            CLOSE c;
            """,
        )
        r = db.cli(mdirs, "up", "--yes", "--no-backup")
        assert r.code == 0, r.err
        owner = "SELECT tableowner FROM pg_tables WHERE tablename = 'grades'"
        assert _rows(db.url, owner) == [("teacher_new",)]
    finally:
        _rows(db.url, "DROP TABLE IF EXISTS grades")
        _rows(db.url, "DROP ROLE teacher_old")
        _rows(db.url, "DROP ROLE teacher_new")


def test_up_dry_run_sql_runs_in_psql_and_sqlite3_as_the_file_does(
    pg_cluster: PgCluster, fresh_db: Callable[[str], DbTarget], mdirs: MigrationDirs
) -> None:
    """`up --dry-run` prints "the exact SQL that would run": a statement whose last line is a
    ``-- comment`` got its ``;`` appended inside the comment (the next statement joined it:
    `syntax error` when a reviewer ran the printed SQL), and a ``COPY … FROM stdin`` (pg_dump's
    data) was printed without its rows (psql took the statements after it for rows). Each
    dialect's printed SQL now runs in its own shell and loads what `up` loads. (PostgreSQL's
    ``ANALYSE`` spelling was refused as "unparsable SQL".)"""
    rows = [(1, "Ani -- kelas 7"), (2, "Budi; wali")]
    sqlite_file = (
        "CREATE TABLE siswa (id int, nama text);\n"
        "INSERT INTO siswa VALUES\n  (1, 'Ani -- kelas 7'),\n  (2, 'Budi; wali')  -- last row\n;\n"
        "CREATE INDEX siswa_nama ON siswa (nama) -- for lookups"
    )
    pg_file = (
        "CREATE TABLE siswa (id int, nama text) -- the class list\n;\n"
        "COPY siswa (id, nama) FROM stdin;\n1\tAni -- kelas 7\n2\tBudi; wali\n\\.\n"
        "CREATE INDEX siswa_nama ON siswa (nama);\nANALYSE siswa;\n"
        # A -- after a $$ quote or an E'' string holding an apostrophe (read as an open quote)
        "COMMENT ON TABLE siswa IS $$kelas Jum'at$$ -- catatan\n;\n"
        "UPDATE siswa SET nama = E'O\\'Brien' WHERE id = 3 -- tidak ada\n;\n"
    )
    for kind, text in (("postgresql", pg_file), ("sqlite", sqlite_file)):
        db, shell = fresh_db(kind), fresh_db(kind)
        mdirs.migrations.joinpath("20260101_000000_siswa.sql").write_text(text, encoding="utf-8")
        r = db.cli(mdirs, "up", "--dry-run")
        assert r.code == 0, r.err
        if kind == "sqlite":
            with sqlite3.connect(shell.url.removeprefix("sqlite:///")) as conn:
                conn.executescript(r.out)  # the sqlite3 shell's own reading of a script
                assert conn.execute("SELECT * FROM siswa ORDER BY id").fetchall() == rows
        else:
            subprocess.run(
                [pg_cluster.bin("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", shell.url],
                input=r.out, capture_output=True, text=True, check=True, timeout=60,
            )  # fmt: skip
            assert _rows(shell.url, "SELECT * FROM siswa ORDER BY id") == rows
        r = db.cli(mdirs, "up", "--yes", "--no-backup")
        assert r.code == 0, r.err
        if kind == "sqlite":
            with sqlite3.connect(db.url.removeprefix("sqlite:///")) as conn:
                assert conn.execute("SELECT * FROM siswa ORDER BY id").fetchall() == rows
        else:
            assert _rows(db.url, "SELECT * FROM siswa ORDER BY id") == rows


def test_a_guard_select_stops_the_migration_on_sqlite_as_on_d1(
    tmp_path: Path, mdirs: MigrationDirs
) -> None:
    """SQLite has no RAISE outside a trigger, so a data check before a change is a SELECT that
    fails on a bad row (``json('stop: …')``). Python's sqlite3 stepped a statement that returns
    rows only to its first row: a bad second row passed, and the change after the guard was
    applied and recorded (D1 and the sqlite3 shell read every row: refused). `up` (with and
    without --debug) and `test` now read the guard to its end: the bad row stops it there."""
    mdirs.add(
        "20260101_000000",
        "users",
        "CREATE TABLE users (id int, email text);\n"
        "INSERT INTO users VALUES (1, 'ani@malnu.sch.id'), (2, NULL), (3, 'budi@malnu.sch.id');",
        "DROP TABLE users;",
    )
    mdirs.add(
        "20260102_000000",
        "email_required",
        "SELECT CASE WHEN email IS NULL THEN json('stop: a user has no email') END FROM users;\n"
        "CREATE UNIQUE INDEX users_email ON users (email);",
        "DROP INDEX users_email;",
    )
    for extra in ((), ("--debug",)):
        db = tmp_path / f"guard{len(extra)}.db"
        base = ["--database", f"sqlite:///{db}", *mdirs.args(), *extra]
        res = run_cli(*base, "up", "--to", "20260101_000000", "--yes", "--no-backup")
        assert res.code == 0, res.err
        res = run_cli(*base, "up", "--yes", "--no-backup")
        assert res.code == 1, res.out + res.err
        assert "20260102_000000_email_required.sql failed at line 1: malformed JSON" in res.err
        with sqlite3.connect(db) as conn:
            index = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'users_email'")
            assert index.fetchall() == []  # nothing after the guard ran
            rows = conn.execute("SELECT success FROM migrations ORDER BY id").fetchall()
            assert rows == [(1,), (0,)]
    res = run_cli("--database", f"sqlite:///{tmp_path / 'scratch.db'}", *mdirs.args(), "test")
    assert res.code == 1, res.out + res.err
    assert "malformed JSON" in res.out + res.err
