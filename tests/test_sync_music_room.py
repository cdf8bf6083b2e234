"""The sync on a database's data: the school music room (tests/realworld/music_room_like, 856
rows in 12 tables made up by its make_data.py: NUMERIC(10,2) prices, DATETIME texts, NVARCHAR
names in a dozen languages and scripts, a trailing space, a typographic apostrophe, NULLs, a
composite key, a self-referencing teacher), as an operator runs it: SQLite → PostgreSQL in
full, then the changes an application makes with SQLite's loose typing, then PostgreSQL →
SQLite and into D1. Both sides are also compared directly, not only through the tool's own
verify."""

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

MUSIC_ROOM = Path(__file__).parent / "realworld" / "music_room_like"
COUNTS = {
    "Composer": 120, "Ensemble": 14, "EnsemblePiece": 120, "Instrument": 60, "Invoice": 70,
    "InvoiceLine": 140, "Piece": 150, "Rehearsal": 30, "Section": 8, "Songbook": 90,
    "Student": 45, "Teacher": 9,
}  # fmt: skip
# What applications write into the music room's columns, each kept by SQLite as it came (its
# types are affinities): a float's product for a NUMERIC(10,2) (one with no more decimals: 1.15
# * 3, 3.4499999999999997, is refused: test_sync_refusals.py), the ISO 8601 'T', a fraction, a
# date alone, an offset, a number as text, an integer as a float, 2^63 - 1, a trailing space.
CHANGES = (
    "UPDATE Invoice SET Total = 0.23 * 15 WHERE InvoiceId = 12",
    "UPDATE Invoice SET InvoiceDate = '2025-04-04T10:15:00' WHERE InvoiceId = 14",
    "UPDATE Invoice SET InvoiceDate = '2025-04-04 10:15:00.123' WHERE InvoiceId = 15",
    "UPDATE Invoice SET InvoiceDate = '2025-02-25' WHERE InvoiceId = 16",
    "UPDATE Invoice SET Total = -0.0 WHERE InvoiceId = 17",
    "UPDATE Invoice SET InvoiceDate = '2025-04-09 10:15:00+07:00' WHERE InvoiceId = 18",
    "UPDATE Piece SET CopyFee = '1.50 ' WHERE PieceId = 1",
    "UPDATE Piece SET ScanBytes = 9223372036854775807 WHERE PieceId = 2",
    "UPDATE Piece SET Seconds = 293.0 WHERE PieceId = 5",
    "UPDATE Piece SET Arranger = '' WHERE PieceId = 6",
    "UPDATE Student SET FirstName = 'Zoë  ' WHERE StudentId = 1",
    "INSERT INTO InvoiceLine VALUES (157, 34, 1135, 0.75, 1)",
    "DELETE FROM EnsemblePiece WHERE EnsembleId = 1 AND PieceId = 99",
    "INSERT INTO EnsemblePiece VALUES (14, 1)",
)


@pytest.fixture(scope="module")
def music_room_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The set's migration and rows as a SQLite database (built once; copied)."""
    path = tmp_path_factory.mktemp("music_room") / "music_room.db"
    conn = sqlite3.connect(path)
    for script in (*sorted((MUSIC_ROOM / "migrations").glob("*.sql")), MUSIC_ROOM / "data.sql"):
        conn.executescript(script.read_text(encoding="utf-8"))
    conn.close()
    return path


def primary(music_room_file: Path, tmp_path: Path) -> Db:
    path = tmp_path / "primary.db"
    shutil.copyfile(music_room_file, path)
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


def test_the_music_room_syncs_sqlite_to_postgresql_and_back_and_into_d1(
    request: pytest.FixtureRequest, tmp_path: Path, music_room_file: Path
) -> None:
    src = primary(music_room_file, tmp_path)
    pg = make_db("postgresql", request, tmp_path, "analytics")
    first = sync_all(src, pg)
    assert {t: (r.mode, r.inserted) for t, r in first.items()} == {
        t: ("full", n) for t, n in COUNTS.items()
    }
    proven(first, COUNTS)
    # (the copies have the translation's lower-case names: PostgreSQL folds these unquoted)
    assert sum(pg.count(t.lower()) for t in COUNTS) == 856
    types = (
        "SELECT column_name, data_type, character_maximum_length, numeric_precision, "
        "numeric_scale FROM information_schema.columns WHERE table_name = 'invoice' "
        "AND column_name <> 'synced_at' ORDER BY ordinal_position"
    )
    text = "character varying"
    assert pg.run(types) == [  # (as declared: NVARCHAR(n) is varchar(n), DATETIME a timestamp)
        ("invoiceid", "bigint", None, 64, 0),
        ("studentid", "bigint", None, 64, 0),
        ("invoicedate", "timestamp without time zone", None, None, None),
        ("billingaddress", text, 70, None, None),
        ("billingcity", text, 40, None, None),
        ("billingprovince", text, 40, None, None),
        ("billingpostalcode", text, 10, None, None),
        ("total", "numeric", None, 10, 2),
    ]
    assert values(pg, "SELECT BillingCity, Total FROM Invoice WHERE InvoiceId = 20") == [
        ("Cianjur ", Decimal("2.25"))
    ]
    named = "SELECT Name FROM Ensemble WHERE EnsembleId = 5"
    assert pg.run(named) == src.run(named) == [("Ibu Sari’s Kulintang",)]
    scripts = "SELECT Name FROM Composer WHERE ComposerId IN (6, 8, 19, 20, 21) ORDER BY 1"
    assert pg.run(scripts) == src.run(scripts)

    for change in CHANGES:
        src.run(change)
    counts = {**COUNTS, "InvoiceLine": 141}
    touched = ("EnsemblePiece", "Invoice", "InvoiceLine", "Piece", "Student")
    second = sync_all(src, pg, touched)  # (verify_all below proves the seven others unchanged)
    proven(second, {t: counts[t] for t in touched})
    assert {t: (r.inserted, r.updated, r.deleted) for t, r in second.items()} == {
        "Invoice": (0, 4, 0),  # 12's 0.23 * 15 is 3.45 as the copy has it; 16's date too
        "Piece": (0, 3, 0),  # 1's '1.50 ' is the number 1.5 (SQLite's NUMERIC affinity)
        "Student": (0, 1, 0),
        "InvoiceLine": (1, 0, 0),
        "EnsemblePiece": (1, 0, 1),
    }
    proven(verify_all(src, pg), counts)
    invoices = "SELECT InvoiceId, InvoiceDate, Total FROM Invoice WHERE InvoiceId = ?"
    assert [values(pg, invoices, (i,))[0] for i in (12, 14, 15, 16, 17, 18)] == [
        (12, "2025-01-05 00:00:00", Decimal("3.45")),
        (14, "2025-04-04 10:15:00", Decimal("42.5")),
        (15, "2025-04-04 10:15:00.123", Decimal("19.5")),
        (16, "2025-02-25 00:00:00", Decimal("30")),
        (17, "2025-02-02 00:00:00", Decimal("0")),
        (18, "2025-04-09 03:15:00", Decimal("26.5")),  # its UTC time
    ]
    pieces = "SELECT ScanBytes, Seconds, Arranger, CopyFee FROM Piece WHERE PieceId IN (1, 2, 5, 6)"
    assert values(pg, pieces) == values(src, pieces)
    assert pg.run("SELECT FirstName FROM Student WHERE StudentId = 1") == [("Zoë  ",)]

    # The reporting copy as the source of another SQLite file and of a D1 database (the tables
    # with the changed values and the composite key).
    some = ("ensemblepiece", "invoice", "piece", "student")
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
    request: pytest.FixtureRequest, tmp_path: Path, music_room_file: Path
) -> None:
    """SQLite keeps a 12-character postal code under NVARCHAR(10), 123456789.5 under
    NUMERIC(10,2) and 40,000 practice minutes under SMALLINT; the copy the sync made has the
    declared types, and PostgreSQL refuses such a value. The hint said to correct the row at
    the source (the application's data, correct as it is): it now gives the statement that
    lets the copy take it, and the sync goes on once it is run."""
    src = primary(music_room_file, tmp_path)
    src.run("CREATE TABLE practice_log (log_id INTEGER NOT NULL, minutes SMALLINT DEFAULT NULL, "
            "PRIMARY KEY (log_id))")  # fmt: skip
    src.run("INSERT INTO practice_log VALUES (1, 45)")
    pg = make_db("postgresql", request, tmp_path, "analytics")
    some = ("Student", "Piece", "practice_log")
    counts = {"Student": 45, "Piece": 150, "practice_log": 1}
    proven(sync_all(src, pg, some), counts)
    cases = (
        ("Student", "PostalCode", "'40123-000 JB'", "StudentId", "text"),
        ("Piece", "CopyFee", "123456789.5", "PieceId", "numeric"),
        ("practice_log", "minutes", "40000", "log_id", "bigint"),
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
    request: pytest.FixtureRequest, tmp_path: Path, music_room_file: Path
) -> None:
    """Python's sqlite3 stores bytes bound for a text as a BLOB, and SQLite keeps it in an
    NVARCHAR column (an arranger's name the application encoded; two bytes no UTF-8 reads). The
    copy holds it as PostgreSQL's bytea text (``\\x`` and its hex), which the sync compared
    with the bytes' UTF-8 reading: from SQLite the first sync verified and every later one said
    the row different (exit 1) while `sync verify` said equal; from D1 even the first."""
    d1: D1Target = request.getfixturevalue("d1")
    with d1.db.lock, closing(sqlite3.connect(music_room_file)) as built:
        with closing(sqlite3.connect(d1.db.path)) as there:
            built.backup(there)
    sources = (primary(music_room_file, tmp_path), Db("d1", d1.url, d1=d1))
    copies = (request.getfixturevalue("pg_url"), request.getfixturevalue("pg_second"))
    for src, url in zip(sources, copies, strict=True):
        pg = Db("postgresql", url)
        for piece, raw in ((7, b"Sri Hartono"), (8, b"\xff\x00")):
            src.run("UPDATE Piece SET Arranger = ? WHERE PieceId = ?", (raw, piece))
        for _ in range(2):  # the full copy, then a pass by checksums
            proven(sync_all(src, pg, ("Piece",)), {"Piece": 150})
        proven(verify_all(src, pg, ("Piece",)), {"Piece": 150})
        arrangers = "SELECT Arranger FROM Piece WHERE PieceId IN (7, 8) ORDER BY 1"
        assert pg.run(arrangers) == [("\\x53726920486172746f6e6f",), ("\\xff00",)], src.kind


def test_a_blob_bound_for_a_date_or_a_number_is_named_with_the_statement_that_stores_its_text(
    request: pytest.FixtureRequest, tmp_path: Path, music_room_file: Path
) -> None:
    """An application that binds bytes for an invoice's date or a piece's length (SQLite keeps
    the BLOB under DATETIME and INTEGER): PostgreSQL refused it as `invalid input syntax for
    type timestamp: "\\x323032…"`, and the hint said to correct the row, naming no BLOB. The
    hint now says so, with the statement that stores its text at the source."""
    src = primary(music_room_file, tmp_path)
    pg = make_db("postgresql", request, tmp_path, "analytics")
    some = ("Invoice", "Piece")
    proven(sync_all(src, pg, some), {"Invoice": 70, "Piece": 150})
    cases = (
        ("Invoice", "InvoiceDate", "'2025-04-04 10:15:00'", "InvoiceId = 14", "timestamp"),
        ("Piece", "Seconds", "'293'", "PieceId = 5", "bigint"),
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
    proven(sync_all(src, pg, some), {"Invoice": 70, "Piece": 150})
    assert values(pg, "SELECT InvoiceDate FROM Invoice WHERE InvoiceId = 14") == [
        ("2025-04-04 10:15:00",)
    ]
    assert pg.run("SELECT Seconds FROM Piece WHERE PieceId = 5") == [(293,)]
