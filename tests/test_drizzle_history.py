"""Drizzle's history as its 1.0 writes it, on real SQLite, the real PostgreSQL cluster and the D1
stand-in. drizzle-orm 1.0 (beta) keeps ``name`` (the migration's folder,
``YYYYMMDDHHMMSS_tag``) and ``applied_at`` beside ``id, hash, created_at``: on a table it makes
new (drizzle-orm/src/sqlite-core/async/session.ts migrateSync/migrateAsync: ``(id INTEGER
PRIMARY KEY, hash text NOT NULL, created_at numeric, name text, applied_at TEXT)``, rows
``(hash, created_at, name, applied_at)``; drizzle-orm/src/pg-proxy/migrator.ts: ``"drizzle".
"__drizzle_migrations" (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at bigint, name text,
applied_at timestamp with time zone DEFAULT now())``, its ``migrationsSchema`` and
``migrationsTable`` configurable) and on an older one it upgrades (drizzle-orm/src/up-migrations/
sqlite.ts and pg.ts: the two columns added, old rows named when it can tell; a beta left the
others NULL). This tool read only ``id, hash, created_at`` and by the default name: the rows
that name our files by version were not matched (`adopt` asked for ``--through``), and a history
under another ``migrationsTable`` was not seen at all (`up` ran its migrations again)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.fixtures_core import MigrationDirs
from tests.fixtures_matrix import DbTarget
from tests.test_other_runners import (
    V1,
    V2,
    _adopted_two_then_up_runs_the_third,
    _applied_by_the_tool,
    _count,
    _dirs,
    _run,
)

HASH1 = "563f0bc57d87e284c71533a5f67e1b525de720cf6727eed140f6c384ef06c995"
HASH2 = "9d1c5b7e0e0b3c2f5f1f4b8e2a7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b"
Statements = list[tuple[str, tuple[Any, ...]]]


def _made_new(kind: str, table: str = "__drizzle_migrations") -> tuple[Statements, str]:
    """The table as drizzle-orm 1.0 makes it, two migrations applied: (statements, its name
    as this tool says it)."""
    if kind == "sqlite":
        where = f'"{table}"'
        ddl = [
            f"CREATE TABLE IF NOT EXISTS {where} (id INTEGER PRIMARY KEY, hash text NOT NULL, "
            "created_at numeric, name text, applied_at TEXT)"
        ]
        insert = (
            f'INSERT INTO {where} ("hash", "created_at", "name", "applied_at") '
            "VALUES (?, ?, ?, '2024-12-15T00:12:16.864Z')"
        )
        said = table
    else:
        where = f'"drizzle"."{table}"'
        ddl = [
            'CREATE SCHEMA IF NOT EXISTS "drizzle"',
            f"CREATE TABLE IF NOT EXISTS {where} (id SERIAL PRIMARY KEY, hash text NOT NULL, "
            "created_at bigint, name text, applied_at timestamp with time zone DEFAULT now())",
        ]
        insert = f'INSERT INTO {where} ("hash", "created_at", "name") VALUES (?, ?, ?)'
        said = f"drizzle.{table}"
    rows = [
        (insert, (HASH1, 1704110400000, f"{V1}_init")),
        (insert, (HASH2, 1704186000000, f"{V2}_grades")),
    ]
    return [*((d, ()) for d in ddl), *rows], said


def _upgraded_with_a_row_unnamed(kind: str) -> tuple[Statements, str]:
    """An 0.x table (id, hash, created_at) upgraded by a 1.0 beta: the columns added, the row
    it could not match to a folder left without a name."""
    if kind == "sqlite":
        where, said, when = '"__drizzle_migrations"', "__drizzle_migrations", "TEXT"
        made = [
            f"CREATE TABLE IF NOT EXISTS {where} (id SERIAL PRIMARY KEY, hash text NOT NULL, "
            "created_at numeric)"
        ]
    else:
        where, said = '"drizzle"."__drizzle_migrations"', "drizzle.__drizzle_migrations"
        when = "timestamp with time zone DEFAULT now()"
        made = [
            'CREATE SCHEMA IF NOT EXISTS "drizzle"',
            f"CREATE TABLE IF NOT EXISTS {where} (id SERIAL PRIMARY KEY, hash text NOT NULL, "
            "created_at bigint)",
        ]
    insert = f"INSERT INTO {where} (id, hash, created_at) VALUES (?, ?, ?)"
    return [
        *((d, ()) for d in made),
        (insert, (1, HASH1, 1704110400000)),
        (insert, (2, HASH2, 1704186000000)),
        (f'ALTER TABLE {where} ADD COLUMN "name" text', ()),
        (f'ALTER TABLE {where} ADD COLUMN "applied_at" {when}', ()),
        (f"UPDATE {where} SET name = ?, applied_at = NULL WHERE id = 2", (f"{V2}_grades",)),
    ], said


CASES = [
    (kind, case)
    for kind in ("sqlite", "postgresql", "d1")
    for case in ("made new", "another migrationsTable", "upgraded, a row unnamed")
]


@pytest.mark.parametrize(("kind", "case"), CASES, ids=[f"{c}-{k}" for k, c in CASES])
def test_drizzle_1_history_is_found_and_its_named_rows_matched(
    fresh_db: Callable[[str], DbTarget], mdirs: MigrationDirs, kind: str, case: str
) -> None:
    db = fresh_db(kind)
    flavour = "sqlite" if kind == "d1" else kind
    if case == "made new":
        history, table = _made_new(flavour)
    elif case == "another migrationsTable":
        history, table = _made_new(flavour, "school_migrations")
    else:
        history, table = _upgraded_with_a_row_unnamed(flavour)
    by_version = case != "upgraded, a row unnamed"
    _run(db, _applied_by_the_tool(db) + history)
    _dirs(mdirs)

    r = db.cli(mdirs, "status", "--json")
    assert r.code == 0, r.err
    found = json.loads(r.out)["other_runners"]
    assert [(f["tool"], f["table"], f["rows"], f["matched_by_version"]) for f in found] == [
        ("Drizzle", table, 2, by_version)
    ], found
    r = db.cli(mdirs, "up", "--yes", "--no-backup")
    assert r.code == 1, r.out + r.err
    assert f"Drizzle applied this database's migrations ({table}, 2 row(s)" in r.err
    assert _count(db, "SELECT count(*) FROM students") == 1  # the seed row once

    if by_version:  # its rows name our files: adopted as they are, nothing guessed
        r = db.cli(mdirs, "adopt", "--yes")
    else:  # a row names none: the operator says which files it applied
        r = db.cli(mdirs, "adopt", "--yes")
        assert r.code == 2 and "--through VERSION" in r.err, r.out + r.err
        r = db.cli(mdirs, "adopt", "--through", V2, "--yes")
    _adopted_two_then_up_runs_the_third(db, mdirs, r)
