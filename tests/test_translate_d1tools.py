"""Migration files as Drizzle Kit writes them for D1 (``--> statement-breakpoint``, backticked
names, ``__new_`` table rebuilds) with better-auth's millisecond defaults
(``cast(unixepoch('subsecond') * 1000 as integer)``): translated, run on the real PostgreSQL
server, compared by ``parity``."""

from __future__ import annotations

import json

import psycopg
import pytest

from malnu_tui.engine.files import discover
from malnu_tui.engine.parity import check_parity
from malnu_tui.engine.translate import SchemaState, translate_script
from tests.fixtures_core import MigrationDirs, run_cli

INIT = """\
CREATE TABLE `user` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`email` text NOT NULL,
	`email_verified` integer DEFAULT false NOT NULL,
	`created_at` integer DEFAULT (cast(unixepoch('subsecond') * 1000 as integer)) NOT NULL,
	`updated_at` integer DEFAULT (cast(unixepoch('subsecond') * 1000 as integer)) NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `user_email_unique` ON `user` (`email`);--> statement-breakpoint
CREATE TABLE `session` (
	`id` text PRIMARY KEY NOT NULL,
	`expires_at` integer NOT NULL,
	`token` text NOT NULL,
	`seen_at` real DEFAULT (unixepoch('subsec')),
	`user_id` text NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `user`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `session_user_id_idx` ON `session` (`user_id`);
"""

REBUILD = """\
PRAGMA foreign_keys=OFF;--> statement-breakpoint
CREATE TABLE `__new_session` (
	`id` text PRIMARY KEY NOT NULL,
	`expires_at` integer NOT NULL,
	`token` text NOT NULL,
	`seen_at` real DEFAULT (unixepoch('subsec')),
	`ip_address` text,
	`created_at` integer DEFAULT (cast(unixepoch('subsecond') * 1000 as integer)) NOT NULL,
	`user_id` text NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `user`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
{copy}--> statement-breakpoint
DROP TABLE `session`;--> statement-breakpoint
ALTER TABLE `__new_session` RENAME TO `session`;--> statement-breakpoint
PRAGMA foreign_keys=ON;--> statement-breakpoint
CREATE INDEX `session_user_id_idx` ON `session` (`user_id`);
""".format(
    copy='INSERT INTO `__new_session`("id", "expires_at", "token", "seen_at", "user_id") '
    'SELECT "id", "expires_at", "token", "seen_at", "user_id" FROM `session`;'
)


def test_drizzle_better_auth_set_has_parity(pg_url: str, mdirs: MigrationDirs) -> None:
    # The millisecond default had become CAST('subsecond' AS TIMESTAMP) … AS INT: rejected, and
    # an INT a millisecond timestamp overflows. (The local SQLite, older than D1's 3.42, reads
    # 'subsec' as NULL: parity compares such a default by kind, as on D1.)
    mdirs.add("20250101_000000", "init", INIT)
    mdirs.add("20250102_000000", "session_ip", REBUILD)
    report = check_parity(discover(mdirs.migrations, mdirs.rollback).migrations, pg_url)
    assert report.differences == (), [d.describe() for d in report.differences]
    assert report.errors == ()
    assert report.ok


def test_millisecond_defaults_give_now_on_postgresql(pg_url: str) -> None:
    ft = translate_script(INIT, "init.sql", SchemaState())
    assert ft.ok, [f.describe() for f in ft.errors]
    with psycopg.connect(pg_url) as conn:
        for statement in ft.postgres_statements:
            conn.execute(statement)
        # now() is the transaction's start: the defaults and the expected value read one clock.
        created, updated, now_ms = conn.execute(
            "INSERT INTO \"user\" (id, name, email) VALUES ('u1', 'Ana', 'a@x') "
            "RETURNING created_at, updated_at, "
            "CAST(TRUNC(EXTRACT(EPOCH FROM now()) * 1000) AS BIGINT)"
        ).fetchone()
        assert abs(created - now_ms) <= 1 and created == updated
        seen, now_s = conn.execute(
            "INSERT INTO session (id, expires_at, token, user_id) VALUES ('s', 1, 't', 'u1') "
            "RETURNING seen_at, TRUNC(EXTRACT(EPOCH FROM now()), 3)"
        ).fetchone()
        assert isinstance(seen, float) and abs(seen - float(now_s)) < 0.002


def test_django_jsonfield_check_refuses_what_sqlite_refuses(pg_url: str) -> None:
    # Django's JSONField on SQLite is `text … CHECK ((JSON_VALID("meta") OR "meta" IS NULL))`:
    # json_valid() had withheld every such table (and all that followed from it).
    ft = translate_script(
        'CREATE TABLE "app_doc" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, '
        '"meta" text NULL CHECK ((JSON_VALID("meta") OR "meta" IS NULL)));',
        "0001_initial.sql",
        SchemaState(),
    )
    assert ft.ok, [f.describe() for f in ft.errors]
    with psycopg.connect(pg_url) as conn:
        conn.execute(ft.postgres_statements[0])
        conn.execute("INSERT INTO app_doc (meta) VALUES ('{\"a\": 1}'), (NULL)")
        with pytest.raises(psycopg.errors.InvalidTextRepresentation), conn.transaction():
            conn.execute("INSERT INTO app_doc (meta) VALUES ('{not json')")
        assert conn.execute("SELECT count(*) FROM app_doc").fetchone() == (2,)


def test_plan_check_analyses_a_trigger_body(pg_url: str, mdirs: MigrationDirs) -> None:
    # PL/pgSQL checks a body statement only when it first runs: the function and trigger were
    # created, `plan --check` and `parity` said ok, and the first INSERT into students failed.
    mdirs.add(
        "20250101_000000",
        "log",
        "CREATE TABLE students (id INTEGER PRIMARY KEY, grade INTEGER, class_no INTEGER, "
        "name TEXT);\nCREATE TABLE log (id INTEGER PRIMARY KEY, msg TEXT);\n"
        "CREATE TRIGGER students_ok AFTER INSERT ON students BEGIN "
        "INSERT INTO log (msg) VALUES (NEW.name || ':' || NEW.id); END;\n"
        "CREATE TRIGGER students_touch AFTER UPDATE ON students BEGIN "
        "UPDATE students SET name = upper(NEW.name) WHERE id = NEW.id; END;\n"
        "CREATE TRIGGER students_log AFTER INSERT ON students BEGIN "
        "INSERT INTO log (msg) SELECT name FROM students WHERE name = NEW.grade; END;",
    )
    db = f"sqlite:///{mdirs.root / 'app.db'}"
    res = run_cli(
        "--database", db, *mdirs.args(), "--json", "plan", "--check", "--postgres", pg_url
    )
    assert res.code == 1, res.err
    statements = json.loads(res.out)["migrations"][0]["statements"]
    rejected = [(s["line"], s["status"]) for s in statements if s["status"] != "ok"]
    assert rejected == [(5, "rejected")]
    (finding,) = [f for s in statements for f in s["findings"] if f["severity"] == "error"]
    assert "the trigger's body: operator does not exist: text = bigint" in finding["why"]


def test_subsec_outside_unixepoch_says_what_is_missing() -> None:
    # It said "depends on SQLite's own calendar or the server's time zone": neither is true.
    ft = translate_script(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, at TEXT DEFAULT (datetime('now', 'subsec')));",
        "x.sql",
        SchemaState(),
    )
    (error,) = ft.errors
    assert error.construct == "datetime() modifier 'subsec'"
    assert "unixepoch() only" in error.why and "time zone" not in error.why
