"""A SQLite source this user may not write (a copy of production on a read-only mount, an
application's file of another user): `sync` refused it, its dry run and `sync verify` too,
"user … may not write the file", for the audit row it wanted to add there. It only reads a
source: now it is opened read-only, the audit rows are written on the destination only, and a
warning says so."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
from pathlib import Path

from tests.fixtures_core import CLI, REPO

# A process that file modes bind as they bind any user (the suite runs as root): see
# tests/test_privileges.py.
_NO_OVERRIDE = "-dac_override,-dac_read_search,-fowner"
AS_ANOTHER_USER = ["setpriv", f"--bounding-set={_NO_OVERRIDE}", f"--inh-caps={_NO_OVERRIDE}"]


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"XDG_DATA_HOME": str(home / "data"), "XDG_CONFIG_HOME": str(home / "config")}
    return subprocess.run(
        [*AS_ANOTHER_USER, *CLI, *args], capture_output=True, text=True,
        stdin=subprocess.DEVNULL, cwd=REPO, timeout=120, env={**os.environ, **env},
    )  # fmt: skip


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_read_only_sqlite_source_is_synced_with_the_audit_on_the_destination(
    tmp_path: Path,
) -> None:
    mount = tmp_path / "ro"
    mount.mkdir()
    src = mount / "prod.db"
    with sqlite3.connect(src) as conn:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("CREATE TABLE siswa (id INTEGER PRIMARY KEY, nama TEXT, updated_at TEXT)")
        conn.executemany("INSERT INTO siswa VALUES (?, ?, ?)",
                         [(i, f"n{i}", "2026-01-01 00:00:00") for i in range(1, 6)])  # fmt: skip
    conn.close()
    dest = tmp_path / "copy.db"
    ends = ("--from", f"sqlite:///{src}", "--to", f"sqlite:///{dest}")

    def read_only() -> None:
        src.chmod(0o444)
        mount.chmod(0o555)

    read_only()
    try:
        before = _digest(src)
        said = "warning: the source is opened read-only ({src}: user root may not write the file"
        for args in (("sync", *ends, "--dry-run"), ("sync", *ends, "--yes"),
                     ("sync", "verify", *ends)):  # fmt: skip
            res = _cli(tmp_path, *args)
            assert res.returncode == 0, (args, res.stderr)
            assert said.format(src=src) in res.stderr, res.stderr
            assert "the sync's audit rows are written on" in res.stderr
        assert _digest(src) == before and sorted(p.name for p in mount.iterdir()) == ["prod.db"]
        # A change at the source (written by its own user), then an incremental pass.
        mount.chmod(0o755)
        src.chmod(0o644)
        with sqlite3.connect(src) as conn:
            conn.execute("UPDATE siswa SET nama = 'baru', updated_at = '2026-02-01' WHERE id = 3")
        conn.close()
        read_only()
        res = _cli(tmp_path, "sync", *ends, "--yes")
        assert res.returncode == 0, res.stderr
        assert "✔ 1 table(s) synced and verified" in res.stderr
    finally:
        mount.chmod(0o755)
        src.chmod(0o644)
    with sqlite3.connect(dest) as copy:
        assert copy.execute("SELECT nama FROM siswa WHERE id = 3").fetchone() == ("baru",)
        audited = copy.execute("SELECT count(*) FROM malnu_audit WHERE action = 'sync'")
        assert audited.fetchone() == (2,), "each sync audited on the destination"
    copy.close()
    with sqlite3.connect(src) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    conn.close()
    assert tables == {"siswa"}, "nothing written at the source"
