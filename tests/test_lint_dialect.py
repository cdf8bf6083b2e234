"""Which dialect ``lint`` judges a set by, and that it says so: a PostgreSQL set (Supabase's)
linted with no config met SQLite's rules (SQLITE-CONCURRENTLY, SQLITE-ALTER-UNSUPPORTED), so
``lint --all`` failed CI for good, without a word of the dialect it judged by."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from tests.fixtures_core import MigrationDirs, run_cli

PG_SET = [
    ("20260101120000_init", """
        create table public.students (
          id serial primary key,
          name text not null,
          created_at timestamptz not null default now()
        );
        alter table public.students enable row level security;
        create or replace function public.touch() returns trigger language plpgsql as $$
        begin
          new.created_at := now();
          return new;
        end;
        $$;""", "drop function public.touch();\ndrop table public.students;"),
    ("20260102120000_idx",
     "create index concurrently if not exists students_name_idx on public.students (name);",
     "drop index concurrently if exists public.students_name_idx;"),
    ("20260103120000_type",
     "set lock_timeout = '5s';\nalter table public.students alter column name type text;",
     "alter table public.students alter column name type text;"),
]  # fmt: skip


def _write(migrations: Path, rollback: Path, files: list[tuple[str, str, str]]) -> None:
    migrations.mkdir(parents=True)
    rollback.mkdir(parents=True)
    for name, sql, undo in files:
        (migrations / f"{name}.sql").write_text(textwrap.dedent(sql).strip() + "\n")
        (rollback / f"{name}.sql").write_text(undo + "\n")


def _lint(cwd: Path, *args: str) -> tuple[int, dict[str, object], str]:
    res = run_cli("lint", "--all", "--json", *args, cwd=cwd)
    assert res.code in (0, 1), res.err
    return res.code, json.loads(res.out), res.err


def _rules(report: dict[str, object]) -> set[str]:
    findings = report["findings"]
    assert isinstance(findings, list)
    return {str(f["rule"]) for f in findings}


def test_lint_with_no_target_guesses_a_postgresql_set_and_says_the_dialect(
    tmp_path: Path,
) -> None:
    sb = tmp_path / "app"
    mig, rb = sb / "supabase" / "migrations", sb / "supabase" / "rollback"
    _write(mig, rb, PG_SET)
    dirs = ["--migrations-dir", str(mig), "--rollback-dir", str(rb)]
    # Supabase's folder: PostgreSQL's rules, none of SQLite's; said on stderr and in JSON.
    code, report, err = _lint(sb, *dirs)
    assert code == 0, report
    assert report["dialect"] == "postgresql"
    assert "supabase/migrations" in str(report["dialect_from"])
    assert not {r for r in _rules(report) if r.startswith("SQLITE-")}
    assert "lint: judged in PostgreSQL's dialect (guessed from the folder supabase/" in err
    # The pending ones (the embedded database, nothing applied) are judged the same way.
    res = run_cli(*dirs, "lint", cwd=sb)
    assert res.code == 0, res.out + res.err
    assert "judged in PostgreSQL's dialect" in res.err

    # The same files in ./migrations: guessed from the files, naming the first clue.
    plain = MigrationDirs(tmp_path / "plain")
    _write(plain.migrations, plain.rollback, PG_SET)
    code, report, err = _lint(plain.root, *plain.args())
    assert (code, report["dialect"]) == (0, "postgresql"), report
    assert "20260101120000_init.sql:2: SERIAL" in str(report["dialect_from"])

    # Said otherwise, it is judged otherwise: --dialect, or a target that names SQLite.
    code, report, err = _lint(plain.root, *plain.args(), "--dialect", "sqlite")
    assert code == 1
    assert {"SQLITE-CONCURRENTLY", "SQLITE-ALTER-UNSUPPORTED"} <= _rules(report)
    assert "judged in SQLite's dialect (--dialect sqlite)" in err
    db = f"sqlite:///{tmp_path / 'app.db'}"
    code, report, err = _lint(plain.root, "--database", db, *plain.args())
    assert (code, report["dialect"]) == (1, "sqlite")
    assert "judged in SQLite's dialect (target " in err

    # A SQLite set with a CONCURRENTLY copied from a PostgreSQL guide stays SQLite's: the
    # error that says so stands, and the line names both clues.
    lite = MigrationDirs(tmp_path / "lite")
    lite.add("20260101_000100", "t", "CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, "
             "n TEXT);", "DROP TABLE t;")  # fmt: skip
    lite.add("20260101_000200", "i", "CREATE INDEX CONCURRENTLY t_n ON t (n);", "DROP INDEX t_n;")
    code, report, err = _lint(lite.root, *lite.args())
    assert (code, report["dialect"]) == (1, "sqlite")
    assert "SQLITE-CONCURRENTLY" in _rules(report)
    assert "CONCURRENTLY and 20260101_000100_t.sql:1: AUTOINCREMENT" in err


def test_the_stairway_of_a_postgresql_set_with_no_target(tmp_path: Path, pg_url: str) -> None:
    """``test`` judged such a set as SQLite's too: on a temp SQLite file it failed at the
    first line (``unknown database public``), and with ``--postgres`` (README's CI step) it
    translated PostgreSQL's SQL as if it were SQLite's (``untranslatable``): CI failed for
    good. It now runs the files as written there, saying the dialect; on SQLite it refuses."""
    sb = tmp_path / "app"
    mig, rb = sb / "supabase" / "migrations", sb / "supabase" / "rollback"
    _write(mig, rb, PG_SET)
    dirs = ["--migrations-dir", str(mig), "--rollback-dir", str(rb)]
    res = run_cli("test", *dirs, cwd=sb)
    assert res.code == 2, res.out + res.err
    assert "error: the stairway of these files, judged in PostgreSQL's dialect" in res.err
    assert "hint: name a scratch server: --postgres" in res.err
    res = run_cli("test", *dirs, "--postgres", pg_url, "--json", cwd=sb)
    assert res.code == 0, res.out + res.err
    assert [s["ok"] for s in json.loads(res.out)["steps"]] == [True, True, True]
    assert "judged in PostgreSQL's dialect (guessed from the folder" in res.err
