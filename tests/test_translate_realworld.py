"""Public real-world migration sets (see tests/realworld/README.md for origin and licence), end
to end: `up` on a SQLite file, then `parity` on the real PostgreSQL server: no difference, no
statement PostgreSQL rejects, none withheld."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.fixtures_core import run_cli

SETS = Path(__file__).parent / "realworld"

# A set's notes, pinned: (file's version, line, construct). d1_auth_like's `number` columns
# have NUMERIC affinity in SQLite (no INT, CHAR/CLOB/TEXT, BLOB, REAL/FLOA/DOUB in the name):
# numeric in PostgreSQL, said once a column.
NOTES = {
    "d1_auth_like": [
        ("20240301_000001", 2, "column failedLogins type number"),
        ("20240301_000001", 11, "column validUntil type number"),
        ("20240301_000001", 24, "column lastSeen type number"),
    ],
}


@pytest.mark.parametrize(
    "name",
    ["django_contrib", "django_taggit", "d1_auth_like", "music_room_like", "library_sqlite_like"],
)
def test_real_world_set_applies_on_sqlite_and_has_parity(
    name: str, tmp_path: Path, pg_url: str
) -> None:
    src = SETS / name
    migrations = tmp_path / "migrations"
    rollback = tmp_path / "rollback"
    shutil.copytree(src / "migrations", migrations)
    if (src / "rollback").is_dir():
        shutil.copytree(src / "rollback", rollback)
    else:
        rollback.mkdir()
    dirs = ["--migrations-dir", str(migrations), "--rollback-dir", str(rollback)]
    base = ["--database", f"sqlite:///{tmp_path / 'app.db'}", *dirs]
    res = run_cli(*base, "up", "--no-backup")
    assert res.code == 0, res.err
    count = len(list(migrations.glob("*.sql")))
    assert f"applied {count} migration(s)" in res.err

    res = run_cli(*base, "parity", "--postgres", pg_url, "--json")
    assert res.code == 0, res.out[-3000:] + res.err
    report = json.loads(res.out)["reports"][0]
    assert report["differences"] == []
    assert [f for f in report["findings"] if f["severity"] != "note"] == []
    assert len(report["expected"]["tables"]) >= 3
    if name in NOTES:
        got = [(f["file"][:15], f["line"], f["construct"]) for f in report["findings"]]
        assert got == NOTES[name]
    if (src / "rollback").is_dir():  # its rollback undoes it, on a scratch copy
        res = run_cli(*base, "test")
        assert res.code == 0 and f"{count} of {count} migration(s) apply, roll back" in res.err
