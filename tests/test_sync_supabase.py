"""A Supabase table (PostgreSQL) copied into SQLite or D1 with the column types such a schema
really has — uuid keys by gen_random_uuid(), jsonb, arrays, numeric(12,2), timestamptz, date,
time, interval, an enum, a generated column, a domain, bytea, boolean, citext — and a NULL in
each: the first sync, a change, an incremental sync, a clean `sync verify`, a hand edit found
by its key."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.sync_support import Db, make_db, sync, verify

SCHEMA = (
    "CREATE TYPE hari AS ENUM ('senin', 'selasa', 'rabu')",
    "CREATE DOMAIN nilai_angka AS numeric(5,2) CHECK (VALUE >= 0 AND VALUE <= 100)",
    "CREATE DOMAIN jumlah AS integer CHECK (VALUE >= 0)",
    """CREATE TABLE profil (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        email {email},
        data jsonb,
        tags text[],
        skor int[],
        saldo numeric(12,2),
        dibuat timestamptz DEFAULT now(),
        lahir date,
        jam time,
        durasi interval,
        hari hari,
        nama_depan text,
        nama_belakang text,
        nama_lengkap text GENERATED ALWAYS AS (nama_depan || ' ' || nama_belakang) STORED,
        rata nilai_angka,
        hadir jumlah,
        foto bytea,
        aktif boolean,
        updated_at timestamptz NOT NULL DEFAULT now()
    )""",
)
ROWS = """INSERT INTO profil (email, data, tags, skor, saldo, dibuat, lahir, jam, durasi, hari,
    nama_depan, nama_belakang, rata, hadir, foto, aktif, updated_at) VALUES
 ('Ani@Malnu.sch.id', '{"b": 1, "a": [1, 2.5, "x"], "n": null, "u": "é😀"}',
  '{"a","b c","d,e","q\\"uote",NULL}', '{1,2,NULL}', 12345678.90,
  '2025-11-24 08:00:00.123456+07', '2008-02-29', '23:59:59.5', '1 day 02:03:04', 'senin',
  'Ani', 'Lestari', 85.33, 9, '\\x00ff10', true, '2025-11-24 01:00:00+00'),
 (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, '2025-11-24 01:00:00+00'),
 ('budi@x.id', '[]', '{}', '{}', -0.01, '2025-11-24 08:00:00+00', '1999-12-31', '00:00:00',
  '-3 mons', 'rabu', 'Budi', NULL, 0, 10, '\\x', false, '2025-11-24 01:00:00+00'),
 ('c@x.id', '{"x": 1e2, "y": 0.1}', ARRAY['{}', 'NULL', 'null'], ARRAY[-1], 0.10, 'infinity',
  '0044-03-15 BC', '24:00:00', '00:00:00.000001', 'selasa', 'C', 'D', 100, 100, '\\x5c', NULL,
  '2025-11-24 01:00:00+00')
"""


def _supabase_table(src: Db) -> None:
    """The Supabase-style table and its rows at ``src`` (email as citext where the server has
    the extension)."""
    citext = bool(src.run("SELECT FROM pg_available_extensions WHERE name = 'citext'"))
    if citext:
        src.run("CREATE EXTENSION citext")
    for statement in SCHEMA:
        src.run(statement.replace("{email}", "citext" if citext else "text"))
    src.run(ROWS)


@pytest.mark.parametrize("kind", ["sqlite", "d1"])
def test_a_supabase_table_walks_into_sqlite_and_d1(
    tmp_path: Path, pg_url: str, kind: str, request: pytest.FixtureRequest
) -> None:
    src = Db("postgresql", pg_url)
    dst = make_db(kind, request, tmp_path, "copy")
    _supabase_table(src)
    first = sync(src, dst)
    assert first.verified and (first.inserted, first.dest_count) == (4, 4), first
    # A domain's column is its base type's in the copy (it was TEXT: '100.00' < '85.33', and
    # a report's `rata > 90` missed the 100), and its values are numbers there.
    declared = {r[1]: r[2] for r in dst.run("PRAGMA table_info(profil)")}
    assert (declared["rata"], declared["hadir"]) == ("NUMERIC(5,2)", "INTEGER"), declared
    assert "nama_lengkap" not in declared  # generated: left to the source
    assert dst.run("SELECT email FROM profil WHERE rata > 90") == [("c@x.id",)]
    assert dst.run("SELECT email FROM profil WHERE hadir > 9 ORDER BY hadir") == [
        ("budi@x.id",),
        ("c@x.id",),
    ]
    assert verify(src, dst).verified
    src.run(
        "UPDATE profil SET data = data || '{\"z\": 2}', tags = array_append(tags, 'baru'), "
        "rata = 99.5, durasi = '25:00:00', updated_at = now() WHERE email = 'budi@x.id'"
    )
    src.run("INSERT INTO profil (email, updated_at) VALUES ('baru@x.id', now())")
    src.run("DELETE FROM profil WHERE email = 'c@x.id'")
    second = sync(src, dst)
    assert second.mode == "updated_at" and second.verified, second
    assert (second.inserted, second.updated, second.deleted) == (1, 1, 1), second
    assert verify(src, dst).verified  # no false difference
    (key,) = src.run("SELECT id::text FROM profil WHERE email = 'budi@x.id'")[0]
    dst.run("UPDATE profil SET rata = 98 WHERE id = ?", (key,))  # a hand edit in the copy
    edited = verify(src, dst)
    assert not edited.verified
    assert [(d.kind, str(d.key[0])) for d in edited.differences] == [("different", key)]


def test_a_supabase_table_copies_into_a_postgresql_without_its_types(
    pg_url: str, pg_second: str
) -> None:
    """Into another PostgreSQL database (a reporting server): the copy was refused at its
    creation, 'type "citext" does not exist' (an extension the destination lacks; so was an
    enum, 'type "hari" does not exist'). Such a column is the copy's text, as it is read and
    compared; a domain is its base type."""
    src, dst = Db("postgresql", pg_url), Db("postgresql", pg_second)
    _supabase_table(src)
    first = sync(src, dst)
    assert first.verified and first.dest_count == 4, first
    types = dict(
        dst.run(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'profil' AND column_name IN ('email', 'hari', 'rata')"
        )
    )
    assert types == {"email": "text", "hari": "text", "rata": "numeric"}, types
    src.run(
        "UPDATE profil SET email = 'BUDI@x.id', hari = 'senin', updated_at = now() "
        "WHERE email = 'budi@x.id'"
    )
    second = sync(src, dst)
    assert second.verified and second.updated == 1, second
    assert verify(src, dst).verified
    assert dst.run("SELECT hari FROM profil WHERE email = 'BUDI@x.id'") == [("senin",)]
