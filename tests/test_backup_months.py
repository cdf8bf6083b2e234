"""The backup store over months of real use: the CLI as a real process on real SQLite files
and a real PostgreSQL cluster (a store reached by several spellings of one database, manifests
by the hundred, processes killed or out of disk half way)."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import psycopg

from tests.fixtures_core import popen_cli, run_cli
from tests.fixtures_pg import PgCluster


def test_a_password_in_the_url_neither_names_the_store_nor_parts_its_backups(
    tmp_path: Path, pg_cluster: PgCluster, pg_password_role: tuple[str, str], pg_password_db: str
) -> None:
    # One database, its password given three ways (cron's PGPASSWORD, a pasted `user:pw@`,
    # `?password=`): `?password=` named its store `…_password`, and a backup made with the
    # password in the URL was listed, under PGPASSWORD, as "of other databases".
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
