"""Discovery, naming, headers, checksums and statement splitting."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from malnu_tui.engine import sqlsplit
from malnu_tui.engine.errors import MigrationFileError
from malnu_tui.engine.files import checksum_bytes, discover, normalise_version
from malnu_tui.engine.sqlsplit import SplitError, split_statements
from malnu_tui.engine.sqltemplate import strip_template
from tests.fixtures_core import MigrationDirs, run_cli


def test_split_handles_quotes_comments_triggers_and_crlf() -> None:
    sql = (
        "-- header; with semicolon\r\n"
        "CREATE TABLE a (x TEXT DEFAULT 'a;b', \"c;d\" INT, [e;f] INT, `g;h` INT);\r\n"
        "/* block;\r\n comment */ INSERT INTO a (x) VALUES ('it''s; -- not a comment');\r\n"
        "CREATE TRIGGER t AFTER INSERT ON a BEGIN\r\n"
        "  UPDATE a SET x = CASE WHEN 1 THEN 'e;' ELSE 'f' END;\r\n"
        "  INSERT INTO a (x) VALUES ('z');\r\n"
        "END;\r\n"
        "SELECT 1"
    )
    got = split_statements(sql)
    assert [s.line for s in got] == [2, 4, 5, 9]
    assert got[0].text.endswith("`g;h` INT)")
    assert got[1].text.startswith("INSERT") and "'it''s; -- not a comment'" in got[1].text
    assert got[2].text.startswith("CREATE TRIGGER") and got[2].text.endswith("END")
    assert got[3].text == "SELECT 1"


def test_split_errors_name_the_line() -> None:
    with pytest.raises(SplitError) as err:
        split_statements("SELECT 1;\n\nSELECT 'open;\n")
    assert err.value.line == 3
    with pytest.raises(SplitError):
        split_statements("SELECT 1; /* never closed")
    with pytest.raises(SplitError):
        split_statements("CREATE TRIGGER t AFTER INSERT ON a BEGIN SELECT 1;")


def _split_outcome(split: Callable[[str], object], sql: str) -> object:
    try:
        return split(sql)
    except SplitError as exc:
        return ("SplitError", str(exc), exc.line)


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_split_fast_path_gives_what_the_full_scanner_gives(dialect: str) -> None:
    """Scripts with only ``--`` comments, '…' strings and ``;`` take a short path: on random
    scripts of such pieces (and of pieces that send them to the full scanner) both agree,
    statements, lines and errors alike; in PostgreSQL's dialect too, where a ``;`` inside
    parentheses ends nothing."""
    pieces = [
        *("a", "E", "e", " ", "\n", "\r\n", "\t", ";", ";", "'", "''", "--", "-", "/", "*"),
        *("x'y'", "e'", "E'x'", "BEGIN", "END", "CASE", "CREATE", "(", ")", "é", "\u2003"),
        *("\x1c", "SELECT 1", "INSERT INTO t VALUES ('a;b')", "-- c;'\n", "\n-- d\n"),
        *("CREATE TRIGGER x", "TRIGGER", "trıgger", "1END", "éEND", "BEGIN;"),
    ]
    rare = ["$", '"', "\\", "/*", "stdin", "[", "`", "\r", "\ufeff"]
    pg = dialect == "postgresql"
    rng = random.Random(9)
    simple = 0
    for _ in range(20_000):
        sql = "".join(
            rng.choice(rare if rng.random() < 0.02 else pieces) for _ in range(rng.randint(0, 20))
        )
        lf = sqlsplit.line_ends(sql)
        simple += sqlsplit._is_simple(lf)
        got = _split_outcome(lambda text: split_statements(text, dialect), sql)
        assert got == _split_outcome(lambda text: sqlsplit._split_full(text, pg), lf)
    assert simple > 10_000  # the short path was taken most of the time


def test_split_reads_trigger_pieces_as_the_full_scanner(monkeypatch: pytest.MonkeyPatch) -> None:
    """In a simple ASCII script a piece that holds the word TRIGGER is read by a token loop
    (_trigger_statement): on random such scripts (bodies with CASE … END, nested BEGIN, E'…'
    strings, words after digits, unterminated strings and bodies) statements, lines and errors
    are the full scanner's."""
    pieces = [
        *("CREATE", "TRIGGER", "TEMP", "BEGIN", "END", "CASE", "WHEN", "THEN", "e", "E", "1e"),
        *("'a;b'", "'it''s'", "'", "--c;\n", "-", ";", ";", ";", "\n", " ", " ", "(", "1"),
        *("trigger", "begin", "end", "case", "e'q'", "E'q;'", "xe'q'", "9e'z'", "_", "a1", "t"),
        *("UPDATE", "SET", "NEW.id", "=", ",", "AFTER", "ON", "9END", "endx", "CREATE TRIGGER"),
    ]
    taken = 0
    read = sqlsplit._trigger_statement

    def counted(sql: str, seg: int, line: int) -> tuple[sqlsplit.Statement, int] | None:
        nonlocal taken
        got = read(sql, seg, line)
        taken += got is not None
        return got

    monkeypatch.setattr(sqlsplit, "_trigger_statement", counted)
    rng = random.Random(11)
    for _ in range(15_000):
        sql = "".join(
            rng.choice(pieces) + rng.choice(("", " ", " ", "\n")) for _ in range(rng.randint(1, 24))
        )
        assert _split_outcome(split_statements, sql) == _split_outcome(sqlsplit._split_full, sql)
    assert taken > 2_000  # (the token loop read them)


def test_strip_template() -> None:
    parts = strip_template(
        split_statements(
            "BEGIN TRANSACTION;\nCREATE TABLE x (a INT);\nCOMMIT;\n"
            "INSERT INTO migrations (filename, checksum) VALUES ('x.sql', 'y');"
        )
    )
    assert [s.text for s in parts.statements] == ["CREATE TABLE x (a INT)"]
    assert parts.transaction_lines == [1, 3] and parts.tracking_insert_lines == [4]


def test_checksum_ignores_bom_and_crlf_only() -> None:
    base = checksum_bytes(b"CREATE TABLE a (x INT);\n")
    assert checksum_bytes(b"\xef\xbb\xbfCREATE TABLE a (x INT);\r\n") == base
    assert checksum_bytes(b"CREATE TABLE a (x  INT);\n") != base


def test_versions_in_both_styles(mdirs: MigrationDirs) -> None:
    mdirs.add("20251124_120500", "seed_style", "SELECT 1;", "SELECT 1;")
    (mdirs.migrations / "20251124121000_supabase_style.sql").write_text("SELECT 2;\n")
    (mdirs.rollback / "20251124_121000_undo.sql").write_text("SELECT 3;\n")
    mset = discover(mdirs.migrations, mdirs.rollback)
    assert [m.version for m in mset.migrations] == ["20251124_120500", "20251124_121000"]
    assert all(m.rollback is not None for m in mset.migrations)
    assert normalise_version("20251124121000") == "20251124_121000"
    assert mset.find("20251124121000").name == "supabase_style"


def test_headers_are_parsed(mdirs: MigrationDirs) -> None:
    mdirs.add("20251124_120500", "a", "SELECT 1;")
    mdirs.add(
        "20251124_121000",
        "b",
        "SELECT 1;",
        description="Adds b",
        author="Siti",
        dependencies="20251124_120500_a.sql",
    )
    m = discover(mdirs.migrations, mdirs.rollback).migrations[1]
    assert (m.description, m.author, m.dependencies) == (
        "Adds b",
        "Siti",
        ("20251124_120500_a.sql",),
    )


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("2025_bad_name.sql", b"SELECT 1;", "bad migration file name"),
        ("20251124_120500_empty.sql", b"  \n", "empty"),
        ("20251124_120500_latin1.sql", b"SELECT 1;\nSELECT 'caf\xe9';\n", "not UTF-8"),
    ],
)
def test_bad_files_are_named(mdirs: MigrationDirs, name: str, content: bytes, message: str) -> None:
    (mdirs.migrations / name).write_bytes(content)
    with pytest.raises(MigrationFileError, match=message) as err:
        discover(mdirs.migrations, mdirs.rollback)
    assert name in str(err.value)
    if "UTF-8" in message:
        assert f"{name}:2" in str(err.value)


def test_duplicate_versions_refused(mdirs: MigrationDirs) -> None:
    mdirs.add("20251124_120500", "one", "SELECT 1;")
    (mdirs.migrations / "20251124120500_two.sql").write_text("SELECT 2;\n")
    with pytest.raises(MigrationFileError, match="duplicate version 20251124_120500"):
        discover(mdirs.migrations, mdirs.rollback)


def test_unparsable_sql_named_with_line(mdirs: MigrationDirs, tmp_path: Path) -> None:
    path = mdirs.add("20251124_120500", "typo", "CREATE TABLE a (x INT);\nCRATE TABLE b (y INT);")
    mset = discover(mdirs.migrations, mdirs.rollback)
    with pytest.raises(MigrationFileError, match=f"{path.name}:2: unparsable SQL"):
        mset.migrations[0].statements()


def test_a_file_that_rolls_its_own_transaction_back_is_refused_before_anything_runs(
    mdirs: MigrationDirs, tmp_path: Path
) -> None:
    mdirs.add("20251124_120000", "fine", "CREATE TABLE fine (x INT);", "DROP TABLE fine;")
    path = mdirs.add(
        "20251124_120500",
        "tried",
        "BEGIN TRANSACTION;\nCREATE TABLE a (x INT);\nROLLBACK; -- not yet\n",
        "DROP TABLE a;",
    )
    db = tmp_path / "r.db"
    res = run_cli("--database", f"sqlite:///{db}", *mdirs.args(), "up", "--no-backup")
    assert res.code == 2 and f"{path.name}:3" in res.err and "ROLLBACK" in res.err, res.err
    assert "Traceback" not in res.err
    con = sqlite3.connect(db)
    names = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    con.close()
    assert "fine" not in names and "a" not in names  # nothing ran
    # ROLLBACK TO a savepoint is the file's own business: not refused.
    mdirs.add(
        "20251124_121000",
        "savepoint",
        "SAVEPOINT s;\nCREATE TABLE b (x INT);\nROLLBACK TO s;\nRELEASE s;",
    )
    path.unlink()
    mset = discover(mdirs.migrations, mdirs.rollback)
    assert [len(m.statements()) for m in mset.migrations] == [1, 4]


def test_the_school_set_is_valid() -> None:
    from malnu_tui.engine.config import BUNDLED_PRIMARY

    mset = discover(BUNDLED_PRIMARY / "migrations", BUNDLED_PRIMARY / "rollback")
    assert len(mset.migrations) >= 7
    assert all(m.rollback is not None and m.description and m.author for m in mset.migrations)
    for m in mset.migrations:
        assert m.statements()


def test_split_postgresql_dollar_quoted_bodies() -> None:
    got = split_statements(
        "CREATE FUNCTION touch() RETURNS trigger AS $$\nBEGIN\n  NEW.at := now(); RETURN NEW;\n"
        "END;\n$$ LANGUAGE plpgsql;\n"
        "CREATE FUNCTION one() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql;\n"
        "SELECT one()"
    )
    assert [s.line for s in got] == [1, 6, 7]
    assert got[0].text.endswith("LANGUAGE plpgsql")
    with pytest.raises(SplitError):
        split_statements("CREATE FUNCTION f() RETURNS int AS $$ SELECT 1;")


def test_a_migration_runs_the_text_its_checksum_was_taken_of(mdirs: MigrationDirs) -> None:
    """Discovery keeps the text it read: a file edited after discovery does not change the
    statements of this set (whose recorded checksum is of the text read), and is not read
    again; a new discovery sees the edit."""
    path = mdirs.add("20250101_000100", "a", "CREATE TABLE a (id INTEGER);", "DROP TABLE a;")
    m = discover(mdirs.migrations, mdirs.rollback).migrations[0]
    path.write_text("CREATE TABLE b (id INTEGER);\n", encoding="utf-8")
    assert [s.text for s in m.statements()] == ["CREATE TABLE a (id INTEGER)"]
    assert m.checksum == checksum_bytes(b"CREATE TABLE a (id INTEGER);\n")
    again = discover(mdirs.migrations, mdirs.rollback).migrations[0]
    assert [s.text for s in again.statements()] == ["CREATE TABLE b (id INTEGER)"]


def test_first_words_are_the_first_four_words_outside_comments() -> None:
    """``Statement.first_words`` looks at the start of the text only when that is enough; on
    random texts it equals the first four words of the whole comment-free text."""
    import re

    pieces = ["a", "bb", "CREATE", "x" * 30, " ", "-- c\n", "/* c */", "(", "1", "é", "'s'", "_"]
    rng = random.Random(5)
    for _ in range(5_000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 30)))
        words = re.findall(r"[A-Za-z_]+", sqlsplit._strip_comments(text))[:4]
        assert sqlsplit.Statement(text, 1).first_words == " ".join(words).upper(), text


def test_a_copy_block_ends_at_its_line_in_a_file_of_mixed_line_ends() -> None:
    """A CRLF file with one LF line keeps its CRs (a CR may be a value's): the COPY data's
    ``\\.`` line still ends it."""
    sql = "COPY a (x) FROM stdin;\r\nv1\r\n\\.\r\nSELECT 'one\nline';\r\n"
    copy, select = split_statements(sql, "postgresql")
    assert copy.copy_data == "v1\r\n" and select.text == "SELECT 'one\nline'" and select.line == 4
