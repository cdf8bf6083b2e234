"""The backup store over months of real use: the CLI as a real process on real SQLite files
and a real PostgreSQL cluster (a store reached by several spellings of one database, manifests
by the hundred, processes killed or out of disk half way)."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest

from tests.fixtures_core import MigrationDirs, popen_cli, run_cli
from tests.fixtures_pg import PgCluster


def test_a_password_in_the_url_neither_names_the_store_nor_parts_its_backups(
    tmp_path: Path, pg_cluster: PgCluster, pg_password_role: tuple[str, str], pg_password_db: str
) -> None:
    # One database, its password given three ways (cron's PGPASSWORD, a pasted `user:pw@`,
    # `?password=`): `?password=` named its store `…_password`, and a backup made with the
    # password in the URL was listed, under PGPASSWORD, as "of other databases". Nor does
    # the `?lock_timeout=60s` a restore is given part them.
    role, password = pg_password_role
    where = f"{pg_cluster.host}:{pg_cluster.port}/{pg_password_db}"
    bare = f"postgresql://{role}@{where}"
    env = {"MALNU_BACKUP_DIR": str(tmp_path / "backups")}
    spellings = [
        (f"{bare}?password={quote(password, safe='')}", env),
        (f"postgresql://{role}:{quote(password, safe='')}@{where}", env),
        (bare, {**env, "PGPASSWORD": password}),
    ]
    for url, how in spellings:
        made = run_cli("--database", url, "backup", "create", env=how)
        assert made.code == 0, made.err
    stores = [p.name for p in (tmp_path / "backups").iterdir()]
    assert len(stores) == 1 and "password" not in stores[0], stores
    spellings.append((f"{bare}?lock_timeout=60s", {**env, "PGPASSWORD": password}))
    for url, how in spellings:
        listed = run_cli("--database", url, "--json", "backup", "list", env=how)
        assert listed.code == 0 and "other databases" not in listed.err, listed.err
        assert len(json.loads(listed.out)) == 3, listed.out
    assert password not in json.dumps(stores) + listed.out + listed.err


def _pg_dump_of(parent: int) -> int | None:
    """The pid of the ``pg_dump`` child of ``parent`` that dumps (not its ``--version``)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text()
                argv = (entry / "cmdline").read_bytes().split(b"\0")
                if int(stat.rsplit(")", 1)[1].split()[1]) == parent and any(
                    a.startswith(b"--snapshot=") for a in argv
                ):
                    return int(entry.name)
    return None


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie has ended: only its exit status is left)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _until(what: Callable[[], object], seconds: float = 30) -> object:
    deadline = time.monotonic() + seconds
    while not (found := what()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return found


def test_a_backup_killed_outright_takes_its_pg_dump_with_it(pg_url: str) -> None:
    # SIGKILL (the OOM killer, `kill -9`) of `backup create`: its pg_dump kept dumping for
    # minutes, a share lock held on every table (the next `up`'s ALTER TABLE queued behind
    # it), into a temp file the store's sweep removes. Here pg_dump waits on a table an
    # application holds (lock_timeout = 0: for ever), so it is surely still running when the
    # CLI is killed.
    with psycopg.connect(pg_url, autocommit=True) as app:
        app.execute("CREATE TABLE kelas (id int)")
        app.execute("BEGIN")
        app.execute("LOCK TABLE kelas IN ACCESS EXCLUSIVE MODE")
        cli = popen_cli("--database", f"{pg_url}?lock_timeout=0", "backup", "create")
        try:
            dump = _until(lambda: _pg_dump_of(cli.pid))
            assert isinstance(dump, int), cli.poll()
            waiting = "SELECT 1 FROM pg_stat_activity WHERE application_name = 'pg_dump' AND "
            waiting += "wait_event_type = 'Lock' AND datname = current_database()"
            with psycopg.connect(pg_url, autocommit=True) as look:
                assert _until(lambda: look.execute(waiting).fetchone()), cli.poll()
            cli.kill()
            cli.communicate()
            assert _until(lambda: not _running(dump)), "pg_dump outlived the killed backup"
        finally:
            app.execute("ROLLBACK")  # without the fix, the orphan then finishes and ends
            cli.kill()
            cli.communicate()


def test_one_manifest_edited_out_of_range_does_not_break_the_store(tmp_path: Path) -> None:
    # A manifest holding a count no integer can be (`1e400`, `Infinity`, which Python's JSON
    # reads) or nested past the parser's depth (a foreign file under a manifest's name) was a
    # traceback in every command that reads the store (`backup list`, `check`, `prune`,
    # `recover`, the safety backups' listing): now it is said and left out, as any corrupt one.
    db = tmp_path / "app.db"
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("CREATE TABLE siswa (id INTEGER PRIMARY KEY)")
    env = {"MALNU_BACKUP_DIR": str(tmp_path / "backups")}
    made = run_cli("--database", f"sqlite:///{db}", "backup", "create", env=env)
    assert made.code == 0, made.err
    (store,) = (tmp_path / "backups").iterdir()
    good = json.loads((store / f"{made.out.strip()}.json").read_text())
    bad = "20260101T000000000000Z-0000a1"
    (store / f"{bad}.json").write_text(
        json.dumps({**good, "id": bad, "file": f"{bad}.sqlite", "row_counts": {"siswa": 1e400}})
    )
    (store / "20260101T000000000000Z-0000a2.json").write_text("[" * 100_000)
    listed = run_cli("--database", f"sqlite:///{db}", "--json", "backup", "list", env=env)
    assert listed.code == 0, listed.err
    assert [m["id"] for m in json.loads(listed.out)] == [good["id"]]
    assert f"backup {bad} is not listed" in listed.err and "0000a2 is not listed" in listed.err


def test_a_store_remounted_read_only_stops_up_before_anything_runs(
    mdirs: MigrationDirs, tmp_path: Path
) -> None:
    # A backup disk remounted read-only after I/O errors (ext4's errors=remount-ro): the store
    # is there, it cannot be written. `up`'s safety backup was `[Errno 30] Read-only file
    # system: '…/.tmp-…'` (exit 1); now the one line and exit 2 a missing store gets, the
    # migration not run. A real read-only tmpfs (needs root: the suite runs as root on CI).
    small = tmp_path / "small"
    small.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(small)]
    if os.geteuid() != 0 or subprocess.run(mount, capture_output=True).returncode:
        pytest.skip("mounting a tmpfs needs root")
    try:
        db = tmp_path / "app.db"
        mdirs.add(
            "20261201000000", "kelas", "CREATE TABLE kelas (id INTEGER);", "DROP TABLE kelas;"
        )
        base = ["--database", f"sqlite:///{db}", *mdirs.args()]
        env = {"MALNU_BACKUP_DIR": str(small)}
        assert run_cli(*base, "backup", "create", env=env).code == 0
        subprocess.run(["mount", "-o", "remount,ro", str(small)], check=True)
        res = run_cli(*base, "up", "--yes", env=env)
        assert res.code == 2, res.err
        assert "as the backup store: Read-only file system; nothing was changed" in res.err
        assert "Traceback" not in res.err and "Errno" not in res.err
        with contextlib.closing(sqlite3.connect(db)) as conn:
            assert not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'kelas'").fetchall()
    finally:
        subprocess.run(["umount", str(small)], check=True)
