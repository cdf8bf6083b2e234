"""Tables whose names LIKE's unescaped `_` took for SQLite's or D1's own (`scf_nilai`, `acf_log`:
2nd-3rd letters "cf" matched `_cf_%`), and backups an earlier version made under that rule."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

from tests.fixtures_core import run_cli
from tests.fixtures_d1 import D1Target

SCHOOL = """
CREATE TABLE nilai (id INTEGER PRIMARY KEY, skor INTEGER);
CREATE TABLE scf_nilai (id INTEGER PRIMARY KEY, skor INTEGER);
INSERT INTO nilai VALUES (1, 90);
INSERT INTO scf_nilai VALUES (1, 70), (2, 75), (3, 80);
"""
# The unescaped rule of versions before session 12, as their manifests were made by it.
OLD_SCHEMA = (
    "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE sql IS NOT NULL "
    "AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' "
    "AND tbl_name NOT IN ('migrations', 'malnu_audit', 'malnu_lock') ORDER BY type, name"
)


def _as_an_earlier_version_made_it(store: Path, db: Path, **more: object) -> str:
    """The store's one manifest rewritten as a version before session 12 wrote it: version 1,
    no count of `scf_nilai`, the schema hash without it. Returns the backup's id."""
    (path,) = store.rglob("*.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["row_counts"] == {"nilai": 1, "scf_nilai": 3}  # counted now
    rows = sqlite3.connect(db).execute(OLD_SCHEMA).fetchall()
    text = "\n".join(f"{r[0]}|{r[1]}|{r[2]}|{' '.join(str(r[3]).split())}" for r in rows)
    data.update(
        manifest_version=1,
        row_counts={"nilai": 1},
        schema_hash=hashlib.sha256(text.encode()).hexdigest(),
        **more,
    )
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(data["id"])


def test_a_table_named_like_d1s_own_is_a_table_and_earlier_backups_still_verify(
    tmp_path: Path,
) -> None:
    db = tmp_path / "sekolah.db"
    sqlite3.connect(db).executescript(SCHOOL)
    (tmp_path / "n.csv").write_text("id,skor\n4,85\n", encoding="utf-8")
    env = {"MALNU_BACKUP_DIR": str(tmp_path / "store")}
    target = ("--database", f"sqlite:///{db}")

    imported = run_cli(*target, "import", str(tmp_path / "n.csv"), "--table", "scf_nilai",
                       "--dry-run")  # fmt: skip
    assert imported.code == 0, imported.err  # was: error: no table 'scf_nilai'
    made = run_cli(*target, "backup", "create", env=env)
    assert made.code == 0, made.err
    backup_id = _as_an_earlier_version_made_it(tmp_path / "store", db)
    # Compared as it was counted: not "scf_nilai: 3 in the copy, None in the manifest".
    deep = run_cli(*target, "backup", "verify", "--deep", backup_id, env=env)
    restored = run_cli(*target, "backup", "restore", backup_id, "--yes", env=env)
    assert deep.code == 0 and restored.code == 0, deep.out + deep.err + restored.err
    trail = sqlite3.connect(db).execute("SELECT detail FROM malnu_audit WHERE action = 'restore'")
    assert "differs" not in str(trail.fetchall())  # its hash made as the manifest's was


def test_d1_restore_replaces_a_table_named_like_d1s_own(d1: D1Target, tmp_path: Path) -> None:
    conn = sqlite3.connect(d1.db.path)
    conn.executescript(SCHOOL)
    conn.close()
    env = {**d1.env, "MALNU_BACKUP_DIR": str(tmp_path / "store")}
    made = run_cli("--database", d1.url, "backup", "create", env=env)
    assert made.code == 0, made.err
    # No bookmark (D1 keeps them 30 days): the restore imports the dump.
    backup_id = _as_an_earlier_version_made_it(
        tmp_path / "store", Path(d1.db.path), native_restore_point=None
    )
    d1.server.sql(d1.db, "DELETE FROM scf_nilai WHERE id = 3")

    deep = run_cli("--database", d1.url, "backup", "verify", "--deep", backup_id, env=env)
    restored = run_cli("--database", d1.url, "backup", "restore", backup_id, "--yes", env=env)
    # The restore dropped scf_nilai before loading the dump (it was left: "table scf_nilai
    # already exists"), and its hash is the manifest's, made by the earlier rule.
    assert deep.code == 0 and restored.code == 0, deep.out + deep.err + restored.err
    assert d1.sql("SELECT count(*) FROM scf_nilai") == [(3,)]
    trail = d1.sql("SELECT outcome, detail FROM malnu_audit WHERE action = 'restore'")
    assert {r[0] for r in trail} == {"ok"} and "differs" not in str(trail), trail
