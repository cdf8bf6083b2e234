"""`backup restore`'s progress lines say what happens in the order it happens (README
"Backups"): the pre-restore backup is taken before the database is replaced, and is said
first. On SQLite "replacing school.db" came before "backing up the current state first": at
2 a.m. an operator read that the database was being replaced before its safety copy
existed."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from tests.fixtures_core import MigrationDirs
from tests.fixtures_matrix import DbTarget

# The line each kind says as it starts replacing the database (D1: to a Time Travel bookmark,
# else by an import of the dump).
REPLACING = {
    "sqlite": ("replacing ",),
    "postgresql": ("pg_restore --clean",),
    "d1": ("Time Travel restore to bookmark", "uploading "),
}


@pytest.mark.parametrize("kind", sorted(REPLACING))
def test_restore_says_the_pre_restore_backup_before_the_replacing(
    fresh_db: Callable[[str], DbTarget], mdirs: MigrationDirs, kind: str
) -> None:
    db = fresh_db(kind)
    mdirs.add("20250101_000000", "t", "CREATE TABLE t (id INTEGER);", "DROP TABLE t;")
    res = db.cli(mdirs, "up", "--yes", "--no-backup")
    assert res.code == 0, res.err
    res = db.cli(mdirs, "backup", "create", "--json")
    assert res.code == 0, res.err
    backup_id = json.loads(res.out)["id"]
    res = db.cli(mdirs, "backup", "restore", backup_id, "--yes")
    assert res.code == 0, res.err
    said = [ln for ln in res.err.splitlines() if not ln.startswith(" ")]
    pre = said.index("backing up the current state first")
    replacing = [i for i, ln in enumerate(said) if ln.startswith(REPLACING[kind])]
    assert len(replacing) == 1, said
    assert said.index(f"verifying {backup_id}") < pre < replacing[0], said
    assert any(ln.startswith(f"restored {backup_id} in ") for ln in said[replacing[0] :]), said
