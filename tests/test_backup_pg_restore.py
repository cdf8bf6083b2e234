"""A PostgreSQL restore leaves the database fully as the backup was, on a real cluster: large
objects, and the bytes restored being the bytes verified."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from malnu_tui.engine.backends.base import Backend
from malnu_tui.engine.backup import create_backup, restore_backup
from malnu_tui.engine.config import Target
from tests.backup_support import make_target, open_fresh, up


@pytest.fixture
def pg(pg_url: str, tmp_path: Path) -> Iterator[tuple[Target, Backend]]:
    target = make_target(tmp_path, pg_url)
    backend = open_fresh(target)
    try:
        up(backend, target)
        yield target, backend
    finally:
        backend.close()


def _large_objects(url: str) -> dict[int, bytes]:
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT oid, lo_get(oid) FROM pg_largeobject_metadata ORDER BY oid"
        ).fetchall()
    return {int(oid): bytes(data) for oid, data in rows}


def test_restore_unlinks_large_objects_made_after_the_backup(
    pg: tuple[Target, Backend],
) -> None:
    # Photos kept as large objects (an `oid` column, lo_import): a restore rewrote the ones
    # the backup had but left every one created after it behind — the database was not
    # "as it was", and a restore over and over piled them up. Now they are unlinked in the
    # restore's transaction; the backup's own come back with their old content.
    target, backend = pg
    with psycopg.connect(target.url, autocommit=True) as conn:
        kept = conn.execute("SELECT lo_from_bytea(0, 'photo 1')").fetchone()[0]
    made = create_backup(backend, target)
    with psycopg.connect(target.url, autocommit=True) as conn:
        conn.execute("SELECT lo_put(%s, 0, 'PHOTO')", (kept,))
        conn.execute("SELECT lo_from_bytea(0, 'photo 2, after the backup')")
    restore_backup(backend, target, made.id)
    assert _large_objects(target.url) == {int(kept): b"photo 1"}


def test_large_objects_of_a_postgresql_17_dump_are_kept_by_their_groups(pg_url: str) -> None:
    # pg_dump 17 lists large objects in groups (`BLOB METADATA - 16401..16403`), 16 and
    # older one by one (`BLOB - 16405`): both kinds are kept, every other one unlinked.
    from malnu_tui.engine.backup.postgresql import _large_objects_not_in

    toc = [
        "3379; 2613 16401 BLOB METADATA - 16401..16403 postgres",
        "3380; 2613 16405 BLOB - 16405 postgres",
        "3381; 0 0 BLOBS - BLOBS ",
    ]
    with psycopg.connect(pg_url) as conn:
        for oid in (16400, 16401, 16402, 16403, 16404, 16405, 16406):
            conn.execute("SELECT lo_create(%s)", (oid,))
        conn.execute(_large_objects_not_in(toc))
        left = conn.execute("SELECT oid FROM pg_largeobject_metadata ORDER BY 1").fetchall()
    assert [int(r[0]) for r in left] == [16401, 16402, 16403, 16405]
