"""``x GLOB 'pattern'`` becomes ``x ~ '^…$'``: the same rows match on the real PostgreSQL server
as in SQLite, pattern by pattern (sets, ranges, ``]`` first, ``^``, unclosed sets, characters
that are regex operators, non-ASCII, newlines)."""

from __future__ import annotations

import sqlite3

import psycopg

from malnu_tui.engine.translate import SchemaState, translate_script

PATTERNS = [
    "a*", "*.txt", "[0-9]*", "*[^0-9]*", "[]x]?", "[^]x]", "[a-]", "[z-a]", "[abc", "a[*]b",
    "é?", "[-a]", "[a\\b]", "it's*", "?", "*", "", "a b*", "[a-cx-z]*", "[^a-c]", "(a|b)+",
    "$.^{1}", "*[[]*", "Ab?", "*\n*", "[!a]", "x[^]", "[[:alpha:]]",
]  # fmt: skip
VALUES = [
    "a", "A", "abc", "file.txt", "filetxt", "123", "12a", "]", "x", "-", "\\", "it's me", "é!",
    "", "a b c", "b", "y", "(a|b)+", "$.^{1}", "[x", "Abc", "a\nb", "!", "a*b", "aab", "x^",
    ":", "aa",
]  # fmt: skip


def test_glob_matches_the_same_strings_on_postgresql(pg_url: str) -> None:
    state = SchemaState()
    setup = translate_script(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, s TEXT, n INTEGER);", "setup.sql", state
    )
    lite = sqlite3.connect(":memory:")
    lite.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, s TEXT, n INTEGER)")
    rows = [(i, v, i * 7) for i, v in enumerate([*VALUES, None])]
    lite.executemany("INSERT INTO t VALUES (?, ?, ?)", rows)
    with psycopg.connect(pg_url) as conn, conn.transaction(force_rollback=True):
        conn.execute("CREATE SCHEMA glob_case")
        conn.execute("SET LOCAL search_path = glob_case")
        for stmt in setup.postgres_statements:
            conn.execute(stmt)
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO t VALUES (%s, %s, %s)", rows)
        for pattern in PATTERNS:
            quoted = pattern.replace("'", "''")
            sql = f"SELECT id, s GLOB '{quoted}', n GLOB '{quoted}' FROM t ORDER BY id"
            ft = translate_script(sql, "q.sql", state)
            assert ft.ok, (pattern, [f.describe() for f in ft.errors])
            (pg_sql,) = ft.postgres_statements
            got = [(r[0], _int(r[1]), _int(r[2])) for r in conn.execute(pg_sql)]
            want = [tuple(r) for r in lite.execute(sql)]
            assert got == want, (pattern, pg_sql)
    lite.close()


def _int(value: object) -> object:
    return None if value is None else int(bool(value))
