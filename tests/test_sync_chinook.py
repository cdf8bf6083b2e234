"""The sync on a real database's data: a sample of Chinook (tests/realworld/chinook, origin and
licence in its README: 877 rows in 11 tables, NUMERIC(10,2) prices, DATETIME texts, NVARCHAR
names in a dozen languages, a trailing space, NULLs, a composite key, a self-referencing
employee), as an operator runs it: SQLite → PostgreSQL in full, then the changes an application
makes with SQLite's loose typing, then PostgreSQL → SQLite and into D1. Both sides are also
compared directly, not only through the tool's own verify."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Sequence
from contextlib import closing
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from malnu_tui.engine.errors import BackendError
from malnu_tui.engine.sync import SyncRequest, SyncSession, run_sync, verify_sync
from malnu_tui.engine.sync.model import TableReport
from tests.fixtures_d1 import D1Target
from tests.sync_support import Db, make_db

CHINOOK = Path(__file__).parent / "realworld" / "chinook"
COUNTS = {
    "Album": 100, "Artist": 150, "Customer": 41, "Employee": 8, "Genre": 25, "Invoice": 62,
    "InvoiceLine": 131, "MediaType": 5, "Playlist": 18, "PlaylistTrack": 196, "Track": 141,
}  # fmt: skip
# What applications write into Chinook's columns, each kept by SQLite as it came (its types are
# affinities): a float's product for a NUMERIC(10,2), the ISO 8601 'T', a fraction, a date
# alone, an offset, a number as text, an integer as a float, 2^63 - 1, a trailing space.
CHANGES = (
    "UPDATE Invoice SET Total = 0.99 * 14 WHERE InvoiceId = 12",
    "UPDATE Invoice SET InvoiceDate = '2021-03-04T10:15:00' WHERE InvoiceId = 14",
    "UPDATE Invoice SET InvoiceDate = '2021-03-04 10:15:00.123' WHERE InvoiceId = 15",
    "UPDATE Invoice SET InvoiceDate = '2021-03-05' WHERE InvoiceId = 16",
    "UPDATE Invoice SET Total = -0.0 WHERE InvoiceId = 17",
    "UPDATE Invoice SET InvoiceDate = '2021-03-09 10:15:00+07:00' WHERE InvoiceId = 18",
    "UPDATE Track SET UnitPrice = '0.99 ' WHERE TrackId = 1",
    "UPDATE Track SET Bytes = 9223372036854775807 WHERE TrackId = 2",
    "UPDATE Track SET Milliseconds = 343719.0 WHERE TrackId = 5",
    "UPDATE Track SET Composer = '' WHERE TrackId = 6",
    "UPDATE Customer SET FirstName = 'Luís  ' WHERE CustomerId = 1",
    "INSERT INTO InvoiceLine VALUES (187, 34, 1135, 0.99, 1)",
    "DELETE FROM PlaylistTrack WHERE PlaylistId = 1 AND TrackId = 99",
    "INSERT INTO PlaylistTrack VALUES (18, 1)",
)


@pytest.fixture(scope="module")
def chinook_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample as the SQLite database Chinook_Sqlite.sql makes (built once; copied)."""
    path = tmp_path_factory.mktemp("chinook") / "chinook.db"
    conn = sqlite3.connect(path)
    for script in (*sorted((CHINOOK / "migrations").glob("*.sql")), CHINOOK / "data.sql"):
        conn.executescript(script.read_text(encoding="utf-8"))
    conn.close()
    return path


def primary(chinook_file: Path, tmp_path: Path) -> Db:
    path = tmp_path / "primary.db"
    shutil.copyfile(chinook_file, path)
    return Db("sqlite", f"sqlite:///{path}", path=path)


def sync_all(src: Db, dst: Db, tables: tuple[str, ...] = ()) -> dict[str, TableReport]:
    with SyncSession(src.target("primary"), dst.target("analytics")) as s:
        return {r.table: r for r in run_sync(s, SyncRequest(tables), None)}


def verify_all(src: Db, dst: Db, tables: tuple[str, ...] = ()) -> dict[str, TableReport]:
    with SyncSession(src.target("primary"), dst.target("analytics")) as s:
        return {r.table: r for r in verify_sync(s, tables)}


def proven(reports: dict[str, TableReport], counts: dict[str, int]) -> None:
    assert sorted(reports) == sorted(counts)
    for table, r in reports.items():
        assert (r.verified, r.differences) == (True, ()), r
        assert r.source_count == r.dest_count == counts[table], r


def values(db: Db, sql: str, params: Sequence[object] = ()) -> list[tuple[object, ...]]:
    """Rows of ``sql`` with numbers as Decimals and times as text, to compare any two ends."""

    def one(v: object) -> object:
        if isinstance(v, datetime):
            text = v.isoformat(" ")
            return text.rstrip("0").rstrip(".") if "." in text else text
        if isinstance(v, int | float | Decimal) and not isinstance(v, bool):
            return Decimal(str(v)).normalize()
        return v

    return [tuple(one(v) for v in row) for row in db.run(sql, params)]


def test_chinook_syncs_sqlite_to_postgresql_and_back_and_into_d1(
    request: pytest.FixtureRequest, tmp_path: Path, chinook_file: Path
) -> None:
    src = primary(chinook_file, tmp_path)
    pg = make_db("postgresql", request, tmp_path, "analytics")
    first = sync_all(src, pg)
    assert {t: (r.mode, r.inserted) for t, r in first.items()} == {
        t: ("full", n) for t, n in COUNTS.items()
    }
    proven(first, COUNTS)
    # (the copies have the translation's lower-case names: PostgreSQL folds these unquoted)
    assert sum(pg.count(t.lower()) for t in COUNTS) == 877
    assert values(pg, "SELECT BillingCity, Total FROM Invoice WHERE InvoiceId = 20") == [
        ("Edinburgh ", Decimal("0.99"))
    ]
    named = "SELECT Name FROM Playlist WHERE PlaylistId = 5"
    assert pg.run(named) == src.run(named) == [("90’s Music",)]

    for change in CHANGES:
        src.run(change)
    counts = {**COUNTS, "InvoiceLine": 132}
    touched = ("Customer", "Invoice", "InvoiceLine", "PlaylistTrack", "Track")
    second = sync_all(src, pg, touched)  # (verify_all below proves the six others unchanged)
    proven(second, {t: counts[t] for t in touched})
    assert {t: (r.inserted, r.updated, r.deleted) for t, r in second.items()} == {
        "Invoice": (0, 4, 0),  # 12's 0.99 * 14 is 13.86 as the copy has it; 16's date too
        "Track": (0, 3, 0),  # 1's '0.99 ' is the number 0.99 (SQLite's NUMERIC affinity)
        "Customer": (0, 1, 0),
        "InvoiceLine": (1, 0, 0),
        "PlaylistTrack": (1, 0, 1),
    }
    proven(verify_all(src, pg), counts)
    invoices = "SELECT InvoiceId, InvoiceDate, Total FROM Invoice WHERE InvoiceId = ?"
    assert [values(pg, invoices, (i,))[0] for i in (14, 15, 17, 18)] == [
        (14, "2021-03-04 10:15:00", Decimal("1.98")),
        (15, "2021-03-04 10:15:00.123", Decimal("1.98")),
        (17, "2021-03-06 00:00:00", Decimal("0")),
        (18, "2021-03-09 03:15:00", Decimal("8.91")),  # its UTC time
    ]
    tracks = "SELECT Bytes, Milliseconds, Composer FROM Track WHERE TrackId IN (2, 5, 6)"
    assert values(pg, tracks) == values(src, tracks)
    assert pg.run("SELECT FirstName FROM Customer WHERE CustomerId = 1") == [("Luís  ",)]

    # The reporting copy as the source of another SQLite file and of a D1 database (the tables
    # with the changed values and the composite key).
    some = ("customer", "invoice", "playlisttrack", "track")
    named_so = {t.lower(): n for t, n in counts.items()}
    for kind in ("sqlite", "d1"):
        there = make_db(kind, request, tmp_path, "back")
        proven(sync_all(pg, there, some), {t: named_so[t] for t in some})
        proven(verify_all(pg, there, some), {t: named_so[t] for t in some})
        for table in some:
            columns = ", ".join(
                f'"{c}"' for (c,) in pg.run(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
                    "AND column_name <> 'synced_at' ORDER BY ordinal_position",
                    (table,),
                )
            )  # fmt: skip
            everything = f'SELECT {columns} FROM "{table}" ORDER BY 1, 2'
            assert values(there, everything) == values(pg, everything), (kind, table)


def test_a_value_the_declared_type_does_not_hold_is_refused_with_the_statement_that_widens_it(
    request: pytest.FixtureRequest, tmp_path: Path, chinook_file: Path
) -> None:
    """SQLite keeps a 12-character postal code under NVARCHAR(10), 123456789.5 under
    NUMERIC(10,2) and a 40,000-minute film under Sakila's SMALLINT; the copy the sync made
    has the declared types, and PostgreSQL refuses such a value. The hint said to correct the
    row at the source (the application's data, correct as it is): it now gives the statement
    that lets the copy take it, and the sync goes on once it is run."""
    src = primary(chinook_file, tmp_path)
    src.run("CREATE TABLE film (film_id INTEGER NOT NULL, length SMALLINT DEFAULT NULL, "
            "PRIMARY KEY (film_id))")  # fmt: skip
    src.run("INSERT INTO film VALUES (1, 86)")
    pg = make_db("postgresql", request, tmp_path, "analytics")
    some = ("Customer", "Track", "film")
    counts = {"Customer": 41, "Track": 141, "film": 1}
    proven(sync_all(src, pg, some), counts)
    cases = (
        ("Customer", "PostalCode", "'12227-000 SP'", "CustomerId", "text"),
        ("Track", "UnitPrice", "123456789.5", "TrackId", "numeric"),
        ("film", "length", "40000", "film_id", "bigint"),
    )
    for table, column, value, key, wider in cases:
        src.run(f'UPDATE "{table}" SET "{column}" = {value} WHERE "{key}" = 11 OR "{key}" = 1')
        with pytest.raises(BackendError) as refused:
            sync_all(src, pg, some)
        assert f", column {column.lower()}: " in str(refused.value), refused.value
        widen = (
            f'ALTER TABLE "public"."{table.lower()}" ALTER COLUMN "{column.lower()}" TYPE {wider}'
        )
        hint = refused.value.hint or ""
        assert "as the source declares it, but the source does not hold its values to it" in hint
        assert f"let the copy take them, {widen}; then sync again" in hint, hint
        pg.run(widen)  # as it says
    proven(sync_all(src, pg, some), counts)
    proven(verify_all(src, pg, some), counts)
    for table, column, value, key, _ in cases:
        got = f"SELECT {column} FROM {table} WHERE {key} IN (1, 11) ORDER BY 1"
        assert values(pg, got) == values(src, got), table
        assert values(src, f"SELECT {value}")[0] in values(src, got)


def test_a_blob_an_application_bound_for_a_name_is_no_difference(
    request: pytest.FixtureRequest, tmp_path: Path, chinook_file: Path
) -> None:
    """Python's sqlite3 stores bytes bound for a text as a BLOB, and SQLite keeps it in an
    NVARCHAR column (a composer's name the application encoded; two bytes no UTF-8 reads). The
    copy holds it as PostgreSQL's bytea text (``\\x`` and its hex), which the sync compared
    with the bytes' UTF-8 reading: from SQLite the first sync verified and every later one said
    the row different (exit 1) while `sync verify` said equal; from D1 even the first."""
    d1: D1Target = request.getfixturevalue("d1")
    with d1.db.lock, closing(sqlite3.connect(chinook_file)) as built:
        with closing(sqlite3.connect(d1.db.path)) as there:
            built.backup(there)
    sources = (primary(chinook_file, tmp_path), Db("d1", d1.url, d1=d1))
    copies = (request.getfixturevalue("pg_url"), request.getfixturevalue("pg_second"))
    for src, url in zip(sources, copies, strict=True):
        pg = Db("postgresql", url)
        for track, raw in ((7, b"Angus Young"), (8, b"\xff\x00")):
            src.run("UPDATE Track SET Composer = ? WHERE TrackId = ?", (raw, track))
        for _ in range(2):  # the full copy, then a pass by checksums
            proven(sync_all(src, pg, ("Track",)), {"Track": 141})
        proven(verify_all(src, pg, ("Track",)), {"Track": 141})
        composers = "SELECT Composer FROM Track WHERE TrackId IN (7, 8) ORDER BY 1"
        assert pg.run(composers) == [("\\x416e67757320596f756e67",), ("\\xff00",)], src.kind


def test_a_blob_bound_for_a_date_or_a_number_is_named_with_the_statement_that_stores_its_text(
    request: pytest.FixtureRequest, tmp_path: Path, chinook_file: Path
) -> None:
    """An application that binds bytes for an invoice's date or a track's length (SQLite keeps
    the BLOB under DATETIME and INTEGER): PostgreSQL refused it as `invalid input syntax for
    type timestamp: "\\x323032…"`, and the hint said to correct the row, naming no BLOB. The
    hint now says so, with the statement that stores its text at the source."""
    src = primary(chinook_file, tmp_path)
    pg = make_db("postgresql", request, tmp_path, "analytics")
    some = ("Invoice", "Track")
    proven(sync_all(src, pg, some), {"Invoice": 62, "Track": 141})
    cases = (
        ("Invoice", "InvoiceDate", "'2021-03-04 10:15:00'", "InvoiceId = 14", "timestamp"),
        ("Track", "Milliseconds", "'343719'", "TrackId = 5", "bigint"),
    )
    for table, column, text, where, pg_type in cases:
        src.run(f"UPDATE {table} SET {column} = CAST({text} AS BLOB) WHERE {where}")
        with pytest.raises(BackendError) as refused:
            sync_all(src, pg, some)
        error = f", column {column.lower()}: invalid input syntax for type {pg_type}"
        assert error in str(refused.value), refused.value
        hint = refused.value.hint or ""
        # (named as the copy names it: SQLite takes the statement in any case)
        table, column = table.lower(), column.lower()
        assert hint.startswith(f"{column} holds a BLOB (the text {text} as bytes"), hint
        store = (
            f'UPDATE "{table}" SET "{column}" = CAST("{column}" AS TEXT) '
            f"WHERE typeof(\"{column}\") = 'blob'"
        )
        assert f"e.g. {store}; then sync again" in hint, hint
        src.run(store)  # as it says
    proven(sync_all(src, pg, some), {"Invoice": 62, "Track": 141})
    assert values(pg, "SELECT InvoiceDate FROM Invoice WHERE InvoiceId = 14") == [
        ("2021-03-04 10:15:00",)
    ]
    assert pg.run("SELECT Milliseconds FROM Track WHERE TrackId = 5") == [(343719,)]
