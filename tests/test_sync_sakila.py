"""The sync by a change column on a real schema: the Sakila sample's SQLite port
(tests/realworld/sakila_sqlite), whose triggers stamp each row's ``last_update`` with SQLite's
``DATETIME('NOW')`` on every insert and update (the given stamp is overwritten). A pair with
``cursor = "last_update"`` copies in full, then the rows changed since (an insert, an update, a
composite key's new row and a deleted one), and both sides are compared directly too."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from malnu_tui.engine.sync import SyncRequest, SyncSession, run_sync, verify_sync
from malnu_tui.engine.sync.model import TableReport
from tests.sync_support import Db, make_db

SAKILA = Path(__file__).parent / "realworld" / "sakila_sqlite" / "migrations"
TABLES = ("actor", "film", "film_actor", "language")
# A few of Sakila's rows (its data, as its MySQL and PostgreSQL builds hold it).
ROWS = (
    "INSERT INTO language VALUES (1, 'English', '2006-02-15 05:02:19'), "
    "(2, 'Italian', '2006-02-15 05:02:19')",
    "INSERT INTO actor VALUES (1, 'PENELOPE', 'GUINESS', '2006-02-15 04:34:33'), "
    "(2, 'NICK', 'WAHLBERG', '2006-02-15 04:34:33'), (3, 'ED', 'CHASE', '2006-02-15 04:34:33')",
    "INSERT INTO film (film_id, title, description, release_year, language_id, rental_duration, "
    "rental_rate, length, replacement_cost, rating, special_features, last_update) VALUES "
    "(1, 'ACADEMY DINOSAUR', 'A Epic Drama of a Feminist And a Mad Scientist who must Battle a "
    "Teacher in The Canadian Rockies', 2006, 1, 6, 0.99, 86, 20.99, 'PG', "
    "'Deleted Scenes,Behind the Scenes', '2006-02-15 05:03:42'), "
    "(2, 'ACE GOLDFINGER', 'A Astounding Epistle of a Database Administrator And a Explorer who "
    "must Find a Car in Ancient China', 2006, 1, 3, 4.99, 48, 12.99, 'G', "
    "'Trailers,Deleted Scenes', '2006-02-15 05:03:42')",
    "INSERT INTO film_actor VALUES (1, 1, '2006-02-15 05:05:03'), (10, 1, '2006-02-15 05:05:03'), "
    "(1, 23, '2006-02-15 05:05:03')",
)


def sync_pair(src: Db, dst: Db, verify: bool = False) -> dict[str, TableReport]:
    with SyncSession(src.target("primary"), dst.target("analytics")) as s:
        if verify:
            return {r.table: r for r in verify_sync(s, TABLES)}
        request = SyncRequest(TABLES, cursor="last_update")
        return {r.table: r for r in run_sync(s, request, None)}


def test_sakila_syncs_by_its_last_update_stamps(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    path = tmp_path / "sakila.db"
    with sqlite3.connect(path) as conn:
        for migration in sorted(SAKILA.glob("*.sql")):
            conn.executescript(migration.read_text(encoding="utf-8"))
        for insert in ROWS:  # (its insert triggers stamp each row with the time of its insert)
            conn.execute(insert)
    src = Db("sqlite", f"sqlite:///{path}", path=path)
    pg = make_db("postgresql", request, tmp_path, "analytics")
    first = sync_pair(src, pg)
    assert {t: (r.mode, r.inserted, r.verified) for t, r in first.items()} == {
        "actor": ("full", 3, True),
        "film": ("full", 2, True),
        "film_actor": ("full", 3, True),
        "language": ("full", 2, True),
    }

    src.run("UPDATE film SET rental_rate = 2.99 WHERE film_id = 1")  # stamped by its trigger
    src.run("INSERT INTO actor (actor_id, first_name, last_name, last_update) VALUES (4, ?, ?, '')",
            ("JENNIFER", "DAVIS"))  # fmt: skip
    src.run("INSERT INTO film_actor (actor_id, film_id, last_update) VALUES (4, 2, '')")
    src.run("DELETE FROM film_actor WHERE actor_id = 10")
    second = sync_pair(src, pg)
    assert {t: (r.inserted, r.updated, r.deleted, r.verified) for t, r in second.items()} == {
        "actor": (1, 0, 0, True),
        "film": (0, 1, 0, True),
        "film_actor": (1, 0, 1, True),
        "language": (0, 0, 0, True),
    }
    assert {r.mode for r in second.values()} == {"updated_at"}  # by the change column
    src.run("UPDATE actor SET first_name = 'NICOLAS' WHERE actor_id = 2")
    third = sync_pair(src, pg)["actor"]  # (its trigger stamps it: read by the change column)
    assert (third.mode, third.updated, third.source_count, third.verified) == (
        "updated_at",
        1,
        4,
        True,
    )
    assert all(r.verified and not r.differences for r in sync_pair(src, pg, verify=True).values())
    for table in TABLES:
        columns = [str(r[1]) for r in src.run(f"PRAGMA table_info({table})")]
        listed = ", ".join(f'"{c}"' for c in columns if c != "last_update")
        ordered = f"SELECT {listed} FROM {table} ORDER BY 1, 2"
        assert [tuple(map(str, r)) for r in pg.run(ordered)] == [
            tuple(map(str, r)) for r in src.run(ordered)
        ], table
