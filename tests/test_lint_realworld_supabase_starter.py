"""A Supabase project's set written for this project, ``supabase_starter_like``
(tests/realworld/README.md: two migrations as the Supabase CLI keeps them: a school portal's
``public.users`` beside Auth's ``auth.users``, keys to ``auth.users``, a SECURITY DEFINER
trigger on it with ``set search_path``, enums, policies, a publication dropped and made again;
then a `supabase db diff`-shaped file that drops two columns and re-adds the keys NOT VALID and
validates them at once), put through what an operator runs in that project: ``lint --all``
with no config, and in the folder itself with no flags; ``up``/``status``, a backup and its
restore, and a ``sync`` of the portal's tables into SQLite, on a Supabase-shaped PostgreSQL
database. Every finding pinned."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import psycopg
import pytest

from malnu_tui.engine.files import discover
from malnu_tui.engine.lint.core import lint_migrations
from tests.fixtures_core import MigrationDirs, run_cli
from tests.fixtures_pg import PgCluster, create_database, drop_database
from tests.test_supabase_backup import SUPABASE_PLATFORM, supabase_platform

SET = Path(__file__).parent / "realworld" / "supabase_starter_like" / "supabase"
INIT, UPDATE = "20240301000000", "20240415000000"

# (rule, version, line, severity) of `lint --all` with no config, in its order.
LINT_ALL = [
    ("NO-ROLLBACK", INIT, 4, "error"),
    # `create table users (id uuid references auth.users …)`: a key to Auth's table locks it
    # (SHARE ROW EXCLUSIVE) until the migration commits: every sign-up waits. It was missed:
    # the file makes a `users` of its own, and Auth's was taken for it ("made here").
    ("PG-LOCK-TIMEOUT", INIT, 4, "warning"),
    # `drop publication if exists supabase_realtime`: on a live project it takes realtime away
    # from every table that was in it (the create after it names two).
    ("SUPABASE-REALTIME-REPLACED", INIT, 90, "warning"),
    ("NO-ROLLBACK", UPDATE, 1, "error"),
    ("PG-LOCK-TIMEOUT", UPDATE, 1, "warning"),
    ("DROP-COLUMN", UPDATE, 9, "error"),
    ("DROP-COLUMN", UPDATE, 11, "error"),
    ("PG-VALIDATE-IN-SAME-MIGRATION", UPDATE, 15, "warning"),
    ("PG-VALIDATE-IN-SAME-MIGRATION", UPDATE, 19, "warning"),
    ("PG-VALIDATE-IN-SAME-MIGRATION", UPDATE, 23, "warning"),
    ("PG-VALIDATE-IN-SAME-MIGRATION", UPDATE, 27, "warning"),
]


def _project(tmp_path: Path) -> Path:
    root = tmp_path / "school-portal"
    shutil.copytree(SET, root / "supabase")
    (root / "supabase" / "rollback").mkdir()
    return root


DIRS = ["--migrations-dir", "supabase/migrations", "--rollback-dir", "supabase/rollback"]


def test_lint_sees_auth_users_apart_from_public_users(tmp_path: Path, pg_url: str) -> None:
    """`lint --all` in the project, no config. Then, on a real database with Auth's table in
    use (a sign-up's transaction open), the first statement waits for its lock: the
    PG-LOCK-TIMEOUT finding at line 4 is true. And a trigger on ``auth.users`` in a file
    that makes a ``users`` is named as Auth's (it read "CREATE TRIGGER on users", and was
    not said at all)."""
    root = _project(tmp_path)
    res = run_cli(*DIRS, "lint", "--all", "--json", cwd=root)
    assert res.code == 1, res.err
    report = json.loads(res.out)
    assert report["dialect"] == "postgresql" and "supabase" in report["rule_sets"]
    got = [(f["rule"], f["file"][:14], f["line"], f["severity"]) for f in report["findings"]]
    assert got == LINT_ALL
    why = {(f["rule"], f["file"][:14]): f["why"] for f in report["findings"]}
    assert why[("PG-LOCK-TIMEOUT", INIT)].startswith(
        "CREATE TABLE users … REFERENCES auth.users (SHARE ROW EXCLUSIVE on it"
    )
    trigger = root / "supabase" / "migrations" / "20240310000000_trigger.sql"
    trigger.write_text(
        "create table users (id uuid primary key);\nalter table users enable row level "
        "security;\ncreate trigger on_signup after insert on auth.users\n  for each row "
        "execute procedure public.handle_new_user();\n",
        encoding="utf-8",
    )
    res = run_cli(*DIRS, "lint", "--json", "--all", cwd=root)
    lock = [
        (f["line"], f["why"])
        for f in json.loads(res.out)["findings"]
        if f["file"].startswith("20240310") and f["rule"] == "PG-LOCK-TIMEOUT"
    ]
    assert [line for line, _ in lock] == [3]
    assert lock[0][1].startswith("CREATE TRIGGER on auth.users (SHARE ROW EXCLUSIVE")
    # What PostgreSQL does with line 4 while a sign-up is being written.
    with psycopg.connect(pg_url, autocommit=True) as signup, psycopg.connect(pg_url) as mig:
        signup.execute("CREATE SCHEMA auth; CREATE TABLE auth.users (id uuid PRIMARY KEY)")
        signup.execute("BEGIN; INSERT INTO auth.users VALUES (gen_random_uuid())")
        mig.execute("SET lock_timeout = '200ms'")
        with pytest.raises(psycopg.errors.LockNotAvailable):
            mig.execute(
                "create table users (id uuid references auth.users on delete cascade not null "
                "primary key, full_name text, photo_url text)"
            )


def test_a_table_made_under_a_search_path_is_the_migrations_own_there(
    mdirs: MigrationDirs,
) -> None:
    """The schema a table is made in, for telling it apart from another schema's: after `SET
    search_path TO app`, ``CREATE TABLE users`` is ``app.users`` (an index on it locks nobody's
    table), while a trigger on ``auth.users`` waits for Auth's."""
    mdirs.add(
        "20240101_000000",
        "app",
        "SET search_path TO app, public;\nCREATE TABLE users (id int PRIMARY KEY);\n"
        "CREATE INDEX users_id ON app.users (id);\n"
        "CREATE TRIGGER t AFTER INSERT ON auth.users FOR EACH ROW EXECUTE FUNCTION f();",
        "SELECT 1;",
    )
    mset = discover(mdirs.migrations, mdirs.rollback, "postgresql")
    report = lint_migrations(mset, dialect="postgresql")
    locks = [f.line for f in report.findings if f.rule == "PG-LOCK-TIMEOUT"]
    assert locks == [4]  # not the index on app.users (line 3): the file made it


def test_a_search_path_of_user_first_or_default_makes_the_table_in_public(
    mdirs: MigrationDirs,
) -> None:
    """``SET search_path = "$user", public`` (PostgreSQL's and Supabase's default, written out)
    makes an unqualified table in public (no schema is named as the role), as ``SET
    search_path TO DEFAULT`` and ``RESET search_path`` do: the table was taken as made in a
    schema "$user" (or "default"), so the file's own ``ALTER TABLE public.users`` was warned
    of as a lock on a table the app's queries use."""
    for i, path in enumerate(('"$user", public', "DEFAULT", "app;\nRESET search_path")):
        mdirs.add(
            f"2024010{i + 1}_000000",
            f"user{i}",
            f"SET search_path TO {path};\nCREATE TABLE users{i} (id int PRIMARY KEY);\n"
            f"ALTER TABLE public.users{i} ADD COLUMN nama text;",
            f"DROP TABLE users{i};",
        )
    mset = discover(mdirs.migrations, mdirs.rollback, "postgresql")
    report = lint_migrations(mset, dialect="postgresql")
    locks = [(f.file, f.line) for f in report.findings if f.rule == "PG-LOCK-TIMEOUT"]
    assert [lock for lock in locks if "undo" not in lock[0]] == [], locks  # (a rollback's DROP)


def test_in_the_project_with_no_flags_the_bundled_set_is_refused(tmp_path: Path) -> None:
    """The operator cds into the Supabase project and runs `malnu-tui lint --all` (CI did the
    same): with no ./migrations the bundled set stood in, the school's seven files were
    judged, "0 error(s)", exit 0, whatever the project's two dropped columns. Now exit 2,
    naming the folder's set; `status` too (it listed the school's tables as pending)."""
    root = _project(tmp_path)
    for command in (["lint", "--all"], ["status"]):
        res = run_cli(*command, cwd=root)
        assert res.code == 2, (command, res.out, res.err)
        assert "no ./migrations here, but ./supabase/migrations is" in res.err, res.err
        assert "--migrations-dir supabase/migrations" in res.err and res.out == ""
    (root / "migrations").mkdir()  # a set of its own beside: that one, as before
    assert run_cli("status", cwd=root).code == 0


def test_up_status_backup_restore_and_sync_on_a_supabase_database(
    tmp_path: Path, pg_cluster: PgCluster
) -> None:
    """On a Supabase-shaped database (Auth's schema, roles, extensions): `up` of both files,
    a sign-up that the trigger copies into public.users, a course, its fee, an enrolment; a
    backup, a lost row brought back by its restore; the tables synced into SQLite (enums as
    text, jsonb, uuid)."""
    root = _project(tmp_path)
    name = create_database(pg_cluster)
    url = pg_cluster.url(name)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            supabase_platform(conn, SUPABASE_PLATFORM)
            conn.execute("ALTER TABLE auth.users ADD COLUMN raw_user_meta_data jsonb")
        base = ["--database", url, *DIRS]
        res = run_cli(*base, "up", "--no-backup", cwd=root)
        assert res.code == 0 and "applied 2 migration(s)" in res.err, res.err
        status = json.loads(run_cli(*base, "status", "--json", cwd=root).out)
        assert [m["state"] for m in status["migrations"]] == ["applied", "applied"]
        uid = "00000000-0000-0000-0000-00000000000a"
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO auth.users (id, email, raw_user_meta_data) VALUES "
                f"('{uid}', 'ani@x', '{{\"full_name\": \"Ani\"}}');"
                "INSERT INTO courses VALUES ('c_piano', true, 'Piano', 'Weekly', null, "
                "'{\"room\": 4}');"
                "INSERT INTO fees (id, course_id, active, amount, currency, kind, period, "
                "period_count) VALUES ('f_1', 'c_piano', true, 150000, 'idr', 'per_term', "
                "'term', 1);"
                "INSERT INTO enrolments (id, user_id, status, fee_id, seats, metadata) "
                f"VALUES ('e_1', '{uid}', 'active', 'f_1', 1, '{{\"a\": [1, 2]}}')"
            )
            assert conn.execute("SELECT full_name FROM users").fetchall() == [("Ani",)]
        config = root / "malnu.toml"
        config.write_text(
            f'[targets.supa]\nurl = "{url}"\nmigrations_dir = "supabase/migrations"\n'
            'rollback_dir = "supabase/rollback"\n\n'
            f'[targets.copy]\nurl = "sqlite:///{tmp_path / "copy.db"}"\n\n'
            f'[backup]\ndir = "{tmp_path / "backups"}"\n\n'
            '[sync.salin]\nfrom = "supa"\nto = "copy"\n'
            'tables = ["users", "courses", "fees", "enrolments"]\n',
            encoding="utf-8",
        )
        cfg = ["--config", str(config)]
        res = run_cli(*cfg, "--target", "supa", "backup", "create", cwd=root)
        assert res.code == 0, res.err
        backup = json.loads(run_cli(*cfg, "--target", "supa", "backup", "list", "--json").out)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("DELETE FROM enrolments")
        res = run_cli(*cfg, "--target", "supa", "backup", "restore", backup[0]["id"], "--yes")
        assert res.code == 0, res.err
        with psycopg.connect(url, autocommit=True) as conn:
            assert conn.execute("SELECT id FROM enrolments").fetchall() == [("e_1",)]
            policies = conn.execute("SELECT count(*) FROM pg_policies WHERE schemaname = 'public'")
            assert policies.fetchall() == [(13,)]
        res = run_cli(*cfg, "sync", "salin", "--yes", cwd=root)
        assert res.code == 0 and "4 table(s) synced and verified" in res.err, res.err
        copy = sqlite3.connect(tmp_path / "copy.db")
        try:
            got = copy.execute("SELECT id, user_id, status, metadata FROM enrolments")
            assert got.fetchall() == [("e_1", uid, "active", '{"a": [1, 2]}')]
            assert copy.execute("SELECT kind, period FROM fees").fetchall() == [
                ("per_term", "term")
            ]
        finally:
            copy.close()
    finally:
        drop_database(pg_cluster, name)


def test_the_folder_s_set_is_named_so_that_it_can_be_pasted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A wrangler project whose ``migrations_dir`` has a space (``db migrations``): the hint
    said ``--migrations-dir db migrations``, which pasted gave the CLI a stray argument."""
    import shlex

    from malnu_tui.engine.config import BUNDLED_PRIMARY, Target, check_own_set
    from malnu_tui.engine.errors import ConfigError

    (tmp_path / "db migrations").mkdir()
    (tmp_path / "wrangler.toml").write_text(
        '[[d1_databases]]\nbinding = "DB"\ndatabase_id = "x"\nmigrations_dir = "db migrations"\n'
    )
    monkeypatch.chdir(tmp_path)
    bundled = Target("t", "sqlite:///x.db", BUNDLED_PRIMARY / "migrations", tmp_path, tmp_path)
    with pytest.raises(ConfigError) as refused:
        check_own_set(bundled)
    words = shlex.split((refused.value.hint or "").split(": ", 1)[1].split(" (or")[0])
    assert words == ["--migrations-dir", "db migrations", "--rollback-dir", "rollback"], words
