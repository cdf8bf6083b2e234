"""A PostgreSQL dump's table of contents (backup/pg_toc.py) read from a real dump whose names
hold spaces, quotes and unicode: pg_restore prints them unquoted (`TABLE Data Sekolah Data
Siswa tata usaha`), and split on spaces they were misread by the restore, the deep verify and
the roles check."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from malnu_tui.engine.backup.pg_listing import restore_listing
from malnu_tui.engine.backup.pg_toc import TocLine, read_toc, superuser_only, toc
from malnu_tui.engine.backup.pg_tools import find_pg_tools
from tests.fixtures_core import MigrationDirs
from tests.fixtures_matrix import DbTarget

OWNER = "toc tata usaha"  # (roles are the cluster's: this test's own names)
GURU = "toc guru"  # a role that is not OWNER
S = "Data Sekolah"
SETUP = [
    f'CREATE SCHEMA "{S}" AUTHORIZATION "{OWNER}"',
    f'CREATE TABLE "{S}"."Data Siswa" (id int PRIMARY KEY, "nama lengkap" text)',
    f'ALTER TABLE "{S}"."Data Siswa" OWNER TO "{OWNER}"',
    f'CREATE TABLE "{S}"."nilai ""akhir"" ✓" (id int REFERENCES "{S}"."Data Siswa")',
    f'CREATE FUNCTION "{S}"."Hitung Nilai"(a integer, b text) RETURNS int LANGUAGE sql '
    "AS $$ SELECT 1 $$",
    f"CREATE TYPE \"{S}\".\"jenis kelamin\" AS ENUM ('L', 'P')",
    'CREATE FUNCTION public."Hitung Rata"(nilai integer) RETURNS int LANGUAGE sql '
    "AS $$ SELECT 1 $$",
    "COMMENT ON FUNCTION public.\"Hitung Rata\"(integer) IS 'rata-rata'",
    'REVOKE ALL ON FUNCTION public."Hitung Rata"(integer) FROM PUBLIC',
    f'GRANT SELECT ON "{S}"."Data Siswa" TO PUBLIC',
    f"INSERT INTO \"{S}\".\"Data Siswa\" VALUES (1, 'Siti Aminah'), (2, 'Budi')",
    f'INSERT INTO "{S}"."nilai ""akhir"" ✓" VALUES (1)',
    f'CREATE FUNCTION "{S}".pantau() RETURNS event_trigger LANGUAGE plpgsql AS $$ BEGIN END $$',
    f'CREATE EVENT TRIGGER "pantau ddl" ON ddl_command_end EXECUTE FUNCTION "{S}".pantau()',
    "COMMENT ON EVENT TRIGGER \"pantau ddl\" IS 'catat perubahan'",
]


def test_a_database_whose_names_hold_spaces_restores_and_verifies_as_it_was(
    fresh_db: Callable[[str], DbTarget],
    mdirs: MigrationDirs,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A school's `"Data Sekolah"` schema, owned by `"tata usaha"`: the restore read the
    schema as `Data` and the owner as `usaha` (no such role), so it restored with
    `--no-owner` (every object then owned by the restoring role), and left what was created
    there after the backup (a table, a function, a type: the next `up` of that migration
    failed on "already exists"), unlocked meanwhile. Each line of the dump's list is now read
    whole: the restore brings the database back as it was, owners and all, and the deep
    verify and a `recover` pass."""
    db = fresh_db("postgresql")
    monkeypatch.setenv("MALNU_BACKUP_DIR", str(tmp_path / "backups"))
    with psycopg.connect(db.url, autocommit=True) as conn:
        conn.execute(f'DROP ROLE IF EXISTS "{OWNER}"')
        conn.execute(f'DROP ROLE IF EXISTS "{GURU}"')
        conn.execute(f'CREATE ROLE "{OWNER}" NOLOGIN')
        for sql in SETUP:
            conn.execute(sql)
        dbname = conn.info.dbname
        conn.execute(f'ALTER DATABASE "{dbname}" OWNER TO "{OWNER}"')  # (the school's own)
        major = int(conn.info.server_version) // 10000
    try:
        made = db.cli(mdirs, "backup", "create", "--json")
        assert made.code == 0, made.err
        backup = json.loads(made.out)
        dump = next((tmp_path / "backups").rglob(f"{backup['id']}*.dump"))
        tools = find_pg_tools(major)
        code, listed, err = toc(tools, dump)
        assert code == 0, err
        parts = {
            (ln.kind, ln.schema, ln.name, ln.owner) for ln in listed if isinstance(ln, TocLine)
        }
        assert {
            ("SCHEMA", "-", S, OWNER),
            ("TABLE", S, "Data Siswa", OWNER),
            ("TABLE DATA", S, "Data Siswa", OWNER),
            ("TABLE", S, 'nilai "akhir" ✓', "postgres"),
            ("TABLE DATA", S, 'nilai "akhir" ✓', "postgres"),
            ("CONSTRAINT", S, "Data Siswa Data Siswa_pkey", OWNER),
            ("FUNCTION", S, "Hitung Nilai(integer, text)", "postgres"),
            ("TYPE", S, "jenis kelamin", "postgres"),
            ("ACL", S, 'TABLE "Data Siswa"', OWNER),
            ("EVENT TRIGGER", "-", "pantau ddl", "postgres"),
            ("COMMENT", "-", 'EVENT TRIGGER "pantau ddl"', "postgres"),
        } <= parts, sorted(parts)
        with psycopg.connect(db.url, autocommit=True) as conn:
            # a role that is no superuser leaves the event trigger out, and says its name
            conn.execute(f'SET ROLE "{OWNER}"')
            kept, said = superuser_only(conn, listed)
            conn.execute("RESET ROLE")
            assert said == "event trigger(s) pantau ddl, which only a superuser may create"
            assert [ln for ln in listed if "EVENT TRIGGER" in ln and ln in kept] == []
            conn.execute(f'CREATE ROLE "{GURU}" NOLOGIN')
        # A restore by a role that may not act as the schema's owner leaves that schema as the
        # database has it, and says so by its name (the owner was read as `usaha`, the schema
        # as `Data`: nothing was left, and the restore failed at its first ALTER … OWNER)
        backend = db.open(mdirs)
        try:
            backend.conn.execute(f'SET ROLE "{GURU}"')
            chosen = restore_listing(backend, listed)  # type: ignore[arg-type]
        finally:
            backend.close()
        assert chosen.kept_schemas == {S}, chosen
        assert f"left as the database has it: schema(s) {S}, whose owner" in chosen.said[0]
        assert not [ln for ln in chosen.entries if isinstance(ln, TocLine) and ln.schema == S]
        assert "left out: event trigger(s) pantau ddl, which only" in " ".join(chosen.said)
        # a function of a role it may not act as is left with its comment and grants (their
        # tags name its arguments: `FUNCTION "Hitung Rata"(nilai integer)`; were restored,
        # and only the function's owner may COMMENT ON it)
        assert "function(s) public.Hitung Rata(integer) (of a role" in " ".join(chosen.said)
        assert [ln for ln in chosen.entries if "Hitung Rata" in ln] == [], chosen.entries
        with psycopg.connect(db.url, autocommit=True) as conn:
            conn.execute(f'DELETE FROM "{S}"."Data Siswa" WHERE id = 2')
            conn.execute(f'CREATE TABLE "{S}"."tambahan baru" (id int)')
            conn.execute(
                f'CREATE FUNCTION "{S}"."fungsi baru"() RETURNS int LANGUAGE sql AS $$ SELECT 2 $$'
            )
        restored = db.cli(mdirs, "backup", "restore", backup["id"], "--yes")
        assert restored.code == 0, restored.err
        assert "--no-owner" not in restored.err, restored.err
        with psycopg.connect(db.url, autocommit=True) as conn:
            assert conn.execute(
                f'SELECT id, "nama lengkap" FROM "{S}"."Data Siswa" ORDER BY id'
            ).fetchall() == [(1, "Siti Aminah"), (2, "Budi")]
            left = conn.execute(
                "SELECT c.relname, pg_get_userbyid(c.relowner) FROM pg_class c "
                "WHERE c.relnamespace = %s::regnamespace AND c.relkind = 'r' ORDER BY 1",
                (f'"{S}"',),
            ).fetchall()
            assert left == [("Data Siswa", OWNER), ('nilai "akhir" ✓', "postgres")], left
            assert conn.execute(
                "SELECT proname FROM pg_proc WHERE pronamespace = %s::regnamespace ORDER BY 1",
                (f'"{S}"',),
            ).fetchall() == [("Hitung Nilai",), ("pantau",)]
        deep = db.cli(mdirs, "backup", "verify", backup["id"], "--deep")
        assert deep.code == 0, deep.err + deep.out
        # recover: from whichever backup it starts, what was made since goes, owners stay
        with psycopg.connect(db.url, autocommit=True) as conn:
            conn.execute(f'CREATE TABLE "{S}"."tambahan kedua" (id int)')
        recovered = db.cli(mdirs, "recover", "--to", "now", "--yes")
        assert recovered.code == 0, recovered.err
        assert "--no-owner" not in recovered.err, recovered.err
        with psycopg.connect(db.url, autocommit=True) as conn:
            tables = conn.execute(
                "SELECT c.relname, pg_get_userbyid(c.relowner) FROM pg_class c "
                "WHERE c.relnamespace = %s::regnamespace AND c.relkind = 'r' ORDER BY 1",
                (f'"{S}"',),
            ).fetchall()
            assert ("Data Siswa", OWNER) in tables and "tambahan kedua" not in str(tables)
    finally:
        with psycopg.connect(db.url, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{dbname}" OWNER TO CURRENT_USER')
            conn.execute(f'DROP SCHEMA IF EXISTS "{S}" CASCADE')
            conn.execute(f'DROP OWNED BY "{OWNER}"')
            conn.execute(f'DROP ROLE "{OWNER}"')
            conn.execute(f'DROP ROLE IF EXISTS "{GURU}"')


def test_entries_no_header_splits_are_read_as_what_they_name() -> None:
    """pg_restore's --schema-only output has no header for a data entry: TABLE DATA names
    what its TABLE does, and PostgreSQL 18's STATISTICS DATA (no owner) too; a large
    object's entry is read by its words."""
    listed = [
        ";",
        "215; 1259 16389 TABLE Data Sekolah Data Siswa tata usaha",
        "3356; 0 16389 TABLE DATA Data Sekolah Data Siswa tata usaha",
        "3400; 0 0 STATISTICS DATA Data Sekolah Data Siswa ",
        "3401; 2613 16427 BLOB - 16427 tata usaha",
    ]
    sql = (
        "--\n-- TOC entry 215 (class 1259 OID 16389)\n-- Dependencies: 6\n"
        "-- Name: Data Siswa; Type: TABLE; Schema: Data Sekolah; Owner: tata usaha\n--\n\n"
        'CREATE TABLE "Data Sekolah"."Data Siswa" (id integer);\n'
    )
    read = read_toc(listed, sql)
    assert read[0] == ";" and not isinstance(read[0], TocLine)
    assert [(ln.kind, ln.schema, ln.name, ln.owner) for ln in read[1:]] == [  # type: ignore[attr-defined]
        ("TABLE", "Data Sekolah", "Data Siswa", "tata usaha"),
        ("TABLE DATA", "Data Sekolah", "Data Siswa", "tata usaha"),
        ("STATISTICS DATA", "Data Sekolah", "Data Siswa", ""),
        ("BLOB", "-", "16427", "tata usaha"),
    ]
    assert read == listed  # (each line as it was: what --use-list reads)
