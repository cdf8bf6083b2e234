"""What earlier versions of the tool left behind, met by this one: backup stores, tool tables,
sync state and incident state as those versions really wrote them (captured once into
``tests/fixtures/upgrade/``, whose README says which commit made each file and how), loaded
into real databases and read by the current CLI."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from pathlib import Path

from tests.fixtures_core import run_cli
from tests.fixtures_d1 import D1Target

FIXTURES = Path(__file__).parent / "fixtures" / "upgrade"


def _render(name: str, **values: str) -> str:
    text = (FIXTURES / name).read_text(encoding="utf-8")
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


def test_backups_an_earlier_version_made_of_a_long_url_are_still_listed_and_restored(
    tmp_path: Path,
) -> None:
    # Before 2026-12-06 a database given by --database had its store named after its URL cut
    # at 80 characters; since then a long one ends in a hash. Upgraded, the operator's
    # `backup list` said "no backups" and `recover` found none, every one of them still on disk.
    deep = tmp_path / "sekolah-malnu-kananga" / "production-databases" / "school-platform-2026"
    deep.mkdir(parents=True)
    db = deep / "primary-region-main.db"
    url = f"sqlite:///{db}"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE t (v TEXT)")
    conn.execute("INSERT INTO t VALUES ('NEW')")
    conn.commit()
    conn.close()
    # The folder as db29291 named it (config._slug: the masked URL's slug, cut at 80).
    cut = re.sub(r"[^A-Za-z0-9._-]+", "_", url).strip("_")[:80]
    store = tmp_path / "backups" / cut
    store.mkdir(parents=True)
    backup_id = "20261206T123201987987Z-bfbd5a"
    shutil.copy(FIXTURES / "db29291_long_url_backup.sqlite", store / f"{backup_id}.sqlite")
    manifest = _render("db29291_long_url_backup.json", ROOT=str(tmp_path), CUT=cut)
    (store / f"{backup_id}.json").write_text(manifest, encoding="utf-8")
    env = {"MALNU_BACKUP_DIR": str(tmp_path / "backups")}
    target = ("--database", url)

    listed = run_cli(*target, "backup", "list", "--json", env=env)
    assert listed.code == 0, listed.err
    assert [b["id"] for b in json.loads(listed.out)] == [backup_id]
    restored = run_cli(*target, "backup", "restore", backup_id, "--yes", env=env)
    assert restored.code == 0, restored.err
    assert [r[0] for r in sqlite3.connect(db).execute("SELECT v FROM t")] == ["OLD"]
    # The safety backup taken before the restore joined the old ones, in the same store.
    after = run_cli(*target, "backup", "list", "--json", env=env)
    assert len(json.loads(after.out)) == 2 and sorted(p.name for p in store.parent.iterdir()) == [
        cut
    ]


def test_the_store_a_password_query_parameter_named_is_still_the_databases(tmp_path: Path) -> None:
    # Before session 12 `?password=` named the store `…_password` (mask_url's spelling); the
    # store's name no longer holds the password, and an upgraded operator's store was orphaned.
    from malnu_tui.engine.config import url_slug, url_store

    url = "postgresql://guru@db.sekolah.sch.id:5432/rapor?password=Rahasia%2B1&sslmode=require"
    earlier = tmp_path / "postgresql_guru_db.sekolah.sch.id_5432_rapor_password_sslmode_require"
    assert url_store(tmp_path, url) == tmp_path / url_slug(url) != earlier
    earlier.mkdir()
    assert url_store(tmp_path, url) == earlier
    (tmp_path / url_slug(url)).mkdir()  # once today's folder is there, it is the store
    assert url_store(tmp_path, url) == tmp_path / url_slug(url)


def test_a_sync_of_every_table_leaves_the_staging_table_of_a_killed_d1_import(
    d1: D1Target, tmp_path: Path
) -> None:
    # An import into D1 stages its rows in malnu_stage_<hex>, dropped by its last batch; one
    # killed (here by de30483) left it until the next import. A pair naming no tables copied
    # it to the reporting database as a table of its own, 14,012 half-imported rows.
    conn = sqlite3.connect(d1.db.path)
    conn.executescript((FIXTURES / "de30483_d1_killed_import.sql").read_text(encoding="utf-8"))
    conn.close()
    copy = tmp_path / "copy.db"
    ends = ("sync", "--from", d1.url, "--to", f"sqlite:///{copy}")

    res = run_cli(*ends, "--yes", "--json", env=d1.env)
    assert res.code == 0, res.err
    assert [r["table"] for r in json.loads(res.out)] == ["siswa"]
    tables = {r[0] for r in sqlite3.connect(copy).execute("SELECT name FROM sqlite_master")}
    assert not {t for t in tables if t.startswith("malnu_stage_")}, tables
    checked = run_cli(*ends[:1], "verify", *ends[1:], "--json", env=d1.env)
    assert checked.code == 0 and [r["table"] for r in json.loads(checked.out)] == ["siswa"]
