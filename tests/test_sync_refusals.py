"""What the destination refuses: a source value its column does not take is named by the row's
key and the column, with what to do; a copy the sync created and could not fill is dropped (the
destination as it was), one with chunks in it stays and the rerun resumes it. And keys of other
types than integers and text (BLOB keys: UUIDs stored as 16 bytes)."""

from __future__ import annotations

import uuid
from decimal import Decimal
from pathlib import Path

import pytest

from malnu_tui.engine.errors import BackendError, SyncRefused
from malnu_tui.engine.sync import SyncSession, verify_sync
from malnu_tui.engine.sync.model import key_text
from tests.sync_support import Db, make_db, sqlite_source, sqlite_to_pg, sync, verify

STAMP = "2025-11-24 08:00:00"
REFILL = "; then sync again (a full pass: the rows copied before get their values)"


def scores(src: Db, n: int, bad: dict[int, object]) -> None:
    """``scores``: ``n`` rows, an integer column ``n`` holding ``bad[id]`` where given."""
    src.run(
        "CREATE TABLE scores (id INTEGER PRIMARY KEY, n INTEGER, note TEXT, updated_at DATETIME)"
    )
    src.many(
        "INSERT INTO scores VALUES (?, ?, ?, ?)",
        [(i, bad.get(i, i * 10), f"catatan {i}", STAMP) for i in range(1, n + 1)],
    )


def dest_table(dst: Db, table: str) -> bool:
    return dst.run("SELECT to_regclass(?)", (table,)) != [(None,)]


def test_a_refused_value_names_its_row_and_the_copy_the_sync_created_is_dropped(
    tmp_path: Path, pg_url: str
) -> None:
    src, dst = sqlite_to_pg(tmp_path, pg_url)
    scores(src, 20, {7: "tujuh"})  # SQLite keeps text in an INTEGER column
    with pytest.raises(BackendError) as refused:
        sync(src, dst)
    message = str(refused.value)
    assert "writing scores, row id=7, column n: " in message, message
    assert '"tujuh"' in message and "bigint" in message
    assert refused.value.hint is not None and "correct the row at the source" in refused.value.hint
    # Nothing of it at the destination: no table, no state row; the failure is audited.
    assert not dest_table(dst, "scores")
    assert dst.run("SELECT count(*) FROM malnu_sync WHERE table_name = 'scores'") == [(0,)]
    audited = dst.run(
        "SELECT outcome, detail FROM malnu_audit WHERE action = 'sync' AND object = 'scores'"
    )
    assert [o for o, _ in audited] == ["failed"] and "row id=7" in audited[0][1]

    src.run("UPDATE scores SET n = 70 WHERE id = 7")  # corrected at the source
    report = sync(src, dst)
    assert (report.mode, report.inserted, report.verified) == ("full", 20, True)


def test_chunks_written_before_a_refused_value_stay_and_the_rerun_resumes(
    tmp_path: Path, pg_url: str
) -> None:
    src, dst = sqlite_to_pg(tmp_path, pg_url)
    scores(src, 23, {13: "x"})
    with pytest.raises(BackendError, match=r"row id=13, column n"):
        sync(src, dst, chunk_rows=5)
    # Chunks 1-5 and 6-10 were written; the one holding id 13 was not.
    assert dst.run("SELECT min(id), max(id), count(*) FROM scores") == [(1, 10, 10)]
    src.run("UPDATE scores SET n = 130 WHERE id = 13")
    report = sync(src, dst, chunk_rows=5)
    assert report.resumed and report.verified, report
    assert dst.run("SELECT count(*), count(DISTINCT id), max(n) FROM scores") == [(23, 23, 230)]
    assert verify(src, dst).verified


def test_a_null_in_a_text_primary_key_is_named(tmp_path: Path, pg_url: str) -> None:
    # SQLite lets a non-INTEGER primary key hold NULLs (and several of them).
    src, dst = sqlite_to_pg(tmp_path, pg_url)
    src.run("CREATE TABLE codes (code TEXT PRIMARY KEY, label TEXT)")
    src.many("INSERT INTO codes VALUES (?, ?)", [("a", "satu"), (None, "dua"), ("c", "tiga")])
    # Refused before anything is written (it was named at the write: "writing codes, row
    # code=NULL, column code: null value…"): such rows cannot be told apart.
    with pytest.raises(SyncRefused, match=r"codes: key code holds NULL \(SQLite lets a") as e:
        sync(src, dst)
    assert "Failing row contains" not in str(e.value)  # no row's values
    assert "dua" not in str(e.value)
    assert not dest_table(dst, "codes")


def test_a_timestamp_column_holding_unix_seconds_is_named(tmp_path: Path, pg_url: str) -> None:
    src, dst = sqlite_to_pg(tmp_path, pg_url)
    src.run("CREATE TABLE logins (id INTEGER PRIMARY KEY, at DATETIME NOT NULL)")
    src.many("INSERT INTO logins VALUES (?, ?)", [(1, STAMP), (2, 1_700_000_000)])
    with pytest.raises(BackendError, match=r'row id=2, column at: .*"1700000000"'):
        sync(src, dst)


@pytest.mark.parametrize("kind", ["sqlite", "d1"])
@pytest.mark.parametrize("indexed", [False, True], ids=["scan", "index"])
@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("unixepoch('2025-11-26 10:00:00')", "Unix seconds"),
        ("julianday('2025-11-26 10:00:00')", "a Julian day number"),
    ],
    ids=["seconds", "julian"],
)
def test_an_update_stamped_with_a_number_is_read_refused_and_carried_once_stored_as_text(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    pg_url: str,
    kind: str,
    indexed: bool,
    written: str,
    expected: str,
) -> None:
    """An application writing ``unixepoch()`` or ``julianday()`` into a DATETIME cursor
    column: a number sorts below every text in SQLite, so ``updated_at >= watermark`` never
    held for it and the incremental sync left the update behind while reporting verified.
    It is read now, refused by name with the statement that stores it as text, and carried
    once that ran."""
    src, dst = make_db(kind, request, tmp_path, "src"), Db("postgresql", pg_url)
    src.create_users(40)
    if indexed:
        src.run("CREATE INDEX users_updated ON users (updated_at)")
    assert sync(src, dst).verified
    # The watermark moves past the copy's rows (all stamped alike, inside its overlap window).
    src.run("UPDATE users SET name = 'Baru', updated_at = '2025-11-25 09:00:00' WHERE id = 3")
    assert sync(src, dst).updated == 1
    src.run(f"UPDATE users SET name = 'Dari aplikasi', updated_at = {written} WHERE id = 9")
    with pytest.raises(BackendError, match=r"writing users, row id=9, column updated_at: ") as no:
        sync(src, dst)
    hint = no.value.hint or ""
    assert expected in hint and hint.count("UPDATE") == 1, hint
    # (Unix milliseconds, Prisma's SQLite DateTime, are copied as their UTC time:
    # test_sync_watermark.py.)
    assert "Prisma" not in hint, hint
    statement = hint.split("e.g. ", 1)[1].split("; then", 1)[0]
    src.run(statement)  # the hint's own statement, run at the source
    assert src.run("SELECT updated_at FROM users WHERE id = 9") == [("2025-11-26 10:00:00",)]
    report = sync(src, dst)
    assert report.verified and report.updated == 1, report
    assert dst.run("SELECT name, updated_at::text FROM users WHERE id = 9") == [
        ("Dari aplikasi", "2025-11-26 10:00:00")
    ]
    assert verify(src, dst).verified


@pytest.mark.parametrize("kind", ["sqlite", "d1"])
def test_a_key_holding_values_of_another_type_is_refused_before_anything_is_written(
    request: pytest.FixtureRequest, tmp_path: Path, pg_url: str, kind: str
) -> None:
    """SQLite orders a column's values by type first: a text among BLOB keys (an application
    that once stored UUIDs as text), or integers in a key column with no declared type (its
    copy's key is text), cannot be paged in one order on both sides. Such a sync looped on
    repairs and reported "not verified" with no difference named; it is refused at once."""
    src, dst = make_db(kind, request, tmp_path, "src"), Db("postgresql", pg_url)
    src.run("CREATE TABLE files (id BLOB PRIMARY KEY, name TEXT)")
    blobs = [(uuid.UUID(int=i).bytes, f"f{i}") for i in range(1, 11)]
    src.many("INSERT INTO files VALUES (?, ?)", [*blobs, ("6f1c-teks", "lama")])
    src.run("CREATE TABLE logs (id PRIMARY KEY, msg TEXT)")
    src.many("INSERT INTO logs VALUES (?, ?)", [(i, f"m{i}") for i in range(1, 31)])
    with pytest.raises(SyncRefused) as refused:
        sync(src, dst, tables=("files", "logs"))
    message, hint = str(refused.value), refused.value.hint or ""
    assert (
        "files: key id holds text (e.g. '6f1c-teks') where its copy's key, bytea, takes blobs"
        in message
    )
    assert (
        "logs: key id holds integers (e.g. 1, 30) where its copy's key, text, takes text" in message
    )
    assert "declared type: none" in message and "as the one type its declared type says" in hint
    assert not dest_table(dst, "files") and not dest_table(dst, "logs")  # nothing written
    dst.run("CREATE TABLE files (id bytea PRIMARY KEY, name text, synced_at timestamp)")
    with pytest.raises(SyncRefused, match="files: key id holds text"):  # sync verify too
        with SyncSession(src.target("primary"), dst.target("analytics")) as s:
            verify_sync(s, ("files",))

    src.run("UPDATE files SET id = CAST(id AS BLOB) WHERE typeof(id) = 'text'")
    report = sync(src, dst, tables=("files",))
    assert report.verified and report.inserted == 11, report
    assert verify(src, dst, ("files",)).verified


def test_a_refusal_says_what_to_do_for_its_own_reason(tmp_path: Path, pg_url: str) -> None:
    src, dst = sqlite_to_pg(tmp_path, pg_url)
    src.run("CREATE TABLE log (line TEXT, at DATETIME)")  # no key: copied whole, not refused
    assert sync(src, dst).mode == "whole"
    src.run("DROP TABLE log")
    scores(src, 3, {})
    dst.run("CREATE TABLE scores (id BIGINT PRIMARY KEY, n TEXT)")  # other columns
    with pytest.raises(SyncRefused) as mismatch:
        sync(src, dst)
    assert mismatch.value.hint is not None
    assert "n of another type at the destination (changed at the source?): replace them there" in (
        mismatch.value.hint
    )  # with the statements (it was the generic SyncRefused.MISMATCH)
    assert 'ALTER TABLE "public"."scores" ADD COLUMN "n" bigint' in mismatch.value.hint
    # A table the destination's own migrations made: all but the column the sync stamps.
    dst.run("DROP TABLE scores")
    dst.run(
        "CREATE TABLE scores (id BIGINT PRIMARY KEY, n BIGINT, note TEXT, updated_at TIMESTAMP)"
    )
    with pytest.raises(SyncRefused, match="destination lacks the synced_at column") as unstamped:
        sync(src, dst)
    assert unstamped.value.hint is not None
    alter = unstamped.value.hint.split(": ", 1)[1]
    assert alter == 'ALTER TABLE "public"."scores" ADD COLUMN synced_at timestamp'
    dst.run(alter)  # as the hint says
    assert sync(src, dst).verified


@pytest.mark.parametrize("kind", ["sqlite", "d1"])
def test_blob_keys_sync_incrementally_and_verify(
    kind: str, tmp_path: Path, pg_url: str, request: pytest.FixtureRequest
) -> None:
    # From D1, a page's bound is a BLOB parameter, which D1's JSON cannot carry: inlined.
    src, dst = make_db(kind, request, tmp_path, "source"), Db("postgresql", pg_url)
    src.run("CREATE TABLE devices (id BLOB PRIMARY KEY, name TEXT, updated_at DATETIME)")
    ids = sorted(uuid.UUID(int=(i * 0x9E3779B97F4A7C15) % 2**128).bytes for i in range(1, 301))
    src.many(
        "INSERT INTO devices VALUES (?, ?, ?)", [(k, f"HP {i}", STAMP) for i, k in enumerate(ids)]
    )
    first = sync(src, dst, chunk_rows=64)
    assert (first.mode, first.inserted, first.verified) == ("full", 300, True), first
    assert dst.run("SELECT pg_typeof(id)::text FROM devices LIMIT 1") == [("bytea",)]
    assert verify(src, dst).verified

    later = "2025-11-25 09:00:00"
    src.run("UPDATE devices SET name = 'diganti', updated_at = ? WHERE id IN (?, ?)",
            (later, ids[0], ids[150]))  # fmt: skip
    src.run("DELETE FROM devices WHERE id IN (?, ?, ?)", (ids[1], ids[200], ids[299]))
    new = uuid.UUID(int=7).bytes
    src.run("INSERT INTO devices VALUES (?, 'baru', ?)", (new, later))
    second = sync(src, dst, chunk_rows=64)
    assert second.mode == "updated_at" and second.verified, second
    assert (second.inserted, second.updated, second.deleted) == (1, 2, 3), second
    assert dst.count("devices") == 298
    assert dst.run("SELECT name FROM devices WHERE id = ?", (ids[150],)) == [("diganti",)]

    dst.run("UPDATE devices SET name = 'diubah' WHERE id = ?", (ids[42],))  # by hand
    found = verify(src, dst)
    assert not found.verified
    assert [d.describe(found.key) for d in found.differences] == [
        f"different: {key_text(('id',), (ids[42],))}"
    ]
    assert key_text(("id",), (ids[42],)) == f"id=x'{ids[42].hex()}'"


@pytest.mark.parametrize("kind", ["sqlite", "d1", "postgresql"])
def test_only_an_empty_copy_is_dropped_with_its_state_row(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    src = sqlite_source(tmp_path)
    scores(src, 3, {})
    dst = make_db(kind, request, tmp_path, "dest")
    assert sync(src, dst).verified  # the table, with its state row
    with SyncSession(src.target("primary"), dst.target("analytics")) as s:
        assert not s.dst.drop_empty_copy("scores")  # rows in it: kept
        assert not s.dst.drop_empty_copy("absent")
    dst.run("DELETE FROM scores")
    with SyncSession(src.target("primary"), dst.target("analytics")) as s:
        assert s.dst.drop_empty_copy("scores")
        assert "scores" not in s.dst.tables() and s.dst.read_state("scores") is None


def test_a_statement_d1_cannot_take_leaves_no_copy_there(
    tmp_path: Path, pg_url: str, d1_url: str, request: pytest.FixtureRequest
) -> None:
    pg = Db("postgresql", pg_url)
    pg.run("CREATE TABLE notes (id BIGINT PRIMARY KEY, body TEXT)")
    pg.many("INSERT INTO notes VALUES (?, ?)", [(1, "pendek"), (2, "x" * 2_100_000)])
    d1 = make_db("d1", request, tmp_path, "d1")
    with pytest.raises(BackendError, match="writing notes, row id=2, column body: a row of "):
        sync(pg, d1)
    assert d1.run("SELECT name FROM sqlite_master WHERE name = 'notes'") == []


@pytest.mark.parametrize("kind", ["sqlite", "d1"])
def test_a_row_a_sqlite_destinations_own_constraint_refuses_is_named(
    kind: str, tmp_path: Path, pg_url: str, request: pytest.FixtureRequest
) -> None:
    """PostgreSQL → SQLite into a table the destination's own migrations made, with a
    constraint the source lacks (emails unique whatever their case): SQLite's message names
    no row, so the chunk's rows are tried one by one (and rolled back) to name it. Into D1
    the error was D1's bare "UNIQUE constraint failed: akun.email: SQLITE_CONSTRAINT", naming
    neither the database nor the row, with no hint: the row is found by halving the chunk in
    batches D1 rolls back."""
    src, dst = Db("postgresql", pg_url), make_db(kind, request, tmp_path, "dest")
    src.run("CREATE TABLE akun (id BIGINT PRIMARY KEY, email TEXT NOT NULL, updated_at TIMESTAMP)")
    src.many(
        "INSERT INTO akun VALUES (?, ?, ?)",
        [(i, f"siswa{i}@malnu.sch.id", STAMP) for i in range(1, 31)],
    )
    src.run("UPDATE akun SET email = 'SISWA3@malnu.sch.id' WHERE id = 23")
    dst.run(
        "CREATE TABLE akun (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE COLLATE NOCASE, "
        "updated_at DATETIME, synced_at DATETIME)"
    )
    with pytest.raises(BackendError) as refused:
        sync(src, dst, chunk_rows=10)
    message, hint = str(refused.value), refused.value.hint or ""
    assert "writing akun, row id=23: UNIQUE constraint failed: akun.email" in message, message
    assert "a constraint of its own" in hint and "the next sync resumes" in hint
    # The chunks before it stay; the refused one is not written, nor anything after it.
    assert dst.count("akun") == 20
    src.run("UPDATE akun SET email = 'siswa23@malnu.sch.id' WHERE id = 23")
    again = sync(src, dst, chunk_rows=10)
    assert again.verified and dst.count("akun") == 30, again


ODD_PAIRS = [
    ("sqlite", "postgresql"),
    ("d1", "postgresql"),
    ("postgresql", "sqlite"),
    ("postgresql", "d1"),
]


@pytest.mark.parametrize(("a", "b"), ODD_PAIRS, ids=[f"{a}-to-{b}" for a, b in ODD_PAIRS])
def test_names_with_percent_signs_spaces_quotes_and_keywords_sync_both_ways(
    a: str, b: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    # psycopg reads a "%" in a quoted name as a placeholder's once a statement has parameters.
    src, dst = make_db(a, request, tmp_path, "source"), make_db(b, request, tmp_path, "dest")
    kinds = ("BIGINT", "DOUBLE PRECISION", "TIMESTAMP") if a == "postgresql" else (
        "INTEGER", "REAL", "DATETIME")  # fmt: skip
    src.run(
        f'CREATE TABLE "Nilai % Siswa" ("Student Id" {kinds[0]} PRIMARY KEY, "Grade %" {kinds[1]}, '
        f'"50%s" TEXT, "order" TEXT, "say ""hi""" TEXT, updated_at {kinds[2]})'
    )
    rows = [(i, i / 4, f"{i}%", "asc", 'he said "hi"', STAMP) for i in range(1, 41)]
    src.many('INSERT INTO "Nilai % Siswa" VALUES (?, ?, ?, ?, ?, ?)', rows)
    first = sync(src, dst, chunk_rows=16)
    assert (first.mode, first.inserted, first.verified) == ("full", 40, True), first
    later = "2025-11-25 09:00:00"
    src.run('UPDATE "Nilai % Siswa" SET "Grade %" = 99.5, updated_at = ? WHERE "Student Id" = 7',
            (later,))  # fmt: skip
    src.run('DELETE FROM "Nilai % Siswa" WHERE "Student Id" = 30')
    src.run("INSERT INTO \"Nilai % Siswa\" VALUES (41, 0.5, 'x%', 'desc', '', ?)", (later,))
    second = sync(src, dst, chunk_rows=16)
    assert second.mode == "updated_at" and second.verified, second
    assert (second.inserted, second.updated, second.deleted) == (1, 1, 1), second
    # (a copy made in PostgreSQL from SQLite or D1 has the translation's lower-case names)
    dst.run('UPDATE "nilai % siswa" SET "50%s" = \'diubah\' WHERE "student id" = 12')
    found = verify(src, dst)
    assert [d.describe(found.key) for d in found.differences] == ["different: Student Id=12"]


def test_an_incremental_sync_names_a_refused_value_and_writes_nothing_of_its_chunk(
    tmp_path: Path, pg_url: str
) -> None:
    src, dst = sqlite_to_pg(tmp_path, pg_url)
    scores(src, 30, {})
    assert sync(src, dst).verified
    later = "2025-11-25 09:00:00"
    src.run("UPDATE scores SET note = 'baru', updated_at = ? WHERE id IN (3, 4)", (later,))
    src.run("UPDATE scores SET n = 'dua puluh', updated_at = ? WHERE id = 20", (later,))
    with pytest.raises(BackendError, match=r"writing scores, row id=20, column n: ") as refused:
        sync(src, dst)
    assert refused.value.hint is not None and "correct the row" in refused.value.hint
    assert dst.run("SELECT note FROM scores WHERE id IN (3, 4) ORDER BY id") == [
        ("catatan 3",),
        ("catatan 4",),
    ]  # the chunk was not written
    src.run("UPDATE scores SET n = 200 WHERE id = 20")
    again = sync(src, dst)
    assert again.verified and again.updated == 3, again


COLUMN_PAIRS = [("sqlite", "postgresql"), ("postgresql", "sqlite")]


@pytest.mark.parametrize(("a", "b"), COLUMN_PAIRS, ids=[f"{a}-to-{b}" for a, b in COLUMN_PAIRS])
def test_a_column_a_migration_added_at_the_source_is_refused_with_the_statements_that_add_it(
    a: str, b: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    src, dst = make_db(a, request, tmp_path, "source"), make_db(b, request, tmp_path, "dest")
    kinds = ("BIGINT", "TIMESTAMP") if a == "postgresql" else ("INTEGER", "DATETIME")
    src.run(f"CREATE TABLE siswa (id {kinds[0]} PRIMARY KEY, nama TEXT, updated_at {kinds[1]})")
    src.many("INSERT INTO siswa VALUES (?, ?, ?)", [(i, f"Siswa {i}", STAMP) for i in range(1, 21)])
    assert sync(src, dst).verified
    src.run("ALTER TABLE siswa ADD COLUMN kelas TEXT DEFAULT 'X-1'")  # the primary's migration
    src.run('ALTER TABLE siswa ADD COLUMN "nilai %" REAL')
    with pytest.raises(SyncRefused, match="destination lacks column") as refused:
        sync(src, dst)
    hint = refused.value.hint
    assert hint is not None and hint.startswith("add them at the destination: ")
    assert hint.endswith(REFILL), hint
    statements = hint.removeprefix("add them at the destination: ").removesuffix(REFILL)
    for statement in statements.split("; "):
        dst.run(statement)  # as the hint says
    full = sync(src, dst, full=True)
    assert full.verified and full.updated == 20, full
    assert dst.run("SELECT kelas FROM siswa WHERE id = 3") == [("X-1",)]
    assert verify(src, dst).verified

    # A later migration drops one: the hint was the generic "make the destination table
    # match"; it now gives the statement that drops it there too. Not as its first word: it
    # said "the source has dropped them: drop them …", which for a column the destination
    # added on purpose (an analytics side's) deletes its data; both readings are offered.
    src.run('ALTER TABLE siswa DROP COLUMN "nilai %"')
    with pytest.raises(SyncRefused, match=r"destination has column\(s\) the source lacks") as gone:
        sync(src, dst)
    hint = gone.value.hint
    assert hint is not None and hint.endswith('DROP COLUMN "nilai %"; then sync again'), hint
    assert hint.startswith(
        "nilai % is in the copy only (the source has no such column): the copy cannot be "
        "verified with it. If it belongs to the destination (added there on purpose), keep it "
        "in a table of its own beside the copy, or leave siswa out with --tables; if the source "
        "dropped it, drop it here too (the values there go with it): ALTER TABLE "
    ), hint
    assert "has dropped" not in hint
    dst.run(hint.rsplit(": ", 1)[1].removesuffix("; then sync again"))  # as the hint says
    assert sync(src, dst).verified and verify(src, dst).verified


def test_a_jsonb_key_is_paged_in_its_own_order(
    tmp_path: Path, pg_url: str, request: pytest.FixtureRequest
) -> None:
    # JSON is read as its text; that text once named the column, so ORDER BY the key sorted
    # the pages as text ("10" before "2") while their bounds compared as jsonb: rows skipped.
    pg = Db("postgresql", pg_url)
    pg.run("CREATE TABLE j (k jsonb PRIMARY KEY, v text)")
    pg.run("INSERT INTO j SELECT to_jsonb(g), 'x' FROM generate_series(1, 30) g")
    dst = make_db("sqlite", request, tmp_path, "dest")
    report = sync(pg, dst, chunk_rows=7)
    assert (report.read, report.dest_count, report.verified) == (30, 30, True), report
    assert verify(pg, dst).verified


@pytest.mark.parametrize("kind", ["sqlite", "d1", "postgresql"])
def test_postgresql_types_without_a_kind_of_their_own_travel_as_their_text(
    kind: str, tmp_path: Path, pg_url: str, request: pytest.FixtureRequest
) -> None:
    # psycopg reads an interval as a timedelta, an array as a list, an inet as an
    # IPv4Interface: SQLite could not store them (the sync stopped on "type 'datetime.
    # timedelta' is not supported"). They are read as PostgreSQL prints them.
    pg = Db("postgresql", pg_url)
    pg.run(
        "CREATE TABLE x (id bigint PRIMARY KEY, iv interval, arr int[], ip inet, tt timetz, "
        "note text, updated_at timestamp)"
    )
    pg.run(
        "INSERT INTO x VALUES (1, '1 day 2 hours', '{1,2,3}', '10.0.0.1/8', '10:00+07', 'a', "
        "'2025-11-24 08:00:00'), (2, NULL, '{}', NULL, NULL, NULL, '2025-11-24 08:00:00')"
    )
    if kind == "postgresql":
        dst = Db("postgresql", request.getfixturevalue("pg_second"))
    else:
        dst = make_db(kind, request, tmp_path, "dest")
    first = sync(pg, dst)
    assert first.verified and first.inserted == 2, first
    if kind != "postgresql":
        assert dst.run("SELECT iv, arr, ip, tt FROM x WHERE id = 1") == [
            ("1 day 02:00:00", "{1,2,3}", "10.0.0.1/8", "10:00:00+07")
        ]
    pg.run(
        "UPDATE x SET iv = '3 mons', arr = '{4}', updated_at = '2025-11-25 08:00:00' WHERE id = 2"
    )
    second = sync(pg, dst)
    assert second.verified and second.updated == 1, second
    assert verify(pg, dst).verified


@pytest.mark.parametrize("kind", ["sqlite", "d1"])
def test_a_uuid_key_from_postgresql_syncs_verifies_and_repairs(
    kind: str, tmp_path: Path, pg_url: str, request: pytest.FixtureRequest
) -> None:
    # Key bounds and key lists read from PostgreSQL are UUID objects (and NUMERICs Decimals):
    # SQLite could not bind them, D1's JSON could not carry them; they are asked as stored.
    pg = Db("postgresql", pg_url)
    pg.run("CREATE TABLE u (id uuid PRIMARY KEY, note text, n numeric(10,2), updated_at timestamp)")
    pg.run(
        "INSERT INTO u SELECT md5(g::text)::uuid, 'n' || g, g / 3.0, '2025-11-24 08:00:00' "
        "FROM generate_series(1, 200) g"
    )
    dst = make_db(kind, request, tmp_path, "dest")
    assert sync(pg, dst, chunk_rows=50).verified
    pg.run(
        "UPDATE u SET note = 'x', updated_at = '2025-11-25 08:00:00' WHERE note IN ('n5', 'n77')"
    )
    pg.run("DELETE FROM u WHERE note IN ('n9', 'n150')")
    second = sync(pg, dst, chunk_rows=50)
    assert second.verified and (second.updated, second.deleted) == (2, 2), second
    edited = str(pg.run("SELECT id FROM u WHERE note = 'n100'")[0][0])
    dst.run("UPDATE u SET note = 'diubah' WHERE note = 'n100'")
    found = verify(pg, dst)
    assert [d.describe(found.key) for d in found.differences] == [f"different: id={edited!r}"]
    dst.run("DELETE FROM u WHERE note = 'n101'")  # a row lost at the destination too
    again = sync(pg, dst, chunk_rows=50, full=True)
    assert again.verified and again.dest_count == 198, again
    assert verify(pg, dst).verified


@pytest.mark.parametrize("kind", ["sqlite", "d1"])
def test_a_value_with_more_decimals_than_the_copys_numeric_scale_is_refused_by_row(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path, pg_url: str
) -> None:
    """SQLite ignores DECIMAL(5,2)'s scale: an average 85.333 was stored 85.33 by the copy's
    numeric(5,2), reported different for ever (no reason given) and rewritten by each sync."""
    src, dst = make_db(kind, request, tmp_path, "p"), Db("postgresql", pg_url)
    src.run(
        "CREATE TABLE nilai (id INTEGER PRIMARY KEY, rata DECIMAL(5,2), skor NUMERIC(6,1), "
        "updated_at DATETIME)"
    )
    rows = [(i, 60 + i * 0.25, i * 0.5 if i % 3 else None, STAMP) for i in range(1, 41)]
    rows[22] = (23, 256 / 3, 11.5, STAMP)  # an average: 85.33333333333333
    src.many("INSERT INTO nilai VALUES (?, ?, ?, ?)", rows)
    with pytest.raises(BackendError) as refused:
        sync(src, dst)
    assert (
        "writing nilai, row id=23, column rata: 85.33333333333333 has more decimals than "
        "the destination's numeric(5,2) keeps (it would store 85.33" in str(refused.value)
    )
    fix = 'UPDATE "nilai" SET "rata" = round("rata", 2) WHERE "rata" <> round("rata", 2)'
    assert refused.value.hint is not None and fix in refused.value.hint
    src.run(fix)
    report = sync(src, dst)
    assert (report.inserted, report.verified) == (40, True), report

    later = "2025-11-25 09:00:00"
    src.run("UPDATE nilai SET skor = 0.1 + 0.2, updated_at = ? WHERE id = 5", (later,))
    src.run("UPDATE nilai SET rata = 70.5, updated_at = ? WHERE id = 6", (later,))
    with pytest.raises(BackendError, match=r"row id=5, column skor: 0\.30000000000000004 "):
        sync(src, dst)
    assert dst.run("SELECT rata FROM nilai WHERE id = 6") == [(Decimal("61.50"),)]
    src.run('UPDATE "nilai" SET "skor" = round("skor", 1) WHERE "skor" <> round("skor", 1)')
    again = sync(src, dst)
    assert (again.updated, again.verified) == (2, True), again


def test_a_unique_key_holding_nulls_is_refused_with_what_to_do_about_them(
    tmp_path: Path, pg_url: str
) -> None:
    """An alumni table keyed by its UNIQUE nis, which older rows lack (NULL): the copy's key
    refused them with the generic "correct the row" hint, not saying that NULL is no key.
    (Then named at the write; an integer key holding NULL is now refused before anything is
    written, as a text or blob one was: see test_sync_schemas.)"""
    src, dst = sqlite_to_pg(tmp_path, pg_url)
    src.run("CREATE TABLE alumni (nis INTEGER UNIQUE, nama TEXT NOT NULL)")
    src.many("INSERT INTO alumni VALUES (?, ?)", [(1001, "Ani"), (None, "Budi"), (1002, "Cici")])
    with pytest.raises(SyncRefused, match=r"alumni: key nis holds NULL \(SQLite lets a") as no:
        sync(src, dst)
    assert no.value.hint is not None
    assert "WHERE key IS NULL) and make the column NOT NULL" in no.value.hint
    assert dst.run("SELECT to_regclass('alumni')") == [(None,)]
    src.run("UPDATE alumni SET nis = 2000 + rowid WHERE nis IS NULL")
    assert sync(src, dst).verified


def test_a_mirror_made_by_up_under_the_translations_names_is_not_doubled(
    tmp_path: Path, pg_url: str
) -> None:
    """A Prisma-style SQLite table "Siswa" whose PostgreSQL mirror `up` built from the same
    migrations as ``siswa`` (the translation lower-cases names): the sync made a second table
    "Siswa" beside it, copied there and said verified, while the reports read ``siswa`` (then
    it was refused); it now syncs into ``siswa`` (test_sync_foldnames)."""
    src, dst = sqlite_to_pg(tmp_path, pg_url)
    src.run('CREATE TABLE "Siswa" (id INTEGER PRIMARY KEY, "namaLengkap" TEXT)')
    src.run("""INSERT INTO "Siswa" VALUES (1, 'Ani')""")
    dst.run("CREATE TABLE siswa (id BIGINT PRIMARY KEY, namalengkap TEXT, synced_at TIMESTAMP)")
    assert sync(src, dst).verified
    assert dst.run("SELECT namalengkap FROM siswa") == [("Ani",)]
    assert not dest_table(dst, '"Siswa"')  # quoted: to_regclass folds case


@pytest.mark.parametrize("dest_kind", ["postgresql", "sqlite"])
def test_a_copy_whose_triggers_fire_on_the_syncs_writes_is_said_with_what_stops_them(
    tmp_path: Path, pg_url: str, dest_kind: str, request: pytest.FixtureRequest
) -> None:
    """A mirror `up` built from the source's own migrations has its triggers too: the
    AFTER INSERT log trigger wrote a log row at the destination for each copied student, then
    the sync copied the source's log row with the same key (a duplicate key, said with no
    cause). The plan names the triggers and the statements that stop them."""
    from malnu_tui.engine.sync import SyncRequest, plan_sync

    src = make_db("sqlite", request, tmp_path, "src")
    dst = (
        make_db("sqlite", request, tmp_path, "dst")
        if dest_kind == "sqlite"
        else Db("postgresql", pg_url)
    )
    src.run("CREATE TABLE siswa (id INTEGER PRIMARY KEY, nama TEXT)")
    src.run("INSERT INTO siswa VALUES (1, 'Ani')")
    key = "BIGINT" if dest_kind == "postgresql" else "INTEGER"
    stamp = "TIMESTAMP" if dest_kind == "postgresql" else "DATETIME"
    dst.run(f"CREATE TABLE siswa (id {key} PRIMARY KEY, nama TEXT, synced_at {stamp})")
    dst.run(f"CREATE TABLE siswa_log (id {key} PRIMARY KEY, siswa_id {key})")
    if dest_kind == "postgresql":
        dst.run(
            "CREATE FUNCTION log_siswa() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "INSERT INTO siswa_log VALUES (NEW.id, NEW.id); RETURN NEW; END $$"
        )
        dst.run(
            "CREATE TRIGGER siswa_logged AFTER INSERT ON siswa FOR EACH ROW "
            "EXECUTE FUNCTION log_siswa()"
        )
    else:
        dst.run(
            "CREATE TRIGGER siswa_logged AFTER INSERT ON siswa BEGIN "
            "INSERT INTO siswa_log VALUES (NEW.id, NEW.id); END"
        )
    with SyncSession(src.target("primary"), dst.target("analytics")) as s:
        (plan,) = plan_sync(s, SyncRequest())
    (note,) = [n for n in plan.notes if "triggers" in n]
    stop = "DISABLE TRIGGER" if dest_kind == "postgresql" else "DROP TRIGGER"
    assert "fire on every row the sync writes: siswa_logged" in note and stop in note, note
    if dest_kind == "postgresql":  # disabled, it fires no more, and the plan says nothing
        dst.run("ALTER TABLE siswa DISABLE TRIGGER siswa_logged")
        with SyncSession(src.target("primary"), dst.target("analytics")) as s:
            (plan,) = plan_sync(s, SyncRequest())
        assert not [n for n in plan.notes if "triggers" in n]
        assert sync(src, dst).verified
        assert dst.run("SELECT count(*) FROM siswa_log") == [(0,)]


def test_a_key_longer_than_a_postgresql_index_takes_is_said_with_what_to_do(
    tmp_path: Path, pg_url: str
) -> None:
    """A table of links keyed by the URL, one of them a 3,000-character signed URL: a B-tree
    entry of PostgreSQL holds 2,704 bytes at most. The copy's key could not be built and the
    sync stopped on "index row size 3024 exceeds btree version 4 maximum 2704 …; Index row
    references tuple (0,1)", naming no key and saying nothing to do, every run again (the
    copy left with its rows and no key); into an existing copy the same at the write. Both
    now say why, and what to do (the statements that drop the keyless copy)."""
    import random
    import string

    from malnu_tui.engine.errors import BackendError

    rng = random.Random(7)
    long_url = "https://drive.example/" + "".join(rng.choices(string.ascii_letters, k=3000))
    src, dst = sqlite_to_pg(tmp_path, pg_url)
    src.run("CREATE TABLE tautan (url TEXT PRIMARY KEY, judul TEXT)")
    src.many("INSERT INTO tautan VALUES (?, ?)", [("https://a/", "a"), (long_url, "rapor")])
    with pytest.raises(BackendError, match=r"building the primary key of tautan: index row") as e:
        sync(src, dst)
    hint = e.value.hint or ""
    assert "B-tree index takes a value of at most 2,704 bytes" in hint
    drop = """DROP TABLE "public"."tautan"; DELETE FROM "public"."malnu_sync" WHERE table_name"""
    assert drop in hint
    dst.run('DROP TABLE "public"."tautan"')
    dst.run("""DELETE FROM "public"."malnu_sync" WHERE table_name = 'tautan'""")

    src.run("DELETE FROM tautan WHERE length(url) > 100")
    assert sync(src, dst).verified
    src.run("INSERT INTO tautan VALUES (?, 'rapor')", (long_url,))
    with pytest.raises(BackendError, match=r"writing tautan: index row size") as w:
        sync(src, dst)
    assert (w.value.hint or "").startswith("PostgreSQL's B-tree index takes a value of at most")
    assert dst.count("tautan") == 1
