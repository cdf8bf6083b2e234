"""The PostgreSQL-dialect splitter against psql itself: random scripts of ``$$`` and
``$tag$`` bodies, DO blocks, ``BEGIN ATOMIC`` function bodies (PostgreSQL 14+) with CASE …
END inside, ``E'…'`` strings, rules whose parentheses hold ``;``, comments and quoted names
holding ``;`` are sent by ``psql -e`` (which echoes each query it sends) to a real server; the
statements it sent are the splitter's."""

from __future__ import annotations

import random
import subprocess

from malnu_tui.engine.sqlsplit import split_statements, strip_comments
from tests.fixtures_pg import PgCluster

_PIECES = (
    'CREATE TABLE t_{k} (id int, "end" text, "a;b" text)',
    "INSERT INTO t_{k} VALUES (1, 'a;b', 'it''s; -- no comment')",
    "SELECT E'x\\\\'';y' AS e, $$a;b$$ AS d, $q$ ; $$ ; $q$ AS q",
    "SELECT $tubuh_fungsi1$ ; $$ ; $tubuh_fungsi1$ AS t, $körper$ ; $körper$ AS k",
    "SELECT (1), ((2)); SELECT 3",
    "DO $$ BEGIN PERFORM 1; IF true THEN NULL; END IF; END $$",
    "DO $do$ DECLARE x int; BEGIN x := 1; RAISE NOTICE '%;', x; END $do$ LANGUAGE plpgsql",
    "CREATE FUNCTION f_{k}(a int) RETURNS int LANGUAGE sql AS $$ SELECT a; $$",
    "CREATE OR REPLACE FUNCTION g_{k}() RETURNS int LANGUAGE sql "
    "BEGIN ATOMIC SELECT 1; SELECT CASE WHEN true THEN 2 ELSE 3 END; END",
    "CREATE PROCEDURE p_{k}() LANGUAGE sql BEGIN ATOMIC SELECT 'end;'; END",
    "CREATE FUNCTION h_{k}(begin int) RETURNS int LANGUAGE sql RETURN CASE WHEN true THEN 1 END",
    "CREATE or replace procedure q_{k}() language sql begin atomic select 1; end",
    "CREATE RULE r_{k} AS ON INSERT TO t_{k} DO ALSO (SELECT 1; SELECT 2)",
    "BEGIN",
    "COMMIT",
    "CREATE VIEW v_{k} AS SELECT CASE WHEN 1 = 1 THEN 'a' END AS \"end\"",
    "SELECT 1 /* ; */ + 2",
    "CREATE FUNCTION n_{k}() RETURNS int LANGUAGE sql BEGIN ATOMIC "
    "SELECT CASE WHEN true THEN CASE WHEN false THEN 1 END END; END",
    "CREATE FUNCTION e_{k}() RETURNS text LANGUAGE sql BEGIN ATOMIC "
    "SELECT x.end FROM (SELECT 'a' AS end) x; END",
    "CREATE FUNCTION a_{k}() RETURNS void LANGUAGE sql BEGIN ATOMIC END",
    "/* c */ CREATE FUNCTION c_{k}(x int = (1)) RETURNS int LANGUAGE sql STABLE "
    "BEGIN ATOMIC SELECT x; END",
)
_GAPS = (" ", "  ", " /* ; END; */ ", " -- c; x\n", "\t")


def _script(rng: random.Random) -> str:
    """Statements on one line each or several to a line; no ``;`` just before a line end
    inside a statement (psql -e's echo is split where one is)."""
    out = []
    for k in range(rng.randint(1, 8)):
        piece = rng.choice(_PIECES).format(k=k)
        out.append(
            rng.choice(_GAPS) + piece + rng.choice(("", " ")) + ";" + rng.choice(("\n", " "))
        )
    return "".join(out).rstrip(" ") + ("" if out and out[-1].endswith("\n") else "\n")


def _normal(text: str) -> str:
    return " ".join(strip_comments(text).split()).removesuffix(";").strip()


def test_the_postgresql_splitter_cuts_where_psql_cuts(pg_cluster: PgCluster, pg_url: str) -> None:
    rng = random.Random(15)
    scripts = [_script(rng) for _ in range(120)]
    for sql in scripts:
        ours = [_normal(st.text) for st in split_statements(sql, "postgresql")]
        run = subprocess.run(
            [pg_cluster.bin("psql"), "-X", "-q", "-e", "-o", "/dev/null", "-d", pg_url],
            input=sql, capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        sent = [_normal(q) for q in run.stdout.split(";\n") if _normal(q)]
        assert ours == sent, sql


def test_a_column_named_begin_in_a_begin_atomic_body_is_read_as_the_server_reads_it(
    pg_url: str,
) -> None:
    """psql's own heuristic counts every ``begin`` word of a function's body as a block (it
    then swallows the statements after it, up to the file's end); the server takes ``begin``
    there as the column it is. The splitter ends the statement at its ``END``, and the server
    creates the function (its deliberate difference from psql)."""
    import psycopg

    sql = (
        "CREATE TABLE t (begin int);\n"
        "CREATE FUNCTION b() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT begin FROM t; END;\n"
        "INSERT INTO t VALUES (7);\n"
    )
    got = split_statements(sql, "postgresql")
    assert [st.line for st in got] == [1, 2, 3]
    with psycopg.connect(pg_url, autocommit=True) as conn:
        for st in got:
            conn.execute(st.text)  # type: ignore[call-overload]
        assert conn.execute("SELECT b()").fetchone() == (7,)


def test_a_dollar_tag_holds_any_non_ascii_character_and_no_digit_first() -> None:
    """psql's rule for a ``$tag$`` (a letter, ``_`` or any byte of a non-ASCII character
    first, digits after), which the splitter and the DO block's line reading share
    (sqltokens.DOLLAR_TAG): astral-plane characters too; ``$1`` is a parameter."""
    from malnu_tui.engine.backends.pg_sql import do_block_line

    script = "SELECT $😀$ ; $😀$; SELECT $Ω_9$ a;b $Ω_9$; SELECT $1 ; SELECT $_$;$_$"
    texts = [st.text for st in split_statements(script, dialect="postgres")]
    assert texts == ["SELECT $😀$ ; $😀$", "SELECT $Ω_9$ a;b $Ω_9$", "SELECT $1", "SELECT $_$;$_$"]
    body = "DO $körper😀$\nBEGIN\n  PERFORM 1;\nEND $körper😀$"
    frame = "PL/pgSQL function inline_code_block line 3 at PERFORM"
    assert do_block_line(body, frame) == 2
    assert do_block_line("DO $9$ BEGIN END $9$", frame) is None
