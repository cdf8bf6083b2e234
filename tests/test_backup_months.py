"""The backup store over months of real use: the CLI as a real process on real SQLite files
and a real PostgreSQL cluster (a store reached by several spellings of one database, manifests
by the hundred, processes killed or out of disk half way)."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest

from tests.fixtures_core import CLI, MigrationDirs, popen_cli, run_cli
from tests.fixtures_d1 import D1Target
from tests.fixtures_pg import PgCluster


@contextlib.contextmanager
def _small_tmpfs(where: Path, size: str) -> Iterator[Path]:
    """A real small tmpfs mounted at ``where`` for the test (a disk that fills or goes
    read-only); needs root, as the suite has on CI."""
    where.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)]
    if os.geteuid() != 0 or subprocess.run(mount, capture_output=True).returncode:
        pytest.skip("mounting a tmpfs needs root")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=True)


def test_a_password_in_the_url_neither_names_the_store_nor_parts_its_backups(
    tmp_path: Path, pg_cluster: PgCluster, pg_password_role: tuple[str, str], pg_password_db: str
) -> None:
    # One database, its password given three ways (cron's PGPASSWORD, a pasted `user:pw@`,
    # `?password=`): `?password=` named its store `…_password`, and a backup made with the
    # password in the URL was listed, under PGPASSWORD, as "of other databases". Nor does
    # the `?lock_timeout=60s` a restore is given part them, nor Heroku's `postgres://`.
    role, password = pg_password_role
    where = f"{pg_cluster.host}:{pg_cluster.port}/{pg_password_db}"
    env = {"MALNU_BACKUP_DIR": str(tmp_path / "backups")}
    secret = quote(password, safe="")
    for url in (
        f"postgresql://{role}@{where}?password={secret}",
        f"postgresql://{role}:{secret}@{where}",
    ):
        made = run_cli("--database", url, "backup", "create", env=env)
        assert made.code == 0, made.err
    stores = [p.name for p in (tmp_path / "backups").iterdir()]
    assert len(stores) == 1 and "password" not in stores[0], stores
    with_pgpassword = {**env, "PGPASSWORD": password}
    for url in (f"postgresql://{role}@{where}", f"postgres://{role}@{where}?lock_timeout=60s"):
        listed = run_cli("--database", url, "--json", "backup", "list", env=with_pgpassword)
        assert listed.code == 0 and "other databases" not in listed.err, listed.err
        assert len(json.loads(listed.out)) == 2, listed.out
    assert password not in json.dumps(stores) + listed.out + listed.err


def test_a_default_port_or_a_host_in_capitals_names_no_store_of_its_own(tmp_path: Path) -> None:
    # `…@db.sekolah.sch.id/app` and `…@DB.sekolah.sch.id:5432/app` are one database (what
    # `backup list` names as its store is read without connecting).
    env = {"MALNU_BACKUP_DIR": str(tmp_path / "backups")}
    stores = set()
    for url in (
        "postgresql://app@db.sekolah.sch.id/app",
        "postgres://app@DB.sekolah.sch.id:5432/app",
    ):
        res = run_cli("--database", url, "backup", "list", env=env)
        assert res.code == 0, res.err
        stores.add(res.err.strip())
    assert stores == {f"no backups in {tmp_path}/backups/postgresql_app_db.sekolah.sch.id_app"}


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
    with _small_tmpfs(tmp_path / "small", "1m") as small:
        db = tmp_path / "app.db"
        sqlite3.connect(db).close()
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


def test_a_restore_from_a_store_remounted_read_only_says_so_first_and_how_to_restore(
    tmp_path: Path,
) -> None:
    # The backup disk remounted read-only at 2 a.m.: the backups are there, readable, but a
    # restore writes into the store (its copy of the backup, the pre-restore backup). It
    # verified, then stopped on `cannot copy backup … Read-only file system`, exit 1, and the
    # backup's hint (set the store elsewhere) leaves the backups behind. Now it is the store's
    # one line first (exit 2, nothing done), with the way that works: restore from a copy.
    with _small_tmpfs(tmp_path / "small", "1m") as small:
        db = tmp_path / "app.db"
        with contextlib.closing(sqlite3.connect(db)) as conn, conn:
            conn.execute("CREATE TABLE siswa (id INTEGER PRIMARY KEY)")
            conn.execute("INSERT INTO siswa VALUES (1)")
        base = ["--database", f"sqlite:///{db}"]
        made = run_cli(*base, "backup", "create", env={"MALNU_BACKUP_DIR": str(small)})
        assert made.code == 0, made.err
        with contextlib.closing(sqlite3.connect(db)) as conn, conn:
            conn.execute("DELETE FROM siswa")
        subprocess.run(["mount", "-o", "remount,ro", str(small)], check=True)
        res = run_cli(*base, "backup", "restore", made.out.strip(), "--yes",
                      env={"MALNU_BACKUP_DIR": str(small)})  # fmt: skip
        assert res.code == 2, res.err
        assert "as the backup store: Read-only file system; nothing was changed" in res.err
        assert "hint: restore from a copy on a disk this user can write: `cp -a " in res.err
        assert "verifying" not in res.err and "Errno" not in res.err, res.err
        (store,) = small.iterdir()
        copy = tmp_path / "writable"
        copy.mkdir()
        subprocess.run(["cp", "-a", str(store), str(copy)], check=True)
        res = run_cli(*base, "backup", "restore", made.out.strip(), "--yes",
                      env={"MALNU_BACKUP_DIR": str(copy)})  # fmt: skip
        assert res.code == 0, res.err
        with contextlib.closing(sqlite3.connect(db)) as conn:
            assert conn.execute("SELECT id FROM siswa").fetchall() == [(1,)]


def _cli_in(folder: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``malnu-tui ARGS`` as a real process whose working directory is ``folder`` (forked
    from the CLI fork server, as ``run_cli`` runs it)."""
    res = run_cli(*args, env=env, cwd=folder)
    return subprocess.CompletedProcess(list(args), res.code, res.out, res.err)


def test_a_relative_sqlite_path_in_two_schools_folders_is_two_databases(tmp_path: Path) -> None:
    # `--database sqlite:app.db`, run in /srv/sman1 and in /srv/sman2 (cron's WorkingDirectory):
    # both stores were named `sqlite_app.db` and both manifests said `sqlite:app.db`, so the
    # second school's `recover` restored the first school's backup over its database. A
    # backup now records, and its store is named by, the file's absolute path.
    env = {"MALNU_BACKUP_DIR": str(tmp_path / "backups")}
    for school in ("sman1", "sman2"):
        (tmp_path / school).mkdir()
        with contextlib.closing(sqlite3.connect(tmp_path / school / "app.db")) as conn, conn:
            conn.execute("CREATE TABLE siswa (nama TEXT)")
            conn.execute("INSERT INTO siswa VALUES (?)", (school,))
    made = _cli_in(tmp_path / "sman1", "--database", "sqlite:app.db", "backup", "create", env=env)
    assert made.returncode == 0, made.stderr
    # The same backup as an earlier version left it: in `sqlite_app.db`, naming `sqlite:app.db`
    # (which folder's, it cannot say): the second school falls back to that store, and must
    # not take it for its own.
    bid = made.stdout.strip()
    (new,) = (tmp_path / "backups").iterdir()
    old = tmp_path / "backups" / "sqlite_app.db"
    old.mkdir()
    (old / f"{bid}.sqlite").write_bytes((new / f"{bid}.sqlite").read_bytes())
    legacy = json.loads((new / f"{bid}.json").read_text())
    legacy.update(target="sqlite:app.db", target_name="sqlite_app.db")
    (old / f"{bid}.json").write_text(json.dumps(legacy))
    other = _cli_in(
        tmp_path / "sman2",
        "--database",
        "sqlite:app.db",
        "recover",
        "--to",
        "now",
        "--yes",
        env=env,
    )
    assert other.returncode == 1 and "no verified backup" in other.stderr, other.stderr
    with contextlib.closing(sqlite3.connect(tmp_path / "sman2" / "app.db")) as conn:
        assert conn.execute("SELECT nama FROM siswa").fetchall() == [("sman2",)]
    url = f"sqlite:///{tmp_path}/sman1/app.db"
    mine = run_cli("--database", url, "--json", "backup", "list", env=env)
    assert [m["target"] for m in json.loads(mine.out)] == [f"sqlite://{tmp_path}/sman1/app.db"]


def test_a_bare_sqlite_path_is_the_same_database_as_its_sqlite_url(tmp_path: Path) -> None:
    # README "Configuration": a bare `*.db` path is a SQLite URL. Its backups were recorded
    # as typed (`app.db`: no folder, so no database's) in a store of that name: `backup list`
    # of the same `--database app.db` called its own backup another database's, `recover`
    # skipped it ("a backup of app.db, not this database"), and `sqlite:///…/app.db` or the
    # absolute path (a second store) never saw it.
    env = {"MALNU_BACKUP_DIR": str(tmp_path / "backups")}
    school = tmp_path / "sman1"
    school.mkdir()
    with contextlib.closing(sqlite3.connect(school / "app.db")) as conn, conn:
        conn.execute("CREATE TABLE siswa (nama TEXT)")
    made = _cli_in(school, "--database", "app.db", "backup", "create", env=env)
    assert made.returncode == 0, made.stderr
    for spelt in ("app.db", str(school / "app.db"), f"sqlite:///{school}/app.db"):
        mine = _cli_in(school, "--database", spelt, "--json", "backup", "list", env=env)
        assert mine.returncode == 0, mine.stderr
        listed = [(m["id"], m["target"]) for m in json.loads(mine.stdout)]
        assert listed == [(made.stdout.strip(), f"sqlite://{school}/app.db")], (spelt, listed)
    plan = _cli_in(school, "--database", "app.db", "recover", "--to", "now", "--dry-run", env=env)
    assert plan.returncode == 0 and made.stdout.strip() in plan.stdout, plan.stderr


def test_a_backup_of_a_mistyped_sqlite_path_is_refused_not_an_empty_new_database(
    tmp_path: Path,
) -> None:
    # cron's `sqlite:///srv/sekolah/app.db` where the file is elsewhere: `backup create` made
    # the folder and a new empty database there, and said its backup was "checked" (exit 0),
    # every hour, for months.
    missing = tmp_path / "sekolah" / "app.db"
    env = {"MALNU_BACKUP_DIR": str(tmp_path / "backups")}
    res = run_cli("--database", f"sqlite:///{missing}", "backup", "create", env=env)
    assert res.code == 2 and f"database file {missing} does not exist" in res.err, res.err
    assert not missing.parent.exists() and not (tmp_path / "backups").exists()


def test_a_disk_that_fills_during_ups_pg_dump_stops_up_in_one_line(
    mdirs: MigrationDirs, pg_url: str, tmp_path: Path
) -> None:
    # The backup disk fills while `up`'s safety backup runs: a real file size limit on the
    # process (RLIMIT_FSIZE; pg_dump, which does not ignore SIGXFSZ as Python does, is killed by
    # it). It said `pg_dump failed (killed by SIGXFSZ (…)): ` and stopped there, not whether
    # anything had run.
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE siswa AS SELECT g AS id, md5(g::text) AS nama"
            " FROM generate_series(1, 20000) g"
        )
    mdirs.add("20261201000000", "kelas", "CREATE TABLE kelas (id int);", "DROP TABLE kelas;")
    store = tmp_path / "backups"
    limit = 64 * 1024

    def small_disk() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    res = subprocess.run(
        [*CLI, "--database", pg_url, *mdirs.args(), "up", "--yes"],
        env={**os.environ, "MALNU_BACKUP_DIR": str(store)},
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
        preexec_fn=small_disk,
    )
    assert res.returncode == 1, res.stderr
    error = next(line for line in res.stderr.splitlines() if line.startswith("error: "))
    assert error.startswith("error: pg_dump failed (killed by SIGXFSZ (file size limit"), error
    assert error.endswith("; no backup was made, " + pg_url.rsplit("/", 1)[1] + " is unchanged")
    assert [p.name for d in store.iterdir() for p in d.iterdir()] == []  # nothing half-written
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT to_regclass('kelas')").fetchone() == (None,)


def test_a_restore_by_a_role_that_does_not_own_a_table_says_whose_it_is(
    pg_cluster: PgCluster, pg_url: str, tmp_path: Path
) -> None:
    # The app's role restores, and a reporting table belongs to another role (made by a DBA):
    # `permission denied for table laporan`, rolled back, and nothing said of why or what to
    # do. The hint now names the owner and the ways through.
    suffix = uuid.uuid4().hex[:8]
    app, report = f"app_{suffix}", f"laporan_{suffix}"
    db = pg_url.rsplit("/", 1)[1]
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {app} LOGIN; CREATE ROLE {report}")
        conn.execute(f"ALTER DATABASE {db} OWNER TO {app}; ALTER SCHEMA public OWNER TO {app}")
        conn.execute(f"CREATE TABLE laporan (id int); ALTER TABLE laporan OWNER TO {report}")
        conn.execute(f"GRANT SELECT ON laporan TO {app}")
    url = pg_cluster.url(db).replace(f"{pg_cluster.user}@", f"{app}@")
    env = {"MALNU_BACKUP_DIR": str(tmp_path / "backups")}
    try:
        made = run_cli("--database", url, "backup", "create", env=env)
        assert made.code == 0, made.err
        res = run_cli("--database", url, "backup", "restore", made.out.strip(), "--yes", env=env)
        assert res.code == 1 and "the database is unchanged" in res.err, res.err
        assert (
            f"hint: laporan belongs to {report}, and {app} (the role restoring) may not replace "
            f"it: restore as {report} or a superuser, or `GRANT {report} TO {app}` first"
        ) in res.err
    finally:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(f"DROP OWNED BY {report}; ALTER DATABASE {db} OWNER TO {pg_cluster.user}")
            conn.execute(f"DROP OWNED BY {app}")
        with psycopg.connect(pg_cluster.superuser_url, autocommit=True) as conn:
            conn.execute(f"DROP ROLE {report}; DROP ROLE {app}")


def _held_restore_table(pg_url: str, seconds: int) -> str:
    """A table whose rows a restore cannot load while the role it returns exists (a CHECK that
    sleeps ``seconds``): create that role, and a scratch restore of a backup of ``pg_url``
    holds there, so a kill surely lands during it."""
    hold = f"hold_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(
            "CREATE FUNCTION slow() RETURNS boolean LANGUAGE sql AS $$ SELECT pg_sleep(CASE WHEN "
            f"EXISTS (SELECT FROM pg_roles WHERE rolname = '{hold}') THEN {seconds} ELSE 0 END) "
            "IS NOT NULL $$"
        )
        conn.execute("CREATE TABLE kelas (id int CHECK (slow())); INSERT INTO kelas VALUES (1)")
    return hold


def test_a_scratch_database_of_a_deep_verify_killed_outright_is_dropped_by_the_next(
    pg_cluster: PgCluster, pg_url: str
) -> None:
    # `backup verify --deep` killed outright (the OOM killer, systemd's SIGKILL after its stop
    # timeout) left its `malnu_verify_…` database, a whole copy of production on the server,
    # for ever. The next deep verify of this host drops it. The scratch restore is held (a
    # CHECK that sleeps while a role `hold` exists) so the kill surely lands during it.
    hold = _held_restore_table(pg_url, 30)
    made = run_cli("--database", pg_url, "backup", "create")
    assert made.code == 0, made.err
    verify = ("--database", pg_url, "backup", "verify", made.out.strip(), "--deep")
    scratch = "SELECT datname FROM pg_database WHERE datname LIKE 'malnu_verify%'"
    with psycopg.connect(pg_cluster.superuser_url, autocommit=True) as look:
        before = {r[0] for r in look.execute(scratch).fetchall()}
        look.execute(f"CREATE ROLE {hold}")
        cli = popen_cli(*verify)
        try:
            left = _until(lambda: {r[0] for r in look.execute(scratch).fetchall()} - before)
            assert isinstance(left, set) and left, cli.poll()
        finally:
            cli.kill()
            cli.communicate()
            look.execute(f"DROP ROLE {hold}")
        again = run_cli(*verify)
        assert again.code == 0, again.err
        assert not left & {r[0] for r in look.execute(scratch).fetchall()}, again.err


def _children(parent: int) -> set[int]:
    """The pids of the live children of ``parent``."""
    found: set[int] = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == parent and _running(int(entry.name)):
                    found.add(int(entry.name))
    return found


def test_a_rehearsal_killed_outright_takes_its_restore_and_its_scratch_database_with_it(
    pg_cluster: PgCluster, pg_url: str, mdirs: MigrationDirs
) -> None:
    # `rehearse` killed outright (the OOM killer, systemd's SIGKILL after its stop timeout)
    # during its restore left its `malnu_rehearse_…` database, a whole copy of production's
    # data, on the server for ever, and its pg_restore | psql running on into it. Now the
    # children die with it, and the next rehearsal from this host drops the database. The
    # scratch restore is held (a CHECK that sleeps while a role `hold` exists).
    hold = _held_restore_table(pg_url, 600)
    base = ("--database", pg_url, *mdirs.args())
    made = run_cli(*base, "backup", "create")
    assert made.code == 0, made.err
    mdirs.add("20261201000000", "nama", "ALTER TABLE kelas ADD COLUMN nama text;")
    scratch = "SELECT datname FROM pg_database WHERE datname LIKE 'malnu_rehearse%'"
    with psycopg.connect(pg_cluster.superuser_url, autocommit=True) as look:
        before = {r[0] for r in look.execute(scratch).fetchall()}
        look.execute(f"CREATE ROLE {hold}")
        cli = popen_cli(*base, "rehearse")
        try:
            sleeping = "SELECT 1 FROM pg_stat_activity WHERE datname LIKE 'malnu_rehearse%' AND "
            sleeping += "wait_event = 'PgSleep'"
            assert _until(lambda: look.execute(sleeping).fetchone()), cli.poll()
            left = {r[0] for r in look.execute(scratch).fetchall()} - before
            children = _children(cli.pid)
            assert left and children, cli.poll()
            cli.kill()
            cli.communicate()
            assert _until(lambda: not any(map(_running, children))), "the restore outlived it"
        finally:
            cli.kill()
            cli.communicate()
            look.execute(f"DROP ROLE {hold}")
        again = run_cli(*base, "rehearse")
        assert again.code == 0, again.err
        (name,) = left
        assert f"dropped {name}, left by a rehearse killed" in again.err
        assert not left & {r[0] for r in look.execute(scratch).fetchall()}, again.err


def test_a_store_filling_up_a_few_pages_short_is_named_as_full(tmp_path: Path) -> None:
    # The backup disk with room for all but the last few pages of the copy of a WAL database:
    # SQLite says SQLITE_IOERR_SHMSIZE ("disk I/O error", the copy's -shm), not FULL, and it
    # was `SQLite backup of <live database> failed: disk I/O error`, which reads as the live
    # database's disk failing.
    # A real small tmpfs (needs root: the suite runs as root on CI).
    with _small_tmpfs(tmp_path / "small", "2m") as small:
        db = tmp_path / "app.db"
        with contextlib.closing(sqlite3.connect(db)) as conn, conn:
            conn.execute("PRAGMA journal_mode = WAL")  # as the school app (and the tool) use it
            conn.execute("CREATE TABLE siswa (nama TEXT)")
            conn.executemany("INSERT INTO siswa VALUES (?)", [("x" * 200,)] * 2500)
        assert run_cli("--database", f"sqlite:///{db}", "status").code == 0  # its tool tables
        store = small / "store"
        store.mkdir(mode=0o700)
        room = os.statvfs(small).f_bavail * os.statvfs(small).f_frsize
        (small / "filler").write_bytes(b"\0" * (room - db.stat().st_size - 16 * 1024))
        res = run_cli(
            "--database",
            f"sqlite:///{db}",
            "backup",
            "create",
            env={"MALNU_BACKUP_DIR": str(store)},
        )
        assert res.code == 1, res.err
        assert f"error: cannot write the backup to {store}/" in res.err, res.err
        assert "hint: that disk (or quota) is full" in res.err
        assert [p.name for p in store.rglob("*") if p.is_file()] == []


def test_a_disk_that_fills_during_ups_d1_dump_stops_up_in_one_line(
    d1: D1Target, mdirs: MigrationDirs, tmp_path: Path
) -> None:
    # The D1 dump is written by the tool itself: a full disk (here a real file size limit,
    # RLIMIT_FSIZE) said `[Errno 27] File too large`, with no hint, nor that nothing changed.
    rows = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000) "
    mdirs.add(
        "20261201000000",
        "siswa",
        "CREATE TABLE siswa (id INTEGER PRIMARY KEY, nama TEXT);\n"
        f"INSERT INTO siswa {rows}SELECT i, 'siswa nomor ' || i || ' kelas sepuluh' FROM n;",
        "DROP TABLE siswa;",
    )
    base = ["--database", d1.url, *mdirs.args()]
    store = tmp_path / "backups"
    env = {**os.environ, **d1.env, "MALNU_BACKUP_DIR": str(store)}
    assert run_cli(*base, "up", "--yes", "--no-backup", env=env).code == 0
    mdirs.add(
        "20261202000000",
        "kelas",
        "ALTER TABLE siswa ADD kelas TEXT;",
        "ALTER TABLE siswa DROP kelas;",
    )
    limit = 64 * 1024

    def small_disk() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    res = subprocess.run(
        [*CLI, *base, "up", "--yes"],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
        preexec_fn=small_disk,
    )
    assert res.returncode == 1, res.stderr
    assert f": File too large; no backup was made, {d1.url} is unchanged\n" in res.stderr
    assert "hint: that disk (or quota) is full" in res.stderr and "Errno" not in res.stderr
    assert [p.name for p in store.rglob("*") if p.is_file()] == []
    assert "kelas" not in {r[1] for r in d1.sql("PRAGMA table_info(siswa)")}
