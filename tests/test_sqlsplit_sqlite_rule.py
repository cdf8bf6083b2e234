"""The SQLite-dialect splitter against SQLite itself: where ``sqlite3_complete`` (the sqlite3
shell's rule, Python's ``sqlite3.complete_statement``) ends a statement, and what SQLite does
when it runs the statements one by one as against the whole script; for files read whole and
for large files read in pieces (filestatements)."""

from __future__ import annotations

import random
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from malnu_tui.engine import filestatements
from malnu_tui.engine.files import checksum_bytes
from malnu_tui.engine.filestatements import CHUNK, read_large_parts
from malnu_tui.engine.sqlsplit import SplitError, split_statements
from tests.fixtures_core import MigrationDirs, run_cli

# Blanks and comments before a statement (a piece of nothing but them is no statement).
_LEAD = re.compile(r"(?:\s|--[^\n]*(?:\n|$)|/\*(?:[^*]|\*(?!/))*\*/)*")


def _reference(sql: str) -> tuple[list[tuple[str, int]], bool]:
    """The statements (text without its ``;``, first line) where sqlite3_complete ends them,
    and whether what is left at the end is whole once a ``;`` follows it (False: an
    unterminated string, comment or trigger body, which the splitter refuses)."""
    out: list[tuple[str, int]] = []
    start = 0

    def add(piece_end: int) -> None:
        lead = _LEAD.match(sql, start, piece_end).end()  # type: ignore[union-attr]
        text = sql[lead:piece_end].strip()
        if text:
            out.append((text, sql.count("\n", 0, lead) + 1))

    for at in (m.start() for m in re.finditer(";", sql)):
        if at >= start and sqlite3.complete_statement(sql[start : at + 1]):
            add(at)
            start = at + 1
    rest = sql[start:]
    whole = _LEAD.fullmatch(rest) is not None or sqlite3.complete_statement(rest + "\n;")
    add(len(sql))
    return out, whole


def _ours(sql: str) -> list[tuple[str, int]] | None:
    try:
        return [(st.text, st.line) for st in split_statements(sql)]
    except SplitError:
        return None


def _case(rng: random.Random, word: str) -> str:
    return rng.choice((word, word.lower(), word.capitalize()))


_STRINGS = ("'a;b'", "'END;'", "'; END;'", "'it''s'", "'-- x;'", "'/* ; */'", "'begin'")
_GAPS = (" ", "\n", "  ", " -- END;\n", " /* ; END; */ ", "\n-- a comment; END;\n", "\t")


def _gap(rng: random.Random) -> str:
    return rng.choice(_GAPS)


def _body_statement(rng: random.Random, ref: str) -> str:
    s = rng.choice(_STRINGS)
    return rng.choice(
        (
            f"INSERT INTO log (id, begin, end, what) VALUES ({ref}.id, {ref}.begin, {ref}.end, "
            f"{s})",
            f'UPDATE log SET begin = {ref}.begin, "end" = {ref}.end WHERE id = {ref}.id',
            f"UPDATE log SET [end] = CASE WHEN {ref}.end IS NULL THEN 'none' ELSE {ref}.end "
            f"{_case(rng, 'END')} WHERE what = {s}",
            f"INSERT INTO log (what) SELECT CASE {ref}.begin WHEN 'a' THEN 'b' ELSE {s} END",
            f"DELETE FROM log WHERE `end` = {ref}.end AND begin <> {s}",
            f"INSERT INTO log (begin, end) SELECT begin, end FROM ev WHERE end = {ref}.begin",
        )
    )


def _trigger(rng: random.Random, k: int) -> str:
    event = rng.choice(("INSERT", "UPDATE OF begin, end", "UPDATE", "DELETE"))
    ref = "OLD" if event == "DELETE" else "NEW"
    when = rng.choice(
        (
            "",
            f"WHEN {ref}.begin IS NOT NULL ",
            f"WHEN {ref}.end > 'a' ",
            f"WHEN CASE WHEN {ref}.begin THEN 1 ELSE 0 END ",
            f"WHEN {ref}.begin = 'end' OR {ref}.end = 'begin' ",
        )
    )
    body = "".join(_body_statement(rng, ref) + ";" + _gap(rng) for _ in range(rng.randint(1, 4)))
    temp = rng.choice(("", "", "TEMP ", "TEMPORARY "))
    return (
        f"{_case(rng, 'CREATE')} {temp}{_case(rng, 'TRIGGER')} IF NOT EXISTS t{k} "
        f"{rng.choice(('BEFORE', 'AFTER'))} {event} ON ev {rng.choice(('', 'FOR EACH ROW '))}"
        f"{when}{_case(rng, 'BEGIN')}{_gap(rng)}{body}{_case(rng, 'END')}"
    )


_SCHEMA = (
    'CREATE TABLE ev (id INTEGER PRIMARY KEY, begin TEXT, end TEXT, "case" TEXT, note TEXT);\n'
    "CREATE TABLE log (id INTEGER, begin TEXT, end TEXT, what TEXT);\n"
    "CREATE TABLE [trigger] (begin INTEGER, end INTEGER);\n"
)


def _script(rng: random.Random) -> str:
    """A valid SQLite script: triggers whose bodies and WHEN use columns named begin and end,
    CASE … END, quoted names, comments and strings holding ``;`` and END."""
    out = [_SCHEMA]
    for k in range(rng.randint(2, 8)):
        s = rng.choice(_STRINGS)
        out.append(
            rng.choice(
                (
                    _trigger(rng, k),
                    _trigger(rng, k),
                    f"INSERT INTO ev (begin, end, note) VALUES ({s}, 'a', {s})",
                    f"INSERT INTO ev (begin, end) VALUES ('b', {s})",
                    "UPDATE ev SET end = begin, begin = end WHERE id > 0",
                    "DELETE FROM ev WHERE end = 'a'",
                    "INSERT INTO [trigger] (begin, end) SELECT count(*), "
                    "CASE WHEN 1 THEN 2 END FROM ev",
                    f"CREATE VIEW IF NOT EXISTS v{k} AS SELECT CASE WHEN begin THEN end END AS x "
                    "FROM ev",
                    f"DROP TRIGGER IF EXISTS t{max(k - 1, 0)}",
                )
            )
            + _gap(rng)
            + ";"
            + _gap(rng)
        )
    out.append("INSERT INTO ev (begin, end, note) VALUES ('z', 'y', 'last')")
    return "".join(out)


def _state(conn: sqlite3.Connection) -> list[object]:
    temp = conn.execute("SELECT type, name, sql FROM temp.sqlite_master ORDER BY name").fetchall()
    return [*conn.iterdump(), *temp]


def test_triggers_using_begin_and_end_run_statement_by_statement_as_sqlite_runs_them() -> None:
    """Triggers on columns named ``begin`` and ``end`` (``NEW.end``, ``SET begin = NEW.begin``,
    ``WHEN NEW.begin``, ``"end"``, ``[end]``), with ``CASE … END`` in them: cut where SQLite's
    own rule cuts; each statement runs alone, and the database is the one the whole script
    gives. Before, ``NEW.end`` ended the trigger's body and ``begin`` opened another one."""
    rng = random.Random(15)
    for _ in range(150):
        sql = _script(rng)
        ours = _ours(sql)
        assert ours == _reference(sql)[0], sql
        assert ours is not None
        one_by_one = sqlite3.connect(":memory:", isolation_level=None)
        for text, _line in ours:
            one_by_one.execute(text)  # (one statement, whole, or sqlite3 refuses it)
        whole = sqlite3.connect(":memory:", isolation_level=None)
        whole.executescript(sql)
        assert _state(one_by_one) == _state(whole)
        one_by_one.close()
        whole.close()


_SOUP = [
    *("CREATE", "create", "TEMP", "TEMPORARY", "TRIGGER", "trigger", "EXPLAIN", "BEGIN"),
    *("END", "end", "End", "NEW.end", "begin", "CASE", "WHEN", "x", "t", "1END", "endx"),
    *(";", ";", ";", ";", " ", " ", "\n", "\t", "(", ")", ",", ".", "=", "-", "/", "*"),
    *("'a;b'", "'END;'", '"end"', '"a;"', "[end]", "[a;]", "`end`", "'it''s'", "'"),
    *("-- c; END;\n", "-- x", "/* ; END; */", "/*", "\v", "\f", "\x1c", "é", "\u2003"),
    *("SELECT 1", "UPDATE t SET end = 1", "trıgger", "énd", "ENDé", "_end", "CREATE TRIGGER"),
]


def _soup(rng: random.Random) -> str:
    return "".join(
        rng.choice(_SOUP) + rng.choice(("", "", " ", "\n")) for _ in range(rng.randint(0, 30))
    )


def test_the_splitter_ends_statements_where_sqlite3_complete_does() -> None:
    """On random token soups (trigger heads and bodies, END in every disguise, quotes and
    comments holding ``;``, characters SQLite reads as words or as other tokens): the same
    statements and lines as sqlite3_complete's cuts, and an error exactly when what is left
    at the end is unfinished."""
    rng = random.Random(16)
    refused = 0
    for _ in range(30_000):
        sql = _soup(rng)
        statements, whole = _reference(sql)
        ours = _ours(sql)
        refused += ours is None
        assert ours == (statements if whole else None), sql
    assert 1_000 < refused < 25_000  # (both outcomes were met)


def _pieces(sql: str, rng: random.Random) -> Iterator[str]:
    """``sql`` in random pieces, each ending at a line end (as text_pieces cuts a file)."""
    lines = sql.splitlines(keepends=True)
    while lines:
        take = rng.randint(1, 4)
        yield "".join(lines[:take])
        del lines[:take]


def test_a_file_read_in_pieces_is_split_as_sqlite_splits_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The large-file path (files over 256 KB, split piece by piece where a statement's own
    ``;`` ends it): a file of such scripts has the statements of the file read whole; and
    small buffers cut everywhere give the same statements as sqlite3_complete."""
    rng = random.Random(17)
    scripts = []
    size = 0
    while size < 3 * CHUNK:
        scripts.append(_script(rng) + ";\n")
        size += len(scripts[-1])
    text = "".join(scripts)
    path = tmp_path / "big.sql"
    path.write_bytes(text.encode())
    parts = read_large_parts(path, "sqlite", checksum_bytes(text.encode()))
    assert list(parts.statements) == split_statements(text)
    assert [(st.text, st.line) for st in parts.statements] == _reference(text)[0]

    for chunk in (1, 7, 40):
        monkeypatch.setattr(filestatements, "CHUNK", chunk)
        for _ in range(3_000):
            sql = _soup(rng)
            statements, whole = _reference(sql)
            try:
                got = [
                    (st.text, st.line) for st in filestatements._split(_pieces(sql, rng), "sqlite")
                ]
            except SplitError:
                got = None
            assert got == (statements if whole else None), sql


_EVENTS = """\
CREATE TABLE events (id INTEGER PRIMARY KEY, begin TEXT, end TEXT, note TEXT);
CREATE TABLE events_log (id INTEGER, begin TEXT, end TEXT, what TEXT);
CREATE TRIGGER events_ins AFTER INSERT ON events WHEN NEW.begin IS NOT NULL BEGIN
  INSERT INTO events_log VALUES (NEW.id, NEW.begin, NEW.end, 'ins');
  UPDATE events_log SET "end" = CASE WHEN NEW.end IS NULL THEN 'open' ELSE NEW.end END
    WHERE id = NEW.id;
END;
CREATE TRIGGER events_upd AFTER UPDATE OF begin ON events BEGIN
  UPDATE events_log SET begin = NEW.begin WHERE id = NEW.id;
END;
"""


@pytest.mark.parametrize("large", [False, True], ids=["whole", "streamed"])
def test_up_applies_triggers_on_columns_named_begin_and_end(
    sqlite_url: str, mdirs: MigrationDirs, large: bool
) -> None:
    """A school's timetable table with columns ``begin`` and ``end`` and triggers on them:
    ``up`` applied it (a small file, and a seed over 256 KB read in pieces) and the triggers
    work. Before: "a BEGIN … END body (trigger or function) has no END", nothing applied."""
    seed = "".join(
        f"INSERT INTO events (id, begin, end, note) VALUES ({i}, 'b{i}', NULL, 'x; END;');\n"
        for i in range(1, (6_000 if large else 3) + 1)
    )
    path = mdirs.add("20260101_000000", "events", _EVENTS + seed, "DROP TABLE events;")
    assert (path.stat().st_size > 256 * 1024) == large
    res = run_cli("--database", sqlite_url, *mdirs.args(), "up", "--yes", "--no-backup")
    assert res.code == 0, res.err
    db = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"))
    db.execute("UPDATE events SET begin = 'moved' WHERE id = 2")
    db.commit()
    assert db.execute("SELECT * FROM events_log WHERE id <= 2 ORDER BY id").fetchall() == [
        (1, "b1", "open", "ins"),
        (2, "moved", "open", "ins"),
    ]
    db.close()
