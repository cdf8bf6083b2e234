"""The stairway test: the school's own migrations pass on SQLite and PostgreSQL; broken
rollbacks (one forgets an index, one drops too much) and a migration that cannot be re-applied
are caught and named; seed data runs so data migrations are exercised."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg

from tests.fixtures_core import REPO, MigrationDirs, run_cli
from tests.fixtures_matrix import DbTarget

SCHOOL = ["--migrations-dir", str(REPO / "migrations"), "--rollback-dir", str(REPO / "rollback")]
ANALYTICS = [
    "--migrations-dir",
    str(REPO / "migrations-analytics"),
    "--rollback-dir",
    str(REPO / "rollback-analytics"),
]


def test_school_migrations_climb_the_stairs_on_sqlite(sqlite_url: str) -> None:
    res = run_cli("--database", sqlite_url, *SCHOOL, "test", "--json")
    assert res.code == 0, res.err
    data = json.loads(res.out)
    assert data["ok"] is True and "scratch SQLite file" in data["where"]
    assert [s["stage"] for s in data["steps"]] == ["ok"] * 7


def test_the_stairway_server_is_chosen_by_postgres_only(sqlite_url: str) -> None:
    # $MALNU_PARITY_DATABASE picks plan --check's server, not the stairway's: a SQLite target's
    # stairway stays on SQLite (an unreachable server there would fail the run) …
    bad_server = {"MALNU_PARITY_DATABASE": "postgresql://nobody@127.0.0.1:1/none"}
    res = run_cli("--database", sqlite_url, *SCHOOL, "test", "--json", env=bad_server)
    assert res.code == 0, res.err
    assert "scratch SQLite file" in json.loads(res.out)["where"]
    # … and a --postgres that is not PostgreSQL is a usage error naming the option.
    res = run_cli("--database", sqlite_url, *SCHOOL, "test", "--postgres", sqlite_url)
    assert res.code == 2
    assert "error: --postgres must be a postgresql:// URL or a PostgreSQL target\n" in res.err
    # An unreachable one is exit 1, as every command's `cannot connect` (README "In CI" said 2).
    unreachable = bad_server["MALNU_PARITY_DATABASE"]
    res = run_cli("--database", sqlite_url, *SCHOOL, "test", "--postgres", unreachable, "--json")
    assert res.code == 1 and res.out == "", res.out
    assert "error: cannot connect to postgresql://nobody@127.0.0.1:1/none" in res.err, res.err
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "not be reached: `error: cannot connect to …`, as for every command" in readme
    # A name that is neither a target nor a URL, from the variable: the variable is named (it
    # was "unsupported database URL 'analitik'", leaving the operator to guess where from).
    res = run_cli(
        "--database", sqlite_url, *SCHOOL, "plan", "--check",
        env={"MALNU_PARITY_DATABASE": "analitik"},
    )  # fmt: skip
    assert res.code == 2
    assert "error: $MALNU_PARITY_DATABASE must be a postgresql:// URL" in res.err, res.err
    assert "it is 'analitik'" in res.err


def test_school_migrations_climb_the_stairs_on_postgresql(pg_url: str, sqlite_url: str) -> None:
    # The primary's SQLite-dialect set, translated, in a scratch schema on --postgres …
    res = run_cli("--database", sqlite_url, *SCHOOL, "test", "--postgres", pg_url, "--json")
    assert res.code == 0, res.err
    data = json.loads(res.out)
    assert data["ok"] is True and "scratch schema malnu_stairway_" in data["where"]
    assert len(data["steps"]) == 7
    # … and the analytics set, written for PostgreSQL, on its own target's server.
    res = run_cli("--database", pg_url, *ANALYTICS, "test", "--json")
    assert res.code == 0, res.err
    assert [s["stage"] for s in json.loads(res.out)["steps"]] == ["ok"] * 4
    with psycopg.connect(pg_url) as conn:
        left = conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'malnu_stairway%'"
        ).fetchall()
    assert left == [], "the scratch schemas are dropped"


def _broken_set(d: MigrationDirs) -> None:
    d.add("20250101_000100", "users",
          "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL, name TEXT);",
          "DROP TABLE users;")  # fmt: skip
    d.add(
        "20250101_000200",
        "indexes",
        "CREATE INDEX idx_users_email ON users(email);\n"
        "CREATE INDEX idx_users_name ON users(name);",
        "DROP INDEX idx_users_email;",  # forgets idx_users_name
    )


def test_a_rollback_that_forgets_an_index_is_named(
    db_target: DbTarget, mdirs: MigrationDirs
) -> None:
    _broken_set(mdirs)
    res = db_target.cli(mdirs, "test", "--json")
    assert res.code == 1
    steps = json.loads(res.out)["steps"]
    assert [s["stage"] for s in steps] == ["ok", "reapply"]
    bad = steps[1]
    assert bad["file"] == "20250101_000200_indexes.sql" and bad["line"] == 2
    assert "idx_users_name" in bad["statement"]
    assert [(d["object"], d["change"]) for d in bad["differences"]] == [
        ("index idx_users_name", "left behind")
    ]


def test_a_rollback_that_drops_too_much_is_named(sqlite_url: str, mdirs: MigrationDirs) -> None:
    _broken_set(mdirs)
    (mdirs.rollback / "20250101_000200_undo_indexes.sql").write_text(
        "DROP INDEX idx_users_email;\nDROP INDEX idx_users_name;\n"
        "DROP TABLE tags;\n"  # too much: an earlier migration's table
        "ALTER TABLE users DROP COLUMN email;\n"  # too much: the migration did not add it
        "ALTER TABLE users ADD COLUMN email TEXT;\n"  # … and back, but nullable now
    )
    (mdirs.migrations / "20250101_000100_users.sql").write_text(
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL, name TEXT);\n"
        "CREATE TABLE tags (id INTEGER PRIMARY KEY);\n"
    )
    (mdirs.rollback / "20250101_000100_undo_users.sql").write_text(
        "DROP TABLE tags;\nDROP TABLE users;"
    )
    mdirs.add("20250101_000300", "later", "CREATE TABLE notes (id INTEGER);", "DROP TABLE notes;")
    res = run_cli("--database", sqlite_url, *mdirs.args(), "test")
    assert res.code == 1
    assert "✘ 20250101_000200_indexes.sql: compare: 20250101_000200_undo_indexes.sql does not " \
           "restore the schema: 3 object(s) differ" in res.out  # fmt: skip
    assert "table tags lost" in res.out
    assert "column users.email changed: TEXT NOT NULL → TEXT" in res.out
    assert "✔ 20250101_000300_later.sql" in res.out, "a compare failure does not stop the climb"


def test_seed_data_exercises_data_migrations(sqlite_url: str, mdirs: MigrationDirs) -> None:
    mdirs.add("20250101_000100", "users", "CREATE TABLE users (id INTEGER PRIMARY KEY, "
              "email TEXT);", "DROP TABLE users;")  # fmt: skip
    mdirs.add(
        "20250101_000200",
        "unique_email",
        "CREATE UNIQUE INDEX u_email ON users(email);",
        "DROP INDEX u_email;",
    )
    seed = mdirs.root / "seed.sql"
    seed.write_text("INSERT INTO users (email) VALUES ('a@x'), ('a@x');\n")
    base = ["--database", sqlite_url, *mdirs.args(), "test", "--json"]
    assert run_cli(*base).code == 0, "no data: the unique index builds"
    res = run_cli(*base, "--seed", str(seed))
    assert res.code == 1
    bad = json.loads(res.out)["steps"][1]
    assert bad["stage"] == "apply" and "UNIQUE constraint failed" in bad["message"]
    assert bad["line"] == 1 and bad["file"] == "20250101_000200_unique_email.sql"


def test_a_d1_target_climbs_on_a_local_sqlite_copy(mdirs: MigrationDirs) -> None:
    """No request reaches D1: the stairway runs on a temp SQLite file (foreign keys on)."""
    mdirs.add("20250101_000100", "users", "CREATE TABLE users (id INTEGER PRIMARY KEY);",
              "DROP TABLE users;")  # fmt: skip
    mdirs.add(
        "20250101_000200",
        "grades",
        "CREATE TABLE grades (id INTEGER, user_id INTEGER REFERENCES users(id));\n"
        "INSERT INTO users (id) VALUES (1);\nINSERT INTO grades VALUES (1, 1);",
        "DROP TABLE users;",  # wrong table: foreign keys on, so this fails as on D1
    )
    url = "d1://0123456789abcdef0123456789abcdef/00000000-0000-0000-0000-000000000000"
    res = run_cli("--database", url, *mdirs.args(), "test", "--json",
                  env={"MALNU_D1_API_BASE": "http://127.0.0.1:9"})  # fmt: skip
    assert res.code == 1, res.err
    data = json.loads(res.out)
    assert "scratch SQLite file" in data["where"]
    bad = data["steps"][1]
    assert bad["stage"] == "rollback" and bad["file"] == "20250101_000200_undo_grades.sql"
    assert bad["line"] == 1 and "FOREIGN KEY constraint failed" in bad["message"]


def test_a_d1_stairway_runs_a_rebuild_as_d1_does(mdirs: MigrationDirs, tmp_path: Path) -> None:
    """D1 ignores PRAGMA foreign_keys = OFF: a rebuild of a parent whose seeded children hold
    rows fails there at its DROP TABLE, so on a D1 target's stairway too; a SQLite file honours
    the pragma."""
    from tests.test_rehearse import DRIZZLE_POSTS, DRIZZLE_REBUILD, DRIZZLE_UNDO

    mdirs.add("20250101_000100", "users",
              "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL, role TEXT);",
              "DROP TABLE users;")  # fmt: skip
    mdirs.add("20250101_000200", "posts", DRIZZLE_POSTS, "DROP TABLE `posts`;")
    mdirs.add("20250101_000300", "role_not_null", DRIZZLE_REBUILD, DRIZZLE_UNDO)
    seed = tmp_path / "seed.sql"
    seed.write_text("INSERT INTO users (id, email) VALUES (1, 'a@x');\n")
    d1 = "d1://0123456789abcdef0123456789abcdef/00000000-0000-0000-0000-000000000000"
    res = run_cli("--database", d1, *mdirs.args(), "test", "--seed", str(seed), "--json",
                  env={"MALNU_D1_API_BASE": "http://127.0.0.1:9"})  # fmt: skip
    assert res.code == 1, res.out
    bad = json.loads(res.out)["steps"][2]
    assert (bad["stage"], bad["line"]) == ("apply", 7), bad
    assert "FOREIGN KEY constraint failed" in bad["message"]
    res = run_cli("--database", f"sqlite:///{tmp_path / 'a.db'}", *mdirs.args(), "test",
                  "--seed", str(seed))  # fmt: skip
    assert res.code == 0, res.out + res.err


def test_a_rebuild_undone_by_a_rebuild_is_the_same_table(
    sqlite_url: str, mdirs: MigrationDirs
) -> None:
    """SQLite's `ALTER TABLE new_t RENAME TO t` writes the name back as "t": a table created
    as t, `t` (drizzle-kit) or [t] and rebuilt by its migration and by its rollback was
    "changed: CREATE TABLE t (…) → CREATE TABLE "t" (…)", and the stair failed."""
    rebuild = (
        "PRAGMA foreign_keys=OFF;\nCREATE TABLE new_{t} (id INTEGER PRIMARY KEY, {cols});\n"
        "INSERT INTO new_{t} (id, name) SELECT id, name FROM {t};\nDROP TABLE {t};\n"
        "ALTER TABLE new_{t} RENAME TO {t};\nPRAGMA foreign_keys=ON;"
    )
    for i, spelt in enumerate(("users", "`guru`", "[kelas]")):
        t = spelt.strip("`[]")
        v = f"20250101_0001{i}0"
        mdirs.add(v, f"{t}", f"CREATE TABLE {spelt} (id INTEGER PRIMARY KEY, name TEXT);",
                  f"DROP TABLE {t};")  # fmt: skip
        mdirs.add(v[:-1] + "5", f"{t}_email",
                  rebuild.format(t=t, cols="name TEXT, email TEXT"),
                  rebuild.format(t=t, cols="name TEXT"))  # fmt: skip
    res = run_cli("--database", sqlite_url, *mdirs.args(), "test")
    assert res.code == 0, res.out
    assert res.out.count("✔") == 6


def test_a_check_made_at_commit_fails_the_stair_at_the_files_end(
    sqlite_url: str, mdirs: MigrationDirs, tmp_path: Path
) -> None:
    """A rebuild under PRAGMA defer_foreign_keys = on without `= off` after it fails at the
    COMMIT (SQLite counted the orphaned child rows): the stairway stopped on a traceback,
    sqlite3.IntegrityError; `up` names the file's last line, "(at COMMIT)", and so does it."""
    from tests.test_lint import PRISMA_REBUILD

    mdirs.add("20250101_000100", "users", "CREATE TABLE users (id INTEGER PRIMARY KEY);\n"
              "CREATE TABLE grades (id INTEGER, user_id INTEGER REFERENCES users(id));",
              "DROP TABLE grades;\nDROP TABLE users;")  # fmt: skip
    no_off = PRISMA_REBUILD.replace("PRAGMA defer_foreign_keys=OFF;\n", "").replace(
        "PRAGMA foreign_keys=OFF;\n", ""
    )
    mdirs.add("20250101_000200", "name", no_off, "SELECT 1;")
    seed = tmp_path / "seed.sql"
    seed.write_text("INSERT INTO users VALUES (1);\nINSERT INTO grades VALUES (1, 1);\n")
    res = run_cli("--database", sqlite_url, *mdirs.args(), "test", "--seed", str(seed), "--json")
    assert res.code == 1, res.err
    bad = json.loads(res.out)["steps"][1]
    assert (bad["stage"], bad["line"], bad["statement"]) == ("apply", 7, "COMMIT"), bad
    assert bad["message"] == "FOREIGN KEY constraint failed (at COMMIT)"


def test_a_rollback_that_gives_the_schema_back_but_not_the_rows_is_noted(
    sqlite_url: str, mdirs: MigrationDirs, tmp_path: Path
) -> None:
    """With --seed, a data migration whose rollback cannot undo it (the schema is the same,
    the rows are not) passed its stair without a word."""
    mdirs.add("20250101_000100", "users",
              "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT, name TEXT);",
              "DROP TABLE users;")  # fmt: skip
    mdirs.add("20250101_000200", "lower", "UPDATE users SET email = lower(email);", "SELECT 1;")
    mdirs.add("20250101_000300", "nick", "ALTER TABLE users ADD COLUMN nick TEXT;\n"
              "UPDATE users SET nick = name;", "ALTER TABLE users DROP COLUMN nick;")  # fmt: skip
    seed = tmp_path / "seed.sql"
    seed.write_text("INSERT INTO users VALUES (1, 'A@X', 'Ani'), (2, 'b@x', 'Budi');\n")
    res = run_cli("--database", sqlite_url, *mdirs.args(), "test", "--seed", str(seed), "--json")
    assert res.code == 0, res.err
    notes = [n for n in json.loads(res.out)["notes"] if "seeded rows" in n]
    assert notes == [
        "20250101_000200_undo_lower.sql gives the schema back but not the seeded rows of users "
        "(2 row(s), other values): a `rollback` of 20250101_000200_lower.sql keeps what it "
        "changed in them (only a backup has the rows as they were)"
    ]
