"""The chunk-write primitives shared by import and sync (engine/data/sqlwrite.py, pgcopy.py),
on a real SQLite file and the throwaway PostgreSQL cluster."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from malnu_tui.engine.data import pgcopy
from malnu_tui.engine.data.sqlwrite import (
    RowTooLarge,
    d1_requests,
    d1_statements,
    sql_tuple,
    upsert_sql,
)

ROWS = [(1, "a", "x"), (2, "b", "y"), (3, None, "tab\there"), (4, "back\\slash\nline", "é")]


def test_sqlite_upsert_modes(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "t.db", isolation_level=None)
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, b TEXT)")
    conn.executemany(upsert_sql("t", ("id", "a", "b")), ROWS[:2])
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute(upsert_sql("t", ("id", "a", "b")), (1, "z", "z"))
    conn.executemany(upsert_sql("t", ("id", "a", "b"), ("id",), "skip"), [(1, "z", "z")])
    assert conn.execute("SELECT a FROM t WHERE id = 1").fetchone() == ("a",)
    # only_changed: an identical row is no change; a different one is one update.
    changed = upsert_sql("t", ("id", "a", "b"), ("id",), "update", only_changed=("a", "b"))
    before = conn.total_changes
    conn.executemany(changed, [(1, "a", "x"), (2, "B", "y"), (5, "n", None)])
    assert conn.total_changes - before == 2
    assert conn.execute("SELECT id, a, b FROM t ORDER BY id").fetchall() == [
        (1, "a", "x"),
        (2, "B", "y"),
        (5, "n", None),
    ]


def test_d1_statements_stay_under_the_limit() -> None:
    head, tail = "INSERT INTO t VALUES ", " ON CONFLICT DO NOTHING"
    tuples = [sql_tuple((i, "ü" * 50, None, "it's")) for i in range(500)]
    out = d1_statements(head, tuples, tail, max_bytes=2_000)
    assert len(out) > 1
    assert all(len(s.encode()) <= 2_000 and s.startswith(head) and s.endswith(tail) for s in out)
    assert sum(s.count("'it''s'") for s in out) == 500  # every row once, quotes doubled
    with pytest.raises(RowTooLarge) as err:
        d1_statements(head, ["(1)", "('" + "x" * 3_000 + "')"], max_bytes=2_000)
    assert err.value.index == 1
    requests = d1_requests(out, max_bytes=5_000)
    assert [s for r in requests for s in r] == out
    assert all(sum(len(s.encode()) for s in r) <= 5_000 for r in requests if len(r) > 1)


def test_pg_stage_copy_and_upsert(pg_url: str) -> None:
    with psycopg.connect(pg_url) as conn:
        conn.execute("CREATE TABLE t (id int PRIMARY KEY, a text, b text, j json)")
        t = sql.Identifier("t")
        cols = ("id", "a", "b")
        with conn.transaction():
            stage = pgcopy.create_stage(conn, "stage_t", like=t, on_commit="delete rows")
            # Text rows needing no escape go as C-made COPY text; the others row by row.
            assert pgcopy.copy_text([("1", "a", "x")], 3) == "1\ta\tx\n"
            assert pgcopy.copy_text(ROWS, 3) is None
            assert pgcopy.copy_rows(conn, stage, cols, ROWS) == 4
            assert pgcopy.upsert_from(conn, t, stage, cols) == (4, 0)
        got = conn.execute("SELECT id, a, b FROM t ORDER BY id").fetchall()
        assert got == [tuple(r) for r in ROWS]
        with conn.transaction():
            stage = pgcopy.create_stage(conn, "stage_t", like=t, on_commit="delete rows")
            pgcopy.copy_rows(conn, stage, cols, [("1", "a", "x"), ("2", "B", "y"), ("7", "n", "m")])
            assert pgcopy.upsert_from(conn, t, stage, cols, ("id",), "skip") == (1, 0)
            # Unchanged rows are left alone: only id 2 is an update.
            got2 = pgcopy.upsert_from(
                conn, t, stage, cols, ("id",), "update", only_changed=("a", "b")
            )
            assert got2 == (0, 1)
        with conn.transaction():
            # A stage with typed columns and a line column; values cast, a stamp from %s.
            stage = pgcopy.create_stage(
                conn, "stage_l", columns=[("_line", "bigint"), ("v0", "text"), ("v1", "text")]
            )
            pgcopy.copy_rows(
                conn, stage, ("_line", "v0", "v1"), [("8", '{"k": 1}'), ("9", "[]")], lead=[5, 6]
            )
            ins, upd = pgcopy.upsert_from(
                conn,
                t,
                stage,
                ("id", "j", "a"),
                ("id",),
                "update",
                values=[sql.SQL("v0::int"), sql.SQL("v1::json"), sql.SQL("%s")],
                params=("stamped", 5),
                where=sql.SQL("_line >= %s"),
                order_by=sql.SQL("_line"),
                only_changed=("j",),
                compare_as_text=("j",),
            )
            assert (ins, upd) == (2, 0)
        rows = conn.execute("SELECT id, a, j::text FROM t WHERE id >= 8 ORDER BY id").fetchall()
        assert rows == [(8, "stamped", '{"k": 1}'), (9, "stamped", "[]")]
