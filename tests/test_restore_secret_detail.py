"""A restore that fails on a secret column's values: PostgreSQL's DETAIL names them
(``Key (remember_token)=(…) is duplicated.``), and psql's stderr went whole into the
restore's error, its audit row, `recover`'s and `rehearse`'s reports and the debug log."""

from __future__ import annotations

import json

import psycopg

from tests.fixtures_core import MigrationDirs, run_cli
from tests.fixtures_pg import PgCluster

TOKEN = "rt-7f3a9c1e5b2d4086a1c3e5f7"


def test_a_restore_failing_on_a_duplicated_token_does_not_print_it(
    pg_url: str, pg_cluster: PgCluster, mdirs: MigrationDirs
) -> None:
    """Two users hold one remember token under a UNIQUE index that did not see them (a
    collation change under the index, glibc 2.28's: made here by marking a plain index
    unique). The backup is sound; its restore builds the index and fails."""
    mdirs.add(
        "20250101_000100",
        "users",
        "CREATE TABLE users (id int PRIMARY KEY, email text, remember_token text);"
        "CREATE INDEX users_remember_token ON users (remember_token);",
        "DROP TABLE users;",
    )
    base = ["--database", pg_url, *mdirs.args()]
    assert run_cli(*base, "up", "--no-backup").code == 0
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("INSERT INTO users VALUES (1, 'a@x', %s), (2, 'b@x', %s)", (TOKEN, TOKEN))
        conn.execute(
            "UPDATE pg_index SET indisunique = true "
            "WHERE indexrelid = 'users_remember_token'::regclass"
        )
    made = run_cli(*base, "backup", "create", "--json")
    assert made.code == 0, made.err
    backup_id = json.loads(made.out)["id"]
    env = {"MIGRATION_DEBUG": "1"}
    restored = run_cli(*base, "backup", "restore", backup_id, "--yes", env=env)
    assert restored.code != 0, restored.err
    said = restored.out + restored.err
    assert "could not create unique index" in said and "Key (remember_token)=(sha256:" in said
    assert TOKEN not in said, said
    audit = run_cli(*base, "log", "--action", "restore", "--json")
    assert audit.code == 0 and "Key (remember_token)=(sha256:" in audit.out, audit
    assert TOKEN not in audit.out, audit.out
    recovered = run_cli(*base, "recover", "--to", "now", "--yes", env=env)
    said = recovered.out + recovered.err
    assert recovered.code != 0 and "Key (remember_token)=(sha256:" in said, said
    assert TOKEN not in said, said
    rehearsed = run_cli(*base, "rehearse", "--backup", backup_id, env=env)
    said = rehearsed.out + rehearsed.err
    assert rehearsed.code != 0 and "Key (remember_token)=(sha256:" in said, said
    assert TOKEN not in said, said


def test_a_restore_failing_on_a_check_does_not_print_the_row(
    pg_url: str, mdirs: MigrationDirs
) -> None:
    """A CHECK the rows broke unseen (added NOT VALID, then marked valid: pg_dump puts it in
    the CREATE TABLE, before the data): psql quotes the row twice, ``DETAIL: Failing row
    contains (1, a@x, rt-…)`` and ``CONTEXT: COPY users, line 1: "1	a@x	rt-…"``."""
    mdirs.add(
        "20250101_000100",
        "users",
        "CREATE TABLE users (id int PRIMARY KEY, email text, remember_token text);",
        "DROP TABLE users;",
    )
    base = ["--database", pg_url, *mdirs.args()]
    assert run_cli(*base, "up", "--no-backup").code == 0
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("INSERT INTO users VALUES (1, 'a@x', %s)", (TOKEN,))
        conn.execute(
            "ALTER TABLE users ADD CONSTRAINT short_token "
            "CHECK (length(remember_token) < 10) NOT VALID"
        )
        conn.execute("UPDATE pg_constraint SET convalidated = true WHERE conname = 'short_token'")
    made = run_cli(*base, "backup", "create", "--json")
    assert made.code == 0, made.err
    restored = run_cli(
        *base,
        "backup",
        "restore",
        json.loads(made.out)["id"],
        "--yes",
        env={"MIGRATION_DEBUG": "1"},
    )
    said = restored.out + restored.err
    assert restored.code != 0 and 'violates check constraint "short_token"' in said, said
    assert "Failing row contains (…): its values not shown" in said, said
    assert "COPY users, line 1: (not shown)" in said, said
    assert TOKEN not in said, said
