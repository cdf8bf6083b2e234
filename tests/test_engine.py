"""The migration lifecycle on real databases, every test on each backend of the matrix (a SQLite
file, a PostgreSQL database on the throwaway cluster, a database on the local D1 server)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from malnu_tui.engine.backends.base import Backend
from malnu_tui.engine.config import Target, open_backend
from malnu_tui.engine.errors import ChecksumDrift, MigrationFileError, MissingRollback
from malnu_tui.engine.files import discover
from malnu_tui.engine.migrate import (
    MigrationFailed,
    MigrationState,
    apply_plan,
    clear_failed,
    plan_rollback,
    plan_up,
    repair,
    status,
    verify,
)
from tests.fixtures_core import MigrationDirs, school_set
from tests.fixtures_matrix import DbTarget


def connect(url: str, d: MigrationDirs) -> Backend:
    backend = open_backend(Target("t", url, d.migrations, d.rollback, d.root / "backups"))
    backend.ensure_schema()
    return backend


def up(backend: Backend, d: MigrationDirs, to: str | None = None) -> list[str]:
    mset = discover(d.migrations, d.rollback)
    result = apply_plan(backend, mset, plan_up(backend, mset, to))
    return [f for f, _ in result.done]


def down(backend: Backend, d: MigrationDirs, **kw: object) -> list[str]:
    mset = discover(d.migrations, d.rollback)
    result = apply_plan(backend, mset, plan_rollback(backend, mset, **kw))  # type: ignore[arg-type]
    return [f for f, _ in result.done]


def states(backend: Backend, d: MigrationDirs) -> dict[str, str]:
    report = status(backend, discover(d.migrations, d.rollback))
    return {m.filename: m.state.value for m in report.migrations}


def tables(backend: Backend) -> list[str]:
    return backend.table_names()


def test_every_state_in_status(db_target: DbTarget, mdirs: MigrationDirs) -> None:
    d = school_set(mdirs)
    b = db_target.open(d)
    up(b, d, to="20250101_000200")
    # drifted: edit an applied file; missing: applied then its file removed; failed; pending.
    d.add("20250101_000400", "broken", "CREATE TABLE broken (id INTEGER PRIMARY KEY);\nSELEC 1;")
    p = d.migrations / "20250101_000400_broken.sql"
    p.write_text("CREATE TABLE broken (id INTEGER PRIMARY KEY);\nINSERT INTO nowhere VALUES (1);\n")
    with pytest.raises(MigrationFailed):
        up(b, d)  # applies 000300, then fails on 000400
    (d.migrations / "20250101_000300_index_posts.sql").unlink()
    first = d.migrations / "20250101_000100_create_users.sql"
    first.write_text(first.read_text() + "-- edited after it ran\n")
    d.add("20250101_000500", "later", "CREATE TABLE later (id INTEGER);", "DROP TABLE later;")
    got = states(b, d)
    assert got == {
        "20250101_000100_create_users.sql": "drifted",
        "20250101_000200_create_posts.sql": "applied",
        "20250101_000300_index_posts.sql": "missing",
        "20250101_000400_broken.sql": "failed",
        "20250101_000500_later.sql": "pending",
    }
    b.close()


def test_apply_and_rollback_by_steps_and_target(db_target: DbTarget, mdirs: MigrationDirs) -> None:
    d = school_set(mdirs)
    b = db_target.open(d)
    assert len(up(b, d)) == 3
    assert set(tables(b)) >= {"users", "posts"}
    assert down(b, d) == ["20250101_000300_index_posts.sql"]  # default: one step
    assert down(b, d, steps=1) == ["20250101_000200_create_posts.sql"]
    assert "posts" not in tables(b)
    up(b, d)
    assert down(b, d, to="20250101_000100") == [
        "20250101_000300_index_posts.sql",
        "20250101_000200_create_posts.sql",
    ]
    assert states(b, d)["20250101_000100_create_users.sql"] == "applied"
    assert states(b, d)["20250101_000200_create_posts.sql"] == "pending"
    actions = [(e.action, e.outcome) for e in b.read_audit()]
    assert ("rollback", "ok") in actions and ("apply", "ok") in actions
    b.close()


def test_failure_in_the_middle_leaves_nothing(db_target: DbTarget, mdirs: MigrationDirs) -> None:
    d = school_set(mdirs)
    d.add(
        "20250101_000400",
        "half",
        """
        CREATE TABLE half_a (id INTEGER PRIMARY KEY);
        INSERT INTO half_a (id) VALUES (1);
        INSERT INTO no_such_table (id) VALUES (2);
        CREATE TABLE half_b (id INTEGER PRIMARY KEY);
        """,
        "DROP TABLE half_a;",
    )
    b = db_target.open(d)
    with pytest.raises(MigrationFailed) as err:
        up(b, d)
    assert err.value.failure.line == 3
    assert "half_a" not in tables(b) and "half_b" not in tables(b)
    rec = {r.filename: r for r in b.fetch_records()}["20250101_000400_half.sql"]
    assert rec.success is False
    assert rec.error_message and "line 3" in rec.error_message
    assert "no_such_table" in rec.error_message
    # The three before it committed, each on its own.
    assert states(b, d)["20250101_000300_index_posts.sql"] == "applied"
    # Fix the file and retry: the failed row becomes a success row, not a second row.
    (d.migrations / "20250101_000400_half.sql").write_text(
        "CREATE TABLE half_a (id INTEGER PRIMARY KEY);\n"
    )
    assert up(b, d) == ["20250101_000400_half.sql"]
    recs = [r for r in b.fetch_records() if r.filename == "20250101_000400_half.sql"]
    assert len(recs) == 1 and recs[0].success and recs[0].error_message is None
    b.close()


def test_drift_blocks_up_and_crlf_is_not_drift(db_target: DbTarget, mdirs: MigrationDirs) -> None:
    d = school_set(mdirs)
    b = db_target.open(d)
    up(b, d, to="20250101_000200")
    users = d.migrations / "20250101_000100_create_users.sql"
    raw = users.read_bytes()
    users.write_bytes(b"\xef\xbb\xbf" + raw.replace(b"\n", b"\r\n"))  # Windows checkout
    assert verify(b, discover(d.migrations, d.rollback)).ok
    users.write_bytes(raw.replace(b"email", b"e_mail"))
    result = verify(b, discover(d.migrations, d.rollback))
    assert not result.ok and [m.filename for m in result.drifted] == [users.name]
    with pytest.raises(ChecksumDrift):
        up(b, d)
    assert repair(b, discover(d.migrations, d.rollback)) == [users.name]
    assert verify(b, discover(d.migrations, d.rollback)).ok
    assert any(e.action == "repair" for e in b.read_audit())
    assert up(b, d) == ["20250101_000300_index_posts.sql"]
    b.close()


def test_triggers_and_semicolons_in_strings(tmp_path: Path, mdirs: MigrationDirs) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    d = mdirs
    d.add(
        "20250101_000100",
        "trigger",
        """
        CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT DEFAULT 'x; y', "odd;name" TEXT,
                            updated_at TEXT);
        /* a block comment; with a semicolon */
        CREATE TRIGGER notes_touch AFTER UPDATE OF body ON notes
        BEGIN
            UPDATE notes SET updated_at = 'touched; -- still a string' WHERE id = NEW.id;
            SELECT CASE WHEN NEW.body = '' THEN RAISE(ABORT, 'empty; body') END;
        END;
        INSERT INTO notes (id, body) VALUES (1, 'it''s; fine');
        """,
        "DROP TRIGGER notes_touch;\nDROP TABLE notes;",
    )
    b = connect(url, d)
    assert up(b, d) == ["20250101_000100_trigger.sql"]
    import sqlite3

    conn = sqlite3.connect(tmp_path / "db.sqlite")
    conn.execute("UPDATE notes SET body = 'changed' WHERE id = 1")
    conn.commit()
    row = conn.execute("SELECT body, updated_at FROM notes").fetchone()
    assert row == ("changed", "touched; -- still a string")
    with pytest.raises(sqlite3.IntegrityError, match="empty; body"):
        conn.execute("UPDATE notes SET body = '' WHERE id = 1")
    conn.close()
    assert down(b, d) == ["20250101_000100_trigger.sql"]
    b.close()


def test_seed_template_files_are_recorded_once(db_target: DbTarget, mdirs: MigrationDirs) -> None:
    d = mdirs
    d.add(
        "20251124_120500",
        "migration_name",
        """
        -- Start transaction
        BEGIN TRANSACTION;
        CREATE TABLE example_table (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
        INSERT INTO example_table (id, name) VALUES (1, 'Sample Data');
        -- Commit transaction
        COMMIT;
        -- Record migration
        INSERT INTO migrations (filename, checksum)
        VALUES ('20251124_120500_migration_name.sql', 'checksum_hash');
        """,
        "DROP TABLE example_table;",
        description="template style",
    )
    b = db_target.open(d)
    mset = discover(d.migrations, d.rollback)
    plan = plan_up(b, mset)
    notes = " ".join(plan.steps[0].notes)
    assert "BEGIN/COMMIT" in notes and "INSERT INTO migrations" in notes
    apply_plan(b, mset, plan)
    recs = b.fetch_records()
    assert [(r.filename, r.checksum) for r in recs] == [
        ("20251124_120500_migration_name.sql", mset.migrations[0].checksum)
    ]
    assert b.row_count("example_table") == 1
    b.close()


def test_missing_rollback_refused_before_any_change(
    db_target: DbTarget, mdirs: MigrationDirs
) -> None:
    d = school_set(mdirs)
    b = db_target.open(d)
    up(b, d)
    (d.rollback / "20250101_000200_undo_create_posts.sql").unlink()
    with pytest.raises(MissingRollback) as err:
        down(b, d, steps=2)
    assert err.value.filenames == ["20250101_000200_create_posts.sql"]
    # Nothing ran, not even the step whose rollback exists.
    assert states(b, d)["20250101_000300_index_posts.sql"] == "applied"
    b.close()


def test_bad_rollback_file_refused_before_any_change(
    db_target: DbTarget, mdirs: MigrationDirs
) -> None:
    d = school_set(mdirs)
    b = db_target.open(d)
    up(b, d)
    (d.rollback / "20250101_000200_undo_create_posts.sql").write_text("DROP TABLE 'posts;\n")
    with pytest.raises(MigrationFileError, match=r"undo_create_posts\.sql:1"):
        down(b, d, steps=2)
    assert states(b, d)["20250101_000300_index_posts.sql"] == "applied"
    b.close()


def test_clear_failed(db_target: DbTarget, mdirs: MigrationDirs) -> None:
    d = mdirs
    d.add("20250101_000100", "bad", "INSERT INTO nowhere VALUES (1);")
    b = db_target.open(d)
    with pytest.raises(MigrationFailed):
        up(b, d)
    assert states(b, d) == {"20250101_000100_bad.sql": "failed"}
    clear_failed(b, "20250101_000100_bad.sql")
    assert states(b, d) == {"20250101_000100_bad.sql": "pending"}
    assert b.read_audit()[0].action == "clear-failed"
    b.close()


def test_dependencies_are_checked(db_target: DbTarget, mdirs: MigrationDirs) -> None:
    d = school_set(mdirs)
    d.add(
        "20250101_000400",
        "needs",
        "SELECT 1;",
        description="x",
        dependencies="20250101_009999_nothing.sql",
    )
    with pytest.raises(MigrationFileError, match=r"000400_needs\.sql:2: unknown dependency"):
        discover(d.migrations, d.rollback)
    (d.migrations / "20250101_000400_needs.sql").unlink()
    d.add("20250101_000400", "needs", "SELECT 1;", dependencies="20250101_000200")
    b = db_target.open(d)
    assert len(up(b, d)) == 4
    b.close()


def test_status_state_enum_is_complete() -> None:
    assert {s.value for s in MigrationState} == {
        "applied",
        "pending",
        "failed",
        "drifted",
        "missing",
    }


def test_postgresql_function_bodies_apply(
    fresh_db: Callable[[str], DbTarget], mdirs: MigrationDirs
) -> None:
    d = mdirs
    d.add(
        "20250101_000100",
        "touch_trigger",
        """
        CREATE TABLE notes (id integer PRIMARY KEY, body text, at timestamptz);
        CREATE FUNCTION notes_touch() RETURNS trigger AS $$
        BEGIN
            NEW.at := now();
            RETURN NEW;
        END;
        $$ LANGUAGE plpgsql;
        CREATE TRIGGER notes_touch BEFORE INSERT ON notes
            FOR EACH ROW EXECUTE FUNCTION notes_touch();
        INSERT INTO notes (id, body) VALUES (1, 'x');
        """,
        "DROP TABLE notes;\nDROP FUNCTION notes_touch();",
    )
    b = fresh_db("postgresql").open(d)
    # Written in PostgreSQL's dialect (a PostgreSQL target's default files_dialect): read as
    # SQLite's, a CREATE TRIGGER runs on to its END (SQLite's own rule).
    mset = discover(d.migrations, d.rollback, "postgresql")
    done = apply_plan(b, mset, plan_up(b, mset)).done
    assert [f for f, _ in done] == ["20250101_000100_touch_trigger.sql"]
    assert b.row_count("notes") == 1
    done = apply_plan(b, mset, plan_rollback(b, mset)).done
    assert [f for f, _ in done] == ["20250101_000100_touch_trigger.sql"]
    b.close()
