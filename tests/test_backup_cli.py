"""The backup commands as operators and scripts run them: real ``malnu-tui`` processes, no
terminal, isolated data/config dirs, ``--database sqlite:///…``."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.backup_support import cli, write_migrations


@pytest.fixture
def env(tmp_path: Path) -> tuple[Path, list[str]]:
    """(home, global args) for a fresh SQLite database with the portable migration set."""
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
    home = tmp_path / "cli-home"
    home.mkdir()
    return home, args


def _list(home: Path, args: list[str]) -> list[dict[str, object]]:
    p = cli(*args, "backup", "list", "--json", home=home)
    assert p.code == 0, p.err
    data = json.loads(p.out)
    assert isinstance(data, list)
    return data


def test_up_and_rollback_take_safety_backups_and_no_backup_is_audited(
    env: tuple[Path, list[str]],
) -> None:
    home, args = env
    p = cli(*args, "up", "--to", "20250101_000100", home=home)
    assert p.code == 0, p.err
    assert "safety backup:" in p.err
    p = cli(*args, "up", "--no-backup", home=home)
    assert p.code == 0, p.err
    assert "--no-backup" in p.err
    p = cli(*args, "rollback", home=home)
    assert p.code == 2 and "without confirmation" in p.err, "no TTY, no --yes: refused"
    p = cli(*args, "rollback", "--yes", home=home)
    assert p.code == 0, p.err
    reasons = [b["reason"] for b in _list(home, args)]
    assert reasons == ["pre-rollback", "pre-up"]
    p = cli(*args, "log", "--json", "--action", "backup", home=home)
    log = json.loads(p.out)
    assert any(e["outcome"] == "skipped" and e["object"] == "pre-up" for e in log)
    assert sum(1 for e in log if e["outcome"] == "ok") == 2


def test_create_list_verify_restore_delete_prune(env: tuple[Path, list[str]]) -> None:
    home, args = env
    assert cli(*args, "up", "--no-backup", home=home).code == 0
    db = Path(args[1].removeprefix("sqlite:///"))
    with sqlite3.connect(db) as c:
        c.execute("INSERT INTO users (id, email) VALUES (1, 'guru@malnu.sch.id')")

    p = cli(*args, "backup", "create", home=home)
    assert p.code == 0, p.err
    bid = p.out.strip()
    p = cli(*args, "backup", "create", "--reason", "scheduled", "--json", home=home)
    assert p.code == 0, p.err
    second = json.loads(p.out)
    assert second["reason"] == "scheduled" and second["row_counts"]["users"] == 1

    listed = _list(home, args)
    assert [b["id"] for b in listed] == [second["id"], bid], "newest first"
    for b in listed:
        assert {"id", "created_at", "size", "sha256", "reason"} <= set(b)
    p = cli(*args, "backup", "list", home=home)
    assert bid in p.out and "scheduled" in p.out

    p = cli(*args, "backup", "verify", bid[:18], "--deep", "--json", home=home)
    assert p.code == 0, p.err
    assert json.loads(p.out)["ok"] is True

    with sqlite3.connect(db) as c:
        c.execute("DELETE FROM users")
    p = cli(*args, "backup", "restore", bid, home=home)
    assert p.code == 2 and "without confirmation" in p.err
    p = cli(*args, "backup", "restore", bid, "--yes", home=home)
    assert p.code == 0, p.err
    assert "Restore plan" in p.err and "applied" in p.out, "status shown after restore"
    with sqlite3.connect(db) as c:
        assert c.execute("SELECT email FROM users").fetchall() == [("guru@malnu.sch.id",)]
    assert len(_list(home, args)) == 3  # + pre-restore

    p = cli(*args, "backup", "delete", bid, home=home)
    assert p.code == 2
    p = cli(*args, "backup", "delete", bid, "--yes", home=home)
    assert p.code == 0, p.err
    assert bid not in [b["id"] for b in _list(home, args)]
    p = cli(*args, "backup", "verify", bid, home=home)
    assert p.code == 2 and "no backup" in p.err

    p = cli(*args, "backup", "prune", "--keep", "1", "--yes", "--json", home=home)
    assert p.code == 0, p.err
    out = json.loads(p.out)
    assert len(out["deleted"]) == 1 and len(out["kept"]) == 1
    assert len(_list(home, args)) == 1
    log = json.loads(cli(*args, "log", "--json", home=home).out)
    actions = {(e["action"], e["outcome"]) for e in log}
    assert {("backup-delete", "ok"), ("backup-prune", "ok"), ("restore", "ok")} <= actions


def test_corrupt_backup_is_refused_by_the_cli(env: tuple[Path, list[str]]) -> None:
    home, args = env
    assert cli(*args, "up", "--no-backup", home=home).code == 0
    p = cli(*args, "backup", "create", "--json", home=home)
    m = json.loads(p.out)
    store = next((home / "data" / "malnu-tui" / "backups").iterdir())
    data = store / m["file"]
    raw = bytearray(data.read_bytes())
    raw[100] ^= 0xFF
    data.write_bytes(bytes(raw))
    p = cli(*args, "backup", "verify", m["id"], home=home)
    assert p.code == 1 and "FAIL" in p.out
    p = cli(*args, "backup", "restore", m["id"], "--yes", home=home)
    assert p.code == 1
    assert "failed verification" in p.err and "nothing was changed" in p.err
    assert "Traceback" not in p.err


def test_recover_dry_run_and_run(env: tuple[Path, list[str]]) -> None:
    home, args = env
    assert cli(*args, "up", "--no-backup", "--to", "20250101_000100", home=home).code == 0
    assert cli(*args, "backup", "create", home=home).code == 0
    # A time before the earliest backup is refused as the operator's input (exit 2, nothing
    # done; it was 1, a recover that failed), in one line naming the earliest backup's time.
    made = json.loads(cli(*args, "backup", "list", "--json", home=home).out)
    first = min(m["created_at"] for m in made)
    p = cli(*args, "recover", "--to", "-1h", "--dry-run", home=home)
    assert p.code == 2 and p.out == "", p.err
    said = p.err.splitlines()[0]
    assert (
        said.startswith("error: --to ")
        and said.endswith(f"school.db (taken {first}): nothing was done")
        and " is before the earliest backup of sqlite:///" in said
    ), p.err
    p = cli(*args, "recover", "--to", "now", "--dry-run", "--json", home=home)
    assert p.code == 0, p.err
    plan = json.loads(p.out)
    assert plan["reapply"] == [] and "not_recovered" in plan
    p = cli(*args, "recover", "--to", "now", "--dry-run", home=home)
    assert "NOT recovered" in p.out
    p = cli(*args, "recover", "--to=-0s", home=home)
    assert p.code == 2, "destructive: refused without --yes"
    p = cli(*args, "recover", "--to", "now", "--yes", home=home)
    assert p.code == 0, p.err
    assert "recovered to" in p.err
    p = cli(*args, "backup", "prune", home=home)
    assert p.code == 2 and "--keep" in p.err


def test_postgres_backup_and_restore_never_print_the_password(pg_url: str, tmp_path: Path) -> None:
    mig, rb = write_migrations(tmp_path / "pgproject")
    # Trust auth ignores the password, so it can stand in for a real secret here.
    url = pg_url.replace("postgres@", "postgres:hunter2-secret@", 1)
    args = ["--database", url, "--migrations-dir", str(mig), "--rollback-dir", str(rb)]
    home = tmp_path / "pg-home"
    home.mkdir()
    outputs = []
    p = cli(*args, "up", home=home)
    outputs.append(p)
    assert p.code == 0, p.err
    p = cli(*args, "backup", "create", "--json", home=home)
    outputs.append(p)
    assert p.code == 0, p.err
    bid = json.loads(p.out)["id"]
    for cmd in (["backup", "list"], ["backup", "verify", bid, "--deep"]):
        p = cli(*args, *cmd, home=home)
        outputs.append(p)
        assert p.code == 0, p.err
    p = cli(*args, "backup", "restore", bid, "--yes", home=home)
    outputs.append(p)
    assert p.code == 0, p.err
    for p in outputs:
        assert "hunter2" not in p.out + p.err
    for f in (home / "data").rglob("*"):
        if f.is_file():
            assert b"hunter2" not in f.read_bytes(), f


def test_a_restore_done_beside_a_bad_migration_file_is_reported_done(
    env: tuple[Path, list[str]], tmp_path: Path
) -> None:
    """The bad deploy itself left two migrations with one version in the folder (two branches
    merged). `backup restore --json --yes` restored the database, then failed showing the
    migration status: `error: … duplicate version`, exit 2, and no JSON, so the script (and
    the operator reading `error:`) took the restore for failed and never got the pre-restore
    id that undoes it. Now it is exit 0, the JSON written with `"status": null` and why, and
    the reason is a warning."""
    home, args = env
    assert cli(*args, "up", "--yes", "--no-backup", home=home).code == 0
    db = tmp_path / "school.db"
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO users (id, email) VALUES (1, 'kept@malnu.sch.id')")
    made = cli(*args, "backup", "create", home=home)
    assert made.code == 0, made.err
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM users")  # the bad deploy
    mig = tmp_path / "project" / "migrations"
    (mig / "20260101_000000_nilai.sql").write_text("CREATE TABLE nilai (x INTEGER);\n")
    (mig / "20260101_000000_absen.sql").write_text("CREATE TABLE absen (x INTEGER);\n")

    r = cli(*args, "--json", "backup", "restore", made.out.strip(), "--yes", home=home)
    assert r.code == 0, r.err
    out = json.loads(r.out)
    assert out["restored"] == made.out.strip() and out["pre_restore_backup"], out
    assert out["status"] is None and "duplicate version" in out["status_error"], out
    assert "warning: done, but the migration status cannot be shown: " in r.err, r.err
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT email FROM users").fetchall() == [("kept@malnu.sch.id",)]
