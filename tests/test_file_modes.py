"""Who can read what the tool leaves on disk. The school's databases hold students' names,
grades and NISN numbers, and the tool runs on a shared jump box (root from cron, operators by
hand, under the umask 022 of a default login or the 002 of a shared group): what it creates
that holds rows or secrets is its owner's only, whatever the umask; what it replaces keeps the
mode and owner it had. Checked on real files, and as another user (``nobody``) reading them."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures_core import MigrationDirs, run_cli, school_set
from tests.fixtures_d1 import D1Target

NOBODY = 65534


def _mode(p: Path) -> str:
    return oct(stat.S_IMODE(p.stat().st_mode))


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder every user may enter and list (0755, outside pytest's 0700 base), as an
    operator's project folder or /srv on a jump box is."""
    d = Path(tempfile.mkdtemp(prefix="malnu-modes-"))
    os.chmod(d, 0o755)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(params=[0o022, 0o002], ids=["umask022", "umask002"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    """The process's umask for the test (the CLI runs it inherits it)."""
    before = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(before)


def _nobody_reads(path: Path) -> subprocess.CompletedProcess[bytes]:
    """``cat path`` as user nobody (the test suite runs as root)."""
    return subprocess.run(
        ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "cat", str(path)],
        capture_output=True,
    )


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="reads as another user (root only)")


@needs_root
def test_a_database_the_tool_creates_is_its_owners_only_whatever_the_umask(
    umask: int, shared_dir: Path, mdirs: MigrationDirs, isolated_env: Path
) -> None:
    """``--database sqlite:new.db`` (and the embedded default database) was created by SQLite
    with its default mode, 0644: any user of the box read the students' rows, and its -wal
    and -shm, which SQLite makes with the file's mode, with them."""
    d = school_set(mdirs)
    new = shared_dir / "new.db"
    for where in (("--database", f"sqlite:///{new}"), ()):
        res = run_cli(*where, *d.args(), "up", "--yes", "--no-backup")
        assert res.code == 0, res.err
    default = isolated_env / "xdg_data_home" / "malnu-tui"
    made = [new, *default.rglob("*.db")]
    assert len(made) == 2, made
    for db in made:
        assert _mode(db) == "0o600", (db, oct(umask))
        with sqlite3.connect(db) as conn:  # the application writing it, WAL as the tool set
            assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
            conn.execute("INSERT INTO users (email) VALUES ('siswa@sekolah.sch.id')")
            side = [db.with_name(db.name + s) for s in ("-wal", "-shm")]
            assert {p: _mode(p) for p in side} == {p: "0o600" for p in side}
    read = _nobody_reads(new)
    assert read.returncode != 0 and b"Permission denied" in read.stderr, read
    assert b"siswa" not in read.stdout


def test_a_database_that_exists_keeps_its_mode(shared_dir: Path, mdirs: MigrationDirs) -> None:
    """The application's own file (0664, shared with its group) is not the tool's to
    narrow: `up` leaves its mode as it was."""
    d = school_set(mdirs)
    app = shared_dir / "app.db"
    sqlite3.connect(app).close()
    os.chmod(app, 0o664)
    res = run_cli("--database", f"sqlite:///{app}", *d.args(), "up", "--yes", "--no-backup")
    assert res.code == 0, res.err
    assert _mode(app) == "0o664"


@needs_root
def test_a_restore_keeps_the_live_files_mode_and_owner(
    shared_dir: Path, mdirs: MigrationDirs
) -> None:
    """A restore run by root (from cron, or `sudo`) into the application's file: the file is
    still the application's user's, with its mode, so the application can write it after."""
    d = school_set(mdirs)
    live = shared_dir / "live.db"
    url = ("--database", f"sqlite:///{live}", *d.args())
    assert run_cli(*url, "up", "--yes", "--no-backup").code == 0
    os.chown(live, NOBODY, NOBODY)
    os.chmod(live, 0o640)
    made = run_cli(*url, "backup", "create", "--json")
    assert made.code == 0, made.err
    backup_id = json.loads(made.out)["id"]
    res = run_cli(*url, "backup", "restore", backup_id, "--yes")
    assert res.code == 0, res.err
    st = live.stat()
    assert (st.st_uid, st.st_gid, _mode(live)) == (NOBODY, NOBODY, "0o640")


def test_a_d1_export_never_writes_through_a_link_left_where_its_part_file_goes(
    d1: D1Target, mdirs: MigrationDirs, shared_dir: Path
) -> None:
    """`d1 export` wrote its dump to a fixed `.<name>.part` opened with O_TRUNC: in a shared
    folder, a symlink another user left at that name made root's cron export overwrite the
    link's target with the students' rows, and the "dump" renamed into place was that link;
    a `.part` left there at 0644 kept its mode. The dump goes to a new file of its own now."""
    d = school_set(mdirs)
    base = ["--database", d1.url, *d.args()]
    assert run_cli(*base, "up", "--no-backup").code == 0
    victim = shared_dir / "victim.txt"
    victim.write_text("not yours\n")
    dump = shared_dir / "prod.sql"
    (shared_dir / ".prod.sql.part").symlink_to(victim)
    res = run_cli(*base, "d1", "export", str(dump))
    assert res.code == 0, res.err
    assert victim.read_text() == "not yours\n"
    assert not dump.is_symlink() and _mode(dump) == "0o600"
    assert "CREATE TABLE" in dump.read_text()
    assert sorted(p.name for p in shared_dir.iterdir()) == [
        ".prod.sql.part",
        "prod.sql",
        "victim.txt",
    ]


@needs_root
def test_a_database_root_creates_in_another_users_folder_is_that_users(
    shared_dir: Path, mdirs: MigrationDirs
) -> None:
    """The damaged-file hint says: move the file aside and restore again, a missing file is
    created. Run by root (from cron, or `sudo`) in the application's folder, that file was
    root's: the application, running as the folder's owner, could not open it. It is the
    folder owner's now (0600), as SQLite gives root's -wal the database's owner."""
    d = school_set(mdirs)
    app_dir = shared_dir / "app"
    app_dir.mkdir(mode=0o755)
    os.chown(app_dir, NOBODY, NOBODY)
    live = app_dir / "school.db"
    url = ("--database", f"sqlite:///{live}", *d.args())
    assert run_cli(*url, "up", "--yes", "--no-backup").code == 0
    made = run_cli(*url, "backup", "create", "--json")
    assert made.code == 0, made.err
    for p in app_dir.iterdir():  # moved aside, as the hint says
        p.rename(shared_dir / p.name)
    res = run_cli(*url, "backup", "restore", json.loads(made.out)["id"], "--yes")
    assert res.code == 0, res.err
    st = live.stat()
    assert (st.st_uid, st.st_gid, _mode(live)) == (NOBODY, NOBODY, "0o600")
    app = subprocess.run(
        ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "sqlite3",
         str(live), "INSERT INTO users (email) VALUES ('guru@sekolah.sch.id');"
         "SELECT count(*) FROM users;"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert app.returncode == 0, app.stderr


def test_nothing_the_tool_leaves_on_disk_is_readable_by_others_under_umask_002(
    isolated_env: Path,
    mdirs: MigrationDirs,
    shared_dir: Path,
    pg_url: str,
    d1: D1Target,
) -> None:
    """Every file and folder a day's work leaves (the embedded database, safety backups and
    manifests of SQLite, PostgreSQL and D1, a deep verify, a rehearsal's copy, an import's
    rejects, the debug log, a D1 export), made under the umask 002 of a shared operators'
    group: none is readable by the group or others, every folder the tool made is 0700."""
    d = school_set(mdirs)
    config = shared_dir / "malnu.toml"
    config.write_text('[log]\nfile = "logs/malnu.log"\n')
    os.chmod(config, 0o600)
    env = {"TMPDIR": str(shared_dir / "tmp"), "MALNU_DEBUG": "1"}
    (shared_dir / "tmp").mkdir(mode=0o700)
    csv = shared_dir / "guru.csv"
    csv.write_text("id,email\n10,guru@sekolah.sch.id\nx,bad\n")
    before = os.umask(0o002)
    try:
        runs = [
            ("up", "--yes"),
            ("backup", "create"),
            ("import", str(csv), "--table", "users", "--yes", "--max-errors", "1",
             "--rejects", str(shared_dir / "rejects.csv")),
            ("--database", pg_url, "up", "--yes"),
            ("--database", d1.url, "up", "--yes"),
            ("--database", d1.url, "d1", "export", str(shared_dir / "prod.sql")),
        ]  # fmt: skip
        for args in runs:
            res = run_cli("--config", str(config), *d.args(), *args, env=env)
            assert res.code == 0, (args, res.err)
        listed = run_cli("--config", str(config), *d.args(), "backup", "list", "--json", env=env)
        newest = json.loads(listed.out)[0]["id"]
        verify = ("backup", "verify", newest, "--deep")
        assert run_cli("--config", str(config), *d.args(), *verify, env=env).code == 0
        d.add("20250101_000400", "kelas", "CREATE TABLE kelas (id INTEGER);", "DROP TABLE kelas;")
        res = run_cli("--config", str(config), *d.args(), "rehearse", env=env)
        assert res.code == 0, res.err
    finally:
        os.umask(before)
    xdg = {isolated_env / n for n in ("xdg_data_home", "xdg_config_home", "xdg_cache_home",
                                      "xdg_state_home")}  # fmt: skip
    made = [p for root in (isolated_env, shared_dir) for p in root.rglob("*") if p not in xdg]
    mine = {config, csv, shared_dir / "tmp"}
    files = [p for p in made if p.is_file() and p not in mine]
    assert {p.suffix for p in files} >= {".db", ".sqlite", ".dump", ".sql", ".json", ".csv"}, files
    assert any(p.name == "malnu.log" for p in files), files
    opened = {p: _mode(p) for p in files if stat.S_IMODE(p.stat().st_mode) & 0o077}
    assert opened == {}
    folders = {p: _mode(p) for p in made if p.is_dir() and p not in mine}
    assert folders and {m for m in folders.values()} == {"0o700"}, folders


@needs_root
def test_what_root_makes_in_an_operators_folder_is_the_operators(
    shared_dir: Path, mdirs: MigrationDirs, d1: D1Target
) -> None:
    """Root (cron, `sudo`) working in an operator's folder: an import's rejects, a D1 export,
    the backups of a store there (folders, dumps, manifests) and the debug log were root's,
    0600 and 0700, so the operator could neither read them nor empty the folders the tool
    made. Each file and folder the tool makes there is the folder owner's now (mode as
    before), as its SQLite database already was, and the operator reads every one."""
    d = school_set(mdirs)
    app = shared_dir / "app"
    app.mkdir(mode=0o755)
    config = app / "malnu.toml"
    config.write_text('[log]\nfile = "logs/malnu.log"\n')
    csv = app / "guru.csv"
    csv.write_text("id,email\n10,guru@sekolah.sch.id\nx,bad\n")
    os.chown(app, NOBODY, NOBODY)
    env = {"MALNU_BACKUP_DIR": str(app / "backups"), "MALNU_DEBUG": "1"}
    db = ("--database", f"sqlite:///{app / 'school.db'}")
    runs = [
        (*db, "up", "--yes"),
        (*db, "backup", "create"),
        (*db, "import", str(csv), "--table", "users", "--yes", "--max-errors", "1"),
        (*db, "import", str(csv), "--table", "users", "--yes", "--max-errors", "1",
         "--rejects", str(app / "out" / "today" / "rejects.csv")),
        ("--database", d1.url, "up", "--yes"),
        ("--database", d1.url, "backup", "create"),
        ("--database", d1.url, "d1", "export", str(app / "prod.sql")),
    ]  # fmt: skip
    for args in runs:
        res = run_cli("--config", str(config), *d.args(), *args, env=env)
        assert res.code in (0, 1), (args, res.err)
    made = [p for p in app.rglob("*") if p not in (config, csv)]
    names = {p.relative_to(app).as_posix() for p in made}
    assert {"guru.rejects.csv", "out/today/rejects.csv", "prod.sql", "logs/malnu.log",
            "school.db"} <= names, names  # fmt: skip
    assert sum(p.suffix == ".json" for p in made) >= 2, names  # the backups' manifests
    assert {p.suffix for p in made if p.parent.parent == app / "backups"} >= {".sqlite", ".sql"}
    roots = {
        p.relative_to(app).as_posix(): p.stat().st_uid for p in made if p.stat().st_uid != NOBODY
    }
    assert roots == {}
    unread = [p for p in made if p.is_file() and _nobody_reads(p).returncode != 0]
    assert unread == []
    assert {_mode(p) for p in made if p.is_dir()} == {"0o700"}


@needs_root
def test_a_file_of_a_third_user_in_an_operators_folder_stays_theirs(
    shared_dir: Path, mdirs: MigrationDirs
) -> None:
    """What root hands to a folder's owner is only what it made (or left as root's): a debug
    log another user keeps in that folder, appended to, stays that user's."""
    d = school_set(mdirs)
    app = shared_dir / "app"
    (app / "logs").mkdir(parents=True)
    log = app / "logs" / "malnu.log"
    log.write_text("earlier\n")
    config = app / "malnu.toml"
    config.write_text('[log]\nfile = "logs/malnu.log"\n')
    for p in (app, app / "logs"):
        os.chown(p, NOBODY, NOBODY)
    os.chown(log, NOBODY - 1, NOBODY - 1)
    db = ("--database", f"sqlite:///{app / 'school.db'}")
    res = run_cli("--config", str(config), *d.args(), *db, "up", "--yes", env={"MALNU_DEBUG": "1"})
    assert res.code == 0, res.err
    assert log.read_text().startswith("earlier\n") and log.stat().st_size > len("earlier\n")
    assert (log.stat().st_uid, (app / "school.db").stat().st_uid) == (NOBODY - 1, NOBODY)


def _as_nobody(shared_dir: Path, *commands: list[str]) -> list[tuple[int, str]]:
    """(exit code, what it said) of each CLI command run as ``nobody`` in one forked child
    (the interpreter's files are root's only here: the CLI's and engine's imports done first,
    as root, and the first command run; each command's output to its own file)."""
    outs = [shared_dir / f"out{i}.txt" for i in range(len(commands))]
    pid = os.fork()
    if pid == 0:
        code = 98
        try:
            import importlib
            import pkgutil

            import malnu_tui.cli
            import malnu_tui.engine
            from malnu_tui.cli import main

            for pkg in (malnu_tui.cli, malnu_tui.engine):
                for mod in pkgutil.walk_packages(pkg.__path__, f"{pkg.__name__}."):
                    importlib.import_module(mod.name)
            home = shared_dir / "home"
            for name in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
                (home / name).mkdir(parents=True, mode=0o777)
                (home / name).chmod(0o777)
                os.environ[name] = str(home / name)
            main(commands[0])  # as root: its imports done
            files = [open(out, "w", encoding="utf-8") for out in outs]  # noqa: SIM115
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            for argv, file in zip(commands, files, strict=True):
                sys.stdout = sys.stderr = file
                try:
                    said = main(argv)
                except BaseException as exc:
                    said = 97
                    print(f"raised {type(exc).__name__}: {exc}")
                print(f"exit {said}")
                sys.stdout.flush()
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    said = [out.read_text() for out in outs]
    return [(int(t.rsplit("exit ", 1)[1]), t) for t in said]


@needs_root
def test_check_by_a_user_who_may_not_enter_the_backup_store(shared_dir: Path) -> None:
    """`check` run by a monitoring user who may not enter the backup store's folder (0700, the
    backup user's, as the tool makes it): the probe for a file in the store's path (29e8fc37)
    raised PermissionError out of `check`, a traceback and no status line for any target. It
    is UNKNOWN naming the store, the folder that stops it, its owner and mode, exit 3."""
    db = shared_dir / "school.db"
    vault = shared_dir / "vault"
    (vault / "inner").mkdir(parents=True)
    vault.chmod(0o700)
    cfg = shared_dir / "malnu.toml"
    cfg.write_text(
        f'[targets.sekolah]\nurl = "sqlite:///{db}"\nbackup_dir = "{vault}/inner/store"\n'
    )
    assert run_cli("--config", str(cfg), "status").code == 0
    os.chmod(db, 0o644)
    [(code, said)] = _as_nobody(shared_dir, ["--config", str(cfg), "check"])
    assert code == 3, said
    assert (
        f"UNKNOWN sekolah backup_age: cannot read the backup store {vault}/inner/store: user "
        f"nobody may not enter {vault} (owner root, mode 0700)\n"
    ) in said


@needs_root
def test_a_database_given_by_url_by_a_user_who_may_not_enter_the_backup_root(
    shared_dir: Path,
) -> None:
    """A monitoring user who may not enter [backup] dir (0700, the backup user's), the database
    given by URL: the look for its store (``config.url_store``) raised PermissionError, a
    traceback out of every command, `status` too; and `backup list`, `prune`, `verify` met it
    reading the store. What only looks at the store reads it as not readable; what must use it
    says so in one line naming the folder, its owner and mode."""
    db = shared_dir / "school.db"
    vault = shared_dir / "vault"
    vault.mkdir(mode=0o700)
    cfg = shared_dir / "malnu.toml"
    cfg.write_text(f'[backup]\ndir = "{vault}"\n')
    url = f"sqlite:///{db}"
    assert run_cli("--config", str(cfg), "--database", url, "up", "--yes").code == 0
    assert run_cli("--config", str(cfg), "--database", url, "backup", "create").code == 0
    shared_dir.chmod(0o777)  # (nobody may write the database: `backup create` gets to the store)
    for p in shared_dir.glob("school.db*"):
        p.chmod(0o666)
    given = ["--config", str(cfg), "--database", url]
    [store] = vault.iterdir()
    kept = sorted(store.iterdir())
    runs = _as_nobody(
        shared_dir,
        [*given, "status"],
        [*given, "check"],
        [*given, "backup", "list"],
        [*given, "backup", "prune", "--keep", "1", "--yes"],
        [*given, "backup", "create"],
    )
    (status, _), (check, checked), (listed, said), (pruned, _), (create, made) = runs
    assert all("Traceback" not in t and "raised" not in t for _, t in runs), runs
    why = f"user nobody may not enter {vault} (owner root, mode 0700)"
    assert status == 0
    assert check == 3 and f"backup_age: cannot read the backup store {store}: {why}\n" in checked
    assert (listed, pruned) == (1, 1)
    assert f"error: cannot read the backup store {store}: {why}\n" in said
    assert create == 2 and f"cannot use {store} as the backup store: Permission denied" in made
    assert sorted(store.iterdir()) == kept  # (nothing pruned, nothing made)
