"""A source whose schema changes between syncs: a column added (or renamed) at the source and
then, as the refusal's hint says, to the copy, reaches the rows copied before — the next sync
is a full pass, where an incremental one left them NULL and said "✔ yes"."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from malnu_tui.engine.errors import BackendError, SyncRefused
from malnu_tui.engine.sync import read_states
from tests.inproc import run_inproc
from tests.sync_support import Db, make_db, sync, verify

STAMP = "2025-11-24 08:00:00"
PAIRS = [("sqlite", "postgresql"), ("postgresql", "sqlite"), ("sqlite", "d1")]


def siswa(src: Db, n: int) -> None:
    kinds = ("BIGINT", "TIMESTAMP") if src.kind == "postgresql" else ("INTEGER", "DATETIME")
    src.run(
        f"CREATE TABLE siswa (id {kinds[0]} PRIMARY KEY, nama TEXT, kelas TEXT, "
        f"updated_at {kinds[1]})"
    )
    src.many(
        "INSERT INTO siswa VALUES (?, ?, ?, ?)",
        [
            (i, f"Siswa {i}", f"X-{i % 3}", f"2025-11-{1 + i % 20:02d} 08:00:00")
            for i in range(1, 31)
        ],
    )


def follow_hint(src: Db, dst: Db, says: str = "add them at the destination: ") -> None:
    """Sync, be refused, run the hint's statements at the destination."""
    with pytest.raises(SyncRefused) as refused:
        sync(src, dst)
    hint = refused.value.hint or ""
    assert says in hint, hint
    for part in hint.split("; "):
        statement = part.rsplit(": ", 1)[-1]
        if statement.startswith("ALTER TABLE"):
            dst.run(statement)


@pytest.mark.parametrize(("a", "b"), PAIRS, ids=[f"{a}-to-{b}" for a, b in PAIRS])
def test_a_column_added_at_the_source_reaches_the_rows_copied_before(
    a: str, b: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    src, dst = make_db(a, request, tmp_path, "source"), make_db(b, request, tmp_path, "dest")
    siswa(src, 30)
    assert sync(src, dst).verified
    # The primary's migration: a column with a default every old row takes (updated_at
    # untouched), another one set on one row only.
    src.run("ALTER TABLE siswa ADD COLUMN aktif INTEGER NOT NULL DEFAULT 1")
    src.run("ALTER TABLE siswa ADD COLUMN hp TEXT")
    src.run("UPDATE siswa SET hp = '0812', updated_at = '2025-11-30 08:00:00' WHERE id = 5")
    follow_hint(src, dst)
    before = verify(src, dst)  # not equal, and said why
    assert not before.verified and before.note.startswith("column(s) aktif, hp added since")
    again = sync(src, dst)  # a plain sync, as an operator (or cron) runs it
    assert (again.mode, again.updated, again.verified) == ("full", 30, True), again
    assert dst.run("SELECT count(*) FROM siswa WHERE aktif = 1") == [(30,)]
    assert verify(src, dst).verified
    # Then incremental again: the copy holds every column in every row.
    assert sync(src, dst).mode == "updated_at"

    # A column renamed at the source: the hint adds the new name and drops the old one.
    src.run("ALTER TABLE siswa RENAME COLUMN kelas TO rombel")
    follow_hint(src, dst)
    renamed = sync(src, dst)
    assert (renamed.mode, renamed.verified) == ("full", True), renamed
    assert dst.run("SELECT rombel FROM siswa WHERE id = 4") == [("X-1",)]
    assert verify(src, dst).verified


@pytest.mark.parametrize("b", ["postgresql", "sqlite", "d1"])
def test_a_state_table_made_before_the_columns_were_recorded_is_read_and_upgraded(
    b: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    # A copy synced by a release whose malnu_sync had no copied_columns, then a column added
    # at the source and to the copy (its place after synced_at tells it was added later).
    src, dst = make_db("sqlite", request, tmp_path, "source"), make_db(b, request, tmp_path, "d")
    siswa(src, 30)
    assert sync(src, dst).verified
    dst.run("ALTER TABLE malnu_sync DROP COLUMN copied_columns")
    (old,) = read_states(dst.target("analytics"))  # as sync status reads it, unchanged
    assert old.copied_columns is None and old.verified
    src.run("ALTER TABLE siswa ADD COLUMN aktif INTEGER NOT NULL DEFAULT 1")
    follow_hint(src, dst)
    again = sync(src, dst)
    assert (again.mode, again.updated, again.verified) == ("full", 30, True), again
    assert dst.run("SELECT count(*) FROM siswa WHERE aktif = 1") == [(30,)]
    (upgraded,) = read_states(dst.target("analytics"))
    assert upgraded.copied_columns is not None and "aktif" in upgraded.copied_columns
    assert sync(src, dst).mode == "updated_at"


@pytest.mark.parametrize("b", ["postgresql", "sqlite"])
def test_a_copy_whose_source_table_was_renamed_is_said_with_what_to_drop(
    b: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    # The primary's migration renames siswa to peserta_didik: the next sync made the new copy
    # and said nothing of the old one, stale from then on, still "✔ yes" in sync status.
    src, dst = make_db("sqlite", request, tmp_path, "source"), make_db(b, request, tmp_path, "d")
    siswa(src, 30)
    ends = ["--from", src.url, "--to", dst.url]
    assert run_inproc("sync", "--yes", *ends).code == 0
    src.run("ALTER TABLE siswa RENAME TO peserta_didik")
    for words in (["sync", "--yes"], ["sync", "verify"]):
        done = run_inproc(*words, *ends)
        assert done.code == 0, done.err
        (warning,) = [line for line in done.err.splitlines() if line.startswith("warning: ")]
        assert "warning: siswa: synced from " in warning and "no table siswa any more" in warning
    for statement in warning.split("here: ", 1)[1].split("; "):
        dst.run(statement)  # as it says
    again = run_inproc("sync", "--yes", *ends)
    assert again.code == 0 and "warning" not in again.err, again.err
    status = run_inproc("sync", "status", "--to", dst.url, "--json")
    assert [r["table"] for r in json.loads(status.out)] == ["peserta_didik"]


@pytest.mark.parametrize("b", ["postgresql", "sqlite"])
def test_sync_status_says_a_copy_whose_source_table_is_gone_or_not_checked(
    b: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    # sync status read only the destination: a copy whose source table was renamed stayed
    # "✔ yes" there with its lag growing. It now asks the source, as sync warns.
    src, dst = make_db("sqlite", request, tmp_path, "source"), make_db(b, request, tmp_path, "d")
    siswa(src, 30)
    src.run("CREATE TABLE guru (id INTEGER PRIMARY KEY, nama TEXT)")
    config = tmp_path / "malnu.toml"
    config.write_text(f'[targets.primary]\nurl = "{src.url}"\n[targets.copy]\nurl = "{dst.url}"\n')
    cfg = ["--to", "copy", "--config", str(config)]
    assert run_inproc("sync", "--yes", "--from", "primary", *cfg).code == 0
    src.run("ALTER TABLE siswa RENAME TO peserta_didik")
    done = run_inproc("sync", "status", "--json", *cfg)
    assert done.code == 0, done.err
    rows = {r["table"]: r for r in json.loads(done.out)}
    assert rows["guru"]["source_has_table"] is True and rows["guru"]["source_note"] is None
    assert rows["siswa"]["source_has_table"] is False
    assert "no table siswa any more" in rows["siswa"]["source_note"]
    assert rows["siswa"]["verified"] is True  # the existing fields as they were
    (warning,) = [line for line in done.err.splitlines() if line.startswith("warning: ")]
    assert warning == "warning: " + rows["siswa"]["source_note"]
    text = run_inproc("sync", "status", *cfg)
    assert re.search(r"siswa .*✔ yes +✘ gone", text.out) and "guru " in text.out, text.out
    Path(src.url.removeprefix("sqlite:///")).rename(tmp_path / "away.db")  # unreachable
    done = run_inproc("sync", "status", "--json", *cfg)
    assert done.code == 0, done.err
    assert {r["source_has_table"] for r in json.loads(done.out)} == {None}
    assert "not checked" in json.loads(done.out)[0]["source_note"]
    assert "warning" not in done.err and "was not checked" in done.err, done.err


@pytest.mark.parametrize("b", ["postgresql", "sqlite"])
def test_a_column_whose_type_changed_at_the_source_is_replaced_by_the_hint_and_refilled(
    b: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    # SQLite changes a column's type by rebuilding the table (create, copy, drop, rename):
    # grades kept as INTEGER become REAL; updated_at is copied as it was. The hint was the
    # generic "make the destination table match".
    src, dst = make_db("sqlite", request, tmp_path, "source"), make_db(b, request, tmp_path, "d")
    src.run("CREATE TABLE nilai (id INTEGER PRIMARY KEY, skor INTEGER, updated_at DATETIME)")
    src.many("INSERT INTO nilai VALUES (?, ?, ?)", [(i, 70 + i, STAMP) for i in range(1, 21)])
    assert sync(src, dst).verified
    src.run("CREATE TABLE nilai_baru (id INTEGER PRIMARY KEY, skor REAL, updated_at DATETIME)")
    src.run("INSERT INTO nilai_baru SELECT id, skor + 0.5, updated_at FROM nilai")
    src.run("DROP TABLE nilai")
    src.run("ALTER TABLE nilai_baru RENAME TO nilai")
    follow_hint(src, dst, says="skor of another type at the destination (changed at the source?)")
    again = sync(src, dst)
    assert (again.mode, again.updated, again.verified) == ("full", 20, True), again
    assert dst.run("SELECT skor FROM nilai WHERE id = 3") == [(73.5,)]
    assert verify(src, dst).verified


NULL_PAIRS = [("postgresql", "sqlite"), ("postgresql", "d1"), ("sqlite", "postgresql")]


@pytest.mark.parametrize(("a", "b"), NULL_PAIRS, ids=[f"{a}-to-{b}" for a, b in NULL_PAIRS])
def test_a_not_null_dropped_at_the_source_is_named_with_what_lets_the_copy_take_nulls(
    a: str, b: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    # A teacher's NIP became optional (honorary teachers have none): the copy, made NOT NULL
    # as the source was, refused the row with "correct the row at the source" (it is correct;
    # into D1, D1's bare message named neither the row nor the database).
    src, dst = make_db(a, request, tmp_path, "source"), make_db(b, request, tmp_path, "dest")
    kinds = ("BIGINT", "TIMESTAMP") if a == "postgresql" else ("INTEGER", "DATETIME")
    create = f"CREATE TABLE guru (id {kinds[0]} PRIMARY KEY, nip TEXT {{}}, updated_at {kinds[1]})"
    src.run(create.format("NOT NULL"))
    src.many("INSERT INTO guru VALUES (?, ?, ?)", [(i, f"19800{i}", STAMP) for i in range(1, 21)])
    assert sync(src, dst).verified
    if a == "postgresql":
        src.run("ALTER TABLE guru ALTER COLUMN nip DROP NOT NULL")
    else:  # SQLite: the table rebuilt
        src.run(create.format("").replace("guru", "guru_baru", 1))
        src.run("INSERT INTO guru_baru SELECT * FROM guru")
        src.run("DROP TABLE guru")
        src.run("ALTER TABLE guru_baru RENAME TO guru")
    src.run("INSERT INTO guru VALUES (21, NULL, '2025-11-30 08:00:00')")
    with pytest.raises(BackendError) as refused:
        sync(src, dst)
    assert "writing guru, row id=21, column nip: " in str(refused.value), refused.value
    hint = refused.value.hint or ""
    # What is known, not a guess ("NOT NULL dropped at the source since the copy was
    # made?": the copy's NOT NULL may be the destination's own), and the choices.
    assert hint.startswith(
        "the copy's nip requires a value (NOT NULL) that the source's does not (it takes NULL "
        "there), and this row has none: let the copy take NULL"
    ), hint
    assert "; or give the row a value at the source; then sync again" in hint
    assert "?" not in hint and "dropped at the source" not in hint
    told = hint.split("; or give the row")[0]
    for statement in re.findall(r"(?:ALTER TABLE|DROP TABLE|DELETE FROM) [^;]+", told):
        dst.run(statement)  # as it says
    again = sync(src, dst)
    assert again.verified and dst.run("SELECT count(*) FROM guru WHERE nip IS NULL") == [(1,)]
    assert verify(src, dst).verified


@pytest.mark.parametrize("b", ["sqlite", "postgresql"])
def test_a_key_renamed_at_the_source_gets_the_statements_that_make_the_copy_again(
    b: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    # nis renamed nisn: the hints were to add nisn and drop nis, which SQLite refuses (a
    # PRIMARY KEY column) and which leaves a PostgreSQL copy without a key.
    src, dst = make_db("sqlite", request, tmp_path, "source"), make_db(b, request, tmp_path, "d")
    src.run("CREATE TABLE siswa (nis TEXT PRIMARY KEY, nama TEXT, updated_at DATETIME)")
    src.many("INSERT INTO siswa VALUES (?, ?, ?)", [(f"{i:03d}", f"S{i}", STAMP) for i in range(9)])
    assert sync(src, dst).verified
    src.run("ALTER TABLE siswa RENAME COLUMN nis TO nisn")
    with pytest.raises(SyncRefused) as refused:
        sync(src, dst)
    hint = refused.value.hint or ""
    assert hint.startswith("the source's key of siswa is now (nisn), its copy's (nis): "), hint
    assert "; also " not in hint  # one hint for the table's problems
    told = hint.split("make the copy again, ", 1)[1].removesuffix("; then sync again (a full copy)")
    for statement in told.split("; "):
        dst.run(statement)  # as it says
    again = sync(src, dst)
    assert (again.mode, again.inserted, again.verified) == ("full", 9, True), again
    assert verify(src, dst).verified


def test_a_column_widened_at_the_source_is_named_with_the_statement_that_widens_the_copy(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    # Supabase → another PostgreSQL: a name column widened from varchar(20) to varchar(100)
    # and a points column from integer to bigint at the source. The copy refused the longer
    # values with "correct the row at the source" (the row is correct).
    src = make_db("postgresql", request, tmp_path, "supabase")
    dst = Db("postgresql", request.getfixturevalue("pg_second"))
    src.run(
        "CREATE TABLE siswa (id int PRIMARY KEY, nama varchar(20), poin integer, "
        "updated_at timestamp)"
    )
    src.many("INSERT INTO siswa VALUES (?, ?, ?, ?)", [(i, f"S{i}", i, STAMP) for i in range(9)])
    assert sync(src, dst).verified
    src.run("ALTER TABLE siswa ALTER COLUMN nama TYPE varchar(100), ALTER COLUMN poin TYPE bigint")
    later = "2025-11-30 08:00:00"
    src.run("UPDATE siswa SET nama = ?, updated_at = ? WHERE id = 3", ("x" * 50, later))
    src.run("UPDATE siswa SET poin = 5000000000, updated_at = ? WHERE id = 4", (later,))
    for column, wider in (("nama", "character varying(100)"), ("poin", "bigint")):
        with pytest.raises(BackendError) as refused:
            sync(src, dst)
        assert f", column {column}: " in str(refused.value), refused.value
        hint = refused.value.hint or ""
        widen = f'ALTER TABLE "public"."siswa" ALTER COLUMN "{column}" TYPE {wider}'
        assert hint.startswith(f"the copy's {column} is ") and f"take it, {widen}; " in hint, hint
        dst.run(widen)  # as it says
    assert sync(src, dst).verified and verify(src, dst).verified
    # A column of a type this destination lacks (an enum of the source's) is added as the text
    # a copy keeps it in, as the sync makes it: the hint named the enum, and running it failed
    # on 'type "hari" does not exist'.
    src.run("CREATE TYPE hari AS ENUM ('senin', 'selasa')")
    src.run("ALTER TABLE siswa ADD COLUMN piket hari, ADD COLUMN libur hari[]")
    src.run("UPDATE siswa SET piket = 'senin', libur = '{selasa}' WHERE id = 2")
    follow_hint(src, dst)
    assert sync(src, dst).verified and verify(src, dst).verified
    assert dst.run("SELECT piket, libur FROM siswa WHERE id = 2") == [("senin", "{selasa}")]


def test_a_mirrors_lower_case_column_is_not_dropped_by_the_hint(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    # A reporting mirror `up` built from the primary's SQLite migrations has the translation's
    # lower-case names (namalengkap for "namaLengkap"). The hints were to add "namaLengkap"
    # and to drop namalengkap, "their values there go with them", the column the reports read.
    src, dst = (
        make_db("sqlite", request, tmp_path, "primary"),
        make_db("postgresql", request, tmp_path, "a"),
    )
    src.run('CREATE TABLE siswa (id INTEGER PRIMARY KEY, "namaLengkap" TEXT, updated_at DATETIME)')
    src.run("INSERT INTO siswa VALUES (1, 'Ani', ?)", (STAMP,))
    dst.run(
        "CREATE TABLE siswa (id bigint PRIMARY KEY, namalengkap text, updated_at timestamp, "
        "synced_at timestamp)"
    )
    # (Then said so in the hint; the sync now finds the column so: test_sync_foldnames.)
    assert sync(src, dst).verified
    assert dst.run("SELECT namalengkap FROM siswa") == [("Ani",)]
