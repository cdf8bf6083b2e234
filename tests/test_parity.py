"""Parity between the SQLite schema the migrations build and their PostgreSQL translation, on a
real throwaway PostgreSQL server; and drift between a live PostgreSQL schema and the migrations."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from malnu_tui.engine.files import discover
from malnu_tui.engine.parity import check_parity, compare_live
from malnu_tui.engine.plan_diff import translate_plan
from malnu_tui.engine.translate import translate_migrations
from tests.fixtures_core import REPO, MigrationDirs, run_cli

PRIMARY = discover(REPO / "migrations", REPO / "rollback")


def _scratch_schemas(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'malnu_scratch_%'"
        ).fetchall()
    return [r[0] for r in rows]


def test_school_migrations_have_parity(pg_url: str) -> None:
    # A real table of the same name must never be touched by the scratch run.
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE users (keep_me TEXT)")
        conn.execute("INSERT INTO users VALUES ('still here')")
    report = check_parity(PRIMARY.migrations, pg_url)
    assert report.differences == (), [d.describe() for d in report.differences]
    assert report.errors == ()
    assert report.ok
    names = {t.name for t in report.expected.tables}
    assert {
        "users",
        "academic_records",
        "assignments",
        "submissions",
        "chat_conversations",
    } <= names
    users = report.expected.table("users")
    assert users is not None and users.primary_key == ("id",)
    assert {c.name: c.type for c in users.columns}["created_at"] == "timestamp without time zone"
    assert _scratch_schemas(pg_url) == []
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT keep_me FROM public.users").fetchall() == [("still here",)]
    json.dumps(report.as_json())


def test_divergent_set_names_every_finding_and_missing_table(
    pg_url: str, mdirs: MigrationDirs
) -> None:
    d = mdirs
    d.add(
        "20250101_000100",
        "base",
        "CREATE TABLE people (id INTEGER PRIMARY KEY, email TEXT COLLATE NOCASE UNIQUE);\n"
        "CREATE TABLE ok (id INTEGER PRIMARY KEY, at DATETIME DEFAULT CURRENT_TIMESTAMP);",
    )
    d.add(
        "20250101_000200",
        "views",
        "CREATE VIEW old AS SELECT id FROM ok\n  WHERE typeof(at) = 'text';\n"
        "CREATE VIRTUAL TABLE docs USING fts5(body);",
    )
    mset = discover(d.migrations, d.rollback)
    report = check_parity(mset.migrations, pg_url)
    assert not report.ok
    got = {(f.file, f.line, f.construct) for f in report.errors}
    assert got == {
        ("20250101_000100_base.sql", 1, "COLLATE NOCASE"),
        ("20250101_000200_views.sql", 1, "typeof()"),
        ("20250101_000200_views.sql", 3, "CREATE VIRTUAL TABLE"),
    }
    diffs = {(x.table, x.aspect, x.item) for x in report.differences}
    # people was withheld; docs (virtual) is reported by its finding, and FTS5's shadow tables
    # (docs_data, docs_idx…) are no tables of the schema.
    assert ("people", "table", "") in diffs
    assert not any(t.startswith("docs") for t, _a, _i in diffs)
    assert not any(t == "ok" for t, _a, _i in diffs)
    assert _scratch_schemas(pg_url) == []


def _apply_translation(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for ft in translate_migrations(PRIMARY.migrations):
            for stmt in ft.postgres_statements:
                conn.execute(stmt)


def test_live_schema_without_drift(pg_url: str) -> None:
    _apply_translation(pg_url)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE analytics_only (id int)")  # not mirrored: ignored
    report = compare_live(PRIMARY.migrations, pg_url)
    assert report.ok, [d.describe() for d in report.differences]
    assert report.mode == "live"
    # A mirror `up` built that a sync also fills: the sync's refusal hint adds `synced_at`,
    # and every `parity --live` then failed on it. The sync's column of a table it keeps
    # (its malnu_sync row in that schema) is not drift; on another table it still is.
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE users ADD COLUMN synced_at timestamp")
        conn.execute("ALTER TABLE assignments ADD COLUMN synced_at timestamp")
        conn.execute("CREATE TABLE malnu_sync (table_name text PRIMARY KEY)")
        conn.execute("INSERT INTO malnu_sync VALUES ('users')")
    report = compare_live(PRIMARY.migrations, pg_url)
    assert {(d.table, d.item) for d in report.differences} == {("assignments", "synced_at")}


def test_live_drift_names_every_difference(pg_url: str) -> None:
    _apply_translation(pg_url)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        for stmt in (
            "ALTER TABLE users ALTER COLUMN name TYPE varchar(50)",
            "ALTER TABLE assignments ALTER COLUMN title DROP NOT NULL",
            "ALTER TABLE users ALTER COLUMN role SET DEFAULT 'teacher'",
            "DROP INDEX idx_users_name",
            "CREATE INDEX idx_extra ON submissions (content)",
            "ALTER TABLE submissions DROP CONSTRAINT submissions_assignment_id_student_id_key",
            "ALTER TABLE assignments DROP CONSTRAINT assignments_teacher_id_fkey",
            "ALTER TABLE academic_records DROP CONSTRAINT academic_records_grade_check",
            "ALTER TABLE academic_records DROP CONSTRAINT academic_records_pkey",
            "ALTER TABLE assignments ADD COLUMN extra integer",
            "ALTER TABLE users DROP COLUMN class_id",
            "ALTER TABLE chat_conversations RENAME TO chats",
        ):
            conn.execute(stmt)
    report = compare_live(PRIMARY.migrations, pg_url)
    got = {(x.table, x.aspect, x.item) for x in report.differences}
    assert got == {
        ("users", "type", "name"),
        ("assignments", "nullability", "title"),
        ("users", "default", "role"),
        ("users", "index", "idx_users_name"),
        ("submissions", "index", "idx_extra"),
        ("submissions", "unique", "assignment_id, student_id"),
        ("assignments", "foreign key", "teacher_id"),
        ("academic_records", "check", ""),
        ("academic_records", "primary key", ""),
        ("assignments", "column", "extra"),
        ("users", "column", "class_id"),
        ("users", "index", "idx_users_class"),  # dropped with its column
        ("chat_conversations", "table", ""),
    }, sorted(got)
    texts = [x.describe() for x in report.differences]
    assert any("character varying(50)" in t and "text" in t for t in texts)
    assert not report.ok


def test_translate_plan_marks_findings_and_diffs() -> None:
    plan = translate_plan(PRIMARY.migrations)
    assert [m.filename for m in plan] == [m.filename for m in PRIMARY.migrations]
    assert all(m.ok for m in plan)
    first = plan[0]
    assert "+  id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY," in first.diff
    assert "-BEGIN TRANSACTION;" in first.diff
    assert any(f.construct == "template statement" for f in first.findings)
    roles = PRIMARY.find("20251124_122000").filename
    only = translate_plan(PRIMARY.migrations, [roles])
    assert len(only) == 1 and "ADD COLUMN role TEXT" in only[0].postgres_sql
    json.dumps([m.as_json() for m in plan])


# -- CLI ---------------------------------------------------------------------------------------
def test_cli_parity_ok_and_json(pg_url: str, sqlite_url: str) -> None:
    res = run_cli("--database", sqlite_url, "parity", "--postgres", pg_url, "--json")
    assert res.code == 0, res.err
    data = json.loads(res.out)
    assert data["ok"] is True and data["reports"][0]["differences"] == []
    assert "0 differences" in res.err


def test_cli_parity_divergent_exits_1(pg_url: str, sqlite_url: str, mdirs: MigrationDirs) -> None:
    mdirs.add("20250101_000100", "nocase", "CREATE TABLE p (email TEXT COLLATE NOCASE);")
    res = run_cli("--database", sqlite_url, *mdirs.args(), "parity", "--postgres", pg_url)
    assert res.code == 1
    assert "COLLATE NOCASE" in res.out and "20250101_000100_nocase.sql:1" in res.out
    assert "no such table" in res.out


def test_cli_parity_live_against_postgres_target(pg_url: str) -> None:
    _apply_translation(pg_url)
    res = run_cli(
        "--database",
        pg_url,
        "--migrations-dir",
        str(REPO / "migrations"),
        "--rollback-dir",
        str(REPO / "rollback"),
        "parity",
        "--live",
        "--json",
    )
    assert res.code == 0, res.err
    modes = [r["mode"] for r in json.loads(res.out)["reports"]]
    assert modes == ["scratch", "live"]


def test_cli_parity_live_compares_the_schema_of_the_target_it_names(
    pg_url: str, sqlite_url: str, tmp_path: Path
) -> None:
    """README's reporting mirror (`schema = "reporting"`): `parity --postgres reporting --live`
    compared its tables in `public`, where they are not (every table "missing", exit 1). A
    schema that holds none of them is named, with a hint (it was not named at all)."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA reporting")
    with psycopg.connect(pg_url, autocommit=True, options="-c search_path=reporting") as conn:
        for ft in translate_migrations(PRIMARY.migrations):
            for stmt in ft.postgres_statements:
                conn.execute(stmt)
    cfg = tmp_path / "malnu.toml"
    cfg.write_text(
        f'[targets.primary]\nurl = "{sqlite_url}"\n'
        f'[targets.reporting]\nurl = "{pg_url}"\nschema = "reporting"\ndialect = "sqlite"\n'
    )
    base = ["--config", str(cfg), "--migrations-dir", str(REPO / "migrations")]
    base += ["--rollback-dir", str(REPO / "rollback")]
    for where in (
        ["--target", "primary", "parity", "--postgres", "reporting"],
        ["--target", "reporting", "parity"],
    ):
        res = run_cli(*base, *where, "--live", "--json")
        assert res.code == 0, res.out[-2000:] + res.err
        live = json.loads(res.out)["reports"][1]
        assert live["mode"] == "live" and live["differences"] == [], live
    res = run_cli(
        *base,
        "--target",
        "primary",
        "parity",
        "--postgres",
        "reporting",
        "--live",
        "--schema",
        "public",
    )
    assert res.code == 1 and "5 differences" in res.err, res.err  # the flag still names one
    # … and the report says which schema it read, with the way to the mirror's: the README's
    # `parity --postgres analytics --live` read the analytics set's `public`, five `no such
    # table`, and nothing said where it had looked.
    assert "differences (live schema public)" in res.out, res.out
    assert "hint: none of the 5 tables is in schema public there" in res.err, res.err
    assert "--schema NAME" in res.err


def test_cli_parity_needs_a_postgres_server(sqlite_url: str) -> None:
    res = run_cli("--database", sqlite_url, "parity")
    assert res.code == 2 and "PostgreSQL server" in res.err


def test_cli_plan_and_diff(sqlite_url: str, tmp_path: Path) -> None:
    res = run_cli("--database", sqlite_url, "plan", "--json")
    assert res.code == 0, res.err
    pending = [m["filename"] for m in json.loads(res.out)["migrations"]]
    assert pending == [m.filename for m in PRIMARY.migrations]
    assert (
        run_cli("--database", sqlite_url, "up", "--to", "20251124_122000", "--no-backup").code == 0
    )
    res = run_cli("--database", sqlite_url, "plan", "--json")
    pending = [m["filename"] for m in json.loads(res.out)["migrations"]]
    assert pending == [m.filename for m in PRIMARY.migrations if m.version > "20251124_122000"]
    res = run_cli("--database", sqlite_url, "diff")
    assert res.code == 0
    assert "+++ 20251124_122500_create_assignments_table.sql (PostgreSQL)" in res.out
    assert "+++ 20251124_120500" not in res.out
    res = run_cli("--database", sqlite_url, "plan", "20251124_120500")
    assert res.code == 0 and "BIGINT GENERATED BY DEFAULT AS IDENTITY" in res.out


@pytest.mark.parametrize("command", ["plan", "diff"])
def test_cli_plan_marks_untranslatable(command: str, sqlite_url: str, mdirs: MigrationDirs) -> None:
    mdirs.add(
        "20250101_000100",
        "x",
        "CREATE TABLE t (id INTEGER PRIMARY KEY);\nPRAGMA foo = 1;\nSELECT typeof(1);",
    )
    res = run_cli("--database", sqlite_url, *mdirs.args(), command, "--all")
    assert res.code == 0, res.err
    assert "typeof" in res.out and "NOT TRANSLATED" in res.out
    assert "1 untranslatable statements, 1 notes" in res.err


def test_rollbacks_are_run_and_compared_too(pg_url: str, mdirs: MigrationDirs) -> None:
    report = check_parity(PRIMARY.migrations, pg_url)
    assert report.rollbacks_checked and report.ok
    d = mdirs
    d.add(
        "20250101_000100", "base", "CREATE TABLE t (id INTEGER PRIMARY KEY);",
        "SELECT 1;",  # leaves t in place on purpose
    )  # fmt: skip
    d.add(
        "20250101_000200", "role",
        "ALTER TABLE t ADD COLUMN role TEXT;\nCREATE INDEX ix_t_role ON t (role);",
        # SQLite refuses to drop an indexed column; PostgreSQL drops it with its index.
        "ALTER TABLE t DROP COLUMN role;",
    )  # fmt: skip
    mset = discover(d.migrations, d.rollback)
    report = check_parity(mset.migrations, pg_url)
    assert report.rollbacks_checked and not report.ok
    got = {(x.table, x.aspect, x.item) for x in report.differences}
    assert got == {
        ("t", "after rollback: column", "role"),
        ("t", "after rollback: index", "ix_t_role"),
    }
    assert any(
        f.file == "20250101_000200_undo_role.sql" and f.construct == "SQLite rejected"
        for f in report.errors
    )


def test_plan_check_runs_every_statement_and_reports_rejections(
    pg_url: str, sqlite_url: str, mdirs: MigrationDirs
) -> None:
    mdirs.add(
        "20250101_000100",
        "base",
        """
        CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL);
        CREATE VIRTUAL TABLE users_fts USING fts5(email);
        INSERT INTO users_fts (email) VALUES ('a@x');
        """,
    )
    # SQLite compares TEXT with an integer happily; PostgreSQL has no text = integer operator.
    mdirs.add(
        "20250101_000200",
        "status",
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, status TEXT CHECK (status IN (1, 2)));\n"
        "CREATE INDEX ix_orders_status ON orders (status);",
    )
    base = ["--database", sqlite_url, *mdirs.args()]
    res = run_cli(*base, "plan", "--all", "--json")
    assert res.code == 0, res.err
    data = json.loads(res.out)
    assert data["checked"] is False
    statuses = [p["status"] for m in data["migrations"] for p in m["statements"]]
    assert "ok" not in statuses and "unchecked" in statuses  # ok means checked

    res = run_cli(*base, "plan", "--all", "--check", "--postgres", pg_url, "--json")
    assert res.code == 1, res.err
    data = json.loads(res.out)
    by_line = {
        (m["filename"], p["line"]): (p["status"], p["findings"])
        for m in data["migrations"]
        for p in m["statements"]
    }
    first, second = (m["filename"] for m in data["migrations"])
    assert by_line[(first, 1)][0] == "ok"
    # The withheld virtual table names the statement that depends on it.
    status, findings = by_line[(first, 2)]
    assert status == "withheld" and f"{first}:3" in findings[0]["why"]
    assert by_line[(first, 3)][0] == "withheld"
    status, findings = by_line[(second, 1)]
    assert status == "rejected"
    assert findings[-1]["construct"] == "PostgreSQL rejected"
    assert "operator does not exist: text = integer" in findings[-1]["why"]
    status, findings = by_line[(second, 2)]
    assert status == "rejected" and f"{second}:1" in findings[-1]["why"]
    assert "1 rejected" not in res.err and "2 rejected" in res.err
    assert _scratch_schemas(pg_url) == []

    res = run_cli(*base, "diff", "--all", "--check", "--postgres", pg_url)
    assert res.code == 1 and "REJECTED" in res.out


def test_plan_check_runs_a_postgresql_dialect_set_as_written(pg_url: str, tmp_path: Path) -> None:
    cfg = tmp_path / "malnu.toml"
    cfg.write_text(
        "[targets.analytics]\n"
        f'url = "{pg_url}"\n'
        f'migrations_dir = "{REPO / "migrations-analytics"}"\n'
        f'rollback_dir = "{REPO / "rollback-analytics"}"\n'
        'dialect = "postgresql"\n'
    )
    res = run_cli("--config", str(cfg), "plan", "--check", "--json")
    assert res.code == 0, res.err
    data = json.loads(res.out)
    statuses = {p["status"] for m in data["migrations"] for p in m["statements"]}
    assert statuses == {"ok"} and all(m["checked"] for m in data["migrations"])
    assert "0 rejected" in res.err
    assert _scratch_schemas(pg_url) == []
    with psycopg.connect(pg_url) as conn:  # nothing was created for real
        assert conn.execute("SELECT to_regclass('public.analytics_events')").fetchone() == (None,)
