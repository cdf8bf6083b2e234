"""What earlier versions of the tool left behind, met by this one: backup stores, tool tables,
sync state and incident state as those versions really wrote them (captured once into
``tests/fixtures/upgrade/``, whose README says which commit made each file and how), loaded
into real databases and read by the current CLI."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import uuid
from pathlib import Path

import psycopg

from tests.fixtures_core import run_cli
from tests.fixtures_d1 import D1Target
from tests.fixtures_pg import PgCluster

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
    cut = _cut_slug(url)
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


def test_dry_runs_leave_an_earlier_versions_tables_and_a_new_database_as_they_were(
    tmp_path: Path,
) -> None:
    # `import --dry-run` and `sync --dry-run` say "nothing was written"; their look for a
    # half-done recover read the trail through a command that may write: the tool tables of
    # the first release were upgraded (lock purpose column, audit index) and a destination that
    # never had them got them.
    old, fresh = tmp_path / "old.db", tmp_path / "fresh.db"
    conn = sqlite3.connect(old)
    conn.executescript((FIXTURES / "84e3c15_sqlite_tool_tables.sql").read_text(encoding="utf-8"))
    conn.close()
    sqlite3.connect(fresh).close()
    schema = "SELECT type, name, sql FROM sqlite_master ORDER BY name"
    before = sqlite3.connect(old).execute(schema).fetchall()
    (tmp_path / "u.csv").write_text("email,name\nsiti@sekolah.id,Siti\n", encoding="utf-8")

    imported = run_cli(
        "--database", f"sqlite:///{old}", "import", str(tmp_path / "u.csv"), "--table", "users",
        "--dry-run",
    )  # fmt: skip
    synced = run_cli(
        "sync", "--from", f"sqlite:///{old}", "--to", f"sqlite:///{fresh}", "--tables", "users",
        "--dry-run",
    )  # fmt: skip
    assert imported.code == 0 and synced.code == 0, imported.err + synced.err
    assert "nothing was written" in imported.err and "nothing was written" in synced.err
    assert sqlite3.connect(old).execute(schema).fetchall() == before
    assert sqlite3.connect(fresh).execute(schema).fetchall() == []


def _deep_source(tmp_path: Path) -> Path:
    """A SQLite source whose URL is over 80 characters (an earlier version cut its slug
    there): ``users`` (id, name) holding Ahmad."""
    deep = tmp_path / "sekolah-malnu-kananga" / "production-databases" / "school-platform-2026"
    deep.mkdir(parents=True)
    src = deep / "primary-region-main.db"
    conn = sqlite3.connect(src)
    conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
    conn.execute("INSERT INTO users VALUES (1, 'Ahmad')")
    conn.commit()
    conn.close()
    return src


def _cut_slug(url: str) -> str:
    """db29291's name for a long URL: its slug cut at 80 characters."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", url).strip("_")[:80]


def test_the_first_sync_after_an_upgrade_resumes_a_copy_an_earlier_version_made_from_a_url(
    tmp_path: Path,
) -> None:
    # A copy synced `--from` a database URL records its source by the URL's slug; an earlier
    # version cut a long one at 80 characters (and spelt `?password=` into it). Upgraded, the
    # next sync said "last synced from …: a full pass" and copied the whole table again.
    src, copy = _deep_source(tmp_path), tmp_path / "copy.db"
    url = f"sqlite:///{src}"
    conn = sqlite3.connect(src)
    conn.execute("ALTER TABLE users ADD COLUMN updated_at TEXT NOT NULL DEFAULT ''")
    conn.execute("UPDATE users SET updated_at = '2026-11-01 07:00:00'")
    conn.execute("INSERT INTO users VALUES (2, 'Siti Aminah', '2026-12-01 07:00:00')")  # edited
    conn.commit()
    conn.close()
    cut = _cut_slug(url)
    conn = sqlite3.connect(copy)
    conn.executescript(_render("db29291_sync_state_long_url.sql", CUT=cut))
    conn.close()

    res = run_cli(
        "sync", "--from", url, "--to", f"sqlite:///{copy}", "--tables", "users", "--yes", "--json"
    )
    assert res.code == 0, res.err
    assert "a full pass" not in res.err
    [report] = json.loads(res.out)
    assert (report["mode"], report["read"], report["updated"]) == ("updated_at", 1, 1), report
    assert sqlite3.connect(copy).execute("SELECT name FROM users WHERE id = 2").fetchone() == (
        "Siti Aminah",
    )


def test_an_earlier_versions_postgresql_backup_and_scratch_databases_after_the_upgrade(
    tmp_path: Path, pg_cluster: PgCluster, pg_url: str
) -> None:
    # Up to session 8 a target with schema = "malnu" also got empty tool tables in public; its
    # backups hold them and their manifests leave them out. Upgraded, every deep verification
    # failed (row counts, schema hash), the backup was marked unverified, and `recover` and
    # `check` no longer counted it; its restore, sound, said "warning: the restored schema
    # hash differs from the manifest" and audited the restore as a warning.
    # Before session 12 (verify) and 13 (rehearse) a scratch database was named by ten hex
    # digits, no process or host: one such a run left when killed (a whole copy of the
    # school's data, PUBLIC may connect) stayed on the server for ever after the upgrade, as
    # the next deep verify dropped only the names of its own form. One a session is on (an
    # older copy of the tool still running) is left to it.
    store = tmp_path / "backups" / "analytics"
    store.mkdir(parents=True)
    backup_id = "20261206T125839767899Z-be62b0"
    shutil.copy(FIXTURES / "de30483_pg_tool_schema_backup.dump", store / f"{backup_id}.dump")
    manifest = _render("de30483_pg_tool_schema_backup.json", URL=pg_url)
    (store / f"{backup_id}.json").write_text(manifest, encoding="utf-8")
    config = tmp_path / "malnu.toml"
    config.write_text(
        f'[targets.analytics]\nurl = "{pg_url}"\nschema = "malnu"\nbackup_dir = "{store}"\n',
        encoding="utf-8",
    )

    left, busy = (f"malnu_{kind}_{uuid.uuid4().hex[:10]}" for kind in ("verify", "rehearse"))
    with psycopg.connect(pg_cluster.superuser_url, autocommit=True) as admin:
        for name in (left, busy):
            admin.execute(f'CREATE DATABASE "{name}"')
        try:
            with psycopg.connect(pg_cluster.url(busy)):
                res = run_cli("--config", str(config), "backup", "verify", backup_id, "--deep")
            there = {r[0] for r in admin.execute("SELECT datname FROM pg_database").fetchall()}
        finally:
            for name in (left, busy):
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    assert res.code == 0, res.err
    assert f"backup {backup_id} is good" in res.err
    assert json.loads((store / f"{backup_id}.json").read_text())["verified_at"] is not None
    assert f"dropped {left}, left by an earlier version's verify" in res.err, res.err
    assert left not in there and busy in there

    res = run_cli("--config", str(config), "backup", "restore", backup_id, "--yes")
    assert res.code == 0, res.err
    assert "differs" not in res.err, res.err
    trail = run_cli("--config", str(config), "--json", "log", "--action", "restore")
    assert [e["outcome"] for e in json.loads(trail.out)] == ["ok"], trail.out


def test_a_failed_sync_an_earlier_version_named_by_the_cut_url_is_past_after_a_good_one(
    tmp_path: Path,
) -> None:
    # A sync from a database given by URL is the run `<source slug>->copy`; an earlier version
    # cut a long slug at 80 characters. Its failed sync stayed `check`'s CRITICAL "failed
    # sync" for ever after the upgrade: every later sync, good, is recorded under today's name.
    src, copy = _deep_source(tmp_path), tmp_path / "copy.db"
    url = f"sqlite:///{src}"
    check = ("--database", f"sqlite:///{copy}", "check")
    assert run_cli("--database", f"sqlite:///{copy}", "status").code == 0  # its tool tables
    from malnu_tui.engine.config import url_slug

    cut = _cut_slug(url)
    pair = f"{cut}->{url_slug(f'sqlite:///{copy}')}"
    detail = {"run": 1, "op": "sync", "object": pair, "started_at":
              "2026-12-05 10:00:00", "ended_at": "2026-12-05 10:00:01", "duration_ms": 900,
              "error": "cannot connect", "counts": {}}  # fmt: skip
    conn = sqlite3.connect(copy)
    conn.execute(
        "INSERT INTO malnu_audit (at, actor, action, object, outcome, detail) VALUES "
        "('2026-12-05 10:00:01', 'ops@sekolah', 'run', ?, 'failed', ?)",
        (f"sync {pair}", json.dumps(detail)),
    )
    conn.commit()
    conn.close()
    assert "failed_syncs CRITICAL" in run_cli(*check).out

    res = run_cli("sync", "--from", url, "--to", f"sqlite:///{copy}", "--yes")
    assert res.code == 0, res.err
    after = run_cli(*check).out
    assert "failed_syncs OK" in after and "failed sync" not in after, after
