"""Rows at stake in a rollback, counted on the live database of every kind (SQLite, PostgreSQL,
the local D1 server): the preview tells the operator what a DROP will take with it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from malnu_tui.engine.backends.base import Backend
from malnu_tui.engine.config import Target, open_backend
from malnu_tui.engine.files import discover
from malnu_tui.engine.impact import RowsAtStake, files_at_stake, rows_at_stake
from malnu_tui.engine.migrate import apply_plan, plan_up
from tests.fixtures_core import MigrationDirs
from tests.fixtures_matrix import DbTarget

ROLLBACK_USERS = "DROP INDEX IF EXISTS idx_x;\nDROP TABLE users;\n"
ROLLBACK_PHONE = "-- undo\nALTER TABLE pupils DROP COLUMN phone;\nDROP TABLE IF EXISTS ghosts;\n"


@pytest.fixture(params=["sqlite", "postgresql", "d1"])
def backend(request: pytest.FixtureRequest, mdirs: MigrationDirs) -> Iterator[Backend]:
    if request.param == "sqlite":
        url = f"sqlite:///{mdirs.root / 'primary.db'}"
    elif request.param == "postgresql":
        url = request.getfixturevalue("pg_url")
    else:
        url = request.getfixturevalue("d1_url")
    mdirs.add(
        "20250101_000100",
        "people",
        """
        CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT);
        CREATE TABLE pupils (id INTEGER PRIMARY KEY, phone TEXT);
        INSERT INTO users (id, email) VALUES (1, 'a@x'), (2, 'b@x'), (3, 'c@x');
        INSERT INTO pupils (id, phone) VALUES (1, '0812');
        """,
        "DROP TABLE pupils; DROP TABLE users;",
    )
    b = open_backend(Target("t", url, mdirs.migrations, mdirs.rollback, mdirs.root))
    b.ensure_schema()
    mset = discover(mdirs.migrations, mdirs.rollback)
    apply_plan(b, mset, plan_up(b, mset))
    yield b
    b.close()


def test_rows_at_stake_counts_live_rows_of_dropped_tables_and_columns(backend: Backend) -> None:
    found = rows_at_stake(
        backend, [("2_undo_users.sql", ROLLBACK_USERS), ("1_undo_phone.sql", ROLLBACK_PHONE)]
    )
    assert found == [
        RowsAtStake("2_undo_users.sql", 2, "users", None, 3),
        RowsAtStake("1_undo_phone.sql", 2, "pupils", "phone", 1),
        RowsAtStake("1_undo_phone.sql", 3, "ghosts", None, None),
    ]
    assert [f.describe() for f in found] == [
        "drops table users: 3 rows",
        "drops column pupils.phone of 1 row",
        "drops table ghosts: not in the database now",
    ]


def test_injection_shaped_names_are_only_looked_up_never_run(backend: Backend) -> None:
    evil = 'DROP TABLE "users; DELETE FROM users";\n'
    found = rows_at_stake(backend, [("x.sql", evil)])
    assert [(f.table, f.rows) for f in found] == [("users; DELETE FROM users", None)]
    assert rows_at_stake(backend, [("y.sql", ROLLBACK_USERS)])[0].rows == 3


def test_the_statement_a_migration_is_on_is_observed_on_every_backend(
    db_target: DbTarget, mdirs: MigrationDirs
) -> None:
    from malnu_tui.engine.observe import observing

    mdirs.add(
        "20250101_000100",
        "three",
        "CREATE TABLE a (id INTEGER); CREATE TABLE b (id INTEGER); CREATE TABLE c (id INTEGER);",
        "DROP TABLE c; DROP TABLE b; DROP TABLE a;",
    )
    backend = db_target.open(mdirs)
    seen: list[tuple[str, int, int]] = []
    try:
        mset = discover(mdirs.migrations, mdirs.rollback)
        with observing(lambda f, i, n: seen.append((f, i, n))):
            apply_plan(backend, mset, plan_up(backend, mset))
    finally:
        backend.close()
    name = "20250101_000100_three.sql"
    if db_target.kind == "d1":
        assert seen == [(name, 0, 3)]  # one batch per migration
    else:
        assert seen == [(name, 1, 3), (name, 2, 3), (name, 3, 3)]


def test_a_rollback_file_saved_with_a_bom_shows_its_first_drop(
    backend: Backend, mdirs: MigrationDirs
) -> None:
    """The console's rollback preview read the file as plain UTF-8: Notepad's BOM stuck to the
    first statement, and its DROP (3 rows of users) was not shown."""
    path = mdirs.rollback / "20250101_000100_undo_people.sql"
    path.write_bytes(b"\xef\xbb\xbfDROP TABLE users;\r\nDROP TABLE pupils;\r\n")
    found = files_at_stake(backend, [path])
    assert [(f.line, f.table, f.rows) for f in found] == [(1, "users", 3), (2, "pupils", 1)]
