"""The backup store under faults and hostile edits (issue 10): a ``backup create`` killed
mid-way leaves no temp file once any command has opened the store, and a hand-edited manifest
can never make the tool write or delete outside the store."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from tests.backup_support import write_migrations
from tests.d1server import D1Server
from tests.fixtures_core import CLI, REPO, MigrationDirs, school_set
from tests.fixtures_d1 import ACCOUNT
from tests.inproc import run_inproc
from tests.test_reliability import one_error


@pytest.fixture
def school(tmp_path: Path) -> tuple[list[str], Path]:
    """(global args, database file): the portable set applied, plus ~16 MB of data so that a
    backup takes long enough to be caught half way."""
    mig, rb = write_migrations(tmp_path / "project")
    db = tmp_path / "school.db"
    args = [
        "--database",
        f"sqlite:///{db}",
        "--migrations-dir",
        str(mig),
        "--rollback-dir",
        str(rb),
    ]
    assert run_inproc(*args, "up", "--no-backup").code == 0
    with sqlite3.connect(db) as c:
        c.execute("CREATE TABLE attachments (body BLOB)")
        c.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 64) "
            "INSERT INTO attachments SELECT randomblob(262144) FROM n"
        )
    return args, db


def temp_files(root: Path) -> list[Path]:
    return sorted(root.rglob(".tmp-*"))


def _writing(root: Path) -> bool:
    """Whether a temp file with data in it exists (the copy is under way)."""
    for p in temp_files(root):
        try:
            if p.stat().st_size > 0:
                return True
        except FileNotFoundError:
            pass
    return False


def kill_backup_midway(args: list[str], data_home: Path) -> Path:
    """Start a real ``backup create``, freeze it while its temp file exists, SIGKILL it; the
    temp file it leaves behind (exactly what a crash leaves)."""
    for _attempt in range(5):
        proc = subprocess.Popen(
            [*CLI, *args, "backup", "create"],
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            while proc.poll() is None and not _writing(data_home):
                time.sleep(0.002)
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGSTOP)  # it cannot clean up any more
            left = temp_files(data_home)
        finally:
            proc.kill()
            proc.wait()
        if left:
            return left[0]
    pytest.fail("the backup always finished before it could be killed")


def test_killed_backup_temp_file_is_swept_by_every_store_command(
    school: tuple[list[str], Path], isolated_env: Path
) -> None:
    args, _db = school
    res = run_inproc(*args, "backup", "create")
    assert res.code == 0, res.err
    bid = res.out.strip()
    data_home = isolated_env / "xdg_data_home"
    leftover = kill_backup_midway(args, data_home)
    assert leftover.name.startswith(".tmp-") and leftover.stat().st_size > 0
    keep = leftover.with_name("kept-for-the-test")
    os.link(leftover, keep)
    for argv in (
        ["backup", "list"],
        ["backup", "verify", bid],
        ["backup", "restore", bid, "--yes"],
        ["recover", "--to", "now", "--dry-run"],
        ["backup", "prune", "--keep", "5", "--yes"],
        ["backup", "delete", bid, "--yes"],
    ):
        if not leftover.exists():
            os.link(keep, leftover)  # the same half backup of the same dead process
        res = run_inproc(*args, *argv)
        assert res.code in (0, 1), (argv, res.err)
        assert "Traceback" not in res.err
        assert temp_files(data_home) == [], f"{argv} left {leftover.name}"
    keep.unlink()
    listed = json.loads(run_inproc(*args, "backup", "list", "--json").out)
    assert bid not in [b["id"] for b in listed] and len(listed) == 1  # the pre-restore one


@pytest.mark.parametrize("field", ["id", "file"])
def test_manifest_fields_never_become_paths(
    school: tuple[list[str], Path], isolated_env: Path, field: str
) -> None:
    args, _db = school
    res = run_inproc(*args, "backup", "create", "--json")
    assert res.code == 0, res.err
    created = json.loads(res.out)
    store = next((isolated_env / "xdg_data_home").rglob(created["id"] + ".json")).parent
    victim = store.parent.parent / "victim.json"
    victim_data = store.parent.parent / "victim.sqlite"
    victim.write_text("not yours")
    victim_data.write_text("not yours either")
    manifest = store / f"{created['id']}.json"
    data = json.loads(manifest.read_text())
    data[field] = "../../victim" if field == "id" else "../../victim.sqlite"
    manifest.write_text(json.dumps(data))

    res = run_inproc(*args, "backup", "verify", created["id"])
    assert res.code == 1
    one_error(res.err, "corrupt manifest", created["id"])
    res = run_inproc(*args, "backup", "delete", created["id"], "--yes")
    assert res.code == 1
    one_error(res.err, "corrupt manifest")
    res = run_inproc(*args, "backup", "verify", created["id"][:12])
    assert res.code == 2, "a corrupt manifest is never offered by prefix"
    assert json.loads(run_inproc(*args, "backup", "list", "--json").out) == []
    assert victim.read_text() == "not yours" and victim_data.read_text() == "not yours either"
    assert sorted(p.name for p in store.parent.parent.iterdir() if p.is_file()) == [
        "victim.json",
        "victim.sqlite",
    ]
    assert manifest.exists() and (store / created["file"]).exists(), "nothing deleted"


def test_d1_exports_with_their_own_transaction(
    d1_fresh_server: D1Server, mdirs: MigrationDirs, tmp_path: Path
) -> None:
    """Exports holding ``BEGIN TRANSACTION;``/``COMMIT;`` (as ``sqlite3 .dump`` writes them):
    safety backups, ``backup create``, ``verify --deep`` and an import all work."""
    d1_fresh_server.dump_transaction = True
    d1_fresh_server.export_polls = d1_fresh_server.import_polls = 0  # no waiting between polls
    db = d1_fresh_server.add_database(ACCOUNT)
    d = school_set(mdirs)
    base = ["--database", f"d1://{db.account}/{db.id}", *d.args()]
    for argv in (["up", "--to", "20250101_000200"], ["up"]):
        res = run_inproc(*base, *argv)
        assert res.code == 0, res.err
        assert "safety backup:" in res.err
    res = run_inproc(*base, "backup", "create", "--json")
    assert res.code == 0, res.err
    created = json.loads(res.out)
    assert created["row_counts"]["users"] == 1 and created["head"] == "20250101_000300"
    res = run_inproc(*base, "backup", "verify", created["id"], "--deep", "--json")
    assert res.code == 0 and json.loads(res.out)["ok"] is True, res.out + res.err
    dump = tmp_path / "prod.sql"
    assert run_inproc(*base, "d1", "export", str(dump)).code == 0
    assert "BEGIN TRANSACTION;" in dump.read_text() and "COMMIT;" in dump.read_text()
    assert run_inproc(*base, "rollback", "--steps", "3", "--yes", "--no-backup").code == 0
    res = run_inproc(*base, "d1", "import", str(dump), "--yes")
    assert res.code == 0, res.err
    status = json.loads(run_inproc(*base, "status", "--json").out)
    assert [m["state"] for m in status["migrations"]] == ["applied"] * 3
    assert d1_fresh_server.sql(db, "SELECT email FROM users") == [("admin@malnu.sch.id",)]


def test_dump_with_rollback_or_garbage_fails_verification(tmp_path: Path) -> None:
    from malnu_tui.engine.backends.d1.timetravel import check_dump

    dump = tmp_path / "d.sql"
    dump.write_text(
        "BEGIN TRANSACTION;\nCREATE TABLE t (a);\nINSERT INTO t VALUES (';');\nCOMMIT;\n"
    )
    assert check_dump(dump).ok and check_dump(dump).row_counts == {"t": 1}
    dump.write_text("BEGIN TRANSACTION;\nCREATE TABLE t (a);\nROLLBACK; -- due to errors\n")
    assert "ROLLBACK" in (check_dump(dump).error or "")
    dump.write_bytes(b"CREATE TABLE t (a);\nINSERT INTO t VALUES ('\xff');\n")
    assert "cannot read" in (check_dump(dump).error or "")


def test_sweep_never_takes_another_hosts_backup_in_progress(tmp_path: Path) -> None:
    """A store shared between machines: another host's pid means nothing here, so its temp
    file goes only once it has not been written for the orphan age."""
    from malnu_tui.engine.backup.durable import temp_path
    from malnu_tui.engine.backup.store import sweep_stale_temp

    store = tmp_path / "store"
    store.mkdir()
    mine = temp_path(store, ".sqlite")
    mine.write_bytes(b"this process, writing")
    dead_here = mine.with_name(mine.name.replace(f"-{os.getpid()}-", "-999999999-", 1))
    dead_here.write_bytes(b"a dead process of this host")
    other = store / ".tmp-999999999-0a1b2c3d-hsome_other_box.sqlite"
    other.write_bytes(b"another machine, writing")
    legacy = store / ".tmp-999999999-abcd.sqlite"  # names written before hosts were recorded
    legacy.write_bytes(b"a dead process")
    assert sorted(sweep_stale_temp(store)) == sorted([dead_here, legacy])
    assert mine.exists() and other.exists()
    assert sweep_stale_temp(store, orphan_age_s=-1) == [other]
    assert mine.exists()


@pytest.mark.parametrize(
    "text",
    [
        "CREATE TABLE t(a);\nCREATE TRIGGER tr AFTER INSERT ON t BEGIN\n  UPDATE t SET a = 1;\n"
        "  SELECT ';';\nEND;\nINSERT INTO t VALUES(1);\nINSERT INTO t VALUES(2);",
        "-- it's a dump; really\nCREATE TABLE t(a); /* x; 'y */ INSERT INTO t VALUES(';');"
        " INSERT INTO t VALUES('it''s; ok');",
        "CREATE TABLE t(a);\nINSERT INTO t VALUES('line1;\nline2 -- no comment;\n');\n"
        'INSERT INTO "t" VALUES(2);',
        "CREATE TABLE [we;ird](a);\nINSERT INTO [we;ird] VALUES(1);\n"
        "INSERT INTO `we;ird` VALUES(2);",
        "CREATE TABLE t(a);\nINSERT INTO t VALUES('"
        + "a;" * 50_000
        + "');\nINSERT INTO t VALUES(2);",
    ],
    ids=["trigger", "comments", "multiline-string", "quoted-names", "semicolons-in-a-row"],
)
def test_dump_statements_cut_where_sqlite_does(tmp_path: Path, text: str) -> None:
    from malnu_tui.engine.backends.d1.timetravel import check_dump, dump_statements

    dump = tmp_path / "d.sql"
    dump.write_text(text + "\n", encoding="utf-8")
    statements = list(dump_statements(dump))
    assert "".join(statements) == text
    checked = check_dump(dump)
    assert checked.ok, checked.error
    assert sum(checked.row_counts.values()) == 2
