"""The sync finds the destination's tables and columns the way SQLite names them: a mirror that
`up` built from the primary's SQLite migrations has the translation's lower-case names
(``[Album]``/``AlbumId`` → ``album``/``albumid``, Prisma's ``"User"``/``"createdAt"`` →
``"user"``/``createdat``), and the sync, looking for the source's exact names, refused every
such table (a bracket-quoted ``[Album]``, every Prisma-on-D1 project's ``User``); the other way
round a SQLite copy's ``"Email"`` was not a PostgreSQL source's ``email``."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from tests.inproc import run_inproc
from tests.sync_support import Db, make_db, sync, verify

STAMP = "2026-12-01 08:00:00"
LATER = "2026-12-02 08:00:00"
# SQL Server ports' and Prisma's spelling: bracketed and quoted mixed-case names; a foreign key from
# Album to Artist (synced parents first: the source's order puts Album before Artist).
MIGRATIONS = {
    "20260101_000000_artist.sql": "CREATE TABLE [Artist] (\n"
    "    [ArtistId] INTEGER NOT NULL PRIMARY KEY,\n"
    "    [Name] NVARCHAR(120),\n"
    "    updated_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP\n);\n",
    "20260101_000100_album.sql": "CREATE TABLE [Album] (\n"
    "    [AlbumId] INTEGER NOT NULL PRIMARY KEY,\n"
    "    [Title] NVARCHAR(160) NOT NULL,\n"
    "    [ArtistId] INTEGER NOT NULL REFERENCES [Artist] ([ArtistId]),\n"
    "    updated_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP\n);\n",
    "20260101_000200_user.sql": 'CREATE TABLE "User" (\n'
    '    "id" TEXT NOT NULL PRIMARY KEY,\n'
    '    "Email" TEXT NOT NULL,\n'
    '    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,\n'
    "    updated_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP\n);\n",
}


def _school(tmp_path: Path, mirror: Db) -> tuple[Db, list[str]]:
    """The primary (SQLite) and ``mirror`` (PostgreSQL), both built by `up` from MIGRATIONS."""
    for folder, down in (("m", False), ("r", True)):
        (tmp_path / folder).mkdir()
        for name, text in MIGRATIONS.items():
            table = name.split("_")[-1].removesuffix(".sql")
            (tmp_path / folder / name).write_text(f"DROP TABLE {table};\n" if down else text)
    primary = Db("sqlite", f"sqlite:///{tmp_path / 'primary.db'}", path=tmp_path / "primary.db")
    config = tmp_path / "malnu.toml"
    config.write_text(
        "".join(
            f'[targets.{name}]\nurl = "{url}"\nmigrations_dir = "{tmp_path / "m"}"\n'
            f'rollback_dir = "{tmp_path / "r"}"\n{extra}\n'
            for name, url, extra in (
                ("primary", primary.url, ""),
                ("mirror", mirror.url, 'dialect = "sqlite"\n'),
            )
        ),
        encoding="utf-8",
    )
    cfg = ["--config", str(config)]
    for target in ("primary", "mirror"):
        res = run_inproc(*cfg, "--target", target, "up", "--yes", "--no-backup")
        assert res.code == 0, res.err
    return primary, cfg


def _sync(cfg: list[str], *more: str) -> tuple[int, list[dict[str, object]], str]:
    res = run_inproc(*cfg, "sync", "--from", "primary", "--to", "mirror", "--yes", "--json", *more)
    return res.code, json.loads(res.out) if res.out.strip() else [], res.err


def test_a_mirror_up_built_is_synced_under_the_translations_names(
    tmp_path: Path, pg_url: str
) -> None:
    mirror = Db("postgresql", pg_url)
    primary, cfg = _school(tmp_path, mirror)
    # The translation's names, as `up` made them (the README's road to a reporting mirror).
    tables = mirror.run(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
        "AND table_name IN ('artist', 'album', 'user') ORDER BY 1"
    )
    assert tables == [("album",), ("artist",), ("user",)]
    primary.many(
        "INSERT INTO Artist VALUES (?, ?, ?)", [(i, f"Artist {i}", STAMP) for i in range(1, 6)]
    )
    primary.many(
        "INSERT INTO Album VALUES (?, ?, ?, ?)",
        [(i, f"Album {i}", 1 + i % 5, STAMP) for i in range(1, 21)],
    )
    primary.many(
        'INSERT INTO "User" VALUES (?, ?, ?, ?)',
        [(f"u{i}", f"u{i}@malnu.sch.id", STAMP, STAMP) for i in range(1, 4)],
    )
    # A table of the primary's own that no migration made: the copy the sync makes takes the
    # translation's names too (one rule for the secondary: a later `up` finds it).
    primary.run("CREATE TABLE [Genre] ([GenreId] INTEGER PRIMARY KEY, [Name] TEXT)")
    primary.run("INSERT INTO Genre VALUES (1, 'Rock')")

    # The mirror lacks the copies' synced_at: the refusal's statements name its tables.
    code, _reports, err = _sync(cfg)
    assert code == 2, err
    for t in ("artist", "album", "user"):
        add = f'ALTER TABLE "public"."{t}" ADD COLUMN synced_at timestamp'
        assert add in err, err
        mirror.run(add)  # as it says
    code, reports, err = _sync(cfg)
    assert code == 0, err
    by = {r["table"]: r for r in reports}
    assert list(by) == ["Artist", "Album", "Genre", "User"], reports  # parents first
    assert {t: r.get("dest_table") for t, r in by.items()} == {
        "Artist": "artist",
        "Album": "album",
        "Genre": "genre",
        "User": "user",
    }
    assert all(r["verified"] for r in reports), reports
    assert "note: Album → album; AlbumId → albumid, Title → title, ArtistId → artistid" in err
    assert err.count("Album → album") == 1, err  # said once, in the plan
    assert mirror.run("SELECT count(*) FROM album")[0][0] == 20
    assert mirror.run('SELECT email FROM "user" WHERE id = ?', ("u2",)) == [("u2@malnu.sch.id",)]
    assert mirror.run("SELECT genreid, name FROM genre") == [(1, "Rock")]
    # No second table beside the mirror's, in the source's case.
    for name in ("Artist", "Album", "User", "Genre"):
        assert mirror.run("SELECT to_regclass(?)", (f'"{name}"',)) == [(None,)]
    states = mirror.run("SELECT table_name, status FROM malnu_sync ORDER BY 1")
    assert states == [(t, "done") for t in ("album", "artist", "genre", "user")]

    # An incremental pass: its watermark, an update and a delete, found under the same names.
    primary.run("UPDATE Album SET Title = 'Renamed', updated_at = ? WHERE AlbumId = 3", (LATER,))
    primary.run("DELETE FROM Album WHERE AlbumId = 7")
    code, reports, err = _sync(cfg, "--tables", "Album")
    assert code == 0, err
    (album,) = reports
    assert (album["mode"], album["updated"], album["deleted"]) == ("updated_at", 1, 1), album
    assert album["verified"] is True and album["dest_table"] == "album"
    assert mirror.run("SELECT title FROM album WHERE albumid = 3") == [("Renamed",)]
    assert mirror.run("SELECT count(*) FROM album")[0][0] == 19
    res = run_inproc(*cfg, "sync", "verify", "--from", "primary", "--to", "mirror", "--json")
    assert res.code == 0, res.err
    assert [(r["table"], r.get("dest_table"), r["verified"]) for r in json.loads(res.out)] == [
        ("Album", "album", True),
        ("Artist", "artist", True),
        ("Genre", "genre", True),
        ("User", "user", True),
    ]

    # Two tables there that are each Album's lower-case name: which one is the copy's is
    # not clear, and the sync is refused naming both, before anything is written.
    mirror.run('CREATE TABLE "ALBUM" (albumid bigint PRIMARY KEY)')
    mirror.run('ALTER TABLE album RENAME TO "aLbum"')
    code, _reports, err = _sync(cfg, "--tables", "Album")
    assert code == 2, err
    assert "Album: the destination has tables ALBUM, aLbum, each album as the" in err, err
    res = run_inproc(*cfg, "sync", "verify", "--from", "primary", "--to", "mirror")
    assert res.code == 2 and "the destination has tables ALBUM, aLbum" in res.err, res.err


@pytest.mark.parametrize("kind", ["sqlite", "d1"])
def test_a_sqlite_copy_made_by_migrations_takes_a_postgresql_sources_lower_case_names(
    request: pytest.FixtureRequest, tmp_path: Path, pg_url: str, kind: str
) -> None:
    """The other way round: a PostgreSQL source with the translation's names (``"user"``,
    ``email``, ``createdat``) into a SQLite or D1 database whose own migrations made
    ``"User"("Email", "createdAt")``: SQLite finds the table in any case, and the sync now
    finds the columns so too (it was refused: the copy "lacks" email, "has" Email)."""
    src = Db("postgresql", pg_url)
    dst = make_db(kind, request, tmp_path, "copy")
    src.run(
        'CREATE TABLE "user" (id text PRIMARY KEY, email text NOT NULL, createdat timestamp, '
        "updated_at timestamp)"
    )
    src.many(
        'INSERT INTO "user" VALUES (?, ?, ?, ?)',
        [(f"u{i}", f"u{i}@malnu.sch.id", STAMP, STAMP) for i in range(1, 6)],
    )
    dst.run(
        'CREATE TABLE "User" ("Id" TEXT NOT NULL PRIMARY KEY, "Email" TEXT NOT NULL, '
        '"createdAt" DATETIME, "updated_at" DATETIME, synced_at DATETIME)'
    )
    first = sync(src, dst)
    assert (first.inserted, first.verified) == (5, True), first
    src.run(
        """UPDATE "user" SET email = 'new@malnu.sch.id', updated_at = ? WHERE id = 'u2'""", (LATER,)
    )
    src.run("DELETE FROM \"user\" WHERE id = 'u4'")
    again = sync(src, dst)
    assert (again.mode, again.updated, again.deleted, again.verified) == (
        "updated_at",
        1,
        1,
        True,
    ), again
    assert dst.run('SELECT "Email" FROM "User" WHERE "Id" = \'u2\'') == [("new@malnu.sch.id",)]
    assert verify(src, dst).verified
    assert dst.run("SELECT table_name FROM malnu_sync") == [("user",)]


def test_a_keyless_table_with_capitals_is_copied_whole_under_the_copys_names(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    # Two pieces of this session met: a keyless table is copied whole (whole.py reads and
    # writes through the side's own connection) and a PostgreSQL copy takes the translation's
    # lower-case names; the whole copy wrote to "public"."PostTags", which is posttags there
    # ("relation does not exist"), and its state row under the source's name.
    src, dst = (
        make_db("sqlite", request, tmp_path, "src"),
        make_db("postgresql", request, tmp_path, "d"),
    )
    src.run('CREATE TABLE "PostTags" ("PostId" INTEGER NOT NULL, "Tag" TEXT)')
    src.run("INSERT INTO \"PostTags\" VALUES (1, 'a'), (1, 'a'), (2, 'b')")
    first = sync(src, dst)
    assert (first.mode, first.inserted, first.verified) == ("whole", 3, True)
    assert first.as_json()["dest_table"] == "posttags"  # (it was left out, the keyed said it)
    src.run("INSERT INTO \"PostTags\" VALUES (3, 'c')")
    second = sync(src, dst)
    assert (second.inserted, second.deleted, second.verified) == (4, 3, True)
    assert dst.run("SELECT postid, tag FROM posttags ORDER BY 1, 2") == [
        (1, "a"), (1, "a"), (2, "b"), (3, "c"),
    ]  # fmt: skip
    assert dst.run("SELECT table_name FROM malnu_sync") == [("posttags",)]
    checked = verify(src, dst)
    assert checked.verified and checked.as_json()["dest_table"] == "posttags"


def test_a_capitalised_table_s_sequence_left_behind_is_told(
    tmp_path: Path, pg_url: str, pg_cluster: Any
) -> None:
    """A mirror's identity sequence the sync's role may not move is told as a warning with
    the `setval` to run: the warnings are kept under the copy's name (``kelas``) and were
    looked up under the source's (``Kelas``), so a capitalised table's was lost: the sync
    said nothing, and the application's next INSERT took id 1 again."""
    src, pg = (
        Db("sqlite", f"sqlite:///{tmp_path / 's.db'}", tmp_path / "s.db"),
        Db("postgresql", pg_url),
    )
    src.run('CREATE TABLE "Kelas" (id INTEGER PRIMARY KEY AUTOINCREMENT, nama TEXT)')
    src.run("INSERT INTO \"Kelas\" (id, nama) VALUES (1, 'X-1'), (7, 'XII-1')")
    pg.run(
        "CREATE TABLE kelas (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, "
        "nama text, synced_at timestamp)"
    )
    role = f"sync_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_cluster.superuser_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    try:
        pg.run(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}")
        pg.run(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {role}")
        pg.run(f"GRANT CREATE ON SCHEMA public TO {role}")
        report = sync(src, Db("postgresql", pg_url.replace("://postgres@", f"://{role}@")))
        assert report.verified and report.dest_table == "kelas"
        (warning,) = report.warnings
        assert warning.startswith("the sequence public.kelas_id_seq was not moved"), warning
    finally:
        for where in (pg_url, pg_cluster.superuser_url):
            with psycopg.connect(where, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
        with psycopg.connect(pg_cluster.superuser_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
