"""Other migration runners' history tables in the target database (Prisma, Drizzle, dbmate,
Rails, golang-migrate, Flyway, Alembic), on real SQLite, the real PostgreSQL cluster and (Prisma,
Drizzle) the D1 stand-in: an
operator who switches to malnu-tui from another tool and runs `up` on the database that tool
migrated had every migration run a second time (a failure half-way at best, the seed rows
twice at worst). Now `status`, `up` (and its dry run) and `doctor` name the tool, its table and
its rows; `up` refuses (exit 1, as for wrangler's and the Supabase CLI's histories; nothing run
or recorded) until `adopt` records them.

Each table is made in the shape the tool itself creates it:
- Prisma: prisma/prisma-engines schema-engine/connectors/sql-schema-connector/src/flavour/
  postgres.rs and sqlite.rs (``_prisma_migrations``: id, checksum, finished_at, migration_name,
  logs, rolled_back_at, started_at, applied_steps_count; TIMESTAMPTZ on PostgreSQL, DATETIME
  and INTEGER UNSIGNED on SQLite);
- Drizzle: drizzle-team/drizzle-orm drizzle-orm/src/pg-core/dialect.ts migrate() (``CREATE
  SCHEMA IF NOT EXISTS "drizzle"``, ``"drizzle"."__drizzle_migrations" (id SERIAL PRIMARY KEY,
  hash text NOT NULL, created_at bigint)``) and sqlite-core/dialect.ts (the same in main,
  created_at numeric);
- dbmate: amacneil/dbmate pkg/driver/postgres/postgres.go CreateMigrationsTable (``(version
  varchar(255) primary key)``) and pkg/driver/sqlite/sqlite.go (``varchar(128)``);
- golang-migrate: golang-migrate/migrate database/postgres/postgres.go ensureVersionTable
  (``(version bigint not null primary key, dirty boolean not null)``) and
  database/sqlite3/sqlite3.go (``(version uint64,dirty bool)`` + ``version_unique``);
- Rails: rails/rails activerecord/lib/active_record/schema_migration.rb and
  internal_metadata.rb (``schema_migrations (version varchar primary key)`` beside
  ``ar_internal_metadata (key, value, created_at, updated_at)``);
- Flyway: its createMetaDataTable.sql (``flyway_schema_history``: installed_rank, version,
  description, type, script, checksum, installed_by, installed_on, execution_time, success);
- Alembic: sqlalchemy/alembic alembic/runtime/migration.py (``alembic_version (version_num
  VARCHAR(32) NOT NULL, CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))``).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from malnu_tui.engine.urls import sqlite_path
from tests.fixtures_core import MigrationDirs
from tests.fixtures_matrix import DbTarget

INIT = (
    "CREATE TABLE students (id INTEGER PRIMARY KEY, name TEXT NOT NULL);\n"
    "INSERT INTO students (id, name) VALUES (1, 'seed');"
)
GRADES = "CREATE TABLE grades (student_id INTEGER NOT NULL, grade TEXT);"
ROOMS = "CREATE TABLE rooms (id INTEGER PRIMARY KEY);"
V1, V2, V3 = "20240101120000", "20240102090000", "20240103080000"


def _dirs(mdirs: MigrationDirs) -> MigrationDirs:
    """Two files the other tool applied, and a new one."""
    mdirs.add(V1, "init", INIT, "DROP TABLE students;")
    mdirs.add(V2, "grades", GRADES, "DROP TABLE grades;")
    mdirs.add(V3, "rooms", ROOMS, "DROP TABLE rooms;")
    return mdirs


def _sqlite(db: DbTarget) -> sqlite3.Connection:
    """The SQLite file itself (D1: the stand-in's file behind its API)."""
    if db.d1 is not None:
        return db.d1.db.connect()
    return sqlite3.connect(sqlite_path(db.url))


def _run(db: DbTarget, statements: list[tuple[str, tuple[Any, ...]]]) -> None:
    if db.kind != "postgresql":
        conn = _sqlite(db)
        with conn:
            for sql, params in statements:
                conn.execute(sql, params)
        conn.close()
        return
    with psycopg.connect(db.url, autocommit=True) as pg:
        for sql, params in statements:
            pg.execute(sql.replace("?", "%s"), params)


def _count(db: DbTarget, sql: str) -> int:
    if db.kind != "postgresql":
        conn = _sqlite(db)
        try:
            return int(conn.execute(sql).fetchone()[0])
        finally:
            conn.close()
    with psycopg.connect(db.url) as pg:
        row = pg.execute(sql).fetchone()
    assert row is not None
    return int(row[0])


def _adopted_two_then_up_runs_the_third(db: DbTarget, mdirs: MigrationDirs, r: Any) -> None:
    """``r`` (an adopt) recorded the two applied files; ``up`` then runs only the third."""
    assert r.code == 0, r.out + r.err
    assert "adopted 2 migration(s)" in r.err
    r = db.cli(mdirs, "up", "--yes", "--no-backup")
    assert r.code == 0, r.out + r.err
    assert _count(db, "SELECT count(*) FROM students") == 1
    assert _count(db, "SELECT count(*) FROM migrations") == 3


def _applied_by_the_tool(db: DbTarget) -> list[tuple[str, tuple[Any, ...]]]:
    """What the other tool's two migrations did to the database."""
    return [(INIT.split(";\n")[0], ()), (INIT.split(";\n")[1].rstrip(";"), ()), (GRADES, ())]


# Each runner's table as the tool creates it, and its rows after two migrations (V1, V2).
def _prisma(kind: str) -> list[tuple[str, tuple[Any, ...]]]:
    if kind == "sqlite":
        ddl = (
            'CREATE TABLE "_prisma_migrations" ("id" TEXT PRIMARY KEY NOT NULL, "checksum" TEXT '
            'NOT NULL, "finished_at" DATETIME, "migration_name" TEXT NOT NULL, "logs" TEXT, '
            '"rolled_back_at" DATETIME, "started_at" DATETIME NOT NULL DEFAULT current_timestamp, '
            '"applied_steps_count" INTEGER UNSIGNED NOT NULL DEFAULT 0)'
        )
    else:
        ddl = (
            'CREATE TABLE "_prisma_migrations" ("id" VARCHAR(36) NOT NULL, "checksum" '
            'VARCHAR(64) NOT NULL, "finished_at" TIMESTAMPTZ, "migration_name" VARCHAR(255) NOT '
            'NULL, "logs" TEXT, "rolled_back_at" TIMESTAMPTZ, "started_at" TIMESTAMPTZ NOT NULL '
            'DEFAULT now(), "applied_steps_count" INTEGER NOT NULL DEFAULT 0, CONSTRAINT '
            '"_prisma_migrations_pkey" PRIMARY KEY ("id"))'
        )
    insert = (
        'INSERT INTO "_prisma_migrations" (id, checksum, finished_at, migration_name, '
        "rolled_back_at, applied_steps_count) VALUES (?, 'c0ffee', CURRENT_TIMESTAMP, ?, ?, 1)"
    )
    return [
        (ddl, ()),
        (insert, ("a1", f"{V1}_init", None)),
        (insert, ("a2", f"{V2}_grades", None)),
        # rolled back (`prisma migrate resolve --rolled-back`): not applied, not counted
        (insert.replace("?, 1)", "CURRENT_TIMESTAMP, 1)"), ("a3", f"{V3}_rooms")),
    ]


def _drizzle(kind: str) -> list[tuple[str, tuple[Any, ...]]]:
    if kind == "sqlite":
        ddl = [
            'CREATE TABLE IF NOT EXISTS "__drizzle_migrations" (id SERIAL PRIMARY KEY, hash '
            "text NOT NULL, created_at numeric)"
        ]
        table = '"__drizzle_migrations"'
    else:
        ddl = [
            'CREATE SCHEMA IF NOT EXISTS "drizzle"',
            'CREATE TABLE IF NOT EXISTS "drizzle"."__drizzle_migrations" (id SERIAL PRIMARY KEY, '
            "hash text NOT NULL, created_at bigint)",
        ]
        table = '"drizzle"."__drizzle_migrations"'
    insert = f"INSERT INTO {table} (id, hash, created_at) VALUES (?, ?, ?)"
    return [
        *((d, ()) for d in ddl),
        (
            insert,
            (1, "563f0bc57d87e284c71533a5f67e1b525de720cf6727eed140f6c384ef06c995", 1734221536864),
        ),
        (
            insert,
            (2, "9d1c5b7e0e0b3c2f5f1f4b8e2a7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b", 1734307936864),
        ),
    ]


def _dbmate(kind: str) -> list[tuple[str, tuple[Any, ...]]]:
    size = 128 if kind == "sqlite" else 255
    ddl = f'CREATE TABLE IF NOT EXISTS "schema_migrations" (version varchar({size}) primary key)'
    insert = 'INSERT INTO "schema_migrations" (version) VALUES (?)'
    return [(ddl, ()), (insert, (V1,)), (insert, (V2,))]


def _rails(kind: str) -> list[tuple[str, tuple[Any, ...]]]:
    ts = "datetime(6)" if kind == "sqlite" else "timestamp(6)"
    return [
        ('CREATE TABLE "schema_migrations" ("version" varchar NOT NULL PRIMARY KEY)', ()),
        (
            'CREATE TABLE "ar_internal_metadata" ("key" varchar NOT NULL PRIMARY KEY, "value" '
            f'varchar, "created_at" {ts} NOT NULL, "updated_at" {ts} NOT NULL)',
            (),
        ),
        (
            "INSERT INTO ar_internal_metadata VALUES ('environment', 'production', "
            "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
            (),
        ),
        ('INSERT INTO "schema_migrations" (version) VALUES (?)', (V1,)),
        ('INSERT INTO "schema_migrations" (version) VALUES (?)', (V2,)),
    ]


def _golang_migrate(kind: str) -> list[tuple[str, tuple[Any, ...]]]:
    if kind == "sqlite":
        ddl = [
            "CREATE TABLE IF NOT EXISTS schema_migrations (version uint64,dirty bool)",
            "CREATE UNIQUE INDEX IF NOT EXISTS version_unique ON schema_migrations (version)",
        ]
    else:
        ddl = [
            'CREATE TABLE IF NOT EXISTS "public"."schema_migrations" (version bigint not null '
            "primary key, dirty boolean not null)"
        ]
    return [*((d, ()) for d in ddl), ("INSERT INTO schema_migrations VALUES (?, ?)", (2, False))]


def _flyway(kind: str) -> list[tuple[str, tuple[Any, ...]]]:
    ddl = (
        'CREATE TABLE "flyway_schema_history" ("installed_rank" INT NOT NULL, "version" '
        'VARCHAR(50), "description" VARCHAR(200) NOT NULL, "type" VARCHAR(20) NOT NULL, '
        '"script" VARCHAR(1000) NOT NULL, "checksum" INT, "installed_by" VARCHAR(100) NOT NULL, '
        '"installed_on" TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, "execution_time" INT NOT '
        'NULL, "success" BOOLEAN NOT NULL, CONSTRAINT "flyway_schema_history_pk" PRIMARY KEY '
        '("installed_rank"))'
    )
    insert = (
        'INSERT INTO "flyway_schema_history" (installed_rank, version, description, type, '
        "script, checksum, installed_by, execution_time, success) VALUES "
        "(?, ?, ?, 'SQL', ?, 12345, 'school', 40, ?)"
    )
    return [
        (ddl, ()),
        (insert, (1, "1", "init", "V1__init.sql", True)),
        (insert, (2, "2", "grades", "V2__grades.sql", True)),
    ]


def _alembic(kind: str) -> list[tuple[str, tuple[Any, ...]]]:
    return [
        (
            "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
            "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))",
            (),
        ),
        ("INSERT INTO alembic_version (version_num) VALUES (?)", ("eb9562d19265",)),
    ]


# tool, its table as named in the messages (PostgreSQL, SQLite), rows, its history's maker,
# and whether its rows name our files by version (else `adopt --through`).
RUNNERS = [
    ("Prisma", ("_prisma_migrations", "_prisma_migrations"), 2, _prisma, True),
    ("Drizzle", ("drizzle.__drizzle_migrations", "__drizzle_migrations"), 2, _drizzle, False),
    ("dbmate", ("schema_migrations", "schema_migrations"), 2, _dbmate, True),
    ("Rails", ("schema_migrations", "schema_migrations"), 2, _rails, True),
    ("golang-migrate", ("schema_migrations", "schema_migrations"), 1, _golang_migrate, False),
    ("Flyway", ("flyway_schema_history", "flyway_schema_history"), 2, _flyway, False),
    ("Alembic", ("alembic_version", "alembic_version"), 1, _alembic, False),
]


# Every runner on SQLite and PostgreSQL; on D1 (the stand-in) the two that migrate D1 databases.
CASES = [(kind, *r) for r in RUNNERS for kind in ("sqlite", "postgresql")] + [
    ("d1", *r) for r in RUNNERS if r[0] in ("Prisma", "Drizzle")
]


@pytest.mark.parametrize(
    ("kind", "tool", "tables", "rows", "history", "by_version"),
    CASES,
    ids=[f"{c[1]}-{c[0]}" for c in CASES],
)
def test_a_database_another_runner_migrated_is_not_migrated_again(
    fresh_db: Callable[[str], DbTarget],
    mdirs: MigrationDirs,
    kind: str,
    tool: str,
    tables: tuple[str, str],
    rows: int,
    history: Callable[[str], list[tuple[str, tuple[Any, ...]]]],
    by_version: bool,
) -> None:
    """`up` used to run both migrations the other tool had applied again: CREATE TABLE
    students failed half-way (or, written IF NOT EXISTS, the seed row went in twice). Now
    status, status --json, up --dry-run, up and doctor name the tool, its table and its rows;
    `up` refuses with exit 1 and nothing is run or recorded; `adopt` records them without
    running them (by version where the rows name files, else `--through VERSION`), and `up`
    then runs only the new file."""
    db = fresh_db(kind)
    _run(db, _applied_by_the_tool(db) + history("sqlite" if kind == "d1" else kind))
    _dirs(mdirs)
    table = tables[0] if kind == "postgresql" else tables[1]
    said = f"{tool} applied this database's migrations ({table}, {rows} row(s)"

    r = db.cli(mdirs, "status")
    assert r.code == 0, r.err
    assert said in r.err
    r = db.cli(mdirs, "status", "--json")
    assert r.code == 0, r.err
    found = json.loads(r.out)["other_runners"]
    assert [(f["tool"], f["table"], f["rows"], f["up_refuses"]) for f in found] == [
        (tool, table, rows, True)
    ]
    for args in (["up", "--dry-run"], ["up", "--yes", "--no-backup"]):
        r = db.cli(mdirs, *args)
        assert r.code == 1, r.out + r.err
        assert said in r.err and "nothing was run or recorded" in r.err
        assert "malnu-tui adopt" in r.err
    assert _count(db, "SELECT count(*) FROM students") == 1  # the seed row once
    assert _count(db, "SELECT count(*) FROM migrations") == 0  # nothing recorded
    r = db.cli(mdirs, "doctor")
    lines = (r.out + r.err).splitlines()
    assert any(ln.startswith("FAIL") and f"other runner: {said}" in ln for ln in lines), r.out

    if by_version:
        r = db.cli(mdirs, "adopt", "--yes")
    else:
        r = db.cli(mdirs, "adopt", "--yes")  # its rows name no file: nothing guessed
        assert r.code == 2, r.out + r.err
        assert "--through VERSION" in r.err
        assert _count(db, "SELECT count(*) FROM migrations") == 0
        r = db.cli(mdirs, "adopt", "--through", V2, "--yes")
    _adopted_two_then_up_runs_the_third(db, mdirs, r)
    r = db.cli(mdirs, "status")
    assert f"note: {tool}'s migration history is here too ({table}" in r.err


@pytest.mark.parametrize(
    ("kind", "history", "way_out"),
    [
        ("sqlite", _prisma, "prisma migrate resolve"),
        ("postgresql", _golang_migrate, "migrate force VERSION"),
    ],
    ids=["prisma-sqlite", "golang-migrate-postgresql"],
)
def test_a_migration_the_other_runner_left_half_way_is_not_adopted(
    fresh_db: Callable[[str], DbTarget],
    mdirs: MigrationDirs,
    kind: str,
    history: Callable[[str], list[tuple[str, tuple[Any, ...]]]],
    way_out: str,
) -> None:
    """Prisma's unfinished row (finished_at and rolled_back_at NULL: `migrate deploy` failed in
    it), golang-migrate's dirty flag: what that migration left is not known. `up` refuses
    (exit 2) saying so, and `adopt --through` records nothing, pointing at the tool's own way
    of settling it."""
    db = fresh_db(kind)
    made = history(kind)
    if history is _prisma:
        made.append(
            (made[1][0].replace("CURRENT_TIMESTAMP, ?", "NULL, ?"), ("a4", f"{V2}_x", None))
        )
    else:
        made[-1] = (made[-1][0], (2, True))
    _run(db, _applied_by_the_tool(db) + made)
    _dirs(mdirs)
    r = db.cli(mdirs, "up", "--yes", "--no-backup")
    assert r.code == 1, r.out + r.err
    assert "1 failed half-way" in r.err
    assert _count(db, "SELECT count(*) FROM migrations") == 0
    r = db.cli(mdirs, "adopt", "--through", V2, "--yes")
    assert r.code == 2, r.out + r.err
    assert "nothing was recorded" in r.err and way_out in r.err
    assert _count(db, "SELECT count(*) FROM migrations") == 0


def test_an_older_supabase_cli_history_is_named_with_its_rows(
    fresh_db: Callable[[str], DbTarget], mdirs: MigrationDirs
) -> None:
    """An older Supabase CLI's table (``version`` alone, no ``name``: test_supabase_history's
    OLD_CLI_TABLE) with two versions applied: `status
    --json` and `doctor` said nothing of it, and `up` named no row count. Now each names the
    CLI, its table and its rows; `up --dry-run` refuses them, `adopt` records them by version
    and `up` runs only the new file."""
    db = fresh_db("postgresql")
    _run(
        db,
        [
            *_applied_by_the_tool(db),
            ("CREATE SCHEMA supabase_migrations", ()),
            (
                "CREATE TABLE supabase_migrations.schema_migrations "
                "(version text NOT NULL PRIMARY KEY)",
                (),
            ),
            ("INSERT INTO supabase_migrations.schema_migrations VALUES (?), (?)", (V1, V2)),
        ],
    )
    _dirs(mdirs)
    table = "supabase_migrations.schema_migrations"
    r = db.cli(mdirs, "status", "--json")
    assert r.code == 0, r.err
    found = json.loads(r.out)["other_runners"]
    assert [(f["tool"], f["table"], f["rows"], f["up_refuses"]) for f in found] == [
        ("the Supabase CLI", table, 2, True)
    ]
    assert found[0]["pending_it_applied"] == [f"{V1}_init.sql", f"{V2}_grades.sql"]
    r = db.cli(mdirs, "up", "--dry-run")
    assert r.code == 1, r.out + r.err
    assert f"({table}, 2 row(s))" in r.err
    r = db.cli(mdirs, "doctor")
    said = f"other runner: the Supabase CLI applied this database's migrations ({table}, 2 row(s))"
    assert any(ln.startswith("FAIL") and said in ln for ln in r.out.splitlines()), r.out
    r = db.cli(mdirs, "adopt", "--yes")
    _adopted_two_then_up_runs_the_third(db, mdirs, r)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_runner_that_migrates_between_the_preflight_and_the_lock_is_not_run_over(
    fresh_db: Callable[[str], DbTarget], mdirs: MigrationDirs, kind: str
) -> None:
    """`prisma migrate deploy` (a CI job, a colleague) ran between `up`'s preflight and its
    lock: the preflight had seen no other history, and `up` ran both migrations again. The
    history is read again under the lock: refused (exit 1, MalnuError), nothing run or
    recorded, no safety backup taken."""
    from malnu_tui.engine.errors import MalnuError
    from malnu_tui.engine.files import discover
    from malnu_tui.engine.migrate import apply_plan
    from malnu_tui.engine.preflight import preflight_apply

    db = fresh_db(kind)
    _dirs(mdirs)
    backend = db.open(mdirs)
    try:
        mset = discover(mdirs.migrations, mdirs.rollback)
        pf = preflight_apply(backend, db.target(mdirs), mset)
        assert not pf.blocking and pf.plan is not None
        _run(db, _applied_by_the_tool(db) + _prisma(kind))  # Prisma deploys, meanwhile
        backups: list[str] = []
        with pytest.raises(MalnuError, match=r"Prisma applied this database's migrations"):
            apply_plan(backend, mset, pf.plan, safety_backup=lambda why: backups.append(why))
    finally:
        backend.close()
    assert backups == []
    assert _count(db, "SELECT count(*) FROM students") == 1
    assert _count(db, "SELECT count(*) FROM migrations") == 0


def test_an_applications_history_in_public_is_not_the_analytics_sets(
    fresh_db: Callable[[str], DbTarget], mdirs: MigrationDirs
) -> None:
    """The school's analytics set lives in schema `analytics` of the database whose `public`
    the application migrates with Prisma: the application's `_prisma_migrations` is not the
    analytics set's history. Its `up` runs, and its `status --json` names no other runner
    (read on the session's search path, `public`'s history refused the analytics set's every
    `up`, pointing at an `adopt --through` that would have recorded its files unrun)."""
    db = fresh_db("postgresql")
    _run(db, _applied_by_the_tool(db) + _prisma("postgresql"))
    analytics = DbTarget("postgresql", f"{db.url}?schema=analytics")
    mdirs.add("20260301_020000", "events", "CREATE TABLE events (id bigint);", "DROP TABLE events;")
    r = analytics.cli(mdirs, "status", "--json")
    assert r.code == 0, r.err
    assert "other_runners" not in json.loads(r.out)
    r = analytics.cli(mdirs, "up", "--yes", "--no-backup")
    assert r.code == 0, r.out + r.err
    assert _count(db, "SELECT count(*) FROM analytics.migrations") == 1


def test_an_unrelated_history_is_declared_once_with_unrelated_history(
    fresh_db: Callable[[str], DbTarget], mdirs: MigrationDirs
) -> None:
    """An application keeps its own Alembic history in the same SQLite file, for its own
    tables: nothing of this set was applied there. `up` refuses (it cannot know), and the
    only way on was an `adopt --through` that would record this set's files unrun. `up
    --unrelated-history` runs them, audited; later `up`s need no flag (this tool has applied
    migrations there)."""
    db = fresh_db("sqlite")
    _run(db, _alembic("sqlite"))
    mdirs.add(V1, "init", INIT, "DROP TABLE students;")
    r = db.cli(mdirs, "up", "--yes", "--no-backup")
    assert r.code == 1, r.out + r.err
    assert "(not this set's history: `malnu-tui up --unrelated-history --" in r.err, r.err
    r = db.cli(mdirs, "up", "--unrelated-history", "--yes", "--no-backup")
    assert r.code == 0, r.out + r.err
    assert _count(db, "SELECT count(*) FROM students") == 1
    said = "up --unrelated-history: Alembic (alembic_version, 1 row(s), at eb9562d19265)"
    assert _count(db, f"SELECT count(*) FROM malnu_audit WHERE detail LIKE '{said}%'") == 1
    mdirs.add(V2, "grades", GRADES, "DROP TABLE grades;")
    r = db.cli(mdirs, "up", "--yes", "--no-backup")
    assert r.code == 0, r.out + r.err
    assert _count(db, "SELECT count(*) FROM migrations") == 2


@pytest.mark.parametrize("kind", ["sqlite", "postgresql", "d1"])
def test_check_warns_of_a_history_up_would_refuse_until_it_is_adopted(
    fresh_db: Callable[[str], DbTarget], mdirs: MigrationDirs, kind: str
) -> None:
    """`check` (cron, the alerts, Prometheus) said OK of a database Prisma had migrated, after
    a deploy's `up` had refused it (or `init`), so only the deploy's log said why nothing
    was applied. It now warns with `status`'s
    words and the `adopt` command, once per tool, and says nothing of it once adopted."""
    db = fresh_db(kind)
    _run(db, _applied_by_the_tool(db) + _prisma("sqlite" if kind == "d1" else kind))
    _dirs(mdirs)
    assert db.cli(mdirs, "up", "--yes", "--no-backup").code == 1  # refused (tracking made)
    assert db.cli(mdirs, "backup", "create").code == 0  # (no backup at all is CRITICAL)
    r = db.cli(mdirs, "check")
    said = "Prisma applied this database's migrations (_prisma_migrations, 2 row(s))"
    assert r.code == 1, r.out + r.err
    assert "another tool's migrations not adopted: up refuses |" in r.out.splitlines()[0]
    (line,) = [ln for ln in r.out.splitlines() if said in ln]
    assert "WARNING" in line and "malnu-tui adopt" in line, r.out
    r = db.cli(mdirs, "check", "--json")
    doc = json.loads(r.out)
    assert [p["check"] for p in doc["problems"] if said in p["message"]] == ["other_history"]
    assert [t["checks"]["other_history"] for t in doc["targets"].values()] == ["WARNING"], doc
    assert db.cli(mdirs, "adopt", "--yes").code == 0
    r = db.cli(mdirs, "check")
    assert "Prisma" not in r.out, r.out
