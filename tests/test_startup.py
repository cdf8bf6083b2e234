"""Start-up: what a fresh process of a command imports. Each command loads the modules its own
road uses, not the neighbours' (psycopg for a sync with no PostgreSQL end, the whole copy
machinery for `sync status`, the planning and applying modules for a cron's `status --json`,
`check` or `sync`). Real processes on real SQLite files; the assertions are on sys.modules, never
on times (those are in benchmarks/)."""

from __future__ import annotations

import contextlib
import json
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

# Runs the CLI's main() on argv in this fresh interpreter, then prints its exit code, what it
# printed, and every module loaded (the last line: JSON).
PROBE = """
import contextlib, io, json, sys
from malnu_tui.cli import main
out, err = io.StringIO(), io.StringIO()
with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
    try:
        code = main(sys.argv[1:])
    except SystemExit as exc:
        code = exc.code
print(json.dumps({"code": code, "out": out.getvalue(), "err": err.getvalue(),
                  "modules": sorted(sys.modules)}))
"""

# Never on these roads: the console, D1's HTTP client and backend, the translation.
NEVER = {
    "textual",
    "httpx",
    "sqlglot",
    "malnu_tui.engine.backends.d1.backend",
    "malnu_tui.engine.backends.d1.client",
    "malnu_tui.engine.sync.side_d1",
    "malnu_tui.engine.translate.core",
}
# The migration lifecycle's planning and applying (status and check read the history only).
MIGRATING = {
    "malnu_tui.engine.migrate",
    "malnu_tui.engine.apply",
    "malnu_tui.engine.plan",
    "malnu_tui.engine.oplock",
}
POSTGRESQL = {"psycopg", "malnu_tui.engine.sync.side_postgres", "malnu_tui.engine.backends.pg_sql"}


def _run(cwd: Path, *argv: str) -> dict[str, object]:
    res = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], cwd=cwd, capture_output=True, text=True, check=True
    )
    found: dict[str, object] = json.loads(res.stdout.strip().splitlines()[-1])
    return found


def _loaded(found: dict[str, object], names: set[str]) -> list[str]:
    modules = found["modules"]
    assert isinstance(modules, list)
    return sorted(names & set(modules))


def test_status_json_loads_no_planning(tmp_path: Path) -> None:
    """`status --json` (a cron's) reads the history: engine.status, not engine.migrate (which
    loaded the plan, apply, the run log and the lock with it)."""
    found = _run(tmp_path, "--database", f"sqlite:///{tmp_path / 'school.db'}", "status", "--json")
    assert found["code"] == 0, found["err"]
    assert json.loads(str(found["out"]))["migrations"]
    assert _loaded(found, NEVER | MIGRATING | POSTGRESQL | {"rich", "difflib"}) == []


def test_check_loads_no_planning_nor_backup_machinery(tmp_path: Path) -> None:
    """`check` (every few minutes from a timer) reads the status and the backup store only:
    not the migration planning, nor the backup, restore and recovery modules (the backup
    package loaded them all)."""
    url = f"sqlite:///{tmp_path / 'school.db'}"
    assert _run(tmp_path, "--database", url, "up", "--no-backup", "--yes")["code"] == 0
    found = _run(tmp_path, "--database", url, "check", "--json")
    assert found["code"] == 2, found["out"]  # CRITICAL: no backup at all, the rest OK
    assert "no backup at all" in str(found["out"])
    heavy = {
        "malnu_tui.engine.backup.core",
        "malnu_tui.engine.backup.restore",
        "malnu_tui.engine.backup.recover",
        "malnu_tui.engine.backup.retention",
    }
    assert _loaded(found, NEVER | MIGRATING | POSTGRESQL | heavy) == []


def _pair(tmp_path: Path) -> tuple[Path, str]:
    """A SQLite → SQLite sync pair in ``tmp_path`` (its source, and its config file), 500 rows
    at the source."""
    src = tmp_path / "primary.db"
    conn = sqlite3.connect(src)
    conn.execute(
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, "
        "updated_at DATETIME NOT NULL)"
    )
    conn.executemany(
        "INSERT INTO users VALUES (?, ?, '2025-01-01 07:00:00')",
        [(i, f"siswa {i}") for i in range(1, 501)],
    )
    conn.commit()
    conn.close()
    config = tmp_path / "malnu.toml"
    config.write_text(
        f'[targets.primary]\nurl = "sqlite:///{src}"\n'
        f'[targets.archive]\nurl = "sqlite:///{tmp_path / "archive.db"}"\n'
        '[sync.copy]\nfrom = "primary"\nto = "archive"\n'
    )
    return src, str(config)


def test_sync_without_postgresql_never_loads_psycopg(tmp_path: Path) -> None:
    """A sync with no PostgreSQL end (SQLite → SQLite here; D1 ↔ SQLite alike): its full
    copy, its incremental pass and `sync verify` never import psycopg (~0.1 s of start-up):
    the fast path's and the key fingerprint's checks asked for the PostgreSQL side's class
    (whose module loads psycopg) before looking at the ends' kinds."""
    src, config = _pair(tmp_path)
    full = _run(tmp_path, "--config", config, "sync", "copy", "--yes", "--json")
    assert full["code"] == 0, full["err"]
    (report,) = json.loads(str(full["out"]))
    assert report["mode"] == "full" and report["verified"]
    conn = sqlite3.connect(src)
    conn.execute("UPDATE users SET name = 'pindah', updated_at = '2025-02-01 07:00:00' "
                 "WHERE id % 100 = 0")  # fmt: skip
    conn.commit()
    conn.close()
    inc = _run(tmp_path, "--config", config, "sync", "copy", "--yes", "--json")
    assert inc["code"] == 0, inc["err"]
    (report,) = json.loads(str(inc["out"]))
    assert report["mode"] == "updated_at" and report["updated"] == 5 and report["verified"]
    verify = _run(tmp_path, "--config", config, "sync", "verify", "copy", "--json")
    assert verify["code"] == 0, verify["err"]
    for found in (full, inc, verify):
        assert _loaded(found, NEVER | POSTGRESQL | {"asyncio"}) == []
    # Its lock precondition and its confirmation (engine/problems.py) without the migration
    # modules: plan.py's preflight values loaded the migration files, their status and plans.
    migrations = {
        "malnu_tui.engine.plan",
        "malnu_tui.engine.preflight",
        "malnu_tui.engine.status",
        "malnu_tui.engine.files",
    }
    for found in (full, inc):
        assert _loaded(found, migrations) == []


def test_sync_status_loads_no_copy_machinery(tmp_path: Path) -> None:
    """`sync status` reads the copies' state rows: not the copy, its checks and its threads
    (the sync package and its read-only module imported them all)."""
    _src, config = _pair(tmp_path)
    assert _run(tmp_path, "--config", config, "sync", "copy", "--yes")["code"] == 0
    found = _run(tmp_path, "--config", config, "sync", "status", "--json")
    assert found["code"] == 0, found["err"]
    (row,) = json.loads(str(found["out"]))
    assert row["table"] == "users" and row["verified"]
    copying = {
        "malnu_tui.engine.sync.fastcopy",
        "malnu_tui.engine.sync.run",
        "malnu_tui.engine.sync.verify",
        "concurrent.futures",
    }
    assert _loaded(found, NEVER | POSTGRESQL | copying) == []


def test_sync_engine_import_is_lean() -> None:
    """What bench_sync.py's processes import before any work: the sync engine without the
    console, D1, the translation or psycopg (loaded once a PostgreSQL end is opened), nor the
    modules of rare paths (difflib for a config mistake's "did you mean", uuid for a UUID
    key), nor the migration files' splitter (the backends name its Statement in annotations
    only)."""
    code = (
        "import json, sys\n"
        "from malnu_tui.engine.config import Target\n"
        "from malnu_tui.engine.sync import SyncRequest, SyncSession, run_sync, verify_sync\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    modules = set(json.loads(res.stdout))
    assert "malnu_tui.engine.sync.run" in modules
    rare = {"difflib", "uuid", "malnu_tui.engine.sqlsplit"}
    assert sorted((NEVER | POSTGRESQL | rare) & modules) == []


def test_ctrl_c_while_the_cli_starts_is_one_line_never_a_traceback(tmp_path: Path) -> None:
    """Ctrl-C at any moment of a command's start (the CLI's imports, the command line read, the
    command's run): `interrupted` and exit 130, or the command's own end, never a traceback
    through malnu-tui's modules. Before, one that came while the CLI was imported (its first
    ~0.1 s) printed one. What Python does before its first line of ours (its own start-up,
    the console script's import of malnu_tui.entry, a few lines) is Python's to report. The
    console script as installed, fresh processes, SIGINT spread over the command's whole run
    as timed here first (a fixed 0 to 0.25 s came before the CLI had started at load 11)."""
    script = Path(sys.executable).with_name("malnu-tui")
    cmd = [str(script), "--database", f"sqlite:///{tmp_path / 'app.db'}", "status"]
    t0 = time.monotonic()
    assert subprocess.run(cmd, capture_output=True, timeout=60).returncode in (0, 1, 2)
    run_s = time.monotonic() - t0
    ours = re.compile(r'File ".*/malnu_tui/(cli|engine|tui)/')
    said = 0
    for i in range(13):  # (one every 1/12 of the run: 0.02 s apart on a quiet machine)
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        with contextlib.suppress(subprocess.TimeoutExpired):  # (a run ended: no wait left)
            proc.wait(run_s * i / 12)
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
        text = err.decode(errors="replace")
        assert not ours.search(text), (i, text)
        # -2: the signal came before Python installed its handler (no output at all)
        assert proc.returncode in (0, 1, 2, 130, -2), (i, proc.returncode, text)
        if proc.returncode == 130 and "Traceback" not in text:
            assert text.strip().splitlines()[-1] == "interrupted", (i, text)
            said += 1
    assert said, "no run was interrupted while it ran"


_AT_SET_NAME = """
import signal, sys
def stop_there(frame, event, arg):
    owner = frame.f_locals.get("owner") if event == "call" else None
    if frame.f_code.co_name == "__set_name__" and getattr(owner, "__name__", "") == "Migration":
        sys.setprofile(None)
        signal.raise_signal(signal.SIG{sig})
sys.setprofile(stop_there)
from malnu_tui.entry import main
sys.exit(main())
"""


def test_ctrl_c_while_a_dataclass_is_made_is_one_line_never_a_traceback(tmp_path: Path) -> None:
    """Ctrl-C (or SIGTERM) that comes while a class is made as the CLI imports a module (here
    engine/files.py's Migration, its `field()` being named): Python 3.11 wraps it in
    `RuntimeError: Error calling __set_name__ …`, which went past every handler of ours and
    printed a traceback (found once the test above sent its signals for real). A real
    process, the signal raised at that very call."""
    cmd = ["--database", f"sqlite:///{tmp_path / 'app.db'}", "status"]
    for sig, code, said in (("INT", 130, "interrupted"), ("TERM", 143, "terminated")):
        proc = subprocess.run([sys.executable, "-c", _AT_SET_NAME.format(sig=sig), *cmd],
                              capture_output=True, text=True, timeout=60)  # fmt: skip
        assert "Traceback" not in proc.stderr, (sig, proc.stderr)
        assert (proc.returncode, proc.stderr.splitlines()) == (code, [said]), (sig, proc.stderr)
