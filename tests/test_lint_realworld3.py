"""The lint's gaps found after the transaction rules landed: a WHERE that bounds nothing, data
changes inside a CTE, and PostgreSQL statements that lock or fail inside the migration's
transaction. Each rule on real statements, with what PostgreSQL really does, and a clean
counter-example beside it."""

from __future__ import annotations

import psycopg

from tests.fixtures_core import MigrationDirs, run_cli
from tests.test_lint_realworld2 import _found, _pg_base


def _count(pg_url: str, table: str) -> int:
    with psycopg.connect(pg_url) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
        assert row is not None
        return int(row[0])


def test_a_delete_whose_only_where_is_in_a_subquery_empties_the_table(
    pg_url: str, mdirs: MigrationDirs
) -> None:
    # DELETE-ALL-ROWS looked for WHERE anywhere in the statement: one inside RETURNING's
    # subquery, or a column quoted "where", bounds nothing, and the table was emptied while
    # the lint passed clean. Only the DELETE's own WHERE counts now, as for UPDATE-ALL-ROWS.
    base = _pg_base(mdirs, pg_url)
    purge = [
        "DELETE FROM users u USING orders o WHERE o.user_id = u.id",  # bounded
        "DELETE FROM users WHERE id IN (SELECT user_id FROM orders WHERE id > 5)",  # bounded
        "DELETE FROM orders RETURNING (SELECT name FROM users WHERE users.id = orders.user_id)",
        'DELETE FROM users RETURNING id AS "where"',
    ]
    mdirs.add("20250101_000200", "purge", ";\n".join(purge) + ";", "SELECT 1;")
    assert _found(base) == [("DELETE-ALL-ROWS", "error", 3), ("DELETE-ALL-ROWS", "error", 4)]
    with psycopg.connect(pg_url) as conn:  # what each one deletes: the last two, every row
        assert [conn.execute(sql).rowcount for sql in purge] == [1, 0, 1, 1]
        conn.rollback()
    assert run_cli(*base, "up", "--no-backup").code == 0
    assert _count(pg_url, "orders") == _count(pg_url, "users") == 0
