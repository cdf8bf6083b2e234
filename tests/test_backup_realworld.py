"""Backups, restore and recovery as operators meet them on real databases: the CLI as a real
process, real SQLite files (and real PostgreSQL where the case needs it)."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest

from malnu_tui.engine.backends.sqlite import SQLiteBackend
from malnu_tui.engine.backup import BackupProgress, create_backup, list_backups, restore_backup
from malnu_tui.engine.config import Target, url_slug
from malnu_tui.engine.errors import DatabaseBusy
from tests.fixtures_core import run_cli
from tests.fixtures_pg import PgCluster

# The school application: another process on the same file, driven line by line from the test
# ("insert V" commits one row, "hold" opens a write transaction, "release" ends it), so each
# step happens at a known point of the restore. A held transaction ends by itself after 30 s:
# a tool that waits forever is then seen finishing late, not hanging the suite.
APP = r"""
import select, sqlite3, sys
conn = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)
print("ready", flush=True)
for line in sys.stdin:
    cmd, _, arg = line.strip().partition(" ")
    if cmd == "insert":
        conn.execute("INSERT INTO t VALUES (?)", (arg,))
        print("inserted", flush=True)
    elif cmd == "hold":
        conn.execute("BEGIN IMMEDIATE")
        print("holding", flush=True)
        if select.select([sys.stdin], [], [], 30)[0]:
            sys.stdin.readline()
        conn.execute("ROLLBACK")
        print("released", flush=True)
"""


class App:
    def __init__(self, db: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", APP, str(db)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.expect("ready")

    def expect(self, word: str) -> None:
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == word

    def send(self, line: str, answer: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        self.expect(answer)

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[SQLiteBackend, Target, str]]:
    """A SQLite database holding "OLD", a backup of it (its id), then "NEW" written over it."""
    db = tmp_path / "primary.db"
    _one_value_db(db, "OLD")
    target = Target("primary", f"sqlite:///{db}", tmp_path, tmp_path, tmp_path / "backups")
    backend = SQLiteBackend(db, busy_timeout=1.0)  # the tool's 5 s, shortened for the suite
    backend.ensure_schema()
    made = create_backup(backend, target)
    backend.conn.execute("UPDATE t SET v = 'NEW'")
    try:
        yield backend, target, made.id
    finally:
        backend.close()


def _one_value_db(path: Path, value: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("CREATE TABLE t (v TEXT)")
        conn.execute("INSERT INTO t VALUES (?)", (value,))
    conn.close()


def _values(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [r[0] for r in conn.execute("SELECT v FROM t")]
    finally:
        conn.close()


def test_databases_with_long_alike_urls_never_share_a_store(tmp_path: Path) -> None:
    # Two databases whose URLs differ only after 80 characters (a Supabase pooler's
    # …/postgres and …/analytics; long paths): `recover` of one restored the other's backup.
    deep = tmp_path / "sekolah-malnu-kananga" / "production-databases" / "school-platform-2026"
    main, analytics = deep / "primary-region-main.db", deep / "primary-region-analytics.db"
    _one_value_db(main, "MAIN")
    _one_value_db(analytics, "ANALYTICS")
    env = {"MALNU_BACKUP_DIR": str(tmp_path / "backups")}
    made = run_cli("--database", f"sqlite:///{main}", "backup", "create", env=env)
    assert made.code == 0, made.err

    other = ("--database", f"sqlite:///{analytics}")
    listed = run_cli(*other, "backup", "list", "--json", env=env)
    assert listed.code == 0 and json.loads(listed.out) == [], listed.out
    res = run_cli(*other, "recover", "--to", "now", "--yes", env=env)
    assert res.code == 1, res.err
    assert "no verified backup" in res.err and "Traceback" not in res.err
    assert _values(analytics) == ["ANALYTICS"]
    assert _values(main) == ["MAIN"]


def test_recover_never_picks_another_targets_backup_in_a_shared_store(tmp_path: Path) -> None:
    # Two configured targets given the same backup_dir: recover of one must not restore the
    # other's backup; an explicit restore says whose backup it is.
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    _one_value_db(a, "A")
    _one_value_db(b, "B")
    shared = tmp_path / "shared-backups"
    config = tmp_path / "malnu.toml"
    config.write_text(
        f'[targets.alpha]\nurl = "sqlite:///{a}"\nbackup_dir = "{shared}"\n'
        f'[targets.beta]\nurl = "sqlite:///{b}"\nbackup_dir = "{shared}"\n',
        encoding="utf-8",
    )
    base = ("--config", str(config))
    made = run_cli(*base, "--target", "alpha", "backup", "create")
    assert made.code == 0, made.err
    backup_id = made.out.strip()

    res = run_cli(*base, "--target", "beta", "recover", "--to", "now", "--yes")
    assert res.code == 1, res.err
    assert f"skipped {backup_id}: a backup of alpha, not this database" in res.err
    assert _values(b) == ["B"]

    plan = run_cli(*base, "--target", "beta", "backup", "restore", backup_id)
    assert plan.code == 2  # no terminal, no --yes: refused after the plan
    assert "this is a backup of alpha" in plan.err
    assert _values(b) == ["B"]


def test_pg_restore_as_the_database_owner_keeps_a_superusers_extensions(
    pg_cluster: PgCluster, pg_password_role: tuple[str, str], pg_password_db: str
) -> None:
    # Supabase: the operator's role owns the database, extensions (pgcrypto, citext…) belong
    # to a platform role. --clean dropped and re-created them: "must be owner of extension",
    # so every restore failed.
    role, password = pg_password_role
    with psycopg.connect(pg_cluster.url(pg_password_db), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION citext")
        conn.execute("COMMENT ON EXTENSION citext IS 'case-insensitive text'")
    url = f"postgresql://{role}:{quote(password)}@{pg_cluster.host}:{pg_cluster.port}/{pg_password_db}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE users (id int PRIMARY KEY, email citext UNIQUE)")
        conn.execute("INSERT INTO users SELECT g, 'U' || g || '@x' FROM generate_series(1, 50) g")
    env = {"MALNU_BACKUP_DIR": str(pg_cluster.data_dir.parent / f"backups-{pg_password_db}")}
    made = run_cli("--database", url, "backup", "create", env=env)
    assert made.code == 0, made.err
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DELETE FROM users WHERE id > 10")

    res = run_cli("--database", url, "backup", "restore", made.out.strip(), "--yes", env=env)
    assert res.code == 0, res.err
    assert password not in res.out + res.err
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM users").fetchone() == (50,)
        assert conn.execute("SELECT email = 'u7@X' FROM users WHERE id = 7").fetchone() == (True,)
        owner = conn.execute(
            "SELECT extowner::regrole::text FROM pg_extension WHERE extname = 'citext'"
        )
        assert owner.fetchone() == ("postgres",)


def test_an_app_write_just_before_a_restore_is_in_the_pre_restore_backup(
    live: tuple[SQLiteBackend, Target, str],
) -> None:
    # The pre-restore backup was taken, then the application wrote, then the restore replaced
    # the file: that write was in neither. Now the restore holds the file from before its
    # pre-restore backup until its COMMIT: the write lands before both, and the backup has it.
    backend, target, backup_id = live
    app = App(backend.path)

    def progress(p: BackupProgress) -> None:
        if p.phase == "restore" and p.total and not p.done:  # before its write lock is taken
            app.send("insert LATE", "inserted")

    try:
        result = restore_backup(backend, target, backup_id, progress=progress)
    finally:
        app.close()
    assert _values(backend.path) == ["OLD"]
    pre = target.backup_dir / f"{result.pre_restore_id}.sqlite"
    assert sorted(_values(pre)) == ["LATE", "NEW"]
    audit = backend.read_audit(action="restore")
    assert audit[0].outcome == "ok" and result.pre_restore_id in audit[0].detail


def test_a_restore_waits_for_a_busy_app_a_bounded_time_and_says_so(
    live: tuple[SQLiteBackend, Target, str],
) -> None:
    # The application holds a write transaction open as the restore starts: the backup API
    # retried forever without a word. Now it says it waits, gives up after the busy timeout
    # with exit 3 (DatabaseBusy), the database and the store as they were, nothing held.
    backend, target, backup_id = live
    app = App(backend.path)
    said: list[BackupProgress] = []

    def progress(p: BackupProgress) -> None:
        said.append(p)
        if p.phase == "restore" and p.total and not p.done:  # before its write lock is taken
            app.send("hold", "holding")

    try:
        with pytest.raises(DatabaseBusy) as caught:
            restore_backup(backend, target, backup_id, progress=progress)
        app.send("release", "released")
    finally:
        app.close()
    assert caught.value.exit_code == 3
    assert "the database is unchanged" in str(caught.value)
    assert any(p.phase == "wait" and "waiting for" in p.message for p in said)
    assert _values(backend.path) == ["NEW"]
    assert [m.id for m in list_backups(target.backup_dir)] == [backup_id]


def test_a_restore_done_is_reported_done_when_an_app_takes_the_database_right_after(
    live: tuple[SQLiteBackend, Target, str],
) -> None:
    # The application took the write lock right after the restore's COMMIT: the lock release
    # failed with DatabaseBusy, and the run said "busy … run again" (exit 3) for a restore
    # that had happened, lost its audit row and never printed the undo backup's id. Now the
    # restore is reported done, its audit row is in, and the lock row left is said.
    backend, target, backup_id = live
    app = App(backend.path)

    def progress(p: BackupProgress) -> None:
        if p.phase == "restore" and p.total and p.done == p.total:  # committed
            app.send("hold", "holding")

    try:
        result = restore_backup(backend, target, backup_id, progress=progress)
        app.send("release", "released")
    finally:
        app.close()
    assert _values(backend.path) == ["OLD"]
    assert [w for w in result.warnings if "lock row of this session" in w], result.warnings
    assert result.pre_restore_id in {m.id for m in list_backups(target.backup_dir)}
    done = backend.read_audit(action="restore")[0]
    assert done.outcome == "ok" and result.pre_restore_id in done.detail


def test_databases_whose_paths_differ_only_in_punctuation_keep_their_backups_apart(
    tmp_path: Path,
) -> None:
    # `…/sekolah 1/x.db` and `…/sekolah_1/x.db` have one store name (punctuation becomes "_"):
    # their backups share a folder, so recover must tell them by URL. (Short paths: a slug
    # over 80 characters ends in a hash of the URL and would not collide.)
    short = Path(tempfile.mkdtemp(prefix="m"))
    try:
        a, b = short / "sekolah 1" / "x.db", short / "sekolah_1" / "x.db"
        assert len(url_slug(f"sqlite:///{a}")) < 80 and url_slug(f"sqlite:///{a}") == url_slug(
            f"sqlite:///{b}"
        )
        _one_value_db(a, "SPACE")
        _one_value_db(b, "UNDERSCORE")
        env = {"MALNU_BACKUP_DIR": str(tmp_path / "backups")}
        made = run_cli("--database", f"sqlite:///{a}", "backup", "create", env=env)
        assert made.code == 0, made.err
        other = ("--database", f"sqlite:///{b}")
        res = run_cli(*other, "recover", "--to", "now", "--yes", env=env)
        assert res.code == 1 and "no verified backup" in res.err, res.err
        assert _values(b) == ["UNDERSCORE"] and _values(a) == ["SPACE"]
        res = run_cli("--database", f"sqlite:///{a}", "recover", "--to", "now", "--yes", env=env)
        assert res.code == 0, res.err  # its own backup is found
    finally:
        shutil.rmtree(short)


def test_a_busy_database_the_tool_never_used_is_not_blamed_on_an_operator(
    tmp_path: Path,
) -> None:
    """`backup create` of a database malnu-tui had never written to, while the application
    holds a write transaction: the tool's tables could not be created, and it said "another
    operator holds the migration lock … run `malnu-tui unlock`" after waiting over and over.
    No operator holds it: the database is busy with another writer, said once."""
    for journal in ("wal", "delete"):
        db = tmp_path / f"fresh-{journal}.db"
        _one_value_db(db, "APP")
        with sqlite3.connect(db) as c:
            c.execute(f"PRAGMA journal_mode = {journal}")
        app = App(db)
        try:
            app.send("hold", "holding")
            res = run_cli("--database", f"sqlite:///{db}", "backup", "create")
            assert res.code == 3, res.err
            assert "is busy: another connection (not a malnu-tui operator)" in res.err, res.err
            assert "another operator" not in res.err and "unlock" not in res.err, res.err
            assert "fuser" in res.err
            app.send("release", "released")
        finally:
            app.close()
        assert run_cli("--database", f"sqlite:///{db}", "backup", "create").code == 0
