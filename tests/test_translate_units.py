"""The primary's SQLite-dialect migrations run on a real PostgreSQL through the backend, as
translated units (migrations and their rollbacks), failures naming the SQLite file's line."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence

import pytest

from malnu_tui.engine.backends.base import AuditEntry, RecordApplied, RemoveRecord
from malnu_tui.engine.backends.postgresql import open_url
from malnu_tui.engine.errors import StatementFailed
from malnu_tui.engine.files import discover
from malnu_tui.engine.translate import (
    SchemaState,
    Untranslated,
    postgres_units,
    translate_script,
)
from tests.fixtures_core import REPO, MigrationDirs


def same_verdicts(
    real: sqlite3.Connection, state: SchemaState, statements: Sequence[str]
) -> Iterator[str]:
    """Each statement run on a real SQLite database and translated on ``state``, one by one:
    a statement SQLite accepts gets no schema-tracking note, one it refuses gets exactly one
    naming SQLite's own error text. Yields each statement after its check."""
    for i, statement in enumerate(statements):
        try:
            real.execute(statement)
            verdict = None
        except sqlite3.Error as exc:
            verdict = str(exc)
        ft = translate_script(statement + ";\n", f"{i}.sql", state)
        notes = [f.why for f in ft.statements[0].findings if f.construct == "schema tracking"]
        if verdict is None:
            assert notes == [], statement
        else:
            assert len(notes) == 1 and f"({verdict})" in notes[0], statement
        yield statement


def same_schema_as_sqlite(statements: Sequence[str], real: sqlite3.Connection) -> None:
    """:func:`same_verdicts` over all ``statements``, then the scratch schema (what waited
    settled) holds exactly what the real SQLite database ``real`` holds; closes both."""
    state = SchemaState()
    try:
        list(same_verdicts(real, state, statements))
        state.settle()
        master = "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name"
        assert state.conn.execute(master).fetchall() == real.execute(master).fetchall()
    finally:
        state.close()
        real.close()


def test_primary_set_up_and_down_on_postgresql(pg_url: str) -> None:
    mset = discover(REPO / "migrations", REPO / "rollback")
    units = postgres_units(mset)
    units.require(m.filename for m in mset.migrations)
    be = open_url(pg_url)
    try:
        be.ensure_schema()
        for m in mset.migrations:
            be.run_unit(
                m.filename,
                units.migrations[m.filename],
                RecordApplied(m.filename, m.checksum),
                AuditEntry.now("apply", m.filename, "ok"),
            )
        assert be.table_names() == sorted(
            ["academic_records", "assignments", "chat_conversations", "submissions", "users"]
        )
        for m in reversed(mset.migrations):
            be.run_unit(
                m.filename,
                units.rollbacks[m.filename],
                RemoveRecord(m.filename),
                AuditEntry.now("rollback", m.filename, "ok"),
            )
        assert be.table_names() == []
        assert be.fetch_records() == []
    finally:
        be.close()


def test_trigger_rollback_knows_its_table_and_errors_keep_sqlite_lines(
    pg_url: str, mdirs: MigrationDirs
) -> None:
    mdirs.add(
        "20250101_000100",
        "users",
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, updated_at DATETIME);\n"
        "CREATE TRIGGER users_touch AFTER UPDATE ON users\nBEGIN\n"
        "  UPDATE users SET updated_at = CURRENT_TIMESTAMP WHERE id = NEW.id;\nEND;",
        "DROP TRIGGER users_touch;\nDROP TABLE users;",
    )
    mdirs.add(
        "20250101_000200",
        "broken",
        "INSERT INTO users (id, name) VALUES (1, 'a');\n\n"
        "INSERT INTO users (id, nope) VALUES (2, 'b');",
    )
    mset = discover(mdirs.migrations, mdirs.rollback)
    units = postgres_units(mset)
    first, second = mset.migrations
    assert [s.text.split("\n")[0] for s in units.rollbacks[first.filename]] == [
        'DROP TRIGGER IF EXISTS "users_touch" ON "users"',
        'DROP FUNCTION IF EXISTS "users_touch_fn"()',
        "DROP TABLE users",
    ]
    be = open_url(pg_url)
    try:
        be.ensure_schema()
        be.run_unit(
            first.filename,
            units.migrations[first.filename],
            RecordApplied(first.filename, first.checksum),
            AuditEntry.now("apply", "x", "ok"),
        )
        with pytest.raises(StatementFailed) as info:
            be.run_unit(
                second.filename,
                units.migrations[second.filename],
                RecordApplied(second.filename, second.checksum),
                AuditEntry.now("apply", "x", "ok"),
            )
        assert info.value.line == 3  # the SQLite file's line
        be.run_unit(
            first.filename,
            units.rollbacks[first.filename],
            RemoveRecord(first.filename),
            AuditEntry.now("rollback", "x", "ok"),
        )
        assert be.table_names() == []
    finally:
        be.close()


def test_untranslatable_units_are_refused_before_running(mdirs: MigrationDirs) -> None:
    mdirs.add("20250101_000100", "x", "CREATE TABLE t (id INTEGER PRIMARY KEY);\nSELECT typeof(1);")
    mset = discover(mdirs.migrations, mdirs.rollback)
    units = postgres_units(mset)
    with pytest.raises(Untranslated) as info:
        units.require([mset.migrations[0].filename])
    assert "20250101_000100_x.sql:2: typeof()" in str(info.value)
    assert info.value.exit_code == 1


def test_a_savepoint_left_open_does_not_stop_the_rollback_translation(
    mdirs: MigrationDirs,
) -> None:
    # The scratch schema runs the (withheld) SAVEPOINT, which leaves its transaction open; the
    # rollback is translated on a copy of that schema (a backup used to wait for it forever).
    mdirs.add(
        "20250101_000100",
        "x",
        "CREATE TABLE t (id INTEGER PRIMARY KEY);\nSAVEPOINT s;\n"
        "CREATE TABLE u (id INTEGER PRIMARY KEY, t_id INTEGER REFERENCES t (id));",
        rollback="CREATE INDEX u_t ON u (t_id);\nDROP TABLE u;",
    )
    mset = discover(mdirs.migrations, mdirs.rollback)
    units = postgres_units(mset)
    name = mset.migrations[0].filename
    assert [st.text for st in units.rollbacks[name]] == [
        "CREATE INDEX u_t ON u(t_id)",
        "DROP TABLE u",
    ]
    assert any("SAVEPOINT" in f.construct for f in units.findings[name])


def test_engine_up_and_rollback_of_the_primary_set_on_postgresql(pg_url: str) -> None:
    from malnu_tui.engine.config import Target, open_backend
    from malnu_tui.engine.migrate import apply_plan, plan_rollback, plan_up, status, verify
    from malnu_tui.engine.translate import postgres_plan

    mset = discover(REPO / "migrations", REPO / "rollback")
    backend = open_backend(
        Target("copies", pg_url, mset.migrations_dir, mset.rollback_dir, REPO / "unused")
    )
    try:
        backend.ensure_schema()
        plan = postgres_plan(plan_up(backend, mset), mset)
        assert "id BIGINT GENERATED BY DEFAULT AS IDENTITY" in plan.sql_text()
        result = apply_plan(backend, mset, plan)
        assert len(result.done) == len(mset.migrations)
        assert {m.state.value for m in status(backend, mset).migrations} == {"applied"}
        assert verify(backend, mset).ok
        assert "users" in backend.table_names()
        down = postgres_plan(plan_rollback(backend, mset, steps=len(mset.migrations)), mset)
        apply_plan(backend, mset, down)
        assert backend.table_names() == []
    finally:
        backend.close()


def test_views_whose_create_waits_keep_sqlite_verdicts_and_answers() -> None:
    """The scratch schema runs a CREATE VIEW only when something could see the view
    (SchemaState._defer_view); verdicts, error texts and answers stay SQLite's own."""
    from malnu_tui.engine.translate import SchemaState, translate_script

    def notes(ft: object) -> list[str]:
        return [f.why for st in ft.statements for f in st.findings]  # type: ignore[attr-defined]

    state = SchemaState()
    ft = translate_script(
        "CREATE VIEW v AS SELECT 1 AS one;\n"
        "CREATE VIEW v AS SELECT 1 AS one;\n"  # the same text again: rejected
        "CREATE VIEW w AS SELECT * FROM missing;\n"  # a missing table is no error yet
        "CREATE TABLE t (id INTEGER PRIMARY KEY, b BOOLEAN);\n"
        "CREATE VIEW tv AS SELECT b AS flag FROM t;\n"
        "SELECT * FROM tv WHERE flag = 1;\n",
        "a.sql",
        state,
    )
    found = notes(ft)
    assert any("(view v already exists)" in n for n in found)
    assert not any("missing" in n for n in found)
    assert ft.statements[-1].output == ("SELECT * FROM tv WHERE flag = TRUE",)
    clone = state.clone()
    try:
        again = translate_script("SELECT * FROM tv WHERE flag = 0;\n", "b.sql", clone)
        assert again.statements[0].output == ("SELECT * FROM tv WHERE flag = FALSE",)
    finally:
        clone.close()
    renamed = translate_script("ALTER TABLE t RENAME TO t2;\n", "c.sql", state)
    assert any("error in view w: no such table: main.missing" in n for n in notes(renamed))
    # A data statement SQLite runs (it holds a double-quoted word) fires a trigger that reads
    # a view and a table whose ALTER waited: both are there.
    fired = translate_script(
        "CREATE TABLE u (id INTEGER PRIMARY KEY, a TEXT);\n"
        "CREATE TABLE logt (a TEXT, flag BOOLEAN);\n"
        "CREATE TRIGGER u_log AFTER INSERT ON u BEGIN INSERT INTO logt SELECT * FROM lv; END;\n"
        "CREATE VIEW lv AS SELECT a, flag FROM logt;\n"
        "ALTER TABLE logt ADD COLUMN extra TEXT;\n"
        'INSERT INTO u (a) VALUES ("x");\n',
        "d.sql",
        state,
    )
    assert [n for n in notes(fired) if "scratch schema" in n] == [
        "SQLite rejected the statement in the scratch schema (table logt has 3 columns but "
        "2 values were supplied); keys and types it implies are unknown to later statements"
    ]
    state.close()


def test_added_columns_are_answered_as_sqlite_reports_them() -> None:
    """ALTER TABLE … ADD COLUMN answered without running it in the scratch schema (a plain
    column judged by EXPLAIN, others in a side database): the verdicts, error texts and
    columns are SQLite's own, and so is the table once it reaches the scratch schema."""
    statements = [
        "CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, a TEXT UNIQUE)",
        "CREATE TABLE st (a INTEGER) STRICT",
        "CREATE INDEX t_a ON t (a)",
        "ALTER TABLE t ADD COLUMN b text",  # a standard type: reported upper-cased
        "ALTER TABLE t ADD c varchar",  # any other: as written
        "ALTER TABLE t ADD COLUMN d NULL",  # a constraint, no type
        "ALTER TABLE t ADD COLUMN B INTEGER",  # duplicate (any case)
        "ALTER TABLE t ADD COLUMN e BOOLEAN DEFAULT 1",
        "ALTER TABLE st ADD COLUMN b BOGUS",  # STRICT: refused when SQLite runs it
        "ALTER TABLE st ADD COLUMN c TEXT",
        # One shape (names with digits aside): verdicts stay SQLite's once it was accepted.
        "CREATE TABLE u1 (x1 TEXT)",
        "ALTER TABLE u1 ADD COLUMN c1 TEXT",
        "ALTER TABLE u1 ADD COLUMN C1 TEXT",  # duplicate (any case)
        "ALTER TABLE u1 ADD COLUMN X1 TEXT",  # duplicate of a created column
        "ALTER TABLE u2 ADD COLUMN c2 TEXT",  # no such table
        "ALTER TABLE u1 ADD COLUMN c2 TEXT",
    ]
    real = sqlite3.connect(":memory:")
    state = SchemaState()
    for statement in same_verdicts(real, state, statements):
        table = statement.split()[2]  # (each ALTER's answers, before the next one)
        rows = real.execute(f"PRAGMA table_xinfo({table})").fetchall()
        expected = [(r[1], r[2], bool(r[3]), r[4], r[5]) for r in rows]
        got = [(c.name, c.declared, c.notnull, c.default, c.pk) for c in state.columns(table)]
        assert got == expected, statement
    assert state.unique_keys("t") == [["id"], ["a"]]
    clone = state.clone()  # (every table altered aside is now in the scratch schema)
    try:
        for table in ("t", "st"):
            ours = clone.conn.execute(f"SELECT sql FROM sqlite_master WHERE name = '{table}'")
            theirs = real.execute(f"SELECT sql FROM sqlite_master WHERE name = '{table}'")
            assert ours.fetchall() == theirs.fetchall()
        assert clone.conn.execute("PRAGMA index_list(t)").fetchall() == (
            real.execute("PRAGMA index_list(t)").fetchall()
        )
    finally:
        clone.close()
        state.close()
        real.close()


def test_indexes_and_triggers_of_one_shape_keep_sqlite_verdicts() -> None:
    """A plain CREATE INDEX (or BEFORE/AFTER CREATE TRIGGER) whose shape SQLite accepted
    already is not prepared again when its name is free and its table holds its columns: the
    verdicts (and error texts) stay SQLite's for a missing column, a taken or reserved name, a
    view, a missing table."""
    statements = [
        "CREATE TABLE t1 (c1 TEXT, c2 TEXT)",
        "CREATE TABLE t2 (c1 TEXT)",
        "CREATE VIEW v3 AS SELECT 1 AS c1",
        "CREATE INDEX i1 ON t1 (c1)",
        "CREATE INDEX i2 ON t1 (c2)",
        "CREATE INDEX i3 ON t2 (c2)",  # no such column
        "CREATE INDEX I1 ON t2 (c1)",  # taken (by an index still waiting), any case
        "CREATE INDEX t1 ON t2 (c1)",  # taken by a table
        "CREATE INDEX i4 ON v3 (c1)",  # a view
        "CREATE INDEX i5 ON t9 (c1)",  # no such table
        "CREATE INDEX sqlite_i6 ON t2 (c1)",  # reserved
        "CREATE INDEX i7 ON t2 (C1)",
        "CREATE TRIGGER r1 AFTER UPDATE ON t1 BEGIN UPDATE t8 SET c1 = NEW.c1; END",
        "CREATE TRIGGER r2 AFTER UPDATE ON t2 BEGIN UPDATE t9 SET c1 = NEW.c1; END",
        "CREATE TRIGGER R1 AFTER UPDATE ON t2 BEGIN UPDATE t8 SET c1 = NEW.c1; END",  # taken
        "CREATE TRIGGER r3 AFTER UPDATE ON v3 BEGIN UPDATE t8 SET c1 = NEW.c1; END",  # a view
        "CREATE TRIGGER r4 AFTER UPDATE ON t9 BEGIN UPDATE t8 SET c1 = NEW.c1; END",  # no table
        "CREATE TRIGGER i7 AFTER UPDATE ON t1 BEGIN UPDATE t8 SET c1 = NEW.c1; END",
    ]
    same_schema_as_sqlite(statements, sqlite3.connect(":memory:"))


def test_views_of_one_shape_keep_sqlite_verdicts() -> None:
    """A CREATE VIEW whose shape SQLite accepted already is not prepared again when its name
    is free: the verdicts (and error texts) stay SQLite's for clashing and reserved names,
    parameters, other schemas, and once the temp schema holds something."""
    body = "AS SELECT id, a1 FROM t1 WHERE a1 LIKE 'x%'"
    statements = [
        "CREATE TABLE t1 (id INTEGER PRIMARY KEY, a1 TEXT)",
        "CREATE INDEX i2 ON t1 (a1)",
        f"CREATE VIEW v1 {body}",
        f"CREATE VIEW v2 {body}",  # the same shape, a free name
        f"CREATE VIEW V2 {body}",  # taken (any case)
        f"CREATE VIEW IF NOT EXISTS v2 {body}",
        f"CREATE VIEW t1 {body}",  # a table's name
        f"CREATE VIEW i2 {body}",  # an index's name
        f"CREATE VIEW sqlite_v3 {body}",  # reserved
        "CREATE VIEW v4 AS SELECT id, a1 FROM t1 WHERE a1 LIKE ?",  # a parameter
        "CREATE VIEW v5 AS SELECT id, a1 FROM db9.t1 WHERE a1 LIKE 'x%'",  # another schema
        "CREATE VIEW v6 AS SELECT id, a1 FROM t1 WHERE a1 LIKE 'x%' GROUP",  # syntax
        "CREATE TEMP TABLE t9 (a1 TEXT)",
        f"CREATE VIEW v7 {body}",  # (temp schema in use: asked again)
        "CREATE VIEW v8 AS SELECT a1 FROM t9",  # reads a temp table: a temp view
        f"CREATE VIEW v8 {body}",
        "CREATE VIEW v9 AS SELECT id, a1 FROM t9 WHERE a1 LIKE 'x%'",  # body's shape, temp
        "CREATE VIEW v9 AS SELECT id, a1 FROM t9 WHERE a1 LIKE 'x%'",  # taken in temp
    ]
    real = sqlite3.connect(":memory:", isolation_level=None)
    state = SchemaState()
    list(same_verdicts(real, state, statements))
    clone = state.clone()  # (the views that waited now exist, as SQLite made them)
    try:
        query = "SELECT type, name, sql FROM sqlite_master ORDER BY name"
        assert clone.conn.execute(query).fetchall() == real.execute(query).fetchall()
    finally:
        clone.close()
        state.close()
        real.close()


def test_plain_indexes_and_added_columns_keep_sqlite_verdicts_without_asking_it() -> None:
    """A plain CREATE INDEX or ADD COLUMN whose bare names are no SQLite keyword is judged
    without SQLite once what SQLite checks besides syntax holds: the verdicts (and error texts)
    stay SQLite's for keyword names (bare or quoted), a trailing comma, a missing column."""
    statements = [
        "CREATE TABLE items (id INTEGER PRIMARY KEY, title TEXT, [order] TEXT, key TEXT)",
        "CREATE INDEX items_title ON items (title)",
        "CREATE INDEX IF NOT EXISTS items_title_id ON items (title DESC, id)",
        'CREATE INDEX items_order ON items ("order")',
        "CREATE INDEX items_order2 ON items (order)",  # a keyword, bare: a syntax error
        "CREATE INDEX items_key ON items (key)",  # a keyword SQLite takes as a name
        "CREATE INDEX items_comma ON items (title,)",
        "CREATE INDEX items_nope ON items (nope)",
        "ALTER TABLE items ADD COLUMN note TEXT",
        "ALTER TABLE items ADD summary text",
        "ALTER TABLE items ADD COLUMN select TEXT",  # a keyword: a syntax error
        "ALTER TABLE items ADD COLUMN abort TEXT",  # a keyword SQLite takes as a name
        'ALTER TABLE items ADD COLUMN "where" TEXT',
        "ALTER TABLE items ADD COLUMN NOTE TEXT",  # duplicate (any case)
        "CREATE INDEX items_note ON items (note, summary)",
    ]
    same_schema_as_sqlite(statements, sqlite3.connect(":memory:", isolation_level=None))


def test_the_keywords_known_are_those_of_the_sqlite_in_use() -> None:
    """names._KEYWORDS (bare words that may not be plain names) is SQLite's own list."""
    import _sqlite3
    import ctypes

    from malnu_tui.engine.translate import names

    lib = ctypes.CDLL(_sqlite3.__file__)  # (its sqlite3_* symbols: the SQLite Python runs)
    words = set()
    for i in range(lib.sqlite3_keyword_count()):
        text, size = ctypes.c_char_p(), ctypes.c_int()
        assert lib.sqlite3_keyword_name(i, ctypes.byref(text), ctypes.byref(size)) == 0
        assert text.value is not None
        words.add(text.value[: size.value].decode())
    assert names._KNOWN_KEYWORDS
    assert words == names._KEYWORDS


def test_a_time_from_sqlites_current_timestamp_is_utc_on_a_server_in_wib(pg_url: str) -> None:
    """SQLite's CURRENT_TIMESTAMP is UTC; PostgreSQL's, cast to a timestamp, is the session's
    wall clock (a school server set up in WIB: 7 hours ahead). A DATETIME column's DEFAULT
    (strftime('%Y-%m-%d %H:%M:%S', CURRENT_TIMESTAMP)), cast to its type since it was refused
    as text, and datetime(CURRENT_TIMESTAMP, …) stored WIB wall times as UTC ones."""
    import psycopg

    state = SchemaState()
    try:
        ft = translate_script(
            "CREATE TABLE absen (id INTEGER PRIMARY KEY, "
            "a DATETIME DEFAULT (strftime('%Y-%m-%d %H:%M:%S', CURRENT_TIMESTAMP)), "
            "b DATETIME DEFAULT (datetime(CURRENT_TIMESTAMP)), "
            "c TEXT DEFAULT (datetime(CURRENT_TIMESTAMP, '+1 day')));\n",
            "absen.sql",
            state,
        )
    finally:
        state.close()
    (create,) = ft.statements[0].output
    hours = "ROUND(EXTRACT(EPOCH FROM ({} - (now() AT TIME ZONE 'UTC'))) / 3600)"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("SET TimeZone = 'Asia/Jakarta'")
        conn.execute(create)  # type: ignore[call-overload]  # the translation, not a literal
        conn.execute("INSERT INTO absen (id) VALUES (1)")
        ahead = ", ".join(hours.format(c) for c in ("a", "b", "CAST(c AS TIMESTAMP)"))
        row = conn.execute(f"SELECT {ahead} FROM absen").fetchone()  # type: ignore[call-overload]
    assert row is not None and [int(h) for h in row] == [0, 0, 24]


def test_a_column_quoted_like_a_constraint_keyword_among_comma_less_constraints() -> None:
    """A D1 table whose table constraints stand with no comma between them is read with the
    commas put in; a column quoted "check" (or "unique") was taken for a table constraint's
    keyword, so a later column's own UNIQUE was cut off as a bare ``UNIQUE,`` PostgreSQL
    refuses (and the parity read the same)."""
    (made,) = translate_script(
        'CREATE TABLE absen (id INTEGER, "check" TEXT, kode TEXT UNIQUE, UNIQUE(id)\n'
        "  CHECK (id > 0));\n"
    ).statements
    assert made.output == (
        'CREATE TABLE absen (\n  id BIGINT,\n  "check" TEXT,\n  kode TEXT UNIQUE,\n'
        "  UNIQUE (id),\n  CHECK (id > 0)\n)",
    ), made.output
