"""The sync by a change column on a schema in the style of an old sample database's SQLite port:
the school library set (tests/realworld/library_sqlite_like), whose triggers stamp each row's
``last_update`` with SQLite's ``DATETIME('NOW')`` on every insert and update (the given stamp
is overwritten). A pair with ``cursor = "last_update"`` copies in full, then the rows changed
since (an insert, an update, a composite key's new row and a deleted one, a loan keyed by its
copy and its date), and both sides are compared directly too."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from malnu_tui.engine.sync import SyncRequest, SyncSession, run_sync, verify_sync
from malnu_tui.engine.sync.model import TableReport
from tests.sync_support import Db, make_db

LIBRARY = Path(__file__).parent / "realworld" / "library_sqlite_like" / "migrations"
TABLES = ("author", "book", "book_author", "loan", "subject")
STAMP = "2026-07-14 07:00:00"
ROWS = (
    "INSERT INTO subject VALUES (1, 'Sejarah', 'SEJ', ?), (2, 'Fisika', 'FIS', ?), "
    "(3, 'Sastra', NULL, ?)",
    "INSERT INTO author VALUES (1, 'Ratna', 'Wulandari', 1971, ?), "
    "(2, 'Bagus', 'Santoso', NULL, ?), (3, 'Ikhsan', 'Maulana', 1988, ?)",
    "INSERT INTO book VALUES (1, 'Peta Sungai Cisadane', 'Kampung di tepi sungai, dari "
    "pelabuhan lama sampai jembatan baru', '2019', 1, 3, 14, 0.25, 212, 48.75, 'senior', "
    "'print,audio', ?), (2, 'Listrik dan Magnet', NULL, '2021', 2, NULL, 7, 0.75, 340, 95.25, "
    "'middle', 'print,large type', ?)",
    "INSERT INTO book_author VALUES (1, 1, 'author', ?), (1, 2, 'editor', ?), (2, 3, 'author', ?)",
    "INSERT INTO loan VALUES (1, '2026-10-01', 2, 1, '2026-10-15', '2026-10-20', 1.25, ?), "
    "(1, '2026-11-02', 1, 1, '2026-11-16', NULL, NULL, ?), "
    "(2, '2026-11-02', 2, 2, '2026-11-09', NULL, NULL, ?)",
)


def sync_pair(src: Db, dst: Db, verify: bool = False) -> dict[str, TableReport]:
    with SyncSession(src.target("primary"), dst.target("analytics")) as s:
        if verify:
            return {r.table: r for r in verify_sync(s, TABLES)}
        request = SyncRequest(TABLES, cursor="last_update")
        return {r.table: r for r in run_sync(s, request, None)}


def test_the_library_syncs_by_its_last_update_stamps(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    path = tmp_path / "library.db"
    with sqlite3.connect(path) as conn:
        for migration in sorted(LIBRARY.glob("*.sql")):
            conn.executescript(migration.read_text(encoding="utf-8"))
        for insert in ROWS:  # (its insert triggers stamp each row with the time of its insert)
            conn.execute(insert, (STAMP,) * insert.count("?"))
    src = Db("sqlite", f"sqlite:///{path}", path=path)
    for table in TABLES:  # (no row kept the stamp it was given)
        assert src.run(f"SELECT count(*) FROM {table} WHERE last_update = ?", (STAMP,)) == [(0,)]
    pg = make_db("postgresql", request, tmp_path, "analytics")
    first = sync_pair(src, pg)
    assert {t: (r.mode, r.inserted, r.verified) for t, r in first.items()} == {
        "author": ("full", 3, True),
        "book": ("full", 2, True),
        "book_author": ("full", 3, True),
        "loan": ("full", 3, True),
        "subject": ("full", 3, True),
    }

    src.run("UPDATE book SET late_fee = 1.25 WHERE book_id = 1")  # stamped by its trigger
    src.run("INSERT INTO author (author_id, given_name, family_name, last_update) "
            "VALUES (4, ?, ?, '')", ("Dewi", "Kartika"))  # fmt: skip
    src.run("INSERT INTO book_author (book_id, author_id, role, last_update) "
            "VALUES (2, 4, 'translator', '')")  # fmt: skip
    src.run("DELETE FROM book_author WHERE author_id = 2")
    src.run("UPDATE loan SET returned_on = '2026-11-20', fine = 0.75 "
            "WHERE copy_id = 1 AND loaned_on = '2026-11-02'")  # fmt: skip
    # (the same copy lent again: a key of the copy and a later date)
    src.run("INSERT INTO loan VALUES (2, '2026-11-09', 2, 2, '2026-11-16', NULL, NULL, '')")
    second = sync_pair(src, pg)
    assert {t: (r.inserted, r.updated, r.deleted, r.verified) for t, r in second.items()} == {
        "author": (1, 0, 0, True),
        "book": (0, 1, 0, True),
        "book_author": (1, 0, 1, True),
        "loan": (1, 1, 0, True),
        "subject": (0, 0, 0, True),
    }
    assert {r.mode for r in second.values()} == {"updated_at"}  # by the change column
    src.run("UPDATE author SET given_name = 'Bagus Adi' WHERE author_id = 2")
    third = sync_pair(src, pg)["author"]  # (its trigger stamps it: read by the change column)
    assert (third.mode, third.updated, third.source_count, third.verified) == (
        "updated_at",
        1,
        4,
        True,
    )
    assert all(r.verified and not r.differences for r in sync_pair(src, pg, verify=True).values())
    for table in TABLES:  # (the stamps too: the copy has them as the triggers wrote them)
        columns = ", ".join(f'"{r[1]}"' for r in src.run(f"PRAGMA table_info({table})"))
        ordered = f"SELECT {columns} FROM {table} ORDER BY 1, 2"  # (the copy adds synced_at)
        assert [tuple(map(str, r)) for r in pg.run(ordered)] == [
            tuple(map(str, r)) for r in src.run(ordered)
        ], table
    # The copy's types are the declared ones: the Firebird-style BLOB SUB_TYPE TEXT is text,
    # DECIMAL(4,2) keeps its scale, CHAR(20) is varchar(20) (SQLite pads nothing), DATE a date.
    types = (
        "SELECT table_name, column_name, data_type, character_maximum_length, numeric_precision, "
        "numeric_scale FROM information_schema.columns WHERE table_name IN ('book', 'subject', "
        "'loan') AND column_name IN ('synopsis', 'late_fee', 'price', 'name', 'loan_days', "
        "'loaned_on', 'last_update') ORDER BY 1, 2"
    )
    stamp = "timestamp without time zone"
    assert pg.run(types) == [
        ("book", "last_update", stamp, None, None, None),
        ("book", "late_fee", "numeric", None, 4, 2),
        ("book", "loan_days", "smallint", None, 16, 0),
        ("book", "price", "numeric", None, 6, 2),
        ("book", "synopsis", "text", None, None, None),
        ("loan", "last_update", stamp, None, None, None),
        ("loan", "loaned_on", "date", None, None, None),
        ("subject", "last_update", stamp, None, None, None),
        ("subject", "name", "character varying", 20, None, None),
    ]
