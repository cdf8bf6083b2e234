"""The files an operator depends on, written on a full disk: a real kernel error, no mock. The
command runs in a child whose files may not grow past a limit (RLIMIT_FSIZE, which binds root
too, with SIGXFSZ ignored as Python does: the write fails with EFBIG, as on a full disk or
quota; pg_dump, which does not ignore it, is killed by it). Each file is whole or not there,
the old one kept; the operator reads one line; the database is as it was."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import psycopg

from malnu_tui.engine.config import url_slug
from tests.backup_support import FULL_DISK
from tests.fixtures_core import CliResult, MigrationDirs, run_cli
from tests.fixtures_pg import PgCluster
from tests.test_backup_months import _small_tmpfs
from tests.test_full_disk import _fill, _fresh
from tests.test_reliability import one_error
from tests.webhook_support import Receiver


def _on_full_disk(limit: int, *args: str, env: dict[str, str] | None = None) -> CliResult:
    """``malnu-tui ARGS`` in a child whose files cannot grow past ``limit`` bytes."""
    proc = subprocess.run(
        [sys.executable, "-c", FULL_DISK, str(limit), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def _files(*dirs: Path) -> list[str]:
    return sorted(str(p.relative_to(d)) for d in dirs if d.exists() for p in d.rglob("*"))


def test_the_tools_own_files_on_a_full_disk_are_whole_or_not_there(
    tmp_path: Path, mdirs: MigrationDirs
) -> None:
    """`create` left its migration file empty (or cut in its header) behind: every later
    `status` and `up` stopped on it as a bad file. `lint` left one more cache temp file each
    run on the disk that was full. A debug log file that filled up printed `--- Logging
    error ---` and a traceback for every statement after it. Now: no file left but whole
    ones, and the log file let go with one warning line."""
    mdirs.add(
        "20250101_000100",
        "kelas",
        "CREATE TABLE kelas (id INTEGER PRIMARY KEY);\nCREATE TABLE guru (id INTEGER);\n"
        "CREATE INDEX guru_id ON guru (id);",
        "DROP TABLE guru;\nDROP TABLE kelas;",
    )
    db = tmp_path / "school.db"
    log = tmp_path / "logs" / "debug.log"
    cfg = tmp_path / "malnu.toml"
    cfg.write_text(f'[backup]\ndir = "{tmp_path / "backups"}"\n[log]\nfile = "{log}"\n')
    cache = tmp_path / "cache"
    env = {"XDG_CACHE_HOME": str(cache)}
    base = ["--config", str(cfg), "--database", f"sqlite:///{db}", *mdirs.args()]
    made = _files(mdirs.migrations, mdirs.rollback)

    res = _on_full_disk(100, *base, "create", "tambah nilai", env=env)
    assert res.code == 2, res.err
    one_error(res.err, f"cannot write {mdirs.migrations}/", ": File too large")
    assert _files(mdirs.migrations, mdirs.rollback) == made  # no half pair, no half file

    res = _on_full_disk(50, *base, "lint", env=env)  # (its report is cached: over 50 bytes)
    assert "Traceback" not in res.err and res.code == 0, res.err
    assert [f for f in _files(cache) if f.endswith(".tmp")] == []

    log.parent.mkdir()
    log.write_text("x" * 1024 * 1024)  # the log file has filled the room left
    res = _on_full_disk(1024 * 1024, *base, "up", "--no-backup", env={**env, "MALNU_DEBUG": "1"})
    assert res.code == 0 and "applied 1 migration(s)" in res.err, res.err
    assert "Logging error" not in res.err and "Traceback" not in res.err, res.err
    said = [line for line in res.err.splitlines() if line.startswith("warning: [log]")]
    assert said == [
        f"warning: [log] file {log} cannot be written (File too large): debug lines go to "
        "stderr only"
    ], res.err
    assert res.err.count("debug: statement target=") == 3, res.err  # every one, on stderr
    assert log.stat().st_size == 1024 * 1024


def test_check_alert_on_a_full_disk_sends_nothing_it_cannot_record(tmp_path: Path) -> None:
    """`check --alert` from cron on a full disk sent its alerts, then found no room to record
    them sent (`… what was sent will be sent again`): on-call was paged again every minute,
    and each run left one more half-written `.incidents.json.<pid>.tmp` there. The room to
    record is taken first now: without it nothing is sent (`…; nothing sent`), and the old
    state is kept whole, with no temp file beside it."""
    db = tmp_path / "school.db"
    assert run_cli("--database", f"sqlite:///{db}", "status").code == 0
    receiver = Receiver("full-disk-secret")
    try:
        cfg = tmp_path / "malnu.toml"
        cfg.write_text(f'[[alerts.webhooks]]\nkind = "json"\nurl = "{receiver.url("json")}"\n')
        state = tmp_path / "state"
        env = {"XDG_STATE_HOME": str(state), "MALNU_BACKUP_DIR": str(tmp_path / "backups")}
        base = ["--config", str(cfg), "--database", f"sqlite:///{db}", "check", "--alert"]
        kept = state / "malnu-tui" / "incidents.json"
        said = f"alert: alerting FAILED: cannot keep the incident state in {kept}: File too large"
        res = _on_full_disk(200, *base, env=env)  # no backup at all: CRITICAL, a new incident
        assert res.code == 2 and f"{said}; nothing sent" in res.err, res.err
        assert receiver.bodies == [] and not kept.exists()
        assert run_cli(*base, env=env).code == 2  # room again: sent, and recorded
        assert receiver.events("json") == [
            ("problem", f"{url_slug(f'sqlite:///{db}')}|backup_age|backups")
        ]
        before = kept.read_bytes()
        assert len(before) > 200
        res = _on_full_disk(200, *base, env=env)
        assert res.code == 2 and f"{said}; nothing sent" in res.err, res.err
        assert len(receiver.bodies) == 1
        assert kept.read_bytes() == before  # the old state, whole
        assert _files(state) == [
            "malnu-tui",
            "malnu-tui/incidents.json",
            "malnu-tui/incidents.lock",
        ]
    finally:
        receiver.stop()


def test_a_full_disk_under_each_safety_backup_stops_the_command_before_the_database(
    tmp_path: Path,
    mdirs: MigrationDirs,
    pg_cluster: PgCluster,
    pg_password_db: str,
    pg_password_role: tuple[str, str],
) -> None:
    """The safety backup before `rollback`, `backup restore` and `import` of a PostgreSQL
    database, on a disk that fills up while pg_dump writes it: each stops before it touches
    the database, exit 1, one line, the password masked, nothing left in the store but the
    backups there before. Its hint was "check the disk space of the backup directory and the
    role's privileges": no store named, and the role not the cause; it names the store's
    disk now."""
    role, password = pg_password_role
    url = f"postgresql://{role}:{password}@{pg_cluster.host}:{pg_cluster.port}/{pg_password_db}"
    mdirs.add("20250101_000100", "users", "CREATE TABLE users (id int PRIMARY KEY, bio text);")
    mdirs.add("20250101_000200", "notes", "CREATE TABLE notes (id int);", "DROP TABLE notes;")
    root = tmp_path / "backups"
    env = {"MALNU_BACKUP_DIR": str(root)}
    base = ["--database", url, *mdirs.args()]
    assert run_cli(*base, "up", "--no-backup", env=env).code == 0
    with psycopg.connect(url, autocommit=True) as c:  # a dump of about 90 KiB
        c.execute(
            "INSERT INTO users SELECT i, repeat(md5(i::text), 10) FROM generate_series(1, 3000) i"
        )
    made = run_cli(*base, "backup", "create", env=env)
    assert made.code == 0, made.err
    (store,) = root.iterdir()
    kept = _files(store)
    csv = tmp_path / "notes.csv"
    csv.write_text("id\n7\n8\n")
    for argv in (
        ["rollback", "--yes"],
        ["backup", "restore", made.out.strip(), "--yes"],
        ["import", str(csv), "--table", "notes", "--yes"],
    ):
        res = _on_full_disk(64 * 1024, *base, *argv, env=env)
        assert res.code == 1, (argv, res.err)
        one_error(
            res.err,
            "pg_dump failed (killed by SIGXFSZ",
            f"writing the backup to {store}; no backup",
        )
        assert f"hint: the disk of the backup store {store} (or this user's quota) is full" in (
            res.err
        ), (argv, res.err)
        assert password not in res.err + res.out, argv
        assert _files(store) == kept, argv  # no temp file, no half backup, nothing listed
        with psycopg.connect(url) as c:
            assert c.execute("SELECT count(*) FROM users").fetchone() == (3000,)
            assert c.execute("SELECT count(*) FROM notes").fetchone() == (0,), argv
            applied = c.execute("SELECT count(*) FROM migrations").fetchone()
            assert applied == (2,), argv


def test_an_applications_database_on_a_nearly_full_disk_names_the_disk(tmp_path: Path) -> None:
    """A database in rollback-journal mode (as the school's application or the sqlite3 shell
    makes it) on a disk a few KiB short of room for its -shm: every command stopped at its
    first read with `error: sqlite:///…: disk I/O error` and "malnu-tui did not expect this
    error here … report it", and a sync into it with `error: <target> (sqlite:///…): disk I/O
    error` and no hint at all. Both name the disk now (a real small tmpfs; needs root, as CI
    has)."""
    base_db, source = tmp_path / "app.db", tmp_path / "source.db"
    for path, extra in ((base_db, ", synced_at TEXT"), (source, "")):
        conn = sqlite3.connect(path)
        conn.execute(f"CREATE TABLE siswa (nis TEXT PRIMARY KEY, nama TEXT{extra})")
        rows = [(f"{i:010}", "x" * 200) for i in range(300)]
        conn.executemany("INSERT INTO siswa (nis, nama) VALUES (?, ?)", rows)
        conn.commit()
        conn.close()
    ended: list[str] = []
    with _small_tmpfs(tmp_path / "disk", "1m") as disk:
        db = disk / "app.db"
        sync = ["sync", "--from", f"sqlite:///{source}", "--tables", "siswa", "--yes"]
        for kib in (8, 16, 24):
            for argv in (["status"], [*sync, "--to", f"sqlite:///{db}"]):
                _fresh(disk, db, base_db, kib)
                res = run_cli(*(["--database", f"sqlite:///{db}"] if len(argv) == 1 else []), *argv)
                (disk / "filler").unlink()
                if res.code == 0:
                    continue
                assert res.code == 1, (kib, argv, res.err)
                one_error(res.err)
                assert f"hint: the disk holding {disk} is full (" in res.err, (kib, argv, res.err)
                assert "did not expect" not in res.err, (kib, res.err)
                opening = "error: cannot open" in res.err
                ended.append(f"{argv[0]}: {'opening' if opening else 'its first read'}")
    assert {"status: its first read", "sync: its first read"} <= set(ended), ended


def test_a_file_in_the_backup_stores_path_is_said_by_doctor_and_check(tmp_path: Path) -> None:
    """MALNU_BACKUP_DIR naming a file (a typo, a mount point gone and a file made there):
    every backup, and the safety backup `up` and `rollback` take first, is refused (exit 2),
    but `doctor` said `OK backup dir: …/sqlite_… writable, 70,000 MiB free` and `check`
    `writable OK`: the nightly cron failed while the monitoring said nothing of why."""
    db = tmp_path / "school.db"
    assert run_cli("--database", f"sqlite:///{db}", "status").code == 0
    blocked = tmp_path / "backups"
    blocked.write_text("not a folder\n")
    env = {"MALNU_BACKUP_DIR": str(blocked)}
    res = run_cli("--database", f"sqlite:///{db}", "doctor", env=env)
    assert res.code == 1, res.out
    assert f"backup dir: {blocked} is a file, not a directory: no backup can be made" in res.out
    res = run_cli("--database", f"sqlite:///{db}", "check", env=env)
    assert res.code == 2, res.out  # (no backup at all: CRITICAL)
    assert (
        f"writable: the backup store cannot be made: {blocked} is a file, not a directory: "
        "every backup fails there" in res.out
    ), res.out
    assert blocked.read_text() == "not a folder\n"


def _data(db: Path) -> list[str]:
    """The database's schema and rows, the tool's own tables left out (a failed command's
    audit row is written there, as it should be)."""
    conn = sqlite3.connect(db)
    try:
        return [line for line in conn.iterdump() if "malnu_" not in line]
    finally:
        conn.close()


def test_a_full_backup_store_stops_each_destructive_command_before_the_database(
    tmp_path: Path, mdirs: MigrationDirs
) -> None:
    """The backup store's disk full (a real small tmpfs; needs root, as CI has) under `up`,
    `rollback`, `import` and `backup restore` of a SQLite database: each stops at its safety
    backup (the restore at its copy of the backup), exit 1, one line naming the store and
    the full disk; the database's data as it was, nothing new in the store, nothing listed."""
    mdirs.add("20250101_000100", "siswa", "CREATE TABLE siswa (nis TEXT PRIMARY KEY, nama TEXT);")
    mdirs.add("20250101_000200", "kelas", "CREATE TABLE kelas (id INTEGER);", "DROP TABLE kelas;")
    mdirs.add("20250101_000300", "wali", "CREATE TABLE wali (id INTEGER);", "DROP TABLE wali;")
    db = tmp_path / "school.db"
    base = ["--database", f"sqlite:///{db}", *mdirs.args()]
    csv = tmp_path / "siswa.csv"
    csv.write_text("nis,nama\n0012345678,Siti\n")
    with _small_tmpfs(tmp_path / "store", "1m") as disk:
        env = {"MALNU_BACKUP_DIR": str(disk)}
        assert run_cli(*base, "up", "--to", "20250101_000200", "--no-backup", env=env).code == 0
        conn = sqlite3.connect(db)
        conn.executemany(
            "INSERT INTO siswa VALUES (?, ?)", [(f"{i:010}", "x" * 100) for i in range(500)]
        )
        conn.commit()
        conn.close()
        made = run_cli(*base, "backup", "create", env=env)
        assert made.code == 0, made.err
        (store,) = (p for p in disk.iterdir() if p.is_dir())
        kept, before = _files(store), _data(db)
        with open(disk / "filler", "wb") as f:  # the rest of the disk
            with contextlib.suppress(OSError):
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
        for argv, said in (
            (["up", "--yes"], f"cannot write the backup to {store}: "),
            (["rollback", "--yes"], f"cannot write the backup to {store}: "),
            (
                ["import", str(csv), "--table", "siswa", "--yes"],
                f"cannot write the backup to {store}: ",
            ),
            (["backup", "restore", made.out.strip(), "--yes"], f"for the restore into {store}: "),
        ):
            res = run_cli(*base, *argv, env=env)
            assert res.code == 1, (argv, res.err)
            one_error(res.err, said)
            assert "is unchanged" in res.err or "nothing was restored" in res.err, res.err
            assert "that disk (or quota) is full" in res.err, (argv, res.err)
            assert _files(store) == kept, argv
            assert _data(db) == before, argv
        (disk / "filler").unlink()
        # Room for a manifest, not for the scratch copy a deep verify restores: the backup
        # was "✘ FAIL … FAILED verification: it will not be restored", and no longer counted
        # as verified (`check` CRITICAL, `recover` passed over it). The disk is said; nothing
        # is concluded, the backup stays verified.
        _fill(disk, 16 * 1024)
        res = run_cli(*base, "backup", "verify", made.out.strip(), "--deep", env=env)
        (disk / "filler").unlink()
        assert res.code == 1, res.err
        assert "– not run  scratch restore: database or disk is full in " in res.out, res.out
        assert "hint: the deep check restores a scratch copy of the backup (" in res.err
        assert (
            "the file passed every check that ran; nothing was concluded about the rest, its "
            "verified state is as it was (verified)" in res.err
        ), res.err
        assert "FAILED" not in res.err + res.out, res.err
        listed = run_cli(*base, "backup", "list", "--json", env=env)
        (backup,) = json.loads(listed.out)
        assert backup["id"] == made.out.strip() and backup["verified_at"], backup


_SPILL = """
import os, sqlite3, sys
from pathlib import Path
from malnu_tui.engine.backends.sqlite_open import disk_hint
db = Path(sys.argv[1])
conn = sqlite3.connect(db)
conn.execute("PRAGMA cache_size = -256")
conn.execute("CREATE TABLE nilai (id INTEGER PRIMARY KEY, catatan TEXT)")
rows = ((os.urandom(100).hex(),) for _ in range(20000))
conn.executemany("INSERT INTO nilai (catatan) VALUES (?)", rows)
conn.commit()
try:
    conn.execute("CREATE INDEX nilai_catatan ON nilai (catatan)")
except sqlite3.Error as exc:
    print(exc.sqlite_errorcode, exc)
    print(disk_hint(db, exc))
"""


def test_a_full_temporary_directory_is_named_not_the_databases_disk(tmp_path: Path) -> None:
    """An index build (or a sort) that spills to SQLite's temporary directory, full (/tmp
    filled by another job): "database or disk is full" was hinted `the disk holding <the
    database's folder> is full (70,000,000 KiB left…)`, `df -h` of a disk with room, by the
    sync's SQLite side, the CLI's last word and deep verify (this session's callers) alike. It
    names the temporary directory now, and SQLITE_TMPDIR (a real small tmpfs; needs root)."""
    with _small_tmpfs(tmp_path / "spill", "16k") as spill:
        proc = subprocess.run(
            [sys.executable, "-c", _SPILL, str(tmp_path / "rapor.db")],
            capture_output=True,
            text=True,
            env={**os.environ, "SQLITE_TMPDIR": str(spill)},
            timeout=120,
        )
    code, hint = proc.stdout.splitlines()[:2] if proc.stdout else ("", "")
    assert code == f"{sqlite3.SQLITE_FULL} database or disk is full", proc.stdout + proc.stderr
    assert hint.startswith(f"SQLite's temporary directory {spill} is full ("), hint
    assert "set SQLITE_TMPDIR to a folder on a disk with room" in hint, hint


def test_up_names_sqlites_full_temporary_directory_not_the_databases_disk(
    tmp_path: Path, mdirs: MigrationDirs
) -> None:
    """`up` of a migration whose index build spills to SQLite's full temporary directory
    (SQLITE_TMPDIR on a disk of its own) was hinted "the disk where the database lives is
    full": free space on a disk with room. It takes the same hint as the other callers now
    (backends/sqlite_open.disk_hint), naming that directory and SQLITE_TMPDIR."""
    mdirs.add(
        "20250101_000100",
        "nilai",
        "CREATE TABLE nilai (id INTEGER PRIMARY KEY, catatan TEXT);\n"
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 40000)\n"
        "INSERT INTO nilai (catatan) SELECT hex(randomblob(100)) FROM n;\n"
        "CREATE INDEX nilai_catatan ON nilai (catatan);",
        "DROP TABLE nilai;",
    )
    db = tmp_path / "rapor.db"
    with _small_tmpfs(tmp_path / "spill", "16k") as spill:
        args = ("--database", f"sqlite:///{db}", *mdirs.args(), "up", "--yes", "--no-backup")
        res = run_cli(*args, env={"SQLITE_TMPDIR": str(spill)})
    assert res.code == 1, res.err
    one_error(res.err, "migration 20250101_000100_nilai.sql failed at line ")
    assert "database or disk is full; all of it was rolled back\n" in res.err, res.err
    assert f"hint: SQLite's temporary directory {spill} is full (" in res.err, res.err
    assert "set SQLITE_TMPDIR to a folder on a disk with room" in res.err, res.err
